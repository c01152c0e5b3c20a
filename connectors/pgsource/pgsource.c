/* Postgres source: the rows of a table, keyed by its primary key, typed
 * from the catalog. See README.md beside this file for the contract.
 *
 * Listing is one cursor over (key, ordinal), fetched in binary: the ordinal
 * is the ordinal_column's binary form (its type's send function), or an md5
 * of the row's text when there is none (or it is null), so an unchanged row
 * is never shipped. Reads take the rows of a batch in one
 * query (prefetch), or one row by its key. Change capture: setup creates a
 * trigger that NOTIFYs the changed row's key as a JSON array of the key
 * columns' text; live mode LISTENs on a connection of its own, behind an
 * epoll fd that stays the same across reconnections. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <xxhash.h>

#include "ops.h"
#include "tdesc.h"
#include "functions/json.h"
#include "connectors/common/pgconn.h"
#include "sys.h"

enum { OPT_DATABASE, OPT_TABLE, OPT_SCHEMA, OPT_INCLUDED, OPT_ORDINAL, OPT_FILTER, OPT_NOTIFY,
	OPT_PASSWORD_ENV };

static const coco_optdef ps_opts[] = {
	{ "database", COCO_OPT_STR, 0, "libpq connection string or URI (default $COCO_DATABASE_URL)", 1 },
	{ "table_name", COCO_OPT_STR, 1, "the table to read", 0 },
	{ "schema", COCO_OPT_STR, 0, "its schema (default: the search_path's)", 0 },
	{ "included_columns", COCO_OPT_STRLIST, 0, "columns besides the primary key (default: all)", 0 },
	{ "ordinal_column", COCO_OPT_STR, 0, "a column that changes whenever the row does "
	  "(updated_at, a version); without it rows are compared by content", 1 },
	{ "filter", COCO_OPT_STR, 0, "an SQL condition: only the rows it holds for", 0 },
	{ "notification", COCO_OPT_JSON, 0, "{ channel_name = ... }: in live mode, LISTEN for the "
	  "changes a trigger (created by setup) notifies", 1 },
	{ "password_env", COCO_OPT_STR, 0, "environment variable holding the password "
	  "(default: the connection string's, PGPASSWORD, ~/.pgpass)", 1 },
	{ NULL, 0, 0, NULL, 0 },
};

#define MAX_IDENT COCO_PG_MAX_IDENT
#define FETCH_ROWS 5000          /* rows per FETCH of the listing cursor */
#define PAYLOAD_MAX 8000         /* NOTIFY refuses payloads of this many bytes */
#define RESCAN_MARK "*"          /* the payload that asks for a full pass */
/* the session settings every text value is read under; the trigger function
 * runs under the same ones (SET clauses), so that its keys read the same */
#define SETTINGS(X) X("DateStyle", "ISO") X("TimeZone", "UTC") X("IntervalStyle", "iso_8601") \
	X("bytea_output", "hex") X("extra_float_digits", "1")

/* ---- small helpers --------------------------------------------------------- */

/* Appends a string literal: 'it''s'. */
static void sql_lit(coco_buf *b, const char *s)
{
	coco_buf_putc(b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			coco_buf_putc(b, '\'');
		coco_buf_putc(b, *s);
	}
	coco_buf_putc(b, '\'');
}

/* base + suffix, cut to 63 bytes with a hash when longer. */
static void ident63(coco_buf *out, const char *base, const char *suffix)
{
	coco_buf b = {0};
	coco_buf_printf(&b, "%s%s", base, suffix);
	coco_pg_ident63(out, b.p, b.n);
	coco_buf_free(&b);
}

/* Connects and sets the session up; on failure *err names the server. The
 * listener (app "coco listen") gives up sooner: live mode waits for it. */
static PGconn *pg_connect(const char *conninfo, const char *penv, const char *server,
	const char *app, char **err)
{
	const char *const keys[] = { "connect_timeout", "application_name", "keepalives_idle",
		"keepalives_interval", "keepalives_count", NULL };
	const char *const vals[] = { strcmp(app, "coco listen") ? "10" : "3", app, "30", "10", "3",
		NULL };
	PGconn *c = coco_pg_connect(conninfo, penv, server, keys, vals, NULL, err);
	if (!c)
		return NULL;
	coco_buf q = {0};
#define SET(k, v) coco_buf_printf(&q, "SET %s = '%s';", k, v);
	SETTINGS(SET)
#undef SET
	PGresult *r = PQexec(c, q.p);
	coco_buf_free(&q);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		coco_buf b = {0};
		coco_pg_result_msg(&b, c, r, 1);
		coco_seterr(err, "Postgres: %s: cannot set the session up: %s", server, b.p);
		coco_buf_free(&b);
		PQclear(r);
		PQfinish(c);
		return NULL;
	}
	PQclear(r);
	return c;
}

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

static void layout_free(layout *l)
{
	for (uint32_t i = 0; i < l->ncols; i++) {
		free(l->cols[i].name);
		free(l->cols[i].sqltype);
	}
	free(l->cols);
	free(l->conninfo);
	free(l->penv);
	free(l->server);
	free(l->schema);
	free(l->table);
	free(l->ordinal);
	free(l->ordsend);
	free(l->filter);
	free(l->channel);
	memset(l, 0, sizeof *l);
}

static void layout_copy(layout *d, const layout *s)
{
	*d = *s;
	d->cols = coco_xcalloc(s->ncols ? s->ncols : 1, sizeof *d->cols);
	for (uint32_t i = 0; i < s->ncols; i++) {
		d->cols[i] = s->cols[i];
		d->cols[i].name = coco_strdup(s->cols[i].name);
		d->cols[i].sqltype = coco_strdup(s->cols[i].sqltype);
	}
#define DUP(f) d->f = s->f ? coco_strdup(s->f) : NULL
	DUP(conninfo);
	DUP(penv);
	DUP(server);
	DUP(schema);
	DUP(table);
	DUP(ordinal);
	DUP(ordsend);
	DUP(filter);
	DUP(channel);
#undef DUP
}

/* "schema.table" as users write it. */
static void disp_table(coco_buf *b, const layout *l)
{
	coco_buf_printf(b, "%s.%s", l->schema, l->table);
}

static void qual_table(coco_buf *b, const layout *l)
{
	coco_sql_ident(b, l->schema);
	coco_buf_putc(b, '.');
	coco_sql_ident(b, l->table);
}

/* The coco type of a column (numeric keys are text: exact). */
static const coco_type *col_type(const pcol *c, int key, coco_arena *a)
{
	switch (c->kind) {
	case K_INT: return &coco_t_int64;
	case K_FLOAT4: return &coco_t_float32;
	case K_FLOAT8: return &coco_t_float64;
	case K_NUMERIC: return key ? &coco_t_str : &coco_t_float64;
	case K_STR: case K_TIME: return &coco_t_str;
	case K_BYTES: return &coco_t_bytes;
	case K_BOOL: return &coco_t_bool;
	case K_JSON: case K_ARRAY: return &coco_t_json;
	case K_VECTOR: return c->dim ? coco_type_vector(a, c->dim) : &coco_t_vector_any;
	}
	return &coco_t_str;
}

/* Appends the SQL of column c's value as text, read from row alias r:
 * the same in the listing, in reads and in the trigger's payload. */
static void col_expr(coco_buf *b, const pcol *c, const char *r, int key)
{
	const char *pre = "", *post = "";
	if (c->kind == K_TIME)
		pre = "(to_json(", post = ")#>>'{}')";
	else if (c->kind == K_ARRAY)
		pre = "array_to_json(", post = ")";
	else if (key)
		pre = "(", post = ")::text";
	coco_buf_printf(b, "%s%s.", pre, r);
	coco_sql_ident(b, c->name);
	coco_buf_adds(b, post);
}

/* Kinds by base type. *why: a type coco cannot read, or use in a key. */
static int classify(pcol *c, unsigned oid, const char *typname, char typtype, char cat,
	int typmod, int key)
{
	switch (oid) {
	case 16: c->kind = K_BOOL; break;
	case 17: c->kind = K_BYTES; break;
	case 20: case 21: case 23: case 26: c->kind = K_INT; break;
	case 700: c->kind = K_FLOAT4; break;
	case 701: c->kind = K_FLOAT8; break;
	case 1700: c->kind = K_NUMERIC; break;
	case 114: case 3802: c->kind = K_JSON; break;
	case 1082: case 1083: case 1114: case 1184: case 1266: c->kind = K_TIME; break;
	case 2950: case 1186: case 142: c->kind = K_STR; break;   /* uuid, interval, xml */
	default:
		if (cat == 'S' || typtype == 'e' || cat == 'I')   /* strings, enums, inet/cidr */
			c->kind = K_STR;
		else if (cat == 'A')
			c->kind = K_ARRAY;
		else if (typtype == 'b' && (!strcmp(typname, "vector") || !strcmp(typname, "halfvec"))) {
			c->kind = K_VECTOR;
			c->dim = typmod > 0 ? (uint32_t)typmod : 0;
		} else
			return -1;
	}
	if (key && (c->kind == K_ARRAY || c->kind == K_VECTOR))
		return -2;
	return 0;
}

static int in_list(const coco_optval *o, const char *name)
{
	for (size_t i = 0; o->set && i < o->nlist; i++)
		if (!strcmp(o->list[i], name))
			return 1;
	return 0;
}

/* notification = {} | { channel_name = "..." } */
static int read_notify(const coco_optval *o, layout *l, char **err)
{
	if (!o->set || !o->s)
		return 0;
	coco_json_iter it;
	const char *s = o->s;
	size_t n = strlen(s);
	int kind = coco_json_iter_init(&it, s, n);
	if (!kind)
		return coco_seterr(err, "Postgres: notification must be a table: { channel_name = \"...\" }");
	l->notify = 1;
	const char *k, *v;
	size_t nk, nv;
	while (coco_json_iter_next(&it, &k, &nk, &v, &nv)) {
		if (kind == '[')
			return coco_seterr(err, "Postgres: notification must be a table: { channel_name = \"...\" }");
		if (!coco_json_key_eq(k, nk, "channel_name", 12))
			return coco_seterr(err, "Postgres: notification: unknown option %.*s (known: channel_name)",
				(int)nk, k);
		coco_buf ch = {0};
		if (coco_json_str_decode(v, nv, &ch) || !ch.n || ch.n > MAX_IDENT ||
		    strspn(ch.p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != ch.n) {
			coco_buf_free(&ch);
			return coco_seterr(err, "Postgres: notification: channel_name must be 1 to 63 letters, "
				"digits or _");
		}
		free(l->channel);
		l->channel = coco_buf_take(&ch);
	}
	return 0;
}

/* The layout of the table the options name, from the catalog. */
static int layout_load(const coco_optval *opts, layout *l, char **err)
{
	memset(l, 0, sizeof *l);
	const char *ci = coco_pg_database(&opts[OPT_DATABASE]);
	if (!ci)
		return coco_seterr(err, "Postgres: no database: give the option 'database' or set "
			"$COCO_DATABASE_URL");
	if (!opts[OPT_TABLE].set || !opts[OPT_TABLE].s || !*opts[OPT_TABLE].s)
		return coco_seterr(err, "Postgres: option 'table_name' is required");
	coco_buf srv = {0}, q = {0}, b = {0}, cs = {0};
	const char *penv = opts[OPT_PASSWORD_ENV].set ? opts[OPT_PASSWORD_ENV].s : NULL;
	int crc = coco_pg_conn_opts(ci, penv, "", &cs, &srv, err);
	l->conninfo = coco_buf_take(&cs);
	l->server = coco_buf_take(&srv);
	if (crc < 0) {
		layout_free(l);
		return -1;
	}
	l->penv = penv ? coco_strdup(penv) : NULL;
	if (opts[OPT_ORDINAL].set && opts[OPT_ORDINAL].s && *opts[OPT_ORDINAL].s)
		l->ordinal = coco_strdup(opts[OPT_ORDINAL].s);
	if (opts[OPT_FILTER].set && opts[OPT_FILTER].s && *opts[OPT_FILTER].s)
		l->filter = coco_strdup(opts[OPT_FILTER].s);
	if (read_notify(&opts[OPT_NOTIFY], l, err)) {
		layout_free(l);
		return -1;
	}
	PGconn *c = pg_connect(l->conninfo, l->penv, l->server, "coco", err);
	if (!c) {
		layout_free(l);
		return -1;
	}
	int rc = -1;
	PGresult *r = NULL;
	const char *sch = opts[OPT_SCHEMA].set && opts[OPT_SCHEMA].s && *opts[OPT_SCHEMA].s ?
		opts[OPT_SCHEMA].s : NULL;
	if (sch) {
		coco_sql_ident(&q, sch);
		coco_buf_putc(&q, '.');
	}
	coco_sql_ident(&q, opts[OPT_TABLE].s);
	const char *p1 = q.p;
	r = PQexecParams(c, "SELECT c.oid::text, n.nspname, c.relname FROM pg_class c "
		"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)",
		1, NULL, &p1, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		coco_pg_result_msg(&b, c, r, 1);
		coco_seterr(err, "Postgres: %s: cannot read the catalog: %s", l->server, b.p);
		goto out;
	}
	if (PQntuples(r) != 1) {
		coco_seterr(err, "Postgres: table %s%s%s does not exist in %s", sch ? sch : "",
			sch ? "." : "", opts[OPT_TABLE].s, l->server);
		goto out;
	}
	char oid[32];
	snprintf(oid, sizeof oid, "%s", PQgetvalue(r, 0, 0));
	l->schema = coco_strdup(PQgetvalue(r, 0, 1));
	l->table = coco_strdup(PQgetvalue(r, 0, 2));
	PQclear(r);
	const char *p2 = oid;
	/* columns, their base types (through domains) and primary key positions */
	r = PQexecParams(c,
		"SELECT a.attname, format_type(a.atttypid, a.atttypmod), bt.oid::int8, bt.typname, "
		"bt.typtype, bt.typcategory, b.mod, coalesce(k.pos, 0), bt.typarray::int8, bt.typsend::regproc::text "
		"FROM pg_attribute a "
		"CROSS JOIN LATERAL (WITH RECURSIVE d(oid, mod, depth) AS ("
		"  SELECT a.atttypid, a.atttypmod, 0 UNION ALL "
		"  SELECT t.typbasetype, t.typtypmod, d.depth + 1 FROM d JOIN pg_type t ON t.oid = d.oid "
		"  WHERE t.typtype = 'd') SELECT oid, mod FROM d ORDER BY depth DESC LIMIT 1) b "
		"JOIN pg_type bt ON bt.oid = b.oid "
		"LEFT JOIN LATERAL (SELECT p.pos FROM pg_index i, unnest(i.indkey) WITH ORDINALITY p(att, pos) "
		"  WHERE i.indrelid = a.attrelid AND i.indisprimary AND p.att = a.attnum) k ON true "
		"WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
		1, NULL, &p2, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		coco_pg_result_msg(&b, c, r, 1);
		coco_seterr(err, "Postgres: %s: cannot read the catalog: %s", l->server, b.p);
		goto out;
	}
	int nt = PQntuples(r);
	uint32_t nkeys = 0;
	for (int i = 0; i < nt; i++)
		if (atoi(PQgetvalue(r, i, 7)) > 0)
			nkeys++;
	coco_buf_clear(&b);
	disp_table(&b, l);
	if (!nkeys) {
		coco_seterr(err, "Postgres: table %s has no primary key; coco keys the rows of a source "
			"by it (ALTER TABLE %s ADD PRIMARY KEY (...))", b.p, b.p);
		goto out;
	}
	const coco_optval *inc = &opts[OPT_INCLUDED];
	for (size_t j = 0; inc->set && j < inc->nlist; j++) {
		int found = 0;
		for (int i = 0; i < nt && !found; i++)
			found = !strcmp(PQgetvalue(r, i, 0), inc->list[j]);
		if (!found) {
			coco_buf names = {0};
			for (int i = 0; i < nt; i++)
				coco_buf_printf(&names, "%s%s", i ? ", " : "", PQgetvalue(r, i, 0));
			coco_seterr(err, "Postgres: included_columns: table %s has no column '%s' (columns: %s)",
				b.p, inc->list[j], names.p);
			coco_buf_free(&names);
			goto out;
		}
	}
	if (l->ordinal) {
		int found = -1;
		for (int i = 0; i < nt && found < 0; i++)
			if (!strcmp(PQgetvalue(r, i, 0), l->ordinal))
				found = i;
		if (found < 0) {
			coco_seterr(err, "Postgres: ordinal_column: table %s has no column '%s'", b.p, l->ordinal);
			goto out;
		}
		l->ordsend = coco_strdup(PQgetvalue(r, found, 9));
		if (atoi(PQgetvalue(r, found, 7)) > 0) {
			coco_seterr(err, "Postgres: ordinal_column '%s' is a primary key column of %s; it must "
				"be a column that changes with the row (updated_at, a version)", l->ordinal, b.p);
			goto out;
		}
	}
	l->cols = coco_xcalloc((size_t)nt + 1, sizeof *l->cols);
	l->nkeys = nkeys;
	uint32_t nv = nkeys;
	for (int i = 0; i < nt; i++) {
		int pos = atoi(PQgetvalue(r, i, 7));
		const char *name = PQgetvalue(r, i, 0);
		if (!pos && inc->set && !in_list(inc, name))
			continue;
		if (pos > (int)nkeys) {
			coco_seterr(err, "Postgres: table %s: malformed primary key", b.p);
			goto out;
		}
		pcol *pc = &l->cols[pos ? (uint32_t)pos - 1 : nv++];
		pc->name = coco_strdup(name);
		pc->sqltype = coco_strdup(PQgetvalue(r, i, 1));
		pc->arroid = (unsigned)strtoul(PQgetvalue(r, i, 8), NULL, 10);
		int k = classify(pc, (unsigned)strtoul(PQgetvalue(r, i, 2), NULL, 10), PQgetvalue(r, i, 3),
			PQgetvalue(r, i, 4)[0], PQgetvalue(r, i, 5)[0], atoi(PQgetvalue(r, i, 6)), pos > 0);
		if (k == -1) {
			coco_seterr(err, "Postgres: column '%s' of %s has type %s, which coco cannot map%s",
				name, b.p, pc->sqltype, pos ? "" : "; leave it out with included_columns");
			l->ncols = nv;
			goto out;
		}
		if (k == -2) {
			coco_seterr(err, "Postgres: primary key column '%s' of %s has type %s, which coco cannot "
				"use in a key", name, b.p, pc->sqltype);
			l->ncols = nv;
			goto out;
		}
	}
	l->ncols = nv;
	PQclear(r);
	r = NULL;
	/* the filter: the server's word on it, before anything is read */
	if (l->filter) {
		coco_buf_clear(&q);
		coco_buf_adds(&q, "SELECT 1 FROM ");
		qual_table(&q, l);
		coco_buf_printf(&q, " t WHERE (%s) LIMIT 0", l->filter);
		r = PQexec(c, q.p);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			coco_buf_clear(&b);
			coco_pg_result_msg(&b, c, r, 1);
			coco_seterr(err, "Postgres: filter: %s", b.p);
			goto out;
		}
	}
	rc = 0;
out:
	PQclear(r);
	PQfinish(c);
	coco_buf_free(&q);
	coco_buf_free(&b);
	if (rc)
		layout_free(l);
	return rc;
}

/* The last layout read for each set of options, so that open() reads the
 * table as the flow's row type says, even if the table changed since. */
typedef struct cached {
	struct cached *next;
	char *id;                /* opts_id(): NUL bytes inside */
	size_t idn;
	layout l;
} cached;
static cached *cache;
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;

static void opts_id(const coco_optval *opts, coco_buf *id)
{
	for (size_t i = 0; ps_opts[i].name; i++) {
		const coco_optval *o = &opts[i];
		coco_buf_printf(id, "%d:", o->set);
		if (o->s)
			coco_buf_add(id, o->s, strlen(o->s) + 1);
		for (size_t j = 0; j < o->nlist; j++)
			coco_buf_add(id, o->list[j], strlen(o->list[j]) + 1);
		coco_buf_putc(id, '\n');
	}
	const char *env = getenv("COCO_DATABASE_URL");
	coco_buf_adds(id, env ? env : "");
}

static void cache_put(const coco_optval *opts, const layout *l)
{
	coco_buf id = {0};
	opts_id(opts, &id);
	pthread_mutex_lock(&cache_mu);
	cached *e = cache;
	while (e && !(e->idn == id.n && !memcmp(e->id, id.p, id.n)))
		e = e->next;
	if (!e) {
		e = coco_xcalloc(1, sizeof *e);
		e->idn = id.n;
		e->id = coco_buf_take(&id);
		e->next = cache;
		cache = e;
	} else {
		layout_free(&e->l);
	}
	layout_copy(&e->l, l);
	pthread_mutex_unlock(&cache_mu);
	coco_buf_free(&id);
}

/* 1 and a copy in *l when cached, else 0. */
static int cache_get(const coco_optval *opts, layout *l)
{
	coco_buf id = {0};
	opts_id(opts, &id);
	pthread_mutex_lock(&cache_mu);
	cached *e = cache;
	while (e && !(e->idn == id.n && !memcmp(e->id, id.p, id.n)))
		e = e->next;
	if (e)
		layout_copy(l, &e->l);
	pthread_mutex_unlock(&cache_mu);
	coco_buf_free(&id);
	return e != NULL;
}

static int ps_row_type(const coco_optval *opts, coco_arena *types, const coco_type **out, char **err)
{
	layout l;
	if (layout_load(opts, &l, err))
		return -1;
	coco_field *f = coco_arena_alloc(types, l.ncols * sizeof *f);
	for (uint32_t i = 0; i < l.ncols; i++) {
		f[i].name = coco_arena_strdup(types, l.cols[i].name);
		f[i].type = col_type(&l.cols[i], i < l.nkeys, types);
	}
	*out = coco_type_table(types, f, l.ncols, l.nkeys);
	cache_put(opts, &l);
	layout_free(&l);
	return 0;
}

/* ---- values from text ----------------------------------------------------------- */

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Column c's value from its text s[0, n) (as col_expr reads it). Memory
 * from a. -1 with why (a reason) on text the type does not read. */
static int conv(const pcol *c, int key, const char *s, size_t n, coco_arena *a, coco_value *v,
	coco_buf *why)
{
	memset(v, 0, sizeof *v);
	char *end;
	switch (c->kind) {
	case K_INT:
		errno = 0;
		v->u.i = strtoll(s, &end, 10);
		if (errno || end != s + n || !n)
			goto bad;
		v->kind = COCO_INT64;
		return 0;
	case K_NUMERIC:
		if (key)
			break;
		/* fallthrough */
	case K_FLOAT4:
	case K_FLOAT8:
		v->u.f = strtod(s, &end);
		if (end != s + n || !n)
			goto bad;
		v->kind = c->kind == K_FLOAT4 ? COCO_FLOAT32 : COCO_FLOAT64;
		if (c->kind == K_FLOAT4)
			v->u.f = (float)v->u.f;
		return 0;
	case K_BOOL:
		if ((n == 1 && *s == 't') || (n == 4 && !memcmp(s, "true", 4)))
			v->u.b = 1;
		else if (!((n == 1 && *s == 'f') || (n == 5 && !memcmp(s, "false", 5))))
			goto bad;
		v->kind = COCO_BOOL;
		return 0;
	case K_BYTES: {
		if (n < 2 || s[0] != '\\' || s[1] != 'x' || n % 2)
			goto bad;
		char *p = coco_arena_alloc(a, (n - 2) / 2 + 1);
		for (size_t i = 2; i < n; i += 2) {
			int hi = hexval(s[i]), lo = hexval(s[i + 1]);
			if (hi < 0 || lo < 0)
				goto bad;
			p[(i - 2) / 2] = (char)(hi << 4 | lo);
		}
		v->kind = COCO_BYTES;
		v->u.s = p;
		v->n = (n - 2) / 2;
		return 0;
	}
	case K_JSON:
	case K_ARRAY:
		v->kind = COCO_JSON;
		v->u.s = coco_arena_strndup(a, s, n);
		v->n = n;
		return 0;
	case K_VECTOR: {
		if (n < 2 || s[0] != '[' || s[n - 1] != ']')
			goto bad;
		size_t cnt = 0;
		for (size_t i = 1; i + 1 < n; i++)
			cnt += s[i] == ',';
		cnt += n > 2;
		if (c->dim && cnt != c->dim) {
			coco_buf_printf(why, "a vector of %zu values where %s has %u", cnt, c->sqltype, c->dim);
			return -1;
		}
		float *f = coco_arena_alloc(a, (cnt ? cnt : 1) * sizeof *f);
		const char *p = s + 1;
		for (size_t i = 0; i < cnt; i++) {
			f[i] = strtof(p, &end);
			if (end == p)
				goto bad;
			p = end + 1;
		}
		v->kind = COCO_VECTOR;
		v->u.vec = f;
		v->n = cnt;
		return 0;
	}
	case K_STR:
	case K_TIME:
		break;
	}
	size_t bad_at = coco_utf8_check(s, n);
	if (bad_at != n) {
		coco_buf_printf(why, "not valid UTF-8 at byte %zu", bad_at);
		return -1;
	}
	v->kind = COCO_STR;
	v->u.s = coco_arena_strndup(a, s, n);
	v->n = n;
	return 0;
bad:
	coco_buf_printf(why, "cannot read '%.*s' as %s", (int)(n > 40 ? 40 : n), s, c->sqltype);
	return -1;
}

/* The text of key value v for a parameter of column c. */
static int key_text(const pcol *c, const coco_value *v, coco_buf *out)
{
	coco_buf_clear(out);
	switch (v->kind) {
	case COCO_INT64: coco_buf_printf(out, "%lld", (long long)v->u.i); return 0;
	case COCO_FLOAT32: coco_buf_printf(out, "%.9g", v->u.f); return 0;
	case COCO_FLOAT64: coco_buf_printf(out, "%.17g", v->u.f); return 0;
	case COCO_BOOL: coco_buf_adds(out, v->u.b ? "t" : "f"); return 0;
	case COCO_STR: case COCO_JSON: coco_buf_add(out, v->u.s, v->n); return 0;
	case COCO_BYTES:
		coco_buf_adds(out, "\\x");
		for (size_t i = 0; i < v->n; i++)
			coco_buf_printf(out, "%02x", (unsigned char)v->u.s[i]);
		return 0;
	default:
		(void)c;
		return -1;
	}
}

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

static int prepare(ps_src *s, PGconn *c, char **err)
{
	PGresult *r = PQprepare(c, "coco_read", s->read_sql, 0, NULL);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (ok) {
		PQclear(r);
		r = PQprepare(c, "coco_prefetch", s->pf_sql, (int)s->l.nkeys, s->pf_types);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	}
	if (!ok) {
		coco_buf b = {0}, t = {0};
		coco_pg_result_msg(&b, c, r, 1);
		disp_table(&t, &s->l);
		coco_seterr(err, "Postgres: %s: %s", t.p, b.p);
		coco_buf_free(&b);
		coco_buf_free(&t);
	}
	PQclear(r);
	return ok ? 0 : -1;
}

/* The data connection, made anew when it was lost. */
static int ensure(ps_src *s, char **err)
{
	if (s->c && PQstatus(s->c) == CONNECTION_OK)
		return 0;
	if (s->c)
		PQfinish(s->c);
	s->c = pg_connect(s->l.conninfo, s->l.penv, s->l.server, "coco", err);
	if (!s->c)
		return -1;
	if (prepare(s, s->c, err)) {
		PQfinish(s->c);
		s->c = NULL;
		return -1;
	}
	return 0;
}

/* 1 when r failed because the connection is gone (worth one more try). */
static int conn_lost(ps_src *s, PGresult *r)
{
	ExecStatusType st = PQresultStatus(r);
	return st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK && PQstatus(s->c) != CONNECTION_OK;
}

static void build_sql(ps_src *s)
{
	const layout *l = &s->l;
	coco_buf b = {0}, from = {0}, ord = {0};
	/* the ordinal: the ordinal column's binary form, and the row's content
	 * hash when there is none (see ord_bytes) */
	coco_buf_adds(&ord, "md5(ROW(");
	for (uint32_t i = 0; i < l->ncols; i++) {
		if (i)
			coco_buf_putc(&ord, ',');
		coco_buf_adds(&ord, "t.");
		coco_sql_ident(&ord, l->cols[i].name);
	}
	coco_buf_adds(&ord, ")::text)");
	if (l->ordinal) {
		coco_buf o = {0};
		coco_buf_adds(&o, "t.");
		coco_sql_ident(&o, l->ordinal);
		if (strcmp(l->ordsend, "-"))
			coco_buf_printf(&b, "%s(%s)", l->ordsend, o.p);
		else
			coco_buf_printf(&b, "convert_to((%s)::text,'UTF8')", o.p);
		coco_buf_printf(&b, ",CASE WHEN %s IS NULL THEN %s END", o.p, ord.p);
		coco_buf_free(&o);
	} else {
		coco_buf_printf(&b, "NULL::bytea,%s", ord.p);
	}
	coco_buf_clear(&ord);
	coco_buf_add(&ord, b.p, b.n);
	coco_buf_clear(&b);
	for (uint32_t i = 0; i < l->ncols; i++) {
		if (i)
			coco_buf_putc(&b, ',');
		col_expr(&b, &l->cols[i], "t", i < l->nkeys);
	}
	coco_buf_putc(&b, ',');
	coco_buf_add(&b, ord.p, ord.n);
	s->sel = coco_buf_take(&b);
	coco_buf_adds(&from, " FROM ");
	qual_table(&from, l);
	coco_buf_adds(&from, " t");
	const char *filt = l->filter;

	/* listing: the key columns and the ordinal */
	coco_buf_adds(&b, "DECLARE coco_list NO SCROLL CURSOR FOR SELECT ");
	for (uint32_t i = 0; i < l->nkeys; i++) {
		col_expr(&b, &l->cols[i], "t", 1);
		coco_buf_putc(&b, ',');
	}
	coco_buf_add(&b, ord.p, ord.n);
	coco_buf_add(&b, from.p, from.n);
	if (filt)
		coco_buf_printf(&b, " WHERE (%s)", filt);
	s->list_sql = coco_buf_take(&b);

	/* one row by its key */
	coco_buf_printf(&b, "SELECT %s%s WHERE ", s->sel, from.p);
	for (uint32_t i = 0; i < l->nkeys; i++) {
		coco_buf_adds(&b, i ? " AND t." : "t.");
		coco_sql_ident(&b, l->cols[i].name);
		coco_buf_printf(&b, " = $%u::%s", i + 1, l->cols[i].sqltype);
	}
	if (filt)
		coco_buf_printf(&b, " AND (%s)", filt);
	s->read_sql = coco_buf_take(&b);

	/* the rows of many keys: arrays of them */
	s->pf_types = coco_xcalloc(l->nkeys, sizeof *s->pf_types);
	coco_buf_printf(&b, "SELECT %s%s WHERE ", s->sel, from.p);
	if (l->nkeys == 1) {
		coco_buf_adds(&b, "t.");
		coco_sql_ident(&b, l->cols[0].name);
		coco_buf_adds(&b, " = ANY($1)");
	} else {
		coco_buf_putc(&b, '(');
		for (uint32_t i = 0; i < l->nkeys; i++) {
			coco_buf_adds(&b, i ? ",t." : "t.");
			coco_sql_ident(&b, l->cols[i].name);
		}
		coco_buf_adds(&b, ") IN (SELECT * FROM unnest(");
		for (uint32_t i = 0; i < l->nkeys; i++)
			coco_buf_printf(&b, "%s$%u", i ? "," : "", i + 1);
		coco_buf_adds(&b, "))");
	}
	for (uint32_t i = 0; i < l->nkeys; i++)
		s->pf_types[i] = l->cols[i].arroid;
	if (filt)
		coco_buf_printf(&b, " AND (%s)", filt);
	s->pf_sql = coco_buf_take(&b);
	coco_buf_free(&from);
	coco_buf_free(&ord);
}

static void ps_close(void *p)
{
	ps_src *s = p;
	if (!s)
		return;
	if (s->c)
		PQfinish(s->c);
	if (s->w)
		PQfinish(s->w);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->tfd >= 0)
		close(s->tfd);
	PQclear(s->pf_res);
	free(s->pf);
	coco_arena_destroy(&s->pf_mem);
	coco_arena_destroy(&s->wmem);
	coco_buf_free(&s->enc);
	coco_buf_free(&s->tmp);
	free(s->sel);
	free(s->list_sql);
	free(s->read_sql);
	free(s->pf_sql);
	free(s->pf_types);
	free(s->channel);
	free(s->note);
	layout_free(&s->l);
	free(s);
}

static int ps_open(const coco_optval *opts, const char *base_dir, void **out, char **err)
{
	(void)base_dir;
	ps_src *s = coco_xcalloc(1, sizeof *s);
	s->epfd = s->tfd = s->wsock = -1;
	if (!cache_get(opts, &s->l) && layout_load(opts, &s->l, err)) {
		free(s);
		return -1;
	}
	build_sql(s);
	if (s->l.notify && s->l.channel)
		s->channel = coco_strdup(s->l.channel);
	if (ensure(s, err)) {
		ps_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

/* The key of result row i (its first nkeys columns) into *key. */
static int row_key(ps_src *s, PGresult *r, int i, coco_arena *a, coco_value *key, coco_buf *why)
{
	uint32_t nk = s->l.nkeys;
	coco_value *kv = nk > 1 ? coco_arena_alloc(a, nk * sizeof *kv) : key;
	for (uint32_t k = 0; k < nk; k++) {
		if (PQgetisnull(r, i, (int)k)) {
			coco_buf_printf(why, "a null in key column '%s'", s->l.cols[k].name);
			return -1;
		}
		if (conv(&s->l.cols[k], 1, PQgetvalue(r, i, (int)k), (size_t)PQgetlength(r, i, (int)k), a,
			&kv[k], why))
			return -1;
	}
	if (nk > 1) {
		memset(key, 0, sizeof *key);
		key->kind = COCO_STRUCT;
		key->n = nk;
		key->u.fields = kv;
	}
	return 0;
}

/* The ordinal of result row i from its columns col (the ordinal column's
 * binary form: raw in a binary result, \x hex in a text one) and col + 1
 * (the md5 of the row): 'o' and the first, or 'h' and the md5. */
static void ord_bytes(PGresult *r, int i, int col, int binary, coco_buf *out)
{
	coco_buf_clear(out);
	if (PQgetisnull(r, i, col)) {
		coco_buf_putc(out, 'h');
		coco_buf_add(out, PQgetvalue(r, i, col + 1), (size_t)PQgetlength(r, i, col + 1));
		return;
	}
	const char *v = PQgetvalue(r, i, col);
	size_t n = (size_t)PQgetlength(r, i, col);
	coco_buf_putc(out, 'o');
	if (binary) {
		coco_buf_add(out, v, n);
		return;
	}
	for (size_t k = 2; k + 1 < n; k += 2)
		coco_buf_putc(out, (char)(hexval(v[k]) << 4 | hexval(v[k + 1])));
}

static int list_fail(ps_src *s, PGresult *r, const char *what, char **err)
{
	coco_buf b = {0}, t = {0};
	coco_pg_result_msg(&b, s->c, r, 1);
	disp_table(&t, &s->l);
	coco_seterr(err, "Postgres: %s: %s: %s", t.p, what, b.p);
	coco_buf_free(&b);
	coco_buf_free(&t);
	PQclear(r);
	if (PQstatus(s->c) == CONNECTION_OK)
		PQclear(PQexec(s->c, "ROLLBACK"));
	return -1;
}

static int ps_list(void *p, coco_list_cb cb, void *ud, char **err)
{
	ps_src *s = p;
	for (int attempt = 0;; attempt++) {
		if (ensure(s, err))
			return -1;
		PGresult *r = PQexec(s->c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			if (!attempt && conn_lost(s, r)) {
				PQclear(r);
				continue;
			}
			return list_fail(s, r, "cannot list", err);
		}
		PQclear(r);
		break;
	}
	PGresult *r = PQexec(s->c, "SET LOCAL cursor_tuple_fraction = 1");
	PQclear(r);
	r = PQexec(s->c, s->list_sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		return list_fail(s, r, "cannot list", err);
	PQclear(r);
	coco_arena a = {0};
	coco_buf why = {0}, ob = {0};
	int rc = 0;
	char fetch[64];
	snprintf(fetch, sizeof fetch, "FETCH FORWARD %d FROM coco_list", FETCH_ROWS);
	for (;;) {
		r = PQexecParams(s->c, fetch, 0, NULL, NULL, NULL, NULL, 1);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			rc = list_fail(s, r, "cannot list", err);
			break;
		}
		int n = PQntuples(r);
		uint32_t ordc = s->l.nkeys;
		for (int i = 0; i < n && !rc; i++) {
			coco_value key;
			coco_buf_clear(&why);
			if (row_key(s, r, i, &a, &key, &why)) {
				coco_buf t = {0};
				disp_table(&t, &s->l);
				rc = coco_seterr(err, "Postgres: %s: %s", t.p, why.p);
				coco_buf_free(&t);
				break;
			}
			ord_bytes(r, i, (int)ordc, 1, &ob);
			if (cb(ud, &key, ob.p, ob.n))
				rc = 1;
		}
		PQclear(r);
		coco_arena_reset(&a);
		if (rc || n < FETCH_ROWS)
			break;
	}
	coco_arena_destroy(&a);
	coco_buf_free(&why);
	coco_buf_free(&ob);
	if (rc < 0)
		return -1;
	r = PQexec(s->c, "COMMIT");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		return list_fail(s, r, "cannot list", err);
	PQclear(r);
	return 0;
}

/* Fills *row from result row i (every column, then the ordinal). */
static int fill_row(ps_src *s, PGresult *r, int i, coco_arena *a, coco_value *row, coco_buf *ord,
	char **err)
{
	uint32_t n = s->l.ncols;
	coco_value *f = coco_arena_alloc(a, n * sizeof *f);
	coco_buf why = {0};
	for (uint32_t k = 0; k < n; k++) {
		if (PQgetisnull(r, i, (int)k))
			continue;
		if (conv(&s->l.cols[k], k < s->l.nkeys, PQgetvalue(r, i, (int)k),
			(size_t)PQgetlength(r, i, (int)k), a, &f[k], &why)) {
			coco_seterr(err, "column '%s': %s", s->l.cols[k].name, why.p);
			coco_buf_free(&why);
			return -1;
		}
	}
	coco_buf_free(&why);
	memset(row, 0, sizeof *row);
	row->kind = COCO_STRUCT;
	row->n = n;
	row->u.fields = f;
	ord_bytes(r, i, (int)n, 0, ord);
	return 0;
}

/* The key columns' values of key, as parameters (texts in s->tmp, NUL
 * separated; offsets in off). */
static int key_params(ps_src *s, const coco_value *key, coco_buf *out, size_t *off)
{
	uint32_t nk = s->l.nkeys;
	coco_buf_clear(out);
	coco_buf t = {0};
	for (uint32_t k = 0; k < nk; k++) {
		const coco_value *v = nk > 1 ? (key->kind == COCO_STRUCT && key->n == nk ? &key->u.fields[k] : NULL) : key;
		if (!v || key_text(&s->l.cols[k], v, &t)) {
			coco_buf_free(&t);
			return -1;
		}
		off[k] = out->n;
		coco_buf_add(out, t.p ? t.p : "", t.n);
		coco_buf_putc(out, 0);
	}
	coco_buf_free(&t);
	return 0;
}

static pfent *pf_find(ps_src *s, const char *k, size_t n, int create)
{
	if (!s->pf_cap)
		return NULL;
	size_t i = (size_t)XXH3_64bits(k, n) & (s->pf_cap - 1);
	for (; s->pf[i].key; i = (i + 1) & (s->pf_cap - 1))
		if (s->pf[i].n == n && !memcmp(s->pf[i].key, k, n))
			return &s->pf[i];
	if (!create)
		return NULL;
	s->pf[i].key = coco_arena_strndup(&s->pf_mem, k, n);
	s->pf[i].n = n;
	s->pf[i].row = -1;
	return &s->pf[i];
}

static void pf_clear(ps_src *s)
{
	PQclear(s->pf_res);
	s->pf_res = NULL;
	free(s->pf);
	s->pf = NULL;
	s->pf_cap = 0;
	coco_arena_reset(&s->pf_mem);
}

/* Appends v as an element of an array literal: "text" with \ and " escaped. */
static void arr_elem(coco_buf *b, const char *s, size_t n)
{
	coco_buf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			coco_buf_putc(b, '\\');
		coco_buf_putc(b, s[i]);
	}
	coco_buf_putc(b, '"');
}

static void ps_prefetch(void *p, const coco_value *keys, size_t n)
{
	ps_src *s = p;
	pf_clear(s);
	if (!n)
		return;
	uint32_t nk = s->l.nkeys;
	coco_buf *arr = coco_xcalloc(nk, sizeof *arr);
	size_t off[64];
	coco_buf params = {0};
	s->pf_cap = 16;
	while (s->pf_cap < 2 * n)
		s->pf_cap *= 2;
	s->pf = coco_xcalloc(s->pf_cap, sizeof *s->pf);
	size_t used = 0;
	for (size_t i = 0; i < n && nk <= 64; i++) {
		if (key_params(s, &keys[i], &params, off))
			continue;
		coco_buf_clear(&s->enc);
		coco_value_encode(&keys[i], &s->enc);
		pfent *e = pf_find(s, s->enc.p, s->enc.n, 1);
		if (e->taken)
			continue;
		e->taken = 1;          /* (a key hinted twice: once) */
		for (uint32_t k = 0; k < nk; k++) {
			coco_buf_putc(&arr[k], used ? ',' : '{');
			arr_elem(&arr[k], params.p + off[k], strlen(params.p + off[k]));
		}
		used++;
	}
	for (size_t i = 0; i < s->pf_cap; i++)
		s->pf[i].taken = 0;
	PGresult *r = NULL;
	if (used && !ensure(s, NULL)) {
		const char **vals = coco_xcalloc(nk, sizeof *vals);
		for (uint32_t k = 0; k < nk; k++) {
			coco_buf_putc(&arr[k], '}');
			vals[k] = arr[k].p;
		}
		r = PQexecPrepared(s->c, "coco_prefetch", (int)nk, vals, NULL, NULL, 0);
		free(vals);
	}
	for (uint32_t k = 0; k < nk; k++)
		coco_buf_free(&arr[k]);
	free(arr);
	coco_buf_free(&params);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);            /* read() asks for each row by itself */
		pf_clear(s);
		return;
	}
	coco_arena a = {0};
	coco_buf why = {0};
	for (int i = 0; i < PQntuples(r); i++) {
		coco_value key;
		coco_arena_reset(&a);
		if (row_key(s, r, i, &a, &key, &why))
			continue;
		coco_buf_clear(&s->enc);
		coco_value_encode(&key, &s->enc);
		pfent *e = pf_find(s, s->enc.p, s->enc.n, 0);
		if (e)
			e->row = i;
	}
	coco_arena_destroy(&a);
	coco_buf_free(&why);
	s->pf_res = r;
}

/* "public.tickets id=5" (the row a message is about). */
static void row_name(ps_src *s, const coco_value *key, coco_buf *b)
{
	disp_table(b, &s->l);
	coco_buf t = {0};
	for (uint32_t k = 0; k < s->l.nkeys; k++) {
		const coco_value *v = s->l.nkeys > 1 ? &key->u.fields[k] : key;
		if (key_text(&s->l.cols[k], v, &t))
			continue;
		coco_buf_printf(b, "%s%s=%.*s", k ? ", " : " ", s->l.cols[k].name, (int)(t.n > 60 ? 60 : t.n), t.p);
	}
	coco_buf_free(&t);
}

static int ps_read(void *p, const coco_value *key, coco_arena *a, coco_value *row, coco_buf *ord,
	char **err)
{
	ps_src *s = p;
	coco_buf_clear(&s->enc);
	coco_value_encode(key, &s->enc);
	pfent *e = pf_find(s, s->enc.p, s->enc.n, 0);
	int rc;
	if (e && !e->taken) {
		e->taken = 1;
		if (e->row < 0)
			return 1;
		rc = fill_row(s, s->pf_res, e->row, a, row, ord, err);
	} else {
		size_t off[64];
		if (s->l.nkeys > 64 || key_params(s, key, &s->tmp, off)) {
			coco_buf b = {0};
			row_name(s, key, &b);
			coco_seterr(err, "%s: a key of the wrong type", b.p);
			coco_buf_free(&b);
			return -1;
		}
		const char *vals[64];
		for (uint32_t k = 0; k < s->l.nkeys; k++)
			vals[k] = s->tmp.p + off[k];
		PGresult *r = NULL;
		for (int attempt = 0; attempt < 2; attempt++) {
			if (ensure(s, err))
				return -1;
			PQclear(r);
			r = PQexecPrepared(s->c, "coco_read", (int)s->l.nkeys, vals, NULL, NULL, 0);
			if (!conn_lost(s, r))
				break;
		}
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			coco_buf b = {0}, m = {0};
			row_name(s, key, &b);
			coco_pg_result_msg(&m, s->c, r, 1);
			coco_seterr(err, "Postgres: %s: %s", b.p, m.p);
			coco_buf_free(&b);
			coco_buf_free(&m);
			PQclear(r);
			return -1;
		}
		rc = PQntuples(r) ? fill_row(s, r, 0, a, row, ord, err) : 1;
		PQclear(r);
	}
	if (rc < 0) {
		coco_buf b = {0};
		row_name(s, key, &b);
		char *m = *err;
		*err = NULL;
		coco_seterr(err, "Postgres: %s: %s", b.p, m ? m : "cannot read");
		free(m);
		coco_buf_free(&b);
	}
	return rc;
}

/* ---- change capture: LISTEN ------------------------------------------------------ */

/* The default channel: coco__<flow>__<source>, other bytes than letters,
 * digits and _ as _, cut to 63 bytes with a hash. */
static void default_channel(coco_buf *out, const char *flow, const char *source)
{
	coco_buf b = {0};
	coco_buf_printf(&b, "coco__%s__%s", flow, source);
	for (size_t i = 0; i < b.n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", b.p[i]))
			b.p[i] = '_';
	ident63(out, b.p, "");
	coco_buf_free(&b);
}

static void ps_named(void *p, const char *flow, const char *source)
{
	ps_src *s = p;
	if (!s->l.notify || s->channel)
		return;
	coco_buf b = {0};
	default_channel(&b, flow, source);
	s->channel = coco_buf_take(&b);
}

static void arm(ps_src *s, int ms)
{
	struct itimerspec it = {0};
	it.it_value.tv_sec = ms / 1000;
	it.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
	timerfd_settime(s->tfd, 0, &it, NULL);
}

/* Connects the listener and LISTENs; 0, or -1 with *err. */
static int listen_start(ps_src *s, char **err)
{
	PGconn *c = pg_connect(s->l.conninfo, s->l.penv, s->l.server, "coco listen", err);
	if (!c)
		return -1;
	coco_buf q = {0};
	coco_buf_adds(&q, "LISTEN ");
	coco_sql_ident(&q, s->channel);
	int rc = coco_pg_exec(c, q.p, "LISTEN", 1, err);
	coco_buf_free(&q);
	if (rc) {
		PQfinish(c);
		return -1;
	}
	s->w = c;
	s->wsock = PQsocket(c);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = s->wsock };
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wsock, &ev);
	s->backoff_ms = 0;
	return 0;
}

static void listen_drop(ps_src *s)
{
	if (!s->w)
		return;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->wsock, NULL);
	PQfinish(s->w);
	s->w = NULL;
	s->wsock = -1;
}

static void trigger_sql(const layout *l, const char *ch, coco_buf *create, coco_buf *drop,
	coco_buf *tg);

static int ps_watch(void *p, int *fd, char **err)
{
	ps_src *s = p;
	*fd = -1;
	if (!s->l.notify)
		return 0;
	if (!s->channel)
		return coco_seterr(err, "Postgres: notification needs a channel_name here");
	/* setup made the trigger; one dropped by hand since is made again */
	if (ensure(s, err))
		return -1;
	coco_buf qt = {0}, tg = {0}, create = {0}, drop = {0};
	qual_table(&qt, &s->l);
	trigger_sql(&s->l, s->channel, &create, &drop, &tg);
	const char *pv[2] = { qt.p, tg.p };
	PGresult *r = PQexecParams(s->c, "SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($1) "
		"AND tgname = $2", 2, NULL, pv, NULL, NULL, 0);
	int missing = PQresultStatus(r) == PGRES_TUPLES_OK && !PQntuples(r), rc = 0;
	PQclear(r);
	if (missing) {
		coco_buf q = {0}, t = {0};
		coco_buf_printf(&q, "BEGIN; %s COMMIT;", create.p);
		rc = coco_pg_exec(s->c, q.p, "cannot create the trigger that notifies changes", 1, err);
		disp_table(&t, &s->l);
		coco_buf_printf(&t, " had no trigger %s (dropped by hand?): made again", tg.p);
		if (!rc)
			s->note = coco_buf_take(&t);
		coco_buf_free(&t);
		coco_buf_free(&q);
	}
	coco_buf_free(&qt);
	coco_buf_free(&tg);
	coco_buf_free(&create);
	coco_buf_free(&drop);
	if (rc)
		return -1;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->epfd < 0 || s->tfd < 0)
		return coco_seterr(err, "Postgres: epoll/timerfd: %s", strerror(errno));
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = s->tfd };
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->tfd, &ev);
	if (listen_start(s, err))
		return -1;
	if (s->note)
		arm(s, 1);             /* watch_read says so */
	*fd = s->epfd;
	return 0;
}

/* One notification's payload: a JSON array of the key columns' text. */
static int payload_key(ps_src *s, const char *pl, coco_value *key)
{
	size_t n = strlen(pl), at;
	const char *msg;
	coco_json_iter it;
	if (coco_json_check(pl, n, &at, &msg) || coco_json_iter_init(&it, pl, n) != '[')
		return -1;
	uint32_t nk = s->l.nkeys, k = 0;
	coco_value *kv = nk > 1 ? coco_arena_alloc(&s->wmem, nk * sizeof *kv) : key;
	const char *v;
	size_t nv;
	coco_buf t = {0}, why = {0};
	int rc = 0;
	while (!rc && coco_json_iter_next(&it, NULL, NULL, &v, &nv)) {
		coco_buf_clear(&t);
		if (k >= nk || coco_json_str_decode(v, nv, &t) ||
		    conv(&s->l.cols[k], 1, t.p ? t.p : "", t.n, &s->wmem, &kv[k], &why))
			rc = -1;
		k++;
	}
	coco_buf_free(&t);
	coco_buf_free(&why);
	if (rc || k != nk)
		return -1;
	if (nk > 1) {
		memset(key, 0, sizeof *key);
		key->kind = COCO_STRUCT;
		key->n = nk;
		key->u.fields = kv;
	}
	return 0;
}

static int ps_watch_read(void *p, coco_change_cb cb, void *ud, char **err)
{
	ps_src *s = p;
	(void)err;
	uint64_t ticks;
	while (read(s->tfd, &ticks, sizeof ticks) > 0)
		;
	if (s->note) {
		coco_buf msg = {0};
		coco_buf_printf(&msg, "Postgres: %s", s->note);
		free(s->note);
		s->note = NULL;
		cb(ud, COCO_CHANGE_RESCAN, NULL, msg.p);
		coco_buf_free(&msg);
	}
	coco_buf m = {0};
	if (s->w && (!PQconsumeInput(s->w) || PQstatus(s->w) != CONNECTION_OK)) {
		coco_pg_msg(&m, PQerrorMessage(s->w));
		listen_drop(s);
		char *e = NULL;
		int rc = listen_start(s, &e);
		coco_buf msg = {0};
		coco_buf_printf(&msg, "Postgres: the connection that listens on %s was lost (%s); %s",
			s->channel, m.n ? m.p : "closed", rc ? "reconnecting" : "reconnected: a full pass");
		cb(ud, COCO_CHANGE_RESCAN, NULL, msg.p);
		coco_buf_free(&msg);
		coco_buf_free(&m);
		if (rc) {
			free(e);
			s->backoff_ms = 500;
			arm(s, s->backoff_ms);
		}
		return 0;
	}
	if (!s->w) {
		char *e = NULL;
		if (listen_start(s, &e)) {
			free(e);
			s->backoff_ms = s->backoff_ms < 5000 ? s->backoff_ms * 2 : 10000;
			arm(s, s->backoff_ms);
			return 0;
		}
		coco_buf msg = {0};
		coco_buf_printf(&msg, "Postgres: listening on %s again: a full pass", s->channel);
		cb(ud, COCO_CHANGE_RESCAN, NULL, msg.p);
		coco_buf_free(&msg);
	}
	coco_buf_free(&m);
	PGnotify *nt;
	while (s->w && (nt = PQnotifies(s->w))) {
		int stop = 0;
		if (!strcmp(nt->relname, s->channel)) {
			coco_value key;
			coco_arena_reset(&s->wmem);
			if (!strcmp(nt->extra, RESCAN_MARK) || payload_key(s, nt->extra, &key))
				stop = cb(ud, COCO_CHANGE_RESCAN, NULL, NULL);
			else
				stop = cb(ud, COCO_CHANGE_ROW, &key, NULL);
		}
		PQfreemem(nt);
		if (stop) {
			arm(s, 1);         /* the rest wait in libpq: come back for them */
			break;
		}
	}
	return 0;
}

/* ---- setup: the trigger that notifies -------------------------------------------- */

/* The SQL that creates the notifying function and triggers for channel ch
 * on l's table (create), and that drops them (drop); tg: the row
 * trigger's name. */
static void trigger_sql(const layout *l, const char *ch, coco_buf *create, coco_buf *drop,
	coco_buf *tg)
{
	coco_buf fn = {0}, tt = {0}, qt = {0}, qf = {0};
	coco_buf *q = create;
	ident63(&fn, ch, "_n");
	ident63(tg, ch, "_t");
	ident63(&tt, ch, "_tt");
	qual_table(&qt, l);
	coco_sql_ident(&qf, l->schema);
	coco_buf_putc(&qf, '.');
	coco_sql_ident(&qf, fn.p);

	/* the function */
	coco_buf_printf(q, "CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql", qf.p);
#define SET(k, v) coco_buf_printf(q, " SET %s = '%s'", k, v);
	SETTINGS(SET)
#undef SET
	coco_buf_adds(q, " AS $coco$ DECLARE p text; BEGIN IF TG_OP = 'TRUNCATE' THEN "
		"PERFORM pg_notify(");
	sql_lit(q, ch);
	coco_buf_adds(q, ", '" RESCAN_MARK "'); RETURN NULL; END IF; "
		"IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND (");
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < l->nkeys; i++) {
			coco_buf_printf(q, "%s%s.", i ? "," : "", pass ? "OLD" : "NEW");
			coco_sql_ident(q, l->cols[i].name);
		}
		coco_buf_adds(q, pass ? ")) THEN " : ") IS DISTINCT FROM (");
	}
	for (int pass = 0; pass < 2; pass++) {
		coco_buf_adds(q, "p := json_build_array(");
		for (uint32_t i = 0; i < l->nkeys; i++) {
			if (i)
				coco_buf_putc(q, ',');
			col_expr(q, &l->cols[i], pass ? "NEW" : "OLD", 1);
		}
		coco_buf_adds(q, ")::text; PERFORM pg_notify(");
		sql_lit(q, ch);
		coco_buf_printf(q, ", CASE WHEN octet_length(p) < %d THEN p ELSE '" RESCAN_MARK "' END); "
			"END IF; ", PAYLOAD_MAX);
		if (!pass)
			coco_buf_adds(q, "IF TG_OP <> 'DELETE' THEN ");
	}
	coco_buf_adds(q, "RETURN NULL; END $coco$; ");
	/* the triggers */
	const coco_buf *tn[2] = { tg, &tt };
	for (int i = 0; i < 2; i++) {
		coco_buf_adds(q, "DROP TRIGGER IF EXISTS ");
		coco_sql_ident(q, tn[i]->p);
		coco_buf_printf(q, " ON %s; CREATE TRIGGER ", qt.p);
		coco_sql_ident(q, tn[i]->p);
		coco_buf_printf(q, " AFTER %s ON %s FOR EACH %s EXECUTE FUNCTION %s();",
			i ? "TRUNCATE" : "INSERT OR UPDATE OR DELETE", qt.p, i ? "STATEMENT" : "ROW", qf.p);
	}
	/* undoing it */
	for (int i = 0; i < 2; i++) {
		coco_buf_adds(drop, "DROP TRIGGER IF EXISTS ");
		coco_sql_ident(drop, tn[i]->p);
		coco_buf_printf(drop, " ON %s; ", qt.p);
	}
	coco_buf_printf(drop, "DROP FUNCTION IF EXISTS %s();", qf.p);
	coco_buf_free(&fn);
	coco_buf_free(&tt);
	coco_buf_free(&qt);
	coco_buf_free(&qf);
}

static int ps_setup_describe(const coco_optval *opts, const char *flow, const char *source,
	coco_buf *rid, coco_buf *desired, char **err)
{
	if (!opts[OPT_NOTIFY].set)
		return 0;
	layout l;
	if (!cache_get(opts, &l)) {
		if (layout_load(opts, &l, err))
			return -1;
		cache_put(opts, &l);
	}
	coco_buf ch = {0}, tg = {0}, q = {0}, b = {0};
	if (l.channel)
		coco_buf_adds(&ch, l.channel);
	else
		default_channel(&ch, flow, source);
	coco_buf_printf(rid, "%s#%s.%s!%s", l.server, l.schema, l.table, ch.p);
	trigger_sql(&l, ch.p, &q, &b, &tg);
	coco_buf_printf(desired, "server %s\nconninfo ", l.server);
	coco_buf_esc(desired, l.conninfo, 0);
	if (l.penv)
		coco_buf_printf(desired, "\npassword_env %s", l.penv);
	coco_buf_printf(desired, "\ntable %s.%s\nchannel %s\ntrigger %s\ncreate ", l.schema, l.table,
		ch.p, tg.p);
	coco_buf_esc(desired, q.p, 0);
	coco_buf_adds(desired, "\ndrop ");
	coco_buf_esc(desired, b.p, 0);
	coco_buf_putc(desired, '\n');
	coco_buf_free(&ch);
	coco_buf_free(&tg);
	coco_buf_free(&q);
	coco_buf_free(&b);
	layout_free(&l);
	return 0;
}

typedef struct sdesc {
	const char *server, *conninfo, *penv, *table, *channel, *trigger, *create, *drop;
} sdesc;

/* The value of line `word` of a description (unescaped, in a), or NULL. */
static const char *sline(const char *text, const char *word, coco_arena *a)
{
	size_t wn = strlen(word);
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (n > wn && !memcmp(p, word, wn) && p[wn] == ' ')
			return coco_unesc(a, p + wn + 1, n - wn - 1);
		p = nl ? nl + 1 : NULL;
	}
	return NULL;
}

static int sparse(const char *text, coco_arena *a, sdesc *d, char **err)
{
	memset(d, 0, sizeof *d);
	if (!text)
		return 0;
	d->server = sline(text, "server", a);
	d->conninfo = sline(text, "conninfo", a);
	d->penv = sline(text, "password_env", a);
	d->table = sline(text, "table", a);
	d->channel = sline(text, "channel", a);
	d->trigger = sline(text, "trigger", a);
	d->create = sline(text, "create", a);
	d->drop = sline(text, "drop", a);
	if (!d->server || !d->conninfo || !d->table || !d->channel || !d->trigger || !d->create || !d->drop)
		return coco_seterr(err, "Postgres: malformed setup description of a source");
	return 0;
}

static int ps_setup_plan(const char *stored, const char *desired, coco_buf *plan, int *destructive,
	char **err)
{
	coco_arena a = {0};
	sdesc s, d;
	*destructive = 0;
	int rc = sparse(stored, &a, &s, err) || sparse(desired, &a, &d, err) ? -1 : 0;
	if (!rc && stored && (!desired || strcmp(s.server, d.server) || strcmp(s.table, d.table) ||
	    strcmp(s.channel, d.channel)))
		coco_buf_printf(plan, "drop trigger %s on %s (it notified %s)\n", s.trigger, s.table, s.channel);
	if (!rc && desired)
		coco_buf_printf(plan, "%s trigger %s on %s: notify changed keys on channel %s\n",
			stored && !strcmp(s.server, d.server) && !strcmp(s.table, d.table) &&
			!strcmp(s.channel, d.channel) ? "replace" : "create", d.trigger, d.table, d.channel);
	coco_arena_destroy(&a);
	return rc;
}

/* Runs sql in one transaction on the server of conninfo. */
static int run_tx(const char *conninfo, const char *penv, const char *server, const char *sql,
	char **err)
{
	PGconn *c = pg_connect(conninfo, penv, server, "coco", err);
	if (!c)
		return -1;
	coco_buf q = {0};
	coco_buf_printf(&q, "BEGIN; %s COMMIT;", sql);
	char *e = NULL;
	int rc = coco_pg_exec(c, q.p, server, 1, &e);
	if (rc) {
		coco_seterr(err, "%s", e);
		free(e);
	}
	coco_buf_free(&q);
	PQfinish(c);
	return rc;
}

static int ps_setup_apply(const char *stored, const char *desired, char **err)
{
	coco_arena a = {0};
	sdesc s, d;
	int rc = sparse(stored, &a, &s, err) || sparse(desired, &a, &d, err) ? -1 : 0;
	int same_server = stored && desired && !strcmp(s.server, d.server);
	if (!rc && stored && !same_server)
		rc = run_tx(s.conninfo, s.penv, s.server, s.drop, err);
	if (!rc && desired) {
		coco_buf q = {0};
		if (same_server)
			coco_buf_printf(&q, "%s ", s.drop);
		coco_buf_adds(&q, d.create);
		rc = run_tx(d.conninfo, d.penv, d.server, q.p, err);
		coco_buf_free(&q);
	}
	coco_arena_destroy(&a);
	return rc;
}

const coco_source_ops coco_postgres_source = {
	.name = "Postgres",
	.opts = ps_opts,
	.row_type = ps_row_type,
	.open = ps_open,
	.list = ps_list,
	.read = ps_read,
	.close = ps_close,
	.watch = ps_watch,
	.watch_read = ps_watch_read,
	.owner_thread_only = 0,
	.prefetch = ps_prefetch,
	.setup_describe = ps_setup_describe,
	.setup_plan = ps_setup_plan,
	.setup_apply = ps_setup_apply,
	.named = ps_named,
};
