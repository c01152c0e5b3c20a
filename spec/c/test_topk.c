/* Unit test of what targets' top_k share (engine/topk.c): the field and
 * dimension checks with their messages, and the result row type. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/topk.h"

#include "spec/c/check.h"

int main(void)
{
	coco_arena a = {0};
	coco_field meta[] = { { "line", &coco_t_int64 } };
	coco_field f[] = {
		{ "id", &coco_t_str },
		{ "emb", coco_type_vector(&a, 3) },
		{ "meta", coco_type_struct(&a, meta, 1) },
		{ "any", &coco_t_vector_any },
	};
	const coco_type *row = coco_type_struct(&a, f, 4);
	static const struct {
		const char *field;
		size_t dim;
		int fi;
		const char *err;
	} cases[] = {
		{ "emb", 3, 1, NULL },
		{ "any", 7, 3, NULL },
		{ "nope", 3, -1, "SQLite: table t: unknown field 'nope'; fields: id, emb, meta, any" },
		{ "id", 3, -1, "SQLite: table t: top_k needs a vector field, and 'id' is str" },
		{ "emb", 4, -1, "SQLite: table t: the query vector has 4 dimensions, field 'emb' has 3" },
		{ "any", 0, -1, "SQLite: table t: the query vector has 0 dimensions, field 'any' has 0" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *err = NULL;
		int fi = coco_topk_field(row, cases[i].field, cases[i].dim, "SQLite: table t", &err);
		CHECKF(fi == cases[i].fi, "case %zu: %d", i, fi);
		if (cases[i].err)
			CHECK_STR(err, cases[i].err);
		else
			CHECKF(!err, "case %zu: %s", i, err);
		free(err);
	}

	/* the fields but emb, struct as json, then distance */
	const coco_type *rt = coco_topk_row_type(row, 1, &a);
	coco_buf b = {0};
	coco_type_format(rt, &b);
	CHECK_STR(b.p, "struct{id: str, meta: json, any: vector<float32>, distance: float64}");
	coco_buf_free(&b);
	coco_arena_destroy(&a);
	return CHECK_DONE();
}
