/* luaopen_coco: the `coco` module. C core functions go in a `core`
 * table; the DSL and library API are Lua files embedded in the binary
 * (lua/coco/ *.lua, chunk names "@coco/<file>"), loaded from here. */
#include <stdio.h>
#include <string.h>
#include "lua/coco_lua.h"

struct coco_lua_blob { const char *name; const char *data; size_t len; };
extern const struct coco_lua_blob coco_lua_blobs[];

static const struct coco_lua_blob *blob_find(const char *file)
{
	for (size_t i = 0; coco_lua_blobs[i].name; i++)
		if (!strcmp(coco_lua_blobs[i].name, file))
			return &coco_lua_blobs[i];
	return NULL;
}

/* Load an embedded file as a chunk; pushes the function. */
static int load_blob(lua_State *L, const char *file)
{
	const struct coco_lua_blob *b = blob_find(file);
	if (!b)
		return luaL_error(L, "coco: embedded file %s missing", file);
	char chunk[128];
	snprintf(chunk, sizeof chunk, "@coco/%s", file);
	if (luaL_loadbuffer(L, b->data, b->len, chunk))
		return lua_error(L);
	return 1;
}

/* core.load_embedded("cli.lua") -> function */
static int l_load_embedded(lua_State *L)
{
	return load_blob(L, luaL_checkstring(L, 1));
}

/* core functions, beside those the open functions above add */
static const luaL_Reg *const core_funcs[] = {
	coco_lua_sys_funcs, coco_lua_spec_funcs, coco_lua_source_funcs, coco_lua_custom_funcs,
	coco_lua_query_funcs, NULL
};

int luaopen_coco(lua_State *L)
{
	/* refuse hosts that are not Lua 5.1 / LuaJIT (their C API differs) */
	if (!lua_objlen || !lua_setfenv || !lua_pcall || !lua_insert || !lua_newuserdata || !luaL_register)
		return luaL_error(L, "coco: this module is for LuaJIT / Lua 5.1; this host's Lua is a later "
			"version, whose C API differs");
	lua_getglobal(L, "_VERSION");
	const char *v = lua_tostring(L, -1);
	if (!v || strcmp(v, "Lua 5.1"))
		return luaL_error(L, "coco: this module is for LuaJIT / Lua 5.1, not %s", v ? v : "this Lua");
	lua_pop(L, 1);
	lua_newtable(L);                       /* [core] */
	coco_lua_open_graph(L);
	coco_lua_open_flow(L);
	coco_lua_open_live(L);
	coco_lua_open_custom(L);
	coco_lua_open_target(L);
	coco_lua_open_server(L);
	for (size_t i = 0; core_funcs[i]; i++)
		luaL_register(L, NULL, core_funcs[i]);
	lua_pushcfunction(L, l_load_embedded);
	lua_setfield(L, -2, "load_embedded");
	int core = lua_gettop(L);
	load_blob(L, "init.lua");              /* [core, init] */
	lua_pushvalue(L, core);
	lua_call(L, 1, 1);                     /* [core, coco] */
	return 1;
}
