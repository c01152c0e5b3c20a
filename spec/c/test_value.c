/* Unit test: types, values, binary encoding, JSON, fingerprints. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#include "engine/buf.h"
#include "engine/value.h"
#include "engine/fingerprint.h"

#include "spec/c/check.h"

static coco_arena A;

/* ---- value builders ------------------------------------------------------- */

static coco_value vbool(int b) { coco_value v = {0}; v.kind = COCO_BOOL; v.u.b = b; return v; }
static coco_value vf32(float f) { coco_value v = {0}; v.kind = COCO_FLOAT32; v.u.f = f; return v; }
static coco_value vf64(double f) { coco_value v = {0}; v.kind = COCO_FLOAT64; v.u.f = f; return v; }
static coco_value vs(const char *s) { return coco_v_str(s, strlen(s)); }
static coco_value vkind(coco_kind k, const char *s, size_t n)
{ coco_value v = {0}; v.kind = (uint8_t)k; v.u.s = s; v.n = n; return v; }
static coco_value vrange(int64_t a, int64_t b)
{ coco_value v = {0}; v.kind = COCO_RANGE; v.u.r[0] = a; v.u.r[1] = b; return v; }
static coco_value vvec(const float *x, size_t n)
{ coco_value v = {0}; v.kind = COCO_VECTOR; v.u.vec = x; v.n = n; return v; }

static coco_value vstruct(size_t n, const coco_value *f)
{
	coco_value v = {0};
	v.kind = COCO_STRUCT;
	v.n = n;
	v.u.fields = coco_arena_alloc(&A, n * sizeof *f + 1);
	if (n)
		memcpy(v.u.fields, f, n * sizeof *f);
	return v;
}

static coco_value vtable(size_t n, const coco_value *rows)
{
	coco_value v = vstruct(n, rows);
	v.kind = COCO_TABLE;
	return v;
}

static const char *enc_hex(const coco_value *v)
{
	coco_buf b = {0};
	coco_value_encode(v, &b);
	char *s = coco_arena_alloc(&A, b.n * 2 + 1);
	for (size_t i = 0; i < b.n; i++)
		sprintf(s + 2 * i, "%02x", (unsigned char)b.p[i]);
	coco_buf_free(&b);
	return s;
}

static const char *to_json(const coco_value *v, const coco_type *t)
{
	coco_buf b = {0};
	coco_value_to_json(v, t, &b);
	const char *s = coco_arena_strndup(&A, b.p ? b.p : "", b.n);
	coco_buf_free(&b);
	return s;
}

static const char *fmt_type(const coco_type *t)
{
	coco_buf b = {0};
	coco_type_format(t, &b);
	const char *s = coco_arena_strdup(&A, b.p ? b.p : "");
	coco_buf_free(&b);
	return s;
}

/* Encodes v, decodes it back: must be equal, re-encode identical, all
 * bytes consumed. */
static int roundtrip(const coco_value *v)
{
	coco_buf b = {0}, b2 = {0};
	coco_value_encode(v, &b);
	const char *p = b.p, *end = b.p + b.n;
	coco_value d;
	int ok = coco_value_decode(&p, end, &A, &d) == 0 && p == end &&
		coco_value_equal(v, &d);
	if (ok) {
		coco_value_encode(&d, &b2);
		ok = b2.n == b.n && !memcmp(b.p, b2.p, b.n);
	}
	/* every strict prefix is truncated input */
	for (size_t k = 0; ok && k < b.n; k++) {
		char *cut = malloc(k ? k : 1);
		memcpy(cut, b.p, k);
		const char *q = cut;
		coco_value x;
		if (coco_value_decode(&q, cut + k, &A, &x) != -1 || q != cut)
			ok = 0;
		free(cut);
	}
	coco_buf_free(&b);
	coco_buf_free(&b2);
	return ok;
}

/* A sample of every kind, nested. */
static coco_value sample(int which)
{
	static const float vec3[3] = { 1.0f, -2.5f, 0.125f };
	switch (which) {
	case 0: return coco_v_null();
	case 1: return vbool(1);
	case 2: return vbool(0);
	case 3: return coco_v_int(0);
	case 4: return coco_v_int(-1);
	case 5: return coco_v_int(INT64_MIN);
	case 6: return coco_v_int(INT64_MAX);
	case 7: return vf32(1.5f);
	case 8: return vf64(0.1);
	case 9: return vf64(-0.0);
	case 10: return vs("");
	case 11: return vs("hello, world");
	case 12: return vkind(COCO_BYTES, "\0\1\2\xff", 4);
	case 13: return vkind(COCO_JSON, "{\"a\":[1,2]}", 11);
	case 14: return vrange(3, 1000000);
	case 15: return vvec(vec3, 3);
	case 16: return vvec(NULL, 0);
	case 17: {
		coco_value f[3] = { vs("x"), coco_v_null(), vvec(vec3, 2) };
		return vstruct(3, f);
	}
	case 18: {
		coco_value in[2] = { vs(""), coco_v_int(7) };
		coco_value r1[2] = { vs("a"), vstruct(2, in) };
		coco_value r2[2] = { vs("b"), coco_v_null() };
		coco_value rows[2] = { vstruct(2, r1), vstruct(2, r2) };
		coco_value t = vtable(2, rows);
		coco_value outer[2] = { t, vtable(0, NULL) };
		return vstruct(2, outer);
	}
	case 19: return vf64(INFINITY);
	case 20: return vf64(NAN);
	case 21: return vf32(NAN);
	case 22: return vstruct(0, NULL);
	}
	return coco_v_null();
}
#define NSAMPLES 23

/* ---- tests ---------------------------------------------------------------- */

static void test_types(void)
{
	CHECK_STR(coco_kind_name(COCO_NULL), "null");
	CHECK_STR(coco_kind_name(COCO_FLOAT32), "float32");
	CHECK_STR(coco_kind_name(COCO_TABLE), "table");
	CHECK_STR(coco_kind_name((coco_kind)99), "?");
	CHECK(coco_type_by_name("str") == &coco_t_str);
	CHECK(coco_type_by_name("int64") == &coco_t_int64);
	CHECK(coco_type_by_name("range") == &coco_t_range);
	CHECK(coco_type_by_name("json") == &coco_t_json);
	CHECK(coco_type_by_name("vector") == NULL);
	CHECK(coco_type_by_name("string") == NULL);
	CHECK(coco_type_by_name(NULL) == NULL);

	CHECK_STR(fmt_type(&coco_t_str), "str");
	CHECK_STR(fmt_type(&coco_t_vector_any), "vector<float32>");
	CHECK_STR(fmt_type(coco_type_vector(&A, 384)), "vector<float32,384>");

	coco_field pos[2] = { { "offset", &coco_t_int64 }, { "line", &coco_t_int64 } };
	coco_type *st = coco_type_struct(&A, pos, 2);
	CHECK(st->fields != pos);
	CHECK_STR(fmt_type(st), "struct{offset: int64, line: int64}");
	CHECK(coco_type_field(st, "line") == 1);
	CHECK(coco_type_field(st, "offset") == 0);
	CHECK(coco_type_field(st, "col") == -1);
	CHECK(coco_type_field(&coco_t_str, "x") == -1);

	coco_field cf[3] = { { "location", &coco_t_range }, { "text", &coco_t_str },
		{ "pos", st } };
	coco_type *tt = coco_type_table(&A, cf, 3, 1);
	CHECK_STR(fmt_type(tt), "table[location: range]{text: str, pos: struct{offset: int64, line: int64}}");
	coco_type *lt = coco_type_table(&A, cf, 2, 0);
	CHECK_STR(fmt_type(lt), "list{location: range, text: str}");
	coco_type *kt = coco_type_table(&A, cf, 2, 2);
	CHECK_STR(fmt_type(kt), "table[location: range, text: str]{}");
	CHECK_STR(fmt_type(coco_type_struct(&A, NULL, 0)), "struct{}");

	coco_buf b = {0};
	coco_type_field_names(tt, &b);
	CHECK_STR(b.p, "location, text, pos");
	coco_buf_free(&b);

	/* deep equality, not pointer equality */
	coco_field cf2[3] = { { "location", &coco_t_range }, { "text", &coco_t_str },
		{ "pos", coco_type_struct(&A, pos, 2) } };
	CHECK(coco_type_equal(tt, coco_type_table(&A, cf2, 3, 1)));
	CHECK(!coco_type_equal(tt, coco_type_table(&A, cf2, 3, 0)));
	CHECK(!coco_type_equal(tt, coco_type_table(&A, cf2, 2, 1)));
	cf2[1].name = "body";
	CHECK(!coco_type_equal(tt, coco_type_table(&A, cf2, 3, 1)));
	cf2[1].name = "text";
	cf2[2].type = &coco_t_int64;
	CHECK(!coco_type_equal(tt, coco_type_table(&A, cf2, 3, 1)));
	CHECK(!coco_type_equal(&coco_t_float32, &coco_t_float64));
	CHECK(coco_type_equal(coco_type_vector(&A, 3), coco_type_vector(&A, 3)));
	CHECK(!coco_type_equal(coco_type_vector(&A, 3), coco_type_vector(&A, 4)));
	CHECK(!coco_type_equal(st, tt));

	/* conformance */
	coco_value n = coco_v_null(), i = coco_v_int(1), f = vf64(1), s = vs("1");
	CHECK(coco_value_conforms(&n, &coco_t_str));
	CHECK(coco_value_conforms(&n, tt));
	CHECK(coco_value_conforms(&i, &coco_t_int64));
	CHECK(!coco_value_conforms(&i, &coco_t_float64));
	CHECK(!coco_value_conforms(&f, &coco_t_float32));
	CHECK(coco_value_conforms(&f, &coco_t_float64));
	CHECK(!coco_value_conforms(&s, &coco_t_json));
	CHECK(!coco_value_conforms(&i, &coco_t_null));
	static const float v3[3] = { 1, 2, 3 };
	coco_value vv = vvec(v3, 3);
	CHECK(coco_value_conforms(&vv, &coco_t_vector_any));
	CHECK(coco_value_conforms(&vv, coco_type_vector(&A, 3)));
	CHECK(!coco_value_conforms(&vv, coco_type_vector(&A, 4)));
	coco_value pf[2] = { coco_v_int(4), coco_v_null() };
	coco_value pv = vstruct(2, pf);
	CHECK(coco_value_conforms(&pv, st));
	pf[1] = vs("x");
	coco_value pbad = vstruct(2, pf);
	CHECK(!coco_value_conforms(&pbad, st));
	coco_value pshort = vstruct(1, pf);
	CHECK(!coco_value_conforms(&pshort, st));
	coco_value row[3] = { vrange(0, 5), vs("hello"), pv };
	coco_value rows[2] = { vstruct(3, row), vstruct(3, row) };
	coco_value tv = vtable(2, rows);
	CHECK(coco_value_conforms(&tv, tt));
	rows[1] = pv;
	coco_value tbad = vtable(2, rows);
	CHECK(!coco_value_conforms(&tbad, tt));
	CHECK(!coco_value_conforms(&tv, st));
}

static void test_encoding(void)
{
	for (int k = 0; k < NSAMPLES; k++) {
		coco_value v = sample(k);
		if (!roundtrip(&v))
			fprintf(stderr, "  (roundtrip of sample %d)\n", k);
		CHECK(roundtrip(&v));
	}

	/* exact bytes: the format is a contract with stored state */
	coco_value v = coco_v_null();
	CHECK_STR(enc_hex(&v), "00");
	v = vbool(1);
	CHECK_STR(enc_hex(&v), "0101");
	v = vbool(42);  /* any true is true */
	CHECK_STR(enc_hex(&v), "0101");
	v = coco_v_int(0);
	CHECK_STR(enc_hex(&v), "0200");
	v = coco_v_int(-1);
	CHECK_STR(enc_hex(&v), "0201");
	v = coco_v_int(64);
	CHECK_STR(enc_hex(&v), "028001");
	v = coco_v_int(INT64_MIN);
	CHECK_STR(enc_hex(&v), "02ffffffffffffffffff01");
	v = vf32(1.0f);
	CHECK_STR(enc_hex(&v), "030000803f");
	v = vf64(1.0);
	CHECK_STR(enc_hex(&v), "04000000000000f03f");
	v = vs("ab");
	CHECK_STR(enc_hex(&v), "05026162");
	v = vs("");
	CHECK_STR(enc_hex(&v), "0500");
	v = vrange(1, -2);
	CHECK_STR(enc_hex(&v), "080203");
	static const float one[1] = { 1.0f };
	v = vvec(one, 1);
	CHECK_STR(enc_hex(&v), "09010000803f");
	coco_value f2[2] = { coco_v_int(1), vs("") };
	v = vstruct(2, f2);
	CHECK_STR(enc_hex(&v), "0a0202020500");
	coco_value r[1] = { vstruct(0, NULL) };
	v = vtable(1, r);
	CHECK_STR(enc_hex(&v), "0b010a00");

	/* canonical: equal <=> identical bytes, across all sample pairs */
	for (int a = 0; a < NSAMPLES; a++)
		for (int b = 0; b < NSAMPLES; b++) {
			coco_value x = sample(a), y = sample(b);
			int eq = coco_value_equal(&x, &y);
			int same = !strcmp(enc_hex(&x), enc_hex(&y));
			CHECK(eq == same);
			CHECK(eq == (a == b));
		}
	/* float32 equality is on the stored float: doubles rounding to the
	 * same float are the same float32 value */
	coco_value fa = vf32(0.1f), fb = vf32(0.1);
	fb.u.f = 0.1;
	CHECK(coco_value_equal(&fa, &fb));
	CHECK(!strcmp(enc_hex(&fa), enc_hex(&fb)));
	coco_value t1 = vbool(1), t2 = vbool(7);
	CHECK(coco_value_equal(&t1, &t2));

	/* several values back to back in one buffer */
	coco_buf b = {0};
	for (int k = 0; k < NSAMPLES; k++) {
		coco_value x = sample(k);
		coco_value_encode(&x, &b);
	}
	const char *p = b.p, *end = b.p + b.n;
	int all = 1;
	for (int k = 0; k < NSAMPLES; k++) {
		coco_value x = sample(k), d;
		if (coco_value_decode(&p, end, &A, &d) || !coco_value_equal(&x, &d))
			all = 0;
	}
	CHECK(all);
	CHECK(p == end);
	coco_value d;
	CHECK(coco_value_decode(&p, end, &A, &d) == -1);
	coco_buf_free(&b);

	/* decoded strings are NUL-terminated copies */
	coco_value hs = vs("hello");
	coco_value_encode(&hs, &b);
	p = b.p;
	CHECK(coco_value_decode(&p, b.p + b.n, &A, &d) == 0);
	CHECK(d.kind == COCO_STR && d.n == 5 && d.u.s[5] == 0 && d.u.s != b.p + 2);
	coco_buf_free(&b);
}

static int decodes(const char *bytes, size_t n)
{
	const char *p = bytes;
	coco_value v;
	int rc = coco_value_decode(&p, bytes + n, &A, &v);
	return rc == 0 && p == bytes + n;
}

static void test_malformed(void)
{
	CHECK(!decodes("", 0));
	CHECK(!decodes("\x0c", 1));                     /* unknown kind */
	CHECK(!decodes("\xff", 1));
	CHECK(!decodes("\x01\x02", 2));                 /* bool 2 */
	CHECK(!decodes("\x02\x80", 2));                 /* truncated varint */
	CHECK(!decodes("\x02\x80\x00", 3));             /* overlong varint */
	CHECK(decodes("\x02\x00", 2));
	CHECK(!decodes("\x02\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 11)); /* > 64 bits */
	CHECK(!decodes("\x02\xff\xff\xff\xff\xff\xff\xff\xff\xff\x81\x00", 12));
	CHECK(!decodes("\x03\x00\x00\x80", 4));         /* short float32 */
	CHECK(!decodes("\x03\x01\x00\x80\x7f", 5));     /* signalling NaN */
	CHECK(decodes("\x03\x00\x00\xc0\x7f", 5));      /* quiet NaN */
	CHECK(!decodes("\x04\x00\x00\x00\x00\x00\x00\xf0", 8));
	CHECK(!decodes("\x05\x05" "abcd", 6));           /* string past end */
	CHECK(!decodes("\x05\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10));
	CHECK(!decodes("\x08\x02", 2));                 /* range missing end */
	CHECK(!decodes("\x09\x02\x00\x00\x80\x3f\x00\x00\x80", 9));
	CHECK(!decodes("\x09\xff\xff\xff\xff\x0f", 6));  /* huge vector */
	CHECK(!decodes("\x0a\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10)); /* huge struct */
	CHECK(!decodes("\x0a\x02\x00", 3));             /* struct missing field */
	CHECK(!decodes("\x0b\x01\x02\x00", 4));         /* table row not a struct */
	CHECK(decodes("\x0b\x01\x0a\x00", 4));

	/* deep nesting is refused, not a stack overflow */
	size_t depth = 100000;
	char *deep = malloc(2 * depth + 1);
	for (size_t k = 0; k < depth; k++) {
		deep[2 * k] = COCO_STRUCT;
		deep[2 * k + 1] = 1;
	}
	deep[2 * depth] = 0;
	CHECK(!decodes(deep, 2 * depth + 1));
	CHECK(decodes(deep + 2 * depth - 2 * 20, 2 * 20 + 1));
	free(deep);

	/* fuzz: random bytes and mutated valid encodings. A decode either
	 * fails without moving p, or consumes bytes that re-encode exactly. */
	srand(12345);
	coco_buf valid = {0};
	for (int k = 0; k < NSAMPLES; k++) {
		coco_value x = sample(k);
		coco_value_encode(&x, &valid);
	}
	int bad = 0, ok = 0;
	unsigned char buf[96];
	for (int it = 0; it < 20000; it++) {
		size_t n = (size_t)(rand() % (int)sizeof buf);
		if (it & 1) {
			size_t off = (size_t)rand() % (valid.n - 1);
			if (n > valid.n - off)
				n = valid.n - off;
			memcpy(buf, valid.p + off, n);
			for (int m = rand() % 3; m > 0 && n; m--)
				buf[(size_t)rand() % n] = (unsigned char)rand();
			if (n && rand() % 2)
				buf[0] = (unsigned char)(rand() % 12);
		} else {
			for (size_t k = 0; k < n; k++)
				buf[k] = (unsigned char)(rand() % 4 ? rand() % 16 : rand());
		}
		/* exact-size heap copy, so ASan catches any read past the end */
		char *in = malloc(n ? n : 1);
		memcpy(in, buf, n);
		const char *p = in;
		coco_value v;
		coco_arena fa = {0};
		int rc = coco_value_decode(&p, in + n, &fa, &v);
		if (rc == 0) {
			ok++;
			coco_buf re = {0};
			coco_value_encode(&v, &re);
			if (re.n != (size_t)(p - in) || memcmp(re.p, in, re.n))
				bad++;
			coco_value c;
			coco_value_copy(&fa, &v, &c);
			if (!coco_value_equal(&v, &c))
				bad++;
			coco_buf js = {0};
			coco_value_to_json(&v, NULL, &js);
			coco_buf_free(&js);
			coco_buf_free(&re);
		} else if (rc != -1 || p != in) {
			bad++;
		}
		coco_arena_destroy(&fa);
		free(in);
	}
	CHECK(bad == 0);
	CHECK(ok > 1000);       /* the fuzz reaches the decoders */
	coco_buf_free(&valid);
}

static void test_copy_equal(void)
{
	coco_arena b = {0};
	for (int k = 0; k < NSAMPLES; k++) {
		coco_value x = sample(k), c;
		coco_value_copy(&b, &x, &c);
		CHECK(coco_value_equal(&x, &c));
	}
	char s[4] = "abc";
	coco_value x = vs(s), c;
	coco_value_copy(&b, &x, &c);
	s[0] = 'z';
	CHECK(c.u.s[0] == 'a' && c.u.s[3] == 0);
	CHECK(!coco_value_equal(&x, &c));
	coco_arena_destroy(&b);

	coco_value e1 = vs(""), e2 = vkind(COCO_STR, NULL, 0), e3 = vkind(COCO_BYTES, "", 0);
	CHECK(coco_value_equal(&e1, &e2));
	CHECK(!coco_value_equal(&e1, &e3));
	coco_value z1 = vf64(0.0), z2 = vf64(-0.0);
	CHECK(!coco_value_equal(&z1, &z2));
	coco_value one32 = vf32(1), one64 = vf64(1), onei = coco_v_int(1);
	CHECK(!coco_value_equal(&one32, &one64));
	CHECK(!coco_value_equal(&one64, &onei));
	coco_value a2[2] = { vs("ab"), vs("") }, b2[2] = { vs("a"), vs("b") };
	coco_value sa = vstruct(2, a2), sb = vstruct(2, b2);
	CHECK(!coco_value_equal(&sa, &sb));
	coco_value ta = vtable(2, a2), tb = vstruct(2, a2);
	CHECK(!coco_value_equal(&ta, &tb));
}

static void test_json(void)
{
	coco_value v = vs("plain");
	CHECK_STR(to_json(&v, NULL), "\"plain\"");
	v = vs("q\"b\\s/");
	CHECK_STR(to_json(&v, NULL), "\"q\\\"b\\\\s/\"");
	v = vkind(COCO_STR, "a\0b\n\t\x1f\x7f", 7);
	CHECK_STR(to_json(&v, NULL), "\"a\\u0000b\\u000a\\u0009\\u001f\x7f\"");
	v = vs("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");  /* valid UTF-8 kept */
	CHECK_STR(to_json(&v, NULL), "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	v = vs("a\xffz");
	CHECK_STR(to_json(&v, NULL), "\"a\xef\xbf\xbdz\"");
	v = vs("\xc3");         /* truncated at end */
	CHECK_STR(to_json(&v, NULL), "\"\xef\xbf\xbd\"");
	v = vs("\xe2\x82z");    /* truncated sequence: one U+FFFD */
	CHECK_STR(to_json(&v, NULL), "\"\xef\xbf\xbdz\"");
	v = vs("\xc0\xaf");     /* overlong: two U+FFFD */
	CHECK_STR(to_json(&v, NULL), "\"\xef\xbf\xbd\xef\xbf\xbd\"");
	v = vs("\xed\xa0\x80"); /* surrogate */
	CHECK_STR(to_json(&v, NULL), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	v = vs("\xf4\x90\x80\x80"); /* > U+10FFFF */
	CHECK_STR(to_json(&v, NULL), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	v = vs("");
	CHECK_STR(to_json(&v, NULL), "\"\"");

	v = coco_v_null();
	CHECK_STR(to_json(&v, NULL), "null");
	v = vbool(1);
	CHECK_STR(to_json(&v, NULL), "true");
	v = coco_v_int(INT64_MIN);
	CHECK_STR(to_json(&v, NULL), "-9223372036854775808");
	v = vf64(0.1);
	CHECK_STR(to_json(&v, NULL), "0.1");
	v = vf64(0.1 + 0.2);
	CHECK_STR(to_json(&v, NULL), "0.30000000000000004");
	CHECK(strtod(to_json(&v, NULL), NULL) == 0.1 + 0.2);
	v = vf64(1e300);
	CHECK_STR(to_json(&v, NULL), "1e+300");
	v = vf64(NAN);
	CHECK_STR(to_json(&v, NULL), "null");
	v = vf64(-INFINITY);
	CHECK_STR(to_json(&v, NULL), "null");
	v = vf32(0.1f);
	CHECK_STR(to_json(&v, NULL), "0.1");
	v = vf32(16777217.0f);
	CHECK_STR(to_json(&v, NULL), "16777216");
	v = vkind(COCO_BYTES, "\0\xff" "ab", 4);
	CHECK_STR(to_json(&v, NULL), "\"AP9hYg==\"");
	v = vkind(COCO_BYTES, "abc", 3);
	CHECK_STR(to_json(&v, NULL), "\"YWJj\"");
	v = vkind(COCO_BYTES, "ab", 2);
	CHECK_STR(to_json(&v, NULL), "\"YWI=\"");
	v = vkind(COCO_JSON, "{\"k\": [1, 2]}", 13);
	CHECK_STR(to_json(&v, NULL), "{\"k\": [1, 2]}");
	v = vkind(COCO_JSON, NULL, 0);
	CHECK_STR(to_json(&v, NULL), "null");
	v = vrange(0, 42);
	CHECK_STR(to_json(&v, NULL), "[0,42]");
	static const float vec[3] = { 0.5f, -1.0f, 0.1f };
	v = vvec(vec, 3);
	CHECK_STR(to_json(&v, NULL), "[0.5,-1,0.1]");
	v = vvec(NULL, 0);
	CHECK_STR(to_json(&v, NULL), "[]");

	coco_field pos[2] = { { "offset", &coco_t_int64 }, { "line", &coco_t_int64 } };
	coco_type *st = coco_type_struct(&A, pos, 2);
	coco_field cf[3] = { { "name", &coco_t_str }, { "pos", st }, { "t\"x", &coco_t_bool } };
	coco_type *tt = coco_type_table(&A, cf, 3, 1);
	coco_value p1[2] = { coco_v_int(3), coco_v_int(1) };
	coco_value r1[3] = { vs("a"), vstruct(2, p1), vbool(0) };
	coco_value r2[3] = { vs("b"), coco_v_null(), vbool(1) };
	coco_value rows[2] = { vstruct(3, r1), vstruct(3, r2) };
	v = vstruct(2, p1);
	CHECK_STR(to_json(&v, st), "{\"offset\":3,\"line\":1}");
	CHECK_STR(to_json(&v, NULL), "[3,1]");
	v = vtable(2, rows);
	CHECK_STR(to_json(&v, tt),
		"[{\"name\":\"a\",\"pos\":{\"offset\":3,\"line\":1},\"t\\\"x\":false},"
		"{\"name\":\"b\",\"pos\":null,\"t\\\"x\":true}]");
	CHECK_STR(to_json(&v, NULL), "[[\"a\",[3,1],false],[\"b\",null,true]]");
	v = vtable(0, NULL);
	CHECK_STR(to_json(&v, tt), "[]");

	/* appending keeps what is in the buffer */
	coco_buf b = {0};
	coco_buf_adds(&b, "x=");
	coco_json_str(&b, "\x01", 1);
	CHECK_STR(b.p, "x=\"\\u0001\"");
	coco_buf_free(&b);
}

static coco_fp fp_of(const coco_value *v) { return coco_fp_value(v); }

static void test_fingerprint(void)
{
	char hex[33];
	coco_fp fp = { 0x0123456789abcdefULL, 0xfedcba9876543210ULL };
	coco_fp_hex(fp, hex);
	CHECK_STR(hex, "fedcba98765432100123456789abcdef");

	/* all samples differ from each other, and equal values agree */
	for (int a = 0; a < NSAMPLES; a++)
		for (int b = 0; b < NSAMPLES; b++) {
			coco_value x = sample(a), y = sample(b);
			CHECK(coco_fp_eq(fp_of(&x), fp_of(&y)) == (a == b));
		}
	coco_arena c = {0};
	for (int k = 0; k < NSAMPLES; k++) {
		coco_value x = sample(k), y;
		coco_value_copy(&c, &x, &y);
		CHECK(coco_fp_eq(fp_of(&x), fp_of(&y)));
	}
	coco_arena_destroy(&c);

	coco_value s1 = vs("1"), i1 = coco_v_int(1), f1 = vf32(1), d1 = vf64(1);
	coco_value b1 = vkind(COCO_BYTES, "1", 1), j1 = vkind(COCO_JSON, "1", 1);
	CHECK(!coco_fp_eq(fp_of(&s1), fp_of(&i1)));
	CHECK(!coco_fp_eq(fp_of(&f1), fp_of(&d1)));
	CHECK(!coco_fp_eq(fp_of(&s1), fp_of(&b1)));
	CHECK(!coco_fp_eq(fp_of(&s1), fp_of(&j1)));
	coco_value a2[2] = { vs("ab"), vs("") }, b2[2] = { vs("a"), vs("b") };
	coco_value c2[2] = { vs(""), vs("ab") };
	coco_value sa = vstruct(2, a2), sb = vstruct(2, b2), sc = vstruct(2, c2);
	CHECK(!coco_fp_eq(fp_of(&sa), fp_of(&sb)));
	CHECK(!coco_fp_eq(fp_of(&sa), fp_of(&sc)));
	coco_value ta = vtable(2, a2);
	CHECK(!coco_fp_eq(fp_of(&sa), fp_of(&ta)));
	/* nesting boundaries: {{"a"},"b"} vs {{"a","b"}} */
	coco_value in1[1] = { vs("a") }, out1[2] = { vstruct(1, in1), vs("b") };
	coco_value out2[1] = { vstruct(2, b2) };
	coco_value n1 = vstruct(2, out1), n2 = vstruct(1, out2);
	CHECK(!coco_fp_eq(fp_of(&n1), fp_of(&n2)));
	/* a struct equals the same adds made one by one?  no: it is tagged */
	coco_fper *f = coco_fper_create();
	coco_fper_value(f, &a2[0]);
	coco_fper_value(f, &a2[1]);
	CHECK(!coco_fp_eq(coco_fper_digest(f), fp_of(&sa)));

	/* adds of different kinds never collide */
	coco_fp seen[8];
	int ns = 0;
	coco_fper_reset(f); coco_fper_str(f, "ab"); seen[ns++] = coco_fper_digest(f);
	coco_fper_reset(f); coco_fper_bytes(f, "ab", 2); seen[ns++] = coco_fper_digest(f);
	coco_fper_reset(f); coco_fper_value(f, &a2[0]); seen[ns++] = coco_fper_digest(f);
	coco_fper_reset(f); coco_fper_str(f, NULL); seen[ns++] = coco_fper_digest(f);
	coco_fper_reset(f); coco_fper_str(f, ""); seen[ns++] = coco_fper_digest(f);
	coco_fper_reset(f); coco_fper_u64(f, 0); seen[ns++] = coco_fper_digest(f);
	coco_fper_reset(f); seen[ns++] = coco_fper_digest(f);
	coco_fper_reset(f); coco_fper_str(f, "a"); coco_fper_str(f, "b"); seen[ns++] = coco_fper_digest(f);
	int distinct = 1;
	for (int x = 0; x < ns; x++)
		for (int y = x + 1; y < ns; y++)
			if (coco_fp_eq(seen[x], seen[y]))
				distinct = 0;
	CHECK(distinct);

	/* streaming equals one-shot, and reset starts over */
	coco_fper_reset(f);
	coco_fper_bytes(f, "hello", 5);
	CHECK(coco_fp_eq(coco_fper_digest(f), coco_fp_bytes("hello", 5)));
	CHECK(coco_fp_eq(coco_fper_digest(f), coco_fp_bytes("hello", 5)));  /* digest is repeatable */
	size_t big = 100000;
	char *data = malloc(big);
	for (size_t k = 0; k < big; k++)
		data[k] = (char)(k * 7 + (k >> 9));
	coco_value bigs = vkind(COCO_STR, data, big);
	coco_fper_reset(f);
	coco_fper_value(f, &bigs);
	CHECK(coco_fp_eq(coco_fper_digest(f), coco_fp_value(&bigs)));
	coco_fper_reset(f);
	coco_fper_bytes(f, data, big);
	CHECK(coco_fp_eq(coco_fper_digest(f), coco_fp_bytes(data, big)));
	/* chaining many small adds through the staging buffer and past it */
	coco_fper *g = coco_fper_create();
	for (int round = 0; round < 2; round++) {
		coco_fper_reset(f);
		coco_fper_reset(g);
		for (int k = 0; k < 500; k++) {
			coco_value x = sample(k % NSAMPLES);
			coco_fper_value(f, &x);
			coco_fper_value(g, &x);
			if (k == 250)
				coco_fper_digest(f);       /* a digest midway changes nothing */
		}
		coco_fper_fp(f, fp);
		coco_fper_fp(g, fp);
		CHECK(coco_fp_eq(coco_fper_digest(f), coco_fper_digest(g)));
	}
	/* the stream format is fixed: same bytes as a plain XXH3-128 over
	 * the tagged stream (str "ab": tag 0x15, u64 length, bytes) */
	unsigned char raw[11] = { 0x15, 2, 0, 0, 0, 0, 0, 0, 0, 'a', 'b' };
	XXH128_hash_t h = XXH3_128bits(raw, sizeof raw);
	coco_fp want = { h.low64, h.high64 };
	CHECK(coco_fp_eq(fp_of(&a2[0]), want));
	/* every length across the staging boundary: streaming == one-shot */
	int same = 1;
	for (size_t n = 490; n < 530; n++) {
		coco_fper_reset(g);
		coco_fper_u64(g, 1);
		coco_fper_bytes(g, data, n);
		unsigned char *buf = malloc(9 + 9 + n);
		buf[0] = 0x04;
		memset(buf + 1, 0, 8);
		buf[1] = 1;
		buf[9] = 0x01;
		for (int k = 0; k < 8; k++)
			buf[10 + k] = (unsigned char)((uint64_t)n >> (8 * k));
		memcpy(buf + 18, data, n);
		XXH128_hash_t hh = XXH3_128bits(buf, 18 + n);
		coco_fp w = { hh.low64, hh.high64 };
		if (!coco_fp_eq(coco_fper_digest(g), w))
			same = 0;
		free(buf);
	}
	CHECK(same);

	/* cost: a 4 KB string costs little more than XXH3 over its bytes */
	coco_value s4 = vkind(COCO_STR, data, 4096);
	int iters = 200000;
	volatile uint64_t sink = 0;
	clock_t t0 = clock();
	for (int k = 0; k < iters; k++)
		sink += XXH3_128bits(data + (k & 15), 4096).low64;
	clock_t t1 = clock();
	for (int k = 0; k < iters; k++) {
		coco_fper_reset(f);
		coco_fper_value(f, &s4);
		sink += coco_fper_digest(f).lo;
	}
	clock_t t2 = clock();
	for (int k = 0; k < iters; k++)
		sink += coco_fp_value(&s4).lo;
	clock_t t3 = clock();
	double raw_ns = (double)(t1 - t0) * 1e9 / CLOCKS_PER_SEC / iters;
	double fper_ns = (double)(t2 - t1) * 1e9 / CLOCKS_PER_SEC / iters;
	double one_ns = (double)(t3 - t2) * 1e9 / CLOCKS_PER_SEC / iters;
	printf("fingerprint 4 KB str: XXH3 %.0f ns, fper %.0f ns, fp_value %.0f ns\n",
		raw_ns, fper_ns, one_ns);
	(void)sink;

	free(data);
	coco_fper_destroy(g);
	coco_fper_destroy(f);
	coco_fper_destroy(NULL);
}

int main(void)
{
	test_types();
	test_encoding();
	test_malformed();
	test_copy_equal();
	test_json();
	test_fingerprint();
	coco_arena_destroy(&A);
	return CHECK_DONE();
}
