/* Qdrant target (REST over engine/http.c): each export owns one collection.
 *
 * Vector fields of a fixed dimension become named vectors, with the
 * distance of the export's vector_indexes (cosine → Cosine, l2 → Euclid,
 * ip → Dot; Cosine when not listed); every other field, the key fields
 * included, goes to the payload. A point's id is a UUID made of the
 * fingerprint of its primary key, so the same key always hits the same
 * point. Writes of a batch are kept until commit, one operation per point
 * (the last one wins), and sent with wait=true: a small batch as one
 * POST /points/batch (upserts and deletes), a larger one as columnar
 * PUT /points requests of MIN_POINTS to MAX_POINTS points (the server
 * takes those in about three quarters of the time) and deletes apart, up
 * to INFLIGHT at once. When one fails, the engine's state does not
 * advance and the next run writes them again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops.h"
#include "tdesc.h"
#include "vstore.h"
#include "functions/json.h"
#include "sys.h"

enum { OPT_URL, OPT_COLLECTION, OPT_API_KEY_ENV, OPT_VECTOR_INDEXES };

static const coco_optdef q_opts[] = {
	{ "url", COCO_OPT_STR, 0, "Qdrant's REST endpoint (default $QDRANT_URL, else "
	  "http://localhost:6333)" },
	{ "collection_name", COCO_OPT_STR, 0, "collection (default <flow_name>__<export_name>)" },
	{ "api_key_env", COCO_OPT_STR, 0, "environment variable holding the API key (sent as api-key)" },
	{ "vector_indexes", COCO_OPT_JSON, 0, "{{ field =, metric = \"cosine\"|\"l2\"|\"ip\", "
	  "m =, ef_construction = }} (usually given to the export)" },
	{ NULL, 0, 0, NULL, 0 },
};

#define WHO "Qdrant"
#define MIN_POINTS 128            /* points per request: a batch is split in */
#define MAX_POINTS 512            /* INFLIGHT requests of MIN..MAX points */
#define MAX_BYTES (16u << 20)     /* bytes per request (Qdrant takes 32 MB) */
#define INFLIGHT 4                /* requests of a commit in flight at once: the
                                     server parses and applies them in parallel */

/* ---- the export's layout ---------------------------------------------------------- */

typedef struct qcol {
	const char *name;
	const coco_type *type;
	int vec;                     /* a named vector (else payload) */
	const char *metric;          /* cosine, l2, ip */
	long m, efc;                 /* hnsw_config; 0: Qdrant's default */
	char spec[80];               /* the description's rest: "payload", "vector 384 Cosine" */
} qcol;

typedef struct layout {
	coco_vs_export x;            /* url, collection, row, nkeys */
	const char *key_env;
	qcol *cols;
	uint32_t ncols, nkeys;
	uint32_t nvec;               /* named vectors */
	int vec1;                    /* the one named vector when nvec == 1, else -1 */
} layout;

static void layout_free(layout *l)
{
	coco_vs_export_free(&l->x);
	free(l->cols);
	memset(l, 0, sizeof *l);
}

static const char *distance_of(const char *metric)
{
	return !strcmp(metric, "cosine") ? "Cosine" : !strcmp(metric, "l2") ? "Euclid" : "Dot";
}

/* One entry of vector_indexes (coco_vs_vector_indexes). */
static int on_index(void *ud, size_t ix, int field, const char *metric, long m, long efc,
	char **err)
{
	layout *l = ud;
	qcol *c = &l->cols[field];
	if (!c->vec) {
		coco_buf tb = {0};
		coco_type_format(c->type, &tb);
		int rc = coco_seterr(err, WHO ": export '%s': vector_indexes[%zu]: field '%s' is %s; "
			"a Qdrant vector needs a vector<float32,N> field", l->x.exp, ix, c->name, tb.p);
		coco_buf_free(&tb);
		return rc;
	}
	if (c->metric)
		return coco_seterr(err, WHO ": export '%s': vector_indexes[%zu]: field '%s' is "
			"listed twice (a Qdrant vector has one distance)", l->x.exp, ix, c->name);
	c->metric = metric;
	c->m = m;
	c->efc = efc;
	return 0;
}

/* Qdrant refuses collection names with these bytes, and longer than 255. */
static int check_collection(const char *s, const char *exp, char **err)
{
	if (!*s)
		return coco_seterr(err, WHO ": export '%s': collection_name must not be empty", exp);
	if (strlen(s) > 255)
		return coco_seterr(err, WHO ": export '%s': collection name '%s' is longer than 255 "
			"bytes", exp, s);
	for (const char *p = s; *p; p++)
		if (strchr("<>:\"/\\|?*", *p) || (unsigned char)*p < 0x20)
			return coco_seterr(err, WHO ": export '%s': collection name '%s' has a '%c'; Qdrant "
				"refuses < > : \" / \\ | ? * and control bytes (set collection_name)", exp, s,
				(unsigned char)*p < 0x20 ? '?' : *p);
	return 0;
}

static int layout_make(const coco_optval *opts, const coco_export_info *info, layout *l,
	char **err)
{
	memset(l, 0, sizeof *l);
	if (coco_vs_export_init(&l->x, WHO, info, &opts[OPT_URL], "QDRANT_URL",
	    "http://localhost:6333", " (Qdrant's REST port, 6333 by default)", &opts[OPT_COLLECTION],
	    err) < 0 || check_collection(l->x.coll.p, l->x.exp, err) < 0)
		return -1;
	if (opts[OPT_API_KEY_ENV].set && opts[OPT_API_KEY_ENV].s && *opts[OPT_API_KEY_ENV].s)
		l->key_env = opts[OPT_API_KEY_ENV].s;
	const coco_type *t = info->row_type;
	l->ncols = t->nfields;
	l->nkeys = info->nkeys;
	l->cols = coco_xcalloc(l->ncols + 1, sizeof *l->cols);
	for (uint32_t i = 0; i < l->ncols; i++) {
		qcol *c = &l->cols[i];
		c->name = t->fields[i].name;
		c->type = t->fields[i].type;
		c->vec = i >= l->nkeys && c->type->kind == COCO_VECTOR && c->type->dim > 0;
	}
	if (opts[OPT_VECTOR_INDEXES].set && opts[OPT_VECTOR_INDEXES].s &&
	    coco_vs_vector_indexes(&l->x, opts[OPT_VECTOR_INDEXES].s, "vectors", on_index, l,
		    err) < 0)
		return -1;
	l->vec1 = -1;
	for (uint32_t i = 0; i < l->ncols; i++) {
		qcol *c = &l->cols[i];
		if (!c->vec) {
			strcpy(c->spec, "payload");
			continue;
		}
		l->vec1 = l->nvec++ ? -1 : (int)i;
		if (!c->metric)
			c->metric = "cosine";
		int n = snprintf(c->spec, sizeof c->spec, "vector %u %s", c->type->dim,
			distance_of(c->metric));
		if (c->m)
			n += snprintf(c->spec + n, sizeof c->spec - (size_t)n, " m=%ld", c->m);
		if (c->efc)
			snprintf(c->spec + n, sizeof c->spec - (size_t)n, " ef_construct=%ld", c->efc);
	}
	return 0;
}

/* ---- the setup description ------------------------------------------------------
 *
 *   url http://127.0.0.1:6333
 *   collection Docs__chunks
 *   api_key_env QDRANT_API_KEY          (when given: a name, never the key)
 *   key filename location
 *   column filename str payload
 *   column embedding vector<float32,384> vector 384 Cosine m=16 ef_construct=64
 *
 * url, collection, key and column lines are engine/vstore.h's
 * (COCO_TDESC_SQL_REST: the rest of a column line says where the field
 * goes). */

typedef struct desc {
	coco_vs_desc v;              /* url, coll, key and column lines */
	const char *key_env;
} desc;

static int q_describe(const coco_optval *opts, const coco_export_info *info,
	coco_buf *resource_id, coco_buf *desired, char **err)
{
	layout l;
	if (layout_make(opts, info, &l, err) < 0) {
		layout_free(&l);
		return -1;
	}
	coco_buf_printf(resource_id, "qdrant:%s#%s", l.x.url.p, l.x.coll.p);
	coco_vs_desc_head(desired, &l.x);
	if (l.key_env)
		coco_tdesc_put_line(desired, "api_key_env", l.key_env);
	coco_tdesc_put_keys(desired, info->row_type, l.nkeys);
	for (uint32_t i = 0; i < l.ncols; i++)
		coco_tdesc_put_column(desired, COCO_TDESC_SQL_REST, l.cols[i].name, l.cols[i].type,
			l.cols[i].spec);
	layout_free(&l);
	return 0;
}

static int desc_line(void *ctx, coco_arena *a, const char *w, size_t wn, const char *rest,
	const char *e)
{
	desc *d = ctx;
	if (!COCO_TDESC_IS(w, wn, "api_key_env"))
		return -1;
	d->key_env = coco_unesc(a, rest, (size_t)(e - rest));
	return d->key_env ? 0 : -1;
}

static int desc_complete(const coco_vs_desc *d, char **err)
{
	if (!d->url || !d->coll || !d->t.nkeys || !d->t.ncols)
		return coco_seterr(err, WHO ": malformed setup description (needs url, collection, key "
			"and column lines)");
	return 0;
}

static int is_vec(const coco_tcol *c)
{
	return !strncmp(c->sql, "vector ", 7);
}

/* "vector 384 Cosine m=16" → size 384, distance Cosine (the hnsw part apart). */
static void vec_parts(const coco_tcol *c, long *size, char dist[16], const char **hnsw)
{
	*size = strtol(c->sql + 7, NULL, 10);
	const char *p = strchr(c->sql + 7, ' ');
	dist[0] = 0;
	*hnsw = "";
	if (p) {
		p++;
		size_t n = strcspn(p, " ");
		snprintf(dist, 16, "%.*s", (int)n, p);
		*hnsw = p[n] ? p + n + 1 : "";
	}
}

/* Why the collection must be recreated beyond url, collection and key: its
 * named vectors differ (names, sizes, distances; coco_vs_setup.reasons). */
static void vector_reasons(const coco_vs_desc *s, const coco_vs_desc *d, coco_buf *why)
{
	for (size_t i = 0; i < d->t.ncols; i++) {
		const coco_tcol *c = &d->t.cols[i], *o = coco_tdesc_col(&s->t, c->name);
		if (!is_vec(c) && (!o || !is_vec(o)))
			continue;
		long sz = 0, osz = 0;
		char dist[16] = "", odist[16] = "";
		const char *h, *oh;
		if (is_vec(c))
			vec_parts(c, &sz, dist, &h);
		if (o && is_vec(o))
			vec_parts(o, &osz, odist, &oh);
		if (!o || !is_vec(o)) {
			coco_tdesc_reason(why, "new vector %s (%ld %s)", c->name, sz, dist);
		} else if (!is_vec(c)) {
			coco_tdesc_reason(why, "vector %s becomes payload", c->name);
		} else if (sz != osz || strcmp(dist, odist)) {
			coco_tdesc_reason(why, "vector %s: %ld %s → %ld %s", c->name, osz, odist, sz, dist);
		}
	}
	for (size_t i = 0; i < s->t.ncols; i++)
		if (is_vec(&s->t.cols[i]) && !coco_tdesc_col(&d->t, s->t.cols[i].name))
			coco_tdesc_reason(why, "vector %s is gone", s->t.cols[i].name);
}

static void plan_create(const coco_vs_desc *d, coco_buf *plan)
{
	coco_buf_printf(plan, "create collection %s (", d->coll);
	int any = 0;
	for (size_t i = 0; i < d->t.ncols; i++)
		if (is_vec(&d->t.cols[i])) {
			coco_buf_printf(plan, "%s%s %s", any ? ", " : "vectors: ", d->t.cols[i].name,
				d->t.cols[i].sql + 7);
			any = 1;
		}
	coco_buf_adds(plan, any ? "; payload: " : "payload: ");
	any = 0;
	for (size_t i = 0; i < d->t.ncols; i++)
		if (!is_vec(&d->t.cols[i])) {
			coco_buf_printf(plan, "%s%s", any ? ", " : "", d->t.cols[i].name);
			any = 1;
		}
	coco_buf_printf(plan, "; point ids from ");
	coco_tdesc_put_names(plan, d->t.keys, d->t.nkeys);
	coco_buf_adds(plan, ")\n");
}

/* Payload fields of s that d lacks: their values are deleted from every
 * point (destructive). New ones and changed types need nothing: each
 * point's payload is written whole. Vectors whose HNSW settings change are
 * updated in place. */
static int plan_fields(const coco_vs_desc *s, const coco_vs_desc *d, coco_buf *plan)
{
	int destructive = 0;
	for (size_t i = 0; i < s->t.ncols; i++) {
		const coco_tcol *o = &s->t.cols[i];
		if (!is_vec(o) && !coco_tdesc_col(&d->t, o->name)) {
			coco_buf_printf(plan, "delete payload field %s from every point\n", o->name);
			destructive = 1;
		}
	}
	for (size_t i = 0; i < d->t.ncols; i++) {
		const coco_tcol *c = &d->t.cols[i], *o = coco_tdesc_col(&s->t, c->name);
		if (is_vec(c)) {
			if (o && is_vec(o) && strcmp(o->sql, c->sql))
				coco_buf_printf(plan, "update vector %s (%s)\n", c->name, c->sql + 7);
		} else if (!o) {
			coco_buf_printf(plan, "add payload field %s (%s)\n", c->name, c->type);
		} else if (strcmp(o->type, c->type)) {
			coco_buf_printf(plan, "payload field %s: %s → %s (points are written again)\n",
				c->name, o->type, c->type);
		}
	}
	return destructive;
}

/* ---- HTTP ------------------------------------------------------------------------ */

typedef struct conn {
	coco_http *h;                /* NULL: one plain exchange a call (queries) */
	char *hdr[2];                /* "api-key: ..." or NULL */
	coco_buf url;                /* scratch */
} conn;

/* plain: no libcurl client, one plain exchange a call (see conn_open_query). */
static int conn_open_with(conn *c, const char *key_env, int plain, char **err)
{
	memset(c, 0, sizeof *c);
	if (key_env) {
		const char *k = getenv(key_env);
		if (!k || !*k)
			return coco_seterr(err, WHO ": api_key_env: $%s is not set", key_env);
		size_t n = strlen(k) + 10;
		c->hdr[0] = coco_xmalloc(n);
		snprintf(c->hdr[0], n, "api-key: %s", k);
	}
	if (plain)
		return 0;
	coco_http_opts o = { .max_inflight = INFLIGHT, .connect_timeout_ms = 5000,
		.max_retries = 3, .backoff_ms = 200 };
	c->h = coco_http_create(&o);
	return 0;
}

static int conn_open(conn *c, const char *key_env, char **err)
{
	return conn_open_with(c, key_env, 0, err);
}

/* A connection for a query: over plain http:// without libcurl (loading it
 * and its libraries costs more than the query); https:// through
 * engine/http.c. */
static int conn_open_query(conn *c, const char *url, const char *key_env, char **err)
{
	return conn_open_with(c, key_env, !strncmp(url, "http://", 7), err);
}

static void conn_close(conn *c)
{
	coco_http_destroy(c->h);
	free(c->hdr[0]);
	coco_buf_free(&c->url);
	memset(c, 0, sizeof *c);
}

/* url/collections/<coll><tail> into c->url */
static const char *coll_url(conn *c, const char *url, const char *coll, const char *tail)
{
	coco_buf_clear(&c->url);
	coco_buf_printf(&c->url, "%s/collections/", url);
	coco_vs_path(&c->url, coll);
	coco_buf_adds(&c->url, tail);
	return c->url.p;
}

/* A request whose 2xx is success (and 404 when ok404); else *err names
 * what failed. Returns the status or -1. */
static long call(conn *c, const char *method, const char *url, const char *body, int ok404,
	const char *what, coco_http_resp *r, char **err)
{
	return coco_vs_call(c->h, WHO, method, url, (const char *const *)c->hdr, body, ok404, what,
		"(check api_key_env)", r, err);
}

/* The collection's named vectors as the server has them: "name size Distance"
 * lines, sorted as d lists them, into out. Returns 1 (exists), 0 (404), -1. */
static int server_vectors(conn *c, const coco_vs_desc *d, coco_buf *out, char **err)
{
	coco_http_resp r;
	coco_buf what = {0};
	coco_buf_printf(&what, "read collection %s on %s", d->coll, d->url);
	long st = call(c, "GET", coll_url(c, d->url, d->coll, ""), NULL, 1, what.p, &r, err);
	coco_buf_free(&what);
	int rc = st < 0 ? -1 : st == 404 ? 0 : 1;
	const char *res, *cfg, *par, *vecs;
	size_t nres, ncfg, npar, nvecs;
	if (rc == 1 && (!coco_json_get(r.body.p, r.body.n, "result", 6, &res, &nres) ||
	    !coco_json_get(res, nres, "config", 6, &cfg, &ncfg) ||
	    !coco_json_get(cfg, ncfg, "params", 6, &par, &npar))) {
		rc = coco_seterr(err, WHO ": read collection %s on %s: unexpected answer %.200s", d->coll,
			d->url, r.body.p ? r.body.p : "");
	}
	if (rc == 1 && coco_json_get(par, npar, "vectors", 7, &vecs, &nvecs)) {
		coco_json_iter it;
		const char *k, *v;
		size_t kn, vn;
		coco_buf name = {0}, dist = {0};
		const char *sz;
		size_t nsz;
		if (coco_json_get(vecs, nvecs, "size", 4, &sz, &nsz)) {
			/* one unnamed vector: not what coco creates */
			coco_json_get_str(vecs, nvecs, "distance", &dist);
			coco_buf_printf(out, "(unnamed) %.*s %s\n", (int)nsz, sz, dist.p ? dist.p : "?");
		} else if (coco_json_iter_init(&it, vecs, nvecs) == '{') {
			while (coco_json_iter_next(&it, &k, &kn, &v, &vn)) {
				coco_buf_clear(&name);
				coco_json_str_decode(k, kn, &name);
				coco_json_get_str(v, vn, "distance", &dist);
				if (!coco_json_get(v, vn, "size", 4, &sz, &nsz))
					sz = "?", nsz = 1;
				coco_buf_printf(out, "%s %.*s %s\n", name.p ? name.p : "", (int)nsz, sz,
					dist.p ? dist.p : "?");
			}
		}
		coco_buf_free(&name);
		coco_buf_free(&dist);
	}
	coco_http_resp_free(&r);
	return rc;
}

/* What the server's vectors (server_vectors) lack or have that d does not
 * want, as a reason; empty when they agree. */
static void vector_diff(const coco_vs_desc *d, const char *have, coco_buf *why)
{
	size_t nwant = 0;
	for (size_t i = 0; i < d->t.ncols; i++) {
		const coco_tcol *c = &d->t.cols[i];
		if (!is_vec(c))
			continue;
		nwant++;
		long sz;
		char dist[16];
		const char *h;
		vec_parts(c, &sz, dist, &h);
		const char *line = NULL;
		size_t nl = strlen(c->name);
		for (const char *p = have; *p; p = strchr(p, '\n') + 1)
			if (!strncmp(p, c->name, nl) && p[nl] == ' ') {
				line = p + nl + 1;
				break;
			}
		char want[48];
		snprintf(want, sizeof want, "%ld %s\n", sz, dist);
		if (!line)
			coco_tdesc_reason(why, "vector %s is missing", c->name);
		else if (strncmp(line, want, strlen(want)))
			coco_tdesc_reason(why, "vector %s is %.*s, the flow wants %.*s", c->name,
				(int)strcspn(line, "\n"), line, (int)strlen(want) - 1, want);
	}
	size_t nhave = 0;
	for (const char *p = have; *p; p = strchr(p, '\n') + 1)
		nhave++;
	if (nhave > nwant) {
		for (const char *p = have; *p; p = strchr(p, '\n') + 1) {
			size_t n = strcspn(p, " ");
			int wanted = 0;
			for (size_t i = 0; i < d->t.ncols && !wanted; i++)
				wanted = is_vec(&d->t.cols[i]) && strlen(d->t.cols[i].name) == n &&
					!memcmp(d->t.cols[i].name, p, n);
			if (!wanted)
				coco_tdesc_reason(why, "vector %.*s is not the flow's", (int)n, p);
		}
	}
}

static int create_collection(conn *c, const coco_vs_desc *d, char **err)
{
	coco_buf body = {0}, what = {0};
	coco_buf_adds(&body, "{\"vectors\":{");
	int any = 0;
	for (size_t i = 0; i < d->t.ncols; i++) {
		const coco_tcol *col = &d->t.cols[i];
		if (!is_vec(col))
			continue;
		long sz;
		char dist[16];
		const char *h;
		vec_parts(col, &sz, dist, &h);
		if (any)
			coco_buf_putc(&body, ',');
		any = 1;
		coco_json_str(&body, col->name, strlen(col->name));
		coco_buf_printf(&body, ":{\"size\":%ld,\"distance\":\"%s\"", sz, dist);
		const char *m = strstr(h, "m="), *e = strstr(h, "ef_construct=");
		if (m || e) {
			coco_buf_adds(&body, ",\"hnsw_config\":{");
			if (m)
				coco_buf_printf(&body, "\"m\":%ld%s", strtol(m + 2, NULL, 10), e ? "," : "");
			if (e)
				coco_buf_printf(&body, "\"ef_construct\":%ld", strtol(e + 13, NULL, 10));
			coco_buf_putc(&body, '}');
		}
		coco_buf_putc(&body, '}');
	}
	coco_buf_adds(&body, "}}");
	coco_buf_printf(&what, "create collection %s on %s", d->coll, d->url);
	coco_http_resp r;
	long st = call(c, "PUT", coll_url(c, d->url, d->coll, ""), body.p, 0, what.p, &r, err);
	coco_http_resp_free(&r);
	coco_buf_free(&body);
	coco_buf_free(&what);
	return st < 0 ? -1 : 0;
}

static int drop_collection(conn *c, const char *url, const char *coll, char **err)
{
	coco_buf what = {0};
	coco_buf_printf(&what, "drop collection %s on %s", coll, url);
	coco_http_resp r;
	long st = call(c, "DELETE", coll_url(c, url, coll, ""), NULL, 1, what.p, &r, err);
	coco_http_resp_free(&r);
	coco_buf_free(&what);
	return st < 0 ? -1 : 0;
}

/* The server's collection next to what d wants: *exists, and in why the
 * reasons it must be recreated (changed by hand). */
static int server_diff(conn *c, const coco_vs_desc *d, int *exists, coco_buf *why, char **err)
{
	coco_buf have = {0};
	int rc = server_vectors(c, d, &have, err);
	if (rc >= 0) {
		*exists = rc;
		if (rc)
			vector_diff(d, have.p ? have.p : "", why);
		rc = 0;
	}
	coco_buf_free(&have);
	return rc;
}

/* The collection on the server next to d (coco_vs_setup.server), by one
 * plain exchange (no libcurl, one try). */
static int server_check(const coco_vs_desc *v, int *exists, coco_buf *why, char **err)
{
	conn c;
	int rc = conn_open_query(&c, v->url, ((const desc *)v)->key_env, err);
	if (rc == 0)
		rc = server_diff(&c, v, exists, why, err);
	conn_close(&c);
	return rc;
}

/* who, desc_size, key_words, line, complete, plan_create, reasons, plan_fields, server */
static const coco_vs_setup q_setup = { WHO, sizeof(desc), "key (point ids)", desc_line, desc_complete,
	plan_create, vector_reasons, plan_fields, server_check };

/* plan, and check: a collection deleted or changed by hand is planned again */
COCO_VS_PLAN_CHECK(q, q_setup)

/* Deletes the payload fields of s that d no longer has from every point. */
static int drop_payload_fields(conn *c, const coco_vs_desc *s, const coco_vs_desc *d, char **err)
{
	coco_buf body = {0}, what = {0};
	int n = 0;
	coco_buf_adds(&body, "{\"keys\":[");
	for (size_t i = 0; i < s->t.ncols; i++) {
		const coco_tcol *o = &s->t.cols[i];
		if (is_vec(o) || coco_tdesc_col(&d->t, o->name))
			continue;
		if (n++)
			coco_buf_putc(&body, ',');
		coco_json_str(&body, o->name, strlen(o->name));
	}
	coco_buf_adds(&body, "],\"filter\":{}}");
	int rc = 0;
	if (n) {
		coco_buf_printf(&what, "delete payload fields of collection %s on %s", d->coll, d->url);
		coco_http_resp r;
		rc = call(c, "POST", coll_url(c, d->url, d->coll, "/points/payload/delete?wait=true"),
			body.p, 0, what.p, &r, err) < 0 ? -1 : 0;
		coco_http_resp_free(&r);
	}
	coco_buf_free(&body);
	coco_buf_free(&what);
	return rc;
}

/* Updates the HNSW settings of d's vectors that differ from s's. */
static int patch_vectors(conn *c, const coco_vs_desc *s, const coco_vs_desc *d, char **err)
{
	coco_buf body = {0}, what = {0};
	int n = 0;
	coco_buf_adds(&body, "{\"vectors\":{");
	for (size_t i = 0; i < d->t.ncols; i++) {
		const coco_tcol *col = &d->t.cols[i], *o = coco_tdesc_col(&s->t, col->name);
		if (!is_vec(col) || !o || !strcmp(o->sql, col->sql))
			continue;
		long sz;
		char dist[16];
		const char *h;
		vec_parts(col, &sz, dist, &h);
		const char *m = strstr(h, "m="), *e = strstr(h, "ef_construct=");
		if (n++)
			coco_buf_putc(&body, ',');
		coco_json_str(&body, col->name, strlen(col->name));
		coco_buf_printf(&body, ":{\"hnsw_config\":{\"m\":%ld,\"ef_construct\":%ld}}",
			m ? strtol(m + 2, NULL, 10) : 16, e ? strtol(e + 13, NULL, 10) : 100);
	}
	coco_buf_adds(&body, "}}");
	int rc = 0;
	if (n) {
		coco_buf_printf(&what, "update vectors of collection %s on %s", d->coll, d->url);
		coco_http_resp r;
		rc = call(c, "PATCH", coll_url(c, d->url, d->coll, ""), body.p, 0, what.p, &r, err) < 0
			? -1 : 0;
		coco_http_resp_free(&r);
	}
	coco_buf_free(&body);
	coco_buf_free(&what);
	return rc;
}

/* Every step looks at the server first, so a setup interrupted by a crash
 * is safe to run again; apply(desired, desired) repairs a collection
 * changed by hand (see q_check). */
static int q_apply(const char *stored, const char *desired, char **err)
{
	coco_arena a = {0};
	desc s, d;
	conn c = {0};
	int rc = -1;
	if ((stored && coco_vs_desc_parse(&q_setup, stored, &a, &s.v, err) < 0) ||
	    (desired && coco_vs_desc_parse(&q_setup, desired, &a, &d.v, err) < 0))
		goto done;
	const desc *any = desired ? &d : &s;
	if (conn_open(&c, any->key_env, err) < 0)
		goto done;
	if (!desired) {
		rc = drop_collection(&c, s.v.url, s.v.coll, err);
		goto done;
	}
	int moved = stored && (strcmp(s.v.url, d.v.url) || strcmp(s.v.coll, d.v.coll));
	if (moved) {
		conn old;
		if (conn_open(&old, s.key_env, err) < 0)
			goto done;
		rc = drop_collection(&old, s.v.url, s.v.coll, err);
		conn_close(&old);
		if (rc < 0)
			goto done;
		rc = -1;
	}
	coco_buf why = {0};
	if (stored && !moved)
		coco_vs_recreate_reasons(&q_setup, &s.v, &d.v, &why);
	int exists = 0;
	if (server_diff(&c, &d.v, &exists, &why, err) < 0) {
		coco_buf_free(&why);
		goto done;
	}
	if (exists && why.n && drop_collection(&c, d.v.url, d.v.coll, err) < 0) {
		coco_buf_free(&why);
		goto done;
	}
	if (!exists || why.n)
		rc = create_collection(&c, &d.v, err);
	else if (stored && !moved)
		rc = patch_vectors(&c, &s.v, &d.v, err) < 0 ? -1 : drop_payload_fields(&c, &s.v, &d.v, err);
	else
		rc = 0;
	coco_buf_free(&why);
done:
	conn_close(&c);
	coco_arena_destroy(&a);
	return rc;
}

/* ---- writes ------------------------------------------------------------------------ */

typedef struct q_tgt {
	conn c;
	layout l;
	char *label;                 /* "collection C on URL", for messages */
	char *points_url, *delete_url, *batch_url;
	coco_vs_batch b;             /* the open batch: a point's JSON (span 0), within
	                                it its one vector's array (1) and payload (2) */
	coco_buf alias;              /* points a scan found under another id (q_scan) */
	/* COCO_QDRANT_STATS */
	double ms;
	uint64_t batches, requests, upserts, deletes;
} q_tgt;

static int q_begin(void *p, char **err)
{
	q_tgt *t = p;
	(void)err;
	coco_vs_batch_clear(&t->b);
	return 0;
}

static int q_upsert(void *p, const coco_value *row, char **err)
{
	q_tgt *t = p;
	const layout *l = &t->l;
	if (coco_vs_row_check(WHO, t->label, row, l->ncols, err) < 0)
		return -1;
	/* vectors first: a wrong one refuses the row before anything is kept */
	for (uint32_t i = 0; i < l->ncols; i++) {
		const coco_value *v = &row->u.fields[i];
		if (!l->cols[i].vec || v->kind == COCO_NULL)
			continue;
		if (v->kind != COCO_VECTOR || v->n != l->cols[i].type->dim) {
			coco_seterr(err, WHO ": %s: vector %s has %zu dimensions, the collection's has %u",
				t->label, l->cols[i].name, v->kind == COCO_VECTOR ? v->n : (size_t)0,
				l->cols[i].type->dim);
			return COCO_TGT_REFUSED;
		}
	}
	coco_value key = coco_vs_key_of(row, l->nkeys);
	char id[37];
	coco_vs_uuid(&key, id);
	coco_buf *b = &t->b.data;
	size_t off = b->n, vec_off = 0, vec_len = 0;
	coco_buf_printf(b, "{\"id\":\"%s\",\"vector\":{", id);
	int any = 0;
	for (uint32_t i = 0; i < l->ncols; i++) {
		const coco_value *v = &row->u.fields[i];
		if (!l->cols[i].vec || v->kind == COCO_NULL)
			continue;
		if (any++)
			coco_buf_putc(b, ',');
		coco_json_str(b, l->cols[i].name, strlen(l->cols[i].name));
		coco_buf_putc(b, ':');
		vec_off = b->n;
		coco_vs_floats(b, v->u.vec, v->n);
		vec_len = b->n - vec_off;
	}
	coco_buf_adds(b, "},\"payload\":");
	size_t pay_off = b->n;
	coco_buf_putc(b, '{');
	any = 0;
	for (uint32_t i = 0; i < l->ncols; i++) {
		if (l->cols[i].vec)
			continue;
		if (any++)
			coco_buf_putc(b, ',');
		coco_json_str(b, l->cols[i].name, strlen(l->cols[i].name));
		coco_buf_putc(b, ':');
		const coco_value *v = &row->u.fields[i];
		if (v->kind == COCO_VECTOR)
			coco_vs_floats(b, v->u.vec, v->n);
		else
			coco_value_to_json(v, l->cols[i].type, b);
	}
	coco_buf_putc(b, '}');
	size_t pay_len = b->n - pay_off;
	coco_buf_putc(b, '}');
	coco_vs_op *o = coco_vs_batch_add(&t->b, id, 36, 0);
	o->off[0] = off;
	o->len[0] = b->n - off;
	if (l->nvec == 1 && vec_len) {  /* can go in a columnar batch */
		o->off[1] = vec_off;
		o->len[1] = vec_len;
		o->off[2] = pay_off;
		o->len[2] = pay_len;
	}
	t->upserts++;
	return 0;
}

static int q_del(void *p, const coco_value *key, char **err)
{
	q_tgt *t = p;
	coco_value k = *key;
	if (key->kind != COCO_STRUCT) {
		if (t->l.nkeys != 1)
			return coco_seterr(err, WHO ": %s: a key has 1 field, expected %u", t->label,
				t->l.nkeys);
		k.kind = COCO_STRUCT;
		k.n = 1;
		k.u.fields = (coco_value *)key;
	}
	char id[37];
	coco_vs_uuid(&k, id);
	coco_vs_batch_add(&t->b, id, 36, 1);
	const char *other;
	size_t n;
	for (size_t at = 0; (at = coco_vs_alias_next(&t->alias, id, 36, at, &other, &n));)
		coco_vs_batch_add(&t->b, other, n, 1);
	t->deletes++;
	return 0;
}

typedef struct qreq {
	coco_buf body;
	const char *method, *url;
	coco_http_xfer *x;
} qreq;

typedef struct reqs {
	qreq *r;
	size_t n, cap;
} reqs;

static coco_buf *req_new(reqs *q, const char *method, const char *url)
{
	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 8;
		q->r = coco_xrealloc(q->r, q->cap * sizeof *q->r);
	}
	qreq *r = &q->r[q->n++];
	memset(r, 0, sizeof *r);
	r->method = method;
	r->url = url;
	return &r->body;
}

/* The writes of kind k of the batch: 0 upserts that fit a columnar batch
 * (one named vector, there), 1 other upserts, 2 deletes. */
static int op_kind(const coco_vs_op *o)
{
	return o->del ? 2 : o->len[1] ? 0 : 1;
}

/* Requests for the live writes of kind k, per at most a request:
 *   0  PUT points {"batch":{"ids":[...],"vectors":{"v":[[...],...]},"payloads":[...]}}
 *      (columnar: the server takes it in about three quarters of the time)
 *   1  PUT points {"points":[{"id":..,"vector":{..},"payload":{..}},...]}
 *   2  POST points/delete {"points":[ids]} */
static void add_reqs(q_tgt *t, reqs *q, int k, size_t per)
{
	const coco_vs_op *ops = t->b.ops;
	const char *data = t->b.data.p;
	size_t i = 0;
	for (;;) {
		while (i < t->b.n && (ops[i].dead || op_kind(&ops[i]) != k))
			i++;
		if (i == t->b.n)
			return;
		coco_buf *b = req_new(q, k == 2 ? "POST" : "PUT", k == 2 ? t->delete_url : t->points_url);
		size_t first = i, n = 0, bytes = 0;
		/* the ops of this request: from first, n live ones of kind k */
		for (size_t j = i; j < t->b.n && n < per && bytes < MAX_BYTES; j++)
			if (!ops[j].dead && op_kind(&ops[j]) == k) {
				n++;
				bytes += ops[j].len[0] + 40;
				i = j + 1;
			}
		size_t end = i;
#define EACH(j) for (size_t j = first; j < end; j++) if (!ops[j].dead && op_kind(&ops[j]) == k)
		int c = 0;
		if (k == 0) {
			coco_buf_reserve(b, bytes + 64);
			coco_buf_adds(b, "{\"batch\":{\"ids\":[");
			EACH(j) coco_buf_printf(b, "%s\"%s\"", c++ ? "," : "", coco_vs_op_id(&t->b, &ops[j]));
			coco_buf_adds(b, "],\"vectors\":{");
			const char *name = t->l.cols[t->l.vec1].name;
			coco_json_str(b, name, strlen(name));
			coco_buf_adds(b, ":[");
			c = 0;
			EACH(j) {
				if (c++)
					coco_buf_putc(b, ',');
				coco_buf_add(b, data + ops[j].off[1], ops[j].len[1]);
			}
			coco_buf_adds(b, "]},\"payloads\":[");
			c = 0;
			EACH(j) {
				if (c++)
					coco_buf_putc(b, ',');
				coco_buf_add(b, data + ops[j].off[2], ops[j].len[2]);
			}
			coco_buf_adds(b, "]}}");
		} else if (k == 1) {
			coco_buf_reserve(b, bytes + 64);
			coco_buf_adds(b, "{\"points\":[");
			EACH(j) {
				if (c++)
					coco_buf_putc(b, ',');
				coco_buf_add(b, data + ops[j].off[0], ops[j].len[0]);
			}
			coco_buf_adds(b, "]}");
		} else {
			coco_buf_adds(b, "{\"points\":[");
			EACH(j) coco_buf_printf(b, "%s\"%s\"", c++ ? "," : "", coco_vs_op_id(&t->b, &ops[j]));
			coco_buf_adds(b, "]}");
		}
#undef EACH
	}
}

/* A small batch whole in one request: POST points/batch {"operations":
 * [{"upsert":{"points":[...]}},{"delete":{"points":[ids]}}]}. */
static void add_mixed(q_tgt *t, reqs *q)
{
	const coco_vs_op *ops = t->b.ops;
	coco_buf *b = req_new(q, "POST", t->batch_url);
	coco_buf_adds(b, "{\"operations\":[");
	int nu = 0, nd = 0;
	for (size_t i = 0; i < t->b.n; i++)
		if (!ops[i].dead && !ops[i].del) {
			coco_buf_adds(b, nu++ ? "," : "{\"upsert\":{\"points\":[");
			coco_buf_add(b, t->b.data.p + ops[i].off[0], ops[i].len[0]);
		}
	if (nu)
		coco_buf_adds(b, "]}}");
	for (size_t i = 0; i < t->b.n; i++)
		if (!ops[i].dead && ops[i].del)
			coco_buf_printf(b, "%s\"%s\"", nd++ ? "," : nu ? ",{\"delete\":{\"points\":["
				: "{\"delete\":{\"points\":[", coco_vs_op_id(&t->b, &ops[i]));
	if (nd)
		coco_buf_adds(b, "]}}");
	coco_buf_adds(b, "]}");
}

static int q_commit(void *p, char **err)
{
	q_tgt *t = p;
	double t0 = coco_now_ms();
	if (!t->b.live)
		return 0;
	/* a small batch in one request; a larger one's upserts in up to INFLIGHT
	 * requests of MIN..MAX_POINTS points, its deletes apart: the ids are
	 * distinct, so the requests may run in any order */
	reqs q = {0};
	if (t->b.live <= MIN_POINTS) {
		add_mixed(t, &q);
	} else {
		size_t per = (t->b.live + INFLIGHT - 1) / INFLIGHT;
		per = per < MIN_POINTS ? MIN_POINTS : per > MAX_POINTS ? MAX_POINTS : per;
		add_reqs(t, &q, 0, per);
		add_reqs(t, &q, 1, per);
		add_reqs(t, &q, 2, 4096);
	}
	size_t nreq = q.n;
	const char *hv[3] = { "Content-Type: application/json", t->c.hdr[0], NULL };
	for (size_t i = 0; i < nreq; i++) {
		coco_http_req r = { .method = q.r[i].method, .url = q.r[i].url, .headers = hv,
			.body = q.r[i].body.p, .nbody = q.r[i].body.n };
		q.r[i].x = coco_http_start(t->c.h, &r, NULL);
		coco_buf_free(&q.r[i].body);     /* copied by coco_http_start */
	}
	qreq *reqs = q.r;
	int rc = 0;
	for (size_t i = 0; i < nreq; i++) {
		coco_http_wait(t->c.h, reqs[i].x);
		coco_http_resp *r = coco_http_resp_of(reqs[i].x);
		if (rc == 0 && (r->status < 200 || r->status >= 300)) {
			coco_buf what = {0};
			coco_buf_printf(&what, "write to %s", t->label);
			rc = coco_vs_write_err(WHO, what.p, t->l.x.url.p, r, err);
			coco_buf_free(&what);
		}
		coco_http_release(t->c.h, reqs[i].x);
	}
	free(reqs);
	if (rc == 0) {
		t->batches++;
		t->requests += nreq;
		t->ms += coco_now_ms() - t0;
	}
	return rc;
}

static void q_close(void *p)
{
	q_tgt *t = p;
	if (!t)
		return;
	if (getenv("COCO_QDRANT_STATS") && t->batches)
		fprintf(stderr, "coco: Qdrant %s: %llu batches, %llu requests, %llu upserts, "
			"%llu deletes, %.1f ms in the target\n", t->label,
			(unsigned long long)t->batches, (unsigned long long)t->requests,
			(unsigned long long)t->upserts, (unsigned long long)t->deletes, t->ms);
	conn_close(&t->c);
	layout_free(&t->l);
	free(t->label);
	free(t->points_url);
	free(t->delete_url);
	free(t->batch_url);
	coco_vs_batch_free(&t->b);
	coco_buf_free(&t->alias);
	free(t);
}

static int q_open(const coco_optval *opts, const coco_export_info *info, void **out, char **err)
{
	*out = NULL;
	q_tgt *t = coco_xcalloc(1, sizeof *t);
	if (layout_make(opts, info, &t->l, err) < 0 || conn_open(&t->c, t->l.key_env, err) < 0) {
		q_close(t);
		return -1;
	}
	coco_buf lb = {0};
	coco_buf_printf(&lb, "collection %s on %s", t->l.x.coll.p, t->l.x.url.p);
	t->label = coco_buf_take(&lb);
	t->points_url = coco_strdup(coll_url(&t->c, t->l.x.url.p, t->l.x.coll.p, "/points?wait=true"));
	t->batch_url = coco_strdup(coll_url(&t->c, t->l.x.url.p, t->l.x.coll.p,
		"/points/batch?wait=true"));
	t->delete_url = coco_strdup(coll_url(&t->c, t->l.x.url.p, t->l.x.coll.p,
		"/points/delete?wait=true"));
	*out = t;
	return 0;
}

/* ---- reading points back: queries and scans ---------------------------------------- */

/* vals[j] = the point pv's value of field src[j] (a named vector from its
 * vector, else from its payload), as type types[j]; j < n. From a. */
static void point_fields(const layout *l, const char *pv, size_t npv, const int *src,
	const coco_field *types, size_t n, coco_arena *a, coco_value *vals)
{
	const char *pay, *vecs, *fv;
	size_t npay, nvecs, nfv;
	int has_pay = coco_json_get(pv, npv, "payload", 7, &pay, &npay);
	int has_vec = coco_json_get(pv, npv, "vector", 6, &vecs, &nvecs);
	for (size_t j = 0; j < n; j++) {
		const qcol *col = &l->cols[src[j]];
		const char *from = col->vec ? (has_vec ? vecs : NULL) : (has_pay ? pay : NULL);
		size_t nfrom = col->vec ? nvecs : npay;
		memset(&vals[j], 0, sizeof vals[j]);
		if (from && coco_json_get(from, nfrom, col->name, strlen(col->name), &fv, &nfv))
			coco_vs_from_json(fv, nfv, types[j].type, a, &vals[j]);
	}
}

/* The points of a query's or scroll's answer: *pts, or -1 with *err. */
static int answer_points(const coco_http_resp *r, const char *what, const char **pts,
	size_t *npts, const char **res, size_t *nres, char **err)
{
	coco_json_iter it;
	if (!coco_json_get(r->body.p, r->body.n, "result", 6, res, nres) ||
	    !coco_json_get(*res, *nres, "points", 6, pts, npts) ||
	    coco_json_iter_init(&it, *pts, *npts) != '[')
		return coco_seterr(err, WHO ": %s: unexpected answer %.200s", what, r->body.p);
	return 0;
}

static int q_top_k(const coco_optval *opts, const coco_export_info *info, const char *field,
	const char *metric, const float *vec, size_t dim, size_t k, coco_arena *a,
	const coco_type **row_type, coco_value **rows, size_t *nrows, char **err)
{
	*rows = NULL;
	*nrows = 0;
	layout l;
	conn c = {0};
	coco_buf body = {0}, what = {0};
	coco_http_resp r = {0};
	int rc = -1;
	if (layout_make(opts, info, &l, err) < 0)
		goto done;
	coco_buf_printf(&what, "query collection %s on %s", l.x.coll.p, l.x.url.p);
	int fi = coco_vs_field(info->row_type, field, strlen(field));
	if (fi < 0) {
		coco_buf f = {0};
		coco_vs_field_names(info->row_type, &f);
		coco_seterr(err, WHO ": %s: unknown field '%s'; fields: %s", what.p, field, f.p);
		coco_buf_free(&f);
		goto done;
	}
	const qcol *vc = &l.cols[fi];
	if (!vc->vec) {
		coco_buf tb = {0};
		coco_type_format(vc->type, &tb);
		coco_seterr(err, WHO ": %s: field '%s' is %s, in the payload; top_k needs a "
			"vector<float32,N> field (a named vector)", what.p, field, tb.p);
		coco_buf_free(&tb);
		goto done;
	}
	if (dim != vc->type->dim) {
		coco_seterr(err, WHO ": %s: the query vector has %zu dimensions, field '%s' has %u",
			what.p, dim, field, vc->type->dim);
		goto done;
	}
	if (strcmp(metric, vc->metric)) {
		coco_seterr(err, WHO ": %s: vector '%s' is searched by %s (its collection's distance); "
			"top_k asked for %s (set vector_indexes = {{ field = \"%s\", metric = \"%s\" }} "
			"on the export)", what.p, field, vc->metric, metric, field, metric);
		goto done;
	}
	if (conn_open_query(&c, l.x.url.p, l.key_env, err) < 0)
		goto done;
	coco_buf_adds(&body, "{\"query\":");
	coco_vs_floats(&body, vec, dim);
	coco_buf_adds(&body, ",\"using\":");
	coco_json_str(&body, field, strlen(field));
	coco_buf_printf(&body, ",\"limit\":%zu,\"with_payload\":true,\"with_vector\":", k);
	int nvec = 0;
	for (uint32_t i = 0; i < l.ncols; i++)
		if (l.cols[i].vec && (int)i != fi) {
			coco_buf_adds(&body, nvec++ ? "," : "[");
			coco_json_str(&body, l.cols[i].name, strlen(l.cols[i].name));
		}
	coco_buf_adds(&body, nvec ? "]}" : "false}");
	long st = call(&c, "POST", coll_url(&c, l.x.url.p, l.x.coll.p, "/points/query"), body.p, 1,
		what.p, &r, err);
	if (st < 0)
		goto done;
	if (st == 404) {
		coco_seterr(err, WHO ": %s: no such collection (run coco update first)", what.p);
		goto done;
	}
	int *src = coco_arena_alloc(a, (l.ncols + 1) * sizeof *src);
	*row_type = coco_vs_topk_type(info->row_type, fi, a, src);
	uint32_t nf = (*row_type)->nfields;
	const char *res, *pts, *pv, *kk, *fv;
	size_t nres, npts, npv, kkn, nfv;
	if (answer_points(&r, what.p, &pts, &npts, &res, &nres, err) < 0)
		goto done;
	coco_json_iter it;
	size_t n = 0;
	coco_json_iter_init(&it, pts, npts);
	while (coco_json_iter_next(&it, &kk, &kkn, &pv, &npv))
		n++;
	coco_value *outv = coco_arena_alloc(a, (n + 1) * sizeof *outv);
	coco_json_iter_init(&it, pts, npts);
	size_t i = 0;
	while (coco_json_iter_next(&it, &kk, &kkn, &pv, &npv) && i < n) {
		coco_value *row = &outv[i++];
		row->kind = COCO_STRUCT;
		row->n = nf;
		row->u.fields = coco_arena_alloc(a, nf * sizeof(coco_value));
		point_fields(&l, pv, npv, src, (*row_type)->fields, nf - 1, a, row->u.fields);
		double score = coco_json_get(pv, npv, "score", 5, &fv, &nfv) ? coco_vs_number(fv, nfv)
			: 0;
		/* Cosine and Dot scores are similarities, Euclid's a distance */
		coco_value *d = &row->u.fields[nf - 1];
		d->kind = COCO_FLOAT64;
		d->u.f = !strcmp(metric, "cosine") ? 1 - score : !strcmp(metric, "ip") ? -score : score;
	}
	*rows = outv;
	*nrows = i;
	rc = 0;
done:
	coco_http_resp_free(&r);
	conn_close(&c);
	coco_buf_free(&body);
	coco_buf_free(&what);
	layout_free(&l);
	return rc;
}

#define SCAN_PAGE 512             /* points per scroll request */

/* Every point, by pages of the scroll API (coco_target_ops.scan). Each
 * request starts at the id the last one named (next_page_offset). */
static int q_scan(void *p, int (*cb)(void *ud, const coco_value *row), void *ud, coco_arena *a,
	char **err)
{
	q_tgt *t = p;
	const layout *l = &t->l;
	const coco_type *rt = l->x.row;
	coco_buf body = {0}, what = {0}, off = {0}, pid = {0};
	coco_buf_printf(&what, "scan %s", t->label);
	char *url = coco_strdup(coll_url(&t->c, l->x.url.p, l->x.coll.p, "/points/scroll"));
	int *src = coco_xcalloc(l->ncols + 1, sizeof *src);
	for (uint32_t i = 0; i < l->ncols; i++)
		src[i] = (int)i;
	int rc = 0, stop = 0;
	while (!rc && !stop) {
		coco_buf_clear(&body);
		coco_buf_printf(&body, "{\"limit\":%d,\"with_payload\":true,\"with_vector\":true", SCAN_PAGE);
		if (off.n)
			coco_buf_printf(&body, ",\"offset\":%s", off.p);
		coco_buf_putc(&body, '}');
		coco_http_resp r;
		long st = call(&t->c, "POST", url, body.p, 1, what.p, &r, err);
		const char *res, *pts, *pv, *kk, *nx;
		size_t nres, npts, npv, kkn, nnx;
		if (st < 0)
			rc = -1;
		else if (st == 404)
			rc = coco_seterr(err, WHO ": %s: no such collection (run coco setup)", what.p);
		else
			rc = answer_points(&r, what.p, &pts, &npts, &res, &nres, err);
		coco_json_iter it;
		if (!rc)
			coco_json_iter_init(&it, pts, npts);
		while (!rc && !stop && coco_json_iter_next(&it, &kk, &kkn, &pv, &npv)) {
			coco_arena_reset(a);
			coco_value row = { .kind = COCO_STRUCT, .n = l->ncols };
			row.u.fields = coco_arena_alloc(a, l->ncols * sizeof(coco_value));
			point_fields(l, pv, npv, src, rt->fields, l->ncols, a, row.u.fields);
			/* a point whose id is not its key's (added by hand): del() of
			 * the key deletes it too (a uuid string; numeric ids are not) */
			coco_value key = coco_vs_key_of(&row, l->nkeys);
			char id[37];
			coco_vs_uuid(&key, id);
			coco_buf_clear(&pid);
			if (coco_json_get_str(pv, npv, "id", &pid) == 0 && strcmp(pid.p, id))
				coco_vs_alias_add(&t->alias, id, 36, pid.p, pid.n);
			stop = cb(ud, &row) != 0;
		}
		coco_buf_clear(&off);
		if (!rc && coco_json_get(res, nres, "next_page_offset", 16, &nx, &nnx) &&
		    !(nnx == 4 && !memcmp(nx, "null", 4)))
			coco_buf_add(&off, nx, nnx);
		else
			stop = 1;
		coco_http_resp_free(&r);
	}
	free(src);
	free(url);
	coco_buf_free(&body);
	coco_buf_free(&what);
	coco_buf_free(&off);
	coco_buf_free(&pid);
	return rc;
}

/* The Qdrant target: `targets.Qdrant{ url = "http://localhost:6333" }`. */
const coco_target_ops coco_qdrant_target = {
	.name = "Qdrant",
	.opts = q_opts,
	.describe = q_describe,
	.plan = q_plan,
	.apply = q_apply,
	.check = q_check,
	.open = q_open,
	.begin = q_begin,
	.upsert = q_upsert,
	.del = q_del,
	.commit = q_commit,
	.close = q_close,
	.top_k = q_top_k,
	.scan = q_scan,
};
