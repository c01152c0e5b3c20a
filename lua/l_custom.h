#pragma once
/* Sources and targets written in Lua (l_source.c, l_target.c): what the
 * two binding files share (l_custom.c).
 *
 * A definition (coco.source{...}, coco.target{...}) is an ldef: its own
 * vtable, its Lua functions and a Lua thread of its own on which the
 * engine calls them (a thread that cannot die under it, unlike the
 * coroutine that happened to build the flow). A use of it in a flow
 * (MySource{ path = "x" }) is an lspec: the definition plus the options
 * table. Both are reference-counted C structs: a Lua userdata box holds one
 * reference, every opened source or target another, so the engine can
 * close what it opened in any order of garbage collection. The graph that
 * uses a spec anchors its box (coco_lua_custom_spec), and the opened
 * instances find their lspec through the hidden option `_instance`. */
#include "lua/coco_lua.h"

#define COCO_LDEF_MT "coco.ldef"
#define COCO_LSPEC_MT "coco.lspec"

enum { LFN_LIST, LFN_GET, LFN_SETUP = 0, LFN_MUTATE = 1, LFN_MAX = 2 };

typedef struct ldef {
	int refs;
	int is_target;
	char *name;
	char *where;                  /* where it was defined: "flow.lua:3" */
	lua_State *T;                 /* its thread, anchored by thread_ref */
	int thread_ref;
	int fn[LFN_MAX];              /* registry refs of its functions */
	coco_arena types;
	const coco_type *row_type;    /* sources: key fields first */
	const coco_type *key_type;    /* sources: a struct of the key fields */
	union {
		coco_source_ops s;
		coco_target_ops t;
	} ops;
	struct ldef *next;            /* targets of this OS thread, by name */
} ldef;

typedef struct lspec {
	int refs;
	ldef *def;
	int opts_ref;                 /* the options table */
	char *where;                  /* where it was made: "flow.lua:12" */
	char *options_json;           /* the options as canonical JSON */
} lspec;

/* The options every Lua-defined source and target takes: `options` (the
 * user's table, as JSON: what the logic fingerprint sees) and `_instance`
 * (runtime, never set by users: the lspec pointer in .i). */
extern const coco_optdef coco_lua_custom_opts[];
#define COCO_LUA_OPT_INSTANCE 1

lspec *coco_lua_spec_of(const coco_optval *opts);
void coco_lua_spec_hold(lspec *s);
/* The spec in opts, held (release it on close); NULL with "a Lua <cat> spec
 * must be made by its definition" when opts did not come from one. */
lspec *coco_lua_spec_open(const coco_optval *opts, const char *cat, char **err);
void coco_lua_spec_release(lspec *s);
/* l_target.c: a target definition is freed: forget it by name. */
void coco_lua_target_forget(ldef *d);
/* Creates a definition, with one reference (for its box). */
ldef *coco_lua_def_new(lua_State *L, const char *name, const char *where, int is_target);
void coco_lua_def_release(ldef *d);
/* Push def's box; see l_custom.c. */
void coco_lua_def_push(lua_State *L, ldef *d);
/* Call the function on T's stack (below nargs args) with a traceback
 * handler; on error, *err = the message without the traceback. */
int coco_lua_custom_call(lua_State *T, int nargs, int nres, char **err);
