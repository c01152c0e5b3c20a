/* Postgres target: writes. Values in binary (the encode() of each column
 * kind), multi-row statements prepared per connection, the batch kept until
 * COMMIT and replayed after a lost connection (see postgres.c). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <xxhash.h>

#include "engine/tdesc.h"
#include "engine/sys.h"
#include "connectors/common/pgconn.h"
#include "connectors/postgres/postgres_int.h"

static void put_u16(coco_buf *b, uint16_t v)
{
	unsigned char x[2] = { (unsigned char)(v >> 8), (unsigned char)v };
	coco_buf_add(b, x, 2);
}

static void put_u32(coco_buf *b, uint32_t v)
{
	unsigned char x[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
		(unsigned char)(v >> 8), (unsigned char)v };
	coco_buf_add(b, x, 4);
}

static void put_u64(coco_buf *b, uint64_t v)
{
	put_u32(b, (uint32_t)(v >> 32));
	put_u32(b, (uint32_t)v);
}

static uint32_t f32_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

/* IEEE half from float, rounding to nearest even. */
static uint16_t f32_to_f16(float f)
{
	uint32_t x = f32_bits(f);
	uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
	uint32_t mant = x & 0x7fffff;
	int exp = (int)((x >> 23) & 0xff);
	if (exp == 0xff)
		return sign | 0x7c00 | (mant ? 0x200 : 0);
	int e = exp - 127 + 15;
	if (e >= 0x1f)
		return sign | 0x7c00;
	if (e <= 0) {
		if (e < -10)
			return sign;
		mant |= 0x800000;
		int shift = 14 - e;
		uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
		if (rem > half || (rem == half && (h & 1)))
			h++;
		return sign | (uint16_t)h;
	}
	uint32_t h = ((uint32_t)e << 10) | (mant >> 13), rem = mant & 0x1fff;
	if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
		h++;
	return sign | (uint16_t)h;
}

/* Appends JSON text without \u0000 escapes and NUL bytes (jsonb rejects them). */
static void put_json(coco_buf *b, const char *s, size_t n)
{
	size_t i = 0, from = 0;
	while (i < n) {
		if (s[i] == '\\' && i + 1 < n) {
			if (s[i + 1] == 'u' && i + 5 < n && !memcmp(s + i + 2, "0000", 4)) {
				coco_buf_add(b, s + from, i - from);
				i += 6;
				from = i;
			} else {
				i += 2;
			}
		} else if (s[i] == 0) {
			coco_buf_add(b, s + from, i - from);
			from = ++i;
		} else {
			i++;
		}
	}
	coco_buf_add(b, s + from, n - from);
}

/* Appends s[0..n) without NUL bytes. */
static void put_text(coco_buf *b, const char *s, size_t n)
{
	const char *end = s + n;
	while (s < end) {
		const char *z = memchr(s, 0, (size_t)(end - s));
		size_t len = z ? (size_t)(z - s) : (size_t)(end - s);
		coco_buf_add(b, s, len);
		s += len + (z ? 1 : 0);
	}
}

static int kind_error(pg_tgt *t, const lcol *c, const coco_value *v, char **err)
{
	return coco_seterr(err, "Postgres: %s: field '%s' has a %s value, but the column is %s",
		t->label, c->name, coco_kind_name((coco_kind)v->kind), c->sql);
}

/* Appends one parameter: v for column c. */
static int encode(pg_tgt *t, const lcol *c, const coco_value *v, char **err)
{
	if (t->nparams == t->capparams) {
		t->capparams = t->capparams ? t->capparams * 2 : 1024;
		t->params = realloc(t->params, t->capparams * sizeof *t->params);
		if (!t->params)
			abort();
	}
	pgparam *p = &t->params[t->nparams];
	coco_buf *b = &t->data;
	p->off = b->n;
	p->fmt = 1;
	p->len = -1;
	if (v->kind == COCO_NULL || c->e == ENC_NULL) {
		t->nparams++;
		return 0;
	}
	switch (c->e) {
	case ENC_TEXT:
		if (v->kind != COCO_STR)
			return kind_error(t, c, v, err);
		put_text(b, v->u.s, v->n);
		break;
	case ENC_BYTEA:
		if (v->kind != COCO_BYTES)
			return kind_error(t, c, v, err);
		coco_buf_add(b, v->u.s, v->n);
		break;
	case ENC_INT8:
		if (v->kind != COCO_INT64)
			return kind_error(t, c, v, err);
		put_u64(b, (uint64_t)v->u.i);
		break;
	case ENC_BOOL:
		if (v->kind != COCO_BOOL)
			return kind_error(t, c, v, err);
		coco_buf_putc(b, v->u.b ? 1 : 0);
		break;
	case ENC_FLOAT4:
	case ENC_FLOAT8:
		if (v->kind != COCO_FLOAT32 && v->kind != COCO_FLOAT64 && v->kind != COCO_INT64)
			return kind_error(t, c, v, err);
		{
			double d = v->kind == COCO_INT64 ? (double)v->u.i : v->u.f;
			if (c->e == ENC_FLOAT4) {
				put_u32(b, f32_bits((float)d));
			} else {
				uint64_t u;
				memcpy(&u, &d, 8);
				put_u64(b, u);
			}
		}
		break;
	case ENC_JSONB:
		coco_buf_putc(b, 1);            /* jsonb binary format version */
		if (v->kind == COCO_JSON) {
			put_json(b, v->u.s, v->n);
		} else {
			coco_buf_clear(&t->tmp);
			coco_value_to_json(v, c->type, &t->tmp);
			put_json(b, t->tmp.p, t->tmp.n);
		}
		break;
	case ENC_RANGE:
		if (v->kind != COCO_RANGE)
			return kind_error(t, c, v, err);
		if (v->u.r[0] > v->u.r[1])
			return coco_seterr(err, "Postgres: %s: field '%s' has the range [%lld, %lld), whose "
				"start is past its end", t->label, c->name, (long long)v->u.r[0],
				(long long)v->u.r[1]);
		p->fmt = 0;
		coco_buf_printf(b, "[%lld,%lld)", (long long)v->u.r[0], (long long)v->u.r[1]);
		coco_buf_putc(b, 0);
		p->len = (int)(b->n - p->off - 1);
		t->nparams++;
		return 0;
	case ENC_VECTOR:
	case ENC_HALFVEC:
	case ENC_REALARR:
		if (v->kind != COCO_VECTOR)
			return kind_error(t, c, v, err);
		if (c->type->dim && v->n != c->type->dim)
			return coco_seterr(err, "Postgres: %s: field '%s' has a vector of %zu dimensions, "
				"but the column is %s", t->label, c->name, v->n, c->sql);
		if (c->e == ENC_REALARR) {
			put_u32(b, v->n ? 1 : 0);      /* ndim */
			put_u32(b, 0);                 /* no nulls */
			put_u32(b, 700);               /* float4 */
			if (v->n) {
				put_u32(b, (uint32_t)v->n);
				put_u32(b, 1);
			}
			for (size_t i = 0; i < v->n; i++) {
				put_u32(b, 4);
				put_u32(b, f32_bits(v->u.vec[i]));
			}
			break;
		}
		if (v->n < 1 || v->n > 16000)
			return coco_seterr(err, "Postgres: %s: field '%s' has a vector of %zu dimensions; "
				"pgvector takes 1 to 16000", t->label, c->name, v->n);
		put_u16(b, (uint16_t)v->n);
		put_u16(b, 0);
		coco_buf_reserve(b, v->n * 4);
		for (size_t i = 0; i < v->n; i++) {
			if (!isfinite(v->u.vec[i]))
				return coco_seterr(err, "Postgres: %s: field '%s' has a vector with a NaN or "
					"infinite element (at %zu), which pgvector rejects", t->label, c->name, i + 1);
			if (c->e == ENC_HALFVEC) {
				uint16_t h = f32_to_f16(v->u.vec[i]);
				if ((h & 0x7c00) == 0x7c00)
					return coco_seterr(err, "Postgres: %s: field '%s' has a vector element "
						"(at %zu) too large for halfvec: %g", t->label, c->name, i + 1,
						(double)v->u.vec[i]);
				put_u16(b, h);
			} else {
				uint32_t x = f32_bits(v->u.vec[i]);
				unsigned char *o = (unsigned char *)b->p + b->n;
				o[0] = (unsigned char)(x >> 24);
				o[1] = (unsigned char)(x >> 16);
				o[2] = (unsigned char)(x >> 8);
				o[3] = (unsigned char)x;
				b->n += 4;
			}
		}
		b->p[b->n] = 0;
		break;
	default:
		return kind_error(t, c, v, err);
	}
	p->len = (int)(b->n - p->off);
	t->nparams++;
	return 0;
}

/* ---- statements ----------------------------------------------------------------- */

/* INSERT INTO q (cols) VALUES ($1,..),(..) ON CONFLICT (keys) DO UPDATE SET c = EXCLUDED.c
 * or DELETE FROM q WHERE (keys) IN (($1,..),(..)), for n rows. */
void pg_stmt_sql(pg_tgt *t, int del, uint32_t n, coco_buf *b)
{
	const layout *l = &t->l;
	uint32_t per = del ? l->nkeys : l->ncols, k = 1;
	coco_buf_clear(b);
	if (del) {
		coco_buf_printf(b, "DELETE FROM %s WHERE ", t->qtable.p);
		if (per > 1)
			coco_buf_putc(b, '(');
		coco_sql_idents(b, l->row->fields, per, ",");
		coco_buf_adds(b, per > 1 ? ") IN (" : " IN (");
	} else {
		coco_buf_printf(b, "INSERT INTO %s (", t->qtable.p);
		coco_sql_idents(b, l->row->fields, per, ",");
		coco_buf_adds(b, ") VALUES ");
	}
	for (uint32_t r = 0; r < n; r++) {
		if (r)
			coco_buf_putc(b, ',');
		if (!del || per > 1)
			coco_buf_putc(b, '(');
		for (uint32_t i = 0; i < per; i++)
			coco_buf_printf(b, i ? ",$%u" : "$%u", k++);
		if (!del || per > 1)
			coco_buf_putc(b, ')');
	}
	if (del) {
		coco_buf_putc(b, ')');
		return;
	}
	coco_buf_adds(b, " ON CONFLICT (");
	coco_sql_idents(b, l->row->fields, l->nkeys, ",");
	if (l->ncols == l->nkeys) {
		coco_buf_adds(b, ") DO NOTHING");
		return;
	}
	coco_buf_adds(b, ") DO UPDATE SET ");
	for (uint32_t i = l->nkeys; i < l->ncols; i++) {
		if (i > l->nkeys)
			coco_buf_putc(b, ',');
		coco_sql_ident(b, l->cols[i].name);
		coco_buf_adds(b, "=EXCLUDED.");
		coco_sql_ident(b, l->cols[i].name);
	}
}

/* 1 when a failed result means the connection is gone (not the statement). */
static int conn_lost(pg_tgt *t, PGresult *r)
{
	if (!t->conn || PQstatus(t->conn) == CONNECTION_BAD)
		return 1;
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	return !r || (state && (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3)));
}

/* Checks a result: 0 ok, 1 connection lost, 2 a deadlock or serialization
 * failure (a few times per batch: the batch is tried again), -1 error (set),
 * COCO_TGT_REFUSED: the server refused the data (classes 22 data exception,
 * 23 integrity constraint, 54 program limit such as an index row too large):
 * the indexer finds the rows by writing the batch in halves. */
int pg_result_rc(pg_tgt *t, PGresult *r, const char *what, char **err)
{
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return 0;
	if (conn_lost(t, r))
		return 1;
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	if (state && !strncmp(state, "40", 2) && t->conflicts < 5) {
		t->conflicts++;
		return 2;
	}
	coco_buf b = {0};
	coco_pg_msg(&b, PQresultErrorMessage(r));
	const char *hint = state && (!strcmp(state, "42P01") || !strcmp(state, "42703") ||
		!strcmp(state, "3F000")) ? " (run coco setup)" : "";
	coco_seterr(err, "Postgres: %s %s: %s%s", what, t->label, b.p, hint);
	coco_buf_free(&b);
	if (state && (!strncmp(state, "22", 2) || !strncmp(state, "23", 2) || !strncmp(state, "54", 2)))
		return COCO_TGT_REFUSED;
	return -1;
}

static int simple(pg_tgt *t, const char *sql, char **err)
{
	PGresult *r = PQexec(t->conn, sql);
	int rc = pg_result_rc(t, r, sql, err);
	PQclear(r);
	return rc;
}

/* Executes statement s: 0 ok, 1 connection lost, -1 error. */
static int exec_stmt(pg_tgt *t, const pgstmt *s, char **err)
{
	uint32_t bit = 0;
	while ((1u << bit) < s->nrows)
		bit++;
	uint32_t *mask = s->del ? &t->prep_del : &t->prep_ups;
	uint32_t per = s->del ? t->l.nkeys : t->l.ncols;
	int n = (int)(s->nrows * per);
	char name[80];
	snprintf(name, sizeof name, "%s%c%u", t->prefix, s->del ? 'd' : 'u', s->nrows);
	if (!(*mask & (1u << bit))) {
		pg_stmt_sql(t, s->del, s->nrows, &t->sql);
		PGresult *r = PQprepare(t->conn, name, t->sql.p, n, NULL);
		int rc = pg_result_rc(t, r, s->del ? "prepare delete from" : "prepare upsert into", err);
		PQclear(r);
		if (rc)
			return rc;
		*mask |= 1u << bit;
	}
	if ((size_t)n > t->caparr) {
		t->caparr = (size_t)n;
		t->vals = realloc(t->vals, t->caparr * sizeof *t->vals);
		t->lens = realloc(t->lens, t->caparr * sizeof *t->lens);
		t->fmts = realloc(t->fmts, t->caparr * sizeof *t->fmts);
		if (!t->vals || !t->lens || !t->fmts)
			abort();
	}
	for (int i = 0; i < n; i++) {
		const pgparam *p = &t->params[s->first + (size_t)i];
		t->vals[i] = p->len < 0 ? NULL : t->data.p + p->off;
		t->lens[i] = p->len < 0 ? 0 : p->len;
		t->fmts[i] = p->fmt;
	}
	PGresult *r = PQexecPrepared(t->conn, name, n, t->vals, t->lens, t->fmts, 0);
	int rc = pg_result_rc(t, r, s->del ? "delete from" : "upsert into", err);
	PQclear(r);
	return rc;
}

/* Names the statements of a new connection (numbered id). */
void pg_new_prefix(pg_tgt *t, uint64_t id)
{
	static unsigned serial;
	snprintf(t->prefix, sizeof t->prefix, "coco_%ld_%u_",
		(long)getpid(), __atomic_add_fetch(&serial, 1, __ATOMIC_RELAXED));
	t->prep_ups = t->prep_del = 0;
	t->conn_id = id;
}

/* A connection for the batch: the one the statements are prepared on when
 * it is idle, else another (the statements named afresh). 0, or 1 when
 * none could be had (as for a lost connection: connect again with backoff). */
static int take_conn(pg_tgt *t)
{
	uint64_t id;
	int lost;
	char *e = NULL;
	t->conn = pg_conn_get(t->l.conninfo, t->l.penv, t->l.server.p, t->conn_id, 0, &id, &lost, &e);
	t->reconnects += (uint64_t)lost;
	if (!t->conn) {
		free(e);
		return 1;
	}
	if (id != t->conn_id)
		pg_new_prefix(t, id);
	return 0;
}

/* After a lost connection: connect again, with backoff, until the batch's
 * retry deadline ($COCO_PG_RETRY_SECONDS, default 10 s, after the first
 * loss). Prepared statements are gone with the old connection. */
static int reconnect(pg_tgt *t, char **err)
{
	double now = coco_now_ms();
	if (!t->retry_deadline) {
		const char *env = getenv("COCO_PG_RETRY_SECONDS");
		double secs = env && *env ? atof(env) : 10;
		t->retry_deadline = now + (secs > 0 ? secs : 0) * 1000;
	}
	char *last = NULL;
	int delay = 100;
	for (;;) {
		pg_conn_put(t->l.conninfo, t->l.penv, t->conn, t->conn_id, 0);   /* closed */
		t->conn = NULL;
		t->prep_ups = t->prep_del = 0;
		if (coco_now_ms() >= t->retry_deadline)
			break;
		int wait = delay;
		if (coco_now_ms() + wait > t->retry_deadline)
			wait = (int)(t->retry_deadline - coco_now_ms()) + 1;
		coco_sleep_ms(wait);
		delay = delay * 2 > 2000 ? 2000 : delay * 2;
		free(last);
		last = NULL;
		uint64_t id;
		t->conn = pg_conn_get(t->l.conninfo, t->l.penv, t->l.server.p, 0, 0, &id, NULL, &last);
		if (t->conn) {
			pg_new_prefix(t, id);
			t->reconnects++;
			free(last);
			return 0;
		}
	}
	coco_seterr(err, "Postgres: %s: lost the connection and could not reconnect%s%s", t->label,
		last ? ": " : "", last ? last : "");
	free(last);
	return -1;
}

/* Runs the statements of the batch not run yet (all of them again, from
 * BEGIN, after a lost connection), then COMMIT when `commit`. */
static int run_batch(pg_tgt *t, int commit, char **err)
{
	for (;;) {
		int rc = 0;
		if (!t->conn)
			rc = take_conn(t);
		if (rc == 0 && !t->server_txn) {
			rc = simple(t, "BEGIN", err);
			if (rc == 0)
				t->server_txn = 1;
		}
		while (rc == 0 && t->done < t->nstmts) {
			rc = exec_stmt(t, &t->stmts[t->done], err);
			if (rc == 0)
				t->done++;
		}
		if (rc == 0 && commit && t->server_txn) {
			rc = simple(t, "COMMIT", err);
			if (rc == 0)
				t->server_txn = 0;
		}
		if (rc <= 0)
			return rc;
		if (rc == 2) {
			/* another transaction was in the way: roll back, try again */
			PGresult *r = PQexec(t->conn, "ROLLBACK");
			PQclear(r);
			t->server_txn = 0;
			t->done = 0;
			coco_sleep_ms(20 * t->conflicts);
			continue;
		}
		/* the connection is gone, and with it the transaction: redo it all
		 * (upserts and deletes are idempotent, so a COMMIT that did reach
		 * the server before the loss is harmless to repeat) */
		if (reconnect(t, err) < 0)
			return -1;
		t->server_txn = 0;
		t->done = 0;
	}
}

/* Turns the group being filled into statements of power-of-two sizes and
 * runs them. */
static int close_group(pg_tgt *t, char **err)
{
	if (t->group_del < 0)
		return 0;
	uint32_t per = t->group_del ? t->l.nkeys : t->l.ncols;
	size_t first = t->group_first;
	for (uint32_t size = t->maxgroup; size; size >>= 1) {
		if (!(t->group_rows & size))
			continue;
		if (t->nstmts == t->capstmts) {
			t->capstmts = t->capstmts ? t->capstmts * 2 : 64;
			t->stmts = realloc(t->stmts, t->capstmts * sizeof *t->stmts);
			if (!t->stmts)
				abort();
		}
		t->stmts[t->nstmts++] = (pgstmt){ t->group_del, first, size };
		first += (size_t)size * per;
	}
	t->group_del = -1;
	t->group_rows = 0;
	t->group_bytes = 0;
	if (t->nseen)
		memset(t->seen, 0, t->nseen * sizeof *t->seen);
	return run_batch(t, 0, err);
}

/* Records the key of the row whose params start at `first`; 1 if the
 * group already has it (a second write of one key in one statement). */
static int seen_key(pg_tgt *t, size_t first)
{
	coco_buf_clear(&t->keyb);
	for (uint32_t i = 0; i < t->l.nkeys; i++) {
		const pgparam *p = &t->params[first + i];
		put_u32(&t->keyb, (uint32_t)p->len);
		if (p->len > 0)
			coco_buf_add(&t->keyb, t->data.p + p->off, (size_t)p->len);
	}
	uint64_t h = XXH3_64bits(t->keyb.p, t->keyb.n) | 1;
	size_t mask = t->nseen - 1, i = (size_t)h & mask;
	while (t->seen[i]) {
		if (t->seen[i] == h)
			return 1;
		i = (i + 1) & mask;
	}
	t->seen[i] = h;
	return 0;
}

/* Adds one row (upsert) or key (delete) to the batch. */
static int add_row(pg_tgt *t, int del, const coco_value *vals, char **err)
{
	uint32_t per = del ? t->l.nkeys : t->l.ncols;
	int rc;
	if (t->group_del >= 0 && (t->group_del != del || t->group_rows == t->maxgroup ||
	    t->group_bytes > GROUP_BYTES) && (rc = close_group(t, err)) < 0)
		return rc;
	size_t first = t->nparams, before = t->data.n;
	for (uint32_t i = 0; i < per; i++) {
		if (i < t->l.nkeys && vals[i].kind == COCO_NULL) {
			coco_seterr(err, "Postgres: %s: key field '%s' is null", t->label,
				t->l.cols[i].name);
			return COCO_TGT_REFUSED;
		}
		if (encode(t, &t->l.cols[i], &vals[i], err) < 0) {
			t->nparams = first;
			t->data.n = before;
			return COCO_TGT_REFUSED;        /* a value this column cannot take */
		}
	}
	if (t->group_del >= 0 && seen_key(t, first)) {
		/* the same key twice in one statement is an error in PostgreSQL:
		 * end the statement before this row */
		if ((rc = close_group(t, err)) < 0)
			return rc;
	}
	if (t->group_del < 0) {
		t->group_del = del;
		t->group_first = first;
		seen_key(t, first);
	}
	t->group_rows++;
	t->group_bytes += t->data.n - before;
	return 0;
}

int pg_begin(void *p, char **err)
{
	pg_tgt *t = p;
	(void)err;
	t->batch_start = coco_now_ms();
	t->nparams = t->nstmts = t->done = 0;
	coco_buf_clear(&t->data);
	t->group_del = -1;
	t->group_rows = 0;
	t->group_bytes = 0;
	t->retry_deadline = 0;
	t->conflicts = 0;
	if (t->server_txn && t->conn) {
		/* a batch that failed midway: nothing of it was committed */
		PGresult *r = PQexec(t->conn, "ROLLBACK");
		PQclear(r);
	}
	t->server_txn = 0;
	if (t->nseen)
		memset(t->seen, 0, t->nseen * sizeof *t->seen);
	return 0;
}

int pg_upsert(void *p, const coco_value *row, char **err)
{
	pg_tgt *t = p;
	if (row->kind != COCO_STRUCT || row->n != t->l.ncols)
		return coco_seterr(err, "Postgres: %s: a row has %zu fields, expected %u", t->label,
			row->kind == COCO_STRUCT ? row->n : (size_t)1, t->l.ncols);
	t->upserts++;
	return add_row(t, 0, row->u.fields, err);
}

int pg_del(void *p, const coco_value *key, char **err)
{
	pg_tgt *t = p;
	const coco_value *vals = key;
	if (key->kind == COCO_STRUCT && key->n == t->l.nkeys)
		vals = key->u.fields;
	else if (t->l.nkeys != 1)
		return coco_seterr(err, "Postgres: %s: a key has %zu fields, expected %u", t->label,
			key->kind == COCO_STRUCT ? key->n : (size_t)1, t->l.nkeys);
	t->deletes++;
	return add_row(t, 1, vals, err);
}

int pg_commit(void *p, char **err)
{
	pg_tgt *t = p;
	int rc = close_group(t, err);
	if (rc == 0 && (t->nstmts || t->server_txn))
		rc = run_batch(t, 1, err);
	if (rc == 0) {
		t->batches++;
		t->ms += coco_now_ms() - t->batch_start;
		/* committed: the connection serves the next batch, export or setup */
		pg_conn_put(t->l.conninfo, t->l.penv, t->conn, t->conn_id, 1);
		t->conn = NULL;
	}
	return rc < 0 ? rc : 0;
}
