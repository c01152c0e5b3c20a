/* The state store (state.h) in RocksDB, through its C API: the single-node
 * implementation, and with rocksdb_nolog.cc (its info logger, in C++) the
 * only file of the engine that calls RocksDB.
 *
 * One database per flow directory, one column family per key space.
 * Read-write opens take our own flock on <dir>/coco.lock first, so a second
 * coco on the same directory gets a plain message naming the holder's pid
 * instead of RocksDB's LOCK error. Options are tuned for a small process:
 * a few MB of memtables and block cache, few open files, no LOG.
 *
 * A read-write open of an existing state opens it read-only first and
 * opens it for writing at the first write (upgrade()): RocksDB writes and
 * fsyncs a new MANIFEST, CURRENT and OPTIONS and a new WAL at every
 * read-write open, 20-30 ms of a no-change pass that writes nothing
 * (issue 20). Until that write nothing was written, so both instances
 * hold the same state: reads go to the read-write one from then on, and
 * snapshots and iterators made before keep reading the read-only one.
 * That one opens every table file at its open and holds them (max_open_files
 * -1), so the files compactions of the other delete stay readable to it;
 * it is closed once the last of them is done (pin_db/unpin_db count its
 * users). A state of more files than the read-write instance keeps open is
 * opened for writing at once. */
#define _GNU_SOURCE
#include "engine/state.h"
#include "engine/sys.h"

#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rocksdb/c.h>

#define MB (1024 * 1024)
#define MAX_OPEN_FILES 256

void coco_rocksdb_set_no_log(rocksdb_options_t *o);   /* rocksdb_nolog.cc */

static const char *const cf_names[COCO_CF_COUNT] = {
	"default", "tracking", "lineage", "memo", "setup", "owner",
};

/* One open RocksDB instance of the state. */
typedef struct rdb_db {
	rocksdb_t *db;
	rocksdb_column_family_handle_t *cf[COCO_CF_COUNT]; /* NULL: absent (read-only) */
} rdb_db;

typedef struct rdb {
	coco_state base;                      /* ops: rdb_ops */
	rdb_db rd, rw;  /* read-only and read-write instances (db NULL: not open) */
	rdb_db *cur;    /* where reads go: rw, or rd until the first write (atomic) */
	int rd_users;   /* gets, snapshots and iterators on rd (atomic) */
	int rd_closed;  /* rd closed, once nothing uses it after the upgrade (atomic) */
	pthread_mutex_t mu;                   /* upgrade() */
	rocksdb_cache_t *cache;               /* the block cache both share */
	rocksdb_readoptions_t *ro;
	rocksdb_writeoptions_t *wo, *wo_sync;
	int lockfd;     /* -1 when read-only */
	int dirty;      /* written since open: flush memtables at close */
	pthread_t persist_th;                 /* persist(): flushing memtables */
	int persisting;
	char *dir;
} rdb;

/* The instance reads go to now. */
static rdb_db *cur_db(rdb *s)
{
	return __atomic_load_n(&s->cur, __ATOMIC_ACQUIRE);
}

static void db_close(rdb_db *d);

/* Done with d: the last user of the read-only instance after the upgrade
 * closes it (its held files, deleted since, are given back). */
static void unpin_db(rdb *s, rdb_db *d)
{
	int no = 0;
	if (d == &s->rd && !__atomic_sub_fetch(&s->rd_users, 1, __ATOMIC_SEQ_CST) &&
	    __atomic_load_n(&s->cur, __ATOMIC_SEQ_CST) == &s->rw &&
	    __atomic_compare_exchange_n(&s->rd_closed, &no, 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		db_close(&s->rd);
}

/* The instance to read now (or d, already pinned by a snapshot), kept open
 * until unpin_db. The count goes up before cur is read, and upgrade()
 * publishes cur before it reads the count: one of them sees the other. */
static rdb_db *pin_db(rdb *s, rdb_db *d)
{
	if (d == &s->rw || (!d && cur_db(s) == &s->rw))
		return &s->rw;
	__atomic_add_fetch(&s->rd_users, 1, __ATOMIC_SEQ_CST);
	if (d)
		return d;         /* rd, held open by its snapshot */
	d = __atomic_load_n(&s->cur, __ATOMIC_SEQ_CST);
	if (d != &s->rd)
		unpin_db(s, &s->rd);
	return d;
}

typedef struct rdb_iter {
	coco_iter base;
	rdb *s;
	rdb_db *d;               /* the instance it reads */
	rocksdb_iterator_t *it;  /* NULL: empty (column family absent) */
	rocksdb_readoptions_t *ro;
	char *prefix;
	size_t n;
	int started, done;
} rdb_iter;

static const coco_state_ops rdb_ops;

/* mkdir -p. Returns 0 or -1 with errno set. */
static int mkdirs(const char *dir)
{
	char *p = coco_strdup(dir);
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = 0;
	for (char *q = p + 1; ; q++) {
		if (*q != '/' && *q != 0)
			continue;
		char c = *q;
		*q = 0;
		if (mkdir(p, 0777) < 0 && errno != EEXIST) {
			int e = errno;
			free(p);
			errno = e;
			return -1;
		}
		*q = c;
		if (!c)
			break;
	}
	free(p);
	struct stat st;
	if (stat(dir, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

/* Take <dir>/coco.lock, or explain who holds it. Returns the fd or -1. */
static int take_lock(const char *dir, char **err)
{
	char path[4096];
	if ((size_t)snprintf(path, sizeof path, "%s/coco.lock", dir) >= sizeof path)
		return coco_seterr(err, "state directory %s: path too long", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return coco_seterr(err, "state directory %s: cannot open %s: %s",
				   dir, path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		if (e != EWOULDBLOCK) {
			close(fd);
			return coco_seterr(err, "state directory %s: cannot lock %s: %s",
					   dir, path, strerror(e));
		}
		char b[32];
		ssize_t r = pread(fd, b, sizeof b - 1, 0);
		close(fd);
		long pid = 0;
		if (r > 0) {
			b[r] = 0;
			pid = strtol(b, NULL, 10);
		}
		if (pid == (long)getpid())
			return coco_seterr(err, "state directory %s is already open in this process "
				"(the same flow loaded twice? close the other one first: flow:close())", dir);
		if (pid > 0)
			return coco_seterr(err, "state directory %s is in use by another coco process (pid %ld)",
					   dir, pid);
		return coco_seterr(err, "state directory %s is in use by another coco process", dir);
	}
	char b[32];
	int len = snprintf(b, sizeof b, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, b, (size_t)len, 0) != len) {
		int e = errno;
		close(fd);
		if (e == ENOSPC)
			return coco_seterr(err, "state directory %s: no space left on device "
				"(writing %s)", dir, path);
		return coco_seterr(err, "state directory %s: cannot write %s: %s",
				   dir, path, strerror(e));
	}
	return fd;
}

/* Report a RocksDB error (frees it). RocksDB's own LOCK conflict (a
 * non-coco holder) is reported plainly, without its trace. */
static int rdb_err(char **err, const char *dir, char *msg)
{
	static const char enospc[] = "No space left on device";
	const char *nospc = strstr(msg, enospc);
	if (strstr(msg, "lock file") || strstr(msg, "lock hold")) {
		coco_seterr(err, "state directory %s is in use by another process", dir);
	} else if (nospc) {
		/* "IO error: No space left on device: While appending to file:
		 * F: No space left on device" -> "...: no space left on device
		 * (while appending to file: F)" */
		const char *what = nospc + sizeof enospc - 1;
		what += strspn(what, ": ");
		const char *end = strstr(what, enospc);
		size_t n = end ? (size_t)(end - what) : strlen(what);
		while (n && (what[n - 1] == ' ' || what[n - 1] == ':'))
			n--;
		if (n)
			coco_seterr(err, "state directory %s: no space left on device (%c%.*s)", dir,
				tolower((unsigned char)what[0]), (int)n - 1, what + 1);
		else
			coco_seterr(err, "state directory %s: no space left on device", dir);
	} else {
		coco_seterr(err, "state directory %s: %s", dir, msg);
	}
	rocksdb_free(msg);
	return -1;
}

static rocksdb_options_t *make_options(int read_only, rocksdb_cache_t *cache)
{
	rocksdb_options_t *o = rocksdb_options_create();
	if (!read_only) {
		rocksdb_options_set_create_if_missing(o, 1);
		rocksdb_options_set_create_missing_column_families(o, 1);
	}
	/* Memory: 1 MB memtables per family, 2 MB across all of them, in
	 * 64 KB arena blocks (an idle family holds one block). */
	rocksdb_options_set_write_buffer_size(o, 1 * MB);
	rocksdb_options_set_max_write_buffer_number(o, 2);
	rocksdb_options_set_db_write_buffer_size(o, 2 * MB);
	rocksdb_options_set_max_total_wal_size(o, 16 * MB);
	rocksdb_options_set_arena_block_size(o, 64 * 1024);
	/* 256 files of 2 MB (below): the state of ~2,500,000 source files
	 * before a lookup has to open a file again */
	rocksdb_options_set_max_open_files(o, MAX_OPEN_FILES);
	/* RocksDB reserves 4 MB (fallocate) for each new MANIFEST, ours stay
	 * a few KB: on a nearly full disk that reservation took the room the
	 * target needed (diskfull_spec's 8 MB disk) */
	rocksdb_options_set_manifest_preallocation_size(o, 64 * 1024);
	rocksdb_options_set_max_file_opening_threads(o, 1);
	rocksdb_options_set_max_background_jobs(o, 2);
	/* Small files: a pass writes keys in ascending order, so a flushed
	 * memtable overlaps only the last file of level 1, which compaction
	 * rewrites whole: 2 MB files instead of 16 MB cut compaction's CPU by
	 * two thirds on the 100,000-file initial run (bench_scale.lua). */
	rocksdb_options_set_target_file_size_base(o, 2 * MB);
	rocksdb_options_set_max_bytes_for_level_base(o, 64 * MB);
	rocksdb_options_set_compression(o, rocksdb_lz4_compression);
	/* No LOG at all (rocksdb_nolog.cc says why) */
	coco_rocksdb_set_no_log(o);
	rocksdb_options_set_stats_dump_period_sec(o, 0);
	rocksdb_options_set_stats_persist_period_sec(o, 0);
	rocksdb_options_set_skip_stats_update_on_db_open(o, 1);
	rocksdb_options_set_max_manifest_file_size(o, 4 * MB);

	rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_block_cache(t, cache);
	rocksdb_block_based_options_set_filter_policy(t, rocksdb_filterpolicy_create_bloom_full(10));
	rocksdb_block_based_options_set_format_version(t, 5);
	rocksdb_options_set_block_based_table_factory(o, t);
	/* The options hold their own references from here on. */
	rocksdb_block_based_options_destroy(t);
	return o;
}

static int path_exists(const char *dir, const char *name)
{
	char path[4096];
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
		return 0;
	return access(path, F_OK) == 0;
}

/* Read-only: open only the families that exist (all six, normally). */
static rocksdb_t *open_ro(rocksdb_options_t *o, const char *dir,
			  rocksdb_column_family_handle_t **cf, char **rerr)
{
	size_t n = 0;
	char **have = rocksdb_list_column_families(o, dir, &n, rerr);
	if (*rerr)
		return NULL;
	const char *names[COCO_CF_COUNT];
	const rocksdb_options_t *opts[COCO_CF_COUNT];
	int which[COCO_CF_COUNT];
	int m = 0;
	for (int i = 0; i < COCO_CF_COUNT; i++)
		for (size_t j = 0; j < n; j++)
			if (strcmp(have[j], cf_names[i]) == 0) {
				names[m] = cf_names[i];
				opts[m] = o;
				which[m++] = i;
				break;
			}
	rocksdb_list_column_families_destroy(have, n);
	rocksdb_column_family_handle_t *h[COCO_CF_COUNT];
	rocksdb_t *db = rocksdb_open_for_read_only_column_families(o, dir, m, names,
								   opts, h, 0, rerr);
	if (db)
		for (int i = 0; i < m; i++)
			cf[which[i]] = h[i];
	return db;
}

/* Number of files in dir whose names end with suffix. */
static int count_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int n = 0;
	size_t sn = strlen(suffix);
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len > sn && strcmp(e->d_name + len - sn, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* RocksDB left a temporary OPTIONS-N.dbtmp behind at each read-write open
 * while coco set info_log_level 6 (which it cannot write into an OPTIONS
 * file): one per run in the state directories of older versions. Removed
 * before a read-write open, under our lock. */
static void remove_options_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char path[4096];
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len > 14 && !strncmp(e->d_name, "OPTIONS-", 8) &&
		    !strcmp(e->d_name + len - 6, ".dbtmp") &&
		    (size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < sizeof path)
			unlink(path);
	}
	closedir(d);
}

/* Open the read-write instance (creating what is missing). 0 or -1. */
static int open_rw(rdb *s, char **err)
{
	remove_options_tmp(s->dir);
	rocksdb_options_t *o = make_options(0, s->cache);
	const rocksdb_options_t *opts[COCO_CF_COUNT];
	for (int i = 0; i < COCO_CF_COUNT; i++)
		opts[i] = o;
	char *rerr = NULL;
	sigset_t sigs;                /* RocksDB starts its threads here: no signals for them */
	coco_signals_block(&sigs);
	s->rw.db = rocksdb_open_column_families(o, s->dir, COCO_CF_COUNT, cf_names, opts,
						s->rw.cf, &rerr);
	coco_signals_restore(&sigs);
	rocksdb_options_destroy(o);
	if (!s->rw.db)
		return rdb_err(err, s->dir, rerr ? rerr : coco_strdup("cannot open"));
	return 0;
}

/* Before the first write of a store opened read-only first: open it for
 * writing; reads go there from now on. 0 or -1. */
static int upgrade(rdb *s, char **err)
{
	if (cur_db(s) == &s->rw)
		return 0;
	pthread_mutex_lock(&s->mu);
	int rc = 0;
	if (!s->rw.db && !(rc = open_rw(s, err))) {
		__atomic_store_n(&s->cur, &s->rw, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&s->rd_users, 1, __ATOMIC_SEQ_CST);
		unpin_db(s, &s->rd);      /* closes it unless in use */
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static void rdb_close(coco_state *st);

/* Open (read-write: create and lock) the state in dir. See state.h. */
int coco_state_open(const char *dir, int read_only, coco_state **out, char **err)
{
	*out = NULL;
	int lockfd = -1;
	if (read_only) {
		struct stat st;
		if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || !path_exists(dir, "CURRENT"))
			return coco_seterr(err, "no state in %s", dir);
	} else {
		if (mkdirs(dir) < 0)
			return coco_seterr(err, "state directory %s: cannot create: %s",
					   dir, strerror(errno));
		if ((lockfd = take_lock(dir, err)) < 0)
			return -1;
	}

	rdb *s = coco_xcalloc(1, sizeof *s);
	s->base.ops = &rdb_ops;
	s->lockfd = lockfd;
	s->dir = coco_strdup(dir);
	pthread_mutex_init(&s->mu, NULL);
	s->cache = rocksdb_cache_create_lru(4 * MB);
	/* read-only first: for show/ls/evaluate/server, and for a state
	 * that exists and whose table files a read-only instance may hold
	 * open (as many as the read-write one keeps) */
	if (read_only || (path_exists(dir, "CURRENT") && count_files(dir, ".sst") <= MAX_OPEN_FILES)) {
		rocksdb_options_t *o = make_options(1, s->cache);
		if (!read_only)
			rocksdb_options_set_max_open_files(o, -1);
		char *rerr = NULL;
		sigset_t sigs;
		coco_signals_block(&sigs);
		/* A live writer may delete an obsolete file while we list them. */
		for (int try = 0; try < 3; try++) {
			s->rd.db = open_ro(o, dir, s->rd.cf, &rerr);
			if (s->rd.db || !strstr(rerr, "No such file") || try == 2)
				break;
			rocksdb_free(rerr);
			rerr = NULL;
		}
		coco_signals_restore(&sigs);
		rocksdb_options_destroy(o);
		if (!s->rd.db && read_only) {
			rdb_err(err, dir, rerr ? rerr : coco_strdup("cannot open"));
			rdb_close(&s->base);
			return -1;
		}
		rocksdb_free(rerr);       /* read-write: opened for writing below */
		s->cur = &s->rd;
	}
	if (!s->rd.db) {
		if (open_rw(s, err)) {
			rdb_close(&s->base);
			return -1;
		}
		s->cur = &s->rw;
	}
	s->ro = rocksdb_readoptions_create();
	s->wo = rocksdb_writeoptions_create();
	s->wo_sync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(s->wo_sync, 1);
	*out = &s->base;
	return 0;
}

/* Close the database and release the lock. Memtables written during this
 * session are flushed first, so the next open does not replay the WAL.
 * RocksDB 7.x leaves one empty WAL behind per open that writes nothing and
 * deletes them only after a flush (fixed upstream in 8.3, PR #11409), so
 * when a few have piled up, a tombstone is written to meta and flushed. */
/* Writes the memtables to table files, and waits for them. */
static void flush_all(rdb *s)
{
	rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
	rocksdb_flushoptions_set_wait(fo, 1);
	for (int i = 0; i < COCO_CF_COUNT; i++) {
		char *e = NULL;
		if (s->rw.cf[i])
			rocksdb_flush_cf(s->rw.db, fo, s->rw.cf[i], &e);
		rocksdb_free(e); /* the WAL still holds the data */
	}
	rocksdb_flushoptions_destroy(fo);
}

static void *persist_main(void *arg)
{
	flush_all(arg);
	return NULL;
}

static void persist_join(rdb *s)
{
	if (s->persisting)
		pthread_join(s->persist_th, NULL);
	s->persisting = 0;
}

static void db_close(rdb_db *d)
{
	for (int i = 0; i < COCO_CF_COUNT; i++)
		if (d->cf[i])
			rocksdb_column_family_handle_destroy(d->cf[i]);
	if (d->db)
		rocksdb_close(d->db);
}

static void rdb_close(coco_state *st)
{
	rdb *s = (rdb *)st;
	persist_join(s);
	rocksdb_t *db = s->rw.db;     /* opened read-only and never written: nothing to do */
	if (db && !s->dirty && s->lockfd >= 0 && count_files(s->dir, ".log") > 4) {
		rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
		rocksdb_writebatch_delete_cf(wb, s->rw.cf[COCO_CF_META], "\0wal-gc", 7);
		char *e = NULL;
		rocksdb_write(db, s->wo, wb, &e);
		rocksdb_writebatch_destroy(wb);
		s->dirty = !e;
		rocksdb_free(e);
	}
	if (db && s->dirty && s->lockfd >= 0)
		flush_all(s);     /* what persist() left: a no-op after it */
	db_close(&s->rw);
	if (!s->rd_closed)
		db_close(&s->rd);
	if (s->cache)
		rocksdb_cache_destroy(s->cache);
	pthread_mutex_destroy(&s->mu);
	if (s->ro)
		rocksdb_readoptions_destroy(s->ro);
	if (s->wo)
		rocksdb_writeoptions_destroy(s->wo);
	if (s->wo_sync)
		rocksdb_writeoptions_destroy(s->wo_sync);
	if (s->lockfd >= 0)
		close(s->lockfd);
	free(s->dir);
	free(s);
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st; (void)ftw;
	int r = type == FTW_DP ? rmdir(path) : unlink(path);
	return r < 0 && errno != ENOENT ? -1 : 0;
}

/* rm -rf dir; a missing directory is not an error. */
int coco_state_remove(const char *dir, char **err)
{
	struct stat st;
	if (lstat(dir, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return coco_seterr(err, "cannot remove state directory %s: %s", dir, strerror(errno));
	}
	if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		return coco_seterr(err, "cannot remove state directory %s: %s", dir, strerror(errno));
	return 0;
}

/* Point lookup: 1 found (val replaced), 0 not found, -1 error. */
static int rdb_get(coco_state *st, coco_cf cf, const void *k, size_t kn, coco_buf *val, char **err)
{
	rdb *s = (rdb *)st;
	rdb_db *d = pin_db(s, NULL);
	int rc = 0;
	char *rerr = NULL;
	rocksdb_pinnableslice_t *p = d->cf[cf] ? rocksdb_get_pinned_cf(d->db, s->ro, d->cf[cf],
		k, kn, &rerr) : NULL;
	if (rerr) {
		rc = rdb_err(err, s->dir, rerr);
	} else if (p) {
		size_t vn;
		const char *v = rocksdb_pinnableslice_value(p, &vn);
		coco_buf_clear(val);
		coco_buf_add(val, v, vn);
		rocksdb_pinnableslice_destroy(p);
		rc = 1;
	}
	unpin_db(s, d);
	return rc;
}

/* Apply a batch atomically; sync fsyncs the WAL. The batch is left as is. */
static int rdb_write(coco_state *st, const coco_batch *b, int sync, char **err)
{
	rdb *s = (rdb *)st;
	if (s->lockfd < 0)
		return coco_seterr(err, "state directory %s: opened read-only", s->dir);
	if (!coco_batch_count(b))
		return 0;
	if (upgrade(s, err))
		return -1;
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	coco_batch_op op;
	for (size_t pos = 0; coco_batch_next(b, &pos, &op); )
		if (op.del)
			rocksdb_writebatch_delete_cf(wb, s->rw.cf[op.cf], op.k, op.kn);
		else
			rocksdb_writebatch_put_cf(wb, s->rw.cf[op.cf], op.k, op.kn, op.v, op.vn);
	char *rerr = NULL;
	rocksdb_write(s->rw.db, sync ? s->wo_sync : s->wo, wb, &rerr);
	rocksdb_writebatch_destroy(wb);
	if (rerr)
		return rdb_err(err, s->dir, rerr);
	__atomic_store_n(&s->dirty, 1, __ATOMIC_RELAXED);   /* the writer thread too */
	return 0;
}

/* The memo is a key space like the others here: one put, not synced. */
static int rdb_memo_get(coco_state *st, const unsigned char key[32], coco_buf *val, char **err)
{
	return rdb_get(st, COCO_CF_MEMO, key, 32, val, err);
}

static int rdb_memo_put(coco_state *st, const unsigned char key[32], const void *v, size_t vn,
	char **err)
{
	rdb *s = (rdb *)st;
	if (s->lockfd < 0)
		return coco_seterr(err, "state directory %s: opened read-only", s->dir);
	if (upgrade(s, err))
		return -1;
	char *rerr = NULL;
	rocksdb_put_cf(s->rw.db, s->wo, s->rw.cf[COCO_CF_MEMO], (const char *)key, 32, v, vn, &rerr);
	if (rerr)
		return rdb_err(err, s->dir, rerr);
	__atomic_store_n(&s->dirty, 1, __ATOMIC_RELAXED);
	return 0;
}

struct coco_snapshot {
	rdb_db *d;                    /* the instance it was taken on */
	const rocksdb_snapshot_t *snap;
};

static coco_snapshot *rdb_snapshot(coco_state *st)
{
	rdb *s = (rdb *)st;
	coco_snapshot *sn = coco_xcalloc(1, sizeof *sn);
	sn->d = pin_db(s, NULL);
	sn->snap = rocksdb_create_snapshot(sn->d->db);
	return sn;
}

static void rdb_release(coco_state *st, coco_snapshot *sn)
{
	rocksdb_release_snapshot(sn->d->db, sn->snap);
	unpin_db((rdb *)st, sn->d);
	free(sn);
}

/* The memtables written since the open go to table files on a thread of
 * ours (a flush may wait for the one before it), joined by close. */
static void rdb_persist(coco_state *st)
{
	rdb *s = (rdb *)st;
	persist_join(s);
	if (s->rw.db && __atomic_load_n(&s->dirty, __ATOMIC_RELAXED) &&
	    coco_thread_start(&s->persist_th, persist_main, s) == 0)
		s->persisting = 1;
}

static const char *rdb_dir(const coco_state *st)
{
	return ((const rdb *)st)->dir;
}

/* Iterator over the keys of cf starting with prefix, in byte order, seeing
 * the state as of sn, else of its creation. */
static coco_iter *rdb_iter_new(coco_state *st, const coco_snapshot *sn, coco_cf cf,
	const void *prefix, size_t n)
{
	rdb *s = (rdb *)st;
	rdb_iter *it = coco_xcalloc(1, sizeof *it);
	it->base.ops = &rdb_ops;
	it->s = s;
	it->n = n;
	/* prefix, then the upper bound: RocksDB keeps only a pointer to it. */
	it->prefix = coco_xmalloc(2 * n + 1);
	if (n)
		memcpy(it->prefix, prefix, n);
	it->d = pin_db(s, sn ? sn->d : NULL);
	if (!it->d->cf[cf])
		return &it->base;
	it->ro = rocksdb_readoptions_create();
	if (sn)
		rocksdb_readoptions_set_snapshot(it->ro, sn->snap);
	/* Upper bound: the prefix with its last non-0xff byte incremented. */
	size_t un = n;
	while (un > 0 && (unsigned char)it->prefix[un - 1] == 0xff)
		un--;
	if (un > 0) {
		char *ub = it->prefix + n;
		memcpy(ub, it->prefix, un);
		ub[un - 1] = (char)((unsigned char)ub[un - 1] + 1);
		rocksdb_readoptions_set_iterate_upper_bound(it->ro, ub, un);
	}
	it->it = rocksdb_create_iterator_cf(it->d->db, it->ro, it->d->cf[cf]);
	rocksdb_iter_seek(it->it, it->prefix, n);
	return &it->base;
}

/* Next item: 1 (k/v valid until the next call), 0 at the end, -1 error. */
static int rdb_iter_next(coco_iter *i, const char **k, size_t *kn, const char **v, size_t *vn,
	char **err)
{
	rdb_iter *it = (rdb_iter *)i;
	if (!it->it || it->done)
		return 0;
	if (it->started)
		rocksdb_iter_next(it->it);
	it->started = 1;
	if (!rocksdb_iter_valid(it->it)) {
		it->done = 1;
		char *rerr = NULL;
		rocksdb_iter_get_error(it->it, &rerr);
		return rerr ? rdb_err(err, it->s->dir, rerr) : 0;
	}
	*k = rocksdb_iter_key(it->it, kn);
	if (*kn < it->n || memcmp(*k, it->prefix, it->n) != 0) {
		it->done = 1;
		return 0;
	}
	*v = rocksdb_iter_value(it->it, vn);
	return 1;
}

/* Go to the first key >= k (within the prefix): the next coco_iter_next
 * returns it. */
static void rdb_iter_seek(coco_iter *i, const void *k, size_t kn)
{
	rdb_iter *it = (rdb_iter *)i;
	if (!it->it)
		return;
	rocksdb_iter_seek(it->it, k, kn);
	it->started = 0;
	it->done = 0;
}

/* Free an iterator. */
static void rdb_iter_destroy(coco_iter *i)
{
	rdb_iter *it = (rdb_iter *)i;
	if (it->it)
		rocksdb_iter_destroy(it->it);
	if (it->ro)
		rocksdb_readoptions_destroy(it->ro);
	unpin_db(it->s, it->d);
	free(it->prefix);
	free(it);
}

static const coco_state_ops rdb_ops = {
	.name = "rocksdb",
	.close = rdb_close,
	.get = rdb_get,
	.write = rdb_write,
	.iter = rdb_iter_new,
	.iter_next = rdb_iter_next,
	.iter_seek = rdb_iter_seek,
	.iter_destroy = rdb_iter_destroy,
	.memo_get = rdb_memo_get,
	.memo_put = rdb_memo_put,
	.snapshot = rdb_snapshot,
	.release = rdb_release,
	.dir = rdb_dir,
	.persist = rdb_persist,
};
