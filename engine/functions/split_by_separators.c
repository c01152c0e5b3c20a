/* SplitBySeparators: split a text at every match of a set of separator
 * regexes (PCRE2, OR-ed together, multi-line), into the same rows as
 * SplitRecursively: table[location]{text, start, end}.
 *
 *   functions.SplitBySeparators{ separators_regex = { "\n\n+" },
 *     keep_separator = "NONE" | "LEFT" | "RIGHT", include_empty = false, trim = true }
 *
 * keep_separator: NONE drops the separators, LEFT keeps each at the end of
 * the piece before it, RIGHT at the start of the piece after it. trim
 * strips whitespace at both ends of each piece; include_empty keeps empty
 * pieces. No separators: the whole text is one piece. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/functions/split_int.h"
#include "engine/sys.h"

enum { KEEP_NONE, KEEP_LEFT, KEEP_RIGHT };

typedef struct sbs_state {
	pcre2_code *re;               /* NULL: no separators */
	int keep, include_empty, trim;
} sbs_state;

enum { O_SEPS, O_KEEP, O_EMPTY, O_TRIM };

static const coco_optdef sbs_opts[] = {
	{ "separators_regex", COCO_OPT_STRLIST, 0, "regexes (PCRE2) where the text is split" },
	{ "keep_separator", COCO_OPT_STR, 0, "NONE (default), LEFT or RIGHT: where a separator goes" },
	{ "include_empty", COCO_OPT_BOOL, 0, "keep empty pieces (default false)" },
	{ "trim", COCO_OPT_BOOL, 0, "strip whitespace around pieces (default true)" },
	{ NULL, 0, 0, NULL },
};

static const coco_argdef sbs_args[] = {
	{ "text", 1u << COCO_STR, 1 },
	{ NULL, 0, 0 },
};

static void sbs_destroy(void *state)
{
	sbs_state *st = state;
	if (!st)
		return;
	if (st->re)
		pcre2_code_free(st->re);
	free(st);
}

/* prepare: compiles the separators.
 *   "SplitBySeparators: separators_regex[2]: '(a' is not a valid regex: ..." */
static int sbs_prepare(const coco_optval *spec, void *udata, const coco_arg_info *args,
	size_t nargs, coco_arena *types, const coco_type **out, void **state, char **err)
{
	sbs_state *st = coco_xcalloc(1, sizeof *st);
	st->trim = 1;
	if (spec && spec[O_KEEP].set && spec[O_KEEP].s) {
		const char *k = spec[O_KEEP].s;
		if (!strcasecmp(k, "NONE"))
			st->keep = KEEP_NONE;
		else if (!strcasecmp(k, "LEFT"))
			st->keep = KEEP_LEFT;
		else if (!strcasecmp(k, "RIGHT"))
			st->keep = KEEP_RIGHT;
		else {
			sbs_destroy(st);
			return coco_seterr(err, "SplitBySeparators: keep_separator must be \"NONE\", "
				"\"LEFT\" or \"RIGHT\", got \"%s\"", k);
		}
	}
	if (spec && spec[O_EMPTY].set)
		st->include_empty = spec[O_EMPTY].b;
	if (spec && spec[O_TRIM].set)
		st->trim = spec[O_TRIM].b;
	if (spec && spec[O_SEPS].set && spec[O_SEPS].nlist) {
		/* check each pattern alone, for a message that names it */
		coco_buf all = { 0 };
		for (size_t i = 0; i < spec[O_SEPS].nlist; i++) {
			const char *p = spec[O_SEPS].list[i];
			char *e = NULL;
			pcre2_code *re = split_regex_compile(p, strlen(p), &e);
			if (!re) {
				coco_seterr(err, "SplitBySeparators: separators_regex[%zu]: %s", i + 1, e);
				free(e);
				coco_buf_free(&all);
				sbs_destroy(st);
				return -1;
			}
			pcre2_code_free(re);
			coco_buf_printf(&all, "%s(?:%s)", i ? "|" : "", p);
		}
		char *e = NULL;
		st->re = split_regex_compile(all.p, all.n, &e);
		coco_buf_free(&all);
		if (!st->re) {
			coco_seterr(err, "SplitBySeparators: separators_regex: %s", e);
			free(e);
			sbs_destroy(st);
			return -1;
		}
	}
	*state = st;
	*out = split_row_type(types);
	return 0;
}

typedef struct pieces {
	const sbs_state *st;
	const char *t;
	split_rows *r;
	split_lc cs, ce;
} pieces;

static void add_piece(pieces *pc, size_t s, size_t e)
{
	const char *t = pc->t;
	if (pc->st->trim) {
		while (s < e && split_is_ws((unsigned char)t[s]))
			s++;
		while (e > s && split_is_ws((unsigned char)t[e - 1]))
			e--;
	}
	if (e == s && !pc->st->include_empty)
		return;
	if (s < pc->ce.pos)               /* a piece never starts before the last ended */
		s = pc->ce.pos;
	if (e < s)
		e = s;
	pc->cs = pc->ce;
	split_lc_move(t, &pc->cs, s);
	pc->ce = pc->cs;
	split_lc_move(t, &pc->ce, e);
	split_rows_add(pc->r, t, s, e, &pc->cs, &pc->ce);
}

/* call: null text gives a null result. */
static int sbs_call(void *state, const coco_value *args, size_t nargs, coco_arena *a,
	coco_value *out, char **err)
{
	const sbs_state *st = state;
	if (nargs < 1 || args[0].kind == COCO_NULL) {
		*out = coco_v_null();
		return 0;
	}
	if (args[0].kind != COCO_STR)
		return coco_seterr(err, "SplitBySeparators: text must be a string, got %s",
			coco_kind_name((coco_kind)args[0].kind));
	const char *t = args[0].u.s;
	size_t len = args[0].n;
	split_rows r;
	split_rows_init(&r, a, 16);
	pieces pc = { .st = st, .t = t, .r = &r };
	split_lc_init(&pc.cs);
	split_lc_init(&pc.ce);
	size_t start = 0;
	if (st->re) {
		size_t bad = split_utf8_check(t, len);
		if (bad < len)
			return coco_seterr(err, "SplitBySeparators: text is not valid UTF-8 at byte %zu", bad);
		pcre2_match_data *md = pcre2_match_data_create(1, NULL);
		if (!md)
			abort();
		size_t from = 0;
		while (from <= len) {
			int rc = pcre2_match(st->re, (PCRE2_SPTR)t, len, from, PCRE2_NO_UTF_CHECK, md, NULL);
			if (rc == PCRE2_ERROR_NOMATCH)
				break;
			if (rc < 0) {
				PCRE2_UCHAR msg[256];
				pcre2_get_error_message(rc, msg, sizeof msg);
				pcre2_match_data_free(md);
				return coco_seterr(err, "SplitBySeparators: matching failed at byte %zu: %s",
					from, (const char *)msg);
			}
			PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
			size_t ms = ov[0], me = ov[1] > ov[0] ? ov[1] : ov[0];
			add_piece(&pc, start, st->keep == KEEP_LEFT ? me : ms);
			start = st->keep == KEEP_RIGHT ? ms : me;
			from = me;
			if (me == ms) {                /* empty match: step one character */
				from = ms + 1;
				while (from < len && split_is_cont((unsigned char)t[from]))
					from++;
			}
		}
		pcre2_match_data_free(md);
	}
	add_piece(&pc, start, len);
	*out = split_rows_table(&r);
	return 0;
}

/* SplitBySeparators{ separators_regex, keep_separator, include_empty, trim }(text)
 * -> table[location]{text, start, end}. */
const coco_function_ops coco_fn_split_by_separators = {
	.name = "SplitBySeparators",
	.spec_opts = sbs_opts,
	.args = sbs_args,
	.prepare = sbs_prepare,
	.call = sbs_call,
	.destroy = sbs_destroy,
};
