/* lf_open_beneath: a path under the LocalFile root opens only what lies
 * beneath the root, with openat2 and with the component-by-component walk
 * that stands in for it (have_openat2 = 0): in-tree symlinks, relative or
 * absolute, are followed; links out of the tree, ".." above the root and
 * loops are not. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/ops.h"
#include "connectors/localfile/localfile_int.h"
#include "spec/c/check.h"

extern const coco_source_ops coco_localfile_source;
static char tmp[256];

static void put(const char *rel, const char *text)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", tmp, rel);
	FILE *f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
}

static void dir(const char *rel)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", tmp, rel);
	mkdir(p, 0755);
}

static void link_(const char *target, const char *rel)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", tmp, rel);
	if (symlink(target, p))
		perror(p);
}

/* The first line read through lf_open_beneath, or "ENOENT"/"ELOOP"/... */
static const char *got(lf_src *s, const char *rel, int flags)
{
	static char b[64];
	int root = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int fd = lf_open_beneath(s, root, rel, flags);
	int e = errno;
	close(root);
	if (fd < 0) {
		snprintf(b, sizeof b, "%s", e == ENOENT ? "ENOENT" : e == ELOOP ? "ELOOP" :
			e == ENOTDIR ? "ENOTDIR" : strerror(e));
		return b;
	}
	if (flags & (O_PATH | O_DIRECTORY)) {
		struct stat st;
		fstat(fd, &st);
		close(fd);
		return S_ISDIR(st.st_mode) ? "dir" : S_ISREG(st.st_mode) ? "file" : "other";
	}
	ssize_t n = read(fd, b, sizeof b - 1);
	close(fd);
	b[n > 0 ? n : 0] = 0;
	return b;
}

int main(void)
{
	snprintf(tmp, sizeof tmp, "/tmp/coco_test_beneath_XXXXXX");
	if (!mkdtemp(tmp))
		return 1;
	dir("docs");
	dir("docs/sub");
	dir("docs/sub/deep");
	dir("outside");
	put("outside/secret.md", "secret");
	put("docs/a.md", "a");
	put("docs/sub/b.md", "b");
	put("docs/sub/deep/c.md", "c");
	link_("a.md", "docs/rel.md");                 /* in the tree */
	link_("../a.md", "docs/sub/up.md");
	link_("sub/deep", "docs/dlink");
	link_("..", "docs/sub/deep/back");            /* climbs, stays inside */
	char abs[512];
	snprintf(abs, sizeof abs, "%s/docs/sub/b.md", tmp);
	link_(abs, "docs/abs_in.md");
	snprintf(abs, sizeof abs, "%s/docs/sub", tmp);
	link_(abs, "docs/abs_dir");
	link_("../outside/secret.md", "docs/out_rel.md");
	snprintf(abs, sizeof abs, "%s/outside/secret.md", tmp);
	link_(abs, "docs/out_abs.md");
	link_("../outside", "docs/out_dir");
	snprintf(abs, sizeof abs, "%s/outside", tmp);
	link_(abs, "docs/out_absdir");
	link_("/etc/passwd", "docs/passwd");
	link_("loop_b", "docs/loop_a");
	link_("loop_a", "docs/loop_b");
	link_("sub/../../outside", "docs/sneaky");

	char path[512];
	snprintf(path, sizeof path, "%s/docs", tmp);
	coco_optval o[8];
	memset(o, 0, sizeof o);
	o[0].set = 1;
	o[0].s = path;
	void *src = NULL;
	char *err = NULL;
	CHECK(coco_localfile_source.open(o, tmp, &src, &err) == 0);
	lf_src *s = src;
	int had = s->have_openat2;
	for (int mode = 0; mode < 2; mode++) {
		s->have_openat2 = mode ? 0 : had;
		CHECK_STR(got(s, "a.md", O_RDONLY), "a");
		CHECK_STR(got(s, "sub/deep/c.md", O_RDONLY), "c");
		CHECK_STR(got(s, "rel.md", O_RDONLY), "a");
		CHECK_STR(got(s, "sub/up.md", O_RDONLY), "a");
		CHECK_STR(got(s, "dlink/c.md", O_RDONLY), "c");
		CHECK_STR(got(s, "dlink/back/b.md", O_RDONLY), "b");
		CHECK_STR(got(s, "abs_in.md", O_RDONLY), "b");
		CHECK_STR(got(s, "abs_dir/deep/c.md", O_RDONLY), "c");
		CHECK_STR(got(s, "abs_dir", O_PATH), "dir");
		CHECK_STR(got(s, "dlink", O_RDONLY | O_DIRECTORY), "dir");
		CHECK_STR(got(s, "out_rel.md", O_RDONLY), "ENOENT");
		CHECK_STR(got(s, "out_abs.md", O_RDONLY), "ENOENT");
		CHECK_STR(got(s, "out_dir/secret.md", O_RDONLY), "ENOENT");
		CHECK_STR(got(s, "out_absdir/secret.md", O_RDONLY), "ENOENT");
		CHECK_STR(got(s, "out_dir", O_PATH), "ENOENT");
		CHECK_STR(got(s, "passwd", O_RDONLY), "ENOENT");
		CHECK_STR(got(s, "../outside/secret.md", O_RDONLY), "ENOENT");
		CHECK_STR(got(s, "sub/../../outside/secret.md", O_RDONLY), "ENOENT");
		CHECK_STR(got(s, "sneaky/secret.md", O_RDONLY), "ENOENT");
		CHECK_STR(got(s, "loop_a", O_RDONLY), "ELOOP");
		CHECK_STR(got(s, "nothing.md", O_RDONLY), "ENOENT");
		CHECK_STR(got(s, "a.md/x", O_RDONLY), "ENOTDIR");
	}
	coco_localfile_source.close(src);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
	if (system(cmd))
		return 1;
	return CHECK_DONE();
}
