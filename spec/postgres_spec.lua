-- The Postgres target against real servers: PGlite + pgvector (types,
-- vector indexes, query handlers) and Debian's PostgreSQL, which has no
-- pgvector (a clear error; vectors as real[]), and which we can stop or
-- cut off in the middle of an update. The shared behaviour of targets is in
-- target_conformance_spec.lua.
local H = require("spec.helpers")
local S = require("spec.servers")

local HEAD = [[
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets
local T = coco.types
]]

local function qi(name) return '"' .. name:gsub('"', '""') .. '"' end

-- Runs coco in dir with the server's URL as $COCO_DATABASE_URL.
local function runner(dir, srv, extra)
  return function(args, more)
    local env = { COCO_DATABASE_URL = srv.url }
    for k, v in pairs(extra or {}) do env[k] = v end
    for k, v in pairs(more or {}) do env[k] = v end
    return H.coco(dir, args, env)
  end
end

describe("Postgres target on PGlite + pgvector", function()
  local srv, why, dir, coco
  lazy_setup(function() srv, why = S.pglite() end)
  lazy_teardown(function() if srv then srv:stop() end end)
  before_each(function()
    dir = H.tmpdir()
    if srv then coco = runner(dir, srv) end
  end)
  after_each(function() H.cleanup() end)
  local function ready()
    if not srv then pending("PGlite cannot start: " .. tostring(why)) end
    return srv ~= nil
  end

  it("maps every type, strips NUL bytes, stores halfvec on request", function()
    if not ready() then return end
    H.write(dir .. "/docs/a.md", "hello")
    H.write(dir .. "/flow.lua", HEAD .. [[
local Info = coco.fn("Info", { returns = T.struct{ { "n", "int64" }, { "ok", "bool" }, { "f", "float64" } } },
  function(s) return { n = #s, ok = #s % 2 == 0, f = #s / 4 } end)
local Vec = coco.fn("Vec", { returns = T.vector("float32", 3) }, function(s) return { #s, 1, -0.5 } end)
local Half = coco.fn("Half", { returns = T.vector("float32", 3) }, function(s) return { 0.5, 0.25, #s } end)
local Any = coco.fn("Any", { returns = T.vector("float32") }, function(s) return { 1, 2 } end)
local Raw = coco.fn("Raw", { returns = "bytes" }, function(s) return "\0\1" .. s end)
local Nul = coco.fn("Nul", { returns = "str" }, function(s) return "a\0b\0" .. s end)
local Js = coco.fn("Js", { returns = "json" }, function(s) return '{"k":"v\\u0000w","n":' .. #s .. '}' end)
local F32 = coco.fn("F32", { returns = "float32" }, function(s) return 1.5 end)
return coco.flow("Types", function(flow, scope)
  scope.documents = flow:add_source(sources.LocalFile{ path = "docs" })
  local rows = scope:add_collector()
  scope.documents:row(function(doc)
    doc.info = doc.content:transform(Info)
    doc.chunks = doc.content:transform(functions.SplitRecursively{}, { chunk_size = 1000 })
    doc.chunks:row(function(chunk)
      rows:collect{ filename = doc.filename, location = chunk.location, text = chunk.text,
        info = doc.info, n = doc.info.n, ok = doc.info.ok, f = doc.info.f,
        f32 = chunk.text:transform(F32), vec = chunk.text:transform(Vec),
        half = chunk.text:transform(Half), any = chunk.text:transform(Any),
        raw = chunk.text:transform(Raw), nul = chunk.text:transform(Nul),
        js = chunk.text:transform(Js), start = chunk.start }
    end)
  end)
  rows:export("rows", targets.Postgres{ column_options = { half = { type = "halfvec" } } },
    { primary_key_fields = { "filename", "location" } })
end)
]])
    local rc, out, err = coco("update flow.lua")
    assert.equals(0, rc, err)
    assert.matches("create extension vector if missing", out)
    local types = {}
    for _, r in ipairs(srv:sql("SELECT column_name AS c, udt_name AS t FROM information_schema.columns "
      .. "WHERE table_name = 'Types__rows' ORDER BY ordinal_position")) do
      types[#types + 1] = r.c .. " " .. r.t
    end
    assert.same({ "filename text", "location int8range", "any jsonb", "f float8", "f32 float4",
      "half halfvec", "info jsonb", "js jsonb", "n int8", "nul text", "ok bool", "raw bytea",
      "start jsonb", "text text", "vec vector" }, types)
    local r = srv:sql([[SELECT lower(location) AS lo, upper(location) AS hi, text, nul,
      encode(raw, 'hex') AS raw, js->>'k' AS k, (js->>'n')::int AS jn, info->>'n' AS info_n,
      n, ok, f, f32, vec::text AS vec, half::text AS half, "any"::text AS "any",
      start->>'line' AS line FROM "Types__rows"]])[1]
    assert.same({ lo = 0, hi = 5, text = "hello", nul = "abhello", raw = "000168656c6c6f", k = "vw",
      jn = 5, info_n = "5", n = 5, ok = false, f = 1.25, f32 = 1.5, vec = "[5,1,-0.5]",
      half = "[0.5,0.25,5]", any = "[1, 2]", line = "1" }, r)
  end)

  it("creates vector indexes named <table>__<field>__<metric>, and changes them without losing rows", function()
    if not ready() then return end
    for i = 1, 5 do H.write(dir .. "/docs/" .. i .. ".md", string.rep("word" .. i .. " ", i)) end
    local function flow(indexes)
      H.write(dir .. "/flow.lua", HEAD .. [[
local Vec = coco.fn("Vec", { returns = T.vector("float32", 4) }, function(s) return { #s, 1, 2, 3 } end)
return coco.flow("Idx", function(flow, scope)
  scope.documents = flow:add_source(sources.LocalFile{ path = "docs" })
  local rows = scope:add_collector()
  scope.documents:row(function(doc)
    rows:collect{ filename = doc.filename, embedding = doc.content:transform(Vec) }
  end)
  rows:export("rows", targets.Postgres{ table_name = "idx rows" },
    { primary_key_fields = { "filename" }, vector_indexes = ]] .. indexes .. [[ })
end)
]])
    end
    local function indexes()
      local out = {}
      for _, r in ipairs(srv:sql("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'idx rows' "
        .. "AND indexname <> 'idx rows_pkey' ORDER BY indexname")) do
        out[#out + 1] = r.indexname .. ": " .. r.indexdef:match("USING (.*)$")
      end
      return out
    end
    flow([[{{ field = "embedding", metric = "cosine" },
      { field = "embedding", metric = "l2", method = "ivfflat", lists = 2 }}]])
    local rc, _, err = coco("update flow.lua -q")
    assert.equals(0, rc, err)
    assert.same({
      "idx rows__embedding__cosine: hnsw (embedding vector_cosine_ops) WITH (m='16', ef_construction='64')",
      "idx rows__embedding__l2: ivfflat (embedding) WITH (lists='2')",  -- l2: the default opclass
    }, indexes())
    flow([[{{ field = "embedding", metric = "cosine", m = 8 }, { field = "embedding", metric = "ip" }}]])
    local out
    rc, out, err = coco("update flow.lua")
    assert.equals(0, rc, err)    -- no -f: indexes hold no data
    assert.matches("drop index idx rows__embedding__cosine", out)
    assert.matches("drop index idx rows__embedding__l2", out)
    assert.matches("create index idx rows__embedding__ip", out)
    assert.same({
      "idx rows__embedding__cosine: hnsw (embedding vector_cosine_ops) WITH (m='8', ef_construction='64')",
      "idx rows__embedding__ip: hnsw (embedding vector_ip_ops) WITH (m='16', ef_construction='64')",
    }, indexes())
    assert.equals(5, srv:sql('SELECT count(*) AS n FROM "idx rows"')[1].n)
    -- an index needs a fixed-size vector: a mistake is an error before anything is written
    flow([[{{ field = "filename", metric = "cosine" }}]])
    rc, _, err = coco("update flow.lua")
    assert.equals(1, rc)
    assert.matches("field 'filename' is stored as text; an index needs a vector", err)
  end)

  it("answers `coco query` through pgvector's operator: nearest first, k rows", function()
    if not ready() then return end
    local docs = {
      ["pasta.md"] = "boil pasta in salted water, then add tomato sauce",
      ["db.md"] = "postgres tables with pgvector indexes answer nearest neighbour queries",
      ["git.md"] = "commit often and write clear commit messages",
      ["tea.md"] = "steep green tea in water below boiling",
    }
    for name, text in pairs(docs) do H.write(dir .. "/docs/" .. name, text) end
    H.write(dir .. "/flow.lua", HEAD .. [[
local DIM = 32
local Embed = coco.fn("Embed", { returns = T.vector("float32", DIM) }, function(text)
  local v = {}
  for i = 1, DIM do v[i] = 0 end
  for w in text:lower():gmatch("%a+") do
    local h = 7
    for i = 1, #w do h = (h * 31 + w:byte(i)) % 1000003 end
    v[h % DIM + 1] = v[h % DIM + 1] + 1
  end
  return v
end)
return coco.flow("Q", function(flow, scope)
  scope.documents = flow:add_source(sources.LocalFile{ path = "docs" })
  local rows = scope:add_collector()
  scope.documents:row(function(doc)
    rows:collect{ filename = doc.filename, text = doc.content,
                  embedding = doc.content:transform(Embed) }
  end)
  rows:export("rows", targets.Postgres{}, { primary_key_fields = { "filename" },
    vector_indexes = {{ field = "embedding", metric = "cosine" }} })
  flow:query_handler("search", function(query, opts)
    return flow:top_k("rows", "embedding", flow:call(Embed, query), opts.k)
  end)
  flow:query_handler("l2", function(query, opts)
    return flow:top_k("rows", "embedding", flow:call(Embed, query), opts.k, { metric = "l2" })
  end)
end)
]])
    local rc, _, err = coco("update flow.lua -q")
    assert.equals(0, rc, err)
    local out
    rc, out, err = coco("query flow.lua:search 'boiling water for tea' -k 2 --json")
    assert.equals(0, rc, err)
    local rows = H.json_lines(out)
    assert.equals(2, #rows)
    assert.equals("tea.md", rows[1].filename)
    assert.is_true(rows[1].distance <= rows[2].distance)
    assert.near(1 - rows[1].distance, rows[1].score, 1e-9)
    assert.is_nil(rows[1].embedding)
    rc, out = coco("query flow.lua:l2 'pgvector nearest neighbour' -k 1")
    assert.equals(0, rc)
    assert.matches("^1%.  score %-[%d.]+  filename=db%.md", out)
    rc, _, err = coco("query flow.lua 'x'")
    assert.equals(1, rc)
    assert.matches("several query handlers %(l2, search%): name one", err)
  end)

  it("runs examples/pg_vectors: indexes its docs and answers queries as its README shows", function()
    if not ready() then return end
    local ex = H.root .. "/examples/pg_vectors"
    os.execute("cp -r " .. H.q(ex .. "/docs") .. " " .. H.q(ex .. "/flow.lua") .. " " .. H.q(dir))
    local rc, out, err = coco("flow.lua")
    assert.equals(0, rc, err)
    assert.matches("create index PgVectors__chunks__embedding__cosine on public%.PgVectors__chunks using hnsw", out)
    assert.matches("5 rows: 5 added", out)
    rc, out, err = coco("query flow.lua 'how do I keep an index fresh?' -k 2")
    assert.equals(0, rc, err)
    assert.matches("^1%.  score [%d.]+  filename=incremental%-indexing%.md", out)
    rc, out = coco("query flow.lua 'baking bread' -k 1 --json")
    assert.equals("sourdough.md", H.json_lines(out)[1].filename)
    -- an edit re-embeds only what changed
    H.write(dir .. "/docs/sourdough.md", H.read(dir .. "/docs/sourdough.md") .. "\nUse rye flour for a darker loaf.\n")
    rc, out = coco("flow.lua --json")
    local st = H.json_lines(out)[1]
    assert.same({ 0, 1, 4 }, { st.added, st.updated, st.unchanged })
    assert.equals(0, (coco("drop flow.lua -f -q")))
  end)
end)

describe("Postgres target on Debian's PostgreSQL", function()
  local srv, why, dir, coco
  lazy_setup(function() srv, why = S.postgres() end)
  lazy_teardown(function() if srv then srv:stop() end end)
  before_each(function()
    dir = H.tmpdir()
    if srv then coco = runner(dir, srv, { COCO_PG_RETRY_SECONDS = "1" }) end
  end)
  after_each(function() H.cleanup() end)
  local function ready()
    if not srv then pending("PostgreSQL cannot start: " .. tostring(why)) end
    return srv ~= nil
  end

  -- A flow of n files whose Lua function runs `hook` (a shell command) at
  -- its call number `at`: later than the first batch of the indexer (512
  -- rows), so a connection is open and one batch is committed.
  local function hook_flow(name, n, at, hook, column)
    for i = 1, n do H.write(string.format("%s/docs/f%04d.md", dir, i), "file " .. i) end
    H.write(dir .. "/flow.lua", HEAD .. string.format([[
local calls, at, hook = 0, %d, %q
local Vec = coco.fn("Vec", { returns = T.vector("float32", 3) }, function(s)
  calls = calls + 1
  if calls == at and os.getenv("HOOK") then os.execute(hook) end
  return { #s, 1, 2 }
end)
return coco.flow(%q, function(flow, scope)
  scope.documents = flow:add_source(sources.LocalFile{ path = "docs" })
  local rows = scope:add_collector()
  scope.documents:row(function(doc)
    rows:collect{ filename = doc.filename, text = doc.content, vec = doc.content:transform(Vec) }
  end)
  rows:export("rows", targets.Postgres{ column_options = { vec = { type = "%s" } } },
    { primary_key_fields = { "filename" } })
end)
]], at, hook, name, column or "real[]"))
  end

  it("says plainly that the server has no vector extension, and changes nothing", function()
    if not ready() then return end
    hook_flow("NoVec", 3, 0, "", "vector")
    local rc, _, err = coco("update flow.lua -q")
    assert.equals(1, rc)
    assert.matches('has no "vector" extension %(pgvector%), needed by column vec vector%(3%) of public%.NoVec__rows', err)
    assert.same({}, srv:sql("SELECT 1 FROM pg_tables WHERE tablename = 'NoVec__rows'"))
    -- vectors as real[] need no extension
    hook_flow("NoVec", 3, 0, "", "real[]")
    rc, _, err = coco("update flow.lua -q")
    assert.equals(0, rc, err)
    assert.same({ { v = "{6,1,2}" } }, srv:sql([[SELECT vec::text AS v FROM "NoVec__rows" WHERE filename = 'f0001.md']]))
  end)

  it("rejects a wrong connection string clearly, and changes nothing anywhere", function()
    if not ready() then return end
    hook_flow("BadConn", 2, 0, "")
    local rc, _, err = coco("update flow.lua -q", { COCO_DATABASE_URL = "this is not a connection string" })
    assert.equals(1, rc)
    assert.matches("Postgres: invalid connection string: missing \"=\" after \"this\"", err)
    rc, _, err = coco("update flow.lua -q", { COCO_DATABASE_URL = "postgres://postgres@127.0.0.1:1/nowhere" })
    assert.equals(1, rc)
    assert.matches("Postgres: cannot connect to postgres://127%.0%.0%.1:1/nowhere: .*refused", err)
    rc, _, err = coco("update flow.lua -q", { COCO_DATABASE_URL = "" })
    assert.equals(1, rc)
    assert.matches("needs a database", err)
    local out
    rc, out = coco("show flow.lua")
    assert.matches("create table public%.BadConn__rows", out)   -- still to do
    assert.same({}, srv:sql("SELECT 1 FROM pg_tables WHERE tablename = 'BadConn__rows'"))
    rc, _, err = coco("update flow.lua -q")
    assert.equals(0, rc, err)
    assert.equals(2, srv:sql('SELECT count(*) AS n FROM "BadConn__rows"')[1].n)
  end)

  it("reconnects when the connection is cut in the middle of an update", function()
    if not ready() then return end
    local kill = "psql -X -q " .. H.q(srv.url) .. " -c \"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      .. "WHERE application_name = 'coco'\" >/dev/null"
    hook_flow("Cut", 800, 600, kill)
    local rc, _, err = coco("update flow.lua -q", { HOOK = "1", COCO_PG_STATS = "1" })
    assert.equals(0, rc, err)
    assert.matches("800 upserts, 0 deletes, [%d.]+ ms in the target %(%d+ rows/s%), 1 reconnects", err)
    assert.equals(800, srv:sql('SELECT count(*) AS n FROM "Cut__rows"')[1].n)
  end)

  it("advances no state when the server stops in the middle of an update; the next run converges", function()
    if not ready() then return end
    local stop = string.format("%s%s/pg_ctl -D %s -w -m immediate stop >/dev/null 2>&1",
      io.popen("id -u"):read("*l") == "0" and "runuser -u postgres -- " or "", srv.bindir, H.q(srv.data))
    -- the first batch is written on the writer thread while rows go on
    -- being evaluated: stop once it has committed, in the middle of the run
    local count = "psql -X -qAt " .. H.q(srv.url) .. " -c 'SELECT count(*) FROM \"Stop__rows\"'"
    stop = "for i in $(seq 1200); do [ \"$(" .. count .. " 2>/dev/null)\" -gt 0 ] 2>/dev/null && break; "
      .. "sleep 0.05; done; " .. stop
    hook_flow("Stop", 800, 600, stop)
    local rc, _, err = coco("update flow.lua -q", { HOOK = "1" })
    assert.equals(1, rc)
    assert.matches("Stop__rows on postgres://127%.0%.0%.1:%d+/postgres: lost the connection and could not reconnect", err)
    assert.is_true(srv:start())
    local written = srv:sql('SELECT count(*) AS n FROM "Stop__rows"')[1].n
    assert.is_true(written > 0 and written < 800, "rows committed before the stop: " .. written)
    local out
    rc, out, err = coco("update flow.lua --json")
    assert.equals(0, rc, err)
    local st = H.json_lines(out)[1]
    -- exactly the rows whose batch did not commit are processed again
    -- (they were staged, so they count as updated)
    assert.equals(written, st.unchanged)
    assert.equals(800 - written, st.added + st.updated)
    assert.equals(800, srv:sql('SELECT count(*) AS n FROM "Stop__rows"')[1].n)
    rc, out = coco("update flow.lua --json")
    st = H.json_lines(out)[1]
    assert.same({ 0, 0, 0, 800 }, { st.added, st.updated, st.deleted, st.unchanged })
  end)

  it("fails only the rows whose vectors have another dimension; a schema of one's own", function()
    if not ready() then return end
    for i = 1, 3 do H.write(dir .. "/docs/" .. i .. ".md", string.rep("x", i)) end
    H.write(dir .. "/flow.lua", HEAD .. [[
local Vec = coco.fn("Vec", { returns = T.vector("float32", 2) }, function(s)
  if #s == 2 then return { 1, 2, 3 } end
  return { #s, 0 }
end)
return coco.flow("Dims", function(flow, scope)
  scope.documents = flow:add_source(sources.LocalFile{ path = "docs" })
  local rows = scope:add_collector()
  scope.documents:row(function(doc)
    rows:collect{ filename = doc.filename, vec = doc.content:transform(Vec) }
  end)
  rows:export("rows", targets.Postgres{ schema = "coco's schema",
    column_options = { vec = { type = "real[]" } } }, { primary_key_fields = { "filename" } })
  flow:query_handler("q", function(query, opts)
    return flow:top_k("rows", "vec", { 1, 0 }, opts.k)
  end)
end)
]])
    local rc, _, err = coco("update flow.lua -q")
    assert.equals(1, rc)
    assert.matches("2%.md.*expected a vector of 2 numbers, got 3", err)
    assert.same({ { filename = "1.md" }, { filename = "3.md" } },
      srv:sql([[SELECT filename FROM "coco's schema"."Dims__rows" ORDER BY filename]]))
    rc, _, err = coco("query flow.lua 'x'")
    assert.equals(1, rc)
    assert.matches("field 'vec' is stored as real%[%]; top_k needs a vector or halfvec column", err)
  end)

  it("turns rows the server refuses into row errors of their source rows; the rest is written", function()
    if not ready() then return end
    -- a key too large for the primary key's btree (SQLSTATE 54000) in one
    -- file of 1,200, spread over three batches of the writer thread
    local function random_text(n, seed)
      local t = {}
      for i = 1, n do
        seed = (seed * 1103515245 + 12345) % 2147483648
        t[i] = string.char(97 + seed % 26)
      end
      return table.concat(t)
    end
    for i = 1, 1200 do H.write(string.format("%s/docs/f%04d.md", dir, i), "text " .. i) end
    H.write(dir .. "/docs/f0700.md", random_text(12000, 7))
    H.write(dir .. "/flow.lua", HEAD .. [[
return coco.flow("Refused", function(flow, scope)
  scope.documents = flow:add_source(sources.LocalFile{ path = "docs" })
  local rows = scope:add_collector()
  scope.documents:row(function(doc)
    rows:collect{ body = doc.content, filename = doc.filename }
  end)
  rows:export("rows", targets.Postgres{}, { primary_key_fields = { "body" } })
end)
]])
    local rc, out, err = coco("update flow.lua --json")
    assert.equals(1, rc)
    assert.matches("f0700%.md: export 'rows' %(Postgres%): .*index row requires %d+ bytes", err)
    local st = H.json_lines(out)[1]
    assert.same({ 1199, 1 }, { st.added, st.errors })
    assert.equals(1199, srv:sql('SELECT count(*) AS n FROM "Refused__rows"')[1].n)
    -- the refused row is tried again, and only it
    rc, out = coco("update flow.lua --json")
    assert.equals(1, rc)
    st = H.json_lines(out)[1]
    assert.same({ 0, 0, 1199, 1 }, { st.added, st.updated, st.unchanged, st.errors })
    -- fixed: it converges
    H.write(dir .. "/docs/f0700.md", "text 700")
    rc, out, err = coco("update flow.lua --json")
    assert.equals(0, rc, err)
    st = H.json_lines(out)[1]
    assert.same({ 1, 0, 1199 }, { st.added + st.updated, st.errors, st.unchanged })
    assert.equals(1200, srv:sql('SELECT count(*) AS n FROM "Refused__rows"')[1].n)
  end)
end)
