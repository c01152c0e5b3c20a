/* LocalFile change capture: inotify watches on the root and on every
 * directory list() would walk, turned into coco_change_kind reports for the
 * live engine. See "Change capture (live mode)" in README.md.
 *
 * The fd handed out is a small epoll set holding the inotify fd and an
 * eventfd. The eventfd wakes the engine for reports that did not come from
 * the kernel queue (a warning from watch(), reports left over when the
 * callback asked to stop); the inotify fd can be replaced behind it (queue
 * overflow, root replaced) without the engine noticing. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connectors/localfile/localfile_int.h"
#include "engine/keyesc.h"
#include "engine/sys.h"

#define DIR_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | \
	IN_DELETE_SELF | IN_MOVE_SELF | IN_EXCL_UNLINK | IN_ONLYDIR | IN_DONT_FOLLOW)
#define PARENT_MASK (IN_CREATE | IN_MOVED_TO | IN_ONLYDIR)  /* while the root is gone */
#define READ_BUF (64 * 1024)
#define MAX_READS 64             /* per watch_read: a writer that never pauses can't hold it */

/* One watched directory: its wd, its real path, and the relative paths it
 * is reached by (one, unless in-tree symlinks lead to it too; "" = root). */
typedef struct wdent {
	int wd;                  /* 0: free slot (the kernel's wds start at 1) */
	uint32_t n, cap;
	char *abs;
	char **rel;
} wdent;

typedef struct pending {
	coco_change_kind kind;
	char *msg;
} pending;

struct lf_watch {
	lf_src *s;
	int fd;                  /* epoll: what watch() hands out */
	int ifd;                 /* inotify, -1 if it could not be created */
	int efd;                 /* eventfd: reports wait in pend */
	int root_wd;             /* -1: not watched (gone, or over the limit) */
	int parent_wd;           /* while the root is gone: its parent's watch, else -1 */
	int degraded;            /* DEGRADED was reported */
	int lost;                /* the root is gone: try_root() until it is back */
	wdent *tab;              /* open addressing on wd, linear probing */
	size_t cap, used;
	char **links;            /* symlinks walked as directories (relative) */
	size_t nlinks, caplinks;
	pending *pend;           /* reports for the next watch_read */
	size_t npend, cappend;
	char *buf;               /* events read; [off, len) not handled yet */
	size_t off, len;
	/* during watch() / watch_read() */
	coco_change_cb cb;       /* NULL: queue reports in pend */
	void *ud;
	int stop;                /* cb asked to stop */
	coco_buf rel, abs;       /* the entry at hand: relative and real path */
	lf_anc anc;              /* directories being walked */
};

/* ---- reports ------------------------------------------------------------ */

static void queue(lf_watch *w, coco_change_kind kind, const char *msg)
{
	if (!msg && w->npend && w->pend[w->npend - 1].kind == kind && !w->pend[w->npend - 1].msg)
		return;                           /* one RESCAN is as good as two */
	if (w->npend == w->cappend) {
		w->cappend = w->cappend ? 2 * w->cappend : 8;
		w->pend = coco_xrealloc(w->pend, w->cappend * sizeof *w->pend);
	}
	w->pend[w->npend].kind = kind;
	w->pend[w->npend].msg = msg ? coco_xstrndup(msg, strlen(msg)) : NULL;
	w->npend++;
	coco_efd_notify(w->efd);
}

/* Reports a change: through cb inside watch_read(), else (inside watch(),
 * or after cb asked to stop) queued for the next watch_read(). A row that
 * cannot be reported now is queued as a RESCAN: the full pass finds it. */
static void note(lf_watch *w, coco_change_kind kind, const coco_value *key, const char *msg)
{
	if (w->cb && !w->stop) {
		if (w->cb(w->ud, kind, key, msg))
			w->stop = 1;
		return;
	}
	queue(w, key ? COCO_CHANGE_RESCAN : kind, msg);
}

/* Reports the entry at hand (w->rel) as a row. */
static void note_row(lf_watch *w, coco_change_kind kind)
{
	if (coco_key_needs_escape(w->rel.p, w->rel.n)) {   /* not UTF-8: keyesc.h */
		coco_buf k = {0};
		coco_key_escape(w->rel.p, w->rel.n, &k);
		coco_value key = coco_v_str(k.p, k.n);
		note(w, kind, &key, NULL);
		coco_buf_free(&k);
		return;
	}
	coco_value key = coco_v_str(w->rel.p, w->rel.n);
	note(w, kind, &key, NULL);
}

/* Appends "docs/<rel>", the name users see. */
static void disp(coco_buf *b, const lf_src *s, const char *rel)
{
	coco_buf_adds(b, s->disp);
	if (*rel) {
		if (b->n && b->p[b->n - 1] != '/')
			coco_buf_putc(b, '/');
		coco_buf_adds(b, rel);
	}
}

/* Change capture is incomplete from now on: report DEGRADED once. */
static void degrade(lf_watch *w, const char *why)
{
	if (w->degraded)
		return;
	w->degraded = 1;
	coco_buf b = {0};
	coco_buf_printf(&b, "LocalFile: %s; changes under '%s' are now found by polling", why,
		w->s->disp);
	note(w, COCO_CHANGE_DEGRADED, NULL, b.p);
	coco_buf_free(&b);
}

static long read_long(const char *path)
{
	long v = -1;
	FILE *f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* The directory at hand could not be watched (errno e). */
static void dir_failed(lf_watch *w, int e)
{
	if (e == ENOENT || e == ENOTDIR || e == ELOOP)
		return;                           /* gone or replaced: its parent's events tell */
	if (e == ENOSPC && w->degraded)
		return;
	coco_buf b = {0};
	coco_buf_adds(&b, "cannot watch directory '");
	disp(&b, w->s, w->rel.p ? w->rel.p : "");
	if (e == ENOSPC) {
		/* the limit that applies: the smaller of the machine's and the
		 * user namespace's (a container may have its own) */
		long fs = read_long("/proc/sys/fs/inotify/max_user_watches");
		long ns = read_long("/proc/sys/user/max_inotify_watches");
		coco_buf_adds(&b, "': the inotify watch limit is reached (");
		if (ns >= 0 && (fs < 0 || ns < fs))
			coco_buf_printf(&b, "user.max_inotify_watches = %ld in this user namespace, "
				"see /proc/sys/user/max_inotify_watches)", ns);
		else if (fs >= 0)
			coco_buf_printf(&b, "fs.inotify.max_user_watches = %ld, "
				"see /proc/sys/fs/inotify/max_user_watches)", fs);
		else
			coco_buf_adds(&b, "see /proc/sys/fs/inotify/max_user_watches)");
		degrade(w, b.p);
	} else {
		coco_buf_printf(&b, "': %s; changes under it are not seen", strerror(e));
		coco_buf m = {0};
		coco_buf_printf(&m, "LocalFile: %s", b.p);
		note(w, COCO_CHANGE_RESCAN, NULL, m.p);
		coco_buf_free(&m);
	}
	coco_buf_free(&b);
}

/* ---- the wd table --------------------------------------------------------- */

static size_t slot(const lf_watch *w, int wd)
{
	return ((uint32_t)wd * 2654435761u) & (w->cap - 1);
}

static wdent *tab_find(lf_watch *w, int wd)
{
	if (!w->cap)
		return NULL;
	for (size_t i = slot(w, wd);; i = (i + 1) & (w->cap - 1)) {
		if (w->tab[i].wd == wd)
			return &w->tab[i];
		if (!w->tab[i].wd)
			return NULL;
	}
}

static void ent_free(wdent *e)
{
	for (uint32_t i = 0; i < e->n; i++)
		free(e->rel[i]);
	free(e->rel);
	free(e->abs);
	memset(e, 0, sizeof *e);
}

/* The entry of wd, created (empty) if missing. */
static wdent *tab_insert(lf_watch *w, int wd)
{
	wdent *e = tab_find(w, wd);
	if (e)
		return e;
	if (2 * (w->used + 1) > w->cap) {
		size_t ocap = w->cap;
		wdent *old = w->tab;
		w->cap = ocap ? 2 * ocap : 64;
		w->tab = coco_xrealloc(NULL, w->cap * sizeof *w->tab);
		memset(w->tab, 0, w->cap * sizeof *w->tab);
		for (size_t i = 0; i < ocap; i++)
			if (old[i].wd) {
				size_t k = slot(w, old[i].wd);
				while (w->tab[k].wd)
					k = (k + 1) & (w->cap - 1);
				w->tab[k] = old[i];
			}
		free(old);
	}
	size_t i = slot(w, wd);
	while (w->tab[i].wd)
		i = (i + 1) & (w->cap - 1);
	w->tab[i].wd = wd;
	w->used++;
	return &w->tab[i];
}

/* Frees e and closes the gap it leaves (backward-shift deletion). */
static void tab_remove(lf_watch *w, wdent *e)
{
	size_t mask = w->cap - 1, i = (size_t)(e - w->tab);
	ent_free(e);
	for (size_t j = (i + 1) & mask; w->tab[j].wd; j = (j + 1) & mask) {
		size_t k = slot(w, w->tab[j].wd);
		/* move j into the hole unless its home k lies cyclically in (i, j] */
		if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
			w->tab[i] = w->tab[j];
			memset(&w->tab[j], 0, sizeof w->tab[j]);
			i = j;
		}
	}
	w->used--;
}

/* Records that wd is the directory at hand (w->rel, w->abs). Returns 1 if
 * that is new, 0 if it was known by that path already. */
static int alias_add(lf_watch *w, int wd)
{
	wdent *e = tab_insert(w, wd);
	for (uint32_t i = 0; i < e->n; i++)
		if (!strcmp(e->rel[i], w->rel.p ? w->rel.p : ""))
			return 0;
	if (e->n == e->cap) {
		e->cap = e->cap ? 2 * e->cap : 1;
		e->rel = coco_xrealloc(e->rel, e->cap * sizeof *e->rel);
	}
	e->rel[e->n++] = coco_xstrndup(w->rel.p ? w->rel.p : "", w->rel.n);
	if (!e->abs)
		e->abs = coco_xstrndup(w->abs.p, w->abs.n);
	return 1;
}

/* 1 if path a is rel[0..n) or lies under it. */
static int under(const char *a, const char *rel, size_t n)
{
	return !strncmp(a, rel, n) && (!a[n] || a[n] == '/');
}

/* Frees and removes the paths of v[0..nv) at or under rel[0..n) (order
 * not kept); returns how many are left. */
static size_t drop_under(char **v, size_t nv, const char *rel, size_t n)
{
	for (size_t i = 0; i < nv;) {
		if (under(v[i], rel, n)) {
			free(v[i]);
			v[i] = v[--nv];
		} else {
			i++;
		}
	}
	return nv;
}

/* Forgets every path at or under rel (a directory moved away, a symlink
 * removed); a directory left with no path is no longer watched. */
static void drop(lf_watch *w, const char *rel, size_t n)
{
	w->nlinks = drop_under(w->links, w->nlinks, rel, n);
	int *gone = NULL;
	size_t ngone = 0;
	for (size_t i = 0; i < w->cap; i++) {
		wdent *e = &w->tab[i];
		if (!e->wd)
			continue;
		e->n = (uint32_t)drop_under(e->rel, e->n, rel, n);
		if (!e->n) {
			gone = coco_xrealloc(gone, (ngone + 1) * sizeof *gone);
			gone[ngone++] = e->wd;
		}
	}
	for (size_t i = 0; i < ngone; i++) {
		inotify_rm_watch(w->ifd, gone[i]);
		tab_remove(w, tab_find(w, gone[i]));
	}
	free(gone);
}

/* 1 if rel[0..n) is a symlink walked as a directory. */
static int is_link(const lf_watch *w, const char *rel, size_t n)
{
	for (size_t i = 0; i < w->nlinks; i++)
		if (!strncmp(w->links[i], rel, n) && !w->links[i][n])
			return 1;
	return 0;
}

/* ---- walking ------------------------------------------------------------ */

/* Sets b to dir + "/" + name. */
static void join(coco_buf *b, const char *dir, const char *name)
{
	coco_buf_clear(b);
	coco_buf_adds(b, dir);
	if (b->n && b->p[b->n - 1] != '/')
		coco_buf_putc(b, '/');
	coco_buf_adds(b, name);
}

static void add_dir(lf_watch *w, int report);

/* A symlink at hand: walked when it resolves inside the root, as list()
 * does; a symlink to a file is reported as a row when report is set. */
static void add_link(lf_watch *w, int report)
{
	lf_src *s = w->s;
	if (lf_excluded(s, w->rel.p, w->rel.n, 0))
		return;
	/* resolved beneath the root (localfile.c): nothing swapped in meanwhile
	 * leads out of it; real is where the kernel found it */
	int pfd = lf_open_rel(s, w->rel.n ? w->rel.p : "", O_PATH);
	struct stat st;
	char real[PATH_MAX], proc[32];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", pfd);
	ssize_t rn = pfd >= 0 && !fstat(pfd, &st) ? readlink(proc, real, sizeof real - 1) : -1;
	if (pfd >= 0)
		close(pfd);
	if (rn <= 0)                              /* dangling, a loop, or out of the tree */
		return;
	real[rn] = 0;
	if (S_ISREG(st.st_mode)) {
		if (report && lf_wanted_file(s, w->rel.p, w->rel.n))
			note_row(w, COCO_CHANGE_SCANNED);
	} else if (S_ISDIR(st.st_mode) && !lf_excluded(s, w->rel.p, w->rel.n, COCO_GLOB_DIR)) {
		size_t i;
		for (i = 0; i < w->nlinks && strcmp(w->links[i], w->rel.p); i++)
			;
		if (i == w->nlinks) {
			if (w->nlinks == w->caplinks) {
				w->caplinks = w->caplinks ? 2 * w->caplinks : 8;
				w->links = coco_xrealloc(w->links, w->caplinks * sizeof *w->links);
			}
			w->links[w->nlinks++] = coco_xstrndup(w->rel.p, w->rel.n);
		}
		size_t n = w->abs.n;
		char *save = coco_xstrndup(w->abs.p, n);
		coco_buf_clear(&w->abs);
		coco_buf_adds(&w->abs, real);
		add_dir(w, report);
		coco_buf_clear(&w->abs);
		coco_buf_add(&w->abs, save, n);
		free(save);
	}
}

/* One directory entry; w->rel and w->abs hold its paths. */
static void add_entry(lf_watch *w, int dfd, const char *name, unsigned char type, int report)
{
	lf_src *s = w->s;
	if (type == DT_UNKNOWN) {                 /* some filesystems: stat it */
		struct stat st;
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW))
			return;
		type = IFTODT(st.st_mode);
	}
	switch (type) {
	case DT_REG:
		if (report && lf_wanted_file(s, w->rel.p, w->rel.n))
			note_row(w, COCO_CHANGE_SCANNED);
		return;
	case DT_DIR:
		if (!lf_excluded(s, w->rel.p, w->rel.n, COCO_GLOB_DIR))
			add_dir(w, report);
		return;
	case DT_LNK:
		add_link(w, report);
		return;
	default:
		return;
	}
}

/* Watches the directory at hand (w->abs, reached as w->rel), then walks it
 * as list() would, watching each directory before reading it: a file
 * created after that is seen by an event, one created before by the read.
 * With report, each wanted file found is reported as SCANNED. A directory
 * already watched by this path was walked then: it is left alone. */
static void add_dir(lf_watch *w, int report)
{
	/* opened beneath the root and watched through its fd: a directory
	 * swapped for a symlink meanwhile is neither read nor watched */
	int dfd = lf_open_rel(w->s, w->rel.n ? w->rel.p : "", O_RDONLY | O_DIRECTORY);
	if (dfd < 0) {
		dir_failed(w, errno);
		return;
	}
	struct stat st;
	if (fstat(dfd, &st)) {
		dir_failed(w, errno);
		close(dfd);
		return;
	}
	if (lf_anc_has(&w->anc, &st)) {           /* a cycle through a symlink */
		close(dfd);
		return;
	}
	char proc[32];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", dfd);
	/* (the /proc link is followed to the directory dfd is: no IN_DONT_FOLLOW) */
	int wd = w->ifd >= 0 ? inotify_add_watch(w->ifd, proc, DIR_MASK & ~IN_DONT_FOLLOW) : -1;
	if (wd < 0 && w->ifd >= 0 && errno == ENOENT)   /* no /proc: by path */
		wd = inotify_add_watch(w->ifd, w->abs.p, DIR_MASK);
	if (wd < 0) {
		int e = w->ifd >= 0 ? errno : ENOSPC;
		dir_failed(w, e);
		if (e != ENOSPC) {
			close(dfd);
			return;
		}
		/* not watched: walk it all the same, so what is there is reported */
	} else {
		if (!alias_add(w, wd)) {
			close(dfd);
			return;
		}
		if (!w->rel.n)
			w->root_wd = wd;
	}
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	lf_anc_push(&w->anc, &st);
	size_t rbase = w->rel.n, abase = w->abs.n;
	for (;;) {
		struct dirent *e = readdir(d);
		if (!e)
			break;
		const char *name = e->d_name;
		if (lf_dot(name))
			continue;
		if (rbase)
			coco_buf_putc(&w->rel, '/');
		coco_buf_adds(&w->rel, name);
		if (w->abs.p[abase - 1] != '/')
			coco_buf_putc(&w->abs, '/');
		coco_buf_adds(&w->abs, name);
		add_entry(w, dfd, name, e->d_type, report);
		w->rel.n = rbase;
		w->rel.p[rbase] = 0;
		w->abs.n = abase;
		w->abs.p[abase] = 0;
	}
	w->anc.n--;
	closedir(d);
}

/* Before walking the new directory at hand from an event: the directories
 * on its path from the root, which a symlink under it must not lead back
 * to (list() walks down to it with the same guard). */
static void push_ancestor(lf_watch *w, const char *path)
{
	struct stat st;
	if (!stat(path, &st))
		lf_anc_push(&w->anc, &st);
}

static void seed_ancestors(lf_watch *w)
{
	coco_buf p = {0};
	w->anc.n = 0;
	push_ancestor(w, w->s->root);
	for (size_t j = 0; j < w->rel.n; j++)
		if (w->rel.p[j] == '/') {
			coco_buf_clear(&p);
			join(&p, w->s->root, "");
			coco_buf_add(&p, w->rel.p, j);
			push_ancestor(w, p.p);
		}
	coco_buf_free(&p);
}

/* Watches the root and the tree under it (nothing reported). */
static void add_root(lf_watch *w)
{
	w->root_wd = -1;
	w->anc.n = 0;
	coco_buf_clear(&w->rel);
	coco_buf_clear(&w->abs);
	coco_buf_adds(&w->abs, w->s->root);
	add_dir(w, 0);
}

/* Drops every watch by replacing the inotify instance (closing one frees
 * its watches without queueing an IN_IGNORED for each). */
static void reset(lf_watch *w)
{
	for (size_t i = 0; i < w->cap; i++)
		if (w->tab[i].wd)
			ent_free(&w->tab[i]);
	w->used = 0;
	for (size_t i = 0; i < w->nlinks; i++)
		free(w->links[i]);
	w->nlinks = 0;
	w->off = w->len = 0;
	w->root_wd = w->parent_wd = -1;
	if (w->ifd >= 0) {
		epoll_ctl(w->fd, EPOLL_CTL_DEL, w->ifd, NULL);
		close(w->ifd);
	}
	w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	int e = errno;
	if (w->ifd >= 0) {
		ev.data.fd = w->ifd;
		if (!epoll_ctl(w->fd, EPOLL_CTL_ADD, w->ifd, &ev))
			return;
		e = errno;
		close(w->ifd);
		w->ifd = -1;
	}
	coco_buf b = {0};
	coco_buf_printf(&b, "cannot create an inotify instance: %s", strerror(e));
	degrade(w, b.p);
	coco_buf_free(&b);
}

/* The root is gone: watch its parent until it comes back (try_root). */
static void root_lost(lf_watch *w)
{
	reset(w);
	w->lost = 1;
	coco_buf b = {0};
	coco_buf_printf(&b, "LocalFile: root '%s' was deleted or moved", w->s->disp);
	note(w, COCO_CHANGE_RESCAN, NULL, b.p);
	coco_buf_free(&b);
}

/* While the root is gone: watch its parent for its return, and when it is
 * back, watch it again and ask for a full pass (what it holds now was
 * created before any watch). */
static void try_root(lf_watch *w)
{
	lf_src *s = w->s;
	if (!w->lost || w->ifd < 0)
		return;
	if (w->parent_wd < 0) {                   /* first, so that no return is missed */
		const char *slash = strrchr(s->abs, '/');
		if (slash) {
			char *parent = coco_xstrndup(s->abs, slash > s->abs ? (size_t)(slash - s->abs) : 1);
			w->parent_wd = inotify_add_watch(w->ifd, parent, PARENT_MASK);
			if (w->parent_wd < 0) {
				coco_buf b = {0};
				coco_buf_printf(&b, "root '%s' is gone and its parent '%s' cannot be watched (%s)",
					s->disp, parent, strerror(errno));
				degrade(w, b.p);
				coco_buf_free(&b);
			}
			free(parent);
		}
	}
	char *err = NULL;
	if (lf_resolve_root(s, &err)) {
		free(err);
		return;
	}
	add_root(w);
	if (w->root_wd < 0 && !w->degraded)
		return;                           /* gone again already */
	w->lost = 0;
	if (w->parent_wd >= 0)
		inotify_rm_watch(w->ifd, w->parent_wd);
	w->parent_wd = -1;
	coco_buf b = {0};
	coco_buf_printf(&b, "LocalFile: root '%s' is back; watching it again", s->disp);
	note(w, COCO_CHANGE_RESCAN, NULL, b.p);
	coco_buf_free(&b);
}

/* ---- events ------------------------------------------------------------- */

/* Event mask m about the entry at hand (w->rel, w->abs) in a watched
 * directory. */
static void on_name(lf_watch *w, uint32_t m)
{
	lf_src *s = w->s;
	const char *rel = w->rel.p;
	size_t n = w->rel.n;
	if (m & IN_ISDIR) {
		if (lf_excluded(s, rel, n, COCO_GLOB_DIR))
			return;                           /* never walked, never watched */
		if (m & (IN_CREATE | IN_MOVED_TO)) {
			seed_ancestors(w);
			add_dir(w, 1);
		} else if (m & (IN_DELETE | IN_MOVED_FROM)) {
			if (m & IN_MOVED_FROM)
				drop(w, rel, n);
			note(w, COCO_CHANGE_RESCAN, NULL, NULL);
		}
		return;
	}
	if (m & (IN_DELETE | IN_MOVED_FROM)) {
		if (is_link(w, rel, n)) {             /* a symlink walked as a directory */
			drop(w, rel, n);
			note(w, COCO_CHANGE_RESCAN, NULL, NULL);
		} else if (lf_wanted_file(s, rel, n)) {
			note_row(w, COCO_CHANGE_GONE);    /* may come back at once (editor save) */
		}
		return;
	}
	if (m & IN_CLOSE_WRITE) {
		if (lf_wanted_file(s, rel, n))
			note_row(w, COCO_CHANGE_ROW);
		return;
	}
	if (!(m & (IN_CREATE | IN_MOVED_TO)) || lf_excluded(s, rel, n, 0))
		return;
	if ((m & IN_MOVED_TO) && is_link(w, rel, n)) {  /* renamed over a directory symlink */
		drop(w, rel, n);
		note(w, COCO_CHANGE_RESCAN, NULL, NULL);
	}
	struct stat st;
	if (lstat(w->abs.p, &st)) {
		if ((m & IN_MOVED_TO) && lf_wanted_file(s, rel, n))
			note_row(w, COCO_CHANGE_ROW);
		return;
	}
	if (S_ISLNK(st.st_mode)) {
		char *real = realpath(w->abs.p, NULL);
		struct stat t;
		if (real && lf_inside_root(s, real) && !stat(real, &t) && S_ISDIR(t.st_mode)) {
			seed_ancestors(w);
			add_link(w, 1);
		} else if (lf_wanted_file(s, rel, n)) {
			note_row(w, COCO_CHANGE_ROW);     /* read() decides what it leads to */
		}
		free(real);
		return;
	}
	/* A regular file: a rename brings its content along, a hard link (the
	 * only creation with more than one link) has no IN_CLOSE_WRITE to come;
	 * any other creation is reported by the IN_CLOSE_WRITE that follows. */
	if (S_ISREG(st.st_mode) && ((m & IN_MOVED_TO) || st.st_nlink > 1) &&
	    lf_wanted_file(s, rel, n))
		note_row(w, COCO_CHANGE_ROW);
}

static void on_event(lf_watch *w, const struct inotify_event *ev)
{
	uint32_t m = ev->mask;
	if (m & IN_Q_OVERFLOW) {
		reset(w);
		add_root(w);
		coco_buf b = {0};
		coco_buf_printf(&b, "LocalFile: too many changes at once under '%s' (inotify queue "
			"overflow, see /proc/sys/fs/inotify/max_queued_events); doing a full pass",
			w->s->disp);
		note(w, COCO_CHANGE_RESCAN, NULL, b.p);
		coco_buf_free(&b);
		return;
	}
	if (ev->wd == w->parent_wd) {
		if (m & IN_IGNORED)
			w->parent_wd = -1;
		return;                           /* try_root() looks after the batch */
	}
	wdent *e = tab_find(w, ev->wd);
	if (!e)
		return;                           /* a watch dropped since */
	if (m & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED)) {
		if (ev->wd == w->root_wd)
			root_lost(w);
		else if (m & IN_IGNORED)
			tab_remove(w, e);
		else if (m & IN_UNMOUNT)
			note(w, COCO_CHANGE_RESCAN, NULL, NULL);
		return;                           /* else: the parent reports it */
	}
	if (!ev->len || !ev->name[0])
		return;
	/* Once per path the directory is reached by; the table may change
	 * under us (new watches), so look the entry up again each time. */
	for (uint32_t i = 0;; i++) {
		e = tab_find(w, ev->wd);
		if (!e || i >= e->n)
			break;
		join(&w->rel, e->rel[i], ev->name);
		join(&w->abs, e->abs, ev->name);
		on_name(w, m);
	}
}

/* ---- the ops ------------------------------------------------------------ */

void lf_watch_free(lf_watch *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->cap; i++)
		if (w->tab[i].wd)
			ent_free(&w->tab[i]);
	free(w->tab);
	for (size_t i = 0; i < w->nlinks; i++)
		free(w->links[i]);
	free(w->links);
	for (size_t i = 0; i < w->npend; i++)
		free(w->pend[i].msg);
	free(w->pend);
	free(w->buf);
	free(w->anc.d);
	coco_buf_free(&w->rel);
	coco_buf_free(&w->abs);
	if (w->ifd >= 0)
		close(w->ifd);
	if (w->efd >= 0)
		close(w->efd);
	if (w->fd >= 0)
		close(w->fd);
	free(w);
}

/* coco_source_ops.watch: watches the root and every directory list()
 * walks; *fd becomes readable when changes wait. With watch_changes =
 * false, returns 0 with *fd = -1 (no change capture). Errors:
 * "LocalFile: cannot watch 'docs': Too many open files". */
int lf_watch_start(void *sp, int *fd, char **err)
{
	lf_src *s = sp;
	*fd = -1;
	if (!s->watch_changes)
		return 0;
	if (s->watch) {
		*fd = s->watch->fd;
		return 0;
	}
	if (lf_resolve_root(s, err))
		return -1;
	lf_watch *w = coco_xrealloc(NULL, sizeof *w);
	memset(w, 0, sizeof *w);
	w->s = s;
	w->ifd = w->efd = w->root_wd = w->parent_wd = -1;
	w->fd = epoll_create1(EPOLL_CLOEXEC);
	if (w->fd >= 0)
		w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd >= 0)
		w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	int ok = w->ifd >= 0;
	if (ok) {
		ev.data.fd = w->efd;
		ok = !epoll_ctl(w->fd, EPOLL_CTL_ADD, w->efd, &ev);
	}
	if (ok) {
		ev.data.fd = w->ifd;
		ok = !epoll_ctl(w->fd, EPOLL_CTL_ADD, w->ifd, &ev);
	}
	if (!ok) {
		coco_seterr(err, "LocalFile: cannot watch '%s': %s%s", s->disp, strerror(errno),
			errno == EMFILE ? " (see /proc/sys/fs/inotify/max_user_instances)" : "");
		lf_watch_free(w);
		return -1;
	}
	w->buf = coco_xrealloc(NULL, READ_BUF);
	add_root(w);                              /* reports are queued: cb is NULL */
	if (w->root_wd < 0 && !w->degraded) {
		w->lost = 1;                          /* gone already: watch_read() retries */
		coco_efd_notify(w->efd);
	}
	s->watch = w;
	*fd = w->fd;
	return 0;
}

/* coco_source_ops.watch_read: reports what waits, without blocking. */
int lf_watch_read(void *sp, coco_change_cb cb, void *ud, char **err)
{
	lf_src *s = sp;
	lf_watch *w = s->watch;
	if (!w)
		return 0;
	uint64_t v;
	if (read(w->efd, &v, sizeof v) < 0) {
		/* EAGAIN: nothing was queued */
	}
	w->cb = cb;
	w->ud = ud;
	w->stop = 0;
	int rc = 0;
	size_t i = 0;
	while (i < w->npend && !w->stop) {        /* what watch() or a stop left */
		pending p = w->pend[i++];
		note(w, p.kind, NULL, p.msg);
		free(p.msg);
	}
	if (i) {
		memmove(w->pend, w->pend + i, (w->npend - i) * sizeof *w->pend);
		w->npend -= i;
	}
	for (int reads = 0; !w->stop;) {
		if (w->off >= w->len) {
			if (w->ifd < 0 || reads == MAX_READS)
				break;
			ssize_t r = read(w->ifd, w->buf, READ_BUF);
			if (r <= 0) {
				if (r < 0 && errno == EINTR)
					continue;
				if (r < 0 && errno != EAGAIN)
					rc = coco_seterr(err, "LocalFile: cannot read the changes of '%s': %s",
						s->disp, strerror(errno));
				break;
			}
			reads++;
			w->off = 0;
			w->len = (size_t)r;
		}
		const struct inotify_event *ev = (const void *)(w->buf + w->off);
		w->off += sizeof *ev + ev->len;
		on_event(w, ev);
	}
	if (!w->stop && w->lost)
		try_root(w);
	if (w->npend || w->off < w->len)
		coco_efd_notify(w->efd);              /* more to report: come back */
	w->cb = NULL;
	w->ud = NULL;
	return rc;
}
