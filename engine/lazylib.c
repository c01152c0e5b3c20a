/* libcurl, libpq and libcrypto, loaded when first used rather than at
 * process start.
 *
 * Linking them pulls some twenty more shared libraries into every process
 * (gnutls, ldap, krb5, sasl, rtmp, ssh2, ...): ~6 ms of start-up for each
 * `coco` run and for every `require "coco"`, though most flows (LocalFile ->
 * SQLite) never make an HTTP request, open a Postgres connection or sign a
 * Google token. So coco is not linked to them: the functions it uses are
 * defined here, and the first call of a library's function opens it
 * (dlopen, once, thread-safe) and resolves all of its functions. The
 * libraries are the same Debian packages; one missing is a broken install,
 * said plainly before abort. */
#define CURL_DISABLE_TYPECHECK        /* curl_easy_setopt is a function here */
#include <curl/curl.h>
#include <libpq-fe.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* X(return type, name, (parameters), (arguments)) */
#define CURL_FNS(X) \
	X(CURLcode, curl_global_init, (long flags), (flags)) \
	X(CURL *, curl_easy_init, (void), ()) \
	X(void, curl_easy_cleanup, (CURL *c), (c)) \
	X(void, curl_easy_reset, (CURL *c), (c)) \
	X(const char *, curl_easy_strerror, (CURLcode e), (e)) \
	X(CURLM *, curl_multi_init, (void), ()) \
	X(CURLMcode, curl_multi_cleanup, (CURLM *m), (m)) \
	X(CURLMcode, curl_multi_add_handle, (CURLM *m, CURL *c), (m, c)) \
	X(CURLMcode, curl_multi_remove_handle, (CURLM *m, CURL *c), (m, c)) \
	X(CURLMsg *, curl_multi_info_read, (CURLM *m, int *left), (m, left)) \
	X(CURLMcode, curl_multi_perform, (CURLM *m, int *running), (m, running)) \
	X(CURLMcode, curl_multi_poll, (CURLM *m, struct curl_waitfd fds[], unsigned int nfds, \
		int timeout_ms, int *numfds), (m, fds, nfds, timeout_ms, numfds)) \
	X(CURLMcode, curl_multi_wakeup, (CURLM *m), (m)) \
	X(struct curl_slist *, curl_slist_append, (struct curl_slist *l, const char *s), (l, s)) \
	X(void, curl_slist_free_all, (struct curl_slist *l), (l))

/* the variadic ones: their last argument is read by its type below */
#define CURL_VFNS(X) \
	X(CURLcode, curl_easy_setopt, (CURL *, CURLoption, ...)) \
	X(CURLcode, curl_easy_getinfo, (CURL *, CURLINFO, ...)) \
	X(CURLMcode, curl_multi_setopt, (CURLM *, CURLMoption, ...))

#define PQ_FNS(X) \
	X(PGconn *, PQconnectdbParams, (const char *const *k, const char *const *v, int expand), \
		(k, v, expand)) \
	X(void, PQfinish, (PGconn *c), (c)) \
	X(ConnStatusType, PQstatus, (const PGconn *c), (c)) \
	X(PGTransactionStatusType, PQtransactionStatus, (const PGconn *c), (c)) \
	X(char *, PQerrorMessage, (const PGconn *c), (c)) \
	X(PQnoticeProcessor, PQsetNoticeProcessor, (PGconn *c, PQnoticeProcessor p, void *arg), \
		(c, p, arg)) \
	X(PQconninfoOption *, PQconninfoParse, (const char *s, char **errmsg), (s, errmsg)) \
	X(void, PQconninfoFree, (PQconninfoOption *o), (o)) \
	X(PGresult *, PQexec, (PGconn *c, const char *q), (c, q)) \
	X(PGresult *, PQexecParams, (PGconn *c, const char *q, int n, const Oid *types, \
		const char *const *vals, const int *lens, const int *fmts, int rfmt), \
		(c, q, n, types, vals, lens, fmts, rfmt)) \
	X(PGresult *, PQprepare, (PGconn *c, const char *name, const char *q, int n, \
		const Oid *types), (c, name, q, n, types)) \
	X(PGresult *, PQexecPrepared, (PGconn *c, const char *name, int n, const char *const *vals, \
		const int *lens, const int *fmts, int rfmt), (c, name, n, vals, lens, fmts, rfmt)) \
	X(ExecStatusType, PQresultStatus, (const PGresult *r), (r)) \
	X(char *, PQresultErrorMessage, (const PGresult *r), (r)) \
	X(char *, PQresultErrorField, (const PGresult *r, int code), (r, code)) \
	X(int, PQntuples, (const PGresult *r), (r)) \
	X(char *, PQgetvalue, (const PGresult *r, int row, int col), (r, row, col)) \
	X(int, PQgetlength, (const PGresult *r, int row, int col), (r, row, col)) \
	X(int, PQgetisnull, (const PGresult *r, int row, int col), (r, row, col)) \
	X(void, PQclear, (PGresult *r), (r)) \
	X(void, PQfreemem, (void *p), (p)) \
	X(unsigned char *, PQunescapeBytea, (const unsigned char *s, size_t *n), (s, n)) \
	X(int, PQsocket, (const PGconn *c), (c)) \
	X(int, PQconsumeInput, (PGconn *c), (c)) \
	X(PGnotify *, PQnotifies, (PGconn *c), (c))

/* what GoogleDrive's RS256 signing and AzureBlob's SharedKey signing use */
#define CRYPTO_FNS(X) \
	X(BIO *, BIO_new_mem_buf, (const void *buf, int len), (buf, len)) \
	X(int, BIO_free, (BIO *b), (b)) \
	X(EVP_PKEY *, PEM_read_bio_PrivateKey, (BIO *b, EVP_PKEY **x, pem_password_cb *cb, void *u), \
		(b, x, cb, u)) \
	X(int, EVP_PKEY_get_base_id, (const EVP_PKEY *k), (k)) \
	X(void, EVP_PKEY_free, (EVP_PKEY *k), (k)) \
	X(const EVP_MD *, EVP_sha256, (void), ()) \
	X(EVP_MD_CTX *, EVP_MD_CTX_new, (void), ()) \
	X(void, EVP_MD_CTX_free, (EVP_MD_CTX *c), (c)) \
	X(int, EVP_DigestSignInit, (EVP_MD_CTX *c, EVP_PKEY_CTX **pc, const EVP_MD *md, ENGINE *e, \
		EVP_PKEY *k), (c, pc, md, e, k)) \
	X(int, EVP_DigestSign, (EVP_MD_CTX *c, unsigned char *sig, size_t *nsig, \
		const unsigned char *tbs, size_t ntbs), (c, sig, nsig, tbs, ntbs)) \
	X(unsigned char *, HMAC, (const EVP_MD *md, const void *key, int nkey, const unsigned char *d, \
		size_t nd, unsigned char *out, unsigned int *nout), (md, key, nkey, d, nd, out, nout)) \
	X(int, EVP_EncodeBlock, (unsigned char *t, const unsigned char *f, int n), (t, f, n)) \
	X(int, EVP_DecodeBlock, (unsigned char *t, const unsigned char *f, int n), (t, f, n)) \
	X(unsigned long, ERR_get_error, (void), ()) \
	X(void, ERR_error_string_n, (unsigned long e, char *buf, size_t len), (e, buf, len)) \
	X(void, ERR_clear_error, (void), ())

#define PTR(ret, name, params, ...) static ret(*p_##name) params;
CURL_FNS(PTR)
CURL_VFNS(PTR)
PQ_FNS(PTR)
CRYPTO_FNS(PTR)
#undef PTR

static void *open_lib(const char *const *names)
{
	for (const char *const *n = names; *n; n++) {
		void *h = dlopen(*n, RTLD_NOW | RTLD_LOCAL);
		if (h)
			return h;
	}
	fprintf(stderr, "coco: cannot load %s: %s (install it: make deps)\n", names[0], dlerror());
	abort();
}

static void *resolve(void *h, const char *name)
{
	void *p = dlsym(h, name);
	if (!p) {
		fprintf(stderr, "coco: cannot find %s in its library: %s\n", name, dlerror());
		abort();
	}
	return p;
}

#define RESOLVE(ret, name, params, ...) *(void **)&p_##name = resolve(h, #name);

static void load_curl(void)
{
	static const char *const names[] = { "libcurl.so.4", "libcurl-gnutls.so.4", NULL };
	void *h = open_lib(names);
	CURL_FNS(RESOLVE)
	CURL_VFNS(RESOLVE)
}

static void load_pq(void)
{
	static const char *const names[] = { "libpq.so.5", NULL };
	void *h = open_lib(names);
	PQ_FNS(RESOLVE)
}

static void load_crypto(void)
{
	static const char *const names[] = { "libcrypto.so.3", NULL };
	void *h = open_lib(names);
	CRYPTO_FNS(RESOLVE)
}
#undef RESOLVE

static pthread_once_t curl_once = PTHREAD_ONCE_INIT, pq_once = PTHREAD_ONCE_INIT,
	crypto_once = PTHREAD_ONCE_INIT;

#define CURL_DEF(ret, name, params, args) \
	ret name params { pthread_once(&curl_once, load_curl); return p_##name args; }
#define PQ_DEF(ret, name, params, args) \
	ret name params { pthread_once(&pq_once, load_pq); return p_##name args; }
#define CRYPTO_DEF(ret, name, params, args) \
	ret name params { pthread_once(&crypto_once, load_crypto); return p_##name args; }
CURL_FNS(CURL_DEF)
PQ_FNS(PQ_DEF)
CRYPTO_FNS(CRYPTO_DEF)
#undef CURL_DEF
#undef PQ_DEF
#undef CRYPTO_DEF

/* An option's argument, by the range its number is in (curl.h's
 * CURLOPTTYPE_*): long, a pointer (object, string, list, callback data), a
 * function, a curl_off_t, a blob pointer. */
#define SETOPT(fn, h, opt) do { \
	va_list ap; \
	va_start(ap, opt); \
	long kind = (long)(opt) / 10000 * 10000; \
	__typeof__(p_##fn(h, opt, 0L)) rc; \
	if (kind == CURLOPTTYPE_LONG) \
		rc = p_##fn(h, opt, va_arg(ap, long)); \
	else if (kind == CURLOPTTYPE_FUNCTIONPOINT) \
		rc = p_##fn(h, opt, va_arg(ap, void (*)(void))); \
	else if (kind == CURLOPTTYPE_OFF_T) \
		rc = p_##fn(h, opt, va_arg(ap, curl_off_t)); \
	else \
		rc = p_##fn(h, opt, va_arg(ap, void *)); \
	va_end(ap); \
	return rc; \
} while (0)

CURLcode curl_easy_setopt(CURL *c, CURLoption opt, ...)
{
	pthread_once(&curl_once, load_curl);
	SETOPT(curl_easy_setopt, c, opt);
}

CURLMcode curl_multi_setopt(CURLM *m, CURLMoption opt, ...)
{
	pthread_once(&curl_once, load_curl);
	SETOPT(curl_multi_setopt, m, opt);
}

/* every CURLINFO_* takes a pointer */
CURLcode curl_easy_getinfo(CURL *c, CURLINFO info, ...)
{
	pthread_once(&curl_once, load_curl);
	va_list ap;
	va_start(ap, info);
	CURLcode rc = p_curl_easy_getinfo(c, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}
