/* A listing sorted in bounded memory: sorted runs, spilled to an unlinked
 * temporary file, merged with a small heap. See listing.h. */
#define _GNU_SOURCE
#include "engine/listing.h"
#include "engine/buf.h"
#include "engine/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RUN_DEFAULT (4u << 20)
#define READ_BUF (64u << 10)

/* A record, in memory and in the file: nkey and nord (uint32, native
 * order: the file never outlives the process), the key, the ordinal. */
#define HDR 8

typedef struct reader {
	uint64_t pos, end;            /* what is left of the run in the file */
	char *buf;
	size_t cap, at, len;          /* buf[at..len) is read, not yet used */
	const char *rec;              /* the current record, NULL at the end */
	int mem;                      /* the run in memory (no buffer, no file) */
} reader;

struct coco_listing {
	char *tmpdir;
	size_t run_bytes;
	coco_buf run;                 /* records of the run being filled */
	uint32_t *off;                /* their offsets in run.p, sorted at the end */
	size_t noff, capoff;
	uint64_t count;
	int fd;                       /* the temporary file, -1 until a run spills */
	uint64_t fsize;
	size_t nspill;                /* runs written to it */
	reader *rd;                   /* the spilled runs, then the run in memory */
	size_t nrd;
	size_t mem_i;                 /* the next record of the run in memory */
	size_t *heap, nheap;          /* readers with a record, by key then run */
	long last;                    /* the reader whose record was returned, -1 */
	coco_buf prev;                /* the key returned last */
	int have_prev;
};

static void rec_get(const char *r, uint32_t *nkey, uint32_t *nord)
{
	memcpy(nkey, r, 4);
	memcpy(nord, r + 4, 4);
}

static int key_cmp(const char *a, const char *b)
{
	uint32_t na, nb, o;
	rec_get(a, &na, &o);
	rec_get(b, &nb, &o);
	return coco_bytes_cmp(a + HDR, na, b + HDR, nb);
}

/* Records of one run: by key, then by offset (the order they were added). */
static int off_cmp(const void *pa, const void *pb, void *ud)
{
	const char *base = ud;
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	int c = key_cmp(base + a, base + b);
	return c ? c : (a > b) - (a < b);
}

coco_listing *coco_listing_create(const char *tmpdir, size_t run_bytes)
{
	coco_listing *l = coco_xcalloc(1, sizeof *l);
	l->tmpdir = coco_strdup(tmpdir ? tmpdir : ".");
	const char *env = getenv("COCO_LISTING_RUN_BYTES");   /* specs: spill small runs */
	l->run_bytes = run_bytes ? run_bytes : env && atol(env) > 0 ? (size_t)atol(env) : RUN_DEFAULT;
	l->fd = -1;
	l->last = -1;
	return l;
}

static int tmp_open(coco_listing *l, char **err)
{
	l->fd = open(l->tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (l->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		/* no O_TMPFILE here: a named file, unlinked at once */
		coco_buf path = {0};
		coco_buf_printf(&path, "%s/coco-listing-XXXXXX", l->tmpdir);
		l->fd = mkostemp(path.p, O_CLOEXEC);
		if (l->fd >= 0)
			unlink(path.p);
		coco_buf_free(&path);
	}
	if (l->fd < 0)
		return coco_seterr(err, "cannot create a temporary file for the listing in %s: %s",
			l->tmpdir, strerror(errno));
	return 0;
}

static int write_all(coco_listing *l, const char *p, size_t n, char **err)
{
	while (n) {
		ssize_t w = write(l->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return coco_seterr(err, "cannot write the listing to a temporary file in %s: %s",
				l->tmpdir, w < 0 ? strerror(errno) : "short write");
		p += w;
		n -= (size_t)w;
		l->fsize += (uint64_t)w;
	}
	return 0;
}

static void sort_run(coco_listing *l)
{
	if (l->noff > 1)
		qsort_r(l->off, l->noff, sizeof *l->off, off_cmp, l->run.p);
}

/* The run in memory, sorted, to the end of the file; the run is emptied. */
static int spill(coco_listing *l, char **err)
{
	if (l->fd < 0 && tmp_open(l, err))
		return -1;
	sort_run(l);
	uint64_t start = l->fsize;
	coco_buf out = {0};
	int rc = 0;
	for (size_t i = 0; i < l->noff && !rc; i++) {
		const char *r = l->run.p + l->off[i];
		uint32_t nkey, nord;
		rec_get(r, &nkey, &nord);
		coco_buf_add(&out, r, HDR + (size_t)nkey + nord);
		if (out.n >= READ_BUF || i + 1 == l->noff) {
			rc = write_all(l, out.p, out.n, err);
			coco_buf_clear(&out);
		}
	}
	coco_buf_free(&out);
	if (rc)
		return -1;
	l->rd = coco_xrealloc(l->rd, (l->nrd + 1) * sizeof *l->rd);
	l->rd[l->nrd++] = (reader){ .pos = start, .end = l->fsize };
	l->nspill++;
	coco_buf_clear(&l->run);
	l->noff = 0;
	return 0;
}

int coco_listing_add(coco_listing *l, const void *key, size_t nkey, const void *ord, size_t nord,
	char **err)
{
	size_t n = HDR + nkey + nord;
	if (l->noff && l->run.n + n > l->run_bytes && spill(l, err))
		return -1;
	if (l->noff == l->capoff) {
		l->capoff = l->capoff ? 2 * l->capoff : 1024;
		l->off = coco_xrealloc(l->off, l->capoff * sizeof *l->off);
	}
	l->off[l->noff++] = (uint32_t)l->run.n;
	uint32_t h[2] = { (uint32_t)nkey, (uint32_t)nord };
	coco_buf_add(&l->run, h, HDR);
	coco_buf_add(&l->run, key, nkey);
	coco_buf_add(&l->run, ord, nord);
	l->count++;
	return 0;
}

/* Makes the reader's next record current (rec NULL at the end of its run). */
static int rd_next(coco_listing *l, reader *r, char **err)
{
	r->rec = NULL;
	for (;;) {
		size_t have = r->len - r->at;
		if (have >= HDR) {
			uint32_t nkey, nord;
			rec_get(r->buf + r->at, &nkey, &nord);
			size_t need = HDR + (size_t)nkey + nord;
			if (have >= need) {
				r->rec = r->buf + r->at;
				r->at += need;
				return 0;
			}
			if (need > r->cap) {          /* a record larger than the buffer */
				memmove(r->buf, r->buf + r->at, have);
				r->at = 0, r->len = have;
				r->cap = need;
				r->buf = coco_xrealloc(r->buf, r->cap);
			}
		}
		if (r->pos == r->end) {
			if (have)
				return coco_seterr(err, "the listing's temporary file in %s is truncated", l->tmpdir);
			return 0;
		}
		memmove(r->buf, r->buf + r->at, have);
		r->at = 0, r->len = have;
		size_t want = r->cap - have;
		if (want > r->end - r->pos)
			want = (size_t)(r->end - r->pos);
		ssize_t got = pread(l->fd, r->buf + have, want, (off_t)r->pos);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return coco_seterr(err, "cannot read the listing's temporary file in %s: %s",
				l->tmpdir, got < 0 ? strerror(errno) : "unexpected end of file");
		r->len += (size_t)got;
		r->pos += (uint64_t)got;
	}
}

/* The current record of reader i: a spilled run's, or the run in memory's. */
static const char *cur(const coco_listing *l, size_t i) { return l->rd[i].rec; }

static int heap_less(const coco_listing *l, size_t a, size_t b)
{
	int c = key_cmp(cur(l, a), cur(l, b));
	return c ? c < 0 : a < b;     /* equal keys: the earlier run first */
}

static void heap_down(coco_listing *l, size_t i)
{
	for (;;) {
		size_t m = i, c = 2 * i + 1;
		if (c < l->nheap && heap_less(l, l->heap[c], l->heap[m]))
			m = c;
		if (c + 1 < l->nheap && heap_less(l, l->heap[c + 1], l->heap[m]))
			m = c + 1;
		if (m == i)
			return;
		size_t t = l->heap[i];
		l->heap[i] = l->heap[m];
		l->heap[m] = t;
		i = m;
	}
}

/* Moves reader i to its next record. */
static int advance(coco_listing *l, size_t i, char **err)
{
	reader *r = &l->rd[i];
	if (!r->mem)
		return rd_next(l, r, err);
	r->rec = l->mem_i < l->noff ? l->run.p + l->off[l->mem_i++] : NULL;
	return 0;
}

int coco_listing_finish(coco_listing *l, char **err)
{
	sort_run(l);
	size_t nspilled = l->nrd;
	for (size_t i = 0; i < nspilled; i++) {
		l->rd[i].cap = READ_BUF;
		l->rd[i].buf = coco_xmalloc(READ_BUF);
	}
	/* the run in memory last: of equal keys, it holds the latest added */
	l->rd = coco_xrealloc(l->rd, (l->nrd + 1) * sizeof *l->rd);
	l->rd[l->nrd++] = (reader){ .mem = 1 };
	l->heap = coco_xcalloc(l->nrd, sizeof *l->heap);
	for (size_t i = 0; i < l->nrd; i++) {
		if (advance(l, i, err))
			return -1;
		if (cur(l, i))
			l->heap[l->nheap++] = i;
	}
	for (size_t i = l->nheap / 2; i-- > 0;)
		heap_down(l, i);
	return 0;
}

int coco_listing_next(coco_listing *l, const char **key, size_t *nkey, const char **ord,
	size_t *nord, char **err)
{
	for (;;) {
		if (l->last >= 0) {
			/* the record returned last is done with: its reader moves on */
			size_t i = (size_t)l->last;
			l->last = -1;
			if (advance(l, i, err))
				return -1;
			if (cur(l, i))
				heap_down(l, 0);
			else {
				l->heap[0] = l->heap[--l->nheap];
				heap_down(l, 0);
			}
		}
		if (!l->nheap)
			return 0;
		size_t i = l->heap[0];
		const char *r = cur(l, i);
		uint32_t nk, no;
		rec_get(r, &nk, &no);
		l->last = (long)i;
		if (l->have_prev && l->prev.n == nk && !memcmp(l->prev.p, r + HDR, nk))
			continue;                 /* listed twice: the first one stands */
		coco_buf_clear(&l->prev);
		coco_buf_add(&l->prev, r + HDR, nk);
		l->have_prev = 1;
		*key = r + HDR;
		*nkey = nk;
		*ord = r + HDR + nk;
		*nord = no;
		return 1;
	}
}

uint64_t coco_listing_count(const coco_listing *l) { return l->count; }

size_t coco_listing_spilled(const coco_listing *l) { return l->nspill; }

void coco_listing_destroy(coco_listing *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	for (size_t i = 0; i < l->nrd; i++)
		free(l->rd[i].buf);
	free(l->rd);
	free(l->heap);
	free(l->off);
	coco_buf_free(&l->run);
	coco_buf_free(&l->prev);
	free(l->tmpdir);
	free(l);
}
