/* The pure parts of the GoogleDrive source (connectors/gdrive): base64url,
 * the service-account key file, the RS256 JWT (its signature checked with
 * the public half of a key made here), Drive v3 pages (files and changes),
 * error documents and rate-limit reasons, query escaping, the export table,
 * ordinals and the id map. The source itself runs against the loopback
 * Drive fixture in spec/gdrive_spec.lua. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "spec/c/check.h"
#include "connectors/gdrive/gdrive_int.h"
#include "engine/functions/json.h"

static int str_is(const coco_buf *b, const char *s)
{
	return b->n == strlen(s) && (!b->n || !memcmp(b->p, s, b->n));
}

static void test_b64url(void)
{
	static const struct { const char *in; size_t n; const char *out; } v[] = {
		{ "", 0, "" }, { "f", 1, "Zg" }, { "fo", 2, "Zm8" }, { "foo", 3, "Zm9v" },
		{ "foob", 4, "Zm9vYg" }, { "\xfb\xff", 2, "-_8" }, { "\xff\xfe\xfd\xfc", 4, "__79_A" },
		{ "{\"alg\":\"RS256\"}", 15, "eyJhbGciOiJSUzI1NiJ9" },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		coco_buf b = {0};
		gd_b64url(&b, v[i].in, v[i].n);
		CHECKF(str_is(&b, v[i].out), "%zu: %s", i, b.p ? b.p : "");
		coco_buf_free(&b);
	}
}

/* base64url (no padding) back to bytes. */
static int unb64url(const char *s, size_t n, coco_buf *out)
{
	coco_buf t = {0};
	for (size_t i = 0; i < n; i++)
		coco_buf_putc(&t, s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i]);
	while (t.n % 4)
		coco_buf_putc(&t, '=');
	unsigned char *dec = malloc(t.n + 1);
	int len = EVP_DecodeBlock(dec, (unsigned char *)t.p, (int)t.n);
	if (len >= 0)
		coco_buf_add(out, dec, n * 3 / 4);   /* EVP_DecodeBlock counts '=' as zero bytes */
	free(dec);
	coco_buf_free(&t);
	return len < 0 ? -1 : 0;
}

static void member(const coco_buf *obj, const char *name, coco_buf *out)
{
	const char *v;
	size_t nv;
	coco_buf_clear(out);
	if (coco_json_get(obj->p, obj->n, name, strlen(name), &v, &nv))
		coco_buf_add(out, v, nv);
}

static void key_file(EVP_PKEY *k, const char *extra, coco_buf *out)
{
	BIO *bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL);
	char *pem;
	long n = BIO_get_mem_data(bio, &pem);
	coco_buf_adds(out, "{\"type\": \"service_account\", \"project_id\": \"p\", \"private_key_id\": \"kid-1\", "
		"\"client_email\": \"sa@p.iam.gserviceaccount.com\", \"token_uri\": \"http://127.0.0.1:1/token\", "
		"\"private_key\": ");
	coco_json_str(out, pem, (size_t)n);
	coco_buf_adds(out, extra);
	coco_buf_putc(out, '}');
	BIO_free(bio);
}

static void test_jwt(void)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);
	CHECK(k != NULL);
	coco_buf file = {0};
	key_file(k, "", &file);
	gd_cred c;
	char *err = NULL;
	CHECK(gd_cred_parse(file.p, file.n, "/k.json", &c, &err) == 0);
	CHECK(err == NULL);
	CHECK(!strcmp(c.email, "sa@p.iam.gserviceaccount.com") && !strcmp(c.key_id, "kid-1") &&
		!strcmp(c.token_uri, "http://127.0.0.1:1/token"));

	coco_buf jwt = {0};
	CHECK(gd_jwt(&c, GD_SCOPE, 1795278844, &jwt, &err) == 0);
	const char *d1 = strchr(jwt.p, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	CHECK(d1 && d2 && !strchr(d2 + 1, '.'));
	CHECK(!strpbrk(jwt.p, "=+/ "));
	coco_buf h = {0}, cl = {0}, sig = {0}, v = {0};
	CHECK(unb64url(jwt.p, (size_t)(d1 - jwt.p), &h) == 0);
	CHECK(unb64url(d1 + 1, (size_t)(d2 - d1 - 1), &cl) == 0);
	CHECK(unb64url(d2 + 1, strlen(d2 + 1), &sig) == 0);
	CHECK(str_is(&h, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"kid-1\"}"));
	member(&cl, "iss", &v);
	CHECK(str_is(&v, "\"sa@p.iam.gserviceaccount.com\""));
	member(&cl, "scope", &v);
	CHECK(str_is(&v, "\"https://www.googleapis.com/auth/drive.readonly\""));
	member(&cl, "aud", &v);
	CHECK(str_is(&v, "\"http://127.0.0.1:1/token\""));
	member(&cl, "iat", &v);
	CHECK(str_is(&v, "1795278844"));
	member(&cl, "exp", &v);
	CHECK(str_is(&v, "1795282444"));          /* one hour, the most Google takes */
	CHECK(sig.n == 256);

	/* the signature verifies with the public key, over header.claims */
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	CHECK(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k) == 1);
	CHECK(EVP_DigestVerify(md, (unsigned char *)sig.p, sig.n, (unsigned char *)jwt.p,
		(size_t)(d2 - jwt.p)) == 1);
	EVP_MD_CTX_free(md);
	/* and not over anything else */
	md = EVP_MD_CTX_new();
	EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k);
	CHECK(EVP_DigestVerify(md, (unsigned char *)sig.p, sig.n, (unsigned char *)jwt.p,
		(size_t)(d2 - jwt.p) - 1) != 1);
	EVP_MD_CTX_free(md);
	gd_cred_free(&c);

	/* errors name the file, never the key */
	struct { const char *text; const char *msg; } bad[] = {
		{ "private_key = x", "GoogleDrive: service account file '/k.json' is not JSON (byte 1: " },
		{ "[1]", "GoogleDrive: service account file '/k.json' is not a JSON object" },
		{ "{\"type\": \"authorized_user\", \"client_email\": \"a@b\"}", "is of type 'authorized_user', "
			"not 'service_account'" },
		{ "{\"type\": \"service_account\"}", "GoogleDrive: service account file '/k.json' has no client_email" },
		{ "{\"type\": \"service_account\", \"client_email\": \"a@b\"}", "GoogleDrive: service account file "
			"'/k.json' has no private_key (create a JSON key for service account 'a@b')" },
		{ "{\"client_email\": \"a@b\", \"private_key\": \"-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END "
			"PRIVATE KEY-----\\n\"}", "GoogleDrive: service account file '/k.json': private_key is not a "
			"PEM private key" },
		{ "{\"client_email\": \"a@b\", \"token_uri\": \"ftp://x\", \"private_key\": \"k\"}",
			"token_uri 'ftp://x' is not an http(s):// URL" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err = NULL;
		CHECKF(gd_cred_parse(bad[i].text, strlen(bad[i].text), "/k.json", &c, &err) == -1, "%zu", i);
		CHECKF(err && strstr(err, bad[i].msg), "%zu: %s", i, err ? err : "(none)");
		free(err);
	}
	/* no token_uri: Google's */
	coco_buf_clear(&file);
	key_file(k, "", &file);
	char *p = strstr(file.p, "\"token_uri\"");
	memcpy(p, "\"token_urx\"", 11);
	CHECK(gd_cred_parse(file.p, file.n, "/k.json", &c, &err) == 0);
	CHECK(!strcmp(c.token_uri, "https://oauth2.googleapis.com/token"));
	gd_cred_free(&c);

	EVP_PKEY_free(k);
	coco_buf_free(&file);
	coco_buf_free(&jwt);
	coco_buf_free(&h);
	coco_buf_free(&cl);
	coco_buf_free(&sig);
	coco_buf_free(&v);
}

static void test_pages(void)
{
	const char *files = "{\"kind\": \"drive#fileList\", \"nextPageToken\": \"~!p=2\", \"files\": ["
		"{\"id\": \"1a\", \"name\": \"a \\\"q\\\".md\", \"mimeType\": \"text/markdown\", \"parents\": [\"root\"], "
		" \"version\": \"17\", \"size\": \"1234\", \"modifiedTime\": \"2026-11-21T16:34:04.123Z\", \"trashed\": false},"
		"{\"id\": \"2b\", \"name\": \"Plan\", \"mimeType\": \"application/vnd.google-apps.document\", "
		" \"version\": 9000000000, \"trashed\": true},"
		"{\"id\": \"3c\", \"name\": \"link\", \"mimeType\": \"application/vnd.google-apps.shortcut\", "
		" \"shortcutDetails\": {\"targetId\": \"1a\", \"targetMimeType\": \"text/markdown\"}},"
		"{\"name\": \"no id: dropped\"}]}";
	coco_arena a = {0};
	gd_page p;
	char *err = NULL;
	CHECK(gd_parse_page(files, strlen(files), &a, &p, &err) == 0);
	CHECK(p.nfiles == 3 && p.nchanges == 0);
	CHECK(p.next_token && !strcmp(p.next_token, "~!p=2") && !p.new_start_token);
	const gd_meta *m = &p.files[0];
	CHECK(!strcmp(m->id, "1a") && !strcmp(m->name, "a \"q\".md") && !strcmp(m->mime, "text/markdown") &&
		!strcmp(m->parent, "root") && m->version == 17 && m->size == 1234 && !m->trashed &&
		!strcmp(m->mtime, "2026-11-21T16:34:04.123Z"));
	m = &p.files[1];
	CHECK(m->version == 9000000000LL && m->size == -1 && m->trashed && !m->parent);
	m = &p.files[2];
	CHECK(!strcmp(m->target, "1a") && !strcmp(m->target_mime, "text/markdown"));

	const char *ch = "{\"newStartPageToken\": \"42\", \"changes\": ["
		"{\"changeType\": \"file\", \"removed\": true, \"fileId\": \"gone\"},"
		"{\"changeType\": \"drive\", \"driveId\": \"0A\", \"removed\": false},"
		"{\"changeType\": \"file\", \"removed\": false, \"fileId\": \"1a\", \"file\": {\"id\": \"1a\", "
		" \"name\": \"a.md\", \"parents\": [\"f\"], \"version\": \"18\", \"trashed\": true}}]}";
	coco_arena_reset(&a);
	CHECK(gd_parse_page(ch, strlen(ch), &a, &p, &err) == 0);
	CHECK(p.nchanges == 2 && !p.next_token && p.new_start_token && !strcmp(p.new_start_token, "42"));
	CHECK(!strcmp(p.changes[0].file_id, "gone") && p.changes[0].removed && !p.changes[0].has_file);
	CHECK(!strcmp(p.changes[1].file_id, "1a") && !p.changes[1].removed && p.changes[1].has_file &&
		p.changes[1].file.version == 18 && p.changes[1].file.trashed);

	CHECK(gd_parse_page("{\"files\": [", 11, &a, &p, &err) == -1);
	CHECK(err && !strncmp(err, "not JSON at byte", 16));
	free(err);
	err = NULL;
	CHECK(gd_parse_page("{\"kind\": 1}", 11, &a, &p, &err) == -1);
	CHECK(err && !strcmp(err, "neither a files nor a changes array"));
	free(err);
	err = NULL;
	CHECK(gd_parse_page("{\"files\": {}}", 13, &a, &p, &err) == -1);
	free(err);

	gd_meta one;
	const char *meta = "{\"id\": \"r\", \"name\": \"Root\", \"mimeType\": \"application/vnd.google-apps.folder\"}";
	CHECK(gd_parse_meta(meta, strlen(meta), &a, &one) == 0 && !strcmp(one.name, "Root"));
	CHECK(gd_parse_meta("{\"name\": \"x\"}", 13, &a, &one) == -1);
	CHECK(gd_parse_meta("<html>", 6, &a, &one) == -1);
	coco_arena_destroy(&a);
}

static void test_errors(void)
{
	const char *rl = "{\"error\": {\"code\": 403, \"message\": \"User Rate Limit Exceeded\", \"errors\": "
		"[{\"domain\": \"usageLimits\", \"reason\": \"userRateLimitExceeded\", \"message\": \"x\"}]}}";
	const char *rl2 = "{\"error\": {\"errors\": [{\"reason\": \"rateLimitExceeded\"}], \"code\": 403}}";
	const char *perm = "{\"error\": {\"code\": 403, \"message\": \"no\", \"errors\": [{\"reason\": "
		"\"insufficientFilePermissions\"}]}}";
	const char *tok = "{\"error\": \"invalid_grant\", \"error_description\": \"Invalid JWT Signature.\"}";
	coco_buf r = {0}, m = {0};
	gd_parse_error(rl, strlen(rl), &r, &m);
	CHECK(str_is(&r, "userRateLimitExceeded") && str_is(&m, "User Rate Limit Exceeded"));
	coco_buf_clear(&r);
	coco_buf_clear(&m);
	gd_parse_error(tok, strlen(tok), &r, &m);
	CHECK(str_is(&r, "invalid_grant") && str_is(&m, "Invalid JWT Signature."));
	coco_buf_clear(&r);
	coco_buf_clear(&m);
	gd_parse_error("not json", 8, &r, &m);
	CHECK(r.n == 0 && m.n == 0);
	coco_buf_free(&r);
	coco_buf_free(&m);

	CHECK(gd_rate_limited(403, rl, strlen(rl)) == 1);
	CHECK(gd_rate_limited(403, rl2, strlen(rl2)) == 1);
	CHECK(gd_rate_limited(403, perm, strlen(perm)) == 0);
	CHECK(gd_rate_limited(400, rl, strlen(rl)) == 0);
	CHECK(gd_rate_limited(403, "", 0) == 0);
}

static void test_helpers(void)
{
	coco_buf b = {0};
	gd_children_query(&b, "1x'y\\z");
	CHECK(str_is(&b, "'1x\\'y\\\\z' in parents and trashed = false"));
	coco_buf_clear(&b);
	gd_url_encode(&b, "'a b' in parents, (x)~_.-");
	CHECK(str_is(&b, "%27a%20b%27%20in%20parents%2C%20%28x%29~_.-"));
	CHECK(!strcmp(gd_export_mime("application/vnd.google-apps.document"), "text/markdown"));
	CHECK(!strcmp(gd_export_mime("application/vnd.google-apps.spreadsheet"), "text/csv"));
	CHECK(!strcmp(gd_export_mime("application/vnd.google-apps.presentation"), "text/plain"));
	CHECK(!strcmp(gd_export_mime("application/pdf"), ""));
	CHECK(gd_export_mime("application/vnd.google-apps.form") == NULL);
	CHECK(gd_export_mime("application/vnd.google-apps.map") == NULL);
	CHECK(gd_export_mime("application/vnd.google-apps.folder") == NULL);
	CHECK(gd_export_mime(NULL) == NULL);
	coco_buf_clear(&b);
	gd_ordinal(&b, 0x0102030405060708LL, "a/b.md");
	CHECK(b.n == 14 && b.p[0] == 0x08 && b.p[7] == 0x01 && !memcmp(b.p + 8, "a/b.md", 6));
	coco_buf_free(&b);
	char *j = gd_join("", "a.md");
	CHECK(!strcmp(j, "a.md"));
	free(j);
	j = gd_join("x/y", "");
	CHECK(!strcmp(j, "x/y/(untitled)"));
	free(j);
}

static void test_map(void)
{
	gd_map m = {0};
	char k[32];
	int bad = 0;
	for (int i = 0; i < 5000; i++) {
		snprintf(k, sizeof k, "id-%d", i);
		bad += gd_map_put(&m, k, (void *)(intptr_t)(i + 1)) != NULL;
	}
	CHECK(bad == 0);
	CHECK(m.n == 5000);
	CHECK(gd_map_put(&m, "id-7", (void *)99) == (void *)8);
	CHECK(gd_map_get(&m, "id-7") == (void *)99 && gd_map_get(&m, "id-4999") == (void *)5000);
	CHECK(gd_map_get(&m, "nope") == NULL);
	for (int i = 0; i < 5000; i += 2) {
		snprintf(k, sizeof k, "id-%d", i);
		bad += gd_map_del(&m, k) == NULL;
	}
	CHECK(bad == 0);
	CHECK(m.n == 2500 && gd_map_get(&m, "id-2") == NULL && gd_map_get(&m, "id-3") == (void *)4);
	size_t i = 0, seen = 0;
	for (gd_ment *e = gd_map_next(&m, &i, NULL); e; e = gd_map_next(&m, &i, e))
		seen++;
	CHECK(seen == 2500);
	gd_map_clear(&m, NULL);
	CHECK(m.n == 0 && gd_map_get(&m, "id-3") == NULL);
}

int main(void)
{
	test_b64url();
	test_jwt();
	test_pages();
	test_errors();
	test_helpers();
	test_map();
	return CHECK_DONE();
}
