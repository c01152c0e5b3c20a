/* The HTTP client over libcurl's multi interface. See http.h. */
#define _GNU_SOURCE
#include "engine/http.h"
#include "engine/sys.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

enum { X_QUEUED, X_ACTIVE, X_DONE };

struct coco_http_xfer {
	coco_http *h;
	coco_http_xfer *prev, *next;
	int state;
	double not_before;            /* monotonic ms: a retry waits until then */
	CURL *e;
	struct curl_slist *hdrs;
	char *method, *url, *sigv4, *ak, *sk, *body;
	size_t nbody;
	long timeout_ms;
	int no_retry;
	size_t max_body;
	int head;
	coco_http_resp resp;
	char errbuf[CURL_ERROR_SIZE];
	void *ud;
};

struct coco_http {
	CURLM *m;
	coco_http_opts o;
	coco_http_xfer *first, *last; /* every transfer not released, in start order */
	int nactive, nqueued;
	CURL **pool;                  /* idle easy handles */
	int npool;
	unsigned rnd;
	int finished;                 /* transfers done (or re-queued) by the last step */
};

static char *xstrdup(const char *s)
{
	return s ? coco_strdup(s) : NULL;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

coco_http *coco_http_create(const coco_http_opts *o)
{
	pthread_once(&curl_once, curl_init_once);
	coco_http *h = coco_xcalloc(1, sizeof *h);
	if (o)
		h->o = *o;
	if (h->o.max_inflight <= 0)
		h->o.max_inflight = 16;
	if (h->o.connect_timeout_ms <= 0)
		h->o.connect_timeout_ms = 10000;
	if (h->o.stall_timeout_ms <= 0)
		h->o.stall_timeout_ms = 60000;
	if (h->o.max_retries < 0)
		h->o.max_retries = 0;
	else if (!h->o.max_retries)
		h->o.max_retries = 4;
	if (h->o.backoff_ms <= 0)
		h->o.backoff_ms = 200;
	if (h->o.backoff_max_ms <= 0)
		h->o.backoff_max_ms = 20000;
	if (!h->o.user_agent)
		h->o.user_agent = "coco";
	h->o.user_agent = coco_strdup(h->o.user_agent);
	h->m = curl_multi_init();
	if (!h->m) {
		fputs("coco: curl_multi_init failed\n", stderr);
		abort();
	}
	curl_multi_setopt(h->m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)h->o.max_inflight);
	curl_multi_setopt(h->m, CURLMOPT_MAXCONNECTS, (long)h->o.max_inflight * 2);
	h->pool = coco_xcalloc((size_t)h->o.max_inflight, sizeof *h->pool);
	h->rnd = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)h;
	if (!h->rnd)
		h->rnd = 1;
	return h;
}

static unsigned rnd_next(coco_http *h)
{
	unsigned x = h->rnd;           /* xorshift32 */
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return h->rnd = x;
}

/* ---- dates, backoff ------------------------------------------------------ */

long long coco_http_parse_date(const char *s, size_t n)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char buf[64];
	if (n >= sizeof buf)
		return -1;
	memcpy(buf, s, n);
	buf[n] = 0;
	const char *p = strchr(buf, ',');   /* "Sun, 06 Nov 1994 08:49:37 GMT" */
	p = p ? p + 1 : buf;
	int day, year, hh, mm, ss;
	char mon[4];
	if (sscanf(p, " %d %3s %d %d:%d:%d", &day, mon, &year, &hh, &mm, &ss) != 6)
		return -1;
	const char *m = strstr(months, mon);
	if (!m || strlen(mon) != 3 || (m - months) % 3)
		return -1;
	struct tm tm = { .tm_sec = ss, .tm_min = mm, .tm_hour = hh, .tm_mday = day,
		.tm_mon = (int)((m - months) / 3), .tm_year = year - 1900 };
	return (long long)timegm(&tm);
}

void coco_http_format_date(long long t, char out[30])
{
	static const char days[] = "SunMonTueWedThuFriSat", months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	char b[64];                     /* fields out of range cannot happen, but gcc cannot know */
	snprintf(b, sizeof b, "%.3s, %02d %.3s %04d %02d:%02d:%02d GMT", days + 3 * tm.tm_wday,
		tm.tm_mday, months + 3 * tm.tm_mon, tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	memcpy(out, b, 29);
	out[29] = 0;
}

/* ---- URLs ---------------------------------------------------------------- */

int coco_http_url_decode(coco_buf *out, const char *s, size_t n, int plus_is_space)
{
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '+' && plus_is_space) {
			coco_buf_putc(out, ' ');
		} else if (c == '%' && i + 2 < n && coco_hexval(s[i + 1]) >= 0 && coco_hexval(s[i + 2]) >= 0) {
			coco_buf_putc(out, (char)(coco_hexval(s[i + 1]) * 16 + coco_hexval(s[i + 2])));
			i += 2;
		} else {
			if (c == '%')
				rc = -1;
			coco_buf_putc(out, c);
		}
	}
	return rc;
}

void coco_http_url_encode(coco_buf *out, const char *s, size_t n, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	coco_buf_reserve(out, n);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
			coco_buf_putc(out, (char)c);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			coco_buf_add(out, e, 3);
		}
	}
}

long coco_http_retry_after_ms(const char *v, size_t n, long long now)
{
	if (!v || !n)
		return -1;
	size_t i = 0;
	long long secs = 0;
	while (i < n && isdigit((unsigned char)v[i]) && secs < 1000000)
		secs = secs * 10 + (v[i++] - '0');
	if (i == n)
		return (long)(secs * 1000);
	long long t = coco_http_parse_date(v, n);
	if (t < 0)
		return -1;
	return t <= now ? 0 : (long)((t - now) * 1000);
}

long coco_http_backoff(const coco_http_opts *o, int attempt, long retry_after_ms, unsigned r)
{
	long base = o->backoff_ms, cap = o->backoff_max_ms;
	for (int i = 1; i < attempt && base < cap; i++)
		base *= 2;
	if (base > cap)
		base = cap;
	long d = base / 2 + (long)(r % (unsigned long)(base / 2 + 1));
	if (retry_after_ms > d)
		d = retry_after_ms < cap ? retry_after_ms : cap;
	return d;
}

/* ---- transfers ----------------------------------------------------------- */

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
	coco_http_xfer *x = ud;
	size_t n = sz * nm;
	if (x->max_body && x->resp.body.n + n > x->max_body) {
		x->resp.too_large = 1;
		return 0;
	}
	coco_buf_add(&x->resp.body, p, n);
	return n;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
	coco_http_xfer *x = ud;
	size_t n = sz * nm;
	if (n >= 5 && !memcmp(p, "HTTP/", 5))
		coco_buf_clear(&x->resp.headers);     /* a new response (after 100 Continue) */
	coco_buf_add(&x->resp.headers, p, n);
	if (x->max_body && !x->head && n > 15 && !strncasecmp(p, "content-length:", 15)) {
		unsigned long long len = strtoull(p + 15, NULL, 10);
		if (len > x->max_body) {
			x->resp.too_large = 1;
			return 0;
		}
	}
	return n;
}

static void link_xfer(coco_http *h, coco_http_xfer *x)
{
	x->prev = h->last;
	if (h->last)
		h->last->next = x;
	else
		h->first = x;
	h->last = x;
}

static void unlink_xfer(coco_http *h, coco_http_xfer *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		h->first = x->next;
	if (x->next)
		x->next->prev = x->prev;
	else
		h->last = x->prev;
	x->prev = x->next = NULL;
}

coco_http_xfer *coco_http_start(coco_http *h, const coco_http_req *r, void *ud)
{
	coco_http_xfer *x = coco_xcalloc(1, sizeof *x);
	x->h = h;
	x->ud = ud;
	x->url = xstrdup(r->url);
	x->method = xstrdup(r->method ? r->method : r->body ? "POST" : "GET");
	x->head = !strcmp(x->method, "HEAD");
	if (r->body) {
		x->body = coco_xmalloc(r->nbody ? r->nbody : 1);
		memcpy(x->body, r->body, r->nbody);
		x->nbody = r->nbody;
	}
	for (const char *const *hp = r->headers; hp && *hp; hp++) {
		struct curl_slist *l = curl_slist_append(x->hdrs, *hp);
		if (!l)
			abort();
		x->hdrs = l;
	}
	if (r->aws_sigv4) {
		x->sigv4 = xstrdup(r->aws_sigv4);
		x->ak = xstrdup(r->access_key ? r->access_key : "");
		x->sk = xstrdup(r->secret_key ? r->secret_key : "");
	}
	x->timeout_ms = r->timeout_ms > 0 ? r->timeout_ms : h->o.timeout_ms;
	x->no_retry = r->no_retry;
	x->max_body = r->max_body;
	x->state = X_QUEUED;
	h->nqueued++;
	link_xfer(h, x);
	return x;
}

static void activate(coco_http *h, coco_http_xfer *x)
{
	CURL *e = h->npool ? h->pool[--h->npool] : curl_easy_init();
	if (!e) {
		fputs("coco: curl_easy_init failed\n", stderr);
		abort();
	}
	x->e = e;
	x->errbuf[0] = 0;
	x->resp.attempts++;
	curl_easy_setopt(e, CURLOPT_URL, x->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, h->o.user_agent);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, h->o.connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (h->o.stall_timeout_ms + 999) / 1000);
	if (x->timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, x->timeout_ms);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);    /* the caller's path is what is signed */
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* a signature is bound to its host */
	if (x->hdrs)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
	if (x->head)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	if (x->body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->nbody);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
	}
	if (strcmp(x->method, "GET") && strcmp(x->method, "HEAD") && !(x->body && !strcmp(x->method, "POST")))
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, x->method);
	if (x->sigv4) {
		curl_easy_setopt(e, CURLOPT_AWS_SIGV4, x->sigv4);
		curl_easy_setopt(e, CURLOPT_USERNAME, x->ak);
		curl_easy_setopt(e, CURLOPT_PASSWORD, x->sk);
	}
	if (curl_multi_add_handle(h->m, e) != CURLM_OK) {
		fputs("coco: curl_multi_add_handle failed\n", stderr);
		abort();
	}
	x->state = X_ACTIVE;
	h->nqueued--;
	h->nactive++;
}

/* Detach x's easy handle from the multi handle and keep it for reuse. */
static void deactivate(coco_http *h, coco_http_xfer *x)
{
	curl_multi_remove_handle(h->m, x->e);
	curl_easy_reset(x->e);
	if (h->npool < h->o.max_inflight)
		h->pool[h->npool++] = x->e;
	else
		curl_easy_cleanup(x->e);
	x->e = NULL;
	h->nactive--;
}

static int retry_transport(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

/* 408, 429, 5xx but 501, and the throttling codes AWS sends with a 400. */
static int retry_status(const coco_http_resp *r)
{
	long s = r->status;
	if (s == 408 || s == 429 || (s >= 500 && s != 501 && s <= 599))
		return 1;
	if (s == 400 && r->body.n) {
		static const char *const codes[] = { "SlowDown", "Throttl", "RequestTimeout<",
			"RequestLimitExceeded", "TooManyRequests", NULL };
		for (int i = 0; codes[i]; i++)
			if (memmem(r->body.p, r->body.n, codes[i], strlen(codes[i])))
				return 1;
	}
	return 0;
}

static void finish(coco_http *h, coco_http_xfer *x, CURLcode c)
{
	long status = 0;
	curl_easy_getinfo(x->e, CURLINFO_RESPONSE_CODE, &status);
	deactivate(h, x);
	coco_http_resp *r = &x->resp;
	free(r->error);
	r->error = NULL;
	r->status = status;
	if (c != CURLE_OK && !r->too_large) {
		const char *what = curl_easy_strerror(c);
		coco_buf b = {0};
		coco_buf_adds(&b, what);
		if (x->errbuf[0] && strcmp(x->errbuf, what)) {
			coco_buf_adds(&b, ": ");
			coco_buf_adds(&b, x->errbuf);
		}
		r->error = coco_buf_take(&b);
		r->status = 0;
	}
	int again = !x->no_retry && !r->too_large && r->attempts <= h->o.max_retries &&
		(r->error ? retry_transport(c) : retry_status(r));
	h->finished++;
	if (!again) {
		x->state = X_DONE;
		return;
	}
	size_t n;
	const char *ra = coco_http_header(r, "retry-after", &n);
	long ra_ms = coco_http_retry_after_ms(ra, ra ? n : 0, (long long)time(NULL));
	x->not_before = coco_now_ms() + (double)coco_http_backoff(&h->o, r->attempts, ra_ms, rnd_next(h));
	coco_buf_clear(&r->body);
	coco_buf_clear(&r->headers);
	x->state = X_QUEUED;
	h->nqueued++;
}

/* Start what may start; returns ms until a queued retry falls due with a
 * free slot (-1: none). */
static long promote(coco_http *h)
{
	if (!h->nqueued)
		return -1;
	double now = coco_now_ms(), next = -1;
	for (coco_http_xfer *x = h->first; x && h->nactive < h->o.max_inflight; x = x->next) {
		if (x->state != X_QUEUED)
			continue;
		if (x->not_before <= now)
			activate(h, x);
		else if (next < 0 || x->not_before < next)
			next = x->not_before;
	}
	if (h->nactive >= h->o.max_inflight || next < 0)
		return -1;
	return (long)(next - now) + 1;
}

static void harvest(coco_http *h)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(h->m, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		coco_http_xfer *x = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		if (x)
			finish(h, x, msg->data.result);
	}
}

/* promote, perform, harvest until nothing more happens without waiting */
static long step(coco_http *h)
{
	long due;
	for (;;) {
		due = promote(h);
		int running;
		curl_multi_perform(h->m, &running);
		int before = h->finished;
		harvest(h);
		if (h->finished == before)
			break;
	}
	return due;
}

int coco_http_run(coco_http *h, long timeout_ms)
{
	h->finished = 0;
	long due = step(h);
	if (!h->finished) {
		long wait = timeout_ms;
		if (due >= 0 && (wait < 0 || due < wait))
			wait = due;
		if (wait < 0 || wait > 1000000)
			wait = 1000000;
		curl_multi_poll(h->m, NULL, 0, (int)wait, NULL);
		step(h);
	}
	return h->nactive + h->nqueued;
}

void coco_http_wakeup(coco_http *h) { curl_multi_wakeup(h->m); }

void coco_http_wait(coco_http *h, coco_http_xfer *x)
{
	while (x->state != X_DONE)
		coco_http_run(h, 1000);
}

int coco_http_done(const coco_http_xfer *x) { return x->state == X_DONE; }
void *coco_http_ud(const coco_http_xfer *x) { return x->ud; }
coco_http_resp *coco_http_resp_of(coco_http_xfer *x) { return &x->resp; }

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void coco_http_release(coco_http *h, coco_http_xfer *x)
{
	if (!x)
		return;
	if (x->state == X_ACTIVE)
		deactivate(h, x);
	else if (x->state == X_QUEUED)
		h->nqueued--;
	unlink_xfer(h, x);
	curl_slist_free_all(x->hdrs);
	free(x->method);
	free(x->url);
	free(x->sigv4);
	free(x->ak);
	wipe_free(x->sk);
	free(x->body);
	coco_http_resp_free(&x->resp);
	free(x);
}

int coco_http_do(coco_http *h, const coco_http_req *r, coco_http_resp *out)
{
	coco_http_xfer *x = coco_http_start(h, r, NULL);
	coco_http_wait(h, x);
	*out = x->resp;
	memset(&x->resp, 0, sizeof x->resp);
	coco_http_release(h, x);
	return out->error ? -1 : 0;
}

void coco_http_resp_free(coco_http_resp *r)
{
	coco_buf_free(&r->body);
	coco_buf_free(&r->headers);
	free(r->error);
	r->error = NULL;
}

void coco_http_destroy(coco_http *h)
{
	if (!h)
		return;
	while (h->first)
		coco_http_release(h, h->first);
	for (int i = 0; i < h->npool; i++)
		curl_easy_cleanup(h->pool[i]);
	free(h->pool);
	curl_multi_cleanup(h->m);
	free((char *)h->o.user_agent);
	free(h);
}

const char *coco_http_header(const coco_http_resp *r, const char *name, size_t *n)
{
	size_t nl = strlen(name);
	const char *p = r->headers.p, *end = p ? p + r->headers.n : NULL;
	while (p && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol : end;
		if ((size_t)(le - p) > nl && p[nl] == ':' && !strncasecmp(p, name, nl)) {
			const char *v = p + nl + 1, *ve = le;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			*n = (size_t)(ve - v);
			return v;
		}
		p = eol ? eol + 1 : end;
	}
	return NULL;
}
