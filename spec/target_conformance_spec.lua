-- One target-conformance suite, run against every target alike: SQLite,
-- Debian's PostgreSQL, PGlite + pgvector, Qdrant and Chroma (the npm
-- servers of spec/servers_vector.lua): setup, a field added and removed, a
-- type change, upserts, deletes and --reexport, drop, convergence after
-- kill -9, awkward names. The vector stores then: top_k through a query
-- handler, live mode, and the bad input of issue 18 (the server down
-- mid-update, a collection changed by hand, a vector of the wrong
-- dimension). A server that truly cannot start makes its tests pending,
-- with the reason.
--
-- A backend B: name, start() -> server | nil, why; target(srv, name) ->
-- the targets.X{...} text; records(srv, dir, name) -> every row as
-- { field = value } (nil: no table or collection); words = { create, add,
-- drop_field, retype (a vector store rewrites a field whose type changes in
-- place; a SQL table is recreated), recreate, drop } (plan lines);
-- empty(srv, dir, name) deletes every row by hand; awkward (a name the
-- target takes); vectors (the rows carry an embedding): awkward_vec,
-- hand_change(srv, coll) and hand_words, drop_coll(srv, coll).
local H = require("spec.helpers")
local S = require("spec.servers")
local V = require("spec.servers_vector")
local P = require("spec.proc")

local DIM = 8

local FLOW = [[
local coco = require("coco")
local sources, targets, T = coco.sources, coco.targets, coco.types
local slow = tonumber(os.getenv("SLOW_US") or "0") / 1e6
local DIM = %d
local Size = coco.fn("Size", { returns = "int64" }, function(s) return #s end)
local Pace = coco.fn("Pace", { returns = "str" }, function(s)
  if slow > 0 then
    local t = os.clock() + slow
    while os.clock() < t do end
  end
  return s
end)
local function vec(s, dim)
  local v = {}
  for i = 1, dim do
    local b = #s > 0 and s:byte((i - 1) %% #s + 1) or 0
    v[i] = (b %% 17 + i) / 10
  end
  return v
end
local Vec = coco.fn("Vec", { returns = T.vector("float32", DIM) }, function(s) return vec(s, DIM) end)
local Vec4 = coco.fn("Vec4", { returns = T.vector("float32", 4) }, function(s) return vec(s, 4) end)
return coco.flow(%q, function(flow, scope)
  scope.documents = flow:add_source(sources.LocalFile{ path = "docs" })
  local rows = scope:add_collector()
  scope.documents:row(function(doc)
    rows:collect{ %s }
  end)
  rows:export("rows", %s, { primary_key_fields = { %q }%s })%s
end)
]]

-- with vectors: the index and a query handler
local VEC_INDEX = [[,
    vector_indexes = {{ field = %q, metric = os.getenv("METRIC") or "cosine" }}]]
local VEC_QUERY = [[

  flow:query_handler("near", function(query, opts)
    return flow:top_k("rows", %q, flow:call(%s, query), opts.k, { metric = os.getenv("METRIC") })
  end)]]

-- Vec of the flow, in the spec (for expected distances).
local function vec(s, dim)
  local v = {}
  for i = 1, dim do
    local b = #s > 0 and s:byte((i - 1) % #s + 1) or 0
    v[i] = (b % 17 + i) / 10
  end
  return v
end


local BASE = "filename = doc.filename, text = doc.content:transform(Pace)"
local VBASE = BASE .. ", emb = doc.content:transform(Vec)"

local function sorted_keys(t)
  local k = {}
  for n in pairs(t) do k[#k + 1] = n end
  table.sort(k)
  return k
end

local function qi(name) return '"' .. name:gsub('"', '""') .. '"' end

-- ---- the SQL targets -----------------------------------------------------------------

local SQL_WORDS = { create = "create table", add = "add column size", drop_field = "drop column size",
  recreate = "drop and recreate", drop = "drop table" }

local function sqlite_columns(dir, tbl)
  local rows = H.sql(dir .. "/index.sqlite", "SELECT name FROM pragma_table_info('" .. tbl:gsub("'", "''") .. "')")
  if #rows == 0 then return nil end
  return rows
end

local function pg_columns(srv, tbl)
  local rows = srv:sql("SELECT column_name AS name FROM information_schema.columns WHERE table_schema = 'public' "
    .. "AND table_name = '" .. tbl:gsub("'", "''") .. "' ORDER BY ordinal_position")
  if #rows == 0 then return nil end
  return rows
end

local function pg_backend(name, start)
  return {
    name = name,
    start = start,
    env = function(srv) return { COCO_DATABASE_URL = srv.url } end,
    target = function(_, tbl) return string.format("targets.Postgres{ table_name = %q }", tbl) end,
    records = function(srv, _, tbl)
      if not pg_columns(srv, tbl) then return nil end
      return srv:sql("SELECT * FROM " .. qi(tbl))
    end,
    columns = function(srv, _, tbl) return pg_columns(srv, tbl) end,
    empty = function(srv, _, tbl) assert(srv:exec("DELETE FROM " .. qi(tbl))) end,
    words = SQL_WORDS,
    awkward = 'we"ird tab\'le ',
  }
end

local backends = {
  {
    name = "SQLite",
    start = function() return { stop = function() end } end,
    target = function(_, tbl) return string.format("targets.SQLite{ path = \"index.sqlite\", table_name = %q }", tbl) end,
    records = function(_, dir, tbl)
      if not sqlite_columns(dir, tbl) then return nil end
      return H.sql(dir .. "/index.sqlite", "SELECT * FROM " .. qi(tbl))
    end,
    columns = function(_, dir, tbl) return sqlite_columns(dir, tbl) end,
    empty = function(_, dir, tbl) H.sql(dir .. "/index.sqlite", "DELETE FROM " .. qi(tbl)) end,
    words = SQL_WORDS,
    awkward = 'we"ird tab\'le ',
  },
  pg_backend("PostgreSQL", S.postgres),
  pg_backend("PGlite", S.pglite),
}

-- ---- the vector stores ---------------------------------------------------------------

-- A vector store B: name (the target's too), start, rows(srv, coll),
-- vempty(srv, coll) and the words its plans say of a field; it becomes a
-- backend like the SQL ones.
local function vector_backend(B)
  B.vectors = true
  B.words.create = "create collection"
  B.words.recreate = "drop and recreate collection"
  B.words.drop = "drop collection"
  B.target = function(srv, coll)
    return string.format("targets.%s{ url = %q, collection_name = %q }", B.name, srv.url, coll)
  end
  B.records = function(srv, _, coll) return B.rows(srv, coll) end
  B.empty = function(srv, _, coll) return B.vempty(srv, coll) end
  backends[#backends + 1] = B
end

local function qpath(coll) return "/collections/" .. coll:gsub("[^%w%-%._~]", function(c)
  return string.format("%%%02X", c:byte()) end) end

-- Every point's payload, the named vectors under their names too.
local function qdrant_rows(srv, coll)
  local pts = srv:points(coll)
  if not pts then return nil end
  local out = {}
  for i, p in ipairs(pts) do
    local r = {}
    for k, v in pairs(p.payload or {}) do r[k] = v end
    for k, v in pairs(type(p.vector) == "table" and p.vector or {}) do r[k] = v end
    out[i] = r
  end
  return out
end


vector_backend{
  name = "Qdrant",
  start = V.qdrant,
  rows = qdrant_rows,
  words = { add = "add payload field size (int64)", drop_field = "delete payload field size from every point",
    retype = "payload field size: int64 → str" },
  awkward = "we ird tab'le.x ",
  awkward_vec = "vec tor's",
  hand_change = function(srv, coll)
    assert.equals(200, (srv:call("DELETE", qpath(coll))))
    assert.equals(200, (srv:call("PUT", qpath(coll), '{"vectors":{"emb":{"size":4,"distance":"Cosine"}}}')))
  end,
  hand_words = "vector emb is 4 Cosine, the flow wants 8 Cosine",
  vempty = function(srv, coll)
    assert.equals(200, (srv:call("POST", qpath(coll) .. "/points/delete?wait=true", '{"filter":{}}')))
  end,
  drop_coll = function(srv, coll) assert.equals(200, (srv:call("DELETE", qpath(coll)))) end,
}


-- Every record's metadata, its document as text and its embedding as emb.
local function chroma_rows(srv, coll)
  local recs = srv:records(coll)
  if not recs then return nil end
  local out = {}
  for i, r in ipairs(recs) do
    local t = {}
    for k, v in pairs(r.metadata or {}) do t[k] = v end
    t.text = r.document
    t.emb = r.embedding
    out[i] = t
  end
  return out
end


vector_backend{
  name = "Chroma",
  start = V.chroma,
  rows = chroma_rows,
  words = { add = "add metadata field size (int64)", drop_field = "drop metadata field size",
    retype = "field size: int64 metadata → str metadata" },
  awkward = "we.ird-tab_le",
  -- recreated by hand with another space, holding a record of 4 dimensions
  hand_change = function(srv, coll)
    assert.equals(200, (srv:call("DELETE", V.CHROMA_BASE .. "/collections/" .. coll)))
    local code, c = srv:call("POST", V.CHROMA_BASE .. "/collections",
      '{"name":"' .. coll .. '","configuration":{"hnsw":{"space":"l2"}}}')
    assert.equals(200, code)
    assert.equals(201, (srv:call("POST", V.CHROMA_BASE .. "/collections/" .. c.id .. "/add",
      '{"ids":["x"],"embeddings":[[1,2,3,4]]}')))
  end,
  hand_words = "space is l2, the flow wants cosine; embeddings have 4 dimensions, the flow's 8",
  vempty = function(srv, coll)
    local c = srv:collection(coll)
    local ids = {}
    for i, r in ipairs(srv:records(coll)) do ids[i] = r.id end
    if #ids > 0 then
      assert.equals(200, (srv:call("POST", V.CHROMA_BASE .. "/collections/" .. c.id .. "/delete", { ids = ids })))
    end
  end,
  drop_coll = function(srv, coll)
    assert.equals(200, (srv:call("DELETE", V.CHROMA_BASE .. "/collections/" .. coll)))
  end,
}


-- ---- the suite -----------------------------------------------------------------------

for _, B in ipairs(backends) do
  describe("target conformance: " .. B.name, function()
    local srv, why
    local dir, env, serial = nil, nil, 0

    lazy_setup(function() srv, why = B.start() end)
    lazy_teardown(function() if srv then srv:stop() end end)
    before_each(function()
      dir = H.tmpdir()
      env = srv and B.env and B.env(srv) or {}
      serial = serial + 1
    end)
    after_each(function() H.cleanup() end)

    local function ready()
      if not srv then pending(B.name .. " cannot start: " .. tostring(why)) end
      return srv ~= nil
    end

    -- flow.lua for a collect{...} and a table or collection; returns its name.
    local function flow(o)
      o = o or {}
      local name = o.coll or ("Conf" .. serial .. "_" .. B.name:lower())
      local vf = o.vec_field or "emb"
      H.write(dir .. "/flow.lua", string.format(FLOW, DIM, o.name or ("Conf" .. serial),
        o.collect or (B.vectors and VBASE or BASE), B.target(srv, name), o.key or "filename",
        B.vectors and string.format(VEC_INDEX, vf) or "",
        B.vectors and string.format(VEC_QUERY, vf, o.query_fn or "Vec") or ""))
      return name
    end
    local function coco(args, extra)
      local e = {}
      for k, v in pairs(env) do e[k] = v end
      for k, v in pairs(extra or {}) do e[k] = v end
      return H.coco(dir, args, e)
    end
    -- "filename|text" of every row, sorted
    local function rows(name, fields)
      local out = {}
      for _, r in ipairs(B.records(srv, dir, name) or {}) do
        local parts = {}
        for i, f in ipairs(fields) do parts[i] = tostring(r[f]) end
        out[#out + 1] = table.concat(parts, "|")
      end
      table.sort(out)
      return out
    end
    -- the fields a table has, or its rows hold
    local function field_names(name)
      if B.columns then
        local out = {}
        for i, r in ipairs(B.columns(srv, dir, name) or {}) do out[i] = r.name end
        return out
      end
      local seen = {}
      for _, r in ipairs(B.records(srv, dir, name) or {}) do
        for k in pairs(r) do seen[k] = true end
      end
      return sorted_keys(seen)
    end
    local function has_field(name, f)
      for _, x in ipairs(field_names(name)) do if x == f then return true end end
      return false
    end
    local function write_docs(files)
      H.mkdir(dir .. "/docs")
      for name, content in pairs(files) do
        local f = assert(io.open(dir .. "/docs/" .. name, "wb"))
        f:write(content)
        f:close()
      end
    end
    local function expect_files(name, files)
      local want = {}
      for _, n in ipairs(sorted_keys(files)) do want[#want + 1] = n .. "|" .. files[n] end
      assert.same(want, rows(name, { "filename", "text" }))
    end
    local base = B.vectors and VBASE or BASE

    it("sets up a table or collection with the key and the fields, once", function()
      if not ready() then return end
      local name = flow()
      local rc, out, err = coco("setup flow.lua")
      assert.equals(0, rc, err)
      assert.matches(B.words.create, out, 1, true)
      if B.columns then assert.same({ "filename", "text" }, field_names(name)) end
      assert.same({}, rows(name, { "filename" }))
      rc, out = coco("setup flow.lua")
      assert.equals(0, rc)
      assert.matches("up to date", out)
      rc, out = coco("show flow.lua")
      assert.equals(0, rc)
      assert.matches("Setup: up to date", out)
    end)

    it("upserts changed rows, deletes the rows of removed files, writes all again with --reexport", function()
      if not ready() then return end
      local name = flow()
      local files = { ["a.md"] = "alpha", ["b.md"] = "beta", ["c.md"] = "gamma" }
      write_docs(files)
      local rc, _, err = coco("update flow.lua -q")
      assert.equals(0, rc, err)
      expect_files(name, files)
      files["b.md"] = "beta, changed"
      files["d.md"] = "delta"
      write_docs(files)
      H.rm(dir .. "/docs/a.md")
      files["a.md"] = nil
      local out
      rc, out, err = coco("update flow.lua --json")
      assert.equals(0, rc, err)
      local st = H.json_lines(out)[1]
      assert.same({ 1, 1, 1, 1 }, { st.added, st.updated, st.deleted, st.unchanged })
      expect_files(name, files)
      -- someone deleted every row by hand: --reexport writes them again
      B.empty(srv, dir, name)
      assert.same({}, rows(name, { "filename" }))
      assert.equals(0, (coco("update flow.lua -q --reexport")))
      expect_files(name, files)
    end)

    it("adds a field and drops it again (with -f)", function()
      if not ready() then return end
      local name = flow()
      local files = { ["a.md"] = "one", ["b.md"] = "three" }
      write_docs(files)
      assert.equals(0, (coco("update flow.lua -q")))
      flow{ collect = base .. ", size = doc.content:transform(Size)" }
      local rc, out, err = coco("update flow.lua")
      assert.equals(0, rc, err)
      assert.matches(B.words.add, out, 1, true)
      assert.is_true(has_field(name, "size"))
      assert.same({ "a.md|3", "b.md|5" }, rows(name, { "filename", "size" }))
      -- removing the field drops data: refused without -f, nothing changed
      flow()
      rc, _, err = coco("update flow.lua")
      assert.equals(1, rc)
      assert.matches(B.words.drop_field, err, 1, true)
      assert.same({ "a.md|3", "b.md|5" }, rows(name, { "filename", "size" }))
      rc, _, err = coco("update flow.lua -f -q")
      assert.equals(0, rc, err)
      assert.is_false(has_field(name, "size"))
      expect_files(name, files)
    end)

    it("follows a field's type change; a vector store recreates the collection when a vector's size changes", function()
      if not ready() then return end
      local name = flow{ collect = base .. ", size = doc.content:transform(Size)" }
      write_docs({ ["a.md"] = "four", ["b.md"] = "fives" })
      assert.equals(0, (coco("update flow.lua -q")))
      flow{ collect = base .. ", size = doc.content" }
      local rc, out, err = coco("update flow.lua")
      if B.words.retype then          -- rewritten in place
        assert.equals(0, rc, err)
        assert.matches(B.words.retype, out, 1, true)
      else                            -- the table is recreated, with -f
        assert.equals(1, rc)
        assert.matches(B.words.recreate, err, 1, true)
        rc, _, err = coco("update flow.lua -q -f")
        assert.equals(0, rc, err)
      end
      assert.same({ "a.md|four", "b.md|fives" }, rows(name, { "filename", "size" }))
      if not B.vectors then return end
      -- a 4-float vector instead of 8: the collection is recreated, with -f
      flow{ collect = "filename = doc.filename, text = doc.content, emb = doc.content:transform(Vec4)",
        query_fn = "Vec4" }
      rc, _, err = coco("update flow.lua -q")
      assert.equals(1, rc)
      assert.matches(B.words.recreate, err, 1, true)
      rc, _, err = coco("update flow.lua -q -f")
      assert.equals(0, rc, err)
      expect_files(name, { ["a.md"] = "four", ["b.md"] = "fives" })
      rc, out, err = coco("query flow.lua:near four --json")
      assert.equals(0, rc, err)
      assert.equals("a.md", H.json_lines(out)[1].filename)
    end)

    it("drops the table or collection and the state", function()
      if not ready() then return end
      local name = flow()
      write_docs({ ["a.md"] = "x" })
      assert.equals(0, (coco("update flow.lua -q")))
      assert.equals(1, #rows(name, { "filename" }))
      local rc, out, err = coco("drop flow.lua -f")
      assert.equals(0, rc, err)
      assert.matches(B.words.drop, out, 1, true)
      assert.is_nil(B.records(srv, dir, name))
      assert.is_nil(H.read(dir .. "/.coco/Conf" .. serial .. "/CURRENT"))
    end)

    it("converges after kill -9 in the middle of updates", function()
      if not ready() then return end
      local name = flow()
      local files = {}
      local function fill(round)
        for i = 1, 1200 do
          local n = string.format("f%04d.md", i)
          if (i + round) % 3 ~= 0 then
            files[n] = string.format("file %d, round %d", i, round)
          else
            files[n] = nil
            os.remove(dir .. "/docs/" .. n)
          end
        end
        write_docs(files)
      end
      for round = 1, 2 do
        fill(round)
        for _, delay in ipairs({ "0.15", "0.4" }) do
          local e = ""
          for k, v in pairs(env) do e = e .. k .. "=" .. H.q(v) .. " " end
          local p = io.popen(string.format("cd %s && SLOW_US=400 %s%s update flow.lua -q >/dev/null 2>&1 & echo $!",
            H.q(dir), e, H.q(H.bin)))
          local pid = p:read("*l")
          p:close()
          os.execute("sleep " .. delay .. "; kill -9 " .. pid .. " 2>/dev/null")
          while S.alive(pid) do os.execute("sleep 0.02") end
        end
        local rc, _, err = coco("update flow.lua -q")
        assert.equals(0, rc, err)
        expect_files(name, files)
        local out
        rc, out = coco("update flow.lua --json")
        assert.equals(0, rc)
        local st = H.json_lines(out)[1]
        assert.same({ 0, 0, 0 }, { st.added, st.updated, st.deleted })
      end
    end)

    it("takes awkward names: keywords, quotes, spaces, case", function()
      if not ready() then return end
      local vf = B.awkward_vec or "emb"
      local collect = 'filename = doc.filename, ["select"] = doc.content, ["it\'s \\"x\\""] = doc.content:transform(Size), '
        .. '["Mixed Case"] = doc.filename'
      if B.vectors then
        collect = collect .. ', text = doc.content, [' .. string.format("%q", vf) .. '] = doc.content:transform(Vec)'
      end
      local name = flow{ coll = B.awkward .. serial, vec_field = vf, collect = collect }
      write_docs({ ["a.md"] = "quoted" })
      local rc, out, err = coco("update flow.lua -q")
      assert.equals(0, rc, err)
      if B.columns then
        assert.same({ "filename", "Mixed Case", 'it\'s "x"', "select" }, field_names(name))
      end
      assert.same({ 'a.md|quoted|6|a.md' }, rows(name, { "filename", "select", 'it\'s "x"', "Mixed Case" }))
      if B.vectors then
        rc, out, err = coco("query flow.lua:near quoted --json")
        assert.equals(0, rc, err)
        local r = H.json_lines(out)[1]
        assert.same({ "a.md", "quoted", 6, "a.md" }, { r.filename, r.select, r['it\'s "x"'], r["Mixed Case"] })
      end
      rc, _, err = coco("drop flow.lua -f -q")
      assert.equals(0, rc, err)
      assert.is_nil(B.records(srv, dir, name))
    end)

    if B.vectors then
      it("finds the nearest rows through a query handler, by each metric", function()
        if not ready() then return end
        flow()
        local texts = { ["a.md"] = "alpha", ["b.md"] = "bravo", ["c.md"] = "charlie", ["d.md"] = "delta",
          ["e.md"] = "echo" }
        write_docs(texts)
        for _, metric in ipairs({ "cosine", "l2", "ip" }) do
          local env = { METRIC = metric }
          local rc, _, err = coco("update flow.lua -q -f", env)
          assert.equals(0, rc, err)
          local out
          rc, out, err = coco("query flow.lua:near charlie -k 3 --json", env)
          assert.equals(0, rc, err)
          local got = H.json_lines(out)
          assert.equals(3, #got)
          -- the expected order and distances, computed here
          local want = {}
          for name, t in pairs(texts) do
            want[#want + 1] = { name = name, d = H.distance(metric, vec("charlie", DIM), vec(t, DIM)) }
          end
          table.sort(want, function(x, y) return x.d < y.d end)
          for i = 1, 3 do
            assert.equals(want[i].name, got[i].filename, metric)
            assert.equals(texts[want[i].name], got[i].text)
            assert.is_true(math.abs(got[i].distance - want[i].d) < 1e-3 * math.max(1, math.abs(want[i].d)),
              metric .. ": " .. got[i].distance .. " vs " .. want[i].d)
            assert.is_nil(got[i].emb)
          end
        end
      end)

      it("follows edits, new files and deletions in live mode", function()
        if not ready() then return end
        local coll = flow()
        write_docs({ ["a.md"] = "one" })
        local p = P.spawn(dir, H.q(H.bin) .. " update flow.lua -L -q", "pipe")
        local function now_has(want)
          return function()
            local got = rows(coll, { "filename", "text" })
            return table.concat(got, ";") == want
          end
        end
        P.wait_for(p, 60, "a.md in the collection", now_has("a.md|one"))
        write_docs({ ["a.md"] = "uno", ["b.md"] = "two" })
        P.wait_for(p, 60, "the edit and the new file", now_has("a.md|uno;b.md|two"))
        os.remove(dir .. "/docs/a.md")
        P.wait_for(p, 60, "the deletion", now_has("b.md|two"))
        P.signal(p, 2)
        P.wait_exit(p, 30)
        P.kill(p)
      end)

      it("keeps state when the server goes down mid-update; the next run converges", function()
        if not ready() then return end
        local coll = flow()
        local files = {}
        for i = 1, 1500 do files[string.format("f%04d.md", i)] = "file " .. i end
        write_docs(files)
        local p = io.popen(string.format("cd %s && SLOW_US=2000 %s update flow.lua -q >%s/out 2>%s/err & echo $!",
          H.q(dir), H.q(H.bin), H.q(dir), H.q(dir)))
        local pid = p:read("*l")
        p:close()
        -- wait until some rows arrived, then kill the server
        local deadline = os.time() + 60
        local function some()
          local ok, r = pcall(B.rows, srv, coll)   -- Chroma: 500 while its first segment is written
          return ok and r and #r > 0
        end
        while not some() and os.time() < deadline do os.execute("sleep 0.05") end
        srv:halt()
        while S.alive(pid) do os.execute("sleep 0.05") end
        local err = H.read(dir .. "/err")
        assert.matches(B.name, err, 1, true)
        assert.matches("cannot reach", err, 1, true)
        assert(srv:start())
        local rc
        rc, _, err = coco("update flow.lua -q")
        assert.equals(0, rc, err)
        expect_files(coll, files)
        local out
        rc, out = coco("update flow.lua --json")
        assert.equals(0, rc)
        local st = H.json_lines(out)[1]
        assert.same({ 0, 0, 0, 1500 }, { st.added, st.updated, st.deleted, st.unchanged })
      end)

      it("sees a collection changed or deleted by hand and offers to recreate it", function()
        if not ready() then return end
        local coll = flow()
        local files = { ["a.md"] = "alpha", ["b.md"] = "beta" }
        write_docs(files)
        assert.equals(0, (coco("update flow.lua -q")))
        B.hand_change(srv, coll)
        local rc, out, err = coco("setup flow.lua")
        assert.equals(1, rc)
        assert.matches("changed on the server: " .. B.hand_words, err, 1, true)
        assert.matches("-f", err, 1, true)
        rc, out = coco("show flow.lua")
        assert.matches("changes pending", out, 1, true)
        rc, _, err = coco("update flow.lua -q -f")
        assert.equals(0, rc, err)
        expect_files(coll, files)
        rc, out = coco("setup flow.lua")
        assert.equals(0, rc)
        assert.matches("up to date", out)
        -- deleted by hand: created again (nothing to lose), every row written again
        B.drop_coll(srv, coll)
        rc, out, err = coco("update flow.lua")
        assert.equals(0, rc, err)
        assert.matches("is missing on the server", out, 1, true)
        expect_files(coll, files)
      end)

      it("fails only the rows whose vector has another dimension", function()
        if not ready() then return end
        local coll = flow{ collect = "filename = doc.filename, text = doc.content, emb = doc.content:transform(Bad)" }
        local f = H.read(dir .. "/flow.lua")
        f = f:gsub("return coco.flow", [[
  local Bad = coco.fn("Bad", { returns = T.vector("float32", DIM) }, function(s)
    if s == "bad" then return vec(s, DIM + 1) end
    return vec(s, DIM)
  end)
  return coco.flow]], 1)
        H.write(dir .. "/flow.lua", f)
        write_docs({ ["a.md"] = "good", ["b.md"] = "bad", ["c.md"] = "fine" })
        local rc, out, err = coco("update flow.lua --json")
        assert.equals(1, rc)
        assert.matches("b%.md.*expected a vector of 8 numbers, got 9", err)
        local st = H.json_lines(out)[1]
        assert.same({ 2, 1 }, { st.added, st.errors })
        expect_files(coll, { ["a.md"] = "good", ["c.md"] = "fine" })
        -- fixed: the row is retried, and only it
        write_docs({ ["b.md"] = "okay" })
        rc, out, err = coco("update flow.lua --json")
        assert.equals(0, rc, err)
        expect_files(coll, { ["a.md"] = "good", ["b.md"] = "okay", ["c.md"] = "fine" })
      end)
    end
  end)
end
