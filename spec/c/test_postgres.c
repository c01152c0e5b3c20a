/* Unit test of the Postgres target's setup side (connectors/postgres):
 * describe() from options and row types, plan() between descriptions,
 * option errors, and the errors of a server that is not there. Writes and
 * queries against real servers are in spec/postgres_spec.lua and
 * spec/target_conformance_spec.lua. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ops.h"

extern const coco_target_ops coco_postgres_target;
static const coco_target_ops *T = &coco_postgres_target;

#include "spec/c/check.h"

enum { O_DATABASE, O_TABLE, O_SCHEMA, O_COLUMNS, O_INDEXES, O_N };
static coco_optval opts[O_N + 1];

static void set(int i, const char *s)
{
	opts[i].set = s != NULL;
	opts[i].s = s;
}

static void reset(void)
{
	memset(opts, 0, sizeof opts);
	set(O_DATABASE, "postgres://coco:secret@db.example:5433/docs");
}

static const coco_type vec3_t = { .kind = COCO_VECTOR, .dim = 3 };
static const coco_type vecany_t = { .kind = COCO_VECTOR, .dim = 0 };
static const coco_field pos_f[] = { { "offset", &coco_t_int64 }, { "line", &coco_t_int64 } };
static const coco_type pos_t = { .kind = COCO_STRUCT, .nfields = 2, .fields = pos_f };
static const coco_field row_f[] = {
	{ "filename", &coco_t_str }, { "location", &coco_t_range }, { "b", &coco_t_bool },
	{ "by", &coco_t_bytes }, { "embedding", &vec3_t }, { "f32", &coco_t_float32 },
	{ "f64", &coco_t_float64 }, { "js", &coco_t_json }, { "n", &coco_t_int64 },
	{ "pos", &pos_t }, { "text", &coco_t_str }, { "va", &vecany_t } };
static const coco_type row_t = { .kind = COCO_STRUCT, .nfields = 12, .fields = row_f };

static const coco_field small_f[] = { { "id", &coco_t_str }, { "text", &coco_t_str } };
static const coco_type small_t = { .kind = COCO_STRUCT, .nfields = 2, .fields = small_f };
static const coco_field small2_f[] = { { "id", &coco_t_str }, { "n", &coco_t_int64 } };
static const coco_type small2_t = { .kind = COCO_STRUCT, .nfields = 2, .fields = small2_f };
static const coco_field smallv_f[] = { { "id", &coco_t_str }, { "text", &coco_t_str },
	{ "v", &vec3_t } };
static const coco_type smallv_t = { .kind = COCO_STRUCT, .nfields = 3, .fields = smallv_f };

static const char *flow_name = "Docs";

/* describe(): the desired text (malloc'd), or NULL with the error in *err. */
static char *describe(const coco_type *t, uint32_t nkeys, char **rid, char **err)
{
	coco_export_info in = { .flow_name = flow_name, .export_name = "chunks", .base_dir = "/tmp",
		.row_type = t, .nkeys = nkeys };
	coco_buf r = {0}, d = {0};
	*err = NULL;
	int rc = T->describe(opts, &in, &r, &d, err);
	if (rid)
		*rid = rc ? NULL : coco_buf_take(&r);
	coco_buf_free(&r);
	if (rc) {
		coco_buf_free(&d);
		return NULL;
	}
	return coco_buf_take(&d);
}

/* The error describe() gives (static), "" if none. */
static const char *describe_err(const coco_type *t, uint32_t nkeys)
{
	static char out[1024];
	char *e = NULL, *d = describe(t, nkeys, NULL, &e);
	snprintf(out, sizeof out, "%s", e ? e : "");
	free(e);
	free(d);
	return out;
}

static const char *plan(const char *stored, const char *desired, int *destr)
{
	static char out[4096];
	coco_buf p = {0};
	char *e = NULL;
	*destr = -1;
	if (T->plan(stored, desired, &p, destr, &e) < 0)
		snprintf(out, sizeof out, "<error: %s>", e);
	else
		snprintf(out, sizeof out, "%s", p.p ? p.p : "");
	free(e);
	coco_buf_free(&p);
	return out;
}

static void test_describe(void)
{
	reset();
	char *rid, *e, *d = describe(&row_t, 2, &rid, &e);
	CHECK_STR(rid, "postgres://db.example:5433/docs#public.Docs__chunks");
	CHECK_STR(d,
		"database user='coco' dbname='docs' host='db.example' port='5433'\n"   /* no password */
		"server postgres://db.example:5433/docs\n"
		"schema public\n"
		"table Docs__chunks\n"
		"key filename location\n"
		"column filename str text\n"
		"column location range int8range\n"
		"column b bool boolean\n"
		"column by bytes bytea\n"
		"column embedding vector<float32,3> vector(3)\n"
		"column f32 float32 real\n"
		"column f64 float64 double precision\n"
		"column js json jsonb\n"
		"column n int64 bigint\n"
		"column pos struct{offset:\\x20int64,\\x20line:\\x20int64} jsonb\n"
		"column text str text\n"
		"column va vector<float32> jsonb\n");
	free(rid);
	free(d);

	/* options: schema, table, halfvec, real[], an index */
	set(O_SCHEMA, "my schema");
	set(O_TABLE, "my \"table\"");
	set(O_COLUMNS, "{\"embedding\":{\"type\":\"halfvec\"},\"va\":{\"type\":\"real[]\"}}");
	set(O_INDEXES, "[{\"field\":\"embedding\",\"metric\":\"ip\",\"m\":8},"
		"{\"field\":\"embedding\",\"metric\":\"l2\",\"method\":\"ivfflat\"}]");
	d = describe(&row_t, 1, &rid, &e);
	CHECK_STR(rid, "postgres://db.example:5433/docs#my schema.my \"table\"");
	CHECK(d && strstr(d, "schema my schema\ntable my \"table\"\nkey filename\n"));
	CHECK(d && strstr(d, "column embedding vector<float32,3> halfvec(3)\n"));
	CHECK(d && strstr(d, "column va vector<float32> real[]\n"));
	CHECK(d && strstr(d, "index my\\x20\"table\"__embedding__ip embedding hnsw halfvec_ip_ops "
		"m\\x20=\\x208,\\x20ef_construction\\x20=\\x2064\n"));
	CHECK(d && strstr(d, "index my\\x20\"table\"__embedding__l2 embedding ivfflat halfvec_l2_ops "
		"lists\\x20=\\x20100\n"));
	free(rid);
	free(d);

	/* a database from the environment; key-value connection strings */
	reset();
	set(O_DATABASE, NULL);
	setenv("COCO_DATABASE_URL", "host=127.0.0.1 port=6000 dbname=x password=p", 1);
	d = describe(&small_t, 1, &rid, &e);
	CHECK_STR(rid, "postgres://127.0.0.1:6000/x#public.Docs__chunks");
	free(rid);
	free(d);
	unsetenv("COCO_DATABASE_URL");
}

static void test_option_errors(void)
{
	reset();
	set(O_DATABASE, NULL);
	CHECK(strstr(describe_err(&small_t, 1), "export 'chunks' needs a database"));
	set(O_DATABASE, "this is wrong");
	CHECK(strstr(describe_err(&small_t, 1), "invalid connection string: missing \"=\" after \"this\""));
	reset();
	set(O_COLUMNS, "{\"nope\":{\"type\":\"vector\"}}");
	CHECK_STR(describe_err(&smallv_t, 1), "Postgres: export 'chunks': column_options: unknown field "
		"'nope'; fields: id, text, v");
	set(O_COLUMNS, "{\"text\":{\"type\":\"vector\"}}");
	CHECK(strstr(describe_err(&smallv_t, 1), "type applies to vector fields, and 'text' is str"));
	set(O_COLUMNS, "{\"v\":{\"type\":\"float8\"}}");
	CHECK(strstr(describe_err(&smallv_t, 1), "unknown type 'float8'; types: vector, halfvec, real[], jsonb"));
	set(O_COLUMNS, "{\"v\":{\"kind\":\"vector\"}}");
	CHECK(strstr(describe_err(&smallv_t, 1), "column_options.v: unknown option 'kind'"));
	set(O_COLUMNS, "[]");    /* an empty Lua table */
	CHECK_STR(describe_err(&smallv_t, 1), "");
	reset();
	set(O_INDEXES, "[{\"field\":\"v\",\"metric\":\"dot\"}]");
	CHECK(strstr(describe_err(&smallv_t, 1), "vector_indexes[1].metric must be \"cosine\", \"l2\" or \"ip\""));
	set(O_INDEXES, "[{\"field\":\"text\",\"metric\":\"l2\"}]");
	CHECK(strstr(describe_err(&smallv_t, 1), "field 'text' is stored as text; an index needs"));
	set(O_INDEXES, "[{\"field\":\"v\",\"metric\":\"l2\",\"method\":\"ivfflat\",\"m\":4}]");
	CHECK(strstr(describe_err(&smallv_t, 1), "m and ef_construction applies to hnsw indexes only"));
	set(O_INDEXES, "[{\"field\":\"v\",\"metric\":\"l2\",\"size\":4}]");
	CHECK(strstr(describe_err(&smallv_t, 1), "unknown option 'size'"));
	set(O_INDEXES, "[{\"field\":\"v\"}]");
	CHECK(strstr(describe_err(&smallv_t, 1), "needs a field and a metric"));
	set(O_INDEXES, "[{\"field\":\"v\",\"metric\":\"l2\"},{\"field\":\"v\",\"metric\":\"l2\"}]");
	CHECK(strstr(describe_err(&smallv_t, 1), "two vector indexes on field 'v' with metric l2"));
	reset();
	set(O_TABLE, "a_table_name_that_is_much_longer_than_what_postgres_allows_for_names");
	CHECK(strstr(describe_err(&small_t, 1), "is longer than 63 bytes"));
	reset();
	CHECK(strstr(describe_err(&small_t, 0), "needs primary_key_fields"));
}

static void test_long_index_name(void)
{
	reset();
	set(O_TABLE, "a_table_name_of_sixty_bytes_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	set(O_INDEXES, "[{\"field\":\"v\",\"metric\":\"cosine\"}]");
	char *rid, *e, *d = describe(&smallv_t, 1, &rid, &e);
	const char *ix = d ? strstr(d, "\nindex ") : NULL;
	CHECK(ix != NULL);
	if (ix) {
		size_t n = strcspn(ix + 7, " ");
		CHECKF(n == 63, "index name of %zu bytes: %.*s", n, (int)n, ix + 7);
		CHECK(!strncmp(ix + 7, "a_table_name_of_sixty_bytes_xxxxxxxxxxxxxxxxxx_", 47));
	}
	free(rid);
	free(d);
}

static void test_plan(void)
{
	int destr;
	char *e;
	reset();
	char *a = describe(&small_t, 1, NULL, &e);
	CHECK_STR(plan(NULL, a, &destr), "create table public.Docs__chunks (id text, text text, "
		"primary key (id))\n");
	CHECK(destr == 0);
	CHECK_STR(plan(a, NULL, &destr), "drop table public.Docs__chunks\n");
	CHECK(destr == 1);

	/* a field added, with a vector index: extension, column, index */
	set(O_INDEXES, "[{\"field\":\"v\",\"metric\":\"cosine\"}]");
	char *b = describe(&smallv_t, 1, NULL, &e);
	CHECK_STR(plan(a, b, &destr), "create extension vector if missing (for v vector(3))\n"
		"add column v vector(3)\n"
		"create index Docs__chunks__v__cosine on public.Docs__chunks using hnsw "
		"(v vector_cosine_ops) with (m = 16, ef_construction = 64)\n");
	CHECK(destr == 0);
	/* and removed again: data is lost */
	CHECK_STR(plan(b, a, &destr), "drop column v\ndrop index Docs__chunks__v__cosine\n");
	CHECK(destr == (1 | COCO_SETUP_KEEPS_ROWS));   /* the rows stay */

	/* an index changed: not destructive */
	set(O_INDEXES, "[{\"field\":\"v\",\"metric\":\"cosine\",\"ef_construction\":100}]");
	char *c = describe(&smallv_t, 1, NULL, &e);
	CHECK_STR(plan(b, c, &destr), "drop index Docs__chunks__v__cosine\n"
		"create index Docs__chunks__v__cosine on public.Docs__chunks using hnsw "
		"(v vector_cosine_ops) with (m = 16, ef_construction = 100)\n");
	CHECK(destr == 0);

	/* a type changed: recreate */
	reset();
	char *t2 = describe(&small2_t, 1, NULL, &e);
	set(O_TABLE, NULL);
	const coco_field f[] = { { "id", &coco_t_str }, { "n", &coco_t_str } };
	const coco_type tt = { .kind = COCO_STRUCT, .nfields = 2, .fields = f };
	char *t3 = describe(&tt, 1, NULL, &e);
	CHECK_STR(plan(t2, t3, &destr), "drop and recreate table public.Docs__chunks "
		"(column n: int64 bigint → str text)\n");
	CHECK(destr == 1);

	/* another server: recreate there; the same server by another string: nothing to do */
	set(O_DATABASE, "postgres://coco@other:5432/docs");
	char *t4 = describe(&tt, 1, NULL, &e);
	CHECK(strstr(plan(t3, t4, &destr), "database: postgres://db.example:5433/docs → "
		"postgres://other:5432/docs") != NULL);
	CHECK(destr == 1);
	set(O_DATABASE, "postgres://coco:secret@db.example:5433/docs?connect_timeout=3");
	char *t5 = describe(&tt, 1, NULL, &e);
	CHECK_STR(plan(t3, t5, &destr), "connection string changed (same database "
		"postgres://db.example:5433/docs)\n");
	CHECK(destr == 0);

	CHECK(!strncmp(plan("nonsense\n", t5, &destr), "<error: Postgres: malformed setup", 33));
	free(a);
	free(b);
	free(c);
	free(t2);
	free(t3);
	free(t4);
	free(t5);
}

/* A server that is not there: apply, open and top_k say so, naming it. */
static void test_no_server(void)
{
	reset();
	set(O_DATABASE, "postgres://coco@127.0.0.1:1/nowhere?connect_timeout=2");
	char *e = NULL, *d = describe(&smallv_t, 1, NULL, &e);
	CHECK(T->apply(NULL, d, &e) < 0);
	CHECKF(e && strstr(e, "Postgres: cannot connect to postgres://127.0.0.1:1/nowhere: "), "%s", e);
	free(e);
	e = NULL;
	coco_export_info in = { .flow_name = flow_name, .export_name = "chunks", .base_dir = "/tmp",
		.row_type = &smallv_t, .nkeys = 1 };
	void *h = NULL;
	CHECK(T->open(opts, &in, &h, &e) < 0 && h == NULL);
	CHECK(e && strstr(e, "cannot connect to postgres://127.0.0.1:1/nowhere"));
	free(e);
	e = NULL;
	coco_arena a = {0};
	const coco_type *rt;
	coco_value *rows;
	size_t n;
	float q[3] = { 1, 2, 3 };
	CHECK(T->top_k(opts, &in, "text", "cosine", q, 3, 5, &a, &rt, &rows, &n, &e) < 0);
	CHECK(e && strstr(e, "field 'text' is stored as text; top_k needs a vector or halfvec column"));
	free(e);
	e = NULL;
	CHECK(T->top_k(opts, &in, "v", "cosine", q, 2, 5, &a, &rt, &rows, &n, &e) < 0);
	CHECK(e && strstr(e, "the query vector has 2 dimensions, field 'v' is vector(3)"));
	free(e);
	coco_arena_destroy(&a);
	free(d);
}

int main(void)
{
	test_describe();
	test_option_errors();
	test_long_index_name();
	test_plan();
	test_no_server();
	return CHECK_DONE();
}
