-- make bench: the Postgres source.
--
--   luajit spec/bench/bench_pgsource.lua [BUILD_DIR]
--
-- A table of N support tickets (default 100,000; BENCH_PGSRC_ROWS=n): id
-- bigint primary key, title, a ~500-byte body, updated_at timestamptz as
-- the ordinal column, in Debian's PostgreSQL (fsync on). The flow reads it
-- into SQLite (id, title, body), with notification = {}:
--   1. initial load into an empty state and target (coco update, whole process);
--   2. a pass that changes nothing (coco update, whole process, and the pass
--      itself as --json's elapsed_ms);
--   3. live mode (coco -L): an UPDATE committed by a client (libpq through
--      FFI) -> the row's new title committed in SQLite (polled through FFI
--      every 0.2 ms), one random row at a time, BENCH_PGSRC_UPDATES times
--      (default 300); p50 and p99.
local C = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")
local root, BIN = C.start(arg[1])
local now, sleep_ms, q, sh, write = C.now, C.sleep_ms, C.q, C.run, C.write
local N = C.num("BENCH_PGSRC_ROWS", 100000)
local NU = C.num("BENCH_PGSRC_UPDATES", 300)
local OUT = root .. "/spec/bench/out/pgsrc"
local S = dofile(root .. "/spec/servers.lua")

local ffi = require("ffi")
ffi.cdef [[
typedef struct PGconn PGconn;
typedef struct PGresult PGresult;
PGconn *PQconnectdb(const char *conninfo);
int PQstatus(const PGconn *c);
PGresult *PQexec(PGconn *c, const char *q);
int PQresultStatus(const PGresult *r);
char *PQresultErrorMessage(const PGresult *r);
void PQclear(PGresult *r);
void PQfinish(PGconn *c);
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
int sqlite3_open_v2(const char *f, sqlite3 **db, int flags, const char *vfs);
int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **st, const char **tail);
int sqlite3_bind_int64(sqlite3_stmt *st, int i, long long v);
int sqlite3_step(sqlite3_stmt *st);
const unsigned char *sqlite3_column_text(sqlite3_stmt *st, int i);
int sqlite3_reset(sqlite3_stmt *st);
int sqlite3_finalize(sqlite3_stmt *st);
int sqlite3_close(sqlite3 *db);
int sqlite3_busy_timeout(sqlite3 *db, int ms);
]]
local pq = ffi.load("libpq.so.5")
local sq = ffi.load("libsqlite3.so.0")

print(string.format("coco bench: Postgres source, %d rows, binary %s", N, BIN))
local srv = assert(S.postgres{ durable = true })
local ok, why = pcall(function()
  local c = pq.PQconnectdb(srv.url)
  assert(pq.PQstatus(c) == 0, "cannot connect")
  local function exec(sql)
    local r = pq.PQexec(c, sql)
    local st = pq.PQresultStatus(r)
    if st ~= 1 and st ~= 2 then error(ffi.string(pq.PQresultErrorMessage(r))) end
    pq.PQclear(r)
  end
  exec([[CREATE TABLE tickets (id bigint PRIMARY KEY, title text NOT NULL, body text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now())]])
  exec(string.format([[INSERT INTO tickets (id, title, body)
    SELECT g, 'ticket ' || g, repeat(md5(g::text), 16) FROM generate_series(1, %d) g]], N))
  exec("VACUUM ANALYZE tickets")

  sh("rm -rf " .. q(OUT) .. " && mkdir -p " .. q(OUT))
  write(OUT .. "/flow.lua", [[
local coco = require("coco")
local sources, targets = coco.sources, coco.targets
return coco.flow("Tickets", function(flow, scope)
  scope.tickets = flow:add_source(sources.Postgres{ table_name = "tickets",
    ordinal_column = "updated_at", notification = {} })
  local out = scope:add_collector()
  scope.tickets:row(function(t) out:collect{ id = t.id, title = t.title, body = t.body } end)
  out:export("tickets", targets.SQLite{ path = "out.sqlite" }, { primary_key_fields = { "id" } })
end)
]])
  local env = "COCO_DATABASE_URL=" .. q(srv.url) .. " "
  -- wall seconds, the JSON stats, coco's CPU seconds (user + system)
  local function run(args)
    local t0 = now()
    local out = sh("cd " .. q(OUT) .. " && " .. env .. "/usr/bin/time -f '@@%U %S' " .. q(BIN)
      .. " update flow.lua --json " .. (args or ""))
    local u, s = out:match("@@([%d.]+) ([%d.]+)")
    return now() - t0, out:match("({.-})") or out, (tonumber(u) or 0) + (tonumber(s) or 0)
  end
  local load = C.load

  -- 1. initial load
  sh("cd " .. q(OUT) .. " && " .. env .. q(BIN) .. " setup flow.lua -f")
  local t, stats, cpu = run()
  print(string.format("initial load:      %7.0f ms  %6.0f rows/s (goal >= 20,000); coco CPU %.2f s, load average %s\n    %s",
    t * 1000, N / t, cpu, load(), stats))
  -- 2. no-change passes
  local times, pass, cpus = {}, {}, {}
  for _ = 1, 5 do
    t, stats, cpu = run()
    times[#times + 1], cpus[#cpus + 1] = t, cpu
    pass[#pass + 1] = tonumber(stats:match('"elapsed_ms":([%d.]+)')) or -1
  end
  table.sort(times)
  table.sort(pass)
  table.sort(cpus)
  print(string.format("no-change pass:    %7.0f ms whole process, %5.0f ms the pass (median of 5; goal <= 1000 ms); "
    .. "coco CPU %.2f s, load average %s\n    %s", times[3] * 1000, pass[3], cpus[3], load(), stats))

  -- 3. live: UPDATE committed -> target row committed
  local lf = OUT .. "/live.log"
  local pid = tonumber(sh("cd " .. q(OUT) .. " && " .. env .. "setsid " .. q(BIN) .. " flow.lua -L -q >" .. q(lf) .. " 2>&1 & echo $!"))
  local db = ffi.new("sqlite3*[1]")
  assert(sq.sqlite3_open_v2(OUT .. "/out.sqlite", db, 1, nil) == 0)   -- read only
  sq.sqlite3_busy_timeout(db[0], 1000)
  local st = ffi.new("sqlite3_stmt*[1]")
  assert(sq.sqlite3_prepare_v2(db[0], "SELECT title FROM Tickets__tickets WHERE id = ?", -1, st, nil) == 0)
  local function title(id)
    sq.sqlite3_bind_int64(st[0], 1, id)
    local v
    if sq.sqlite3_step(st[0]) == 100 then v = ffi.string(sq.sqlite3_column_text(st[0], 0)) end
    sq.sqlite3_reset(st[0])
    return v
  end
  -- wait until live mode listens (its initial pass is done)
  local deadline = now() + 120
  while now() < deadline do
    exec("UPDATE tickets SET title = 'warm', updated_at = now() WHERE id = 1")
    local t0 = now()
    while now() - t0 < 1 and title(1) ~= "warm" do sleep_ms(5) end
    if title(1) == "warm" then break end
  end
  local lat = {}
  local seed = 7
  for i = 1, NU do
    seed = (seed * 1103515245 + 12345) % 2147483648
    local id = seed % N + 1
    local want = "v" .. i
    exec(string.format("UPDATE tickets SET title = '%s', updated_at = now() WHERE id = %d", want, id))
    local t0 = now()
    while title(id) ~= want do
      if now() - t0 > 30 then error("live mode did not write row " .. id) end
      sleep_ms(0)
    end
    lat[#lat + 1] = (now() - t0) * 1000
    sleep_ms(10)
  end
  sq.sqlite3_finalize(st[0])
  sq.sqlite3_close(db[0])
  os.execute("kill " .. pid)
  table.sort(lat)
  local function pct(p) return lat[math.max(1, math.ceil(#lat * p))] end
  print(string.format("live UPDATE -> target row committed, %d updates: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, "
    .. "max %.1f ms (goal p50 <= 20, p99 <= 100); load average %s", #lat, pct(0.5), pct(0.9), pct(0.99), lat[#lat], load()))
  pq.PQfinish(c)
end)
srv:stop()
if not ok then error(why) end
