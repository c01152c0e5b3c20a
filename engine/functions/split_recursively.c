/* SplitRecursively: split a text into chunks of at most chunk_size bytes,
 * cutting at the strongest separator available.
 *
 * Three engines, by language:
 *   - markdown and plain text (this file): headings, code fences, blank
 *     lines, line breaks, sentence ends, words, characters;
 *   - built-in code languages (split_langs.c, split_code.c): top-level
 *     definitions, inner definitions and blocks, blank lines, lines,
 *     tokens, characters;
 *   - custom_languages: separator regexes, strongest first (split_code.c).
 * `language` is a name or a file extension; unknown is plain text.
 *
 * The markdown/text engine:
 * The splitter is greedy and single-pass. From the current start s it looks
 * at the window of candidate ends (s + min_chunk_size, s + chunk_size] and
 * takes the strongest boundary there, the farthest among equals. Line
 * boundaries are found by scanning the window backwards with memrchr; the
 * window is only scanned byte by byte when it holds no line break. A
 * boundary sits just after its separator, so chunks tend to start at a line
 * start; chunks are then trimmed of surrounding whitespace.
 *
 * Output rows point into the input text (zero copy): the caller keeps the
 * input alive as long as the result. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/functions/split_int.h"
#include "engine/functions/json.h"
#include "engine/sys.h"

/* ---- languages --------------------------------------------------------- */

/* Kinds of separator. A language lists the kinds it uses, strongest first;
 * the character boundary is always the implicit last resort. */
typedef enum sep_kind {
	SEP_HEADING,    /* before a "#{arg} " line (arg: 1-6), outside code blocks */
	SEP_FENCE,      /* before an opening ``` line, after a closing one */
	SEP_BLANK,      /* after a whitespace-only line */
	SEP_LINE,       /* after any '\n' */
	SEP_SENTENCE,   /* after [.!?] + whitespace, or after 。！？ */
	SEP_WORD,       /* after whitespace */
} sep_kind;

typedef struct sep_level {
	sep_kind kind;
	int arg;
} sep_level;

typedef struct split_lang {
	const char *name;
	const char *const *aliases;   /* other names and file extensions (no dot) */
	const sep_level *levels;      /* strongest first */
	size_t nlevels;
} split_lang;

static const sep_level md_levels[] = {
	{ SEP_HEADING, 1 }, { SEP_HEADING, 2 }, { SEP_HEADING, 3 },
	{ SEP_HEADING, 4 }, { SEP_HEADING, 5 }, { SEP_HEADING, 6 },
	{ SEP_FENCE, 0 }, { SEP_BLANK, 0 }, { SEP_LINE, 0 },
	{ SEP_SENTENCE, 0 }, { SEP_WORD, 0 },
};
static const char *const md_aliases[] = { "md", "mdx", "markdown", "mdown", "mdwn",
	"mkd", "mkdn", "mkdown", "livemd", "ronn", "workbook", NULL };

static const sep_level text_levels[] = {
	{ SEP_BLANK, 0 }, { SEP_LINE, 0 }, { SEP_SENTENCE, 0 }, { SEP_WORD, 0 },
};
static const char *const text_aliases[] = { "txt", "plain", "plaintext", NULL };

#define NELEM(a) SPLIT_NELEM(a)

static const split_lang split_langs[] = {
	{ "markdown", md_aliases, md_levels, NELEM(md_levels) },
	{ "text", text_aliases, text_levels, NELEM(text_levels) },
};
#define LANG_TEXT (&split_langs[1])

static int name_eq(const char *name, const char *s, size_t n)
{
	return strlen(name) == n && !strncasecmp(name, s, n);
}

/* Custom languages of one use of SplitRecursively (its prepare state). */
typedef struct split_state {
	split_regex_lang *langs;
	size_t nlangs;
} split_state;

/* A resolved language: exactly one of the three is set. */
typedef struct lang_ref {
	const split_lang *text;
	const split_code_lang *code;
	const split_regex_lang *rx;
} lang_ref;

/* The language named s (a name or a file extension, case-insensitive,
 * with or without a leading dot): a custom language first, then a
 * built-in one; plain text when unknown or NULL. */
static lang_ref lang_find(const split_state *st, const char *s, size_t n)
{
	lang_ref r = { LANG_TEXT, NULL, NULL };
	if (!s)
		return r;
	if (n && s[0] == '.')
		s++, n--;
	for (size_t i = 0; st && i < st->nlangs; i++) {
		const split_regex_lang *l = &st->langs[i];
		int hit = name_eq(l->name, s, n);
		for (size_t k = 0; !hit && k < l->naliases; k++)
			hit = name_eq(l->aliases[k], s, n);
		if (hit) {
			r.text = NULL;
			r.rx = l;
			return r;
		}
	}
	for (size_t i = 0; i < NELEM(split_langs); i++) {
		const split_lang *l = &split_langs[i];
		if (name_eq(l->name, s, n)) {
			r.text = l;
			return r;
		}
		for (const char *const *a = l->aliases; *a; a++)
			if (name_eq(*a, s, n)) {
				r.text = l;
				return r;
			}
	}
	for (size_t i = 0; i < split_code_nlangs; i++) {
		const split_code_lang *l = &split_code_langs[i];
		int hit = name_eq(l->name, s, n);
		for (const char *const *a = l->aliases; !hit && *a; a++)
			hit = name_eq(*a, s, n);
		if (hit) {
			r.text = NULL;
			r.code = l;
			return r;
		}
	}
	return r;
}

/* Strength of each separator kind in a language: nlevels - index for the
 * kinds it uses, 0 (no better than a character boundary) for the others. */
typedef struct strengths {
	unsigned char heading[7];     /* by level 1-6 */
	unsigned char fence, blank, line, sentence, word;
	unsigned char has_heading;
} strengths;

static void lang_strengths(const split_lang *l, strengths *st)
{
	memset(st, 0, sizeof *st);
	for (size_t i = 0; i < l->nlevels; i++) {
		unsigned char v = (unsigned char)(l->nlevels - i);
		const sep_level *lv = &l->levels[i];
		switch (lv->kind) {
		case SEP_HEADING:
			if (lv->arg >= 1 && lv->arg <= 6) {
				st->heading[lv->arg] = v;
				st->has_heading = 1;
			}
			break;
		case SEP_FENCE: st->fence = v; break;
		case SEP_BLANK: st->blank = v; break;
		case SEP_LINE: st->line = v; break;
		case SEP_SENTENCE: st->sentence = v; break;
		case SEP_WORD: st->word = v; break;
		}
	}
}

/* ---- the splitter ------------------------------------------------------ */

/* A fenced code block: [open, close) from the start of its opening ```
 * line to just past its closing ``` line (or the end of the text). */
typedef struct code_block {
	size_t open, close;
} code_block;

typedef struct splitter {
	const char *t;
	size_t len;                   /* the whole text */
	size_t n;                     /* text end, trailing whitespace trimmed */
	size_t cs, min, overlap;
	strengths st;
	code_block *code;             /* malloc'd, sorted */
	size_t ncode, ci;             /* ci: first block that may touch the window */
} splitter;

#define is_ws split_is_ws

static size_t skip_ws(const splitter *sp, size_t i)
{
	while (i < sp->n && is_ws((unsigned char)sp->t[i]))
		i++;
	return i;
}

/* Start of the line holding i if it begins with up to 3 spaces and then
 * "```"; else (size_t)-1. */
static size_t fence_line_start(const char *t, size_t i)
{
	size_t j = i, sp = 0;
	while (j > 0 && t[j - 1] == ' ' && sp < 4)
		j--, sp++;
	if (sp > 3 || (j > 0 && t[j - 1] != '\n'))
		return (size_t)-1;
	return j;
}

/* Find the fenced code blocks of a markdown text. A closing fence is a
 * ``` line with nothing but whitespace after the backticks. */
static void find_code_blocks(splitter *sp)
{
	const char *t = sp->t;
	size_t len = sp->len, pos = 0, cap = 0, open = 0;
	int in_code = 0;
	const char *hit;
	while (pos + 3 <= len && (hit = memchr(t + pos, '`', len - pos - 2))) {
		size_t i = (size_t)(hit - t);
		if (hit[1] != '`' || hit[2] != '`') {
			pos = i + 1 + (hit[1] == '`');
			continue;
		}
		size_t ls = fence_line_start(t, i);
		if (ls == (size_t)-1) {
			pos = i + 3;
			continue;
		}
		const char *nl = memchr(hit, '\n', len - i);
		size_t le = nl ? (size_t)(nl - t) + 1 : len;
		if (!in_code) {
			open = ls;
			in_code = 1;
		} else {
			size_t k = i;
			while (k < le && t[k] == '`')
				k++;
			while (k < le && is_ws((unsigned char)t[k]))
				k++;
			if (k == le) {
				if (sp->ncode == cap) {
					cap = cap ? cap * 2 : 16;
					sp->code = coco_xrealloc(sp->code, cap * sizeof *sp->code);
				}
				sp->code[sp->ncode].open = open;
				sp->code[sp->ncode++].close = le;
				in_code = 0;
			}
		}
		pos = le;
	}
	if (in_code) {
		if (sp->ncode == cap) {
			sp->code = coco_xrealloc(sp->code, (cap + 1) * sizeof *sp->code);
		}
		sp->code[sp->ncode].open = open;
		sp->code[sp->ncode++].close = len;
	}
}

/* Heading level (1-6) of the line starting at p, or 0. */
static int heading_at(const splitter *sp, size_t p)
{
	const char *t = sp->t;
	size_t i = p, end = sp->len;
	while (i < end && i - p < 7 && t[i] == '#')
		i++;
	size_t h = i - p;
	if (h == 0 || h > 6 || i >= end || (t[i] != ' ' && t[i] != '\t'))
		return 0;
	return (int)h;
}

/* 1 if the line ending with the '\n' at q holds only whitespace. */
static int blank_before(const char *t, size_t q)
{
	while (q > 0) {
		unsigned char c = (unsigned char)t[q - 1];
		if (c == '\n')
			return 1;
		if (c != ' ' && c != '\t' && c != '\r')
			return 0;
		q--;
	}
	return 1;
}

/* Strength of the boundary at p, just after a '\n'. */
static unsigned line_strength(splitter *sp, size_t p)
{
	const strengths *st = &sp->st;
	unsigned s = st->line;
	if (st->blank > s && blank_before(sp->t, p - 1))
		s = st->blank;
	int in_code = 0;
	if (st->fence) {
		for (size_t k = sp->ci; k < sp->ncode && sp->code[k].open <= p; k++) {
			const code_block *b = &sp->code[k];
			if (p == b->open || p == b->close) {
				if (st->fence > s)
					s = st->fence;
			} else if (p < b->close) {
				in_code = 1;
			}
		}
	}
	if (st->has_heading && !in_code && sp->t[p] == '#') {
		int h = heading_at(sp, p);
		if (h && st->heading[h] > s)
			s = st->heading[h];
	}
	return s;
}

/* The end of a chunk: the strongest boundary in (lo, hi], the farthest
 * among equals; else the last character boundary in (base, hi]; else
 * (only when chunk_size < 4 and a character is wider) the first character
 * boundary after base. base is the first byte the chunk must take: its
 * start, or with overlap the first byte the previous chunk left out.
 * Requires base <= lo <= hi < sp->n and base < hi. */
static size_t find_end(splitter *sp, size_t base, size_t lo, size_t hi)
{
	const char *t = sp->t;
	const strengths *st = &sp->st;
	size_t best = 0;
	unsigned best_s = 0;

	/* Skip code blocks that ended before the window. */
	while (sp->ci < sp->ncode && sp->code[sp->ci].close < lo)
		sp->ci++;

	/* Line boundaries: p = q + 1 for each '\n' at q in [lo, hi). */
	if (st->line || st->blank || st->fence || st->has_heading) {
		size_t top = hi;
		const char *q;
		while (top > lo && (q = memrchr(t + lo, '\n', top - lo))) {
			size_t p = (size_t)(q - t) + 1;
			unsigned v = line_strength(sp, p);
			if (v > best_s) {
				best_s = v;
				best = p;
			}
			top = p - 1;
		}
	}

	/* Sentence ends and words, only when they could beat what was found. */
	unsigned sw = st->sentence > st->word ? st->sentence : st->word;
	if (best_s < sw) {
		size_t word = 0;
		for (size_t p = hi; p > lo; p--) {
			unsigned char c = (unsigned char)t[p - 1];
			if (is_ws(c)) {
				if (!word)
					word = p;
				if (st->sentence && p >= 2 && (t[p - 2] == '.' || t[p - 2] == '!' || t[p - 2] == '?')) {
					if (st->sentence > best_s)
						best_s = st->sentence, best = p;
					break;
				}
			} else if (st->sentence && p >= 3 && (c == 0x82 || c == 0x81 || c == 0x9F)) {
				/* 。(E3 80 82) ！(EF BC 81) ？(EF BC 9F) */
				const unsigned char *u = (const unsigned char *)t + p - 3;
				if ((u[0] == 0xE3 && u[1] == 0x80 && u[2] == 0x82) ||
				    (u[0] == 0xEF && u[1] == 0xBC && (u[2] == 0x81 || u[2] == 0x9F))) {
					if (st->sentence > best_s)
						best_s = st->sentence, best = p;
					break;
				}
			}
		}
		if (word && st->word > best_s)
			best_s = st->word, best = word;
	}
	if (best_s)
		return best;

	/* Last resort: a character boundary. */
	return split_char_cut(t, sp->n, base, hi);
}

/* Where the chunk after [ps, pe) starts when chunks overlap: the earliest
 * word start in [max(pe - overlap, ps + 1), pe), else the first character
 * boundary there. */
static size_t overlap_start(const splitter *sp, size_t ps, size_t pe)
{
	size_t t0 = split_overlap_from(ps, pe, sp->overlap);
	return t0 >= pe ? pe : split_word_start(sp->t, t0, pe);
}

/* Split t[0, len) into r. Parameters already validated. */
static void split_text(const char *t, size_t len, const split_lang *lang, size_t cs,
	size_t min, size_t overlap, split_rows *r)
{
	splitter sp = { .t = t, .len = len, .n = len, .cs = cs, .min = min, .overlap = overlap };
	lang_strengths(lang, &sp.st);
	while (sp.n > 0 && is_ws((unsigned char)t[sp.n - 1]))
		sp.n--;
	/* a guess at the number of chunks (most come close to cs), not a
	 * bound: it sizes the first blocks of rows (split_rows.c) */
	split_rows_init(r, r->a, len / (cs ? cs : 1) + 16);
	if (sp.st.fence || sp.st.has_heading)
		find_code_blocks(&sp);

	split_lc cur_s, cur_e;
	split_lc_init(&cur_s);
	split_lc_init(&cur_e);
	size_t s = skip_ws(&sp, 0), base = s;
	while (s < sp.n) {
		size_t e;
		if (sp.n - s <= cs) {
			e = sp.n;
		} else {
			size_t lo = s + min > base ? s + min : base;
			e = find_end(&sp, base, lo, s + cs);
		}
		while (e > s && is_ws((unsigned char)t[e - 1]))
			e--;
		if (!overlap)
			cur_s = cur_e;        /* s is past the previous end */
		split_lc_move(t, &cur_s, s);
		split_lc_move(t, &cur_e, e);
		split_rows_add(r, t, s, e, &cur_s, &cur_e);
		if (e >= sp.n)
			break;
		size_t next = skip_ws(&sp, e);
		if (overlap) {
			/* The next chunk must reach past `next`, the first byte not
			 * yet covered: require room for a whole character there. */
			size_t o = overlap_start(&sp, s, e);
			s = (o < e && o + cs >= next + 4) ? o : next;
			base = next;
		} else {
			s = base = next;
		}
	}
	free(sp.code);
}

/* ---- the function -------------------------------------------------------- */

enum { A_TEXT, A_CHUNK_SIZE, A_MIN_CHUNK_SIZE, A_CHUNK_OVERLAP, A_LANGUAGE, A_COUNT };

static const coco_argdef split_args[] = {
	{ "text", 1u << COCO_STR, 1 },
	{ "chunk_size", 1u << COCO_INT64, 1 },
	{ "min_chunk_size", 1u << COCO_INT64, 0 },
	{ "chunk_overlap", 1u << COCO_INT64, 0 },
	{ "language", 1u << COCO_STR, 0 },
	{ NULL, 0, 0 },
};

static const coco_optdef split_opts[] = {
	{ "custom_languages", COCO_OPT_JSON, 0,
	  "extra languages: {{ language_name =, separators_regex = {...}, aliases = {...} }}" },
	{ NULL, 0, 0, NULL },
};

/* Reads an integer argument; 0 if v is absent/null, 1 if set, -1 if not an
 * integer. */
static int get_int(const coco_value *v, int64_t *out)
{
	if (!v || v->kind == COCO_NULL)
		return 0;
	if (v->kind == COCO_INT64) {
		*out = v->u.i;
		return 1;
	}
	if (v->kind == COCO_FLOAT64 || v->kind == COCO_FLOAT32) {
		double d = v->u.f;
		if (d >= -9e18 && d <= 9e18 && d == (double)(int64_t)d) {
			*out = (int64_t)d;
			return 1;
		}
	}
	return -1;
}

/* Check the size arguments; any of them may be unknown (NULL or null).
 * Fills the effective values when chunk_size is known. */
static int check_sizes(const coco_value *vcs, const coco_value *vmin, const coco_value *vov,
	int64_t *cs, int64_t *min, int64_t *ov, char **err)
{
	int hcs = get_int(vcs, cs), hmin = get_int(vmin, min), hov = get_int(vov, ov);
	if (hcs < 0)
		return coco_seterr(err, "SplitRecursively: chunk_size must be an integer");
	if (hmin < 0)
		return coco_seterr(err, "SplitRecursively: min_chunk_size must be an integer");
	if (hov < 0)
		return coco_seterr(err, "SplitRecursively: chunk_overlap must be an integer");
	if (hcs && *cs <= 0)
		return coco_seterr(err, "SplitRecursively: chunk_size must be > 0, got %lld", (long long)*cs);
	if (hmin && *min < 0)
		return coco_seterr(err, "SplitRecursively: min_chunk_size must be >= 0, got %lld",
			(long long)*min);
	if (hmin && hcs && *min > *cs)
		return coco_seterr(err, "SplitRecursively: min_chunk_size must be <= chunk_size (%lld), got %lld",
			(long long)*cs, (long long)*min);
	if (hov && *ov < 0)
		return coco_seterr(err, "SplitRecursively: chunk_overlap must be >= 0, got %lld",
			(long long)*ov);
	if (hov && hcs && *ov >= *cs)
		return coco_seterr(err, "SplitRecursively: chunk_overlap must be < chunk_size (%lld), got %lld",
			(long long)*cs, (long long)*ov);
	if (hcs) {
		if (!hmin)
			*min = *cs / 2;
		if (!hov)
			*ov = 0;
	}
	return hcs;
}

/* ---- custom languages ------------------------------------------------------ */

static void state_free(split_state *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->nlangs; i++) {
		split_regex_lang *l = &st->langs[i];
		free(l->name);
		for (size_t k = 0; k < l->naliases; k++)
			free(l->aliases[k]);
		free(l->aliases);
		for (size_t k = 0; k < l->nre; k++)
			pcre2_code_free(l->re[k]);
		free(l->re);
	}
	free(st->langs);
	free(st);
}

/* A JSON list of strings, decoded into a malloc'd array. */
static int str_list(const char *v, size_t nv, char ***out, size_t *nout, const char *what, char **err)
{
	coco_json_iter it;
	if (coco_json_iter_init(&it, v, nv) != '[')
		return coco_seterr(err, "%s must be a list of strings", what);
	const char *e;
	size_t ne;
	size_t cap = 0;
	while (coco_json_iter_next(&it, NULL, NULL, &e, &ne)) {
		coco_buf b = { 0 };
		if (coco_json_str_decode(e, ne, &b) < 0) {
			coco_buf_free(&b);
			return coco_seterr(err, "%s must be a list of strings", what);
		}
		if (*nout == cap) {
			cap = cap ? cap * 2 : 4;
			*out = coco_xrealloc(*out, cap * sizeof **out);
		}
		coco_buf_putc(&b, 0);
		(*out)[(*nout)++] = coco_buf_take(&b);
	}
	return 0;
}

/* Read custom_languages (JSON text):
 *   [{ "language_name": "x", "separators_regex": ["...", ...], "aliases": ["..."] }]
 *   "custom_languages[1] (bash): separators_regex[2]: '(x' is not a valid regex: ..." */
static int parse_custom(const char *json, split_state *st, char **err)
{
	size_t at;
	const char *msg;
	size_t n = strlen(json);
	if (coco_json_check(json, n, &at, &msg) < 0)
		return coco_seterr(err, "custom_languages: invalid JSON at byte %zu: %s", at, msg);
	coco_json_iter it;
	int kind = coco_json_iter_init(&it, json, n);
	if (kind != '[')
		return coco_seterr(err, "custom_languages must be a list of "
			"{ language_name =, separators_regex = {...}, aliases = {...} }");
	const char *v;
	size_t nv, cap = 0;
	for (size_t idx = 1; coco_json_iter_next(&it, NULL, NULL, &v, &nv); idx++) {
		coco_json_iter m;
		if (coco_json_iter_init(&m, v, nv) != '{')
			return coco_seterr(err, "custom_languages[%zu] must be a table "
				"{ language_name =, separators_regex = {...}, aliases = {...} }", idx);
		if (st->nlangs == cap) {
			cap = cap ? cap * 2 : 4;
			st->langs = coco_xrealloc(st->langs, cap * sizeof *st->langs);
		}
		split_regex_lang *l = &st->langs[st->nlangs++];
		memset(l, 0, sizeof *l);
		const char *k, *mv;
		size_t nk, nmv;
		const char *seps = NULL;
		size_t nseps = 0;
		char what[64];
		while (coco_json_iter_next(&m, &k, &nk, &mv, &nmv)) {
			if (coco_json_key_eq(k, nk, "language_name", 13)) {
				coco_buf b = { 0 };
				if (coco_json_str_decode(mv, nmv, &b) < 0 || b.n == 0) {
					coco_buf_free(&b);
					return coco_seterr(err, "custom_languages[%zu]: language_name must be a "
						"non-empty string", idx);
				}
				coco_buf_putc(&b, 0);
				free(l->name);
				l->name = coco_buf_take(&b);
			} else if (coco_json_key_eq(k, nk, "separators_regex", 16)) {
				seps = mv;
				nseps = nmv;
			} else if (coco_json_key_eq(k, nk, "aliases", 7)) {
				snprintf(what, sizeof what, "custom_languages[%zu]: aliases", idx);
				if (str_list(mv, nmv, &l->aliases, &l->naliases, what, err) < 0)
					return -1;
			} else {
				return coco_seterr(err, "custom_languages[%zu]: unknown key %.*s; keys: "
					"language_name, separators_regex, aliases", idx, (int)nk, k);
			}
		}
		if (!l->name)
			return coco_seterr(err, "custom_languages[%zu]: missing language_name", idx);
		if (!seps)
			return coco_seterr(err, "custom_languages[%zu] (%s): missing separators_regex",
				idx, l->name);
		char **pats = NULL;
		size_t npats = 0;
		snprintf(what, sizeof what, "custom_languages[%zu] (%.20s): separators_regex", idx, l->name);
		int rc = str_list(seps, nseps, &pats, &npats, what, err);
		if (rc == 0 && npats == 0)
			rc = coco_seterr(err, "%s is empty; give at least one regex", what);
		if (rc == 0 && npats > 64)
			rc = coco_seterr(err, "%s has %zu regexes; at most 64", what, npats);
		if (rc == 0) {
			l->re = coco_xcalloc(npats, sizeof *l->re);
		}
		for (size_t i = 0; rc == 0 && i < npats; i++) {
			char *e = NULL;
			l->re[i] = split_regex_compile(pats[i], strlen(pats[i]), &e);
			if (!l->re[i]) {
				rc = coco_seterr(err, "%s[%zu]: %s", what, i + 1, e);
				free(e);
			} else {
				l->nre++;
			}
		}
		for (size_t i = 0; i < npats; i++)
			free(pats[i]);
		free(pats);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* prepare: checks constant sizes, compiles custom_languages and returns
 * the row type
 * table[location: range]{text: str, start: struct{offset, line, column}, end: ...}.
 *   "SplitRecursively: chunk_size must be > 0, got 0" */
static int split_prepare(const coco_optval *spec, void *udata, const coco_arg_info *args,
	size_t nargs, coco_arena *types, const coco_type **out, void **state, char **err)
{
	const coco_value *k[A_COUNT] = { 0 };
	for (size_t i = 0; i < nargs && i < A_COUNT; i++)
		k[i] = args[i].konst;
	int64_t cs, min, ov;
	if (check_sizes(k[A_CHUNK_SIZE], k[A_MIN_CHUNK_SIZE], k[A_CHUNK_OVERLAP], &cs, &min, &ov, err) < 0)
		return -1;
	*state = NULL;
	if (spec && spec[0].set && spec[0].s) {
		split_state *st = coco_xcalloc(1, sizeof *st);
		char *e = NULL;
		if (parse_custom(spec[0].s, st, &e) < 0) {
			coco_seterr(err, "SplitRecursively: %s", e);
			free(e);
			state_free(st);
			return -1;
		}
		*state = st;
	}
	*out = split_row_type(types);
	return 0;
}

/* call: split args[text]; null text gives a null result. */
static int split_call(void *state, const coco_value *args, size_t nargs, coco_arena *a,
	coco_value *out, char **err)
{
	const coco_value *v[A_COUNT] = { 0 };
	for (size_t i = 0; i < nargs && i < A_COUNT; i++)
		v[i] = &args[i];
	int64_t cs, min, ov;
	int h = check_sizes(v[A_CHUNK_SIZE], v[A_MIN_CHUNK_SIZE], v[A_CHUNK_OVERLAP], &cs, &min, &ov, err);
	if (h < 0)
		return -1;
	if (h == 0)
		return coco_seterr(err, "SplitRecursively: chunk_size is null");
	const coco_value *text = v[A_TEXT];
	if (!text || text->kind == COCO_NULL) {
		*out = coco_v_null();
		return 0;
	}
	if (text->kind != COCO_STR)
		return coco_seterr(err, "SplitRecursively: text must be a string, got %s",
			coco_kind_name((coco_kind)text->kind));
	lang_ref lang = { LANG_TEXT, NULL, NULL };
	const coco_value *lv = v[A_LANGUAGE];
	if (lv && lv->kind == COCO_STR)
		lang = lang_find(state, lv->u.s, lv->n);
	else if (lv && lv->kind != COCO_NULL)
		return coco_seterr(err, "SplitRecursively: language must be a string, got %s",
			coco_kind_name((coco_kind)lv->kind));

	split_rows r = { .a = a };
	if (lang.text) {
		split_text(text->u.s, text->n, lang.text, (size_t)cs, (size_t)min, (size_t)ov, &r);
	} else {
		char *e = NULL;
		if (split_code(text->u.s, text->n, lang.code, lang.rx, (size_t)cs, (size_t)min, (size_t)ov,
		    &r, &e) < 0) {
			coco_seterr(err, "SplitRecursively: %s", e ? e : "failed");
			free(e);
			return -1;
		}
	}
	*out = split_rows_table(&r);
	return 0;
}

static void split_destroy(void *state)
{
	state_free(state);
}

/* SplitRecursively{ custom_languages }(text, chunk_size, [min_chunk_size],
 * [chunk_overlap], [language]) -> table[location]{text, start, end}. */
const coco_function_ops coco_fn_split_recursively = {
	.name = "SplitRecursively",
	.spec_opts = split_opts,
	.args = split_args,
	.prepare = split_prepare,
	.call = split_call,
	.destroy = split_destroy,
};
