#pragma once
/* What the Qdrant target's files share: qdrant.c (options, the layout, the
 * setup description and setup, connections), write.c (batches of points),
 * query.c (top_k and scan). */
#include <stddef.h>
#include <stdint.h>

#include "engine/ops.h"
#include "engine/tdesc.h"
#include "engine/vstore.h"

#define WHO "Qdrant"
#define MIN_POINTS 128            /* points per request: a batch is split in */
#define MAX_POINTS 512            /* INFLIGHT requests of MIN..MAX points */
#define MAX_BYTES (16u << 20)     /* bytes per request (Qdrant takes 32 MB) */
#define INFLIGHT 4                /* requests of a commit in flight at once: the
                                     server parses and applies them in parallel */
#define CREATE_WAIT_MS 60000     /* how long setup waits for a killed run's create
                                     to end (see create_collection) */

typedef struct qcol {
	const char *name;
	const coco_type *type;
	int vec;                     /* a named vector (else payload) */
	const char *metric;          /* cosine, l2, ip */
	long m, efc;                 /* hnsw_config; 0: Qdrant's default */
} qcol;

typedef struct layout {
	coco_vs_export x;            /* url, collection, row, nkeys */
	const char *key_env;
	qcol *cols;
	uint32_t ncols, nkeys;
	uint32_t nvec;               /* named vectors */
	int vec1;                    /* the one named vector when nvec == 1, else -1 */
} layout;

/* The layout of an export from its options; free it with qd_layout_free
 * (also after a failure). */
int qd_layout_make(const coco_optval *opts, const coco_export_info *info, layout *l, char **err);
void qd_layout_free(layout *l);

typedef struct conn {
	coco_http *h;                /* NULL: one plain exchange a call (queries) */
	char *hdr[2];                /* "api-key: ..." or NULL */
	coco_buf url;                /* scratch */
} conn;

/* plain: no libcurl client, one plain exchange a call (see conn_open_query). */

/* A connection with the API key of $key_env (NULL: none); for a query, a
 * plain exchange on http:// URLs (no libcurl). */
int qd_conn_open(conn *c, const char *key_env, char **err);
int qd_conn_open_query(conn *c, const char *url, const char *key_env, char **err);
void qd_conn_close(conn *c);
/* url/collections/<coll><tail> in c's scratch buffer */
const char *qd_coll_url(conn *c, const char *url, const char *coll, const char *tail);
/* A request whose 2xx is success (and 404 when ok404); the status or -1. */
long qd_call(conn *c, const char *method, const char *url, const char *body, int ok404,
	const char *what, coco_http_resp *r, char **err);

typedef struct q_tgt {
	conn c;
	layout l;
	char *label;                 /* "collection C on URL", for messages */
	char *points_url, *delete_url, *batch_url;
	coco_vs_batch b;             /* the open batch: a point's JSON (span 0), within
	                                it its one vector's array (1) and payload (2) */
	coco_buf alias;              /* points a scan found under another id (q_scan) */
	coco_vs_stats stats;         /* COCO_QDRANT_STATS */
} q_tgt;

/* coco_target_ops of write.c and query.c */
int qd_open(const coco_optval *opts, const coco_export_info *info, void **out, char **err);
int qd_begin(void *p, char **err);
int qd_upsert(void *p, const coco_value *row, char **err);
int qd_del(void *p, const coco_value *key, char **err);
int qd_commit(void *p, char **err);
void qd_close(void *p);
int qd_top_k(const coco_optval *opts, const coco_export_info *info, const char *field,
	const char *metric, const float *vec, size_t dim, size_t k, coco_arena *a,
	const coco_type **row_type, coco_value **rows, size_t *nrows, char **err);
int qd_scan(void *p, int (*cb)(void *ud, const coco_value *row), void *ud, coco_arena *a,
	char **err);
