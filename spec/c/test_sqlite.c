/* Unit test of the SQLite target (connectors/sqlite/sqlite.c) on real
 * database files in a temporary directory. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "engine/ops.h"

extern const coco_target_ops coco_sqlite_target;
static const coco_target_ops *T = &coco_sqlite_target;

#include "spec/c/check.h"
/* Runs an ops call that must succeed; prints the error otherwise. */
#define CHECK_OK(call) do { \
	char *e_ = NULL; \
	int r_ = (call); \
	if (r_ == 0) passed++; \
	else { failed++; fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, \
		e_ ? e_ : "(no message)"); } \
	free(e_); \
} while (0)
#define ERR (&e_)

static char tmp[256];

/* First column of the first row of sql on database db, as text in a static
 * buffer: "<none>" without a row, "<null>" for NULL, "<error: ...>". */
static const char *q(const char *db, const char *sql)
{
	static char out[8192];
	sqlite3 *h;
	sqlite3_stmt *st;
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		snprintf(out, sizeof out, "<error: %s>", sqlite3_errmsg(h));
		sqlite3_close(h);
		return out;
	}
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(out, sizeof out, "<error: %s>", sqlite3_errmsg(h));
	} else {
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const unsigned char *t = sqlite3_column_text(st, 0);
			snprintf(out, sizeof out, "%s", t ? (const char *)t : "<null>");
		} else if (rc == SQLITE_DONE) {
			snprintf(out, sizeof out, "<none>");
		} else {
			snprintf(out, sizeof out, "<error: %s>", sqlite3_errmsg(h));
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(h);
	return out;
}

/* "name TYPE notnull pk, ..." of a table. */
static const char *cols(const char *db, const char *table)
{
	char sql[512];
	snprintf(sql, sizeof sql, "SELECT group_concat(name || ' ' || type || ' ' || \"notnull\" "
		"|| ' ' || pk, ', ') FROM pragma_table_info('%s')", table);
	return q(db, sql);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- types ------------------------------------------------------------------ */

/* The docs index: filename, location keys; text. */
static const coco_field doc_f[] = {
	{ "filename", &coco_t_str }, { "location", &coco_t_range }, { "text", &coco_t_str } };
static const coco_type doc_t = { .kind = COCO_STRUCT, .nfields = 3, .fields = doc_f };

/* Every kind of value. */
static const coco_type vec3_t = { .kind = COCO_VECTOR, .dim = 3 };
static const coco_field pos_f[] = { { "offset", &coco_t_int64 }, { "line", &coco_t_int64 } };
static const coco_type pos_t = { .kind = COCO_STRUCT, .nfields = 2, .fields = pos_f };
static const coco_field tag_f[] = { { "a", &coco_t_str } };
static const coco_type tags_t = { .kind = COCO_TABLE, .nfields = 1, .fields = tag_f };
static const coco_field all_f[] = {
	{ "id", &coco_t_int64 }, { "b", &coco_t_bool }, { "by", &coco_t_bytes },
	{ "f32", &coco_t_float32 }, { "f64", &coco_t_float64 }, { "js", &coco_t_json },
	{ "nul", &coco_t_str }, { "pos", &pos_t }, { "r", &coco_t_range }, { "s", &coco_t_str },
	{ "tags", &tags_t }, { "vec", &vec3_t }, { "empty_s", &coco_t_str },
	{ "empty_b", &coco_t_bytes } };
static const coco_type all_t = { .kind = COCO_STRUCT, .nfields = 14, .fields = all_f };

static coco_value v_range(int64_t a, int64_t b)
{ coco_value v = { .kind = COCO_RANGE }; v.u.r[0] = a; v.u.r[1] = b; return v; }
static coco_value v_struct(coco_value *f, size_t n)
{ coco_value v = { .kind = COCO_STRUCT, .n = n }; v.u.fields = f; return v; }

static coco_optval opts[3];

static void set_opts(const char *path, const char *table)
{
	memset(opts, 0, sizeof opts);
	opts[0].set = path != NULL;
	opts[0].s = path;
	opts[1].set = table != NULL;
	opts[1].s = table;
}

static coco_export_info info(const char *export, const coco_type *t, uint32_t nkeys)
{
	coco_export_info i = { .flow_name = "DocsIndex", .export_name = export, .base_dir = tmp,
		.row_type = t, .nkeys = nkeys };
	return i;
}

/* describe() into a malloc'd desired text (and resource id if rid). */
static char *describe(const char *export, const coco_type *t, uint32_t nkeys, char **rid)
{
	coco_export_info in = info(export, t, nkeys);
	coco_buf r = {0}, d = {0};
	char *e = NULL;
	if (T->describe(opts, &in, &r, &d, &e) < 0) {
		fprintf(stderr, "describe %s: %s\n", export, e);
		failed++;
		free(e);
	}
	if (rid)
		*rid = coco_buf_take(&r);
	coco_buf_free(&r);
	return coco_buf_take(&d);
}

/* plan() into a static text; *destr gets the destructive flag. */
static const char *plan(const char *stored, const char *desired, int *destr)
{
	static char out[4096];
	coco_buf p = {0};
	char *e = NULL;
	*destr = -1;
	if (T->plan(stored, desired, &p, destr, &e) < 0) {
		snprintf(out, sizeof out, "<error: %s>", e);
		free(e);
	} else {
		snprintf(out, sizeof out, "%s", p.p ? p.p : "");
	}
	coco_buf_free(&p);
	return out;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_describe(void)
{
	char want[1024], rid_want[512], *rid, *d;
	set_opts("index.sqlite", NULL);
	d = describe("doc_chunks", &doc_t, 2, &rid);
	snprintf(want, sizeof want, "path %s/index.sqlite\ntable DocsIndex__doc_chunks\n"
		"key filename location\ncolumn filename str TEXT\ncolumn location range TEXT\n"
		"column text str TEXT\n", tmp);
	snprintf(rid_want, sizeof rid_want, "sqlite:%s/index.sqlite#DocsIndex__doc_chunks", tmp);
	CHECK_STR(d, want);
	CHECK_STR(rid, rid_want);
	free(d);
	free(rid);

	/* paths are normalised; table_name overrides the default */
	set_opts("./sub/../index.sqlite", "Chunks");
	d = describe("doc_chunks", &doc_t, 2, &rid);
	snprintf(rid_want, sizeof rid_want, "sqlite:%s/index.sqlite#Chunks", tmp);
	CHECK_STR(rid, rid_want);
	free(d);
	free(rid);
	set_opts("/var//lib/./x.db", NULL);
	d = describe("doc_chunks", &doc_t, 2, &rid);
	CHECK_STR(rid, "sqlite:/var/lib/x.db#DocsIndex__doc_chunks");
	free(d);
	free(rid);

	/* odd names are escaped and survive plan */
	static const coco_field odd_f[] = { { "my col", &coco_t_str }, { "q\"uote", &pos_t } };
	static const coco_type odd_t = { .kind = COCO_STRUCT, .nfields = 2, .fields = odd_f };
	set_opts("index.sqlite", "we\"ird table");
	d = describe("x", &odd_t, 1, NULL);
	snprintf(want, sizeof want, "path %s/index.sqlite\ntable we\"ird table\nkey my\\x20col\n"
		"column my\\x20col str TEXT\ncolumn q\"uote struct{offset: int64, line: int64} TEXT\n", tmp);
	CHECK_STR(d, want);
	int destr;
	CHECK_STR(plan(NULL, d, &destr),
		"create table we\"ird table (my col TEXT, q\"uote TEXT, primary key (my col))\n");
	free(d);

	/* errors */
	coco_export_info in = info("doc_chunks", &doc_t, 2);
	coco_buf r = {0}, dd = {0};
	char *e = NULL;
	set_opts("", NULL);
	CHECK(T->describe(opts, &in, &r, &dd, &e) == -1);
	CHECK_STR(e, "SQLite: export 'doc_chunks' needs a non-empty path option");
	set_opts("x.db", "sqlite_master");
	CHECK(T->describe(opts, &in, &r, &dd, &e) == -1);
	CHECK_STR(e, "SQLite: table name 'sqlite_master' is reserved "
		"(names starting with sqlite_ belong to SQLite)");
	static const coco_field dup_f[] = { { "a", &coco_t_str }, { "A", &coco_t_str } };
	static const coco_type dup_t = { .kind = COCO_STRUCT, .nfields = 2, .fields = dup_f };
	in.row_type = &dup_t;
	in.nkeys = 1;
	set_opts("x.db", "t");
	CHECK(T->describe(opts, &in, &r, &dd, &e) == -1);
	CHECK_STR(e, "SQLite: table t: fields 'a' and 'A' name the same column "
		"(SQLite column names ignore case)");
	in.row_type = &doc_t;
	in.nkeys = 0;
	CHECK(T->describe(opts, &in, &r, &dd, &e) == -1);
	CHECK_STR(e, "SQLite: export 'doc_chunks' needs primary_key_fields");
	free(e);
	coco_buf_free(&r);
	coco_buf_free(&dd);

	/* a malformed description is an error, not a crash */
	int x;
	CHECK_STR(plan("path /a\ntable t\nbogus\n", NULL, &x),
		"<error: SQLite: malformed setup description (line 3)>");
	CHECK_STR(plan("path /a\ntable t\nkey k\ncolumn j str TEXT\n", NULL, &x),
		"<error: SQLite: malformed setup description (key k is not a column)>");
	CHECK_STR(plan("path /a\\x2\ntable t\nkey k\ncolumn k str TEXT\n", NULL, &x),
		"<error: SQLite: malformed setup description (line 1)>");
}

static void test_create_and_write(void)
{
	char db[512];
	snprintf(db, sizeof db, "%s/index.sqlite", tmp);
	set_opts("index.sqlite", NULL);
	char *d = describe("doc_chunks", &doc_t, 2, NULL);
	int destr;
	CHECK_STR(plan(NULL, d, &destr), "create table DocsIndex__doc_chunks "
		"(filename TEXT, location TEXT, text TEXT, primary key (filename, location))\n");
	CHECK(destr == 0);
	CHECK_STR(plan(d, d, &destr), "");
	CHECK(destr == 0);
	CHECK_OK(T->apply(NULL, d, ERR));
	CHECK_STR(cols(db, "DocsIndex__doc_chunks"),
		"filename TEXT 1 1, location TEXT 1 2, text TEXT 0 0");
	CHECK_STR(q(db, "PRAGMA journal_mode"), "wal");
	CHECK_STR(q(db, "PRAGMA page_size"), "16384");
	CHECK_OK(T->apply(NULL, d, ERR));      /* idempotent */
	CHECK_OK(T->apply(d, d, ERR));         /* no change */
	CHECK_STR(cols(db, "DocsIndex__doc_chunks"),
		"filename TEXT 1 1, location TEXT 1 2, text TEXT 0 0");

	/* upsert, upsert the same key again, delete */
	coco_export_info in = info("doc_chunks", &doc_t, 2);
	void *t = NULL;
	CHECK_OK(T->open(opts, &in, &t, ERR));
	if (!t) {
		free(d);
		return;
	}
	coco_value f[3] = { coco_v_str("a.md", 4), v_range(0, 1000), coco_v_str("hello", 5) };
	coco_value row = v_struct(f, 3);
	CHECK_OK(T->begin(t, ERR));
	CHECK_OK(T->upsert(t, &row, ERR));
	f[1] = v_range(1000, 1500);
	f[2] = coco_v_str("world", 5);
	CHECK_OK(T->upsert(t, &row, ERR));
	CHECK_OK(T->commit(t, ERR));
	CHECK_STR(q(db, "SELECT group_concat(filename || ' ' || location || ' ' || text, '; ') "
		"FROM (SELECT * FROM DocsIndex__doc_chunks ORDER BY location)"),
		"a.md [0,1000] hello; a.md [1000,1500] world");

	CHECK_OK(T->begin(t, ERR));
	f[2] = coco_v_str("WORLD!", 6);
	CHECK_OK(T->upsert(t, &row, ERR));
	CHECK_OK(T->commit(t, ERR));
	CHECK_STR(q(db, "SELECT count(*) FROM DocsIndex__doc_chunks"), "2");
	CHECK_STR(q(db, "SELECT text FROM DocsIndex__doc_chunks WHERE location = '[1000,1500]'"),
		"WORLD!");

	coco_value kf[2] = { coco_v_str("a.md", 4), v_range(0, 1000) };
	coco_value key = v_struct(kf, 2);
	CHECK_OK(T->begin(t, ERR));
	CHECK_OK(T->del(t, &key, ERR));
	CHECK_OK(T->del(t, &key, ERR));        /* deleting a missing key is fine */
	CHECK_OK(T->commit(t, ERR));
	CHECK_STR(q(db, "SELECT group_concat(location) FROM DocsIndex__doc_chunks"), "[1000,1500]");

	/* a key field may not be null */
	char *e = NULL;
	f[0] = coco_v_null();
	CHECK_OK(T->begin(t, ERR));
	CHECK(T->upsert(t, &row, &e) == -1);
	CHECK(e && strstr(e, "NOT NULL constraint failed"));
	free(e);

	/* begin() after a failed batch rolls the batch back */
	f[0] = coco_v_str("b.md", 4);
	CHECK_OK(T->upsert(t, &row, ERR));
	CHECK_OK(T->begin(t, ERR));
	CHECK_OK(T->commit(t, ERR));
	CHECK_STR(q(db, "SELECT count(*) FROM DocsIndex__doc_chunks"), "1");

	/* close() rolls back the open transaction */
	CHECK_OK(T->begin(t, ERR));
	CHECK_OK(T->upsert(t, &row, ERR));
	T->close(t);
	CHECK_STR(q(db, "SELECT count(*) FROM DocsIndex__doc_chunks"), "1");
	free(d);
}

static void test_all_types(void)
{
	char db[512];
	snprintf(db, sizeof db, "%s/index.sqlite", tmp);
	set_opts("index.sqlite", "all");
	char *d = describe("all", &all_t, 1, NULL);
	CHECK(strstr(d, "\ncolumn vec vector<float32,3> BLOB\n") != NULL);
	CHECK(strstr(d, "\ncolumn tags list{a: str} TEXT\n") != NULL);
	CHECK_OK(T->apply(NULL, d, ERR));
	CHECK_STR(cols(db, "all"), "id INTEGER 1 1, b INTEGER 0 0, by BLOB 0 0, f32 REAL 0 0, "
		"f64 REAL 0 0, js TEXT 0 0, nul TEXT 0 0, pos TEXT 0 0, r TEXT 0 0, s TEXT 0 0, "
		"tags TEXT 0 0, vec BLOB 0 0, empty_s TEXT 0 0, empty_b BLOB 0 0");

	coco_export_info in = info("all", &all_t, 1);
	void *t = NULL;
	CHECK_OK(T->open(opts, &in, &t, ERR));
	if (!t) {
		free(d);
		return;
	}
	static const float vec[3] = { 1.0f, -2.0f, 0.5f };
	coco_value pos[2] = { coco_v_int(3), coco_v_int(7) };
	coco_value tag1 = coco_v_str("x", 1), tag2 = coco_v_str("y\"z", 3);
	coco_value tagrows[2] = { v_struct(&tag1, 1), v_struct(&tag2, 1) };
	coco_value f[14];
	f[0] = coco_v_int(-42);
	f[1] = (coco_value){ .kind = COCO_BOOL, .u.b = 1 };
	f[2] = (coco_value){ .kind = COCO_BYTES, .n = 3, .u.s = "\x00\x01\xff" };
	f[3] = (coco_value){ .kind = COCO_FLOAT32, .u.f = 1.5 };
	f[4] = (coco_value){ .kind = COCO_FLOAT64, .u.f = -0.25 };
	f[5] = (coco_value){ .kind = COCO_JSON, .n = 7, .u.s = "{\"a\":1}" };
	f[6] = coco_v_null();
	f[7] = v_struct(pos, 2);
	f[8] = v_range(5, 10);
	f[9] = coco_v_str("héllo", strlen("héllo"));
	f[10] = (coco_value){ .kind = COCO_TABLE, .n = 2, .u.rows = tagrows };
	f[11] = (coco_value){ .kind = COCO_VECTOR, .n = 3, .u.vec = vec };
	f[12] = coco_v_str(NULL, 0);
	f[13] = (coco_value){ .kind = COCO_BYTES, .n = 0, .u.s = NULL };
	coco_value row = v_struct(f, 14);
	CHECK_OK(T->begin(t, ERR));
	CHECK_OK(T->upsert(t, &row, ERR));
	CHECK_OK(T->commit(t, ERR));

#define TQ(col) "SELECT typeof(" col ") || ' ' || quote(" col ") FROM \"all\""
	CHECK_STR(q(db, TQ("id")), "integer -42");
	CHECK_STR(q(db, TQ("b")), "integer 1");
	CHECK_STR(q(db, TQ("by")), "blob X'0001FF'");
	CHECK_STR(q(db, TQ("f32")), "real 1.5");
	CHECK_STR(q(db, TQ("f64")), "real -0.25");
	CHECK_STR(q(db, TQ("js")), "text '{\"a\":1}'");
	CHECK_STR(q(db, TQ("nul")), "null NULL");
	CHECK_STR(q(db, TQ("pos")), "text '{\"offset\":3,\"line\":7}'");
	CHECK_STR(q(db, TQ("r")), "text '[5,10]'");
	CHECK_STR(q(db, TQ("s")), "text 'héllo'");
	CHECK_STR(q(db, TQ("tags")), "text '[{\"a\":\"x\"},{\"a\":\"y\\\"z\"}]'");
	CHECK_STR(q(db, TQ("vec")), "blob X'0000803F000000C00000003F'");
	CHECK_STR(q(db, TQ("empty_s")), "text ''");
	CHECK_STR(q(db, TQ("empty_b")), "blob X''");
	CHECK_STR(q(db, "SELECT json_extract(pos, '$.line') FROM \"all\""), "7");

	/* same key, new values: still one row */
	f[1].u.b = 0;
	f[9] = coco_v_str("bye", 3);
	f[6] = coco_v_str("now set", 7);
	f[7] = coco_v_null();
	CHECK_OK(T->begin(t, ERR));
	CHECK_OK(T->upsert(t, &row, ERR));
	CHECK_OK(T->commit(t, ERR));
	CHECK_STR(q(db, "SELECT count(*) || ' ' || b || ' ' || s || ' ' || nul || ' ' || quote(pos) "
		"FROM \"all\""), "1 0 bye now set NULL");

	/* delete with the key struct, and with a lone key value */
	coco_value k = coco_v_int(-42), ks = v_struct(&k, 1);
	CHECK_OK(T->begin(t, ERR));
	CHECK_OK(T->del(t, &ks, ERR));
	CHECK_OK(T->commit(t, ERR));
	CHECK_STR(q(db, "SELECT count(*) FROM \"all\""), "0");
	CHECK_OK(T->begin(t, ERR));
	CHECK_OK(T->upsert(t, &row, ERR));
	CHECK_OK(T->del(t, &k, ERR));
	CHECK_OK(T->commit(t, ERR));
	CHECK_STR(q(db, "SELECT count(*) FROM \"all\""), "0");

	/* a row of the wrong shape is an error */
	char *e = NULL;
	coco_value bad = v_struct(f, 2);
	CHECK_OK(T->begin(t, ERR));
	CHECK(T->upsert(t, &bad, &e) == -1);
	CHECK_STR(e, "SQLite: table all: a row has 2 fields, expected 14");
	free(e);
	CHECK_OK(T->commit(t, ERR));
	T->close(t);
	free(d);

	/* every column a key: INSERT OR REPLACE; odd identifiers are quoted */
	static const coco_field kk_f[] = { { "my col", &coco_t_str }, { "q\"uote", &coco_t_int64 } };
	static const coco_type kk_t = { .kind = COCO_STRUCT, .nfields = 2, .fields = kk_f };
	set_opts("index.sqlite", "we\"ird");
	d = describe("kk", &kk_t, 2, NULL);
	CHECK_OK(T->apply(NULL, d, ERR));
	in = info("kk", &kk_t, 2);
	t = NULL;
	CHECK_OK(T->open(opts, &in, &t, ERR));
	if (t) {
		coco_value kv[2] = { coco_v_str("a", 1), coco_v_int(1) }, r2 = v_struct(kv, 2);
		CHECK_OK(T->begin(t, ERR));
		CHECK_OK(T->upsert(t, &r2, ERR));
		CHECK_OK(T->upsert(t, &r2, ERR));
		CHECK_OK(T->commit(t, ERR));
		T->close(t);
	}
	CHECK_STR(q(db, "SELECT count(*) || ' ' || \"my col\" || \"q\"\"uote\" FROM \"we\"\"ird\""),
		"1 a1");
	free(d);
}

static void test_changes(void)
{
	char db[512], db2[512], want[2048];
	snprintf(db, sizeof db, "%s/index.sqlite", tmp);
	snprintf(db2, sizeof db2, "%s/other.sqlite", tmp);
	int destr;

	static const coco_field v1_f[] = { { "filename", &coco_t_str }, { "location", &coco_t_range },
		{ "text", &coco_t_str } };
	static const coco_type v1_t = { .kind = COCO_STRUCT, .nfields = 3, .fields = v1_f };
	/* drop text, add title */
	static const coco_field v2_f[] = { { "filename", &coco_t_str }, { "location", &coco_t_range },
		{ "title", &coco_t_str } };
	static const coco_type v2_t = { .kind = COCO_STRUCT, .nfields = 3, .fields = v2_f };
	/* add n */
	static const coco_field v3_f[] = { { "filename", &coco_t_str }, { "location", &coco_t_range },
		{ "n", &coco_t_float64 }, { "title", &coco_t_str } };
	static const coco_type v3_t = { .kind = COCO_STRUCT, .nfields = 4, .fields = v3_f };
	/* title becomes int64 */
	static const coco_field v4_f[] = { { "filename", &coco_t_str }, { "location", &coco_t_range },
		{ "n", &coco_t_float64 }, { "title", &coco_t_int64 } };
	static const coco_type v4_t = { .kind = COCO_STRUCT, .nfields = 4, .fields = v4_f };

	set_opts("index.sqlite", "ch");
	char *d1 = describe("ch", &v1_t, 2, NULL), *d2 = describe("ch", &v2_t, 2, NULL),
		*d3 = describe("ch", &v3_t, 2, NULL), *d4 = describe("ch", &v4_t, 2, NULL),
		*d5 = describe("ch", &v4_t, 1, NULL);
	set_opts("other.sqlite", "ch2");
	char *d6 = describe("ch", &v4_t, 1, NULL);

	CHECK_OK(T->apply(NULL, d1, ERR));
	CHECK_STR(q(db, "INSERT INTO ch VALUES('a', '[0,1]', 'x') RETURNING filename"), "a");

	CHECK_STR(plan(d1, d2, &destr), "drop column text\nadd column title TEXT\n");
	CHECK(destr == (1 | COCO_SETUP_KEEPS_ROWS));   /* the rows stay */
	CHECK_OK(T->apply(d1, d2, ERR));
	CHECK_STR(cols(db, "ch"), "filename TEXT 1 1, location TEXT 1 2, title TEXT 0 0");
	CHECK_STR(q(db, "SELECT count(*) FROM ch"), "1");       /* rows survive */
	CHECK_OK(T->apply(d1, d2, ERR));                           /* re-run after a crash */
	CHECK_STR(cols(db, "ch"), "filename TEXT 1 1, location TEXT 1 2, title TEXT 0 0");

	CHECK_STR(plan(d2, d3, &destr), "add column n REAL\n");
	CHECK(destr == 0);
	CHECK_OK(T->apply(d2, d3, ERR));
	CHECK_OK(T->apply(d2, d3, ERR));
	CHECK_STR(cols(db, "ch"), "filename TEXT 1 1, location TEXT 1 2, title TEXT 0 0, n REAL 0 0");
	CHECK_STR(q(db, "SELECT count(*) FROM ch"), "1");

	CHECK_STR(plan(d3, d4, &destr), "drop and recreate table ch (column title: str → int64)\n");
	CHECK(destr == 1);
	CHECK_OK(T->apply(d3, d4, ERR));
	CHECK_STR(cols(db, "ch"),
		"filename TEXT 1 1, location TEXT 1 2, n REAL 0 0, title INTEGER 0 0");
	CHECK_STR(q(db, "SELECT count(*) FROM ch"), "0");
	CHECK_STR(q(db, "INSERT INTO ch VALUES('a', '[0,1]', 1.0, 2) RETURNING filename"), "a");

	CHECK_STR(plan(d4, d5, &destr),
		"drop and recreate table ch (key: filename, location → filename)\n");
	CHECK(destr == 1);
	CHECK_OK(T->apply(d4, d5, ERR));
	CHECK_OK(T->apply(d4, d5, ERR));
	CHECK_STR(cols(db, "ch"),
		"filename TEXT 1 1, location TEXT 0 0, n REAL 0 0, title INTEGER 0 0");
	CHECK_STR(q(db, "SELECT count(*) FROM ch"), "0");

	snprintf(want, sizeof want, "drop and recreate table ch2 (path: %s → %s; table: ch → ch2)\n",
		db, db2);
	CHECK_STR(plan(d5, d6, &destr), want);
	CHECK(destr == 1);
	CHECK_OK(T->apply(d5, d6, ERR));
	CHECK_STR(q(db, "SELECT count(*) FROM sqlite_master WHERE name = 'ch'"), "0");
	CHECK_STR(cols(db2, "ch2"),
		"filename TEXT 1 1, location TEXT 0 0, n REAL 0 0, title INTEGER 0 0");

	CHECK_STR(plan(d6, NULL, &destr), "drop table ch2\n");
	CHECK(destr == 1);
	CHECK_OK(T->apply(d6, NULL, ERR));
	CHECK_OK(T->apply(d6, NULL, ERR));
	CHECK_STR(q(db2, "SELECT count(*) FROM sqlite_master WHERE name = 'ch2'"), "0");
	CHECK_STR(plan(NULL, NULL, &destr), "");

	/* dropping from a database that does not exist does not create it */
	char gone[512];
	snprintf(gone, sizeof gone, "%s/gone.sqlite", tmp);
	set_opts("gone.sqlite", NULL);
	char *dg = describe("ch", &v1_t, 2, NULL);
	CHECK_OK(T->apply(dg, NULL, ERR));
	CHECK(access(gone, F_OK) != 0);

	free(d1);
	free(d2);
	free(d3);
	free(d4);
	free(d5);
	free(d6);
	free(dg);
}

/* Runs apply(NULL, d) and open() as user nobody in a child; returns the
 * two error messages joined by '|' in out, or -1 if setuid is not allowed. */
static int as_nobody(const char *d, const coco_export_info *in, char *out, size_t n)
{
	int fd[2];
	if (pipe(fd) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(fd[0]);
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(2);
		char *e1 = NULL, *e2 = NULL;
		void *t = NULL;
		T->apply(NULL, d, &e1);
		T->open(opts, in, &t, &e2);
		if (t)
			T->close(t);
		dprintf(fd[1], "%s|%s", e1 ? e1 : "ok", e2 ? e2 : "ok");
		_exit(0);
	}
	close(fd[1]);
	ssize_t k = read(fd[0], out, n - 1);
	out[k > 0 ? k : 0] = 0;
	close(fd[0]);
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void test_errors(void)
{
	char want[4096];
	set_opts("nodir/index.sqlite", NULL);
	char *d = describe("doc_chunks", &doc_t, 2, NULL);
	char *e = NULL;
	CHECK(T->apply(NULL, d, &e) == -1);
	snprintf(want, sizeof want, "SQLite: cannot open %s/nodir/index.sqlite: unable to open "
		"database file (directory %s/nodir does not exist)", tmp, tmp);
	CHECK_STR(e, want);
	coco_export_info in = info("doc_chunks", &doc_t, 2);
	void *t = NULL;
	CHECK(T->open(opts, &in, &t, &e) == -1 && t == NULL);
	CHECK_STR(e, want);
	free(d);

	/* writes before setup */
	set_opts("nosetup.sqlite", NULL);
	CHECK(T->open(opts, &in, &t, &e) == -1);
	snprintf(want, sizeof want, "SQLite: cannot open %s/nosetup.sqlite: unable to open "
		"database file (file does not exist; run setup first)", tmp);
	CHECK_STR(e, want);
	set_opts("index.sqlite", "never_set_up");
	CHECK(T->open(opts, &in, &t, &e) == -1);
	snprintf(want, sizeof want, "SQLite: table never_set_up does not exist in "
		"%s/index.sqlite (run setup)", tmp);
	CHECK_STR(e, want);

	/* not a database */
	char path[512];
	snprintf(path, sizeof path, "%s/junk.sqlite", tmp);
	FILE *f = fopen(path, "w");
	fputs("this is not a database, not at all, and it is long enough to matter\n", f);
	fclose(f);
	set_opts("junk.sqlite", NULL);
	d = describe("doc_chunks", &doc_t, 2, NULL);
	CHECK(T->apply(NULL, d, &e) == -1);
	snprintf(want, sizeof want, "SQLite: cannot open %s: file is not a database", path);
	CHECK_STR(e, want);
	free(d);

	/* a read-only directory, and a read-only database file */
	char ro[512], probe[600];
	snprintf(ro, sizeof ro, "%s/ro", tmp);
	mkdir(ro, 0755);
	set_opts("ro/index.sqlite", NULL);
	d = describe("doc_chunks", &doc_t, 2, NULL);
	char ro_want[1024];
	snprintf(ro_want, sizeof ro_want, "SQLite: cannot open %s/index.sqlite: unable to open "
		"database file (permission denied)", ro);
	if (geteuid() == 0) {
		/* chmod does not stop root: try as nobody instead */
		char out[2048];
		chmod(tmp, 0755);
		if (as_nobody(d, &in, out, sizeof out) == 0) {
			snprintf(want, sizeof want, "%s|%s", ro_want, ro_want);
			CHECK_STR(out, want);
			/* the database exists but belongs to root */
			CHECK_OK(T->apply(NULL, d, ERR));
			as_nobody(d, &in, out, sizeof out);
			snprintf(want, sizeof want, "SQLite: cannot open %s/index.sqlite: attempt to "
				"write a readonly database (permission denied)", ro);
			CHECK(!strncmp(out, want, strlen(want)));
			if (strncmp(out, want, strlen(want)))
				fprintf(stderr, "  got: %s\n  expected: %s|...\n", out, want);
		} else {
			printf("note: running as root and cannot switch to nobody: "
				"skipping the read-only directory check\n");
		}
		chmod(tmp, 0700);
	} else {
		chmod(ro, 0555);
		snprintf(probe, sizeof probe, "%s/probe", ro);
		int fd = open(probe, O_CREAT | O_WRONLY, 0644);
		if (fd >= 0) {
			close(fd);
			unlink(probe);
			printf("note: chmod 0555 does not stop writes here: "
				"skipping the read-only directory check\n");
		} else {
			CHECK(T->apply(NULL, d, &e) == -1);
			CHECK_STR(e, ro_want);
		}
		chmod(ro, 0755);
	}
	free(d);
	free(e);
}

static void test_timing(void)
{
	char db[512];
	snprintf(db, sizeof db, "%s/bench.sqlite", tmp);
	set_opts("bench.sqlite", NULL);
	char *d = describe("doc_chunks", &doc_t, 2, NULL);
	CHECK_OK(T->apply(NULL, d, ERR));
	coco_export_info in = info("doc_chunks", &doc_t, 2);
	void *t = NULL;
	CHECK_OK(T->open(opts, &in, &t, ERR));
	free(d);
	if (!t)
		return;
	enum { N = 50000, FILES = 500 };
	char text[1024];
	for (size_t i = 0; i < sizeof text; i++)
		text[i] = (char)('a' + i % 26);
	char names[FILES][32];
	for (int i = 0; i < FILES; i++)
		snprintf(names[i], sizeof names[i], "docs/file%04d.md", i);
	coco_value f[3], row = v_struct(f, 3);
	int bad = 0;
	double t0 = now_ms();
	bad |= T->begin(t, NULL);
	for (int i = 0; i < N; i++) {
		int64_t off = (int64_t)(i / FILES) * 1000;
		f[0] = coco_v_str(names[i % FILES], strlen(names[i % FILES]));
		f[1] = v_range(off, off + 1000);
		text[0] = (char)('A' + i % 26);
		f[2] = coco_v_str(text, sizeof text);
		bad |= T->upsert(t, &row, NULL);
	}
	double t1 = now_ms();
	bad |= T->commit(t, NULL);
	double t2 = now_ms();
	T->close(t);
	CHECK(bad == 0);
	CHECK_STR(q(db, "SELECT count(*) || ' ' || sum(length(text)) FROM DocsIndex__doc_chunks"),
		"50000 51200000");
	printf("sqlite: 50000 upserts of 1 KB rows in one transaction: %.1f ms "
		"(upserts %.1f ms, commit %.1f ms)\n", t2 - t0, t1 - t0, t2 - t1);
}

static void rm_rf(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
	snprintf(tmp, sizeof tmp, "/tmp/coco_test_sqlite_XXXXXX");
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	test_describe();
	test_create_and_write();
	test_all_types();
	test_changes();
	test_errors();
	test_timing();
	rm_rf(tmp);
	printf("%d passed, %d failed\n", passed, failed);
	return failed > 0;
}
