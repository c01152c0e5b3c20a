/* fuzz_state STATE_DIR: prints a flow's state as text lines (see
 * coco_state_dump in engine/indexer.h), for spec/fuzz to check that no
 * tracking, lineage or memo entry outlives what it stands for. Opens the
 * state read-only: run it while no coco process holds the flow.
 *
 * fuzz_state --serve: reads state directories from stdin, one a line, and
 * answers each with its dump and a line "--- end" (the fuzzer keeps one
 * running: a process per look costs more than the look). */
#include "indexer.h"

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

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_state STATE_DIR | fuzz_state --serve\n");
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
