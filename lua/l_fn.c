/* Functions written in Lua (coco.fn) as one more coco_function_ops. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lua/coco_lua.h"
#include "engine/fingerprint.h"
#include "engine/sys.h"

typedef struct luafn {
	lua_State *L;
	int fn_ref;                  /* the Lua function */
	int spec_ref;                /* its spec table (returns) */
	const coco_type *ret;
	char *name;
} luafn;

void coco_lua_callback(lua_State *L, int nargs, const char *what)
{
	if (coco_lua_pcall(L, nargs, 0)) {
		fprintf(stderr, "coco: error in %s callback: %s\n", what, lua_tostring(L, -1));
		lua_pop(L, 1);
	}
}

void *coco_lua_fn_new(lua_State *L, int idx, coco_fn_logic *logic, coco_buf *err)
{
	/* [.., spec] */
	luafn *f = coco_xcalloc(1, sizeof *f);
	f->L = L;
	lua_getfield(L, idx, "name");
	f->name = coco_strdup(lua_tostring(L, -1) ? lua_tostring(L, -1) : "fn");
	lua_pop(L, 1);
	lua_getfield(L, idx, "fn");
	if (!lua_isfunction(L, -1)) {
		lua_pop(L, 1);
		free(f->name);
		free(f);
		coco_buf_adds(err, "coco.fn needs a function");
		return NULL;
	}
	/* logic fingerprint: name + version, or the function's bytecode */
	coco_fper *fp = coco_fper_create();
	coco_fper_str(fp, f->name);
	lua_getfield(L, idx, "version");
	if (!lua_isnil(L, -1)) {
		coco_fper_str(fp, "version");
		coco_fper_str(fp, lua_tostring(L, -1));
		lua_pop(L, 1);
	} else {
		lua_pop(L, 1);
		lua_getglobal(L, "string");
		lua_getfield(L, -1, "dump");
		lua_pushvalue(L, -3);
		if (lua_pcall(L, 1, 1, 0) == 0 && lua_isstring(L, -1)) {
			size_t n;
			const char *s = lua_tolstring(L, -1, &n);
			coco_fper_bytes(fp, s, n);
		}
		lua_pop(L, 2);
	}
	lua_getfield(L, idx, "returns");
	if (!lua_isnil(L, -1)) {
		coco_fper_str(fp, "returns");
		/* the type's text form goes in via prepare's output type */
	}
	lua_pop(L, 1);
	lua_getfield(L, idx, "cache");
	logic->cache = lua_toboolean(L, -1);
	lua_pop(L, 1);
	logic->logic = coco_fper_digest(fp);
	coco_fper_destroy(fp);
	f->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);      /* pops fn */
	lua_pushvalue(L, idx);
	f->spec_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	return f;
}

static int lfn_prepare(const coco_optval *spec, void *udata, const coco_arg_info *args,
	size_t nargs, coco_arena *types, const coco_type **out, void **state, char **err)
{
	luafn *f = udata;
	lua_State *L = f->L;
	lua_rawgeti(L, LUA_REGISTRYINDEX, f->spec_ref);
	lua_getfield(L, -1, "returns");
	coco_buf e = {0};
	const coco_type *t = lua_isnil(L, -1) ? &coco_t_str : coco_lua_to_type(L, lua_gettop(L), types, &e);
	lua_pop(L, 2);
	if (!t) {
		coco_seterr(err, "%s: returns: %s", f->name, e.p);
		coco_buf_free(&e);
		return -1;
	}
	coco_buf_free(&e);
	f->ret = t;
	*out = t;
	*state = f;
	return 0;
}

static int lfn_call(void *state, const coco_value *args, size_t nargs, coco_arena *a,
	coco_value *out, char **err)
{
	luafn *f = state;
	lua_State *L = f->L;
	int top = lua_gettop(L);
	lua_rawgeti(L, LUA_REGISTRYINDEX, f->fn_ref);
	for (size_t i = 0; i < nargs; i++)
		coco_lua_push_value(L, &args[i], NULL);
	if (coco_lua_pcall(L, (int)nargs, 1)) {
		/* a row error: the message and the user's line, not the traceback */
		coco_lua_pcall_error(L, err);
		lua_settop(L, top);
		return -1;
	}
	coco_buf e = {0};
	int rc = coco_lua_to_value(L, -1, f->ret, a, out, &e);
	if (rc)
		coco_seterr(err, "%s returned a bad value: %s", f->name, e.p);
	coco_buf_free(&e);
	lua_settop(L, top);
	return rc;
}

static void lfn_destroy(void *state)
{
	luafn *f = state;
	luaL_unref(f->L, LUA_REGISTRYINDEX, f->fn_ref);
	luaL_unref(f->L, LUA_REGISTRYINDEX, f->spec_ref);
	free(f->name);
	free(f);
}

const coco_function_ops coco_lua_fn_ops = {
	.name = "LuaFunction",
	.spec_opts = NULL,
	.args = NULL,
	.prepare = lfn_prepare,
	.call = lfn_call,
	.destroy = lfn_destroy,
};
