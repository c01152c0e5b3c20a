#pragma once
/* Secrets inside option values (a password in a connection string, a
 * token in a URL): never printed, never stored in the state. Connectors
 * store a form without the secret and recall the secret, in this process
 * only, when they connect. */
#include "engine/buf.h"

/* Appends s to out with its secrets replaced by "***", for messages and
 * `coco show`: the password of a URL's user info
 * ("postgres://u:PW@host/db" -> "postgres://u:***@host/db") and the value
 * of a key named like a secret (password, sslpassword, passwd, secret,
 * token, api_key, apikey, access_key, sig) in a libpq "key=value" string or
 * a URL query ("host=h password='x y'" -> "host=h password=***"). */
void coco_redact(const char *s, coco_buf *out);

/* 1 if coco_redact would change s. */
int coco_has_secret(const char *s);

/* Remember the secret that goes with key (a connection string without its
 * password) for this process; a later put for the same key replaces it. */
void coco_secret_put(const char *key, const char *secret);
/* The secret remembered for key (malloc'd), or NULL. */
char *coco_secret_get(const char *key);
