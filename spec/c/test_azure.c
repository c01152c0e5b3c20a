/* The AzureBlob source (connectors/azure) against a scripted server on
 * 127.0.0.1, for what Azurite does not show: the SharedKey signature
 * recomputed here from the request as the service would (canonical
 * headers, "/ACCOUNT" + path, query parameters decoded and sorted), names
 * the service sends percent-encoded (<Name Encoded="true">), Archive-tier
 * blobs and folder markers skipped, ordinals from Last-Modified + Etag,
 * NextMarker paging, and the failures that must stop a listing (-1, so
 * nothing is deleted) with messages free of signature material: a 403
 * whose AuthenticationErrorDetail quotes the string signed, a NextMarker
 * that does not move, a page that is not XML; a SAS token appended and
 * never signed. */
#define _GNU_SOURCE
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "spec/c/test_s3_fakeserver.h"
#include "spec/c/check.h"
#include "engine/ops.h"

extern const coco_source_ops coco_azure_source;

#define KEY_B64 "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

typedef struct script {
	const char *pages[4];        /* List Blobs answers, in order */
	int status[4];               /* 0: 200 */
	int npages, page;
} script;

static void handler(void *ud, const fk_req *rq, int n, fk_resp *o)
{
	script *sc = ud;
	(void)n;
	if (strstr(rq->target, "comp=list")) {
		int i = sc->page < sc->npages ? sc->page : sc->npages - 1;
		sc->page++;
		const char *b = sc->pages[i];
		fk_reply(o, sc->status[i] ? sc->status[i] : 200, "Content-Type: application/xml\r\n", b, strlen(b));
		return;
	}
	fk_reply(o, 200, "ETag: \"0x8DE1\"\r\nLast-Modified: Sat, 21 Nov 2026 16:34:04 GMT\r\n", "body", 4);
}

static int hexv(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* The signature the service computes for request rq (a GET). */
static void expected_sig(const fk_req *rq, char *out)
{
	char date[64], version[64];
	fk_header(rq->headers, "x-ms-date", date, sizeof date);
	fk_header(rq->headers, "x-ms-version", version, sizeof version);
	coco_buf s = {0};
	const char *q = strchr(rq->target, '?');
	size_t np = q ? (size_t)(q - rq->target) : strlen(rq->target);
	coco_buf_printf(&s, "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:%s\nx-ms-version:%s\n/devstoreaccount1%.*s",
		date, version, (int)np, rq->target);
	/* parameters: sorted (the source sends them sorted; check it), decoded */
	char prev[32] = "";
	for (const char *p = q; p && *p; ) {
		p++;
		const char *eq = strchr(p, '='), *amp = strchr(p, '&');
		size_t nk = (size_t)(eq - p), nv = amp ? (size_t)(amp - eq - 1) : strlen(eq + 1);
		char k[32];
		snprintf(k, sizeof k, "%.*s", (int)nk, p);
		CHECKF(strcmp(prev, k) < 0, "%s after %s", k, prev);
		memcpy(prev, k, sizeof prev);
		coco_buf_printf(&s, "\n%s:", k);
		for (size_t i = 0; i < nv; i++) {
			const char *c = eq + 1 + i;
			if (*c == '%') {
				coco_buf_putc(&s, (char)(hexv(c[1]) * 16 + hexv(c[2])));
				i += 2;
			} else {
				coco_buf_putc(&s, *c);
			}
		}
		p = amp;
	}
	unsigned char key[64], mac[32];
	int nk = EVP_DecodeBlock(key, (const unsigned char *)KEY_B64, (int)strlen(KEY_B64)) - 2;
	unsigned int nm = 0;
	HMAC(EVP_sha256(), key, nk, (unsigned char *)s.p, s.n, mac, &nm);
	char b64[64];
	EVP_EncodeBlock((unsigned char *)b64, mac, (int)nm);
	sprintf(out, "SharedKey devstoreaccount1:%s", b64);
	coco_buf_free(&s);
}

typedef struct listed {
	char key[8][64];
	coco_buf ord[8];
	int n;
} listed;

static int list_cb(void *ud, const coco_value *key, const void *ord, size_t nord)
{
	listed *l = ud;
	if (l->n < 8 && key->n < 64) {
		memcpy(l->key[l->n], key->u.s, key->n);
		l->key[l->n][key->n] = 0;
		coco_buf_clear(&l->ord[l->n]);
		coco_buf_add(&l->ord[l->n], ord, nord);
	}
	l->n++;
	return 0;
}

static void listed_free(listed *l)
{
	for (int i = 0; i < 8; i++)
		coco_buf_free(&l->ord[i]);
}

static void finish(void *src, fk_server *fs, listed *l, coco_arena *a, coco_buf *ord)
{
	coco_azure_source.close(src);
	coco_buf_free(ord);
	coco_arena_destroy(a);
	listed_free(l);
	fk_stop(fs);
}

static void *open_src(int port, const char *prefix, char **err)
{
	coco_optval v[16];
	memset(v, 0, sizeof v);
	char ep[64];
	snprintf(ep, sizeof ep, "http://127.0.0.1:%d/devstoreaccount1", port);
	const struct { const char *k, *v; } set[] = { { "account_name", "devstoreaccount1" },
		{ "container_name", "docs" }, { "endpoint", ep }, { "prefix", prefix } };
	for (size_t i = 0; i < sizeof set / sizeof set[0]; i++) {
		int j = coco_opt_index(coco_azure_source.opts, set[i].k);
		v[j].set = set[i].v != NULL;
		v[j].s = set[i].v;
	}
	void *src = NULL;
	return coco_azure_source.open(v, "/tmp", &src, err) ? NULL : src;
}

#define BLOB(name, tier) "<Blob><Name" name "</Name><Properties>" \
	"<Last-Modified>Sat, 21 Nov 2026 16:34:04 GMT</Last-Modified><Etag>\"0x8D1\"</Etag>" \
	"<Content-Length>4</Content-Length><AccessTier>" tier "</AccessTier></Properties></Blob>"

static void test_listing(void)
{
	script sc = { .npages = 2, .pages = {
		"<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ServiceEndpoint=\"x\" "
		"ContainerName=\"docs\"><Prefix>d/</Prefix><MaxResults>5000</MaxResults><Blobs>"
		BLOB(">d/a b.md", "Hot") BLOB(" Encoded=\"true\">d/x%0By.md", "Cool")
		BLOB(">d/cold.md", "Archive") BLOB(">d/dir/", "Hot")
		"</Blobs><NextMarker>2!8!m+/=</NextMarker></EnumerationResults>",
		"<EnumerationResults><Blobs>" BLOB(">d/z.md", "Hot") "</Blobs><NextMarker/></EnumerationResults>" } };
	fk_server fs;
	CHECK(fk_start(&fs, handler, &sc) == 0);
	setenv("AZURE_STORAGE_KEY", KEY_B64, 1);
	unsetenv("AZURE_STORAGE_SAS_TOKEN");
	char *err = NULL;
	void *src = open_src(fs.port, "d/", &err);
	CHECKF(src != NULL, "%s", err ? err : "");
	listed l = {0};
	CHECKF(coco_azure_source.list(src, list_cb, &l, &err) == 0, "%s", err ? err : "");
	CHECK(l.n == 3);
	CHECK_STR(l.key[0], "d/a b.md");
	CHECK_STR(l.key[1], "d/x\x0By.md");
	CHECK_STR(l.key[2], "d/z.md");
	CHECK(l.ord[0].n == 8 + 5 && !memcmp(l.ord[0].p + 8, "0x8D1", 5) &&
		(unsigned char)l.ord[0].p[0] == (1795278844 & 255));

	/* a read: the name encoded, signed too; the ordinal from the headers */
	coco_arena a = {0};
	coco_value row, k = coco_v_str("d/a b.md", 8);
	coco_buf ord = {0};
	CHECK(coco_azure_source.read(src, &k, &a, &row, &ord, &err) == 0);
	CHECK(row.n == 2 && row.u.fields[1].n == 4 && !memcmp(row.u.fields[1].u.s, "body", 4));
	CHECK(ord.n == 8 + 6 && !memcmp(ord.p + 8, "0x8DE1", 6));

	pthread_mutex_lock(&fs.mu);
	CHECK(fs.nlog == 3);
	for (int i = 0; i < fs.nlog; i++) {
		char got[128], want[128];
		fk_header(fs.log[i].headers, "authorization", got, sizeof got);
		expected_sig(&fs.log[i], want);
		CHECK_STR(got, want);
	}
	CHECK_STR(fs.log[0].target, "/devstoreaccount1/docs?comp=list&maxresults=5000&prefix=d%2F&restype=container");
	CHECK_STR(fs.log[1].target, "/devstoreaccount1/docs?comp=list&marker=2%218%21m%2B%2F%3D&maxresults=5000"
		"&prefix=d%2F&restype=container");
	CHECK_STR(fs.log[2].target, "/devstoreaccount1/docs/d/a%20b.md");
	pthread_mutex_unlock(&fs.mu);
	finish(src, &fs, &l, &a, &ord);
}

/* The listing stops at page 2 with fail's answer: -1 and a message. */
static char *list_fails(const char *page2, int status)
{
	script sc = { .npages = 2, .status = { 0, status }, .pages = {
		"<EnumerationResults><Blobs>" BLOB(">a.md", "Hot") "</Blobs><NextMarker>m1</NextMarker>"
		"</EnumerationResults>", page2 } };
	fk_server fs;
	fk_start(&fs, handler, &sc);
	char *err = NULL;
	void *src = open_src(fs.port, NULL, &err);
	listed l = {0};
	int rc = coco_azure_source.list(src, list_cb, &l, &err);
	CHECK(rc == -1 && l.n == 1);
	coco_azure_source.close(src);
	listed_free(&l);
	fk_stop(&fs);
	return err;
}

static void test_failures(void)
{
	setenv("AZURE_STORAGE_KEY", KEY_B64, 1);
	char *e = list_fails("<?xml version=\"1.0\"?><Error><Code>AuthenticationFailed</Code><Message>Server "
		"failed to authenticate the request.\nRequestId:1\nTime:2</Message><AuthenticationErrorDetail>The "
		"MAC signature found in the HTTP request 'SIGSECRET' is not the same as any computed signature. "
		"Server used following string to sign: 'GET STS'.</AuthenticationErrorDetail></Error>", 403);
	CHECKF(e && strstr(e, ": cannot list: the account key in AZURE_STORAGE_KEY was rejected by account "
		"'devstoreaccount1'") && strstr(e, "(HTTP 403 AuthenticationFailed: Server failed to authenticate "
		"the request.)") && !strstr(e, "SIGSECRET") && !strstr(e, "STS") && !strstr(e, "RequestId"),
		"%s", e ? e : "");
	free(e);
	e = list_fails("<EnumerationResults><Blobs/><NextMarker>m1</NextMarker></EnumerationResults>", 0);
	CHECKF(e && strstr(e, "cannot list: page 2 gives the same NextMarker again"), "%s", e ? e : "");
	free(e);
	e = list_fails("<html>oops", 0);
	CHECKF(e && strstr(e, "cannot list: page 2: malformed XML"), "%s", e ? e : "");
	free(e);
	e = list_fails("<Error><Code>ContainerNotFound</Code><Message>The specified container does not exist."
		"</Message></Error>", 404);
	CHECKF(e && strstr(e, "AzureBlob: container 'docs' does not exist (at http://127.0.0.1:"), "%s", e ? e : "");
	free(e);
}

/* A SAS token: appended after the query, never an Authorization header. */
static void test_sas(void)
{
	script sc = { .npages = 1, .pages = { "<EnumerationResults><Blobs>" BLOB(">a.md", "Hot")
		"</Blobs></EnumerationResults>" } };
	fk_server fs;
	fk_start(&fs, handler, &sc);
	unsetenv("AZURE_STORAGE_KEY");
	setenv("AZURE_STORAGE_SAS_TOKEN", "?sv=2019-12-12&sp=rl&sig=abc%2B", 1);
	char *err = NULL;
	void *src = open_src(fs.port, NULL, &err);
	listed l = {0};
	CHECK(coco_azure_source.list(src, list_cb, &l, &err) == 0 && l.n == 1);
	coco_arena a = {0};
	coco_value row, k = coco_v_str("a.md", 4);
	coco_buf ord = {0};
	CHECK(coco_azure_source.read(src, &k, &a, &row, &ord, &err) == 0);
	pthread_mutex_lock(&fs.mu);
	CHECK(fs.nlog == 2);
	CHECK_STR(fs.log[0].target, "/devstoreaccount1/docs?comp=list&maxresults=5000&restype=container"
		"&sv=2019-12-12&sp=rl&sig=abc%2B");
	CHECK_STR(fs.log[1].target, "/devstoreaccount1/docs/a.md?sv=2019-12-12&sp=rl&sig=abc%2B");
	char h[64];
	CHECK(!fk_header(fs.log[0].headers, "authorization", h, sizeof h));
	pthread_mutex_unlock(&fs.mu);
	finish(src, &fs, &l, &a, &ord);
	unsetenv("AZURE_STORAGE_SAS_TOKEN");
}

int main(void)
{
	test_listing();
	test_failures();
	test_sas();
	return CHECK_DONE();
}
