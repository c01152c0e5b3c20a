/* The code splitter of SplitRecursively: built-in code languages and
 * languages given by separator regexes (custom_languages).
 *
 * Boundaries. A generator reads the text forward once and yields
 * boundaries (a position where a chunk may end, with a strength) in
 * increasing order into a queue that holds only the part of the text the
 * splitter is looking at, so memory stays small and time linear.
 *
 *   Built-in languages: one boundary per non-blank line, at the start of
 *   the line, or at the start of the blank lines before it. Its strength
 *   says what the line starts:
 *     S_TOP     a unit at depth 0 (a function, a class, an impl, a section,
 *               a top-level statement), S_TOP_BLANK with blank lines before;
 *     S_IN      a unit at depth 1 (a method, a member, a statement of a
 *               function body), S_IN_BLANK with blank lines before;
 *     S_BLANK   any other line after blank lines;
 *     S_DEEP    a unit deeper down;
 *     S_LINE    any other line (a continuation, a closing brace, a line
 *               inside a comment or a multi-line string).
 *   Depth is the line's indentation, counted as a stack of indent widths
 *   (as Python's tokenizer does), so 2-space, 4-space and tab styles read
 *   the same. A line starts a unit at its depth when the previous line at
 *   that depth completed a statement (ends with ; or } in C-like languages,
 *   with anything but an operator or an open bracket elsewhere) or a deeper
 *   block just ended; not when the previous line is a comment, a decorator
 *   or an attribute (they belong to what follows), nor when the line
 *   itself continues a construct (}, ), else, end, .method(), </tag>).
 *   Comments and strings that span lines are followed so that their lines
 *   start nothing.
 *
 *   Regex languages: a boundary at the start of each match of each
 *   separator regex; the first regex gives the strongest boundaries.
 *
 * Choosing a chunk's end. From the chunk start s, the end is the
 * strongest boundary in (s + min_chunk_size, s + chunk_size], the farthest
 * among equals; then, below it, whitespace and punctuation (tokens); then
 * a character boundary. One exception keeps definitions whole: when the
 * unit of a keep level (S_IN and above; a regex language's first regex)
 * that holds s + chunk_size starts after s, before the window, and fits in
 * chunk_size, the chunk ends where that unit starts, so the next chunk
 * holds the unit whole; the highest such level wins.
 *
 * Chunks are trimmed of whitespace at the end; at the start only up to
 * the line's indentation, so a chunk that starts a line keeps its
 * indentation. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "engine/functions/split_int.h"
#include "engine/sys.h"

#define NONE ((size_t)-1)

enum {
	S_LINE = 1, S_DEEP, S_BLANK, S_IN_ATT, S_IN, S_IN_BLANK, S_TOP_ATT, S_TOP, S_TOP_BLANK,
};

/* Lexer states at a line start. */
enum { LX_CODE, LX_BLOCK, LX_TDQ, LX_TSQ, LX_BT, LX_MC };

/* What the previous non-blank line leaves for the next one: a complete
 * statement, a statement that goes on, a comment, a decorator or an
 * attribute (both belong to what follows), an opened block ({ or :). */
enum { K_COMPLETE, K_INCOMPLETE, K_COMMENT, K_ATTACH, K_OPEN };

#define MAX_LEVELS 64
#define MAX_INDENT 64

typedef struct eng {
	const char *t;
	size_t len, n;                /* n: text end, trailing whitespace trimmed */
	size_t cs, min, overlap;
	int keep_min, max_str;

	/* queue of boundaries (pos << 8 | strength), increasing pos */
	uint64_t *q;
	size_t qhead, qn, qcap;       /* ring buffer; qcap a power of 2 */

	int done;                     /* the generator has nothing more */

	/* built-in languages: the line scanner */
	const split_code_lang *lang;
	unsigned flags;
	unsigned char tab[256];       /* bytes the lexer stops at */
	size_t pos;                   /* start of the next line to read */
	int lex;
	size_t blank_start;           /* start of the blank lines before pos */
	int have_prev, p_depth, p_kind;
	uint16_t ind[MAX_INDENT];
	int nind;

	/* regex languages */
	const split_regex_lang *rx;
	pcre2_match_data *md;
	size_t next[MAX_LEVELS], from[MAX_LEVELS];
	char **err;
	int failed;
} eng;

/* ---- the boundary queue -------------------------------------------------- */

static void q_push(eng *e, size_t pos, int str)
{
	if (e->qn == e->qcap) {
		size_t nc = e->qcap ? e->qcap * 2 : 256;
		uint64_t *v = coco_xmalloc(nc * sizeof *v);
		for (size_t i = 0; i < e->qn; i++)
			v[i] = e->q[(e->qhead + i) & (e->qcap - 1)];
		free(e->q);
		e->q = v;
		e->qhead = 0;
		e->qcap = nc;
	}
	e->q[(e->qhead + e->qn++) & (e->qcap - 1)] = ((uint64_t)pos << 8) | (uint64_t)str;
}

static inline uint64_t q_at(const eng *e, size_t i)
{
	return e->q[(e->qhead + i) & (e->qcap - 1)];
}

#define B_POS(b) ((size_t)((b) >> 8))
#define B_STR(b) ((int)((b) & 0xff))

/* Drop the boundaries at or before x. */
static void q_drop(eng *e, size_t x)
{
	while (e->qn && B_POS(q_at(e, 0)) <= x) {
		e->qhead = (e->qhead + 1) & (e->qcap - 1);
		e->qn--;
	}
}

/* ---- built-in languages: the line scanner ------------------------------ */

static int is_ident(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		c == '_' || c >= 0x80;
}

/* Lex t[i, j), a line's content, from state e->lex. Returns where a
 * trailing comment starts (j if none). */
static size_t lex_line(eng *e, size_t i, size_t j)
{
	const char *t = e->t;
	const unsigned char *tab = e->tab;
	unsigned f = e->flags;
	size_t cut = NONE;
	const char *q;
	while (i < j) {
		switch (e->lex) {
		case LX_BLOCK:
		case LX_MC: {
			int mc = e->lex == LX_MC;
			q = memmem(t + i, j - i, mc ? "-->" : "*/", mc ? 3 : 2);
			if (!q)
				goto out;
			i = (size_t)(q - t) + (mc ? 3 : 2);
			e->lex = LX_CODE;
			size_t k = i;
			while (k < j && (t[k] == ' ' || t[k] == '\t'))
				k++;
			if (k < j)
				cut = NONE;           /* code goes on after the comment */
			break;
		}
		case LX_TDQ:
		case LX_TSQ:
			q = memmem(t + i, j - i, e->lex == LX_TDQ ? "\"\"\"" : "'''", 3);
			if (!q)
				goto out;
			i = (size_t)(q - t) + 3;
			e->lex = LX_CODE;
			break;
		case LX_BT:
			while (i < j && t[i] != '`')
				i += t[i] == '\\' ? 2 : 1;
			if (i >= j)
				goto out;
			i++;
			e->lex = LX_CODE;
			break;
		default: {
			while (i < j && !tab[(unsigned char)t[i]])
				i++;
			if (i >= j)
				goto out;
			unsigned char c = (unsigned char)t[i];
			unsigned char c1 = i + 1 < j ? (unsigned char)t[i + 1] : 0;
			switch (c) {
			case '/':
				if ((f & CL_SLASH) && c1 == '/') {
					if (cut == NONE)
						cut = i;
					goto out;
				}
				if ((f & CL_SLASH) && c1 == '*') {
					if (cut == NONE)
						cut = i;
					e->lex = LX_BLOCK;
					i += 2;
					break;
				}
				i++;
				break;
			case '#':
				if (f & CL_HASH) {
					if (cut == NONE)
						cut = i;
					goto out;
				}
				i++;
				break;
			case '-':
				if ((f & CL_DASH) && c1 == '-') {
					if (cut == NONE)
						cut = i;
					goto out;
				}
				i++;
				break;
			case '<':
				if ((f & CL_MARKUP) && j - i >= 4 && !memcmp(t + i, "<!--", 4)) {
					if (cut == NONE)
						cut = i;
					e->lex = LX_MC;
					i += 4;
					break;
				}
				i++;
				break;
			case '`':
				i++;
				if (f & CL_BACKTICK)
					e->lex = LX_BT;
				break;
			case '"':
			case '\'':
				if (((f & CL_TRIPLE) || ((f & CL_TRIPLE_DQ) && c == '"')) && c1 == c &&
				    i + 2 < j && (unsigned char)t[i + 2] == c) {
					e->lex = c == '"' ? LX_TDQ : LX_TSQ;
					i += 3;
					break;
				}
				/* a string on this line */
				i++;
				while (i < j && (unsigned char)t[i] != c)
					i += t[i] == '\\' ? 2 : 1;
				if (i >= j)
					goto out;
				i++;
				break;
			default:
				i++;
			}
		}
		}
	}
out:
	return cut == NONE ? j : cut;
}

static int starts_word(const char *t, size_t i, size_t j, const char *w)
{
	size_t n = strlen(w);
	return j - i >= n && !memcmp(t + i, w, n) && (i + n == j || !is_ident((unsigned char)t[i + n]));
}

/* Does the line t[i, j) continue a construct rather than start one? */
static int is_closer(const eng *e, size_t i, size_t j)
{
	const char *t = e->t;
	unsigned char c = (unsigned char)t[i], c1 = i + 1 < j ? (unsigned char)t[i + 1] : 0;
	switch (c) {
	case '}': case ')': case ']': case '?':
		return 1;
	case '{':
		return (e->flags & CL_SLASH) != 0;   /* the body after a signature */
	case ':':
		return c1 != ':' && t[j - 1] != '{';
	case '.':
		return is_ident(c1) && !(c1 >= '0' && c1 <= '9');
	case '&':
		return c1 == '&';
	case '|':
		return c1 == '|';
	case '<':
		return c1 == '/';
	case '-':
		return c1 == '-' && i + 2 < j && t[i + 2] == '>';
	case '#':
		if (e->flags & CL_PREPROC) {
			size_t k = i + 1;
			while (k < j && (t[k] == ' ' || t[k] == '\t'))
				k++;
			return starts_word(t, k, j, "endif") || starts_word(t, k, j, "else") ||
				starts_word(t, k, j, "elif") || starts_word(t, k, j, "elifdef") ||
				starts_word(t, k, j, "elifndef");
		}
		return 0;
	}
	if (e->lang->closers && (is_ident(c) || c == ';'))
		for (const char *const *w = e->lang->closers; *w; w++)
			if ((unsigned char)(*w)[0] == c && starts_word(t, i, j, *w))
				return 1;
	return 0;
}

/* What a line t[i, j) whose code ends at k leaves for the next line. */
static int line_kind(const eng *e, size_t i, size_t k, int comment_only)
{
	const char *t = e->t;
	unsigned f = e->flags;
	if (comment_only)
		return K_COMMENT;
	if (e->lex == LX_TDQ || e->lex == LX_TSQ || e->lex == LX_BT)
		return K_INCOMPLETE;          /* a string goes on */
	unsigned char c = (unsigned char)t[i], c1 = i + 1 < k ? (unsigned char)t[i + 1] : 0;
	unsigned char lc = (unsigned char)t[k - 1];
	if (lc == '\\')
		return K_INCOMPLETE;
	if (c == '@' && lc != '{' && lc != ';')
		return K_ATTACH;              /* decorator, annotation */
	if (c == '#' && !(f & (CL_HASH | CL_PREPROC)) && (c1 == '[' || c1 == '!'))
		return K_ATTACH;              /* Rust attribute */
	if ((f & CL_ATTR) && c == '[' && lc == ']')
		return K_ATTACH;              /* C# attribute */
	if (c == 't' && lc == '>' && starts_word(t, i, k, "template"))
		return K_ATTACH;
	if ((f & CL_PREPROC) && c == '#')
		return K_COMPLETE;
	if (lc == '{' || (lc == ':' && (k < 2 || t[k - 2] != ':')))
		return K_OPEN;                /* a block, a label, case x:, public: */
	if (f & CL_STRICT)
		return lc == ';' || lc == '}' ? K_COMPLETE : K_INCOMPLETE;
	switch (lc) {
	case '(': case '[': case '=': case '+': case '-': case '*': case '/': case '%':
	case '&': case '|': case '^': case '?':
		return K_INCOMPLETE;
	}
	return K_COMPLETE;
}

static size_t trim_back(const eng *e, size_t lo, size_t x);

/* Read the line at e->pos; push its boundary. */
static void scan_line(eng *e)
{
	const char *t = e->t;
	size_t p = e->pos, len = e->len;
	const char *nl = memchr(t + p, '\n', len - p);
	size_t le = nl ? (size_t)(nl - t) : len;
	e->pos = nl ? le + 1 : len;
	if (e->pos >= len)
		e->done = 1;

	size_t i = p;
	unsigned w = 0;
	while (i < le && (t[i] == ' ' || t[i] == '\t')) {
		w = t[i] == '\t' ? (w + 8) & ~7u : w + 1;
		i++;
	}
	size_t j = le;
	while (j > i && split_is_ws((unsigned char)t[j - 1]))
		j--;
	if (i == j) {
		if (e->blank_start == NONE)
			e->blank_start = p;
		return;
	}
	int blank = e->blank_start != NONE && e->have_prev;
	size_t bpos = e->blank_start != NONE ? e->blank_start : p;
	e->blank_start = NONE;

	int lex0 = e->lex;
	size_t cut = lex_line(e, i, j);
	int str;
	if (lex0 != LX_CODE) {
		/* inside a comment or a string that spans lines */
		str = blank ? S_BLANK : S_LINE;
		if (e->lex == LX_TDQ || e->lex == LX_TSQ || e->lex == LX_BT)
			e->p_kind = K_INCOMPLETE;     /* the string goes on */
		else if (lex0 == LX_BLOCK || lex0 == LX_MC || e->lex != LX_CODE)
			e->p_kind = K_COMMENT;
		else                              /* the string ended: its statement? */
			e->p_kind = line_kind(e, i, trim_back(e, i, cut), 0);
	} else {
		int comment_only = cut == i;
		unsigned char c = (unsigned char)t[i];
		int directive = (e->flags & CL_PREPROC) && c == '#';
		int cont = e->have_prev && e->p_kind == K_INCOMPLETE;
		int d;
		if (cont || directive || (comment_only && !blank)) {
			/* Continuation lines, directives and comments do not move
			 * the depth; a comment after blank lines does (a comment
			 * at column 0 after a function body is at the top). */
			d = e->nind - 1;
		} else {
			while (e->nind > 1 && e->ind[e->nind - 1] > w)
				e->nind--;
			if (w > e->ind[e->nind - 1] && e->nind < MAX_INDENT)
				e->ind[e->nind++] = (uint16_t)(w > 65535 ? 65535 : w);
			d = e->nind - 1;
		}
		size_t k = cut;
		while (k > i && split_is_ws((unsigned char)t[k - 1]))
			k--;
		if (!comment_only && is_closer(e, i, j)) {
			str = S_LINE;
		} else if (!e->have_prev || d > e->p_depth || e->p_kind == K_OPEN) {
			str = blank ? S_BLANK : S_LINE;
		} else {
			int unit = blank || d < e->p_depth || e->p_kind == K_COMPLETE;
			/* after a comment: a unit that the comment belongs to, but
			 * that may go alone when both do not fit */
			int att = !unit && !comment_only && e->p_kind == K_COMMENT && d <= 1;
			if (unit && (e->flags & CL_STRICT) && !comment_only && t[k - 1] == ':' &&
			    (k < 2 || t[k - 2] != ':'))
				unit = 0;             /* a label, case x:, public: */
			if (att)
				str = d == 0 ? S_TOP_ATT : S_IN_ATT;
			else if (!unit)
				str = blank ? S_BLANK : S_LINE;
			else if ((e->flags & CL_SECTIONS) && d == 0)
				str = c == '[' ? (blank ? S_TOP_BLANK : S_TOP) : (blank ? S_IN_BLANK : S_IN);
			else if (d == 0)
				str = blank ? S_TOP_BLANK : S_TOP;
			else if (d == 1)
				str = blank ? S_IN_BLANK : S_IN;
			else
				str = blank ? S_BLANK : S_DEEP;
		}
		e->p_depth = d;
		e->p_kind = line_kind(e, i, k, comment_only);
	}
	e->have_prev = 1;
	if (bpos > 0)
		q_push(e, bpos, str);
}

/* ---- regex languages ----------------------------------------------------- */

/* Find the next match of level l at or after e->from[l]. */
static void rx_next(eng *e, size_t l)
{
	size_t from = e->from[l];
	if (from > e->len) {
		e->next[l] = NONE;
		return;
	}
	int rc = pcre2_match(e->rx->re[l], (PCRE2_SPTR)e->t, e->len, from, PCRE2_NO_UTF_CHECK, e->md, NULL);
	if (rc < 0) {
		if (rc != PCRE2_ERROR_NOMATCH && !e->failed) {
			PCRE2_UCHAR msg[256];
			pcre2_get_error_message(rc, msg, sizeof msg);
			coco_seterr(e->err, "language '%s': separators_regex[%zu] failed at byte %zu: %s",
				e->rx->name, l + 1, from, (const char *)msg);
			e->failed = 1;
		}
		e->next[l] = NONE;
		return;
	}
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
	size_t ms = ov[0], me = ov[1] > ov[0] ? ov[1] : ov[0];
	e->next[l] = ms;
	if (me == ms) {
		me = ms + 1;
		while (me < e->len && split_is_cont((unsigned char)e->t[me]))
			me++;
	}
	e->from[l] = me;
}

static void rx_fill(eng *e, size_t limit)
{
	size_t nre = e->rx->nre;
	while (!e->done) {
		size_t p = NONE;
		int str = 0;
		for (size_t l = 0; l < nre; l++) {
			if (e->next[l] < p) {
				p = e->next[l];
				str = (int)(nre - l);
			}
		}
		if (p == NONE) {
			e->done = 1;
			break;
		}
		if (p > limit)
			break;
		for (size_t l = 0; l < nre; l++)
			if (e->next[l] == p)
				rx_next(e, l);
		if (p > 0 && p < e->len)
			q_push(e, p, str);
	}
}

/* Generate every boundary at or before limit. */
static void fill(eng *e, size_t limit)
{
	if (e->rx) {
		rx_fill(e, limit);
		return;
	}
	while (!e->done && (e->pos <= limit || (e->blank_start != NONE && e->blank_start <= limit)))
		scan_line(e);
}

/* ---- choosing ends ------------------------------------------------------- */

static size_t skip_ws(const eng *e, size_t i)
{
	while (i < e->n && split_is_ws((unsigned char)e->t[i]))
		i++;
	return i;
}

/* Where a chunk after x starts: the next non-whitespace byte, with its
 * line's indentation when it starts a line. */
static size_t chunk_start(const eng *e, size_t x)
{
	const char *t = e->t;
	size_t k = skip_ws(e, x), m = k;
	while (m > x && (t[m - 1] == ' ' || t[m - 1] == '\t'))
		m--;
	return (m == 0 || t[m - 1] == '\n') && k - m <= e->cs / 4 ? m : k;
}

/* The first byte at or after x that is not whitespace (or the text end). */
static size_t ws_end(const eng *e, size_t x)
{
	while (x < e->len && split_is_ws((unsigned char)e->t[x]))
		x++;
	return x;
}

static size_t trim_back(const eng *e, size_t lo, size_t x)
{
	while (x > lo && split_is_ws((unsigned char)e->t[x - 1]))
		x--;
	return x;
}

/* Below line boundaries: the last token boundary in (lo, hi] (after
 * whitespace or , ; ) ] } >); else the last character boundary in
 * (base, hi]; else (only when chunk_size < 4 and a character is wider)
 * the first character boundary after base. */
static size_t subline(const eng *e, size_t base, size_t lo, size_t hi)
{
	const char *t = e->t;
	for (size_t p = hi; p > lo; p--) {
		unsigned char c = (unsigned char)t[p - 1];
		if (split_is_ws(c) || c == ',' || c == ';' || c == ')' || c == ']' || c == '}' || c == '>')
			return p;
	}
	return split_char_cut(t, e->n, base, hi);
}

/* The end of the chunk starting at s (see the top of the file). base: the
 * first byte the chunk must take. Requires base <= lo <= hi < e->n and
 * base < hi; the queue holds no boundary at or before s. */
static size_t choose(eng *e, size_t s, size_t base, size_t lo, size_t hi0)
{
	/* a boundary after hi0 is fine when only whitespace comes before it
	 * (the chunk is trimmed back to hi0 or less) */
	size_t hi = ws_end(e, hi0);
	fill(e, hi);
	size_t far[MAX_LEVELS + 2] = { 0 };
	size_t best = 0, k = 0;
	int bs = 0;
	for (; k < e->qn; k++) {
		uint64_t b = q_at(e, k);
		size_t p = B_POS(b);
		int v = B_STR(b);
		if (p > hi)
			break;
		if (p <= base)
			continue;
		if (p > lo) {
			if (v >= bs)
				bs = v, best = p;
		} else {
			far[v] = p;
		}
	}
	if (e->keep_min) {
		size_t P = 0;
		for (int v = e->max_str; v >= e->keep_min && v > bs; v--) {
			if (far[v] > P)
				P = far[v];
			if (!P)
				continue;
			/* The unit of level v that starts at P ends at the next
			 * boundary of strength >= v; there is none up to hi. */
			size_t ps = chunk_start(e, P), lim = ws_end(e, ps + e->cs);
			fill(e, lim);
			size_t end = NONE;
			for (size_t i = k; i < e->qn; i++) {
				uint64_t b = q_at(e, i);
				if (B_POS(b) > lim)
					break;
				if (B_STR(b) >= v) {
					end = B_POS(b);
					break;
				}
			}
			if (end == NONE && e->done && e->n <= lim)
				end = e->n;
			if (end != NONE && trim_back(e, ps, end) - ps <= e->cs)
				return P;
		}
	}
	if (bs)
		return best;
	return subline(e, base, lo, hi0);
}

/* Where the chunk after [ps, pe) starts when chunks overlap: the earliest
 * line start in [max(pe - overlap, ps + 1), pe), else the earliest word
 * start there, else the first character boundary there. */
static size_t overlap_start(const eng *e, size_t ps, size_t pe)
{
	const char *t = e->t;
	size_t t0 = split_overlap_from(ps, pe, e->overlap);
	if (t0 >= pe)
		return pe;
	const char *nl = memchr(t + t0 - 1, '\n', pe - t0);
	if (nl) {
		size_t p = (size_t)(nl - t) + 1;
		while (p < pe && (t[p] == ' ' || t[p] == '\t' || t[p] == '\n' || t[p] == '\r'))
			p++;
		if (p < pe) {
			while (p > t0 && (t[p - 1] == ' ' || t[p - 1] == '\t'))
				p--;
			return p;
		}
	}
	return split_word_start(t, t0, pe);
}

/* ---- the splitter -------------------------------------------------------- */

int split_code(const char *t, size_t len, const split_code_lang *code,
	const split_regex_lang *rx, size_t cs, size_t min, size_t overlap, split_rows *r, char **err)
{
	eng *e = coco_xcalloc(1, sizeof *e);
	e->t = t;
	e->len = e->n = len;
	e->cs = cs;
	e->min = min;
	e->overlap = overlap;
	e->err = err;
	e->blank_start = NONE;
	while (e->n > 0 && split_is_ws((unsigned char)t[e->n - 1]))
		e->n--;
	if (rx) {
		size_t bad = split_utf8_check(t, len);
		if (bad < len) {
			free(e);
			return coco_seterr(err, "text is not valid UTF-8 at byte %zu", bad);
		}
		e->rx = rx;
		e->md = pcre2_match_data_create(1, NULL);
		if (!e->md)
			abort();
		e->max_str = (int)rx->nre;
		e->keep_min = (int)rx->nre;
		for (size_t l = 0; l < rx->nre; l++) {
			e->from[l] = 0;
			rx_next(e, l);
		}
	} else {
		e->lang = code;
		e->flags = code->flags;
		e->max_str = S_TOP_BLANK;
		e->keep_min = S_IN_ATT;
		e->tab['"'] = e->tab['\''] = 1;
		if (e->flags & CL_SLASH)
			e->tab['/'] = 1;
		if (e->flags & CL_HASH)
			e->tab['#'] = 1;
		if (e->flags & CL_DASH)
			e->tab['-'] = 1;
		if (e->flags & CL_MARKUP)
			e->tab['<'] = 1;
		if (e->flags & CL_BACKTICK)
			e->tab['`'] = 1;
		e->ind[0] = 0;
		e->nind = 1;
		if (len == 0)
			e->done = 1;
	}

	/* a guess at the number of chunks (most come close to cs), not a
	 * bound: it sizes the first blocks of rows (split_rows.c) */
	split_rows_init(r, r->a, len / (cs ? cs : 1) + 16);
	split_lc cur_s, cur_e;
	split_lc_init(&cur_s);
	split_lc_init(&cur_e);
	size_t s = chunk_start(e, 0), base = s;
	while (s < e->n && !e->failed) {
		q_drop(e, s);
		size_t s0 = skip_ws(e, s);    /* s may be at a line's indentation */
		if (base < s0)
			base = s0;
		size_t end;
		if (e->n - s <= cs) {
			end = e->n;
		} else {
			size_t lo = s + min > base ? s + min : base;
			end = choose(e, s, base, lo, s + cs);
		}
		end = trim_back(e, s, end);
		if (end <= s)                 /* cannot happen: s is not whitespace */
			end = s + 1;
		if (!overlap)
			cur_s = cur_e;
		split_lc_move(t, &cur_s, s);
		split_lc_move(t, &cur_e, end);
		split_rows_add(r, t, s, end, &cur_s, &cur_e);
		if (end >= e->n)
			break;
		size_t next = chunk_start(e, end);
		if (overlap) {
			size_t o = overlap_start(e, s, end);
			s = (o < end && o + cs >= skip_ws(e, end) + 4) ? o : next;
			base = skip_ws(e, end);
		} else {
			s = base = next;
		}
	}
	int failed = e->failed;
	if (e->md)
		pcre2_match_data_free(e->md);
	free(e->q);
	free(e);
	return failed ? -1 : 0;
}
