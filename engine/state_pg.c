/* The state store (state.h) in PostgreSQL: cluster mode
 * (../shared/notes/cluster.md). libpq is opened on first use (lazylib.c).
 *
 * One schema per flow ("coco_<Flow>"), one table per key space, keys and
 * values bytea (bytea compares like memcmp, shorter first on a tie: the
 * store's order). Statements are prepared once per connection (one round
 * trip: a string of PREPAREs); keys and values travel in binary.
 *   write      one transaction: the batch reduced to its last operation
 *              per key, then per key space one upsert of unnest()ed
 *              arrays and one DELETE ... = ANY(array)
 *   iterators  keyset pages (k >= lo [AND k < hi] ORDER BY k LIMIT n) read
 *              in a REPEATABLE READ READ ONLY transaction: the snapshot's,
 *              or the iterator's own (its view is fixed when it is made)
 *   memo       INSERT ... ON CONFLICT DO NOTHING in autocommit, never
 *              part of a batch
 *   leases     cluster.c: a read-write open holds no partition until
 *              coco_cluster_balance claims some; every write first re-reads
 *              the lease rows of those it holds FOR SHARE in its
 *              transaction (lease_fence) and writes nothing when one is
 *              gone: a process paused past its lease while another took
 *              the partition over never commits
 * libpq connections are not shared between threads: a statement takes an
 * idle connection from the store's pool (or connects) and gives it back,
 * so the main thread, the writer thread and the memo sweep each work on
 * their own; a snapshot holds one for its life (its iterators take turns
 * on it under the snapshot's mutex). */
#define _GNU_SOURCE
#include "engine/state_pg_int.h"
#include "engine/secret.h"
#include "engine/sys.h"
#include "connectors/common/pgconn.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LEASE_MS 20000           /* a lease's life; $COCO_CLUSTER_LEASE_MS (specs) */
#define PAGE_FIRST 64            /* an iterator's first page; doubles up to */
#define PAGE_MAX 4096
#define BYTEAOID 17

static const char *const tables[COCO_CF_COUNT] = {
	"meta", "tracking", "lineage", "memo", "setup", "owner",
};

struct coco_snapshot {
	PGconn *c;                            /* in a REPEATABLE READ READ ONLY transaction */
	pthread_mutex_t mu;                   /* its iterators take turns */
	char *err;                            /* why c is NULL */
};

typedef struct pg_iter {
	coco_iter base;
	pgs *s;
	coco_snapshot *sn;
	int own;                              /* sn was made for this iterator */
	int cf;
	coco_buf prefix, hi, lo;              /* lo: the next page's least key */
	int has_hi;
	PGresult *page;
	int row, nrows, limit, last;          /* last: no page after this one */
} pg_iter;

static const coco_state_ops pg_ops;

static void quiet_notices(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* -1 with *err "LABEL: msg" (msg on one line, any secret in it redacted). */
int pg_fail(const pgs *s, const char *msg, char **err)
{
	coco_buf m = {0}, r = {0};
	coco_pg_msg(&m, msg && *msg ? msg : "unknown error");
	coco_redact(m.p ? m.p : "", &r);
	coco_seterr(err, "%s: %s", s->label, r.p);
	coco_buf_free(&m);
	coco_buf_free(&r);
	return -1;
}

int res_fail(const pgs *s, PGconn *c, PGresult *r, char **err)
{
	return pg_fail(s, r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r) : PQerrorMessage(c),
		err);
}

/* Runs sql (no rows wanted): 0, or -1 with *err. */
int exec_sql(const pgs *s, PGconn *c, const char *sql, char **err)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : res_fail(s, c, r, err);
	PQclear(r);
	return rc;
}

/* Every statement of the store, as PREPAREs sent in one string. */
static void prepare_sql(const pgs *s, coco_buf *q)
{
	const char *S = s->schema;
	for (int i = 0; i < COCO_CF_COUNT; i++) {
		const char *t = tables[i];
		coco_buf_printf(q, "PREPARE g%d(bytea) AS SELECT v FROM %s.%s WHERE k = $1;", i, S, t);
		coco_buf_printf(q, "PREPARE a%d(bytea, int) AS SELECT k, v FROM %s.%s WHERE k >= $1 "
			"ORDER BY k LIMIT $2;", i, S, t);
		coco_buf_printf(q, "PREPARE b%d(bytea, bytea, int) AS SELECT k, v FROM %s.%s "
			"WHERE k >= $1 AND k < $2 ORDER BY k LIMIT $3;", i, S, t);
		coco_buf_printf(q, "PREPARE p%d(bytea[], bytea[]) AS INSERT INTO %s.%s (k, v) "
			"SELECT * FROM unnest($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v;", i, S, t);
		coco_buf_printf(q, "PREPARE d%d(bytea[]) AS DELETE FROM %s.%s WHERE k = ANY($1);", i, S, t);
	}
	coco_buf_printf(q, "PREPARE m(bytea, bytea) AS INSERT INTO %s.memo (k, v) VALUES ($1, $2) "
		"ON CONFLICT (k) DO NOTHING;", S);
	coco_buf_printf(q, "PREPARE f(text) AS SELECT part, epoch FROM %s.lease WHERE owner = $1 "
		"FOR SHARE;", S);
}

/* A new connection (prepare: with the store's statements prepared). */
PGconn *pg_connect(const pgs *s, int prepare, char **err)
{
	/* later keywords win: the URL may override the first two */
	static const char *const keys[] = { "connect_timeout", "application_name", "dbname",
		"client_encoding", NULL };
	const char *vals[] = { "10", "coco", s->url, "UTF8", NULL };
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (!c) {
		pg_fail(s, "out of memory", err);
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		pg_fail(s, PQerrorMessage(c), err);
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, quiet_notices, NULL);
	if (prepare) {
		coco_buf q = {0};
		prepare_sql(s, &q);
		int rc = exec_sql(s, c, q.p, err);
		coco_buf_free(&q);
		if (rc < 0) {
			PQfinish(c);
			return NULL;
		}
	}
	return c;
}

/* An idle connection of the pool, else a new one; NULL with *err. */
PGconn *take(pgs *s, char **err)
{
	PGconn *c = NULL;
	pthread_mutex_lock(&s->mu);
	if (s->nidle)
		c = s->idle[--s->nidle];
	pthread_mutex_unlock(&s->mu);
	return c ? c : pg_connect(s, 1, err);
}

/* Back to the pool when it is usable and out of any transaction. */
void give(pgs *s, PGconn *c)
{
	if (!c)
		return;
	if (PQstatus(c) != CONNECTION_OK || PQtransactionStatus(c) != PQTRANS_IDLE) {
		PQfinish(c);
		return;
	}
	pthread_mutex_lock(&s->mu);
	if (s->nidle == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 4;
		s->idle = coco_xrealloc(s->idle, s->cap * sizeof *s->idle);
	}
	s->idle[s->nidle++] = c;
	pthread_mutex_unlock(&s->mu);
}

static void pg_close(coco_state *st)
{
	pgs *s = (pgs *)st;
	lease_release(s);
	for (size_t i = 0; i < s->nidle; i++)
		PQfinish(s->idle[i]);
	free(s->idle);
	pthread_cond_destroy(&s->hb_cv);
	pthread_mutex_destroy(&s->mu);
	free(s->url);
	free(s->label);
	free(s->schema);
	free(s->flow);
	free(s->dir);
	free(s);
}

/* A store for flow on url, not connected yet. */
pgs *pg_new(const char *url, const char *flow, int ro)
{
	pgs *s = coco_xcalloc(1, sizeof *s);
	s->base.ops = &pg_ops;
	s->ro = ro;
	s->url = coco_strdup(url);
	s->flow = coco_strdup(flow);
	coco_buf b = {0};
	coco_buf_adds(&b, "cluster URL ");
	coco_redact(url, &b);
	s->label = coco_buf_take(&b);
	coco_buf n = {0};
	coco_buf_adds(&n, "coco_");
	coco_buf_adds(&n, flow);
	coco_buf_putc(&b, '"');
	coco_pg_ident63(&b, n.p, n.n);        /* flow names are identifiers: no quote inside */
	coco_buf_putc(&b, '"');
	s->schema = coco_buf_take(&b);
	coco_buf_free(&n);
	const char *tmp = getenv("TMPDIR");
	s->dir = coco_strdup(tmp && *tmp ? tmp : "/tmp");
	const char *ms = getenv("COCO_CLUSTER_LEASE_MS");
	s->lease_ms = ms && atol(ms) > 0 ? atol(ms) : LEASE_MS;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->hb_cv, NULL);
	return s;
}

/* 0 when the flow's tables exist, else -1 with *err. */
int pg_exists(const pgs *s, PGconn *c, char **err)
{
	coco_buf q = {0};
	coco_buf_printf(&q, "SELECT to_regclass('%s.lease') IS NOT NULL", s->schema);
	PGresult *r = PQexec(c, q.p);
	int rc;
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		rc = res_fail(s, c, r, err);
	else if ((rc = strcmp(PQgetvalue(r, 0, 0), "t") ? -1 : 0) < 0)
		coco_seterr(err, "no state for flow %s in %s", s->flow, s->label);
	PQclear(r);
	coco_buf_free(&q);
	return rc;
}

/* Open the state of flow in the database at url. See state.h. */
int coco_state_pg_open(const char *url, const char *flow, int read_only, coco_state **out,
	char **err)
{
	*out = NULL;
	pgs *s = pg_new(url, flow, read_only);
	PGconn *c = pg_connect(s, 0, err);
	if (!c) {
		pg_close(&s->base);
		return -1;
	}
	coco_buf q = {0};
	int rc;
	if (read_only) {
		rc = pg_exists(s, c, err);
	} else {
		coco_buf_printf(&q, "CREATE SCHEMA IF NOT EXISTS %s;", s->schema);
		for (int i = 0; i < COCO_CF_COUNT; i++)
			coco_buf_printf(&q, "CREATE TABLE IF NOT EXISTS %s.%s (k bytea PRIMARY KEY, "
				"v bytea NOT NULL);", s->schema, tables[i]);
		coco_buf_printf(&q, "CREATE TABLE IF NOT EXISTS %s.lease (part int PRIMARY KEY, "
			"owner text, epoch bigint NOT NULL DEFAULT 0, expires_at timestamptz);"
			"INSERT INTO %s.lease (part) SELECT generate_series(0, %d) ON CONFLICT DO NOTHING;"
			"CREATE TABLE IF NOT EXISTS %s.worker (id text PRIMARY KEY, host text NOT NULL, "
			"pid int NOT NULL, started_at timestamptz NOT NULL, heartbeat timestamptz NOT NULL, "
			"rows bigint NOT NULL DEFAULT 0, errors bigint NOT NULL DEFAULT 0);"
			"CREATE TABLE IF NOT EXISTS %s.cluster (one bool PRIMARY KEY DEFAULT true CHECK (one), "
			"k int NOT NULL, flow_fp text NOT NULL, set_at timestamptz NOT NULL DEFAULT now());",
			s->schema, s->schema, PARTS - 1, s->schema, s->schema);
		rc = exec_sql(s, c, q.p, err);
		lease_owner(s);
	}
	coco_buf_clear(&q);
	if (!rc) {
		prepare_sql(s, &q);
		rc = exec_sql(s, c, q.p, err);
	}
	coco_buf_free(&q);
	if (rc < 0) {
		PQfinish(c);
		pg_close(&s->base);
		return -1;
	}
	give(s, c);
	if (!read_only)
		lease_start(s);
	*out = &s->base;
	return 0;
}

/* Drop the flow's schema and everything in it. */
int coco_state_pg_remove(const char *url, const char *flow, char **err)
{
	pgs *s = pg_new(url, flow, 0);
	PGconn *c = pg_connect(s, 0, err);
	int rc = -1;
	if (c) {
		coco_buf q = {0};
		coco_buf_printf(&q, "DROP SCHEMA IF EXISTS %s CASCADE", s->schema);
		rc = exec_sql(s, c, q.p, err);
		coco_buf_free(&q);
		PQfinish(c);
	}
	pg_close(&s->base);
	return rc;
}

/* ---- reads and writes ---------------------------------------------------- */

static int pg_get(coco_state *st, coco_cf cf, const void *k, size_t kn, coco_buf *val, char **err)
{
	pgs *s = (pgs *)st;
	PGconn *c = take(s, err);
	if (!c)
		return -1;
	char name[8];
	snprintf(name, sizeof name, "g%d", (int)cf);
	const char *pv[1] = { kn ? k : "" };
	int pl[1] = { (int)kn }, pf[1] = { 1 };
	PGresult *r = PQexecPrepared(c, name, 1, pv, pl, pf, 1);
	int rc;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = res_fail(s, c, r, err);
	} else if ((rc = PQntuples(r) > 0)) {
		coco_buf_clear(val);
		coco_buf_add(val, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0));
	}
	PQclear(r);
	give(s, c);
	return rc;
}

/* A binary bytea[] of n elements, filled by array_add. */
static void array_start(coco_buf *a, size_t n)
{
	uint32_t h[5] = { htonl(1), 0, htonl(BYTEAOID), htonl((uint32_t)n), htonl(1) };
	coco_buf_clear(a);
	coco_buf_add(a, h, sizeof h);
}

static void array_add(coco_buf *a, const void *p, size_t n)
{
	uint32_t len = htonl((uint32_t)n);
	coco_buf_add(a, &len, 4);
	coco_buf_add(a, p, n);
}

typedef struct wop {
	coco_batch_op op;
	size_t seq;
} wop;

/* By key space, key, then order in the batch. */
static int wop_cmp(const void *x, const void *y)
{
	const wop *a = x, *b = y;
	if (a->op.cf != b->op.cf)
		return a->op.cf < b->op.cf ? -1 : 1;
	int c = coco_bytes_cmp(a->op.k, a->op.kn, b->op.k, b->op.kn);
	return c ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

/* 1 when no operation after ops[j] (of m, sorted) is on its key. */
static int last_of_key(const wop *ops, size_t j, size_t m)
{
	if (j + 1 == m)
		return 1;
	const coco_batch_op *a = &ops[j].op, *b = &ops[j + 1].op;
	return a->cf != b->cf || coco_bytes_cmp(a->k, a->kn, b->k, b->kn);
}

/* Runs prepared statement name with the binary arrays; 0 or -1. */
static int exec_arrays(const pgs *s, PGconn *c, const char *name, int n, const coco_buf *a,
	char **err)
{
	const char *pv[2] = { a[0].p, n > 1 ? a[1].p : NULL };
	int pl[2] = { (int)a[0].n, n > 1 ? (int)a[1].n : 0 }, pf[2] = { 1, 1 };
	PGresult *r = PQexecPrepared(c, name, n, pv, pl, pf, 0);
	int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : res_fail(s, c, r, err);
	PQclear(r);
	return rc;
}

/* The batch in one transaction, each key's last operation applied. */
static int pg_write(coco_state *st, const coco_batch *b, int sync, char **err)
{
	pgs *s = (pgs *)st;
	(void)sync;                           /* a commit is durable (synchronous_commit) */
	if (s->ro)
		return coco_seterr(err, "%s: opened read-only", s->label);
	size_t n = coco_batch_count(b);
	if (!n)
		return 0;
	wop *ops = coco_xmalloc(n * sizeof *ops);
	size_t m = 0;
	for (size_t pos = 0; m < n && coco_batch_next(b, &pos, &ops[m].op); m++)
		ops[m].seq = m;
	qsort(ops, m, sizeof *ops, wop_cmp);
	PGconn *c = take(s, err);
	/* a process paused inside it (SIGSTOP) holds the lease rows FOR
	 * SHARE: the server ends the transaction after a lease's life */
	char begin[96];
	snprintf(begin, sizeof begin, "BEGIN; SET LOCAL idle_in_transaction_session_timeout = %ld",
		s->lease_ms);
	int rc = c ? exec_sql(s, c, begin, err) : -1;
	if (!rc)
		rc = lease_fence(s, c, err);
	coco_buf a[2] = {{0}}, d = {0};
	for (size_t i = 0; !rc && i < m; ) {
		/* one key space: its puts and its deletes, the last per key */
		coco_cf cf = ops[i].op.cf;
		size_t j = i, np = 0, nd = 0;
		for (; j < m && ops[j].op.cf == cf; j++) {
			if (!last_of_key(ops, j, m))
				continue;
			if (ops[j].op.del)
				nd++;
			else
				np++;
		}
		array_start(&a[0], np);
		array_start(&a[1], np);
		array_start(&d, nd);
		for (size_t x = i; x < j; x++) {
			const coco_batch_op *o = &ops[x].op;
			if (!last_of_key(ops, x, m))
				continue;                 /* a later operation on this key */
			if (o->del) {
				array_add(&d, o->k, o->kn);
			} else {
				array_add(&a[0], o->k, o->kn);
				array_add(&a[1], o->v, o->vn);
			}
		}
		char name[8];
		if (np) {
			snprintf(name, sizeof name, "p%d", (int)cf);
			rc = exec_arrays(s, c, name, 2, a, err);
		}
		if (!rc && nd) {
			snprintf(name, sizeof name, "d%d", (int)cf);
			rc = exec_arrays(s, c, name, 1, &d, err);
		}
		i = j;
	}
	if (!rc)
		rc = exec_sql(s, c, "COMMIT", err);
	else if (c && PQtransactionStatus(c) != PQTRANS_IDLE)
		exec_sql(s, c, "ROLLBACK", NULL);
	give(s, c);
	coco_buf_free(&a[0]);
	coco_buf_free(&a[1]);
	coco_buf_free(&d);
	free(ops);
	return rc;
}

static int pg_memo_get(coco_state *st, const unsigned char key[32], coco_buf *val, char **err)
{
	return pg_get(st, COCO_CF_MEMO, key, 32, val, err);
}

static int pg_memo_put(coco_state *st, const unsigned char key[32], const void *v, size_t vn,
	char **err)
{
	pgs *s = (pgs *)st;
	if (s->ro)
		return coco_seterr(err, "%s: opened read-only", s->label);
	PGconn *c = take(s, err);
	if (!c)
		return -1;
	const char *pv[2] = { (const char *)key, vn ? v : "" };   /* NULL would be SQL NULL */
	int pl[2] = { 32, (int)vn }, pf[2] = { 1, 1 };
	PGresult *r = PQexecPrepared(c, "m", 2, pv, pl, pf, 0);
	int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : res_fail(s, c, r, err);
	PQclear(r);
	give(s, c);
	return rc;
}

/* ---- snapshots and iterators ---------------------------------------------- */

static coco_snapshot *pg_snapshot(coco_state *st)
{
	pgs *s = (pgs *)st;
	coco_snapshot *sn = coco_xcalloc(1, sizeof *sn);
	pthread_mutex_init(&sn->mu, NULL);
	sn->c = take(s, &sn->err);
	/* the view is fixed by the first statement, not by BEGIN */
	if (sn->c && exec_sql(s, sn->c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1",
			&sn->err) < 0) {
		PQfinish(sn->c);
		sn->c = NULL;
	}
	return sn;
}

static void pg_release(coco_state *st, coco_snapshot *sn)
{
	pgs *s = (pgs *)st;
	if (sn->c) {
		exec_sql(s, sn->c, "COMMIT", NULL);
		give(s, sn->c);
	}
	pthread_mutex_destroy(&sn->mu);
	free(sn->err);
	free(sn);
}

/* Whether this process holds the partition of state key k. */
static int pg_owns(const coco_state *st, const void *k, size_t kn)
{
	const pgs *s = (const pgs *)st;
	return __atomic_load_n(&s->epoch[lease_part(k, kn)], __ATOMIC_ACQUIRE) > 0;
}

static const char *pg_dir(const coco_state *st)
{
	return ((const pgs *)st)->dir;
}

static coco_iter *pg_iter_new(coco_state *st, const coco_snapshot *sn, coco_cf cf,
	const void *prefix, size_t n)
{
	pgs *s = (pgs *)st;
	pg_iter *it = coco_xcalloc(1, sizeof *it);
	it->base.ops = &pg_ops;
	it->s = s;
	it->cf = (int)cf;
	it->own = !sn;
	it->sn = sn ? (coco_snapshot *)sn : pg_snapshot(st);
	it->limit = PAGE_FIRST;
	coco_buf_add(&it->prefix, prefix, n);
	coco_buf_add(&it->lo, prefix, n);
	/* upper bound: the prefix with its last non-0xff byte incremented */
	size_t un = n;
	while (un > 0 && ((const unsigned char *)prefix)[un - 1] == 0xff)
		un--;
	if (un > 0) {
		coco_buf_add(&it->hi, prefix, un);
		it->hi.p[un - 1] = (char)((unsigned char)it->hi.p[un - 1] + 1);
		it->has_hi = 1;
	}
	return &it->base;
}

/* The next page from it->lo: 0, or -1 with *err. */
static int fetch(pg_iter *it, char **err)
{
	coco_snapshot *sn = it->sn;
	PQclear(it->page);
	it->page = NULL;
	it->row = it->nrows = 0;
	if (!sn->c)
		return coco_seterr(err, "%s", sn->err ? sn->err : "no connection");
	char name[8], lim[16];
	snprintf(name, sizeof name, "%c%d", it->has_hi ? 'b' : 'a', it->cf);
	snprintf(lim, sizeof lim, "%d", it->limit);
	const char *pv[3] = { it->lo.p, it->hi.p, lim };
	int pl[3] = { (int)it->lo.n, (int)it->hi.n, 0 }, pf[3] = { 1, 1, 0 };
	if (!it->has_hi) {
		pv[1] = lim;
		pf[1] = 0;
	}
	if (!pv[0])
		pv[0] = "";                       /* the empty key: NULL would be SQL NULL */
	pthread_mutex_lock(&sn->mu);
	PGresult *r = PQexecPrepared(sn->c, name, it->has_hi ? 3 : 2, pv, pl, pf, 1);
	pthread_mutex_unlock(&sn->mu);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		res_fail(it->s, sn->c, r, err);
		PQclear(r);
		it->last = 1;
		return -1;
	}
	it->page = r;
	it->nrows = PQntuples(r);
	it->last = it->nrows < it->limit;
	if (it->limit < PAGE_MAX)
		it->limit *= 2;
	if (it->nrows) {
		/* the least key after the page's last one: it and a 0 byte */
		int l = it->nrows - 1;
		coco_buf_clear(&it->lo);
		coco_buf_add(&it->lo, PQgetvalue(r, l, 0), (size_t)PQgetlength(r, l, 0));
		coco_buf_putc(&it->lo, 0);
	}
	return 0;
}

static int pg_iter_next(coco_iter *i, const char **k, size_t *kn, const char **v, size_t *vn,
	char **err)
{
	pg_iter *it = (pg_iter *)i;
	while (!it->page || it->row >= it->nrows) {
		if (it->page && it->last)
			return 0;
		if (fetch(it, err) < 0)
			return -1;
		if (!it->nrows)
			return 0;
	}
	int row = it->row++;
	*k = PQgetvalue(it->page, row, 0);
	*kn = (size_t)PQgetlength(it->page, row, 0);
	if (*kn < it->prefix.n || memcmp(*k, it->prefix.p, it->prefix.n)) {
		it->row = it->nrows;
		it->last = 1;
		return 0;
	}
	*v = PQgetvalue(it->page, row, 1);
	*vn = (size_t)PQgetlength(it->page, row, 1);
	return 1;
}

static void pg_iter_seek(coco_iter *i, const void *k, size_t kn)
{
	pg_iter *it = (pg_iter *)i;
	coco_buf_clear(&it->lo);                /* below the prefix: ends as in RocksDB */
	coco_buf_add(&it->lo, k, kn);
	PQclear(it->page);
	it->page = NULL;
	it->row = it->nrows = it->last = 0;
}

static void pg_iter_destroy(coco_iter *i)
{
	pg_iter *it = (pg_iter *)i;
	PQclear(it->page);
	if (it->own)
		pg_release(&it->s->base, it->sn);
	coco_buf_free(&it->prefix);
	coco_buf_free(&it->hi);
	coco_buf_free(&it->lo);
	free(it);
}

static const coco_state_ops pg_ops = {
	.name = "postgres",
	.close = pg_close,
	.get = pg_get,
	.write = pg_write,
	.iter = pg_iter_new,
	.iter_next = pg_iter_next,
	.iter_seek = pg_iter_seek,
	.iter_destroy = pg_iter_destroy,
	.memo_get = pg_memo_get,
	.memo_put = pg_memo_put,
	.snapshot = pg_snapshot,
	.release = pg_release,
	.dir = pg_dir,
	.owns = pg_owns,
	.shed = lease_shed,
};
