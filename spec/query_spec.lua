-- Query handlers: flow:query_handler in flow.lua, flow:call (the flow's own
-- functions on a value), flow:top_k (nearest rows of an export; on SQLite
-- an exact scan with coco's distance functions), flow:query in the library
-- and `coco query` on the command line. The Postgres side (pgvector's
-- operators and indexes) is in postgres_spec.lua.
local H = require("spec.helpers")

local DOCS = {
  ["pasta.md"] = "boil pasta in salted water then add tomato sauce",
  ["db.md"] = "postgres tables with pgvector indexes answer nearest neighbour queries",
  ["git.md"] = "commit often and write clear commit messages",
  ["tea.md"] = "steep green tea in water below boiling",
  ["empty.md"] = "1234",            -- no words: a zero vector, no cosine distance
}

-- A deterministic bag-of-words "embedding", also used by the spec itself.
local EMBED = [[
local DIM = 16
local function embed(text)
  local v = {}
  for i = 1, DIM do v[i] = 0 end
  for w in text:lower():gmatch("%a+") do
    local h = 7
    for i = 1, #w do h = (h * 31 + w:byte(i)) % 1000003 end
    v[h % DIM + 1] = v[h % DIM + 1] + (h % 3) - 0.5
  end
  return v
end
]]

local FLOW = [[
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets
]] .. EMBED .. [[
local Embed = coco.fn("Embed", { returns = coco.types.vector("float32", DIM) }, embed)
return coco.flow("Query", function(flow, scope)
  scope.documents = flow:add_source(sources.LocalFile{ path = "docs" })
  local rows = scope:add_collector()
  scope.documents:row(function(doc)
    rows:collect{ filename = doc.filename, text = doc.content, size = #"x",
                  embedding = doc.content:transform(Embed) }
  end)
  rows:export("rows", targets.SQLite{ path = "index.sqlite" }, { primary_key_fields = { "filename" },
    vector_indexes = {{ field = "embedding", metric = "cosine" }} })
  flow:query_handler("search", function(query, opts)
    return flow:top_k("rows", "embedding", flow:call(Embed, query), opts.k, { metric = opts.metric })
  end)
  flow:query_handler("chunks", function(query, opts)
    -- a built-in function on the query, with named arguments
    local chunks = flow:call(functions.SplitRecursively{}, query, { chunk_size = opts.size or 10 })
    local out = {}
    for i, c in ipairs(chunks) do out[i] = { text = c.text, score = 0 } end
    return out
  end)
  flow:query_handler("broken", function(query, opts)
    if query == "type" then return 42 end
    error("no such luck")
  end)
  flow:query_handler("misuse", function(query, opts)
    if query == "export" then return flow:top_k("nope", "embedding", { 1 }, 1) end
    if query == "field" then return flow:top_k("rows", "text", { 1 }, 1) end
    if query == "dims" then return flow:top_k("rows", "embedding", { 1, 2 }, 1) end
    return flow:call(functions.SplitRecursively{}, query)
  end)
end)
]]

-- The spec's own nearest rows, by brute force.
local embed = assert(loadstring(EMBED .. "return embed"))()
local function brute(metric, query, k)
  local q, all = embed(query), {}
  for name, text in pairs(DOCS) do
    local d = H.distance(metric, embed(text), q)
    if d then all[#all + 1] = { name, d } end
  end
  table.sort(all, function(x, y) return x[2] < y[2] end)
  local out = {}
  for i = 1, math.min(k, #all) do out[i] = all[i] end
  return out
end

describe("query handlers", function()
  local dir
  before_each(function()
    dir = H.tmpdir()
    for name, text in pairs(DOCS) do H.write(dir .. "/docs/" .. name, text) end
    H.write(dir .. "/flow.lua", FLOW)
    local rc, _, err = H.coco(dir, "update flow.lua -q")
    assert.equals(0, rc, err)
  end)
  after_each(function() H.cleanup() end)

  it("find the same nearest rows as a brute-force scan, for each metric", function()
    local rc, out, err = H.luajit(dir, [[
local coco = require("coco")
local flow = assert(coco.load("flow.lua"))
local R = {}
for _, m in ipairs({ "cosine", "l2", "ip" }) do
  for _, q in ipairs({ "water for tea", "pgvector nearest", "commit messages" }) do
    local rows = assert(flow:query("search", q, { k = 3, metric = m }))
    local got = {}
    for i, r in ipairs(rows) do
      got[i] = { r.filename, r.distance, r.score, r.embedding == nil, r.size, r.text ~= nil }
    end
    R[m .. ":" .. q] = got
  end
end
io.write(coco.json.encode(R))
]])
    assert.equals(0, rc, err)
    local R = H.json.decode(out)
    for _, m in ipairs({ "cosine", "l2", "ip" }) do
      for _, q in ipairs({ "water for tea", "pgvector nearest", "commit messages" }) do
        local want, got = brute(m, q, 3), R[m .. ":" .. q]
        assert.equals(#want, #got, m .. ":" .. q)
        for i = 1, #want do
          assert.near(want[i][2], got[i][2], 1e-5, m .. ":" .. q)
          assert.equals(m == "cosine" and 1 - got[i][2] or -got[i][2], got[i][3])
          assert.is_true(got[i][4])       -- the vector searched is left out
          assert.equals(1, got[i][5])
          assert.is_true(got[i][6])
        end
        -- ties aside, the same rows
        assert.equals(want[1][1], got[1][1], m .. ":" .. q)
      end
    end
  end)

  it("scan a large table in parallel parts and still find the exact nearest", function()
    local big = {}
    for i = 1, 50000 do big[i] = (i % 7 == 0 and "tea " or "") .. DOCS["db.md"]:sub(i % 40 + 1, i % 40 + 12) .. " " .. i end
    H.write(dir .. "/docs/big.md", table.concat(big, "\n"))
    H.write(dir .. "/big.lua", (FLOW:gsub('text = doc.content,', 'text = chunk.text,')
      :gsub('rows:collect{ filename = doc.filename,', [[doc.chunks = doc.content:transform(functions.SplitRecursively{}, { chunk_size = 40 })
    doc.chunks:row(function(chunk)
    rows:collect{ filename = doc.filename, location = chunk.location,]])
      :gsub('embedding = doc.content:transform%(Embed%) }', 'embedding = chunk.text:transform(Embed) }\n    end)')
      :gsub('primary_key_fields = { "filename" }', 'primary_key_fields = { "filename", "location" }')
      :gsub('"Query"', '"Big"')))
    local rc, _, err = H.coco(dir, "update big.lua -q")
    assert.equals(0, rc, err)
    local all = H.sql(dir .. "/index.sqlite", "SELECT text FROM Big__rows")
    assert.is_true(#all > 25000, #all .. " rows")
    local q = embed("tea pgvector 1234")
    local want = {}
    for _, r in ipairs(all) do
      local d = H.distance("l2", embed(r.text), q)
      want[#want + 1] = d
    end
    table.sort(want)
    local out
    rc, out, err = H.luajit(dir, [[
local coco = require("coco")
local flow = assert(coco.load("big.lua"))
local rows = assert(flow:query("search", "tea pgvector 1234", { k = 25, metric = "l2" }))
local d = {}
for i, r in ipairs(rows) do d[i] = r.distance end
io.write(coco.json.encode(d))
]])
    assert.equals(0, rc, err)
    local got = H.json.decode(out)
    assert.equals(25, #got)
    for i = 1, 25 do assert.near(want[i], got[i], 1e-4) end
  end)

  it("run from the command line: `coco query FLOW.lua[:handler] TEXT [-k N] [--json]`", function()
    local rc, out, err = H.coco(dir, "query flow.lua:search 'green tea' -k 2 --json")
    assert.equals(0, rc, err)
    local rows = H.json_lines(out)
    assert.equals(2, #rows)
    assert.equals("tea.md", rows[1].filename)
    assert.is_true(rows[1].score >= rows[2].score)
    rc, out = H.coco(dir, "query flow.lua:search 'green tea'")
    assert.equals(0, rc)
    assert.matches("^1%.  score [%d.]+  filename=tea%.md  size=1  text=steep green tea in water below boiling\n2%.", out)
    local n = 0
    for _ in out:gmatch("\n%d+%.  score") do n = n + 1 end
    assert.equals(3, n + 0)      -- 4 rows: the zero vector has no cosine distance
    rc, out = H.coco(dir, "query flow.lua:chunks 'one two three four five six' --json")
    assert.equals(0, rc)
    local chunks = H.json_lines(out)
    assert.is_true(#chunks > 1)
    for _, c in ipairs(chunks) do assert.is_true(#c.text <= 10) end
  end)

  it("say what is wrong: handlers, arguments, exports, fields", function()
    local function fails(args, pattern, code)
      local rc, _, err = H.coco(dir, args)
      assert.equals(code or 1, rc, err)
      assert.matches(pattern, err)
    end
    fails("query flow.lua 'x'", "has several query handlers %(broken, chunks, misuse, search%): name one")
    fails("query flow.lua:nope 'x'", "has no query handler 'nope'; handlers: broken, chunks, misuse, search")
    fails("query flow.lua:search", "'query' needs FLOW.lua%[:handler%] and the query text", 2)
    fails("query flow.lua:search x -k 0", "%-k needs a positive integer", 2)
    fails("query flow.lua:broken 'x'", "flow%.lua:%d+: no such luck")
    fails("query flow.lua:broken type", "query handler 'broken' returned a number, not a list of rows")
    fails("query flow.lua:misuse export", "flow%.lua:%d+: top_k: flow Query has no export 'nope'; exports: rows")
    fails("query flow.lua:misuse field", "top_k needs a vector field, and 'text' is str")
    fails("query flow.lua:misuse dims", "the query vector has 2 dimensions, field 'embedding' has 16")
    fails("query flow.lua:misuse x", "flow%.lua:%d+: SplitRecursively: missing required argument 'chunk_size'")
  end)

  it("coco.call runs built-in and Lua functions anywhere; top_k only at query time", function()
    local rc, out, err = H.luajit(dir, [[
local coco = require("coco")
local R = {}
R.lang = coco.call(coco.functions.DetectProgrammingLanguage{}, "x.py")
local Twice = coco.fn("Twice", { returns = "int64" }, function(n) return n * 2 end)
R.twice = coco.call(Twice, 21)
local ok, e = pcall(coco.call, coco.targets.SQLite{ path = "x" }, "a")
R.not_fn = e
local ok2, e2 = pcall(coco.flow, "Early", function(flow, scope)
  flow:top_k("rows", "embedding", { 1 }, 1)
end)
R.early = e2
io.write(coco.json.encode(R))
]])
    assert.equals(0, rc, err)
    local R = H.json.decode(out)
    assert.equals("python", R.lang)
    assert.equals(42, R.twice)
    assert.matches("call needs a function, but SQLite is a target", R.not_fn)
    assert.matches("script%.lua:%d+: top_k searches an export at query time", R.early)
  end)

  it("are listed by `coco show` and flow:info() with the line that defines them", function()
    local line = {}
    local n = 0
    for l in (FLOW .. "\n"):gmatch("([^\n]*)\n") do
      n = n + 1
      local name = l:match('flow:query_handler%("(%w+)"')
      if name then line[name] = n end
    end
    local rc, out, err = H.coco(dir, "show flow.lua")
    assert.equals(0, rc, err)
    -- after the exports, before the setup status, sorted by name
    local want = {}
    for i, name in ipairs({ "broken", "chunks", "misuse", "search" }) do
      assert.is_number(line[name])
      want[i] = string.format("Query handler %s: flow.lua:%d\n", name, line[name])
    end
    assert.matches("\n  text: str\n\n" .. table.concat(want):gsub("%p", "%%%0") .. "\nSetup: up to date\n", out)
    rc, out, err = H.luajit(dir, [[
local coco = require("coco")
local flow = assert(coco.load("flow.lua"))
io.write(coco.json.encode(flow:info().query_handlers), "\n", flow:show())
flow:close()
]])
    assert.equals(0, rc, err)
    local json, shown = out:match("^([^\n]*)\n(.*)$")
    assert.same({ { name = "broken", where = "flow.lua:" .. line.broken },
      { name = "chunks", where = "flow.lua:" .. line.chunks },
      { name = "misuse", where = "flow.lua:" .. line.misuse },
      { name = "search", where = "flow.lua:" .. line.search } }, H.json.decode(json))
    assert.matches("Query handler search: flow.lua:" .. line.search .. "\n", shown, 1, true)
    -- a flow without handlers lists none
    H.write(dir .. "/plain.lua", (FLOW:gsub("\n  flow:query_handler.*\nend%)\n$", "\nend)\n"):gsub("Query", "Plain")))
    rc, out, err = H.coco(dir, "show plain.lua")
    assert.equals(0, rc, err)
    assert.matches("Export rows", out, 1, true)
    assert.is_nil(out:find("Query handler", 1, true))
  end)

  it("check vector_indexes of an export at the flow's line", function()
    H.write(dir .. "/bad.lua", (FLOW:gsub('metric = "cosine"', 'metric = "dot"'):gsub("Query", "Bad")))
    local rc, _, err = H.coco(dir, "show bad.lua")
    assert.equals(1, rc)
    assert.matches("bad%.lua:%d+: export 'rows': vector_indexes%[1%]%.metric must be \"cosine\", \"l2\" or \"ip\", got dot", err)
  end)
end)
