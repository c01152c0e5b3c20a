-- make bench: the Qdrant target.
--
--   luajit spec/bench/bench_qdrant.lua [BUILD_DIR]
--
-- N files (default 100,000; BENCH_QDRANT_ROWS=n) of ~1 KB text, each one
-- point with a 384-float vector (a stand-in embedding computed in Lua) and
-- its text as payload, go through coco into the qdrant 1.16.3 server from
-- npm (spec/servers/qdrant, started by spec/servers_vector.lua on
-- 127.0.0.1): the initial load, an update that changes one row, an update
-- that changes nothing, then top-10 queries through a query handler.
-- Target figures are what the target reports (COCO_QDRANT_STATS=1: batches,
-- requests, time from a batch's first request to its last answer, all sent
-- with wait=true), and the CPU coco and the server spend a point (other
-- jobs on the machine inflate wall time far more than CPU time). Query time
-- is flow:query in a warm process, and the whole `coco query` process
-- beside `coco --version`.
local root = debug.getinfo(1, "S").source:match("^@(.*)/spec/bench/bench_qdrant%.lua$") or "."
if root:sub(1, 1) ~= "/" then root = os.getenv("PWD") .. "/" .. root end
package.path = root .. "/?.lua;" .. package.path
local C = dofile(root .. "/spec/bench/common.lua")
local build = arg[1] or "build"
if build:sub(1, 1) ~= "/" then build = root .. "/" .. build end
local BIN = build .. "/coco"
local N = tonumber(os.getenv("BENCH_QDRANT_ROWS")) or 100000
local OUT = root .. "/spec/bench/out/qdrant"
local V = require("spec.servers_vector")
local now, q, sh, write, say = C.now, C.q, C.run, C.write, C.say
local coco_cpu = C.coco_cpu
local function server_cpu(srv) return C.server_cpu("qdrant", srv.data) end

local WORDS = [[index chunk vector query table column batch commit update source target flow
  function embedding search nearest neighbour distance cosine qdrant payload point named
  collection setup drop live event watch stream cache memo fingerprint lineage ordinal
  content text markdown heading paragraph sentence]]

local FLOW = [[
local coco = require("coco")
EMBED
return coco.flow("QdrantBench", function(flow, scope)
  scope.documents = flow:add_source(coco.sources.LocalFile{ path = "CORPUS" })
  local rows = scope:add_collector()
  scope.documents:row(function(doc)
    rows:collect{ filename = doc.filename, text = doc.content, embedding = doc.content:transform(Embed) }
  end)
  rows:export("rows", coco.targets.Qdrant{ url = "URL" }, { primary_key_fields = { "filename" },
    vector_indexes = {{ field = "embedding", metric = "cosine" }} })
  flow:query_handler("search", function(query, opts)
    return flow:top_k("rows", "embedding", flow:call(Embed, query), opts.k)
  end)
end)
]]

local function coco(dir, args, env) return C.coco(BIN, dir, args, env, true) end

local function stats(out)
  local b, r, u, d, ms = out:match("(%d+) batches, (%d+) requests, (%d+) upserts, (%d+) deletes, ([%d.]+) ms in the target")
  return tonumber(b), tonumber(r), tonumber(u), tonumber(d), tonumber(ms)
end

local srv
local function main()
  sh("mkdir -p " .. q(OUT))
  local t0 = now()
  C.corpus(OUT .. "/corpus", N, WORDS)
  say("bench_qdrant: %d files of ~1 KB in spec/bench/out/qdrant/corpus (%.1f s)", N, now() - t0)
  local why
  srv, why = V.qdrant()
  if not srv then
    say("Qdrant: cannot start (%s); skipped", why)
    return
  end
  local dir = OUT .. "/run"
  sh("rm -rf " .. q(dir) .. " && mkdir -p " .. q(dir))
  write(dir .. "/flow.lua", (FLOW:gsub("EMBED", function() return C.EMBED end)
    :gsub("CORPUS", OUT .. "/corpus"):gsub("URL", srv.url)))
  local env = { COCO_QDRANT_STATS = "1" }
  local cpu0 = server_cpu(srv)
  local wall, out = coco(dir, "update flow.lua -q", env)
  local cpu1 = server_cpu(srv)
  local b, r, u, _, ms = stats(out)
  if not u then
    say("Qdrant: the update failed:\n%s", out)
    return
  end
  say("Qdrant 1.16.3 (npm binary, 127.0.0.1), %d points of 384 floats + ~1 KB payload (load average %s):", u,
    C.load())
  say("  initial load: %.2f s end to end, %.0f points/s (goal >= 5000); target: %d batches, %d requests, "
    .. "%.2f s (%.0f points/s)", wall, u / wall, b, r, ms / 1000, u * 1000 / ms)
  -- CPU, which other jobs on the machine do not inflate as much as wall time
  os.execute("sleep 20")
  local cpu2 = server_cpu(srv)
  local cc = coco_cpu(out)
  say("  CPU a point: coco %.0f us, Qdrant %.0f us while loading and %.0f us in the 20 s after (its HNSW "
    .. "graph): on two idle cores, at most about %.0f points/s",
    cc * 1e6 / u, (cpu1 - cpu0) * 1e6 / u, (cpu2 - cpu1) * 1e6 / u,
    2 * u / (cc + (cpu1 - cpu0) + (cpu2 - cpu1)))
  local f = OUT .. "/corpus/d000/f000042.md"
  local orig = io.open(f):read("*a")
  write(f, orig .. "one more line\n")
  wall, out = coco(dir, "update flow.lua -q", env)
  b, r, u, _, ms = stats(out)
  say("  one row changed: %.1f ms end to end; target: %d batch, %d request, %d upsert, %.2f ms (goal: one batch; "
    .. "load %s)", wall * 1000, b or 0, r or 0, u or 0, ms or -1, C.load())
  write(f, orig)
  coco(dir, "update flow.lua -q", env)
  wall = coco(dir, "update flow.lua -q", env)
  say("  nothing changed: %.1f ms end to end (load %s)", wall * 1000, C.load())
  local med, max, n, proc, base = C.query_times(build, dir, nil, 21, 11)
  say("  coco query top-%d over %d points (HNSW): %.1f ms (median; max %.1f) in a warm process; "
    .. "`coco query` %.1f ms, of which %.1f ms process start (coco --version): %.1f ms beyond it (goal <= 20 ms; "
    .. "load %s)", n or 0, N, med or -1, max or -1, proc, base, proc - base, C.load())
  say("bench_qdrant: done (%.0f s)", now() - t0)
end

local ok, err = xpcall(main, debug.traceback)
if srv then srv:stop() end
if not ok then
  io.stderr:write("bench_qdrant: ", tostring(err), "\n")
  os.exit(1)
end
