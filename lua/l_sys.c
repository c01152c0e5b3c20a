/* core.realpath, isatty, now, listdirs, mkdir: the few OS calls the Lua
 * half needs (the CLI, coco.load, evaluate's output directory). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <errno.h>
#include <dirent.h>
#include "lua/coco_lua.h"
#include "engine/sys.h"

/* core.realpath(path) -> absolute path | nil, msg */
static int l_realpath(lua_State *L)
{
	char *r = realpath(luaL_checkstring(L, 1), NULL);
	if (!r)
		return coco_lua_failf(L, "%s: %s", lua_tostring(L, 1), strerror(errno));
	lua_pushstring(L, r);
	free(r);
	return 1;
}

/* core.isatty(fd) */
static int l_isatty(lua_State *L)
{
	lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
	return 1;
}

/* core.now() -> seconds (monotonic) */
static int l_now(lua_State *L)
{
	lua_pushnumber(L, coco_now_ms() / 1e3);
	return 1;
}

/* core.listdirs(path) -> { names } (directories only) | nil */
static int l_listdirs(lua_State *L)
{
	DIR *d = opendir(luaL_checkstring(L, 1));
	if (!d)
		return 0;
	lua_newtable(L);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || e->d_type != DT_DIR)
			continue;
		lua_pushstring(L, e->d_name);
		lua_rawseti(L, -2, ++n);
	}
	closedir(d);
	return 1;
}

/* core.mkdir(path) -> true | nil, msg */
static int l_mkdir(lua_State *L)
{
	const char *p = luaL_checkstring(L, 1);
	if (mkdir(p, 0777) && errno != EEXIST)
		return coco_lua_failf(L, "cannot create %s: %s", p, strerror(errno));
	lua_pushboolean(L, 1);
	return 1;
}

const luaL_Reg coco_lua_sys_funcs[] = {
	{ "realpath", l_realpath },
	{ "isatty", l_isatty },
	{ "now", l_now },
	{ "listdirs", l_listdirs },
	{ "mkdir", l_mkdir },
	{ NULL, NULL }
};
