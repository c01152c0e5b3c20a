/* Qdrant target: top_k and scan (see qdrant.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/qdrant/qdrant_int.h"
#include "engine/functions/json.h"
#include "engine/topk.h"
#include "engine/sys.h"

/* ---- reading points back: queries and scans ---------------------------------------- */

/* vals[j] = the point pv's value of field src[j] (a named vector from its
 * vector, else from its payload), as type types[j]; j < n. From a. */
static void point_fields(const layout *l, const char *pv, size_t npv, const int *src,
	const coco_field *types, size_t n, coco_arena *a, coco_value *vals)
{
	const char *pay, *vecs, *fv;
	size_t npay, nvecs, nfv;
	int has_pay = coco_json_get(pv, npv, "payload", 7, &pay, &npay);
	int has_vec = coco_json_get(pv, npv, "vector", 6, &vecs, &nvecs);
	for (size_t j = 0; j < n; j++) {
		const qcol *col = &l->cols[src[j]];
		const char *from = col->vec ? (has_vec ? vecs : NULL) : (has_pay ? pay : NULL);
		size_t nfrom = col->vec ? nvecs : npay;
		memset(&vals[j], 0, sizeof vals[j]);
		if (from && coco_json_get(from, nfrom, col->name, strlen(col->name), &fv, &nfv))
			coco_vs_from_json(fv, nfv, types[j].type, a, &vals[j]);
	}
}

/* The points of a query's or scroll's answer: *pts, or -1 with *err. */
static int answer_points(const coco_http_resp *r, const char *what, const char **pts,
	size_t *npts, const char **res, size_t *nres, char **err)
{
	coco_json_iter it;
	if (!coco_json_get(r->body.p, r->body.n, "result", 6, res, nres) ||
	    !coco_json_get(*res, *nres, "points", 6, pts, npts) ||
	    coco_json_iter_init(&it, *pts, *npts) != '[')
		return coco_seterr(err, WHO ": %s: unexpected answer %.200s", what, r->body.p);
	return 0;
}

int qd_top_k(const coco_optval *opts, const coco_export_info *info, const char *field,
	const char *metric, const float *vec, size_t dim, size_t k, coco_arena *a,
	const coco_type **row_type, coco_value **rows, size_t *nrows, char **err)
{
	*rows = NULL;
	*nrows = 0;
	layout l;
	conn c = {0};
	coco_buf body = {0}, what = {0};
	coco_http_resp r = {0};
	int rc = -1;
	if (qd_layout_make(opts, info, &l, err) < 0)
		goto done;
	coco_buf_printf(&what, "query collection %s on %s", l.x.coll.p, l.x.url.p);
	int fi = coco_type_field(info->row_type, field);
	if (fi < 0) {
		coco_buf f = {0};
		coco_type_field_names(info->row_type, &f);
		coco_seterr(err, WHO ": %s: unknown field '%s'; fields: %s", what.p, field, f.p);
		coco_buf_free(&f);
		goto done;
	}
	const qcol *vc = &l.cols[fi];
	if (!vc->vec) {
		coco_buf tb = {0};
		coco_type_format(vc->type, &tb);
		coco_seterr(err, WHO ": %s: field '%s' is %s, in the payload; top_k needs a "
			"vector<float32,N> field (a named vector)", what.p, field, tb.p);
		coco_buf_free(&tb);
		goto done;
	}
	if (dim != vc->type->dim) {
		coco_seterr(err, WHO ": %s: the query vector has %zu dimensions, field '%s' has %u",
			what.p, dim, field, vc->type->dim);
		goto done;
	}
	if (strcmp(metric, vc->metric)) {
		coco_seterr(err, WHO ": %s: vector '%s' is searched by %s (its collection's distance); "
			"top_k asked for %s (set vector_indexes = {{ field = \"%s\", metric = \"%s\" }} "
			"on the export)", what.p, field, vc->metric, metric, field, metric);
		goto done;
	}
	if (qd_conn_open_query(&c, l.x.url.p, l.key_env, err) < 0)
		goto done;
	coco_buf_adds(&body, "{\"query\":");
	coco_vs_floats(&body, vec, dim);
	coco_buf_adds(&body, ",\"using\":");
	coco_json_str(&body, field, strlen(field));
	coco_buf_printf(&body, ",\"limit\":%zu,\"with_payload\":true,\"with_vector\":", k);
	int nvec = 0;
	for (uint32_t i = 0; i < l.ncols; i++)
		if (l.cols[i].vec && (int)i != fi) {
			coco_buf_adds(&body, nvec++ ? "," : "[");
			coco_json_str(&body, l.cols[i].name, strlen(l.cols[i].name));
		}
	coco_buf_adds(&body, nvec ? "]}" : "false}");
	long st = qd_call(&c, "POST", qd_coll_url(&c, l.x.url.p, l.x.coll.p, "/points/query"), body.p, 1,
		what.p, &r, err);
	if (st < 0)
		goto done;
	if (st == 404) {
		coco_seterr(err, WHO ": %s: no such collection (run coco update first)", what.p);
		goto done;
	}
	int *src = coco_arena_alloc(a, (l.ncols + 1) * sizeof *src);
	*row_type = coco_topk_row_type(info->row_type, fi, a);
	for (uint32_t j = 0; j < l.ncols; j++)      /* the row field of answer field j */
		src[j] = (int)j < fi ? (int)j : (int)j + 1;
	uint32_t nf = (*row_type)->nfields;
	const char *res, *pts, *pv, *kk, *fv;
	size_t nres, npts, npv, kkn, nfv;
	if (answer_points(&r, what.p, &pts, &npts, &res, &nres, err) < 0)
		goto done;
	coco_json_iter it;
	size_t n = 0;
	coco_json_iter_init(&it, pts, npts);
	while (coco_json_iter_next(&it, &kk, &kkn, &pv, &npv))
		n++;
	coco_value *outv = coco_arena_alloc(a, (n + 1) * sizeof *outv);
	coco_json_iter_init(&it, pts, npts);
	size_t i = 0;
	while (coco_json_iter_next(&it, &kk, &kkn, &pv, &npv) && i < n) {
		coco_value *row = &outv[i++];
		row->kind = COCO_STRUCT;
		row->n = nf;
		row->u.fields = coco_arena_alloc(a, nf * sizeof(coco_value));
		point_fields(&l, pv, npv, src, (*row_type)->fields, nf - 1, a, row->u.fields);
		double score = coco_json_get(pv, npv, "score", 5, &fv, &nfv) ? coco_vs_number(fv, nfv)
			: 0;
		/* Cosine and Dot scores are similarities, Euclid's a distance */
		coco_value *d = &row->u.fields[nf - 1];
		d->kind = COCO_FLOAT64;
		d->u.f = !strcmp(metric, "cosine") ? 1 - score : !strcmp(metric, "ip") ? -score : score;
	}
	*rows = outv;
	*nrows = i;
	rc = 0;
done:
	coco_http_resp_free(&r);
	qd_conn_close(&c);
	coco_buf_free(&body);
	coco_buf_free(&what);
	qd_layout_free(&l);
	return rc;
}

#define SCAN_PAGE 512             /* points per scroll request */

/* Every point, by pages of the scroll API (coco_target_ops.scan). Each
 * request starts at the id the last one named (next_page_offset). */
int qd_scan(void *p, int (*cb)(void *ud, const coco_value *row), void *ud, coco_arena *a,
	char **err)
{
	q_tgt *t = p;
	const layout *l = &t->l;
	const coco_type *rt = l->x.row;
	coco_buf body = {0}, what = {0}, off = {0}, pid = {0};
	coco_buf_printf(&what, "scan %s", t->label);
	char *url = coco_strdup(qd_coll_url(&t->c, l->x.url.p, l->x.coll.p, "/points/scroll"));
	int *src = coco_xcalloc(l->ncols + 1, sizeof *src);
	for (uint32_t i = 0; i < l->ncols; i++)
		src[i] = (int)i;
	int rc = 0, stop = 0;
	while (!rc && !stop) {
		coco_buf_clear(&body);
		coco_buf_printf(&body, "{\"limit\":%d,\"with_payload\":true,\"with_vector\":true", SCAN_PAGE);
		if (off.n)
			coco_buf_printf(&body, ",\"offset\":%s", off.p);
		coco_buf_putc(&body, '}');
		coco_http_resp r;
		long st = qd_call(&t->c, "POST", url, body.p, 1, what.p, &r, err);
		const char *res, *pts, *pv, *kk, *nx;
		size_t nres, npts, npv, kkn, nnx;
		if (st < 0)
			rc = -1;
		else if (st == 404)
			rc = coco_seterr(err, WHO ": %s: no such collection (run coco setup)", what.p);
		else
			rc = answer_points(&r, what.p, &pts, &npts, &res, &nres, err);
		coco_json_iter it;
		if (!rc)
			coco_json_iter_init(&it, pts, npts);
		while (!rc && !stop && coco_json_iter_next(&it, &kk, &kkn, &pv, &npv)) {
			coco_arena_reset(a);
			coco_value row = { .kind = COCO_STRUCT, .n = l->ncols };
			row.u.fields = coco_arena_alloc(a, l->ncols * sizeof(coco_value));
			point_fields(l, pv, npv, src, rt->fields, l->ncols, a, row.u.fields);
			/* a point whose id is not its key's (added by hand): del() of
			 * the key deletes it too (a uuid string; numeric ids are not) */
			coco_value key = coco_vs_key_of(&row, l->nkeys);
			char id[37];
			coco_vs_uuid(&key, id);
			coco_buf_clear(&pid);
			if (coco_json_get_str(pv, npv, "id", &pid) == 0 && strcmp(pid.p, id))
				coco_vs_alias_add(&t->alias, id, 36, pid.p, pid.n);
			stop = cb(ud, &row) != 0;
		}
		coco_buf_clear(&off);
		if (!rc && coco_json_get(res, nres, "next_page_offset", 16, &nx, &nnx) &&
		    !(nnx == 4 && !memcmp(nx, "null", 4)))
			coco_buf_add(&off, nx, nnx);
		else
			stop = 1;
		coco_http_resp_free(&r);
	}
	free(src);
	free(url);
	coco_buf_free(&body);
	coco_buf_free(&what);
	coco_buf_free(&off);
	coco_buf_free(&pid);
	return rc;
}
