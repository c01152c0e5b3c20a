#pragma once
/* What the object-store sources (AmazonS3, AzureBlob) share: which keys of
 * a listing are rows, the ordinal of an object version, the row made of a
 * GET's response, and the note about objects over max_file_size. */
#include <stddef.h>
#include <stdint.h>

#include "engine/buf.h"
#include "engine/http.h"
#include "engine/prefetch.h"
#include "engine/ops.h"
#include "engine/value.h"
#include "connectors/localfile/glob.h"

/* The options every object-store source has, in this order (after its
 * own required ones): names: "keys", things: "objects" (for coco show). */
#define COCO_OBJ_OPTDEFS(names, things) \
	{ "prefix", COCO_OPT_STR, 0, "only " names " starting with this (default: all)" }, \
	{ "included_patterns", COCO_OPT_STRLIST, 0, "globs of the " names " to list (default: all)" }, \
	{ "excluded_patterns", COCO_OPT_STRLIST, 0, "globs of the " names " to skip" }, \
	{ "binary", COCO_OPT_BOOL, 0, "read content as bytes, not text (default false)" }, \
	{ "max_file_size", COCO_OPT_INT, 0, "skip " things " larger than this many bytes" }

/* Which keys are rows: under prefix, not a folder marker ("dir/"), wanted
 * by the patterns (no included_patterns: all; excluded_patterns win). */
typedef struct coco_objsel {
	const char *prefix;              /* "" when none */
	size_t nprefix;
	coco_globsel g;
} coco_objsel;

/* 1 if key (n bytes, decoded) is a row of sel. */
int coco_obj_wanted(const coco_objsel *sel, const char *key, size_t n);

/* What COCO_OBJ_OPTDEFS and decode_errors say. */
typedef struct coco_objopts {
	coco_objsel sel;
	int binary, strict;          /* strict: decode_errors = "strict" */
	int64_t max_size;            /* -1: no limit */
} coco_objopts;

/* Checks the options of COCO_OBJ_OPTDEFS at o[0..5) and decode_errors
 * (dec) of source src ("AmazonS3"); with out != NULL, fills it (prefix
 * and compiled patterns in a). 0, or -1 with *err:
 *   "AmazonS3: max_file_size must be >= 0 (got -1)" */
int coco_obj_opts(const coco_optval *o, const coco_optval *dec, const char *src, coco_arena *a,
	coco_objopts *out, char **err);
/* The rows' type, table[filename: str]{content: str | bytes}, with the
 * options of COCO_OBJ_OPTDEFS at o. */
const coco_type *coco_obj_row_type(const coco_optval *o, coco_arena *types);

/* The ordinal of an object version: its last modification in seconds (8
 * bytes, little endian) then its ETag without quotes. Seconds alone miss a
 * same-second overwrite; the ETag sees it. */
void coco_obj_ordinal(coco_buf *out, int64_t mtime, const char *etag, size_t n);

/* How coco_obj_row reads a body: as text (engine/text.h: BOMs, UTF-16,
 * invalid UTF-8 replaced with a warning), as bytes (binary = true), or as
 * text that must be well-formed (decode_errors = "strict"). */
enum { COCO_OBJ_TEXT_STRICT = 0, COCO_OBJ_BYTES = 1, COCO_OBJ_TEXT = 2 };

/* The row of key from r, a 200 response to its GET: {filename, content},
 * content the body read as mode says (where: "s3://docs/", put before the
 * key in messages). *ord gets the ordinal of the version read, from the
 * ETag and Last-Modified headers (empty when one is missing: the row is
 * read again next time). Memory from a. 0; 2 with *err a warning:
 *   "s3://docs/a.txt: not valid UTF-8 (first bad byte at 3); 1 invalid sequence replaced with U+FFFD"
 * or -1 with *err and *ord empty:
 *   "s3://docs/img.bin: not valid UTF-8 (byte 3); set binary = true to read it as bytes, ..." */
int coco_obj_row(const coco_http_resp *r, const char *where, const char *key, size_t n,
	int mode, coco_arena *a, coco_value *row, coco_buf *ord, char **err);

/* The coco_obj_row mode of o: bytes, text, or strict text. */
int coco_obj_mode(const coco_objopts *o);

/* How an object-store source reads a row (coco_obj_read). */
typedef struct coco_objread {
	const char *name;            /* "AmazonS3", for messages */
	const char *where;           /* "s3://docs/": put before the key in messages */
	int mode;                    /* COCO_OBJ_* */
	int64_t max_size;            /* -1: no limit */
	uint64_t *skipped;           /* counts the bodies over max_size */
	/* The message for a failed GET of key (r: its response); returns -1. */
	int (*fail)(void *ud, const char *key, size_t n, const coco_http_resp *r, char **err);
	void *ud;
} coco_objread;

/* coco_source_ops.read of an object-store source whose GETs go through pf
 * (its plan() says which keys are rows): 1 when there is no row (not one
 * of the source's keys; 404: deleted since it was listed; a body over
 * max_size: grown since, counted), else what coco_obj_row makes of the
 * response, or o->fail for any other answer. */
int coco_obj_read(const coco_objread *o, coco_prefetch *pf, coco_http *h, const coco_value *key,
	coco_arena *a, coco_value *row, coco_buf *ord, char **err);

/* After a listing that skipped `large` objects over max_file_size bytes: a
 * note on stderr when the count changed since the last one (*reported):
 *   "coco: AmazonS3: s3://docs/: 3 objects over max_file_size (1048576 bytes) skipped"
 * src: "AmazonS3: s3://docs/"; noun: "object". */
void coco_obj_note_large(const char *src, const char *noun, uint64_t large, uint64_t *reported,
	int64_t max_size);
