#pragma once
/* A prefetch queue: the GETs of the rows a source was told it is about to
 * read (coco_source_ops.prefetch), started ahead of read() over one
 * coco_http client, at most `window` started and not taken at a time, in
 * the order of the hint. read() takes the transfer of its key; entries
 * queued before it, which the indexer skipped, are dropped (their
 * transfers cancelled), and the window is topped up. Shared by the
 * network sources (AmazonS3, GoogleDrive); each one says how a key
 * becomes a request and what it does with the response.
 *
 *   coco_prefetch *pf = coco_prefetch_create(http, &(coco_prefetch_src){
 *       .ud = src, .plan = my_plan, .start = my_start, .window = 64 });
 *   coco_prefetch_hint(pf, keys, n);                         // prefetch()
 *   coco_http_xfer *x = coco_prefetch_take(pf, k, nk, url, v); // read()
 *   ...; coco_http_release(http, x);
 *
 * Belongs to the thread that drives its coco_http client. */
#include <stddef.h>
#include <stdint.h>

#include "engine/buf.h"
#include "engine/http.h"
#include "engine/value.h"

typedef struct coco_prefetch coco_prefetch;

typedef struct coco_prefetch_src {
	void *ud;                    /* the source, passed to plan and start */
	/* 1 when the row of key (n bytes) is to be fetched: url (cleared) gets
	 * the URL of its GET and *version a number that changes with its
	 * content (0 when the URL says it all); 0 to leave it out. */
	int (*plan)(void *ud, const char *key, size_t n, coco_buf *url, int64_t *version);
	/* Start the GET of url with the source's headers, signing and body
	 * limit (coco_http_start). */
	coco_http_xfer *(*start)(void *ud, const char *url);
	size_t window;               /* started and not taken at most (default 64) */
	/* take() of a queued entry not started yet: 1 starts it then (before
	 * the window is topped up); 0 returns NULL and the caller reads the
	 * row by its own means. */
	int start_on_take;
} coco_prefetch_src;

/* A queue over client h (not owned); src is copied. Never NULL:
 * allocation failure aborts. */
coco_prefetch *coco_prefetch_create(coco_http *h, const coco_prefetch_src *src);
/* Cancel what was started and free the queue. NULL is fine. */
void coco_prefetch_destroy(coco_prefetch *pf);
/* Replace the queue with the rows of keys (STR values; others, and those
 * plan() leaves out, are skipped), in that order, and start the first
 * `window` of them. Transfers already started for a key of the new hint,
 * same URL and version, are kept (a live pass resumed in a later slice
 * hints its remaining rows again; both hints are in the indexer's order,
 * so matches come in order too); the rest are cancelled. */
void coco_prefetch_hint(coco_prefetch *pf, const coco_value *keys, size_t n);
/* The transfer queued for key, which the caller waits on and releases
 * (coco_http_release); entries before it are dropped. NULL when key is not
 * queued, when its entry was not started (start_on_take 0), or when it was
 * started for another URL or version than url and version (the row changed
 * since the hint: that transfer is cancelled). url NULL: any. */
coco_http_xfer *coco_prefetch_take(coco_prefetch *pf, const char *key, size_t n,
	const char *url, int64_t version);
/* read()'s transfer for key, done: the one take() finds (any URL), else
 * one started now (plan, start); the caller releases it. NULL when plan()
 * leaves key out. */
coco_http_xfer *coco_prefetch_fetch(coco_prefetch *pf, const char *key, size_t n);
