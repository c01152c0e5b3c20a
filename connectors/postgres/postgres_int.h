#pragma once
/* Private to the Postgres target: what postgres.c (vtable, options,
 * open/close, connections), layout.c (columns and vector indexes), setup.c
 * (describe/plan/apply), write.c (encoding, statements, replay) and query.c
 * (top_k, scan) share. Not part of any public API. */
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "engine/ops.h"
#include "connectors/common/pgconn.h"

enum { OPT_DATABASE, OPT_TABLE, OPT_SCHEMA, OPT_COLUMN_OPTIONS, OPT_VECTOR_INDEXES, OPT_PASSWORD_ENV };

#define MAX_IDENT COCO_PG_MAX_IDENT
#define MAX_GROUP 1024        /* rows per statement, at most */
#define GROUP_BYTES (8u << 20)

/* ---- the export's layout: a column per field, its SQL type -------------------- */

typedef enum enc {
	ENC_NULL,        /* a null-typed field: text, always NULL */
	ENC_TEXT, ENC_BYTEA, ENC_INT8, ENC_BOOL, ENC_FLOAT4, ENC_FLOAT8,
	ENC_JSONB,       /* json text, or struct/table/vector as JSON */
	ENC_RANGE,       /* int8range, sent as text "[a,b)" */
	ENC_VECTOR, ENC_HALFVEC, ENC_REALARR,
} enc;

typedef struct lcol {
	const char *name;
	const coco_type *type;
	enc e;
	char sql[32];
} lcol;

typedef struct lindex {
	char name[MAX_IDENT + 1];
	const char *field;
	const char *metric;       /* cosine, l2, ip */
	const char *method;       /* hnsw, ivfflat */
	char opclass[32];
	char with[64];            /* "m = 16, ef_construction = 64" */
} lindex;

typedef struct layout {
	const char *conninfo;        /* without its password (cinfo) */
	const char *penv;            /* password_env, or NULL */
	coco_buf cinfo, server, schema, table;
	const coco_type *row;        /* the export's row type: a field per column */
	lcol *cols;
	uint32_t ncols, nkeys;
	lindex *idx;
	size_t nidx;
} layout;

/* ---- writes -------------------------------------------------------------------- */

typedef struct pgparam {
	size_t off;                  /* into data */
	int len;                     /* -1: NULL */
	int fmt;                     /* 0 text (NUL-terminated), 1 binary */
} pgparam;

/* A statement of the open batch: nrows (a power of two) rows of params
 * from params[first]. */
typedef struct pgstmt {
	int del;
	size_t first;
	uint32_t nrows;
} pgstmt;

typedef struct pg_tgt {
	PGconn *conn;                /* taken from the pool for a batch (or a scan), else NULL */
	uint64_t conn_id;            /* the connection the statements are prepared on */
	layout l;
	char *label;                 /* "public.T on postgres://host:5432/db", for messages */
	coco_buf qtable;             /* "public"."T" */
	uint32_t maxgroup;           /* rows per statement, a power of two */
	uint32_t prep_ups, prep_del; /* bit i: the statement of 2^i rows is prepared */
	char prefix[48];             /* of statement names: unique per connection (PGlite
	                                keeps one session for all its connections) */
	/* the open batch, kept whole until COMMIT succeeded */
	coco_buf data;
	pgparam *params;
	size_t nparams, capparams;
	pgstmt *stmts;
	size_t nstmts, capstmts;
	size_t done;                 /* statements executed in the server's transaction */
	int server_txn;              /* BEGIN sent and not yet committed */
	int group_del;               /* the group being filled: -1 none, 0 upserts, 1 deletes */
	size_t group_first;
	uint32_t group_rows;
	size_t group_bytes;
	uint64_t *seen;              /* key hashes of the group (open addressing, 0 = free) */
	size_t nseen;
	double retry_deadline;       /* ms; 0 until a connection is lost in this batch */
	int conflicts;               /* deadlocks and serialization failures in this batch */
	/* scratch */
	coco_buf sql, tmp, keyb;
	const char **vals;
	int *lens, *fmts;
	size_t caparr;
	/* COCO_PG_STATS */
	double ms, batch_start;
	uint64_t batches, upserts, deletes, reconnects;
} pg_tgt;

/* ---- postgres.c ------------------------------------------------------------- */
void pg_quote_qual(coco_buf *b, const char *schema, const char *name);
PGconn *pg_conn_get(const char *conninfo, const char *penv, const char *server, uint64_t prefer,
	int only, uint64_t *id, int *lost, char **err);
void pg_conn_put(const char *conninfo, const char *penv, PGconn *c, uint64_t id, int ok);

/* ---- layout.c --------------------------------------------------------------- */
int pg_layout_make(const coco_optval *opts, const coco_export_info *info, layout *l, char **err);
void pg_layout_free(layout *l);

/* ---- setup.c ---------------------------------------------------------------- */
int pg_describe(const coco_optval *opts, const coco_export_info *info,
	coco_buf *resource_id, coco_buf *desired, char **err);
int pg_plan(const char *stored, const char *desired, coco_buf *plan, int *destructive,
	char **err);
int pg_apply(const char *stored, const char *desired, char **err);

/* ---- write.c ---------------------------------------------------------------- */
void pg_stmt_sql(pg_tgt *t, int del, uint32_t n, coco_buf *b);
int pg_result_rc(pg_tgt *t, PGresult *r, const char *what, char **err);
void pg_new_prefix(pg_tgt *t, uint64_t id);
int pg_begin(void *p, char **err);
int pg_upsert(void *p, const coco_value *row, char **err);
int pg_del(void *p, const coco_value *key, char **err);
int pg_commit(void *p, char **err);

/* ---- query.c ---------------------------------------------------------------- */
int pg_top_k(const coco_optval *opts, const coco_export_info *info, const char *field,
	const char *metric, const float *vec, size_t dim, size_t k, coco_arena *a,
	const coco_type **row_type, coco_value **rows, size_t *nrows, char **err);
int pg_scan(void *p, int (*cb)(void *ud, const coco_value *row), void *ud, coco_arena *a,
	char **err);
