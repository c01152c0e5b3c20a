/* The indexer: list, diff, process, commit. See indexer.h. */
#include "engine/indexer_int.h"
#include "engine/listing.h"
#include "engine/sys.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

void key_text(const coco_value *key, coco_buf *out)
{
	if (key->kind == COCO_STR)
		coco_buf_add(out, key->u.s, key->n);
	else
		coco_value_to_json(key, NULL, out);
}

/* Through on_error or on_warning (cb, when set): source, key as text
 * (key NULL: "?"), message. */
static void row_report(const coco_update_opts *o,
	void (*cb)(void *ud, const char *source, const char *key, const char *msg),
	const coco_gsource *s, const coco_value *key, const char *msg)
{
	if (!cb)
		return;
	coco_buf kt = {0};
	if (key)
		key_text(key, &kt);
	cb(o->ud, s->name, kt.p ? kt.p : "?", msg);
	coco_buf_free(&kt);
}

void key_error(const coco_update_opts *o, const coco_gsource *s, coco_source_stats *stats,
	const coco_value *key, const char *msg)
{
	stats->errors++;
	if (o)
		row_report(o, o->on_error, s, key, msg);
}

void row_error(run *r, const coco_gsource *s, coco_source_stats *stats, const item *it,
	const char *msg)
{
	coco_arena a = {0};
	coco_value key;
	const char *p = it->key;
	int bad = coco_value_decode(&p, it->key + it->nkey, &a, &key);
	key_error(r->o, s, stats, bad ? NULL : &key, msg);
	coco_arena_destroy(&a);
}

/* A row read with a warning (read() returned 2): counted, reported, and
 * processed all the same. */
void row_warning(const coco_update_opts *o, const coco_gsource *s,
	coco_source_stats *stats, const coco_value *key, const char *msg)
{
	stats->warnings++;
	if (o)
		row_report(o, o->on_warning, s, key, msg);
}

static int load_lineage(run *r, const coco_gsource *s, const item *it, lineage *l)
{
	memset(l, 0, sizeof *l);
	if (!it->trk)
		return 0;
	int rc = row_get(r->st, COCO_CF_LINEAGE, s->name, it->key, it->nkey, &r->tmp, &r->vbuf, r->err);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return 0;
	/* decoded keys point into the record: keep it in the batch arena, as
	 * vbuf is reused for the next row and by flush() */
	const char *rec = coco_arena_strndup(&r->rowa, r->vbuf.p, r->vbuf.n);
	if (lin_decode(rec, r->vbuf.n, &r->rowa, l))
		memset(l, 0, sizeof *l);   /* corrupt: forget, rows will be rewritten */
	return 0;
}

/* Evaluate row d (read already), diff its output against its lineage and
 * queue the target writes. Returns 0, or -1 after a row error (d->kind
 * becomes ROW_FAILED). pass: 0 plain, 2 the second pass of a batch. */
static int evaluate(run *r, size_t si, const coco_gsource *s, coco_source_stats *stats,
	done_row *d, coco_rows *out, pending *p, coco_exec_stats *xs, int pass)
{
	char *e = NULL;
	coco_buf_clear(&r->memo.used);
	if (coco_exec_row_batch(r->g, si, &d->row, &r->rowa, &r->memo_ops, pass ? r->xb : NULL, 0,
		out, xs, &e)) {
		row_error(r, s, stats, d->it, e ? e : "evaluation failed");
		free(e);
		d->kind = ROW_FAILED;
		return -1;
	}
	d->kind = ROW_PROCESSED;
	d->lin.nmemo = r->memo.used.n / 32;
	d->lin.memo = coco_arena_strndup(&r->rowa, r->memo.used.p ? r->memo.used.p : "", r->memo.used.n);
	if (r->sweeper)
		for (size_t i = 0; i + 32 <= r->memo.used.n; i += 32)
			kset_add(&r->swept_used, coco_arena_strndup(&r->swept_keys, r->memo.used.p + i, 32));
	diff_rows(r, d, &d->oldl, out, r->o->reexport, p);
	memo_dirty(r);
	(*processed_counter(stats, d))++;
	return 0;
}

/* The rows of a batch deferred for batch evaluation: pass one records the
 * batchable calls, they are made together, pass two evaluates. */
static int evaluate_batch(run *r, size_t si, const coco_gsource *s, coco_source_stats *stats,
	done_row *done, size_t ndone, coco_rows *out, pending *p, coco_exec_stats *xs)
{
	for (size_t i = 0; i < ndone; i++) {
		done_row *d = &done[i];
		if (!d->deferred)
			continue;
		char *e = NULL;
		if (coco_exec_row_batch(r->g, si, &d->row, &r->rowa, &r->memo_ops, r->xb, 1, out, xs, &e)) {
			row_error(r, s, stats, d->it, e ? e : "evaluation failed");
			d->kind = ROW_FAILED;
			d->deferred = 0;
		}
		free(e);
	}
	if (coco_xbatch_resolve(r->xb, &r->rowa, &r->memo_ops, xs, r->err))
		return -1;
	for (size_t i = 0; i < ndone; i++)
		if (done[i].deferred) {
			done[i].deferred = 0;
			evaluate(r, si, s, stats, &done[i], out, p, xs, 2);
		}
	return 0;
}

enum { PASS_FULL, PASS_ORPHAN, PASS_KEYS };

/* Items for the keys change capture reported: each is read. */
static int gather_keys(run *r, const coco_gsource *s, const coco_value *keys, size_t n, items *it)
{
	for (size_t i = 0; i < n; i++) {
		item x = { .ord = "", .must_read = 1 };
		coco_buf_clear(&it->tmp);
		coco_value_encode(&keys[i], &it->tmp);
		x.key = coco_arena_strndup(it->a, it->tmp.p, it->tmp.n);
		x.nkey = it->tmp.n;
		items_push(it, &x);
	}
	items_sort_unique(it);
	for (size_t i = 0; i < it->n; i++) {
		item *x = &it->v[i];
		int got = row_get(r->st, COCO_CF_TRACKING, s->name, x->key, x->nkey, &r->tmp, &r->vbuf,
			r->err);
		if (got < 0)
			return -1;
		if (got == 1) {
			x->trk = coco_arena_strndup(it->a, r->vbuf.p, r->vbuf.n);
			x->ntrk = r->vbuf.n;
		}
	}
	return 0;
}

/* A pass stopped at its deadline (live slices), continued by the next
 * call for the same source: its items and where it got to. While the
 * items are gathered on a helper thread (threaded and not yet joined),
 * they belong to that thread; it sets `gathered` and writes r->efd when
 * done. */
typedef struct pass {
	size_t si;
	int mode;
	items it;                     /* the window (keys passes: every key) */
	coco_arena la;
	cursor c;                     /* where the next windows come from */
	size_t next;                  /* the next item of the window to process */
	uint64_t ndone;
	pthread_t th;
	int threaded, gathered, grc;
	char *gerr;
	const coco_gsource *s;
	void *src;
	coco_state *st;
	int efd;
} pass;

static void *gather_main(void *arg)
{
	pass *ps = arg;
	ps->grc = gather(ps->s, ps->src, ps->st, &ps->c, &ps->gerr);
	__atomic_store_n(&ps->gathered, 1, __ATOMIC_RELEASE);
	coco_efd_notify(ps->efd);
	return NULL;
}

/* Start gathering source s on a helper thread (signals blocked there, so
 * the host's handlers keep running on its own threads). -1: could not. */
static int gather_spawn(run *r, size_t si, int mode, const coco_gsource *s, void *src)
{
	pass *ps = coco_xcalloc(1, sizeof *ps);
	ps->si = si;
	ps->mode = mode;
	ps->it.a = &ps->la;
	ps->s = s;
	ps->src = src;
	ps->st = r->st;
	ps->efd = r->efd;
	int rc = coco_thread_start(&ps->th, gather_main, ps);
	if (rc) {
		free(ps);
		return -1;
	}
	ps->threaded = 1;
	r->pass = ps;
	return 0;
}

static void pass_free(pass *ps)
{
	if (!ps)
		return;
	if (ps->threaded)
		pthread_join(ps->th, NULL);
	free(ps->it.v);
	coco_buf_free(&ps->it.tmp);
	coco_arena_destroy(&ps->la);
	cursor_free(&ps->c);
	free(ps->gerr);
	free(ps);
}

/* One call of update_source: what its steps share. */
typedef struct pctx {
	run *r;
	size_t si;
	const coco_gsource *s;
	coco_source_stats *stats;
	void *src;
	int mode;
	coco_fp logic;                /* what tracking records (zero: an orphan pass) */
	int force;                    /* full_reprocess or reexport: no row is unchanged */
	int sliced;                   /* live slices: a deadline stops the pass at a batch boundary */
	int async;                    /* batches written on the writer thread */
	size_t max_rows, max_bytes;   /* where a batch is cut */
	items it;                     /* the window (keys passes: every key) */
	coco_arena la;                /* its memory */
	cursor cur;                   /* where the next windows come from */
	size_t first;                 /* the first item of this call */
	size_t fetched;               /* items before it were hinted to prefetch */
	uint64_t total, ndone_total;
	done_row *done;               /* the batch */
	size_t ndone;
	pending p;                    /* its target writes */
	coco_rows *out, *none;        /* a row's output; none: a deleted row's */
	coco_exec_stats xs;
	coco_buf ord;
} pctx;

/* Whether item x was committed (not staged) under this logic, with no
 * reprocessing forced: then the same content needs no evaluation. */
static int row_current(const pctx *c, int tracked, const trk *old)
{
	return tracked && !(old->flags & TRK_STAGED) && coco_fp_eq(old->logic, c->logic) && !c->force;
}

/* Whether item x (its tracking record decoded into old) is unchanged:
 * current, and listed with the ordinal tracking holds: it is not read. */
static int row_unchanged(const pctx *c, const item *x, int tracked, const trk *old)
{
	return x->ord && !x->must_read && row_current(c, tracked, old) && old->nord == x->nord &&
		!memcmp(old->ord, x->ord, x->nord);
}

/* Whether this process passes over item x of source src: always in
 * single-node mode; in cluster mode when it holds the row's partition
 * (the listing and the tracked rows of other partitions are another
 * worker's: neither read nor deleted here). */
static int item_owned(run *r, const char *src, const item *x)
{
	if (!r->st->ops->owns)
		return 1;
	row_key(&r->tmp, src, x->key, x->nkey);
	return coco_state_owns(r->st, r->tmp.p, r->tmp.n);
}

/* Hints a source with a prefetch hook (S3: concurrent GETs) at the keys of
 * the next max_rows items from i that pass_row() will read: not the
 * deleted ones, nor the unchanged ones. Returns the index after the last
 * item looked at. */
static size_t prefetch_next(const pctx *c, size_t i)
{
	coco_arena a = {0};
	coco_value *keys = coco_arena_alloc(&a, c->max_rows * sizeof *keys);
	size_t n = 0;
	for (; i < c->it.n && n < c->max_rows; i++) {
		const item *x = &c->it.v[i];
		trk old = {0};
		int tracked = x->trk && !trk_decode(x->trk, x->ntrk, &old);
		if (!x->ord || row_unchanged(c, x, tracked, &old) || !item_owned(c->r, c->s->name, x))
			continue;
		const char *kp = x->key;
		if (!coco_value_decode(&kp, x->key + x->nkey, &a, &keys[n]))
			n++;
	}
	if (n)
		c->s->ops->prefetch(c->src, keys, n);
	coco_arena_destroy(&a);
	return i;
}

/* Resumes the pass stopped before, or starts one and gathers its items
 * (a full pass of a live slice lists on a helper thread). 0, 1 while it
 * is still listing, -1 failed (r->err). */
static int pass_begin(pctx *c, const coco_value *keys, size_t nkeys)
{
	run *r = c->r;
	pass *ps = r->pass;
	if (ps && (ps->si != c->si || ps->mode != c->mode))
		return coco_seterr(r->err, "%s: another pass is in progress", c->s->name);
	if (!ps && c->mode == PASS_FULL && c->sliced && r->efd >= 0 && !c->s->ops->owner_thread_only &&
	    !gather_spawn(r, c->si, c->mode, c->s, c->src)) {
		/* listing on a helper thread: a small source is listed within the
		 * budget, and this call goes on; a large one, in a later call */
		ps = r->pass;
		double left = r->deadline - coco_now_ms();
		struct pollfd pfd = { .fd = r->efd, .events = POLLIN };
		uint64_t v;
		if (left > 0 && poll(&pfd, 1, (int)left) == 1 && read(r->efd, &v, sizeof v) < 0) {
			/* not ready after all: the next call */
		}
	}
	if (ps && ps->threaded) {
		if (!__atomic_load_n(&ps->gathered, __ATOMIC_ACQUIRE))
			return 1;
		pthread_join(ps->th, NULL);
		ps->threaded = 0;
	}
	if (ps) {
		r->pass = NULL;
		c->it = ps->it;
		c->la = ps->la;
		c->it.a = &c->la;
		c->cur = ps->c;
		c->first = ps->next;
		c->ndone_total = ps->ndone;
		int failed = ps->grc;
		if (failed)
			coco_seterr(r->err, "%s", ps->gerr ? ps->gerr : "listing failed");
		free(ps->gerr);
		free(ps);
		return failed ? -1 : 0;
	}
	if (c->mode == PASS_ORPHAN) {   /* a source that left the flow: every tracked row is deleted */
		cursor_init(&c->cur, r->st, c->s->name);
		return 0;
	}
	if (c->mode == PASS_KEYS)
		return gather_keys(r, c->s, keys, nkeys, &c->it);
	return gather(c->s, c->src, r->st, &c->cur, r->err);
}

/* Stops the pass before item i (its deadline): the items are kept for the
 * next call. */
static void pass_keep(pctx *c, size_t i)
{
	pass *kp = coco_xcalloc(1, sizeof *kp);
	kp->si = c->si;
	kp->mode = c->mode;
	kp->it = c->it;
	kp->la = c->la;
	kp->c = c->cur;
	kp->next = i;
	kp->ndone = c->ndone_total;
	c->r->pass = kp;
	memset(&c->it, 0, sizeof c->it);    /* kept, not freed */
	memset(&c->la, 0, sizeof c->la);
	memset(&c->cur, 0, sizeof c->cur);
}

/* Reads item x (listed) into *row, its ordinal into c->ord: 0 read, 1
 * gone, -1 a row error (reported). */
static int pass_read(pctx *c, const item *x, const coco_value *key, coco_value *row)
{
	run *r = c->r;
	char *e = NULL;
	coco_buf_clear(&c->ord);
	int rr = c->s->ops->read(c->src, key, &r->rowa, row, &c->ord, &e);
	if (rr < 0)
		row_error(r, c->s, c->stats, x, e ? e : "read failed");
	else if (rr == 2)
		row_warning(r->o, c->s, c->stats, key, e ? e : "read with a warning");
	free(e);
	return rr < 0 ? -1 : rr == 1;
}

/* Item i: skipped when unchanged; else read, and deleted, remembered
 * (same content), deferred to its batch, or evaluated; the batch grows by
 * one row unless skipped or failed. 0, or -1 (r->err). */
static int pass_row(pctx *c, size_t i)
{
	run *r = c->r;
	const item *x = &c->it.v[i];
	if (!item_owned(r, c->s->name, x))
		return 0;
	trk old = {0};
	int tracked = x->trk && !trk_decode(x->trk, x->ntrk, &old);
	if (x->ord && !x->must_read)
		c->stats->listed++;
	if (row_unchanged(c, x, tracked, &old)) {
		c->stats->unchanged++;
		return 0;
	}
	if (c->mode != PASS_KEYS) {
		/* the window holds the record as of the listing's start: the row
		 * goes on with its record as it is now. A row not listed whose
		 * record changed since (committed after the listing began) is
		 * not this pass's to delete. */
		int got = row_get(r->st, COCO_CF_TRACKING, c->s->name, x->key, x->nkey, &r->tmp,
			&r->vbuf, r->err);
		if (got < 0)
			return -1;
		if (!x->ord && (!got || r->vbuf.n != x->ntrk || memcmp(r->vbuf.p, x->trk, x->ntrk)))
			return 0;
		x = item_keep(&r->rowa, x, got ? &r->vbuf : NULL);
		tracked = x->trk && !trk_decode(x->trk, x->ntrk, &old);
	}
	done_row *d = &c->done[c->ndone];
	memset(d, 0, sizeof *d);
	d->it = x;
	d->idx = c->ndone;
	coco_value key, row;
	const char *kp = x->key;
	if (coco_value_decode(&kp, x->key + x->nkey, &r->rowa, &key)) {
		row_error(r, c->s, c->stats, x, "corrupt key in state");
		return 0;
	}
	int gone = x->ord ? pass_read(c, x, &key, &row) : 1;
	if (gone < 0)
		return 0;
	lineage oldl;
	if (load_lineage(r, c->s, x, &oldl))
		return -1;
	if (gone) {
		if (!tracked)
			return 0;               /* vanished between list and read */
		d->kind = ROW_DELETED;
		diff_rows(r, d, &oldl, c->none, 0, &c->p);
		memo_dirty(r);
		c->stats->deleted++;
		c->ndone++;
		return 0;
	}
	d->t.ord = coco_arena_strndup(&r->rowa, c->ord.p ? c->ord.p : "", c->ord.n);
	d->t.nord = c->ord.n;
	d->t.content = coco_fp_value(&row);
	if (row_current(c, tracked, &old) && coco_fp_eq(old.content, d->t.content)) {
		d->kind = ROW_UNCHANGED;    /* touched, same content: remember the new ordinal */
		c->stats->unchanged++;
		c->ndone++;
		return 0;
	}
	d->row = row;
	d->oldl = oldl;
	d->tracked = tracked;
	d->old = old;
	if (r->xb) {
		d->deferred = 1;            /* evaluated with its batch, before the flush */
		d->kind = ROW_PROCESSED;
		c->ndone++;
	} else if (!evaluate(r, c->si, c->s, c->stats, d, c->out, &c->p, &c->xs, 0)) {
		c->ndone++;
	}
	return 0;
}

/* The batch: its deferred rows evaluated, then staged here and handed to
 * the writer thread, or written here. 0, or -1 (r->err). */
static int pass_flush(pctx *c)
{
	run *r = c->r;
	double tf = coco_now_ms();
	if (r->xb && evaluate_batch(r, c->si, c->s, c->stats, c->done, c->ndone, c->out, &c->p, &c->xs))
		return -1;
	if (c->async) {
		/* staged here, while the batch before is still written */
		if (flush_stage(r, &r->io, c->s, c->done, c->ndone, &c->p, r->err) ||
		    job_start(r, c->s, c->stats, &c->done, c->ndone, &c->p, &c->logic))
			return -1;
	} else {
		int frc = flush_batch(r, &r->io, c->s, c->done, c->ndone, &c->p, &c->logic, r->err);
		report_refused(r, c->s, c->stats, c->done, c->ndone);
		if (frc)
			return -1;
		r->flush_ms = coco_now_ms() - tf;
		r->flush_row_ms = r->flush_ms / (double)c->ndone;
		coco_arena_reset(&r->rowa);
	}
	c->ndone_total += c->ndone;
	c->ndone = 0;
	memset(&c->p, 0, sizeof c->p);
	if (r->xb)
		coco_xbatch_reset(r->xb);
	if (r->o->on_progress)
		r->o->on_progress(r->o->ud, c->stats, c->ndone_total, c->total);
	return 0;
}

/* The items from c->first on, a batch at a time. 0, 1 stopped at the
 * deadline, -1 failed (r->err). */
static int pass_items(pctx *c)
{
	run *r = c->r;
	cursor *cu = &c->cur;
	c->fetched = c->first;
	int moved = 0;                  /* an item was looked at in this call */
	for (size_t i = c->first;; i++) {
		if (i == c->it.n && !cursor_end(cu)) {
			if (cursor_fill(cu, &c->it, r->err))   /* the next window */
				return -1;
			i = c->fetched = 0;
		}
		int end = i == c->it.n;
		/* items to go, for progress: listed ones, and tracked ones seen */
		c->total = cu->on ? (cu->listed > cu->seen ? cu->listed : cu->seen) : c->it.n;
		/* past the deadline, counting the flush: stop after this batch
		 * (one row at least per call, so every slice makes progress) */
		double fl = r->flush_row_ms * (double)(c->ndone + 1);
		int late = c->sliced && moved && !end &&
			coco_now_ms() + (fl > r->flush_ms ? fl : r->flush_ms) >= r->deadline;
		if (c->ndone && (end || late || c->ndone == c->max_rows ||
		    r->rowa.used_total >= c->max_bytes)) {
			if (pass_flush(c))
				return -1;
			/* cluster mode: workers joined; once the batch in flight is
			 * committed, the partitions above the fair share go to them
			 * (this pass skips their rows from here on) */
			if (!end && coco_state_shed(r->st, 0) && (job_wait(r) || coco_state_shed(r->st, 1) < 0))
				return -1;
		}
		if (end)
			break;
		if (late) {
			pass_keep(c, i);
			return 1;
		}
		if (c->src && c->s->ops->prefetch && i >= c->fetched)   /* orphan passes have neither */
			c->fetched = prefetch_next(c, i);
		moved = 1;
		if (pass_row(c, i))
			return -1;
	}
	if (job_wait(r))
		return -1;
	if (r->o->on_progress)
		r->o->on_progress(r->o->ud, c->stats, c->total, c->total);
	return 0;
}

static int update_source(run *r, size_t si, const coco_gsource *s, coco_source_stats *stats,
	void *src, int mode, const coco_value *keys, size_t nkeys)
{
	double t0 = coco_now_ms();
	size_t nx = coco_graph_nexports(r->g);
	pctx c = { .r = r, .si = si, .s = s, .stats = stats, .src = src, .mode = mode };
	c.it.a = &c.la;
	c.logic = mode == PASS_ORPHAN ? (coco_fp){0, 0} : s->logic;
	c.force = r->o->full_reprocess || r->o->reexport;
	c.done = coco_xcalloc(BATCH_ROWS, sizeof *c.done);
	c.out = coco_xcalloc(nx + 1, sizeof *c.out);
	c.none = coco_xcalloc(nx + 1, sizeof *c.none);
	c.sliced = r->deadline > 0;
	c.async = !c.sliced && job_allowed(r);
	/* a batch: at most BATCH_ROWS rows and the byte cap, or the source's
	 * max_inflight_rows / max_inflight_bytes when lower */
	c.max_rows = BATCH_ROWS;
	c.max_bytes = c.async ? BATCH_BYTES / 3 : BATCH_BYTES;
	if (s->sopts.max_inflight_rows > 0 && (size_t)s->sopts.max_inflight_rows < c.max_rows)
		c.max_rows = (size_t)s->sopts.max_inflight_rows;
	if (s->sopts.max_inflight_bytes > 0 && (size_t)s->sopts.max_inflight_bytes < c.max_bytes)
		c.max_bytes = (size_t)s->sopts.max_inflight_bytes;
	r->src = s;
	r->stats = stats;
	coco_owners_reset(r->own);
	int rc = pass_begin(&c, keys, nkeys);
	if (!rc)
		rc = pass_items(&c);
	job_wait(r);                  /* its rows point into the batch's memory, or the items */
	coco_owners_reset(r->own);    /* what a batch not staged changed */
	stats->fn_calls += c.xs.calls;
	stats->cache_hits += c.xs.cache_hits;
	stats->elapsed_ms += coco_now_ms() - t0;
	coco_arena_reset(&r->rowa);
	coco_buf_free(&c.ord);
	coco_buf_free(&c.it.tmp);
	free(c.it.v);
	coco_arena_destroy(&c.la);
	cursor_free(&c.cur);
	free(c.done);
	free(c.out);
	free(c.none);
	return rc;
}

/* Source names recorded in meta, to find sources that left the flow. */
#define META_SOURCES "sources"
/* Cluster mode: the sources that left the flow (NUL-separated), whose rows
 * every worker deletes in its partitions, at each pass. */
#define META_GONE "sources-gone"
/* Present while an update must write every row again (sources reordered). */
#define META_REORDERED "owners-reordered"

/* Whether some export keeps owner records (its keys may collide). */
static int owners_kept(const run *r)
{
	for (size_t x = 0; x < coco_graph_nexports(r->g); x++)
		if (!r->unique[x])
			return 1;
	return 0;
}

/* Whether two sources of the old list (NUL-separated names) that are
 * still in g come in another order. */
static int reordered(const coco_buf *old, const coco_graph *g)
{
	size_t ns = coco_graph_nsources(g), last = 0;
	int any = 0;
	for (size_t off = 0; off < old->n; off += strlen(old->p + off) + 1) {
		size_t i = 0;
		while (i < ns && strcmp(coco_graph_source(g, i)->name, old->p + off))
			i++;
		if (i == ns)
			continue;
		if (any && i < last)
			return 1;
		last = i;
		any = 1;
	}
	return 0;
}

int coco_indexer_open(const coco_graph *g, coco_state *st, const coco_update_opts *o,
	coco_indexer **out, char **err)
{
	coco_indexer *ix = coco_xcalloc(1, sizeof *ix);
	run *r = &ix->r;
	r->g = g;
	r->st = st;
	if (o)
		r->opts = *o;
	r->o = &r->opts;
	r->targets = coco_xcalloc(coco_graph_nexports(g) + 1, sizeof *r->targets);
	r->commit = coco_batch_create();
	r->memo.st = st;
	r->memo_ops.get = memo_get;
	r->memo_ops.put = memo_put;
	r->memo_ops.touch = memo_touch;
	r->memo_ops.ud = &r->memo;
	r->efd = -1;
	r->flush_row_ms = 0.02;       /* a first guess, measured from then on */
	if (coco_graph_batches(g))
		r->xb = coco_xbatch_create();
	size_t ns = coco_graph_nsources(g), nx = coco_graph_nexports(g);
	ix->srcs = coco_xcalloc(ns + 1, sizeof *ix->srcs);
	r->rids = coco_xcalloc(nx + 1, sizeof *r->rids);
	coco_buf rid = {0}, desc = {0};
	for (size_t x = 0; x < nx; x++) {
		const coco_gexport *xp = coco_graph_export_at(g, x);
		char *e = NULL;
		coco_buf_clear(&rid);
		coco_buf_clear(&desc);
		if (xp->ops->describe(xp->opts, &xp->info, &rid, &desc, &e)) {
			coco_seterr(err, "export '%s' (%s): %s", xp->name, xp->where, e ? e : "invalid target");
			free(e);
			break;
		}
		r->rids[x] = coco_strdup(rid.p);
	}
	coco_buf_free(&rid);
	coco_buf_free(&desc);
	r->own = coco_owners_create(g);
	r->srcs = ix->srcs;
	r->unique = coco_xcalloc(nx + 1, sizeof *r->unique);
	for (size_t x = 0; x < nx; x++)
		r->unique[x] = coco_graph_export_keys_unique(g, x);
	if ((nx && !r->rids[nx - 1]) || coco_lineage_migrate(st, err) ||
	    coco_owners_sync(st, (const char *const *)r->rids, r->unique, nx, err) ||
	    coco_owners_open(r->own, st, err)) {
		coco_indexer_close(ix);
		return -1;
	}
	for (size_t i = 0; i < ns; i++) {
		const coco_gsource *s = coco_graph_source(g, i);
		char *e = NULL;
		if (s->ops->open(s->opts, coco_graph_base_dir(g), &ix->srcs[i], &e)) {
			coco_seterr(err, "%s (%s): %s", s->name, s->where, e ? e : "cannot open source");
			free(e);
			ix->srcs[i] = NULL;
			coco_indexer_close(ix);
			return -1;
		}
	}
	*out = ix;
	return 0;
}

void *coco_indexer_source(coco_indexer *ix, size_t i) { return ix->srcs[i]; }

coco_update_opts *coco_indexer_opts(coco_indexer *ix) { return &ix->r.opts; }

void coco_indexer_set_deadline(coco_indexer *ix, double deadline_ms) { ix->r.deadline = deadline_ms; }

int coco_indexer_fd(coco_indexer *ix)
{
	if (ix->r.efd < 0)
		ix->r.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return ix->r.efd;
}

int coco_indexer_listing(const coco_indexer *ix)
{
	const pass *ps = ix->r.pass;
	return ps && ps->threaded && !__atomic_load_n(&ps->gathered, __ATOMIC_ACQUIRE);
}

int coco_indexer_pass(coco_indexer *ix, size_t i, coco_source_stats *stats, char **err)
{
	ix->r.err = err;
	const coco_gsource *s = coco_graph_source(ix->r.g, i);
	stats->source = s->name;
	return update_source(&ix->r, i, s, stats, ix->srcs[i], PASS_FULL, NULL, 0);
}

int coco_indexer_keys(coco_indexer *ix, size_t i, const coco_value *keys, size_t n,
	coco_source_stats *stats, char **err)
{
	ix->r.err = err;
	const coco_gsource *s = coco_graph_source(ix->r.g, i);
	stats->source = s->name;
	if (!ix->r.pass)
		coco_owners_new_update(ix->r.own);   /* live: each change is an update */
	return update_source(&ix->r, i, s, stats, ix->srcs[i], PASS_KEYS, keys, n);
}

/* Whether the NUL-separated list l (n bytes) holds name. */
static int listed(const char *l, size_t n, const char *name)
{
	for (size_t off = 0; off < n; off += strlen(l + off) + 1)
		if (!strcmp(l + off, name))
			return 1;
	return 0;
}

int coco_indexer_orphans(coco_indexer *ix, char **err)
{
	run *r = &ix->r;
	const coco_graph *g = r->g;
	r->err = err;
	size_t ns = coco_graph_nsources(g);
	coco_buf names = {0}, old = {0}, was = {0}, gone = {0};
	for (size_t i = 0; i < ns; i++)
		coco_buf_add(&names, coco_graph_source(g, i)->name, strlen(coco_graph_source(g, i)->name) + 1);
	int rc = 0;
	int got = coco_state_get(r->st, COCO_CF_META, META_SOURCES, strlen(META_SOURCES), &old, err);
	/* cluster mode: a worker deletes the rows of its partitions only, so
	 * the sources that left stay listed for the others (META_GONE) */
	int cluster = r->st->ops->owns != NULL;
	if (got < 0 || (cluster && coco_state_get(r->st, COCO_CF_META, META_GONE, strlen(META_GONE),
			&was, err) < 0))
		rc = -1;
	const coco_buf *lists[2] = { got == 1 ? &old : NULL, &was };
	for (int li = 0; li < 2; li++)
		for (size_t off = 0; lists[li] && off < lists[li]->n; off += strlen(lists[li]->p + off) + 1) {
			const char *name = lists[li]->p + off;
			if (!listed(names.p, names.n, name) && !listed(gone.p, gone.n, name))
				coco_buf_add(&gone, name, strlen(name) + 1);
		}
	for (size_t off = 0; !rc && off < gone.n; off += strlen(gone.p + off) + 1) {
		coco_gsource src = {0};
		src.name = gone.p + off;
		coco_source_stats ost = {0};
		rc = update_source(r, 0, &src, &ost, NULL, PASS_ORPHAN, NULL, 0);
	}
	if (!rc && cluster && (gone.n != was.n || memcmp(gone.p, was.p, gone.n))) {
		coco_batch_clear(r->commit);
		coco_batch_put(r->commit, COCO_CF_META, META_GONE, strlen(META_GONE), gone.p ? gone.p : "",
			gone.n);
		rc = coco_state_write(r->st, r->commit, 0, err);
	}
	coco_buf_free(&was);
	coco_buf_free(&gone);
	if (rc == 1) {
		/* stopped at the deadline: the next call goes on */
		coco_buf_free(&old);
		coco_buf_free(&names);
		return 1;
	}
	if (!rc && (got != 1 || old.n != names.n || memcmp(old.p, names.p, names.n))) {
		coco_batch_clear(r->commit);
		coco_batch_put(r->commit, COCO_CF_META, META_SOURCES, strlen(META_SOURCES), names.p, names.n);
		/* sources that stay but trade places in the flow change which row
		 * owns a shared key: every row is written again (recorded, so a
		 * run killed before the end does it again) */
		if (got == 1 && owners_kept(r) && reordered(&old, g))
			coco_batch_put(r->commit, COCO_CF_META, META_REORDERED, strlen(META_REORDERED), "1", 1);
		rc = coco_state_write(r->st, r->commit, 0, err);
	}
	coco_buf tmp = {0};
	if (!rc && coco_state_get(r->st, COCO_CF_META, META_REORDERED, strlen(META_REORDERED), &tmp, err) == 1)
		r->opts.reexport = r->reordered = 1;
	coco_buf_free(&tmp);
	coco_buf_free(&old);
	coco_buf_free(&names);
	return rc;
}

/* After every pass of an update that wrote every row again. */
static int reorder_done(run *r, char **err)
{
	if (!r->reordered)
		return 0;
	r->reordered = 0;
	coco_batch_clear(r->commit);
	coco_batch_del(r->commit, COCO_CF_META, META_REORDERED, strlen(META_REORDERED));
	return coco_state_write(r->st, r->commit, 0, err);
}

void coco_indexer_close(coco_indexer *ix)
{
	if (!ix)
		return;
	run *r = &ix->r;
	const coco_graph *g = r->g;
	pass_free(r->pass);           /* joins a helper thread still listing */
	job_free(r);                  /* and the writer thread */
	char *e = NULL;
	sweep_finish(r, 1, &e);       /* and a sweep; then one for what is left */
	free(e);
	e = NULL;
	if (r->efd >= 0 && r->dirty) {
		close(r->efd);
		r->efd = -1;
		coco_indexer_sweep(ix, &e);
		free(e);
	}
	if (r->efd >= 0)
		close(r->efd);
	/* the state's memtables are written out while the targets close
	 * (SQLite's last checkpoint), not after */
	coco_state_persist(r->st);
	for (size_t x = 0; x < coco_graph_nexports(g); x++)
		if (r->targets[x].h)
			coco_graph_export_at(g, x)->ops->close(r->targets[x].h);
	free(r->targets);
	for (size_t i = 0; i < coco_graph_nsources(g); i++)
		if (ix->srcs[i])
			coco_graph_source(g, i)->ops->close(ix->srcs[i]);
	free(ix->srcs);
	for (size_t x = 0; x < coco_graph_nexports(g); x++)
		free(r->rids[x]);
	free(r->rids);
	coco_arena_destroy(&r->rowa);
	flushio_free(&r->io);
	coco_batch_destroy(r->commit);
	coco_buf_free(&r->kbuf);
	coco_buf_free(&r->vbuf);
	coco_buf_free(&r->tmp);
	coco_buf_free(&r->memo.val);
	coco_buf_free(&r->memo.used);
	coco_buf_free(&r->memo.puts);
	coco_xbatch_destroy(r->xb);
	coco_owners_destroy(r->own);
	free(r->unique);
	free(ix);
}

int coco_update(const coco_graph *g, coco_state *st, const coco_update_opts *o,
	coco_source_stats *stats, char **err)
{
	size_t ns = coco_graph_nsources(g);
	for (size_t i = 0; i < ns; i++) {
		memset(&stats[i], 0, sizeof stats[i]);
		stats[i].source = coco_graph_source(g, i)->name;
	}
	coco_indexer *ix;
	if (coco_indexer_open(g, st, o, &ix, err))
		return -1;
	/* Sources that left the flow go first: a renamed source writes the
	 * same target keys as the old one, whose deletes must come before. */
	int rc = coco_indexer_orphans(ix, err);
	for (size_t i = 0; i < ns && !rc; i++)
		rc = coco_indexer_pass(ix, i, &stats[i], err);
	if (!rc)
		rc = reorder_done(&ix->r, err);
	if (!rc)
		rc = coco_indexer_sweep(ix, err);
	coco_indexer_close(ix);
	return rc;
}
