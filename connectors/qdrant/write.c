/* Qdrant target: writes (see qdrant.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/qdrant/qdrant_int.h"
#include "engine/functions/json.h"
#include "engine/sys.h"

/* ---- writes ------------------------------------------------------------------------ */

int qd_begin(void *p, char **err)
{
	q_tgt *t = p;
	(void)err;
	coco_vs_batch_clear(&t->b);
	return 0;
}

int qd_upsert(void *p, const coco_value *row, char **err)
{
	q_tgt *t = p;
	const layout *l = &t->l;
	if (coco_vs_row_check(WHO, t->label, row, l->ncols, err) < 0)
		return -1;
	/* vectors first: a wrong one refuses the row before anything is kept */
	for (uint32_t i = 0; i < l->ncols; i++) {
		const coco_value *v = &row->u.fields[i];
		if (!l->cols[i].vec || v->kind == COCO_NULL)
			continue;
		if (v->kind != COCO_VECTOR || v->n != l->cols[i].type->dim) {
			coco_seterr(err, WHO ": %s: vector %s has %zu dimensions, the collection's has %u",
				t->label, l->cols[i].name, v->kind == COCO_VECTOR ? v->n : (size_t)0,
				l->cols[i].type->dim);
			return COCO_TGT_REFUSED;
		}
	}
	coco_value key = coco_vs_key_of(row, l->nkeys);
	char id[37];
	coco_vs_uuid(&key, id);
	coco_buf *b = &t->b.data;
	size_t off = b->n, vec_off = 0, vec_len = 0;
	coco_buf_printf(b, "{\"id\":\"%s\",\"vector\":{", id);
	int any = 0;
	for (uint32_t i = 0; i < l->ncols; i++) {
		const coco_value *v = &row->u.fields[i];
		if (!l->cols[i].vec || v->kind == COCO_NULL)
			continue;
		if (any++)
			coco_buf_putc(b, ',');
		coco_json_str(b, l->cols[i].name, strlen(l->cols[i].name));
		coco_buf_putc(b, ':');
		vec_off = b->n;
		coco_vs_floats(b, v->u.vec, v->n);
		vec_len = b->n - vec_off;
	}
	coco_buf_adds(b, "},\"payload\":");
	size_t pay_off = b->n;
	coco_buf_putc(b, '{');
	any = 0;
	for (uint32_t i = 0; i < l->ncols; i++) {
		if (l->cols[i].vec)
			continue;
		if (any++)
			coco_buf_putc(b, ',');
		coco_json_str(b, l->cols[i].name, strlen(l->cols[i].name));
		coco_buf_putc(b, ':');
		const coco_value *v = &row->u.fields[i];
		if (v->kind == COCO_VECTOR)
			coco_vs_floats(b, v->u.vec, v->n);
		else
			coco_value_to_json(v, l->cols[i].type, b);
	}
	coco_buf_putc(b, '}');
	size_t pay_len = b->n - pay_off;
	coco_buf_putc(b, '}');
	coco_vs_op *o = coco_vs_batch_add(&t->b, id, 36, 0);
	o->off[0] = off;
	o->len[0] = b->n - off;
	if (l->nvec == 1 && vec_len) {  /* can go in a columnar batch */
		o->off[1] = vec_off;
		o->len[1] = vec_len;
		o->off[2] = pay_off;
		o->len[2] = pay_len;
	}
	t->stats.upserts++;
	return 0;
}

int qd_del(void *p, const coco_value *key, char **err)
{
	q_tgt *t = p;
	coco_value k = *key;
	if (key->kind != COCO_STRUCT) {
		if (t->l.nkeys != 1)
			return coco_seterr(err, WHO ": %s: a key has 1 field, expected %u", t->label,
				t->l.nkeys);
		k.kind = COCO_STRUCT;
		k.n = 1;
		k.u.fields = (coco_value *)key;
	}
	char id[37];
	coco_vs_uuid(&k, id);
	coco_vs_batch_add(&t->b, id, 36, 1);
	const char *other;
	size_t n;
	for (size_t at = 0; (at = coco_vs_alias_next(&t->alias, id, 36, at, &other, &n));)
		coco_vs_batch_add(&t->b, other, n, 1);
	t->stats.deletes++;
	return 0;
}

typedef struct qreq {
	coco_buf body;
	const char *method, *url;
	coco_http_xfer *x;
} qreq;

typedef struct reqs {
	qreq *r;
	size_t n, cap;
} reqs;

static coco_buf *req_new(reqs *q, const char *method, const char *url)
{
	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 8;
		q->r = coco_xrealloc(q->r, q->cap * sizeof *q->r);
	}
	qreq *r = &q->r[q->n++];
	memset(r, 0, sizeof *r);
	r->method = method;
	r->url = url;
	return &r->body;
}

/* The writes of kind k of the batch: 0 upserts that fit a columnar batch
 * (one named vector, there), 1 other upserts, 2 deletes. */
static int op_kind(const coco_vs_op *o)
{
	return o->del ? 2 : o->len[1] ? 0 : 1;
}

/* Part p (coco_vs_op.off/len) of the live writes of kind k among
 * ops[first, end) of batch vb, ',' between. */
static void put_parts(coco_buf *b, const coco_vs_batch *vb, size_t first, size_t end, int k,
	int p)
{
	int c = 0;
	for (size_t j = first; j < end; j++)
		if (!vb->ops[j].dead && op_kind(&vb->ops[j]) == k) {
			if (c++)
				coco_buf_putc(b, ',');
			coco_buf_add(b, vb->data.p + vb->ops[j].off[p], vb->ops[j].len[p]);
		}
}

/* Requests for the live writes of kind k, per at most a request:
 *   0  PUT points {"batch":{"ids":[...],"vectors":{"v":[[...],...]},"payloads":[...]}}
 *      (columnar: the server takes it in about three quarters of the time)
 *   1  PUT points {"points":[{"id":..,"vector":{..},"payload":{..}},...]}
 *   2  POST points/delete {"points":[ids]} */
static void add_reqs(q_tgt *t, reqs *q, int k, size_t per)
{
	const coco_vs_op *ops = t->b.ops;
	size_t i = 0;
	for (;;) {
		while (i < t->b.n && (ops[i].dead || op_kind(&ops[i]) != k))
			i++;
		if (i == t->b.n)
			return;
		coco_buf *b = req_new(q, k == 2 ? "POST" : "PUT", k == 2 ? t->delete_url : t->points_url);
		size_t first = i, n = 0, bytes = 0;
		/* the ops of this request: from first, n live ones of kind k */
		for (size_t j = i; j < t->b.n && n < per && bytes < MAX_BYTES; j++)
			if (!ops[j].dead && op_kind(&ops[j]) == k) {
				n++;
				bytes += ops[j].len[0] + 40;
				i = j + 1;
			}
		size_t end = i;
#define EACH(j) for (size_t j = first; j < end; j++) if (!ops[j].dead && op_kind(&ops[j]) == k)
		int c = 0;
		if (k == 0) {
			coco_buf_reserve(b, bytes + 64);
			coco_buf_adds(b, "{\"batch\":{\"ids\":[");
			EACH(j) coco_buf_printf(b, "%s\"%s\"", c++ ? "," : "", coco_vs_op_id(&t->b, &ops[j]));
			coco_buf_adds(b, "],\"vectors\":{");
			const char *name = t->l.cols[t->l.vec1].name;
			coco_json_str(b, name, strlen(name));
			coco_buf_adds(b, ":[");
			put_parts(b, &t->b, first, end, k, 1);
			coco_buf_adds(b, "]},\"payloads\":[");
			put_parts(b, &t->b, first, end, k, 2);
			coco_buf_adds(b, "]}}");
		} else if (k == 1) {
			coco_buf_reserve(b, bytes + 64);
			coco_buf_adds(b, "{\"points\":[");
			put_parts(b, &t->b, first, end, k, 0);
			coco_buf_adds(b, "]}");
		} else {
			coco_buf_adds(b, "{\"points\":[");
			EACH(j) coco_buf_printf(b, "%s\"%s\"", c++ ? "," : "", coco_vs_op_id(&t->b, &ops[j]));
			coco_buf_adds(b, "]}");
		}
#undef EACH
	}
}

/* A small batch whole in one request: POST points/batch {"operations":
 * [{"upsert":{"points":[...]}},{"delete":{"points":[ids]}}]}. */
static void add_mixed(q_tgt *t, reqs *q)
{
	const coco_vs_op *ops = t->b.ops;
	coco_buf *b = req_new(q, "POST", t->batch_url);
	coco_buf_adds(b, "{\"operations\":[");
	int nu = 0, nd = 0;
	for (size_t i = 0; i < t->b.n; i++)
		if (!ops[i].dead && !ops[i].del) {
			coco_buf_adds(b, nu++ ? "," : "{\"upsert\":{\"points\":[");
			coco_buf_add(b, t->b.data.p + ops[i].off[0], ops[i].len[0]);
		}
	if (nu)
		coco_buf_adds(b, "]}}");
	for (size_t i = 0; i < t->b.n; i++)
		if (!ops[i].dead && ops[i].del)
			coco_buf_printf(b, "%s\"%s\"", nd++ ? "," : nu ? ",{\"delete\":{\"points\":["
				: "{\"delete\":{\"points\":[", coco_vs_op_id(&t->b, &ops[i]));
	if (nd)
		coco_buf_adds(b, "]}}");
	coco_buf_adds(b, "]}");
}

int qd_commit(void *p, char **err)
{
	q_tgt *t = p;
	double t0 = coco_now_ms();
	if (!t->b.live)
		return 0;
	/* a small batch in one request; a larger one's upserts in up to INFLIGHT
	 * requests of MIN..MAX_POINTS points, its deletes apart: the ids are
	 * distinct, so the requests may run in any order */
	reqs q = {0};
	if (t->b.live <= MIN_POINTS) {
		add_mixed(t, &q);
	} else {
		size_t per = (t->b.live + INFLIGHT - 1) / INFLIGHT;
		per = per < MIN_POINTS ? MIN_POINTS : per > MAX_POINTS ? MAX_POINTS : per;
		add_reqs(t, &q, 0, per);
		add_reqs(t, &q, 1, per);
		add_reqs(t, &q, 2, 4096);
	}
	size_t nreq = q.n;
	const char *hv[3] = { "Content-Type: application/json", t->c.hdr[0], NULL };
	for (size_t i = 0; i < nreq; i++) {
		coco_http_req r = { .method = q.r[i].method, .url = q.r[i].url, .headers = hv,
			.body = q.r[i].body.p, .nbody = q.r[i].body.n };
		q.r[i].x = coco_http_start(t->c.h, &r, NULL);
		coco_buf_free(&q.r[i].body);     /* copied by coco_http_start */
	}
	qreq *reqs = q.r;
	int rc = 0;
	for (size_t i = 0; i < nreq; i++) {
		coco_http_wait(t->c.h, reqs[i].x);
		coco_http_resp *r = coco_http_resp_of(reqs[i].x);
		if (rc == 0 && (r->status < 200 || r->status >= 300)) {
			coco_buf what = {0};
			coco_buf_printf(&what, "write to %s", t->label);
			rc = coco_vs_write_err(WHO, what.p, t->l.x.url.p, r, err);
			coco_buf_free(&what);
		}
		coco_http_release(t->c.h, reqs[i].x);
	}
	free(reqs);
	if (rc == 0) {
		t->stats.batches++;
		t->stats.requests += nreq;
		t->stats.ms += coco_now_ms() - t0;
	}
	return rc;
}

void qd_close(void *p)
{
	q_tgt *t = p;
	if (!t)
		return;
	coco_vs_stats_note(&t->stats, "COCO_QDRANT_STATS", "Qdrant", t->label);
	qd_conn_close(&t->c);
	qd_layout_free(&t->l);
	free(t->label);
	free(t->points_url);
	free(t->delete_url);
	free(t->batch_url);
	coco_vs_batch_free(&t->b);
	coco_buf_free(&t->alias);
	free(t);
}

int qd_open(const coco_optval *opts, const coco_export_info *info, void **out, char **err)
{
	*out = NULL;
	q_tgt *t = coco_xcalloc(1, sizeof *t);
	if (qd_layout_make(opts, info, &t->l, err) < 0 || qd_conn_open(&t->c, t->l.key_env, err) < 0) {
		qd_close(t);
		return -1;
	}
	coco_buf lb = {0};
	coco_buf_printf(&lb, "collection %s on %s", t->l.x.coll.p, t->l.x.url.p);
	t->label = coco_buf_take(&lb);
	t->points_url = coco_strdup(qd_coll_url(&t->c, t->l.x.url.p, t->l.x.coll.p, "/points?wait=true"));
	t->batch_url = coco_strdup(qd_coll_url(&t->c, t->l.x.url.p, t->l.x.coll.p,
		"/points/batch?wait=true"));
	t->delete_url = coco_strdup(qd_coll_url(&t->c, t->l.x.url.p, t->l.x.coll.p,
		"/points/delete?wait=true"));
	*out = t;
	return 0;
}
