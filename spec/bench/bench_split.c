/* Benchmark: SplitRecursively throughput.
 *
 *   bench_split [FILE|DIR ...]
 *
 * Splits every file given (directories are walked; the language is the
 * file's extension, so .md is markdown and anything else plain text), or
 * with no arguments 40 MB of generated markdown-like text, with
 * chunk_size 1000 (min_chunk_size default) and chunk_overlap 0, then 200.
 * Prints the best of 5 runs in MB/s and the chunk counts. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "engine/buf.h"
#include "engine/value.h"
#include "engine/ops.h"

extern const coco_function_ops coco_fn_split_recursively;

typedef struct doc {
	char *text;
	size_t len;
	const char *lang;             /* extension with its dot, or NULL */
} doc;

static doc *docs;
static size_t ndocs, capdocs, total;

static void add_doc(char *text, size_t len, const char *lang)
{
	if (ndocs == capdocs) {
		capdocs = capdocs ? capdocs * 2 : 64;
		docs = realloc(docs, capdocs * sizeof *docs);
		if (!docs)
			abort();
	}
	docs[ndocs++] = (doc){ text, len, lang };
	total += len;
}

static void add_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		fprintf(stderr, "bench_split: %s: cannot stat\n", path);
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			coco_buf p = { 0 };
			coco_buf_printf(&p, "%s/%s", path, e->d_name);
			add_path(p.p);
			coco_buf_free(&p);
		}
		if (d)
			closedir(d);
		return;
	}
	if (!S_ISREG(st.st_mode))
		return;
	FILE *f = fopen(path, "rb");
	if (!f)
		return;
	char *text = malloc((size_t)st.st_size + 1);
	size_t n = fread(text, 1, (size_t)st.st_size, f);
	fclose(f);
	const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
	const char *lang = dot && (!slash || dot > slash) ? strdup(dot) : NULL;
	add_doc(text, n, lang);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/* Markdown-like text: headings, paragraphs of sentences, lists, code. */
static void gen_markdown(coco_buf *b, size_t target)
{
	static const char *const w[] = { "the", "engine", "keeps", "targets", "in", "sync",
		"with", "their", "sources", "and", "only", "does", "work", "that", "a", "change",
		"needs", "incremental", "index", "über", "naïve", "données", "chunk", "vector" };
	size_t nw = sizeof w / sizeof w[0];
	int sec = 0;
	while (b->n < target) {
		coco_buf_printf(b, "%.*s Section %d\n\n", 1 + (int)rnd(3), "###", sec++);
		for (int para = 1 + (int)rnd(6); para > 0; para--) {
			int kind = (int)rnd(10);
			if (kind == 0) {
				coco_buf_adds(b, "```python\n");
				for (int l = 3 + (int)rnd(15); l > 0; l--)
					coco_buf_printf(b, "    x_%d = compute(%s, %d)  # %s\n", l,
						w[rnd((uint32_t)nw)], (int)rnd(1000), w[rnd((uint32_t)nw)]);
				coco_buf_adds(b, "```\n\n");
			} else if (kind == 1) {
				for (int l = 2 + (int)rnd(6); l > 0; l--) {
					coco_buf_adds(b, "- ");
					for (int k = 3 + (int)rnd(10); k > 0; k--)
						coco_buf_printf(b, "%s ", w[rnd((uint32_t)nw)]);
					coco_buf_adds(b, "\n");
				}
				coco_buf_adds(b, "\n");
			} else {
				int wrap = (int)rnd(2);
				size_t line = b->n;
				for (int s = 1 + (int)rnd(8); s > 0; s--) {
					for (int k = 4 + (int)rnd(16); k > 0; k--) {
						coco_buf_adds(b, w[rnd((uint32_t)nw)]);
						if (wrap && b->n - line > 72) {
							coco_buf_putc(b, '\n');
							line = b->n;
						} else {
							coco_buf_putc(b, k > 1 ? ' ' : '.');
						}
					}
					coco_buf_putc(b, ' ');
				}
				coco_buf_adds(b, "\n\n");
			}
		}
	}
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* One pass over every doc; returns the number of chunks. */
static size_t run(int64_t overlap, coco_arena *a)
{
	coco_arena types = { 0 };
	coco_value cs = coco_v_int(1000), ov = coco_v_int(overlap);
	coco_arg_info ai[5] = { { &coco_t_str, NULL }, { &coco_t_int64, &cs }, { 0 },
		{ &coco_t_int64, &ov }, { &coco_t_str, NULL } };
	const coco_type *type;
	void *state;
	char *err = NULL;
	if (coco_fn_split_recursively.prepare(NULL, NULL, ai, 5, &types, &type, &state, &err) < 0) {
		fprintf(stderr, "bench_split: %s\n", err);
		exit(1);
	}
	size_t chunks = 0;
	for (size_t i = 0; i < ndocs; i++) {
		coco_value args[5] = { coco_v_str(docs[i].text, docs[i].len), cs, coco_v_null(), ov,
			docs[i].lang ? coco_v_str(docs[i].lang, strlen(docs[i].lang)) : coco_v_null() };
		coco_value out;
		if (coco_fn_split_recursively.call(state, args, 5, a, &out, &err) < 0) {
			fprintf(stderr, "bench_split: %s\n", err);
			exit(1);
		}
		chunks += out.n;
		coco_arena_reset(a);
	}
	coco_fn_split_recursively.destroy(state);
	coco_arena_destroy(&types);
	return chunks;
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			add_path(argv[i]);
	} else {
		coco_buf b = { 0 };
		gen_markdown(&b, 40u << 20);
		size_t n = b.n;
		add_doc(coco_buf_take(&b), n, "markdown");
	}
	printf("%zu file(s), %.1f MB\n", ndocs, total / 1e6);
	coco_arena a = { 0 };
	const int64_t overlaps[] = { 0, 200 };
	for (int o = 0; o < 2; o++) {
		double best = 1e30;
		size_t chunks = 0;
		for (int r = 0; r < 5; r++) {
			double t0 = now();
			chunks = run(overlaps[o], &a);
			double dt = now() - t0;
			if (dt < best)
				best = dt;
		}
		printf("chunk_size 1000, overlap %3lld: %8.1f MB/s, %zu chunks (best of 5: %.1f ms)\n",
			(long long)overlaps[o], total / 1e6 / best, chunks, best * 1e3);
	}
	coco_arena_destroy(&a);
	for (size_t i = 0; i < ndocs; i++) {
		free(docs[i].text);
		if (argc > 1)
			free((char *)docs[i].lang);
	}
	free(docs);
	return 0;
}
