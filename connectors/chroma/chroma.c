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

#include "ops.h"
#include "secret.h"
#include "tdesc.h"
#include "vstore.h"
#include "functions/json.h"
#include "sys.h"

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

#define WHO "Chroma"
#define MAX_RECORDS 1000          /* records per request (the server allows more) */

/* ---- the export's layout -------------------------------------------------------- */

enum { R_META, R_KEY, R_DOC, R_EMB };   /* where a field goes */

typedef struct ccol {
	const char *name;
	const coco_type *type;
	int role;
	char spec[48];               /* "metadata", "key", "document", "embedding 384" */
} ccol;

typedef struct layout {
	coco_vs_export x;            /* url, collection, row, nkeys */
	coco_buf tenant, db;
	const char *space;           /* cosine, l2, ip */
	long m, efc;                 /* hnsw max_neighbors, ef_construction; 0: default */
	int emb, doc;                /* field indexes; doc -1: none */
	ccol *cols;
	uint32_t ncols, nkeys;
} layout;

static void layout_free(layout *l)
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
	int di = coco_vs_field(l->x.row, docf ? docf : "text", strlen(docf ? docf : "text"));
	if (docf && di < 0) {
		coco_buf f = {0};
		coco_vs_field_names(l->x.row, &f);
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

static int layout_make(const coco_optval *opts, const coco_export_info *info, layout *l,
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
		case R_KEY: strcpy(c->spec, "key"); break;
		case R_DOC: strcpy(c->spec, "document"); break;
		case R_EMB: snprintf(c->spec, sizeof c->spec, "embedding %u", c->type->dim); break;
		default: strcpy(c->spec, "metadata"); break;
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

typedef struct desc {
	coco_vs_desc v;              /* url, coll, key and column lines */
	const char *tenant, *db, *hnsw;
} desc;

static int c_describe(const coco_optval *opts, const coco_export_info *info,
	coco_buf *resource_id, coco_buf *desired, char **err)
{
	layout l;
	if (layout_make(opts, info, &l, err) < 0) {
		layout_free(&l);
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

static coco_http *client(void)
{
	coco_http_opts o = { .max_inflight = 2, .connect_timeout_ms = 5000, .max_retries = 3,
		.backoff_ms = 200 };
	return coco_http_create(&o);
}

/* url/api/v2/tenants/T/databases/D/collections[/name]<tail> */
static void coll_url(coco_buf *b, const char *url, const char *tenant, const char *db,
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
static long call(coco_http *h, const char *method, const char *url, const char *body,
	int ok404, const char *what, coco_http_resp *r, char **err)
{
	return coco_vs_call(h, WHO, method, url, NULL, body, ok404, what, NULL, r, err);
}

/* The collection as the server has it: *id (malloc'd), *space, *dim (0:
 * not known yet). Returns 1, 0 when there is none, -1. */
static int coll_get(coco_http *h, const desc *d, char **id, char space[16], long *dim,
	char **err)
{
	coco_buf url = {0}, what = {0}, s = {0};
	coll_url(&url, d->v.url, d->tenant, d->db, d->v.coll, NULL);
	coco_buf_printf(&what, "read collection %s on %s", d->v.coll, d->v.url);
	coco_http_resp r;
	long st = call(h, "GET", url.p, NULL, 1, what.p, &r, err);
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

/* The tenant and the database, created when missing. */
static int ensure_db(coco_http *h, const desc *d, char **err)
{
	coco_buf url = {0}, body = {0}, what = {0};
	coco_http_resp r;
	int rc = -1;
	coco_buf_printf(&url, "%s/api/v2/tenants/", d->v.url);
	coco_vs_path(&url, d->tenant);
	coco_buf_printf(&what, "read tenant %s on %s", d->tenant, d->v.url);
	long st = call(h, "GET", url.p, NULL, 1, what.p, &r, err);
	coco_http_resp_free(&r);
	if (st < 0)
		goto done;
	if (st == 404) {
		coco_buf_clear(&url);
		coco_buf_printf(&url, "%s/api/v2/tenants", d->v.url);
		coco_buf_adds(&body, "{\"name\":");
		coco_json_str(&body, d->tenant, strlen(d->tenant));
		coco_buf_putc(&body, '}');
		coco_buf_clear(&what);
		coco_buf_printf(&what, "create tenant %s on %s", d->tenant, d->v.url);
		st = call(h, "POST", url.p, body.p, 0, what.p, &r, err);
		coco_http_resp_free(&r);
		if (st < 0)
			goto done;
	}
	coco_buf_clear(&url);
	coco_buf_printf(&url, "%s/api/v2/tenants/", d->v.url);
	coco_vs_path(&url, d->tenant);
	coco_buf_adds(&url, "/databases/");
	coco_vs_path(&url, d->db);
	coco_buf_clear(&what);
	coco_buf_printf(&what, "read database %s/%s on %s", d->tenant, d->db, d->v.url);
	st = call(h, "GET", url.p, NULL, 1, what.p, &r, err);
	coco_http_resp_free(&r);
	if (st < 0)
		goto done;
	if (st == 404) {
		coco_buf_clear(&url);
		coco_buf_printf(&url, "%s/api/v2/tenants/", d->v.url);
		coco_vs_path(&url, d->tenant);
		coco_buf_adds(&url, "/databases");
		coco_buf_clear(&body);
		coco_buf_adds(&body, "{\"name\":");
		coco_json_str(&body, d->db, strlen(d->db));
		coco_buf_putc(&body, '}');
		coco_buf_clear(&what);
		coco_buf_printf(&what, "create database %s/%s on %s", d->tenant, d->db, d->v.url);
		st = call(h, "POST", url.p, body.p, 0, what.p, &r, err);
		coco_http_resp_free(&r);
		if (st < 0)
			goto done;
	}
	rc = 0;
done:
	coco_buf_free(&url);
	coco_buf_free(&body);
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
	coll_url(&url, d->v.url, d->tenant, d->db, NULL, NULL);
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
	long st = call(h, "POST", url.p, body.p, 0, what.p, &r, err);
	coco_http_resp_free(&r);
	coco_buf_free(&url);
	coco_buf_free(&body);
	coco_buf_free(&what);
	return st < 0 ? -1 : 0;
}

static int drop_coll(coco_http *h, const desc *d, char **err)
{
	coco_buf url = {0}, what = {0};
	coll_url(&url, d->v.url, d->tenant, d->db, d->v.coll, NULL);
	coco_buf_printf(&what, "drop collection %s on %s", d->v.coll, d->v.url);
	coco_http_resp r;
	long st = call(h, "DELETE", url.p, NULL, 1, what.p, &r, err);
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
	coco_http *h = strncmp(v->url, "http://", 7) ? client() : NULL;
	char space[16];
	long dim = 0;
	int got = coll_get(h, d, NULL, space, &dim, err);
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
	coco_http *h = client();
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
	int got = coll_get(h, &d, NULL, space, &dim, err);
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

/* ---- writes ---------------------------------------------------------------------- */

typedef struct c_tgt {
	coco_http *h;
	layout l;
	char *label;
	char *cid;                   /* the collection's id */
	coco_buf add_url, del_url, tmp;
	coco_vs_batch b;             /* spans: embedding, document, metadata */
	coco_buf alias;              /* records a scan found under another id (c_scan) */
	double ms;
	uint64_t batches, requests;
} c_tgt;

/* A record's id: a single str key as it is, else the key's JSON ("[...]"
 * of the key fields, or the one value's JSON). */
static void key_id(const layout *l, const coco_value *k, coco_buf *out)
{
	coco_buf_clear(out);
	if (l->nkeys == 1 && k->kind == COCO_STR) {
		coco_buf_add(out, k->u.s, k->n);
		return;
	}
	if (l->nkeys == 1) {
		coco_value_to_json(k, l->cols[0].type, out);
		return;
	}
	coco_buf_putc(out, '[');
	for (uint32_t i = 0; i < l->nkeys; i++) {
		if (i)
			coco_buf_putc(out, ',');
		coco_value_to_json(&k->u.fields[i], l->cols[i].type, out);
	}
	coco_buf_putc(out, ']');
}

static int c_begin(void *p, char **err)
{
	c_tgt *t = p;
	(void)err;
	coco_vs_batch_clear(&t->b);
	return 0;
}

/* A metadata value: str, int, float and bool as they are, every other
 * type as its JSON text (a str). */
static void put_meta(coco_buf *b, const ccol *c, const coco_value *v, coco_buf *tmp)
{
	switch (v->kind) {
	case COCO_STR: case COCO_INT64: case COCO_FLOAT32: case COCO_FLOAT64: case COCO_BOOL:
		coco_value_to_json(v, c->type, b);
		break;
	default:
		coco_buf_clear(tmp);
		if (v->kind == COCO_VECTOR)
			coco_vs_floats(tmp, v->u.vec, v->n);
		else
			coco_value_to_json(v, c->type, tmp);
		coco_json_str(b, tmp->p, tmp->n);
		break;
	}
}

static int c_upsert(void *p, const coco_value *row, char **err)
{
	c_tgt *t = p;
	const layout *l = &t->l;
	if (coco_vs_row_check(WHO, t->label, row, l->ncols, err) < 0)
		return -1;
	const coco_value *ev = &row->u.fields[l->emb];
	if (ev->kind != COCO_VECTOR || ev->n != l->cols[l->emb].type->dim) {
		if (ev->kind == COCO_VECTOR)
			coco_seterr(err, WHO ": %s: embedding %s has %zu dimensions, the collection's %u",
				t->label, l->cols[l->emb].name, ev->n, l->cols[l->emb].type->dim);
		else
			coco_seterr(err, WHO ": %s: a record needs an embedding, and %s is null", t->label,
				l->cols[l->emb].name);
		return COCO_TGT_REFUSED;
	}
	for (uint32_t i = 0; i < l->ncols; i++) {
		const coco_value *v = &row->u.fields[i];
		if (v->kind == COCO_VECTOR) {
			for (size_t j = 0; j < v->n; j++)
				if (!isfinite(v->u.vec[j])) {
					coco_seterr(err, WHO ": %s: vector %s holds NaN or infinity", t->label,
						l->cols[i].name);
					return COCO_TGT_REFUSED;
				}
		}
	}
	coco_value key = coco_vs_key_of(row, l->nkeys);
	key_id(l, l->nkeys == 1 ? &row->u.fields[0] : &key, &t->tmp);
	coco_buf id = t->tmp;
	t->tmp = (coco_buf){0};
	coco_buf *b = &t->b.data;
	size_t off[3], len[3];
	off[0] = b->n;
	coco_vs_floats(b, ev->u.vec, ev->n);
	len[0] = b->n - off[0];
	off[1] = b->n;
	if (l->doc >= 0 && row->u.fields[l->doc].kind == COCO_STR)
		coco_json_str(b, row->u.fields[l->doc].u.s, row->u.fields[l->doc].n);
	else
		coco_buf_adds(b, "null");
	len[1] = b->n - off[1];
	off[2] = b->n;
	coco_buf_putc(b, '{');
	int n = 0;
	for (uint32_t i = 0; i < l->ncols; i++) {
		const coco_value *v = &row->u.fields[i];
		if ((l->cols[i].role != R_META && l->cols[i].role != R_KEY) || v->kind == COCO_NULL)
			continue;
		if (n++)
			coco_buf_putc(b, ',');
		coco_json_str(b, l->cols[i].name, strlen(l->cols[i].name));
		coco_buf_putc(b, ':');
		put_meta(b, &l->cols[i], v, &t->tmp);
	}
	coco_buf_putc(b, '}');
	if (!n) {                /* no metadata: null (not {}) */
		b->n = off[2];
		coco_buf_adds(b, "null");
	}
	len[2] = b->n - off[2];
	coco_vs_op *o = coco_vs_batch_add(&t->b, id.p, id.n, 0);
	coco_buf_free(&id);
	memcpy(o->off, off, sizeof off);
	memcpy(o->len, len, sizeof len);
	return 0;
}

static int c_del(void *p, const coco_value *key, char **err)
{
	c_tgt *t = p;
	(void)err;
	const coco_value *k = key;
	if (t->l.nkeys == 1 && key->kind == COCO_STRUCT && key->n == 1)
		k = &key->u.fields[0];
	key_id(&t->l, k, &t->tmp);
	coco_vs_batch_add(&t->b, t->tmp.p, t->tmp.n, 1);
	const char *other;
	size_t n;
	for (size_t at = 0; (at = coco_vs_alias_next(&t->alias, t->tmp.p, t->tmp.n, at, &other, &n));)
		coco_vs_batch_add(&t->b, other, n, 1);
	return 0;
}

/* POST body to url; 2xx or an error (400-class: COCO_TGT_REFUSED). */
static int post(c_tgt *t, const char *url, const coco_buf *body, const char *what, char **err)
{
	coco_http_resp r;
	memset(&r, 0, sizeof r);
	long st = coco_vs_request(t->h, WHO, "POST", url, NULL, body->p, body->n, &r, err);
	int rc = 0;
	t->requests++;
	if (st < 0) {
		rc = -1;
	} else if (st < 200 || st >= 300) {
		rc = coco_vs_write_err(WHO, what, url, &r, err);
	}
	coco_http_resp_free(&r);
	return rc;
}

static int c_commit(void *p, char **err)
{
	c_tgt *t = p;
	if (!t->b.live)
		return 0;
	double t0 = coco_now_ms();
	const coco_vs_op *ops = t->b.ops;
	coco_buf body = {0}, what = {0};
	coco_buf_printf(&what, "write to %s", t->label);
	int rc = 0;
	for (size_t from = 0; from < t->b.n && rc == 0;) {
		size_t to = from, n = 0;
		while (to < t->b.n && n < MAX_RECORDS)
			n += !ops[to++].dead;
		/* delete every id written, then add the new records */
		coco_buf_clear(&body);
		coco_buf_adds(&body, "{\"ids\":[");
		int k = 0;
		for (size_t i = from; i < to; i++)
			if (!ops[i].dead) {
				if (k++)
					coco_buf_putc(&body, ',');
				coco_json_str(&body, coco_vs_op_id(&t->b, &ops[i]), ops[i].nid);
			}
		coco_buf_adds(&body, "]}");
		if (k)
			rc = post(t, t->del_url.p, &body, what.p, err);
		int nadd = 0;
		for (size_t i = from; i < to; i++)
			nadd += !ops[i].dead && !ops[i].del;
		if (rc == 0 && nadd) {
			static const char *const part[3] = { "embeddings", "documents", "metadatas" };
			coco_buf_clear(&body);
			coco_buf_adds(&body, "{\"ids\":[");
			k = 0;
			for (size_t i = from; i < to; i++)
				if (!ops[i].dead && !ops[i].del) {
					if (k++)
						coco_buf_putc(&body, ',');
					coco_json_str(&body, coco_vs_op_id(&t->b, &ops[i]), ops[i].nid);
				}
			coco_buf_putc(&body, ']');
			for (int j = 0; j < 3; j++) {
				coco_buf_printf(&body, ",\"%s\":[", part[j]);
				k = 0;
				for (size_t i = from; i < to; i++)
					if (!ops[i].dead && !ops[i].del) {
						if (k++)
							coco_buf_putc(&body, ',');
						coco_buf_add(&body, t->b.data.p + ops[i].off[j], ops[i].len[j]);
					}
				coco_buf_putc(&body, ']');
			}
			coco_buf_putc(&body, '}');
			rc = post(t, t->add_url.p, &body, what.p, err);
		}
		from = to;
	}
	coco_buf_free(&body);
	coco_buf_free(&what);
	if (rc == 0) {
		t->batches++;
		t->ms += coco_now_ms() - t0;
	}
	return rc;
}

static void c_close(void *p)
{
	c_tgt *t = p;
	if (!t)
		return;
	if (getenv("COCO_CHROMA_STATS") && t->batches)
		fprintf(stderr, "coco: Chroma %s: %llu batches, %llu requests, %.1f ms in the target\n",
			t->label, (unsigned long long)t->batches, (unsigned long long)t->requests, t->ms);
	coco_http_destroy(t->h);
	layout_free(&t->l);
	free(t->label);
	free(t->cid);
	coco_buf_free(&t->add_url);
	coco_buf_free(&t->del_url);
	coco_buf_free(&t->tmp);
	coco_vs_batch_free(&t->b);
	coco_buf_free(&t->alias);
	free(t);
}

/* The description of l, parsed (to look the collection up). */
static void desc_of(const layout *l, desc *d)
{
	memset(d, 0, sizeof *d);
	d->v.url = l->x.url.p;
	d->tenant = l->tenant.p;
	d->db = l->db.p;
	d->v.coll = l->x.coll.p;
	d->hnsw = l->space;
}

/* The collection of l on the server: its id into *cid (malloc'd), or -1
 * with *err (none: "no such collection (run <fix>)"). h NULL: plain. */
static int coll_id(coco_http *h, const layout *l, const char *what, const char *fix, char **cid,
	char **err)
{
	desc d;
	desc_of(l, &d);
	char space[16];
	long dim;
	int got = coll_get(h, &d, cid, space, &dim, err);
	if (got == 0)
		coco_seterr(err, WHO ": %s: no such collection (run %s)", what, fix);
	return got == 1 ? 0 : -1;
}

static int c_open(const coco_optval *opts, const coco_export_info *info, void **out, char **err)
{
	*out = NULL;
	c_tgt *t = coco_xcalloc(1, sizeof *t);
	if (layout_make(opts, info, &t->l, err) < 0) {
		c_close(t);
		return -1;
	}
	t->h = client();
	coco_buf lb = {0};
	coco_buf_printf(&lb, "collection %s on %s", t->l.x.coll.p, t->l.x.url.p);
	t->label = coco_buf_take(&lb);
	if (coll_id(t->h, &t->l, t->label, "coco setup", &t->cid, err) < 0) {
		c_close(t);
		return -1;
	}
	coll_url(&t->add_url, t->l.x.url.p, t->l.tenant.p, t->l.db.p, NULL, "/");
	coco_buf_adds(&t->add_url, t->cid);
	coco_buf_adds(&t->del_url, t->add_url.p);
	coco_buf_adds(&t->add_url, "/add");
	coco_buf_adds(&t->del_url, "/delete");
	*out = t;
	return 0;
}

/* ---- reading records back: queries and scans ----------------------------------------- */

/* vals[j] = the record's value of field src[j] as type types[j], j < n:
 * its document, embedding (emb: the JSON array, or NULL), or metadata
 * (str, int, float and bool as they are, other types as JSON text in a
 * str). From a; tmp: scratch. */
static void record_fields(const layout *l, const char *meta, size_t nmeta, const char *doc,
	size_t ndoc, const char *emb, size_t nemb, const int *src, const coco_field *types, size_t n,
	coco_arena *a, coco_value *vals, coco_buf *tmp)
{
	for (size_t j = 0; j < n; j++) {
		const ccol *c = &l->cols[src[j]];
		const char *fv = NULL;
		size_t nfv = 0;
		memset(&vals[j], 0, sizeof vals[j]);
		if (c->role == R_DOC) {
			fv = doc, nfv = ndoc;
		} else if (c->role == R_EMB) {
			fv = emb, nfv = nemb;
		} else if (meta && coco_json_get(meta, nmeta, c->name, strlen(c->name), &fv, &nfv)) {
			coco_kind kd = c->type->kind;
			if (kd != COCO_STR && kd != COCO_INT64 && kd != COCO_FLOAT32 &&
			    kd != COCO_FLOAT64 && kd != COCO_BOOL) {       /* JSON text in a str */
				coco_buf_clear(tmp);
				fv = coco_json_str_decode(fv, nfv, tmp) == 0 ? tmp->p : NULL;
				nfv = tmp->n;
			}
		}
		if (fv)
			coco_vs_from_json(fv, nfv, types[j].type, a, &vals[j]);
	}
}

/* The i-th (from 0) element of a JSON array, or NULL. */
static const char *nth(const char *arr, size_t narr, size_t i, size_t *n)
{
	char idx[24];
	const char *v;
	snprintf(idx, sizeof idx, "%zu", i + 1);
	return arr && coco_json_get(arr, narr, idx, strlen(idx), &v, n) ? v : NULL;
}

static int c_top_k(const coco_optval *opts, const coco_export_info *info, const char *field,
	const char *metric, const float *vec, size_t dim, size_t k, coco_arena *a,
	const coco_type **row_type, coco_value **rows, size_t *nrows, char **err)
{
	*rows = NULL;
	*nrows = 0;
	layout l;
	coco_http *h = NULL;
	coco_buf body = {0}, what = {0}, url = {0}, s = {0};
	coco_http_resp r = {0};
	char *cid = NULL;
	int rc = -1;
	if (layout_make(opts, info, &l, err) < 0)
		goto done;
	coco_buf_printf(&what, "query collection %s on %s", l.x.coll.p, l.x.url.p);
	int fi = coco_vs_field(info->row_type, field, strlen(field));
	if (fi < 0 || fi != l.emb) {
		coco_seterr(err, WHO ": %s: top_k searches the embedding, field '%s'%s%s%s", what.p,
			l.cols[l.emb].name, fi < 0 ? "; there is no field '" : "", fi < 0 ? field : "",
			fi < 0 ? "'" : "");
		goto done;
	}
	if (dim != l.cols[fi].type->dim) {
		coco_seterr(err, WHO ": %s: the query vector has %zu dimensions, field '%s' has %u",
			what.p, dim, field, l.cols[fi].type->dim);
		goto done;
	}
	if (strcmp(metric, l.space)) {
		coco_seterr(err, WHO ": %s: the collection's space is %s; top_k asked for %s (set "
			"vector_indexes = {{ field = \"%s\", metric = \"%s\" }} on the export)", what.p,
			l.space, metric, field, metric);
		goto done;
	}
	h = strncmp(l.x.url.p, "http://", 7) ? client() : NULL;
	if (coll_id(h, &l, what.p, "coco update first", &cid, err) < 0)
		goto done;
	coll_url(&url, l.x.url.p, l.tenant.p, l.db.p, NULL, "/");
	coco_buf_adds(&url, cid);
	coco_buf_adds(&url, "/query");
	coco_buf_adds(&body, "{\"query_embeddings\":[");
	coco_vs_floats(&body, vec, dim);
	coco_buf_printf(&body, "],\"n_results\":%zu,\"include\":[\"documents\",\"metadatas\","
		"\"distances\"]}", k);
	if (call(h, "POST", url.p, body.p, 0, what.p, &r, err) < 0)
		goto done;
	int *src = coco_arena_alloc(a, (l.ncols + 1) * sizeof *src);
	*row_type = coco_vs_topk_type(info->row_type, fi, a, src);
	uint32_t nf = (*row_type)->nfields;
	/* {"ids":[[...]],"documents":[[...]],"metadatas":[[...]],"distances":[[...]]} */
	const char *docs = NULL, *metas = NULL, *dists = NULL, *v, *kk;
	size_t ndocs = 0, nmetas = 0, ndists = 0, nv, kkn, n = 0;
	if (coco_json_get(r.body.p, r.body.n, "documents", 9, &v, &nv))
		docs = nth(v, nv, 0, &ndocs);
	if (coco_json_get(r.body.p, r.body.n, "metadatas", 9, &v, &nv))
		metas = nth(v, nv, 0, &nmetas);
	if (!coco_json_get(r.body.p, r.body.n, "distances", 9, &v, &nv) ||
	    !(dists = nth(v, nv, 0, &ndists))) {
		coco_seterr(err, WHO ": %s: unexpected answer %.200s", what.p, r.body.p);
		goto done;
	}
	coco_json_iter it;
	coco_json_iter_init(&it, dists, ndists);
	while (coco_json_iter_next(&it, &kk, &kkn, &v, &nv))
		n++;
	coco_value *outv = coco_arena_alloc(a, (n + 1) * sizeof *outv);
	for (size_t i = 0; i < n; i++) {
		coco_value *row = &outv[i];
		row->kind = COCO_STRUCT;
		row->n = nf;
		row->u.fields = coco_arena_alloc(a, nf * sizeof(coco_value));
		size_t nmeta = 0, ndoc = 0, nfv;
		const char *meta = nth(metas, nmetas, i, &nmeta), *doc = nth(docs, ndocs, i, &ndoc);
		record_fields(&l, meta, nmeta, doc, ndoc, NULL, 0, src, (*row_type)->fields, nf - 1, a,
			row->u.fields, &s);
		const char *fv = nth(dists, ndists, i, &nfv);
		double dv = fv ? coco_vs_number(fv, nfv) : 0;
		/* Chroma: l2 is squared, ip is 1 - dot; coco: l2 distance, -dot */
		coco_value *dd = &row->u.fields[nf - 1];
		dd->kind = COCO_FLOAT64;
		dd->u.f = !strcmp(metric, "l2") ? sqrt(dv > 0 ? dv : 0) : !strcmp(metric, "ip")
			? dv - 1 : dv;
	}
	*rows = outv;
	*nrows = n;
	rc = 0;
done:
	coco_http_resp_free(&r);
	coco_http_destroy(h);
	free(cid);
	coco_buf_free(&body);
	coco_buf_free(&what);
	coco_buf_free(&url);
	coco_buf_free(&s);
	layout_free(&l);
	return rc;
}

#define SCAN_PAGE 500             /* records per get request */

/* Every record, by pages of get with offset and limit (coco_target_ops.scan). */
static int c_scan(void *p, int (*cb)(void *ud, const coco_value *row), void *ud, coco_arena *a,
	char **err)
{
	c_tgt *t = p;
	const layout *l = &t->l;
	coco_buf body = {0}, what = {0}, url = {0}, s = {0}, kid = {0};
	coco_buf_printf(&what, "scan %s", t->label);
	coll_url(&url, l->x.url.p, l->tenant.p, l->db.p, NULL, "/");
	coco_buf_adds(&url, t->cid);
	coco_buf_adds(&url, "/get");
	int *src = coco_xcalloc(l->ncols + 1, sizeof *src);
	for (uint32_t i = 0; i < l->ncols; i++)
		src[i] = (int)i;
	int rc = 0, stop = 0;
	size_t got = SCAN_PAGE;
	for (size_t off = 0; !rc && !stop && got == SCAN_PAGE; off += got) {
		coco_buf_clear(&body);
		coco_buf_printf(&body, "{\"limit\":%d,\"offset\":%zu,\"include\":[\"embeddings\","
			"\"documents\",\"metadatas\"]}", SCAN_PAGE, off);
		coco_http_resp r;
		const char *ids, *embs = NULL, *docs = NULL, *metas = NULL;
		size_t nids, nembs = 0, ndocs = 0, nmetas = 0;
		got = 0;
		if (call(t->h, "POST", url.p, body.p, 0, what.p, &r, err) < 0) {
			rc = -1;
		} else if (!coco_json_get(r.body.p, r.body.n, "ids", 3, &ids, &nids)) {
			rc = coco_seterr(err, WHO ": %s: unexpected answer %.200s", what.p, r.body.p);
		} else {
			coco_json_get(r.body.p, r.body.n, "embeddings", 10, &embs, &nembs);
			coco_json_get(r.body.p, r.body.n, "documents", 9, &docs, &ndocs);
			coco_json_get(r.body.p, r.body.n, "metadatas", 9, &metas, &nmetas);
		}
		size_t nid;
		while (!rc && !stop && nth(ids, nids, got, &nid)) {
			size_t nmeta = 0, ndoc = 0, nemb = 0;
			const char *meta = nth(metas, nmetas, got, &nmeta), *doc = nth(docs, ndocs, got, &ndoc);
			const char *emb = nth(embs, nembs, got, &nemb);
			got++;
			coco_arena_reset(a);
			coco_value row = { .kind = COCO_STRUCT, .n = l->ncols };
			row.u.fields = coco_arena_alloc(a, l->ncols * sizeof(coco_value));
			record_fields(l, meta, nmeta, doc, ndoc, emb, nemb, src, l->x.row->fields, l->ncols,
				a, row.u.fields, &s);
			/* a record whose id is not its key's (added by hand): del() of
			 * the key deletes it too */
			coco_value key = coco_vs_key_of(&row, l->nkeys);
			key_id(l, l->nkeys == 1 ? &row.u.fields[0] : &key, &kid);
			coco_buf_clear(&s);
			const char *idv = nth(ids, nids, got - 1, &nid);
			if (coco_json_str_decode(idv, nid, &s) == 0 && (s.n != kid.n || memcmp(s.p, kid.p, s.n)))
				coco_vs_alias_add(&t->alias, kid.p, kid.n, s.p, s.n);
			stop = cb(ud, &row) != 0;
		}
		coco_http_resp_free(&r);
	}
	free(src);
	coco_buf_free(&body);
	coco_buf_free(&what);
	coco_buf_free(&url);
	coco_buf_free(&s);
	coco_buf_free(&kid);
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
	.open = c_open,
	.begin = c_begin,
	.upsert = c_upsert,
	.del = c_del,
	.commit = c_commit,
	.close = c_close,
	.top_k = c_top_k,
	.scan = c_scan,
};
