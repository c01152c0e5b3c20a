/* coco_listing (engine/listing.c): pairs added in any order come back in
 * byte order of their keys, each key once with the ordinal it was first
 * added with, whether the listing stays in memory or spills sorted runs to
 * a temporary file (run sizes from a few records to one record per run,
 * records larger than a read buffer); an unwritable directory is a clear
 * error; nothing is left in the directory. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine/listing.h"
#include "engine/buf.h"
#include "spec/c/check.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

typedef struct pair {
	char key[24];
	size_t nkey;
	uint32_t seq;                 /* the ordinal: the order it was added in */
} pair;

static int pair_cmp(const void *pa, const void *pb)
{
	const pair *a = pa, *b = pb;
	int c = memcmp(a->key, b->key, a->nkey < b->nkey ? a->nkey : b->nkey);
	if (c)
		return c;
	if (a->nkey != b->nkey)
		return a->nkey < b->nkey ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static size_t entries(const char *dir)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* n random keys (some repeated, some prefixes of others) through a listing
 * with runs of run_bytes; compared with qsort of the same pairs. */
static void sorted(const char *dir, size_t n, size_t run_bytes, int want_spill)
{
	pair *p = calloc(n, sizeof *p);
	coco_listing *l = coco_listing_create(dir, run_bytes);
	char *err = NULL;
	for (size_t i = 0; i < n; i++) {
		if (i && next_rand() % 5 == 0) {
			p[i] = p[next_rand() % i];          /* listed twice */
		} else {
			p[i].nkey = 1 + next_rand() % 12;
			for (size_t j = 0; j < p[i].nkey; j++)
				p[i].key[j] = "ab/\xff\0"[next_rand() % 5];
		}
		p[i].seq = (uint32_t)i;
		CHECK(coco_listing_add(l, p[i].key, p[i].nkey, &p[i].seq, 4, &err) == 0);
	}
	CHECK(coco_listing_count(l) == n);
	CHECKF((coco_listing_spilled(l) > 0) == want_spill, "runs %zu", coco_listing_spilled(l));
	CHECK(coco_listing_finish(l, &err) == 0);
	qsort(p, n, sizeof *p, pair_cmp);
	size_t i = 0, bad = 0, got = 0;
	const char *k, *o;
	size_t nk, no;
	int rc;
	while ((rc = coco_listing_next(l, &k, &nk, &o, &no, &err)) == 1) {
		while (i < n && i && p[i].nkey == p[i - 1].nkey && !memcmp(p[i].key, p[i - 1].key, p[i].nkey))
			i++;                                 /* the later copies of a key */
		uint32_t seq;
		memcpy(&seq, o, 4);
		if (i >= n || no != 4 || nk != p[i].nkey || memcmp(k, p[i].key, nk) || seq != p[i].seq)
			bad++;
		i++, got++;
	}
	CHECK(rc == 0);
	while (i < n && i && p[i].nkey == p[i - 1].nkey && !memcmp(p[i].key, p[i - 1].key, p[i].nkey))
		i++;
	CHECKF(bad == 0 && i == n, "n %zu run %zu: %zu wrong, %zu of %zu", n, run_bytes, bad, i, n);
	CHECK(got > 0 || n == 0);
	CHECK(coco_listing_next(l, &k, &nk, &o, &no, &err) == 0);   /* stays at the end */
	CHECK(entries(dir) == 0);
	coco_listing_destroy(l);
	free(err);
	free(p);
}

int main(void)
{
	char dir[] = "/tmp/test_listing_XXXXXX";
	if (!mkdtemp(dir))
		return 1;

	sorted(dir, 0, 0, 0);
	sorted(dir, 1, 0, 0);
	sorted(dir, 5000, 0, 0);                 /* one run in memory */
	sorted(dir, 5000, 1000, 1);              /* ~200 runs on file */
	sorted(dir, 3000, 1, 1);                 /* one record a run */
	sorted(dir, 20000, 64 << 10, 1);

	/* records larger than a read buffer, in spilled runs */
	{
		coco_listing *l = coco_listing_create(dir, 1);
		char *err = NULL, *big = malloc(200000);
		for (int i = 0; i < 3; i++) {
			memset(big, 'z' - i, 200000);
			CHECK(coco_listing_add(l, big, 200000, "o", 1, &err) == 0);
		}
		CHECK(coco_listing_add(l, "a", 1, big, 150000, &err) == 0);
		CHECK(coco_listing_finish(l, &err) == 0);
		const char *k, *o;
		size_t nk, no;
		CHECK(coco_listing_next(l, &k, &nk, &o, &no, &err) == 1 && nk == 1 && no == 150000);
		for (int i = 2; i >= 0; i--)
			CHECK(coco_listing_next(l, &k, &nk, &o, &no, &err) == 1 && nk == 200000 &&
				(unsigned char)k[199999] == (unsigned char)('z' - i));
		CHECK(coco_listing_next(l, &k, &nk, &o, &no, &err) == 0);
		coco_listing_destroy(l);
		free(big);
		free(err);
	}

	/* a directory that cannot take the runs */
	{
		coco_listing *l = coco_listing_create("/nonexistent/dir", 1);
		char *err = NULL;
		CHECK(coco_listing_add(l, "a", 1, "", 0, &err) == 0);        /* the first run */
		CHECK(coco_listing_add(l, "b", 1, "", 0, &err) == -1);       /* spills the first */
		CHECK_STR(err, "cannot create a temporary file for the listing in /nonexistent/dir: "
			"No such file or directory");
		coco_listing_destroy(l);
		free(err);
	}
	CHECK(entries(dir) == 0);
	rmdir(dir);
	return CHECK_DONE();
}
