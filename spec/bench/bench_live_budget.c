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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "live.h"

#define NFILES 3000
#define BUDGET_MS 5.0
#define GOAL_MS 10.0

static char tmp[256];

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static coco_graph *build(void)
{
	const coco_source_ops *lf = coco_source_find("LocalFile");
	const coco_target_ops *sql = coco_target_find("SQLite");
	const coco_function_ops *split = coco_function_find("SplitRecursively");
	coco_optval lo[16] = { { 0 } }, so[16] = { { 0 } }, spec[16] = { { 0 } };
	lo[coco_opt_index(lf->opts, "path")] = (coco_optval){ .set = 1, .s = "docs" };
	so[coco_opt_index(sql->opts, "path")] = (coco_optval){ .set = 1, .s = "index.sqlite" };
	char *e = NULL;
	coco_graph *g = coco_graph_create("Budget", tmp);
	coco_fieldref docs, content, filename, chunks, loc, txt;
	int ds, cs, col;
	coco_arg a[2] = { { .kind = COCO_ARG_REF }, { .kind = COCO_ARG_CONST, .name = "chunk_size" } };
	if (coco_graph_add_source(g, lf, lo, NULL, "b:1", &docs, &e) ||
	    coco_graph_name_field(g, 0, &docs, "documents", "b:1", &e) ||
	    coco_graph_add_collector(g, "b:2", &col, &e) ||
	    coco_graph_foreach(g, 0, &docs, "b:3", &ds, &e) ||
	    coco_graph_field(g, ds, "content", "b:4", &content, &e) ||
	    coco_graph_field(g, ds, "filename", "b:4", &filename, &e))
		goto fail;
	a[0].ref = content;
	a[1].konst = coco_v_int(400);
	if (coco_graph_transform(g, ds, split, spec, NULL, NULL, NULL, a, 2, "b:5", &chunks, &e) ||
	    coco_graph_name_field(g, ds, &chunks, "chunks", "b:5", &e) ||
	    coco_graph_foreach(g, ds, &chunks, "b:6", &cs, &e) ||
	    coco_graph_field(g, cs, "location", "b:7", &loc, &e) ||
	    coco_graph_field(g, cs, "text", "b:7", &txt, &e))
		goto fail;
	const char *names[3] = { "filename", "location", "text" };
	coco_arg vals[3] = { { .kind = COCO_ARG_REF, .ref = filename }, { .kind = COCO_ARG_REF, .ref = loc },
		{ .kind = COCO_ARG_REF, .ref = txt } };
	static const char *const pk[] = { "filename", "location" };
	if (coco_graph_collect(g, cs, col, names, vals, 3, "b:8", &e) ||
	    coco_graph_export(g, col, "doc_chunks", sql, so, pk, 2, "b:9", &e) ||
	    coco_graph_finish(g, &e))
		goto fail;
	return g;
fail:
	fprintf(stderr, "build: %s\n", e);
	free(e);
	exit(1);
}

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
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	char p[600];
	snprintf(p, sizeof p, "%s/docs", tmp);
	mkdir(p, 0777);
	for (int i = 0; i < NFILES; i++) {
		snprintf(p, sizeof p, "%s/docs/f%04d.md", tmp, i);
		FILE *f = fopen(p, "wb");
		if (!f || fprintf(f, "# File %d\n\nA few words about file %d.\n", i, i) < 0 || fclose(f)) {
			perror(p);
			return 1;
		}
	}
	coco_graph *g = build();
	coco_state *st;
	char *err = NULL;
	snprintf(p, sizeof p, "%s/.coco/Budget", tmp);
	coco_setup_plan plan;
	if (coco_state_open(p, 0, &st, &err) || coco_setup_plan_make(g, st, &plan, &err) ||
	    coco_setup_apply(st, &plan, &err)) {
		fprintf(stderr, "setup: %s\n", err);
		return 1;
	}
	coco_setup_plan_free(&plan);

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
	double t0 = now_ms();
	while (!batches && now_ms() - t0 < 600000 && n < 1000000) {
		long t = coco_live_timeout(lv);
		double a = now_ms();
		if (coco_live_step(lv, t < 0 ? 1000 : 0, &err) < 0) {
			fprintf(stderr, "step: %s\n", err);
			return 1;
		}
		steps++;
		if (t >= 0)
			d[n++] = now_ms() - a;
	}
	double total = now_ms() - t0;
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
