/* Chroma target (REST API v2 over engine/http.c): each export owns one
 * collection in a tenant's database.
 *
 * A record is made of the export's fields: its id from the primary key,
 * its embedding from the one vector<float32,N> field, its document from
 * document_field (default: a str field named "text"), its metadata from
 * every other field, the key fields included (so that top_k returns them).
 * The collection's distance (hnsw space) comes from the export's
 * vector_indexes. Chroma's upsert merges metadata into what a record had,
 * so a batch deletes the ids it writes, then adds the new records: what a
 * record holds is exactly its row. Each request is idempotent; when one
 * fails, the engine's state does not advance and the next run writes the
 * batch again. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connectors/chroma/chroma_int.h"
#include "engine/functions/json.h"
#include "engine/sys.h"

enum { OPT_URL, OPT_COLLECTION, OPT_TENANT, OPT_DATABASE, OPT_DOCUMENT, OPT_VECTOR_INDEXES };

static const coco_optdef c_opts[] = {
	{ "url", COCO_OPT_STR, 0, "Chroma server (default $CHROMA_URL, else http://localhost:8000)" },
	{ "collection_name", COCO_OPT_STR, 0, "collection (default <flow_name>__<export_name>)" },
	{ "tenant", COCO_OPT_STR, 0, "tenant (default default_tenant); created when missing" },
	{ "database", COCO_OPT_STR, 0, "database (default default_database); created when missing" },
	{ "document_field", COCO_OPT_STR, 0, "the str field stored as the record's document "
	  "(default: a str field named text)" },
	{ "vector_indexes", COCO_OPT_JSON, 0, "{{ field =, metric = \"cosine\"|\"l2\"|\"ip\", "
	  "m =, ef_construction = }} (usually given to the export)" },
	{ NULL, 0, 0, NULL, 0 },
};

/* ---- the export's layout -------------------------------------------------------- */

void ch_layout_free(layout *l)
{
	coco_vs_export_free(&l->x);
	coco_buf_free(&l->tenant);
	coco_buf_free(&l->db);
	free(l->cols);
	memset(l, 0, sizeof *l);
}

/* vector_indexes: one entry, on the embedding field (coco_vs_vector_indexes). */
static int on_index(void *ud, size_t ix, int field, const char *metric, long m, long efc,
	char **err)
{
	layout *l = ud;
	if (field != l->emb || ix > 1)
		return coco_seterr(err, WHO ": export '%s': vector_indexes[%zu]: a Chroma collection "
			"has one embedding, field '%s'; one entry on it", l->x.exp, ix, l->cols[l->emb].name);
	l->space = metric;
	l->m = m;
	l->efc = efc;
	return 0;
}

/* Chroma's rule for names: 3-512 bytes of [a-zA-Z0-9._-], the first and the
 * last alphanumeric, no "..". */
static int check_name(const char *what, const char *s, const char *exp, char **err)
{
	size_t n = strlen(s);
	int ok = n >= 3 && n <= 512;
	for (size_t i = 0; ok && i < n; i++) {
		char c = s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		ok = alnum || ((c == '.' || c == '_' || c == '-') && i > 0 && i + 1 < n);
		if (c == '.' && i + 1 < n && s[i + 1] == '.')
			ok = 0;
	}
	if (!ok)
		return coco_seterr(err, WHO ": export '%s': %s '%s': Chroma wants 3-512 characters "
			"from a-z A-Z 0-9 . _ -, starting and ending with a letter or digit%s", exp, what, s,
			!strcmp(what, "collection name") ? " (set collection_name)" : "");
	return 0;
}

/* The document field: document_field, else a str field named text. */
static int find_doc(const coco_optval *opts, layout *l, char **err)
{
	const char *exp = l->x.exp;
	const char *docf = opts[OPT_DOCUMENT].set ? opts[OPT_DOCUMENT].s : NULL;
	int di = coco_type_field(l->x.row, docf ? docf : "text");
	if (docf && di < 0) {
		coco_buf f = {0};
		coco_type_field_names(l->x.row, &f);
		int rc = coco_seterr(err, WHO ": export '%s': document_field: unknown field '%s'; "
			"fields: %s", exp, docf, f.p);
		coco_buf_free(&f);
		return rc;
	}
	if (di >= 0 && (l->cols[di].type->kind != COCO_STR || l->cols[di].role != R_META)) {
		if (docf) {
			coco_buf tb = {0};
			coco_type_format(l->cols[di].type, &tb);
			int rc = coco_seterr(err, WHO ": export '%s': document_field '%s' is %s%s; a "
				"document is a str field that is not a key", exp, docf, tb.p,
				l->cols[di].role == R_KEY ? " (a key)" : "");
			coco_buf_free(&tb);
			return rc;
		}
		di = -1;            /* a "text" that is not a str: metadata */
	}
	if (di >= 0) {
		l->doc = di;
		l->cols[di].role = R_DOC;
	}
	return 0;
}

int ch_layout_make(const coco_optval *opts, const coco_export_info *info, layout *l,
	char **err)
{
	memset(l, 0, sizeof *l);
	const char *exp = info->export_name;
	if (coco_vs_export_init(&l->x, WHO, info, &opts[OPT_URL], "CHROMA_URL",
	    "http://localhost:8000", "", &opts[OPT_COLLECTION], err) < 0)
		return -1;
	coco_buf_adds(&l->tenant, opts[OPT_TENANT].set && opts[OPT_TENANT].s ? opts[OPT_TENANT].s
		: "default_tenant");
	coco_buf_adds(&l->db, opts[OPT_DATABASE].set && opts[OPT_DATABASE].s ? opts[OPT_DATABASE].s
		: "default_database");
	if (check_name("collection name", l->x.coll.p, exp, err) < 0 ||
	    check_name("tenant", l->tenant.p, exp, err) < 0 ||
	    check_name("database", l->db.p, exp, err) < 0)
		return -1;
	const coco_type *t = info->row_type;
	l->ncols = t->nfields;
	l->nkeys = info->nkeys;
	l->cols = coco_xcalloc(l->ncols + 1, sizeof *l->cols);
	l->emb = l->doc = -1;
	coco_buf vecs = {0};
	int nvec = 0;
	for (uint32_t i = 0; i < l->ncols; i++) {
		ccol *c = &l->cols[i];
		c->name = t->fields[i].name;
		c->type = t->fields[i].type;
		c->role = i < l->nkeys ? R_KEY : R_META;
		if (i >= l->nkeys && c->type->kind == COCO_VECTOR && c->type->dim > 0) {
			coco_buf_printf(&vecs, "%s%s", nvec++ ? ", " : "", c->name);
			l->emb = (int)i;
		}
	}
	if (nvec != 1) {
		int rc = coco_seterr(err, WHO ": export '%s': a Chroma record has one embedding: the "
			"export needs exactly one vector<float32,N> field (not a key), and has %s%s", exp,
			nvec ? "" : "none", nvec ? vecs.p : "");
		coco_buf_free(&vecs);
		return rc;
	}
	coco_buf_free(&vecs);
	l->cols[l->emb].role = R_EMB;
	if (find_doc(opts, l, err) < 0)
		return -1;
	if (opts[OPT_VECTOR_INDEXES].set && opts[OPT_VECTOR_INDEXES].s &&
	    coco_vs_vector_indexes(&l->x, opts[OPT_VECTOR_INDEXES].s, "embeddings", on_index, l,
		    err) < 0)
		return -1;
	if (!l->space)
		l->space = "cosine";
	for (uint32_t i = 0; i < l->ncols; i++) {
		ccol *c = &l->cols[i];
		switch (c->role) {
		case R_KEY: strcpy(l->x.spec[i], "key"); break;
		case R_DOC: strcpy(l->x.spec[i], "document"); break;
		case R_EMB:
			snprintf(l->x.spec[i], sizeof l->x.spec[i], "embedding %u", c->type->dim);
			break;
		default: strcpy(l->x.spec[i], "metadata"); break;
		}
	}
	return 0;
}

/* ---- the setup description ------------------------------------------------------
 *
 *   url http://127.0.0.1:8000
 *   collection Docs__chunks
 *   tenant default_tenant
 *   database default_database
 *   hnsw cosine m=16 ef_construction=100      (m and ef_construction when given)
 *   key filename
 *   column filename str key
 *   column text str document
 *   column embedding vector<float32,384> embedding 384
 *   column title str metadata
 *
 * url, collection, key and column lines are engine/vstore.h's. */

static int c_describe(const coco_optval *opts, const coco_export_info *info,
	coco_buf *resource_id, coco_buf *desired, char **err)
{
	layout l;
	if (ch_layout_make(opts, info, &l, err) < 0) {
		ch_layout_free(&l);
		return -1;
	}
	coco_buf_printf(resource_id, "chroma:%s/%s/%s#%s", l.x.url.p, l.tenant.p, l.db.p,
		l.x.coll.p);
	coco_vs_desc_head(desired, &l.x);
	coco_tdesc_put_line(desired, "tenant", l.tenant.p);
	coco_tdesc_put_line(desired, "database", l.db.p);
	coco_buf_printf(desired, "hnsw %s", l.space);
	if (l.m)
		coco_buf_printf(desired, " m=%ld", l.m);
	if (l.efc)
		coco_buf_printf(desired, " ef_construction=%ld", l.efc);
	coco_buf_putc(desired, '\n');
	coco_vs_desc_tail(desired, &l.x);
	ch_layout_free(&l);
	return 0;
}

static int desc_line(void *ctx, coco_arena *a, const char *w, size_t wn, const char *rest,
	const char *e)
{
	desc *d = ctx;
	const char **v = COCO_TDESC_IS(w, wn, "tenant") ? &d->tenant :
		COCO_TDESC_IS(w, wn, "database") ? &d->db :
		COCO_TDESC_IS(w, wn, "hnsw") ? &d->hnsw : NULL;
	if (!v)
		return -1;
	*v = coco_unesc(a, rest, (size_t)(e - rest));
	return *v ? 0 : -1;
}

static int desc_complete(const coco_vs_desc *v, char **err)
{
	const desc *d = (const desc *)v;
	if (!v->url || !d->tenant || !d->db || !v->coll || !d->hnsw || !v->t.nkeys || !v->t.ncols)
		return coco_seterr(err, WHO ": malformed setup description (needs url, tenant, "
			"database, collection, hnsw, key and column lines)");
	return 0;
}

/* The embedding column's dimension, or 0. */
static long emb_dim(const coco_vs_desc *d)
{
	for (size_t i = 0; i < d->t.ncols; i++)
		if (!strncmp(d->t.cols[i].sql, "embedding ", 10))
			return strtol(d->t.cols[i].sql + 10, NULL, 10);
	return 0;
}

/* "cosine m=16" → "cosine" */
static void space_of(const desc *d, char out[16])
{
	snprintf(out, 16, "%.*s", (int)strcspn(d->hnsw, " "), d->hnsw);
}

/* Reasons to recreate beyond url, collection and key (coco_vs_setup.reasons). */
static void db_reasons(const coco_vs_desc *sv, const coco_vs_desc *dv, coco_buf *why)
{
	const desc *s = (const desc *)sv, *d = (const desc *)dv;
	if (strcmp(s->tenant, d->tenant) || strcmp(s->db, d->db))
		coco_tdesc_reason(why, "database: %s/%s → %s/%s", s->tenant, s->db, d->tenant, d->db);
	if (strcmp(s->hnsw, d->hnsw))
		coco_tdesc_reason(why, "hnsw: %s → %s", s->hnsw, d->hnsw);
	for (size_t i = 0; i < dv->t.ncols; i++) {
		const coco_tcol *c = &dv->t.cols[i], *o = coco_tdesc_col(&sv->t, c->name);
		int demb = !strncmp(c->sql, "embedding", 9);
		if (demb && (!o || strcmp(o->sql, c->sql)))
			coco_tdesc_reason(why, "embedding %s: %s → %s", c->name, o ? o->type : "(none)",
				c->type);
	}
}

static void plan_create(const coco_vs_desc *v, coco_buf *plan)
{
	const desc *d = (const desc *)v;
	coco_buf_printf(plan, "create collection %s in %s/%s (space %s; ", v->coll, d->tenant,
		d->db, d->hnsw);
	for (size_t i = 0; i < v->t.ncols; i++) {
		const coco_tcol *c = &v->t.cols[i];
		if (!strncmp(c->sql, "embedding", 9))
			coco_buf_printf(plan, "embedding: %s %s; ", c->name, c->type);
	}
	for (size_t i = 0; i < v->t.ncols; i++)
		if (!strcmp(v->t.cols[i].sql, "document"))
			coco_buf_printf(plan, "document: %s; ", v->t.cols[i].name);
	coco_buf_adds(plan, "metadata: ");
	int n = 0;
	for (size_t i = 0; i < v->t.ncols; i++) {
		const char *r = v->t.cols[i].sql;
		if (!strcmp(r, "key") || !strcmp(r, "metadata"))
			coco_buf_printf(plan, "%s%s", n++ ? ", " : "", v->t.cols[i].name);
	}
	coco_buf_adds(plan, "; ids from ");
	coco_tdesc_put_names(plan, v->t.keys, v->t.nkeys);
	coco_buf_adds(plan, ")\n");
}

/* Fields gone are removed from each record as the update writes it again
 * (destructive: their data is lost); new or changed fields need nothing. */
static int plan_fields(const coco_vs_desc *s, const coco_vs_desc *d, coco_buf *plan)
{
	int destructive = 0;
	for (size_t i = 0; i < s->t.ncols; i++) {
		const coco_tcol *o = &s->t.cols[i];
		if (!coco_tdesc_col(&d->t, o->name)) {
			coco_buf_printf(plan, "drop %s field %s (records are written again without it)\n",
				o->sql, o->name);
			destructive = 1;
		}
	}
	for (size_t i = 0; i < d->t.ncols; i++) {
		const coco_tcol *c = &d->t.cols[i], *o = coco_tdesc_col(&s->t, c->name);
		if (!o)
			coco_buf_printf(plan, "add %s field %s (%s)\n", c->sql, c->name, c->type);
		else if (strcmp(o->type, c->type) || strcmp(o->sql, c->sql))
			coco_buf_printf(plan, "field %s: %s %s → %s %s (records are written again)\n",
				c->name, o->type, o->sql, c->type, c->sql);
	}
	return destructive;
}

/* ---- HTTP ----------------------------------------------------------------------- */

coco_http *ch_client(void)
{
	coco_http_opts o = { .max_inflight = 2, .connect_timeout_ms = 5000, .max_retries = 3,
		.backoff_ms = 200 };
	return coco_http_create(&o);
}

/* url/api/v2/tenants/T/databases/D/collections[/name]<tail> */
void ch_coll_url(coco_buf *b, const char *url, const char *tenant, const char *db,
	const char *coll, const char *tail)
{
	coco_buf_clear(b);
	coco_buf_printf(b, "%s/api/v2/tenants/", url);
	coco_vs_path(b, tenant);
	coco_buf_adds(b, "/databases/");
	coco_vs_path(b, db);
	coco_buf_adds(b, "/collections");
	if (coll) {
		coco_buf_putc(b, '/');
		coco_vs_path(b, coll);
	}
	coco_buf_adds(b, tail ? tail : "");
}

/* A request: 2xx is success (and 404 when ok404); h NULL: a plain exchange
 * without libcurl (queries on http:// URLs, where loading libcurl costs more). */
long ch_call(coco_http *h, const char *method, const char *url, const char *body,
	int ok404, const char *what, coco_http_resp *r, char **err)
{
	return coco_vs_call(h, WHO, method, url, NULL, body, ok404, what, NULL, r, err);
}

/* The collection as the server has it: *id (malloc'd), *space, *dim (0:
 * not known yet). Returns 1, 0 when there is none, -1. */
int ch_coll_get(coco_http *h, const desc *d, char **id, char space[16], long *dim,
	char **err)
{
	coco_buf url = {0}, what = {0}, s = {0};
	ch_coll_url(&url, d->v.url, d->tenant, d->db, d->v.coll, NULL);
	coco_buf_printf(&what, "read collection %s on %s", d->v.coll, d->v.url);
	coco_http_resp r;
	long st = ch_call(h, "GET", url.p, NULL, 1, what.p, &r, err);
	int rc = st < 0 ? -1 : st == 404 ? 0 : 1;
	if (rc == 1) {
		const char *cfg, *hn, *dv;
		size_t ncfg, nhn, ndv;
		space[0] = 0;
		*dim = 0;
		if (coco_json_get_str(r.body.p, r.body.n, "id", &s) < 0) {
			rc = coco_seterr(err, WHO ": %s: unexpected answer %.200s", what.p, r.body.p);
		} else {
			if (id)
				*id = coco_strdup(s.p);
			if (coco_json_get(r.body.p, r.body.n, "configuration_json", 18, &cfg, &ncfg) &&
			    coco_json_get(cfg, ncfg, "hnsw", 4, &hn, &nhn) &&
			    coco_json_get_str(hn, nhn, "space", &s) == 0)
				snprintf(space, 16, "%s", s.p);
			if (coco_json_get(r.body.p, r.body.n, "dimension", 9, &dv, &ndv) && dv[0] != 'n')
				*dim = strtol(dv, NULL, 10);
		}
	}
	coco_http_resp_free(&r);
	coco_buf_free(&url);
	coco_buf_free(&what);
	coco_buf_free(&s);
	return rc;
}

/* GET <coll>/<name>; when it is missing (404), POST {"name": name} to
 * coll. what: "tenant T", "database T/D", for messages ("read tenant T on
 * URL", "create tenant T on URL"). */
static int ensure_named(coco_http *h, const char *coll, const char *name, const char *what,
	const char *server, char **err)
{
	coco_buf url = {0}, body = {0}, w = {0};
	coco_http_resp r;
	coco_buf_printf(&url, "%s/", coll);
	coco_vs_path(&url, name);
	coco_buf_printf(&w, "read %s on %s", what, server);
	long st = ch_call(h, "GET", url.p, NULL, 1, w.p, &r, err);
	coco_http_resp_free(&r);
	if (st == 404) {
		coco_buf_adds(&body, "{\"name\":");
		coco_json_str(&body, name, strlen(name));
		coco_buf_putc(&body, '}');
		coco_buf_clear(&w);
		coco_buf_printf(&w, "create %s on %s", what, server);
		st = ch_call(h, "POST", coll, body.p, 0, w.p, &r, err);
		coco_http_resp_free(&r);
	}
	coco_buf_free(&url);
	coco_buf_free(&body);
	coco_buf_free(&w);
	return st < 0 ? -1 : 0;
}

/* The tenant and the database, created when missing. */
static int ensure_db(coco_http *h, const desc *d, char **err)
{
	coco_buf coll = {0}, what = {0};
	coco_buf_printf(&coll, "%s/api/v2/tenants", d->v.url);
	coco_buf_printf(&what, "tenant %s", d->tenant);
	int rc = ensure_named(h, coll.p, d->tenant, what.p, d->v.url, err);
	if (rc == 0) {
		coco_buf_putc(&coll, '/');
		coco_vs_path(&coll, d->tenant);
		coco_buf_adds(&coll, "/databases");
		coco_buf_clear(&what);
		coco_buf_printf(&what, "database %s/%s", d->tenant, d->db);
		rc = ensure_named(h, coll.p, d->db, what.p, d->v.url, err);
	}
	coco_buf_free(&coll);
	coco_buf_free(&what);
	return rc;
}

static int create_coll(coco_http *h, const desc *d, char **err)
{
	if (ensure_db(h, d, err) < 0)
		return -1;
	coco_buf url = {0}, body = {0}, what = {0};
	char space[16];
	space_of(d, space);
	ch_coll_url(&url, d->v.url, d->tenant, d->db, NULL, NULL);
	coco_buf_adds(&body, "{\"name\":");
	coco_json_str(&body, d->v.coll, strlen(d->v.coll));
	coco_buf_printf(&body, ",\"get_or_create\":true,\"configuration\":{\"hnsw\":{\"space\":\"%s\"",
		space);
	const char *m = strstr(d->hnsw, " m="), *e = strstr(d->hnsw, "ef_construction=");
	if (m)
		coco_buf_printf(&body, ",\"max_neighbors\":%ld", strtol(m + 3, NULL, 10));
	if (e)
		coco_buf_printf(&body, ",\"ef_construction\":%ld", strtol(e + 16, NULL, 10));
	coco_buf_adds(&body, "}}}");
	coco_buf_printf(&what, "create collection %s on %s", d->v.coll, d->v.url);
	coco_http_resp r;
	long st = ch_call(h, "POST", url.p, body.p, 0, what.p, &r, err);
	coco_http_resp_free(&r);
	coco_buf_free(&url);
	coco_buf_free(&body);
	coco_buf_free(&what);
	return st < 0 ? -1 : 0;
}

static int drop_coll(coco_http *h, const desc *d, char **err)
{
	coco_buf url = {0}, what = {0};
	ch_coll_url(&url, d->v.url, d->tenant, d->db, d->v.coll, NULL);
	coco_buf_printf(&what, "drop collection %s on %s", d->v.coll, d->v.url);
	coco_http_resp r;
	long st = ch_call(h, "DELETE", url.p, NULL, 1, what.p, &r, err);
	/* a database that is gone holds no collection either */
	coco_http_resp_free(&r);
	coco_buf_free(&url);
	coco_buf_free(&what);
	return st < 0 ? -1 : 0;
}

/* Why the server's collection is not what d wants (changed by hand). */
static void server_reasons(const desc *d, const char *space, long dim, coco_buf *why)
{
	char want[16];
	space_of(d, want);
	if (strcmp(space, want))
		coco_tdesc_reason(why, "space is %s, the flow wants %s", space[0] ? space : "(none)",
			want);
	long wd = emb_dim(&d->v);
	if (dim && dim != wd)
		coco_tdesc_reason(why, "embeddings have %ld dimensions, the flow's %ld", dim, wd);
}

/* The collection on the server next to d (coco_vs_setup.server), by one
 * plain exchange (no libcurl, one try) on an http:// URL. */
static int server_check(const coco_vs_desc *v, int *exists, coco_buf *why, char **err)
{
	const desc *d = (const desc *)v;
	coco_http *h = strncmp(v->url, "http://", 7) ? ch_client() : NULL;
	char space[16];
	long dim = 0;
	int got = ch_coll_get(h, d, NULL, space, &dim, err);
	if (got == 1)
		server_reasons(d, space, dim, why);
	*exists = got == 1;
	coco_http_destroy(h);
	return got < 0 ? -1 : 0;
}

/* who, desc_size, key_words, line, complete, plan_create, reasons, plan_fields, server */
static const coco_vs_setup c_setup = { WHO, sizeof(desc), "key (ids)", desc_line, desc_complete,
	plan_create, db_reasons, plan_fields, server_check };

/* plan, and check: a collection deleted or changed by hand is planned again */
COCO_VS_PLAN_CHECK(c, c_setup)

static int c_apply(const char *stored, const char *desired, char **err)
{
	coco_arena a = {0};
	desc s, d;
	int rc = -1;
	coco_http *h = ch_client();
	if ((stored && coco_vs_desc_parse(&c_setup, stored, &a, &s.v, err) < 0) ||
	    (desired && coco_vs_desc_parse(&c_setup, desired, &a, &d.v, err) < 0))
		goto done;
	if (!desired) {
		rc = drop_coll(h, &s, err);
		goto done;
	}
	coco_buf why = {0};
	if (stored)
		coco_vs_recreate_reasons(&c_setup, &s.v, &d.v, &why);
	if (why.n && drop_coll(h, &s, err) < 0) {
		coco_buf_free(&why);
		goto done;
	}
	char space[16];
	long dim = 0;
	int got = ch_coll_get(h, &d, NULL, space, &dim, err);
	if (got == 1)
		server_reasons(&d, space, dim, &why);
	if (got == 1 && why.n && drop_coll(h, &d, err) < 0)
		got = -1;
	if (got >= 0)
		rc = got == 1 && !why.n ? 0 : create_coll(h, &d, err);
	coco_buf_free(&why);
done:
	coco_http_destroy(h);
	coco_arena_destroy(&a);
	return rc;
}

/* The Chroma target: `targets.Chroma{ url = "http://localhost:8000" }`. */
const coco_target_ops coco_chroma_target = {
	.name = "Chroma",
	.opts = c_opts,
	.describe = c_describe,
	.plan = c_plan,
	.apply = c_apply,
	.check = c_check,
	.open = ch_open,
	.begin = ch_begin,
	.upsert = ch_upsert,
	.del = ch_del,
	.commit = ch_commit,
	.close = ch_close,
	.top_k = ch_top_k,
	.scan = ch_scan,
};
