-- EmbedText and ExtractByLlm through the real coco binary, against
-- spec/servers/fake_openai.js: a loopback stand-in for the OpenAI and
-- Ollama APIs (the real services cannot run here) that checks requests
-- strictly and logs each one (inputs, concurrency, status). What is
-- asserted: texts of many rows go out in requests of up to batch_size, at
-- most max_concurrency at once, results land on their rows; 429 (with
-- Retry-After) and 500 are retried; a 400 fails its row with the API's
-- message while the others go on; the key shows nowhere, and without it
-- nothing starts; a server that is down, cuts its answers, answers fewer
-- vectors than inputs or no JSON fails the rows concerned, which commit
-- nothing and come back on the next run; a text is never embedded twice
-- (re-run, rename, move, shared paragraphs); the memo cache stays bounded
-- under churn; examples/text_embedding indexes and answers `coco query`.
local H = require("spec.helpers")
local ffi = require("ffi")

pcall(ffi.cdef, "int poll(void *fds, unsigned long nfds, int timeout);")
local function sleep_ms(ms) ffi.C.poll(nil, 0, ms) end

local KEY = "sk-coco-spec-8f3a1c9e7b2d4f60"
local have_node = H.sh("command -v node >/dev/null 2>&1")

-- ---- the fake server ---------------------------------------------------------
local Server = {}
Server.__index = Server

-- Starts node on a port the kernel picks (or on s.port again).
function Server:start()
  H.write(self.dir .. "/port", "")
  self.proc = io.popen(string.format("exec node %s --log %s --config %s --port %d >%s",
    H.q(H.root .. "/spec/servers/fake_openai.js"), H.q(self.log), H.q(self.conf), self.port or 0,
    H.q(self.dir .. "/port")), "w")
  local port
  for _ = 1, 2400 do                       -- a minute at most
    port = tonumber((H.read(self.dir .. "/port") or ""):match('"port":(%d+)'))
    if port then break end
    sleep_ms(25)
  end
  assert(port and (port == self.port or not self.port), "fake_openai.js did not start")
  self.port = port
  self.openai = "http://127.0.0.1:" .. port .. "/v1"
  self.ollama = "http://127.0.0.1:" .. port
end

local function start_server(conf)
  local dir = H.tmpdir()
  local s = setmetatable({ dir = dir, log = dir .. "/requests.log", conf = dir .. "/conf.json" }, Server)
  s:set(conf or {})
  H.write(s.log, "")
  s:start()
  return s
end

function Server:set(conf)
  local c = { key = KEY, dim = 8 }
  for k, v in pairs(conf) do c[k] = v end
  H.write(self.conf, H.json.encode(c))
end

-- The requests logged since the last call (each: path, status, inputs,
-- texts, inflight, auth).
function Server:take()
  local s = H.read(self.log) or ""
  H.write(self.log, "")
  return H.json_lines(s)
end

function Server:stop()
  if self.proc then self.proc:close() end
  self.proc = nil
end

local function exists(path) return (H.sh("test -e " .. H.q(path))) end

local function inputs(reqs)
  local n = 0
  for _, r in ipairs(reqs) do n = n + (r.inputs or 0) end
  return n
end

-- ---- flows -------------------------------------------------------------------
-- o: api_type, batch_size, max_concurrency, dim (output_dimension), model
local function embed_flow(o)
  o = o or {}
  return string.format([[
local coco = require("coco")
local F = coco.functions
return coco.flow("Embed", function(flow, scope)
  scope.docs = flow:add_source(coco.sources.LocalFile{ path = "docs", included_patterns = { "*.md" } })
  local out = scope:add_collector()
  scope.docs:row(function(doc)
    doc.chunks = doc.content:transform(F.SplitRecursively{}, { chunk_size = 40, chunk_overlap = 0 })
    doc.chunks:row(function(chunk)
      chunk.embedding = chunk.text:transform(F.EmbedText{ api_type = %q, model = %q,
        address = os.getenv("FAKE_ADDR"), api_key_env = "FAKE_KEY", output_dimension = %d,
        batch_size = %d, max_concurrency = %d })
      out:collect{ filename = doc.filename, location = chunk.location, text = chunk.text,
                   embedding = chunk.embedding }
    end)
  end)
  out:export("chunks", coco.targets.SQLite{ path = "index.sqlite" },
    { primary_key_fields = { "filename", "location" } })
end)
]], o.api_type or "openai", o.model or "fake-embed", o.dim or 8, o.batch_size or 4,
    o.max_concurrency or 2)
end

local para, doc = H.numbered_para, H.numbered_doc

-- Decode a little-endian float32 blob given as hex.
local function floats(hex)
  local n = #hex / 8
  local buf = ffi.new("uint8_t[?]", n * 4)
  for i = 0, n * 4 - 1 do buf[i] = tonumber(hex:sub(2 * i + 1, 2 * i + 2), 16) end
  local f = ffi.cast("float *", buf)
  local out = {}
  for i = 0, n - 1 do out[i + 1] = f[i] end
  return out
end

-- Every stored row's vector is the one the server derives from its text.
local function check_rows(d, dim, tbl)
  local rows = H.sql(d .. "/index.sqlite", "SELECT text, hex(embedding) AS e FROM " .. (tbl or "Embed__chunks"))
  for _, r in ipairs(rows) do
    local v = floats(r.e)
    local sum = 0
    for i = 1, #r.text do sum = sum + r.text:byte(i) end
    assert.are.equal(dim or 8, #v)
    assert.are.equal(#r.text, v[1], r.text)
    assert.are.equal(sum % 997, v[2], r.text)
  end
  return #rows
end

local function cached(d, env)
  local rc, out, err = H.coco(d, "show flow.lua", env)
  assert.are.equal(0, rc, err)
  return tonumber(out:match("(%d+) cached function results"))
end

describe("EmbedText", function()
  local srv, d, env

  before_each(function()
    if not have_node then return end
    srv = start_server()
    d = H.tmpdir()
    env = { FAKE_ADDR = srv.openai, FAKE_KEY = KEY }
  end)
  after_each(function()
    if srv then srv:stop() end
    srv = nil
    H.cleanup()
  end)

  local function run(args, e)
    local rc, out, err = H.coco(d, args or "flow.lua", e or env)
    return rc, out, err
  end

  it("groups the texts of many rows into requests of up to batch_size, results on their rows", function()
    if not have_node then return pending("node is not installed") end
    H.write(d .. "/flow.lua", embed_flow{ batch_size = 5, max_concurrency = 3 })
    for f = 1, 12 do H.write(string.format("%s/docs/f%02d.md", d, f), doc("f" .. f, 3)) end
    local rc, _, err = run()
    assert.are.equal(0, rc, err)
    local reqs = srv:take()
    assert.are.equal(36, inputs(reqs))
    assert.are.equal(math.ceil(36 / 5), #reqs)
    for _, r in ipairs(reqs) do
      assert.are.equal("/v1/embeddings", r.path)
      assert.are.equal(200, r.status)
      assert.is_true(r.auth)
      assert.is_true(r.inputs <= 5)
    end
    assert.are.equal(36, check_rows(d))
  end)

  it("keeps at most max_concurrency requests in flight", function()
    if not have_node then return pending("node is not installed") end
    -- the server holds its answers until 3 requests wait at once: the spec
    -- sees them overlap, whatever the machine's speed
    srv:set{ delay_ms = 150, hold_until = 3 }
    H.write(d .. "/flow.lua", embed_flow{ batch_size = 2, max_concurrency = 3 })
    for f = 1, 6 do H.write(string.format("%s/docs/f%d.md", d, f), doc("c" .. f, 4)) end
    local rc, _, err = run()
    assert.are.equal(0, rc, err)
    local reqs = srv:take()
    assert.are.equal(12, #reqs)
    local most = 0
    for _, r in ipairs(reqs) do most = math.max(most, r.inflight) end
    assert.are.equal(3, most)
    assert.are.equal(24, check_rows(d))
  end)

  it("retries 429 (honouring Retry-After) and 500", function()
    if not have_node then return pending("node is not installed") end
    srv:set{ fail = { { status = 429, retry_after = 1, count = 2 }, { status = 500, count = 1 } } }
    H.write(d .. "/flow.lua", embed_flow{ batch_size = 8, max_concurrency = 1 })
    H.write(d .. "/docs/a.md", doc("r", 6))
    local rc, _, err = run()
    assert.are.equal(0, rc, err)
    local reqs = srv:take()
    local st = {}
    for i, r in ipairs(reqs) do st[i] = r.status end
    assert.are.same({ 429, 429, 500, 200 }, st)
    -- two Retry-After: 1 waits at least
    assert.is_true(reqs[3].t - reqs[1].t >= 1900, "retried after " .. (reqs[3].t - reqs[1].t) .. " ms")
    assert.are.equal(6, check_rows(d))
  end)

  it("fails the row of a text the API refuses (400) with the API's message; the others go on", function()
    if not have_node then return pending("node is not installed") end
    srv:set{ poison = "POISON" }
    H.write(d .. "/flow.lua", embed_flow{ batch_size = 16, max_concurrency = 2 })
    for f = 1, 4 do H.write(string.format("%s/docs/f%d.md", d, f), doc("p" .. f, 3)) end
    H.write(d .. "/docs/f3.md", doc("p3", 2) .. "A POISON paragraph here.\n")
    local rc, out, err = run()
    assert.are_not.equal(0, rc)
    assert.matches("f3.md", err, 1, true)
    assert.matches("HTTP 400", err, 1, true)
    assert.matches("This model's maximum context length is 8192 tokens; input contains POISON", err, 1, true)
    assert.matches("1 errors", out, 1, true)
    local files = {}
    for _, r in ipairs(H.sql(d .. "/index.sqlite", "SELECT DISTINCT filename FROM Embed__chunks ORDER BY 1")) do
      files[#files + 1] = r.filename
    end
    assert.are.same({ "f1.md", "f2.md", "f4.md" }, files)
    -- the failed row is retried on the next run
    srv:set{}
    srv:take()
    rc, _, err = run()
    assert.are.equal(0, rc, err)
    assert.are.equal(12, check_rows(d))
  end)

  it("a dimension other than output_dimension is a row error", function()
    if not have_node then return pending("node is not installed") end
    srv:set{ wrong_dim = "ODD" }
    H.write(d .. "/flow.lua", embed_flow{})
    H.write(d .. "/docs/a.md", doc("a", 2))
    H.write(d .. "/docs/b.md", "An ODD one.\n")
    local rc, _, err = run()
    assert.are_not.equal(0, rc)
    assert.matches("b.md", err, 1, true)
    assert.matches("7 dimensions, expected 8", err, 1, true)
    assert.are.equal(2, check_rows(d))
  end)

  it("never shows the key: not in output, errors, state, show or evaluate", function()
    if not have_node then return pending("node is not installed") end
    H.write(d .. "/flow.lua", embed_flow{})
    H.write(d .. "/docs/a.md", doc("k", 3))
    local seen = {}
    local function keep(rc, out, err) seen[#seen + 1] = out .. err return rc end
    assert.are.equal(0, keep(run()))
    assert.are.equal(0, keep(run("show flow.lua -v")))
    assert.are.equal(0, keep(run("evaluate flow.lua -o evald")))
    assert.are.equal(0, keep(run("flow.lua --json")))
    -- a server that echoes the key it got in its 401
    srv:set{ echo_key = true, key = "sk-someone-else" }
    H.write(d .. "/docs/b.md", doc("k2", 1))
    assert.are_not.equal(0, keep(run()))
    assert.matches("Incorrect API key", seen[#seen], 1, true)
    for _, s in ipairs(seen) do assert.is_nil(s:find(KEY, 1, true)) end
    local p = io.popen("find " .. H.q(d) .. " -type f")
    local nfiles = 0
    for f in p:lines() do
      nfiles = nfiles + 1
      assert.is_nil((H.read(f) or ""):find(KEY, 1, true), f)
    end
    p:close()
    assert.is_true(nfiles >= 4)
  end)

  it("without the key set, says so before any work", function()
    if not have_node then return pending("node is not installed") end
    H.write(d .. "/flow.lua", embed_flow{})
    H.write(d .. "/docs/a.md", doc("n", 2))
    for _, args in ipairs({ "flow.lua", "evaluate flow.lua -o evald", "query flow.lua text" }) do
      local rc, _, err = run(args, { FAKE_ADDR = srv.openai })
      assert.are_not.equal(0, rc)
      assert.matches("flow.lua:%d+: EmbedText: environment variable FAKE_KEY %(api_key_env%) is not set", err)
    end
    assert.are.equal(0, #srv:take())
    -- nothing done: no table, no state, no output
    for _, f in ipairs({ "index.sqlite", ".coco", "evald" }) do assert.is_false(exists(d .. "/" .. f), f) end
  end)

  it("without the key, show, setup and drop work; update and live still refuse before any request", function()
    if not have_node then return pending("node is not installed") end
    H.write(d .. "/flow.lua", embed_flow{})
    H.write(d .. "/docs/a.md", doc("s", 2))
    local nokey = { FAKE_ADDR = srv.openai }
    local function ok(args)
      local rc, out, err = run(args, nokey)
      assert.are.equal(0, rc, err)
      assert.is_nil(err:find("not set", 1, true))
      return out
    end
    local out = ok("show flow.lua -v")
    assert.matches("EmbedText(text = text", out, 1, true)
    assert.matches("Setup: changes pending", out, 1, true)
    assert.is_false(exists(d .. "/.coco"))
    assert.matches("create table Embed__chunks", ok("setup flow.lua"), 1, true)
    assert.are.same({}, H.sql(d .. "/index.sqlite", "SELECT * FROM Embed__chunks"))
    for _, args in ipairs({ "flow.lua", "update flow.lua --json", "flow.lua -L" }) do
      local rc, _, err = run(args, nokey)
      assert.are_not.equal(0, rc, args)
      assert.matches("flow.lua:%d+: EmbedText: environment variable FAKE_KEY %(api_key_env%) is not set", err)
    end
    assert.are.equal(0, #srv:take())
    -- nothing written: no row, no tracked source row
    assert.are.same({}, H.sql(d .. "/index.sqlite", "SELECT * FROM Embed__chunks"))
    assert.matches("Setup: up to date\nState: 0 source rows tracked", ok("show flow.lua"), 1, true)
    -- with the key it runs; without it, drop still drops the table and the state
    assert.are.equal(0, (run()))
    assert.is_true(#srv:take() > 0)
    assert.are.equal(2, check_rows(d))
    assert.matches("drop table Embed__chunks", ok("drop flow.lua -f"), 1, true)
    assert.is_false(exists(d .. "/.coco/Embed"))
    assert.are.same({}, H.sql(d .. "/index.sqlite",
      "SELECT name FROM sqlite_master WHERE name = 'Embed__chunks'"))
    assert.are.equal(0, #srv:take())
  end)

  it("never pays twice: re-runs, renames, moves and shared paragraphs cost no request", function()
    if not have_node then return pending("node is not installed") end
    H.write(d .. "/flow.lua", embed_flow{ batch_size = 4 })
    for f = 1, 4 do H.write(string.format("%s/docs/f%d.md", d, f), doc("s" .. f, 4)) end
    -- a file sharing two paragraphs with f1, and one with itself twice
    H.write(d .. "/docs/dup.md", para("s1", 1) .. para("s1", 2) .. para("own", 1) .. para("own", 1))
    local rc, _, err = run()
    assert.are.equal(0, rc, err)
    local reqs = srv:take()
    assert.are.equal(17, inputs(reqs))     -- 16 + "own 1", each text once
    local seen = {}
    for _, r in ipairs(reqs) do
      for _, t in ipairs(r.texts) do
        assert.is_nil(seen[t], t)
        seen[t] = true
      end
    end
    assert.are.equal(20, check_rows(d))
    -- nothing changed
    rc, _, err = run()
    assert.are.equal(0, rc, err)
    assert.are.equal(0, #srv:take())
    -- every file renamed, one moved into a directory
    for f = 1, 4 do os.rename(string.format("%s/docs/f%d.md", d, f), string.format("%s/docs/g%d.md", d, f)) end
    H.mkdir(d .. "/docs/sub")
    os.rename(d .. "/docs/dup.md", d .. "/docs/sub/dup.md")
    rc, _, err = run()
    assert.are.equal(0, rc, err)
    assert.are.equal(0, #srv:take())
    assert.are.equal(20, check_rows(d))
    -- every row evaluated again: all from the cache
    rc, _, err = run("flow.lua --full-reprocess")
    assert.are.equal(0, rc, err)
    assert.are.equal(0, #srv:take())
    -- one paragraph edited: one text embedded
    H.write(d .. "/docs/g2.md", para("s2", 1) .. para("s2", 2) .. para("edited", 3) .. para("s2", 4))
    rc, _, err = run()
    assert.are.equal(0, rc, err)
    reqs = srv:take()
    assert.are.equal(1, #reqs)
    assert.are.same({ "Paragraph edited number 3." }, reqs[1].texts)
  end)

  it("keeps the cache bounded under churn", function()
    if not have_node then return pending("node is not installed") end
    H.write(d .. "/flow.lua", embed_flow{ batch_size = 16, max_concurrency = 4 })
    for f = 1, 4 do H.write(string.format("%s/docs/f%d.md", d, f), doc("v0-" .. f, 5)) end
    local rc, _, err = run()
    assert.are.equal(0, rc, err)
    assert.are.equal(20, inputs(srv:take()))
    assert.are.equal(20, cached(d, env))
    for round = 1, 4 do
      for f = 1, 4 do H.write(string.format("%s/docs/f%d.md", d, f), doc("v" .. round .. "-" .. f, 5)) end
      rc, _, err = run()
      assert.are.equal(0, rc, err)
      assert.are.equal(20, inputs(srv:take()))
      assert.are.equal(20, cached(d, env))
    end
    os.remove(d .. "/docs/f4.md")
    rc, _, err = run()
    assert.are.equal(0, rc, err)
    assert.are.equal(15, cached(d, env))
  end)

  it("speaks Ollama's /api/embed", function()
    if not have_node then return pending("node is not installed") end
    env.FAKE_ADDR = srv.ollama
    H.write(d .. "/flow.lua", embed_flow{ api_type = "ollama", batch_size = 3, dim = 16 })
    srv:set{ dim = 16 }
    for f = 1, 3 do H.write(string.format("%s/docs/f%d.md", d, f), doc("o" .. f, 3)) end
    local rc, _, err = run()
    assert.are.equal(0, rc, err)
    local reqs = srv:take()
    assert.are.equal(3, #reqs)
    for _, r in ipairs(reqs) do
      assert.are.equal("/api/embed", r.path)
      assert.are.equal(200, r.status)
    end
    assert.are.equal(9, check_rows(d, 16))
  end)

  it("counts rows as errors while the server is down, commits nothing for them, retries them next run", function()
    if not have_node then return pending("node is not installed") end
    H.write(d .. "/flow.lua", embed_flow{})
    for f = 1, 2 do H.write(string.format("%s/docs/f%d.md", d, f), doc("d" .. f, 2)) end
    local rc, _, err = run()
    assert.are.equal(0, rc, err)
    assert.are.equal(4, inputs(srv:take()))
    local before = H.dump(d .. "/index.sqlite", "Embed__chunks")
    assert.are.equal(4, #before)
    -- while down: one file edited, two added
    H.write(d .. "/docs/f1.md", doc("e1", 2))
    for f = 3, 4 do H.write(string.format("%s/docs/f%d.md", d, f), doc("d" .. f, 2)) end
    srv:stop()                     -- nobody listens on its port now
    local out
    rc, out, err = run("flow.lua --json")
    assert.are_not.equal(0, rc)
    local st = H.json_lines(out)[1]
    assert.are.same({ 0, 0, 3 }, { st.added, st.updated, st.errors })
    for _, f in ipairs({ "f1.md", "f3.md", "f4.md" }) do assert.matches(f .. ": EmbedText", err, 1, true) end
    assert.matches("Couldn't connect", err, 1, true)
    assert.are.same(before, H.dump(d .. "/index.sqlite", "Embed__chunks"))
    -- back up, at the same address: exactly those rows again
    srv:start()
    rc, out, err = run("flow.lua --json")
    assert.are.equal(0, rc, err)
    st = H.json_lines(out)[1]
    assert.are.same({ 2, 1, 0, 1 }, { st.added, st.updated, st.errors, st.unchanged })
    assert.are.equal(6, inputs(srv:take()))
    assert.are.equal(8, check_rows(d))
  end)

  it("a connection closed in the middle of a body is retried; closed every time, the rows fail", function()
    if not have_node then return pending("node is not installed") end
    H.write(d .. "/flow.lua", embed_flow{ batch_size = 8, max_concurrency = 1 })
    for f = 1, 2 do H.write(string.format("%s/docs/f%d.md", d, f), doc("m" .. f, 3)) end
    -- every answer cut: after the retries, both rows fail, nothing is written
    srv:set{ drop = true }
    local rc, out, err = run("flow.lua --json")
    assert.are_not.equal(0, rc)
    assert.are.equal(2, H.json_lines(out)[1].errors)
    assert.matches("f1.md: EmbedText", err, 1, true)
    assert.matches("partial", err, 1, true)          -- curl: "Transferred a partial file"
    assert.matches("5 attempts", err, 1, true)
    assert.are.equal(5, #srv:take())
    assert.are.equal(0, #H.sql(d .. "/index.sqlite", "SELECT * FROM Embed__chunks"))
    -- the first answer cut: retried, and every row gets its vector
    srv:set{ drop = 1 }
    rc, _, err = run()
    assert.are.equal(0, rc, err)
    assert.are.equal(2, #srv:take())
    assert.are.equal(6, check_rows(d))
  end)

  for _, case in ipairs({
    { what = "fewer vectors than inputs", conf = { short = true }, msg = "returned 3 embeddings for 4 inputs" },
    { what = "a body that is not JSON", conf = { malformed = true }, msg = "is not valid JSON" },
  }) do
    it("a response with " .. case.what .. " fails the rows of that request, which come back next run", function()
      if not have_node then return pending("node is not installed") end
      H.write(d .. "/flow.lua", embed_flow{ batch_size = 4, max_concurrency = 1 })
      H.write(d .. "/docs/a.md", doc("s", 4))
      H.write(d .. "/docs/b.md", doc("t", 4))
      srv:set(case.conf)
      local rc, out, err = run("flow.lua --json")
      assert.are_not.equal(0, rc)
      assert.are.equal(2, H.json_lines(out)[1].errors)
      for _, f in ipairs({ "a.md", "b.md" }) do assert.matches(f .. ": EmbedText", err, 1, true) end
      assert.matches(case.msg, err, 1, true)
      assert.are.equal(2, #srv:take())             -- a 200 is not retried
      assert.are.equal(0, #H.sql(d .. "/index.sqlite", "SELECT * FROM Embed__chunks"))
      srv:set{}
      rc, _, err = run()
      assert.are.equal(0, rc, err)
      assert.are.equal(8, check_rows(d))
    end)
  end
end)

describe("ExtractByLlm", function()
  local srv, d, env
  before_each(function()
    if not have_node then return end
    srv = start_server()
    d = H.tmpdir()
    env = { FAKE_ADDR = srv.openai, FAKE_KEY = KEY }
  end)
  after_each(function()
    if srv then srv:stop() end
    srv = nil
    H.cleanup()
  end)

  local function flow(api)
    return string.format([[
local coco = require("coco")
return coco.flow("Extract", function(flow, scope)
  scope.docs = flow:add_source(coco.sources.LocalFile{ path = "docs" })
  local out = scope:add_collector()
  scope.docs:row(function(doc)
    doc.info = doc.content:transform(coco.functions.ExtractByLlm{ api_type = %q, model = "fake-chat",
      address = os.getenv("FAKE_ADDR"), api_key_env = "FAKE_KEY",
      output_type = coco.types.struct{ { "title", "str" }, { "year", "int64" } },
      instruction = "The year is when the book came out." })
    out:collect{ filename = doc.filename, title = doc.info.title, year = doc.info.year, info = doc.info }
  end)
  out:export("books", coco.targets.SQLite{ path = "index.sqlite" }, { primary_key_fields = { "filename" } })
end)
]], api)
  end

  it("without the key set, says so before any work; never shows the key", function()
    if not have_node then return pending("node is not installed") end
    H.write(d .. "/flow.lua", flow("openai"))
    H.write(d .. "/docs/dune.txt", "title: Dune\nyear: 1965\n")
    local rc, _, err = H.coco(d, "flow.lua", { FAKE_ADDR = srv.openai })
    assert.are_not.equal(0, rc)
    assert.matches("flow.lua:%d+: ExtractByLlm: environment variable FAKE_KEY %(api_key_env%) is not set", err)
    assert.are.equal(0, #srv:take())
    assert.is_false(exists(d .. "/.coco"))
    local seen = {}
    local function keep(rc2, out, err2) seen[#seen + 1] = out .. err2 return rc2 end
    assert.are.equal(0, keep(H.coco(d, "flow.lua", env)))
    assert.are.equal(0, keep(H.coco(d, "show flow.lua -v", env)))
    assert.are.equal(0, keep(H.coco(d, "evaluate flow.lua -o evald --no-cache", env)))
    -- a server that echoes the key it got in its 401
    srv:set{ echo_key = true, key = "sk-someone-else" }
    H.write(d .. "/docs/solaris.txt", "title: Solaris\nyear: 1961\n")
    assert.are_not.equal(0, keep(H.coco(d, "flow.lua", env)))
    assert.matches("solaris.txt", seen[#seen], 1, true)
    assert.matches("Incorrect API key provided: " .. ("*"):rep(#KEY) .. ".", seen[#seen], 1, true)
    for _, s in ipairs(seen) do assert.is_nil(s:find(KEY, 1, true)) end
  end)

  for _, api in ipairs({ "openai", "ollama" }) do
    it("extracts a struct of output_type (" .. api .. "), a row error when the answer does not fit", function()
      if not have_node then return pending("node is not installed") end
      if api == "ollama" then env.FAKE_ADDR = srv.ollama end
      H.write(d .. "/flow.lua", flow(api))
      H.write(d .. "/docs/dune.txt", "title: Dune\nyear: 1965\n")
      H.write(d .. "/docs/solaris.txt", "title: Solaris\nyear: 1961\n")
      H.write(d .. "/docs/bad.txt", "title: Strange\nyear: soon\n")
      H.write(d .. "/docs/refused.txt", "BADANSWER\n")
      local rc, _, err = H.coco(d, "flow.lua", env)
      assert.are_not.equal(0, rc)
      assert.matches("bad.txt", err, 1, true)
      assert.matches("field 'year': expected an integer, got a string \"soon\"", err, 1, true)
      assert.matches("not a JSON object: I would rather not.", err, 1, true)
      local rows = H.sql(d .. "/index.sqlite", "SELECT filename, title, year, info FROM Extract__books ORDER BY 1")
      assert.are.same({
        { filename = "dune.txt", title = "Dune", year = 1965, info = '{"title":"Dune","year":1965}' },
        { filename = "solaris.txt", title = "Solaris", year = 1961, info = '{"title":"Solaris","year":1961}' },
      }, rows)
      local reqs = srv:take()
      assert.are.equal(4, #reqs)
      for _, r in ipairs(reqs) do
        assert.are.equal(api == "openai" and "/v1/chat/completions" or "/api/chat", r.path)
        assert.are.equal(200, r.status)
      end
    end)
  end
end)

-- examples/text_embedding/flow.lua as shipped, with its default settings
-- (Ollama, nomic-embed-text: 768 dimensions) pointed at the fake server by
-- EMBED_ADDRESS, on a copy of the docs_index documents. The fake vectors
-- are derived from the bytes of a text, so a query equal to a chunk's text
-- has that chunk's vector: it must come first, at score 1.
describe("the text_embedding example", function()
  local srv, d, ex
  before_each(function()
    if not have_node then return end
    srv = start_server{ key = false, dim = 768 }
    d = H.tmpdir()
    ex = d .. "/text_embedding"
    H.mkdir(ex)
    H.mkdir(d .. "/docs_index")
    assert(H.sh(string.format("cp %s %s && cp -r %s %s", H.q(H.root .. "/examples/text_embedding/flow.lua"),
      H.q(ex), H.q(H.root .. "/examples/docs_index/docs"), H.q(d .. "/docs_index/docs"))))
  end)
  after_each(function()
    if srv then srv:stop() end
    srv = nil
    H.cleanup()
  end)

  -- Indexes, then asks `coco query` for the text of a few chunks (rows:
  -- { filename, location, text }); each comes back first.
  local function index_and_query(env, rows_of)
    local rc, out, err = H.coco(ex, "flow.lua --json", env)
    assert.are.equal(0, rc, err)
    local st = H.json_lines(out)[1]
    assert.is_true(st.added > 10)
    assert.are.equal(0, st.errors)
    local reqs = srv:take()
    for _, r in ipairs(reqs) do
      assert.are.equal("/api/embed", r.path)
      assert.are.equal(200, r.status)
      assert.is_true(r.auth)                    -- no key sent
      assert.is_true(r.inputs <= 64)
    end
    local rows = rows_of()
    assert.are.equal(#rows, inputs(reqs))        -- the docs have no chunk twice
    local picks = { rows[1], rows[math.floor(#rows / 2)], rows[#rows] }
    for _, want in ipairs(picks) do
      rc, out, err = H.coco(ex, "query flow.lua " .. H.q(want.text) .. " -k 5 --json", env)
      assert.are.equal(0, rc, err)
      local hits = H.json_lines(out)
      assert.are.equal(5, #hits)
      assert.are.same({ want.filename, want.location, want.text }, { hits[1].filename,
        H.json.encode(hits[1].location), hits[1].text })
      assert.is_true(hits[1].score > 0.99999, tostring(hits[1].score))
      for i = 2, 5 do assert.is_true(hits[i].score <= hits[i - 1].score) end
      -- the query went through the same EmbedText: the same path and model
      local q = srv:take()
      assert.are.equal(1, #q)
      assert.are.same({ "/api/embed", { want.text } }, { q[1].path, q[1].texts })
    end
    -- the plain output: one numbered hit per line
    rc, out, err = H.coco(ex, "query flow.lua " .. H.q(picks[1].text) .. " -k 2", env)
    assert.are.equal(0, rc, err)
    assert.matches("^1%.  score 1%.0000  filename=" .. picks[1].filename:gsub("%p", "%%%0"), out)
    -- a query the API refuses: its message, naming the function once
    srv:set{ key = false, dim = 768, poison = "POISON" }
    rc, out, err = H.coco(ex, "query flow.lua 'a POISON query'", env)
    srv:set{ key = false, dim = 768 }
    srv:take()
    assert.are.equal(1, rc)
    assert.matches("EmbedText: .*maximum context length is 8192 tokens", err)
    assert.is_nil(err:find("EmbedText: EmbedText", 1, true), err)
    return #rows
  end

  it("indexes into SQLite, and `coco query` finds a chunk by its own text", function()
    if not have_node then return pending("node is not installed") end
    local n = index_and_query({ EMBED_ADDRESS = srv.ollama }, function()
      return H.sql(ex .. "/index.sqlite", "SELECT filename, location, text FROM TextEmbedding__chunks " ..
        "ORDER BY filename, json_extract(location, '$[0]')")
    end)
    assert.are.equal(n, check_rows(ex, 768, "TextEmbedding__chunks"))
  end)

  it("indexes into PostgreSQL + pgvector with COCO_TARGET=postgres", function()
    if not have_node then return pending("node is not installed") end
    local S = require("spec.servers")
    local pg, why = S.pglite()
    if not pg then return pending("PGlite cannot start: " .. tostring(why)) end
    local ok, e = pcall(index_and_query, { EMBED_ADDRESS = srv.ollama, COCO_TARGET = "postgres",
      COCO_DATABASE_URL = pg.url }, function()
      local rows = pg:sql('SELECT filename, location::text AS location, text FROM "TextEmbedding__chunks" ' ..
        "ORDER BY filename, lower(location)")
      for _, r in ipairs(rows) do          -- int8range [a,b) as [a,b]: coco's location
        local a, b = r.location:match("^%[(%d+),(%d+)%)$")
        r.location = string.format("[%d,%d]", a, b)
      end
      return rows
    end)
    pg:stop()
    assert(ok, e)
    assert.is_false(exists(ex .. "/index.sqlite"))
  end)
end)
