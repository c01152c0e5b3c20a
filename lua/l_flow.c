/* Running a flow's graph: its state (open, close, counts, remove), setup
 * (plan, apply), update, evaluate, verify and live(). Runtime failures
 * return nil, message. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lua/l_graph.h"
#include "engine/verify.h"
#include "engine/cluster.h"
#include "engine/sys.h"

/* The flow at 1, to run: NULL (and *n results, nil and a message, pushed)
 * in a forked copy, or when it must write its state and cannot. */
enum { ANY_STATE, WRITES_STATE };
static lgraph *running(lua_State *L, int mode, int *n)
{
	lgraph *lg = coco_lua_check_graph(L, 1);
	*n = 0;
	if (lg->pid != getpid())
		*n = coco_lua_fail(L, "coco: this flow was opened in another process (before a fork); "
			"open flows after forking (in nginx: in init_worker_by_lua)");
	else if (mode == WRITES_STATE && (!lg->st || lg->st_ro))
		*n = coco_lua_fail(L, "coco: state is not open for writing");
	return *n ? NULL : lg;
}

/* The process that first opened a state: RocksDB's background threads
 * live there, and a forked child that opens any state waits on them
 * forever (seen in nginx: a worker hung closing its flow). */
static pid_t state_pid;

/* g:open_state(dir, read_only, cluster) -> true | nil, msg. Reopens if the
 * mode differs. cluster: dir is a cluster URL (the state in PostgreSQL). */
static int l_open_state(lua_State *L)
{
	const char *dir = luaL_checkstring(L, 2);
	int ro = lua_toboolean(L, 3), cluster = lua_toboolean(L, 4), n;
	lgraph *lg = running(L, ANY_STATE, &n);
	if (!lg)
		return n;
	if (state_pid && state_pid != getpid())
		return coco_lua_fail(L, "coco: a flow's state was opened in the parent process "
			"before it forked, so none can be opened in this child; open flows only after forking "
			"(in nginx: in init_worker_by_lua, not init_by_lua)");
	if (lg->st && lg->state_dir && !strcmp(lg->state_dir, dir) && (lg->st_ro == ro || !lg->st_ro)) {
		lua_pushboolean(L, 1);
		return 1;
	}
	coco_lua_graph_close_state(lg);
	free(lg->state_dir);
	lg->state_dir = coco_strdup(dir);
	char *err = NULL;
	if (cluster ? coco_state_pg_open(dir, coco_graph_name(lg->g), ro, &lg->st, &err)
		    : coco_state_open(dir, ro, &lg->st, &err)) {
		lg->st = NULL;
		return coco_lua_fail_free(L, err);
	}
	if (!state_pid)
		state_pid = getpid();
	lg->st_ro = ro;
	lua_pushboolean(L, 1);
	return 1;
}

/* g:ready() -> true | nil, msg: every function can run (API keys set) */
static int l_ready(lua_State *L)
{
	lgraph *lg = coco_lua_check_graph(L, 1);
	char *err = NULL;
	if (coco_graph_ready(lg->g, &err))
		return coco_lua_fail_free(L, err);
	lua_pushboolean(L, 1);
	return 1;
}

/* g:state_counts() -> { tracked = n, cached = n } | nil, msg (state must be open) */
static int l_state_counts(lua_State *L)
{
	lgraph *lg = coco_lua_check_graph(L, 1);
	if (!lg->st)
		return coco_lua_fail(L, "coco: state is not open");
	static const struct { coco_cf cf; const char *name; } cfs[] = {
		{ COCO_CF_TRACKING, "tracked" }, { COCO_CF_MEMO, "cached" } };
	lua_newtable(L);
	for (size_t i = 0; i < 2; i++) {
		coco_iter *it = coco_state_iter(lg->st, cfs[i].cf, NULL, 0);
		const char *k, *v;
		size_t kn, vn, n = 0;
		char *err = NULL;
		int rc;
		while ((rc = coco_iter_next(it, &k, &kn, &v, &vn, &err)) == 1)
			n++;
		coco_iter_destroy(it);
		if (rc < 0)
			return coco_lua_fail_free(L, err);
		lua_pushnumber(L, (lua_Number)n);
		lua_setfield(L, -2, cfs[i].name);
	}
	return 1;
}

/* g:close_state() */
static int l_close_state(lua_State *L)
{
	lgraph *lg = coco_lua_check_graph(L, 1);
	coco_lua_graph_close_state(lg);
	return 0;
}

/* Describing an export makes its target remember the secrets its options
 * hold (a password in a connection string: engine/secret.h): a drop,
 * planned without the flow, connects with them. */
static void remember_secrets(const coco_graph *g)
{
	coco_buf rid = {0}, desc = {0};
	for (size_t i = 0; i < coco_graph_nexports(g); i++) {
		const coco_gexport *x = coco_graph_export_at(g, i);
		char *e = NULL;
		coco_buf_clear(&rid);
		coco_buf_clear(&desc);
		x->ops->describe(x->opts, &x->info, &rid, &desc, &e);
		free(e);
	}
	coco_buf_free(&rid);
	coco_buf_free(&desc);
}

/* g:plan(drop_all) -> text, destructive, nchanges | nil, msg */
static int l_plan(lua_State *L)
{
	int n;
	lgraph *lg = running(L, ANY_STATE, &n);
	if (!lg)
		return n;
	coco_setup_plan_free(&lg->plan);
	char *err = NULL;
	if (lua_toboolean(L, 2))
		remember_secrets(lg->g);
	if (coco_setup_plan_make(lua_toboolean(L, 2) ? NULL : lg->g, lg->st, &lg->plan, &err))
		return coco_lua_fail_free(L, err);
	coco_buf b = {0};
	coco_setup_plan_format(&lg->plan, &b);
	lua_pushlstring(L, b.p ? b.p : "", b.n);
	coco_buf_free(&b);
	lua_pushboolean(L, lg->plan.destructive);
	lua_pushinteger(L, (lua_Integer)lg->plan.n);
	return 3;
}

/* g:apply() -> true | nil, msg  (applies the last plan) */
static int l_apply(lua_State *L)
{
	lgraph *lg = coco_lua_check_graph(L, 1);
	if (!lg->st)
		return coco_lua_fail(L, "coco: state is not open");
	char *err = NULL;
	int rc = coco_setup_apply(lg->st, &lg->plan, &err);
	coco_setup_plan_free(&lg->plan);
	if (rc)
		return coco_lua_fail_free(L, err);
	lua_pushboolean(L, 1);
	return 1;
}

typedef struct cbctx {
	lua_State *L;
	int on_error, on_progress;   /* stack indices or 0 */
	int on_warning;
} cbctx;

void coco_lua_push_stats(lua_State *L, const coco_source_stats *s)
{
	lua_createtable(L, 0, 12);
#define F(name) lua_pushnumber(L, (lua_Number)s->name); lua_setfield(L, -2, #name)
	lua_pushstring(L, s->source ? s->source : "?");
	lua_setfield(L, -2, "source");
	F(listed); F(added); F(updated); F(deleted); F(unchanged); F(reprocessed); F(errors);
	F(warnings); F(fn_calls); F(cache_hits); F(elapsed_ms);
#undef F
}

/* on_error / on_warning(source, key, msg), at stack index fn (0: none) */
static void cb_row(lua_State *L, int fn, const char *what, const char *source, const char *key,
	const char *msg)
{
	if (!fn)
		return;
	lua_pushvalue(L, fn);
	lua_pushstring(L, source);
	lua_pushstring(L, key);
	lua_pushstring(L, msg);
	coco_lua_callback(L, 3, what);
}

static void cb_error(void *ud, const char *source, const char *key, const char *msg)
{
	cbctx *c = ud;
	cb_row(c->L, c->on_error, "on_error", source, key, msg);
}

static void cb_warning(void *ud, const char *source, const char *key, const char *msg)
{
	cbctx *c = ud;
	cb_row(c->L, c->on_warning, "on_warning", source, key, msg);
}

static void cb_progress(void *ud, const coco_source_stats *st, uint64_t done, uint64_t total)
{
	cbctx *c = ud;
	if (!c->on_progress)
		return;
	lua_pushvalue(c->L, c->on_progress);
	coco_lua_push_stats(c->L, st);
	lua_pushnumber(c->L, (lua_Number)done);
	lua_pushnumber(c->L, (lua_Number)total);
	coco_lua_callback(c->L, 3, "on_progress");
}

void coco_lua_update_flags(lua_State *L, int opts, coco_update_opts *o)
{
	if (!lua_istable(L, opts))
		return;
	lua_getfield(L, opts, "reexport");
	o->reexport = lua_toboolean(L, -1);
	lua_getfield(L, opts, "full_reprocess");
	o->full_reprocess = lua_toboolean(L, -1);
	lua_pop(L, 2);
}

/* The function opts[name], left on the stack: its index, or 0 (nothing
 * left) when it is not a function. opts is a table. */
static int opt_fn(lua_State *L, int opts, const char *name)
{
	lua_getfield(L, opts, name);
	if (lua_isfunction(L, -1))
		return lua_gettop(L);
	lua_pop(L, 1);
	return 0;
}

static void read_callbacks(lua_State *L, int opts, cbctx *c, coco_update_opts *o)
{
	c->L = L;
	if (!lua_istable(L, opts))
		return;
	coco_lua_update_flags(L, opts, o);
	c->on_error = opt_fn(L, opts, "on_error");
	c->on_progress = opt_fn(L, opts, "on_progress");
	c->on_warning = opt_fn(L, opts, "on_warning");
	o->on_error = cb_error;
	o->on_warning = cb_warning;
	o->on_progress = cb_progress;
	o->ud = c;
}

/* update, evaluate, verify: the flow at 1 (see running), its options and
 * callbacks from the table at 2 */
typedef struct passctx {
	lgraph *lg;
	cbctx c;
	coco_update_opts o;
} passctx;

/* Fills p; returns 0, or the count of results pushed (nil, message). */
static int pass_start(lua_State *L, int mode, passctx *p)
{
	int n;
	p->lg = running(L, mode, &n);
	if (p->lg)
		read_callbacks(L, 2, &p->c, &p->o);
	return n;
}

static void push_all_stats(lua_State *L, const coco_graph *g, const coco_source_stats *st)
{
	size_t ns = coco_graph_nsources(g);
	lua_createtable(L, (int)ns, 0);
	for (size_t i = 0; i < ns; i++) {
		coco_lua_push_stats(L, &st[i]);
		lua_rawseti(L, -2, (int)i + 1);
	}
}

/* update and evaluate: one pass over the flow's sources -> stats | nil, msg */
typedef int (*pass_fn)(lgraph *lg, const coco_update_opts *o, void *ud, coco_source_stats *st,
	char **err);

static int run_pass(lua_State *L, passctx *p, pass_fn pass, void *ud)
{
	lgraph *lg = p->lg;
	coco_source_stats *st = coco_xcalloc(coco_graph_nsources(lg->g) + 1, sizeof *st);
	char *err = NULL;
	lg->nlive++;                  /* a callback may close the flow: it goes after */
	int rc = pass(lg, &p->o, ud, st, &err);
	if (!rc)
		push_all_stats(L, lg->g, st);
	free(st);
	coco_lua_graph_unlive(lg);
	return rc ? coco_lua_fail_free(L, err) : 1;
}

static int update_pass(lgraph *lg, const coco_update_opts *o, void *ud, coco_source_stats *st,
	char **err)
{
	(void)ud;
	return coco_update(lg->g, lg->st, o, st, err);
}

/* g:update{ reexport, full_reprocess, on_error, on_warning, on_progress } -> stats | nil, msg */
static int l_update(lua_State *L)
{
	passctx p = {0};
	int n = pass_start(L, WRITES_STATE, &p);
	return n ? n : run_pass(L, &p, update_pass, NULL);
}

/* evaluate: rows go to a Lua sink(export_name, rows_as_json_lines) */
typedef struct evalctx {
	lua_State *L;
	int sink;
	int use_cache;
	coco_buf b;
} evalctx;

static int eval_sink(void *ud, const coco_gexport *x, const coco_value *rows, size_t n,
	size_t si, const coco_value *key, char **err)
{
	evalctx *e = ud;
	coco_buf_clear(&e->b);
	for (size_t i = 0; i < n; i++) {
		coco_value_to_json(&rows[i], x->info.row_type, &e->b);
		coco_buf_putc(&e->b, '\n');
	}
	lua_pushvalue(e->L, e->sink);
	lua_pushstring(e->L, x->name);
	lua_pushlstring(e->L, e->b.p, e->b.n);
	if (coco_lua_pcall(e->L, 2, 0)) {
		coco_seterr(err, "%s", lua_tostring(e->L, -1));
		lua_pop(e->L, 1);
		return -1;
	}
	return 0;
}

static int evaluate_pass(lgraph *lg, const coco_update_opts *o, void *ud, coco_source_stats *st,
	char **err)
{
	evalctx *e = ud;
	return coco_evaluate(lg->g, lg->st, e->use_cache, o, eval_sink, e, st, err);
}

/* verify: each difference goes to a Lua on_diff(diff) */
static void cb_diff(void *ud, const coco_verify_diff *d)
{
	static const char *const kinds[] = { "missing", "stale", "different", "collision" };
	cbctx *c = ud;
	lua_State *L = c->L;
	if (!c->on_progress)          /* verify keeps on_diff where update keeps on_progress */
		return;
	lua_pushvalue(L, c->on_progress);
	lua_createtable(L, 0, 6);     // [on_diff, diff]
	lua_pushstring(L, d->export_name);
	lua_setfield(L, -2, "export");
	lua_pushstring(L, kinds[d->kind]);
	lua_setfield(L, -2, "kind");
	lua_pushstring(L, d->key);
	lua_setfield(L, -2, "key");
	if (d->source) {
		lua_pushstring(L, d->source);
		lua_setfield(L, -2, "source");
		lua_pushstring(L, d->source_key);
		lua_setfield(L, -2, "source_key");
	}
	if (d->columns) {
		lua_pushstring(L, d->columns);
		lua_setfield(L, -2, d->kind == COCO_VERIFY_COLLISION ? "other" : "columns");
	}
	coco_lua_callback(L, 1, "on_diff");
}

/* g:verify{ repair, on_diff, on_error } -> { per export: held, expected,
 * missing, stale, different, collisions, repaired, scanned }, errors | nil, msg */
static int l_verify(lua_State *L)
{
	passctx p = {0};
	int n = pass_start(L, ANY_STATE, &p);
	if (n)
		return n;
	lgraph *lg = p.lg;
	p.c.on_progress = 0;
	coco_verify_opts o = { .on_error = cb_error, .on_diff = cb_diff, .ud = &p.c };
	if (lua_istable(L, 2)) {
		lua_getfield(L, 2, "repair");
		o.repair = lua_toboolean(L, -1);
		p.c.on_progress = opt_fn(L, 2, "on_diff");
	}
	size_t nx = coco_graph_nexports(lg->g);
	coco_verify_stats *st = coco_xcalloc(nx + 1, sizeof *st);
	uint64_t nerr = 0;
	char *err = NULL;
	lg->nlive++;                  /* a callback may close the flow: it goes after */
	int rc = coco_verify(lg->g, lg->st, &o, st, &nerr, &err);
	if (!rc) {
		lua_createtable(L, (int)nx, 0);
		for (size_t i = 0; i < nx; i++) {
			lua_createtable(L, 0, 9);
			lua_pushstring(L, st[i].export_name);
			lua_setfield(L, -2, "export");
#define F(name) lua_pushnumber(L, (lua_Number)st[i].name); lua_setfield(L, -2, #name)
			F(held); F(expected); F(missing); F(stale); F(different); F(collisions); F(repaired);
#undef F
			lua_pushboolean(L, st[i].scanned);
			lua_setfield(L, -2, "scanned");
			lua_rawseti(L, -2, (int)i + 1);
		}
		lua_pushnumber(L, (lua_Number)nerr);
	}
	free(st);
	coco_lua_graph_unlive(lg);
	return rc ? coco_lua_fail_free(L, err) : 2;
}

/* g:evaluate({ use_cache, on_error, on_warning }, sink) -> stats | nil, msg */
static int l_evaluate(lua_State *L)
{
	luaL_checktype(L, 3, LUA_TFUNCTION);
	passctx p = {0};
	int n = pass_start(L, ANY_STATE, &p);
	if (n)
		return n;
	int use_cache = 1;
	if (lua_istable(L, 2)) {
		lua_getfield(L, 2, "use_cache");
		if (!lua_isnil(L, -1))
			use_cache = lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	evalctx e = { .L = L, .sink = 3, .use_cache = use_cache };
	int r = run_pass(L, &p, evaluate_pass, &e);
	coco_buf_free(&e.b);
	return r;
}

/* g:remove_state(dir, cluster) -> true | nil, msg (closes the state first) */
static int l_remove_state(lua_State *L)
{
	lgraph *lg = coco_lua_check_graph(L, 1);
	const char *dir = luaL_checkstring(L, 2);
	coco_lua_graph_close_state(lg);
	char *err = NULL;
	if (lua_toboolean(L, 3) ? coco_state_pg_remove(dir, coco_graph_name(lg->g), &err)
				: coco_state_remove(dir, &err))
		return coco_lua_fail_free(L, err);
	lua_pushboolean(L, 1);
	return 1;
}

/* g:cluster_status(url) -> text | nil, msg */
static int l_cluster_status(lua_State *L)
{
	lgraph *lg = coco_lua_check_graph(L, 1);
	const char *url = luaL_checkstring(L, 2);
	coco_buf b = {0};
	char *err = NULL;
	if (coco_state_pg_status(url, coco_graph_name(lg->g), &b, &err)) {
		coco_buf_free(&b);
		return coco_lua_fail_free(L, err);
	}
	lua_pushlstring(L, b.p ? b.p : "", b.n);
	coco_buf_free(&b);
	return 1;
}

/* The flow at 1 with its state in a cluster, open for writing: NULL (and
 * *n results, nil and a message, pushed) if not. */
static lgraph *clustered(lua_State *L, int *n)
{
	lgraph *lg = running(L, WRITES_STATE, n);
	if (lg && !coco_cluster_is(lg->st)) {
		*n = coco_lua_fail(L, "coco: the state is not in a cluster (--cluster URL)");
		lg = NULL;
	}
	return lg;
}

/* g:cluster_setup() -> true | nil, msg: records K and the flow's fingerprint */
static int l_cluster_setup(lua_State *L)
{
	int n;
	lgraph *lg = clustered(L, &n);
	if (!lg)
		return n;
	char *err = NULL;
	if (coco_cluster_setup(lg->st, coco_cluster_flow_fp(lg->g), &err))
		return coco_lua_fail_free(L, err);
	lua_pushboolean(L, 1);
	return 1;
}

/* g:cluster_check(path) -> true | nil, msg, mismatch: the cluster was set up
 * with this flow (mismatch: true when it was not; nil when it cannot tell) */
static int l_cluster_check(lua_State *L)
{
	int n;
	lgraph *lg = clustered(L, &n);
	if (!lg)
		return n;
	char *err = NULL;
	int rc = coco_cluster_check(lg->st, coco_cluster_flow_fp(lg->g), luaL_checkstring(L, 2), &err);
	if (rc) {
		coco_lua_fail_free(L, err);
		lua_pushboolean(L, rc == -2);
		return 3;
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* g:cluster_join() -> true | nil, msg: this process is a worker */
static int l_cluster_join(lua_State *L)
{
	int n;
	lgraph *lg = clustered(L, &n);
	if (!lg)
		return n;
	char *err = NULL;
	if (coco_cluster_join(lg->st, &err))
		return coco_lua_fail_free(L, err);
	lua_pushboolean(L, 1);
	return 1;
}

/* g:cluster_report(rows, errors) -> true | nil, msg: a worker's pass, for status */
static int l_cluster_report(lua_State *L)
{
	int n;
	lgraph *lg = clustered(L, &n);
	if (!lg)
		return n;
	char *err = NULL;
	if (coco_cluster_report(lg->st, (uint64_t)luaL_checknumber(L, 2),
			(uint64_t)luaL_checknumber(L, 3), &err))
		return coco_lua_fail_free(L, err);
	lua_pushboolean(L, 1);
	return 1;
}

/* g:cluster_balance(all) -> { held, claimed, released, others, live, fair, parts,
 * lease_ms } | nil, msg */
static int l_cluster_balance(lua_State *L)
{
	int n;
	lgraph *lg = clustered(L, &n);
	if (!lg)
		return n;
	coco_cluster_share sh;
	char *err = NULL;
	if (coco_cluster_balance(lg->st, lua_toboolean(L, 2), &sh, &err))
		return coco_lua_fail_free(L, err);
	const struct { const char *k; int v; } f[] = { { "held", sh.held }, { "claimed", sh.claimed },
		{ "released", sh.released }, { "others", sh.others }, { "live", sh.live },
		{ "fair", sh.fair }, { "parts", COCO_CLUSTER_PARTS }, { "lease_ms", sh.lease_ms } };
	lua_createtable(L, 0, 8);
	for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
		lua_pushinteger(L, f[i].v);
		lua_setfield(L, -2, f[i].k);
	}
	return 1;
}

/* g:live(opts) -> updater | nil, msg */
static int l_live(lua_State *L)
{
	int n;
	lgraph *lg = running(L, WRITES_STATE, &n);
	if (!lg)
		return n;
	return coco_lua_live_new(L, 1, lg, 2);
}


static const luaL_Reg flow_methods[] = {
	{ "ready", l_ready },
	{ "open_state", l_open_state },
	{ "close_state", l_close_state },
	{ "state_counts", l_state_counts },
	{ "plan", l_plan },
	{ "apply", l_apply },
	{ "update", l_update },
	{ "evaluate", l_evaluate },
	{ "verify", l_verify },
	{ "remove_state", l_remove_state },
	{ "cluster_status", l_cluster_status },
	{ "cluster_setup", l_cluster_setup },
	{ "cluster_check", l_cluster_check },
	{ "cluster_join", l_cluster_join },
	{ "cluster_balance", l_cluster_balance },
	{ "cluster_report", l_cluster_report },
	{ "live", l_live },
	{ NULL, NULL }
};

int coco_lua_open_flow(lua_State *L)
{
	/* [core]: the methods join coco.graph's */
	luaL_getmetatable(L, COCO_GRAPH_MT);
	lua_getfield(L, -1, "__index");
	luaL_register(L, NULL, flow_methods);
	lua_pop(L, 2);
	return 0;
}
