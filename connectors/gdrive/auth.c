/* GoogleDrive: service-account credentials and the JWT-bearer assertion
 * (RFC 7523), signed RS256 with OpenSSL. The private key is parsed once at
 * open and its PEM text wiped; neither it nor any token is ever put in a
 * message. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "connectors/gdrive/gdrive_int.h"
#include "engine/functions/json.h"

void gd_b64url(coco_buf *out, const void *p, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *s = p;
	coco_buf_reserve(out, (n + 2) / 3 * 4);
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		char q[4] = { tab[v >> 18], tab[(v >> 12) & 63], tab[(v >> 6) & 63], tab[v & 63] };
		coco_buf_add(out, q, 4);
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)s[i] << 16;
		char q[2] = { tab[v >> 18], tab[(v >> 12) & 63] };
		coco_buf_add(out, q, 2);
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
		char q[3] = { tab[v >> 18], tab[(v >> 12) & 63], tab[(v >> 6) & 63] };
		coco_buf_add(out, q, 3);
	}
}

static void wipe_buf(coco_buf *b)
{
	if (b->p)
		explicit_bzero(b->p, b->cap);
	coco_buf_free(b);
}

int gd_cred_parse(const char *json, size_t n, const char *path, gd_cred *c, char **err)
{
	memset(c, 0, sizeof *c);
	size_t at;
	const char *why;
	if (coco_json_check(json, n, &at, &why))
		return coco_seterr(err, "GoogleDrive: service account file '%s' is not JSON (byte %zu: %s); "
			"download a JSON key of the service account", path, at + 1, why);
	coco_json_trim(&json, &n);
	if (n == 0 || json[0] != '{')
		return coco_seterr(err, "GoogleDrive: service account file '%s' is not a JSON object", path);
	coco_buf b = {0};
	int rc = -1;
	if (!coco_json_get_str(json, n, "type", &b) && strcmp(b.p, "service_account")) {
		coco_seterr(err, "GoogleDrive: service account file '%s' is of type '%s', not "
			"'service_account' (a user's OAuth client or token file will not do)", path, b.p);
		goto out;
	}
	if (coco_json_get_str(json, n, "client_email", &b) || !b.n) {
		coco_seterr(err, "GoogleDrive: service account file '%s' has no client_email", path);
		goto out;
	}
	c->email = coco_strdup(b.p);
	if (!coco_json_get_str(json, n, "private_key_id", &b) && b.n)
		c->key_id = coco_strdup(b.p);
	if (!coco_json_get_str(json, n, "token_uri", &b) && b.n)
		c->token_uri = coco_strdup(b.p);
	else
		c->token_uri = coco_strdup(GD_DEFAULT_TOKEN_URI);
	if (strncmp(c->token_uri, "https://", 8) && strncmp(c->token_uri, "http://", 7)) {
		coco_seterr(err, "GoogleDrive: service account file '%s': token_uri '%s' is not an "
			"http(s):// URL", path, c->token_uri);
		goto out;
	}
	if (coco_json_get_str(json, n, "private_key", &b) || !b.n) {
		coco_seterr(err, "GoogleDrive: service account file '%s' has no private_key (create a JSON "
			"key for service account '%s')", path, c->email);
		goto out;
	}
	BIO *bio = BIO_new_mem_buf(b.p, (int)b.n);
	EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	ERR_clear_error();
	if (!k) {
		coco_seterr(err, "GoogleDrive: service account file '%s': private_key is not a PEM "
			"private key", path);
		goto out;
	}
	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
		EVP_PKEY_free(k);
		coco_seterr(err, "GoogleDrive: service account file '%s': private_key is not an RSA key "
			"(RS256 needs one)", path);
		goto out;
	}
	c->pkey = k;
	rc = 0;
out:
	wipe_buf(&b);
	if (rc)
		gd_cred_free(c);
	return rc;
}

void gd_cred_free(gd_cred *c)
{
	free(c->email);
	free(c->key_id);
	free(c->token_uri);
	EVP_PKEY_free(c->pkey);
	memset(c, 0, sizeof *c);
}

int gd_jwt(const gd_cred *c, const char *scope, int64_t now, coco_buf *out, char **err)
{
	coco_buf h = {0}, cl = {0};
	coco_buf_adds(&h, "{\"alg\":\"RS256\",\"typ\":\"JWT\"");
	if (c->key_id) {
		coco_buf_adds(&h, ",\"kid\":");
		coco_json_str(&h, c->key_id, strlen(c->key_id));
	}
	coco_buf_putc(&h, '}');
	coco_buf_adds(&cl, "{\"iss\":");
	coco_json_str(&cl, c->email, strlen(c->email));
	coco_buf_adds(&cl, ",\"scope\":");
	coco_json_str(&cl, scope, strlen(scope));
	coco_buf_adds(&cl, ",\"aud\":");
	coco_json_str(&cl, c->token_uri, strlen(c->token_uri));
	coco_buf_printf(&cl, ",\"iat\":%lld,\"exp\":%lld}", (long long)now, (long long)now + 3600);
	coco_buf_clear(out);
	gd_b64url(out, h.p, h.n);
	coco_buf_putc(out, '.');
	gd_b64url(out, cl.p, cl.n);
	coco_buf_free(&h);
	coco_buf_free(&cl);

	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t nsig = 0;
	int ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, c->pkey) == 1 &&
		EVP_DigestSign(md, NULL, &nsig, (const unsigned char *)out->p, out->n) == 1 &&
		(sig = malloc(nsig)) &&
		EVP_DigestSign(md, sig, &nsig, (const unsigned char *)out->p, out->n) == 1;
	EVP_MD_CTX_free(md);
	if (!ok) {
		unsigned long e = ERR_get_error();
		char msg[256];
		ERR_error_string_n(e, msg, sizeof msg);
		ERR_clear_error();
		free(sig);
		return coco_seterr(err, "GoogleDrive: cannot sign the token request with the key of '%s': %s",
			c->email, e ? msg : "error");
	}
	coco_buf_putc(out, '.');
	gd_b64url(out, sig, nsig);
	free(sig);
	return 0;
}
