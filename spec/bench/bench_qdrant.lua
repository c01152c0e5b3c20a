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
local C = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")
local root, coco, build = C.start(arg[1])
local V = require("spec.servers_vector")

local function server_cpu(srv) return C.server_cpu("qdrant", srv.data) end

C.vector_bench{
  name = "Qdrant", title = "Qdrant 1.16.3 (npm binary, 127.0.0.1)", bin = coco, build = build,
  n = C.num("BENCH_QDRANT_ROWS", 100000), out = root .. "/spec/bench/out/qdrant",
  words = [[index chunk vector query table column batch commit update source target flow
    function embedding search nearest neighbour distance cosine qdrant payload point named
    collection setup drop live event watch stream cache memo fingerprint lineage ordinal
    content text markdown heading paragraph sentence]],
  start = V.qdrant, server_cpu = server_cpu, stats_env = { COCO_QDRANT_STATS = "1" },
  target = 'coco.targets.Qdrant{ url = "URL" }', goal = " (goal >= 5000)", query_goal = " (goal <= 20 ms)",
  -- Qdrant builds its HNSW graph after answering: its CPU in the next 20 s
  after = function(srv, u, cpu)
    local c0 = server_cpu(srv)
    os.execute("sleep 20")
    local hnsw = server_cpu(srv) - c0
    C.say("  and Qdrant %.0f us a point in the 20 s after (its HNSW graph): on two idle cores, at most about "
      .. "%.0f points/s", hnsw * 1e6 / u, 2 * u / (cpu + hnsw))
  end,
}
