#pragma once
/* What the vector-store targets over HTTP (Qdrant, Chroma) share: a JSON
 * request with a readable error, values to and from JSON by their coco
 * type, point ids from primary keys, and URL path segments. */
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "http.h"
#include "value.h"

/* Appends "[f,f,...]": each float32 in at most 9 significant digits,
 * trailing zeros dropped, which read back to the same float (a non-finite
 * one as null). Fast: no printf. */
void coco_vs_floats(coco_buf *b, const float *v, size_t n);

/* Appends s as a URL path segment: every byte but A-Z a-z 0-9 - . _ ~ as %XX. */
void coco_vs_path(coco_buf *b, const char *s);

/* A UUID (8-4-4-4-12 lowercase hex, version 8, RFC 9562 variant) made of
 * the 128-bit fingerprint of key: the same key, the same id. key: the key
 * value as the engine gives it to del() (a STRUCT of the key fields), or
 * one built from a row's first nkeys fields. */
void coco_vs_uuid(const coco_value *key, char out[37]);

/* The key of row (a STRUCT whose first nkeys fields are the key) as del()
 * receives it: a STRUCT of those fields, pointing into row. */
coco_value coco_vs_key_of(const coco_value *row, uint32_t nkeys);

/* The JSON value s[0, n) (null allowed) as a value of type t, allocated
 * from a: str, int64, float32/64, bool, bytes (base64), range ([a, b]),
 * vector (an array of numbers); json, struct and table stay JSON text.
 * Returns 0, or -1 when the JSON does not fit the type. */
int coco_vs_from_json(const char *s, size_t n, const coco_type *t, coco_arena *a,
	coco_value *out);

/* One JSON request: method url with body (NULL: none) and the extra header
 * lines hdr (NULL-terminated, may be NULL). Fills *resp (free it with
 * coco_http_resp_free). Returns the HTTP status (2xx: done), or -1 on a
 * transport failure, with *err = "<who>: cannot reach <url>: why". A
 * status other than 2xx does not set *err: see coco_vs_status_err. */
long coco_vs_request(coco_http *h, const char *who, const char *method, const char *url,
	const char *const *hdr, const char *body, size_t nbody, coco_http_resp *resp, char **err);

/* One request to an http:// URL over a socket of its own, without libcurl:
 * for a query (coco query, flow:top_k), where loading libcurl and its
 * libraries costs more than the request. HTTP/1.1, Connection: close; a
 * Content-Length, chunked or closed body; timeout_ms for the whole
 * exchange. Fills resp->status and resp->body (free with
 * coco_http_resp_free). Returns the status, or -1 with *err = "<who>:
 * cannot reach <url>: why" (https:// URLs are refused: use
 * coco_vs_request). */
long coco_vs_request_plain(const char *who, const char *method, const char *url,
	const char *const *hdr, const char *body, size_t nbody, long timeout_ms,
	coco_http_resp *resp, char **err);

/* *err = "<who>: <what>: HTTP <status>: <the server's message>", the
 * message taken from a JSON body's status.error / error / message / detail
 * member when there is one, else the body's first 300 bytes. Returns -1. */
int coco_vs_status_err(const char *who, const char *what, const coco_http_resp *r, char **err);

/* The writes of an open batch, one per record id: a later write of the
 * same id supersedes the earlier one (dead), so what is left may be sent
 * in any order and split across requests. Each write keeps up to three
 * spans of data (the JSON parts a target sends). Zero-initialise. */
typedef struct coco_vs_op {
	size_t id, nid;              /* the id's bytes in ids */
	int del, dead;
	size_t off[3], len[3];       /* spans of data */
} coco_vs_op;

typedef struct coco_vs_batch {
	coco_buf ids, data;
	coco_vs_op *ops;
	size_t n, cap, live;
	uint32_t *slots;             /* id hash -> op index + 1 */
	size_t nslots;
} coco_vs_batch;

/* A new write of id (del: a delete); supersedes the batch's earlier write
 * of id. The pointer is valid until the next add. */
coco_vs_op *coco_vs_batch_add(coco_vs_batch *b, const char *id, size_t nid, int del);
static inline const char *coco_vs_op_id(const coco_vs_batch *b, const coco_vs_op *o)
{ return b->ids.p + o->id; }
void coco_vs_batch_clear(coco_vs_batch *b);
void coco_vs_batch_free(coco_vs_batch *b);
