/* Targets written in Lua (see l_custom.h).
 *
 *   local JsonFiles = coco.target{ name = "JsonFiles",
 *     setup = function(previous, desired) ... end,
 *     mutate = function(upserts, deletes, ctx) ... end }
 *   chunks:export("chunks", JsonFiles{ dir = "out" }, { primary_key_fields = {...} })
 *
 * setup(previous, desired) brings the target from what was set up before
 * (nil: nothing) to what the export needs (nil: drop it). Both are tables
 * { target, flow, export, options, fields = { {name=, type=}, ... },
 * key_fields = { ... } }. mutate(upserts, deletes, ctx) writes one batch:
 * upserts is an array of rows (tables by field name), deletes an array of
 * keys (tables of the key fields); ctx = { flow, export, options,
 * key_fields, fields, base_dir } (field names: a null value is absent from
 * a row; base_dir: the flow file's directory). Both must be idempotent:
 * after a crash the engine calls them again with the same arguments. A
 * setup change of the options or of the key fields recreates the target
 * (all rows are written again); a raise from mutate fails the batch,
 * which is retried: state does not advance past a batch the target did
 * not take. */
#include <stdlib.h>
#include <string.h>
#include "lua/l_custom.h"
#include "engine/functions/json.h"
#include "engine/sys.h"

/* Lua targets of this OS thread, newest first, for the engine's lookups by
 * name (setup of an export that left the flow) and for apply(), which only
 * sees the setup texts. A Lua state lives on one thread at a time. */
static __thread ldef *targets;

void coco_lua_target_forget(ldef *d)
{
	for (ldef **p = &targets; *p; p = &(*p)->next)
		if (*p == d) {
			*p = d->next;
			return;
		}
}

static ldef *target_named(const char *name, size_t n)
{
	for (ldef *d = targets; d; d = d->next)
		if (strlen(d->name) == n && !memcmp(d->name, name, n))
			return d;
	return NULL;
}

static const coco_target_ops *find_dynamic(const char *name)
{
	ldef *d = target_named(name, strlen(name));
	return d ? &d->ops.t : NULL;
}

/* Call d's function (below nargs args on its thread); the stack goes back
 * to top; on error *err = "Name.what: message". */
static int call_fn(ldef *d, int nargs, int top, const char *what, char **err)
{
	char *e = NULL;
	int rc = coco_lua_custom_call(d->T, nargs, 0, &e);
	lua_settop(d->T, top);
	if (rc) {
		coco_seterr(err, "%s.%s: %s", d->name, what, e);
		free(e);
	}
	return rc;
}

/* ---- setup ---------------------------------------------------------------- */

/* desired: {"export":..,"fields":[{"name":..,"type":..}],"flow":..,
 * "key_fields":[..],"options":{..},"target":".."} (keys sorted) */
static int tgt_describe(const coco_optval *opts, const coco_export_info *info,
	coco_buf *rid, coco_buf *desired, char **err)
{
	lspec *s = coco_lua_spec_of(opts);
	if (!s)
		return coco_seterr(err, "a Lua target spec must be made by its definition");
	const char *name = s->def->name;
	coco_buf_printf(rid, "%s:%s.%s", name, info->flow_name, info->export_name);
	coco_buf_adds(desired, "{\"export\":");
	coco_json_str(desired, info->export_name, strlen(info->export_name));
	coco_buf_adds(desired, ",\"fields\":[");
	coco_buf t = {0};
	for (uint32_t i = 0; i < info->row_type->nfields; i++) {
		const coco_field *f = &info->row_type->fields[i];
		coco_buf_adds(desired, i ? ",{\"name\":" : "{\"name\":");
		coco_json_str(desired, f->name, strlen(f->name));
		coco_buf_clear(&t);
		coco_type_format(f->type, &t);
		coco_buf_adds(desired, ",\"type\":");
		coco_json_str(desired, t.p, t.n);
		coco_buf_putc(desired, '}');
	}
	coco_buf_free(&t);
	coco_buf_adds(desired, "],\"flow\":");
	coco_json_str(desired, info->flow_name, strlen(info->flow_name));
	coco_buf_adds(desired, ",\"key_fields\":[");
	for (uint32_t i = 0; i < info->nkeys; i++) {
		if (i)
			coco_buf_putc(desired, ',');
		const char *k = info->row_type->fields[i].name;
		coco_json_str(desired, k, strlen(k));
	}
	coco_buf_adds(desired, "],\"options\":");
	coco_buf_adds(desired, s->options_json);
	coco_buf_adds(desired, ",\"target\":");
	coco_json_str(desired, name, strlen(name));
	coco_buf_putc(desired, '}');
	return 0;
}

static int member(const char *doc, const char *name, const char **v, size_t *nv)
{
	return doc && coco_json_get(doc, strlen(doc), name, strlen(name), v, nv);
}

static int same_member(const char *a, const char *b, const char *name)
{
	const char *va, *vb;
	size_t na, nb;
	int ha = member(a, name, &va, &na), hb = member(b, name, &vb, &nb);
	return ha == hb && (!ha || (na == nb && !memcmp(va, vb, na)));
}

/* Does the stored field list hold a field the desired one lacks or types
 * differently? Appends "+x"/"-x" words to plan. */
static int fields_diff(const char *stored, const char *desired, coco_buf *plan)
{
	const char *fs, *fd;
	size_t ns, nd;
	int lost = 0;
	if (!member(stored, "fields", &fs, &ns) || !member(desired, "fields", &fd, &nd))
		return 0;
	for (int pass = 0; pass < 2; pass++) {
		const char *from = pass ? fd : fs, *to = pass ? fs : fd;
		size_t nfrom = pass ? nd : ns, nto = pass ? ns : nd;
		coco_json_iter it;
		coco_json_iter_init(&it, from, nfrom);
		const char *k, *v;
		size_t nk, nv;
		while (coco_json_iter_next(&it, &k, &nk, &v, &nv)) {
			int found = 0;
			coco_json_iter jt;
			coco_json_iter_init(&jt, to, nto);
			const char *k2, *v2;
			size_t nk2, nv2;
			while (!found && coco_json_iter_next(&jt, &k2, &nk2, &v2, &nv2))
				found = nv2 == nv && !memcmp(v, v2, nv);
			if (found)
				continue;
			const char *fname;
			size_t nf;
			coco_json_get(v, nv, "name", 4, &fname, &nf);
			coco_buf_printf(plan, " %c%.*s", pass ? '+' : '-', (int)nf, fname);
			lost |= !pass;
		}
	}
	return lost;
}

static int tgt_plan(const char *stored, const char *desired, coco_buf *plan, int *destructive,
	char **err)
{
	*destructive = 0;
	if (!stored) {
		coco_buf_adds(plan, "create (setup called with no previous state)\n");
	} else if (!desired) {
		coco_buf_adds(plan, "drop (setup called with no desired state)\n");
		*destructive = 1;
	} else if (!same_member(stored, desired, "options") || !same_member(stored, desired, "key_fields")) {
		coco_buf_adds(plan, "recreate: the options or the key fields changed (every row is written again)\n");
		*destructive = 1;
	} else {
		coco_buf_adds(plan, "change fields:");
		*destructive = fields_diff(stored, desired, plan) ? 1 | COCO_SETUP_KEEPS_ROWS : 0;
		coco_buf_putc(plan, '\n');
	}
	return 0;
}

static int tgt_apply(const char *stored, const char *desired, char **err)
{
	const char *doc = desired ? desired : stored, *v;
	size_t nv;
	coco_buf name = {0};
	if (!member(doc, "target", &v, &nv) || coco_json_str_decode(v, nv, &name))
		return coco_seterr(err, "Lua target: malformed setup record");
	ldef *d = target_named(name.p, name.n);
	if (!d) {
		coco_seterr(err, "Lua target %s is not defined in this process", name.p);
		coco_buf_free(&name);
		return -1;
	}
	coco_buf_free(&name);
	lua_State *T = d->T;
	int top = lua_gettop(T);
	lua_rawgeti(T, LUA_REGISTRYINDEX, d->fn[LFN_SETUP]);
	if (stored)
		coco_lua_push_json(T, stored, strlen(stored));
	else
		lua_pushnil(T);
	if (desired)
		coco_lua_push_json(T, desired, strlen(desired));
	else
		lua_pushnil(T);
	return call_fn(d, 2, top, "setup", err);
}

/* ---- writes --------------------------------------------------------------- */

typedef struct ltgt {
	lspec *spec;
	const coco_export_info *info;
	coco_arena types;
	const coco_type *key_type;
	int ctx_ref;
	int up_ref, del_ref;          /* the batch, LUA_NOREF outside one */
	int nup, ndel;
} ltgt;

static int tgt_open(const coco_optval *opts, const coco_export_info *info, void **out, char **err)
{
	lspec *s = coco_lua_spec_open(opts, "target", err);
	if (!s)
		return -1;
	ltgt *t = coco_xcalloc(1, sizeof *t);
	t->spec = s;
	t->info = info;
	t->up_ref = t->del_ref = LUA_NOREF;
	t->key_type = coco_type_struct(&t->types, info->row_type->fields, info->nkeys);
	lua_State *T = s->def->T;
	lua_createtable(T, 0, 6);
	lua_pushstring(T, info->base_dir);
	lua_setfield(T, -2, "base_dir");
	lua_pushstring(T, info->flow_name);
	lua_setfield(T, -2, "flow");
	lua_pushstring(T, info->export_name);
	lua_setfield(T, -2, "export");
	lua_rawgeti(T, LUA_REGISTRYINDEX, s->opts_ref);
	lua_setfield(T, -2, "options");
	coco_lua_push_names(T, info->row_type->fields, info->nkeys);
	lua_setfield(T, -2, "key_fields");
	coco_lua_push_names(T, info->row_type->fields, info->row_type->nfields);
	lua_setfield(T, -2, "fields");
	t->ctx_ref = luaL_ref(T, LUA_REGISTRYINDEX);
	*out = t;
	return 0;
}

static void drop_batch(ltgt *t)
{
	lua_State *T = t->spec->def->T;
	luaL_unref(T, LUA_REGISTRYINDEX, t->up_ref);
	luaL_unref(T, LUA_REGISTRYINDEX, t->del_ref);
	t->up_ref = t->del_ref = LUA_NOREF;
	t->nup = t->ndel = 0;
}

static int tgt_begin(void *p, char **err)
{
	ltgt *t = p;
	lua_State *T = t->spec->def->T;
	drop_batch(t);
	lua_newtable(T);
	t->up_ref = luaL_ref(T, LUA_REGISTRYINDEX);
	lua_newtable(T);
	t->del_ref = luaL_ref(T, LUA_REGISTRYINDEX);
	return 0;
}

static int add(ltgt *t, int ref, int *n, const coco_value *v, const coco_type *type)
{
	lua_State *T = t->spec->def->T;
	lua_rawgeti(T, LUA_REGISTRYINDEX, ref);
	coco_lua_push_value(T, v, type);
	lua_rawseti(T, -2, ++*n);
	lua_pop(T, 1);
	return 0;
}

static int tgt_upsert(void *p, const coco_value *row, char **err)
{
	ltgt *t = p;
	return add(t, t->up_ref, &t->nup, row, t->info->row_type);
}

static int tgt_del(void *p, const coco_value *key, char **err)
{
	ltgt *t = p;
	return add(t, t->del_ref, &t->ndel, key, t->key_type);
}

static int tgt_commit(void *p, char **err)
{
	ltgt *t = p;
	ldef *d = t->spec->def;
	lua_State *T = d->T;
	int top = lua_gettop(T);
	lua_rawgeti(T, LUA_REGISTRYINDEX, d->fn[LFN_MUTATE]);
	lua_rawgeti(T, LUA_REGISTRYINDEX, t->up_ref);
	lua_rawgeti(T, LUA_REGISTRYINDEX, t->del_ref);
	lua_rawgeti(T, LUA_REGISTRYINDEX, t->ctx_ref);
	drop_batch(t);
	return call_fn(d, 3, top, "mutate", err);
}

static void tgt_close(void *p)
{
	ltgt *t = p;
	drop_batch(t);
	luaL_unref(t->spec->def->T, LUA_REGISTRYINDEX, t->ctx_ref);
	coco_arena_destroy(&t->types);
	coco_lua_spec_release(t->spec);
	free(t);
}

/* core.target_def(name, setup, mutate, where) -> def box */
static int l_target_def(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	luaL_checktype(L, 2, LUA_TFUNCTION);
	luaL_checktype(L, 3, LUA_TFUNCTION);
	const char *where = luaL_checkstring(L, 4);
	ldef *d = coco_lua_def_new(L, name, where, 1);
	coco_lua_def_push(L, d);
	lua_pushvalue(L, 2);
	d->fn[LFN_SETUP] = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushvalue(L, 3);
	d->fn[LFN_MUTATE] = luaL_ref(L, LUA_REGISTRYINDEX);
	coco_target_ops *o = &d->ops.t;
	o->name = d->name;
	o->opts = coco_lua_custom_opts;
	o->owner_thread_only = 1;
	o->rid_is_export = 1;
	o->describe = tgt_describe;
	o->plan = tgt_plan;
	o->apply = tgt_apply;
	o->open = tgt_open;
	o->begin = tgt_begin;
	o->upsert = tgt_upsert;
	o->del = tgt_del;
	o->commit = tgt_commit;
	o->close = tgt_close;
	d->next = targets;
	targets = d;
	return 1;
}

static const luaL_Reg funcs[] = {
	{ "target_def", l_target_def },
	{ NULL, NULL }
};

int coco_lua_open_target(lua_State *L)
{
	coco_target_find_dynamic = find_dynamic;
	luaL_register(L, NULL, funcs);
	return 0;
}
