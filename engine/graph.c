/* The graph compiler: DSL statements -> scopes, ops, types, fingerprints. */
#include "engine/graph_int.h"
#include "engine/secret.h"
#include "engine/sys.h"

#include <stdlib.h>
#include <string.h>

#define GROW(arr, n, cap) do { \
	if ((n) == (cap)) { \
		size_t nc_ = (cap) ? (cap) * 2 : 8; \
		void *np_ = coco_arena_alloc(&g->arena, nc_ * sizeof *(arr)); \
		if (n) memcpy(np_, (arr), (n) * sizeof *(arr)); \
		(arr) = np_; (cap) = nc_; \
	} \
} while (0)

/* Error with location: "where: message". */
static int gerr(char **err, const char *where, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int gerr(char **err, const char *where, const char *fmt, ...)
{
	coco_buf b = {0};
	if (where && *where)
		coco_buf_printf(&b, "%s: ", where);
	va_list ap;
	va_start(ap, fmt);
	coco_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (err) {
		free(*err);
		*err = coco_buf_take(&b);
	} else {
		coco_buf_free(&b);
	}
	return -1;
}

static const char *gstr(coco_graph *g, const char *s)
{
	return s ? coco_arena_strdup(&g->arena, s) : NULL;
}

static int new_scope(coco_graph *g, int parent, int source)
{
	GROW(g->scopes, g->nscopes, g->capscopes);
	gscope *s = &g->scopes[g->nscopes];
	memset(s, 0, sizeof *s);
	s->parent = parent;
	s->source = source;
	return (int)g->nscopes++;
}

static int add_field(coco_graph *g, int scope, const char *name, const coco_type *t, coco_fp fp)
{
	gscope *s = &g->scopes[scope];
	GROW(s->fields, s->nfields, s->capfields);
	gfield *f = &s->fields[s->nfields];
	f->name = gstr(g, name);
	f->type = t;
	f->fp = fp;
	return (int)s->nfields++;
}

static gop *add_op(coco_graph *g, int scope, gop_kind kind, const char *where)
{
	gscope *s = &g->scopes[scope];
	GROW(s->ops, s->nops, s->capops);
	gop *op = &s->ops[s->nops++];
	memset(op, 0, sizeof *op);
	op->kind = kind;
	op->where = gstr(g, where);
	return op;
}

coco_graph *coco_graph_create(const char *flow_name, const char *base_dir)
{
	coco_graph *g = coco_xcalloc(1, sizeof *g);
	g->name = gstr(g, flow_name);
	g->base_dir = gstr(g, base_dir ? base_dir : ".");
	new_scope(g, -1, -1);
	return g;
}

void coco_graph_destroy(coco_graph *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->nscopes; i++) {
		gscope *s = &g->scopes[i];
		for (size_t j = 0; j < s->nops; j++)
			if (s->ops[j].kind == OP_TRANSFORM && s->ops[j].fn->destroy && s->ops[j].fn_state)
				s->ops[j].fn->destroy(s->ops[j].fn_state);
	}
	coco_arena_destroy(&g->arena);
	free(g);
	coco_targets_flow_closed();
}

/* ---- options ------------------------------------------------------------ */
static coco_optval *copy_opts(coco_graph *g, const coco_optdef *defs, const coco_optval *vals)
{
	size_t n = coco_opt_count(defs);
	coco_optval *o = coco_arena_alloc(&g->arena, (n + 1) * sizeof *o);
	for (size_t i = 0; i < n && vals; i++) {
		o[i] = vals[i];
		if (vals[i].s)
			o[i].s = gstr(g, vals[i].s);
		if (vals[i].nlist) {
			o[i].list = coco_arena_alloc(&g->arena, vals[i].nlist * sizeof(char *));
			for (size_t k = 0; k < vals[i].nlist; k++)
				o[i].list[k] = gstr(g, vals[i].list[k]);
		}
	}
	return o;
}

void coco_fper_opts(coco_fper *f, const coco_optdef *defs, const coco_optval *vals)
{
	for (size_t i = 0; defs && defs[i].name; i++) {
		if (!vals[i].set || defs[i].runtime)
			continue;
		coco_fper_str(f, defs[i].name);
		coco_fper_u64(f, (uint64_t)vals[i].b);
		coco_fper_u64(f, (uint64_t)vals[i].i);
		coco_fper_bytes(f, &vals[i].num, sizeof vals[i].num);
		if (vals[i].s && coco_has_secret(vals[i].s)) {
			/* a password is no part of the logic (a new one changes no
			 * output), and no hash of it goes into the state */
			coco_buf r = {0};
			coco_redact(vals[i].s, &r);
			coco_fper_str(f, r.p);
			coco_buf_free(&r);
		} else {
			coco_fper_str(f, vals[i].s);
		}
		coco_fper_u64(f, vals[i].nlist);
		for (size_t k = 0; k < vals[i].nlist; k++)
			coco_fper_str(f, vals[i].list[k]);
	}
}

static void fper_type(coco_fper *f, const coco_type *t)
{
	coco_buf b = {0};
	coco_type_format(t, &b);
	coco_fper_bytes(f, b.p, b.n);
	coco_buf_free(&b);
}

/* ---- refs --------------------------------------------------------------- */
static const gfield *ref_field(const coco_graph *g, const coco_fieldref *r)
{
	return &g->scopes[r->scope].fields[r->field];
}

const coco_type *coco_graph_ref_type(const coco_graph *g, const coco_fieldref *r)
{
	const coco_type *t = ref_field(g, r)->type;
	for (uint32_t i = 0; i < r->npath && t->kind != COCO_JSON; i++)
		t = t->fields[r->path[i]].type;
	return t;   /* a member read from a json value is json */
}

static coco_fp ref_fp(const coco_graph *g, const coco_fieldref *r)
{
	coco_fp fp = ref_field(g, r)->fp;
	if (!r->npath)
		return fp;
	coco_fper *f = coco_fper_create();
	coco_fper_fp(f, fp);
	for (uint32_t i = 0; i < r->npath; i++) {
		if (r->path[i] & COCO_JSON_PATH)
			coco_fper_str(f, g->jkeys[r->path[i] & ~COCO_JSON_PATH]);
		else
			coco_fper_u64(f, r->path[i]);
	}
	fp = coco_fper_digest(f);
	coco_fper_destroy(f);
	return fp;
}

void coco_graph_ref_name(const coco_graph *g, const coco_fieldref *r, coco_buf *out)
{
	const gfield *fd = ref_field(g, r);
	coco_buf_adds(out, fd->name ? fd->name : "(unnamed)");
	const coco_type *t = fd->type;
	for (uint32_t i = 0; i < r->npath; i++) {
		if (r->path[i] & COCO_JSON_PATH) {
			coco_buf_printf(out, ".%s", g->jkeys[r->path[i] & ~COCO_JSON_PATH]);
			continue;
		}
		coco_buf_printf(out, ".%s", t->fields[r->path[i]].name);
		t = t->fields[r->path[i]].type;
	}
}

/* Is `scope` equal to `anc` or a descendant of it? */
static int within(const coco_graph *g, int scope, int anc)
{
	for (int s = scope; s >= 0; s = g->scopes[s].parent)
		if (s == anc)
			return 1;
	return 0;
}

static int check_ref(coco_graph *g, int scope, const coco_fieldref *r, const char *where, char **err)
{
	if (r->scope < 0 || (size_t)r->scope >= g->nscopes ||
	    r->field < 0 || (size_t)r->field >= g->scopes[r->scope].nfields)
		return gerr(err, where, "invalid field reference");
	if (!within(g, scope, r->scope)) {
		coco_buf b = {0};
		coco_graph_ref_name(g, r, &b);
		gerr(err, where, "field '%s' is not visible here (it belongs to another row scope)", b.p);
		coco_buf_free(&b);
		return -1;
	}
	return 0;
}

static int check_open(coco_graph *g, const char *where, char **err)
{
	if (g->finished)
		return gerr(err, where, "flow '%s' is already built; it cannot be changed", g->name);
	return 0;
}

/* ---- building ----------------------------------------------------------- */
int coco_graph_add_source(coco_graph *g, const coco_source_ops *ops, const coco_optval *opts,
	const coco_source_opts *sopts, const char *where, coco_fieldref *out, char **err)
{
	if (check_open(g, where, err))
		return -1;
	const coco_type *rt = NULL;
	char *e = NULL;
	if (ops->row_type(opts, &g->arena, &rt, &e)) {
		size_t n = strlen(ops->name);
		int named = e && !strncmp(e, ops->name, n) && e[n] == ':';   /* "LocalFile: ..." */
		gerr(err, where, "%s%s%s", named ? "" : ops->name, named ? "" : ": ",
			e ? e : "invalid options");
		free(e);
		return -1;
	}
	GROW(g->sources, g->nsources, g->capsources);
	coco_gsource *s = &g->sources[g->nsources];
	memset(s, 0, sizeof *s);
	s->ops = ops;
	s->opts = copy_opts(g, ops->opts, opts);
	if (sopts)
		s->sopts = *sopts;
	s->row_type = rt;
	s->scope = -1;
	s->where = gstr(g, where);

	coco_fper *f = coco_fper_create();
	coco_fper_str(f, "source");
	coco_fper_str(f, ops->name);
	coco_fper_opts(f, ops->opts, s->opts);
	fper_type(f, rt);
	coco_fp fp = coco_fper_digest(f);
	coco_fper_destroy(f);

	s->field = add_field(g, 0, NULL, rt, fp);
	memset(out, 0, sizeof *out);
	out->scope = 0;
	out->field = s->field;
	g->nsources++;
	return 0;
}

static int name_taken(const gscope *s, const char *name)
{
	for (size_t i = 0; i < s->nfields; i++)
		if (s->fields[i].name && !strcmp(s->fields[i].name, name))
			return 1;
	return 0;
}

int coco_graph_name_field(coco_graph *g, int scope, const coco_fieldref *ref, const char *name,
	const char *where, char **err)
{
	if (check_open(g, where, err))
		return -1;
	if (!name || !*name)
		return gerr(err, where, "a field needs a non-empty name");
	if (ref->scope != scope || ref->npath) {
		return gerr(err, where, "cannot assign '%s' here: the value was computed in another "
			"row scope (assign it in the row function where it is computed)", name);
	}
	gscope *s = &g->scopes[scope];
	gfield *f = &s->fields[ref->field];
	if (f->name) {
		if (!strcmp(f->name, name))
			return 0;
		return gerr(err, where, "this value is already named '%s'; cannot also name it '%s'",
			f->name, name);
	}
	if (name_taken(s, name))
		return gerr(err, where, "field '%s' already exists in this %s", name,
			scope == 0 ? "flow" : "row");
	f->name = gstr(g, name);
	if (scope == 0)
		for (size_t i = 0; i < g->nsources; i++)
			if (g->sources[i].field == ref->field)
				g->sources[i].name = f->name;
	return 0;
}

static void field_names(const gscope *s, coco_buf *b)
{
	int first = 1;
	for (size_t i = 0; i < s->nfields; i++) {
		if (!s->fields[i].name)
			continue;
		coco_buf_printf(b, "%s%s", first ? "" : ", ", s->fields[i].name);
		first = 0;
	}
	if (first)
		coco_buf_adds(b, "(none)");
}

int coco_graph_field(coco_graph *g, int scope, const char *name, const char *where,
	coco_fieldref *out, char **err)
{
	gscope *s = &g->scopes[scope];
	for (size_t i = 0; i < s->nfields; i++) {
		if (s->fields[i].name && !strcmp(s->fields[i].name, name)) {
			memset(out, 0, sizeof *out);
			out->scope = scope;
			out->field = (int)i;
			return 0;
		}
	}
	coco_buf b = {0};
	field_names(s, &b);
	gerr(err, where, "unknown field '%s'; fields: %s", name, b.p);
	coco_buf_free(&b);
	return -1;
}

int coco_graph_subfield(coco_graph *g, const coco_fieldref *ref, const char *name,
	const char *where, coco_fieldref *out, char **err)
{
	const coco_type *t = coco_graph_ref_type(g, ref);
	if (t->kind == COCO_JSON) {
		/* a member of a json value (or the name-th element of an array),
		 * json itself; null at run time when it is missing */
		if (ref->npath >= COCO_MAX_PATH)
			return gerr(err, where, "json members nested too deep (at most %d levels)",
				COCO_MAX_PATH);
		size_t k = 0;
		while (k < g->njkeys && strcmp(g->jkeys[k], name))
			k++;
		if (k == g->njkeys) {
			if (k >= COCO_JSON_PATH)
				return gerr(err, where, "too many json member names");
			GROW(g->jkeys, g->njkeys, g->capjkeys);
			g->jkeys[g->njkeys++] = gstr(g, name);
		}
		*out = *ref;
		out->path[out->npath++] = (uint16_t)(COCO_JSON_PATH | k);
		return 0;
	}
	int i = t->kind == COCO_STRUCT ? coco_type_field(t, name) : -1;
	if (i < 0) {
		coco_buf b = {0}, tb = {0};
		coco_graph_ref_name(g, ref, &b);
		if (t->kind != COCO_STRUCT) {
			coco_type_format(t, &tb);
			gerr(err, where, "cannot read field '%s' of '%s': it is a %s, not a struct", name,
				b.p, tb.p);
		} else {
			coco_type_field_names(t, &tb);
			gerr(err, where, "unknown field '%s' of '%s'; fields: %s", name, b.p, tb.p);
		}
		coco_buf_free(&tb);
		coco_buf_free(&b);
		return -1;
	}
	if (ref->npath >= COCO_MAX_PATH)
		return gerr(err, where, "struct fields nested too deep");
	*out = *ref;
	out->path[out->npath++] = (uint16_t)i;
	return 0;
}

int coco_graph_foreach(coco_graph *g, int cur_scope, const coco_fieldref *table,
	const char *where, int *child, char **err)
{
	if (check_open(g, where, err) || check_ref(g, cur_scope, table, where, err))
		return -1;
	const coco_type *t = coco_graph_ref_type(g, table);
	if (t->kind != COCO_TABLE) {
		coco_buf b = {0}, tb = {0};
		coco_graph_ref_name(g, table, &b);
		coco_type_format(t, &tb);
		gerr(err, where, "row() needs a table, but '%s' is a %s", b.p, tb.p);
		coco_buf_free(&b);
		coco_buf_free(&tb);
		return -1;
	}
	int source = -1;
	if (table->scope == 0 && !table->npath) {
		for (size_t i = 0; i < g->nsources; i++)
			if (g->sources[i].field == table->field)
				source = (int)i;
		if (source >= 0 && g->sources[source].scope >= 0)
			return gerr(err, where, "row() was already called on source '%s'; "
				"put everything for its rows in one row function", g->sources[source].name);
	} else {
		source = g->scopes[cur_scope].source;
	}
	if (source < 0)
		return gerr(err, where, "row() needs a source table or a table inside a row");
	int c = new_scope(g, table->scope == 0 ? 0 : cur_scope, source);
	coco_fp base = ref_fp(g, table);
	for (uint32_t i = 0; i < t->nfields; i++) {
		coco_fper *f = coco_fper_create();
		coco_fper_fp(f, base);
		coco_fper_str(f, "row");
		coco_fper_u64(f, i);
		add_field(g, c, t->fields[i].name, t->fields[i].type, coco_fper_digest(f));
		coco_fper_destroy(f);
	}
	g->scopes[c].nbase = (int)t->nfields;
	if (table->scope == 0 && !table->npath) {
		g->sources[source].scope = c;
	} else {
		gop *op = add_op(g, cur_scope, OP_FOREACH, where);
		op->in = *table;
		op->child = c;
	}
	*child = c;
	return 0;
}

static void arg_label(const coco_function_ops *fn, size_t i, coco_buf *b)
{
	if (fn->args)
		coco_buf_printf(b, "argument '%s'", fn->args[i].name);
	else
		coco_buf_printf(b, "argument %zu", i + 1);
}

static int arg_type(coco_graph *g, const coco_arg *a, const coco_type **t)
{
	if (a->kind == COCO_ARG_REF) {
		*t = coco_graph_ref_type(g, &a->ref);
		return 0;
	}
	switch (a->konst.kind) {
	case COCO_NULL: *t = &coco_t_null; break;
	case COCO_BOOL: *t = &coco_t_bool; break;
	case COCO_INT64: *t = &coco_t_int64; break;
	case COCO_FLOAT32: *t = &coco_t_float32; break;
	case COCO_FLOAT64: *t = &coco_t_float64; break;
	case COCO_STR: *t = &coco_t_str; break;
	case COCO_BYTES: *t = &coco_t_bytes; break;
	case COCO_JSON: *t = &coco_t_json; break;
	case COCO_RANGE: *t = &coco_t_range; break;
	default: return -1;
	}
	return 0;
}

int coco_graph_transform(coco_graph *g, int scope, const coco_function_ops *fn,
	const coco_optval *spec, void *udata, const coco_fn_logic *logic, const char *fn_label,
	const coco_arg *args, size_t nargs, const char *where, coco_fieldref *out, char **err)
{
	if (check_open(g, where, err))
		return -1;
	const char *label = fn_label ? fn_label : fn->name;
	if (scope == 0)
		return gerr(err, where, "%s: transforms run inside a row function "
			"(slice:row(function(row) ... end))", label);
	/* Resolve arguments to the function's order. */
	size_t nslots = nargs;
	if (fn->args) {
		nslots = 0;
		while (fn->args[nslots].name)
			nslots++;
	}
	coco_arg *slots = coco_arena_alloc(&g->arena, (nslots + 1) * sizeof *slots);
	char *filled = coco_arena_alloc(&g->arena, nslots + 1);
	size_t npos = 0;
	for (size_t i = 0; i < nargs; i++) {
		size_t k;
		if (!args[i].name) {
			k = npos++;
			if (k >= nslots)
				return gerr(err, where, "%s takes at most %zu arguments, got %zu", label, nslots, k + 1);
		} else {
			if (!fn->args)
				return gerr(err, where, "%s takes positional arguments only, got '%s'", label, args[i].name);
			for (k = 0; k < nslots && strcmp(fn->args[k].name, args[i].name); k++)
				;
			if (k == nslots) {
				coco_buf b = {0};
				for (size_t j = 0; j < nslots; j++)
					coco_buf_printf(&b, "%s%s", j ? ", " : "", fn->args[j].name);
				gerr(err, where, "%s: unknown argument '%s'; arguments: %s", label, args[i].name, b.p);
				coco_buf_free(&b);
				return -1;
			}
			if (filled[k])
				return gerr(err, where, "%s: argument '%s' given twice", label, args[i].name);
		}
		if (args[i].kind == COCO_ARG_UUID)
			return gerr(err, where, "%s: coco.generated.uuid can only be collected", label);
		if (args[i].kind == COCO_ARG_REF && check_ref(g, scope, &args[i].ref, where, err))
			return -1;
		slots[k] = args[i];
		slots[k].name = fn->args ? fn->args[k].name : NULL;
		if (args[i].kind == COCO_ARG_CONST)
			coco_value_copy(&g->arena, &args[i].konst, &slots[k].konst);
		filled[k] = 1;
	}
	coco_arg_info *info = coco_arena_alloc(&g->arena, (nslots + 1) * sizeof *info);
	for (size_t k = 0; k < nslots; k++) {
		if (!filled[k]) {
			if (fn->args && fn->args[k].required)
				return gerr(err, where, "%s: missing required argument '%s'", label, fn->args[k].name);
			slots[k].kind = COCO_ARG_CONST;
			slots[k].konst = coco_v_null();
			info[k].type = &coco_t_null;
			info[k].konst = &slots[k].konst;
			continue;
		}
		const coco_type *t = NULL;
		if (arg_type(g, &slots[k], &t))
			return gerr(err, where, "%s: unsupported constant argument", label);
		uint32_t kinds = fn->args ? fn->args[k].kinds : 0;
		if (kinds && t->kind != COCO_NULL && !(kinds & (1u << t->kind))) {
			coco_buf b = {0}, want = {0};
			arg_label(fn, k, &b);
			for (int kk = 0; kk < COCO_KIND_COUNT; kk++)
				if (kinds & (1u << kk))
					coco_buf_printf(&want, "%s%s", want.n ? " or " : "", coco_kind_name((coco_kind)kk));
			coco_buf tb = {0};
			coco_type_format(t, &tb);
			if (slots[k].kind == COCO_ARG_REF) {
				coco_buf rn = {0};
				coco_graph_ref_name(g, &slots[k].ref, &rn);
				gerr(err, where, "%s: %s must be %s, but '%s' is %s", label, b.p, want.p, rn.p, tb.p);
				coco_buf_free(&rn);
			} else {
				gerr(err, where, "%s: %s must be %s, got %s", label, b.p, want.p, tb.p);
			}
			coco_buf_free(&b);
			coco_buf_free(&want);
			coco_buf_free(&tb);
			return -1;
		}
		info[k].type = t;
		info[k].konst = slots[k].kind == COCO_ARG_CONST ? &slots[k].konst : NULL;
	}
	const coco_type *ot = NULL;
	void *state = NULL;
	char *e = NULL;
	if (fn->prepare(spec, udata, info, nslots, &g->arena, &ot, &state, &e)) {
		gerr(err, where, "%s", e ? e : "invalid arguments");
		free(e);
		return -1;
	}
	gop *op = add_op(g, scope, OP_TRANSFORM, where);
	op->fn = fn;
	op->fn_label = gstr(g, label);
	op->fn_state = state;
	op->args = slots;
	op->nargs = nslots;
	op->cache = (logic && logic->cache) || fn->cached;

	coco_fper *f = coco_fper_create();
	coco_fper_str(f, "fn");
	coco_fper_str(f, fn->name);
	coco_fper_str(f, label);
	coco_fper_opts(f, fn->spec_opts, spec);
	if (logic)
		coco_fper_fp(f, logic->logic);
	fper_type(f, ot);
	op->fn_fp = coco_fper_digest(f);
	for (size_t k = 0; k < nslots; k++) {
		if (slots[k].kind == COCO_ARG_REF)
			coco_fper_fp(f, ref_fp(g, &slots[k].ref));
		else
			coco_fper_value(f, &slots[k].konst);
	}
	op->fp = coco_fper_digest(f);
	coco_fper_destroy(f);
	op->out = add_field(g, scope, NULL, ot, op->fp);
	memset(out, 0, sizeof *out);
	out->scope = scope;
	out->field = op->out;
	return 0;
}

int coco_graph_add_collector(coco_graph *g, const char *where, int *collector, char **err)
{
	if (check_open(g, where, err))
		return -1;
	GROW(g->collectors, g->ncollectors, g->capcollectors);
	gcollector *c = &g->collectors[g->ncollectors];
	memset(c, 0, sizeof *c);
	c->where = gstr(g, where);
	*collector = (int)g->ncollectors++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Where an earlier collect into `collector` is (for error messages). */
static const char *collect_where(const coco_graph *g, int collector)
{
	for (size_t s = 0; s < g->nscopes; s++)
		for (size_t i = 0; i < g->scopes[s].nops; i++)
			if (g->scopes[s].ops[i].kind == OP_COLLECT && g->scopes[s].ops[i].collector == collector)
				return g->scopes[s].ops[i].where;
	return g->collectors[collector].where;
}

int coco_graph_collect(coco_graph *g, int scope, int collector, const char *const *names,
	const coco_arg *vals, size_t n, const char *where, char **err)
{
	if (check_open(g, where, err))
		return -1;
	if (scope == 0)
		return gerr(err, where, "collect() runs inside a row function");
	if (collector < 0 || (size_t)collector >= g->ncollectors)
		return gerr(err, where, "invalid collector");
	if (n == 0)
		return gerr(err, where, "collect{} needs at least one field");
	gcollector *c = &g->collectors[collector];
	const char **sorted = coco_arena_alloc(&g->arena, n * sizeof *sorted);
	for (size_t i = 0; i < n; i++)
		sorted[i] = names[i];
	qsort(sorted, n, sizeof *sorted, cmp_str);
	for (size_t i = 1; i < n; i++)
		if (!strcmp(sorted[i], sorted[i - 1]))
			return gerr(err, where, "field '%s' collected twice", sorted[i]);
	const coco_type **types = coco_arena_alloc(&g->arena, n * sizeof *types);
	coco_arg *ordered = coco_arena_alloc(&g->arena, n * sizeof *ordered);
	for (size_t i = 0; i < n; i++) {
		size_t j = 0;
		while (strcmp(names[j], sorted[i]))
			j++;
		ordered[i] = vals[j];
		if (vals[j].kind == COCO_ARG_REF) {
			if (check_ref(g, scope, &vals[j].ref, where, err))
				return -1;
			types[i] = coco_graph_ref_type(g, &vals[j].ref);
		} else if (vals[j].kind == COCO_ARG_UUID) {
			types[i] = &coco_t_str;
		} else {
			coco_value_copy(&g->arena, &vals[j].konst, &ordered[i].konst);
			if (arg_type(g, &vals[j], &types[i]))
				return gerr(err, where, "collect: unsupported constant for field '%s'", names[j]);
		}
	}
	if (c->ncollects == 0) {
		c->names = coco_arena_alloc(&g->arena, n * sizeof *c->names);
		for (size_t i = 0; i < n; i++)
			c->names[i] = gstr(g, sorted[i]);
		c->types = types;
		c->nfields = n;
	} else {
		int same = c->nfields == n;
		for (size_t i = 0; same && i < n; i++)
			same = !strcmp(c->names[i], sorted[i]);
		if (!same) {
			coco_buf a = {0}, b = {0};
			for (size_t i = 0; i < c->nfields; i++)
				coco_buf_printf(&a, "%s%s", i ? ", " : "", c->names[i]);
			for (size_t i = 0; i < n; i++)
				coco_buf_printf(&b, "%s%s", i ? ", " : "", sorted[i]);
			gerr(err, where, "collect: this collector was given fields {%s} before (%s), now {%s}",
				a.p, collect_where(g, collector), b.p);
			coco_buf_free(&a);
			coco_buf_free(&b);
			return -1;
		}
		for (size_t i = 0; i < n; i++) {
			if (c->types[i]->kind == COCO_NULL) {
				c->types[i] = types[i];
			} else if (types[i]->kind != COCO_NULL && !coco_type_equal(c->types[i], types[i])) {
				coco_buf a = {0}, b = {0};
				coco_type_format(c->types[i], &a);
				coco_type_format(types[i], &b);
				gerr(err, where, "collect: field '%s' was %s before, now %s", sorted[i], a.p, b.p);
				coco_buf_free(&a);
				coco_buf_free(&b);
				return -1;
			}
		}
	}
	c->ncollects++;
	gop *op = add_op(g, scope, OP_COLLECT, where);
	op->collector = collector;
	op->vals = ordered;
	coco_fper *f = coco_fper_create();
	coco_fper_str(f, "collect");
	for (size_t i = 0; i < n; i++) {
		coco_fper_str(f, sorted[i]);
		coco_fper_u64(f, ordered[i].kind);
		if (ordered[i].kind == COCO_ARG_REF)
			coco_fper_fp(f, ref_fp(g, &ordered[i].ref));
		else if (ordered[i].kind == COCO_ARG_CONST)
			coco_fper_value(f, &ordered[i].konst);
	}
	op->fp = coco_fper_digest(f);
	coco_fper_destroy(f);
	return 0;
}

int coco_graph_export(coco_graph *g, int collector, const char *name, const coco_target_ops *ops,
	const coco_optval *opts, const char *const *pk, size_t npk, const char *where, char **err)
{
	if (check_open(g, where, err))
		return -1;
	if (!name || !*name)
		return gerr(err, where, "export needs a name");
	for (size_t i = 0; i < g->nexports; i++)
		if (!strcmp(g->exports[i].name, name))
			return gerr(err, where, "export '%s' already exists (%s)", name, g->exports[i].where);
	gcollector *c = &g->collectors[collector];
	if (!c->ncollects)
		return gerr(err, where, "export '%s': nothing is collected into this collector "
			"(call collector:collect{...} inside a row function first)", name);
	if (!pk || npk == 0)
		return gerr(err, where, "export '%s': primary_key_fields is required "
			"(e.g. { primary_key_fields = { \"filename\" } })", name);
	uint32_t *perm = coco_arena_alloc(&g->arena, c->nfields * sizeof *perm);
	char *used = coco_arena_alloc(&g->arena, c->nfields);
	for (size_t i = 0; i < npk; i++) {
		size_t j = 0;
		while (j < c->nfields && strcmp(c->names[j], pk[i]))
			j++;
		if (j == c->nfields) {
			coco_buf b = {0};
			for (size_t k = 0; k < c->nfields; k++)
				coco_buf_printf(&b, "%s%s", k ? ", " : "", c->names[k]);
			gerr(err, where, "export '%s': primary key field '%s' is not collected; fields: %s",
				name, pk[i], b.p);
			coco_buf_free(&b);
			return -1;
		}
		if (used[j])
			return gerr(err, where, "export '%s': primary key field '%s' listed twice", name, pk[i]);
		const coco_type *t = c->types[j];
		if (t->kind == COCO_NULL || t->kind == COCO_VECTOR || t->kind == COCO_TABLE) {
			coco_buf tb = {0};
			coco_type_format(t, &tb);
			gerr(err, where, "export '%s': primary key field '%s' cannot be a %s", name, pk[i], tb.p);
			coco_buf_free(&tb);
			return -1;
		}
		used[j] = 1;
		perm[i] = (uint32_t)j;
	}
	size_t k = npk;
	for (size_t j = 0; j < c->nfields; j++)
		if (!used[j])
			perm[k++] = (uint32_t)j;
	coco_field *fields = coco_arena_alloc(&g->arena, c->nfields * sizeof *fields);
	for (size_t i = 0; i < c->nfields; i++) {
		fields[i].name = c->names[perm[i]];
		fields[i].type = c->types[perm[i]];
	}
	GROW(g->exports, g->nexports, g->capexports);
	coco_gexport *x = &g->exports[g->nexports];
	memset(x, 0, sizeof *x);
	x->name = gstr(g, name);
	x->collector = collector;
	x->ops = ops;
	x->opts = copy_opts(g, ops->opts, opts);
	x->perm = perm;
	x->where = gstr(g, where);
	x->info.flow_name = g->name;
	x->info.export_name = x->name;
	x->info.base_dir = g->base_dir;
	x->info.row_type = coco_type_struct(&g->arena, fields, (uint32_t)c->nfields);
	x->info.nkeys = (uint32_t)npk;
	g->nexports++;
	return 0;
}

/* Collect ops reachable from scope s (its ops and its children's), mixed into f. */
static void fp_scope_collects(coco_graph *g, int s, coco_fper *f, char *feeds)
{
	gscope *sc = &g->scopes[s];
	for (size_t i = 0; i < sc->nops; i++) {
		gop *op = &sc->ops[i];
		if (op->kind == OP_FOREACH)
			fp_scope_collects(g, op->child, f, feeds);
		else if (op->kind == OP_COLLECT) {
			coco_fper_fp(f, op->fp);
			feeds[op->collector] = 1;
		}
	}
}

static int is_ref_to(const coco_fieldref *r, int scope, int field)
{
	return r->scope == scope && r->field == field;
}

/* References to field (scope, field) in the whole graph. */
static size_t count_refs(const coco_graph *g, int scope, int field)
{
	size_t n = 0;
	for (size_t s = 0; s < g->nscopes; s++)
		for (size_t i = 0; i < g->scopes[s].nops; i++) {
			const gop *op = &g->scopes[s].ops[i];
			if (op->kind == OP_FOREACH)
				n += is_ref_to(&op->in, scope, field);
			size_t na = op->kind == OP_TRANSFORM ? op->nargs :
				op->kind == OP_COLLECT ? g->collectors[op->collector].nfields : 0;
			const coco_arg *a = op->kind == OP_TRANSFORM ? op->args : op->vals;
			for (size_t k = 0; k < na; k++)
				n += a[k].kind == COCO_ARG_REF && is_ref_to(&a[k].ref, scope, field);
		}
	return n;
}

/* A table a transform makes and nothing but one row() over it in the same
 * scope reads (`doc.chunks:row(...)`: the chunks of a large file) is
 * evaluated apart and freed once walked: exec.c copies out what collect
 * takes from it. */
static void mark_scratch(coco_graph *g)
{
	for (size_t s = 0; s < g->nscopes; s++) {
		gscope *sc = &g->scopes[s];
		for (size_t i = 0; i < sc->nops; i++) {
			gop *fe = &sc->ops[i];
			if (fe->kind != OP_FOREACH || fe->in.scope != (int32_t)s || fe->in.npath ||
			    count_refs(g, (int)s, fe->in.field) != 1)
				continue;
			for (size_t j = 0; j < i; j++)
				if (sc->ops[j].kind == OP_TRANSFORM && sc->ops[j].out == fe->in.field)
					sc->ops[j].scratch = fe->release = 1;
		}
	}
}

int coco_graph_finish(coco_graph *g, char **err)
{
	if (g->finished)
		return 0;
	for (size_t i = 0; i < g->nsources; i++)
		if (!g->sources[i].name)
			return gerr(err, g->sources[i].where, "source is not assigned to a field "
				"(write scope.name = flow:add_source(...))");
	if (g->nsources == 0)
		return gerr(err, NULL, "flow '%s' has no source (flow:add_source)", g->name);
	if (g->nexports == 0)
		return gerr(err, NULL, "flow '%s' has no export (collector:export)", g->name);
	for (size_t i = 0; i < g->nexports; i++) {
		coco_gexport *x = &g->exports[i];
		coco_fper *f = coco_fper_create();
		coco_fper_str(f, "export");
		coco_fper_str(f, x->name);
		coco_fper_str(f, x->ops->name);
		coco_fper_opts(f, x->ops->opts, x->opts);
		fper_type(f, x->info.row_type);
		coco_fper_u64(f, x->info.nkeys);
		x->logic = coco_fper_digest(f);
		coco_fper_destroy(f);
	}
	char *feeds = coco_arena_alloc(&g->arena, g->ncollectors + 1);
	for (size_t i = 0; i < g->nsources; i++) {
		coco_gsource *s = &g->sources[i];
		coco_fper *f = coco_fper_create();
		coco_fper_str(f, "source-logic");
		coco_fper_fp(f, g->scopes[0].fields[s->field].fp);
		memset(feeds, 0, g->ncollectors + 1);
		if (s->scope >= 0)
			fp_scope_collects(g, s->scope, f, feeds);
		for (size_t x = 0; x < g->nexports; x++)
			if (feeds[g->exports[x].collector])
				coco_fper_fp(f, g->exports[x].logic);
		s->logic = coco_fper_digest(f);
		coco_fper_destroy(f);
	}
	mark_scratch(g);
	g->finished = 1;
	return 0;
}

/* ---- reading ------------------------------------------------------------ */
/* See graph.h. Each collect into the export's collector must run in the
 * row tree of one and the same source (a single-field key), and put that
 * source row's key, as is, into a primary key column. */
int coco_graph_export_keys_unique(const coco_graph *g, size_t x)
{
	const coco_gexport *xp = &g->exports[x];
	int src = -1;
	for (size_t sc = 0; sc < g->nscopes; sc++) {
		const gscope *s = &g->scopes[sc];
		for (size_t i = 0; i < s->nops; i++) {
			const gop *op = &s->ops[i];
			if (op->kind != OP_COLLECT || op->collector != xp->collector)
				continue;
			if (s->source < 0 || (src >= 0 && s->source != src))
				return 0;
			src = s->source;
			const coco_gsource *gs = &g->sources[src];
			if (gs->row_type->nkeys != 1 || gs->scope < 0)
				return 0;
			int found = 0;
			for (uint32_t k = 0; k < xp->info.nkeys && !found; k++) {
				const coco_arg *v = &op->vals[xp->perm[k]];
				found = v->kind == COCO_ARG_REF && v->ref.scope == gs->scope &&
					v->ref.field == 0 && v->ref.npath == 0;
			}
			if (!found)
				return 0;
		}
	}
	return src >= 0;
}

size_t coco_graph_cached_fns(const coco_graph *g, unsigned char (*out)[16], size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < g->nscopes; i++)
		for (size_t j = 0; j < g->scopes[i].nops; j++) {
			const gop *op = &g->scopes[i].ops[j];
			if (op->kind != OP_TRANSFORM || !op->cache)
				continue;
			if (n < max) {
				memcpy(out[n], &op->fn_fp.hi, 8);
				memcpy(out[n] + 8, &op->fn_fp.lo, 8);
			}
			n++;
		}
	return n;
}

int coco_graph_ready(const coco_graph *g, char **err)
{
	for (size_t i = 0; i < g->nscopes; i++)
		for (size_t j = 0; j < g->scopes[i].nops; j++) {
			const gop *op = &g->scopes[i].ops[j];
			char *e = NULL;
			if (op->kind != OP_TRANSFORM || !op->fn->ready || !op->fn->ready(op->fn_state, &e))
				continue;
			gerr(err, op->where, "%s", e ? e : "cannot run");
			free(e);
			return -1;
		}
	return 0;
}

const char *coco_graph_name(const coco_graph *g) { return g->name; }
const char *coco_graph_base_dir(const coco_graph *g) { return g->base_dir; }
size_t coco_graph_nsources(const coco_graph *g) { return g->nsources; }
const coco_gsource *coco_graph_source(const coco_graph *g, size_t i) { return &g->sources[i]; }
size_t coco_graph_nexports(const coco_graph *g) { return g->nexports; }
const coco_gexport *coco_graph_export_at(const coco_graph *g, size_t i) { return &g->exports[i]; }
