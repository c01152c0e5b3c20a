-- coco verify: every export's target compared, row by row and column by
-- column, with a fresh evaluation (cached results read, no cached function
-- called again); hand edits named by kind; --repair writes the difference;
-- two source rows with one target key reported as a collision; a target
-- that cannot be read back is said to be unchecked. On SQLite and on
-- Debian's PostgreSQL (a struct in jsonb and a float32 in real compare as
-- stored).
local H = require("spec.helpers")
local S = require("spec.servers")

local HEAD = [[
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets
local T = coco.types
-- every call appends a line to calls.log: a cached function called again shows
local Info = coco.fn("Info", { returns = T.struct{ { "n", "int64" }, { "head", "str" }, { "f", "float32" } },
  cache = true, version = 1 }, function(s)
  local f = assert(io.open("calls.log", "a")); f:write(s:sub(1, 8), "\n"); f:close()
  return { n = #s, head = s:sub(1, 6), f = #s / 3 }
end)
]]

local function flow_text(target, key_expr)
  return HEAD .. string.format([[
return coco.flow("Verify", function(flow, scope)
  scope.documents = flow:add_source(sources.LocalFile{ path = "docs" })
  local rows = scope:add_collector()
  scope.documents:row(function(doc)
    doc.info = doc.content:transform(Info)
    doc.first = doc.content:transform(coco.fn("First", { returns = "str" }, function(s) return s:match("^%%S+") end))
    rows:collect{ name = %s, text = doc.content, info = doc.info, score = 0.25, ok = true }
  end)
  rows:export("rows", %s, { primary_key_fields = { "name" } })
end)
]], key_expr or "doc.filename", target)
end

local function count_lines(s)
  local n = 0
  for _ in (s or ""):gmatch("[^\n]+") do n = n + 1 end
  return n
end

local function write_docs(dir)
  for i = 1, 6 do
    H.write(string.format("%s/docs/f%d.md", dir, i), string.format("file%d says %s", i, ("x"):rep(i)))
  end
end

-- The shared cases. ctx: dir(), coco(args), target (flow text), exec(sql
-- with %s for the table).
local function cases(ctx)
  it("passes on a fresh index, names each hand edit, repairs them, calls no cached function again", function()
    if not ctx.ready() then return end
    local dir, coco = ctx.dir, ctx.coco
    write_docs(dir)
    H.write(dir .. "/flow.lua", flow_text(ctx.target))
    local rc, out, err = coco("update flow.lua -q")
    assert.are.equal(0, rc, out .. err)
    assert.are.equal(6, count_lines(H.read(dir .. "/calls.log")))

    rc, out, err = coco("verify flow.lua")
    assert.are.equal(0, rc, out .. err)
    assert.truthy(out:find("Verify.rows: 6 rows held, 6 expected: same as a fresh build", 1, true), out)

    -- by hand: one row deleted, one changed, one added that no file produces
    ctx.exec("DELETE FROM %s WHERE name = 'f2.md'")
    ctx.exec("UPDATE %s SET text = 'edited' WHERE name = 'f3.md'")
    ctx.exec("INSERT INTO %s (name, text, score, ok) VALUES ('ghost.md', 'boo', 0.25, true)")
    rc, out, err = coco("verify flow.lua")
    assert.are.equal(1, rc, out .. err)
    assert.truthy(out:find("Verify.rows: missing f2.md (from documents f2.md)", 1, true), out)
    assert.truthy(out:find("Verify.rows: different f3.md: text (from documents f3.md)", 1, true), out)
    assert.truthy(out:find("Verify.rows: stale ghost.md", 1, true), out)
    assert.truthy(out:find("1 missing, 1 stale, 1 different", 1, true), out)

    rc, out = coco("verify flow.lua --json")
    assert.are.equal(1, rc)
    local kinds = {}
    for _, d in ipairs(H.json_lines(out)) do
      if d.kind then kinds[d.kind .. ":" .. d.key] = d end
    end
    assert.truthy(kinds["missing:f2.md"], out)
    assert.are.equal("text", kinds["different:f3.md"].columns)
    assert.are.equal("documents", kinds["different:f3.md"].source)
    assert.truthy(kinds["stale:ghost.md"], out)

    rc, out, err = coco("verify flow.lua --repair")
    assert.are.equal(1, rc, out .. err)
    assert.truthy(out:find("3 repaired", 1, true), out)
    rc, out, err = coco("verify flow.lua")
    assert.are.equal(0, rc, out .. err)
    assert.truthy(out:find("6 rows held, 6 expected: same as a fresh build", 1, true), out)
    -- the repaired rows are the rows a build writes: a struct column included
    local f3 = ctx.rows("SELECT text FROM %s WHERE name = 'f3.md'")
    assert.are.equal("file3 says xxx", f3[1].text)
    -- and no cached function ran again: every result came from the cache
    assert.are.equal(6, count_lines(H.read(dir .. "/calls.log")))
  end)

  it("a changed struct or float value is different in that column", function()
    if not ctx.ready() then return end
    local dir, coco = ctx.dir, ctx.coco
    write_docs(dir)
    H.write(dir .. "/flow.lua", flow_text(ctx.target))
    assert.are.equal(0, (coco("update flow.lua -q")))
    ctx.exec(ctx.set_info)
    ctx.exec("UPDATE %s SET score = 0.5 WHERE name = 'f5.md'")
    local rc, out, err = coco("verify flow.lua")
    assert.are.equal(1, rc, out .. err)
    assert.truthy(out:find("different f4.md: info", 1, true), out)
    assert.truthy(out:find("different f5.md: score", 1, true), out)
    assert.truthy(out:find("0 missing, 0 stale, 2 different", 1, true), out)
  end)

  it("reports two source rows that produce one target key, once each", function()
    if not ctx.ready() then return end
    local dir, coco = ctx.dir, ctx.coco
    H.write(dir .. "/docs/a.md", "same first word")
    H.write(dir .. "/docs/b.md", "same other words")
    H.write(dir .. "/docs/c.md", "unique words")
    H.write(dir .. "/flow.lua", flow_text(ctx.target, "doc.first"))
    assert.are.equal(0, (coco("update flow.lua -q")))
    local rc, out, err = coco("verify flow.lua --json")
    local coll
    for _, d in ipairs(H.json_lines(out)) do
      if d.kind == "collision" then
        assert.is_nil(coll, "one collision: " .. out)
        coll = d
      end
    end
    assert.truthy(coll, out .. err)
    assert.are.equal("same", coll.key)
    assert.are.equal("b.md", coll.source_key)
    assert.are.equal("documents a.md", coll.other)
    assert.is_true(rc == 0 or rc == 1)
  end)
end

describe("coco verify on SQLite", function()
  local ctx = { ready = function() return true end, target = 'targets.SQLite{ path = "index.sqlite" }',
    set_info = [[UPDATE %s SET info = '{"n":1,"head":"x","f":1}' WHERE name = 'f4.md']] }
  before_each(function()
    ctx.dir = H.tmpdir()
    ctx.coco = function(args) return H.coco(ctx.dir, args) end
    ctx.exec = function(sql)
      assert(H.sh(string.format("sqlite3 %s %s", H.q(ctx.dir .. "/index.sqlite"), H.q(sql:format("Verify__rows")))))
    end
    ctx.rows = function(sql) return H.sql(ctx.dir .. "/index.sqlite", sql:format("Verify__rows")) end
  end)
  after_each(H.cleanup)
  cases(ctx)

  it("says a custom Lua target is not checked", function()
    local d = H.tmpdir()
    write_docs(d)
    H.write(d .. "/flow.lua", flow_text([[coco.target{ name = "Nowhere", setup = function() end,
      mutate = function() end }{}]]))
    local rc, out, err = H.coco(d, "update flow.lua -q")
    assert.are.equal(0, rc, out .. err)
    rc, out, err = H.coco(d, "verify flow.lua")
    assert.are.equal(0, rc, out .. err)
    assert.truthy(out:find("Verify.rows: not checked (the target cannot be read back)", 1, true), out)
  end)
end)

describe("coco verify on Debian's PostgreSQL", function()
  local srv, why
  local ctx = { target = "targets.Postgres{}",
    set_info = [[UPDATE %s SET info = '{"n": 1, "f": 1, "head": "x"}' WHERE name = 'f4.md']] }
  lazy_setup(function() srv, why = S.postgres() end)
  lazy_teardown(function() if srv then srv:stop() end end)
  before_each(function()
    ctx.dir = H.tmpdir()
    ctx.ready = function()
      if not srv then pending("PostgreSQL cannot start: " .. tostring(why)) end
      return srv ~= nil
    end
    if not srv then return end
    srv:exec('DROP TABLE IF EXISTS "Verify__rows"')
    ctx.coco = function(args) return H.coco(ctx.dir, args, { COCO_DATABASE_URL = srv.url }) end
    ctx.exec = function(sql) assert(srv:exec(sql:format('"Verify__rows"'))) end
    ctx.rows = function(sql) return srv:sql(sql:format('"Verify__rows"')) end
  end)
  after_each(H.cleanup)
  cases(ctx)

  it("a jsonb struct with its keys reordered and respaced is the same", function()
    if not ctx.ready() then return end
    local dir = ctx.dir
    write_docs(dir)
    H.write(dir .. "/flow.lua", flow_text(ctx.target))
    assert.are.equal(0, (ctx.coco("update flow.lua -q")))
    -- jsonb keeps its own key order and spacing; the values are what count
    local r = ctx.rows("SELECT info::text AS t FROM %s WHERE name = 'f1.md'")
    assert.truthy(r[1].t:find(", ", 1, true), r[1].t)
    local rc, out, err = ctx.coco("verify flow.lua")
    assert.are.equal(0, rc, out .. err)
  end)
end)
