/* The indexer's state records. See records_int.h. */
#include "engine/records_int.h"

#include <string.h>

static void put_fp(coco_buf *b, coco_fp fp)
{
	coco_buf_u64(b, fp.lo);
	coco_buf_u64(b, fp.hi);
}

static int get_fp(coco_rd *r, coco_fp *fp)
{
	return coco_rd_u64(r, &fp->lo) || coco_rd_u64(r, &fp->hi) ? -1 : 0;
}

static void put_bytes(coco_buf *b, const void *p, size_t n)
{
	coco_buf_varint(b, n);
	coco_buf_add(b, p, n);
}

static int get_bytes(coco_rd *r, const char **p, size_t *n)
{
	uint64_t len;
	if (coco_rd_varint(r, &len) || coco_rd_bytes(r, (size_t)len, p))
		return -1;
	*n = (size_t)len;
	return 0;
}

void trk_encode(const trk *t, coco_buf *b)
{
	coco_buf_clear(b);
	coco_buf_putc(b, (char)t->flags);
	put_bytes(b, t->ord, t->nord);
	put_fp(b, t->content);
	put_fp(b, t->logic);
}

int trk_decode(const char *p, size_t n, trk *t)
{
	coco_rd r = { (const unsigned char *)p, (const unsigned char *)p + n };
	const char *f;
	if (coco_rd_bytes(&r, 1, &f))
		return -1;
	t->flags = (unsigned char)*f;
	if (get_bytes(&r, &t->ord, &t->nord) || get_fp(&r, &t->content) || get_fp(&r, &t->logic))
		return -1;
	return 0;
}

void lin_push(coco_arena *a, lineage *l, const lkey *k)
{
	l->k = coco_arena_regrow(a, l->k, l->n, &l->cap, sizeof *l->k);
	l->k[l->n++] = *k;
}

int lin_decode(const char *p, size_t n, coco_arena *a, lineage *l)
{
	coco_rd r = { (const unsigned char *)p, (const unsigned char *)p + n };
	memset(l, 0, sizeof *l);
	uint64_t ne, nr;
	if (coco_rd_varint(&r, &ne))
		return -1;
	for (uint64_t e = 0; e < ne; e++) {
		lkey k = {0};
		if (get_bytes(&r, &k.exp, &k.nexp) || coco_rd_varint(&r, &nr))
			return -1;
		for (uint64_t i = 0; i < nr; i++) {
			if (get_bytes(&r, &k.key, &k.nkey) || get_fp(&r, &k.fp))
				return -1;
			lin_push(a, l, &k);
		}
	}
	if (coco_rd_varint(&r, &nr))
		return -1;
	for (uint64_t i = 0; i < nr; i++) {
		lkey k = { .staged = 1 };
		if (get_bytes(&r, &k.exp, &k.nexp) || get_bytes(&r, &k.key, &k.nkey))
			return -1;
		lin_push(a, l, &k);
	}
	if (r.p < r.end) {            /* the memo keys (absent in old records) */
		if (coco_rd_varint(&r, &nr) || nr > (uint64_t)(r.end - r.p) / 32 ||
		    coco_rd_bytes(&r, (size_t)nr * 32, &l->memo))
			return -1;
		l->nmemo = (size_t)nr;
	}
	return 0;
}

/* Encodes committed keys grouped by export (keys must be grouped already),
 * then the staged ones. */
void lin_encode(const lineage *l, coco_buf *b)
{
	coco_buf_clear(b);
	size_t ngroups = 0;
	for (size_t i = 0; i < l->n; i++)
		if (!l->k[i].staged && (i == 0 || l->k[i - 1].staged || l->k[i].exp != l->k[i - 1].exp))
			ngroups++;
	coco_buf_varint(b, ngroups);
	for (size_t i = 0; i < l->n;) {
		if (l->k[i].staged) {
			i++;
			continue;
		}
		size_t j = i;
		while (j < l->n && !l->k[j].staged && l->k[j].exp == l->k[i].exp)
			j++;
		put_bytes(b, l->k[i].exp, l->k[i].nexp);
		coco_buf_varint(b, j - i);
		for (size_t k = i; k < j; k++) {
			put_bytes(b, l->k[k].key, l->k[k].nkey);
			put_fp(b, l->k[k].fp);
		}
		i = j;
	}
	size_t ns = 0;
	for (size_t i = 0; i < l->n; i++)
		ns += l->k[i].staged;
	coco_buf_varint(b, ns);
	for (size_t i = 0; i < l->n; i++) {
		if (!l->k[i].staged)
			continue;
		put_bytes(b, l->k[i].exp, l->k[i].nexp);
		put_bytes(b, l->k[i].key, l->k[i].nkey);
	}
	coco_buf_varint(b, l->nmemo);
	coco_buf_add(b, l->memo, l->nmemo * 32);
}

void row_key(coco_buf *b, const char *src, const char *key, size_t nkey)
{
	coco_buf_clear(b);
	coco_buf_add(b, src, strlen(src) + 1);
	coco_buf_add(b, key, nkey);
}

coco_iter *row_iter(coco_state *st, const coco_snapshot *sn, coco_cf cf, const char *src,
	size_t *plen)
{
	*plen = strlen(src) + 1;
	return coco_state_iter_at(st, sn, cf, src, *plen);
}

int row_get(coco_state *st, coco_cf cf, const char *src, const char *key, size_t nkey,
	coco_buf *kb, coco_buf *out, char **err)
{
	row_key(kb, src, key, nkey);
	return coco_state_get(st, cf, kb->p, kb->n, out, err);
}
