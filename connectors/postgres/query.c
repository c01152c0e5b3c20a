/* Postgres target: queries, top_k through pgvector's operators and scan
 * (every row, for coco verify). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "engine/tdesc.h"
#include "engine/topk.h"
#include "engine/vstore.h"
#include "connectors/common/pgconn.h"
#include "connectors/postgres/postgres_int.h"

static const char *metric_op(const char *metric)
{
	return !strcmp(metric, "cosine") ? "<=>" : !strcmp(metric, "l2") ? "<->" : "<#>";
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
	int rc = -1, fi = coco_type_field(l.row, field);
	PGconn *c = NULL;
	uint64_t id = 0;
	const char *reset = NULL;
	PGresult *r = NULL;
	coco_buf sql = {0}, arg = {0}, what = {0};
	coco_buf_printf(&what, "query %s.%s on %s", l.schema.p, l.table.p, l.server.p);
	if (fi < 0) {
		coco_buf f = {0};
		coco_type_field_names(l.row, &f);
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
	if (!(c = pg_conn_get(l.conninfo, l.penv, l.server.p, 0, 0, &id, NULL, err)))
		goto done;
	const lindex *ix = NULL;
	for (size_t i = 0; i < l.nidx; i++)
		if (!strcmp(l.idx[i].field, field) && !strcmp(l.idx[i].metric, metric))
			ix = &l.idx[i];
	if (ix && !strcmp(ix->method, "hnsw") && k > 40) {
		coco_buf_printf(&sql, "SET hnsw.ef_search = %zu", k > 1000 ? (size_t)1000 : k);
		reset = "RESET hnsw.ef_search";
	} else if (ix && !strcmp(ix->method, "ivfflat")) {
		long lists = atol(strchr(ix->with, '=') + 1);
		coco_buf_printf(&sql, "SET ivfflat.probes = %ld", (long)ceil(sqrt((double)lists)));
		reset = "RESET ivfflat.probes";
	}
	if (sql.n && coco_pg_exec(c, sql.p, what.p, 0, err) < 0)
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
		coco_pg_msg(&m, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
		const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
		coco_seterr(err, "Postgres: %s: %s%s", what.p, m.p, state && !strcmp(state, "42P01")
			? " (run coco update first)" : "");
		coco_buf_free(&m);
		goto done;
	}

	/* the result type: the fields but `field`, struct and table as json, then distance */
	*row_type = coco_topk_row_type(info->row_type, fi, a);
	const coco_field *rf = (*row_type)->fields;
	uint32_t nf = (*row_type)->nfields;
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
	/* the connection goes back to the pool as it came (without the
	 * setting), else it is closed */
	if (c)
		pg_conn_put(l.conninfo, l.penv, c, id, !reset || !coco_pg_exec(c, reset, what.p, 0, NULL));
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
	coco_sql_idents(&sql, t->l.row->fields, t->l.ncols, ",");
	coco_buf_adds(&sql, " FROM ");
	coco_buf_add(&sql, t->qtable.p, t->qtable.n);
	coco_value *vals = calloc(t->l.ncols + 1, sizeof *vals);
	if (!vals)
		abort();
	int rc = -1, stop = 0;
	PGresult *r = NULL;
	uint64_t id = 0;
	PGconn *own = NULL;          /* taken from the pool for the scan */
	if (!t->conn) {
		if (!(own = pg_conn_get(t->l.conninfo, t->l.penv, t->l.server.p, t->conn_id, 0, &id,
		    NULL, err))) {
			free(vals);
			coco_buf_free(&sql);
			return -1;
		}
		t->conn = own;
	}
	if (coco_pg_exec(t->conn, "BEGIN READ ONLY", t->label, 0, err) < 0 ||
	    coco_pg_exec(t->conn, sql.p, t->label, 0, err) < 0)
		goto done;
	while (!stop) {
		r = PQexec(t->conn, "FETCH 1000 FROM coco_scan");
		if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
			coco_buf m = {0};
			coco_pg_msg(&m, r ? PQresultErrorMessage(r) : PQerrorMessage(t->conn));
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
	if (own) {
		pg_conn_put(t->l.conninfo, t->l.penv, own, id, 1);
		t->conn = NULL;
	}
	free(vals);
	coco_buf_free(&sql);
	return rc;
}

