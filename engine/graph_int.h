#pragma once
/* Internals of the operator graph, shared by graph.c, describe.c, exec.c
 * and inspect.c only. */
#include "engine/graph.h"

typedef struct gfield {
	const char *name;             /* NULL until named */
	const coco_type *type;
	coco_fp fp;                   /* logic fingerprint of the value */
} gfield;

typedef enum { OP_TRANSFORM, OP_FOREACH, OP_COLLECT } gop_kind;

typedef struct gop {
	gop_kind kind;
	const char *where;
	/* TRANSFORM */
	const coco_function_ops *fn;
	const char *fn_label;
	void *fn_state;
	coco_arg *args;               /* resolved to fn's argdef order (nargs) */
	size_t nargs;
	int out;                      /* field index in the scope */
	int cache;
	coco_fp fn_fp;                /* memo namespace: function logic */
	int scratch;                  /* its table is read by one FOREACH only: it can
	                                 live apart and go once walked (exec.c) */
	/* FOREACH */
	coco_fieldref in;
	int child;
	int release;                  /* over a scratch transform's table */
	/* COLLECT */
	int collector;
	coco_arg *vals;               /* one per collector field, in collector order */
	coco_fp fp;
} gop;

typedef struct gscope {
	int parent;                   /* -1 for root */
	int source;                   /* source whose row tree this is; -1 root */
	int nbase;                    /* fields copied from the row */
	gfield *fields;
	size_t nfields, capfields;
	gop *ops;
	size_t nops, capops;
} gscope;

typedef struct gcollector {
	const char *where;
	const char **names;           /* sorted */
	const coco_type **types;
	size_t nfields;
	int ncollects;
} gcollector;

struct coco_graph {
	coco_arena arena;             /* everything of the graph */
	const char *name, *base_dir;
	int finished;
	gscope *scopes;
	size_t nscopes, capscopes;
	coco_gsource *sources;
	size_t nsources, capsources;
	gcollector *collectors;
	size_t ncollectors, capcollectors;
	coco_gexport *exports;
	size_t nexports, capexports;
	/* member names read from json values (`doc.meta.author`): a path entry
	 * with COCO_JSON_PATH set is an index in this list */
	const char **jkeys;
	size_t njkeys, capjkeys;
};

#define COCO_JSON_PATH 0x8000u
