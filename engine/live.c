/* Live mode: the epoll loop. See live.h. */
#define _GNU_SOURCE
#include "engine/live.h"
#include "engine/sys.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define RETRY_MS 1000.0           /* after a failed pass or batch */
#define DEGRADED_POLL_MS 2000.0   /* full passes while change capture is incomplete */
#define SIGNAL_TAG UINT32_MAX
#define INDEXER_TAG (UINT32_MAX - 1)

/* ---- recently seen rows of a source -------------------------------------
 * An open-addressing table of pointers: entries never move, so a batch can
 * hold them while the table grows. */
typedef struct kent {
	char *key;                    /* encoded key */
	size_t n;
	double last;                  /* when last processed */
	double deadline;              /* when pending: process at */
	double seen;                  /* when its last change was reported */
	int pending, in_batch;
} kent;

typedef struct ktab {
	kent **v;
	size_t cap, n;
} ktab;

static uint64_t khash(const char *k, size_t n) { return coco_fp_bytes(k, n).lo; }

static void ktab_put(ktab *t, kent *e)
{
	size_t i = (size_t)khash(e->key, e->n) & (t->cap - 1);
	while (t->v[i])
		i = (i + 1) & (t->cap - 1);
	t->v[i] = e;
	t->n++;
}

/* Rebuild with capacity cap, dropping idle entries processed before
 * drop_before. */
static void ktab_rebuild(ktab *t, size_t cap, double drop_before)
{
	ktab nt = { coco_xcalloc(cap, sizeof(kent *)), cap, 0 };
	for (size_t i = 0; i < t->cap; i++) {
		kent *e = t->v[i];
		if (!e)
			continue;
		if (!e->pending && !e->in_batch && e->last < drop_before) {
			free(e->key);
			free(e);
			continue;
		}
		ktab_put(&nt, e);
	}
	free(t->v);
	*t = nt;
}

static kent *ktab_find(ktab *t, const char *k, size_t n, int create)
{
	if (create && (t->n + 1) * 2 > t->cap)
		ktab_rebuild(t, t->cap ? t->cap * 2 : 64, -1e300);
	if (!t->cap)
		return NULL;
	size_t i = (size_t)khash(k, n) & (t->cap - 1);
	for (; t->v[i]; i = (i + 1) & (t->cap - 1))
		if (t->v[i]->n == n && !memcmp(t->v[i]->key, k, n))
			return t->v[i];
	if (!create)
		return NULL;
	kent *e = coco_xcalloc(1, sizeof *e);
	e->key = coco_xmalloc(n ? n : 1);
	memcpy(e->key, k, n);
	e->n = n;
	e->last = -1e300;
	t->v[i] = e;
	t->n++;
	return e;
}

static void ktab_free(ktab *t)
{
	for (size_t i = 0; i < t->cap; i++)
		if (t->v[i]) {
			free(t->v[i]->key);
			free(t->v[i]);
		}
	free(t->v);
	memset(t, 0, sizeof *t);
}

typedef struct lsrc {
	int fd;                       /* change capture fd, -1 none */
	double refresh_ms, next_refresh;
	double poll_ms, next_poll;    /* degraded: full passes */
	int rescan;
	double retry_at;
	ktab keys;
	kent **batch;                 /* rows to process this step */
	size_t nbatch, capbatch;
	/* with a step budget, a pass goes on over several steps */
	int in_pass;                  /* 1 full pass, 2 keys pass: stopped at a deadline */
	int initial;                  /* the initial pass is still to finish */
	int parked;                   /* fd out of epoll while the source lists on a thread */
	double pass_start;
	coco_source_stats ps;         /* the pass's counts, reported when it ends */
} lsrc;

struct coco_live {
	const coco_graph *g;
	coco_live_opts o;
	coco_indexer *ix;
	int epfd;
	lsrc *src;
	size_t nsrc;
	coco_source_stats *stats;
	int started, aborted;
	double now;                   /* time of the current step */
	int sig_rd, sig_wr;           /* self-pipe of the signal handler, -1 */
	double budget_ms, deadline;   /* work per step (0: unbounded), this step's end */
	int ninitial;                 /* sources whose initial pass is not over */
	int xfd;                      /* the indexer's fd: a listing or a memo sweep is done */
	int worked;                   /* work done since the updater was last idle */
};

static void warn(coco_live *lv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(coco_live *lv, const char *fmt, ...)
{
	if (!lv->o.on_warning)
		return;
	coco_buf b = {0};
	va_list ap;
	va_start(ap, fmt);
	coco_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	lv->o.on_warning(lv->o.ud, b.p);
	coco_buf_free(&b);
}

static void batch_add(lsrc *s, kent *e)
{
	if (e->in_batch)
		return;
	if (s->nbatch == s->capbatch) {
		s->capbatch = s->capbatch ? s->capbatch * 2 : 64;
		s->batch = coco_xrealloc(s->batch, s->capbatch * sizeof *s->batch);
	}
	e->in_batch = 1;
	e->pending = 0;
	s->batch[s->nbatch++] = e;
}

typedef struct cbctx {
	coco_live *lv;
	size_t si;
	coco_buf enc;
} cbctx;

static int on_change(void *ud, coco_change_kind kind, const coco_value *key, const char *msg)
{
	cbctx *c = ud;
	coco_live *lv = c->lv;
	lsrc *s = &lv->src[c->si];
	const char *name = coco_graph_source(lv->g, c->si)->name;
	if (msg)
		warn(lv, "%s.%s: %s", coco_graph_name(lv->g), name, msg);
	switch (kind) {
	case COCO_CHANGE_RESCAN:
		s->rescan = s->in_pass == 1 ? 2 : 1;   /* 2: once more after the running pass */
		return 0;
	case COCO_CHANGE_DEGRADED:
		s->rescan = s->in_pass == 1 ? 2 : 1;
		s->poll_ms = DEGRADED_POLL_MS;
		s->next_poll = lv->now + DEGRADED_POLL_MS;
		return 0;
	case COCO_CHANGE_ROW:
	case COCO_CHANGE_SCANNED:
	case COCO_CHANGE_GONE:
		break;
	}
	if (!key)
		return 0;
	coco_buf_clear(&c->enc);
	coco_value_encode(key, &c->enc);
	kent *e = ktab_find(&s->keys, c->enc.p, c->enc.n, 1);
	e->seen = lv->now;
	if (e->pending || (e->in_batch && !s->in_pass))
		return 0;                   /* coalesced */
	double due = lv->now;           /* the first change: at once */
	if (kind != COCO_CHANGE_ROW)
		due = lv->now + COCO_LIVE_DEBOUNCE_MS;   /* may still be written, may come back: wait a window */
	else if (lv->now - e->last < COCO_LIVE_DEBOUNCE_MS)
		due = e->last + COCO_LIVE_DEBOUNCE_MS;   /* a burst: once more at the window's end */
	if (due > lv->now || s->in_pass || e->in_batch) {
		e->pending = 1;             /* (while a pass of the source runs: after it) */
		e->deadline = due;
	} else {
		batch_add(s, e);
	}
	return 0;
}

int coco_live_create(const coco_graph *g, coco_state *st, const coco_live_opts *o,
	coco_live **out, char **err)
{
	coco_live *lv = coco_xcalloc(1, sizeof *lv);
	lv->g = g;
	lv->sig_rd = lv->sig_wr = -1;
	lv->xfd = -1;
	if (o)
		lv->o = *o;
	lv->budget_ms = lv->o.budget_ms;
	lv->nsrc = coco_graph_nsources(g);
	lv->src = coco_xcalloc(lv->nsrc + 1, sizeof *lv->src);
	lv->stats = coco_xcalloc(lv->nsrc + 1, sizeof *lv->stats);
	lv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (lv->epfd < 0) {
		coco_seterr(err, "live: epoll_create1: %s", strerror(errno));
		coco_live_destroy(lv);
		return -1;
	}
	if (coco_indexer_open(g, st, &lv->o.update, &lv->ix, err)) {
		lv->ix = NULL;
		coco_live_destroy(lv);
		return -1;
	}
	double now = coco_now_ms();
	for (size_t i = 0; i < lv->nsrc; i++) {
		const coco_gsource *gs = coco_graph_source(g, i);
		lsrc *s = &lv->src[i];
		lv->stats[i].source = gs->name;
		s->fd = -1;
		if (gs->sopts.refresh_interval > 0) {
			s->refresh_ms = gs->sopts.refresh_interval * 1e3;
			s->next_refresh = now + s->refresh_ms;
		}
		if (!gs->ops->watch)
			continue;
		char *e = NULL;
		if (gs->ops->named)
			gs->ops->named(coco_indexer_source(lv->ix, i), coco_graph_name(g), gs->name);
		if (gs->ops->watch(coco_indexer_source(lv->ix, i), &s->fd, &e)) {
			coco_seterr(err, "%s (%s): cannot watch for changes: %s", gs->name, gs->where,
				e ? e : "error");
			free(e);
			coco_live_destroy(lv);
			return -1;
		}
		if (s->fd < 0)
			continue;
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		if (epoll_ctl(lv->epfd, EPOLL_CTL_ADD, s->fd, &ev)) {
			coco_seterr(err, "live: epoll_ctl: %s", strerror(errno));
			coco_live_destroy(lv);
			return -1;
		}
	}
	lv->xfd = coco_indexer_fd(lv->ix);
	struct epoll_event xev = { .events = EPOLLIN, .data.u32 = INDEXER_TAG };
	if (lv->xfd >= 0)
		epoll_ctl(lv->epfd, EPOLL_CTL_ADD, lv->xfd, &xev);
	*out = lv;
	return 0;
}


int coco_live_fd(const coco_live *lv) { return lv->epfd; }

int coco_live_has_capture(const coco_live *lv)
{
	for (size_t i = 0; i < lv->nsrc; i++)
		if (lv->src[i].fd >= 0 || lv->src[i].refresh_ms > 0)
			return 1;
	return 0;
}

static double next_due(const coco_live *lv)
{
	if (!lv->started)
		return 0;
	for (size_t i = 0; i < lv->nsrc; i++)
		if (lv->src[i].in_pass)     /* go on at once, or when the listing thread is done */
			return coco_indexer_listing(lv->ix) ? -1 : 0;
	double t = -1;
#define MIN(x) do { double x_ = (x); if (t < 0 || x_ < t) t = x_; } while (0)
	for (size_t i = 0; i < lv->nsrc; i++) {
		const lsrc *s = &lv->src[i];
		if (s->rescan || s->nbatch)
			MIN(s->retry_at);
		if (s->refresh_ms > 0)
			MIN(s->next_refresh > s->retry_at ? s->next_refresh : s->retry_at);
		if (s->poll_ms > 0)
			MIN(s->next_poll);
		for (size_t k = 0; k < s->keys.cap; k++)
			if (s->keys.v[k] && s->keys.v[k]->pending)
				MIN(s->keys.v[k]->deadline);
	}
#undef MIN
	return t;
}

long coco_live_timeout(const coco_live *lv)
{
	if (lv->aborted)
		return 0;
	double t = next_due(lv);
	if (t < 0)
		return -1;
	double d = t - coco_now_ms();
	return d <= 0 ? 0 : (long)d + 1;
}

static void add_stats(coco_source_stats *a, const coco_source_stats *b)
{
	a->listed += b->listed;
	a->added += b->added;
	a->updated += b->updated;
	a->deleted += b->deleted;
	a->unchanged += b->unchanged;
	a->reprocessed += b->reprocessed;
	a->errors += b->errors;
	a->warnings += b->warnings;
	a->fn_calls += b->fn_calls;
	a->cache_hits += b->cache_hits;
	a->elapsed_ms += b->elapsed_ms;
}

static int report(coco_live *lv, size_t i, coco_source_stats *b)
{
	add_stats(&lv->stats[i], b);
	if (lv->o.on_batch)
		lv->o.on_batch(lv->o.ud, b);
	return (int)(b->added + b->updated + b->deleted + b->reprocessed);
}

static uint64_t nchanged(const coco_source_stats *b)
{
	return b->added + b->updated + b->deleted + b->reprocessed;
}

/* While source i lists on the indexer's helper thread, its change fd is
 * out of epoll (watch_read must not run then; the events wait in it). */
static void park(coco_live *lv, size_t i, int on)
{
	lsrc *s = &lv->src[i];
	if (s->fd < 0 || s->parked == on)
		return;
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
	epoll_ctl(lv->epfd, on ? EPOLL_CTL_DEL : EPOLL_CTL_ADD, s->fd, &ev);
	s->parked = on;
}

/* The initial pass of a source is over (done or failed): once every
 * source's is, reexport and full_reprocess no longer apply. */
static void initial_over(coco_live *lv, lsrc *s)
{
	if (!s->initial)
		return;
	s->initial = 0;
	if (--lv->ninitial == 0) {
		coco_update_opts *uo = coco_indexer_opts(lv->ix);
		uo->reexport = uo->full_reprocess = 0;
	}
}

/* A full pass over source i, or its next slice. Rows whose changes were
 * reported before it started are covered by it. Returns the rows
 * processed in this call. */
/* Tell source i's change feed that the rows of these entries are processed
 * and committed (coco_source_ops.committed: SQS deletes its messages). */
static void ack(coco_live *lv, size_t i, kent *const *v, size_t n)
{
	const coco_gsource *gs = coco_graph_source(lv->g, i);
	if (!gs->ops->committed || !n)
		return;
	coco_arena a = {0};
	coco_value *keys = coco_arena_alloc(&a, n * sizeof *keys);
	size_t m = 0;
	for (size_t k = 0; k < n; k++) {
		const char *p = v[k]->key;
		if (!coco_value_decode(&p, p + v[k]->n, &a, &keys[m]))
			m++;
	}
	gs->ops->committed(coco_indexer_source(lv->ix, i), keys, m);
	coco_arena_destroy(&a);
}

static int full_pass(coco_live *lv, size_t i)
{
	lsrc *s = &lv->src[i];
	lv->worked = 1;
	if (!s->in_pass) {
		memset(&s->ps, 0, sizeof s->ps);
		s->ps.source = lv->stats[i].source;
		s->pass_start = coco_now_ms();
	}
	uint64_t before = nchanged(&s->ps);
	char *e = NULL;
	int rc = coco_indexer_pass(lv->ix, i, &s->ps, &e);
	int n = (int)(nchanged(&s->ps) - before);
	park(lv, i, rc == 1 && coco_indexer_listing(lv->ix));
	if (rc == 1) {
		s->in_pass = 1;
		return n;
	}
	s->in_pass = 0;
	initial_over(lv, s);
	if (rc) {
		warn(lv, "%s.%s: %s; retrying", coco_graph_name(lv->g), s->ps.source, e ? e : "update failed");
		free(e);
		s->rescan = 1;
		s->retry_at = coco_now_ms() + RETRY_MS;
		return n;
	}
	s->rescan = s->rescan == 2;     /* events were lost while it ran: again */
	s->retry_at = 0;
	if (coco_indexer_sweep(lv->ix, &e)) {
		warn(lv, "%s.%s: %s", coco_graph_name(lv->g), s->ps.source, e ? e : "memo sweep failed");
		free(e);
	}
	double now = coco_now_ms();
	kent **acked = NULL;
	size_t nack = 0, capack = 0;
	for (size_t k = 0; k < s->keys.cap; k++) {
		kent *en = s->keys.v[k];
		if (!en || !(en->pending || en->in_batch))
			continue;
		if (en->seen < s->pass_start) {
			en->pending = en->in_batch = 0;
			en->last = now;
			if (nack == capack)
				acked = coco_xrealloc(acked, (capack = 2 * capack + 16) * sizeof *acked);
			acked[nack++] = en;         /* covered by the pass: acknowledged */
		} else if (en->in_batch) {
			en->in_batch = 0;           /* changed while the pass ran: once more */
			en->pending = 1;
			en->deadline = now;
		}
	}
	ack(lv, i, acked, nack);
	free(acked);
	s->nbatch = 0;
	if (s->refresh_ms > 0)
		s->next_refresh = now + s->refresh_ms;
	if (s->poll_ms > 0)
		s->next_poll = now + s->poll_ms;
	report(lv, i, &s->ps);
	return n;
}

/* Process the rows in s->batch, or the next slice of that. */
static int keys_pass(coco_live *lv, size_t i)
{
	lsrc *s = &lv->src[i];
	lv->worked = 1;
	coco_arena a = {0};
	coco_value *keys = NULL;
	size_t n = 0;
	if (!s->in_pass) {
		memset(&s->ps, 0, sizeof s->ps);
		s->ps.source = lv->stats[i].source;
		s->pass_start = coco_now_ms();
		keys = coco_arena_alloc(&a, s->nbatch * sizeof *keys);
		for (size_t k = 0; k < s->nbatch; k++) {
			const char *p = s->batch[k]->key;
			if (!coco_value_decode(&p, p + s->batch[k]->n, &a, &keys[n]))
				n++;
		}
	}
	uint64_t before = nchanged(&s->ps);
	char *e = NULL;
	int rc = coco_indexer_keys(lv->ix, i, keys, n, &s->ps, &e);
	coco_arena_destroy(&a);
	int done = (int)(nchanged(&s->ps) - before);
	if (rc == 1) {
		s->in_pass = 2;
		return done;
	}
	s->in_pass = 0;
	double now = coco_now_ms();
	size_t nack = 0;
	for (size_t k = 0; k < s->nbatch; k++) {
		kent *en = s->batch[k];
		en->in_batch = 0;
		en->last = now;
		if (rc) {                   /* target locked, state I/O: try again */
			en->pending = 1;
			en->deadline = now + RETRY_MS;
		} else if (!en->pending) {
			s->batch[nack++] = en;  /* committed, no newer change: acknowledged */
		}
	}
	s->nbatch = 0;
	if (rc) {
		warn(lv, "%s.%s: %s; retrying", coco_graph_name(lv->g), s->ps.source, e ? e : "update failed");
		free(e);
		return done;
	}
	ack(lv, i, s->batch, nack);
	if (s->keys.n > 4096)          /* keep memory flat under churn */
		ktab_rebuild(&s->keys, s->keys.cap, now - COCO_LIVE_DEBOUNCE_MS);
	report(lv, i, &s->ps);
	if (coco_indexer_sweep(lv->ix, &e)) {   /* on a helper thread, now and then */
		warn(lv, "%s.%s: %s", coco_graph_name(lv->g), s->ps.source, e ? e : "memo sweep failed");
		free(e);
	}
	return done;
}

int coco_live_catch_signals(coco_live *lv, char **err)
{
	int rd = coco_signal_pipe(&lv->sig_wr);
	if (rd < 0)
		return coco_seterr(err, "live: pipe: %s", strerror(errno));
	lv->sig_rd = rd;
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = SIGNAL_TAG };
	epoll_ctl(lv->epfd, EPOLL_CTL_ADD, rd, &ev);
	return 0;
}

/* After a burst of work, once nothing is due soon: give the heap's free
 * pages back (a pass frees its batches, memtables and caches, but glibc
 * keeps them), so that an idle updater costs its host little memory. */
static void idle_trim(coco_live *lv)
{
	if (!lv->worked)
		return;
	long t = coco_live_timeout(lv);
	if (t >= 0 && t < 100)
		return;
	lv->worked = 0;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

static int step(coco_live *lv, int timeout_ms, char **err);

int coco_live_step(coco_live *lv, int timeout_ms, char **err)
{
	int n = step(lv, timeout_ms, err);
	if (n >= 0 && !lv->aborted)
		idle_trim(lv);
	return n;
}

static int step(coco_live *lv, int timeout_ms, char **err)
{
	if (lv->aborted)
		return -2;
	int done = 0;
	lv->now = coco_now_ms();
	/* the indexer stops early enough for the rest of the step to fit */
	lv->deadline = lv->budget_ms > 0 ? lv->now + lv->budget_ms * 0.8 : 0;
	coco_indexer_set_deadline(lv->ix, lv->deadline);
	if (!lv->started) {
		/* the initial pass: everything, then only what changes */
		/* rows of sources that left the flow go first (in slices) */
		int orc = coco_indexer_orphans(lv->ix, err);
		if (orc < 0)
			return -1;
		if (orc == 1)
			return 0;               /* not started yet: timeout() is 0 */
		lv->started = 1;
		for (size_t i = 0; i < lv->nsrc; i++) {
			lv->src[i].rescan = 1;
			lv->src[i].initial = 1;
		}
		lv->ninitial = (int)lv->nsrc;
		if (!lv->deadline) {
			for (size_t i = 0; i < lv->nsrc; i++)
				done += full_pass(lv, i);
			return done;
		}
		/* with a budget, the passes go in slices from here on */
	}
	long wait = timeout_ms;
	long due = coco_live_timeout(lv);
	if (due >= 0 && (wait < 0 || due < wait))
		wait = due;
	struct epoll_event evs[16];
	int n = epoll_wait(lv->epfd, evs, 16, wait > INT32_MAX ? INT32_MAX : (int)wait);
	if (n < 0 && errno != EINTR)
		return coco_seterr(err, "live: epoll_wait: %s", strerror(errno));
	lv->now = coco_now_ms();
	cbctx c = { .lv = lv };
	for (int k = 0; k < n; k++) {
		uint32_t tag = evs[k].data.u32;
		if (tag == INDEXER_TAG) {
			uint64_t v;
			while (read(lv->xfd, &v, sizeof v) > 0)
				;
			char *e = NULL;         /* a memo sweep may be done: apply it */
			if (coco_indexer_sweep(lv->ix, &e)) {
				warn(lv, "%s: %s", coco_graph_name(lv->g), e ? e : "memo sweep failed");
				free(e);
			}
			continue;
		}
		if (tag == SIGNAL_TAG) {
			char buf[16];
			while (read(lv->sig_rd, buf, sizeof buf) > 0)
				;
			lv->aborted = 1;
			continue;
		}
		const coco_gsource *gs = coco_graph_source(lv->g, tag);
		char *e = NULL;
		c.si = tag;
		if (gs->ops->watch_read(coco_indexer_source(lv->ix, tag), on_change, &c, &e)) {
			warn(lv, "%s.%s: %s", coco_graph_name(lv->g), gs->name, e ? e : "change capture failed");
			lv->src[tag].rescan = lv->src[tag].in_pass == 1 ? 2 : 1;
		}
		free(e);
	}
	coco_buf_free(&c.enc);
	if (lv->aborted)
		return done;               /* rows read so far stay for the next run */
	lv->now = coco_now_ms();
	/* a pass stopped at the last step's deadline goes on first */
	int ran = 0;                    /* a pass ran in this step */
	for (size_t i = 0; i < lv->nsrc; i++) {
		lsrc *s = &lv->src[i];
		if (!s->in_pass)
			continue;
		done += s->in_pass == 1 ? full_pass(lv, i) : keys_pass(lv, i);
		ran = 1;
		if (s->in_pass)
			return done;
	}
	for (size_t i = 0; i < lv->nsrc; i++) {
		lsrc *s = &lv->src[i];
		/* the rest at the next step (timeout() is 0); a step that ran no
		 * pass yet starts one even when late (a pass does one row at
		 * least), so that a budget shorter than the step's own overhead
		 * still makes progress */
		if (ran && lv->deadline > 0 && coco_now_ms() >= lv->deadline)
			break;
		if (lv->now < s->retry_at)
			continue;
		if ((s->refresh_ms > 0 && lv->now >= s->next_refresh) ||
		    (s->poll_ms > 0 && lv->now >= s->next_poll))
			s->rescan = 1;
		if (s->rescan) {
			done += full_pass(lv, i);
			ran = 1;
			if (s->in_pass)
				return done;
			continue;
		}
		for (size_t k = 0; k < s->keys.cap; k++) {
			kent *e = s->keys.v[k];
			if (e && e->pending && e->deadline <= lv->now)
				batch_add(s, e);
		}
		if (s->nbatch) {
			done += keys_pass(lv, i);
			ran = 1;
			if (s->in_pass)
				return done;
		}
	}
	return done;
}

void coco_live_rescan(coco_live *lv, int reexport, int full_reprocess)
{
	coco_update_opts *uo = coco_indexer_opts(lv->ix);
	uo->reexport = reexport;
	uo->full_reprocess = full_reprocess;
	if (!lv->started)
		return;                   /* the initial pass does it */
	for (size_t i = 0; i < lv->nsrc; i++) {
		lsrc *s = &lv->src[i];
		s->rescan = s->in_pass == 1 ? 2 : 1;
		s->retry_at = 0;
		if (!s->initial) {        /* the options hold until every source's pass is over */
			s->initial = 1;
			lv->ninitial++;
		}
	}
}

int coco_live_busy(const coco_live *lv) { return !lv->started || lv->ninitial > 0; }

void coco_live_abort(coco_live *lv) { lv->aborted = 1; }
const coco_source_stats *coco_live_stats(const coco_live *lv) { return lv->stats; }

void coco_live_destroy(coco_live *lv)
{
	if (!lv)
		return;
	for (size_t i = 0; i < lv->nsrc; i++) {
		ktab_free(&lv->src[i].keys);
		free(lv->src[i].batch);
	}
	coco_indexer_close(lv->ix);   /* closes the sources and their watch fds */
	if (lv->epfd >= 0)
		close(lv->epfd);
	if (lv->sig_rd >= 0)
		coco_signal_pipe_close(lv->sig_rd, lv->sig_wr);
	free(lv->src);
	free(lv->stats);
	free(lv);
}
