/* Cluster mode: partitions, leases, workers and the cluster row of a
 * flow's PostgreSQL state (cluster.h; the store itself is state_pg.c).
 *
 * Tables (in the flow's schema, made by a read-write open):
 *   lease    (part int pk, owner text, epoch bigint, expires_at timestamptz)
 *            one row per partition; epoch + 1 on every claim
 *   worker   (id text pk, host, pid, started_at, heartbeat): joined workers
 *   cluster  (one row: k, flow_fp, set_at): written by setup
 * Times are the database's (now()): a worker's clock never matters.
 * Statements that name the owner put it into SQL text: lease_owner keeps
 * a host name's characters only. */
#define _GNU_SOURCE
#include "engine/cluster.h"
#include "engine/state_pg_int.h"
#include "engine/sys.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t ep_get(const pgs *s, int p)
{
	return __atomic_load_n(&s->epoch[p], __ATOMIC_ACQUIRE);
}

static void ep_set(pgs *s, int p, int64_t e)
{
	__atomic_store_n(&s->epoch[p], e, __ATOMIC_RELEASE);
}

/* Marks partition p lost if it still has epoch e. */
static void ep_lose(pgs *s, int p, int64_t e)
{
	__atomic_compare_exchange_n(&s->epoch[p], &e, -1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

int lease_part(const void *k, size_t kn)
{
	return (int)(coco_fp_bytes(k, kn).lo % PARTS);
}

void lease_owner(pgs *s)
{
	char host[64] = "?";
	gethostname(host, sizeof host - 1);
	for (char *h = host; *h; h++)      /* the owner goes into SQL text: a name's characters only */
		if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') || (*h >= '0' && *h <= '9') ||
		      *h == '.' || *h == '-' || *h == '_'))
			*h = '_';
	/* a second store of the process is another owner: "host pid N.2" */
	static int stores;
	int n = __atomic_add_fetch(&stores, 1, __ATOMIC_RELAXED);
	if (n == 1)
		snprintf(s->owner, sizeof s->owner, "%s pid %ld", host, (long)getpid());
	else
		snprintf(s->owner, sizeof s->owner, "%s pid %ld.%d", host, (long)getpid(), n);
}

/* The partitions held (epoch > 0) as two array literals into q:
 * '{p,...}'::int[], '{e,...}'::bigint[]; how many. */
static int held_arrays(const pgs *s, coco_buf *q)
{
	coco_buf e = {0};
	int n = 0;
	coco_buf_adds(q, "'{");
	for (int p = 0; p < PARTS; p++) {
		int64_t ep = ep_get(s, p);
		if (ep <= 0)
			continue;
		coco_buf_printf(q, "%s%d", n ? "," : "", p);
		coco_buf_printf(&e, "%s%" PRId64, n ? "," : "", ep);
		n++;
	}
	coco_buf_printf(q, "}'::int[], '{%s}'::bigint[]", e.p ? e.p : "");
	coco_buf_free(&e);
	return n;
}

/* Renews the leases held; marks lost the ones found taken. 0 or -1. */
static int renew(pgs *s, PGconn *c)
{
	coco_buf q = {0};
	int64_t was[PARTS];
	for (int p = 0; p < PARTS; p++)
		was[p] = ep_get(s, p);
	coco_buf_printf(&q, "UPDATE %s.lease l SET expires_at = now() + interval '%ld milliseconds' "
		"FROM unnest(", s->schema, s->lease_ms);
	int n = held_arrays(s, &q);
	coco_buf_printf(&q, ") h(p, e) WHERE l.part = h.p AND l.epoch = h.e AND l.owner = '%s' "
		"RETURNING l.part", s->owner);
	int rc = 0;
	if (n) {
		PGresult *r = PQexec(c, q.p);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			rc = -1;
		} else {
			char got[PARTS] = {0};
			for (int i = 0; i < PQntuples(r); i++)
				got[atoi(PQgetvalue(r, i, 0)) % PARTS] = 1;
			for (int p = 0; p < PARTS; p++)
				if (was[p] > 0 && !got[p])
					ep_lose(s, p, was[p]);
		}
		PQclear(r);
	}
	if (s->worker) {
		coco_buf_clear(&q);
		coco_buf_printf(&q, "UPDATE %s.worker SET heartbeat = now() WHERE id = '%s'; SELECT "
			"count(*) FROM %s.worker WHERE heartbeat >= now() - interval '%ld milliseconds'",
			s->schema, s->owner, s->schema, s->lease_ms);
		PGresult *r = PQexec(c, q.p);
		if (PQresultStatus(r) == PGRES_TUPLES_OK)
			__atomic_store_n(&s->live, atoi(PQgetvalue(r, 0, 0)), __ATOMIC_RELEASE);
		else
			rc = -1;
		PQclear(r);
	}
	coco_buf_free(&q);
	return rc;
}

/* Renews every third of the lease's life, on a connection of its own,
 * until close. A renewal that fails is tried again at the next beat: the
 * writes' fence is what keeps a late process out, not this thread. */
static void *heartbeat(void *arg)
{
	pgs *s = arg;
	PGconn *c = NULL;
	pthread_mutex_lock(&s->mu);
	while (!s->hb_stop) {
		struct timespec t;
		clock_gettime(CLOCK_REALTIME, &t);
		long ns = t.tv_nsec + s->lease_ms / 3 % 1000 * 1000000;
		t.tv_sec += s->lease_ms / 3 / 1000 + ns / 1000000000;
		t.tv_nsec = ns % 1000000000;
		pthread_cond_timedwait(&s->hb_cv, &s->mu, &t);
		if (s->hb_stop)
			break;
		pthread_mutex_unlock(&s->mu);
		if (c && PQstatus(c) != CONNECTION_OK) {
			PQfinish(c);
			c = NULL;
		}
		if (!c)
			c = pg_connect(s, 0, NULL);
		if (c)
			renew(s, c);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	if (c)
		PQfinish(c);
	return NULL;
}

void lease_start(pgs *s)
{
	if (!coco_thread_start(&s->hb, heartbeat, s))
		s->hb_on = 1;
}

/* Gives up the partitions held (all, or those above keep, the highest
 * first) on c: 0 or -1. */
static int give_up(pgs *s, PGconn *c, int keep, int *released, char **err)
{
	int n = 0;
	for (int p = 0; p < PARTS; p++)
		if (ep_get(s, p) > 0 && ++n > keep)
			ep_set(s, p, -ep_get(s, p) - 1);     /* -(e + 1): leaving */
	coco_buf q = {0}, e = {0};
	int m = 0;
	coco_buf_printf(&q, "UPDATE %s.lease l SET owner = NULL, expires_at = NULL FROM unnest('{",
		s->schema);
	for (int p = 0; p < PARTS; p++) {
		int64_t ep = ep_get(s, p);
		if (ep >= -1)
			continue;
		coco_buf_printf(&q, "%s%d", m ? "," : "", p);
		coco_buf_printf(&e, "%s%" PRId64, m ? "," : "", -ep - 1);
		ep_set(s, p, 0);
		m++;
	}
	coco_buf_printf(&q, "}'::int[], '{%s}'::bigint[]) h(p, e) WHERE l.part = h.p AND "
		"l.epoch = h.e AND l.owner = '%s'", e.p ? e.p : "", s->owner);
	int rc = m && c ? exec_sql(s, c, q.p, err) : 0;
	if (released)
		*released = m;
	coco_buf_free(&q);
	coco_buf_free(&e);
	return rc;
}

/* The fair share of n live workers. */
static int fair_share(int n)
{
	return n > 0 ? (PARTS + n - 1) / n : PARTS;
}

int lease_shed(coco_state *st, int now)
{
	pgs *s = (pgs *)st;
	if (!s->worker)
		return 0;
	int held = 0, fair = fair_share(__atomic_load_n(&s->live, __ATOMIC_ACQUIRE));
	for (int p = 0; p < PARTS; p++)
		held += ep_get(s, p) > 0;
	if (held <= fair)
		return 0;
	if (!now)
		return 1;
	PGconn *c = take(s, NULL);
	give_up(s, c, fair, NULL, NULL);      /* if the database does not hear it: they expire */
	give(s, c);
	return 1;
}

void lease_release(pgs *s)
{
	if (s->hb_on) {
		pthread_mutex_lock(&s->mu);
		s->hb_stop = 1;
		pthread_cond_signal(&s->hb_cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->hb, NULL);
		s->hb_on = 0;
	}
	int any = s->worker;
	for (int p = 0; p < PARTS && !any; p++)
		any = ep_get(s, p) > 0;
	if (!any)
		return;
	PGconn *c = take(s, NULL);
	give_up(s, c, 0, NULL, NULL);
	if (c && s->worker) {
		coco_buf q = {0};
		coco_buf_printf(&q, "DELETE FROM %s.worker WHERE id = '%s'", s->schema, s->owner);
		exec_sql(s, c, q.p, NULL);
		coco_buf_free(&q);
	}
	give(s, c);
}

int lease_fence(pgs *s, PGconn *c, char **err)
{
	int lost = 0, held = 0;
	int64_t want[PARTS];
	for (int p = 0; p < PARTS; p++) {
		want[p] = ep_get(s, p);
		lost += want[p] < 0;
		held += want[p] > 0;
	}
	if (!lost && held) {
		const char *pv[1] = { s->owner };
		PGresult *r = PQexecPrepared(c, "f", 1, pv, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			int rc = res_fail(s, c, r, err);
			PQclear(r);
			return rc;
		}
		int64_t got[PARTS] = {0};
		for (int i = 0; i < PQntuples(r); i++)
			got[atoi(PQgetvalue(r, i, 0)) % PARTS] = strtoll(PQgetvalue(r, i, 1), NULL, 10);
		PQclear(r);
		for (int p = 0; p < PARTS; p++)
			if (want[p] > 0 && got[p] != want[p]) {
				ep_lose(s, p, want[p]);
				lost++;
			}
	}
	if (!lost)
		return 0;
	lost = 0;
	for (int p = 0; p < PARTS; p++)
		lost += ep_get(s, p) < 0;
	return coco_seterr(err, "%s: this process lost its lease on %d partition%s of flow %s "
		"(paused or cut off past it, another coco took them over): nothing was written",
		s->label, lost, lost == 1 ? "" : "s", s->flow);
}

/* ---- the engine's side ----------------------------------------------------- */

coco_fp coco_cluster_flow_fp(const coco_graph *g)
{
	coco_fper *f = coco_fper_create();
	coco_fper_str(f, coco_graph_name(g));
	for (size_t i = 0; i < coco_graph_nsources(g); i++) {
		coco_fper_str(f, coco_graph_source(g, i)->name);
		coco_fper_fp(f, coco_graph_source(g, i)->logic);
	}
	for (size_t i = 0; i < coco_graph_nexports(g); i++) {
		coco_fper_str(f, coco_graph_export_at(g, i)->name);
		coco_fper_fp(f, coco_graph_export_at(g, i)->logic);
	}
	coco_fp fp = coco_fper_digest(f);
	coco_fper_destroy(f);
	return fp;
}

int coco_cluster_is(const coco_state *st)
{
	return st && !strcmp(st->ops->name, "postgres");
}

static void fp_hex(coco_fp fp, char out[33])
{
	snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, fp.hi, fp.lo);
}

/* Runs sql on a connection of the store's pool: its result, or NULL with *err. */
static PGresult *query(pgs *s, const char *sql, char **err)
{
	PGconn *c = take(s, err);
	if (!c)
		return NULL;
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		res_fail(s, c, r, err);
		PQclear(r);
		r = NULL;
	}
	give(s, c);
	return r;
}

int coco_cluster_setup(coco_state *st, coco_fp fp, char **err)
{
	pgs *s = (pgs *)st;
	char hex[33];
	fp_hex(fp, hex);
	coco_buf q = {0};
	coco_buf_printf(&q, "INSERT INTO %s.cluster (k, flow_fp) VALUES (%d, '%s') ON CONFLICT (one) "
		"DO UPDATE SET k = excluded.k, flow_fp = excluded.flow_fp, set_at = now()", s->schema,
		PARTS, hex);
	PGresult *r = query(s, q.p, err);
	coco_buf_free(&q);
	PQclear(r);
	return r ? 0 : -1;
}

int coco_cluster_check(coco_state *st, coco_fp fp, const char *path, char **err)
{
	pgs *s = (pgs *)st;
	char hex[33];
	fp_hex(fp, hex);
	coco_buf q = {0};
	coco_buf_printf(&q, "SELECT k, flow_fp FROM %s.cluster", s->schema);
	PGresult *r = query(s, q.p, err);
	coco_buf_free(&q);
	if (!r)
		return -1;
	int rc = -2;
	if (PQntuples(r) != 1)
		coco_seterr(err, "%s: flow %s is not set up there: run coco setup %s --cluster URL "
			"first", s->label, s->flow, path);
	else if (atoi(PQgetvalue(r, 0, 0)) != PARTS)
		coco_seterr(err, "%s: flow %s was set up with %s partitions, this coco uses %d "
			"(no reshard is done): drop it and run coco setup %s --cluster URL again", s->label,
			s->flow, PQgetvalue(r, 0, 0), PARTS, path);
	else if (strcmp(PQgetvalue(r, 0, 1), hex))
		coco_seterr(err, "%s: flow %s compiles to fingerprint %s, the cluster was set up "
			"with %s: run coco setup %s --cluster URL again", s->label, s->flow, hex,
			PQgetvalue(r, 0, 1), path);
	else
		rc = 0;
	PQclear(r);
	return rc;
}

int coco_cluster_join(coco_state *st, char **err)
{
	pgs *s = (pgs *)st;
	coco_buf q = {0};
	char host[sizeof s->owner];
	memcpy(host, s->owner, sizeof host);
	char *sp = strstr(host, " pid ");        /* the host part of the owner */
	if (sp)
		*sp = 0;
	/* rows of workers gone for long are forgotten as one joins */
	coco_buf_printf(&q, "DELETE FROM %s.worker WHERE heartbeat < now() - interval '%ld "
		"milliseconds'; INSERT INTO %s.worker (id, host, pid, started_at, heartbeat) VALUES "
		"('%s', '%s', %ld, now(), now()) ON CONFLICT (id) DO UPDATE SET started_at = now(), "
		"heartbeat = now()", s->schema, 100 * s->lease_ms, s->schema, s->owner, host,
		(long)getpid());
	PGresult *r = query(s, q.p, err);
	coco_buf_free(&q);
	PQclear(r);
	if (!r)
		return -1;
	s->worker = 1;
	return 0;
}

int coco_cluster_report(coco_state *st, uint64_t rows, uint64_t errors, char **err)
{
	pgs *s = (pgs *)st;
	coco_buf q = {0};
	coco_buf_printf(&q, "UPDATE %s.worker SET rows = rows + %" PRIu64 ", errors = errors + %"
		PRIu64 " WHERE id = '%s'", s->schema, rows, errors, s->owner);
	PGresult *r = query(s, q.p, err);
	coco_buf_free(&q);
	PQclear(r);
	return r ? 0 : -1;
}

/* Claims up to n free or expired partitions on c (one transaction). */
static int claim(pgs *s, PGconn *c, int n, int *claimed, char **err)
{
	coco_buf q = {0};
	coco_buf_printf(&q, "BEGIN; SET LOCAL idle_in_transaction_session_timeout = %ld; "
		"UPDATE %s.lease SET owner = '%s', epoch = epoch + 1, expires_at = now() + "
		"interval '%ld milliseconds' WHERE part IN (SELECT part FROM %s.lease WHERE owner IS "
		"NULL OR expires_at < now() ORDER BY part LIMIT %d FOR UPDATE SKIP LOCKED) "
		"RETURNING part, epoch", s->lease_ms, s->schema, s->owner, s->lease_ms, s->schema, n);
	PGresult *r = PQexec(c, q.p);
	coco_buf_free(&q);
	int rc = 0;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = res_fail(s, c, r, err);
		exec_sql(s, c, "ROLLBACK", NULL);
	} else if (!(rc = exec_sql(s, c, "COMMIT", err))) {
		for (int i = 0; i < PQntuples(r); i++)
			ep_set(s, atoi(PQgetvalue(r, i, 0)) % PARTS, strtoll(PQgetvalue(r, i, 1), NULL, 10));
		*claimed = PQntuples(r);
	}
	PQclear(r);
	return rc;
}

int coco_cluster_balance(coco_state *st, int all, coco_cluster_share *sh, char **err)
{
	pgs *s = (pgs *)st;
	memset(sh, 0, sizeof *sh);
	sh->lease_ms = (int)s->lease_ms;
	for (int p = 0; p < PARTS; p++)
		if (ep_get(s, p) < 0)
			ep_set(s, p, 0);              /* lost: forgotten at the pass boundary */
	PGconn *c = take(s, err);
	if (!c)
		return -1;
	coco_buf q = {0};
	if (s->worker)
		coco_buf_printf(&q, "UPDATE %s.worker SET heartbeat = now() WHERE id = '%s';", s->schema,
			s->owner);
	coco_buf_printf(&q, "SELECT (SELECT count(*) FROM %s.worker WHERE heartbeat >= now() - "
		"interval '%ld milliseconds'), (SELECT count(*) FROM %s.lease WHERE owner IS NOT NULL "
		"AND owner <> '%s' AND expires_at >= now())", s->schema, s->lease_ms, s->schema,
		s->owner);
	PGresult *r = PQexec(c, q.p);
	int rc = 0;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = res_fail(s, c, r, err);
	} else {
		sh->live = atoi(PQgetvalue(r, 0, 0));
		sh->others = atoi(PQgetvalue(r, 0, 1));
	}
	PQclear(r);
	__atomic_store_n(&s->live, sh->live, __ATOMIC_RELEASE);
	sh->fair = all ? PARTS : fair_share(sh->live);
	for (int p = 0; p < PARTS; p++)
		sh->held += ep_get(s, p) > 0;
	if (!rc && sh->held > sh->fair)
		rc = give_up(s, c, sh->fair, &sh->released, err);
	if (!rc && sh->held < sh->fair && sh->held + sh->others < PARTS)
		rc = claim(s, c, sh->fair - sh->held, &sh->claimed, err);
	sh->held += sh->claimed - sh->released;
	if (!rc && all && !sh->held) {
		/* who holds it */
		coco_buf_clear(&q);
		coco_buf_printf(&q, "SELECT owner, ceil(extract(epoch FROM expires_at - now())) FROM "
			"%s.lease WHERE owner IS NOT NULL AND expires_at >= now() ORDER BY part LIMIT 1",
			s->schema);
		r = PQexec(c, q.p);
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
			rc = coco_seterr(err, "%s: flow %s is in use by another coco process (%s; its lease "
				"ends in %s s unless renewed)", s->label, s->flow, PQgetvalue(r, 0, 0),
				PQgetvalue(r, 0, 1));
		else
			rc = coco_seterr(err, "%s: flow %s is in use by another coco process", s->label,
				s->flow);
		PQclear(r);
	}
	coco_buf_free(&q);
	give(s, c);
	return rc;
}

/* ---- coco cluster status --------------------------------------------------- */

int coco_state_pg_status(const char *url, const char *flow, coco_buf *out, char **err)
{
	pgs *s = pg_new(url, flow, 1);
	PGconn *c = pg_connect(s, 0, err);
	int rc = c ? pg_exists(s, c, err) : -1;
	coco_buf q = {0};
	PGresult *r = NULL;
	if (!rc) {
		coco_buf_printf(&q, "SELECT (SELECT count(*) FROM %s.tracking), CASE WHEN owner IS NULL "
			"OR expires_at < now() THEN '' ELSE owner END AS o, count(*), max(epoch), "
			"ceil(extract(epoch FROM max(expires_at) - now())) FROM %s.lease GROUP BY o ORDER BY o",
			s->schema, s->schema);
		r = PQexec(c, q.p);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			rc = res_fail(s, c, r, err);
		} else {
			coco_buf_printf(out, "Flow %s, %s (schema %s): %s source rows tracked\n", flow,
				s->label + strlen("cluster "), s->schema, PQgetvalue(r, 0, 0));
			for (int i = 0; i < PQntuples(r); i++) {
				if (!*PQgetvalue(r, i, 1))
					coco_buf_printf(out, "  free: %s partitions\n", PQgetvalue(r, i, 2));
				else
					coco_buf_printf(out, "  %s: %s partitions, epoch %s, lease ends in %s s\n",
						PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
						PQgetvalue(r, i, 4));
			}
		}
		PQclear(r);
	}
	if (!rc) {
		coco_buf_clear(&q);
		coco_buf_printf(&q, "SELECT w.id, round(extract(epoch FROM now() - w.heartbeat)::numeric, "
			"1), w.heartbeat >= now() - interval '%ld milliseconds', (SELECT count(*) FROM "
			"%s.lease l WHERE l.owner = w.id AND l.expires_at >= now()), w.rows, round((w.rows / "
			"greatest(extract(epoch FROM w.heartbeat - w.started_at), 1))::numeric, 1), w.errors "
			"FROM %s.worker w ORDER BY w.id", s->lease_ms, s->schema, s->schema);
		r = PQexec(c, q.p);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			rc = res_fail(s, c, r, err);
		} else if (PQntuples(r)) {
			int live = 0;
			for (int i = 0; i < PQntuples(r); i++)
				live += !strcmp(PQgetvalue(r, i, 2), "t");
			coco_buf_printf(out, "workers: %d live\n", live);
			for (int i = 0; i < PQntuples(r); i++)
				coco_buf_printf(out, "  %s: heartbeat %s s ago%s, %s partitions, %s rows "
					"(%s/s), %s errors\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
					strcmp(PQgetvalue(r, i, 2), "t") ? " (not live)" : "", PQgetvalue(r, i, 3),
					PQgetvalue(r, i, 4), PQgetvalue(r, i, 5), PQgetvalue(r, i, 6));
		}
		PQclear(r);
	}
	coco_buf_free(&q);
	if (c)
		PQfinish(c);
	coco_state_close(&s->base);
	return rc;
}
