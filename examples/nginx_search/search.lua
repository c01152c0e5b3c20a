-- Full-text search over the SQLite export of flow.lua, through LuaJIT's FFI
-- (libsqlite3), read-only:
--   search.fts(path, table, q, k) -> { { filename, location, snippet, score }, ... }
--       the best k chunks for the words of q, by bm25, from the FTS5 index
--       the SQLite target keeps beside the table (full_text_fields)
--   search.query(prefix, q, k) -> rows | nil, msg
--       flow:query("search", q, { k = k }) on the flow in prefix; what
--       nginx's /search runs in a worker thread (ngx.run_worker_thread),
--       each thread's Lua VM loading the flow once
local ffi = require("ffi")

pcall(ffi.cdef, [[
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
int sqlite3_open_v2(const char *filename, sqlite3 **db, int flags, const char *vfs);
int sqlite3_close_v2(sqlite3 *db);
const char *sqlite3_errmsg(sqlite3 *db);
int sqlite3_busy_timeout(sqlite3 *db, int ms);
int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **stmt, const char **tail);
int sqlite3_bind_text(sqlite3_stmt *s, int i, const char *text, int n, void *destructor);
int sqlite3_bind_int(sqlite3_stmt *s, int i, int v);
int sqlite3_bind_int64(sqlite3_stmt *s, int i, int64_t v);
int sqlite3_step(sqlite3_stmt *s);
int sqlite3_reset(sqlite3_stmt *s);
int sqlite3_finalize(sqlite3_stmt *s);
int64_t sqlite3_column_int64(sqlite3_stmt *s, int i);
const unsigned char *sqlite3_column_text(sqlite3_stmt *s, int i);
int sqlite3_column_bytes(sqlite3_stmt *s, int i);
double sqlite3_column_double(sqlite3_stmt *s, int i);
]])

local lib = ffi.load("libsqlite3.so.0")
local SQLITE_ROW, SQLITE_DONE, OPEN_RO = 100, 101, 1
local TRANSIENT = ffi.cast("void *", ffi.new("intptr_t", -1))   -- SQLITE_TRANSIENT

local M = {}

local function quote_id(s) return '"' .. s:gsub('"', '""') .. '"' end

-- One read-only connection and its statements per database and table, per
-- Lua VM (each nginx worker thread has its own VM).
local conns = {}

local function connect(path, tbl)
  local key = path .. "\0" .. tbl
  if conns[key] then return conns[key] end
  local pdb = ffi.new("sqlite3 *[1]")
  if lib.sqlite3_open_v2(path, pdb, OPEN_RO, nil) ~= 0 then
    local msg = pdb[0] ~= nil and ffi.string(lib.sqlite3_errmsg(pdb[0])) or "cannot open"
    if pdb[0] ~= nil then lib.sqlite3_close_v2(pdb[0]) end
    return nil, path .. ": " .. msg
  end
  local db = pdb[0]
  lib.sqlite3_busy_timeout(db, 2000)
  local c = { db = db }
  local fts, t = quote_id(tbl .. "__fts"), quote_id(tbl)
  -- the k best rowids first (bm25 alone, cheap even when a word is in
  -- every chunk), then a snippet and the key of each
  local sql = {
    -- (ORDER BY bm25() rather than rank: measured ~25 % faster)
    top = "SELECT rowid, bm25(" .. fts .. ") AS s FROM " .. fts .. " WHERE " .. fts
      .. " MATCH ?1 ORDER BY s LIMIT ?2",
    snip = "SELECT snippet(" .. fts .. ", -1, '[', ']', '...', 12) FROM " .. fts
      .. " WHERE " .. fts .. " MATCH ?1 AND rowid = ?2",
    row = "SELECT filename, location FROM " .. t .. " WHERE rowid = ?1",
  }
  for name, s in pairs(sql) do
    local ps = ffi.new("sqlite3_stmt *[1]")
    if lib.sqlite3_prepare_v2(db, s, #s, ps, nil) ~= 0 then
      local msg = ffi.string(lib.sqlite3_errmsg(db))
      for _, st in pairs(c) do if st ~= db then lib.sqlite3_finalize(st) end end
      lib.sqlite3_close_v2(db)
      return nil, path .. ": " .. msg
    end
    c[name] = ps[0]
  end
  -- closed when the VM goes (close_v2 waits for the statements' finalizers)
  for name, st in pairs(c) do
    c[name] = st == db and ffi.gc(db, lib.sqlite3_close_v2) or ffi.gc(st, lib.sqlite3_finalize)
  end
  conns[key] = c
  return c
end

local function text(st, i)
  local p = lib.sqlite3_column_text(st, i)
  return p ~= nil and ffi.string(p, lib.sqlite3_column_bytes(st, i)) or nil
end

-- FTS5 query syntax is not exposed: each word is quoted, all must match.
function M.fts(path, tbl, q, k)
  local words = {}
  for w in tostring(q or ""):gmatch("[%w_]+") do words[#words + 1] = '"' .. w .. '"' end
  if #words == 0 then return {} end
  local c, err = connect(path, tbl)
  if not c then return nil, err end
  local expr = table.concat(words, " ")
  local hits, rc = {}, nil
  lib.sqlite3_bind_text(c.top, 1, expr, #expr, TRANSIENT)
  lib.sqlite3_bind_int(c.top, 2, k or 10)
  while true do
    rc = lib.sqlite3_step(c.top)
    if rc ~= SQLITE_ROW then break end
    hits[#hits + 1] = { rowid = lib.sqlite3_column_int64(c.top, 0), score = -lib.sqlite3_column_double(c.top, 1) }
  end
  lib.sqlite3_reset(c.top)
  if rc ~= SQLITE_DONE then return nil, ffi.string(lib.sqlite3_errmsg(c.db)) end
  -- (the rows are read in one snapshot each; a chunk deleted meanwhile is skipped)
  local out = {}
  for _, h in ipairs(hits) do
    lib.sqlite3_bind_int64(c.row, 1, h.rowid)
    if lib.sqlite3_step(c.row) == SQLITE_ROW then
      local r = { filename = text(c.row, 0), location = text(c.row, 1), score = h.score }
      lib.sqlite3_bind_text(c.snip, 1, expr, #expr, TRANSIENT)
      lib.sqlite3_bind_int64(c.snip, 2, h.rowid)
      if lib.sqlite3_step(c.snip) == SQLITE_ROW then r.snippet = text(c.snip, 0) end
      lib.sqlite3_reset(c.snip)
      out[#out + 1] = r
    end
    lib.sqlite3_reset(c.row)
  end
  return out
end

-- The flow of each Lua VM, loaded once.
local flow

function M.query(prefix, q, k)
  if not flow then
    local err
    flow, err = require("coco").load(prefix .. "flow.lua")
    if not flow then return nil, err end
  end
  return flow:query("search", q, { k = k })
end

return M
