-- Exactness over the vector stores (issue 14 on Qdrant and Chroma): `coco
-- verify` reads a collection back through the target's scan (Qdrant's
-- scroll API, Chroma's get with offset and limit), names hand edits and
-- repairs them, and takes a vector the store normalised (Qdrant keeps
-- cosine vectors at unit length) as the same vector. Then a short seeded
-- series of source and flow changes together, each followed by an update
-- (plain with -f, or killed with SIGKILL and run again): after each step,
-- verify finds nothing and every collection equals a fresh build's (same
-- flow, same files, its own collections), and no collection of a flow
-- before is left behind.
local H = require("spec.helpers")
local S = require("spec.servers")
local V = require("spec.servers_vector")

local DIM = 6

-- The flow of a model m: export m.exp on m.store, chunks of m.cs bytes,
-- the fields of m.fields, keys m.keys, Vec version m.ver, metric m.metric.
local FLOW = [[
local coco = require("coco")
local sources, functions, targets, T = coco.sources, coco.functions, coco.targets, coco.types
local PFX = os.getenv("PFX") or ""
local Size = coco.fn("Size", { returns = "int64" }, function(s) return #s end)
local Vec = coco.fn("Vec", { returns = T.vector("float32", %d), cache = true, version = %d }, function(s)
  local v = {}
  for i = 1, %d do
    local b = #s > 0 and s:byte((i - 1) %% #s + 1) or 0
    v[i] = ((b * %d) %% 23 + i) / 7
  end
  return v
end)
return coco.flow("Vx", function(flow, scope)
  scope.documents = flow:add_source(sources.LocalFile{ path = "docs" })
  local rows = scope:add_collector()
  scope.documents:row(function(doc)
    doc.chunks = doc.content:transform(functions.SplitRecursively{}, { chunk_size = %d, chunk_overlap = 0 })
    doc.chunks:row(function(c)
      rows:collect{ filename = doc.filename, location = c.location, emb = c.text:transform(Vec)%s }
    end)
  end)
  rows:export(%q, %s, { primary_key_fields = { %s },
    vector_indexes = {{ field = "emb", metric = %q }} })
end)
]]

local FIELDS = {
  text = "text = c.text",
  size = "size = c.text:transform(Size)",
  size_s = "size = c.text",                 -- the same field as a str
  tag = 'tag = "t"',
}

local function flow_text(B, srv, m)
  local extra = {}
  for _, f in ipairs({ "text", "size", "size_s", "tag" }) do
    if m.fields[f] then extra[#extra + 1] = ", " .. FIELDS[f] end
  end
  local keys = {}
  for i, k in ipairs(m.keys) do keys[i] = string.format("%q", k) end
  local target = string.format("targets.%s{ url = %q, collection_name = PFX .. %q }", B.name, srv.url, m.exp)
  return string.format(FLOW, DIM, m.ver, DIM, m.ver, m.cs, table.concat(extra), m.exp, target,
    table.concat(keys, ", "), m.metric)
end

-- A record as text: its fields sorted, numbers to 5 digits (vectors too).
local function canon(v)
  if type(v) == "number" then return string.format("%.5g", v) end
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = canon(x) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  return tostring(v)
end
local function record_text(fields)
  local names = {}
  for k in pairs(fields) do names[#names + 1] = k end
  table.sort(names)
  local parts = {}
  for i, k in ipairs(names) do parts[i] = k .. "=" .. canon(fields[k]) end
  return table.concat(parts, " ")
end

local backends = {
  {
    name = "Qdrant",
    start = V.qdrant,
    collections = function(srv)
      local code, v = srv:call("GET", "/collections")
      assert(code == 200, H.json.encode(v))
      local out = {}
      for _, c in ipairs(v.result.collections) do out[#out + 1] = c.name end
      return out
    end,
    records = function(srv, coll)
      local out = {}
      for _, p in ipairs(srv:points(coll) or {}) do
        local f = {}
        for k, v in pairs(p.payload or {}) do f[k] = v end
        for k, v in pairs(type(p.vector) == "table" and p.vector or {}) do f["vec:" .. k] = v end
        out[#out + 1] = record_text(f)
      end
      table.sort(out)
      return out
    end,
    -- by hand: b.md's point deleted, c.md's text changed, a ghost point added
    hand_edit = function(srv, coll)
      local base = "/collections/" .. coll
      local function where(name) return { must = { { key = "filename", match = { value = name } } } } end
      assert.equals(200, (srv:call("POST", base .. "/points/delete?wait=true", { filter = where("b.md") })))
      assert.equals(200, (srv:call("POST", base .. "/points/payload?wait=true",
        { payload = { text = "edited" }, filter = where("c.md") })))
      assert.equals(200, (srv:call("PUT", base .. "/points?wait=true", { points = { {
        id = "00000000-0000-8000-8000-000000000001", vector = { emb = { 1, 2, 3, 4, 5, 6 } },
        payload = { filename = "ghost.md", location = { 0, 3 }, text = "boo" } } } })))
    end,
  },
  {
    name = "Chroma",
    start = V.chroma,
    collections = function(srv)
      local code, v = srv:call("GET", V.CHROMA_BASE .. "/collections")
      assert(code == 200, H.json.encode(v))
      local out = {}
      for _, c in ipairs(v) do out[#out + 1] = c.name end
      return out
    end,
    records = function(srv, coll)
      local out = {}
      for _, r in ipairs(srv:records(coll) or {}) do
        local f = {}
        for k, v in pairs(r.metadata or {}) do f[k] = v end
        f["doc:"] = r.document
        f["emb:"] = r.embedding
        out[#out + 1] = record_text(f)
      end
      table.sort(out)
      return out
    end,
    hand_edit = function(srv, coll)
      local c = srv:collection(coll)
      local base = V.CHROMA_BASE .. "/collections/" .. c.id
      local ids = {}
      for _, r in ipairs(srv:records(coll)) do ids[r.metadata.filename] = r.id end
      assert.equals(200, (srv:call("POST", base .. "/delete", { ids = { ids["b.md"] } })))
      assert.equals(200, (srv:call("POST", base .. "/update", { ids = { ids["c.md"] }, documents = { "edited" } })))
      assert.equals(201, (srv:call("POST", base .. "/add", { ids = { "ghost" }, embeddings = { { 1, 2, 3, 4, 5, 6 } },
        documents = { "boo" }, metadatas = { { filename = "ghost.md", location = "[0,3]" } } })))
    end,
  },
}

for _, B in ipairs(backends) do
  describe("exactness over " .. B.name, function()
    local srv, why
    local dir
    lazy_setup(function() srv, why = B.start() end)
    lazy_teardown(function() if srv then srv:stop() end end)
    before_each(function() dir = H.tmpdir() end)
    after_each(function() H.cleanup() end)
    local function ready()
      if not srv then pending(B.name .. " cannot start: " .. tostring(why)) end
      return srv ~= nil
    end
    local function coco(args, env, d) return H.coco(d or dir, args, env) end

    it("verify reads the collection back, names hand edits, repairs them, and takes a normalised vector as the same", function()
      if not ready() then return end
      local m = { exp = "v" .. B.name, cs = 1000, fields = { text = true, size = true }, keys = { "filename", "location" },
        ver = 1, metric = "cosine" }
      H.write(dir .. "/flow.lua", flow_text(B, srv, m))
      for i = 1, 5 do H.write(string.format("%s/docs/%s.md", dir, string.char(96 + i)), ("word%d "):format(i):rep(i)) end
      local rc, out, err = coco("update flow.lua -q")
      assert.equals(0, rc, err)
      rc, out, err = coco("verify flow.lua")
      assert.equals(0, rc, out .. err)
      assert.matches("Vx." .. m.exp .. ": 5 rows held, 5 expected: same as a fresh build", out, 1, true)
      B.hand_edit(srv, m.exp)
      rc, out, err = coco("verify flow.lua")
      assert.equals(1, rc, out .. err)
      assert.matches("missing", out, 1, true)
      assert.matches("different", out, 1, true)
      assert.matches(": text (from documents c.md)", out, 1, true)
      assert.matches("stale", out, 1, true)
      assert.matches("1 missing, 1 stale, 1 different", out, 1, true)
      rc, out, err = coco("verify flow.lua --repair")
      assert.equals(1, rc, out .. err)
      rc, out, err = coco("verify flow.lua")
      assert.equals(0, rc, out .. err)
      assert.matches("same as a fresh build", out, 1, true)
    end)

    it("ends where a fresh build does after seeded source and flow changes together", function()
      if not ready() then return end
      math.randomseed(1400)
      local m = { exp = "x" .. B.name .. "1", cs = 40, fields = { text = true }, keys = { "filename", "location" },
        ver = 1, metric = "cosine" }
      local files, serial = {}, 0
      local words = { "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf" }
      local function text()
        local t = {}
        for i = 1, math.random(1, 30) do t[i] = words[math.random(#words)] end
        return table.concat(t, " ")
      end
      local function edit_sources()
        for _ = 1, math.random(1, 4) do
          local names = {}
          for n in pairs(files) do names[#names + 1] = n end
          table.sort(names)
          local r = math.random()
          if r < 0.35 or #names < 3 then
            serial = serial + 1
            files[("f%03d.md"):format(serial)] = text()
          elseif r < 0.7 then
            local n = names[math.random(#names)]
            files[n] = math.random() < 0.5 and files[n] .. " " .. text() or text()
          elseif r < 0.85 then
            files[names[math.random(#names)]] = nil
          else                                  -- a rename
            local n = names[math.random(#names)]
            serial = serial + 1
            files[("f%03d.md"):format(serial)], files[n] = files[n], nil
          end
        end
        H.rm(dir .. "/docs")
        H.mkdir(dir .. "/docs")
        for n, t in pairs(files) do H.write(dir .. "/docs/" .. n, t) end
      end
      local flow_edits = {
        function() m.fields.size = not m.fields.size; m.fields.size_s = nil end,   -- a field added or dropped
        function() if m.fields.size or m.fields.size_s then m.fields.size, m.fields.size_s = m.fields.size_s, m.fields.size end end,
        function() m.fields.tag = not m.fields.tag end,
        function() m.fields.text = not m.fields.text end,
        function() m.ver = m.ver + 1 end,                                          -- other vectors
        function() m.cs = m.cs == 40 and 70 or 40 end,                             -- other chunks
        function() m.metric = m.metric == "cosine" and "l2" or "cosine" end,        -- recreated
        function() m.keys = { m.keys[2], m.keys[1] } end,                          -- other ids
        function() m.exp = m.exp:sub(1, -2) .. (m.exp:sub(-1) == "1" and "2" or "1") end,   -- another collection
      }
      local function run_update()
        local env = "PFX=m_ "
        if math.random() < 0.3 then
          local p = io.popen(string.format("cd %s && %s%s update flow.lua -q -f >/dev/null 2>&1 & echo $!",
            H.q(dir), env, H.q(H.bin)))
          local pid = p:read("*l")
          p:close()
          os.execute(string.format("sleep %.2f; kill -9 %s 2>/dev/null", math.random() * 0.3, pid))
          while S.alive(pid) do os.execute("sleep 0.02") end
        end
        local rc, _, err = coco("update flow.lua -q -f", { PFX = "m_" })
        assert.equals(0, rc, err)
      end
      for step = 1, 8 do
        edit_sources()
        for _ = 1, math.random(0, 2) do flow_edits[math.random(#flow_edits)]() end
        local flow = flow_text(B, srv, m)
        H.write(dir .. "/flow.lua", flow)
        run_update()
        local what = string.format("step %d (%s)", step, record_text(m.fields))
        local rc, out, err = coco("verify flow.lua", { PFX = "m_" })
        assert.equals(0, rc, what .. ": " .. out .. err)
        -- a fresh build of the same flow on the same files, in its own collections
        local fresh = dir .. "/fresh"
        H.rm(fresh)
        H.mkdir(fresh)
        os.execute(string.format("cp -r %s/docs %s/", H.q(dir), H.q(fresh)))
        H.write(fresh .. "/flow.lua", flow)
        rc, _, err = coco("update flow.lua -q", { PFX = "f_" }, fresh)
        assert.equals(0, rc, err)
        assert.same(B.records(srv, "f_" .. m.exp), B.records(srv, "m_" .. m.exp), what)
        local mine = {}
        for _, c in ipairs(B.collections(srv)) do
          if c:sub(1, 2) == "m_" then mine[#mine + 1] = c end
        end
        assert.same({ "m_" .. m.exp }, mine, what)
        rc, _, err = coco("drop flow.lua -f -q", { PFX = "f_" }, fresh)
        assert.equals(0, rc, err)
      end
    end)
  end)
end
