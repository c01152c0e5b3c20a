/* Verify: prove that every target holds exactly what a fresh build would.
 *
 * Every source row is evaluated (cached function results are read from
 * state, never written: a paid function is not called again for an input
 * it has a result for) and each export's rows are compared, row by row and
 * column by column, with what the target holds (coco_target_ops.scan).
 * Nothing is written unless repair is set; then the differences are
 * written to the targets (state is left as it is: lineage already
 * describes what a build writes).
 *
 * Two source rows that collect the same target key: the row of the first
 * source (flow order), then of the smallest source key, is expected: the
 * same rule the indexer follows for owned target rows. The same key twice
 * among one source row's rows: the last one (it is written last). */
#pragma once
#include "engine/graph.h"
#include "engine/state.h"
#include "engine/indexer.h"

typedef enum coco_verify_kind {
	COCO_VERIFY_MISSING,     /* a fresh build writes the row; the target lacks it */
	COCO_VERIFY_STALE,       /* the target holds a row no source row produces */
	COCO_VERIFY_DIFFERENT,   /* same key, other values (columns names them) */
	COCO_VERIFY_COLLISION,   /* two source rows collect the same key (a warning) */
} coco_verify_kind;

typedef struct coco_verify_diff {
	const char *export_name;
	coco_verify_kind kind;
	const char *key;           /* the target key as JSON (a lone str key as is) */
	const char *source;        /* the source row that produces it; NULL when stale */
	const char *source_key;
	const char *columns;       /* DIFFERENT: "text, location"; COLLISION: the other
	                              source row ("source key"); else NULL */
} coco_verify_diff;

typedef struct coco_verify_stats {
	const char *export_name;
	uint64_t held;             /* rows the target holds */
	uint64_t expected;         /* rows a fresh build writes */
	uint64_t missing, stale, different, collisions, repaired;
	int scanned;               /* 0: the target cannot be scanned (no scan op) */
} coco_verify_stats;

typedef struct coco_verify_opts {
	int repair;
	void (*on_diff)(void *ud, const coco_verify_diff *d);
	/* a source row that fails to evaluate: verify cannot say what its rows
	 * should be, so it reports it and counts it in *nerrors */
	void (*on_error)(void *ud, const char *source, const char *key, const char *msg);
	void *ud;
} coco_verify_opts;

/* Fills stats[i] for each export i (coco_graph_nexports entries) and
 * *nerrors with the source rows that failed to evaluate. Returns 0 (whether
 * or not anything differs), or -1 with *err when verify itself failed (a
 * source cannot list, a target cannot be read). */
int coco_verify(const coco_graph *g, coco_state *st, const coco_verify_opts *o,
	coco_verify_stats *stats, uint64_t *nerrors, char **err);
