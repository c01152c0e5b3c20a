#pragma once
/* Typed values and their schemas.
 *
 * A coco_type describes a value: a scalar kind, a vector<float32,N>, a
 * struct (ordered named fields) or a table (rows that are structs; the
 * first nkeys fields form the row key, nkeys = 0 for an ordered list).
 * Types are immutable once built and live in the graph's arena.
 *
 * A coco_value is a 32-byte tagged union. Strings, bytes and nested
 * values point into an arena (or into source buffers) and are never
 * freed one by one. */
#include <stddef.h>
#include <stdint.h>
#include "engine/buf.h"

typedef enum coco_kind {
	COCO_NULL = 0,
	COCO_BOOL,
	COCO_INT64,
	COCO_FLOAT32,
	COCO_FLOAT64,
	COCO_STR,
	COCO_BYTES,
	COCO_JSON,      /* JSON text in u.s / n */
	COCO_RANGE,     /* [u.r[0], u.r[1]) byte offsets */
	COCO_VECTOR,    /* n float32 in u.vec */
	COCO_STRUCT,    /* n fields in u.fields */
	COCO_TABLE,     /* n rows in u.rows; each row a COCO_STRUCT value */
	COCO_KIND_COUNT
} coco_kind;

typedef struct coco_type coco_type;

typedef struct coco_field {
	const char *name;
	const coco_type *type;
} coco_field;

struct coco_type {
	coco_kind kind;
	uint32_t dim;               /* VECTOR: N, 0 = any length */
	uint32_t nfields;           /* STRUCT, TABLE (row fields) */
	uint32_t nkeys;             /* TABLE: leading key fields; 0 = list */
	const coco_field *fields;   /* STRUCT, TABLE */
};

/* Shared scalar types. */
extern const coco_type coco_t_null, coco_t_bool, coco_t_int64, coco_t_float32,
	coco_t_float64, coco_t_str, coco_t_bytes, coco_t_json, coco_t_range,
	coco_t_vector_any;

typedef struct coco_value coco_value;
struct coco_value {
	uint8_t kind;               /* coco_kind; COCO_NULL is the null value */
	size_t n;                   /* STR/BYTES/JSON length, VECTOR dim,
	                               STRUCT field count, TABLE row count */
	union {
		int b;
		int64_t i;
		double f;               /* FLOAT32 and FLOAT64 */
		const char *s;          /* STR, BYTES, JSON */
		int64_t r[2];           /* RANGE */
		const float *vec;       /* VECTOR */
		coco_value *fields;     /* STRUCT */
		coco_value *rows;       /* TABLE */
	} u;
};

static inline coco_value coco_v_null(void) { coco_value v = {0}; return v; }
static inline coco_value coco_v_str(const char *s, size_t n)
{ coco_value v = {0}; v.kind = COCO_STR; v.n = n; v.u.s = s; return v; }
static inline coco_value coco_v_int(int64_t i)
{ coco_value v = {0}; v.kind = COCO_INT64; v.u.i = i; return v; }
static inline coco_value coco_v_struct(coco_value *fields, size_t n)
{ coco_value v = {0}; v.kind = COCO_STRUCT; v.n = n; v.u.fields = fields; return v; }

const char *coco_kind_name(coco_kind k);           /* "str", "int64", ... */
/* Parse a scalar type name ("str", "int64", "float32", "float64", "bool",
 * "bytes", "json", "range"); NULL if unknown. */
const coco_type *coco_type_by_name(const char *name);

/* Type constructors; results live in arena a. */
coco_type *coco_type_vector(coco_arena *a, uint32_t dim);
coco_type *coco_type_struct(coco_arena *a, const coco_field *fields, uint32_t n);
coco_type *coco_type_table(coco_arena *a, const coco_field *fields, uint32_t n, uint32_t nkeys);

int coco_type_equal(const coco_type *a, const coco_type *b);
/* Appends a readable form: "str", "vector<float32,384>",
 * "struct{offset: int64, line: int64}", "table[key: str]{...}". */
void coco_type_format(const coco_type *t, coco_buf *out);
/* Index of field `name` in a struct/table type, or -1; _n: of the field
 * named name[0, n) (a name holding a NUL names no field). */
int coco_type_field(const coco_type *t, const char *name);
int coco_type_field_n(const coco_type *t, const char *name, size_t n);
/* Appends "a, b, c" (the field names). */
void coco_type_field_names(const coco_type *t, coco_buf *out);
/* 1 if v conforms to t (null conforms to everything). */
int coco_value_conforms(const coco_value *v, const coco_type *t);

/* Binary, self-describing encoding (kind tag + payload), used for state
 * keys and memoised results. Byte-wise equal encodings <=> equal values. */
void coco_value_encode(const coco_value *v, coco_buf *out);
/* Decodes one value starting at *p, advancing it; allocation in a.
 * Returns 0, or -1 on malformed input. */
int coco_value_decode(const char **p, const char *end, coco_arena *a, coco_value *out);

/* Deep copy into arena a (strings included). */
void coco_value_copy(coco_arena *a, const coco_value *src, coco_value *dst);
int coco_value_equal(const coco_value *a, const coco_value *b);

/* JSON text of a value: str -> "..." (escaped), bytes -> base64 string,
 * json -> as is, range -> [start,end], vector -> [..], struct -> {"field":..}
 * (needs t for field names; t may be NULL -> arrays), table -> [ {...}, ...]. */
void coco_value_to_json(const coco_value *v, const coco_type *t, coco_buf *out);
/* Appends s as a JSON string literal (quoted, escaped). */
void coco_json_str(coco_buf *out, const char *s, size_t n);
