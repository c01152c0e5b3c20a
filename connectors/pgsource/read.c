/* Postgres source: the listing cursor over (key, ordinal) and the reads,
 * one row by its key or the rows of a batch at once (prefetch). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "engine/sys.h"
#include "connectors/pgsource/pgsource_int.h"

/* The key of result row i (its first nkeys columns) into *key. */
static int row_key(ps_src *s, PGresult *r, int i, coco_arena *a, coco_value *key, coco_buf *why)
{
	uint32_t nk = s->l.nkeys;
	coco_value *kv = nk > 1 ? coco_arena_alloc(a, nk * sizeof *kv) : key;
	for (uint32_t k = 0; k < nk; k++) {
		if (PQgetisnull(r, i, (int)k)) {
			coco_buf_printf(why, "a null in key column '%s'", s->l.cols[k].name);
			return -1;
		}
		if (ps_conv(&s->l.cols[k], 1, PQgetvalue(r, i, (int)k), (size_t)PQgetlength(r, i, (int)k), a,
			&kv[k], why))
			return -1;
	}
	ps_key_struct(key, kv, nk);
	return 0;
}

/* The ordinal of result row i from its columns col (the ordinal column's
 * binary form: raw in a binary result, \x hex in a text one) and col + 1
 * (the md5 of the row): 'o' and the first, or 'h' and the md5. */
static void ord_bytes(PGresult *r, int i, int col, int binary, coco_buf *out)
{
	coco_buf_clear(out);
	if (PQgetisnull(r, i, col)) {
		coco_buf_putc(out, 'h');
		coco_buf_add(out, PQgetvalue(r, i, col + 1), (size_t)PQgetlength(r, i, col + 1));
		return;
	}
	const char *v = PQgetvalue(r, i, col);
	size_t n = (size_t)PQgetlength(r, i, col);
	coco_buf_putc(out, 'o');
	if (binary) {
		coco_buf_add(out, v, n);
		return;
	}
	for (size_t k = 2; k + 1 < n; k += 2)
		coco_buf_putc(out, (char)(coco_hexval(v[k]) << 4 | coco_hexval(v[k + 1])));
}

static int list_fail(ps_src *s, PGresult *r, const char *what, char **err)
{
	coco_buf b = {0}, t = {0};
	coco_pg_result_msg(&b, s->c, r, 1);
	ps_disp_table(&t, &s->l);
	coco_seterr(err, "Postgres: %s: %s: %s", t.p, what, b.p);
	coco_buf_free(&b);
	coco_buf_free(&t);
	PQclear(r);
	if (PQstatus(s->c) == CONNECTION_OK)
		PQclear(PQexec(s->c, "ROLLBACK"));
	return -1;
}

int ps_list(void *p, coco_list_cb cb, void *ud, char **err)
{
	ps_src *s = p;
	for (int attempt = 0;; attempt++) {
		if (ps_ensure(s, err))
			return -1;
		PGresult *r = PQexec(s->c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			if (!attempt && ps_conn_lost(s, r)) {
				PQclear(r);
				continue;
			}
			return list_fail(s, r, "cannot list", err);
		}
		PQclear(r);
		break;
	}
	PGresult *r = PQexec(s->c, "SET LOCAL cursor_tuple_fraction = 1");
	PQclear(r);
	r = PQexec(s->c, s->list_sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		return list_fail(s, r, "cannot list", err);
	PQclear(r);
	coco_arena a = {0};
	coco_buf why = {0}, ob = {0};
	int rc = 0;
	char fetch[64];
	snprintf(fetch, sizeof fetch, "FETCH FORWARD %d FROM coco_list", FETCH_ROWS);
	for (;;) {
		r = PQexecParams(s->c, fetch, 0, NULL, NULL, NULL, NULL, 1);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			rc = list_fail(s, r, "cannot list", err);
			break;
		}
		int n = PQntuples(r);
		uint32_t ordc = s->l.nkeys;
		for (int i = 0; i < n && !rc; i++) {
			coco_value key;
			coco_buf_clear(&why);
			if (row_key(s, r, i, &a, &key, &why)) {
				coco_buf t = {0};
				ps_disp_table(&t, &s->l);
				rc = coco_seterr(err, "Postgres: %s: %s", t.p, why.p);
				coco_buf_free(&t);
				break;
			}
			ord_bytes(r, i, (int)ordc, 1, &ob);
			if (cb(ud, &key, ob.p, ob.n))
				rc = 1;
		}
		PQclear(r);
		coco_arena_reset(&a);
		if (rc || n < FETCH_ROWS)
			break;
	}
	coco_arena_destroy(&a);
	coco_buf_free(&why);
	coco_buf_free(&ob);
	if (rc < 0)
		return -1;
	r = PQexec(s->c, "COMMIT");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		return list_fail(s, r, "cannot list", err);
	PQclear(r);
	return 0;
}

/* Fills *row from result row i (every column, then the ordinal). */
static int fill_row(ps_src *s, PGresult *r, int i, coco_arena *a, coco_value *row, coco_buf *ord,
	char **err)
{
	uint32_t n = s->l.ncols;
	coco_value *f = coco_arena_alloc(a, n * sizeof *f);
	coco_buf why = {0};
	for (uint32_t k = 0; k < n; k++) {
		if (PQgetisnull(r, i, (int)k))
			continue;
		if (ps_conv(&s->l.cols[k], k < s->l.nkeys, PQgetvalue(r, i, (int)k),
			(size_t)PQgetlength(r, i, (int)k), a, &f[k], &why)) {
			coco_seterr(err, "column '%s': %s", s->l.cols[k].name, why.p);
			coco_buf_free(&why);
			return -1;
		}
	}
	coco_buf_free(&why);
	*row = coco_v_struct(f, n);
	ord_bytes(r, i, (int)n, 0, ord);
	return 0;
}

/* The key columns' values of key, as parameters (texts in s->tmp, NUL
 * separated; offsets in off). */
static int key_params(ps_src *s, const coco_value *key, coco_buf *out, size_t *off)
{
	uint32_t nk = s->l.nkeys;
	coco_buf_clear(out);
	coco_buf t = {0};
	for (uint32_t k = 0; k < nk; k++) {
		const coco_value *v = nk > 1 ? (key->kind == COCO_STRUCT && key->n == nk ? &key->u.fields[k] : NULL) : key;
		if (!v || ps_key_text(&s->l.cols[k], v, &t)) {
			coco_buf_free(&t);
			return -1;
		}
		off[k] = out->n;
		coco_buf_add(out, t.p ? t.p : "", t.n);
		coco_buf_putc(out, 0);
	}
	coco_buf_free(&t);
	return 0;
}

static pfent *pf_find(ps_src *s, const char *k, size_t n, int create)
{
	if (!s->pf_cap)
		return NULL;
	size_t i = (size_t)XXH3_64bits(k, n) & (s->pf_cap - 1);
	for (; s->pf[i].key; i = (i + 1) & (s->pf_cap - 1))
		if (s->pf[i].n == n && !memcmp(s->pf[i].key, k, n))
			return &s->pf[i];
	if (!create)
		return NULL;
	s->pf[i].key = coco_arena_strndup(&s->pf_mem, k, n);
	s->pf[i].n = n;
	s->pf[i].row = -1;
	return &s->pf[i];
}

static void pf_clear(ps_src *s)
{
	PQclear(s->pf_res);
	s->pf_res = NULL;
	free(s->pf);
	s->pf = NULL;
	s->pf_cap = 0;
	coco_arena_reset(&s->pf_mem);
}

/* Appends v as an element of an array literal: "text" with \ and " escaped. */
static void arr_elem(coco_buf *b, const char *s, size_t n)
{
	coco_buf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			coco_buf_putc(b, '\\');
		coco_buf_putc(b, s[i]);
	}
	coco_buf_putc(b, '"');
}

void ps_prefetch(void *p, const coco_value *keys, size_t n)
{
	ps_src *s = p;
	pf_clear(s);
	if (!n)
		return;
	uint32_t nk = s->l.nkeys;
	coco_buf *arr = coco_xcalloc(nk, sizeof *arr);
	size_t off[64];
	coco_buf params = {0};
	s->pf_cap = 16;
	while (s->pf_cap < 2 * n)
		s->pf_cap *= 2;
	s->pf = coco_xcalloc(s->pf_cap, sizeof *s->pf);
	size_t used = 0;
	for (size_t i = 0; i < n && nk <= 64; i++) {
		if (key_params(s, &keys[i], &params, off))
			continue;
		coco_buf_clear(&s->enc);
		coco_value_encode(&keys[i], &s->enc);
		pfent *e = pf_find(s, s->enc.p, s->enc.n, 1);
		if (e->taken)
			continue;
		e->taken = 1;          /* (a key hinted twice: once) */
		for (uint32_t k = 0; k < nk; k++) {
			coco_buf_putc(&arr[k], used ? ',' : '{');
			arr_elem(&arr[k], params.p + off[k], strlen(params.p + off[k]));
		}
		used++;
	}
	for (size_t i = 0; i < s->pf_cap; i++)
		s->pf[i].taken = 0;
	PGresult *r = NULL;
	if (used && !ps_ensure(s, NULL)) {
		const char **vals = coco_xcalloc(nk, sizeof *vals);
		for (uint32_t k = 0; k < nk; k++) {
			coco_buf_putc(&arr[k], '}');
			vals[k] = arr[k].p;
		}
		r = PQexecPrepared(s->c, "coco_prefetch", (int)nk, vals, NULL, NULL, 0);
		free(vals);
	}
	for (uint32_t k = 0; k < nk; k++)
		coco_buf_free(&arr[k]);
	free(arr);
	coco_buf_free(&params);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);            /* read() asks for each row by itself */
		pf_clear(s);
		return;
	}
	coco_arena a = {0};
	coco_buf why = {0};
	for (int i = 0; i < PQntuples(r); i++) {
		coco_value key;
		coco_arena_reset(&a);
		if (row_key(s, r, i, &a, &key, &why))
			continue;
		coco_buf_clear(&s->enc);
		coco_value_encode(&key, &s->enc);
		pfent *e = pf_find(s, s->enc.p, s->enc.n, 0);
		if (e)
			e->row = i;
	}
	coco_arena_destroy(&a);
	coco_buf_free(&why);
	s->pf_res = r;
}

/* "public.tickets id=5" (the row a message is about). */
static void row_name(ps_src *s, const coco_value *key, coco_buf *b)
{
	ps_disp_table(b, &s->l);
	coco_buf t = {0};
	for (uint32_t k = 0; k < s->l.nkeys; k++) {
		const coco_value *v = s->l.nkeys > 1 ? &key->u.fields[k] : key;
		if (ps_key_text(&s->l.cols[k], v, &t))
			continue;
		coco_buf_printf(b, "%s%s=%.*s", k ? ", " : " ", s->l.cols[k].name, (int)(t.n > 60 ? 60 : t.n), t.p);
	}
	coco_buf_free(&t);
}

int ps_read(void *p, const coco_value *key, coco_arena *a, coco_value *row, coco_buf *ord,
	char **err)
{
	ps_src *s = p;
	coco_buf_clear(&s->enc);
	coco_value_encode(key, &s->enc);
	pfent *e = pf_find(s, s->enc.p, s->enc.n, 0);
	int rc;
	if (e && !e->taken) {
		e->taken = 1;
		if (e->row < 0)
			return 1;
		rc = fill_row(s, s->pf_res, e->row, a, row, ord, err);
	} else {
		size_t off[64];
		if (s->l.nkeys > 64 || key_params(s, key, &s->tmp, off)) {
			coco_buf b = {0};
			row_name(s, key, &b);
			coco_seterr(err, "%s: a key of the wrong type", b.p);
			coco_buf_free(&b);
			return -1;
		}
		const char *vals[64];
		for (uint32_t k = 0; k < s->l.nkeys; k++)
			vals[k] = s->tmp.p + off[k];
		PGresult *r = NULL;
		for (int attempt = 0; attempt < 2; attempt++) {
			if (ps_ensure(s, err))
				return -1;
			PQclear(r);
			r = PQexecPrepared(s->c, "coco_read", (int)s->l.nkeys, vals, NULL, NULL, 0);
			if (!ps_conn_lost(s, r))
				break;
		}
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			coco_buf b = {0}, m = {0};
			row_name(s, key, &b);
			coco_pg_result_msg(&m, s->c, r, 1);
			coco_seterr(err, "Postgres: %s: %s", b.p, m.p);
			coco_buf_free(&b);
			coco_buf_free(&m);
			PQclear(r);
			return -1;
		}
		rc = PQntuples(r) ? fill_row(s, r, 0, a, row, ord, err) : 1;
		PQclear(r);
	}
	if (rc < 0) {
		coco_buf b = {0};
		row_name(s, key, &b);
		char *m = *err;
		*err = NULL;
		coco_seterr(err, "Postgres: %s: %s", b.p, m ? m : "cannot read");
		free(m);
		coco_buf_free(&b);
	}
	return rc;
}
