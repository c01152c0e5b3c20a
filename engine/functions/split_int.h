#pragma once
/* Internals shared by the splitting functions (SplitRecursively,
 * SplitBySeparators): result rows with positions, separator regexes
 * (PCRE2), the built-in code languages and the code splitter. */
#include <stddef.h>
#include <stdint.h>

#include "engine/ops.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define SPLIT_NELEM(a) (sizeof(a) / sizeof((a)[0]))

static inline int split_is_ws(unsigned char c)
{
	return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static inline int split_is_cont(unsigned char c)
{
	return (c & 0xC0) == 0x80;
}

/* ---- positions and rows (split_rows.c) ----------------------------------- */

/* Line/column of increasing offsets, computed incrementally: 1-based line,
 * 1-based column in code points. */
typedef struct split_lc {
	size_t pos, line, col;
} split_lc;

void split_lc_init(split_lc *c);
/* Move c to offset x (x >= c->pos). */
void split_lc_move(const char *t, split_lc *c, size_t x);

/* The rows of a result table: {location, text, start, end} each. Rows
 * point into the input text. */
typedef struct split_block {
	coco_value *f;                /* ROW_VALUES values a row */
	size_t n;                     /* rows in it */
} split_block;

typedef struct split_rows {
	coco_arena *a;
	size_t n, hint;
	split_block *blk;
	size_t nblk, capblk;
	size_t nfree;                 /* rows left in the last block */
} split_rows;

/* Expect about `hint` rows (a guess: more or fewer cost nothing). */
void split_rows_init(split_rows *r, coco_arena *a, size_t hint);
void split_rows_add(split_rows *r, const char *t, size_t s, size_t e,
	const split_lc *cs, const split_lc *ce);
/* The result: a TABLE value of the rows. */
coco_value split_rows_table(const split_rows *r);
/* table[location: range]{text: str, start: struct{offset, line, column}, end: ...} */
const coco_type *split_row_type(coco_arena *types);

/* The last character boundary in (base, hi] of t[0, n): a UTF-8 sequence
 * is at most 4 bytes, so one starts within 3 bytes before hi unless the
 * text is not valid UTF-8 there (then hi). When chunk_size < 4 and a wider
 * character starts at base, the first boundary after it (the character
 * kept whole). */
size_t split_char_cut(const char *t, size_t n, size_t base, size_t hi);

/* When chunks overlap by `overlap` bytes, the chunk after [ps, pe) starts
 * in [split_overlap_from(), pe) (none when that is >= pe). */
static inline size_t split_overlap_from(size_t ps, size_t pe, size_t overlap)
{
	size_t t0 = pe > overlap ? pe - overlap : 0;
	return t0 <= ps ? ps + 1 : t0;
}
/* The earliest word start in t[t0, pe) (t0 > 0), else the first character
 * boundary there (pe when there is none). */
size_t split_word_start(const char *t, size_t t0, size_t pe);

/* Offset of the first byte of t[0, n) that is not valid UTF-8, or n. */
size_t split_utf8_check(const char *t, size_t n);

/* ---- regexes ----------------------------------------------------------- */

/* Compile a separator regex (UTF-8, multi-line: ^ and $ match at line
 * breaks), JIT-compiled when possible. NULL with *err on a bad pattern:
 *   "'(foo' is not a valid regex: missing closing parenthesis at offset 4" */
pcre2_code *split_regex_compile(const char *pattern, size_t len, char **err);

/* ---- the code splitter (split_code.c) ------------------------------------ */

/* How a built-in language's lines are read (flags of split_code_lang). */
enum {
	CL_SLASH     = 1 << 0,    /* // line comments, block comments */
	CL_HASH      = 1 << 1,    /* # line comments */
	CL_DASH      = 1 << 2,    /* -- line comments */
	CL_TRIPLE    = 1 << 3,    /* """ and ''' strings span lines */
	CL_TRIPLE_DQ = 1 << 4,    /* """ strings span lines */
	CL_BACKTICK  = 1 << 5,    /* `...` strings span lines */
	CL_MARKUP    = 1 << 6,    /* <!-- --> comments */
	CL_STRICT    = 1 << 7,    /* statements end with ; or } (a line ending
	                             otherwise continues the statement) */
	CL_SECTIONS  = 1 << 8,    /* [section] lines are the top level (TOML) */
	CL_PREPROC   = 1 << 9,    /* # lines are preprocessor directives */
	CL_ATTR      = 1 << 10,   /* [Attribute] lines attach to what follows (C#) */
};

/* A built-in code language: its lines are classified by indentation depth,
 * comments, strings and statement ends (see split_code.c). */
typedef struct split_code_lang {
	const char *name;
	const char *const *aliases;   /* other names and file extensions (no dot) */
	unsigned flags;
	const char *const *closers;   /* keywords that continue a construct (else, end) */
} split_code_lang;

extern const split_code_lang split_code_langs[];
extern const size_t split_code_nlangs;

/* A language given by separator regexes, strongest first (custom_languages). */
typedef struct split_regex_lang {
	char *name;
	char **aliases;
	size_t naliases;
	pcre2_code **re;
	size_t nre;
} split_regex_lang;

/* Split t[0, len) with a built-in code language (code != NULL) or a regex
 * language. Sizes already validated. Returns 0, or -1 with *err (regex
 * languages only: invalid UTF-8, a regex match failure). */
int split_code(const char *t, size_t len, const split_code_lang *code,
	const split_regex_lang *rx, size_t cs, size_t min, size_t overlap, split_rows *r, char **err);
