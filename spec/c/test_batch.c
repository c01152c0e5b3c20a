/* Unit test of batch evaluation (engine/exec.c coco_xbatch, engine/indexer.c):
 * a function with call_batch gets the calls of many rows at once,
 * deduplicated, cached results left out; per-call failures are row errors;
 * nothing is called twice. LocalFile docs/ -> SplitRecursively -> Upper
 * (batched, cached) -> SQLite, in a temporary directory. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sqlite3.h>

#include "engine/indexer.h"
#include "spec/c/check.h"

/* ---- Upper: a batchable function that records what it is asked ---------- */
static int nbatches, ncalls_single;
static size_t ninputs;
static char *seen[4096];
static size_t nseen;

static int up_prepare(const coco_optval *spec, void *udata, const coco_arg_info *args, size_t nargs,
	coco_arena *types, const coco_type **out, void **state, char **err)
{
	*out = &coco_t_str;
	return 0;
}

static int upper1(const coco_value *arg, coco_arena *a, coco_value *out, char **err)
{
	if (arg->kind != COCO_STR)
		return coco_seterr(err, "text must be a string");
	if (arg->n >= 4 && memmem(arg->u.s, arg->n, "FAIL", 4))
		return coco_seterr(err, "the API refused this text (400)");
	char *s = coco_arena_alloc(a, arg->n + 1);
	for (size_t i = 0; i < arg->n; i++)
		s[i] = (char)toupper((unsigned char)arg->u.s[i]);
	*out = coco_v_str(s, arg->n);
	if (nseen < 4096)
		seen[nseen++] = strndup(arg->u.s, arg->n);
	return 0;
}

static int up_call(void *state, const coco_value *args, size_t nargs, coco_arena *a,
	coco_value *out, char **err)
{
	ncalls_single++;
	return upper1(&args[0], a, out, err);
}

static int up_batch(void *state, const coco_value *const *args, size_t nargs, size_t n,
	coco_arena *a, coco_value *out, char **errs, char **err)
{
	nbatches++;
	ninputs += n;
	for (size_t i = 0; i < n; i++)
		upper1(&args[i][0], a, &out[i], &errs[i]);
	return 0;
}

static const coco_argdef up_args[] = { { "text", 1u << COCO_STR, 1 }, { NULL, 0, 0 } };
static const coco_function_ops UPPER = {
	.name = "Upper", .args = up_args, .prepare = up_prepare, .call = up_call,
	.call_batch = up_batch,
};

/* ---- fixture ------------------------------------------------------------ */
static char tmp[256];

static void put(const char *name, const char *s)
{
	char p[600];
	snprintf(p, sizeof p, "%s/docs/%s", tmp, name);
	FILE *f = fopen(p, "wb");
	fputs(s, f);
	fclose(f);
}

static coco_graph *build(void)
{
	const coco_source_ops *LF = coco_source_find("LocalFile");
	const coco_function_ops *SPLIT = coco_function_find("SplitRecursively");
	const coco_target_ops *SQL = coco_target_find("SQLite");
	coco_graph *g = coco_graph_create("B", tmp);
	char *e = NULL;
	coco_optval lo[8] = { { .set = 1, .s = "docs" } };
	coco_fieldref src, content, fname, chunks, loc, txt, up;
	int rs, cs, col;
	coco_fn_logic cached = { .cache = 1 };
	coco_arg sargs[2] = {
		{ .kind = COCO_ARG_REF },
		{ .kind = COCO_ARG_CONST, .name = "chunk_size", .konst = coco_v_int(35) },
	};
	coco_optval so[4] = {0}, to[4] = { { .set = 1, .s = "out.sqlite" } };
	const char *names[3] = { "filename", "location", "upper" };
	coco_arg vals[3] = { { .kind = COCO_ARG_REF }, { .kind = COCO_ARG_REF }, { .kind = COCO_ARG_REF } };
	const char *pk[2] = { "filename", "location" };
	int rc = coco_graph_add_source(g, LF, lo, NULL, "t:1", &src, &e) ||
		coco_graph_name_field(g, 0, &src, "docs", "t:1", &e) ||
		coco_graph_foreach(g, 0, &src, "t:2", &rs, &e) ||
		coco_graph_field(g, rs, "content", "t:3", &content, &e) ||
		coco_graph_field(g, rs, "filename", "t:3", &fname, &e);
	sargs[0].ref = content;
	rc = rc || coco_graph_transform(g, rs, SPLIT, so, NULL, NULL, NULL, sargs, 2, "t:4", &chunks, &e) ||
		coco_graph_foreach(g, rs, &chunks, "t:5", &cs, &e) ||
		coco_graph_field(g, cs, "location", "t:6", &loc, &e) ||
		coco_graph_field(g, cs, "text", "t:6", &txt, &e);
	coco_arg uargs[1] = { { .kind = COCO_ARG_REF, .ref = txt } };
	rc = rc || coco_graph_transform(g, cs, &UPPER, NULL, NULL, &cached, NULL, uargs, 1, "t:7", &up, &e) ||
		coco_graph_add_collector(g, "t:8", &col, &e);
	vals[0].ref = fname;
	vals[1].ref = loc;
	vals[2].ref = up;
	rc = rc || coco_graph_collect(g, cs, col, names, vals, 3, "t:9", &e) ||
		coco_graph_export(g, col, "out", SQL, to, pk, 2, "t:10", &e) ||
		coco_graph_finish(g, &e);
	if (rc) {
		fprintf(stderr, "build: %s\n", e);
		free(e);
		coco_graph_destroy(g);
		return NULL;
	}
	return g;
}

static int errors_seen;
static void on_error(void *ud, const char *source, const char *key, const char *msg)
{
	errors_seen++;
	CHECK(strstr(msg, "the API refused this text (400)") != NULL);
	CHECK(!strcmp(key, "bad.md"));
}

static int update(coco_graph *g, coco_source_stats *st)
{
	char sd[600], *e = NULL;
	snprintf(sd, sizeof sd, "%s/state", tmp);
	coco_state *s;
	if (coco_state_open(sd, 0, &s, &e)) {
		fprintf(stderr, "state: %s\n", e);
		free(e);
		return -1;
	}
	coco_setup_plan plan;
	int rc = coco_setup_plan_make(g, s, &plan, &e) || coco_setup_apply(s, &plan, &e);
	coco_setup_plan_free(&plan);
	coco_update_opts o = { .on_error = on_error };
	rc = rc || coco_update(g, s, &o, st, &e);
	if (rc)
		fprintf(stderr, "update: %s\n", e);
	free(e);
	coco_state_close(s);
	return rc;
}

static long count_rows(const char *where)
{
	char p[600], q[256];
	snprintf(p, sizeof p, "%s/out.sqlite", tmp);
	sqlite3 *db;
	sqlite3_stmt *st;
	long n = -1;
	snprintf(q, sizeof q, "SELECT count(*) FROM B__out WHERE %s", where);
	if (sqlite3_open(p, &db) == SQLITE_OK && sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return n;
}

int main(void)
{
	snprintf(tmp, sizeof tmp, "/tmp/coco-batch.XXXXXX");
	if (!mkdtemp(tmp))
		return 2;
	char p[600];
	snprintf(p, sizeof p, "%s/docs", tmp);
	mkdir(p, 0755);
	/* 30 files, each 3 short paragraphs; files share paragraphs pairwise */
	for (int f = 0; f < 30; f++) {
		char name[32], body[256];
		snprintf(name, sizeof name, "f%02d.md", f);
		/* paragraphs of 28-32 bytes: two never fit in one 35-byte chunk */
		snprintf(body, sizeof body, "Shared paragraph %02d, hello.\n\nOwn text of file %02d, friend.\n\n"
			"Tail %d of the files, always.\n", f / 2, f, f % 5);
		put(name, body);
	}
	coco_graph *g = build();
	CHECK(g != NULL);
	if (!g)
		return CHECK_DONE();
	CHECK(coco_graph_batches(g));
	coco_source_stats st[1];

	/* initial: one batch call for all rows, each distinct text once */
	CHECK(update(g, st) == 0);
	CHECK(st[0].added == 30 && st[0].errors == 0);
	CHECK(nbatches == 1);
	CHECK(ncalls_single == 0);
	CHECK(ninputs == 15 + 30 + 5);    /* shared paragraphs, own texts, tails: deduplicated */
	CHECK(count_rows("1") == 90);
	CHECK(count_rows("upper = 'OWN TEXT OF FILE 07, FRIEND.'") == 1);
	CHECK(count_rows("upper = 'SHARED PARAGRAPH 03, HELLO.'") == 2);

	/* a re-run with new files: only new texts are asked for, in one batch */
	nbatches = 0;
	ninputs = 0;
	put("new.md", "Shared paragraph 03, hello.\n\nBrand new text, never seen.\n");
	put("bad.md", "Fine text, all is well here.\n\nThis one will FAIL, I fear.\n");
	CHECK(update(g, st) == 0);
	CHECK(st[0].added == 1 && st[0].errors == 1 && errors_seen == 1);
	CHECK(nbatches == 1);
	CHECK(ninputs == 3);               /* "Brand new text...", "Fine text...", the failing one */
	CHECK(count_rows("filename = 'new.md'") == 2);
	CHECK(count_rows("filename = 'bad.md'") == 0);

	/* the bad row is retried; cached results are not asked for again */
	nbatches = 0;
	ninputs = 0;
	put("bad.md", "Fine text, all is well here.\n\nThis one is fixed, I hope.\n");
	CHECK(update(g, st) == 0);
	CHECK(st[0].added == 1 && st[0].errors == 0);
	CHECK(ninputs == 1);               /* only "This one is fixed..." */
	CHECK(count_rows("filename = 'bad.md'") == 2);

	/* nothing changed: no call at all */
	nbatches = 0;
	CHECK(update(g, st) == 0);
	CHECK(nbatches == 0 && ncalls_single == 0);

	coco_graph_destroy(g);
	for (size_t i = 0; i < nseen; i++)
		free(seen[i]);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", tmp);
	return CHECK_DONE();
}
