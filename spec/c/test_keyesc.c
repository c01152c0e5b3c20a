/* coco_key_escape / coco_key_unescape: names that are not UTF-8 become
 * valid UTF-8 keys and come back byte for byte; UTF-8 names without a
 * backslash are unchanged; keys no name escapes to are refused. */
#include <stdlib.h>
#include <string.h>
#include "engine/keyesc.h"
#include "spec/c/check.h"

static void round_trip(const char *name, size_t n, const char *want)
{
	coco_buf k = {0}, back = {0};
	coco_key_escape(name, n, &k);
	CHECK_STR(k.p, want);
	CHECK(coco_utf8_check(k.p, k.n) == k.n);
	CHECK(coco_key_needs_escape(name, n) == (k.n != n || memcmp(k.p, name, n)));
	CHECK(coco_key_unescape(k.p, k.n, &back) == 0 && back.n == n && !memcmp(back.p, name, n));
	coco_buf_free(&k);
	coco_buf_free(&back);
}

static int refused(const char *key)
{
	coco_buf b = {0};
	int rc = coco_key_unescape(key, strlen(key), &b);
	coco_buf_free(&b);
	return rc == -1;
}

int main(void)
{
	round_trip("", 0, "");
	round_trip("guide/intro.md", 14, "guide/intro.md");
	round_trip("caf\xC3\xA9.md", 8, "caf\xC3\xA9.md");               /* UTF-8: as is */
	round_trip("caf\xE9.md", 7, "caf\\xe9.md");                      /* Latin-1 */
	round_trip("a\\b.md", 6, "a\\\\b.md");                          /* a backslash */
	round_trip("x\\xe9.md", 8, "x\\\\xe9.md");                      /* looks escaped */
	round_trip("\xFF\xFE", 2, "\\xff\\xfe");
	round_trip("\xE2\x82", 2, "\\xe2\\x82");                        /* cut sequence */
	round_trip("\xED\xA0\x80", 3, "\\xed\\xa0\\x80");               /* a surrogate */
	round_trip("\xC0\xAF", 2, "\\xc0\\xaf");                        /* overlong '/' */
	round_trip("a\x80\xC3\xA9\\", 5, "a\\x80\xC3\xA9\\\\");
	CHECK(refused("a\\b"));                  /* a lone backslash */
	CHECK(refused("a\\x4"));
	CHECK(refused("a\\xZZ"));
	CHECK(refused("a\\x41"));                /* 'A' is UTF-8: no name escapes to this */
	CHECK(refused("a\\xE9"));                /* uppercase hex is not ours */
	CHECK(refused("caf\xE9"));               /* a raw invalid key */
	return CHECK_DONE();
}
