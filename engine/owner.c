/* Owned target rows: the owner records and their overlay (see owner.h);
 * at the end, the indexer's side: what a row writes of a key it shares. */
#include "engine/owner.h"
#include "engine/indexer_int.h"
#include "engine/sys.h"

#include <stdlib.h>
#include <string.h>
#include "engine/fingerprint.h"
#include "engine/value.h"

struct coco_owners {
	const coco_graph *g;
	coco_arena a;                 /* the overlay's memory */
	coco_oent **slot;             /* open addressing by okey */
	size_t cap, n;
	int dirty;
	uint64_t *warned;             /* hashes of keys warned about (0: empty) */
	size_t wcap, wn;
	/* A state with no owner record when opened (a first index): every
	 * record is one this run wrote, whose hashes are kept, so a key that is
	 * new to the run needs no read of state (most keys of a first index).
	 * Past FRESH_MAX records, state is read as usual. */
	int fresh;
	uint64_t *put;
	size_t pcap, pn;
	coco_buf k, v;
};

#define FRESH_MAX (1u << 22)

static void meta_key(coco_buf *b, const char *rid);

/* Open addressing over nonzero 64-bit hashes: 1 if h was there. */
static int hset_add(uint64_t **set, size_t *cap, size_t *n, uint64_t h)
{
	if ((*n + 1) * 2 > *cap) {
		size_t nc = *cap ? *cap * 2 : 1024;
		uint64_t *ns = coco_xcalloc(nc, sizeof *ns);
		for (size_t i = 0; i < *cap; i++)
			if ((*set)[i]) {
				size_t j = (size_t)((*set)[i] >> 7) & (nc - 1);
				while (ns[j])
					j = (j + 1) & (nc - 1);
				ns[j] = (*set)[i];
			}
		free(*set);
		*set = ns;
		*cap = nc;
	}
	size_t j = (size_t)(h >> 7) & (*cap - 1);
	for (; (*set)[j]; j = (j + 1) & (*cap - 1))
		if ((*set)[j] == h)
			return 1;
	(*set)[j] = h;
	(*n)++;
	return 0;
}

static int hset_has(const uint64_t *set, size_t cap, uint64_t h)
{
	if (!cap)
		return 0;
	size_t j = (size_t)(h >> 7) & (cap - 1);
	for (; set[j]; j = (j + 1) & (cap - 1))
		if (set[j] == h)
			return 1;
	return 0;
}

static uint64_t khash(const char *k, size_t n)
{
	return coco_fp_bytes(k, n).lo | 1;
}

int coco_owners_open(coco_owners *w, coco_state *st, char **err)
{
	coco_iter *it = coco_state_iter(st, COCO_CF_OWNER, NULL, 0);
	const char *k, *v;
	size_t kn, vn;
	int rc = coco_iter_next(it, &k, &kn, &v, &vn, err);
	coco_iter_destroy(it);
	w->fresh = rc == 0;
	return rc < 0 ? -1 : 0;
}

coco_owners *coco_owners_create(const coco_graph *g)
{
	coco_owners *w = coco_xcalloc(1, sizeof *w);
	w->g = g;
	return w;
}

void coco_owners_reset(coco_owners *w)
{
	if (w->n)
		memset(w->slot, 0, w->cap * sizeof *w->slot);
	w->n = 0;
	w->dirty = 0;
	coco_arena_reset(&w->a);
}

void coco_owners_destroy(coco_owners *w)
{
	if (!w)
		return;
	coco_arena_destroy(&w->a);
	free(w->slot);
	free(w->warned);
	free(w->put);
	coco_buf_free(&w->k);
	coco_buf_free(&w->v);
	free(w);
}

static void okey(coco_buf *b, const char *rid, const char *tkey, size_t ntkey)
{
	coco_buf_clear(b);
	uint64_t h = coco_fp_bytes(rid, strlen(rid)).lo;
	coco_buf_u64(b, h);
	coco_buf_add(b, tkey, ntkey);
}

static int decode(coco_owners *w, coco_oent *e, const char *p, size_t n)
{
	coco_rd r = { (const unsigned char *)p, (const unsigned char *)p + n };
	uint64_t cnt, len;
	if (coco_rd_varint(&r, &cnt) || cnt > n)
		return -1;
	for (uint64_t i = 0; i < cnt; i++) {
		coco_owner o;
		if (coco_rd_varint(&r, &len) || coco_rd_bytes(&r, (size_t)len, &o.src))
			return -1;
		o.nsrc = (size_t)len;
		if (coco_rd_varint(&r, &len) || coco_rd_bytes(&r, (size_t)len, &o.key))
			return -1;
		o.nkey = (size_t)len;
		e->o = coco_arena_grow(&w->a, e->o, e->n, &e->cap, sizeof *e->o);
		e->o[e->n++] = o;
	}
	return 0;
}

static void encode(const coco_oent *e, coco_buf *b)
{
	coco_buf_clear(b);
	coco_buf_varint(b, e->n);
	for (size_t i = 0; i < e->n; i++) {
		coco_buf_varint(b, e->o[i].nsrc);
		coco_buf_add(b, e->o[i].src, e->o[i].nsrc);
		coco_buf_varint(b, e->o[i].nkey);
		coco_buf_add(b, e->o[i].key, e->o[i].nkey);
	}
}

static size_t slot_of(const coco_owners *w, const char *k, size_t n)
{
	return (size_t)coco_fp_bytes(k, n).lo & (w->cap - 1);
}

coco_oent *coco_owners_get(coco_owners *w, coco_state *st, const char *rid, const char *tkey,
	size_t ntkey, char **err)
{
	okey(&w->k, rid, tkey, ntkey);
	if ((w->n + 1) * 2 > w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 256;
		coco_oent **ns = coco_xcalloc(nc, sizeof *ns);
		coco_oent **old = w->slot;
		size_t oc = w->cap;
		w->slot = ns;
		w->cap = nc;
		for (size_t i = 0; i < oc; i++)
			if (old[i]) {
				size_t j = slot_of(w, old[i]->okey, old[i]->nokey);
				while (w->slot[j])
					j = (j + 1) & (nc - 1);
				w->slot[j] = old[i];
			}
		free(old);
	}
	size_t j = slot_of(w, w->k.p, w->k.n);
	for (; w->slot[j]; j = (j + 1) & (w->cap - 1))
		if (w->slot[j]->nokey == w->k.n && !memcmp(w->slot[j]->okey, w->k.p, w->k.n))
			return w->slot[j];
	coco_oent *e = coco_arena_alloc(&w->a, sizeof *e);
	e->okey = coco_arena_strndup(&w->a, w->k.p, w->k.n);
	e->nokey = w->k.n;
	int got = w->fresh && !hset_has(w->put, w->pcap, khash(w->k.p, w->k.n)) ? 0 :
		coco_state_get(st, COCO_CF_OWNER, w->k.p, w->k.n, &w->v, err);
	if (got < 0)
		return NULL;
	if (got == 1) {
		const char *rec = coco_arena_strndup(&w->a, w->v.p, w->v.n);
		if (decode(w, e, rec, w->v.n))
			e->n = 0;               /* corrupt: as if none */
	}
	w->slot[j] = e;
	w->n++;
	return e;
}

long coco_oent_find(const coco_oent *e, const char *src, const char *key, size_t nkey)
{
	size_t ns = strlen(src);
	for (size_t i = 0; i < e->n; i++)
		if (e->o[i].nsrc == ns && e->o[i].nkey == nkey && !memcmp(e->o[i].src, src, ns) &&
		    !memcmp(e->o[i].key, key, nkey))
			return (long)i;
	return -1;
}

void coco_oent_add(coco_owners *w, coco_oent *e, const char *src, const char *key, size_t nkey)
{
	coco_owner o = { coco_arena_strdup(&w->a, src), coco_arena_strndup(&w->a, key, nkey),
		strlen(src), nkey };
	e->o = coco_arena_grow(&w->a, e->o, e->n, &e->cap, sizeof *e->o);
	e->o[e->n++] = o;
	e->dirty = w->dirty = 1;
}

void coco_oent_remove(coco_owners *w, coco_oent *e, size_t i)
{
	memmove(&e->o[i], &e->o[i + 1], (e->n - i - 1) * sizeof *e->o);
	e->n--;
	e->dirty = w->dirty = 1;
}

/* The source's place in the flow; sources that left it come last. */
static size_t rank(const coco_graph *g, const coco_owner *o)
{
	size_t ns = coco_graph_nsources(g);
	for (size_t i = 0; i < ns; i++) {
		const char *name = coco_graph_source(g, i)->name;
		if (strlen(name) == o->nsrc && !memcmp(name, o->src, o->nsrc))
			return i;
	}
	return ns;
}

/* <0 when a beats b. */
static int owner_cmp(const coco_graph *g, const coco_owner *a, const coco_owner *b)
{
	size_t ra = rank(g, a), rb = rank(g, b);
	if (ra != rb)
		return ra < rb ? -1 : 1;
	int c = memcmp(a->key, b->key, a->nkey < b->nkey ? a->nkey : b->nkey);
	if (c)
		return c;
	return a->nkey < b->nkey ? -1 : a->nkey > b->nkey;
}

size_t coco_oent_winner(const coco_owners *w, const coco_oent *e)
{
	size_t best = 0;
	for (size_t i = 1; i < e->n; i++)
		if (owner_cmp(w->g, &e->o[i], &e->o[best]) < 0)
			best = i;
	return best;
}

size_t coco_oent_runner_up(const coco_owners *w, const coco_oent *e, size_t skip)
{
	size_t best = skip ? 0 : 1;
	for (size_t i = 0; i < e->n; i++)
		if (i != skip && owner_cmp(w->g, &e->o[i], &e->o[best]) < 0)
			best = i;
	return best;
}

int coco_owners_dirty(const coco_owners *w) { return w->dirty; }

void coco_owners_stage(coco_owners *w, coco_batch *b)
{
	for (size_t i = 0; i < w->cap && w->dirty; i++) {
		coco_oent *e = w->slot[i];
		if (!e || !e->dirty)
			continue;
		if (!e->n) {
			coco_batch_del(b, COCO_CF_OWNER, e->okey, e->nokey);
			continue;
		}
		encode(e, &w->v);
		coco_batch_put(b, COCO_CF_OWNER, e->okey, e->nokey, w->v.p, w->v.n);
		if (w->fresh && w->pn < FRESH_MAX)
			hset_add(&w->put, &w->pcap, &w->pn, khash(e->okey, e->nokey));
		else if (w->fresh) {
			w->fresh = 0;             /* too many to keep: read state */
			free(w->put);
			w->put = NULL;
			w->pcap = w->pn = 0;
		}
	}
	coco_owners_reset(w);
}

int coco_owners_first_warning(coco_owners *w, const char *rid, const char *tkey, size_t ntkey)
{
	okey(&w->k, rid, tkey, ntkey);
	uint64_t h = coco_fp_bytes(w->k.p, w->k.n).lo | 1;
	if ((w->wn + 1) * 2 > w->wcap) {
		size_t nc = w->wcap ? w->wcap * 2 : 64;
		uint64_t *ns = coco_xcalloc(nc, sizeof *ns);
		for (size_t i = 0; i < w->wcap; i++)
			if (w->warned[i]) {
				size_t j = (size_t)(w->warned[i] >> 7) & (nc - 1);
				while (ns[j])
					j = (j + 1) & (nc - 1);
				ns[j] = w->warned[i];
			}
		free(w->warned);
		w->warned = ns;
		w->wcap = nc;
	}
	size_t j = (size_t)(h >> 7) & (w->wcap - 1);
	for (; w->warned[j]; j = (j + 1) & (w->wcap - 1))
		if (w->warned[j] == h)
			return 0;
	w->warned[j] = h;
	w->wn++;
	return 1;
}

void coco_owners_new_update(coco_owners *w)
{
	if (w->wn)
		memset(w->warned, 0, w->wcap * sizeof *w->warned);
	w->wn = 0;
}

int coco_owners_forget(coco_state *st, const char *rid, coco_batch *b, char **err)
{
	coco_buf mk = {0};
	meta_key(&mk, rid);
	coco_batch_del(b, COCO_CF_META, mk.p, mk.n);
	coco_buf_free(&mk);
	uint64_t h = coco_fp_bytes(rid, strlen(rid)).lo;
	coco_buf p = {0};
	coco_buf_u64(&p, h);
	coco_iter *it = coco_state_iter(st, COCO_CF_OWNER, p.p, p.n);
	const char *k, *v;
	size_t kn, vn;
	int rc;
	while ((rc = coco_iter_next(it, &k, &kn, &v, &vn, err)) == 1)
		coco_batch_del(b, COCO_CF_OWNER, k, kn);
	coco_iter_destroy(it);
	coco_buf_free(&p);
	return rc < 0 ? -1 : 0;
}

/* ---- which targets keep owner records ------------------------------------ */
/* meta "owners\0<rid>" present: target rid has owner records for every
 * key lineage names (absent: none are kept, its export's keys are unique). */
static void meta_key(coco_buf *b, const char *rid)
{
	coco_buf_clear(b);
	coco_buf_add(b, "owners", 7);
	coco_buf_adds(b, rid);
}

typedef struct pair {
	const char *okey, *owner;     /* owner: the encoded (source, key) entry */
	size_t nokey, nowner;
} pair;

static int pair_cmp(const void *pa, const void *pb)
{
	const pair *a = pa, *b = pb;
	return coco_bytes_cmp(a->okey, a->nokey, b->okey, b->nokey);
}

/* By key, then owner (an owner named twice, committed and staged, once). */
static int pair_cmp2(const void *pa, const void *pb)
{
	const pair *a = pa, *b = pb;
	int c = pair_cmp(pa, pb);
	return c ? c : coco_bytes_cmp(a->owner, a->nowner, b->owner, b->nowner);
}

/* Records for the targets in need[0..n) built from lineage, into b. */
static int build(coco_state *st, const char *const *need, size_t n, coco_batch *b, char **err)
{
	coco_arena a = {0};
	coco_buf kb = {0}, ob = {0};
	pair *ps = NULL;
	size_t np = 0, cap = 0;
	const char *k, *val;
	size_t kn, vn;
	int rc;
	coco_iter *it = coco_state_iter(st, COCO_CF_LINEAGE, NULL, 0);
	while ((rc = coco_iter_next(it, &k, &kn, &val, &vn, err)) == 1) {
		size_t sl = strnlen(k, kn);
		if (sl == kn)
			continue;
		const char *rec = coco_arena_strndup(&a, val, vn);
		lineage l;                /* its keys, staged or not */
		if (lin_decode(rec, vn, &a, &l))
			continue;
		coco_buf_clear(&ob);
		coco_buf_varint(&ob, sl);
		coco_buf_add(&ob, k, sl);
		coco_buf_varint(&ob, kn - sl - 1);
		coco_buf_add(&ob, k + sl + 1, kn - sl - 1);
		const char *owner = NULL;
		for (size_t i = 0; i < l.n; i++) {
			size_t j = 0;
			while (j < n && !(strlen(need[j]) == l.k[i].nexp &&
			       !memcmp(need[j], l.k[i].exp, l.k[i].nexp)))
				j++;
			if (j == n)
				continue;
			if (!owner)
				owner = coco_arena_strndup(&a, ob.p, ob.n);
			okey(&kb, need[j], l.k[i].key, l.k[i].nkey);
			if (np == cap) {
				cap = cap ? cap * 2 : 1024;
				ps = coco_xrealloc(ps, cap * sizeof *ps);
			}
			ps[np++] = (pair){ coco_arena_strndup(&a, kb.p, kb.n), owner, kb.n, ob.n };
		}
	}
	coco_iter_destroy(it);
	if (rc == 0) {
		if (np)
			qsort(ps, np, sizeof *ps, pair_cmp2);
		for (size_t i = 0; i < np;) {
			size_t j = i, nown = 0;
			while (j < np && !pair_cmp(&ps[i], &ps[j]))
				nown += j == i || pair_cmp2(&ps[j - 1], &ps[j]), j++;
			coco_buf_clear(&ob);
			coco_buf_varint(&ob, nown);
			for (size_t m = i; m < j; m++)
				if (m == i || pair_cmp2(&ps[m - 1], &ps[m]))
					coco_buf_add(&ob, ps[m].owner, ps[m].nowner);
			coco_batch_put(b, COCO_CF_OWNER, ps[i].okey, ps[i].nokey, ob.p, ob.n);
			i = j;
		}
	}
	free(ps);
	coco_buf_free(&kb);
	coco_buf_free(&ob);
	coco_arena_destroy(&a);
	return rc < 0 ? -1 : 0;
}

int coco_owners_sync(coco_state *st, const char *const *rids, int *unique, size_t n, char **err)
{
	coco_batch *b = coco_batch_create();
	coco_buf mk = {0}, v = {0};
	const char **need = coco_xcalloc(n + 1, sizeof *need);
	size_t nneed = 0;
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		meta_key(&mk, rids[i]);
		int got = coco_state_get(st, COCO_CF_META, mk.p, mk.n, &v, err);
		if (got < 0)
			rc = -1;
		else if (got)
			unique[i] = 0;    /* kept until the target is emptied: rows of the
			                     flow before may still share keys */
		else if (!unique[i]) {
			need[nneed++] = rids[i];
			coco_batch_put(b, COCO_CF_META, mk.p, mk.n, "1", 1);
		}
	}
	if (!rc && nneed)
		rc = build(st, need, nneed, b, err);
	if (!rc && coco_batch_count(b))
		rc = coco_state_write(st, b, 0, err);
	free(need);
	coco_buf_free(&mk);
	coco_buf_free(&v);
	coco_batch_destroy(b);
	return rc;
}

/* ---- dump ----------------------------------------------------------------- */
int coco_owners_dump(coco_state *st, coco_buf *out, char **err)
{
	coco_owners w = {0};
	coco_iter *it = coco_state_iter(st, COCO_CF_OWNER, NULL, 0);
	const char *k, *v;
	size_t kn, vn;
	int rc;
	while ((rc = coco_iter_next(it, &k, &kn, &v, &vn, err)) == 1) {
		coco_arena_reset(&w.a);
		coco_oent e = {0};
		if (kn < 8 || decode(&w, &e, v, vn))
			continue;
		for (size_t i = 0; i < e.n; i++) {
			coco_buf_adds(out, "O\t");
			for (size_t j = 0; j < 8; j++)
				coco_buf_printf(out, "%02x", (unsigned char)k[j]);
			coco_buf_putc(out, '\t');
			coco_dump_key(k + 8, kn - 8, &w.a, out);
			coco_buf_printf(out, "\t%.*s\t", (int)e.o[i].nsrc, e.o[i].src);
			coco_dump_key(e.o[i].key, e.o[i].nkey, &w.a, out);
			coco_buf_putc(out, '\n');
		}
	}
	coco_iter_destroy(it);
	coco_arena_destroy(&w.a);
	return rc < 0 ? -1 : 0;
}

/* ---- the indexer's side: a row's target keys and their owners ------------ */
/* The target key as JSON, named by the export's key fields. */
static void tkey_json(const coco_gexport *xp, const char *tkey, size_t n, coco_arena *a, coco_buf *out)
{
	coco_value k;
	const char *p = tkey;
	if (coco_value_decode(&p, tkey + n, a, &k) || k.kind != COCO_STRUCT) {
		coco_buf_adds(out, "?");
		return;
	}
	if (k.n == 1 && k.u.fields[0].kind == COCO_STR) {
		coco_buf_add(out, k.u.fields[0].u.s, k.u.fields[0].n);
		return;
	}
	coco_buf_putc(out, '{');
	for (uint32_t i = 0; i < k.n && i < xp->info.row_type->nfields; i++) {
		const coco_field *f = &xp->info.row_type->fields[i];
		if (i)
			coco_buf_putc(out, ',');
		coco_json_str(out, f->name, strlen(f->name));
		coco_buf_putc(out, ':');
		coco_value_to_json(&k.u.fields[i], f->type, out);
	}
	coco_buf_putc(out, '}');
}

static void owner_text(const coco_owner *o, coco_arena *a, coco_buf *out)
{
	coco_value k;
	const char *p = o->key;
	coco_buf_add(out, o->src, o->nsrc);
	coco_buf_putc(out, ' ');
	if (coco_value_decode(&p, o->key + o->nkey, a, &k))
		coco_buf_adds(out, "?");
	else
		key_text(&k, out);
}

/* Two rows collect key k of export x: a warning naming this row and the
 * other one, and the winner among e's owners, once per update for each key. */
static void owner_warn(run *r, done_row *d, size_t x, const lkey *k, const coco_owner *other,
	const coco_oent *e)
{
	if (!coco_owners_first_warning(r->own, r->rids[x], k->key, k->nkey))
		return;
	r->stats->warnings++;
	if (!r->o->on_warning)
		return;
	const coco_gexport *xp = coco_graph_export_at(r->g, x);
	coco_arena a = {0};
	coco_buf msg = {0}, kt = {0};
	coco_value key;
	const char *p = d->it->key;
	if (coco_value_decode(&p, d->it->key + d->it->nkey, &a, &key))
		coco_buf_adds(&kt, "?");
	else
		key_text(&key, &kt);
	coco_buf_printf(&msg, "export '%s': %s %s and ", xp->name, r->src->name, kt.p);
	owner_text(other, &a, &msg);
	coco_buf_adds(&msg, " collect the same target key ");
	tkey_json(xp, k->key, k->nkey, &a, &msg);
	coco_buf_adds(&msg, "; the target holds the row of ");
	owner_text(&e->o[coco_oent_winner(r->own, e)], &a, &msg);
	coco_buf_adds(&msg, " (the first source in flow order, then the smallest key)");
	r->o->on_warning(r->o->ud, r->src->name, kt.p, msg.p);
	coco_buf_free(&msg);
	coco_buf_free(&kt);
	coco_arena_destroy(&a);
}

/* Row d writes key k of export x (new, or a new value): whether the
 * target gets its row (it owns the key, or wins it), recorded in k->win. */
int owner_put(run *r, done_row *d, size_t x, lkey *k)
{
	if (k->win)
		return k->win == 1;
	k->win = 1;
	if (r->unique[x])
		return 1;
	coco_oent *e = coco_owners_get(r->own, r->st, r->rids[x], k->key, k->nkey, NULL);
	if (!e)
		return 1;                 /* state unreadable: written, as without owners */
	long i = coco_oent_find(e, r->src->name, d->it->key, d->it->nkey);
	if (i < 0) {
		coco_oent_add(r->own, e, r->src->name, d->it->key, d->it->nkey);
		i = (long)e->n - 1;
	}
	if (e->n == 1)
		return 1;
	size_t w = coco_oent_winner(r->own, e);
	owner_warn(r, d, x, k, &e->o[w == (size_t)i ? coco_oent_runner_up(r->own, e, (size_t)i) : w], e);
	if (w != (size_t)i)
		k->win = 2;
	return k->win == 1;
}

/* The row owner o collects under key (x, tkey) now: its source row read
 * and evaluated again (a winner left a key others collect: rare). 1 with
 * *row (memory of the batch), 0 when it no longer collects it (gone,
 * changed, failed, or its source left the flow). */
static int owner_value(run *r, const coco_owner *o, size_t x, const char *tkey, size_t ntkey,
	coco_value *row)
{
	const coco_graph *g = r->g;
	size_t ns = coco_graph_nsources(g), si = 0;
	while (si < ns && !(strlen(coco_graph_source(g, si)->name) == o->nsrc &&
	       !memcmp(coco_graph_source(g, si)->name, o->src, o->nsrc)))
		si++;
	if (si == ns || !r->srcs || !r->srcs[si])
		return 0;
	const coco_gsource *s = coco_graph_source(g, si);
	coco_arena *a = &r->rowa;
	coco_value key, in;
	const char *kp = o->key;
	if (coco_value_decode(&kp, o->key + o->nkey, a, &key))
		return 0;
	coco_buf ord = {0};
	char *e = NULL;
	int rr = s->ops->read(r->srcs[si], &key, a, &in, &ord, &e);
	coco_buf_free(&ord);
	free(e);
	e = NULL;
	if (rr < 0 || rr == 1)
		return 0;
	size_t nx = coco_graph_nexports(g);
	coco_rows *out = coco_arena_alloc(a, (nx + 1) * sizeof *out);
	coco_exec_stats xs = {0};
	if (coco_exec_row(g, si, &in, a, &r->memo_ops, out, &xs, &e)) {
		free(e);
		return 0;
	}
	const coco_gexport *xp = coco_graph_export_at(g, x);
	int found = 0;
	for (size_t i = 0; i < out[x].n; i++) {
		coco_value k = key_of(&out[x].rows[i], xp->info.nkeys);
		coco_buf_clear(&r->tmp);
		coco_value_encode(&k, &r->tmp);
		if (r->tmp.n == ntkey && !memcmp(r->tmp.p, tkey, ntkey)) {
			*row = out[x].rows[i];   /* the same key twice in a row: the last one */
			found = 1;
		}
	}
	return found;
}

/* Row d no longer collects key k of export x: 0 the target row is
 * deleted (no one else collects it), 1 nothing to write (another row's),
 * 2 the next owner's row *row is written. */
int owner_del(run *r, done_row *d, size_t x, const lkey *k, coco_value *row)
{
	if (r->unique[x])
		return 0;
	coco_oent *e = coco_owners_get(r->own, r->st, r->rids[x], k->key, k->nkey, NULL);
	if (!e)
		return 0;
	long i = coco_oent_find(e, r->src->name, d->it->key, d->it->nkey);
	/* not an owner: nothing to do, unless the key is staged: a run killed
	 * after it recorded the hand-over may not have written the next
	 * owner's row, which is written again */
	if (i < 0 && !(e->n && k->staged))
		return e->n ? 1 : 0;
	if (i >= 0) {
		size_t w = coco_oent_winner(r->own, e);
		size_t other = e->n > 1 ? (w == (size_t)i ? coco_oent_runner_up(r->own, e, (size_t)i) : w) : 0;
		coco_owner o = e->o[other];
		int shared = e->n > 1;
		/* a row of a source that left the flow ranks last now, yet the
		 * target may hold it (it won in the flow before): the winner's
		 * row is written again */
		int left = rank(r->g, &e->o[i]) == coco_graph_nsources(r->g);
		coco_oent_remove(r->own, e, (size_t)i);
		if (shared)
			owner_warn(r, d, x, k, &o, e);
		if ((size_t)i != w && !left)
			return 1;
	}
	while (e->n) {
		size_t nw = coco_oent_winner(r->own, e);
		if (owner_value(r, &e->o[nw], x, k->key, k->nkey, row))
			return 2;
		coco_oent_remove(r->own, e, nw);
	}
	return 0;
}
