#pragma once
/* libpq connection strings with a password: what Postgres connectors
 * store and show is the string without it; the password is remembered in
 * this process (engine/secret.h) and given to libpq when connecting. */
#include "buf.h"

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
