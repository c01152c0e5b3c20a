/* What targets' top_k share (see topk.h). */
#include "engine/topk.h"

int coco_topk_field(const coco_type *row, const char *field, size_t dim, const char *where,
	char **err)
{
	int fi = coco_type_field(row, field);
	if (fi < 0) {
		coco_buf f = {0};
		coco_type_field_names(row, &f);
		coco_seterr(err, "%s: unknown field '%s'; fields: %s", where, field, f.p);
		coco_buf_free(&f);
		return -1;
	}
	const coco_type *vt = row->fields[fi].type;
	if (vt->kind != COCO_VECTOR) {
		coco_buf tb = {0};
		coco_type_format(vt, &tb);
		coco_seterr(err, "%s: top_k needs a vector field, and '%s' is %s", where, field, tb.p);
		coco_buf_free(&tb);
		return -1;
	}
	if ((vt->dim && dim != vt->dim) || dim == 0)
		return coco_seterr(err, "%s: the query vector has %zu dimensions, field '%s' has %u",
			where, dim, field, vt->dim);
	return fi;
}

const coco_type *coco_topk_row_type(const coco_type *row, int fi, coco_arena *a)
{
	coco_field *rf = coco_arena_alloc(a, (row->nfields + 1) * sizeof *rf);
	uint32_t nf = 0;
	for (uint32_t i = 0; i < row->nfields; i++) {
		if ((int)i == fi)
			continue;
		coco_kind k = row->fields[i].type->kind;
		rf[nf].name = row->fields[i].name;   /* coco_type_struct copies it */
		rf[nf++].type = k == COCO_STRUCT || k == COCO_TABLE ? &coco_t_json : row->fields[i].type;
	}
	rf[nf].name = "distance";
	rf[nf++].type = &coco_t_float64;
	return coco_type_struct(a, rf, nf);
}
