/* LocalFile change capture (watch / watch_read): each scenario changes a
 * tree under mkdtemp(), polls the watch fd and checks the (kind, key) list
 * reported. Every wait is a poll() with a timeout: the test cannot hang. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/ops.h"

extern const coco_source_ops coco_localfile_source;
static const coco_source_ops *LF = &coco_localfile_source;

#include "spec/c/check.h"

static char tmp[64];                     /* the mkdtemp() directory */
static char root[128];                   /* tmp/docs: the source's path */

/* ---- fixture helpers ----------------------------------------------------- */

static const char *at(const char *rel)   /* tmp/docs/<rel>, in a ring of buffers */
{
	static char b[8][1024];
	static int i;
	char *p = b[i++ & 7];
	snprintf(p, sizeof b[0], "%s/%s", root, rel);
	return p;
}

static void put(const char *rel, const char *data)
{
	int fd = open(at(rel), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		printf("cannot create %s: %s\n", at(rel), strerror(errno));
		exit(2);
	}
	if (write(fd, data, strlen(data)) < 0)
		printf("write %s: %s\n", rel, strerror(errno));
	close(fd);
}

static void mkd(const char *rel)
{
	if (mkdir(at(rel), 0755))
		printf("mkdir %s: %s\n", rel, strerror(errno));
}

static void mv(const char *from, const char *to)
{
	if (rename(from, to))
		printf("rename %s %s: %s\n", from, to, strerror(errno));
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(p);
}

static void rm_tree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- collecting reports --------------------------------------------------- */

typedef struct change {
	coco_change_kind kind;
	char *key;               /* NULL for RESCAN / DEGRADED */
	char *msg;
} change;

typedef struct changes {
	change *v;
	size_t n, cap;
	size_t stop_every;       /* cb returns 1 after this many (0: never) */
	size_t since_stop;
} changes;

static int on_change(void *ud, coco_change_kind kind, const coco_value *key, const char *msg)
{
	changes *c = ud;
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->v = realloc(c->v, c->cap * sizeof *c->v);
	}
	change *x = &c->v[c->n++];
	x->kind = kind;
	x->key = key ? strndup(key->u.s, key->n) : NULL;
	x->msg = msg ? strdup(msg) : NULL;
	if (key && key->kind != COCO_STR)
		printf("key of kind %d\n", key->kind);
	if (c->stop_every && ++c->since_stop >= c->stop_every) {
		c->since_stop = 0;
		return 1;
	}
	return 0;
}

static void changes_free(changes *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].key);
		free(c->v[i].msg);
	}
	free(c->v);
	memset(c, 0, sizeof *c);
}

static void dump(const changes *c)
{
	static const char *names[] = { "ROW", "SCANNED", "RESCAN", "DEGRADED" };
	for (size_t i = 0; i < c->n && i < 40; i++)
		printf("    %s %s%s%s\n", names[c->v[i].kind], c->v[i].key ? c->v[i].key : "",
			c->v[i].msg ? " msg: " : "", c->v[i].msg ? c->v[i].msg : "");
	if (c->n > 40)
		printf("    ... %zu in all\n", c->n);
}

static void *src;                        /* the source under test */
static int wfd = -1;                     /* its watch fd */

/* Polls the watch fd and drains it until it stays quiet for quiet_ms (events
 * are queued by the kernel before the changing syscall returns, so a short
 * quiet window is enough: nothing is on its way); gives up after 60 s of
 * reports. Clears *c first. */
static void drain_fd(void *s, int fd, changes *c, int quiet_ms)
{
	changes_free(c);
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, quiet_ms);
		if (r <= 0)
			return;
		char *err = NULL;
		if (LF->watch_read(s, on_change, c, &err)) {
			printf("watch_read: %s\n", err);
			free(err);
			failed++;
			return;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 60) {
			printf("still reporting after 60 s\n");
			failed++;
			return;
		}
	}
}

static void drain(changes *c)
{
	drain_fd(src, wfd, c, 30);
}

/* Reports of this kind (and key, unless NULL). */
/* Reports of kind naming key (any key when NULL). A ROW query also counts
 * GONE: both are row changes, GONE only asks the engine to wait. */
static size_t count(const changes *c, coco_change_kind kind, const char *key)
{
	size_t n = 0;
	for (size_t i = 0; i < c->n; i++) {
		coco_change_kind k = c->v[i].kind;
		if ((k == kind || (kind == COCO_CHANGE_ROW && k == COCO_CHANGE_GONE)) &&
		    (!key || (c->v[i].key && !strcmp(c->v[i].key, key))))
			n++;
	}
	return n;
}

/* Reports naming key, of any kind. */
static size_t mentions(const changes *c, const char *key)
{
	size_t n = 0;
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].key && !strcmp(c->v[i].key, key))
			n++;
	return n;
}

/* The first message containing s, or NULL. */
static const char *msg_with(const changes *c, const char *s)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].msg && strstr(c->v[i].msg, s))
			return c->v[i].msg;
	return NULL;
}

#define EXPECT(cond, c) do { int ok_ = (cond); CHECK(cond); if (!ok_) dump(c); } while (0)

/* ---- opening -------------------------------------------------------------- */

static const char *excl[] = { ".*", "*~", "node_modules", "*.log" };

/* Options in table order: path, included, excluded, binary, max_file_size,
 * watch_changes, decode_errors. */
static void mkopts(coco_optval v[7], int watch)
{
	memset(v, 0, 7 * sizeof *v);
	v[0].set = 1;
	v[0].s = "docs";
	v[2].set = 1;
	v[2].list = excl;
	v[2].nlist = sizeof excl / sizeof *excl;
	if (watch >= 0) {
		v[5].set = 1;
		v[5].b = watch;
	}
}

static void *open_src(int watch)
{
	coco_optval v[7];
	mkopts(v, watch);
	void *s = NULL;
	char *err = NULL;
	if (LF->open(v, tmp, &s, &err)) {
		printf("open: %s\n", err);
		free(err);
		exit(2);
	}
	return s;
}

static int start_watch(void *s)
{
	int fd = -2;
	char *err = NULL;
	if (LF->watch(s, &fd, &err)) {
		printf("watch: %s\n", err);
		free(err);
		return -1;
	}
	return fd;
}

/* ---- scenarios ------------------------------------------------------------ */

static void test_option(void)
{
	CHECK(LF->watch && LF->watch_read);
	int idx = coco_opt_index(LF->opts, "watch_changes");
	CHECK(idx == 5 && LF->opts[idx].kind == COCO_OPT_BOOL && coco_opt_count(LF->opts) == 7);
	void *s = open_src(0);
	CHECK(start_watch(s) == -1);
	changes c = {0};
	char *err = NULL;
	CHECK(LF->watch_read(s, on_change, &c, &err) == 0 && c.n == 0);
	LF->close(s);
	s = open_src(1);
	int fd = start_watch(s);
	CHECK(fd >= 0);
	CHECK(start_watch(s) == fd);              /* watch() twice: the same fd */
	LF->close(s);
	CHECK(fcntl(fd, F_GETFD) == -1);          /* closed with the source */
}

static void test_files(void)
{
	changes c = {0};

	put("a.md", "one");                       /* IN_CREATE + IN_CLOSE_WRITE */
	drain(&c);
	EXPECT(c.n == 1 && count(&c, COCO_CHANGE_ROW, "a.md") == 1, &c);

	put("a.md", "two");                       /* truncate then write */
	drain(&c);
	EXPECT(c.n == 1 && count(&c, COCO_CHANGE_ROW, "a.md") == 1, &c);

	int fd = open(at("a.md"), O_WRONLY | O_APPEND);
	CHECK(write(fd, "x", 1) == 1 && write(fd, "y", 1) == 1);
	close(fd);                                /* two writes, one close: one row */
	drain(&c);
	EXPECT(c.n == 1 && count(&c, COCO_CHANGE_ROW, "a.md") == 1, &c);

	unlink(at("a.md"));
	drain(&c);
	EXPECT(c.n == 1 && count(&c, COCO_CHANGE_GONE, "a.md") == 1, &c);

	put("sub/b.md", "b");
	drain(&c);
	EXPECT(c.n == 1 && count(&c, COCO_CHANGE_ROW, "sub/b.md") == 1, &c);

	mv(at("sub/b.md"), at("c.md"));           /* rename inside the tree */
	drain(&c);
	EXPECT(c.n == 2 && count(&c, COCO_CHANGE_ROW, "sub/b.md") == 1 &&
		count(&c, COCO_CHANGE_ROW, "c.md") == 1, &c);

	char out[256];                            /* moved out of, then into, the tree */
	snprintf(out, sizeof out, "%s/outside/c.md", tmp);
	mv(at("c.md"), out);
	drain(&c);
	EXPECT(c.n == 1 && count(&c, COCO_CHANGE_ROW, "c.md") == 1, &c);
	mv(out, at("sub/d.md"));
	drain(&c);
	EXPECT(c.n == 1 && count(&c, COCO_CHANGE_ROW, "sub/d.md") == 1, &c);

	if (link(at("sub/d.md"), at("hard.md")))  /* a hard link: no IN_CLOSE_WRITE */
		printf("link: %s\n", strerror(errno));
	drain(&c);
	EXPECT(c.n == 1 && count(&c, COCO_CHANGE_ROW, "hard.md") == 1, &c);
	unlink(at("hard.md"));
	drain(&c);

	put("x.log", "excluded");                 /* excluded by pattern */
	put("sub/.hidden", "excluded");
	mv(at("x.log"), at("y.log"));
	unlink(at("y.log"));
	unlink(at("sub/.hidden"));
	drain(&c);
	EXPECT(c.n == 0, &c);

	if (mkfifo(at("fifo"), 0644) == 0) {      /* not a regular file */
		unlink(at("fifo"));
		drain(&c);
		EXPECT(count(&c, COCO_CHANGE_ROW, NULL) <= 1 && c.n == count(&c, COCO_CHANGE_ROW, "fifo"), &c);
	}
	changes_free(&c);
}

static void test_editor_saves(void)
{
	changes c = {0};
	put("e.md", "v1");
	drain(&c);

	put(".e.md.swp", "v2");                   /* write a temp file, rename over */
	mv(at(".e.md.swp"), at("e.md"));
	drain(&c);
	EXPECT(c.n == 1 && count(&c, COCO_CHANGE_ROW, "e.md") == 1, &c);

	mv(at("e.md"), at("e.md~"));              /* vim: backup by rename, write anew */
	put("e.md", "v3");
	unlink(at("e.md~"));
	drain(&c);
	EXPECT(c.n >= 1 && count(&c, COCO_CHANGE_ROW, "e.md") == c.n && !mentions(&c, "e.md~"), &c);

	put("e.md.tmp", "v4");                    /* a temp name that is not excluded */
	mv(at("e.md.tmp"), at("e.md"));
	drain(&c);
	EXPECT(count(&c, COCO_CHANGE_ROW, "e.md") == 1 && count(&c, COCO_CHANGE_ROW, "e.md.tmp") == 2 &&
		c.n == 3, &c);
	unlink(at("e.md"));
	drain(&c);
	changes_free(&c);
}

/* Every key of c is one of the n files of names, each reported; no file
 * has more than one ROW (one per close after writing) or one SCANNED (a
 * directory is scanned once, when its watch is new). */
static int covers(const changes *c, char **names, size_t n)
{
	int ok = 1;
	for (size_t i = 0; i < n; i++) {
		size_t rows = count(c, COCO_CHANGE_ROW, names[i]);
		size_t scans = count(c, COCO_CHANGE_SCANNED, names[i]);
		if (rows > 1 || scans > 1 || rows + scans == 0) {
			printf("  %s: %zu ROW, %zu SCANNED\n", names[i], rows, scans);
			ok = 0;
		}
	}
	for (size_t i = 0; i < c->n; i++) {
		size_t k = 0;
		while (k < n && (!c->v[i].key || strcmp(c->v[i].key, names[k])))
			k++;
		if (k == n) {
			printf("  unexpected report %d %s\n", c->v[i].kind, c->v[i].key ? c->v[i].key : "");
			ok = 0;
		}
	}
	return ok;
}

static void test_new_dirs(void)
{
	changes c = {0};
	char *names[1200];
	size_t n = 0;

	mkd("d1");                                /* mkdir, then files at once */
	for (int i = 0; i < 50; i++) {
		char rel[64];
		snprintf(rel, sizeof rel, "d1/f%02d.md", i);
		put(rel, "x");
		names[n++] = strdup(rel);
	}
	drain(&c);
	CHECK(covers(&c, names, n));
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	n = 0;

	put("d1/f00.md", "changed");              /* d1 is watched now */
	drain(&c);
	EXPECT(c.n == 1 && count(&c, COCO_CHANGE_ROW, "d1/f00.md") == 1, &c);

	/* cp -r of 1,000 files, written by another process while we read */
	static const char *dirs[] = { "cp", "cp/a", "cp/a/x", "cp/a/x/y", "cp/b", "cp/b/z",
		"cp/c", "cp/c/node_modules", "cp/.git", "cp/d", "cp/d/e", "cp/f" };
	for (size_t d = 0; d < sizeof dirs / sizeof *dirs; d++)
		if (!strstr(dirs[d], "node_modules") && !strstr(dirs[d], ".git"))
			for (int i = 0; i < 100; i++) {
				char rel[128];
				snprintf(rel, sizeof rel, "%s/file%03d.txt", dirs[d], i);
				names[n++] = strdup(rel);
			}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		for (size_t d = 0; d < sizeof dirs / sizeof *dirs; d++) {
			mkd(dirs[d]);
			for (int i = 0; i < 100; i++) {
				char rel[128];
				snprintf(rel, sizeof rel, "%s/file%03d.txt", dirs[d], i);
				put(rel, "content");
			}
			put("cp/skip.log", "excluded");
		}
		_exit(0);
	}
	changes_free(&c);
	int status = -1, exited = 0, quiet = 0, reads_ok = 1;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {                                      /* until the writer is done and all is read */
		int was_done = exited;                /* every event of its is queued by now */
		struct pollfd p = { .fd = wfd, .events = POLLIN };
		quiet = poll(&p, 1, 50) <= 0;
		if (!quiet) {
			char *err = NULL;
			reads_ok &= LF->watch_read(src, on_change, &c, &err) == 0;
		}
		if (!exited)
			exited = waitpid(pid, &status, WNOHANG) == pid;
		quiet &= was_done;                    /* quiet after it exited, not before */
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (!quiet && t.tv_sec - t0.tv_sec < 60);
	if (!exited)
		waitpid(pid, &status, 0);
	CHECK(reads_ok);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(n == 1000);
	CHECK(covers(&c, names, n));
	printf("  cp -r of 1,000 files: %zu ROW + %zu SCANNED reports\n",
		count(&c, COCO_CHANGE_ROW, NULL), count(&c, COCO_CHANGE_SCANNED, NULL));
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	n = 0;

	put("cp/a/x/y/file000.txt", "changed");   /* nested dirs are watched */
	put("cp/c/node_modules/file000.txt", "excluded dir");
	drain(&c);
	EXPECT(c.n == 1 && count(&c, COCO_CHANGE_ROW, "cp/a/x/y/file000.txt") == 1, &c);

	/* a tree built outside, then moved in whole */
	char out[256], in[256];
	snprintf(out, sizeof out, "%s/outside/moved", tmp);
	snprintf(in, sizeof in, "%s/outside/moved/deep", tmp);
	mkdir(out, 0755);
	mkdir(in, 0755);
	for (int i = 0; i < 5; i++) {
		char p[300];
		snprintf(p, sizeof p, "%s/m%d.md", i % 2 ? out : in, i);
		FILE *f = fopen(p, "w");
		fputs("m", f);
		fclose(f);
		char rel[64];
		snprintf(rel, sizeof rel, i % 2 ? "moved/m%d.md" : "moved/deep/m%d.md", i);
		names[n++] = strdup(rel);
	}
	mv(out, at("moved"));
	drain(&c);
	CHECK(count(&c, COCO_CHANGE_SCANNED, NULL) == 5 && covers(&c, names, n));
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	n = 0;
	put("moved/deep/m0.md", "changed");
	drain(&c);
	EXPECT(c.n == 1 && count(&c, COCO_CHANGE_ROW, "moved/deep/m0.md") == 1, &c);

	/* an excluded directory: never watched, nothing reported */
	mkd("node_modules");
	put("node_modules/pkg.js", "x");
	mkd("node_modules/sub");
	put("node_modules/sub/a.md", "x");
	drain(&c);
	EXPECT(c.n == 0, &c);
	rm_tree(at("node_modules"));
	drain(&c);
	EXPECT(c.n == 0, &c);
	changes_free(&c);
}

static void test_dirs_go(void)
{
	changes c = {0};
	mkd("gone");
	put("gone/a.md", "x");
	drain(&c);

	rm_tree(at("gone"));                      /* rm -r: rows, then the directory */
	drain(&c);
	EXPECT(count(&c, COCO_CHANGE_ROW, "gone/a.md") == 1 && count(&c, COCO_CHANGE_RESCAN, NULL) >= 1, &c);

	char out[256];                            /* moved out of the tree */
	snprintf(out, sizeof out, "%s/outside/away", tmp);
	mv(at("moved"), out);
	drain(&c);
	EXPECT(c.n >= 1 && count(&c, COCO_CHANGE_RESCAN, NULL) == c.n, &c);
	char p[300];
	snprintf(p, sizeof p, "%s/deep/m0.md", out);
	FILE *f = fopen(p, "w");                  /* no longer watched */
	fputs("x", f);
	fclose(f);
	drain(&c);
	EXPECT(c.n == 0, &c);

	mv(at("d1"), at("d2"));                   /* renamed inside the tree */
	drain(&c);
	EXPECT(count(&c, COCO_CHANGE_RESCAN, NULL) >= 1 && count(&c, COCO_CHANGE_SCANNED, NULL) == 50 &&
		count(&c, COCO_CHANGE_SCANNED, "d2/f07.md") == 1 && !mentions(&c, "d1/f07.md"), &c);
	put("d2/f01.md", "again");                /* reported under its new path only */
	drain(&c);
	EXPECT(c.n == 1 && count(&c, COCO_CHANGE_ROW, "d2/f01.md") == 1, &c);
	changes_free(&c);
}

static void test_symlinks(void)
{
	changes c = {0};
	if (symlink("sub", at("lnk")))            /* a directory symlink inside */
		printf("symlink: %s\n", strerror(errno));
	drain(&c);
	EXPECT(count(&c, COCO_CHANGE_SCANNED, "lnk/d.md") == 1 && !mentions(&c, "lnk"), &c);
	put("sub/d.md", "via two paths");
	drain(&c);
	EXPECT(c.n == 2 && count(&c, COCO_CHANGE_ROW, "sub/d.md") == 1 &&
		count(&c, COCO_CHANGE_ROW, "lnk/d.md") == 1, &c);
	unlink(at("lnk"));
	drain(&c);
	EXPECT(count(&c, COCO_CHANGE_RESCAN, NULL) == 1 && c.n == 1, &c);
	put("sub/d.md", "one path again");
	drain(&c);
	EXPECT(c.n == 1 && count(&c, COCO_CHANGE_ROW, "sub/d.md") == 1, &c);

	if (symlink("sub/d.md", at("flink.md")))  /* a file symlink */
		printf("symlink: %s\n", strerror(errno));
	drain(&c);
	EXPECT(c.n == 1 && count(&c, COCO_CHANGE_ROW, "flink.md") == 1, &c);
	unlink(at("flink.md"));
	drain(&c);
	EXPECT(c.n == 1 && count(&c, COCO_CHANGE_ROW, "flink.md") == 1, &c);

	if (symlink("..", at("sub/loop")))        /* a cycle: not walked */
		printf("symlink: %s\n", strerror(errno));
	if (symlink("/etc", at("out")))           /* out of the tree: not walked */
		printf("symlink: %s\n", strerror(errno));
	drain(&c);
	EXPECT(c.n == 1 && count(&c, COCO_CHANGE_ROW, "out") == 1, &c);
	unlink(at("sub/loop"));
	unlink(at("out"));
	drain(&c);
	changes_free(&c);
}

static void test_stop(void)
{
	changes c = {0};
	for (int i = 0; i < 5; i++) {
		char rel[32];
		snprintf(rel, sizeof rel, "s%d.md", i);
		put(rel, "x");
	}
	c.stop_every = 2;                         /* cb asks to stop every 2 reports */
	size_t calls = 0;
	for (; calls < 20; calls++) {
		struct pollfd p = { .fd = wfd, .events = POLLIN };
		if (poll(&p, 1, 100) <= 0)
			break;
		char *err = NULL;
		CHECK(LF->watch_read(src, on_change, &c, &err) == 0);
	}
	EXPECT(c.n == 5 && calls == 3 && count(&c, COCO_CHANGE_ROW, "s0.md") == 1 &&
		count(&c, COCO_CHANGE_ROW, "s4.md") == 1, &c);
	c.stop_every = 0;
	for (int i = 0; i < 5; i++) {
		char rel[32];
		snprintf(rel, sizeof rel, "s%d.md", i);
		unlink(at(rel));
	}
	drain(&c);
	changes_free(&c);
}

static void test_overflow(void)
{
	long maxq = 16384;
	FILE *f = fopen("/proc/sys/fs/inotify/max_queued_events", "r");
	if (f) {
		if (fscanf(f, "%ld", &maxq) != 1)
			maxq = 16384;
		fclose(f);
	}
	if (maxq > 100000) {
		printf("note: max_queued_events is %ld; overflow not tested\n", maxq);
		return;
	}
	changes c = {0};
	mkd("flood");
	drain(&c);
	long nfiles = maxq / 2 + 100;            /* IN_CREATE + IN_CLOSE_WRITE each */
	for (long i = 0; i < nfiles; i++) {
		char rel[64];
		snprintf(rel, sizeof rel, "flood/%ld", i);
		put(rel, "");
	}
	drain(&c);
	EXPECT(count(&c, COCO_CHANGE_RESCAN, NULL) >= 1 && msg_with(&c, "overflow"), &c);
	put("flood/after", "x");                  /* still watched after the reset */
	put("sub/after.md", "x");
	drain(&c);
	EXPECT(c.n == 2 && count(&c, COCO_CHANGE_ROW, "flood/after") == 1 &&
		count(&c, COCO_CHANGE_ROW, "sub/after.md") == 1, &c);
	rm_tree(at("flood"));
	unlink(at("sub/after.md"));
	drain(&c);
	changes_free(&c);
}

static void test_root(void)
{
	changes c = {0};
	char old[256];
	snprintf(old, sizeof old, "%s/docs.old", tmp);

	rm_tree(root);                            /* deleted */
	drain(&c);
	const char *m = msg_with(&c, "root 'docs' was deleted or moved");
	EXPECT(m && !strcmp(m, "LocalFile: root 'docs' was deleted or moved") &&
		count(&c, COCO_CHANGE_RESCAN, NULL) >= 1, &c);
	mkdir(root, 0755);                        /* recreated */
	drain(&c);
	EXPECT(count(&c, COCO_CHANGE_RESCAN, NULL) == 1 && msg_with(&c, "is back") && c.n == 1, &c);
	put("n.md", "new root");
	mkd("nd");
	put("nd/x.md", "x");
	drain(&c);
	EXPECT(count(&c, COCO_CHANGE_ROW, "n.md") == 1 &&
		count(&c, COCO_CHANGE_ROW, "nd/x.md") + count(&c, COCO_CHANGE_SCANNED, "nd/x.md") >= 1, &c);

	mv(root, old);                            /* moved away, replaced by another */
	drain(&c);
	EXPECT(msg_with(&c, "was deleted or moved") != NULL, &c);
	char p[300];
	snprintf(p, sizeof p, "%s/n.md", old);
	FILE *f = fopen(p, "w");                  /* the old one is not watched */
	fputs("x", f);
	fclose(f);
	drain(&c);
	EXPECT(c.n == 0, &c);
	char tmpdir[256];
	snprintf(tmpdir, sizeof tmpdir, "%s/outside/newroot", tmp);
	mkdir(tmpdir, 0755);
	snprintf(p, sizeof p, "%s/pre.md", tmpdir);
	f = fopen(p, "w");
	fputs("x", f);
	fclose(f);
	mv(tmpdir, root);                         /* a full directory moved in */
	drain(&c);
	EXPECT(count(&c, COCO_CHANGE_RESCAN, NULL) == 1 && msg_with(&c, "is back"), &c);
	put("post.md", "x");
	drain(&c);
	EXPECT(c.n == 1 && count(&c, COCO_CHANGE_ROW, "post.md") == 1, &c);
	rm_tree(old);
	changes_free(&c);
}

/* ---- the watch limit, in a user namespace of our own ------------------------
 * /proc/sys/user/max_inotify_watches is per user namespace, so a child in a
 * new one can lower it without touching the machine's limit. */

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t r = write(fd, s, strlen(s));
	close(fd);
	return r == (ssize_t)strlen(s) ? 0 : -1;
}

static void test_limit(void)
{
	int pfd[2];
	if (pipe(pfd))
		return;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		char uidmap[64];
		snprintf(uidmap, sizeof uidmap, "0 %d 1", (int)getuid());
		if (unshare(CLONE_NEWUSER) || write_file("/proc/self/uid_map", uidmap) ||
		    write_file("/proc/sys/user/max_inotify_watches", "4")) {
			printf("note: cannot lower the inotify watch limit in a user namespace (%s); "
				"limit not tested\n", strerror(errno));
			passed = failed = 0;
		} else {
			passed = failed = 0;
			changes c = {0};
			void *s = open_src(-1);           /* docs and docs/sub: 2 watches */
			int fd = start_watch(s);
			CHECK(fd >= 0);
			mkd("l1");                        /* the 3rd and 4th fit */
			mkd("l2");
			drain_fd(s, fd, &c, 100);
			EXPECT(c.n == 0, &c);
			mkd("l3");                        /* over the limit */
			put("l3/a.md", "x");
			put("l3/b.md", "x");
			drain_fd(s, fd, &c, 100);
			const char *m = msg_with(&c, "max_inotify_watches");
			EXPECT(count(&c, COCO_CHANGE_DEGRADED, NULL) == 1 && m &&
				strstr(m, "polling") && strstr(m, "docs/l3") && strstr(m, "= 4"), &c);
			if (m)
				printf("  (degraded: %s)\n", m);
			mkd("l4");
			put("l4/c.md", "x");
			put("l1/d.md", "x");              /* the watched part goes on */
			drain_fd(s, fd, &c, 100);
			EXPECT(count(&c, COCO_CHANGE_DEGRADED, NULL) == 0 &&
				count(&c, COCO_CHANGE_ROW, "l1/d.md") == 1, &c);
			/* a second source while the limit is used up: watch() itself
			 * hits it, and the first watch_read() says so */
			void *s2 = open_src(-1);
			int fd2 = start_watch(s2);
			CHECK(fd2 >= 0);
			drain_fd(s2, fd2, &c, 100);
			EXPECT(c.n == 1 && count(&c, COCO_CHANGE_DEGRADED, NULL) == 1 &&
				msg_with(&c, "cannot watch directory 'docs'"), &c);
			drain_fd(s2, fd2, &c, 30);
			EXPECT(c.n == 0, &c);             /* said once, then quiet */
			LF->close(s2);
			changes_free(&c);
			LF->close(s);
		}
		int r[2] = { passed, failed };
		if (write(pfd[1], r, sizeof r) < 0)
			_exit(3);
		close(pfd[1]);
		fflush(stdout);
		exit(0);
	}
	close(pfd[1]);
	int r[2] = { 0, 0 };
	ssize_t got = read(pfd[0], r, sizeof r);
	close(pfd[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	if (got != sizeof r || !WIFEXITED(status) || WEXITSTATUS(status)) {
		printf("limit test child failed (status %d)\n", status);
		failed++;
		return;
	}
	passed += r[0];
	failed += r[1];
	rm_tree(at("l1"));
	rm_tree(at("l2"));
	rm_tree(at("l3"));
	rm_tree(at("l4"));
}

int main(void)
{
	snprintf(tmp, sizeof tmp, "/tmp/coco_lfwatch_XXXXXX");
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(root, sizeof root, "%s/docs", tmp);
	char out[256];
	snprintf(out, sizeof out, "%s/outside", tmp);
	mkdir(root, 0755);
	mkdir(out, 0755);
	mkd("sub");

	test_option();
	test_limit();

	src = open_src(-1);                       /* watch_changes defaults to true */
	wfd = start_watch(src);
	CHECK(wfd >= 0);
	if (wfd >= 0) {
		changes c = {0};
		drain(&c);
		EXPECT(c.n == 0, &c);                 /* nothing to report at start */
		changes_free(&c);
		test_files();
		test_editor_saves();
		test_new_dirs();
		test_dirs_go();
		test_symlinks();
		test_stop();
		test_overflow();
		test_root();
	}
	LF->close(src);

	rm_tree(tmp);
	return CHECK_DONE();
}
