/* ListObjectsV2 and <Error> documents, parsed with expat (a streaming
 * parser). Namespace processing is on and elements are matched by local
 * name only: AWS says http://s3.amazonaws.com/doc/2006-03-01/, s3rver says
 * http://doc.s3.amazonaws.com/2006-03-01/, others say nothing. */
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "s3_int.h"

#define NS_SEP '\x01'
#define MAX_DEPTH 16

typedef struct xp {
	XML_Parser p;
	int depth;
	const char *path[MAX_DEPTH];  /* local names, static strings or "" */
	coco_buf text;                /* character data of the current element */
	int bad_root;
	/* list */
	coco_arena *a;
	s3_page *page;
	s3_obj cur;
	/* error */
	s3_error *e;
} xp;

static const char *local_name(const char *name)
{
	const char *s = strrchr(name, NS_SEP);
	return s ? s + 1 : name;
}

/* The names we care about, as static strings (so path[] needs no copies). */
static const char *intern(const char *n)
{
	static const char *const names[] = { "ListBucketResult", "Contents", "Key", "LastModified",
		"ETag", "Size", "StorageClass", "IsTruncated", "NextContinuationToken", "EncodingType",
		"Error", "Code", "Message", "Region", "Endpoint", NULL };
	for (int i = 0; names[i]; i++)
		if (!strcmp(n, names[i]))
			return names[i];
	return "";
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	xp *x = ud;
	const char *n = intern(local_name(name));
	if (x->depth < MAX_DEPTH)
		x->path[x->depth] = n;
	x->depth++;
	coco_buf_clear(&x->text);
	if (x->page && x->depth == 2 && !strcmp(n, "Contents")) {
		memset(&x->cur, 0, sizeof x->cur);
		x->cur.storage_class = "";
		x->cur.mtime = -1;
	}
	(void)attrs;
}

static int is(const xp *x, int depth, const char *name)
{
	return depth <= MAX_DEPTH && x->path[depth - 1] == name;
}

static const char *text_dup(xp *x)
{
	return coco_arena_strndup(x->a, x->text.p ? x->text.p : "", x->text.n);
}

static void on_end_list(xp *x)
{
	s3_page *pg = x->page;
	const char *t = x->text.p ? x->text.p : "";
	size_t n = x->text.n;
	if (x->depth == 3 && is(x, 2, "Contents")) {
		if (is(x, 3, "Key")) {
			x->cur.key = text_dup(x);
			x->cur.nkey = n;
		} else if (is(x, 3, "LastModified")) {
			x->cur.mtime = s3_parse_iso8601(t, n);
		} else if (is(x, 3, "ETag")) {
			if (n >= 2 && t[0] == '"' && t[n - 1] == '"')
				t++, n -= 2;
			x->cur.etag = coco_arena_strndup(x->a, t, n);
			x->cur.netag = n;
		} else if (is(x, 3, "Size")) {
			x->cur.size = strtoll(t, NULL, 10);
		} else if (is(x, 3, "StorageClass")) {
			x->cur.storage_class = text_dup(x);
		}
	} else if (x->depth == 2) {
		if (is(x, 2, "Contents")) {
			if (x->cur.key) {
				pg->objs = coco_arena_grow(x->a, pg->objs, pg->n, &pg->cap, sizeof *pg->objs);
				if (!x->cur.etag)
					x->cur.etag = "";
				pg->objs[pg->n++] = x->cur;
			}
		} else if (is(x, 2, "IsTruncated")) {
			pg->truncated = n == 4 && !memcmp(t, "true", 4);
		} else if (is(x, 2, "NextContinuationToken")) {
			pg->next_token = text_dup(x);
		} else if (is(x, 2, "EncodingType")) {
			pg->url_encoded = n == 3 && !memcmp(t, "url", 3);
		}
	}
}

static void copy_field(char *dst, size_t cap, const coco_buf *b)
{
	size_t n = b->n < cap - 1 ? b->n : cap - 1;
	if (n)
		memcpy(dst, b->p, n);
	dst[n] = 0;
}

static void on_end(void *ud, const XML_Char *name)
{
	xp *x = ud;
	(void)name;
	if (x->depth == 1 && !is(x, 1, x->page ? "ListBucketResult" : "Error"))
		x->bad_root = 1;
	else if (x->page && is(x, 1, "ListBucketResult"))
		on_end_list(x);
	else if (x->e && x->depth == 2 && is(x, 1, "Error")) {
		if (is(x, 2, "Code"))
			copy_field(x->e->code, sizeof x->e->code, &x->text);
		else if (is(x, 2, "Message"))
			copy_field(x->e->message, sizeof x->e->message, &x->text);
		else if (is(x, 2, "Region"))
			copy_field(x->e->region, sizeof x->e->region, &x->text);
		else if (is(x, 2, "Endpoint"))
			copy_field(x->e->endpoint, sizeof x->e->endpoint, &x->text);
	}
	x->depth--;
	coco_buf_clear(&x->text);
}

static void on_text(void *ud, const XML_Char *s, int len)
{
	xp *x = ud;
	if (x->text.n < (1u << 20))            /* no element of ours is that long */
		coco_buf_add(&x->text, s, (size_t)len);
}

static int parse(xp *x, const char *xml, size_t n, char **err)
{
	x->p = XML_ParserCreateNS("UTF-8", NS_SEP);
	if (!x->p)
		return coco_seterr(err, "out of memory");
	XML_SetUserData(x->p, x);
	XML_SetElementHandler(x->p, on_start, on_end);
	XML_SetCharacterDataHandler(x->p, on_text);
	int rc = 0;
	if (XML_Parse(x->p, xml, (int)n, 1) == XML_STATUS_ERROR) {
		if (err)
			coco_seterr(err, "malformed XML (%s at line %lu)",
				XML_ErrorString(XML_GetErrorCode(x->p)),
				(unsigned long)XML_GetCurrentLineNumber(x->p));
		rc = -1;
	} else if (x->bad_root) {
		if (err)
			coco_seterr(err, "unexpected XML document (not a %s)",
				x->page ? "ListBucketResult" : "Error");
		rc = -1;
	}
	XML_ParserFree(x->p);
	coco_buf_free(&x->text);
	return rc;
}

int s3_parse_list(const char *xml, size_t n, coco_arena *a, s3_page *page, char **err)
{
	memset(page, 0, sizeof *page);
	xp x = { .a = a, .page = page };
	if (n > (size_t)1 << 30)
		return coco_seterr(err, "listing page too large");
	return parse(&x, xml, n, err);
}

int s3_parse_error(const char *xml, size_t n, s3_error *e)
{
	memset(e, 0, sizeof *e);
	if (!n || n > (size_t)1 << 24)
		return -1;
	xp x = { .e = e };
	if (parse(&x, xml, n, NULL) || !e->code[0]) {
		memset(e, 0, sizeof *e);
		return -1;
	}
	return 0;
}
