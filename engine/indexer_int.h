#pragma once
/* Internals of the indexer, shared by indexer.c, memo.c, flush.c,
 * evaluate.c and the indexer's side of owner.c only. See indexer.h. */
#include "engine/indexer.h"
#include "engine/owner.h"
#include "engine/listing.h"
#include "engine/records_int.h"

#define BATCH_ROWS 512
/* Batch memory cap; a third of it per batch when two are alive at once
 * (one evaluated here, one written by the writer thread), so that peak
 * memory stays what one batch took. */
#define BATCH_BYTES (8u << 20)

/* ---- listing (indexer.c) ------------------------------------------------ */
typedef struct item {
	const char *key;              /* encoded key value */
	size_t nkey;
	const char *ord;              /* listed ordinal, NULL if not listed */
	size_t nord;
	int must_read;                /* reported by change capture: read it */
	const char *trk;              /* tracking record, NULL if untracked */
	size_t ntrk;
} item;

typedef struct items {
	item *v;
	size_t n, cap;
	coco_arena *a;
	coco_buf tmp;
} items;

/* Lists source s into it: sorted by key, one item a key. 0, or -1 with
 * *err ("<source>: <why>"). */
int list_items(const coco_gsource *s, void *src, items *it, char **err);

/* ---- the pass's view (passview.c) ------------------------------------- */
/* A pass over a whole source never holds every key of it: its items come
 * in key order a window at a time (at most WINDOW), the listing (sorted in
 * bounded memory, listing.h) merged with the source's tracked rows. An
 * orphan pass has tracked rows only.
 *
 * The tracked rows are read as of a snapshot taken before the source is
 * listed, so that a row committed after the listing began (a change
 * capture pass between two live slices, or while the listing thread
 * runs) is not in this pass's view: it was not listed, and it is not
 * deleted. A row the pass acts on is checked against its record as it
 * is now (pass_row). Each window makes its own iterator, seeked past the
 * last tracked key taken, so none stays open across live slices. */
#define WINDOW 1024

typedef struct cursor {
	int on;                       /* items come from here (full and orphan passes) */
	coco_state *st;
	coco_snapshot *snap;          /* the tracked rows as of the listing's start */
	coco_listing *l;              /* NULL: tracked rows only */
	int lrc;                      /* 1: lk/lo hold the listing's next pair */
	const char *lk, *lo;
	size_t nlk, nlo;
	char *name;                   /* the source's */
	coco_buf last;                /* the state key of the last tracked row taken */
	int tdone;                    /* every tracked row taken */
	uint64_t listed, seen;        /* pairs listed; items handed out */
	coco_buf tmp;                 /* an encoded key; a key to seek to */
	char *err;                    /* the listing callback's error */
} cursor;

void items_push(items *it, const item *x);
void items_sort_unique(items *it);
void cursor_init(cursor *c, coco_state *st, const char *name);
void cursor_free(cursor *c);
int gather(const coco_gsource *s, void *src, coco_state *st, cursor *c, char **err);
int cursor_end(const cursor *c);
int cursor_fill(cursor *c, items *w, char **err);
const item *item_keep(coco_arena *a, const item *x, const coco_buf *trk);

/* ---- memo (memo.c) ------------------------------------------------------ */
/* memo_ctx and its coco_memo hooks: records_int.h. A row evaluated or
 * deleted: the memo needs a sweep (memo.c). */
struct run;
void memo_dirty(struct run *r);

/* A set of 32-byte memo keys: */
typedef struct kset {
	const char **slot;
	size_t cap, n;
} kset;

void kset_add(kset *s, const char *k);
int kset_has(const kset *s, const char *k);

/* ---- one run over a source ---------------------------------------------- */
typedef struct target_rt {
	void *h;                      /* opened lazily */
} target_rt;

/* What a flush writes with: its own buffers, so that a flush on the
 * writer thread and the evaluation of the next batch share nothing. */
typedef struct flushio {
	coco_buf k, v;
	coco_batch *stage, *commit;
} flushio;

typedef struct run {
	const coco_graph *g;
	coco_state *st;
	char **rids;                  /* each export's resource id (lineage names it) */
	const coco_update_opts *o;    /* = &opts */
	coco_update_opts opts;
	target_rt *targets;
	coco_arena rowa;              /* batch memory */
	flushio io;                   /* flushes on this thread */
	coco_batch *commit;
	coco_buf kbuf, vbuf, tmp;
	struct flushjob *job;         /* the flush on the writer thread, or NULL */
	struct sweeper *sweeper;      /* a memo sweep on a helper thread, or NULL */
	kset swept_used;              /* memo keys rows used while it runs */
	double swept_at;              /* when the last one started (ms) */
	coco_arena swept_keys;        /* their memory */
	memo_ctx memo;
	coco_memo memo_ops;
	coco_xbatch *xb;              /* batch evaluation, when the flow needs it; else NULL */
	int dirty;                    /* rows were evaluated or deleted: sweep the memo */
	char **err;
	/* live slices (coco_indexer_set_deadline) */
	double deadline;              /* ms, 0: none */
	double flush_row_ms;          /* what the last flush took per row */
	double flush_ms;              /* and in all (fixed costs: commits, fsyncs) */
	int efd;                      /* eventfd the helper thread signals, -1 */
	struct pass *pass;            /* a pass stopped at its deadline */
	/* owned target rows (owner.h) */
	coco_owners *own;
	int *unique;                  /* per export: its keys cannot collide, no owners kept */
	int reordered;                /* sources reordered: this update writes every row */
	void **srcs;                  /* the opened sources (to evaluate an owner again) */
	const coco_gsource *src;      /* the source of the pass */
	coco_source_stats *stats;     /* and its stats */
} run;

/* A pending target write. */
typedef struct twrite {
	size_t exp;
	int del;
	size_t row;                   /* the done row that wrote it */
	coco_value v;                 /* row (upsert) or key struct (delete) */
} twrite;

typedef struct pending {
	twrite *w;
	size_t n, cap;
} pending;

/* What became of a row of the batch. */
typedef enum {
	ROW_FAILED = -1,              /* a row error: left out of the commit */
	ROW_UNCHANGED,                /* same content: only its new ordinal is committed */
	ROW_PROCESSED,                /* evaluated: its target writes and lineage */
	ROW_DELETED                   /* gone from the source: its target rows deleted */
} row_kind;

/* A processed row, waiting for the batch commit. */
typedef struct done_row {
	const item *it;
	row_kind kind;
	trk t;
	lineage lin;                  /* new committed lineage (ROW_PROCESSED) */
	lineage staged;               /* old ∪ new keys, for the staging record */
	int writes;
	/* a row waiting for batch evaluation (flows with call_batch functions) */
	int deferred, tracked;
	coco_value row;
	lineage oldl;
	trk old;
	char *refused;                /* a target refused its rows: why (malloc'd) */
	size_t idx;                   /* its place in the batch */
} done_row;

struct coco_indexer {
	run r;
	void **srcs;                  /* opened sources */
};

/* Applies a finished helper-thread sweep (wait: join one still running). */
int sweep_finish(run *r, int wait, char **err);

/* ---- target writes (flush.c) --------------------------------------------- */
/* Key struct (first nkeys fields) of an export row. */
coco_value key_of(const coco_value *row, uint32_t nkeys);
/* Diff the new export rows against the old lineage; queue writes. */
void diff_rows(run *r, done_row *d, const lineage *old, coco_rows *out, int reexport,
	pending *p);
/* The counter a processed row (kind 1) counts in. */
uint64_t *processed_counter(coco_source_stats *stats, const done_row *d);
/* Row errors for the rows a target refused. */
void report_refused(run *r, const coco_gsource *s, coco_source_stats *stats,
	done_row *done, size_t ndone);
/* Phase A: stage the keys about to be written. */
int flush_stage(run *r, flushio *io, const coco_gsource *s, done_row *done, size_t ndone,
	const pending *p, char **err);
/* Stage, write the targets, commit: one batch of processed rows. */
int flush_batch(run *r, flushio *io, const coco_gsource *s, done_row *done, size_t ndone,
	pending *p, const coco_fp *logic, char **err);
void flushio_free(flushio *io);
/* The writer thread: whether a flow may use it; hand a batch to it; wait
 * for the batch in flight; stop it. */
int job_allowed(const run *r);
int job_start(run *r, const coco_gsource *s, coco_source_stats *stats, done_row **done,
	size_t ndone, pending *p, const coco_fp *logic);
int job_wait(run *r);
void job_free(run *r);

/* ---- the pass (indexer.c) ------------------------------------------------ */
/* A source key as text: a string as is, else JSON. */
void key_text(const coco_value *key, coco_buf *out);
/* A row that failed: counted, reported through on_error (o may be NULL;
 * key NULL: "?"). row_error: the key of item it. */
void key_error(const coco_update_opts *o, const coco_gsource *s, coco_source_stats *stats,
	const coco_value *key, const char *msg);
void row_error(run *r, const coco_gsource *s, coco_source_stats *stats, const item *it,
	const char *msg);
/* A row read with a warning: counted, reported through on_warning. */
void row_warning(const coco_update_opts *o, const coco_gsource *s,
	coco_source_stats *stats, const coco_value *key, const char *msg);

/* ---- owned target rows (owner.c) ----------------------------------------- */
/* Row d writes key k of export x: whether the target gets its row. */
int owner_put(run *r, done_row *d, size_t x, lkey *k);
/* Row d no longer collects key k of export x: 0 delete the target row,
 * 1 nothing to write, 2 write the next owner's row *row. */
int owner_del(run *r, done_row *d, size_t x, const lkey *k, coco_value *row);
