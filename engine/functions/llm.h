#pragma once
/* What EmbedText and ExtractByLlm share: talking to an OpenAI-compatible
 * or Ollama server over engine/http.h. A client holds the endpoint, the
 * model, the key (read from the environment once, never copied into a
 * message) and idle HTTP clients for reuse; a run posts JSON bodies, keeps
 * up to max_concurrency of them in flight and hands each response to a
 * callback, which may post more (to split a batch the server refused). */
#include <stddef.h>

#include "engine/buf.h"
#include "engine/http.h"
#include "engine/ops.h"

typedef enum llm_api { LLM_OPENAI, LLM_OLLAMA } llm_api;

typedef struct llm_client llm_client;
typedef struct llm_run llm_run;

/* The settings a client is opened with. fname names the function in
 * messages ("EmbedText"). The paths are appended to the address:
 * "/embeddings" and "/api/embed", for instance. */
typedef struct llm_conf {
	const char *fname;
	const char *api_type;         /* "openai" (NULL: the default) or "ollama" */
	const char *model;
	const char *address;          /* NULL: the api type's default */
	const char *api_key_env;      /* NULL: OPENAI_API_KEY for api.openai.com, else no key */
	const char *openai_path, *ollama_path;
	double timeout_s;             /* per request; <= 0: 120 s */
	int max_concurrency;          /* <= 0: 4 */
} llm_conf;

/* Open a client; checks the options and reads the key. Errors are for the
 * user ("EmbedText: model must not be empty"). A missing key is not an
 * error here (a flow can be shown, set up and dropped without it): it is
 * llm_ready's. Never includes the key. */
int llm_open(const llm_conf *c, llm_client **out, char **err);
/* llm_open with the settings of a function's spec options: api_type,
 * model, address and api_key_env at spec[0..4), max_concurrency and
 * timeout at spec[conc] and spec[conc + 1]. Those two are checked first:
 *   "EmbedText: max_concurrency must be at least 1, got 0"
 *   "EmbedText: timeout must be positive (seconds)" */
int llm_open_spec(const char *fname, const char *openai_path, const char *ollama_path,
	const coco_optval *spec, size_t conc, llm_client **out, char **err);
/* Whether the client can send requests: 0, or -1 with *err when the key
 * is missing: "EmbedText: environment variable OPENAI_API_KEY
 * (api_key_env) is not set: it must hold the API key". */
int llm_ready(const llm_client *c, char **err);
/* Frees the client, wiping the key. NULL is fine. */
void llm_close(llm_client *c);
llm_api llm_api_of(const llm_client *c);
const char *llm_model(const llm_client *c);
const char *llm_url(const llm_client *c);

/* Called for each finished request; resp is the response (status 0 and
 * resp->error on a transport failure, after the HTTP layer's retries). The
 * callback may post more requests to r. */
typedef void (*llm_done_fn)(llm_run *r, void *req_ud, coco_http_resp *resp, void *ud);

/* A run: post requests, then llm_run_wait() drives them all (and what the
 * callbacks post) to completion. One run at a time per thread; several
 * threads may run on the same client. */
llm_run *llm_run_begin(llm_client *c, llm_done_fn done, void *ud);
/* Queue a POST of the JSON body (copied). */
void llm_run_post(llm_run *r, const char *body, size_t n, void *req_ud);
void llm_run_wait(llm_run *r);
void llm_run_end(llm_run *r);

/* The message of a failed response, malloc'd: "EmbedText: HTTP 400 from
 * http://h/v1/embeddings: <the API's message>" or "EmbedText: POST
 * http://h/v1/embeddings: Couldn't connect to server (3 attempts)". The
 * key is blanked out should the server echo it. */
char *llm_error(const llm_client *c, const coco_http_resp *resp);
/* The same for a message of our own about a response ("returned 3
 * embeddings for 4 inputs"), printf-style. */
char *llm_errorf(const llm_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 1 when a request of several inputs that got this status should be split
 * to find the input the server refuses (400, 413, 422). */
int llm_split_status(long status);
