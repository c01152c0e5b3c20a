#pragma once
/* The HTTP client of coco's network connectors (S3, SQS, and the future
 * embedding and Google Drive connectors): one module over libcurl's multi
 * interface, not a copy per connector.
 *
 *   - many requests in flight on one thread (coco_http_start + coco_http_wait
 *     or coco_http_run), or one at a time (coco_http_do);
 *   - connections kept and reused between requests (the multi handle's
 *     connection cache; TCP keep-alive);
 *   - timeouts: connect, stall (no byte for a while) and, per request, total;
 *   - retries of transport failures, 408/429/5xx and throttling errors, with
 *     exponential backoff and jitter, honouring Retry-After;
 *   - SigV4 signing through CURLOPT_AWS_SIGV4 (the caller builds a canonical
 *     URL: see connectors/s3/README.md for what libcurl 7.88 needs).
 *
 * A client belongs to one thread at a time; coco_http_wakeup() is the only
 * call that may come from another thread. */
#include <stddef.h>

#include "engine/buf.h"

typedef struct coco_http coco_http;
typedef struct coco_http_xfer coco_http_xfer;

typedef struct coco_http_opts {
	int max_inflight;            /* transfers running at once (default 16) */
	long connect_timeout_ms;     /* default 10,000 */
	long stall_timeout_ms;       /* fail when no byte moves this long (default 60,000) */
	long timeout_ms;             /* whole transfer; 0: none (default) */
	int max_retries;             /* retries after the first attempt (default 4; < 0: none) */
	long backoff_ms;             /* first retry delay, doubled each time (default 200) */
	long backoff_max_ms;         /* delay cap, Retry-After included (default 20,000) */
	const char *user_agent;      /* default "coco" */
} coco_http_opts;

typedef struct coco_http_req {
	const char *method;          /* NULL: GET, or POST when body is set; "HEAD", "PUT"... */
	const char *url;
	const char *const *headers;  /* "Name: value" lines, NULL-terminated; may be NULL */
	const void *body;            /* sent as is (copied); with CURLOPT_POSTFIELDS */
	size_t nbody;
	/* SigV4: "aws:amz:REGION:SERVICE" and the credentials; NULL: unsigned.
	 * Session tokens go in headers (x-amz-security-token). */
	const char *aws_sigv4, *access_key, *secret_key;
	long timeout_ms;             /* whole transfer; 0: the client's */
	int no_retry;                /* one attempt only */
	size_t max_body;             /* fail with too_large past this many bytes; 0: no limit */
} coco_http_req;

typedef struct coco_http_resp {
	long status;                 /* HTTP status of the last attempt; 0: none (transport failure) */
	coco_buf body;
	coco_buf headers;            /* the last response's header lines, as received */
	char *error;                 /* transport failure ("Connection refused"), else NULL */
	int too_large;               /* the body passed max_body (status is kept) */
	int attempts;
} coco_http_resp;

/* A client; o may be NULL (defaults). Never NULL: allocation failure aborts.
 * Initialises libcurl once per process. */
coco_http *coco_http_create(const coco_http_opts *o);
/* Cancels what runs, frees every transfer and the client. NULL is fine. */
void coco_http_destroy(coco_http *h);

/* Queue a request (everything in r is copied); it starts as soon as a slot
 * is free and runs while the client is driven (wait, run, do). ud is the
 * caller's. */
coco_http_xfer *coco_http_start(coco_http *h, const coco_http_req *r, void *ud);
/* Drive every transfer until x is done (retries included). */
void coco_http_wait(coco_http *h, coco_http_xfer *x);
/* Drive every transfer once: wait up to timeout_ms for network activity, a
 * retry falling due or coco_http_wakeup(). Returns the number of transfers
 * not done yet. */
int coco_http_run(coco_http *h, long timeout_ms);
/* Thread-safe: make a coco_http_run() blocked in another thread return. */
void coco_http_wakeup(coco_http *h);
int coco_http_done(const coco_http_xfer *x);
void *coco_http_ud(const coco_http_xfer *x);
/* The response of a done transfer; the caller may take its buffers. */
coco_http_resp *coco_http_resp_of(coco_http_xfer *x);
/* Cancel x if it still runs, and free it (and its response). */
void coco_http_release(coco_http *h, coco_http_xfer *x);

/* One request, synchronously: start + wait. *out is filled (free it with
 * coco_http_resp_free). Returns 0 when a response came (any status), -1 on
 * a transport failure (out->error says what). */
int coco_http_do(coco_http *h, const coco_http_req *r, coco_http_resp *out);
void coco_http_resp_free(coco_http_resp *r);

/* The value of header `name` (case-insensitive) in r, trimmed, or NULL;
 * *n gets its length. Points into r->headers. */
const char *coco_http_header(const coco_http_resp *r, const char *name, size_t *n);

/* The delay before retry number `attempt` (1-based): backoff_ms * 2^(attempt-1)
 * capped at backoff_max_ms, with "equal jitter" (half fixed, half random),
 * and at least retry_after_ms (capped too). r: a random number. */
long coco_http_backoff(const coco_http_opts *o, int attempt, long retry_after_ms, unsigned r);
/* Retry-After as milliseconds: delta seconds or an HTTP date; -1 if absent
 * or unreadable. now: time(NULL). */
long coco_http_retry_after_ms(const char *v, size_t n, long long now);
/* Seconds since the epoch of an HTTP date ("Sun, 06 Nov 1994 08:49:37 GMT"),
 * or -1. */
long long coco_http_parse_date(const char *s, size_t n);
/* t (seconds since the epoch) as an HTTP date, "Sun, 06 Nov 1994 08:49:37 GMT",
 * whatever the locale. */
void coco_http_format_date(long long t, char out[30]);

/* Percent-encoding for URL paths and query values (RFC 3986, as AWS and
 * Azure sign them): unreserved bytes (A-Z a-z 0-9 - _ . ~) kept, every
 * other byte as %XX in upper-case hex; '/' kept when keep_slash. */
void coco_http_url_encode(coco_buf *out, const char *s, size_t n, int keep_slash);
/* Percent-decoding, appended to out: %XX a byte, '+' a space when
 * plus_is_space (form encoding, as S3 lists keys). Returns -1 on a
 * malformed escape (kept as it was), else 0. */
int coco_http_url_decode(coco_buf *out, const char *s, size_t n, int plus_is_space);
