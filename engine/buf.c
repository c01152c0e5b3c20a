/* Byte buffers, binary record readers, the bump arena, error strings. */
#include "engine/buf.h"
#include "engine/sys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void coco_buf_reserve(coco_buf *b, size_t extra)
{
	size_t need = b->n + extra + 1;
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	b->p = coco_xrealloc(b->p, cap);
	b->cap = cap;
}

void coco_buf_add(coco_buf *b, const void *p, size_t n)
{
	coco_buf_reserve(b, n);
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
	b->p[b->n] = 0;
}

void coco_buf_adds(coco_buf *b, const char *s) { coco_buf_add(b, s, strlen(s)); }

void coco_buf_putc(coco_buf *b, char c)
{
	coco_buf_reserve(b, 1);
	b->p[b->n++] = c;
	b->p[b->n] = 0;
}

void coco_buf_vprintf(coco_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	char tmp[256];
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	if ((size_t)n < sizeof tmp) {
		coco_buf_add(b, tmp, (size_t)n);
		return;
	}
	coco_buf_reserve(b, (size_t)n);
	vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
	b->n += (size_t)n;
}

void coco_buf_printf(coco_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	coco_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void coco_buf_u64(coco_buf *b, uint64_t v)
{
	unsigned char t[8];
	for (int i = 0; i < 8; i++)
		t[i] = (unsigned char)(v >> (8 * i));
	coco_buf_add(b, t, 8);
}

void coco_buf_varint(coco_buf *b, uint64_t v)
{
	unsigned char t[10];
	int n = 0;
	do {
		unsigned char c = v & 0x7f;
		v >>= 7;
		t[n++] = c | (v ? 0x80 : 0);
	} while (v);
	coco_buf_add(b, t, (size_t)n);
}

void coco_buf_free(coco_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->n = b->cap = 0;
}

char *coco_buf_take(coco_buf *b)
{
	char *p = b->p ? b->p : coco_strdup("");
	b->p = NULL;
	b->n = b->cap = 0;
	return p;
}

int coco_rd_u64(coco_rd *r, uint64_t *v)
{
	if (r->end - r->p < 8)
		return -1;
	uint64_t x = 0;
	for (int i = 0; i < 8; i++)
		x |= (uint64_t)r->p[i] << (8 * i);
	r->p += 8;
	*v = x;
	return 0;
}

int coco_rd_varint(coco_rd *r, uint64_t *v)
{
	uint64_t x = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end)
			return -1;
		unsigned char c = *r->p++;
		x |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

int coco_rd_bytes(coco_rd *r, size_t n, const char **p)
{
	if ((size_t)(r->end - r->p) < n)
		return -1;
	*p = (const char *)r->p;
	r->p += n;
	return 0;
}

/* ---- arena ---------------------------------------------------------------- */
struct coco_arena_blk {
	struct coco_arena_blk *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
};

#define ARENA_BLK (64 * 1024)

void *coco_arena_alloc(coco_arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	struct coco_arena_blk *b = a->blk;
	if (!b || b->cap - b->used < n) {
		size_t cap = n > ARENA_BLK / 4 ? n : ARENA_BLK;
		struct coco_arena_blk *nb = coco_xrealloc(NULL, sizeof *nb + cap);
		nb->used = 0;
		nb->cap = cap;
		if (b && cap != ARENA_BLK) {
			/* big allocation: put it behind the current block so the
			 * current block keeps serving small ones */
			nb->next = b->next;
			b->next = nb;
		} else {
			nb->next = b;
			a->blk = nb;
		}
		b = nb;
	}
	void *p = b->data + b->used;
	b->used += n;
	a->used_total += n;
	memset(p, 0, n);
	return p;
}

char *coco_arena_strndup(coco_arena *a, const char *s, size_t n)
{
	char *p = coco_arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

char *coco_arena_strdup(coco_arena *a, const char *s) { return coco_arena_strndup(a, s, strlen(s)); }

void *coco_arena_grow(coco_arena *a, void *arr, size_t n, size_t *cap, size_t elem)
{
	if (n < *cap)
		return arr;
	size_t nc = *cap ? *cap * 2 : 16;
	void *na = coco_arena_alloc(a, nc * elem);
	if (n)
		memcpy(na, arr, n * elem);
	*cap = nc;
	return na;
}

void *coco_arena_regrow(coco_arena *a, void *arr, size_t n, size_t *cap, size_t elem)
{
	if (n < *cap)
		return arr;
	size_t was = (*cap * elem + 15) & ~(size_t)15;
	if (arr && was > ARENA_BLK / 4) {
		/* a big array has a block of its own: grow the block, leaving
		 * no copy behind */
		struct coco_arena_blk **pp = &a->blk;
		while (*pp && (*pp)->data != (unsigned char *)arr)
			pp = &(*pp)->next;
		if (*pp && (*pp)->used == was) {
			size_t nc = *cap * 2, sz = (nc * elem + 15) & ~(size_t)15;
			struct coco_arena_blk *b = coco_xrealloc(*pp, sizeof *b + sz);
			memset(b->data + was, 0, sz - was);
			a->used_total += sz - was;
			b->used = b->cap = sz;
			*pp = b;
			*cap = nc;
			return b->data;
		}
	}
	return coco_arena_grow(a, arr, n, cap, elem);
}

int coco_arena_owns(const coco_arena *a, const void *p)
{
	const unsigned char *q = p;
	for (const struct coco_arena_blk *b = a->blk; b; b = b->next)
		if (q >= b->data && q < b->data + b->used)
			return 1;
	return 0;
}

void coco_arena_reset(coco_arena *a)
{
	struct coco_arena_blk *keep = NULL, *b = a->blk;
	while (b) {
		struct coco_arena_blk *next = b->next;
		if (!keep && b->cap == ARENA_BLK) {
			keep = b;
			keep->used = 0;
		} else {
			free(b);
		}
		b = next;
	}
	if (keep)
		keep->next = NULL;
	a->blk = keep;
	a->used_total = 0;
}

void coco_arena_destroy(coco_arena *a)
{
	struct coco_arena_blk *b = a->blk;
	while (b) {
		struct coco_arena_blk *next = b->next;
		free(b);
		b = next;
	}
	a->blk = NULL;
	a->used_total = 0;
}

void coco_buf_esc(coco_buf *b, const char *s, int token)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '\\' || (token && *p == ' '))
			coco_buf_printf(b, "\\x%02x", *p);
		else
			coco_buf_putc(b, (char)*p);
	}
}

char *coco_unesc(coco_arena *a, const char *s, size_t n)
{
	char *out = coco_arena_alloc(a, n + 1), *o = out;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\') {
			*o++ = s[i];
			continue;
		}
		if (i + 3 >= n || s[i + 1] != 'x')
			return NULL;
		int h = coco_hexval(s[i + 2]), l = coco_hexval(s[i + 3]);
		if (h < 0 || l < 0)
			return NULL;
		*o++ = (char)(h * 16 + l);
		i += 3;
	}
	*o = 0;
	return out;
}

int coco_seterr(char **err, const char *fmt, ...)
{
	if (!err)
		return -1;
	coco_buf b = {0};
	va_list ap;
	va_start(ap, fmt);
	coco_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	free(*err);
	*err = coco_buf_take(&b);
	return -1;
}

char *coco_strdup(const char *s)
{
	size_t n = strlen(s);
	char *p = coco_xrealloc(NULL, n + 1);
	memcpy(p, s, n + 1);
	return p;
}

/* Offset of the first byte of the first invalid UTF-8 sequence in s[0..n),
 * or n when all of it is valid (no overlongs, surrogates or > U+10FFFF). */
size_t coco_utf8_check(const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i = 0;
	while (i < n) {
		if (i + 8 <= n) {                     /* ASCII, 8 bytes at a time */
			uint64_t w;
			memcpy(&w, s + i, 8);
			if (!(w & 0x8080808080808080ull)) {
				i += 8;
				continue;
			}
		}
		unsigned c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		unsigned lo, hi;                    /* range of the second byte */
		size_t len = coco_utf8_lead(c, &lo, &hi);
		if (!len)
			return i;
		if (n - i < len || s[i + 1] < lo || s[i + 1] > hi)
			return i;
		for (size_t k = 2; k < len; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return i;
		i += len;
	}
	return n;
}
