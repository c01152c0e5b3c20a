/* The built-in sources, targets and functions, by name. */
#include <string.h>
#include "engine/ops.h"

extern const coco_source_ops coco_localfile_source;
extern const coco_source_ops coco_s3_source;
extern const coco_source_ops coco_gdrive_source;
extern const coco_source_ops coco_postgres_source;
extern const coco_source_ops coco_azure_source;
extern const coco_target_ops coco_sqlite_target;
extern const coco_target_ops coco_postgres_target;
extern const coco_target_ops coco_qdrant_target;
extern const coco_target_ops coco_chroma_target;
extern const coco_function_ops coco_fn_split_recursively;
extern const coco_function_ops coco_fn_detect_language;
extern const coco_function_ops coco_fn_split_by_separators;
extern const coco_function_ops coco_fn_parse_json;
extern const coco_function_ops coco_fn_embed_text;
extern const coco_function_ops coco_fn_extract_by_llm;

const coco_source_ops *const coco_sources[] = { &coco_localfile_source, &coco_s3_source,
	&coco_gdrive_source, &coco_postgres_source, &coco_azure_source, NULL };
const coco_target_ops *const coco_targets[] = { &coco_sqlite_target, &coco_postgres_target,
	&coco_qdrant_target, &coco_chroma_target, NULL };
const coco_function_ops *const coco_functions[] = {
	&coco_fn_split_recursively, &coco_fn_detect_language, &coco_fn_split_by_separators,
	&coco_fn_parse_json, &coco_fn_embed_text, &coco_fn_extract_by_llm, NULL };

#define FIND(list, name) \
	for (size_t i = 0; list[i]; i++) \
		if (!strcmp(list[i]->name, name)) \
			return list[i]; \
	return NULL

const coco_source_ops *coco_source_find(const char *name) { FIND(coco_sources, name); }
const coco_target_ops *(*coco_target_find_dynamic)(const char *name);

void coco_targets_flow_closed(void)
{
	for (size_t i = 0; coco_targets[i]; i++)
		if (coco_targets[i]->flow_closed)
			coco_targets[i]->flow_closed();
}

const coco_target_ops *coco_target_find(const char *name)
{
	for (size_t i = 0; coco_targets[i]; i++)
		if (!strcmp(coco_targets[i]->name, name))
			return coco_targets[i];
	return coco_target_find_dynamic ? coco_target_find_dynamic(name) : NULL;
}
const coco_function_ops *coco_function_find(const char *name) { FIND(coco_functions, name); }

int coco_opt_index(const coco_optdef *defs, const char *name)
{
	for (int i = 0; defs && defs[i].name; i++)
		if (!strcmp(defs[i].name, name))
			return i;
	return -1;
}

size_t coco_opt_count(const coco_optdef *defs)
{
	size_t n = 0;
	while (defs && defs[n].name)
		n++;
	return n;
}

int coco_function_call(const coco_function_ops *fn, void *state, const coco_value *args,
	size_t nargs, coco_arena *a, coco_value *out, char **err)
{
	if (fn->call)
		return fn->call(state, args, nargs, a, out, err);
	const coco_value *argv[1] = { args };
	char *e = NULL;
	if (fn->call_batch(state, argv, nargs, 1, a, out, &e, err))
		return -1;
	if (e) {
		*err = e;
		return -1;
	}
	return 0;
}

int coco_export_check_row(const char *who, const coco_export_info *info, char **err)
{
	const coco_type *t = info->row_type;
	if (!t || t->kind != COCO_STRUCT || t->nfields == 0)
		return coco_seterr(err, "%s: export '%s' has no fields", who, info->export_name);
	if (info->nkeys == 0 || info->nkeys > t->nfields)
		return coco_seterr(err, "%s: export '%s' needs primary_key_fields", who,
			info->export_name);
	return 0;
}

void coco_opt_names(const coco_optdef *defs, coco_buf *out)
{
	for (size_t i = 0; defs && defs[i].name; i++) {
		if (i)
			coco_buf_adds(out, ", ");
		coco_buf_adds(out, defs[i].name);
	}
}
