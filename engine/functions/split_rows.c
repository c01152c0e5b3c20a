/* Result rows of the splitting functions, their line/column positions,
 * UTF-8 checking and separator regex compilation. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "engine/functions/split_int.h"

/* ---- positions ---------------------------------------------------------- */

void split_lc_init(split_lc *c)
{
	c->pos = 0;
	c->line = c->col = 1;
}

#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

static inline uint64_t load64(const unsigned char *p)
{
	uint64_t w;
	memcpy(&w, p, 8);
	return w;
}

/* Sum of the bytes of w, each 0 or 1 (no popcnt instruction needed). */
static inline size_t hsum(uint64_t w)
{
	return (size_t)((w * ONES) >> 56);
}

/* Number of '\n' in p[0, n), 8 bytes at a time. */
static size_t count_nl(const unsigned char *p, size_t n)
{
	size_t k = 0, i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t x = load64(p + i) ^ (ONES * '\n');
		/* high bit set in each byte of x that is not zero */
		uint64_t nz = (((x & ~HIGHS) + ~HIGHS) | x) & HIGHS;
		k += hsum((~nz & HIGHS) >> 7);
	}
	for (; i < n; i++)
		k += p[i] == '\n';
	return k;
}

/* Number of UTF-8 code points (bytes that are not 10xxxxxx) in p[0, n). */
static size_t count_cp(const unsigned char *p, size_t n)
{
	size_t k = 0, i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w = load64(p + i);
		k += 8 - hsum((w & ~(w << 1) & HIGHS) >> 7);
	}
	for (; i < n; i++)
		k += !split_is_cont(p[i]);
	return k;
}

void split_lc_move(const char *t, split_lc *c, size_t x)
{
	const unsigned char *u = (const unsigned char *)t;
	size_t nl = count_nl(u + c->pos, x - c->pos);
	if (nl) {
		const char *q = memrchr(t + c->pos, '\n', x - c->pos);
		size_t ls = (size_t)(q - t) + 1;
		c->line += nl;
		c->col = 1 + count_cp(u + ls, x - ls);
	} else {
		c->col += count_cp(u + c->pos, x - c->pos);
	}
	c->pos = x;
}

/* ---- result rows --------------------------------------------------------- */

/* Each row takes 10 values: its 4 fields, then the 3 fields of start and
 * the 3 of end. They come in blocks of at most FIELD_BLOCK rows that never
 * move; the row array (one value a row) is built once, at its exact size,
 * when the table is taken. A large text's 240,000 chunks took a doubled
 * row array besides (13 MB where 8 were needed). */
#define ROW_VALUES 10
#define FIELD_BLOCK 4096

void split_rows_init(split_rows *r, coco_arena *a, size_t hint)
{
	memset(r, 0, sizeof *r);
	r->a = a;
	r->hint = hint;
}

static inline void set_pos(coco_value *f, size_t off, const split_lc *c)
{
	f[0].kind = COCO_INT64;
	f[0].u.i = (int64_t)off;
	f[1].kind = COCO_INT64;
	f[1].u.i = (int64_t)c->line;
	f[2].kind = COCO_INT64;
	f[2].u.i = (int64_t)c->col;
}

/* A block for the next rows: the rows the hint still expects, else as
 * many as there are (the blocks double), between 16 and FIELD_BLOCK. */
static void new_block(split_rows *r)
{
	size_t want = r->hint > r->n ? r->hint - r->n : r->n;
	want = want < 16 ? 16 : want > FIELD_BLOCK ? FIELD_BLOCK : want;
	r->blk = coco_arena_grow(r->a, r->blk, r->nblk, &r->capblk, sizeof *r->blk);
	r->blk[r->nblk].f = coco_arena_alloc(r->a, want * ROW_VALUES * sizeof(coco_value));
	r->blk[r->nblk].n = 0;
	r->nblk++;
	r->nfree = want;
}

void split_rows_add(split_rows *r, const char *t, size_t s, size_t e,
	const split_lc *cs, const split_lc *ce)
{
	if (!r->nfree)
		new_block(r);
	split_block *b = &r->blk[r->nblk - 1];
	coco_value *f = b->f + b->n * ROW_VALUES;
	b->n++;
	r->nfree--;
	r->n++;
	f[0].kind = COCO_RANGE;
	f[0].u.r[0] = (int64_t)s;
	f[0].u.r[1] = (int64_t)e;
	f[1] = coco_v_str(t + s, e - s);
	f[2].kind = COCO_STRUCT;
	f[2].n = 3;
	f[2].u.fields = f + 4;
	f[3].kind = COCO_STRUCT;
	f[3].n = 3;
	f[3].u.fields = f + 7;
	set_pos(f + 4, s, cs);
	set_pos(f + 7, e, ce);
}

coco_value split_rows_table(const split_rows *r)
{
	coco_value res = { 0 };
	res.kind = COCO_TABLE;
	res.n = r->n;
	res.u.rows = coco_arena_alloc(r->a, (r->n + 1) * sizeof *res.u.rows);
	coco_value *row = res.u.rows;
	for (size_t j = 0; j < r->nblk; j++)
		for (size_t i = 0; i < r->blk[j].n; i++, row++) {
			row->kind = COCO_STRUCT;
			row->n = 4;
			row->u.fields = r->blk[j].f + i * ROW_VALUES;
		}
	return res;
}

const coco_type *split_row_type(coco_arena *types)
{
	static const coco_field pos_fields[] = {
		{ "offset", &coco_t_int64 }, { "line", &coco_t_int64 }, { "column", &coco_t_int64 },
	};
	const coco_type *pos = coco_type_struct(types, pos_fields, 3);
	const coco_field row_fields[] = {
		{ "location", &coco_t_range }, { "text", &coco_t_str },
		{ "start", pos }, { "end", pos },
	};
	return coco_type_table(types, row_fields, 4, 1);
}

/* ---- boundaries ---------------------------------------------------------- */

size_t split_char_cut(const char *t, size_t n, size_t base, size_t hi)
{
	size_t lim = hi - base > 3 ? hi - 3 : base + 1, p = hi;
	while (p > lim && split_is_cont((unsigned char)t[p]))
		p--;
	if (!split_is_cont((unsigned char)t[p]))
		return p;
	if (hi - base > 3)
		return hi;
	p = base + 1;
	while (p < n && p < base + 4 && split_is_cont((unsigned char)t[p]))
		p++;
	return p;
}

size_t split_word_start(const char *t, size_t t0, size_t pe)
{
	size_t p = t0;
	if (!split_is_ws((unsigned char)t[p - 1]) || split_is_ws((unsigned char)t[p])) {
		while (p < pe && !split_is_ws((unsigned char)t[p]))
			p++;
		while (p < pe && split_is_ws((unsigned char)t[p]))
			p++;
	}
	if (p < pe)
		return p;
	p = t0;
	while (p < pe && split_is_cont((unsigned char)t[p]))
		p++;
	return p;
}

/* ---- UTF-8 --------------------------------------------------------------- */

size_t split_utf8_check(const char *t, size_t n)
{
	const unsigned char *u = (const unsigned char *)t;
	size_t i = 0;
	while (i < n) {
		if (i + 8 <= n && !(load64(u + i) & HIGHS)) {
			i += 8;
			continue;
		}
		unsigned char c = u[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t k;
		uint32_t cp;
		if (c >= 0xC2 && c <= 0xDF)
			k = 1, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			k = 2, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			k = 3, cp = c & 0x07;
		else
			return i;
		if (i + k >= n)
			return i;
		for (size_t j = 1; j <= k; j++) {
			if (!split_is_cont(u[i + j]))
				return i;
			cp = (cp << 6) | (u[i + j] & 0x3F);
		}
		if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
		    (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
			return i;
		i += k + 1;
	}
	return n;
}

/* ---- regexes -------------------------------------------------------------- */

pcre2_code *split_regex_compile(const char *pattern, size_t len, char **err)
{
	int ec;
	PCRE2_SIZE eo;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_UTF | PCRE2_MULTILINE,
		&ec, &eo, NULL);
	if (!re) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(ec, msg, sizeof msg);
		coco_seterr(err, "'%.*s' is not a valid regex: %s at offset %zu", (int)len, pattern,
			(const char *)msg, (size_t)eo);
		return NULL;
	}
	pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);   /* falls back to the interpreter */
	return re;
}
