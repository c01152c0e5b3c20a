#pragma once
/* The state store: the engine's persistent state, reached only through
 * this interface. One store per flow; two implementations:
 *   RocksDB     single node: one database in `<state_dir>/<FlowName>/`
 *               (state_rocksdb.c, coco_state_open)
 *   PostgreSQL  cluster mode (../shared/notes/cluster.md): schema
 *               "coco_<FlowName>" of a database (state_pg.c,
 *               coco_state_pg_open)
 *
 * The state is six key spaces ("column families"), keys and values opaque
 * bytes, keys ordered bytewise (memcmp, shorter first on a tie):
 *   meta      the sources' order ("sources"), the lineage key format
 *             ("lineage"), owner-record marks ("owners..."), the WAL
 *             sweep's tombstone ("\0wal-gc")
 *   tracking  source row -> ordinal, content fingerprint, logic fingerprint
 *   lineage   source row -> target keys it wrote (+ value fingerprints)
 *   memo      function fingerprint (16) + input fingerprint (16) -> cached
 *             result (content-addressed: a key always means one value)
 *   setup     target resource id -> applied setup description
 *   owner     target key -> the source rows that collect it (owner.h)
 * Record formats and key layouts belong to their writers (records_int.h,
 * owner.c, setup.c, memo.c); the store never looks inside.
 *
 * The contract every implementation keeps (the crash protocol of
 * flush.c, stage -> write targets -> commit, rests on it):
 * - Atomic: a batch (coco_state_write) is applied whole or not at all,
 *   across key spaces. A reader never sees part of one.
 * - Visible: once write returns 0, every get and every iterator created
 *   afterwards, on any thread, sees it.
 * - Durable: once write returns 0, the batch survives the death of the
 *   process (kill -9 at any point after it). With sync it also survives
 *   the machine's (power loss: fsync'ed). Without sync, a machine crash
 *   may lose a suffix of the last batches, never part of one, and never a
 *   later batch while keeping an earlier one lost (writes are ordered).
 * - Failed: a write that returns -1 applied nothing; *err says why, naming
 *   the store ("state directory D: no space left on device (...)").
 * - Memo: memo_put is not part of any batch and may be lost (a crash
 *   before the store persists it costs a call again, nothing else); a
 *   memo_get returns a value some memo_put stored under that key, or 0.
 *   In cluster mode the memo is shared by all workers and is never fenced.
 * - Iterators see one consistent view: the state as of their creation
 *   (writes made afterwards are not seen, whatever the thread), or as of
 *   the snapshot they are given (coco_state_snapshot): several iterators
 *   made at different times on one snapshot see the same state.
 * - Threads: one store is used from several threads at once (the writer
 *   thread commits batches while the main thread reads; the memo sweep
 *   iterates on a helper thread): get, write, iter, memo_get and memo_put
 *   are safe concurrently. A batch or an iterator belongs to one thread at
 *   a time. close runs alone.
 * - Read-only stores (opened for show/ls/evaluate/server) refuse writes
 *   with "state directory D: opened read-only" ("cluster URL U: opened
 *   read-only" in PostgreSQL) (memo_put too: its callers
 *   ignore that, a result not cached costs a call next time).
 * - Errors: -1 with a malloc'd message in *err (err may be NULL: the
 *   message is dropped); messages never name the implementation's
 *   internals (no "rocksdb"). */
#include <stddef.h>
#include "engine/buf.h"

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
typedef struct coco_snapshot coco_snapshot;   /* the implementation's own */

/* ---- The implementations' side ------------------------------------------ */
typedef struct coco_state_ops {
	const char *name;                     /* "rocksdb" */
	/* Release everything (and the store's lock); pending writes are
	 * persisted as write promised, nothing more is owed. */
	void (*close)(coco_state *s);
	/* Point read: 1 found (*val replaced by the value), 0 absent, -1. */
	int (*get)(coco_state *s, coco_cf cf, const void *k, size_t kn, coco_buf *val, char **err);
	/* Apply batch b atomically (see the contract); b is left as is. An
	 * empty batch is a no-op that succeeds. */
	int (*write)(coco_state *s, const coco_batch *b, int sync, char **err);
	/* Iterator over the keys of cf starting with prefix (n may be 0), in
	 * byte order, as of snapshot sn (NULL: now). Never NULL: errors come
	 * from iter_next. */
	coco_iter *(*iter)(coco_state *s, const coco_snapshot *sn, coco_cf cf, const void *prefix,
		size_t n);
	/* 1 with an item (pointers valid until the next call on it), 0 at the
	 * end (and ever after, until a seek), -1. */
	int (*iter_next)(coco_iter *it, const char **k, size_t *kn, const char **v, size_t *vn,
		char **err);
	/* The next iter_next returns the first key >= k within the prefix. */
	void (*iter_seek)(coco_iter *it, const void *k, size_t kn);
	void (*iter_destroy)(coco_iter *it);
	/* The memo (content-addressed, outside batches): key is 32 bytes. */
	int (*memo_get)(coco_state *s, const unsigned char key[32], coco_buf *val, char **err);
	int (*memo_put)(coco_state *s, const unsigned char key[32], const void *v, size_t vn,
		char **err);
	/* The state as it is now, for iter; released (after the iterators made
	 * with it) by release. */
	coco_snapshot *(*snapshot)(coco_state *s);
	void (*release)(coco_state *s, coco_snapshot *sn);
	/* A local directory for the engine's scratch files (the listing's
	 * spilled runs): the state directory, or a worker's cache directory. */
	const char *(*dir)(const coco_state *s);
	/* Cluster mode: whether this process holds the partition of state key
	 * k (a source row's `<source>\0<key>`), and so may pass over that row.
	 * NULL (RocksDB): every row is this process's. */
	int (*owns)(const coco_state *s, const void *k, size_t kn);
	/* Cluster mode, at a batch boundary: 1 when this process holds more
	 * partitions than its fair share (workers joined since the pass
	 * began); with now (no batch in flight: every write committed), gives
	 * the extra ones up. NULL (RocksDB): never. */
	int (*shed)(coco_state *s, int now);
	/* May be NULL. A hint that writing is done for now (a pass ended):
	 * start persisting what was written in the background (RocksDB: its
	 * memtables to table files), so that it overlaps what the caller does
	 * next (closing the targets) instead of waiting in close. */
	void (*persist)(coco_state *s);
} coco_state_ops;

/* An implementation's store and iterators start with these. */
struct coco_state {
	const coco_state_ops *ops;
};
struct coco_iter {
	const coco_state_ops *ops;
};

/* One operation of a batch, as implementations read them back. */
typedef struct coco_batch_op {
	int del;
	coco_cf cf;
	const char *k, *v;                    /* v: NULL for a delete */
	size_t kn, vn;
} coco_batch_op;
/* The operations of b in the order recorded: *pos starts at 0. 1 with
 * *op filled (pointers into b), 0 after the last. */
int coco_batch_next(const coco_batch *b, size_t *pos, coco_batch_op *op);

/* ---- The engine's side ----------------------------------------------------
 * RocksDB: open (creating if missing) the state database in directory
 * `dir` (created with parents). A directory held by another live process
 * is refused plainly:
 *   "state directory /p/.coco/DocsIndex is in use by another coco process (pid 4242)"
 * read_only: open without taking the lock and without creating anything
 * (for `show`/`ls`/`evaluate`); fails with "no state in DIR" if missing. */
int coco_state_open(const char *dir, int read_only, coco_state **out, char **err);
/* Remove a RocksDB state directory and everything in it (after close). */
int coco_state_remove(const char *dir, char **err);

/* PostgreSQL (cluster mode): open the state of flow `flow` in schema
 * "coco_<flow>" of the database at url (a libpq URI or key=value string),
 * creating the schema and its tables unless read_only. Messages name the
 * URL with its password redacted:
 *   "cluster URL postgres://u:***@db:5432/x: connection to server at ... failed: ..."
 * read_only with no state there: "no state for flow F in cluster URL ...".
 * A read-write open holds no partition: coco_cluster_balance (cluster.h)
 * claims some, and every write is fenced by those held (a write that finds
 * one taken writes nothing: "cluster URL ...: this process lost its lease
 * on N partitions of flow F (...): nothing was written"); close frees them.
 * Scratch files go to $TMPDIR (else /tmp): nothing is made beside the flow. */
int coco_state_pg_open(const char *url, const char *flow, int read_only, coco_state **out,
	char **err);
/* Drop that schema and everything in it (after close; none is fine). */
int coco_state_pg_remove(const char *url, const char *flow, char **err);
/* Close any store (NULL is fine). */
static inline void coco_state_close(coco_state *s)
{
	if (s)
		s->ops->close(s);
}

/* 1 found (value in *val, replacing its content), 0 not found, -1 error. */
static inline int coco_state_get(coco_state *s, coco_cf cf, const void *k, size_t kn,
	coco_buf *val, char **err)
{
	return s->ops->get(s, cf, k, kn, val, err);
}

/* Atomic write of a batch (the batch is left as is). sync: durable past a
 * machine crash when it returns (setup's records). Not inline: the kill
 * points of spec/crash_spec.lua break on it, whatever the store. */
int coco_state_write(coco_state *s, coco_batch *b, int sync, char **err);

/* A cached result by its 32-byte key: 1 found (into *val), 0 not, -1. */
static inline int coco_state_memo_get(coco_state *s, const unsigned char key[32],
	coco_buf *val, char **err)
{
	return s->ops->memo_get(s, key, val, err);
}

/* Store a cached result as soon as it is computed (outside any batch). */
static inline int coco_state_memo_put(coco_state *s, const unsigned char key[32],
	const void *v, size_t vn, char **err)
{
	return s->ops->memo_put(s, key, v, vn, err);
}

/* A batch: puts and deletes recorded in memory (keys and values copied),
 * applied by coco_state_write. Independent of the store. */
coco_batch *coco_batch_create(void);
void coco_batch_put(coco_batch *b, coco_cf cf, const void *k, size_t kn, const void *v, size_t vn);
void coco_batch_del(coco_batch *b, coco_cf cf, const void *k, size_t kn);
size_t coco_batch_count(const coco_batch *b);
void coco_batch_clear(coco_batch *b);
void coco_batch_destroy(coco_batch *b);

/* Iterate keys starting with prefix (n may be 0), in byte order, seeing
 * the state as of the call. Free with coco_iter_destroy(). */
static inline coco_iter *coco_state_iter(coco_state *s, coco_cf cf, const void *prefix, size_t n)
{
	return s->ops->iter(s, NULL, cf, prefix, n);
}

/* coco_state_iter as of snapshot sn (NULL: now). */
static inline coco_iter *coco_state_iter_at(coco_state *s, const coco_snapshot *sn, coco_cf cf,
	const void *prefix, size_t n)
{
	return s->ops->iter(s, sn, cf, prefix, n);
}

/* A view of the state as it is now: iterators made with it see no later
 * write. Release it with coco_state_release() (NULL is fine) once they are
 * destroyed. */
static inline coco_snapshot *coco_state_snapshot(coco_state *s)
{
	return s->ops->snapshot(s);
}

static inline void coco_state_release(coco_state *s, coco_snapshot *sn)
{
	if (sn)
		s->ops->release(s, sn);
}

/* Whether this process may pass over the source row of state key k: 1 in
 * single-node mode; in cluster mode, whether it holds the row's partition. */
static inline int coco_state_owns(const coco_state *s, const void *k, size_t kn)
{
	return !s->ops->owns || s->ops->owns(s, k, kn);
}

/* At a batch boundary: 1 when partitions should be given up (cluster
 * mode's fair share); with now, gives them up. 0 in single-node mode. */
static inline int coco_state_shed(coco_state *s, int now)
{
	return s->ops->shed && s->ops->shed(s, now);
}

/* Writing is done for now: start persisting it in the background (ops.persist). */
static inline void coco_state_persist(coco_state *s)
{
	if (s->ops->persist)
		s->ops->persist(s);
}

/* The directory for scratch files (the indexer's spilled listing). */
static inline const char *coco_state_dir(const coco_state *s)
{
	return s->ops->dir(s);
}

/* 1 with an item (pointers valid until the next call), 0 at the end, -1 error. */
static inline int coco_iter_next(coco_iter *it, const char **k, size_t *kn, const char **v,
	size_t *vn, char **err)
{
	return it->ops->iter_next(it, k, kn, v, vn, err);
}

/* Go to the first key >= k (within the prefix; paging). */
static inline void coco_iter_seek(coco_iter *it, const void *k, size_t kn)
{
	it->ops->iter_seek(it, k, kn);
}

/* Free an iterator (NULL is fine). */
static inline void coco_iter_destroy(coco_iter *it)
{
	if (it)
		it->ops->iter_destroy(it);
}
