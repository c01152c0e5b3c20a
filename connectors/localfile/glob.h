#pragma once
/* Glob patterns over relative paths with '/' separators, as LocalFile's
 * included_patterns / excluded_patterns use them.
 *
 *   *        any run of characters within one path segment
 *   **       a whole segment: zero or more segments ("**" + "/x", "docs/" + "**")
 *   ?        one character (one UTF-8 sequence)
 *   [abc] [a-z] [!x] [^x]   one byte from (or not from) a class
 *   \c       the character c itself
 *
 * A pattern without '/' matches the last segment of the path (the basename)
 * at any depth; one with a '/' matches the whole path. A leading '/' or "./"
 * anchors a pattern at the root; trailing '/' are ignored. Matching is
 * case-sensitive and byte-wise. */
#include <stddef.h>

typedef struct coco_glob {
	const char *p;           /* pattern text, normalised (points into source) */
	size_t n;
	int anchored;            /* 1: match the whole path, 0: the basename */
} coco_glob;

/* The path being matched is a directory: a trailing "**" segment also
 * matches zero segments, so "docs/" + "**" matches the directory "docs". */
#define COCO_GLOB_DIR 1

/* Prepares pattern src (which must outlive g). Returns NULL, or a short
 * static reason it is malformed: "empty pattern", "unclosed '['",
 * "trailing '\\'", "empty path segment". */
const char *coco_glob_compile(const char *src, coco_glob *g);

struct coco_arena;
struct coco_optval;
/* Checks (and, with a != NULL, copies into a and compiles) the pattern list
 * of option `optname` of connector `what`; *out and *nout get the compiled
 * list when out != NULL. Returns 0, or -1 with
 *   "LocalFile: bad pattern 'a[' in included_patterns: unclosed '['" */
int coco_glob_compile_opt(const struct coco_optval *o, const char *what, const char *optname,
	struct coco_arena *a, coco_glob **out, size_t *nout, char **err);

/* 1 if path[0..n) (relative, no leading or trailing '/', no empty segment)
 * matches g; flags: COCO_GLOB_DIR or 0. */
int coco_glob_match(const coco_glob *g, const char *path, size_t n, int flags);

/* The paths a source takes (LocalFile, GoogleDrive, the object stores):
 * those no excluded pattern matches and, when there are included
 * patterns, one of them does. Zeroed: every path. */
typedef struct coco_globsel {
	coco_glob *inc, *exc;
	size_t ninc, nexc;
} coco_globsel;

/* The included_patterns and excluded_patterns options (inc, exc) of
 * connector `what` checked, and with sel != NULL compiled into it (in a);
 * 0, or -1 with coco_glob_compile_opt's message. */
int coco_globsel_opts(const struct coco_optval *inc, const struct coco_optval *exc,
	const char *what, struct coco_arena *a, coco_globsel *sel, char **err);
/* 1 if an excluded pattern matches path[0..n) (flags: as coco_glob_match). */
int coco_globsel_excluded(const coco_globsel *sel, const char *path, size_t n, int flags);
/* 1 if sel takes the file path[0..n). */
int coco_globsel_wanted(const coco_globsel *sel, const char *path, size_t n);
