/* Postgres source: change capture. Setup creates a trigger that NOTIFYs
 * the changed row's key; live mode LISTENs on a connection of its own. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "engine/tdesc.h"
#include "engine/functions/json.h"
#include "connectors/pgsource/pgsource_int.h"

/* ---- small helpers --------------------------------------------------------- */

/* Appends a string literal: 'it''s'. */
static void sql_lit(coco_buf *b, const char *s)
{
	coco_buf_putc(b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			coco_buf_putc(b, '\'');
		coco_buf_putc(b, *s);
	}
	coco_buf_putc(b, '\'');
}

/* base + suffix, cut to 63 bytes with a hash when longer. */
static void ident63(coco_buf *out, const char *base, const char *suffix)
{
	coco_buf b = {0};
	coco_buf_printf(&b, "%s%s", base, suffix);
	coco_pg_ident63(out, b.p, b.n);
	coco_buf_free(&b);
}

/* ---- change capture: LISTEN ------------------------------------------------------ */

/* The default channel: coco__<flow>__<source>, other bytes than letters,
 * digits and _ as _, cut to 63 bytes with a hash. */
static void default_channel(coco_buf *out, const char *flow, const char *source)
{
	coco_buf b = {0};
	coco_buf_printf(&b, "coco__%s__%s", flow, source);
	for (size_t i = 0; i < b.n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", b.p[i]))
			b.p[i] = '_';
	ident63(out, b.p, "");
	coco_buf_free(&b);
}

void ps_named(void *p, const char *flow, const char *source)
{
	ps_src *s = p;
	if (!s->l.notify || s->channel)
		return;
	coco_buf b = {0};
	default_channel(&b, flow, source);
	s->channel = coco_buf_take(&b);
}

static void arm(ps_src *s, int ms)
{
	struct itimerspec it = {0};
	it.it_value.tv_sec = ms / 1000;
	it.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
	timerfd_settime(s->tfd, 0, &it, NULL);
}

/* Connects the listener and LISTENs; 0, or -1 with *err. */
static int listen_start(ps_src *s, char **err)
{
	PGconn *c = ps_connect(s->l.conninfo, s->l.penv, s->l.server, "coco listen", err);
	if (!c)
		return -1;
	coco_buf q = {0};
	coco_buf_adds(&q, "LISTEN ");
	coco_sql_ident(&q, s->channel);
	int rc = coco_pg_exec(c, q.p, "LISTEN", 1, err);
	coco_buf_free(&q);
	if (rc) {
		PQfinish(c);
		return -1;
	}
	s->w = c;
	s->wsock = PQsocket(c);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = s->wsock };
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wsock, &ev);
	s->backoff_ms = 0;
	return 0;
}

static void listen_drop(ps_src *s)
{
	if (!s->w)
		return;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->wsock, NULL);
	PQfinish(s->w);
	s->w = NULL;
	s->wsock = -1;
}

static void trigger_sql(const layout *l, const char *ch, coco_buf *create, coco_buf *drop,
	coco_buf *tg);

int ps_watch(void *p, int *fd, char **err)
{
	ps_src *s = p;
	*fd = -1;
	if (!s->l.notify)
		return 0;
	if (!s->channel)
		return coco_seterr(err, "Postgres: notification needs a channel_name here");
	/* setup made the trigger; one dropped by hand since is made again */
	if (ps_ensure(s, err))
		return -1;
	coco_buf qt = {0}, tg = {0}, create = {0}, drop = {0};
	ps_qual_table(&qt, &s->l);
	trigger_sql(&s->l, s->channel, &create, &drop, &tg);
	const char *pv[2] = { qt.p, tg.p };
	PGresult *r = PQexecParams(s->c, "SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($1) "
		"AND tgname = $2", 2, NULL, pv, NULL, NULL, 0);
	int missing = PQresultStatus(r) == PGRES_TUPLES_OK && !PQntuples(r), rc = 0;
	PQclear(r);
	if (missing) {
		coco_buf q = {0}, t = {0};
		coco_buf_printf(&q, "BEGIN; %s COMMIT;", create.p);
		rc = coco_pg_exec(s->c, q.p, "cannot create the trigger that notifies changes", 1, err);
		ps_disp_table(&t, &s->l);
		coco_buf_printf(&t, " had no trigger %s (dropped by hand?): made again", tg.p);
		if (!rc)
			s->note = coco_buf_take(&t);
		coco_buf_free(&t);
		coco_buf_free(&q);
	}
	coco_buf_free(&qt);
	coco_buf_free(&tg);
	coco_buf_free(&create);
	coco_buf_free(&drop);
	if (rc)
		return -1;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->epfd < 0 || s->tfd < 0)
		return coco_seterr(err, "Postgres: epoll/timerfd: %s", strerror(errno));
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = s->tfd };
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->tfd, &ev);
	if (listen_start(s, err))
		return -1;
	if (s->note)
		arm(s, 1);             /* watch_read says so */
	*fd = s->epfd;
	return 0;
}

/* One notification's payload: a JSON array of the key columns' text. */
static int payload_key(ps_src *s, const char *pl, coco_value *key)
{
	size_t n = strlen(pl), at;
	const char *msg;
	coco_json_iter it;
	if (coco_json_check(pl, n, &at, &msg) || coco_json_iter_init(&it, pl, n) != '[')
		return -1;
	uint32_t nk = s->l.nkeys, k = 0;
	coco_value *kv = nk > 1 ? coco_arena_alloc(&s->wmem, nk * sizeof *kv) : key;
	const char *v;
	size_t nv;
	coco_buf t = {0}, why = {0};
	int rc = 0;
	while (!rc && coco_json_iter_next(&it, NULL, NULL, &v, &nv)) {
		coco_buf_clear(&t);
		if (k >= nk || coco_json_str_decode(v, nv, &t) ||
		    ps_conv(&s->l.cols[k], 1, t.p ? t.p : "", t.n, &s->wmem, &kv[k], &why))
			rc = -1;
		k++;
	}
	coco_buf_free(&t);
	coco_buf_free(&why);
	if (rc || k != nk)
		return -1;
	ps_key_struct(key, kv, nk);
	return 0;
}

int ps_watch_read(void *p, coco_change_cb cb, void *ud, char **err)
{
	ps_src *s = p;
	(void)err;
	uint64_t ticks;
	while (read(s->tfd, &ticks, sizeof ticks) > 0)
		;
	if (s->note) {
		coco_buf msg = {0};
		coco_buf_printf(&msg, "Postgres: %s", s->note);
		free(s->note);
		s->note = NULL;
		cb(ud, COCO_CHANGE_RESCAN, NULL, msg.p);
		coco_buf_free(&msg);
	}
	coco_buf m = {0};
	if (s->w && (!PQconsumeInput(s->w) || PQstatus(s->w) != CONNECTION_OK)) {
		coco_pg_msg(&m, PQerrorMessage(s->w));
		listen_drop(s);
		char *e = NULL;
		int rc = listen_start(s, &e);
		coco_buf msg = {0};
		coco_buf_printf(&msg, "Postgres: the connection that listens on %s was lost (%s); %s",
			s->channel, m.n ? m.p : "closed", rc ? "reconnecting" : "reconnected: a full pass");
		cb(ud, COCO_CHANGE_RESCAN, NULL, msg.p);
		coco_buf_free(&msg);
		coco_buf_free(&m);
		if (rc) {
			free(e);
			s->backoff_ms = 500;
			arm(s, s->backoff_ms);
		}
		return 0;
	}
	if (!s->w) {
		char *e = NULL;
		if (listen_start(s, &e)) {
			free(e);
			s->backoff_ms = s->backoff_ms < 5000 ? s->backoff_ms * 2 : 10000;
			arm(s, s->backoff_ms);
			return 0;
		}
		coco_buf msg = {0};
		coco_buf_printf(&msg, "Postgres: listening on %s again: a full pass", s->channel);
		cb(ud, COCO_CHANGE_RESCAN, NULL, msg.p);
		coco_buf_free(&msg);
	}
	coco_buf_free(&m);
	PGnotify *nt;
	while (s->w && (nt = PQnotifies(s->w))) {
		int stop = 0;
		if (!strcmp(nt->relname, s->channel)) {
			coco_value key;
			coco_arena_reset(&s->wmem);
			if (!strcmp(nt->extra, RESCAN_MARK) || payload_key(s, nt->extra, &key))
				stop = cb(ud, COCO_CHANGE_RESCAN, NULL, NULL);
			else
				stop = cb(ud, COCO_CHANGE_ROW, &key, NULL);
		}
		PQfreemem(nt);
		if (stop) {
			arm(s, 1);         /* the rest wait in libpq: come back for them */
			break;
		}
	}
	return 0;
}

/* ---- setup: the trigger that notifies -------------------------------------------- */

/* The SQL that creates the notifying function and triggers for channel ch
 * on l's table (create), and that drops them (drop); tg: the row
 * trigger's name. */
static void trigger_sql(const layout *l, const char *ch, coco_buf *create, coco_buf *drop,
	coco_buf *tg)
{
	coco_buf fn = {0}, tt = {0}, qt = {0}, qf = {0};
	coco_buf *q = create;
	ident63(&fn, ch, "_n");
	ident63(tg, ch, "_t");
	ident63(&tt, ch, "_tt");
	ps_qual_table(&qt, l);
	coco_sql_ident(&qf, l->schema);
	coco_buf_putc(&qf, '.');
	coco_sql_ident(&qf, fn.p);

	/* the function */
	coco_buf_printf(q, "CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql", qf.p);
#define SET(k, v) coco_buf_printf(q, " SET %s = '%s'", k, v);
	SETTINGS(SET)
#undef SET
	coco_buf_adds(q, " AS $coco$ DECLARE p text; BEGIN IF TG_OP = 'TRUNCATE' THEN "
		"PERFORM pg_notify(");
	sql_lit(q, ch);
	coco_buf_adds(q, ", '" RESCAN_MARK "'); RETURN NULL; END IF; "
		"IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND (");
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < l->nkeys; i++) {
			coco_buf_printf(q, "%s%s.", i ? "," : "", pass ? "OLD" : "NEW");
			coco_sql_ident(q, l->cols[i].name);
		}
		coco_buf_adds(q, pass ? ")) THEN " : ") IS DISTINCT FROM (");
	}
	for (int pass = 0; pass < 2; pass++) {
		coco_buf_adds(q, "p := json_build_array(");
		for (uint32_t i = 0; i < l->nkeys; i++) {
			if (i)
				coco_buf_putc(q, ',');
			ps_col_expr(q, &l->cols[i], pass ? "NEW" : "OLD", 1);
		}
		coco_buf_adds(q, ")::text; PERFORM pg_notify(");
		sql_lit(q, ch);
		coco_buf_printf(q, ", CASE WHEN octet_length(p) < %d THEN p ELSE '" RESCAN_MARK "' END); "
			"END IF; ", PAYLOAD_MAX);
		if (!pass)
			coco_buf_adds(q, "IF TG_OP <> 'DELETE' THEN ");
	}
	coco_buf_adds(q, "RETURN NULL; END $coco$; ");
	/* the triggers */
	const coco_buf *tn[2] = { tg, &tt };
	for (int i = 0; i < 2; i++) {
		coco_buf_adds(q, "DROP TRIGGER IF EXISTS ");
		coco_sql_ident(q, tn[i]->p);
		coco_buf_printf(q, " ON %s; CREATE TRIGGER ", qt.p);
		coco_sql_ident(q, tn[i]->p);
		coco_buf_printf(q, " AFTER %s ON %s FOR EACH %s EXECUTE FUNCTION %s();",
			i ? "TRUNCATE" : "INSERT OR UPDATE OR DELETE", qt.p, i ? "STATEMENT" : "ROW", qf.p);
	}
	/* undoing it */
	for (int i = 0; i < 2; i++) {
		coco_buf_adds(drop, "DROP TRIGGER IF EXISTS ");
		coco_sql_ident(drop, tn[i]->p);
		coco_buf_printf(drop, " ON %s; ", qt.p);
	}
	coco_buf_printf(drop, "DROP FUNCTION IF EXISTS %s();", qf.p);
	coco_buf_free(&fn);
	coco_buf_free(&tt);
	coco_buf_free(&qt);
	coco_buf_free(&qf);
}

int ps_setup_describe(const coco_optval *opts, const char *flow, const char *source,
	coco_buf *rid, coco_buf *desired, char **err)
{
	if (!opts[OPT_NOTIFY].set)
		return 0;
	layout l;
	if (!ps_cache_get(opts, &l)) {
		if (ps_layout_load(opts, &l, err))
			return -1;
		ps_cache_put(opts, &l);
	}
	coco_buf ch = {0}, tg = {0}, q = {0}, b = {0};
	if (l.channel)
		coco_buf_adds(&ch, l.channel);
	else
		default_channel(&ch, flow, source);
	coco_buf_printf(rid, "%s#%s.%s!%s", l.server, l.schema, l.table, ch.p);
	trigger_sql(&l, ch.p, &q, &b, &tg);
	coco_buf_printf(desired, "server %s\nconninfo ", l.server);
	coco_buf_esc(desired, l.conninfo, 0);
	if (l.penv)
		coco_buf_printf(desired, "\npassword_env %s", l.penv);
	coco_buf_printf(desired, "\ntable %s.%s\nchannel %s\ntrigger %s\ncreate ", l.schema, l.table,
		ch.p, tg.p);
	coco_buf_esc(desired, q.p, 0);
	coco_buf_adds(desired, "\ndrop ");
	coco_buf_esc(desired, b.p, 0);
	coco_buf_putc(desired, '\n');
	coco_buf_free(&ch);
	coco_buf_free(&tg);
	coco_buf_free(&q);
	coco_buf_free(&b);
	ps_layout_free(&l);
	return 0;
}

typedef struct sdesc {
	const char *server, *conninfo, *penv, *table, *channel, *trigger, *create, *drop;
} sdesc;

/* The value of line `word` of a description (unescaped, in a), or NULL. */
static const char *sline(const char *text, const char *word, coco_arena *a)
{
	size_t wn = strlen(word);
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (n > wn && !memcmp(p, word, wn) && p[wn] == ' ')
			return coco_unesc(a, p + wn + 1, n - wn - 1);
		p = nl ? nl + 1 : NULL;
	}
	return NULL;
}

static int sparse(const char *text, coco_arena *a, sdesc *d, char **err)
{
	memset(d, 0, sizeof *d);
	if (!text)
		return 0;
	d->server = sline(text, "server", a);
	d->conninfo = sline(text, "conninfo", a);
	d->penv = sline(text, "password_env", a);
	d->table = sline(text, "table", a);
	d->channel = sline(text, "channel", a);
	d->trigger = sline(text, "trigger", a);
	d->create = sline(text, "create", a);
	d->drop = sline(text, "drop", a);
	if (!d->server || !d->conninfo || !d->table || !d->channel || !d->trigger || !d->create || !d->drop)
		return coco_seterr(err, "Postgres: malformed setup description of a source");
	return 0;
}

int ps_setup_plan(const char *stored, const char *desired, coco_buf *plan, int *destructive,
	char **err)
{
	coco_arena a = {0};
	sdesc s, d;
	*destructive = 0;
	int rc = sparse(stored, &a, &s, err) || sparse(desired, &a, &d, err) ? -1 : 0;
	if (!rc && stored && (!desired || strcmp(s.server, d.server) || strcmp(s.table, d.table) ||
	    strcmp(s.channel, d.channel)))
		coco_buf_printf(plan, "drop trigger %s on %s (it notified %s)\n", s.trigger, s.table, s.channel);
	if (!rc && desired)
		coco_buf_printf(plan, "%s trigger %s on %s: notify changed keys on channel %s\n",
			stored && !strcmp(s.server, d.server) && !strcmp(s.table, d.table) &&
			!strcmp(s.channel, d.channel) ? "replace" : "create", d.trigger, d.table, d.channel);
	coco_arena_destroy(&a);
	return rc;
}

/* Runs sql in one transaction on the server of conninfo. */
static int run_tx(const char *conninfo, const char *penv, const char *server, const char *sql,
	char **err)
{
	PGconn *c = ps_connect(conninfo, penv, server, "coco", err);
	if (!c)
		return -1;
	coco_buf q = {0};
	coco_buf_printf(&q, "BEGIN; %s COMMIT;", sql);
	char *e = NULL;
	int rc = coco_pg_exec(c, q.p, server, 1, &e);
	if (rc) {
		coco_seterr(err, "%s", e);
		free(e);
	}
	coco_buf_free(&q);
	PQfinish(c);
	return rc;
}

int ps_setup_apply(const char *stored, const char *desired, char **err)
{
	coco_arena a = {0};
	sdesc s, d;
	int rc = sparse(stored, &a, &s, err) || sparse(desired, &a, &d, err) ? -1 : 0;
	int same_server = stored && desired && !strcmp(s.server, d.server);
	if (!rc && stored && !same_server)
		rc = run_tx(s.conninfo, s.penv, s.server, s.drop, err);
	if (!rc && desired) {
		coco_buf q = {0};
		if (same_server)
			coco_buf_printf(&q, "%s ", s.drop);
		coco_buf_adds(&q, d.create);
		rc = run_tx(d.conninfo, d.penv, d.server, q.p, err);
		coco_buf_free(&q);
	}
	coco_arena_destroy(&a);
	return rc;
}
