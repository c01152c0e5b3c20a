#pragma once
#include <stddef.h>

struct ring;

struct ring *ring_new(size_t cap);
void ring_free(struct ring *r);
void ring_put(struct ring *r, const void *p, size_t n);
size_t ring_get(struct ring *r, void *p, size_t n);
size_t ring_len(const struct ring *r);
