/* The layout and setup steps the vector-store targets share (see vstore.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/functions/json.h"
#include "engine/secret.h"
#include "engine/sys.h"
#include "engine/vstore.h"

/* ---- the export ---------------------------------------------------------------- */

int coco_vs_export_init(coco_vs_export *x, const char *who, const coco_export_info *info,
	const coco_optval *url, const char *url_env, const char *url_default, const char *hint,
	const coco_optval *coll, char **err)
{
	memset(x, 0, sizeof *x);
	x->who = who;
	x->exp = info->export_name;
	x->row = info->row_type;
	x->nkeys = info->nkeys;
	const char *u = url && url->set && url->s && *url->s ? url->s : getenv(url_env);
	coco_buf_adds(&x->url, u && *u ? u : url_default);
	while (x->url.n && x->url.p[x->url.n - 1] == '/')
		x->url.p[--x->url.n] = 0;
	if (coco_has_secret(x->url.p)) {
		/* the url names the resource: it is stored in the state and shown */
		coco_buf r = {0};
		coco_redact(x->url.p, &r);
		coco_seterr(err, "%s: export '%s': url '%s' holds a password or token, which would "
			"be stored in coco's state and shown: give the server's address alone", who, x->exp,
			r.p);
		coco_buf_free(&r);
		return -1;
	}
	if (strncmp(x->url.p, "http://", 7) && strncmp(x->url.p, "https://", 8))
		return coco_seterr(err, "%s: export '%s': url must start with http:// or https://%s, "
			"got '%s'", who, x->exp, hint, x->url.p);
	if (coll && coll->set && coll->s)
		coco_buf_adds(&x->coll, coll->s);
	else
		coco_buf_printf(&x->coll, "%s__%s", info->flow_name, x->exp);
	if (coco_export_check_row(who, info, err) < 0)
		return -1;
	x->spec = coco_xcalloc(x->row->nfields, sizeof *x->spec);
	return 0;
}

void coco_vs_export_free(coco_vs_export *x)
{
	coco_buf_free(&x->url);
	coco_buf_free(&x->coll);
	free(x->spec);
	x->spec = NULL;
}

/* One entry { field =, metric =, method =, m =, ef_construction = }. */
static int read_index(const coco_vs_export *x, const char *v, size_t vn, size_t ix,
	const char *what, coco_vs_index_fn fn, void *ud, char **err)
{
	const char *who = x->who, *exp = x->exp;
	coco_json_iter fi;
	const char *fk, *fv;
	size_t fkn, fvn;
	if (coco_json_iter_init(&fi, v, vn) != '{')
		return coco_seterr(err, "%s: export '%s': vector_indexes[%zu] must be a table", who, exp,
			ix);
	coco_buf s = {0};
	int field = -1, rc = 0;
	const char *metric = NULL;
	long m = 0, efc = 0;
	while (!rc && coco_json_iter_next(&fi, &fk, &fkn, &fv, &fvn)) {
		coco_buf_clear(&s);
		coco_json_str_decode(fk, fkn, &s);
		char key[24];
		snprintf(key, sizeof key, "%s", s.p ? s.p : "");
		coco_buf_clear(&s);
		int str = coco_json_str_decode(fv, fvn, &s) == 0;
		if (!strcmp(key, "field")) {
			if (!str || (field = coco_type_field_n(x->row, s.p, s.n)) < 0) {
				coco_buf f = {0};
				coco_type_field_names(x->row, &f);
				rc = coco_seterr(err, "%s: export '%s': vector_indexes[%zu]: unknown field "
					"%.*s; fields: %s", who, exp, ix, (int)fvn, fv, f.p);
				coco_buf_free(&f);
			}
		} else if (!strcmp(key, "metric")) {
			metric = str && !strcmp(s.p, "cosine") ? "cosine" : str && !strcmp(s.p, "l2")
				? "l2" : str && !strcmp(s.p, "ip") ? "ip" : NULL;
			if (!metric)
				rc = coco_seterr(err, "%s: export '%s': vector_indexes[%zu].metric must be "
					"\"cosine\", \"l2\" or \"ip\", got %.*s", who, exp, ix, (int)fvn, fv);
		} else if (!strcmp(key, "method")) {
			if (!str || strcmp(s.p, "hnsw"))
				rc = coco_seterr(err, "%s: export '%s': vector_indexes[%zu].method: %s "
					"indexes %s with HNSW only, got %.*s", who, exp, ix, who, what, (int)fvn, fv);
		} else if (!strcmp(key, "m") || !strcmp(key, "ef_construction")) {
			long val = coco_json_uint(fv, fvn);
			if (val < 1)
				rc = coco_seterr(err, "%s: export '%s': vector_indexes[%zu].%s must be a "
					"positive integer, got %.*s", who, exp, ix, key, (int)fvn, fv);
			else if (key[0] == 'm')
				m = val;
			else
				efc = val;
		} else {
			rc = coco_seterr(err, "%s: export '%s': vector_indexes[%zu]: unknown option "
				"'%s'; options: field, metric, method, m, ef_construction", who, exp, ix, key);
		}
	}
	coco_buf_free(&s);
	if (rc)
		return rc;
	if (field < 0 || !metric)
		return coco_seterr(err, "%s: export '%s': vector_indexes[%zu] needs a field and a "
			"metric (\"cosine\", \"l2\" or \"ip\")", who, exp, ix);
	return fn(ud, ix, field, metric, m, efc, err);
}

int coco_vs_vector_indexes(const coco_vs_export *x, const char *js, const char *what,
	coco_vs_index_fn fn, void *ud, char **err)
{
	coco_json_iter it;
	const char *k, *v;
	size_t kn, vn, ix = 0;
	if (coco_json_iter_init(&it, js, strlen(js)) != '[')
		return coco_seterr(err, "%s: export '%s': vector_indexes must be a list "
			"{{ field = ..., metric = ... }}", x->who, x->exp);
	while (coco_json_iter_next(&it, &k, &kn, &v, &vn))
		if (read_index(x, v, vn, ++ix, what, fn, ud, err) < 0)
			return -1;
	return 0;
}

/* ---- the description --------------------------------------------------------------- */

void coco_vs_desc_head(coco_buf *desired, const coco_vs_export *x)
{
	coco_tdesc_put_line(desired, "url", x->url.p);
	coco_tdesc_put_line(desired, "collection", x->coll.p);
}

void coco_vs_desc_tail(coco_buf *desired, const coco_vs_export *x)
{
	coco_tdesc_put_keys(desired, x->row, x->nkeys);
	for (uint32_t i = 0; i < x->row->nfields; i++)
		coco_tdesc_put_column(desired, COCO_TDESC_SQL_REST, x->row->fields[i].name,
			x->row->fields[i].type, x->spec[i]);
}

typedef struct parse_ctx {
	const coco_vs_setup *s;
	coco_vs_desc *d;
} parse_ctx;

static int desc_line(void *ctx, coco_arena *a, const char *w, size_t wn, const char *rest,
	const char *e)
{
	parse_ctx *c = ctx;
	const char **v = COCO_TDESC_IS(w, wn, "url") ? &c->d->url :
		COCO_TDESC_IS(w, wn, "collection") ? &c->d->coll : NULL;
	if (!v)
		return c->s->line(c->d, a, w, wn, rest, e);
	*v = coco_unesc(a, rest, (size_t)(e - rest));
	return *v ? 0 : -1;
}

int coco_vs_desc_parse(const coco_vs_setup *s, const char *text, coco_arena *a, coco_vs_desc *d,
	char **err)
{
	memset(d, 0, s->desc_size);
	parse_ctx c = { s, d };
	if (coco_tdesc_parse(text, a, COCO_TDESC_SQL_REST, &d->t, desc_line, &c, s->who, err) < 0)
		return -1;
	return s->complete(d, err);
}

void coco_vs_recreate_reasons(const coco_vs_setup *o, const coco_vs_desc *s,
	const coco_vs_desc *d, coco_buf *why)
{
	if (strcmp(s->url, d->url))
		coco_tdesc_reason(why, "url: %s → %s", s->url, d->url);
	if (strcmp(s->coll, d->coll))
		coco_tdesc_reason(why, "collection: %s → %s", s->coll, d->coll);
	if (!coco_tdesc_same_names(s->t.keys, s->t.nkeys, d->t.keys, d->t.nkeys)) {
		coco_tdesc_reason(why, "%s: ", o->key_words);
		coco_tdesc_put_names(why, s->t.keys, s->t.nkeys);
		coco_buf_adds(why, " → ");
		coco_tdesc_put_names(why, d->t.keys, d->t.nkeys);
	}
	o->reasons(s, d, why);
}

/* stored and desired (either may be NULL) parsed into *s and *d, from a. */
static int parse_both(const coco_vs_setup *o, const char *stored, const char *desired,
	coco_arena *a, coco_vs_desc **s, coco_vs_desc **d, char **err)
{
	*s = stored ? coco_arena_alloc(a, o->desc_size) : NULL;
	*d = desired ? coco_arena_alloc(a, o->desc_size) : NULL;
	if ((*s && coco_vs_desc_parse(o, stored, a, *s, err) < 0) ||
	    (*d && coco_vs_desc_parse(o, desired, a, *d, err) < 0))
		return -1;
	return 0;
}

int coco_vs_plan(const coco_vs_setup *o, const char *stored, const char *desired, coco_buf *plan,
	int *destructive, char **err)
{
	coco_arena a = {0};
	coco_vs_desc *s, *d;
	*destructive = 0;
	int rc = parse_both(o, stored, desired, &a, &s, &d, err);
	if (rc == 0 && !s && d) {
		o->plan_create(d, plan);
	} else if (rc == 0 && s && !d) {
		coco_buf_printf(plan, "drop collection %s\n", s->coll);
		*destructive = 1;
	} else if (rc == 0 && s && d) {
		coco_buf why = {0};
		coco_vs_recreate_reasons(o, s, d, &why);
		if (why.n) {
			coco_buf_printf(plan, "drop and recreate collection %s (%s)\n", d->coll, why.p);
			*destructive = 1;
		} else if (o->plan_fields(s, d, plan)) {
			/* fields dropped in place: the records, and so their keys, stay */
			*destructive = 1 | COCO_SETUP_KEEPS_ROWS;
		}
		coco_buf_free(&why);
	}
	coco_arena_destroy(&a);
	return rc;
}

/* A server that cannot be reached plans nothing (the update will say so). */
int coco_vs_check(const coco_vs_setup *o, const char *desired, coco_buf *plan, int *destructive,
	char **err)
{
	coco_arena a = {0};
	coco_vs_desc *s, *d;
	*destructive = 0;
	if (parse_both(o, NULL, desired, &a, &s, &d, err) < 0) {
		coco_arena_destroy(&a);
		return -1;
	}
	int exists = 0;
	coco_buf why = {0};
	char *e = NULL;
	if (o->server(d, &exists, &why, &e) == 0) {
		if (!exists) {
			coco_buf_printf(plan, "collection %s is missing on the server: ", d->coll);
			o->plan_create(d, plan);
		} else if (why.n) {
			coco_buf_printf(plan, "drop and recreate collection %s (changed on the server: "
				"%s)\n", d->coll, why.p);
			*destructive = 1;
		}
	}
	free(e);
	coco_buf_free(&why);
	coco_arena_destroy(&a);
	return 0;
}

/* ---- writes and queries --------------------------------------------------------------- */

int coco_vs_row_check(const char *who, const char *label, const coco_value *row, uint32_t n,
	char **err)
{
	if (row->kind != COCO_STRUCT || row->n != n)
		return coco_seterr(err, "%s: %s: a row has %zu fields, expected %u", who, label,
			row->kind == COCO_STRUCT ? row->n : (size_t)1, n);
	return 0;
}

int coco_vs_write_err(const char *who, const char *what, const char *url,
	const coco_http_resp *r, char **err)
{
	if (r->status == 0)
		return coco_seterr(err, "%s: %s: cannot reach %s: %s", who, what, url,
			r->error ? r->error : "transport failure");
	coco_vs_status_err(who, what, r, err);
	if (r->status == 404)           /* coco_seterr frees the old *err */
		coco_seterr(err, "%s (the collection is gone: run coco setup)", *err);
	/* 400 Bad Request, 422: data the server refuses (a vector of another
	 * size, a value it cannot take); the rest is -1 */
	return r->status == 400 || r->status == 422 ? COCO_TGT_REFUSED : -1;
}

/* al holds [nk][key_id][n][id] records, the lengths as size_t. */
void coco_vs_alias_add(coco_buf *al, const char *key_id, size_t nk, const char *id, size_t n)
{
	coco_buf_add(al, &nk, sizeof nk);
	coco_buf_add(al, key_id, nk);
	coco_buf_add(al, &n, sizeof n);
	coco_buf_add(al, id, n);
}

size_t coco_vs_alias_next(const coco_buf *al, const char *key_id, size_t nk, size_t at,
	const char **id, size_t *n)
{
	while (at < al->n) {
		size_t kn, in;
		memcpy(&kn, al->p + at, sizeof kn);
		const char *k = al->p + at + sizeof kn;
		memcpy(&in, k + kn, sizeof in);
		const char *v = k + kn + sizeof in;
		at = (size_t)(v + in - al->p);
		if (kn == nk && !memcmp(k, key_id, nk)) {
			*id = v;
			*n = in;
			return at;
		}
	}
	return 0;
}
