-- luajit search.lua "how are failed rows retried?" [K]
-- The K chunks of index.sqlite (run `coco flow.lua` first) closest to the
-- query by cosine similarity. The query is embedded by the same EmbedText
-- as the chunks (embedder.lua), through a one-row flow that is evaluated,
-- not stored.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
-- build/coco.so of this checkout (or COCO_SO_DIR), else an installed coco.so
package.cpath = (os.getenv("COCO_SO_DIR") or here .. "/../../build") .. "/?.so;" .. package.cpath
local ffi = require("ffi")
local coco = require("coco")

local query, k = arg[1], tonumber(arg[2] or "5")
if not query then
  io.stderr:write('usage: luajit search.lua "query" [K]\n')
  os.exit(2)
end

-- ---- embed the query -----------------------------------------------------
local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p '" .. tmp .. "/q'")
local f = assert(io.open(tmp .. "/q/query.txt", "wb"))
f:write(query)
f:close()

local embed = dofile(here .. "/embedder.lua")
local okf, qflow = pcall(coco.flow, "EmbedSearchQuery", function(flow, scope)
  scope.q = flow:add_source(coco.sources.LocalFile{ path = tmp .. "/q" })
  local out = scope:add_collector()
  scope.q:row(function(row)
    row.embedding = row.content:transform(embed)
    out:collect{ filename = row.filename, embedding = row.embedding }
  end)
  out:export("query", coco.targets.SQLite{ path = tmp .. "/q.sqlite" },
    { primary_key_fields = { "filename" } })
end)
if not okf then
  os.execute("rm -rf '" .. tmp .. "'")
  io.stderr:write("search.lua: ", tostring(qflow), "\n")
  os.exit(1)
end
local failed
local stats, err = qflow:evaluate{ output_dir = tmp .. "/out", use_cache = false,
  on_error = function(_, _, msg) failed = msg end }
qflow:close()
local line = stats and not failed and io.open(tmp .. "/out/query.jsonl"):read("*l")
os.execute("rm -rf '" .. tmp .. "'")
if not line then
  io.stderr:write("search.lua: ", tostring(failed or err), "\n")
  os.exit(1)
end
local q = {}
for x in line:match('"embedding":%[(.-)%]'):gmatch("[^,]+") do q[#q + 1] = tonumber(x) end

-- ---- rank the chunks -----------------------------------------------------
ffi.cdef[[
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
int sqlite3_open_v2(const char *name, sqlite3 **db, int flags, const char *vfs);
int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **st, const char **tail);
int sqlite3_step(sqlite3_stmt *st);
const unsigned char *sqlite3_column_text(sqlite3_stmt *st, int i);
const void *sqlite3_column_blob(sqlite3_stmt *st, int i);
int sqlite3_column_bytes(sqlite3_stmt *st, int i);
int sqlite3_finalize(sqlite3_stmt *st);
int sqlite3_close(sqlite3 *db);
const char *sqlite3_errmsg(sqlite3 *db);
]]
local ok, sq = pcall(ffi.load, "sqlite3")
if not ok then sq = ffi.load("libsqlite3.so.0") end
local db = ffi.new("sqlite3 *[1]")
local st = ffi.new("sqlite3_stmt *[1]")
if sq.sqlite3_open_v2(here .. "/index.sqlite", db, 1 --[[ READONLY ]], nil) ~= 0 or
   sq.sqlite3_prepare_v2(db[0], "SELECT filename, text, embedding FROM EmbedSearch__chunks", -1, st, nil) ~= 0 then
  io.stderr:write("search.lua: ", ffi.string(sq.sqlite3_errmsg(db[0])), " (run `coco flow.lua` first)\n")
  os.exit(1)
end
local qn = 0
for i = 1, #q do qn = qn + q[i] * q[i] end
local hits = {}
while sq.sqlite3_step(st[0]) == 100 --[[ ROW ]] do
  local n = sq.sqlite3_column_bytes(st[0], 2) / 4
  if n == #q then
    local v = ffi.cast("const float *", sq.sqlite3_column_blob(st[0], 2))
    local dot, vn = 0, 0
    for i = 0, n - 1 do
      dot = dot + v[i] * q[i + 1]
      vn = vn + v[i] * v[i]
    end
    hits[#hits + 1] = { score = dot / math.sqrt(vn * qn + 1e-30),
      filename = ffi.string(sq.sqlite3_column_text(st[0], 0)),
      text = ffi.string(sq.sqlite3_column_text(st[0], 1)) }
  end
end
sq.sqlite3_finalize(st[0])
sq.sqlite3_close(db[0])
table.sort(hits, function(a, b) return a.score > b.score end)
for i = 1, math.min(k, #hits) do
  local h = hits[i]
  local first = h.text:gsub("%s+", " "):sub(1, 100)
  print(string.format("%.3f  %-45s %s", h.score, h.filename, first))
end
