-- The target-conformance list of spec/target_conformance_spec.lua for the
-- vector stores (spec/qdrant_spec.lua, spec/chroma_spec.lua): setup, a
-- field added and removed, a type change, upserts, deletes and --reexport,
-- drop, convergence after kill -9, awkward names, top_k through a query
-- handler, and the bad input of issue 18: the server down mid-update, a
-- collection changed by hand, a vector of the wrong dimension.
--
--   require("spec.vector_conformance")(B)
--
-- B: name, start() -> server | nil, why (spec/servers_vector.lua);
-- target(srv, coll) -> the targets.X{...} text; rows(srv, coll) -> every
-- record as { field = value } (nil: no collection); words = { create, add,
-- drop_field, retype, recreate, drop } (plan lines); awkward_coll,
-- awkward_fields (names the store takes); hand_change(srv, coll) changes
-- the collection's vector size by hand and hand_words says so;
-- empty(srv, coll) deletes every record by hand, drop_coll(srv, coll) the
-- collection.
local H = require("spec.helpers")
local S = require("spec.servers")
local P = require("spec.servers_s3")      -- spawn, wait_for, kill

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
  rows:export("rows", %s, { primary_key_fields = { %q },
    vector_indexes = {{ field = %q, metric = os.getenv("METRIC") or "cosine" }} })
  flow:query_handler("near", function(query, opts)
    return flow:top_k("rows", %q, flow:call(%s, query), opts.k, { metric = os.getenv("METRIC") })
  end)
end)
]]

-- Vec of the flow, in the spec (for expected distances).
local function vec(s, dim)
  local v = {}
  for i = 1, dim do
    local b = #s > 0 and s:byte((i - 1) % #s + 1) or 0
    v[i] = (b % 17 + i) / 10
  end
  return v
end

local function distance(metric, a, b)
  local dot, na, nb, l2 = 0, 0, 0, 0
  for i = 1, #a do
    dot = dot + a[i] * b[i]
    na, nb = na + a[i] * a[i], nb + b[i] * b[i]
    l2 = l2 + (a[i] - b[i]) ^ 2
  end
  if metric == "cosine" then return 1 - dot / math.sqrt(na * nb) end
  if metric == "l2" then return math.sqrt(l2) end
  return -dot
end

local BASE = "filename = doc.filename, text = doc.content:transform(Pace), emb = doc.content:transform(Vec)"

local function sorted_keys(t)
  local k = {}
  for n in pairs(t) do k[#k + 1] = n end
  table.sort(k)
  return k
end

local function suite(B)
  describe("target conformance: " .. B.name, function()
    local srv, why
    local dir, serial = nil, 0

    lazy_setup(function() srv, why = B.start() end)
    lazy_teardown(function() if srv then srv:stop() end end)
    before_each(function()
      dir = H.tmpdir()
      serial = serial + 1
    end)
    after_each(function() H.cleanup() end)

    local function ready()
      if not srv then pending(B.name .. " cannot start: " .. tostring(why)) end
      return srv ~= nil
    end

    -- flow.lua for a collect{...} and collection; returns the collection's name.
    local function flow(o)
      o = o or {}
      local coll = o.coll or ("Conf" .. serial .. "_" .. B.name:lower())
      local vf = o.vec_field or "emb"
      H.write(dir .. "/flow.lua", string.format(FLOW, DIM, o.name or ("Conf" .. serial), o.collect or BASE,
        B.target(srv, coll), o.key or "filename", vf, vf, o.query_fn or "Vec"))
      return coll
    end
    local function coco(args, env) return H.coco(dir, args, env) end
    -- "filename|text" of every record, sorted
    local function rows(coll, fields)
      local out = {}
      for _, r in ipairs(B.rows(srv, coll) or {}) do
        local parts = {}
        for i, f in ipairs(fields) do parts[i] = tostring(r[f]) end
        out[#out + 1] = table.concat(parts, "|")
      end
      table.sort(out)
      return out
    end
    local function field_names(coll)
      local seen = {}
      for _, r in ipairs(B.rows(srv, coll) or {}) do
        for k in pairs(r) do seen[k] = true end
      end
      return sorted_keys(seen)
    end
    local function write_docs(files)
      H.mkdir(dir .. "/docs")
      for name, content in pairs(files) do
        local f = assert(io.open(dir .. "/docs/" .. name, "wb"))
        f:write(content)
        f:close()
      end
    end
    local function expect_files(coll, files)
      local want = {}
      for _, name in ipairs(sorted_keys(files)) do want[#want + 1] = name .. "|" .. files[name] end
      assert.same(want, rows(coll, { "filename", "text" }))
    end

    it("sets up a collection, once", function()
      if not ready() then return end
      local coll = flow()
      local rc, out, err = coco("setup flow.lua")
      assert.equals(0, rc, err)
      assert.matches(B.words.create, out, 1, true)
      assert.same({}, B.rows(srv, coll))
      rc, out = coco("setup flow.lua")
      assert.equals(0, rc)
      assert.matches("up to date", out)
      rc, out = coco("show flow.lua")
      assert.equals(0, rc)
      assert.matches("Setup: up to date", out)
    end)

    it("upserts changed rows, deletes the rows of removed files, writes all again with --reexport", function()
      if not ready() then return end
      local coll = flow()
      local files = { ["a.md"] = "alpha", ["b.md"] = "beta", ["c.md"] = "gamma" }
      write_docs(files)
      local rc, _, err = coco("update flow.lua -q")
      assert.equals(0, rc, err)
      expect_files(coll, files)
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
      expect_files(coll, files)
      -- someone deleted every record by hand: --reexport writes them again
      B.empty(srv, coll)
      assert.same({}, rows(coll, { "filename" }))
      assert.equals(0, (coco("update flow.lua -q --reexport")))
      expect_files(coll, files)
    end)

    it("adds a field and drops it again (with -f)", function()
      if not ready() then return end
      local coll = flow()
      local files = { ["a.md"] = "one", ["b.md"] = "three" }
      write_docs(files)
      assert.equals(0, (coco("update flow.lua -q")))
      flow{ collect = BASE .. ", size = doc.content:transform(Size)" }
      local rc, out, err = coco("update flow.lua")
      assert.equals(0, rc, err)
      assert.matches(B.words.add, out, 1, true)
      assert.same({ "a.md|3", "b.md|5" }, rows(coll, { "filename", "size" }))
      -- removing the field drops data: refused without -f, nothing changed
      flow()
      rc, _, err = coco("update flow.lua")
      assert.equals(1, rc)
      assert.matches(B.words.drop_field, err, 1, true)
      assert.same({ "a.md|3", "b.md|5" }, rows(coll, { "filename", "size" }))
      rc, _, err = coco("update flow.lua -f -q")
      assert.equals(0, rc, err)
      for _, f in ipairs(field_names(coll)) do assert.are_not.equals("size", f) end
      expect_files(coll, files)
    end)

    it("rewrites a field whose type changes; recreates the collection when a vector's size changes", function()
      if not ready() then return end
      local coll = flow{ collect = BASE .. ", size = doc.content:transform(Size)" }
      write_docs({ ["a.md"] = "four", ["b.md"] = "fives" })
      assert.equals(0, (coco("update flow.lua -q")))
      flow{ collect = BASE .. ", size = doc.content" }
      local rc, out, err = coco("update flow.lua")
      assert.equals(0, rc, err)
      assert.matches(B.words.retype, out, 1, true)
      assert.same({ "a.md|four", "b.md|fives" }, rows(coll, { "filename", "size" }))
      -- a 4-float vector instead of 8: the collection is recreated, with -f
      flow{ collect = "filename = doc.filename, text = doc.content, emb = doc.content:transform(Vec4)",
        query_fn = "Vec4" }
      rc, _, err = coco("update flow.lua -q")
      assert.equals(1, rc)
      assert.matches(B.words.recreate, err, 1, true)
      rc, _, err = coco("update flow.lua -q -f")
      assert.equals(0, rc, err)
      expect_files(coll, { ["a.md"] = "four", ["b.md"] = "fives" })
      rc, out, err = coco("query flow.lua:near four --json")
      assert.equals(0, rc, err)
      assert.equals("a.md", H.json_lines(out)[1].filename)
    end)

    it("drops the collection and the state", function()
      if not ready() then return end
      local coll = flow()
      write_docs({ ["a.md"] = "x" })
      assert.equals(0, (coco("update flow.lua -q")))
      assert.equals(1, #B.rows(srv, coll))
      local rc, out, err = coco("drop flow.lua -f")
      assert.equals(0, rc, err)
      assert.matches(B.words.drop, out, 1, true)
      assert.is_nil(B.rows(srv, coll))
      assert.is_nil(H.read(dir .. "/.coco/Conf" .. serial .. "/CURRENT"))
    end)

    it("converges after kill -9 in the middle of updates", function()
      if not ready() then return end
      local coll = flow()
      local files = {}
      local function fill(round)
        for i = 1, 1200 do
          local name = string.format("f%04d.md", i)
          if (i + round) % 3 ~= 0 then
            files[name] = string.format("file %d, round %d", i, round)
          else
            files[name] = nil
            os.remove(dir .. "/docs/" .. name)
          end
        end
        H.mkdir(dir .. "/docs")
        for name, content in pairs(files) do
          local f = assert(io.open(dir .. "/docs/" .. name, "wb"))
          f:write(content)
          f:close()
        end
      end
      for round = 1, 2 do
        fill(round)
        for _, delay in ipairs({ "0.15", "0.4" }) do
          local p = io.popen(string.format("cd %s && SLOW_US=400 %s update flow.lua -q >/dev/null 2>&1 & echo $!",
            H.q(dir), H.q(H.bin)))
          local pid = p:read("*l")
          p:close()
          os.execute("sleep " .. delay .. "; kill -9 " .. pid .. " 2>/dev/null")
          while S.alive(pid) do os.execute("sleep 0.02") end
        end
        local rc, _, err = coco("update flow.lua -q")
        assert.equals(0, rc, err)
        expect_files(coll, files)
        local out
        rc, out = coco("update flow.lua --json")
        assert.equals(0, rc)
        local st = H.json_lines(out)[1]
        assert.same({ 0, 0, 0 }, { st.added, st.updated, st.deleted })
      end
    end)

    it("takes awkward names: keywords, quotes, spaces, case", function()
      if not ready() then return end
      local coll = flow{ coll = B.awkward_coll .. serial, vec_field = B.awkward_vec or "emb",
        collect = 'filename = doc.filename, text = doc.content, ["select"] = doc.content, '
          .. '["it\'s \\"x\\""] = doc.content:transform(Size), ["Mixed Case"] = doc.filename, '
          .. '[' .. string.format("%q", B.awkward_vec or "emb") .. '] = doc.content:transform(Vec)' }
      write_docs({ ["a.md"] = "quoted" })
      local rc, _, err = coco("update flow.lua -q")
      assert.equals(0, rc, err)
      assert.same({ 'a.md|quoted|6|a.md' }, rows(coll, { "filename", "select", 'it\'s "x"', "Mixed Case" }))
      local out
      rc, out, err = coco("query flow.lua:near quoted --json")
      assert.equals(0, rc, err)
      local r = H.json_lines(out)[1]
      assert.same({ "a.md", "quoted", 6, "a.md" }, { r.filename, r.select, r['it\'s "x"'], r["Mixed Case"] })
      rc, _, err = coco("drop flow.lua -f -q")
      assert.equals(0, rc, err)
      assert.is_nil(B.rows(srv, coll))
    end)

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
          want[#want + 1] = { name = name, d = distance(metric, vec("charlie", DIM), vec(t, DIM)) }
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
  end)
end

-- busted's describe, it, pending, assert... live in the spec file's
-- environment: the suite runs in it
return function(B)
  setfenv(suite, getfenv(2))
  suite(B)
end
