#pragma once
/* A source's listing in key order, in bounded memory (issue 20).
 *
 * A pass compares what a source lists with the rows it tracks, as two
 * streams in key order. A source lists in its own order (a directory walk
 * in the file system's hash order, a Lua source in any order), so the
 * listed (key, ordinal) pairs are sorted here: they collect in a run of at
 * most run_bytes; a full run is sorted and appended to a temporary file,
 * unlinked from the start (a killed process leaves nothing behind);
 * coco_listing_next merges the runs. A listing that fits in one run never
 * touches a file. Memory: one run, plus a 64 KB read buffer per spilled
 * run while merging (1,000,000 files of the benchmark corpus: ~10 runs of
 * 4 MB, about 5 MB in all, against ~180 MB held as an array).
 *
 * Keys compare as bytes (memcmp, the shorter first on a tie), the order
 * of RocksDB's keys; of equal keys, the first added is the one returned.
 *
 *   coco_listing *l = coco_listing_create(dir, 0);
 *   coco_listing_add(l, key, nkey, ord, nord, &err);   // per listed row
 *   coco_listing_finish(l, &err);
 *   while ((rc = coco_listing_next(l, &k, &nk, &o, &no, &err)) == 1) ...
 *   coco_listing_destroy(l);
 */
#include <stddef.h>
#include <stdint.h>

typedef struct coco_listing coco_listing;

/* tmpdir: where runs spill (the flow's state directory: the same disk as
 * the state, and not a RAM-backed /tmp); run_bytes: 0 for the default
 * (4 MB, or $COCO_LISTING_RUN_BYTES: specs make every listing spill). */
coco_listing *coco_listing_create(const char *tmpdir, size_t run_bytes);
/* Adds one listed pair (copied). -1 with *err when a full run could not
 * be written:
 *   "cannot write the listing to a temporary file in /p/.coco/Flow: No space left on device" */
int coco_listing_add(coco_listing *l, const void *key, size_t nkey, const void *ord, size_t nord,
	char **err);
/* After the last add: sorts the last run and starts the merge. */
int coco_listing_finish(coco_listing *l, char **err);
/* The next pair in key order, duplicates left out: 1 (the pointers are
 * valid until the next call), 0 at the end, -1 with *err on a read error. */
int coco_listing_next(coco_listing *l, const char **key, size_t *nkey, const char **ord,
	size_t *nord, char **err);
/* Pairs added so far (duplicates included). */
uint64_t coco_listing_count(const coco_listing *l);
/* Runs written to the temporary file so far (0: all in memory). */
size_t coco_listing_spilled(const coco_listing *l);
void coco_listing_destroy(coco_listing *l);
