-- Keys that are text are text: a file name that is not UTF-8 becomes a
-- valid UTF-8 key by a reversible escape (engine/keyesc.h: a backslash is
-- doubled, each byte that is not UTF-8 is written \xHH), so a TEXT column
-- never holds invalid UTF-8 (Python's sqlite3 reads the table) and the
-- file is still read, updated and deleted under its key.
local H = require("spec.helpers")

local FLOW = [[
local coco = require("coco")
return coco.flow("Names", function(flow, scope)
  scope.documents = flow:add_source(coco.sources.LocalFile{ path = "docs" })
  local rows = scope:add_collector()
  scope.documents:row(function(doc)
    rows:collect{ filename = doc.filename, content = doc.content }
  end)
  rows:export("files", coco.targets.SQLite{ path = "n.sqlite" }, { primary_key_fields = { "filename" } })
end)
]]

local LATIN1 = "caf\233.md"          -- "café.md" in Latin-1: not UTF-8
local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("*a")
  p:close()
  return out
end

-- The table as Python's sqlite3 reads it (it refuses invalid UTF-8 in TEXT).
local function py_rows(db)
  return sh("python3 -c " .. H.q([[
import sqlite3, sys, json
c = sqlite3.connect(sys.argv[1])
print(json.dumps(sorted(c.execute("SELECT filename, content FROM Names__files").fetchall())))
]]) .. " " .. H.q(db))
end

describe("file names that are not UTF-8", function()
  local d
  before_each(function()
    d = H.tmpdir()
    H.write(d .. "/flow.lua", FLOW)
    H.write(d .. "/docs/" .. LATIN1, "latin\n")
    H.write(d .. "/docs/a\\b.md", "backslash\n")
    H.write(d .. "/docs/x\\xe9.md", "looks escaped\n")
    H.write(d .. "/docs/sub\255/ok.md", "in a Latin-1 directory\n")
    H.write(d .. "/docs/plain.md", "plain\n")
  end)
  after_each(H.cleanup)

  it("become escaped keys, read and kept in sync like any other", function()
    local rc, out, err = H.coco(d, "update flow.lua --json")
    assert.are.equal(0, rc, err)
    assert.are.equal(5, H.json_lines(out)[1].added, out)
    local want = '[["a\\\\\\\\b.md", "backslash\\n"], ["caf\\\\xe9.md", "latin\\n"], '
      .. '["plain.md", "plain\\n"], ["sub\\\\xff/ok.md", "in a Latin-1 directory\\n"], '
      .. '["x\\\\\\\\xe9.md", "looks escaped\\n"]]\n'
    assert.are.equal(want, py_rows(d .. "/n.sqlite"))
    -- nothing changed: nothing read again
    rc, out = H.coco(d, "update flow.lua --json")
    assert.are.equal(5, H.json_lines(out)[1].unchanged, out)
    -- changed, then deleted, under its key (the rewrite gets an mtime of its
    -- own: a change shows whatever the clock's granularity)
    H.write(d .. "/docs/" .. LATIN1, "latin, again\n")
    assert(H.sh("touch -d @1000000000 " .. H.q(d .. "/docs/" .. LATIN1)))
    H.rm(d .. "/docs/sub\255")
    rc, out, err = H.coco(d, "update flow.lua --json")
    assert.are.equal(0, rc, err)
    local s = H.json_lines(out)[1]
    assert.are.equal(1, s.updated, out)
    assert.are.equal(1, s.deleted, out)
    assert.matches('["caf\\\\xe9.md", "latin, again\\n"]', py_rows(d .. "/n.sqlite"), 1, true)
    -- evaluate writes valid JSON lines with the same keys
    rc, _, err = H.coco(d, "evaluate flow.lua -o ev")
    assert.are.equal(0, rc, err)
    local ev = H.read(d .. "/ev/files.jsonl")
    assert.matches('"caf\\\\xe9.md"', ev, 1, true)
    for line in ev:gmatch("[^\n]+") do assert.is_truthy(H.json.decode(line), line) end
  end)

  it("a new one in live mode is reported under its escaped key", function()
    local rc, _, err = H.coco(d, "update flow.lua -q")
    assert.are.equal(0, rc, err)
    local pid = tonumber(sh("cd " .. H.q(d) .. " && " .. H.q(H.bin) .. " flow.lua -L -q >live.out 2>&1 & echo $!"))
    local found
    for _ = 1, 600 do      -- 60 s at most
      H.write(d .. "/docs/new\233.md", "new\n")
      found = #H.sql(d .. "/n.sqlite", "SELECT filename FROM Names__files WHERE filename = 'new\\xe9.md'") == 1
      if found then break end
      sh("sleep 0.1")
    end
    sh("kill " .. pid .. "; for i in $(seq 600); do kill -0 " .. pid .. " 2>/dev/null || break; sleep 0.1; done")
    assert.is_true(found, H.read(d .. "/live.out"))
  end)
end)
