#pragma once
/* A small JSON reader over JSON text (RFC 8259), without a tree: check a
 * text, walk the elements of an array or the members of an object, read a
 * member by name. Values are spans of the text (zero copy). Used by
 * ParseJson, by the evaluator for `doc.meta.author` on json values, and to
 * read json options (custom_languages). */
#include <stddef.h>

#include "engine/buf.h"

/* Check that s[0, n) is one JSON value, with whitespace around it allowed.
 * Returns 0, or -1 and sets *err_at (byte offset) and *err_msg (static
 * text: "expected ',' or '}'", "invalid escape", ...). */
int coco_json_check(const char *s, size_t n, size_t *err_at, const char **err_msg);

/* The first non-whitespace byte of the value in s[0, n) (trimmed span). */
void coco_json_trim(const char **s, size_t *n);

/* Walking an array or object value (from a checked text). */
typedef struct coco_json_iter {
	const char *p, *end;
	char close;                   /* ']' or '}' */
	int first;
} coco_json_iter;

/* Start walking the value s[0, n): returns '[' or '{', or 0 when the value
 * is not an array or an object. */
int coco_json_iter_init(coco_json_iter *it, const char *s, size_t n);
/* The next element: for objects, *key and *nkey are the member's key as written
 * (with its quotes), for arrays it is set to NULL. Returns 1, or 0 at the
 * end (or on malformed text). */
int coco_json_iter_next(coco_json_iter *it, const char **key, size_t *nkey,
	const char **val, size_t *nval);

/* 1 if the JSON string literal lit[0, n) (with quotes) decodes to name. */
int coco_json_key_eq(const char *lit, size_t n, const char *name, size_t nname);
/* Decode the JSON string literal lit[0, n) (with quotes) into out (appended).
 * Returns 0, or -1 if lit is not a string. */
int coco_json_str_decode(const char *lit, size_t n, coco_buf *out);

/* The member `name` of the object s[0, n), or, when s is an array and name
 * is a positive decimal integer, its name-th element (1-based, as Lua
 * counts). Returns 1 and the value's span, or 0 (not found, not an object
 * or array). */
int coco_json_get(const char *s, size_t n, const char *name, size_t nname,
	const char **val, size_t *nval);
/* The string member `name` of the object s[0, n), decoded into out
 * (cleared first). Returns 0, or -1 if absent or not a string. */
int coco_json_get_str(const char *s, size_t n, const char *name, coco_buf *out);
/* The JSON value s[0, n) as a non-negative integer of at most 9 digits,
 * or -1 (not such an integer). */
long coco_json_uint(const char *s, size_t n);
/* The JSON number s[0, n) (a span of at most 63 bytes) as a double: 0, or
 * -1 when it is not a number. */
int coco_json_num(const char *s, size_t n, double *out);
