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

local function calls(d)
  local s = H.read(d .. "/calls") or ""
  os.remove(d .. "/calls")
  local n = 0
  for _ in s:gmatch("\n") do n = n + 1 end
  return n
end

describe("the memo cache under churn", function()
  after_each(H.cleanup)

  it("keeps exactly the results rows use, and recomputes none of those", function()
    local d = H.tmpdir()
    H.write(d .. "/flow.lua", FLOW)
    local env = { CALLS = d .. "/calls" }
    local function para(tag, i) return string.format("Paragraph %s number %d.\n\n", tag, i) end
    local function doc(tag, n)
      local t = {}
      for i = 1, n do t[i] = para(tag, i) end
      return table.concat(t)
    end
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
end)
