/* The graph described as text for people: `coco show` (verbose, -v: with
 * each transform's flow.lua line and each source's logic fingerprint).
 * Reads the compiled graph only; `coco server` describes it as JSON
 * (inspect.c). */
#include "engine/graph_int.h"
#include "engine/secret.h"

#include <string.h>

static void describe_opts(const coco_optdef *defs, const coco_optval *v, coco_buf *out)
{
	int first = 1;
	for (size_t i = 0; defs && defs[i].name; i++) {
		if (!v[i].set)
			continue;
		coco_buf_printf(out, "%s%s = ", first ? "" : ", ", defs[i].name);
		first = 0;
		switch (defs[i].kind) {
		case COCO_OPT_STR: {
			/* a password in a connection string or URL is not shown */
			coco_buf r = {0};
			coco_redact(v[i].s, &r);
			coco_json_str(out, r.p, r.n);
			coco_buf_free(&r);
			break;
		}
		case COCO_OPT_JSON: coco_buf_adds(out, v[i].s); break;
		case COCO_OPT_INT: coco_buf_printf(out, "%lld", (long long)v[i].i); break;
		case COCO_OPT_NUM: coco_buf_printf(out, "%g", v[i].num); break;
		case COCO_OPT_BOOL: coco_buf_adds(out, v[i].b ? "true" : "false"); break;
		case COCO_OPT_STRLIST:
			coco_buf_adds(out, "{ ");
			for (size_t k = 0; k < v[i].nlist; k++) {
				if (k)
					coco_buf_adds(out, ", ");
				coco_json_str(out, v[i].list[k], strlen(v[i].list[k]));
			}
			coco_buf_adds(out, " }");
			break;
		}
	}
}

static void describe_scope(const coco_graph *g, int s, int depth, int verbose, coco_buf *out)
{
	const gscope *sc = &g->scopes[s];
	for (size_t i = 0; i < sc->nfields; i++) {
		if ((int)i >= sc->nbase)
			break;
		coco_buf_printf(out, "%*s%s: ", depth * 2, "", sc->fields[i].name);
		coco_type_format(sc->fields[i].type, out);
		coco_buf_putc(out, '\n');
	}
	for (size_t i = 0; i < sc->nops; i++) {
		const gop *op = &sc->ops[i];
		coco_buf_printf(out, "%*s", depth * 2, "");
		if (op->kind == OP_TRANSFORM) {
			const gfield *f = &sc->fields[op->out];
			coco_buf_printf(out, "%s = %s(", f->name ? f->name : "(unnamed)", op->fn_label);
			for (size_t k = 0; k < op->nargs; k++) {
				const coco_arg *a = &op->args[k];
				if (a->kind == COCO_ARG_CONST && a->konst.kind == COCO_NULL)
					continue;
				if (out->p[out->n - 1] != '(')
					coco_buf_adds(out, ", ");
				if (a->name)
					coco_buf_printf(out, "%s = ", a->name);
				if (a->kind == COCO_ARG_REF)
					coco_graph_ref_name(g, &a->ref, out);
				else
					coco_value_to_json(&a->konst, NULL, out);
			}
			coco_buf_adds(out, "): ");
			coco_type_format(f->type, out);
			if (op->cache)
				coco_buf_adds(out, " [cached]");
			if (verbose)
				coco_buf_printf(out, "  -- %s", op->where);
			coco_buf_putc(out, '\n');
		} else if (op->kind == OP_FOREACH) {
			coco_graph_ref_name(g, &op->in, out);
			coco_buf_adds(out, ":row\n");
			describe_scope(g, op->child, depth + 1, verbose, out);
		} else {
			const gcollector *c = &g->collectors[op->collector];
			coco_buf_printf(out, "collect #%d {", op->collector + 1);
			for (size_t k = 0; k < c->nfields; k++) {
				coco_buf_printf(out, "%s%s = ", k ? ", " : " ", c->names[k]);
				const coco_arg *a = &op->vals[k];
				if (a->kind == COCO_ARG_REF)
					coco_graph_ref_name(g, &a->ref, out);
				else if (a->kind == COCO_ARG_UUID)
					coco_buf_adds(out, "uuid()");
				else
					coco_value_to_json(&a->konst, NULL, out);
			}
			coco_buf_adds(out, " }\n");
		}
	}
}

void coco_graph_describe(const coco_graph *g, int verbose, coco_buf *out)
{
	coco_buf_printf(out, "Flow %s\n", g->name);
	for (size_t i = 0; i < g->nsources; i++) {
		const coco_gsource *s = &g->sources[i];
		coco_buf_printf(out, "\nSource %s: %s{ ", s->name, s->ops->name);
		describe_opts(s->ops->opts, s->opts, out);
		coco_buf_adds(out, " }");
		if (s->sopts.refresh_interval > 0)
			coco_buf_printf(out, ", refresh every %gs", s->sopts.refresh_interval);
		if (s->sopts.max_inflight_rows > 0)
			coco_buf_printf(out, ", at most %lld rows in flight", (long long)s->sopts.max_inflight_rows);
		if (s->sopts.max_inflight_bytes > 0)
			coco_buf_printf(out, ", at most %lld bytes in flight", (long long)s->sopts.max_inflight_bytes);
		coco_buf_adds(out, "\n  rows: ");
		coco_type_format(s->row_type, out);
		coco_buf_putc(out, '\n');
		if (s->scope >= 0) {
			coco_buf_printf(out, "  %s:row\n", s->name);
			describe_scope(g, s->scope, 2, verbose, out);
		}
		if (verbose) {
			char hex[33];
			coco_fp_hex(s->logic, hex);
			coco_buf_printf(out, "  logic fingerprint: %s\n", hex);
		}
	}
	for (size_t i = 0; i < g->nexports; i++) {
		const coco_gexport *x = &g->exports[i];
		coco_buf_printf(out, "\nExport %s (collector #%d) -> %s{ ", x->name, x->collector + 1, x->ops->name);
		describe_opts(x->ops->opts, x->opts, out);
		coco_buf_adds(out, " }\n  key:");
		const coco_type *rt = x->info.row_type;
		for (uint32_t k = 0; k < x->info.nkeys; k++)
			coco_buf_printf(out, " %s", rt->fields[k].name);
		coco_buf_adds(out, "\n");
		for (uint32_t k = 0; k < rt->nfields; k++) {
			coco_buf_printf(out, "  %s: ", rt->fields[k].name);
			coco_type_format(rt->fields[k].type, out);
			coco_buf_putc(out, '\n');
		}
	}
}
