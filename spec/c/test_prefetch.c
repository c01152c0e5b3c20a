/* engine/prefetch.c against a scripted server on 127.0.0.1: the window
 * (how many GETs are started ahead), their order, top-up as rows are
 * taken, dropping what the reader skipped, keys left out by plan(),
 * version and URL checks on take, start_on_take, re-hints that keep what
 * was started, and destroy with transfers in flight. */
#include "spec/c/test_s3_fakeserver.h"
#include "engine/prefetch.h"

#include "spec/c/check.h"

/* Every request is answered with its target: "/k3" gives "/k3". */
static void handler(void *ud, const fk_req *rq, int n, fk_resp *o)
{
	(void)ud;
	(void)n;
	fk_reply(o, 200, NULL, rq->target, strlen(rq->target));
}

/* The test's source: keys "kN" are rows (version ver[N]); "sN" are not. */
typedef struct tsrc {
	coco_http *http;
	int port;
	int64_t ver[16];
	char started[64][16];        /* the keys whose GET was started, in order */
	int nstarted;
} tsrc;

static int t_plan(void *ud, const char *key, size_t n, coco_buf *url, int64_t *version)
{
	tsrc *t = ud;
	if (n < 2 || key[0] != 'k')
		return 0;
	coco_buf_printf(url, "http://127.0.0.1:%d/%.*s", t->port, (int)n, key);
	*version = t->ver[atoi(key + 1) % 16];
	return 1;
}

static coco_http_xfer *t_start(void *ud, const char *url)
{
	tsrc *t = ud;
	const char *k = strrchr(url, '/') + 1;
	if (t->nstarted < 64)
		snprintf(t->started[t->nstarted++], sizeof t->started[0], "%s", k);
	return coco_http_start(t->http, &(coco_http_req){ .url = url }, NULL);
}

/* The keys started since `from`, joined with ',' into buf. */
static const char *started(const tsrc *t, int from, char *buf, size_t n)
{
	buf[0] = 0;
	for (int i = from; i < t->nstarted; i++)
		snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", i > from ? "," : "", t->started[i]);
	return buf;
}

/* 1 when x is done with a 200 whose body is "/key". */
static int got(tsrc *t, coco_http_xfer *x, const char *key)
{
	if (!x)
		return 0;
	coco_http_wait(t->http, x);
	coco_http_resp *r = coco_http_resp_of(x);
	int ok = r->status == 200 && r->body.n == strlen(key) + 1 && !memcmp(r->body.p + 1, key, strlen(key));
	coco_http_release(t->http, x);
	return ok;
}

/* How many requests for target the server saw from log entry `from` on. */
static int sent(fk_server *s, int from, const char *target)
{
	int n = 0;
	pthread_mutex_lock(&s->mu);
	for (int i = from; i < s->nlog; i++)
		n += !strcmp(s->log[i].target, target);
	pthread_mutex_unlock(&s->mu);
	return n;
}

static coco_http_xfer *take(coco_prefetch *pf, tsrc *t, const char *key)
{
	char url[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/%s", t->port, key);
	return coco_prefetch_take(pf, key, strlen(key), url, t->ver[atoi(key + 1) % 16]);
}

static void hint(coco_prefetch *pf, const char *const *names, size_t n)
{
	coco_value keys[32];
	for (size_t i = 0; i < n; i++)
		keys[i] = names[i] ? coco_v_str(names[i], strlen(names[i])) : coco_v_int(7);
	coco_prefetch_hint(pf, keys, n);
}

int main(void)
{
	fk_server s;
	CHECK(fk_start(&s, handler, NULL) == 0);
	tsrc t = { .http = coco_http_create(NULL), .port = s.port };
	char buf[512];
	static const char *const keys[] = { "k0", "s1", NULL, "k1", "k2", "k3", "k4", "k5", "k6",
		"k7", "k8", "k9" };
	size_t nkeys = sizeof keys / sizeof *keys;

	/* the window: 3 started, the first rows in order; a non-str key and
	 * one plan() leaves out are skipped; the server sees those 3 only */
	coco_prefetch *pf = coco_prefetch_create(t.http, &(coco_prefetch_src){ .ud = &t,
		.plan = t_plan, .start = t_start, .window = 3 });
	hint(pf, keys, nkeys);
	CHECK(!strcmp(started(&t, 0, buf, sizeof buf), "k0,k1,k2"));
	for (double end = fk_now() + 60000; fk_count(&s) < 3 && fk_now() < end;)
		coco_http_run(t.http, 10);
	CHECK(fk_count(&s) == 3);
	CHECK(sent(&s, 0, "/k0") == 1 && sent(&s, 0, "/k1") == 1 && sent(&s, 0, "/k2") == 1);

	/* taking a row tops the window up by one */
	CHECK(got(&t, take(pf, &t, "k0"), "k0"));
	CHECK(!strcmp(started(&t, 0, buf, sizeof buf), "k0,k1,k2,k3"));
	/* k1 skipped by the reader: dropped, and two more started */
	CHECK(got(&t, take(pf, &t, "k2"), "k2"));
	CHECK(!strcmp(started(&t, 4, buf, sizeof buf), "k4,k5"));
	/* a key taken or dropped already, or never hinted: NULL, nothing started */
	CHECK(take(pf, &t, "k1") == NULL);
	CHECK(take(pf, &t, "k0") == NULL);
	CHECK(take(pf, &t, "k42") == NULL);
	CHECK(t.nstarted == 6);
	/* a row whose version changed since the hint: its transfer is cancelled */
	t.ver[3] = 9;
	CHECK(take(pf, &t, "k3") == NULL);
	CHECK(!strcmp(started(&t, 6, buf, sizeof buf), "k6"));
	/* another URL than the hint's: same */
	CHECK(coco_prefetch_take(pf, "k4", 2, "http://elsewhere/k4", 0) == NULL);
	/* url NULL: any URL */
	CHECK(got(&t, coco_prefetch_take(pf, "k5", 2, NULL, 0), "k5"));
	CHECK(!strcmp(started(&t, 6, buf, sizeof buf), "k6,k7,k8"));
	t.nstarted = 0;
	t.ver[3] = 0;
	coco_prefetch_destroy(pf);

	/* start_on_take 0: a queued row not started yet gives NULL; the
	 * reader reads it by its own means */
	pf = coco_prefetch_create(t.http, &(coco_prefetch_src){ .ud = &t,
		.plan = t_plan, .start = t_start, .window = 2 });
	hint(pf, keys, nkeys);
	CHECK(!strcmp(started(&t, 0, buf, sizeof buf), "k0,k1"));
	CHECK(take(pf, &t, "k5") == NULL);
	CHECK(!strcmp(started(&t, 0, buf, sizeof buf), "k0,k1,k6,k7"));
	CHECK(got(&t, take(pf, &t, "k6"), "k6"));
	coco_prefetch_destroy(pf);

	/* start_on_take 1: it is started then, ahead of the top-up. A server of
	 * its own, so that requests cancelled above and still on their way
	 * are not counted below */
	fk_server s2;
	CHECK(fk_start(&s2, handler, NULL) == 0);
	t.port = s2.port;
	t.nstarted = 0;
	int before = 0;
	pf = coco_prefetch_create(t.http, &(coco_prefetch_src){ .ud = &t,
		.plan = t_plan, .start = t_start, .window = 2, .start_on_take = 1 });
	hint(pf, keys, nkeys);
	CHECK(got(&t, take(pf, &t, "k5"), "k5"));
	CHECK(!strcmp(started(&t, 0, buf, sizeof buf), "k0,k1,k5,k6,k7"));

	/* hinted again from k6 on (a live pass resumed in a later slice): the
	 * transfers started for the same key and version are kept, not sent
	 * twice; they fill the window */
	t.nstarted = 0;
	hint(pf, keys + 8, 4);
	CHECK(t.nstarted == 0);
	CHECK(got(&t, take(pf, &t, "k6"), "k6"));
	CHECK(!strcmp(started(&t, 0, buf, sizeof buf), "k8"));
	/* hinted from k7 on with k8's version changed: k7 kept, k8 sent anew */
	t.ver[8] = 5;
	t.nstarted = 0;
	hint(pf, keys + 9, 3);
	CHECK(!strcmp(started(&t, 0, buf, sizeof buf), "k8"));
	CHECK(got(&t, take(pf, &t, "k7"), "k7"));
	CHECK(got(&t, take(pf, &t, "k8"), "k8"));
	CHECK(got(&t, take(pf, &t, "k9"), "k9"));
	CHECK(sent(&s2, before, "/k6") == 1 && sent(&s2, before, "/k7") == 1 && sent(&s2, before, "/k9") == 1);
	CHECK(sent(&s2, before, "/k8") >= 1 && sent(&s2, before, "/k8") <= 2);

	/* destroyed with transfers in flight: cancelled, nothing leaks (ASan) */
	hint(pf, keys, nkeys);
	coco_prefetch_destroy(pf);
	coco_prefetch_destroy(NULL);

	coco_http_destroy(t.http);
	fk_stop(&s2);
	fk_stop(&s);
	return CHECK_DONE();
}
