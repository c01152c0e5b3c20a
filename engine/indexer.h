#pragma once
/* The indexer: brings a flow's targets in sync with its sources.
 *
 *   list -> compare ordinals -> read -> compare content fingerprint ->
 *   evaluate -> diff collected rows against lineage -> write targets ->
 *   commit state atomically
 *
 * Crash safety: before target rows are written, the keys about to be
 * written are recorded ("staged") in state; after the targets committed,
 * tracking and lineage are committed in one RocksDB batch. A run killed
 * anywhere leaves staged keys that the next run reconciles.
 *
 * Batches of 512 rows: a full pass writes each batch (stage, targets,
 * commit) on a writer thread while the next is read and evaluated, one
 * batch in flight, so batches commit in order. Live slices, and flows
 * with a target written in Lua, write on the calling thread; so does
 * every pass when COCO_SYNC_WRITES is set (benchmarks compare the two).
 *
 * Memory does not grow with the source: a pass sorts the listing in runs
 * of 4 MB (spilled to an unlinked file in the state directory, listing.h)
 * and merges it with the tracked rows 1,024 items at a time. The tracked
 * rows are read as of the listing's start (a snapshot), so that a row
 * committed after it began (change capture between live slices) is never
 * taken for one the listing left out. */
#include "engine/graph.h"
#include "engine/state.h"
#include "engine/exec.h"
#include "engine/setup.h"            /* setup was declared here: its includers find it still */

typedef struct coco_source_stats {
	const char *source;
	uint64_t listed, added, updated, deleted, unchanged, reprocessed, errors;
	uint64_t warnings;       /* rows read with a warning (and processed) */
	uint64_t fn_calls, cache_hits;
	double elapsed_ms;
} coco_source_stats;

typedef struct coco_update_opts {
	int reexport;            /* write every target row again */
	int full_reprocess;      /* evaluate every row again, ignore ordinals and fingerprints */
	/* Called for each row that failed: source name, key as text, message. */
	void (*on_error)(void *ud, const char *source, const char *key, const char *msg);
	/* Called for each row read with a warning (coco_source_ops.read returned
	 * 2: text with invalid UTF-8 replaced), which is processed all the same;
	 * the same arguments as on_error. */
	void (*on_warning)(void *ud, const char *source, const char *key, const char *msg);
	/* Called after each batch and at the end of a source. */
	void (*on_progress)(void *ud, const coco_source_stats *st, uint64_t done, uint64_t total);
	void *ud;
} coco_update_opts;

/* Update every source of the finished graph g. stats: an array of
 * coco_graph_nsources(g). Returns 0 (row errors are counted in stats, not
 * failures), or -1 when the run could not proceed (source cannot be
 * listed, target cannot be written, state I/O). */
int coco_update(const coco_graph *g, coco_state *st, const coco_update_opts *o,
	coco_source_stats *stats, char **err);

/* The indexer kept open across calls (live mode): sources opened once,
 * target connections kept. */
typedef struct coco_indexer coco_indexer;
int coco_indexer_open(const coco_graph *g, coco_state *st, const coco_update_opts *o,
	coco_indexer **out, char **err);
/* The opened source i (to start its change capture). */
void *coco_indexer_source(coco_indexer *ix, size_t i);
/* The options in force; live mode clears reexport/full_reprocess after
 * the initial pass. */
coco_update_opts *coco_indexer_opts(coco_indexer *ix);
/* Delete the rows of sources that left the flow; record the current ones.
 * 0, -1, or 1 when the deadline stopped it (call again: it goes on). */
int coco_indexer_orphans(coco_indexer *ix, char **err);
/* A full list pass over source i; stats are added to. */
int coco_indexer_pass(coco_indexer *ix, size_t i, coco_source_stats *stats, char **err);
/* Process the rows with these keys of source i (read each; gone ones are
 * deleted); stats are added to. */
int coco_indexer_keys(coco_indexer *ix, size_t i, const coco_value *keys, size_t n,
	coco_source_stats *stats, char **err);
/* Live slices. With a deadline (ms of CLOCK_MONOTONIC; 0: none, the
 * default), coco_indexer_pass and coco_indexer_keys stop at the first
 * batch boundary past it (after one row at least) and return 1; the next
 * call of the same kind for the same source goes on from there (its keys
 * are not looked at again). Nothing else may run on the indexer meanwhile.
 * Once coco_indexer_fd() was called, a full pass over a source that allows
 * it (coco_source_ops.owner_thread_only == 0) lists on a helper thread and
 * returns 1 at once; the fd becomes readable when the listing is done.
 * A memo sweep then runs on a helper thread too, and the fd becomes
 * readable when it is done: call coco_indexer_sweep() again to apply it. */
void coco_indexer_set_deadline(coco_indexer *ix, double deadline_ms);
/* An eventfd (non-blocking; read it to clear), -1 if none could be made. */
int coco_indexer_fd(coco_indexer *ix);
/* 1 while a stopped pass waits for its helper thread to list. */
int coco_indexer_listing(const coco_indexer *ix);
/* Remove cached function results that no row uses any more (after rows
 * were evaluated or deleted; a no-op otherwise), so state does not grow
 * under churn. Results written during this indexer's life are kept. With
 * coco_indexer_fd() called, the sweep runs on a helper thread: this call
 * starts it, or applies one that is done. */
int coco_indexer_sweep(coco_indexer *ix, char **err);
void coco_indexer_close(coco_indexer *ix);

/* Evaluate: run every source row through the flow without touching
 * targets or state. st may be NULL; with use_cache, cached function
 * results are read from it (never written). sink gets each export's rows
 * for each source row (source si of the graph, its key), sources in flow
 * order, rows in source-key order. */
typedef int (*coco_eval_sink)(void *ud, const coco_gexport *x, const coco_value *rows, size_t n,
	size_t si, const coco_value *key, char **err);
int coco_evaluate(const coco_graph *g, coco_state *st, int use_cache, const coco_update_opts *o,
	coco_eval_sink sink, void *sink_ud, coco_source_stats *stats, char **err);

/* Appends the state as text lines, for tests (spec/fuzz): tracking
 * "T\tsource\tkey\tflags", lineage "L\tsource\tkey\texport\ttarget key\tstaged",
 * the memo keys a row used "R\tsource\tkey\thex", memo "M\thex", setup
 * "S\tresource\texport"; keys as JSON. */
int coco_state_dump(coco_state *st, coco_buf *out, char **err);
