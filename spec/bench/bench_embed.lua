-- make bench, EmbedText part: the figures of issue 6, against
-- spec/servers/fake_openai.js on 127.0.0.1 answering each request 50 ms
-- late (a fast embedding API's latency), with 384-dimension vectors
-- (all-MiniLM, bge-small; BENCH_EMBED_DIM=n for another size).
--
--   luajit spec/bench/bench_embed.lua [BUILD_DIR]
--
--   1. initial index of BENCH_EMBED_CHUNKS (10,000) chunks, batch_size 64,
--      max_concurrency 8: wall time of the whole `coco` process (goal
--      <= 2 s) and requests (goal ceil(chunks / 64));
--   2. every file renamed: requests (goal 0);
--   3. one paragraph of one file edited: requests and texts (goal 1 and 1);
--   4. for information, the initial index again with 1536 dimensions
--      (text-embedding-3-small's size), in a flow of its own.
-- Flow: LocalFile -> SplitRecursively -> EmbedText -> SQLite; each file
-- holds 10 paragraphs that come out as 10 chunks. Requests are counted by
-- the server (its request log).
local C = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")
local root, BIN = C.start(arg[1])
local H = require("spec.helpers")
local now = C.now

local CHUNKS = C.num("BENCH_EMBED_CHUNKS", 10000)
local PER_FILE = 10
local FILES = math.ceil(CHUNKS / PER_FILE)
local BATCH, CONC, DELAY_MS = 64, 8, 50
local DIM = C.num("BENCH_EMBED_DIM", 384)

if not H.sh("command -v node >/dev/null 2>&1") then
  return C.skip("coco embed bench", "node is not installed (make deps installs nodejs)")
end

local dir = H.tmpdir()
local log, conf = dir .. "/requests.log", dir .. "/conf.json"
H.write(log, "")
-- the model answers 1536 numbers, or "dimensions" when asked (as OpenAI does)
H.write(conf, H.json.encode{ delay_ms = DELAY_MS, dims = { ["text-embedding-3-small"] = 1536 } })
local srv = io.popen(string.format("echo $$ >%s; exec node %s --log %s --config %s >%s",
  H.q(dir .. "/pid"), H.q(root .. "/spec/servers/fake_openai.js"), H.q(log), H.q(conf),
  H.q(dir .. "/port")), "w")
local port
for _ = 1, 200 do
  port = (H.read(dir .. "/port") or ""):match('"port":(%d+)')
  if port then break end
  C.sleep_ms(25)
end
local pid = tonumber(H.read(dir .. "/pid"))
-- CPU seconds the server has used (utime + stime of /proc/PID/stat).
local function server_cpu()
  local stat = H.read("/proc/" .. pid .. "/stat") or ""
  local rest = stat:match("^%d+ %b() (.*)$") or ""
  local f = {}
  for x in rest:gmatch("%S+") do f[#f + 1] = x end
  return ((tonumber(f[12]) or 0) + (tonumber(f[13]) or 0)) / 100
end
local function finish()
  srv:close()
  H.cleanup()
end
if not port then
  finish()
  error("fake_openai.js did not start")
end

-- The corpus: FILES files of PER_FILE paragraphs of ~200 bytes, every
-- paragraph different (words drawn from a seeded generator).
local WORDS = { "index", "vector", "chunk", "source", "target", "update", "query", "embedding",
  "batch", "request", "server", "model", "cache", "state", "row", "table", "file", "change",
  "paragraph", "search", "fresh", "incremental", "engine", "flow", "text", "key", "value" }
local seed
local function rnd(n)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % n + 1
end
local function paragraph(f, p, tag)
  seed = f * 1000 + p                       -- the same words every time
  local t = { string.format("File %d, paragraph %d%s:", f, p, tag or "") }
  local len = #t[1]
  while len < 190 do
    local w = WORDS[rnd(#WORDS)]
    t[#t + 1] = w
    len = len + #w + 1
  end
  return table.concat(t, " ") .. "."
end
local function file_text(f, edited)
  local t = {}
  for p = 1, PER_FILE do t[p] = paragraph(f, p, edited == p and " (edited)" or nil) end
  return "# File " .. f .. "\n\n" .. table.concat(t, "\n\n") .. "\n"
end
local function fname(f, prefix) return string.format("%s/docs/%s%05d.md", dir, prefix or "doc", f) end
for f = 1, FILES do H.write(fname(f), file_text(f)) end

-- The flow: name, vector size, SQLite file. A heading is merged into the
-- first paragraph's chunk; chunk_size keeps one paragraph per chunk.
local function write_flow(file, name, dim, db)
  H.write(dir .. "/" .. file, string.format([[
local coco = require("coco")
local F = coco.functions
return coco.flow(%q, function(flow, scope)
  scope.docs = flow:add_source(coco.sources.LocalFile{ path = "docs", included_patterns = { "*.md" } })
  local out = scope:add_collector()
  scope.docs:row(function(doc)
    doc.chunks = doc.content:transform(F.SplitRecursively{},
      { language = "markdown", chunk_size = 300, chunk_overlap = 0 })
    doc.chunks:row(function(chunk)
      chunk.embedding = chunk.text:transform(F.EmbedText{ api_type = "openai",
        model = "text-embedding-3-small", address = "http://127.0.0.1:%s/v1",
        api_key_env = "BENCH_EMBED_KEY", output_dimension = %d, batch_size = %d,
        max_concurrency = %d })
      out:collect{ filename = doc.filename, location = chunk.location, text = chunk.text,
                   embedding = chunk.embedding }
    end)
  end)
  out:export("chunks", coco.targets.SQLite{ path = %q },
    { primary_key_fields = { "filename", "location" } })
end)
]], name, port, dim, BATCH, CONC, db))
end

-- One `coco` update of flow file `file`: seconds, its --json stats (plus
-- coco's CPU seconds and peak RSS, the server's CPU seconds), and what the
-- server saw: requests, texts, most in flight, and the time no request was
-- in flight between the first and the last (each taken as DELAY_MS long).
local function update(file)
  H.write(log, "")
  local c0 = server_cpu()
  local t = now()
  local p = io.popen(string.format("cd %s && BENCH_EMBED_KEY=sk-bench /usr/bin/time -f '@@%%U %%S %%M' " ..
    "%s %s --json 2>&1; echo \"rc=$?\"", H.q(dir), H.q(BIN), file or "flow.lua"))
  local out = p:read("*a")
  p:close()
  local dt = now() - t
  local st = H.json_lines(out)[1]
  if not st or not out:find("rc=0") then
    finish()
    error("coco failed:\n" .. out:sub(1, 2000))
  end
  local u, sy, kb = out:match("@@([%d.]+) ([%d.]+) (%d+)")
  st.cpu, st.rss_mb = tonumber(u) + tonumber(sy), tonumber(kb) / 1024
  st.server_cpu = server_cpu() - c0
  local reqs, texts, most, idle, busy_until = 0, 0, 0, 0, nil
  for _, r in ipairs(H.json_lines(H.read(log))) do       -- in order of arrival
    reqs = reqs + 1
    texts = texts + r.inputs
    most = math.max(most, r.inflight)
    if busy_until and r.t > busy_until then idle = idle + r.t - busy_until end
    busy_until = math.max(busy_until or 0, r.t + DELAY_MS)
    if r.status ~= 200 then
      finish()
      error("the server answered " .. r.status)
    end
  end
  return dt, st, reqs, texts, most, idle / 1000
end

local function verdict(ok) return ok and "PASS" or "FAIL" end
local function count_rows(db, tbl)
  return tonumber(C.sh(string.format("sqlite3 %s 'SELECT count(*) FROM %s'", H.q(dir .. "/" .. db), tbl)))
end

print(string.format("coco embed bench: %d chunks in %d files; fake_openai.js, %d ms per request; " ..
  "batch_size %d, max_concurrency %d; %d dimensions", CHUNKS, FILES, DELAY_MS, BATCH, CONC, DIM))
local goal_reqs = math.ceil(CHUNKS / BATCH)
local floor = math.ceil(goal_reqs / CONC) * DELAY_MS / 1000
write_flow("flow.lua", "BenchEmbed", DIM, "index.sqlite")
local dt, st, reqs, texts, most, idle = update()
local rows = count_rows("index.sqlite", "BenchEmbed__chunks")
print(string.format("initial index: %.2f s (goal <= 2 s) %s; requests %d (goal %d) %s; %d texts, %d rows " ..
  "(goal %d) %s; at most %d in flight; floor %d rounds x %d ms = %.2f s; no request in flight for %.2f s; " ..
  "coco CPU %.2f s, peak RSS %.0f MB; server CPU %.2f s",
  dt, verdict(dt <= 2), reqs, goal_reqs, verdict(reqs == goal_reqs), texts, rows, CHUNKS,
  verdict(rows == CHUNKS and texts == CHUNKS), most, math.ceil(goal_reqs / CONC), DELAY_MS, floor, idle,
  st.cpu, st.rss_mb, st.server_cpu))

for f = 1, FILES do assert(os.rename(fname(f), fname(f, "renamed-"))) end
dt, st, reqs = update()
print(string.format("every file renamed: %.2f s; %d added, %d deleted; requests %d (goal 0) %s",
  dt, st.added, st.deleted, reqs, verdict(reqs == 0)))

local f = math.floor(FILES / 2)
H.write(fname(f, "renamed-"), file_text(f, 5))
dt, st, reqs, texts = update()
print(string.format("one paragraph of one file edited: %.2f s; %d updated; requests %d, texts %d " ..
  "(goal 1 and 1) %s", dt, st.updated, reqs, texts, verdict(reqs == 1 and texts == 1)))

-- The same initial index with text-embedding-3-small's own size: 61 MB of
-- vectors to store (SQLite, and the memo cache in RocksDB) beside the same
-- requests. For information: no goal.
if DIM ~= 1536 then
  write_flow("flow1536.lua", "BenchEmbed1536", 1536, "index1536.sqlite")
  dt, st, reqs, texts, most, idle = update("flow1536.lua")
  print(string.format("initial index, 1536 dimensions: %.2f s (no goal); requests %d, %d rows; " ..
    "no request in flight for %.2f s; coco CPU %.2f s, peak RSS %.0f MB; server CPU %.2f s",
    dt, reqs, count_rows("index1536.sqlite", "BenchEmbed1536__chunks"), idle, st.cpu, st.rss_mb,
    st.server_cpu))
end
finish()
