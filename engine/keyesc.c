/* Reversible escape of names that are not UTF-8. See keyesc.h. */
#include <string.h>

#include "engine/keyesc.h"

int coco_key_needs_escape(const char *name, size_t n)
{
	return memchr(name, '\\', n) || coco_utf8_check(name, n) != n;
}

void coco_key_escape(const char *name, size_t n, coco_buf *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0;
	while (i < n) {
		size_t ok = coco_utf8_check(name + i, n - i);   /* the valid run */
		for (size_t j = i; j < i + ok; j++) {
			if (name[j] == '\\')
				coco_buf_putc(out, '\\');
			coco_buf_putc(out, name[j]);
		}
		i += ok;
		if (i < n) {                      /* one invalid byte */
			unsigned char c = (unsigned char)name[i++];
			char e[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
			coco_buf_add(out, e, 4);
		}
	}
	if (!out->p)
		coco_buf_adds(out, "");
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int coco_key_unescape(const char *key, size_t n, coco_buf *out)
{
	size_t start = out->n;
	for (size_t i = 0; i < n; i++) {
		if (key[i] != '\\') {
			coco_buf_putc(out, key[i]);
			continue;
		}
		if (i + 1 < n && key[i + 1] == '\\') {
			coco_buf_putc(out, '\\');
			i++;
		} else if (i + 3 < n && key[i + 1] == 'x' && hexval(key[i + 2]) >= 0 &&
			   hexval(key[i + 3]) >= 0) {
			coco_buf_putc(out, (char)(hexval(key[i + 2]) << 4 | hexval(key[i + 3])));
			i += 3;
		} else {
			return -1;
		}
	}
	if (!out->p)
		coco_buf_adds(out, "");
	/* one name, one key: a \xHH that stands for valid UTF-8 is no key of ours */
	coco_buf k = {0};
	coco_key_escape(out->p + start, out->n - start, &k);
	int same = k.n == n && !memcmp(k.p, key, n);
	coco_buf_free(&k);
	return same ? 0 : -1;
}
