/* libpq connection strings with a password. See pgconn.h. */
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "pgconn.h"
#include "secret.h"

static void add_quoted(coco_buf *b, const char *v)
{
	coco_buf_putc(b, '\'');
	for (; *v; v++) {
		if (*v == '\'' || *v == '\\')
			coco_buf_putc(b, '\\');
		coco_buf_putc(b, *v);
	}
	coco_buf_putc(b, '\'');
}

int coco_pg_conninfo_store(const char *s, coco_buf *out, const char *what, char **err)
{
	coco_buf_clear(out);
	char *msg = NULL;
	PQconninfoOption *opts = PQconninfoParse(s, &msg);
	if (!opts) {
		/* libpq's message may quote the string: keep only what is safe */
		coco_buf m = {0};
		coco_redact(msg ? msg : "out of memory", &m);
		while (m.n && (m.p[m.n - 1] == '\n' || m.p[m.n - 1] == ' '))
			m.p[--m.n] = 0;
		coco_seterr(err, "%s: invalid connection string: %s", what, m.p);
		coco_buf_free(&m);
		PQfreemem(msg);
		return -1;
	}
	const char *pw = NULL;
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (o->val && !strcmp(o->keyword, "password"))
			pw = o->val;
	if (!pw) {
		coco_buf_adds(out, s);
	} else {
		for (PQconninfoOption *o = opts; o->keyword; o++) {
			if (!o->val || !strcmp(o->keyword, "password"))
				continue;
			coco_buf_printf(out, "%s%s=", out->n ? " " : "", o->keyword);
			add_quoted(out, o->val);
		}
		if (!out->p)
			coco_buf_adds(out, "");
		coco_secret_put(out->p, pw);
	}
	PQconninfoFree(opts);
	return 0;
}

int coco_pg_password(const char *conninfo, const char *penv, const char *what, char **pw,
	char **err)
{
	*pw = NULL;
	if (!penv) {
		*pw = coco_secret_get(conninfo);
		return 0;
	}
	const char *v = getenv(penv);
	if (!v)
		return coco_seterr(err, "%s: environment variable %s (password_env) is not set: it must "
			"hold the password", what, penv);
	*pw = coco_strdup(v);
	return 0;
}
