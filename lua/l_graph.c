/* coco.graph: building a flow's graph from the DSL, and running it
 * (setup, update, evaluate, drop). The DSL in coco/init.lua calls these;
 * users never see them directly. Building mistakes raise (the message
 * carries the user's line); runtime failures return nil, message. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <errno.h>
#include <dirent.h>
#include <time.h>
#include "l_graph.h"
#include "indexer.h"
#include "state.h"
#include "verify.h"
#include "sys.h"


static lgraph *check_graph(lua_State *L, int idx)
{
	lgraph *lg = luaL_checkudata(L, idx, COCO_GRAPH_MT);
	if (!lg->g)
		luaL_error(L, "coco: flow is closed");
	return lg;
}

/* Raise msg (malloc'd, may be NULL) after freeing it. */
static int raise_str(lua_State *L, char *msg)
{
	lua_pushstring(L, msg ? msg : "error");
	free(msg);
	return lua_error(L);
}

static int push_fail(lua_State *L, char *msg)
{
	lua_pushnil(L);
	lua_pushstring(L, msg ? msg : "error");
	free(msg);
	return 2;
}

/* ref tables: { scope, field, path... } */
static void push_ref(lua_State *L, const coco_fieldref *r)
{
	lua_createtable(L, 2 + (int)r->npath, 0);
	lua_pushinteger(L, r->scope);
	lua_rawseti(L, -2, 1);
	lua_pushinteger(L, r->field);
	lua_rawseti(L, -2, 2);
	for (uint32_t i = 0; i < r->npath; i++) {
		lua_pushinteger(L, r->path[i]);
		lua_rawseti(L, -2, 3 + (int)i);
	}
}

static void to_ref(lua_State *L, int idx, coco_fieldref *r)
{
	memset(r, 0, sizeof *r);
	luaL_checktype(L, idx, LUA_TTABLE);
	size_t n = lua_objlen(L, idx);
	lua_rawgeti(L, idx, 1);
	lua_rawgeti(L, idx, 2);
	r->scope = (int32_t)lua_tointeger(L, -2);
	r->field = (int32_t)lua_tointeger(L, -1);
	lua_pop(L, 2);
	for (size_t i = 3; i <= n && r->npath < COCO_MAX_PATH; i++) {
		lua_rawgeti(L, idx, (int)i);
		r->path[r->npath++] = (uint16_t)lua_tointeger(L, -1);
		lua_pop(L, 1);
	}
}

/* core.graph(name, base_dir) */
static int l_graph_new(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	const char *base = luaL_optstring(L, 2, ".");
	lgraph *lg = lua_newuserdata(L, sizeof *lg);
	memset(lg, 0, sizeof *lg);
	lg->pid = getpid();
	luaL_getmetatable(L, COCO_GRAPH_MT);
	lua_setmetatable(L, -2);
	lg->g = coco_graph_create(name, base);
	return 1;
}

static void graph_release(lgraph *lg)
{
	if (lg->nlive > 0) {          /* a live updater still runs on it */
		lg->released = 1;
		return;
	}
	coco_setup_plan_free(&lg->plan);
	if (lg->st && lg->pid == getpid())
		coco_state_close(lg->st);
	lg->st = NULL;
	free(lg->state_dir);
	lg->state_dir = NULL;
	if (lg->g)
		coco_graph_destroy(lg->g);
	lg->g = NULL;
}

static int check_fork(lua_State *L, lgraph *lg);

void coco_lua_graph_unlive(lgraph *lg)
{
	if (--lg->nlive == 0 && lg->released)
		graph_release(lg);
}

/* g:live(opts) -> updater | nil, msg */
static int l_live(lua_State *L)
{
	lgraph *lg = check_graph(L, 1);
	int n = check_fork(L, lg);
	if (n)
		return n;
	if (!lg->st || lg->st_ro)
		return push_fail(L, coco_strdup("coco: state is not open for writing"));
	return coco_lua_live_new(L, 1, lg, 2);
}

static int l_graph_gc(lua_State *L)
{
	lgraph *lg = luaL_checkudata(L, 1, COCO_GRAPH_MT);
	graph_release(lg);
	return 0;
}

static int l_graph_tostring(lua_State *L)
{
	lgraph *lg = luaL_checkudata(L, 1, COCO_GRAPH_MT);
	lua_pushfstring(L, "coco.graph(%s)", lg->g ? coco_graph_name(lg->g) : "closed");
	return 1;
}

/* g:add_source(spec, { refresh_interval, max_inflight_rows, max_inflight_bytes }, where) -> ref */
static int l_add_source(lua_State *L)
{
	lgraph *lg = check_graph(L, 1);
	luaL_checktype(L, 2, LUA_TTABLE);
	const char *where = luaL_checkstring(L, 4);
	coco_source_opts so = {0};
	if (lua_istable(L, 3)) {
		lua_getfield(L, 3, "refresh_interval");
		so.refresh_interval = lua_tonumber(L, -1);
		lua_getfield(L, 3, "max_inflight_rows");
		so.max_inflight_rows = (int64_t)lua_tonumber(L, -1);
		lua_getfield(L, 3, "max_inflight_bytes");
		so.max_inflight_bytes = (int64_t)lua_tonumber(L, -1);
		lua_pop(L, 3);
	}
	coco_arena a = {0};
	const void *ops;
	coco_optval *v = coco_lua_spec_opts(L, 2, "source", &ops, &a, where);
	coco_fieldref r;
	char *err = NULL;
	int rc = coco_graph_add_source(lg->g, ops, v, &so, where, &r, &err);
	coco_arena_destroy(&a);
	if (rc)
		return raise_str(L, err);
	push_ref(L, &r);
	return 1;
}

/* g:name_field(scope, ref, name, where) */
static int l_name_field(lua_State *L)
{
	lgraph *lg = check_graph(L, 1);
	coco_fieldref r;
	to_ref(L, 3, &r);
	char *err = NULL;
	if (coco_graph_name_field(lg->g, (int)luaL_checkinteger(L, 2), &r, luaL_checkstring(L, 4),
		luaL_checkstring(L, 5), &err))
		return raise_str(L, err);
	return 0;
}

/* g:field(scope, name, where) -> ref, type kind */
static int l_field(lua_State *L)
{
	lgraph *lg = check_graph(L, 1);
	coco_fieldref r;
	char *err = NULL;
	if (coco_graph_field(lg->g, (int)luaL_checkinteger(L, 2), luaL_checkstring(L, 3),
		luaL_checkstring(L, 4), &r, &err))
		return raise_str(L, err);
	push_ref(L, &r);
	lua_pushstring(L, coco_kind_name(coco_graph_ref_type(lg->g, &r)->kind));
	return 2;
}

/* g:subfield(ref, name, where) -> ref, type kind */
static int l_subfield(lua_State *L)
{
	lgraph *lg = check_graph(L, 1);
	coco_fieldref r, out;
	to_ref(L, 2, &r);
	char *err = NULL;
	if (coco_graph_subfield(lg->g, &r, luaL_checkstring(L, 3), luaL_checkstring(L, 4), &out, &err))
		return raise_str(L, err);
	push_ref(L, &out);
	lua_pushstring(L, coco_kind_name(coco_graph_ref_type(lg->g, &out)->kind));
	return 2;
}

/* g:ref_info(ref) -> kind, type text, name */
static int l_ref_info(lua_State *L)
{
	lgraph *lg = check_graph(L, 1);
	coco_fieldref r;
	to_ref(L, 2, &r);
	const coco_type *t = coco_graph_ref_type(lg->g, &r);
	lua_pushstring(L, coco_kind_name(t->kind));
	coco_buf b = {0};
	coco_type_format(t, &b);
	lua_pushstring(L, b.p);
	coco_buf_clear(&b);
	coco_graph_ref_name(lg->g, &r, &b);
	lua_pushstring(L, b.p);
	coco_buf_free(&b);
	return 3;
}

/* g:foreach(scope, ref, where) -> child scope */
static int l_foreach(lua_State *L)
{
	lgraph *lg = check_graph(L, 1);
	coco_fieldref r;
	to_ref(L, 3, &r);
	int child;
	char *err = NULL;
	if (coco_graph_foreach(lg->g, (int)luaL_checkinteger(L, 2), &r, luaL_checkstring(L, 4), &child, &err))
		return raise_str(L, err);
	lua_pushinteger(L, child);
	return 1;
}

/* Convert args list { {name=?, ref=? | const=? | uuid=true}, ... } at idx. */
static int to_args(lua_State *L, int idx, coco_arena *a, coco_arg **out, size_t *n, coco_buf *e)
{
	size_t m = lua_objlen(L, idx);
	coco_arg *args = coco_arena_alloc(a, (m + 1) * sizeof *args);
	for (size_t i = 0; i < m; i++) {
		lua_rawgeti(L, idx, (int)i + 1);
		int ai = lua_gettop(L);
		lua_getfield(L, ai, "name");
		if (lua_isstring(L, -1))
			args[i].name = coco_arena_strdup(a, lua_tostring(L, -1));
		lua_getfield(L, ai, "ref");
		lua_getfield(L, ai, "uuid");
		if (lua_istable(L, -2)) {
			args[i].kind = COCO_ARG_REF;
			to_ref(L, lua_gettop(L) - 1, &args[i].ref);
		} else if (lua_toboolean(L, -1)) {
			args[i].kind = COCO_ARG_UUID;
		} else {
			args[i].kind = COCO_ARG_CONST;
			lua_getfield(L, ai, "const");
			if (coco_lua_const(L, lua_gettop(L), a, &args[i].konst)) {
				coco_buf_printf(e, "unsupported constant of type %s", luaL_typename(L, -1));
				lua_settop(L, ai - 1);
				return -1;
			}
		}
		lua_settop(L, ai - 1);
	}
	*out = args;
	*n = m;
	return 0;
}

/* g:transform(scope, fnspec, args, where) -> ref, kind */
static int l_transform(lua_State *L)
{
	lgraph *lg = check_graph(L, 1);
	int scope = (int)luaL_checkinteger(L, 2);
	luaL_checktype(L, 3, LUA_TTABLE);
	luaL_checktype(L, 4, LUA_TTABLE);
	const char *where = luaL_checkstring(L, 5);
	coco_arena a = {0};
	coco_buf e = {0};
	const coco_function_ops *fn;
	const coco_optval *spec = NULL;
	void *udata = NULL;
	coco_fn_logic logic = {0};
	const char *label = NULL;
	lua_getfield(L, 3, "fn");
	int is_lua = lua_isfunction(L, -1);
	lua_pop(L, 1);
	if (is_lua) {
		fn = &coco_lua_fn_ops;
		udata = coco_lua_fn_new(L, 3, &logic, &e);
		if (!udata)
			goto fail;
		lua_getfield(L, 3, "name");
		label = coco_arena_strdup(&a, lua_tostring(L, -1) ? lua_tostring(L, -1) : "fn");
		lua_pop(L, 1);
	} else {
		const void *ops;
		spec = coco_lua_spec_opts(L, 3, "function", &ops, &a, where);
		fn = ops;
	}
	coco_arg *args;
	size_t nargs;
	if (to_args(L, 4, &a, &args, &nargs, &e)) {
		if (udata)
			coco_lua_fn_ops.destroy(udata);
		goto fail;
	}
	coco_fieldref r;
	char *err = NULL;
	if (coco_graph_transform(lg->g, scope, fn, spec, udata, &logic, label, args, nargs, where, &r, &err)) {
		if (udata)
			coco_lua_fn_ops.destroy(udata);
		coco_arena_destroy(&a);
		return raise_str(L, err);
	}
	coco_arena_destroy(&a);
	push_ref(L, &r);
	lua_pushstring(L, coco_kind_name(coco_graph_ref_type(lg->g, &r)->kind));
	return 2;
fail:
	coco_arena_destroy(&a);
	lua_pushfstring(L, "%s: %s", where, e.p ? e.p : "invalid transform");
	coco_buf_free(&e);
	return lua_error(L);
}

/* g:add_collector(where) -> id */
static int l_add_collector(lua_State *L)
{
	lgraph *lg = check_graph(L, 1);
	int id;
	char *err = NULL;
	if (coco_graph_add_collector(lg->g, luaL_checkstring(L, 2), &id, &err))
		return raise_str(L, err);
	lua_pushinteger(L, id);
	return 1;
}

/* g:collect(scope, collector, names, args, where) */
static int l_collect(lua_State *L)
{
	lgraph *lg = check_graph(L, 1);
	int scope = (int)luaL_checkinteger(L, 2), c = (int)luaL_checkinteger(L, 3);
	luaL_checktype(L, 4, LUA_TTABLE);
	luaL_checktype(L, 5, LUA_TTABLE);
	const char *where = luaL_checkstring(L, 6);
	coco_arena a = {0};
	coco_buf e = {0};
	coco_arg *args;
	size_t n;
	if (to_args(L, 5, &a, &args, &n, &e)) {
		coco_arena_destroy(&a);
		lua_pushfstring(L, "%s: collect: %s", where, e.p);
		coco_buf_free(&e);
		return lua_error(L);
	}
	const char **names = coco_arena_alloc(&a, (n + 1) * sizeof *names);
	for (size_t i = 0; i < n; i++) {
		lua_rawgeti(L, 4, (int)i + 1);
		names[i] = coco_arena_strdup(&a, luaL_checkstring(L, -1));
		lua_pop(L, 1);
	}
	char *err = NULL;
	int rc = coco_graph_collect(lg->g, scope, c, names, args, n, where, &err);
	coco_arena_destroy(&a);
	if (rc)
		return raise_str(L, err);
	return 0;
}

/* g:export(collector, name, target_spec, pk_list, where) */
static int l_export(lua_State *L)
{
	lgraph *lg = check_graph(L, 1);
	int c = (int)luaL_checkinteger(L, 2);
	const char *name = luaL_checkstring(L, 3);
	luaL_checktype(L, 4, LUA_TTABLE);
	const char *where = luaL_checkstring(L, 6);
	coco_arena a = {0};
	const void *ops;
	coco_optval *v = coco_lua_spec_opts(L, 4, "target", &ops, &a, where);
	size_t npk = lua_istable(L, 5) ? lua_objlen(L, 5) : 0;
	const char **pk = coco_arena_alloc(&a, (npk + 1) * sizeof *pk);
	for (size_t i = 0; i < npk; i++) {
		lua_rawgeti(L, 5, (int)i + 1);
		pk[i] = coco_arena_strdup(&a, lua_isstring(L, -1) ? lua_tostring(L, -1) : "?");
		lua_pop(L, 1);
	}
	char *err = NULL;
	int rc = coco_graph_export(lg->g, c, name, ops, v, pk, npk, where, &err);
	coco_arena_destroy(&a);
	if (rc)
		return raise_str(L, err);
	return 0;
}

/* g:finish() -> raises on error */
static int l_finish(lua_State *L)
{
	lgraph *lg = check_graph(L, 1);
	char *err = NULL;
	if (coco_graph_finish(lg->g, &err))
		return raise_str(L, err);
	return 0;
}

/* g:describe(verbose) -> text */
static int l_describe(lua_State *L)
{
	lgraph *lg = check_graph(L, 1);
	coco_buf b = {0};
	coco_graph_describe(lg->g, lua_toboolean(L, 2), &b);
	lua_pushlstring(L, b.p, b.n);
	coco_buf_free(&b);
	return 1;
}

/* g:info() -> { name=, sources = { {name=, kind=, refresh_interval=} }, exports = {...} } */
static int l_info(lua_State *L)
{
	lgraph *lg = check_graph(L, 1);
	lua_newtable(L);
	lua_pushstring(L, coco_graph_name(lg->g));
	lua_setfield(L, -2, "name");
	lua_newtable(L);
	for (size_t i = 0; i < coco_graph_nsources(lg->g); i++) {
		const coco_gsource *s = coco_graph_source(lg->g, i);
		lua_newtable(L);
		lua_pushstring(L, s->name ? s->name : "?");
		lua_setfield(L, -2, "name");
		lua_pushstring(L, s->ops->name);
		lua_setfield(L, -2, "kind");
		lua_pushnumber(L, s->sopts.refresh_interval);
		lua_setfield(L, -2, "refresh_interval");
		lua_rawseti(L, -2, (int)i + 1);
	}
	lua_setfield(L, -2, "sources");
	lua_newtable(L);
	for (size_t i = 0; i < coco_graph_nexports(lg->g); i++) {
		const coco_gexport *x = coco_graph_export_at(lg->g, i);
		lua_newtable(L);
		lua_pushstring(L, x->name);
		lua_setfield(L, -2, "name");
		lua_pushstring(L, x->ops->name);
		lua_setfield(L, -2, "kind");
		lua_newtable(L);
		const coco_type *rt = x->info.row_type;
		for (uint32_t k = 0; k < rt->nfields; k++) {
			lua_pushstring(L, rt->fields[k].name);
			lua_rawseti(L, -2, (int)k + 1);
		}
		lua_setfield(L, -2, "fields");
		lua_pushinteger(L, x->info.nkeys);
		lua_setfield(L, -2, "nkeys");
		lua_rawseti(L, -2, (int)i + 1);
	}
	lua_setfield(L, -2, "exports");
	return 1;
}

/* ---- running ------------------------------------------------------------ */
static int check_fork(lua_State *L, lgraph *lg)
{
	if (lg->pid != getpid()) {
		lua_pushnil(L);
		lua_pushstring(L, "coco: this flow was opened in another process (before a fork); "
			"open flows after forking (in nginx: in init_worker_by_lua)");
		return 2;
	}
	return 0;
}

/* The process that first opened a state: RocksDB's background threads
 * live there, and a forked child that opens any state waits on them
 * forever (seen in nginx: a worker hung closing its flow). */
static pid_t state_pid;

/* g:open_state(dir, read_only) -> true | nil, msg. Reopens if the mode differs. */
static int l_open_state(lua_State *L)
{
	lgraph *lg = check_graph(L, 1);
	const char *dir = luaL_checkstring(L, 2);
	int ro = lua_toboolean(L, 3);
	int n = check_fork(L, lg);
	if (n)
		return n;
	if (state_pid && state_pid != getpid())
		return push_fail(L, coco_strdup("coco: a flow's state was opened in the parent process "
			"before it forked, so none can be opened in this child; open flows only after forking "
			"(in nginx: in init_worker_by_lua, not init_by_lua)"));
	if (lg->st && lg->state_dir && !strcmp(lg->state_dir, dir) && (lg->st_ro == ro || !lg->st_ro)) {
		lua_pushboolean(L, 1);
		return 1;
	}
	if (lg->st)
		coco_state_close(lg->st);
	lg->st = NULL;
	free(lg->state_dir);
	lg->state_dir = coco_strdup(dir);
	char *err = NULL;
	if (coco_state_open(dir, ro, &lg->st, &err)) {
		lg->st = NULL;
		return push_fail(L, err);
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
	lgraph *lg = check_graph(L, 1);
	char *err = NULL;
	if (coco_graph_ready(lg->g, &err))
		return push_fail(L, err);
	lua_pushboolean(L, 1);
	return 1;
}

/* g:state_counts() -> { tracked = n, cached = n } | nil, msg (state must be open) */
static int l_state_counts(lua_State *L)
{
	lgraph *lg = check_graph(L, 1);
	if (!lg->st)
		return push_fail(L, coco_strdup("coco: state is not open"));
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
			return push_fail(L, err);
		lua_pushnumber(L, (lua_Number)n);
		lua_setfield(L, -2, cfs[i].name);
	}
	return 1;
}

/* g:close_state() */
static int l_close_state(lua_State *L)
{
	lgraph *lg = check_graph(L, 1);
	if (lg->st && lg->pid == getpid())
		coco_state_close(lg->st);
	lg->st = NULL;
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
	lgraph *lg = check_graph(L, 1);
	int n = check_fork(L, lg);
	if (n)
		return n;
	coco_setup_plan_free(&lg->plan);
	char *err = NULL;
	if (lua_toboolean(L, 2))
		remember_secrets(lg->g);
	if (coco_setup_plan_make(lua_toboolean(L, 2) ? NULL : lg->g, lg->st, &lg->plan, &err))
		return push_fail(L, err);
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
	lgraph *lg = check_graph(L, 1);
	if (!lg->st)
		return push_fail(L, coco_strdup("coco: state is not open"));
	char *err = NULL;
	int rc = coco_setup_apply(lg->st, &lg->plan, &err);
	coco_setup_plan_free(&lg->plan);
	if (rc)
		return push_fail(L, err);
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

static void cb_error(void *ud, const char *source, const char *key, const char *msg)
{
	cbctx *c = ud;
	if (!c->on_error)
		return;
	lua_pushvalue(c->L, c->on_error);
	lua_pushstring(c->L, source);
	lua_pushstring(c->L, key);
	lua_pushstring(c->L, msg);
	coco_lua_callback(c->L, 3, "on_error");
}

static void cb_warning(void *ud, const char *source, const char *key, const char *msg)
{
	cbctx *c = ud;
	if (!c->on_warning)
		return;
	lua_pushvalue(c->L, c->on_warning);
	lua_pushstring(c->L, source);
	lua_pushstring(c->L, key);
	lua_pushstring(c->L, msg);
	coco_lua_callback(c->L, 3, "on_warning");
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

static void read_callbacks(lua_State *L, int opts, cbctx *c, coco_update_opts *o)
{
	c->L = L;
	if (!lua_istable(L, opts))
		return;
	lua_getfield(L, opts, "reexport");
	o->reexport = lua_toboolean(L, -1);
	lua_getfield(L, opts, "full_reprocess");
	o->full_reprocess = lua_toboolean(L, -1);
	lua_pop(L, 2);
	lua_getfield(L, opts, "on_error");
	if (lua_isfunction(L, -1))
		c->on_error = lua_gettop(L);
	else
		lua_pop(L, 1);
	lua_getfield(L, opts, "on_progress");
	if (lua_isfunction(L, -1))
		c->on_progress = lua_gettop(L);
	else
		lua_pop(L, 1);
	lua_getfield(L, opts, "on_warning");
	if (lua_isfunction(L, -1))
		c->on_warning = lua_gettop(L);
	else
		lua_pop(L, 1);
	o->on_error = cb_error;
	o->on_warning = cb_warning;
	o->on_progress = cb_progress;
	o->ud = c;
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

/* g:update{ reexport, full_reprocess, on_error, on_warning, on_progress } -> stats | nil, msg */
static int l_update(lua_State *L)
{
	lgraph *lg = check_graph(L, 1);
	int n = check_fork(L, lg);
	if (n)
		return n;
	if (!lg->st || lg->st_ro)
		return push_fail(L, coco_strdup("coco: state is not open for writing"));
	coco_update_opts o = {0};
	cbctx c = {0};
	read_callbacks(L, 2, &c, &o);
	size_t ns = coco_graph_nsources(lg->g);
	coco_source_stats *st = coco_xcalloc(ns + 1, sizeof *st);
	char *err = NULL;
	lg->nlive++;                  /* a callback may close the flow: it goes after */
	int rc = coco_update(lg->g, lg->st, &o, st, &err);
	if (!rc)
		push_all_stats(L, lg->g, st);
	free(st);
	coco_lua_graph_unlive(lg);
	return rc ? push_fail(L, err) : 1;
}

/* evaluate: rows go to a Lua sink(export_name, rows_as_json_lines) */
typedef struct evalctx {
	lua_State *L;
	int sink;
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
	lgraph *lg = check_graph(L, 1);
	int n = check_fork(L, lg);
	if (n)
		return n;
	coco_update_opts uo = {0};
	cbctx c = {0};
	read_callbacks(L, 2, &c, &uo);
	c.on_progress = 0;
	coco_verify_opts o = { .on_error = cb_error, .on_diff = cb_diff, .ud = &c };
	if (lua_istable(L, 2)) {
		lua_getfield(L, 2, "repair");
		o.repair = lua_toboolean(L, -1);
		lua_getfield(L, 2, "on_diff");
		if (lua_isfunction(L, -1))
			c.on_progress = lua_gettop(L);
		else
			lua_pop(L, 1);
	}
	size_t nx = coco_graph_nexports(lg->g);
	coco_verify_stats *st = calloc(nx + 1, sizeof *st);
	if (!st)
		abort();
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
	return rc ? push_fail(L, err) : 2;
}

/* g:evaluate({ use_cache, on_error, on_warning }, sink) -> stats | nil, msg */
static int l_evaluate(lua_State *L)
{
	lgraph *lg = check_graph(L, 1);
	int n = check_fork(L, lg);
	if (n)
		return n;
	luaL_checktype(L, 3, LUA_TFUNCTION);
	coco_update_opts o = {0};
	cbctx c = {0};
	read_callbacks(L, 2, &c, &o);
	int use_cache = 1;
	if (lua_istable(L, 2)) {
		lua_getfield(L, 2, "use_cache");
		if (!lua_isnil(L, -1))
			use_cache = lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	evalctx e = { .L = L, .sink = 3 };
	size_t ns = coco_graph_nsources(lg->g);
	coco_source_stats *st = coco_xcalloc(ns + 1, sizeof *st);
	char *err = NULL;
	lg->nlive++;                  /* a callback may close the flow: it goes after */
	int rc = coco_evaluate(lg->g, lg->st, use_cache, &o, eval_sink, &e, st, &err);
	coco_buf_free(&e.b);
	if (!rc)
		push_all_stats(L, lg->g, st);
	free(st);
	coco_lua_graph_unlive(lg);
	return rc ? push_fail(L, err) : 1;
}

/* g:remove_state(dir) -> true | nil, msg (closes the state first) */
static int l_remove_state(lua_State *L)
{
	lgraph *lg = check_graph(L, 1);
	const char *dir = luaL_checkstring(L, 2);
	if (lg->st && lg->pid == getpid())
		coco_state_close(lg->st);
	lg->st = NULL;
	char *err = NULL;
	if (coco_state_remove(dir, &err))
		return push_fail(L, err);
	lua_pushboolean(L, 1);
	return 1;
}

/* g:close() */
static int l_close(lua_State *L)
{
	lgraph *lg = luaL_checkudata(L, 1, COCO_GRAPH_MT);
	graph_release(lg);
	return 0;
}

static const luaL_Reg graph_methods[] = {
	{ "add_source", l_add_source },
	{ "name_field", l_name_field },
	{ "field", l_field },
	{ "subfield", l_subfield },
	{ "ref_info", l_ref_info },
	{ "foreach", l_foreach },
	{ "transform", l_transform },
	{ "add_collector", l_add_collector },
	{ "collect", l_collect },
	{ "export", l_export },
	{ "finish", l_finish },
	{ "describe", l_describe },
	{ "info", l_info },
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
	{ "live", l_live },
	{ "close", l_close },
	{ NULL, NULL }
};

static const luaL_Reg core_funcs[] = {
	{ "graph", l_graph_new },
	{ NULL, NULL }
};

int coco_lua_open_graph(lua_State *L)
{
	/* [core] */
	if (luaL_newmetatable(L, COCO_GRAPH_MT)) {
		lua_newtable(L);
		luaL_register(L, NULL, graph_methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, l_graph_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, l_graph_tostring);
		lua_setfield(L, -2, "__tostring");
	}
	lua_pop(L, 1);
	luaL_register(L, NULL, core_funcs);
	return 0;
}
