#pragma once
/* The engine's persistent state: one RocksDB database per flow, in
 * `<state_dir>/<FlowName>/`, with column families:
 *   meta      the sources' order ("sources"), the lineage key format
 *             ("lineage"), owner-record marks ("owners..."), the WAL
 *             sweep's tombstone ("\0wal-gc")
 *   tracking  source row -> ordinal, content fingerprint, logic fingerprint
 *   lineage   source row -> target keys it wrote (+ value fingerprints)
 *   memo      function fingerprint + input fingerprint -> cached result
 *   setup     target resource id -> applied setup description
 *   owner     target key -> the source rows that collect it (owner.h)
 * All multi-key changes go through one atomic batch. */
#include <stddef.h>
#include "buf.h"

typedef enum coco_cf {
	COCO_CF_META = 0,
	COCO_CF_TRACKING,
	COCO_CF_LINEAGE,
	COCO_CF_MEMO,
	COCO_CF_SETUP,
	COCO_CF_OWNER,
	COCO_CF_COUNT
} coco_cf;

typedef struct coco_state coco_state;
typedef struct coco_batch coco_batch;
typedef struct coco_iter coco_iter;

/* Open (creating if missing) the state database in directory `dir`
 * (created with parents). A directory held by another live process is
 * refused plainly:
 *   "state directory /p/.coco/DocsIndex is in use by another coco process (pid 4242)"
 * read_only: open without taking the lock and without creating anything
 * (for `show`/`ls`/`evaluate`); fails with "no state" if missing. */
int coco_state_open(const char *dir, int read_only, coco_state **out, char **err);
void coco_state_close(coco_state *s);
/* Remove a state directory and everything in it (after close). */
int coco_state_remove(const char *dir, char **err);

/* 1 found (value in *val, replacing its content), 0 not found, -1 error. */
int coco_state_get(coco_state *s, coco_cf cf, const void *k, size_t kn, coco_buf *val, char **err);
/* Atomic write of a batch. sync: fsync the WAL (used at the end of a run). */
int coco_state_write(coco_state *s, coco_batch *b, int sync, char **err);

coco_batch *coco_batch_create(void);
void coco_batch_put(coco_batch *b, coco_cf cf, const void *k, size_t kn, const void *v, size_t vn);
void coco_batch_del(coco_batch *b, coco_cf cf, const void *k, size_t kn);
size_t coco_batch_count(const coco_batch *b);
void coco_batch_clear(coco_batch *b);
void coco_batch_destroy(coco_batch *b);

/* Iterate keys starting with prefix (n may be 0), in byte order. */
coco_iter *coco_state_iter(coco_state *s, coco_cf cf, const void *prefix, size_t n);
/* 1 with an item (pointers valid until the next call), 0 at the end, -1 error. */
int coco_iter_next(coco_iter *it, const char **k, size_t *kn, const char **v, size_t *vn, char **err);
/* Go to the first key >= k (within the prefix; paging). */
void coco_iter_seek(coco_iter *it, const void *k, size_t kn);
void coco_iter_destroy(coco_iter *it);
