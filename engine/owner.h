#pragma once
/* Owned target rows: who collects each target key.
 *
 * Two source rows may collect the same target key. The target then holds
 * the row of the winner: the row of the first source in flow order, then
 * of the smallest source key (the order of the encoded key, as tracking
 * stores it) -- what a fresh build writes, and what `coco verify` expects.
 *
 * State keeps, for each target key written, the source rows that collect
 * it (column family `owner`):
 *   key:   8 bytes (the target's resource id, hashed) + encoded target key
 *   value: varint n, n x (source name, encoded source key), each as
 *          varint length + bytes
 * A key collected by one row costs one small record. The records a batch
 * changed are written with its staging record, before the targets are:
 * after a crash the next run finds who owned what, and rows left staged
 * are evaluated again and correct their entries.
 *
 * A coco_owners is the overlay of one batch: the records read or changed
 * by its rows (later rows of the batch see what earlier ones changed),
 * written by coco_owners_stage(). */
#include "engine/graph.h"
#include "engine/state.h"

typedef struct coco_owner {
	const char *src, *key;       /* source name; encoded source key */
	size_t nsrc, nkey;
} coco_owner;

typedef struct coco_oent {
	coco_owner *o;
	size_t n, cap;
	int dirty;
	/* the record's key in state */
	char *okey;
	size_t nokey;
} coco_oent;

typedef struct coco_owners coco_owners;

coco_owners *coco_owners_create(const coco_graph *g);
/* Before the first get: notes whether state holds any owner record (a
 * first index reads none from state). 0, or -1 with *err. */
int coco_owners_open(coco_owners *w, coco_state *st, char **err);
void coco_owners_destroy(coco_owners *w);
/* The record of (rid, target key), from the overlay or state; an empty
 * one (n == 0) when none. NULL with *err when state cannot be read.
 * Valid until coco_owners_stage() or coco_owners_reset(). */
coco_oent *coco_owners_get(coco_owners *w, coco_state *st, const char *rid, const char *tkey,
	size_t ntkey, char **err);
/* Index of owner (src, key) in e, or -1. */
long coco_oent_find(const coco_oent *e, const char *src, const char *key, size_t nkey);
/* Adds an owner (copied), or removes entry i; both mark e dirty. */
void coco_oent_add(coco_owners *w, coco_oent *e, const char *src, const char *key, size_t nkey);
void coco_oent_remove(coco_owners *w, coco_oent *e, size_t i);
/* Index of the winner of e (n > 0): the first source in flow order
 * (sources no longer in the flow last), then the smallest key. */
size_t coco_oent_winner(const coco_owners *w, const coco_oent *e);
/* Index of the best owner but i (n > 1). */
size_t coco_oent_runner_up(const coco_owners *w, const coco_oent *e, size_t i);
/* 1 when some record of the overlay changed. */
int coco_owners_dirty(const coco_owners *w);
/* Puts (or deletes, when empty) the changed records into batch b, then
 * forgets the overlay. */
void coco_owners_stage(coco_owners *w, coco_batch *b);
/* Forgets the overlay (a batch that was not written). */
void coco_owners_reset(coco_owners *w);
/* 1 the first time (rid, tkey) is asked since the last call with
 * reset set (a warning about it is given once per update). */
int coco_owners_first_warning(coco_owners *w, const char *rid, const char *tkey, size_t ntkey);
void coco_owners_new_update(coco_owners *w);

/* The records of target rid are deleted, and its meta key (the target
 * was created anew, or dropped), into b. */
int coco_owners_forget(coco_state *st, const char *rid, coco_batch *b, char **err);
/* Owner records are kept for the targets whose export's keys may collide
 * (coco_graph_export_keys_unique() == 0): for each of rids[0..n) without
 * unique[i], when it had none kept (a state written before, or an export
 * that became able to collide), they are built from lineage (every row
 * whose lineage names the key, staged or not). A target that keeps them
 * goes on keeping them (unique[i] is cleared) until setup empties it
 * (coco_owners_forget): rows of the flow before may still share keys.
 * A meta key per target says which. */
int coco_owners_sync(coco_state *st, const char *const *rids, int *unique, size_t n, char **err);
/* Appends "O\t<hash>\t<target key>\t<source>\t<source key>" lines (keys as
 * JSON) for tests. */
int coco_owners_dump(coco_state *st, coco_buf *out, char **err);
