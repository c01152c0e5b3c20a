-- What the targets hold, read in-process through LuaJIT's FFI (no sqlite3
-- or psql process per look): every table with its columns and rows, each
-- row one comparable string.
local ffi = require("ffi")

ffi.cdef [[
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
int sqlite3_open_v2(const char *filename, sqlite3 **db, int flags, const char *vfs);
int sqlite3_close_v2(sqlite3 *db);
int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **st, const char **tail);
int sqlite3_step(sqlite3_stmt *st);
int sqlite3_finalize(sqlite3_stmt *st);
int sqlite3_column_count(sqlite3_stmt *st);
const char *sqlite3_column_name(sqlite3_stmt *st, int i);
int sqlite3_column_type(sqlite3_stmt *st, int i);
const unsigned char *sqlite3_column_text(sqlite3_stmt *st, int i);
const void *sqlite3_column_blob(sqlite3_stmt *st, int i);
int sqlite3_column_bytes(sqlite3_stmt *st, int i);
const char *sqlite3_errmsg(sqlite3 *db);
int sqlite3_busy_timeout(sqlite3 *db, int ms);

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;
PGconn *PQconnectdb(const char *conninfo);
int PQstatus(const PGconn *conn);
char *PQerrorMessage(const PGconn *conn);
void PQfinish(PGconn *conn);
PGresult *PQexec(PGconn *conn, const char *query);
int PQresultStatus(const PGresult *res);
char *PQresultErrorMessage(const PGresult *res);
int PQntuples(const PGresult *res);
int PQnfields(const PGresult *res);
char *PQfname(const PGresult *res, int i);
char *PQgetvalue(const PGresult *res, int r, int c);
int PQgetisnull(const PGresult *res, int r, int c);
void PQclear(PGresult *res);
]]

local M = {}

local sq = ffi.load("libsqlite3.so.0")
local pq_ok, pq = pcall(ffi.load, "libpq.so.5")

local SQLITE_ROW, SQLITE_DONE = 100, 101
local OPEN_READONLY = 1

local function hex(p, n)
  local b = ffi.string(p, n)
  return (b:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

-- Runs a query; returns a list of rows (each a list of "type:value"
-- strings) and the column names, or nil, message.
local function sqlite_rows(db, sql)
  local st = ffi.new("sqlite3_stmt *[1]")
  if sq.sqlite3_prepare_v2(db, sql, #sql, st, nil) ~= 0 then
    return nil, ffi.string(sq.sqlite3_errmsg(db))
  end
  local s = st[0]
  local ncol = sq.sqlite3_column_count(s)
  local names = {}
  for i = 0, ncol - 1 do names[i + 1] = ffi.string(sq.sqlite3_column_name(s, i)) end
  local rows = {}
  while true do
    local rc = sq.sqlite3_step(s)
    if rc == SQLITE_DONE then break end
    if rc ~= SQLITE_ROW then
      local e = ffi.string(sq.sqlite3_errmsg(db))
      sq.sqlite3_finalize(s)
      return nil, e
    end
    local row = {}
    for i = 0, ncol - 1 do
      local t = sq.sqlite3_column_type(s, i)
      local v
      if t == 5 then v = "null"
      elseif t == 4 then
        local n = sq.sqlite3_column_bytes(s, i)
        v = "blob:" .. (n > 0 and hex(sq.sqlite3_column_blob(s, i), n) or "")
      else
        local p = sq.sqlite3_column_text(s, i)
        v = (t == 1 and "int:" or t == 2 and "real:" or "text:") .. ffi.string(p, sq.sqlite3_column_bytes(s, i))
      end
      row[i + 1] = v
    end
    rows[#rows + 1] = row
  end
  sq.sqlite3_finalize(s)
  return rows, names
end

-- Everything in an SQLite file: { [table] = { cols = "a TEXT|b INTEGER",
-- rows = { sorted "col=type:value|..." strings } } }. A missing file is {}.
function M.sqlite_dump(path)
  local f = io.open(path, "rb")
  if not f then return {} end
  f:close()
  local pdb = ffi.new("sqlite3 *[1]")
  if sq.sqlite3_open_v2(path, pdb, OPEN_READONLY, nil) ~= 0 then
    error("sqlite: cannot open " .. path)
  end
  local db = pdb[0]
  sq.sqlite3_busy_timeout(db, 10000)
  local out = {}
  local tabs = assert(sqlite_rows(db,
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"))
  for _, t in ipairs(tabs) do
    local name = t[1]:sub(6)
    local cols = assert(sqlite_rows(db, "SELECT name, type, pk FROM pragma_table_info('" .. name .. "')"))
    local cl = {}
    for i, c in ipairs(cols) do cl[i] = c[1]:sub(6) .. " " .. c[2]:sub(6) .. " " .. c[3] end
    table.sort(cl)
    local rows, names = assert(sqlite_rows(db, 'SELECT * FROM "' .. name .. '"'))
    local rl = {}
    for i, r in ipairs(rows) do
      local parts = {}
      for j, v in ipairs(r) do parts[j] = names[j] .. "=" .. v end
      table.sort(parts)
      rl[i] = table.concat(parts, "|")
    end
    table.sort(rl)
    out[name] = { cols = table.concat(cl, ", "), rows = rl }
  end
  sq.sqlite3_close_v2(db)
  return out
end

-- ---- PostgreSQL ---------------------------------------------------------------
local PG = {}
PG.__index = PG

function M.pg_available() return pq_ok end

function M.pg_connect(url)
  if not pq_ok then return nil, "libpq is not installed" end
  local c = pq.PQconnectdb(url)
  if pq.PQstatus(c) ~= 0 then
    local e = ffi.string(pq.PQerrorMessage(c))
    pq.PQfinish(c)
    return nil, e
  end
  local self = setmetatable({ c = c, url = url }, PG)
  self:query("SET client_min_messages TO warning")
  return self
end

-- Runs sql; returns rows (lists of strings, "null" for NULL) and column
-- names, or raises.
function PG:query(sql)
  local r = pq.PQexec(self.c, sql)
  local st = pq.PQresultStatus(r)
  if st ~= 1 and st ~= 2 then   -- PGRES_COMMAND_OK, PGRES_TUPLES_OK
    local e = ffi.string(pq.PQresultErrorMessage(r))
    pq.PQclear(r)
    error("postgres: " .. e .. " in: " .. sql, 2)
  end
  local rows, names = {}, {}
  local nf = pq.PQnfields(r)
  for j = 0, nf - 1 do names[j + 1] = ffi.string(pq.PQfname(r, j)) end
  for i = 0, pq.PQntuples(r) - 1 do
    local row = {}
    for j = 0, nf - 1 do
      row[j + 1] = pq.PQgetisnull(r, i, j) == 1 and "null" or ("v:" .. ffi.string(pq.PQgetvalue(r, i, j)))
    end
    rows[#rows + 1] = row
  end
  pq.PQclear(r)
  return rows, names
end

function PG:close()
  if self.c then pq.PQfinish(self.c) end
  self.c = nil
end

-- Every table of schema public, as sqlite_dump gives them (the columns of
-- all tables in one catalog query).
function PG:dump()
  local out, cols = {}, {}
  local rows = self:query("SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) "
    .. "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    .. "JOIN pg_attribute a ON a.attrelid = c.oid "
    .. "WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped")
  for _, r in ipairs(rows) do
    local t = r[1]:sub(3)
    cols[t] = cols[t] or {}
    table.insert(cols[t], r[2]:sub(3) .. " " .. r[3]:sub(3))
  end
  for name, cl in pairs(cols) do
    table.sort(cl)
    local trows, names = self:query('SELECT * FROM public."' .. name .. '"')
    local rl = {}
    for i, r in ipairs(trows) do
      local parts = {}
      for j, v in ipairs(r) do parts[j] = names[j] .. "=" .. v end
      table.sort(parts)
      rl[i] = table.concat(parts, "|")
    end
    table.sort(rl)
    out[name] = { cols = table.concat(cl, ", "), rows = rl }
  end
  return out
end

-- Empties the database: every table of schema public is dropped.
function PG:reset()
  self:query("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
end

return M
