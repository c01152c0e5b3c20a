/* 128-bit fingerprints: XXH3-128 over a tagged, length-prefixed stream.
 *
 * Small adds are staged in a local buffer and handed to XXH3 in chunks;
 * large payloads go straight to XXH3. A fingerprinter that never fills
 * its buffer hashes it one-shot, so short fingerprints need no XXH3
 * state at all (XXH3 gives the same digest for one-shot and streamed
 * input). */
#include "engine/fingerprint.h"
#include "engine/sys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* Tag bytes: one per kind of add, values offset by their coco_kind. */
enum {
	TAG_BYTES = 0x01,
	TAG_STR = 0x02,
	TAG_STR_NULL = 0x03,
	TAG_U64 = 0x04,
	TAG_FP = 0x05,
	TAG_VALUE = 0x10,       /* + coco_kind */
};

#define STAGE 512

struct coco_fper {
	XXH3_state_t *st;       /* created on first overflow of stage */
	int fed;                /* st has been reset and fed since coco_fper_reset */
	size_t n;               /* bytes staged */
	unsigned char stage[STAGE];
};

static void fatal_oom(void)
{
	fputs("coco: out of memory\n", stderr);
	abort();
}

static void feed(coco_fper *f, const void *p, size_t n)
{
	if (!f->st && !(f->st = XXH3_createState()))
		fatal_oom();
	if (!f->fed) {
		XXH3_128bits_reset(f->st);
		f->fed = 1;
	}
	XXH3_128bits_update(f->st, p, n);
}

static void flush(coco_fper *f)
{
	if (f->n) {
		feed(f, f->stage, f->n);
		f->n = 0;
	}
}

static void emit(coco_fper *f, const void *p, size_t n)
{
	if (n > STAGE - f->n) {
		flush(f);
		if (n >= STAGE) {
			feed(f, p, n);
			return;
		}
	}
	memcpy(f->stage + f->n, p, n);
	f->n += n;
}

/* Tag byte plus up to two little-endian u64s, staged in one go. */
static void emit_head(coco_fper *f, unsigned tag, int nwords, uint64_t w0, uint64_t w1)
{
	unsigned char t[17];
	uint64_t w[2] = { w0, w1 };
	t[0] = (unsigned char)tag;
	for (int k = 0; k < nwords; k++)
		for (int i = 0; i < 8; i++)
			t[1 + 8 * k + i] = (unsigned char)(w[k] >> (8 * i));
	emit(f, t, 1 + 8 * (size_t)nwords);
}

/* New fingerprinter, ready for adds; free with coco_fper_destroy(). */
coco_fper *coco_fper_create(void)
{
	coco_fper *f = coco_xmalloc(sizeof *f);
	f->st = NULL;
	f->fed = 0;
	f->n = 0;
	return f;
}

/* Frees f (NULL allowed). */
void coco_fper_destroy(coco_fper *f)
{
	if (!f)
		return;
	if (f->st)
		XXH3_freeState(f->st);
	free(f);
}

/* Starts a new fingerprint, as if f were just created. */
void coco_fper_reset(coco_fper *f)
{
	f->n = 0;
	f->fed = 0;
}

/* Adds a value: tag (its kind), then its payload; strings, vectors,
 * structs and tables are length-prefixed, structs and tables recurse. */
void coco_fper_value(coco_fper *f, const coco_value *v)
{
	unsigned kind = v->kind < COCO_KIND_COUNT ? v->kind : COCO_NULL;
	unsigned tag = TAG_VALUE + kind;
	switch (kind) {
	case COCO_BOOL: {
		unsigned char t[2] = { (unsigned char)tag, v->u.b ? 1 : 0 };
		emit(f, t, 2);
		break;
	}
	case COCO_INT64:
		emit_head(f, tag, 1, (uint64_t)v->u.i, 0);
		break;
	case COCO_FLOAT32: {
		float x = (float)v->u.f;
		uint32_t u;
		memcpy(&u, &x, 4);
		unsigned char t[5] = { (unsigned char)tag, (unsigned char)u,
			(unsigned char)(u >> 8), (unsigned char)(u >> 16), (unsigned char)(u >> 24) };
		emit(f, t, 5);
		break;
	}
	case COCO_FLOAT64: {
		uint64_t u;
		memcpy(&u, &v->u.f, 8);
		emit_head(f, tag, 1, u, 0);
		break;
	}
	case COCO_STR:
	case COCO_BYTES:
	case COCO_JSON:
		emit_head(f, tag, 1, v->n, 0);
		if (v->n)
			emit(f, v->u.s, v->n);
		break;
	case COCO_RANGE:
		emit_head(f, tag, 2, (uint64_t)v->u.r[0], (uint64_t)v->u.r[1]);
		break;
	case COCO_VECTOR:
		emit_head(f, tag, 1, v->n, 0);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		if (v->n)
			emit(f, v->u.vec, v->n * 4);
#else
		for (size_t i = 0; i < v->n; i++) {
			uint32_t u;
			memcpy(&u, &v->u.vec[i], 4);
			unsigned char t[4] = { (unsigned char)u, (unsigned char)(u >> 8),
				(unsigned char)(u >> 16), (unsigned char)(u >> 24) };
			emit(f, t, 4);
		}
#endif
		break;
	case COCO_STRUCT:
	case COCO_TABLE:
		emit_head(f, tag, 1, v->n, 0);
		for (size_t i = 0; i < v->n; i++)
			coco_fper_value(f, &v->u.fields[i]);
		break;
	default:
		emit_head(f, tag, 0, 0, 0);
		break;
	}
}

/* Adds n raw bytes (length-prefixed). */
void coco_fper_bytes(coco_fper *f, const void *p, size_t n)
{
	emit_head(f, TAG_BYTES, 1, n, 0);
	if (n)
		emit(f, p, n);
}

/* Adds a C string (length-prefixed); NULL differs from "". */
void coco_fper_str(coco_fper *f, const char *s)
{
	if (!s) {
		emit_head(f, TAG_STR_NULL, 0, 0, 0);
		return;
	}
	size_t n = strlen(s);
	emit_head(f, TAG_STR, 1, n, 0);
	if (n)
		emit(f, s, n);
}

/* Adds a 64-bit integer. */
void coco_fper_u64(coco_fper *f, uint64_t v)
{
	emit_head(f, TAG_U64, 1, v, 0);
}

/* Adds another fingerprint (to chain fingerprints). */
void coco_fper_fp(coco_fper *f, coco_fp fp)
{
	emit_head(f, TAG_FP, 2, fp.lo, fp.hi);
}

/* Fingerprint of everything added since create/reset; f can keep adding. */
coco_fp coco_fper_digest(const coco_fper *cf)
{
	/* flushing the stage changes how the bytes are held, not which
	 * bytes were added, so the caller's view of f stays the same */
	coco_fper *f = (coco_fper *)cf;
	XXH128_hash_t h;
	if (!f->fed) {
		h = XXH3_128bits(f->stage, f->n);
	} else {
		flush(f);
		h = XXH3_128bits_digest(f->st);
	}
	coco_fp fp = { h.low64, h.high64 };
	return fp;
}

/* Fingerprint of one value; same as create + value + digest. */
coco_fp coco_fp_value(const coco_value *v)
{
	coco_fper f;
	f.st = NULL;
	f.fed = 0;
	f.n = 0;
	coco_fper_value(&f, v);
	coco_fp fp = coco_fper_digest(&f);
	if (f.st)
		XXH3_freeState(f.st);
	return fp;
}

/* Fingerprint of n bytes; same as create + bytes + digest. */
coco_fp coco_fp_bytes(const void *p, size_t n)
{
	coco_fper f;
	f.st = NULL;
	f.fed = 0;
	f.n = 0;
	coco_fper_bytes(&f, p, n);
	coco_fp fp = coco_fper_digest(&f);
	if (f.st)
		XXH3_freeState(f.st);
	return fp;
}

/* Writes fp as 32 lowercase hex digits (hi word first) and a NUL. */
void coco_fp_hex(coco_fp fp, char out[33])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 16; i++) {
		out[i] = hex[(fp.hi >> (60 - 4 * i)) & 15];
		out[16 + i] = hex[(fp.lo >> (60 - 4 * i)) & 15];
	}
	out[32] = 0;
}
