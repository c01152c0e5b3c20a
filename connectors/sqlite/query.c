/* SQLite target: queries. top_k by an exact scan of the table's vectors
 * (in parallel over rowid ranges on a large table), and scan (every row,
 * for coco verify). */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/ops.h"
#include "engine/tdesc.h"
#include "engine/sys.h"
#include "engine/topk.h"
#include "connectors/sqlite/sqlite_int.h"

/* ---- queries: top_k by exact scan ----------------------------------------------- */

/* A stored cell as a value of type t (struct and table columns as json). */
static void cell_value(sqlite3_stmt *st, int i, const coco_type *t, coco_arena *a, coco_value *v)
{
	memset(v, 0, sizeof *v);
	int ct = sqlite3_column_type(st, i);
	if (ct == SQLITE_NULL)
		return;
	const char *s = (const char *)sqlite3_column_blob(st, i);
	size_t n = (size_t)sqlite3_column_bytes(st, i);
	switch (t->kind) {
	case COCO_BOOL:
		v->kind = COCO_BOOL;
		v->u.b = sqlite3_column_int64(st, i) != 0;
		break;
	case COCO_INT64:
		*v = coco_v_int(sqlite3_column_int64(st, i));
		break;
	case COCO_FLOAT32:
	case COCO_FLOAT64:
		v->kind = (uint8_t)t->kind;
		v->u.f = sqlite3_column_double(st, i);
		break;
	case COCO_RANGE: {
		v->kind = COCO_RANGE;
		char *e;
		if (s && n && s[0] == '[') {
			v->u.r[0] = strtoll(s + 1, &e, 10);
			if (*e == ',')
				v->u.r[1] = strtoll(e + 1, NULL, 10);
		}
		break;
	}
	case COCO_VECTOR: {
		float *f = coco_arena_alloc(a, n + sizeof(float));
		for (size_t k = 0; k < n / 4; k++)
			f[k] = sqlite_load_f32((const unsigned char *)s + 4 * k);
		v->kind = COCO_VECTOR;
		v->n = n / 4;
		v->u.vec = f;
		break;
	}
	default:         /* str, bytes, json; struct and table as json */
		v->kind = t->kind == COCO_STR || t->kind == COCO_BYTES ? (uint8_t)t->kind : COCO_JSON;
		v->u.s = coco_arena_strndup(a, s ? s : "", s ? n : 0);
		v->n = s ? n : 0;
		break;
	}
}

/* Every row of the table, for coco verify (coco_target_ops.scan). */
int sqlite_scan(void *p, int (*cb)(void *ud, const coco_value *row), void *ud, coco_arena *a,
	char **err)
{
	sqlite_tgt *t = p;
	const coco_field *f = t->row_type->fields;
	coco_buf sql = {0};
	coco_buf_adds(&sql, "SELECT ");
	coco_sql_idents(&sql, f, t->ncols, ", ");
	coco_buf_adds(&sql, " FROM ");
	coco_sql_ident(&sql, t->table);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(t->db, sql.p, -1, &st, NULL);
	coco_buf_free(&sql);
	coco_value *vals = calloc(t->ncols, sizeof *vals);
	if (!vals)
		abort();
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		coco_arena_reset(a);
		for (uint32_t i = 0; i < t->ncols; i++)
			cell_value(st, (int)i, f[i].type, a, &vals[i]);
		coco_value row = { .kind = COCO_STRUCT, .n = t->ncols, .u.fields = vals };
		if (cb(ud, &row)) {
			rc = SQLITE_DONE;
			break;
		}
		rc = SQLITE_OK;
	}
	free(vals);
	if (rc != SQLITE_DONE)
		coco_seterr(err, "SQLite: scan table %s in %s: %s", t->table, t->path,
			sqlite_errmsg(t->db));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* One part of an exact scan: the rows of rowids [lo, hi] on a connection
 * of its own (db, or opened here), keeping the k nearest in a max-heap. */
typedef struct scan_part {
	const char *path, *sql;
	int64_t lo, hi;
	int metric;
	const unsigned char *q;      /* the query vector, little-endian float32 */
	size_t nq;                   /* its bytes */
	size_t k, n;
	int64_t *ids;
	double *dist;
	sqlite3 *db;
	pthread_t th;
	int started;
	char *err;
} scan_part;

typedef struct scan_hit {
	double dist;
	int64_t id;
} scan_hit;

/* Nearest first; ties by rowid, so results do not depend on the split. */
static int hit_cmp(const void *x, const void *y)
{
	const scan_hit *a = x, *b = y;
	if (a->dist != b->dist)
		return a->dist < b->dist ? -1 : 1;
	return (a->id > b->id) - (a->id < b->id);
}

static void heap_swap(scan_part *p, size_t i, size_t j)
{
	double d = p->dist[i];
	int64_t id = p->ids[i];
	p->dist[i] = p->dist[j];
	p->ids[i] = p->ids[j];
	p->dist[j] = d;
	p->ids[j] = id;
}

static void heap_down(scan_part *p, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, top = i;
		if (l < p->n && p->dist[l] > p->dist[top])
			top = l;
		if (r < p->n && p->dist[r] > p->dist[top])
			top = r;
		if (top == i)
			return;
		heap_swap(p, i, top);
		i = top;
	}
}

/* Offers (d, id) to the part's k-heap. */
static void heap_offer(scan_part *p, double d, int64_t id)
{
	if (p->n < p->k) {
		size_t i = p->n++;
		p->dist[i] = d;
		p->ids[i] = id;
		while (i > 0 && p->dist[(i - 1) / 2] < p->dist[i]) {
			heap_swap(p, i, (i - 1) / 2);
			i = (i - 1) / 2;
		}
	} else if (d < p->dist[0]) {
		p->dist[0] = d;
		p->ids[0] = id;
		heap_down(p, 0);
	}
}

/* Reads rowid and vector of each row in [lo, hi] (a small page cache: the
 * pages pass through once, and stay in the CPU's caches) and computes the
 * distances here, rows of another size skipped. */
static void *scan_main(void *arg)
{
	scan_part *p = arg;
	sqlite3 *db = p->db;
	sqlite3_stmt *st = NULL;
	if (!db) {
		if (sqlite3_open_v2(p->path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
			p->err = coco_strdup(db ? sqlite_errmsg(db) : "cannot open");
			sqlite3_close(db);
			return NULL;
		}
		sqlite3_busy_timeout(db, 5000);
		sqlite3_exec(db, "PRAGMA mmap_size=0; PRAGMA cache_size=-256", NULL, NULL, NULL);
	}
	if (sqlite3_prepare_v2(db, p->sql, -1, &st, NULL) != SQLITE_OK) {
		p->err = coco_strdup(sqlite_errmsg(db));
		goto out;
	}
	sqlite3_bind_int64(st, 1, p->lo);
	sqlite3_bind_int64(st, 2, p->hi);
	size_t dim = p->nq / 4;
	double qq = 0;               /* |q|², for cosine */
	if (p->metric == DIST_COSINE)
		qq = -sqlite_vec_distance(DIST_IP, p->q, p->q, dim);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_type(st, 1) != SQLITE_BLOB ||
		    (size_t)sqlite3_column_bytes(st, 1) != p->nq)
			continue;
		const unsigned char *x = sqlite3_column_blob(st, 1);
		double d;
		if (p->metric == DIST_COSINE) {
			double dot, xx;
			sqlite_vec_dot_norm(p->q, x, dim, &dot, &xx);
			if (!(xx > 0 && qq > 0))
				continue;        /* cosine of a zero vector */
			d = 1 - dot / sqrt(qq * xx);
		} else {
			d = sqlite_vec_distance(p->metric, p->q, x, dim);
		}
		heap_offer(p, d, sqlite3_column_int64(st, 0));
	}
	if (rc != SQLITE_DONE)
		p->err = coco_strdup(sqlite_errmsg(db));
out:
	sqlite3_finalize(st);
	if (db != p->db)
		sqlite3_close(db);
	return NULL;
}

/* Pass one of top_k: the rowids and distances of the k nearest rows of
 * table on db, nearest first, into *out (from a), by scanning every vector
 * of the query's size (qv: little-endian float32) in field (in parallel
 * over rowid ranges on a large table). Returns how many, or -1 with *err. */
static long nearest(sqlite3 *db, const char *path, const char *table, const char *field,
	int metric, const coco_buf *qv, size_t k, coco_arena *a, scan_hit **out, char **err)
{
	coco_buf sql = {0};
	sqlite3_stmt *st = NULL;
	/* (one min(rowid), max(rowid) would scan an index: two lookups) */
	coco_buf_adds(&sql, "SELECT (SELECT min(rowid) FROM ");
	coco_sql_ident(&sql, table);
	coco_buf_adds(&sql, "), (SELECT max(rowid) FROM ");
	coco_sql_ident(&sql, table);
	coco_buf_adds(&sql, ")");
	if (sqlite3_prepare_v2(db, sql.p, -1, &st, NULL) != SQLITE_OK) {
		const char *msg = sqlite_errmsg(db);
		coco_seterr(err, "SQLite: query table %s in %s: %s%s", table, path, msg,
			!strncmp(msg, "no such table", 13) ? " (run coco update first)" : "");
		coco_buf_free(&sql);
		return -1;
	}
	int64_t lo = 0, hi = -1;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		lo = sqlite3_column_int64(st, 0);
		hi = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	coco_buf_clear(&sql);
	/* SELECT rowid, "f" FROM "t" WHERE rowid BETWEEN ?1 AND ?2 */
	coco_buf_adds(&sql, "SELECT rowid, ");
	coco_sql_ident(&sql, field);
	coco_buf_adds(&sql, " FROM ");
	coco_sql_ident(&sql, table);
	coco_buf_adds(&sql, " WHERE rowid BETWEEN ?1 AND ?2");
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nparts = hi - lo < 20000 ? 1 : ncpu > 4 ? 4 : ncpu < 1 ? 1 : (size_t)ncpu;
	scan_part parts[4];
	memset(parts, 0, sizeof parts);
	int64_t span = (hi - lo) / (int64_t)nparts + 1;
	for (size_t i = 0; i < nparts; i++) {
		scan_part *sp = &parts[i];
		sp->path = path;
		sp->sql = sql.p;
		sp->lo = lo + (int64_t)i * span;
		sp->hi = i + 1 == nparts ? hi : sp->lo + span - 1;
		sp->metric = metric;
		sp->q = (const unsigned char *)qv->p;
		sp->nq = qv->n;
		sp->k = k;
		sp->ids = coco_arena_alloc(a, (k + 1) * sizeof *sp->ids);
		sp->dist = coco_arena_alloc(a, (k + 1) * sizeof *sp->dist);
		sp->db = i == 0 ? db : NULL;
		if (i > 0 && coco_thread_start(&sp->th, scan_main, sp) == 0)
			sp->started = 1;
	}
	scan_main(&parts[0]);
	for (size_t i = 1; i < nparts; i++) {
		if (parts[i].started)
			pthread_join(parts[i].th, NULL);
		else
			scan_main(&parts[i]);
	}
	coco_buf_free(&sql);
	for (size_t i = 0; i < nparts; i++)
		if (parts[i].err && !*err) {
			coco_seterr(err, "SQLite: query table %s in %s: %s", table, path, parts[i].err);
		}
	for (size_t i = 0; i < nparts; i++)
		free(parts[i].err);
	if (*err)
		return -1;
	/* merge the parts' nearest, nearest first */
	size_t total = 0;
	for (size_t i = 0; i < nparts; i++)
		total += parts[i].n;
	scan_hit *hits = coco_arena_alloc(a, (total + 1) * sizeof *hits);
	size_t n = 0;
	for (size_t i = 0; i < nparts; i++)
		for (size_t j = 0; j < parts[i].n; j++)
			hits[n++] = (scan_hit){ parts[i].dist[j], parts[i].ids[j] };
	qsort(hits, n, sizeof *hits, hit_cmp);
	*out = hits;
	return (long)(n > k ? k : n);
}

int sqlite_top_k(const coco_optval *opts, const coco_export_info *info, const char *field,
	const char *metric, const float *vec, size_t dim, size_t k, coco_arena *a,
	const coco_type **row_type, coco_value **rows, size_t *nrows, char **err)
{
	*rows = NULL;
	*nrows = 0;
	coco_buf path = {0}, table = {0}, sql = {0}, qv = {0}, where = {0};
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = -1, m = !strcmp(metric, "l2") ? DIST_L2 : !strcmp(metric, "ip") ? DIST_IP : DIST_COSINE;
	if (sqlite_resolve(opts, info, &path, &table, err) < 0 ||
	    sqlite_check_row_type(info, table.p, err) < 0)
		goto done;
	const coco_type *t = info->row_type;
	coco_buf_printf(&where, "SQLite: table %s", table.p);
	int fi = coco_topk_field(t, field, dim, where.p, err);
	if (fi < 0)
		goto done;
	if (sqlite3_open_v2(path.p, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		struct stat sb;
		if (stat(path.p, &sb) != 0)
			coco_seterr(err, "SQLite: %s does not exist (run coco update first)", path.p);
		else
			sqlite_open_error(path.p, db ? sqlite_errmsg(db) : "cannot open", err);
		goto done;
	}
	sqlite3_busy_timeout(db, 5000);
	sqlite_register_distances(db);
	/* no mmap: for one pass over a large table, mapping and unmapping every
	 * page costs more than reading it (measured: ~15 % slower mapped) */
	sqlite3_exec(db, "PRAGMA mmap_size=0; PRAGMA cache_size=-256", NULL, NULL, NULL);
	for (size_t i = 0; i < dim; i++) {
		uint32_t x;
		memcpy(&x, &vec[i], 4);
		unsigned char le[4] = { (unsigned char)x, (unsigned char)(x >> 8),
			(unsigned char)(x >> 16), (unsigned char)(x >> 24) };
		coco_buf_add(&qv, le, 4);
	}
	scan_hit *hits;
	long n = nearest(db, path.p, table.p, field, m, &qv, k, a, &hits, err);
	if (n < 0)
		goto done;

	/* pass two: those rows, but the vector searched */
	*row_type = coco_topk_row_type(t, fi, a);
	const coco_field *rf = (*row_type)->fields;
	uint32_t nf = (*row_type)->nfields;
	coco_buf_adds(&sql, "SELECT ");
	for (uint32_t j = 0; j + 1 < nf; j++) {
		if (j)
			coco_buf_putc(&sql, ',');
		coco_sql_ident(&sql, rf[j].name);
	}
	if (nf == 1)
		coco_buf_adds(&sql, "NULL");
	coco_buf_adds(&sql, " FROM ");
	coco_sql_ident(&sql, table.p);
	coco_buf_adds(&sql, " WHERE rowid = ?1");
	if (sqlite3_prepare_v2(db, sql.p, -1, &st, NULL) != SQLITE_OK) {
		coco_seterr(err, "SQLite: query table %s in %s: %s", table.p, path.p, sqlite_errmsg(db));
		goto done;
	}
	coco_value *out = coco_arena_alloc(a, ((size_t)n + 1) * sizeof *out);
	size_t got = 0;
	for (long r = 0; r < n; r++) {
		sqlite3_bind_int64(st, 1, hits[r].id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			coco_value *v = &out[got++];
			v->kind = COCO_STRUCT;
			v->n = nf;
			v->u.fields = coco_arena_alloc(a, nf * sizeof(coco_value));
			for (uint32_t j = 0; j + 1 < nf; j++)
				cell_value(st, (int)j, rf[j].type, a, &v->u.fields[j]);
			v->u.fields[nf - 1].kind = COCO_FLOAT64;
			v->u.fields[nf - 1].u.f = hits[r].dist;
		}
		sqlite3_reset(st);
	}
	*rows = out;
	*nrows = got;
	rc = 0;
done:
	sqlite3_finalize(st);
	sqlite3_close(db);
	coco_buf_free(&path);
	coco_buf_free(&table);
	coco_buf_free(&sql);
	coco_buf_free(&qv);
	coco_buf_free(&where);
	return rc;
}
