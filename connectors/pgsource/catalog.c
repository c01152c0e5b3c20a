/* Postgres source: the table's layout, read from the catalog (columns,
 * primary key, base types through domains), cached per set of options,
 * and column values from their text. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tdesc.h"
#include "engine/functions/json.h"
#include "engine/sys.h"
#include "connectors/pgsource/pgsource_int.h"

void ps_layout_free(layout *l)
{
	for (uint32_t i = 0; i < l->ncols; i++) {
		free(l->cols[i].name);
		free(l->cols[i].sqltype);
	}
	free(l->cols);
	free(l->conninfo);
	free(l->penv);
	free(l->server);
	free(l->schema);
	free(l->table);
	free(l->ordinal);
	free(l->ordsend);
	free(l->filter);
	free(l->channel);
	memset(l, 0, sizeof *l);
}

static void layout_copy(layout *d, const layout *s)
{
	*d = *s;
	d->cols = coco_xcalloc(s->ncols ? s->ncols : 1, sizeof *d->cols);
	for (uint32_t i = 0; i < s->ncols; i++) {
		d->cols[i] = s->cols[i];
		d->cols[i].name = coco_strdup(s->cols[i].name);
		d->cols[i].sqltype = coco_strdup(s->cols[i].sqltype);
	}
#define DUP(f) d->f = s->f ? coco_strdup(s->f) : NULL
	DUP(conninfo);
	DUP(penv);
	DUP(server);
	DUP(schema);
	DUP(table);
	DUP(ordinal);
	DUP(ordsend);
	DUP(filter);
	DUP(channel);
#undef DUP
}

/* "schema.table" as users write it. */
void ps_disp_table(coco_buf *b, const layout *l)
{
	coco_buf_printf(b, "%s.%s", l->schema, l->table);
}

void ps_qual_table(coco_buf *b, const layout *l)
{
	coco_sql_ident(b, l->schema);
	coco_buf_putc(b, '.');
	coco_sql_ident(b, l->table);
}

/* The coco type of a column (numeric keys are text: exact). */
static const coco_type *col_type(const pcol *c, int key, coco_arena *a)
{
	switch (c->kind) {
	case K_INT: return &coco_t_int64;
	case K_FLOAT4: return &coco_t_float32;
	case K_FLOAT8: return &coco_t_float64;
	case K_NUMERIC: return key ? &coco_t_str : &coco_t_float64;
	case K_STR: case K_TIME: return &coco_t_str;
	case K_BYTES: return &coco_t_bytes;
	case K_BOOL: return &coco_t_bool;
	case K_JSON: case K_ARRAY: return &coco_t_json;
	case K_VECTOR: return c->dim ? coco_type_vector(a, c->dim) : &coco_t_vector_any;
	}
	return &coco_t_str;
}

/* Appends the SQL of column c's value as text, read from row alias r:
 * the same in the listing, in reads and in the trigger's payload. */
void ps_col_expr(coco_buf *b, const pcol *c, const char *r, int key)
{
	const char *pre = "", *post = "";
	if (c->kind == K_TIME)
		pre = "(to_json(", post = ")#>>'{}')";
	else if (c->kind == K_ARRAY)
		pre = "array_to_json(", post = ")";
	else if (key)
		pre = "(", post = ")::text";
	coco_buf_printf(b, "%s%s.", pre, r);
	coco_sql_ident(b, c->name);
	coco_buf_adds(b, post);
}

/* Kinds by base type. *why: a type coco cannot read, or use in a key. */
static int classify(pcol *c, unsigned oid, const char *typname, char typtype, char cat,
	int typmod, int key)
{
	switch (oid) {
	case 16: c->kind = K_BOOL; break;
	case 17: c->kind = K_BYTES; break;
	case 20: case 21: case 23: case 26: c->kind = K_INT; break;
	case 700: c->kind = K_FLOAT4; break;
	case 701: c->kind = K_FLOAT8; break;
	case 1700: c->kind = K_NUMERIC; break;
	case 114: case 3802: c->kind = K_JSON; break;
	case 1082: case 1083: case 1114: case 1184: case 1266: c->kind = K_TIME; break;
	case 2950: case 1186: case 142: c->kind = K_STR; break;   /* uuid, interval, xml */
	default:
		if (cat == 'S' || typtype == 'e' || cat == 'I')   /* strings, enums, inet/cidr */
			c->kind = K_STR;
		else if (cat == 'A')
			c->kind = K_ARRAY;
		else if (typtype == 'b' && (!strcmp(typname, "vector") || !strcmp(typname, "halfvec"))) {
			c->kind = K_VECTOR;
			c->dim = typmod > 0 ? (uint32_t)typmod : 0;
		} else
			return -1;
	}
	if (key && (c->kind == K_ARRAY || c->kind == K_VECTOR))
		return -2;
	return 0;
}

static int in_list(const coco_optval *o, const char *name)
{
	for (size_t i = 0; o->set && i < o->nlist; i++)
		if (!strcmp(o->list[i], name))
			return 1;
	return 0;
}

/* notification = {} | { channel_name = "..." } */
static int read_notify(const coco_optval *o, layout *l, char **err)
{
	if (!o->set || !o->s)
		return 0;
	coco_json_iter it;
	const char *s = o->s;
	size_t n = strlen(s);
	int kind = coco_json_iter_init(&it, s, n);
	if (!kind)
		return coco_seterr(err, "Postgres: notification must be a table: { channel_name = \"...\" }");
	l->notify = 1;
	const char *k, *v;
	size_t nk, nv;
	while (coco_json_iter_next(&it, &k, &nk, &v, &nv)) {
		if (kind == '[')
			return coco_seterr(err, "Postgres: notification must be a table: { channel_name = \"...\" }");
		if (!coco_json_key_eq(k, nk, "channel_name", 12))
			return coco_seterr(err, "Postgres: notification: unknown option %.*s (known: channel_name)",
				(int)nk, k);
		coco_buf ch = {0};
		if (coco_json_str_decode(v, nv, &ch) || !ch.n || ch.n > MAX_IDENT ||
		    strspn(ch.p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != ch.n) {
			coco_buf_free(&ch);
			return coco_seterr(err, "Postgres: notification: channel_name must be 1 to 63 letters, "
				"digits or _");
		}
		free(l->channel);
		l->channel = coco_buf_take(&ch);
	}
	return 0;
}

/* The rows of a catalog query with one text parameter; NULL with *err. */
static PGresult *catalog(PGconn *c, const char *sql, const char *param, const char *server,
	char **err)
{
	PGresult *r = PQexecParams(c, sql, 1, NULL, &param, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		return r;
	coco_buf b = {0};
	coco_pg_result_msg(&b, c, r, 1);
	coco_seterr(err, "Postgres: %s: cannot read the catalog: %s", server, b.p);
	coco_buf_free(&b);
	PQclear(r);
	return NULL;
}

/* The layout of the table the options name, from the catalog. */
int ps_layout_load(const coco_optval *opts, layout *l, char **err)
{
	memset(l, 0, sizeof *l);
	const char *ci = coco_pg_database(&opts[OPT_DATABASE]);
	if (!ci)
		return coco_seterr(err, "Postgres: no database: give the option 'database' or set "
			"$COCO_DATABASE_URL");
	if (!opts[OPT_TABLE].set || !opts[OPT_TABLE].s || !*opts[OPT_TABLE].s)
		return coco_seterr(err, "Postgres: option 'table_name' is required");
	coco_buf srv = {0}, q = {0}, b = {0}, cs = {0};
	const char *penv = opts[OPT_PASSWORD_ENV].set ? opts[OPT_PASSWORD_ENV].s : NULL;
	int crc = coco_pg_conn_opts(ci, penv, "", &cs, &srv, err);
	l->conninfo = coco_buf_take(&cs);
	l->server = coco_buf_take(&srv);
	if (crc < 0) {
		ps_layout_free(l);
		return -1;
	}
	l->penv = penv ? coco_strdup(penv) : NULL;
	if (opts[OPT_ORDINAL].set && opts[OPT_ORDINAL].s && *opts[OPT_ORDINAL].s)
		l->ordinal = coco_strdup(opts[OPT_ORDINAL].s);
	if (opts[OPT_FILTER].set && opts[OPT_FILTER].s && *opts[OPT_FILTER].s)
		l->filter = coco_strdup(opts[OPT_FILTER].s);
	if (read_notify(&opts[OPT_NOTIFY], l, err)) {
		ps_layout_free(l);
		return -1;
	}
	PGconn *c = ps_connect(l->conninfo, l->penv, l->server, "coco", err);
	if (!c) {
		ps_layout_free(l);
		return -1;
	}
	int rc = -1;
	PGresult *r = NULL;
	const char *sch = opts[OPT_SCHEMA].set && opts[OPT_SCHEMA].s && *opts[OPT_SCHEMA].s ?
		opts[OPT_SCHEMA].s : NULL;
	if (sch) {
		coco_sql_ident(&q, sch);
		coco_buf_putc(&q, '.');
	}
	coco_sql_ident(&q, opts[OPT_TABLE].s);
	r = catalog(c, "SELECT c.oid::text, n.nspname, c.relname FROM pg_class c "
		"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)",
		q.p, l->server, err);
	if (!r)
		goto out;
	if (PQntuples(r) != 1) {
		coco_seterr(err, "Postgres: table %s%s%s does not exist in %s", sch ? sch : "",
			sch ? "." : "", opts[OPT_TABLE].s, l->server);
		goto out;
	}
	char oid[32];
	snprintf(oid, sizeof oid, "%s", PQgetvalue(r, 0, 0));
	l->schema = coco_strdup(PQgetvalue(r, 0, 1));
	l->table = coco_strdup(PQgetvalue(r, 0, 2));
	PQclear(r);
	/* columns, their base types (through domains) and primary key positions */
	r = catalog(c,
		"SELECT a.attname, format_type(a.atttypid, a.atttypmod), bt.oid::int8, bt.typname, "
		"bt.typtype, bt.typcategory, b.mod, coalesce(k.pos, 0), bt.typarray::int8, bt.typsend::regproc::text "
		"FROM pg_attribute a "
		"CROSS JOIN LATERAL (WITH RECURSIVE d(oid, mod, depth) AS ("
		"  SELECT a.atttypid, a.atttypmod, 0 UNION ALL "
		"  SELECT t.typbasetype, t.typtypmod, d.depth + 1 FROM d JOIN pg_type t ON t.oid = d.oid "
		"  WHERE t.typtype = 'd') SELECT oid, mod FROM d ORDER BY depth DESC LIMIT 1) b "
		"JOIN pg_type bt ON bt.oid = b.oid "
		"LEFT JOIN LATERAL (SELECT p.pos FROM pg_index i, unnest(i.indkey) WITH ORDINALITY p(att, pos) "
		"  WHERE i.indrelid = a.attrelid AND i.indisprimary AND p.att = a.attnum) k ON true "
		"WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
		oid, l->server, err);
	if (!r)
		goto out;
	int nt = PQntuples(r);
	uint32_t nkeys = 0;
	for (int i = 0; i < nt; i++)
		if (atoi(PQgetvalue(r, i, 7)) > 0)
			nkeys++;
	coco_buf_clear(&b);
	ps_disp_table(&b, l);
	if (!nkeys) {
		coco_seterr(err, "Postgres: table %s has no primary key; coco keys the rows of a source "
			"by it (ALTER TABLE %s ADD PRIMARY KEY (...))", b.p, b.p);
		goto out;
	}
	const coco_optval *inc = &opts[OPT_INCLUDED];
	for (size_t j = 0; inc->set && j < inc->nlist; j++) {
		int found = 0;
		for (int i = 0; i < nt && !found; i++)
			found = !strcmp(PQgetvalue(r, i, 0), inc->list[j]);
		if (!found) {
			coco_buf names = {0};
			for (int i = 0; i < nt; i++)
				coco_buf_printf(&names, "%s%s", i ? ", " : "", PQgetvalue(r, i, 0));
			coco_seterr(err, "Postgres: included_columns: table %s has no column '%s' (columns: %s)",
				b.p, inc->list[j], names.p);
			coco_buf_free(&names);
			goto out;
		}
	}
	if (l->ordinal) {
		int found = -1;
		for (int i = 0; i < nt && found < 0; i++)
			if (!strcmp(PQgetvalue(r, i, 0), l->ordinal))
				found = i;
		if (found < 0) {
			coco_seterr(err, "Postgres: ordinal_column: table %s has no column '%s'", b.p, l->ordinal);
			goto out;
		}
		l->ordsend = coco_strdup(PQgetvalue(r, found, 9));
		if (atoi(PQgetvalue(r, found, 7)) > 0) {
			coco_seterr(err, "Postgres: ordinal_column '%s' is a primary key column of %s; it must "
				"be a column that changes with the row (updated_at, a version)", l->ordinal, b.p);
			goto out;
		}
	}
	l->cols = coco_xcalloc((size_t)nt + 1, sizeof *l->cols);
	l->nkeys = nkeys;
	uint32_t nv = nkeys;
	for (int i = 0; i < nt; i++) {
		int pos = atoi(PQgetvalue(r, i, 7));
		const char *name = PQgetvalue(r, i, 0);
		if (!pos && inc->set && !in_list(inc, name))
			continue;
		if (pos > (int)nkeys) {
			coco_seterr(err, "Postgres: table %s: malformed primary key", b.p);
			goto out;
		}
		pcol *pc = &l->cols[pos ? (uint32_t)pos - 1 : nv++];
		pc->name = coco_strdup(name);
		pc->sqltype = coco_strdup(PQgetvalue(r, i, 1));
		pc->arroid = (unsigned)strtoul(PQgetvalue(r, i, 8), NULL, 10);
		int k = classify(pc, (unsigned)strtoul(PQgetvalue(r, i, 2), NULL, 10), PQgetvalue(r, i, 3),
			PQgetvalue(r, i, 4)[0], PQgetvalue(r, i, 5)[0], atoi(PQgetvalue(r, i, 6)), pos > 0);
		if (k == -1) {
			coco_seterr(err, "Postgres: column '%s' of %s has type %s, which coco cannot map%s",
				name, b.p, pc->sqltype, pos ? "" : "; leave it out with included_columns");
			l->ncols = nv;
			goto out;
		}
		if (k == -2) {
			coco_seterr(err, "Postgres: primary key column '%s' of %s has type %s, which coco cannot "
				"use in a key", name, b.p, pc->sqltype);
			l->ncols = nv;
			goto out;
		}
	}
	l->ncols = nv;
	PQclear(r);
	r = NULL;
	/* the filter: the server's word on it, before anything is read */
	if (l->filter) {
		coco_buf_clear(&q);
		coco_buf_adds(&q, "SELECT 1 FROM ");
		ps_qual_table(&q, l);
		coco_buf_printf(&q, " t WHERE (%s) LIMIT 0", l->filter);
		r = PQexec(c, q.p);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			coco_buf_clear(&b);
			coco_pg_result_msg(&b, c, r, 1);
			coco_seterr(err, "Postgres: filter: %s", b.p);
			goto out;
		}
	}
	rc = 0;
out:
	PQclear(r);
	PQfinish(c);
	coco_buf_free(&q);
	coco_buf_free(&b);
	if (rc)
		ps_layout_free(l);
	return rc;
}

/* The last layout read for each set of options, so that open() reads the
 * table as the flow's row type says, even if the table changed since. */
typedef struct cached {
	struct cached *next;
	char *id;                /* opts_id(): NUL bytes inside */
	size_t idn;
	layout l;
} cached;
static cached *cache;
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;

static void opts_id(const coco_optval *opts, coco_buf *id)
{
	for (size_t i = 0; ps_opts[i].name; i++) {
		const coco_optval *o = &opts[i];
		coco_buf_printf(id, "%d:", o->set);
		if (o->s)
			coco_buf_add(id, o->s, strlen(o->s) + 1);
		for (size_t j = 0; j < o->nlist; j++)
			coco_buf_add(id, o->list[j], strlen(o->list[j]) + 1);
		coco_buf_putc(id, '\n');
	}
	const char *env = getenv("COCO_DATABASE_URL");
	coco_buf_adds(id, env ? env : "");
}

/* The entry of id, or NULL; the caller holds cache_mu. */
static cached *cache_find(const coco_buf *id)
{
	cached *e = cache;
	while (e && !(e->idn == id->n && !memcmp(e->id, id->p, id->n)))
		e = e->next;
	return e;
}

void ps_cache_put(const coco_optval *opts, const layout *l)
{
	coco_buf id = {0};
	opts_id(opts, &id);
	pthread_mutex_lock(&cache_mu);
	cached *e = cache_find(&id);
	if (!e) {
		e = coco_xcalloc(1, sizeof *e);
		e->idn = id.n;
		e->id = coco_buf_take(&id);
		e->next = cache;
		cache = e;
	} else {
		ps_layout_free(&e->l);
	}
	layout_copy(&e->l, l);
	pthread_mutex_unlock(&cache_mu);
	coco_buf_free(&id);
}

/* 1 and a copy in *l when cached, else 0. */
int ps_cache_get(const coco_optval *opts, layout *l)
{
	coco_buf id = {0};
	opts_id(opts, &id);
	pthread_mutex_lock(&cache_mu);
	cached *e = cache_find(&id);
	if (e)
		layout_copy(l, &e->l);
	pthread_mutex_unlock(&cache_mu);
	coco_buf_free(&id);
	return e != NULL;
}

int ps_row_type(const coco_optval *opts, coco_arena *types, const coco_type **out, char **err)
{
	layout l;
	if (ps_layout_load(opts, &l, err))
		return -1;
	coco_field *f = coco_arena_alloc(types, l.ncols * sizeof *f);
	for (uint32_t i = 0; i < l.ncols; i++) {
		f[i].name = coco_arena_strdup(types, l.cols[i].name);
		f[i].type = col_type(&l.cols[i], i < l.nkeys, types);
	}
	*out = coco_type_table(types, f, l.ncols, l.nkeys);
	ps_cache_put(opts, &l);
	ps_layout_free(&l);
	return 0;
}

/* ---- values from text ----------------------------------------------------------- */

/* Column c's value from its text s[0, n) (as ps_col_expr reads it). Memory
 * from a. -1 with why (a reason) on text the type does not read. */
int ps_conv(const pcol *c, int key, const char *s, size_t n, coco_arena *a, coco_value *v,
	coco_buf *why)
{
	memset(v, 0, sizeof *v);
	char *end;
	switch (c->kind) {
	case K_INT:
		errno = 0;
		v->u.i = strtoll(s, &end, 10);
		if (errno || end != s + n || !n)
			goto bad;
		v->kind = COCO_INT64;
		return 0;
	case K_NUMERIC:
		if (key)
			break;
		/* fallthrough */
	case K_FLOAT4:
	case K_FLOAT8:
		v->u.f = strtod(s, &end);
		if (end != s + n || !n)
			goto bad;
		v->kind = c->kind == K_FLOAT4 ? COCO_FLOAT32 : COCO_FLOAT64;
		if (c->kind == K_FLOAT4)
			v->u.f = (float)v->u.f;
		return 0;
	case K_BOOL:
		if ((n == 1 && *s == 't') || (n == 4 && !memcmp(s, "true", 4)))
			v->u.b = 1;
		else if (!((n == 1 && *s == 'f') || (n == 5 && !memcmp(s, "false", 5))))
			goto bad;
		v->kind = COCO_BOOL;
		return 0;
	case K_BYTES: {
		if (n < 2 || s[0] != '\\' || s[1] != 'x' || n % 2)
			goto bad;
		char *p = coco_arena_alloc(a, (n - 2) / 2 + 1);
		for (size_t i = 2; i < n; i += 2) {
			int hi = coco_hexval(s[i]), lo = coco_hexval(s[i + 1]);
			if (hi < 0 || lo < 0)
				goto bad;
			p[(i - 2) / 2] = (char)(hi << 4 | lo);
		}
		v->kind = COCO_BYTES;
		v->u.s = p;
		v->n = (n - 2) / 2;
		return 0;
	}
	case K_JSON:
	case K_ARRAY:
		v->kind = COCO_JSON;
		v->u.s = coco_arena_strndup(a, s, n);
		v->n = n;
		return 0;
	case K_VECTOR: {
		if (n < 2 || s[0] != '[' || s[n - 1] != ']')
			goto bad;
		size_t cnt = 0;
		for (size_t i = 1; i + 1 < n; i++)
			cnt += s[i] == ',';
		cnt += n > 2;
		if (c->dim && cnt != c->dim) {
			coco_buf_printf(why, "a vector of %zu values where %s has %u", cnt, c->sqltype, c->dim);
			return -1;
		}
		float *f = coco_arena_alloc(a, (cnt ? cnt : 1) * sizeof *f);
		const char *p = s + 1;
		for (size_t i = 0; i < cnt; i++) {
			f[i] = strtof(p, &end);
			if (end == p)
				goto bad;
			p = end + 1;
		}
		v->kind = COCO_VECTOR;
		v->u.vec = f;
		v->n = cnt;
		return 0;
	}
	case K_STR:
	case K_TIME:
		break;
	}
	size_t bad_at = coco_utf8_check(s, n);
	if (bad_at != n) {
		coco_buf_printf(why, "not valid UTF-8 at byte %zu", bad_at);
		return -1;
	}
	v->kind = COCO_STR;
	v->u.s = coco_arena_strndup(a, s, n);
	v->n = n;
	return 0;
bad:
	coco_buf_printf(why, "cannot read '%.*s' as %s", (int)(n > 40 ? 40 : n), s, c->sqltype);
	return -1;
}

/* The key made of the values kv of nk key columns: kv[0] itself (key
 * points there) when there is one, else a struct of them. */
void ps_key_struct(coco_value *key, coco_value *kv, uint32_t nk)
{
	if (nk < 2)
		return;
	memset(key, 0, sizeof *key);
	key->kind = COCO_STRUCT;
	key->n = nk;
	key->u.fields = kv;
}

/* The text of key value v for a parameter of column c. */
int ps_key_text(const pcol *c, const coco_value *v, coco_buf *out)
{
	coco_buf_clear(out);
	switch (v->kind) {
	case COCO_INT64: coco_buf_printf(out, "%lld", (long long)v->u.i); return 0;
	case COCO_FLOAT32: coco_buf_printf(out, "%.9g", v->u.f); return 0;
	case COCO_FLOAT64: coco_buf_printf(out, "%.17g", v->u.f); return 0;
	case COCO_BOOL: coco_buf_adds(out, v->u.b ? "t" : "f"); return 0;
	case COCO_STR: case COCO_JSON: coco_buf_add(out, v->u.s, v->n); return 0;
	case COCO_BYTES:
		coco_buf_adds(out, "\\x");
		for (size_t i = 0; i < v->n; i++)
			coco_buf_printf(out, "%02x", (unsigned char)v->u.s[i]);
		return 0;
	default:
		(void)c;
		return -1;
	}
}
