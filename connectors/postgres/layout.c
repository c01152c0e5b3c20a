/* Postgres target: the export's layout, a column per field with its SQL
 * type, from the row type, column_options and vector_indexes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/functions/json.h"
#include "engine/vstore.h"
#include "connectors/common/pgconn.h"
#include "connectors/postgres/postgres_int.h"

void pg_layout_free(layout *l)
{
	coco_buf_free(&l->cinfo);
	coco_buf_free(&l->server);
	coco_buf_free(&l->schema);
	coco_buf_free(&l->table);
	free(l->cols);
	free(l->idx);
	memset(l, 0, sizeof *l);
}

/* The default column of a field of type t. */
static void default_col(lcol *c)
{
	const coco_type *t = c->type;
	switch (t->kind) {
	case COCO_STR: c->e = ENC_TEXT; strcpy(c->sql, "text"); break;
	case COCO_BYTES: c->e = ENC_BYTEA; strcpy(c->sql, "bytea"); break;
	case COCO_INT64: c->e = ENC_INT8; strcpy(c->sql, "bigint"); break;
	case COCO_BOOL: c->e = ENC_BOOL; strcpy(c->sql, "boolean"); break;
	case COCO_FLOAT32: c->e = ENC_FLOAT4; strcpy(c->sql, "real"); break;
	case COCO_FLOAT64: c->e = ENC_FLOAT8; strcpy(c->sql, "double precision"); break;
	case COCO_RANGE: c->e = ENC_RANGE; strcpy(c->sql, "int8range"); break;
	case COCO_VECTOR:
		if (t->dim) {
			c->e = ENC_VECTOR;
			snprintf(c->sql, sizeof c->sql, "vector(%u)", t->dim);
		} else {
			c->e = ENC_JSONB;
			strcpy(c->sql, "jsonb");
		}
		break;
	case COCO_NULL: c->e = ENC_NULL; strcpy(c->sql, "text"); break;
	default:         /* json, struct, table */
		c->e = ENC_JSONB;
		strcpy(c->sql, "jsonb");
		break;
	}
}

/* Reads a JSON string value into out (cleared); -1 if it is not a string. */
static int json_string(const char *v, size_t n, coco_buf *out)
{
	coco_buf_clear(out);
	return coco_json_str_decode(v, n, out);
}

/* column_options = { field = { type = "vector" | "halfvec" | "real[]" | "jsonb" } } */
static int read_column_options(layout *l, const char *js, const char *exp, char **err)
{
	coco_json_iter it;
	const char *k, *v;
	size_t kn, vn;
	coco_buf name = {0}, s = {0};
	int rc = 0;
	int kind = coco_json_iter_init(&it, js, strlen(js));
	if (kind == '[' && coco_json_iter_next(&it, &k, &kn, &v, &vn))
		kind = 0;           /* only an empty table encodes as [] */
	if (kind == '[')
		return 0;
	if (kind != '{')
		return coco_seterr(err, "Postgres: export '%s': column_options must be a table "
			"{ field = { type = ... } }", exp);
	while (!rc && coco_json_iter_next(&it, &k, &kn, &v, &vn)) {
		json_string(k, kn, &name);
		int ci = coco_type_field_n(l->row, name.p, name.n);
		if (ci < 0) {
			coco_buf f = {0};
			coco_type_field_names(l->row, &f);
			rc = coco_seterr(err, "Postgres: export '%s': column_options: unknown field '%s'; "
				"fields: %s", exp, name.p, f.p);
			coco_buf_free(&f);
			break;
		}
		lcol *c = &l->cols[ci];
		coco_json_iter fi;
		const char *fk, *fv;
		size_t fkn, fvn;
		if (coco_json_iter_init(&fi, v, vn) != '{') {
			rc = coco_seterr(err, "Postgres: export '%s': column_options.%s must be a table "
				"{ type = ... }", exp, c->name);
			break;
		}
		while (!rc && coco_json_iter_next(&fi, &fk, &fkn, &fv, &fvn)) {
			if (!coco_json_key_eq(fk, fkn, "type", 4)) {
				json_string(fk, fkn, &s);
				rc = coco_seterr(err, "Postgres: export '%s': column_options.%s: unknown option "
					"'%s'; options: type", exp, c->name, s.p);
				break;
			}
			if (json_string(fv, fvn, &s) < 0) {
				rc = coco_seterr(err, "Postgres: export '%s': column_options.%s.type must be a "
					"string", exp, c->name);
				break;
			}
			if (c->type->kind != COCO_VECTOR) {
				coco_buf tb = {0};
				coco_type_format(c->type, &tb);
				rc = coco_seterr(err, "Postgres: export '%s': column_options.%s: type applies "
					"to vector fields, and '%s' is %s", exp, c->name, c->name, tb.p);
				coco_buf_free(&tb);
				break;
			}
			uint32_t dim = c->type->dim;
			if (!strcmp(s.p, "vector") || !strcmp(s.p, "halfvec")) {
				int half = s.p[0] == 'h';
				c->e = half ? ENC_HALFVEC : ENC_VECTOR;
				if (dim)
					snprintf(c->sql, sizeof c->sql, "%s(%u)", s.p, dim);
				else
					snprintf(c->sql, sizeof c->sql, "%s", s.p);
			} else if (!strcmp(s.p, "real[]")) {
				c->e = ENC_REALARR;
				strcpy(c->sql, "real[]");
			} else if (!strcmp(s.p, "jsonb")) {
				c->e = ENC_JSONB;
				strcpy(c->sql, "jsonb");
			} else {
				rc = coco_seterr(err, "Postgres: export '%s': column_options.%s.type: unknown "
					"type '%s'; types: vector, halfvec, real[], jsonb", exp, c->name, s.p);
			}
		}
	}
	coco_buf_free(&name);
	coco_buf_free(&s);
	return rc;
}

/* "<table>__<field>__<metric>", shortened with a hash past 63 bytes. */
static void index_name(const char *table, const char *field, const char *metric, char *out)
{
	coco_buf b = {0}, o = {0};
	coco_buf_printf(&b, "%s__%s__%s", table, field, metric);
	coco_pg_ident63(&o, b.p, b.n);
	memcpy(out, o.p, o.n + 1);
	coco_buf_free(&b);
	coco_buf_free(&o);
}

/* vector_indexes = {{ field =, metric =, method =, m =, ef_construction =, lists = }} */
static int read_vector_indexes(layout *l, const char *js, const char *exp, char **err)
{
	coco_json_iter it;
	const char *k, *v;
	size_t kn, vn;
	if (coco_json_iter_init(&it, js, strlen(js)) != '[')
		return coco_seterr(err, "Postgres: export '%s': vector_indexes must be a list "
			"{{ field = ..., metric = ... }}", exp);
	size_t n = 0;
	while (coco_json_iter_next(&it, &k, &kn, &v, &vn))
		n++;
	l->idx = calloc(n + 1, sizeof *l->idx);
	if (!l->idx)
		abort();
	coco_json_iter_init(&it, js, strlen(js));
	coco_buf s = {0};
	int rc = 0;
	static const char *const metrics[] = { "cosine", "l2", "ip", NULL };
	static const char *const methods[] = { "hnsw", "ivfflat", NULL };
	while (!rc && coco_json_iter_next(&it, &k, &kn, &v, &vn)) {
		size_t ix = l->nidx + 1;
		coco_json_iter fi;
		const char *fk, *fv;
		size_t fkn, fvn;
		if (coco_json_iter_init(&fi, v, vn) != '{') {
			rc = coco_seterr(err, "Postgres: export '%s': vector_indexes[%zu] must be a table "
				"{ field = ..., metric = ... }", exp, ix);
			break;
		}
		lindex *x = &l->idx[l->nidx];
		int field = -1;
		long m = -1, efc = -1, lists = -1;
		x->metric = NULL;
		x->method = "hnsw";
		while (!rc && coco_json_iter_next(&fi, &fk, &fkn, &fv, &fvn)) {
			json_string(fk, fkn, &s);
			char key[24];
			snprintf(key, sizeof key, "%s", s.p);
			if (!strcmp(key, "field")) {
				if (json_string(fv, fvn, &s) < 0 || (field = coco_type_field_n(l->row, s.p, s.n)) < 0) {
					coco_buf f = {0};
					coco_type_field_names(l->row, &f);
					rc = coco_seterr(err, "Postgres: export '%s': vector_indexes[%zu]: unknown "
						"field '%.*s'; fields: %s", exp, ix, (int)fvn, fv, f.p);
					coco_buf_free(&f);
				}
			} else if (!strcmp(key, "metric") || !strcmp(key, "method")) {
				const char *const *names = key[1] == 'e' && key[2] == 't' && key[3] == 'r'
					? metrics : methods;
				int ok = json_string(fv, fvn, &s) == 0;
				size_t i = 0;
				while (ok && names[i] && strcmp(names[i], s.p))
					i++;
				if (!ok || !names[i]) {
					rc = coco_seterr(err, "Postgres: export '%s': vector_indexes[%zu].%s must be "
						"%s, got %.*s", exp, ix, key, names == metrics
						? "\"cosine\", \"l2\" or \"ip\"" : "\"hnsw\" or \"ivfflat\"",
						(int)fvn, fv);
				} else if (names == metrics) {
					x->metric = names[i];
				} else {
					x->method = names[i];
				}
			} else if (!strcmp(key, "m") || !strcmp(key, "ef_construction") ||
				   !strcmp(key, "lists")) {
				long val = coco_json_uint(fv, fvn);
				if (val < 1)
					rc = coco_seterr(err, "Postgres: export '%s': vector_indexes[%zu].%s must "
						"be a positive integer, got %.*s", exp, ix, key, (int)fvn, fv);
				else if (key[0] == 'm')
					m = val;
				else if (key[0] == 'e')
					efc = val;
				else
					lists = val;
			} else {
				rc = coco_seterr(err, "Postgres: export '%s': vector_indexes[%zu]: unknown option "
					"'%s'; options: field, metric, method, m, ef_construction, lists",
					exp, ix, key);
			}
		}
		if (rc)
			break;
		if (field < 0 || !x->metric) {
			rc = coco_seterr(err, "Postgres: export '%s': vector_indexes[%zu] needs a field and "
				"a metric (\"cosine\", \"l2\" or \"ip\")", exp, ix);
			break;
		}
		lcol *c = &l->cols[field];
		if ((c->e != ENC_VECTOR && c->e != ENC_HALFVEC) || !c->type->dim) {
			rc = coco_seterr(err, "Postgres: export '%s': vector_indexes[%zu]: field '%s' is "
				"stored as %s; an index needs a vector<float32,N> field stored as vector or "
				"halfvec", exp, ix, c->name, c->sql);
			break;
		}
		int hnsw = !strcmp(x->method, "hnsw");
		if ((hnsw && lists > 0) || (!hnsw && (m > 0 || efc > 0))) {
			rc = coco_seterr(err, "Postgres: export '%s': vector_indexes[%zu]: %s applies to %s "
				"indexes only", exp, ix, hnsw ? "lists" : "m and ef_construction",
				hnsw ? "ivfflat" : "hnsw");
			break;
		}
		x->field = c->name;
		snprintf(x->opclass, sizeof x->opclass, "%s_%s_ops", c->e == ENC_HALFVEC ? "halfvec"
			: "vector", x->metric);
		if (hnsw)
			snprintf(x->with, sizeof x->with, "m = %ld, ef_construction = %ld",
				m > 0 ? m : 16, efc > 0 ? efc : 64);
		else
			snprintf(x->with, sizeof x->with, "lists = %ld", lists > 0 ? lists : 100);
		index_name(l->table.p, c->name, x->metric, x->name);
		for (size_t j = 0; j < l->nidx; j++)
			if (!strcmp(l->idx[j].name, x->name))
				rc = coco_seterr(err, "Postgres: export '%s': two vector indexes on field '%s' "
					"with metric %s", exp, c->name, x->metric);
		l->nidx++;
	}
	coco_buf_free(&s);
	return rc;
}

static int check_ident(const char *what, const char *s, const char *exp, char **err)
{
	if (!*s)
		return coco_seterr(err, "Postgres: export '%s': %s must not be empty", exp, what);
	if (strlen(s) > MAX_IDENT)
		return coco_seterr(err, "Postgres: export '%s': %s '%s' is longer than %d bytes "
			"(PostgreSQL's limit for names)", exp, what, s, MAX_IDENT);
	return 0;
}

/* Everything describe() and open() need, from the options and row type. */
int pg_layout_make(const coco_optval *opts, const coco_export_info *info, layout *l, char **err)
{
	memset(l, 0, sizeof *l);
	const char *exp = info->export_name;
	const coco_type *t = info->row_type;
	const char *ci = coco_pg_database(&opts[OPT_DATABASE]);
	if (!ci)
		return coco_seterr(err, "Postgres: export '%s' needs a database: the database option "
			"(a libpq connection string such as \"postgres://user@localhost/db\") or "
			"$COCO_DATABASE_URL", exp);
	if (opts[OPT_PASSWORD_ENV].set && opts[OPT_PASSWORD_ENV].s)
		l->penv = opts[OPT_PASSWORD_ENV].s;
	coco_buf ctx = {0};
	coco_buf_printf(&ctx, "export '%s': ", exp);
	int rc = coco_pg_conn_opts(ci, l->penv, ctx.p, &l->cinfo, &l->server, err);
	coco_buf_free(&ctx);
	l->conninfo = l->cinfo.p;
	if (rc < 0)
		return -1;
	coco_buf_adds(&l->schema, opts[OPT_SCHEMA].set && opts[OPT_SCHEMA].s ? opts[OPT_SCHEMA].s
		: "public");
	if (opts[OPT_TABLE].set && opts[OPT_TABLE].s)
		coco_buf_adds(&l->table, opts[OPT_TABLE].s);
	else
		coco_buf_printf(&l->table, "%s__%s", info->flow_name, exp);
	if (check_ident("schema", l->schema.p, exp, err) < 0 ||
	    check_ident("table name", l->table.p, exp, err) < 0)
		return -1;
	if (coco_export_check_row("Postgres", info, err) < 0)
		return -1;
	l->row = t;
	l->ncols = t->nfields;
	l->nkeys = info->nkeys;
	l->cols = calloc(l->ncols + 1, sizeof *l->cols);
	if (!l->cols)
		abort();
	for (uint32_t i = 0; i < l->ncols; i++) {
		lcol *c = &l->cols[i];
		c->name = t->fields[i].name;
		c->type = t->fields[i].type;
		if (check_ident("field name", c->name, exp, err) < 0)
			return -1;
		default_col(c);
	}
	if (opts[OPT_COLUMN_OPTIONS].set && opts[OPT_COLUMN_OPTIONS].s &&
	    read_column_options(l, opts[OPT_COLUMN_OPTIONS].s, exp, err) < 0)
		return -1;
	if (opts[OPT_VECTOR_INDEXES].set && opts[OPT_VECTOR_INDEXES].s &&
	    read_vector_indexes(l, opts[OPT_VECTOR_INDEXES].s, exp, err) < 0)
		return -1;
	return 0;
}
