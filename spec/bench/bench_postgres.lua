-- make bench: the Postgres target and query handlers.
--
--   luajit spec/bench/bench_postgres.lua [BUILD_DIR]
--
-- N rows (default 100,000; BENCH_PG_ROWS=n) of ~1 KB text and a 384-d
-- vector, one per file, go through coco into:
--   1. Debian's PostgreSQL (default durability: fsync on), vectors as
--      real[] (Debian 12 has no pgvector): the initial load, an update that
--      changes one row, an update that changes nothing;
--   2. SQLite: top-10 by exact scan of every vector (coco query);
--   3. PGlite + pgvector with an HNSW index: top-10 through the index
--      (BENCH_PG_HNSW_ROWS=n rows, default N).
-- Target time is what the Postgres target reports (COCO_PG_STATS=1): from
-- each batch's first statement to its COMMIT. Query time is flow:query in
-- a warm process (embedding the query, connecting, searching), and the
-- whole `coco query` process beside it.
local C = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")
local root, BIN, build = C.start(arg[1])
local N = C.num("BENCH_PG_ROWS", 100000)
local NH = C.num("BENCH_PG_HNSW_ROWS", N)
local OUT = root .. "/spec/bench/out/pg"
local S = dofile(root .. "/spec/servers.lua")
local now, q, sh, write, say = C.now, C.q, C.run, C.write, C.say

local WORDS = [[index chunk vector query table column batch commit update source target flow
  function embedding search nearest neighbour distance cosine postgres sqlite state fresh
  change file row key value type schema setup drop live event watch stream cache memo
  fingerprint lineage tracking ordinal content text markdown heading paragraph sentence]]

local function coco(dir, args, env) return C.coco(BIN, dir, args, env) end

local function pg_stats(out)
  local b, u, d, ms = out:match("(%d+) batches, (%d+) upserts, (%d+) deletes, ([%d.]+) ms in the target")
  return tonumber(b), tonumber(u), tonumber(d), tonumber(ms)
end

local function query_times(dir, env, runs) return C.query_times(build, dir, env, runs, 5) end

-- flow.lua for a corpus, a target spec and more export options.
local function flow_text(corpus_dir, target, extra) return C.vector_flow("PgBench", corpus_dir, target, extra) end

-- Servers started, stopped at the end even when a phase fails.
local started = {}
local function track(srv)
  if srv then started[#started + 1] = srv end
  return srv
end

local function main()
-- ---- 1. Debian's PostgreSQL ----------------------------------------------------------
sh("mkdir -p " .. q(OUT))
local t0 = now()
C.corpus(OUT .. "/corpus", N, WORDS)
say("bench_postgres: %d files of ~1 KB in spec/bench/out/pg/corpus (%.1f s)", N, now() - t0)

local results = {}
local pg, why = S.postgres{ durable = true }
track(pg)
if not pg then
  C.skip("PostgreSQL", "cannot start (" .. tostring(why) .. ")")
else
  local dir = OUT .. "/pg"
  sh("rm -rf " .. q(dir) .. " && mkdir -p " .. q(dir))
  write(dir .. "/flow.lua", flow_text(OUT .. "/corpus",
    'coco.targets.Postgres{ column_options = { embedding = { type = "real[]" } } }', ""))
  local env = { COCO_DATABASE_URL = pg.url, COCO_PG_STATS = "1" }
  local wall, out = coco(dir, "update flow.lua -q", env)
  local b, u, _, ms = pg_stats(out)
  if not u then say("PostgreSQL: the update failed:\n%s", out) else
    say("PostgreSQL 15 (Debian, fsync on), vectors as real[]:")
    say("  initial load into a fresh cluster: %d rows in %.2f s end to end (%.0f rows/s); target: %d batches, %.2f s (%.0f rows/s)",
      u, wall, u / wall, b, ms / 1000, u * 1000 / ms)
    results.pg_load = u * 1000 / ms
    -- one row changed
    local f = OUT .. "/corpus/d000/f000042.md"
    local orig = io.open(f):read("*a")
    write(f, orig .. "one more line\n")
    wall, out = coco(dir, "update flow.lua -q", env)
    b, u, _, ms = pg_stats(out)
    say("  one row changed: %.1f ms end to end; target: %d batch, %d upsert, %.2f ms (goal: 1 batch, <= 20 ms)",
      wall * 1000, b or 0, u or 0, ms or -1)
    results.pg_one = ms
    write(f, orig)
    coco(dir, "update flow.lua -q", env)
    wall = coco(dir, "update flow.lua -q", env)
    say("  nothing changed: %.1f ms end to end", wall * 1000)
    say("  table size: %s", (pg:sql("SELECT pg_size_pretty(pg_total_relation_size('\"PgBench__rows\"')) AS s")[1].s))
    -- a fresh cluster creates (and zero-fills) every WAL segment the first
    -- load writes; a server that has run a while recycles them: load again
    coco(dir, "drop -f flow.lua -q", env)
    wall, out = coco(dir, "update flow.lua -q", env)
    b, u, _, ms = pg_stats(out)
    if u then
      say("  load again after drop (WAL segments recycled, as on a server that has run a while): "
        .. "%d rows in %.2f s end to end (%.0f rows/s; goal >= 20000); target %.2f s (%.0f rows/s)",
        u, wall, u / wall, ms / 1000, u * 1000 / ms)
    end
  end
  pg:stop()
end

-- ---- 2. SQLite: exact scan -------------------------------------------------------------
do
  local dir = OUT .. "/sqlite"
  sh("rm -rf " .. q(dir) .. " && mkdir -p " .. q(dir))
  write(dir .. "/flow.lua", flow_text(OUT .. "/corpus", 'coco.targets.SQLite{ path = "index.sqlite" }', ""))
  local wall = coco(dir, "update flow.lua -q")
  say("SQLite: initial load of %d rows in %.2f s (%.0f rows/s)", N, wall, N / wall)
  local med, max, n, proc, base = query_times(dir, {}, 11)
  say("  coco query top-%d, exact scan of %d 384-d vectors: %.1f ms (median; max %.1f; goal <= 50 ms) in a warm "
    .. "process; `coco query` %.1f ms, of which %.1f ms process start", n or 0, N, med or -1, max or -1, proc, base)
  results.sqlite_query = med
end

-- ---- 3. PGlite + pgvector, HNSW --------------------------------------------------------
do
  local pl, pwhy = S.pglite()
  track(pl)
  if not pl then
    C.skip("PGlite", "cannot start (" .. tostring(pwhy) .. ")")
  else
    local dir = OUT .. "/pglite"
    sh("rm -rf " .. q(dir) .. " && mkdir -p " .. q(dir))
    local src = OUT .. "/corpus"
    if NH < N then
      src = OUT .. "/corpus_hnsw"
      C.corpus(src, NH, WORDS)
    end
    -- load first, then add the index (one build is faster than as many inserts)
    write(dir .. "/flow.lua", flow_text(src, "coco.targets.Postgres{}", ""))
    local env = { COCO_DATABASE_URL = pl.url, COCO_PG_STATS = "1" }
    local wall, out = coco(dir, "update flow.lua -q", env)
    local b, u, _, ms = pg_stats(out)
    if not u then say("PGlite: the update failed:\n%s", out) else
      say("PGlite 0.5 (PostgreSQL 18 in WebAssembly) + pgvector:")
      say("  load of %d rows: %.1f s end to end; target %.1f s (%.0f rows/s)",
        u, wall, ms / 1000, u * 1000 / ms)
      write(dir .. "/flow.lua", flow_text(src, "coco.targets.Postgres{}",
        ', vector_indexes = {{ field = "embedding", metric = "cosine", method = "hnsw" }}'))
      wall, out = coco(dir, "setup flow.lua -q", env)
      say("  HNSW index (m 16, ef_construction 64) added by setup: %.1f s", wall)
      local med, max, n, proc, base = query_times(dir, { COCO_DATABASE_URL = pl.url }, 21)
      say("  coco query top-%d over %d vectors through the HNSW index: %.1f ms (median; max %.1f) in a warm "
        .. "process; `coco query` %.1f ms, of which %.1f ms process start (goal: <= 20 ms beyond it)",
        n or 0, u, med or -1, max or -1, proc, base)
      results.hnsw_query = med
    end
    pl:stop()
  end
end

say("bench_postgres: done (%.0f s)", now() - t0)
end

local ok, err = xpcall(main, debug.traceback)
for _, srv in ipairs(started) do srv:stop() end
if not ok then
  io.stderr:write("bench_postgres: ", tostring(err), "\n")
  os.exit(1)
end
