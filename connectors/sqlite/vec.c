/* SQLite target: vector distances, for the SQL functions and top_k's scan. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "connectors/sqlite/sqlite_int.h"

/* ---- vector distances -------------------------------------------------------
 *
 * coco_cosine_distance(a, b), coco_l2_distance(a, b), coco_ip_distance(a, b)
 * over float32 vector BLOBs, as pgvector's <=>, <-> and <#> compute them:
 * 1 - a·b/(|a||b|), |a - b| and -(a·b). NULL when an argument is NULL (or,
 * for cosine, a zero vector); an error when the lengths differ. */

/* sums() of cosine's scan: a·b and b·b (|a| being known). */
enum { SUM_DOT_NORM = DIST_IP + 1 };

/* The sums over the n-float vectors at a and b (any alignment) that m
 * needs, into d: DIST_L2 Σ(a-b)²; DIST_IP Σab; DIST_COSINE Σab, Σaa, Σbb;
 * SUM_DOT_NORM Σab, -, Σbb. Inlined with m a constant, so that each caller
 * gets a loop of its own whose sums stay in registers. */
static inline __attribute__((always_inline)) void sums(int m, const unsigned char *a,
	const unsigned char *b, size_t n, double d[3])
{
	size_t i = 0;
	d[0] = d[1] = d[2] = 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* 2 x 4 lanes at a time (GCC vector extensions: SSE on x86-64, NEON
	 * on arm64) */
	typedef float v4f __attribute__((vector_size(16)));
#define LD4(p) ({ v4f v_; memcpy(&v_, (p), sizeof v_); v_; })
	v4f s0 = {0}, s1 = {0}, s2 = {0}, t0 = {0}, t1 = {0}, t2 = {0};
	for (; i + 8 <= n; i += 8) {
		v4f x0 = LD4(a + 4 * i), x1 = LD4(a + 4 * i + 16);
		v4f y0 = LD4(b + 4 * i), y1 = LD4(b + 4 * i + 16);
		if (m == DIST_L2) {
			x0 -= y0;
			x1 -= y1;
			s0 += x0 * x0;
			t0 += x1 * x1;
			continue;
		}
		s0 += x0 * y0;
		t0 += x1 * y1;
		if (m == DIST_COSINE) {
			s1 += x0 * x0;
			t1 += x1 * x1;
		}
		if (m == DIST_COSINE || m == SUM_DOT_NORM) {
			s2 += y0 * y0;
			t2 += y1 * y1;
		}
	}
#undef LD4
	s0 += t0;
	s1 += t1;
	s2 += t2;
	for (int j = 0; j < 4; j++) {
		d[0] += s0[j];
		d[1] += s1[j];
		d[2] += s2[j];
	}
#endif
	for (; i < n; i++) {
		double x = sqlite_load_f32(a + 4 * i), y = sqlite_load_f32(b + 4 * i);
		if (m == DIST_L2) {
			d[0] += (x - y) * (x - y);
			continue;
		}
		d[0] += x * y;
		if (m == DIST_COSINE)
			d[1] += x * x;
		if (m == DIST_COSINE || m == SUM_DOT_NORM)
			d[2] += y * y;
	}
}

/* Distance between the n-float vectors at a and b (any alignment). */
double sqlite_vec_distance(int metric, const unsigned char *a, const unsigned char *b, size_t n)
{
	double d[3];
	if (metric == DIST_L2) {
		sums(DIST_L2, a, b, n, d);
		return sqrt(d[0]);
	}
	if (metric == DIST_IP) {
		sums(DIST_IP, a, b, n, d);
		return -d[0];
	}
	sums(DIST_COSINE, a, b, n, d);
	return d[1] > 0 && d[2] > 0 ? 1 - d[0] / sqrt(d[1] * d[2]) : NAN;
}

/* a·x and x·x of the n-float vectors at a and x (any alignment): the
 * cosine scan's inner loop, |a| being known. */
void sqlite_vec_dot_norm(const unsigned char *a, const unsigned char *x, size_t n,
	double *dot, double *xx)
{
	double d[3];
	sums(SUM_DOT_NORM, a, x, n, d);
	*dot = d[0];
	*xx = d[2];
}

static void sql_distance(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	static const char *const names[] = { "coco_cosine_distance", "coco_l2_distance",
		"coco_ip_distance" };
	int metric = (int)(intptr_t)sqlite3_user_data(ctx);
	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL)
		return;
	if (sqlite3_value_type(argv[0]) != SQLITE_BLOB || sqlite3_value_type(argv[1]) != SQLITE_BLOB) {
		char msg[128];
		snprintf(msg, sizeof msg, "%s: arguments must be float32 vector BLOBs", names[metric]);
		sqlite3_result_error(ctx, msg, -1);
		return;
	}
	const unsigned char *a = sqlite3_value_blob(argv[0]), *b = sqlite3_value_blob(argv[1]);
	int na = sqlite3_value_bytes(argv[0]), nb = sqlite3_value_bytes(argv[1]);
	if (na != nb || na % 4) {
		char msg[160];
		snprintf(msg, sizeof msg, "%s: vectors of different dimensions (%d and %d)",
			names[metric], na / 4, nb / 4);
		sqlite3_result_error(ctx, msg, -1);
		return;
	}
	double d = sqlite_vec_distance(metric, a, b, (size_t)na / 4);
	if (!isnan(d))
		sqlite3_result_double(ctx, d);
}

void sqlite_register_distances(sqlite3 *db)
{
	static const char *const names[] = { "coco_cosine_distance", "coco_l2_distance",
		"coco_ip_distance" };
	for (int m = 0; m < 3; m++)
		sqlite3_create_function_v2(db, names[m], 2,
			SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, (void *)(intptr_t)m,
			sql_distance, NULL, NULL, NULL);
}
