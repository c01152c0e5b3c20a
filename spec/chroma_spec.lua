-- targets.Chroma against chromadb's own server from npm (spec/servers/chroma):
-- what is Chroma's own (the conformance list runs in
-- spec/target_conformance_spec.lua).
local H = require("spec.helpers")
local V = require("spec.servers_vector")

describe("Chroma target", function()
  local srv, why
  local dir
  lazy_setup(function() srv, why = V.chroma() end)
  lazy_teardown(function() if srv then srv:stop() end end)
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.cleanup() end)
  local function ready()
    if not srv then pending("Chroma cannot start: " .. tostring(why)) end
    return srv ~= nil
  end

  local HEAD = [[
local coco = require("coco")
local sources, targets, T = coco.sources, coco.targets, coco.types
local Vec = coco.fn("Vec", { returns = T.vector("float32", 3) }, function(s) return { #s, 1, 0.5 } end)
local Raw = coco.fn("Raw", { returns = "bytes" }, function(s) return "\0\1\255" .. s end)
local Meta = coco.fn("Meta", { returns = "json" }, function(s) return '{"tags":["x","' .. s .. '"],"n":2}' end)
local Pair = coco.fn("Pair", { returns = T.struct{ a = "int64", b = "str" } }, function(s) return { a = #s, b = s } end)
local Half = coco.fn("Half", { returns = "float64" }, function(s) return #s / 2 end)
local Yes = coco.fn("Yes", { returns = "bool" }, function(s) return #s > 3 end)
local Len = coco.fn("Len", { returns = "int64" }, function(s) return #s end)
]]
  local function flow(collect, target, extra)
    H.write(dir .. "/flow.lua", HEAD .. [[
return coco.flow("Own", function(flow, scope)
  scope.documents = flow:add_source(sources.LocalFile{ path = "docs" })
  local rows = scope:add_collector()
  scope.documents:row(function(doc)
    rows:collect{ ]] .. collect .. [[ }
  end)
  rows:export("rows", ]] .. target .. [[, { primary_key_fields = { "filename" }]] .. (extra or "") .. [[ })
  flow:query_handler("q", function(query, opts)
    local r = flow:top_k("rows", "vec", { 5, 1, 0.5 }, 1)[1]
    r.vec = nil
    return { r }
  end)
end)
]])
  end

  it("maps fields to the id, embedding, document and metadata, and back through top_k", function()
    if not ready() then return end
    H.write(dir .. "/docs/a.md", "alpha")
    flow("filename = doc.filename, vec = doc.content:transform(Vec), body = doc.content, "
      .. "raw = doc.content:transform(Raw), meta = doc.content:transform(Meta), pair = doc.content:transform(Pair), "
      .. "half = doc.content:transform(Half), yes = doc.content:transform(Yes), n = doc.content:transform(Len)",
      string.format("targets.Chroma{ url = %q, tenant = 'coco_tenant', database = 'coco_db', document_field = 'body' }",
        srv.url))
    local rc, out, err = H.coco(dir, "update flow.lua")
    assert.equals(0, rc, err)
    assert.matches("create collection Own__rows in coco_tenant/coco_db (space cosine; embedding: vec "
      .. "vector<float32,3>; document: body; metadata: filename, half, meta, n, pair, raw, yes; ids from filename)",
      out, 1, true)
    local recs = srv:records("Own__rows", "/api/v2/tenants/coco_tenant/databases/coco_db")
    assert.equals(1, #recs)
    local r = recs[1]
    assert.same({ "a.md", "alpha", { 5, 1, 0.5 } }, { r.id, r.document, r.embedding })
    local m = r.metadata
    assert.same({ "a.md", 2.5, true, 5, '{"a":5,"b":"alpha"}', '"AAH/YWxwaGE="' },
      { m.filename, m.half, m.yes, m.n, m.pair, m.raw })
    rc, out, err = H.coco(dir, "query flow.lua:q x --json")
    assert.equals(0, rc, err)
    local q = H.json_lines(out)[1]
    assert.same({ "a.md", "alpha", 2.5, true, 5 }, { q.filename, q.body, q.half, q.yes, q.n })
    assert.same({ a = 5, b = "alpha" }, H.json.decode(q.pair))
    assert.same({ tags = { "x", "alpha" }, n = 2 }, H.json.decode(q.meta))
    assert.is_true(math.abs(q.distance) < 1e-6)
  end)

  it("loads an empty collection without deletes, then replaces changed records whole", function()
    if not ready() then return end
    for i = 1, 600 do H.write(string.format("%s/docs/f%03d.md", dir, i), "text " .. i) end
    local Maybe = 'local Maybe = coco.fn("Maybe", { returns = "int64" }, function(s) '
      .. 'if s:find("changed") then return nil end return #s end)\n'
    flow("filename = doc.filename, vec = doc.content:transform(Vec), text = doc.content, "
      .. "n = doc.content:transform(Maybe)", string.format("targets.Chroma{ url = %q, collection_name = 'fresh' }",
        srv.url))
    H.write(dir .. "/flow.lua", (H.read(dir .. "/flow.lua"):gsub("local Len = ", function() return Maybe .. "local Len = " end)))
    local env = { COCO_CHROMA_STATS = "1" }
    local rc, _, err = H.coco(dir, "update flow.lua", env)
    assert.equals(0, rc, err)
    -- a count (the collection is empty), then an add a batch: no deletes
    local b, r, u, d = err:match("(%d+) batches, (%d+) requests, (%d+) upserts, (%d+) deletes")
    assert.same({ tonumber(b) + 1, 600, 0 }, { tonumber(r), tonumber(u), tonumber(d) }, err)
    local recs = srv:records("fresh")
    assert.equals(600, #recs)
    for _, x in ipairs(recs) do
      local i = tonumber(x.id:match("f(%d+)%.md"))
      assert.same({ "text " .. i, #("text " .. i) }, { x.document, x.metadata.n })
    end
    -- a record written again is deleted first: the field now null leaves its metadata
    for i = 1, 3 do H.write(string.format("%s/docs/f%03d.md", dir, i), "changed " .. i) end
    rc, _, err = H.coco(dir, "update flow.lua", env)
    assert.equals(0, rc, err)
    assert.matches("1 batches, 2 requests, 3 upserts, 0 deletes", err, 1, true)
    local by = {}
    for _, x in ipairs(srv:records("fresh")) do by[x.id] = x end
    for i = 1, 3 do
      local x = by[string.format("f%03d.md", i)]
      assert.same({ "changed " .. i, nil }, { x.document, x.metadata.n })
    end
    assert.equals(6, by["f004.md"].metadata.n)
  end)

  it("says what is wrong with the export, at the flow line", function()
    if not ready() then return end
    H.write(dir .. "/docs/a.md", "x")
    local function try(collect, target, extra)
      flow(collect, target or string.format("targets.Chroma{ url = %q }", srv.url), extra)
      local rc, _, err = H.coco(dir, "setup flow.lua")
      assert.equals(1, rc)
      return err
    end
    assert.matches("flow.lua:%d+%).*a Chroma record has one embedding: the export needs exactly one "
      .. "vector<float32,N> field %(not a key%), and has none",
      try("filename = doc.filename, text = doc.content"))
    assert.matches("and has v2, vec",
      try("filename = doc.filename, vec = doc.content:transform(Vec), v2 = doc.content:transform(Vec)"))
    assert.matches("document_field 'n' is int64; a document is a str field that is not a key",
      try("filename = doc.filename, vec = doc.content:transform(Vec), n = doc.content:transform(Len)",
        string.format("targets.Chroma{ url = %q, document_field = 'n' }", srv.url)))
    assert.matches("collection name 'a b': Chroma wants 3%-512 characters",
      try("filename = doc.filename, vec = doc.content:transform(Vec)",
        string.format("targets.Chroma{ url = %q, collection_name = 'a b' }", srv.url)))
    assert.matches("a Chroma collection has one embedding, field 'vec'",
      try("filename = doc.filename, vec = doc.content:transform(Vec), other = doc.content",
        nil, ', vector_indexes = {{ field = "other", metric = "l2" }}'))
  end)
  -- A recreate (another space) is drop, create, then the setup record: a
  -- kill -9 between any two leaves the old record, so the next update
  -- redoes it and writes every record again. The cuts are made by hand,
  -- the way the killed run leaves the server.
  it("a recreate cut short after its drop, or after its create, is redone by the next update", function()
    if not ready() then return end
    for i = 1, 4 do H.write(dir .. "/docs/f" .. i .. ".md", "text " .. i) end
    local function cut_flow(metric)
      flow("filename = doc.filename, vec = doc.content:transform(Vec), text = doc.content",
        string.format("targets.Chroma{ url = %q, collection_name = 'cut' }", srv.url),
        string.format(", vector_indexes = {{ field = 'vec', metric = %q }}", metric))
    end
    local function held()
      local out = {}
      for _, x in ipairs(srv:records("cut") or {}) do out[#out + 1] = x.id .. "=" .. x.document end
      table.sort(out)
      return table.concat(out, ",")
    end
    local C = V.CHROMA_BASE .. "/collections"
    cut_flow("cosine")
    local rc, _, err = H.coco(dir, "update flow.lua -q")
    assert.equals(0, rc, err)
    assert.equals(4, #srv:records("cut"))
    -- l2, a file deleted; the run dropped the collection and died
    cut_flow("l2")
    os.remove(dir .. "/docs/f2.md")
    assert.equals(200, (srv:call("DELETE", C .. "/cut")))
    rc, _, err = H.coco(dir, "update flow.lua -q -f")
    assert.equals(0, rc, err)
    assert.equals("l2", srv:collection("cut").configuration_json.hnsw.space)
    assert.equals("f1.md=text 1,f3.md=text 3,f4.md=text 4", held())
    -- ip: the run dropped the collection, made it anew, and died before the record
    cut_flow("ip")
    assert.equals(200, (srv:call("DELETE", C .. "/cut")))
    assert.equals(200, (srv:call("POST", C, { name = "cut", configuration = { hnsw = { space = "ip" } } })))
    rc, _, err = H.coco(dir, "update flow.lua -q -f")
    assert.equals(0, rc, err)
    assert.equals("ip", srv:collection("cut").configuration_json.hnsw.space)
    assert.equals("f1.md=text 1,f3.md=text 3,f4.md=text 4", held())
  end)
end)
