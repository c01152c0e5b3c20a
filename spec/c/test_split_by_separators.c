/* Unit test: SplitBySeparators through its vtable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/buf.h"
#include "engine/value.h"
#include "engine/ops.h"

extern const coco_function_ops coco_fn_split_by_separators;

#include "spec/c/check.h"

static coco_arena types, arena;

typedef struct opts {
	const char *seps[4];
	size_t nseps;
	const char *keep;             /* NULL: default */
	int empty, trim;              /* -1: default */
} opts;

static int prepare(const opts *o, void **state, const coco_type **type, char **err)
{
	coco_optval spec[5] = { { 0 } };
	if (o->nseps) {
		spec[0].set = 1;
		spec[0].list = (const char **)o->seps;
		spec[0].nlist = o->nseps;
	}
	if (o->keep) {
		spec[1].set = 1;
		spec[1].s = o->keep;
	}
	if (o->empty >= 0) {
		spec[2].set = 1;
		spec[2].b = o->empty;
	}
	if (o->trim >= 0) {
		spec[3].set = 1;
		spec[3].b = o->trim;
	}
	coco_arg_info ai[1] = { { &coco_t_str, NULL } };
	return coco_fn_split_by_separators.prepare(spec, NULL, ai, 1, &types, type, state, err);
}

/* Split text with o; the pieces joined as "a|b|c" (empty pieces show as
 * nothing between bars). Checks that each row's text is the text at its
 * location and that positions are right. */
static char *pieces(const opts *o, const char *text)
{
	void *st = NULL;
	const coco_type *type;
	char *err = NULL;
	if (prepare(o, &st, &type, &err) < 0) {
		printf("prepare: %s\n", err);
		free(err);
		return strdup("(prepare failed)");
	}
	coco_value arg = coco_v_str(text, strlen(text)), out;
	if (coco_fn_split_by_separators.call(st, &arg, 1, &arena, &out, &err) < 0) {
		printf("call: %s\n", err);
		free(err);
		coco_fn_split_by_separators.destroy(st);
		return strdup("(call failed)");
	}
	coco_fn_split_by_separators.destroy(st);
	coco_buf b = { 0 };
	coco_buf_adds(&b, "");
	for (size_t i = 0; i < out.n; i++) {
		const coco_value *f = out.u.rows[i].u.fields;
		int64_t s = f[0].u.r[0], e = f[0].u.r[1];
		CHECK(f[1].kind == COCO_STR && f[1].u.s == text + s && (int64_t)f[1].n == e - s);
		int64_t line = 1, col = 1;
		for (int64_t k = 0; k < s; k++) {
			if (text[k] == '\n')
				line++, col = 1;
			else if (((unsigned char)text[k] & 0xC0) != 0x80)
				col++;
		}
		CHECK(f[2].u.fields[0].u.i == s && f[2].u.fields[1].u.i == line && f[2].u.fields[2].u.i == col);
		CHECK(f[3].u.fields[0].u.i == e);
		if (i)
			coco_buf_putc(&b, '|');
		coco_buf_add(&b, text + s, (size_t)(e - s));
	}
	return coco_buf_take(&b);
}

static void expect(const opts *o, const char *text, const char *want)
{
	char *got = pieces(o, text);
	CHECKF(!strcmp(got, want), "'%s' -> '%s', want '%s'", text, got, want);
	free(got);
	coco_arena_reset(&arena);
}

static void test_split(void)
{
	opts para = { { "\\n\\n+" }, 1, NULL, -1, -1 };
	expect(&para, "Para1\n\nPara2\n\n\nPara3", "Para1|Para2|Para3");
	expect(&para, "", "");
	expect(&para, "\n\n\n\n", "");
	opts left = { { "\\." }, 1, "LEFT", -1, -1 };
	expect(&left, "A. B. C.", "A.|B.|C.");
	opts right = { { "\\." }, 1, "right", -1, -1 };
	expect(&right, "A. B. C", "A|. B|. C");
	opts none = { { 0 }, 0, NULL, -1, -1 };
	expect(&none, "  Hello World  ", "Hello World");
	opts bar = { { "\\|" }, 1, NULL, -1, -1 };
	expect(&bar, "  A  |  B  |  C  ", "A|B|C");
	opts bar_empty = { { "\\|" }, 1, NULL, 1, -1 };
	expect(&bar_empty, "A||B", "A||B");
	opts notrim = { { "\\n" }, 1, NULL, -1, 0 };
	expect(&notrim, "Line1\n Line2\nLine3", "Line1| Line2|Line3");
	/* several separators are OR-ed; ^ matches at line starts */
	opts two = { { ";", "^## " }, 2, NULL, -1, -1 };
	expect(&two, "a;b\n## c;d", "a|b|c|d");
	/* an empty match (a lookahead) splits before each match */
	opts look = { { "(?=x)" }, 1, NULL, -1, -1 };
	expect(&look, "axbxc", "a|xb|xc");
	/* UTF-8 text, separators of several bytes */
	opts uni = { { "。" }, 1, "LEFT", -1, -1 };
	expect(&uni, "中文句子。更多的文字。还有", "中文句子。|更多的文字。|还有");
	/* only separators */
	expect(&bar, "||||", "");
	expect(&bar_empty, "||", "||");
}

static void test_errors(void)
{
	void *st = NULL;
	const coco_type *type;
	char *err = NULL;
	opts badre = { { "ok", "(unclosed" }, 2, NULL, -1, -1 };
	CHECK(prepare(&badre, &st, &type, &err) == -1 && err &&
		!strcmp(err, "SplitBySeparators: separators_regex[2]: '(unclosed' is not a valid regex: "
			"missing closing parenthesis at offset 9"));
	free(err);
	err = NULL;
	opts badkeep = { { "x" }, 1, "MIDDLE", -1, -1 };
	CHECK(prepare(&badkeep, &st, &type, &err) == -1 && err &&
		!strcmp(err, "SplitBySeparators: keep_separator must be \"NONE\", \"LEFT\" or \"RIGHT\", got \"MIDDLE\""));
	free(err);
	err = NULL;
	/* the row type is SplitRecursively's */
	opts ok = { { "x" }, 1, NULL, -1, -1 };
	CHECK(prepare(&ok, &st, &type, &err) == 0);
	CHECK(type->kind == COCO_TABLE && type->nkeys == 1 && type->nfields == 4 &&
		!strcmp(type->fields[0].name, "location") && !strcmp(type->fields[3].name, "end"));
	/* invalid UTF-8 and wrong kinds are row errors; null gives null */
	coco_value arg = coco_v_str("ab\xc3", 3), out;
	CHECK(coco_fn_split_by_separators.call(st, &arg, 1, &arena, &out, &err) == -1 && err &&
		strstr(err, "not valid UTF-8 at byte 2"));
	free(err);
	err = NULL;
	arg = coco_v_int(3);
	CHECK(coco_fn_split_by_separators.call(st, &arg, 1, &arena, &out, &err) == -1 && err &&
		strstr(err, "text must be a string, got int64"));
	free(err);
	err = NULL;
	arg = coco_v_null();
	CHECK(coco_fn_split_by_separators.call(st, &arg, 1, &arena, &out, &err) == 0 &&
		out.kind == COCO_NULL);
	coco_fn_split_by_separators.destroy(st);
	/* a long text: every piece found, in order */
	coco_buf b = { 0 };
	for (int i = 0; i < 20000; i++)
		coco_buf_printf(&b, "item%d, ", i);
	opts comma = { { ",\\s*" }, 1, NULL, -1, -1 };
	CHECK(prepare(&comma, &st, &type, &err) == 0);
	arg = coco_v_str(b.p, b.n);
	CHECK(coco_fn_split_by_separators.call(st, &arg, 1, &arena, &out, &err) == 0 && out.n == 20000);
	CHECK(out.n == 20000 && out.u.rows[19999].u.fields[1].n == 9 &&
		!memcmp(out.u.rows[19999].u.fields[1].u.s, "item19999", 9));
	coco_fn_split_by_separators.destroy(st);
	coco_buf_free(&b);
}

int main(void)
{
	CHECK(!strcmp(coco_fn_split_by_separators.name, "SplitBySeparators"));
	test_split();
	test_errors();
	coco_arena_destroy(&arena);
	coco_arena_destroy(&types);
	printf("%d passed, %d failed\n", passed, failed);
	return failed > 0;
}
