/* ListObjectsV2 and <Error> documents, read with the storage APIs' XML
 * reader (connectors/common/xml.c: expat, elements matched by local name).
 * AWS says http://s3.amazonaws.com/doc/2006-03-01/, s3rver says
 * http://doc.s3.amazonaws.com/2006-03-01/, others say nothing. */
#include <stdlib.h>
#include <string.h>

#include "connectors/s3/s3_int.h"
#include "connectors/common/xml.h"

enum { E_RESULT, E_CONTENTS, E_KEY, E_MODIFIED, E_ETAG, E_SIZE, E_CLASS, E_TRUNCATED, E_NEXT,
	E_ENCODING };
static const char *const names[] = { "ListBucketResult", "Contents", "Key", "LastModified",
	"ETag", "Size", "StorageClass", "IsTruncated", "NextContinuationToken", "EncodingType", NULL };

typedef struct list_st {
	coco_arena *a;
	s3_page *page;
	s3_obj cur;
} list_st;

static void on_start(void *ud, const coco_xml *x)
{
	list_st *st = ud;
	if (x->depth == 2 && coco_xml_at(x, 2, E_CONTENTS)) {
		memset(&st->cur, 0, sizeof st->cur);
		st->cur.storage_class = "";
		st->cur.mtime = -1;
	}
}

static void on_end(void *ud, const coco_xml *x)
{
	list_st *st = ud;
	s3_page *pg = st->page;
	const char *t = x->text;
	size_t n = x->n;
	if (x->depth == 3 && coco_xml_at(x, 2, E_CONTENTS)) {
		switch (x->path[2]) {
		case E_KEY:
			st->cur.key = coco_arena_strndup(st->a, t, n);
			st->cur.nkey = n;
			break;
		case E_MODIFIED:
			st->cur.mtime = s3_parse_iso8601(t, n);
			break;
		case E_ETAG:
			if (n >= 2 && t[0] == '"' && t[n - 1] == '"')
				t++, n -= 2;
			st->cur.etag = coco_arena_strndup(st->a, t, n);
			st->cur.netag = n;
			break;
		case E_SIZE:
			st->cur.size = strtoll(t, NULL, 10);
			break;
		case E_CLASS:
			st->cur.storage_class = coco_arena_strndup(st->a, t, n);
			break;
		}
	} else if (x->depth == 2) {
		switch (x->path[1]) {
		case E_CONTENTS:
			if (st->cur.key) {
				pg->objs = coco_arena_grow(st->a, pg->objs, pg->n, &pg->cap, sizeof *pg->objs);
				if (!st->cur.etag)
					st->cur.etag = "";
				pg->objs[pg->n++] = st->cur;
			}
			break;
		case E_TRUNCATED:
			pg->truncated = n == 4 && !memcmp(t, "true", 4);
			break;
		case E_NEXT:
			pg->next_token = coco_arena_strndup(st->a, t, n);
			break;
		case E_ENCODING:
			pg->url_encoded = n == 3 && !memcmp(t, "url", 3);
			break;
		}
	}
}

int s3_parse_list(const char *xml, size_t n, coco_arena *a, s3_page *page, char **err)
{
	memset(page, 0, sizeof *page);
	list_st st = { .a = a, .page = page };
	if (n > (size_t)1 << 30)
		return coco_seterr(err, "listing page too large");
	return coco_xml_parse(xml, n, &(coco_xml_handler){ .names = names, .start = on_start,
		.end = on_end, .ud = &st, .root = E_RESULT }, err);
}

int s3_parse_error(const char *xml, size_t n, s3_error *e)
{
	static const char *const fields[] = { "Code", "Message", "Region", "Endpoint", NULL };
	char *const out[] = { e->code, e->message, e->region, e->endpoint };
	const size_t cap[] = { sizeof e->code, sizeof e->message, sizeof e->region, sizeof e->endpoint };
	memset(e, 0, sizeof *e);
	if (coco_xml_fields(xml, n, "Error", fields, out, cap) || !e->code[0]) {
		memset(e, 0, sizeof *e);
		return -1;
	}
	return 0;
}
