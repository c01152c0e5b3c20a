/* The pass's view of a source: its items in key order, the listing
 * (sorted in bounded memory, listing.h) merged with the tracked rows read
 * from a snapshot, a window at a time (cursor_fill); list_items, a whole
 * listing sorted in memory (evaluate.c). Moved out of indexer.c, which
 * walks the view; the cursor's contract is atop its struct in
 * indexer_int.h. */
#include "engine/indexer_int.h"
#include "engine/listing.h"
#include "engine/sys.h"

#include <stdlib.h>
#include <string.h>

void items_push(items *it, const item *x)
{
	if (it->n == it->cap) {
		size_t nc = it->cap ? it->cap * 2 : 1024;
		item *nv = realloc(it->v, nc * sizeof *nv);
		if (!nv)
			abort();
		it->v = nv;
		it->cap = nc;
	}
	it->v[it->n++] = *x;
}

static int list_cb(void *ud, const coco_value *key, const void *ord, size_t nord)
{
	items *it = ud;
	coco_buf_clear(&it->tmp);
	coco_value_encode(key, &it->tmp);
	item x = {0};
	x.key = coco_arena_strndup(it->a, it->tmp.p, it->tmp.n);
	x.nkey = it->tmp.n;
	x.ord = coco_arena_strndup(it->a, ord, nord);
	x.nord = nord;
	items_push(it, &x);
	return 0;
}

static int item_cmp(const void *pa, const void *pb)
{
	const item *a = pa, *b = pb;
	return coco_bytes_cmp(a->key, a->nkey, b->key, b->nkey);
}

/* Sorts items by key, keeping one of equal keys. */
void items_sort_unique(items *it)
{
	if (it->n)
		qsort(it->v, it->n, sizeof *it->v, item_cmp);
	size_t w = 0;
	for (size_t i = 0; i < it->n; i++)
		if (!w || item_cmp(&it->v[w - 1], &it->v[i]))
			it->v[w++] = it->v[i];
	it->n = w;
}

/* Lists source s, sorted, one item a key (indexer_int.h). */
int list_items(const coco_gsource *s, void *src, items *it, char **err)
{
	char *e = NULL;
	if (s->ops->list(src, list_cb, it, &e)) {
		coco_seterr(err, "%s: %s", s->name, e ? e : "listing failed");
		free(e);
		return -1;
	}
	items_sort_unique(it);
	return 0;
}

void cursor_init(cursor *c, coco_state *st, const char *name)
{
	memset(c, 0, sizeof *c);
	c->on = 1;
	c->st = st;
	c->snap = coco_state_snapshot(st);
	c->name = coco_strdup(name);
}

void cursor_free(cursor *c)
{
	if (c->st)
		coco_state_release(c->st, c->snap);
	coco_listing_destroy(c->l);
	free(c->name);
	coco_buf_free(&c->last);
	coco_buf_free(&c->tmp);
	free(c->err);
	memset(c, 0, sizeof *c);
}

static int listing_cb(void *ud, const coco_value *key, const void *ord, size_t nord)
{
	cursor *c = ud;
	coco_buf_clear(&c->tmp);
	coco_value_encode(key, &c->tmp);
	return coco_listing_add(c->l, c->tmp.p, c->tmp.n, ord, nord, &c->err);
}

/* Lists source s into c, sorted (the tracked rows are read as the pass
 * goes). Runs on a helper thread in live mode. */
int gather(const coco_gsource *s, void *src, coco_state *st, cursor *c, char **err)
{
	cursor_init(c, st, s->name);
	c->l = coco_listing_create(coco_state_dir(st), 0);
	char *e = NULL;
	if (s->ops->list(src, listing_cb, c, &e) || c->err) {
		coco_seterr(err, "%s: %s", s->name, c->err ? c->err : e ? e : "listing failed");
		free(e);
		return -1;
	}
	c->listed = coco_listing_count(c->l);
	if (coco_listing_finish(c->l, &e) ||
	    (c->lrc = coco_listing_next(c->l, &c->lk, &c->nlk, &c->lo, &c->nlo, &e)) < 0) {
		coco_seterr(err, "%s: %s", s->name, e ? e : "listing failed");
		free(e);
		return -1;
	}
	return 0;
}

int cursor_end(const cursor *c) { return !c->on || (c->lrc != 1 && c->tdone); }

/* The pass's next items, at most WINDOW, into w (emptied first, its arena
 * reset): listed ones with their tracking record if any, tracked ones
 * that were not listed (ord NULL). */
int cursor_fill(cursor *c, items *w, char **err)
{
	w->n = 0;
	coco_arena_reset(w->a);
	coco_iter *it = NULL;
	const char *tk = NULL, *tv = NULL;
	size_t plen = 0, ntk = 0, ntv = 0;
	int trc = 0, rc = 0;
	if (!c->tdone) {
		it = row_iter(c->st, c->snap, COCO_CF_TRACKING, c->name, &plen);
		if (c->last.n) {
			/* the least key after the last one taken: it and a 0 byte */
			coco_buf_clear(&c->tmp);
			coco_buf_add(&c->tmp, c->last.p, c->last.n);
			coco_buf_putc(&c->tmp, 0);
			coco_iter_seek(it, c->tmp.p, c->tmp.n);
		}
		trc = coco_iter_next(it, &tk, &ntk, &tv, &ntv, err);
	}
	while (w->n < WINDOW && trc >= 0 && (c->lrc == 1 || trc == 1)) {
		int cmp = c->lrc != 1 ? 1 : trc != 1 ? -1 :
			coco_bytes_cmp(c->lk, c->nlk, tk + plen, ntk - plen);
		item x = {0};
		if (cmp <= 0) {
			x.key = coco_arena_strndup(w->a, c->lk, c->nlk);
			x.nkey = c->nlk;
			x.ord = coco_arena_strndup(w->a, c->lo, c->nlo);
			x.nord = c->nlo;
		}
		if (cmp >= 0) {
			if (cmp > 0) {
				x.key = coco_arena_strndup(w->a, tk + plen, ntk - plen);
				x.nkey = ntk - plen;
			}
			x.trk = coco_arena_strndup(w->a, tv, ntv);
			x.ntrk = ntv;
			coco_buf_clear(&c->last);
			coco_buf_add(&c->last, tk, ntk);
			trc = coco_iter_next(it, &tk, &ntk, &tv, &ntv, err);
		}
		if (cmp <= 0) {
			char *e = NULL;
			c->lrc = coco_listing_next(c->l, &c->lk, &c->nlk, &c->lo, &c->nlo, &e);
			if (c->lrc < 0) {
				coco_seterr(err, "%s: %s", c->name, e ? e : "listing failed");
				free(e);
				rc = -1;
				break;
			}
		}
		items_push(w, &x);
		c->seen++;
	}
	if (trc < 0)
		rc = -1;
	else if (trc == 0)
		c->tdone = 1;
	coco_iter_destroy(it);
	return rc;
}

/* The item a batch row keeps, with tracking record trk (NULL: untracked),
 * copied into the batch's memory: the window it came from is reused for
 * the next items. */
const item *item_keep(coco_arena *a, const item *x, const coco_buf *trk)
{
	item *k = coco_arena_alloc(a, sizeof *k);
	*k = *x;
	k->key = coco_arena_strndup(a, x->key, x->nkey);
	if (x->ord)
		k->ord = coco_arena_strndup(a, x->ord, x->nord);
	k->trk = trk ? coco_arena_strndup(a, trk->p ? trk->p : "", trk->n) : NULL;
	k->ntrk = trk ? trk->n : 0;
	return k;
}
