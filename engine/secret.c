/* Secrets inside option values: redaction for display, and an in-memory
 * table of the secrets taken out of what is stored. See secret.h. */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/secret.h"
#include "engine/sys.h"

static const char *const secret_keys[] = {
	"password", "passwd", "secret", "token", "api_key", "apikey", "access_key", "sig", NULL,
};

/* Length of the secret-named key ending at s + n (the key starts at a
 * word boundary: the string's start, a blank, '?', '&' or ';'), else 0.
 * "sslpassword" counts: it ends in "password". */
static size_t secret_key_before(const char *s, size_t n)
{
	size_t k = n;
	while (k && (isalnum((unsigned char)s[k - 1]) || s[k - 1] == '_'))
		k--;
	if (k && !strchr(" \t\n?&;", s[k - 1]))
		return 0;
	for (int i = 0; secret_keys[i]; i++) {
		size_t m = strlen(secret_keys[i]);
		if (n - k >= m && !strncasecmp(s + n - m, secret_keys[i], m))
			return n - k;
	}
	return 0;
}

/* End of the value starting at v: a quoted value to its closing quote
 * (backslash escapes), else up to a blank, or in a URL query up to '&'
 * or '#'. */
static const char *value_end(const char *v, int in_url)
{
	if (*v == '\'') {
		for (v++; *v && *v != '\''; v++)
			if (*v == '\\' && v[1])
				v++;
		return *v ? v + 1 : v;
	}
	while (*v && !isspace((unsigned char)*v) && !(in_url && (*v == '&' || *v == '#')))
		v++;
	return v;
}

void coco_redact(const char *s, coco_buf *out)
{
	const char *p = s;
	int in_url = 0;
	while (*p) {
		/* user info of a URL: scheme://user:PASSWORD@host */
		if (p[0] == ':' && p[1] == '/' && p[2] == '/') {
			const char *a = p + 3, *end = a;
			while (*end && !strchr("/?#", *end) && !isspace((unsigned char)*end))
				end++;
			const char *at = NULL;
			for (const char *q = a; q < end; q++)
				if (*q == '@')
					at = q;
			const char *colon = at ? memchr(a, ':', (size_t)(at - a)) : NULL;
			in_url = 1;
			if (colon) {
				coco_buf_add(out, p, (size_t)(colon + 1 - p));
				coco_buf_adds(out, "***");
				p = at;
				continue;
			}
			coco_buf_add(out, p, 3);
			p += 3;
			continue;
		}
		if (*p == '=') {
			size_t j = (size_t)(p - s);
			while (j && (s[j - 1] == ' ' || s[j - 1] == '\t'))
				j--;                             /* "password = x" */
			size_t kn = secret_key_before(s, j);
			if (kn) {
				const char *v = p + 1;
				while (*v == ' ' || *v == '\t')
					v++;
				const char *e = value_end(v, in_url);
				coco_buf_putc(out, '=');
				if (e > v)
					coco_buf_adds(out, "***");
				p = e;
				continue;
			}
		}
		if (isspace((unsigned char)*p))
			in_url = 0;
		coco_buf_putc(out, *p++);
	}
	if (!out->p)
		coco_buf_adds(out, "");
}

int coco_has_secret(const char *s)
{
	coco_buf b = {0};
	coco_redact(s, &b);
	int changed = strcmp(b.p, s) != 0;
	coco_buf_free(&b);
	return changed;
}

/* ---- secrets remembered for this process ---------------------------------- */

typedef struct secret {
	struct secret *next;
	char *key, *val;
} secret;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static secret *secrets;

void coco_secret_put(const char *key, const char *val)
{
	pthread_mutex_lock(&mu);
	secret *s;
	for (s = secrets; s && strcmp(s->key, key); s = s->next)
		;
	if (!s) {
		s = coco_xcalloc(1, sizeof *s);
		s->key = coco_strdup(key);
		s->next = secrets;
		secrets = s;
	}
	if (!s->val || strcmp(s->val, val)) {
		free(s->val);
		s->val = coco_strdup(val);
	}
	pthread_mutex_unlock(&mu);
}

char *coco_secret_get(const char *key)
{
	char *v = NULL;
	pthread_mutex_lock(&mu);
	for (secret *s = secrets; s; s = s->next)
		if (!strcmp(s->key, key)) {
			v = coco_strdup(s->val);
			break;
		}
	pthread_mutex_unlock(&mu);
	return v;
}
