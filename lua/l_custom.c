/* What sources and targets written in Lua share (see l_custom.h): their
 * definitions (ldef) and specs (lspec), the boxes that hold them, and the
 * call into their Lua functions. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "lua/l_custom.h"
#include "engine/sys.h"

const coco_optdef coco_lua_custom_opts[] = {
	{ "options", COCO_OPT_JSON, 0, "the options the spec was made with", 0 },
	{ "_instance", COCO_OPT_INT, 0, "internal", 1 },
	{ NULL, 0, 0, NULL, 0 },
};

/* ---- definitions and specs ------------------------------------------------ */

lspec *coco_lua_spec_of(const coco_optval *opts)
{
	return (lspec *)(intptr_t)opts[COCO_LUA_OPT_INSTANCE].i;
}

ldef *coco_lua_def_new(lua_State *L, const char *name, const char *where, int is_target)
{
	ldef *d = coco_xcalloc(1, sizeof *d);
	d->refs = 1;
	d->is_target = is_target;
	d->name = coco_strdup(name);
	d->where = coco_strdup(where);
	d->T = lua_newthread(L);
	d->thread_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	for (int i = 0; i < LFN_MAX; i++)
		d->fn[i] = LUA_NOREF;
	return d;
}

void coco_lua_def_release(ldef *d)
{
	if (!d || --d->refs > 0)
		return;
	if (d->is_target)
		coco_lua_target_forget(d);
	for (int i = 0; i < LFN_MAX; i++)
		luaL_unref(d->T, LUA_REGISTRYINDEX, d->fn[i]);
	luaL_unref(d->T, LUA_REGISTRYINDEX, d->thread_ref);   /* last: T may go now */
	coco_arena_destroy(&d->types);
	free(d->name);
	free(d->where);
	free(d);
}

void coco_lua_spec_hold(lspec *s) { s->refs++; }

lspec *coco_lua_spec_open(const coco_optval *opts, const char *cat, char **err)
{
	lspec *s = coco_lua_spec_of(opts);
	if (!s) {
		coco_seterr(err, "a Lua %s spec must be made by its definition", cat);
		return NULL;
	}
	coco_lua_spec_hold(s);
	return s;
}

void coco_lua_spec_release(lspec *s)
{
	if (!s || --s->refs > 0)
		return;
	luaL_unref(s->def->T, LUA_REGISTRYINDEX, s->opts_ref);
	coco_lua_def_release(s->def);
	free(s->where);
	free(s->options_json);
	free(s);
}

static int def_gc(lua_State *L)
{
	ldef **box = luaL_checkudata(L, 1, COCO_LDEF_MT);
	coco_lua_def_release(*box);
	*box = NULL;
	return 0;
}

static int def_tostring(lua_State *L)
{
	ldef **box = luaL_checkudata(L, 1, COCO_LDEF_MT);
	lua_pushfstring(L, "coco.%s(%s)", *box && (*box)->is_target ? "target" : "source",
		*box ? (*box)->name : "released");
	return 1;
}

static int spec_gc(lua_State *L)
{
	lspec **box = luaL_checkudata(L, 1, COCO_LSPEC_MT);
	coco_lua_spec_release(*box);
	*box = NULL;
	return 0;
}

static int spec_tostring(lua_State *L)
{
	lspec **box = luaL_checkudata(L, 1, COCO_LSPEC_MT);
	lua_pushfstring(L, "coco.spec(%s)", *box ? (*box)->def->name : "released");
	return 1;
}

void coco_lua_def_push(lua_State *L, ldef *d)
{
	ldef **box = coco_lua_new(L, sizeof *box, COCO_LDEF_MT);
	*box = d;
}

static ldef *check_def(lua_State *L, int idx)
{
	ldef **box = luaL_checkudata(L, idx, COCO_LDEF_MT);
	if (!*box)
		coco_lua_raisef(L, "coco: definition released");
	return *box;
}

/* core.custom_spec(def, options_table, options_json, where) -> spec box */
static int l_custom_spec(lua_State *L)
{
	ldef *d = check_def(L, 1);
	luaL_checktype(L, 2, LUA_TTABLE);
	const char *json = luaL_checkstring(L, 3);
	const char *where = luaL_checkstring(L, 4);
	lspec **box = coco_lua_new(L, sizeof *box, COCO_LSPEC_MT);
	lspec *s = coco_xcalloc(1, sizeof *s);
	s->refs = 1;
	s->def = d;
	d->refs++;
	s->where = coco_strdup(where);
	s->options_json = coco_strdup(json);
	lua_pushvalue(L, 2);
	s->opts_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	*box = s;
	return 1;
}

const coco_optdef *coco_lua_custom_spec(lua_State *L, int gidx, int idx, const char *cat,
	const void **ops, void **inst)
{
	lua_getfield(L, idx, "_spec");
	lspec **box = lua_touserdata(L, -1);
	if (!box || !lua_getmetatable(L, -1)) {
		lua_pop(L, 1);
		return NULL;
	}
	luaL_getmetatable(L, COCO_LSPEC_MT);
	int ours = lua_rawequal(L, -1, -2);
	lua_pop(L, 2);
	if (!ours || !*box || (*box)->def->is_target != !strcmp(cat, "target") ||
	    (!(*box)->def->is_target && strcmp(cat, "source"))) {
		lua_pop(L, 1);
		return NULL;
	}
	/* [.., box]: anchor it in the graph's environment table */
	lua_getfenv(L, gidx);
	lua_getfield(L, -1, "__coco_keep");
	int keep = lua_toboolean(L, -1);
	lua_pop(L, 1);
	if (!keep) {
		lua_pop(L, 1);
		lua_createtable(L, 1, 1);
		lua_pushboolean(L, 1);
		lua_setfield(L, -2, "__coco_keep");
		lua_pushvalue(L, -1);
		lua_setfenv(L, gidx);
	}
	lua_pushvalue(L, -2);
	lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
	lua_pop(L, 2);
	lspec *s = *box;
	*ops = s->def->is_target ? (const void *)&s->def->ops.t : (const void *)&s->def->ops.s;
	*inst = s;
	return coco_lua_custom_opts;
}

/* ---- calling Lua ------------------------------------------------------------ */

int coco_lua_custom_call(lua_State *T, int nargs, int nres, char **err)
{
	return coco_lua_pcall(T, nargs, nres) ? coco_lua_pcall_error(T, err) : 0;
}

const luaL_Reg coco_lua_custom_funcs[] = {
	{ "custom_spec", l_custom_spec },
	{ NULL, NULL }
};

int coco_lua_open_custom(lua_State *L)
{
	/* [core] */
	coco_lua_class(L, COCO_LDEF_MT, NULL, def_gc, def_tostring);
	coco_lua_class(L, COCO_LSPEC_MT, NULL, spec_gc, spec_tostring);
	return 0;
}
