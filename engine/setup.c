/* Setup: the targets' tables, planned from the flow, applied, remembered.
 *
 * The setup column family maps a resource id to
 *   "<target name>\n<export name>\n<desired description>"
 * as last applied, or for what a source sets up (coco_source_ops.setup_*)
 *   "source:<source name>\n<source field>\n<desired description>".
 * A flow's wanted resources are compared with it. */
#include "engine/setup.h"
#include "engine/owner.h"
#include "engine/records_int.h"
#include "engine/sys.h"

#include <stdlib.h>
#include <string.h>

#define SRC_PREFIX "source:"

static void change_add(coco_setup_plan *p, const char *rid, const char *exp,
	const coco_target_ops *ops, const coco_source_ops *sops, const char *stored,
	const char *desired)
{
	p->ch = realloc(p->ch, (p->n + 1) * sizeof *p->ch);
	if (!p->ch)
		abort();
	coco_setup_change *c = &p->ch[p->n++];
	memset(c, 0, sizeof *c);
	c->resource_id = coco_strdup(rid);
	c->export_name = coco_strdup(exp);
	c->ops = ops;
	c->sops = sops;
	c->stored = stored ? coco_strdup(stored) : NULL;
	c->desired = desired ? coco_strdup(desired) : NULL;
}

/* Split a stored record into its parts (pointers into rec, which is modified). */
static int split_record(char *rec, char **target, char **exp, char **desc)
{
	char *a = strchr(rec, '\n');
	if (!a)
		return -1;
	char *b = strchr(a + 1, '\n');
	if (!b)
		return -1;
	*a = *b = 0;
	*target = rec;
	*exp = a + 1;
	*desc = b + 1;
	return 0;
}

/* What coco_setup_plan_make gathers while it plans: the resource ids the
 * flow wants (nr of them), and buffers its steps reuse. */
typedef struct planner {
	coco_setup_plan *plan;
	coco_state *st;                 /* NULL: nothing applied yet */
	char **rids;
	size_t nr;
	coco_buf rid, desired, stored;
	char **err;
} planner;

/* The record applied for pl->rid, split (t, ex, d point into pl->stored):
 * 1, 0 when there is none (or it cannot be read), -1 on error. */
static int stored_get(planner *pl, char **t, char **ex, char **d)
{
	int got = pl->st ? coco_state_get(pl->st, COCO_CF_SETUP, pl->rid.p, pl->rid.n, &pl->stored,
		pl->err) : 0;
	if (got == 1 && split_record(pl->stored.p, t, ex, d))
		got = 0;
	return got;
}

/* Export xp, applied as desired (d, stored under export name ex): a change
 * only when the target finds its resource changed by hand (its check()
 * plans the fix) or the export was renamed. */
static void plan_export_same(planner *pl, const coco_gexport *xp, const char *ex, const char *d)
{
	coco_setup_plan *plan = pl->plan;
	coco_buf fix = {0};
	int destructive = 0;
	char *e = NULL;
	if (xp->ops->check && xp->ops->check(d, &fix, &destructive, &e) == 0 && fix.n) {
		change_add(plan, pl->rid.p, xp->name, xp->ops, NULL, d, pl->desired.p);
		plan->ch[plan->n - 1].plan = fix;
		plan->ch[plan->n - 1].destructive = destructive;
	} else if (strcmp(ex, xp->name)) {
		/* the export was renamed, its target is the same: only the
		 * record changes (lineage names the target, not the export) */
		change_add(plan, pl->rid.p, xp->name, xp->ops, NULL, d, pl->desired.p);
		plan->ch[plan->n - 1].renamed = 1;
		coco_buf_printf(&plan->ch[plan->n - 1].plan,
			"export renamed from %s (the same target: its rows stay)\n", ex);
		coco_buf_free(&fix);
	} else {
		coco_buf_free(&fix);
	}
	free(e);
}

/* Export x of g: its resource, refused when an earlier export writes to
 * the same one; a change unless it is applied as desired. */
static int plan_export(planner *pl, const coco_graph *g, size_t x)
{
	const coco_gexport *xp = coco_graph_export_at(g, x);
	char *e = NULL;
	coco_buf_clear(&pl->rid);
	coco_buf_clear(&pl->desired);
	if (xp->ops->describe(xp->opts, &xp->info, &pl->rid, &pl->desired, &e)) {
		int rc = coco_seterr(pl->err, "export '%s' (%s): %s", xp->name, xp->where,
			e ? e : "invalid target");
		free(e);
		return rc;
	}
	for (size_t k = 0; k < x; k++)
		if (!strcmp(pl->rids[k], pl->rid.p)) {
			/* rows of both would overwrite each other, and lineage
			 * (which names the target) could not tell them apart */
			return coco_seterr(pl->err, "%s: export '%s' writes to the same target as export "
				"'%s' (%s): %s", xp->where, xp->name, coco_graph_export_at(g, k)->name,
				coco_graph_export_at(g, k)->where, pl->rid.p);
		}
	pl->rids[pl->nr++] = coco_strdup(pl->rid.p);
	char *t = NULL, *ex = NULL, *d = NULL;
	int got = stored_get(pl, &t, &ex, &d);
	if (got < 0)
		return -1;
	if (got == 1 && !strcmp(t, xp->ops->name) && !strcmp(d, pl->desired.p))
		plan_export_same(pl, xp, ex, d);
	else
		change_add(pl->plan, pl->rid.p, xp->name, xp->ops, NULL, got == 1 ? d : NULL,
			pl->desired.p);
	return 0;
}

/* Source i of g: what it sets up (if anything), a change unless applied. */
static int plan_source(planner *pl, const coco_graph *g, size_t i)
{
	const coco_gsource *gs = coco_graph_source(g, i);
	if (!gs->ops->setup_describe)
		return 0;
	char *e = NULL;
	coco_buf_clear(&pl->rid);
	coco_buf_clear(&pl->desired);
	if (gs->ops->setup_describe(gs->opts, coco_graph_name(g), gs->name, &pl->rid, &pl->desired,
		    &e)) {
		int rc = coco_seterr(pl->err, "source '%s' (%s): %s", gs->name, gs->where,
			e ? e : "invalid source");
		free(e);
		return rc;
	}
	if (!pl->rid.n)
		return 0;               /* nothing to set up (options say so) */
	pl->rids[pl->nr++] = coco_strdup(pl->rid.p);
	char *t = NULL, *ex = NULL, *d = NULL;
	int got = stored_get(pl, &t, &ex, &d);
	if (got < 0)
		return -1;
	if (got == 1 && !strncmp(t, SRC_PREFIX, strlen(SRC_PREFIX)) &&
	    !strcmp(t + strlen(SRC_PREFIX), gs->ops->name) && !strcmp(d, pl->desired.p))
		return 0;
	change_add(pl->plan, pl->rid.p, gs->name, NULL, gs->ops, got == 1 ? d : NULL,
		pl->desired.p);
	return 0;
}

/* Applied resources the flow no longer wants: a drop each (when their
 * target or source is still known). */
static int plan_drops(planner *pl)
{
	coco_iter *it = coco_state_iter(pl->st, COCO_CF_SETUP, NULL, 0);
	const char *k, *v;
	size_t kn, vn;
	int irc;
	while ((irc = coco_iter_next(it, &k, &kn, &v, &vn, pl->err)) == 1) {
		int wanted = 0;
		for (size_t x = 0; x < pl->nr && !wanted; x++)
			wanted = strlen(pl->rids[x]) == kn && !memcmp(pl->rids[x], k, kn);
		if (wanted)
			continue;
		char *ridz = coco_xstrndup(k, kn), *rec = coco_xstrndup(v, vn);
		char *t, *ex, *d;
		if (!split_record(rec, &t, &ex, &d)) {
			if (!strncmp(t, SRC_PREFIX, strlen(SRC_PREFIX))) {
				const coco_source_ops *sops = coco_source_find(t + strlen(SRC_PREFIX));
				if (sops && sops->setup_plan)
					change_add(pl->plan, ridz, ex, NULL, sops, d, NULL);
			} else {
				const coco_target_ops *ops = coco_target_find(t);
				if (ops)
					change_add(pl->plan, ridz, ex, ops, NULL, d, NULL);
			}
		}
		free(ridz);
		free(rec);
	}
	coco_iter_destroy(it);
	return irc < 0 ? -1 : 0;
}

/* Each change's plan lines, from its target or source (unless check()
 * made them), and whether it is destructive. */
static int plan_lines(coco_setup_plan *plan, char **err)
{
	int rc = 0;
	for (size_t i = 0; i < plan->n && !rc; i++) {
		coco_setup_change *c = &plan->ch[i];
		char *e = NULL;
		int prc = 0;
		if (!c->plan.n)                 /* else planned by check() */
			prc = c->ops ? c->ops->plan(c->stored, c->desired, &c->plan, &c->destructive, &e)
				: c->sops->setup_plan(c->stored, c->desired, &c->plan, &c->destructive, &e);
		c->keeps_rows = (c->destructive & COCO_SETUP_KEEPS_ROWS) != 0;
		c->destructive &= ~COCO_SETUP_KEEPS_ROWS;
		if (prc) {
			rc = coco_seterr(err, "%s '%s': %s", c->ops ? "export" : "source", c->export_name,
				e ? e : "cannot plan setup");
			free(e);
		}
		plan->destructive |= c->destructive;
	}
	return rc;
}

int coco_setup_plan_make(const coco_graph *g, coco_state *st, coco_setup_plan *plan, char **err)
{
	memset(plan, 0, sizeof *plan);
	size_t nx = g ? coco_graph_nexports(g) : 0, ns = g ? coco_graph_nsources(g) : 0;
	planner pl = { .plan = plan, .st = st, .err = err };
	pl.rids = coco_xcalloc(nx + ns + 1, sizeof *pl.rids);
	int rc = 0;
	for (size_t x = 0; x < nx && !rc; x++)
		rc = plan_export(&pl, g, x);
	for (size_t i = 0; i < ns && !rc; i++)         /* what sources set up */
		rc = plan_source(&pl, g, i);
	if (!rc && st)
		rc = plan_drops(&pl);
	if (!rc)
		rc = plan_lines(plan, err);
	for (size_t x = 0; x < pl.nr; x++)
		free(pl.rids[x]);
	free(pl.rids);
	coco_buf_free(&pl.rid);
	coco_buf_free(&pl.desired);
	coco_buf_free(&pl.stored);
	if (rc)
		coco_setup_plan_free(plan);
	return rc;
}

void coco_setup_plan_format(const coco_setup_plan *plan, coco_buf *out)
{
	for (size_t i = 0; i < plan->n; i++) {
		const coco_setup_change *c = &plan->ch[i];
		coco_buf_printf(out, "  %s %s (%s %s):\n", c->ops ? "export" : "source", c->export_name,
			c->ops ? c->ops->name : c->sops->name, c->resource_id);
		const char *p = c->plan.p ? c->plan.p : "";
		while (*p) {
			const char *nl = strchr(p, '\n');
			size_t n = nl ? (size_t)(nl - p) : strlen(p);
			if (n)
				coco_buf_printf(out, "    %.*s\n", (int)n, p);
			p += n + (nl ? 1 : 0);
		}
	}
}

/* The order a plan is applied in. 0: drops of resources named by their
 * export (a target written in Lua names its storage in its options, so an
 * export renamed onto the same file is a new resource over the storage of
 * the one it replaces, which dropped after the new one was created would
 * drop both); 1: what is created or changed; 2: the other drops, after the
 * creates, so that a create that fails (a path into a missing directory)
 * leaves the resource it replaces, and its rows, in place. */
static int apply_phase(const coco_setup_change *c)
{
	if (c->desired)
		return 1;
	return c->ops && c->ops->rid_is_export ? 0 : 2;
}

int coco_setup_apply(coco_state *st, coco_setup_plan *plan, char **err)
{
	coco_buf rec = {0};
	int rc = coco_lineage_migrate(st, err);
	for (size_t n = 0; n < 3 * plan->n && !rc; n++) {
		coco_setup_change *c = &plan->ch[n % plan->n];
		if (apply_phase(c) != (int)(n / plan->n))
			continue;
		char *e = NULL;
		if (c->renamed) {
			/* the record only */
		} else if (c->ops ? c->ops->apply(c->stored, c->desired, &e)
		    : c->sops->setup_apply(c->stored, c->desired, &e)) {
			rc = coco_seterr(err, "%s '%s': setup failed: %s", c->ops ? "export" : "source",
				c->export_name, e ? e : "error");
			free(e);
			break;
		}
		/* A (re)created or repaired target is empty or suspect: forget
		 * what lineage says the export holds, so every row is written
		 * again. Only after the target exists (a failed apply keeps the
		 * old table and its lineage), and before the record is stored (a
		 * crash in between replans and redoes both). */
		if (c->ops && !c->renamed && c->desired && (!c->stored || c->destructive ||
		    !strcmp(c->stored, c->desired)) /* repaired (check) */ &&
		    coco_forget_export(st, c->resource_id,
			    c->stored && (c->keeps_rows || !c->destructive), err)) {
			rc = -1;
			break;
		}
		/* a dropped target: lineage forgets its keys (before the record
		 * goes: a crash in between drops again, idempotently) */
		if (c->ops && !c->desired && coco_forget_target(st, c->resource_id, err)) {
			rc = -1;
			break;
		}
		coco_batch *b = coco_batch_create();
		if (c->desired) {
			coco_buf_clear(&rec);
			coco_buf_printf(&rec, "%s%s\n%s\n%s", c->ops ? "" : SRC_PREFIX,
				c->ops ? c->ops->name : c->sops->name, c->export_name, c->desired);
			coco_batch_put(b, COCO_CF_SETUP, c->resource_id, strlen(c->resource_id), rec.p, rec.n);
		} else {
			coco_batch_del(b, COCO_CF_SETUP, c->resource_id, strlen(c->resource_id));
		}
		rc = coco_state_write(st, b, 1, err);
		coco_batch_destroy(b);
	}
	coco_buf_free(&rec);
	return rc;
}

void coco_setup_plan_free(coco_setup_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++) {
		coco_setup_change *c = &plan->ch[i];
		free(c->resource_id);
		free(c->export_name);
		free(c->stored);
		free(c->desired);
		coco_buf_free(&c->plan);
	}
	free(plan->ch);
	memset(plan, 0, sizeof *plan);
}

/* ---- lineage after setup changed a target ------------------------------- */
/* Lineage entries naming target rid: with drop, removed; else, with
 * kept, made staged (else removed), and their rows marked for evaluation
 * (see coco_forget_export). */
static int relabel_target(coco_state *st, const char *rid, int drop, int kept, char **err)
{
	coco_batch *b = coco_batch_create();
	coco_arena a = {0};
	coco_buf val = {0}, tv = {0};
	size_t nrid = strlen(rid);
	int rc;
	coco_iter *it = coco_state_iter(st, COCO_CF_LINEAGE, NULL, 0);
	const char *k, *v;
	size_t kn, vn;
	while ((rc = coco_iter_next(it, &k, &kn, &v, &vn, err)) == 1) {
		lineage l, keep = {0};
		coco_arena_reset(&a);
		if (lin_decode(v, vn, &a, &l))
			continue;
		int named = 0;
		for (size_t i = 0; i < l.n; i++) {
			int hit = l.k[i].nexp == nrid && !memcmp(l.k[i].exp, rid, nrid);
			named |= hit;
			if (hit && kept)
				l.k[i].staged = 1;
			if (!hit || kept)
				lin_push(&a, &keep, &l.k[i]);
		}
		if (!named)
			continue;
		keep.memo = l.memo;
		keep.nmemo = l.nmemo;
		lin_encode(&keep, &val);
		coco_batch_put(b, COCO_CF_LINEAGE, k, kn, val.p, val.n);
		if (drop)
			continue;
		trk t;
		int got = coco_state_get(st, COCO_CF_TRACKING, k, kn, &tv, err);
		if (got < 0) {
			rc = -1;
			break;
		}
		if (got == 1 && !trk_decode(tv.p, tv.n, &t)) {
			t.logic = (coco_fp){0, 0};
			trk_encode(&t, &val);
			coco_batch_put(b, COCO_CF_TRACKING, k, kn, val.p, val.n);
		}
	}
	coco_iter_destroy(it);
	/* a target created anew or dropped is empty: who owned its keys too */
	if (rc == 0 && !kept)
		rc = coco_owners_forget(st, rid, b, err);
	if (rc == 0)
		rc = coco_state_write(st, b, 0, err);
	coco_batch_destroy(b);
	coco_arena_destroy(&a);
	coco_buf_free(&val);
	coco_buf_free(&tv);
	return rc < 0 ? -1 : 0;
}

/* A target setup kept the rows of (a column dropped): the keys of the
 * export become staged ("may be in the target"), not forgotten: only the
 * next evaluation of each row knows which keys it still produces; it
 * writes those again and deletes the others. A target created anew is
 * empty: its keys are forgotten (their shape may not even fit its key). */
int coco_forget_export(coco_state *st, const char *rid, int kept, char **err)
{
	return relabel_target(st, rid, 0, kept, err);
}

int coco_forget_target(coco_state *st, const char *rid, char **err)
{
	return relabel_target(st, rid, 1, 0, err);
}

/* Meta key saying lineage names resource ids (absent: export names). */
#define META_LINEAGE "lineage"

int coco_lineage_migrate(coco_state *st, char **err)
{
	coco_buf v = {0};
	int got = coco_state_get(st, COCO_CF_META, META_LINEAGE, strlen(META_LINEAGE), &v, err);
	coco_buf_free(&v);
	if (got != 0)
		return got < 0 ? -1 : 0;
	/* export name -> resource id, from the targets' setup records
	 * ("<target>\n<export>\n<description>", keyed by resource id) */
	coco_arena a = {0};
	const char **names = NULL, **rids = NULL;
	size_t n = 0, cap = 0;
	const char *k, *val;
	size_t kn, vn;
	int rc;
	coco_iter *it = coco_state_iter(st, COCO_CF_SETUP, NULL, 0);
	while ((rc = coco_iter_next(it, &k, &kn, &val, &vn, err)) == 1) {
		const char *nl = memchr(val, '\n', vn);
		const char *nl2 = nl ? memchr(nl + 1, '\n', vn - (size_t)(nl + 1 - val)) : NULL;
		if (!nl2 || (vn > 7 && !memcmp(val, "source:", 7)))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			names = realloc(names, cap * sizeof *names);
			rids = realloc(rids, cap * sizeof *rids);
			if (!names || !rids)
				abort();
		}
		names[n] = coco_arena_strndup(&a, nl + 1, (size_t)(nl2 - nl - 1));
		rids[n++] = coco_arena_strndup(&a, k, kn);
	}
	coco_iter_destroy(it);
	coco_batch *b = coco_batch_create();
	coco_arena la = {0};
	coco_buf enc = {0};
	if (rc == 0) {
		it = coco_state_iter(st, COCO_CF_LINEAGE, NULL, 0);
		while ((rc = coco_iter_next(it, &k, &kn, &val, &vn, err)) == 1) {
			lineage l, keep = {0};
			coco_arena_reset(&la);
			if (lin_decode(val, vn, &la, &l))
				continue;
			for (size_t i = 0; i < l.n; i++) {
				size_t j = 0;
				while (j < n && !(strlen(names[j]) == l.k[i].nexp &&
				       !memcmp(names[j], l.k[i].exp, l.k[i].nexp)))
					j++;
				if (j == n)
					continue;       /* its target was dropped */
				lkey e = l.k[i];
				e.exp = rids[j];
				e.nexp = strlen(rids[j]);
				lin_push(&la, &keep, &e);
			}
			keep.memo = l.memo;
			keep.nmemo = l.nmemo;
			lin_encode(&keep, &enc);
			coco_batch_put(b, COCO_CF_LINEAGE, k, kn, enc.p, enc.n);
		}
		coco_iter_destroy(it);
	}
	if (rc == 0) {
		coco_batch_put(b, COCO_CF_META, META_LINEAGE, strlen(META_LINEAGE), "resource", 8);
		rc = coco_state_write(st, b, 1, err);
	}
	coco_batch_destroy(b);
	coco_buf_free(&enc);
	coco_arena_destroy(&la);
	coco_arena_destroy(&a);
	free(names);
	free(rids);
	return rc < 0 ? -1 : 0;
}
