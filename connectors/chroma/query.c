/* Chroma target: top_k and scan (see chroma.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/chroma/chroma_int.h"
#include "engine/functions/json.h"
#include "engine/topk.h"
#include "engine/sys.h"

/* ---- reading records back: queries and scans ----------------------------------------- */

/* vals[j] = the record's value of field src[j] as type types[j], j < n:
 * its document, embedding (emb: the JSON array, or NULL), or metadata
 * (str, int, float and bool as they are, other types as JSON text in a
 * str). From a; tmp: scratch. */
static void record_fields(const layout *l, const char *meta, size_t nmeta, const char *doc,
	size_t ndoc, const char *emb, size_t nemb, const int *src, const coco_field *types, size_t n,
	coco_arena *a, coco_value *vals, coco_buf *tmp)
{
	for (size_t j = 0; j < n; j++) {
		const ccol *c = &l->cols[src[j]];
		const char *fv = NULL;
		size_t nfv = 0;
		memset(&vals[j], 0, sizeof vals[j]);
		if (c->role == R_DOC) {
			fv = doc, nfv = ndoc;
		} else if (c->role == R_EMB) {
			fv = emb, nfv = nemb;
		} else if (meta && coco_json_get(meta, nmeta, c->name, strlen(c->name), &fv, &nfv)) {
			coco_kind kd = c->type->kind;
			if (kd != COCO_STR && kd != COCO_INT64 && kd != COCO_FLOAT32 &&
			    kd != COCO_FLOAT64 && kd != COCO_BOOL) {       /* JSON text in a str */
				coco_buf_clear(tmp);
				fv = coco_json_str_decode(fv, nfv, tmp) == 0 ? tmp->p : NULL;
				nfv = tmp->n;
			}
		}
		if (fv)
			coco_vs_from_json(fv, nfv, types[j].type, a, &vals[j]);
	}
}

/* The i-th (from 0) element of a JSON array, or NULL. */
static const char *nth(const char *arr, size_t narr, size_t i, size_t *n)
{
	char idx[24];
	const char *v;
	snprintf(idx, sizeof idx, "%zu", i + 1);
	return arr && coco_json_get(arr, narr, idx, strlen(idx), &v, n) ? v : NULL;
}

int ch_top_k(const coco_optval *opts, const coco_export_info *info, const char *field,
	const char *metric, const float *vec, size_t dim, size_t k, coco_arena *a,
	const coco_type **row_type, coco_value **rows, size_t *nrows, char **err)
{
	*rows = NULL;
	*nrows = 0;
	layout l;
	coco_http *h = NULL;
	coco_buf body = {0}, what = {0}, url = {0}, s = {0};
	coco_http_resp r = {0};
	char *cid = NULL;
	int rc = -1;
	if (ch_layout_make(opts, info, &l, err) < 0)
		goto done;
	coco_buf_printf(&what, "query collection %s on %s", l.x.coll.p, l.x.url.p);
	int fi = coco_type_field(info->row_type, field);
	if (fi < 0 || fi != l.emb) {
		coco_seterr(err, WHO ": %s: top_k searches the embedding, field '%s'%s%s%s", what.p,
			l.cols[l.emb].name, fi < 0 ? "; there is no field '" : "", fi < 0 ? field : "",
			fi < 0 ? "'" : "");
		goto done;
	}
	if (dim != l.cols[fi].type->dim) {
		coco_seterr(err, WHO ": %s: the query vector has %zu dimensions, field '%s' has %u",
			what.p, dim, field, l.cols[fi].type->dim);
		goto done;
	}
	if (strcmp(metric, l.space)) {
		coco_seterr(err, WHO ": %s: the collection's space is %s; top_k asked for %s (set "
			"vector_indexes = {{ field = \"%s\", metric = \"%s\" }} on the export)", what.p,
			l.space, metric, field, metric);
		goto done;
	}
	h = strncmp(l.x.url.p, "http://", 7) ? ch_client() : NULL;
	if (ch_coll_id(h, &l, what.p, "coco update first", &cid, err) < 0)
		goto done;
	ch_coll_url(&url, l.x.url.p, l.tenant.p, l.db.p, NULL, "/");
	coco_buf_adds(&url, cid);
	coco_buf_adds(&url, "/query");
	coco_buf_adds(&body, "{\"query_embeddings\":[");
	coco_vs_floats(&body, vec, dim);
	coco_buf_printf(&body, "],\"n_results\":%zu,\"include\":[\"documents\",\"metadatas\","
		"\"distances\"]}", k);
	if (ch_call(h, "POST", url.p, body.p, 0, what.p, &r, err) < 0)
		goto done;
	int *src = coco_arena_alloc(a, (l.ncols + 1) * sizeof *src);
	*row_type = coco_topk_row_type(info->row_type, fi, a);
	for (uint32_t j = 0; j < l.ncols; j++)      /* the row field of answer field j */
		src[j] = (int)j < fi ? (int)j : (int)j + 1;
	uint32_t nf = (*row_type)->nfields;
	/* {"ids":[[...]],"documents":[[...]],"metadatas":[[...]],"distances":[[...]]} */
	const char *docs = NULL, *metas = NULL, *dists = NULL, *v, *kk;
	size_t ndocs = 0, nmetas = 0, ndists = 0, nv, kkn, n = 0;
	if (coco_json_get(r.body.p, r.body.n, "documents", 9, &v, &nv))
		docs = nth(v, nv, 0, &ndocs);
	if (coco_json_get(r.body.p, r.body.n, "metadatas", 9, &v, &nv))
		metas = nth(v, nv, 0, &nmetas);
	if (!coco_json_get(r.body.p, r.body.n, "distances", 9, &v, &nv) ||
	    !(dists = nth(v, nv, 0, &ndists))) {
		coco_seterr(err, WHO ": %s: unexpected answer %.200s", what.p, r.body.p);
		goto done;
	}
	coco_json_iter it;
	coco_json_iter_init(&it, dists, ndists);
	while (coco_json_iter_next(&it, &kk, &kkn, &v, &nv))
		n++;
	coco_value *outv = coco_arena_alloc(a, (n + 1) * sizeof *outv);
	for (size_t i = 0; i < n; i++) {
		coco_value *row = &outv[i];
		row->kind = COCO_STRUCT;
		row->n = nf;
		row->u.fields = coco_arena_alloc(a, nf * sizeof(coco_value));
		size_t nmeta = 0, ndoc = 0, nfv;
		const char *meta = nth(metas, nmetas, i, &nmeta), *doc = nth(docs, ndocs, i, &ndoc);
		record_fields(&l, meta, nmeta, doc, ndoc, NULL, 0, src, (*row_type)->fields, nf - 1, a,
			row->u.fields, &s);
		const char *fv = nth(dists, ndists, i, &nfv);
		double dv = fv ? coco_vs_number(fv, nfv) : 0;
		/* Chroma: l2 is squared, ip is 1 - dot; coco: l2 distance, -dot */
		coco_value *dd = &row->u.fields[nf - 1];
		dd->kind = COCO_FLOAT64;
		dd->u.f = !strcmp(metric, "l2") ? sqrt(dv > 0 ? dv : 0) : !strcmp(metric, "ip")
			? dv - 1 : dv;
	}
	*rows = outv;
	*nrows = n;
	rc = 0;
done:
	coco_http_resp_free(&r);
	coco_http_destroy(h);
	free(cid);
	coco_buf_free(&body);
	coco_buf_free(&what);
	coco_buf_free(&url);
	coco_buf_free(&s);
	ch_layout_free(&l);
	return rc;
}

#define SCAN_PAGE 500             /* records per get request */

/* Every record, by pages of get with offset and limit (coco_target_ops.scan). */
int ch_scan(void *p, int (*cb)(void *ud, const coco_value *row), void *ud, coco_arena *a,
	char **err)
{
	c_tgt *t = p;
	const layout *l = &t->l;
	coco_buf body = {0}, what = {0}, url = {0}, s = {0}, kid = {0};
	coco_buf_printf(&what, "scan %s", t->label);
	ch_coll_url(&url, l->x.url.p, l->tenant.p, l->db.p, NULL, "/");
	coco_buf_adds(&url, t->cid);
	coco_buf_adds(&url, "/get");
	int *src = coco_xcalloc(l->ncols + 1, sizeof *src);
	for (uint32_t i = 0; i < l->ncols; i++)
		src[i] = (int)i;
	int rc = 0, stop = 0;
	size_t got = SCAN_PAGE;
	for (size_t off = 0; !rc && !stop && got == SCAN_PAGE; off += got) {
		coco_buf_clear(&body);
		coco_buf_printf(&body, "{\"limit\":%d,\"offset\":%zu,\"include\":[\"embeddings\","
			"\"documents\",\"metadatas\"]}", SCAN_PAGE, off);
		coco_http_resp r;
		const char *ids, *embs = NULL, *docs = NULL, *metas = NULL;
		size_t nids, nembs = 0, ndocs = 0, nmetas = 0;
		got = 0;
		if (ch_call(t->h, "POST", url.p, body.p, 0, what.p, &r, err) < 0) {
			rc = -1;
		} else if (!coco_json_get(r.body.p, r.body.n, "ids", 3, &ids, &nids)) {
			rc = coco_seterr(err, WHO ": %s: unexpected answer %.200s", what.p, r.body.p);
		} else {
			coco_json_get(r.body.p, r.body.n, "embeddings", 10, &embs, &nembs);
			coco_json_get(r.body.p, r.body.n, "documents", 9, &docs, &ndocs);
			coco_json_get(r.body.p, r.body.n, "metadatas", 9, &metas, &nmetas);
		}
		size_t nid;
		while (!rc && !stop && nth(ids, nids, got, &nid)) {
			size_t nmeta = 0, ndoc = 0, nemb = 0;
			const char *meta = nth(metas, nmetas, got, &nmeta), *doc = nth(docs, ndocs, got, &ndoc);
			const char *emb = nth(embs, nembs, got, &nemb);
			got++;
			coco_arena_reset(a);
			coco_value row = { .kind = COCO_STRUCT, .n = l->ncols };
			row.u.fields = coco_arena_alloc(a, l->ncols * sizeof(coco_value));
			record_fields(l, meta, nmeta, doc, ndoc, emb, nemb, src, l->x.row->fields, l->ncols,
				a, row.u.fields, &s);
			/* a record whose id is not its key's (added by hand): del() of
			 * the key deletes it too */
			coco_value key = coco_vs_key_of(&row, l->nkeys);
			ch_key_id(l, l->nkeys == 1 ? &row.u.fields[0] : &key, &kid);
			coco_buf_clear(&s);
			const char *idv = nth(ids, nids, got - 1, &nid);
			if (coco_json_str_decode(idv, nid, &s) == 0 && (s.n != kid.n || memcmp(s.p, kid.p, s.n)))
				coco_vs_alias_add(&t->alias, kid.p, kid.n, s.p, s.n);
			stop = cb(ud, &row) != 0;
		}
		coco_http_resp_free(&r);
	}
	free(src);
	coco_buf_free(&body);
	coco_buf_free(&what);
	coco_buf_free(&url);
	coco_buf_free(&s);
	coco_buf_free(&kid);
	return rc;
}
