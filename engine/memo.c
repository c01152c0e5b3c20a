/* The memo: cached function results read and written while rows are
 * evaluated, and swept when no row uses them any more. See indexer.h. */
#include "engine/indexer_int.h"
#include "engine/sys.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

int memo_get(void *ud, const unsigned char key[32], coco_arena *a, coco_value *out)
{
	memo_ctx *m = ud;
	if (!m->st || coco_state_memo_get(m->st, key, &m->val, NULL) != 1)
		return 0;
	const char *p = m->val.p;
	if (coco_value_decode(&p, m->val.p + m->val.n, a, out))
		return 0;
	coco_buf_add(&m->used, key, 32);
	return 1;
}

void memo_touch(void *ud, const unsigned char key[32])
{
	memo_ctx *m = ud;
	coco_buf_add(&m->used, key, 32);
}

/* The sweep mark: in meta while cached results may exist that no row
 * uses, so the next run sweeps even when no row changes. Written before a
 * run's first put and before the first commit that can leave results
 * unused (memo_dirty), so a kill -9 before the sweep leaves it; cleared by
 * a sweep that spared nothing (delete_dead). */
#define META_SWEEP "memo-sweep"

static int mark_set(memo_ctx *m, int on, char **err)
{
	coco_batch *b = coco_batch_create();
	if (on)
		coco_batch_put(b, COCO_CF_META, META_SWEEP, strlen(META_SWEEP), "1", 1);
	else
		coco_batch_del(b, COCO_CF_META, META_SWEEP, strlen(META_SWEEP));
	int rc = coco_state_write(m->st, b, 0, err);
	coco_batch_destroy(b);
	if (!rc)
		m->mark = on ? 2 : 1;
	return rc;
}

/* Reads the sweep mark once; returns 1 if set, 0 if not, -1 on error. */
static int mark_get(memo_ctx *m, char **err)
{
	if (!m->mark) {
		coco_buf v = {0};
		int got = coco_state_get(m->st, COCO_CF_META, META_SWEEP, strlen(META_SWEEP), &v, err);
		coco_buf_free(&v);
		if (got < 0)
			return -1;
		m->mark = got == 1 ? 2 : 1;
	}
	return m->mark == 2;
}

/* The mark in state unless it is known to be there already (a failed
 * write: the next call tries again). */
static void mark_need(memo_ctx *m)
{
	if (m->mark != 2 && mark_get(m, NULL) == 0)
		mark_set(m, 1, NULL);
}

/* A row was evaluated or deleted: the memo needs a sweep. On the main
 * thread, before the row goes to the writer: the mark is in state before
 * the commit that may leave cached results unused. */
void memo_dirty(run *r)
{
	if (r->dirty)
		return;
	r->dirty = 1;
	if (coco_graph_cached_fns(r->g, NULL, 0))   /* else none to sweep */
		mark_need(&r->memo);                   /* a failure: the commit fails too */
}

void memo_put(void *ud, const unsigned char key[32], const coco_value *v)
{
	memo_ctx *m = ud;
	mark_need(m);             /* a failure costs a sweep's certainty, not data */
	coco_buf_add(&m->used, key, 32);
	coco_buf_add(&m->puts, key, 32);
	coco_buf_clear(&m->val);
	coco_value_encode(v, &m->val);
	coco_state_memo_put(m->st, key, m->val.p, m->val.n, NULL);   /* content-addressed: safe any time */
}

static uint64_t k32_hash(const char *k)
{
	uint64_t h;
	memcpy(&h, k + 16, 8);        /* the input fingerprint's bytes: already uniform */
	return h;
}

void kset_add(kset *s, const char *k)
{
	if ((s->n + 1) * 2 > s->cap) {
		kset ns = { calloc(s->cap ? s->cap * 2 : 1024, sizeof(char *)), s->cap ? s->cap * 2 : 1024, 0 };
		for (size_t i = 0; i < s->cap; i++)
			if (s->slot[i])
				kset_add(&ns, s->slot[i]);
		free(s->slot);
		*s = ns;
	}
	size_t i = (size_t)k32_hash(k) & (s->cap - 1);
	for (; s->slot[i]; i = (i + 1) & (s->cap - 1))
		if (!memcmp(s->slot[i], k, 32))
			return;
	s->slot[i] = k;
	s->n++;
}

int kset_has(const kset *s, const char *k)
{
	if (!s->cap)
		return 0;
	size_t i = (size_t)k32_hash(k) & (s->cap - 1);
	for (; s->slot[i]; i = (i + 1) & (s->cap - 1))
		if (!memcmp(s->slot[i], k, 32))
			return 1;
	return 0;
}

/* The keys of cached results no row uses: every memo key of the flow's
 * cached functions' namespaces that no row's lineage names, appended to
 * dead, but those in `keep` (32-byte keys: results put by rows not yet
 * committed, or that failed), counted in *spared. Only those namespaces
 * are swept: churn of their inputs is what grows state; results of other
 * functions or versions stay, so going back to an earlier version
 * recomputes nothing. Reads state only, so it may run on a helper thread. */
static int find_dead(const coco_graph *g, coco_state *st, const char *keep, size_t nkeep,
	coco_buf *dead, size_t *spared, char **err)
{
	const char *k, *v;
	size_t kn, vn;
	int rc;
	coco_arena a = {0};
	kset live = {0}, kept = {0};
	coco_iter *it = coco_state_iter(st, COCO_CF_LINEAGE, NULL, 0);
	while ((rc = coco_iter_next(it, &k, &kn, &v, &vn, err)) == 1) {
		lineage l;
		const char *copy = coco_arena_strndup(&a, v, vn);
		if (lin_decode(copy, vn, &a, &l))
			continue;
		for (size_t i = 0; i < l.nmemo; i++)
			kset_add(&live, l.memo + 32 * i);
	}
	coco_iter_destroy(it);
	for (size_t i = 0; i + 32 <= nkeep; i += 32)
		kset_add(&kept, keep + i);
	size_t nfn = coco_graph_cached_fns(g, NULL, 0);
	unsigned char (*fns)[16] = coco_xcalloc(nfn + 1, 16);
	coco_graph_cached_fns(g, fns, nfn);
	*spared = 0;
	for (size_t f = 0; f < nfn && rc == 0; f++) {
		it = coco_state_iter(st, COCO_CF_MEMO, fns[f], 16);
		while ((rc = coco_iter_next(it, &k, &kn, &v, &vn, err)) == 1) {
			if (kn != 32 || kset_has(&live, k))
				continue;
			if (kset_has(&kept, k))
				(*spared)++;
			else
				coco_buf_add(dead, k, 32);
		}
		coco_iter_destroy(it);
	}
	free(fns);
	free(live.slot);
	free(kept.slot);
	coco_arena_destroy(&a);
	return rc < 0 ? -1 : 0;
}

/* Deletes the dead keys, but those in `spare` (used since they were
 * found), and settles the sweep mark in the same write: cleared when
 * nothing was spared, set when something was (the next run sweeps again,
 * even if no row changes, and finds what is by then unused). */
static int delete_dead(memo_ctx *m, const coco_buf *dead, const kset *spare, size_t spared,
	char **err)
{
	coco_batch *b = coco_batch_create();
	for (size_t i = 0; i + 32 <= dead->n; i += 32) {
		if (spare && kset_has(spare, dead->p + i))
			spared++;
		else
			coco_batch_del(b, COCO_CF_MEMO, dead->p + i, 32);
	}
	int was = mark_get(m, err), want = spared > 0;
	if (was < 0) {
		coco_batch_destroy(b);
		return -1;
	}
	if (want && !was)
		coco_batch_put(b, COCO_CF_META, META_SWEEP, strlen(META_SWEEP), "1", 1);
	else if (!want && was)
		coco_batch_del(b, COCO_CF_META, META_SWEEP, strlen(META_SWEEP));
	int rc = coco_batch_count(b) ? coco_state_write(m->st, b, 0, err) : 0;
	if (!rc)
		m->mark = want ? 2 : 1;
	coco_batch_destroy(b);
	return rc;
}

/* Whether any cached result is stored at all (else nothing to sweep). */
static int memo_any(run *r, char **err)
{
	if (r->memo.puts.n)
		return 1;
	const char *k, *v;
	size_t kn, vn;
	coco_iter *it = coco_state_iter(r->st, COCO_CF_MEMO, NULL, 0);
	int rc = coco_iter_next(it, &k, &kn, &v, &vn, err);
	coco_iter_destroy(it);
	return rc;
}

/* A sweep on a helper thread (live mode: the host's loop is not held up
 * while every lineage record is read). Rows evaluated meanwhile add the
 * memo keys they use to r->swept_used, so what they started to use again
 * is spared when the result is applied. */
typedef struct sweeper {
	pthread_t th;
	const coco_graph *g;
	coco_state *st;
	coco_buf keep, dead;
	size_t spared;
	int done, rc, efd;
	char *err;
} sweeper;

static void *sweep_main(void *arg)
{
	sweeper *w = arg;
	w->rc = find_dead(w->g, w->st, w->keep.p, w->keep.n, &w->dead, &w->spared, &w->err);
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	coco_efd_notify(w->efd);
	return NULL;
}

/* How often live mode sweeps at most: 10 s, or $COCO_SWEEP_MS (specs). */
static double sweep_every_ms(void)
{
	const char *e = getenv("COCO_SWEEP_MS");
	return e && *e ? atof(e) : 10000;
}

/* Applies a finished helper-thread sweep (wait: join one still running). */
int sweep_finish(run *r, int wait, char **err)
{
	sweeper *w = r->sweeper;
	if (!w || (!wait && !__atomic_load_n(&w->done, __ATOMIC_ACQUIRE)))
		return 0;
	pthread_join(w->th, NULL);
	r->sweeper = NULL;
	int rc = w->rc;
	if (rc)
		coco_seterr(err, "%s", w->err ? w->err : "memo sweep failed");
	else {
		for (size_t i = 0; i + 32 <= r->memo.puts.n; i += 32)
			kset_add(&r->swept_used, r->memo.puts.p + i);
		/* rows evaluated since it began may commit after it: the mark
		 * stays until a sweep that nothing outran */
		rc = delete_dead(&r->memo, &w->dead, &r->swept_used, w->spared + (size_t)r->dirty, err);
		coco_buf_clear(&r->memo.puts);
	}
	free(r->swept_used.slot);
	memset(&r->swept_used, 0, sizeof r->swept_used);
	coco_arena_destroy(&r->swept_keys);
	coco_buf_free(&w->keep);
	coco_buf_free(&w->dead);
	free(w->err);
	free(w);
	return rc;
}

int coco_indexer_sweep(coco_indexer *ix, char **err)
{
	run *r = &ix->r;
	if (sweep_finish(r, 0, err))
		return -1;
	if (r->sweeper)
		return 0;
	if (!r->dirty) {
		/* a run before this one spared results, or was killed after it
		 * put some: sweep once even if no row changes (the mark is read
		 * once: a live run is not swept again and again for it) */
		if (r->memo.mark)
			return 0;
		int marked = mark_get(&r->memo, err);
		if (marked <= 0)
			return marked;
		r->dirty = 1;
	}
	int any = memo_any(r, err);
	if (any <= 0) {
		r->dirty = 0;
		if (any == 0 && mark_get(&r->memo, NULL) == 1)
			return mark_set(&r->memo, 0, err);
		return any;
	}
	if (r->efd >= 0) {
		/* live mode: on a helper thread, one per sweep_every_ms() at most
		 * (changes keep coming: the next call starts it); the fd says when
		 * it is done. coco_indexer_close() sweeps what is left. */
		double now = coco_now_ms();
		if (r->swept_at && now - r->swept_at < sweep_every_ms())
			return 0;
		r->swept_at = now;
		sweeper *w = coco_xcalloc(1, sizeof *w);
		w->g = r->g;
		w->st = r->st;
		w->efd = r->efd;
		coco_buf_add(&w->keep, r->memo.puts.p, r->memo.puts.n);
		int trc = coco_thread_start(&w->th, sweep_main, w);
		if (!trc) {
			r->sweeper = w;
			r->dirty = 0;
			return 0;
		}
		coco_buf_free(&w->keep);
		free(w);
	}
	coco_buf dead = {0};
	size_t spared;
	int rc = find_dead(r->g, r->st, r->memo.puts.p, r->memo.puts.n, &dead, &spared, err);
	if (rc == 0)
		rc = delete_dead(&r->memo, &dead, NULL, spared, err);
	coco_buf_free(&dead);
	r->dirty = 0;
	coco_buf_clear(&r->memo.puts);
	return rc;
}
