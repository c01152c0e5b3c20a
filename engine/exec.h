#pragma once
/* Evaluates one source row through the graph: transforms, nested rows,
 * collects. The result is, per export, the rows it should hold for this
 * source row (a STRUCT value each, in the export's column order). */
#include "graph.h"

/* The memo cache seen by the evaluator (the indexer backs it with state;
 * evaluate --no-cache passes NULL). key: 32 bytes (function logic
 * fingerprint then input fingerprint). get returns 1 and fills *out
 * (memory from a) when found, else 0. put may be NULL (read-only). */
typedef struct coco_memo {
	int (*get)(void *ud, const unsigned char key[32], coco_arena *a, coco_value *out);
	void (*put)(void *ud, const unsigned char key[32], const coco_value *v);
	void *ud;
} coco_memo;

typedef struct coco_rows {
	coco_value *rows;
	size_t n, cap;
} coco_rows;

typedef struct coco_exec_stats {
	uint64_t calls, cache_hits;
} coco_exec_stats;

/* Evaluate source `source` on `row` (a STRUCT with the source's row fields).
 * out: an array of coco_graph_nexports(g) row lists, cleared first and
 * filled from arena a. Returns 0, or -1 with a row error in *err:
 *   "SplitRecursively (flow.lua:9): chunk_size must be > 0, got 0" */
int coco_exec_row(const coco_graph *g, size_t source, const coco_value *row, coco_arena *a,
	const coco_memo *memo, coco_rows *out, coco_exec_stats *stats, char **err);
