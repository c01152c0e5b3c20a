#pragma once
/* Private to the GoogleDrive source: what auth.c, api.c, gdrive.c and
 * changes.c share, and what the C tests reach. Not part of any public API. */
#include <stdint.h>
#include <stddef.h>

#include "engine/ops.h"
#include "engine/http.h"
#include "engine/prefetch.h"
#include "connectors/localfile/glob.h"

#define GD_SCOPE "https://www.googleapis.com/auth/drive.readonly"
#define GD_DEFAULT_API "https://www.googleapis.com/drive/v3"
#define GD_DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"
#define GD_FOLDER_MIME "application/vnd.google-apps.folder"
#define GD_SHORTCUT_MIME "application/vnd.google-apps.shortcut"

/* ---- a string-keyed hash map (ids to pointers) ---------------------------- */
typedef struct gd_ment {
	char *key;                   /* malloc'd */
	void *val;
	struct gd_ment *next;
} gd_ment;

typedef struct gd_map {
	gd_ment **b;
	size_t cap, n;               /* cap: a power of two, or 0 */
} gd_map;

void *gd_map_get(const gd_map *m, const char *key);
/* Sets key to val; returns the value it replaces (NULL if none). */
void *gd_map_put(gd_map *m, const char *key, void *val);
/* Removes key; returns its value (NULL if absent). */
void *gd_map_del(gd_map *m, const char *key);
/* Calls fn on every value (for freeing), then empties the map. */
void gd_map_clear(gd_map *m, void (*fn)(void *val));
/* Iteration: *i starts at 0; returns the next entry, or NULL at the end.
 * The map must not change meanwhile. */
gd_ment *gd_map_next(const gd_map *m, size_t *i, gd_ment *e);

/* ---- auth.c: service-account credentials, JWT, access tokens -------------- */
/* base64url without padding (RFC 7515), appended to out. */
void gd_b64url(coco_buf *out, const void *p, size_t n);

typedef struct gd_cred {
	char *email;                 /* client_email: the JWT's iss */
	char *key_id;                /* private_key_id, or NULL */
	char *token_uri;             /* token_uri, else Google's */
	void *pkey;                  /* EVP_PKEY *, from private_key (the PEM is wiped) */
} gd_cred;

/* The service-account key file's JSON text (its path names it in
 * messages; the key itself never shows):
 *   GoogleDrive: service account file '/p/key.json' is not JSON (byte 1: ...)
 *   GoogleDrive: service account file '/p/key.json' has no private_key ... */
int gd_cred_parse(const char *json, size_t n, const char *path, gd_cred *c, char **err);
void gd_cred_free(gd_cred *c);
/* The signed assertion for the jwt-bearer grant, RS256: header (with kid),
 * claims iss, scope, aud = token_uri, iat = now, exp = now + 3600. */
int gd_jwt(const gd_cred *c, const char *scope, int64_t now, coco_buf *out, char **err);

/* ---- api.c: Drive v3 JSON ------------------------------------------------- */
/* One file resource (strings decoded, in the arena). Absent members: NULL,
 * and -1 for version and size. */
typedef struct gd_meta {
	const char *id, *name, *mime, *mtime, *parent;  /* parent: parents[0] */
	const char *target, *target_mime;               /* shortcutDetails */
	int64_t version, size;
	int trashed;
} gd_meta;

typedef struct gd_change {
	const char *file_id;
	int removed;
	int has_file;
	gd_meta file;
} gd_change;

/* A files.list or changes.list page. */
typedef struct gd_page {
	gd_meta *files;
	size_t nfiles, capfiles;
	gd_change *changes;
	size_t nchanges, capchanges;
	const char *next_token;      /* nextPageToken, or NULL */
	const char *new_start_token; /* newStartPageToken (changes), or NULL */
} gd_page;

/* Parse a file resource (files.get). -1 when it is not a JSON object with
 * an id. */
int gd_parse_meta(const char *json, size_t n, coco_arena *a, gd_meta *m);
/* Parse a files.list page ("files") or a changes.list page ("changes");
 * -1 with *err ("not JSON at byte 12: ...", "no files array") otherwise. */
int gd_parse_page(const char *json, size_t n, coco_arena *a, gd_page *p, char **err);
/* The error document of a Drive API answer: {"error": {"code", "message",
 * "errors": [{"reason"}]}} or the token endpoint's {"error": "invalid_grant",
 * "error_description": ...}. reason and message are appended ("" when
 * absent). */
void gd_parse_error(const char *json, size_t n, coco_buf *reason, coco_buf *message);
/* 1 when a Drive answer should be retried after a pause: 403 with reason
 * userRateLimitExceeded or rateLimitExceeded (other 403s are errors).
 * (429 and 5xx are retried by the HTTP client.) */
int gd_rate_limited(long status, const char *body, size_t n);
/* Percent-encode everything but unreserved bytes. */
void gd_url_encode(coco_buf *out, const char *s);
/* The files.list q of a folder's children: '<id>' in parents and trashed = false
 * (quotes and backslashes in the id escaped). */
void gd_children_query(coco_buf *out, const char *folder_id);
/* What a file's content is read as: the export MIME type of a Google
 * Workspace type (Docs: text/markdown, Sheets: text/csv, Slides:
 * text/plain, Drawings: image/svg+xml, Apps Script: its JSON), "" for a
 * blob (downloaded as is), NULL when it has no content to read (Forms,
 * Maps, Sites, folders...). */
const char *gd_export_mime(const char *mime);
/* The ordinal of a row: version (8 bytes little-endian) then the path. */
void gd_ordinal(coco_buf *out, int64_t version, const char *path);

/* ---- gdrive.c: the source ------------------------------------------------- */
enum { GD_FOLDER = 1, GD_FILE, GD_SHORTCUT };

/* What the source knows of an item under its roots (or, path NULL, a folder
 * known to be outside them: a cache for change capture). */
typedef struct gd_node {
	char *id;
	char *path;                  /* under its root: "" for a root, "a/b.md"; NULL: outside */
	char *parent;                /* the folder it was found in; NULL for roots */
	char *via;                   /* the shortcut it was reached through, or NULL */
	char *mime, *mtime;          /* the file's own MIME type; modifiedTime */
	char *target;                /* shortcuts: the target's id */
	int64_t version, size;
	uint8_t kind;                /* GD_FOLDER, GD_FILE, GD_SHORTCUT */
	uint8_t skip;                /* a file that is not a row: GD_SKIP_* */
	uint8_t root;                /* one of root_folder_ids */
} gd_node;

enum { GD_ROW = 0, GD_SKIP_PATTERN, GD_SKIP_LARGE, GD_SKIP_NOEXPORT };

typedef struct gd_watch gd_watch;

typedef struct gd_src {
	coco_arena mem;              /* owns the option strings below */
	const char **roots;
	size_t nroots;
	coco_globsel sel;            /* included_patterns, excluded_patterns */
	int binary;
	int strict;                  /* decode_errors = "strict": invalid text is a row error */
	int64_t max_size;            /* -1: no limit */
	double poll_s;               /* recent_changes_poll_interval; 0: none */
	const char *api;             /* "https://www.googleapis.com/drive/v3", no trailing '/' */
	const char *cred_path;       /* absolute */
	gd_cred cred;
	char *token;                 /* access token (wiped on close), or NULL */
	double token_until;          /* monotonic ms: refresh from then on */
	coco_http *http;
	coco_http_opts ho;
	unsigned rnd;
	gd_map nodes;                /* id -> gd_node */
	coco_prefetch *pf;           /* downloads started ahead of read() */
	uint64_t nlarge, nnoexport;  /* skipped by the last listing */
	uint64_t rep_large, rep_noexport;
	gd_watch *w;                 /* change capture, NULL until watch() */
} gd_src;

void gd_node_free(void *n);
/* Classify a file at path: GD_ROW or why it is skipped. */
int gd_classify(const gd_src *g, const char *path, const char *mime, int64_t size);
/* An access token, fetched or refreshed when missing or about to expire
 * (force: refresh now). -1 with *err naming the token endpoint. */
int gd_token(gd_src *g, int force, char **err);
/* GET url with the bearer token; 401 refreshes the token once, 403 rate
 * limits are retried with backoff (429/5xx by the HTTP client). 0 with *r
 * (any status), -1 with *err when no token could be had. */
int gd_get(gd_src *g, const char *url, size_t max_body, coco_http_resp *r, char **err);
/* "GoogleDrive: <what>: <reason>: <message> (HTTP 403)", or the transport
 * failure. Returns -1. */
int gd_fail(const gd_src *g, const char *what, const coco_http_resp *r, char **err);
/* files.get of one item's metadata into m (memory from a). 0 ok, 1 not
 * found (404), -1 error. */
int gd_get_meta(gd_src *g, const char *id, coco_arena *a, gd_meta *m, char **err);
/* Walk folders breadth-first, adding what is under them to g->nodes. The
 * queue holds folder nodes already in the map. on_file is called for each
 * file node added. -1 with *err when a page could not be listed. */
int gd_walk(gd_src *g, gd_node **queue, size_t nq,
	int (*on_file)(void *ud, gd_node *n), void *ud, char **err);
/* A file node for meta m at path, classified (skip), put in the map in
 * place of what had that id. */
gd_node *gd_add_file(gd_src *g, const gd_meta *m, const char *id, const char *path,
	const char *parent);
/* The node of id when it is under a root (has a path), else NULL. */
gd_node *gd_reached(const gd_src *g, const char *id);
/* The folder node of id, from the map or looked up (files.get, up the
 * parents) and remembered; *out->path is NULL when it is not under a root.
 * -1 with *err when a lookup failed. */
int gd_locate_folder(gd_src *g, const char *id, const gd_node **out, int depth, char **err);
/* A new node (strings copied). */
gd_node *gd_node_new(uint8_t kind, const char *id, const char *path, const char *parent,
	const gd_meta *m);
/* The path of child `name` in a folder at path dir ("" for a root). */
char *gd_join(const char *dir, const char *name);

/* ---- changes.c: change capture through the changes feed ------------------- */
int gd_watch_start(void *src, int *fd, char **err);
int gd_watch_read(void *src, coco_change_cb cb, void *ud, char **err);
void gd_committed(void *src, const coco_value *keys, size_t n);
void gd_watch_free(gd_watch *w);
