-- coco_search: index the current project live from inside Neovim (0.7+)
-- and search it. LocalFile -> code-aware SplitRecursively -> SQLite, kept
-- in sync by coco's live updater, which runs on Neovim's own loop: a
-- vim.loop poll on its fd, and each step does at most a few milliseconds
-- of work, so the editor never freezes, even while a large tree is first
-- indexed. The index and coco's state live under stdpath("cache")/coco/.
local M = {}

local uv = vim.uv or vim.loop
local api = vim.api

local state = {}      -- root, dir, flow, live, driver, db, done, stats, errors

local function notify(msg, level)
  vim.schedule(function() vim.notify("coco: " .. msg, level or vim.log.levels.INFO) end)
end

-- The flow, written as a file so that `coco show` and `coco update` work on it too.
local FLOW = [[
-- written by coco_search (examples/neovim): the index of %s
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets
return coco.flow("CocoSearch", function(flow, scope)
  scope.files = flow:add_source(sources.LocalFile{ path = %q,
    excluded_patterns = %s, max_file_size = %d }, { refresh_interval = 300 })
  local chunks = scope:add_collector()
  scope.files:row(function(file)
    file.language = file.filename:transform(functions.DetectProgrammingLanguage{})
    file.chunks = file.content:transform(functions.SplitRecursively{},
      { language = file.language, chunk_size = %d, min_chunk_size = %d })
    file.chunks:row(function(chunk)
      chunks:collect{ filename = file.filename, location = chunk.location, text = chunk.text,
        line = chunk.start.line }
    end)
  end)
  chunks:export("chunks", targets.SQLite{ path = "index.sqlite", table_name = "chunks" },
    { primary_key_fields = { "filename", "location" } })
end)
]]

local function list_literal(t)
  local out = {}
  for i, s in ipairs(t) do out[i] = string.format("%q", s) end
  return "{ " .. table.concat(out, ", ") .. " }"
end

-- ---- SQLite, read-only, through LuaJIT's FFI ---------------------------------
local sqlite
local function db_open(path)
  local ffi = require("ffi")
  if not sqlite then
    pcall(ffi.cdef, [[
      typedef struct sqlite3 sqlite3; typedef struct sqlite3_stmt sqlite3_stmt;
      int sqlite3_open_v2(const char *f, sqlite3 **db, int flags, const char *vfs);
      int sqlite3_close_v2(sqlite3 *db);
      const char *sqlite3_errmsg(sqlite3 *db);
      int sqlite3_busy_timeout(sqlite3 *db, int ms);
      int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **s, const char **tail);
      int sqlite3_bind_text(sqlite3_stmt *s, int i, const char *t, int n, void *d);
      int sqlite3_bind_int(sqlite3_stmt *s, int i, int v);
      int sqlite3_step(sqlite3_stmt *s);
      int sqlite3_reset(sqlite3_stmt *s);
      int sqlite3_finalize(sqlite3_stmt *s);
      const unsigned char *sqlite3_column_text(sqlite3_stmt *s, int i);
      int sqlite3_column_int(sqlite3_stmt *s, int i);
    ]])
    sqlite = ffi.load("libsqlite3.so.0")
  end
  local p = ffi.new("sqlite3 *[1]")
  if sqlite.sqlite3_open_v2(path, p, 1, nil) ~= 0 then    -- SQLITE_OPEN_READONLY
    if p[0] ~= nil then sqlite.sqlite3_close_v2(p[0]) end
    return nil
  end
  sqlite.sqlite3_busy_timeout(p[0], 1000)
  return { db = p[0], ffi = ffi }
end

local function db_close(h)
  if h then sqlite.sqlite3_close_v2(h.db) end
end

-- Chunks whose text contains every word of q: { {filename, line, text} }.
local function query(h, q, limit)
  local ffi = h.ffi
  local words, where = {}, {}
  for w in q:gmatch("%S+") do words[#words + 1] = w:lower() end
  if #words == 0 then return {} end
  for i = 1, #words do where[i] = "instr(lower(text), ?" .. i .. ") > 0" end
  local sql = "SELECT filename, line, text FROM chunks WHERE " .. table.concat(where, " AND ")
    .. " ORDER BY filename, line LIMIT " .. (limit or 200)
  local ps = ffi.new("sqlite3_stmt *[1]")
  if sqlite.sqlite3_prepare_v2(h.db, sql, #sql, ps, nil) ~= 0 then
    return nil, ffi.string(sqlite.sqlite3_errmsg(h.db))
  end
  local st = ps[0]
  for i, w in ipairs(words) do sqlite.sqlite3_bind_text(st, i, w, #w, ffi.cast("void *", -1)) end
  local out = {}
  while sqlite.sqlite3_step(st) == 100 do
    out[#out + 1] = { filename = ffi.string(sqlite.sqlite3_column_text(st, 0)),
      line = sqlite.sqlite3_column_int(st, 1), text = ffi.string(sqlite.sqlite3_column_text(st, 2)) }
  end
  sqlite.sqlite3_finalize(st)
  return out
end

-- ---- the live index --------------------------------------------------------------

-- setup{ root = cwd, cache = stdpath("cache") .. "/coco", chunk_size = 1500,
--        excluded_patterns = {...}, max_file_size = 1 MB, budget_ms = 5, autostart = false }
function M.setup(opts)
  M.opts = vim.tbl_extend("force", {
    cache = vim.fn.stdpath("cache") .. "/coco",
    chunk_size = 1500,
    excluded_patterns = { "**/.*", "**/node_modules", "**/target", "**/build", "**/*.min.js" },
    max_file_size = 1024 * 1024,
    budget_ms = 5,
  }, opts or {})
  if M.opts.autostart then M.start() end
end

-- Start indexing root (default: the current directory) and keep it fresh.
function M.start(root)
  if state.live then return true end
  M.opts = M.opts or {}
  if not M.opts.cache then M.setup(M.opts) end
  local ok, coco = pcall(require, "coco")
  if not ok then
    notify("cannot load coco.so (install coco, or add its build dir to package.cpath): " .. coco,
      vim.log.levels.ERROR)
    return false
  end
  root = vim.fn.fnamemodify(root or M.opts.root or uv.cwd(), ":p"):gsub("/$", "")
  local dir = M.opts.cache .. "/" .. vim.fn.sha256(root):sub(1, 16)
  vim.fn.mkdir(dir, "p")
  local f = assert(io.open(dir .. "/flow.lua", "w"))
  f:write(FLOW:format(root, root, list_literal(M.opts.excluded_patterns), M.opts.max_file_size,
    M.opts.chunk_size, math.floor(M.opts.chunk_size / 3)))
  f:close()
  local flow, err = coco.load(dir .. "/flow.lua")
  if not flow then notify(err, vim.log.levels.ERROR) return false end
  state = { root = root, dir = dir, flow = flow, stats = {}, errors = 0, t0 = uv.hrtime() }
  local live, lerr = flow:live{ budget_ms = M.opts.budget_ms,
    on_batch = function(b)
      state.stats = b
      if not state.done then
        state.done = true
        state.initial_ms = (uv.hrtime() - state.t0) / 1e6
        notify(string.format("indexed %s: %d files in %.1f s", root, b.added + b.updated + b.unchanged,
          state.initial_ms / 1000))
      end
    end,
    on_error = function(_, key, msg) state.errors = state.errors + 1 state.last_error = key .. ": " .. msg end,
    on_warning = function(msg) notify(msg, vim.log.levels.WARN) end }
  if not live then
    flow:close()
    state = {}
    notify(lerr, vim.log.levels.ERROR)
    return false
  end
  state.live = live
  state.driver = coco.uv_attach(live, uv, {
    on_error = function(msg) notify(msg, vim.log.levels.ERROR) end })
  return true
end

function M.stop()
  if state.driver then state.driver.stop() end
  if state.live then state.live:close() end
  if state.flow then state.flow:close() end
  db_close(state.db)
  state = {}
end

function M.status()
  if not state.live then return { running = false } end
  local totals = state.live:stats()[1] or {}
  return { running = true, root = state.root, dir = state.dir, initial_done = state.done == true,
    initial_ms = state.initial_ms, files = totals.added and (totals.added - totals.deleted) or 0,
    errors = state.errors, last_error = state.last_error, pending = state.live:timeout() == 0 }
end

-- Search the index; fills the quickfix list and returns the hits.
function M.search(q, opts)
  opts = opts or {}
  if not state.live and not M.start() then return nil end
  if not state.db then state.db = db_open(state.dir .. "/index.sqlite") end
  if not state.db then
    notify("the index is not ready yet", vim.log.levels.WARN)
    return {}
  end
  local hits, err = query(state.db, q, opts.limit)
  if not hits then notify(err, vim.log.levels.ERROR) return nil end
  local items = {}
  for _, h in ipairs(hits) do
    items[#items + 1] = { filename = state.root .. "/" .. h.filename, lnum = h.line,
      text = (h.text:match("[^\n]*" .. vim.pesc(q:match("%S+") or "") .. "[^\n]*") or h.text:match("[^\n]*")) }
  end
  vim.fn.setqflist({}, " ", { title = "CocoSearch " .. q, items = items })
  if not opts.silent then
    if #items > 0 then vim.cmd("copen") else notify("no match for " .. q) end
  end
  return hits
end

return M
