-- coco server's figures (issue 17):
--   idle RSS a server adds beside a live updater, and its CPU while idle;
--   a row's page data (/api/.../rows/{key}) for a 4 KB markdown file with
--   cached results, p50/p99 over keep-alive HTTP on 127.0.0.1;
--   a page of 100 source rows out of 100,000, p50/p99;
--   the web page's size (HTML, JS, CSS).
--   luajit spec/bench/bench_server.lua [build-dir] [idle-seconds]
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local common = require("common")
local ffi = require("ffi")
local root, bin = common.paths(here, arg[1] or "build")
local IDLE = tonumber(arg[2] or 60)

ffi.cdef[[
struct bs_ts { long tv_sec; long tv_nsec; };
int bs_clock_gettime(int clk, struct bs_ts *ts) __asm__("clock_gettime");
int bs_socket(int domain, int type, int protocol) __asm__("socket");
int bs_close(int fd) __asm__("close");
long bs_write(int fd, const char *buf, unsigned long n) __asm__("write");
long bs_read(int fd, char *buf, unsigned long n) __asm__("read");
struct bs_sin { unsigned short family; unsigned short port; unsigned int addr; char zero[8]; };
int bs_connect(int fd, const struct bs_sin *a, unsigned int len) __asm__("connect");
]]
local C = ffi.C
local function now()
  local ts = ffi.new("struct bs_ts")
  C.bs_clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end
local sh = common.sh

-- A keep-alive HTTP/1.1 client over one socket.
local function client(addr)
  local ip, port = addr:match("^([%d%.]+):(%d+)$")
  local a, b, c, d = ip:match("(%d+)%.(%d+)%.(%d+)%.(%d+)")
  local sin = ffi.new("struct bs_sin")
  sin.family = 2
  port = tonumber(port)
  sin.port = bit.bor(bit.rshift(port, 8), bit.lshift(bit.band(port, 255), 8))
  sin.addr = tonumber(a) + tonumber(b) * 256 + tonumber(c) * 65536 + tonumber(d) * 16777216
  local fd = C.bs_socket(2, 1, 0)
  assert(C.bs_connect(fd, sin, ffi.sizeof(sin)) == 0, "connect")
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

local function rss_kb(pid)
  local s = sh("grep VmRSS /proc/" .. pid .. "/status")
  return tonumber(s:match("(%d+)")) or 0
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

local function writefile(path, s)
  local f = assert(io.open(path, "w"))
  f:write(s)
  f:close()
end

local dir = sh("mktemp -d /tmp/coco-bench-server.XXXXXX"):gsub("%s+$", "")
local function cleanup() sh("rm -rf " .. dir) end

-- ---- the web page's size --------------------------------------------------------
local size = 0
for _, f in ipairs({ "index.html", "app.js", "app.css" }) do
  size = size + #(io.open(root .. "/lua/web/" .. f):read("*a"))
end
print(string.format("web page (HTML + JS + CSS): %.1f KB (goal <= 150 KB)", size / 1024))

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
  local r0, c0 = rss_kb(pid), cpu_s(pid)
  sh("sleep " .. IDLE)
  local r1, c1 = rss_kb(pid), cpu_s(pid)
  return pid, out, math.max(r0, r1), c1 - c0
end
local lpid, _, live_rss, live_cpu = idle_of(bin .. " flow.lua -L", "rows:")
sh("kill " .. lpid)
sh("sleep 0.5")
local spid, sout, srv_rss, srv_cpu = idle_of(bin .. " server flow.lua -L --listen 127.0.0.1:0", "http://([%d%.]+:%d+)/")
print(string.format("idle over %d s: live updater %.1f MB RSS, %.2f s CPU; with the server %.1f MB RSS (+%.2f MB, goal <= 2 MB), %.2f s CPU (goal 0)",
  IDLE, live_rss / 1024, live_cpu, srv_rss / 1024, (srv_rss - live_rss) / 1024, srv_cpu))

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

-- ---- a page of 100 source rows out of 100,000 -------------------------------------------
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
cl = client(baddr)
times = {}
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
cleanup()
