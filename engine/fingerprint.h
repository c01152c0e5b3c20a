#pragma once
/* 128-bit fingerprints (XXH3-128) over type-tagged values: "1" and 1
 * fingerprint differently, and so do {a="x", b=""} and {a="", b="x"}. */
#include <stdint.h>
#include <stddef.h>
#include "engine/value.h"

typedef struct coco_fp {
	uint64_t lo, hi;
} coco_fp;

typedef struct coco_fper coco_fper;     /* streaming state, opaque */

coco_fper *coco_fper_create(void);
void coco_fper_destroy(coco_fper *f);
void coco_fper_reset(coco_fper *f);
/* Each add is tagged and length-prefixed, so the sequence is unambiguous. */
void coco_fper_value(coco_fper *f, const coco_value *v);
void coco_fper_bytes(coco_fper *f, const void *p, size_t n);
void coco_fper_str(coco_fper *f, const char *s);     /* NULL allowed */
void coco_fper_u64(coco_fper *f, uint64_t v);
void coco_fper_fp(coco_fper *f, coco_fp fp);
coco_fp coco_fper_digest(const coco_fper *f);

/* One-shot helpers. */
coco_fp coco_fp_value(const coco_value *v);
coco_fp coco_fp_bytes(const void *p, size_t n);

static inline int coco_fp_eq(coco_fp a, coco_fp b) { return a.lo == b.lo && a.hi == b.hi; }
/* 32 lowercase hex chars + NUL. */
void coco_fp_hex(coco_fp fp, char out[33]);
