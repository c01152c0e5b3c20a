/* fuzz_state STATE_DIR: prints a flow's state as text lines (see
 * coco_state_dump in engine/indexer.h), for spec/fuzz to check that no
 * tracking, lineage or memo entry outlives what it stands for. Opens the
 * state read-only: run it while no coco process holds the flow.
 *
 * fuzz_state --serve: reads state directories from stdin, one a line, and
 * answers each with its dump and a line "--- end" (the fuzzer keeps one
 * running: a process per look costs more than the look).
 *
 * fuzz_state --old-lineage STATE_DIR: rewrites the state as coco wrote it
 * before lineage named targets by resource id (6e859a5): each lineage
 * record names the export instead (from the setup records), and what came
 * with or after that change is gone: the meta keys "lineage", "owners\0..."
 * and "owners-reordered" and the owner records. The migration spec
 * (spec/exactness_spec.lua) updates over it. */
#include "engine/indexer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int dump(const char *dir, FILE *out)
{
	coco_state *st;
	char *err = NULL;
	if (coco_state_open(dir, 1, &st, &err)) {
		fprintf(out, "fuzz_state: %s\n", err ? err : "cannot open");
		free(err);
		return 1;
	}
	coco_buf b = {0};
	int rc = coco_state_dump(st, &b, &err);
	coco_state_close(st);
	if (rc) {
		fprintf(out, "fuzz_state: %s\n", err ? err : "cannot read");
		free(err);
	} else {
		fwrite(b.p ? b.p : "", 1, b.n, out);
	}
	coco_buf_free(&b);
	return rc ? 1 : 0;
}

/* The export that set up resource id rid (k, kn): from the setup records
 * ("<target>\n<export>\n<description>"), or NULL. */
static const char *export_of(const char **rids, const char **names, size_t n, const char *k, size_t kn)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(rids[i]) == kn && !memcmp(rids[i], k, kn))
			return names[i];
	return NULL;
}

/* Copies a length-prefixed string from r to out, or the export that set
 * up the resource it names instead (rename). */
static int copy_bytes(coco_rd *r, coco_buf *out, int rename, const char **rids, const char **names, size_t n)
{
	uint64_t len;
	const char *p;
	if (coco_rd_varint(r, &len) || len > (uint64_t)(r->end - r->p) || coco_rd_bytes(r, (size_t)len, &p))
		return -1;
	const char *name = rename ? export_of(rids, names, n, p, (size_t)len) : NULL;
	if (name) {
		coco_buf_varint(out, strlen(name));
		coco_buf_adds(out, name);
	} else {
		coco_buf_varint(out, len);
		coco_buf_add(out, p, (size_t)len);
	}
	return 0;
}

/* A lineage record (see indexer.c) with each resource id replaced by its
 * export's name. */
static int old_record(const char *v, size_t vn, coco_buf *out, const char **rids, const char **names, size_t n)
{
	coco_rd r = { (const unsigned char *)v, (const unsigned char *)v + vn };
	const char *fp;
	uint64_t ne, nr;
	coco_buf_clear(out);
	if (coco_rd_varint(&r, &ne))
		return -1;
	coco_buf_varint(out, ne);
	for (uint64_t e = 0; e < ne; e++) {
		if (copy_bytes(&r, out, 1, rids, names, n) || coco_rd_varint(&r, &nr))
			return -1;
		coco_buf_varint(out, nr);
		for (uint64_t i = 0; i < nr; i++) {
			if (copy_bytes(&r, out, 0, NULL, NULL, 0) || coco_rd_bytes(&r, 16, &fp))
				return -1;
			coco_buf_add(out, fp, 16);
		}
	}
	if (coco_rd_varint(&r, &nr))
		return -1;
	coco_buf_varint(out, nr);
	for (uint64_t i = 0; i < nr; i++)
		if (copy_bytes(&r, out, 1, rids, names, n) || copy_bytes(&r, out, 0, NULL, NULL, 0))
			return -1;
	coco_buf_add(out, r.p, (size_t)(r.end - r.p));     /* the memo keys */
	return 0;
}

static int old_lineage(const char *dir)
{
	coco_state *st;
	char *err = NULL;
	if (coco_state_open(dir, 0, &st, &err)) {
		fprintf(stderr, "fuzz_state: %s\n", err ? err : "cannot open");
		free(err);
		return 1;
	}
	const char **rids = NULL, **names = NULL;
	size_t n = 0;
	const char *k, *v;
	size_t kn, vn;
	int rc;
	coco_iter *it = coco_state_iter(st, COCO_CF_SETUP, NULL, 0);
	while ((rc = coco_iter_next(it, &k, &kn, &v, &vn, &err)) == 1) {
		const char *nl = memchr(v, '\n', vn);
		const char *nl2 = nl ? memchr(nl + 1, '\n', vn - (size_t)(nl + 1 - v)) : NULL;
		if (!nl2)
			continue;
		rids = realloc(rids, (n + 1) * sizeof *rids);
		names = realloc(names, (n + 1) * sizeof *names);
		if (!rids || !names)
			abort();
		rids[n] = strndup(k, kn);
		names[n++] = strndup(nl + 1, (size_t)(nl2 - nl - 1));
	}
	coco_iter_destroy(it);
	coco_batch *b = coco_batch_create();
	coco_buf rec = {0};
	if (rc == 0) {
		it = coco_state_iter(st, COCO_CF_LINEAGE, NULL, 0);
		while ((rc = coco_iter_next(it, &k, &kn, &v, &vn, &err)) == 1) {
			if (old_record(v, vn, &rec, rids, names, n)) {
				err = strdup("a lineage record that does not decode");
				rc = -1;
				break;
			}
			coco_batch_put(b, COCO_CF_LINEAGE, k, kn, rec.p, rec.n);
		}
		coco_iter_destroy(it);
	}
	if (rc == 0) {
		it = coco_state_iter(st, COCO_CF_OWNER, NULL, 0);
		while ((rc = coco_iter_next(it, &k, &kn, &v, &vn, &err)) == 1)
			coco_batch_del(b, COCO_CF_OWNER, k, kn);
		coco_iter_destroy(it);
	}
	if (rc == 0) {
		it = coco_state_iter(st, COCO_CF_META, "owners", 6);     /* "owners\0<rid>", "owners-reordered" */
		while ((rc = coco_iter_next(it, &k, &kn, &v, &vn, &err)) == 1)
			coco_batch_del(b, COCO_CF_META, k, kn);
		coco_iter_destroy(it);
	}
	if (rc == 0) {
		coco_batch_del(b, COCO_CF_META, "lineage", 7);
		rc = coco_state_write(st, b, 1, &err);
	}
	if (rc)
		fprintf(stderr, "fuzz_state: %s\n", err ? err : "cannot rewrite");
	free(err);
	coco_buf_free(&rec);
	coco_batch_destroy(b);
	coco_state_close(st);
	for (size_t i = 0; i < n; i++) {
		free((char *)rids[i]);
		free((char *)names[i]);
	}
	free(rids);
	free(names);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--old-lineage"))
		return old_lineage(argv[2]);
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_state STATE_DIR | fuzz_state --serve | fuzz_state --old-lineage STATE_DIR\n");
		return 2;
	}
	if (strcmp(argv[1], "--serve"))
		return dump(argv[1], stdout);
	char line[4096];
	while (fgets(line, sizeof line, stdin)) {
		line[strcspn(line, "\n")] = 0;
		dump(line, stdout);
		fputs("--- end\n", stdout);
		fflush(stdout);
	}
	return 0;
}
