/* Unit test for the state store (engine/state.h): the contract's cases
 * (batches, persistence, prefix iteration, snapshots, the memo, threads)
 * run against RocksDB (state_rocksdb.c), with its own cases (the
 * per-directory lock, read-only opens, removal); `test_state --pg URL`
 * runs the same contract cases against PostgreSQL (state_pg.c) with its
 * own (read-only opens, messages, one schema per flow, removal):
 * spec/cluster_spec.lua starts a server and runs it.
 * Child processes re-execute this binary ("hold" / "crash" modes) so they
 * start with fresh RocksDB thread pools. */
#define _GNU_SOURCE
#include "engine/state.h"
#include "engine/cluster.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include "spec/c/check.h"

static char root[64];
static const char *pg_url;   /* the store under test: PostgreSQL at this URL, else RocksDB */

/* Open the store under test: where is a directory (RocksDB) or a flow name. */
static int open_store(const char *where, int ro, coco_state **s, char **err)
{
	return pg_url ? coco_state_pg_open(pg_url, where, ro, s, err)
		      : coco_state_open(where, ro, s, err);
}

/* 1 if key k in cf holds exactly value v. */
static int has(coco_state *s, coco_cf cf, const char *k, size_t kn, const char *v)
{
	coco_buf b = {0};
	char *err = NULL;
	int r = coco_state_get(s, cf, k, kn, &b, &err);
	int ok = r == 1 && b.n == strlen(v) && memcmp(b.p, v, b.n) == 0;
	if (r < 0) {
		fprintf(stderr, "get: %s\n", err);
		free(err);
	}
	coco_buf_free(&b);
	return ok;
}

static int missing(coco_state *s, coco_cf cf, const char *k, size_t kn)
{
	coco_buf b = {0};
	char *err = NULL;
	int r = coco_state_get(s, cf, k, kn, &b, &err);
	coco_buf_free(&b);
	free(err);
	return r == 0;
}

/* Concatenate the keys under prefix as "k1|k2|" (NUL shown as '0'). */
static void keys(coco_state *s, coco_cf cf, const char *p, size_t n, char *out, size_t cap)
{
	coco_iter *it = coco_state_iter(s, cf, p, n);
	const char *k, *v;
	size_t kn, vn, o = 0;
	char *err = NULL;
	int r;
	while ((r = coco_iter_next(it, &k, &kn, &v, &vn, &err)) == 1)
		for (size_t i = 0; i <= kn && o + 1 < cap; i++)
			out[o++] = i == kn ? '|' : k[i] == 0 ? '0' : k[i];
	out[o] = 0;
	if (r < 0) {
		fprintf(stderr, "iter: %s\n", err);
		free(err);
		snprintf(out, cap, "ERROR");
	}
	coco_iter_destroy(it);
}

static int write_batch(coco_state *s, coco_batch *b, int sync)
{
	char *err = NULL;
	int r = coco_state_write(s, b, sync, &err);
	if (r < 0) {
		fprintf(stderr, "write: %s\n", err);
		free(err);
	}
	return r;
}

/* Child modes. "hold DIR": open, say "ready", wait for EOF on stdin, close.
 * "crash DIR": open, write without sync, say "ready", wait to be killed. */
static int child_main(const char *mode, const char *dir)
{
	coco_state *s;
	char *err = NULL;
	if (coco_state_open(dir, 0, &s, &err) < 0) {
		fprintf(stderr, "child: %s\n", err);
		free(err);
		return 1;
	}
	if (strcmp(mode, "crash") == 0) {
		coco_batch *b = coco_batch_create();
		coco_batch_put(b, COCO_CF_TRACKING, "crash", 5, "survived", 8);
		coco_batch_put(b, COCO_CF_LINEAGE, "crash", 5, "too", 3);
		if (write_batch(s, b, 0) < 0)
			return 1;
		coco_batch_destroy(b);
	}
	fputs("ready\n", stdout);
	fflush(stdout);
	if (strcmp(mode, "crash") == 0)
		for (;;)
			pause();
	char c;
	while (read(0, &c, 1) > 0)
		;
	coco_state_close(s);
	return 0;
}

/* Start this binary in a child mode; returns pid, sets *to (its stdin). */
static pid_t spawn(const char *mode, const char *dir, int *to)
{
	int in[2], out[2];
	if (pipe(in) < 0 || pipe(out) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[0]); close(in[1]); close(out[0]); close(out[1]);
		execl("/proc/self/exe", "test_state", mode, dir, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	char buf[16] = {0};
	ssize_t n = 0, r;
	while (n < 6 && (r = read(out[0], buf + n, 6 - (size_t)n)) > 0)
		n += r;
	close(out[0]);
	*to = in[1];
	if (strncmp(buf, "ready\n", 6) != 0) {
		fprintf(stderr, "child did not start\n");
		return -1;
	}
	return pid;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n++;
	closedir(d);
	return n;
}

/* The store under test opened for writing (NULL: a failed check, said). */
static coco_state *open_rw(const char *where)
{
	coco_state *s = NULL;
	char *err = NULL;
	CHECK(open_store(where, 0, &s, &err) == 0 && s);
	if (!s) {
		fprintf(stderr, "open: %s\n", err);
		free(err);
	}
	return s;
}

/* The contract's cases on the store at where (opened, closed, reopened);
 * scratch: what coco_state_dir should say. */
static void test_contract(const char *where, const char *scratch)
{
	char *err = NULL;
	coco_state *s = open_rw(where);
	if (!s)
		return;
	CHECK(missing(s, COCO_CF_TRACKING, "k1", 2));

	coco_batch *b = coco_batch_create();
	CHECK(coco_batch_count(b) == 0);
	coco_batch_put(b, COCO_CF_TRACKING, "k1", 2, "v1", 2);
	coco_batch_put(b, COCO_CF_TRACKING, "k2", 2, "v2", 2);
	coco_batch_put(b, COCO_CF_LINEAGE, "k1", 2, "lineage", 7);
	coco_batch_put(b, COCO_CF_META, "version", 7, "1", 1);
	coco_batch_put(b, COCO_CF_SETUP, "bin\0key", 7, "", 0);
	CHECK(coco_batch_count(b) == 5);
	/* Nothing is visible before the write. */
	CHECK(missing(s, COCO_CF_TRACKING, "k1", 2));
	CHECK(write_batch(s, b, 0) == 0);
	CHECK(has(s, COCO_CF_TRACKING, "k1", 2, "v1"));
	CHECK(has(s, COCO_CF_TRACKING, "k2", 2, "v2"));
	CHECK(has(s, COCO_CF_LINEAGE, "k1", 2, "lineage"));
	CHECK(has(s, COCO_CF_META, "version", 7, "1"));
	CHECK(has(s, COCO_CF_SETUP, "bin\0key", 7, ""));
	CHECK(missing(s, COCO_CF_SETUP, "bin", 3));
	/* Families are separate. */
	CHECK(missing(s, COCO_CF_MEMO, "k1", 2));
	CHECK(missing(s, COCO_CF_LINEAGE, "k2", 2));

	/* Overwrite, delete, and a get replacing the buffer's content. */
	coco_batch_clear(b);
	CHECK(coco_batch_count(b) == 0);
	coco_batch_put(b, COCO_CF_TRACKING, "k1", 2, "v1b", 3);
	coco_batch_del(b, COCO_CF_TRACKING, "k2", 2);
	coco_batch_del(b, COCO_CF_TRACKING, "nope", 4);
	CHECK(coco_batch_count(b) == 3);
	CHECK(write_batch(s, b, 1) == 0);
	CHECK(has(s, COCO_CF_TRACKING, "k1", 2, "v1b"));
	CHECK(missing(s, COCO_CF_TRACKING, "k2", 2));
	coco_buf v = {0};
	coco_buf_adds(&v, "old content that is long");
	CHECK(coco_state_get(s, COCO_CF_TRACKING, "k1", 2, &v, &err) == 1);
	CHECK(v.n == 3 && strcmp(v.p, "v1b") == 0);
	coco_buf_free(&v);

	/* An empty batch is fine. */
	coco_batch_clear(b);
	CHECK(write_batch(s, b, 0) == 0);

	/* Atomicity: an iterator made before the write sees none of the
	 * batch, one made after sees all of it. */
	coco_batch_clear(b);
	for (int i = 0; i < 100; i++) {
		char k[16];
		int n = snprintf(k, sizeof k, "atom%03d", i);
		coco_batch_put(b, COCO_CF_MEMO, k, (size_t)n, "x", 1);
	}
	coco_batch_del(b, COCO_CF_TRACKING, "k1", 2);
	char out[2048];
	coco_iter *before = coco_state_iter(s, COCO_CF_MEMO, "atom", 4);
	CHECK(write_batch(s, b, 0) == 0);
	const char *k, *val;
	size_t kn, vn;
	CHECK(coco_iter_next(before, &k, &kn, &val, &vn, &err) == 0);
	coco_iter_destroy(before);
	coco_iter *after = coco_state_iter(s, COCO_CF_MEMO, "atom", 4);
	int n = 0;
	while (coco_iter_next(after, &k, &kn, &val, &vn, &err) == 1)
		n++;
	coco_iter_destroy(after);
	CHECK(n == 100);
	CHECK(missing(s, COCO_CF_TRACKING, "k1", 2));

	/* Prefix iteration: order and bounds. */
	coco_batch_clear(b);
	coco_batch_put(b, COCO_CF_LINEAGE, "b", 1, "3", 1);
	coco_batch_put(b, COCO_CF_LINEAGE, "a\1", 2, "2", 1);
	coco_batch_put(b, COCO_CF_LINEAGE, "a\0x", 3, "1", 1);
	coco_batch_put(b, COCO_CF_LINEAGE, "\xff\xff", 2, "4", 1);
	coco_batch_put(b, COCO_CF_LINEAGE, "\xfe\xff", 2, "5", 1);
	coco_batch_del(b, COCO_CF_LINEAGE, "k1", 2);
	CHECK(write_batch(s, b, 0) == 0);
	keys(s, COCO_CF_LINEAGE, "", 0, out, sizeof out);
	CHECK_STR(out, "a0x|a\1|b|\xfe\xff|\xff\xff|");
	keys(s, COCO_CF_LINEAGE, "a", 1, out, sizeof out);
	CHECK_STR(out, "a0x|a\1|");
	keys(s, COCO_CF_LINEAGE, "a\0", 2, out, sizeof out);
	CHECK_STR(out, "a0x|");
	keys(s, COCO_CF_LINEAGE, "a\1", 2, out, sizeof out);
	CHECK_STR(out, "a\1|");
	keys(s, COCO_CF_LINEAGE, "b", 1, out, sizeof out);
	CHECK_STR(out, "b|");
	keys(s, COCO_CF_LINEAGE, "c", 1, out, sizeof out);
	CHECK_STR(out, "");
	keys(s, COCO_CF_LINEAGE, "\xff", 1, out, sizeof out);
	CHECK_STR(out, "\xff\xff|");
	keys(s, COCO_CF_LINEAGE, "\xfe", 1, out, sizeof out);
	CHECK_STR(out, "\xfe\xff|");
	keys(s, COCO_CF_LINEAGE, "a\0xy", 4, out, sizeof out);
	CHECK_STR(out, "");
	/* Values come with their keys. */
	coco_iter *it = coco_state_iter(s, COCO_CF_LINEAGE, "a", 1);
	CHECK(coco_iter_next(it, &k, &kn, &val, &vn, &err) == 1 && vn == 1 && val[0] == '1');
	CHECK(coco_iter_next(it, &k, &kn, &val, &vn, &err) == 1 && vn == 1 && val[0] == '2');
	CHECK(coco_iter_next(it, &k, &kn, &val, &vn, &err) == 0);
	CHECK(coco_iter_next(it, &k, &kn, &val, &vn, &err) == 0);
	coco_iter_destroy(it);

	/* A snapshot: iterators made on it later still see the state as it was. */
	coco_snapshot *sn = coco_state_snapshot(s);
	coco_batch_clear(b);
	coco_batch_put(b, COCO_CF_LINEAGE, "a\2", 2, "6", 1);
	coco_batch_del(b, COCO_CF_LINEAGE, "a\1", 2);
	CHECK(write_batch(s, b, 0) == 0);
	it = coco_state_iter_at(s, sn, COCO_CF_LINEAGE, "a", 1);
	n = 0;
	while (coco_iter_next(it, &k, &kn, &val, &vn, &err) == 1)
		n += (kn == 2 && k[1] == 1) ? 1 : (kn == 2 && k[1] == 2) ? 100 : 0;
	coco_iter_destroy(it);
	CHECK(n == 1);
	coco_state_release(s, sn);
	coco_state_release(s, NULL);
	keys(s, COCO_CF_LINEAGE, "a", 1, out, sizeof out);
	CHECK_STR(out, "a0x|a\2|");
	CHECK_STR(coco_state_dir(s), scratch);
	coco_batch_clear(b);
	coco_batch_put(b, COCO_CF_LINEAGE, "a\1", 2, "2", 1);
	coco_batch_del(b, COCO_CF_LINEAGE, "a\2", 2);
	CHECK(write_batch(s, b, 0) == 0);    /* as it was, for the tests below */

	/* The memo: content-addressed puts outside any batch. */
	unsigned char mk[32];
	memset(mk, 7, sizeof mk);
	coco_buf mv = {0};
	CHECK(coco_state_memo_get(s, mk, &mv, &err) == 0);
	CHECK(coco_state_memo_put(s, mk, "result", 6, &err) == 0);
	CHECK(coco_state_memo_get(s, mk, &mv, &err) == 1 && mv.n == 6 && !memcmp(mv.p, "result", 6));
	CHECK(has(s, COCO_CF_MEMO, (const char *)mk, 32, "result"));
	/* A put of a key already there keeps one value (content-addressed). */
	CHECK(coco_state_memo_put(s, mk, "result", 6, &err) == 0);
	CHECK(coco_state_memo_get(s, mk, &mv, &err) == 1 && mv.n == 6 && !memcmp(mv.p, "result", 6));
	coco_buf_free(&mv);

	/* A batch's last operation on a key wins; empty keys and values. */
	coco_batch_clear(b);
	coco_batch_put(b, COCO_CF_OWNER, "o", 1, "1", 1);
	coco_batch_del(b, COCO_CF_OWNER, "o", 1);
	coco_batch_put(b, COCO_CF_OWNER, "p", 1, "1", 1);
	coco_batch_put(b, COCO_CF_OWNER, "p", 1, "2", 1);
	coco_batch_put(b, COCO_CF_OWNER, "", 0, "", 0);
	coco_batch_put(b, COCO_CF_OWNER, "q", 1, "", 0);
	coco_batch_del(b, COCO_CF_OWNER, "q", 1);
	coco_batch_put(b, COCO_CF_OWNER, "q", 1, "3", 1);
	CHECK(write_batch(s, b, 0) == 0);
	keys(s, COCO_CF_OWNER, "", 0, out, sizeof out);
	CHECK_STR(out, "|p|q|");
	CHECK(has(s, COCO_CF_OWNER, "", 0, ""));
	CHECK(has(s, COCO_CF_OWNER, "p", 1, "2"));
	CHECK(has(s, COCO_CF_OWNER, "q", 1, "3"));
	coco_batch_clear(b);
	coco_batch_del(b, COCO_CF_OWNER, "", 0);
	coco_batch_del(b, COCO_CF_OWNER, "p", 1);
	coco_batch_del(b, COCO_CF_OWNER, "q", 1);
	CHECK(write_batch(s, b, 0) == 0);
	keys(s, COCO_CF_OWNER, "", 0, out, sizeof out);
	CHECK_STR(out, "");

	/* Many keys: an iterator pages through all of them in order, seeks
	 * forward and back. */
	coco_batch_clear(b);
	for (int i = 0; i < 5000; i++) {
		char kb[16];
		int kl = snprintf(kb, sizeof kb, "many%05d", i);
		coco_batch_put(b, COCO_CF_SETUP, kb, (size_t)kl, kb + 4, 5);
	}
	CHECK(write_batch(s, b, 0) == 0);
	it = coco_state_iter(s, COCO_CF_SETUP, "many", 4);
	n = 0;
	int ordered = 1;
	while (coco_iter_next(it, &k, &kn, &val, &vn, &err) == 1) {
		char want[16];
		snprintf(want, sizeof want, "many%05d", n);
		ordered &= kn == 9 && !memcmp(k, want, 9) && vn == 5 && !memcmp(val, want + 4, 5);
		n++;
	}
	CHECK(n == 5000 && ordered);
	coco_iter_seek(it, "many04990", 9);
	n = 0;
	while (coco_iter_next(it, &k, &kn, &val, &vn, &err) == 1)
		n++;
	CHECK(n == 10);
	coco_iter_seek(it, "many00100\0", 10);
	CHECK(coco_iter_next(it, &k, &kn, &val, &vn, &err) == 1 && kn == 9 &&
	      !memcmp(k, "many00101", 9));
	coco_iter_destroy(it);
	coco_batch_clear(b);
	for (int i = 0; i < 5000; i++) {
		char kb[16];
		int kl = snprintf(kb, sizeof kb, "many%05d", i);
		coco_batch_del(b, COCO_CF_SETUP, kb, (size_t)kl);
	}
	CHECK(write_batch(s, b, 0) == 0);
	coco_batch_destroy(b);
	coco_state_close(s);

	/* Persistence across close/reopen. */
	CHECK(open_store(where, 0, &s, &err) == 0);
	CHECK(has(s, COCO_CF_META, "version", 7, "1"));
	CHECK(has(s, COCO_CF_LINEAGE, "a\0x", 3, "1"));
	CHECK(missing(s, COCO_CF_TRACKING, "k1", 2));
	CHECK(missing(s, COCO_CF_TRACKING, "k2", 2));
	keys(s, COCO_CF_LINEAGE, "a", 1, out, sizeof out);
	CHECK_STR(out, "a0x|a\1|");
	keys(s, COCO_CF_SETUP, "", 0, out, sizeof out);
	CHECK_STR(out, "bin0key|");
	coco_state_close(s);
}

/* Threads: get, write, iter and the memo from several at once (the
 * writer thread, the main thread and the memo sweep do so). Each thread
 * writes its own keys and reads them back; nothing is lost. */
enum { THREADS = 4, ROUNDS = 40 };
typedef struct worker {
	coco_state *s;
	int id, bad;
} worker;

static void *thread_main(void *arg)
{
	worker *w = arg;
	coco_batch *b = coco_batch_create();
	coco_buf v = {0};
	char *err = NULL;
	for (int i = 0; i < ROUNDS; i++) {
		char k[32], p[16];
		int kl = snprintf(k, sizeof k, "th%d-%03d", w->id, i);
		int pl = snprintf(p, sizeof p, "th%d-", w->id);
		coco_batch_clear(b);
		coco_batch_put(b, COCO_CF_TRACKING, k, (size_t)kl, k, (size_t)kl);
		coco_batch_put(b, COCO_CF_LINEAGE, k, (size_t)kl, "l", 1);
		if (coco_state_write(w->s, b, 0, &err) < 0) {
			fprintf(stderr, "thread %d: write: %s\n", w->id, err);
			free(err);
			err = NULL;
			w->bad++;
			continue;
		}
		if (coco_state_get(w->s, COCO_CF_TRACKING, k, (size_t)kl, &v, &err) != 1 ||
		    v.n != (size_t)kl || memcmp(v.p, k, v.n))
			w->bad++;
		unsigned char mk[32];
		memset(mk, 0, sizeof mk);
		memcpy(mk, k, (size_t)kl);
		if (coco_state_memo_put(w->s, mk, k, (size_t)kl, &err) < 0 ||
		    coco_state_memo_get(w->s, mk, &v, &err) != 1 || v.n != (size_t)kl)
			w->bad++;
		coco_iter *it = coco_state_iter(w->s, COCO_CF_LINEAGE, p, (size_t)pl);
		const char *ik, *iv;
		size_t ikn, ivn;
		int n = 0, rc;
		while ((rc = coco_iter_next(it, &ik, &ikn, &iv, &ivn, &err)) == 1)
			n++;
		coco_iter_destroy(it);
		if (rc < 0 || n != i + 1)
			w->bad++;
		free(err);
		err = NULL;
	}
	coco_buf_free(&v);
	coco_batch_destroy(b);
	return NULL;
}

static void test_threads(const char *where)
{
	coco_state *s = open_rw(where);
	if (!s)
		return;
	worker w[THREADS];
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (worker){ .s = s, .id = i };
		CHECK(pthread_create(&t[i], NULL, thread_main, &w[i]) == 0);
	}
	int bad = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		bad += w[i].bad;
	}
	CHECK(bad == 0);
	char out[8192];
	keys(s, COCO_CF_TRACKING, "th", 2, out, sizeof out);
	CHECK(strlen(out) == THREADS * ROUNDS * 8);     /* "thN-NNN|" each */
	coco_batch *b = coco_batch_create();
	for (int i = 0; i < THREADS; i++)
		for (int j = 0; j < ROUNDS; j++) {
			char k[32];
			int kl = snprintf(k, sizeof k, "th%d-%03d", i, j);
			coco_batch_del(b, COCO_CF_TRACKING, k, (size_t)kl);
			coco_batch_del(b, COCO_CF_LINEAGE, k, (size_t)kl);
		}
	CHECK(write_batch(s, b, 0) == 0);
	coco_batch_destroy(b);
	coco_state_close(s);
}

/* RocksDB: a second open in the same process is refused. */
static void test_lock(const char *dir)
{
	coco_state *s = NULL, *s2 = NULL;
	char *err = NULL;
	CHECK(coco_state_open(dir, 0, &s, &err) == 0 && s);
	char want[512];
	snprintf(want, sizeof want, "state directory %s is already open in this process "
		 "(the same flow loaded twice? close the other one first: flow:close())", dir);
	CHECK(coco_state_open(dir, 0, &s2, &err) == -1 && s2 == NULL);
	CHECK_STR(err, want);
	free(err);
	coco_state_close(s);
}

/* Opens that write nothing must not pile up empty WAL files. */
static void test_wal_files(const char *dir)
{
	char *err = NULL;
	for (int i = 0; i < 12; i++) {
		coco_state *s = NULL;
		CHECK(coco_state_open(dir, 0, &s, &err) == 0 && s);
		coco_state_close(s);
	}
	DIR *d = opendir(dir);
	int wals = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		wals += n > 4 && strcmp(e->d_name + n - 4, ".log") == 0;
	}
	if (d)
		closedir(d);
	CHECK(wals >= 1 && wals <= 5);
	coco_state *s = NULL;
	CHECK(coco_state_open(dir, 0, &s, &err) == 0 && s);
	if (s) {
		CHECK(has(s, COCO_CF_META, "version", 7, "1"));
		char out[64];
		keys(s, COCO_CF_META, "", 0, out, sizeof out);
		CHECK_STR(out, "version|");
		coco_state_close(s);
	}
}

/* The number of names in dir starting with prefix and ending with suffix. */
static int count_named(const char *dir, const char *prefix, const char *suffix)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		size_t len = strlen(e->d_name), pn = strlen(prefix), sn = strlen(suffix);
		n += len >= pn + sn && !strncmp(e->d_name, prefix, pn) &&
			!strcmp(e->d_name + len - sn, suffix);
	}
	if (d)
		closedir(d);
	return n;
}

/* The number of this process's open files that are deleted table files
 * of dir. */
static int deleted_open(const char *dir)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	struct dirent *e;
	char fd[300], to[512];
	size_t dn = strlen(dir);
	while (d && (e = readdir(d))) {
		snprintf(fd, sizeof fd, "/proc/self/fd/%s", e->d_name);
		ssize_t r = readlink(fd, to, sizeof to - 1);
		if (r <= 0)
			continue;
		to[r] = 0;
		n += !strncmp(to, dir, dn) && strstr(to, ".sst (deleted)") != NULL;
	}
	if (d)
		closedir(d);
	return n;
}

/* n keys "fw<round><i>" of 200 bytes into tracking and lineage. */
static int put_many(coco_state *s, int round, int n)
{
	coco_batch *b = coco_batch_create();
	char k[32], v[200];
	memset(v, 'a' + round % 26, sizeof v);
	int rc = 0;
	for (int i = 0; i < n && !rc; i++) {
		int kn = snprintf(k, sizeof k, "fw%02d%06d", round, i);
		coco_batch_put(b, COCO_CF_TRACKING, k, (size_t)kn, v, sizeof v);
		coco_batch_put(b, COCO_CF_LINEAGE, k, (size_t)kn, v, sizeof v);
		if (coco_batch_count(b) >= 2000) {
			rc = write_batch(s, b, 0);
			coco_batch_clear(b);
		}
	}
	if (!rc)
		rc = write_batch(s, b, 0);
	coco_batch_destroy(b);
	return rc;
}

/* Keys under "fw" in tracking seen by an iterator on sn (NULL: now), once
 * lineage (written alike) was seen to hold as many; -1 otherwise. */
static long count_fw(coco_state *s, const coco_snapshot *sn)
{
	long n[2] = { 0, 0 };
	for (int i = 0; i < 2; i++) {
		coco_iter *it = coco_state_iter_at(s, sn, i ? COCO_CF_LINEAGE : COCO_CF_TRACKING, "fw", 2);
		const char *k, *v;
		size_t kn, vn;
		char *err = NULL;
		int r;
		while ((r = coco_iter_next(it, &k, &kn, &v, &vn, &err)) == 1)
			n[i]++;
		coco_iter_destroy(it);
		if (r < 0) {
			fprintf(stderr, "iter: %s\n", err);
			free(err);
			return -1;
		}
	}
	return n[0] == n[1] ? n[0] : -1;
}

/* A read-write open of a state that exists reads it read-only until the
 * first write (state_rocksdb.c): an open that writes nothing leaves the
 * directory as it was; what snapshots and iterators made before the first
 * write see stays readable while compactions after it delete the files
 * they were made on; the writes are seen by later reads and reopens. */
static void test_first_write(const char *dir)
{
	char *err = NULL;
	/* table files in several generations: each open writes a batch
	 * and flushes it at close */
	for (int round = 0; round < 6; round++) {
		coco_state *s = open_rw(dir);
		if (!s)
			return;
		CHECK(put_many(s, round, 1000) == 0);
		coco_state_close(s);
		CHECK(count_named(dir, "OPTIONS-", ".dbtmp") <= 1);
	}
	int entries = count_entries(dir);
	coco_state *s = open_rw(dir);
	if (!s)
		return;
	coco_state_close(s);
	CHECK(count_entries(dir) == entries);           /* nothing written, nothing new */
	CHECK(count_named(dir, "", ".log") <= 1);

	s = open_rw(dir);
	if (!s)
		return;
	coco_snapshot *sn = coco_state_snapshot(s);
	coco_iter *before = coco_state_iter(s, COCO_CF_TRACKING, "fw", 2);
	CHECK(count_fw(s, sn) == 6000);
	/* enough to flush memtables and compact the files the snapshot
	 * was taken on */
	for (int round = 6; round < 30; round++)
		CHECK(put_many(s, round, 2000) == 0);
	char last[201];
	memset(last, 'a' + 29 % 26, 200);
	last[200] = 0;
	CHECK(has(s, COCO_CF_TRACKING, "fw29000000", 10, last));
	CHECK(count_fw(s, sn) == 6000);                 /* made after the write, on the snapshot */
	CHECK(count_fw(s, NULL) == 6000 + 24 * 2000);
	const char *k, *v;
	size_t kn, vn;
	long n = 0;
	int r;
	while ((r = coco_iter_next(before, &k, &kn, &v, &vn, &err)) == 1)
		n++;
	CHECK(r == 0 && n == 6000);
	free(err);
	err = NULL;
	coco_iter_destroy(before);
	coco_state_release(s, sn);
	/* the last of them gone, the read-only instance is closed: the files
	 * compacted away are given back */
	CHECK(deleted_open(dir) == 0);
	coco_state_close(s);
	s = open_rw(dir);
	if (!s)
		return;
	CHECK(count_fw(s, NULL) == 6000 + 24 * 2000);
	/* the first write of an open may be a memo put */
	unsigned char mk[32] = { 7 };
	CHECK(coco_state_memo_put(s, mk, "m", 1, &err) == 0);
	coco_buf b = {0};
	CHECK(coco_state_memo_get(s, mk, &b, &err) == 1 && b.n == 1 && b.p[0] == 'm');
	coco_buf_free(&b);
	coco_state_close(s);
}

static void test_processes(const char *dir)
{
	char *err = NULL;
	coco_state *s = NULL;

	/* Another process holds the directory. */
	int to = -1;
	pid_t pid = spawn("hold", dir, &to);
	CHECK(pid > 0);
	if (pid <= 0)
		return;
	char want[512];
	snprintf(want, sizeof want, "state directory %s is in use by another coco process (pid %ld)",
		 dir, (long)pid);
	CHECK(coco_state_open(dir, 0, &s, &err) == -1 && s == NULL);
	CHECK_STR(err, want);
	free(err);
	err = NULL;
	/* A read-only open works meanwhile and sees the data. */
	CHECK(coco_state_open(dir, 1, &s, &err) == 0 && s);
	if (s) {
		CHECK(has(s, COCO_CF_META, "version", 7, "1"));
		coco_state_close(s);
		s = NULL;
	}
	close(to);
	int st = -1;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* Released when the holder closes. */
	CHECK(coco_state_open(dir, 0, &s, &err) == 0 && s);
	coco_state_close(s);
	s = NULL;

	/* Data written (without sync) survives kill -9 of the writer. */
	pid = spawn("crash", dir, &to);
	CHECK(pid > 0);
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	CHECK(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st));
	close(to);
	CHECK(coco_state_open(dir, 0, &s, &err) == 0 && s);
	if (s) {
		CHECK(has(s, COCO_CF_TRACKING, "crash", 5, "survived"));
		CHECK(has(s, COCO_CF_LINEAGE, "crash", 5, "too"));
		coco_state_close(s);
	}
}

static void test_read_only(const char *dir)
{
	char *err = NULL;
	coco_state *s = NULL;
	CHECK(coco_state_open(dir, 1, &s, &err) == 0 && s);
	if (!s)
		return;
	CHECK(has(s, COCO_CF_LINEAGE, "b", 1, "3"));
	char out[256];
	keys(s, COCO_CF_LINEAGE, "a", 1, out, sizeof out);
	CHECK_STR(out, "a0x|a\1|");
	/* Read-only handles do not take the lock... */
	coco_state *s2 = NULL;
	CHECK(coco_state_open(dir, 0, &s2, &err) == 0 && s2);
	/* ...and refuse writes. */
	coco_batch *b = coco_batch_create();
	coco_batch_put(b, COCO_CF_MEMO, "x", 1, "y", 1);
	CHECK(coco_state_write(s, b, 0, &err) == -1 && err && strstr(err, dir));
	free(err);
	err = NULL;
	coco_batch_destroy(b);
	coco_state_close(s2);
	coco_state_close(s);
	int before = count_entries(dir);

	/* No info LOG, ever (rocksdb_nolog.cc: its failed writes aborted coco
	 * on a full disk); a read-only open creates nothing (no lock file). */
	char log[256];
	snprintf(log, sizeof log, "%s/LOG", dir);
	struct stat l1;
	CHECK(stat(log, &l1) == -1 && errno == ENOENT);
	CHECK(coco_state_open(dir, 1, &s, &err) == 0 && s);
	coco_state_close(s);
	CHECK(count_entries(dir) == before);
	CHECK(stat(log, &l1) == -1 && errno == ENOENT);

	/* Missing directory: a clean message, nothing created. */
	char miss[128], want[160];
	snprintf(miss, sizeof miss, "%s/nothing/here", root);
	snprintf(want, sizeof want, "no state in %s", miss);
	s = NULL;
	CHECK(coco_state_open(miss, 1, &s, &err) == -1 && s == NULL);
	CHECK_STR(err, want);
	free(err);
	err = NULL;
	struct stat sb;
	snprintf(miss, sizeof miss, "%s/nothing", root);
	CHECK(stat(miss, &sb) == -1 && errno == ENOENT);
	/* An empty directory is no state either. */
	CHECK(mkdir(miss, 0777) == 0);
	snprintf(want, sizeof want, "no state in %s", miss);
	CHECK(coco_state_open(miss, 1, &s, &err) == -1);
	CHECK_STR(err, want);
	free(err);
	err = NULL;
	CHECK(count_entries(miss) == 2);
	rmdir(miss);
}

static void test_errors(void)
{
	char *err = NULL;
	coco_state *s = NULL;
	char file[128];
	snprintf(file, sizeof file, "%s/plainfile", root);
	FILE *f = fopen(file, "w");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	CHECK(coco_state_open(file, 0, &s, &err) == -1 && s == NULL);
	CHECK(err && strstr(err, file) != NULL);
	free(err);
	err = NULL;
	unlink(file);
}

static void test_remove(const char *dir)
{
	char *err = NULL;
	struct stat sb;
	CHECK(stat(dir, &sb) == 0);
	CHECK(coco_state_remove(dir, &err) == 0);
	CHECK(stat(dir, &sb) == -1 && errno == ENOENT);
	CHECK(coco_state_remove(dir, &err) == 0);
	/* And it can be created afresh. */
	coco_state *s = NULL;
	CHECK(coco_state_open(dir, 0, &s, &err) == 0 && s);
	if (s) {
		CHECK(missing(s, COCO_CF_META, "version", 7));
		coco_state_close(s);
	}
	CHECK(coco_state_remove(dir, &err) == 0);
	CHECK(stat(dir, &sb) == -1 && errno == ENOENT);
}

/* PostgreSQL's own cases: read-only opens, messages, one schema per
 * flow, removal. */
static void test_pg(void)
{
	char *err = NULL;
	coco_state *s = NULL;
	const char *tmp = getenv("TMPDIR");
	CHECK(coco_state_pg_remove(pg_url, "CocoTestState", &err) == 0);  /* a rerun's */
	CHECK(coco_state_pg_remove(pg_url, "CocoTestOther", &err) == 0);
	test_contract("CocoTestState", tmp && *tmp ? tmp : "/tmp");
	test_threads("CocoTestState");

	/* A read-only open reads, and refuses writes and memo puts. */
	CHECK(coco_state_pg_open(pg_url, "CocoTestState", 1, &s, &err) == 0 && s);
	if (s) {
		CHECK(has(s, COCO_CF_LINEAGE, "b", 1, "3"));
		coco_batch *b = coco_batch_create();
		coco_batch_put(b, COCO_CF_META, "x", 1, "y", 1);
		CHECK(coco_state_write(s, b, 0, &err) == -1 && err &&
		      strstr(err, ": opened read-only") && !strncmp(err, "cluster URL ", 12));
		free(err);
		err = NULL;
		unsigned char mk[32] = { 1 };
		CHECK(coco_state_memo_put(s, mk, "v", 1, &err) == -1 && err);
		free(err);
		err = NULL;
		coco_batch_destroy(b);
		coco_state_close(s);
		s = NULL;
	}
	/* An update claims every free partition: a second one is refused
	 * (naming the holder) until the first closes. */
	coco_state *s2 = NULL;
	coco_cluster_share sh;
	CHECK(coco_state_pg_open(pg_url, "CocoTestState", 0, &s, &err) == 0 && s);
	CHECK(coco_state_pg_open(pg_url, "CocoTestState", 0, &s2, &err) == 0 && s2);
	CHECK(s && coco_cluster_balance(s, 1, &sh, &err) == 0 && sh.held == 256 && sh.claimed == 256);
	CHECK(s2 && coco_cluster_balance(s2, 1, &sh, &err) == -1 && sh.others == 256);
	char want[64];
	snprintf(want, sizeof want, " pid %ld", (long)getpid());   /* (this process's other store) */
	CHECK(err && !strncmp(err, "cluster URL ", 12) &&
	      strstr(err, ": flow CocoTestState is in use by another coco process (") && strstr(err, want) &&
	      strstr(err, "; its lease ends in "));
	free(err);
	err = NULL;
	coco_state_close(s);
	s = NULL;
	CHECK(s2 && coco_cluster_balance(s2, 1, &sh, &err) == 0 && sh.held == 256);
	coco_state_close(s2);
	s2 = NULL;

	/* Two workers: the first alone takes every partition, gives up half
	 * when the second joins, which takes them; each row is one's. */
	CHECK(coco_state_pg_open(pg_url, "CocoTestState", 0, &s, &err) == 0 && s);
	CHECK(coco_state_pg_open(pg_url, "CocoTestState", 0, &s2, &err) == 0 && s2);
	if (s && s2) {
		CHECK(coco_cluster_join(s, &err) == 0);
		CHECK(coco_cluster_balance(s, 0, &sh, &err) == 0 && sh.held == 256 && sh.live == 1);
		CHECK(coco_cluster_join(s2, &err) == 0);
		CHECK(coco_cluster_balance(s2, 0, &sh, &err) == 0 && sh.held == 0 && sh.fair == 128);
		CHECK(coco_cluster_balance(s, 0, &sh, &err) == 0 && sh.held == 128 && sh.released == 128);
		CHECK(coco_cluster_balance(s2, 0, &sh, &err) == 0 && sh.held == 128 && sh.claimed == 128);
		int one = 0, both = 0;
		for (int i = 0; i < 1000; i++) {
			char k[16];
			int kn = snprintf(k, sizeof k, "src%c%d", 0, i);
			int a = coco_state_owns(s, k, (size_t)kn), b = coco_state_owns(s2, k, (size_t)kn);
			one += a ^ b;
			both += a && b;
		}
		CHECK(one == 1000 && both == 0);
		/* each writes under its own partitions' fence */
		coco_batch *b = coco_batch_create();
		coco_batch_put(b, COCO_CF_META, "w", 1, "1", 1);
		CHECK(coco_state_write(s, b, 0, &err) == 0);
		CHECK(coco_state_write(s2, b, 0, &err) == 0);
		coco_batch_destroy(b);
		coco_buf out = {0};
		CHECK(coco_state_pg_status(pg_url, "CocoTestState", &out, &err) == 0 && out.p &&
		      strstr(out.p, "workers: 2 live\n") && strstr(out.p, " s ago, 128 partitions, 0 rows (0.0/s), 0 errors\n"));
		coco_buf_free(&out);
	}
	coco_state_close(s);
	coco_state_close(s2);
	s = s2 = NULL;

	/* One schema per flow: another flow sees nothing of it. */
	CHECK(coco_state_pg_open(pg_url, "CocoTestOther", 1, &s, &err) == -1 && !s);
	CHECK(err && !strncmp(err, "no state for flow CocoTestOther in cluster URL ", 47));
	free(err);
	err = NULL;
	CHECK(coco_state_pg_open(pg_url, "CocoTestOther", 0, &s, &err) == 0 && s);
	if (s) {
		CHECK(missing(s, COCO_CF_LINEAGE, "b", 1));
		coco_state_close(s);
	}
	/* Removal drops the flow's schema, and only its. */
	CHECK(coco_state_pg_remove(pg_url, "CocoTestOther", &err) == 0);
	CHECK(coco_state_pg_open(pg_url, "CocoTestOther", 1, &s, &err) == -1);
	free(err);
	err = NULL;
	CHECK(coco_state_pg_open(pg_url, "CocoTestState", 1, &s, &err) == 0 && s);
	coco_state_close(s);
	CHECK(coco_state_pg_remove(pg_url, "CocoTestState", &err) == 0);

	/* A server that is not there, a URL that does not parse: libpq's
	 * message after the URL, its password redacted. */
	s = NULL;
	CHECK(coco_state_pg_open("postgres://u:sekret@127.0.0.1:1/db?connect_timeout=5",
		"F", 0, &s, &err) == -1 && !s);
	CHECK(err && !strncmp(err, "cluster URL postgres://u:***@127.0.0.1:1/db?connect_timeout=5: ",
		63) && strstr(err, "127.0.0.1") && !strstr(err, "sekret") && !strchr(err, '\n'));
	if (err)
		fprintf(stderr, "(unreachable: %s)\n", err);
	free(err);
	err = NULL;
	CHECK(coco_state_pg_open("postgres://u:sekret@127.0.0.1:nope/db", "F", 0, &s, &err) == -1);
	CHECK(err && !strncmp(err, "cluster URL postgres://u:***@127.0.0.1:nope/db: ", 48) &&
	      !strstr(err, "sekret"));
	if (err)
		fprintf(stderr, "(bad URL: %s)\n", err);
	free(err);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--pg")) {
		pg_url = argv[2];
		test_pg();
		return CHECK_DONE();
	}
	if (argc == 3)
		return child_main(argv[1], argv[2]);
	strcpy(root, "/tmp/coco_test_state_XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	char dir[128];
	snprintf(dir, sizeof dir, "%s/nested/.coco/Flow", root);

	test_contract(dir, dir);
	test_lock(dir);
	test_threads(dir);
	test_wal_files(dir);
	test_first_write(dir);
	test_processes(dir);
	test_read_only(dir);
	test_errors();
	test_remove(dir);

	char *err = NULL;
	CHECK(coco_state_remove(root, &err) == 0);
	free(err);
	return CHECK_DONE();
}
