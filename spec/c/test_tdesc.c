/* Unit test of the SQL targets' shared setup descriptions (engine/tdesc.c):
 * tokens, key and column lines in both column formats, the target's own
 * lines, lookups, recreate reasons, the column diff, and what describe
 * writes read back as it was; the steps coco_tdesc_apply takes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tdesc.h"

#include "spec/c/check.h"

/* A target's own lines, recorded "word=rest;" (rest unescaped); "bad" is
 * refused. */
typedef struct other {
	coco_buf seen;
} other;

static int other_line(void *ctx, coco_arena *a, const char *w, size_t wn, const char *rest,
	const char *e)
{
	other *o = ctx;
	if (COCO_TDESC_IS(w, wn, "bad"))
		return -1;
	const char *v = coco_unesc(a, rest, (size_t)(e - rest));
	if (!v)
		return -1;
	coco_buf_printf(&o->seen, "%.*s=%s;", (int)wn, w, v);
	return 0;
}

/* Parses text; returns the error (static, "" when none) and the lines the
 * target saw in *seen (static). */
static const char *parse(const char *text, int flags, coco_arena *a, coco_tdesc *t,
	const char **seen)
{
	static char msg[256], lines[256];
	other o = {0};
	char *e = NULL;
	int rc = coco_tdesc_parse(text, a, flags, t, other_line, &o, "Test", &e);
	snprintf(msg, sizeof msg, "%s", rc < 0 ? (e ? e : "(no message)") : "");
	snprintf(lines, sizeof lines, "%s", o.seen.p ? o.seen.p : "");
	if (seen)
		*seen = lines;
	free(e);
	coco_buf_free(&o.seen);
	return msg;
}

static void test_tokens(void)
{
	coco_arena a = {0};
	const char *tok[4];
	const char *s = "ab c\\x20d ef";
	CHECK(coco_tdesc_tokens(&a, s, s + strlen(s), tok, 4, 0) == 3);
	CHECK_STR(tok[0], "ab");
	CHECK_STR(tok[1], "c d");
	CHECK_STR(tok[2], "ef");
	/* the last token takes the rest of the line, raw */
	s = "x y\\x20 double precision";
	CHECK(coco_tdesc_tokens(&a, s, s + strlen(s), tok, 3, 1) == 3);
	CHECK_STR(tok[1], "y ");
	CHECK_STR(tok[2], "double precision");
	CHECK(coco_tdesc_tokens(&a, s, s + strlen(s), tok, 2, 0) == -1);     /* too many */
	s = "a  b";
	CHECK(coco_tdesc_tokens(&a, s, s + strlen(s), tok, 4, 0) == -1);     /* empty token */
	s = "a b\\x2";
	CHECK(coco_tdesc_tokens(&a, s, s + strlen(s), tok, 4, 0) == -1);     /* bad escape */
	s = "a b ";
	CHECK(coco_tdesc_tokens(&a, s, s + strlen(s), tok, 4, 0) == 2);      /* one trailing space */
	CHECK(coco_tdesc_tokens(&a, s, s, tok, 4, 0) == 0);
	CHECK(coco_tdesc_tokens(&a, s, s + 1, tok, 0, 0) == -1);
	coco_arena_destroy(&a);
}

static void test_parse(void)
{
	coco_arena a = {0};
	coco_tdesc t;
	const char *seen;
	/* coco types with spaces; the SQL type the last token */
	CHECK_STR(parse("path /a b\n\ntable t\nkey id\\x20x n\n"
		"column id\\x20x str TEXT\ncolumn n struct{a: str, b: int64} TEXT\ncolumn k int64 INTEGER\n",
		0, &a, &t, &seen), "");
	CHECK_STR(seen, "path=/a b;table=t;");
	CHECK(t.nkeys == 2 && t.ncols == 3);
	CHECK_STR(t.keys[0], "id x");
	CHECK_STR(t.keys[1], "n");
	CHECK_STR(t.cols[0].name, "id x");
	CHECK_STR(t.cols[1].type, "struct{a: str, b: int64}");
	CHECK_STR(t.cols[1].sql, "TEXT");
	CHECK_STR(t.cols[2].sql, "INTEGER");
	CHECK(coco_tdesc_col(&t, "k") == &t.cols[2]);
	CHECK(coco_tdesc_col(&t, "id") == NULL);
	CHECK(coco_tdesc_is_key(&t, "id x") && coco_tdesc_is_key(&t, "n") && !coco_tdesc_is_key(&t, "k"));
	CHECK(t.flags == 0);

	/* COCO_TDESC_SQL_REST: the coco type a token, the SQL type to the end */
	CHECK_STR(parse("key k\ncolumn k float64 double precision\ncolumn v vector<float32,\\x203> "
		"vector(3)\n", COCO_TDESC_SQL_REST, &a, &t, &seen), "");
	CHECK_STR(seen, "");
	CHECK(t.ncols == 2 && t.flags == COCO_TDESC_SQL_REST);
	CHECK_STR(t.cols[0].sql, "double precision");
	CHECK_STR(t.cols[1].type, "vector<float32, 3>");
	CHECK_STR(t.cols[1].sql, "vector(3)");
	/* the same line read the other way */
	CHECK_STR(parse("column k float64 double precision\n", 0, &a, &t, NULL), "");
	CHECK_STR(t.cols[0].type, "float64 double");
	CHECK_STR(t.cols[0].sql, "precision");

	/* key lines add up, within the room of the text */
	CHECK_STR(parse("key a\nkey b\n", 0, &a, &t, NULL), "");
	CHECK(t.nkeys == 2 && !strcmp(t.keys[1], "b"));
	CHECK_STR(parse("key a b c d e f", 0, &a, &t, NULL),
		"Test: malformed setup description (line 1)");

	/* malformed lines, counted from 1 with empty lines */
	static const struct { const char *text; int flags, line; } bad[] = {
		{ "table t\n\nbogus\n", 0, 3 },
		{ "bad x\n", 0, 1 },
		{ "key\n", 0, 1 },
		{ "key \n", 0, 1 },
		{ "key a  b\n", COCO_TDESC_SQL_REST, 1 },
		{ "key a\\xZZ\n", 0, 1 },
		{ "key a\ncolumn a str\n", 0, 2 },
		{ "key a\ncolumn a  TEXT\n", 0, 2 },
		{ "key a\ncolumn  a str TEXT\n", 0, 2 },
		{ "key a\ncolumn a str \n", 0, 2 },
		{ "key a\ncolumn \\x00 str TEXT\n", 0, 2 },
		{ "key a\ncolumn a str\n", COCO_TDESC_SQL_REST, 2 },
		{ "key a\ncolumn a  text\n", COCO_TDESC_SQL_REST, 2 },
		{ "key a\ncolumn a s\\x1 text\n", COCO_TDESC_SQL_REST, 2 },
		{ "key a\ncolumn\n", COCO_TDESC_SQL_REST, 2 },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char want[128];
		snprintf(want, sizeof want, "Test: malformed setup description (line %d)", bad[i].line);
		const char *got = parse(bad[i].text, bad[i].flags, &a, &t, NULL);
		CHECKF(!strcmp(got, want), "%s: %s", bad[i].text, got);
	}
	/* which lines must be there is the target's to say */
	CHECK_STR(parse("", 0, &a, &t, NULL), "");
	CHECK(t.nkeys == 0 && t.ncols == 0);
	coco_arena_destroy(&a);
}

static void test_names(void)
{
	const char *a[] = { "x", "y" }, *b[] = { "x", "z" };
	CHECK(coco_tdesc_same_names(a, 2, a, 2));
	CHECK(!coco_tdesc_same_names(a, 2, b, 2));
	CHECK(!coco_tdesc_same_names(a, 1, a, 2));
	CHECK(coco_tdesc_same_names(a, 0, b, 0));
	coco_buf o = {0};
	coco_tdesc_put_names(&o, a, 2);
	CHECK_STR(o.p, "x, y");
	coco_buf_clear(&o);
	coco_tdesc_put_names(&o, a, 0);
	CHECK(o.n == 0);
	coco_buf_free(&o);
}

static void test_reasons_and_plans(void)
{
	coco_arena a = {0};
	coco_tdesc s, d, d2;
	coco_buf why = {0}, plan = {0};
	CHECK_STR(parse("key id\ncolumn id str TEXT\ncolumn n int64 INTEGER\ncolumn old str TEXT\n",
		0, &a, &s, NULL), "");
	CHECK_STR(parse("key id\ncolumn id str TEXT\ncolumn n int64 INTEGER\ncolumn new bool INTEGER\n",
		0, &a, &d, NULL), "");
	coco_tdesc_reasons(&s, &d, &why);
	CHECK(why.n == 0);                       /* columns added and dropped: ALTER TABLE */
	CHECK(coco_tdesc_plan_columns(&s, &d, &plan) == 1);
	CHECK_STR(plan.p, "drop column old\nadd column new INTEGER\n");
	coco_buf_clear(&plan);
	CHECK(coco_tdesc_plan_columns(&d, &d, &plan) == 0 && plan.n == 0);
	CHECK(coco_tdesc_plan_columns(&s, &s, &plan) == 0 && plan.n == 0);
	/* only added: not destructive */
	CHECK_STR(parse("key id\ncolumn id str TEXT\n", 0, &a, &d2, NULL), "");
	CHECK(coco_tdesc_plan_columns(&d2, &d, &plan) == 0);
	CHECK_STR(plan.p, "add column n INTEGER\nadd column new INTEGER\n");

	/* keys and types changed; the target's own reasons first */
	CHECK_STR(parse("key id n\ncolumn id str TEXT\ncolumn n float64 REAL\n", 0, &a, &d2, NULL), "");
	coco_tdesc_reason(&why, "path: %s → %s", "/a", "/b");
	coco_tdesc_reasons(&s, &d2, &why);
	CHECK_STR(why.p, "path: /a → /b; key: id → id, n; column n: int64 → float64");
	coco_buf_clear(&why);
	coco_tdesc_reasons(&s, &d2, &why);
	CHECK_STR(why.p, "key: id → id, n; column n: int64 → float64");

	/* COCO_TDESC_WHY_SQL: the SQL types too, and an SQL type alone is a reason */
	CHECK_STR(parse("key id\ncolumn id str text\ncolumn v vector<float32,3> vector(3)\n",
		COCO_TDESC_SQL_REST | COCO_TDESC_WHY_SQL, &a, &s, NULL), "");
	CHECK_STR(parse("key id\ncolumn id str text\ncolumn v vector<float32,3> halfvec(3)\n",
		COCO_TDESC_SQL_REST | COCO_TDESC_WHY_SQL, &a, &d, NULL), "");
	coco_buf_clear(&why);
	coco_tdesc_reasons(&s, &d, &why);
	CHECK_STR(why.p, "column v: vector<float32,3> vector(3) → vector<float32,3> halfvec(3)");

	coco_buf_clear(&plan);
	coco_tdesc_plan_create(&d, "public", "t", &plan);
	coco_tdesc_plan_create(&d2, NULL, "u", &plan);
	CHECK_STR(plan.p, "create table public.t (id text, v halfvec(3), primary key (id))\n"
		"create table u (id TEXT, n REAL, primary key (id, n))\n");
	coco_buf_free(&why);
	coco_buf_free(&plan);
	coco_arena_destroy(&a);
}

static void test_sql(void)
{
	coco_arena a = {0};
	coco_tdesc t;
	coco_buf b = {0};
	coco_sql_ident(&b, "a\"b c");
	CHECK_STR(b.p, "\"a\"\"b c\"");
	CHECK_STR(parse("key id k\"\ncolumn id str TEXT\ncolumn n int64 INTEGER\ncolumn k\" str TEXT\n",
		0, &a, &t, NULL), "");
	coco_buf_clear(&b);
	coco_tdesc_create_body(&t, 1, &b);
	CHECK_STR(b.p, "\"id\" TEXT NOT NULL, \"n\" INTEGER, \"k\"\"\" TEXT NOT NULL, "
		"PRIMARY KEY (\"id\", \"k\"\"\")");
	coco_buf_clear(&b);
	coco_tdesc_create_body(&t, 0, &b);
	CHECK_STR(b.p, "\"id\" TEXT, \"n\" INTEGER, \"k\"\"\" TEXT, PRIMARY KEY (\"id\", \"k\"\"\")");
	coco_buf_free(&b);
	coco_arena_destroy(&a);
}

/* What describe writes reads back as it was, awkward bytes and all. */
static void test_roundtrip(void)
{
	static const coco_field pos_f[] = { { "offset", &coco_t_int64 }, { "line", &coco_t_int64 } };
	static const coco_type pos_t = { .kind = COCO_STRUCT, .nfields = 2, .fields = pos_f };
	static const coco_field row_f[] = { { "file name", &coco_t_str }, { "a\\b\nc", &coco_t_range },
		{ "pos", &pos_t } };
	static const coco_type row_t = { .kind = COCO_STRUCT, .nfields = 3, .fields = row_f };
	static const int flagsets[] = { 0, COCO_TDESC_SQL_REST };
	for (int f = 0; f < 2; f++) {
		int flags = flagsets[f];
		coco_buf b = {0};
		coco_tdesc_put_line(&b, "path", "/x y/\\z\n");
		coco_tdesc_put_keys(&b, &row_t, 2);
		for (uint32_t i = 0; i < row_t.nfields; i++)
			coco_tdesc_put_column(&b, flags, row_f[i].name, row_f[i].type,
				flags ? "double precision" : "TEXT");
		if (!flags)
			CHECK_STR(b.p, "path /x y/\\x5cz\\x0a\nkey file\\x20name a\\x5cb\\x0ac\n"
				"column file\\x20name str TEXT\ncolumn a\\x5cb\\x0ac range TEXT\n"
				"column pos struct{offset: int64, line: int64} TEXT\n");
		else
			CHECK(strstr(b.p, "\ncolumn pos struct{offset:\\x20int64,\\x20line:\\x20int64} "
				"double precision\n") != NULL);
		coco_arena a = {0};
		coco_tdesc t;
		const char *seen;
		CHECK_STR(parse(b.p, flags, &a, &t, &seen), "");
		CHECK_STR(seen, "path=/x y/\\z\n;");
		CHECK(t.nkeys == 2 && t.ncols == 3);
		CHECK_STR(t.keys[0], "file name");
		CHECK_STR(t.keys[1], "a\\b\nc");
		CHECK_STR(t.cols[1].name, "a\\b\nc");
		CHECK_STR(t.cols[1].type, "range");
		CHECK_STR(t.cols[2].type, "struct{offset: int64, line: int64}");
		CHECK_STR(t.cols[2].sql, flags ? "double precision" : "TEXT");
		coco_arena_destroy(&a);
		coco_buf_free(&b);
	}
}

/* coco_tdesc_apply's dispatch, on a toy description "place table\nkey k\n
 * column ...": each step is recorded in `log`. */
typedef struct toy {
	coco_tdesc t;
	const char *place;
} toy;

static coco_buf toy_log;

static int toy_line(void *ctx, coco_arena *a, const char *w, size_t wn, const char *rest,
	const char *e)
{
	toy *d = ctx;
	if (!COCO_TDESC_IS(w, wn, "place"))
		return -1;
	return (d->place = coco_unesc(a, rest, (size_t)(e - rest))) ? 0 : -1;
}

static int toy_parse(const char *text, coco_arena *a, void *dv, char **err)
{
	toy *d = dv;
	return coco_tdesc_parse(text, a, 0, &d->t, toy_line, d, "Toy", err);
}

static void toy_reasons(const void *sv, const void *dv, coco_buf *why)
{
	const toy *s = sv, *d = dv;
	if (strcmp(s->place, d->place))
		coco_tdesc_reason(why, "place: %s → %s", s->place, d->place);
	coco_tdesc_reasons(&s->t, &d->t, why);
}

static int toy_same_place(const void *sv, const void *dv)
{
	const toy *s = sv, *d = dv;
	return !strncmp(s->place, d->place, 1);   /* "a1" and "a2": one database */
}

static int toy_change(const void *dv, const void *dropv, const void *fromv, char **err)
{
	const toy *d = dv, *drop = dropv, *from = fromv;
	coco_buf_printf(&toy_log, "change %s%s%s%s%s;", d->place, drop ? " drop " : "",
		drop ? drop->place : "", from ? " from " : "", from ? from->place : "");
	if (!strcmp(d->place, "fail"))
		return coco_seterr(err, "Toy: cannot create in %s", d->place);
	return 0;
}

static int toy_drop(const void *sv, char **err)
{
	const toy *s = sv;
	coco_buf_printf(&toy_log, "drop %s;", s->place);
	if (!strcmp(s->place, "b-locked"))
		return coco_seterr(err, "Toy: cannot drop in %s", s->place);
	return 0;
}

static void test_apply(void)
{
	static const coco_tdesc_ops ops = { sizeof(toy), toy_parse, toy_reasons, toy_same_place,
		toy_change, toy_drop };
	static const struct {
		const char *stored, *desired, *log, *err;
	} cases[] = {
		{ NULL, "place a1\nkey k\ncolumn k str TEXT\n", "change a1;", NULL },
		{ "place a1\nkey k\ncolumn k str TEXT\n", NULL, "drop a1;", NULL },
		/* a column added: altered in place */
		{ "place a1\nkey k\ncolumn k str TEXT\n",
		  "place a1\nkey k\ncolumn k str TEXT\ncolumn v int64 INTEGER\n",
		  "change a1 from a1;", NULL },
		/* a type changed: recreated in one change() */
		{ "place a1\nkey k\ncolumn k str TEXT\n", "place a1\nkey k\ncolumn k int64 INTEGER\n",
		  "change a1 drop a1;", NULL },
		/* another table in the same database: one change() too */
		{ "place a1\nkey k\ncolumn k str TEXT\n", "place a2\nkey k\ncolumn k str TEXT\n",
		  "change a2 drop a1;", NULL },
		/* another database: drop, then create */
		{ "place a1\nkey k\ncolumn k str TEXT\n", "place b1\nkey k\ncolumn k str TEXT\n",
		  "drop a1;change b1;", NULL },
		{ "place b-locked\nkey k\ncolumn k str TEXT\n", "place c1\nkey k\ncolumn k str TEXT\n",
		  "drop b-locked;", "Toy: cannot drop in b-locked" },
		{ NULL, "place fail\nkey k\ncolumn k str TEXT\n", "change fail;",
		  "Toy: cannot create in fail" },
		/* a description that does not parse: nothing is done */
		{ "place a1\nkey k\ncolumn k str TEXT\n", "place a1\nwhat\n", "",
		  "Toy: malformed setup description (line 2)" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *err = NULL;
		coco_buf_clear(&toy_log);
		int rc = coco_tdesc_apply(&ops, cases[i].stored, cases[i].desired, &err);
		CHECKF(rc == (cases[i].err ? -1 : 0), "case %zu: rc %d", i, rc);
		CHECK_STR(toy_log.p ? toy_log.p : "", cases[i].log);
		if (cases[i].err)
			CHECK_STR(err, cases[i].err);
		else
			CHECKF(!err, "case %zu: %s", i, err);
		free(err);
	}
	coco_buf_free(&toy_log);
}

int main(void)
{
	test_tokens();
	test_parse();
	test_names();
	test_reasons_and_plans();
	test_sql();
	test_roundtrip();
	test_apply();
	return CHECK_DONE();
}
