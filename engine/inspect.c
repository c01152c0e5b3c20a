/* Inspection of a flow: JSON for coco server. See inspect.h. */
#define _GNU_SOURCE
#include "engine/secret.h"
#include "engine/inspect.h"
#include "engine/exec.h"
#include "engine/graph_int.h"
#include "engine/records_int.h"
#include "engine/functions/json.h"
#include "engine/sys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- state records (records_int.h) ------------------------------------- */
/* Calls cb for each committed target key of a lineage record. */
typedef void (*lin_cb)(void *ud, const char *exp, size_t nexp, const char *key, size_t nkey,
	coco_fp fp);
static int lin_each(const char *p, size_t n, lin_cb cb, void *ud)
{
	coco_arena a = {0};
	lineage l;
	int rc = lin_decode(p, n, &a, &l);
	for (size_t i = 0; !rc && i < l.n; i++)
		if (!l.k[i].staged)
			cb(ud, l.k[i].exp, l.k[i].nexp, l.k[i].key, l.k[i].nkey, l.k[i].fp);
	coco_arena_destroy(&a);
	return rc;
}

/* Lineage names an export by its target's resource id (older records: by
 * its name): the index of the export, or -1. */
static int export_of(const coco_graph *g, const char *exp, size_t nexp)
{
	coco_buf rid = {0}, desc = {0};
	int found = -1;
	for (size_t x = 0; x < g->nexports && found < 0; x++) {
		const coco_gexport *xp = &g->exports[x];
		char *e = NULL;
		coco_buf_clear(&rid);
		if (strlen(xp->name) == nexp && !memcmp(xp->name, exp, nexp))
			found = (int)x;
		else if (!xp->ops->describe(xp->opts, &xp->info, &rid, &desc, &e) && rid.n == nexp &&
		    !memcmp(rid.p, exp, nexp))
			found = (int)x;
		free(e);
	}
	coco_buf_free(&rid);
	coco_buf_free(&desc);
	return found;
}

/* ---- JSON helpers ---------------------------------------------------------- */
static void jstr(coco_buf *b, const char *s) { coco_json_str(b, s ? s : "", s ? strlen(s) : 0); }

static void jtype(coco_buf *b, const coco_type *t)
{
	coco_buf tb = {0};
	coco_type_format(t, &tb);
	coco_json_str(b, tb.p ? tb.p : "", tb.n);
	coco_buf_free(&tb);
}

static void jhex(coco_buf *b, const char *p, size_t n)
{
	coco_buf_putc(b, '"');
	for (size_t i = 0; i < n; i++)
		coco_buf_printf(b, "%02x", (unsigned char)p[i]);
	coco_buf_putc(b, '"');
}

/* An option's name that says it holds a secret. */
static int secret_name(const char *name)
{
	static const char *const words[] = { "password", "secret", "token", "credential", "api_key",
		"private_key", NULL };
	if (strlen(name) > 4 && !strcmp(name + strlen(name) - 4, "_env"))
		return 0;                   /* names a variable, holds no secret */
	for (int i = 0; words[i]; i++)
		if (strstr(name, words[i]))
			return 1;
	return 0;
}

/* A string with its secrets masked (engine/secret.h: a URL's password,
 * password= and the like in a connection string). */
static void jmasked(coco_buf *b, const char *s)
{
	coco_buf t = {0};
	coco_redact(s, &t);
	coco_json_str(b, t.p, t.n);
	coco_buf_free(&t);
}

static void jopts(coco_buf *b, const coco_optdef *defs, const coco_optval *v)
{
	coco_buf_putc(b, '{');
	int first = 1;
	for (size_t i = 0; defs && defs[i].name; i++) {
		if (!v[i].set)
			continue;
		if (!first)
			coco_buf_putc(b, ',');
		first = 0;
		jstr(b, defs[i].name);
		coco_buf_putc(b, ':');
		if (secret_name(defs[i].name)) {
			jstr(b, "***");
			continue;
		}
		switch (defs[i].kind) {
		case COCO_OPT_STR: jmasked(b, v[i].s); break;
		case COCO_OPT_JSON: coco_buf_adds(b, v[i].s); break;
		case COCO_OPT_INT: coco_buf_printf(b, "%lld", (long long)v[i].i); break;
		case COCO_OPT_NUM: coco_buf_printf(b, "%.17g", v[i].num); break;
		case COCO_OPT_BOOL: coco_buf_adds(b, v[i].b ? "true" : "false"); break;
		case COCO_OPT_STRLIST:
			coco_buf_putc(b, '[');
			for (size_t k = 0; k < v[i].nlist; k++) {
				if (k)
					coco_buf_putc(b, ',');
				jstr(b, v[i].list[k]);
			}
			coco_buf_putc(b, ']');
			break;
		}
	}
	coco_buf_putc(b, '}');
}

static void jref(coco_buf *b, const coco_graph *g, const coco_fieldref *r)
{
	coco_buf t = {0};
	coco_graph_ref_name(g, r, &t);
	coco_json_str(b, t.p ? t.p : "", t.n);
	coco_buf_free(&t);
}

/* name: the argument's (a collect's values have their column instead, and
 * their own name pointers do not outlive the DSL call) */
static void jarg(coco_buf *b, const coco_graph *g, const coco_arg *a, const char *name)
{
	coco_buf_adds(b, "{\"name\":");
	if (name)
		jstr(b, name);
	else
		coco_buf_adds(b, "null");
	if (a->kind == COCO_ARG_REF) {
		coco_buf_adds(b, ",\"field\":");
		jref(b, g, &a->ref);
		coco_buf_printf(b, ",\"scope\":%d", a->ref.scope);
	} else if (a->kind == COCO_ARG_UUID) {
		coco_buf_adds(b, ",\"uuid\":true");
	} else {
		coco_buf_adds(b, ",\"value\":");
		coco_value_to_json(&a->konst, NULL, b);
	}
	coco_buf_putc(b, '}');
}

static void jfields(coco_buf *b, const gscope *sc)
{
	coco_buf_putc(b, '[');
	for (size_t i = 0; i < sc->nfields; i++) {
		if (i)
			coco_buf_putc(b, ',');
		coco_buf_adds(b, "{\"name\":");
		if (sc->fields[i].name)
			jstr(b, sc->fields[i].name);
		else
			coco_buf_adds(b, "null");
		coco_buf_adds(b, ",\"type\":");
		jtype(b, sc->fields[i].type);
		coco_buf_printf(b, ",\"base\":%s}", (int)i < sc->nbase ? "true" : "false");
	}
	coco_buf_putc(b, ']');
}

/* {"name":...,"<what>":...,"where":... (a source's kind, an export's target),
 * after a comma unless it is the first (i == 0); the object left open */
static void jhead(coco_buf *b, size_t i, const char *name, const char *what, const char *value,
	const char *where)
{
	if (i)
		coco_buf_putc(b, ',');
	coco_buf_adds(b, "{\"name\":");
	jstr(b, name);
	coco_buf_printf(b, ",\"%s\":", what);
	jstr(b, value);
	coco_buf_adds(b, ",\"where\":");
	jstr(b, where);
}

/* {"name":...,"type":...}, after a comma unless it is the first (i == 0) */
static void jfield(coco_buf *b, size_t i, const char *name, const coco_type *t)
{
	if (i)
		coco_buf_putc(b, ',');
	coco_buf_adds(b, "{\"name\":");
	jstr(b, name);
	coco_buf_adds(b, ",\"type\":");
	jtype(b, t);
	coco_buf_putc(b, '}');
}

/* ,"key":[the first nkeys field names],"<list>":[every field, jfield] */
static void jrow_type(coco_buf *b, const coco_type *rt, uint32_t nkeys, const char *list)
{
	coco_buf_adds(b, ",\"key\":[");
	for (uint32_t k = 0; k < nkeys; k++) {
		if (k)
			coco_buf_putc(b, ',');
		jstr(b, rt->fields[k].name);
	}
	coco_buf_printf(b, "],\"%s\":[", list);
	for (uint32_t k = 0; k < rt->nfields; k++)
		jfield(b, k, rt->fields[k].name, rt->fields[k].type);
	coco_buf_putc(b, ']');
}

void coco_inspect_graph(const coco_graph *g, coco_buf *b)
{
	coco_fper *f = coco_fper_create();
	for (size_t i = 0; i < g->nsources; i++)
		coco_fper_fp(f, g->sources[i].logic);
	for (size_t i = 0; i < g->nexports; i++)
		coco_fper_fp(f, g->exports[i].logic);
	coco_fp fp = coco_fper_digest(f);
	coco_fper_destroy(f);
	char hex[33];
	coco_fp_hex(fp, hex);
	coco_buf_adds(b, "{\"name\":");
	jstr(b, g->name);
	coco_buf_printf(b, ",\"fingerprint\":\"%s\",\"sources\":[", hex);
	for (size_t i = 0; i < g->nsources; i++) {
		const coco_gsource *s = &g->sources[i];
		jhead(b, i, s->name, "kind", s->ops->name, s->where);
		coco_buf_adds(b, ",\"options\":");
		jopts(b, s->ops->opts, s->opts);
		coco_buf_printf(b, ",\"refresh_interval\":%.17g,\"scope\":%d,\"change_capture\":%s",
			s->sopts.refresh_interval, s->scope, s->ops->watch ? "true" : "false");
		jrow_type(b, s->row_type, s->row_type->nkeys, "fields");
		coco_buf_putc(b, '}');
	}
	coco_buf_adds(b, "],\"scopes\":[");
	for (size_t s = 0; s < g->nscopes; s++) {
		const gscope *sc = &g->scopes[s];
		if (s)
			coco_buf_putc(b, ',');
		coco_buf_printf(b, "{\"id\":%zu,\"parent\":%d,\"source\":%d,\"fields\":", s, sc->parent,
			sc->source);
		jfields(b, sc);
		coco_buf_adds(b, ",\"ops\":[");
		for (size_t i = 0; i < sc->nops; i++) {
			const gop *op = &sc->ops[i];
			if (i)
				coco_buf_putc(b, ',');
			coco_buf_adds(b, "{\"where\":");
			jstr(b, op->where);
			if (op->kind == OP_TRANSFORM) {
				coco_buf_adds(b, ",\"kind\":\"transform\",\"fn\":");
				jstr(b, op->fn_label);
				coco_buf_printf(b, ",\"out\":%d,\"name\":", op->out);
				jstr(b, sc->fields[op->out].name ? sc->fields[op->out].name : "");
				coco_buf_adds(b, ",\"type\":");
				jtype(b, sc->fields[op->out].type);
				coco_buf_printf(b, ",\"cached\":%s,\"args\":[", op->cache ? "true" : "false");
				for (size_t k = 0; k < op->nargs; k++) {
					if (op->args[k].kind == COCO_ARG_CONST && op->args[k].konst.kind == COCO_NULL)
						continue;
					if (b->p[b->n - 1] != '[')
						coco_buf_putc(b, ',');
					jarg(b, g, &op->args[k], op->args[k].name);
				}
				coco_buf_putc(b, ']');
			} else if (op->kind == OP_FOREACH) {
				coco_buf_adds(b, ",\"kind\":\"foreach\",\"in\":");
				jref(b, g, &op->in);
				coco_buf_printf(b, ",\"in_scope\":%d,\"in_field\":%d,\"child\":%d", op->in.scope,
					op->in.field, op->child);
			} else {
				const gcollector *c = &g->collectors[op->collector];
				coco_buf_printf(b, ",\"kind\":\"collect\",\"collector\":%d,\"fields\":[",
					op->collector);
				for (size_t k = 0; k < c->nfields; k++) {
					if (k)
						coco_buf_putc(b, ',');
					jarg(b, g, &op->vals[k], NULL);
					b->n--;             /* reopen the object: add the column's name */
					coco_buf_adds(b, ",\"column\":");
					jstr(b, c->names[k]);
					coco_buf_putc(b, '}');
				}
				coco_buf_putc(b, ']');
			}
			coco_buf_putc(b, '}');
		}
		coco_buf_adds(b, "]}");
	}
	coco_buf_adds(b, "],\"collectors\":[");
	for (size_t i = 0; i < g->ncollectors; i++) {
		const gcollector *c = &g->collectors[i];
		if (i)
			coco_buf_putc(b, ',');
		coco_buf_printf(b, "{\"id\":%zu,\"where\":", i);
		jstr(b, c->where);
		coco_buf_adds(b, ",\"fields\":[");
		for (size_t k = 0; k < c->nfields; k++)
			jfield(b, k, c->names[k], c->types[k]);
		coco_buf_adds(b, "]}");
	}
	coco_buf_adds(b, "],\"exports\":[");
	for (size_t i = 0; i < g->nexports; i++) {
		const coco_gexport *x = &g->exports[i];
		jhead(b, i, x->name, "target", x->ops->name, x->where);
		coco_buf_printf(b, ",\"collector\":%d,\"options\":", x->collector);
		jopts(b, x->ops->opts, x->opts);
		jrow_type(b, x->info.row_type, x->info.nkeys, "columns");
		coco_buf_putc(b, '}');
	}
	coco_buf_adds(b, "]}");
}

/* ---- keys ------------------------------------------------------------------ */
void coco_inspect_key_text(const coco_value *key, coco_buf *out)
{
	if (key->kind == COCO_STR)
		coco_buf_add(out, key->u.s, key->n);
	else
		coco_value_to_json(key, NULL, out);
}

/* A scalar of type t from JSON (or plain) text. */
static int scalar_parse(const coco_type *t, const char *s, size_t n, int plain, coco_arena *a,
	coco_value *v, const char *what, char **err)
{
	memset(v, 0, sizeof *v);
	char buf[64];
	switch (t->kind) {
	case COCO_STR:
		if (plain) {
			*v = coco_v_str(coco_arena_strndup(a, s, n), n);
			return 0;
		} else {
			coco_buf d = {0};
			if (coco_json_str_decode(s, n, &d)) {
				coco_buf_free(&d);
				return coco_seterr(err, "key '%s': expected a string", what);
			}
			*v = coco_v_str(coco_arena_strndup(a, d.p ? d.p : "", d.n), d.n);
			coco_buf_free(&d);
			return 0;
		}
	case COCO_INT64:
	case COCO_FLOAT32:
	case COCO_FLOAT64: {
		if (n == 0 || n >= sizeof buf)
			return coco_seterr(err, "key '%s': expected a number", what);
		memcpy(buf, s, n);
		buf[n] = 0;
		char *end;
		if (t->kind == COCO_INT64) {
			long long i = strtoll(buf, &end, 10);
			if (*end)
				return coco_seterr(err, "key '%s': expected an integer", what);
			*v = coco_v_int(i);
		} else {
			double d = strtod(buf, &end);
			if (*end)
				return coco_seterr(err, "key '%s': expected a number", what);
			v->kind = (uint8_t)t->kind;
			v->u.f = d;
		}
		return 0;
	}
	case COCO_BOOL:
		v->kind = COCO_BOOL;
		if (n == 4 && !memcmp(s, "true", 4))
			v->u.b = 1;
		else if (!(n == 5 && !memcmp(s, "false", 5)))
			return coco_seterr(err, "key '%s': expected true or false", what);
		return 0;
	default:
		return coco_seterr(err, "key '%s': keys of type %s cannot be given in a URL", what,
			coco_kind_name(t->kind));
	}
}

int coco_inspect_key_parse(const coco_graph *g, size_t source, const char *text, coco_arena *a,
	coco_value *key, char **err)
{
	const coco_type *rt = g->sources[source].row_type;
	size_t n = strlen(text);
	if (rt->nkeys <= 1)
		return scalar_parse(rt->fields[0].type, text, n, rt->fields[0].type->kind == COCO_STR, a,
			key, text, err);
	size_t at;
	const char *msg;
	coco_json_iter it;
	if (coco_json_check(text, n, &at, &msg) || coco_json_iter_init(&it, text, n) != '[')
		return coco_seterr(err, "key '%s': expected a JSON array of %u key values", text, rt->nkeys);
	memset(key, 0, sizeof *key);
	key->kind = COCO_STRUCT;
	key->n = rt->nkeys;
	key->u.fields = coco_arena_alloc(a, (rt->nkeys + 1) * sizeof *key->u.fields);
	const char *k, *v;
	size_t nk, nv;
	uint32_t i = 0;
	while (coco_json_iter_next(&it, &k, &nk, &v, &nv)) {
		if (i == rt->nkeys)
			return coco_seterr(err, "key '%s': expected %u key values", text, rt->nkeys);
		if (scalar_parse(rt->fields[i].type, v, nv, 0, a, &key->u.fields[i], text, err))
			return -1;
		i++;
	}
	if (i != rt->nkeys)
		return coco_seterr(err, "key '%s': expected %u key values", text, rt->nkeys);
	return 0;
}

/* ---- source rows in state ---------------------------------------------------- */
typedef struct lcount {
	size_t n;
} lcount;

static void count_cb(void *ud, const char *exp, size_t nexp, const char *key, size_t nkey,
	coco_fp fp)
{
	((lcount *)ud)->n++;
}

int coco_inspect_rows(const coco_graph *g, coco_state *st, size_t source, const char *after,
	size_t limit, const char *q, coco_buf *out, char **err)
{
	const coco_gsource *s = &g->sources[source];
	size_t plen;
	coco_arena a = {0};
	coco_buf k0 = {0}, kt = {0}, lv = {0};
	if (after) {
		coco_value key;
		if (coco_inspect_key_parse(g, source, after, &a, &key, err)) {
			coco_arena_destroy(&a);
			return -1;
		}
		coco_value_encode(&key, &kt);
		row_key(&k0, s->name, kt.p, kt.n);
		coco_buf_putc(&k0, 0);      /* the first key after it */
	}
	coco_iter *it = row_iter(st, NULL, COCO_CF_TRACKING, s->name, &plen);
	if (after)
		coco_iter_seek(it, k0.p, k0.n);
	const char *k, *v;
	size_t kn, vn, n = 0;
	int rc;
	coco_buf_adds(out, "{\"rows\":[");
	char *next = NULL;
	coco_buf last = {0};            /* key text of the last row shown */
	while ((rc = coco_iter_next(it, &k, &kn, &v, &vn, err)) == 1) {
		coco_arena_reset(&a);
		coco_value key;
		const char *p = k + plen;
		trk t;
		if (coco_value_decode(&p, k + kn, &a, &key) || trk_decode(v, vn, &t))
			continue;
		coco_buf_clear(&kt);
		coco_inspect_key_text(&key, &kt);
		if (q && *q && !strcasestr(kt.p ? kt.p : "", q))
			continue;
		if (n == limit) {
			next = coco_strdup(last.p ? last.p : "");
			break;
		}
		coco_buf_clear(&last);
		coco_buf_add(&last, kt.p ? kt.p : "", kt.n);
		lcount lc = {0};
		if (coco_state_get(st, COCO_CF_LINEAGE, k, kn, &lv, NULL) == 1)
			lin_each(lv.p, lv.n, count_cb, &lc);
		if (n++)
			coco_buf_putc(out, ',');
		coco_buf_adds(out, "{\"key\":");
		coco_value_to_json(&key, NULL, out);
		coco_buf_adds(out, ",\"key_text\":");
		coco_json_str(out, kt.p ? kt.p : "", kt.n);
		coco_buf_adds(out, ",\"ordinal\":");
		jhex(out, t.ord, t.nord);
		coco_buf_printf(out, ",\"current\":%s,\"staged\":%s,\"targets\":%zu}",
			coco_fp_eq(t.logic, s->logic) ? "true" : "false",
			(t.flags & 1) ? "true" : "false", lc.n);
	}
	coco_iter_destroy(it);
	coco_buf_adds(out, "],\"next\":");
	if (next)
		jstr(out, next);
	else
		coco_buf_adds(out, "null");
	coco_buf_putc(out, '}');
	free(next);
	coco_buf_free(&last);
	coco_buf_free(&k0);
	coco_buf_free(&kt);
	coco_buf_free(&lv);
	coco_arena_destroy(&a);
	return rc < 0 ? -1 : 0;
}

/* ---- one row through every step ---------------------------------------------- */
typedef struct tframe {
	int scope;
	const coco_value *v;
	size_t first, n;              /* its nested frames: kids[first .. first+n) */
} tframe;

typedef struct trace {
	const coco_graph *g;
	tframe *done;                 /* completed frames, a stack */
	size_t ndone, capdone;
	tframe *kids;                 /* claimed nested frames, in order */
	size_t nkids, capkids;
} trace;

static void on_frame(void *ud, int scope, const coco_value *frame)
{
	trace *t = ud;
	/* the frames on top whose scope is a child of this one are its rows */
	size_t top = t->ndone;
	while (top > 0 && t->g->scopes[t->done[top - 1].scope].parent == scope &&
	       t->done[top - 1].scope != scope)
		top--;
	tframe f = { scope, frame, t->nkids, t->ndone - top };
	for (size_t i = top; i < t->ndone; i++) {
		if (t->nkids == t->capkids) {
			t->capkids = t->capkids ? t->capkids * 2 : 64;
			t->kids = coco_xrealloc(t->kids, t->capkids * sizeof *t->kids);
		}
		t->kids[t->nkids++] = t->done[i];
	}
	t->ndone = top;
	if (t->ndone == t->capdone) {
		t->capdone = t->capdone ? t->capdone * 2 : 64;
		t->done = coco_xrealloc(t->done, t->capdone * sizeof *t->done);
	}
	t->done[t->ndone++] = f;
}

static void jframe(coco_buf *b, const trace *t, const tframe *f)
{
	const gscope *sc = &t->g->scopes[f->scope];
	coco_buf_printf(b, "{\"scope\":%d,\"fields\":[", f->scope);
	int first = 1;
	for (size_t i = 0; i < sc->nfields; i++) {
		/* tables run by row() come as nested frames */
		int nested = 0;
		for (size_t o = 0; o < sc->nops; o++)
			if (sc->ops[o].kind == OP_FOREACH && sc->ops[o].in.scope == f->scope &&
			    sc->ops[o].in.field == (int)i && !sc->ops[o].in.npath)
				nested = 1;
		if (!first)
			coco_buf_putc(b, ',');
		first = 0;
		coco_buf_adds(b, "{\"name\":");
		jstr(b, sc->fields[i].name ? sc->fields[i].name : "");
		coco_buf_adds(b, ",\"type\":");
		jtype(b, sc->fields[i].type);
		if (nested) {
			coco_buf_printf(b, ",\"rows\":%zu}", f->v[i].kind == COCO_TABLE ? f->v[i].n : 0);
			continue;
		}
		coco_buf_adds(b, ",\"value\":");
		coco_value_to_json(&f->v[i], sc->fields[i].type, b);
		coco_buf_putc(b, '}');
	}
	coco_buf_adds(b, "],\"nested\":{");
	/* group the nested frames by the foreach op that made them */
	int firstop = 1;
	for (size_t o = 0; o < sc->nops; o++) {
		const gop *op = &sc->ops[o];
		if (op->kind != OP_FOREACH)
			continue;
		if (!firstop)
			coco_buf_putc(b, ',');
		firstop = 0;
		jref(b, t->g, &op->in);
		coco_buf_adds(b, ":[");
		int firstrow = 1;
		for (size_t k = 0; k < f->n; k++) {
			const tframe *c = &t->kids[f->first + k];
			if (c->scope != op->child)
				continue;
			if (!firstrow)
				coco_buf_putc(b, ',');
			firstrow = 0;
			jframe(b, t, c);
		}
		coco_buf_putc(b, ']');
	}
	coco_buf_adds(b, "}}");
}

typedef struct lin_out {
	coco_buf *b;
	int n;
	const coco_graph *g;
	coco_rows *rows;
	coco_arena *a;
} lin_out;

/* 1 if the evaluation collects this (export, key) now; *same: with the fp. */
static int collected(lin_out *o, const char *exp, size_t nexp, const char *key, size_t nkey,
	coco_fp fp, int *same)
{
	coco_buf kb = {0};
	int found = 0;
	int xi = export_of(o->g, exp, nexp);
	for (size_t x = 0; x < o->g->nexports && !found; x++) {
		const coco_gexport *xp = &o->g->exports[x];
		if ((int)x != xi)
			continue;
		for (size_t i = 0; i < o->rows[x].n && !found; i++) {
			const coco_value *row = &o->rows[x].rows[i];
			coco_value k = { .kind = COCO_STRUCT, .n = xp->info.nkeys, .u.fields = row->u.fields };
			coco_buf_clear(&kb);
			coco_value_encode(&k, &kb);
			if (kb.n == nkey && !memcmp(kb.p, key, nkey)) {
				found = 1;
				*same = coco_fp_eq(coco_fp_value(row), fp);
			}
		}
	}
	coco_buf_free(&kb);
	return found;
}

static void lin_json(void *ud, const char *exp, size_t nexp, const char *key, size_t nkey,
	coco_fp fp)
{
	lin_out *o = ud;
	coco_value kv;
	const char *p = key;
	if (coco_value_decode(&p, key + nkey, o->a, &kv))
		return;
	int same = 0;
	int now = collected(o, exp, nexp, key, nkey, fp, &same);
	if (o->n++)
		coco_buf_putc(o->b, ',');
	int xi = export_of(o->g, exp, nexp);
	coco_buf_adds(o->b, "{\"export\":");
	if (xi >= 0)
		jstr(o->b, o->g->exports[xi].name);
	else
		coco_json_str(o->b, exp, nexp);
	coco_buf_adds(o->b, ",\"key\":");
	coco_value_to_json(&kv, NULL, o->b);
	coco_buf_printf(o->b, ",\"written\":true,\"current\":%s,\"same\":%s}", now ? "true" : "false",
		same ? "true" : "false");
}

int coco_inspect_row(const coco_graph *g, coco_state *st, size_t source, const coco_value *key,
	coco_buf *out, char **err)
{
	const coco_gsource *s = &g->sources[source];
	void *src = NULL;
	char *e = NULL;
	if (s->ops->open(s->opts, g->base_dir, &src, &e)) {
		coco_seterr(err, "%s (%s): %s", s->name, s->where, e ? e : "cannot open source");
		free(e);
		return -1;
	}
	coco_arena a = {0};
	coco_buf ord = {0}, kt = {0}, sk = {0}, rec = {0};
	coco_value row;
	int rr = s->ops->read(src, key, &a, &row, &ord, &e);
	if (rr == 1 || rr < 0) {
		s->ops->close(src);
		coco_arena_destroy(&a);
		coco_buf_free(&ord);
		if (rr == 1)
			return 1;
		coco_seterr(err, "%s", e ? e : "cannot read the row");
		free(e);
		return -1;
	}
	free(e);
	e = NULL;
	/* rr == 2: read with a warning; evaluated all the same */
	memo_ctx m = { .st = st };
	coco_memo memo = { .get = memo_get, .ud = &m };
	coco_rows *rows = coco_xcalloc(g->nexports + 1, sizeof *rows);
	trace t = { .g = g };
	int xrc = coco_exec_row_trace(g, source, &row, &a, &memo, rows, on_frame, &t, &e);

	coco_inspect_key_text(key, &kt);
	coco_buf_adds(out, "{\"source\":");
	jstr(out, s->name);
	coco_buf_adds(out, ",\"key\":");
	coco_value_to_json(key, NULL, out);
	coco_buf_adds(out, ",\"key_text\":");
	coco_json_str(out, kt.p ? kt.p : "", kt.n);
	coco_buf_adds(out, ",\"ordinal\":");
	jhex(out, ord.p ? ord.p : "", ord.n);
	/* state: tracking and lineage */
	coco_buf kb = {0};
	coco_value_encode(key, &kb);
	row_key(&sk, s->name, kb.p, kb.n);
	coco_buf_free(&kb);
	coco_buf_adds(out, ",\"state\":");
	trk tr;
	if (st && coco_state_get(st, COCO_CF_TRACKING, sk.p, sk.n, &rec, NULL) == 1 &&
	    !trk_decode(rec.p, rec.n, &tr)) {
		coco_buf_adds(out, "{\"ordinal\":");
		jhex(out, tr.ord, tr.nord);
		coco_buf_printf(out, ",\"current\":%s,\"up_to_date\":%s}",
			coco_fp_eq(tr.logic, s->logic) ? "true" : "false",
			coco_fp_eq(tr.logic, s->logic) && tr.nord == ord.n && ord.n &&
			!memcmp(tr.ord, ord.p, ord.n) ? "true" : "false");
	} else {
		coco_buf_adds(out, "null");
	}
	coco_buf_adds(out, ",\"error\":");
	if (xrc)
		jstr(out, e ? e : "failed");
	else
		coco_buf_adds(out, "null");
	coco_buf_adds(out, ",\"frame\":");
	const tframe *root = NULL;
	for (size_t i = 0; i < t.ndone; i++)
		if (t.done[i].scope == s->scope)
			root = &t.done[i];
	if (root) {
		jframe(out, &t, root);
	} else {                        /* a row error before the row scope finished */
		coco_buf_adds(out, "null");
	}
	coco_buf_adds(out, ",\"exports\":{");
	for (size_t x = 0; x < g->nexports; x++) {
		const coco_gexport *xp = &g->exports[x];
		if (x)
			coco_buf_putc(out, ',');
		jstr(out, xp->name);
		coco_buf_adds(out, ":[");
		for (size_t i = 0; !xrc && i < rows[x].n; i++) {
			if (i)
				coco_buf_putc(out, ',');
			coco_value_to_json(&rows[x].rows[i], xp->info.row_type, out);
		}
		coco_buf_putc(out, ']');
	}
	coco_buf_adds(out, "},\"lineage\":[");
	lin_out lo = { out, 0, g, rows, &a };
	if (st && coco_state_get(st, COCO_CF_LINEAGE, sk.p, sk.n, &rec, NULL) == 1)
		lin_each(rec.p, rec.n, lin_json, &lo);
	coco_buf_adds(out, "]}");
	free(e);
	free(t.done);
	free(t.kids);
	free(rows);
	coco_buf_free(&m.val);
	coco_buf_free(&m.used);
	coco_buf_free(&ord);
	coco_buf_free(&kt);
	coco_buf_free(&sk);
	coco_buf_free(&rec);
	coco_arena_destroy(&a);
	s->ops->close(src);
	return 0;
}

/* ---- what an export holds -------------------------------------------------------- */
typedef struct xout {
	coco_buf *b;
	const char *exp;
	size_t n, limit;
	coco_arena *a;
	const char *sname;
	const coco_value *skey;
	const char *rid;              /* the export's resource id */
} xout;

static void x_cb(void *ud, const char *exp, size_t nexp, const char *key, size_t nkey,
	coco_fp fp)
{
	xout *o = ud;
	if (!((strlen(o->exp) == nexp && !memcmp(o->exp, exp, nexp)) ||
	      (o->rid && strlen(o->rid) == nexp && !memcmp(o->rid, exp, nexp))))
		return;
	coco_value kv;
	const char *p = key;
	if (coco_value_decode(&p, key + nkey, o->a, &kv))
		return;
	if (o->n++)
		coco_buf_putc(o->b, ',');
	coco_buf_adds(o->b, "{\"key\":");
	coco_value_to_json(&kv, NULL, o->b);
	coco_buf_adds(o->b, ",\"source\":");
	jstr(o->b, o->sname);
	coco_buf_adds(o->b, ",\"source_key\":");
	coco_buf t = {0};
	coco_inspect_key_text(o->skey, &t);
	coco_json_str(o->b, t.p ? t.p : "", t.n);
	coco_buf_free(&t);
	coco_buf_putc(o->b, '}');
}

int coco_inspect_export(const coco_graph *g, coco_state *st, size_t x, const char *after,
	size_t limit, coco_buf *out, char **err)
{
	const coco_gexport *xp = &g->exports[x];
	coco_arena a = {0};
	coco_buf ak = {0};
	/* after: the hex of the state key of the last source row shown */
	for (size_t i = 0; after && after[i] && after[i + 1]; i += 2) {
		unsigned v;
		if (sscanf(after + i, "%2x", &v) != 1) {
			coco_buf_free(&ak);
			return coco_seterr(err, "after: not a page token");
		}
		coco_buf_putc(&ak, (char)v);
	}
	if (ak.n)
		coco_buf_putc(&ak, 0);
	coco_iter *it = coco_state_iter(st, COCO_CF_LINEAGE, NULL, 0);
	if (ak.n)
		coco_iter_seek(it, ak.p, ak.n);
	const char *k, *v;
	size_t kn, vn;
	int rc;
	coco_buf_adds(out, "{\"rows\":[");
	coco_buf rid = {0}, desc = {0};
	char *de = NULL;
	xp->ops->describe(xp->opts, &xp->info, &rid, &desc, &de);
	free(de);
	xout o = { out, xp->name, 0, limit, &a, NULL, NULL, rid.p };
	char *next = NULL;
	coco_buf last = {0};            /* state key of the last source row shown */
	while ((rc = coco_iter_next(it, &k, &kn, &v, &vn, err)) == 1) {
		if (o.n >= limit) {
			coco_buf t = {0};
			for (size_t i = 0; i < last.n; i++)
				coco_buf_printf(&t, "%02x", (unsigned char)last.p[i]);
			next = coco_buf_take(&t);
			break;
		}
		coco_buf_clear(&last);
		coco_buf_add(&last, k, kn);
		coco_arena_reset(&a);
		const char *nul = memchr(k, 0, kn);
		if (!nul)
			continue;
		coco_value skey;
		const char *p = nul + 1;
		if (coco_value_decode(&p, k + kn, &a, &skey))
			continue;
		o.sname = coco_arena_strndup(&a, k, (size_t)(nul - k));
		o.skey = &skey;
		lin_each(v, vn, x_cb, &o);
	}
	coco_iter_destroy(it);
	/* the page ends at a source row's end: "next" is the key after which to go on */
	coco_buf_adds(out, "],\"next\":");
	if (next)
		jstr(out, next);
	else
		coco_buf_adds(out, "null");
	coco_buf_putc(out, '}');
	coco_buf_free(&last);
	coco_buf_free(&rid);
	coco_buf_free(&desc);
	free(next);
	coco_buf_free(&ak);
	coco_arena_destroy(&a);
	return rc < 0 ? -1 : 0;
}
