/* AmazonS3 source: the objects of a bucket (under a prefix) of any
 * S3-compatible store, as a table keyed by the object key. See README.md
 * beside this file for the contract. */
#define _GNU_SOURCE
#include <ctype.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "connectors/s3/s3_int.h"
#include "engine/keyesc.h"
#include "engine/text.h"
#include "engine/sys.h"

enum { OPT_BUCKET, OPT_PREFIX, OPT_INCLUDED, OPT_EXCLUDED, OPT_BINARY, OPT_MAX_SIZE,
	OPT_ENDPOINT, OPT_REGION, OPT_PATH_STYLE, OPT_SQS, OPT_DECODE };

static const coco_optdef s3_opts[] = {
	{ "bucket_name", COCO_OPT_STR, 1, "the bucket to read" },
	COCO_OBJ_OPTDEFS("keys", "objects"),
	{ "endpoint", COCO_OPT_STR, 0, "S3-compatible endpoint URL (MinIO, R2...; default AWS)", 1 },
	{ "region", COCO_OPT_STR, 0, "signing region (default AWS_REGION, else us-east-1)", 1 },
	{ "force_path_style", COCO_OPT_BOOL, 0, "address the bucket in the path, not the host name", 1 },
	{ "sqs_queue_url", COCO_OPT_STR, 0, "in live mode, take S3 event notifications from this SQS queue", 1 },
	COCO_TEXT_OPTDEF,
	{ NULL, 0, 0, NULL },
};

#define PF_WINDOW 64                /* GetObject requests kept started ahead of read() */
#define HTTP_INFLIGHT 16

/* ---- encoding helpers ---------------------------------------------------- */

void s3_uri_encode(coco_buf *out, const char *s, size_t n, int keep_slash)
{
	coco_http_url_encode(out, s, n, keep_slash);
}

int s3_form_decode(coco_buf *out, const char *s, size_t n)
{
	return coco_http_url_decode(out, s, n, 1);
}

static int param_cmp(const void *a, const void *b)
{
	return strcmp(((const s3_param *)a)->k, ((const s3_param *)b)->k);
}

void s3_canonical_query(coco_buf *out, s3_param *p, size_t n)
{
	qsort(p, n, sizeof *p, param_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i)
			coco_buf_putc(out, '&');
		s3_uri_encode(out, p[i].k, strlen(p[i].k), 0);
		coco_buf_putc(out, '=');
		s3_uri_encode(out, p[i].v ? p[i].v : "", p[i].v ? strlen(p[i].v) : 0, 0);
	}
}

int64_t s3_parse_iso8601(const char *s, size_t n)
{
	char buf[40];
	if (n < 19 || n >= sizeof buf)
		return -1;
	memcpy(buf, s, n);
	buf[n] = 0;
	int y, mo, d, h, mi, sec;
	if (sscanf(buf, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6)
		return -1;
	struct tm tm = { .tm_sec = sec, .tm_min = mi, .tm_hour = h, .tm_mday = d,
		.tm_mon = mo - 1, .tm_year = y - 1900 };
	return (int64_t)timegm(&tm);
}

void s3_ordinal(coco_buf *out, int64_t mtime, const char *etag, size_t n)
{
	coco_obj_ordinal(out, mtime, etag, n);
}

int s3_wanted(const s3_src *s, const char *key, size_t n)
{
	return coco_obj_wanted(&s->obj.sel, key, n);
}

/* ---- options ------------------------------------------------------------- */

static int check_opts(const coco_optval *opts, s3_src *s, char **err)
{
	const coco_optval *b = &opts[OPT_BUCKET];
	if (!b->set || !b->s || !b->s[0])
		return coco_seterr(err, "AmazonS3: option 'bucket_name' is required");
	if (strchr(b->s, '/'))
		return coco_seterr(err, "AmazonS3: bucket_name '%s' contains '/': put the rest in prefix", b->s);
	const coco_optval *e = &opts[OPT_ENDPOINT];
	if (e->set && e->s && strstr(e->s, "://") && strncmp(e->s, "http://", 7) && strncmp(e->s, "https://", 8))
		return coco_seterr(err, "AmazonS3: endpoint '%s' must be an http:// or https:// URL", e->s);
	return coco_obj_opts(&opts[OPT_PREFIX], &opts[OPT_DECODE], "AmazonS3", s ? &s->mem : NULL,
		s ? &s->obj : NULL, err);
}

/* Row type: table[filename: str]{content: str | bytes}. */
static int s3_row_type(const coco_optval *opts, coco_arena *types, const coco_type **out, char **err)
{
	if (check_opts(opts, NULL, err))
		return -1;
	*out = coco_obj_row_type(&opts[OPT_PREFIX], types);
	return 0;
}

/* ---- credentials --------------------------------------------------------- */

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && v[0] ? v : NULL;
}

static char *trim_dup(const char *p, const char *e)
{
	while (p < e && isspace((unsigned char)*p))
		p++;
	while (e > p && isspace((unsigned char)e[-1]))
		e--;
	return coco_xstrndup(p, (size_t)(e - p));
}

/* [profile] aws_access_key_id / aws_secret_access_key / aws_session_token
 * from the shared credentials file, as the AWS CLI writes it. */
static void shared_credentials(s3_src *s)
{
	const char *path = env("AWS_SHARED_CREDENTIALS_FILE");
	coco_buf p = {0};
	if (!path) {
		const char *home = env("HOME");
		if (!home)
			return;
		coco_buf_printf(&p, "%s/.aws/credentials", home);
		path = p.p;
	}
	FILE *f = fopen(path, "r");
	coco_buf_free(&p);
	if (!f)
		return;
	const char *profile = env("AWS_PROFILE");
	if (!profile)
		profile = "default";
	char line[2048];
	int in = 0;
	while (fgets(line, sizeof line, f)) {
		char *l = line, *e = line + strlen(line);
		while (isspace((unsigned char)*l))
			l++;
		if (*l == '#' || *l == ';' || !*l)
			continue;
		if (*l == '[') {
			char *close = strchr(l, ']');
			char *name = close ? trim_dup(l + 1, close) : NULL;
			in = name && !strcmp(name, profile);
			free(name);
			continue;
		}
		char *eq = strchr(l, '=');
		if (!in || !eq)
			continue;
		char *k = trim_dup(l, eq), *v = trim_dup(eq + 1, e);
		char **dst = !strcmp(k, "aws_access_key_id") ? &s->akid :
			!strcmp(k, "aws_secret_access_key") ? &s->secret :
			!strcmp(k, "aws_session_token") ? &s->token : NULL;
		if (dst && !*dst && v[0]) {
			*dst = v;
			v = NULL;
		}
		free(k);
		if (v) {
			explicit_bzero(v, strlen(v));
			free(v);
		}
	}
	explicit_bzero(line, sizeof line);
	fclose(f);
}

static void load_credentials(s3_src *s)
{
	const char *ak = env("AWS_ACCESS_KEY_ID"), *sk = env("AWS_SECRET_ACCESS_KEY");
	if (ak && sk) {
		s->akid = coco_strdup(ak);
		s->secret = coco_strdup(sk);
		if (env("AWS_SESSION_TOKEN"))
			s->token = coco_strdup(env("AWS_SESSION_TOKEN"));
		return;
	}
	shared_credentials(s);
	if (!s->akid || !s->secret) {      /* anonymous: public buckets */
		free(s->akid);
		if (s->secret) {
			explicit_bzero(s->secret, strlen(s->secret));
			free(s->secret);
		}
		free(s->token);
		s->akid = s->secret = s->token = NULL;
	}
}

static void wipe(char **p)
{
	if (*p) {
		explicit_bzero(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

/* The headers of a request: content hash, session token. Free with hdrs_free. */
static char **hdrs_make(const s3_src *s)
{
	char **h = coco_xcalloc(3, sizeof *h);
	h[0] = coco_strdup("x-amz-content-sha256: UNSIGNED-PAYLOAD");
	if (s->token) {
		coco_buf b = {0};
		coco_buf_printf(&b, "x-amz-security-token: %s", s->token);
		h[1] = coco_buf_take(&b);
	}
	return h;
}

static void hdrs_free(char **h)
{
	for (int i = 0; h && h[i]; i++)
		wipe(&h[i]);
	free(h);
}

/* A request to S3 with the source's signing and headers. */
static coco_http_req s3_req(const s3_src *s, const char *url, char **hdrs)
{
	coco_http_req r = { .url = url, .headers = (const char *const *)hdrs };
	if (s->akid) {
		r.aws_sigv4 = s->sigv4;
		r.access_key = s->akid;
		r.secret_key = s->secret;
	}
	return r;
}

/* ---- errors -------------------------------------------------------------- */

/* Region from an endpoint host name: "bkt.s3.eu-west-1.amazonaws.com",
 * "s3-eu-west-1.amazonaws.com". */
static void region_of_endpoint(const char *ep, char *out, size_t cap)
{
	const char *p = strstr(ep, "s3.");
	if (!p)
		p = strstr(ep, "s3-");
	out[0] = 0;
	if (!p)
		return;
	p += 3;
	const char *e = strstr(p, ".amazonaws.com");
	if (!e || e == p || (size_t)(e - p) >= cap || memchr(p, '.', (size_t)(e - p)))
		return;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = 0;
}

int s3_fail(const s3_src *s, const char *what, const char *key, size_t nkey,
	const coco_http_resp *r, char **err)
{
	coco_buf where = {0};
	if (key) {
		coco_buf_printf(&where, "s3://%s/", s->bucket);
		coco_buf_add(&where, key, nkey);
	} else {
		coco_buf_adds(&where, s->disp);
	}
	if (r->error) {
		coco_seterr(err, "AmazonS3: %s: %s: cannot reach %s: %s (%d attempt%s)", where.p, what,
			s->endpoint, r->error, r->attempts, r->attempts == 1 ? "" : "s");
		coco_buf_free(&where);
		return -1;
	}
	s3_error e;
	s3_parse_error(r->body.p, r->body.n, &e);
	size_t n;
	const char *hr = coco_http_header(r, "x-amz-bucket-region", &n);
	char region[64] = "";
	if (hr && n && n < sizeof region) {
		memcpy(region, hr, n);
		region[n] = 0;
	} else if (e.region[0]) {
		memcpy(region, e.region, sizeof region);
	} else if (e.endpoint[0]) {
		region_of_endpoint(e.endpoint, region, sizeof region);
	}
	const char *ak = s->akid ? s->akid : "(none)";
	const char *code = e.code[0] ? e.code : NULL;
	coco_buf detail = {0};
	if (code)
		coco_buf_printf(&detail, "%s%s%s", code, e.message[0] ? ": " : "", e.message);
	else
		coco_buf_printf(&detail, "HTTP %ld", r->status);

	if (region[0] && strcmp(region, s->region) &&
	    (r->status == 301 || r->status == 307 || (code && (!strcmp(code, "AuthorizationHeaderMalformed") ||
	     !strcmp(code, "PermanentRedirect") || !strcmp(code, "IllegalLocationConstraintException")))))
		coco_seterr(err, "AmazonS3: bucket '%s' is in region '%s', not '%s': set region = \"%s\" "
			"(or AWS_REGION) (%s)", s->bucket, region, s->region, region, detail.p);
	else if (r->status == 301 || r->status == 307)
		coco_seterr(err, "AmazonS3: %s: %s: the bucket is elsewhere (HTTP %ld %s); check region "
			"and endpoint", where.p, what, r->status, e.endpoint[0] ? e.endpoint : "");
	else if (code && (!strcmp(code, "InvalidAccessKeyId") || !strcmp(code, "InvalidClientTokenId")))
		coco_seterr(err, "AmazonS3: %s: %s: access key id '%s' was rejected (%s)", where.p, what,
			ak, detail.p);
	else if (code && !strcmp(code, "SignatureDoesNotMatch"))
		coco_seterr(err, "AmazonS3: %s: %s: the secret access key does not match access key id "
			"'%s' (SignatureDoesNotMatch)", where.p, what, ak);
	else if (code && (!strcmp(code, "ExpiredToken") || !strcmp(code, "InvalidToken") ||
	                  !strcmp(code, "TokenRefreshRequired")))
		coco_seterr(err, "AmazonS3: %s: %s: the session token of access key id '%s' is not "
			"valid (%s): refresh AWS_SESSION_TOKEN", where.p, what, ak, detail.p);
	else if (code && !strcmp(code, "AccessDenied"))
		coco_seterr(err, "AmazonS3: %s: %s: access denied to %s (%s)", where.p, what,
			s->akid ? ak : "anonymous requests; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
			detail.p);
	else if (code && !strcmp(code, "NoSuchBucket"))
		coco_seterr(err, "AmazonS3: bucket '%s' does not exist (at %s)", s->bucket, s->endpoint);
	else if (code && !strcmp(code, "RequestTimeTooSkewed"))
		coco_seterr(err, "AmazonS3: %s: %s: this machine's clock is off by more than 15 minutes (%s)",
			where.p, what, detail.p);
	else
		coco_seterr(err, "AmazonS3: %s: %s: %s (HTTP %ld)", where.p, what, detail.p, r->status);
	coco_buf_free(&detail);
	coco_buf_free(&where);
	return -1;
}

/* ---- open / close -------------------------------------------------------- */

static void s3_close(void *sp)
{
	s3_src *s = sp;
	if (!s)
		return;
	s3_sqs_free(s->sqs);
	coco_prefetch_destroy(s->pf);
	hdrs_free(s->get_hdrs);
	coco_http_destroy(s->http);
	free(s->akid);
	wipe(&s->secret);
	wipe(&s->token);
	coco_arena_destroy(&s->mem);
	free(s);
}

/* Splits endpoint into scheme "http" / "https", authority and path (no trailing '/'). */
static int split_endpoint(s3_src *s, const char *ep, const char **scheme, const char **auth,
	const char **path, char **err)
{
	const char *p = strstr(ep, "://");
	*scheme = "https";
	if (p) {
		*scheme = coco_arena_strndup(&s->mem, ep, (size_t)(p - ep));
		ep = p + 3;
	}
	const char *slash = strchr(ep, '/');
	size_t na = slash ? (size_t)(slash - ep) : strlen(ep);
	if (!na)
		return coco_seterr(err, "AmazonS3: endpoint '%s' has no host", ep);
	*auth = coco_arena_strndup(&s->mem, ep, na);
	const char *rest = slash ? slash : "";
	size_t nr = strlen(rest);
	while (nr && rest[nr - 1] == '/')
		nr--;
	*path = coco_arena_strndup(&s->mem, rest, nr);
	return 0;
}

static coco_http_xfer *get_start(void *sp, const char *url);
static int get_plan(void *sp, const char *key, size_t n, coco_buf *url, int64_t *version);

static int s3_open(const coco_optval *opts, const char *base_dir, void **out, char **err)
{
	(void)base_dir;
	*out = NULL;
	s3_src *s = calloc(1, sizeof *s);
	if (!s)
		return coco_seterr(err, "AmazonS3: out of memory");
	if (check_opts(opts, s, err))
		goto fail;
	coco_arena *a = &s->mem;
	s->bucket = coco_arena_strdup(a, opts[OPT_BUCKET].s);
	const char *region = opts[OPT_REGION].set && opts[OPT_REGION].s && opts[OPT_REGION].s[0] ?
		opts[OPT_REGION].s : env("AWS_REGION") ? env("AWS_REGION") :
		env("AWS_DEFAULT_REGION") ? env("AWS_DEFAULT_REGION") : "us-east-1";
	s->region = coco_arena_strdup(a, region);
	if (strlen(region) > 64 || strchr(region, ':') || strchr(region, '/')) {
		coco_seterr(err, "AmazonS3: region '%s' is not a region name", region);
		goto fail;
	}
	coco_buf b = {0};
	coco_buf_printf(&b, "aws:amz:%s:s3", region);
	s->sigv4 = coco_arena_strdup(a, b.p);

	const char *ep = opts[OPT_ENDPOINT].set && opts[OPT_ENDPOINT].s && opts[OPT_ENDPOINT].s[0] ?
		opts[OPT_ENDPOINT].s : env("AWS_ENDPOINT_URL_S3") ? env("AWS_ENDPOINT_URL_S3") :
		env("AWS_ENDPOINT_URL");
	int custom = ep != NULL;
	if (!ep) {
		coco_buf_clear(&b);
		coco_buf_printf(&b, "https://s3.%s.amazonaws.com", region);
		ep = b.p;
	}
	const char *scheme = "https", *auth = "", *path = "";
	if (split_endpoint(s, ep, &scheme, &auth, &path, err)) {
		coco_buf_free(&b);
		goto fail;
	}
	coco_buf_clear(&b);
	coco_buf_printf(&b, "%s://%s%s", scheme, auth, path);
	s->endpoint = coco_arena_strdup(a, b.p);
	/* path style: asked for; a custom endpoint (MinIO, s3rver, ...: the
	 * bucket is not in their DNS); a bucket with a dot (TLS wildcards) */
	if (opts[OPT_PATH_STYLE].set)
		s->path_style = opts[OPT_PATH_STYLE].b;
	else
		s->path_style = (custom && !strstr(auth, "amazonaws.com")) || strchr(s->bucket, '.');
	coco_buf_clear(&b);
	if (s->path_style) {
		coco_buf_printf(&b, "%s://%s%s/", scheme, auth, path);
		s3_uri_encode(&b, s->bucket, strlen(s->bucket), 0);
	} else {
		coco_buf_printf(&b, "%s://%s.%s%s", scheme, s->bucket, auth, path);
	}
	s->base = coco_arena_strdup(a, b.p);
	coco_buf_clear(&b);
	coco_buf_printf(&b, "s3://%s/%s", s->bucket, s->obj.sel.prefix);
	s->disp = coco_arena_strdup(a, b.p);
	coco_buf_free(&b);
	if (opts[OPT_SQS].set && opts[OPT_SQS].s && opts[OPT_SQS].s[0])
		s->queue_url = coco_arena_strdup(a, opts[OPT_SQS].s);

	load_credentials(s);
	coco_http_opts ho = { .max_inflight = HTTP_INFLIGHT };
	s->http = coco_http_create(&ho);
	s->get_hdrs = hdrs_make(s);
	s->pf = coco_prefetch_create(s->http, &(coco_prefetch_src){ .ud = s, .plan = get_plan,
		.start = get_start, .window = PF_WINDOW, .start_on_take = 1 });
	*out = s;
	return 0;
fail:
	s3_close(s);
	return -1;
}

/* ---- list ---------------------------------------------------------------- */

static void list_url(const s3_src *s, coco_buf *url, const char *token)
{
	s3_param p[5];
	size_t n = 0;
	if (token)
		p[n++] = (s3_param){ "continuation-token", token };
	p[n++] = (s3_param){ "encoding-type", "url" };
	p[n++] = (s3_param){ "list-type", "2" };
	p[n++] = (s3_param){ "max-keys", "1000" };
	if (s->obj.sel.nprefix)
		p[n++] = (s3_param){ "prefix", s->obj.sel.prefix };
	coco_buf_clear(url);
	coco_buf_adds(url, s->base);
	coco_buf_adds(url, s->path_style ? "?" : "/?");
	s3_canonical_query(url, p, n);
}

static int skip_class(const char *c)
{
	return !strcmp(c, "GLACIER") || !strcmp(c, "DEEP_ARCHIVE");
}

/* Every page, or -1: a listing that did not reach its end is a failure (the
 * indexer then deletes nothing). */
static int s3_list(void *sp, coco_list_cb cb, void *ud, char **err)
{
	s3_src *s = sp;
	coco_buf url = {0}, key = {0}, ord = {0};
	coco_arena a = {0};
	char *token = NULL;
	char **hdrs = hdrs_make(s);
	uint64_t large = 0;
	int rc = -1, pages = 0;
	for (;;) {
		list_url(s, &url, token);
		coco_http_resp r;
		coco_http_req rq = s3_req(s, url.p, hdrs);
		coco_http_do(s->http, &rq, &r);
		pages++;
		if (r.error || r.status != 200) {
			s3_fail(s, "cannot list", NULL, 0, &r, err);
			coco_http_resp_free(&r);
			goto out;
		}
		s3_page pg;
		char *e = NULL;
		coco_arena_reset(&a);
		if (s3_parse_list(r.body.p, r.body.n, &a, &pg, &e)) {
			coco_seterr(err, "AmazonS3: %s: cannot list: page %d: %s", s->disp, pages, e);
			free(e);
			coco_http_resp_free(&r);
			goto out;
		}
		coco_http_resp_free(&r);
		int stop = 0;
		for (size_t i = 0; i < pg.n && !stop; i++) {
			const s3_obj *o = &pg.objs[i];
			coco_buf_clear(&key);
			if (pg.url_encoded)
				s3_form_decode(&key, o->key, o->nkey);
			else
				coco_buf_add(&key, o->key, o->nkey);
			if (!s3_wanted(s, key.p ? key.p : "", key.n) || skip_class(o->storage_class))
				continue;
			if (coco_key_needs_escape(key.p ? key.p : "", key.n)) {   /* keyesc.h */
				coco_buf_clear(&ord);
				coco_key_escape(key.p, key.n, &ord);
				coco_buf_clear(&key);
				coco_buf_add(&key, ord.p, ord.n);
			}
			if (s->obj.max_size >= 0 && o->size > s->obj.max_size) {
				large++;
				continue;
			}
			coco_buf_clear(&ord);
			s3_ordinal(&ord, o->mtime, o->etag, o->netag);
			coco_value k = coco_v_str(key.p, key.n);
			stop = cb(ud, &k, ord.p, ord.n);
		}
		if (stop || !pg.truncated)
			break;
		if (!pg.next_token || !pg.next_token[0] || (token && !strcmp(token, pg.next_token))) {
			coco_seterr(err, "AmazonS3: %s: cannot list: page %d is truncated without a new "
				"continuation token", s->disp, pages);
			goto out;
		}
		free(token);
		token = coco_strdup(pg.next_token);
	}
	s->skipped_large = large;
	coco_buf_clear(&url);
	coco_buf_printf(&url, "AmazonS3: %s", s->disp);
	coco_obj_note_large(url.p, "object", large, &s->reported_large, s->obj.max_size);
	rc = 0;
out:
	hdrs_free(hdrs);
	free(token);
	coco_buf_free(&url);
	coco_buf_free(&key);
	coco_buf_free(&ord);
	coco_arena_destroy(&a);
	return rc;
}

/* ---- read, prefetch ------------------------------------------------------ */

static void object_url(const s3_src *s, coco_buf *url, const char *key, size_t n)
{
	coco_buf_clear(url);
	coco_buf_adds(url, s->base);
	coco_buf_putc(url, '/');
	coco_buf raw = {0};                       /* a key that is not UTF-8: keyesc.h */
	if (memchr(key, '\\', n) && coco_key_unescape(key, n, &raw) == 0) {
		key = raw.p;
		n = raw.n;
	}
	s3_uri_encode(url, key, n, 1);
	coco_buf_free(&raw);
}

static coco_http_xfer *get_start(void *sp, const char *url)
{
	s3_src *s = sp;
	coco_http_req rq = s3_req(s, url, s->get_hdrs);
	if (s->obj.max_size >= 0)
		rq.max_body = (size_t)s->obj.max_size + 1;
	return coco_http_start(s->http, &rq, NULL);
}

/* coco_prefetch_src.plan: the GetObject of a wanted key. */
static int get_plan(void *sp, const char *key, size_t n, coco_buf *url, int64_t *version)
{
	s3_src *s = sp;
	(void)version;
	if (!s3_wanted(s, key, n))
		return 0;
	object_url(s, url, key, n);
	return 1;
}

/* coco_source_ops.prefetch: the indexer is about to read these rows. */
static void s3_prefetch(void *sp, const coco_value *keys, size_t n)
{
	s3_src *s = sp;
	coco_prefetch_hint(s->pf, keys, n);
}

static int read_fail(void *sp, const char *key, size_t n, const coco_http_resp *r, char **err)
{
	return s3_fail(sp, "cannot read", key, n, r, err);
}

static int s3_read(void *sp, const coco_value *key, coco_arena *a, coco_value *row,
	coco_buf *ord, char **err)
{
	s3_src *s = sp;
	coco_buf where = {0};
	coco_buf_printf(&where, "s3://%s/", s->bucket);
	coco_objread o = { "AmazonS3", where.p, coco_obj_mode(&s->obj), s->obj.max_size,
		&s->skipped_large, read_fail, s };
	int rc = coco_obj_read(&o, s->pf, s->http, key, a, row, ord, err);
	coco_buf_free(&where);
	return rc;
}

const coco_source_ops coco_s3_source = {
	.name = "AmazonS3",
	.opts = s3_opts,
	.row_type = s3_row_type,
	.open = s3_open,
	.list = s3_list,
	.read = s3_read,
	.close = s3_close,
	.watch = s3_watch,
	.watch_read = s3_watch_read,
	.prefetch = s3_prefetch,
	.committed = s3_committed,
};
