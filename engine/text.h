#pragma once
/* Text as CocoIndex reads it: the bytes of a file become UTF-8 text.
 *
 *   EF BB BF ...   UTF-8 with a BOM: the BOM is dropped
 *   FF FE ...      UTF-16 LE with a BOM: converted to UTF-8
 *   FE FF ...      UTF-16 BE with a BOM: converted to UTF-8
 *   anything else  UTF-8 (no guessing: UTF-16 without a BOM is read as
 *                  UTF-8, its NULs kept; a NUL is U+0000, valid text)
 *
 * Malformed input (invalid UTF-8, an unpaired UTF-16 surrogate, an odd
 * trailing byte of UTF-16) becomes U+FFFD, one per maximal invalid subpart
 * as WHATWG's decoder and Python's errors="replace" do, or, strictly, is an
 * error. Valid UTF-8 without a BOM is returned in place: no copy. */
#include "engine/buf.h"
#include "engine/ops.h"

typedef struct coco_text_info {
	const char *encoding;    /* "UTF-8", "UTF-16LE" or "UTF-16BE" */
	size_t nbad;             /* malformed sequences (replaced, unless strict) */
	size_t first_bad;        /* byte offset in the input of the first one */
} coco_text_info;

/* Decode p[0..n) to UTF-8 text. *out: p itself (or p + 3 past a UTF-8
 * BOM) when nothing needs changing, else a NUL-terminated copy in a.
 * Returns 0 when the input was well-formed, 1 when malformed sequences
 * were replaced (info says where), -1 when strict and the input is
 * malformed (*out unset). */
int coco_text_decode(const void *p, size_t n, int strict, coco_arena *a,
	const char **out, size_t *outn, coco_text_info *info);

/* What went wrong, for a row warning or error, appended to b:
 *   not valid UTF-8 (first bad byte at 17); 3 invalid sequences replaced with U+FFFD
 *   not valid UTF-8 (byte 17); set binary = true to read it as bytes     (strict) */
void coco_text_describe(const coco_text_info *info, int strict, coco_buf *b);

/* The content field of a file's row from p[0..n): the bytes when binary,
 * else the text coco_text_decode makes of them (*out may point into p).
 * 0; 2 when malformed sequences were replaced (*out set), -1 when strict
 * and the text is malformed (*out unset): both with what coco_text_describe
 * says appended to what. */
int coco_text_content(const char *p, size_t n, int binary, int strict, coco_arena *a,
	coco_value *out, coco_buf *what);

/* The decode_errors option of a text source: "replace" (the default) or
 * "strict". Sets *strict; -1 with *err on another value:
 *   LocalFile: decode_errors must be "replace" or "strict" (got "ignore") */
#define COCO_TEXT_OPTDEF \
	{ "decode_errors", COCO_OPT_STR, 0, \
	  "text that is not valid UTF-8: \"replace\" with U+FFFD and warn (default), or \"strict\": a row error" }
int coco_text_errors_opt(const coco_optval *v, const char *source, int *strict, char **err);
