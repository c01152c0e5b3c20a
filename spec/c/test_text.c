/* coco_text_decode: BOMs, UTF-16, and invalid UTF-8 replaced the way
 * WHATWG's decoder and Python's errors="replace" do (one U+FFFD per
 * maximal invalid subpart). */
#include <stdlib.h>
#include <string.h>
#include "engine/text.h"
#include "spec/c/check.h"

#define R "\xEF\xBF\xBD"         /* U+FFFD */

typedef struct tcase {
	const char *name;
	const char *in;
	size_t n;
	const char *want;            /* decoded text */
	size_t wantn;
	size_t nbad, first_bad;
	const char *enc;
	int copied;                  /* 1: the result is a copy, not in place */
} tcase;

#define IN(s) s, sizeof s - 1
#define OUT(s) s, sizeof s - 1

static const tcase cases[] = {
	/* well-formed UTF-8: in place */
	{ "empty", IN(""), OUT(""), 0, 0, "UTF-8", 0 },
	{ "ascii", IN("hello\n"), OUT("hello\n"), 0, 0, "UTF-8", 0 },
	{ "multibyte", IN("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
	  OUT("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), 0, 0, "UTF-8", 0 },
	{ "max U+10FFFF", IN("\xF4\x8F\xBF\xBF"), OUT("\xF4\x8F\xBF\xBF"), 0, 0, "UTF-8", 0 },
	{ "U+D7FF and U+E000", IN("\xED\x9F\xBF\xEE\x80\x80"), OUT("\xED\x9F\xBF\xEE\x80\x80"), 0, 0, "UTF-8", 0 },
	{ "NULs are text", IN("\0\0\0\0"), OUT("\0\0\0\0"), 0, 0, "UTF-8", 0 },
	/* a UTF-8 BOM is dropped, in place too */
	{ "UTF-8 BOM", IN("\xEF\xBB\xBFhi"), OUT("hi"), 0, 0, "UTF-8", 0 },
	{ "UTF-8 BOM only", IN("\xEF\xBB\xBF"), OUT(""), 0, 0, "UTF-8", 0 },
	{ "UTF-8 BOM, then bad", IN("\xEF\xBB\xBF" "a\xFF" "b"), OUT("a" R "b"), 1, 4, "UTF-8", 1 },
	{ "half a BOM", IN("\xEF\xBB"), OUT(R), 1, 0, "UTF-8", 1 },
	/* invalid UTF-8: one U+FFFD per maximal subpart */
	{ "Latin-1", IN("caf\xE9 cr\xE8me"), OUT("caf" R " cr" R "me"), 2, 3, "UTF-8", 1 },
	{ "lone continuation", IN("a\x80\xBF" "b"), OUT("a" R R "b"), 2, 1, "UTF-8", 1 },
	{ "overlong 2-byte", IN("\xC0\xAF"), OUT(R R), 2, 0, "UTF-8", 1 },
	{ "overlong C1", IN("\xC1\xBF"), OUT(R R), 2, 0, "UTF-8", 1 },
	{ "overlong 3-byte", IN("\xE0\x80\xAF"), OUT(R R R), 3, 0, "UTF-8", 1 },
	{ "overlong 4-byte", IN("\xF0\x80\x80\xAF"), OUT(R R R R), 4, 0, "UTF-8", 1 },
	{ "surrogate D800", IN("x\xED\xA0\x80y"), OUT("x" R R R "y"), 3, 1, "UTF-8", 1 },
	{ "surrogate DFFF", IN("\xED\xBF\xBF"), OUT(R R R), 3, 0, "UTF-8", 1 },
	{ "above U+10FFFF", IN("\xF4\x90\x80\x80"), OUT(R R R R), 4, 0, "UTF-8", 1 },
	{ "F5 lead", IN("\xF5\x80\x80\x80"), OUT(R R R R), 4, 0, "UTF-8", 1 },
	{ "5-byte form", IN("\xF8\x88\x80\x80\x80"), OUT(R R R R R), 5, 0, "UTF-8", 1 },
	{ "FE FF alone is UTF-16 BE BOM", IN("\xFE\xFF"), OUT(""), 0, 0, "UTF-16BE", 1 },
	{ "cut 2-byte", IN("ab\xC3"), OUT("ab" R), 1, 2, "UTF-8", 1 },
	{ "cut 3-byte", IN("ab\xE2\x82"), OUT("ab" R), 1, 2, "UTF-8", 1 },
	{ "cut 4-byte", IN("ab\xF0\x9F\x98"), OUT("ab" R), 1, 2, "UTF-8", 1 },
	{ "cut 4-byte, 1 left", IN("\xF0"), OUT(R), 1, 0, "UTF-8", 1 },
	{ "cut in the middle", IN("a\xF0\x9F\x98" "b"), OUT("a" R "b"), 1, 1, "UTF-8", 1 },
	{ "cut then lead", IN("\xE2\x82\xE2\x82\xAC"), OUT(R "\xE2\x82\xAC"), 1, 0, "UTF-8", 1 },
	{ "bad second byte", IN("\xE2(\xA1"), OUT(R "(" R), 2, 0, "UTF-8", 1 },
	/* UTF-16 with a BOM */
	{ "UTF-16LE", IN("\xFF\xFEh\0i\0\xE9\0\xAC\x20"), OUT("hi\xC3\xA9\xE2\x82\xAC"), 0, 0, "UTF-16LE", 1 },
	{ "UTF-16BE", IN("\xFE\xFF\0h\0i\0\xE9\x20\xAC"), OUT("hi\xC3\xA9\xE2\x82\xAC"), 0, 0, "UTF-16BE", 1 },
	{ "UTF-16LE BOM only", IN("\xFF\xFE"), OUT(""), 0, 0, "UTF-16LE", 1 },
	{ "UTF-16LE NUL", IN("\xFF\xFE\0\0"), OUT("\0"), 0, 0, "UTF-16LE", 1 },
	{ "UTF-16LE pair", IN("\xFF\xFE\x3D\xD8\x00\xDE"), OUT("\xF0\x9F\x98\x80"), 0, 0, "UTF-16LE", 1 },
	{ "UTF-16BE pair", IN("\xFE\xFF\xD8\x3D\xDE\x00"), OUT("\xF0\x9F\x98\x80"), 0, 0, "UTF-16BE", 1 },
	{ "UTF-16LE max pair", IN("\xFF\xFE\xFF\xDB\xFF\xDF"), OUT("\xF4\x8F\xBF\xBF"), 0, 0, "UTF-16LE", 1 },
	{ "UTF-16LE lone low", IN("\xFF\xFE\x00\xDC" "A\0"), OUT(R "A"), 1, 2, "UTF-16LE", 1 },
	{ "UTF-16LE high then BMP", IN("\xFF\xFE\x00\xD8" "A\0"), OUT(R "A"), 1, 2, "UTF-16LE", 1 },
	{ "UTF-16LE high high low", IN("\xFF\xFE\x00\xD8\x00\xD8\x00\xDC"), OUT(R "\xF0\x90\x80\x80"),
	  1, 2, "UTF-16LE", 1 },
	{ "UTF-16LE high at end", IN("\xFF\xFE" "A\0\x00\xD8"), OUT("A" R), 1, 4, "UTF-16LE", 1 },
	{ "UTF-16LE high, odd byte", IN("\xFF\xFE\x00\xD8" "A"), OUT(R), 1, 2, "UTF-16LE", 1 },
	{ "UTF-16LE odd count", IN("\xFF\xFE" "A\0" "B"), OUT("A" R), 1, 4, "UTF-16LE", 1 },
	{ "UTF-16BE odd count", IN("\xFE\xFF\0A\0"), OUT("A" R), 1, 4, "UTF-16BE", 1 },
	/* no BOM: never guessed; UTF-16 LE is read as UTF-8, NULs kept */
	{ "UTF-16LE without BOM", IN("h\0i\0"), OUT("h\0i\0"), 0, 0, "UTF-8", 0 },
	{ "UTF-16LE without BOM, non-ASCII", IN("\xE9\0"), OUT(R "\0"), 1, 0, "UTF-8", 1 },
};

static void test_cases(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const tcase *c = &cases[i];
		coco_arena a = {0};
		/* the input in a buffer of its own, so ASan sees reads past it */
		char *in = malloc(c->n ? c->n : 1);
		memcpy(in, c->in, c->n);
		const char *out = NULL;
		size_t outn = 0;
		coco_text_info info;
		int rc = coco_text_decode(in, c->n, 0, &a, &out, &outn, &info);
		CHECKF(rc == (c->nbad ? 1 : 0), "%s: rc %d", c->name, rc);
		CHECKF(outn == c->wantn && out && !memcmp(out, c->want, outn), "%s: got %zu bytes", c->name, outn);
		CHECKF(info.nbad == c->nbad, "%s: nbad %zu", c->name, info.nbad);
		if (c->nbad)
			CHECKF(info.first_bad == c->first_bad, "%s: first_bad %zu", c->name, info.first_bad);
		CHECKF(!strcmp(info.encoding, c->enc), "%s: %s", c->name, info.encoding);
		int inplace = out >= in && out <= in + c->n;
		CHECKF(inplace == !c->copied, "%s: in place %d", c->name, inplace);
		if (c->copied)
			CHECKF(out[outn] == 0, "%s: not NUL-terminated", c->name);

		/* strict: the same when well-formed, else -1 */
		coco_text_info si;
		out = NULL;
		rc = coco_text_decode(in, c->n, 1, &a, &out, &outn, &si);
		if (c->nbad) {
			CHECKF(rc == -1 && si.nbad == c->nbad && si.first_bad == c->first_bad, "%s: strict rc %d",
				c->name, rc);
		} else {
			CHECKF(rc == 0 && outn == c->wantn && !memcmp(out, c->want, outn), "%s: strict", c->name);
		}
		free(in);
		coco_arena_destroy(&a);
	}
}

static void test_describe(void)
{
	coco_text_info info = { "UTF-8", 3, 17 };
	coco_buf b = {0};
	coco_text_describe(&info, 0, &b);
	CHECK_STR(b.p, "not valid UTF-8 (first bad byte at 17); 3 invalid sequences replaced with U+FFFD");
	coco_buf_clear(&b);
	info.nbad = 1;
	info.encoding = "UTF-16LE";
	coco_text_describe(&info, 0, &b);
	CHECK_STR(b.p, "not valid UTF-16LE (first bad byte at 17); 1 invalid sequence replaced with U+FFFD");
	coco_buf_clear(&b);
	info.encoding = "UTF-8";
	coco_text_describe(&info, 1, &b);
	CHECK_STR(b.p, "not valid UTF-8 (byte 17); set binary = true to read it as bytes, "
		"or decode_errors = \"replace\"");
	coco_buf_free(&b);
}

static void test_option(void)
{
	coco_optval v = {0};
	int strict = -1;
	char *err = NULL;
	CHECK(coco_text_errors_opt(&v, "LocalFile", &strict, &err) == 0 && strict == 0);
	v.set = 1;
	v.s = "strict";
	CHECK(coco_text_errors_opt(&v, "LocalFile", &strict, &err) == 0 && strict == 1);
	v.s = "replace";
	CHECK(coco_text_errors_opt(&v, "LocalFile", &strict, &err) == 0 && strict == 0);
	v.s = "ignore";
	CHECK(coco_text_errors_opt(&v, "AmazonS3", &strict, &err) == -1);
	CHECK_STR(err, "AmazonS3: decode_errors must be \"replace\" or \"strict\" (got \"ignore\")");
	free(err);
}

/* One input of the exhaustive test: the result is valid UTF-8, and
 * well-formed UTF-8 without a BOM is kept as it is. 0 if wrong. */
static int decode_ok(const unsigned char *in, size_t len, coco_arena *a)
{
	const char *out;
	size_t outn;
	coco_text_info info;
	int rc = coco_text_decode(in, len, 0, a, &out, &outn, &info);
	coco_arena_reset(a);
	if (rc < 0 || coco_utf8_check(out, outn) != outn)
		return 0;
	int plain = !strcmp(info.encoding, "UTF-8") && !(len >= 3 && !memcmp(in, "\xEF\xBB\xBF", 3));
	return !(rc == 0 && plain && (outn != len || memcmp(out, in, len)));
}

/* Every input of 1 and 2 bytes, and of 3 and 4 bytes over the bytes that
 * matter to UTF-8 and UTF-16 (boundaries of the lead and second-byte
 * ranges, BOM bytes, ASCII, NUL). */
static void test_exhaustive(void)
{
	static const unsigned char pick[] = { 0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBB,
		0xBF, 0xC0, 0xC1, 0xC2, 0xD8, 0xDC, 0xDF, 0xE0, 0xE1, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF4,
		0xF5, 0xFE, 0xFF };
	const unsigned np = sizeof pick;
	unsigned char in[4];
	size_t bad = 0, total = 0;
	coco_arena a = {0};
	for (unsigned v = 0; v < 65536; v++) {
		in[0] = (unsigned char)v, in[1] = (unsigned char)(v >> 8);
		bad += !decode_ok(in, 1, &a) + !decode_ok(in, 2, &a);
		total += 2;
	}
	for (unsigned len = 3; len <= 4; len++) {
		unsigned lim = len == 3 ? np * np * np : np * np * np * np;
		for (unsigned v = 0; v < lim; v++) {
			unsigned x = v;
			for (unsigned k = 0; k < len; k++, x /= np)
				in[k] = pick[x % np];
			bad += !decode_ok(in, len, &a);
			total++;
		}
	}
	coco_arena_destroy(&a);
	CHECKF(bad == 0, "%zu of %zu inputs", bad, total);
}

int main(void)
{
	test_cases();
	test_describe();
	test_option();
	test_exhaustive();
	return CHECK_DONE();
}
