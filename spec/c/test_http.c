/* engine/http.c against a scripted server on 127.0.0.1: responses, header
 * lookup, retries (5xx, throttling, Retry-After, dropped connections),
 * what is not retried, timeouts, many requests in flight, the in-flight
 * cap, connection reuse, body limits, wakeup from another thread, SigV4. */
#include "spec/c/test_s3_fakeserver.h"
#include "engine/http.h"

#include "spec/c/check.h"

/* The handler's script: a per-test function of the request index. */
typedef struct script {
	int mode;
	int hits;
} script;

enum { M_OK, M_503_TWICE, M_RETRY_AFTER, M_SLOWDOWN, M_404, M_501, M_DROP_ONCE, M_SLOW,
	M_DELAY200, M_BIG, M_ECHO, M_ALWAYS_503 };

static void handler(void *ud, const fk_req *rq, int n, fk_resp *o)
{
	script *sc = ud;
	int k = sc->hits++;
	char tmp[256];
	switch (sc->mode) {
	case M_OK:
		fk_reply(o, 200, "X-Thing:  spaced value  \r\nETag: \"abc\"\r\n", "hello", 5);
		break;
	case M_503_TWICE:
		if (k < 2)
			fk_reply(o, 503, NULL, "busy", 4);
		else
			fk_reply(o, 200, NULL, "ok", 2);
		break;
	case M_RETRY_AFTER:
		if (k < 1)
			fk_reply(o, 503, "Retry-After: 1\r\n", "", 0);
		else
			fk_reply(o, 200, NULL, "ok", 2);
		break;
	case M_SLOWDOWN:
		if (k < 1) {
			const char *b = "<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>";
			fk_reply(o, 400, NULL, b, strlen(b));
		} else {
			fk_reply(o, 200, NULL, "ok", 2);
		}
		break;
	case M_404:
		fk_reply(o, 404, NULL, "nope", 4);
		break;
	case M_501:
		fk_reply(o, 501, NULL, "", 0);
		break;
	case M_DROP_ONCE:
		if (k < 1)
			o->drop = 1;
		else
			fk_reply(o, 200, NULL, "ok", 2);
		break;
	case M_SLOW:                /* answered long after any timeout the test sets */
		fk_reply(o, 200, NULL, "late", 4);
		o->delay_ms = 60000;
		break;
	case M_DELAY200:
		fk_reply(o, 200, NULL, rq->target, strlen(rq->target));
		o->delay_ms = 200;
		break;
	case M_BIG: {
		char *b = malloc(10000);
		memset(b, 'x', 10000);
		fk_reply(o, 200, NULL, b, 10000);
		free(b);
		break;
	}
	case M_ECHO: {
		coco_buf b = {0};
		const char *auth = fk_header(rq->headers, "Authorization", tmp, sizeof tmp);
		coco_buf_printf(&b, "%s %s|%s|%s", rq->method, rq->target, rq->body, auth ? auth : "-");
		fk_reply(o, 200, NULL, b.p, b.n);
		coco_buf_free(&b);
		break;
	}
	case M_ALWAYS_503:
		fk_reply(o, 503, NULL, "", 0);
		break;
	}
	(void)n;
}

static double now_ms(void) { return fk_now(); }

static void url(char *buf, size_t n, int port, const char *path)
{
	snprintf(buf, n, "http://127.0.0.1:%d%s", port, path);
}

static void test_dates(void)
{
	CHECK(coco_http_parse_date("Sun, 06 Nov 1994 08:49:37 GMT", 29) == 784111777);
	CHECK(coco_http_parse_date("Sat, 21 Nov 2026 16:34:04 GMT", 29) == 1795278844);
	CHECK(coco_http_parse_date("garbage", 7) == -1);
	CHECK(coco_http_parse_date("Sun, 06 Foo 1994 08:49:37 GMT", 29) == -1);
	CHECK(coco_http_retry_after_ms("3", 1, 0) == 3000);
	CHECK(coco_http_retry_after_ms("Sun, 06 Nov 1994 08:49:40 GMT", 29, 784111777) == 3000);
	CHECK(coco_http_retry_after_ms("Sun, 06 Nov 1994 08:49:40 GMT", 29, 784111999) == 0);
	CHECK(coco_http_retry_after_ms(NULL, 0, 0) == -1);
	CHECK(coco_http_retry_after_ms("soon", 4, 0) == -1);

	coco_http_opts o = { .backoff_ms = 100, .backoff_max_ms = 1000 };
	CHECK(coco_http_backoff(&o, 1, -1, 0) == 50);          /* half fixed ... */
	CHECK(coco_http_backoff(&o, 1, -1, 50) == 100);        /* ... half random */
	CHECK(coco_http_backoff(&o, 1, -1, 51) == 50);
	CHECK(coco_http_backoff(&o, 3, -1, 0) == 200);         /* 400 / 2 */
	CHECK(coco_http_backoff(&o, 30, -1, 0) == 500);        /* capped at 1000 */
	CHECK(coco_http_backoff(&o, 1, 700, 0) == 700);        /* Retry-After wins */
	CHECK(coco_http_backoff(&o, 1, 5000, 0) == 1000);      /* within the cap */
	int jittered = 0;
	for (unsigned r = 0; r < 64; r++) {
		long d = coco_http_backoff(&o, 2, -1, r * 2654435761u);
		CHECK(d >= 100 && d <= 200);
		jittered |= d != 100;
	}
	CHECK(jittered);
}

int main(void)
{
	test_dates();

	script sc = {0};
	fk_server s;
	CHECK(fk_start(&s, handler, &sc) == 0);
	coco_http_opts fast = { .backoff_ms = 20, .backoff_max_ms = 2000, .max_inflight = 8 };
	coco_http *h = coco_http_create(&fast);
	char u[256];
	coco_http_resp r;

	/* a plain GET; headers read case-insensitively, trimmed */
	url(u, sizeof u, s.port, "/a?b=1");
	sc = (script){ M_OK, 0 };
	CHECK(coco_http_do(h, &(coco_http_req){ .url = u }, &r) == 0);
	CHECK(r.status == 200 && r.body.n == 5 && !memcmp(r.body.p, "hello", 5) && r.attempts == 1);
	size_t n;
	const char *v = coco_http_header(&r, "x-thing", &n);
	CHECK(v && n == 12 && !memcmp(v, "spaced value", 12));
	v = coco_http_header(&r, "ETAG", &n);
	CHECK(v && n == 5 && !memcmp(v, "\"abc\"", 5));
	CHECK(!coco_http_header(&r, "x-missing", &n));
	coco_http_resp_free(&r);

	/* 503, 503, 200: retried */
	sc = (script){ M_503_TWICE, 0 };
	CHECK(coco_http_do(h, &(coco_http_req){ .url = u }, &r) == 0);
	CHECK(r.status == 200 && r.attempts == 3);
	coco_http_resp_free(&r);

	/* Retry-After: 1 is honoured: the retry comes a second after the 503
	 * (the backoff alone would be 20 ms) */
	sc = (script){ M_RETRY_AFTER, 0 };
	int n0 = fk_count(&s);
	CHECK(coco_http_do(h, &(coco_http_req){ .url = u }, &r) == 0);
	CHECK(r.status == 200 && r.attempts == 2 && fk_count(&s) == n0 + 2);
	CHECK(fk_at(&s, n0 + 1) - fk_at(&s, n0) >= 950);
	coco_http_resp_free(&r);

	/* S3's SlowDown with a 400 is throttling: retried */
	sc = (script){ M_SLOWDOWN, 0 };
	CHECK(coco_http_do(h, &(coco_http_req){ .url = u }, &r) == 0);
	CHECK(r.status == 200 && r.attempts == 2);
	coco_http_resp_free(&r);

	/* 404 and 501 are answers, not failures: one attempt */
	sc = (script){ M_404, 0 };
	CHECK(coco_http_do(h, &(coco_http_req){ .url = u }, &r) == 0);
	CHECK(r.status == 404 && r.attempts == 1 && r.body.n == 4);
	coco_http_resp_free(&r);
	sc = (script){ M_501, 0 };
	CHECK(coco_http_do(h, &(coco_http_req){ .url = u }, &r) == 0);
	CHECK(r.status == 501 && r.attempts == 1);
	coco_http_resp_free(&r);

	/* no_retry: one attempt even on 503 */
	sc = (script){ M_ALWAYS_503, 0 };
	CHECK(coco_http_do(h, &(coco_http_req){ .url = u, .no_retry = 1 }, &r) == 0);
	CHECK(r.status == 503 && r.attempts == 1);
	coco_http_resp_free(&r);
	/* always 503: 1 + max_retries (4) attempts, then the 503 is the answer */
	sc = (script){ M_ALWAYS_503, 0 };
	CHECK(coco_http_do(h, &(coco_http_req){ .url = u }, &r) == 0);
	CHECK(r.status == 503 && r.attempts == 5 && sc.hits == 5);
	coco_http_resp_free(&r);

	/* a new connection closed without an answer: retried (on a reused
	 * one, libcurl itself retries once) */
	sc = (script){ M_DROP_ONCE, 0 };
	coco_http *h2 = coco_http_create(&fast);
	CHECK(coco_http_do(h2, &(coco_http_req){ .url = u }, &r) == 0);
	CHECK(r.status == 200 && r.attempts == 2 && !r.error);
	coco_http_resp_free(&r);
	coco_http_destroy(h2);

	/* total timeout: the request fails with a timeout, not the server's
	 * answer (a minute later) */
	sc = (script){ M_SLOW, 0 };
	CHECK(coco_http_do(h, &(coco_http_req){ .url = u, .timeout_ms = 200, .no_retry = 1 }, &r) == -1);
	CHECK(r.status == 0 && r.error && strstr(r.error, "imeout") && r.body.n == 0);
	coco_http_resp_free(&r);

	/* a body over max_body */
	sc = (script){ M_BIG, 0 };
	CHECK(coco_http_do(h, &(coco_http_req){ .url = u, .max_body = 1000 }, &r) == 0);
	CHECK(r.too_large && r.attempts == 1 && r.body.n <= 1000);
	coco_http_resp_free(&r);
	CHECK(coco_http_do(h, &(coco_http_req){ .url = u, .max_body = 10000 }, &r) == 0);
	CHECK(!r.too_large && r.body.n == 10000);
	coco_http_resp_free(&r);

	/* POST body, PUT through POSTFIELDS, HEAD */
	sc = (script){ M_ECHO, 0 };
	CHECK(coco_http_do(h, &(coco_http_req){ .url = u, .body = "k=v", .nbody = 3 }, &r) == 0);
	CHECK(r.status == 200 && !strncmp(r.body.p, "POST /a?b=1|k=v|-", r.body.n));
	coco_http_resp_free(&r);
	CHECK(coco_http_do(h, &(coco_http_req){ .method = "PUT", .url = u, .body = "x", .nbody = 1 }, &r) == 0);
	CHECK(r.status == 200 && !strncmp(r.body.p, "PUT /a?b=1|x|-", r.body.n));
	coco_http_resp_free(&r);
	CHECK(coco_http_do(h, &(coco_http_req){ .method = "HEAD", .url = u }, &r) == 0);
	CHECK(r.status == 200 && r.body.n == 0);
	coco_http_resp_free(&r);

	/* SigV4: signed with the access key id, the scope and x-amz-date */
	url(u, sizeof u, s.port, "/bkt/a%20b.txt");
	const char *hdrs[] = { "x-amz-content-sha256: UNSIGNED-PAYLOAD", NULL };
	CHECK(coco_http_do(h, &(coco_http_req){ .url = u, .headers = hdrs,
		.aws_sigv4 = "aws:amz:us-east-1:s3", .access_key = "AKIDEXAMPLE",
		.secret_key = "SECRET" }, &r) == 0);
	CHECK(r.status == 200 && strstr(r.body.p, "GET /bkt/a%20b.txt||AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
	CHECK(strstr(r.body.p, "/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="));
	CHECK(!strstr(r.body.p, "SECRET"));
	coco_http_resp_free(&r);

	/* connection reuse: sequential requests on one connection */
	int conns0 = s.nconn;
	sc = (script){ M_OK, 0 };
	url(u, sizeof u, s.port, "/reuse");
	for (int i = 0; i < 20; i++) {
		CHECK(coco_http_do(h, &(coco_http_req){ .url = u }, &r) == 0 && r.status == 200);
		coco_http_resp_free(&r);
	}
	CHECK(s.nconn - conns0 <= 1);
	coco_http_destroy(h);

	/* many in flight: of 16 requests, the server sees 8 wait for their
	 * answers at once (it holds them until then), never more */
	h = coco_http_create(&fast);
	sc = (script){ M_DELAY200, 0 };
	coco_http_xfer *xs[16];
	fk_gate(&s, 8);
	for (int i = 0; i < 16; i++) {
		char path[32];
		snprintf(path, sizeof path, "/k%d", i);
		url(u, sizeof u, s.port, path);
		xs[i] = coco_http_start(h, &(coco_http_req){ .url = u }, (void *)(intptr_t)i);
	}
	for (int i = 15; i >= 0; i--)
		coco_http_wait(h, xs[i]);
	CHECK(fk_max_waiting(&s) == 8);
	for (int i = 0; i < 16; i++) {
		coco_http_resp *rp = coco_http_resp_of(xs[i]);
		char want[32];
		snprintf(want, sizeof want, "/k%d", i);
		CHECK(coco_http_done(xs[i]) && rp->status == 200 && rp->body.n == strlen(want) &&
			!memcmp(rp->body.p, want, rp->body.n));
		CHECK((intptr_t)coco_http_ud(xs[i]) == i);
		coco_http_release(h, xs[i]);
	}
	/* released while running: cancelled, nothing leaks */
	sc = (script){ M_SLOW, 0 };
	url(u, sizeof u, s.port, "/cancel");
	coco_http_xfer *x = coco_http_start(h, &(coco_http_req){ .url = u }, NULL);
	coco_http_run(h, 10);
	CHECK(!coco_http_done(x));
	coco_http_release(h, x);
	CHECK(coco_http_run(h, 0) == 0);
	coco_http_destroy(h);

	/* nothing listening: a transport error after 1 + 2 attempts */
	fk_stop(&s);
	coco_http_opts two = { .backoff_ms = 10, .max_retries = 2 };
	h = coco_http_create(&two);
	url(u, sizeof u, s.port, "/");
	CHECK(coco_http_do(h, &(coco_http_req){ .url = u }, &r) == -1);
	CHECK(r.status == 0 && r.attempts == 3 && r.error && strstr(r.error, "onnect"));
	coco_http_resp_free(&r);
	/* wakeup: run() returns before its timeout (a minute) */
	double t0 = now_ms();
	coco_http_wakeup(h);
	coco_http_run(h, 60000);
	CHECK(now_ms() - t0 < 60000);
	coco_http_destroy(h);

	return CHECK_DONE();
}
