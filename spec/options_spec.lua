-- Every option value is checked at the flow line: durations are finite and
-- in range, sizes are whole numbers in range (no undefined float -> int64
-- conversion), names of flows, exports and query handlers are identifiers,
-- and evaluate builds its file names only from those names.
local H = require("spec.helpers")

local function flow_src(o)
  return string.format([[
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets
return coco.flow(%s, function(flow, scope)
  scope.documents = flow:add_source(
    sources.LocalFile{ path = "docs"%s },
    { %s })
  local chunks = scope:add_collector()
  scope.documents:row(function(doc)
    doc.chunks = doc.content:transform(functions.SplitRecursively{},
      { language = "markdown", chunk_size = 300 })%s
    doc.chunks:row(function(chunk)
      chunks:collect{ filename = doc.filename, location = chunk.location, text = chunk.text }
    end)
  end)
  chunks:export(%s, targets.SQLite{ path = "index.sqlite" },
    { primary_key_fields = { "filename", "location" } })%s
end)
]], o.name or '"Opts"', o.src or "", o.add or "", o.inrow or "", o.export or '"chunks"', o.extra or "")
end

-- The line of the first line of src containing needle.
local function line_of(src, needle)
  local i = assert(src:find(needle, 1, true), "not found: " .. needle)
  local _, n = src:sub(1, i):gsub("\n", "")
  return n + 1
end

describe("option values", function()
  local d
  before_each(function()
    d = H.tmpdir()
    H.write(d .. "/docs/a.md", "# A\n\nHello.\n")
  end)
  after_each(H.cleanup)

  -- `coco show` of the flow fails with flow.lua:LINE: <message matching pat>,
  -- one clear line, no traceback into coco's own files.
  local function refused(o, needle, pat)
    local src = flow_src(o)
    H.write(d .. "/flow.lua", src)
    local rc, out, err = H.coco(d, "show flow.lua")
    assert.are_not.equal(0, rc, "expected a failure; stdout: " .. out)
    local line = line_of(src, needle)
    assert.matches("^coco: flow%.lua:" .. line .. ": ", err)
    assert.matches(pat, err)
    assert.is_nil(err:find("traceback", 1, true), err)
    assert.is_nil(err:find("coco/init.lua", 1, true), err)
    assert.is_nil(err:find("9223372036854775808", 1, true), err)
    assert.are.equal(1, select(2, err:gsub("\n", "")), err)
  end

  local function accepted(o)
    H.write(d .. "/flow.lua", flow_src(o))
    local rc, out, err = H.coco(d, "show flow.lua")
    assert.are.equal(0, rc, err)
    return out
  end

  describe("refresh_interval", function()
    for _, v in ipairs({ "0", "-1", "0/0", "math.huge", "-math.huge", "1e-9", "0.09", "1e300", '"60"' }) do
      it("= " .. v .. " is refused at the flow line", function()
        refused({ add = "refresh_interval = " .. v }, "flow:add_source(", "refresh_interval")
      end)
    end
    it("0.1 s, the minimum, and one year, the maximum, are accepted", function()
      assert.matches("refresh every 0.1s", accepted({ add = "refresh_interval = 0.1" }), 1, true)
      accepted({ add = "refresh_interval = 31536000" })
    end)
  end)

  describe("sizes", function()
    for _, v in ipairs({ "math.huge", "1e308", "-math.huge", "0/0", "1.5", "2^63" }) do
      it("max_file_size = " .. v .. " is refused (no undefined conversion)", function()
        refused({ src = ", max_file_size = " .. v }, "sources.LocalFile{", "max_file_size")
      end)
    end
    it("max_file_size = -1 is refused", function()
      refused({ src = ", max_file_size = -1" }, "flow:add_source(", "LocalFile: max_file_size must be >= 0")
    end)
    for _, k in ipairs({ "max_inflight_rows", "max_inflight_bytes" }) do
      for _, v in ipairs({ "0", "1e308", "math.huge", "0/0", "2.5" }) do
        it(k .. " = " .. v .. " is refused", function()
          refused({ add = k .. " = " .. v }, "flow:add_source(", k)
        end)
      end
    end
    it("a function's seconds option (EmbedText timeout = 1e308, 1e9) is refused", function()
      refused({ extra = [[

  local e = functions.EmbedText{ model = "text-embedding-3-small", timeout = 1e308 }
  flow:transform(e, "x")]] }, "functions.EmbedText{", "option 'timeout' must be a finite number")
      refused({ inrow = [[

    doc.v = doc.content:transform(functions.EmbedText{ model = "text-embedding-3-small", timeout = 1e9 })]] },
        "doc.v = ", "timeout must be from 0 to 86400 seconds")
    end)
    it("coco.types.vector with a dimension of 1e300 is refused", function()
      refused({ extra = [[

  local v = coco.types.vector("float32", 1e300)]] }, "coco.types.vector", "dimension must be a whole number")
    end)
  end)

  describe("names", function()
    for _, v in ipairs({ '"my-flow"', '"../x"', '""', "nil", "42" }) do
      it("a flow named " .. v .. " is refused at the flow line", function()
        refused({ name = v }, "return coco.flow(", "coco.flow: the name must be an identifier")
      end)
    end
    it("a flow name refused without a function still names flow.lua", function()
      H.write(d .. "/flow.lua", 'local coco = require("coco")\nreturn coco.flow("a b")\n')
      local rc, _, err = H.coco(d, "show flow.lua")
      assert.are_not.equal(0, rc)
      assert.matches("^coco: flow%.lua: coco%.flow: the name must be an identifier", err)
      assert.is_nil(err:find("traceback", 1, true), err)
    end)
    for _, v in ipairs({ '"../x"', '"a/b"', '"x.y"', '""' }) do
      it("an export named " .. v .. " is refused at the flow line", function()
        refused({ export = v }, "chunks:export(", "export: the name must be an identifier")
      end)
    end
    it("a query handler named \"../q\" is refused at the flow line", function()
      refused({ extra = [[

  flow:query_handler("../q", function(q) return {} end)]] }, "flow:query_handler(", "query_handler: the name must be an identifier")
    end)
    it("evaluate writes only inside its output directory", function()
      accepted({})
      local rc, _, err = H.coco(d, "evaluate flow.lua -o out")
      assert.are.equal(0, rc, err)
      local p = io.popen("cd " .. H.q(d) .. " && find . -name '*.jsonl' | sort")
      local files = p:read("*a")
      p:close()
      assert.are.equal("./out/chunks.jsonl\n", files)
    end)
  end)
end)
