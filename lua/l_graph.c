/* coco.graph: the userdata behind a flow, and building its graph from the
 * DSL (coco/builder.lua calls these; users never see them directly).
 * Building mistakes raise (the message carries the user's line). Running
 * the graph is in l_flow.c. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lua/l_graph.h"

lgraph *coco_lua_check_graph(lua_State *L, int idx)
{
	lgraph *lg = luaL_checkudata(L, idx, COCO_GRAPH_MT);
	if (!lg->g)
		coco_lua_raisef(L, "coco: flow is closed");
	return lg;
}

/* Raise msg (malloc'd, may be NULL) after freeing it. */
static int raise_str(lua_State *L, char *msg)
{
	lua_pushstring(L, msg ? msg : "error");
	free(msg);
	return lua_error(L);
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

/* [.., ref, kind] */
static void push_ref_kind(const lgraph *lg, lua_State *L, const coco_fieldref *r)
{
	push_ref(L, r);
	lua_pushstring(L, coco_kind_name(coco_graph_ref_type(lg->g, r)->kind));
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
	lgraph *lg = coco_lua_new(L, sizeof *lg, COCO_GRAPH_MT);
	lg->pid = getpid();
	lg->g = coco_graph_create(name, base);
	return 1;
}

void coco_lua_graph_close_state(lgraph *lg)
{
	if (lg->st && lg->pid == getpid())   /* a forked copy leaves it to the parent */
		coco_state_close(lg->st);
	lg->st = NULL;
}

static void graph_release(lgraph *lg)
{
	if (lg->nlive > 0) {          /* a live updater still runs on it */
		lg->released = 1;
		return;
	}
	coco_setup_plan_free(&lg->plan);
	coco_lua_graph_close_state(lg);
	free(lg->state_dir);
	lg->state_dir = NULL;
	if (lg->g)
		coco_graph_destroy(lg->g);
	lg->g = NULL;
}


void coco_lua_graph_unlive(lgraph *lg)
{
	if (--lg->nlive == 0 && lg->released)
		graph_release(lg);
}

/* g:close(), __gc */
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
	lgraph *lg = coco_lua_check_graph(L, 1);
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
	lgraph *lg = coco_lua_check_graph(L, 1);
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
	lgraph *lg = coco_lua_check_graph(L, 1);
	coco_fieldref r;
	char *err = NULL;
	if (coco_graph_field(lg->g, (int)luaL_checkinteger(L, 2), luaL_checkstring(L, 3),
		luaL_checkstring(L, 4), &r, &err))
		return raise_str(L, err);
	push_ref_kind(lg, L, &r);
	return 2;
}

/* g:subfield(ref, name, where) -> ref, type kind */
static int l_subfield(lua_State *L)
{
	lgraph *lg = coco_lua_check_graph(L, 1);
	coco_fieldref r, out;
	to_ref(L, 2, &r);
	char *err = NULL;
	if (coco_graph_subfield(lg->g, &r, luaL_checkstring(L, 3), luaL_checkstring(L, 4), &out, &err))
		return raise_str(L, err);
	push_ref_kind(lg, L, &out);
	return 2;
}

/* g:ref_info(ref) -> kind, type text, name */
static int l_ref_info(lua_State *L)
{
	lgraph *lg = coco_lua_check_graph(L, 1);
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
	lgraph *lg = coco_lua_check_graph(L, 1);
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
	lgraph *lg = coco_lua_check_graph(L, 1);
	int scope = (int)luaL_checkinteger(L, 2);
	luaL_checktype(L, 3, LUA_TTABLE);
	luaL_checktype(L, 4, LUA_TTABLE);
	const char *where = luaL_checkstring(L, 5);
	coco_arena a = {0};
	coco_buf e = {0};
	coco_lua_fnspec f;
	coco_arg *args;
	size_t nargs;
	if (coco_lua_fn_spec(L, 3, &a, &f, &e) || to_args(L, 4, &a, &args, &nargs, &e)) {
		if (f.udata)
			coco_lua_fn_ops.destroy(f.udata);
		coco_arena_destroy(&a);
		lua_pushfstring(L, "%s: %s", where, e.p ? e.p : "invalid transform");
		coco_buf_free(&e);
		return lua_error(L);
	}
	coco_fieldref r;
	char *err = NULL;
	int rc = coco_graph_transform(lg->g, scope, f.fn, f.spec, f.udata, &f.logic, f.label, args, nargs,
		where, &r, &err);
	if (rc && f.udata)
		coco_lua_fn_ops.destroy(f.udata);
	coco_arena_destroy(&a);
	if (rc)
		return raise_str(L, err);
	push_ref_kind(lg, L, &r);
	return 2;
}

/* g:add_collector(where) -> id */
static int l_add_collector(lua_State *L)
{
	lgraph *lg = coco_lua_check_graph(L, 1);
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
	lgraph *lg = coco_lua_check_graph(L, 1);
	int scope = (int)luaL_checkinteger(L, 2), c = (int)luaL_checkinteger(L, 3);
	luaL_checktype(L, 4, LUA_TTABLE);
	luaL_checktype(L, 5, LUA_TTABLE);
	const char *where = luaL_checkstring(L, 6);
	coco_arena a = {0};
	coco_buf e = {0};
	coco_arg *args;
	size_t n;
	const char **names = NULL;
	if (!to_args(L, 5, &a, &args, &n, &e)) {
		names = coco_arena_alloc(&a, (n + 1) * sizeof *names);
		for (size_t i = 0; i < n && names; i++) {
			lua_rawgeti(L, 4, (int)i + 1);   /* not luaL_checkstring: a raise here leaks a */
			if (lua_type(L, -1) == LUA_TSTRING)
				names[i] = coco_arena_strdup(&a, lua_tostring(L, -1));
			else
				names = NULL;
			lua_pop(L, 1);
		}
		if (!names)
			coco_buf_printf(&e, "field names must be strings");
	}
	if (!names) {
		coco_arena_destroy(&a);
		lua_pushfstring(L, "%s: collect: %s", where, e.p);
		coco_buf_free(&e);
		return lua_error(L);
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
	lgraph *lg = coco_lua_check_graph(L, 1);
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
	lgraph *lg = coco_lua_check_graph(L, 1);
	char *err = NULL;
	if (coco_graph_finish(lg->g, &err))
		return raise_str(L, err);
	return 0;
}

/* g:describe(verbose) -> text */
static int l_describe(lua_State *L)
{
	lgraph *lg = coco_lua_check_graph(L, 1);
	coco_buf b = {0};
	coco_graph_describe(lg->g, lua_toboolean(L, 2), &b);
	lua_pushlstring(L, b.p, b.n);
	coco_buf_free(&b);
	return 1;
}

/* g:info() -> { name=, sources = { {name=, kind=, refresh_interval=} }, exports = {...} } */
static int l_info(lua_State *L)
{
	lgraph *lg = coco_lua_check_graph(L, 1);
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
		coco_lua_push_names(L, x->info.row_type->fields, x->info.row_type->nfields);
		lua_setfield(L, -2, "fields");
		lua_pushinteger(L, x->info.nkeys);
		lua_setfield(L, -2, "nkeys");
		lua_rawseti(L, -2, (int)i + 1);
	}
	lua_setfield(L, -2, "exports");
	return 1;
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
	{ "close", l_graph_gc },
	{ NULL, NULL }
};

static const luaL_Reg core_funcs[] = {
	{ "graph", l_graph_new },
	{ NULL, NULL }
};

int coco_lua_open_graph(lua_State *L)
{
	/* [core] */
	coco_lua_class(L, COCO_GRAPH_MT, graph_methods, l_graph_gc, l_graph_tostring);
	luaL_register(L, NULL, core_funcs);
	return 0;
}
