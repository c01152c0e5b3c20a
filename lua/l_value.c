/* Conversions between coco values and Lua values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "lua/coco_lua.h"
#include "engine/functions/json.h"

void coco_lua_push_value(lua_State *L, const coco_value *v, const coco_type *t)
{
	switch ((coco_kind)v->kind) {
	case COCO_NULL: lua_pushnil(L); break;
	case COCO_BOOL: lua_pushboolean(L, v->u.b); break;
	case COCO_INT64: lua_pushnumber(L, (lua_Number)v->u.i); break;
	case COCO_FLOAT32:
	case COCO_FLOAT64: lua_pushnumber(L, v->u.f); break;
	case COCO_STR:
	case COCO_BYTES:
	case COCO_JSON: lua_pushlstring(L, v->u.s, v->n); break;
	case COCO_RANGE:
		lua_createtable(L, 2, 0);
		lua_pushnumber(L, (lua_Number)v->u.r[0]);
		lua_rawseti(L, -2, 1);
		lua_pushnumber(L, (lua_Number)v->u.r[1]);
		lua_rawseti(L, -2, 2);
		break;
	case COCO_VECTOR:
		lua_createtable(L, (int)v->n, 0);
		for (size_t i = 0; i < v->n; i++) {
			lua_pushnumber(L, v->u.vec[i]);
			lua_rawseti(L, -2, (int)i + 1);
		}
		break;
	case COCO_STRUCT: {
		int named = t && (t->kind == COCO_STRUCT || t->kind == COCO_TABLE) && t->nfields == v->n;
		lua_createtable(L, named ? 0 : (int)v->n, named ? (int)v->n : 0);
		for (size_t i = 0; i < v->n; i++) {
			coco_lua_push_value(L, &v->u.fields[i], named ? t->fields[i].type : NULL);
			if (named)
				lua_setfield(L, -2, t->fields[i].name);
			else
				lua_rawseti(L, -2, (int)i + 1);
		}
		break;
	}
	case COCO_TABLE:
		lua_createtable(L, (int)v->n, 0);
		for (size_t i = 0; i < v->n; i++) {
			coco_lua_push_value(L, &v->u.rows[i], t);
			lua_rawseti(L, -2, (int)i + 1);
		}
		break;
	default: lua_pushnil(L); break;
	}
}

static const char *lua_kind(lua_State *L, int idx) { return luaL_typename(L, idx); }

static int to_struct(lua_State *L, int idx, const coco_type *t, coco_arena *a, coco_value *out,
	coco_buf *err)
{
	out->kind = COCO_STRUCT;
	out->n = t->nfields;
	out->u.fields = coco_arena_alloc(a, (t->nfields + 1) * sizeof(coco_value));
	for (uint32_t i = 0; i < t->nfields; i++) {
		lua_getfield(L, idx, t->fields[i].name);
		int rc = coco_lua_to_value(L, lua_gettop(L), t->fields[i].type, a, &out->u.fields[i], err);
		lua_pop(L, 1);
		if (rc) {
			coco_buf_printf(err, " (field '%s')", t->fields[i].name);
			return -1;
		}
	}
	return 0;
}

int coco_lua_to_value(lua_State *L, int idx, const coco_type *t, coco_arena *a, coco_value *out,
	coco_buf *err)
{
	memset(out, 0, sizeof *out);
	int lt = lua_type(L, idx);
	if (lt == LUA_TNIL)
		return 0;
	if (!t)
		return coco_lua_const(L, idx, a, out) ? (coco_buf_printf(err, "unsupported %s value",
			lua_kind(L, idx)), -1) : 0;
	switch (t->kind) {
	case COCO_NULL:
		return 0;
	case COCO_BOOL:
		if (lt != LUA_TBOOLEAN)
			break;
		out->kind = COCO_BOOL;
		out->u.b = lua_toboolean(L, idx);
		return 0;
	case COCO_INT64: {
		if (lt != LUA_TNUMBER)
			break;
		lua_Number n = lua_tonumber(L, idx);
		if (n != floor(n) || fabs(n) > 9.2e18) {
			coco_buf_printf(err, "expected int64, got %.17g", n);
			return -1;
		}
		out->kind = COCO_INT64;
		out->u.i = (int64_t)n;
		return 0;
	}
	case COCO_FLOAT32:
	case COCO_FLOAT64:
		if (lt != LUA_TNUMBER)
			break;
		out->kind = (uint8_t)t->kind;
		out->u.f = t->kind == COCO_FLOAT32 ? (double)(float)lua_tonumber(L, idx) : lua_tonumber(L, idx);
		return 0;
	case COCO_STR:
	case COCO_BYTES:
	case COCO_JSON: {
		if (lt != LUA_TSTRING)
			break;
		size_t n;
		const char *s = lua_tolstring(L, idx, &n);
		out->kind = (uint8_t)t->kind;
		out->u.s = coco_arena_strndup(a, s, n);
		out->n = n;
		return 0;
	}
	case COCO_RANGE:
		if (lt != LUA_TTABLE)
			break;
		out->kind = COCO_RANGE;
		lua_rawgeti(L, idx, 1);
		lua_rawgeti(L, idx, 2);
		for (int k = 0; k < 2; k++) {
			lua_Number n = lua_tonumber(L, k - 2);
			if (n != floor(n) || !(fabs(n) <= 9.2e18)) {
				coco_buf_printf(err, "expected a range of two int64 offsets, got %.17g", n);
				lua_pop(L, 2);
				return -1;
			}
			out->u.r[k] = (int64_t)n;
		}
		lua_pop(L, 2);
		return 0;
	case COCO_VECTOR: {
		if (lt != LUA_TTABLE)
			break;
		size_t n = lua_objlen(L, idx);
		if (t->dim && n != t->dim) {
			coco_buf_printf(err, "expected a vector of %u numbers, got %zu", t->dim, n);
			return -1;
		}
		float *vec = coco_arena_alloc(a, (n + 1) * sizeof *vec);
		for (size_t i = 0; i < n; i++) {
			lua_rawgeti(L, idx, (int)i + 1);
			vec[i] = (float)lua_tonumber(L, -1);
			lua_pop(L, 1);
		}
		out->kind = COCO_VECTOR;
		out->n = n;
		out->u.vec = vec;
		return 0;
	}
	case COCO_STRUCT:
		if (lt != LUA_TTABLE)
			break;
		return to_struct(L, idx, t, a, out, err);
	case COCO_TABLE: {
		if (lt != LUA_TTABLE)
			break;
		size_t n = lua_objlen(L, idx);
		out->kind = COCO_TABLE;
		out->n = n;
		out->u.rows = coco_arena_alloc(a, (n + 1) * sizeof(coco_value));
		for (size_t i = 0; i < n; i++) {
			lua_rawgeti(L, idx, (int)i + 1);
			int rc = lua_istable(L, -1) ? to_struct(L, lua_gettop(L), t, a, &out->u.rows[i], err)
				: (coco_buf_printf(err, "row %zu is a %s, not a table", i + 1,
					lua_kind(L, -1)), -1);
			lua_pop(L, 1);
			if (rc)
				return -1;
		}
		return 0;
	}
	default:
		break;
	}
	coco_buf tb = {0};
	coco_type_format(t, &tb);
	coco_buf_printf(err, "expected %s, got %s", tb.p, lua_kind(L, idx));
	coco_buf_free(&tb);
	return -1;
}

int coco_lua_const(lua_State *L, int idx, coco_arena *a, coco_value *out)
{
	memset(out, 0, sizeof *out);
	switch (lua_type(L, idx)) {
	case LUA_TNIL: return 0;
	case LUA_TBOOLEAN:
		out->kind = COCO_BOOL;
		out->u.b = lua_toboolean(L, idx);
		return 0;
	case LUA_TNUMBER: {
		lua_Number n = lua_tonumber(L, idx);
		if (n == floor(n) && fabs(n) < 9.2e18) {
			out->kind = COCO_INT64;
			out->u.i = (int64_t)n;
		} else {
			out->kind = COCO_FLOAT64;
			out->u.f = n;
		}
		return 0;
	}
	case LUA_TSTRING: {
		size_t n;
		const char *s = lua_tolstring(L, idx, &n);
		*out = coco_v_str(coco_arena_strndup(a, s, n), n);
		return 0;
	}
	default:
		return -1;
	}
}

const coco_type *coco_lua_to_type(lua_State *L, int idx, coco_arena *a, coco_buf *err)
{
	if (lua_type(L, idx) == LUA_TSTRING) {
		const char *name = lua_tostring(L, idx);
		const coco_type *t = coco_type_by_name(name);
		if (!t)
			coco_buf_printf(err, "unknown type '%s'; types: str, int64, float32, float64, bool, "
				"bytes, json, range, or coco.types.vector/struct/table", name);
		return t;
	}
	if (!lua_istable(L, idx)) {
		coco_buf_printf(err, "a type is a name (\"str\") or a coco.types value, got %s",
			lua_kind(L, idx));
		return NULL;
	}
	lua_getfield(L, idx, "kind");
	const char *kind = lua_tostring(L, -1);
	lua_pop(L, 1);
	if (kind && !strcmp(kind, "vector")) {
		lua_getfield(L, idx, "dim");
		uint32_t dim = (uint32_t)lua_tonumber(L, -1);
		lua_pop(L, 1);
		return coco_type_vector(a, dim);
	}
	if (kind && (!strcmp(kind, "struct") || !strcmp(kind, "table"))) {
		lua_getfield(L, idx, "fields");
		int fi = lua_gettop(L);
		size_t n = lua_istable(L, fi) ? lua_objlen(L, fi) : 0;
		coco_field *fields = coco_arena_alloc(a, (n + 1) * sizeof *fields);
		for (size_t i = 0; i < n; i++) {
			lua_rawgeti(L, fi, (int)i + 1);
			lua_rawgeti(L, -1, 1);
			lua_rawgeti(L, -2, 2);
			const char *fname = lua_tostring(L, -2);
			const coco_type *ft = fname ? coco_lua_to_type(L, lua_gettop(L), a, err) : NULL;
			if (!fname && !err->n)
				coco_buf_adds(err, "struct fields are { name, type } pairs");
			if (!ft) {
				lua_pop(L, 4);
				return NULL;
			}
			fields[i].name = coco_arena_strdup(a, fname);
			fields[i].type = ft;
			lua_pop(L, 3);
		}
		lua_pop(L, 1);
		if (!strcmp(kind, "struct"))
			return coco_type_struct(a, fields, (uint32_t)n);
		lua_getfield(L, idx, "keys");
		uint32_t keys = (uint32_t)lua_tonumber(L, -1);
		lua_pop(L, 1);
		return coco_type_table(a, fields, (uint32_t)n, keys);
	}
	coco_buf_adds(err, "unknown type table (use coco.types.vector, struct or table)");
	return NULL;
}

static const char *kind_word(coco_optkind k)
{
	switch (k) {
	case COCO_OPT_STR: return "a string";
	case COCO_OPT_INT: return "an integer";
	case COCO_OPT_NUM: return "a number";
	case COCO_OPT_BOOL: return "a boolean";
	case COCO_OPT_STRLIST: return "a list of strings";
	default: return "a value";
	}
}

#define OPT_NUM_MAX 9007199254740992.0   /* 2^53: every whole number below is exact */

int coco_lua_opts(lua_State *L, int idx, const char *what, const coco_optdef *defs,
	coco_optval *vals, coco_arena *a, coco_buf *err)
{
	size_t n = coco_opt_count(defs);
	memset(vals, 0, (n + 1) * sizeof *vals);
	if (lua_isnoneornil(L, idx))
		goto required;
	if (!lua_istable(L, idx)) {
		coco_buf_printf(err, "%s: options must be a table, got %s", what, lua_kind(L, idx));
		return -1;
	}
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		/* [.., key, value] */
		if (lua_type(L, -2) != LUA_TSTRING) {
			lua_pop(L, 2);
			coco_buf_printf(err, "%s: option keys must be names", what);
			return -1;
		}
		const char *key = lua_tostring(L, -2);
		int i = coco_opt_index(defs, key);
		if (i < 0) {
			coco_buf_printf(err, "%s: unknown option '%s'; options: ", what, key);
			coco_opt_names(defs, err);
			if (!n)
				coco_buf_adds(err, "(none)");
			lua_pop(L, 2);
			return -1;
		}
		coco_optval *v = &vals[i];
		int vt = lua_type(L, -1), ok = 1;
		switch (defs[i].kind) {
		case COCO_OPT_STR:
			ok = vt == LUA_TSTRING;
			if (ok)
				v->s = lua_tostring(L, -1);
			break;
		case COCO_OPT_INT:
		case COCO_OPT_NUM: {
			ok = vt == LUA_TNUMBER;
			if (!ok)
				break;
			/* NaN, infinities and integers past 2^53 (math.huge, 1e308)
			 * have no int64 value: refuse them here, so no connector
			 * converts one */
			double x = lua_tonumber(L, -1);
			int whole = defs[i].kind == COCO_OPT_INT;
			if (!(fabs(x) <= OPT_NUM_MAX) || (whole && x != floor(x))) {
				coco_buf_printf(err, "%s: option '%s' must be %s from -2^53 to 2^53, got %s",
					what, key, whole ? "a whole number" : "a finite number",
					x != x ? "nan" : lua_tostring(L, -1));
				lua_pop(L, 2);
				return -1;
			}
			v->num = x;
			v->i = (int64_t)x;
			break;
		}
		case COCO_OPT_BOOL:
			ok = vt == LUA_TBOOLEAN;
			v->b = lua_toboolean(L, -1);
			break;
		case COCO_OPT_STRLIST: {
			if (vt == LUA_TSTRING) {   /* a single pattern is a list of one */
				v->list = coco_arena_alloc(a, sizeof(char *));
				v->list[0] = lua_tostring(L, -1);
				v->nlist = 1;
				break;
			}
			ok = vt == LUA_TTABLE;
			if (!ok)
				break;
			size_t m = lua_objlen(L, -1);
			v->list = coco_arena_alloc(a, (m + 1) * sizeof(char *));
			for (size_t k = 0; k < m && ok; k++) {
				lua_rawgeti(L, -1, (int)k + 1);
				ok = lua_type(L, -1) == LUA_TSTRING;
				v->list[k] = lua_tostring(L, -1);   /* kept alive by the list table */
				lua_pop(L, 1);
			}
			v->nlist = m;
			break;
		}
		case COCO_OPT_JSON:
			/* JSON options are pre-encoded by the Lua side into strings */
			ok = vt == LUA_TSTRING;
			if (ok)
				v->s = lua_tostring(L, -1);
			break;
		}
		if (!ok) {
			coco_buf_printf(err, "%s: option '%s' must be %s, got %s", what, key,
				kind_word(defs[i].kind), lua_kind(L, -1));
			lua_pop(L, 2);
			return -1;
		}
		v->set = 1;
		lua_pop(L, 1);
	}
required:
	for (size_t i = 0; i < n; i++)
		if (defs[i].required && !vals[i].set) {
			coco_buf_printf(err, "%s: missing required option '%s'", what, defs[i].name);
			return -1;
		}
	return 0;
}

void coco_lua_push_json(lua_State *L, const char *s, size_t n)
{
	coco_json_trim(&s, &n);
	if (!n) {
		lua_pushnil(L);
		return;
	}
	coco_json_iter it;
	int kind = coco_json_iter_init(&it, s, n);
	if (kind) {
		lua_newtable(L);
		const char *k, *v;
		size_t nk, nv;
		int i = 0;
		coco_buf key = {0};
		while (coco_json_iter_next(&it, &k, &nk, &v, &nv)) {
			if (kind == '[') {
				coco_lua_push_json(L, v, nv);
				lua_rawseti(L, -2, ++i);
				continue;
			}
			coco_buf_clear(&key);
			coco_json_str_decode(k, nk, &key);
			lua_pushlstring(L, key.p ? key.p : "", key.n);
			coco_lua_push_json(L, v, nv);
			lua_rawset(L, -3);
		}
		coco_buf_free(&key);
		return;
	}
	if (*s == '"') {
		coco_buf b = {0};
		coco_json_str_decode(s, n, &b);
		lua_pushlstring(L, b.p ? b.p : "", b.n);
		coco_buf_free(&b);
	} else if (*s == 't' || *s == 'f') {
		lua_pushboolean(L, *s == 't');
	} else if (*s == 'n') {
		lua_pushnil(L);
	} else {
		char num[64];
		size_t m = n < sizeof num - 1 ? n : sizeof num - 1;
		memcpy(num, s, m);
		num[m] = 0;
		lua_pushnumber(L, strtod(num, NULL));
	}
}

const coco_type *coco_lua_type_copy(coco_arena *a, const coco_type *t)
{
	switch (t->kind) {
	case COCO_STRUCT:
	case COCO_TABLE: {
		coco_field *f = coco_arena_alloc(a, (t->nfields + 1) * sizeof *f);
		for (uint32_t i = 0; i < t->nfields; i++) {
			f[i].name = coco_arena_strdup(a, t->fields[i].name);
			f[i].type = coco_lua_type_copy(a, t->fields[i].type);
		}
		return t->kind == COCO_STRUCT ? coco_type_struct(a, f, t->nfields)
			: coco_type_table(a, f, t->nfields, t->nkeys);
	}
	case COCO_VECTOR:
		return coco_type_vector(a, t->dim);
	default:
		return coco_type_by_name(coco_kind_name(t->kind));
	}
}
