-- The memo cache is content-addressed and swept: entries no row uses any
-- more are removed, so state does not grow under churn, while no cached
-- result still in use is ever recomputed.
local H = require("spec.helpers")

local FLOW = [[
local coco = require("coco")
local Count = coco.fn("Count", { returns = "str", cache = true, version = 1 }, function(text)
  local f = assert(io.open(os.getenv("CALLS"), "a"))
  f:write(text, "\n")
  f:close()
  if os.getenv("KILL") and text:find("DIE", 1, true) then   -- as kill -9 would, mid-row
    local st = assert(io.open("/proc/self/stat")):read("*a")
    os.execute("kill -9 " .. st:match("^(%d+)"))
  end
  return text:upper()
end)
return coco.flow("Memo", function(flow, scope)
  scope.docs = flow:add_source(coco.sources.LocalFile{ path = "docs" })
  local out = scope:add_collector()
  scope.docs:row(function(doc)
    doc.chunks = doc.content:transform(coco.functions.SplitRecursively{},
      { chunk_size = 40, chunk_overlap = 0 })
    doc.chunks:row(function(chunk)
      chunk.upper = chunk.text:transform(Count)
      out:collect{ filename = doc.filename, location = chunk.location, upper = chunk.upper }
    end)
  end)
  out:export("out", coco.targets.SQLite{ path = "index.sqlite" },
    { primary_key_fields = { "filename", "location" } })
end)
]]

local function cached(d)
  local rc, out = H.coco(d, "show flow.lua")
  assert.are.equal(0, rc)
  return tonumber(out:match("(%d+) cached function results"))
end

local function calls(d) return #H.take_lines(d .. "/calls") end

describe("the memo cache under churn", function()
  after_each(H.cleanup)

  it("keeps exactly the results rows use, and recomputes none of those", function()
    local d = H.tmpdir()
    H.write(d .. "/flow.lua", FLOW)
    local env = { CALLS = d .. "/calls" }
    local doc = H.numbered_doc
    for f = 1, 5 do H.write(string.format("%s/docs/f%d.md", d, f), doc("v0-" .. f, 8)) end
    assert.are.equal(0, (H.coco(d, "flow.lua -q", env)))
    local first = calls(d)
    assert.are.equal(first, cached(d))
    assert.is_true(first >= 40)
    -- churn: each round rewrites every file with new paragraphs
    local sizes = {}
    for round = 1, 6 do
      for f = 1, 5 do H.write(string.format("%s/docs/f%d.md", d, f), doc("v" .. round .. "-" .. f, 8)) end
      assert.are.equal(0, (H.coco(d, "flow.lua -q", env)))
      calls(d)
      sizes[round] = cached(d)
    end
    -- bounded: what the current rows use, not the sum of all rounds
    for round = 1, 6 do assert.are.equal(first, sizes[round]) end
    -- nothing in use was swept: a re-run after touching files calls nothing
    os.execute("touch " .. H.q(d) .. "/docs/*.md")
    assert.are.equal(0, (H.coco(d, "flow.lua -q --full-reprocess", env)))
    assert.are.equal(0, calls(d))
    -- a deleted file's results go; a file with the same paragraphs as
    -- another keeps them shared
    H.write(d .. "/docs/copy.md", H.read(d .. "/docs/f1.md"))
    os.remove(d .. "/docs/f1.md")
    assert.are.equal(0, (H.coco(d, "flow.lua -q", env)))
    assert.are.equal(0, calls(d))
    assert.are.equal(first, cached(d))
    os.remove(d .. "/docs/f2.md")
    assert.are.equal(0, (H.coco(d, "flow.lua -q", env)))
    assert.is_true(cached(d) < first)
  end)

  -- the memo's sweep runs after rows changed; a result cached by a row
  -- that never committed (killed, or superseded in live mode before its
  -- commit) must go too, even when the run after changes no row
  it("sweeps results no row committed, after a kill -9, even when nothing changes next", function()
    local d = H.tmpdir()
    H.write(d .. "/flow.lua", FLOW)
    local env = { CALLS = d .. "/calls" }
    local v0 = "Paragraph kept number 1.\n\nParagraph kept number 2.\n\n"
    H.write(d .. "/docs/a.md", v0)
    assert.are.equal(0, (H.coco(d, "flow.lua -q", env)))
    assert.are.equal(2, calls(d))
    assert.are.equal(2, cached(d))
    -- a new version: its first chunk's result is cached, then coco dies
    H.write(d .. "/docs/a.md", "Paragraph never committed.\n\nParagraph DIE right here.\n\n")
    assert.are_not.equal(0, (H.coco(d, "flow.lua -q", { CALLS = env.CALLS, KILL = "1" })))
    assert.are.equal(2, calls(d))
    -- the file goes back to what was committed: no row changes
    H.write(d .. "/docs/a.md", v0)
    assert.are.equal(0, (H.coco(d, "flow.lua -q", env)))
    assert.are.equal(0, calls(d))
    assert.are.equal(2, cached(d))
    -- and the run after that has nothing left to sweep
    assert.are.equal(0, (H.coco(d, "flow.lua -q", env)))
    assert.are.equal(2, cached(d))
  end)

  it("sweeps results a committed delete left unused, after a kill -9 before the sweep", function()
    local d = H.tmpdir()
    -- a second source after docs: a kill in it lands after docs' commit
    -- and before the run's sweep
    local flow = FLOW:gsub('(scope%.docs = flow:add_source%(coco%.sources%.LocalFile{ path = "docs" }%))',
      '%1\n  scope.trig = flow:add_source(coco.sources.LocalFile{ path = "trig" })')
    flow = flow:gsub("(  scope%.docs:row%(function%(doc%).-\n  end%)\n)", function(body)
      return body .. body:gsub("scope%.docs", "scope.trig")
    end)
    assert(flow:find("scope.trig:row", 1, true))
    H.write(d .. "/flow.lua", flow)
    local env = { CALLS = d .. "/calls" }
    H.write(d .. "/docs/a.md", "Paragraph a number 1.\n\n")
    H.write(d .. "/docs/b.md", "Paragraph b number 1.\n\nParagraph b number 2.\n\n")
    H.write(d .. "/trig/t.md", "Paragraph trigger.\n\n")
    assert.are.equal(0, (H.coco(d, "flow.lua -q", env)))
    assert.are.equal(4, calls(d))
    assert.are.equal(4, cached(d))
    -- b.md goes (docs commits the delete), then trig's row kills coco
    os.remove(d .. "/docs/b.md")
    H.write(d .. "/trig/t.md", "Paragraph DIE here.\n\n")
    assert.are_not.equal(0, (H.coco(d, "flow.lua -q", { CALLS = env.CALLS, KILL = "1" })))
    calls(d)
    -- t.md back as committed: the next run changes no row
    H.write(d .. "/trig/t.md", "Paragraph trigger.\n\n")
    assert.are.equal(0, (H.coco(d, "flow.lua -q", env)))
    assert.are.equal(0, calls(d))
    assert.are.equal(2, cached(d))
  end)
end)
