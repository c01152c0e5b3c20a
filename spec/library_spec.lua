-- The library API from a plain LuaJIT process: require "coco" (build/coco.so),
-- coco.load, flow:setup/update/evaluate/drop/close, coco.flow in a script.
-- Each case runs in its own luajit subprocess, so a crash is a failure
-- (exit status), not the end of the test run. Scripts report what they saw
-- as one JSON object on stdout (coco.json.encode); the spec asserts on it.
local H = require("spec.helpers")

local DB, TBL = "index.sqlite", "DocsIndex__doc_chunks"

local function exists(path) return H.sh("test -e " .. H.q(path)) end

describe("coco as a library", function()
  local d

  before_each(function()
    d = H.tmpdir()
    H.write(d .. "/flow.lua", H.docs_flow())
    H.write(d .. "/docs/a.md", "# A\n\nHello world.\n")
    H.write(d .. "/docs/b.txt", "Just text.\n")
  end)
  after_each(H.cleanup)

  it("require 'coco' loads build/coco.so into plain LuaJIT", function()
    local r = H.script(d, [[
local coco = require("coco")
local R = { version = coco._VERSION, flow = type(coco.flow), load = type(coco.load), fn = type(coco.fn),
  localfile = type(coco.sources.LocalFile), split = type(coco.functions.SplitRecursively),
  sqlite = type(coco.targets.SQLite), uuid = tostring(coco.generated.uuid),
  same = require("coco") == coco }
io.write(coco.json.encode(R))
]])
    assert.matches("^coco %d+%.%d+", r.version)
    assert.are.same({ "function", "function", "function", "function", "function", "function" },
      { r.flow, r.load, r.fn, r.localfile, r.split, r.sqlite })
    assert.are.equal("coco.generated.uuid", r.uuid)
    assert.is_true(r.same)
  end)

  it("load, setup, update, evaluate, drop, close", function()
    local r = H.script(d, [[
local coco = require("coco")
local R = {}
local flow, err = coco.load("flow.lua")
assert(flow, err)
R.name, R.str = flow.name, tostring(flow)
R.same = coco.load(flow) == flow                 -- a flow value is accepted too
R.plan1 = assert(flow:setup())
R.plan2 = assert(flow:setup())
local st = assert(flow:update())
R.n = #st
R.first = st[1]
R.second = assert(flow:update())[1]
R.reexport = assert(flow:update{ reexport = true })[1]
R.full = assert(flow:update{ full_reprocess = true })[1]
local est, dir = flow:evaluate{ output_dir = "ev" }
assert(est, dir)
R.eval, R.dir = est[1], dir
R.show = assert(flow:show())
R.drop = assert(flow:drop())
flow:close()
flow:close()                                     -- twice is harmless
local ok, e1, e2 = pcall(flow.update, flow)
R.after_close = { ok, e1 == nil, tostring(e2) }
io.write(coco.json.encode(R))
]])
    assert.are.equal("DocsIndex", r.name)
    assert.are.equal("coco.flow(DocsIndex)", r.str)
    assert.is_true(r.same)
    assert.matches("create table " .. TBL, r.plan1, 1, true)
    assert.are.equal("", r.plan2)
    assert.are.equal(1, r.n)
    assert.are.equal("DocsIndex", r.first.flow)
    assert.are.equal("documents", r.first.source)
    assert.are.same({ 2, 2, 0, 0, 0, 0 }, { r.first.listed, r.first.added, r.first.updated, r.first.deleted,
      r.first.unchanged, r.first.errors })
    assert.is_number(r.first.elapsed_ms)
    assert.are.equal(2, r.second.unchanged)
    assert.are.equal(0, r.second.added + r.second.updated + r.second.deleted + r.second.reprocessed)
    assert.are.equal(2, r.reexport.reprocessed)
    assert.are.equal(2, r.full.reprocessed)
    assert.are.equal("ev", r.dir)
    assert.are.equal(2, r.eval.listed)
    assert.are.equal(0, r.eval.errors)
    assert.matches("Setup: up to date", r.show, 1, true)
    assert.matches("drop table " .. TBL, r.drop, 1, true)
    assert.are.same({ true, true, "coco: flow DocsIndex is closed" }, r.after_close)
    -- what the process left behind
    local lines = 0
    for _ in (H.read(d .. "/ev/doc_chunks.jsonl") or ""):gmatch("[^\n]+") do lines = lines + 1 end
    assert.are.equal(2, lines)
    assert.are.same({}, H.sql(d .. "/" .. DB, "SELECT name FROM sqlite_master WHERE type = 'table'"))
    assert.is_false(exists(d .. "/.coco/DocsIndex"))
  end)

  it("update writes the target, and a later process sees the same state", function()
    H.script(d, [[
local coco = require("coco")
local flow = assert(coco.load("flow.lua"))
local st = assert(flow:update())
flow:close()
io.write(coco.json.encode({ added = st[1].added }))
]])
    assert.are.equal(2, #H.dump(d .. "/" .. DB, TBL))
    local rc, out, err = H.coco(d, "update flow.lua --json")
    assert.are.equal(0, rc, err)
    assert.are.equal(2, H.json_lines(out)[1].unchanged)
  end)

  it("a flow mistake comes back from coco.load as nil, 'flow.lua:LINE: ...'", function()
    H.write(d .. "/bad.lua", (H.docs_flow():gsub("doc%.content:transform", "doc.contnet:transform")))
    H.write(d .. "/syntax.lua", "local coco = require('coco')\nreturn coco.flow('X', function(flow, scope)\n  scope.x = = 1\nend)\n")
    H.write(d .. "/notaflow.lua", "return 42\n")
    local r = H.script(d, [[
local coco = require("coco")
local R = {}
R.bad = { coco.load("bad.lua") }
R.syntax = { coco.load("syntax.lua") }
R.missing = { coco.load("missing.lua") }
R.notaflow = { coco.load("notaflow.lua") }
R.nottext = { coco.load(42) }
-- the process goes on: a good flow still loads and runs
local flow = assert(coco.load("flow.lua"))
R.after = assert(flow:update())[1].added
flow:close()
io.write(coco.json.encode(R))
]])
    -- JSON arrays: [null, msg] decodes with a nil first element
    assert.is_nil(r.bad[1])
    assert.are.equal("bad.lua:8: unknown field 'contnet'; fields: filename, content", r.bad[2])
    assert.is_nil(r.syntax[1])
    assert.matches("^syntax%.lua:3: ", r.syntax[2])
    assert.is_nil(r.missing[1])
    assert.matches("missing.lua", r.missing[2], 1, true)
    assert.is_nil(r.notaflow[1])
    assert.matches("notaflow.lua: the file must return a flow", r.notaflow[2], 1, true)
    assert.is_nil(r.nottext[1])
    assert.is_string(r.nottext[2])
    assert.are.equal(2, r.after)
  end)

  it("runs two flows in one process", function()
    H.write(d .. "/other.lua", H.docs_flow{ name = "Other", db = "other.sqlite", chunk_size = 10 })
    local r = H.script(d, [[
local coco = require("coco")
local a = assert(coco.load("flow.lua"))
local b = assert(coco.load("other.lua"))
local R = {}
R.a1 = assert(a:update())[1].added
R.b1 = assert(b:update())[1].added
R.a2 = assert(a:update())[1].unchanged
R.b2 = assert(b:update())[1].unchanged
a:close()
R.b3 = assert(b:update())[1].unchanged
b:close()
io.write(coco.json.encode(R))
]])
    assert.are.same({ a1 = 2, b1 = 2, a2 = 2, b2 = 2, b3 = 2 }, r)
    assert.are.equal(2, #H.dump(d .. "/" .. DB, TBL))
    assert.is_true(#H.dump(d .. "/other.sqlite", "Other__doc_chunks") > 2)   -- chunk_size 10: more chunks
  end)

  it("the same flow opened twice in one process: the second is refused until the first closes", function()
    local r = H.script(d, [[
local coco = require("coco")
local a = assert(coco.load("flow.lua"))
local b = assert(coco.load("flow.lua"))
local R = {}
R.a = assert(a:update())[1].added
R.b = { b:update() }
a:close()
R.b2 = assert(b:update())[1].unchanged
b:close()
io.write(coco.json.encode(R))
]])
    assert.are.equal(2, r.a)
    assert.is_nil(r.b[1])
    -- it says so, rather than "another coco process (pid <our own pid>)"
    assert.matches("/.coco/DocsIndex is already open in this process (the same flow loaded twice?", r.b[2], 1, true)
    assert.is_nil(r.b[2]:find("another", 1, true), r.b[2])
    assert.are.equal(2, r.b2)
  end)

  it("a flow built with coco.flow in the script itself", function()
    local r = H.script(d, [[
local coco = require("coco")
local Len = coco.fn("Len", { returns = "int64", cache = true, version = 1 }, function(s) return #s end)
local flow = coco.flow("Inline", function(flow, scope)
  scope.documents = flow:add_source(coco.sources.LocalFile{ path = "docs" })
  local files = scope:add_collector()
  scope.documents:row(function(doc)
    doc.size = doc.content:transform(Len)
    files:collect{ filename = doc.filename, size = doc.size }
  end)
  files:export("files", coco.targets.SQLite{ path = "inline.sqlite" }, { primary_key_fields = { "filename" } })
end)
local R = { name = flow.name, state_dir = flow.state_dir, base_dir = flow.base_dir }
local st = assert(flow:update())[1]
R.added, R.fn_calls = st.added, st.fn_calls
st = assert(flow:update{ full_reprocess = true })[1]
R.reprocessed, R.fn_calls2, R.cache_hits2 = st.reprocessed, st.fn_calls, st.cache_hits
-- a mistake in an inline flow raises, with this script's line
local ok, err = pcall(coco.flow, "Bad", function(flow, scope)
  scope.documents = flow:add_source(coco.sources.LocalFile{ path = "docs" })
  local c = scope:add_collector()
  scope.documents:row(function(doc) c:collect{ x = doc.contnet } end)
end)
R.bad = { ok, err }
flow:close()
io.write(coco.json.encode(R))
]])
    local p = io.popen("cd " .. H.q(d) .. " && pwd -P")
    local real = p:read("*l")
    p:close()
    assert.are.equal("Inline", r.name)
    assert.are.equal(real, r.base_dir)
    assert.are.equal(real .. "/.coco/Inline", r.state_dir)
    assert.are.equal(2, r.added)
    assert.are.equal(2, r.fn_calls)
    assert.are.equal(2, r.reprocessed)
    assert.are.equal(0, r.fn_calls2)       -- cached: not called again
    assert.are.equal(2, r.cache_hits2)
    assert.is_false(r.bad[1])
    assert.matches("^script%.lua:%d+: unknown field 'contnet'; fields: filename, content", r.bad[2])
    assert.are.same({ { filename = "a.md", size = 18 }, { filename = "b.txt", size = 11 } },
      H.sql(d .. "/inline.sqlite", "SELECT filename, size FROM Inline__files ORDER BY filename"))
    assert.is_true(exists(d .. "/.coco/Inline/CURRENT"))
  end)

  it("row errors are counted and reported through on_error; the other rows go on", function()
    H.write(d .. "/flow.lua", (H.docs_flow():gsub('"%*%.txt" }', '"*.txt" }, decode_errors = "strict"')))
    H.write(d .. "/docs/bad.md", "\255\n")
    local r = H.script(d, [[
local coco = require("coco")
local flow = assert(coco.load("flow.lua"))
local R = { errs = {} }
local st = assert(flow:update{ on_error = function(source, key, msg)
  R.errs[#R.errs + 1] = { source = source, key = key, msg = msg }
end })[1]
R.errors, R.added = st.errors, st.added
flow:close()
io.write(coco.json.encode(R))
]])
    assert.are.equal(1, r.errors)
    assert.are.equal(2, r.added)
    assert.are.equal(1, #r.errs)
    assert.are.equal("documents", r.errs[1].source)
    assert.matches("bad.md", r.errs[1].key .. " " .. r.errs[1].msg, 1, true)
    assert.matches("not valid UTF-8", r.errs[1].msg, 1, true)
  end)

  it("setup that would drop data needs force = true", function()
    H.script(d, [[
local coco = require("coco")
local flow = assert(coco.load("flow.lua"))
assert(flow:update())
flow:close()
io.write("{}")
]])
    H.write(d .. "/flow.lua", (H.docs_flow():gsub("text = chunk%.text }", "text = chunk.start.line }")))
    local r = H.script(d, [[
local coco = require("coco")
local flow = assert(coco.load("flow.lua"))
local R = {}
R.refused = { flow:update() }
R.forced = assert(flow:setup{ force = true })
R.after = assert(flow:update())[1]
flow:close()
io.write(coco.json.encode(R))
]])
    assert.is_nil(r.refused[1])
    assert.matches("would drop data", r.refused[2], 1, true)
    assert.matches("force = true", r.refused[2], 1, true)
    assert.are.equal("confirm", r.refused[3])
    assert.matches("drop and recreate table", r.forced, 1, true)
    assert.are.equal(2, r.after.reprocessed)
  end)

  it("coco.load{ state_dir } puts the state there", function()
    local st = H.tmpdir()
    H.script(d, string.format([[
local coco = require("coco")
local flow = assert(coco.load("flow.lua", { state_dir = %q }))
assert(flow:update())
flow:close()
io.write("{}")
]], st))
    assert.is_true(exists(st .. "/DocsIndex/CURRENT"))
    assert.is_false(exists(d .. "/.coco"))
  end)

  it("flows left open are collected at exit without a crash", function()
    local rc, out, err = H.luajit(d, [[
local coco = require("coco")
local a = assert(coco.load("flow.lua"))
assert(a:update())
local b = assert(coco.load("flow.lua"))   -- never used, never closed
a = nil
collectgarbage(); collectgarbage()
local c = assert(coco.load("flow.lua"))   -- the state is free again once a is collected
assert(c:update())
print("done")
]])
    assert.are.equal(0, rc, err)
    assert.are.equal("done\n", out)
  end)
end)
