#pragma once
/* The vtables through which the engine sees sources, functions and
 * targets, and the option tables they declare. Connectors and built-in
 * functions implement these; lua/ implements them for Lua-defined ones.
 * Nothing here knows about Lua. */
#include <stddef.h>
#include <stdint.h>
#include "engine/buf.h"
#include "engine/value.h"

/* ---- Options ------------------------------------------------------------
 * A spec (`sources.LocalFile{ path = "docs" }`) is checked against the
 * connector's option table: unknown keys and wrong kinds are rejected by
 * the caller (lua/) before the connector sees them. Values arrive in a
 * coco_optval array in the same order as the defs. */
typedef enum coco_optkind {
	COCO_OPT_STR,
	COCO_OPT_INT,
	COCO_OPT_NUM,
	COCO_OPT_BOOL,
	COCO_OPT_STRLIST,        /* { "a", "b" } */
	COCO_OPT_JSON,           /* any Lua value, carried as JSON text in s */
} coco_optkind;

typedef struct coco_optdef {
	const char *name;        /* NULL terminates the table */
	coco_optkind kind;
	int required;
	const char *doc;         /* one line, shown by `coco show -v` */
	int runtime;             /* changes how, not what: not in logic fingerprints */
} coco_optdef;

typedef struct coco_optval {
	int set;                 /* 0: not given (use the connector's default) */
	int b;
	int64_t i;
	double num;
	const char *s;           /* STR, JSON */
	const char **list;       /* STRLIST */
	size_t nlist;
} coco_optval;

/* Index of option `name` in defs, or -1. */
int coco_opt_index(const coco_optdef *defs, const char *name);
size_t coco_opt_count(const coco_optdef *defs);
/* "path, included_patterns, ..." */
void coco_opt_names(const coco_optdef *defs, coco_buf *out);

/* ---- Sources ------------------------------------------------------------ */
/* Called by list() once per row. key: the row key (a single value when the
 * source has one key field, else a STRUCT of the key fields). ordinal:
 * opaque bytes that change whenever the row may have changed (LocalFile:
 * mtime ns + size). Return non-zero to stop listing. */
typedef int (*coco_list_cb)(void *ud, const coco_value *key, const void *ord, size_t nord);

/* What change capture reports:
 *   ROW      the row with this key may have changed, appeared or gone;
 *            the engine reads it (coalescing bursts) and decides
 *   SCANNED  the same, found by a scan of a new directory rather than by an
 *            event: the row may still be being written, so the engine waits
 *            for the debounce window before reading it
 *   GONE     the row was deleted or moved away; it may come back at once
 *            (an editor renaming the file to a backup, then writing it
 *            anew), so the engine also waits for the debounce window
 *   RESCAN   events were lost or cannot be mapped to rows (queue overflow,
 *            a directory moved or deleted, the root replaced): do a full
 *            list pass now
 *   DEGRADED change capture is incomplete (e.g. the inotify watch limit was
 *            reached): poll with full list passes until further notice
 * key is NULL for RESCAN and DEGRADED. msg: a warning for the user, or
 * NULL. Return non-zero to stop. */
typedef enum coco_change_kind {
	COCO_CHANGE_ROW,
	COCO_CHANGE_SCANNED,
	COCO_CHANGE_GONE,
	COCO_CHANGE_RESCAN,
	COCO_CHANGE_DEGRADED,
} coco_change_kind;
typedef int (*coco_change_cb)(void *ud, coco_change_kind kind, const coco_value *key,
	const char *msg);

typedef struct coco_source_ops {
	const char *name;                     /* "LocalFile" */
	const coco_optdef *opts;
	/* Row type of the keyed table the source yields, from options alone (no
	 * I/O, but for a source whose types live in a catalog: Postgres reads its
	 * table's): a TABLE type whose first nkeys fields are the key. */
	int (*row_type)(const coco_optval *opts, coco_arena *types, const coco_type **out, char **err);
	/* Open for listing/reading. base_dir: the directory of the flow file;
	 * relative paths are resolved against it. Errors are for the user:
	 * "LocalFile: path 'docs' (/abs/docs) does not exist". */
	int (*open)(const coco_optval *opts, const char *base_dir, void **src, char **err);
	int (*list)(void *src, coco_list_cb cb, void *ud, char **err);
	/* Read one row: fills *row (a STRUCT value with every field of the row
	 * type, key fields included) with memory from a, and the ordinal of what
	 * was read into ord (cleared first). Returns 0 ok, 1 the row no longer
	 * exists, 2 ok with a warning in *err (the row is processed; the engine
	 * counts and reports the warning and frees it: "docs/a.txt: not valid
	 * UTF-8 (first bad byte at 17); 3 invalid sequences replaced with
	 * U+FFFD"), -1 a row error (message names the row: "docs/a.md: cannot
	 * read: Permission denied"). An empty ord means "not stable yet" (LocalFile:
	 * modified within the last 2 s): the next run reads the row again and
	 * its content fingerprint decides whether it is processed. */
	int (*read)(void *src, const coco_value *key, coco_arena *a, coco_value *row,
		coco_buf *ord, char **err);
	void (*close)(void *src);

	/* Change capture, optional (NULL: the source has none; live mode then
	 * relies on refresh_interval). watch() starts it on an opened source and
	 * gives one fd that becomes readable when changes are waiting;
	 * watch_read() drains what is there without blocking and reports each
	 * change through cb. Both run on the thread that owns src. */
	int (*watch)(void *src, int *fd, char **err);
	int (*watch_read)(void *src, coco_change_cb cb, void *ud, char **err);

	/* 1: every call must run on the thread that opened src (sources
	 * written in Lua). 0: live mode may run list() on a helper thread, so
	 * that a host's loop is not blocked while a large source is listed;
	 * nothing else uses src meanwhile (watch_read is not called). */
	int owner_thread_only;

	/* Optional (NULL: none). The indexer is about to read the rows with these
	 * keys, in this order: a source that reads over a network starts fetching
	 * them concurrently, and read() takes what arrived. A hint only: read()
	 * still works for any key, and each call replaces the previous hint. The
	 * keys are valid during the call only. */
	void (*prefetch)(void *src, const coco_value *keys, size_t n);
	/* Optional (NULL: none). Live mode calls it once the rows with these keys,
	 * reported by watch_read(), are processed and committed with no newer
	 * change pending (by a pass over those keys, or a full list pass that
	 * began after they were reported). A change feed that needs
	 * acknowledging (SQS) acknowledges here. The keys are valid during the
	 * call only. */
	void (*committed)(void *src, const coco_value *keys, size_t n);

	/* Optional (NULL: the source sets up nothing). What the source itself
	 * needs outside coco (Postgres: a trigger that notifies changes), planned
	 * and applied with the targets' setup (engine/setup.c), dropped by `coco
	 * drop` or when the source leaves the flow. The same contract as a
	 * target's describe/plan/apply; describe may read a catalog, and names
	 * the source by flow_name and source_name (the source's field); an
	 * empty resource_id: nothing to set up now (what was, is dropped). */
	int (*setup_describe)(const coco_optval *opts, const char *flow_name,
		const char *source_name, coco_buf *resource_id, coco_buf *desired, char **err);
	int (*setup_plan)(const char *stored, const char *desired, coco_buf *plan,
		int *destructive, char **err);
	int (*setup_apply)(const char *stored, const char *desired, char **err);
	/* Optional (NULL: none). Live mode calls it before watch() with the
	 * names setup_describe got (change capture set up under those names). */
	void (*named)(void *src, const char *flow_name, const char *source_name);
} coco_source_ops;

/* ---- Functions ---------------------------------------------------------- */
typedef struct coco_argdef {
	const char *name;        /* NULL terminates */
	uint32_t kinds;          /* bitmask of (1u << coco_kind) accepted; 0 = any */
	int required;
} coco_argdef;

/* What prepare() sees of each call argument: its type, and its value when
 * the argument is a constant (NULL when it comes from a field). */
typedef struct coco_arg_info {
	const coco_type *type;
	const coco_value *konst;
} coco_arg_info;

typedef struct coco_function_ops {
	const char *name;                     /* "SplitRecursively" */
	const coco_optdef *spec_opts;         /* options of the spec constructor */
	/* Call arguments in positional order; a call may also name them. NULL:
	 * any number of positional arguments (Lua-defined functions). */
	const coco_argdef *args;
	/* Once per use in a flow, at build time: check what the arguments are
	 * (kinds were checked against args already; constants can be checked
	 * here, e.g. chunk_size > 0) and give the output type. udata: what the
	 * implementer attached to the spec (Lua functions), else NULL. *state is
	 * passed to call() and destroy(). Allocate types in `types`. */
	int (*prepare)(const coco_optval *spec, void *udata, const coco_arg_info *args,
		size_t nargs, coco_arena *types, const coco_type **out, void **state, char **err);
	/* Evaluate: args[i] is null for an absent optional argument. Result
	 * memory from a. Return 0, or -1 with *err (a row error). May be NULL
	 * when call_batch is set: the engine calls it with a batch of one
	 * (coco_function_call). */
	int (*call)(void *state, const coco_value *args, size_t nargs, coco_arena *a,
		coco_value *out, char **err);
	void (*destroy)(void *state);         /* NULL: the state needs no freeing */
	/* Optional: evaluate n calls at once (functions that batch requests and
	 * keep many in flight, e.g. embeddings). args[i] is the i-th call's
	 * argument array (nargs each); results go to out[i] (memory from a). A
	 * call that fails sets errs[i] (malloc'd; the row fails) and leaves
	 * out[i] null. The engine gathers the calls of many rows (deduplicated,
	 * cached results left out) and calls this once per batch; it returns 0,
	 * or -1 with *err when nothing could be done (every row fails and is
	 * retried next run). */
	int (*call_batch)(void *state, const coco_value *const *args, size_t nargs, size_t n,
		coco_arena *a, coco_value *out, char **errs, char **err);
	/* Optional: whether the function can run now; -1 with *err if not (an
	 * API key variable that is not set). Checked before an update, live run,
	 * evaluate or query sets up or writes anything (coco_graph_ready), and
	 * by coco_call_function; not by prepare: a flow is shown, set up and
	 * dropped without it. */
	int (*ready)(void *state, char **err);
	/* 1: results are memoised by the engine (an expensive, deterministic
	 * function of its spec and arguments: embeddings, LLM calls), keyed by
	 * the function's logic fingerprint and the input's. */
	int cached;
} coco_function_ops;

/* One call of fn: fn->call, or without one fn->call_batch of one (a
 * call that fails gives its errs[0] as *err). 0, or -1 with *err. */
int coco_function_call(const coco_function_ops *fn, void *state, const coco_value *args,
	size_t nargs, coco_arena *a, coco_value *out, char **err);

/* ---- Targets ------------------------------------------------------------ */
typedef struct coco_export_info {
	const char *flow_name;
	const char *export_name;
	const char *base_dir;                 /* directory of the flow file */
	/* Collected row: a STRUCT type, primary-key fields first (nkeys of them,
	 * in primary_key_fields order), then the other fields by name. */
	const coco_type *row_type;
	uint32_t nkeys;
} coco_export_info;

/* 0 when info's row type has fields and 1..nfields key fields, which every
 * target needs; else -1 with *err, who naming the target:
 *   SQLite: export 'docs' has no fields
 *   SQLite: export 'docs' needs primary_key_fields */
int coco_export_check_row(const char *who, const coco_export_info *info, char **err);

#define COCO_TGT_REFUSED (-2)
/* A bit of plan()'s *destructive: see coco_target_ops.plan. */
#define COCO_SETUP_KEEPS_ROWS 2

typedef struct coco_target_ops {
	const char *name;                     /* "SQLite" */
	const coco_optdef *opts;
	/* The resource this export owns and the setup it needs, as text:
	 * resource_id names it globally ("sqlite:/abs/index.sqlite#DocsIndex__doc_chunks"),
	 * desired is a canonical description of the wanted state (columns,
	 * types, key), compared byte-wise with what was applied before. */
	int (*describe)(const coco_optval *opts, const coco_export_info *info,
		coco_buf *resource_id, coco_buf *desired, char **err);
	/* What going from `stored` (NULL: nothing yet) to `desired` (NULL: drop)
	 * does: appends human-readable lines to plan ("create table X",
	 * "add column y TEXT", "drop table X"), sets *destructive when data
	 * would be lost (dropping a table or column, recreating a table), with
	 * COCO_SETUP_KEEPS_ROWS or'd in when the target keeps its rows (a
	 * column dropped): the keys written before are still there, to be
	 * deleted if no row produces them any more. Without it, a destructive
	 * change is taken to leave the target empty (recreated). */
	int (*plan)(const char *stored, const char *desired, coco_buf *plan,
		int *destructive, char **err);
	/* Apply that change. Must be idempotent: safe to re-run after a crash. */
	int (*apply)(const char *stored, const char *desired, char **err);
	/* Optional (NULL: none). When the stored description equals desired:
	 * compares it with the resource as it is (a collection deleted or
	 * changed by hand) and appends to plan what apply(desired, desired)
	 * does to repair it, setting *destructive; appends nothing when all is
	 * well or the resource cannot be reached (the writes will say so).
	 * After such a repair, the export's rows are all written again. */
	int (*check)(const char *desired, coco_buf *plan, int *destructive, char **err);
	/* Writes. Opened per update run; upsert/del only between begin/commit.
	 * row: a STRUCT of info->row_type; key: a STRUCT of the nkeys key
	 * fields. Writes are idempotent (upsert = insert or replace). */
	int (*open)(const coco_optval *opts, const coco_export_info *info, void **tgt, char **err);
	/* upsert/del/commit: 0, -1 with *err, or COCO_TGT_REFUSED with *err
	 * when the target refused data of the batch (a value it cannot store,
	 * a constraint): the indexer rolls back (begin() again must discard
	 * what the failed batch wrote) and writes the batch again in halves
	 * until it has found the source rows refused; those become row errors,
	 * retried next run. A lost connection or the like is -1. */
	int (*begin)(void *tgt, char **err);
	int (*upsert)(void *tgt, const coco_value *row, char **err);
	int (*del)(void *tgt, const coco_value *key, char **err);
	int (*commit)(void *tgt, char **err);
	void (*close)(void *tgt);             /* rolls back an open transaction */
	/* Optional (NULL: not supported): for query handlers (flow:top_k), the
	 * k rows nearest to vec (dim floats) on the vector field `field` by
	 * `metric` ("cosine", "l2" or "ip"), nearest first. *row_type: a STRUCT
	 * type of the export's fields but `field` (struct and table fields as
	 * json) and then "distance" (float64); *rows: *nrows values of it. Types
	 * and values are allocated from a. engine/topk.h checks the field and
	 * the query's dimensions, and builds that row type. */
	int (*top_k)(const coco_optval *opts, const coco_export_info *info, const char *field,
		const char *metric, const float *vec, size_t dim, size_t k, coco_arena *a,
		const coco_type **row_type, coco_value **rows, size_t *nrows, char **err);
	/* Optional (NULL: `coco verify` cannot check this target): every row the
	 * export's table holds, in any order, through cb, on an opened target
	 * outside begin/commit. Each row is a STRUCT of info->row_type (struct
	 * and table fields as json text), its memory from a, which scan resets
	 * before each row; cb returns non-zero to stop (scan then returns 0). */
	int (*scan)(void *tgt, int (*cb)(void *ud, const coco_value *row), void *ud, coco_arena *a,
		char **err);
	/* 1: open/begin/upsert/del/commit must run on the thread that runs the
	 * update (targets written in Lua). 0: the indexer may write a batch on
	 * its writer thread while the next one is evaluated. */
	int owner_thread_only;
	/* 1: resource_id names the export, not the storage behind it (targets
	 * written in Lua name their storage in their options): setup drops
	 * such a resource before it creates any, since a new resource may be
	 * the same storage. Other resources are dropped after the creates. */
	int rid_is_export;
	/* Optional: a flow was closed (coco_graph_destroy). A target that keeps
	 * something for the process between calls (the Postgres target's idle
	 * connections) lets it go; called for every built-in target, whether
	 * the flow had an export to it or not (setup may have dropped one). */
	void (*flow_closed)(void);
} coco_target_ops;

/* ---- Registries ---------------------------------------------------------
 * Built-in connectors and functions, looked up by name. NULL if unknown. */
const coco_source_ops *coco_source_find(const char *name);
const coco_target_ops *coco_target_find(const char *name);
/* Calls flow_closed of each built-in target that has one. */
void coco_targets_flow_closed(void);
/* Targets defined at run time (lua/: coco.target{}), which coco_target_find
 * consults after the built-ins (setup of an export that left the flow
 * finds its target by name). NULL: none. */
extern const coco_target_ops *(*coco_target_find_dynamic)(const char *name);
const coco_function_ops *coco_function_find(const char *name);
/* NULL-terminated lists, for the Lua namespaces and `coco show`. */
extern const coco_source_ops *const coco_sources[];
extern const coco_target_ops *const coco_targets[];
extern const coco_function_ops *const coco_functions[];
