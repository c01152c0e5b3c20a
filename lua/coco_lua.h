#pragma once
/* Shared helpers of the lua/ binding files. Only lua/ includes Lua. */
#include <lua.h>
#include <lauxlib.h>
/* Lua 5.1 API symbols that later Luas lack: weak, so that coco.so still
 * loads into such a host and luaopen_coco can say what is wrong, instead
 * of dlopen failing on "undefined symbol: luaL_register". */
#pragma weak lua_objlen
#pragma weak lua_getfenv
#pragma weak lua_setfenv
#pragma weak lua_call
#pragma weak lua_pcall
#pragma weak lua_tointeger
#pragma weak lua_tonumber
#pragma weak lua_insert
#pragma weak lua_remove
#pragma weak lua_newuserdata
#pragma weak luaL_register
#pragma weak luaL_loadbuffer
#include "engine/buf.h"
#include "engine/value.h"
#include "engine/ops.h"
#include "engine/graph.h"

/* l_value.c */
/* Push v (of type t, may be NULL) as a Lua value: null -> nil, numbers,
 * strings, range -> { start, end }, vector -> array, struct -> table by
 * field name (array without t), table -> array of row tables. */
void coco_lua_push_value(lua_State *L, const coco_value *v, const coco_type *t);
/* Convert the Lua value at idx to type t into *out (memory from a).
 * Returns 0, or -1 with a message in err ("expected str, got number"). */
int coco_lua_to_value(lua_State *L, int idx, const coco_type *t, coco_arena *a, coco_value *out,
	coco_buf *err);
/* A constant argument: nil, boolean, number (int64 when integral), string. */
int coco_lua_const(lua_State *L, int idx, coco_arena *a, coco_value *out);
/* A type spec: "str", or { kind = "vector", dim = N }, { kind = "struct",
 * fields = {{name, type}, ...} }, { kind = "table", fields = ..., keys = n }. */
const coco_type *coco_lua_to_type(lua_State *L, int idx, coco_arena *a, coco_buf *err);
/* Fill vals (coco_opt_count(defs) entries) from the options table at idx.
 * Unknown keys, wrong kinds and missing required options are errors:
 *   "LocalFile: unknown option 'pth'; options: path, included_patterns, ..."
 * Strings point into Lua strings (valid while the table is alive); lists
 * are allocated from a. */
int coco_lua_opts(lua_State *L, int idx, const char *what, const coco_optdef *defs,
	coco_optval *vals, coco_arena *a, coco_buf *err);
/* Push the JSON text s[0, n) as a Lua value (null: nil). */
void coco_lua_push_json(lua_State *L, const char *s, size_t n);
/* A deep copy of t into a. */
const coco_type *coco_lua_type_copy(coco_arena *a, const coco_type *t);

/* l_util.c: the two channels. A wrong argument raises (coco_lua_raisef:
 * the message carries the user's line, e.g. "flow.lua:12: ..."); a runtime
 * failure (I/O, a database, a closed flow) returns nil, message:
 *   return coco_lua_fail(L, "coco: state is not open");
 * coco_lua_fail_free frees msg (a malloc'd engine error) after pushing it;
 * msg NULL reads "error". */
int coco_lua_fail(lua_State *L, const char *msg);
int coco_lua_fail_free(lua_State *L, char *msg);
int coco_lua_failf(lua_State *L, const char *fmt, ...);
int coco_lua_raisef(lua_State *L, const char *fmt, ...);
/* The metatable mt (a userdata class): methods as __index (may be NULL),
 * __gc (safe to run twice) and __tostring (may be NULL). */
void coco_lua_class(lua_State *L, const char *mt, const luaL_Reg *methods, lua_CFunction gc,
	lua_CFunction tostring);
/* Push a new object of class mt: a userdata of size bytes, zeroed. */
void *coco_lua_new(lua_State *L, size_t size, const char *mt);
/* A registry reference to the function t[name] (t at idx), or LUA_NOREF
 * when t is not a table or t[name] not a function. */
int coco_lua_opt_ref(lua_State *L, int idx, const char *name);
/* Push a timeout in ms as seconds; returns 1, or 0 (nothing pushed: no
 * timeout) when ms < 0. */
int coco_lua_push_timeout(lua_State *L, long ms);
/* Push the names of fields[0, n) as an array. */
void coco_lua_push_names(lua_State *L, const coco_field *fields, uint32_t n);
/* Every call from C into Lua goes through coco_lua_pcall (a traceback
 * handler; the error message is left on the stack). coco_lua_pcall_error
 * then moves that message, without its traceback, into *err (pops it;
 * returns -1). */
int coco_lua_pcall(lua_State *L, int nargs, int nresults);
int coco_lua_pcall_error(lua_State *L, char **err);

/* l_fn.c: callbacks (on_error, on_batch, ...) use coco_lua_callback, which
 * reports an error on stderr instead of raising into C. */
void coco_lua_callback(lua_State *L, int nargs, const char *what);

/* l_fn.c: the function vtable for coco.fn functions. The spec table at
 * idx ({ name, fn, returns, cache, version }) becomes the udata passed
 * to coco_graph_transform. */
extern const coco_function_ops coco_lua_fn_ops;
void *coco_lua_fn_new(lua_State *L, int idx, coco_fn_logic *logic, coco_buf *err);

/* l_graph.c: coco.graph (l_graph.h) */
int coco_lua_open_graph(lua_State *L);   /* adds core functions to the table on top */
/* l_flow.c: the running methods of coco.graph (after coco_lua_open_graph) */
int coco_lua_open_flow(lua_State *L);

/* l_spec.c: core.names, optdefs, check_opts */
extern const luaL_Reg coco_lua_spec_funcs[];
/* Fill options for a spec table { name =, opts = } at idx of category cat
 * ("source", "target", "function"); sets *ops. Raises "where: message". */
coco_optval *coco_lua_spec_opts(lua_State *L, int idx, const char *cat, const void **ops,
	coco_arena *a, const char *where);
/* A function spec at idx: a coco.fn spec ({ name, fn, returns, ... }; its
 * udata is the caller's until the engine takes it) or a built-in's ({ name,
 * opts }). transform and call resolve specs here. Returns 0, or -1 with a
 * message in e ("unknown function 'X'", an option error). */
typedef struct coco_lua_fnspec {
	const coco_function_ops *fn;
	const coco_optval *spec;      /* built-ins: the options (memory from a) */
	void *udata;                  /* coco.fn: the Lua function */
	coco_fn_logic logic;
	const char *label;            /* the name shown in errors */
} coco_lua_fnspec;
int coco_lua_fn_spec(lua_State *L, int idx, coco_arena *a, coco_lua_fnspec *out, coco_buf *e);

/* l_sys.c: core.realpath, isatty, now, listdirs, mkdir */
extern const luaL_Reg coco_lua_sys_funcs[];

/* l_query.c: core.call, core.top_k (query handlers) */
extern const luaL_Reg coco_lua_query_funcs[];

/* l_server.c: core.server, core.poller, core.inspect_* (coco server) */
int coco_lua_open_server(lua_State *L);

/* l_live.c */
int coco_lua_open_live(lua_State *L);

/* l_source.c, l_target.c: sources and targets written in Lua (coco.source,
 * coco.target; see l_custom.h) */
extern const luaL_Reg coco_lua_source_funcs[];
/* l_custom.c: the ldef/lspec metatables; core.custom_spec */
int coco_lua_open_custom(lua_State *L);
extern const luaL_Reg coco_lua_custom_funcs[];
int coco_lua_open_target(lua_State *L);
/* If the spec table at idx was made by a coco.source{} or coco.target{}
 * definition of category cat ("source", "target"): sets *ops and *inst (the
 * value of the spec's last option), anchors the spec in the graph at gidx
 * and returns the option table. Else NULL. */
const coco_optdef *coco_lua_custom_spec(lua_State *L, int gidx, int idx, const char *cat,
	const void **ops, void **inst);
