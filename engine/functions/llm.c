/* OpenAI-compatible and Ollama servers over engine/http.h (see llm.h). */
#define _GNU_SOURCE
#include "engine/functions/llm.h"
#include "engine/sys.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/functions/json.h"

#define OPENAI_ADDRESS "https://api.openai.com/v1"
#define OLLAMA_ADDRESS "http://127.0.0.1:11434"
#define MAX_IDLE 8

struct llm_client {
	const char *fname;
	llm_api api;
	char *url, *model;
	char *key;                    /* NULL: no Authorization header */
	char *auth;                   /* "Authorization: Bearer <key>" */
	char *keyerr;                 /* why there is no usable key (llm_ready), or NULL */
	long timeout_ms;
	int max_concurrency;
	int down;                     /* the last request found no server: no retries */
	pthread_mutex_t mu;
	coco_http *idle[MAX_IDLE];    /* clients of finished runs, connections kept */
	int nidle;
};

typedef struct llm_req {
	coco_http_xfer *x;
	void *ud;
} llm_req;

struct llm_run {
	llm_client *c;
	coco_http *h;
	llm_done_fn done;
	void *ud;
	llm_req *reqs;
	size_t n, cap;
};

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

int llm_open(const llm_conf *cf, llm_client **out, char **err)
{
	const char *fn = cf->fname;
	llm_api api;
	*out = NULL;
	if (!cf->api_type || !strcmp(cf->api_type, "openai"))
		api = LLM_OPENAI;
	else if (!strcmp(cf->api_type, "ollama"))
		api = LLM_OLLAMA;
	else
		return coco_seterr(err, "%s: unknown api_type \"%s\"; api types: openai, ollama", fn,
			cf->api_type);
	if (!cf->model || !*cf->model)
		return coco_seterr(err, "%s: model must not be empty", fn);
	const char *addr = cf->address;
	if (addr && strncmp(addr, "http://", 7) && strncmp(addr, "https://", 8))
		return coco_seterr(err, "%s: address must start with http:// or https://, got \"%s\"",
			fn, addr);
	if (!addr)
		addr = api == LLM_OPENAI ? OPENAI_ADDRESS : OLLAMA_ADDRESS;
	if (!(cf->timeout_s >= 0 && cf->timeout_s <= 86400))
		return coco_seterr(err, "%s: timeout must be from 0 to 86400 seconds, got %g", fn,
			cf->timeout_s);
	if (cf->max_concurrency < 0 || cf->max_concurrency > 256)
		return coco_seterr(err, "%s: max_concurrency must be between 1 and 256, got %d", fn,
			cf->max_concurrency);
	/* The key: from the variable api_key_env names. Without one, OpenAI's
	 * own address uses OPENAI_API_KEY; other servers get no key (a user's
	 * OpenAI key is not sent to a server it was not meant for). */
	const char *env = cf->api_key_env;
	if (!env && api == LLM_OPENAI && !strcmp(addr, OPENAI_ADDRESS))
		env = "OPENAI_API_KEY";
	const char *key = env ? getenv(env) : NULL;
	char *keyerr = NULL;
	if (env && (!key || !*key))
		coco_seterr(&keyerr, "%s: environment variable %s%s is not set: it must hold the API key",
			fn, env, cf->api_key_env ? " (api_key_env)" : "");
	else if (key && strpbrk(key, "\r\n"))
		coco_seterr(&keyerr, "%s: the API key in %s contains a line break", fn, env);
	if (keyerr)
		key = NULL;

	llm_client *c = coco_xcalloc(1, sizeof *c);
	c->keyerr = keyerr;
	c->fname = fn;
	c->api = api;
	size_t na = strlen(addr);
	while (na && addr[na - 1] == '/')
		na--;
	coco_buf u = {0};
	coco_buf_add(&u, addr, na);
	coco_buf_adds(&u, api == LLM_OPENAI ? cf->openai_path : cf->ollama_path);
	c->url = coco_buf_take(&u);
	c->model = coco_strdup(cf->model);
	if (key) {
		c->key = coco_strdup(key);
		coco_buf a = {0};
		coco_buf_printf(&a, "Authorization: Bearer %s", key);
		c->auth = coco_buf_take(&a);
	}
	c->timeout_ms = (long)((cf->timeout_s > 0 ? cf->timeout_s : 120) * 1000);
	c->max_concurrency = cf->max_concurrency > 0 ? cf->max_concurrency : 4;
	pthread_mutex_init(&c->mu, NULL);
	*out = c;
	return 0;
}

void llm_close(llm_client *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->nidle; i++)
		coco_http_destroy(c->idle[i]);
	pthread_mutex_destroy(&c->mu);
	free(c->url);
	free(c->model);
	wipe_free(c->key);
	wipe_free(c->auth);
	free(c->keyerr);
	free(c);
}

int llm_open_spec(const char *fname, const char *openai_path, const char *ollama_path,
	const coco_optval *spec, size_t conc, llm_client **out, char **err)
{
	const coco_optval *n = &spec[conc], *t = &spec[conc + 1];
	if (n->set && n->i < 1)
		return coco_seterr(err, "%s: max_concurrency must be at least 1, got %lld", fname,
			(long long)n->i);
	if (t->set && t->num <= 0)
		return coco_seterr(err, "%s: timeout must be positive (seconds)", fname);
	llm_conf cf = {
		.fname = fname,
		.api_type = spec[0].set ? spec[0].s : NULL,
		.model = spec[1].s,
		.address = spec[2].set ? spec[2].s : NULL,
		.api_key_env = spec[3].set ? spec[3].s : NULL,
		.openai_path = openai_path,
		.ollama_path = ollama_path,
		.timeout_s = t->set ? t->num : 0,
		.max_concurrency = n->set ? (int)(n->i > 256 ? 257 : n->i) : 0,
	};
	return llm_open(&cf, out, err);
}

int llm_ready(const llm_client *c, char **err)
{
	if (!c->keyerr)
		return 0;
	return coco_seterr(err, "%s", c->keyerr);
}

llm_api llm_api_of(const llm_client *c) { return c->api; }
const char *llm_model(const llm_client *c) { return c->model; }
const char *llm_url(const llm_client *c) { return c->url; }

/* ---- runs ----------------------------------------------------------------- */

llm_run *llm_run_begin(llm_client *c, llm_done_fn done, void *ud)
{
	llm_run *r = coco_xcalloc(1, sizeof *r);
	r->c = c;
	r->done = done;
	r->ud = ud;
	pthread_mutex_lock(&c->mu);
	if (c->nidle)
		r->h = c->idle[--c->nidle];
	pthread_mutex_unlock(&c->mu);
	if (!r->h) {
		/* retries: 429s and 5xx of a busy server, with backoff and jitter;
		 * Retry-After is honoured up to a minute. A server that is down
		 * costs the retries once, not once per batch: see `down`. */
		coco_http_opts o = { .max_inflight = c->max_concurrency, .max_retries = 4,
			.backoff_ms = 400, .backoff_max_ms = 60000, .user_agent = "coco" };
		r->h = coco_http_create(&o);
	}
	return r;
}

void llm_run_post(llm_run *r, const char *body, size_t n, void *req_ud)
{
	const char *hdrs[4];
	int k = 0;
	hdrs[k++] = "Content-Type: application/json";
	hdrs[k++] = "Expect:";        /* no 100-continue round trip for big bodies */
	if (r->c->auth)
		hdrs[k++] = r->c->auth;
	hdrs[k] = NULL;
	coco_http_req q = { .method = "POST", .url = r->c->url, .headers = hdrs, .body = body,
		.nbody = n, .timeout_ms = r->c->timeout_ms, .max_body = (size_t)1 << 30,
		.no_retry = __atomic_load_n(&r->c->down, __ATOMIC_RELAXED) };
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 16;
		r->reqs = coco_xrealloc(r->reqs, r->cap * sizeof *r->reqs);
	}
	r->reqs[r->n].x = coco_http_start(r->h, &q, req_ud);
	r->reqs[r->n].ud = req_ud;
	r->n++;
}

void llm_run_wait(llm_run *r)
{
	while (r->n) {
		coco_http_run(r->h, 1000);
		for (size_t i = 0; i < r->n;) {
			if (!coco_http_done(r->reqs[i].x)) {
				i++;
				continue;
			}
			llm_req q = r->reqs[i];
			r->reqs[i] = r->reqs[--r->n];   /* the callback may append */
			coco_http_resp *resp = coco_http_resp_of(q.x);
			int down = resp->error && (!strncmp(resp->error, "Couldn't connect", 16) ||
				!strncmp(resp->error, "Couldn't resolve", 16));
			__atomic_store_n(&r->c->down, down, __ATOMIC_RELAXED);
			r->done(r, q.ud, resp, r->ud);
			coco_http_release(r->h, q.x);
		}
	}
}

void llm_run_end(llm_run *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		coco_http_release(r->h, r->reqs[i].x);
	free(r->reqs);
	llm_client *c = r->c;
	pthread_mutex_lock(&c->mu);
	if (c->nidle < MAX_IDLE) {
		c->idle[c->nidle++] = r->h;
		r->h = NULL;
	}
	pthread_mutex_unlock(&c->mu);
	coco_http_destroy(r->h);
	free(r);
}

/* ---- errors --------------------------------------------------------------- */

/* Blank out the key wherever it shows in s. */
static void redact(const llm_client *c, coco_buf *b)
{
	size_t nk = c->key ? strlen(c->key) : 0;
	if (nk < 4)
		return;
	char *p = b->p;
	while (p && (p = memmem(p, b->n - (size_t)(p - b->p), c->key, nk))) {
		memset(p, '*', nk);
		p += nk;
	}
}

/* Append the API's message of an error body: OpenAI's {"error": {"message":
 * ...}}, Ollama's {"error": "..."}, {"message": ...}, {"detail": ...}, else
 * the start of the body. */
static void api_message(const coco_buf *body, coco_buf *out)
{
	const char *s = body->p ? body->p : "", *v, *m;
	size_t n = body->n, nv, nm;
	if (n && !coco_json_check(s, n, NULL, NULL)) {
		if (coco_json_get(s, n, "error", 5, &v, &nv)) {
			if (*v == '"' && !coco_json_str_decode(v, nv, out))
				return;
			if (coco_json_get(v, nv, "message", 7, &m, &nm) && *m == '"' &&
			    !coco_json_str_decode(m, nm, out))
				return;
		}
		static const char *const names[] = { "message", "detail", NULL };
		for (int i = 0; names[i]; i++)
			if (coco_json_get(s, n, names[i], strlen(names[i]), &v, &nv) && *v == '"' &&
			    !coco_json_str_decode(v, nv, out))
				return;
	}
	while (n && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t'))
		s++, n--;
	if (!n) {
		coco_buf_adds(out, "(empty body)");
		return;
	}
	size_t k = n > 300 ? 300 : n;
	for (size_t i = 0; i < k; i++)
		coco_buf_putc(out, (unsigned char)s[i] < 0x20 ? ' ' : s[i]);
	if (k < n)
		coco_buf_adds(out, "...");
}

char *llm_error(const llm_client *c, const coco_http_resp *resp)
{
	coco_buf b = {0};
	if (resp->error) {
		coco_buf_printf(&b, "%s: POST %s: %s", c->fname, c->url, resp->error);
		if (resp->attempts > 1)
			coco_buf_printf(&b, " (%d attempts)", resp->attempts);
	} else if (resp->too_large) {
		coco_buf_printf(&b, "%s: the response from %s is too large", c->fname, c->url);
	} else {
		coco_buf_printf(&b, "%s: HTTP %ld from %s: ", c->fname, resp->status, c->url);
		api_message(&resp->body, &b);
		if (resp->attempts > 1)
			coco_buf_printf(&b, " (%d attempts)", resp->attempts);
	}
	redact(c, &b);
	return coco_buf_take(&b);
}

char *llm_errorf(const llm_client *c, const char *fmt, ...)
{
	coco_buf b = {0};
	coco_buf_printf(&b, "%s: ", c->fname);
	va_list ap;
	va_start(ap, fmt);
	coco_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	redact(c, &b);
	return coco_buf_take(&b);
}

int llm_split_status(long status)
{
	return status == 400 || status == 413 || status == 422;
}

