#pragma once
/* Calling a function outside a flow: on constant arguments, the way a
 * transform calls it (the same vtable: prepare, call, destroy). Query
 * handlers use it to embed a query with the function that embedded the
 * chunks. */
#include "engine/graph.h"

/* Evaluate fn on args (constants; named ones carry their name, positional
 * ones NULL), matched to fn's argdefs as a transform matches them. spec,
 * udata: what coco_graph_transform gets. The result (and *out_type) is
 * allocated from a. The state prepare() gives is destroyed before
 * returning; *out_type stays NULL when prepare() failed (then udata is
 * still the caller's). Returns 0, or -1 with *err:
 *   "SplitRecursively: missing required argument 'chunk_size'" */
int coco_call_function(const coco_function_ops *fn, const coco_optval *spec, void *udata,
	const char *label, const coco_arg *args, size_t nargs, coco_arena *a, coco_value *out,
	const coco_type **out_type, char **err);
