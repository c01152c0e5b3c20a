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

#include "connectors/qdrant/qdrant_int.h"
#include "engine/functions/json.h"
#include "engine/sys.h"

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

/* ---- the export's layout ---------------------------------------------------------- */

void qd_layout_free(layout *l)
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

int qd_layout_make(const coco_optval *opts, const coco_export_info *info, layout *l,
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
			strcpy(l->x.spec[i], "payload");
			continue;
		}
		l->vec1 = l->nvec++ ? -1 : (int)i;
		if (!c->metric)
			c->metric = "cosine";
		char *spec = l->x.spec[i];
		int n = snprintf(spec, sizeof l->x.spec[i], "vector %u %s", c->type->dim,
			distance_of(c->metric));
		if (c->m)
			n += snprintf(spec + n, sizeof l->x.spec[i] - (size_t)n, " m=%ld", c->m);
		if (c->efc)
			snprintf(spec + n, sizeof l->x.spec[i] - (size_t)n, " ef_construct=%ld", c->efc);
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
	if (qd_layout_make(opts, info, &l, err) < 0) {
		qd_layout_free(&l);
		return -1;
	}
	coco_buf_printf(resource_id, "qdrant:%s#%s", l.x.url.p, l.x.coll.p);
	coco_vs_desc_head(desired, &l.x);
	if (l.key_env)
		coco_tdesc_put_line(desired, "api_key_env", l.key_env);
	coco_vs_desc_tail(desired, &l.x);
	qd_layout_free(&l);
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

int qd_conn_open(conn *c, const char *key_env, char **err)
{
	return conn_open_with(c, key_env, 0, err);
}

/* A connection for a query: over plain http:// without libcurl (loading it
 * and its libraries costs more than the query); https:// through
 * engine/http.c. */
int qd_conn_open_query(conn *c, const char *url, const char *key_env, char **err)
{
	return conn_open_with(c, key_env, !strncmp(url, "http://", 7), err);
}

void qd_conn_close(conn *c)
{
	coco_http_destroy(c->h);
	free(c->hdr[0]);
	coco_buf_free(&c->url);
	memset(c, 0, sizeof *c);
}

/* url/collections/<coll><tail> into c->url */
const char *qd_coll_url(conn *c, const char *url, const char *coll, const char *tail)
{
	coco_buf_clear(&c->url);
	coco_buf_printf(&c->url, "%s/collections/", url);
	coco_vs_path(&c->url, coll);
	coco_buf_adds(&c->url, tail);
	return c->url.p;
}

/* A request whose 2xx is success (and 404 when ok404); else *err names
 * what failed. Returns the status or -1. */
long qd_call(conn *c, const char *method, const char *url, const char *body, int ok404,
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
	long st = qd_call(c, "GET", qd_coll_url(c, d->url, d->coll, ""), NULL, 1, what.p, &r, err);
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

static int drop_collection(conn *c, const char *url, const char *coll, char **err)
{
	coco_buf what = {0};
	coco_buf_printf(&what, "drop collection %s on %s", coll, url);
	coco_http_resp r;
	long st = qd_call(c, "DELETE", qd_coll_url(c, url, coll, ""), NULL, 1, what.p, &r, err);
	coco_http_resp_free(&r);
	coco_buf_free(&what);
	return st < 0 ? -1 : 0;
}

/* PUT the collection d wants. Qdrant finishes a request whose client is
 * gone: the create of a run killed while it was in flight (a recreate
 * interrupted by kill -9) may still hold the name when the next run
 * creates it, which Qdrant refuses (409 "already exists"; a GET meanwhile
 * says 404). The collection that create makes is the killed run's, of its
 * description: it is dropped once it exists and this one created, for up
 * to CREATE_WAIT_MS. */
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
	int rc = -1;
	double deadline = coco_now_ms() + CREATE_WAIT_MS;
	for (long wait = 50;; wait = wait < 1000 ? wait * 2 : 1000) {
		coco_http_resp r;
		long st = qd_call(c, "PUT", qd_coll_url(c, d->url, d->coll, ""), body.p, 0, what.p, &r,
			err);
		int taken = st < 0 && r.status == 409;
		coco_http_resp_free(&r);
		if (st >= 0)
			rc = 0;
		if (!taken || coco_now_ms() > deadline)
			break;
		/* a create of a run killed before its answer: Qdrant finishes it
		 * (it holds the name until then); the collection it makes is the
		 * killed run's, not this setup's */
		coco_sleep_ms(wait);
		free(*err);
		*err = NULL;
		if (drop_collection(c, d->url, d->coll, err) < 0)
			break;
	}
	coco_buf_free(&body);
	coco_buf_free(&what);
	return rc;
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
	int rc = qd_conn_open_query(&c, v->url, ((const desc *)v)->key_env, err);
	if (rc == 0)
		rc = server_diff(&c, v, exists, why, err);
	qd_conn_close(&c);
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
		rc = qd_call(c, "POST", qd_coll_url(c, d->url, d->coll, "/points/payload/delete?wait=true"),
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
		rc = qd_call(c, "PATCH", qd_coll_url(c, d->url, d->coll, ""), body.p, 0, what.p, &r, err) < 0
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
	if (qd_conn_open(&c, any->key_env, err) < 0)
		goto done;
	if (!desired) {
		rc = drop_collection(&c, s.v.url, s.v.coll, err);
		goto done;
	}
	int moved = stored && (strcmp(s.v.url, d.v.url) || strcmp(s.v.coll, d.v.coll));
	if (moved) {
		conn old;
		if (qd_conn_open(&old, s.key_env, err) < 0)
			goto done;
		rc = drop_collection(&old, s.v.url, s.v.coll, err);
		qd_conn_close(&old);
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
	qd_conn_close(&c);
	coco_arena_destroy(&a);
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
	.open = qd_open,
	.begin = qd_begin,
	.upsert = qd_upsert,
	.del = qd_del,
	.commit = qd_commit,
	.close = qd_close,
	.top_k = qd_top_k,
	.scan = qd_scan,
};
