/* The coco command: LuaJIT with the coco module built in, running the
 * CLI in coco/cli.lua. */
#include <stdio.h>
#include <stdlib.h>
#include <lualib.h>
#include "lua/coco_lua.h"

int luaopen_coco(lua_State *L);

static int run(lua_State *L)
{
	int argc = (int)lua_tointeger(L, 1);
	char **argv = lua_touserdata(L, 2);
	luaL_openlibs(L);
	/* require "coco" finds the built-in module */
	lua_getglobal(L, "package");
	lua_getfield(L, -1, "preload");
	lua_pushcfunction(L, luaopen_coco);
	lua_setfield(L, -2, "coco");
	lua_pop(L, 2);
	lua_getglobal(L, "require");
	lua_pushstring(L, "coco");
	lua_call(L, 1, 1);                   /* [coco] */
	lua_getfield(L, -1, "_cli");         /* [coco, cli_main] */
	lua_createtable(L, argc, 0);
	for (int i = 1; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i);
	}
	lua_call(L, 1, 1);
	return 1;
}

int main(int argc, char **argv)
{
	lua_State *L = luaL_newstate();
	if (!L) {
		fputs("coco: cannot create Lua state\n", stderr);
		return 1;
	}
	lua_pushcfunction(L, run);
	lua_pushinteger(L, argc);
	lua_pushlightuserdata(L, argv);
	int rc;
	if (coco_lua_pcall(L, 2, 1)) {
		fprintf(stderr, "coco: internal error: %s\n", lua_tostring(L, -1));
		rc = 70;
	} else {
		rc = (int)lua_tointeger(L, -1);
	}
	lua_close(L);
	return rc;
}
