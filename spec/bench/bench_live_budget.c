/* make bench: the live updater's step budget (engine/live.c with
 * coco_live_opts.budget_ms), as a host sees it. LocalFile docs/ ->
 * SplitRecursively -> SQLite on 3,000 small files in a temporary directory;
 * the initial pass with a 5 ms budget: how many steps, how long the
 * slowest and the 99th percentile step took, next to the goal (the budget
 * plus about one row). spec/c/test_live_budget.c checks the behaviour (a
 * slice stops after one row past its deadline) on any machine; this is
 * the figure, which depends on the machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/c/live_corpus.h"

#define NFILES 3000
#define BUDGET_MS 5.0
#define GOAL_MS 10.0

static char tmp[256];

static void on_batch(void *ud, const coco_source_stats *b)
{
	(void)b;
	++*(int *)ud;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(void)
{
	snprintf(tmp, sizeof tmp, "/tmp/coco-bench-live-budget.XXXXXX");
	live_corpus_make(tmp, NFILES);
	char p[600];
	coco_graph *g = live_corpus_flow(tmp);
	coco_state *st = live_corpus_state(g, tmp);
	char *err = NULL;

	int batches = 0;
	coco_live_opts o;
	memset(&o, 0, sizeof o);
	o.on_batch = on_batch;
	o.ud = &batches;
	o.budget_ms = BUDGET_MS;
	coco_live *lv;
	if (coco_live_create(g, st, &o, &lv, &err)) {
		fprintf(stderr, "live: %s\n", err);
		return 1;
	}
	/* the steps a host runs at once (timeout() 0), not its waits for the
	 * listing thread */
	double *d = calloc(1000000, sizeof *d);
	int n = 0, steps = 0;
	double t0 = live_now_ms();
	while (!batches && live_now_ms() - t0 < 600000 && n < 1000000) {
		long t = coco_live_timeout(lv);
		double a = live_now_ms();
		if (coco_live_step(lv, t < 0 ? 1000 : 0, &err) < 0) {
			fprintf(stderr, "step: %s\n", err);
			return 1;
		}
		steps++;
		if (t >= 0)
			d[n++] = live_now_ms() - a;
	}
	double total = live_now_ms() - t0;
	qsort(d, (size_t)n, sizeof *d, cmp);
	printf("live step budget %.0f ms, initial pass of %d files: %d steps in %.0f ms (%.2f ms a file); "
		"step p50 %.1f ms, p99 %.1f ms, slowest %.1f ms (goal <= %.0f ms: the budget and about one row)\n",
		BUDGET_MS, NFILES, steps, total, total / NFILES, n ? d[n / 2] : 0, n ? d[n * 99 / 100] : 0,
		n ? d[n - 1] : 0, GOAL_MS);
	free(d);
	coco_live_destroy(lv);
	coco_state_close(st);
	coco_graph_destroy(g);
	snprintf(p, sizeof p, "rm -rf '%s'", tmp);
	if (system(p) != 0)
		fprintf(stderr, "could not remove %s\n", tmp);
	return 0;
}
