#pragma once
/* What every target's top_k (coco_target_ops.top_k, ops.h) checks and
 * builds the same way: the searched field, and the result row type. */
#include <stddef.h>

#include "engine/buf.h"
#include "engine/value.h"

/* The index of field in row (a STRUCT type), which must be a vector field
 * of dim dimensions (any dim > 0 when its type names none). Else -1 with
 * *err, where is the target and place ("SQLite: table docs"):
 *   <where>: unknown field 'f'; fields: a, b
 *   <where>: top_k needs a vector field, and 'f' is str
 *   <where>: the query vector has 3 dimensions, field 'f' has 4 */
int coco_topk_field(const coco_type *row, const char *field, size_t dim, const char *where,
	char **err);

/* top_k's result row type: row's fields but field fi (struct and table
 * fields as json, as targets store them), then "distance" (float64);
 * allocated from a. */
const coco_type *coco_topk_row_type(const coco_type *row, int fi, coco_arena *a);
