#pragma once
/* Inspection of a flow for `coco server`: the compiled graph, the rows a
 * source has in state, one row evaluated through every step, what an
 * export holds. Everything is read-only (nothing is written to state or
 * targets) and comes out as JSON text appended to a buffer. */
#include "engine/graph.h"
#include "engine/state.h"

/* The graph: sources (kind, options with credentials masked, key, fields,
 * refresh interval), scopes with their fields and ops (function, its
 * arguments, output type, whether cached, the flow.lua line), collectors,
 * exports (target, key, columns, options), and a fingerprint that changes
 * with the flow's logic. */
void coco_inspect_graph(const coco_graph *g, coco_buf *out);

/* The text of a key as the engine reports it (a str key as is, others as
 * JSON), and back: 0, or -1 with *err ("key 'x': expected an integer"). */
void coco_inspect_key_text(const coco_value *key, coco_buf *out);
int coco_inspect_key_parse(const coco_graph *g, size_t source, const char *text, coco_arena *a,
	coco_value *key, char **err);

/* Source rows in state, by key: a page of at most limit rows after key
 * text `after` (NULL: from the start) whose key text contains q (NULL:
 * all), as {"rows":[{key, key_text, ordinal, current, targets}],
 * "next": key_text|null}. current: built with the flow's logic now. */
int coco_inspect_rows(const coco_graph *g, coco_state *st, size_t source, const char *after,
	size_t limit, const char *q, coco_buf *out, char **err);

/* One row evaluated through every step, cached function results read
 * from st (may be NULL), nothing written: {"key", "key_text", "state",
 * "frame": {"scope", "fields": [{name, type, value}], "nested": {field:
 * [frame...]}}, "exports": {name: [row...]}, "lineage": [{export, key,
 * written, current}], "error"}. Returns 0, 1 when the source has no such
 * row, -1 on a failure to read it (*err). A row error is not a failure:
 * it is in "error". */
int coco_inspect_row(const coco_graph *g, coco_state *st, size_t source, const coco_value *key,
	coco_buf *out, char **err);

/* What export x holds, as coco wrote it (lineage): a page of target keys
 * grouped by the source row that owns them, after source key text
 * `after`: {"rows":[{key, source, source_key}], "next"}. */
int coco_inspect_export(const coco_graph *g, coco_state *st, size_t x, const char *after,
	size_t limit, coco_buf *out, char **err);
