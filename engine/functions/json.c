/* A small JSON reader: checking, walking, member lookup (see json.h). */
#include <stdlib.h>
#include <string.h>

#include "engine/functions/json.h"

#define MAX_DEPTH 1000

static int is_jws(unsigned char c)
{
	return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && is_jws((unsigned char)*p))
		p++;
	return p;
}

typedef struct jcheck {
	const char *start, *end;
	const char *at;
	const char *msg;
} jcheck;

static const char *fail(jcheck *c, const char *at, const char *msg)
{
	c->at = at;
	c->msg = msg;
	return NULL;
}

/* A string literal at p (p[0] == '"'): returns the byte after it. */
static const char *check_str(jcheck *c, const char *p)
{
	const char *end = c->end;
	p++;
	for (;;) {
		if (p >= end)
			return fail(c, p, "unterminated string");
		unsigned char ch = (unsigned char)*p;
		if (ch == '"')
			return p + 1;
		if (ch < 0x20)
			return fail(c, p, "control character in string");
		if (ch == '\\') {
			if (p + 1 >= end)
				return fail(c, p, "unterminated string");
			switch (p[1]) {
			case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
				p += 2;
				break;
			case 'u':
				if (end - p < 6 || coco_hexval((unsigned char)p[2]) < 0 || coco_hexval((unsigned char)p[3]) < 0 ||
				    coco_hexval((unsigned char)p[4]) < 0 || coco_hexval((unsigned char)p[5]) < 0)
					return fail(c, p, "invalid \\u escape");
				p += 6;
				break;
			default:
				return fail(c, p, "invalid escape");
			}
			continue;
		}
		p++;
	}
}

static const char *check_num(jcheck *c, const char *p)
{
	const char *end = c->end;
	if (p < end && *p == '-')
		p++;
	if (p >= end || *p < '0' || *p > '9')
		return fail(c, p, "invalid number");
	if (*p == '0')
		p++;
	else
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	if (p < end && *p == '.') {
		p++;
		if (p >= end || *p < '0' || *p > '9')
			return fail(c, p, "invalid number");
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return fail(c, p, "invalid number");
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	return p;
}

/* After a member or an element of an object or array closed by `close`:
 * past the ',' before the next one (*more = 1) or past `close` (*more =
 * 0); else NULL with the error. */
static const char *check_sep(jcheck *c, const char *p, char close, int *more)
{
	p = skip_ws(p, c->end);
	if (p < c->end && (*p == ',' || *p == close)) {
		*more = *p == ',';
		return p + 1;
	}
	return fail(c, p, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

static const char *check_value(jcheck *c, const char *p, int depth)
{
	const char *end = c->end;
	p = skip_ws(p, end);
	if (p >= end)
		return fail(c, p, "expected a value");
	if (depth > MAX_DEPTH)
		return fail(c, p, "nested too deep");
	switch (*p) {
	case '"':
		return check_str(c, p);
	case '{':
		p = skip_ws(p + 1, end);
		if (p < end && *p == '}')
			return p + 1;
		for (int more = 1; more;) {
			p = skip_ws(p, end);
			if (p >= end || *p != '"')
				return fail(c, p, "expected a string key");
			if (!(p = check_str(c, p)))
				return NULL;
			p = skip_ws(p, end);
			if (p >= end || *p != ':')
				return fail(c, p, "expected ':'");
			if (!(p = check_value(c, p + 1, depth + 1)) || !(p = check_sep(c, p, '}', &more)))
				return NULL;
		}
		return p;
	case '[':
		p = skip_ws(p + 1, end);
		if (p < end && *p == ']')
			return p + 1;
		for (int more = 1; more;)
			if (!(p = check_value(c, p, depth + 1)) || !(p = check_sep(c, p, ']', &more)))
				return NULL;
		return p;
	case 't':
		if (end - p >= 4 && !memcmp(p, "true", 4))
			return p + 4;
		break;
	case 'f':
		if (end - p >= 5 && !memcmp(p, "false", 5))
			return p + 5;
		break;
	case 'n':
		if (end - p >= 4 && !memcmp(p, "null", 4))
			return p + 4;
		break;
	default:
		if (*p == '-' || (*p >= '0' && *p <= '9'))
			return check_num(c, p);
	}
	return fail(c, p, "expected a value");
}

int coco_json_check(const char *s, size_t n, size_t *err_at, const char **err_msg)
{
	jcheck c = { s, s + n, NULL, NULL };
	const char *p = check_value(&c, s, 0);
	if (p) {
		p = skip_ws(p, s + n);
		if (p < s + n)
			fail(&c, p, "unexpected text after the value");
		else
			return 0;
	}
	if (err_at)
		*err_at = (size_t)(c.at - s);
	if (err_msg)
		*err_msg = c.msg;
	return -1;
}

void coco_json_trim(const char **s, size_t *n)
{
	const char *p = *s, *end = *s + *n;
	p = skip_ws(p, end);
	while (end > p && is_jws((unsigned char)end[-1]))
		end--;
	*s = p;
	*n = (size_t)(end - p);
}

/* End of the value at p, assuming checked text (no validation beyond
 * finding the matching bracket); NULL if the text runs out. */
static const char *value_end(const char *p, const char *end)
{
	p = skip_ws(p, end);
	if (p >= end)
		return NULL;
	if (*p == '"') {
		p++;
		while (p < end && *p != '"')
			p += *p == '\\' ? 2 : 1;
		return p < end ? p + 1 : NULL;
	}
	if (*p == '{' || *p == '[') {
		int depth = 0;
		while (p < end) {
			char ch = *p;
			if (ch == '"') {
				p++;
				while (p < end && *p != '"')
					p += *p == '\\' ? 2 : 1;
				if (p >= end)
					return NULL;
			} else if (ch == '{' || ch == '[') {
				depth++;
			} else if (ch == '}' || ch == ']') {
				if (--depth == 0)
					return p + 1;
			}
			p++;
		}
		return NULL;
	}
	while (p < end && *p != ',' && *p != '}' && *p != ']' && !is_jws((unsigned char)*p))
		p++;
	return p;
}

int coco_json_iter_init(coco_json_iter *it, const char *s, size_t n)
{
	const char *end = s + n, *p = skip_ws(s, end);
	memset(it, 0, sizeof *it);
	if (p >= end || (*p != '[' && *p != '{'))
		return 0;
	it->close = *p == '[' ? ']' : '}';
	it->p = p + 1;
	it->end = end;
	it->first = 1;
	return *p;
}

int coco_json_iter_next(coco_json_iter *it, const char **key, size_t *nkey,
	const char **val, size_t *nval)
{
	if (!it->p)
		return 0;
	const char *p = skip_ws(it->p, it->end);
	if (p >= it->end || *p == it->close) {
		it->p = NULL;
		return 0;
	}
	if (!it->first) {
		if (*p != ',') {
			it->p = NULL;
			return 0;
		}
		p = skip_ws(p + 1, it->end);
	}
	it->first = 0;
	if (key)
		*key = NULL, *nkey = 0;
	if (it->close == '}') {
		const char *ke = value_end(p, it->end);
		if (!ke || *p != '"') {
			it->p = NULL;
			return 0;
		}
		if (key)
			*key = p, *nkey = (size_t)(ke - p);
		p = skip_ws(ke, it->end);
		if (p >= it->end || *p != ':') {
			it->p = NULL;
			return 0;
		}
		p = skip_ws(p + 1, it->end);
	}
	const char *ve = value_end(p, it->end);
	if (!ve) {
		it->p = NULL;
		return 0;
	}
	*val = p;
	*nval = (size_t)(ve - p);
	it->p = ve;
	return 1;
}

static void put_utf8(coco_buf *out, unsigned cp)
{
	char b[4];
	if (cp < 0x80) {
		b[0] = (char)cp;
		coco_buf_add(out, b, 1);
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3F));
		coco_buf_add(out, b, 2);
	} else if (cp < 0x10000) {
		b[0] = (char)(0xE0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F));
		coco_buf_add(out, b, 3);
	} else {
		b[0] = (char)(0xF0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (char)(0x80 | (cp & 0x3F));
		coco_buf_add(out, b, 4);
	}
}

static unsigned hex4(const char *p)
{
	return (unsigned)(coco_hexval((unsigned char)p[0]) << 12 | coco_hexval((unsigned char)p[1]) << 8 |
		coco_hexval((unsigned char)p[2]) << 4 | coco_hexval((unsigned char)p[3]));
}

int coco_json_str_decode(const char *lit, size_t n, coco_buf *out)
{
	if (n < 2 || lit[0] != '"' || lit[n - 1] != '"')
		return -1;
	const char *p = lit + 1, *end = lit + n - 1;
	coco_buf_reserve(out, n);
	while (p < end) {
		const char *bs = memchr(p, '\\', (size_t)(end - p));
		if (!bs) {
			coco_buf_add(out, p, (size_t)(end - p));
			break;
		}
		coco_buf_add(out, p, (size_t)(bs - p));
		p = bs + 1;
		if (p >= end)
			return -1;
		char ch = *p++;
		switch (ch) {
		case 'b': coco_buf_putc(out, '\b'); break;
		case 'f': coco_buf_putc(out, '\f'); break;
		case 'n': coco_buf_putc(out, '\n'); break;
		case 'r': coco_buf_putc(out, '\r'); break;
		case 't': coco_buf_putc(out, '\t'); break;
		case 'u': {
			if (end - p < 4)
				return -1;
			unsigned cp = hex4(p);
			p += 4;
			if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
				unsigned lo = hex4(p + 2);
				if (lo >= 0xDC00 && lo <= 0xDFFF) {
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					p += 6;
				}
			}
			put_utf8(out, cp);
			break;
		}
		default: coco_buf_putc(out, ch); break;
		}
	}
	return 0;
}

int coco_json_key_eq(const char *lit, size_t n, const char *name, size_t nname)
{
	if (n < 2)
		return 0;
	if (!memchr(lit, '\\', n))
		return n - 2 == nname && !memcmp(lit + 1, name, nname);
	coco_buf b = { 0 };
	int eq = coco_json_str_decode(lit, n, &b) == 0 && b.n == nname && !memcmp(b.p, name, nname);
	coco_buf_free(&b);
	return eq;
}

int coco_json_get(const char *s, size_t n, const char *name, size_t nname,
	const char **val, size_t *nval)
{
	coco_json_iter it;
	int kind = coco_json_iter_init(&it, s, n);
	const char *k, *v;
	size_t nk, nv;
	if (kind == '{') {
		int found = 0;
		/* the last of duplicate keys wins, as in most parsers */
		while (coco_json_iter_next(&it, &k, &nk, &v, &nv))
			if (coco_json_key_eq(k, nk, name, nname)) {
				*val = v;
				*nval = nv;
				found = 1;
			}
		return found;
	}
	if (kind == '[') {
		size_t idx = 0;
		if (!nname || nname > 18)
			return 0;
		for (size_t i = 0; i < nname; i++) {
			if (name[i] < '0' || name[i] > '9')
				return 0;
			idx = idx * 10 + (size_t)(name[i] - '0');
		}
		if (idx == 0)
			return 0;
		while (coco_json_iter_next(&it, &k, &nk, &v, &nv))
			if (--idx == 0) {
				*val = v;
				*nval = nv;
				return 1;
			}
	}
	return 0;
}

int coco_json_get_str(const char *s, size_t n, const char *name, coco_buf *out)
{
	const char *v;
	size_t nv;
	coco_buf_clear(out);
	if (!coco_json_get(s, n, name, strlen(name), &v, &nv))
		return -1;
	return coco_json_str_decode(v, nv, out);
}

long coco_json_uint(const char *s, size_t n)
{
	if (!n || n > 9)
		return -1;
	long x = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		x = x * 10 + (s[i] - '0');
	}
	return x;
}

int coco_json_num(const char *s, size_t n, double *out)
{
	char tmp[64];
	if (!n || n >= sizeof tmp)
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = 0;
	char *end;
	*out = strtod(tmp, &end);
	return end == tmp + n && (tmp[0] == '-' || (tmp[0] >= '0' && tmp[0] <= '9')) ? 0 : -1;
}
