/* Benchmark: chunk quality and speed of SplitRecursively on real source
 * trees of this machine.
 *
 *   bench_chunk_quality [-s CHUNK_SIZE] [--show-cuts N] [--big] [LANG:DIR ...]
 *
 * Default corpora: C (/usr/include, *.h *.c), Python (the largest
 * /usr/lib/python3.* stdlib, *.py), text (/usr/share/doc, uncompressed
 * UTF-8 files), and, when present, JavaScript (/usr/lib/node_modules),
 * C++ (/usr/include/c++), SQL, Lua, XML, TOML, YAML, CSS.
 *
 * For each language it splits every file through the SplitRecursively
 * vtable (chunk_size 1000, min_chunk_size default, overlap 0) and checks:
 * no chunk above chunk_size, chunk text is the text at its location,
 * chunks tile the document (only whitespace between them), the share of
 * chunks starting at a line start (only indentation before them). For C and
 * Python it finds the top-level definitions with a separate lexer (C:
 * functions, structs, unions, enums, initialisers with braces at file
 * level; Python: def/class with decorators) and reports the fraction of
 * those that fit in chunk_size but are cut across chunks, next to the
 * same figure for plain text splitting. Throughput is the best of 3 runs,
 * one core.
 *
 * Then linear time: generated single-line texts and texts of 1-character
 * lines of 12.5, 25 and 50 MB, as c, python and text; with --big also
 * 1 GB without any separator. */
#define _GNU_SOURCE
#include <ctype.h>
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

#define NONE ((size_t)-1)

static int64_t chunk_size = 1000;
static int show_cuts;

typedef struct doc {
	char *path;
	char *text;
	size_t len;
} doc;

typedef struct corpus {
	const char *lang;
	doc *docs;
	size_t n, cap, bytes;
} corpus;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int has_ext(const char *name, const char *exts)
{
	const char *dot = strrchr(name, '.');
	if (!exts)
		return !dot || (strcmp(dot, ".gz") && strcmp(dot, ".bz2") && strcmp(dot, ".xz") &&
			strcmp(dot, ".png") && strcmp(dot, ".jpg") && strcmp(dot, ".gif") &&
			strcmp(dot, ".pdf") && strcmp(dot, ".svgz") && strcmp(dot, ".zip"));
	if (!dot)
		return 0;
	char buf[16];
	for (const char *p = exts; *p;) {
		const char *q = strchr(p, ',');
		size_t n = q ? (size_t)(q - p) : strlen(p);
		if (n < sizeof buf) {
			memcpy(buf, p, n);
			buf[n] = 0;
			if (!strcmp(dot + 1, buf))
				return 1;
		}
		p += n + (q ? 1 : 0);
	}
	return 0;
}

static int utf8_ok(const char *t, size_t n)
{
	const unsigned char *u = (const unsigned char *)t;
	for (size_t i = 0; i < n;) {
		unsigned char c = u[i];
		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t k = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC2 ? 1 : 9;
		if (k == 9 || c > 0xF4 || i + k >= n)
			return 0;
		for (size_t j = 1; j <= k; j++)
			if ((u[i + j] & 0xC0) != 0x80)
				return 0;
		i += k + 1;
	}
	return 1;
}

static void add_file(corpus *c, const char *path, size_t max_bytes)
{
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0 || st.st_size > 8 << 20)
		return;
	if (max_bytes && c->bytes > max_bytes)
		return;
	FILE *f = fopen(path, "rb");
	if (!f)
		return;
	char *t = malloc((size_t)st.st_size + 1);
	size_t n = fread(t, 1, (size_t)st.st_size, f);
	fclose(f);
	t[n] = 0;
	if (!utf8_ok(t, n)) {
		free(t);
		return;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 256;
		c->docs = realloc(c->docs, c->cap * sizeof *c->docs);
	}
	c->docs[c->n++] = (doc){ strdup(path), t, n };
	c->bytes += n;
}

static void walk(corpus *c, const char *dir, const char *exts, const char *skip, size_t max_bytes)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char **names = NULL;
	size_t nn = 0, cap = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (nn == cap) {
			cap = cap ? cap * 2 : 64;
			names = realloc(names, cap * sizeof *names);
		}
		names[nn++] = strdup(e->d_name);
	}
	closedir(d);
	/* sorted, so runs are repeatable */
	for (size_t i = 1; i < nn; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char *x = names[j];
			names[j] = names[j - 1];
			names[j - 1] = x;
		}
	for (size_t i = 0; i < nn; i++) {
		coco_buf p = { 0 };
		coco_buf_printf(&p, "%s/%s", dir, names[i]);
		struct stat st;
		if (lstat(p.p, &st) == 0) {
			if (S_ISDIR(st.st_mode)) {
				if (!skip || !strstr(p.p, skip))
					walk(c, p.p, exts, skip, max_bytes);
			} else if (S_ISREG(st.st_mode) && has_ext(names[i], exts)) {
				add_file(c, p.p, max_bytes);
			}
		}
		coco_buf_free(&p);
		free(names[i]);
	}
	free(names);
}

static void corpus_free(corpus *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->docs[i].path);
		free(c->docs[i].text);
	}
	free(c->docs);
	memset(c, 0, sizeof *c);
}

/* ---- splitting through the vtable ----------------------------------------- */

typedef struct splitter {
	void *state;
	coco_arena types, a;
} splitter;

static void sp_open(splitter *s)
{
	memset(s, 0, sizeof *s);
	coco_value cs = coco_v_int(chunk_size);
	coco_arg_info ai[5] = { { &coco_t_str, NULL }, { &coco_t_int64, &cs }, { 0 }, { 0 },
		{ &coco_t_str, NULL } };
	const coco_type *type;
	char *err = NULL;
	if (coco_fn_split_recursively.prepare(NULL, NULL, ai, 5, &s->types, &type, &s->state, &err) < 0) {
		fprintf(stderr, "bench_chunk_quality: %s\n", err);
		exit(1);
	}
}

static void sp_close(splitter *s)
{
	coco_fn_split_recursively.destroy(s->state);
	coco_arena_destroy(&s->types);
	coco_arena_destroy(&s->a);
}

static coco_value sp_split(splitter *s, const char *t, size_t n, const char *lang)
{
	coco_value args[5] = { coco_v_str(t, n), coco_v_int(chunk_size), coco_v_null(), coco_v_null(),
		coco_v_str(lang, strlen(lang)) };
	coco_value out;
	char *err = NULL;
	if (coco_fn_split_recursively.call(s->state, args, 5, &s->a, &out, &err) < 0) {
		fprintf(stderr, "bench_chunk_quality: %s\n", err);
		exit(1);
	}
	return out;
}

static size_t rs(const coco_value *out, size_t i) { return (size_t)out->u.rows[i].u.fields[0].u.r[0]; }
static size_t re_(const coco_value *out, size_t i) { return (size_t)out->u.rows[i].u.fields[0].u.r[1]; }

static int ws(unsigned char c)
{
	return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* ---- top-level definitions ------------------------------------------------ */

typedef struct spans {
	size_t *a, *b;
	size_t n, cap;
} spans;

static void span_add(spans *s, const char *t, size_t a, size_t b)
{
	while (a < b && ws((unsigned char)t[a]))
		a++;
	while (b > a && ws((unsigned char)t[b - 1]))
		b--;
	if (a >= b)
		return;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->a = realloc(s->a, s->cap * sizeof *s->a);
		s->b = realloc(s->b, s->cap * sizeof *s->b);
	}
	s->a[s->n] = a;
	s->b[s->n++] = b;
}

static int at_line_start(const char *t, size_t i)
{
	while (i > 0 && (t[i - 1] == ' ' || t[i - 1] == '\t'))
		i--;
	return i == 0 || t[i - 1] == '\n';
}

/* A line that holds only an identifier, maybe with (), and a comment. */
static int macro_line(const char *t, size_t i, size_t n)
{
	size_t k = i;
	while (k < n && (isalnum((unsigned char)t[k]) || t[k] == '_'))
		k++;
	if (k == i || (t[i] >= '0' && t[i] <= '9'))
		return 0;
	if (k + 1 < n && t[k] == '(' && t[k + 1] == ')')
		k += 2;
	while (k < n && (t[k] == ' ' || t[k] == '\t'))
		k++;
	if (k + 1 < n && t[k] == '/' && (t[k + 1] == '/' || t[k + 1] == '*'))
		return 1;
	return k >= n || t[k] == '\n' || t[k] == '\r';
}

/* C and C++: items at file level (outside extern "C" / namespace braces)
 * that hold a brace block: functions (end at their '}'), and struct, enum,
 * union, initialisers (end at the ';' after the block). */
static void c_defs(const char *t, size_t n, spans *out)
{
	size_t i = 0, start = NONE;
	int depth = 0, wrappers = 0, block = 0, fnlike = 0, paren = 0, eq = 0;
	while (i < n) {
		char c = t[i];
		if (c == '/' && i + 1 < n && t[i + 1] == '*') {
			const char *q = memmem(t + i + 2, n - i - 2, "*/", 2);
			i = q ? (size_t)(q - t) + 2 : n;
			continue;
		}
		if (c == '/' && i + 1 < n && t[i + 1] == '/') {
			const char *q = memchr(t + i, '\n', n - i);
			i = q ? (size_t)(q - t) : n;
			continue;
		}
		if (c == '#' && at_line_start(t, i)) {
			while (i < n && t[i] != '\n') {
				if (t[i] == '\\' && i + 1 < n && t[i + 1] == '\n')
					i++;
				else if (t[i] == '/' && i + 1 < n && t[i + 1] == '*') {
					const char *q = memmem(t + i + 2, n - i - 2, "*/", 2);
					i = q ? (size_t)(q - t) + 1 : n;
				}
				i++;
			}
			continue;
		}
		if (ws((unsigned char)c)) {
			i++;
			continue;
		}
		if (depth == 0 && start == NONE && at_line_start(t, i) && macro_line(t, i, n)) {
			/* a lone macro (__BEGIN_DECLS, _XFUNCPROTOBEGIN) is not part
			 * of what follows */
			const char *q = memchr(t + i, '\n', n - i);
			i = q ? (size_t)(q - t) : n;
			continue;
		}
		if (depth == 0 && start == NONE) {
			start = i;
			block = fnlike = paren = eq = 0;
		}
		if (c == '"' || c == '\'') {
			i++;
			while (i < n && t[i] != c && t[i] != '\n')
				i += t[i] == '\\' ? 2 : 1;
			i++;
			continue;
		}
		if (c == '{') {
			if (depth == 0) {
				const char *s = t + start;
				if (!strncmp(s, "extern \"C", 9) || !strncmp(s, "namespace", 9) ||
				    !strncmp(s, "inline namespace", 16)) {
					wrappers++;
					start = NONE;
					i++;
					continue;
				}
				if (!block)
					fnlike = paren && !eq;
				block = 1;
			}
			depth++;
		} else if (c == '}') {
			if (depth == 0) {
				if (wrappers)
					wrappers--;
				start = NONE;
			} else if (--depth == 0 && fnlike) {
				span_add(out, t, start, i + 1);
				start = NONE;
			}
		} else if (depth == 0) {
			if (c == ';') {
				if (block)
					span_add(out, t, start, i + 1);
				start = NONE;
			} else if (c == '(') {
				paren = 1;
			} else if (c == '=') {
				eq = 1;
			}
		}
		i++;
	}
}

static int py_starts(const char *t, size_t i, size_t e)
{
	size_t n = e - i;
	return (n >= 4 && !memcmp(t + i, "def ", 4)) || (n >= 6 && !memcmp(t + i, "class ", 6)) ||
		(n >= 10 && !memcmp(t + i, "async def ", 10)) || t[i] == '@';
}

/* Python: top-level def and class statements with their decorators, up to
 * the last non-blank line before the next statement at column 0 (outside
 * strings and brackets). */
static void py_defs(const char *t, size_t n, spans *out)
{
	size_t p = 0, cur = NONE, last_end = 0;
	int paren = 0, dec = 0;
	char triple = 0;
	while (p < n) {
		const char *nl = memchr(t + p, '\n', n - p);
		size_t e = nl ? (size_t)(nl - t) : n;
		size_t i = p;
		while (i < e && ws((unsigned char)t[i]))
			i++;
		int blank = i == e;
		if (!triple && !paren && !blank && i == p) {
			int def = py_starts(t, i, e);
			if (!(dec && def)) {
				if (cur != NONE)
					span_add(out, t, cur, last_end);
				cur = def ? p : NONE;
			}
			dec = def && t[i] == '@';
		}
		/* lex the line */
		for (size_t k = i; k < e;) {
			char c = t[k];
			if (triple) {
				const char *q = memmem(t + k, e - k, triple == '"' ? "\"\"\"" : "'''", 3);
				if (!q) {
					k = e;
					break;
				}
				k = (size_t)(q - t) + 3;
				triple = 0;
				continue;
			}
			if (c == '#')
				break;
			if (c == '"' || c == '\'') {
				if (k + 2 < e && t[k + 1] == c && t[k + 2] == c) {
					triple = c;
					k += 3;
					continue;
				}
				k++;
				while (k < e && t[k] != c)
					k += t[k] == '\\' ? 2 : 1;
				k++;
				continue;
			}
			if (c == '(' || c == '[' || c == '{')
				paren++;
			else if ((c == ')' || c == ']' || c == '}') && paren > 0)
				paren--;
			k++;
		}
		if (!blank)
			last_end = e;
		p = nl ? e + 1 : n;
	}
	if (cur != NONE)
		span_add(out, t, cur, last_end);
}

/* ---- one language ---------------------------------------------------------- */

typedef struct qres {
	size_t chunks, over, bad_text, bad_tile, line_starts, max_len;
	size_t defs, fit, cut;
	double mbps;
} qres;

/* Defs cut across chunks (chunks sorted, no overlap). */
static void count_cuts(const doc *d, const coco_value *out, const spans *sp, qres *q, const char *lang)
{
	size_t k = 0;
	for (size_t i = 0; i < sp->n; i++) {
		size_t a = sp->a[i], b = sp->b[i];
		q->defs++;
		if (b - a > (size_t)chunk_size)
			continue;
		q->fit++;
		while (k < out->n && re_(out, k) <= a)
			k++;
		int whole = k < out->n && rs(out, k) <= a && re_(out, k) >= b;
		if (!whole) {
			q->cut++;
			if (show_cuts > 0 && strcmp(lang, "text")) {
				show_cuts--;
				printf("--- %s: %s: definition [%zu, %zu) cut; chunks:", lang, d->path, a, b);
				for (size_t j = k; j < out->n && rs(out, j) < b; j++)
					printf(" [%zu, %zu)", rs(out, j), re_(out, j));
				printf("\n%.*s\n", (int)(b - a > 600 ? 600 : b - a), d->text + a);
			}
		}
	}
}

static qres run_lang(const corpus *c, const char *lang, int defs_kind, int timing)
{
	qres q = { 0 };
	splitter s;
	sp_open(&s);
	for (size_t i = 0; i < c->n; i++) {
		const doc *d = &c->docs[i];
		coco_value out = sp_split(&s, d->text, d->len, lang);
		size_t prev = 0;
		for (size_t k = 0; k < out.n; k++) {
			size_t a = rs(&out, k), b = re_(&out, k);
			const coco_value *tv = &out.u.rows[k].u.fields[1];
			q.chunks++;
			if (b - a > (size_t)chunk_size)
				q.over++;
			if (b - a > q.max_len)
				q.max_len = b - a;
			if (tv->kind != COCO_STR || tv->n != b - a || memcmp(tv->u.s, d->text + a, b - a))
				q.bad_text++;
			for (size_t x = prev; x < a; x++)
				if (!ws((unsigned char)d->text[x])) {
					q.bad_tile++;
					break;
				}
			if (a < prev)
				q.bad_tile++;
			q.line_starts += at_line_start(d->text, a);
			prev = b;
		}
		for (size_t x = prev; x < d->len; x++)
			if (!ws((unsigned char)d->text[x])) {
				q.bad_tile++;
				break;
			}
		if (defs_kind) {
			spans sp = { 0 };
			if (defs_kind == 'c')
				c_defs(d->text, d->len, &sp);
			else
				py_defs(d->text, d->len, &sp);
			count_cuts(d, &out, &sp, &q, lang);
			free(sp.a);
			free(sp.b);
		}
		coco_arena_reset(&s.a);
	}
	if (timing) {
		double best = 1e30;
		for (int r = 0; r < 3; r++) {
			double t0 = now();
			for (size_t i = 0; i < c->n; i++) {
				sp_split(&s, c->docs[i].text, c->docs[i].len, lang);
				coco_arena_reset(&s.a);
			}
			double dt = now() - t0;
			if (dt < best)
				best = dt;
		}
		q.mbps = c->bytes / 1e6 / best;
	}
	sp_close(&s);
	return q;
}

static int report(const corpus *c, int defs_kind)
{
	if (!c->n) {
		printf("%-11s (no files found)\n", c->lang);
		return 0;
	}
	qres q = run_lang(c, c->lang, defs_kind, 1);
	int ok = !q.over && !q.bad_text && !q.bad_tile && q.line_starts * 10 >= q.chunks * 9;
	printf("%-11s %6zu files %7.1f MB %8.0f MB/s  %7zu chunks  max %4zu  >cs %zu  text!=loc %zu  "
		"untiled %zu  line starts %5.1f%%", c->lang, c->n, c->bytes / 1e6, q.mbps, q.chunks,
		q.max_len, q.over, q.bad_text, q.bad_tile, 100.0 * q.line_starts / (q.chunks ? q.chunks : 1));
	if (defs_kind) {
		qres t = run_lang(c, "text", defs_kind, 0);
		printf("\n            top-level definitions: %zu, %zu fit in %lld bytes; cut: %.2f%% (%zu)"
			"  [as plain text: %.2f%%]", q.defs, q.fit, (long long)chunk_size,
			100.0 * q.cut / (q.fit ? q.fit : 1), q.cut, 100.0 * t.cut / (t.fit ? t.fit : 1));
	}
	printf("  %s\n", ok ? "ok" : "FAILED");
	return ok;
}

/* ---- linear time -------------------------------------------------------- */

static void linear(int big)
{
	static const char *const langs[] = { "text", "markdown", "c", "python" };
	printf("\nlinear time (chunk_size %lld; MB/s at 12.5 / 25 / 50 MB):\n", (long long)chunk_size);
	for (int kind = 0; kind < 2; kind++) {
		size_t n = 50u << 20;
		char *t = malloc(n);
		if (kind == 0) {
			/* one line of words */
			for (size_t i = 0; i < n; i++)
				t[i] = i % 7 == 6 ? ' ' : (char)('a' + i % 26);
		} else {
			for (size_t i = 0; i < n; i += 2) {
				t[i] = (char)('a' + (i / 2) % 26);
				t[i + 1] = '\n';
			}
		}
		for (size_t l = 0; l < sizeof langs / sizeof langs[0]; l++) {
			splitter s;
			sp_open(&s);
			printf("  %-26s %-8s", kind ? "1-character lines" : "a single line", langs[l]);
			for (size_t sz = n / 4; sz <= n; sz *= 2) {
				double t0 = now();
				coco_value out = sp_split(&s, t, sz, langs[l]);
				double dt = now() - t0;
				printf("  %7.0f", sz / 1e6 / dt);
				(void)out;
				coco_arena_reset(&s.a);
			}
			printf("\n");
			sp_close(&s);
		}
		free(t);
	}
	if (big) {
		size_t n = (size_t)1 << 30;
		char *t = malloc(n);
		for (size_t i = 0; i < n; i++)
			t[i] = (char)('a' + i % 26);
		for (size_t l = 0; l < sizeof langs / sizeof langs[0]; l++) {
			splitter s;
			sp_open(&s);
			double t0 = now();
			coco_value out = sp_split(&s, t, n, langs[l]);
			double dt = now() - t0;
			printf("  1 GB, no separator, %-8s %7.0f MB/s, %zu chunks\n", langs[l], n / 1e6 / dt, out.n);
			sp_close(&s);
		}
		free(t);
	}
}

int main(int argc, char **argv)
{
	int big = 0, nargs = 0;
	char **args = calloc((size_t)argc + 1, sizeof *args);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-s") && i + 1 < argc)
			chunk_size = atoll(argv[++i]);
		else if (!strcmp(argv[i], "--show-cuts") && i + 1 < argc)
			show_cuts = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--big"))
			big = 1;
		else
			args[nargs++] = argv[i];
	}
	printf("SplitRecursively on this machine's trees: chunk_size %lld, min_chunk_size default, "
		"overlap 0, one core\n", (long long)chunk_size);
	int ok = 1;
	if (nargs) {
		for (int i = 0; i < nargs; i++) {
			char *colon = strchr(args[i], ':');
			if (!colon)
				continue;
			*colon = 0;
			corpus c = { .lang = args[i] };
			walk(&c, colon + 1, NULL, NULL, 0);
			int kind = !strcmp(args[i], "c") || !strcmp(args[i], "cpp") ? 'c' :
				!strcmp(args[i], "python") ? 'p' : 0;
			ok &= report(&c, kind);
			corpus_free(&c);
		}
	} else {
		corpus c = { .lang = "c" };
		walk(&c, "/usr/include", "h,c", "/c++", 0);
		ok &= report(&c, 'c');
		corpus_free(&c);

		/* the largest Python stdlib */
		char best[512] = "";
		size_t best_n = 0;
		DIR *d = opendir("/usr/lib");
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (strncmp(e->d_name, "python3", 7))
				continue;
			corpus t = { .lang = "python" };
			char p[300];
			snprintf(p, sizeof p, "/usr/lib/%s", e->d_name);
			walk(&t, p, "py", "site-packages", 0);
			if (t.bytes > best_n) {
				best_n = t.bytes;
				snprintf(best, sizeof best, "%s", p);
			}
			corpus_free(&t);
		}
		if (d)
			closedir(d);
		c = (corpus){ .lang = "python" };
		if (*best)
			walk(&c, best, "py", "site-packages", 0);
		ok &= report(&c, 'p');
		corpus_free(&c);

		c = (corpus){ .lang = "text" };
		walk(&c, "/usr/share/doc", NULL, NULL, 0);
		ok &= report(&c, 0);
		corpus_free(&c);

		static const struct { const char *lang, *dir, *exts; int defs; } more[] = {
			{ "cpp", "/usr/include/c++", "h,hpp,tcc", 'c' },
			{ "javascript", "/usr/lib/node_modules", "js", 0 },
			{ "markdown", "/usr/share/doc", "md", 0 },
			{ "sql", "/usr/share/postgresql", "sql", 0 },
			{ "lua", "/usr/share/lua", "lua", 0 },
			{ "xml", "/usr/share/mime", "xml", 0 },
			{ "html", "/usr/share/doc", "html", 0 },
			{ "css", "/usr/share", "css", 0 },
			{ "shell", "/usr/share", "sh", 0 },
		};
		for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
			c = (corpus){ .lang = more[i].lang };
			walk(&c, more[i].dir, more[i].exts, NULL, 64u << 20);
			if (c.n)
				ok &= report(&c, more[i].defs);
			corpus_free(&c);
		}
	}
	linear(big);
	free(args);
	return ok ? 0 : 1;
}
