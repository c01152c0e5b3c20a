-- Sources and targets written in Lua: coco.source{ list, get } and
-- coco.target{ setup, mutate }. Each case runs luajit (with build/coco.so)
-- or the coco binary in its own temp dir; the incremental rules (ordinals,
-- fingerprints, deletes, crash convergence, retries) must hold for them as
-- for the built-in connectors.
local H = require("spec.helpers")

-- Notes: one row per file of data/, key = file name, ordinal = the file's
-- size and text (so an edit changes it), get counts its calls in a file.
-- JsonFiles: one JSON file per row in options.dir, setup logged.
local DEFS = [[
local coco = require("coco")
local M = {}

local function read(p)
  local f = io.open(p, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end
local function append(p, s)
  local f = assert(io.open(p, "ab"))
  f:write(s)
  f:close()
end
M.read, M.append = read, append

local function files(dir)
  local out, p = {}, io.popen("ls " .. dir .. " 2>/dev/null")
  for name in p:lines() do out[#out + 1] = name end
  p:close()
  return out
end
M.files = files

M.Notes = coco.source{ name = "Notes",
  key = { { "id", "str" } }, value = { { "body", "str" } },
  list = function(opts)
    if read("fail_list") then error("listing is broken today") end
    for _, name in ipairs(files(opts.dir)) do
      local s = read(opts.dir .. "/" .. name)
      if opts.ordinals ~= false then coroutine.yield(name, #s .. ":" .. s) else coroutine.yield(name) end
    end
  end,
  get = function(key, opts)
    append("get_calls", key .. "\n")
    local s = read(opts.dir .. "/" .. key)
    if s == nil then return nil end
    if s:match("^BAD") then return { body = 42 } end
    if s:match("^TYPO") then return { bdy = s } end
    return { body = s }
  end }

M.JsonFiles = coco.target{ name = "JsonFiles",
  setup = function(previous, desired)
    append("setup_log", (previous and previous.options.dir or "-") .. " -> "
      .. (desired and desired.options.dir or "-") .. "\n")
    if previous and (not desired or previous.options.dir ~= desired.options.dir) then
      os.execute("rm -rf " .. previous.options.dir)
    end
    if desired then os.execute("mkdir -p " .. desired.options.dir) end
  end,
  mutate = function(upserts, deletes, ctx)
    if read("fail_mutate") then error("the disk is full") end
    local n = tonumber(read("kill_after") or "")
    for i, r in ipairs(upserts) do
      local f = assert(io.open(ctx.options.dir .. "/" .. r.id .. ".json", "wb"))
      f:write(coco.json.encode(r))
      f:close()
      if n and i == n then    -- die half way through a batch, as kill -9 would
        local pid = read("/proc/self/stat"):match("^(%d+)")
        os.execute("kill -9 " .. pid)
      end
    end
    for _, k in ipairs(deletes) do os.remove(ctx.options.dir .. "/" .. k.id .. ".json") end
  end }
return M
]]

local FLOW = [[
local coco = require("coco")
local D = dofile("defs.lua")
return coco.flow("Notes", function(flow, scope)
  scope.notes = flow:add_source(D.Notes{ dir = "data", ordinals = %s })
  local out = scope:add_collector()
  scope.notes:row(function(n)
    n.upper = n.body:transform(coco.fn("Upper", function(s) return s:upper() end))
    out:collect{ id = n.id, text = n.upper }
  end)
  out:export("notes", D.JsonFiles{ dir = %q }, { primary_key_fields = { "id" } })
end)
]]

-- What the JSON target holds: { id = text }.
local function target(d, dir)
  local out = {}
  local p = io.popen("ls " .. H.q(d .. "/" .. (dir or "out")) .. " 2>/dev/null")
  for name in p:lines() do
    local r = H.json.decode(H.read(d .. "/" .. (dir or "out") .. "/" .. name))
    out[r.id] = r.text
  end
  p:close()
  return out
end

local lines = H.lines

describe("custom sources and targets written in Lua", function()
  local d
  before_each(function()
    d = H.tmpdir()
    H.write(d .. "/defs.lua", DEFS)
    H.write(d .. "/flow.lua", FLOW:format("true", "out"))
    H.write(d .. "/data/a", "alpha")
    H.write(d .. "/data/b", "beta")
    H.write(d .. "/data/c", "gamma")
  end)
  after_each(H.cleanup)

  it("a Lua source into a Lua target: added, unchanged (not read), updated, deleted", function()
    local rc, out, err = H.coco(d, "update flow.lua --json")
    assert.are.equal(0, rc, err)
    local s = H.json_lines(out)[1]
    assert.are.same({ 3, 0, 0 }, { s.added, s.updated, s.deleted })
    assert.are.same({ a = "ALPHA", b = "BETA", c = "GAMMA" }, target(d))
    assert.are.same({ "- -> out" }, lines(H.read(d .. "/setup_log")))
    H.rm(d .. "/get_calls")
    rc, out = H.coco(d, "update flow.lua --json")
    s = H.json_lines(out)[1]
    assert.are.same({ 0, 0, 0, 3 }, { s.added, s.updated, s.deleted, s.unchanged })
    assert.is_nil(H.read(d .. "/get_calls"), "an unchanged ordinal means the row is not read")
    H.write(d .. "/data/b", "beta two")
    H.rm(d .. "/data/c")
    rc, out = H.coco(d, "update flow.lua --json")
    s = H.json_lines(out)[1]
    assert.are.same({ 0, 1, 1, 1 }, { s.added, s.updated, s.deleted, s.unchanged })
    assert.are.same({ "b" }, lines(H.read(d .. "/get_calls")))
    assert.are.same({ a = "ALPHA", b = "BETA TWO" }, target(d))
  end)

  it("without ordinals every row is read, and processed only when its content changed", function()
    H.write(d .. "/flow.lua", FLOW:format("false", "out"))
    assert.are.equal(0, (H.coco(d, "update flow.lua")))
    H.rm(d .. "/get_calls")
    local _, out = H.coco(d, "update flow.lua --json")
    local s = H.json_lines(out)[1]
    assert.are.same({ 0, 0, 3 }, { s.added, s.updated, s.unchanged })
    assert.are.equal(3, #lines(H.read(d .. "/get_calls")))
    H.write(d .. "/data/a", "alpha two")
    _, out = H.coco(d, "update flow.lua --json")
    s = H.json_lines(out)[1]
    assert.are.same({ 0, 1, 2 }, { s.added, s.updated, s.unchanged })
    assert.are.equal("ALPHA TWO", target(d).a)
  end)

  it("list may return an array; keys of several fields; get may return a bare value", function()
    H.write(d .. "/flow.lua", [[
local coco = require("coco")
local Pairs = coco.source{ name = "Pairs",
  key = { { "lang", "str" }, { "n", "int64" } }, value = { { "word", "str" } },
  list = function(opts)
    return { { key = { lang = "en", n = 1 }, ordinal = 1 }, { lang = "fr", n = 2 } }
  end,
  get = function(key) return key.lang == "en" and "one" or "deux" end }
return coco.flow("Pairs", function(flow, scope)
  scope.words = flow:add_source(Pairs{})
  local out = scope:add_collector()
  scope.words:row(function(w) out:collect{ lang = w.lang, n = w.n, word = w.word } end)
  out:export("words", coco.targets.SQLite{ path = "w.sqlite" }, { primary_key_fields = { "lang", "n" } })
end)
]])
    local rc, _, err = H.coco(d, "update flow.lua")
    assert.are.equal(0, rc, err)
    assert.are.same({ "lang=en|n=1|word=one", "lang=fr|n=2|word=deux" }, H.dump(d .. "/w.sqlite", "Pairs__words"))
  end)

  it("setup: the options changed recreate the target; an export that left the flow is dropped; drop drops", function()
    assert.are.equal(0, (H.coco(d, "update flow.lua")))
    H.write(d .. "/flow.lua", FLOW:format("true", "out2"))
    local rc, out, err = H.coco(d, "update flow.lua -f")
    assert.are.equal(0, rc, err)
    assert.matches("recreate", err .. out)
    assert.are.same({ a = "ALPHA", b = "BETA", c = "GAMMA" }, target(d, "out2"))
    -- the export goes: setup(previous, nil) through the definition, still loaded
    H.write(d .. "/flow.lua", [[
local coco = require("coco")
local D = dofile("defs.lua")
return coco.flow("Notes", function(flow, scope)
  scope.notes = flow:add_source(D.Notes{ dir = "data" })
  local out = scope:add_collector()
  scope.notes:row(function(n) out:collect{ id = n.id, text = n.body } end)
  out:export("plain", coco.targets.SQLite{ path = "p.sqlite" }, { primary_key_fields = { "id" } })
end)
]])
    rc, out, err = H.coco(d, "update flow.lua -f")
    assert.are.equal(0, rc, err)
    assert.are.same({ "- -> out", "out -> out2", "out2 -> -" }, lines(H.read(d .. "/setup_log")))
    assert.is_false(H.sh("test -e " .. H.q(d .. "/out2")))
    H.write(d .. "/flow.lua", FLOW:format("true", "out3"))
    assert.are.equal(0, (H.coco(d, "update flow.lua -f")))
    rc, out, err = H.coco(d, "drop flow.lua -f")
    assert.are.equal(0, rc, err)
    assert.are.equal("out3 -> -", lines(H.read(d .. "/setup_log"))[5])
  end)

  it("a Lua target killed in the middle of an update converges on the next run", function()
    for i = 1, 1200 do H.write(string.format("%s/data/n%04d", d, i), "note " .. i) end
    H.write(d .. "/kill_after", "300")   -- in the first batch (512 rows)
    local rc = H.coco(d, "update flow.lua")
    assert.are_not.equal(0, rc)
    local half = target(d)
    assert.is_true(next(half) ~= nil, "the target was written before the kill")
    H.rm(d .. "/kill_after")
    -- meanwhile the source changes: a written row is deleted, another edited
    H.rm(d .. "/data/n0001")
    H.write(d .. "/data/n0002", "edited")
    local err
    rc, _, err = H.coco(d, "update flow.lua")
    assert.are.equal(0, rc, err)
    local t = target(d)
    assert.is_nil(t.n0001)
    assert.are.equal("EDITED", t.n0002)
    assert.are.equal("NOTE 1200", t.n1200)
    local n = 0
    for _ in pairs(t) do n = n + 1 end
    assert.are.equal(1202, n)            -- n0002..n1200, a, b, c
    -- and a run after that has nothing to do
    local out
    rc, out = H.coco(d, "update flow.lua --json")
    local s = H.json_lines(out)[1]
    assert.are.same({ 0, 0, 0 }, { s.added, s.updated, s.deleted })
  end)

  describe("bad input", function()
    it("list raises: the run fails with the message and nothing is deleted", function()
      assert.are.equal(0, (H.coco(d, "update flow.lua")))
      H.write(d .. "/fail_list", "1")
      local rc, _, err = H.coco(d, "update flow.lua")
      assert.are_not.equal(0, rc)
      assert.matches("listing is broken today", err)
      assert.are.same({ a = "ALPHA", b = "BETA", c = "GAMMA" }, target(d))
      H.rm(d .. "/fail_list")
      local out
      rc, out = H.coco(d, "update flow.lua --json")
      local s = H.json_lines(out)[1]
      assert.are.same({ 0, 0, 3 }, { s.added, s.deleted, s.unchanged })
    end)

    it("mutate raises: the state does not advance, and the next run writes the rows", function()
      H.write(d .. "/fail_mutate", "1")
      local r = H.script(d, [[
local coco = require("coco")
local flow = assert(coco.load("flow.lua"))
local R = {}
R.st, R.err = flow:update()
os.remove("fail_mutate")
local st = assert(flow:update())
R.written = st[1].added + st[1].updated + st[1].reprocessed
flow:close()
io.write(coco.json.encode(R))
]])
      assert.is_nil(r.st)
      assert.matches("JsonFiles%.mutate: .*the disk is full", r.err)
      assert.are.equal(3, r.written)
      assert.are.same({ a = "ALPHA", b = "BETA", c = "GAMMA" }, target(d))
    end)

    it("get returns a value of the wrong type: a row error naming the field and the flow line", function()
      H.write(d .. "/data/b", "BAD")
      local rc, _, err = H.coco(d, "update flow.lua")
      assert.are_not.equal(0, rc)
      assert.matches("flow%.lua:4: Notes: get%(\"b\"%) returned a bad value: field 'body': expected str, got number", err)
      assert.are.same({ a = "ALPHA", c = "GAMMA" }, target(d))
      H.write(d .. "/data/b", "better")
      rc = H.coco(d, "update flow.lua")
      assert.are.equal(0, rc)
      assert.are.equal("BETTER", target(d).b)
    end)

    it("get returns a misspelt field: a row error naming it and the fields, not a silent null", function()
      H.write(d .. "/data/b", "TYPO")
      local rc, _, err = H.coco(d, "update flow.lua")
      assert.are_not.equal(0, rc)
      assert.matches("flow%.lua:4: Notes: get%(\"b\"%) returned a bad value: unknown field 'bdy'; fields: body", err)
      assert.are.same({ a = "ALPHA", c = "GAMMA" }, target(d))
    end)

    it("list yields a key or an ordinal of the wrong type: the run fails naming the field and the flow line",
      function()
        H.write(d .. "/flow.lua", [[
local coco = require("coco")
local Pairs = coco.source{ name = "Pairs", key = { { "id", "str" }, { "n", "int64" } },
  value = { { "body", "str" } },
  list = function()
    local f = io.open("mode") local m = f and f:read("*l") if f then f:close() end
    coroutine.yield({ id = "a", n = 1 }, 1)
    if m == "field" then coroutine.yield({ id = "b", n = "two" }, 1)
    elseif m == "key" then coroutine.yield("b", 1)
    elseif m == "ordinal" then coroutine.yield({ id = "b", n = 2 }, { 1 })
    else coroutine.yield({ id = "b", n = 2 }, 1) end
  end,
  get = function(key) return { body = key.id .. key.n } end }
return coco.flow("Pairs", function(flow, scope)
  scope.rows = flow:add_source(Pairs{})
  local out = scope:add_collector()
  scope.rows:row(function(r) out:collect{ id = r.id, n = r.n, body = r.body } end)
  out:export("rows", coco.targets.SQLite{ path = "p.sqlite" }, { primary_key_fields = { "id", "n" } })
end)
]])
        assert.are.equal(0, (H.coco(d, "update flow.lua")))
        local want = { "body=a1|id=a|n=1", "body=b2|id=b|n=2" }
        assert.are.same(want, H.dump(d .. "/p.sqlite", "Pairs__rows"))
        for mode, msg in pairs{
          field = "flow%.lua:14: Pairs: list: expected int64, got string %(field 'n'%)",
          key = "flow%.lua:14: Pairs: list: the key must be a table of the key fields, got string",
          ordinal = "flow%.lua:14: Pairs: list: the ordinal must be a number or a string, got table" } do
          H.write(d .. "/mode", mode)
          local rc, _, err = H.coco(d, "update flow.lua")
          assert.are_not.equal(0, rc, mode)
          assert.matches(msg, err)
          assert.are.same(want, H.dump(d .. "/p.sqlite", "Pairs__rows"))   -- b was not deleted
        end
      end)

    it("in the live updater, list or mutate raising: a warning, nothing deleted, retried until it works",
      function()
        H.write(d .. "/flow.lua", [[
local coco = require("coco")
local D = dofile("defs.lua")
return coco.flow("Notes", function(flow, scope)
  scope.notes = flow:add_source(D.Notes{ dir = "data" }, { refresh_interval = 0.1 })
  local out = scope:add_collector()
  scope.notes:row(function(n) out:collect{ id = n.id, text = n.body } end)
  out:export("notes", D.JsonFiles{ dir = "out" }, { primary_key_fields = { "id" } })
end)
]])
        local r = H.script(d, [[
local coco = require("coco")
local D = dofile("defs.lua")
local flow = assert(coco.load("flow.lua"))
local R, warnings = {}, {}
local live = assert(flow:live{ on_warning = function(m) warnings[#warnings + 1] = m end })
local ffi = require("ffi")
ffi.cdef "typedef struct { long s, ns; } cst_ts; int clock_gettime(int, cst_ts *);"
local function now() local t = ffi.new("cst_ts") ffi.C.clock_gettime(1, t) return tonumber(t.s) + tonumber(t.ns) / 1e9 end
local function step_for(secs, pred)
  local t0 = now()
  repeat assert(live:step(20)) until (pred and pred()) or now() - t0 > secs
  return not pred or not not pred()
end
local function warned(s) return table.concat(warnings, "\n"):match(s) ~= nil end
R.initial = step_for(60, function() return D.read("out/c.json") end)
-- listing fails for a while: a file deleted meanwhile keeps its row
D.append("fail_list", "1")
os.remove("data/a")
R.list_warned = step_for(60, function() return warned("listing is broken today") end)
R.a_kept = D.read("out/a.json") ~= nil
os.remove("fail_list")
R.a_gone = step_for(60, function() return not D.read("out/a.json") end)
-- writing fails for a while: the new row comes once it works again
warnings = {}
D.append("fail_mutate", "1")
D.append("data/d", "delta")
R.mutate_warned = step_for(60, function() return warned("the disk is full") end)
R.d_early = D.read("out/d.json") ~= nil
os.remove("fail_mutate")
R.d_written = step_for(60, function() return D.read("out/d.json") end)
live:close()
-- and the state agrees: a fresh update has nothing to do
local st = assert(flow:update())
R.after = { st[1].added, st[1].updated, st[1].deleted }
flow:close()
io.write(coco.json.encode(R))
]])
        assert.is_true(r.initial)
        assert.is_true(r.list_warned)
        assert.is_true(r.a_kept)
        assert.is_true(r.a_gone)
        assert.is_true(r.mutate_warned)
        assert.is_false(r.d_early)
        assert.is_true(r.d_written)
        assert.are.same({ 0, 0, 0 }, r.after)
        assert.are.same({ b = "beta", c = "gamma", d = "delta" }, target(d))
      end)

    it("mistakes in a definition or a spec are reported at the user's line", function()
      local r = H.script(d, [[
local coco = require("coco")
local R = {}
R.unknown = select(2, pcall(coco.source, { name = "X", key = { { "id", "str" } }, lst = 1 }))
R.type = select(2, pcall(coco.source, { name = "X", key = { { "id", "strr" } }, list = print, get = print }))
R.nokey = select(2, pcall(coco.source, { name = "X", key = {}, list = print, get = print }))
R.target = select(2, pcall(coco.target, { name = "T", setup = print }))
local T = coco.target{ name = "T", setup = print, mutate = print }
R.opts = select(2, pcall(T, { f = print }))
R.str = tostring(T)
R.wrong = select(2, pcall(coco.load, "wrong.lua"))
io.write(coco.json.encode(R))
]])
      assert.matches("^script%.lua:4: coco%.source: unknown option 'lst'", r.unknown)
      assert.matches("^script%.lua:5: coco%.source%(X%): key field 'id': unknown type 'strr'", r.type)
      assert.matches("^script%.lua:6: coco%.source%(X%): key needs at least one field", r.nokey)
      assert.matches("^script%.lua:7: coco%.target%(T%): mutate must be a function", r.target)
      assert.matches("^script%.lua:9: T: options must be plain data", r.opts)
      assert.are.equal("coco.target(T)", r.str)
    end)

    it("callbacks that step the updater or close the flow while it runs: an error, or it ends after", function()
      H.write(d .. "/hooked.lua", [==[
local coco = require("coco")
local Hooked = coco.source{ name = "Hooked", key = { { "id", "str" } }, value = { { "body", "str" } },
  list = function() coroutine.yield("a", 1) coroutine.yield("b", 1) end,
  get = function(key) if HOOK then HOOK(key) end return { body = key } end }
return coco.flow("Hooked", function(flow, scope)
  scope.rows = flow:add_source(Hooked{})
  local out = scope:add_collector()
  scope.rows:row(function(r) out:collect{ id = r.id, body = r.body } end)
  out:export("rows", coco.targets.SQLite{ path = "h.sqlite" }, { primary_key_fields = { "id" } })
end)
]==])
      local r = H.script(d, [[
local coco = require("coco")
local R = { errors = {} }
-- a nested step from a source's get(): a row error, the other row goes on
local flow = assert(coco.load("hooked.lua"))
local live
live = assert(flow:live{ budget_ms = 0,
  on_error = function(_, key, msg) R.errors[#R.errors + 1] = key .. ": " .. msg end })
HOOK = function(key) if key == "a" then live:step(0) end end
R.rows = live:step(0)
-- the flow closed from get() while the updater steps: the step finishes
live:close()
HOOK = function() flow:close() end
live = assert(flow:live{ budget_ms = 0, full_reprocess = true })
R.rows2 = live:step(0)
R.after = tostring(live)
live:close()                      -- and then the flow goes
-- the flow closed from get() during a plain update: the update finishes, then the flow is gone
flow = assert(coco.load("hooked.lua"))
local st = assert(flow:update{ full_reprocess = true })
R.update = st[1].reprocessed
R.closed = select(2, flow:update())
HOOK = nil
io.write(coco.json.encode(R))
]])
      assert.are.equal(1, #r.errors)
      assert.matches("^a: Hooked: get%(\"a\"%) failed: .*live:step called from a live callback", r.errors[1])
      assert.are.equal(1, r.rows)
      assert.are.equal(2, r.rows2)
      assert.are.equal("coco.live(running)", r.after)
      assert.are.equal(2, r.update)
      assert.matches("closed", r.closed)
    end)

    it("a Lua target used as a source is refused at the user's line", function()
      H.write(d .. "/flow.lua", [[
local coco = require("coco")
local D = dofile("defs.lua")
return coco.flow("Wrong", function(flow, scope)
  scope.x = flow:add_source(D.JsonFiles{ dir = "x" })
end)
]])
      local rc, _, err = H.coco(d, "update flow.lua")
      assert.are_not.equal(0, rc)
      assert.matches("flow%.lua:4: add_source needs a source", err)
    end)
  end)

  it("a Lua source in the live updater, picked up by its refresh_interval", function()
    H.write(d .. "/flow.lua", [[
local coco = require("coco")
local D = dofile("defs.lua")
return coco.flow("Notes", function(flow, scope)
  scope.notes = flow:add_source(D.Notes{ dir = "data" }, { refresh_interval = 0.2 })
  local out = scope:add_collector()
  scope.notes:row(function(n) out:collect{ id = n.id, text = n.body } end)
  out:export("notes", D.JsonFiles{ dir = "out" }, { primary_key_fields = { "id" } })
end)
]])
    local r = H.script(d, [[
local coco = require("coco")
local D = dofile("defs.lua")
local flow = assert(coco.load("flow.lua"))
local live = assert(flow:live())
local function until_(pred)
  local t0 = os.time()
  while not pred() and os.time() - t0 < 60 do assert(live:step(50)) end
end
until_(function() return D.read("out/c.json") end)
local f = io.open("data/d", "wb") f:write("delta") f:close()
until_(function() return D.read("out/d.json") end)
local R = { d = D.read("out/d.json") ~= nil, stats = live:stats()[1].added }
live:close()
flow:close()
io.write(coco.json.encode(R))
]])
    assert.is_true(r.d)
    assert.are.equal(4, r.stats)
  end)
end)

describe("max_inflight_rows and max_inflight_bytes", function()
  after_each(H.cleanup)

  it("bound the rows of a source written per batch", function()
    local d = H.tmpdir()
    for i = 1, 95 do H.write(string.format("%s/docs/f%03d.md", d, i), string.rep("x", 1000) .. i) end
    H.write(d .. "/flow.lua", [[
local coco = require("coco")
local Sizes = coco.target{ name = "Sizes",
  setup = function() end,
  mutate = function(upserts, deletes)
    local f = assert(io.open("batches", "a"))
    f:write(#upserts + #deletes, "\n")
    f:close()
  end }
return coco.flow("Inflight", function(flow, scope)
  scope.docs = flow:add_source(coco.sources.LocalFile{ path = "docs" },
    { max_inflight_rows = tonumber(os.getenv("ROWS")), max_inflight_bytes = tonumber(os.getenv("BYTES")) })
  local out = scope:add_collector()
  scope.docs:row(function(doc) out:collect{ id = doc.filename, body = doc.content } end)
  out:export("out", Sizes{}, { primary_key_fields = { "id" } })
end)
]])
    local function batches(env)
      os.remove(d .. "/batches")
      H.sh("rm -rf " .. H.q(d .. "/.coco"))
      local rc, _, err = H.coco(d, "update flow.lua -q", env)
      assert.are.equal(0, rc, err)
      local t = {}
      for n in (H.read(d .. "/batches") or ""):gmatch("%d+") do t[#t + 1] = tonumber(n) end
      return t
    end
    assert.are.same({ 95 }, batches({}))
    assert.are.same({ 10, 10, 10, 10, 10, 10, 10, 10, 10, 5 }, batches({ ROWS = "10" }))
    -- ~1 KB per row: a byte bound of 20 KB closes batches well before 95 rows
    local by_bytes = batches({ BYTES = "20000" })
    local sum = 0
    for _, n in ipairs(by_bytes) do sum = sum + n end
    assert.are.equal(95, sum)
    assert.is_true(#by_bytes >= 4, "batches: " .. #by_bytes)
    local rc, out = H.coco(d, "show flow.lua", { ROWS = "10" })
    assert.are.equal(0, rc)
    assert.matches("at most 10 rows in flight", out, 1, true)
    rc, _, out = H.coco(d, "show flow.lua", { ROWS = "0.5" })
    assert.are.equal(1, rc)
    assert.matches("flow.lua:10: add_source: max_inflight_rows must be a whole number from 1 to 2147483648 rows, got 0.5", out, 1, true)
  end)
end)
