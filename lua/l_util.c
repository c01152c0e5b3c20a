/* What every binding file shares (coco_lua.h): the two error channels, a
 * wrong argument raises (coco_lua_raisef) and a runtime failure returns
 * nil, message (coco_lua_fail); the one pcall wrapper; metatables. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lua/coco_lua.h"

int coco_lua_fail(lua_State *L, const char *msg)
{
	lua_pushnil(L);
	lua_pushstring(L, msg ? msg : "error");
	return 2;
}

int coco_lua_fail_free(lua_State *L, char *msg)
{
	coco_lua_fail(L, msg);
	free(msg);
	return 2;
}

int coco_lua_failf(lua_State *L, const char *fmt, ...)
{
	va_list ap;
	lua_pushnil(L);
	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	return 2;
}

int coco_lua_raisef(lua_State *L, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	return lua_error(L);
}

void coco_lua_class(lua_State *L, const char *mt, const luaL_Reg *methods, lua_CFunction gc,
	lua_CFunction tostring)
{
	if (luaL_newmetatable(L, mt)) {
		if (methods) {
			lua_newtable(L);
			luaL_register(L, NULL, methods);
			lua_setfield(L, -2, "__index");
		}
		lua_pushcfunction(L, gc);
		lua_setfield(L, -2, "__gc");
		if (tostring) {
			lua_pushcfunction(L, tostring);
			lua_setfield(L, -2, "__tostring");
		}
	}
	lua_pop(L, 1);
}

void *coco_lua_new(lua_State *L, size_t size, const char *mt)
{
	void *p = lua_newuserdata(L, size);
	memset(p, 0, size);
	luaL_getmetatable(L, mt);
	lua_setmetatable(L, -2);
	return p;
}

int coco_lua_opt_ref(lua_State *L, int idx, const char *name)
{
	if (!lua_istable(L, idx))
		return LUA_NOREF;
	lua_getfield(L, idx, name);
	if (!lua_isfunction(L, -1)) {
		lua_pop(L, 1);
		return LUA_NOREF;
	}
	return luaL_ref(L, LUA_REGISTRYINDEX);
}

int coco_lua_push_timeout(lua_State *L, long ms)
{
	if (ms < 0)
		return 0;
	lua_pushnumber(L, ms / 1000.0);
	return 1;
}

void coco_lua_push_names(lua_State *L, const coco_field *fields, uint32_t n)
{
	lua_createtable(L, (int)n, 0);
	for (uint32_t i = 0; i < n; i++) {
		lua_pushstring(L, fields[i].name);
		lua_rawseti(L, -2, (int)i + 1);
	}
}

/* Traceback handler for every call from C into Lua. */
static int traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
	return 1;
}

int coco_lua_pcall(lua_State *L, int nargs, int nresults)
{
	/* [.., fn, args] */
	int base = lua_gettop(L) - nargs;
	lua_pushcfunction(L, traceback);
	lua_insert(L, base);
	int rc = lua_pcall(L, nargs, nresults, base);
	lua_remove(L, base);
	return rc;
}

int coco_lua_pcall_error(lua_State *L, char **err)
{
	/* [.., message with traceback] */
	const char *m = lua_tostring(L, -1);
	if (!m)
		m = "(error object is not a string)";
	const char *tb = strstr(m, "\nstack traceback:");
	coco_seterr(err, "%.*s", tb ? (int)(tb - m) : (int)strlen(m), m);
	lua_pop(L, 1);
	return -1;
}
