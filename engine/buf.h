#pragma once
/* Growable byte buffer and bump arena: the two allocators of the engine. */
#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <string.h>

/* A growable byte buffer. Zero-initialise ({0}) to start; free with
 * coco_buf_free(). p is always NUL-terminated after any add (not counted
 * in n), so text buffers can be used as C strings. Allocation failure
 * aborts: the engine treats OOM as fatal. */
typedef struct coco_buf {
	char *p;
	size_t n, cap;
} coco_buf;

void coco_buf_reserve(coco_buf *b, size_t extra);
void coco_buf_add(coco_buf *b, const void *p, size_t n);
void coco_buf_adds(coco_buf *b, const char *s);
void coco_buf_putc(coco_buf *b, char c);
void coco_buf_printf(coco_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void coco_buf_vprintf(coco_buf *b, const char *fmt, va_list ap);
/* Little-endian fixed width and LEB128 varint helpers for binary records. */
void coco_buf_u64(coco_buf *b, uint64_t v);
void coco_buf_varint(coco_buf *b, uint64_t v);
static inline void coco_buf_clear(coco_buf *b) { b->n = 0; if (b->p) b->p[0] = 0; }
void coco_buf_free(coco_buf *b);
/* Take ownership of the bytes (caller frees with free()); buffer becomes empty. */
char *coco_buf_take(coco_buf *b);

/* Reader over a binary record written with the helpers above.
 * All getters return 0 on success, -1 when the record is truncated. */
typedef struct coco_rd {
	const unsigned char *p, *end;
} coco_rd;
int coco_rd_u64(coco_rd *r, uint64_t *v);
int coco_rd_varint(coco_rd *r, uint64_t *v);
int coco_rd_bytes(coco_rd *r, size_t n, const char **p);

/* Bump allocator. Everything allocated lives until reset/destroy.
 * Zero-initialise to start. */
typedef struct coco_arena {
	struct coco_arena_blk *blk;
	size_t used_total;
} coco_arena;

void *coco_arena_alloc(coco_arena *a, size_t n);     /* 16-byte aligned, zeroed */
char *coco_arena_strndup(coco_arena *a, const char *s, size_t n);
char *coco_arena_strdup(coco_arena *a, const char *s);
/* Grow an array that lives in the arena to hold one more element:
 * returns the (possibly moved) array; *cap is updated. Old storage stays
 * in the arena until reset. */
void *coco_arena_grow(coco_arena *a, void *arr, size_t n, size_t *cap, size_t elem);
/* The same, but an array past 16 KB grows in place (its arena block is
 * reallocated), leaving no copy behind: pointers into arr are invalid
 * afterwards. For the arrays of a large row (one entry per chunk). */
void *coco_arena_regrow(coco_arena *a, void *arr, size_t n, size_t *cap, size_t elem);
void coco_arena_reset(coco_arena *a);               /* keeps the first block */
/* 1 when p lies in memory a handed out (a walk over its blocks). */
int coco_arena_owns(const coco_arena *a, const void *p);
void coco_arena_destroy(coco_arena *a);

/* Line-oriented text (targets' setup descriptions): append s with the
 * bytes that would break a line or a token written as \xHH (control
 * bytes and backslash always, spaces too when token); coco_unesc undoes
 * it into a (NULL on a malformed escape). */
void coco_buf_esc(coco_buf *b, const char *s, int token);
char *coco_unesc(coco_arena *a, const char *s, size_t n);

/* Byte order of a[0..na) and b[0..nb), a prefix first: <0, 0 or >0. */
static inline int coco_bytes_cmp(const void *a, size_t na, const void *b, size_t nb)
{
	int c = memcmp(a, b, na < nb ? na : nb);
	return c ? c : (na > nb) - (na < nb);
}

/* The value of the hex digit c (either case), or -1. */
static inline int coco_hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
		c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Error helper: *err = malloc'd formatted message (if err != NULL). Returns -1. */
int coco_seterr(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *coco_strdup(const char *s);

/* Offset of the first byte of the first invalid UTF-8 sequence in p[0..n),
 * or n when all of it is valid (no overlongs, surrogates or > U+10FFFF). */
size_t coco_utf8_check(const void *p, size_t n);
/* The length (2..4) of the UTF-8 sequence that byte c >= 0x80 starts, and
 * the range [*lo, *hi] of its second byte (the others are 80..BF); 0 when
 * c starts none (a continuation byte, C0, C1, F5..FF). */
static inline size_t coco_utf8_lead(unsigned c, unsigned *lo, unsigned *hi)
{
	*lo = 0x80, *hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF)
		return 2;
	if (c >= 0xE0 && c <= 0xEF) {
		if (c == 0xE0)
			*lo = 0xA0;                   /* no overlongs */
		else if (c == 0xED)
			*hi = 0x9F;                   /* no surrogates */
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (c == 0xF0)
			*lo = 0x90;
		else if (c == 0xF4)
			*hi = 0x8F;                   /* <= U+10FFFF */
		return 4;
	}
	return 0;
}
