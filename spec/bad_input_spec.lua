-- Bad input: every mistake gets a clear message that says what and where,
-- a non-zero exit, and loses nothing (the target of the previous good run
-- is unchanged, and the state still matches it).
local H = require("spec.helpers")

local DB, TBL = "index.sqlite", "DocsIndex__doc_chunks"

-- Line number (1-based) of the first line of src containing needle.
local function line_of(src, needle)
  local i = assert(src:find(needle, 1, true), "line_of: not found: " .. needle)
  local _, n = src:sub(1, i):gsub("\n", "")
  return n + 1
end

local function sleep(s) os.execute("sleep " .. s) end

-- The message is one clear line, no Lua or RocksDB trace.
local function assert_clear(err)
  assert.is_nil(err:find("stack traceback", 1, true), "traceback in: " .. err)
  assert.is_nil(err:find("internal error", 1, true), "internal error in: " .. err)
  assert.is_nil(err:find("coco/init.lua", 1, true), "coco internals in: " .. err)
end

describe("bad input", function()
  local d, good, before

  -- A project after one good run: flow.lua, docs/a.md, docs/b.txt, index.sqlite.
  before_each(function()
    d = H.tmpdir()
    good = H.docs_flow()
    H.write(d .. "/flow.lua", good)
    H.write(d .. "/docs/a.md", "# A\n\nHello world.\n")
    H.write(d .. "/docs/b.txt", "Just text.\n")
    local rc, _, err = H.coco(d, "update flow.lua -q")
    assert.are.equal(0, rc, err)
    before = H.dump(d .. "/" .. DB, TBL)
    assert.are.equal(2, #before)
  end)
  after_each(H.cleanup)

  -- Nothing lost: the table is as before, and with the good flow back the
  -- next update finds nothing to do (state intact, no setup pending).
  local function assert_intact()
    assert.are.same(before, H.dump(d .. "/" .. DB, TBL))
    H.write(d .. "/flow.lua", good)
    local rc, out, err = H.coco(d, "update flow.lua --json")
    assert.are.equal(0, rc, err)
    local s = H.json_lines(out)[1]
    assert.are.equal(2, s.unchanged, out)
    assert.are.equal(0, s.added + s.updated + s.deleted + s.reprocessed + s.errors, out)
    assert.are.same(before, H.dump(d .. "/" .. DB, TBL))
  end

  -- Write flow.lua = good with one edit, run `coco update`, expect failure.
  local function bad_flow(from, to, args)
    local src = H.edit(good, from, to)
    H.write(d .. "/flow.lua", src)
    local rc, out, err = H.coco(d, args or "update flow.lua")
    assert.are_not.equal(0, rc, "expected a failure; stdout: " .. out)
    assert_clear(err)
    return err, src, out
  end

  describe("in flow.lua", function()
    it("a syntax error names flow.lua:LINE", function()
      local err, src = bad_flow("local chunks = scope:add_collector()", "local chunks = scope:add_collector( +")
      local n = line_of(src, "add_collector( +")
      assert.matches("flow.lua:" .. n .. ":", err, 1, true)
      assert.matches("near '+'", err, 1, true)
      assert_intact()
    end)

    it("an unknown field names it and lists the known ones", function()
      local err, src = bad_flow("doc.content:transform", "doc.contnet:transform")
      local n = line_of(src, "doc.contnet")
      assert.matches("flow.lua:" .. n .. ": unknown field 'contnet'; fields: filename, content", err, 1, true)
      assert_intact()
    end)

    it("an unknown struct subfield names it and lists the known ones", function()
      local err, src = bad_flow("text = chunk.text }", "text = chunk.start.offsett }")
      local n = line_of(src, "chunk.start.offsett")
      assert.matches("flow.lua:" .. n .. ": unknown field 'offsett'", err, 1, true)
      assert.matches("; fields: offset, line, column", err, 1, true)
      assert_intact()
    end)

    it("an unknown key in a source's options names it and lists the valid ones", function()
      local err, src = bad_flow("sources.LocalFile{ path =", "sources.LocalFile{ pth =")
      local n = line_of(src, "LocalFile{ pth")
      assert.matches("flow.lua:" .. n .. ":", err, 1, true)
      assert.matches("'pth'", err, 1, true)
      for _, o in ipairs({ "path", "included_patterns", "excluded_patterns" }) do
        assert.matches(o, err, 1, true)
      end
      assert_intact()
    end)

    it("an unknown key in add_source's options names it", function()
      local err, src = bad_flow([[included_patterns = { "*.md", "*.txt" } })]],
        [[included_patterns = { "*.md", "*.txt" } }, { refresh_intervall = 5 })]])
      assert.matches("flow.lua:" .. line_of(src, "flow:add_source(") .. ":", err, 1, true)
      assert.matches("'refresh_intervall'", err, 1, true)
      assert.matches("; options: [%w_, ]*refresh_interval[,\n]", err .. "\n")
      assert_intact()
    end)

    it("an unknown key in export's options names it", function()
      local err, src = bad_flow("{ primary_key_fields =", "{ primary_key_field =")
      assert.matches("flow.lua:" .. line_of(src, "chunks:export(") .. ":", err, 1, true)
      assert.matches("'primary_key_field'", err, 1, true)
      assert.matches("primary_key_fields", err, 1, true)
      assert_intact()
    end)

    it("a wrong option type (chunk_size = \"big\") names the argument and the line", function()
      local err, src = bad_flow("chunk_size = 300", 'chunk_size = "big"')
      local n = line_of(src, "doc.content:transform")
      assert.matches("flow.lua:" .. n .. ":", err, 1, true)
      assert.matches("SplitRecursively", err, 1, true)
      assert.matches("chunk_size", err, 1, true)
      assert.matches("int64", err, 1, true)
      assert_intact()
    end)

    it("SplitRecursively on a non-str field names the field, its type and the line", function()
      local err, src = bad_flow("text = chunk.text }",
        "text = chunk.location:transform(functions.SplitRecursively{}) }")
      local n = line_of(src, "chunk.location:transform")
      assert.matches("flow.lua:" .. n .. ":", err, 1, true)
      assert.matches("'location' is range", err, 1, true)
      assert.matches("must be str", err, 1, true)
      assert_intact()
    end)

    it("an empty options table without primary_key_fields is refused", function()
      local err, src = bad_flow('{ primary_key_fields = { "filename", "location" } }', "{}")
      assert.matches("flow.lua:" .. line_of(src, "chunks:export(") .. ":", err, 1, true)
      assert.matches("primary_key_fields is required", err, 1, true)
      assert_intact()
    end)

    it("an export without options (no primary_key_fields) is refused", function()
      local err, src = bad_flow('},\n    { primary_key_fields = { "filename", "location" } })', "})")
      assert.matches("flow.lua:" .. line_of(src, "chunks:export(") .. ":", err, 1, true)
      assert.matches("primary_key_fields is required", err, 1, true)
      assert_intact()
    end)

    it("coco.fn with cache = true and no version is refused", function()
      local err, src = bad_flow('return coco.flow(',
        'local Up = coco.fn("Up", { returns = "str", cache = true }, function(s) return s:upper() end)\n'
        .. 'return coco.flow(')
      assert.matches("flow.lua:" .. line_of(src, 'coco.fn("Up"') .. ":", err, 1, true)
      assert.matches("cache = true needs a version", err, 1, true)
      assert_intact()
    end)

    it("an unknown source names it and lists the sources", function()
      local err, src = bad_flow("sources.LocalFile{", "sources.LocalFil{")
      assert.matches("flow.lua:" .. line_of(src, "LocalFil{") .. ": unknown source 'LocalFil'; sources: AmazonS3, AzureBlob, GoogleDrive, LocalFile, Postgres",
        err, 1, true)
      assert_intact()
    end)

    it("an unknown function names it and lists the functions", function()
      local err, src = bad_flow("functions.SplitRecursively{}", "functions.SplitRecursivly{}")
      assert.matches("flow.lua:" .. line_of(src, "SplitRecursivly") .. ": unknown function 'SplitRecursivly'",
        err, 1, true)
      assert.matches("; functions: [%w, ]*SplitRecursively", err)
      assert_intact()
    end)

    it("an unknown target names it and lists the targets", function()
      local err, src = bad_flow("targets.SQLite{", "targets.SQLit{")
      assert.matches("flow.lua:" .. line_of(src, "SQLit{") .. ": unknown target 'SQLit'; targets:", err, 1, true)
      assert.matches("; targets: [%w, ]*SQLite", err)
      assert_intact()
    end)

    it("a flow without any export names the flow file's line", function()
      local err = bad_flow('chunks:export("doc_chunks", targets.SQLite{ path = "index.sqlite" },\n'
        .. '    { primary_key_fields = { "filename", "location" } })', "")
      assert.matches("flow.lua:%d+: flow 'DocsIndex' has no export", err)
      assert_intact()
    end)
  end)

  describe("in the data", function()
    it("a source path that does not exist is named (flow changed)", function()
      local err = bad_flow('path = "docs"', 'path = "nope"')
      assert.matches("'nope'", err, 1, true)
      assert.matches(d .. "/nope", err, 1, true)
      assert.matches("does not exist", err, 1, true)
      assert_intact()
    end)

    it("a source directory that disappears fails the update instead of deleting every row", function()
      os.rename(d .. "/docs", d .. "/docs.away")
      local rc, out, err = H.coco(d, "update flow.lua")
      assert.are_not.equal(0, rc, out)
      assert_clear(err)
      assert.matches("'docs'", err, 1, true)
      assert.matches("does not exist", err, 1, true)
      assert.are.same(before, H.dump(d .. "/" .. DB, TBL))
      os.rename(d .. "/docs.away", d .. "/docs")
      assert_intact()
    end)

    it("an unreadable file is a row error naming it; other rows go on", function()
      local path = d .. "/docs/c.md"
      H.write(path, "# C\n\nsecret\n")
      H.write(d .. "/docs/b.txt", "Just text, changed.\n")
      os.execute("chmod 000 " .. H.q(path))
      local prefix = ""
      if io.open(path, "rb") then
        -- root reads through chmod 000 (CAP_DAC_OVERRIDE): run coco without
        -- those capabilities, still as root, so the file's modes apply
        prefix = "setpriv --bounding-set=-dac_override,-dac_read_search "
        local ok = H.sh(prefix .. "true 2>/dev/null")
        local readable = H.sh(prefix .. "cat " .. H.q(path) .. " >/dev/null 2>&1")
        if not ok or readable then
          os.execute("chmod 644 " .. H.q(path))
          pending("running as root: chmod cannot make a file unreadable")
          return
        end
      end
      local rc, out, err = H.run(d, prefix .. H.q(H.bin) .. " update flow.lua --json")
      assert.are_not.equal(0, rc, out)
      assert_clear(err)
      assert.matches("docs/c.md: cannot read: Permission denied", err, 1, true)
      local s = H.json_lines(out)[1]
      assert.are.equal(1, s.errors)
      assert.are.equal(1, s.updated)      -- b.txt changed: written despite c.md
      local rows = H.sql(d .. "/" .. DB, "SELECT filename, text FROM " .. TBL .. " ORDER BY filename")
      assert.are.same({ { filename = "a.md", text = "# A\n\nHello world." },
        { filename = "b.txt", text = "Just text, changed." } }, rows)
      -- retried on the next run, and indexed once readable
      os.execute("chmod 644 " .. H.q(path))
      rc, out, err = H.coco(d, "update flow.lua --json")
      assert.are.equal(0, rc, err)
      s = H.json_lines(out)[1]
      assert.are.equal(1, s.added)
      assert.are.equal(0, s.errors)
      assert.are.equal(3, #H.dump(d .. "/" .. DB, TBL))
    end)

    it("a non-UTF-8 file is read with U+FFFD and one warning naming it; exit 0", function()
      H.write(d .. "/docs/bad.md", "caf\233 \255\254 bad\n")
      H.write(d .. "/docs/new.md", "# New\n")
      local rc, out, err = H.coco(d, "update flow.lua --json")
      assert.are.equal(0, rc, err)
      assert_clear(err)
      assert.matches("docs/bad.md: not valid UTF-8 (first bad byte at 3); 3 invalid sequences replaced with U+FFFD",
        err, 1, true)
      local s = H.json_lines(out)[1]
      assert.are.same({ 2, 2, 1, 0 }, { s.added, s.unchanged, s.warnings, s.errors })
      assert.are.same({ { text = "caf\u{FFFD} \u{FFFD}\u{FFFD} bad" } },
        H.sql(d .. "/" .. DB, "SELECT text FROM " .. TBL .. " WHERE filename = 'bad.md'"))
      -- fixed: updated, no warning
      H.write(d .. "/docs/bad.md", "cafe bad\n")
      rc, out, err = H.coco(d, "update flow.lua --json")
      assert.are.equal(0, rc, err)
      s = H.json_lines(out)[1]
      assert.are.same({ 1, 0, 0 }, { s.updated, s.warnings, s.errors })
    end)

    it("decode_errors = \"strict\": a non-UTF-8 file is a row error naming it; the others are written; retried next run", function()
      local e = H.tmpdir()
      H.write(e .. "/flow.lua", H.edit(good, '"*.txt" }', '"*.txt" }, decode_errors = "strict"'))
      H.write(e .. "/docs/a.md", "# A\n")
      H.write(e .. "/docs/bad.txt", "\255\n")
      local rc, out, err = H.coco(e, "update flow.lua")
      assert.are.equal(1, rc, out)
      assert_clear(err)
      assert.matches("docs/bad.txt: not valid UTF-8 (byte 0); set binary = true to read it as bytes", err, 1, true)
      assert.matches("1 added", out, 1, true)
      assert.matches("1 errors", out, 1, true)
      assert.are.same({ { filename = "a.md" } },
        H.sql(e .. "/" .. DB, "SELECT DISTINCT filename FROM " .. TBL))
      -- the bad row is retried (and fails again) on the next run
      rc, out, err = H.coco(e, "update flow.lua")
      assert.are.equal(1, rc, out)
      assert.matches("docs/bad.txt: not valid UTF-8", err, 1, true)
      assert.matches("1 errors", out, 1, true)
      -- fixed: indexed
      H.write(e .. "/docs/bad.txt", "fine\n")
      rc, out, err = H.coco(e, "update flow.lua --json")
      assert.are.equal(0, rc, err)
      local s = H.json_lines(out)[1]
      assert.are.same({ 1, 0 }, { s.added, s.errors })
    end)

    it("decode_errors other than \"replace\" or \"strict\" is an error at the flow line", function()
      H.write(d .. "/flow.lua", H.edit(good, '"*.txt" }', '"*.txt" }, decode_errors = "ignore"'))
      local rc, _, err = H.coco(d, "update flow.lua")
      assert.are_not.equal(0, rc)
      assert_clear(err)
      assert.matches('flow.lua:' .. line_of(good, "flow:add_source") ..
        ': LocalFile: decode_errors must be "replace" or "strict" (got "ignore")', err, 1, true)
      assert.are.same(before, H.dump(d .. "/" .. DB, TBL))
    end)
  end)

  describe("in the target", function()
    it("a SQLite path in a missing directory is named (fresh project)", function()
      local e = H.tmpdir()
      H.write(e .. "/flow.lua", H.docs_flow{ db = "nodir/index.sqlite" })
      H.write(e .. "/docs/a.md", "# A\n")
      local rc, out, err = H.coco(e, "update flow.lua")
      assert.are_not.equal(0, rc, out)
      assert_clear(err)
      assert.matches(e .. "/nodir/index.sqlite", err, 1, true)
      assert.matches("does not exist", err, 1, true)
      -- nothing else broken: once the directory exists, it works
      H.mkdir(e .. "/nodir")
      rc, out, err = H.coco(e, "update flow.lua --json")
      assert.are.equal(0, rc, err)
      assert.are.equal(1, H.json_lines(out)[1].added)
      assert.are.equal(1, #H.dump(e .. "/nodir/index.sqlite", TBL))
    end)

    it("moving the target into a missing directory fails, even with -f, and keeps the old table", function()
      local err = bad_flow('path = "index.sqlite"', 'path = "nodir/index.sqlite"', "update flow.lua -f")
      assert.matches(d .. "/nodir/index.sqlite", err, 1, true)
      assert.matches("does not exist", err, 1, true)
      assert_intact()
    end)

    it("after a failed target move, rows of a file deleted meanwhile are still deleted", function()
      bad_flow('path = "index.sqlite"', 'path = "nodir/index.sqlite"', "update flow.lua -f")
      assert.are.same(before, H.dump(d .. "/" .. DB, TBL))
      H.write(d .. "/flow.lua", good)
      H.rm(d .. "/docs/b.txt")
      local rc, out, err = H.coco(d, "update flow.lua --json")
      assert.are.equal(0, rc, err)
      assert.are.equal(1, H.json_lines(out)[1].deleted, out)
      assert.are.same({ { filename = "a.md" } }, H.sql(d .. "/" .. DB, "SELECT DISTINCT filename FROM " .. TBL))
    end)
  end)

  describe("the state directory", function()
    local lock
    before_each(function() lock = d .. "/.coco/DocsIndex/coco.lock" end)

    local function wait_for(cond, what)
      for _ = 1, 1200 do                           -- a minute at most
        if cond() then return end
        sleep(0.05)
      end
      error("timed out waiting for " .. what)
    end

    local function kill(pid)
      os.execute("kill " .. pid .. " 2>/dev/null")
      wait_for(function() return not H.sh("kill -0 " .. pid .. " 2>/dev/null") end, "pid " .. pid .. " to exit")
    end

    local function assert_in_use(holder_pid)
      local rc, out, err = H.coco(d, "update flow.lua")
      assert.are_not.equal(0, rc, out)
      assert_clear(err)
      assert.matches("state directory " .. d .. "/.coco/DocsIndex is in use by another coco process", err, 1, true)
      if holder_pid then assert.matches("(pid " .. holder_pid .. ")", err, 1, true) end
      assert.is_nil(err:find("LOCK", 1, true), err)
      assert.is_nil(err:lower():find("rocksdb", 1, true), err)
      assert.is_nil(err:find("IO error", 1, true), err)
      assert.are.same(before, H.dump(d .. "/" .. DB, TBL))
    end

    it("held by another coco (a library process) is refused plainly", function()
      local ready = d .. "/holder.ready"
      H.write(d .. "/holder.lua", string.format([[
package.cpath = %q .. "/?.so;" .. package.cpath
local coco = require("coco")
local flow = assert(coco.load("flow.lua"))
assert(flow:setup())
io.open(%q, "w"):close()
local ffi = require("ffi")
ffi.cdef("int usleep(unsigned int)")
for _ = 1, 3000 do ffi.C.usleep(100000) end   -- until the spec kills it (5 minutes at most)
]], H.so_dir, ready))
      local p = io.popen(string.format("cd %s && luajit holder.lua >holder.log 2>&1 </dev/null & echo $!", H.q(d)))
      local pid = tonumber(p:read("*l"))
      p:close()
      local ok, e = pcall(function()
        wait_for(function() return H.read(ready) ~= nil end, "the holder to open the state")
        assert_in_use(pid)
      end)
      kill(pid)
      assert(ok, e)
      assert_intact()
    end)

    it("held with flock(1) on coco.lock is refused plainly", function()
      local pidfile = d .. "/flock.pid"
      os.remove(lock)   -- it holds the pid of the last coco; wait for the holder's
      os.execute(string.format("flock -x %s sh -c 'echo $$ > %s; exec sleep 300' >/dev/null 2>&1 </dev/null & echo $! > %s",
        H.q(lock), H.q(lock), H.q(pidfile)))
      local holder
      local ok, e = pcall(function()
        wait_for(function()
          holder = tonumber(H.read(lock) or "")
          return holder ~= nil
        end, "flock to hold coco.lock")
        assert_in_use(holder)
      end)
      if holder then kill(holder) end
      local fpid = tonumber(H.read(pidfile) or "")
      if fpid and H.sh("kill -0 " .. fpid .. " 2>/dev/null") then kill(fpid) end
      assert(ok, e)
      assert_intact()
    end)
  end)

  describe("on the command line", function()
    it("an unknown option is named, with the usage, exit 2", function()
      local rc, out, err = H.coco(d, "update flow.lua --bogus")
      assert.are.equal(2, rc)
      assert.matches("unknown option --bogus", err, 1, true)
      assert.matches("usage: coco", err, 1, true)
      assert.are.equal("", out)
      assert.are.same(before, H.dump(d .. "/" .. DB, TBL))
    end)

    it("an option that does not apply to the command is refused, exit 2", function()
      local rc, _, err = H.coco(d, "show flow.lua --json")
      assert.are.equal(2, rc)
      assert.matches("does not apply to 'show'", err, 1, true)
    end)

    it("an unknown command is named, exit 2", function()
      local rc, _, err = H.coco(d, "frobnicate flow.lua")
      assert.are.equal(2, rc)
      assert.matches("unknown command 'frobnicate'", err, 1, true)
    end)

    it("no arguments prints the usage, exit 2", function()
      local rc, out, err = H.coco(d, "")
      assert.are.equal(2, rc)
      assert.matches("usage: coco", err, 1, true)
      assert.are.equal("", out)
    end)

    it("a missing value for --state is named, exit 2", function()
      local rc, _, err = H.coco(d, "update flow.lua --state")
      assert.are.equal(2, rc)
      assert.matches("--state needs a value", err, 1, true)
    end)

    it("a flow file that does not exist is named", function()
      local rc, _, err = H.coco(d, "update nothere.lua")
      assert.are_not.equal(0, rc)
      assert_clear(err)
      assert.matches("nothere.lua", err, 1, true)
      assert.matches("No such file", err, 1, true)
    end)

    it("a flow file that returns no flow says so", function()
      H.write(d .. "/notaflow.lua", "return 42\n")
      local rc, _, err = H.coco(d, "update notaflow.lua")
      assert.are_not.equal(0, rc)
      assert_clear(err)
      assert.matches("notaflow.lua: the file must return a flow", err, 1, true)
    end)

    it("a runtime error in flow.lua (outside the DSL) names the line", function()
      local err, src = bad_flow("local chunks = scope:add_collector()",
        "local chunks = scope:add_collector()\n  local x = nil + 1")
      assert.matches("flow.lua:" .. line_of(src, "nil + 1") .. ":", err, 1, true)
      assert_intact()
    end)
  end)
end)
