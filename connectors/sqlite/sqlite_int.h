#pragma once
/* Private to the SQLite target: what sqlite.c, setup.c, vec.c and query.c
 * share. Not part of any public API. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sqlite3.h>

#include "engine/ops.h"

enum { OPT_PATH, OPT_TABLE, OPT_FTS };   /* the options, in sqlite_opts order */

/* ---- sqlite.c: the export's options, opening ---------------------------------- */

/* sqlite3_errmsg, but a full disk is named the way coco names it
 * everywhere ("no space left on device (...)"). */
const char *sqlite_errmsg(sqlite3 *db);
/* Resolves the database path (absolute) and table name from the options. */
int sqlite_resolve(const coco_optval *opts, const coco_export_info *info,
	coco_buf *path, coco_buf *table, char **err);
/* Checks the row type an export hands us. */
int sqlite_check_row_type(const coco_export_info *info, const char *table, char **err);
/* Opens path read-write (creating it when `create`), in WAL mode with a busy
 * timeout. Returns 0, 1 when !create and the file does not exist, or -1. */
int sqlite_db_open(const char *path, int create, sqlite3 **out, char **err);

typedef struct ckpt ckpt;

/* An open target (coco_target_ops.open). */
typedef struct sqlite_tgt {
	sqlite3 *db;
	sqlite3_stmt *ups, *del, *begin, *commit, *rollback;
	const coco_type *row_type;
	uint32_t ncols, nkeys;
	char *path, *table;
	coco_buf scratch;        /* converted values of the row being bound */
	size_t *off;             /* per column: offset into scratch, or (size_t)-1 */
	ckpt *ckpt;              /* the checkpointer */
} sqlite_tgt;

/* Sets *err to "SQLite: cannot open PATH: MSG (WHY)", WHY found by looking
 * at the file system. Returns -1. */
int sqlite_open_error(const char *path, const char *msg, char **err);

/* ---- setup.c: the coco_target_ops describe, plan and apply ---------------------- */

int sqlite_describe(const coco_optval *opts, const coco_export_info *info,
	coco_buf *resource_id, coco_buf *desired, char **err);
int sqlite_plan(const char *stored, const char *desired, coco_buf *plan,
	int *destructive, char **err);
int sqlite_apply(const char *stored, const char *desired, char **err);

/* ---- vec.c: vector distances ------------------------------------------------ */

enum { DIST_COSINE, DIST_L2, DIST_IP };

/* The little-endian float32 at p (any alignment). */
static inline float sqlite_load_f32(const unsigned char *p)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	float f;
	memcpy(&f, p, 4);
	return f;
#else
	uint32_t x = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	float f;
	memcpy(&f, &x, 4);
	return f;
#endif
}

/* Distance between the n-float vectors at a and b (any alignment): 1 -
 * a·b/(|a||b|) (NAN for a zero vector), |a - b| or -(a·b). */
double sqlite_vec_distance(int metric, const unsigned char *a, const unsigned char *b, size_t n);
/* a·x and x·x of the n-float vectors at a and x (any alignment). */
void sqlite_vec_dot_norm(const unsigned char *a, const unsigned char *x, size_t n,
	double *dot, double *xx);
/* coco_cosine_distance, coco_l2_distance and coco_ip_distance on db. */
void sqlite_register_distances(sqlite3 *db);

/* ---- query.c: the coco_target_ops top_k and scan ------------------------------- */

int sqlite_top_k(const coco_optval *opts, const coco_export_info *info, const char *field,
	const char *metric, const float *vec, size_t dim, size_t k, coco_arena *a,
	const coco_type **row_type, coco_value **rows, size_t *nrows, char **err);
int sqlite_scan(void *tgt, int (*cb)(void *ud, const coco_value *row), void *ud, coco_arena *a,
	char **err);
