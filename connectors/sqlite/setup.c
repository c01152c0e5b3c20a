/* SQLite target: setup. The setup description (path, table, columns, the
 * full-text index) that describe() writes and plan() and apply() parse
 * back, so they need nothing else; the SQL that creates, alters and drops
 * the table and its FTS5 index. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ops.h"
#include "engine/tdesc.h"
#include "connectors/sqlite/sqlite_int.h"

/* ---- the SQL of a column -------------------------------------------------- */

/* SQLite's declared column type for a coco kind. */
static const char *sql_type(coco_kind k)
{
	switch (k) {
	case COCO_BOOL:
	case COCO_INT64:
		return "INTEGER";
	case COCO_FLOAT32:
	case COCO_FLOAT64:
		return "REAL";
	case COCO_BYTES:
	case COCO_VECTOR:
	case COCO_NULL:
		return "BLOB";
	default:         /* str, json, range, struct, table */
		return "TEXT";
	}
}

/* ---- the setup description ------------------------------------------------
 *
 *   path /abs/index.sqlite
 *   table DocsIndex__doc_chunks
 *   key filename location
 *   column filename str TEXT
 *   column location range TEXT
 *   column text str TEXT
 *   fts text
 *
 * Columns in row order (key columns first). path and table run to the end
 * of the line; names are single tokens; the coco type sits between the
 * column name and the SQL type; the fts line (only with full_text_fields)
 * names the columns of the full-text index. Awkward bytes are written as
 * \xHH. The key and column lines are engine/tdesc.h's. */

typedef coco_tcol col;

typedef struct desc {
	coco_tdesc t;            /* keys and columns */
	const char *path, *table;
	const char **fts;        /* full-text indexed columns */
	size_t nfts;
} desc;

/* Resolves the database path and table name from the options. */
/* The path, table and fts lines (engine/tdesc.h reads the rest). */
static int desc_line(void *ctx, coco_arena *a, const char *w, size_t wn, const char *rest,
	const char *e)
{
	desc *d = ctx;
	if (rest == e)
		return -1;
	if (COCO_TDESC_IS(w, wn, "path"))
		return (d->path = coco_unesc(a, rest, (size_t)(e - rest))) ? 0 : -1;
	if (COCO_TDESC_IS(w, wn, "table"))
		return (d->table = coco_unesc(a, rest, (size_t)(e - rest))) ? 0 : -1;
	if (COCO_TDESC_IS(w, wn, "fts")) {
		if (!d->fts)
			d->fts = coco_arena_alloc(a, d->t.cap * sizeof *d->fts);
		int n = coco_tdesc_tokens(a, rest, e, d->fts + d->nfts, d->t.cap - d->nfts, 0);
		if (n < 0)
			return -1;
		d->nfts += (size_t)n;
		return 0;
	}
	return -1;
}

static int parse_desc(const char *text, coco_arena *a, void *dv, char **err)
{
	desc *d = dv;
	memset(d, 0, sizeof *d);
	if (coco_tdesc_parse(text, a, 0, &d->t, desc_line, d, "SQLite", err) < 0)
		return -1;
	if (!d->path || !d->table || !d->t.nkeys || !d->t.ncols)
		return coco_seterr(err, "SQLite: malformed setup description "
			"(needs path, table, key and column lines)");
	for (size_t i = 0; i < d->t.nkeys; i++)
		if (!coco_tdesc_col(&d->t, d->t.keys[i]))
			return coco_seterr(err, "SQLite: malformed setup description "
				"(key %s is not a column)", d->t.keys[i]);
	for (size_t i = 0; i < d->nfts; i++)
		if (!coco_tdesc_col(&d->t, d->fts[i]))
			return coco_seterr(err, "SQLite: malformed setup description "
				"(full-text field %s is not a column)", d->fts[i]);
	return 0;
}

/* Appends to why the reasons the table must be dropped and recreated to go
 * from s to d (nothing when ALTER TABLE can do it). */
static void recreate_reasons(const void *sv, const void *dv, coco_buf *why)
{
	const desc *s = sv, *d = dv;
	if (strcmp(s->path, d->path))
		coco_tdesc_reason(why, "path: %s → %s", s->path, d->path);
	if (strcmp(s->table, d->table))
		coco_tdesc_reason(why, "table: %s → %s", s->table, d->table);
	coco_tdesc_reasons(&s->t, &d->t, why);
}

/* ---- full-text index (full_text_fields) -----------------------------------
 *
 * An FTS5 table "<table>__fts" with the table as its external content
 * (content_rowid = rowid: no text is stored twice), kept in sync by three
 * triggers on the table, so every write of coco's, in its own
 * transaction, updates the index too: no second writer, nothing to replay
 * after a crash. It is derived data: changing the fields rebuilds it. */

static int same_fts(const desc *a, const desc *b)
{
	return coco_tdesc_same_names(a->fts, a->nfts, b->fts, b->nfts);
}

/* Plan lines for going from s's full-text index to d's (NULL: none). */
static void plan_fts(const desc *s, const desc *d, coco_buf *plan)
{
	if (d && d->nfts) {
		coco_buf_printf(plan, "%s full-text index %s__fts (", s && s->nfts ? "rebuild" : "create",
			d->table);
		coco_tdesc_put_names(plan, d->fts, d->nfts);
		coco_buf_adds(plan, ")\n");
	} else if (s && s->nfts) {
		coco_buf_printf(plan, "drop full-text index %s__fts\n", s->table);
	}
}

/* Appends "<table><suffix>" quoted. */
static void quote_ident2(coco_buf *b, const char *table, const char *suffix)
{
	coco_buf n = {0};
	coco_buf_printf(&n, "%s%s", table, suffix);
	coco_sql_ident(b, n.p);
	coco_buf_free(&n);
}

/* Drops d's full-text table and triggers, if any. */
static void fts_drop_sql(const desc *d, coco_buf *b)
{
	static const char *const trig[] = { "__fts_ai", "__fts_ad", "__fts_au" };
	for (int i = 0; i < 3; i++) {
		coco_buf_adds(b, "DROP TRIGGER IF EXISTS ");
		quote_ident2(b, d->table, trig[i]);
		coco_buf_adds(b, "; ");
	}
	coco_buf_adds(b, "DROP TABLE IF EXISTS ");
	quote_ident2(b, d->table, "__fts");
	coco_buf_adds(b, "; ");
}

/* (new."a", new."b") style lists; pre NULL: the bare column names. */
static void fts_cols(const desc *d, const char *pre, coco_buf *b)
{
	for (size_t i = 0; i < d->nfts; i++) {
		coco_buf_adds(b, ", ");
		if (pre)
			coco_buf_adds(b, pre);
		coco_sql_ident(b, d->fts[i]);
	}
}

/* A trigger's statement that puts row ("new.") in the full-text index or
 * takes it ("old.") out:
 *   INSERT INTO "t__fts"(rowid, "a") VALUES (new.rowid, new."a");
 *   INSERT INTO "t__fts"("t__fts", rowid, "a") VALUES ('delete', old.rowid, old."a"); */
static void fts_row_sql(const desc *d, const char *row, coco_buf *b)
{
	int out = !strcmp(row, "old.");
	coco_buf_adds(b, "INSERT INTO ");
	quote_ident2(b, d->table, "__fts");
	coco_buf_putc(b, '(');
	if (out) {
		quote_ident2(b, d->table, "__fts");
		coco_buf_adds(b, ", ");
	}
	coco_buf_adds(b, "rowid");
	fts_cols(d, NULL, b);
	coco_buf_printf(b, ") VALUES (%s%srowid", out ? "'delete', " : "", row);
	fts_cols(d, row, b);
	coco_buf_adds(b, "); ");
}

/* Creates d's full-text table (anew) and its triggers, and fills it. */
static void fts_create_sql(const desc *d, coco_buf *b)
{
	fts_drop_sql(d, b);
	coco_buf_adds(b, "CREATE VIRTUAL TABLE ");
	quote_ident2(b, d->table, "__fts");
	coco_buf_adds(b, " USING fts5(");
	for (size_t i = 0; i < d->nfts; i++) {
		if (i)
			coco_buf_adds(b, ", ");
		coco_sql_ident(b, d->fts[i]);
	}
	coco_buf_adds(b, ", content=");
	coco_buf_putc(b, '\'');
	for (const char *p = d->table; *p; p++) {
		if (*p == '\'')
			coco_buf_putc(b, '\'');
		coco_buf_putc(b, *p);
	}
	coco_buf_adds(b, "', content_rowid='rowid'); ");
	for (int t = 0; t < 3; t++) {
		static const char *const name[] = { "__fts_ai", "__fts_ad", "__fts_au" };
		static const char *const ev[] = { "INSERT", "DELETE", "UPDATE" };
		coco_buf_adds(b, "CREATE TRIGGER ");
		quote_ident2(b, d->table, name[t]);
		coco_buf_printf(b, " AFTER %s ON ", ev[t]);
		coco_sql_ident(b, d->table);
		coco_buf_adds(b, " BEGIN ");
		if (t > 0)               /* the old row out */
			fts_row_sql(d, "old.", b);
		if (t != 1)              /* the new row in */
			fts_row_sql(d, "new.", b);
		coco_buf_adds(b, "END; ");
	}
	coco_buf_adds(b, "INSERT INTO ");
	quote_ident2(b, d->table, "__fts");
	coco_buf_putc(b, '(');
	quote_ident2(b, d->table, "__fts");
	coco_buf_adds(b, ") VALUES ('rebuild')");
}


/* ---- the table ------------------------------------------------------------ */

/* Runs sql on db; on failure sets *err naming the table and file. */
static int db_exec(sqlite3 *db, const char *sql, const desc *d, char **err)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	return coco_seterr(err, "SQLite: table %s in %s: %s", d->table, d->path, sqlite_errmsg(db));
}

/* 1 if table d->table has a column named name (names compare as in SQLite),
 * 0 if not, -1 on error. */
static int has_column(sqlite3 *db, const desc *d, const char *name, char **err)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info(?1)", -1, &st, NULL) != SQLITE_OK)
		return coco_seterr(err, "SQLite: %s: %s", d->path, sqlite_errmsg(db));
	sqlite3_bind_text(st, 1, d->table, -1, SQLITE_STATIC);
	int found = 0, rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (!sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), name))
			found = 1;
	if (rc != SQLITE_DONE)
		found = coco_seterr(err, "SQLite: table %s in %s: %s", d->table, d->path,
			sqlite_errmsg(db));
	sqlite3_finalize(st);
	return found;
}

static void create_sql(const desc *d, coco_buf *b)
{
	coco_buf_adds(b, "CREATE TABLE IF NOT EXISTS ");
	coco_sql_ident(b, d->table);
	coco_buf_adds(b, " (");
	coco_tdesc_create_body(&d->t, 1, b);
	coco_buf_putc(b, ')');
}

/* Adds the column c unless the table already has it. */
static int ensure_column(sqlite3 *db, const desc *d, const col *c, coco_buf *sql, char **err)
{
	int has = has_column(db, d, c->name, err);
	if (has != 0)
		return has < 0 ? -1 : 0;
	coco_buf_clear(sql);
	coco_buf_adds(sql, "ALTER TABLE ");
	coco_sql_ident(sql, d->table);
	coco_buf_adds(sql, " ADD COLUMN ");
	coco_sql_ident(sql, c->name);
	coco_buf_printf(sql, " %s", c->sql);
	return db_exec(db, sql->p, d, err);
}

/* Drops the column unless it is already gone. */
static int ensure_no_column(sqlite3 *db, const desc *d, const char *name, coco_buf *sql, char **err)
{
	int has = has_column(db, d, name, err);
	if (has != 1)
		return has;
	coco_buf_clear(sql);
	coco_buf_adds(sql, "ALTER TABLE ");
	coco_sql_ident(sql, d->table);
	coco_buf_adds(sql, " DROP COLUMN ");
	coco_sql_ident(sql, name);
	return db_exec(db, sql->p, d, err);
}

/* One transaction on d's database: drop table `drop` (same file) when
 * given, create d's table unless it exists, drop the columns of
 * `alter_from` that d no longer has, then add the columns of d that the
 * table lacks. Each step checks first, so re-running it is harmless. */
static int db_change(const void *dv, const void *dropv, const void *alter_fromv, char **err)
{
	const desc *d = dv, *drop = dropv, *alter_from = alter_fromv;
	sqlite3 *db;
	if (sqlite_db_open(d->path, 1, &db, err) < 0)
		return -1;
	coco_buf sql = {0};
	/* the full-text index goes first (its triggers name columns) and
	 * comes back last, rebuilt from the table */
	int fts = alter_from ? !same_fts(alter_from, d) : 1;
	int rc = db_exec(db, "BEGIN IMMEDIATE", d, err);
	if (rc == 0 && fts && (drop || alter_from)) {
		fts_drop_sql(drop ? drop : alter_from, &sql);
		rc = db_exec(db, sql.p, d, err);
		coco_buf_clear(&sql);
	}
	if (rc == 0 && drop) {
		coco_buf_adds(&sql, "DROP TABLE IF EXISTS ");
		coco_sql_ident(&sql, drop->table);
		rc = db_exec(db, sql.p, drop, err);
	}
	if (rc == 0) {
		coco_buf_clear(&sql);
		create_sql(d, &sql);
		rc = db_exec(db, sql.p, d, err);
	}
	for (size_t i = 0; rc == 0 && alter_from && i < alter_from->t.ncols; i++)
		if (!coco_tdesc_col(&d->t, alter_from->t.cols[i].name))
			rc = ensure_no_column(db, d, alter_from->t.cols[i].name, &sql, err);
	for (size_t i = 0; rc == 0 && i < d->t.ncols; i++)
		rc = ensure_column(db, d, &d->t.cols[i], &sql, err);
	if (rc == 0 && fts && d->nfts) {
		coco_buf_clear(&sql);
		fts_create_sql(d, &sql);
		rc = db_exec(db, sql.p, d, err);
	}
	if (rc == 0)
		rc = db_exec(db, "COMMIT", d, err);
	coco_buf_free(&sql);
	sqlite3_close(db);   /* rolls back what is left open */
	return rc;
}

/* DROP TABLE IF EXISTS in d's database; a missing file has nothing to drop. */
static int db_drop(const void *dv, char **err)
{
	const desc *d = dv;
	sqlite3 *db;
	int rc = sqlite_db_open(d->path, 0, &db, err);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	coco_buf sql = {0};
	if (d->nfts)
		fts_drop_sql(d, &sql);
	coco_buf_adds(&sql, "DROP TABLE IF EXISTS ");
	coco_sql_ident(&sql, d->table);
	rc = db_exec(db, sql.p, d, err);
	coco_buf_free(&sql);
	sqlite3_close(db);
	return rc;
}

/* ---- setup: describe / plan / apply --------------------------------------- */

/* The "fts" line of full_text_fields: str fields, each named once. */
static int describe_fts(const coco_optval *o, const coco_export_info *info, const char *table,
	coco_buf *desired, char **err)
{
	if (!o->set || !o->nlist)
		return 0;
	const coco_type *t = info->row_type;
	coco_buf_adds(desired, "fts");
	for (size_t i = 0; i < o->nlist; i++) {
		int fi = coco_type_field(t, o->list[i]);
		if (fi < 0) {
			coco_buf f = {0};
			coco_type_field_names(t, &f);
			coco_seterr(err, "SQLite: table %s: full_text_fields: unknown field '%s'; fields: %s",
				table, o->list[i], f.p);
			coco_buf_free(&f);
			return -1;
		}
		if (t->fields[fi].type->kind != COCO_STR) {
			coco_buf tb = {0};
			coco_type_format(t->fields[fi].type, &tb);
			coco_seterr(err, "SQLite: table %s: full_text_fields: '%s' is %s; only str fields "
				"can be full-text indexed", table, o->list[i], tb.p);
			coco_buf_free(&tb);
			return -1;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(o->list[i], o->list[j]))
				return coco_seterr(err, "SQLite: table %s: full_text_fields names '%s' twice",
					table, o->list[i]);
		coco_buf_putc(desired, ' ');
		coco_buf_esc(desired, o->list[i], 1);
	}
	coco_buf_putc(desired, '\n');
	return 0;
}

int sqlite_describe(const coco_optval *opts, const coco_export_info *info,
	coco_buf *resource_id, coco_buf *desired, char **err)
{
	coco_buf path = {0}, table = {0};
	int rc = sqlite_resolve(opts, info, &path, &table, err);
	if (rc == 0)
		rc = sqlite_check_row_type(info, table.p, err);
	if (rc == 0) {
		const coco_type *t = info->row_type;
		coco_buf_printf(resource_id, "sqlite:%s#%s", path.p, table.p);
		coco_tdesc_put_line(desired, "path", path.p);
		coco_tdesc_put_line(desired, "table", table.p);
		coco_tdesc_put_keys(desired, t, info->nkeys);
		for (uint32_t i = 0; i < t->nfields; i++)
			coco_tdesc_put_column(desired, 0, t->fields[i].name, t->fields[i].type,
				sql_type(t->fields[i].type->kind));
		rc = describe_fts(&opts[OPT_FTS], info, table.p, desired, err);
	}
	coco_buf_free(&path);
	coco_buf_free(&table);
	return rc;
}

/* 1 when s and d are tables of one database file. */
static int same_file(const void *sv, const void *dv)
{
	const desc *s = sv, *d = dv;
	return !strcmp(s->path, d->path);
}

static const coco_tdesc_ops sqlite_tdesc = {
	.size = sizeof(desc),
	.parse = parse_desc,
	.reasons = recreate_reasons,
	.same_place = same_file,
	.change = db_change,
	.drop = db_drop,
};

int sqlite_plan(const char *stored, const char *desired, coco_buf *plan,
	int *destructive, char **err)
{
	coco_arena a = {0};
	void *sv, *dv;
	*destructive = 0;
	int rc = coco_tdesc_parse_pair(&sqlite_tdesc, stored, desired, &a, &sv, &dv, err);
	const desc *s = sv, *d = dv;
	if (rc == 0 && !s && d) {
		coco_tdesc_plan_create(&d->t, NULL, d->table, plan);
		plan_fts(NULL, d, plan);
	} else if (rc == 0 && s && !d) {
		coco_buf_printf(plan, "drop table %s\n", s->table);
		plan_fts(s, NULL, plan);
		*destructive = 1;
	} else if (rc == 0 && s && d) {
		coco_buf why = {0};
		recreate_reasons(s, d, &why);
		if (why.n) {
			coco_buf_printf(plan, "drop and recreate table %s (%s)\n", d->table, why.p);
			if (s->nfts && strcmp(s->table, d->table))
				plan_fts(s, NULL, plan);
			plan_fts(NULL, d, plan);
			*destructive = 1;
		} else {
			*destructive = coco_tdesc_plan_columns(&s->t, &d->t, plan) ? 1 | COCO_SETUP_KEEPS_ROWS : 0;
			if (!same_fts(s, d))
				plan_fts(s, d, plan);
		}
		coco_buf_free(&why);
	}
	coco_arena_destroy(&a);
	return rc;
}

int sqlite_apply(const char *stored, const char *desired, char **err)
{
	return coco_tdesc_apply(&sqlite_tdesc, stored, desired, err);
}
