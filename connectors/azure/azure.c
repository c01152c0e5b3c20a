/* AzureBlob source: the blobs of a container (under a prefix) of Azure Blob
 * Storage, or of Azurite, as a table keyed by the blob name. AmazonS3's
 * sibling: key selection, ordinals, rows and the XML reader are theirs in
 * common (connectors/common/), GETs go through the engine's prefetch
 * queue. See README.md beside this file for the contract. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "engine/ops.h"
#include "engine/http.h"
#include "engine/prefetch.h"
#include "engine/text.h"
#include "connectors/common/objstore.h"
#include "connectors/common/xml.h"
#include "engine/sys.h"

enum { OPT_ACCOUNT, OPT_CONTAINER, OPT_PREFIX, OPT_INCLUDED, OPT_EXCLUDED, OPT_BINARY,
	OPT_MAX_SIZE, OPT_SAS_ENV, OPT_KEY_ENV, OPT_ENDPOINT, OPT_DECODE };

static const coco_optdef az_opts[] = {
	{ "account_name", COCO_OPT_STR, 1, "the storage account" },
	{ "container_name", COCO_OPT_STR, 1, "the container to read" },
	COCO_OBJ_OPTDEFS("blob names", "blobs"),
	{ "sas_token_env", COCO_OPT_STR, 0, "environment variable holding a SAS token", 1 },
	{ "account_key_env", COCO_OPT_STR, 0, "environment variable holding the account key (SharedKey)", 1 },
	{ "endpoint", COCO_OPT_STR, 0, "blob service URL (default https://ACCOUNT.blob.core.windows.net)", 1 },
	COCO_TEXT_OPTDEF,
	{ NULL, 0, 0, NULL },
};

#define API_VERSION "2021-08-06"
#define PF_WINDOW 64                /* GETs kept started ahead of read() */
#define HTTP_INFLIGHT 16
#define PAGE_SIZE 5000              /* maxresults: the service's largest page */

typedef struct az_src {
	coco_arena mem;                 /* owns the strings and arrays below */
	const char *account, *container;
	coco_objopts obj;               /* prefix, patterns, binary, decode_errors, max_file_size */
	const char *base;               /* container URL, no trailing '/' */
	const char *base_path;          /* its path, as signed: "/devstoreaccount1/docs" */
	const char *where;              /* base + "/": messages name base/KEY */
	const char *disp;               /* "AzureBlob: BASE/PREFIX" */
	const char *cred_env;           /* the variable the key or token came from, or NULL */
	unsigned char *key;             /* SharedKey: the decoded account key (wiped on close) */
	size_t nkey;
	char *sas;                      /* or a SAS token, without '?' (wiped on close) */
	int page_size;
	coco_http *http;
	coco_prefetch *pf;
	uint64_t skipped_large, reported_large;
} az_src;

typedef struct az_param {
	const char *k, *v;              /* v raw (not encoded) */
} az_param;

/* ---- options ------------------------------------------------------------- */

static const char *opt_str(const coco_optval *o)
{
	return o->set && o->s && o->s[0] ? o->s : NULL;
}

static int check_opts(const coco_optval *opts, az_src *s, char **err)
{
	const char *acct = opt_str(&opts[OPT_ACCOUNT]), *cont = opt_str(&opts[OPT_CONTAINER]);
	if (!acct)
		return coco_seterr(err, "AzureBlob: option 'account_name' is required");
	for (const char *p = acct; *p; p++)
		if (!isalnum((unsigned char)*p))
			return coco_seterr(err, "AzureBlob: account_name '%s' must be letters and digits only",
				acct);
	if (!cont)
		return coco_seterr(err, "AzureBlob: option 'container_name' is required");
	if (strchr(cont, '/'))
		return coco_seterr(err, "AzureBlob: container_name '%s' contains '/': put the rest in prefix",
			cont);
	if (opt_str(&opts[OPT_SAS_ENV]) && opt_str(&opts[OPT_KEY_ENV]))
		return coco_seterr(err, "AzureBlob: give sas_token_env or account_key_env, not both");
	const char *e = opt_str(&opts[OPT_ENDPOINT]);
	if (e && strchr(e, '?'))             /* not echoed: it may hold a SAS token */
		return coco_seterr(err, "AzureBlob: endpoint must be the blob service URL alone, no query "
			"(a SAS token goes in the variable sas_token_env names)");
	if (e && ((strncmp(e, "http://", 7) && strncmp(e, "https://", 8)) || strlen(e) < 9 ||
	    e[strcspn(e, ":") + 3] == '/'))
		return coco_seterr(err, "AzureBlob: endpoint '%s' must be an http:// or https:// URL with a host", e);
	return coco_obj_opts(&opts[OPT_PREFIX], &opts[OPT_DECODE], "AzureBlob", s ? &s->mem : NULL,
		s ? &s->obj : NULL, err);
}

/* Row type: table[filename: str]{content: str | bytes}. */
static int az_row_type(const coco_optval *opts, coco_arena *types, const coco_type **out, char **err)
{
	if (check_opts(opts, NULL, err))
		return -1;
	*out = coco_obj_row_type(&opts[OPT_PREFIX], types);
	return 0;
}

/* ---- credentials and signing --------------------------------------------- */

static void wipe(void *p, size_t n)
{
	if (p) {
		explicit_bzero(p, n);
		free(p);
	}
}

/* The key or token of the environment variable the options name; without
 * either, AZURE_STORAGE_KEY, then AZURE_STORAGE_SAS_TOKEN (the az CLI's),
 * else none (anonymous: a public container). */
static int load_credentials(az_src *s, const coco_optval *opts, char **err)
{
	const char *kv = opt_str(&opts[OPT_KEY_ENV]), *sv = opt_str(&opts[OPT_SAS_ENV]);
	if (!kv && !sv) {
		const char *k = getenv("AZURE_STORAGE_KEY"), *t = getenv("AZURE_STORAGE_SAS_TOKEN");
		if (k && k[0])
			kv = "AZURE_STORAGE_KEY";
		else if (t && t[0])
			sv = "AZURE_STORAGE_SAS_TOKEN";
		else
			return 0;
	}
	const char *var = kv ? kv : sv, *v = getenv(var);
	s->cred_env = coco_arena_strdup(&s->mem, var);
	if (!v || !v[0])
		return coco_seterr(err, "AzureBlob: %s names the environment variable %s, which is not set",
			kv ? "account_key_env" : "sas_token_env", var);
	if (sv) {
		s->sas = coco_strdup(v[0] == '?' ? v + 1 : v);
		return 0;
	}
	size_t n = strlen(v);
	unsigned char *tmp = coco_xmalloc(n + 1);
	s->key = coco_xmalloc(n + 1);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)               /* no spaces or line breaks */
		if (!isspace((unsigned char)v[i]))
			tmp[m++] = (unsigned char)v[i];
	int pad = (m > 0 && tmp[m - 1] == '=') + (m > 1 && tmp[m - 2] == '=');
	int got = m && m % 4 == 0 ? EVP_DecodeBlock(s->key, tmp, (int)m) : -1;
	wipe(tmp, n + 1);
	if (got <= pad) {
		wipe(s->key, n + 1);
		s->key = NULL;
		return coco_seterr(err, "AzureBlob: the account key in %s is not base64 (as the portal "
			"shows it)", var);
	}
	s->nkey = (size_t)(got - pad);
	return 0;
}

/* "Authorization: SharedKey ACCOUNT:SIGNATURE" for a GET of path (as in the
 * URL, encoded) with query parameters p, signed with the x-ms-date and
 * x-ms-version headers: the Blob service's SharedKey scheme (verb, twelve
 * standard headers all empty, canonical x-ms-* headers, then "/ACCOUNT" +
 * path and each parameter "\nname:value", names lower-case and sorted). */
static void shared_key(const az_src *s, const char *date, const char *path, const az_param *p,
	size_t np, coco_buf *out)
{
	coco_buf sts = {0};
	coco_buf_printf(&sts, "GET\n\n\n\n\n\n\n\n\n\n\n\n"
		"x-ms-date:%s\nx-ms-version:" API_VERSION "\n/%s%s", date, s->account, path);
	for (size_t i = 0; i < np; i++)               /* p is sorted by name */
		coco_buf_printf(&sts, "\n%s:%s", p[i].k, p[i].v);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int nmac = 0;
	HMAC(EVP_sha256(), s->key, (int)s->nkey, (const unsigned char *)sts.p, sts.n, mac, &nmac);
	unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
	EVP_EncodeBlock(b64, mac, (int)nmac);
	coco_buf_printf(out, "Authorization: SharedKey %s:%s", s->account, (const char *)b64);
	explicit_bzero(mac, sizeof mac);
	coco_buf_free(&sts);
}

/* Start a GET of url (path: its path, p: its query, sorted) with the
 * version and date headers, and the signature when there is a key. */
static coco_http_xfer *az_start(az_src *s, const char *url, const char *path,
	const az_param *p, size_t np, size_t max_body)
{
	char date[30], dh[48];
	coco_http_format_date((long long)time(NULL), date);
	snprintf(dh, sizeof dh, "x-ms-date: %s", date);
	coco_buf auth = {0};
	if (s->key)
		shared_key(s, date, path, p, np, &auth);
	const char *hdrs[] = { dh, "x-ms-version: " API_VERSION, auth.p, NULL };
	coco_http_req rq = { .url = url, .headers = hdrs, .max_body = max_body };
	coco_http_xfer *x = coco_http_start(s->http, &rq, NULL);
	if (auth.p)
		explicit_bzero(auth.p, auth.n);
	coco_buf_free(&auth);
	return x;
}

/* ---- errors -------------------------------------------------------------- */

/* The user's message for a failed request, never with signature material
 * (Azure's AuthenticationErrorDetail holds the string it signed) nor the
 * key or token. what: "cannot list"; key NULL: the listing. */
static int az_fail(const az_src *s, const char *what, const char *key, size_t nkey,
	const coco_http_resp *r, char **err)
{
	coco_buf where = {0};
	if (key) {
		coco_buf_adds(&where, s->where);
		coco_buf_add(&where, key, nkey);
	} else {
		coco_buf_adds(&where, s->disp + strlen("AzureBlob: "));
	}
	if (r->error) {
		coco_seterr(err, "AzureBlob: %s: %s: cannot reach %s: %s (%d attempt%s)", where.p, what,
			s->base, r->error, r->attempts, r->attempts == 1 ? "" : "s");
		coco_buf_free(&where);
		return -1;
	}
	static const char *const fields[] = { "Code", "Message", NULL };
	char code[64], msg[512];
	char *const out[] = { code, msg };
	const size_t cap[] = { sizeof code, sizeof msg };
	if (coco_xml_fields(r->body.p, r->body.n, "Error", fields, out, cap)) {
		size_t n;
		const char *c = coco_http_header(r, "x-ms-error-code", &n);   /* HEAD-less bodies */
		snprintf(code, sizeof code, "%.*s", c ? (int)n : 0, c ? c : "");
		msg[0] = 0;
	}
	msg[strcspn(msg, "\r\n")] = 0;             /* the first line; RequestId and Time follow */
	const char *how = s->key ? "the account key in" : s->sas ? "the SAS token in" : NULL;
	/* Azure says AuthenticationFailed for a bad signature, Azurite AuthorizationFailure */
	if (how && (!strcmp(code, "AuthenticationFailed") || !strcmp(code, "AuthorizationFailure")))
		coco_seterr(err, "AzureBlob: %s: %s: %s %s was rejected by account '%s': check it (and "
			"this machine's clock) (HTTP %ld %s%s%s)", where.p, what, how, s->cred_env, s->account,
			r->status, code, msg[0] ? ": " : "", msg);
	else if (r->status == 403 || r->status == 401)
		coco_seterr(err, "AzureBlob: %s: %s: access denied%s%s (HTTP %ld %s%s%s)", where.p, what,
			how ? " to " : ": anonymous request; set account_key_env or sas_token_env",
			how ? s->cred_env : "", r->status, code[0] ? code : "", msg[0] ? ": " : "", msg);
	else if (!strcmp(code, "ContainerNotFound"))
		coco_seterr(err, "AzureBlob: container '%s' does not exist (at %s)", s->container, s->base);
	else if (code[0])
		coco_seterr(err, "AzureBlob: %s: %s: %s%s%s (HTTP %ld)", where.p, what, code,
			msg[0] ? ": " : "", msg, r->status);
	else
		coco_seterr(err, "AzureBlob: %s: %s: HTTP %ld", where.p, what, r->status);
	coco_buf_free(&where);
	return -1;
}

/* ---- open / close -------------------------------------------------------- */

static void az_close(void *sp)
{
	az_src *s = sp;
	if (!s)
		return;
	coco_prefetch_destroy(s->pf);
	coco_http_destroy(s->http);
	wipe(s->key, s->nkey);
	if (s->sas)
		wipe(s->sas, strlen(s->sas));
	coco_arena_destroy(&s->mem);
	free(s);
}

static int get_plan(void *sp, const char *key, size_t n, coco_buf *url, int64_t *version);
static coco_http_xfer *get_start(void *sp, const char *url);

static int az_open(const coco_optval *opts, const char *base_dir, void **out, char **err)
{
	(void)base_dir;
	*out = NULL;
	az_src *s = calloc(1, sizeof *s);
	if (!s)
		return coco_seterr(err, "AzureBlob: out of memory");
	coco_arena *a = &s->mem;
	if (check_opts(opts, s, err) || load_credentials(s, opts, err))
		goto fail;
	s->account = coco_arena_strdup(a, opt_str(&opts[OPT_ACCOUNT]));
	s->container = coco_arena_strdup(a, opt_str(&opts[OPT_CONTAINER]));
	const char *ps = getenv("COCO_AZURE_PAGE_SIZE");     /* tests: paging on few blobs */
	s->page_size = ps && atoi(ps) > 0 && atoi(ps) <= PAGE_SIZE ? atoi(ps) : PAGE_SIZE;

	coco_buf b = {0};
	const char *ep = opt_str(&opts[OPT_ENDPOINT]);
	if (ep)
		coco_buf_adds(&b, ep);
	else
		coco_buf_printf(&b, "https://%s.blob.core.windows.net", s->account);
	while (b.n && b.p[b.n - 1] == '/')
		b.p[--b.n] = 0;
	const char *path = strchr(strstr(b.p, "://") + 3, '/');   /* a host: check_opts */
	size_t off = path ? (size_t)(path - b.p) : b.n;   /* where the URL's path starts */
	coco_buf_putc(&b, '/');
	coco_http_url_encode(&b, s->container, strlen(s->container), 0);
	s->base = coco_arena_strdup(a, b.p);
	s->base_path = coco_arena_strdup(a, b.p + off);
	coco_buf_putc(&b, '/');
	s->where = coco_arena_strdup(a, b.p);
	coco_buf_clear(&b);
	coco_buf_printf(&b, "AzureBlob: %s/%s", s->base, s->obj.sel.prefix);
	s->disp = coco_arena_strdup(a, b.p);
	coco_buf_free(&b);

	coco_http_opts ho = { .max_inflight = HTTP_INFLIGHT };
	s->http = coco_http_create(&ho);
	s->pf = coco_prefetch_create(s->http, &(coco_prefetch_src){ .ud = s, .plan = get_plan,
		.start = get_start, .window = PF_WINDOW, .start_on_take = 1 });
	*out = s;
	return 0;
fail:
	az_close(s);
	return -1;
}

/* ---- list ---------------------------------------------------------------- */

enum { E_RESULTS, E_BLOBS, E_BLOB, E_NAME, E_PROPS, E_MODIFIED, E_ETAG, E_LENGTH, E_TIER,
	E_NEXT };
static const char *const list_names[] = { "EnumerationResults", "Blobs", "Blob", "Name",
	"Properties", "Last-Modified", "Etag", "Content-Length", "AccessTier", "NextMarker", NULL };

typedef struct az_blob {
	coco_buf name;
	int encoded;                    /* <Name Encoded="true">: percent-encoded */
	int64_t mtime, size;
	char etag[128];
	int archived;
} az_blob;

typedef struct list_st {
	az_src *s;
	coco_list_cb cb;
	void *ud;
	az_blob b;
	coco_buf key, ord;
	char *next;                     /* NextMarker, malloc'd; NULL: none */
	uint64_t large;
	int stop;
} list_st;

static void list_start(void *ud, const coco_xml *x)
{
	list_st *st = ud;
	if (x->depth == 3 && coco_xml_at(x, 3, E_BLOB)) {
		coco_buf_clear(&st->b.name);
		st->b.encoded = st->b.archived = 0;
		st->b.mtime = st->b.size = -1;
		st->b.etag[0] = 0;
	} else if (x->depth == 4 && coco_xml_at(x, 4, E_NAME)) {
		for (const char **a = x->attrs; a && a[0]; a += 2)
			if (!strcmp(a[0], "Encoded") && !strcmp(a[1], "true"))
				st->b.encoded = 1;
	}
}

/* One listed blob: a row when wanted and not too large (counted then). */
static void blob_done(list_st *st)
{
	az_blob *b = &st->b;
	az_src *s = st->s;
	coco_buf_clear(&st->key);
	if (b->encoded)
		coco_http_url_decode(&st->key, b->name.p ? b->name.p : "", b->name.n, 0);
	else
		coco_buf_add(&st->key, b->name.p ? b->name.p : "", b->name.n);
	if (st->stop || b->archived ||
	    !coco_obj_wanted(&s->obj.sel, st->key.p ? st->key.p : "", st->key.n))
		return;
	if (s->obj.max_size >= 0 && b->size > s->obj.max_size) {
		st->large++;
		return;
	}
	coco_buf_clear(&st->ord);
	coco_obj_ordinal(&st->ord, b->mtime, b->etag, strlen(b->etag));
	coco_value k = coco_v_str(st->key.p, st->key.n);
	st->stop = st->cb(st->ud, &k, st->ord.p, st->ord.n);
}

static void list_end(void *ud, const coco_xml *x)
{
	list_st *st = ud;
	az_blob *b = &st->b;
	if (x->depth == 2 && coco_xml_at(x, 2, E_NEXT)) {
		free(st->next);
		st->next = x->n ? coco_xstrndup(x->text, x->n) : NULL;
	} else if (x->depth == 3 && coco_xml_at(x, 3, E_BLOB)) {
		blob_done(st);
	} else if (x->depth == 4 && coco_xml_at(x, 3, E_BLOB) && coco_xml_at(x, 4, E_NAME)) {
		coco_buf_add(&b->name, x->text, x->n);
	} else if (x->depth == 5 && coco_xml_at(x, 3, E_BLOB) && coco_xml_at(x, 4, E_PROPS)) {
		if (x->path[4] == E_MODIFIED)
			b->mtime = coco_http_parse_date(x->text, x->n);
		else if (x->path[4] == E_LENGTH)
			b->size = strtoll(x->text, NULL, 10);
		else if (x->path[4] == E_TIER)
			b->archived = !strcmp(x->text, "Archive");
		else if (x->path[4] == E_ETAG) {
			const char *t = x->text;
			size_t n = x->n;
			if (n >= 2 && t[0] == '"' && t[n - 1] == '"')
				t++, n -= 2;
			snprintf(b->etag, sizeof b->etag, "%.*s", (int)n, t);
		}
	}
}

static int param_cmp(const void *a, const void *b)
{
	return strcmp(((const az_param *)a)->k, ((const az_param *)b)->k);
}

/* url: the container URL and its query (p sorted, values encoded), then the SAS token. */
static void make_url(const az_src *s, coco_buf *url, const char *rest, az_param *p, size_t np)
{
	if (np)
		qsort(p, np, sizeof *p, param_cmp);
	coco_buf_clear(url);
	coco_buf_adds(url, s->base);
	coco_buf_adds(url, rest);
	for (size_t i = 0; i < np; i++) {
		coco_buf_putc(url, i ? '&' : '?');
		coco_buf_printf(url, "%s=", p[i].k);
		coco_http_url_encode(url, p[i].v, strlen(p[i].v), 0);
	}
	if (s->sas) {
		coco_buf_putc(url, np ? '&' : '?');
		coco_buf_adds(url, s->sas);
	}
}

/* Every page, or -1: a listing that did not reach its end is a failure (the
 * indexer then deletes nothing). */
static int az_list(void *sp, coco_list_cb cb, void *ud, char **err)
{
	az_src *s = sp;
	list_st st = { .s = s, .cb = cb, .ud = ud };
	coco_buf url = {0};
	char maxres[16], *marker = NULL;
	snprintf(maxres, sizeof maxres, "%d", s->page_size);
	int rc = -1, pages = 0;
	for (;;) {
		az_param p[5];
		size_t np = 0;
		p[np++] = (az_param){ "restype", "container" };
		p[np++] = (az_param){ "comp", "list" };
		p[np++] = (az_param){ "maxresults", maxres };
		if (s->obj.sel.nprefix)
			p[np++] = (az_param){ "prefix", s->obj.sel.prefix };
		if (marker)
			p[np++] = (az_param){ "marker", marker };
		make_url(s, &url, "", p, np);
		coco_http_xfer *x = az_start(s, url.p, s->base_path, p, np, 0);
		coco_http_wait(s->http, x);
		coco_http_resp *r = coco_http_resp_of(x);
		pages++;
		if (r->error || r->status != 200) {
			az_fail(s, "cannot list", NULL, 0, r, err);
			coco_http_release(s->http, x);
			goto out;
		}
		char *e = NULL;
		free(st.next);
		st.next = NULL;
		int bad = coco_xml_parse(r->body.p, r->body.n, &(coco_xml_handler){ .names = list_names,
			.start = list_start, .end = list_end, .ud = &st, .root = E_RESULTS }, &e);
		coco_http_release(s->http, x);
		if (bad) {
			coco_seterr(err, "%s: cannot list: page %d: %s", s->disp, pages, e);
			free(e);
			goto out;
		}
		if (st.stop || !st.next)
			break;
		if (marker && !strcmp(marker, st.next)) {
			coco_seterr(err, "%s: cannot list: page %d gives the same NextMarker again", s->disp,
				pages);
			goto out;
		}
		free(marker);
		marker = st.next;
		st.next = NULL;
	}
	s->skipped_large = st.large;
	coco_obj_note_large(s->disp, "blob", st.large, &s->reported_large, s->obj.max_size);
	rc = 0;
out:
	free(marker);
	free(st.next);
	coco_buf_free(&st.b.name);
	coco_buf_free(&st.key);
	coco_buf_free(&st.ord);
	coco_buf_free(&url);
	return rc;
}

/* ---- read, prefetch ------------------------------------------------------ */

static void blob_url(const az_src *s, coco_buf *url, const char *key, size_t n)
{
	coco_buf enc = {0};
	coco_buf_putc(&enc, '/');
	coco_http_url_encode(&enc, key, n, 1);
	make_url(s, url, enc.p, NULL, 0);
	coco_buf_free(&enc);
}

/* coco_prefetch_src.start: url is blob_url()'s, whose path is base_path +
 * what follows base (up to the SAS token). */
static coco_http_xfer *get_start(void *sp, const char *url)
{
	az_src *s = sp;
	const char *rest = url + strlen(s->base);
	coco_buf path = {0};
	coco_buf_adds(&path, s->base_path);
	coco_buf_add(&path, rest, strcspn(rest, "?"));
	coco_http_xfer *x = az_start(s, url, path.p, NULL, 0,
		s->obj.max_size >= 0 ? (size_t)s->obj.max_size + 1 : 0);
	coco_buf_free(&path);
	return x;
}

/* coco_prefetch_src.plan: the GET of a wanted blob. */
static int get_plan(void *sp, const char *key, size_t n, coco_buf *url, int64_t *version)
{
	az_src *s = sp;
	(void)version;
	if (!coco_obj_wanted(&s->obj.sel, key, n))
		return 0;
	blob_url(s, url, key, n);
	return 1;
}

static void az_prefetch(void *sp, const coco_value *keys, size_t n)
{
	az_src *s = sp;
	coco_prefetch_hint(s->pf, keys, n);
}

static int read_fail(void *sp, const char *key, size_t n, const coco_http_resp *r, char **err)
{
	return az_fail(sp, "cannot read", key, n, r, err);
}

static int az_read(void *sp, const coco_value *key, coco_arena *a, coco_value *row,
	coco_buf *ord, char **err)
{
	az_src *s = sp;
	coco_objread o = { "AzureBlob", s->where, coco_obj_mode(&s->obj), s->obj.max_size,
		&s->skipped_large, read_fail, s };
	return coco_obj_read(&o, s->pf, s->http, key, a, row, ord, err);
}

const coco_source_ops coco_azure_source = {
	.name = "AzureBlob",
	.opts = az_opts,
	.row_type = az_row_type,
	.open = az_open,
	.list = az_list,
	.read = az_read,
	.close = az_close,
	.prefetch = az_prefetch,
};
