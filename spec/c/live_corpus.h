/* The corpus and flow of the live updater's step budget, shared by its
 * test (spec/c/test_live_budget.c) and its benchmark
 * (spec/bench/bench_live_budget.c): NFILES small Markdown files in a new
 * temporary directory's docs/, and the flow Budget over them: LocalFile
 * docs/ -> SplitRecursively (chunk_size 400) -> SQLite index.sqlite, table
 * Budget__doc_chunks (filename, location, text), key filename, location.
 * Each function aborts when the machine fails it (a test set-up, not a
 * case). */
#ifndef COCO_LIVE_CORPUS_H
#define COCO_LIVE_CORPUS_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "engine/live.h"

static inline double live_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Writes dir/docs/name. */
static void live_corpus_put(const char *dir, const char *name, const char *text)
{
	char p[600];
	snprintf(p, sizeof p, "%s/docs/%s", dir, name);
	FILE *f = fopen(p, "wb");
	if (!f || fputs(text, f) < 0 || fclose(f)) {
		perror(p);
		abort();
	}
}

/* The text of docs/name's first row in dir/index.sqlite into out, "" if
 * none. */
static inline void live_corpus_text(const char *dir, const char *name, char *out, size_t n)
{
	char p[600];
	sqlite3 *db;
	sqlite3_stmt *st;
	out[0] = 0;
	snprintf(p, sizeof p, "%s/index.sqlite", dir);
	if (sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT text FROM Budget__doc_chunks WHERE filename = ?", -1, &st,
		NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
}

/* Makes a directory from tmpl ("/tmp/name.XXXXXX", replaced in place) with
 * docs/f0000.md ... holding nfiles files of a few words each. */
static void live_corpus_make(char *tmpl, int nfiles)
{
	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		abort();
	}
	char p[600], name[64], text[256];
	snprintf(p, sizeof p, "%s/docs", tmpl);
	mkdir(p, 0777);
	for (int i = 0; i < nfiles; i++) {
		snprintf(name, sizeof name, "f%04d.md", i);
		snprintf(text, sizeof text, "# File %d\n\nA few words about file %d.\n", i, i);
		live_corpus_put(tmpl, name, text);
	}
}

/* The flow Budget over dir/docs. */
static coco_graph *live_corpus_flow(const char *dir)
{
	const coco_source_ops *lf = coco_source_find("LocalFile");
	const coco_target_ops *sql = coco_target_find("SQLite");
	const coco_function_ops *split = coco_function_find("SplitRecursively");
	coco_optval lo[16] = { { 0 } }, so[16] = { { 0 } }, spec[16] = { { 0 } };
	lo[coco_opt_index(lf->opts, "path")] = (coco_optval){ .set = 1, .s = "docs" };
	so[coco_opt_index(sql->opts, "path")] = (coco_optval){ .set = 1, .s = "index.sqlite" };
	char *e = NULL;
	coco_graph *g = coco_graph_create("Budget", dir);
	coco_fieldref docs, content, filename, chunks, loc, txt;
	int ds, cs, col;
	coco_arg a[2] = { { .kind = COCO_ARG_REF }, { .kind = COCO_ARG_CONST, .name = "chunk_size" } };
	if (coco_graph_add_source(g, lf, lo, NULL, "budget:1", &docs, &e) ||
	    coco_graph_name_field(g, 0, &docs, "documents", "budget:1", &e) ||
	    coco_graph_add_collector(g, "budget:2", &col, &e) ||
	    coco_graph_foreach(g, 0, &docs, "budget:3", &ds, &e) ||
	    coco_graph_field(g, ds, "content", "budget:4", &content, &e) ||
	    coco_graph_field(g, ds, "filename", "budget:4", &filename, &e))
		goto fail;
	a[0].ref = content;
	a[1].konst = coco_v_int(400);
	if (coco_graph_transform(g, ds, split, spec, NULL, NULL, NULL, a, 2, "budget:5", &chunks, &e) ||
	    coco_graph_name_field(g, ds, &chunks, "chunks", "budget:5", &e) ||
	    coco_graph_foreach(g, ds, &chunks, "budget:6", &cs, &e) ||
	    coco_graph_field(g, cs, "location", "budget:7", &loc, &e) ||
	    coco_graph_field(g, cs, "text", "budget:7", &txt, &e))
		goto fail;
	const char *names[3] = { "filename", "location", "text" };
	coco_arg vals[3] = { { .kind = COCO_ARG_REF, .ref = filename }, { .kind = COCO_ARG_REF, .ref = loc },
		{ .kind = COCO_ARG_REF, .ref = txt } };
	static const char *const pk[] = { "filename", "location" };
	if (coco_graph_collect(g, cs, col, names, vals, 3, "budget:8", &e) ||
	    coco_graph_export(g, col, "doc_chunks", sql, so, pk, 2, "budget:9", &e) ||
	    coco_graph_finish(g, &e))
		goto fail;
	return g;
fail:
	fprintf(stderr, "live_corpus_flow: %s\n", e);
	free(e);
	abort();
}

/* The state of flow g over dir (dir/.coco/Budget), its setup applied. */
static inline coco_state *live_corpus_state(const coco_graph *g, const char *dir)
{
	char p[600];
	coco_state *st;
	coco_setup_plan plan;
	char *e = NULL;
	snprintf(p, sizeof p, "%s/.coco/Budget", dir);
	if (coco_state_open(p, 0, &st, &e) || coco_setup_plan_make(g, st, &plan, &e) ||
	    coco_setup_apply(st, &plan, &e)) {
		fprintf(stderr, "live_corpus_state: %s\n", e);
		abort();
	}
	coco_setup_plan_free(&plan);
	return st;
}

#endif
