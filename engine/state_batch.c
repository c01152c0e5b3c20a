/* Batches of the state store (state.h): puts and deletes recorded as
 * [hdr][key][value] records in one buffer, whatever the store; the store
 * reads them back with coco_batch_next() when coco_state_write applies
 * the batch. */
#include "engine/state.h"
#include "engine/sys.h"

#include <stdlib.h>
#include <string.h>

struct op_hdr {
	unsigned char del, cf;
	size_t kn, vn;
};

struct coco_batch {
	coco_buf ops;
	size_t count;
};

/* Apply b atomically through the store's ops (state.h). */
int coco_state_write(coco_state *s, coco_batch *b, int sync, char **err)
{
	return s->ops->write(s, b, sync, err);
}

/* An empty batch; free with coco_batch_destroy(). */
coco_batch *coco_batch_create(void)
{
	coco_batch *b = coco_xcalloc(1, sizeof *b);
	return b;
}

static void batch_op(coco_batch *b, int del, coco_cf cf, const void *k, size_t kn,
		     const void *v, size_t vn)
{
	struct op_hdr h = { .del = (unsigned char)del, .cf = (unsigned char)cf, .kn = kn, .vn = vn };
	coco_buf_reserve(&b->ops, sizeof h + kn + vn);
	coco_buf_add(&b->ops, &h, sizeof h);
	coco_buf_add(&b->ops, k, kn);
	coco_buf_add(&b->ops, v, vn);
	b->count++;
}

/* Record a put of k -> v in cf (both copied). */
void coco_batch_put(coco_batch *b, coco_cf cf, const void *k, size_t kn, const void *v, size_t vn)
{
	batch_op(b, 0, cf, k, kn, v, vn);
}

/* Record a delete of k in cf (copied). */
void coco_batch_del(coco_batch *b, coco_cf cf, const void *k, size_t kn)
{
	batch_op(b, 1, cf, k, kn, NULL, 0);
}

/* Number of operations recorded since create/clear. */
size_t coco_batch_count(const coco_batch *b) { return b->count; }

/* The operation at *pos, moving *pos past it: 1, or 0 after the last. */
int coco_batch_next(const coco_batch *b, size_t *pos, coco_batch_op *op)
{
	if (*pos >= b->ops.n)
		return 0;
	const char *p = b->ops.p + *pos;
	struct op_hdr h;
	memcpy(&h, p, sizeof h);
	op->del = h.del;
	op->cf = (coco_cf)h.cf;
	op->k = p + sizeof h;
	op->kn = h.kn;
	op->v = h.del ? NULL : op->k + h.kn;
	op->vn = h.vn;
	*pos += sizeof h + h.kn + h.vn;
	return 1;
}

/* Forget all operations, keeping the memory (up to 1 MB: the batch of a
 * large row is given back). */
void coco_batch_clear(coco_batch *b)
{
	if (b->ops.cap > (1u << 20))
		coco_buf_free(&b->ops);
	coco_buf_clear(&b->ops);
	b->count = 0;
}

/* Free a batch (NULL is fine). */
void coco_batch_destroy(coco_batch *b)
{
	if (!b)
		return;
	coco_buf_free(&b->ops);
	free(b);
}
