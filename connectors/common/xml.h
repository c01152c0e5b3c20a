#pragma once
/* The small XML documents of storage APIs (S3's ListObjectsV2 and <Error>,
 * Azure's List Blobs and <Error>), read with expat, a streaming parser.
 * Elements are matched by local name whatever their namespace (AWS, s3rver
 * and Azurite each say another, some say none); a handler sees each element
 * start (with its attributes) and end (with its text), and the path from
 * the root as indices into the caller's list of names.
 *
 *   enum { E_ERROR, E_CODE };
 *   static const char *const names[] = { "Error", "Code", NULL };
 *   coco_xml_parse(doc, n, &(coco_xml_handler){ .names = names, .end = on_end,
 *       .ud = st }, &err);
 *   // in on_end: if (x->depth == 2 && coco_xml_at(x, 1, E_ERROR) && coco_xml_at(x, 2, E_CODE)) ...
 */
#include <stddef.h>

#define COCO_XML_DEPTH 16            /* deeper elements are seen as unknown */

typedef struct coco_xml {
	int depth;                       /* of the element: 1 is the root */
	int path[COCO_XML_DEPTH];        /* index in names of each element on the path, -1: other */
	const char *text;                /* end: the element's character data (NUL-terminated) */
	size_t n;
	const char **attrs;              /* start: name, value, ..., NULL (local names) */
} coco_xml;

typedef struct coco_xml_handler {
	const char *const *names;        /* the element names that matter, NULL-terminated */
	void (*start)(void *ud, const coco_xml *x);   /* may be NULL */
	void (*end)(void *ud, const coco_xml *x);     /* may be NULL */
	void *ud;
	int root;                        /* index of the root element the document must have */
} coco_xml_handler;

/* 1 when the element at depth d (1-based) on x's path is names[i]. */
static inline int coco_xml_at(const coco_xml *x, int d, int i)
{
	return d >= 1 && d <= x->depth && d <= COCO_XML_DEPTH && x->path[d - 1] == i;
}

/* Parse doc (n bytes) through h. 0, or -1 with *err (err may be NULL):
 *   "malformed XML (mismatched tag at line 3)"
 *   "unexpected XML document (not a ListBucketResult)" */
int coco_xml_parse(const char *doc, size_t n, const coco_xml_handler *h, char **err);

/* The text of the children of root element `root` named fields[i] into
 * out[i] (cap[i] bytes, NUL-terminated, cut to fit; "" when absent), for
 * error documents. 0 if doc is such an element, -1 otherwise. */
int coco_xml_fields(const char *doc, size_t n, const char *root, const char *const *fields,
	char *const *out, const size_t *cap);
