/* Unit test of the live updater's step budget (engine/live.c with
 * coco_live_opts.budget_ms, engine/indexer.c slices and its listing
 * thread): LocalFile docs/ -> SplitRecursively -> SQLite in a temporary
 * directory. The budget is driven down instead of the corpus up: with a
 * budget of a nanosecond, every step is past its deadline after its first
 * row, so each step of the initial pass processes one row (a slice stops
 * at the first batch boundary past its deadline, after one row at least)
 * and the pass of NFILES files spans NFILES steps, whatever the machine's
 * speed. timeout() says "again at once" (0) or "wait for the fd" (-1)
 * while it runs, the pass is reported once and is complete, changes made
 * during it land after it, and an updater destroyed while it lists or in
 * the middle of a pass leaves nothing behind. Speed per step is for
 * make bench (spec/bench/live.lua). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/c/check.h"
#include "spec/c/live_corpus.h"

#define NFILES 200
#define TINY_BUDGET_MS 1e-6          /* every slice is past its deadline after one row */

static char tmp[256];

typedef struct seen {
	int batches;
	uint64_t added, updated, first_added;
} seen;

static void on_batch(void *ud, const coco_source_stats *b)
{
	seen *s = ud;
	if (!s->batches++)
		s->first_added = b->added;
	s->added += b->added;
	s->updated += b->updated;
}

int main(void)
{
	snprintf(tmp, sizeof tmp, "/tmp/coco-test-live-budget.XXXXXX");
	live_corpus_make(tmp, NFILES);
	char p[600];

	coco_graph *g = live_corpus_flow(tmp);
	coco_state *st = live_corpus_state(g, tmp);
	char *err = NULL;

	/* 1. the initial pass, a nanosecond of budget per step */
	seen s = { 0 };
	coco_live_opts o;
	memset(&o, 0, sizeof o);
	o.on_batch = on_batch;
	o.ud = &s;
	o.budget_ms = TINY_BUDGET_MS;
	coco_live *lv;
	CHECK(coco_live_create(g, st, &o, &lv, &err) == 0);
	int steps = 0, working = 0, most = 0, bad_timeout = 0, changed = 0;
	uint64_t rows = 0;
	double t0 = live_now_ms();
	while (s.batches == 0 && live_now_ms() - t0 < 60000) {
		long t = coco_live_timeout(lv);
		if (steps > 0 && t > 0)
			bad_timeout++;            /* while the pass runs: 0, or -1 (the fd wakes) */
		int n = coco_live_step(lv, t < 0 ? 1000 : 0, &err);
		CHECK(n >= 0);
		steps++;
		if (n > 0 && s.batches == 0) {
			working++;                /* a slice of the pass (not its last step) */
			rows += (uint64_t)n;
			if (n > most)
				most = n;
		}
		if (working == 3 && !changed) {   /* during the pass: one file edited, one added */
			live_corpus_put(tmp, "f0000.md", "# File 0, edited while the pass ran\n");
			live_corpus_put(tmp, "late.md", "# Late\n");
			changed = 1;
		}
	}
	/* reported once, when it ended, with every file (the same step may go
	 * on with the changes); every slice before the last did one row */
	CHECKF(s.batches >= 1 && s.first_added == NFILES, "the first batch: %llu added",
		(unsigned long long)s.first_added);
	CHECKF(most == 1, "a slice did %d rows", most);
	CHECKF(working == NFILES - 1 && rows == NFILES - 1, "%d slices did %llu rows before the last",
		working, (unsigned long long)rows);
	CHECK(bad_timeout == 0);
	CHECK(changed);
	printf("budget %g ms: %d files in %d steps (%.0f ms)\n", TINY_BUDGET_MS, NFILES, steps,
		live_now_ms() - t0);
	/* the changes made during the pass land after it */
	t0 = live_now_ms();
	char got[256];
	for (;;) {
		live_corpus_text(tmp, "late.md", got, sizeof got);
		char got0[256];
		live_corpus_text(tmp, "f0000.md", got0, sizeof got0);
		if ((got[0] && strstr(got0, "edited")) || live_now_ms() - t0 > 60000)
			break;
		long t = coco_live_timeout(lv);
		CHECK(coco_live_step(lv, t < 0 || t > 100 ? 100 : (int)t, &err) >= 0);
	}
	CHECK_STR(got, "# Late");
	live_corpus_text(tmp, "f0000.md", got, sizeof got);
	CHECK_STR(got, "# File 0, edited while the pass ran");
	coco_live_destroy(lv);

	/* 2. destroyed right after its first step (the helper thread lists),
	 * and in the middle of a pass (rows done, the pass not reported): joins
	 * the thread, frees the pass (ASan: no leak) */
	for (int k = 0; k < 2; k++) {
		memset(&s, 0, sizeof s);
		o.update.full_reprocess = 1;
		CHECK(coco_live_create(g, st, &o, &lv, &err) == 0);
		CHECK(coco_live_step(lv, 0, &err) >= 0);
		int done = 0;
		t0 = live_now_ms();
		while (k == 1 && done < 5 && live_now_ms() - t0 < 60000) {
			long t = coco_live_timeout(lv);
			int n = coco_live_step(lv, t < 0 ? 1000 : 0, &err);
			CHECK(n >= 0);
			done += n > 0 ? n : 0;
		}
		CHECK(k == 0 || (done == 5 && s.batches == 0));
		coco_live_destroy(lv);
	}

	/* 3. budget 0: the whole initial pass in the first step */
	memset(&s, 0, sizeof s);
	o.update.full_reprocess = 1;
	o.budget_ms = 0;
	CHECK(coco_live_create(g, st, &o, &lv, &err) == 0);
	CHECK(coco_live_step(lv, 0, &err) == NFILES + 1);
	CHECK(s.batches == 1);
	coco_live_destroy(lv);

	free(err);
	coco_state_close(st);
	coco_graph_destroy(g);
	snprintf(p, sizeof p, "rm -rf '%s'", tmp);
	if (system(p) != 0)
		fprintf(stderr, "could not remove %s\n", tmp);
	return CHECK_DONE();
}
