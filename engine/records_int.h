#pragma once
/* The indexer's state records, shared by the indexer's files, inspect.c
 * and setup.c: their codecs and the layout of their keys; the memo's
 * reader and writer.
 *
 * Both are keyed by the source row: <source name> NUL <encoded key>,
 * written by row_key() only; row_iter() and row_get() read them (the
 * indexer's reads of its records go through these).
 *
 * tracking: flags u8 | ord (varint len + bytes) | content fp 16 | logic fp 16
 * lineage:  nexports varint, per export: its target's resource id (varint
 *           len + bytes), nrows varint, per row: key (varint len + encoded
 *           key) + fp 16; then nstaged varint, per staged: resource id, key;
 *           then nmemo varint, nmemo x 32-byte memo key (absent in old records).
 * Lineage names the target (the resource setup created), not the export:
 * an export renamed onto the same table, or two exports trading tables,
 * still find what the rows wrote there. (States written before named
 * exports: lineage_migrate() rewrites them once.) */
#include "engine/buf.h"
#include "engine/value.h"
#include "engine/fingerprint.h"
#include "engine/state.h"

enum { TRK_STAGED = 1 };

typedef struct trk {
	int flags;
	const char *ord;
	size_t nord;
	coco_fp content, logic;
} trk;

/* One target key in lineage. */
typedef struct lkey {
	const char *exp;
	size_t nexp;
	const char *key;
	size_t nkey;
	coco_fp fp;
	int staged;
	int win;                      /* owned rows: 0 not asked, 1 written, 2 another row's */
	int queued;                   /* diffing: an upsert of this key is queued */
} lkey;

typedef struct lineage {
	lkey *k;
	size_t n, cap;
	const char *memo;             /* memo keys the row's evaluation used, 32 bytes each */
	size_t nmemo;
} lineage;

void trk_encode(const trk *t, coco_buf *b);
/* 0, or -1 when the record is corrupt; t points into p. */
int trk_decode(const char *p, size_t n, trk *t);
void lin_push(coco_arena *a, lineage *l, const lkey *k);
/* 0, or -1 when the record is corrupt; keys point into p, the array is in a. */
int lin_decode(const char *p, size_t n, coco_arena *a, lineage *l);
/* Encodes committed keys grouped by export (keys must be grouped already),
 * then the staged ones. */
void lin_encode(const lineage *l, coco_buf *b);

/* The state key of a source row into b (cleared first). */
void row_key(coco_buf *b, const char *src, const char *key, size_t nkey);
/* Iterates the records of source src in column family cf, in key order,
 * as of snapshot sn (NULL: now); *plen: the length of the keys' prefix
 * (the source's name and NUL). */
coco_iter *row_iter(coco_state *st, const coco_snapshot *sn, coco_cf cf, const char *src,
	size_t *plen);
/* The record of a source row (kb: scratch for its key) into out: 1
 * found, 0 absent, -1 with *err. */
int row_get(coco_state *st, coco_cf cf, const char *src, const char *key, size_t nkey,
	coco_buf *kb, coco_buf *out, char **err);

/* The memo (memo.c): cached results are content-addressed: a key is the
 * function's logic fingerprint and the input's (16 + 16 bytes), the record
 * the result as coco_value_encode writes it. Each row's lineage lists the
 * keys its evaluation used; after a run that changed rows, entries no row
 * lists (and that this run did not write) are swept. memo_get, memo_touch
 * and memo_put are a coco_memo's hooks (exec.h) over a memo_ctx; a reader
 * that only traces (inspect.c) sets get alone. */
typedef struct memo_ctx {
	coco_state *st;
	coco_buf val;
	coco_buf used;                /* keys used by the row being evaluated */
	coco_buf puts;                /* keys written during this run */
	int mark;                     /* the state's sweep mark: 0 unknown, 1 absent, 2 set */
} memo_ctx;

int memo_get(void *ud, const unsigned char key[32], coco_arena *a, coco_value *out);
void memo_touch(void *ud, const unsigned char key[32]);
void memo_put(void *ud, const unsigned char key[32], const coco_value *v);

/* An encoded key as JSON text ("?" if it does not decode), for the state
 * dumps (dump.c, owner.c). */
void coco_dump_key(const char *k, size_t n, coco_arena *a, coco_buf *out);
