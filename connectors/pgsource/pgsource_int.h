#pragma once
/* Private to the Postgres source: what pgsource.c (vtable, options,
 * connections, open/close), catalog.c (the table's layout, values from
 * text), read.c (listing and reads) and notify.c (the notifying trigger,
 * LISTEN) share. Not part of any public API. */
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "engine/ops.h"
#include "connectors/common/pgconn.h"

enum { OPT_DATABASE, OPT_TABLE, OPT_SCHEMA, OPT_INCLUDED, OPT_ORDINAL, OPT_FILTER, OPT_NOTIFY,
	OPT_PASSWORD_ENV };

#define MAX_IDENT COCO_PG_MAX_IDENT
#define FETCH_ROWS 5000          /* rows per FETCH of the listing cursor */
#define PAYLOAD_MAX 8000         /* NOTIFY refuses payloads of this many bytes */
#define RESCAN_MARK "*"          /* the payload that asks for a full pass */
/* the session settings every text value is read under; the trigger function
 * runs under the same ones (SET clauses), so that its keys read the same */
#define SETTINGS(X) X("DateStyle", "ISO") X("TimeZone", "UTC") X("IntervalStyle", "iso_8601") \
	X("bytea_output", "hex") X("extra_float_digits", "1")

/* ---- the table's layout: columns, key, types ------------------------------- */

typedef enum pkind {
	K_INT, K_FLOAT4, K_FLOAT8, K_NUMERIC, K_STR, K_BYTES, K_BOOL, K_JSON,
	K_TIME,          /* date, time, timestamp(tz): ISO 8601 text (to_json) */
	K_ARRAY,         /* any array: json (array_to_json) */
	K_VECTOR,        /* pgvector's vector and halfvec */
} pkind;

typedef struct pcol {
	char *name;
	char *sqltype;           /* format_type(): "timestamp with time zone" */
	pkind kind;
	uint32_t dim;            /* K_VECTOR: 0 = any */
	unsigned arroid;         /* the array type of the column's base type (key params) */
} pcol;

typedef struct layout {
	char *conninfo, *server; /* conninfo: without its password (common/pgconn.h) */
	char *penv;              /* password_env, or NULL */
	char *schema, *table;
	pcol *cols;              /* key columns first, in the primary key's order */
	uint32_t ncols, nkeys;
	char *ordinal;           /* ordinal_column or NULL */
	char *ordsend;           /* its type's send function, "-" if none */
	char *filter;            /* or NULL */
	char *channel;           /* notification channel_name given, or NULL */
	int notify;              /* notification option given */
} layout;

/* ---- the source ------------------------------------------------------------------- */

/* what prefetch() got: its keys (encoded) and the rows of them that exist */
typedef struct pfent {
	const char *key;         /* encoded; in pf_mem */
	size_t n;
	int row;                 /* row in pf_res, -1: none (the row is gone) */
	int taken;
} pfent;

typedef struct ps_src {
	layout l;
	PGconn *c;               /* listing and reads */
	char *sel;               /* the select list: every column, then the ordinal */
	char *list_sql, *read_sql, *pf_sql;
	unsigned *pf_types;      /* array types of the key columns */
	/* prefetched rows */
	PGresult *pf_res;
	pfent *pf;               /* open addressing, pf_cap slots */
	size_t pf_cap;
	coco_arena pf_mem;
	coco_buf enc, tmp;
	/* change capture */
	char *channel;           /* LISTEN on it; NULL: no change capture */
	PGconn *w;               /* the listening connection, NULL while lost */
	int wsock;               /* its socket in epfd */
	int epfd, tfd;           /* the watch fd, and a timer for reconnecting */
	int backoff_ms;
	char *note;              /* a warning for the next watch_read */
	coco_arena wmem;
} ps_src;

/* ---- pgsource.c ------------------------------------------------------------- */
extern const coco_optdef ps_opts[];
PGconn *ps_connect(const char *conninfo, const char *penv, const char *server,
	const char *app, char **err);
int ps_ensure(ps_src *s, char **err);
int ps_conn_lost(ps_src *s, PGresult *r);

/* ---- catalog.c -------------------------------------------------------------- */
void ps_layout_free(layout *l);
void ps_disp_table(coco_buf *b, const layout *l);
void ps_qual_table(coco_buf *b, const layout *l);
void ps_col_expr(coco_buf *b, const pcol *c, const char *r, int key);
int ps_layout_load(const coco_optval *opts, layout *l, char **err);
void ps_cache_put(const coco_optval *opts, const layout *l);
int ps_cache_get(const coco_optval *opts, layout *l);
int ps_row_type(const coco_optval *opts, coco_arena *types, const coco_type **out, char **err);
int ps_conv(const pcol *c, int key, const char *s, size_t n, coco_arena *a, coco_value *v,
	coco_buf *why);
void ps_key_struct(coco_value *key, coco_value *kv, uint32_t nk);
int ps_key_text(const pcol *c, const coco_value *v, coco_buf *out);

/* ---- read.c ----------------------------------------------------------------- */
int ps_list(void *p, coco_list_cb cb, void *ud, char **err);
void ps_prefetch(void *p, const coco_value *keys, size_t n);
int ps_read(void *p, const coco_value *key, coco_arena *a, coco_value *row, coco_buf *ord,
	char **err);

/* ---- notify.c --------------------------------------------------------------- */
void ps_named(void *p, const char *flow, const char *source);
int ps_watch(void *p, int *fd, char **err);
int ps_watch_read(void *p, coco_change_cb cb, void *ud, char **err);
int ps_setup_describe(const coco_optval *opts, const char *flow, const char *source,
	coco_buf *rid, coco_buf *desired, char **err);
int ps_setup_plan(const char *stored, const char *desired, coco_buf *plan, int *destructive,
	char **err);
int ps_setup_apply(const char *stored, const char *desired, char **err);
