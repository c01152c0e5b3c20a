/* GoogleDrive source: the files under a few Drive folders, read with a
 * service account, as a table keyed by the file id. See README.md beside
 * this file for the contract. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "connectors/gdrive/gdrive_int.h"
#include "engine/keyesc.h"
#include "engine/text.h"
#include "engine/functions/json.h"
#include "engine/sys.h"

enum { OPT_CRED, OPT_ROOTS, OPT_BINARY, OPT_INCLUDED, OPT_EXCLUDED, OPT_MAX_SIZE, OPT_POLL,
	OPT_API, OPT_DECODE };

static const coco_optdef gd_opts[] = {
	{ "service_account_credential_path", COCO_OPT_STR, 0,
		"the service account's JSON key file (default: $GOOGLE_APPLICATION_CREDENTIALS)", 1 },
	{ "root_folder_ids", COCO_OPT_STRLIST, 1, "ids of the folders to index, shared with the service account" },
	{ "binary", COCO_OPT_BOOL, 0, "read content as bytes, not UTF-8 text (default false)" },
	{ "included_patterns", COCO_OPT_STRLIST, 0, "globs of the file paths to index (default: all)" },
	{ "excluded_patterns", COCO_OPT_STRLIST, 0, "globs of the file paths to skip" },
	{ "max_file_size", COCO_OPT_INT, 0, "skip files larger than this many bytes" },
	{ "recent_changes_poll_interval", COCO_OPT_NUM, 0,
		"live mode: seconds between polls of the Drive changes feed (default 10; 0: off)", 1 },
	{ "api_endpoint", COCO_OPT_STR, 0, "Drive v3 API base URL (default " GD_DEFAULT_API ")", 1 },
	COCO_TEXT_OPTDEF,
	{ NULL, 0, 0, NULL },
};

#define PF_WINDOW 64               /* downloads kept started ahead of read() */
#define HTTP_INFLIGHT 16
#define RATE_RETRIES 5             /* 403 rate limits: retries after the first attempt */
#define MAX_REDIRECTS 3
#define LIST_FIELDS "nextPageToken,files(id,name,mimeType,modifiedTime,version,size,parents," \
	"trashed,shortcutDetails(targetId,targetMimeType))"
#define META_FIELDS "id,name,mimeType,modifiedTime,version,size,parents,trashed," \
	"shortcutDetails(targetId,targetMimeType)"

/* ---- nodes ------------------------------------------------------------------ */

static char *dup_or_null(const char *s) { return s ? coco_strdup(s) : NULL; }

gd_node *gd_node_new(uint8_t kind, const char *id, const char *path, const char *parent,
	const gd_meta *m)
{
	gd_node *n = coco_xcalloc(1, sizeof *n);
	n->kind = kind;
	n->id = coco_strdup(id);
	n->path = dup_or_null(path);
	n->parent = dup_or_null(parent);
	n->version = n->size = -1;
	if (m) {
		n->mime = dup_or_null(m->mime);
		n->mtime = dup_or_null(m->mtime);
		n->target = dup_or_null(m->target);
		n->version = m->version;
		n->size = m->size;
	}
	return n;
}

void gd_node_free(void *p)
{
	gd_node *n = p;
	if (!n)
		return;
	free(n->id);
	free(n->path);
	free(n->parent);
	free(n->via);
	free(n->mime);
	free(n->mtime);
	free(n->target);
	free(n);
}

char *gd_join(const char *dir, const char *name)
{
	coco_buf b = {0};
	if (dir && dir[0]) {
		coco_buf_adds(&b, dir);
		coco_buf_putc(&b, '/');
	}
	coco_buf_adds(&b, name && name[0] ? name : "(untitled)");
	return coco_buf_take(&b);
}

int gd_classify(const gd_src *g, const char *path, const char *mime, int64_t size)
{
	if (!coco_globsel_wanted(&g->sel, path, strlen(path)))
		return GD_SKIP_PATTERN;
	if (!gd_export_mime(mime))
		return GD_SKIP_NOEXPORT;
	if (g->max_size >= 0 && size > g->max_size)
		return GD_SKIP_LARGE;
	return GD_ROW;
}

/* ---- options ------------------------------------------------------------------ */

static int check_opts(const coco_optval *opts, gd_src *g, char **err)
{
	const coco_optval *r = &opts[OPT_ROOTS], *max = &opts[OPT_MAX_SIZE], *poll = &opts[OPT_POLL];
	if (!r->set || !r->nlist)
		return coco_seterr(err, "GoogleDrive: option 'root_folder_ids' needs at least one folder id");
	for (size_t i = 0; i < r->nlist; i++)
		if (!r->list[i] || !r->list[i][0])
			return coco_seterr(err, "GoogleDrive: root_folder_ids[%zu] is empty", i + 1);
	if (max->set && max->i < 0)
		return coco_seterr(err, "GoogleDrive: max_file_size must be >= 0 (got %lld)", (long long)max->i);
	if (poll->set && !(poll->num >= 0 && poll->num <= 86400))
		return coco_seterr(err, "GoogleDrive: recent_changes_poll_interval must be between 0 and "
			"86400 seconds (got %g)", poll->num);
	const coco_optval *e = &opts[OPT_API];
	if (e->set && e->s && strncmp(e->s, "http://", 7) && strncmp(e->s, "https://", 8))
		return coco_seterr(err, "GoogleDrive: api_endpoint '%s' must be an http:// or https:// URL", e->s);
	if (coco_globsel_opts(&opts[OPT_INCLUDED], &opts[OPT_EXCLUDED], "GoogleDrive",
			g ? &g->mem : NULL, g ? &g->sel : NULL, err) ||
	    coco_text_errors_opt(&opts[OPT_DECODE], "GoogleDrive", g ? &g->strict : NULL, err))
		return -1;
	return 0;
}

/* Row type: table[file_id: str]{filename, mime_type, modified_time: str, content: str | bytes}. */
static int gd_row_type(const coco_optval *opts, coco_arena *types, const coco_type **out, char **err)
{
	if (check_opts(opts, NULL, err))
		return -1;
	int binary = opts[OPT_BINARY].set && opts[OPT_BINARY].b;
	coco_field f[5] = {
		{ "file_id", &coco_t_str },
		{ "filename", &coco_t_str },
		{ "mime_type", &coco_t_str },
		{ "modified_time", &coco_t_str },
		{ "content", binary ? &coco_t_bytes : &coco_t_str },
	};
	*out = coco_type_table(types, f, 5, 1);
	return 0;
}

/* ---- access tokens -------------------------------------------------------------- */

static void wipe(char **p)
{
	if (*p) {
		explicit_bzero(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

static void wipe_buf(coco_buf *b)
{
	if (b->p)
		explicit_bzero(b->p, b->cap);
	coco_buf_free(b);
}

int gd_token(gd_src *g, int force, char **err)
{
	if (g->token && !force && coco_now_ms() < g->token_until)
		return 0;
	wipe(&g->token);
	coco_buf jwt = {0}, body = {0};
	if (gd_jwt(&g->cred, GD_SCOPE, (int64_t)time(NULL), &jwt, err))
		return -1;
	coco_buf_adds(&body, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=");
	coco_buf_add(&body, jwt.p, jwt.n);
	wipe_buf(&jwt);
	const char *hdrs[] = { "Content-Type: application/x-www-form-urlencoded", NULL };
	coco_http_req rq = { .method = "POST", .url = g->cred.token_uri, .headers = hdrs,
		.body = body.p, .nbody = body.n, .timeout_ms = 30000 };
	coco_http_opts to = g->ho;
	to.max_retries = 2;             /* an endpoint that is down is said so within a second */
	coco_http *h = coco_http_create(&to);
	coco_http_resp r;
	double t0 = coco_now_ms();
	coco_http_do(h, &rq, &r);
	coco_http_destroy(h);
	wipe_buf(&body);
	int rc = -1;
	const char *ak = g->cred.key_id ? g->cred.key_id : "?";
	if (r.error) {
		coco_seterr(err, "GoogleDrive: cannot get an access token: cannot reach the token endpoint "
			"%s: %s (%d attempt%s)", g->cred.token_uri, r.error, r.attempts, r.attempts == 1 ? "" : "s");
		goto out;
	}
	if (r.status != 200) {
		coco_buf reason = {0}, msg = {0};
		gd_parse_error(r.body.p, r.body.n, &reason, &msg);
		coco_seterr(err, "GoogleDrive: the token endpoint %s refused service account '%s' (key id "
			"'%s'): %s%s%s (HTTP %ld)", g->cred.token_uri, g->cred.email, ak,
			reason.n ? reason.p : "error", msg.n ? ": " : "", msg.n ? msg.p : "", r.status);
		coco_buf_free(&reason);
		coco_buf_free(&msg);
		goto out;
	}
	const char *v;
	size_t nv, at;
	const char *why;
	coco_buf tok = {0};
	if (coco_json_check(r.body.p, r.body.n, &at, &why) ||
	    !coco_json_get(r.body.p, r.body.n, "access_token", 12, &v, &nv) ||
	    coco_json_str_decode(v, nv, &tok) || !tok.n) {
		wipe_buf(&tok);
		coco_seterr(err, "GoogleDrive: the token endpoint %s answered without an access_token",
			g->cred.token_uri);
		goto out;
	}
	long secs = 3600;
	if (coco_json_get(r.body.p, r.body.n, "expires_in", 10, &v, &nv)) {
		long s = strtol(v[0] == '"' ? v + 1 : v, NULL, 10);
		if (s > 0)
			secs = s;
	}
	/* refresh a minute before expiry (half the lifetime for short ones) */
	double margin = secs > 120 ? 60 : secs / 2.0;
	g->token_until = t0 + (secs - margin) * 1e3;
	g->token = coco_buf_take(&tok);
	rc = 0;
out:
	if (r.body.p)
		explicit_bzero(r.body.p, r.body.n);
	coco_http_resp_free(&r);
	return rc;
}

/* ---- requests ------------------------------------------------------------------- */

static int same_origin(const char *a, const char *b)
{
	const char *pa = strstr(a, "://"), *pb = strstr(b, "://");
	if (!pa || !pb)
		return 0;
	size_t na = strcspn(pa + 3, "/?"), nb = strcspn(pb + 3, "/?");
	return (pa - a) == (pb - b) && !strncmp(a, b, (size_t)(pa - a)) && na == nb &&
		!strncmp(pa + 3, pb + 3, na);
}

/* A redirect's target, absolute. */
static char *location(const char *url, const coco_http_resp *r)
{
	size_t n;
	const char *loc = coco_http_header(r, "location", &n);
	if (!loc || !n)
		return NULL;
	coco_buf b = {0};
	if (loc[0] == '/') {
		const char *p = strstr(url, "://");
		if (!p)
			return NULL;
		coco_buf_add(&b, url, (size_t)(p + 3 - url) + strcspn(p + 3, "/?"));
	}
	coco_buf_add(&b, loc, n);
	return coco_buf_take(&b);
}

static void pause_ms(gd_src *g, long ms)
{
	double until = coco_now_ms() + (double)ms;
	for (double now = coco_now_ms(); now < until; now = coco_now_ms())
		coco_http_run(g->http, (long)(until - now) + 1);   /* drives what else is in flight */
}

static int is_redirect(long s) { return s == 301 || s == 302 || s == 303 || s == 307 || s == 308; }

int gd_get(gd_src *g, const char *url, size_t max_body, coco_http_resp *r, char **err)
{
	char *cur = coco_strdup(url);
	int refreshed = 0, redirects = 0;
	memset(r, 0, sizeof *r);
	for (int attempt = 1;; attempt++) {
		int own = same_origin(cur, url);
		if (own && gd_token(g, 0, err)) {
			free(cur);
			return -1;
		}
		coco_buf auth = {0};
		if (own)
			coco_buf_printf(&auth, "Authorization: Bearer %s", g->token);
		const char *hdrs[] = { own ? auth.p : NULL, NULL };
		coco_http_req rq = { .url = cur, .headers = hdrs, .max_body = max_body };
		coco_http_do(g->http, &rq, r);
		wipe_buf(&auth);
		if (r->status == 401 && own && !refreshed) {
			refreshed = 1;                 /* expired or revoked early: once more, new token */
			coco_http_resp_free(r);
			if (gd_token(g, 1, err)) {
				free(cur);
				return -1;
			}
			continue;
		}
		if (gd_rate_limited(r->status, r->body.p, r->body.n) && attempt <= RATE_RETRIES) {
			size_t n;
			const char *ra = coco_http_header(r, "retry-after", &n);
			long ra_ms = coco_http_retry_after_ms(ra, ra ? n : 0, (long long)time(NULL));
			coco_http_resp_free(r);
			g->rnd = g->rnd * 1103515245u + 12345u;
			pause_ms(g, coco_http_backoff(&g->ho, attempt, ra_ms, g->rnd >> 8));
			continue;
		}
		if (is_redirect(r->status) && redirects < MAX_REDIRECTS) {
			char *next = location(cur, r);
			if (next) {
				redirects++;
				free(cur);
				cur = next;
				coco_http_resp_free(r);
				continue;
			}
		}
		free(cur);
		return 0;
	}
}

int gd_fail(const gd_src *g, const char *what, const coco_http_resp *r, char **err)
{
	if (r->error)
		return coco_seterr(err, "GoogleDrive: %s: cannot reach %s: %s (%d attempt%s)", what, g->api,
			r->error, r->attempts, r->attempts == 1 ? "" : "s");
	coco_buf reason = {0}, msg = {0};
	gd_parse_error(r->body.p, r->body.n, &reason, &msg);
	if (reason.n || msg.n)
		coco_seterr(err, "GoogleDrive: %s: %s%s%s (HTTP %ld)", what, reason.n ? reason.p : "",
			reason.n && msg.n ? ": " : "", msg.n ? msg.p : "", r->status);
	else
		coco_seterr(err, "GoogleDrive: %s: HTTP %ld", what, r->status);
	coco_buf_free(&reason);
	coco_buf_free(&msg);
	return -1;
}

int gd_get_meta(gd_src *g, const char *id, coco_arena *a, gd_meta *m, char **err)
{
	coco_buf url = {0};
	coco_buf_printf(&url, "%s/files/", g->api);
	gd_url_encode(&url, id);
	coco_buf_adds(&url, "?supportsAllDrives=true&fields=");
	gd_url_encode(&url, META_FIELDS);
	coco_http_resp r;
	int rc = gd_get(g, url.p, 0, &r, err);
	coco_buf_free(&url);
	if (rc)
		return -1;
	if (r.status == 404) {
		rc = 1;
	} else if (r.status != 200) {
		coco_buf what = {0};
		coco_buf_printf(&what, "cannot get file id '%s'", id);
		rc = gd_fail(g, what.p, &r, err);
		coco_buf_free(&what);
	} else if (gd_parse_meta(r.body.p, r.body.n, a, m)) {
		rc = coco_seterr(err, "GoogleDrive: file id '%s': the answer of files.get is not a file", id);
	}
	coco_http_resp_free(&r);
	return rc;
}

/* ---- listing -------------------------------------------------------------------- */

static void list_url(const gd_src *g, coco_buf *url, const char *folder, const char *token)
{
	coco_buf q = {0};
	gd_children_query(&q, folder);
	coco_buf_clear(url);
	coco_buf_printf(url, "%s/files?pageSize=1000&supportsAllDrives=true&includeItemsFromAllDrives=true"
		"&q=", g->api);
	gd_url_encode(url, q.p);
	coco_buf_adds(url, "&fields=");
	gd_url_encode(url, LIST_FIELDS);
	if (token) {
		coco_buf_adds(url, "&pageToken=");
		gd_url_encode(url, token);
	}
	coco_buf_free(&q);
}

typedef struct walkq {
	gd_node **v;
	size_t n, cap;
} walkq;

static void q_push(walkq *q, gd_node *n)
{
	if (q->n == q->cap) {
		q->cap = q->cap ? 2 * q->cap : 64;
		q->v = coco_xrealloc(q->v, q->cap * sizeof *q->v);
	}
	q->v[q->n++] = n;
}

gd_node *gd_add_file(gd_src *g, const gd_meta *m, const char *id, const char *path,
	const char *parent)
{
	gd_node *n = gd_node_new(GD_FILE, id, path, parent, m);
	n->skip = (uint8_t)gd_classify(g, path, m->mime, m->size);
	gd_node_free(gd_map_put(&g->nodes, id, n));
	return n;
}

gd_node *gd_reached(const gd_src *g, const char *id)
{
	gd_node *n = gd_map_get(&g->nodes, id);
	return n && n->path ? n : NULL;
}

/* A shortcut met while listing, followed once the folders are done: an
 * item's own place under the roots wins over a shortcut to it. */
typedef struct gd_sc {
	char *id, *target, *target_mime, *path, *dir;
} gd_sc;

static void sc_free(gd_sc *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].id);
		free(v[i].target);
		free(v[i].target_mime);
		free(v[i].path);
		free(v[i].dir);
	}
	free(v);
}

/* Follow shortcut sc: a folder target joins the queue, a file target is
 * looked up and added at the shortcut's path. Targets reached already are
 * left where they are (this also breaks cycles). */
static int follow(gd_src *g, const gd_sc *sc, walkq *q, coco_arena *a, int (*on_file)(void *, gd_node *),
	void *ud, int *stop, char **err)
{
	if (!sc->target || gd_reached(g, sc->target))
		return 0;
	if (sc->target_mime && !strcmp(sc->target_mime, GD_FOLDER_MIME)) {
		gd_node *n = gd_node_new(GD_FOLDER, sc->target, sc->path, sc->dir, NULL);
		n->via = coco_strdup(sc->id);
		gd_node_free(gd_map_put(&g->nodes, sc->target, n));
		q_push(q, n);
		return 0;
	}
	gd_meta t;
	int got = gd_get_meta(g, sc->target, a, &t, err);
	if (got < 0)
		return -1;
	if (got == 0 && !t.trashed && t.mime && strcmp(t.mime, GD_SHORTCUT_MIME) &&
	    strcmp(t.mime, GD_FOLDER_MIME)) {
		gd_node *n = gd_add_file(g, &t, sc->target, sc->path, sc->dir);
		n->via = coco_strdup(sc->id);
		*stop = on_file(ud, n);
	}                                       /* else a broken shortcut: nothing */
	return 0;
}

int gd_walk(gd_src *g, gd_node **queue, size_t nq, int (*on_file)(void *ud, gd_node *n), void *ud,
	char **err)
{
	walkq q = {0};
	for (size_t i = 0; i < nq; i++)
		q_push(&q, queue[i]);
	gd_sc *scs = NULL;
	size_t nsc = 0, capsc = 0, isc = 0;
	coco_buf url = {0};
	coco_arena a = {0};
	char *token = NULL, *dir_id = NULL, *dir_path = NULL;
	int rc = -1, stop = 0;
	for (size_t i = 0; !stop;) {
		if (i == q.n) {
			if (isc == nsc)
				break;
			coco_arena_reset(&a);
			if (follow(g, &scs[isc++], &q, &a, on_file, ud, &stop, err))
				goto out;
			continue;
		}
		/* copies: the node may be replaced while its folder is listed */
		free(dir_id);
		free(dir_path);
		dir_id = coco_strdup(q.v[i]->id);
		dir_path = coco_strdup(q.v[i]->path);
		i++;
		int pages = 0;
		do {
			list_url(g, &url, dir_id, token);
			coco_http_resp r;
			if (gd_get(g, url.p, 0, &r, err))
				goto out;
			pages++;
			if (r.status != 200) {
				coco_buf what = {0};
				coco_buf_printf(&what, "cannot list folder '%s' (id %s)", dir_path[0] ? dir_path :
					"/", dir_id);
				gd_fail(g, what.p, &r, err);
				coco_buf_free(&what);
				coco_http_resp_free(&r);
				goto out;
			}
			gd_page pg;
			char *e = NULL;
			coco_arena_reset(&a);
			if (gd_parse_page(r.body.p, r.body.n, &a, &pg, &e)) {
				coco_seterr(err, "GoogleDrive: cannot list folder '%s' (id %s): page %d: %s",
					dir_path[0] ? dir_path : "/", dir_id, pages, e);
				free(e);
				coco_http_resp_free(&r);
				goto out;
			}
			coco_http_resp_free(&r);
			for (size_t k = 0; k < pg.nfiles && !stop; k++) {
				const gd_meta *m = &pg.files[k];
				if (m->trashed || gd_reached(g, m->id))
					continue;               /* reached already: once only */
				char *path = gd_join(dir_path, m->name);
				if (m->mime && !strcmp(m->mime, GD_FOLDER_MIME)) {
					gd_node *n = gd_node_new(GD_FOLDER, m->id, path, dir_id, m);
					gd_node_free(gd_map_put(&g->nodes, m->id, n));
					q_push(&q, n);
				} else if (m->mime && !strcmp(m->mime, GD_SHORTCUT_MIME)) {
					gd_node *s = gd_node_new(GD_SHORTCUT, m->id, path, dir_id, m);
					gd_node_free(gd_map_put(&g->nodes, m->id, s));
					if (nsc == capsc)
						scs = coco_xrealloc(scs, (capsc = 2 * capsc + 16) * sizeof *scs);
					scs[nsc++] = (gd_sc){ coco_strdup(m->id), dup_or_null(m->target),
						dup_or_null(m->target_mime), coco_strdup(path), coco_strdup(dir_id) };
				} else {
					stop = on_file(ud, gd_add_file(g, m, m->id, path, dir_id));
				}
				free(path);
			}
			free(token);
			token = pg.next_token && pg.next_token[0] && !stop ? coco_strdup(pg.next_token) : NULL;
		} while (token);
	}
	rc = 0;
out:
	free(token);
	free(dir_id);
	free(dir_path);
	free(q.v);
	sc_free(scs, nsc);
	coco_buf_free(&url);
	coco_arena_destroy(&a);
	return rc;
}

/* The root folders as nodes of the map, checked: each must exist, be
 * visible to the service account and be a folder. */
static int add_roots(gd_src *g, walkq *q, char **err)
{
	coco_arena a = {0};
	int rc = 0;
	for (size_t i = 0; i < g->nroots && !rc; i++) {
		const char *id = g->roots[i];
		gd_node *have = gd_map_get(&g->nodes, id);
		if (have && have->root)
			continue;                           /* the same id twice */
		gd_meta m;
		int got = gd_get_meta(g, id, &a, &m, err);
		if (got < 0) {
			rc = -1;
		} else if (got == 1) {
			rc = coco_seterr(err, "GoogleDrive: root folder '%s' does not exist or is not shared with "
				"service account '%s'", id, g->cred.email);
		} else if (!m.mime || strcmp(m.mime, GD_FOLDER_MIME)) {
			rc = coco_seterr(err, "GoogleDrive: root folder '%s' ('%s') is a file (%s), not a folder",
				id, m.name ? m.name : "", m.mime ? m.mime : "no MIME type");
		} else if (m.trashed) {
			rc = coco_seterr(err, "GoogleDrive: root folder '%s' ('%s') is in the trash", id,
				m.name ? m.name : "");
		} else {
			gd_node *n = gd_node_new(GD_FOLDER, id, "", NULL, &m);
			n->root = 1;
			gd_node_free(gd_map_put(&g->nodes, id, n));
			q_push(q, n);
		}
	}
	coco_arena_destroy(&a);
	return rc;
}

typedef struct listctx {
	gd_src *g;
	coco_list_cb cb;
	void *ud;
	uint64_t large, noexport;
	coco_buf ord;
} listctx;

static int list_file(void *ud, gd_node *n)
{
	listctx *c = ud;
	if (n->skip == GD_SKIP_LARGE)
		c->large++;
	if (n->skip == GD_SKIP_NOEXPORT)
		c->noexport++;
	if (n->skip)
		return 0;
	coco_buf_clear(&c->ord);
	gd_ordinal(&c->ord, n->version, n->path);
	coco_value k = coco_v_str(n->id, strlen(n->id));
	return c->cb(c->ud, &k, c->ord.p, c->ord.n);
}

/* Every folder to its last page, or -1: a listing that did not reach its
 * end is a failure (the indexer then deletes nothing). The map of what is
 * under the roots is replaced only by a complete listing. */
static int gd_list(void *src, coco_list_cb cb, void *ud, char **err)
{
	gd_src *g = src;
	gd_map old = g->nodes;
	memset(&g->nodes, 0, sizeof g->nodes);
	walkq q = {0};
	listctx c = { .g = g, .cb = cb, .ud = ud };
	int rc = add_roots(g, &q, err);
	if (!rc)
		rc = gd_walk(g, q.v, q.n, list_file, &c, err);
	free(q.v);
	coco_buf_free(&c.ord);
	if (rc) {
		gd_map_clear(&g->nodes, gd_node_free);
		g->nodes = old;
		return -1;
	}
	gd_map_clear(&old, gd_node_free);
	g->nlarge = c.large;
	g->nnoexport = c.noexport;
	if (c.large && c.large != g->rep_large)
		fprintf(stderr, "coco: GoogleDrive: %llu file%s over max_file_size (%lld bytes) skipped\n",
			(unsigned long long)c.large, c.large == 1 ? "" : "s", (long long)g->max_size);
	if (c.noexport && c.noexport != g->rep_noexport)
		fprintf(stderr, "coco: GoogleDrive: %llu Google file%s with no text export (Forms, Maps, "
			"Sites...) skipped\n", (unsigned long long)c.noexport, c.noexport == 1 ? "" : "s");
	g->rep_large = c.large;
	g->rep_noexport = c.noexport;
	return 0;
}

/* ---- open / close --------------------------------------------------------------- */

static void gd_close(void *src)
{
	gd_src *g = src;
	if (!g)
		return;
	gd_watch_free(g->w);
	coco_prefetch_destroy(g->pf);
	coco_http_destroy(g->http);
	gd_map_clear(&g->nodes, gd_node_free);
	gd_cred_free(&g->cred);
	wipe(&g->token);
	coco_arena_destroy(&g->mem);
	free(g);
}

static int read_cred(gd_src *g, char **err)
{
	FILE *f = fopen(g->cred_path, "rb");
	if (!f)
		return coco_seterr(err, "GoogleDrive: cannot read service account file '%s': %s",
			g->cred_path, strerror(errno));
	coco_buf b = {0};
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.n < (1u << 20))
		coco_buf_add(&b, chunk, n);
	explicit_bzero(chunk, sizeof chunk);
	fclose(f);
	int rc = gd_cred_parse(b.p ? b.p : "", b.n, g->cred_path, &g->cred, err);
	wipe_buf(&b);
	return rc;
}

static coco_http_xfer *dl_start(void *src, const char *url);
static int dl_plan(void *src, const char *key, size_t n, coco_buf *url, int64_t *version);

static int gd_open(const coco_optval *opts, const char *base_dir, void **out, char **err)
{
	*out = NULL;
	gd_src *g = calloc(1, sizeof *g);
	if (!g)
		return coco_seterr(err, "GoogleDrive: out of memory");
	if (check_opts(opts, g, err))
		goto fail;
	coco_arena *a = &g->mem;
	const coco_optval *r = &opts[OPT_ROOTS];
	g->roots = coco_arena_alloc(a, r->nlist * sizeof *g->roots);
	for (size_t i = 0; i < r->nlist; i++)
		g->roots[i] = coco_arena_strdup(a, r->list[i]);
	g->nroots = r->nlist;
	g->binary = opts[OPT_BINARY].set && opts[OPT_BINARY].b;
	g->max_size = opts[OPT_MAX_SIZE].set ? opts[OPT_MAX_SIZE].i : -1;
	g->poll_s = opts[OPT_POLL].set ? opts[OPT_POLL].num : 10;
	const char *api = opts[OPT_API].set && opts[OPT_API].s && opts[OPT_API].s[0] ?
		opts[OPT_API].s : GD_DEFAULT_API;
	size_t na = strlen(api);
	while (na && api[na - 1] == '/')
		na--;
	g->api = coco_arena_strndup(a, api, na);

	const char *cp = opts[OPT_CRED].set && opts[OPT_CRED].s && opts[OPT_CRED].s[0] ?
		opts[OPT_CRED].s : getenv("GOOGLE_APPLICATION_CREDENTIALS");
	if (!cp || !cp[0]) {
		coco_seterr(err, "GoogleDrive: set service_account_credential_path (or "
			"GOOGLE_APPLICATION_CREDENTIALS) to the service account's JSON key file");
		goto fail;
	}
	coco_buf p = {0};
	if (cp[0] != '/' && base_dir && base_dir[0])
		coco_buf_printf(&p, "%s/", base_dir);
	coco_buf_adds(&p, cp);
	g->cred_path = coco_arena_strdup(a, p.p);
	coco_buf_free(&p);
	if (read_cred(g, err))
		goto fail;

	g->ho = (coco_http_opts){ .max_inflight = HTTP_INFLIGHT, .max_retries = 5, .backoff_ms = 500,
		.backoff_max_ms = 32000 };
	g->http = coco_http_create(&g->ho);
	g->rnd = (unsigned)time(NULL) ^ (unsigned)getpid();
	g->pf = coco_prefetch_create(g->http, &(coco_prefetch_src){ .ud = g, .plan = dl_plan,
		.start = dl_start, .window = PF_WINDOW });
	*out = g;
	return 0;
fail:
	gd_close(g);
	return -1;
}

/* ---- read, prefetch ------------------------------------------------------------- */

/* The download URL of a file node, and the MIME type of what it gives. */
static const char *content_url(const gd_src *g, const gd_node *n, coco_buf *url)
{
	const char *ex = gd_export_mime(n->mime);
	coco_buf_clear(url);
	coco_buf_printf(url, "%s/files/", g->api);
	gd_url_encode(url, n->id);
	if (ex && ex[0]) {
		coco_buf_adds(url, "/export?mimeType=");
		gd_url_encode(url, ex);
		return ex;
	}
	coco_buf_adds(url, "?alt=media&supportsAllDrives=true");
	return n->mime ? n->mime : "application/octet-stream";
}

static size_t body_cap(const gd_src *g) { return g->max_size >= 0 ? (size_t)g->max_size + 1 : 0; }

static coco_http_xfer *dl_start(void *src, const char *url)
{
	gd_src *g = src;
	coco_buf auth = {0};
	coco_buf_printf(&auth, "Authorization: Bearer %s", g->token ? g->token : "");
	const char *hdrs[] = { auth.p, NULL };
	coco_http_req rq = { .url = url, .headers = hdrs, .max_body = body_cap(g) };
	coco_http_xfer *x = coco_http_start(g->http, &rq, NULL);
	wipe_buf(&auth);
	return x;
}

/* coco_prefetch_src.plan: the download of a file that is a row. */
static int dl_plan(void *src, const char *key, size_t n, coco_buf *url, int64_t *version)
{
	gd_src *g = src;
	char *id = coco_xstrndup(key, n);
	const gd_node *nd = gd_map_get(&g->nodes, id);
	free(id);
	if (!nd || nd->kind != GD_FILE || nd->skip || !nd->path)
		return 0;
	*version = nd->version;
	content_url(g, nd, url);
	return 1;
}

/* coco_source_ops.prefetch: the indexer is about to read these rows. */
static void gd_prefetch(void *src, const coco_value *keys, size_t n)
{
	gd_src *g = src;
	char *e = NULL;
	if (gd_token(g, 0, &e)) {            /* read() will say why */
		free(e);
		return;
	}
	coco_prefetch_hint(g->pf, keys, n);
}

int gd_locate_folder(gd_src *g, const char *id, const gd_node **out, int depth, char **err)
{
	gd_node *n = gd_map_get(&g->nodes, id);
	if (n && n->kind == GD_FOLDER) {
		*out = n;
		return 0;
	}
	for (size_t i = 0; i < g->nroots; i++) {
		if (!strcmp(g->roots[i], id)) {
			n = gd_node_new(GD_FOLDER, id, "", NULL, NULL);
			n->root = 1;
			gd_node_free(gd_map_put(&g->nodes, id, n));
			*out = n;
			return 0;
		}
	}
	coco_arena a = {0};
	gd_meta m;
	int got = depth > 64 ? 1 : gd_get_meta(g, id, &a, &m, err);
	if (got < 0) {
		coco_arena_destroy(&a);
		return -1;
	}
	char *path = NULL;
	const char *parent = got == 0 ? m.parent : NULL;
	if (got == 0 && !m.trashed && m.parent && m.mime && !strcmp(m.mime, GD_FOLDER_MIME)) {
		const gd_node *p;
		if (gd_locate_folder(g, m.parent, &p, depth + 1, err)) {
			coco_arena_destroy(&a);
			return -1;
		}
		if (p->path)
			path = gd_join(p->path, m.name);
	}
	n = gd_node_new(GD_FOLDER, id, path, parent, got == 0 ? &m : NULL);
	free(path);
	gd_node_free(gd_map_put(&g->nodes, id, n));
	coco_arena_destroy(&a);
	*out = n;
	return 0;
}

/* A file not in the map (not listed, not reported by the changes feed):
 * looked up. 0 with *out, 1 not a row here, -1 error. */
static int lookup(gd_src *g, const char *id, gd_node **out, char **err)
{
	coco_arena a = {0};
	gd_meta m;
	int rc = gd_get_meta(g, id, &a, &m, err);
	if (!rc && (m.trashed || !m.parent || !m.mime || !strcmp(m.mime, GD_FOLDER_MIME) ||
	            !strcmp(m.mime, GD_SHORTCUT_MIME)))
		rc = 1;
	const gd_node *p = NULL;
	if (!rc && gd_locate_folder(g, m.parent, &p, 0, err))
		rc = -1;
	if (!rc && !p->path)
		rc = 1;
	if (!rc) {
		char *path = gd_join(p->path, m.name);
		*out = gd_add_file(g, &m, id, path, m.parent);
		free(path);
	}
	coco_arena_destroy(&a);
	return rc;
}

static int gd_read(void *src, const coco_value *key, coco_arena *a, coco_value *row, coco_buf *ord,
	char **err)
{
	gd_src *g = src;
	coco_buf_clear(ord);
	if (!key || key->kind != COCO_STR)
		return coco_seterr(err, "GoogleDrive: the row key must be a str (file_id)");
	char *id = coco_xstrndup(key->u.s, key->n);
	gd_node *n = gd_map_get(&g->nodes, id);
	int rc = 0;
	if (!n && (rc = lookup(g, id, &n, err)) != 0) {
		free(id);
		return rc;
	}
	free(id);
	if (n->kind != GD_FILE || n->skip || !n->path)
		return 1;                                /* not a row, or gone (a tombstone) */
	coco_buf url = {0};
	const char *ctype = content_url(g, n, &url);
	int export = strcmp(ctype, n->mime ? n->mime : "") != 0;
	coco_http_xfer *x = coco_prefetch_take(g->pf, key->u.s, key->n, url.p, n->version);
	coco_http_resp own, *r = NULL;
	memset(&own, 0, sizeof own);
	if (x) {
		coco_http_wait(g->http, x);
		r = coco_http_resp_of(x);
		if (r->status == 401 || is_redirect(r->status) || gd_rate_limited(r->status, r->body.p,
				r->body.n)) {
			coco_http_release(g->http, x);     /* again, with what gd_get does about it */
			x = NULL;
			r = NULL;
		}
	}
	if (!r) {
		if (gd_get(g, url.p, body_cap(g), &own, err)) {
			coco_buf_free(&url);
			return -1;
		}
		r = &own;
	}
	if (r->too_large) {
		g->nlarge++;
		rc = 1;                                  /* grown past max_file_size */
	} else if (r->status == 404) {
		rc = 1;                                  /* deleted since it was listed */
	} else if (r->error || r->status != 200) {
		coco_buf what = {0}, reason = {0}, msg = {0};
		gd_parse_error(r->body.p, r->body.n, &reason, &msg);
		coco_buf_printf(&what, "'%s' (file id %s): cannot %s%s", n->path, n->id,
			export ? "export as " : "download", export ? ctype : "");
		if (reason.p && !strcmp(reason.p, "exportSizeLimitExceeded"))
			coco_seterr(err, "GoogleDrive: %s: Drive exports at most 10 MB (exportSizeLimitExceeded)",
				what.p);
		else
			gd_fail(g, what.p, r, err);
		coco_buf_free(&what);
		coco_buf_free(&reason);
		coco_buf_free(&msg);
		rc = -1;
	} else if (g->max_size >= 0 && (int64_t)r->body.n > g->max_size) {
		g->nlarge++;
		rc = 1;
	} else {
		const char *data = coco_arena_strndup(a, r->body.p ? r->body.p : "", r->body.n);
		coco_value content;
		coco_buf what = {0};
		rc = coco_text_content(data, r->body.n, g->binary, g->strict, a, &content, &what);
		if (rc)                           /* 2, replaced: a warning, the row goes on */
			coco_seterr(err, "GoogleDrive: '%s' (file id %s, %s): %s", n->path, n->id, ctype, what.p);
		coco_buf_free(&what);
		if (rc >= 0) {
			coco_value *f = coco_arena_alloc(a, 5 * sizeof *f);
			f[0] = coco_v_str(coco_arena_strdup(a, n->id), strlen(n->id));
			f[1] = coco_v_str(coco_arena_strdup(a, n->path), strlen(n->path));
			if (coco_utf8_check(n->path, f[1].n) != f[1].n) {   /* never invalid text: keyesc.h */
				coco_buf b = {0};
				coco_key_escape(n->path, f[1].n, &b);
				f[1] = coco_v_str(coco_arena_strndup(a, b.p, b.n), b.n);
				coco_buf_free(&b);
			}
			f[2] = coco_v_str(coco_arena_strdup(a, ctype), strlen(ctype));
			f[3] = n->mtime ? coco_v_str(coco_arena_strdup(a, n->mtime), strlen(n->mtime)) :
				coco_v_str("", 0);
			f[4] = content;
			*row = coco_v_struct(f, 5);
			gd_ordinal(ord, n->version, n->path);
		}
	}
	if (x)
		coco_http_release(g->http, x);
	coco_http_resp_free(&own);
	coco_buf_free(&url);
	return rc;
}

const coco_source_ops coco_gdrive_source = {
	.name = "GoogleDrive",
	.opts = gd_opts,
	.row_type = gd_row_type,
	.open = gd_open,
	.list = gd_list,
	.read = gd_read,
	.close = gd_close,
	.watch = gd_watch_start,
	.watch_read = gd_watch_read,
	.prefetch = gd_prefetch,
	.committed = gd_committed,
};
