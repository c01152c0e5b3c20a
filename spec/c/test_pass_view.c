/* Unit test: a full pass decides with the tracked rows as they were when
 * its listing began (engine/indexer.c reads them from a snapshot taken
 * then, and checks a row it acts on against its record as it is now).
 *
 * Two indexers over one state. The first one's pass lists the source and
 * is stopped after one row (a deadline in the past: a live slice); the
 * second one then commits rows, as a change capture pass would in live
 * mode: a file created after the listing, and a file deleted before the
 * listing and created again after it. The first pass goes on over both:
 * neither was listed, and read as they are now, the tracked rows would
 * have both deleted. A file deleted before the listing, and not indexed
 * again, is deleted. The files sort after the first window (1,024 items),
 * so that their tracked rows are read after the commits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spec/c/check.h"
#include "spec/c/live_corpus.h"

#define NFILES 1100

static char tmp[256];

static void rm_doc(const char *name)
{
	char p[600];
	snprintf(p, sizeof p, "%s/docs/%s", tmp, name);
	CHECK(unlink(p) == 0);
}

int main(void)
{
	snprintf(tmp, sizeof tmp, "/tmp/coco-test-pass-view.XXXXXX");
	live_corpus_make(tmp, NFILES);

	coco_graph *g = live_corpus_flow(tmp);
	coco_state *st = live_corpus_state(g, tmp);
	char *err = NULL;
	coco_source_stats s;
	CHECK(coco_update(g, st, NULL, &s, &err) == 0);
	CHECK(s.added == NFILES);

	/* the first pass lists without f1050 and f1060, then stops */
	rm_doc("f1050.md");
	rm_doc("f1060.md");
	coco_indexer *ix;
	CHECK(coco_indexer_open(g, st, NULL, &ix, &err) == 0);
	coco_indexer_set_deadline(ix, 1e-6);
	coco_source_stats ps;
	memset(&ps, 0, sizeof ps);
	CHECK(coco_indexer_pass(ix, 0, &ps, &err) == 1);

	/* meanwhile: zlate.md is new, f1050 is back; both are indexed */
	live_corpus_put(tmp, "zlate.md", "# Late\n");
	live_corpus_put(tmp, "f1050.md", "# File 1050, back\n");
	coco_indexer *cc;
	CHECK(coco_indexer_open(g, st, NULL, &cc, &err) == 0);
	coco_value keys[2] = { coco_v_str("zlate.md", 8), coco_v_str("f1050.md", 8) };
	coco_source_stats ks;
	memset(&ks, 0, sizeof ks);
	CHECK(coco_indexer_keys(cc, 0, keys, 2, &ks, &err) == 0);
	CHECK(ks.added == 1 && ks.updated == 1);
	coco_indexer_close(cc);

	/* the first pass goes on to its end */
	coco_indexer_set_deadline(ix, 0);
	int rc = coco_indexer_pass(ix, 0, &ps, &err);
	CHECKF(rc == 0, "%s", err ? err : "");
	CHECKF(ps.deleted == 1 && ps.added == 0 && ps.updated == 0,
		"the pass: %llu added, %llu updated, %llu deleted", (unsigned long long)ps.added,
		(unsigned long long)ps.updated, (unsigned long long)ps.deleted);
	coco_indexer_close(ix);
	char got[256];
	live_corpus_text(tmp, "zlate.md", got, sizeof got);
	CHECK_STR(got, "# Late");
	live_corpus_text(tmp, "f1050.md", got, sizeof got);
	CHECK_STR(got, "# File 1050, back");
	live_corpus_text(tmp, "f1060.md", got, sizeof got);
	CHECK_STR(got, "");

	/* and nothing is left to do */
	CHECK(coco_update(g, st, NULL, &s, &err) == 0);
	CHECKF(s.added == 0 && s.updated == 0 && s.deleted == 0 && s.unchanged == NFILES,
		"then: %llu added, %llu updated, %llu deleted, %llu unchanged",
		(unsigned long long)s.added, (unsigned long long)s.updated,
		(unsigned long long)s.deleted, (unsigned long long)s.unchanged);

	free(err);
	coco_state_close(st);
	coco_graph_destroy(g);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	if (system(cmd)) {
		fprintf(stderr, "could not remove %s\n", tmp);
	}
	return CHECK_DONE();
}
