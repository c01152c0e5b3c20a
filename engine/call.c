/* coco_call_function: a function on constant arguments. See call.h. */
#include "engine/call.h"

#include <stdlib.h>
#include <string.h>

/* The type of a constant (vectors get one of their length). */
static const coco_type *const_type(const coco_value *v, coco_arena *a)
{
	switch ((coco_kind)v->kind) {
	case COCO_NULL: return &coco_t_null;
	case COCO_BOOL: return &coco_t_bool;
	case COCO_INT64: return &coco_t_int64;
	case COCO_FLOAT32: return &coco_t_float32;
	case COCO_FLOAT64: return &coco_t_float64;
	case COCO_STR: return &coco_t_str;
	case COCO_BYTES: return &coco_t_bytes;
	case COCO_JSON: return &coco_t_json;
	case COCO_RANGE: return &coco_t_range;
	case COCO_VECTOR: return coco_type_vector(a, (uint32_t)v->n);
	default: return NULL;
	}
}

int coco_call_function(const coco_function_ops *fn, const coco_optval *spec, void *udata,
	const char *label, const coco_arg *args, size_t nargs, coco_arena *a, coco_value *out,
	const coco_type **out_type, char **err)
{
	*out_type = NULL;
	if (!label)
		label = fn->name;
	size_t nslots = nargs;
	if (fn->args)
		for (nslots = 0; fn->args[nslots].name; nslots++)
			;
	coco_value *vals = coco_arena_alloc(a, (nslots + 1) * sizeof *vals);
	coco_arg_info *info = coco_arena_alloc(a, (nslots + 1) * sizeof *info);
	char *filled = coco_arena_alloc(a, nslots + 1);
	size_t npos = 0;
	for (size_t i = 0; i < nargs; i++) {
		size_t k;
		if (args[i].kind != COCO_ARG_CONST)
			return coco_seterr(err, "%s: arguments of a call are values", label);
		if (!args[i].name) {
			k = npos++;
			if (k >= nslots)
				return coco_seterr(err, "%s takes at most %zu arguments, got %zu", label,
					nslots, k + 1);
		} else {
			if (!fn->args)
				return coco_seterr(err, "%s takes positional arguments only, got '%s'", label,
					args[i].name);
			for (k = 0; k < nslots && strcmp(fn->args[k].name, args[i].name); k++)
				;
			if (k == nslots) {
				coco_buf b = {0};
				for (size_t j = 0; j < nslots; j++)
					coco_buf_printf(&b, "%s%s", j ? ", " : "", fn->args[j].name);
				coco_seterr(err, "%s: unknown argument '%s'; arguments: %s", label,
					args[i].name, b.p);
				coco_buf_free(&b);
				return -1;
			}
			if (filled[k])
				return coco_seterr(err, "%s: argument '%s' given twice", label, args[i].name);
		}
		vals[k] = args[i].konst;
		filled[k] = 1;
	}
	for (size_t k = 0; k < nslots; k++) {
		if (!filled[k]) {
			if (fn->args && fn->args[k].required)
				return coco_seterr(err, "%s: missing required argument '%s'", label,
					fn->args[k].name);
			vals[k] = coco_v_null();
		}
		const coco_type *t = const_type(&vals[k], a);
		if (!t)
			return coco_seterr(err, "%s: unsupported argument value", label);
		uint32_t kinds = fn->args ? fn->args[k].kinds : 0;
		if (kinds && t->kind != COCO_NULL && !(kinds & (1u << t->kind))) {
			coco_buf want = {0};
			for (int kk = 0; kk < COCO_KIND_COUNT; kk++)
				if (kinds & (1u << kk))
					coco_buf_printf(&want, "%s%s", want.n ? " or " : "",
						coco_kind_name((coco_kind)kk));
			coco_seterr(err, "%s: %s must be %s, got %s", label, fn->args ? fn->args[k].name
				: "argument", want.p, coco_kind_name(t->kind));
			coco_buf_free(&want);
			return -1;
		}
		info[k].type = t;
		info[k].konst = &vals[k];
	}
	const coco_type *ot = NULL;
	void *state = NULL;
	char *e = NULL;
	if (fn->prepare(spec, udata, info, nslots, a, &ot, &state, &e)) {
		coco_seterr(err, "%s", e ? e : "invalid arguments");
		free(e);
		return -1;
	}
	*out_type = ot;
	int rc = 0;
	if (fn->ready && fn->ready(state, &e)) {      /* a missing API key: its own message */
		coco_seterr(err, "%s", e ? e : "cannot run");
		free(e);
		rc = -1;
	} else if ((rc = coco_function_call(fn, state, vals, nslots, a, out, &e))) {
		/* messages that name their function already ("EmbedText: HTTP 400
		 * ...") are not named twice */
		size_t nl = strlen(label);
		if (e && !strncmp(e, label, nl) && !strncmp(e + nl, ": ", 2))
			coco_seterr(err, "%s", e);
		else
			coco_seterr(err, "%s: %s", label, e ? e : "failed");
		free(e);
	}
	if (fn->destroy && state)
		fn->destroy(state);
	return rc ? -1 : 0;
}
