/* Postgres target: setup. describe() writes the line-oriented description
 * below, plan() and apply() parse it back and run the DDL. */
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "engine/tdesc.h"
#include "connectors/common/pgconn.h"
#include "connectors/postgres/postgres_int.h"

/* 1 if the query (one text parameter) returns a row, 0 if not, -1 on error. */
static int pg_exists(PGconn *c, const char *sql, const char *param, const char *what, char **err)
{
	PGresult *r = PQexecParams(c, sql, 1, NULL, &param, NULL, NULL, 0);
	int rc;
	if (r && PQresultStatus(r) == PGRES_TUPLES_OK) {
		rc = PQntuples(r) > 0;
	} else {
		coco_buf b = {0};
		coco_pg_msg(&b, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
		rc = coco_seterr(err, "Postgres: %s: %s", what, b.p);
		coco_buf_free(&b);
	}
	PQclear(r);
	return rc;
}

/* ---- the setup description ------------------------------------------------------
 *
 *   database postgres://coco@localhost/docs
 *   server postgres://localhost:5432/docs
 *   schema public
 *   table DocsIndex__doc_chunks
 *   key filename location
 *   column filename str text
 *   column embedding vector<float32,384> vector(384)
 *   index DocsIndex__doc_chunks__embedding__cosine embedding hnsw vector_cosine_ops m\x20=\x2016,...
 *
 * database runs to the end of the line; column and index lines are
 * tokens (awkward bytes, spaces included, written as \xHH) but the SQL
 * type, which runs to the end of the line. The key and column lines are
 * engine/tdesc.h's. */

typedef coco_tcol dcol;

typedef struct didx {
	const char *name, *field, *method, *opclass, *with;
} didx;

typedef struct desc {
	coco_tdesc t;            /* keys and columns */
	const char *conninfo, *penv, *server, *schema, *table;
	didx *idx;
	size_t nidx;
} desc;

int pg_describe(const coco_optval *opts, const coco_export_info *info,
	coco_buf *resource_id, coco_buf *desired, char **err)
{
	layout l;
	if (pg_layout_make(opts, info, &l, err) < 0) {
		pg_layout_free(&l);
		return -1;
	}
	coco_buf_printf(resource_id, "%s#%s.%s", l.server.p, l.schema.p, l.table.p);
	coco_tdesc_put_line(desired, "database", l.conninfo);
	if (l.penv)
		coco_tdesc_put_line(desired, "password_env", l.penv);
	coco_tdesc_put_line(desired, "server", l.server.p);
	coco_tdesc_put_line(desired, "schema", l.schema.p);
	coco_tdesc_put_line(desired, "table", l.table.p);
	coco_tdesc_put_keys(desired, info->row_type, l.nkeys);
	for (uint32_t i = 0; i < l.ncols; i++)
		coco_tdesc_put_column(desired, COCO_TDESC_SQL_REST, l.cols[i].name, l.cols[i].type,
			l.cols[i].sql);
	for (size_t i = 0; i < l.nidx; i++) {
		const lindex *x = &l.idx[i];
		coco_buf_adds(desired, "index ");
		coco_buf_esc(desired, x->name, 1);
		coco_buf_putc(desired, ' ');
		coco_buf_esc(desired, x->field, 1);
		coco_buf_printf(desired, " %s %s ", x->method, x->opclass);
		coco_buf_esc(desired, x->with, 1);
		coco_buf_putc(desired, '\n');
	}
	pg_layout_free(&l);
	return 0;
}

/* The database, server, schema, table and index lines (engine/tdesc.h
 * reads the rest). */
static int desc_line(void *ctx, coco_arena *a, const char *w, size_t wn, const char *rest,
	const char *e)
{
	desc *d = ctx;
	const char **v = COCO_TDESC_IS(w, wn, "database") ? &d->conninfo :
		COCO_TDESC_IS(w, wn, "password_env") ? &d->penv :
		COCO_TDESC_IS(w, wn, "server") ? &d->server :
		COCO_TDESC_IS(w, wn, "schema") ? &d->schema :
		COCO_TDESC_IS(w, wn, "table") ? &d->table : NULL;
	if (v) {
		*v = coco_unesc(a, rest, (size_t)(e - rest));
		return 0;
	}
	if (!COCO_TDESC_IS(w, wn, "index"))
		return -1;
	const char *tok[5];
	if (coco_tdesc_tokens(a, rest, e, tok, 5, 0) != 5)
		return -1;
	if (!d->idx)
		d->idx = coco_arena_alloc(a, d->t.cap * sizeof *d->idx);
	d->idx[d->nidx++] = (didx){ tok[0], tok[1], tok[2], tok[3], tok[4] };
	return 0;
}

static int parse_desc(const char *text, coco_arena *a, void *dv, char **err)
{
	desc *d = dv;
	memset(d, 0, sizeof *d);
	if (coco_tdesc_parse(text, a, COCO_TDESC_SQL_REST | COCO_TDESC_WHY_SQL, &d->t, desc_line,
		d, "Postgres", err) < 0)
		return -1;
	if (!d->conninfo || !d->server || !d->schema || !d->table || !d->t.nkeys || !d->t.ncols)
		return coco_seterr(err, "Postgres: malformed setup description (needs database, server, "
			"schema, table, key and column lines)");
	return 0;
}

static const didx *ifind(const desc *d, const char *name)
{
	for (size_t i = 0; i < d->nidx; i++)
		if (!strcmp(d->idx[i].name, name))
			return &d->idx[i];
	return NULL;
}

static int idx_same(const didx *a, const didx *b)
{
	return !strcmp(a->field, b->field) && !strcmp(a->method, b->method) &&
		!strcmp(a->opclass, b->opclass) && !strcmp(a->with, b->with);
}

/* The column that needs pgvector, or NULL. */
static const dcol *vector_col(const desc *d)
{
	for (size_t i = 0; i < d->t.ncols; i++)
		if (!strncmp(d->t.cols[i].sql, "vector", 6) || !strncmp(d->t.cols[i].sql, "halfvec", 7))
			return &d->t.cols[i];
	return NULL;
}

/* Why the table must be dropped and recreated to go from s to d (nothing
 * when ALTER TABLE does it). */
static void recreate_reasons(const void *sv, const void *dv, coco_buf *why)
{
	const desc *s = sv, *d = dv;
	if (strcmp(s->server, d->server))
		coco_tdesc_reason(why, "database: %s → %s", s->server, d->server);
	if (strcmp(s->schema, d->schema))
		coco_tdesc_reason(why, "schema: %s → %s", s->schema, d->schema);
	if (strcmp(s->table, d->table))
		coco_tdesc_reason(why, "table: %s → %s", s->table, d->table);
	coco_tdesc_reasons(&s->t, &d->t, why);
}

static void plan_index(const didx *x, const desc *d, coco_buf *plan)
{
	coco_buf_printf(plan, "create index %s on %s.%s using %s (%s %s) with (%s)\n", x->name,
		d->schema, d->table, x->method, x->field, x->opclass, x->with);
}

static void plan_create(const desc *d, coco_buf *plan)
{
	const dcol *v = vector_col(d);
	if (v)
		coco_buf_printf(plan, "create extension vector if missing (for %s %s)\n", v->name, v->sql);
	coco_tdesc_plan_create(&d->t, d->schema, d->table, plan);
	for (size_t i = 0; i < d->nidx; i++)
		plan_index(&d->idx[i], d, plan);
}

int pg_plan(const char *stored, const char *desired, coco_buf *plan, int *destructive,
	char **err)
{
	coco_arena a = {0};
	desc s, d;
	*destructive = 0;
	if ((stored && parse_desc(stored, &a, &s, err) < 0) ||
	    (desired && parse_desc(desired, &a, &d, err) < 0)) {
		coco_arena_destroy(&a);
		return -1;
	}
	if (!stored && desired) {
		plan_create(&d, plan);
	} else if (stored && !desired) {
		coco_buf_printf(plan, "drop table %s.%s\n", s.schema, s.table);
		*destructive = 1;
	} else if (stored && desired) {
		coco_buf why = {0};
		recreate_reasons(&s, &d, &why);
		size_t start = plan->n;
		if (why.n) {
			coco_buf_printf(plan, "drop and recreate table %s.%s (%s)\n", d.schema, d.table, why.p);
			for (size_t i = 0; i < d.nidx; i++)
				plan_index(&d.idx[i], &d, plan);
			*destructive = 1;
		} else {
			const dcol *v = vector_col(&d);
			if (v && !vector_col(&s))
				coco_buf_printf(plan, "create extension vector if missing (for %s %s)\n",
					v->name, v->sql);
			*destructive = coco_tdesc_plan_columns(&s.t, &d.t, plan) ? 1 | COCO_SETUP_KEEPS_ROWS : 0;
			for (size_t i = 0; i < s.nidx; i++) {
				const didx *o = ifind(&d, s.idx[i].name);
				if (!o || !idx_same(o, &s.idx[i]))
					coco_buf_printf(plan, "drop index %s\n", s.idx[i].name);
			}
			for (size_t i = 0; i < d.nidx; i++) {
				const didx *o = ifind(&s, d.idx[i].name);
				if (!o || !idx_same(o, &d.idx[i]))
					plan_index(&d.idx[i], &d, plan);
			}
			if (plan->n == start && (strcmp(s.conninfo, d.conninfo) ||
			    strcmp(s.penv ? s.penv : "", d.penv ? d.penv : "")))
				coco_buf_printf(plan, "connection string changed (same database %s)\n", d.server);
		}
		coco_buf_free(&why);
	}
	coco_arena_destroy(&a);
	return 0;
}

/* Creates the vector extension unless it is there; a server without it is
 * an error that names it. */
static int ensure_vector(PGconn *c, const desc *d, const dcol *v, char **err)
{
	int has = pg_exists(c, "SELECT 1 FROM pg_extension WHERE extname = $1", "vector",
		"look for the vector extension", err);
	if (has != 0)
		return has < 0 ? -1 : 0;
	int avail = pg_exists(c, "SELECT 1 FROM pg_available_extensions WHERE name = $1", "vector",
		"look for the vector extension", err);
	if (avail < 0)
		return -1;
	if (!avail)
		return coco_seterr(err, "Postgres: %s has no \"vector\" extension (pgvector), needed by "
			"column %s %s of %s.%s: install pgvector on the server, or store the field without "
			"it (column_options = { %s = { type = \"real[]\" } })", d->server, v->name, v->sql,
			d->schema, d->table, v->name);
	coco_buf what = {0};
	coco_buf_printf(&what, "create extension vector on %s", d->server);
	int rc = coco_pg_exec(c, "CREATE EXTENSION IF NOT EXISTS vector", what.p, 0, err);
	coco_buf_free(&what);
	return rc;
}

static void create_sql(const desc *d, coco_buf *b)
{
	coco_buf_adds(b, "CREATE TABLE IF NOT EXISTS ");
	pg_quote_qual(b, d->schema, d->table);
	coco_buf_adds(b, " (");
	coco_tdesc_create_body(&d->t, 0, b);
	/* rows up to a page stay inline: a chunk's text and vector are written
	 * without a compression attempt or a TOAST insert, and read without a
	 * TOAST lookup; larger rows are TOASTed as usual */
	coco_buf_adds(b, ") WITH (toast_tuple_target = 8160)");
}

/* b (cleared) = ALTER TABLE <d's table> <verb> "<col>" */
static void alter_sql(coco_buf *b, const desc *d, const char *verb, const char *col)
{
	coco_buf_clear(b);
	coco_buf_adds(b, "ALTER TABLE ");
	pg_quote_qual(b, d->schema, d->table);
	coco_buf_printf(b, " %s ", verb);
	coco_sql_ident(b, col);
}

/* One transaction on d's server: the extension and schema when missing,
 * drop table `drop` first (same server) when given, create d's table
 * unless it exists, drop the columns and indexes of `alter_from` that d
 * no longer has, add d's columns and indexes that are missing. Each step
 * checks first, so re-running it is harmless. */
static int ddl_change(const void *dv, const void *dropv, const void *alter_fromv, char **err)
{
	const desc *d = dv, *drop = dropv, *alter_from = alter_fromv;
	uint64_t id;
	PGconn *c = pg_conn_get(d->conninfo, d->penv, d->server, 0, 0, &id, NULL, err);
	if (!c)
		return -1;
	coco_buf sql = {0}, what = {0};
	coco_buf_printf(&what, "setup of %s.%s on %s", d->schema, d->table, d->server);
	int rc = coco_pg_exec(c, "BEGIN", what.p, 0, err);
	const dcol *v = vector_col(d);
	if (rc == 0 && v)
		rc = ensure_vector(c, d, v, err);
	if (rc == 0) {
		int has = pg_exists(c, "SELECT 1 FROM pg_namespace WHERE nspname = $1", d->schema,
			what.p, err);
		if (has < 0)
			rc = -1;
		if (has == 0) {
			coco_buf_adds(&sql, "CREATE SCHEMA IF NOT EXISTS ");
			coco_sql_ident(&sql, d->schema);
			rc = coco_pg_exec(c, sql.p, what.p, 0, err);
		}
	}
	if (rc == 0 && drop) {
		coco_buf_clear(&sql);
		coco_buf_adds(&sql, "DROP TABLE IF EXISTS ");
		pg_quote_qual(&sql, drop->schema, drop->table);
		rc = coco_pg_exec(c, sql.p, what.p, 0, err);
	}
	if (rc == 0) {
		coco_buf_clear(&sql);
		create_sql(d, &sql);
		rc = coco_pg_exec(c, sql.p, what.p, 0, err);
	}
	for (size_t i = 0; rc == 0 && alter_from && i < alter_from->t.ncols; i++) {
		if (coco_tdesc_col(&d->t, alter_from->t.cols[i].name))
			continue;
		alter_sql(&sql, d, "DROP COLUMN IF EXISTS", alter_from->t.cols[i].name);
		rc = coco_pg_exec(c, sql.p, what.p, 0, err);
	}
	for (size_t i = 0; rc == 0 && alter_from && i < alter_from->nidx; i++) {
		const didx *o = ifind(d, alter_from->idx[i].name);
		if (o && idx_same(o, &alter_from->idx[i]))
			continue;
		coco_buf_clear(&sql);
		coco_buf_adds(&sql, "DROP INDEX IF EXISTS ");
		pg_quote_qual(&sql, d->schema, alter_from->idx[i].name);
		rc = coco_pg_exec(c, sql.p, what.p, 0, err);
	}
	for (size_t i = 0; rc == 0 && alter_from && i < d->t.ncols; i++) {
		if (coco_tdesc_col(&alter_from->t, d->t.cols[i].name))
			continue;
		alter_sql(&sql, d, "ADD COLUMN IF NOT EXISTS", d->t.cols[i].name);
		coco_buf_printf(&sql, " %s", d->t.cols[i].sql);
		rc = coco_pg_exec(c, sql.p, what.p, 0, err);
	}
	/* vectors stay in the row, out of line (TOAST) only when a row would not
	 * fit a page otherwise: faster writes and scans */
	for (size_t i = 0; rc == 0 && i < d->t.ncols; i++) {
		const char *t = d->t.cols[i].sql;
		if (strncmp(t, "vector", 6) && strncmp(t, "halfvec", 7) && strcmp(t, "real[]"))
			continue;
		alter_sql(&sql, d, "ALTER COLUMN", d->t.cols[i].name);
		coco_buf_adds(&sql, " SET STORAGE MAIN");
		rc = coco_pg_exec(c, sql.p, what.p, 0, err);
	}
	for (size_t i = 0; rc == 0 && i < d->nidx; i++) {
		const didx *x = &d->idx[i];
		coco_buf_clear(&sql);
		coco_buf_adds(&sql, "CREATE INDEX IF NOT EXISTS ");
		coco_sql_ident(&sql, x->name);
		coco_buf_adds(&sql, " ON ");
		pg_quote_qual(&sql, d->schema, d->table);
		coco_buf_printf(&sql, " USING %s (", x->method);
		coco_sql_ident(&sql, x->field);
		coco_buf_printf(&sql, " %s) WITH (%s)", x->opclass, x->with);
		rc = coco_pg_exec(c, sql.p, what.p, 0, err);
	}
	if (rc == 0)
		rc = coco_pg_exec(c, "COMMIT", what.p, 0, err);
	coco_buf_free(&sql);
	coco_buf_free(&what);
	pg_conn_put(d->conninfo, d->penv, c, id, rc == 0);   /* a failed one is closed (rolled back) */
	return rc;
}

/* DROP TABLE IF EXISTS on s's server. */
static int ddl_drop(const void *sv, char **err)
{
	const desc *s = sv;
	uint64_t id;
	PGconn *c = pg_conn_get(s->conninfo, s->penv, s->server, 0, 0, &id, NULL, err);
	if (!c)
		return -1;
	coco_buf sql = {0}, what = {0};
	coco_buf_adds(&sql, "DROP TABLE IF EXISTS ");
	pg_quote_qual(&sql, s->schema, s->table);
	coco_buf_printf(&what, "drop table %s.%s on %s", s->schema, s->table, s->server);
	int rc = coco_pg_exec(c, sql.p, what.p, 0, err);
	coco_buf_free(&sql);
	coco_buf_free(&what);
	pg_conn_put(s->conninfo, s->penv, c, id, rc == 0);
	return rc;
}

/* 1 when s and d are tables on one server. */
static int same_server(const void *sv, const void *dv)
{
	const desc *s = sv, *d = dv;
	return !strcmp(s->server, d->server);
}

static const coco_tdesc_ops pg_tdesc = {
	.size = sizeof(desc),
	.parse = parse_desc,
	.reasons = recreate_reasons,
	.same_place = same_server,
	.change = ddl_change,
	.drop = ddl_drop,
};

int pg_apply(const char *stored, const char *desired, char **err)
{
	return coco_tdesc_apply(&pg_tdesc, stored, desired, err);
}
