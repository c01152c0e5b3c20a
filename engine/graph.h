#pragma once
/* The operator graph compiled from a flow spec.
 *
 * A flow is a tree of scopes. The root scope holds one field per source
 * (the source's keyed table). Each source has a row scope whose first
 * fields are the source row's fields; `row()` over a table field opens a
 * child scope whose first fields are that table's row fields. Ops run in
 * the scope they were added to, in order: transforms (add a field),
 * foreach (run a child scope per row), collect (append a row to a
 * collector). Exports send a collector's rows to a target.
 *
 * The graph is built incrementally, one call per DSL statement, so each
 * mistake is reported at once with the caller's `where` ("flow.lua:12")
 * prefixed, before any data is touched. Types are inferred as ops are
 * added; every op carries a logic fingerprint chained from its inputs. */
#include <stddef.h>
#include <stdint.h>
#include "engine/buf.h"
#include "engine/value.h"
#include "engine/ops.h"
#include "engine/fingerprint.h"

#define COCO_MAX_PATH 8

typedef struct coco_graph coco_graph;

/* A field of a scope, optionally followed by struct sub-field indices. */
typedef struct coco_fieldref {
	int32_t scope;
	int32_t field;
	uint32_t npath;
	uint16_t path[COCO_MAX_PATH];
} coco_fieldref;

/* A function or collect argument: a field reference, a constant, or (in
 * collect only) a generated UUID. name: the argument's name when passed by
 * name, else NULL. */
typedef enum { COCO_ARG_REF, COCO_ARG_CONST, COCO_ARG_UUID } coco_argkind;
typedef struct coco_arg {
	coco_argkind kind;
	const char *name;
	coco_fieldref ref;
	coco_value konst;
} coco_arg;

/* Options of flow:add_source(spec, opts). */
typedef struct coco_source_opts {
	double refresh_interval;      /* seconds, 0 = none */
	int64_t max_inflight_rows;    /* 0 = default */
	int64_t max_inflight_bytes;   /* 0 = default */
} coco_source_opts;

/* How a transform's results are cached and fingerprinted. logic: the
 * function's own logic fingerprint (for Lua functions: name + version, or
 * a hash of its bytecode). */
typedef struct coco_fn_logic {
	int cache;
	coco_fp logic;
} coco_fn_logic;

/* base_dir: directory of the flow file (relative connector paths). */
coco_graph *coco_graph_create(const char *flow_name, const char *base_dir);
void coco_graph_destroy(coco_graph *g);

/* Add a source; its table becomes an unnamed root field (see name_field).
 * opts are deep-copied. *out: the root field. */
int coco_graph_add_source(coco_graph *g, const coco_source_ops *ops, const coco_optval *opts,
	const coco_source_opts *sopts, const char *where, coco_fieldref *out, char **err);
/* Name a field produced by add_source or transform: `scope.documents = ...`,
 * `doc.chunks = ...`. scope must be the field's own scope.
 *   "flow.lua:7: field 'chunks' already exists in this row" */
int coco_graph_name_field(coco_graph *g, int scope, const coco_fieldref *ref, const char *name,
	const char *where, char **err);
/* Look up a field visible in `scope` by name (this scope only).
 *   "flow.lua:9: unknown field 'contnet'; fields: filename, content" */
int coco_graph_field(coco_graph *g, int scope, const char *name, const char *where,
	coco_fieldref *out, char **err);
/* ref.name for a struct-typed ref. */
int coco_graph_subfield(coco_graph *g, const coco_fieldref *ref, const char *name,
	const char *where, coco_fieldref *out, char **err);
const coco_type *coco_graph_ref_type(const coco_graph *g, const coco_fieldref *ref);
/* "documents", "doc.chunks", "chunk.start.offset" style name of a ref. */
void coco_graph_ref_name(const coco_graph *g, const coco_fieldref *ref, coco_buf *out);

/* Open the row scope of a source (table field in the root), or of a table
 * field visible from cur_scope. *child: the new scope id. */
int coco_graph_foreach(coco_graph *g, int cur_scope, const coco_fieldref *table,
	const char *where, int *child, char **err);
/* Add a transform in `scope`: fn(args...). Arguments are matched to fn's
 * argdefs (positional first, then named); kinds are checked; fn->prepare
 * gives the output type. *out: the new (unnamed) field. */
int coco_graph_transform(coco_graph *g, int scope, const coco_function_ops *fn,
	const coco_optval *spec, void *udata, const coco_fn_logic *logic, const char *fn_label,
	const coco_arg *args, size_t nargs, const char *where, coco_fieldref *out, char **err);
/* Collectors live in the root scope. */
int coco_graph_add_collector(coco_graph *g, const char *where, int *collector, char **err);
/* collect{...} in `scope` (a row scope). names/vals: n fields. The first
 * collect fixes the collector's fields (sorted by name); later ones must
 * give the same names and types. */
int coco_graph_collect(coco_graph *g, int scope, int collector, const char *const *names,
	const coco_arg *vals, size_t n, const char *where, char **err);
/* Export a collector: pk names the primary key fields (required, non-empty). */
int coco_graph_export(coco_graph *g, int collector, const char *name, const coco_target_ops *ops,
	const coco_optval *opts, const char *const *pk, size_t npk, const char *where, char **err);
/* Final checks (every source named, names unique, at least one export),
 * and the per-source logic fingerprints. No further changes after this. */
int coco_graph_finish(coco_graph *g, char **err);

/* ---- reading the compiled graph --------------------------------------- */
typedef struct coco_gsource {
	const char *name;             /* root field name */
	const coco_source_ops *ops;
	coco_optval *opts;
	coco_source_opts sopts;
	const coco_type *row_type;    /* TABLE type of the source */
	int field;                    /* root field index */
	int scope;                    /* row scope id, -1 if no row() */
	/* per-source logic fingerprint (after finish): the source, the ops of
	 * its rows that feed collects, and the shape of the exports it feeds;
	 * other sources feeding the same collector do not enter it */
	coco_fp logic;
	const char *where;
} coco_gsource;

typedef struct coco_gexport {
	const char *name;
	int collector;
	const coco_target_ops *ops;
	coco_optval *opts;
	coco_export_info info;        /* row_type: pk fields first */
	uint32_t *perm;               /* export column i = collector field perm[i] */
	coco_fp logic;                /* the export's shape: target, options, columns, key */
	const char *where;
} coco_gexport;

const char *coco_graph_name(const coco_graph *g);
const char *coco_graph_base_dir(const coco_graph *g);
size_t coco_graph_nsources(const coco_graph *g);
const coco_gsource *coco_graph_source(const coco_graph *g, size_t i);
size_t coco_graph_nexports(const coco_graph *g);
const coco_gexport *coco_graph_export_at(const coco_graph *g, size_t i);
/* 1 when two different source rows can never collect the same key of
 * export x: one source feeds its collector, and every row collected puts
 * the source row's key into a primary key column (LocalFile's filename
 * with chunk locations). Such exports need no owner records (owner.h). */
int coco_graph_export_keys_unique(const coco_graph *g, size_t x);
/* The memo namespaces (the first 16 bytes of memo keys: the function's
 * logic fingerprint) of the flow's cached transforms; fills up to max,
 * returns how many there are. */
size_t coco_graph_cached_fns(const coco_graph *g, unsigned char (*out)[16], size_t max);
/* Whether every function of the flow can run (their ready hooks: API keys
 * set): 0, or -1 with *err "flow.lua:12: EmbedText: ...". Run before an
 * update, live run, evaluate or query sets up or writes anything. */
int coco_graph_ready(const coco_graph *g, char **err);
/* Human-readable description of the graph (for `coco show`; describe.c). */
void coco_graph_describe(const coco_graph *g, int verbose, coco_buf *out);

/* Fingerprint of an option array (used for logic fingerprints). */
void coco_fper_opts(coco_fper *f, const coco_optdef *defs, const coco_optval *vals);
