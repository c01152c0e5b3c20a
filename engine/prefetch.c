/* The prefetch queue of the network sources: see prefetch.h. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "engine/prefetch.h"
#include "engine/sys.h"

#define DEFAULT_WINDOW 64

struct pf_ent {
	char *key;
	size_t nkey;
	char *url;
	int64_t version;
	coco_http_xfer *x;           /* NULL: not started, or taken */
	int started;
};

struct coco_prefetch {
	coco_http *http;
	coco_prefetch_src src;
	struct pf_ent *v;
	size_t n, cap;
	size_t head;                 /* entries before it are taken or dropped */
	size_t next;                 /* the next entry to start */
	size_t live;                 /* started, not taken */
};

coco_prefetch *coco_prefetch_create(coco_http *h, const coco_prefetch_src *src)
{
	coco_prefetch *pf = coco_xcalloc(1, sizeof *pf);
	pf->http = h;
	pf->src = *src;
	if (!pf->src.window)
		pf->src.window = DEFAULT_WINDOW;
	return pf;
}

static void free_entries(coco_http *h, struct pf_ent *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		coco_http_release(h, v[i].x);
		free(v[i].key);
		free(v[i].url);
	}
	free(v);
}

void coco_prefetch_destroy(coco_prefetch *pf)
{
	if (!pf)
		return;
	free_entries(pf->http, pf->v, pf->n);
	free(pf);
}

/* Start entries until `window` are started and not taken. */
static void top_up(coco_prefetch *pf)
{
	while (pf->next < pf->n && pf->live < pf->src.window) {
		struct pf_ent *e = &pf->v[pf->next++];
		if (e->started)
			continue;
		e->x = pf->src.start(pf->src.ud, e->url);
		e->started = 1;
		pf->live++;
	}
}

void coco_prefetch_hint(coco_prefetch *pf, const coco_value *keys, size_t n)
{
	struct pf_ent *old = pf->v;
	size_t nold = pf->n, j = pf->head;
	pf->v = NULL;
	pf->n = pf->cap = pf->head = pf->next = pf->live = 0;
	coco_buf url = {0};
	for (size_t i = 0; i < n; i++) {
		int64_t version = 0;
		coco_buf_clear(&url);
		if (keys[i].kind != COCO_STR ||
		    !pf->src.plan(pf->src.ud, keys[i].u.s, keys[i].n, &url, &version))
			continue;
		if (pf->n == pf->cap) {
			pf->cap = pf->cap ? 2 * pf->cap : 64;
			pf->v = coco_xrealloc(pf->v, pf->cap * sizeof *pf->v);
		}
		struct pf_ent *e = &pf->v[pf->n++];
		memset(e, 0, sizeof *e);
		e->key = coco_xmalloc(keys[i].n + 1);
		memcpy(e->key, keys[i].u.s, keys[i].n);
		e->key[keys[i].n] = 0;
		e->nkey = keys[i].n;
		e->url = coco_strdup(url.p ? url.p : "");
		e->version = version;
		for (size_t k = j; k < nold; k++) {
			struct pf_ent *o = &old[k];
			if (o->x && o->nkey == e->nkey && !memcmp(o->key, e->key, e->nkey) &&
			    o->version == e->version && !strcmp(o->url, e->url)) {
				e->x = o->x;
				e->started = 1;
				o->x = NULL;
				pf->live++;
				j = k + 1;
				break;
			}
		}
	}
	coco_buf_free(&url);
	free_entries(pf->http, old, nold);
	top_up(pf);
	coco_http_run(pf->http, 0);
}

coco_http_xfer *coco_prefetch_take(coco_prefetch *pf, const char *key, size_t n,
	const char *url, int64_t version)
{
	for (size_t i = pf->head; i < pf->n; i++) {
		struct pf_ent *e = &pf->v[i];
		if (e->nkey != n || memcmp(e->key, key, n))
			continue;
		for (size_t j = pf->head; j < i; j++) {
			if (pf->v[j].x) {
				coco_http_release(pf->http, pf->v[j].x);
				pf->v[j].x = NULL;
				pf->live--;
			}
		}
		pf->head = i + 1;
		coco_http_xfer *x = e->x;
		if (x)
			pf->live--;
		else if (!e->started && pf->src.start_on_take)
			x = pf->src.start(pf->src.ud, e->url);
		e->x = NULL;
		e->started = 1;
		if (pf->next < pf->head)
			pf->next = pf->head;
		top_up(pf);
		if (x && (e->version != version || (url && strcmp(e->url, url)))) {
			coco_http_release(pf->http, x);    /* changed since the hint: read it anew */
			x = NULL;
		}
		return x;
	}
	return NULL;
}

coco_http_xfer *coco_prefetch_fetch(coco_prefetch *pf, const char *key, size_t n)
{
	coco_http_xfer *x = coco_prefetch_take(pf, key, n, NULL, 0);
	if (!x) {
		coco_buf url = {0};
		int64_t version = 0;
		if (pf->src.plan(pf->src.ud, key, n, &url, &version))
			x = pf->src.start(pf->src.ud, url.p);
		coco_buf_free(&url);
	}
	if (x)
		coco_http_wait(pf->http, x);
	return x;
}
