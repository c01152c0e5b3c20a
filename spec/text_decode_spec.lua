-- Text as CocoIndex reads it (issue 13): with binary = false, a UTF-8 BOM is
-- dropped, UTF-16 LE/BE with a BOM is converted to UTF-8, and invalid UTF-8
-- becomes U+FFFD (one per maximal invalid subpart): the row is processed,
-- with one warning naming it, counted as `warnings` (not an error, exit 0).
-- decode_errors = "strict" keeps the row error. The real coco binary runs a
-- LocalFile -> SQLite flow that stores each file's text as it was read;
-- the stored bytes are compared exactly. (AmazonS3 and GoogleDrive: their
-- specs read a Latin-1 file the same way.)
local H = require("spec.helpers")

local TBL = "Texts__texts"

local function flow(opts)
  return string.format([[
local coco = require("coco")
local sources, targets = coco.sources, coco.targets
return coco.flow("Texts", function(flow, scope)
  scope.documents = flow:add_source(sources.LocalFile{ path = "docs"%s })
  local out = scope:add_collector()
  scope.documents:row(function(doc)
    out:collect{ filename = doc.filename, content = doc.content }
  end)
  out:export("texts", targets.SQLite{ path = "index.sqlite" }, { primary_key_fields = { "filename" } })
end)
]], opts and (", " .. opts) or "")
end

-- Code points as UTF-8, and as UTF-16 (big-endian if be), for expected texts.
local function utf8(cps)
  local t = {}
  for _, c in ipairs(cps) do
    if c < 0x80 then t[#t + 1] = string.char(c)
    elseif c < 0x800 then t[#t + 1] = string.char(0xC0 + math.floor(c / 64), 0x80 + c % 64)
    elseif c < 0x10000 then
      t[#t + 1] = string.char(0xE0 + math.floor(c / 4096), 0x80 + math.floor(c / 64) % 64, 0x80 + c % 64)
    else
      t[#t + 1] = string.char(0xF0 + math.floor(c / 262144), 0x80 + math.floor(c / 4096) % 64,
        0x80 + math.floor(c / 64) % 64, 0x80 + c % 64)
    end
  end
  return table.concat(t)
end

local function utf16(cps, be)
  local t = {}
  local function unit(u)
    local hi, lo = math.floor(u / 256), u % 256
    t[#t + 1] = be and string.char(hi, lo) or string.char(lo, hi)
  end
  for _, c in ipairs(cps) do
    if c >= 0x10000 then
      unit(0xD800 + math.floor((c - 0x10000) / 1024))
      unit(0xDC00 + (c - 0x10000) % 1024)
    else
      unit(c)
    end
  end
  return table.concat(t)
end

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02X", c:byte()) end))
end

local R = "\239\191\189"                  -- U+FFFD
-- "héllo € 😀\n": a 2-byte, a 3-byte and a 4-byte (surrogate pair) character
local HELLO = { 0x68, 0xE9, 0x6C, 0x6C, 0x6F, 0x20, 0x20AC, 0x20, 0x1F600, 0x0A }

-- file -> { bytes on disk, text expected in the target, warning or nil }
local FILES = {
  ["utf16le_bom.txt"] = { "\255\254" .. utf16(HELLO), utf8(HELLO) },
  ["utf16be_bom.txt"] = { "\254\255" .. utf16(HELLO, true), utf8(HELLO) },
  -- no BOM: not guessed; read as UTF-8, its NULs kept, é (E9 00) replaced
  ["utf16le_nobom.txt"] = { utf16{ 0x68, 0xE9, 0x0A }, "h\0" .. R .. "\0\n\0",
    "not valid UTF-8 (first bad byte at 2); 1 invalid sequence replaced with U+FFFD" },
  ["utf8_bom.txt"] = { "\239\187\191caf\195\169\n", "caf\195\169\n" },
  ["latin1.txt"] = { "caf\233 cr\232me br\251l\233e\n", "caf" .. R .. " cr" .. R .. "me br" .. R .. "l" .. R .. "e\n",
    "not valid UTF-8 (first bad byte at 3); 4 invalid sequences replaced with U+FFFD" },
  ["nuls.txt"] = { string.rep("\0", 8), string.rep("\0", 8) },
  ["empty.txt"] = { "", "" },
  -- "abc €" cut after 2 of the euro sign's 3 bytes: one U+FFFD
  ["cut.txt"] = { "abc \226\130", "abc " .. R,
    "not valid UTF-8 (first bad byte at 4); 1 invalid sequence replaced with U+FFFD" },
}
local NFILES, NWARN = 8, 3

local function setup(opts)
  local d = H.tmpdir()
  H.write(d .. "/flow.lua", flow(opts))
  for name, f in pairs(FILES) do H.write(d .. "/docs/" .. name, f[1]) end
  return d
end

-- What the target holds: filename -> hex of the stored text.
local function stored(d)
  local t = {}
  for _, r in ipairs(H.sql(d .. "/index.sqlite", "SELECT filename AS f, hex(CAST(content AS BLOB)) AS h FROM " .. TBL)) do
    t[r.f] = r.h
  end
  return t
end

describe("text as CocoIndex reads it", function()
  after_each(H.cleanup)

  it("drops a UTF-8 BOM, converts UTF-16 with a BOM, replaces invalid UTF-8 with one warning per row; exit 0", function()
    local d = setup()
    local rc, out, err = H.coco(d, "update flow.lua --json")
    assert.are.equal(0, rc, err)
    local s = H.json_lines(out)[1]
    assert.are.same({ added = NFILES, warnings = NWARN, errors = 0 },
      { added = s.added, warnings = s.warnings, errors = s.errors })
    local want = {}
    for name, f in pairs(FILES) do want[name] = hex(f[2]) end
    assert.are.same(want, stored(d))
    -- one warning per row, naming it, and nothing else on stderr
    local warned = {}
    for name, f in pairs(FILES) do
      if f[3] then warned[#warned + 1] = "coco: Texts.documents: docs/" .. name .. ": " .. f[3] end
    end
    table.sort(warned)
    local got = {}
    for _, l in ipairs(H.lines(err)) do
      if not l:match("^coco: Texts: setup applied") and not l:match("^  ") then got[#got + 1] = l end
    end
    table.sort(got)
    assert.are.same(warned, got)
  end)

  it("warns when a row is read, not when it is skipped; the fingerprint is of the decoded text", function()
    local d = setup()
    assert.are.equal(0, (H.coco(d, "update flow.lua -q")))
    -- old enough for their ordinals to be trusted: nothing is read again
    H.sh("touch -d '-1 minute' " .. H.q(d) .. "/docs/*")
    assert.are.equal(0, (H.coco(d, "update flow.lua -q")))
    local rc, out, err = H.coco(d, "update flow.lua")
    assert.are.equal(0, rc, err)
    assert.are.equal("", err)
    assert.matches("Texts.documents: 8 rows: 0 added, 0 updated, 0 deleted, 8 unchanged, 0 errors", out, 1, true)
    -- the same text without its BOM: read (its size changed), not processed
    H.write(d .. "/docs/utf8_bom.txt", "caf\195\169\n")
    rc, out, err = H.coco(d, "update flow.lua --json")
    assert.are.equal(0, rc, err)
    local s = H.json_lines(out)[1]
    assert.are.same({ 0, 8, 0 }, { s.updated, s.unchanged, s.warnings })
    -- a bad file read again warns again, in the human summary too
    H.write(d .. "/docs/latin1.txt", "na\239ve\n")
    rc, out, err = H.coco(d, "update flow.lua")
    assert.are.equal(0, rc, err)
    assert.matches("1 updated, 0 deleted, 7 unchanged, 1 warnings, 0 errors", out, 1, true)
    assert.matches("docs/latin1.txt: not valid UTF-8 (first bad byte at 2)", err, 1, true)
    assert.are.equal(hex("na" .. R .. "ve\n"), stored(d)["latin1.txt"])
  end)

  it("evaluate counts the warnings too", function()
    local d = setup()
    local rc, out, err = H.coco(d, "evaluate flow.lua -o out")
    assert.are.equal(0, rc, err)
    assert.matches("Texts.documents: 8 rows evaluated, 3 warnings, 0 errors", out, 1, true)
    assert.matches("docs/cut.txt: not valid UTF-8", err, 1, true)
    assert.truthy(H.read(d .. "/out/texts.jsonl"):find("caf\\ufffd cr", 1, true) or
      H.read(d .. "/out/texts.jsonl"):find("caf" .. R .. " cr", 1, true))
  end)

  it("decode_errors = \"strict\": a row error for each file that is not well-formed, exit 1; BOMs still read", function()
    local d = setup('decode_errors = "strict"')
    local rc, out, err = H.coco(d, "update flow.lua --json")
    assert.are.equal(1, rc, err)
    local s = H.json_lines(out)[1]
    assert.are.same({ added = NFILES - NWARN, warnings = 0, errors = NWARN },
      { added = s.added, warnings = s.warnings, errors = s.errors })
    assert.matches('docs/latin1.txt: not valid UTF-8 (byte 3); set binary = true to read it as bytes, '
      .. 'or decode_errors = "replace"', err, 1, true)
    assert.matches("docs/cut.txt: not valid UTF-8 (byte 4)", err, 1, true)
    assert.matches("docs/utf16le_nobom.txt: not valid UTF-8 (byte 2)", err, 1, true)
    local want = {}
    for name, f in pairs(FILES) do
      if not f[3] then want[name] = hex(f[2]) end
    end
    assert.are.same(want, stored(d))
  end)

  it("flow:update and flow:live report each warning (source, key) and count it in stats", function()
    local d = setup()
    local r = H.script(d, [[
local coco = require("coco")
local flow = assert(coco.load("flow.lua"))
local R = { update = {}, live = {} }
local st = assert(flow:update{ on_warning = function(source, key, msg)
  R.update[#R.update + 1] = { source = source, key = key, msg = msg }
end })[1]
R.update_warnings, R.update_errors = st.warnings, st.errors
flow:drop{ force = true }
flow:close()
flow = assert(coco.load("flow.lua"))
local live = assert(flow:live{ on_warning = function(msg, source, key)
  R.live[#R.live + 1] = { source = source, key = key, msg = msg }
end })
local deadline = os.time() + 60
while live:stats()[1].added < 8 and os.time() < deadline do assert(live:step(100)) end
local ls = live:stats()[1]
R.live_added, R.live_warnings, R.live_errors = ls.added, ls.warnings, ls.errors
live:close()
flow:close()
io.write(coco.json.encode(R))
]])
    assert.are.same({ NWARN, 0 }, { r.update_warnings, r.update_errors })
    assert.are.same({ NFILES, NWARN, 0 }, { r.live_added, r.live_warnings, r.live_errors })
    local function keys(list)
      local t = {}
      for _, w in ipairs(list) do
        assert.are.equal("documents", w.source)
        t[#t + 1] = w.key
      end
      table.sort(t)
      return t
    end
    local want = { "cut.txt", "latin1.txt", "utf16le_nobom.txt" }
    assert.are.same(want, keys(r.update))
    assert.are.same(want, keys(r.live))
    for _, w in ipairs(r.update) do
      assert.matches("^docs/" .. w.key:gsub("%p", "%%%0") .. ": not valid UTF%-8 %(first bad byte at %d+%); "
        .. "%d+ invalid sequences? replaced with U%+FFFD$", w.msg)
    end
    -- live: worded as the updater's other warnings, "Flow.source: ..."
    for _, w in ipairs(r.live) do
      assert.matches("^Texts%.documents: docs/" .. w.key:gsub("%p", "%%%0") .. ": not valid UTF%-8", w.msg)
    end
  end)

  it("decode_errors other than \"replace\" or \"strict\" is an error at the flow line", function()
    local d = setup('decode_errors = "ignore"')
    local rc, _, err = H.coco(d, "update flow.lua")
    assert.are_not.equal(0, rc)
    assert.matches('flow.lua:4: LocalFile: decode_errors must be "replace" or "strict" (got "ignore")', err, 1, true)
    assert.is_nil(err:find("traceback", 1, true))
  end)
end)
