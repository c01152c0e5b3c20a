/* PostgreSQL target (libpq): each export owns one table, with pgvector
 * columns for vectors.
 *
 * Setup is a line-oriented description (see pg_describe) that plan() and
 * apply() parse back. Writes are batched: the rows of a batch become
 * multi-row INSERT ... ON CONFLICT DO UPDATE and DELETE ... IN (...)
 * statements of power-of-two sizes, prepared once per connection, with
 * binary parameters, inside one transaction per batch. Every statement of
 * the open batch is kept until COMMIT succeeded, so a lost connection is
 * reconnected (with backoff) and the whole batch replayed: the engine's
 * state never advances past a batch the server did not commit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "engine/tdesc.h"
#include "connectors/common/pgconn.h"
#include "connectors/postgres/postgres_int.h"

static const coco_optdef pg_opts[] = {
	{ "database", COCO_OPT_STR, 0, "libpq connection string or URI (default $COCO_DATABASE_URL)" },
	{ "table_name", COCO_OPT_STR, 0, "table name (default <flow_name>__<export_name>)" },
	{ "schema", COCO_OPT_STR, 0, "schema (default public); created when missing" },
	{ "column_options", COCO_OPT_JSON, 0,
	  "per field: { embedding = { type = \"vector\" | \"halfvec\" | \"real[]\" | \"jsonb\" } }" },
	{ "vector_indexes", COCO_OPT_JSON, 0, "{{ field =, metric = \"cosine\"|\"l2\"|\"ip\", "
	  "method = \"hnsw\"|\"ivfflat\", m =, ef_construction =, lists = }}" },
	{ "password_env", COCO_OPT_STR, 0, "environment variable holding the password "
	  "(else the connection string's, PGPASSWORD or ~/.pgpass)", 1 },
	{ NULL, 0, 0, NULL, 0 },
};

/* ---- small helpers --------------------------------------------------------- */

/* Appends "schema"."name". */
void pg_quote_qual(coco_buf *b, const char *schema, const char *name)
{
	coco_sql_ident(b, schema);
	coco_buf_putc(b, '.');
	coco_sql_ident(b, name);
}

/* ---- connections ------------------------------------------------------------ */

/* Connects with a stored connection string (no password in it: the
 * password comes from password_env penv, the one remembered for it, else
 * libpq's PGPASSWORD or ~/.pgpass); on failure sets *err "Postgres:
 * cannot connect to SERVER: why". */
static PGconn *pg_connect(const char *conninfo, const char *penv, const char *server, char **err)
{
	static const char *const keys[] = { "connect_timeout", "application_name", NULL };
	static const char *const vals[] = { "10", "coco", NULL };
	return coco_pg_connect(conninfo, penv, server, keys, vals, " (the password comes from "
		"password_env, the connection string of an export in the flow, PGPASSWORD or "
		"~/.pgpass)", err);
}

/* The idle connections of this process, by connection string and
 * password_env: setup, writes and queries of every export on one database
 * take one in turn instead of connecting (a backend fork each) every time.
 * A connection is in the pool or with the one user that took it, never
 * both, so no two threads ever use it at once. */
typedef struct idle_conn {
	char *key;                   /* conninfo, NUL, penv */
	size_t nkey;
	PGconn *c;
	uint64_t id;
} idle_conn;

#define POOL_MAX 16

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static idle_conn pool[POOL_MAX];
static size_t npool;
static uint64_t pool_serial;
static pid_t pool_pid;

static void pool_key(coco_buf *b, const char *conninfo, const char *penv)
{
	coco_buf_add(b, conninfo, strlen(conninfo) + 1);
	coco_buf_adds(b, penv ? penv : "");
}

/* 1 when an idle connection can still be used: connected, out of any
 * transaction, and nothing came from the server since (a server that shut
 * down or terminated the backend has sent an error or closed the socket). */
static int idle_ok(PGconn *c)
{
	if (PQstatus(c) != CONNECTION_OK || PQtransactionStatus(c) != PQTRANS_IDLE)
		return 0;
	struct pollfd p = { .fd = PQsocket(c), .events = POLLIN };
	return p.fd >= 0 && poll(&p, 1, 0) == 0;
}

/* Takes the idle connection numbered prefer when it is in the pool, else
 * (unless only) another one for the key k, checked; NULL when none. The
 * ones found dead are closed and counted in *lost. */
static PGconn *pool_pop(const coco_buf *k, uint64_t prefer, int only, uint64_t *id, int *lost)
{
	for (;;) {
		PGconn *c = NULL;
		pthread_mutex_lock(&pool_mu);
		if (pool_pid != getpid()) {
			npool = 0;           /* a forked copy: the parent's connections are its own */
			pool_pid = getpid();
		}
		size_t at = npool;
		for (size_t i = 0; i < npool; i++)
			if (pool[i].nkey == k->n && !memcmp(pool[i].key, k->p, k->n) &&
			    (pool[i].id == prefer || (at == npool && !only)))
				at = i;
		if (at < npool) {
			c = pool[at].c;
			*id = pool[at].id;
			free(pool[at].key);
			pool[at] = pool[--npool];
		}
		pthread_mutex_unlock(&pool_mu);
		if (!c || idle_ok(c))
			return c;
		PQfinish(c);
		++*lost;
	}
}

/* Takes an idle connection for conninfo and penv (the one numbered prefer
 * when it is idle), else connects. *id numbers the connection in the
 * process (statements prepared on it stay with it). With only, takes the
 * connection numbered prefer or nothing (NULL, no *err). *lost (when not
 * NULL) counts the idle connections found dead (a server restarted, a
 * backend terminated) and closed. */
PGconn *pg_conn_get(const char *conninfo, const char *penv, const char *server, uint64_t prefer,
	int only, uint64_t *id, int *lost, char **err)
{
	coco_buf k = {0};
	int nlost = 0;
	pool_key(&k, conninfo, penv);
	PGconn *c = pool_pop(&k, prefer, only, id, &nlost);
	if (lost)
		*lost = nlost;
	coco_buf_free(&k);
	if (c || only)
		return c;
	if ((c = pg_connect(conninfo, penv, server, err))) {
		pthread_mutex_lock(&pool_mu);
		*id = ++pool_serial;
		pthread_mutex_unlock(&pool_mu);
	}
	return c;
}

/* Gives c (from pg_conn_get, numbered id) back: to the pool when ok and it
 * is idle and connected, else it is closed (a connection that failed is
 * never used again). */
void pg_conn_put(const char *conninfo, const char *penv, PGconn *c, uint64_t id, int ok)
{
	if (!c)
		return;
	if (ok && PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) == PQTRANS_IDLE) {
		coco_buf k = {0};
		pool_key(&k, conninfo, penv);
		pthread_mutex_lock(&pool_mu);
		if (npool < POOL_MAX && pool_pid == getpid()) {
			size_t n = k.n;
			pool[npool++] = (idle_conn){ coco_buf_take(&k), n, c, id };
			c = NULL;
		}
		pthread_mutex_unlock(&pool_mu);
		if (c)
			coco_buf_free(&k);
	}
	if (c)
		PQfinish(c);
}

/* coco_target_ops.flow_closed: the idle connections are closed. */
static void pool_close(void)
{
	pthread_mutex_lock(&pool_mu);
	size_t n = pool_pid == getpid() ? npool : 0;
	idle_conn all[POOL_MAX];
	memcpy(all, pool, n * sizeof *all);
	npool = 0;
	pthread_mutex_unlock(&pool_mu);
	for (size_t i = 0; i < n; i++) {
		PQfinish(all[i].c);
		free(all[i].key);
	}
}

static void tgt_close(void *p)
{
	pg_tgt *t = p;
	if (!t)
		return;
	if (getenv("COCO_PG_STATS") && t->batches)
		fprintf(stderr, "coco: Postgres %s: %llu batches, %llu upserts, %llu deletes, "
			"%.1f ms in the target (%.0f rows/s), %llu reconnects\n", t->label,
			(unsigned long long)t->batches, (unsigned long long)t->upserts,
			(unsigned long long)t->deletes, t->ms,
			t->ms > 0 ? (double)(t->upserts + t->deletes) * 1000 / t->ms : 0.0,
			(unsigned long long)t->reconnects);
	if (!t->conn && (t->prep_ups | t->prep_del))      /* its statements' connection, if idle */
		t->conn = pg_conn_get(t->l.conninfo, t->l.penv, t->l.server.p, t->conn_id, 1,
			&t->conn_id, NULL, NULL);
	int ok = 1;
	if (t->conn && PQstatus(t->conn) == CONNECTION_OK) {
		/* the connection goes on (the pool; PGlite keeps one session for
		 * all): its statements go */
		PGresult *r = NULL;
		if (t->server_txn) {
			r = PQexec(t->conn, "ROLLBACK");
			PQclear(r);
		}
		coco_buf sql = {0};
		for (int del = 0; del < 2; del++)
			for (uint32_t bit = 0; bit < 32; bit++)
				if ((del ? t->prep_del : t->prep_ups) & (1u << bit))
					coco_buf_printf(&sql, "DEALLOCATE \"%s%c%u\";", t->prefix,
						del ? 'd' : 'u', 1u << bit);
		if (sql.n) {
			r = PQexec(t->conn, sql.p);
			ok = PQresultStatus(r) == PGRES_COMMAND_OK;
			PQclear(r);
		}
		coco_buf_free(&sql);
	}
	/* an open transaction is rolled back; a connection that failed is closed */
	pg_conn_put(t->l.conninfo, t->l.penv, t->conn, t->conn_id, ok);
	pg_layout_free(&t->l);
	free(t->label);
	coco_buf_free(&t->qtable);
	coco_buf_free(&t->data);
	coco_buf_free(&t->sql);
	coco_buf_free(&t->tmp);
	coco_buf_free(&t->keyb);
	free(t->params);
	free(t->stmts);
	free(t->seen);
	free(t->vals);
	free(t->lens);
	free(t->fmts);
	free(t);
}

static int tgt_open(const coco_optval *opts, const coco_export_info *info, void **out, char **err)
{
	*out = NULL;
	pg_tgt *t = calloc(1, sizeof *t);
	if (!t)
		abort();
	t->group_del = -1;
	if (pg_layout_make(opts, info, &t->l, err) < 0) {
		tgt_close(t);
		return -1;
	}
	pg_quote_qual(&t->qtable, t->l.schema.p, t->l.table.p);
	coco_buf lb = {0};
	coco_buf_printf(&lb, "%s.%s on %s", t->l.schema.p, t->l.table.p, t->l.server.p);
	t->label = coco_buf_take(&lb);
	/* at most 65535 parameters in a statement */
	uint32_t cap = 65535 / t->l.ncols;
	t->maxgroup = 1;
	while (t->maxgroup * 2 <= cap && t->maxgroup * 2 <= MAX_GROUP)
		t->maxgroup *= 2;
	t->nseen = 4;
	while (t->nseen < (size_t)t->maxgroup * 2)
		t->nseen *= 2;
	t->seen = calloc(t->nseen, sizeof *t->seen);
	if (!t->seen)
		abort();
	uint64_t id;
	t->conn = pg_conn_get(t->l.conninfo, t->l.penv, t->l.server.p, 0, 0, &id, NULL, err);
	if (!t->conn) {
		tgt_close(t);
		return -1;
	}
	/* the table must be there (and have these columns) */
	pg_new_prefix(t, id);
	pg_stmt_sql(t, 0, 1, &t->sql);
	char name[80];
	snprintf(name, sizeof name, "%su1", t->prefix);
	PGresult *r = PQprepare(t->conn, name, t->sql.p, (int)t->l.ncols, NULL);
	int rc = pg_result_rc(t, r, "prepare upsert into", err);
	PQclear(r);
	if (rc) {
		if (rc > 0)
			coco_seterr(err, "Postgres: %s: the connection was lost", t->label);
		tgt_close(t);
		return -1;
	}
	t->prep_ups = 1;
	pg_conn_put(t->l.conninfo, t->l.penv, t->conn, t->conn_id, 1);   /* until a batch */
	t->conn = NULL;
	*out = t;
	return 0;
}

/* The PostgreSQL target: `targets.Postgres{ database = "postgres://..." }`. */
const coco_target_ops coco_postgres_target = {
	.name = "Postgres",
	.opts = pg_opts,
	.describe = pg_describe,
	.plan = pg_plan,
	.apply = pg_apply,
	.open = tgt_open,
	.begin = pg_begin,
	.upsert = pg_upsert,
	.del = pg_del,
	.commit = pg_commit,
	.close = tgt_close,
	.top_k = pg_top_k,
	.scan = pg_scan,
	.flow_closed = pool_close,
};
