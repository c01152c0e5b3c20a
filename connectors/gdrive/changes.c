/* Change capture for GoogleDrive through the Drive changes feed.
 *
 * watch() takes a start page token (changes.getStartPageToken) — live mode
 * calls it before its first full listing, so changes made while that
 * listing runs are replayed — and arms a timerfd every
 * recent_changes_poll_interval. On each tick, watch_read() reads the feed
 * from the stored token (changes.list, every page) and turns each change
 * into rows to look at again:
 *
 *   - a file removed (deleted, access lost) or trashed: its row goes
 *     (a tombstone in the map makes read() say "gone" without a request);
 *   - a file changed: its parent chain decides whether it is under a root
 *     (moves in and out are seen); reported when its version or path
 *     changed, or it became or stopped being a row (patterns, size);
 *   - a folder changed (renamed, moved, trashed, removed, shared): every
 *     file that was under it and every file under it now — its subtree is
 *     listed again;
 *   - a shortcut changed: a full listing (COCO_CHANGE_RESCAN).
 *
 * The new start token is stored only once every row reported from the
 * changes it covers is committed (coco_source_ops.committed); until then
 * ticks are skipped, and a failed poll leaves the stored token as it was,
 * so the same changes are read again. refresh_interval full listings stay
 * the safety net. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "connectors/gdrive/gdrive_int.h"
#include "engine/functions/json.h"
#include "engine/sys.h"

#define CHANGE_FIELDS "nextPageToken,newStartPageToken,changes(changeType,removed,fileId,file(" \
	"id,name,mimeType,modifiedTime,version,size,parents,trashed,shortcutDetails(targetId,targetMimeType)))"

struct gd_watch {
	int tfd;
	char *tok;                   /* stored: the next poll reads from here */
	char *pend;                  /* newStartPageToken of the rows held, or NULL */
	gd_map held;                 /* ids reported, not committed yet */
	int missed;                  /* a tick was skipped while rows were held */
	uint64_t polls;
};

static void arm(gd_watch *w, double first_s, double every_s)
{
	struct itimerspec it = {0};
	it.it_value.tv_sec = (time_t)first_s;
	it.it_value.tv_nsec = (long)((first_s - (double)(time_t)first_s) * 1e9);
	if (!it.it_value.tv_sec && !it.it_value.tv_nsec)
		it.it_value.tv_nsec = 1000000;
	it.it_interval.tv_sec = (time_t)every_s;
	it.it_interval.tv_nsec = (long)((every_s - (double)(time_t)every_s) * 1e9);
	timerfd_settime(w->tfd, 0, &it, NULL);
}

void gd_watch_free(gd_watch *w)
{
	if (!w)
		return;
	if (w->tfd >= 0)
		close(w->tfd);
	free(w->tok);
	free(w->pend);
	gd_map_clear(&w->held, NULL);
	free(w);
}

/* changes.getStartPageToken into *tok (malloc'd). */
static int start_token(gd_src *g, char **tok, char **err)
{
	coco_buf url = {0}, t = {0};
	coco_buf_printf(&url, "%s/changes/startPageToken?supportsAllDrives=true", g->api);
	coco_http_resp r;
	int rc = gd_get(g, url.p, 0, &r, err);
	coco_buf_free(&url);
	if (rc)
		return -1;
	const char *v, *why;
	size_t nv, at;
	if (r.status != 200) {
		rc = gd_fail(g, "cannot start the changes feed (changes.getStartPageToken)", &r, err);
	} else if (coco_json_check(r.body.p, r.body.n, &at, &why) ||
	           !coco_json_get(r.body.p, r.body.n, "startPageToken", 14, &v, &nv) ||
	           coco_json_str_decode(v, nv, &t) || !t.n) {
		rc = coco_seterr(err, "GoogleDrive: changes.getStartPageToken answered without a startPageToken");
	} else {
		*tok = coco_buf_take(&t);
	}
	coco_buf_free(&t);
	coco_http_resp_free(&r);
	return rc;
}

int gd_watch_start(void *src, int *fd, char **err)
{
	gd_src *g = src;
	*fd = -1;
	if (g->w) {
		*fd = g->w->tfd;
		return 0;
	}
	if (g->poll_s <= 0)
		return 0;                               /* off: refresh_interval only */
	gd_watch *w = coco_xcalloc(1, sizeof *w);
	w->tfd = -1;
	if (start_token(g, &w->tok, err))
		goto fail;
	w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (w->tfd < 0) {
		coco_seterr(err, "GoogleDrive: timerfd_create: %s", strerror(errno));
		goto fail;
	}
	arm(w, g->poll_s, g->poll_s);
	g->w = w;
	*fd = w->tfd;
	return 0;
fail:
	gd_watch_free(w);
	return -1;
}

/* ---- applying changes ---------------------------------------------------------- */

typedef struct applyctx {
	gd_src *g;
	gd_watch *w;
	coco_change_cb cb;
	void *ud;
	int rescan;
	gd_map fresh;                /* ids a walk added */
} applyctx;

static void report(applyctx *c, const char *id)
{
	if (gd_map_get(&c->w->held, id))
		return;
	gd_map_put(&c->w->held, id, (void *)1);
	coco_value k = coco_v_str(id, strlen(id));
	c->cb(c->ud, COCO_CHANGE_ROW, &k, NULL);
}

static int is_row(const gd_node *n) { return n && n->kind == GD_FILE && n->path && !n->skip; }

/* Report id when it was or is a row and something a row shows changed. */
static void compare(applyctx *c, const char *id, const gd_node *was, const gd_node *now)
{
	int a = is_row(was), b = is_row(now);
	if (!a && !b)
		return;
	if (a && b && was->version == now->version && !strcmp(was->path, now->path) &&
	    !strcmp(was->mime ? was->mime : "", now->mime ? now->mime : ""))
		return;
	report(c, id);
}

/* A file that left the roots: its node becomes a tombstone. */
static void tombstone(gd_src *g, const char *id)
{
	gd_node *t = gd_node_new(GD_FILE, id, NULL, NULL, NULL);
	gd_node_free(gd_map_put(&g->nodes, id, t));
}

/* 1 if n is under folder id (its parent chain passes through it). */
static int under(const gd_src *g, const gd_node *n, const char *id)
{
	for (int depth = 0; n && n->parent && depth < 256; depth++) {
		if (!strcmp(n->parent, id))
			return 1;
		n = gd_map_get(&g->nodes, n->parent);
		if (n && !n->path)
			return 0;
	}
	return 0;
}

static int on_walked(void *ud, gd_node *n)
{
	applyctx *c = ud;
	gd_map_put(&c->fresh, n->id, (void *)1);
	return 0;
}

/* A folder changed (meta: its state now; NULL: removed): what was under it
 * is taken out of the map, what is under it now listed. */
static int folder_changed(applyctx *c, const char *id, const gd_meta *meta, char **err)
{
	gd_src *g = c->g;
	gd_map olds = {0};
	const gd_node *before = gd_map_get(&g->nodes, id);
	char *via = before && before->via ? coco_strdup(before->via) : NULL;
	char *kept_path = before && before->path && (before->via || before->root) ?
		coco_strdup(before->path) : NULL;
	char *old_parent = before && before->parent ? coco_strdup(before->parent) : NULL;
	int root = before && before->root;
	/* what was under it, and the folders cached as outside (they may be
	 * inside now): out of the map */
	size_t i = 0;
	gd_ment *e = NULL;
	char **ids = NULL;
	size_t nids = 0, cap = 0;
	while ((e = gd_map_next(&g->nodes, &i, e))) {
		gd_node *n = e->val;
		if ((n->path && under(g, n, id)) || (!n->path && n->kind == GD_FOLDER) || !strcmp(n->id, id)) {
			if (nids == cap)
				ids = coco_xrealloc(ids, (cap = 2 * cap + 64) * sizeof *ids);
			ids[nids++] = n->id;
		}
	}
	for (size_t k = 0; k < nids; k++) {
		gd_node *n = gd_map_del(&g->nodes, ids[k]);
		if (n->path && n->kind != GD_FOLDER)
			gd_node_free(gd_map_put(&olds, n->id, n));
		else
			gd_node_free(n);
	}
	free(ids);

	/* where it is now */
	char *path = NULL, *parent = NULL;
	int rc = 0;
	if (meta && !meta->trashed) {
		if (kept_path) {
			path = coco_strdup(kept_path);           /* a root, or reached by a shortcut */
			parent = old_parent;
			old_parent = NULL;
		} else if (meta->parent) {
			const gd_node *p;
			rc = gd_locate_folder(g, meta->parent, &p, 0, err);
			if (!rc && p->path) {
				path = gd_join(p->path, meta->name);
				parent = coco_strdup(meta->parent);
			}
		}
	}
	if (!rc && path) {
		gd_node *n = gd_node_new(GD_FOLDER, id, path, parent, meta);
		n->root = (uint8_t)root;
		n->via = via;
		via = NULL;
		gd_node_free(gd_map_put(&g->nodes, id, n));
		rc = gd_walk(g, &n, 1, on_walked, c, err);
	}
	if (rc) {
		/* a listing failed: keep what was known (the poll is read again) */
		i = 0;
		e = NULL;
		while ((e = gd_map_next(&olds, &i, e))) {
			if (!gd_map_get(&g->nodes, e->key)) {
				gd_map_put(&g->nodes, e->key, e->val);
				e->val = NULL;
			}
		}
		gd_map_clear(&c->fresh, NULL);
		gd_map_clear(&olds, gd_node_free);
		goto out;
	}
	/* what changed for a row */
	i = 0;
	e = NULL;
	while ((e = gd_map_next(&olds, &i, e))) {
		gd_node *now = gd_map_get(&g->nodes, e->key);
		if (!now) {
			if (is_row(e->val))
				tombstone(g, e->key);
			now = gd_map_get(&g->nodes, e->key);
		}
		compare(c, e->key, e->val, now);
	}
	i = 0;
	e = NULL;
	while ((e = gd_map_next(&c->fresh, &i, e)))
		if (!gd_map_get(&olds, e->key))
			compare(c, e->key, NULL, gd_map_get(&g->nodes, e->key));
	gd_map_clear(&c->fresh, NULL);
	gd_map_clear(&olds, gd_node_free);
out:
	free(path);
	free(parent);
	free(via);
	free(kept_path);
	free(old_parent);
	return rc;
}

/* A file (not a folder) changed; meta NULL: removed. */
static int file_changed(applyctx *c, const char *id, const gd_meta *meta, char **err)
{
	gd_src *g = c->g;
	gd_node *was = gd_map_get(&g->nodes, id);
	gd_node *old = was ? gd_node_new(was->kind, was->id, was->path, was->parent, NULL) : NULL;
	if (old) {
		old->version = was->version;
		old->mime = was->mime ? coco_strdup(was->mime) : NULL;
		old->skip = was->skip;
		old->via = was->via ? coco_strdup(was->via) : NULL;
	}
	char *path = NULL;
	const char *parent = NULL;
	int rc = 0;
	if (meta && !meta->trashed) {
		if (old && old->via && old->path) {
			path = coco_strdup(old->path);          /* reached by a shortcut: stays */
			parent = old->parent;
		} else if (meta->parent) {
			const gd_node *p;
			rc = gd_locate_folder(g, meta->parent, &p, 0, err);
			if (!rc && p->path) {
				path = gd_join(p->path, meta->name);
				parent = meta->parent;
			}
		}
	}
	if (!rc) {
		if (path) {
			gd_node *n = gd_add_file(g, meta, id, path, parent);
			if (old && old->via)
				n->via = coco_strdup(old->via);
		} else if (old) {
			tombstone(g, id);                       /* trashed, removed, moved out */
		}
		compare(c, id, old, gd_map_get(&g->nodes, id));
	}
	free(path);
	gd_node_free(old);
	return rc;
}

static int apply(applyctx *c, const gd_change *ch, char **err)
{
	gd_src *g = c->g;
	const gd_node *known = gd_map_get(&g->nodes, ch->file_id);
	const gd_meta *m = ch->removed || !ch->has_file ? NULL : &ch->file;
	const char *mime = m ? m->mime : NULL;
	int kind = mime ? (!strcmp(mime, GD_FOLDER_MIME) ? GD_FOLDER :
		!strcmp(mime, GD_SHORTCUT_MIME) ? GD_SHORTCUT : GD_FILE) : known ? known->kind : 0;
	if (kind == GD_SHORTCUT || (known && known->kind == GD_SHORTCUT)) {
		/* where its target now shows, and what else reached it, is for a
		 * full listing to say */
		if (known || (m && m->parent && gd_reached(g, m->parent)))
			c->rescan = 1;
		return 0;
	}
	if (kind == GD_FOLDER)
		return folder_changed(c, ch->file_id, m, err);
	if (kind == GD_FILE)
		return file_changed(c, ch->file_id, m, err);
	return 0;                                       /* removed, never known */
}

/* Read the feed from the stored token; apply it. */
static int poll_feed(gd_src *g, coco_change_cb cb, void *ud, char **err)
{
	gd_watch *w = g->w;
	coco_arena a = {0};
	coco_buf url = {0};
	gd_change *all = NULL;
	size_t n = 0, cap = 0;
	char *tok = coco_strdup(w->tok), *next_start = NULL;
	int rc = -1, pages = 0;
	w->polls++;
	for (;;) {
		coco_buf_clear(&url);
		coco_buf_printf(&url, "%s/changes?pageSize=1000&includeRemoved=true&supportsAllDrives=true"
			"&includeItemsFromAllDrives=true&spaces=drive&pageToken=", g->api);
		gd_url_encode(&url, tok);
		coco_buf_adds(&url, "&fields=");
		gd_url_encode(&url, CHANGE_FIELDS);
		coco_http_resp r;
		if (gd_get(g, url.p, 0, &r, err))
			goto out;
		pages++;
		if (r.status == 400 || r.status == 404 || r.status == 410) {
			/* the stored token is refused (too old, from another account):
			 * start over from now, and list everything */
			coco_buf m = {0};
			char *e = NULL;
			gd_fail(g, "the changes feed refused its page token", &r, &e);
			coco_http_resp_free(&r);
			char *fresh = NULL;
			if (start_token(g, &fresh, err)) {
				free(e);
				goto out;
			}
			free(w->tok);
			w->tok = fresh;
			coco_buf_printf(&m, "%s; listing everything again", e + strlen("GoogleDrive: "));
			cb(ud, COCO_CHANGE_RESCAN, NULL, m.p);
			coco_buf_free(&m);
			free(e);
			rc = 0;
			goto out;
		}
		if (r.status != 200) {
			gd_fail(g, "cannot read the changes feed (changes.list)", &r, err);
			coco_http_resp_free(&r);
			goto out;
		}
		gd_page pg;
		char *e = NULL;
		if (gd_parse_page(r.body.p, r.body.n, &a, &pg, &e)) {
			coco_seterr(err, "GoogleDrive: cannot read the changes feed: page %d: %s", pages, e);
			free(e);
			coco_http_resp_free(&r);
			goto out;
		}
		coco_http_resp_free(&r);
		for (size_t i = 0; i < pg.nchanges; i++) {
			all = coco_arena_grow(&a, all, n, &cap, sizeof *all);
			all[n++] = pg.changes[i];
		}
		if (pg.new_start_token) {
			next_start = coco_strdup(pg.new_start_token);
			break;
		}
		if (!pg.next_token || !pg.next_token[0] || !strcmp(pg.next_token, tok)) {
			coco_seterr(err, "GoogleDrive: the changes feed's page %d has neither nextPageToken nor "
				"newStartPageToken", pages);
			goto out;
		}
		free(tok);
		tok = coco_strdup(pg.next_token);
	}
	/* the last change of each file is its state now */
	applyctx c = { .g = g, .w = w, .cb = cb, .ud = ud };
	gd_map last = {0};
	for (size_t i = 0; i < n; i++)
		gd_map_put(&last, all[i].file_id, &all[i]);
	rc = 0;
	for (size_t i = 0; i < n && !rc; i++)
		if (gd_map_get(&last, all[i].file_id) == &all[i])
			rc = apply(&c, &all[i], err);
	gd_map_clear(&last, NULL);
	if (c.rescan)
		cb(ud, COCO_CHANGE_RESCAN, NULL, NULL);
	if (rc)
		goto out;                       /* read again from the stored token */
	if (w->held.n) {
		free(w->pend);
		w->pend = next_start;           /* stored once the rows are committed */
	} else {
		free(w->tok);
		w->tok = next_start;
	}
	next_start = NULL;
out:
	free(tok);
	free(next_start);
	coco_buf_free(&url);
	coco_arena_destroy(&a);
	return rc;
}

int gd_watch_read(void *src, coco_change_cb cb, void *ud, char **err)
{
	gd_src *g = src;
	gd_watch *w = g->w;
	if (!w)
		return 0;
	uint64_t ticks;
	while (read(w->tfd, &ticks, sizeof ticks) > 0)
		;
	if (w->held.n) {
		w->missed = 1;                  /* after the commit */
		return 0;
	}
	return poll_feed(g, cb, ud, err);
}

void gd_committed(void *src, const coco_value *keys, size_t n)
{
	gd_src *g = src;
	gd_watch *w = g->w;
	if (!w || !w->held.n)
		return;
	if (!keys) {
		gd_map_clear(&w->held, NULL);
	} else {
		coco_buf id = {0};
		for (size_t i = 0; i < n; i++) {
			if (keys[i].kind != COCO_STR)
				continue;
			coco_buf_clear(&id);
			coco_buf_add(&id, keys[i].u.s, keys[i].n);
			gd_map_del(&w->held, id.p);
		}
		coco_buf_free(&id);
	}
	if (w->held.n)
		return;
	if (w->pend) {
		free(w->tok);
		w->tok = w->pend;
		w->pend = NULL;
	}
	if (w->missed) {
		w->missed = 0;
		arm(w, 0, g->poll_s);           /* the skipped poll, now */
	}
}
