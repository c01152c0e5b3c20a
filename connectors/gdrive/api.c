/* GoogleDrive: the pure parts — Drive v3 JSON (file resources, list and
 * changes pages, error documents), URL and query building, the export
 * table, ordinals, and the id map. No I/O here. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/gdrive/gdrive_int.h"
#include "engine/functions/json.h"
#include "engine/sys.h"

/* ---- the id map ------------------------------------------------------------ */

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;             /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

void *gd_map_get(const gd_map *m, const char *key)
{
	if (!m->cap)
		return NULL;
	for (gd_ment *e = m->b[hash(key) & (m->cap - 1)]; e; e = e->next)
		if (!strcmp(e->key, key))
			return e->val;
	return NULL;
}

static void grow(gd_map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	gd_ment **b = coco_xcalloc(cap, sizeof *b);
	for (size_t i = 0; i < m->cap; i++) {
		for (gd_ment *e = m->b[i], *next; e; e = next) {
			next = e->next;
			size_t k = hash(e->key) & (cap - 1);
			e->next = b[k];
			b[k] = e;
		}
	}
	free(m->b);
	m->b = b;
	m->cap = cap;
}

void *gd_map_put(gd_map *m, const char *key, void *val)
{
	if (m->n + 1 > m->cap)
		grow(m);
	size_t k = hash(key) & (m->cap - 1);
	for (gd_ment *e = m->b[k]; e; e = e->next) {
		if (!strcmp(e->key, key)) {
			void *old = e->val;
			e->val = val;
			return old;
		}
	}
	gd_ment *e = coco_xmalloc(sizeof *e);
	e->key = coco_strdup(key);
	e->val = val;
	e->next = m->b[k];
	m->b[k] = e;
	m->n++;
	return NULL;
}

void *gd_map_del(gd_map *m, const char *key)
{
	if (!m->cap)
		return NULL;
	for (gd_ment **pe = &m->b[hash(key) & (m->cap - 1)]; *pe; pe = &(*pe)->next) {
		gd_ment *e = *pe;
		if (strcmp(e->key, key))
			continue;
		void *v = e->val;
		*pe = e->next;
		free(e->key);
		free(e);
		m->n--;
		return v;
	}
	return NULL;
}

void gd_map_clear(gd_map *m, void (*fn)(void *val))
{
	for (size_t i = 0; i < m->cap; i++) {
		for (gd_ment *e = m->b[i], *next; e; e = next) {
			next = e->next;
			if (fn)
				fn(e->val);
			free(e->key);
			free(e);
		}
	}
	free(m->b);
	memset(m, 0, sizeof *m);
}

gd_ment *gd_map_next(const gd_map *m, size_t *i, gd_ment *e)
{
	if (e && e->next)
		return e->next;
	if (e)
		(*i)++;
	for (; *i < m->cap; (*i)++)
		if (m->b[*i])
			return m->b[*i];
	return NULL;
}

/* ---- JSON ------------------------------------------------------------------ */

static const char *str_of(coco_arena *a, const char *v, size_t nv, coco_buf *tmp)
{
	coco_buf_clear(tmp);
	if (coco_json_str_decode(v, nv, tmp))
		return NULL;
	return coco_arena_strndup(a, tmp->p ? tmp->p : "", tmp->n);
}

/* Google sends int64 as strings ("version": "17"); numbers are taken too. */
static int64_t int_of(const char *v, size_t nv)
{
	if (nv && v[0] == '"')
		v++, nv -= 2;
	int64_t x = 0;
	size_t i = 0;
	if (!nv)
		return -1;
	for (; i < nv && isdigit((unsigned char)v[i]); i++)
		x = x * 10 + (v[i] - '0');
	return i && i == nv ? x : -1;
}

static int is(const char *k, size_t nk, const char *name)
{
	return coco_json_key_eq(k, nk, name, strlen(name));
}

static int parse_meta(const char *s, size_t n, coco_arena *a, gd_meta *m, coco_buf *tmp)
{
	memset(m, 0, sizeof *m);
	m->version = m->size = -1;
	coco_json_iter it;
	if (coco_json_iter_init(&it, s, n) != '{')
		return -1;
	const char *k, *v;
	size_t nk, nv;
	while (coco_json_iter_next(&it, &k, &nk, &v, &nv)) {
		if (is(k, nk, "id"))
			m->id = str_of(a, v, nv, tmp);
		else if (is(k, nk, "name"))
			m->name = str_of(a, v, nv, tmp);
		else if (is(k, nk, "mimeType"))
			m->mime = str_of(a, v, nv, tmp);
		else if (is(k, nk, "modifiedTime"))
			m->mtime = str_of(a, v, nv, tmp);
		else if (is(k, nk, "version"))
			m->version = int_of(v, nv);
		else if (is(k, nk, "size"))
			m->size = int_of(v, nv);
		else if (is(k, nk, "trashed"))
			m->trashed = nv == 4 && !memcmp(v, "true", 4);
		else if (is(k, nk, "parents")) {
			const char *p;
			size_t np;
			if (coco_json_get(v, nv, "1", 1, &p, &np))
				m->parent = str_of(a, p, np, tmp);
		} else if (is(k, nk, "shortcutDetails")) {
			const char *p;
			size_t np;
			if (coco_json_get(v, nv, "targetId", 8, &p, &np))
				m->target = str_of(a, p, np, tmp);
			if (coco_json_get(v, nv, "targetMimeType", 14, &p, &np))
				m->target_mime = str_of(a, p, np, tmp);
		}
	}
	return m->id && m->id[0] ? 0 : -1;
}

int gd_parse_meta(const char *json, size_t n, coco_arena *a, gd_meta *m)
{
	size_t at;
	const char *why;
	if (coco_json_check(json, n, &at, &why))
		return -1;
	coco_json_trim(&json, &n);
	coco_buf tmp = {0};
	int rc = parse_meta(json, n, a, m, &tmp);
	coco_buf_free(&tmp);
	return rc;
}

int gd_parse_page(const char *json, size_t n, coco_arena *a, gd_page *p, char **err)
{
	memset(p, 0, sizeof *p);
	size_t at;
	const char *why;
	if (coco_json_check(json, n, &at, &why))
		return coco_seterr(err, "not JSON at byte %zu: %s", at + 1, why);
	coco_json_trim(&json, &n);
	coco_json_iter it;
	if (coco_json_iter_init(&it, json, n) != '{')
		return coco_seterr(err, "not a JSON object");
	coco_buf tmp = {0};
	const char *k, *v;
	size_t nk, nv;
	int seen = 0, rc = 0;
	while (coco_json_iter_next(&it, &k, &nk, &v, &nv)) {
		if (is(k, nk, "nextPageToken")) {
			p->next_token = str_of(a, v, nv, &tmp);
		} else if (is(k, nk, "newStartPageToken")) {
			p->new_start_token = str_of(a, v, nv, &tmp);
		} else if (is(k, nk, "files") || is(k, nk, "changes")) {
			int files = is(k, nk, "files");
			coco_json_iter el;
			if (coco_json_iter_init(&el, v, nv) != '[') {
				rc = coco_seterr(err, "%s is not an array", files ? "files" : "changes");
				break;
			}
			seen = 1;
			const char *ek, *ev;
			size_t nek, nev;
			while (coco_json_iter_next(&el, &ek, &nek, &ev, &nev)) {
				if (files) {
					p->files = coco_arena_grow(a, p->files, p->nfiles, &p->capfiles, sizeof *p->files);
					if (!parse_meta(ev, nev, a, &p->files[p->nfiles], &tmp))
						p->nfiles++;
					continue;
				}
				gd_change c = {0};
				coco_json_iter ci;
				if (coco_json_iter_init(&ci, ev, nev) != '{')
					continue;
				const char *ck, *cv;
				size_t nck, ncv;
				int drive = 0;
				while (coco_json_iter_next(&ci, &ck, &nck, &cv, &ncv)) {
					if (is(ck, nck, "fileId"))
						c.file_id = str_of(a, cv, ncv, &tmp);
					else if (is(ck, nck, "removed"))
						c.removed = ncv == 4 && !memcmp(cv, "true", 4);
					else if (is(ck, nck, "changeType"))
						drive = ncv == 7 && !memcmp(cv, "\"drive\"", 7);
					else if (is(ck, nck, "file"))
						c.has_file = !parse_meta(cv, ncv, a, &c.file, &tmp);
				}
				if (drive || (!c.file_id && !c.has_file))
					continue;                    /* a shared drive's own change */
				if (!c.file_id)
					c.file_id = c.file.id;
				p->changes = coco_arena_grow(a, p->changes, p->nchanges, &p->capchanges,
					sizeof *p->changes);
				p->changes[p->nchanges++] = c;
			}
		}
	}
	coco_buf_free(&tmp);
	if (!rc && !seen)
		rc = coco_seterr(err, "neither a files nor a changes array");
	return rc;
}

void gd_parse_error(const char *json, size_t n, coco_buf *reason, coco_buf *message)
{
	size_t at;
	const char *why, *e, *v;
	size_t ne, nv;
	if (!json || coco_json_check(json, n, &at, &why))
		return;
	coco_json_trim(&json, &n);
	if (!coco_json_get(json, n, "error", 5, &e, &ne))
		return;
	if (ne && e[0] == '"') {                         /* the token endpoint's */
		coco_json_str_decode(e, ne, reason);
		if (coco_json_get(json, n, "error_description", 17, &v, &nv))
			coco_json_str_decode(v, nv, message);
		return;
	}
	const char *errs, *first;
	size_t nerrs, nfirst;
	if (coco_json_get(e, ne, "errors", 6, &errs, &nerrs) &&
	    coco_json_get(errs, nerrs, "1", 1, &first, &nfirst) &&
	    coco_json_get(first, nfirst, "reason", 6, &v, &nv))
		coco_json_str_decode(v, nv, reason);
	else if (coco_json_get(e, ne, "status", 6, &v, &nv))
		coco_json_str_decode(v, nv, reason);
	if (coco_json_get(e, ne, "message", 7, &v, &nv))
		coco_json_str_decode(v, nv, message);
}

int gd_rate_limited(long status, const char *body, size_t n)
{
	if (status != 403)
		return 0;
	coco_buf r = {0}, m = {0};
	gd_parse_error(body, n, &r, &m);
	int yes = r.p && (!strcmp(r.p, "userRateLimitExceeded") || !strcmp(r.p, "rateLimitExceeded"));
	coco_buf_free(&r);
	coco_buf_free(&m);
	return yes;
}

/* ---- URLs, queries, exports, ordinals --------------------------------------- */

void gd_url_encode(coco_buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
			coco_buf_putc(out, (char)c);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			coco_buf_add(out, e, 3);
		}
	}
}

void gd_children_query(coco_buf *out, const char *folder_id)
{
	coco_buf_putc(out, '\'');
	for (const char *p = folder_id; *p; p++) {
		if (*p == '\'' || *p == '\\')
			coco_buf_putc(out, '\\');
		coco_buf_putc(out, *p);
	}
	coco_buf_adds(out, "' in parents and trashed = false");
}

const char *gd_export_mime(const char *mime)
{
	static const char *const map[][2] = {
		{ "application/vnd.google-apps.document", "text/markdown" },
		{ "application/vnd.google-apps.spreadsheet", "text/csv" },
		{ "application/vnd.google-apps.presentation", "text/plain" },
		{ "application/vnd.google-apps.drawing", "image/svg+xml" },
		{ "application/vnd.google-apps.script", "application/vnd.google-apps.script+json" },
	};
	if (!mime)
		return NULL;
	if (strncmp(mime, "application/vnd.google-apps.", 28))
		return "";
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (!strcmp(mime, map[i][0]))
			return map[i][1];
	return NULL;          /* form, map, site, folder, shortcut, jam, file, ... */
}

void gd_ordinal(coco_buf *out, int64_t version, const char *path)
{
	unsigned char le[8];
	for (int i = 0; i < 8; i++)
		le[i] = (unsigned char)((uint64_t)version >> (8 * i));
	coco_buf_add(out, le, 8);
	coco_buf_adds(out, path);
}
