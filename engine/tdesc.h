#pragma once
/* Targets' setup descriptions: the line-oriented text that a SQL target's
 * describe() writes (kept in coco's state) and its plan() and apply() parse
 * back. The lines all SQL targets share:
 *
 *   key filename location
 *   column filename str TEXT
 *
 * the key columns in order, then one line a column in row order: its name,
 * its coco type and its SQL type. Names are tokens (awkward bytes, spaces
 * included, written as \xHH by coco_buf_esc); with COCO_TDESC_SQL_REST the
 * coco type is a token too and the SQL type runs to the end of the line,
 * else the coco type may hold spaces and the SQL type is the last token.
 * Every other line is a word, a space and the rest, which the target reads
 * itself (path, table, schema, fts, index, ...). Empty lines are skipped. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "engine/buf.h"
#include "engine/value.h"

enum {
	COCO_TDESC_SQL_REST = 1, /* column lines: NAME TYPE SQL..., see above */
	COCO_TDESC_WHY_SQL = 2,  /* a changed column's reason names its SQL types too */
};

typedef struct coco_tcol {
	const char *name, *type, *sql;
} coco_tcol;

/* The key and column lines of a parsed description; strings live in the
 * arena it was parsed into. */
typedef struct coco_tdesc {
	const char **keys;
	size_t nkeys;
	coco_tcol *cols;
	size_t ncols;
	size_t cap;              /* lines in the text: room enough for any list of it */
	int flags;               /* COCO_TDESC_* */
} coco_tdesc;

/* A target's reader of its own lines: word[0..wn) is the line's first word,
 * rest..e what follows the space after it (maybe nothing). Returns 0, or -1
 * when the line is malformed or unknown. */
typedef int (*coco_tdesc_line_fn)(void *ctx, coco_arena *a, const char *word, size_t wn,
	const char *rest, const char *e);

/* 1 when word[0..wn) is the literal w. */
#define COCO_TDESC_IS(word, wn, w) ((wn) == sizeof(w) - 1 && !memcmp((word), (w), (wn)))

/* Parses text into t (flags: COCO_TDESC_*), handing every line other than
 * key and column lines to line(ctx, ...). Returns 0, or -1 with *err =
 * "<target>: malformed setup description (line N)". Checks no more than
 * the lines' syntax: which lines must be there is the target's to say. */
int coco_tdesc_parse(const char *text, coco_arena *a, int flags, coco_tdesc *t,
	coco_tdesc_line_fn line, void *ctx, const char *target, char **err);

/* Splits s..e at single spaces into at most max tokens, unescaped (the last
 * one raw, running to e, when `rest`) into out. Returns the count, or -1 on
 * an empty token, a bad escape or more than max tokens. */
int coco_tdesc_tokens(coco_arena *a, const char *s, const char *e, const char **out,
	size_t max, int rest);

/* The column named name, or NULL. */
const coco_tcol *coco_tdesc_col(const coco_tdesc *t, const char *name);

/* 1 when name is one of t's key columns. */
int coco_tdesc_is_key(const coco_tdesc *t, const char *name);

/* 1 when the lists a[0..na) and b[0..nb) hold the same names in order. */
int coco_tdesc_same_names(const char *const *a, size_t na, const char *const *b, size_t nb);

/* Appends names[0..n) as "a, b, c". */
void coco_tdesc_put_names(coco_buf *b, const char *const *names, size_t n);

/* Appends a reason to why, after "; " when why already holds one. */
void coco_tdesc_reason(coco_buf *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends the reasons that going from s to d needs the table dropped and
 * recreated, as far as keys and columns tell: "key: a → a, b", "column x:
 * str → int64" (with COCO_TDESC_WHY_SQL in d's flags "column x: str text →
 * int64 bigint"). Columns only added or dropped are no reason. */
void coco_tdesc_reasons(const coco_tdesc *s, const coco_tdesc *d, coco_buf *why);

/* Appends the plan line "create table [schema.]table (a TEXT, ..., primary
 * key (a))"; schema may be NULL. */
void coco_tdesc_plan_create(const coco_tdesc *t, const char *schema, const char *table,
	coco_buf *plan);

/* Appends the plan lines "drop column x" for the columns of s that d lacks,
 * then "add column y SQL" for those of d that s lacks. Returns 1 when it
 * drops any (destructive), else 0. */
int coco_tdesc_plan_columns(const coco_tdesc *s, const coco_tdesc *d, coco_buf *plan);

/* Appends name as a double-quoted SQL identifier ("a""b" for a"b). */
void coco_sql_ident(coco_buf *b, const char *name);
/* Appends the names of the fields f[0..n) so, sep between: "a","b". */
void coco_sql_idents(coco_buf *b, const coco_field *f, uint32_t n, const char *sep);

/* Appends the body of a CREATE TABLE: "a" TEXT, "b" TEXT, PRIMARY KEY ("a"),
 * with NOT NULL after the key columns' types when key_not_null. */
void coco_tdesc_create_body(const coco_tdesc *t, int key_not_null, coco_buf *b);

/* Appends the line "word value\n", value escaped (spaces kept). */
void coco_tdesc_put_line(coco_buf *b, const char *word, const char *value);

/* Appends the key line: the names of row's first nkeys fields. */
void coco_tdesc_put_keys(coco_buf *b, const coco_type *row, uint32_t nkeys);

/* Appends the column line of a column of coco type type and SQL type sql
 * (flags: the target's COCO_TDESC_*). */
void coco_tdesc_put_column(coco_buf *b, int flags, const char *name, const coco_type *type,
	const char *sql);

/* ---- apply: the one skeleton of the SQL targets' coco_target_ops.apply ----
 *
 * A target's description is its own struct (the coco_tdesc of its key and
 * column lines inside, with its path, server, schema, table, ...); these
 * steps work on it through void pointers. */
typedef struct coco_tdesc_ops {
	size_t size;             /* of the target's description struct */
	/* Parses text into desc (size bytes, from a); 0, or -1 with *err. */
	int (*parse)(const char *text, coco_arena *a, void *desc, char **err);
	/* Appends why going from s to d needs the table dropped and recreated;
	 * nothing when ALTER TABLE does it. */
	void (*reasons)(const void *s, const void *d, coco_buf *why);
	/* 1 when s's table and d's are in one database (one file, one server):
	 * change() then drops s's and creates d's in one transaction. */
	int (*same_place)(const void *s, const void *d);
	/* Creates d's table unless it exists, after dropping drop's (NULL:
	 * none) and then alters it from alter_from's columns (NULL: none). Must
	 * be idempotent. */
	int (*change)(const void *d, const void *drop, const void *alter_from, char **err);
	/* Drops s's table (a table or database already gone is no error). */
	int (*drop)(const void *s, char **err);
} coco_tdesc_ops;

/* Parses stored and desired, either NULL (then *s or *d is NULL), into
 * descriptions from a. Returns 0, or -1 with *err (the parser's). */
int coco_tdesc_parse_pair(const coco_tdesc_ops *o, const char *stored, const char *desired,
	coco_arena *a, void **s, void **d, char **err);

/* coco_target_ops.apply: going from stored (NULL: nothing yet) to desired
 * (NULL: drop) creates, drops, alters, or drops and recreates the table (in
 * one change() when same_place, else drop() then change()). */
int coco_tdesc_apply(const coco_tdesc_ops *o, const char *stored, const char *desired, char **err);
