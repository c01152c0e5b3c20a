-- Exact after every change (DESIGN.md rule 1): classes of bugs the
-- differential fuzzer (spec/fuzz) found, each pinned by a named case. Each
-- case changes the flow and the files in one update, then compares every
-- row of the target with a fresh build (a new directory, new state) of the
-- same flow on the same files.
local H = require("spec.helpers")

local TBL = "Ex__chunks"

-- A flow over docs/ into index.sqlite; o.fields: the collected fields
-- beyond filename and location (default text, upper); o.export: the
-- export's name; o.table: its table_name; o.exports: a whole export list
-- (Lua source text) instead.
local function flow(o)
  o = o or {}
  local fields = o.fields or { text = "chunk.text", upper = "chunk.upper" }
  local f = {}
  for _, k in ipairs({ "text", "upper", "size" }) do
    if fields[k] then f[#f + 1] = k .. " = " .. fields[k] end
  end
  local exports = o.exports or string.format(
    'chunks:export(%q, targets.SQLite{ path = "index.sqlite"%s }, { primary_key_fields = { "filename", "location" } })',
    o.export or "chunks", o.table and string.format(", table_name = %q", o.table) or "")
  return string.format([[
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets
return coco.flow("Ex", function(flow, scope)
  scope.docs = flow:add_source(sources.LocalFile{ path = "docs" })
  local chunks = scope:add_collector()
  scope.docs:row(function(doc)
    doc.chunks = doc.content:transform(functions.SplitRecursively{},
      { language = "markdown", chunk_size = 60, chunk_overlap = 0 })
    doc.chunks:row(function(chunk)
      chunk.upper = chunk.text:transform(coco.fn("Upper", function(s) return s:upper() end))
      chunks:collect{ filename = doc.filename, location = chunk.location%s }
    end)
  end)
  %s
end)
]], #f > 0 and (", " .. table.concat(f, ", ")) or "", exports)
end

-- The flow with two exports of the chunks, "one" to table t1 and "two" to t2.
local function two(t1, t2)
  return flow({ exports = string.format([[
  chunks:export("one", targets.SQLite{ path = "index.sqlite", table_name = %q }, { primary_key_fields = { "filename", "location" } })
  chunks:export("two", targets.SQLite{ path = "index.sqlite", table_name = %q }, { primary_key_fields = { "filename", "location" } })]],
    t1, t2) })
end

local function paras(...)
  local out = {}
  for i, w in ipairs({ ... }) do out[i] = (w .. " "):rep(8):sub(1, 40) .. "." end
  return table.concat(out, "\n\n") .. "\n"
end

local function update(dir, args)
  local rc, out, err = H.coco(dir, "update flow.lua -q " .. (args or "-f"))
  assert.are.equal(0, rc, "coco exited " .. tostring(rc) .. "\n" .. err .. out)
end

-- The rows of each table in dir's index.sqlite, as a fresh build of the
-- same flow.lua on the same docs/ has them.
local function fresh_tables(dir, tables)
  local f = H.tmpdir()
  H.sh(string.format("cp -r %s/docs %s/flow.lua %s/", H.q(dir), H.q(dir), H.q(f)))
  update(f)
  local out = {}
  for _, t in ipairs(tables) do out[t] = H.dump(f .. "/index.sqlite", t) end
  return out
end

local function assert_fresh(dir, tables)
  local want = fresh_tables(dir, tables)
  for _, t in ipairs(tables) do
    local got = H.dump(dir .. "/index.sqlite", t)
    assert.are.same(want[t], got, "table " .. t .. " differs from a fresh build")
  end
end

-- Two exports trade tables while files change, in dir; between: what to
-- do to the state before the update that trades them.
local function trade_tables(d, between)
  H.write(d .. "/flow.lua", two("t1", "t2"))
  H.write(d .. "/docs/a.md", paras("alpha", "beta", "gamma"))
  H.write(d .. "/docs/b.md", paras("delta", "ember"))
  update(d)
  if between then between() end
  H.write(d .. "/flow.lua", two("t2", "t1"))
  H.write(d .. "/docs/a.md", paras("gamma", "river"))
  H.rm(d .. "/docs/b.md")
  update(d)
  assert_fresh(d, { "t1", "t2" })
end

describe("exact after a flow change and a file change in the same update:", function()
  after_each(H.cleanup)

  -- Class (a). Dropping a column made setup "forget" the export's lineage
  -- as if the table had been recreated empty; its rows stayed, so the
  -- chunks that no file produces any more were never deleted (and no
  -- --reexport or --full-reprocess could find them).
  it("a collected field removed while files changed leaves no stale row", function()
    local d = H.tmpdir()
    H.write(d .. "/flow.lua", flow())
    H.write(d .. "/docs/a.md", paras("alpha", "beta", "gamma"))
    H.write(d .. "/docs/b.md", paras("delta", "ember"))
    H.write(d .. "/docs/c.md", paras("river"))
    update(d)
    H.write(d .. "/flow.lua", flow({ fields = { upper = "chunk.upper" } }))   -- text removed
    H.write(d .. "/docs/a.md", paras("alpha", "stone"))   -- fewer chunks, one changed
    H.rm(d .. "/docs/c.md")                                -- a file gone
    update(d)
    assert_fresh(d, { TBL })
    assert.are.equal(4, #H.dump(d .. "/index.sqlite", TBL))
    -- and the field back, with files changing again
    H.write(d .. "/flow.lua", flow())
    H.write(d .. "/docs/b.md", paras("delta"))
    update(d)
    assert_fresh(d, { TBL })
  end)

  it("a field's type changed while files changed leaves no stale row", function()
    local d = H.tmpdir()
    H.write(d .. "/flow.lua", flow({ fields = { text = "chunk.text", size = "chunk.text" } }))
    H.write(d .. "/docs/a.md", paras("alpha", "beta", "gamma"))
    H.write(d .. "/docs/b.md", paras("delta", "ember"))
    update(d)
    H.write(d .. "/flow.lua", flow({ fields = { text = "chunk.text", size = 'chunk["end"].offset' } }))
    H.write(d .. "/docs/a.md", paras("gamma"))
    H.rm(d .. "/docs/b.md")
    update(d)
    assert_fresh(d, { TBL })
  end)

  -- Class (b). Lineage named the export: renamed onto the same table, its
  -- old keys belonged to an export "that left the flow" and were skipped
  -- when the rows that wrote them changed or went away.
  it("an export renamed onto the same table leaves no stale row", function()
    local d = H.tmpdir()
    H.write(d .. "/flow.lua", flow({ export = "chunks", table = "kept" }))
    H.write(d .. "/docs/a.md", paras("alpha", "beta", "gamma"))
    H.write(d .. "/docs/b.md", paras("delta", "ember"))
    update(d)
    H.write(d .. "/flow.lua", flow({ export = "pieces", table = "kept" }))
    H.write(d .. "/docs/a.md", paras("alpha"))
    H.rm(d .. "/docs/b.md")
    local rc, out = H.coco(d, "setup flow.lua")
    assert.are.equal(0, rc)
    assert.matches("export renamed from chunks", out)
    update(d, "")                      -- no -f: a rename drops nothing
    assert_fresh(d, { "kept" })
    assert.are.equal(1, #H.dump(d .. "/index.sqlite", "kept"))
  end)

  it("two exports trading tables leave no stale row", function()
    local d = H.tmpdir()
    trade_tables(d)
  end)
end)

-- A target written in Lua names its storage by its options, not the
-- engine: an export renamed onto the same file is a new resource over the
-- storage of the old one. Setup created the new one, then dropped the old
-- one, and its storage with it (found by spec/fuzz: a Lua target's file
-- missing after a rename, where a fresh build has it empty).
describe("a target written in Lua", function()
  after_each(H.cleanup)

  local function lua_flow(export)
    return flow({ exports = string.format([[
  local Lines = coco.target{ name = "Lines",
    setup = function(prev, want)
      if prev and (not want or prev.options.file ~= want.options.file) then os.remove(prev.options.file) end
      if want and not io.open(want.options.file) then assert(io.open(want.options.file, "w")):close() end
    end,
    mutate = function(ups, dels, ctx)
      local f = assert(io.open(ctx.options.file, "a"))
      for _, r in ipairs(ups) do f:write(r.filename, "\n") end
      f:close()
    end }
  chunks:export(%q, Lines{ file = "lines.txt" }, { primary_key_fields = { "filename", "location" } })]], export) })
  end

  it("keeps its storage when its export is renamed onto the same file", function()
    local d = H.tmpdir()
    H.sh("mkdir -p " .. H.q(d .. "/docs"))
    H.write(d .. "/flow.lua", lua_flow("one"))
    update(d)
    assert.is_truthy(H.read(d .. "/lines.txt"))
    H.write(d .. "/flow.lua", lua_flow("two"))
    update(d)
    assert.are.equal("", H.read(d .. "/lines.txt"), "a fresh build has the file, empty")
  end)
end)

-- The one-time migration of a state written before lineage named targets
-- by resource id (6e859a5: lineage named the export; coco_lineage_migrate
-- rewrites it through the setup records). fuzz_state --old-lineage turns a
-- state into that old form; the update over it, with files changing and
-- exports renamed or trading tables in the same run, must end where a
-- fresh build does, with lineage naming the targets.
describe("a state whose lineage names exports (written before resource ids)", function()
  local tool = H.bin:match("^(.*)/[^/]*$") .. "/fuzz_state"
  after_each(H.cleanup)

  -- The lineage lines of dir's state ({ export = the name each line
  -- gives its target }) and the setup records (resource id -> export).
  local function lineage(dir)
    local p = io.popen(H.q(tool) .. " " .. H.q(dir .. "/.coco/Ex") .. " 2>&1")
    local text = p:read("*a")
    p:close()
    local targets, setup = {}, {}
    for l in text:gmatch("[^\n]+") do
      local t = l:match("^L\t[^\t]*\t[^\t]*\t([^\t]*)\t")
      if t then targets[#targets + 1] = t end
      local rid, name = l:match("^S\t([^\t]*)\t([^\t]*)$")
      if rid then setup[rid] = name end
      assert.is_nil(l:match("^fuzz_state"), l)
    end
    return targets, setup
  end

  local function make_old(dir, names)
    assert(H.sh(H.q(tool) .. " --old-lineage " .. H.q(dir .. "/.coco/Ex")))
    local targets = lineage(dir)
    assert.is_true(#targets > 0)
    for _, t in ipairs(targets) do assert.is_truthy(names[t], "lineage names " .. t) end
  end

  local function assert_migrated(dir)
    local targets, setup = lineage(dir)
    assert.is_true(#targets > 0)
    for _, t in ipairs(targets) do assert.is_truthy(setup[t], "lineage names " .. t .. ", not a resource id") end
    -- converged: a second update changes nothing
    local rc, out, err = H.coco(dir, "update flow.lua --json")
    assert.are.equal(0, rc, err)
    local s = H.json_lines(out)[1]
    assert.are.same({ 0, 0, 0 }, { s.added, s.updated, s.deleted }, out)
  end

  it("is migrated by the update that renames its export and sees files change", function()
    local d = H.tmpdir()
    H.write(d .. "/flow.lua", flow({ export = "chunks", table = "kept" }))
    H.write(d .. "/docs/a.md", paras("alpha", "beta", "gamma"))
    H.write(d .. "/docs/b.md", paras("delta", "ember"))
    H.write(d .. "/docs/c.md", paras("river"))
    update(d)
    make_old(d, { chunks = true })
    H.write(d .. "/flow.lua", flow({ export = "pieces", table = "kept" }))
    H.write(d .. "/docs/a.md", paras("alpha", "stone"))   -- fewer chunks, one changed
    H.rm(d .. "/docs/c.md")                                -- a file gone
    update(d, "")                      -- no -f: a rename drops nothing
    assert_fresh(d, { "kept" })
    assert.are.equal(4, #H.dump(d .. "/index.sqlite", "kept"))
    assert_migrated(d)
  end)

  it("is migrated by the update where two exports trade tables", function()
    local d = H.tmpdir()
    trade_tables(d, function() make_old(d, { one = true, two = true }) end)
    assert_migrated(d)
  end)
end)
