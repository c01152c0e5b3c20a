#pragma once
/* What the vector-store targets over HTTP (Qdrant, Chroma) share: a JSON
 * request with a readable error, values to and from JSON by their coco
 * type, point ids from primary keys, and URL path segments. */
#include <stddef.h>
#include <stdint.h>

#include "engine/buf.h"
#include "engine/http.h"
#include "engine/ops.h"
#include "engine/tdesc.h"
#include "engine/value.h"

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

/* A request whose 2xx is success (and 404 when ok404: returns 404); h NULL:
 * one plain exchange (coco_vs_request_plain, 10 s). Returns the status, or
 * -1 with *err: a transport failure, or "<who>: <what>: HTTP <status>:
 * <message>" and, on 401 and 403, auth_hint (NULL: none) after it. */
long coco_vs_call(coco_http *h, const char *who, const char *method, const char *url,
	const char *const *hdr, const char *body, int ok404, const char *what, const char *auth_hint,
	coco_http_resp *r, char **err);

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

/* What a target's commits did; written to stderr when it closes if the
 * environment variable env (COCO_CHROMA_STATS) is set and it did any:
 *   coco: Chroma docs on URL: 3 batches, 5 requests, 10 upserts, 0 deletes, 12.3 ms in the target */
typedef struct coco_vs_stats {
	uint64_t batches, requests, upserts, deletes;
	double ms;
} coco_vs_stats;
void coco_vs_stats_note(const coco_vs_stats *s, const char *env, const char *who,
	const char *label);

/* ---- an export's layout and setup (vstore_layout.c) ------------------------------
 * What both targets read from an export's options and describe the same
 * way: the server's url, the collection, the key; and the plan/check steps
 * of their setup, around their own descriptions. Messages start with the
 * target's name (who) and name the export. */

typedef struct coco_vs_export {
	const char *who;             /* "Qdrant" */
	const char *exp;             /* the export's name */
	const coco_type *row;        /* the export's row: a STRUCT, nkeys key fields first */
	uint32_t nkeys;
	coco_buf url, coll;          /* url without a trailing '/'; the collection's name */
	char (*spec)[80];            /* per field, where it goes: the rest of its column
	                                line ("payload", "vector 384 Cosine"), the target's to fill */
} coco_vs_export;

/* Fills x from the url option (NULL or unset: $url_env, else url_default),
 * the collection_name option (unset: <flow>__<export>) and info. A url
 * must be http:// or https:// (hint: what follows https:// in the message,
 * "" or " (Qdrant's REST port...)") and hold no password or token (it is
 * stored in the state and shown). Returns 0, or -1 with *err; free x with
 * coco_vs_export_free either way. */
int coco_vs_export_init(coco_vs_export *x, const char *who, const coco_export_info *info,
	const coco_optval *url, const char *url_env, const char *url_default, const char *hint,
	const coco_optval *coll, char **err);
void coco_vs_export_free(coco_vs_export *x);

/* One entry of vector_indexes: field (an index of the row), metric
 * ("cosine", "l2" or "ip"), m and ef_construction (0: not given); ix counts
 * from 1. Returns 0, or -1 with *err. */
typedef int (*coco_vs_index_fn)(void *ud, size_t ix, int field, const char *metric, long m,
	long efc, char **err);

/* Reads vector_indexes = {{ field =, metric =, method = "hnsw", m =,
 * ef_construction = }} (JSON text js) and calls fn for each entry. what:
 * what the store indexes, for the message on another method ("vectors").
 * Returns 0, or -1 with *err. */
int coco_vs_vector_indexes(const coco_vs_export *x, const char *js, const char *what,
	coco_vs_index_fn fn, void *ud, char **err);

/* A description's lines the targets share (url, collection) and its key
 * and column lines (engine/tdesc.h, COCO_TDESC_SQL_REST); a target's own
 * description struct starts with this one. */
typedef struct coco_vs_desc {
	coco_tdesc t;
	const char *url, *coll;
} coco_vs_desc;

/* Appends the description's first lines: "url U" and "collection C". */
void coco_vs_desc_head(coco_buf *desired, const coco_vs_export *x);
/* Appends its last: the key line, then a column line a field (x->spec). */
void coco_vs_desc_tail(coco_buf *desired, const coco_vs_export *x);

/* What a target plugs into the shared setup steps. */
typedef struct coco_vs_setup {
	const char *who;
	size_t desc_size;            /* sizeof the target's description struct */
	const char *key_words;       /* in a reason: "key (point ids)" */
	/* parses text into d (a desc_size struct, zeroed); line reads the
	 * target's own lines (url and collection are read before it) */
	coco_tdesc_line_fn line;
	/* after parsing: -1 with *err when a line the target needs is missing */
	int (*complete)(const coco_vs_desc *d, char **err);
	void (*plan_create)(const coco_vs_desc *d, coco_buf *plan);
	/* reasons to recreate beyond url, collection and key */
	void (*reasons)(const coco_vs_desc *s, const coco_vs_desc *d, coco_buf *why);
	/* the plan of fields added, dropped or changed in place; 1 when data
	 * is lost (the collection keeps its records) */
	int (*plan_fields)(const coco_vs_desc *s, const coco_vs_desc *d, coco_buf *plan);
	/* the collection on the server next to d: *exists, and in why what
	 * was changed by hand; -1 when it cannot be read */
	int (*server)(const coco_vs_desc *d, int *exists, coco_buf *why, char **err);
} coco_vs_setup;

/* Parses text with s's lines into d (s->desc_size bytes). 0, or -1 with *err. */
int coco_vs_desc_parse(const coco_vs_setup *s, const char *text, coco_arena *a, coco_vs_desc *d,
	char **err);
/* Appends why the collection must be recreated to go from s to d: url,
 * collection, key, then the target's reasons. */
void coco_vs_recreate_reasons(const coco_vs_setup *o, const coco_vs_desc *s,
	const coco_vs_desc *d, coco_buf *why);
/* coco_target_ops.plan and .check, on the target's setup steps: fields
 * dropped in place keep the collection's records (COCO_SETUP_KEEPS_ROWS). */
int coco_vs_plan(const coco_vs_setup *o, const char *stored, const char *desired, coco_buf *plan,
	int *destructive, char **err);
int coco_vs_check(const coco_vs_setup *o, const char *desired, coco_buf *plan, int *destructive,
	char **err);
/* Defines the target's static NAME_plan and NAME_check on its setup s. */
#define COCO_VS_PLAN_CHECK(NAME, s) \
	static int NAME##_plan(const char *stored, const char *desired, coco_buf *plan, \
		int *destructive, char **err) \
	{ return coco_vs_plan(&(s), stored, desired, plan, destructive, err); } \
	static int NAME##_check(const char *desired, coco_buf *plan, int *destructive, char **err) \
	{ return coco_vs_check(&(s), desired, plan, destructive, err); }

/* ---- writes and queries ---------------------------------------------------------- */

/* -1 with *err = "<who>: a row has N fields, expected M" unless row is a
 * STRUCT of n fields; else 0. */
int coco_vs_row_check(const char *who, const char *label, const coco_value *row, uint32_t n,
	char **err);

/* The error of a write the server answered with r (not 2xx; status 0: a
 * transport failure): *err names what, the url and the server's message.
 * Returns COCO_TGT_REFUSED for data the server refuses (400, 422), else -1. */
int coco_vs_write_err(const char *who, const char *what, const char *url,
	const coco_http_resp *r, char **err);

/* Records a scan found under an id other than the one their key gives
 * (added by hand): key_id -> id pairs, so that del() of the key deletes
 * them too (coco verify --repair of a stale row). */
void coco_vs_alias_add(coco_buf *al, const char *key_id, size_t nk, const char *id, size_t n);
/* The next id recorded for key_id from offset at (0 at first): returns the
 * offset after it, or 0 when there is none left.
 *   for (size_t at = 0; (at = coco_vs_alias_next(al, k, nk, at, &id, &n));) */
size_t coco_vs_alias_next(const coco_buf *al, const char *key_id, size_t nk, size_t at,
	const char **id, size_t *n);

/* The JSON number s[0, n) as a double (0 when it is none). */
double coco_vs_number(const char *s, size_t n);
