/* LocalFile source: the files under a directory, as a table keyed by their
 * path relative to it. See README.md beside this file for the contract. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef SYS_openat2
#include <linux/openat2.h>
#endif

#include "engine/ops.h"
#include "engine/text.h"
#include "connectors/localfile/glob.h"
#include "connectors/localfile/localfile_int.h"
#include "engine/keyesc.h"
#include "engine/sys.h"

enum { OPT_PATH, OPT_INCLUDED, OPT_EXCLUDED, OPT_BINARY, OPT_MAX_SIZE, OPT_WATCH, OPT_DECODE };

static const coco_optdef lf_opts[] = {
	{ "path", COCO_OPT_STR, 1, "directory to read, relative to the flow file" },
	{ "included_patterns", COCO_OPT_STRLIST, 0, "globs of the files to list (default: all)" },
	{ "excluded_patterns", COCO_OPT_STRLIST, 0, "globs of the files and directories to skip" },
	{ "binary", COCO_OPT_BOOL, 0, "read content as bytes, not UTF-8 text (default false)" },
	{ "max_file_size", COCO_OPT_INT, 0, "skip files larger than this many bytes" },
	{ "watch_changes", COCO_OPT_BOOL, 0, "in live mode, watch the tree with inotify (default true)", 1 },
	COCO_TEXT_OPTDEF,
	{ NULL, 0, 0, NULL },
};

/* ---- options ------------------------------------------------------------ */

/* Validates the options; with s != NULL also fills its patterns and flags. */
static int check_opts(const coco_optval *opts, lf_src *s, char **err)
{
	const coco_optval *path = &opts[OPT_PATH], *max = &opts[OPT_MAX_SIZE];
	if (!path->set || !path->s || !path->s[0])
		return coco_seterr(err, "LocalFile: option 'path' is required");
	if (max->set && max->i < 0)
		return coco_seterr(err, "LocalFile: max_file_size must be >= 0 (got %lld)",
			(long long)max->i);
	if (coco_globsel_opts(&opts[OPT_INCLUDED], &opts[OPT_EXCLUDED], "LocalFile",
			s ? &s->mem : NULL, s ? &s->sel : NULL, err) ||
	    coco_text_errors_opt(&opts[OPT_DECODE], "LocalFile", s ? &s->strict : NULL, err))
		return -1;
	if (s) {
		s->binary = opts[OPT_BINARY].set && opts[OPT_BINARY].b;
		s->max_size = max->set ? max->i : -1;
		s->watch_changes = !opts[OPT_WATCH].set || opts[OPT_WATCH].b;
	}
	return 0;
}

/* Row type: table[filename: str]{content: str | bytes}. */
static int lf_row_type(const coco_optval *opts, coco_arena *types, const coco_type **out, char **err)
{
	if (check_opts(opts, NULL, err))
		return -1;
	int binary = opts[OPT_BINARY].set && opts[OPT_BINARY].b;
	coco_field f[2] = {
		{ "filename", &coco_t_str },
		{ "content", binary ? &coco_t_bytes : &coco_t_str },
	};
	*out = coco_type_table(types, f, 2, 1);
	return 0;
}

/* ---- paths -------------------------------------------------------------- */

/* Appends path lexically cleaned: no "." segments, no repeated or trailing
 * '/'. ".." is kept (it may cross a symlink). */
static void clean_path(coco_buf *out, const char *path)
{
	size_t start = out->n;
	if (*path == '/')
		coco_buf_putc(out, '/');
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		const char *q = p;
		while (*q && *q != '/')
			q++;
		size_t n = (size_t)(q - p);
		if (n && !(n == 1 && *p == '.')) {
			if (out->n > start && out->p[out->n - 1] != '/')
				coco_buf_putc(out, '/');
			coco_buf_add(out, p, n);
		}
		p = q;
	}
	if (out->n == start)
		coco_buf_putc(out, '.');
}

/* Appends "<path option>/<rel>", the name users see in messages. */
static void disp_path(coco_buf *out, const lf_src *s, const char *rel, size_t n)
{
	coco_buf_adds(out, s->disp);
	if (n && out->n && out->p[out->n - 1] != '/')
		coco_buf_putc(out, '/');
	coco_buf_add(out, rel, n);
}

/* 1 if absolute path real is the root or lies under it. */
int lf_inside_root(const lf_src *s, const char *real)
{
	if (s->rootlen == 1)                    /* root is "/" */
		return real[0] == '/';
	return !strncmp(real, s->root, s->rootlen) &&
		(real[s->rootlen] == '/' || !real[s->rootlen]);
}

/* 1 if name[0..n) is a relative path this source could have listed: not
 * empty, no leading '/', no empty, "." or ".." segment, no NUL. */
static int valid_rel(const char *name, size_t n)
{
	if (!n || name[0] == '/' || strlen(name) != n)
		return 0;
	for (const char *p = name, *e = name + n; p <= e;) {
		const char *q = memchr(p, '/', (size_t)(e - p));
		if (!q)
			q = e;
		size_t len = (size_t)(q - p);
		if (!len || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		p = q + 1;
	}
	return 1;
}

/* Sets s->root from realpath(s->raw); -1 with the user's message. */
int lf_resolve_root(lf_src *s, char **err)
{
	struct stat st;
	if (stat(s->raw, &st)) {
		if (errno == ENOENT || errno == ENOTDIR)
			return coco_seterr(err, "LocalFile: path '%s' (%s) does not exist", s->disp, s->abs);
		return coco_seterr(err, "LocalFile: path '%s' (%s): %s", s->disp, s->abs, strerror(errno));
	}
	if (!S_ISDIR(st.st_mode))
		return coco_seterr(err, "LocalFile: path '%s' (%s) is not a directory", s->disp, s->abs);
	char *real = realpath(s->raw, NULL);
	if (!real)
		return coco_seterr(err, "LocalFile: path '%s' (%s): %s", s->disp, s->abs, strerror(errno));
	if (!s->root || strcmp(real, s->root)) {  /* first time, or a symlink moved */
		s->root = coco_arena_strdup(&s->mem, real);
		s->rootlen = strlen(real);
	}
	free(real);
	return 0;
}

/* ---- open / close ------------------------------------------------------- */

static void lf_close(void *sp)
{
	lf_src *s = sp;
	if (!s)
		return;
	lf_watch_free(s->watch);
	coco_arena_destroy(&s->mem);
	free(s);
}

static int lf_open(const coco_optval *opts, const char *base_dir, void **out, char **err)
{
	*out = NULL;
	lf_src *s = calloc(1, sizeof *s);
	if (!s)
		return coco_seterr(err, "LocalFile: out of memory");
	coco_buf raw = {0}, b = {0};
	if (check_opts(opts, s, err))
		goto fail;
	const char *path = opts[OPT_PATH].s;
	if (path[0] != '/') {
		if (!base_dir || base_dir[0] != '/') {
			char *cwd = getcwd(NULL, 0);
			if (!cwd) {
				coco_seterr(err, "LocalFile: cannot get the current directory: %s", strerror(errno));
				goto fail;
			}
			coco_buf_adds(&raw, cwd);
			coco_buf_putc(&raw, '/');
			free(cwd);
		}
		if (base_dir && base_dir[0]) {
			coco_buf_adds(&raw, base_dir);
			coco_buf_putc(&raw, '/');
		}
	}
	coco_buf_adds(&raw, path);
	clean_path(&b, raw.p);
	s->raw = coco_arena_strdup(&s->mem, raw.p);
	s->abs = coco_arena_strdup(&s->mem, b.p);
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	s->disp = coco_arena_strndup(&s->mem, path, n);
	if (lf_resolve_root(s, err))
		goto fail;

	/* The root must be readable; probe openat2() on the way (old kernels
	 * and some seccomp filters lack it: then read() uses realpath()). */
	int fd = -1;
#ifdef SYS_openat2
	struct open_how how = { .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_NO_SYMLINKS };
	fd = (int)syscall(SYS_openat2, AT_FDCWD, s->root, &how, sizeof how);
	s->have_openat2 = fd >= 0;
#endif
	if (fd < 0)
		fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		coco_seterr(err, "LocalFile: cannot read path '%s' (%s): %s", s->disp, s->abs, strerror(errno));
		goto fail;
	}
	close(fd);
	coco_buf_free(&raw);
	coco_buf_free(&b);
	*out = s;
	return 0;
fail:
	coco_buf_free(&raw);
	coco_buf_free(&b);
	lf_close(s);
	return -1;
}

/* ---- list --------------------------------------------------------------- */

typedef struct walk {
	lf_src *s;
	coco_list_cb cb;
	void *ud;
	coco_buf rel;            /* relative path of the current entry */
	coco_buf tmp;
	int rootfd;              /* symlinks resolve beneath it */
	lf_anc anc;
	int stop;
} walk;

void lf_anc_push(lf_anc *a, const struct stat *st)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 16;
		a->d = coco_xrealloc(a->d, a->cap * sizeof *a->d);
	}
	a->d[a->n].dev = st->st_dev;
	a->d[a->n].ino = st->st_ino;
	a->n++;
}

int lf_anc_has(const lf_anc *a, const struct stat *st)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->d[i].dev == st->st_dev && a->d[i].ino == st->st_ino)
			return 1;
	return 0;
}

static void warn_dir(walk *w, int e)
{
	coco_buf_clear(&w->tmp);
	disp_path(&w->tmp, w->s, w->rel.n ? w->rel.p : "", w->rel.n);
	fprintf(stderr, "coco: LocalFile: cannot read directory '%s': %s\n", w->tmp.p, strerror(e));
}

static void put_le64(unsigned char *p, int64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)((uint64_t)v >> (8 * i));
}

/* The ordinal: mtime in ns, then size, both int64 little-endian. */
static void ordinal(unsigned char ord[16], const struct stat *st)
{
	put_le64(ord, (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec);
	put_le64(ord + 8, (int64_t)st->st_size);
}

static void emit(walk *w, const struct stat *st)
{
	if (w->s->max_size >= 0 && st->st_size > w->s->max_size)
		return;
	unsigned char ord[16];
	ordinal(ord, st);
	coco_value key = coco_v_str(w->rel.p, w->rel.n);
	if (coco_key_needs_escape(w->rel.p, w->rel.n)) {   /* not UTF-8: keyesc.h */
		coco_buf_clear(&w->tmp);
		coco_key_escape(w->rel.p, w->rel.n, &w->tmp);
		key = coco_v_str(w->tmp.p, w->tmp.n);
	}
	if (w->cb(w->ud, &key, ord, sizeof ord))
		w->stop = 1;
}

static void walk_dir(walk *w, int dfd);

/* A symlink: followed only when its target resolves inside the root. */
static void walk_link(walk *w)
{
	lf_src *s = w->s;
	if (lf_excluded(s, w->rel.p, w->rel.n, 0))   /* implies the COCO_GLOB_DIR match */
		return;
	int pfd = lf_open_beneath(s, w->rootfd, w->rel.p, O_PATH);
	struct stat st;
	if (pfd < 0 || fstat(pfd, &st)) {         /* dangling, a loop, or out of the tree */
		if (pfd >= 0)
			close(pfd);
		return;
	}
	if (S_ISREG(st.st_mode)) {
		if (lf_wanted_file(s, w->rel.p, w->rel.n))
			emit(w, &st);
	} else if (S_ISDIR(st.st_mode) && !lf_excluded(s, w->rel.p, w->rel.n, COCO_GLOB_DIR)) {
		int fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0)
			walk_dir(w, fd);
		else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
			warn_dir(w, errno);
	}
	close(pfd);
}

/* One directory entry; w->rel holds its relative path. */
static void walk_entry(walk *w, int dfd, const char *name, unsigned char type)
{
	lf_src *s = w->s;
	struct stat st;
	int have_st = 0;
	if (type == DT_UNKNOWN) {                 /* some filesystems: stat it */
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW))
			return;
		type = IFTODT(st.st_mode);
		have_st = 1;
	}
	switch (type) {
	case DT_REG:
		if (!lf_wanted_file(s, w->rel.p, w->rel.n))
			return;
		if (!have_st && fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW))
			return;                           /* gone since readdir */
		if (S_ISREG(st.st_mode))
			emit(w, &st);
		return;
	case DT_DIR: {
		if (lf_excluded(s, w->rel.p, w->rel.n, COCO_GLOB_DIR))
			return;
		int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			walk_dir(w, fd);
		else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
			warn_dir(w, errno);
		return;
	}
	case DT_LNK:
		walk_link(w);
		return;
	default:                                  /* fifo, socket, device */
		return;
	}
}

/* Walks the directory open at dfd (closed here); w->rel is its path. */
static void walk_dir(walk *w, int dfd)
{
	struct stat st;
	if (fstat(dfd, &st)) {
		warn_dir(w, errno);
		close(dfd);
		return;
	}
	if (lf_anc_has(&w->anc, &st)) {           /* a cycle through a symlink */
		close(dfd);
		return;
	}
	DIR *d = fdopendir(dfd);
	if (!d) {
		warn_dir(w, errno);
		close(dfd);
		return;
	}
	lf_anc_push(&w->anc, &st);
	size_t base = w->rel.n;
	while (!w->stop) {
		errno = 0;
		struct dirent *e = readdir(d);
		if (!e) {
			if (errno)
				warn_dir(w, errno);
			break;
		}
		const char *name = e->d_name;
		if (lf_dot(name))
			continue;
		if (base)
			coco_buf_putc(&w->rel, '/');
		coco_buf_adds(&w->rel, name);
		walk_entry(w, dfd, name, e->d_type);
		w->rel.n = base;
		w->rel.p[base] = 0;
	}
	w->anc.n--;
	closedir(d);
}

/* Lists every wanted regular file under the root (in directory order). */
static int lf_list(void *sp, coco_list_cb cb, void *ud, char **err)
{
	lf_src *s = sp;
	if (lf_resolve_root(s, err))
		return -1;
	int fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return coco_seterr(err, "LocalFile: path '%s' (%s) does not exist", s->disp, s->abs);
		return coco_seterr(err, "LocalFile: cannot read path '%s' (%s): %s",
			s->disp, s->abs, strerror(errno));
	}
	walk w = { .s = s, .cb = cb, .ud = ud, .rootfd = fcntl(fd, F_DUPFD_CLOEXEC, 0) };
	if (w.rootfd < 0) {
		close(fd);
		return coco_seterr(err, "LocalFile: cannot read path '%s' (%s): %s",
			s->disp, s->abs, strerror(errno));
	}
	walk_dir(&w, fd);
	close(w.rootfd);
	coco_buf_free(&w.rel);
	coco_buf_free(&w.tmp);
	free(w.anc.d);
	return 0;
}

/* ---- read --------------------------------------------------------------- */

/* ---- opening beneath the root ----------------------------------------------
 * Every open of a path under the root resolves it from the root's fd with
 * the kernel's help, so that no directory swapped for a symlink while coco
 * works can lead out of the tree (checking a resolved path and opening it
 * again would leave a gap): openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
 * follows the relative in-tree symlinks itself; an absolute symlink, one
 * that climbs out with "..", and kernels without openat2 go through
 * walk_beneath, one openat(O_NOFOLLOW) per component. */

#define LF_MAX_HOPS 40                    /* symlinks per open, as the kernel's ELOOP */

/* The part of absolute path t under the root ("" for the root itself), or
 * NULL when t is not under it (as the real path or the path as given). */
static const char *under_root(const lf_src *s, const char *t)
{
	if (lf_inside_root(s, t))
		return s->rootlen == 1 ? t + 1 : t + s->rootlen + (t[s->rootlen] == '/');
	size_t n = strlen(s->abs);
	if (n > 1 && !strncmp(t, s->abs, n) && (t[n] == '/' || !t[n]) && !strstr(s->abs, "/.."))
		return t + n + (t[n] == '/');
	return NULL;
}

/* Resolves rel from rootfd by hand: one openat(O_NOFOLLOW) per component,
 * a symlink's target spliced into what is left (an absolute one restarts
 * from the root when it names a path under it), ".." never above the
 * root. A path that leads out of the root fails with ENOENT (the file is
 * not part of the source). Returns an fd opened with flags, or -1 with
 * errno. */
static int walk_beneath(const lf_src *s, int rootfd, const char *rel, int flags)
{
	coco_buf todo = {0}, next = {0};
	coco_buf_adds(&todo, rel);
	int *fds = NULL;                      /* the directories opened, root excluded */
	size_t nfd = 0, cap = 0, pos = 0;
	int hops = 0, fd = -1, e = 0;
	char name[256], target[4096];
	for (;;) {
		int cur = nfd ? fds[nfd - 1] : rootfd;
		while (todo.p[pos] == '/')
			pos++;
		size_t start = pos;
		while (todo.p[pos] && todo.p[pos] != '/')
			pos++;
		size_t len = pos - start;
		while (todo.p[pos] == '/')
			pos++;
		int last = !todo.p[pos];
		if (len >= sizeof name) {
			e = ENAMETOOLONG;
			break;
		}
		memcpy(name, todo.p + start, len);
		name[len] = 0;
		if (!len || !strcmp(name, ".") || !strcmp(name, "..")) {
			if (len == 2) {                   /* ".." */
				if (!nfd) {
					e = ENOENT;               /* out of the root */
					break;
				}
				close(fds[--nfd]);
				cur = nfd ? fds[nfd - 1] : rootfd;
			}
			if (last) {
				fd = openat(cur, ".", flags);
				e = errno;
				break;
			}
			continue;
		}
		int f = openat(cur, name, last ? flags | O_NOFOLLOW
			: O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		if (f >= 0 && last && (flags & O_PATH) && (fstat(f, &st) || S_ISLNK(st.st_mode))) {
			close(f);                     /* O_PATH | O_NOFOLLOW opened the link itself */
			f = -1;
			errno = ELOOP;
		}
		if (f >= 0) {
			if (last) {
				fd = f;
				break;
			}
			if (nfd == cap) {
				cap = cap ? 2 * cap : 16;
				fds = coco_xrealloc(fds, cap * sizeof *fds);
			}
			fds[nfd++] = f;
			continue;
		}
		e = errno;
		if (e != ELOOP && e != ENOTDIR)
			break;
		ssize_t r = readlinkat(cur, name, target, sizeof target - 1);
		if (r < 0) {                      /* not a symlink: the error stands */
			if (errno != EINVAL)
				e = errno;
			break;
		}
		target[r] = 0;
		if (++hops > LF_MAX_HOPS) {
			e = ELOOP;
			break;
		}
		const char *t = target;
		if (t[0] == '/') {
			if (!(t = under_root(s, target))) {
				e = ENOENT;               /* a link out of the tree */
				break;
			}
			while (nfd)
				close(fds[--nfd]);
		}
		coco_buf_clear(&next);
		coco_buf_adds(&next, t);
		coco_buf_putc(&next, '/');
		coco_buf_adds(&next, todo.p + pos);
		coco_buf_clear(&todo);
		coco_buf_add(&todo, next.p, next.n);
		pos = 0;
	}
	while (nfd)
		close(fds[--nfd]);
	free(fds);
	coco_buf_free(&todo);
	coco_buf_free(&next);
	if (fd < 0)
		errno = e ? e : ENOENT;
	return fd;
}

int lf_open_beneath(const lf_src *s, int rootfd, const char *rel, int flags)
{
	flags |= O_CLOEXEC;
	if (!*rel)
		return openat(rootfd, ".", flags);
#ifdef SYS_openat2
	if (s->have_openat2) {
		struct open_how how = { .flags = (uint64_t)flags,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS };
		for (int i = 0; i < 4; i++) {
			int fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
			if (fd >= 0 || (errno != EAGAIN && errno != EXDEV))
				return fd;
			if (errno == EXDEV)       /* an absolute symlink, or ".." out */
				break;
		}
	}
#endif
	return walk_beneath(s, rootfd, rel, flags);
}

int lf_open_rel(const lf_src *s, const char *rel, int flags)
{
	int root = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -1;
	int fd = lf_open_beneath(s, root, rel, flags);
	int e = errno;
	close(root);
	errno = e;
	return fd;
}

static int read_error(const lf_src *s, const char *name, size_t n, const char *what,
	const char *detail, char **err)
{
	coco_buf b = {0};
	disp_path(&b, s, name, n);
	coco_seterr(err, "%s: %s%s", b.p, what, detail);
	coco_buf_free(&b);
	return -1;
}

/* Reads fd to EOF into one arena allocation (size + 1 bytes when the file
 * did not grow), NUL-terminated; sets data and n. Returns 0 or an errno. */
static int read_all(int fd, size_t size, coco_arena *a, char **data, size_t *n)
{
	char *p = coco_arena_alloc(a, size + 1);
	size_t got = 0;
	while (got < size) {
		ssize_t r = read(fd, p + got, size - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (!r)
			break;
		got += (size_t)r;
	}
	if (got == size) {                        /* grown since fstat()? */
		char more[4096];
		ssize_t r;
		while ((r = read(fd, more, sizeof more)) < 0 && errno == EINTR)
			;
		if (r < 0)
			return errno;
		if (r > 0) {
			coco_buf b = {0};
			coco_buf_add(&b, p, got);
			do {
				coco_buf_add(&b, more, (size_t)r);
				while ((r = read(fd, more, sizeof more)) < 0 && errno == EINTR)
					;
			} while (r > 0);
			if (r < 0) {
				int e = errno;
				coco_buf_free(&b);
				return e;
			}
			p = coco_arena_strndup(a, b.p, b.n);
			got = b.n;
			coco_buf_free(&b);
		}
	}
	p[got] = 0;
	*data = p;
	*n = got;
	return 0;
}

static int lf_read(void *sp, const coco_value *key, coco_arena *a, coco_value *row,
	coco_buf *ord, char **err)
{
	lf_src *s = sp;
	coco_buf_clear(ord);
	if (!key || key->kind != COCO_STR)
		return coco_seterr(err, "LocalFile: the row key must be a str (filename)");
	size_t n = key->n;
	const char *name = coco_arena_strndup(a, key->u.s, n);   /* the key, for messages */
	const char *path = NULL;                  /* the file's own name (keyesc.h) */
	if (!coco_key_needs_escape(name, n)) {
		path = name;
	} else if (memchr(name, '\\', n)) {
		coco_buf raw = {0};
		if (coco_key_unescape(name, n, &raw) == 0)
			path = coco_arena_strndup(a, raw.p, raw.n);
		n = path ? raw.n : n;
		coco_buf_free(&raw);
	}
	if (!path || !valid_rel(path, n))        /* no key this source lists */
		return 1;
	n = key->n;

	int fd = lf_open_rel(s, path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
	int e = errno;
	if (fd < 0) {
		if (e == ENOENT || e == ENOTDIR || e == ELOOP)   /* gone, out of the tree, a loop */
			return 1;
		return read_error(s, name, n, "cannot read: ", strerror(e), err);
	}
	struct stat st;
	if (fstat(fd, &st)) {
		e = errno;
		close(fd);
		return read_error(s, name, n, "cannot read: ", strerror(e), err);
	}
	if (!S_ISREG(st.st_mode) || (s->max_size >= 0 && st.st_size > s->max_size)) {
		close(fd);
		return 1;
	}
	unsigned char o[16];
	ordinal(o, &st);
	char *data = NULL;
	size_t len = 0;
	e = read_all(fd, (size_t)st.st_size, a, &data, &len);
	close(fd);
	if (e)
		return read_error(s, name, n, "cannot read: ", strerror(e), err);
	coco_value *f = coco_arena_alloc(a, 2 * sizeof *f);
	coco_buf what = {0};
	int rc = coco_text_content(data, len, s->binary, s->strict, a, &f[1], &what);
	if (rc)                               /* 2, replaced: a warning, the row goes on */
		read_error(s, name, n, what.p, "", err);
	coco_buf_free(&what);
	if (rc < 0)
		return -1;
	f[0] = coco_v_str(name, n);
	*row = coco_v_struct(f, 2);
	/* Racy clean (as git calls it): a file modified within the
	 * timestamp granularity after this read keeps its mtime and size. A
	 * file younger than 2 s gets no ordinal, so the next run reads it
	 * again and its content fingerprint decides. */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (now.tv_sec - st.st_mtim.tv_sec >= 2)
		coco_buf_add(ord, o, sizeof o);
	return rc;
}

const coco_source_ops coco_localfile_source = {
	.name = "LocalFile",
	.opts = lf_opts,
	.row_type = lf_row_type,
	.open = lf_open,
	.list = lf_list,
	.read = lf_read,
	.close = lf_close,
	.watch = lf_watch_start,
	.watch_read = lf_watch_read,
};
