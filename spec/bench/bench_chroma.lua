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
local C = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")
local root, coco, build = C.start(arg[1])
local V = require("spec.servers_vector")

C.vector_bench{
  name = "Chroma", title = "Chroma 3.5.0 (npm, `chroma run`, 127.0.0.1)", bin = coco, build = build,
  n = C.num("BENCH_CHROMA_ROWS", 100000), out = root .. "/spec/bench/out/chroma",
  words = [[index chunk vector query table column batch commit update source target flow
    function embedding search nearest neighbour distance cosine chroma document metadata record
    collection setup drop live event watch stream cache memo fingerprint lineage ordinal
    content text markdown heading paragraph sentence]],
  start = V.chroma, server_cpu = function(srv) return C.server_cpu("node", srv.data) end,
  stats_env = { COCO_CHROMA_STATS = "1" }, target = 'coco.targets.Chroma{ url = "URL" }', goal = "", query_goal = "",
  after = function(_, u, cpu)
    C.say("  on two idle cores, at most about %.0f points/s", 2 * u / cpu)
  end,
}
