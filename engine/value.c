/* Types, values, their binary encoding and their JSON form. */
#include "engine/value.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- types ---------------------------------------------------------------- */

const coco_type coco_t_null = { .kind = COCO_NULL };
const coco_type coco_t_bool = { .kind = COCO_BOOL };
const coco_type coco_t_int64 = { .kind = COCO_INT64 };
const coco_type coco_t_float32 = { .kind = COCO_FLOAT32 };
const coco_type coco_t_float64 = { .kind = COCO_FLOAT64 };
const coco_type coco_t_str = { .kind = COCO_STR };
const coco_type coco_t_bytes = { .kind = COCO_BYTES };
const coco_type coco_t_json = { .kind = COCO_JSON };
const coco_type coco_t_range = { .kind = COCO_RANGE };
const coco_type coco_t_vector_any = { .kind = COCO_VECTOR };

static const char *const kind_names[COCO_KIND_COUNT] = {
	"null", "bool", "int64", "float32", "float64", "str", "bytes", "json",
	"range", "vector", "struct", "table",
};

/* Name of a kind ("str", "int64", ...); "?" when out of range. */
const char *coco_kind_name(coco_kind k)
{
	return (unsigned)k < COCO_KIND_COUNT ? kind_names[k] : "?";
}

/* Scalar type by name ("str", "int64", ...); NULL if unknown. */
const coco_type *coco_type_by_name(const char *name)
{
	static const coco_type *const scalars[] = {
		&coco_t_bool, &coco_t_int64, &coco_t_float32, &coco_t_float64,
		&coco_t_str, &coco_t_bytes, &coco_t_json, &coco_t_range,
	};
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof scalars / sizeof *scalars; i++)
		if (!strcmp(kind_names[scalars[i]->kind], name))
			return scalars[i];
	return NULL;
}

/* vector<float32,dim> type in arena a; dim 0 = any length. */
coco_type *coco_type_vector(coco_arena *a, uint32_t dim)
{
	coco_type *t = coco_arena_alloc(a, sizeof *t);
	t->kind = COCO_VECTOR;
	t->dim = dim;
	return t;
}

static coco_type *type_fields(coco_arena *a, coco_kind kind, const coco_field *fields, uint32_t n)
{
	coco_type *t = coco_arena_alloc(a, sizeof *t);
	t->kind = kind;
	t->nfields = n;
	if (n) {
		coco_field *f = coco_arena_alloc(a, n * sizeof *f);
		for (uint32_t i = 0; i < n; i++) {
			f[i].name = fields[i].name ? coco_arena_strdup(a, fields[i].name) : NULL;
			f[i].type = fields[i].type;
		}
		t->fields = f;
	}
	return t;
}

/* Struct type in arena a; the field array and names are copied. */
coco_type *coco_type_struct(coco_arena *a, const coco_field *fields, uint32_t n)
{
	return type_fields(a, COCO_STRUCT, fields, n);
}

/* Table type in arena a: rows of `fields`, the first nkeys of which form
 * the row key (0 = ordered list). The field array and names are copied. */
coco_type *coco_type_table(coco_arena *a, const coco_field *fields, uint32_t n, uint32_t nkeys)
{
	coco_type *t = type_fields(a, COCO_TABLE, fields, n);
	t->nkeys = nkeys < n ? nkeys : n;
	return t;
}

static int name_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* 1 if a and b describe the same type (deep). */
int coco_type_equal(const coco_type *a, const coco_type *b)
{
	if (a == b)
		return 1;
	if (!a || !b || a->kind != b->kind)
		return 0;
	switch (a->kind) {
	case COCO_VECTOR:
		return a->dim == b->dim;
	case COCO_TABLE:
		if (a->nkeys != b->nkeys)
			return 0;
		/* fallthrough */
	case COCO_STRUCT:
		if (a->nfields != b->nfields)
			return 0;
		for (uint32_t i = 0; i < a->nfields; i++)
			if (!name_eq(a->fields[i].name, b->fields[i].name) ||
			    !coco_type_equal(a->fields[i].type, b->fields[i].type))
				return 0;
		return 1;
	default:
		return 1;
	}
}

static void format_fields(const coco_type *t, uint32_t from, uint32_t to, coco_buf *out)
{
	for (uint32_t i = from; i < to; i++) {
		if (i > from)
			coco_buf_adds(out, ", ");
		coco_buf_adds(out, t->fields[i].name ? t->fields[i].name : "?");
		coco_buf_adds(out, ": ");
		coco_type_format(t->fields[i].type, out);
	}
}

/* Appends a readable form of t: "str", "vector<float32,384>",
 * "struct{offset: int64, line: int64}", "table[key: str]{text: str}",
 * "list{text: str}". */
void coco_type_format(const coco_type *t, coco_buf *out)
{
	if (!t) {
		coco_buf_adds(out, "?");
		return;
	}
	switch (t->kind) {
	case COCO_VECTOR:
		if (t->dim)
			coco_buf_printf(out, "vector<float32,%u>", t->dim);
		else
			coco_buf_adds(out, "vector<float32>");
		break;
	case COCO_STRUCT:
		coco_buf_adds(out, "struct{");
		format_fields(t, 0, t->nfields, out);
		coco_buf_putc(out, '}');
		break;
	case COCO_TABLE: {
		uint32_t nk = t->nkeys < t->nfields ? t->nkeys : t->nfields;
		if (nk) {
			coco_buf_adds(out, "table[");
			format_fields(t, 0, nk, out);
			coco_buf_adds(out, "]{");
		} else {
			coco_buf_adds(out, "list{");
		}
		format_fields(t, nk, t->nfields, out);
		coco_buf_putc(out, '}');
		break;
	}
	default:
		coco_buf_adds(out, coco_kind_name(t->kind));
		break;
	}
}

/* Index of field `name` in a struct or table type, or -1. */
int coco_type_field(const coco_type *t, const char *name)
{
	return name ? coco_type_field_n(t, name, strlen(name)) : -1;
}

int coco_type_field_n(const coco_type *t, const char *name, size_t n)
{
	if (!t || (t->kind != COCO_STRUCT && t->kind != COCO_TABLE))
		return -1;
	for (uint32_t i = 0; i < t->nfields; i++) {
		const char *f = t->fields[i].name;
		if (f && strlen(f) == n && (!n || !memcmp(f, name, n)))
			return (int)i;
	}
	return -1;
}

/* Appends the field names of a struct or table type: "a, b, c". */
void coco_type_field_names(const coco_type *t, coco_buf *out)
{
	if (!t || (t->kind != COCO_STRUCT && t->kind != COCO_TABLE))
		return;
	for (uint32_t i = 0; i < t->nfields; i++) {
		if (i)
			coco_buf_adds(out, ", ");
		coco_buf_adds(out, t->fields[i].name ? t->fields[i].name : "?");
	}
}

static int fields_conform(const coco_value *v, const coco_type *t)
{
	if (v->kind != COCO_STRUCT || v->n != t->nfields)
		return 0;
	for (size_t i = 0; i < v->n; i++)
		if (!coco_value_conforms(&v->u.fields[i], t->fields[i].type))
			return 0;
	return 1;
}

/* 1 if v conforms to t: same kind (no numeric widening), vector length
 * matching t->dim unless it is 0, struct and table rows field by field.
 * Null conforms to every type; a NULL t accepts anything. */
int coco_value_conforms(const coco_value *v, const coco_type *t)
{
	if (!t || v->kind == COCO_NULL)
		return 1;
	if (v->kind != t->kind)
		return 0;
	switch (t->kind) {
	case COCO_VECTOR:
		return !t->dim || v->n == t->dim;
	case COCO_STRUCT:
		return fields_conform(v, t);
	case COCO_TABLE:
		for (size_t i = 0; i < v->n; i++)
			if (!fields_conform(&v->u.rows[i], t))
				return 0;
		return 1;
	default:
		return 1;
	}
}

/* ---- binary encoding ------------------------------------------------------ */

static uint64_t zigzag(int64_t i) { return ((uint64_t)i << 1) ^ (uint64_t)(i >> 63); }
static int64_t unzigzag(uint64_t u) { return (int64_t)((u >> 1) ^ (0 - (u & 1))); }

static uint32_t f32_bits(double d)
{
	float f = (float)d;
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static uint64_t f64_bits(double d)
{
	uint64_t u;
	memcpy(&u, &d, 8);
	return u;
}

static void put_le(coco_buf *out, uint64_t v, int n)
{
	unsigned char t[8];
	for (int i = 0; i < n; i++)
		t[i] = (unsigned char)(v >> (8 * i));
	coco_buf_add(out, t, (size_t)n);
}

static uint64_t get_le(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Encoding: one kind byte, then
 *   bool     1 byte (0 or 1)
 *   int64    zigzag varint
 *   float32  4 bytes IEEE little-endian;  float64  8 bytes
 *   str, bytes, json   varint length + bytes
 *   range    two zigzag varints
 *   vector   varint dim + 4*dim bytes
 *   struct   varint n + n encoded values
 *   table    varint nrows + nrows encoded struct values
 * Varints are minimal LEB128, so equal values encode to equal bytes. */
void coco_value_encode(const coco_value *v, coco_buf *out)
{
	unsigned kind = v->kind < COCO_KIND_COUNT ? v->kind : COCO_NULL;
	coco_buf_putc(out, (char)kind);
	switch (kind) {
	case COCO_BOOL:
		coco_buf_putc(out, v->u.b ? 1 : 0);
		break;
	case COCO_INT64:
		coco_buf_varint(out, zigzag(v->u.i));
		break;
	case COCO_FLOAT32:
		put_le(out, f32_bits(v->u.f), 4);
		break;
	case COCO_FLOAT64:
		put_le(out, f64_bits(v->u.f), 8);
		break;
	case COCO_STR:
	case COCO_BYTES:
	case COCO_JSON:
		coco_buf_varint(out, v->n);
		coco_buf_add(out, v->u.s, v->n);
		break;
	case COCO_RANGE:
		coco_buf_varint(out, zigzag(v->u.r[0]));
		coco_buf_varint(out, zigzag(v->u.r[1]));
		break;
	case COCO_VECTOR:
		coco_buf_varint(out, v->n);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		coco_buf_add(out, v->u.vec, v->n * 4);
#else
		coco_buf_reserve(out, v->n * 4);
		for (size_t i = 0; i < v->n; i++) {
			uint32_t u;
			memcpy(&u, &v->u.vec[i], 4);
			put_le(out, u, 4);
		}
#endif
		break;
	case COCO_STRUCT:
	case COCO_TABLE:
		coco_buf_varint(out, v->n);
		for (size_t i = 0; i < v->n; i++)
			coco_value_encode(&v->u.fields[i], out);
		break;
	default:
		break;
	}
}

typedef struct dec {
	const unsigned char *p, *end;
	coco_arena *a;
} dec;

#define DECODE_MAX_DEPTH 64

/* Minimal LEB128 only: overlong forms and values past 64 bits are rejected. */
static int dec_varint(dec *d, uint64_t *v)
{
	uint64_t x = 0;
	for (int shift = 0;; shift += 7) {
		if (d->p >= d->end)
			return -1;
		unsigned c = *d->p++;
		if (shift == 63 && c > 1)
			return -1;
		x |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			if (c == 0 && shift)
				return -1;
			*v = x;
			return 0;
		}
	}
}

static size_t dec_left(const dec *d) { return (size_t)(d->end - d->p); }

static int dec_value(dec *d, coco_value *out, int depth)
{
	uint64_t u, w;
	if (d->p >= d->end || depth > DECODE_MAX_DEPTH)
		return -1;
	unsigned kind = *d->p++;
	coco_value v = {0};
	v.kind = (uint8_t)kind;
	switch (kind) {
	case COCO_NULL:
		break;
	case COCO_BOOL:
		if (d->p >= d->end || *d->p > 1)
			return -1;
		v.u.b = *d->p++;
		break;
	case COCO_INT64:
		if (dec_varint(d, &u))
			return -1;
		v.u.i = unzigzag(u);
		break;
	case COCO_FLOAT32: {
		if (dec_left(d) < 4)
			return -1;
		uint32_t b = (uint32_t)get_le(d->p, 4);
		/* a signalling NaN would not survive float -> double -> float,
		 * and the encoder never writes one */
		if ((b & 0x7f800000) == 0x7f800000 && (b & 0x007fffff) && !(b & 0x00400000))
			return -1;
		float f;
		memcpy(&f, &b, 4);
		v.u.f = f;
		d->p += 4;
		break;
	}
	case COCO_FLOAT64:
		if (dec_left(d) < 8)
			return -1;
		u = get_le(d->p, 8);
		memcpy(&v.u.f, &u, 8);
		d->p += 8;
		break;
	case COCO_STR:
	case COCO_BYTES:
	case COCO_JSON:
		if (dec_varint(d, &u) || u > dec_left(d))
			return -1;
		v.n = (size_t)u;
		v.u.s = coco_arena_strndup(d->a, (const char *)d->p, v.n);
		d->p += v.n;
		break;
	case COCO_RANGE:
		if (dec_varint(d, &u) || dec_varint(d, &w))
			return -1;
		v.u.r[0] = unzigzag(u);
		v.u.r[1] = unzigzag(w);
		break;
	case COCO_VECTOR: {
		if (dec_varint(d, &u) || u > dec_left(d) / 4)
			return -1;
		v.n = (size_t)u;
		if (v.n) {
			float *vec = coco_arena_alloc(d->a, v.n * 4);
			for (size_t i = 0; i < v.n; i++) {
				uint32_t b = (uint32_t)get_le(d->p + 4 * i, 4);
				memcpy(&vec[i], &b, 4);
			}
			v.u.vec = vec;
			d->p += v.n * 4;
		}
		break;
	}
	case COCO_STRUCT:
	case COCO_TABLE:
		/* every encoded value takes at least one byte */
		if (dec_varint(d, &u) || u > dec_left(d))
			return -1;
		v.n = (size_t)u;
		if (v.n) {
			coco_value *f = coco_arena_alloc(d->a, v.n * sizeof *f);
			for (size_t i = 0; i < v.n; i++) {
				if (dec_value(d, &f[i], depth + 1))
					return -1;
				if (kind == COCO_TABLE && f[i].kind != COCO_STRUCT)
					return -1;
			}
			v.u.fields = f;
		}
		break;
	default:
		return -1;
	}
	*out = v;
	return 0;
}

/* Decodes one value at *p (not past end) into *out, allocating strings
 * and arrays in a, and advances *p. Returns 0, or -1 on truncated or
 * malformed input (then *p and *out are unchanged). */
int coco_value_decode(const char **p, const char *end, coco_arena *a, coco_value *out)
{
	dec d = { (const unsigned char *)*p, (const unsigned char *)end, a };
	coco_value v;
	if (!*p || end < *p || dec_value(&d, &v, 0))
		return -1;
	*out = v;
	*p = (const char *)d.p;
	return 0;
}

/* ---- copy and equality ---------------------------------------------------- */

/* Deep copy of src into dst, all memory in a (strings NUL-terminated).
 * dst may be src. */
void coco_value_copy(coco_arena *a, const coco_value *src, coco_value *dst)
{
	coco_value v = *src;
	switch (v.kind) {
	case COCO_STR:
	case COCO_BYTES:
	case COCO_JSON:
		v.u.s = coco_arena_strndup(a, v.n ? src->u.s : "", v.n);
		break;
	case COCO_VECTOR:
		if (v.n) {
			float *vec = coco_arena_alloc(a, v.n * sizeof *vec);
			memcpy(vec, src->u.vec, v.n * sizeof *vec);
			v.u.vec = vec;
		} else {
			v.u.vec = NULL;
		}
		break;
	case COCO_STRUCT:
	case COCO_TABLE:
		if (v.n) {
			coco_value *f = coco_arena_alloc(a, v.n * sizeof *f);
			for (size_t i = 0; i < v.n; i++)
				coco_value_copy(a, &src->u.fields[i], &f[i]);
			v.u.fields = f;
		} else {
			v.u.fields = NULL;
		}
		break;
	default:
		break;
	}
	*dst = v;
}

/* 1 if a and b are equal: same kind and deeply equal payloads. Floats
 * compare by bits (as stored: float32 after rounding to float), so equal
 * values are exactly those with equal encodings. */
int coco_value_equal(const coco_value *a, const coco_value *b)
{
	if (a->kind != b->kind)
		return 0;
	switch (a->kind) {
	case COCO_BOOL:
		return !a->u.b == !b->u.b;
	case COCO_INT64:
		return a->u.i == b->u.i;
	case COCO_FLOAT32:
		return f32_bits(a->u.f) == f32_bits(b->u.f);
	case COCO_FLOAT64:
		return f64_bits(a->u.f) == f64_bits(b->u.f);
	case COCO_STR:
	case COCO_BYTES:
	case COCO_JSON:
		return a->n == b->n && (!a->n || !memcmp(a->u.s, b->u.s, a->n));
	case COCO_RANGE:
		return a->u.r[0] == b->u.r[0] && a->u.r[1] == b->u.r[1];
	case COCO_VECTOR:
		return a->n == b->n && (!a->n || !memcmp(a->u.vec, b->u.vec, a->n * 4));
	case COCO_STRUCT:
	case COCO_TABLE:
		if (a->n != b->n)
			return 0;
		for (size_t i = 0; i < a->n; i++)
			if (!coco_value_equal(&a->u.fields[i], &b->u.fields[i]))
				return 0;
		return 1;
	default:
		return 1;
	}
}

/* ---- JSON ----------------------------------------------------------------- */

/* Bytes that go into a JSON string as they are: ASCII other than control
 * characters, '"' and '\\'. */
static inline int json_plain(unsigned c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* Length of the valid UTF-8 sequence at s[0..n) (n >= 1, s[0] >= 0x80),
 * or minus the length of its maximal ill-formed subpart (at least 1). */
static long utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t need;
	unsigned lo = 0x80, hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		need = 1;
	else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return -1;
	size_t i = 1;
	if (i >= n || s[i] < lo || s[i] > hi)
		return -1;
	for (i = 2; i <= need; i++)
		if (i >= n || (s[i] & 0xc0) != 0x80)
			return -(long)i;
	return (long)i;
}

/* Appends s[0..n) as a JSON string literal: '"' and '\\' escaped, control
 * characters as \u00XX, invalid UTF-8 replaced by U+FFFD. */
void coco_json_str(coco_buf *out, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	coco_buf_reserve(out, n + 2);
	coco_buf_putc(out, '"');
	while (i < n) {
		size_t j = i;
		while (j < n && json_plain(s[j]))
			j++;
		if (j > i) {
			coco_buf_add(out, s + i, j - i);
			i = j;
			if (i == n)
				break;
		}
		unsigned c = s[i];
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			coco_buf_add(out, e, 2);
			i++;
		} else if (c < 0x20) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			coco_buf_add(out, e, 6);
			i++;
		} else {
			long k = utf8_seq(s + i, n - i);
			if (k > 0) {
				coco_buf_add(out, s + i, (size_t)k);
				i += (size_t)k;
			} else {
				coco_buf_add(out, "\xef\xbf\xbd", 3);
				i += (size_t)-k;
			}
		}
	}
	coco_buf_putc(out, '"');
}

static void json_base64(coco_buf *out, const unsigned char *s, size_t n)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	coco_buf_reserve(out, (n + 2) / 3 * 4 + 2);
	coco_buf_putc(out, '"');
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t x = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		char e[4] = { b64[x >> 18], b64[(x >> 12) & 63], b64[(x >> 6) & 63], b64[x & 63] };
		coco_buf_add(out, e, 4);
	}
	if (n - i == 1) {
		uint32_t x = (uint32_t)s[i] << 16;
		char e[4] = { b64[x >> 18], b64[(x >> 12) & 63], '=', '=' };
		coco_buf_add(out, e, 4);
	} else if (n - i == 2) {
		uint32_t x = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
		char e[4] = { b64[x >> 18], b64[(x >> 12) & 63], b64[(x >> 6) & 63], '=' };
		coco_buf_add(out, e, 4);
	}
	coco_buf_putc(out, '"');
}

/* Shortest %.Ng (N in [lo, 17]) that reads back as d; null for NaN/Inf. */
static void json_double(coco_buf *out, double d, int lo, int single)
{
	if (!isfinite(d)) {
		coco_buf_adds(out, "null");
		return;
	}
	char t[40];
	for (int prec = lo;; prec++) {
		snprintf(t, sizeof t, "%.*g", prec, d);
		if (prec >= (single ? 9 : 17))
			break;
		if (single ? strtof(t, NULL) == (float)d : strtod(t, NULL) == d)
			break;
	}
	coco_buf_adds(out, t);
}

static void json_fields(const coco_value *v, const coco_type *t, coco_buf *out)
{
	if (t && t->nfields == v->n && (t->kind == COCO_STRUCT || t->kind == COCO_TABLE)) {
		coco_buf_putc(out, '{');
		for (size_t i = 0; i < v->n; i++) {
			if (i)
				coco_buf_putc(out, ',');
			const char *name = t->fields[i].name ? t->fields[i].name : "";
			coco_json_str(out, name, strlen(name));
			coco_buf_putc(out, ':');
			coco_value_to_json(&v->u.fields[i], t->fields[i].type, out);
		}
		coco_buf_putc(out, '}');
	} else {
		coco_buf_putc(out, '[');
		for (size_t i = 0; i < v->n; i++) {
			if (i)
				coco_buf_putc(out, ',');
			coco_value_to_json(&v->u.fields[i], NULL, out);
		}
		coco_buf_putc(out, ']');
	}
}

/* Appends the JSON text of v (always valid JSON): str as an escaped
 * string, bytes as a base64 string, json as is, range as [start,end],
 * vector as an array, struct as an object named by t's fields (an array
 * when t is NULL or does not match), table as an array of rows; floats
 * print in the fewest digits that read back exactly, NaN and Inf as null. */
void coco_value_to_json(const coco_value *v, const coco_type *t, coco_buf *out)
{
	switch (v->kind) {
	case COCO_BOOL:
		coco_buf_adds(out, v->u.b ? "true" : "false");
		break;
	case COCO_INT64:
		coco_buf_printf(out, "%lld", (long long)v->u.i);
		break;
	case COCO_FLOAT32:
		json_double(out, (float)v->u.f, 6, 1);
		break;
	case COCO_FLOAT64:
		json_double(out, v->u.f, 15, 0);
		break;
	case COCO_STR:
		coco_json_str(out, v->u.s, v->n);
		break;
	case COCO_BYTES:
		json_base64(out, (const unsigned char *)v->u.s, v->n);
		break;
	case COCO_JSON:
		if (v->n)
			coco_buf_add(out, v->u.s, v->n);
		else
			coco_buf_adds(out, "null");
		break;
	case COCO_RANGE:
		coco_buf_printf(out, "[%lld,%lld]", (long long)v->u.r[0], (long long)v->u.r[1]);
		break;
	case COCO_VECTOR:
		coco_buf_putc(out, '[');
		for (size_t i = 0; i < v->n; i++) {
			if (i)
				coco_buf_putc(out, ',');
			json_double(out, v->u.vec[i], 6, 1);
		}
		coco_buf_putc(out, ']');
		break;
	case COCO_STRUCT:
		json_fields(v, t, out);
		break;
	case COCO_TABLE:
		coco_buf_putc(out, '[');
		for (size_t i = 0; i < v->n; i++) {
			if (i)
				coco_buf_putc(out, ',');
			const coco_value *row = &v->u.rows[i];
			if (row->kind == COCO_STRUCT)
				json_fields(row, t && t->kind == COCO_TABLE ? t : NULL, out);
			else
				coco_value_to_json(row, NULL, out);
		}
		coco_buf_putc(out, ']');
		break;
	default:
		coco_buf_adds(out, "null");
		break;
	}
}
