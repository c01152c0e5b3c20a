/* SQLite target: each export owns one table in a database file.
 *
 * This file: the vtable, the options, opening the database, the writes and
 * the WAL checkpoint thread. Setup (setup.c) is described by a small
 * line-oriented text that plan() and apply() parse back, so they need
 * nothing else. Writes go through two prepared statements (an upsert and a
 * delete) inside BEGIN IMMEDIATE ... COMMIT, with the database in WAL mode.
 * vec.c: vector distances; query.c: top_k and scan. */
#define _GNU_SOURCE              /* pthread_setname_np */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sqlite3.h>

#include "engine/ops.h"
#include "engine/tdesc.h"
#include "engine/sys.h"
#include "connectors/sqlite/sqlite_int.h"

/* sqlite3_errmsg, but a full disk is named the way coco names it
 * everywhere ("no space left on device (...)"). */
const char *sqlite_errmsg(sqlite3 *db)
{
	if ((sqlite3_errcode(db) & 0xff) == SQLITE_FULL)
		return "no space left on device (database or disk is full)";
	if ((sqlite3_errcode(db) & 0xff) == SQLITE_IOERR && sqlite3_system_errno(db) == ENOSPC)
		return "no space left on device (disk I/O error)";
	return sqlite3_errmsg(db);
}

static const coco_optdef sqlite_opts[] = {
	{ "path", COCO_OPT_STR, 1, "database file, relative to the flow file's directory" },
	{ "table_name", COCO_OPT_STR, 0, "table name (default <flow_name>__<export_name>)" },
	{ "full_text_fields", COCO_OPT_STRLIST, 0,
		"str fields to index in an FTS5 table <table>__fts, kept in sync by triggers", 1 },
	{ NULL, 0, 0, NULL },
};

/* ---- the export's options and opening ------------------------------------ */

/* Appends the absolute, lexically normalised form of path (relative paths
 * are taken from base, itself made absolute with the working directory). */
static void abs_path(const char *base, const char *path, coco_buf *out)
{
	coco_buf full = {0};
	if (path[0] != '/') {
		if (!base || base[0] != '/') {
			char cwd[4096];
			if (getcwd(cwd, sizeof cwd))
				coco_buf_adds(&full, cwd);
			coco_buf_putc(&full, '/');
		}
		if (base)
			coco_buf_adds(&full, base);
		coco_buf_putc(&full, '/');
	}
	coco_buf_adds(&full, path);

	size_t start = out->n;
	const char *p = full.p;
	while (*p) {
		while (*p == '/')
			p++;
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t n = (size_t)(p - s);
		if (n == 0 || (n == 1 && s[0] == '.'))
			continue;
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			while (out->n > start && out->p[out->n - 1] != '/')
				out->n--;
			if (out->n > start)
				out->n--;
			out->p[out->n] = 0;
			continue;
		}
		coco_buf_putc(out, '/');
		coco_buf_add(out, s, n);
	}
	if (out->n == start)
		coco_buf_putc(out, '/');
	coco_buf_free(&full);
}

int sqlite_resolve(const coco_optval *opts, const coco_export_info *info,
	coco_buf *path, coco_buf *table, char **err)
{
	const char *p = opts[OPT_PATH].set ? opts[OPT_PATH].s : NULL;
	if (!p || !*p)
		return coco_seterr(err, "SQLite: export '%s' needs a non-empty path option",
			info->export_name);
	abs_path(info->base_dir, p, path);
	if (opts[OPT_TABLE].set && opts[OPT_TABLE].s) {
		coco_buf_adds(table, opts[OPT_TABLE].s);
		if (!table->n)
			return coco_seterr(err, "SQLite: export '%s': table_name must not be empty",
				info->export_name);
	} else {
		coco_buf_printf(table, "%s__%s", info->flow_name, info->export_name);
	}
	if (!strncasecmp(table->p, "sqlite_", 7))
		return coco_seterr(err, "SQLite: table name '%s' is reserved "
			"(names starting with sqlite_ belong to SQLite)", table->p);
	return 0;
}

/* Checks the row type an export hands us. */
int sqlite_check_row_type(const coco_export_info *info, const char *table, char **err)
{
	if (coco_export_check_row("SQLite", info, err) < 0)
		return -1;
	const coco_type *t = info->row_type;
	for (uint32_t i = 0; i < t->nfields; i++) {
		if (!t->fields[i].name[0])
			return coco_seterr(err, "SQLite: export '%s' has a field with an empty name",
				info->export_name);
		for (uint32_t j = 0; j < i; j++)
			if (!strcasecmp(t->fields[i].name, t->fields[j].name))
				return coco_seterr(err, "SQLite: table %s: fields '%s' and '%s' name the "
					"same column (SQLite column names ignore case)",
					table, t->fields[j].name, t->fields[i].name);
	}
	return 0;
}

/* ---- database access ------------------------------------------------------ */

/* Sets *err to "SQLite: cannot open PATH: MSG (WHY)", WHY found by looking
 * at the file system. */
int sqlite_open_error(const char *path, const char *msg, char **err)
{
	coco_buf dir = {0}, why = {0};
	const char *slash = strrchr(path, '/');
	if (slash && slash != path)
		coco_buf_add(&dir, path, (size_t)(slash - path));
	else
		coco_buf_adds(&dir, "/");
	struct stat st;
	if (stat(dir.p, &st) != 0) {
		if (errno == ENOENT)
			coco_buf_printf(&why, " (directory %s does not exist)", dir.p);
		else
			coco_buf_printf(&why, " (directory %s: %s)", dir.p, strerror(errno));
	} else if (!S_ISDIR(st.st_mode)) {
		coco_buf_printf(&why, " (%s is not a directory)", dir.p);
	} else if (access(dir.p, W_OK | X_OK) != 0) {
		coco_buf_adds(&why, " (permission denied)");
	} else if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			coco_buf_adds(&why, " (it is a directory)");
		else if (access(path, R_OK | W_OK) != 0)
			coco_buf_adds(&why, " (permission denied)");
	} else if (errno == ENOENT) {
		coco_buf_adds(&why, " (file does not exist; run setup first)");
	}
	coco_seterr(err, "SQLite: cannot open %s: %s%s", path, msg, why.p ? why.p : "");
	coco_buf_free(&dir);
	coco_buf_free(&why);
	return -1;
}

/* Opens path read-write (creating it when `create`), in WAL mode with a busy
 * timeout. Returns 0, 1 when !create and the file does not exist, or -1. */
int sqlite_db_open(const char *path, int create, sqlite3 **out, char **err)
{
	*out = NULL;
	struct stat st;
	if (!create && stat(path, &st) != 0 && errno == ENOENT)
		return 1;
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
	int rc = sqlite3_open_v2(path, &db, flags, NULL);
	if (rc != SQLITE_OK) {
		sqlite_open_error(path, db ? sqlite_errmsg(db) : sqlite3_errstr(rc), err);
		sqlite3_close(db);
		return -1;
	}
	if (sqlite3_db_readonly(db, "main") == 1) {
		sqlite_open_error(path, sqlite3_errstr(SQLITE_READONLY), err);
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, 5000);
	sqlite3_extended_result_codes(db, 1);
	sqlite_register_distances(db);
	/* 16 KiB pages hold ~1 KiB chunk rows with little slack and make the
	 * WAL checkpoints fewer: about twice as fast as 4 KiB pages for the
	 * usual export. page_size only takes effect on a new, empty database. */
	rc = sqlite3_exec(db, "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; "
		"PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		sqlite_open_error(path, sqlite_errmsg(db), err);
		sqlite3_close(db);
		return -1;
	}
	*out = db;
	return 0;
}

/* ---- WAL checkpoints, off the writer's thread --------------------------------
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that crosses 1,000
 * WAL frames, on the committing thread, and it fsyncs the WAL and the
 * database: tens of ms inside one live step of a host (Neovim, nginx). The
 * writer connection turns it off (its WAL hook replaces the automatic one)
 * and signals a helper thread instead, which checkpoints (PASSIVE: it
 * never blocks the writer or readers) on a connection of its own. Crash
 * safety is SQLite's: a checkpoint only copies committed frames, whenever
 * and from whichever connection it runs. While writes come faster than
 * checkpoints, the WAL file grows; SQLite then reuses it from the start,
 * without cutting it back (journal_size_limit would truncate it in the
 * writer's COMMIT: ~10 ms with a discard-mounted file system). On close,
 * the thread does a last checkpoint (TRUNCATE when no reader is in the
 * way), so neither the CLI nor a long-running host leaves a large WAL. */

#define CKPT_FRAMES 1000         /* frames since the last checkpoint before the next */

struct ckpt {
	char *path;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	int started, want, stop;
	int done_upto;           /* the WAL frames already checkpointed (writer's view) */
	int busy;                /* a checkpoint is running */
};

static sqlite3 *ckpt_open(const char *path)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	/* synchronous=NORMAL, as the writer: the checkpoint syncs the WAL
	 * before copying it and the database after */
	sqlite3_exec(db, "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-64", NULL, NULL, NULL);
	return db;
}

static void *ckpt_main(void *arg)
{
	ckpt *c = arg;
#ifdef SYS_gettid
	/* background work: on a busy machine, the host's own thread goes first */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
#endif
#ifdef __GLIBC__
	pthread_setname_np(pthread_self(), "coco-checkpoint");
#endif
	sqlite3 *db = ckpt_open(c->path);
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->want && !c->stop)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->stop)
			break;
		c->want = 0;
		c->busy = 1;
		pthread_mutex_unlock(&c->mu);
		int nlog = 0, nckpt = 0;
		if (!db)
			db = ckpt_open(c->path);
		if (db)
			sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &nlog, &nckpt);
		pthread_mutex_lock(&c->mu);
		c->busy = 0;
		if (nckpt > c->done_upto)
			c->done_upto = nckpt;
	}
	pthread_mutex_unlock(&c->mu);
	if (db) {
		/* the last one: everything, and an empty WAL unless a reader is
		 * using it (then it waits for no one: busy timeout 0) */
		if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) != SQLITE_OK)
			sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		sqlite3_close(db);
	}
	return NULL;
}

/* The writer's WAL hook, after each commit (on the writer's thread, the
 * write lock released): wakes the checkpointer once CKPT_FRAMES new frames
 * are in the WAL. */
static int ckpt_hook(void *arg, sqlite3 *db, const char *name, int nframes)
{
	ckpt *c = arg;
	(void)db;
	(void)name;
	pthread_mutex_lock(&c->mu);
	if (nframes < c->done_upto)
		c->done_upto = 0;        /* the WAL was restarted */
	if (nframes - c->done_upto >= CKPT_FRAMES && !c->busy && !c->want) {
		if (!c->started && coco_thread_start(&c->th, ckpt_main, c) == 0)
			c->started = 1;
		c->want = 1;
		pthread_cond_signal(&c->cv);
	}
	int started = c->started;
	pthread_mutex_unlock(&c->mu);
	if (!started && nframes >= CKPT_FRAMES)   /* no thread: checkpoint here, as SQLite would */
		sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return SQLITE_OK;
}

/* Hands db's checkpoints to a helper thread (started at the first one). */
static ckpt *ckpt_create(sqlite3 *db, const char *path)
{
	ckpt *c = calloc(1, sizeof *c);
	if (!c)
		abort();
	c->path = coco_strdup(path);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	sqlite3_wal_hook(db, ckpt_hook, c);
	return c;
}

/* Stops the thread after a last checkpoint, before the writer closes. */
static void ckpt_destroy(sqlite3 *db, ckpt *c)
{
	if (!c)
		return;
	if (db)
		sqlite3_wal_hook(db, NULL, NULL);
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_signal(&c->cv);
	int started = c->started;
	pthread_mutex_unlock(&c->mu);
	if (started)
		pthread_join(c->th, NULL);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c->path);
	free(c);
}

/* ---- writes ----------------------------------------------------------------- */

static void tgt_close(void *p)
{
	sqlite_tgt *t = p;
	if (!t)
		return;
	if (t->db && !sqlite3_get_autocommit(t->db) && t->rollback)
		sqlite3_step(t->rollback);
	ckpt_destroy(t->db, t->ckpt);
	sqlite3_finalize(t->ups);
	sqlite3_finalize(t->del);
	sqlite3_finalize(t->begin);
	sqlite3_finalize(t->commit);
	sqlite3_finalize(t->rollback);
	sqlite3_close(t->db);
	coco_buf_free(&t->scratch);
	free(t->off);
	free(t->path);
	free(t->table);
	free(t);
}

static int prepare(sqlite_tgt *t, const char *sql, sqlite3_stmt **st, char **err)
{
	if (sqlite3_prepare_v3(t->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK)
		return 0;
	const char *msg = sqlite_errmsg(t->db);
	if (!strncmp(msg, "no such table", 13))
		return coco_seterr(err, "SQLite: table %s does not exist in %s (run setup)",
			t->table, t->path);
	return coco_seterr(err, "SQLite: table %s in %s: %s (run setup?)", t->table, t->path, msg);
}

static int tgt_open(const coco_optval *opts, const coco_export_info *info, void **out, char **err)
{
	*out = NULL;
	coco_buf path = {0}, table = {0}, sql = {0};
	if (sqlite_resolve(opts, info, &path, &table, err) < 0 ||
	    sqlite_check_row_type(info, table.p, err) < 0) {
		coco_buf_free(&path);
		coco_buf_free(&table);
		return -1;
	}
	sqlite_tgt *t = calloc(1, sizeof *t);
	if (!t)
		abort();
	t->path = coco_buf_take(&path);
	t->table = coco_buf_take(&table);
	t->row_type = info->row_type;
	t->ncols = info->row_type->nfields;
	t->nkeys = info->nkeys;
	t->off = calloc(t->ncols, sizeof *t->off);
	if (!t->off)
		abort();
	const coco_field *f = info->row_type->fields;

	int rc = sqlite_db_open(t->path, 0, &t->db, err);
	if (rc == 1)
		rc = sqlite_open_error(t->path, "unable to open database file", err);
	if (rc < 0)
		goto fail;

	/* INSERT INTO "t"("a","b","c") VALUES(?,?,?)
	 *   ON CONFLICT("a","b") DO UPDATE SET "c"=excluded."c" */
	coco_buf_adds(&sql, t->ncols == t->nkeys ? "INSERT OR REPLACE INTO " : "INSERT INTO ");
	coco_sql_ident(&sql, t->table);
	coco_buf_putc(&sql, '(');
	coco_sql_idents(&sql, f, t->ncols, ",");
	coco_buf_adds(&sql, ") VALUES(");
	for (uint32_t i = 0; i < t->ncols; i++)
		coco_buf_adds(&sql, i ? ",?" : "?");
	coco_buf_putc(&sql, ')');
	if (t->ncols > t->nkeys) {
		coco_buf_adds(&sql, " ON CONFLICT(");
		coco_sql_idents(&sql, f, t->nkeys, ",");
		coco_buf_adds(&sql, ") DO UPDATE SET ");
		for (uint32_t i = t->nkeys; i < t->ncols; i++) {
			if (i > t->nkeys)
				coco_buf_putc(&sql, ',');
			coco_sql_ident(&sql, f[i].name);
			coco_buf_adds(&sql, "=excluded.");
			coco_sql_ident(&sql, f[i].name);
		}
	}
	if (prepare(t, sql.p, &t->ups, err) < 0)
		goto fail;
	t->ckpt = ckpt_create(t->db, t->path);
	/* a 512 KB page cache (SQLite's default is 2 MB): batches write near
	 * the b-trees' right edges, and an idle host keeps less memory */
	sqlite3_exec(t->db, "PRAGMA cache_size=-512", NULL, NULL, NULL);
	/* INSERT OR REPLACE's implicit delete fires the full-text index's
	 * delete trigger only with recursive triggers on */
	sqlite3_exec(t->db, "PRAGMA recursive_triggers=1", NULL, NULL, NULL);

	coco_buf_clear(&sql);
	coco_buf_adds(&sql, "DELETE FROM ");
	coco_sql_ident(&sql, t->table);
	coco_buf_adds(&sql, " WHERE ");
	coco_sql_idents(&sql, f, t->nkeys, "=? AND ");          /* "a"=? AND "b"=? */
	coco_buf_adds(&sql, "=?");
	if (prepare(t, sql.p, &t->del, err) < 0 ||
	    prepare(t, "BEGIN IMMEDIATE", &t->begin, err) < 0 ||
	    prepare(t, "COMMIT", &t->commit, err) < 0 ||
	    prepare(t, "ROLLBACK", &t->rollback, err) < 0)
		goto fail;
	coco_buf_free(&sql);
	*out = t;
	return 0;
fail:
	coco_buf_free(&sql);
	tgt_close(t);
	return -1;
}

/* Runs a statement that returns no rows (BEGIN, COMMIT, an upsert, ...);
 * what: "commit to" in "SQLite: commit to table T in P: why". */
static int step_done(sqlite_tgt *t, sqlite3_stmt *st, const char *what, char **err)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	return coco_seterr(err, "SQLite: %s table %s in %s: %s", what, t->table, t->path,
		sqlite_errmsg(t->db));
}

/* BEGIN IMMEDIATE; a transaction still open from a batch that failed
 * midway is rolled back first (none of it was committed). */
static int tgt_begin(void *p, char **err)
{
	sqlite_tgt *t = p;
	if (!sqlite3_get_autocommit(t->db) &&
	    step_done(t, t->rollback, "roll back a failed batch on", err) < 0)
		return -1;
	return step_done(t, t->begin, "begin a transaction on", err);
}

static int tgt_commit(void *p, char **err)
{
	sqlite_tgt *t = p;
	return step_done(t, t->commit, "commit to", err);
}

/* Decimal text of v at p (room for 20 bytes); returns the length. */
static size_t fmt_i64(char *p, int64_t v)
{
	char tmp[24];
	size_t n = 0, len = 0;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		p[len++] = '-';
	while (n)
		p[len++] = tmp[--n];
	return len;
}

/* Binds vals[0..n) (of the row type's first n fields) as parameters 1..n.
 * Values needing conversion are first written to t->scratch, so every
 * pointer handed to SQLite (SQLITE_STATIC) stays valid until the step. */
static void bind_values(sqlite_tgt *t, sqlite3_stmt *st, const coco_value *vals, uint32_t n)
{
	const coco_field *f = t->row_type->fields;
	coco_buf *sb = &t->scratch;
	coco_buf_clear(sb);
	for (uint32_t i = 0; i < n; i++) {
		const coco_value *v = &vals[i];
		t->off[i] = sb->n;
		switch (v->kind) {
		case COCO_RANGE:
			coco_buf_reserve(sb, 44);
			sb->p[sb->n++] = '[';
			sb->n += fmt_i64(sb->p + sb->n, v->u.r[0]);
			sb->p[sb->n++] = ',';
			sb->n += fmt_i64(sb->p + sb->n, v->u.r[1]);
			sb->p[sb->n++] = ']';
			sb->p[sb->n] = 0;
			break;
		case COCO_STRUCT:
		case COCO_TABLE:
			coco_value_to_json(v, f[i].type, sb);
			break;
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
		case COCO_VECTOR:
			for (size_t j = 0; j < v->n; j++) {
				uint32_t x;
				memcpy(&x, &v->u.vec[j], 4);
				unsigned char le[4] = { x, x >> 8, x >> 16, x >> 24 };
				coco_buf_add(sb, le, 4);
			}
			break;
#endif
		default:
			break;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		const coco_value *v = &vals[i];
		int k = (int)i + 1;
		size_t len = (i + 1 < n ? t->off[i + 1] : sb->n) - t->off[i];
		switch (v->kind) {
		case COCO_BOOL:
			sqlite3_bind_int(st, k, v->u.b != 0);
			break;
		case COCO_INT64:
			sqlite3_bind_int64(st, k, v->u.i);
			break;
		case COCO_FLOAT32:
		case COCO_FLOAT64:
			sqlite3_bind_double(st, k, v->u.f);
			break;
		case COCO_STR:
		case COCO_JSON:
			sqlite3_bind_text64(st, k, v->u.s ? v->u.s : "", v->n, SQLITE_STATIC, SQLITE_UTF8);
			break;
		case COCO_BYTES:
			sqlite3_bind_blob64(st, k, v->u.s ? v->u.s : "", v->n, SQLITE_STATIC);
			break;
		case COCO_VECTOR:
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			sqlite3_bind_blob64(st, k, v->u.vec ? (const void *)v->u.vec : "",
				v->n * sizeof(float), SQLITE_STATIC);
#else
			sqlite3_bind_blob64(st, k, sb->p + t->off[i], len, SQLITE_STATIC);
#endif
			break;
		case COCO_RANGE:
		case COCO_STRUCT:
		case COCO_TABLE:
			sqlite3_bind_text64(st, k, sb->p + t->off[i], len, SQLITE_STATIC, SQLITE_UTF8);
			break;
		default:
			sqlite3_bind_null(st, k);
			break;
		}
	}
}

static int tgt_upsert(void *p, const coco_value *row, char **err)
{
	sqlite_tgt *t = p;
	if (row->kind != COCO_STRUCT || row->n != t->ncols)
		return coco_seterr(err, "SQLite: table %s: a row has %zu fields, expected %u",
			t->table, row->kind == COCO_STRUCT ? row->n : (size_t)1, t->ncols);
	bind_values(t, t->ups, row->u.fields, t->ncols);
	return step_done(t, t->ups, "upsert into", err);
}

static int tgt_del(void *p, const coco_value *key, char **err)
{
	sqlite_tgt *t = p;
	const coco_value *vals = key;
	if (key->kind == COCO_STRUCT && key->n == t->nkeys)
		vals = key->u.fields;
	else if (t->nkeys != 1)   /* a lone key value is accepted for a one-field key */
		return coco_seterr(err, "SQLite: table %s: a key has %zu fields, expected %u",
			t->table, key->kind == COCO_STRUCT ? key->n : (size_t)1, t->nkeys);
	bind_values(t, t->del, vals, t->nkeys);
	return step_done(t, t->del, "delete from", err);
}

/* The SQLite target: `targets.SQLite{ path = "index.sqlite" }`. */
const coco_target_ops coco_sqlite_target = {
	.name = "SQLite",
	.opts = sqlite_opts,
	.describe = sqlite_describe,
	.plan = sqlite_plan,
	.apply = sqlite_apply,
	.open = tgt_open,
	.begin = tgt_begin,
	.upsert = tgt_upsert,
	.del = tgt_del,
	.commit = tgt_commit,
	.close = tgt_close,
	.top_k = sqlite_top_k,
	.scan = sqlite_scan,
};
