/* Unit test of the graph compiler (engine/graph.c) and the row evaluator
 * (engine/exec.c), built through the C API with the built-in ops:
 * LocalFile -> SplitRecursively -> collect -> SQLite. No I/O: rows are
 * fed to coco_exec_row by hand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/graph.h"
#include "engine/exec.h"

#include "spec/c/check.h"
/* A graph call that must succeed. */
#define OK(call) do { \
	char *e_ = NULL; \
	int r_ = (call); \
	if (r_ == 0 && !e_) passed++; \
	else { failed++; fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, \
		e_ ? e_ : "(no message)"); } \
	free(e_); \
} while (0)
/* A graph call that must fail with exactly this message. */
#define FAILS(call, msg) do { \
	char *e_ = NULL; \
	int r_ = (call); \
	if (r_ == -1 && e_ && !strcmp(e_, (msg))) passed++; \
	else { failed++; fprintf(stderr, "%s:%d: %s\n  rc %d, got:   %s\n  expected:    %s\n", \
		__FILE__, __LINE__, #call, r_, e_ ? e_ : "(null)", (msg)); } \
	free(e_); \
} while (0)
#define ERR (&e_)

static const coco_source_ops *LF;
static const coco_function_ops *SPLIT;
static const coco_target_ops *SQL;

static coco_optval lf_opts[16], sql_opts[16], split_spec[16];

static void set_str(const coco_optdef *defs, coco_optval *v, const char *name, const char *s)
{
	int i = coco_opt_index(defs, name);
	if (i < 0) {
		fprintf(stderr, "no option %s\n", name);
		abort();
	}
	v[i].set = 1;
	v[i].s = s;
}

static coco_arg ref_arg(const char *name, coco_fieldref r)
{
	coco_arg a;
	memset(&a, 0, sizeof a);
	a.kind = COCO_ARG_REF;
	a.name = name;
	a.ref = r;
	return a;
}

static coco_arg const_arg(const char *name, coco_value v)
{
	coco_arg a;
	memset(&a, 0, sizeof a);
	a.kind = COCO_ARG_CONST;
	a.name = name;
	a.konst = v;
	return a;
}

static char *fmt_type(const coco_type *t)
{
	coco_buf b = {0};
	coco_type_format(t, &b);
	return coco_buf_take(&b);
}

/* ---- the docs flow, with variations ------------------------------------ */
typedef struct dcfg {
	int64_t chunk_size;
	int extra;                    /* 0: none; else an uncollected transform: */
	const char *extra_name;       /*   output field name */
	int64_t extra_size;           /*   its chunk_size */
	int reverse;                  /* collect names in reverse order */
	const char *pk[3];
	size_t npk;
	const char *chunks_name;      /* default "chunks" */
	int cache;                    /* SplitRecursively cached */
	int uuid;                     /* also collect id = uuid */
	int drop_text;                /* collect filename, location only */
} dcfg;

/* Builds and finishes the docs flow; NULL on error (reported). */
static coco_graph *build(const dcfg *c)
{
	char *e = NULL;
	coco_graph *g = coco_graph_create("DocsIndex", "/tmp");
	coco_fieldref docs, content, filename, chunks, loc, text, extra;
	int ds, cs, col;
	if (coco_graph_add_source(g, LF, lf_opts, NULL, "w:1", &docs, &e) ||
	    coco_graph_name_field(g, 0, &docs, "documents", "w:1", &e) ||
	    coco_graph_add_collector(g, "w:2", &col, &e) ||
	    coco_graph_foreach(g, 0, &docs, "w:3", &ds, &e) ||
	    coco_graph_field(g, ds, "content", "w:4", &content, &e) ||
	    coco_graph_field(g, ds, "filename", "w:4", &filename, &e))
		goto fail;
	if (c->extra) {
		coco_arg a[2] = { ref_arg(NULL, content), const_arg(NULL, coco_v_int(c->extra_size)) };
		if (coco_graph_transform(g, ds, SPLIT, split_spec, NULL, NULL, NULL, a, 2, "w:5", &extra, &e) ||
		    coco_graph_name_field(g, ds, &extra, c->extra_name, "w:5", &e))
			goto fail;
	}
	coco_arg a[2] = { ref_arg(NULL, content), const_arg("chunk_size", coco_v_int(c->chunk_size)) };
	coco_fn_logic lg = { .cache = 1, .logic = { 1, 2 } };
	if (coco_graph_transform(g, ds, SPLIT, split_spec, NULL, c->cache ? &lg : NULL, NULL, a, 2, "w:6",
		&chunks, &e) ||
	    coco_graph_name_field(g, ds, &chunks, c->chunks_name ? c->chunks_name : "chunks", "w:6", &e) ||
	    coco_graph_foreach(g, ds, &chunks, "w:7", &cs, &e) ||
	    coco_graph_field(g, cs, "location", "w:8", &loc, &e) ||
	    coco_graph_field(g, cs, "text", "w:8", &text, &e))
		goto fail;
	const char *names[4] = { "filename", "location", "text", "id" };
	coco_arg vals[4] = { ref_arg(NULL, filename), ref_arg(NULL, loc), ref_arg(NULL, text), {0} };
	vals[3].kind = COCO_ARG_UUID;
	size_t n = c->drop_text ? 2 : 3;
	if (c->uuid) {
		names[2] = "id";
		vals[2] = vals[3];
		if (!c->drop_text) {
			names[3] = "text";
			vals[3] = ref_arg(NULL, text);
			n = 4;
		} else {
			n = 3;
		}
	}
	if (c->reverse) {
		for (size_t i = 0; i < n / 2; i++) {
			const char *tn = names[i];
			names[i] = names[n - 1 - i];
			names[n - 1 - i] = tn;
			coco_arg ta = vals[i];
			vals[i] = vals[n - 1 - i];
			vals[n - 1 - i] = ta;
		}
	}
	static const char *const defpk[] = { "filename", "location" };
	if (coco_graph_collect(g, cs, col, names, vals, n, "w:9", &e) ||
	    coco_graph_export(g, col, "doc_chunks", SQL, sql_opts, c->npk ? c->pk : defpk,
		c->npk ? c->npk : 2, "w:10", &e) ||
	    coco_graph_finish(g, &e))
		goto fail;
	return g;
fail:
	fprintf(stderr, "build failed: %s\n", e ? e : "(no message)");
	free(e);
	coco_graph_destroy(g);
	return NULL;
}

/* A graph with the source named and its row scope opened. */
static coco_graph *start(int *ds, coco_fieldref *docs, coco_fieldref *content)
{
	char *e = NULL;
	coco_graph *g = coco_graph_create("DocsIndex", "/tmp");
	if (coco_graph_add_source(g, LF, lf_opts, NULL, "w:1", docs, &e) ||
	    coco_graph_name_field(g, 0, docs, "documents", "w:1", &e) ||
	    coco_graph_foreach(g, 0, docs, "w:3", ds, &e) ||
	    coco_graph_field(g, *ds, "content", "w:4", content, &e)) {
		fprintf(stderr, "start failed: %s\n", e);
		free(e);
		abort();
	}
	return g;
}

/* ---- tests -------------------------------------------------------------- */
static void test_types(void)
{
	int ds;
	coco_fieldref docs, content, f;
	coco_graph *g = start(&ds, &docs, &content);
	char *t = fmt_type(coco_graph_ref_type(g, &docs));
	CHECK_STR(t, "table[filename: str]{content: str}");
	free(t);
	t = fmt_type(coco_graph_ref_type(g, &content));
	CHECK_STR(t, "str");
	free(t);
	OK(coco_graph_field(g, ds, "filename", "w", &f, ERR));
	CHECK(coco_graph_ref_type(g, &f)->kind == COCO_STR);
	CHECK(f.scope == ds && f.field == 0 && f.npath == 0);
	CHECK(content.scope == ds && content.field == 1);
	OK(coco_graph_field(g, 0, "documents", "w", &f, ERR));
	CHECK(f.scope == 0 && f.field == docs.field);

	coco_arg a[2] = { ref_arg(NULL, content), const_arg(NULL, coco_v_int(100)) };
	coco_fieldref chunks;
	OK(coco_graph_transform(g, ds, SPLIT, split_spec, NULL, NULL, NULL, a, 2, "w:5", &chunks, ERR));
	t = fmt_type(coco_graph_ref_type(g, &chunks));
	CHECK_STR(t, "table[location: range]{text: str, "
		"start: struct{offset: int64, line: int64, column: int64}, "
		"end: struct{offset: int64, line: int64, column: int64}}");
	free(t);
	coco_buf nb = {0};
	coco_graph_ref_name(g, &chunks, &nb);
	CHECK_STR(nb.p, "(unnamed)");
	coco_buf_free(&nb);
	OK(coco_graph_name_field(g, ds, &chunks, "chunks", "w:5", ERR));
	OK(coco_graph_name_field(g, ds, &chunks, "chunks", "w:5", ERR));   /* same name again: fine */
	FAILS(coco_graph_name_field(g, ds, &chunks, "pieces", "w:5", ERR),
		"w:5: this value is already named 'chunks'; cannot also name it 'pieces'");
	OK(coco_graph_field(g, ds, "chunks", "w", &f, ERR));
	CHECK(f.field == chunks.field);
	FAILS(coco_graph_field(g, ds, "nope", "w:6", &f, ERR),
		"w:6: unknown field 'nope'; fields: filename, content, chunks");

	int cs;
	OK(coco_graph_foreach(g, ds, &chunks, "w:7", &cs, ERR));
	CHECK(cs != ds && cs > 0);
	coco_fieldref start_ref, off;
	OK(coco_graph_field(g, cs, "start", "w:8", &start_ref, ERR));
	OK(coco_graph_subfield(g, &start_ref, "offset", "w:8", &off, ERR));
	CHECK(coco_graph_ref_type(g, &off)->kind == COCO_INT64);
	CHECK(off.npath == 1 && off.path[0] == 0);
	nb = (coco_buf){0};
	coco_graph_ref_name(g, &off, &nb);
	CHECK_STR(nb.p, "start.offset");
	coco_buf_free(&nb);
	FAILS(coco_graph_subfield(g, &start_ref, "ofset", "w:8", &off, ERR),
		"w:8: unknown field 'ofset' of 'start'; fields: offset, line, column");
	/* the chunk scope sees only its own fields by name */
	FAILS(coco_graph_field(g, cs, "filename", "w:8", &f, ERR),
		"w:8: unknown field 'filename'; fields: location, text, start, end");
	/* a field of the chunk row is not visible back in the document row */
	coco_fieldref text;
	OK(coco_graph_field(g, cs, "text", "w:8", &text, ERR));
	coco_arg b[2] = { ref_arg(NULL, text), const_arg(NULL, coco_v_int(10)) };
	FAILS(coco_graph_transform(g, ds, SPLIT, split_spec, NULL, NULL, NULL, b, 2, "w:9", &f, ERR),
		"w:9: field 'text' is not visible here (it belongs to another row scope)");
	/* but a document field is visible in the chunk row */
	coco_fieldref fn;
	OK(coco_graph_field(g, ds, "filename", "w", &fn, ERR));
	coco_arg c2[2] = { ref_arg(NULL, fn), const_arg(NULL, coco_v_int(10)) };
	OK(coco_graph_transform(g, cs, SPLIT, split_spec, NULL, NULL, NULL, c2, 2, "w:9", &f, ERR));
	FAILS(coco_graph_name_field(g, cs, &f, "location", "w:9", ERR),
		"w:9: field 'location' already exists in this row");
	FAILS(coco_graph_name_field(g, ds, &f, "x", "w:9", ERR),
		"w:9: cannot assign 'x' here: the value was computed in another row scope "
		"(assign it in the row function where it is computed)");
	coco_graph_destroy(g);
}

static void test_errors(void)
{
	int ds;
	coco_fieldref docs, content, out;
	coco_graph *g = start(&ds, &docs, &content);

	FAILS(coco_graph_field(g, ds, "contnet", "w:1", &out, ERR),
		"w:1: unknown field 'contnet'; fields: filename, content");
	FAILS(coco_graph_subfield(g, &content, "x", "w:2", &out, ERR),
		"w:2: cannot read field 'x' of 'content': it is a str, not a struct");
	int child;
	FAILS(coco_graph_foreach(g, ds, &content, "w:3", &child, ERR),
		"w:3: row() needs a table, but 'content' is a str");
	FAILS(coco_graph_foreach(g, 0, &docs, "w:3", &child, ERR),
		"w:3: row() was already called on source 'documents'; "
		"put everything for its rows in one row function");

	coco_arg a[2] = { ref_arg(NULL, content), const_arg(NULL, coco_v_int(100)) };
	FAILS(coco_graph_transform(g, 0, SPLIT, split_spec, NULL, NULL, NULL, a, 2, "w:4", &out, ERR),
		"w:4: SplitRecursively: transforms run inside a row function "
		"(slice:row(function(row) ... end))");
	coco_arg s[2] = { ref_arg(NULL, content), const_arg("chunk_size", coco_v_str("100", 3)) };
	FAILS(coco_graph_transform(g, ds, SPLIT, split_spec, NULL, NULL, NULL, s, 2, "w:5", &out, ERR),
		"w:5: SplitRecursively: argument 'chunk_size' must be int64, got str");
	coco_arg one[1] = { ref_arg(NULL, content) };
	FAILS(coco_graph_transform(g, ds, SPLIT, split_spec, NULL, NULL, NULL, one, 1, "w:6", &out, ERR),
		"w:6: SplitRecursively: missing required argument 'chunk_size'");
	coco_arg u[2] = { ref_arg(NULL, content), const_arg("chunk_sise", coco_v_int(100)) };
	FAILS(coco_graph_transform(g, ds, SPLIT, split_spec, NULL, NULL, NULL, u, 2, "w:7", &out, ERR),
		"w:7: SplitRecursively: unknown argument 'chunk_sise'; "
		"arguments: text, chunk_size, min_chunk_size, chunk_overlap, language");
	coco_arg twice[3] = { ref_arg(NULL, content), const_arg("chunk_size", coco_v_int(1)),
		const_arg("chunk_size", coco_v_int(2)) };
	FAILS(coco_graph_transform(g, ds, SPLIT, split_spec, NULL, NULL, NULL, twice, 3, "w:7", &out, ERR),
		"w:7: SplitRecursively: argument 'chunk_size' given twice");
	coco_arg zero[2] = { ref_arg(NULL, content), const_arg(NULL, coco_v_int(0)) };
	FAILS(coco_graph_transform(g, ds, SPLIT, split_spec, NULL, NULL, NULL, zero, 2, "w:8", &out, ERR),
		"w:8: SplitRecursively: chunk_size must be > 0, got 0");
	coco_arg many[6];
	for (int i = 0; i < 6; i++)
		many[i] = const_arg(NULL, coco_v_int(1));
	many[0] = ref_arg(NULL, content);
	FAILS(coco_graph_transform(g, ds, SPLIT, split_spec, NULL, NULL, NULL, many, 6, "w:8", &out, ERR),
		"w:8: SplitRecursively takes at most 5 arguments, got 6");

	/* a table where a str is wanted names the field and its type */
	coco_fieldref chunks;
	OK(coco_graph_transform(g, ds, SPLIT, split_spec, NULL, NULL, NULL, a, 2, "w:9", &chunks, ERR));
	OK(coco_graph_name_field(g, ds, &chunks, "chunks", "w:9", ERR));
	coco_arg tb[2] = { ref_arg(NULL, chunks), const_arg(NULL, coco_v_int(100)) };
	{
		char *e_ = NULL;
		int rc = coco_graph_transform(g, ds, SPLIT, split_spec, NULL, NULL, NULL, tb, 2, "w:9", &out, ERR);
		CHECK(rc == -1);
		CHECK(e_ && !strncmp(e_, "w:9: SplitRecursively: argument 'text' must be str, but 'chunks' is table[",
			strlen("w:9: SplitRecursively: argument 'text' must be str, but 'chunks' is table[")));
		free(e_);
	}

	/* collectors */
	int col, cs;
	OK(coco_graph_add_collector(g, "w:10", &col, ERR));
	OK(coco_graph_foreach(g, ds, &chunks, "w:11", &cs, ERR));
	coco_fieldref fn, loc, text;
	OK(coco_graph_field(g, ds, "filename", "w", &fn, ERR));
	OK(coco_graph_field(g, cs, "location", "w", &loc, ERR));
	OK(coco_graph_field(g, cs, "text", "w", &text, ERR));
	const char *names[3] = { "filename", "location", "text" };
	coco_arg vals[3] = { ref_arg(NULL, fn), ref_arg(NULL, loc), ref_arg(NULL, text) };
	FAILS(coco_graph_collect(g, 0, col, names, vals, 3, "w:12", ERR),
		"w:12: collect() runs inside a row function");
	const char *dn[2] = { "text", "text" };
	FAILS(coco_graph_collect(g, cs, col, dn, vals, 2, "w:12", ERR),
		"w:12: field 'text' collected twice");
	/* the export refuses an empty collector */
	static const char *const pk[] = { "filename", "location" };
	FAILS(coco_graph_export(g, col, "doc_chunks", SQL, sql_opts, pk, 2, "w:13", ERR),
		"w:13: export 'doc_chunks': nothing is collected into this collector "
		"(call collector:collect{...} inside a row function first)");
	OK(coco_graph_collect(g, cs, col, names, vals, 3, "w:12", ERR));
	const char *n2[2] = { "filename", "text" };
	coco_arg v2[2] = { ref_arg(NULL, fn), ref_arg(NULL, text) };
	FAILS(coco_graph_collect(g, cs, col, n2, v2, 2, "w:14", ERR),
		"w:14: collect: this collector was given fields {filename, location, text} before (w:12), "
		"now {filename, text}");
	coco_arg v3[3] = { ref_arg(NULL, fn), ref_arg(NULL, loc), ref_arg(NULL, loc) };
	FAILS(coco_graph_collect(g, cs, col, names, v3, 3, "w:15", ERR),
		"w:15: collect: field 'text' was str before, now range");
	/* same fields in another order are fine */
	const char *rn[3] = { "text", "filename", "location" };
	coco_arg rv[3] = { ref_arg(NULL, text), ref_arg(NULL, fn), ref_arg(NULL, loc) };
	OK(coco_graph_collect(g, cs, col, rn, rv, 3, "w:16", ERR));

	FAILS(coco_graph_export(g, col, "doc_chunks", SQL, sql_opts, NULL, 0, "w:17", ERR),
		"w:17: export 'doc_chunks': primary_key_fields is required "
		"(e.g. { primary_key_fields = { \"filename\" } })");
	static const char *const badpk[] = { "filename", "nope" };
	FAILS(coco_graph_export(g, col, "doc_chunks", SQL, sql_opts, badpk, 2, "w:18", ERR),
		"w:18: export 'doc_chunks': primary key field 'nope' is not collected; "
		"fields: filename, location, text");
	static const char *const twicepk[] = { "filename", "filename" };
	FAILS(coco_graph_export(g, col, "doc_chunks", SQL, sql_opts, twicepk, 2, "w:18", ERR),
		"w:18: export 'doc_chunks': primary key field 'filename' listed twice");
	OK(coco_graph_export(g, col, "doc_chunks", SQL, sql_opts, pk, 2, "w:19", ERR));
	FAILS(coco_graph_export(g, col, "doc_chunks", SQL, sql_opts, pk, 2, "w:20", ERR),
		"w:20: export 'doc_chunks' already exists (w:19)");

	/* an unnamed second source */
	coco_fieldref docs2;
	OK(coco_graph_add_source(g, LF, lf_opts, NULL, "w:21", &docs2, ERR));
	FAILS(coco_graph_finish(g, ERR),
		"w:21: source is not assigned to a field (write scope.name = flow:add_source(...))");
	FAILS(coco_graph_name_field(g, 0, &docs2, "documents", "w:22", ERR),
		"w:22: field 'documents' already exists in this flow");
	OK(coco_graph_name_field(g, 0, &docs2, "more", "w:22", ERR));
	OK(coco_graph_finish(g, ERR));
	CHECK(coco_graph_nsources(g) == 2);
	CHECK_STR(coco_graph_source(g, 1)->name, "more");
	CHECK(coco_graph_source(g, 1)->scope == -1);
	FAILS(coco_graph_add_collector(g, "w:23", &col, ERR),
		"w:23: flow 'DocsIndex' is already built; it cannot be changed");
	coco_graph_destroy(g);

	/* finish without an export, without a source */
	g = start(&ds, &docs, &content);
	FAILS(coco_graph_finish(g, ERR), "flow 'DocsIndex' has no export (collector:export)");
	coco_graph_destroy(g);
	g = coco_graph_create("Empty", NULL);
	FAILS(coco_graph_finish(g, ERR), "flow 'Empty' has no source (flow:add_source)");
	CHECK_STR(coco_graph_base_dir(g), ".");
	coco_graph_destroy(g);

	/* a source option error carries where */
	coco_optval bad[16];
	memset(bad, 0, sizeof bad);
	set_str(LF->opts, bad, "path", "docs");
	int ip = coco_opt_index(LF->opts, "included_patterns");
	static const char *pats[] = { "[a-" };
	bad[ip].set = 1;
	bad[ip].list = pats;
	bad[ip].nlist = 1;
	g = coco_graph_create("X", NULL);
	{
		char *e_ = NULL;
		CHECK(coco_graph_add_source(g, LF, bad, NULL, "w:30", &docs, ERR) == -1);
		CHECK(e_ && !strncmp(e_, "w:30: LocalFile: ", 17));
		free(e_);
	}
	coco_graph_destroy(g);
}

static coco_fp source_fp(const dcfg *c)
{
	coco_graph *g = build(c);
	coco_fp fp = {0, 0};
	if (g) {
		fp = coco_graph_source(g, 0)->logic;
		coco_graph_destroy(g);
	}
	return fp;
}

static void test_fingerprints(void)
{
	dcfg base = { .chunk_size = 200 };
	coco_fp a = source_fp(&base), b = source_fp(&base);
	CHECK(a.lo || a.hi);
	CHECK(coco_fp_eq(a, b));

	dcfg cs = base;
	cs.chunk_size = 300;
	CHECK(!coco_fp_eq(a, source_fp(&cs)));

	/* an uncollected transform does not count, whatever it is called */
	dcfg ex1 = base, ex2 = base;
	ex1.extra = 1;
	ex1.extra_name = "extra";
	ex1.extra_size = 50;
	ex2.extra = 1;
	ex2.extra_name = "renamed";
	ex2.extra_size = 70;
	CHECK(coco_fp_eq(a, source_fp(&ex1)));
	CHECK(coco_fp_eq(a, source_fp(&ex2)));

	/* renaming the collected transform's field changes nothing either */
	dcfg rn = base;
	rn.chunks_name = "pieces";
	CHECK(coco_fp_eq(a, source_fp(&rn)));

	/* collect order does not matter */
	dcfg rev = base;
	rev.reverse = 1;
	CHECK(coco_fp_eq(a, source_fp(&rev)));

	/* the export's shape does */
	dcfg pk = base;
	pk.pk[0] = "location";
	pk.pk[1] = "filename";
	pk.npk = 2;
	CHECK(!coco_fp_eq(a, source_fp(&pk)));
	dcfg dt = base;
	dt.drop_text = 1;
	CHECK(!coco_fp_eq(a, source_fp(&dt)));
	dcfg id = base;
	id.uuid = 1;
	CHECK(!coco_fp_eq(a, source_fp(&id)));

	/* so do the source options and the target options */
	set_str(LF->opts, lf_opts, "path", "other");
	CHECK(!coco_fp_eq(a, source_fp(&base)));
	set_str(LF->opts, lf_opts, "path", "docs");
	CHECK(coco_fp_eq(a, source_fp(&base)));
	set_str(SQL->opts, sql_opts, "path", "other.sqlite");
	CHECK(!coco_fp_eq(a, source_fp(&base)));
	set_str(SQL->opts, sql_opts, "path", "index.sqlite");

	/* the export logic fingerprint is its shape only (target, options,
	 * columns, key): a change upstream (chunk_size) enters the sources'
	 * fingerprints, not the export's, so another source feeding the same
	 * collector is not re-processed */
	coco_graph *g1 = build(&base), *g2 = build(&ex2), *g3 = build(&cs);
	if (g1 && g2 && g3) {
		CHECK(coco_fp_eq(coco_graph_export_at(g1, 0)->logic, coco_graph_export_at(g2, 0)->logic));
		CHECK(coco_fp_eq(coco_graph_export_at(g1, 0)->logic, coco_graph_export_at(g3, 0)->logic));
		CHECK(!coco_fp_eq(coco_graph_source(g1, 0)->logic, coco_graph_source(g3, 0)->logic));
	} else {
		CHECK(0);
	}
	coco_graph_destroy(g1);
	coco_graph_destroy(g2);
	coco_graph_destroy(g3);
}

static void test_export_type(void)
{
	dcfg base = { .chunk_size = 200 };
	coco_graph *g = build(&base);
	if (!g) {
		CHECK(0);
		return;
	}
	const coco_gexport *x = coco_graph_export_at(g, 0);
	CHECK(coco_graph_nexports(g) == 1);
	CHECK_STR(x->name, "doc_chunks");
	CHECK(x->info.nkeys == 2);
	CHECK_STR(x->info.flow_name, "DocsIndex");
	CHECK_STR(x->info.export_name, "doc_chunks");
	CHECK_STR(x->info.base_dir, "/tmp");
	char *t = fmt_type(x->info.row_type);
	CHECK_STR(t, "struct{filename: str, location: range, text: str}");
	free(t);
	coco_graph_destroy(g);

	/* pk first in pk order, then the rest by name, whatever the collect order */
	dcfg o = base;
	o.pk[0] = "location";
	o.pk[1] = "filename";
	o.npk = 2;
	o.uuid = 1;
	o.reverse = 1;
	g = build(&o);
	if (!g) {
		CHECK(0);
		return;
	}
	x = coco_graph_export_at(g, 0);
	t = fmt_type(x->info.row_type);
	CHECK_STR(t, "struct{location: range, filename: str, id: str, text: str}");
	free(t);
	/* collector fields are sorted: filename, id, location, text */
	CHECK(x->perm[0] == 2 && x->perm[1] == 0 && x->perm[2] == 1 && x->perm[3] == 3);
	coco_graph_destroy(g);

	o.pk[0] = "text";
	o.npk = 1;
	g = build(&o);
	if (g) {
		t = fmt_type(coco_graph_export_at(g, 0)->info.row_type);
		CHECK_STR(t, "struct{text: str, filename: str, id: str, location: range}");
		free(t);
		coco_graph_destroy(g);
	} else {
		CHECK(0);
	}
}

static void test_describe(void)
{
	dcfg base = { .chunk_size = 200, .cache = 1 };
	coco_graph *g = build(&base);
	if (!g) {
		CHECK(0);
		return;
	}
	coco_buf d = {0};
	coco_graph_describe(g, 0, &d);
	const char *want[] = {
		"Flow DocsIndex\n",
		"Source documents: LocalFile{ path = \"docs\" }\n",
		"  rows: table[filename: str]{content: str}\n",
		"  documents:row\n",
		"    filename: str\n",
		"    content: str\n",
		"    chunks = SplitRecursively(text = content, chunk_size = 200): table[location: range]",
		"[cached]\n",
		"    chunks:row\n",
		"      location: range\n",
		"      collect #1 { filename = filename, location = location, text = text }\n",
		"Export doc_chunks (collector #1) -> SQLite{ path = \"index.sqlite\" }\n",
		"  key: filename location\n",
		"  filename: str\n  location: range\n  text: str\n",
	};
	for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
		int found = strstr(d.p, want[i]) != NULL;
		CHECK(found);
		if (!found)
			fprintf(stderr, "  missing %s\n", want[i]);
	}
	CHECK(!strstr(d.p, "logic fingerprint"));
	CHECK(!strstr(d.p, "-- w:6"));
	coco_buf_clear(&d);
	coco_graph_describe(g, 1, &d);
	CHECK(strstr(d.p, "  logic fingerprint: ") != NULL);
	CHECK(strstr(d.p, "[cached]  -- w:6\n") != NULL);
	char hex[33];
	coco_fp_hex(coco_graph_source(g, 0)->logic, hex);
	CHECK(strstr(d.p, hex) != NULL);
	coco_buf_free(&d);
	coco_graph_destroy(g);
}

/* ---- exec --------------------------------------------------------------- */
/* A tiny in-memory memo cache. */
typedef struct mentry {
	unsigned char key[32];
	coco_buf val;
} mentry;
static mentry memo_v[64];
static size_t memo_n;
static int memo_gets, memo_puts;

static int mget(void *ud, const unsigned char key[32], coco_arena *a, coco_value *out)
{
	memo_gets++;
	for (size_t i = 0; i < memo_n; i++)
		if (!memcmp(memo_v[i].key, key, 32)) {
			const char *p = memo_v[i].val.p;
			return coco_value_decode(&p, p + memo_v[i].val.n, a, out) == 0;
		}
	return 0;
}

static void mput(void *ud, const unsigned char key[32], const coco_value *v)
{
	memo_puts++;
	if (memo_n == 64)
		return;
	memcpy(memo_v[memo_n].key, key, 32);
	memset(&memo_v[memo_n].val, 0, sizeof memo_v[memo_n].val);
	coco_value_encode(v, &memo_v[memo_n].val);
	memo_n++;
}

static const char doc_text[] =
	"# Title\n\nThe first paragraph talks about coco, an incremental indexing engine. "
	"It keeps targets in sync with sources.\n\n"
	"## Second\n\nAnother paragraph, with enough words to need more than one chunk when "
	"the chunk size is small. And a few more words here.\n";

/* Runs the flow on one document row; returns the number of export rows. */
static size_t run_row(const coco_graph *g, const char *fname, coco_arena *a, const coco_memo *memo,
	coco_rows *out, coco_exec_stats *st)
{
	coco_value row = {0};
	row.kind = COCO_STRUCT;
	row.n = 2;
	row.u.fields = coco_arena_alloc(a, 2 * sizeof(coco_value));
	row.u.fields[0] = coco_v_str(fname, strlen(fname));
	row.u.fields[1] = coco_v_str(doc_text, strlen(doc_text));
	char *e = NULL;
	if (coco_exec_row(g, 0, &row, a, memo, out, st, &e)) {
		fprintf(stderr, "exec failed: %s\n", e);
		free(e);
		CHECK(0);
		return 0;
	}
	return out[0].n;
}

static void test_exec(void)
{
	dcfg c = { .chunk_size = 60, .cache = 1, .uuid = 1 };
	coco_graph *g = build(&c);
	if (!g) {
		CHECK(0);
		return;
	}
	/* what SplitRecursively gives on its own */
	coco_arena a = {0};
	coco_value args[5] = { coco_v_str(doc_text, strlen(doc_text)), coco_v_int(60) };
	coco_value chunks;
	char *e = NULL;
	CHECK(SPLIT->call(NULL, args, 5, &a, &chunks, &e) == 0);
	free(e);
	CHECK(chunks.kind == COCO_TABLE && chunks.n > 2);

	coco_memo memo = { mget, mput, NULL };
	coco_rows out[1];
	coco_exec_stats st = {0};
	size_t n = run_row(g, "a.md", &a, &memo, out, &st);
	CHECK(n == chunks.n);
	CHECK(st.calls == 1 && st.cache_hits == 0);
	CHECK(memo_puts == 1);
	char *ids[64] = {0};
	for (size_t i = 0; i < n && i < 64; i++) {
		const coco_value *r = &out[0].rows[i];
		const coco_value *ch = &chunks.u.rows[i];
		/* filename, location, id, text */
		CHECK(r->kind == COCO_STRUCT && r->n == 4);
		CHECK(r->u.fields[0].kind == COCO_STR && r->u.fields[0].n == 4 &&
			!memcmp(r->u.fields[0].u.s, "a.md", 4));
		CHECK(coco_value_equal(&r->u.fields[1], &ch->u.fields[0]));
		CHECK(r->u.fields[2].kind == COCO_STR && r->u.fields[2].n == 36);
		CHECK(coco_value_equal(&r->u.fields[3], &ch->u.fields[1]));
		ids[i] = strndup(r->u.fields[2].u.s, r->u.fields[2].n);
	}
	/* uuids differ per chunk */
	for (size_t i = 1; i < n && i < 64; i++)
		CHECK(strcmp(ids[i], ids[i - 1]) != 0);

	/* again: the cached result, and the same uuids */
	coco_exec_stats st2 = {0};
	n = run_row(g, "a.md", &a, &memo, out, &st2);
	CHECK(n == chunks.n);
	CHECK(st2.calls == 0 && st2.cache_hits == 1);
	for (size_t i = 0; i < n && i < 64; i++)
		CHECK(out[0].rows[i].u.fields[2].n == 36 &&
			!memcmp(out[0].rows[i].u.fields[2].u.s, ids[i], 36));

	/* another file with the same content: cache hit, other uuids */
	coco_exec_stats st3 = {0};
	n = run_row(g, "b.md", &a, &memo, out, &st3);
	CHECK(st3.cache_hits == 1 && st3.calls == 0);
	CHECK(n > 0 && memcmp(out[0].rows[0].u.fields[2].u.s, ids[0], 36) != 0);
	coco_graph_destroy(g);

	/* a rebuilt flow with the output renamed still hits the cache */
	dcfg c2 = c;
	c2.chunks_name = "pieces";
	g = build(&c2);
	coco_exec_stats st4 = {0};
	if (g) {
		run_row(g, "a.md", &a, &memo, out, &st4);
		CHECK(st4.cache_hits == 1 && st4.calls == 0);
		coco_graph_destroy(g);
	}
	/* another chunk_size is another input: a miss */
	c2.chunk_size = 61;
	g = build(&c2);
	coco_exec_stats st5 = {0};
	if (g) {
		run_row(g, "a.md", &a, &memo, out, &st5);
		CHECK(st5.cache_hits == 0 && st5.calls == 1);
		coco_graph_destroy(g);
	}
	/* without a memo: always called */
	coco_exec_stats st6 = {0};
	dcfg c3 = { .chunk_size = 60 };
	g = build(&c3);
	if (g) {
		int gets = memo_gets;
		run_row(g, "a.md", &a, &memo, out, &st6);
		CHECK(st6.calls == 1 && st6.cache_hits == 0);
		CHECK(memo_gets == gets);       /* not cached: memo not asked */
		CHECK(out[0].rows[0].n == 3);
		coco_graph_destroy(g);
	}

	/* a row error names the function and where */
	dcfg c4 = { .chunk_size = 60 };
	g = build(&c4);
	if (g) {
		coco_value row = {0};
		row.kind = COCO_STRUCT;
		row.n = 2;
		row.u.fields = coco_arena_alloc(&a, 2 * sizeof(coco_value));
		row.u.fields[0] = coco_v_str("x", 1);
		row.u.fields[1] = coco_v_int(5);     /* not a str: SplitRecursively refuses */
		e = NULL;
		CHECK(coco_exec_row(g, 0, &row, &a, NULL, out, NULL, &e) == -1);
		CHECK(e && !strncmp(e, "SplitRecursively (w:6): ", 24));
		free(e);
		/* a null content: the split gives null, nothing is collected */
		row.u.fields[1] = coco_v_null();
		e = NULL;
		CHECK(coco_exec_row(g, 0, &row, &a, NULL, out, NULL, &e) == 0 && out[0].n == 0);
		free(e);
		coco_graph_destroy(g);
	}
	for (size_t i = 0; i < 64; i++)
		free(ids[i]);
	for (size_t i = 0; i < memo_n; i++)
		coco_buf_free(&memo_v[i].val);
	coco_arena_destroy(&a);
}

int main(void)
{
	LF = coco_source_find("LocalFile");
	SPLIT = coco_function_find("SplitRecursively");
	SQL = coco_target_find("SQLite");
	CHECK(LF && SPLIT && SQL);
	if (!LF || !SPLIT || !SQL) {
		printf("%d passed, %d failed\n", passed, failed);
		return 1;
	}
	set_str(LF->opts, lf_opts, "path", "docs");
	set_str(SQL->opts, sql_opts, "path", "index.sqlite");

	test_types();
	test_errors();
	test_fingerprints();
	test_export_type();
	test_describe();
	test_exec();

	printf("%d passed, %d failed\n", passed, failed);
	return failed > 0;
}
