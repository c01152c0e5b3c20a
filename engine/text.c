/* Text as CocoIndex reads it. See text.h. */
#include "engine/text.h"

#include <string.h>

static const char REPL[3] = { '\xEF', '\xBF', '\xBD' };   /* U+FFFD */

static void bad_at(coco_text_info *info, size_t off)
{
	if (info && !info->nbad++)
		info->first_bad = off;
}

/* Length of the maximal invalid subpart at s[0..n) (s starts an invalid
 * sequence): the longest prefix of a well-formed sequence, at least 1. */
static size_t bad_len(const unsigned char *s, size_t n)
{
	unsigned lo, hi;
	size_t len = coco_utf8_lead(s[0], &lo, &hi), k = 1;
	if (len && n > 1 && s[1] >= lo && s[1] <= hi)
		for (k = 2; k < len && k < n && (s[k] & 0xC0) == 0x80; k++)
			;
	return k;
}

/* UTF-8 with each maximal invalid subpart replaced by U+FFFD, written to
 * out unless it is NULL (then only measured, and counted in info); off:
 * where s is in the input. Returns the length of the result. */
static size_t utf8_fix(const unsigned char *s, size_t n, char *out, size_t off,
	coco_text_info *info)
{
	size_t i = 0, o = 0;
	for (;;) {
		size_t ok = coco_utf8_check(s + i, n - i);
		if (out)
			memcpy(out + o, s + i, ok);
		o += ok;
		i += ok;
		if (i == n)
			return o;
		bad_at(info, off + i);
		if (out)
			memcpy(out + o, REPL, 3);
		o += 3;
		i += bad_len(s + i, n - i);
	}
}

/* Code point cp as UTF-8 at out (unless NULL); returns its length. */
static size_t put_utf8(char *out, uint32_t cp)
{
	unsigned char b[4];
	size_t k;
	if (cp < 0x80)
		b[0] = (unsigned char)cp, k = 1;
	else if (cp < 0x800)
		b[0] = (unsigned char)(0xC0 | cp >> 6), b[1] = (unsigned char)(0x80 | (cp & 0x3F)), k = 2;
	else if (cp < 0x10000)
		b[0] = (unsigned char)(0xE0 | cp >> 12), b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)),
		b[2] = (unsigned char)(0x80 | (cp & 0x3F)), k = 3;
	else
		b[0] = (unsigned char)(0xF0 | cp >> 18), b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F)),
		b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)), b[3] = (unsigned char)(0x80 | (cp & 0x3F)),
		k = 4;
	if (out)
		memcpy(out, b, k);
	return k;
}

static unsigned unit16(const unsigned char *s, int be)
{
	return be ? (unsigned)s[0] << 8 | s[1] : (unsigned)s[1] << 8 | s[0];
}

/* UTF-16 (big-endian if be) as UTF-8, like utf8_fix: an unpaired
 * surrogate and an odd last byte each become one U+FFFD. */
static size_t utf16_fix(const unsigned char *s, size_t n, int be, char *out, size_t off,
	coco_text_info *info)
{
	size_t i = 0, o = 0;
	for (; i + 1 < n; i += 2) {
		uint32_t cp = unit16(s + i, be);
		if (cp >= 0xD800 && cp <= 0xDFFF) {
			unsigned lo = i + 3 < n ? unit16(s + i + 2, be) : 0;
			if (cp <= 0xDBFF && lo >= 0xDC00 && lo <= 0xDFFF) {
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				i += 2;
			} else {
				bad_at(info, off + i);
				if (cp <= 0xDBFF && i + 3 >= n)
					i = n - 2;        /* a pair cut short: one U+FFFD for the rest */
				cp = 0xFFFD;
			}
		}
		o += put_utf8(out ? out + o : NULL, cp);
	}
	if (i < n) {
		bad_at(info, off + i);
		o += put_utf8(out ? out + o : NULL, 0xFFFD);
	}
	return o;
}

int coco_text_decode(const void *p, size_t n, int strict, coco_arena *a,
	const char **out, size_t *outn, coco_text_info *info)
{
	const unsigned char *s = p;
	size_t bom = 0;
	int be = -1;                          /* UTF-16: 0 LE, 1 BE */
	memset(info, 0, sizeof *info);
	info->encoding = "UTF-8";
	if (n >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF)
		bom = 3;
	else if (n >= 2 && s[0] == 0xFF && s[1] == 0xFE)
		bom = 2, be = 0, info->encoding = "UTF-16LE";
	else if (n >= 2 && s[0] == 0xFE && s[1] == 0xFF)
		bom = 2, be = 1, info->encoding = "UTF-16BE";
	s += bom;
	n -= bom;
	if (be < 0 && coco_utf8_check(s, n) == n) {
		*out = (const char *)s;           /* the fast path: no copy */
		*outn = n;
		return 0;
	}
	size_t len = be < 0 ? utf8_fix(s, n, NULL, bom, info) : utf16_fix(s, n, be, NULL, bom, info);
	if (strict && info->nbad)
		return -1;
	char *d = coco_arena_alloc(a, len + 1);   /* zeroed: NUL-terminated */
	if (be < 0)
		utf8_fix(s, n, d, bom, NULL);
	else
		utf16_fix(s, n, be, d, bom, NULL);
	*out = d;
	*outn = len;
	return info->nbad ? 1 : 0;
}

void coco_text_describe(const coco_text_info *info, int strict, coco_buf *b)
{
	if (strict)
		coco_buf_printf(b, "not valid %s (byte %zu); set binary = true to read it as bytes, "
			"or decode_errors = \"replace\"", info->encoding, info->first_bad);
	else
		coco_buf_printf(b, "not valid %s (first bad byte at %zu); %zu invalid sequence%s "
			"replaced with U+FFFD", info->encoding, info->first_bad, info->nbad,
			info->nbad == 1 ? "" : "s");
}

int coco_text_content(const char *p, size_t n, int binary, int strict, coco_arena *a,
	coco_value *out, coco_buf *what)
{
	int rc = 0;
	if (!binary) {
		coco_text_info info;
		rc = coco_text_decode(p, n, strict, a, &p, &n, &info);
		if (rc)
			coco_text_describe(&info, strict, what);
		if (rc < 0)
			return -1;
	}
	*out = coco_v_str(p, n);
	if (binary)
		out->kind = COCO_BYTES;
	return rc ? 2 : 0;
}

int coco_text_errors_opt(const coco_optval *v, const char *source, int *strict, char **err)
{
	const char *s = v->set && v->s ? v->s : "replace";
	int st = !strcmp(s, "strict");
	if (!st && strcmp(s, "replace"))
		return coco_seterr(err, "%s: decode_errors must be \"replace\" or \"strict\" (got \"%s\")",
			source, s);
	if (strict)
		*strict = st;
	return 0;
}
