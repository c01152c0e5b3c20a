/* Evaluate: every source row through the flow, no target or state
 * written. See indexer.h. */
#include "engine/indexer_int.h"
#include "engine/sys.h"

#include <stdlib.h>
#include <string.h>

int coco_evaluate(const coco_graph *g, coco_state *st, int use_cache, const coco_update_opts *o,
	coco_eval_sink sink, void *sink_ud, coco_source_stats *stats, char **err)
{
	memo_ctx m = { .st = use_cache ? st : NULL };
	coco_memo memo = { .get = memo_get, .ud = &m };
	size_t ns = coco_graph_nsources(g), nx = coco_graph_nexports(g);
	coco_rows *out = coco_xcalloc(nx + 1, sizeof *out);
	coco_arena a = {0};
	coco_buf ord = {0};
	int rc = 0;
	for (size_t si = 0; si < ns && !rc; si++) {
		const coco_gsource *s = coco_graph_source(g, si);
		memset(&stats[si], 0, sizeof stats[si]);
		stats[si].source = s->name;
		double t0 = coco_now_ms();
		void *src = NULL;
		char *e = NULL;
		if (s->ops->open(s->opts, coco_graph_base_dir(g), &src, &e)) {
			rc = coco_seterr(err, "%s (%s): %s", s->name, s->where, e ? e : "cannot open source");
			free(e);
			break;
		}
		items it = {0};
		coco_arena la = {0};
		it.a = &la;
		rc = list_items(s, src, &it, err);
		coco_exec_stats xs = {0};
		for (size_t i = 0; i < it.n && !rc; i++) {
			coco_arena_reset(&a);
			coco_buf_clear(&m.used);
			coco_value key, row;
			const char *kp = it.v[i].key;
			stats[si].listed++;
			if (coco_value_decode(&kp, it.v[i].key + it.v[i].nkey, &a, &key))
				continue;
			coco_buf_clear(&ord);
			int rr = s->ops->read(src, &key, &a, &row, &ord, &e);
			if (rr == 1)
				continue;
			if (rr == 2) {
				row_warning(o, s, &stats[si], &key, e ? e : "read with a warning");
				free(e);
				e = NULL;
			}
			if (rr < 0 || coco_exec_row(g, si, &row, &a, &memo, out, &xs, &e)) {
				key_error(o, s, &stats[si], &key, e ? e : "failed");
				free(e);
				e = NULL;
				continue;
			}
			stats[si].added++;
			for (size_t x = 0; x < nx && !rc; x++)
				if (out[x].n && sink(sink_ud, coco_graph_export_at(g, x), out[x].rows, out[x].n,
						si, &key, err))
					rc = -1;
		}
		stats[si].fn_calls = xs.calls;
		stats[si].cache_hits = xs.cache_hits;
		s->ops->close(src);
		coco_buf_free(&it.tmp);
		free(it.v);
		coco_arena_destroy(&la);
		stats[si].elapsed_ms = coco_now_ms() - t0;
	}
	coco_buf_free(&ord);
	coco_buf_free(&m.val);
	coco_buf_free(&m.used);
	coco_arena_destroy(&a);
	free(out);
	return rc;
}
