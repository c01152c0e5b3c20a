/* Targets' setup descriptions: parsing, lookups, the recreate reasons and
 * the column diff that the SQL targets share (see tdesc.h). */
#include <stdarg.h>
#include <string.h>

#include "engine/tdesc.h"

int coco_tdesc_tokens(coco_arena *a, const char *s, const char *e, const char **out,
	size_t max, int rest)
{
	size_t n = 0;
	while (s < e) {
		if (n == max)
			return -1;
		const char *t = s;
		int last = rest && n == max - 1;
		if (last)
			s = e;
		else
			while (s < e && *s != ' ')
				s++;
		if (s == t)
			return -1;
		out[n] = last ? coco_arena_strndup(a, t, (size_t)(s - t)) : coco_unesc(a, t, (size_t)(s - t));
		if (!out[n++])
			return -1;
		if (s < e)
			s++;
	}
	return (int)n;
}

/* A column line's rest, s..e, into c. */
static int parse_col(coco_arena *a, const char *s, const char *e, int flags, coco_tcol *c)
{
	if (flags & COCO_TDESC_SQL_REST) {
		const char *tok[3];
		if (coco_tdesc_tokens(a, s, e, tok, 3, 1) != 3)
			return -1;
		*c = (coco_tcol){ tok[0], tok[1], tok[2] };
		return 0;
	}
	/* NAME TYPE SQL: the first space ends the name, the last begins the
	 * SQL type, the coco type (spaces allowed) is between */
	const char *sp1 = memchr(s, ' ', (size_t)(e - s)), *sp2 = e;
	while (sp2 > s && sp2[-1] != ' ')
		sp2--;
	if (!sp1 || sp2 <= sp1 + 1 || sp2 == e)
		return -1;
	c->name = coco_unesc(a, s, (size_t)(sp1 - s));
	c->type = coco_unesc(a, sp1 + 1, (size_t)(sp2 - 1 - (sp1 + 1)));
	c->sql = coco_arena_strndup(a, sp2, (size_t)(e - sp2));
	return c->name && c->type && *c->name && *c->type ? 0 : -1;
}

int coco_tdesc_parse(const char *text, coco_arena *a, int flags, coco_tdesc *t,
	coco_tdesc_line_fn line, void *ctx, const char *target, char **err)
{
	memset(t, 0, sizeof *t);
	t->flags = flags;
	t->cap = 1;
	for (const char *p = text; *p; p++)
		t->cap += *p == '\n';
	t->keys = coco_arena_alloc(a, t->cap * sizeof *t->keys);
	t->cols = coco_arena_alloc(a, t->cap * sizeof *t->cols);
	int lineno = 0;
	for (const char *p = text; *p;) {
		const char *e = strchr(p, '\n');
		if (!e)
			e = p + strlen(p);
		const char *next = *e ? e + 1 : e;
		lineno++;
		if (p == e) {
			p = next;
			continue;
		}
		const char *sp = memchr(p, ' ', (size_t)(e - p));
		if (!sp)
			goto bad;
		size_t wn = (size_t)(sp - p);
		const char *rest = sp + 1;
		if (COCO_TDESC_IS(p, wn, "key")) {
			int n = coco_tdesc_tokens(a, rest, e, t->keys + t->nkeys, t->cap - t->nkeys, 0);
			if (n < 1)
				goto bad;
			t->nkeys += (size_t)n;
		} else if (COCO_TDESC_IS(p, wn, "column")) {
			if (parse_col(a, rest, e, flags, &t->cols[t->ncols]) < 0)
				goto bad;
			t->ncols++;
		} else if (line(ctx, a, p, wn, rest, e) < 0) {
			goto bad;
		}
		p = next;
	}
	return 0;
bad:
	return coco_seterr(err, "%s: malformed setup description (line %d)", target, lineno);
}

const coco_tcol *coco_tdesc_col(const coco_tdesc *t, const char *name)
{
	for (size_t i = 0; i < t->ncols; i++)
		if (!strcmp(t->cols[i].name, name))
			return &t->cols[i];
	return NULL;
}

int coco_tdesc_is_key(const coco_tdesc *t, const char *name)
{
	for (size_t i = 0; i < t->nkeys; i++)
		if (!strcmp(t->keys[i], name))
			return 1;
	return 0;
}

int coco_tdesc_same_names(const char *const *a, size_t na, const char *const *b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]))
			return 0;
	return 1;
}

void coco_tdesc_put_names(coco_buf *b, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		coco_buf_printf(b, "%s%s", i ? ", " : "", names[i]);
}

void coco_tdesc_reason(coco_buf *why, const char *fmt, ...)
{
	if (why->n)
		coco_buf_adds(why, "; ");
	va_list ap;
	va_start(ap, fmt);
	coco_buf_vprintf(why, fmt, ap);
	va_end(ap);
}

void coco_tdesc_reasons(const coco_tdesc *s, const coco_tdesc *d, coco_buf *why)
{
	if (!coco_tdesc_same_names(s->keys, s->nkeys, d->keys, d->nkeys)) {
		coco_tdesc_reason(why, "key: ");
		coco_tdesc_put_names(why, s->keys, s->nkeys);
		coco_buf_adds(why, " → ");
		coco_tdesc_put_names(why, d->keys, d->nkeys);
	}
	for (size_t i = 0; i < d->ncols; i++) {
		const coco_tcol *c = &d->cols[i], *o = coco_tdesc_col(s, c->name);
		if (!o || (!strcmp(o->type, c->type) && !strcmp(o->sql, c->sql)))
			continue;
		if (d->flags & COCO_TDESC_WHY_SQL)
			coco_tdesc_reason(why, "column %s: %s %s → %s %s", c->name, o->type, o->sql,
				c->type, c->sql);
		else
			coco_tdesc_reason(why, "column %s: %s → %s", c->name, o->type, c->type);
	}
}

void coco_tdesc_plan_create(const coco_tdesc *t, const char *schema, const char *table,
	coco_buf *plan)
{
	coco_buf_printf(plan, "create table %s%s%s (", schema ? schema : "", schema ? "." : "",
		table);
	for (size_t i = 0; i < t->ncols; i++)
		coco_buf_printf(plan, "%s %s, ", t->cols[i].name, t->cols[i].sql);
	coco_buf_adds(plan, "primary key (");
	coco_tdesc_put_names(plan, t->keys, t->nkeys);
	coco_buf_adds(plan, "))\n");
}

int coco_tdesc_plan_columns(const coco_tdesc *s, const coco_tdesc *d, coco_buf *plan)
{
	int destructive = 0;
	for (size_t i = 0; i < s->ncols; i++)
		if (!coco_tdesc_col(d, s->cols[i].name)) {
			coco_buf_printf(plan, "drop column %s\n", s->cols[i].name);
			destructive = 1;
		}
	for (size_t i = 0; i < d->ncols; i++)
		if (!coco_tdesc_col(s, d->cols[i].name))
			coco_buf_printf(plan, "add column %s %s\n", d->cols[i].name, d->cols[i].sql);
	return destructive;
}

void coco_sql_ident(coco_buf *b, const char *name)
{
	coco_buf_putc(b, '"');
	for (const char *p = name; *p; p++) {
		if (*p == '"')
			coco_buf_putc(b, '"');
		coco_buf_putc(b, *p);
	}
	coco_buf_putc(b, '"');
}

void coco_sql_idents(coco_buf *b, const coco_field *f, uint32_t n, const char *sep)
{
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			coco_buf_adds(b, sep);
		coco_sql_ident(b, f[i].name);
	}
}

void coco_tdesc_create_body(const coco_tdesc *t, int key_not_null, coco_buf *b)
{
	for (size_t i = 0; i < t->ncols; i++) {
		coco_sql_ident(b, t->cols[i].name);
		coco_buf_printf(b, " %s%s, ", t->cols[i].sql,
			key_not_null && coco_tdesc_is_key(t, t->cols[i].name) ? " NOT NULL" : "");
	}
	coco_buf_adds(b, "PRIMARY KEY (");
	for (size_t i = 0; i < t->nkeys; i++) {
		if (i)
			coco_buf_adds(b, ", ");
		coco_sql_ident(b, t->keys[i]);
	}
	coco_buf_putc(b, ')');
}

void coco_tdesc_put_line(coco_buf *b, const char *word, const char *value)
{
	coco_buf_adds(b, word);
	coco_buf_putc(b, ' ');
	coco_buf_esc(b, value, 0);
	coco_buf_putc(b, '\n');
}

void coco_tdesc_put_keys(coco_buf *b, const coco_type *row, uint32_t nkeys)
{
	coco_buf_adds(b, "key");
	for (uint32_t i = 0; i < nkeys; i++) {
		coco_buf_putc(b, ' ');
		coco_buf_esc(b, row->fields[i].name, 1);
	}
	coco_buf_putc(b, '\n');
}

void coco_tdesc_put_column(coco_buf *b, int flags, const char *name, const coco_type *type,
	const char *sql)
{
	coco_buf ty = {0};
	coco_type_format(type, &ty);
	coco_buf_adds(b, "column ");
	coco_buf_esc(b, name, 1);
	coco_buf_putc(b, ' ');
	coco_buf_esc(b, ty.p, (flags & COCO_TDESC_SQL_REST) != 0);
	coco_buf_printf(b, " %s\n", sql);
	coco_buf_free(&ty);
}

int coco_tdesc_parse_pair(const coco_tdesc_ops *o, const char *stored, const char *desired,
	coco_arena *a, void **s, void **d, char **err)
{
	*s = stored ? coco_arena_alloc(a, o->size) : NULL;
	*d = desired ? coco_arena_alloc(a, o->size) : NULL;
	if (stored && o->parse(stored, a, *s, err) < 0)
		return -1;
	return desired ? o->parse(desired, a, *d, err) : 0;
}

int coco_tdesc_apply(const coco_tdesc_ops *o, const char *stored, const char *desired, char **err)
{
	coco_arena a = {0};
	void *s, *d;
	int rc = coco_tdesc_parse_pair(o, stored, desired, &a, &s, &d, err);
	if (rc == 0 && !s && d) {
		rc = o->change(d, NULL, NULL, err);
	} else if (rc == 0 && s && !d) {
		rc = o->drop(s, err);
	} else if (rc == 0 && s && d) {
		coco_buf why = {0};
		o->reasons(s, d, &why);
		if (!why.n)
			rc = o->change(d, NULL, s, err);
		else if (o->same_place(s, d))
			rc = o->change(d, s, NULL, err);
		else if ((rc = o->drop(s, err)) == 0)
			rc = o->change(d, NULL, NULL, err);
		coco_buf_free(&why);
	}
	coco_arena_destroy(&a);
	return rc;
}
