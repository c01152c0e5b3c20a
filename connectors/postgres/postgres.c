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
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <xxhash.h>

#include "tdesc.h"
#include "functions/json.h"
#include "connectors/common/pgconn.h"
#include "sys.h"
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

static const char *metric_op(const char *metric)
{
	return !strcmp(metric, "cosine") ? "<=>" : !strcmp(metric, "l2") ? "<->" : "<#>";
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

/* ---- queries: top_k ------------------------------------------------------------- */

/* Floats of "[1,2.5,3]", "{1,2.5,3}" or "[1, 2.5, 3]". */
static void parse_floats(const char *s, coco_arena *a, coco_value *out)
{
	size_t n = 0;
	for (const char *p = s; *p; p++)
		n += *p == ',';
	float *v = coco_arena_alloc(a, (n + 2) * sizeof *v);
	size_t k = 0;
	const char *p = s;
	while (*p && k < n + 1) {
		while (*p && !(*p == '-' || *p == '+' || *p == '.' || (*p >= '0' && *p <= '9') ||
		       *p == 'N' || *p == 'I'))
			p++;
		if (!*p)
			break;
		char *end;
		v[k++] = strtof(p, &end);
		if (end == p)
			break;
		p = end;
	}
	out->kind = COCO_VECTOR;
	out->n = k;
	out->u.vec = v;
}

/* A result cell (text format) as a value of type t. */
static void cell_value(const char *s, int len, const coco_type *t, coco_arena *a, coco_value *v)
{
	memset(v, 0, sizeof *v);
	switch (t->kind) {
	case COCO_STR:
		*v = coco_v_str(coco_arena_strndup(a, s, (size_t)len), (size_t)len);
		break;
	case COCO_BYTES: {
		size_t n = 0;
		unsigned char *b = PQunescapeBytea((const unsigned char *)s, &n);
		v->kind = COCO_BYTES;
		v->u.s = coco_arena_strndup(a, b ? (const char *)b : "", b ? n : 0);
		v->n = b ? n : 0;
		PQfreemem(b);
		break;
	}
	case COCO_INT64:
		*v = coco_v_int(strtoll(s, NULL, 10));
		break;
	case COCO_BOOL:
		v->kind = COCO_BOOL;
		v->u.b = s[0] == 't';
		break;
	case COCO_FLOAT32:
	case COCO_FLOAT64:
		v->kind = (uint8_t)t->kind;
		v->u.f = strtod(s, NULL);
		break;
	case COCO_RANGE: {
		v->kind = COCO_RANGE;
		const char *p = s;
		if (*p == '[' || *p == '(') {
			char *e;
			v->u.r[0] = strtoll(p + 1, &e, 10) + (*p == '(');
			if (*e == ',')
				v->u.r[1] = strtoll(e + 1, NULL, 10);
		}
		break;
	}
	case COCO_VECTOR:
		if (t->dim || s[0] == '[' || s[0] == '{')
			parse_floats(s, a, v);
		break;
	default:         /* json, struct, table: JSON text */
		v->kind = COCO_JSON;
		v->u.s = coco_arena_strndup(a, s, (size_t)len);
		v->n = (size_t)len;
		break;
	}
}

int pg_top_k(const coco_optval *opts, const coco_export_info *info, const char *field,
	const char *metric, const float *vec, size_t dim, size_t k, coco_arena *a,
	const coco_type **row_type, coco_value **rows, size_t *nrows, char **err)
{
	*rows = NULL;
	*nrows = 0;
	layout l;
	if (pg_layout_make(opts, info, &l, err) < 0) {
		pg_layout_free(&l);
		return -1;
	}
	int rc = -1, fi = pg_find_col(&l, field, strlen(field));
	PGconn *c = NULL;
	PGresult *r = NULL;
	coco_buf sql = {0}, arg = {0}, what = {0};
	coco_buf_printf(&what, "query %s.%s on %s", l.schema.p, l.table.p, l.server.p);
	if (fi < 0) {
		coco_buf f = {0};
		pg_field_names(&l, &f);
		coco_seterr(err, "Postgres: %s: unknown field '%s'; fields: %s", what.p, field, f.p);
		coco_buf_free(&f);
		goto done;
	}
	const lcol *vc = &l.cols[fi];
	if (vc->e != ENC_VECTOR && vc->e != ENC_HALFVEC) {
		coco_seterr(err, "Postgres: %s: field '%s' is stored as %s; top_k needs a vector or "
			"halfvec column (pgvector)", what.p, field, vc->sql);
		goto done;
	}
	if (vc->type->dim && dim != vc->type->dim) {
		coco_seterr(err, "Postgres: %s: the query vector has %zu dimensions, field '%s' is %s",
			what.p, dim, field, vc->sql);
		goto done;
	}
	if (!(c = pg_connect(l.conninfo, l.penv, l.server.p, err)))
		goto done;
	const lindex *ix = NULL;
	for (size_t i = 0; i < l.nidx; i++)
		if (!strcmp(l.idx[i].field, field) && !strcmp(l.idx[i].metric, metric))
			ix = &l.idx[i];
	if (ix && !strcmp(ix->method, "hnsw") && k > 40)
		coco_buf_printf(&sql, "SET hnsw.ef_search = %zu", k > 1000 ? (size_t)1000 : k);
	else if (ix && !strcmp(ix->method, "ivfflat")) {
		long lists = atol(strchr(ix->with, '=') + 1);
		coco_buf_printf(&sql, "SET ivfflat.probes = %ld", (long)ceil(sqrt((double)lists)));
	}
	if (sql.n && pg_exec(c, sql.p, what.p, err) < 0)
		goto done;

	/* SELECT "a","b",("f" <=> $1) FROM "s"."t" WHERE "f" IS NOT NULL ORDER BY "f" <=> $1 LIMIT k */
	coco_buf_clear(&sql);
	coco_buf_adds(&sql, "SELECT ");
	for (uint32_t i = 0; i < l.ncols; i++) {
		if ((int)i == fi)
			continue;
		coco_sql_ident(&sql, l.cols[i].name);
		coco_buf_putc(&sql, ',');
	}
	coco_buf_putc(&sql, '(');
	coco_sql_ident(&sql, field);
	coco_buf_printf(&sql, " %s $1)::float8 FROM ", metric_op(metric));
	pg_quote_qual(&sql, l.schema.p, l.table.p);
	coco_buf_adds(&sql, " WHERE ");
	coco_sql_ident(&sql, field);
	coco_buf_adds(&sql, " IS NOT NULL ORDER BY ");
	coco_sql_ident(&sql, field);
	coco_buf_printf(&sql, " %s $1 LIMIT %zu", metric_op(metric), k);
	coco_buf_putc(&arg, '[');
	for (size_t i = 0; i < dim; i++)
		coco_buf_printf(&arg, i ? ",%.9g" : "%.9g", (double)vec[i]);
	coco_buf_putc(&arg, ']');
	const char *param = arg.p;
	r = PQexecParams(c, sql.p, 1, NULL, &param, NULL, NULL, 0);
	if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
		coco_buf m = {0};
		pg_add_msg(&m, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
		const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
		coco_seterr(err, "Postgres: %s: %s%s", what.p, m.p, state && !strcmp(state, "42P01")
			? " (run coco update first)" : "");
		coco_buf_free(&m);
		goto done;
	}

	/* the result type: the fields but `field`, struct and table as json, then distance */
	coco_field *rf = coco_arena_alloc(a, (l.ncols + 1) * sizeof *rf);
	uint32_t nf = 0;
	for (uint32_t i = 0; i < l.ncols; i++) {
		if ((int)i == fi)
			continue;
		rf[nf].name = coco_arena_strdup(a, l.cols[i].name);
		coco_kind kd = l.cols[i].type->kind;
		rf[nf].type = kd == COCO_STRUCT || kd == COCO_TABLE ? &coco_t_json : l.cols[i].type;
		nf++;
	}
	rf[nf].name = "distance";
	rf[nf].type = &coco_t_float64;
	nf++;
	*row_type = coco_type_struct(a, rf, nf);
	int nt = PQntuples(r);
	coco_value *out = coco_arena_alloc(a, ((size_t)nt + 1) * sizeof *out);
	for (int i = 0; i < nt; i++) {
		out[i].kind = COCO_STRUCT;
		out[i].n = nf;
		out[i].u.fields = coco_arena_alloc(a, nf * sizeof(coco_value));
		for (uint32_t j = 0; j < nf; j++) {
			if (PQgetisnull(r, i, (int)j))
				continue;
			cell_value(PQgetvalue(r, i, (int)j), PQgetlength(r, i, (int)j), rf[j].type, a,
				&out[i].u.fields[j]);
		}
	}
	*rows = out;
	*nrows = (size_t)nt;
	rc = 0;
done:
	PQclear(r);
	if (c)
		PQfinish(c);
	coco_buf_free(&sql);
	coco_buf_free(&arg);
	coco_buf_free(&what);
	pg_layout_free(&l);
	return rc;
}

/* Every row of the table, for coco verify (coco_target_ops.scan): a
 * cursor fetched 1,000 rows at a time, so memory stays bounded. */
int pg_scan(void *p, int (*cb)(void *ud, const coco_value *row), void *ud, coco_arena *a,
	char **err)
{
	pg_tgt *t = p;
	coco_buf sql = {0};
	coco_buf_adds(&sql, "DECLARE coco_scan NO SCROLL CURSOR FOR SELECT ");
	for (uint32_t i = 0; i < t->l.ncols; i++) {
		if (i)
			coco_buf_putc(&sql, ',');
		coco_sql_ident(&sql, t->l.cols[i].name);
	}
	coco_buf_adds(&sql, " FROM ");
	coco_buf_add(&sql, t->qtable.p, t->qtable.n);
	coco_value *vals = calloc(t->l.ncols + 1, sizeof *vals);
	if (!vals)
		abort();
	int rc = -1, stop = 0;
	PGresult *r = NULL;
	if (pg_exec(t->conn, "BEGIN READ ONLY", t->label, err) < 0 ||
	    pg_exec(t->conn, sql.p, t->label, err) < 0)
		goto done;
	while (!stop) {
		r = PQexec(t->conn, "FETCH 1000 FROM coco_scan");
		if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
			coco_buf m = {0};
			pg_add_msg(&m, r ? PQresultErrorMessage(r) : PQerrorMessage(t->conn));
			coco_seterr(err, "Postgres: scan %s: %s", t->label, m.p);
			coco_buf_free(&m);
			goto done;
		}
		int nt = PQntuples(r);
		if (!nt)
			break;
		for (int i = 0; i < nt && !stop; i++) {
			coco_arena_reset(a);
			for (uint32_t j = 0; j < t->l.ncols; j++) {
				memset(&vals[j], 0, sizeof vals[j]);
				if (!PQgetisnull(r, i, (int)j))
					cell_value(PQgetvalue(r, i, (int)j), PQgetlength(r, i, (int)j),
						t->l.cols[j].type, a, &vals[j]);
			}
			coco_value row = { .kind = COCO_STRUCT, .n = t->l.ncols, .u.fields = vals };
			stop = cb(ud, &row);
		}
		PQclear(r);
		r = NULL;
	}
	rc = 0;
done:
	PQclear(r);
	r = PQexec(t->conn, "ROLLBACK");
	PQclear(r);
	free(vals);
	coco_buf_free(&sql);
	return rc;
}


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
