/* The HTTP server: libmicrohttpd in external epoll mode. See server.h. */
#define _GNU_SOURCE
#include "engine/server.h"
#include "engine/buf.h"
#include "engine/value.h"
#include "engine/sys.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>

#define DEFAULT_BODY (1u << 20)
#define DEFAULT_CONNS 256
#define SSE_BACKLOG (256u << 10)
#define IDLE_TIMEOUT_S 30
#define SSE_TIMEOUT_S 60

/* ---- libmicrohttpd, opened on first use ---------------------------------
 * X(return type, name, (parameters)); the variadic ones are called with
 * fixed arguments through their pointer (options go in an
 * MHD_OPTION_ARRAY). */
#define MHD_FNS(X) \
	X(struct MHD_Daemon *, MHD_start_daemon, (unsigned int, uint16_t, MHD_AcceptPolicyCallback, \
		void *, MHD_AccessHandlerCallback, void *, ...)) \
	X(void, MHD_stop_daemon, (struct MHD_Daemon *)) \
	X(const union MHD_DaemonInfo *, MHD_get_daemon_info, (struct MHD_Daemon *, \
		enum MHD_DaemonInfoType, ...)) \
	X(enum MHD_Result, MHD_run, (struct MHD_Daemon *)) \
	X(enum MHD_Result, MHD_get_timeout, (struct MHD_Daemon *, MHD_UNSIGNED_LONG_LONG *)) \
	X(struct MHD_Response *, MHD_create_response_from_buffer, (size_t, void *, \
		enum MHD_ResponseMemoryMode)) \
	X(struct MHD_Response *, MHD_create_response_from_callback, (uint64_t, size_t, \
		MHD_ContentReaderCallback, void *, MHD_ContentReaderFreeCallback)) \
	X(enum MHD_Result, MHD_add_response_header, (struct MHD_Response *, const char *, \
		const char *)) \
	X(enum MHD_Result, MHD_queue_response, (struct MHD_Connection *, unsigned int, \
		struct MHD_Response *)) \
	X(void, MHD_destroy_response, (struct MHD_Response *)) \
	X(const char *, MHD_lookup_connection_value, (struct MHD_Connection *, enum MHD_ValueKind, \
		const char *)) \
	X(int, MHD_get_connection_values, (struct MHD_Connection *, enum MHD_ValueKind, \
		MHD_KeyValueIterator, void *)) \
	X(void, MHD_suspend_connection, (struct MHD_Connection *)) \
	X(void, MHD_resume_connection, (struct MHD_Connection *)) \
	X(enum MHD_Result, MHD_set_connection_option, (struct MHD_Connection *, \
		enum MHD_CONNECTION_OPTION, ...))

static struct {
#define PTR(ret, name, params) ret (*name) params;
	MHD_FNS(PTR)
#undef PTR
} mhd;
static char *mhd_err;

static void load_mhd(void)
{
	void *h = dlopen("libmicrohttpd.so.12", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		mhd_err = coco_strdup(dlerror());
		return;
	}
#define RESOLVE(ret, name, params) \
	if (!(*(void **)&mhd.name = dlsym(h, #name)) && !mhd_err) mhd_err = coco_strdup(dlerror());
	MHD_FNS(RESOLVE)
#undef RESOLVE
}

/* ---- the server ---------------------------------------------------------- */
typedef struct sse {
	coco_server *s;
	struct MHD_Connection *conn;
	coco_buf q;                   /* bytes not yet sent */
	size_t off;
	int suspended, dead;
} sse;

struct coco_http_req {
	coco_server *s;
	struct MHD_Connection *conn;
	uint64_t id;
	char *method, *path;
	coco_buf body;
	int too_big;
	int dispatched, suspended;
	/* the answer, once given */
	int status;
	struct MHD_Response *resp;
	sse *stream;
	coco_http_req *prev, *next;   /* pending (dispatched, not answered) */
};

struct coco_server {
	struct MHD_Daemon *d;
	coco_server_opts o;
	char *token, *cors;
	char addr[80];
	int loopback, wildcard;
	char host[64];                /* the bound address as a Host header names it */
	uint64_t next_id;
	coco_http_req *pending;
	sse **streams;
	size_t nstreams, capstreams;
	uint64_t counts[6];
};

static coco_http_req *req_new(coco_server *s, struct MHD_Connection *c, const char *method,
	const char *url)
{
	coco_http_req *r = coco_xcalloc(1, sizeof *r);
	r->s = s;
	r->conn = c;
	r->id = ++s->next_id;
	r->method = coco_strdup(method);
	r->path = coco_strdup(url);
	return r;
}

static void unlink_pending(coco_http_req *r)
{
	if (!r->prev && r->s->pending != r)
		return;
	if (r->prev)
		r->prev->next = r->next;
	else
		r->s->pending = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

static void req_free(coco_http_req *r)
{
	unlink_pending(r);
	if (r->resp)
		mhd.MHD_destroy_response(r->resp);
	coco_buf_free(&r->body);
	free(r->method);
	free(r->path);
	free(r);
}

static void count(coco_server *s, int status)
{
	int c = status / 100;
	s->counts[c >= 1 && c <= 5 ? c : 0]++;
}

static void common_headers(struct MHD_Response *resp, const char *ctype)
{
	mhd.MHD_add_response_header(resp, "Content-Type", ctype);
	mhd.MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	mhd.MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	mhd.MHD_add_response_header(resp, "X-Frame-Options", "DENY");
}

static void cors_headers(coco_server *s, struct MHD_Connection *c, struct MHD_Response *resp)
{
	const char *origin = mhd.MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
	if (!s->cors || !origin || strcmp(origin, s->cors))
		return;
	mhd.MHD_add_response_header(resp, "Access-Control-Allow-Origin", s->cors);
	mhd.MHD_add_response_header(resp, "Vary", "Origin");
}

/* Extra "Name: value\r\n" lines. */
static void add_headers(struct MHD_Response *resp, const char *h)
{
	while (h && *h) {
		const char *eol = strstr(h, "\r\n");
		const char *colon = strchr(h, ':');
		if (!eol || !colon || colon > eol)
			return;
		char *name = coco_xstrndup(h, (size_t)(colon - h));
		const char *v = colon + 1;
		while (*v == ' ')
			v++;
		char *val = coco_xstrndup(v, (size_t)(eol - v));
		mhd.MHD_add_response_header(resp, name, val);
		free(name);
		free(val);
		h = eol + 2;
	}
}

static struct MHD_Response *make_resp(const char *ctype, const char *body, size_t n, int copy)
{
	struct MHD_Response *resp = mhd.MHD_create_response_from_buffer(n, (void *)body,
		copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
	common_headers(resp, ctype);
	return resp;
}

static enum MHD_Result queue(coco_server *s, struct MHD_Connection *c, int status,
	struct MHD_Response *resp)
{
	cors_headers(s, c, resp);
	count(s, status);
	enum MHD_Result rc = mhd.MHD_queue_response(c, (unsigned)status, resp);
	mhd.MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result fail(coco_server *s, struct MHD_Connection *c, int status, const char *msg)
{
	coco_buf b = {0};
	coco_buf_adds(&b, "{\"error\":");
	coco_json_str(&b, msg, strlen(msg));
	coco_buf_adds(&b, "}\n");
	struct MHD_Response *resp = make_resp("application/json", b.p, b.n, 1);
	mhd.MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (status == 401)
		mhd.MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
	coco_buf_free(&b);
	return queue(s, c, status, resp);
}

/* ---- security checks ------------------------------------------------------ */
static int const_eq(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	unsigned char d = na != nb;
	for (size_t i = 0; i < na; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[i % (nb ? nb : 1)];
	return !d;
}

/* The host part of a Host header ("localhost:8080" -> "localhost", "[::1]:80" -> "[::1]"). */
static void host_part(const char *h, char *out, size_t cap)
{
	size_t n = strlen(h);
	const char *end = h + n;
	if (h[0] == '[') {
		const char *rb = strchr(h, ']');
		end = rb ? rb + 1 : end;
	} else {
		const char *colon = strrchr(h, ':');
		if (colon)
			end = colon;
	}
	n = (size_t)(end - h);
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)((h[i] >= 'A' && h[i] <= 'Z') ? h[i] + 32 : h[i]);
	out[n] = 0;
}

static int host_ok(coco_server *s, const char *host)
{
	if (!host)
		return 0;
	char h[256];
	host_part(host, h, sizeof h);
	if (!strcmp(h, "localhost") || !strcmp(h, "127.0.0.1") || !strcmp(h, "[::1]"))
		return 1;
	if (!strcmp(h, s->host))
		return 1;
	return s->wildcard;             /* any name of this machine; the token guards it */
}

/* Origin of a browser request: ours ("http://" + Host) or the CORS one. */
static int origin_ok(coco_server *s, struct MHD_Connection *c)
{
	const char *origin = mhd.MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
	const char *site = mhd.MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site");
	if (!origin)
		return !site || !strcmp(site, "same-origin") || !strcmp(site, "none");
	if (s->cors && !strcmp(origin, s->cors))
		return 1;
	const char *host = mhd.MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
	if (!host || strncmp(origin, "http://", 7))
		return 0;
	return !strcmp(origin + 7, host);
}

/* 1: the token is in the request (header, cookie or ?token=); *via_query set when by query. */
static int token_ok(coco_server *s, struct MHD_Connection *c, int *via_query)
{
	*via_query = 0;
	if (!s->token)
		return 1;
	const char *auth = mhd.MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	if (auth && !strncasecmp(auth, "Bearer ", 7) && const_eq(auth + 7, s->token))
		return 1;
	const char *cookie = mhd.MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "coco_token");
	if (cookie && const_eq(cookie, s->token))
		return 1;
	const char *q = mhd.MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
	if (q && const_eq(q, s->token)) {
		*via_query = 1;
		return 1;
	}
	return 0;
}

/* ---- event streams ------------------------------------------------------ */
static void sse_resume(sse *e)
{
	if (e->suspended) {
		e->suspended = 0;
		mhd.MHD_resume_connection(e->conn);
	}
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	sse *e = cls;
	if (e->dead)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	size_t left = e->q.n - e->off;
	if (!left) {
		coco_buf_clear(&e->q);
		e->off = 0;
		e->suspended = 1;             /* until the next event */
		mhd.MHD_suspend_connection(e->conn);
		return 0;
	}
	size_t n = left < max ? left : max;
	memcpy(buf, e->q.p + e->off, n);
	e->off += n;
	return (ssize_t)n;
}

static void sse_free(void *cls)
{
	sse *e = cls;
	coco_server *s = e->s;
	for (size_t i = 0; s && i < s->nstreams; i++)
		if (s->streams[i] == e) {
			s->streams[i] = s->streams[--s->nstreams];
			break;
		}
	coco_buf_free(&e->q);
	free(e);
}

void coco_server_broadcast(coco_server *s, const char *event, const char *data, size_t n)
{
	for (size_t i = 0; i < s->nstreams; i++) {
		sse *e = s->streams[i];
		if (e->dead)
			continue;
		if (e->q.n - e->off + n + strlen(event) + 16 > SSE_BACKLOG) {
			e->dead = 1;              /* it does not read: let it go */
		} else {
			coco_buf_printf(&e->q, "event: %s\ndata: ", event);
			coco_buf_add(&e->q, data, n);
			coco_buf_adds(&e->q, "\n\n");
		}
		sse_resume(e);
	}
}

size_t coco_server_nstreams(const coco_server *s) { return s->nstreams; }
const uint64_t *coco_server_counts(const coco_server *s) { return s->counts; }

void coco_http_sse(coco_http_req *r)
{
	if (r->resp || r->stream)
		return;
	sse *e = coco_xcalloc(1, sizeof *e);
	e->s = r->s;
	e->conn = r->conn;
	coco_buf_adds(&e->q, "retry: 3000\n: connected\n\n");
	r->stream = e;
}

/* ---- answering ---------------------------------------------------------- */
uint64_t coco_http_id(const coco_http_req *r) { return r->id; }
const char *coco_http_method(const coco_http_req *r) { return r->method; }
const char *coco_http_path(const coco_http_req *r) { return r->path; }

const char *coco_http_body(const coco_http_req *r, size_t *n)
{
	*n = r->body.n;
	return r->body.p ? r->body.p : "";
}

typedef struct argctx {
	void (*cb)(void *, const char *, const char *);
	void *ud;
} argctx;

static enum MHD_Result arg_it(void *cls, enum MHD_ValueKind kind, const char *key, const char *val)
{
	argctx *a = cls;
	if (strcmp(key, "token"))       /* the token never reaches handlers */
		a->cb(a->ud, key, val ? val : "");
	return MHD_YES;
}

void coco_http_args(const coco_http_req *r,
	void (*cb)(void *ud, const char *key, const char *val), void *ud)
{
	argctx a = { cb, ud };
	mhd.MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, arg_it, &a);
}

void coco_http_respond(coco_http_req *r, int status, const char *ctype, const char *body,
	size_t n, const char *headers)
{
	if (r->resp || r->stream)
		return;
	r->status = status;
	r->resp = make_resp(ctype ? ctype : "application/json", body, n, 1);
	mhd.MHD_add_response_header(r->resp, "Cache-Control", "no-store");
	add_headers(r->resp, headers);
	if (r->suspended) {             /* answered later: MHD calls on_request again */
		r->suspended = 0;
		unlink_pending(r);
		mhd.MHD_resume_connection(r->conn);
	}
}

coco_http_req *coco_server_pending(coco_server *s, uint64_t id)
{
	for (coco_http_req *r = s->pending; r; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

/* ---- static files ------------------------------------------------------- */
static const coco_web_file *web_file(const char *name)
{
	for (size_t i = 0; coco_web_files[i].name; i++)
		if (!strcmp(coco_web_files[i].name, name))
			return &coco_web_files[i];
	return NULL;
}

static const char *mime(const char *name)
{
	const char *dot = strrchr(name, '.');
	if (!dot)
		return "application/octet-stream";
	if (!strcmp(dot, ".html"))
		return "text/html; charset=utf-8";
	if (!strcmp(dot, ".js"))
		return "text/javascript; charset=utf-8";
	if (!strcmp(dot, ".css"))
		return "text/css; charset=utf-8";
	if (!strcmp(dot, ".svg"))
		return "image/svg+xml";
	return "application/octet-stream";
}

static enum MHD_Result serve_static(coco_server *s, struct MHD_Connection *c, const char *path,
	int set_cookie)
{
	const char *name = "index.html";
	if (!strncmp(path, "/static/", 8))
		name = path + 8;
	const coco_web_file *f = web_file(name);
	if (!f)
		return fail(s, c, 404, "no such file");
	struct MHD_Response *resp = make_resp(mime(name), f->data, f->len, 0);
	mhd.MHD_add_response_header(resp, "Cache-Control", "no-cache");
	if (!strcmp(name, "index.html"))
		mhd.MHD_add_response_header(resp, "Content-Security-Policy",
			"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
			"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
	if (set_cookie) {
		coco_buf ck = {0};
		coco_buf_printf(&ck, "coco_token=%s; HttpOnly; SameSite=Strict; Path=/", s->token);
		mhd.MHD_add_response_header(resp, "Set-Cookie", ck.p);
		coco_buf_free(&ck);
	}
	return queue(s, c, 200, resp);
}

static int is_api(const char *path)
{
	return !strncmp(path, "/api/", 5) || !strcmp(path, "/api") || !strcmp(path, "/healthz") ||
		!strcmp(path, "/metrics");
}

/* ---- the request cycle ------------------------------------------------------ */
/* First call: the headers are in. Answers at once (an error) or returns 0. */
static int check(coco_server *s, struct MHD_Connection *c, const char *method, const char *url,
	int *cookie, enum MHD_Result *rc)
{
	const char *host = mhd.MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
	if (!host_ok(s, host)) {
		*rc = fail(s, c, 403, "this server answers to its own address only (Host header)");
		return 1;
	}
	int via_query;
	if (!token_ok(s, c, &via_query)) {
		*rc = fail(s, c, 401, "a token is needed (Authorization: Bearer TOKEN)");
		return 1;
	}
	*cookie = via_query;
	if (!strcmp(method, "OPTIONS")) {
		const char *origin = mhd.MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
		if (!s->cors || !origin || strcmp(origin, s->cors)) {
			*rc = fail(s, c, 403, "cross-origin requests are not allowed (see --cors)");
			return 1;
		}
		struct MHD_Response *resp = make_resp("text/plain", "", 0, 0);
		mhd.MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST");
		mhd.MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Authorization, Content-Type");
		mhd.MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
		*rc = queue(s, c, 204, resp);
		return 1;
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD") && strcmp(method, "POST")) {
		*rc = fail(s, c, 405, "method not allowed");
		return 1;
	}
	if (!strcmp(method, "POST")) {
		if (!origin_ok(s, c)) {
			*rc = fail(s, c, 403, "a POST from another origin is refused");
			return 1;
		}
		const char *cl = mhd.MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
		if (cl && strtoull(cl, NULL, 10) > s->o.max_body) {
			*rc = fail(s, c, 413, "request body too large");
			return 1;
		}
	}
	(void)url;
	return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
	const char *method, const char *version, const char *upload, size_t *upload_size,
	void **con_cls)
{
	coco_server *s = cls;
	coco_http_req *r = *con_cls;
	if (!r) {
		enum MHD_Result rc;
		int cookie = 0;
		if (check(s, c, method, url, &cookie, &rc))
			return rc;
		if ((!strcmp(method, "GET") || !strcmp(method, "HEAD")) && !is_api(url))
			return serve_static(s, c, url, cookie);
		*con_cls = req_new(s, c, method, url);
		return MHD_YES;
	}
	if (*upload_size) {
		if (r->body.n + *upload_size > s->o.max_body)
			return MHD_NO;            /* no Content-Length, too much: close */
		coco_buf_add(&r->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (!r->dispatched) {
		r->dispatched = 1;
		s->o.handler(s->o.ud, r);
	}
	if (r->resp) {
		struct MHD_Response *resp = r->resp;
		r->resp = NULL;
		r->dispatched = 2;            /* answered */
		return queue(s, c, r->status, resp);
	}
	if (r->stream) {
		sse *e = r->stream;
		r->dispatched = 2;
		struct MHD_Response *resp = mhd.MHD_create_response_from_callback(MHD_SIZE_UNKNOWN,
			4096, sse_read, e, sse_free);
		common_headers(resp, "text/event-stream");
		mhd.MHD_add_response_header(resp, "Cache-Control", "no-store");
		if (s->nstreams == s->capstreams) {
			s->capstreams = s->capstreams ? s->capstreams * 2 : 16;
			s->streams = coco_xrealloc(s->streams, s->capstreams * sizeof *s->streams);
		}
		s->streams[s->nstreams++] = e;
		mhd.MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)SSE_TIMEOUT_S);
		return queue(s, c, 200, resp);
	}
	if (!r->suspended && r->dispatched == 1) {  /* answered later */
		r->suspended = 1;
		r->next = s->pending;
		if (s->pending)
			s->pending->prev = r;
		s->pending = r;
		mhd.MHD_suspend_connection(c);
	}
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
	enum MHD_RequestTerminationCode toe)
{
	coco_server *s = cls;
	coco_http_req *r = *con_cls;
	if (!r)
		return;
	*con_cls = NULL;
	int gone = r->dispatched == 1 && !r->resp;
	uint64_t id = r->id;
	req_free(r);
	if (gone && s->o.on_gone)
		s->o.on_gone(s->o.ud, id);
}

/* ---- lifecycle ---------------------------------------------------------- */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len,
	char *host, size_t hcap, char **err)
{
	char h[64] = "127.0.0.1";
	const char *port = spec;
	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');
		if (!rb || rb[1] != ':' || (size_t)(rb - spec - 1) >= sizeof h)
			return coco_seterr(err, "listen: '%s' is not ADDRESS:PORT ([::1]:49344)", spec);
		memcpy(h, spec + 1, (size_t)(rb - spec - 1));
		h[rb - spec - 1] = 0;
		port = rb + 2;
	} else if (strchr(spec, ':')) {
		const char *colon = strrchr(spec, ':');
		if ((size_t)(colon - spec) >= sizeof h)
			return coco_seterr(err, "listen: '%s' is not ADDRESS:PORT", spec);
		if (colon > spec) {
			memcpy(h, spec, (size_t)(colon - spec));
			h[colon - spec] = 0;
		}
		port = colon + 1;
	}
	char *end;
	long p = strtol(port, &end, 10);
	if (!*port || *end || p < 0 || p > 65535)
		return coco_seterr(err, "listen: '%s': the port must be a number 0-65535", spec);
	if (!strcmp(h, "localhost"))
		strcpy(h, "127.0.0.1");
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, h, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)p);
		*len = sizeof *in4;
		snprintf(host, hcap, "%s", h);
	} else if (inet_pton(AF_INET6, h, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p);
		*len = sizeof *in6;
		snprintf(host, hcap, "[%s]", h);
	} else {
		return coco_seterr(err, "listen: '%s': give an IP address (127.0.0.1, [::1], 0.0.0.0)", spec);
	}
	return 0;
}

int coco_server_create(const coco_server_opts *o, coco_server **out, char **err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, load_mhd);
	if (mhd_err)
		return coco_seterr(err, "cannot load libmicrohttpd (apt-get install libmicrohttpd12): %s",
			mhd_err);
	const char *spec = o->listen && *o->listen ? o->listen : "127.0.0.1:49344";
	struct sockaddr_storage ss;
	socklen_t slen = 0;
	char host[64];
	if (parse_listen(spec, &ss, &slen, host, sizeof host, err))
		return -1;
	int loopback, wildcard;
	if (ss.ss_family == AF_INET) {
		uint32_t a = ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr);
		loopback = (a >> 24) == 127;
		wildcard = a == 0;
	} else {
		const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		loopback = IN6_IS_ADDR_LOOPBACK(a);
		wildcard = IN6_IS_ADDR_UNSPECIFIED(a);
	}
	if (!loopback && !(o->token && *o->token))
		return coco_seterr(err, "listening on %s needs a token (--token-env VAR): "
			"without one, anyone who can reach it could operate the flows", spec);
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return coco_seterr(err, "cannot listen on %s: %s", spec, strerror(errno));
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, slen) || listen(fd, 128)) {
		int e = errno;
		close(fd);
		return coco_seterr(err, "cannot listen on %s: %s%s", spec, strerror(e),
			e == EADDRINUSE ? " (another coco server? pick a port with --listen)" : "");
	}
	coco_server *s = coco_xcalloc(1, sizeof *s);
	s->o = *o;
	s->o.max_body = o->max_body ? o->max_body : DEFAULT_BODY;
	s->o.max_conns = o->max_conns ? o->max_conns : DEFAULT_CONNS;
	s->token = o->token && *o->token ? coco_strdup(o->token) : NULL;
	s->cors = o->cors && *o->cors ? coco_strdup(o->cors) : NULL;
	s->o.token = s->token;
	s->o.cors = s->cors;
	s->loopback = loopback;
	s->wildcard = wildcard;
	struct sockaddr_storage bound;
	socklen_t blen = sizeof bound;
	getsockname(fd, (struct sockaddr *)&bound, &blen);
	int port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
		: ((struct sockaddr_in6 *)&bound)->sin6_port);
	snprintf(s->host, sizeof s->host, "%s", host);
	snprintf(s->addr, sizeof s->addr, "%s:%d", host, port);
	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_LISTEN_SOCKET, fd, NULL },
		{ MHD_OPTION_CONNECTION_LIMIT, (intptr_t)s->o.max_conns, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S, NULL },
		{ MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s },
		{ MHD_OPTION_END, 0, NULL }
	};
	s->d = mhd.MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
		on_request, s, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (!s->d) {
		close(fd);
		free(s->token);
		free(s->cors);
		free(s);
		return coco_seterr(err, "cannot start the HTTP server on %s", spec);
	}
	*out = s;
	return 0;
}

const char *coco_server_address(const coco_server *s) { return s->addr; }

int coco_server_fd(const coco_server *s)
{
	const union MHD_DaemonInfo *i = mhd.MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
	return i ? i->epoll_fd : -1;
}

long coco_server_timeout(const coco_server *s)
{
	MHD_UNSIGNED_LONG_LONG t;
	if (mhd.MHD_get_timeout(s->d, &t) != MHD_YES)
		return -1;
	return t > 86400000ull ? 86400000l : (long)t;
}

void coco_server_run(coco_server *s) { mhd.MHD_run(s->d); }

void coco_server_destroy(coco_server *s)
{
	if (!s)
		return;
	/* suspended connections must be resumed before the daemon stops */
	while (s->pending)
		coco_http_respond(s->pending, 503, NULL, "{\"error\":\"server stopping\"}\n", 28, NULL);
	for (size_t i = 0; i < s->nstreams; i++) {
		s->streams[i]->dead = 1;
		sse_resume(s->streams[i]);
	}
	mhd.MHD_run(s->d);
	for (size_t i = 0; i < s->nstreams; i++)
		s->streams[i]->s = NULL;
	mhd.MHD_stop_daemon(s->d);
	free(s->streams);
	free(s->token);
	free(s->cors);
	free(s);
}
