/* Storage APIs' XML documents over expat: see xml.h. */
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "engine/buf.h"
#include "connectors/common/xml.h"

#define NS_SEP '\x01'
#define MAX_TEXT (1u << 20)          /* no element of these documents is that long */

typedef struct xp {
	coco_xml x;
	const coco_xml_handler *h;
	coco_buf text;                   /* character data of the current element */
	int bad_root;
} xp;

static const char *local_name(const char *name)
{
	const char *s = strrchr(name, NS_SEP);
	return s ? s + 1 : name;
}

static int lookup(const char *const *names, const char *n)
{
	for (int i = 0; names[i]; i++)
		if (!strcmp(n, names[i]))
			return i;
	return -1;
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	xp *p = ud;
	int i = lookup(p->h->names, local_name(name));
	if (p->x.depth < COCO_XML_DEPTH)
		p->x.path[p->x.depth] = i;
	p->x.depth++;
	coco_buf_clear(&p->text);
	if (p->x.depth == 1 && i != p->h->root)
		p->bad_root = 1;
	if (p->h->start && !p->bad_root) {
		p->x.attrs = attrs;
		p->h->start(p->h->ud, &p->x);
		p->x.attrs = NULL;
	}
}

static void on_end(void *ud, const XML_Char *name)
{
	xp *p = ud;
	(void)name;
	if (p->h->end && !p->bad_root) {
		p->x.text = p->text.p ? p->text.p : "";
		p->x.n = p->text.n;
		p->h->end(p->h->ud, &p->x);
	}
	p->x.depth--;
	coco_buf_clear(&p->text);
}

static void on_text(void *ud, const XML_Char *s, int len)
{
	xp *p = ud;
	if (p->text.n < MAX_TEXT)
		coco_buf_add(&p->text, s, (size_t)len);
}

int coco_xml_parse(const char *doc, size_t n, const coco_xml_handler *h, char **err)
{
	if (n > (size_t)1 << 30)
		return err ? coco_seterr(err, "XML document too large") : -1;
	xp p = { .h = h };
	XML_Parser ps = XML_ParserCreateNS("UTF-8", NS_SEP);
	if (!ps)
		return err ? coco_seterr(err, "out of memory") : -1;
	XML_SetUserData(ps, &p);
	XML_SetElementHandler(ps, on_start, on_end);
	XML_SetCharacterDataHandler(ps, on_text);
	int rc = 0;
	if (XML_Parse(ps, doc, (int)n, 1) == XML_STATUS_ERROR) {
		if (err)
			coco_seterr(err, "malformed XML (%s at line %lu)",
				XML_ErrorString(XML_GetErrorCode(ps)),
				(unsigned long)XML_GetCurrentLineNumber(ps));
		rc = -1;
	} else if (p.bad_root) {
		if (err)
			coco_seterr(err, "unexpected XML document (not a%s %s)",
				strchr("AEIOU", h->names[h->root][0]) ? "n" : "", h->names[h->root]);
		rc = -1;
	}
	XML_ParserFree(ps);
	coco_buf_free(&p.text);
	return rc;
}

typedef struct fields_st {
	char *const *out;
	const size_t *cap;
} fields_st;

static void field_end(void *ud, const coco_xml *x)
{
	fields_st *f = ud;
	if (x->depth != 2 || x->path[1] < 1)
		return;
	size_t i = (size_t)x->path[1] - 1, cap = f->cap[i];
	size_t n = x->n < cap - 1 ? x->n : cap - 1;
	memcpy(f->out[i], x->text, n);
	f->out[i][n] = 0;
}

int coco_xml_fields(const char *doc, size_t n, const char *root, const char *const *fields,
	char *const *out, const size_t *cap)
{
	const char *names[COCO_XML_DEPTH + 2];
	size_t k = 0;
	names[k++] = root;
	for (; fields[k - 1] && k < COCO_XML_DEPTH + 1; k++)
		names[k] = fields[k - 1];
	names[k] = NULL;
	for (size_t i = 0; i + 1 < k; i++)
		out[i][0] = 0;
	if (!n || n > (size_t)1 << 24)
		return -1;
	fields_st f = { out, cap };
	return coco_xml_parse(doc, n, &(coco_xml_handler){ .names = names, .end = field_end,
		.ud = &f, .root = 0 }, NULL);
}
