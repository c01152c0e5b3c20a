/* LocalFile source: options, patterns, symlinks, ordinals, read errors,
 * and the time to list 10,000 files. Builds a tree under mkdtemp(). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/ops.h"
#include "connectors/localfile/glob.h"

extern const coco_source_ops coco_localfile_source;
static const coco_source_ops *LF = &coco_localfile_source;

#include "spec/c/check.h"

static char tmp[64];

/* ---- fixture helpers ----------------------------------------------------- */

static void mkdirs(const char *rel)
{
	char p[1024];
	snprintf(p, sizeof p, "%s/%s", tmp, rel);
	for (char *q = p + strlen(tmp) + 1; *q; q++)
		if (*q == '/') {
			*q = 0;
			mkdir(p, 0755);
			*q = '/';
		}
	mkdir(p, 0755);
}

static void put(const char *rel, const char *data, size_t n)
{
	char p[1024];
	snprintf(p, sizeof p, "%s/%s", tmp, rel);
	char *slash = strrchr(p, '/');
	if (slash > p + strlen(tmp)) {
		*slash = 0;
		mkdirs(p + strlen(tmp) + 1);
		*slash = '/';
	}
	FILE *f = fopen(p, "wb");
	if (!f) {
		printf("cannot create %s: %s\n", p, strerror(errno));
		exit(2);
	}
	fwrite(data, 1, n, f);
	fclose(f);
}
#define PUTS(rel, s) put(rel, s, strlen(s))

static void link_(const char *target, const char *rel)
{
	char p[1024];
	snprintf(p, sizeof p, "%s/%s", tmp, rel);
	if (symlink(target, p))
		printf("symlink %s: %s\n", p, strerror(errno));
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	chmod(p, 0700);
	return remove(p);
}

/* ---- listing into a sorted array ----------------------------------------- */

typedef struct listing {
	char **names;
	unsigned char (*ords)[16];
	size_t n, cap;
	size_t stop_after;       /* 0: never stop */
} listing;

static int collect(void *ud, const coco_value *key, const void *ord, size_t nord)
{
	listing *l = ud;
	if (key->kind != COCO_STR || nord != 16)
		return 1;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->names = realloc(l->names, l->cap * sizeof *l->names);
		l->ords = realloc(l->ords, l->cap * sizeof *l->ords);
	}
	l->names[l->n] = strndup(key->u.s, key->n);
	memcpy(l->ords[l->n], ord, 16);
	l->n++;
	return l->stop_after && l->n >= l->stop_after;
}

static void listing_free(listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	free(l->ords);
	memset(l, 0, sizeof *l);
}

static int find(const listing *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->names[i], name))
			return (int)i;
	return -1;
}
#define HAS(l, name) (find(&(l), name) >= 0)

/* Options in table order: path, included, excluded, binary, max_file_size,
 * watch_changes, decode_errors. */
typedef struct opts {
	coco_optval v[7];
} opts;

static opts mkopts(const char *path, const char **inc, size_t ninc,
	const char **exc, size_t nexc)
{
	opts o;
	memset(&o, 0, sizeof o);
	o.v[0].set = 1;
	o.v[0].s = path;
	if (inc) {
		o.v[1].set = 1;
		o.v[1].list = inc;
		o.v[1].nlist = ninc;
	}
	if (exc) {
		o.v[2].set = 1;
		o.v[2].list = exc;
		o.v[2].nlist = nexc;
	}
	return o;
}

/* Opens with o, lists into *l (cleared first); returns the open handle. */
static void *open_list(const opts *o, listing *l)
{
	void *src = NULL;
	char *err = NULL;
	listing_free(l);
	if (LF->open(o->v, tmp, &src, &err)) {
		printf("open failed: %s\n", err);
		free(err);
		return NULL;
	}
	if (LF->list(src, collect, l, &err)) {
		printf("list failed: %s\n", err);
		free(err);
	}
	return src;
}

static void list_with(const opts *o, listing *l)
{
	void *src = open_list(o, l);
	if (src)
		LF->close(src);
}

/* Reads key name; returns read()'s result, the row in *row, the error in *err. */
static int read_key(void *src, const char *name, coco_arena *a, coco_value *row,
	coco_buf *ord, char **err)
{
	coco_value key = coco_v_str(name, strlen(name));
	*err = NULL;
	return LF->read(src, &key, a, row, ord, err);
}

/* ---- tests --------------------------------------------------------------- */

static void test_glob(void)
{
	struct { const char *pat, *path; int dir, want; } t[] = {
		{ "*.md", "a.md", 0, 1 },
		{ "*.md", "a/b/c.md", 0, 1 },
		{ "*.md", "a.md/x", 0, 0 },
		{ "/*.md", "a.md", 0, 1 },
		{ "/*.md", "a/b.md", 0, 0 },
		{ "docs/*.md", "docs/a.md", 0, 1 },
		{ "docs/*.md", "docs/x/a.md", 0, 0 },
		{ "**/*.md", "a.md", 0, 1 },
		{ "**/*.md", "x/y/a.md", 0, 1 },
		{ "**/*.md", "x/y/a.txt", 0, 0 },
		{ "docs/**", "docs/a/b", 0, 1 },
		{ "docs/**", "docs", 0, 0 },
		{ "docs/**", "docs", COCO_GLOB_DIR, 1 },
		{ "docs/**", "docsx/a", 0, 0 },
		{ "a/**/b", "a/b", 0, 1 },
		{ "a/**/b", "a/x/y/b", 0, 1 },
		{ "a/**/b", "a/x/y/c", 0, 0 },
		{ "**/node_modules", "node_modules", COCO_GLOB_DIR, 1 },
		{ "**/node_modules", "x/node_modules", COCO_GLOB_DIR, 1 },
		{ "?.md", "a.md", 0, 1 },
		{ "?.md", "ab.md", 0, 0 },
		{ "?.md", "\xc3\xa9.md", 0, 1 },          /* one UTF-8 char */
		{ "[a-c]x", "bx", 0, 1 },
		{ "[a-c]x", "dx", 0, 0 },
		{ "[!a-c]x", "dx", 0, 1 },
		{ "[^a-c]x", "ax", 0, 0 },
		{ "[]]x", "]x", 0, 1 },
		{ "\\*x", "*x", 0, 1 },
		{ "\\*x", "ax", 0, 0 },
		{ "a*b*c", "aXbYbZc", 0, 1 },
		{ "a*b*c", "aXbYbZ", 0, 0 },
		{ "a/*", "a/b/c", 0, 0 },
		{ "*", "anything/at/all", 0, 1 },
		{ "**", "x/y", 0, 1 },
		{ "build/", "x/build", COCO_GLOB_DIR, 1 },
		{ "./b", "b", 0, 1 },
		{ "./b", "a/b", 0, 0 },
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		coco_glob g;
		const char *why = coco_glob_compile(t[i].pat, &g);
		int got = why ? -1 : coco_glob_match(&g, t[i].path, strlen(t[i].path), t[i].dir);
		if (got == t[i].want) {
			passed++;
		} else {
			failed++;
			printf("%s:%d: glob '%s' on '%s'%s: want %d, got %d\n", __FILE__, __LINE__,
				t[i].pat, t[i].path, t[i].dir ? " (dir)" : "", t[i].want, got);
		}
	}
	coco_glob g;
	CHECK_STR(coco_glob_compile("[abc", &g), "unclosed '['");
	CHECK_STR(coco_glob_compile("", &g), "empty pattern");
	CHECK_STR(coco_glob_compile("/", &g), "empty pattern");
	CHECK_STR(coco_glob_compile("a\\", &g), "trailing '\\'");
	CHECK_STR(coco_glob_compile("a//b", &g), "empty path segment");
}

static void test_options(void)
{
	coco_arena a = {0};
	const coco_type *t = NULL;
	char *err = NULL;
	size_t nopts = 0;
	while (LF->opts[nopts].name)
		nopts++;
	CHECK(nopts == 7);
	CHECK_STR(LF->name, "LocalFile");
	CHECK_STR(LF->opts[0].name, "path");
	CHECK(LF->opts[0].required && LF->opts[0].kind == COCO_OPT_STR);
	CHECK_STR(LF->opts[1].name, "included_patterns");
	CHECK_STR(LF->opts[2].name, "excluded_patterns");
	CHECK_STR(LF->opts[3].name, "binary");
	CHECK(LF->opts[3].kind == COCO_OPT_BOOL);
	CHECK_STR(LF->opts[4].name, "max_file_size");
	CHECK(LF->opts[4].kind == COCO_OPT_INT);
	CHECK_STR(LF->opts[6].name, "decode_errors");
	CHECK(LF->opts[6].kind == COCO_OPT_STR && !LF->opts[6].runtime);

	opts o = mkopts("docs", NULL, 0, NULL, 0);
	CHECK(LF->row_type(o.v, &a, &t, &err) == 0);
	CHECK(t && t->kind == COCO_TABLE && t->nfields == 2 && t->nkeys == 1);
	if (t && t->nfields == 2) {
		CHECK_STR(t->fields[0].name, "filename");
		CHECK(t->fields[0].type->kind == COCO_STR);
		CHECK_STR(t->fields[1].name, "content");
		CHECK(t->fields[1].type->kind == COCO_STR);
	}
	o.v[3].set = 1;
	o.v[3].b = 1;
	CHECK(LF->row_type(o.v, &a, &t, &err) == 0);
	CHECK(t && t->nfields == 2 && t->fields[1].type->kind == COCO_BYTES);

	const char *bad[] = { "*.md", "[a-" };
	o = mkopts("docs", bad, 2, NULL, 0);
	CHECK(LF->row_type(o.v, &a, &t, &err) == -1);
	CHECK_STR(err, "LocalFile: bad pattern '[a-' in included_patterns: unclosed '['");
	free(err);
	err = NULL;
	o = mkopts("docs", NULL, 0, NULL, 0);
	o.v[4].set = 1;
	o.v[4].i = -1;
	CHECK(LF->row_type(o.v, &a, &t, &err) == -1);
	CHECK_STR(err, "LocalFile: max_file_size must be >= 0 (got -1)");
	free(err);
	coco_arena_destroy(&a);
}

static void test_open_errors(void)
{
	char want[256];
	char *err = NULL;
	void *src = (void *)1;
	opts o = mkopts("nope", NULL, 0, NULL, 0);
	CHECK(LF->open(o.v, tmp, &src, &err) == -1);
	CHECK(src == NULL);
	snprintf(want, sizeof want, "LocalFile: path 'nope' (%s/nope) does not exist", tmp);
	CHECK_STR(err, want);
	free(err);
	err = NULL;

	o = mkopts("./docs/a.md", NULL, 0, NULL, 0);
	CHECK(LF->open(o.v, tmp, &src, &err) == -1);
	snprintf(want, sizeof want, "LocalFile: path './docs/a.md' (%s/docs/a.md) is not a directory", tmp);
	CHECK_STR(err, want);
	free(err);
	err = NULL;

	/* absolute path, no base_dir */
	char abs[256];
	snprintf(abs, sizeof abs, "%s/docs/", tmp);
	o = mkopts(abs, NULL, 0, NULL, 0);
	CHECK(LF->open(o.v, NULL, &src, &err) == 0);
	if (src)
		LF->close(src);
	free(err);
}

static void test_patterns(void)
{
	listing l = {0};
	opts o = mkopts("docs", NULL, 0, NULL, 0);
	list_with(&o, &l);
	CHECK(HAS(l, "a.md"));
	CHECK(HAS(l, "sub/c.md"));
	CHECK(HAS(l, "sub/deep/d.md"));
	CHECK(HAS(l, ".git/config"));
	CHECK(HAS(l, "node_modules/m/x.md"));
	CHECK(!HAS(l, "sub"));                      /* directories are not rows */
	CHECK(!HAS(l, "fifo"));                     /* special files skipped */

	const char *md[] = { "*.md" };
	o = mkopts("docs", md, 1, NULL, 0);
	list_with(&o, &l);
	CHECK(HAS(l, "a.md") && HAS(l, "sub/c.md") && HAS(l, "sub/deep/d.md"));
	CHECK(!HAS(l, "b.txt") && !HAS(l, "x"));

	const char *md_txt[] = { "*.md", "*.txt" };
	const char *exc[] = { ".git", "**/node_modules", "sub/deep/**" };
	o = mkopts("docs", md_txt, 2, exc, 3);
	list_with(&o, &l);
	CHECK(HAS(l, "a.md") && HAS(l, "b.txt") && HAS(l, "sub/c.md"));
	CHECK(!HAS(l, ".git/x.md"));
	CHECK(!HAS(l, "node_modules/m/x.md"));
	CHECK(!HAS(l, "sub/deep/d.md"));

	/* excluding a directory by name drops what is under it, even though
	 * no file name matches the pattern */
	const char *exc_sub[] = { "sub" };
	o = mkopts("docs", NULL, 0, exc_sub, 1);
	list_with(&o, &l);
	CHECK(HAS(l, "a.md") && !HAS(l, "sub/c.md") && !HAS(l, "sub/deep/d.md"));

	const char *x[] = { "**/x" };
	o = mkopts("docs", x, 1, NULL, 0);
	list_with(&o, &l);
	CHECK(l.n == 3 && HAS(l, "x") && HAS(l, "sub/x") && HAS(l, "in_dir/x"));

	const char *cls[] = { "[a-c].md" };
	o = mkopts("docs", cls, 1, NULL, 0);
	list_with(&o, &l);
	CHECK(l.n == 3 && HAS(l, "a.md") && HAS(l, "sub/c.md") && HAS(l, "in_dir/c.md"));
	CHECK(!HAS(l, "Z.md"));

	const char *ncls[] = { "[!a-z].md" };
	o = mkopts("docs", ncls, 1, NULL, 0);
	list_with(&o, &l);
	CHECK(l.n == 1 && HAS(l, "Z.md"));

	const char *q[] = { "q?.md" };
	o = mkopts("docs", q, 1, NULL, 0);
	list_with(&o, &l);
	CHECK(l.n == 2 && HAS(l, "q1.md") && HAS(l, "qq.md"));

	/* the callback can stop the listing */
	o = mkopts("docs", NULL, 0, NULL, 0);
	listing_free(&l);
	l.stop_after = 3;
	void *src = NULL;
	char *err = NULL;
	if (LF->open(o.v, tmp, &src, &err) == 0) {
		CHECK(LF->list(src, collect, &l, &err) == 0);
		CHECK(l.n == 3);
		LF->close(src);
	}
	l.stop_after = 0;
	listing_free(&l);
}

static void test_symlinks(void)
{
	listing l = {0};
	opts o = mkopts("docs", NULL, 0, NULL, 0);
	void *src = open_list(&o, &l);
	CHECK(!HAS(l, "out_file.md"));             /* absolute link out */
	CHECK(!HAS(l, "out_rel.md"));              /* ../ link out */
	CHECK(!HAS(l, "out_dir/o.md"));
	CHECK(!HAS(l, "dangling"));
	CHECK(HAS(l, "in_link.md"));               /* -> sub/c.md */
	CHECK(HAS(l, "in_dir/c.md"));              /* -> sub */
	CHECK(HAS(l, "in_dir/deep/d.md"));
	CHECK(HAS(l, "in_abs.md"));                /* absolute, but inside */
	for (size_t i = 0; i < l.n; i++)           /* cycles were cut */
		CHECK(!strstr(l.names[i], "loop"));
	if (src) {
		coco_arena a = {0};
		coco_buf ord = {0};
		coco_value row;
		char *err;
		CHECK(read_key(src, "in_dir/c.md", &a, &row, &ord, &err) == 0);
		CHECK(row.kind == COCO_STRUCT && row.n == 2 &&
			row.u.fields[1].n == 5 && !memcmp(row.u.fields[1].u.s, "see c", 5));
		CHECK(read_key(src, "in_link.md", &a, &row, &ord, &err) == 0);
		/* read re-checks: a link out of the root is not part of the source */
		CHECK(read_key(src, "out_file.md", &a, &row, &ord, &err) == 1);
		CHECK(read_key(src, "out_dir/o.md", &a, &row, &ord, &err) == 1);
		CHECK(read_key(src, "../outside.md", &a, &row, &ord, &err) == 1);
		CHECK(read_key(src, "sub/../../outside.md", &a, &row, &ord, &err) == 1);
		free(err);
		coco_buf_free(&ord);
		coco_arena_destroy(&a);
		LF->close(src);
	}
	listing_free(&l);
}

static void test_read(void)
{
	opts o = mkopts("docs", NULL, 0, NULL, 0);
	void *src = NULL;
	char *err = NULL;
	if (LF->open(o.v, tmp, &src, &err)) {
		printf("open failed: %s\n", err);
		failed++;
		free(err);
		return;
	}
	coco_arena a = {0};
	coco_buf ord = {0};
	coco_value row;

	/* a file modified within the last 2 s has no ordinal yet (racy clean) */
	CHECK(read_key(src, "a.md", &a, &row, &ord, &err) == 0);
	CHECK(ord.n == 0);
	char path[4096];
	snprintf(path, sizeof path, "%s/docs/a.md", tmp);
	struct timespec old[2] = { { time(NULL) - 10, 0 }, { time(NULL) - 10, 0 } };
	CHECK(utimensat(AT_FDCWD, path, old, 0) == 0);
	CHECK(read_key(src, "a.md", &a, &row, &ord, &err) == 0);
	CHECK(row.kind == COCO_STRUCT && row.n == 2);
	CHECK(row.u.fields[0].kind == COCO_STR && row.u.fields[0].n == 4 &&
		!memcmp(row.u.fields[0].u.s, "a.md", 4));
	CHECK(row.u.fields[1].kind == COCO_STR && row.u.fields[1].n == 8 &&
		!strcmp(row.u.fields[1].u.s, "# A\nhey\n"));
	CHECK(ord.n == 16);

	/* non-UTF-8: read with a warning (2), the exact message, byte offset
	 * from 0; each invalid sequence replaced with U+FFFD, NULs kept */
	CHECK(read_key(src, "bad.txt", &a, &row, &ord, &err) == 2);
	CHECK_STR(err, "docs/bad.txt: not valid UTF-8 (first bad byte at 17); "
		"1 invalid sequence replaced with U+FFFD");
	free(err);
	CHECK(row.u.fields[1].kind == COCO_STR && row.u.fields[1].n == 22 &&
		!memcmp(row.u.fields[1].u.s, "hello world, ok\n\x01\xef\xbf\xbd\0x", 22));
	CHECK(ord.n == 0 || ord.n == 16);
	const char *invalid[] = { "overlong.txt", "surrogate.txt", "truncated.txt", "toobig.txt" };
	const size_t nrepl[] = { 2, 3, 1, 4 };
	for (size_t i = 0; i < 4; i++) {
		CHECK(read_key(src, invalid[i], &a, &row, &ord, &err) == 2);
		CHECK(err && strstr(err, "not valid UTF-8 (first bad byte at 2)"));
		free(err);
		CHECK(row.u.fields[1].n == 2 + 3 * nrepl[i] && !memcmp(row.u.fields[1].u.s, "ab", 2));
	}
	CHECK(read_key(src, "utf8.txt", &a, &row, &ord, &err) == 0);
	CHECK(row.u.fields[1].n == 23);
	/* decode_errors = "strict": a row error, as before */
	{
		opts so = mkopts("docs", NULL, 0, NULL, 0);
		so.v[6].set = 1;
		so.v[6].s = "strict";
		void *ss = NULL;
		CHECK(LF->open(so.v, tmp, &ss, &err) == 0);
		if (ss) {
			CHECK(read_key(ss, "bad.txt", &a, &row, &ord, &err) == -1);
			CHECK_STR(err, "docs/bad.txt: not valid UTF-8 (byte 17); set binary = true to read it "
				"as bytes, or decode_errors = \"replace\"");
			free(err);
			for (size_t i = 0; i < 4; i++) {
				CHECK(read_key(ss, invalid[i], &a, &row, &ord, &err) == -1);
				CHECK(err && strstr(err, "not valid UTF-8 (byte 2)"));
				free(err);
			}
			CHECK(read_key(ss, "utf8.txt", &a, &row, &ord, &err) == 0);
			LF->close(ss);
		}
		so.v[6].s = "ignore";
		CHECK(LF->open(so.v, tmp, &ss, &err) == -1);
		CHECK_STR(err, "LocalFile: decode_errors must be \"replace\" or \"strict\" (got \"ignore\")");
		free(err);
	}

	/* deleted, directory, fifo: gone (and the fifo does not block) */
	CHECK(read_key(src, "no_such.md", &a, &row, &ord, &err) == 1);
	CHECK(read_key(src, "sub", &a, &row, &ord, &err) == 1);
	CHECK(read_key(src, "fifo", &a, &row, &ord, &err) == 1);
	CHECK(read_key(src, "sub/c.md/x", &a, &row, &ord, &err) == 1);
	char p[256];
	snprintf(p, sizeof p, "%s/docs/gone.md", tmp);
	CHECK(read_key(src, "gone.md", &a, &row, &ord, &err) == 0);
	unlink(p);
	CHECK(read_key(src, "gone.md", &a, &row, &ord, &err) == 1);

	LF->close(src);

	/* binary = true: bytes, as they are */
	o.v[3].set = 1;
	o.v[3].b = 1;
	if (LF->open(o.v, tmp, &src, &err) == 0) {
		CHECK(read_key(src, "bad.txt", &a, &row, &ord, &err) == 0);
		CHECK(row.u.fields[1].kind == COCO_BYTES && row.u.fields[1].n == 20 &&
			(unsigned char)row.u.fields[1].u.s[17] == 0xff && row.u.fields[1].u.s[18] == 0);
		LF->close(src);
	}
	coco_buf_free(&ord);
	coco_arena_destroy(&a);
}

static void test_max_size(void)
{
	listing l = {0};
	opts o = mkopts("docs", NULL, 0, NULL, 0);
	o.v[4].set = 1;
	o.v[4].i = 50;
	void *src = open_list(&o, &l);
	CHECK(!HAS(l, "big.bin"));                 /* 51 bytes */
	CHECK(HAS(l, "fifty.txt"));                /* exactly 50 */
	if (src) {
		coco_arena a = {0};
		coco_buf ord = {0};
		coco_value row;
		char *err;
		CHECK(read_key(src, "big.bin", &a, &row, &ord, &err) == 1);
		CHECK(read_key(src, "fifty.txt", &a, &row, &ord, &err) == 0);
		coco_buf_free(&ord);
		coco_arena_destroy(&a);
		LF->close(src);
	}
	listing_free(&l);
}

static int64_t le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return (int64_t)v;
}

static void test_ordinal(void)
{
	char p[256];
	snprintf(p, sizeof p, "%s/docs/a.md", tmp);
	struct timespec ts[2] = { { 1700000000, 123456789 }, { 1700000000, 123456789 } };
	utimensat(AT_FDCWD, p, ts, 0);
	listing l = {0};
	opts o = mkopts("docs", NULL, 0, NULL, 0);
	void *src = open_list(&o, &l);
	int i = find(&l, "a.md");
	CHECK(i >= 0);
	if (i < 0 || !src) {
		if (src)
			LF->close(src);
		listing_free(&l);
		return;
	}
	unsigned char before[16];
	memcpy(before, l.ords[i], 16);
	CHECK(le64(before) == 1700000000123456789LL);
	CHECK(le64(before + 8) == 8);

	coco_arena a = {0};
	coco_buf ord = {0};
	coco_value row;
	char *err;
	CHECK(read_key(src, "a.md", &a, &row, &ord, &err) == 0);
	CHECK(ord.n == 16 && !memcmp(ord.p, before, 16));   /* read agrees with list */

	ts[1].tv_nsec = 987654321;
	utimensat(AT_FDCWD, p, ts, 0);
	listing_free(&l);
	LF->list(src, collect, &l, &err);
	i = find(&l, "a.md");
	CHECK(i >= 0 && memcmp(l.ords[i], before, 16) != 0);
	CHECK(i >= 0 && le64(l.ords[i]) == 1700000000987654321LL);
	CHECK(read_key(src, "a.md", &a, &row, &ord, &err) == 0);
	CHECK(i >= 0 && !memcmp(ord.p, l.ords[i], 16));
	coco_buf_free(&ord);
	coco_arena_destroy(&a);
	LF->close(src);
	listing_free(&l);
}

/* Permission errors. As root everything is readable, so these run in a
 * child that drops to uid/gid 65534; its counts come back through a pipe
 * and its stderr through errfd. */
static void perm_checks(void)
{
	opts o = mkopts("docs", NULL, 0, NULL, 0);
	void *src = NULL;
	char *err = NULL;
	if (LF->open(o.v, tmp, &src, &err)) {
		printf("open failed: %s\n", err);
		failed++;
		free(err);
		return;
	}
	coco_arena a = {0};
	coco_buf ord = {0};
	coco_value row;
	int r = read_key(src, "secret.md", &a, &row, &ord, &err);
	CHECK(r == -1);
	CHECK_STR(err, "docs/secret.md: cannot read: Permission denied");
	free(err);
	listing l = {0};
	CHECK(LF->list(src, collect, &l, &err) == 0);
	CHECK(!HAS(l, "locked/l.md"));
	CHECK(HAS(l, "a.md") && HAS(l, "sub/deep/d.md"));   /* the rest was listed */
	listing_free(&l);
	coco_buf_free(&ord);
	coco_arena_destroy(&a);
	LF->close(src);
}

static void test_permissions(void)
{
	char p[256], q[256];
	PUTS("docs/locked/l.md", "x");
	snprintf(p, sizeof p, "%s/docs/secret.md", tmp);
	snprintf(q, sizeof q, "%s/docs/locked", tmp);
	chmod(p, 0);
	chmod(q, 0);
	if (geteuid() != 0) {
		perm_checks();
		chmod(p, 0644);
		chmod(q, 0755);
		return;
	}
	FILE *ef = tmpfile();
	int fds[2];
	if (!ef || pipe(fds)) {
		printf("note: cannot set up the unprivileged child; skipping the permission checks\n");
		return;
	}
	chmod(tmp, 0755);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		passed = failed = 0;
		int ok = setgroups(0, NULL) == 0 && setgid(65534) == 0 && setuid(65534) == 0;
		if (ok) {
			dup2(fileno(ef), 2);
			perm_checks();
		}
		int res[3] = { ok, passed, failed };
		if (write(fds[1], res, sizeof res) < 0)
			_exit(1);
		fflush(stdout);
		_exit(0);
	}
	close(fds[1]);
	int res[3] = { 0, 0, 0 };
	ssize_t got = read(fds[0], res, sizeof res);
	close(fds[0]);
	waitpid(pid, NULL, 0);
	chmod(tmp, 0700);
	chmod(p, 0644);
	chmod(q, 0755);
	if (got != sizeof res || !res[0]) {
		printf("note: running as root and cannot drop to uid 65534; skipping the permission checks\n");
		fclose(ef);
		return;
	}
	passed += res[1];
	failed += res[2];
	char text[512] = "";
	rewind(ef);
	size_t n = fread(text, 1, sizeof text - 1, ef);
	text[n] = 0;
	fclose(ef);
	CHECK_STR(text, "coco: LocalFile: cannot read directory 'docs/locked': Permission denied\n");
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void test_10k(void)
{
	char rel[64];
	for (int d = 0; d < 100; d++)
		for (int f = 0; f < 100; f++) {
			snprintf(rel, sizeof rel, "big/d%02d/f%03d.txt", d, f);
			PUTS(rel, "x");
		}
	listing l = {0};
	opts o = mkopts("big", NULL, 0, NULL, 0);
	void *src = open_list(&o, &l);              /* warms the cache */
	CHECK(l.n == 10000);
	if (!src)
		return;
	double best = 1e9;
	for (int run = 0; run < 5; run++) {
		listing_free(&l);
		double t0 = now_ms();
		char *err = NULL;
		LF->list(src, collect, &l, &err);
		double t = now_ms() - t0;
		if (t < best)
			best = t;
	}
	CHECK(l.n == 10000);
	const char *inc[] = { "*.txt" };
	const char *exc[] = { "**/d5?" };
	opts o2 = mkopts("big", inc, 1, exc, 1);
	listing l2 = {0};
	void *src2 = open_list(&o2, &l2);
	CHECK(l2.n == 9000);
	double t0 = now_ms();
	listing_free(&l2);
	char *err = NULL;
	if (src2)
		LF->list(src2, collect, &l2, &err);
	double tp = now_ms() - t0;
	printf("listing 10,000 files: %.2f ms (best of 5); with patterns (9,000 kept): %.2f ms\n",
		best, tp);
	if (src2)
		LF->close(src2);
	LF->close(src);
	listing_free(&l);
	listing_free(&l2);
}

int main(void)
{
	strcpy(tmp, "/tmp/coco_localfile_XXXXXX");
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 2;
	}
	PUTS("docs/a.md", "# A\nhey\n");
	PUTS("docs/b.txt", "b");
	PUTS("docs/x", "x");
	PUTS("docs/Z.md", "z");
	PUTS("docs/q1.md", "q");
	PUTS("docs/qq.md", "q");
	PUTS("docs/qqq.md", "q");
	PUTS("docs/gone.md", "bye");
	PUTS("docs/secret.md", "s");
	PUTS("docs/sub/c.md", "see c");
	PUTS("docs/sub/x", "x");
	PUTS("docs/sub/deep/d.md", "d");
	PUTS("docs/.git/config", "[core]");
	PUTS("docs/.git/x.md", "x");
	PUTS("docs/node_modules/m/x.md", "x");
	put("docs/bad.txt", "hello world, ok\n\x01\xff\0x", 20);
	put("docs/overlong.txt", "ab\xc0\x80", 4);
	put("docs/surrogate.txt", "ab\xed\xa0\x80", 5);
	put("docs/truncated.txt", "ab\xe2\x82", 4);
	put("docs/toobig.txt", "ab\xf4\x90\x80\x80", 6);
	PUTS("docs/utf8.txt", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 and more");
	char big[51];
	memset(big, 'b', sizeof big);
	put("docs/big.bin", big, 51);
	put("docs/fifty.txt", big, 50);
	PUTS("outside.md", "secret outside");
	PUTS("outside_dir/o.md", "o");
	char p[256];
	snprintf(p, sizeof p, "%s/docs/fifo", tmp);
	mkfifo(p, 0644);
	snprintf(p, sizeof p, "%s/outside.md", tmp);
	link_(p, "docs/out_file.md");
	link_("../outside.md", "docs/out_rel.md");
	snprintf(p, sizeof p, "%s/outside_dir", tmp);
	link_(p, "docs/out_dir");
	link_("sub/c.md", "docs/in_link.md");
	snprintf(p, sizeof p, "%s/docs/a.md", tmp);
	link_(p, "docs/in_abs.md");
	link_("sub", "docs/in_dir");
	link_("..", "docs/sub/loop");
	link_("../../sub", "docs/sub/deep/loop2");
	link_("loop_a", "docs/loop_b");
	link_("loop_b", "docs/loop_a");
	link_("nowhere", "docs/dangling");

	test_glob();
	test_options();
	test_open_errors();
	test_patterns();
	test_symlinks();
	test_read();
	test_max_size();
	test_ordinal();
	test_permissions();
	test_10k();

	nftw(tmp, rm_one, 64, FTW_DEPTH | FTW_PHYS);
	return CHECK_DONE();
}
