/* The query path of a flow: calling the flow's functions on values
 * (coco.call, so a query handler embeds a query with the function that
 * embedded the chunks) and the nearest rows of an export (flow:top_k).
 * coco/init.lua wraps both; runtime failures return nil, message. */
#include <stdlib.h>
#include <string.h>
#include "lua/l_graph.h"
#include "engine/call.h"

/* A call argument: nil, boolean, number, string, or an array of numbers
 * (a vector). Returns 0, or -1 with a message in e. */
static int arg_value(lua_State *L, int idx, coco_arena *a, coco_value *out, coco_buf *e)
{
	if (!lua_istable(L, idx)) {
		if (coco_lua_const(L, idx, a, out) == 0)
			return 0;
		coco_buf_printf(e, "an argument is a %s; pass a string, number, boolean or a "
			"vector (an array of numbers)", luaL_typename(L, idx));
		return -1;
	}
	size_t n = lua_objlen(L, idx);
	float *v = coco_arena_alloc(a, (n + 1) * sizeof *v);
	for (size_t i = 0; i < n; i++) {
		lua_rawgeti(L, idx, (int)i + 1);
		if (!lua_isnumber(L, -1)) {
			lua_pop(L, 1);
			coco_buf_printf(e, "a vector argument has a non-number at %zu", i + 1);
			return -1;
		}
		v[i] = (float)lua_tonumber(L, -1);
		lua_pop(L, 1);
	}
	memset(out, 0, sizeof *out);
	out->kind = COCO_VECTOR;
	out->n = n;
	out->u.vec = v;
	return 0;
}

/* core.call(spec, { {name = nil|"x", value = v}, ... }) -> value | nil, msg.
 * spec: a built-in function spec ({ category = "function", name, opts })
 * or a coco.fn spec ({ name, fn, returns, ... }). */
static int l_call(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);                                /* [spec, args] */
	coco_arena a = {0};
	coco_buf e = {0};
	coco_lua_fnspec f;
	int nret;
	if (coco_lua_fn_spec(L, 1, &a, &f, &e))
		goto failed;

	size_t n = lua_objlen(L, 2);
	coco_arg *args = coco_arena_alloc(&a, (n + 1) * sizeof *args);
	for (size_t i = 0; i < n; i++) {
		lua_rawgeti(L, 2, (int)i + 1);               /* [.., arg] */
		int ai = lua_gettop(L);
		args[i].kind = COCO_ARG_CONST;
		lua_getfield(L, ai, "name");
		if (lua_isstring(L, -1))
			args[i].name = coco_arena_strdup(&a, lua_tostring(L, -1));
		lua_getfield(L, ai, "value");
		int rc = arg_value(L, lua_gettop(L), &a, &args[i].konst, &e);
		lua_settop(L, ai - 1);
		if (rc)
			goto failed;
	}
	coco_value out;
	const coco_type *ot = NULL;
	char *err = NULL;
	int rc = coco_call_function(f.fn, f.spec, f.udata, f.label, args, n, &a, &out, &ot, &err);
	if (!ot && f.udata)            /* prepare failed: the Lua function is still ours */
		coco_lua_fn_ops.destroy(f.udata);
	if (rc) {
		nret = coco_lua_fail_free(L, err);
	} else {
		coco_lua_push_value(L, &out, ot);
		nret = 1;
	}
	coco_arena_destroy(&a);
	return nret;
failed:
	if (f.udata)
		coco_lua_fn_ops.destroy(f.udata);
	nret = coco_lua_fail(L, e.p);
	coco_buf_free(&e);
	coco_arena_destroy(&a);
	return nret;
}

/* core.top_k(graph, export, field, metric, vector, k) -> rows | nil, msg.
 * Each row: a table of the export's fields but `field`, and distance. */
static int l_top_k(lua_State *L)
{
	lgraph *lg = luaL_checkudata(L, 1, COCO_GRAPH_MT);
	const char *name = luaL_checkstring(L, 2);
	const char *field = luaL_checkstring(L, 3);
	const char *metric = luaL_checkstring(L, 4);
	luaL_checktype(L, 5, LUA_TTABLE);
	lua_Number kn = luaL_checknumber(L, 6);
	if (!lg->g)
		return coco_lua_fail(L, "coco: flow is closed");
	if (kn < 1 || kn > 1e6)
		return coco_lua_fail(L, "top_k: k must be between 1 and 1000000");
	const coco_gexport *xp = NULL;
	coco_buf names = {0};
	for (size_t i = 0; i < coco_graph_nexports(lg->g); i++) {
		const coco_gexport *x = coco_graph_export_at(lg->g, i);
		coco_buf_printf(&names, "%s%s", i ? ", " : "", x->name);
		if (!strcmp(x->name, name))
			xp = x;
	}
	if (!xp) {
		coco_lua_failf(L, "top_k: flow %s has no export '%s'; exports: %s",
			coco_graph_name(lg->g), name, names.p ? names.p : "(none)");
		coco_buf_free(&names);
		return 2;
	}
	coco_buf_free(&names);
	if (!xp->ops->top_k)
		return coco_lua_failf(L, "top_k: export '%s' goes to a %s target, which cannot search by "
			"vector", name, xp->ops->name);
	coco_arena a = {0};
	size_t dim = lua_objlen(L, 5);
	float *vec = coco_arena_alloc(&a, (dim + 1) * sizeof *vec);
	for (size_t i = 0; i < dim; i++) {
		lua_rawgeti(L, 5, (int)i + 1);
		vec[i] = (float)lua_tonumber(L, -1);
		lua_pop(L, 1);
	}
	const coco_type *rt = NULL;
	coco_value *rows = NULL;
	size_t n = 0;
	char *err = NULL;
	if (xp->ops->top_k(xp->opts, &xp->info, field, metric, vec, dim, (size_t)kn, &a, &rt,
		&rows, &n, &err)) {
		coco_arena_destroy(&a);
		return coco_lua_fail_free(L, err);
	}
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		coco_lua_push_value(L, &rows[i], rt);
		lua_rawseti(L, -2, (int)i + 1);
	}
	coco_arena_destroy(&a);
	return 1;
}

const luaL_Reg coco_lua_query_funcs[] = {
	{ "call", l_call },
	{ "top_k", l_top_k },
	{ NULL, NULL }
};
