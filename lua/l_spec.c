/* Specs of built-in sources, functions and targets: their names and
 * option definitions (core.names, core.optdefs, core.check_opts, which the
 * DSL's namespaces use) and the options of a spec table, filled for the
 * graph builders. */
#include <stdlib.h>
#include <string.h>
#include "lua/l_custom.h"

/* Which vtable a spec names: category "source" | "target" | "function". */
static const coco_optdef *defs_of(const char *cat, const char *name, const void **ops)
{
	if (!strcmp(cat, "source")) {
		const coco_source_ops *o = coco_source_find(name);
		*ops = o;
		return o ? o->opts : NULL;
	}
	if (!strcmp(cat, "target")) {
		const coco_target_ops *o = coco_target_find(name);
		*ops = o;
		return o ? o->opts : NULL;
	}
	const coco_function_ops *o = coco_function_find(name);
	*ops = o;
	return o ? o->spec_opts : NULL;
}

/* core.names(category) -> { "LocalFile", ... } */
static int l_names(lua_State *L)
{
	const char *cat = luaL_checkstring(L, 1);
	lua_newtable(L);
	int n = 0;
	if (!strcmp(cat, "source"))
		for (size_t i = 0; coco_sources[i]; i++) {
			lua_pushstring(L, coco_sources[i]->name);
			lua_rawseti(L, -2, ++n);
		}
	else if (!strcmp(cat, "target"))
		for (size_t i = 0; coco_targets[i]; i++) {
			lua_pushstring(L, coco_targets[i]->name);
			lua_rawseti(L, -2, ++n);
		}
	else
		for (size_t i = 0; coco_functions[i]; i++) {
			lua_pushstring(L, coco_functions[i]->name);
			lua_rawseti(L, -2, ++n);
		}
	return 1;
}

/* core.optdefs(category, name) -> { {name=, kind=, required=}, ... } */
static int l_optdefs(lua_State *L)
{
	const void *ops;
	const coco_optdef *d = defs_of(luaL_checkstring(L, 1), luaL_checkstring(L, 2), &ops);
	if (!ops)
		return 0;
	static const char *kinds[] = { "str", "int", "num", "bool", "strlist", "json" };
	lua_newtable(L);
	for (int i = 0; d && d[i].name; i++) {
		lua_createtable(L, 0, 3);
		lua_pushstring(L, d[i].name);
		lua_setfield(L, -2, "name");
		lua_pushstring(L, kinds[d[i].kind]);
		lua_setfield(L, -2, "kind");
		lua_pushboolean(L, d[i].required);
		lua_setfield(L, -2, "required");
		lua_pushstring(L, d[i].doc ? d[i].doc : "");
		lua_setfield(L, -2, "doc");
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

/* core.check_opts(category, name, opts) -> nil | message */
static int l_check_opts(lua_State *L)
{
	const void *ops;
	const char *name = luaL_checkstring(L, 2);
	const coco_optdef *d = defs_of(luaL_checkstring(L, 1), name, &ops);
	if (!ops)
		return coco_lua_raisef(L, "unknown %s '%s'", lua_tostring(L, 1), name);
	coco_arena a = {0};
	coco_buf e = {0};
	coco_optval *v = coco_arena_alloc(&a, (coco_opt_count(d) + 1) * sizeof *v);
	int rc = coco_lua_opts(L, 3, name, d, v, &a, &e);
	coco_arena_destroy(&a);
	if (rc) {
		lua_pushstring(L, e.p);
		coco_buf_free(&e);
		return 1;
	}
	return 0;
}

/* Fill options for a spec table { name =, opts = } at idx. Raises on error. */
coco_optval *coco_lua_spec_opts(lua_State *L, int idx, const char *cat, const void **ops,
	coco_arena *a, const char *where)
{
	lua_getfield(L, idx, "name");
	const char *name = lua_tostring(L, -1);
	lua_pop(L, 1);
	void *inst = NULL;            /* a source or target written in Lua brings its vtable */
	const coco_optdef *d = coco_lua_custom_spec(L, 1, idx, cat, ops, &inst);
	if (!d)
		d = defs_of(cat, name ? name : "", ops);
	if (!*ops) {
		coco_arena_destroy(a);
		coco_lua_raisef(L, "%s: unknown %s '%s'", where, cat, name ? name : "?");
	}
	coco_optval *v = coco_arena_alloc(a, (coco_opt_count(d) + 1) * sizeof *v);
	lua_getfield(L, idx, "opts");
	coco_buf e = {0};
	int rc = coco_lua_opts(L, lua_gettop(L), name, d, v, a, &e);
	lua_pop(L, 1);   /* the spec table at idx keeps opts alive */
	if (rc) {
		coco_arena_destroy(a);
		lua_pushfstring(L, "%s: %s", where, e.p);
		coco_buf_free(&e);
		lua_error(L);
	}
	if (inst)
		v[COCO_LUA_OPT_INSTANCE].i = (int64_t)(intptr_t)inst;
	return v;
}

int coco_lua_fn_spec(lua_State *L, int idx, coco_arena *a, coco_lua_fnspec *out, coco_buf *e)
{
	/* [.., spec at idx] */
	memset(out, 0, sizeof *out);
	lua_getfield(L, idx, "name");
	out->label = coco_arena_strdup(a, lua_isstring(L, -1) ? lua_tostring(L, -1) : "fn");
	lua_getfield(L, idx, "fn");
	int is_lua = lua_isfunction(L, -1);
	lua_pop(L, 2);
	if (is_lua) {
		out->fn = &coco_lua_fn_ops;
		out->udata = coco_lua_fn_new(L, idx, &out->logic, e);
		return out->udata ? 0 : -1;
	}
	out->fn = coco_function_find(out->label);
	if (!out->fn) {
		coco_buf_printf(e, "unknown function '%s'", out->label);
		return -1;
	}
	coco_optval *v = coco_arena_alloc(a, (coco_opt_count(out->fn->spec_opts) + 1) * sizeof *v);
	lua_getfield(L, idx, "opts");
	int rc = coco_lua_opts(L, lua_gettop(L), out->label, out->fn->spec_opts, v, a, e);
	lua_pop(L, 1);                /* the spec table at idx keeps opts alive */
	out->spec = v;
	return rc ? -1 : 0;
}

const luaL_Reg coco_lua_spec_funcs[] = {
	{ "names", l_names },
	{ "optdefs", l_optdefs },
	{ "check_opts", l_check_opts },
	{ NULL, NULL }
};
