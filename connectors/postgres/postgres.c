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

#include <libpq-fe.h>

#include "tdesc.h"
#include "connectors/common/pgconn.h"
#include "postgres_int.h"

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

/* libpq messages end with a newline and may span lines: one line. */
void pg_add_msg(coco_buf *b, const char *msg)
{
	size_t n = msg ? strlen(msg) : 0;
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	for (size_t i = 0; i < n; i++) {
		if (msg[i] == '\n') {
			coco_buf_adds(b, "; ");
			while (i + 1 < n && (msg[i + 1] == ' ' || msg[i + 1] == '\t'))
				i++;
		} else {
			coco_buf_putc(b, msg[i]);
		}
	}
}

static void quiet_notices(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* ---- connections ------------------------------------------------------------ */

/* The connection string of an export: the database option, else
 * $COCO_DATABASE_URL. */
const char *pg_conninfo_of(const coco_optval *opts)
{
	if (opts[OPT_DATABASE].set && opts[OPT_DATABASE].s && *opts[OPT_DATABASE].s)
		return opts[OPT_DATABASE].s;
	const char *env = getenv("COCO_DATABASE_URL");
	return env && *env ? env : NULL;
}

/* "postgres://host:port/dbname" for a connection string (no password), so
 * that messages and resource ids name the server without secrets. */
int pg_server_of(const char *conninfo, coco_buf *out, char **err)
{
	char *msg = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);
	if (!opts) {
		PQfreemem(msg);
		return coco_pg_conninfo_store(conninfo, out, "Postgres", err);   /* says why */
	}
	const char *host = NULL, *hostaddr = NULL, *port = NULL, *db = NULL, *user = NULL;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val || !*o->val)
			continue;
		if (!strcmp(o->keyword, "host"))
			host = o->val;
		else if (!strcmp(o->keyword, "hostaddr"))
			hostaddr = o->val;
		else if (!strcmp(o->keyword, "port"))
			port = o->val;
		else if (!strcmp(o->keyword, "dbname"))
			db = o->val;
		else if (!strcmp(o->keyword, "user"))
			user = o->val;
	}
	if (!host)
		host = hostaddr ? hostaddr : getenv("PGHOST");
	if (!port)
		port = getenv("PGPORT");
	if (!user)
		user = getenv("PGUSER");
	if (!db)
		db = getenv("PGDATABASE") ? getenv("PGDATABASE") : user;
	coco_buf_printf(out, "postgres://%s:%s/%s", host && *host ? host : "localhost",
		port && *port ? port : "5432", db && *db ? db : "(default)");
	PQconninfoFree(opts);
	return 0;
}

/* Connects with a stored connection string (no password in it: the
 * password comes from password_env penv, the one remembered for it, else
 * libpq's PGPASSWORD or ~/.pgpass); on failure sets *err "Postgres:
 * cannot connect to SERVER: why". */
PGconn *pg_connect(const char *conninfo, const char *penv, const char *server, char **err)
{
	char *pw;
	if (coco_pg_password(conninfo, penv, "Postgres", &pw, err) < 0)
		return NULL;
	/* later keywords win: client_encoding is forced, the rest are defaults
	 * the connection string may override */
	const char *keys[] = { "connect_timeout", "application_name", "dbname", "client_encoding",
		pw ? "password" : NULL, NULL };
	const char *vals[] = { "10", "coco", conninfo, "UTF8", pw, NULL };
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (pw) {
		memset(pw, 0, strlen(pw));
		free(pw);
	}
	if (!c) {
		coco_seterr(err, "Postgres: cannot connect to %s: out of memory", server);
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		coco_buf b = {0};
		pg_add_msg(&b, PQerrorMessage(c));
		coco_seterr(err, "Postgres: cannot connect to %s: %s%s", server, b.p,
			strstr(b.p, "no password supplied") ? " (the password comes from password_env, "
			"the connection string of an export in the flow, PGPASSWORD or ~/.pgpass)" : "");
		coco_buf_free(&b);
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, quiet_notices, NULL);
	return c;
}

/* Runs sql (no result rows expected); on failure sets *err naming what. */
int pg_exec(PGconn *c, const char *sql, const char *what, char **err)
{
	PGresult *r = PQexec(c, sql);
	int ok = r && (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
	if (!ok) {
		coco_buf b = {0};
		pg_add_msg(&b, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
		if (!b.n)
			pg_add_msg(&b, PQerrorMessage(c));
		coco_seterr(err, "Postgres: %s: %s", what, b.p);
		coco_buf_free(&b);
	}
	PQclear(r);
	return ok ? 0 : -1;
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
	if (t->conn && PQstatus(t->conn) == CONNECTION_OK) {
		/* a server keeping the session (PGlite) keeps prepared statements */
		PGresult *r = NULL;
		if (t->server_txn) {
			r = PQexec(t->conn, "ROLLBACK");
			PQclear(r);
		}
		for (int del = 0; del < 2; del++)
			for (uint32_t bit = 0; bit < 32; bit++)
				if ((del ? t->prep_del : t->prep_ups) & (1u << bit)) {
					char sql[120];
					snprintf(sql, sizeof sql, "DEALLOCATE \"%s%c%u\"", t->prefix,
						del ? 'd' : 'u', 1u << bit);
					r = PQexec(t->conn, sql);
					PQclear(r);
				}
	}
	if (t->conn)
		PQfinish(t->conn);      /* an open transaction is rolled back */
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
	t->conn = pg_connect(t->l.conninfo, t->l.penv, t->l.server.p, err);
	if (!t->conn) {
		tgt_close(t);
		return -1;
	}
	/* the table must be there (and have these columns) */
	pg_new_prefix(t);
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
};
