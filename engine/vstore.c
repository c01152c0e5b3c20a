/* Helpers of the vector-store targets over HTTP (see vstore.h). */
#define _GNU_SOURCE             /* strcasestr */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "engine/fingerprint.h"
#include "engine/functions/json.h"
#include "engine/vstore.h"
#include "engine/sys.h"

/* ---- floats ---------------------------------------------------------------- */

/* 10^i for i in [-60, 60], as doubles (exact up to 10^22); filled once. */
static double pow10_tab[121];

static void pow10_init(void)
{
	static int ready;
	if (__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
		return;
	for (int k = 0; k <= 60; k++) {
		pow10_tab[60 + k] = pow(10.0, k);
		pow10_tab[60 - k] = pow(10.0, -k);
	}
	__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
}

/* Writes f to p (at least 24 bytes): 9 significant digits, rounded, then
 * trailing zeros dropped; 9 digits always read back as the same float32
 * (a last digit off by one, from rounding twice, is still nearer to f than
 * to its neighbours: a unit of the 9th digit is at most 1e-8 of f, half
 * the gap between floats at least 3e-8). Returns the end. */
static char *put_f32(char *p, float f)
{
	if (!isfinite(f)) {
		memcpy(p, "null", 4);
		return p + 4;
	}
	if (f == 0) {
		*p++ = '0';
		return p;
	}
	uint32_t bits;
	memcpy(&bits, &f, sizeof bits);
	double d = f;
	if (d < 0) {
		*p++ = '-';
		d = -d;
	}
	/* the decimal exponent, from the binary one: floor(e2 * log10(2)),
	 * maybe one too low or high (fixed below); subnormals by log10 */
	int e2 = (int)(bits >> 23 & 255) - 127;
	int e = e2 > -127 ? (e2 * 1233) >> 12 : (int)floor(log10(d));
	uint64_t m = (uint64_t)(d * pow10_tab[60 + 8 - e] + 0.5);
	if (m < 100000000u) {
		e--;
		m = (uint64_t)(d * pow10_tab[60 + 8 - e] + 0.5);
	}
	while (m >= 1000000000u) {     /* a tenth digit: the estimate was low, or rounding carried */
		e++;
		m = (m + 5) / 10;
	}
	char dig[9];
	for (int i = 8; i >= 0; i--) {
		dig[i] = (char)('0' + m % 10);
		m /= 10;
	}
	int nd = 9;
	while (nd > 1 && dig[nd - 1] == '0')
		nd--;
	if (e >= 0 && e < 9) {           /* ddd.ddd */
		for (int i = 0; i <= e || i < nd; i++) {
			if (i == e + 1)
				*p++ = '.';
			*p++ = i < nd ? dig[i] : '0';
		}
	} else if (e < 0 && e >= -5) {   /* 0.000ddd */
		*p++ = '0';
		*p++ = '.';
		for (int i = -1; i > e; i--)
			*p++ = '0';
		memcpy(p, dig, (size_t)nd);
		p += nd;
	} else {                          /* d.ddde-12 */
		*p++ = dig[0];
		if (nd > 1) {
			*p++ = '.';
			memcpy(p, dig + 1, (size_t)nd - 1);
			p += nd - 1;
		}
		p += sprintf(p, "e%d", e);
	}
	return p;
}

void coco_vs_floats(coco_buf *b, const float *v, size_t n)
{
	pow10_init();
	coco_buf_reserve(b, n * 16 + 2);
	char *p = b->p + b->n;
	*p++ = '[';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		p = put_f32(p, v[i]);
	}
	*p++ = ']';
	b->n = (size_t)(p - b->p);
	b->p[b->n] = 0;
}

/* ---- paths, ids -------------------------------------------------------------- */

void coco_vs_path(coco_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			coco_buf_putc(b, (char)*p);
		} else {
			char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };
			coco_buf_add(b, e, 3);
		}
	}
}

coco_value coco_vs_key_of(const coco_value *row, uint32_t nkeys)
{
	coco_value k = {0};
	k.kind = COCO_STRUCT;
	k.n = nkeys;
	k.u.fields = row->u.fields;
	return k;
}

void coco_vs_uuid(const coco_value *key, char out[37])
{
	coco_fp fp = coco_fp_value(key);
	unsigned char u[16];
	for (int i = 0; i < 8; i++) {
		u[i] = (unsigned char)(fp.hi >> (56 - 8 * i));
		u[8 + i] = (unsigned char)(fp.lo >> (56 - 8 * i));
	}
	u[6] = (unsigned char)((u[6] & 0x0f) | 0x80);   /* version 8: custom */
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);   /* variant 10 */
	static const char hex[] = "0123456789abcdef";
	char *p = out;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[u[i] >> 4];
		*p++ = hex[u[i] & 15];
	}
	*p = 0;
}

/* ---- JSON to values ------------------------------------------------------------ */

static int b64_val(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 :
		c >= '0' && c <= '9' ? c - '0' + 52 : c == '+' || c == '-' ? 62 :
		c == '/' || c == '_' ? 63 : -1;
}

int coco_vs_from_json(const char *s, size_t n, const coco_type *t, coco_arena *a,
	coco_value *out)
{
	memset(out, 0, sizeof *out);
	coco_json_trim(&s, &n);
	if (!n || (n == 4 && !memcmp(s, "null", 4)))
		return 0;
	coco_buf b = {0};
	double d;
	int rc = 0;
	switch (t->kind) {
	case COCO_STR:
	case COCO_BYTES:
		if (coco_json_str_decode(s, n, &b) < 0) {
			rc = -1;
			break;
		}
		if (t->kind == COCO_STR) {
			*out = coco_v_str(coco_arena_strndup(a, b.p ? b.p : "", b.n), b.n);
			break;
		}
		{
			char *o = coco_arena_alloc(a, b.n / 4 * 3 + 3);
			size_t k = 0;
			uint32_t acc = 0;
			int bits = 0;
			for (size_t i = 0; i < b.n; i++) {
				int v = b64_val((unsigned char)b.p[i]);
				if (v < 0)
					continue;         /* padding, line breaks */
				acc = acc << 6 | (uint32_t)v;
				bits += 6;
				if (bits >= 8) {
					bits -= 8;
					o[k++] = (char)(acc >> bits);
				}
			}
			out->kind = COCO_BYTES;
			out->u.s = o;
			out->n = k;
		}
		break;
	case COCO_INT64:
		if (coco_json_num(s, n, &d) < 0 || !(d > -9.2e18 && d < 9.2e18)) {
			rc = -1;
			break;
		}
		*out = coco_v_int(memchr(s, '.', n) || memchr(s, 'e', n) ? (int64_t)d
			: strtoll(s, NULL, 10));
		break;
	case COCO_FLOAT32:
	case COCO_FLOAT64:
		if (coco_json_num(s, n, &d) < 0) {
			rc = -1;
			break;
		}
		out->kind = (uint8_t)t->kind;
		out->u.f = t->kind == COCO_FLOAT32 ? (double)(float)d : d;
		break;
	case COCO_BOOL:
		out->kind = COCO_BOOL;
		out->u.b = s[0] == 't';
		rc = s[0] == 't' || s[0] == 'f' ? 0 : -1;
		break;
	case COCO_RANGE:
	case COCO_VECTOR: {
		coco_json_iter it;
		const char *k, *v;
		size_t kn, vn, cnt = 0;
		if (coco_json_iter_init(&it, s, n) != '[') {
			rc = -1;
			break;
		}
		while (coco_json_iter_next(&it, &k, &kn, &v, &vn))
			cnt++;
		float *vec = coco_arena_alloc(a, (cnt + 1) * sizeof *vec);
		int64_t r[2] = { 0, 0 };
		size_t i = 0;
		coco_json_iter_init(&it, s, n);
		while (rc == 0 && coco_json_iter_next(&it, &k, &kn, &v, &vn)) {
			if (coco_json_num(v, vn, &d) < 0 || (t->kind == COCO_RANGE && !(d > -9.2e18 && d < 9.2e18)))
				rc = -1;
			else if (t->kind == COCO_VECTOR)
				vec[i++] = (float)d;
			else if (i < 2)
				r[i++] = (int64_t)d;
		}
		if (t->kind == COCO_RANGE) {
			if (cnt != 2)
				rc = -1;
			out->kind = COCO_RANGE;
			out->u.r[0] = r[0];
			out->u.r[1] = r[1];
		} else {
			out->kind = COCO_VECTOR;
			out->n = i;
			out->u.vec = vec;
		}
		break;
	}
	default:         /* json, struct, table: the JSON text */
		out->kind = COCO_JSON;
		out->u.s = coco_arena_strndup(a, s, n);
		out->n = n;
		break;
	}
	coco_buf_free(&b);
	if (rc)
		memset(out, 0, sizeof *out);
	return rc;
}

/* ---- requests ------------------------------------------------------------------- */

long coco_vs_request(coco_http *h, const char *who, const char *method, const char *url,
	const char *const *hdr, const char *body, size_t nbody, coco_http_resp *resp, char **err)
{
	const char *hv[16];
	size_t nh = 0;
	if (body)
		hv[nh++] = "Content-Type: application/json";
	for (size_t i = 0; hdr && hdr[i] && nh < 15; i++)
		hv[nh++] = hdr[i];
	hv[nh] = NULL;
	coco_http_req r = { .method = method, .url = url, .headers = hv, .body = body,
		.nbody = nbody };
	if (coco_http_do(h, &r, resp) < 0) {
		coco_seterr(err, "%s: cannot reach %s: %s", who, url,
			resp->error ? resp->error : "transport failure");
		return -1;
	}
	return resp->status;
}

/* ---- a plain HTTP/1.1 exchange (queries) ------------------------------------------ */

/* Waits for fd to be ready for ev until deadline (ms); 0, or -1 (timeout). */
static int wait_fd(int fd, short ev, long deadline)
{
	for (;;) {
		long left = deadline - (long)coco_now_ms();
		if (left <= 0)
			return -1;
		struct pollfd p = { .fd = fd, .events = ev };
		int n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

/* A connected socket to host:port, or -1 with *why. */
static int dial(const char *host, const char *port, long deadline, const char **why)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res, *ai;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc) {
		*why = gai_strerror(rc);
		return -1;
	}
	int fd = -1;
	*why = "Connection refused";
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			int ok = errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) == 0;
			int e = 0;
			socklen_t n = sizeof e;
			if (ok && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &n) == 0 && e == 0)
				break;
			*why = ok ? strerror(e) : "connection timed out";
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	return fd;
}

/* The body of a chunked response, decoded from s..e into out; -1 if malformed. */
static int unchunk(const char *s, const char *e, coco_buf *out)
{
	for (;;) {
		char *end;
		unsigned long n = strtoul(s, &end, 16);
		const char *nl = memchr(end, '\n', (size_t)(e - end));
		if (end == s || !nl)
			return -1;
		s = nl + 1;
		if (n == 0)
			return 0;
		if ((size_t)(e - s) < n + 2)
			return -1;
		coco_buf_add(out, s, n);
		s += n + 2;
	}
}

long coco_vs_request_plain(const char *who, const char *method, const char *url,
	const char *const *hdr, const char *body, size_t nbody, long timeout_ms,
	coco_http_resp *resp, char **err)
{
	memset(resp, 0, sizeof *resp);
	if (strncmp(url, "http://", 7))
		return coco_seterr(err, "%s: cannot reach %s: not an http:// URL", who, url);
	const char *h = url + 7, *path = strchr(h, '/');
	if (!path)
		path = h + strlen(h);
	char host[256], port[8] = "80";
	const char *colon = memchr(h, ':', (size_t)(path - h));
	if (*h == '[') {                 /* [::1]:6333 */
		const char *rb = memchr(h, ']', (size_t)(path - h));
		colon = rb && rb[1] == ':' ? rb + 1 : NULL;
		h++;
		snprintf(host, sizeof host, "%.*s", (int)((rb ? rb : path) - h), h);
	} else {
		snprintf(host, sizeof host, "%.*s", (int)((colon ? colon : path) - h), h);
	}
	if (colon)
		snprintf(port, sizeof port, "%.*s", (int)(path - colon - 1), colon + 1);
	long deadline = (long)coco_now_ms() + (timeout_ms > 0 ? timeout_ms : 30000);
	const char *why = NULL;
	int fd = dial(host, port, deadline, &why);
	if (fd < 0)
		return coco_seterr(err, "%s: cannot reach %s: %s", who, url, why);
	coco_buf req = {0};
	coco_buf_printf(&req, "%s %s HTTP/1.1\r\nHost: %.*s\r\nUser-Agent: coco\r\n"
		"Accept: application/json\r\nConnection: close\r\n", method, *path ? path : "/",
		(int)(path - (url + 7)), url + 7);
	for (size_t i = 0; hdr && hdr[i]; i++)
		coco_buf_printf(&req, "%s\r\n", hdr[i]);
	if (body)
		coco_buf_printf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
			nbody);
	coco_buf_adds(&req, "\r\n");
	if (body)
		coco_buf_add(&req, body, nbody);
	long st = -1;
	size_t off = 0;
	while (off < req.n) {
		ssize_t n = send(fd, req.p + off, req.n - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, deadline) < 0) {
				why = "timed out";
				goto done;
			}
		} else {
			why = strerror(errno);
			goto done;
		}
	}
	coco_buf in = {0};
	for (;;) {
		coco_buf_reserve(&in, 65536);
		ssize_t n = recv(fd, in.p + in.n, 65536, 0);
		if (n > 0) {
			in.n += (size_t)n;
			in.p[in.n] = 0;
			/* done when the headers say how long the body is and it is all here */
			const char *he = strstr(in.p, "\r\n\r\n");
			if (he) {
				const char *cl = strcasestr(in.p, "\r\ncontent-length:");
				if (cl && cl < he && in.n >= (size_t)(he + 4 - in.p) +
				    strtoul(cl + 17, NULL, 10))
					break;
				const char *te = strcasestr(in.p, "\r\ntransfer-encoding: chunked");
				if (te && te < he && in.n >= 5 && !memcmp(in.p + in.n - 5, "0\r\n\r\n", 5))
					break;
			}
		} else if (n == 0) {
			break;
		} else if (errno == EAGAIN || errno == EINTR) {
			if (wait_fd(fd, POLLIN, deadline) < 0) {
				why = "timed out";
				coco_buf_free(&in);
				goto done;
			}
		} else {
			why = strerror(errno);
			coco_buf_free(&in);
			goto done;
		}
	}
	const char *he = in.p ? strstr(in.p, "\r\n\r\n") : NULL;
	if (!he || strncmp(in.p, "HTTP/1.", 7) || !strchr(in.p, ' ')) {
		why = "not an HTTP response";
		coco_buf_free(&in);
		goto done;
	}
	st = strtol(strchr(in.p, ' ') + 1, NULL, 10);
	const char *b = he + 4, *e = in.p + in.n;
	const char *cl = strcasestr(in.p, "\r\ncontent-length:");
	const char *te = strcasestr(in.p, "\r\ntransfer-encoding: chunked");
	if (te && te < he) {
		if (unchunk(b, e, &resp->body) < 0) {
			why = "malformed chunked body";
			st = -1;
		}
	} else {
		size_t len = (size_t)(e - b);
		if (cl && cl < he && strtoul(cl + 17, NULL, 10) < len)
			len = strtoul(cl + 17, NULL, 10);
		coco_buf_add(&resp->body, b, len);
	}
	coco_buf_add(&resp->headers, in.p, (size_t)(he + 2 - in.p));
	coco_buf_free(&in);
	resp->status = st < 0 ? 0 : st;
done:
	close(fd);
	coco_buf_free(&req);
	if (st < 0)
		return coco_seterr(err, "%s: cannot reach %s: %s", who, url, why ? why : "failed");
	if (!resp->body.p)
		coco_buf_adds(&resp->body, "");
	return st;
}

int coco_vs_status_err(const char *who, const char *what, const coco_http_resp *r, char **err)
{
	const char *s = r->body.p ? r->body.p : "", *v;
	size_t n = r->body.n, vn;
	coco_buf m = {0};
	size_t at;
	const char *why;
	if (coco_json_check(s, n, &at, &why) < 0) {
		coco_buf_add(&m, s, n > 300 ? 300 : n);
	} else if (coco_json_get(s, n, "status", 6, &v, &vn) && coco_json_get_str(v, vn, "error", &m) == 0) {
	} else if (coco_json_get_str(s, n, "error", &m) == 0 || coco_json_get_str(s, n, "message", &m) == 0) {
		coco_buf more = {0};
		if (coco_json_get_str(s, n, "message", &more) == 0 && strcmp(more.p, m.p))
			coco_buf_printf(&m, ": %s", more.p);
		coco_buf_free(&more);
	} else if (coco_json_get(s, n, "detail", 6, &v, &vn)) {
		coco_buf_add(&m, v, vn > 300 ? 300 : vn);
	} else {
		coco_buf_add(&m, s, n > 300 ? 300 : n);
	}
	for (size_t i = 0; i < m.n; i++)
		if (m.p[i] == '\n' || m.p[i] == '\r')
			m.p[i] = ' ';
	coco_seterr(err, "%s: %s: HTTP %ld%s%s", who, what, r->status, m.n ? ": " : "",
		m.p ? m.p : "");
	coco_buf_free(&m);
	return -1;
}

long coco_vs_call(coco_http *h, const char *who, const char *method, const char *url,
	const char *const *hdr, const char *body, int ok404, const char *what, const char *auth_hint,
	coco_http_resp *r, char **err)
{
	memset(r, 0, sizeof *r);
	size_t n = body ? strlen(body) : 0;
	long st = h ? coco_vs_request(h, who, method, url, hdr, body, n, r, err)
		: coco_vs_request_plain(who, method, url, hdr, body, n, 10000, r, err);
	if (st < 0)
		return -1;
	if ((st >= 200 && st < 300) || (ok404 && st == 404))
		return st;
	coco_vs_status_err(who, what, r, err);
	if (auth_hint && (st == 401 || st == 403))
		coco_seterr(err, "%s %s", *err, auth_hint);   /* frees the old *err */
	return -1;
}

/* ---- batches ------------------------------------------------------------------ */

static size_t slot_of(const coco_vs_batch *b, const char *id, size_t n)
{
	return (size_t)XXH3_64bits(id, n) & (b->nslots - 1);
}

static void slots_grow(coco_vs_batch *b)
{
	free(b->slots);
	b->nslots = b->nslots ? b->nslots * 2 : 1024;
	b->slots = coco_xcalloc(b->nslots, sizeof *b->slots);
	for (size_t i = 0; i < b->n; i++) {
		if (b->ops[i].dead)
			continue;           /* a slot holds an id's latest write only */
		size_t h = slot_of(b, b->ids.p + b->ops[i].id, b->ops[i].nid);
		while (b->slots[h])
			h = (h + 1) & (b->nslots - 1);
		b->slots[h] = (uint32_t)i + 1;
	}
}

coco_vs_op *coco_vs_batch_add(coco_vs_batch *b, const char *id, size_t nid, int del)
{
	if ((b->n + 1) * 2 > b->nslots)
		slots_grow(b);
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 256;
		b->ops = coco_xrealloc(b->ops, b->cap * sizeof *b->ops);
	}
	size_t h = slot_of(b, id, nid);
	while (b->slots[h]) {
		coco_vs_op *o = &b->ops[b->slots[h] - 1];
		if (o->nid == nid && !memcmp(b->ids.p + o->id, id, nid)) {
			o->dead = 1;
			b->live--;
			break;
		}
		h = (h + 1) & (b->nslots - 1);
	}
	b->slots[h] = (uint32_t)b->n + 1;
	coco_vs_op *o = &b->ops[b->n++];
	memset(o, 0, sizeof *o);
	o->id = b->ids.n;
	o->nid = nid;
	o->del = del;
	coco_buf_add(&b->ids, id, nid);
	coco_buf_putc(&b->ids, 0);
	b->live++;
	return o;
}

void coco_vs_batch_clear(coco_vs_batch *b)
{
	b->n = b->live = 0;
	coco_buf_clear(&b->ids);
	coco_buf_clear(&b->data);
	if (b->slots)
		memset(b->slots, 0, b->nslots * sizeof *b->slots);
}

void coco_vs_batch_free(coco_vs_batch *b)
{
	coco_buf_free(&b->ids);
	coco_buf_free(&b->data);
	free(b->ops);
	free(b->slots);
	memset(b, 0, sizeof *b);
}

void coco_vs_stats_note(const coco_vs_stats *s, const char *env, const char *who,
	const char *label)
{
	if (getenv(env) && s->batches)
		fprintf(stderr, "coco: %s %s: %llu batches, %llu requests, %llu upserts, %llu deletes, "
			"%.1f ms in the target\n", who, label, (unsigned long long)s->batches,
			(unsigned long long)s->requests, (unsigned long long)s->upserts,
			(unsigned long long)s->deletes, s->ms);
}

double coco_vs_number(const char *s, size_t n)
{
	double d;
	coco_json_trim(&s, &n);
	return coco_json_num(s, n, &d) < 0 ? 0 : d;
}
