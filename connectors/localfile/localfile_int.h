#pragma once
/* Private to the LocalFile source: what localfile.c shares with watch.c
 * (the inotify change capture). Not part of any public API. */
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "engine/ops.h"
#include "connectors/localfile/glob.h"

typedef struct lf_watch lf_watch;

typedef struct lf_src {
	coco_arena mem;          /* owns every string and array below */
	const char *disp;        /* the path option without trailing '/': "docs" */
	const char *raw;         /* absolute path as joined, for realpath() */
	const char *abs;         /* the same, lexically cleaned, for messages */
	const char *root;        /* realpath of the directory */
	size_t rootlen;
	coco_globsel sel;        /* included_patterns, excluded_patterns */
	int binary;
	int strict;              /* decode_errors = "strict": invalid text is a row error */
	int64_t max_size;        /* -1: no limit */
	int have_openat2;
	int watch_changes;       /* option watch_changes (default 1) */
	lf_watch *watch;         /* change capture, NULL until watch() */
} lf_src;

/* 1 if the relative path rel[0..n) matches an excluded pattern; flags:
 * COCO_GLOB_DIR when rel is a directory (about to be walked). */
static inline int lf_excluded(const lf_src *s, const char *rel, size_t n, int flags)
{
	return coco_globsel_excluded(&s->sel, rel, n, flags);
}
/* 1 if the file rel[0..n) is listed: included (or no included patterns)
 * and not excluded. */
static inline int lf_wanted_file(const lf_src *s, const char *rel, size_t n)
{
	return coco_globsel_wanted(&s->sel, rel, n);
}
/* 1 if absolute path real is the root or lies under it. */
int lf_inside_root(const lf_src *s, const char *real);
/* Sets s->root from realpath(s->raw); -1 with the user's message
 * ("LocalFile: path 'docs' (/abs/docs) does not exist"). */
int lf_resolve_root(lf_src *s, char **err);

/* Opens rel (a path relative to the root, which is open at rootfd) with
 * flags, never leaving the root, whatever is swapped for a symlink
 * meanwhile: symlinks in the tree are followed when they lead to a path
 * under the root, others fail with ENOENT. "" opens the root. -1 with
 * errno. */
int lf_open_beneath(const lf_src *s, int rootfd, const char *rel, int flags);
/* The same from the root's path (opened for the call). */
int lf_open_rel(const lf_src *s, const char *rel, int flags);

/* The directories being walked, from the root down (list() and the
 * watcher's walks): a symlink that leads back to one is a cycle, not
 * walked again. Zeroed to start; free(a->d) when done. */
typedef struct lf_anc {
	struct { dev_t dev; ino_t ino; } *d;
	size_t n, cap;
} lf_anc;
void lf_anc_push(lf_anc *a, const struct stat *st);
/* 1 if st is one of them. */
int lf_anc_has(const lf_anc *a, const struct stat *st);
/* 1 for "." and "..": skipped by every walk. */
static inline int lf_dot(const char *name)
{
	return name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]));
}

/* watch.c: coco_source_ops.watch / watch_read for LocalFile, and the
 * cleanup lf_close() calls (NULL is fine). */
int lf_watch_start(void *src, int *fd, char **err);
int lf_watch_read(void *src, coco_change_cb cb, void *ud, char **err);
void lf_watch_free(lf_watch *w);
