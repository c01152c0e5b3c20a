/* Unit test of the indexer (engine/indexer.c) and setup (engine/setup.c)
 * on real files: LocalFile docs/ -> SplitRecursively -> SQLite, with the
 * state in RocksDB, all in a temporary directory. The rows in the SQLite
 * table are checked against what SplitRecursively gives on the files. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "engine/indexer.h"

#include "spec/c/check.h"
/* A call taking char **err (written ERR) that must return 0. */
#define OK(call) do { \
	char *e_ = NULL; \
	int r_ = (call); \
	if (r_ == 0) passed++; \
	else { failed++; fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, \
		e_ ? e_ : "(no message)"); } \
	free(e_); \
} while (0)
#define ERR (&e_)

static const coco_source_ops *LF;
static const coco_function_ops *SPLIT;
static const coco_target_ops *SQL;
static coco_target_ops crashy;      /* SQLite, with commits that can fail */
static int crash_after_commit, kill_after_commit, fail_upsert;

static char tmp[256], dbpath[512], statedir[512];
#define TABLE "DocsIndex__doc_chunks"

/* ---- files -------------------------------------------------------------- */
typedef struct file {
	char name[64];
	char *content;
} file;
static file files[2048];               /* what the source should yield */
static size_t nfiles;

static void write_raw(const char *name, const char *s, size_t n)
{
	char p[600];
	snprintf(p, sizeof p, "%s/docs/%s", tmp, name);
	FILE *f = fopen(p, "wb");
	if (!f || fwrite(s, 1, n, f) != n || fclose(f)) {
		perror(p);
		abort();
	}
}

#define WRITE_LIT(name, lit) write_raw(name, lit, sizeof(lit) - 1)

/* Writes docs/name and records it as a good file. */
static void put_file(const char *name, const char *s)
{
	write_raw(name, s, strlen(s));
	size_t i = 0;
	while (i < nfiles && strcmp(files[i].name, name))
		i++;
	if (i == nfiles) {
		nfiles++;
		snprintf(files[i].name, sizeof files[i].name, "%s", name);
	} else {
		free(files[i].content);
	}
	files[i].content = strdup(s);
}

static void del_file(const char *name)
{
	char p[600];
	snprintf(p, sizeof p, "%s/docs/%s", tmp, name);
	unlink(p);
	for (size_t i = 0; i < nfiles; i++)
		if (!strcmp(files[i].name, name)) {
			free(files[i].content);
			files[i] = files[--nfiles];
			return;
		}
}

/* Some text: n paragraphs of varied sentences, seeded. */
static char *text(int seed, int n)
{
	static const char *words[] = { "coco", "keeps", "targets", "in", "sync", "with", "sources",
		"and", "does", "only", "the", "work", "a", "change", "needs", "rows", "chunks", "index" };
	coco_buf b = {0};
	coco_buf_printf(&b, "# Document %d\n\n", seed);
	unsigned x = (unsigned)seed * 2654435761u + 1;
	for (int p = 0; p < n; p++) {
		int nw = 20 + (int)(x % 30);
		for (int w = 0; w < nw; w++) {
			x = x * 1103515245u + 12345u;
			coco_buf_printf(&b, "%s%s", w ? " " : "", words[(x >> 16) % 18]);
		}
		coco_buf_adds(&b, ".\n\n");
	}
	return coco_buf_take(&b);
}

static void put_text(const char *name, int seed, int n)
{
	char *s = text(seed, n);
	put_file(name, s);
	free(s);
}

/* ---- row sets ------------------------------------------------------------ */
typedef struct rowset {
	char **v;
	size_t n, cap;
} rowset;

static void rs_add(rowset *r, char *s)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->v = realloc(r->v, r->cap * sizeof *r->v);
	}
	r->v[r->n++] = s;
}

static int cmps(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void rs_free(rowset *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i]);
	free(r->v);
	memset(r, 0, sizeof *r);
}

/* One row as text: "filename|[start,end]|text" (text left out if !with_text). */
static char *row_text(const char *fn, size_t nfn, int64_t s, int64_t e, const char *t, size_t nt,
	int with_text)
{
	coco_buf b = {0};
	coco_buf_printf(&b, "%.*s|[%lld,%lld]", (int)nfn, fn, (long long)s, (long long)e);
	if (with_text)
		coco_buf_printf(&b, "|%.*s", (int)nt, t);
	return coco_buf_take(&b);
}

/* What a from-scratch run gives: SplitRecursively on each good file. */
static void expected(int64_t chunk_size, int with_text, rowset *out)
{
	coco_arena a = {0};
	for (size_t i = 0; i < nfiles; i++) {
		coco_value args[5] = { coco_v_str(files[i].content, strlen(files[i].content)),
			coco_v_int(chunk_size) };
		coco_value t;
		char *e = NULL;
		if (SPLIT->call(NULL, args, 5, &a, &t, &e)) {
			fprintf(stderr, "split: %s\n", e);
			abort();
		}
		for (size_t r = 0; r < t.n; r++) {
			const coco_value *loc = &t.u.rows[r].u.fields[0], *tx = &t.u.rows[r].u.fields[1];
			rs_add(out, row_text(files[i].name, strlen(files[i].name), loc->u.r[0], loc->u.r[1],
				tx->u.s, tx->n, with_text));
		}
	}
	coco_arena_destroy(&a);
	if (out->n)
		qsort(out->v, out->n, sizeof *out->v, cmps);
}

static int sql_quiet;            /* an error is expected */

/* Runs sql on the database; for a SELECT, its rows as "a|b|c" into out. */
static int sql(const char *q, rowset *out)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int rc = -1;
	if (sqlite3_open(dbpath, &db) != SQLITE_OK)
		goto done;
	if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK) {
		if (!sql_quiet)
			fprintf(stderr, "sql: %s: %s\n", q, sqlite3_errmsg(db));
		goto done;
	}
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		coco_buf b = {0};
		for (int c = 0; c < sqlite3_column_count(st); c++) {
			const unsigned char *t = sqlite3_column_text(st, c);
			coco_buf_printf(&b, "%s%.*s", c ? "|" : "", sqlite3_column_bytes(st, c),
				t ? (const char *)t : "");
		}
		if (out)
			rs_add(out, coco_buf_take(&b));
		else
			coco_buf_free(&b);
	}
	sqlite3_finalize(st);
	rc = s == SQLITE_DONE ? 0 : -1;
done:
	sqlite3_close(db);
	if (out && out->n)
		qsort(out->v, out->n, sizeof *out->v, cmps);
	return rc;
}

/* The table holds exactly what a from-scratch run gives. */
static int db_matches(int64_t chunk_size, int with_text)
{
	rowset want = {0}, got = {0};
	expected(chunk_size, with_text, &want);
	int ok = sql(with_text ? "SELECT filename, location, text FROM " TABLE
		: "SELECT filename, location FROM " TABLE, &got) == 0;
	ok = ok && want.n == got.n && want.n > 0;
	for (size_t i = 0; ok && i < want.n; i++)
		ok = !strcmp(want.v[i], got.v[i]);
	if (!ok)
		fprintf(stderr, "  table has %zu rows, expected %zu (first: %.60s / %.60s)\n", got.n, want.n,
			got.n ? got.v[0] : "-", want.n ? want.v[0] : "-");
	rs_free(&want);
	rs_free(&got);
	return ok;
}

static size_t db_count(const char *where)
{
	char q[256];
	rowset r = {0};
	snprintf(q, sizeof q, "SELECT count(*) FROM " TABLE "%s%s", where ? " WHERE " : "", where ? where : "");
	size_t n = sql(q, &r) == 0 && r.n == 1 ? (size_t)atol(r.v[0]) : (size_t)-1;
	rs_free(&r);
	return n;
}

/* ---- the flow ------------------------------------------------------------ */
typedef struct fcfg {
	int64_t chunk_size;
	int drop_text;
	int pk_swap;                  /* pk = location, filename */
	const coco_target_ops *target;
	const char *source;           /* default "documents" */
	int cache;                    /* SplitRecursively results cached */
} fcfg;

static coco_graph *build(const fcfg *c)
{
	coco_optval lf[16] = { { 0 } }, so[16] = { { 0 } }, spec[16] = { { 0 } };
	lf[coco_opt_index(LF->opts, "path")] = (coco_optval){ .set = 1, .s = "docs" };
	/* text that is not UTF-8 is these tests' row error (rows read with a
	 * warning: test_text.c, spec/text_decode_spec.lua) */
	lf[coco_opt_index(LF->opts, "decode_errors")] = (coco_optval){ .set = 1, .s = "strict" };
	so[coco_opt_index(SQL->opts, "path")] = (coco_optval){ .set = 1, .s = "index.sqlite" };
	char *e = NULL;
	coco_graph *g = coco_graph_create("DocsIndex", tmp);
	coco_fieldref docs, content, filename, chunks, loc, txt;
	int ds, cs, col;
	coco_arg a[2] = { { .kind = COCO_ARG_REF }, { .kind = COCO_ARG_CONST, .name = "chunk_size" } };
	if (coco_graph_add_source(g, LF, lf, NULL, "t:1", &docs, &e) ||
	    coco_graph_name_field(g, 0, &docs, c->source ? c->source : "documents", "t:1", &e) ||
	    coco_graph_add_collector(g, "t:2", &col, &e) ||
	    coco_graph_foreach(g, 0, &docs, "t:3", &ds, &e) ||
	    coco_graph_field(g, ds, "content", "t:4", &content, &e) ||
	    coco_graph_field(g, ds, "filename", "t:4", &filename, &e))
		goto fail;
	a[0].ref = content;
	a[1].konst = coco_v_int(c->chunk_size);
	coco_fn_logic lg = { .cache = 1, .logic = { 7, 7 } };
	if (coco_graph_transform(g, ds, SPLIT, spec, NULL, c->cache ? &lg : NULL, NULL, a, 2, "t:5", &chunks, &e) ||
	    coco_graph_name_field(g, ds, &chunks, "chunks", "t:5", &e) ||
	    coco_graph_foreach(g, ds, &chunks, "t:6", &cs, &e) ||
	    coco_graph_field(g, cs, "location", "t:7", &loc, &e) ||
	    coco_graph_field(g, cs, "text", "t:7", &txt, &e))
		goto fail;
	const char *names[3] = { "filename", "location", "text" };
	coco_arg vals[3] = { { .kind = COCO_ARG_REF, .ref = filename }, { .kind = COCO_ARG_REF, .ref = loc },
		{ .kind = COCO_ARG_REF, .ref = txt } };
	static const char *const pk[] = { "filename", "location" }, *const pk2[] = { "location", "filename" };
	if (coco_graph_collect(g, cs, col, names, vals, c->drop_text ? 2 : 3, "t:8", &e) ||
	    coco_graph_export(g, col, "doc_chunks", c->target ? c->target : SQL, so,
		c->pk_swap ? pk2 : pk, 2, "t:9", &e) ||
	    coco_graph_finish(g, &e))
		goto fail;
	return g;
fail:
	fprintf(stderr, "build: %s\n", e);
	free(e);
	abort();
}

/* ---- running ------------------------------------------------------------- */
typedef struct errs {
	int n;
	char source[64], key[128], msg[512];
} errs;

static void on_error(void *ud, const char *source, const char *key, const char *msg)
{
	errs *x = ud;
	x->n++;
	snprintf(x->source, sizeof x->source, "%s", source);
	snprintf(x->key, sizeof x->key, "%s", key);
	snprintf(x->msg, sizeof x->msg, "%s", msg);
}

static int nprogress;
static void on_progress(void *ud, const coco_source_stats *st, uint64_t done, uint64_t total)
{
	nprogress++;
}

static errs last_errs;

/* One update; returns its rc, stats in *s. */
static int update(const coco_graph *g, coco_state *st, int reexport, int full, coco_source_stats *s,
	char **err)
{
	memset(&last_errs, 0, sizeof last_errs);
	coco_update_opts o = { .reexport = reexport, .full_reprocess = full, .on_error = on_error,
		.on_progress = on_progress, .ud = &last_errs };
	memset(s, 0x5a, sizeof *s);       /* update must fill it */
	return coco_update(g, st, &o, s, err);
}

#define STATS(s, a, u, d, un, rp, er) \
	((s).added == (a) && (s).updated == (u) && (s).deleted == (d) && (s).unchanged == (un) && \
	 (s).reprocessed == (rp) && (s).errors == (er))
static void show(const char *what, const coco_source_stats *s)
{
	fprintf(stderr, "  %s: listed %llu added %llu updated %llu deleted %llu unchanged %llu "
		"reprocessed %llu errors %llu calls %llu\n", what,
		(unsigned long long)s->listed, (unsigned long long)s->added, (unsigned long long)s->updated,
		(unsigned long long)s->deleted, (unsigned long long)s->unchanged,
		(unsigned long long)s->reprocessed, (unsigned long long)s->errors,
		(unsigned long long)s->fn_calls);
}
#define CHECK_STATS(s, a, u, d, un, rp, er) do { \
	int ok_ = STATS(s, a, u, d, un, rp, er); \
	CHECK(ok_ && #s); \
	if (!ok_) show("got", &(s)); \
} while (0)

static int sink(void *ud, const coco_gexport *x, const coco_value *rows, size_t n, size_t si,
	const coco_value *key, char **err)
{
	rowset *r = ud;
	for (size_t i = 0; i < n; i++) {
		const coco_value *v = &rows[i];
		if (v->kind != COCO_STRUCT || v->n != 3)
			return coco_seterr(err, "bad row");
		const coco_value *f = v->u.fields;
		rs_add(r, row_text(f[0].u.s, f[0].n, f[1].u.r[0], f[1].u.r[1], f[2].u.s, f[2].n, 1));
	}
	return 0;
}

/* Commit the SQLite transaction, then fail as if killed before the state
 * commit; or fail an upsert. */
static int crashy_commit(void *tgt, char **err)
{
	if (SQL->commit(tgt, err))
		return -1;
	if (kill_after_commit)
		raise(SIGKILL);
	if (crash_after_commit)
		return coco_seterr(err, "simulated crash after the target commit");
	return 0;
}

static int crashy_upsert(void *tgt, const coco_value *row, char **err)
{
	if (fail_upsert && --fail_upsert == 0)
		return coco_seterr(err, "simulated failure in upsert");
	return SQL->upsert(tgt, row, err);
}

int main(void)
{
	LF = coco_source_find("LocalFile");
	SPLIT = coco_function_find("SplitRecursively");
	SQL = coco_target_find("SQLite");
	if (!LF || !SPLIT || !SQL) {
		printf("0 passed, 1 failed\n");
		return 1;
	}
	crashy = *SQL;
	crashy.commit = crashy_commit;
	crashy.upsert = crashy_upsert;

	snprintf(tmp, sizeof tmp, "/tmp/coco_indexer_XXXXXX");
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	char p[600];
	snprintf(p, sizeof p, "%s/docs", tmp);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/docs/sub", tmp);
	mkdir(p, 0755);
	snprintf(dbpath, sizeof dbpath, "%s/index.sqlite", tmp);
	snprintf(statedir, sizeof statedir, "%s/.coco/DocsIndex", tmp);
	put_text("a.md", 1, 8);
	put_text("b.txt", 2, 5);
	put_text("sub/c.md", 3, 3);

	coco_state *st = NULL;
	OK(coco_state_open(statedir, 0, &st, ERR));
	if (!st) {
		printf("%d passed, %d failed\n", passed, failed);
		return 1;
	}
	coco_source_stats s;
	coco_setup_plan plan;

	/* ---- setup: create ---- */
	fcfg c200 = { .chunk_size = 200 };
	coco_graph *g = build(&c200);
	OK(coco_setup_plan_make(g, st, &plan, ERR));
	CHECK(plan.n == 1 && plan.destructive == 0);
	if (plan.n == 1) {
		CHECK(plan.ch[0].stored == NULL && plan.ch[0].desired != NULL);
		CHECK(plan.ch[0].destructive == 0);
		CHECK(plan.ch[0].ops == SQL);
		CHECK(!strcmp(plan.ch[0].export_name, "doc_chunks"));
		CHECK(plan.ch[0].plan.p && strstr(plan.ch[0].plan.p, "create table " TABLE));
		char rid[600];
		snprintf(rid, sizeof rid, "sqlite:%s#" TABLE, dbpath);
		CHECK(!strcmp(plan.ch[0].resource_id, rid));
		coco_buf f = {0};
		coco_setup_plan_format(&plan, &f);
		CHECK(f.p && strstr(f.p, "  export doc_chunks (SQLite sqlite:") == f.p);
		CHECK(f.p && strstr(f.p, "\n    create table " TABLE));
		coco_buf_free(&f);
	}
	OK(coco_setup_apply(st, &plan, ERR));
	coco_setup_plan_free(&plan);
	CHECK(db_count(NULL) == 0);
	OK(coco_setup_plan_make(g, st, &plan, ERR));
	CHECK(plan.n == 0 && plan.destructive == 0);
	coco_buf f = {0};
	coco_setup_plan_format(&plan, &f);
	CHECK(f.n == 0);
	coco_buf_free(&f);
	coco_setup_plan_free(&plan);

	/* ---- first update: everything added ---- */
	nprogress = 0;
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 3, 0, 0, 0, 0, 0);
	CHECK(s.listed == 3 && s.fn_calls == 3 && !strcmp(s.source, "documents"));
	CHECK(nprogress >= 1);
	CHECK(db_matches(200, 1));
	CHECK(db_count("filename = 'sub/c.md'") > 0);

	/* ---- nothing changed ---- */
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 0, 0, 0, 3, 0, 0);
	CHECK(s.fn_calls == 0 && s.listed == 3);
	CHECK(db_matches(200, 1));

	/* ---- one file changed ---- */
	size_t nb_before = db_count("filename = 'b.txt'");
	put_text("a.md", 11, 12);
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 0, 1, 0, 2, 0, 0);
	CHECK(s.fn_calls == 1);
	CHECK(db_matches(200, 1));
	CHECK(db_count("filename = 'b.txt'") == nb_before);
	/* shrink it: its surplus rows go */
	put_text("a.md", 12, 2);
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 0, 1, 0, 2, 0, 0);
	CHECK(db_matches(200, 1));

	/* ---- touched, same content: not processed ---- */
	snprintf(p, sizeof p, "%s/docs/b.txt", tmp);
	struct timespec ts[2] = { { 1000000, 0 }, { 1000000, 0 } };
	CHECK(utimensat(AT_FDCWD, p, ts, 0) == 0);
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 0, 0, 0, 3, 0, 0);
	CHECK(s.fn_calls == 0);
	OK(update(g, st, 0, 0, &s, ERR));    /* the new ordinal was remembered */
	CHECK_STATS(s, 0, 0, 0, 3, 0, 0);
	CHECK(db_matches(200, 1));

	/* ---- a file deleted ---- */
	del_file("sub/c.md");
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 0, 0, 1, 2, 0, 0);
	CHECK(s.listed == 2);
	CHECK(db_matches(200, 1));
	CHECK(db_count("filename = 'sub/c.md'") == 0);

	/* ---- a bad row: counted, named, the others go on, retried ---- */
	WRITE_LIT("bad.md", "ok so far \xff\xfe then not UTF-8\n");
	put_text("d.md", 4, 4);
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 1, 0, 0, 2, 0, 1);
	CHECK(last_errs.n == 1);
	CHECK(!strcmp(last_errs.source, "documents"));
	CHECK(!strcmp(last_errs.key, "bad.md"));
	CHECK(strstr(last_errs.msg, "bad.md") && strstr(last_errs.msg, "UTF-8"));
	CHECK(db_matches(200, 1));
	CHECK(db_count("filename = 'bad.md'") == 0);
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 0, 0, 0, 3, 0, 1);
	CHECK(last_errs.n == 1);
	/* fixed: picked up */
	put_text("bad.md", 5, 2);
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 1, 0, 0, 3, 0, 0);
	CHECK(db_matches(200, 1));
	/* broken again after it was indexed: its rows stay, the error is counted */
	size_t nbad = db_count("filename = 'bad.md'");
	WRITE_LIT("bad.md", "\xc3\x28 broken again, and longer than before\n");
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 0, 0, 0, 3, 0, 1);
	CHECK(nbad > 0 && db_count("filename = 'bad.md'") == nbad);
	put_text("bad.md", 6, 3);
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 0, 1, 0, 3, 0, 0);
	CHECK(db_matches(200, 1));

	/* ---- evaluate: same rows as the target, nothing written ---- */
	{
		rowset ev = {0}, db = {0};
		coco_source_stats es;
		errs ee = {0};
		coco_update_opts o = { .on_error = on_error, .ud = &ee };
		OK(coco_evaluate(g, st, 1, &o, sink, &ev, &es, ERR));
		if (ev.n)
			qsort(ev.v, ev.n, sizeof *ev.v, cmps);
		sql("SELECT filename, location, text FROM " TABLE, &db);
		int same = ev.n == db.n && ev.n > 0;
		for (size_t i = 0; same && i < ev.n; i++)
			same = !strcmp(ev.v[i], db.v[i]);
		CHECK(same);
		CHECK(es.added == 4 && es.errors == 0 && es.listed == 4 && ee.n == 0);
		rs_free(&ev);
		/* without state, and with a bad file */
		WRITE_LIT("zbad.md", "\xff");
		OK(coco_evaluate(g, NULL, 0, &o, sink, &ev, &es, ERR));
		CHECK(es.added == 4 && es.errors == 1 && ee.n == 1 && !strcmp(ee.key, "zbad.md"));
		CHECK(ev.n == db.n);
		rs_free(&ev);
		rs_free(&db);
		snprintf(p, sizeof p, "%s/docs/zbad.md", tmp);
		unlink(p);
		OK(update(g, st, 0, 0, &s, ERR));
		CHECK_STATS(s, 0, 0, 0, 4, 0, 0);
	}

	/* ---- many files: several batches ---- */
	{
		snprintf(p, sizeof p, "%s/docs/many", tmp);
		mkdir(p, 0755);
		char name[64], body[64];
		for (int i = 0; i < 1100; i++) {
			snprintf(name, sizeof name, "many/f%04d.txt", i);
			snprintf(body, sizeof body, "file %d\n", i);
			put_file(name, body);
		}
		nprogress = 0;
		OK(update(g, st, 0, 0, &s, ERR));
		CHECK_STATS(s, 1100, 0, 0, 4, 0, 0);
		CHECK(nprogress >= 3);
		CHECK(db_matches(200, 1));
		/* changes spread over the batches */
		put_file("many/f0003.txt", "file three, changed\n");
		put_file("many/f0700.txt", "file seven hundred, changed\n");
		put_file("many/f1099.txt", "the last file, changed\n");
		del_file("many/f0001.txt");
		del_file("many/f0900.txt");
		put_file("d.md", "");          /* a file that now gives no rows */
		OK(update(g, st, 0, 0, &s, ERR));
		CHECK_STATS(s, 0, 4, 2, 1098 - 3 + 3, 0, 0);
		CHECK(db_count("filename = 'd.md'") == 0);
		CHECK(db_matches(200, 1));
		put_text("d.md", 4, 4);
		for (int i = 0; i < 1100; i++) {
			snprintf(name, sizeof name, "many/f%04d.txt", i);
			del_file(name);
		}
		OK(update(g, st, 0, 0, &s, ERR));
		CHECK_STATS(s, 0, 1, 1098, 3, 0, 0);
		CHECK(db_matches(200, 1));
		CHECK(db_count("filename LIKE 'many/%'") == 0);
	}

	/* ---- reexport: rows deleted by hand come back ---- */
	size_t na = db_count("filename = 'a.md'");
	CHECK(na > 0);
	CHECK(sql("DELETE FROM " TABLE " WHERE filename = 'a.md'", NULL) == 0);
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 0, 0, 0, 4, 0, 0);
	CHECK(db_count("filename = 'a.md'") == 0);    /* a plain update trusts its state */
	OK(update(g, st, 1, 0, &s, ERR));
	CHECK_STATS(s, 0, 0, 0, 0, 4, 0);
	CHECK(db_count("filename = 'a.md'") == na);
	CHECK(db_matches(200, 1));
	/* full reprocess: evaluated again, nothing to write */
	OK(update(g, st, 0, 1, &s, ERR));
	CHECK_STATS(s, 0, 0, 0, 0, 4, 0);
	CHECK(s.fn_calls == 4);
	CHECK(db_matches(200, 1));
	coco_graph_destroy(g);

	/* ---- the flow changed: chunk_size ---- */
	fcfg c120 = { .chunk_size = 120 };
	g = build(&c120);
	OK(coco_setup_plan_make(g, st, &plan, ERR));
	CHECK(plan.n == 0);
	coco_setup_plan_free(&plan);
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 0, 0, 0, 0, 4, 0);
	CHECK(db_matches(120, 1));
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 0, 0, 0, 4, 0, 0);
	coco_graph_destroy(g);

	/* ---- a setup change that drops a column ---- */
	fcfg nt = { .chunk_size = 120, .drop_text = 1 };
	g = build(&nt);
	OK(coco_setup_plan_make(g, st, &plan, ERR));
	CHECK(plan.n == 1 && plan.destructive == 1);
	if (plan.n == 1) {
		CHECK(plan.ch[0].destructive == 1 && plan.ch[0].stored && plan.ch[0].desired);
		CHECK(plan.ch[0].plan.p && strstr(plan.ch[0].plan.p, "drop column text"));
	}
	OK(coco_setup_apply(st, &plan, ERR));
	coco_setup_plan_free(&plan);
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 0, 0, 0, 0, 4, 0);
	CHECK(db_matches(120, 0));
	sql_quiet = 1;
	CHECK(sql("SELECT text FROM " TABLE, NULL) != 0);   /* the column is gone */
	sql_quiet = 0;

	/* ---- the table recreated by hand: forget_export, then update ---- */
	CHECK(sql("DROP TABLE " TABLE, NULL) == 0);
	coco_buf xrid = {0};
	{
		const coco_gexport *x = coco_graph_export_at(g, 0);
		coco_buf desired = {0};
		OK(x->ops->describe(x->opts, &x->info, &xrid, &desired, ERR));
		OK(x->ops->apply(NULL, desired.p, ERR));
		coco_buf_free(&desired);
	}
	CHECK(db_count(NULL) == 0);
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 0, 0, 0, 4, 0, 0);
	CHECK(db_count(NULL) == 0);
	OK(coco_forget_export(st, xrid.p, 0, ERR));   /* lineage names the target by resource id */
	coco_buf_free(&xrid);
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 0, 0, 0, 0, 4, 0);
	CHECK(db_matches(120, 0));
	coco_graph_destroy(g);

	/* ---- a primary key change: table recreated by setup ---- */
	fcfg pk = { .chunk_size = 120, .pk_swap = 1 };
	g = build(&pk);
	OK(coco_setup_plan_make(g, st, &plan, ERR));
	CHECK(plan.n == 1 && plan.destructive == 1);
	if (plan.n == 1)
		CHECK(plan.ch[0].plan.p && strstr(plan.ch[0].plan.p, "drop and recreate table " TABLE));
	OK(coco_setup_apply(st, &plan, ERR));
	coco_setup_plan_free(&plan);
	CHECK(db_count(NULL) == 0);
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 0, 0, 0, 0, 4, 0);
	CHECK(db_matches(120, 1));
	coco_graph_destroy(g);

	/* ---- a crash after the target commit, before the state commit ---- */
	fcfg cr = { .chunk_size = 120, .pk_swap = 1, .target = &crashy };
	g = build(&cr);
	OK(coco_setup_plan_make(g, st, &plan, ERR));
	CHECK(plan.n == 0);
	coco_setup_plan_free(&plan);
	/* a.md grows and a new file appears; the run dies after writing them */
	put_text("a.md", 21, 14);
	put_text("e.md", 22, 6);
	crash_after_commit = 1;
	{
		char *e_ = NULL;
		CHECK(update(g, st, 0, 0, &s, ERR) == -1);
		CHECK(e_ && strstr(e_, "export 'doc_chunks'") && strstr(e_, "simulated crash"));
		free(e_);
	}
	crash_after_commit = 0;
	CHECK(db_matches(120, 1));           /* the target has the new rows */
	CHECK(db_count("filename = 'e.md'") > 0);
	/* before the next run, a.md shrinks and e.md is deleted */
	put_text("a.md", 23, 1);
	del_file("e.md");
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 0, 1, 1, 3, 0, 0);
	CHECK(db_matches(120, 1));
	CHECK(db_count("filename = 'e.md'") == 0);
	/* crash again, then run on unchanged files */
	put_text("b.txt", 24, 9);
	crash_after_commit = 1;
	{
		char *e_ = NULL;
		CHECK(update(g, st, 0, 0, &s, ERR) == -1);
		free(e_);
	}
	crash_after_commit = 0;
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 0, 1, 0, 3, 0, 0);
	CHECK(db_matches(120, 1));
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 0, 0, 0, 4, 0, 0);
	/* a failed target write (rolled back), then a good run */
	put_text("d.md", 25, 7);
	put_text("a.md", 26, 5);
	fail_upsert = 3;
	{
		char *e_ = NULL;
		CHECK(update(g, st, 0, 0, &s, ERR) == -1);
		CHECK(e_ && strstr(e_, "simulated failure in upsert"));
		free(e_);
	}
	fail_upsert = 0;
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 0, 2, 0, 2, 0, 0);
	CHECK(db_matches(120, 1));


	/* ---- kill -9 right after the target commit, in a child process ---- */
	put_text("a.md", 27, 10);
	put_text("f.md", 28, 3);
	coco_state_close(st);
	st = NULL;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		coco_state *cst = NULL;
		char *e = NULL;
		if (coco_state_open(statedir, 0, &cst, &e))
			_exit(2);
		kill_after_commit = 1;
		coco_source_stats cs;
		coco_update(g, cst, NULL, &cs, &e);
		_exit(3);
	}
	int wst = 0;
	CHECK(pid > 0 && waitpid(pid, &wst, 0) == pid);
	CHECK(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL);
	CHECK(db_matches(120, 1));           /* the child wrote the target */
	put_text("a.md", 29, 2);
	del_file("f.md");
	OK(coco_state_open(statedir, 0, &st, ERR));   /* the dead process's lock is free */
	if (!st) {
		printf("%d passed, %d failed\n", passed, failed);
		return 1;
	}
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 0, 1, 1, 3, 0, 0);
	CHECK(db_matches(120, 1));
	CHECK(db_count("filename = 'f.md'") == 0);
	coco_graph_destroy(g);

	/* ---- the source renamed: same rows, none lost ---- */
	fcfg rn = { .chunk_size = 120, .pk_swap = 1, .source = "docs2" };
	g = build(&rn);
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 4, 0, 0, 0, 0, 0);
	CHECK(!strcmp(s.source, "docs2"));
	CHECK(db_matches(120, 1));
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 0, 0, 0, 4, 0, 0);
	CHECK(db_matches(120, 1));
	coco_graph_destroy(g);

	/* ---- a cached function: never called twice for the same input ---- */
	fcfg ca = { .chunk_size = 120, .pk_swap = 1, .source = "docs2", .cache = 1 };
	g = build(&ca);
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 0, 0, 0, 0, 4, 0);
	CHECK(s.fn_calls == 4 && s.cache_hits == 0);
	OK(update(g, st, 0, 1, &s, ERR));
	CHECK_STATS(s, 0, 0, 0, 0, 4, 0);
	CHECK(s.fn_calls == 0 && s.cache_hits == 4);
	put_text("b.txt", 31, 4);
	OK(update(g, st, 0, 0, &s, ERR));
	CHECK_STATS(s, 0, 1, 0, 3, 0, 0);
	CHECK(s.fn_calls == 1 && s.cache_hits == 0);
	CHECK(db_matches(120, 1));
	{
		rowset ev = {0};
		coco_source_stats es;
		OK(coco_evaluate(g, st, 1, NULL, sink, &ev, &es, ERR));
		CHECK(es.fn_calls == 0 && es.cache_hits == 4);
		rs_free(&ev);
		OK(coco_evaluate(g, st, 0, NULL, sink, &ev, &es, ERR));
		CHECK(es.fn_calls == 4 && es.cache_hits == 0);
		rs_free(&ev);
	}

	/* ---- the export leaves the flow: drop ---- */
	OK(coco_setup_plan_make(NULL, st, &plan, ERR));
	CHECK(plan.n == 1 && plan.destructive == 1);
	if (plan.n == 1) {
		CHECK(plan.ch[0].desired == NULL && plan.ch[0].stored != NULL);
		CHECK(plan.ch[0].plan.p && strstr(plan.ch[0].plan.p, "drop table " TABLE));
	}
	OK(coco_setup_apply(st, &plan, ERR));
	coco_setup_plan_free(&plan);
	sql_quiet = 1;
	CHECK(db_count(NULL) == (size_t)-1);
	sql_quiet = 0;
	OK(coco_setup_plan_make(NULL, st, &plan, ERR));
	CHECK(plan.n == 0);
	coco_setup_plan_free(&plan);
	coco_graph_destroy(g);

	coco_state_close(st);
	for (size_t i = 0; i < nfiles; i++)
		free(files[i].content);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmp);
	printf("%d passed, %d failed\n", passed, failed);
	return failed > 0;
}
