/* What the Postgres target and source share: connection strings with a
 * password, connecting, messages. See pgconn.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <xxhash.h>

#include "connectors/common/pgconn.h"
#include "engine/secret.h"

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

/* ---- connecting ------------------------------------------------------------ */

const char *coco_pg_database(const coco_optval *o)
{
	if (o->set && o->s && *o->s)
		return o->s;
	const char *env = getenv("COCO_DATABASE_URL");
	return env && *env ? env : NULL;
}

/* "postgres://host:port/dbname" for a connection string (no password). */
static int server_of(const char *conninfo, coco_buf *out, char **err)
{
	char *msg = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);
	if (!opts) {
		PQfreemem(msg);
		return coco_pg_conninfo_store(conninfo, out, "Postgres", err);   /* says why */
	}
	const char *host = NULL, *hostaddr = NULL, *port = NULL, *db = NULL, *user = NULL;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val || !*o->val)
			continue;
		if (!strcmp(o->keyword, "host"))
			host = o->val;
		else if (!strcmp(o->keyword, "hostaddr"))
			hostaddr = o->val;
		else if (!strcmp(o->keyword, "port"))
			port = o->val;
		else if (!strcmp(o->keyword, "dbname"))
			db = o->val;
		else if (!strcmp(o->keyword, "user"))
			user = o->val;
	}
	if (!host)
		host = hostaddr ? hostaddr : getenv("PGHOST");
	if (!port)
		port = getenv("PGPORT");
	if (!user)
		user = getenv("PGUSER");
	if (!db)
		db = getenv("PGDATABASE") ? getenv("PGDATABASE") : user;
	coco_buf_printf(out, "postgres://%s:%s/%s", host && *host ? host : "localhost",
		port && *port ? port : "5432", db && *db ? db : "(default)");
	PQconninfoFree(opts);
	return 0;
}

int coco_pg_conn_opts(const char *ci, const char *penv, const char *ctx, coco_buf *conninfo,
	coco_buf *server, char **err)
{
	coco_buf_clear(server);
	/* stored, shown and connected with without its password */
	if (coco_pg_conninfo_store(ci, conninfo, "Postgres", err) < 0)
		return -1;
	if (penv) {
		if (!*penv || strpbrk(penv, " \t\n="))
			return coco_seterr(err, "Postgres: %spassword_env must name an environment variable, "
				"got \"%s\"", ctx, penv);
		if (strcmp(conninfo->p, ci))
			return coco_seterr(err, "Postgres: %sthe password is given twice (in the connection "
				"string and by password_env): keep one", ctx);
	}
	return server_of(conninfo->p, server, err);
}

static void quiet_notices(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

PGconn *coco_pg_connect(const char *conninfo, const char *penv, const char *server,
	const char *const *keys, const char *const *vals, const char *nopw_hint, char **err)
{
	char *pw;
	if (coco_pg_password(conninfo, penv, "Postgres", &pw, err) < 0)
		return NULL;
	/* later keywords win: client_encoding is forced, the rest are defaults
	 * the connection string may override */
	const char *k[16], *v[16];
	size_t n = 0;
	for (; keys[n] && n < 12; n++) {
		k[n] = keys[n];
		v[n] = vals[n];
	}
	k[n] = "dbname", v[n++] = conninfo;
	k[n] = "client_encoding", v[n++] = "UTF8";
	k[n] = pw ? "password" : NULL, v[n++] = pw;
	k[n] = NULL, v[n] = NULL;
	PGconn *c = PQconnectdbParams(k, v, 1);
	if (pw) {
		memset(pw, 0, strlen(pw));
		free(pw);
	}
	if (!c) {
		coco_seterr(err, "Postgres: cannot connect to %s: out of memory", server);
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		coco_buf b = {0};
		coco_pg_msg(&b, PQerrorMessage(c));
		coco_seterr(err, "Postgres: cannot connect to %s: %s%s", server, b.p,
			nopw_hint && strstr(b.p, "no password supplied") ? nopw_hint : "");
		coco_buf_free(&b);
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, quiet_notices, NULL);
	return c;
}

/* ---- messages and statements ------------------------------------------------ */

void coco_pg_msg(coco_buf *b, const char *msg)
{
	size_t n = msg ? strlen(msg) : 0;
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	for (size_t i = 0; i < n; i++) {
		if (msg[i] == '\n') {
			coco_buf_adds(b, "; ");
			while (i + 1 < n && (msg[i + 1] == ' ' || msg[i + 1] == '\t'))
				i++;
		} else {
			coco_buf_putc(b, msg[i]);
		}
	}
}

void coco_pg_result_msg(coco_buf *b, PGconn *c, PGresult *r, int primary)
{
	const char *m = r && primary ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	coco_pg_msg(b, m ? m : r ? PQresultErrorMessage(r) : NULL);
	if (!b->n)
		coco_pg_msg(b, PQerrorMessage(c));
}

int coco_pg_exec(PGconn *c, const char *sql, const char *what, int primary, char **err)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok) {
		coco_buf b = {0};
		coco_pg_result_msg(&b, c, r, primary);
		coco_seterr(err, "Postgres: %s: %s", what, b.p);
		coco_buf_free(&b);
	}
	PQclear(r);
	return ok ? 0 : -1;
}

void coco_pg_ident63(coco_buf *out, const char *name, size_t n)
{
	if (n <= COCO_PG_MAX_IDENT) {
		coco_buf_add(out, name, n);
		return;
	}
	unsigned long long h = (unsigned long long)XXH3_64bits(name, n);
	size_t keep = COCO_PG_MAX_IDENT - 17;
	while (keep && ((unsigned char)name[keep] & 0xc0) == 0x80)
		keep--;             /* never cut a UTF-8 sequence */
	coco_buf_printf(out, "%.*s_%016llx", (int)keep, name, h);
}
