/* Sources written in Lua (see l_custom.h).
 *
 *   local Notes = coco.source{ name = "Notes",
 *     key = { { "id", "str" } }, value = { { "body", "str" } },
 *     list = function(opts, ctx) coroutine.yield("a", 1) ... end,   -- key, ordinal
 *     get = function(key, opts, ctx) return { body = "..." }, ordinal end }
 *   scope.notes = flow:add_source(Notes{ dir = "notes" })
 *
 * list runs as a coroutine: each coroutine.yield(key, ordinal) lists one
 * row (the ordinal is optional: a number or a string that changes when the
 * row may have changed); it may instead return an array of keys or of
 * { key =, ordinal = } tables. get returns the value fields as a table (or
 * the value itself when there is one value field), and optionally the
 * ordinal of what it read; nil means the row is gone. A row without any
 * ordinal is read on every pass and processed when its content changed.
 * ctx = { base_dir = the flow file's directory } (for relative paths). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "lua/l_custom.h"
#include "engine/sys.h"


/* ---- the source vtable ---------------------------------------------------- */

typedef struct lsrc {
	lspec *spec;
	int ctx_ref;                  /* { base_dir = } */
	int ords_ref;                 /* { [encoded key] = ordinal } of the last listing */
	coco_arena tmp;
	coco_buf kbuf;
} lsrc;

static int src_row_type(const coco_optval *opts, coco_arena *types, const coco_type **out,
	char **err)
{
	lspec *s = coco_lua_spec_of(opts);
	if (!s)
		return coco_seterr(err, "a Lua source spec must be made by its definition");
	*out = coco_lua_type_copy(types, s->def->row_type);
	return 0;
}

static int src_open(const coco_optval *opts, const char *base_dir, void **out, char **err)
{
	lspec *s = coco_lua_spec_open(opts, "source", err);
	if (!s)
		return -1;
	lsrc *src = coco_xcalloc(1, sizeof *src);
	src->spec = s;
	lua_newtable(s->def->T);
	src->ords_ref = luaL_ref(s->def->T, LUA_REGISTRYINDEX);
	lua_createtable(s->def->T, 0, 1);
	lua_pushstring(s->def->T, base_dir);
	lua_setfield(s->def->T, -2, "base_dir");
	src->ctx_ref = luaL_ref(s->def->T, LUA_REGISTRYINDEX);
	*out = src;
	return 0;
}

static void src_close(void *p)
{
	lsrc *src = p;
	luaL_unref(src->spec->def->T, LUA_REGISTRYINDEX, src->ords_ref);
	luaL_unref(src->spec->def->T, LUA_REGISTRYINDEX, src->ctx_ref);
	coco_arena_destroy(&src->tmp);
	coco_buf_free(&src->kbuf);
	coco_lua_spec_release(src->spec);
	free(src);
}

/* The Lua value at idx of L as the source's key: a single value, or a
 * struct of the key fields. */
static int to_key(lua_State *L, int idx, const ldef *d, coco_arena *a, coco_value *key,
	coco_buf *e)
{
	const coco_type *kt = d->key_type;
	if (kt->nfields == 1) {
		if (coco_lua_to_value(L, idx, kt->fields[0].type, a, key, e))
			return -1;
		if (key->kind == COCO_NULL) {
			coco_buf_printf(e, "the key is nil");
			return -1;
		}
		return 0;
	}
	if (!lua_istable(L, idx)) {
		coco_buf_printf(e, "the key must be a table of the key fields, got %s", luaL_typename(L, idx));
		return -1;
	}
	if (coco_lua_to_value(L, idx, kt, a, key, e))
		return -1;
	for (uint32_t i = 0; i < kt->nfields; i++)
		if (key->u.fields[i].kind == COCO_NULL) {
			coco_buf_printf(e, "key field '%s' is nil", kt->fields[i].name);
			return -1;
		}
	return 0;
}

typedef struct listctx {
	lsrc *src;
	coco_list_cb cb;
	void *ud;
	int stop;
} listctx;

/* One listed row: the key and ordinal at a and a + 1 of co. */
static int list_one(listctx *c, lua_State *co, int a, char **err)
{
	lsrc *src = c->src;
	ldef *d = src->spec->def;
	coco_arena_reset(&src->tmp);
	coco_value key;
	coco_buf e = {0};
	if (to_key(co, a, d, &src->tmp, &key, &e)) {
		coco_seterr(err, "%s: %s: list: %s", src->spec->where, d->name, e.p);
		coco_buf_free(&e);
		return -1;
	}
	size_t nord = 0;
	const char *ord = "";
	double num;
	switch (lua_type(co, a + 1)) {
	case LUA_TNONE:
	case LUA_TNIL:
		break;
	case LUA_TNUMBER:
		num = lua_tonumber(co, a + 1);
		ord = (const char *)&num;
		nord = sizeof num;
		break;
	case LUA_TSTRING:
		ord = lua_tolstring(co, a + 1, &nord);
		break;
	default:
		coco_seterr(err, "%s: %s: list: the ordinal must be a number or a string, got %s",
			src->spec->where, d->name, luaL_typename(co, a + 1));
		return -1;
	}
	coco_buf_clear(&src->kbuf);
	coco_value_encode(&key, &src->kbuf);
	if (nord) {                       /* remembered for read() */
		lua_rawgeti(co, LUA_REGISTRYINDEX, src->ords_ref);
		lua_pushlstring(co, src->kbuf.p, src->kbuf.n);
		lua_pushlstring(co, ord, nord);
		lua_rawset(co, -3);
		lua_pop(co, 1);
	}
	if (c->cb(c->ud, &key, ord, nord))
		c->stop = 1;
	return 0;
}

static int src_list(void *p, coco_list_cb cb, void *ud, char **err)
{
	lsrc *src = p;
	ldef *d = src->spec->def;
	lua_State *T = d->T;
	int top = lua_gettop(T);
	lua_newtable(T);                  /* a fresh ordinal map */
	lua_rawseti(T, LUA_REGISTRYINDEX, src->ords_ref);
	lua_State *co = lua_newthread(T); /* [thread]: anchored on T's stack */
	lua_rawgeti(co, LUA_REGISTRYINDEX, d->fn[LFN_LIST]);
	lua_rawgeti(co, LUA_REGISTRYINDEX, src->spec->opts_ref);
	lua_rawgeti(co, LUA_REGISTRYINDEX, src->ctx_ref);
	listctx c = { src, cb, ud, 0 };
	int nargs = 2, rc = 0;
	for (;;) {
		int st = lua_resume(co, nargs);
		nargs = 0;
		if (st == LUA_YIELD) {
			if (lua_gettop(co) >= 1 && list_one(&c, co, 1, err)) {
				rc = -1;
				break;
			}
			lua_settop(co, 0);
			if (c.stop)
				break;
			continue;
		}
		if (st != 0) {
			const char *m = lua_tostring(co, -1);
			coco_seterr(err, "%s: %s: list failed: %s", src->spec->where, d->name,
				m ? m : "(error object is not a string)");
			rc = -1;
			break;
		}
		/* returned: maybe an array of keys or of { key =, ordinal = } */
		if (lua_gettop(co) >= 1 && lua_istable(co, 1)) {
			size_t n = lua_objlen(co, 1);
			for (size_t i = 1; i <= n && !c.stop && !rc; i++) {
				lua_rawgeti(co, 1, (int)i);
				int it = lua_gettop(co);
				lua_getfield(co, it, "key");
				if (lua_istable(co, it) && !lua_isnil(co, -1)) {
					lua_getfield(co, it, "ordinal");
					rc = list_one(&c, co, it + 1, err);
				} else {
					lua_settop(co, it);
					lua_pushnil(co);
					rc = list_one(&c, co, it, err);
				}
				lua_settop(co, 1);
			}
		} else if (lua_gettop(co) >= 1 && !lua_isnil(co, 1)) {
			coco_seterr(err, "%s: %s: list must yield its rows (coroutine.yield(key, ordinal)) "
				"or return an array, not a %s", src->spec->where, d->name, luaL_typename(co, 1));
			rc = -1;
		}
		break;
	}
	lua_settop(T, top);               /* the coroutine goes with its anchor */
	return rc;
}

static int src_read(void *p, const coco_value *key, coco_arena *a, coco_value *row,
	coco_buf *ord, char **err)
{
	lsrc *src = p;
	ldef *d = src->spec->def;
	lua_State *T = d->T;
	int top = lua_gettop(T);
	const coco_type *kt = d->key_type, *rt = d->row_type;
	coco_buf kt_text = {0};
	lua_rawgeti(T, LUA_REGISTRYINDEX, d->fn[LFN_GET]);
	coco_lua_push_value(T, key, kt->nfields == 1 ? NULL : kt);
	lua_rawgeti(T, LUA_REGISTRYINDEX, src->spec->opts_ref);
	lua_rawgeti(T, LUA_REGISTRYINDEX, src->ctx_ref);
	char *e = NULL;
	if (coco_lua_custom_call(T, 3, 2, &e)) {
		coco_value_to_json(key, kt->nfields == 1 ? NULL : kt, &kt_text);
		coco_seterr(err, "%s: get(%s) failed: %s", d->name, kt_text.p, e);
		free(e);
		coco_buf_free(&kt_text);
		lua_settop(T, top);
		return -1;
	}
	/* [value, ordinal] */
	int vi = top + 1, rc = 0;
	if (lua_isnil(T, vi)) {
		lua_settop(T, top);
		return 1;                     /* gone */
	}
	uint32_t nk = kt->nfields, nv = rt->nfields - nk;
	row->kind = COCO_STRUCT;
	row->n = rt->nfields;
	row->u.fields = coco_arena_alloc(a, (rt->nfields + 1) * sizeof *row->u.fields);
	if (nk == 1)
		coco_value_copy(a, key, &row->u.fields[0]);
	else
		for (uint32_t i = 0; i < nk; i++)
			coco_value_copy(a, &key->u.fields[i], &row->u.fields[i]);
	coco_buf e2 = {0};
	if (!lua_istable(T, vi) && nv != 1) {
		coco_buf_printf(&e2, "get must return a table of the value fields, got %s",
			luaL_typename(T, vi));
		rc = -1;
	}
	for (uint32_t i = 0; i < nv && !rc; i++) {
		const coco_field *f = &rt->fields[nk + i];
		int fi = vi;                  /* one value field: its value may come bare */
		if (lua_istable(T, vi)) {
			lua_getfield(T, vi, f->name);
			fi = lua_gettop(T);
		}
		if (coco_lua_to_value(T, fi, f->type, a, &row->u.fields[nk + i], &e2)) {
			coco_buf b = {0};
			coco_buf_printf(&b, "field '%s': %s", f->name, e2.p);
			coco_buf_free(&e2);
			e2 = b;
			rc = -1;
		}
		if (fi != vi)
			lua_pop(T, 1);
	}
	if (!rc && lua_istable(T, vi)) {
		/* a misspelt field would silently read as null: say so */
		lua_pushnil(T);
		while (!rc && lua_next(T, vi)) {
			lua_pop(T, 1);
			int known = lua_type(T, -1) != LUA_TSTRING;
			for (uint32_t i = 0; i < rt->nfields && !known; i++)
				known = !strcmp(lua_tostring(T, -1), rt->fields[i].name);
			if (!known) {
				coco_buf_printf(&e2, "unknown field '%s'; fields: ", lua_tostring(T, -1));
				for (uint32_t i = nk; i < rt->nfields; i++)
					coco_buf_printf(&e2, "%s%s", i > nk ? ", " : "", rt->fields[i].name);
				rc = -1;
				lua_pop(T, 1);
			}
		}
	}
	if (rc) {
		coco_value_to_json(key, kt->nfields == 1 ? NULL : kt, &kt_text);
		coco_seterr(err, "%s: %s: get(%s) returned a bad value: %s (source defined at %s)",
			src->spec->where, d->name, kt_text.p, e2.p, d->where);
		coco_buf_free(&e2);
		coco_buf_free(&kt_text);
		lua_settop(T, top);
		return -1;
	}
	/* the ordinal: what get says, else what list said, else none ("\0":
	 * never equal to a listing, so the row is read on every pass) */
	coco_buf_clear(ord);
	int oi = vi + 1;
	if (lua_type(T, oi) == LUA_TNUMBER) {
		double num = lua_tonumber(T, oi);
		coco_buf_add(ord, &num, sizeof num);
	} else if (lua_type(T, oi) == LUA_TSTRING) {
		size_t n;
		const char *s = lua_tolstring(T, oi, &n);
		coco_buf_add(ord, s, n);
	} else {
		coco_buf_clear(&src->kbuf);
		coco_value_encode(key, &src->kbuf);
		lua_rawgeti(T, LUA_REGISTRYINDEX, src->ords_ref);
		lua_pushlstring(T, src->kbuf.p, src->kbuf.n);
		lua_rawget(T, -2);
		size_t n = 0;
		const char *s = lua_tolstring(T, -1, &n);
		if (s && n)
			coco_buf_add(ord, s, n);
		else
			coco_buf_add(ord, "", 1);
	}
	coco_buf_free(&e2);
	coco_buf_free(&kt_text);
	lua_settop(T, top);
	return 0;
}

/* Field list { {name, type}, ... } (a table) at idx into *out. Returns the
 * count, or -1 with a message in e. */
static int field_list(lua_State *L, int idx, const char *what, coco_arena *a, coco_field **out,
	coco_buf *e)
{
	size_t n = lua_objlen(L, idx);
	coco_field *f = coco_arena_alloc(a, (n + 1) * sizeof *f);
	for (size_t i = 0; i < n; i++) {
		lua_rawgeti(L, idx, (int)i + 1);
		lua_rawgeti(L, -1, 1);
		lua_rawgeti(L, -2, 2);             // [field, name, type]
		coco_buf te = {0};
		const coco_type *t = coco_lua_to_type(L, lua_gettop(L), a, &te);
		if (!t) {
			coco_buf_printf(e, "%s field '%s': %s", what, lua_tostring(L, -2), te.p);
			coco_buf_free(&te);
			lua_pop(L, 3);
			return -1;
		}
		f[i].name = coco_arena_strdup(a, lua_tostring(L, -2));
		f[i].type = t;
		lua_pop(L, 3);
	}
	*out = f;
	return (int)n;
}

/* core.source_def(name, key_fields, value_fields, list, get, where) -> def box.
 * Field lists are { {name, type}, ... } (checked by the caller). */
static int l_source_def(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	luaL_checktype(L, 2, LUA_TTABLE);
	luaL_checktype(L, 3, LUA_TTABLE);
	luaL_checktype(L, 4, LUA_TFUNCTION);
	luaL_checktype(L, 5, LUA_TFUNCTION);
	const char *where = luaL_checkstring(L, 6);
	coco_arena a = {0};           /* no raise from here while a holds memory */
	coco_buf e = {0};
	coco_field *kf, *vf;
	int nk = field_list(L, 2, "key", &a, &kf, &e);
	int nv = nk < 0 ? -1 : field_list(L, 3, "value", &a, &vf, &e);
	if (nv < 0) {
		coco_arena_destroy(&a);
		lua_pushstring(L, e.p);
		coco_buf_free(&e);
		return lua_error(L);
	}
	ldef *d = coco_lua_def_new(L, name, where, 0);
	coco_lua_def_push(L, d);          /* the box owns d from here on */
	coco_field *all = coco_arena_alloc(&d->types, (size_t)(nk + nv + 1) * sizeof *all);
	for (int i = 0; i < nk + nv; i++) {
		const coco_field *f = i < nk ? &kf[i] : &vf[i - nk];
		all[i].name = coco_arena_strdup(&d->types, f->name);
		all[i].type = coco_lua_type_copy(&d->types, f->type);
	}
	coco_arena_destroy(&a);
	d->row_type = coco_type_table(&d->types, all, (uint32_t)(nk + nv), (uint32_t)nk);
	d->key_type = coco_type_struct(&d->types, all, (uint32_t)nk);
	lua_pushvalue(L, 4);
	d->fn[LFN_LIST] = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushvalue(L, 5);
	d->fn[LFN_GET] = luaL_ref(L, LUA_REGISTRYINDEX);
	coco_source_ops *o = &d->ops.s;
	o->name = d->name;
	o->opts = coco_lua_custom_opts;
	o->row_type = src_row_type;
	o->open = src_open;
	o->list = src_list;
	o->read = src_read;
	o->close = src_close;
	o->owner_thread_only = 1;
	return 1;
}

const luaL_Reg coco_lua_source_funcs[] = {
	{ "source_def", l_source_def },
	{ NULL, NULL }
};
