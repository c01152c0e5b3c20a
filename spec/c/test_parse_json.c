/* Unit test: the JSON reader (engine/functions/json.c), ParseJson, and
 * reading members of json values in a flow (graph + evaluator):
 * LocalFile -> ParseJson -> collect{ title = meta.title, ... } -> SQLite,
 * rows fed to coco_exec_row by hand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/graph.h"
#include "engine/exec.h"
#include "engine/functions/json.h"

#include "spec/c/check.h"

static coco_arena arena, types;

/* ---- the reader ------------------------------------------------------------ */

static void valid(const char *s)
{
	size_t at = 0;
	const char *msg = NULL;
	CHECKF(coco_json_check(s, strlen(s), &at, &msg) == 0, "'%s': %s at %zu", s, msg ? msg : "", at);
}

static void invalid(const char *s, size_t want_at, const char *want)
{
	size_t at = 0;
	const char *msg = NULL;
	int rc = coco_json_check(s, strlen(s), &at, &msg);
	CHECKF(rc == -1 && at == want_at && msg && !strcmp(msg, want), "'%s': rc %d, at %zu '%s'; want %zu '%s'",
		s, rc, at, msg ? msg : "", want_at, want);
}

static void test_check(void)
{
	valid("{}");
	valid(" [ ] ");
	valid("0");
	valid("-12.5e+3");
	valid("\"a\\u00e9\\n\"");
	valid("{\"a\": [1, 2, {\"b\": null}], \"c\": true, \"d\": false}");
	valid("\"λόγος 漢字\"");
	invalid("", 0, "expected a value");
	invalid("{\"a\" 1}", 5, "expected ':'");
	invalid("{\"a\": 1,}", 8, "expected a string key");
	invalid("[1 2]", 3, "expected ',' or ']'");
	invalid("{\"a\": 1 \"b\": 2}", 8, "expected ',' or '}'");
	invalid("\"abc", 4, "unterminated string");
	invalid("\"a\\x\"", 2, "invalid escape");
	invalid("\"\\u12G4\"", 1, "invalid \\u escape");
	invalid("01", 1, "unexpected text after the value");
	invalid("1.", 2, "invalid number");
	invalid("tru", 0, "expected a value");
	invalid("{} {}", 3, "unexpected text after the value");
	invalid("\"a\tb\"", 2, "control character in string");
	/* deep nesting is refused, not a crash */
	char *deep = malloc(200001);
	memset(deep, '[', 200000);
	deep[200000] = 0;
	size_t at;
	const char *msg;
	CHECK(coco_json_check(deep, 200000, &at, &msg) == -1 && !strcmp(msg, "nested too deep"));
	free(deep);
}

static int get_is(const char *doc, const char *key, const char *want)
{
	const char *v;
	size_t n;
	if (!coco_json_get(doc, strlen(doc), key, strlen(key), &v, &n))
		return want == NULL;
	return want && n == strlen(want) && !memcmp(v, want, n);
}

static void test_get(void)
{
	const char *doc = "{ \"title\" : \"Hello\", \"n\": 3, \"tags\": [\"a\", {\"x\": [1]}, \"c\"],"
		" \"nested\": {\"deep\": {\"k\": \"v\\\"q\"}}, \"dup\": 1, \"dup\": 2, \"esc\\u0061ped\": true }";
	CHECK(get_is(doc, "title", "\"Hello\""));
	CHECK(get_is(doc, "n", "3"));
	CHECK(get_is(doc, "tags", "[\"a\", {\"x\": [1]}, \"c\"]"));
	CHECK(get_is(doc, "nested", "{\"deep\": {\"k\": \"v\\\"q\"}}"));
	CHECK(get_is(doc, "dup", "2"));
	CHECK(get_is(doc, "escaped", "true"));
	CHECK(get_is(doc, "missing", NULL));
	CHECK(get_is("[10, 20, 30]", "1", "10"));
	CHECK(get_is("[10, 20, 30]", "3", "30"));
	CHECK(get_is("[10, 20, 30]", "4", NULL));
	CHECK(get_is("[10, 20, 30]", "0", NULL));
	CHECK(get_is("[10, 20, 30]", "x", NULL));
	CHECK(get_is("\"str\"", "a", NULL));
	coco_buf b = { 0 };
	const char *lit = "\"a\\u00e9\\ud83d\\ude00\\t\"";
	CHECK(coco_json_str_decode(lit, strlen(lit), &b) == 0 &&
		!strcmp(b.p, "a\xc3\xa9\xf0\x9f\x98\x80\t"));
	coco_buf_free(&b);
}

/* ---- ParseJson ---------------------------------------------------------------- */

static void test_parse_json(void)
{
	const coco_function_ops *pj = coco_function_find("ParseJson");
	CHECK(pj != NULL);
	if (!pj)
		return;
	coco_value lang = coco_v_str("yaml", 4);
	coco_arg_info ai[2] = { { &coco_t_str, NULL }, { &coco_t_str, &lang } };
	const coco_type *t = NULL;
	void *st = NULL;
	char *err = NULL;
	CHECK(pj->prepare(NULL, NULL, ai, 2, &types, &t, &st, &err) == -1 && err &&
		!strcmp(err, "ParseJson: language \"yaml\" is not supported; only \"json\""));
	free(err);
	err = NULL;
	lang = coco_v_str("JSON", 4);
	CHECK(pj->prepare(NULL, NULL, ai, 2, &types, &t, &st, &err) == 0 && t->kind == COCO_JSON);
	const char *text = "\n  {\"a\": [1,\n 2]}  \n";
	coco_value args[2] = { coco_v_str(text, strlen(text)), coco_v_null() }, out;
	CHECK(pj->call(st, args, 2, &arena, &out, &err) == 0 && out.kind == COCO_JSON &&
		out.n == 14 && !memcmp(out.u.s, "{\"a\": [1,\n 2]}", 14));
	const char *bad = "{\n  \"a\": 1,\n  \"b\" 2\n}";
	args[0] = coco_v_str(bad, strlen(bad));
	CHECK(pj->call(st, args, 2, &arena, &out, &err) == -1 && err &&
		!strcmp(err, "ParseJson: invalid JSON at line 3, column 7: expected ':'"));
	free(err);
	err = NULL;
	args[0] = coco_v_str("", 0);
	CHECK(pj->call(st, args, 2, &arena, &out, &err) == -1 && err &&
		strstr(err, "line 1, column 1: expected a value"));
	free(err);
	err = NULL;
	args[0] = coco_v_null();
	CHECK(pj->call(st, args, 2, &arena, &out, &err) == 0 && out.kind == COCO_NULL);
	args[0] = coco_v_str("1", 1);
	args[1] = coco_v_str("xml", 3);
	CHECK(pj->call(st, args, 2, &arena, &out, &err) == -1 && err && strstr(err, "not supported"));
	free(err);
}

/* ---- members of json values in a flow ------------------------------------------ */

static coco_arg ref_arg(const char *name, coco_fieldref r)
{
	coco_arg a;
	memset(&a, 0, sizeof a);
	a.kind = COCO_ARG_REF;
	a.name = name;
	a.ref = r;
	return a;
}

static void test_flow(void)
{
	const coco_source_ops *lf = coco_source_find("LocalFile");
	const coco_target_ops *sql = coco_target_find("SQLite");
	const coco_function_ops *pj = coco_function_find("ParseJson");
	CHECK(lf && sql && pj);
	if (!lf || !sql || !pj)
		return;
	static coco_optval lf_opts[16], sql_opts[16];
	lf_opts[coco_opt_index(lf->opts, "path")] = (coco_optval){ .set = 1, .s = "docs" };
	sql_opts[coco_opt_index(sql->opts, "path")] = (coco_optval){ .set = 1, .s = "index.sqlite" };
	char *e = NULL;
	coco_graph *g = coco_graph_create("Json", "/tmp");
	coco_fieldref docs, content, filename, meta, title, second, deep, author, missing;
	int ds, col;
	int rc = coco_graph_add_source(g, lf, lf_opts, NULL, "f:1", &docs, &e) ||
		coco_graph_name_field(g, 0, &docs, "documents", "f:1", &e) ||
		coco_graph_add_collector(g, "f:2", &col, &e) ||
		coco_graph_foreach(g, 0, &docs, "f:3", &ds, &e) ||
		coco_graph_field(g, ds, "content", "f:4", &content, &e) ||
		coco_graph_field(g, ds, "filename", "f:4", &filename, &e);
	CHECKF(!rc, "%s", e ? e : "");
	if (rc)
		goto out;
	coco_arg a1[1] = { ref_arg(NULL, content) };
	rc = coco_graph_transform(g, ds, pj, NULL, NULL, NULL, NULL, a1, 1, "f:5", &meta, &e) ||
		coco_graph_name_field(g, ds, &meta, "meta", "f:5", &e) ||
		coco_graph_subfield(g, &meta, "title", "f:6", &title, &e) ||
		coco_graph_subfield(g, &meta, "tags", "f:7", &second, &e) ||
		coco_graph_subfield(g, &second, "2", "f:7", &second, &e) ||
		coco_graph_subfield(g, &meta, "a", "f:8", &deep, &e) ||
		coco_graph_subfield(g, &deep, "b", "f:8", &deep, &e) ||
		coco_graph_subfield(g, &meta, "author", "f:9", &author, &e) ||
		coco_graph_subfield(g, &meta, "nope", "f:9", &missing, &e);
	CHECKF(!rc, "%s", e ? e : "");
	if (rc)
		goto out;
	CHECK(coco_graph_ref_type(g, &title)->kind == COCO_JSON);
	CHECK(coco_graph_ref_type(g, &deep)->kind == COCO_JSON);
	coco_buf nb = { 0 };
	coco_graph_ref_name(g, &deep, &nb);
	CHECK(nb.p && !strcmp(nb.p, "meta.a.b"));
	coco_buf_free(&nb);
	/* reading a field of a str is still an error */
	CHECK(coco_graph_subfield(g, &filename, "x", "f:10", &missing, &e) == -1 && e &&
		strstr(e, "f:10: cannot read field 'x' of 'filename': it is a str"));
	free(e);
	e = NULL;
	const char *names[6] = { "author", "deep", "filename", "missing", "second", "title" };
	coco_arg vals[6] = { ref_arg(NULL, author), ref_arg(NULL, deep), ref_arg(NULL, filename),
		ref_arg(NULL, missing), ref_arg(NULL, second), ref_arg(NULL, title) };
	const char *pk[1] = { "filename" };
	rc = coco_graph_collect(g, ds, col, names, vals, 6, "f:11", &e) ||
		coco_graph_export(g, col, "docs", sql, sql_opts, pk, 1, "f:12", &e) ||
		coco_graph_finish(g, &e);
	CHECKF(!rc, "%s", e ? e : "");
	if (rc)
		goto out;
	const char *doc = "{\"title\": \"Hello\", \"tags\": [\"x\", {\"y\": 1}], \"a\": {\"b\": [true]},"
		" \"author\": null}";
	coco_arena a = { 0 };
	coco_value row = { 0 };
	row.kind = COCO_STRUCT;
	row.n = 2;
	row.u.fields = coco_arena_alloc(&a, 2 * sizeof(coco_value));
	row.u.fields[0] = coco_v_str("a.json", 6);
	row.u.fields[1] = coco_v_str(doc, strlen(doc));
	coco_rows out[1];
	rc = coco_exec_row(g, 0, &row, &a, NULL, out, NULL, &e);
	CHECKF(rc == 0 && out[0].n == 1, "%s", e ? e : "");
	if (rc == 0 && out[0].n == 1) {
		/* columns: filename (key), then author, deep, missing, second, title */
		const coco_value *f = out[0].rows[0].u.fields;
		CHECK(f[0].kind == COCO_STR && f[0].n == 6);
		CHECK(f[1].kind == COCO_NULL);                        /* author: null */
		CHECK(f[2].kind == COCO_JSON && f[2].n == 6 && !memcmp(f[2].u.s, "[true]", 6));
		CHECK(f[3].kind == COCO_NULL);                        /* missing */
		CHECK(f[4].kind == COCO_JSON && f[4].n == 8 && !memcmp(f[4].u.s, "{\"y\": 1}", 8));
		CHECK(f[5].kind == COCO_JSON && f[5].n == 7 && !memcmp(f[5].u.s, "\"Hello\"", 7));
	}
	/* invalid JSON: a row error with the flow line */
	row.u.fields[1] = coco_v_str("{\"title\": }", 11);
	free(e);
	e = NULL;
	CHECK(coco_exec_row(g, 0, &row, &a, NULL, out, NULL, &e) == -1 && e &&
		strstr(e, "ParseJson (f:5): ParseJson: invalid JSON at line 1, column 11: expected a value"));
	coco_arena_destroy(&a);
out:
	free(e);
	coco_graph_destroy(g);
}

int main(void)
{
	test_check();
	test_get();
	test_parse_json();
	test_flow();
	coco_arena_destroy(&arena);
	coco_arena_destroy(&types);
	printf("%d passed, %d failed\n", passed, failed);
	return failed > 0;
}
