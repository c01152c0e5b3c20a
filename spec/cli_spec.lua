-- The coco command line: setup, update (stats, --json, -q, --reexport,
-- --full-reprocess), schema changes, drop, evaluate, show, ls, flow names,
-- state locations, exit status, generated uuids.
local H = require("spec.helpers")

local DB, TBL = "index.sqlite", "DocsIndex__doc_chunks"

local function columns(db, tbl)
  local out = {}
  for _, c in ipairs(H.sql(db, "PRAGMA table_info(" .. tbl .. ")")) do out[c.name] = c.type end
  return out
end

local function tables(db)
  local out = {}
  for _, r in ipairs(H.sql(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")) do
    out[#out + 1] = r.name
  end
  return out
end

local function exists(path) return H.sh("test -e " .. H.q(path)) end

-- name size mtime(ns) md5 of every file under the given paths (for "untouched")
local function snapshot(dir, ...)
  local paths = {}
  for _, p in ipairs({ ... }) do paths[#paths + 1] = H.q(p) end
  local p = io.popen(string.format("cd %s && find %s -type f -print0 | sort -z | xargs -0 stat -c '%%n %%s %%.Y' && "
    .. "find %s -type f -print0 | sort -z | xargs -0 md5sum", H.q(dir), table.concat(paths, " "),
    table.concat(paths, " ")))
  local s = p:read("*a")
  p:close()
  return s
end

local function jsonl(path)
  local s = assert(H.read(path), "no file " .. path)
  local rows = {}
  for line in s:gmatch("[^\n]+") do
    local v, _, e = H.json.decode(line)
    assert(v, "bad JSON line: " .. line .. " " .. tostring(e))
    rows[#rows + 1] = v
  end
  return rows
end

describe("coco CLI", function()
  local d, flow

  before_each(function()
    d = H.tmpdir()
    flow = H.docs_flow()
    H.write(d .. "/flow.lua", flow)
    H.write(d .. "/docs/a.md", "# A\n\nHello world.\n")
    H.write(d .. "/docs/b.txt", "Just text.\n")
  end)
  after_each(H.cleanup)

  local function ok(args, env)
    local rc, out, err = H.coco(d, args, env)
    assert.are.equal(0, rc, "coco " .. args .. ": " .. err)
    return out, err
  end

  local function stats(args)
    local out = ok(args .. " --json")
    local s = H.json_lines(out)
    assert.are.equal(1, #s, out)
    return s[1]
  end

  describe("setup", function()
    it("creates the table and prints the plan; a second run is up to date", function()
      local out = ok("setup flow.lua")
      assert.matches("DocsIndex: setup applied", out, 1, true)
      assert.matches("export doc_chunks", out, 1, true)
      assert.matches("create table " .. TBL, out, 1, true)
      assert.are.same({ filename = "TEXT", location = "TEXT", text = "TEXT" }, columns(d .. "/" .. DB, TBL))
      assert.are.same({}, H.sql(d .. "/" .. DB, "SELECT * FROM " .. TBL))
      out = ok("setup flow.lua")
      assert.matches("DocsIndex: setup is up to date", out, 1, true)
      assert.is_nil(out:find("create table", 1, true))
    end)

    it("-q prints nothing", function()
      local out, err = ok("setup flow.lua -q")
      assert.are.equal("", out)
      assert.are.equal("", err)
      assert.are.same({ "DocsIndex__doc_chunks" }, tables(d .. "/" .. DB))
    end)
  end)

  describe("update", function()
    it("prints the human stats line", function()
      local out = ok("update flow.lua")
      assert.matches("\nDocsIndex%.documents: 2 rows: 2 added, 0 updated, 0 deleted, 0 unchanged, 0 errors %(%d+%.%d%d s%)\n$",
        "\n" .. out)
      H.write(d .. "/docs/c.md", "# C\n")
      ok("update flow.lua -q")
      H.write(d .. "/docs/a.md", "# A\n\nHello again.\n")
      H.rm(d .. "/docs/b.txt")
      H.write(d .. "/docs/d.md", "# D\n")
      out = ok("update flow.lua")
      assert.matches("^DocsIndex%.documents: 3 rows: 1 added, 1 updated, 1 deleted, 1 unchanged, 0 errors %(%d+%.%d%d s%)\n$",
        out)
      assert.are.same({ { filename = "a.md" }, { filename = "c.md" }, { filename = "d.md" } },
        H.sql(d .. "/" .. DB, "SELECT DISTINCT filename FROM " .. TBL .. " ORDER BY filename"))
    end)

    it("is what `coco FLOW.lua` does", function()
      local out = ok("flow.lua")
      assert.matches("DocsIndex.documents: 2 rows: 2 added", out, 1, true)
      assert.are.equal(2, #H.dump(d .. "/" .. DB, TBL))
    end)

    it("--json prints one object per source with the documented fields", function()
      local s = stats("update flow.lua")
      local keys = {}
      for k in pairs(s) do keys[#keys + 1] = k end
      table.sort(keys)
      assert.are.same({ "added", "deleted", "elapsed_ms", "errors", "flow", "reprocessed", "source",
        "unchanged", "updated", "warnings" }, keys)
      assert.are.equal("DocsIndex", s.flow)
      assert.are.equal("documents", s.source)
      assert.are.same({ 2, 0, 0, 0, 0, 0, 0 }, { s.added, s.updated, s.deleted, s.unchanged, s.reprocessed,
        s.warnings, s.errors })
      assert.is_number(s.elapsed_ms)
      assert.is_true(s.elapsed_ms >= 0)
    end)

    it("--json with two sources prints two objects", function()
      H.write(d .. "/two.lua", [[
local coco = require("coco")
local sources, targets = coco.sources, coco.targets
return coco.flow("Two", function(flow, scope)
  scope.documents = flow:add_source(sources.LocalFile{ path = "docs" })
  scope.notes = flow:add_source(sources.LocalFile{ path = "notes" })
  local docs, notes = scope:add_collector(), scope:add_collector()
  scope.documents:row(function(doc) docs:collect{ filename = doc.filename, content = doc.content } end)
  scope.notes:row(function(n) notes:collect{ filename = n.filename, content = n.content } end)
  docs:export("doc_files", targets.SQLite{ path = "two.sqlite" }, { primary_key_fields = { "filename" } })
  notes:export("note_files", targets.SQLite{ path = "two.sqlite" }, { primary_key_fields = { "filename" } })
end)
]])
      H.write(d .. "/notes/n.txt", "note\n")
      local s = H.json_lines(ok("update two.lua --json"))
      assert.are.equal(2, #s)
      table.sort(s, function(x, y) return x.source < y.source end)
      assert.are.same({ "Two", "documents", 2 }, { s[1].flow, s[1].source, s[1].added })
      assert.are.same({ "Two", "notes", 1 }, { s[2].flow, s[2].source, s[2].added })
    end)

    it("-q prints nothing", function()
      local out, err = ok("update flow.lua -q")
      assert.are.equal("", out)
      assert.are.equal("", err)
      assert.are.equal(2, #H.dump(d .. "/" .. DB, TBL))
      H.write(d .. "/docs/c.md", "# C\n")
      out, err = ok("update flow.lua -q")
      assert.are.equal("", out)
      assert.are.equal("", err)
      assert.are.equal(3, #H.dump(d .. "/" .. DB, TBL))
    end)

    it("--reexport writes the rows again (rows deleted by hand come back)", function()
      ok("update flow.lua -q")
      local before = H.dump(d .. "/" .. DB, TBL)
      H.sql(d .. "/" .. DB, "DELETE FROM " .. TBL)
      local s = stats("update flow.lua")
      assert.are.equal(2, s.unchanged)                -- a plain update does not notice
      assert.are.same({}, H.dump(d .. "/" .. DB, TBL))
      s = stats("update flow.lua --reexport")
      assert.are.equal(0, s.errors)
      assert.are.same(before, H.dump(d .. "/" .. DB, TBL))
    end)

    it("--full-reprocess reprocesses every row", function()
      ok("update flow.lua -q")
      local before = H.dump(d .. "/" .. DB, TBL)
      local s = stats("update flow.lua --full-reprocess")
      assert.are.equal(2, s.reprocessed)
      assert.are.equal(0, s.added + s.deleted + s.errors)
      assert.are.same(before, H.dump(d .. "/" .. DB, TBL))
      s = stats("update flow.lua")
      assert.are.equal(2, s.unchanged)
      assert.are.equal(0, s.reprocessed)
    end)

    it("exits non-zero when a row fails, and names the row", function()
      H.write(d .. "/flow.lua", H.edit(flow, "return coco.flow(", [[
local Check = coco.fn("Check", { returns = "str" }, function(s)
  if s:find("BOOM", 1, true) then error("no bombs allowed") end
  return s
end)
return coco.flow(]]):gsub("doc%.content:transform", "doc.content:transform(Check):transform"))
      H.write(d .. "/docs/c.md", "BOOM\n")
      local rc, out, err = H.coco(d, "update flow.lua")
      assert.are.equal(1, rc, err)
      assert.matches("2 added, 0 updated, 0 deleted, 0 unchanged, 1 errors", out, 1, true)
      assert.matches("c.md", err, 1, true)
      assert.matches("no bombs allowed", err, 1, true)
      assert.are.same({ { filename = "a.md" }, { filename = "b.txt" } },
        H.sql(d .. "/" .. DB, "SELECT DISTINCT filename FROM " .. TBL .. " ORDER BY filename"))
      H.write(d .. "/docs/c.md", "fine\n")
      local s = stats("update flow.lua")
      assert.are.equal(1, s.added)
      assert.are.equal(0, s.errors)
    end)
  end)

  describe("flow changes", function()
    before_each(function() ok("update flow.lua -q") end)

    it("adding a collected field adds the column and fills it", function()
      H.write(d .. "/flow.lua", H.edit(flow, "text = chunk.text }", "text = chunk.text, line = chunk.start.line }"))
      local out = ok("update flow.lua")
      assert.matches("add column line", out, 1, true)
      assert.are.same({ filename = "TEXT", location = "TEXT", text = "TEXT", line = "INTEGER" },
        columns(d .. "/" .. DB, TBL))
      assert.are.same({ { filename = "a.md", line = 1 }, { filename = "b.txt", line = 1 } },
        H.sql(d .. "/" .. DB, "SELECT filename, line FROM " .. TBL .. " ORDER BY filename"))
    end)

    it("removing a field drops the column only with -f", function()
      H.write(d .. "/flow.lua", H.edit(flow, "text = chunk.text }", "text = chunk.text, line = chunk.start.line }"))
      ok("update flow.lua -q")
      local before = H.dump(d .. "/" .. DB, TBL)
      H.write(d .. "/flow.lua", flow)
      local rc, out, err = H.coco(d, "update flow.lua")
      assert.are_not.equal(0, rc, out)
      assert.matches("drop column line", err, 1, true)
      assert.matches("-f", err, 1, true)
      assert.are.equal("INTEGER", columns(d .. "/" .. DB, TBL).line)
      assert.are.same(before, H.dump(d .. "/" .. DB, TBL))
      rc, out, err = H.coco(d, "setup flow.lua")
      assert.are_not.equal(0, rc, out)
      assert.matches("-f", err, 1, true)
      out = ok("update flow.lua -f")
      assert.matches("drop column line", out, 1, true)
      assert.are.same({ filename = "TEXT", location = "TEXT", text = "TEXT" }, columns(d .. "/" .. DB, TBL))
      assert.are.equal(2, #H.dump(d .. "/" .. DB, TBL))
    end)

    it("removing an export drops its table only with -f", function()
      local two = H.edit(flow, "  scope.documents:row(function(doc)\n", [[
  local files = scope:add_collector()
  scope.documents:row(function(doc)
    files:collect{ filename = doc.filename, content = doc.content }
]])
      two = H.edit(two, '  chunks:export("doc_chunks"', [[
  files:export("doc_files", targets.SQLite{ path = "index.sqlite" }, { primary_key_fields = { "filename" } })
  chunks:export("doc_chunks"]])
      H.write(d .. "/flow.lua", two)
      ok("update flow.lua -q")
      assert.are.same({ "DocsIndex__doc_chunks", "DocsIndex__doc_files" }, tables(d .. "/" .. DB))
      local chunks = H.dump(d .. "/" .. DB, TBL)
      H.write(d .. "/flow.lua", H.edit(two,
        '  files:export("doc_files", targets.SQLite{ path = "index.sqlite" }, { primary_key_fields = { "filename" } })\n', ""))
      local rc, out, err = H.coco(d, "update flow.lua")
      assert.are_not.equal(0, rc, out)
      assert.matches("drop table DocsIndex__doc_files", err, 1, true)
      assert.are.same({ "DocsIndex__doc_chunks", "DocsIndex__doc_files" }, tables(d .. "/" .. DB))
      out = ok("update flow.lua -f")
      assert.matches("drop table DocsIndex__doc_files", out, 1, true)
      assert.are.same({ "DocsIndex__doc_chunks" }, tables(d .. "/" .. DB))
      assert.are.same(chunks, H.dump(d .. "/" .. DB, TBL))
    end)

    it("changing a field's type recreates the table with -f and rewrites the rows", function()
      H.write(d .. "/flow.lua", H.edit(flow, "text = chunk.text }", "text = chunk.start.line }"))
      local rc, out, err = H.coco(d, "update flow.lua")
      assert.are_not.equal(0, rc, out)
      assert.matches("drop and recreate table " .. TBL, err, 1, true)
      assert.matches("text: str", err, 1, true)
      assert.matches("int64", err, 1, true)
      assert.are.equal("TEXT", columns(d .. "/" .. DB, TBL).text)
      out = ok("update flow.lua -f")
      assert.matches("drop and recreate table", out, 1, true)
      assert.are.equal("INTEGER", columns(d .. "/" .. DB, TBL).text)
      assert.are.same({ { filename = "a.md", text = 1 }, { filename = "b.txt", text = 1 } },
        H.sql(d .. "/" .. DB, "SELECT filename, text FROM " .. TBL .. " ORDER BY filename"))
      local s = stats("update flow.lua")
      assert.are.equal(2, s.unchanged)
    end)
  end)

  describe("drop", function()
    it("drops the table and the state with -f; ls no longer lists the flow", function()
      ok("update flow.lua -q")
      assert.matches("DocsIndex", ok("ls"), 1, true)
      local rc, out, err = H.coco(d, "drop flow.lua")
      assert.are_not.equal(0, rc, out)
      assert.matches("drop table " .. TBL, err, 1, true)
      assert.matches("-f", err, 1, true)
      assert.are.same({ TBL }, tables(d .. "/" .. DB))
      out = ok("drop flow.lua -f")
      assert.matches("DocsIndex: dropped", out, 1, true)
      assert.matches("drop table " .. TBL, out, 1, true)
      assert.are.same({}, tables(d .. "/" .. DB))
      assert.is_false(exists(d .. "/.coco/DocsIndex"))
      out = ok("ls")
      assert.is_nil(out:find("DocsIndex", 1, true))
      -- and an update afterwards starts from scratch
      local s = stats("update flow.lua")
      assert.are.equal(2, s.added)
    end)
  end)

  describe("evaluate", function()
    it("writes the rows to out/doc_chunks.jsonl and creates neither target nor state", function()
      local out = ok("evaluate flow.lua -o out")
      assert.matches("DocsIndex.documents: 2 rows evaluated, 0 errors", out, 1, true)
      local rows = jsonl(d .. "/out/doc_chunks.jsonl")
      table.sort(rows, function(x, y) return x.filename < y.filename end)
      assert.are.same({
        { filename = "a.md", location = { 0, 17 }, text = "# A\n\nHello world." },
        { filename = "b.txt", location = { 0, 10 }, text = "Just text." } }, rows)
      assert.is_false(exists(d .. "/" .. DB))
      assert.is_false(exists(d .. "/.coco"))
    end)

    it("gives the rows update writes", function()
      ok("evaluate flow.lua -o out -q")
      ok("update flow.lua -q")
      local rows = jsonl(d .. "/out/doc_chunks.jsonl")
      local from_db = H.sql(d .. "/" .. DB, "SELECT filename, text FROM " .. TBL .. " ORDER BY filename")
      table.sort(rows, function(x, y) return x.filename < y.filename end)
      for i, r in ipairs(rows) do rows[i] = { filename = r.filename, text = r.text } end
      assert.are.same(from_db, rows)
    end)

    it("does not modify an existing target or state", function()
      ok("update flow.lua -q")
      H.write(d .. "/docs/c.md", "# C\n")       -- a pending change evaluate must not apply
      -- every file of the target and the state dated long ago: a file evaluate
      -- wrote, even with the same content, would show a new mtime
      assert(H.sh("cd " .. H.q(d) .. " && find " .. DB .. " .coco -type f -exec touch -d @1000000000 {} +"))
      local before = snapshot(d, DB, ".coco")
      ok("evaluate flow.lua -o out -q")
      ok("evaluate flow.lua -o out2 --no-cache -q")
      assert.are.equal(before, snapshot(d, DB, ".coco"))
      assert.are.equal(3, #jsonl(d .. "/out/doc_chunks.jsonl"))
      assert.are.equal(3, #jsonl(d .. "/out2/doc_chunks.jsonl"))
      assert.are.equal(2, #H.dump(d .. "/" .. DB, TBL))
    end)

    it("reads the function cache unless --no-cache", function()
      H.write(d .. "/flow.lua", H.edit(flow, "return coco.flow(", [[
local Up = coco.fn("Up", { returns = "str", cache = true, version = 1 }, function(s)
  local f = assert(io.open("calls.log", "a")); f:write("call\n"); f:close()
  return s:upper()
end)
return coco.flow(]]):gsub("doc%.content:transform", "doc.content:transform(Up):transform"))
      local function calls()
        local _, n = (H.read(d .. "/calls.log") or ""):gsub("\n", "")
        return n
      end
      ok("update flow.lua -q")
      assert.are.equal(2, calls())
      ok("evaluate flow.lua -o out -q")
      assert.are.equal(2, calls())               -- cache hits
      ok("evaluate flow.lua -o out2 --no-cache -q")
      assert.are.equal(4, calls())               -- called again
      assert.are.same(jsonl(d .. "/out/doc_chunks.jsonl"), jsonl(d .. "/out2/doc_chunks.jsonl"))
      assert.matches("# A", jsonl(d .. "/out/doc_chunks.jsonl")[1].text:upper(), 1, true)
    end)
  end)

  describe("show", function()
    it("prints sources, fields with types, the export and the setup status", function()
      local out = ok("show flow.lua")
      assert.matches("Flow DocsIndex", out, 1, true)
      assert.matches("Source documents: LocalFile", out, 1, true)
      assert.matches("filename: str", out, 1, true)
      assert.matches("content: str", out, 1, true)
      assert.matches("location: range", out, 1, true)
      assert.matches("Export doc_chunks", out, 1, true)
      assert.matches("SQLite", out, 1, true)
      assert.matches("key: filename location", out, 1, true)
      assert.matches("Setup: changes pending", out, 1, true)
      assert.matches("not set up yet", out, 1, true)
      assert.is_false(exists(d .. "/.coco"))     -- show writes nothing
      assert.is_false(exists(d .. "/" .. DB))
      ok("update flow.lua -q")
      out = ok("show flow.lua")
      assert.matches("Setup: up to date", out, 1, true)
      H.write(d .. "/flow.lua", H.edit(flow, "text = chunk.text }", "text = chunk.text, line = chunk.start.line }"))
      out = ok("show flow.lua")
      assert.matches("Setup: changes pending", out, 1, true)
      assert.matches("add column line", out, 1, true)
      assert.matches("line: int64", out, 1, true)
      assert.is_nil(columns(d .. "/" .. DB, TBL).line)
    end)
  end)

  describe("ls", function()
    it("lists the flows with state", function()
      local rc, out = H.coco(d, "ls")
      assert.are.equal(0, rc)
      assert.are.equal("", out)
      H.write(d .. "/other.lua", H.docs_flow{ name = "Other", db = "other.sqlite" })
      ok("update flow.lua -q")
      ok("update other.lua -q")
      assert.are.equal("DocsIndex\nOther\n", ok("ls"))
      assert.are.equal("DocsIndex\nOther\n", ok("ls flow.lua"))
    end)
  end)

  describe("flow names", function()
    it("flow.lua:DocsIndex runs the flow; flow.lua:Other fails clearly", function()
      local out = ok("update flow.lua:DocsIndex")
      assert.matches("DocsIndex.documents: 2 rows: 2 added", out, 1, true)
      local rc, err
      rc, out, err = H.coco(d, "update flow.lua:Other")
      assert.are_not.equal(0, rc)
      assert.matches("flow.lua defines flow DocsIndex, not Other", err, 1, true)
      assert.are.equal("", out)
      rc = H.coco(d, "flow.lua:Other")
      assert.are_not.equal(0, rc)
    end)
  end)

  describe("state location", function()
    it("--state DIR puts the state there", function()
      local st = H.tmpdir()
      ok("update flow.lua -q --state " .. H.q(st))
      assert.is_true(exists(st .. "/DocsIndex/CURRENT"))
      assert.is_false(exists(d .. "/.coco"))
      assert.are.equal("DocsIndex\n", ok("ls --state " .. H.q(st)))
      assert.are.equal(2, stats("update flow.lua --state " .. H.q(st)).unchanged)
      assert.matches("Setup: up to date", ok("show flow.lua --state " .. H.q(st)), 1, true)
      ok("drop flow.lua -f --state " .. H.q(st))
      assert.is_false(exists(st .. "/DocsIndex"))
    end)

    it("COCO_STATE_DIR puts the state there", function()
      local st = H.tmpdir()
      local env = { COCO_STATE_DIR = st }
      ok("update flow.lua -q", env)
      assert.is_true(exists(st .. "/DocsIndex/CURRENT"))
      assert.is_false(exists(d .. "/.coco"))
      assert.are.equal("DocsIndex\n", ok("ls", env))
      local out = ok("update flow.lua --json", env)
      assert.are.equal(2, H.json_lines(out)[1].unchanged)
    end)

    it("by default the state is in .coco beside the flow file, wherever coco runs", function()
      local other = H.tmpdir()
      local rc, _, err = H.coco(other, "update " .. H.q(d .. "/flow.lua") .. " -q")
      assert.are.equal(0, rc, err)
      assert.is_true(exists(d .. "/.coco/DocsIndex/CURRENT"))
      assert.is_false(exists(other .. "/.coco"))
      assert.are.equal(2, #H.dump(d .. "/" .. DB, TBL))     -- relative paths: beside flow.lua
    end)
  end)

  describe("coco.generated.uuid", function()
    it("gives each row a stable UUID across runs", function()
      H.write(d .. "/flow.lua", H.edit(flow, "text = chunk.text }", "text = chunk.text, id = coco.generated.uuid }"))
      ok("update flow.lua -q")
      local q = "SELECT filename, id FROM " .. TBL .. " ORDER BY filename"
      local first = H.sql(d .. "/" .. DB, q)
      assert.are.equal(2, #first)
      local pat = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"
      assert.matches(pat, first[1].id)
      assert.matches(pat, first[2].id)
      assert.are_not.equal(first[1].id, first[2].id)
      ok("update flow.lua --full-reprocess -q")
      assert.are.same(first, H.sql(d .. "/" .. DB, q))
      ok("update flow.lua --reexport -q")
      assert.are.same(first, H.sql(d .. "/" .. DB, q))
      H.write(d .. "/docs/b.txt", "Other text.\n")   -- another row changes
      H.write(d .. "/docs/c.md", "# C\n")
      ok("update flow.lua -q")
      local now = H.sql(d .. "/" .. DB, q)
      assert.are.equal(first[1].id, now[1].id)         -- a.md untouched: same uuid
      assert.are.equal(3, #now)
      local seen = {}
      for _, r in ipairs(now) do
        assert.is_nil(seen[r.id], "duplicate uuid " .. r.id)
        seen[r.id] = true
      end
    end)
  end)

  describe("other commands", function()
    it("--version and --help exit 0", function()
      local rc, out = H.coco(d, "--version")
      assert.are.equal(0, rc)
      assert.matches("^coco %d+%.%d+", out)
      rc, out = H.coco(d, "--help")
      assert.are.equal(0, rc)
      assert.matches("usage: coco", out, 1, true)
    end)
  end)
end)
