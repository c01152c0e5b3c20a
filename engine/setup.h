#pragma once
/* Setup: the targets' tables (and what sources set up), planned from a
 * flow, applied, remembered in state; and what lineage does after a
 * target changed. See setup.c. */
#include "engine/graph.h"
#include "engine/state.h"

typedef struct coco_setup_change {
	char *resource_id;
	char *export_name;           /* or the source's name (sops) */
	const coco_target_ops *ops;  /* a target's setup, or NULL and */
	const coco_source_ops *sops; /* a source's (coco_source_ops.setup_*) */
	char *stored;            /* NULL: not set up yet */
	char *desired;           /* NULL: drop */
	coco_buf plan;           /* human-readable lines */
	int destructive;
	int renamed;             /* only the export's name changed: the record is updated */
	int keeps_rows;          /* destructive, but the target keeps its rows (COCO_SETUP_KEEPS_ROWS) */
} coco_setup_change;

typedef struct coco_setup_plan {
	coco_setup_change *ch;
	size_t n;
	int destructive;
} coco_setup_plan;

/* What setup would change: targets (and sources that set something up) of
 * g that are new or differ from what was applied, and applied ones g no
 * longer has. g == NULL: drop
 * everything applied (for `coco drop`). */
int coco_setup_plan_make(const coco_graph *g, coco_state *st, coco_setup_plan *plan, char **err);
/* "  SQLite sqlite:/p/index.sqlite#T: create table ..." lines; "" if none. */
void coco_setup_plan_format(const coco_setup_plan *plan, coco_buf *out);
int coco_setup_apply(coco_state *st, coco_setup_plan *plan, char **err);
void coco_setup_plan_free(coco_setup_plan *plan);

/* After setup changed the target with resource id `rid`: the rows that
 * wrote to it are marked for evaluation, so the next update writes the
 * export's rows again. kept: the target kept its rows (a column dropped, a
 * repair): their keys become staged (may be in the target) and the next
 * update deletes those no row produces any more; else (created anew) they
 * are forgotten. */
int coco_forget_export(coco_state *st, const char *rid, int kept, char **err);
/* After setup dropped the target `rid`: lineage forgets its keys. */
int coco_forget_target(coco_state *st, const char *rid, char **err);
/* Lineage names targets by resource id; a state whose lineage still names
 * exports (written before) is rewritten once, through the setup records.
 * Called by setup and by coco_indexer_open; a no-op after the first. */
int coco_lineage_migrate(coco_state *st, char **err);
