#pragma once
/* libpq connection strings with a password: what Postgres connectors
 * store and show is the string without it; the password is remembered in
 * this process (engine/secret.h) and given to libpq when connecting. */
#include "engine/buf.h"

/* The connection string s without its password, into out (cleared): s
 * itself when it holds none, else its settings as key='value' pairs.
 * Remembers the password for that form. what: "Postgres" for messages.
 * -1 with *err (no secret in it) when s does not parse. */
int coco_pg_conninfo_store(const char *s, coco_buf *out, const char *what, char **err);

/* The password to connect with a stored connection string: the value of
 * the environment variable penv (password_env), else the one remembered
 * for the string. *pw is malloc'd or NULL (libpq then uses PGPASSWORD,
 * ~/.pgpass or a service file); -1 with *err when penv is not set. */
int coco_pg_password(const char *conninfo, const char *penv, const char *what, char **pw,
	char **err);

/* ---- what the Postgres target and source both do with libpq ---------------- */
#include <libpq-fe.h>

#include "engine/ops.h"

#define COCO_PG_MAX_IDENT 63   /* NAMEDATALEN - 1: PostgreSQL's limit for names */

/* The connection string of the database option o, else $COCO_DATABASE_URL;
 * NULL when neither is given. */
const char *coco_pg_database(const coco_optval *o);

/* The connection options checked: ci (the given connection string) stored
 * without its password in conninfo (cleared); penv (password_env, NULL when
 * not given) names a variable and does not give the password twice; server
 * (cleared) is "postgres://host:port/dbname" (no user, no password), for
 * messages and resource ids. ctx goes after "Postgres: " in messages:
 *   Postgres: export 'docs': the password is given twice (in the connection
 *   string and by password_env): keep one */
int coco_pg_conn_opts(const char *ci, const char *penv, const char *ctx, coco_buf *conninfo,
	coco_buf *server, char **err);

/* Connects with a stored connection string (no password in it: the
 * password comes from password_env penv, the one remembered for it, else
 * libpq's PGPASSWORD or ~/.pgpass). keys/vals (NULL-terminated) come first
 * (connect_timeout, application_name, ...): the connection string may
 * override them; client_encoding is UTF8. Notices are dropped. On failure
 * NULL and *err "Postgres: cannot connect to SERVER: why", with nopw_hint
 * appended (when not NULL) if libpq found no password. */
PGconn *coco_pg_connect(const char *conninfo, const char *penv, const char *server,
	const char *const *keys, const char *const *vals, const char *nopw_hint, char **err);

/* Appends a libpq message on one line (its newlines as "; "). */
void coco_pg_msg(coco_buf *b, const char *msg);

/* The message of a failed result r (NULL: the connection's) on one line:
 * its primary text when primary, else libpq's whole message. */
void coco_pg_result_msg(coco_buf *b, PGconn *c, PGresult *r, int primary);

/* Runs sql (no result rows wanted); 0, or -1 with *err "Postgres: what:
 * message" (coco_pg_result_msg with primary). */
int coco_pg_exec(PGconn *c, const char *sql, const char *what, int primary, char **err);

/* Appends name[0, n) as an identifier of at most 63 bytes: cut, never in
 * a UTF-8 sequence, and ended with "_" and 16 hex digits of its hash when
 * longer. */
void coco_pg_ident63(coco_buf *out, const char *name, size_t n);
