/* The object-store sources' common ground: see objstore.h. */
#include <stdio.h>
#include <string.h>

#include "connectors/common/objstore.h"
#include "engine/text.h"

int coco_obj_wanted(const coco_objsel *sel, const char *key, size_t n)
{
	if (!n || key[n - 1] == '/' || n < sel->nprefix || memcmp(key, sel->prefix, sel->nprefix))
		return 0;
	return coco_globsel_wanted(&sel->g, key, n);
}

enum { O_PREFIX, O_INCLUDED, O_EXCLUDED, O_BINARY, O_MAX_SIZE };

int coco_obj_opts(const coco_optval *o, const coco_optval *dec, const char *src, coco_arena *a,
	coco_objopts *out, char **err)
{
	const coco_optval *max = &o[O_MAX_SIZE];
	if (max->set && max->i < 0)
		return coco_seterr(err, "%s: max_file_size must be >= 0 (got %lld)", src, (long long)max->i);
	if (coco_globsel_opts(&o[O_INCLUDED], &o[O_EXCLUDED], src, a, out ? &out->sel.g : NULL, err) ||
	    coco_text_errors_opt(dec, src, out ? &out->strict : NULL, err))
		return -1;
	if (out) {
		const char *p = o[O_PREFIX].set && o[O_PREFIX].s ? o[O_PREFIX].s : "";
		out->sel.prefix = coco_arena_strdup(a, p);
		out->sel.nprefix = strlen(p);
		out->binary = o[O_BINARY].set && o[O_BINARY].b;
		out->max_size = max->set ? max->i : -1;
	}
	return 0;
}

const coco_type *coco_obj_row_type(const coco_optval *o, coco_arena *types)
{
	int binary = o[O_BINARY].set && o[O_BINARY].b;
	coco_field f[2] = {
		{ "filename", &coco_t_str },
		{ "content", binary ? &coco_t_bytes : &coco_t_str },
	};
	return coco_type_table(types, f, 2, 1);
}

int coco_obj_mode(const coco_objopts *o)
{
	return o->binary ? COCO_OBJ_BYTES : o->strict ? COCO_OBJ_TEXT_STRICT : COCO_OBJ_TEXT;
}

void coco_obj_ordinal(coco_buf *out, int64_t mtime, const char *etag, size_t n)
{
	unsigned char le[8];
	for (int i = 0; i < 8; i++)
		le[i] = (unsigned char)((uint64_t)mtime >> (8 * i));
	coco_buf_add(out, le, 8);
	coco_buf_add(out, etag, n);
}

int coco_obj_row(const coco_http_resp *r, const char *where, const char *key, size_t n,
	int mode, coco_arena *a, coco_value *row, coco_buf *ord, char **err)
{
	size_t ne = 0, nd = 0;
	const char *etag = coco_http_header(r, "etag", &ne);
	const char *date = coco_http_header(r, "last-modified", &nd);
	if (etag && ne >= 2 && etag[0] == '"' && etag[ne - 1] == '"')
		etag++, ne -= 2;
	long long mtime = date ? coco_http_parse_date(date, nd) : -1;
	coco_buf_clear(ord);
	if (etag && mtime >= 0)
		coco_obj_ordinal(ord, mtime, etag, ne);
	coco_value *f = coco_arena_alloc(a, 2 * sizeof *f);
	coco_buf what = {0};
	int rc = coco_text_content(r->body.p ? r->body.p : "", r->body.n, mode == COCO_OBJ_BYTES,
		mode == COCO_OBJ_TEXT_STRICT, a, &f[1], &what);
	if (rc)                               /* 2, replaced: a warning, the row goes on */
		coco_seterr(err, "%s%.*s: %s", where, (int)n, key, what.p);
	coco_buf_free(&what);
	if (rc < 0) {
		coco_buf_clear(ord);
		return -1;
	}
	f[0] = coco_v_str(coco_arena_strndup(a, key, n), n);
	f[1].u.s = coco_arena_strndup(a, f[1].u.s, f[1].n);   /* off the response's body */
	*row = coco_v_struct(f, 2);
	return rc;
}

int coco_obj_read(const coco_objread *o, coco_prefetch *pf, coco_http *h, const coco_value *key,
	coco_arena *a, coco_value *row, coco_buf *ord, char **err)
{
	coco_buf_clear(ord);
	if (!key || key->kind != COCO_STR)
		return coco_seterr(err, "%s: the row key must be a str (filename)", o->name);
	const char *k = key->u.s;
	size_t n = key->n;
	coco_http_xfer *x = coco_prefetch_fetch(pf, k, n);
	if (!x)
		return 1;
	coco_http_resp *r = coco_http_resp_of(x);
	int rc;
	if (r->too_large || (!r->error && r->status == 200 && o->max_size >= 0 &&
	    (int64_t)r->body.n > o->max_size)) {
		(*o->skipped)++;
		rc = 1;
	} else if (!r->error && r->status == 404) {
		rc = 1;
	} else if (r->error || r->status != 200) {
		rc = o->fail(o->ud, k, n, r, err);
	} else {
		rc = coco_obj_row(r, o->where, k, n, o->mode, a, row, ord, err);
	}
	coco_http_release(h, x);
	return rc;
}

void coco_obj_note_large(const char *src, const char *noun, uint64_t large, uint64_t *reported,
	int64_t max_size)
{
	if (large && large != *reported)
		fprintf(stderr, "coco: %s: %llu %s%s over max_file_size (%lld bytes) skipped\n", src,
			(unsigned long long)large, noun, large == 1 ? "" : "s", (long long)max_size);
	*reported = large;
}
