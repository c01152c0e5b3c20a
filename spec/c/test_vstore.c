/* Unit test of what the vector-store targets share (engine/vstore.c):
 * float32 JSON that reads back exactly (every exponent, subnormals, random
 * bit patterns), key UUIDs (stable, version 8, distinct keys apart), URL
 * path segments, typed values from JSON, batches whose last write of an
 * id wins, and the plain HTTP exchange of queries (Content-Length, chunked
 * and closed bodies, a refused connection, a server that never answers). */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "engine/vstore.h"

#include "spec/c/check.h"

static float from_bits(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* Formats v as JSON, reads every number back with strtof. */
static int round_trips(const float *v, size_t n, coco_buf *b)
{
	coco_buf_clear(b);
	coco_vs_floats(b, v, n);
	if (b->p[0] != '[' || b->p[b->n - 1] != ']')
		return 0;
	const char *p = b->p + 1;
	for (size_t i = 0; i < n; i++) {
		char *e;
		float f = strtof(p, &e);
		if (e == p || (*e != ',' && *e != ']'))
			return 0;
		uint32_t a, c;
		memcpy(&a, &f, 4);
		memcpy(&c, &v[i], 4);
		if (a != c && !(f == 0 && v[i] == 0)) {
			fprintf(stderr, "  %.9g (0x%08x) came back as %.9g from \"%.*s\"\n", (double)v[i], c,
				(double)f, (int)(e - p), p);
			return 0;
		}
		p = e + 1;
	}
	return 1;
}

static void test_floats(void)
{
	coco_buf b = {0};
	float edge[] = { 0.0f, -0.0f, 1.0f, -1.0f, 0.1f, 1e-5f, 1e-6f, 123456789.0f, 1e9f, 1e10f,
		3.4028235e38f, -3.4028235e38f, 1.17549435e-38f, 1.4e-45f, 0.5f, 100.0f, 99999.99f,
		0.000123456f, 9.999999e-5f, 16777216.0f, 33554430.0f };
	CHECK(round_trips(edge, sizeof edge / sizeof *edge, &b));
	coco_vs_floats(&b, (float[]){ 0.5f, 100.0f, 1e-6f, 1.0f }, 0);
	coco_buf_clear(&b);
	coco_vs_floats(&b, (float[]){ 0.5f, 100.0f, 1.0f, -2.25f }, 4);
	CHECK_STR(b.p, "[0.5,100,1,-2.25]");
	coco_buf_clear(&b);
	coco_vs_floats(&b, (float[]){ NAN, INFINITY }, 2);
	CHECK_STR(b.p, "[null,null]");
	coco_buf_clear(&b);
	coco_vs_floats(&b, NULL, 0);
	CHECK_STR(b.p, "[]");
	/* one float of every exponent, and random bit patterns */
	float v[256];
	int ok = 1;
	for (uint32_t e = 0; e < 255 && ok; e++) {
		for (int i = 0; i < 256; i++)
			v[i] = from_bits(e << 23 | (uint32_t)i * 32767u % (1u << 23) | (i & 1u) << 31);
		ok = round_trips(v, 256, &b);
	}
	CHECK(ok);
	uint64_t x = 88172645463325252ull;
	for (int r = 0; r < 2000 && ok; r++) {
		for (int i = 0; i < 256; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			uint32_t u = (uint32_t)x;
			if ((u >> 23 & 255) == 255)
				u &= ~(1u << 30);      /* no NaN or infinity */
			v[i] = from_bits(u);
		}
		ok = round_trips(v, 256, &b);
	}
	CHECK(ok);
	coco_buf_free(&b);
}

static void test_uuid(void)
{
	coco_value f1[2] = { coco_v_str("a.md", 4), coco_v_int(1) };
	coco_value f2[2] = { coco_v_str("a.md", 4), coco_v_int(2) };
	coco_value k1 = { .kind = COCO_STRUCT, .n = 2, .u.fields = f1 };
	coco_value k2 = { .kind = COCO_STRUCT, .n = 2, .u.fields = f2 };
	char a[37], b[37], c[37];
	coco_vs_uuid(&k1, a);
	coco_vs_uuid(&k1, b);
	coco_vs_uuid(&k2, c);
	CHECK_STR(a, b);
	CHECK(strcmp(a, c) != 0);
	CHECK(strlen(a) == 36 && a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
	CHECK(a[14] == '8');
	CHECK(strchr("89ab", a[19]) != NULL);
	/* a row's first fields as a key are the same key */
	coco_value row_f[3] = { coco_v_str("a.md", 4), coco_v_int(1), coco_v_str("text", 4) };
	coco_value row = { .kind = COCO_STRUCT, .n = 3, .u.fields = row_f };
	coco_value k = coco_vs_key_of(&row, 2);
	coco_vs_uuid(&k, b);
	CHECK_STR(a, b);
	/* "1" and 1 are different keys */
	coco_value s1 = coco_v_str("1", 1), i1 = coco_v_int(1);
	coco_value ks = { .kind = COCO_STRUCT, .n = 1, .u.fields = &s1 };
	coco_value ki = { .kind = COCO_STRUCT, .n = 1, .u.fields = &i1 };
	coco_vs_uuid(&ks, a);
	coco_vs_uuid(&ki, b);
	CHECK(strcmp(a, b) != 0);
}

static void test_path(void)
{
	coco_buf b = {0};
	coco_vs_path(&b, "we ird/tab'le_1.x~-");
	CHECK_STR(b.p, "we%20ird%2Ftab%27le_1.x~-");
	coco_buf_free(&b);
}

static void test_from_json(void)
{
	coco_arena a = {0};
	coco_value v;
	CHECK(coco_vs_from_json("\"h\\u00e9\"", 9, &coco_t_str, &a, &v) == 0);
	CHECK(v.kind == COCO_STR && v.n == 3 && !memcmp(v.u.s, "h\xc3\xa9", 3));
	CHECK(coco_vs_from_json(" 42 ", 4, &coco_t_int64, &a, &v) == 0 && v.kind == COCO_INT64 &&
		v.u.i == 42);
	CHECK(coco_vs_from_json("9007199254740993", 16, &coco_t_int64, &a, &v) == 0 &&
		v.u.i == 9007199254740993ll);
	CHECK(coco_vs_from_json("2.5", 3, &coco_t_float64, &a, &v) == 0 && v.u.f == 2.5);
	CHECK(coco_vs_from_json("true", 4, &coco_t_bool, &a, &v) == 0 && v.u.b == 1);
	CHECK(coco_vs_from_json("null", 4, &coco_t_str, &a, &v) == 0 && v.kind == COCO_NULL);
	CHECK(coco_vs_from_json("\"AAH/YWxwaGE=\"", 14, &coco_t_bytes, &a, &v) == 0 &&
		v.kind == COCO_BYTES && v.n == 8 && !memcmp(v.u.s, "\0\1\377alpha", 8));
	CHECK(coco_vs_from_json("[3,17]", 6, &coco_t_range, &a, &v) == 0 && v.kind == COCO_RANGE &&
		v.u.r[0] == 3 && v.u.r[1] == 17);
	CHECK(coco_vs_from_json("[1,-0.5,2e3]", 12, &coco_t_vector_any, &a, &v) == 0 &&
		v.kind == COCO_VECTOR && v.n == 3 && v.u.vec[1] == -0.5f && v.u.vec[2] == 2000.0f);
	CHECK(coco_vs_from_json("{\"a\": [1]}", 10, &coco_t_json, &a, &v) == 0 &&
		v.kind == COCO_JSON && v.n == 10);
	CHECK(coco_vs_from_json("\"x\"", 3, &coco_t_int64, &a, &v) < 0 && v.kind == COCO_NULL);
	CHECK(coco_vs_from_json("[1]", 3, &coco_t_range, &a, &v) < 0);
	CHECK(coco_vs_from_json("1e300", 5, &coco_t_int64, &a, &v) < 0 && v.kind == COCO_NULL);
	CHECK(coco_vs_from_json("[0,1e30]", 8, &coco_t_range, &a, &v) < 0);
	coco_arena_destroy(&a);
}

static void test_batch(void)
{
	coco_vs_batch b = {0};
	char id[32];
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 3000; i++) {
			snprintf(id, sizeof id, "k%d", i % 1000);
			coco_vs_op *o = coco_vs_batch_add(&b, id, strlen(id), i >= 2000);
			o->off[0] = (size_t)i;
		}
		CHECK(b.n == 3000 && b.live == 1000);
		size_t live = 0, dels = 0;
		for (size_t i = 0; i < b.n; i++)
			if (!b.ops[i].dead) {
				live++;
				dels += b.ops[i].del;
				CHECK(b.ops[i].off[0] >= 2000);
			}
		CHECK(live == 1000 && dels == 1000);
		CHECK_STR(coco_vs_op_id(&b, &b.ops[2999]), "k999");
		coco_vs_batch_clear(&b);
		CHECK(b.n == 0 && b.live == 0);
	}
	coco_vs_batch_free(&b);
}

/* A child that answers each of n connections with replies[i] (NULL: says
 * nothing and holds on), after reading the request; returns its port. */
static int serve(const char *const *replies, int n, pid_t *pid)
{
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 8) ||
	    getsockname(ls, (struct sockaddr *)&a, &al))
		return -1;
	*pid = fork();
	if (*pid == 0) {
		for (int i = 0; i < n; i++) {
			int c = accept(ls, NULL, NULL);
			char buf[4096];
			ssize_t got = recv(c, buf, sizeof buf, 0);
			(void)got;
			if (!replies[i]) {
				sleep(60);            /* longer than any timeout here; killed before */
				_exit(0);
			}
			ssize_t w = send(c, replies[i], strlen(replies[i]), 0);
			(void)w;
			close(c);
		}
		_exit(0);
	}
	close(ls);
	return ntohs(a.sin_port);
}

static void test_plain(void)
{
	const char *const replies[] = {
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\":[1,2]}",
		"HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{\"st\r\n6\r\natus\":\r\n2\r\n1}\r\n0\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil the end",
		NULL,
	};
	pid_t pid;
	int port = serve(replies, 4, &pid);
	CHECK(port > 0);
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/collections/c/points/query", port);
	coco_http_resp r;
	char *err = NULL;
	CHECK(coco_vs_request_plain("T", "POST", url, NULL, "{}", 2, 60000, &r, &err) == 200);
	CHECK_STR(r.body.p, "{\"a\":[1,2]}");
	coco_http_resp_free(&r);
	CHECK(coco_vs_request_plain("T", "GET", url, NULL, NULL, 0, 60000, &r, &err) == 404);
	CHECK_STR(r.body.p, "{\"status\":1}");
	coco_http_resp_free(&r);
	CHECK(coco_vs_request_plain("T", "GET", url, NULL, NULL, 0, 60000, &r, &err) == 200);
	CHECK_STR(r.body.p, "until the end");
	coco_http_resp_free(&r);
	CHECK(coco_vs_request_plain("T", "GET", url, NULL, NULL, 0, 300, &r, &err) < 0);
	CHECK(err && strstr(err, "T: cannot reach http://127.0.0.1:") && strstr(err, "timed out"));
	coco_http_resp_free(&r);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK(coco_vs_request_plain("T", "GET", url, NULL, NULL, 0, 2000, &r, &err) < 0);
	CHECK(err && strstr(err, "Connection refused"));
	coco_http_resp_free(&r);
	CHECK(coco_vs_request_plain("T", "GET", "https://x/", NULL, NULL, 0, 2000, &r, &err) < 0);
	CHECK(err && strstr(err, "not an http:// URL"));
	free(err);
}

int main(void)
{
	test_floats();
	test_uuid();
	test_path();
	test_from_json();
	test_batch();
	test_plain();
	return CHECK_DONE();
}
