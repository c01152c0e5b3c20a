/* Chroma target: writes (see chroma.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "connectors/chroma/chroma_int.h"
#include "engine/functions/json.h"
#include "engine/sys.h"

/* ---- writes ---------------------------------------------------------------------- */

/* A record's id: a single str key as it is, else the key's JSON ("[...]"
 * of the key fields, or the one value's JSON). */
void ch_key_id(const layout *l, const coco_value *k, coco_buf *out)
{
	coco_buf_clear(out);
	if (l->nkeys == 1 && k->kind == COCO_STR) {
		coco_buf_add(out, k->u.s, k->n);
		return;
	}
	if (l->nkeys == 1) {
		coco_value_to_json(k, l->cols[0].type, out);
		return;
	}
	coco_buf_putc(out, '[');
	for (uint32_t i = 0; i < l->nkeys; i++) {
		if (i)
			coco_buf_putc(out, ',');
		coco_value_to_json(&k->u.fields[i], l->cols[i].type, out);
	}
	coco_buf_putc(out, ']');
}

int ch_begin(void *p, char **err)
{
	c_tgt *t = p;
	(void)err;
	coco_vs_batch_clear(&t->b);
	return 0;
}

/* A metadata value: str, int, float and bool as they are, every other
 * type as its JSON text (a str). */
static void put_meta(coco_buf *b, const ccol *c, const coco_value *v, coco_buf *tmp)
{
	switch (v->kind) {
	case COCO_STR: case COCO_INT64: case COCO_FLOAT32: case COCO_FLOAT64: case COCO_BOOL:
		coco_value_to_json(v, c->type, b);
		break;
	default:
		coco_buf_clear(tmp);
		if (v->kind == COCO_VECTOR)
			coco_vs_floats(tmp, v->u.vec, v->n);
		else
			coco_value_to_json(v, c->type, tmp);
		coco_json_str(b, tmp->p, tmp->n);
		break;
	}
}

int ch_upsert(void *p, const coco_value *row, char **err)
{
	c_tgt *t = p;
	const layout *l = &t->l;
	if (coco_vs_row_check(WHO, t->label, row, l->ncols, err) < 0)
		return -1;
	const coco_value *ev = &row->u.fields[l->emb];
	if (ev->kind != COCO_VECTOR || ev->n != l->cols[l->emb].type->dim) {
		if (ev->kind == COCO_VECTOR)
			coco_seterr(err, WHO ": %s: embedding %s has %zu dimensions, the collection's %u",
				t->label, l->cols[l->emb].name, ev->n, l->cols[l->emb].type->dim);
		else
			coco_seterr(err, WHO ": %s: a record needs an embedding, and %s is null", t->label,
				l->cols[l->emb].name);
		return COCO_TGT_REFUSED;
	}
	for (uint32_t i = 0; i < l->ncols; i++) {
		const coco_value *v = &row->u.fields[i];
		if (v->kind == COCO_VECTOR) {
			for (size_t j = 0; j < v->n; j++)
				if (!isfinite(v->u.vec[j])) {
					coco_seterr(err, WHO ": %s: vector %s holds NaN or infinity", t->label,
						l->cols[i].name);
					return COCO_TGT_REFUSED;
				}
		}
	}
	coco_value key = coco_vs_key_of(row, l->nkeys);
	ch_key_id(l, l->nkeys == 1 ? &row->u.fields[0] : &key, &t->tmp);
	coco_buf id = t->tmp;
	t->tmp = (coco_buf){0};
	coco_buf *b = &t->b.data;
	size_t off[3], len[3];
	off[0] = b->n;
	coco_vs_floats(b, ev->u.vec, ev->n);
	len[0] = b->n - off[0];
	off[1] = b->n;
	if (l->doc >= 0 && row->u.fields[l->doc].kind == COCO_STR)
		coco_json_str(b, row->u.fields[l->doc].u.s, row->u.fields[l->doc].n);
	else
		coco_buf_adds(b, "null");
	len[1] = b->n - off[1];
	off[2] = b->n;
	coco_buf_putc(b, '{');
	int n = 0;
	for (uint32_t i = 0; i < l->ncols; i++) {
		const coco_value *v = &row->u.fields[i];
		if ((l->cols[i].role != R_META && l->cols[i].role != R_KEY) || v->kind == COCO_NULL)
			continue;
		if (n++)
			coco_buf_putc(b, ',');
		coco_json_str(b, l->cols[i].name, strlen(l->cols[i].name));
		coco_buf_putc(b, ':');
		put_meta(b, &l->cols[i], v, &t->tmp);
	}
	coco_buf_putc(b, '}');
	if (!n) {                /* no metadata: null (not {}) */
		b->n = off[2];
		coco_buf_adds(b, "null");
	}
	len[2] = b->n - off[2];
	coco_vs_op *o = coco_vs_batch_add(&t->b, id.p, id.n, 0);
	coco_buf_free(&id);
	memcpy(o->off, off, sizeof off);
	memcpy(o->len, len, sizeof len);
	return 0;
}

int ch_del(void *p, const coco_value *key, char **err)
{
	c_tgt *t = p;
	(void)err;
	const coco_value *k = key;
	if (t->l.nkeys == 1 && key->kind == COCO_STRUCT && key->n == 1)
		k = &key->u.fields[0];
	ch_key_id(&t->l, k, &t->tmp);
	coco_vs_batch_add(&t->b, t->tmp.p, t->tmp.n, 1);
	const char *other;
	size_t n;
	for (size_t at = 0; (at = coco_vs_alias_next(&t->alias, t->tmp.p, t->tmp.n, at, &other, &n));)
		coco_vs_batch_add(&t->b, other, n, 1);
	return 0;
}

/* ---- ids surely absent ------------------------------------------------------------
 * Deleting an id the collection does not hold costs Chroma about 0.1 ms of
 * CPU a record, a seventh of an add: a collection that was empty at the
 * first commit holds only what this target wrote since, so the delete
 * before an add is sent only for an id written before (its hash seen; a
 * hash collision costs a needless delete, never a skipped one). An initial
 * load sends one request a batch instead of two. */

static uint64_t id_hash(const char *id, size_t n)
{
	uint64_t h = XXH3_64bits(id, n);
	return h ? h : 1;
}

/* 1 when id's hash was sent before; records it either way. */
static int sent_before(c_tgt *t, const char *id, size_t n)
{
	if ((t->nsent + 1) * 2 > t->capsent) {
		size_t cap = t->capsent ? t->capsent * 2 : 1024;
		uint64_t *tab = coco_xcalloc(cap, sizeof *tab);
		for (size_t i = 0; i < t->capsent; i++)
			if (t->sent[i]) {
				size_t j = t->sent[i] & (cap - 1);
				while (tab[j])
					j = (j + 1) & (cap - 1);
				tab[j] = t->sent[i];
			}
		free(t->sent);
		t->sent = tab;
		t->capsent = cap;
	}
	uint64_t h = id_hash(id, n);
	size_t j = h & (t->capsent - 1);
	for (; t->sent[j]; j = (j + 1) & (t->capsent - 1))
		if (t->sent[j] == h)
			return 1;
	t->sent[j] = h;
	t->nsent++;
	return 0;
}

/* At the first commit of FRESH_MIN writes or more: is the collection empty
 * (GET .../count)? */
#define FRESH_MIN 64

static int check_fresh(c_tgt *t, char **err)
{
	coco_buf url = {0};
	coco_buf_adds(&url, t->del_url.p);
	url.n -= strlen("/delete");
	coco_buf_adds(&url, "/count");
	coco_http_resp r;
	long st = ch_call(t->h, "GET", url.p, NULL, 0, t->label, &r, err);
	t->stats.requests++;
	if (st >= 0) {
		const char *s = r.body.p;
		size_t n = r.body.n;
		coco_json_trim(&s, &n);
		t->fresh = n == 1 && s[0] == '0' ? 1 : -1;
	}
	coco_http_resp_free(&r);
	coco_buf_free(&url);
	return st < 0 ? -1 : 0;
}

/* POST body to url; 2xx or an error (400-class: COCO_TGT_REFUSED). */
static int post(c_tgt *t, const char *url, const coco_buf *body, const char *what, char **err)
{
	coco_http_resp r;
	memset(&r, 0, sizeof r);
	long st = coco_vs_request(t->h, WHO, "POST", url, NULL, body->p, body->n, &r, err);
	int rc = 0;
	t->stats.requests++;
	if (st < 0) {
		rc = -1;
	} else if (st < 200 || st >= 300) {
		rc = coco_vs_write_err(WHO, what, url, &r, err);
	}
	coco_http_resp_free(&r);
	return rc;
}

int ch_commit(void *p, char **err)
{
	c_tgt *t = p;
	if (!t->b.live)
		return 0;
	double t0 = coco_now_ms();
	const coco_vs_op *ops = t->b.ops;
	coco_buf body = {0}, what = {0};
	coco_buf_printf(&what, "write to %s", t->label);
	int rc = 0;
	if (!t->fresh && t->b.live < FRESH_MIN)
		t->fresh = -1;           /* a small first batch: not worth a request */
	else if (!t->fresh)
		rc = check_fresh(t, err);
	for (size_t from = 0; from < t->b.n && rc == 0;) {
		size_t to = from, n = 0;
		while (to < t->b.n && n < MAX_RECORDS)
			n += !ops[to++].dead;
		/* delete every id written, then add the new records */
		coco_buf_clear(&body);
		coco_buf_adds(&body, "{\"ids\":[");
		int k = 0;
		for (size_t i = from; i < to; i++)
			if (!ops[i].dead && (t->fresh < 0 ||
			    sent_before(t, coco_vs_op_id(&t->b, &ops[i]), ops[i].nid))) {
				if (k++)
					coco_buf_putc(&body, ',');
				coco_json_str(&body, coco_vs_op_id(&t->b, &ops[i]), ops[i].nid);
			}
		coco_buf_adds(&body, "]}");
		if (k)
			rc = post(t, t->del_url.p, &body, what.p, err);
		int nadd = 0;
		for (size_t i = from; i < to; i++)
			nadd += !ops[i].dead && !ops[i].del;
		if (rc == 0 && nadd) {
			static const char *const part[3] = { "embeddings", "documents", "metadatas" };
			coco_buf_clear(&body);
			coco_buf_adds(&body, "{\"ids\":[");
			k = 0;
			for (size_t i = from; i < to; i++)
				if (!ops[i].dead && !ops[i].del) {
					if (k++)
						coco_buf_putc(&body, ',');
					coco_json_str(&body, coco_vs_op_id(&t->b, &ops[i]), ops[i].nid);
				}
			coco_buf_putc(&body, ']');
			for (int j = 0; j < 3; j++) {
				coco_buf_printf(&body, ",\"%s\":[", part[j]);
				k = 0;
				for (size_t i = from; i < to; i++)
					if (!ops[i].dead && !ops[i].del) {
						if (k++)
							coco_buf_putc(&body, ',');
						coco_buf_add(&body, t->b.data.p + ops[i].off[j], ops[i].len[j]);
					}
				coco_buf_putc(&body, ']');
			}
			coco_buf_putc(&body, '}');
			rc = post(t, t->add_url.p, &body, what.p, err);
		}
		from = to;
	}
	coco_buf_free(&body);
	coco_buf_free(&what);
	if (rc == 0) {
		for (size_t i = 0; i < t->b.n; i++)
			if (!ops[i].dead)
				*(ops[i].del ? &t->stats.deletes : &t->stats.upserts) += 1;
		t->stats.batches++;
		t->stats.ms += coco_now_ms() - t0;
	}
	return rc;
}

void ch_close(void *p)
{
	c_tgt *t = p;
	if (!t)
		return;
	coco_vs_stats_note(&t->stats, "COCO_CHROMA_STATS", "Chroma", t->label);
	coco_http_destroy(t->h);
	ch_layout_free(&t->l);
	free(t->label);
	free(t->cid);
	coco_buf_free(&t->add_url);
	coco_buf_free(&t->del_url);
	coco_buf_free(&t->tmp);
	coco_vs_batch_free(&t->b);
	coco_buf_free(&t->alias);
	free(t->sent);
	free(t);
}

/* The description of l, parsed (to look the collection up). */
void ch_desc_of(const layout *l, desc *d)
{
	memset(d, 0, sizeof *d);
	d->v.url = l->x.url.p;
	d->tenant = l->tenant.p;
	d->db = l->db.p;
	d->v.coll = l->x.coll.p;
	d->hnsw = l->space;
}

/* The collection of l on the server: its id into *cid (malloc'd), or -1
 * with *err (none: "no such collection (run <fix>)"). h NULL: plain. */
int ch_coll_id(coco_http *h, const layout *l, const char *what, const char *fix, char **cid,
	char **err)
{
	desc d;
	ch_desc_of(l, &d);
	char space[16];
	long dim;
	int got = ch_coll_get(h, &d, cid, space, &dim, err);
	if (got == 0)
		coco_seterr(err, WHO ": %s: no such collection (run %s)", what, fix);
	return got == 1 ? 0 : -1;
}

int ch_open(const coco_optval *opts, const coco_export_info *info, void **out, char **err)
{
	*out = NULL;
	c_tgt *t = coco_xcalloc(1, sizeof *t);
	if (ch_layout_make(opts, info, &t->l, err) < 0) {
		ch_close(t);
		return -1;
	}
	t->h = ch_client();
	coco_buf lb = {0};
	coco_buf_printf(&lb, "collection %s on %s", t->l.x.coll.p, t->l.x.url.p);
	t->label = coco_buf_take(&lb);
	if (ch_coll_id(t->h, &t->l, t->label, "coco setup", &t->cid, err) < 0) {
		ch_close(t);
		return -1;
	}
	ch_coll_url(&t->add_url, t->l.x.url.p, t->l.tenant.p, t->l.db.p, NULL, "/");
	coco_buf_adds(&t->add_url, t->cid);
	coco_buf_adds(&t->del_url, t->add_url.p);
	coco_buf_adds(&t->add_url, "/add");
	coco_buf_adds(&t->del_url, "/delete");
	*out = t;
	return 0;
}
