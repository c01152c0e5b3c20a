/* ParseJson: text -> json value (the text, checked; COCO_JSON values are
 * JSON text). `language` is "json", the only one supported. */
#include <string.h>
#include <strings.h>

#include "engine/ops.h"
#include "engine/functions/json.h"

static const coco_argdef pj_args[] = {
	{ "text", 1u << COCO_STR, 1 },
	{ "language", 1u << COCO_STR, 0 },
	{ NULL, 0, 0 },
};

static const coco_optdef pj_opts[] = {
	{ NULL, 0, 0, NULL },
};

static int check_lang(const coco_value *v, char **err)
{
	if (!v || v->kind == COCO_NULL)
		return 0;
	if (v->kind != COCO_STR)
		return coco_seterr(err, "ParseJson: language must be a string, got %s",
			coco_kind_name((coco_kind)v->kind));
	if (v->n == 4 && !strncasecmp(v->u.s, "json", 4))
		return 0;
	return coco_seterr(err, "ParseJson: language \"%.*s\" is not supported; only \"json\"",
		(int)(v->n > 64 ? 64 : v->n), v->u.s);
}

/* prepare: the result is json; a constant language must be "json". */
static int pj_prepare(const coco_optval *spec, void *udata, const coco_arg_info *args,
	size_t nargs, coco_arena *types, const coco_type **out, void **state, char **err)
{
	if (nargs > 1 && check_lang(args[1].konst, err) < 0)
		return -1;
	*out = &coco_t_json;
	*state = NULL;
	return 0;
}

/* call: null in, null out; invalid JSON is a row error:
 *   "ParseJson: invalid JSON at line 3, column 7: expected ',' or '}'" */
static int pj_call(void *state, const coco_value *args, size_t nargs, coco_arena *a,
	coco_value *out, char **err)
{
	*out = coco_v_null();
	if (nargs > 1 && check_lang(&args[1], err) < 0)
		return -1;
	if (nargs < 1 || args[0].kind == COCO_NULL)
		return 0;
	if (args[0].kind != COCO_STR)
		return coco_seterr(err, "ParseJson: text must be a string, got %s",
			coco_kind_name((coco_kind)args[0].kind));
	const char *s = args[0].u.s;
	size_t n = args[0].n, at;
	const char *msg;
	if (coco_json_check(s, n, &at, &msg) < 0) {
		size_t line = 1, col = 1;
		for (size_t i = 0; i < at && i < n; i++) {
			if (s[i] == '\n')
				line++, col = 1;
			else if (((unsigned char)s[i] & 0xC0) != 0x80)
				col++;
		}
		return coco_seterr(err, "ParseJson: invalid JSON at line %zu, column %zu: %s", line, col, msg);
	}
	coco_json_trim(&s, &n);
	out->kind = COCO_JSON;
	out->n = n;
	out->u.s = s;
	return 0;
}

/* ParseJson(text, [language]) -> json. */
const coco_function_ops coco_fn_parse_json = {
	.name = "ParseJson",
	.spec_opts = pj_opts,
	.args = pj_args,
	.prepare = pj_prepare,
	.call = pj_call,
};
