#pragma once
/* The indexer's state records, shared by the indexer's files, inspect.c
 * and setup.c: their codecs and the layout of their keys.
 *
 * Both are keyed by the source row: <source name> NUL <encoded key>.
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
#include "buf.h"
#include "value.h"
#include "fingerprint.h"

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
/* The keys of a lineage record, staged or not (coco_owners_sync). */
int lineage_keys(const char *rec, size_t n, coco_arena *a, const char ***rids,
	const char ***keys, size_t **nkeys, size_t *count);
