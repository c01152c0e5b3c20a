#pragma once
/* Evaluates one source row through the graph: transforms, nested rows,
 * collects. The result is, per export, the rows it should hold for this
 * source row (a STRUCT value each, in the export's column order). */
#include "engine/graph.h"

/* The memo cache seen by the evaluator (the indexer backs it with state;
 * evaluate --no-cache passes NULL). key: 32 bytes (function logic
 * fingerprint then input fingerprint). get returns 1 and fills *out
 * (memory from a) when found, else 0. put may be NULL (read-only). */
typedef struct coco_memo {
	int (*get)(void *ud, const unsigned char key[32], coco_arena *a, coco_value *out);
	void (*put)(void *ud, const unsigned char key[32], const coco_value *v);
	/* A cached result was used from a batch (not through get): the row
	 * uses it. May be NULL. */
	void (*touch)(void *ud, const unsigned char key[32]);
	void *ud;
} coco_memo;

typedef struct coco_rows {
	coco_value *rows;
	size_t n, cap;
} coco_rows;

typedef struct coco_exec_stats {
	uint64_t calls, cache_hits;
} coco_exec_stats;

/* Batch evaluation, for flows with functions that define call_batch
 * (embeddings): the rows of a batch are evaluated twice. Pass one
 * (collect) runs what it can, records each batchable call instead of
 * making it (its result is "pending": what depends on it is skipped, no
 * row is collected); coco_xbatch_resolve() then makes the recorded calls,
 * grouped per function, cached results left out; pass two evaluates for
 * real, answering every call from the batch's results. Every function
 * call of pass one is remembered, so none is made twice. Memory comes
 * from the arena given to each call; reset the batch with the arena. */
typedef struct coco_xbatch coco_xbatch;
coco_xbatch *coco_xbatch_create(void);
void coco_xbatch_reset(coco_xbatch *b);   /* when the arena it used is reset */
void coco_xbatch_destroy(coco_xbatch *b);
/* 1 if some function of g defines call_batch. */
int coco_graph_batches(const coco_graph *g);
int coco_exec_row_batch(const coco_graph *g, size_t source, const coco_value *row, coco_arena *a,
	const coco_memo *memo, coco_xbatch *b, int collect, coco_rows *out, coco_exec_stats *stats,
	char **err);
/* Make the recorded calls. Per-call failures become row errors in pass
 * two; -1 only when state I/O fails. */
int coco_xbatch_resolve(coco_xbatch *b, coco_arena *a, const coco_memo *memo,
	coco_exec_stats *stats, char **err);

/* Evaluate source `source` on `row` (a STRUCT with the source's row fields).
 * out: an array of coco_graph_nexports(g) row lists, cleared first and
 * filled from arena a. Returns 0, or -1 with a row error in *err:
 *   "SplitRecursively (flow.lua:9): chunk_size must be > 0, got 0" */
int coco_exec_row(const coco_graph *g, size_t source, const coco_value *row, coco_arena *a,
	const coco_memo *memo, coco_rows *out, coco_exec_stats *stats, char **err);

/* Inspection (coco server's row page): coco_exec_row without batching or
 * stats, calling trace with each row's frame (the values of scope `scope`'s
 * fields, in field order) once the ops of that scope ran for it: nested
 * rows before the row holding them. Frames live in a. */
typedef void (*coco_exec_trace)(void *ud, int scope, const coco_value *frame);
int coco_exec_row_trace(const coco_graph *g, size_t source, const coco_value *row, coco_arena *a,
	const coco_memo *memo, coco_rows *out, coco_exec_trace trace, void *ud, char **err);
