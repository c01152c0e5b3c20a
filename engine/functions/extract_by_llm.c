/* ExtractByLlm: text -> a struct of output_type, by a chat completion that
 * asks for a JSON object of that shape (OpenAI-compatible:
 * POST {address}/chat/completions with response_format json_object;
 * Ollama: POST {address}/api/chat with format json). The answer is checked
 * against output_type and converted; an answer that does not fit is a row
 * error naming the field. Texts of many rows are sent concurrently, one
 * request each, up to max_concurrency in flight. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ops.h"
#include "engine/functions/json.h"
#include "engine/functions/llm.h"
#include "engine/sys.h"

static const coco_argdef ex_args[] = {
	{ "text", 1u << COCO_STR, 1 },
	{ NULL, 0, 0 },
};

/* the first four and the last two are llm_open_spec's */
enum { O_API_TYPE, O_MODEL, O_ADDRESS, O_KEY_ENV, O_OUTPUT_TYPE, O_INSTRUCTION, O_CONC, O_TIMEOUT };

static const coco_optdef ex_opts[] = {
	{ "api_type", COCO_OPT_STR, 0, "\"openai\" (default; also vLLM, llama.cpp, LM Studio) or \"ollama\"" },
	{ "model", COCO_OPT_STR, 1, "the chat model, e.g. \"gpt-4o-mini\", \"llama3.2\"" },
	{ "address", COCO_OPT_STR, 0, "base URL; default https://api.openai.com/v1 or http://127.0.0.1:11434" },
	{ "api_key_env", COCO_OPT_STR, 0, "name of the environment variable holding the API key", 1 },
	{ "output_type", COCO_OPT_JSON, 1, "what to extract: a coco.types.struct{...}" },
	{ "instruction", COCO_OPT_STR, 0, "what to extract, in words, for the model" },
	{ "max_concurrency", COCO_OPT_INT, 0, "requests in flight at once (default 4)", 1 },
	{ "timeout", COCO_OPT_NUM, 0, "seconds per request, retries apart (default 120)", 1 },
	{ NULL, 0, 0, NULL },
};

/* ---- output_type: the JSON form of coco.types.* --------------------------
 *   "str"                                       a scalar by name
 *   {"kind":"struct","fields":[["a","str"],...]} coco.types.struct
 *   {"kind":"table","fields":[...],"keys":0}     coco.types.table
 *   {"kind":"vector","elem":"float32","dim":N}   coco.types.vector
 *   [["a","str"],...] or {"a":"str",...}         a struct, in short */

static int parse_type(coco_arena *ta, const char *s, size_t n, int depth, const coco_type **out,
	char **err);

static int bad_type(char **err, const char *s, size_t n, const char *why)
{
	return coco_seterr(err, "ExtractByLlm: output_type: %s, at %.*s%s", why, (int)(n > 60 ? 60 : n),
		s, n > 60 ? "..." : "");
}

/* fields: [["name", type], ...] (asmap = 0) or {"name": type, ...} (asmap = 1) */
static int parse_fields(coco_arena *ta, const char *s, size_t n, int asmap, int depth,
	coco_field **fields, uint32_t *nf, char **err)
{
	coco_json_iter it;
	if (coco_json_iter_init(&it, s, n) != (asmap ? '{' : '['))
		return bad_type(err, s, n, asmap ? "expected an object of fields" : "expected a list of fields");
	coco_field *f = NULL;
	size_t cap = 0, k = 0;
	const char *key, *v;
	size_t nkey, nv;
	coco_buf name = {0};
	while (coco_json_iter_next(&it, &key, &nkey, &v, &nv)) {
		const char *tv;
		size_t ntv;
		coco_buf_clear(&name);
		if (asmap) {
			coco_json_str_decode(key, nkey, &name);
			tv = v, ntv = nv;
		} else {
			const char *nm;
			size_t nnm;
			coco_json_iter fi;
			if (coco_json_iter_init(&fi, v, nv) != '[' || !coco_json_iter_next(&fi, NULL, NULL, &nm, &nnm) ||
			    coco_json_str_decode(nm, nnm, &name) || !coco_json_iter_next(&fi, NULL, NULL, &tv, &ntv)) {
				coco_buf_free(&name);
				return bad_type(err, v, nv, "a field must be { \"name\", type }");
			}
		}
		if (!name.n) {
			coco_buf_free(&name);
			return bad_type(err, v, nv, "a field name must not be empty");
		}
		for (size_t i = 0; i < k; i++)
			if (!strcmp(f[i].name, name.p)) {
				coco_seterr(err, "ExtractByLlm: output_type: field '%s' is given twice", name.p);
				coco_buf_free(&name);
				return -1;
			}
		f = coco_arena_grow(ta, f, k, &cap, sizeof *f);
		f[k].name = coco_arena_strndup(ta, name.p, name.n);
		if (parse_type(ta, tv, ntv, depth + 1, &f[k].type, err)) {
			coco_buf_free(&name);
			return -1;
		}
		k++;
	}
	coco_buf_free(&name);
	if (!k)
		return bad_type(err, s, n, "a struct needs at least one field");
	*fields = f;
	*nf = (uint32_t)k;
	return 0;
}

static int parse_type(coco_arena *ta, const char *s, size_t n, int depth, const coco_type **out,
	char **err)
{
	coco_json_trim(&s, &n);
	if (depth > 32)
		return bad_type(err, s, n, "nested too deep");
	if (n && *s == '"') {
		coco_buf b = {0};
		coco_json_str_decode(s, n, &b);
		const coco_type *t = coco_type_by_name(b.p ? b.p : "");
		if (!t) {
			coco_seterr(err, "ExtractByLlm: output_type: unknown type \"%s\"; types: str, int64, "
				"float32, float64, bool, bytes, json, range, or coco.types.*", b.p ? b.p : "");
			coco_buf_free(&b);
			return -1;
		}
		coco_buf_free(&b);
		*out = t;
		return 0;
	}
	coco_field *f;
	uint32_t nf;
	if (n && *s == '[') {
		if (parse_fields(ta, s, n, 0, depth, &f, &nf, err))
			return -1;
		*out = coco_type_struct(ta, f, nf);
		return 0;
	}
	if (!n || *s != '{')
		return bad_type(err, s, n, "expected a type");
	const char *kv, *v;
	size_t nkv, nv;
	if (!coco_json_get(s, n, "kind", 4, &kv, &nkv)) {
		if (parse_fields(ta, s, n, 1, depth, &f, &nf, err))
			return -1;
		*out = coco_type_struct(ta, f, nf);
		return 0;
	}
	if (coco_json_key_eq(kv, nkv, "vector", 6)) {
		double d = 0;
		if (coco_json_get(s, n, "dim", 3, &v, &nv) && (coco_json_num(v, nv, &d) || d < 0 || d > 65536 ||
		    d != floor(d)))
			return bad_type(err, s, n, "a vector's dim must be a positive integer");
		*out = coco_type_vector(ta, (uint32_t)d);
		return 0;
	}
	int table = coco_json_key_eq(kv, nkv, "table", 5);
	if (!table && !coco_json_key_eq(kv, nkv, "struct", 6))
		return bad_type(err, s, n, "kind must be \"struct\", \"table\" or \"vector\"");
	if (!coco_json_get(s, n, "fields", 6, &v, &nv))
		return bad_type(err, s, n, "no fields");
	if (parse_fields(ta, v, nv, *v == '{', depth, &f, &nf, err))
		return -1;
	if (!table) {
		*out = coco_type_struct(ta, f, nf);
		return 0;
	}
	double keys = 0;
	if (coco_json_get(s, n, "keys", 4, &v, &nv) && (coco_json_num(v, nv, &keys) || keys < 0 || keys > nf))
		return bad_type(err, s, n, "keys must be a number of leading fields");
	*out = coco_type_table(ta, f, nf, (uint32_t)keys);
	return 0;
}

/* The shape the model is asked for: {"title": string, "year": integer}. */
static void describe(const coco_type *t, coco_buf *b)
{
	switch (t->kind) {
	case COCO_STR: case COCO_BYTES: coco_buf_adds(b, "string"); break;
	case COCO_INT64: coco_buf_adds(b, "integer"); break;
	case COCO_FLOAT32: case COCO_FLOAT64: coco_buf_adds(b, "number"); break;
	case COCO_BOOL: coco_buf_adds(b, "true or false"); break;
	case COCO_RANGE: coco_buf_adds(b, "[integer, integer]"); break;
	case COCO_VECTOR:
		if (t->dim)
			coco_buf_printf(b, "[%u numbers]", t->dim);
		else
			coco_buf_adds(b, "[number, ...]");
		break;
	case COCO_STRUCT: case COCO_TABLE:
		if (t->kind == COCO_TABLE)
			coco_buf_putc(b, '[');
		coco_buf_putc(b, '{');
		for (uint32_t i = 0; i < t->nfields; i++) {
			if (i)
				coco_buf_adds(b, ", ");
			coco_json_str(b, t->fields[i].name, strlen(t->fields[i].name));
			coco_buf_adds(b, ": ");
			describe(t->fields[i].type, b);
		}
		coco_buf_putc(b, '}');
		if (t->kind == COCO_TABLE)
			coco_buf_adds(b, ", ...]");
		break;
	default: coco_buf_adds(b, "any JSON value"); break;
	}
}

typedef struct ex_state {
	llm_client *c;
	const coco_type *type;
	char *system;                 /* the system message, as a JSON string literal */
} ex_state;

static void ex_destroy(void *state)
{
	ex_state *st = state;
	if (!st)
		return;
	llm_close(st->c);
	free(st->system);
	free(st);
}

static int ex_prepare(const coco_optval *spec, void *udata, const coco_arg_info *args,
	size_t nargs, coco_arena *types, const coco_type **out, void **state, char **err)
{
	const char *ot = spec[O_OUTPUT_TYPE].s;
	size_t at;
	const char *why;
	if (coco_json_check(ot, strlen(ot), &at, &why))
		return coco_seterr(err, "ExtractByLlm: output_type is not valid JSON at byte %zu: %s", at, why);
	const coco_type *t;
	if (parse_type(types, ot, strlen(ot), 0, &t, err))
		return -1;
	if (t->kind != COCO_STRUCT)
		return coco_seterr(err, "ExtractByLlm: output_type must be a coco.types.struct{...} "
			"(the model answers with a JSON object)");
	llm_client *c;
	if (llm_open_spec("ExtractByLlm", "/chat/completions", "/api/chat", spec, O_CONC, &c, err))
		return -1;
	ex_state *st = coco_xcalloc(1, sizeof *st);
	st->c = c;
	coco_buf sys = {0}, lit = {0};
	coco_buf_adds(&sys, "You extract structured data from the user's text. Answer with one JSON "
		"object and nothing else, of this shape:\n");
	describe(t, &sys);
	coco_buf_adds(&sys, "\nUse null for anything the text does not say.");
	if (spec[O_INSTRUCTION].set && *spec[O_INSTRUCTION].s) {
		coco_buf_adds(&sys, "\n\n");
		coco_buf_adds(&sys, spec[O_INSTRUCTION].s);
	}
	coco_json_str(&lit, sys.p, sys.n);
	coco_buf_free(&sys);
	st->system = coco_buf_take(&lit);
	st->type = t;
	*out = t;
	*state = st;
	return 0;
}

/* ---- converting the answer ------------------------------------------------ */

typedef struct conv {
	coco_arena *a;
	coco_buf path;                /* "authors[2].name" */
	char *err;
} conv;

static const char *json_kind(const char *v, size_t n)
{
	switch (n ? *v : 0) {
	case '"': return "a string";
	case '{': return "an object";
	case '[': return "an array";
	case 't': case 'f': return "a boolean";
	case 'n': return "null";
	default: return "a number";
	}
}

static int conv_fail(conv *c, const char *want, const char *v, size_t n)
{
	coco_buf b = {0};
	coco_buf_printf(&b, "ExtractByLlm: the model's answer does not fit output_type: ");
	if (c->path.n)
		coco_buf_printf(&b, "field '%s': ", c->path.p);
	coco_buf_printf(&b, "expected %s, got %s", want, json_kind(v, n));
	if (n && *v != '{' && *v != '[')
		coco_buf_printf(&b, " %.*s%s", (int)(n > 40 ? 40 : n), v, n > 40 ? "..." : "");
	c->err = coco_buf_take(&b);
	return -1;
}

static int conv_value(conv *c, const coco_type *t, const char *v, size_t n, coco_value *out);

static int conv_struct(conv *c, const coco_type *t, const char *v, size_t n, coco_value *out)
{
	coco_json_iter it;
	if (coco_json_iter_init(&it, v, n) != '{')
		return conv_fail(c, "an object", v, n);
	coco_value *f = coco_arena_alloc(c->a, (t->nfields + 1) * sizeof *f);
	for (uint32_t i = 0; i < t->nfields; i++) {
		const char *m;
		size_t nm, mark = c->path.n;
		const char *name = t->fields[i].name;
		if (!coco_json_get(v, n, name, strlen(name), &m, &nm))
			continue;                 /* absent: null */
		coco_buf_printf(&c->path, "%s%s", mark ? "." : "", name);
		if (conv_value(c, t->fields[i].type, m, nm, &f[i]))
			return -1;
		c->path.n = mark;
		c->path.p[mark] = 0;
	}
	out->kind = COCO_STRUCT;
	out->n = t->nfields;
	out->u.fields = f;
	return 0;
}

static int conv_value(conv *c, const coco_type *t, const char *v, size_t n, coco_value *out)
{
	*out = coco_v_null();
	if (n == 4 && !memcmp(v, "null", 4))
		return 0;
	double d;
	switch (t->kind) {
	case COCO_STR: case COCO_BYTES: {
		if (*v != '"')
			return conv_fail(c, "a string", v, n);
		coco_buf b = {0};
		coco_json_str_decode(v, n, &b);
		out->kind = t->kind;
		out->n = b.n;
		out->u.s = coco_arena_strndup(c->a, b.p ? b.p : "", b.n);
		coco_buf_free(&b);
		return 0;
	}
	case COCO_INT64:
		if (coco_json_num(v, n, &d) || d != floor(d) || fabs(d) > 9.007199254740992e15)
			return conv_fail(c, "an integer", v, n);
		*out = coco_v_int((int64_t)d);
		return 0;
	case COCO_FLOAT32: case COCO_FLOAT64:
		if (coco_json_num(v, n, &d))
			return conv_fail(c, "a number", v, n);
		out->kind = t->kind;
		out->u.f = t->kind == COCO_FLOAT32 ? (double)(float)d : d;
		return 0;
	case COCO_BOOL:
		if (*v != 't' && *v != 'f')
			return conv_fail(c, "true or false", v, n);
		out->kind = COCO_BOOL;
		out->u.b = *v == 't';
		return 0;
	case COCO_JSON:
		out->kind = COCO_JSON;
		out->n = n;
		out->u.s = coco_arena_strndup(c->a, v, n);
		return 0;
	case COCO_RANGE: {
		coco_json_iter it;
		const char *e;
		size_t ne, k = 0;
		int64_t r[2];
		if (coco_json_iter_init(&it, v, n) != '[')
			return conv_fail(c, "[start, end]", v, n);
		while (coco_json_iter_next(&it, NULL, NULL, &e, &ne)) {
			if (k >= 2 || coco_json_num(e, ne, &d) || d != floor(d))
				return conv_fail(c, "[start, end]", v, n);
			r[k++] = (int64_t)d;
		}
		if (k != 2)
			return conv_fail(c, "[start, end]", v, n);
		out->kind = COCO_RANGE;
		out->u.r[0] = r[0];
		out->u.r[1] = r[1];
		return 0;
	}
	case COCO_VECTOR: {
		coco_json_iter it;
		const char *e;
		size_t ne, k = 0, cap = 0;
		float *f = NULL;
		if (coco_json_iter_init(&it, v, n) != '[')
			return conv_fail(c, "an array of numbers", v, n);
		while (coco_json_iter_next(&it, NULL, NULL, &e, &ne)) {
			if (coco_json_num(e, ne, &d))
				return conv_fail(c, "an array of numbers", v, n);
			f = coco_arena_grow(c->a, f, k, &cap, sizeof *f);
			f[k++] = (float)d;
		}
		if (t->dim && k != t->dim) {
			char want[64];
			snprintf(want, sizeof want, "%u numbers", t->dim);
			return conv_fail(c, want, v, n);
		}
		out->kind = COCO_VECTOR;
		out->n = k;
		out->u.vec = f;
		return 0;
	}
	case COCO_STRUCT:
		return conv_struct(c, t, v, n, out);
	case COCO_TABLE: {
		coco_json_iter it;
		const char *e;
		size_t ne, k = 0, cap = 0, mark = c->path.n;
		coco_value *rows = NULL;
		if (coco_json_iter_init(&it, v, n) != '[')
			return conv_fail(c, "an array of objects", v, n);
		while (coco_json_iter_next(&it, NULL, NULL, &e, &ne)) {
			rows = coco_arena_grow(c->a, rows, k, &cap, sizeof *rows);
			coco_buf_printf(&c->path, "[%zu]", k + 1);
			if (conv_struct(c, t, e, ne, &rows[k]))
				return -1;
			c->path.n = mark;
			c->path.p[mark] = 0;
			k++;
		}
		out->kind = COCO_TABLE;
		out->n = k;
		out->u.rows = rows;
		return 0;
	}
	default:
		return conv_fail(c, coco_kind_name((coco_kind)t->kind), v, n);
	}
}

/* The model's answer text -> a value of the output type. Tolerates a
 * markdown code fence around the object. */
static int convert(ex_state *st, const char *s, size_t n, coco_arena *a, coco_value *out, char **err)
{
	size_t at;
	coco_json_trim(&s, &n);
	if (coco_json_check(s, n, &at, NULL)) {
		const char *o = memchr(s, '{', n), *e = s + n;
		while (e > s && e[-1] != '}')
			e--;
		if (o && e > o && !coco_json_check(o, (size_t)(e - o), &at, NULL))
			n = (size_t)(e - o), s = o;
	}
	if (!n || *s != '{' || coco_json_check(s, n, &at, NULL)) {
		*err = llm_errorf(st->c, "the model's answer is not a JSON object: %.*s%s",
			(int)(n > 120 ? 120 : n), s, n > 120 ? "..." : "");
		return -1;
	}
	conv c = { .a = a };
	int rc = conv_struct(&c, st->type, s, n, out);
	coco_buf_free(&c.path);
	if (rc)
		*err = c.err;
	return rc;
}

/* ---- requests ------------------------------------------------------------- */

typedef struct ex_ctx {
	ex_state *st;
	coco_arena *a;
	coco_value *out;
	char **errs;
	size_t ok, transport;
} ex_ctx;

static void on_done(llm_run *r, void *req_ud, coco_http_resp *resp, void *ud)
{
	ex_ctx *x = ud;
	ex_state *st = x->st;
	size_t i = (size_t)(uintptr_t)req_ud;
	if (resp->error || resp->status != 200) {
		if (resp->error)
			x->transport++;
		x->errs[i] = llm_error(st->c, resp);
		return;
	}
	const char *s = resp->body.p ? resp->body.p : "", *v, *m;
	size_t n = resp->body.n, nv, nm;
	if (coco_json_check(s, n, NULL, NULL)) {
		x->errs[i] = llm_errorf(st->c, "invalid JSON in the response from %s", llm_url(st->c));
		return;
	}
	const char *holder = s;       /* Ollama: {"message": {...}} */
	size_t nholder = n;
	if (llm_api_of(st->c) == LLM_OPENAI) {   /* {"choices": [{"message": {...}}]} */
		if (!coco_json_get(s, n, "choices", 7, &v, &nv) || !coco_json_get(v, nv, "1", 1, &v, &nv)) {
			x->errs[i] = llm_errorf(st->c, "the response from %s has no choices", llm_url(st->c));
			return;
		}
		const char *fr;
		size_t nfr;
		if (coco_json_get(v, nv, "finish_reason", 13, &fr, &nfr) &&
		    coco_json_key_eq(fr, nfr, "length", 6)) {
			x->errs[i] = llm_errorf(st->c, "the model's answer was cut off (finish_reason length)");
			return;
		}
		holder = v;
		nholder = nv;
	}
	if (!coco_json_get(holder, nholder, "message", 7, &m, &nm)) {
		x->errs[i] = llm_errorf(st->c, "the response from %s has no message", llm_url(st->c));
		return;
	}
	const char *ct, *rf;
	size_t nct, nrf;
	if (!coco_json_get(m, nm, "content", 7, &ct, &nct) || *ct != '"') {
		if (coco_json_get(m, nm, "refusal", 7, &rf, &nrf) && *rf == '"') {
			coco_buf b = {0};
			coco_json_str_decode(rf, nrf, &b);
			x->errs[i] = llm_errorf(st->c, "the model refused: %s", b.p ? b.p : "");
			coco_buf_free(&b);
		} else {
			x->errs[i] = llm_errorf(st->c, "the response from %s has no message content",
				llm_url(st->c));
		}
		return;
	}
	coco_buf b = {0};
	coco_json_str_decode(ct, nct, &b);
	if (!convert(st, b.p ? b.p : "", b.n, x->a, &x->out[i], &x->errs[i]))
		x->ok++;
	coco_buf_free(&b);
}

static int ex_call_batch(void *state, const coco_value *const *args, size_t nargs, size_t n,
	coco_arena *a, coco_value *out, char **errs, char **err)
{
	ex_state *st = state;
	ex_ctx x = { .st = st, .a = a, .out = out, .errs = errs };
	size_t m = 0, first = 0;
	llm_run *r = NULL;
	coco_buf b = {0};
	for (size_t i = 0; i < n; i++) {
		out[i] = coco_v_null();
		errs[i] = NULL;
		if (nargs >= 1 && args[i][0].kind == COCO_STR)
			m++;
	}
	if (m && llm_ready(st->c, err))
		return -1;
	m = 0;
	for (size_t i = 0; i < n; i++) {
		if (nargs < 1 || args[i][0].kind != COCO_STR)
			continue;
		if (!m++) {
			first = i;
			r = llm_run_begin(st->c, on_done, &x);
		}
		const char *model = llm_model(st->c);
		coco_buf_clear(&b);
		coco_buf_adds(&b, "{\"model\":");
		coco_json_str(&b, model, strlen(model));
		coco_buf_adds(&b, ",\"messages\":[{\"role\":\"system\",\"content\":");
		coco_buf_adds(&b, st->system);
		coco_buf_adds(&b, "},{\"role\":\"user\",\"content\":");
		coco_json_str(&b, args[i][0].u.s, args[i][0].n);
		coco_buf_adds(&b, "}]");
		if (llm_api_of(st->c) == LLM_OPENAI)
			coco_buf_adds(&b, ",\"response_format\":{\"type\":\"json_object\"}}");
		else
			coco_buf_adds(&b, ",\"format\":\"json\",\"stream\":false}");
		llm_run_post(r, b.p, b.n, (void *)(uintptr_t)i);
	}
	coco_buf_free(&b);
	if (r) {
		llm_run_wait(r);
		llm_run_end(r);
	}
	if (m && !x.ok && x.transport == m) {
		/* nothing reached the server: one message, not one per row */
		if (err)
			*err = errs[first];
		else
			free(errs[first]);
		errs[first] = NULL;
		for (size_t i = 0; i < n; i++) {
			free(errs[i]);
			errs[i] = NULL;
		}
		return -1;
	}
	return 0;
}

/* ready: the key is set (checked before a run, and by every call_batch). */
static int ex_ready(void *state, char **err)
{
	ex_state *st = state;
	return llm_ready(st->c, err);
}

/* ExtractByLlm{ api_type, model, address, api_key_env, output_type,
 * instruction, max_concurrency, timeout }(text) -> struct of output_type. */
const coco_function_ops coco_fn_extract_by_llm = {
	.name = "ExtractByLlm",
	.spec_opts = ex_opts,
	.args = ex_args,
	.prepare = ex_prepare,
	.destroy = ex_destroy,
	.call_batch = ex_call_batch,
	.ready = ex_ready,
	.cached = 1,
};
