/* A fixed-size ring buffer of byte records. */
#include <stdlib.h>
#include <string.h>

#include "examples/code_index/src/engine/ring.h"

struct ring {
	unsigned char *buf;
	size_t cap, head, len;
};

/* A ring of cap bytes; NULL when out of memory. */
struct ring *ring_new(size_t cap)
{
	struct ring *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->buf = malloc(cap);
	if (!r->buf) {
		free(r);
		return NULL;
	}
	r->cap = cap;
	return r;
}

void ring_free(struct ring *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r);
}

/* Append n bytes; the oldest bytes are dropped when the ring is full. */
void ring_put(struct ring *r, const void *p, size_t n)
{
	const unsigned char *s = p;
	if (n >= r->cap) {
		memcpy(r->buf, s + n - r->cap, r->cap);
		r->head = 0;
		r->len = r->cap;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		r->buf[(r->head + r->len) % r->cap] = s[i];
		if (r->len < r->cap)
			r->len++;
		else
			r->head = (r->head + 1) % r->cap;
	}
}

/* Copy up to n of the oldest bytes out; returns how many were copied. */
size_t ring_get(struct ring *r, void *p, size_t n)
{
	unsigned char *d = p;
	size_t k = n < r->len ? n : r->len;
	for (size_t i = 0; i < k; i++)
		d[i] = r->buf[(r->head + i) % r->cap];
	r->head = (r->head + k) % r->cap;
	r->len -= k;
	return k;
}

size_t ring_len(const struct ring *r)
{
	return r->len;
}
