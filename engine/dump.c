/* The state as text lines, for tests (spec/fuzz). See indexer.h. */
#include "engine/indexer.h"
#include "engine/owner.h"
#include "engine/records_int.h"

#include <string.h>

void coco_dump_key(const char *k, size_t n, coco_arena *a, coco_buf *out)
{
	coco_value v;
	const char *p = k;
	if (coco_value_decode(&p, k + n, a, &v))
		coco_buf_adds(out, "?");
	else
		coco_value_to_json(&v, NULL, out);
}

static void dump_hex(const char *p, size_t n, coco_buf *out)
{
	for (size_t i = 0; i < n; i++)
		coco_buf_printf(out, "%02x", (unsigned char)p[i]);
}

int coco_state_dump(coco_state *st, coco_buf *out, char **err)
{
	coco_arena a = {0};
	const char *k, *v;
	size_t kn, vn;
	int rc = 0;
	for (int cf = COCO_CF_TRACKING; cf <= COCO_CF_SETUP && rc == 0; cf++) {
		coco_iter *it = coco_state_iter(st, (coco_cf)cf, NULL, 0);
		while ((rc = coco_iter_next(it, &k, &kn, &v, &vn, err)) == 1) {
			coco_arena_reset(&a);
			size_t sl = strnlen(k, kn);
			if (cf == COCO_CF_MEMO) {
				coco_buf_adds(out, "M\t");
				dump_hex(k, kn, out);
				coco_buf_putc(out, '\n');
				continue;
			}
			if (cf == COCO_CF_SETUP) {
				const char *nl = memchr(v, '\n', vn), *nl2 = nl ? memchr(nl + 1, '\n', vn - (size_t)(nl + 1 - v)) : NULL;
				coco_buf_printf(out, "S\t%.*s\t%.*s\n", (int)kn, k,
					nl2 ? (int)(nl2 - nl - 1) : 0, nl2 ? nl + 1 : "");
				continue;
			}
			if (sl == kn)
				continue;
			if (cf == COCO_CF_TRACKING) {
				trk t;
				coco_buf_printf(out, "T\t%.*s\t", (int)sl, k);
				coco_dump_key(k + sl + 1, kn - sl - 1, &a, out);
				coco_buf_printf(out, "\t%d\n", trk_decode(v, vn, &t) ? -1 : t.flags);
				continue;
			}
			lineage l;
			const char *copy = coco_arena_strndup(&a, v, vn);
			if (lin_decode(copy, vn, &a, &l)) {
				coco_buf_printf(out, "L?\t%.*s\n", (int)sl, k);
				continue;
			}
			for (size_t i = 0; i < l.n; i++) {
				coco_buf_printf(out, "L\t%.*s\t", (int)sl, k);
				coco_dump_key(k + sl + 1, kn - sl - 1, &a, out);
				coco_buf_printf(out, "\t%.*s\t", (int)l.k[i].nexp, l.k[i].exp);
				coco_dump_key(l.k[i].key, l.k[i].nkey, &a, out);
				coco_buf_printf(out, "\t%d\n", l.k[i].staged);
			}
			for (size_t i = 0; i < l.nmemo; i++) {
				coco_buf_printf(out, "R\t%.*s\t", (int)sl, k);
				coco_dump_key(k + sl + 1, kn - sl - 1, &a, out);
				coco_buf_putc(out, '\t');
				dump_hex(l.memo + 32 * i, 32, out);
				coco_buf_putc(out, '\n');
			}
		}
		coco_iter_destroy(it);
	}
	if (rc == 0)
		rc = coco_owners_dump(st, out, err);
	coco_arena_destroy(&a);
	return rc < 0 ? -1 : 0;
}
