-- What the benchmarks share: the start every benchmark makes (M.start:
-- the repository root, the build, the coco binary; M.num, M.skip), the
-- shell, a clock, the flow of the Foundation, live and source benchmarks
-- (a source -> SplitRecursively(1000) -> SQLite), and for the vector-target
-- benchmarks (bench_postgres, bench_qdrant, bench_chroma) a corpus of ~1 KB
-- files, a stand-in embedding, timed coco runs, a server's CPU time and
-- query timings.
--
-- A benchmark begins:
--   local C = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")
--   local root, coco, build = C.start(arg[1])
local ffi = require("ffi")
ffi.cdef [[
struct coco_bench_common_ts { long tv_sec; long tv_nsec; };
int coco_bench_common_clock(int clk, struct coco_bench_common_ts *ts) __asm__("clock_gettime");
int coco_bench_common_poll(void *fds, unsigned long nfds, int timeout) __asm__("poll");
]]
local M = {}

-- spec/bench, as this file was named (relative to the working directory or absolute)
local HERE = debug.getinfo(1, "S").source:match("^@(.*)/common%.lua$") or "spec/bench"

-- Monotonic seconds.
function M.now()
  local ts = ffi.new("struct coco_bench_common_ts")
  ffi.C.coco_bench_common_clock(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

function M.sleep_ms(ms) ffi.C.coco_bench_common_poll(nil, 0, ms) end

function M.q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- cmd's stdout and stderr.
function M.run(cmd) return M.sh("( " .. cmd .. " ) 2>&1") end

function M.write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

function M.say(fmt, ...) io.write(string.format(fmt, ...), "\n") io.flush() end

function M.median(t)
  table.sort(t)
  return t[math.floor((#t + 1) / 2)]
end

-- The first figure of /proc/loadavg, to print beside a measurement.
function M.load() return (M.sh("cat /proc/loadavg"):match("^(%S+)")) end

function M.sh(cmd)
  local p = io.popen(cmd)
  local s = p:read("*a")
  p:close()
  return s
end

-- The file's content, or nil when it cannot be read.
function M.read(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- The start of a benchmark. build: its build directory (arg[1]; default
-- "build"), relative to the repository root or absolute. Returns the root,
-- the coco binary and the build directory, absolute (M.root, M.here: the
-- root and spec/bench); puts the root on package.path
-- (require("spec.helpers"), require("spec.servers_s3"), ...).
function M.start(build)
  local root = M.sh("cd " .. M.q(HERE .. "/../..") .. " && pwd"):gsub("%s+$", "")
  build = build or "build"
  local dir = build:sub(1, 1) == "/" and build or root .. "/" .. build
  package.path = root .. "/?.lua;" .. package.path
  M.root, M.here = root, root .. "/spec/bench"
  return root, dir .. "/coco", dir
end

-- The number in environment variable name, else default.
function M.num(name, default) return tonumber(os.getenv(name)) or default end

-- "<what>: skipped: <why>": a benchmark or a part of one that cannot run
-- here (a server or tool missing) says so, and the next one runs.
function M.skip(what, why) M.say("%s: skipped: %s", what, why) end

-- The benchmark flow, named name, writing <name>__chunks in index.sqlite;
-- source: a Lua expression (sources.X{...}; default LocalFile over corpus/).
function M.flow(name, source)
  return string.format([[
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets
return coco.flow(%q, function(flow, scope)
  scope.documents = flow:add_source(
    %s)
  local chunks = scope:add_collector()
  scope.documents:row(function(doc)
    doc.chunks = doc.content:transform(functions.SplitRecursively{},
      { language = "markdown", chunk_size = 1000 })
    doc.chunks:row(function(chunk)
      chunks:collect{ filename = doc.filename, location = chunk.location, text = chunk.text }
    end)
  end)
  chunks:export("chunks", targets.SQLite{ path = "index.sqlite" },
    { primary_key_fields = { "filename", "location" } })
end)
]], name, source or 'sources.LocalFile{ path = "corpus", included_patterns = { "*.md", "*.txt" } }')
end

-- n files of ~1 KB of words (a string of them), 1,000 a directory, in dir;
-- kept while a stamp beside dir says n.
function M.corpus(dir, n, words)
  local stamp = dir .. ".complete"        -- beside the corpus: not a file of it
  local f = io.open(stamp)
  if f and tonumber(f:read("*l")) == n then f:close() return end
  if f then f:close() end
  M.run("rm -rf " .. M.q(dir) .. " && mkdir -p " .. M.q(dir))
  local list = {}
  for w in words:gmatch("%a+") do list[#list + 1] = w end
  local seed = 12345
  local function rnd(m)
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed % m + 1
  end
  local dirs = {}
  for d = 0, math.floor((n - 1) / 1000) do dirs[#dirs + 1] = string.format("%s/d%03d", M.q(dir), d) end
  M.run("mkdir -p " .. table.concat(dirs, " "))
  for i = 0, n - 1 do
    local parts, len = { "# File " .. i .. "\n\n" }, 0
    while len < 1000 do
      local w = list[rnd(#list)]
      parts[#parts + 1] = w
      len = len + #w + 1
    end
    M.write(string.format("%s/d%03d/f%06d.md", dir, math.floor(i / 1000), i), table.concat(parts, " ") .. "\n")
  end
  M.write(stamp, tostring(n) .. "\n")
end

-- The stand-in embedding of the vector benchmarks' flows (Lua source):
-- Embed(text) -> 384 floats of unit length from a generator seeded by the text.
M.EMBED = [[
local DIM = 384
local Embed = coco.fn("Embed", { returns = coco.types.vector("float32", DIM) }, function(text)
  local h = 5381
  for i = 1, #text, 5 do h = (h * 33 + text:byte(i)) % 2147483647 end
  if h == 0 then h = 1 end
  local v, n = {}, 0
  for i = 1, DIM do
    h = h * 48271 % 2147483647
    local x = h / 2147483647 - 0.5
    v[i] = x
    n = n + x * x
  end
  n = math.sqrt(n)
  for i = 1, DIM do v[i] = v[i] / n end
  return v
end)
]]

-- The vector benchmarks' flow (Lua source), named name: corpus_dir's files
-- -> { filename, text, embedding = Embed(text) } exported to target (a Lua
-- expression) with more export options extra (", ..." or ""), and a query
-- handler "search" (top_k over embedding).
function M.vector_flow(name, corpus_dir, target, extra)
  return string.format([[
local coco = require("coco")
%s
return coco.flow(%q, function(flow, scope)
  scope.documents = flow:add_source(coco.sources.LocalFile{ path = %q })
  local rows = scope:add_collector()
  scope.documents:row(function(doc)
    rows:collect{ filename = doc.filename, text = doc.content, embedding = doc.content:transform(Embed) }
  end)
  rows:export("rows", %s, { primary_key_fields = { "filename" }%s })
  flow:query_handler("search", function(query, opts)
    return flow:top_k("rows", "embedding", flow:call(Embed, query), opts.k)
  end)
end)
]], M.EMBED, name, corpus_dir, target, extra)
end

-- A vector store's benchmark (bench_qdrant, bench_chroma): n files of ~1 KB
-- (o.words) in o.out/corpus, each a point of 384 floats and its text, loaded
-- through coco into the server o.start() returns (nil, why: skipped): the
-- initial load (points/s end to end and in the target, from what
-- o.stats_env makes the target print), the CPU coco and the server
-- (o.server_cpu(srv)) spend a point, then o.after(srv, u, cpu) if given,
-- an update that changes one row, one that changes nothing, and top-10
-- queries. o: name, title (the server, for the heading), bin, build, n,
-- out, words, target (the flow's target expression, URL for the url),
-- goal (" (goal >= 5000)" or ""), query_goal (likewise).
function M.vector_bench(o)
  local say, t0 = M.say, M.now()
  local function stats(out)
    local b, r, u, d, ms = out:match("(%d+) batches, (%d+) requests, (%d+) upserts, (%d+) deletes, ([%d.]+) ms in the target")
    return tonumber(b), tonumber(r), tonumber(u), tonumber(d), tonumber(ms)
  end
  local function coco(dir, args) return M.coco(o.bin, dir, args, o.stats_env, true) end
  M.run("mkdir -p " .. M.q(o.out))
  M.corpus(o.out .. "/corpus", o.n, o.words)
  local tag = o.name:lower()
  say("bench_%s: %d files of ~1 KB in %s/corpus (%.1f s)", tag, o.n, o.out, M.now() - t0)
  local srv, why = o.start()
  if not srv then
    M.skip(o.name, "cannot start (" .. tostring(why) .. ")")
    return
  end
  local ok, err = xpcall(function()
    local dir = o.out .. "/run"
    M.run("rm -rf " .. M.q(dir) .. " && mkdir -p " .. M.q(dir))
    M.write(dir .. "/flow.lua", M.vector_flow(o.name .. "Bench", o.out .. "/corpus",
      (o.target:gsub("URL", function() return srv.url end)), ", vector_indexes = {{ field = \"embedding\", metric = \"cosine\" }}"))
    local cpu0 = o.server_cpu(srv)
    local wall, out = coco(dir, "update flow.lua -q")
    local cpu1 = o.server_cpu(srv)
    local b, r, u, _, ms = stats(out)
    if not u then
      say("%s: the update failed:\n%s", o.name, out)
      return
    end
    say("%s, %d points of 384 floats + ~1 KB of text (load average %s):", o.title, u, M.load())
    say("  initial load: %.2f s end to end, %.0f points/s%s; target: %d batches, %d requests, %.2f s (%.0f points/s)",
      wall, u / wall, o.goal, b, r, ms / 1000, u * 1000 / ms)
    local cc, sc = M.coco_cpu(out), cpu1 - cpu0
    say("  CPU a point while loading: coco %.0f us, %s %.0f us", cc * 1e6 / u, o.name, sc * 1e6 / u)
    if o.after then o.after(srv, u, cc + sc) end
    local f = o.out .. "/corpus/d000/f000042.md"
    local orig = M.read(f)
    M.write(f, orig .. "one more line\n")
    wall, out = coco(dir, "update flow.lua -q")
    b, r, u, _, ms = stats(out)
    say("  one row changed: %.1f ms end to end; target: %d batch, %d requests, %d upsert, %.2f ms (goal: one batch; "
      .. "load %s)", wall * 1000, b or 0, r or 0, u or 0, ms or -1, M.load())
    M.write(f, orig)
    coco(dir, "update flow.lua -q")
    wall = coco(dir, "update flow.lua -q")
    say("  nothing changed: %.1f ms end to end (load %s)", wall * 1000, M.load())
    local med, max, n, proc, base = M.query_times(o.build, dir, nil, 21, 11)
    say("  coco query top-%d over %d points (HNSW): %.1f ms (median; max %.1f) in a warm process; "
      .. "`coco query` %.1f ms, of which %.1f ms process start (coco --version): %.1f ms beyond it%s (load %s)",
      n or 0, o.n, med or -1, max or -1, proc, base, proc - base, o.query_goal, M.load())
    say("bench_%s: done (%.0f s)", tag, M.now() - t0)
  end, debug.traceback)
  srv:stop()
  if not ok then
    io.stderr:write("bench_", tag, ": ", tostring(err), "\n")
    os.exit(1)
  end
end

-- Runs `bin args` in dir with env; returns wall seconds and stdout+stderr
-- (with cpu: /usr/bin/time's "coco-cpu USER SYS" line too).
function M.coco(bin, dir, args, env, cpu)
  local e = ""
  for k, v in pairs(env or {}) do e = e .. k .. "=" .. M.q(v) .. " " end
  local t = M.now()
  local out = M.run("cd " .. M.q(dir) .. " && " .. e .. (cpu and "/usr/bin/time -f 'coco-cpu %U %S' " or "")
    .. M.q(bin) .. " " .. args)
  return M.now() - t, out
end

-- The CPU seconds of /usr/bin/time's "coco-cpu USER SYS" line in out (M.coco's cpu).
function M.coco_cpu(out)
  local u, s = out:match("coco%-cpu ([%d.]+) ([%d.]+)")
  return u and (tonumber(u) + tonumber(s)) or 0
end

-- CPU seconds (user + system) a server has used: the process named name
-- (pgrep -x) whose command line or environment holds data (its data
-- directory, which tells apart servers of other runs); 0 when none.
function M.server_cpu(name, data)
  for pid in M.sh("pgrep -x " .. M.q(name)):gmatch("%d+") do
    local seen = M.read("/proc/" .. pid .. "/cmdline") or ""
    if not seen:find(data, 1, true) then seen = M.read("/proc/" .. pid .. "/environ") or "" end
    if seen:find(data, 1, true) then
      local line = (M.read("/proc/" .. pid .. "/stat") or ""):match("^[^\n]*")
      local f = {}
      for x in line:gsub("^.*%) ", ""):gmatch("%S+") do f[#f + 1] = x end
      return (tonumber(f[12]) + tonumber(f[13])) / 100    -- utime, stime in ticks
    end
  end
  return 0
end

-- Query times of flow dir/flow.lua's handler "search" (top-10): median and
-- max ms of runs flow:query calls in one warm process, the rows found, and
-- the medians of nproc whole `coco query` and `coco --version` processes.
function M.query_times(build, dir, env, runs, nproc)
  M.write(dir .. "/query.lua", string.format([[
package.cpath = %q .. "/?.so;" .. package.cpath
local ffi = require("ffi")
ffi.cdef "struct coco_bench_timespec { long tv_sec; long tv_nsec; }; int clock_gettime(int, struct coco_bench_timespec *);"
local function now()
  local ts = ffi.new("struct coco_bench_timespec")
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end
local coco = require("coco")
local flow = assert(coco.load("flow.lua"))
local t, n = {}, 0
for i = 1, %d do
  local t0 = now()
  local rows = assert(flow:query("search", "nearest query number " .. i, { k = 10 }))
  t[i] = (now() - t0) * 1000
  n = #rows
end
table.sort(t)
io.write(string.format("%%.2f %%.2f %%d\n", t[math.floor((#t + 1) / 2)], t[#t], n))
]], build, runs))
  local e = ""
  for k, v in pairs(env or {}) do e = e .. k .. "=" .. M.q(v) .. " " end
  local out = M.run("cd " .. M.q(dir) .. " && " .. e .. "luajit query.lua")
  local med, max, n = out:match("([%d.]+) ([%d.]+) (%d+)")
  local walls, base = {}, {}
  local bin = build .. "/coco"
  for i = 1, nproc do walls[i] = M.coco(bin, dir, "query flow.lua 'another query " .. i .. "' -k 10 >/dev/null", env) * 1000 end
  for i = 1, nproc do base[i] = M.coco(bin, dir, "--version >/dev/null", env) * 1000 end
  return tonumber(med), tonumber(max), tonumber(n), M.median(walls), M.median(base), out
end

return M
