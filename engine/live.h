#pragma once
/* Live mode: one epoll loop that keeps a flow's targets fresh.
 *
 * Each source contributes its change stream (coco_source_ops.watch: an fd
 * that becomes readable when changes wait) and its refresh_interval timer
 * (a full list pass that catches anything events missed). The loop never
 * owns a thread: the host polls coco_live_fd(), wakes after at most
 * coco_live_timeout() and calls coco_live_step(), which does a bounded
 * slice of work and returns. `coco -L` does the same in a blocking loop.
 *
 * Debounce: the first change of a row is processed at once (latency);
 * further changes of the same row within COCO_LIVE_DEBOUNCE_MS are
 * coalesced into one more pass at the end of that window. */
#include "engine/indexer.h"

#define COCO_LIVE_DEBOUNCE_MS 20

typedef struct coco_live coco_live;

typedef struct coco_live_opts {
	coco_update_opts update;      /* reexport/full_reprocess: initial pass only */
	/* After each processed batch: the batch's own counts. */
	void (*on_batch)(void *ud, const coco_source_stats *batch);
	/* A warning for the user (overflow, lost root, retry). */
	void (*on_warning)(void *ud, const char *msg);
	void *ud;
	/* Work per step, in ms (0: unbounded, each pass done in one step). With
	 * a budget, a pass stops at the first batch boundary past it and goes
	 * on at the next step (timeout() is then 0), and large sources list on
	 * a helper thread (timeout() is then none: the fd wakes the host). */
	double budget_ms;
} coco_live_opts;

/* Open sources and targets, start change capture. Does not run the
 * initial pass: the first step does it. */
int coco_live_create(const coco_graph *g, coco_state *st, const coco_live_opts *o,
	coco_live **out, char **err);
/* The one fd to poll for readability (an epoll fd). */
int coco_live_fd(const coco_live *lv);
/* Milliseconds until a step is due even if the fd stays quiet; -1: none. */
long coco_live_timeout(const coco_live *lv);
/* 1 when some source has change capture or a refresh interval. */
int coco_live_has_capture(const coco_live *lv);
/* Wait up to timeout_ms (-1: until something happens, 0: not at all) and
 * do what is due. Returns the number of rows processed, -1 on a fatal
 * error (*err), or -2 once aborted. Row errors go to on_error. */
int coco_live_step(coco_live *lv, int timeout_ms, char **err);
/* Start a full pass over every source at the next step (coco server's
 * POST update), with reexport / full_reprocess for that pass only. */
void coco_live_rescan(coco_live *lv, int reexport, int full_reprocess);
/* 1 until the initial pass, or the passes coco_live_rescan started, are
 * over for every source. */
int coco_live_busy(const coco_live *lv);
/* Stop: the next step returns -2 without taking new events. */
void coco_live_abort(coco_live *lv);
/* Catch SIGINT and SIGTERM through the loop (CLI): the first one aborts
 * gracefully, a second one kills the process at once. */
int coco_live_catch_signals(coco_live *lv, char **err);
/* Cumulative counts per source (coco_graph_nsources entries). */
const coco_source_stats *coco_live_stats(const coco_live *lv);
void coco_live_destroy(coco_live *lv);
