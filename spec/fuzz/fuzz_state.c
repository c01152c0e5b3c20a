/* fuzz_state STATE_DIR: prints a flow's state as text lines (see
 * coco_state_dump in engine/indexer.h), for spec/fuzz to check that no
 * tracking, lineage or memo entry outlives what it stands for. Opens the
 * state read-only: run it while no coco process holds the flow. */
#include "indexer.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_state STATE_DIR\n");
		return 2;
	}
	coco_state *st;
	char *err = NULL;
	if (coco_state_open(argv[1], 1, &st, &err)) {
		fprintf(stderr, "fuzz_state: %s\n", err ? err : "cannot open");
		free(err);
		return 1;
	}
	coco_buf out = {0};
	int rc = coco_state_dump(st, &out, &err);
	coco_state_close(st);
	if (rc) {
		fprintf(stderr, "fuzz_state: %s\n", err ? err : "cannot read");
		free(err);
		coco_buf_free(&out);
		return 1;
	}
	fwrite(out.p ? out.p : "", 1, out.n, stdout);
	coco_buf_free(&out);
	return 0;
}
