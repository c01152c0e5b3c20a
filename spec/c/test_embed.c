/* EmbedText and ExtractByLlm against a scripted OpenAI/Ollama stand-in on
 * 127.0.0.1 (spec/c/test_s3_fakeserver.h): request shapes, batching, the
 * concurrency limit, routing of results (also out of order), retries
 * (429 + Retry-After, 500), a refused input isolated to its row, wrong
 * dimensions, short and malformed answers, a server that is down, the key
 * kept out of messages; output_type parsing and answer conversion. */
#include "spec/c/test_s3_fakeserver.h"
#include "spec/c/check.h"
#include "engine/ops.h"
#include "engine/functions/json.h"

#include <math.h>

extern const coco_function_ops coco_fn_embed_text;
extern const coco_function_ops coco_fn_extract_by_llm;

#define KEY "sk-test-S3CR3T-0123456789"
#define DIM 6

enum { M_OK, M_REVERSED, M_429_ONCE, M_500_ONCE, M_SHORT, M_GARBAGE, M_401_ECHO, M_SLOW, M_NUMS };

/* numbers as servers print them, for the reader's number parsing */
static const char *const NUMS[DIM] = { "-0.0069292835", "1.2345678e-05", "3E+2",
	"0.1000000000000000055511151231257827", "-1.5e-30", "123456789012345678901234" };

typedef struct fake {
	int mode;
	int hits;
	int inputs[256];             /* inputs per request */
	char auth[256];
	char last_target[128];
	coco_buf last_body;
	char answer[1024];           /* the chat answer's content (JSON text) */
} fake;

static fake F;

/* The vector of a text: [len, first byte, 2, 3, ...]. */
static void vec_of(coco_buf *b, const char *t, size_t n, int dim)
{
	coco_buf_putc(b, '[');
	for (int k = 0; k < dim; k++)
		coco_buf_printf(b, "%s%d", k ? "," : "", k == 0 ? (int)n : k == 1 ? (n ? (unsigned char)t[0] : 0) : k);
	coco_buf_putc(b, ']');
}

static void embed(const fk_req *rq, int n, fk_resp *o, int ollama)
{
	const char *in;
	size_t nin;
	coco_json_iter it;
	if (!coco_json_get(rq->body, rq->nbody, "input", 5, &in, &nin) || coco_json_iter_init(&it, in, nin) != '[') {
		fk_reply(o, 400, NULL, "{\"error\":{\"message\":\"no input\"}}", 31);
		return;
	}
	const char *e;
	size_t ne;
	char texts[256][64];
	size_t lens[256];
	int k = 0, poison = 0;
	while (coco_json_iter_next(&it, NULL, NULL, &e, &ne) && k < 256) {
		coco_buf t = {0};
		coco_json_str_decode(e, ne, &t);
		lens[k] = t.n;
		snprintf(texts[k], sizeof texts[k], "%s", t.p ? t.p : "");
		poison |= t.p && strstr(t.p, "POISON") != NULL;
		coco_buf_free(&t);
		k++;
	}
	if (n < 256)
		F.inputs[n] = k;
	if (poison) {
		const char *b = ollama ? "{\"error\":\"input contains POISON\"}"
			: "{\"error\":{\"message\":\"input contains POISON\",\"type\":\"invalid_request_error\"}}";
		fk_reply(o, 400, NULL, b, strlen(b));
		return;
	}
	coco_buf b = {0};
	coco_buf_adds(&b, ollama ? "{\"model\":\"m\",\"embeddings\":[" : "{\"object\":\"list\",\"data\":[");
	int shown = F.mode == M_SHORT ? k - 1 : k;
	for (int j = 0; j < shown; j++) {
		int i = F.mode == M_REVERSED ? k - 1 - j : j;
		if (j)
			coco_buf_putc(&b, ',');
		if (!ollama)
			coco_buf_printf(&b, "{\"object\":\"embedding\",\"index\":%d,\"embedding\":", i);
		if (F.mode == M_NUMS)
			coco_buf_printf(&b, "[ %s, %s,%s ,%s,\n%s,%s ]", NUMS[0], NUMS[1], NUMS[2], NUMS[3],
				NUMS[4], NUMS[5]);
		else
			vec_of(&b, texts[i], lens[i], strstr(texts[i], "WRONGDIM") ? DIM - 1 : DIM);
		if (!ollama)
			coco_buf_putc(&b, '}');
	}
	coco_buf_adds(&b, ollama ? "]}" : "],\"model\":\"m\",\"usage\":{\"prompt_tokens\":1,\"total_tokens\":1}}");
	fk_reply(o, 200, "Content-Type: application/json\r\n", b.p, b.n);
	coco_buf_free(&b);
}

static void chat(const fk_req *rq, fk_resp *o, int ollama)
{
	coco_buf b = {0};
	if (ollama) {
		coco_buf_adds(&b, "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":");
		coco_json_str(&b, F.answer, strlen(F.answer));
		coco_buf_adds(&b, "},\"done\":true}");
	} else {
		coco_buf_adds(&b, "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
			"\"message\":{\"role\":\"assistant\",\"content\":");
		coco_json_str(&b, F.answer, strlen(F.answer));
		coco_buf_adds(&b, "},\"finish_reason\":\"stop\"}]}");
	}
	fk_reply(o, 200, NULL, b.p, b.n);
	coco_buf_free(&b);
}

static void handler(void *ud, const fk_req *rq, int n, fk_resp *o)
{
	(void)ud;
	int k = F.hits++;
	if (!fk_header(rq->headers, "Authorization", F.auth, sizeof F.auth))
		F.auth[0] = 0;
	snprintf(F.last_target, sizeof F.last_target, "%s %s", rq->method, rq->target);
	coco_buf_clear(&F.last_body);
	coco_buf_add(&F.last_body, rq->body, rq->nbody);
	if (F.mode == M_429_ONCE && k == 0) {
		fk_reply(o, 429, "Retry-After: 1\r\n", "{\"error\":{\"message\":\"slow down\"}}", 34);
		return;
	}
	if (F.mode == M_500_ONCE && k == 0) {
		fk_reply(o, 500, NULL, "oops", 4);
		return;
	}
	if (F.mode == M_GARBAGE) {
		fk_reply(o, 200, NULL, "{\"data\": [", 10);
		return;
	}
	if (F.mode == M_401_ECHO) {
		coco_buf b = {0};
		coco_buf_printf(&b, "{\"error\":{\"message\":\"Incorrect API key provided: %s\"}}", F.auth + 7);
		fk_reply(o, 401, NULL, b.p, b.n);
		coco_buf_free(&b);
		return;
	}
	if (F.mode == M_SLOW)
		o->delay_ms = 200;
	if (!strcmp(rq->target, "/v1/embeddings"))
		embed(rq, n, o, 0);
	else if (!strcmp(rq->target, "/api/embed"))
		embed(rq, n, o, 1);
	else if (!strcmp(rq->target, "/v1/chat/completions"))
		chat(rq, o, 0);
	else if (!strcmp(rq->target, "/api/chat"))
		chat(rq, o, 1);
	else
		fk_reply(o, 404, NULL, "{\"error\":\"no such path\"}", 24);
}

static void reset(int mode)
{
	F.mode = mode;
	F.hits = 0;
	memset(F.inputs, 0, sizeof F.inputs);
}

/* ---- options ------------------------------------------------------------- */
enum { E_API, E_MODEL, E_ADDR, E_KEYENV, E_DIM, E_BATCH, E_CONC, E_TIMEOUT, E_N };

typedef struct spec {
	coco_optval v[E_N + 1];
	char addr[128];
} spec;

static void spec_init(spec *s, const char *api, const char *model, int port, const char *path)
{
	memset(s, 0, sizeof *s);
	if (api)
		s->v[E_API] = (coco_optval){ .set = 1, .s = api };
	s->v[E_MODEL] = (coco_optval){ .set = 1, .s = model };
	if (port) {
		snprintf(s->addr, sizeof s->addr, "http://127.0.0.1:%d%s", port, path);
		s->v[E_ADDR] = (coco_optval){ .set = 1, .s = s->addr };
	}
	s->v[E_KEYENV] = (coco_optval){ .set = 1, .s = "COCO_TEST_KEY" };
	s->v[E_TIMEOUT] = (coco_optval){ .set = 1, .num = 10 };
}

static void opt_int(spec *s, int i, int64_t v) { s->v[i] = (coco_optval){ .set = 1, .i = v, .num = (double)v }; }

static int prep(const coco_function_ops *fn, spec *s, coco_arena *ta, const coco_type **t, void **st, char **err)
{
	coco_arg_info ai = { &coco_t_str, NULL };
	return fn->prepare(s->v, NULL, &ai, 1, ta, t, st, err);
}

static void test_prepare(int port)
{
	coco_arena ta = {0};
	const coco_type *t;
	void *st = NULL;
	char *err = NULL;
	spec s;

	spec_init(&s, "openai", "text-embedding-3-small", port, "/v1");
	CHECK(prep(&coco_fn_embed_text, &s, &ta, &t, &st, &err) == 0);
	CHECK(t->kind == COCO_VECTOR && t->dim == 1536);
	coco_fn_embed_text.destroy(st);

	spec_init(&s, "ollama", "nomic-embed-text:latest", port, "");
	CHECK(prep(&coco_fn_embed_text, &s, &ta, &t, &st, &err) == 0);
	CHECK(t->kind == COCO_VECTOR && t->dim == 768);
	coco_fn_embed_text.destroy(st);

	spec_init(&s, NULL, "my-model", port, "/v1");
	CHECK(prep(&coco_fn_embed_text, &s, &ta, &t, &st, &err) == -1);
	CHECK(err && strstr(err, "\"my-model\" is not known") && strstr(err, "output_dimension"));
	free(err), err = NULL;
	opt_int(&s, E_DIM, 42);
	CHECK(prep(&coco_fn_embed_text, &s, &ta, &t, &st, &err) == 0);
	CHECK(t->dim == 42);
	coco_fn_embed_text.destroy(st);

	spec_init(&s, "cohere", "m", port, "/v1");
	CHECK(prep(&coco_fn_embed_text, &s, &ta, &t, &st, &err) == -1);
	CHECK(err && strstr(err, "unknown api_type \"cohere\""));
	free(err), err = NULL;

	spec_init(&s, NULL, "all-minilm", port, "/v1");
	opt_int(&s, E_BATCH, 0);
	CHECK(prep(&coco_fn_embed_text, &s, &ta, &t, &st, &err) == -1);
	CHECK(err && strstr(err, "batch_size"));
	free(err), err = NULL;

	/* no key: prepare is fine (show, setup and drop need none); ready and
	 * call_batch say so, naming the variable, and send nothing */
	spec_init(&s, NULL, "all-minilm", port, "/v1");
	s.v[E_KEYENV].s = "COCO_TEST_NO_SUCH_KEY";
	CHECK(prep(&coco_fn_embed_text, &s, &ta, &t, &st, &err) == 0);
	CHECK(coco_fn_embed_text.ready(st, &err) == -1);
	CHECK(err && strstr(err, "COCO_TEST_NO_SUCH_KEY") && strstr(err, "not set"));
	free(err), err = NULL;
	{
		coco_arena a = {0};
		coco_value in = coco_v_str("text", 4), out;
		const coco_value *argv[1] = { &in };
		char *errs[1];
		reset(M_OK);
		CHECK(coco_fn_embed_text.call_batch(st, argv, 1, 1, &a, &out, errs, &err) == -1);
		CHECK(err && strstr(err, "COCO_TEST_NO_SUCH_KEY") && !errs[0] && F.hits == 0);
		free(err), err = NULL;
		coco_arena_destroy(&a);
	}
	coco_fn_embed_text.destroy(st);
	spec_init(&s, NULL, "all-minilm", port, "/v1");
	CHECK(prep(&coco_fn_embed_text, &s, &ta, &t, &st, &err) == 0);
	CHECK(coco_fn_embed_text.ready(st, &err) == 0 && !err);
	coco_fn_embed_text.destroy(st);
	/* OpenAI's own address uses OPENAI_API_KEY by default */
	spec_init(&s, NULL, "text-embedding-3-small", 0, "");
	s.v[E_KEYENV].set = 0;
	unsetenv("OPENAI_API_KEY");
	CHECK(prep(&coco_fn_embed_text, &s, &ta, &t, &st, &err) == 0);
	CHECK(coco_fn_embed_text.ready(st, &err) == -1);
	CHECK(err && strstr(err, "OPENAI_API_KEY"));
	free(err), err = NULL;
	coco_fn_embed_text.destroy(st);
	coco_arena_destroy(&ta);
}

/* Embed texts[0..n) through fn; returns call_batch's result. */
static int run_batch(void *st, const char *const *texts, size_t n, coco_arena *a, coco_value *out,
	char **errs, char **err)
{
	coco_value *args = coco_arena_alloc(a, n * sizeof *args);
	const coco_value **argv = coco_arena_alloc(a, n * sizeof *argv);
	for (size_t i = 0; i < n; i++) {
		args[i] = texts[i] ? coco_v_str(texts[i], strlen(texts[i])) : coco_v_null();
		argv[i] = &args[i];
	}
	return coco_fn_embed_text.call_batch(st, argv, 1, n, a, out, errs, err);
}

static int vec_ok(const coco_value *v, const char *text, int dim)
{
	if (v->kind != COCO_VECTOR || v->n != (size_t)dim)
		return 0;
	if (v->u.vec[0] != (float)strlen(text) || v->u.vec[1] != (float)(unsigned char)text[0])
		return 0;
	for (int k = 2; k < dim; k++)
		if (v->u.vec[k] != (float)k)
			return 0;
	return 1;
}

static void free_errs(char **errs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(errs[i]), errs[i] = NULL;
}

static void test_embed(fk_server *srv)
{
	int port = srv->port;
	coco_arena ta = {0}, a = {0};
	const coco_type *t;
	void *st = NULL;
	char *err = NULL, *errs[64] = {0};
	coco_value out[64];
	spec s;
	static const char *texts[10] = { "alpha", "bravo!", "charlie", "delta delta", NULL, "echo",
		"foxtrot", "golf", "hotel", "india \"quoted\"\n" };

	/* batching: 9 texts (one null) in requests of 4, 4, 1 */
	spec_init(&s, NULL, "m", port, "/v1");
	opt_int(&s, E_DIM, DIM);
	opt_int(&s, E_BATCH, 4);
	opt_int(&s, E_CONC, 2);
	CHECK(prep(&coco_fn_embed_text, &s, &ta, &t, &st, &err) == 0);
	reset(M_OK);
	CHECK(run_batch(st, texts, 10, &a, out, errs, &err) == 0);
	CHECK(F.hits == 3);
	CHECK(F.inputs[0] + F.inputs[1] + F.inputs[2] == 9);
	CHECK(F.inputs[0] == 4 || F.inputs[1] == 4);
	CHECK_STR(F.auth, "Bearer " KEY);
	CHECK_STR(F.last_target, "POST /v1/embeddings");
	CHECK(strstr(F.last_body.p, "\"model\":\"m\"") && strstr(F.last_body.p, "\"encoding_format\":\"float\""));
	CHECK(!strstr(F.last_body.p, "dimensions"));
	for (int i = 0; i < 10; i++) {
		CHECKF(!errs[i], "%d: %s", i, errs[i]);
		if (texts[i])
			CHECKF(vec_ok(&out[i], texts[i], DIM), "row %d", i);
		else
			CHECK(out[i].kind == COCO_NULL);
	}
	free_errs(errs, 10);

	/* results routed by data[].index, whatever the order */
	reset(M_REVERSED);
	CHECK(run_batch(st, texts, 10, &a, out, errs, &err) == 0);
	for (int i = 0; i < 10; i++)
		if (texts[i])
			CHECKF(vec_ok(&out[i], texts[i], DIM) && !errs[i], "row %d", i);
	free_errs(errs, 10);

	/* the concurrency limit: of 6 requests, the server sees 2 wait for their
	 * answers at once (it holds them until then), never more */
	static const char *many[24];
	char bufs[24][24];
	for (int i = 0; i < 24; i++) {
		snprintf(bufs[i], sizeof bufs[i], "text %d", i);
		many[i] = bufs[i];
	}
	reset(M_SLOW);
	fk_gate(srv, 2);
	CHECK(run_batch(st, many, 24, &a, out, errs, &err) == 0);
	CHECK(F.hits == 6);
	CHECKF(fk_max_waiting(srv) == 2, "%d at once", fk_max_waiting(srv));
	int ok = 1;
	for (int i = 0; i < 24; i++)
		ok &= vec_ok(&out[i], many[i], DIM) && !errs[i];
	CHECK(ok);
	free_errs(errs, 24);

	/* 429 with Retry-After: 1 is waited out; a 500 is retried */
	reset(M_429_ONCE);
	int n0 = fk_count(srv);
	CHECK(run_batch(st, texts, 4, &a, out, errs, &err) == 0);
	CHECK(F.hits == 2 && fk_count(srv) == n0 + 2);
	CHECKF(fk_at(srv, n0 + 1) - fk_at(srv, n0) >= 950, "retried after %.0f ms",
		fk_at(srv, n0 + 1) - fk_at(srv, n0));
	CHECK(vec_ok(&out[3], texts[3], DIM) && !errs[0]);
	free_errs(errs, 4);
	reset(M_500_ONCE);
	CHECK(run_batch(st, texts, 4, &a, out, errs, &err) == 0);
	CHECK(F.hits == 2 && !errs[0] && vec_ok(&out[0], texts[0], DIM));
	free_errs(errs, 4);

	/* a refused input fails its row only, with the API's message */
	static const char *bad[8] = { "a1", "a2", "a3", "POISON here", "a5", "a6", "WRONGDIM x", "a8" };
	reset(M_OK);
	CHECK(run_batch(st, bad, 8, &a, out, errs, &err) == 0);
	for (int i = 0; i < 8; i++) {
		if (i == 3) {
			CHECKF(errs[i] && strstr(errs[i], "HTTP 400") && strstr(errs[i], "input contains POISON"),
				"%s", errs[i]);
			CHECK(out[i].kind == COCO_NULL);
		} else if (i == 6) {
			CHECKF(errs[i] && strstr(errs[i], "5 dimensions, expected 6"), "%s", errs[i]);
			CHECK(out[i].kind == COCO_NULL);
		} else {
			CHECKF(!errs[i] && vec_ok(&out[i], bad[i], DIM), "row %d: %s", i, errs[i]);
		}
	}
	CHECK(F.hits <= 2 + 2 + 2);   /* 2 batches, the refused one split down to the input */
	free_errs(errs, 8);

	/* numbers read as strtod reads them */
	reset(M_NUMS);
	CHECK(run_batch(st, texts, 2, &a, out, errs, &err) == 0);
	CHECK(!errs[0] && out[1].kind == COCO_VECTOR);
	for (int k = 0; k < DIM && out[1].kind == COCO_VECTOR; k++)
		CHECKF(out[1].u.vec[k] == (float)strtod(NUMS[k], NULL), "%s read as %.9g", NUMS[k], out[1].u.vec[k]);
	free_errs(errs, 2);

	/* fewer vectors than inputs, a malformed body: the request's rows fail */
	reset(M_SHORT);
	CHECK(run_batch(st, texts, 3, &a, out, errs, &err) == 0);
	CHECK(errs[0] && strstr(errs[0], "returned 2 embeddings for 3 inputs") && errs[2]);
	free_errs(errs, 3);
	reset(M_GARBAGE);
	CHECK(run_batch(st, texts, 2, &a, out, errs, &err) == 0);
	CHECK(errs[0] && strstr(errs[0], "not valid JSON") && errs[1]);
	free_errs(errs, 2);

	/* the key is never in a message, even when the server echoes it */
	reset(M_401_ECHO);
	CHECK(run_batch(st, texts, 2, &a, out, errs, &err) == 0);
	CHECKF(errs[0] && strstr(errs[0], "HTTP 401") && strstr(errs[0], "Incorrect API key") &&
		!strstr(errs[0], "S3CR3T"), "%s", errs[0]);
	free_errs(errs, 2);

	/* call(): a batch of one */
	reset(M_OK);
	coco_value one = coco_v_str("xyz", 3), res;
	CHECK(coco_function_call(&coco_fn_embed_text, st, &one, 1, &a, &res, &err) == 0);
	CHECK(vec_ok(&res, "xyz", DIM));
	coco_fn_embed_text.destroy(st);

	/* asked for a dimension the known model does not have natively */
	spec_init(&s, NULL, "text-embedding-3-small", port, "/v1");
	opt_int(&s, E_DIM, DIM);
	CHECK(prep(&coco_fn_embed_text, &s, &ta, &t, &st, &err) == 0);
	reset(M_OK);
	CHECK(run_batch(st, texts, 1, &a, out, errs, &err) == 0);
	CHECK(strstr(F.last_body.p, "\"dimensions\":6") != NULL);
	CHECK(vec_ok(&out[0], texts[0], DIM));
	free_errs(errs, 1);
	coco_fn_embed_text.destroy(st);

	/* Ollama */
	spec_init(&s, "ollama", "m", port, "");
	opt_int(&s, E_DIM, DIM);
	opt_int(&s, E_BATCH, 3);
	CHECK(prep(&coco_fn_embed_text, &s, &ta, &t, &st, &err) == 0);
	reset(M_OK);
	CHECK(run_batch(st, bad, 8, &a, out, errs, &err) == 0);
	CHECK_STR(F.last_target, "POST /api/embed");
	CHECK(!strstr(F.last_body.p, "encoding_format"));
	CHECK(errs[3] && strstr(errs[3], "input contains POISON"));
	CHECK(errs[6] && strstr(errs[6], "dimensions"));
	CHECK(!errs[0] && vec_ok(&out[0], bad[0], DIM) && !errs[7] && vec_ok(&out[7], bad[7], DIM));
	free_errs(errs, 8);
	coco_fn_embed_text.destroy(st);

	/* a server that is down: nothing could be done, one message */
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof sa;
	bind(lfd, (struct sockaddr *)&sa, sizeof sa);
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	close(lfd);                   /* a port nobody listens on */
	spec_init(&s, NULL, "m", ntohs(sa.sin_port), "/v1");
	opt_int(&s, E_DIM, DIM);
	CHECK(prep(&coco_fn_embed_text, &s, &ta, &t, &st, &err) == 0);
	CHECK(run_batch(st, texts, 4, &a, out, errs, &err) == -1);
	CHECKF(err && strstr(err, "Couldn't connect") && strstr(err, "(5 attempts)") && !strstr(err, "S3CR3T"),
		"%s", err);
	CHECK(!errs[0] && !errs[3]);
	free(err), err = NULL;
	/* once found down, the next batch does not wait out retries: one attempt */
	CHECK(run_batch(st, texts, 4, &a, out, errs, &err) == -1);
	CHECKF(err && strstr(err, "Couldn't connect") && !strstr(err, "attempts"), "%s", err);
	free(err), err = NULL;
	coco_fn_embed_text.destroy(st);

	coco_arena_destroy(&a);
	coco_arena_destroy(&ta);
}

/* ---- ExtractByLlm ---------------------------------------------------------- */
enum { X_API, X_MODEL, X_ADDR, X_KEYENV, X_TYPE, X_INSTR, X_CONC, X_TIMEOUT, X_N };

static int xprep(const char *api, int port, const char *path, const char *type, const char *instr,
	coco_arena *ta, const coco_type **t, void **st, char **err)
{
	char addr[128];
	snprintf(addr, sizeof addr, "http://127.0.0.1:%d%s", port, path);
	coco_optval v[X_N + 1] = {0};
	if (api)
		v[X_API] = (coco_optval){ .set = 1, .s = api };
	v[X_MODEL] = (coco_optval){ .set = 1, .s = "gpt-test" };
	v[X_ADDR] = (coco_optval){ .set = 1, .s = addr };
	v[X_KEYENV] = (coco_optval){ .set = 1, .s = "COCO_TEST_KEY" };
	v[X_TYPE] = (coco_optval){ .set = 1, .s = type };
	if (instr)
		v[X_INSTR] = (coco_optval){ .set = 1, .s = instr };
	coco_arg_info ai = { &coco_t_str, NULL };
	return coco_fn_extract_by_llm.prepare(v, NULL, &ai, 1, ta, t, st, err);
}

static void test_extract(int port)
{
	coco_arena ta = {0}, a = {0};
	const coco_type *t;
	void *st = NULL;
	char *err = NULL;
	coco_buf b = {0};

	/* the JSON forms of coco.types.* */
	const char *ty = "{\"fields\":[[\"title\",\"str\"],[\"year\",\"int64\"],[\"score\",\"float64\"],"
		"[\"ok\",\"bool\"],[\"authors\",{\"fields\":[[\"name\",\"str\"]],\"keys\":0,\"kind\":\"table\"}],"
		"[\"meta\",{\"fields\":[[\"lang\",\"str\"]],\"kind\":\"struct\"}],"
		"[\"v\",{\"dim\":2,\"elem\":\"float32\",\"kind\":\"vector\"}]],\"kind\":\"struct\"}";
	CHECK(xprep(NULL, port, "/v1", ty, "Titles are in quotes.", &ta, &t, &st, &err) == 0);
	coco_type_format(t, &b);
	CHECK_STR(b.p, "struct{title: str, year: int64, score: float64, ok: bool, "
		"authors: list{name: str}, meta: struct{lang: str}, v: vector<float32,2>}");
	coco_buf_clear(&b);

	snprintf(F.answer, sizeof F.answer, "{\"title\":\"Dune\",\"year\":1965,\"score\":4.5,\"ok\":true,"
		"\"authors\":[{\"name\":\"Frank\"},{\"name\":\"Herbert\"}],\"meta\":{\"lang\":\"en\"},"
		"\"v\":[1,2],\"extra\":1}");
	reset(M_OK);
	coco_value in = coco_v_str("Dune, 1965", 10), out;
	CHECK(coco_function_call(&coco_fn_extract_by_llm, st, &in, 1, &a, &out, &err) == 0);
	CHECK_STR(F.last_target, "POST /v1/chat/completions");
	CHECK_STR(F.auth, "Bearer " KEY);
	CHECK(strstr(F.last_body.p, "\"response_format\":{\"type\":\"json_object\"}") != NULL);
	CHECK(strstr(F.last_body.p, "Titles are in quotes.") != NULL);
	CHECK(strstr(F.last_body.p, "\\\"year\\\": integer") != NULL);
	CHECK(strstr(F.last_body.p, "\"content\":\"Dune, 1965\"") != NULL);
	coco_value_to_json(&out, t, &b);
	CHECK_STR(b.p, "{\"title\":\"Dune\",\"year\":1965,\"score\":4.5,\"ok\":true,"
		"\"authors\":[{\"name\":\"Frank\"},{\"name\":\"Herbert\"}],\"meta\":{\"lang\":\"en\"},\"v\":[1,2]}");
	coco_buf_clear(&b);

	/* missing members are null; a code fence around the answer is fine */
	snprintf(F.answer, sizeof F.answer, "```json\n{\"title\":\"X\"}\n```");
	CHECK(coco_function_call(&coco_fn_extract_by_llm, st, &in, 1, &a, &out, &err) == 0);
	CHECK(out.kind == COCO_STRUCT && out.u.fields[0].kind == COCO_STR && out.u.fields[1].kind == COCO_NULL);

	/* an answer that does not fit names the field */
	snprintf(F.answer, sizeof F.answer, "{\"title\":\"X\",\"authors\":[{\"name\":\"a\"},{\"name\":7}]}");
	CHECK(coco_function_call(&coco_fn_extract_by_llm, st, &in, 1, &a, &out, &err) == -1);
	CHECKF(err && strstr(err, "field 'authors[2].name': expected a string, got a number 7"), "%s", err);
	free(err), err = NULL;
	snprintf(F.answer, sizeof F.answer, "{\"year\":\"nineteen\"}");
	CHECK(coco_function_call(&coco_fn_extract_by_llm, st, &in, 1, &a, &out, &err) == -1);
	CHECKF(err && strstr(err, "field 'year': expected an integer"), "%s", err);
	free(err), err = NULL;
	snprintf(F.answer, sizeof F.answer, "sorry, I cannot");
	CHECK(coco_function_call(&coco_fn_extract_by_llm, st, &in, 1, &a, &out, &err) == -1);
	CHECKF(err && strstr(err, "not a JSON object"), "%s", err);
	free(err), err = NULL;

	/* many texts at once */
	snprintf(F.answer, sizeof F.answer, "{\"year\":2000}");
	coco_value args[5];
	const coco_value *argv[5];
	coco_value outs[5];
	char *errs[5];
	for (int i = 0; i < 5; i++) {
		args[i] = i == 2 ? coco_v_null() : coco_v_str("t", 1);
		argv[i] = &args[i];
	}
	reset(M_OK);
	CHECK(coco_fn_extract_by_llm.call_batch(st, argv, 1, 5, &a, outs, errs, &err) == 0);
	CHECK(F.hits == 4);
	CHECK(outs[2].kind == COCO_NULL && !errs[2]);
	CHECK(outs[4].kind == COCO_STRUCT && outs[4].u.fields[1].u.i == 2000 && !errs[4]);
	coco_fn_extract_by_llm.destroy(st);

	/* Ollama; a struct in short ({ name = type }) */
	CHECK(xprep("ollama", port, "", "{\"name\":\"str\",\"age\":\"int64\"}", NULL, &ta, &t, &st, &err) == 0);
	snprintf(F.answer, sizeof F.answer, "{\"name\":\"Ann\",\"age\":41}");
	reset(M_OK);
	CHECK(coco_function_call(&coco_fn_extract_by_llm, st, &in, 1, &a, &out, &err) == 0);
	CHECK_STR(F.last_target, "POST /api/chat");
	CHECK(strstr(F.last_body.p, "\"format\":\"json\"") && strstr(F.last_body.p, "\"stream\":false"));
	coco_value_to_json(&out, t, &b);
	CHECK_STR(b.p, "{\"name\":\"Ann\",\"age\":41}");
	coco_buf_clear(&b);
	coco_fn_extract_by_llm.destroy(st);

	/* output_type mistakes */
	CHECK(xprep(NULL, port, "/v1", "\"str\"", NULL, &ta, &t, &st, &err) == -1);
	CHECK(err && strstr(err, "must be a coco.types.struct"));
	free(err), err = NULL;
	CHECK(xprep(NULL, port, "/v1", "{\"kind\":\"struct\",\"fields\":[[\"a\",\"string\"]]}", NULL, &ta, &t, &st, &err) == -1);
	CHECK(err && strstr(err, "unknown type \"string\""));
	free(err), err = NULL;
	CHECK(xprep(NULL, port, "/v1", "{\"kind\":\"struct\",\"fields\":[[\"a\",\"str\"],[\"a\",\"str\"]]}", NULL, &ta, &t, &st, &err) == -1);
	CHECK(err && strstr(err, "'a' is given twice"));
	free(err), err = NULL;

	coco_buf_free(&b);
	coco_arena_destroy(&a);
	coco_arena_destroy(&ta);
}

int main(void)
{
	setenv("COCO_TEST_KEY", KEY, 1);
	fk_server s;
	CHECK(fk_start(&s, handler, NULL) == 0);
	test_prepare(s.port);
	test_embed(&s);
	test_extract(s.port);
	fk_stop(&s);
	coco_buf_free(&F.last_body);
	return CHECK_DONE();
}
