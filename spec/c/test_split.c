/* Unit test: SplitRecursively and DetectProgrammingLanguage, called
 * through their coco_function_ops (prepare, then call). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/buf.h"
#include "engine/value.h"
#include "engine/ops.h"

extern const coco_function_ops coco_fn_split_recursively;
extern const coco_function_ops coco_fn_detect_language;

#include "spec/c/check.h"

static coco_arena types, arena;

/* ---- calling SplitRecursively ----------------------------------------- */

typedef struct split_args {
	int64_t cs, min, ov;          /* min/ov < 0: absent */
	const char *lang;             /* NULL: absent */
	int konst;                    /* pass sizes as constants to prepare */
	int not_utf8;                 /* input may be invalid UTF-8 */
} split_args;

static void fill_args(const char *text, size_t len, const split_args *sa, coco_value *v)
{
	memset(v, 0, 5 * sizeof *v);
	v[0] = text ? coco_v_str(text, len) : coco_v_null();
	v[1] = coco_v_int(sa->cs);
	if (sa->min >= 0)
		v[2] = coco_v_int(sa->min);
	if (sa->ov >= 0)
		v[3] = coco_v_int(sa->ov);
	if (sa->lang)
		v[4] = coco_v_str(sa->lang, strlen(sa->lang));
}

/* prepare with the size arguments as constants; returns prepare's result. */
static int split_prepare(const split_args *sa, const coco_type **type, char **err)
{
	coco_value v[5];
	fill_args("", 0, sa, v);
	coco_arg_info ai[5];
	const coco_type *kinds[5] = { &coco_t_str, &coco_t_int64, &coco_t_int64, &coco_t_int64, &coco_t_str };
	for (int i = 0; i < 5; i++) {
		ai[i].type = kinds[i];
		ai[i].konst = (i >= 1 && i <= 3 && sa->konst) ? &v[i] : NULL;
	}
	coco_optval spec[1] = { { 0 } };
	void *state = NULL;
	int rc = coco_fn_split_recursively.prepare(spec, NULL, ai, 5, &types, type, &state, err);
	if (rc == 0)
		coco_fn_split_recursively.destroy(state);
	return rc;
}

/* prepare + call; returns call's result. */
static int split(const char *text, size_t len, const split_args *sa, coco_value *out, char **err)
{
	const coco_type *type = NULL;
	coco_optval spec[1] = { { 0 } };
	coco_arg_info ai[5] = { { 0 } };
	void *state = NULL;
	if (coco_fn_split_recursively.prepare(spec, NULL, ai, 5, &types, &type, &state, err) < 0)
		return -1;
	coco_value v[5];
	fill_args(text, len, sa, v);
	int rc = coco_fn_split_recursively.call(state, v, 5, &arena, out, err);
	coco_fn_split_recursively.destroy(state);
	return rc;
}

static int64_t row_int(const coco_value *row, int field, int sub)
{
	return row->u.fields[field].u.fields[sub].u.i;
}
static int64_t row_start(const coco_value *row) { return row->u.fields[0].u.r[0]; }
static int64_t row_end(const coco_value *row) { return row->u.fields[0].u.r[1]; }

static int is_ws(unsigned char c)
{
	return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static int all_ws(const char *t, int64_t a, int64_t b)
{
	for (int64_t i = a; i < b; i++)
		if (!is_ws((unsigned char)t[i]))
			return 0;
	return 1;
}

/* Naive line and column (1-based, column in code points) of offset x. */
static void naive_pos(const char *t, int64_t x, int64_t *line, int64_t *col)
{
	int64_t l = 1, c = 1;
	for (int64_t i = 0; i < x; i++) {
		if (t[i] == '\n') {
			l++;
			c = 1;
		} else if (((unsigned char)t[i] & 0xC0) != 0x80) {
			c++;
		}
	}
	*line = l;
	*col = c;
}

/* Every invariant of a split result. Returns the number of failures. */
static int check_invariants(const char *t, size_t len, const coco_value *out, const split_args *sa,
	const char *what)
{
	int bad = 0;
#define INV(c) do { if (!(c)) { if (!bad) printf("%s:%d: invariant %s failed (%s)\n", \
	__FILE__, __LINE__, #c, what); bad++; } } while (0)
	INV(out->kind == COCO_TABLE);
	if (out->kind != COCO_TABLE)
		return 1;
	int64_t ov = sa->ov < 0 ? 0 : sa->ov;
	int64_t prev_s = -1, prev_e = 0;
	for (size_t i = 0; i < out->n; i++) {
		const coco_value *row = &out->u.rows[i];
		INV(row->kind == COCO_STRUCT && row->n == 4);
		int64_t s = row_start(row), e = row_end(row);
		INV(0 <= s && s < e && e <= (int64_t)len);
		if (!(0 <= s && s < e && e <= (int64_t)len))
			break;
		const coco_value *tv = &row->u.fields[1];
		INV(tv->kind == COCO_STR && tv->u.s == t + s && tv->n == (size_t)(e - s));
		INV(e - s <= sa->cs);
		INV(!is_ws((unsigned char)t[s]) && !is_ws((unsigned char)t[e - 1]));
		if (!sa->not_utf8) {
			INV(((unsigned char)t[s] & 0xC0) != 0x80);
			INV(e == (int64_t)len || ((unsigned char)t[e] & 0xC0) != 0x80);
		}
		int64_t l, c;
		naive_pos(t, s, &l, &c);
		INV(row_int(row, 2, 0) == s && row_int(row, 2, 1) == l && row_int(row, 2, 2) == c);
		naive_pos(t, e, &l, &c);
		INV(row_int(row, 3, 0) == e && row_int(row, 3, 1) == l && row_int(row, 3, 2) == c);
		if (ov == 0) {
			INV(s >= prev_e && all_ws(t, prev_e, s));
		} else {
			INV(s > prev_s);
			INV(e > prev_e);
			INV(prev_e - s <= ov);
			if (s > prev_e)
				INV(all_ws(t, prev_e, s));
		}
		prev_s = s;
		prev_e = e;
	}
	INV(all_ws(t, prev_e, (int64_t)len));
#undef INV
	return bad;
}

/* Split and check invariants; the result stays in *out. */
static void split_check(const char *t, size_t len, const split_args *sa, coco_value *out,
	const char *what)
{
	char *err = NULL;
	int rc = split(t, len, sa, out, &err);
	CHECKF(rc == 0, "%s: %s", what, err ? err : "");
	free(err);
	if (rc == 0)
		CHECK(check_invariants(t, len, out, sa, what) == 0);
}

/* ---- text generators --------------------------------------------------- */

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

static const char *const words[] = { "the", "index", "keeps", "chunks", "in", "sync",
	"with", "sources", "λόγος", "漢字", "😀", "naïve", "data", "flow", "é", "a" };

static void add_sentence(coco_buf *b, int nwords)
{
	for (int i = 0; i < nwords; i++) {
		if (i)
			coco_buf_putc(b, ' ');
		coco_buf_adds(b, words[rnd(sizeof words / sizeof words[0])]);
	}
	coco_buf_adds(b, rnd(4) ? ". " : "! ");
}

/* Random text built of separators of every kind. */
static void gen_random(coco_buf *b, size_t target)
{
	while (b->n < target) {
		switch (rnd(14)) {
		case 0: coco_buf_adds(b, "\n\n"); break;
		case 1: coco_buf_adds(b, "\n"); break;
		case 2: coco_buf_adds(b, "\r\n"); break;
		case 3: coco_buf_printf(b, "\n%.*s Title\n", 1 + (int)rnd(6), "######"); break;
		case 4: coco_buf_adds(b, "\n```\n"); break;
		case 5: for (int n = 1 + (int)rnd(300); n > 0; n--) coco_buf_putc(b, 'x'); break;
		case 6: for (int n = 1 + (int)rnd(100); n > 0; n--) coco_buf_adds(b, "界"); break;
		case 7: coco_buf_adds(b, "   \t "); break;
		case 8: coco_buf_adds(b, "。"); break;
		default: add_sentence(b, 1 + (int)rnd(20)); break;
		}
	}
}

/* ---- tests -------------------------------------------------------------- */

static void test_type(void)
{
	split_args sa = { 1000, -1, -1, NULL, 1, 0 };
	const coco_type *t = NULL;
	char *err = NULL;
	CHECK(split_prepare(&sa, &t, &err) == 0);
	CHECK(t && t->kind == COCO_TABLE && t->nkeys == 1 && t->nfields == 4);
	if (!t || t->nfields != 4)
		return;
	CHECK(!strcmp(t->fields[0].name, "location") && t->fields[0].type->kind == COCO_RANGE);
	CHECK(!strcmp(t->fields[1].name, "text") && t->fields[1].type->kind == COCO_STR);
	CHECK(!strcmp(t->fields[2].name, "start") && !strcmp(t->fields[3].name, "end"));
	const coco_type *p = t->fields[2].type;
	CHECK(p->kind == COCO_STRUCT && p->nfields == 3);
	CHECK(p->nfields == 3 && !strcmp(p->fields[0].name, "offset") &&
		!strcmp(p->fields[1].name, "line") && !strcmp(p->fields[2].name, "column"));
	CHECK(coco_type_equal(t->fields[2].type, t->fields[3].type));
	CHECK(coco_fn_split_recursively.spec_opts &&
		!strcmp(coco_fn_split_recursively.spec_opts[0].name, "custom_languages") &&
		coco_fn_split_recursively.spec_opts[0].kind == COCO_OPT_JSON);
	CHECK(!strcmp(coco_fn_split_recursively.name, "SplitRecursively"));
}

static void expect_prepare_err(int64_t cs, int64_t min, int64_t ov, const char *msg)
{
	split_args sa = { cs, min, ov, NULL, 1, 0 };
	const coco_type *t = NULL;
	char *err = NULL;
	int rc = split_prepare(&sa, &t, &err);
	CHECKF(rc == -1 && err && !strcmp(err, msg), "got %d '%s', want '%s'", rc, err ? err : "", msg);
	free(err);
	/* The same values, not constant: call() reports them as a row error. */
	sa.konst = 0;
	coco_value out;
	err = NULL;
	rc = split("abc", 3, &sa, &out, &err);
	CHECKF(rc == -1 && err && !strcmp(err, msg), "call: got %d '%s', want '%s'", rc,
		err ? err : "", msg);
	free(err);
}

static void test_bad_args(void)
{
	expect_prepare_err(0, -1, -1, "SplitRecursively: chunk_size must be > 0, got 0");
	expect_prepare_err(-5, -1, -1, "SplitRecursively: chunk_size must be > 0, got -5");
	expect_prepare_err(100, 200, -1,
		"SplitRecursively: min_chunk_size must be <= chunk_size (100), got 200");
	expect_prepare_err(100, -1, 100,
		"SplitRecursively: chunk_overlap must be < chunk_size (100), got 100");
	/* Good constants pass. */
	split_args ok = { 100, 100, 99, NULL, 1, 0 };
	const coco_type *t;
	char *err = NULL;
	CHECK(split_prepare(&ok, &t, &err) == 0 && !err);
	ok.min = 0;
	ok.ov = 0;
	CHECK(split_prepare(&ok, &t, &err) == 0 && !err);
	/* Negative min/overlap given as constants. */
	coco_value v[5];
	split_args neg = { 100, 0, 0, NULL, 1, 0 };
	fill_args("", 0, &neg, v);
	v[2] = coco_v_int(-1);
	coco_arg_info ai[5] = { { 0 } };
	ai[2].konst = &v[2];
	void *state = NULL;
	CHECK(coco_fn_split_recursively.prepare(NULL, NULL, ai, 5, &types, &t, &state, &err) == -1 &&
		err && strstr(err, "min_chunk_size must be >= 0, got -1"));
	free(err);
	err = NULL;
	ai[2].konst = NULL;
	v[3] = coco_v_int(-3);
	ai[3].konst = &v[3];
	CHECK(coco_fn_split_recursively.prepare(NULL, NULL, ai, 5, &types, &t, &state, &err) == -1 &&
		err && strstr(err, "chunk_overlap must be >= 0, got -3"));
	free(err);
	/* A null chunk_size at run time. */
	err = NULL;
	fill_args("abc", 3, &neg, v);
	v[1] = coco_v_null();
	coco_value out;
	CHECK(coco_fn_split_recursively.call(NULL, v, 5, &arena, &out, &err) == -1 && err &&
		strstr(err, "chunk_size"));
	free(err);
}

static void test_empty(void)
{
	split_args sa = { 100, -1, -1, "markdown", 0, 0 };
	coco_value out;
	split_check("", 0, &sa, &out, "empty");
	CHECK(out.kind == COCO_TABLE && out.n == 0);
	const char *ws = "  \n\n\t \r\n   \n";
	split_check(ws, strlen(ws), &sa, &out, "whitespace");
	CHECK(out.kind == COCO_TABLE && out.n == 0);
	char *err = NULL;
	CHECK(split(NULL, 0, &sa, &out, &err) == 0 && out.kind == COCO_NULL);
	/* Short text: one trimmed chunk. */
	const char *t = "\n\n  Hello world.  \n";
	split_check(t, strlen(t), &sa, &out, "short");
	CHECK(out.n == 1 && out.n && row_start(&out.u.rows[0]) == 4 && row_end(&out.u.rows[0]) == 16);
	CHECK(out.n && row_int(&out.u.rows[0], 2, 1) == 3 && row_int(&out.u.rows[0], 2, 2) == 3);
	CHECK(out.n && row_int(&out.u.rows[0], 3, 1) == 3 && row_int(&out.u.rows[0], 3, 2) == 15);
}

/* Sections whose size lies in (min_chunk_size, chunk_size]: each chunk is
 * exactly one section, starting at its heading. */
static void test_markdown_headings(void)
{
	coco_buf b = { 0 };
	int nsec = 0;
	for (int k = 0; k < 60; k++) {
		size_t start = b.n;
		size_t size = 600 + rnd(340);   /* content stops in [size - 80, size + 30) */
		coco_buf_printf(&b, "%s Section %d\n\n", k % 5 ? "##" : "#", k);
		while (b.n - start < size - 80) {
			add_sentence(&b, 3 + (int)rnd(8));
			if (!rnd(3))
				coco_buf_adds(&b, "\n");
			if (!rnd(5))
				coco_buf_adds(&b, "\n");
		}
		coco_buf_adds(&b, "\n\n");
		nsec++;
	}
	split_args sa = { 1000, -1, -1, "markdown", 0, 0 };
	coco_value out;
	split_check(b.p, b.n, &sa, &out, "markdown sections");
	int at_heading = 0;
	for (size_t i = 0; i < out.n; i++)
		at_heading += b.p[row_start(&out.u.rows[i])] == '#';
	CHECKF(at_heading == (int)out.n && (int)out.n == nsec, "%d of %zu chunks at a heading, %d sections",
		at_heading, out.n, nsec);
	/* The same as plain text: chunks cut at the farthest blank line instead. */
	sa.lang = NULL;
	split_check(b.p, b.n, &sa, &out, "markdown sections as text");
	at_heading = 0;
	for (size_t i = 0; i < out.n; i++)
		at_heading += b.p[row_start(&out.u.rows[i])] == '#';
	CHECK(at_heading < (int)out.n);
	coco_buf_free(&b);
}

/* Language names: case-insensitive, with or without a dot. */
static void test_language_names(void)
{
	/* A heading at ~600 and a blank line at ~900: markdown cuts at the
	 * heading, plain text at the farther blank line. */
	coco_buf b = { 0 };
	for (int i = 0; i < 60; i++)
		coco_buf_adds(&b, "Lorem ips. ");
	coco_buf_adds(&b, "\n\n# Heading\n\n");
	size_t heading = b.n - 11;
	for (int i = 0; i < 25; i++)
		coco_buf_adds(&b, "Lorem ips. ");
	coco_buf_adds(&b, "\n\n");
	size_t blank = b.n;
	for (int i = 0; i < 60; i++)
		coco_buf_adds(&b, "Lorem ips. ");
	const char *md[] = { "markdown", "Markdown", "md", "MD", ".md", ".MD", ".markdown", "mdx" };
	for (size_t i = 0; i < sizeof md / sizeof md[0]; i++) {
		split_args sa = { 1000, -1, -1, md[i], 0, 0 };
		coco_value out;
		split_check(b.p, b.n, &sa, &out, md[i]);
		CHECKF(out.n >= 2 && row_end(&out.u.rows[0]) == (int64_t)heading - 3 &&
			row_start(&out.u.rows[1]) == (int64_t)heading, "language %s", md[i]);
	}
	const char *txt[] = { "text", "txt", "plain", ".txt", "", "nonsense" };
	for (size_t i = 0; i < sizeof txt / sizeof txt[0]; i++) {
		split_args sa = { 1000, -1, -1, txt[i], 0, 0 };
		coco_value out;
		split_check(b.p, b.n, &sa, &out, txt[i]);
		CHECKF(out.n >= 2 && row_end(&out.u.rows[0]) == (int64_t)blank - 3 &&
			row_start(&out.u.rows[1]) == (int64_t)blank, "language '%s'", txt[i]);
	}
	coco_buf_free(&b);
}

/* A "# comment" line inside a fenced code block is not a heading; the
 * chunk ends after a closing fence in preference to a blank line. */
static void test_code_fence(void)
{
	coco_buf b = { 0 };
	coco_buf_adds(&b, "Intro paragraph.\n\n```sh\n");
	while (b.n < 700)
		coco_buf_adds(&b, "echo hello world\n");
	size_t comment = b.n;
	coco_buf_adds(&b, "# not a heading\n");
	while (b.n < 1300)
		coco_buf_adds(&b, "echo hello world\n");
	coco_buf_adds(&b, "\n");   /* a blank line: weaker than the closing fence */
	while (b.n < 1500)
		coco_buf_adds(&b, "echo hello world\n");
	coco_buf_adds(&b, "```\n");
	size_t closed = b.n;
	coco_buf_adds(&b, "Some text after the code block.\n\n");
	while (b.n < 3000)
		coco_buf_adds(&b, "More text here. ");
	split_args sa = { 1000, -1, -1, "md", 0, 0 };
	coco_value out;
	split_check(b.p, b.n, &sa, &out, "fence");
	int cut_comment = 0, cut_closed = 0;
	for (size_t i = 0; i < out.n; i++) {
		cut_comment |= row_start(&out.u.rows[i]) == (int64_t)comment;
		cut_closed |= row_start(&out.u.rows[i]) == (int64_t)closed;
	}
	CHECK(!cut_comment);
	CHECK(cut_closed);
	coco_buf_free(&b);
}

/* One long paragraph: chunks end at sentence ends. */
static void test_long_paragraph(void)
{
	coco_buf b = { 0 };
	rng = 7;
	while (b.n < 20000)
		add_sentence(&b, 4 + (int)rnd(10));
	split_args sa = { 500, -1, -1, NULL, 0, 0 };
	coco_value out;
	split_check(b.p, b.n, &sa, &out, "long paragraph");
	int ok = 1;
	for (size_t i = 0; i + 1 < out.n; i++) {
		const coco_value *r = &out.u.rows[i];
		char last = b.p[row_end(r) - 1];
		if ((last != '.' && last != '!') || row_end(r) - row_start(r) < 250)
			ok = 0;
	}
	CHECK(out.n >= 40 && ok);
	coco_buf_free(&b);
}

/* A 5000-byte word is cut at character boundaries. */
static void test_huge_word(void)
{
	char *w = malloc(5001);
	memset(w, 'x', 5000);
	w[5000] = 0;
	split_args sa = { 1000, -1, -1, NULL, 0, 0 };
	coco_value out;
	split_check(w, 5000, &sa, &out, "ascii word");
	CHECK(out.n == 5);
	for (size_t i = 0; i < out.n; i++)
		CHECK(row_end(&out.u.rows[i]) - row_start(&out.u.rows[i]) == 1000);
	/* Multibyte: "é" (2 bytes) x 2500 with an odd chunk size. */
	for (int i = 0; i < 5000; i += 2)
		w[i] = (char)0xC3, w[i + 1] = (char)0xA9;
	sa.cs = 999;
	split_check(w, 5000, &sa, &out, "2-byte word");
	CHECK(out.n == 6 && row_end(&out.u.rows[0]) == 998);
	/* 4-byte emoji, with overlap. */
	for (int i = 0; i < 5000; i += 4)
		memcpy(w + i, "😀", 4);
	sa.cs = 1001;
	sa.ov = 201;
	split_check(w, 5000, &sa, &out, "emoji word overlap");
	CHECK(out.n >= 5);
	free(w);
}

static void test_multibyte(void)
{
	const char *t = "λόγος 漢字 😀 end\nΑλφα βήτα γάμμα. 中文句子。更多的文字！ 🎉🎉 fin";
	size_t len = strlen(t);
	for (int64_t cs = 4; cs <= 40; cs++) {
		for (int64_t ov = 0; ov < 3; ov++) {
			split_args sa = { cs, -1, ov * cs / 3, NULL, 0, 0 };
			coco_value out;
			char what[64];
			snprintf(what, sizeof what, "multibyte cs=%lld ov=%lld", (long long)cs,
				(long long)sa.ov);
			split_check(t, len, &sa, &out, what);
		}
	}
	/* Column counts code points: "漢字" starts at column 7, "end" at 12. */
	split_args sa = { 6, 0, -1, NULL, 0, 0 };
	coco_value out;
	split_check(t, len, &sa, &out, "columns");
	int seen = 0;
	for (size_t i = 0; i < out.n; i++) {
		const coco_value *r = &out.u.rows[i];
		const coco_value *tv = &r->u.fields[1];
		if (tv->n == 6 && !memcmp(tv->u.s, "漢字", 6)) {
			CHECK(row_int(r, 2, 1) == 1 && row_int(r, 2, 2) == 7 && row_int(r, 3, 2) == 9);
			seen |= 1;
		}
		if (tv->n == 3 && !memcmp(tv->u.s, "end", 3)) {
			CHECK(row_int(r, 2, 1) == 1 && row_int(r, 2, 2) == 12);
			seen |= 2;
		}
	}
	CHECK(seen == 3);
	/* CJK sentence ends are sentence boundaries. */
	const char *cjk = "中文句子。更多的文字！还有一些";
	split_args sc = { 27, 0, -1, NULL, 0, 0 };
	split_check(cjk, strlen(cjk), &sc, &out, "cjk");
	CHECK(out.n >= 2 && out.n && row_end(&out.u.rows[0]) == 15);
	/* chunk_size smaller than a character: the character is kept whole. */
	split_args tiny = { 2, 0, -1, NULL, 0, 0 };
	char *err = NULL;
	CHECK(split("😀😀", 8, &tiny, &out, &err) == 0 && out.n == 2);
	CHECK(out.n == 2 && row_start(&out.u.rows[1]) == 4 && row_end(&out.u.rows[1]) == 8);
}

static void test_crlf(void)
{
	coco_buf b = { 0 };
	for (int i = 0; i < 200; i++) {
		coco_buf_printf(&b, "Line %d of the paragraph.\r\n", i);
		if (i % 7 == 6)
			coco_buf_adds(&b, "\r\n");
	}
	split_args sa = { 300, -1, -1, NULL, 0, 0 };
	coco_value out;
	split_check(b.p, b.n, &sa, &out, "crlf");
	int ok = 1;
	for (size_t i = 0; i < out.n; i++) {
		const coco_value *r = &out.u.rows[i];
		int64_t s = row_start(r), e = row_end(r);
		if (memcmp(b.p + s, "Line ", 5) || b.p[e - 1] != '.' || row_int(r, 2, 2) != 1)
			ok = 0;
		/* starts after a blank line when one is in reach */
		if (i && !(s >= 4 && !memcmp(b.p + s - 4, "\r\n\r\n", 4)))
			ok = 0;
	}
	CHECK(out.n > 10 && ok);
	coco_buf_free(&b);
}

static void test_random(void)
{
	rng = 12345;
	coco_buf b = { 0 };
	for (int iter = 0; iter < 400; iter++) {
		coco_buf_clear(&b);
		gen_random(&b, 1 + rnd(iter < 300 ? 4000 : 40000));
		split_args sa;
		sa.cs = 4 + rnd(iter % 3 ? 300 : 3000);
		sa.min = rnd(4) ? (int64_t)rnd((uint32_t)sa.cs + 1) : -1;
		sa.ov = rnd(2) ? (int64_t)rnd((uint32_t)sa.cs) : (rnd(2) ? 0 : -1);
		sa.lang = rnd(2) ? "markdown" : NULL;
		sa.konst = 0;
		sa.not_utf8 = 0;
		char what[128];
		snprintf(what, sizeof what, "random iter=%d len=%zu cs=%lld min=%lld ov=%lld %s", iter,
			b.n, (long long)sa.cs, (long long)sa.min, (long long)sa.ov,
			sa.lang ? sa.lang : "text");
		coco_value out;
		split_check(b.p, b.n, &sa, &out, what);
		coco_arena_reset(&arena);
	}
	/* Random bytes (mostly invalid UTF-8): chunks still never exceed
	 * chunk_size and tile the input. */
	for (int iter = 0; iter < 100; iter++) {
		coco_buf_clear(&b);
		for (size_t n = 1 + rnd(5000); n > 0; n--)
			coco_buf_putc(&b, (char)(iter % 2 ? 0x80 + rnd(64) : rnd(256)));
		split_args sa = { 4 + rnd(200), -1, rnd(2) ? 0 : -1, rnd(2) ? "md" : NULL, 0, 1 };
		if (rnd(2))
			sa.ov = rnd((uint32_t)sa.cs);
		char what[64];
		snprintf(what, sizeof what, "random bytes iter=%d", iter);
		coco_value out;
		split_check(b.p, b.n, &sa, &out, what);
		coco_arena_reset(&arena);
	}
	coco_buf_free(&b);
}

/* ---- DetectProgrammingLanguage ---------------------------------------- */

static void expect_lang(const char *file, const char *lang)
{
	const coco_type *t = NULL;
	void *state = NULL;
	char *err = NULL;
	coco_arg_info ai[1] = { { &coco_t_str, NULL } };
	CHECK(coco_fn_detect_language.prepare(NULL, NULL, ai, 1, &types, &t, &state, &err) == 0);
	CHECK(t && t->kind == COCO_STR);
	coco_value arg = file ? coco_v_str(file, strlen(file)) : coco_v_null(), out;
	CHECK(coco_fn_detect_language.call(state, &arg, 1, &arena, &out, &err) == 0);
	if (lang)
		CHECKF(out.kind == COCO_STR && out.n == strlen(lang) && !memcmp(out.u.s, lang, out.n),
			"%s -> %.*s, want %s", file, out.kind == COCO_STR ? (int)out.n : 4,
			out.kind == COCO_STR ? out.u.s : "null", lang);
	else
		CHECKF(out.kind == COCO_NULL, "%s -> %.*s, want null", file ? file : "(null)",
			(int)out.n, out.u.s);
}

static void test_detect(void)
{
	CHECK(!strcmp(coco_fn_detect_language.name, "DetectProgrammingLanguage"));
	expect_lang("main.rs", "rust");
	expect_lang("src/lib/util.H", "c");
	expect_lang("a.c", "c");
	expect_lang("a.hpp", "cpp");
	expect_lang("a.cc", "cpp");
	expect_lang("a.cxx", "cpp");
	expect_lang("a.cpp", "cpp");
	expect_lang("app.js", "javascript");
	expect_lang("app.mjs", "javascript");
	expect_lang("app.cjs", "javascript");
	expect_lang("README.md", "markdown");
	expect_lang("docs/page.MDX", "markdown");
	expect_lang("x.py", "python");
	expect_lang("x.pyi", "python");
	expect_lang("ci.yml", "yaml");
	expect_lang("ci.yaml", "yaml");
	expect_lang("notes.txt", "text");
	expect_lang("a.cs", "csharp");
	expect_lang("a.go", "go");
	expect_lang("a.kt", "kotlin");
	expect_lang("a.ts", "typescript");
	expect_lang("a.tsx", "tsx");
	expect_lang("a.sol", "solidity");
	expect_lang("Cargo.toml", "toml");
	expect_lang("a.f90", "fortran");
	expect_lang("a.pas", "pascal");
	expect_lang("a.R", "r");
	expect_lang("a.rb", "ruby");
	expect_lang("a.scala", "scala");
	expect_lang("a.sql", "sql");
	expect_lang("a.swift", "swift");
	expect_lang("a.json", "json");
	expect_lang("a.xml", "xml");
	expect_lang("a.dtd", "dtd");
	expect_lang("a.html", "html");
	expect_lang("a.css", "css");
	expect_lang("a.php", "php");
	expect_lang("a.java", "java");
	expect_lang("Makefile", NULL);
	expect_lang("archive.tar.gz", NULL);
	expect_lang("x.unknown", NULL);
	expect_lang("dir.rs/noext", NULL);
	expect_lang("trailingdot.", NULL);
	expect_lang("", NULL);
	expect_lang(NULL, NULL);
}

int main(void)
{
	test_type();
	test_bad_args();
	test_empty();
	test_markdown_headings();
	test_language_names();
	test_code_fence();
	test_long_paragraph();
	test_huge_word();
	test_multibyte();
	test_crlf();
	test_random();
	test_detect();
	coco_arena_destroy(&arena);
	coco_arena_destroy(&types);
	printf("%d passed, %d failed\n", passed, failed);
	return failed > 0;
}
