-- coco server's figures (issue 17):
--   idle RSS a server adds beside a live updater, and its CPU while idle;
--   a row's page data (/api/.../rows/{key}) for a 4 KB markdown file with
--   cached results, p50/p99 over keep-alive HTTP on 127.0.0.1;
--   a page of 100 source rows out of 100,000, p50/p99;
--   the web page's size (HTML, JS, CSS);
--   live latency (close() -> committed row, p50/p99) of `coco server -L`
--   with and without a client polling /api/flows/{flow}, a page of source
--   rows and /metrics at 10 Hz while it holds /api/events open (rounds
--   interleaved, so a loaded machine weighs on both alike).
--   luajit spec/bench/bench_server.lua [build-dir] [idle-seconds]
--   COCO_BENCH_PARTS="page,idle,rows,live" picks the parts (default all:
--   page = the web page's size, idle = idle RSS/CPU and the row page,
--   rows = 100 of 100,000, live = the latency under polling).
--   (`... [build-dir] --poll ADDR FLOW SOURCE` is the polling client
--   the live part starts.)
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")
local root, bin = common.start(arg[1])
local here, sh, now = common.here, common.sh, common.now
local ffi = require("ffi")
local IDLE = tonumber(arg[2] ~= "--poll" and arg[2] or 60)
local PARTS = os.getenv("COCO_BENCH_PARTS") or "page,idle,rows,live"
local function want(p) return (("," .. PARTS .. ","):find("," .. p .. ",", 1, true)) ~= nil end

ffi.cdef[[
int bs_socket(int domain, int type, int protocol) __asm__("socket");
int bs_close(int fd) __asm__("close");
long bs_write(int fd, const char *buf, unsigned long n) __asm__("write");
long bs_read(int fd, char *buf, unsigned long n) __asm__("read");
struct bs_sin { unsigned short family; unsigned short port; unsigned int addr; char zero[8]; };
int bs_connect(int fd, const struct bs_sin *a, unsigned int len) __asm__("connect");
long bs_recv(int fd, char *buf, unsigned long n, int flags) __asm__("recv");
int bs_usleep(unsigned int usec) __asm__("usleep");
]]
local C = ffi.C

local function connect(addr)
  local ip, port = addr:match("^([%d%.]+):(%d+)$")
  local a, b, c, d = ip:match("(%d+)%.(%d+)%.(%d+)%.(%d+)")
  local sin = ffi.new("struct bs_sin")
  sin.family = 2
  port = tonumber(port)
  sin.port = bit.bor(bit.rshift(port, 8), bit.lshift(bit.band(port, 255), 8))
  sin.addr = tonumber(a) + tonumber(b) * 256 + tonumber(c) * 65536 + tonumber(d) * 16777216
  local fd = C.bs_socket(2, 1, 0)
  assert(C.bs_connect(fd, sin, ffi.sizeof(sin)) == 0, "connect")
  return fd
end

-- A keep-alive HTTP/1.1 client over one socket.
local function client(addr)
  local fd = connect(addr)
  local buf = ffi.new("char[65536]")
  local pending = ""
  return {
    get = function(path)
      local req = "GET " .. path .. " HTTP/1.1\r\nHost: " .. addr .. "\r\n\r\n"
      C.bs_write(fd, req, #req)
      local data = pending
      while true do
        local hend = data:find("\r\n\r\n", 1, true)
        if hend then
          local len = tonumber(data:sub(1, hend):match("[Cc]ontent%-[Ll]ength:%s*(%d+)"))
          if len and #data >= hend + 3 + len then
            pending = data:sub(hend + 4 + len)
            return tonumber(data:match("^HTTP/1%.1 (%d+)")), data:sub(hend + 4, hend + 3 + len)
          end
        end
        local n = tonumber(C.bs_read(fd, buf, 65536))
        assert(n > 0, "connection closed")
        data = data .. ffi.string(buf, n)
      end
    end,
    close = function() C.bs_close(fd) end,
  }
end

local function pct(t, p)
  table.sort(t)
  return t[math.max(1, math.ceil(#t * p))]
end

-- kB resident (Rss), and of it: file pages no one wrote (Shared_Clean +
-- Private_Clean: code and constants of the binary and its libraries,
-- shared with every process mapping them) and the rest (written pages:
-- heap, stacks, relocated data), from /proc/PID/smaps_rollup
local function mem_kb(pid)
  local s = sh("cat /proc/" .. pid .. "/smaps_rollup")
  local function f(k) return tonumber(s:match("\n" .. k .. ":%s+(%d+)")) or 0 end
  local rss = f("Rss")
  local clean = f("Shared_Clean") + f("Private_Clean")
  return { rss = rss, clean = clean, written = rss - clean }
end

local function cpu_s(pid)
  local s = sh("cat /proc/" .. pid .. "/stat")
  local rest = s:match("%)%s+(.*)$")
  local f = {}
  for x in rest:gmatch("%S+") do f[#f + 1] = x end
  return (tonumber(f[12]) + tonumber(f[13])) / 100
end

-- start `cmd` in dir in the background; returns its pid and stdout file
local function start(dir, cmd)
  local out = dir .. "/out." .. math.random(1e9)
  local pid = sh(string.format("cd %s && (%s >%s 2>&1 </dev/null & echo $!)", dir, cmd, out)):match("%d+")
  return pid, out
end

local function wait_line(file, pat)
  local t0 = now()
  while now() - t0 < 120 do
    local f = io.open(file)
    local s = f and f:read("*a") or ""
    if f then f:close() end
    local m = s:match(pat)
    if m then return m end
    sh("sleep 0.05")
  end
  error("timed out waiting for " .. pat .. " in " .. file)
end

local writefile = common.write

-- ---- the polling client of the live part (its own process) ------------------
if arg[2] == "--poll" then
  local addr, flowname, source = arg[3], arg[4], arg[5]
  local cl = client(addr)
  local ev = connect(addr)
  local req = "GET /api/events HTTP/1.1\r\nHost: " .. addr .. "\r\n\r\n"
  C.bs_write(ev, req, #req)
  local buf = ffi.new("char[65536]")
  local paths = {}
  local only = os.getenv("BENCH_SERVER_POLL") or "flow,rows,metrics"   -- which of them
  for p, path in pairs({ flow = "/api/flows/" .. flowname, metrics = "/metrics",
      rows = "/api/flows/" .. flowname .. "/sources/" .. source .. "/rows?limit=100" }) do
    if (("," .. only .. ","):find("," .. p .. ",", 1, true)) then paths[#paths + 1] = path end
  end
  local next_t = now()
  while true do
    for _, p in ipairs(paths) do
      local code, body = cl.get(p)
      assert(code == 200, p .. ": " .. tostring(code) .. " " .. body:sub(1, 200))
    end
    while C.bs_recv(ev, buf, 65536, 0x40) > 0 do end   -- MSG_DONTWAIT: drain the events
    next_t = next_t + 0.1                              -- 10 Hz
    local d = next_t - now()
    if d > 0 then C.bs_usleep(d * 1e6) end
  end
end

local dir = sh("mktemp -d /tmp/coco-bench-server.XXXXXX"):gsub("%s+$", "")
local function cleanup() sh("rm -rf " .. dir) end

-- ---- the web page's size --------------------------------------------------------
if want("page") then
  local size = 0
  for _, f in ipairs({ "index.html", "app.js", "app.css" }) do
    size = size + #(io.open(root .. "/lua/web/" .. f):read("*a"))
  end
  print(string.format("web page (HTML + JS + CSS): %.1f KB (goal <= 150 KB)", size / 1024))
end

-- ---- a 4 KB markdown file with cached results --------------------------------------
local flow = [[
local coco = require("coco")
local Tag = coco.fn("Tag", { returns = "str", cache = true, version = 1 }, function(t) return t:sub(1, 40) end)
return coco.flow("Bench", function(flow, scope)
  scope.documents = flow:add_source(coco.sources.LocalFile{ path = "docs" })
  local c = scope:add_collector()
  scope.documents:row(function(doc)
    doc.chunks = doc.content:transform(coco.functions.SplitRecursively{},
      { language = "markdown", chunk_size = 400, chunk_overlap = 50 })
    doc.chunks:row(function(chunk)
      chunk.tag = chunk.text:transform(Tag)
      c:collect{ filename = doc.filename, location = chunk.location, tag = chunk.tag }
    end)
  end)
  c:export("chunks", coco.targets.SQLite{ path = "index.sqlite" }, { primary_key_fields = { "filename", "location" } })
end)
]]

if want("idle") then
  sh("mkdir -p " .. dir .. "/a/docs")
  writefile(dir .. "/a/flow.lua", flow)
  local para = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore. "
  local md = { "# A document of four kilobytes\n" }
  local n = #md[1]
  local sec = 1
  while n < 4096 - 120 do
    local s = (sec % 3 == 1) and string.format("\n## Section %d\n\n", sec) or ""
    s = s .. para .. para .. "\n"
    md[#md + 1] = s
    n = n + #s
    sec = sec + 1
  end
  writefile(dir .. "/a/docs/doc.md", table.concat(md))
  sh(string.format("cd %s/a && %s flow.lua -q", dir, bin))

  -- idle: the live updater alone, then with the server
  local function idle_of(cmd, pat)
    local pid, out = start(dir .. "/a", cmd)
    wait_line(out, pat)
    sh("sleep 2")
    local m0, c0 = mem_kb(pid), cpu_s(pid)
    sh("sleep " .. IDLE)
    local m1, c1 = mem_kb(pid), cpu_s(pid)
    return pid, out, m1.rss > m0.rss and m1 or m0, c1 - c0
  end
  local lpid, _, live_m, live_cpu = idle_of(bin .. " flow.lua -L", "rows:")
  sh("kill " .. lpid)
  sh("sleep 0.5")
  local spid, sout, srv_m, srv_cpu = idle_of(bin .. " server flow.lua -L --listen 127.0.0.1:0", "http://([%d%.]+:%d+)/")
  print(string.format("idle over %d s: live updater %.1f MB RSS, %.2f s CPU; with the server %.1f MB RSS (+%.2f MB, goal <= 2 MB), %.2f s CPU (goal 0)",
    IDLE, live_m.rss / 1024, live_cpu, srv_m.rss / 1024, (srv_m.rss - live_m.rss) / 1024, srv_cpu))
  print(string.format("  of the +%.2f MB: +%.2f MB clean file pages (code and constants of libmicrohttpd, the GnuTLS it links and their libraries, shared with other processes), +%.2f MB written (heap, relocated data)",
    (srv_m.rss - live_m.rss) / 1024, (srv_m.clean - live_m.clean) / 1024, (srv_m.written - live_m.written) / 1024))

  local addr = wait_line(sout, "http://([%d%.]+:%d+)/")
  local cl = client(addr)
  local times = {}
  for i = 1, 320 do
    local t0 = now()
    local code, body = cl.get("/api/flows/Bench/sources/documents/rows/doc.md")
    assert(code == 200, body)
    if i > 20 then times[#times + 1] = (now() - t0) * 1e3 end
    if i == 1 then
      assert(body:find('"chunks"', 1, true), body:sub(1, 200))
      print(string.format("row page: %d bytes of JSON for a %d-byte file", #body, n))
    end
  end
  print(string.format("row page of a 4 KB markdown file (cached results): p50 %.2f ms, p99 %.2f ms (goal p50 <= 5 ms)",
    pct(times, 0.5), pct(times, 0.99)))
  cl.close()
  sh("kill " .. spid)
end

-- ---- a page of 100 source rows out of 100,000 -------------------------------------------
if want("rows") then
  sh("mkdir -p " .. dir .. "/b/docs")
  writefile(dir .. "/b/flow.lua", (flow:gsub('"Bench"', '"Big"')))
  local t0 = now()
  for i = 1, 100000 do
    local f = io.open(string.format("%s/b/docs/f%06d.md", dir, i), "w")
    f:write("# file ", i, "\n\nsome text\n")
    f:close()
  end
  sh(string.format("cd %s/b && %s flow.lua -q", dir, bin))
  print(string.format("100,000 files written and indexed in %.1f s", now() - t0))
  local bpid, bout = start(dir .. "/b", bin .. " server flow.lua --listen 127.0.0.1:0")
  local baddr = wait_line(bout, "http://([%d%.]+:%d+)/")
  local cl = client(baddr)
  local times = {}
  for i = 1, 220 do
    local after = string.format("f%06d.md", (i * 397) % 99800 + 1)
    local s0 = now()
    local code, body = cl.get("/api/flows/Big/sources/documents/rows?limit=100&after=" .. after)
    assert(code == 200, body)
    local _, rows = body:gsub('"key_text"', "")
    assert(rows == 100, "expected 100 rows, got " .. rows)
    if i > 20 then times[#times + 1] = (now() - s0) * 1e3 end
  end
  print(string.format("a page of 100 rows out of 100,000: p50 %.2f ms, p99 %.2f ms (goal <= 10 ms)",
    pct(times, 0.5), pct(times, 0.99)))
  cl.close()
  sh("kill " .. bpid)
end

-- ---- live latency while a client polls the API ------------------------------------------
-- `coco server -L` on 1,000 files (LocalFile -> SplitRecursively -> SQLite);
-- ROUNDS rounds of CHANGES edits at RATE/s, every other round with the
-- polling client running; latency: close() -> the new text visible to
-- another SQLite connection.
if want("live") then
  local NFILES = common.num("BENCH_SERVER_FILES", 1000)
  local RATE = common.num("BENCH_SERVER_RATE", 20)
  local CHANGES = common.num("BENCH_SERVER_CHANGES", 50)
  local ROUNDS = common.num("BENCH_SERVER_ROUNDS", 10)
  local d = dir .. "/c"
  sh("mkdir -p " .. d)
  sh(string.format("luajit %s/gen_corpus.lua %s/corpus %d 4096 42 >/dev/null", here, d, NFILES))
  sh("mkdir -p " .. d .. "/corpus/live")
  for i = 1, 20 do writefile(string.format("%s/corpus/live/f%02d.md", d, i), "# Live " .. i .. "\n\nstart\n") end
  writefile(d .. "/flow.lua", common.flow("Live"))
  sh(string.format("cd %s && %s flow.lua -q", d, bin))
  local pid, out = start(d, bin .. " server flow.lua -L --listen 127.0.0.1:0")
  local addr = wait_line(out, "http://([%d%.]+:%d+)/")
  sh("sleep 1")
  local sq = ffi.load("sqlite3")
  ffi.cdef [[
  typedef struct sqlite3 sqlite3;
  typedef struct sqlite3_stmt sqlite3_stmt;
  int sqlite3_open_v2(const char *filename, sqlite3 **db, int flags, const char *vfs);
  int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **stmt, const char **tail);
  int sqlite3_bind_text(sqlite3_stmt *stmt, int i, const char *s, int n, void *destroy);
  int sqlite3_step(sqlite3_stmt *stmt);
  int sqlite3_reset(sqlite3_stmt *stmt);
  const unsigned char *sqlite3_column_text(sqlite3_stmt *stmt, int col);
  int sqlite3_busy_timeout(sqlite3 *db, int ms);
  int sqlite3_finalize(sqlite3_stmt *stmt);
  int sqlite3_close(sqlite3 *db);
  ]]
  local db = ffi.new("sqlite3*[1]")
  assert(sq.sqlite3_open_v2(d .. "/index.sqlite", db, 1, nil) == 0)
  sq.sqlite3_busy_timeout(db[0], 1000)
  local st = ffi.new("sqlite3_stmt*[1]")
  assert(sq.sqlite3_prepare_v2(db[0], "SELECT filename, text FROM Live__chunks WHERE filename >= 'live/' AND filename < 'live0'",
    -1, st, nil) == 0)
  local seq = 0
  local lat = { [false] = {}, [true] = {} }
  local lost = 0
  local cpu = { [false] = 0, [true] = 0 }
  local secs = { [false] = 0, [true] = 0 }
  for round = 1, ROUNDS do
    local polling = round % 2 == 0
    local ppid
    if polling then
      ppid = sh(string.format("(luajit %s/bench_server.lua %s --poll %s Live documents >/dev/null 2>&1 </dev/null & echo $!)",
        here, arg[1] or "build", addr)):match("%d+")
      sh("sleep 0.5")
    end
    local pending = {}
    local t_start, c_start = now(), cpu_s(pid)
    for i = 1, CHANGES do
      seq = seq + 1
      local name = string.format("live/f%02d.md", seq % 20 + 1)
      local marker = "marker-" .. seq
      local fd = io.open(d .. "/corpus/" .. name, "w")
      fd:write("# Live\n\nA paragraph with " .. marker .. ".\n")
      fd:close()
      pending[name] = { t = now(), want = marker }
      local due = t_start + i / RATE
      repeat
        local rows = {}
        while sq.sqlite3_step(st[0]) == 100 do
          rows[ffi.string(sq.sqlite3_column_text(st[0], 0))] = ffi.string(sq.sqlite3_column_text(st[0], 1))
        end
        sq.sqlite3_reset(st[0])
        local t = now()
        for nm, p in pairs(pending) do
          if rows[nm] and rows[nm]:find(p.want, 1, true) then
            local l = lat[polling]
            l[#l + 1] = (t - p.t) * 1e3
            pending[nm] = nil
          end
        end
        C.bs_usleep(200)
      until now() >= due and (i < CHANGES or not next(pending) or now() - due > 5)
    end
    for _ in pairs(pending) do lost = lost + 1 end
    cpu[polling] = cpu[polling] + cpu_s(pid) - c_start
    secs[polling] = secs[polling] + now() - t_start
    if ppid then sh("kill " .. ppid) end
  end
  sq.sqlite3_finalize(st[0])
  sq.sqlite3_close(db[0])
  sh("kill " .. pid)
  local q, p = lat[false], lat[true]
  print(string.format("close() -> committed row, coco server -L, %d files, %d changes/s, %d rounds of %d interleaved: "
    .. "quiet p50 %.1f ms, p99 %.1f ms (server CPU %.1f%%); polled at 10 Hz (flow, rows, /metrics, /api/events held open) "
    .. "p50 %.1f ms, p99 %.1f ms (server CPU %.1f%%) (goal: p50 unchanged); %d never seen",
    NFILES, RATE, ROUNDS, CHANGES, pct(q, 0.5) or 0, pct(q, 0.99) or 0, 100 * cpu[false] / secs[false],
    pct(p, 0.5) or 0, pct(p, 0.99) or 0, 100 * cpu[true] / secs[true], lost))
end
cleanup()
