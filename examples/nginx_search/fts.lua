-- A full-text index in SQLite FTS5, through LuaJIT's FFI (libsqlite3):
--   fts.target(coco)  -> a coco target written in Lua (coco.target{...}):
--                        Fts5{ path = "search.sqlite" } keeps one FTS5 table
--                        per export in sync with the collected rows
--   fts.search(path, table, q, k) -> { { filename, location, snippet, score }, ... }
-- search() is what nginx's /search runs, in a worker thread's Lua VM
-- (ngx.run_worker_thread): it needs nothing but this file and libsqlite3.
local ffi = require("ffi")

ffi.cdef [[
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
int sqlite3_open_v2(const char *filename, sqlite3 **db, int flags, const char *vfs);
int sqlite3_close_v2(sqlite3 *db);
int sqlite3_exec(sqlite3 *db, const char *sql, void *cb, void *arg, char **errmsg);
void sqlite3_free(void *p);
const char *sqlite3_errmsg(sqlite3 *db);
int sqlite3_busy_timeout(sqlite3 *db, int ms);
int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **stmt, const char **tail);
int sqlite3_bind_text(sqlite3_stmt *s, int i, const char *text, int n, void *destructor);
int sqlite3_bind_int(sqlite3_stmt *s, int i, int v);
int sqlite3_bind_int64(sqlite3_stmt *s, int i, int64_t v);
int64_t sqlite3_last_insert_rowid(sqlite3 *db);
int64_t sqlite3_column_int64(sqlite3_stmt *s, int i);
int sqlite3_step(sqlite3_stmt *s);
int sqlite3_reset(sqlite3_stmt *s);
int sqlite3_finalize(sqlite3_stmt *s);
const unsigned char *sqlite3_column_text(sqlite3_stmt *s, int i);
int sqlite3_column_bytes(sqlite3_stmt *s, int i);
double sqlite3_column_double(sqlite3_stmt *s, int i);
]]

local lib = ffi.load("libsqlite3.so.0")
local SQLITE_ROW, SQLITE_DONE = 100, 101
local OPEN_RO, OPEN_RWC = 0x1, 0x2 + 0x4
local TRANSIENT = ffi.cast("void *", -1)

local M = {}

local function open(path, flags)
  local pdb = ffi.new("sqlite3 *[1]")
  if lib.sqlite3_open_v2(path, pdb, flags, nil) ~= 0 then
    local msg = pdb[0] ~= nil and ffi.string(lib.sqlite3_errmsg(pdb[0])) or "cannot open"
    if pdb[0] ~= nil then lib.sqlite3_close_v2(pdb[0]) end
    return nil, path .. ": " .. msg
  end
  lib.sqlite3_busy_timeout(pdb[0], 5000)
  return pdb[0]
end

local function exec(db, sql)
  local err = ffi.new("char *[1]")
  if lib.sqlite3_exec(db, sql, nil, nil, err) ~= 0 then
    local msg = ffi.string(err[0])
    lib.sqlite3_free(err[0])
    error("sqlite: " .. msg .. " in: " .. sql, 0)
  end
end

local function prepare(db, sql)
  local ps = ffi.new("sqlite3_stmt *[1]")
  if lib.sqlite3_prepare_v2(db, sql, #sql, ps, nil) ~= 0 then
    error("sqlite: " .. ffi.string(lib.sqlite3_errmsg(db)) .. " in: " .. sql, 0)
  end
  return ps[0]
end

local function quote_id(s) return '"' .. s:gsub('"', '""') .. '"' end

local function table_of(x) return x.options.table or (x.flow .. "__" .. x.export) end

-- The target: one FTS5 table of all the collected fields (key fields
-- UNINDEXED), and a table from each row's key to its FTS5 rowid, so rows
-- are replaced and deleted by key without a scan.
-- setup and mutate are idempotent, as coco requires: a crash in the middle
-- replays them.
function M.target(coco)
  return coco.target{ name = "Fts5",
    setup = function(previous, desired)
      if previous and (not desired or previous.options.path ~= desired.options.path
          or table_of(previous) ~= table_of(desired)) then
        local db = open(previous.options.path, OPEN_RWC)
        if db then
          exec(db, "DROP TABLE IF EXISTS " .. quote_id(table_of(previous)))
          exec(db, "DROP TABLE IF EXISTS " .. quote_id(table_of(previous) .. "__keys"))
          lib.sqlite3_close_v2(db)
        end
      end
      if desired then
        local db = assert(open(desired.options.path, OPEN_RWC))
        local cols = {}
        for _, f in ipairs(desired.fields) do
          local key = false
          for _, k in ipairs(desired.key_fields) do key = key or k == f.name end
          cols[#cols + 1] = quote_id(f.name) .. (key and " UNINDEXED" or "")
        end
        exec(db, "PRAGMA journal_mode=WAL")
        if previous and table_of(previous) == table_of(desired) then   -- fields changed
          exec(db, "DROP TABLE IF EXISTS " .. quote_id(table_of(desired)))
          exec(db, "DROP TABLE IF EXISTS " .. quote_id(table_of(desired) .. "__keys"))
        end
        exec(db, "CREATE VIRTUAL TABLE IF NOT EXISTS " .. quote_id(table_of(desired))
          .. " USING fts5(" .. table.concat(cols, ", ") .. ")")
        lib.sqlite3_close_v2(db)
      end
    end,
    mutate = function(upserts, deletes, ctx)
      local db = assert(open(ctx.options.path, OPEN_RWC))
      local name = ctx.options.table or (ctx.flow .. "__" .. ctx.export)
      local t, keys = quote_id(name), quote_id(name .. "__keys")
      local ok, err = pcall(function()
        exec(db, "BEGIN IMMEDIATE")
        exec(db, "CREATE TABLE IF NOT EXISTS " .. keys .. " (k TEXT PRIMARY KEY, id INTEGER)")
        local find = prepare(db, "SELECT id FROM " .. keys .. " WHERE k = ?1")
        local del = prepare(db, "DELETE FROM " .. t .. " WHERE rowid = ?1")
        local unkey = prepare(db, "DELETE FROM " .. keys .. " WHERE k = ?1")
        local addkey = prepare(db, "INSERT INTO " .. keys .. " (k, id) VALUES (?1, ?2)")
        local cols, marks = {}, {}
        for i, n in ipairs(ctx.fields) do cols[i] = quote_id(n); marks[i] = "?" .. i end
        local ins = prepare(db, "INSERT INTO " .. t .. " (" .. table.concat(cols, ", ")
          .. ") VALUES (" .. table.concat(marks, ", ") .. ")")
        local function step(st)
          local rc = lib.sqlite3_step(st)
          if rc ~= SQLITE_DONE and rc ~= SQLITE_ROW then
            error("sqlite: " .. ffi.string(lib.sqlite3_errmsg(db)), 0)
          end
          return rc
        end
        local function keytext(row)
          local k = {}
          for i, f in ipairs(ctx.key_fields) do k[i] = row[f] end
          return coco.json.encode(k)
        end
        local function delete(kt)   -- by key text; idempotent
          lib.sqlite3_bind_text(find, 1, kt, #kt, TRANSIENT)
          if step(find) == SQLITE_ROW then
            lib.sqlite3_bind_int64(del, 1, lib.sqlite3_column_int64(find, 0))
            step(del)
            lib.sqlite3_reset(del)
          end
          lib.sqlite3_reset(find)
          lib.sqlite3_bind_text(unkey, 1, kt, #kt, TRANSIENT)
          step(unkey)
          lib.sqlite3_reset(unkey)
        end
        for _, k in ipairs(deletes) do delete(keytext(k)) end
        for _, r in ipairs(upserts) do
          local kt = keytext(r)
          delete(kt)
          for i, n in ipairs(ctx.fields) do
            local v = r[n]
            v = type(v) == "table" and coco.json.encode(v) or tostring(v == nil and "" or v)
            lib.sqlite3_bind_text(ins, i, v, #v, TRANSIENT)
          end
          step(ins)
          lib.sqlite3_reset(ins)
          lib.sqlite3_bind_text(addkey, 1, kt, #kt, TRANSIENT)
          lib.sqlite3_bind_int64(addkey, 2, lib.sqlite3_last_insert_rowid(db))
          step(addkey)
          lib.sqlite3_reset(addkey)
        end
        for _, st in ipairs({ find, del, unkey, addkey, ins }) do lib.sqlite3_finalize(st) end
        exec(db, "COMMIT")
      end)
      if not ok then pcall(exec, db, "ROLLBACK") end
      lib.sqlite3_close_v2(db)
      if not ok then error(err, 0) end
    end }
end

-- Connections kept per Lua VM (each nginx worker thread VM has its own).
local conns = {}

-- The best k rows for the words of q (FTS5 query syntax is not exposed:
-- each word is quoted), with a snippet and the bm25 score.
function M.search(path, tbl, q, k)
  local c = conns[path .. "\0" .. tbl]
  if not c then
    local db, err = open(path, OPEN_RO)
    if not db then return nil, err end
    local ok, stmt = pcall(prepare, db, "SELECT filename, location, snippet(" .. quote_id(tbl)
      .. ", -1, '[', ']', '...', 12), bm25(" .. quote_id(tbl) .. ") FROM " .. quote_id(tbl)
      .. " WHERE " .. quote_id(tbl) .. " MATCH ?1 ORDER BY bm25(" .. quote_id(tbl) .. ") LIMIT ?2")
    if not ok then lib.sqlite3_close_v2(db) return nil, stmt end
    c = { db = db, stmt = stmt }
    conns[path .. "\0" .. tbl] = c
  end
  local words = {}
  for w in tostring(q or ""):gmatch("[%w_]+") do words[#words + 1] = '"' .. w .. '"' end
  if #words == 0 then return {} end
  local expr = table.concat(words, " ")
  lib.sqlite3_bind_text(c.stmt, 1, expr, #expr, TRANSIENT)
  lib.sqlite3_bind_int(c.stmt, 2, k or 10)
  local out = {}
  while true do
    local rc = lib.sqlite3_step(c.stmt)
    if rc ~= SQLITE_ROW then
      lib.sqlite3_reset(c.stmt)
      if rc ~= SQLITE_DONE then return nil, ffi.string(lib.sqlite3_errmsg(c.db)) end
      break
    end
    local function col(i)
      local p = lib.sqlite3_column_text(c.stmt, i)
      return p ~= nil and ffi.string(p, lib.sqlite3_column_bytes(c.stmt, i)) or nil
    end
    out[#out + 1] = { filename = col(0), location = col(1), snippet = col(2),
      score = -lib.sqlite3_column_double(c.stmt, 3) }
  end
  return out
end

return M
