/* Postgres source: the rows of a table, keyed by its primary key, typed
 * from the catalog. See README.md beside this file for the contract.
 *
 * Listing is one cursor over (key, ordinal), fetched in binary: the ordinal
 * is the ordinal_column's binary form (its type's send function), or an md5
 * of the row's text when there is none (or it is null), so an unchanged row
 * is never shipped. Reads take the rows of a batch in one
 * query (prefetch), or one row by its key. Change capture: setup creates a
 * trigger that NOTIFYs the changed row's key as a JSON array of the key
 * columns' text; live mode LISTENs on a connection of its own, behind an
 * epoll fd that stays the same across reconnections. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/tdesc.h"
#include "engine/sys.h"
#include "connectors/pgsource/pgsource_int.h"

const coco_optdef ps_opts[] = {
	{ "database", COCO_OPT_STR, 0, "libpq connection string or URI (default $COCO_DATABASE_URL)", 1 },
	{ "table_name", COCO_OPT_STR, 1, "the table to read", 0 },
	{ "schema", COCO_OPT_STR, 0, "its schema (default: the search_path's)", 0 },
	{ "included_columns", COCO_OPT_STRLIST, 0, "columns besides the primary key (default: all)", 0 },
	{ "ordinal_column", COCO_OPT_STR, 0, "a column that changes whenever the row does "
	  "(updated_at, a version); without it rows are compared by content", 1 },
	{ "filter", COCO_OPT_STR, 0, "an SQL condition: only the rows it holds for", 0 },
	{ "notification", COCO_OPT_JSON, 0, "{ channel_name = ... }: in live mode, LISTEN for the "
	  "changes a trigger (created by setup) notifies", 1 },
	{ "password_env", COCO_OPT_STR, 0, "environment variable holding the password "
	  "(default: the connection string's, PGPASSWORD, ~/.pgpass)", 1 },
	{ NULL, 0, 0, NULL, 0 },
};

/* Connects and sets the session up; on failure *err names the server. The
 * listener (app "coco listen") gives up sooner: live mode waits for it. */
PGconn *ps_connect(const char *conninfo, const char *penv, const char *server,
	const char *app, char **err)
{
	const char *const keys[] = { "connect_timeout", "application_name", "keepalives_idle",
		"keepalives_interval", "keepalives_count", NULL };
	const char *const vals[] = { strcmp(app, "coco listen") ? "10" : "3", app, "30", "10", "3",
		NULL };
	PGconn *c = coco_pg_connect(conninfo, penv, server, keys, vals, NULL, err);
	if (!c)
		return NULL;
	coco_buf q = {0};
#define SET(k, v) coco_buf_printf(&q, "SET %s = '%s';", k, v);
	SETTINGS(SET)
#undef SET
	PGresult *r = PQexec(c, q.p);
	coco_buf_free(&q);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		coco_buf b = {0};
		coco_pg_result_msg(&b, c, r, 1);
		coco_seterr(err, "Postgres: %s: cannot set the session up: %s", server, b.p);
		coco_buf_free(&b);
		PQclear(r);
		PQfinish(c);
		return NULL;
	}
	PQclear(r);
	return c;
}

static int prepare(ps_src *s, PGconn *c, char **err)
{
	PGresult *r = PQprepare(c, "coco_read", s->read_sql, 0, NULL);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (ok) {
		PQclear(r);
		r = PQprepare(c, "coco_prefetch", s->pf_sql, (int)s->l.nkeys, s->pf_types);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	}
	if (!ok) {
		coco_buf b = {0}, t = {0};
		coco_pg_result_msg(&b, c, r, 1);
		ps_disp_table(&t, &s->l);
		coco_seterr(err, "Postgres: %s: %s", t.p, b.p);
		coco_buf_free(&b);
		coco_buf_free(&t);
	}
	PQclear(r);
	return ok ? 0 : -1;
}

/* The data connection, made anew when it was lost. */
int ps_ensure(ps_src *s, char **err)
{
	if (s->c && PQstatus(s->c) == CONNECTION_OK)
		return 0;
	if (s->c)
		PQfinish(s->c);
	s->c = ps_connect(s->l.conninfo, s->l.penv, s->l.server, "coco", err);
	if (!s->c)
		return -1;
	if (prepare(s, s->c, err)) {
		PQfinish(s->c);
		s->c = NULL;
		return -1;
	}
	return 0;
}

/* 1 when r failed because the connection is gone (worth one more try). */
int ps_conn_lost(ps_src *s, PGresult *r)
{
	ExecStatusType st = PQresultStatus(r);
	return st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK && PQstatus(s->c) != CONNECTION_OK;
}

static void build_sql(ps_src *s)
{
	const layout *l = &s->l;
	coco_buf b = {0}, from = {0}, ord = {0};
	/* the ordinal: the ordinal column's binary form, and the row's content
	 * hash when there is none (see ord_bytes) */
	coco_buf_adds(&ord, "md5(ROW(");
	for (uint32_t i = 0; i < l->ncols; i++) {
		if (i)
			coco_buf_putc(&ord, ',');
		coco_buf_adds(&ord, "t.");
		coco_sql_ident(&ord, l->cols[i].name);
	}
	coco_buf_adds(&ord, ")::text)");
	if (l->ordinal) {
		coco_buf o = {0};
		coco_buf_adds(&o, "t.");
		coco_sql_ident(&o, l->ordinal);
		if (strcmp(l->ordsend, "-"))
			coco_buf_printf(&b, "%s(%s)", l->ordsend, o.p);
		else
			coco_buf_printf(&b, "convert_to((%s)::text,'UTF8')", o.p);
		coco_buf_printf(&b, ",CASE WHEN %s IS NULL THEN %s END", o.p, ord.p);
		coco_buf_free(&o);
	} else {
		coco_buf_printf(&b, "NULL::bytea,%s", ord.p);
	}
	coco_buf_clear(&ord);
	coco_buf_add(&ord, b.p, b.n);
	coco_buf_clear(&b);
	for (uint32_t i = 0; i < l->ncols; i++) {
		if (i)
			coco_buf_putc(&b, ',');
		ps_col_expr(&b, &l->cols[i], "t", i < l->nkeys);
	}
	coco_buf_putc(&b, ',');
	coco_buf_add(&b, ord.p, ord.n);
	s->sel = coco_buf_take(&b);
	coco_buf_adds(&from, " FROM ");
	ps_qual_table(&from, l);
	coco_buf_adds(&from, " t");
	const char *filt = l->filter;

	/* listing: the key columns and the ordinal */
	coco_buf_adds(&b, "DECLARE coco_list NO SCROLL CURSOR FOR SELECT ");
	for (uint32_t i = 0; i < l->nkeys; i++) {
		ps_col_expr(&b, &l->cols[i], "t", 1);
		coco_buf_putc(&b, ',');
	}
	coco_buf_add(&b, ord.p, ord.n);
	coco_buf_add(&b, from.p, from.n);
	if (filt)
		coco_buf_printf(&b, " WHERE (%s)", filt);
	s->list_sql = coco_buf_take(&b);

	/* one row by its key */
	coco_buf_printf(&b, "SELECT %s%s WHERE ", s->sel, from.p);
	for (uint32_t i = 0; i < l->nkeys; i++) {
		coco_buf_adds(&b, i ? " AND t." : "t.");
		coco_sql_ident(&b, l->cols[i].name);
		coco_buf_printf(&b, " = $%u::%s", i + 1, l->cols[i].sqltype);
	}
	if (filt)
		coco_buf_printf(&b, " AND (%s)", filt);
	s->read_sql = coco_buf_take(&b);

	/* the rows of many keys: arrays of them */
	s->pf_types = coco_xcalloc(l->nkeys, sizeof *s->pf_types);
	coco_buf_printf(&b, "SELECT %s%s WHERE ", s->sel, from.p);
	if (l->nkeys == 1) {
		coco_buf_adds(&b, "t.");
		coco_sql_ident(&b, l->cols[0].name);
		coco_buf_adds(&b, " = ANY($1)");
	} else {
		coco_buf_putc(&b, '(');
		for (uint32_t i = 0; i < l->nkeys; i++) {
			coco_buf_adds(&b, i ? ",t." : "t.");
			coco_sql_ident(&b, l->cols[i].name);
		}
		coco_buf_adds(&b, ") IN (SELECT * FROM unnest(");
		for (uint32_t i = 0; i < l->nkeys; i++)
			coco_buf_printf(&b, "%s$%u", i ? "," : "", i + 1);
		coco_buf_adds(&b, "))");
	}
	for (uint32_t i = 0; i < l->nkeys; i++)
		s->pf_types[i] = l->cols[i].arroid;
	if (filt)
		coco_buf_printf(&b, " AND (%s)", filt);
	s->pf_sql = coco_buf_take(&b);
	coco_buf_free(&from);
	coco_buf_free(&ord);
}

static void ps_close(void *p)
{
	ps_src *s = p;
	if (!s)
		return;
	if (s->c)
		PQfinish(s->c);
	if (s->w)
		PQfinish(s->w);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->tfd >= 0)
		close(s->tfd);
	PQclear(s->pf_res);
	free(s->pf);
	coco_arena_destroy(&s->pf_mem);
	coco_arena_destroy(&s->wmem);
	coco_buf_free(&s->enc);
	coco_buf_free(&s->tmp);
	free(s->sel);
	free(s->list_sql);
	free(s->read_sql);
	free(s->pf_sql);
	free(s->pf_types);
	free(s->channel);
	free(s->note);
	ps_layout_free(&s->l);
	free(s);
}

static int ps_open(const coco_optval *opts, const char *base_dir, void **out, char **err)
{
	(void)base_dir;
	ps_src *s = coco_xcalloc(1, sizeof *s);
	s->epfd = s->tfd = s->wsock = -1;
	if (!ps_cache_get(opts, &s->l) && ps_layout_load(opts, &s->l, err)) {
		free(s);
		return -1;
	}
	build_sql(s);
	if (s->l.notify && s->l.channel)
		s->channel = coco_strdup(s->l.channel);
	if (ps_ensure(s, err)) {
		ps_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

const coco_source_ops coco_postgres_source = {
	.name = "Postgres",
	.opts = ps_opts,
	.row_type = ps_row_type,
	.open = ps_open,
	.list = ps_list,
	.read = ps_read,
	.close = ps_close,
	.watch = ps_watch,
	.watch_read = ps_watch_read,
	.owner_thread_only = 0,
	.prefetch = ps_prefetch,
	.setup_describe = ps_setup_describe,
	.setup_plan = ps_setup_plan,
	.setup_apply = ps_setup_apply,
	.named = ps_named,
};
