/* Verify: every export's target against a fresh evaluation. See verify.h.
 *
 * The target's rows are scanned first into a hash table keyed by the
 * fingerprint of the primary key, holding one fingerprint per column (so a
 * difference names its columns) and the encoded key (so a stale row can be
 * named and deleted). Then every source row is evaluated and its rows are
 * looked up. Values are compared in the target's domain: float32 as
 * float32, struct, table and json fields as canonical JSON (keys sorted,
 * numbers re-printed), since a target may store JSON its own way
 * (PostgreSQL's jsonb). Memory: about 48 + 16 x columns bytes per row. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "engine/verify.h"
#include "engine/fingerprint.h"
#include "engine/functions/json.h"
#include "engine/sys.h"

/* ---- canonical JSON ------------------------------------------------------- */

static void skip_ws(const char **p, const char *e)
{
	while (*p < e && (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r'))
		(*p)++;
}

/* After a member or an element of an object or array closed by `close`:
 * 1 past the ',' before the next one, 0 past `close`, else -1. */
static int list_sep(const char **p, const char *e, char close)
{
	skip_ws(p, e);
	if (*p < e && (**p == ',' || **p == close))
		return *(*p)++ == ',';
	return -1;
}

/* The string literal whose opening quote is at (*p)[-1], decoded into out;
 * *p moves past its closing quote. */
static int json_unquote(const char **p, const char *e, coco_buf *out)
{
	const char *s = *p;
	while (s < e && *s != '"')
		s += *s == '\\' ? 2 : 1;
	if (s >= e || coco_json_str_decode(*p - 1, (size_t)(s + 1 - (*p - 1)), out))
		return -1;
	*p = s + 1;
	return 0;
}

typedef struct member {
	size_t k, kn, v, vn;          /* offsets into the object's scratch buffer */
} member;

static const char *g_sort_base;   /* qsort has no context argument */

static int member_cmp(const void *a, const void *b)
{
	const member *x = a, *y = b;
	size_t n = x->kn < y->kn ? x->kn : y->kn;
	int c = memcmp(g_sort_base + x->k, g_sort_base + y->k, n);
	return c ? c : (x->kn > y->kn) - (x->kn < y->kn);
}

static int canon_value(const char **p, const char *e, coco_buf *out, int depth);

static int canon_object(const char **p, const char *e, coco_buf *out, int depth)
{
	coco_buf tmp = {0};
	member *m = NULL;
	size_t n = 0, cap = 0;
	int rc = -1;
	(*p)++;
	skip_ws(p, e);
	if (*p < e && **p == '}') {
		(*p)++;
		coco_buf_adds(out, "{}");
		return 0;
	}
	for (;;) {
		skip_ws(p, e);
		if (*p >= e || **p != '"')
			goto done;
		(*p)++;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			member *nm = coco_xrealloc(m, cap * sizeof *m);
			m = nm;
		}
		m[n].k = tmp.n;
		if (json_unquote(p, e, &tmp))
			goto done;
		m[n].kn = tmp.n - m[n].k;
		skip_ws(p, e);
		if (*p >= e || **p != ':')
			goto done;
		(*p)++;
		m[n].v = tmp.n;
		if (canon_value(p, e, &tmp, depth + 1))
			goto done;
		m[n].vn = tmp.n - m[n].v;
		n++;
		int more = list_sep(p, e, '}');
		if (more < 0)
			goto done;
		if (!more)
			break;
	}
	g_sort_base = tmp.p;
	qsort(m, n, sizeof *m, member_cmp);
	coco_buf_putc(out, '{');
	for (size_t i = 0; i < n; i++) {
		if (i)
			coco_buf_putc(out, ',');
		coco_json_str(out, tmp.p + m[i].k, m[i].kn);
		coco_buf_putc(out, ':');
		coco_buf_add(out, tmp.p + m[i].v, m[i].vn);
	}
	coco_buf_putc(out, '}');
	rc = 0;
done:
	free(m);
	coco_buf_free(&tmp);
	return rc;
}

static int canon_value(const char **p, const char *e, coco_buf *out, int depth)
{
	if (depth > 200)
		return -1;
	skip_ws(p, e);
	if (*p >= e)
		return -1;
	char c = **p;
	if (c == '{')
		return canon_object(p, e, out, depth);
	if (c == '[') {
		(*p)++;
		coco_buf_putc(out, '[');
		skip_ws(p, e);
		if (*p < e && **p == ']') {
			(*p)++;
			coco_buf_putc(out, ']');
			return 0;
		}
		for (int first = 1;; first = 0) {
			if (!first)
				coco_buf_putc(out, ',');
			if (canon_value(p, e, out, depth + 1))
				return -1;
			int more = list_sep(p, e, ']');
			if (more < 0)
				return -1;
			if (!more) {
				coco_buf_putc(out, ']');
				return 0;
			}
		}
	}
	if (c == '"') {
		coco_buf raw = {0};
		(*p)++;
		int rc = json_unquote(p, e, &raw);
		if (!rc)
			coco_json_str(out, raw.p ? raw.p : "", raw.n);
		coco_buf_free(&raw);
		return rc;
	}
	static const char *const lit[] = { "true", "false", "null" };
	for (int i = 0; i < 3; i++) {
		size_t n = strlen(lit[i]);
		if ((size_t)(e - *p) >= n && !memcmp(*p, lit[i], n)) {
			coco_buf_adds(out, lit[i]);
			*p += n;
			return 0;
		}
	}
	char num[64];
	size_t n = 0;
	while (*p + n < e && n < sizeof num - 1 && strchr("+-0123456789.eE", (*p)[n]))
		n++;
	if (!n)
		return -1;
	memcpy(num, *p, n);
	num[n] = 0;
	*p += n;
	double d = strtod(num, NULL);
	if (d == floor(d) && fabs(d) < 9007199254740992.0)
		coco_buf_printf(out, "%.0f", d == 0 ? 0.0 : d);
	else
		coco_buf_printf(out, "%.17g", d);
	return 0;
}

/* Canonical JSON of s[0..n); the text itself if it does not parse. */
static void canon_json(const char *s, size_t n, coco_buf *out)
{
	size_t at = out->n;
	const char *p = s, *e = s + n;
	if (canon_value(&p, e, out, 0) == 0) {
		skip_ws(&p, e);
		if (p == e)
			return;
	}
	out->n = at;
	coco_buf_add(out, s, n);
}

/* ---- one column's fingerprint, as the target stores it -------------------- */

static coco_fp field_fp(const coco_value *v, const coco_type *t, coco_buf *tmp)
{
	if (v->kind == COCO_NULL)
		return coco_fp_bytes("", 0);
	unsigned char tag = (unsigned char)t->kind;
	coco_buf_clear(tmp);
	coco_buf_putc(tmp, (char)tag);
	switch (t->kind) {
	case COCO_BOOL: {
		char b = v->kind == COCO_BOOL ? (char)(v->u.b != 0) : (char)(v->u.i != 0);
		coco_buf_putc(tmp, b);
		break;
	}
	case COCO_INT64:
		coco_buf_add(tmp, &v->u.i, sizeof v->u.i);
		break;
	case COCO_FLOAT32: {
		float f = (float)v->u.f;
		coco_buf_add(tmp, &f, sizeof f);
		break;
	}
	case COCO_FLOAT64:
		coco_buf_add(tmp, &v->u.f, sizeof v->u.f);
		break;
	case COCO_STR:
	case COCO_BYTES:
		coco_buf_add(tmp, v->u.s ? v->u.s : "", v->n);
		break;
	case COCO_RANGE:
		coco_buf_add(tmp, v->u.r, sizeof v->u.r);
		break;
	case COCO_VECTOR:
		if (v->kind == COCO_VECTOR)
			coco_buf_add(tmp, v->u.vec, v->n * sizeof *v->u.vec);
		break;
	default: {                 /* json; struct and table as json */
		coco_buf js = {0};
		if (v->kind == COCO_STRUCT || v->kind == COCO_TABLE)
			coco_value_to_json(v, t, &js);
		else
			coco_buf_add(&js, v->u.s ? v->u.s : "", v->n);
		canon_json(js.p ? js.p : "", js.n, tmp);
		coco_buf_free(&js);
		break;
	}
	}
	return coco_fp_bytes(tmp->p, tmp->n);
}

/* ---- the table of target rows ------------------------------------------- */

enum { HELD = 1, SEEN = 2 };

typedef struct slot {
	coco_fp key;
	uint32_t flags;
	uint32_t keylen;
	size_t keyoff;                /* the encoded key in keys */
	size_t fps;                   /* index of its first column fingerprint */
	/* expected row's source, for collisions */
	uint32_t src;
	size_t srckey;                /* offset of its key text in keys, +1 (0: none) */
} slot;

typedef struct xstate {
	const coco_gexport *x;
	void *tgt;
	coco_verify_stats *stats;
	slot *slots;
	size_t cap, n;
	coco_fp *fps;
	size_t nfps, capfps;
	coco_buf keys;
	float *vecs;                  /* held vectors (see held_vec) */
	size_t nvecs, capvecs;
	int began;
} xstate;

typedef struct vctx {
	const coco_graph *g;
	const coco_verify_opts *o;
	xstate *xs;
	size_t nx;
	coco_buf tmp, kt, sk, cols;
	coco_fp *row;                 /* scratch: the column fingerprints of a row */
	size_t caprow;
	char *err;
} vctx;

/* The key's columns as the target stores them (a struct key field read
 * back as json text must find the row that collected it as a struct). */
static coco_fp key_fp(vctx *c, const coco_gexport *x, const coco_value *fields)
{
	coco_fp k[8] = {{0}}, *ks = x->info.nkeys <= 8 ? k : coco_xmalloc(x->info.nkeys * sizeof *ks);
	for (uint32_t i = 0; i < x->info.nkeys; i++)
		ks[i] = field_fp(&fields[i], x->info.row_type->fields[i].type, &c->tmp);
	coco_fp fp = coco_fp_bytes(ks, x->info.nkeys * sizeof *ks);
	if (ks != k)
		free(ks);
	return fp;
}

static slot *find(xstate *s, coco_fp k, int add)
{
	if (add && (s->n + 1) * 4 > s->cap * 3) {
		size_t nc = s->cap ? s->cap * 2 : 1024;
		slot *ns = coco_xcalloc(nc, sizeof *ns);
		for (size_t i = 0; i < s->cap; i++)
			if (s->slots[i].flags) {
				size_t j = s->slots[i].key.lo & (nc - 1);
				while (ns[j].flags)
					j = (j + 1) & (nc - 1);
				ns[j] = s->slots[i];
			}
		free(s->slots);
		s->slots = ns;
		s->cap = nc;
	}
	if (!s->cap)
		return NULL;
	size_t j = k.lo & (s->cap - 1);
	while (s->slots[j].flags) {
		if (coco_fp_eq(s->slots[j].key, k))
			return &s->slots[j];
		j = (j + 1) & (s->cap - 1);
	}
	if (!add)
		return NULL;
	s->n++;
	s->slots[j].key = k;
	return &s->slots[j];
}

static void row_fps(vctx *c, const coco_gexport *x, const coco_value *fields)
{
	uint32_t nf = x->info.row_type->nfields;
	if (c->caprow < nf) {
		c->caprow = nf;
		c->row = coco_xrealloc(c->row, nf * sizeof *c->row);
	}
	for (uint32_t i = 0; i < nf; i++)
		c->row[i] = field_fp(&fields[i], x->info.row_type->fields[i].type, &c->tmp);
}

static void key_json(const coco_gexport *x, const coco_value *fields, coco_buf *out)
{
	coco_buf_clear(out);
	uint32_t nk = x->info.nkeys;
	if (nk == 1 && fields[0].kind == COCO_STR) {
		coco_buf_add(out, fields[0].u.s, fields[0].n);
		return;
	}
	coco_buf_putc(out, '{');
	for (uint32_t i = 0; i < nk; i++) {
		if (i)
			coco_buf_putc(out, ',');
		coco_json_str(out, x->info.row_type->fields[i].name, strlen(x->info.row_type->fields[i].name));
		coco_buf_putc(out, ':');
		coco_value_to_json(&fields[i], x->info.row_type->fields[i].type, out);
	}
	coco_buf_putc(out, '}');
}

/* ---- vectors, compared with a tolerance ------------------------------------------- *
 * A vector store may keep a vector as it was given, rounded to float32, or
 * normalised (Qdrant stores a cosine vector at unit length): the held
 * vector b equals the expected a when each component is within 1e-5 of
 * a's largest, or, b being of unit length, within 1e-5 of a / |a|. So the
 * held vectors are kept themselves, not fingerprinted: the column's slot
 * in fps holds { hi = offset into vecs, lo = length + 1 } (0: null). */
#define VEC_EPS 1e-5

static coco_fp held_vec(xstate *s, const coco_value *v)
{
	if (v->kind != COCO_VECTOR)
		return (coco_fp){ 0, 0 };
	if (s->nvecs + v->n > s->capvecs) {
		s->capvecs = (s->nvecs + v->n) * 2;
		s->vecs = coco_xrealloc(s->vecs, s->capvecs * sizeof *s->vecs);
	}
	memcpy(s->vecs + s->nvecs, v->u.vec, v->n * sizeof *v->u.vec);
	coco_fp r = { .hi = s->nvecs, .lo = v->n + 1 };
	s->nvecs += v->n;
	return r;
}

static int vec_same(const xstate *s, const coco_value *a, coco_fp held)
{
	if (a->kind != COCO_VECTOR || !held.lo)
		return a->kind != COCO_VECTOR && !held.lo;
	const float *b = s->vecs + held.hi;
	size_t n = held.lo - 1;
	if (a->n != n)
		return 0;
	double amax = 0, anorm = 0, bnorm = 0, d = 0, dn = 0;
	for (size_t i = 0; i < n; i++) {
		amax = fmax(amax, fabs(a->u.vec[i]));
		anorm += (double)a->u.vec[i] * a->u.vec[i];
		bnorm += (double)b[i] * b[i];
	}
	anorm = sqrt(anorm);
	for (size_t i = 0; i < n; i++) {
		d = fmax(d, fabs(a->u.vec[i] - b[i]));
		dn = fmax(dn, anorm > 0 ? fabs(a->u.vec[i] / anorm - b[i]) : INFINITY);
	}
	return d <= VEC_EPS * amax || (fabs(sqrt(bnorm) - 1) <= VEC_EPS && dn <= VEC_EPS);
}

typedef struct scanctx {
	vctx *c;
	xstate *s;
} scanctx;

static int scan_row(void *ud, const coco_value *row)
{
	scanctx *sc = ud;
	vctx *c = sc->c;
	xstate *s = sc->s;
	const coco_gexport *x = s->x;
	uint32_t nf = x->info.row_type->nfields;
	if (row->kind != COCO_STRUCT || row->n != nf)
		return 0;
	s->stats->held++;
	coco_fp k = key_fp(c, x, row->u.fields);
	slot *sl = find(s, k, 1);
	if (sl->flags & HELD)
		return 0;                 /* the same key twice: the table has no such key */
	sl->flags = HELD;
	row_fps(c, x, row->u.fields);
	if (s->nfps + nf > s->capfps) {
		s->capfps = (s->nfps + nf) * 2;
		s->fps = coco_xrealloc(s->fps, s->capfps * sizeof *s->fps);
	}
	sl->fps = s->nfps;
	memcpy(s->fps + s->nfps, c->row, nf * sizeof *c->row);
	for (uint32_t i = 0; i < nf; i++)
		if (x->info.row_type->fields[i].type->kind == COCO_VECTOR)
			s->fps[s->nfps + i] = held_vec(s, &row->u.fields[i]);
	s->nfps += nf;
	coco_value key = { .kind = COCO_STRUCT, .n = x->info.nkeys, .u.fields = row->u.fields };
	sl->keyoff = s->keys.n;
	coco_value_encode(&key, &s->keys);
	sl->keylen = (uint32_t)(s->keys.n - sl->keyoff);
	return 0;
}

static void report(vctx *c, const coco_gexport *x, coco_verify_kind kind, const char *key,
	const char *source, const char *source_key, const char *columns)
{
	if (!c->o || !c->o->on_diff)
		return;
	coco_verify_diff d = { .export_name = x->name, .kind = kind, .key = key, .source = source,
		.source_key = source_key, .columns = columns };
	c->o->on_diff(c->o->ud, &d);
}

static int begin_repair(xstate *s, char **err)
{
	if (s->began)
		return 0;
	if (s->x->ops->begin(s->tgt, err))
		return -1;
	s->began = 1;
	return 0;
}

static void source_key_text(const coco_value *key, coco_buf *out)
{
	coco_buf_clear(out);
	if (key->kind == COCO_STR)
		coco_buf_add(out, key->u.s, key->n);
	else
		coco_value_to_json(key, NULL, out);
}

static int sink(void *ud, const coco_gexport *x, const coco_value *rows, size_t n, size_t si,
	const coco_value *skey, char **err)
{
	vctx *c = ud;
	xstate *s = NULL;
	for (size_t i = 0; i < c->nx; i++)
		if (c->xs[i].x == x)
			s = &c->xs[i];
	if (!s || !s->tgt)
		return 0;
	const char *sname = coco_graph_source(c->g, si)->name;
	source_key_text(skey, &c->sk);
	uint32_t nf = x->info.row_type->nfields;
	/* backwards: the same key twice in one source row's rows, the last
	 * one is written (its upsert comes last), as the indexer does */
	for (size_t r = n; r-- > 0;) {
		const coco_value *row = &rows[r];
		if (row->kind != COCO_STRUCT || row->n != nf)
			continue;
		coco_fp k = key_fp(c, x, row->u.fields);
		slot *sl = find(s, k, 1);
		if (sl->flags & SEEN) {
			/* the same key from an earlier row (or earlier in this one) */
			s->stats->collisions++;
			key_json(x, row->u.fields, &c->kt);
			coco_buf other = {0};
			coco_buf_printf(&other, "%s %s", coco_graph_source(c->g, sl->src)->name,
				sl->srckey ? s->keys.p + sl->srckey - 1 : "?");
			report(c, x, COCO_VERIFY_COLLISION, c->kt.p, sname, c->sk.p, other.p);
			coco_buf_free(&other);
			continue;
		}
		s->stats->expected++;
		int held = sl->flags & HELD;
		sl->flags |= SEEN;
		sl->src = (uint32_t)si;
		sl->srckey = s->keys.n + 1;
		coco_buf_add(&s->keys, c->sk.p ? c->sk.p : "", c->sk.n);
		coco_buf_putc(&s->keys, 0);    /* read back as a C string */
		coco_verify_kind kind;
		if (!held) {
			kind = COCO_VERIFY_MISSING;
			s->stats->missing++;
			coco_buf_clear(&c->cols);
		} else {
			row_fps(c, x, row->u.fields);
			coco_buf_clear(&c->cols);
			for (uint32_t i = 0; i < nf; i++)
				if (x->info.row_type->fields[i].type->kind == COCO_VECTOR
				    ? !vec_same(s, &row->u.fields[i], s->fps[sl->fps + i])
				    : !coco_fp_eq(c->row[i], s->fps[sl->fps + i])) {
					if (c->cols.n)
						coco_buf_adds(&c->cols, ", ");
					coco_buf_adds(&c->cols, x->info.row_type->fields[i].name);
				}
			if (!c->cols.n)
				continue;
			kind = COCO_VERIFY_DIFFERENT;
			s->stats->different++;
		}
		key_json(x, row->u.fields, &c->kt);
		report(c, x, kind, c->kt.p, sname, c->sk.p, kind == COCO_VERIFY_DIFFERENT ? c->cols.p : NULL);
		if (c->o && c->o->repair) {
			if (begin_repair(s, err) || x->ops->upsert(s->tgt, row, err))
				return -1;
			s->stats->repaired++;
		}
	}
	return 0;
}

int coco_verify(const coco_graph *g, coco_state *st, const coco_verify_opts *o,
	coco_verify_stats *stats, uint64_t *nerrors, char **err)
{
	size_t nx = coco_graph_nexports(g), ns = coco_graph_nsources(g);
	vctx c = { .g = g, .o = o, .nx = nx };
	c.xs = coco_xcalloc(nx + 1, sizeof *c.xs);
	coco_source_stats *ss = coco_xcalloc(ns + 1, sizeof *ss);
	*nerrors = 0;
	int rc = 0;
	coco_arena a = {0};
	for (size_t i = 0; i < nx && !rc; i++) {
		xstate *s = &c.xs[i];
		s->x = coco_graph_export_at(g, i);
		s->stats = &stats[i];
		memset(s->stats, 0, sizeof *s->stats);
		s->stats->export_name = s->x->name;
		if (!s->x->ops->scan)
			continue;
		char *e = NULL;
		if (s->x->ops->open(s->x->opts, &s->x->info, &s->tgt, &e)) {
			rc = coco_seterr(err, "%s (%s): %s", s->x->name, s->x->where, e ? e : "cannot open target");
			free(e);
			s->tgt = NULL;
			break;
		}
		scanctx sc = { &c, s };
		if (s->x->ops->scan(s->tgt, scan_row, &sc, &a, &e)) {
			rc = coco_seterr(err, "%s (%s): %s", s->x->name, s->x->where, e ? e : "cannot scan target");
			free(e);
			break;
		}
		s->stats->scanned = 1;
	}
	coco_update_opts uo = { .on_error = o ? o->on_error : NULL, .ud = o ? o->ud : NULL };
	if (!rc)
		rc = coco_evaluate(g, st, 1, &uo, sink, &c, ss, err);
	for (size_t i = 0; i < ns; i++)
		*nerrors += ss[i].errors;
	/* rows the target holds that no source row produces; with rows that
	 * failed to evaluate, what they would produce is unknown: say nothing */
	for (size_t i = 0; i < nx && !rc; i++) {
		xstate *s = &c.xs[i];
		for (size_t j = 0; j < s->cap && !rc; j++) {
			slot *sl = &s->slots[j];
			if (!(sl->flags & HELD) || (sl->flags & SEEN))
				continue;
			coco_arena_reset(&a);
			const char *p = s->keys.p + sl->keyoff;
			coco_value key;
			if (coco_value_decode(&p, p + sl->keylen, &a, &key))
				continue;
			if (*nerrors)
				continue;
			s->stats->stale++;
			key_json(s->x, key.u.fields, &c.kt);
			report(&c, s->x, COCO_VERIFY_STALE, c.kt.p, NULL, NULL, NULL);
			if (o && o->repair) {
				if (begin_repair(s, err) || s->x->ops->del(s->tgt, &key, err))
					rc = -1;
				else
					s->stats->repaired++;
			}
		}
	}
	for (size_t i = 0; i < nx; i++) {
		xstate *s = &c.xs[i];
		if (s->began && !rc && s->x->ops->commit(s->tgt, err))
			rc = -1;
		if (s->tgt)
			s->x->ops->close(s->tgt);
		free(s->slots);
		free(s->fps);
		free(s->vecs);
		coco_buf_free(&s->keys);
	}
	free(c.xs);
	free(ss);
	free(c.row);
	coco_buf_free(&c.tmp);
	coco_buf_free(&c.kt);
	coco_buf_free(&c.sk);
	coco_buf_free(&c.cols);
	coco_arena_destroy(&a);
	return rc;
}
