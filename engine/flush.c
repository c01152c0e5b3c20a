/* Target writes of the indexer: a row's output diffed against its
 * lineage, the batch staged, written to its targets (the rows a target
 * refuses found by halving), and committed; the writer thread. See
 * indexer.h. */
#include "engine/indexer_int.h"
#include "engine/sys.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void pend(coco_arena *a, pending *p, size_t exp, int del, const coco_value *v, size_t row)
{
	p->w = coco_arena_regrow(a, p->w, p->n, &p->cap, sizeof *p->w);
	p->w[p->n].exp = exp;
	p->w[p->n].del = del;
	p->w[p->n].row = row;
	p->w[p->n].v = *v;
	p->n++;
}

/* Writes p to the targets, one transaction per export. 0, -1 failed, or
 * COCO_TGT_REFUSED: a target refused data of p (rolled back at its next
 * begin). */
static int targets_write(run *r, pending *p, char **err)
{
	const coco_graph *g = r->g;
	size_t nx = coco_graph_nexports(g);
	char *e = NULL;
	int rc = 0;
	for (size_t x = 0; x < nx; x++) {
		const coco_gexport *xp = coco_graph_export_at(g, x);
		target_rt *t = &r->targets[x];
		int any = 0;
		for (size_t i = 0; i < p->n && !any; i++)
			any = p->w[i].exp == x;
		if (!any)
			continue;
		if (!t->h && xp->ops->open(xp->opts, &xp->info, &t->h, &e))
			goto fail;
		if (xp->ops->begin(t->h, &e))
			goto fail;
		for (size_t i = 0; i < p->n; i++) {
			if (p->w[i].exp != x)
				continue;
			if ((rc = (p->w[i].del ? xp->ops->del : xp->ops->upsert)(t->h, &p->w[i].v, &e)))
				goto fail;
		}
		if ((rc = xp->ops->commit(t->h, &e)))
			goto fail;
		continue;
	fail:
		coco_seterr(err, "export '%s' (%s): %s", xp->name, xp->ops->name, e ? e : "write failed");
		free(e);
		return rc == COCO_TGT_REFUSED ? rc : -1;
	}
	return 0;
}

/* Key struct (first nkeys fields) of an export row. */
coco_value key_of(const coco_value *row, uint32_t nkeys)
{
	coco_value k = {0};
	k.kind = COCO_STRUCT;
	k.n = nkeys;
	k.u.fields = row->u.fields;      /* the key fields come first: shared, not copied */
	return k;
}

/* The export writing the target with resource id rid, or -1. */
static int export_index(const run *r, const char *rid, size_t n)
{
	size_t nx = coco_graph_nexports(r->g);
	for (size_t x = 0; x < nx; x++)
		if (strlen(r->rids[x]) == n && !memcmp(r->rids[x], rid, n))
			return (int)x;
	return -1;
}

/* A set of lineage entries (indices into one lineage), for O(1) lookups
 * by (export, key) while diffing a row's output: a large file yields tens
 * of thousands of chunks. */
typedef struct lset {
	uint32_t *slot;               /* index + 1; 0 = empty */
	size_t cap;
} lset;

static uint64_t lhash(const char *exp, size_t nexp, const char *key, size_t nkey)
{
	uint64_t h = coco_fp_bytes(key, nkey).lo;
	for (size_t i = 0; i < nexp; i++)
		h = (h ^ (unsigned char)exp[i]) * 0x100000001b3ull;
	return h;
}

static int lkey_eq(const lkey *a, const char *exp, size_t nexp, const char *key, size_t nkey)
{
	return a->nexp == nexp && a->nkey == nkey && !memcmp(a->exp, exp, nexp) &&
		!memcmp(a->key, key, nkey);
}

static void lset_init(coco_arena *a, lset *s, size_t n)
{
	s->cap = 16;
	while (s->cap < 2 * n + 2)
		s->cap *= 2;
	s->slot = coco_arena_alloc(a, s->cap * sizeof *s->slot);
}

/* Index of the entry of l equal to (exp, key), or -1; with add >= 0, an
 * absent key is recorded as entry `add`. */
static long lset_find(lset *s, const lineage *l, const char *exp, size_t nexp, const char *key,
	size_t nkey, long add)
{
	size_t i = (size_t)lhash(exp, nexp, key, nkey) & (s->cap - 1);
	for (; s->slot[i]; i = (i + 1) & (s->cap - 1)) {
		const lkey *e = &l->k[s->slot[i] - 1];
		if (lkey_eq(e, exp, nexp, key, nkey))
			return (long)s->slot[i] - 1;
	}
	if (add >= 0)
		s->slot[i] = (uint32_t)add + 1;
	return -1;
}

/* Diff the new export rows against the old lineage; queue writes. */
void diff_rows(run *r, done_row *d, const lineage *old, coco_rows *out, int reexport,
	pending *p)
{
	const coco_graph *g = r->g;
	size_t nx = coco_graph_nexports(g);
	coco_arena *a = &r->rowa;
	size_t total = 0;
	for (size_t x = 0; x < nx; x++)
		total += out[x].n;
	lset olds, news;
	lset_init(a, &olds, old->n);
	lset_init(a, &news, total);
	for (size_t j = 0; j < old->n; j++)
		lset_find(&olds, old, old->k[j].exp, old->k[j].nexp, old->k[j].key, old->k[j].nkey, (long)j);
	for (size_t x = 0; x < nx; x++) {
		const coco_gexport *xp = coco_graph_export_at(g, x);
		for (size_t i = 0; i < out[x].n; i++) {
			const coco_value *row = &out[x].rows[i];
			coco_value key = key_of(row, xp->info.nkeys);
			coco_buf_clear(&r->kbuf);
			coco_value_encode(&key, &r->kbuf);
			lkey k = { .exp = r->rids[x], .nexp = strlen(r->rids[x]) };
			k.key = coco_arena_strndup(a, r->kbuf.p, r->kbuf.n);
			k.nkey = r->kbuf.n;
			k.fp = coco_fp_value(row);
			/* duplicate key within this row's output: the last one wins
			 * (its upsert comes last) */
			long dup = lset_find(&news, &d->lin, k.exp, k.nexp, k.key, k.nkey, (long)d->lin.n);
			if (dup >= 0)
				d->lin.k[dup].fp = k.fp;
			else
				lin_push(a, &d->lin, &k);
			long o = reexport ? -1 : lset_find(&olds, old, k.exp, k.nexp, k.key, k.nkey, -1);
			int same = o >= 0 && !old->k[o].staged && coco_fp_eq(old->k[o].fp, k.fp);
			/* the same key again in this row's output: once one of its
			 * rows is written, so is the last (the target keeps it) */
			lkey *cur = &d->lin.k[dup >= 0 ? (size_t)dup : d->lin.n - 1];
			if (!same || cur->queued) {
				cur->queued = 1;
				if (owner_put(r, d, x, cur))
					pend(a, p, x, 0, row, d->idx);
				lkey s = k;
				s.staged = 1;
				lin_push(a, &d->staged, &s);
				d->writes++;
			}
		}
	}
	/* old keys no longer produced: delete */
	for (size_t j = 0; j < old->n; j++) {
		const lkey *o = &old->k[j];
		int x = export_index(r, o->exp, o->nexp);
		if (x < 0)
			continue;               /* targets that left the flow: dropped by setup */
		if (lset_find(&news, &d->lin, o->exp, o->nexp, o->key, o->nkey, -1) >= 0)
			continue;
		if (lset_find(&olds, old, o->exp, o->nexp, o->key, o->nkey, -1) != (long)j)
			continue;               /* the same key twice in old: delete once */
		coco_value key;
		const char *kp = o->key;
		if (coco_value_decode(&kp, o->key + o->nkey, a, &key))
			continue;
		coco_value next;
		int own = owner_del(r, d, (size_t)x, o, &next);
		if (own != 1)
			pend(a, p, (size_t)x, own == 2 ? 0 : 1, own == 2 ? &next : &key, d->idx);
		d->writes++;
	}
	/* the staging record lists everything that may be in the target, and
	 * every cached result the row used before or now (kept by a sweep) */
	for (size_t j = 0; j < old->n; j++) {
		lkey s = old->k[j];
		s.staged = 1;
		lin_push(a, &d->staged, &s);
	}
	d->staged.nmemo = old->nmemo + d->lin.nmemo;
	char *m = coco_arena_alloc(a, d->staged.nmemo * 32 + 1);
	if (old->nmemo)
		memcpy(m, old->memo, old->nmemo * 32);
	if (d->lin.nmemo)
		memcpy(m + old->nmemo * 32, d->lin.memo, d->lin.nmemo * 32);
	d->staged.memo = m;
}

void flushio_free(flushio *io)
{
	coco_buf_free(&io->k);
	coco_buf_free(&io->v);
	coco_batch_destroy(io->stage);
	coco_batch_destroy(io->commit);
}

/* Writes the target rows of done[lo, hi) (sub: scratch). When a target
 * refuses them, the range is halved until the source rows it refuses are
 * found: those become row errors (d->refused), left staged, so the next
 * run tries them again; the rest is written. -1: a failure that is not
 * about the rows (the pass stops). */
static int write_range(run *r, done_row *done, size_t lo, size_t hi, const pending *p,
	pending *sub, char **err)
{
	sub->n = 0;
	for (size_t i = 0; i < p->n; i++)
		if (p->w[i].row >= lo && p->w[i].row < hi) {
			if (sub->n == sub->cap) {
				sub->cap = sub->cap ? sub->cap * 2 : 64;
				sub->w = realloc(sub->w, sub->cap * sizeof *sub->w);
				if (!sub->w)
					abort();
			}
			sub->w[sub->n++] = p->w[i];
		}
	if (!sub->n)
		return 0;
	char *e = NULL;
	int rc = targets_write(r, sub, &e);
	if (rc == 0)
		return 0;
	if (rc != COCO_TGT_REFUSED) {
		*err = e;
		return -1;
	}
	if (hi - lo == 1) {
		done[lo].refused = e;   /* left out of the commit */
		return 0;
	}
	free(e);
	size_t mid = lo + (hi - lo) / 2;
	if (write_range(r, done, lo, mid, p, sub, err))
		return -1;
	return write_range(r, done, mid, hi, p, sub, err);
}

/* The counter a processed row (ROW_PROCESSED) counts in: added, updated (its
 * content changed) or reprocessed (the flow changed). */
uint64_t *processed_counter(coco_source_stats *stats, const done_row *d)
{
	if (!d->tracked)
		return &stats->added;
	if (!coco_fp_eq(d->old.content, d->t.content))
		return &stats->updated;
	return &stats->reprocessed;
}

/* Row errors for the rows a target refused, on the thread that runs the
 * pass (on_error may call into Lua); they no longer count as written. */
void report_refused(run *r, const coco_gsource *s, coco_source_stats *stats,
	done_row *done, size_t ndone)
{
	for (size_t i = 0; i < ndone; i++) {
		done_row *d = &done[i];
		if (!d->refused)
			continue;
		if (d->kind == ROW_DELETED)
			stats->deleted--;
		else if (d->kind == ROW_PROCESSED)
			(*processed_counter(stats, d))--;
		row_error(r, s, stats, d->it, d->refused);
		free(d->refused);
		d->refused = NULL;
	}
}

/* Phase A: stage the keys about to be written (before the targets see
 * them; staging early is always safe: it only says "may be written"). */
/* A buffer that grew past 1 MB for a large row is given back at once: a
 * file of 200,000 chunks has lineage records of megabytes, and each copy
 * kept counts in the peak with the file's text. */
static void shrink(coco_buf *b)
{
	if (b->cap > (1u << 20))
		coco_buf_free(b);
}

int flush_stage(run *r, flushio *io, const coco_gsource *s, done_row *done, size_t ndone,
	const pending *p, char **err)
{
	coco_buf *k = &io->k;
	if (!io->stage)
		io->stage = coco_batch_create();
	/* owner records the batch changed go with its staging record */
	if (p->n || coco_owners_dirty(r->own)) {
		coco_batch_clear(io->stage);
		coco_owners_stage(r->own, io->stage);
		for (size_t i = 0; i < ndone; i++) {
			done_row *d = &done[i];
			if (!d->writes || d->kind == ROW_FAILED)
				continue;
			row_key(k, s->name, d->it->key, d->it->nkey);
			if (d->it->trk) {
				trk t;
				if (!trk_decode(d->it->trk, d->it->ntrk, &t)) {
					t.flags |= TRK_STAGED;
					trk_encode(&t, &io->v);
					coco_batch_put(io->stage, COCO_CF_TRACKING, k->p, k->n, io->v.p, io->v.n);
				}
			} else {
				trk t = { .flags = TRK_STAGED };
				trk_encode(&t, &io->v);
				coco_batch_put(io->stage, COCO_CF_TRACKING, k->p, k->n, io->v.p, io->v.n);
			}
			lin_encode(&d->staged, &io->v);
			coco_batch_put(io->stage, COCO_CF_LINEAGE, k->p, k->n, io->v.p, io->v.n);
			shrink(&io->v);
		}
		int rc = coco_state_write(r->st, io->stage, 0, err);
		coco_batch_clear(io->stage);      /* a large row's lineage is not kept twice */
		if (rc)
			return -1;
	}
	coco_owners_reset(r->own);
	return 0;
}

/* Phase B of a staged batch: write the targets (rows they refuse are
 * marked, see write_range). */
static int flush_targets(run *r, done_row *done, size_t ndone, pending *p, char **err)
{
	if (p->n) {
		int rc = targets_write(r, p, err);
		if (rc == COCO_TGT_REFUSED) {
			free(*err);
			*err = NULL;
			pending sub = {0};
			rc = write_range(r, done, 0, ndone, p, &sub, err);
			free(sub.w);
		}
		if (rc)
			return -1;
	}
	return 0;
}

/* Phase C, after the targets committed: commit tracking and lineage. */
static int flush_state(run *r, flushio *io, const coco_gsource *s, done_row *done, size_t ndone,
	const coco_fp *logic, char **err)
{
	coco_buf *k = &io->k;
	if (!io->commit)
		io->commit = coco_batch_create();
	coco_batch_clear(io->commit);
	for (size_t i = 0; i < ndone; i++) {
		done_row *d = &done[i];
		if (d->kind == ROW_FAILED || d->refused)
			continue;               /* failed: retried next run */
		row_key(k, s->name, d->it->key, d->it->nkey);
		if (d->kind == ROW_DELETED) {
			coco_batch_del(io->commit, COCO_CF_TRACKING, k->p, k->n);
			coco_batch_del(io->commit, COCO_CF_LINEAGE, k->p, k->n);
			continue;
		}
		d->t.logic = *logic;
		trk_encode(&d->t, &io->v);
		coco_batch_put(io->commit, COCO_CF_TRACKING, k->p, k->n, io->v.p, io->v.n);
		if (d->kind == ROW_PROCESSED) {
			lin_encode(&d->lin, &io->v);
			coco_batch_put(io->commit, COCO_CF_LINEAGE, k->p, k->n, io->v.p, io->v.n);
			shrink(&io->v);
		}
	}
	int rc = coco_batch_count(io->commit) ? coco_state_write(r->st, io->commit, 0, err) : 0;
	coco_batch_clear(io->commit);
	return rc ? -1 : 0;
}

/* Stage, write the targets, commit: one batch of processed rows. */
int flush_batch(run *r, flushio *io, const coco_gsource *s, done_row *done, size_t ndone,
	pending *p, const coco_fp *logic, char **err)
{
	if (flush_stage(r, io, s, done, ndone, p, err) || flush_targets(r, done, ndone, p, err))
		return -1;
	return flush_state(r, io, s, done, ndone, logic, err);
}

/* ---- the writer thread --------------------------------------------------
 * A full pass (not a live slice) stages each batch once it is evaluated
 * and hands it to a writer thread that writes its targets, while this
 * thread reads, evaluates and stages the next; when the next is handed
 * over, this thread commits the state of the one written: the target's
 * round trips and the source's reads overlap. One batch in flight at a
 * time, so batches still commit in order, and the staging protocol is
 * unchanged (a crash leaves at most the batch in flight staged). The
 * batch's memory (arena, rows) goes with it and comes back for reuse
 * when it is done. */
typedef struct flushjob {
	run *r;
	flushio io;
	const coco_gsource *s;
	coco_source_stats *stats;
	done_row *done;
	size_t ndone;
	pending p;
	coco_fp logic;
	coco_arena a;                 /* the batch's memory */
	pthread_t th;
	int active, rc;
	char *msg;
} flushjob;

static void *job_main(void *arg)
{
	flushjob *j = arg;
	j->rc = flush_targets(j->r, j->done, j->ndone, &j->p, &j->msg);
	return NULL;
}

/* A batch whose targets were written: commit its state here (the
 * writer thread is free for the next batch meanwhile), report the rows the
 * targets refused; an error moves to r->err (unless one is there). */
static int job_finish(run *r, flushjob *j)
{
	if (!j->rc)
		j->rc = flush_state(r, &j->io, j->s, j->done, j->ndone, &j->logic, &j->msg);
	report_refused(r, j->s, j->stats, j->done, j->ndone);
	if (!j->rc)
		return 0;
	if (r->err && !*r->err) {
		*r->err = j->msg;
		j->msg = NULL;
	}
	free(j->msg);
	j->msg = NULL;
	return -1;
}

/* Waits for the batch in flight; -1 (and its error in r->err) if it failed. */
int job_wait(run *r)
{
	flushjob *j = r->job;
	if (!j || !j->active)
		return 0;
	pthread_join(j->th, NULL);
	j->active = 0;
	return job_finish(r, j);
}

/* Whether batches of this flow may be written on the writer thread: not
 * by targets written in Lua (their functions run on the owner's thread). */
int job_allowed(const run *r)
{
	const char *sync = getenv("COCO_SYNC_WRITES");
	if (sync && *sync && strcmp(sync, "0"))
		return 0;
	size_t nx = coco_graph_nexports(r->g);
	for (size_t x = 0; x < nx; x++)
		if (coco_graph_export_at(r->g, x)->ops->owner_thread_only)
			return 0;
	return 1;
}

/* Hands the batch (done[0..ndone), p, the memory in r->rowa) to the writer
 * thread, after the one before it is done. *done becomes an array free for
 * the next batch, and r->rowa memory free for it. -1: the batch before
 * failed, or no thread (then the batch is written here). */
int job_start(run *r, const coco_gsource *s, coco_source_stats *stats, done_row **done,
	size_t ndone, pending *p, const coco_fp *logic)
{
	if (job_wait(r))
		return -1;
	flushjob *j = r->job;
	if (!j) {
		j = r->job = calloc(1, sizeof *j);
		if (!j || !(j->done = calloc(BATCH_ROWS, sizeof *j->done)))
			abort();
		j->r = r;
	}
	done_row *t = j->done;
	j->done = *done;
	*done = t;
	coco_arena ta = j->a;
	j->a = r->rowa;
	r->rowa = ta;
	coco_arena_reset(&r->rowa);
	j->s = s;
	j->stats = stats;
	j->ndone = ndone;
	j->p = *p;
	j->logic = *logic;
	int rc = coco_thread_start(&j->th, job_main, j);
	if (rc) {
		job_main(j);            /* no thread: write it here */
		return job_finish(r, j);
	}
	j->active = 1;
	return 0;
}

void job_free(run *r)
{
	flushjob *j = r->job;
	if (!j)
		return;
	job_wait(r);
	flushio_free(&j->io);
	coco_arena_destroy(&j->a);
	free(j->done);
	free(j->msg);
	free(j);
	r->job = NULL;
}
