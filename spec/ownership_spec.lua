-- Owned target rows (issue 14): two source rows that collect the same
-- target key. The target holds the row of the first source in flow order,
-- then of the smallest source key, whatever order rows were processed in;
-- a winner that stops collecting the key hands it to the next owner, a
-- loser's change writes nothing, a warning names both rows once per
-- update; kill -9 and live mode converge to a fresh build, and `coco
-- verify` agrees after every step. Two exports on one table are refused at
-- setup, at the flow's line.
local H = require("spec.helpers")

local TBL = "Own__rows"

-- name = the file's first word: files that start alike collide. extra: a
-- second source (flow order first) when set.
local function flow_text(o)
  o = o or {}
  local src = [[
  scope.documents = flow:add_source(sources.LocalFile{ path = "docs" }, { max_inflight_rows = %d })
]]
  local extra = o.two and [[
  scope.first = flow:add_source(sources.LocalFile{ path = "first" })
  scope.first:row(function(doc)
    rows:collect{ name = doc.content:transform(First), file = doc.filename, text = doc.content }
  end)
]] or ""
  return string.format([[
local coco = require("coco")
local sources, targets = coco.sources, coco.targets
local kill_at = tonumber(os.getenv("KILL_AT") or "0")
local calls = 0
First = coco.fn("First", { returns = "str" }, function(s)
  calls = calls + 1
  if calls == kill_at then
    local pid = io.open("/proc/self/stat"):read("*n")
    os.execute("kill -9 " .. pid)
    while true do end
  end
  return s:match("^%%S+") or ""
end)
return coco.flow("Own", function(flow, scope)
  local rows = scope:add_collector()
%s%s  scope.documents:row(function(doc)
    rows:collect{ name = doc.content:transform(First), file = doc.filename, text = doc.content }
  end)
  rows:export("rows", targets.SQLite{ path = "index.sqlite" }, { primary_key_fields = { "name" } })
end)
]], o.swap and "" or extra, string.format(src, o.batch or 512) .. (o.swap and extra or ""))
end

local function rows_of(dir)
  local out = {}
  for _, r in ipairs(H.sql(dir .. "/index.sqlite", "SELECT name, file, text FROM " .. TBL .. " ORDER BY name")) do
    out[#out + 1] = r.name .. "=" .. r.file .. ":" .. r.text
  end
  return table.concat(out, "\n")
end

local function warnings(err)
  local n = 0
  for l in err:gmatch("[^\n]+") do
    if l:find("collect the same target key", 1, true) then n = n + 1 end
  end
  return n
end

describe("owned target rows", function()
  local dir
  local function coco(args, env) return H.coco(dir, args, env) end
  local function update(env)
    local rc, out, err = coco("update flow.lua -q", env)
    assert.are.equal(0, rc, out .. err)
    return err
  end
  local function verified()
    local rc, out, err = coco("verify flow.lua")
    assert.are.equal(0, rc, out .. err)
  end
  -- a fresh build of the same files, from empty state
  local function fresh(o)
    local f = H.tmpdir()
    H.sh(string.format("cp -r %s/docs %s/docs", H.q(dir), H.q(f)))
    if o and o.two then H.sh(string.format("cp -r %s/first %s/first", H.q(dir), H.q(f))) end
    H.write(f .. "/flow.lua", flow_text(o))
    assert.are.equal(0, (H.coco(f, "update flow.lua -q")))
    return rows_of(f)
  end

  before_each(function()
    dir = H.tmpdir()
    H.write(dir .. "/flow.lua", flow_text())
  end)
  after_each(H.cleanup)

  it("the smallest key wins, whatever order rows came in", function()
    -- b then a, in separate updates
    H.write(dir .. "/docs/b.md", "same from b")
    update()
    assert.are.equal("same=b.md:same from b", rows_of(dir))
    verified()
    H.write(dir .. "/docs/a.md", "same from a")
    local err = update()
    assert.are.equal("same=a.md:same from a", rows_of(dir))
    assert.are.equal(1, warnings(err), err)
    assert.truthy(err:find("documents a.md and documents b.md collect the same target key same; " ..
      "the target holds the row of documents a.md (the first source in flow order, then the smallest key)", 1, true), err)
    verified()
    -- a then b
    local d2 = H.tmpdir()
    H.write(d2 .. "/flow.lua", flow_text())
    H.write(d2 .. "/docs/a.md", "same from a")
    assert.are.equal(0, (H.coco(d2, "update flow.lua -q")))
    H.write(d2 .. "/docs/b.md", "same from b")
    local rc, out, err2 = H.coco(d2, "update flow.lua -q")
    assert.are.equal(0, rc, out .. err2)
    assert.are.equal(1, warnings(err2), err2)
    assert.are.equal("same=a.md:same from a", rows_of(d2))
    -- both in one update, and a third in the middle
    local d3 = H.tmpdir()
    H.write(d3 .. "/flow.lua", flow_text())
    H.write(d3 .. "/docs/c.md", "same from c")
    H.write(d3 .. "/docs/b.md", "same from b")
    H.write(d3 .. "/docs/a.md", "same from a")
    rc, out, err2 = H.coco(d3, "update flow.lua -q")
    assert.are.equal(0, rc, out .. err2)
    assert.are.equal(1, warnings(err2), "once per update: " .. err2)
    assert.are.equal("same=a.md:same from a", rows_of(d3))
    -- an update that touches nothing says nothing
    rc, out, err2 = H.coco(d3, "update flow.lua -q")
    assert.are.equal(0, warnings(err2), err2)
  end)

  it("hands the row over, ignores a loser's change, follows the winner's", function()
    H.write(dir .. "/docs/a.md", "same from a")
    H.write(dir .. "/docs/b.md", "same from b")
    H.write(dir .. "/docs/c.md", "same from c")
    H.write(dir .. "/docs/u.md", "unique row")
    update()
    assert.are.equal("same=a.md:same from a\nunique=u.md:unique row", rows_of(dir))
    -- a loser changes its value: nothing changes
    H.write(dir .. "/docs/c.md", "same but c changed")
    update()
    assert.are.equal("same=a.md:same from a\nunique=u.md:unique row", rows_of(dir))
    verified()
    -- the winner changes its value: the new value
    H.write(dir .. "/docs/a.md", "same a again")
    update()
    assert.are.equal("same=a.md:same a again\nunique=u.md:unique row", rows_of(dir))
    verified()
    -- the winner goes: the next owner's row, not a deleted row
    H.rm(dir .. "/docs/a.md")
    local err = update()
    assert.are.equal("same=b.md:same from b\nunique=u.md:unique row", rows_of(dir))
    assert.are.equal(1, warnings(err), err)
    verified()
    -- the winner stops collecting the key (its first word changes)
    H.write(dir .. "/docs/b.md", "other from b")
    update()
    assert.are.equal("other=b.md:other from b\nsame=c.md:same but c changed\nunique=u.md:unique row", rows_of(dir))
    verified()
    -- a new row that beats the winner takes over; the last owner leaves
    H.write(dir .. "/docs/0.md", "same from 0")
    update()
    assert.are.equal("other=b.md:other from b\nsame=0.md:same from 0\nunique=u.md:unique row", rows_of(dir))
    H.rm(dir .. "/docs/0.md")
    H.rm(dir .. "/docs/c.md")
    update()
    assert.are.equal("other=b.md:other from b\nunique=u.md:unique row", rows_of(dir))
    verified()
    assert.are.equal(fresh(), rows_of(dir))
    -- no owner record is left for rows that are gone
    local p = io.popen(H.q(H.so_dir .. "/fuzz_state") .. " " .. H.q(dir .. "/.coco/Own"))
    local dump = p:read("*a")
    p:close()
    assert.truthy(dump:find('O\t', 1, true), dump)
    assert.falsy(dump:find('"0.md"', 1, true), dump)
    assert.falsy(dump:find('"c.md"', 1, true), dump)
  end)

  it("the first source in flow order wins over a smaller key", function()
    H.write(dir .. "/flow.lua", flow_text({ two = true }))
    H.write(dir .. "/docs/a.md", "same from docs")
    H.write(dir .. "/first/z.md", "same from first")
    -- `first` is added first: its z.md beats documents' a.md
    local err = update()
    assert.are.equal("same=z.md:same from first", rows_of(dir))
    assert.are.equal(fresh({ two = true }), rows_of(dir))
    assert.are.equal(1, warnings(err), err)
    verified()
    H.rm(dir .. "/first/z.md")
    update()
    assert.are.equal("same=a.md:same from docs", rows_of(dir))
    verified()
    H.write(dir .. "/first/z.md", "same from first")
    update()
    assert.are.equal("same=z.md:same from first", rows_of(dir))
    verified()
    -- the sources trade places in the flow, no file changes: the other wins
    H.write(dir .. "/flow.lua", flow_text({ two = true, swap = true }))
    update()
    assert.are.equal("same=a.md:same from docs", rows_of(dir))
    verified()
    local rc, out = coco("update flow.lua --json")
    assert.are.equal(0, rc)
    assert.falsy(out:find('"reprocessed":[1-9]'), "once: " .. out)
  end)

  -- found by spec/fuzz --collide, seed 21: the source that left ranked
  -- last in the flow after it, so its row, which the target held, was
  -- taken for a loser's and nothing was written in its place
  it("a source that leaves the flow hands the keys its rows won to the next owner", function()
    H.write(dir .. "/flow.lua", flow_text({ two = true }))
    H.write(dir .. "/docs/a.md", "same from docs")
    H.write(dir .. "/first/z.md", "same from first")
    update()
    assert.are.equal("same=z.md:same from first", rows_of(dir))
    H.write(dir .. "/flow.lua", flow_text())        -- `first` leaves
    update()
    assert.are.equal("same=a.md:same from docs", rows_of(dir))
    assert.are.equal(fresh(), rows_of(dir))
    verified()
  end)

  it("converges after kill -9 at any row of an update with collisions", function()
    local words = { "red", "green", "blue" }
    local kills = 0
    for k = 1, 8 do
      -- the same index each time (the target's path is part of its id:
      -- built in place, not copied)
      dir = H.tmpdir()
      H.write(dir .. "/flow.lua", flow_text({ batch = 2 }))
      for i = 1, 12 do
        H.write(string.format("%s/docs/f%02d.md", dir, i), words[i % 3 + 1] .. " file " .. i)
      end
      update()
      -- winners deleted, losers and winners changed, smaller keys added
      H.rm(dir .. "/docs/f01.md")
      H.rm(dir .. "/docs/f02.md")
      H.write(dir .. "/docs/f05.md", "blue moved")
      H.write(dir .. "/docs/f09.md", "red changed")
      H.write(dir .. "/docs/f00.md", "green new")
      H.write(dir .. "/docs/e.md", "red early")
      local rc = coco("update flow.lua -q", { KILL_AT = tostring(k) })
      if rc ~= 0 then kills = kills + 1 end
      update()
      assert.are.equal(fresh({ batch = 2 }), rows_of(dir), "killed at row " .. k)
      verified()
      local rc2, out2 = coco("update flow.lua --json")
      assert.are.equal(0, rc2)
      assert.falsy(out2:find('"added":[1-9]') or out2:find('"updated":[1-9]') or out2:find('"deleted":[1-9]'), out2)
    end
    assert.is_true(kills >= 4, "kills that landed: " .. kills)
  end)

  it("live mode hands rows over as files change", function()
    H.write(dir .. "/docs/a.md", "same from a")
    H.write(dir .. "/docs/b.md", "same from b")
    update()
    local pidf = dir .. "/live.pid"
    H.sh(string.format("cd %s && (%s update -L flow.lua -q >live.out 2>live.err & echo $! > %s)",
      H.q(dir), H.q(H.bin), H.q(pidf)))
    local pid = H.read(pidf):match("%d+")
    local function wait_for(want)
      local deadline = os.time() + 60
      while os.time() < deadline do
        if rows_of(dir) == want then return end
        H.sh("sleep 0.1")
      end
      assert.are.equal(want, rows_of(dir))
    end
    H.rm(dir .. "/docs/a.md")
    wait_for("same=b.md:same from b")
    H.write(dir .. "/docs/0.md", "same from 0")
    wait_for("same=0.md:same from 0")
    H.write(dir .. "/docs/b.md", "same b changed")
    H.write(dir .. "/docs/0.md", "other from 0")
    wait_for("other=0.md:other from 0\nsame=b.md:same b changed")
    H.sh("kill -INT " .. pid)
    local deadline = os.time() + 60
    while os.time() < deadline and H.sh("kill -0 " .. pid .. " 2>/dev/null") do H.sh("sleep 0.1") end
    verified()
    assert.are.equal(fresh(), rows_of(dir))
    assert.truthy(H.read(dir .. "/live.err"):find("collect the same target key", 1, true))
  end)

  it("refuses two exports writing one table, at the flow's line", function()
    H.write(dir .. "/docs/a.md", "x")
    H.write(dir .. "/flow.lua", [[
local coco = require("coco")
local sources, targets = coco.sources, coco.targets
return coco.flow("Own", function(flow, scope)
  scope.documents = flow:add_source(sources.LocalFile{ path = "docs" })
  local rows, more = scope:add_collector(), scope:add_collector()
  scope.documents:row(function(doc)
    rows:collect{ name = doc.filename, text = doc.content }
    more:collect{ name = doc.filename, text = doc.content }
  end)
  rows:export("rows", targets.SQLite{ path = "index.sqlite", table_name = "t" }, { primary_key_fields = { "name" } })
  more:export("more", targets.SQLite{ path = "index.sqlite", table_name = "t" }, { primary_key_fields = { "name" } })
end)
]])
    local rc, out, err = coco("update flow.lua")
    assert.are.equal(1, rc, out .. err)
    assert.truthy(err:find("flow.lua:11: export 'more' writes to the same target as export 'rows' (flow.lua:10)", 1, true), err)
    assert.falsy(io.open(dir .. "/index.sqlite"), "nothing touched")
  end)
end)
