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

/* ---- connections ------------------------------------------------------------ */

/* Connects with a stored connection string (no password in it: the
 * password comes from password_env penv, the one remembered for it, else
 * libpq's PGPASSWORD or ~/.pgpass); on failure sets *err "Postgres:
 * cannot connect to SERVER: why". */
PGconn *pg_connect(const char *conninfo, const char *penv, const char *server, char **err)
{
	static const char *const keys[] = { "connect_timeout", "application_name", NULL };
	static const char *const vals[] = { "10", "coco", NULL };
	return coco_pg_connect(conninfo, penv, server, keys, vals, " (the password comes from "
		"password_env, the connection string of an export in the flow, PGPASSWORD or "
		"~/.pgpass)", err);
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
