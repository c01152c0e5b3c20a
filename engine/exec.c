/* The row evaluator. */
#include "engine/exec.h"
#include "engine/graph_int.h"
#include "engine/functions/json.h"
#include "engine/sys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the batch: every call of pass one, by (op, input fingerprint) ------ */
enum { XB_PENDING, XB_DONE, XB_ERROR };

typedef struct xcall {
	const gop *op;
	coco_fp in;
	int state;
	coco_value *args;             /* PENDING: the arguments (batch arena) */
	coco_value v;                 /* DONE */
	char *err;                    /* ERROR (malloc'd) */
	unsigned char key[32];        /* memo key */
} xcall;

struct coco_xbatch {
	xcall *v;
	size_t n, cap;
	uint32_t *slot;               /* index + 1 */
	size_t nslot;
};

coco_xbatch *coco_xbatch_create(void)
{
	coco_xbatch *b = coco_xcalloc(1, sizeof *b);
	return b;
}

void coco_xbatch_reset(coco_xbatch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->v[i].err);
	b->n = 0;
	if (b->slot)
		memset(b->slot, 0, b->nslot * sizeof *b->slot);
}

void coco_xbatch_destroy(coco_xbatch *b)
{
	if (!b)
		return;
	coco_xbatch_reset(b);
	free(b->v);
	free(b->slot);
	free(b);
}

static size_t xb_hash(const gop *op, coco_fp in)
{
	return (size_t)(in.lo ^ ((uintptr_t)op * 0x9e3779b97f4a7c15ull));
}

static xcall *xb_find(coco_xbatch *b, const gop *op, coco_fp in, int create)
{
	if (create && (b->n + 1) * 2 > b->nslot) {
		size_t ns = b->nslot ? b->nslot * 2 : 256;
		free(b->slot);
		b->slot = coco_xcalloc(ns, sizeof *b->slot);
		b->nslot = ns;
		for (size_t i = 0; i < b->n; i++) {
			size_t h = xb_hash(b->v[i].op, b->v[i].in) & (ns - 1);
			while (b->slot[h])
				h = (h + 1) & (ns - 1);
			b->slot[h] = (uint32_t)i + 1;
		}
	}
	if (!b->nslot)
		return NULL;
	size_t h = xb_hash(op, in) & (b->nslot - 1);
	for (; b->slot[h]; h = (h + 1) & (b->nslot - 1)) {
		xcall *c = &b->v[b->slot[h] - 1];
		if (c->op == op && coco_fp_eq(c->in, in))
			return c;
	}
	if (!create)
		return NULL;
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 256;
		b->v = coco_xrealloc(b->v, b->cap * sizeof *b->v);
	}
	xcall *c = &b->v[b->n];
	memset(c, 0, sizeof *c);
	c->op = op;
	c->in = in;
	b->slot[h] = (uint32_t)++b->n;
	return c;
}

int coco_graph_batches(const coco_graph *g)
{
	for (size_t i = 0; i < g->nscopes; i++)
		for (size_t j = 0; j < g->scopes[i].nops; j++)
			if (g->scopes[i].ops[j].kind == OP_TRANSFORM && g->scopes[i].ops[j].fn->call_batch)
				return 1;
	return 0;
}

/* The value standing for a result pass one does not have yet. */
static int is_pending(const coco_value *v) { return v->kind == COCO_NULL && v->n == (size_t)-1; }

typedef struct xctx {
	const coco_graph *g;
	coco_arena *a;
	const coco_memo *memo;
	coco_xbatch *b;
	int collect;
	coco_rows *out;
	coco_exec_stats *stats;
	coco_value **frames;          /* current row values, per scope id */
	coco_fp rowfp;                /* identity of the source row (for uuids) */
	coco_fper *f;
	char **err;
	coco_exec_trace trace;        /* each row's frame once its scope ran (inspection) */
	void *trace_ud;
	/* a scratch transform's table (graph.c: mark_scratch), built here
	 * and freed once its row() walked it; none when traced or batched */
	coco_arena scratch;
	const coco_value *scratch_of; /* the frame slot holding it */
	int walking;                  /* its rows are being evaluated */
} xctx;

static const coco_value *resolve(xctx *x, const coco_fieldref *r)
{
	static const coco_value null_v;
	const coco_value *v = &x->frames[r->scope][r->field];
	for (uint32_t i = 0; i < r->npath && !is_pending(v); i++) {
		if (r->path[i] & COCO_JSON_PATH) {
			/* a member of a json value: its JSON text, null if missing */
			const char *key = x->g->jkeys[r->path[i] & ~COCO_JSON_PATH], *js;
			size_t jn;
			if (v->kind != COCO_JSON || !coco_json_get(v->u.s, v->n, key, strlen(key), &js, &jn) ||
			    (jn == 4 && !memcmp(js, "null", 4)))
				return &null_v;
			coco_value *m = coco_arena_alloc(x->a, sizeof *m);
			m->kind = COCO_JSON;
			m->n = jn;
			m->u.s = js;
			v = m;
			continue;
		}
		if (v->kind != COCO_STRUCT)
			return &null_v;
		v = &v->u.fields[r->path[i]];
	}
	return v;
}

/* 1 when v, or a value inside it, lies in arena a. */
static int points_into(const coco_arena *a, const coco_value *v)
{
	switch (v->kind) {
	case COCO_STR:
	case COCO_BYTES:
	case COCO_JSON:
		return v->n && coco_arena_owns(a, v->u.s);
	case COCO_VECTOR:
		return v->n && coco_arena_owns(a, v->u.vec);
	case COCO_STRUCT:
	case COCO_TABLE:
		if (v->n && coco_arena_owns(a, v->u.fields))
			return 1;
		for (size_t i = 0; i < v->n; i++)
			if (points_into(a, &v->u.fields[i]))
				return 1;
		return 0;
	default:
		return 0;
	}
}

/* A collected value, copied out of the scratch table being walked when it
 * lies there (a chunk's text points into the source text: it stays). */
static coco_value collected(xctx *x, const coco_value *v)
{
	coco_value c = *v;
	if (x->walking && points_into(&x->scratch, v))
		coco_value_copy(x->a, v, &c);
	return c;
}

static void push_row(coco_arena *a, coco_rows *rows, const coco_value *v)
{
	rows->rows = coco_arena_regrow(a, rows->rows, rows->n, &rows->cap, sizeof *rows->rows);
	rows->rows[rows->n++] = *v;
}

static void memo_key(const gop *op, coco_fp in, unsigned char key[32])
{
	memcpy(key, &op->fn_fp.hi, 8);
	memcpy(key + 8, &op->fn_fp.lo, 8);
	memcpy(key + 16, &in.hi, 8);
	memcpy(key + 24, &in.lo, 8);
}

static int call_fn(xctx *x, const gop *op, coco_value *args, coco_value *res)
{
	unsigned char key[32];
	coco_fp in = {0, 0};
	xcall *c = NULL;
	if (x->b) {
		for (size_t i = 0; i < op->nargs; i++)
			if (is_pending(&args[i])) {
				*res = args[i];     /* depends on a result not there yet */
				return 0;
			}
	}
	if ((op->cache && x->memo) || x->b) {
		coco_fper_reset(x->f);
		for (size_t i = 0; i < op->nargs; i++)
			coco_fper_value(x->f, &args[i]);
		in = coco_fper_digest(x->f);
		memo_key(op, in, key);
	}
	if (x->b && (c = xb_find(x->b, op, in, 0))) {
		if (c->state == XB_DONE) {
			*res = c->v;
			if (op->cache && x->memo && x->memo->touch)
				x->memo->touch(x->memo->ud, key);
			return 0;
		}
		if (c->state == XB_ERROR)
			return coco_seterr(x->err, "%s (%s): %s", op->fn_label, op->where, c->err);
		*res = coco_v_null();       /* pending */
		res->n = (size_t)-1;
		return 0;
	}
	if (op->cache && x->memo && x->memo->get(x->memo->ud, key, x->a, res)) {
		if (x->stats)
			x->stats->cache_hits++;
		if (x->b) {
			c = xb_find(x->b, op, in, 1);
			c->state = XB_DONE;
			c->v = *res;
		}
		return 0;
	}
	if (x->b && x->collect && op->fn->call_batch) {
		c = xb_find(x->b, op, in, 1);   /* made by coco_xbatch_resolve */
		c->state = XB_PENDING;
		c->args = coco_arena_alloc(x->a, (op->nargs + 1) * sizeof *c->args);
		memcpy(c->args, args, op->nargs * sizeof *args);
		memcpy(c->key, key, 32);
		*res = coco_v_null();
		res->n = (size_t)-1;
		return 0;
	}
	char *e = NULL;
	if (x->stats)
		x->stats->calls++;
	int rc = coco_function_call(op->fn, op->fn_state, args, op->nargs, x->a, res, &e);
	if (x->b) {
		c = xb_find(x->b, op, in, 1);
		c->state = rc ? XB_ERROR : XB_DONE;
		c->v = *res;
		c->err = rc ? coco_strdup(e ? e : "failed") : NULL;
	}
	if (rc) {
		coco_seterr(x->err, "%s (%s): %s", op->fn_label, op->where, e ? e : "failed");
		free(e);
		return -1;
	}
	if (op->cache && x->memo && x->memo->put)
		x->memo->put(x->memo->ud, key, res);
	return 0;
}

int coco_xbatch_resolve(coco_xbatch *b, coco_arena *a, const coco_memo *memo,
	coco_exec_stats *stats, char **err)
{
	/* one call_batch per function op, over its pending calls */
	for (size_t i = 0; i < b->n; i++) {
		const gop *op = b->v[i].op;
		if (b->v[i].state != XB_PENDING)
			continue;
		size_t n = 0;
		for (size_t j = i; j < b->n; j++)
			n += b->v[j].op == op && b->v[j].state == XB_PENDING;
		const coco_value **args = coco_xcalloc(n, sizeof *args);
		size_t *idx = coco_xcalloc(n, sizeof *idx);
		coco_value *out = coco_arena_alloc(a, n * sizeof *out);
		char **errs = coco_xcalloc(n, sizeof *errs);
		size_t k = 0;
		for (size_t j = i; j < b->n; j++)
			if (b->v[j].op == op && b->v[j].state == XB_PENDING) {
				args[k] = b->v[j].args;
				idx[k++] = j;
			}
		char *e = NULL;
		if (stats)
			stats->calls += n;
		int rc = op->fn->call_batch(op->fn_state, args, op->nargs, n, a, out, errs, &e);
		for (k = 0; k < n; k++) {
			xcall *c = &b->v[idx[k]];
			if (rc || errs[k]) {
				c->state = XB_ERROR;
				c->err = coco_strdup(rc ? (e ? e : "failed") : errs[k]);
			} else {
				c->state = XB_DONE;
				c->v = out[k];
				if (op->cache && memo && memo->put)
					memo->put(memo->ud, c->key, &c->v);
			}
			free(errs[k]);
		}
		free(e);
		free(errs);
		free(args);
		free(idx);
	}
	(void)err;
	return 0;
}

static void make_uuid(xctx *x, const gop *op, const coco_value *row, size_t skip, coco_value *out)
{
	coco_fper_reset(x->f);
	coco_fper_fp(x->f, x->rowfp);
	coco_fper_u64(x->f, (uint64_t)op->collector);
	for (size_t i = 0; i < row->n; i++)
		if (i != skip)
			coco_fper_value(x->f, &row->u.fields[i]);
	coco_fp fp = coco_fper_digest(x->f);
	unsigned char b[16];
	memcpy(b, &fp.hi, 8);
	memcpy(b + 8, &fp.lo, 8);
	b[6] = (b[6] & 0x0f) | 0x80;   /* version 8: custom */
	b[8] = (b[8] & 0x3f) | 0x80;   /* RFC 4122 variant */
	char *s = coco_arena_alloc(x->a, 37);
	snprintf(s, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
		b[12], b[13], b[14], b[15]);
	*out = coco_v_str(s, 36);
}

static int run_scope(xctx *x, int s)
{
	const gscope *sc = &x->g->scopes[s];
	coco_value *frame = x->frames[s];
	for (size_t i = 0; i < sc->nops; i++) {
		const gop *op = &sc->ops[i];
		switch (op->kind) {
		case OP_TRANSFORM: {
			coco_value *args = coco_arena_alloc(x->a, (op->nargs + 1) * sizeof *args);
			for (size_t k = 0; k < op->nargs; k++)
				args[k] = op->args[k].kind == COCO_ARG_REF ? *resolve(x, &op->args[k].ref)
					: op->args[k].konst;
			int scratch = op->scratch && !x->scratch_of && !x->trace && !x->b;
			coco_arena *a = x->a;
			if (scratch)
				x->a = &x->scratch;
			int rc = call_fn(x, op, args, &frame[op->out]);
			x->a = a;
			if (rc)
				return -1;
			if (scratch)
				x->scratch_of = &frame[op->out];
			break;
		}
		case OP_FOREACH: {
			const coco_value *t = resolve(x, &op->in);
			if (t->kind != COCO_TABLE)
				break;              /* null, or pending in pass one */
			const gscope *cs = &x->g->scopes[op->child];
			coco_value *saved = x->frames[op->child], *cf = NULL;
			int release = op->release && t == x->scratch_of;
			x->walking |= release;
			for (size_t r = 0; r < t->n; r++) {
				/* one frame serves every row (collect copies the values
				 * out): a table of 200,000 chunks held 200,000 frames.
				 * Traced, each row keeps its own. */
				if (!cf || x->trace)
					cf = coco_arena_alloc(x->a, (cs->nfields + 1) * sizeof *cf);
				else
					memset(cf, 0, (cs->nfields + 1) * sizeof *cf);
				const coco_value *rv = &t->u.rows[r];
				for (int k = 0; k < cs->nbase && (size_t)k < rv->n; k++)
					cf[k] = rv->u.fields[k];
				x->frames[op->child] = cf;
				if (run_scope(x, op->child))
					return -1;
			}
			x->frames[op->child] = saved;
			if (release) {            /* walked: the table goes */
				memset(&frame[op->in.field], 0, sizeof frame[op->in.field]);
				coco_arena_reset(&x->scratch);
				x->scratch_of = NULL;
				x->walking = 0;
			}
			break;
		}
		case OP_COLLECT: {
			if (x->collect)
				break;              /* pass one collects nothing */
			const gcollector *c = &x->g->collectors[op->collector];
			size_t uuid_at = (size_t)-1;
			for (size_t k = 0; k < c->nfields; k++)
				if (op->vals[k].kind == COCO_ARG_UUID)
					uuid_at = k;
			/* the collected row, in collect's order: only built when a
			 * uuid is generated (every export gets the same one); else
			 * each export's row takes the values directly */
			coco_value crow = {0};
			if (uuid_at != (size_t)-1) {
				crow.kind = COCO_STRUCT;
				crow.n = c->nfields;
				crow.u.fields = coco_arena_alloc(x->a, (c->nfields + 1) * sizeof(coco_value));
				for (size_t k = 0; k < c->nfields; k++) {
					const coco_arg *a = &op->vals[k];
					if (a->kind == COCO_ARG_REF)
						crow.u.fields[k] = collected(x, resolve(x, &a->ref));
					else if (a->kind == COCO_ARG_CONST)
						crow.u.fields[k] = a->konst;
				}
				for (size_t k = 0; k < c->nfields; k++)
					if (op->vals[k].kind == COCO_ARG_UUID)
						make_uuid(x, op, &crow, k, &crow.u.fields[k]);
			}
			for (size_t e = 0; e < x->g->nexports; e++) {
				const coco_gexport *xp = &x->g->exports[e];
				if (xp->collector != op->collector)
					continue;
				coco_value er = {0};
				er.kind = COCO_STRUCT;
				er.n = c->nfields;
				er.u.fields = coco_arena_alloc(x->a, c->nfields * sizeof(coco_value));
				for (size_t k = 0; k < c->nfields; k++) {
					const coco_arg *a = &op->vals[xp->perm[k]];
					er.u.fields[k] = crow.n ? crow.u.fields[xp->perm[k]] :
						a->kind == COCO_ARG_REF ? collected(x, resolve(x, &a->ref)) : a->konst;
				}
				push_row(x->a, &x->out[e], &er);
			}
			break;
		}
		}
	}
	if (x->trace)
		x->trace(x->trace_ud, s, frame);
	return 0;
}

/* Run source row `row` through x's graph: its frame, its identity (the
 * fingerprint of its key fields), then the source's scope. */
static int run_row(xctx *x, size_t source, const coco_value *row)
{
	const coco_graph *g = x->g;
	for (size_t e = 0; e < g->nexports; e++)
		memset(&x->out[e], 0, sizeof x->out[e]);
	const coco_gsource *src = &g->sources[source];
	if (src->scope < 0)
		return 0;
	x->frames = coco_arena_alloc(x->a, g->nscopes * sizeof *x->frames);
	const gscope *rs = &g->scopes[src->scope];
	coco_value *frame = coco_arena_alloc(x->a, (rs->nfields + 1) * sizeof *frame);
	for (int k = 0; k < rs->nbase && (size_t)k < row->n; k++)
		frame[k] = row->u.fields[k];
	x->frames[src->scope] = frame;
	x->f = coco_fper_create();
	uint32_t nkeys = src->row_type->nkeys ? src->row_type->nkeys : 1;
	for (uint32_t k = 0; k < nkeys && k < row->n; k++)
		coco_fper_value(x->f, &row->u.fields[k]);
	x->rowfp = coco_fper_digest(x->f);
	int rc = run_scope(x, src->scope);
	coco_fper_destroy(x->f);
	coco_arena_destroy(&x->scratch);
	return rc;
}

int coco_exec_row_trace(const coco_graph *g, size_t source, const coco_value *row, coco_arena *a,
	const coco_memo *memo, coco_rows *out, coco_exec_trace trace, void *ud, char **err)
{
	xctx x = { .g = g, .a = a, .memo = memo, .out = out, .err = err, .trace = trace,
		.trace_ud = ud };
	return run_row(&x, source, row);
}

int coco_exec_row(const coco_graph *g, size_t source, const coco_value *row, coco_arena *a,
	const coco_memo *memo, coco_rows *out, coco_exec_stats *stats, char **err)
{
	return coco_exec_row_batch(g, source, row, a, memo, NULL, 0, out, stats, err);
}

int coco_exec_row_batch(const coco_graph *g, size_t source, const coco_value *row, coco_arena *a,
	const coco_memo *memo, coco_xbatch *b, int collect, coco_rows *out, coco_exec_stats *stats,
	char **err)
{
	xctx x = { .g = g, .a = a, .memo = memo, .b = b, .collect = collect && b, .out = out,
		.stats = stats, .err = err };
	return run_row(&x, source, row);
}
