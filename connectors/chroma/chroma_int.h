#pragma once
/* What the Chroma target's files share: chroma.c (options, the layout, the
 * setup description and setup, requests), write.c (batches of records),
 * query.c (top_k and scan). */
#include <stddef.h>
#include <stdint.h>

#include "engine/ops.h"
#include "engine/tdesc.h"
#include "engine/vstore.h"

#define WHO "Chroma"
#define MAX_RECORDS 1000          /* records per request (the server allows more) */

enum { R_META, R_KEY, R_DOC, R_EMB };   /* where a field goes */

typedef struct ccol {
	const char *name;
	const coco_type *type;
	int role;
} ccol;

typedef struct layout {
	coco_vs_export x;            /* url, collection, row, nkeys */
	coco_buf tenant, db;
	const char *space;           /* cosine, l2, ip */
	long m, efc;                 /* hnsw max_neighbors, ef_construction; 0: default */
	int emb, doc;                /* field indexes; doc -1: none */
	ccol *cols;
	uint32_t ncols, nkeys;
} layout;

/* The layout of an export from its options; free it with ch_layout_free
 * (also after a failure). */
int ch_layout_make(const coco_optval *opts, const coco_export_info *info, layout *l, char **err);
void ch_layout_free(layout *l);

typedef struct desc {
	coco_vs_desc v;              /* url, coll, key and column lines */
	const char *tenant, *db, *hnsw;
} desc;

/* A libcurl client for the target's requests. */
coco_http *ch_client(void);
/* url/api/v2/tenants/T/databases/D/collections[/name]<tail> into b */
void ch_coll_url(coco_buf *b, const char *url, const char *tenant, const char *db,
	const char *coll, const char *tail);
/* A request: 2xx is success (and 404 when ok404); h NULL: a plain exchange.
 * Returns the status, or -1 with *err. */
long ch_call(coco_http *h, const char *method, const char *url, const char *body,
	int ok404, const char *what, coco_http_resp *r, char **err);
/* The collection as the server has it: *id (malloc'd), *space, *dim (0:
 * not known yet). Returns 1, 0 when there is none, -1. */
int ch_coll_get(coco_http *h, const desc *d, char **id, char space[16], long *dim,
	char **err);

typedef struct c_tgt {
	coco_http *h;
	layout l;
	char *label;
	char *cid;                   /* the collection's id */
	coco_buf add_url, del_url, tmp;
	coco_vs_batch b;             /* spans: embedding, document, metadata */
	coco_buf alias;              /* records a scan found under another id (c_scan) */
	int fresh;                   /* 0: not known yet; 1: the collection was empty at the first
	                                commit, and holds only ids whose hashes are in sent; -1: not */
	uint64_t *sent;              /* XXH3 of the ids written since (0 an empty slot) */
	size_t nsent, capsent;
	coco_vs_stats stats;          /* COCO_CHROMA_STATS */
} c_tgt;

/* A record's id from its key (the key value, or a STRUCT of the key fields). */
void ch_key_id(const layout *l, const coco_value *k, coco_buf *out);
/* The description of l, to look the collection up. */
void ch_desc_of(const layout *l, desc *d);
/* The id of l's collection into *cid (malloc'd), or -1 with *err (none: "no
 * such collection (run <fix>)"). */
int ch_coll_id(coco_http *h, const layout *l, const char *what, const char *fix, char **cid,
	char **err);

/* coco_target_ops of write.c and query.c */
int ch_open(const coco_optval *opts, const coco_export_info *info, void **out, char **err);
int ch_begin(void *p, char **err);
int ch_upsert(void *p, const coco_value *row, char **err);
int ch_del(void *p, const coco_value *key, char **err);
int ch_commit(void *p, char **err);
void ch_close(void *p);
int ch_top_k(const coco_optval *opts, const coco_export_info *info, const char *field,
	const char *metric, const float *vec, size_t dim, size_t k, coco_arena *a,
	const coco_type **row_type, coco_value **rows, size_t *nrows, char **err);
int ch_scan(void *p, int (*cb)(void *ud, const coco_value *row), void *ud, coco_arena *a,
	char **err);
