/* Unit test: SplitRecursively for code (built-in languages) and for
 * custom_languages (separator regexes), called through the vtable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/buf.h"
#include "engine/value.h"
#include "engine/ops.h"

extern const coco_function_ops coco_fn_split_recursively;

#include "spec/c/check.h"

static coco_arena types, arena;

/* ---- calling ------------------------------------------------------------- */

typedef struct sargs {
	int64_t cs, min, ov;          /* min/ov < 0: absent */
	const char *lang;
} sargs;

/* prepare with custom_languages (JSON text or NULL); returns the state. */
static int prepare(const char *custom, void **state, char **err)
{
	coco_optval spec[2] = { { 0 } };
	if (custom) {
		spec[0].set = 1;
		spec[0].s = custom;
	}
	coco_arg_info ai[5] = { { &coco_t_str, NULL }, { &coco_t_int64, NULL }, { 0 }, { 0 },
		{ &coco_t_str, NULL } };
	const coco_type *t;
	return coco_fn_split_recursively.prepare(spec, NULL, ai, 5, &types, &t, state, err);
}

static int call(void *state, const char *t, size_t n, const sargs *sa, coco_value *out, char **err)
{
	coco_value v[5] = { coco_v_str(t, n), coco_v_int(sa->cs), coco_v_null(), coco_v_null(),
		sa->lang ? coco_v_str(sa->lang, strlen(sa->lang)) : coco_v_null() };
	if (sa->min >= 0)
		v[2] = coco_v_int(sa->min);
	if (sa->ov >= 0)
		v[3] = coco_v_int(sa->ov);
	return coco_fn_split_recursively.call(state, v, 5, &arena, out, err);
}

static int64_t rs(const coco_value *o, size_t i) { return o->u.rows[i].u.fields[0].u.r[0]; }
static int64_t re_(const coco_value *o, size_t i) { return o->u.rows[i].u.fields[0].u.r[1]; }
static int64_t rpos(const coco_value *o, size_t i, int f, int k)
{
	return o->u.rows[i].u.fields[f].u.fields[k].u.i;
}

static int is_ws(unsigned char c)
{
	return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* At a line start, maybe after indentation. */
static int line_start(const char *t, int64_t s)
{
	while (s > 0 && (t[s - 1] == ' ' || t[s - 1] == '\t'))
		s--;
	return s == 0 || t[s - 1] == '\n';
}

static void naive_pos(const char *t, int64_t x, int64_t *line, int64_t *col)
{
	int64_t l = 1, c = 1;
	for (int64_t i = 0; i < x; i++) {
		if (t[i] == '\n')
			l++, c = 1;
		else if (((unsigned char)t[i] & 0xC0) != 0x80)
			c++;
	}
	*line = l;
	*col = c;
}

/* Every invariant of a code split. Returns the number of failures (the
 * first is printed). */
static int check_inv(const char *t, size_t len, const coco_value *o, const sargs *sa, const char *what)
{
	int bad = 0;
#define INV(c) do { if (!(c)) { if (!bad) printf("%s:%d: invariant %s failed (%s)\n", \
	__FILE__, __LINE__, #c, what); bad++; } } while (0)
	INV(o->kind == COCO_TABLE);
	if (o->kind != COCO_TABLE)
		return bad;
	int64_t ov = sa->ov < 0 ? 0 : sa->ov, ps = -1, pe = 0;
	for (size_t i = 0; i < o->n; i++) {
		int64_t s = rs(o, i), e = re_(o, i);
		INV(0 <= s && s < e && e <= (int64_t)len);
		if (!(0 <= s && s < e && e <= (int64_t)len))
			break;
		const coco_value *tv = &o->u.rows[i].u.fields[1];
		INV(tv->kind == COCO_STR && tv->u.s == t + s && tv->n == (size_t)(e - s));
		INV(e - s <= sa->cs);
		INV(!is_ws((unsigned char)t[e - 1]));
		INV(!is_ws((unsigned char)t[s]) || line_start(t, s));
		INV(((unsigned char)t[s] & 0xC0) != 0x80);
		INV(e == (int64_t)len || ((unsigned char)t[e] & 0xC0) != 0x80);
		int64_t l, c;
		naive_pos(t, s, &l, &c);
		INV(rpos(o, i, 2, 0) == s && rpos(o, i, 2, 1) == l && rpos(o, i, 2, 2) == c);
		naive_pos(t, e, &l, &c);
		INV(rpos(o, i, 3, 0) == e && rpos(o, i, 3, 1) == l && rpos(o, i, 3, 2) == c);
		if (ov == 0) {
			INV(s >= pe);
			for (int64_t k = pe; k < s; k++)
				INV(is_ws((unsigned char)t[k]));
		} else {
			INV(s > ps && e > pe && pe - s <= ov);
		}
		ps = s;
		pe = e;
	}
	for (int64_t k = pe; k < (int64_t)len; k++)
		INV(is_ws((unsigned char)t[k]));
#undef INV
	return bad;
}

static void split_check(void *st, const char *t, size_t n, const sargs *sa, coco_value *out,
	const char *what)
{
	char *err = NULL;
	int rc = call(st, t, n, sa, out, &err);
	CHECKF(rc == 0, "%s: %s", what, err ? err : "");
	free(err);
	if (rc == 0)
		CHECK(check_inv(t, n, out, sa, what) == 0);
	else
		out->kind = COCO_NULL, out->n = 0;
}

/* Is [a, b) inside one chunk? */
static int whole(const coco_value *o, int64_t a, int64_t b)
{
	for (size_t i = 0; i < o->n; i++)
		if (rs(o, i) <= a && re_(o, i) >= b)
			return 1;
	return 0;
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

static const char *const words[] = { "count", "value", "index", "buf", "len", "node",
	"next", "result", "ctx", "err", "name", "λόγος", "data" };
#define NW (sizeof words / sizeof words[0])

/* ---- Python ---------------------------------------------------------------- */

typedef struct defspan {
	size_t a, b;
} defspan;

/* A module of top-level functions and classes of varied sizes, with
 * comments, decorators, docstrings holding blank lines and column-0 text,
 * and module-level statements. Records each definition's span. */
static void gen_python(coco_buf *b, defspan *defs, int *ndefs, int n)
{
	coco_buf_adds(b, "\"\"\"Module docstring.\n\nclass NotAClass: at column 0 in a string\n\"\"\"\n\nimport os\nimport sys\n\n");
	*ndefs = 0;
	for (int k = 0; k < n; k++) {
		coco_buf_adds(b, "\n");
		if (rnd(3) == 0)
			coco_buf_printf(b, "# helper number %d\n", k);
		if (rnd(4) == 0) {
			coco_buf_printf(b, "CONST_%d = %d\n\n", k, (int)rnd(100));
			continue;
		}
		size_t a = b->n;
		if (rnd(3) == 0)
			coco_buf_adds(b, "@decorator(arg=1)\n");
		int cls = rnd(4) == 0;
		if (cls)
			coco_buf_printf(b, "class Thing%d(Base):\n    \"\"\"A thing.\n\ndef fake():\n    at column 0\n    \"\"\"\n", k);
		int nm = cls ? 1 + (int)rnd(4) : 1;
		for (int m = 0; m < nm; m++) {
			const char *ind = cls ? "    " : "";
			if (cls)
				coco_buf_adds(b, "\n");
			coco_buf_printf(b, "%sdef f%d_%d(self, %s,\n%s        %s=None):\n", ind, k, m,
				words[rnd(NW)], ind, words[rnd(NW)]);
			int lines = 1 + (int)rnd(cls ? 8 : 25);
			for (int l = 0; l < lines; l++) {
				int depth = 1 + (int)rnd(3);
				for (int d = 0; d < depth; d++)
					coco_buf_adds(b, "    ");
				coco_buf_adds(b, ind);
				switch (rnd(6)) {
				case 0: coco_buf_printf(b, "if %s > %d:\n", words[rnd(NW)], (int)rnd(9)); break;
				case 1: coco_buf_adds(b, "\n"); break;
				case 2: coco_buf_printf(b, "# note about %s\n", words[rnd(NW)]); break;
				default:
					coco_buf_printf(b, "%s = call(%s, \"%s\")\n", words[rnd(NW)],
						words[rnd(NW)], words[rnd(NW)]);
				}
			}
			coco_buf_printf(b, "%s    return %s\n", ind, words[rnd(NW)]);
		}
		defs[*ndefs].a = a;
		defs[*ndefs].b = b->n - 1;
		(*ndefs)++;
		coco_buf_adds(b, "\n");
	}
	coco_buf_adds(b, "\nif __name__ == \"__main__\":\n    main()\n");
}

static void test_python(void)
{
	static defspan defs[400];
	int ndefs = 0, fit = 0, cut = 0;
	rng = 99;
	coco_buf b = { 0 };
	gen_python(&b, defs, &ndefs, 300);
	sargs sa = { 1000, -1, -1, "python" };
	coco_value out;
	split_check(NULL, b.p, b.n, &sa, &out, "python");
	for (int i = 0; i < ndefs; i++) {
		if (defs[i].b - defs[i].a > 1000)
			continue;
		fit++;
		cut += !whole(&out, (int64_t)defs[i].a, (int64_t)defs[i].b);
	}
	CHECKF(fit > 100 && cut == 0, "python: %d of %d fitting definitions cut", cut, fit);
	/* The same text as plain text cuts many of them. */
	sargs st = { 1000, -1, -1, "text" };
	coco_value o2;
	split_check(NULL, b.p, b.n, &st, &o2, "python as text");
	int cut2 = 0;
	for (int i = 0; i < ndefs; i++)
		if (defs[i].b - defs[i].a <= 1000)
			cut2 += !whole(&o2, (int64_t)defs[i].a, (int64_t)defs[i].b);
	CHECKF(cut2 > fit / 10, "plain text cuts %d of %d", cut2, fit);
	/* By extension, and chunks at line starts. */
	const char *names[] = { "py", ".py", "PYTHON", "pyi" };
	for (size_t i = 0; i < 4; i++) {
		sargs sx = { 1000, -1, -1, names[i] };
		coco_value o3;
		split_check(NULL, b.p, b.n, &sx, &o3, names[i]);
		int same = o3.n == out.n;
		for (size_t k = 0; same && k < out.n; k++)
			same = rs(&o3, k) == rs(&out, k) && re_(&o3, k) == re_(&out, k);
		CHECKF(same, "language %s", names[i]);
	}
	int ls = 0;
	for (size_t k = 0; k < out.n; k++)
		ls += line_start(b.p, rs(&out, k));
	CHECKF(ls == (int)out.n, "%d of %zu chunks at a line start", ls, out.n);
	coco_buf_free(&b);
}

/* ---- C ---------------------------------------------------------------------- */

static void gen_c(coco_buf *b, defspan *defs, int *ndefs, int n)
{
	coco_buf_adds(b, "/* A generated file.\n *\n * int not_a_function(void) {\n */\n#include <stdio.h>\n\n");
	*ndefs = 0;
	for (int k = 0; k < n; k++) {
		switch (rnd(5)) {
		case 0:
			coco_buf_printf(b, "extern int proto_%d (int __a,\n\t\t   int __b) __THROW;\n", k);
			if (rnd(2))
				coco_buf_adds(b, "\n");
			continue;
		case 1: {
			if (rnd(2))
				coco_buf_printf(b, "/* The struct number %d.\n   It holds things.  */\n", k);
			size_t a = b->n;
			coco_buf_printf(b, "struct s%d\n{\n", k);
			for (int m = 1 + (int)rnd(12); m > 0; m--) {
				if (rnd(5) == 0)
					coco_buf_adds(b, "#ifdef FEATURE\n");
				coco_buf_printf(b, "  int %s_%d;\t/* a %s */\n", words[rnd(NW)], m, words[rnd(NW)]);
				if (rnd(5) == 0)
					coco_buf_adds(b, "\n");
			}
			coco_buf_adds(b, "};");
			defs[*ndefs].a = a;
			defs[*ndefs].b = b->n;
			(*ndefs)++;
			coco_buf_adds(b, "\n\n");
			continue;
		}
		default: {
			if (rnd(2))
				coco_buf_printf(b, "/**\n * f%d - does things\n * @x: the input\n */\n", k);
			size_t a = b->n;
			if (rnd(2))
				coco_buf_printf(b, "static int\nf%d(int x, const char *s)\n{\n", k);
			else
				coco_buf_printf(b, "int f%d(int x, const char *s) {\n", k);
			int lines = 1 + (int)rnd(40);
			for (int l = 0; l < lines; l++) {
				switch (rnd(8)) {
				case 0: coco_buf_printf(b, "\tif (x > %d) {\n\t\tx -= %d;\n\t}\n", (int)rnd(9), (int)rnd(9)); break;
				case 1: coco_buf_adds(b, "\n"); break;
				case 2: coco_buf_adds(b, "out:\n"); break;
				case 3: coco_buf_adds(b, "#if DEBUG\n\tprintf(\"%s\\n\", s);\n#endif\n"); break;
				case 4: coco_buf_adds(b, "\ts = \"/* not a comment\";\n"); break;
				default: coco_buf_printf(b, "\tx = %s(x, %d);\t// %s\n", words[rnd(NW)], (int)rnd(99), words[rnd(NW)]);
				}
			}
			coco_buf_adds(b, "\treturn x;\n}");
			defs[*ndefs].a = a;
			defs[*ndefs].b = b->n;
			(*ndefs)++;
			coco_buf_adds(b, "\n\n");
		}
		}
	}
}

static void test_c(void)
{
	static defspan defs[400];
	int ndefs = 0, fit = 0, cut = 0;
	rng = 7;
	coco_buf b = { 0 };
	gen_c(&b, defs, &ndefs, 300);
	if (getenv("DUMP_C")) {
		FILE *f = fopen(getenv("DUMP_C"), "wb");
		fwrite(b.p, 1, b.n, f);
		fclose(f);
	}
	for (int cs = 600; cs <= 2000; cs += 700) {
		sargs sa = { cs, -1, -1, "c" };
		coco_value out;
		char what[32];
		snprintf(what, sizeof what, "c cs=%d", cs);
		split_check(NULL, b.p, b.n, &sa, &out, what);
		fit = cut = 0;
		for (int i = 0; i < ndefs; i++) {
			if (defs[i].b - defs[i].a > (size_t)cs)
				continue;
			fit++;
			int w = whole(&out, (int64_t)defs[i].a, (int64_t)defs[i].b);
			cut += !w;
			if (!w && getenv("SHOW_CUTS")) {
				printf("CUT [%zu,%zu):\n%.*s\nCHUNKS:", defs[i].a, defs[i].b, (int)(defs[i].b - defs[i].a), b.p + defs[i].a);
				for (size_t k = 0; k < out.n; k++)
					if (re_(&out, k) > (int64_t)defs[i].a && rs(&out, k) < (int64_t)defs[i].b)
						printf(" [%lld,%lld)", (long long)rs(&out, k), (long long)re_(&out, k));
				printf("\n");
			}
		}
		CHECKF(fit > 50 && cut == 0, "c cs=%d: %d of %d fitting definitions cut", cs, cut, fit);
		int ls = 0;
		for (size_t k = 0; k < out.n; k++)
			ls += line_start(b.p, rs(&out, k));
		CHECKF(ls == (int)out.n, "%d of %zu chunks at a line start", ls, out.n);
	}
	/* ".h" is C too */
	sargs sh = { 1000, -1, -1, ".h" }, sc = { 1000, -1, -1, "c" };
	coco_value o1, o2;
	split_check(NULL, b.p, b.n, &sh, &o1, ".h");
	split_check(NULL, b.p, b.n, &sc, &o2, "c");
	CHECK(o1.n == o2.n && o1.n > 10);
	coco_buf_free(&b);
}

/* An indented method keeps its indentation at the start of its chunk. */
static void test_indent(void)
{
	coco_buf b = { 0 };
	coco_buf_adds(&b, "class A:\n");
	for (int m = 0; m < 6; m++) {
		coco_buf_printf(&b, "\n    def m%d(self):\n", m);
		for (int l = 0; l < 8; l++)
			coco_buf_printf(&b, "        x_%d = compute(%d)\n", l, l);
	}
	sargs sa = { 300, -1, -1, "python" };
	coco_value out;
	split_check(NULL, b.p, b.n, &sa, &out, "indent");
	int at_def = 0;
	for (size_t k = 1; k < out.n; k++)
		at_def += !strncmp(b.p + rs(&out, k), "    def m", 9);
	CHECKF(out.n >= 4 && at_def == (int)out.n - 1, "%d of %zu chunks start at '    def'", at_def, out.n - 1);
	coco_buf_free(&b);
}

/* Every built-in language name splits a code-like text within bounds. */
static void test_languages(void)
{
	static const char *const langs[] = { "c", "cpp", "csharp", "css", "go", "html", "java",
		"javascript", "json", "kotlin", "markdown", "php", "python", "r", "ruby", "rust", "scala",
		"solidity", "sql", "swift", "toml", "tsx", "typescript", "xml", "yaml", "text", "lua",
		"shell", "dtd", "rs", "go", "kt", "cs", "rb", "ts", "yml", "htm", "cc", "hpp", "js" };
	rng = 5;
	coco_buf b = { 0 };
	for (size_t li = 0; li < sizeof langs / sizeof langs[0]; li++) {
		for (int iter = 0; iter < 12; iter++) {
			coco_buf_clear(&b);
			int n = 20 + (int)rnd(300);
			static const char *const pieces[] = { "{\n", "}\n", "\n", "\n\n", "    ", "\t",
				"// c\n", "# h\n", "/* a\n", "*/\n", "\"\"\"\n", "'''", "`", "<!--", "-->\n",
				"<div>\n", "</div>\n", "[section]\n", "key: value\n", "def f():\n", "end\n",
				"x = 1;\n", "else\n", "@dec\n", "#[attr]\n", "λ漢😀", "\"str\" ", "'c' ",
				"-- sql\n", "SELECT a FROM b;\n", "\r\n", ",", ";", ")", "\\\n" };
			for (int i = 0; i < n; i++) {
				coco_buf_adds(&b, pieces[rnd(sizeof pieces / sizeof pieces[0])]);
				if (rnd(3) == 0)
					coco_buf_adds(&b, words[rnd(NW)]);
			}
			sargs sa = { 8 + rnd(400), -1, -1, langs[li] };
			if (rnd(2))
				sa.min = rnd((uint32_t)sa.cs + 1);
			if (rnd(3) == 0)
				sa.ov = rnd((uint32_t)sa.cs);
			char what[96];
			snprintf(what, sizeof what, "%s iter %d cs %lld min %lld ov %lld", langs[li], iter,
				(long long)sa.cs, (long long)sa.min, (long long)sa.ov);
			coco_value out;
			split_check(NULL, b.p, b.n, &sa, &out, what);
			coco_arena_reset(&arena);
		}
	}
	coco_buf_free(&b);
}

/* ---- custom languages ------------------------------------------------------ */

static void expect_prepare_err(const char *custom, const char *want)
{
	void *st = NULL;
	char *err = NULL;
	int rc = prepare(custom, &st, &err);
	CHECKF(rc == -1 && err && strstr(err, want), "custom %s: got %d '%s', want '%s'", custom, rc,
		err ? err : "", want);
	if (rc == 0)
		coco_fn_split_recursively.destroy(st);
	free(err);
}

static void test_custom(void)
{
	const char *custom = "[{\"language_name\":\"dockerfile\",\"aliases\":[\"Dockerfile\",\"containerfile\"],"
		"\"separators_regex\":[\"^FROM \",\"\\\\n\\\\n+\",\"\\\\n\"]},"
		"{\"language_name\":\"semis\",\"separators_regex\":[\"(?<=;)\"]}]";
	void *st = NULL;
	char *err = NULL;
	CHECKF(prepare(custom, &st, &err) == 0, "%s", err ? err : "");
	free(err);
	err = NULL;
	coco_buf b = { 0 };
	size_t stage[8];
	for (int k = 0; k < 8; k++) {
		stage[k] = b.n;
		coco_buf_printf(&b, "FROM debian:12 AS s%d\n", k);
		for (int l = 0; l < 6; l++)
			coco_buf_printf(&b, "RUN apt-get install -y pkg%d-%d\n", k, l);
		coco_buf_adds(&b, "\n");
	}
	const char *names[] = { "dockerfile", "Dockerfile", "CONTAINERFILE", ".dockerfile" };
	for (int i = 0; i < 4; i++) {
		sargs sa = { 300, -1, -1, names[i] };
		coco_value out;
		split_check(st, b.p, b.n, &sa, &out, names[i]);
		int at_from = 0;
		for (size_t k = 0; k < out.n; k++)
			for (int s = 0; s < 8; s++)
				at_from += rs(&out, k) == (int64_t)stage[s];
		CHECKF(out.n >= 8 && at_from == (int)out.n, "%s: %d of %zu chunks at FROM", names[i],
			at_from, out.n);
	}
	/* The lookbehind cuts after each ';'. */
	const char *semi = "a = 1; b = 2; c = 3; d = 4; e = 5;";
	sargs ss = { 12, 0, -1, "semis" };
	coco_value out;
	split_check(st, semi, strlen(semi), &ss, &out, "semis");
	int ends_semi = 0;
	for (size_t k = 0; k < out.n; k++)
		ends_semi += semi[re_(&out, k) - 1] == ';';
	CHECKF(out.n >= 3 && ends_semi == (int)out.n, "%d of %zu end with ;", ends_semi, out.n);
	/* Only separators; empty text. */
	split_check(st, ";;;;;;", 6, &ss, &out, "only separators");
	CHECK(out.n == 1 && rs(&out, 0) == 0 && re_(&out, 0) == 6);
	split_check(st, "", 0, &ss, &out, "empty");
	CHECK(out.kind == COCO_TABLE && out.n == 0);
	/* Invalid UTF-8 with a regex language is a row error naming the byte. */
	sargs sd = { 300, -1, -1, "dockerfile" };
	CHECK(call(st, "FROM a\n\xff\xfe", 9, &sd, &out, &err) == -1 && err &&
		strstr(err, "not valid UTF-8 at byte 7"));
	free(err);
	err = NULL;
	/* Built-in names still work next to custom ones. */
	sargs sp = { 300, -1, -1, "python" };
	split_check(st, b.p, b.n, &sp, &out, "python with custom state");
	coco_fn_split_recursively.destroy(st);
	coco_buf_free(&b);

	expect_prepare_err("[{\"language_name\":\"x\",\"separators_regex\":[\"\\\\n\",\"(foo\"]}]",
		"SplitRecursively: custom_languages[1] (x): separators_regex[2]: '(foo' is not a valid regex: "
		"missing closing parenthesis at offset 4");
	expect_prepare_err("[{\"separators_regex\":[\"a\"]}]", "custom_languages[1]: missing language_name");
	expect_prepare_err("[{\"language_name\":\"x\"}]", "custom_languages[1] (x): missing separators_regex");
	expect_prepare_err("[{\"language_name\":\"x\",\"separators_regex\":[]}]",
		"separators_regex is empty");
	expect_prepare_err("[{\"language_name\":\"x\",\"separators_regex\":[\"a\"],\"sep\":1}]",
		"custom_languages[1]: unknown key \"sep\"; keys: language_name, separators_regex, aliases");
	expect_prepare_err("{\"language_name\":\"x\"}", "custom_languages must be a list");
	expect_prepare_err("[{\"language_name\":\"x\",\"separators_regex\":[1]}]",
		"separators_regex must be a list of strings");
	expect_prepare_err("[{\"language_name\":\"x\",\"separators_regex\":\"a\"}]",
		"separators_regex must be a list of strings");
	expect_prepare_err("[1]", "custom_languages[1] must be a table");
}

/* ---- bad input and linear time --------------------------------------------- */

/* CPU seconds of this thread: what the split costs, not how busy the
 * machine is (another process on the core stretches wall time, not this) */
static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void test_bad_input(void)
{
	sargs sa = { 100, -1, -1, "c" };
	coco_value out;
	split_check(NULL, "", 0, &sa, &out, "empty c");
	CHECK(out.n == 0);
	split_check(NULL, "\n\n  \t\n\r\n", 6, &sa, &out, "only whitespace");
	CHECK(out.n == 0);
	/* Invalid UTF-8 with a built-in code language: still split, within bounds. */
	const char bin[] = "int f(void)\n{\n\treturn 0;\xff\xfe\n}\n";
	split_check(NULL, bin, sizeof bin - 1, &sa, &out, "binary-ish");
	CHECK(out.n >= 1);
	/* min_chunk_size > chunk_size is refused. */
	char *err = NULL;
	sargs bad = { 100, 200, -1, "python" };
	CHECK(call(NULL, "x", 1, &bad, &out, &err) == -1 && err &&
		strstr(err, "min_chunk_size must be <= chunk_size (100), got 200"));
	free(err);
	/* No separator at all, and one-character lines: time grows with size
	 * (linear: 4 times the text, about 4 times the CPU time; quadratic
	 * would be 16). The best of 3 runs each, in this thread's CPU time. */
	size_t n = 4u << 20;
	char *t = malloc(n);
	for (int kind = 0; kind < 2; kind++) {
		for (size_t i = 0; i < n; i++)
			t[i] = kind ? (i % 2 ? '\n' : 'x') : (char)('a' + i % 26);
		double dt[2];
		for (int k = 0; k < 2; k++) {
			size_t sz = k ? n : n / 4;
			sargs sb = { 1000, -1, -1, kind ? "python" : "c" };
			dt[k] = 1e9;
			for (int run = 0; run < 3; run++) {
				double t0 = cpu_now();
				CHECK(call(NULL, t, sz, &sb, &out, &err) == 0);
				double d = cpu_now() - t0;
				if (d < dt[k])
					dt[k] = d;
				if (!kind)
					CHECK(out.n == (sz + 999) / 1000);
				coco_arena_reset(&arena);
			}
		}
		CHECKF(dt[1] < 10 * dt[0] + 0.02, "kind %d: %.3f s of CPU for 4 MB, %.3f s for 1 MB", kind,
			dt[1], dt[0]);
	}
	free(t);
}

int main(void)
{
	test_python();
	test_c();
	test_indent();
	test_languages();
	test_custom();
	test_bad_input();
	coco_arena_destroy(&arena);
	coco_arena_destroy(&types);
	printf("%d passed, %d failed\n", passed, failed);
	return failed > 0;
}
