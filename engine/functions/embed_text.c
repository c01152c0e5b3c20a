/* EmbedText: text -> vector<float32, N>, from an OpenAI-compatible server
 * (POST {address}/embeddings: OpenAI, vLLM, llama.cpp, LM Studio, TEI, most
 * gateways) or Ollama (POST {address}/api/embed).
 *
 * The engine hands call_batch the texts of many rows (deduplicated, cached
 * ones left out); they go out in requests of up to batch_size inputs, up to
 * max_concurrency requests in flight (engine/http.h's multi interface, which
 * retries 429/5xx/timeouts with backoff and Retry-After). A request the
 * server refuses with 400/413/422 is split in halves until the input at
 * fault is alone, so one bad text fails its row only, with the API's
 * message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ops.h"
#include "engine/functions/llm.h"
#include "engine/sys.h"

static const coco_argdef et_args[] = {
	{ "text", 1u << COCO_STR, 1 },
	{ NULL, 0, 0 },
};

/* the first four and the last two are llm_open_spec's */
enum { O_API_TYPE, O_MODEL, O_ADDRESS, O_KEY_ENV, O_DIM, O_BATCH, O_CONC, O_TIMEOUT };

static const coco_optdef et_opts[] = {
	{ "api_type", COCO_OPT_STR, 0, "\"openai\" (default; also vLLM, llama.cpp, LM Studio, TEI) or \"ollama\"" },
	{ "model", COCO_OPT_STR, 1, "the embedding model, e.g. \"text-embedding-3-small\", \"nomic-embed-text\"" },
	{ "address", COCO_OPT_STR, 0, "base URL; default https://api.openai.com/v1 or http://127.0.0.1:11434" },
	{ "api_key_env", COCO_OPT_STR, 0, "name of the environment variable holding the API key", 1 },
	{ "output_dimension", COCO_OPT_INT, 0, "vector dimension (needed for models coco does not know)" },
	{ "batch_size", COCO_OPT_INT, 0, "texts per request (default 64)", 1 },
	{ "max_concurrency", COCO_OPT_INT, 0, "requests in flight at once (default 4)", 1 },
	{ "timeout", COCO_OPT_NUM, 0, "seconds per request, retries apart (default 120)", 1 },
	{ NULL, 0, 0, NULL },
};

/* Dimensions of well-known models (an Ollama tag such as ":latest" is
 * ignored). */
static const struct { const char *model; uint32_t dim; } known[] = {
	{ "text-embedding-3-small", 1536 },
	{ "text-embedding-3-large", 3072 },
	{ "text-embedding-ada-002", 1536 },
	{ "nomic-embed-text", 768 },
	{ "nomic-ai/nomic-embed-text-v1.5", 768 },
	{ "all-minilm", 384 },
	{ "sentence-transformers/all-MiniLM-L6-v2", 384 },
	{ "mxbai-embed-large", 1024 },
	{ "mixedbread-ai/mxbai-embed-large-v1", 1024 },
	{ "snowflake-arctic-embed", 1024 },
	{ "bge-m3", 1024 },
	{ "BAAI/bge-m3", 1024 },
	{ "BAAI/bge-small-en-v1.5", 384 },
	{ "BAAI/bge-base-en-v1.5", 768 },
	{ "BAAI/bge-large-en-v1.5", 1024 },
	{ NULL, 0 },
};

static uint32_t known_dim(const char *model)
{
	size_t n = strcspn(model, ":");
	for (int i = 0; known[i].model; i++)
		if (strlen(known[i].model) == n && !strncmp(known[i].model, model, n))
			return known[i].dim;
	return 0;
}

typedef struct et_state {
	llm_client *c;
	uint32_t dim;
	int send_dim;                 /* ask the server for dim ("dimensions") */
	size_t batch;
} et_state;

static void et_destroy(void *state)
{
	et_state *st = state;
	if (!st)
		return;
	llm_close(st->c);
	free(st);
}

/* prepare: checks the options, reads the key (a missing key is et_ready's
 * error, so show, setup and drop need none), gives vector<float32, N>. */
static int et_prepare(const coco_optval *spec, void *udata, const coco_arg_info *args,
	size_t nargs, coco_arena *types, const coco_type **out, void **state, char **err)
{
	llm_client *c;
	if (llm_open_spec("EmbedText", "/embeddings", "/api/embed", spec, O_CONC, &c, err))
		return -1;
	et_state *st = coco_xcalloc(1, sizeof *st);
	st->c = c;
	const char *model = spec[O_MODEL].s;
	uint32_t native = known_dim(model), dim = native;
	int64_t batch = spec[O_BATCH].set ? spec[O_BATCH].i : 64;
	if (spec[O_DIM].set) {
		if (spec[O_DIM].i < 1 || spec[O_DIM].i > 65536) {
			coco_seterr(err, "EmbedText: output_dimension must be between 1 and 65536, got %lld",
				(long long)spec[O_DIM].i);
			goto fail;
		}
		dim = (uint32_t)spec[O_DIM].i;
	}
	if (!dim) {
		coco_seterr(err, "EmbedText: the dimension of model \"%s\" is not known: "
			"give output_dimension", model);
		goto fail;
	}
	if (batch < 1 || batch > 2048) {
		coco_seterr(err, "EmbedText: batch_size must be between 1 and 2048, got %lld",
			(long long)batch);
		goto fail;
	}
	st->dim = dim;
	/* Only a model known to be of another native size is asked for a
	 * dimension: for others, output_dimension states what the model gives
	 * (vLLM refuses "dimensions" for most models). */
	st->send_dim = native && native != dim;
	st->batch = (size_t)batch;
	*out = coco_type_vector(types, dim);
	*state = st;
	return 0;
fail:
	et_destroy(st);
	return -1;
}

/* ---- one call_batch ------------------------------------------------------ */

typedef struct et_req {
	size_t *idx;                  /* the calls whose texts this request carries */
	size_t n;
} et_req;

typedef struct et_ctx {
	et_state *st;
	const coco_value *const *args;
	coco_arena *a;
	coco_value *out;
	char **errs;
	coco_arena tmp;
	coco_buf body;
	size_t ok, transport;         /* calls that succeeded; failed without any response */
} et_ctx;

static void post(llm_run *r, et_ctx *x, size_t *idx, size_t n)
{
	et_state *st = x->st;
	coco_buf *b = &x->body;
	coco_buf_clear(b);
	coco_buf_adds(b, "{\"model\":");
	coco_json_str(b, llm_model(st->c), strlen(llm_model(st->c)));
	coco_buf_adds(b, ",\"input\":[");
	for (size_t i = 0; i < n; i++) {
		const coco_value *t = &x->args[idx[i]][0];
		if (i)
			coco_buf_putc(b, ',');
		coco_json_str(b, t->u.s, t->n);
	}
	coco_buf_putc(b, ']');
	if (llm_api_of(st->c) == LLM_OPENAI)
		coco_buf_adds(b, ",\"encoding_format\":\"float\"");
	if (st->send_dim)
		coco_buf_printf(b, ",\"dimensions\":%u", st->dim);
	coco_buf_putc(b, '}');
	et_req *q = coco_arena_alloc(&x->tmp, sizeof *q);
	q->idx = idx;
	q->n = n;
	llm_run_post(r, b->p, b->n, q);
}

/* ---- reading the response -------------------------------------------------
 * One pass over the body, bounded by its end, no tree: a response carries
 * batch_size x dim numbers (64 x 1536 is ~1 MB of text), so this is the hot
 * path. Numbers take Clinger's fast path (exact for up to 19 digits and
 * |exponent| <= 22, i.e. what embedding servers print), strtod otherwise. */

typedef struct jcur {
	const char *p, *e;
} jcur;

static int jc_ws(jcur *c)
{
	while (c->p < c->e && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
		c->p++;
	return c->p < c->e;
}

static int jc_lit(jcur *c, char ch)
{
	if (!jc_ws(c) || *c->p != ch)
		return 0;
	c->p++;
	return 1;
}

/* A string literal: its span, quotes included, in *s and *n. */
static int jc_str(jcur *c, const char **s, size_t *n)
{
	if (!jc_ws(c) || *c->p != '"')
		return 0;
	const char *p = c->p + 1;
	while (p < c->e && *p != '"')
		p += *p == '\\' ? 2 : 1;
	if (p >= c->e)
		return 0;
	*s = c->p;
	*n = (size_t)(p + 1 - c->p);
	c->p = p + 1;
	return 1;
}

static int jc_skip(jcur *c)
{
	const char *s;
	size_t n;
	if (!jc_ws(c))
		return 0;
	if (*c->p == '"')
		return jc_str(c, &s, &n);
	if (*c->p != '{' && *c->p != '[') {
		const char *p0 = c->p;
		while (c->p < c->e && *c->p != ',' && *c->p != '}' && *c->p != ']' && *c->p != ' ' &&
		       *c->p != '\n' && *c->p != '\r' && *c->p != '\t')
			c->p++;
		return c->p > p0;
	}
	int depth = 0;
	while (c->p < c->e) {
		char ch = *c->p;
		if (ch == '"') {
			if (!jc_str(c, &s, &n))
				return 0;
			continue;
		}
		if (ch == '{' || ch == '[')
			depth++;
		else if ((ch == '}' || ch == ']') && --depth == 0) {
			c->p++;
			return 1;
		}
		c->p++;
	}
	return 0;
}

static const double p10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 };

static int jc_num(jcur *c, double *out)
{
	if (!jc_ws(c))
		return 0;
	const char *p = c->p, *e = c->e, *s = p;
	int neg = 0, nd = 0, exact = 1, x = 0;
	uint64_t m = 0;
	if (*p == '-')
		neg = 1, p++;
	if (p >= e || *p < '0' || *p > '9')
		return 0;
	for (int frac = 0;; frac = 1) {
		while (p < e && *p >= '0' && *p <= '9') {
			int d = *p++ - '0';
			if (nd < 19) {
				if (m || d)
					m = m * 10 + (uint64_t)d, nd++;
				x -= frac;
			} else {
				exact = 0;
				x += !frac;
			}
		}
		if (frac || p >= e || *p != '.')
			break;
		p++;
		if (p >= e || *p < '0' || *p > '9')
			return 0;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		int es = 1, ev = 0;
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			es = *p++ == '-' ? -1 : 1;
		if (p >= e || *p < '0' || *p > '9')
			return 0;
		while (p < e && *p >= '0' && *p <= '9') {
			if (ev < 100000)
				ev = ev * 10 + (*p - '0');
			p++;
		}
		x += es * ev;
	}
	double d;
	if (exact && m <= (1ull << 53) && x >= -22 && x <= 22) {
		d = (double)m;
		d = x < 0 ? d / p10[-x] : d * p10[x];
		if (neg)
			d = -d;
	} else {
		char tmp[128];
		size_t n = (size_t)(p - s);
		if (n >= sizeof tmp)
			return 0;
		memcpy(tmp, s, n);
		tmp[n] = 0;
		d = strtod(tmp, NULL);
	}
	*out = d;
	c->p = p;
	return 1;
}

/* [n, n, ...] into f (up to dim numbers); *k: how many there were. */
static int jc_vec(jcur *c, float *f, uint32_t dim, size_t *k)
{
	*k = 0;
	if (!jc_lit(c, '['))
		return 0;
	if (jc_lit(c, ']'))
		return 1;
	for (;;) {
		double d;
		if (!jc_num(c, &d))
			return 0;
		if (*k < dim)
			f[*k] = (float)d;
		++*k;
		if (jc_lit(c, ','))
			continue;
		return jc_lit(c, ']');
	}
}

static int key_is(const char *lit, size_t n, const char *name)
{
	size_t nn = strlen(name);
	return n == nn + 2 && !memcmp(lit + 1, name, nn);
}

/* Walk the members of an object; for each, call fn(c, key, ud) positioned
 * on the value, which must consume it (or return -1 to skip it). */
typedef int (*jc_member_fn)(jcur *c, const char *key, size_t nkey, void *ud);

static int jc_object(jcur *c, jc_member_fn fn, void *ud)
{
	if (!jc_lit(c, '{'))
		return 0;
	if (jc_lit(c, '}'))
		return 1;
	for (;;) {
		const char *k;
		size_t nk;
		if (!jc_str(c, &k, &nk) || !jc_lit(c, ':'))
			return 0;
		int r = fn(c, k, nk, ud);
		if (r == 0 || (r < 0 && !jc_skip(c)))
			return 0;
		if (jc_lit(c, ','))
			continue;
		return jc_lit(c, '}');
	}
}

typedef struct rd {
	et_ctx *x;
	const et_req *q;
	float **vec;                  /* per input of the request */
	size_t *dims;
	size_t got;                   /* vectors seen */
	int seen_list, dup, range;
	/* the current OpenAI item */
	double index;
	int has_index;
	float *cur;
	size_t curdim;
} rd;

static int item_member(jcur *c, const char *k, size_t nk, void *ud)
{
	rd *r = ud;
	if (key_is(k, nk, "index")) {
		r->has_index = 1;
		return jc_num(c, &r->index);
	}
	if (key_is(k, nk, "embedding")) {
		r->cur = coco_arena_alloc(r->x->a, (size_t)r->x->st->dim * sizeof(float));
		return jc_vec(c, r->cur, r->x->st->dim, &r->curdim);
	}
	return -1;
}

/* One vector for input k of the request. */
static void put_vec(rd *r, size_t k, float *f, size_t dim)
{
	if (k >= r->q->n) {
		r->range = 1;
		return;
	}
	if (r->vec[k])
		r->dup = 1;
	r->vec[k] = f;
	r->dims[k] = dim;
	r->got++;
}

static int list_openai(jcur *c, rd *r)
{
	if (!jc_lit(c, '['))
		return 0;
	if (jc_lit(c, ']'))
		return 1;
	for (;;) {
		r->has_index = 0;
		r->cur = NULL;
		if (!jc_object(c, item_member, r) || !r->cur)
			return 0;
		double d = r->index;
		if (r->has_index && (d < 0 || d != (double)(size_t)d))
			r->range = 1;
		else
			put_vec(r, r->has_index ? (size_t)d : r->got, r->cur, r->curdim);
		if (jc_lit(c, ','))
			continue;
		return jc_lit(c, ']');
	}
}

static int list_ollama(jcur *c, rd *r)
{
	if (!jc_lit(c, '['))
		return 0;
	if (jc_lit(c, ']'))
		return 1;
	for (size_t i = 0;; i++) {
		size_t dim;
		float *f = coco_arena_alloc(r->x->a, (size_t)r->x->st->dim * sizeof(float));
		if (!jc_vec(c, f, r->x->st->dim, &dim))
			return 0;
		put_vec(r, i, f, dim);
		if (jc_lit(c, ','))
			continue;
		return jc_lit(c, ']');
	}
}

static int top_member(jcur *c, const char *k, size_t nk, void *ud)
{
	rd *r = ud;
	int ollama = llm_api_of(r->x->st->c) == LLM_OLLAMA;
	if (key_is(k, nk, ollama ? "embeddings" : "data")) {
		r->seen_list = 1;
		return ollama ? list_ollama(c, r) : list_openai(c, r);
	}
	return -1;
}

static void fail_all(et_ctx *x, const et_req *q, char *msg)
{
	for (size_t i = 0; i < q->n; i++) {
		free(x->errs[q->idx[i]]);
		x->errs[q->idx[i]] = i + 1 < q->n ? coco_strdup(msg) : msg;
	}
	if (!q->n)
		free(msg);
}

static void on_done(llm_run *r, void *req_ud, coco_http_resp *resp, void *ud)
{
	et_ctx *x = ud;
	et_req *q = req_ud;
	et_state *st = x->st;
	if (resp->error || resp->status != 200) {
		if (q->n > 1 && !resp->error && llm_split_status(resp->status)) {
			size_t h = q->n / 2;
			post(r, x, q->idx, h);
			post(r, x, q->idx + h, q->n - h);
			return;
		}
		if (resp->error)
			x->transport += q->n;
		fail_all(x, q, llm_error(st->c, resp));
		return;
	}
	rd d = { .x = x, .q = q };
	d.vec = coco_arena_alloc(&x->tmp, q->n * sizeof *d.vec);
	d.dims = coco_arena_alloc(&x->tmp, q->n * sizeof *d.dims);
	jcur c = { resp->body.p ? resp->body.p : "", NULL };
	c.e = c.p + resp->body.n;
	if (!jc_object(&c, top_member, &d) || jc_ws(&c)) {
		fail_all(x, q, llm_errorf(st->c, "the response from %s is not valid JSON (at byte %zu)",
			llm_url(st->c), (size_t)(c.p - resp->body.p)));
		return;
	}
	const char *list = llm_api_of(st->c) == LLM_OLLAMA ? "embeddings" : "data";
	if (!d.seen_list) {
		fail_all(x, q, llm_errorf(st->c, "the response from %s has no \"%s\" array",
			llm_url(st->c), list));
		return;
	}
	if (d.range || d.dup || d.got != q->n) {
		fail_all(x, q, llm_errorf(st->c, "%s returned %zu embeddings for %zu inputs%s",
			llm_url(st->c), d.got, q->n, d.range || d.dup ? " (or indexes out of place)" : ""));
		return;
	}
	for (size_t i = 0; i < q->n; i++) {
		size_t call = q->idx[i];
		if (d.dims[i] != st->dim) {
			x->errs[call] = llm_errorf(st->c, "model \"%s\" returned a vector of %zu dimensions, "
				"expected %u (output_dimension)", llm_model(st->c), d.dims[i], st->dim);
			continue;
		}
		x->out[call].kind = COCO_VECTOR;
		x->out[call].n = st->dim;
		x->out[call].u.vec = d.vec[i];
		x->ok++;
	}
}

/* call_batch: n texts -> n vectors; null text -> null. */
static int et_call_batch(void *state, const coco_value *const *args, size_t nargs, size_t n,
	coco_arena *a, coco_value *out, char **errs, char **err)
{
	et_state *st = state;
	et_ctx x = { .st = st, .args = args, .a = a, .out = out, .errs = errs };
	size_t *idx = coco_arena_alloc(&x.tmp, (n + 1) * sizeof *idx), m = 0;
	for (size_t i = 0; i < n; i++) {
		out[i] = coco_v_null();
		errs[i] = NULL;
		if (nargs >= 1 && args[i][0].kind == COCO_STR)
			idx[m++] = i;
	}
	if (m && llm_ready(st->c, err)) {
		coco_arena_destroy(&x.tmp);
		return -1;
	}
	if (m) {
		llm_run *r = llm_run_begin(st->c, on_done, &x);
		for (size_t i = 0; i < m; i += st->batch)
			post(r, &x, idx + i, m - i < st->batch ? m - i : st->batch);
		llm_run_wait(r);
		llm_run_end(r);
	}
	int rc = 0;
	if (m && !x.ok && x.transport == m) {
		/* nothing reached the server: one message, not one per row */
		if (err)
			*err = errs[idx[0]];
		else
			free(errs[idx[0]]);
		errs[idx[0]] = NULL;
		for (size_t i = 0; i < n; i++) {
			free(errs[i]);
			errs[i] = NULL;
		}
		rc = -1;
	}
	coco_buf_free(&x.body);
	coco_arena_destroy(&x.tmp);
	return rc;
}

/* ready: the key is set (checked before a run, and by every call_batch). */
static int et_ready(void *state, char **err)
{
	et_state *st = state;
	return llm_ready(st->c, err);
}

/* EmbedText{ api_type, model, address, api_key_env, output_dimension,
 * batch_size, max_concurrency, timeout }(text) -> vector<float32, N>. */
const coco_function_ops coco_fn_embed_text = {
	.name = "EmbedText",
	.spec_opts = et_opts,
	.args = et_args,
	.prepare = et_prepare,
	.destroy = et_destroy,
	.call_batch = et_call_batch,
	.ready = et_ready,
	.cached = 1,
};
