-- make bench: the Chroma target.
--
--   luajit spec/bench/bench_chroma.lua [BUILD_DIR]
--
-- bench_qdrant's corpus and flow into Chroma: N files (default 100,000;
-- BENCH_CHROMA_ROWS=n) of ~1 KB text, each one record with a 384-float
-- embedding (the stand-in embedding of common.lua) and its text as the
-- document, through coco into chromadb 3.5.0's own server from npm
-- (spec/servers/chroma, started by spec/servers_vector.lua on 127.0.0.1):
-- the initial load, an update that changes one row, an update that changes
-- nothing, then top-10 queries through a query handler. Target figures are
-- what the target reports (COCO_CHROMA_STATS=1: batches, requests, time
-- from a batch's first request to its last answer), and the CPU coco and
-- the server (one node process: the Rust server runs inside it, through
-- chromadb's native bindings) spend a record.
local root = debug.getinfo(1, "S").source:match("^@(.*)/spec/bench/bench_chroma%.lua$") or "."
if root:sub(1, 1) ~= "/" then root = os.getenv("PWD") .. "/" .. root end
package.path = root .. "/?.lua;" .. package.path
local C = dofile(root .. "/spec/bench/common.lua")
local build = arg[1] or "build"
if build:sub(1, 1) ~= "/" then build = root .. "/" .. build end
local BIN = build .. "/coco"
local N = tonumber(os.getenv("BENCH_CHROMA_ROWS")) or 100000
local OUT = root .. "/spec/bench/out/chroma"
local V = require("spec.servers_vector")
local now, q, sh, write, say = C.now, C.q, C.run, C.write, C.say

local WORDS = [[index chunk vector query table column batch commit update source target flow
  function embedding search nearest neighbour distance cosine chroma document metadata record
  collection setup drop live event watch stream cache memo fingerprint lineage ordinal
  content text markdown heading paragraph sentence]]

local FLOW = [[
local coco = require("coco")
EMBED
return coco.flow("ChromaBench", function(flow, scope)
  scope.documents = flow:add_source(coco.sources.LocalFile{ path = "CORPUS" })
  local rows = scope:add_collector()
  scope.documents:row(function(doc)
    rows:collect{ filename = doc.filename, text = doc.content, embedding = doc.content:transform(Embed) }
  end)
  rows:export("rows", coco.targets.Chroma{ url = "URL" }, { primary_key_fields = { "filename" },
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
  say("bench_chroma: %d files of ~1 KB in spec/bench/out/chroma/corpus (%.1f s)", N, now() - t0)
  local why
  srv, why = V.chroma()
  if not srv then
    say("Chroma: cannot start (%s); skipped", why)
    return
  end
  local function server_cpu() return C.server_cpu("node", srv.data) end
  local dir = OUT .. "/run"
  sh("rm -rf " .. q(dir) .. " && mkdir -p " .. q(dir))
  write(dir .. "/flow.lua", (FLOW:gsub("EMBED", function() return C.EMBED end)
    :gsub("CORPUS", OUT .. "/corpus"):gsub("URL", srv.url)))
  local env = { COCO_CHROMA_STATS = "1" }
  local cpu0 = server_cpu()
  local wall, out = coco(dir, "update flow.lua -q", env)
  local cpu1 = server_cpu()
  local b, r, u, _, ms = stats(out)
  if not u then
    say("Chroma: the update failed:\n%s", out)
    return
  end
  say("Chroma 3.5.0 (npm, `chroma run`, 127.0.0.1), %d records of 384 floats + ~1 KB document (load average %s):",
    u, C.load())
  say("  initial load: %.2f s end to end, %.0f points/s; target: %d batches, %d requests, %.2f s (%.0f points/s)",
    wall, u / wall, b, r, ms / 1000, u * 1000 / ms)
  local cc = C.coco_cpu(out)
  say("  CPU a record: coco %.0f us, Chroma %.0f us: on two idle cores, at most about %.0f points/s",
    cc * 1e6 / u, (cpu1 - cpu0) * 1e6 / u, 2 * u / (cc + (cpu1 - cpu0)))
  local f = OUT .. "/corpus/d000/f000042.md"
  local orig = io.open(f):read("*a")
  write(f, orig .. "one more line\n")
  wall, out = coco(dir, "update flow.lua -q", env)
  b, r, u, _, ms = stats(out)
  say("  one row changed: %.1f ms end to end; target: %d batch, %d requests, %d upsert, %.2f ms (goal: one batch; "
    .. "load %s)", wall * 1000, b or 0, r or 0, u or 0, ms or -1, C.load())
  write(f, orig)
  coco(dir, "update flow.lua -q", env)
  wall = coco(dir, "update flow.lua -q", env)
  say("  nothing changed: %.1f ms end to end (load %s)", wall * 1000, C.load())
  local med, max, n, proc, base = C.query_times(build, dir, nil, 21, 11)
  say("  coco query top-%d over %d records (HNSW): %.1f ms (median; max %.1f) in a warm process; "
    .. "`coco query` %.1f ms, of which %.1f ms process start (coco --version): %.1f ms beyond it (load %s)",
    n or 0, N, med or -1, max or -1, proc, base, proc - base, C.load())
  say("bench_chroma: done (%.0f s)", now() - t0)
end

local ok, err = xpcall(main, debug.traceback)
if srv then srv:stop() end
if not ok then
  io.stderr:write("bench_chroma: ", tostring(err), "\n")
  os.exit(1)
end
