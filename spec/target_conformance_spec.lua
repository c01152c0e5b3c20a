-- One target-conformance suite, run against SQLite, Debian's PostgreSQL
-- and PGlite + pgvector alike: setup, a field added and removed, upserts,
-- deletes, drop, convergence after kill -9, and awkward identifiers. A
-- server that truly cannot start makes its tests pending, with the reason.
local H = require("spec.helpers")
local S = require("spec.servers")

local FLOW = [[
local coco = require("coco")
local sources, targets = coco.sources, coco.targets
local slow = tonumber(os.getenv("SLOW_US") or "0") / 1e6
local Size = coco.fn("Size", { returns = "int64" }, function(s) return #s end)
local Pace = coco.fn("Pace", { returns = "str" }, function(s)
  if slow > 0 then
    local t = os.clock() + slow
    while os.clock() < t do end
  end
  return s
end)
return coco.flow(%q, function(flow, scope)
  scope.documents = flow:add_source(sources.LocalFile{ path = "docs" })
  local rows = scope:add_collector()
  scope.documents:row(function(doc)
    rows:collect{ %s }
  end)
  rows:export("rows", %s, { primary_key_fields = { %q } })
end)
]]

local BASE = "filename = doc.filename, text = doc.content:transform(Pace)"

-- A target per backend; rows and columns read back with its own client.
local backends = {
  {
    name = "SQLite",
    start = function() return { stop = function() end } end,
    target = function(tbl) return string.format("targets.SQLite{ path = \"index.sqlite\", table_name = %q }", tbl) end,
    columns = function(_, dir, tbl)
      local rows = H.sql(dir .. "/index.sqlite", "SELECT name FROM pragma_table_info('" .. tbl:gsub("'", "''") .. "')")
      if #rows == 0 then return nil end
      local out = {}
      for i, r in ipairs(rows) do out[i] = r.name end
      return out
    end,
    select = function(_, dir, sql) return H.sql(dir .. "/index.sqlite", sql) end,
  },
  {
    name = "PostgreSQL",
    start = S.postgres,
  },
  {
    name = "PGlite",
    start = S.pglite,
  },
}
for _, b in ipairs(backends) do
  if not b.target then
    b.target = function(tbl) return string.format("targets.Postgres{ table_name = %q }", tbl) end
    b.columns = function(srv, _, tbl)
      local rows = srv:sql("SELECT column_name AS name FROM information_schema.columns WHERE table_schema = 'public' "
        .. "AND table_name = '" .. tbl:gsub("'", "''") .. "' ORDER BY ordinal_position")
      if #rows == 0 then return nil end
      local out = {}
      for i, r in ipairs(rows) do out[i] = r.name end
      return out
    end
    b.select = function(srv, _, sql) return srv:sql(sql) end
  end
end

local function qi(name) return '"' .. name:gsub('"', '""') .. '"' end

local function write_docs(dir, files)
  for name, content in pairs(files) do H.write(dir .. "/docs/" .. name, content) end
end

local function sorted_keys(t)
  local k = {}
  for n in pairs(t) do k[#k + 1] = n end
  table.sort(k)
  return k
end

for _, B in ipairs(backends) do
  describe("target conformance: " .. B.name, function()
    local srv, why
    local dir, env, serial = nil, nil, 0

    lazy_setup(function() srv, why = B.start() end)
    lazy_teardown(function() if srv then srv:stop() end end)
    before_each(function()
      dir = H.tmpdir()
      env = srv and srv.url and { COCO_DATABASE_URL = srv.url } or {}
      serial = serial + 1
    end)
    after_each(function() H.cleanup() end)

    local function ready()
      if not srv then pending(B.name .. " cannot start: " .. tostring(why)) end
      return srv ~= nil
    end

    -- flow.lua for a collect{...} and table name; returns the table name.
    local function flow(o)
      o = o or {}
      local tbl = o.table or ("Conf" .. serial .. "_" .. B.name:lower())
      H.write(dir .. "/flow.lua", string.format(FLOW, o.name or ("Conf" .. serial), o.collect or BASE,
        B.target(tbl), o.key or "filename"))
      return tbl
    end
    local function coco(args, extra)
      local e = {}
      for k, v in pairs(env) do e[k] = v end
      for k, v in pairs(extra or {}) do e[k] = v end
      return H.coco(dir, args, e)
    end
    local function rows(tbl, cols)
      local sel = {}
      for i, c in ipairs(cols) do sel[i] = qi(c) .. " AS " .. qi(c) end
      local out = {}
      for _, r in ipairs(B.select(srv, dir, "SELECT " .. table.concat(sel, ", ") .. " FROM " .. qi(tbl))) do
        local parts = {}
        for i, c in ipairs(cols) do parts[i] = tostring(r[c]) end
        out[#out + 1] = table.concat(parts, "|")
      end
      table.sort(out)
      return out
    end
    local function expect_files(tbl, files)
      local want = {}
      for _, name in ipairs(sorted_keys(files)) do want[#want + 1] = name .. "|" .. files[name] end
      assert.same(want, rows(tbl, { "filename", "text" }))
    end

    it("sets up a table with the key and the fields, once", function()
      if not ready() then return end
      local tbl = flow()
      local rc, out, err = coco("setup flow.lua")
      assert.equals(0, rc, err)
      assert.matches("create table", out)
      assert.same({ "filename", "text" }, B.columns(srv, dir, tbl))
      assert.same({}, rows(tbl, { "filename" }))
      rc, out = coco("setup flow.lua")
      assert.equals(0, rc)
      assert.matches("up to date", out)
    end)

    it("upserts changed rows and deletes the rows of removed files", function()
      if not ready() then return end
      local tbl = flow()
      local files = { ["a.md"] = "alpha", ["b.md"] = "beta", ["c.md"] = "gamma" }
      write_docs(dir, files)
      local rc, _, err = coco("update flow.lua -q")
      assert.equals(0, rc, err)
      expect_files(tbl, files)
      files["b.md"] = "beta, changed"
      files["d.md"] = "delta"
      write_docs(dir, files)
      H.rm(dir .. "/docs/a.md")
      files["a.md"] = nil
      local out
      rc, out, err = coco("update flow.lua --json")
      assert.equals(0, rc, err)
      local st = H.json_lines(out)[1]
      assert.same({ 1, 1, 1, 1 }, { st.added, st.updated, st.deleted, st.unchanged })
      expect_files(tbl, files)
      -- someone emptied the table by hand: --reexport writes it again
      assert.equals(0, (coco("update flow.lua -q --reexport")))
      expect_files(tbl, files)
    end)

    it("adds a field as a column and drops it again (with -f)", function()
      if not ready() then return end
      local tbl = flow()
      local files = { ["a.md"] = "one", ["b.md"] = "three" }
      write_docs(dir, files)
      assert.equals(0, (coco("update flow.lua -q")))
      flow{ collect = BASE .. ", size = doc.content:transform(Size)" }
      local rc, out, err = coco("update flow.lua")
      assert.equals(0, rc, err)
      assert.matches("add column size", out)
      assert.same({ "filename", "text", "size" }, B.columns(srv, dir, tbl))
      assert.same({ "a.md|3", "b.md|5" }, rows(tbl, { "filename", "size" }))
      -- removing the field drops data: refused without -f, the table unchanged
      flow()
      rc, _, err = coco("update flow.lua")
      assert.equals(1, rc)
      assert.matches("drop column size", err)
      assert.same({ "filename", "text", "size" }, B.columns(srv, dir, tbl))
      rc, _, err = coco("update flow.lua -f -q")
      assert.equals(0, rc, err)
      assert.same({ "filename", "text" }, B.columns(srv, dir, tbl))
      expect_files(tbl, files)
    end)

    it("recreates the table when a field changes type", function()
      if not ready() then return end
      local tbl = flow{ collect = BASE .. ", size = doc.content:transform(Size)" }
      write_docs(dir, { ["a.md"] = "four" })
      assert.equals(0, (coco("update flow.lua -q")))
      flow{ collect = BASE .. ", size = doc.content" }
      local rc, _, err = coco("update flow.lua -q")
      assert.equals(1, rc)
      assert.matches("drop and recreate", err)
      rc, _, err = coco("update flow.lua -q -f")
      assert.equals(0, rc, err)
      assert.same({ "a.md|four" }, rows(tbl, { "filename", "size" }))
    end)

    it("drops the table and the state", function()
      if not ready() then return end
      local tbl = flow()
      write_docs(dir, { ["a.md"] = "x" })
      assert.equals(0, (coco("update flow.lua -q")))
      local rc, out, err = coco("drop flow.lua -f")
      assert.equals(0, rc, err)
      assert.matches("drop table", out)
      assert.is_nil(B.columns(srv, dir, tbl))
      assert.is_nil(H.read(dir .. "/.coco/Conf" .. serial .. "/CURRENT"))
    end)

    it("converges after kill -9 in the middle of updates", function()
      if not ready() then return end
      local tbl = flow()
      local files = {}
      local function fill(round)
        for i = 1, 1200 do
          if (i + round) % 3 ~= 0 then
            files[string.format("f%04d.md", i)] = string.format("file %d, round %d", i, round)
          else
            files[string.format("f%04d.md", i)] = nil
            os.remove(string.format("%s/docs/f%04d.md", dir, i))
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
        expect_files(tbl, files)
        local out
        rc, out = coco("update flow.lua --json")
        assert.equals(0, rc)
        local st = H.json_lines(out)[1]
        assert.same({ 0, 0, 0 }, { st.added, st.updated, st.deleted })
      end
    end)

    it("quotes awkward identifiers: keywords, quotes, spaces, case", function()
      if not ready() then return end
      local tbl = flow{ table = 'we"ird tab\'le ' .. serial,
        collect = 'filename = doc.filename, ["select"] = doc.content, ["it\'s \\"x\\""] = doc.content:transform(Size), '
          .. '["Mixed Case"] = doc.filename' }
      write_docs(dir, { ["a.md"] = "quoted" })
      local rc, _, err = coco("update flow.lua -q")
      assert.equals(0, rc, err)
      assert.same({ "filename", "Mixed Case", 'it\'s "x"', "select" }, B.columns(srv, dir, tbl))
      assert.same({ 'a.md|quoted|6|a.md' }, rows(tbl, { "filename", "select", 'it\'s "x"', "Mixed Case" }))
      rc, _, err = coco("drop flow.lua -f -q")
      assert.equals(0, rc, err)
      assert.is_nil(B.columns(srv, dir, tbl))
    end)
  end)
end
