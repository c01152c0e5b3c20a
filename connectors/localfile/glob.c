/* Glob matching on relative paths: '*' within a segment, '**' across
 * segments, '?', classes. See glob.h for the rules. */
#define _GNU_SOURCE                     /* memrchr */
#include "connectors/localfile/glob.h"
#include "engine/buf.h"
#include "engine/ops.h"

#include <string.h>

/* End of the segment starting at s: the next '/' or e. */
static const char *seg_end(const char *s, const char *e)
{
	const char *q = memchr(s, '/', (size_t)(e - s));
	return q ? q : e;
}

/* Class at p ('['), ending before pe. Returns 1 if byte c is in it, 0 if
 * not, -1 if the class is not closed; *end = just past the ']'. */
static int class_match(const char *p, const char *pe, unsigned c, const char **end)
{
	const char *q = p + 1;
	int neg = 0, in = 0;
	if (q < pe && (*q == '!' || *q == '^')) {
		neg = 1;
		q++;
	}
	for (int first = 1; q < pe && (*q != ']' || first); first = 0) {
		if (*q == '\\' && q + 1 < pe)
			q++;
		unsigned lo = (unsigned char)*q++, hi = lo;
		if (q + 1 < pe && *q == '-' && q[1] != ']') {
			q++;
			if (*q == '\\' && q + 1 < pe)
				q++;
			hi = (unsigned char)*q++;
		}
		if (c >= lo && c <= hi)
			in = 1;
	}
	if (q >= pe)
		return -1;
	*end = q + 1;
	return in != neg;
}

/* Length of the UTF-8 sequence starting at s (1 for a stray byte). */
static size_t utf8_len(const char *s, const char *se)
{
	size_t n = 1;
	if ((unsigned char)*s >= 0xC0)
		while (s + n < se && ((unsigned char)s[n] & 0xC0) == 0x80 && n < 4)
			n++;
	return n;
}

/* One segment: pattern [p, pe) against text [s, se), neither holding '/'.
 * Classic single-backtrack wildcard matching: '*' cannot cross a segment,
 * so only the last '*' ever needs retrying. */
static int seg_match(const char *p, const char *pe, const char *s, const char *se)
{
	const char *star_p = NULL, *star_s = NULL;
	while (s < se) {
		if (p < pe) {
			const char *q;
			int m;
			switch (*p) {
			case '*':
				star_p = ++p;
				star_s = s;
				continue;
			case '?':
				p++;
				s += utf8_len(s, se);
				continue;
			case '[':
				m = class_match(p, pe, (unsigned char)*s, &q);
				if (m > 0) {
					p = q;
					s++;
					continue;
				}
				if (m < 0 && *s == '[') {      /* unclosed: literal '[' */
					p++;
					s++;
					continue;
				}
				break;
			case '\\':
				if (p + 1 < pe && p[1] == *s) {
					p += 2;
					s++;
					continue;
				}
				break;
			default:
				if (*p == *s) {
					p++;
					s++;
					continue;
				}
				break;
			}
		}
		if (!star_p)
			return 0;
		p = star_p;
		s = ++star_s;
	}
	while (p < pe && *p == '*')
		p++;
	return p == pe;
}

static int is_dstar(const char *p, const char *pq)
{
	return pq - p == 2 && p[0] == '*' && p[1] == '*';
}

/* Whole path: pattern [p, pe) against path [s, se), segment by segment.
 * s == se means the path is used up (paths have no empty segments). */
static int path_match(const char *p, const char *pe, const char *s, const char *se, int dir)
{
	for (;;) {
		const char *pq = seg_end(p, pe);
		if (is_dstar(p, pq)) {
			if (pq == pe)               /* trailing "**": one or more left */
				return s < se || dir;
			const char *pn = pq + 1;
			for (;;) {                  /* zero, one, two... segments */
				if (path_match(pn, pe, s, se, dir))
					return 1;
				if (s >= se)
					return 0;
				const char *sq = seg_end(s, se);
				s = sq < se ? sq + 1 : se;
			}
		}
		if (s >= se)
			return 0;
		const char *sq = seg_end(s, se);
		if (!seg_match(p, pq, s, sq))
			return 0;
		if (pq == pe)
			return sq == se;
		p = pq + 1;
		s = sq < se ? sq + 1 : se;
	}
}

const char *coco_glob_compile(const char *src, coco_glob *g)
{
	const char *p = src, *e = src + strlen(src);
	int anchored = 0;
	for (;;) {
		if (p < e && *p == '/') {
			p++;
			anchored = 1;
		} else if (e - p >= 2 && p[0] == '.' && p[1] == '/') {
			p += 2;
			anchored = 1;
		} else {
			break;
		}
	}
	while (e > p && e[-1] == '/' && !(e - p >= 2 && e[-2] == '\\'))
		e--;
	if (p == e)
		return "empty pattern";
	for (const char *q = p; q < e; q++) {
		if (*q == '\\') {
			if (q + 1 == e)
				return "trailing '\\'";
			q++;
		} else if (*q == '[') {
			const char *end;
			if (class_match(q, seg_end(q, e), 0, &end) < 0)
				return "unclosed '['";
			q = end - 1;
		} else if (*q == '/') {
			anchored = 1;
			if (q[1] == '/')
				return "empty path segment";
		}
	}
	g->p = p;
	g->n = (size_t)(e - p);
	g->anchored = anchored;
	return NULL;
}

int coco_glob_match(const coco_glob *g, const char *path, size_t n, int flags)
{
	const char *s = path, *se = path + n;
	if (!g->anchored) {
		const char *slash = memrchr(s, '/', n);
		if (slash)
			s = slash + 1;
		return seg_match(g->p, g->p + g->n, s, se);
	}
	return path_match(g->p, g->p + g->n, s, se, flags & COCO_GLOB_DIR);
}

int coco_glob_compile_opt(const coco_optval *o, const char *what, const char *optname,
	coco_arena *a, coco_glob **out, size_t *nout, char **err)
{
	size_t n = o->set ? o->nlist : 0;
	coco_glob *g = a && n ? coco_arena_alloc(a, n * sizeof *g) : NULL;
	for (size_t i = 0; i < n; i++) {
		const char *src = o->list[i] ? o->list[i] : "";
		coco_glob tmp;
		const char *why = coco_glob_compile(a ? coco_arena_strdup(a, src) : src, &tmp);
		if (why)
			return coco_seterr(err, "%s: bad pattern '%s' in %s: %s", what, src, optname, why);
		if (g)
			g[i] = tmp;
	}
	if (out) {
		*out = g;
		*nout = n;
	}
	return 0;
}

int coco_globsel_opts(const coco_optval *inc, const coco_optval *exc, const char *what,
	coco_arena *a, coco_globsel *sel, char **err)
{
	if (coco_glob_compile_opt(inc, what, "included_patterns", sel ? a : NULL,
			sel ? &sel->inc : NULL, sel ? &sel->ninc : NULL, err) ||
	    coco_glob_compile_opt(exc, what, "excluded_patterns", sel ? a : NULL,
			sel ? &sel->exc : NULL, sel ? &sel->nexc : NULL, err))
		return -1;
	return 0;
}

int coco_globsel_excluded(const coco_globsel *sel, const char *path, size_t n, int flags)
{
	for (size_t i = 0; i < sel->nexc; i++)
		if (coco_glob_match(&sel->exc[i], path, n, flags))
			return 1;
	return 0;
}

int coco_globsel_wanted(const coco_globsel *sel, const char *path, size_t n)
{
	if (coco_globsel_excluded(sel, path, n, 0))
		return 0;
	if (!sel->ninc)
		return 1;
	for (size_t i = 0; i < sel->ninc; i++)
		if (coco_glob_match(&sel->inc[i], path, n, 0))
			return 1;
	return 0;
}
