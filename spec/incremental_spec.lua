-- The incremental semantics of DESIGN.md ("what must always hold"), rules
-- 1-5 and 7, checked on the real binary, real files and the real SQLite
-- target. Rule 6 (kill -9) is in crash_spec.lua.
--
-- How the specs see inside:
--   * `--json` stats (added, updated, deleted, unchanged, reprocessed, errors);
--   * a Lua function `Count` in the flow that appends every input it is
--     called with to the file named by $CALLS: calls = rows processed
--     (non-cached) or cache misses (cached);
--   * SQLite triggers installed in the target database after the first run,
--     logging every INSERT / UPDATE / DELETE coco makes on the target table;
--   * a from-scratch build (fresh directory, fresh state) of the same files
--     and flow, compared row by row with the incremental target.
local H = require("spec.helpers")

local TBL = "DocsIndex__doc_chunks"

-- ---- fixtures -------------------------------------------------------------

-- Paragraphs of 200 characters, distinct per tag: with chunk_size = 300,
-- each paragraph is one chunk.
local para, doc = H.para, H.doc

-- A second source, notes/, feeding the same collector through Count
-- (H.count_flow's extra).
local function notes_source(chunk_size)
  return string.format([[
  scope.notes = flow:add_source(sources.LocalFile{ path = "notes" })
  scope.notes:row(function(note)
    note.chunks = note.content:transform(functions.SplitRecursively{},
      { language = "markdown", chunk_size = %d, chunk_overlap = 0 })
    note.chunks:row(function(chunk)
      chunk.upper = chunk.text:transform(Count)
      chunks:collect{ filename = note.filename, location = chunk.location,
                      text = chunk.text, upper = chunk.upper }
    end)
  end)]], chunk_size)
end

local function calls_path(d) return d .. "/calls.log" end

-- The calls logged since the last take_calls (and forget them).
local function take_calls(d) return H.take_lines(calls_path(d)) end

-- Run `coco update --json` in d. Returns rc, stats by source name, stderr.
local function update(d, args, env)
  env = env or {}
  env.CALLS = env.CALLS or calls_path(d)
  local rc, out, err = H.coco(d, "update flow.lua --json " .. (args or ""), env)
  local by = {}
  for _, s in ipairs(H.json_lines(out)) do by[s.source] = s end
  return rc, by, err
end

-- update and insist it succeeded; returns the stats of source "documents".
local function ok_update(d, args, env)
  local rc, by, err = update(d, args, env)
  assert.are.equal(0, rc, "coco failed: " .. tostring(err))
  assert.is_truthy(by.documents, "no --json stats for source documents")
  return by.documents, by
end

local stamp_clock = 1700000000
-- Give a file a new, unique mtime: content changes of equal size within one
-- timestamp tick would otherwise be invisible by design (rule 2).
local function stamp(path)
  stamp_clock = stamp_clock + 10
  assert(H.sh("touch -d @" .. stamp_clock .. " " .. H.q(path)))
end

local function set_mtime(path, t) assert(H.sh("touch -d @" .. t .. " " .. H.q(path))) end

local function rewrite(d, name, content)
  H.write(d .. "/docs/" .. name, content)
  stamp(d .. "/docs/" .. name)
end

-- The target of a from-scratch build: same source folders (docs, notes),
-- same flow text, fresh directory and state.
local function scratch(d, tbl)
  local f = H.tmpdir()
  for _, sub in ipairs({ "docs", "notes" }) do
    if H.sh("test -d " .. H.q(d .. "/" .. sub)) then
      assert(H.sh("cp -a " .. H.q(d .. "/" .. sub) .. " " .. H.q(f .. "/" .. sub)))
    end
  end
  H.write(f .. "/flow.lua", H.read(d .. "/flow.lua"))
  local rc, _, err = H.coco(f, "update flow.lua -q")
  assert.are.equal(0, rc, "from-scratch build failed: " .. tostring(err))
  return H.dump(f .. "/index.sqlite", tbl or TBL)
end

local function assert_as_scratch(d, tbl)
  local want = scratch(d, tbl)
  local got = H.dump(d .. "/index.sqlite", tbl or TBL)
  assert.are.same(want, got)
  return got
end

local function rows_of(d, where)
  return H.sql(d .. "/index.sqlite", "SELECT filename, location, text FROM " .. TBL
    .. (where and (" WHERE " .. where) or "") .. " ORDER BY filename, location")
end

local function count(d, where)
  return H.sql(d .. "/index.sqlite", "SELECT count(*) AS n FROM " .. TBL
    .. (where and (" WHERE " .. where) or ""))[1].n
end

-- Log every write on the target table (installed after the first run).
local function install_write_log(d, tbl)
  tbl = tbl or TBL
  H.sql(d .. "/index.sqlite", string.format([[
CREATE TABLE wlog(seq INTEGER PRIMARY KEY, op TEXT, filename TEXT, location TEXT);
CREATE TRIGGER wlog_i AFTER INSERT ON "%s" BEGIN
  INSERT INTO wlog(op, filename, location) VALUES ('I', NEW.filename, NEW.location); END;
CREATE TRIGGER wlog_u AFTER UPDATE ON "%s" BEGIN
  INSERT INTO wlog(op, filename, location) VALUES ('U', NEW.filename, NEW.location); END;
CREATE TRIGGER wlog_d AFTER DELETE ON "%s" BEGIN
  INSERT INTO wlog(op, filename, location) VALUES ('D', OLD.filename, OLD.location); END;
]], tbl, tbl, tbl))
end

-- The writes logged since the last call, as sorted "op filename location".
local function take_writes(d)
  local rows = H.sql(d .. "/index.sqlite", "SELECT op, filename, location FROM wlog")
  H.sql(d .. "/index.sqlite", "DELETE FROM wlog")
  local out = {}
  for i, r in ipairs(rows) do out[i] = r.op .. " " .. r.filename .. " " .. r.location end
  table.sort(out)
  return out
end

local function locations(d, file)
  local out = {}
  for _, r in ipairs(rows_of(d, "filename = '" .. file .. "'")) do out[#out + 1] = r.location end
  return out
end

-- ---------------------------------------------------------------------------
describe("rule 1: after any update the target equals a from-scratch run", function()
  after_each(H.cleanup)

  it("holds through adds, edits, shrinking, emptying, deletes, renames and a flow change", function()
    local d = H.docs_dir(H.docs_flow{ chunk_size = 300 }, {
      ["a.md"] = doc("a1", "a2", "a3", "a4"),
      ["b.md"] = doc("b1", "b2"),
      ["sub/c.md"] = doc("c1", "c2", "c3"),
      ["d.txt"] = doc("d1"),
      ["skip.rst"] = doc("x1"),
    })
    local function step(args)
      local rc, _, err = H.coco(d, "update flow.lua -q " .. (args or ""))
      assert.are.equal(0, rc, err)
      return assert_as_scratch(d)
    end
    local rows = step()
    assert.are.equal(10, #rows)
    assert.are.equal(0, count(d, "filename = 'skip.rst'"))

    -- add files
    H.write(d .. "/docs/e.md", doc("e1", "e2"))
    H.write(d .. "/docs/sub/deeper/f.md", doc("f1"))
    assert.are.equal(13, #step())

    -- grow one file, shrink another (stale chunks must go), edit one in place
    rewrite(d, "a.md", doc("a1", "a2"))
    rewrite(d, "b.md", doc("b1", "b2", "b3", "b4", "b5"))
    rewrite(d, "d.txt", doc("D1"))
    assert.are.equal(14, #step())
    assert.are.equal(2, count(d, "filename = 'a.md'"))

    -- a file that becomes empty produces no rows
    rewrite(d, "e.md", "")
    assert.are.equal(12, #step())

    -- delete, rename (file and directory)
    H.rm(d .. "/docs/d.txt")
    assert(H.sh("mv " .. H.q(d .. "/docs/b.md") .. " " .. H.q(d .. "/docs/b2.md")))
    assert(H.sh("mv " .. H.q(d .. "/docs/sub") .. " " .. H.q(d .. "/docs/moved")))
    rows = step()
    assert.are.equal(11, #rows)
    assert.are.equal(0, count(d, "filename = 'b.md' OR filename GLOB 'sub/*'"))

    -- change the flow: other chunk size
    H.write(d .. "/flow.lua", H.docs_flow{ chunk_size = 450 })
    rows = step()
    assert.is_true(#rows < 11)   -- two paragraphs now fit in one chunk

    -- change the flow: a pattern no longer lists the .txt files
    H.write(d .. "/docs/g.txt", doc("g1"))
    step()
    assert.are.equal(1, count(d, "filename = 'g.txt'"))
    local f, n = H.docs_flow{ chunk_size = 450 }:gsub('{ "%*%.md", "%*%.txt" }', '{ "*.md" }')
    assert.are.equal(1, n)
    H.write(d .. "/flow.lua", f)
    step()
    assert.are.equal(0, count(d, "filename = 'g.txt'"))

    -- remove all files
    assert(H.sh("rm -rf " .. H.q(d .. "/docs") .. "/*"))
    assert.are.same({}, step())
  end)

  it("holds across target schema changes (a new field; a new key, applied with -f)", function()
    local base = H.docs_flow{ chunk_size = 300 }
    local d = H.docs_dir(base, { ["a.md"] = doc("a1", "a2"), ["b.md"] = doc("b1") })
    local rc, _, err = H.coco(d, "update flow.lua -q")
    assert.are.equal(0, rc, err)
    local with_len, n = base:gsub("text = chunk%.text }",
      'text = chunk.text, len = chunk.text:transform(coco.fn("Len", { returns = "int64" }, function(s) return #s end)) }')
    assert.are.equal(1, n)
    H.write(d .. "/flow.lua", with_len)
    rewrite(d, "a.md", doc("a1", "a3"))
    rc, _, err = H.coco(d, "update flow.lua -q")
    assert.are.equal(0, rc, err)
    assert.are.equal(3, count(d, "len = 200"))
    assert_as_scratch(d)

    local rekeyed
    rekeyed, n = with_len:gsub('primary_key_fields = { "filename", "location" }',
      'primary_key_fields = { "filename", "location", "len" }')
    assert.are.equal(1, n)
    H.write(d .. "/flow.lua", rekeyed)
    H.write(d .. "/docs/c.md", doc("c1", "c2"))
    rc, _, err = H.coco(d, "update flow.lua -q")      -- drops the table: refused without -f
    assert.are.equal(1, rc)
    assert.is_truthy(err:find("-f", 1, true), err)
    assert.are.equal(3, count(d))
    rc, _, err = H.coco(d, "update flow.lua -q -f")
    assert.are.equal(0, rc, err)
    assert.are.equal(5, #assert_as_scratch(d))
  end)

  it("holds when a source leaves the flow (its rows leave the shared target)", function()
    local two = H.count_flow{ extra = notes_source(300) }
    local d = H.docs_dir(two, { ["a.md"] = doc("a1", "a2") })
    H.write(d .. "/notes/n.txt", doc("n1", "n2", "n3"))
    local _, by = ok_update(d)
    assert.are.equal(1, by.notes.added)
    assert.are.equal(5, count(d))
    H.write(d .. "/flow.lua", H.count_flow())
    ok_update(d)
    assert.are.equal(0, count(d, "filename = 'n.txt'"))
    assert.are.equal(2, #assert_as_scratch(d))
  end)
end)

-- ---------------------------------------------------------------------------
describe("rule 2: unchanged rows are neither read nor processed", function()
  after_each(H.cleanup)

  it("does not read a file whose mtime and size are unchanged", function()
    local d = H.docs_dir(H.count_flow{ cache = false }, { ["a.md"] = "hello aaaa\n", ["b.md"] = "other\n" })
    set_mtime(d .. "/docs/a.md", 1600000000)
    assert.are.equal(2, ok_update(d).added)
    take_calls(d)

    -- same size, same mtime, other content: coco must not look
    H.write(d .. "/docs/a.md", "hello bbbb\n")
    set_mtime(d .. "/docs/a.md", 1600000000)
    local s = ok_update(d)
    assert.are.equal(2, s.unchanged)
    assert.are.equal(0, s.updated + s.reprocessed + s.added)
    assert.are.same({}, take_calls(d))
    assert.are.same({ { filename = "a.md", location = "[0,10]", text = "hello aaaa" } },
      rows_of(d, "filename = 'a.md'"))

    -- a new mtime: now it is read, and the new content lands
    set_mtime(d .. "/docs/a.md", 1600000005)
    s = ok_update(d)
    assert.are.equal(1, s.updated)
    assert.are.equal(1, s.unchanged)
    assert.are.same({ "hello bbbb" }, take_calls(d))
    assert.are.same({ { filename = "a.md", location = "[0,10]", text = "hello bbbb" } },
      rows_of(d, "filename = 'a.md'"))
  end)

  it("does not process a touched file whose content is unchanged, and remembers its new ordinal", function()
    local d = H.docs_dir(H.count_flow{ cache = false }, { ["a.md"] = doc("a1", "a2"), ["b.md"] = doc("b1") })
    ok_update(d)
    assert.are.equal(3, #take_calls(d))
    install_write_log(d)

    set_mtime(d .. "/docs/a.md", 1600000100)
    local s = ok_update(d)
    assert.are.equal(2, s.unchanged)
    assert.are.equal(0, s.updated + s.reprocessed + s.added + s.deleted)
    assert.are.same({}, take_calls(d))     -- not processed: the function never ran
    assert.are.same({}, take_writes(d))    -- and the target was not touched

    -- the touched ordinal was recorded: a same-size edit with that mtime is not read
    H.write(d .. "/docs/a.md", doc("A1", "A2"))
    set_mtime(d .. "/docs/a.md", 1600000100)
    s = ok_update(d)
    assert.are.equal(2, s.unchanged)
    assert.are.same({}, take_calls(d))
    assert.are.equal(0, count(d, "text GLOB 'A1*'"))
  end)

  it("processes a row whose content changed even when its size did not", function()
    local d = H.docs_dir(H.count_flow{ cache = false }, { ["a.md"] = doc("a1", "a2") })
    ok_update(d)
    take_calls(d)
    rewrite(d, "a.md", doc("a1", "z2"))
    local s = ok_update(d)
    assert.are.equal(1, s.updated)
    assert.are.equal(2, #take_calls(d))   -- the whole row is evaluated again
    assert.are.equal(1, count(d, "text GLOB 'z2*'"))
    assert.are.equal(0, count(d, "text GLOB 'a2*'"))
  end)
end)

-- ---------------------------------------------------------------------------
describe("rule 3: a changed row rewrites only the target rows that changed", function()
  after_each(H.cleanup)

  local d
  before_each(function()
    d = H.docs_dir(H.count_flow(), {
      ["a.md"] = doc("a1", "a2", "a3", "a4", "a5"),
      ["b.md"] = doc("b1", "b2", "b3"),
    })
    ok_update(d)
    assert.are.equal(8, count(d))
    install_write_log(d)
  end)

  it("writes nothing when nothing changed", function()
    local s = ok_update(d)
    assert.are.equal(2, s.unchanged)
    assert.are.same({}, take_writes(d))
  end)

  it("updates exactly the one chunk whose text changed", function()
    local loc = locations(d, "a.md")
    rewrite(d, "a.md", doc("a1", "a2", "XX", "a4", "a5"))   -- same length, same locations
    local s = ok_update(d)
    assert.are.equal(1, s.updated)
    assert.are.equal(1, s.unchanged)
    assert.are.same({ "U a.md " .. loc[3] }, take_writes(d))
    assert.are.equal(1, count(d, "text GLOB 'XX*' AND upper GLOB 'XX LOREM*'"))
    assert_as_scratch(d)
  end)

  it("deletes exactly the chunks a shrunk row no longer produces", function()
    local loc = locations(d, "a.md")
    rewrite(d, "a.md", doc("a1", "a2", "a3"))
    ok_update(d)
    assert.are.same({ "D a.md " .. loc[4], "D a.md " .. loc[5] }, take_writes(d))
    assert_as_scratch(d)
  end)

  it("inserts exactly the chunks a grown row adds", function()
    rewrite(d, "b.md", doc("b1", "b2", "b3", "b4"))
    ok_update(d)
    local loc = locations(d, "b.md")
    assert.are.equal(4, #loc)
    assert.are.same({ "I b.md " .. loc[4] }, take_writes(d))
    assert_as_scratch(d)
  end)

  it("deletes exactly a deleted file's rows", function()
    local loc = locations(d, "b.md")
    H.rm(d .. "/docs/b.md")
    local s = ok_update(d)
    assert.are.equal(1, s.deleted)
    assert.are.same({ "D b.md " .. loc[1], "D b.md " .. loc[2], "D b.md " .. loc[3] }, take_writes(d))
  end)

  it("moves a renamed file's rows and touches no other", function()
    local loc = locations(d, "b.md")
    assert(H.sh("mv " .. H.q(d .. "/docs/b.md") .. " " .. H.q(d .. "/docs/c.md")))
    ok_update(d)
    local want = {}
    for _, l in ipairs(loc) do
      want[#want + 1] = "D b.md " .. l
      want[#want + 1] = "I c.md " .. l
    end
    table.sort(want)
    assert.are.same(want, take_writes(d))
    assert_as_scratch(d)
  end)
end)

-- ---------------------------------------------------------------------------
describe("rule 4: a flow change re-processes exactly the rows whose outputs can change", function()
  after_each(H.cleanup)

  local files = { ["a.md"] = doc("a1", "a2", "a3", "a4"), ["b.md"] = doc("b1", "b2"), ["c.txt"] = doc("c1") }

  it("re-processes every row when the chunk size changes, then nothing on a re-run", function()
    local d = H.docs_dir(H.count_flow{ cache = false }, files)
    ok_update(d)
    assert.are.equal(7, #take_calls(d))
    H.write(d .. "/flow.lua", H.count_flow{ cache = false, chunk_size = 450 })
    local s = ok_update(d)
    assert.are.equal(3, s.reprocessed)
    assert.are.equal(0, s.unchanged + s.added + s.updated)
    -- a1+a2, a3+a4, b1+b2, c1
    assert.are.equal(4, #take_calls(d))
    assert.are.equal(4, #assert_as_scratch(d))
    s = ok_update(d)
    assert.are.equal(3, s.unchanged)
    assert.are.equal(0, s.reprocessed)
    assert.are.same({}, take_calls(d))
  end)

  it("re-runs a cached function for every row when its version changes, writing only changed values", function()
    local d = H.docs_dir(H.count_flow{ version = 1 }, files)
    ok_update(d)
    assert.are.equal(7, #take_calls(d))
    install_write_log(d)
    H.write(d .. "/flow.lua", H.count_flow{ version = 2 })
    local s = ok_update(d)
    assert.are.equal(3, s.reprocessed)
    assert.are.equal(7, #take_calls(d))
    assert.are.same({}, take_writes(d))   -- same outputs: nothing to write

    -- a new version whose output differs: every row rewritten, in place
    H.write(d .. "/flow.lua", H.count_flow{ version = 3, body = "text:lower()" })
    s = ok_update(d)
    assert.are.equal(3, s.reprocessed)
    assert.are.equal(7, #take_calls(d))
    local w = take_writes(d)
    assert.are.equal(7, #w)
    for _, x in ipairs(w) do assert.are.equal("U", x:sub(1, 1)) end
    assert.are.equal(7, count(d, "upper = lower(text)"))
    assert_as_scratch(d)
  end)

  it("re-processes rows when the code of a non-cached function changes", function()
    local d = H.docs_dir(H.count_flow{ cache = false }, files)
    ok_update(d)
    take_calls(d)
    H.write(d .. "/flow.lua", H.count_flow{ cache = false, body = "text:lower()" })
    local s = ok_update(d)
    assert.are.equal(3, s.reprocessed)
    assert.are.equal(7, #take_calls(d))
    assert.are.equal(7, count(d, "upper = lower(text)"))
    assert_as_scratch(d)
  end)

  it("re-processes nothing when an unrelated source and export are added", function()
    local d = H.docs_dir(H.count_flow{ cache = false }, files)
    ok_update(d)
    take_calls(d)
    H.write(d .. "/notes/n.txt", "a note\n")
    H.write(d .. "/flow.lua", H.count_flow{ cache = false, extra = [[
  scope.notes = flow:add_source(sources.LocalFile{ path = "notes" })
  local notes = scope:add_collector()
  scope.notes:row(function(note)
    notes:collect{ filename = note.filename, content = note.content }
  end)
  notes:export("notes", targets.SQLite{ path = "index.sqlite" },
    { primary_key_fields = { "filename" } })]] })
    local s, by = ok_update(d)
    assert.are.equal(3, s.unchanged)
    assert.are.equal(0, s.reprocessed + s.updated + s.added)
    assert.are.same({}, take_calls(d))
    assert.are.equal(1, by.notes.added)
    assert.are.same({ { filename = "n.txt", content = "a note\n" } },
      H.sql(d .. "/index.sqlite", "SELECT * FROM DocsIndex__notes"))
  end)

  it("does not re-process a source when only another source feeding the same collector changes", function()
    local function two(notes_chunk)
      return H.count_flow{ cache = false, extra = notes_source(notes_chunk) }
    end
    local d = H.docs_dir(two(300), files)
    H.write(d .. "/notes/n.txt", doc("n1", "n2"))
    ok_update(d)
    assert.are.equal(9, #take_calls(d))
    H.write(d .. "/flow.lua", two(450))
    local s, by = ok_update(d)
    assert.are.equal(1, by.notes.reprocessed)
    assert.are.equal(1, #take_calls(d))      -- only n1+n2, once
    assert.are.equal(3, s.unchanged)         -- documents: nothing of theirs changed
    assert.are.equal(0, s.reprocessed)
    assert_as_scratch(d)
  end)
end)

-- ---------------------------------------------------------------------------
describe("rule 5: a cached function is never called twice for the same input", function()
  after_each(H.cleanup)

  it("across runs: only new inputs are computed", function()
    local d = H.docs_dir(H.count_flow(), { ["a.md"] = doc("a1", "a2") })
    ok_update(d)
    assert.are.same({ para("a1"), para("a2") }, take_calls(d))
    rewrite(d, "a.md", doc("a1", "a2", "a3"))
    H.write(d .. "/docs/b.md", doc("b1"))
    local s = ok_update(d)
    assert.are.equal(1, s.updated)
    assert.are.equal(1, s.added)
    local c = take_calls(d)
    table.sort(c)
    assert.are.same({ para("a3"), para("b1") }, c)
    ok_update(d, "--reexport")
    assert.are.same({}, take_calls(d))
  end)

  it("across rows: identical chunks in different files (or the same file) are computed once", function()
    local d = H.docs_dir(H.count_flow(), {
      ["a.md"] = doc("s1", "s2", "a1"),
      ["b.md"] = doc("s1", "s2", "a1"),
      ["c.md"] = doc("s2", "c1", "s2"),
    })
    local s = ok_update(d)
    assert.are.equal(3, s.added)
    local c = take_calls(d)
    table.sort(c)
    assert.are.same({ para("a1"), para("c1"), para("s1"), para("s2") }, c)
    assert.are.equal(9, count(d))
    assert.are.equal(9, count(d, "upper = upper(text)"))
  end)

  it("after a rename: no call at all", function()
    local d = H.docs_dir(H.count_flow(), { ["a.md"] = doc("a1", "a2", "a3"), ["b.md"] = doc("b1") })
    ok_update(d)
    assert.are.equal(4, #take_calls(d))
    assert(H.sh("mv " .. H.q(d .. "/docs/a.md") .. " " .. H.q(d .. "/docs/c.md")))
    local s = ok_update(d)
    assert.are.equal(1, s.added)
    assert.are.equal(1, s.deleted)
    assert.are.same({}, take_calls(d))
    assert.are.equal(3, count(d, "filename = 'c.md' AND upper = upper(text)"))
    assert.are.equal(0, count(d, "filename = 'a.md'"))
  end)

  it("on --full-reprocess: rows are re-evaluated, the function is not called", function()
    local d = H.docs_dir(H.count_flow(), { ["a.md"] = doc("a1", "a2"), ["b.md"] = doc("b1") })
    ok_update(d)
    assert.are.equal(3, #take_calls(d))
    local s = ok_update(d, "--full-reprocess")
    assert.are.equal(2, s.reprocessed)
    assert.are.same({}, take_calls(d))
    assert_as_scratch(d)
  end)

  it("going back to an earlier version reuses that version's results", function()
    local d = H.docs_dir(H.count_flow{ version = 1 }, { ["a.md"] = doc("a1", "a2") })
    ok_update(d)
    assert.are.equal(2, #take_calls(d))
    H.write(d .. "/flow.lua", H.count_flow{ version = 2 })
    ok_update(d)
    assert.are.equal(2, #take_calls(d))
    H.write(d .. "/flow.lua", H.count_flow{ version = 1 })
    local s = ok_update(d)
    assert.are.equal(1, s.reprocessed)
    assert.are.same({}, take_calls(d))
  end)

  it("coco evaluate reuses the cache that updates filled", function()
    local d = H.docs_dir(H.count_flow(), { ["a.md"] = doc("a1", "a2") })
    ok_update(d)
    assert.are.equal(2, #take_calls(d))
    local rc, _, err = H.coco(d, "evaluate flow.lua -q -o " .. H.q(d .. "/eval"), { CALLS = calls_path(d) })
    assert.are.equal(0, rc, err)
    assert.are.same({}, take_calls(d))
    assert.is_truthy((H.read(d .. "/eval/doc_chunks.jsonl") or ""):find("A1 LOREM", 1, true))
  end)
end)

-- ---------------------------------------------------------------------------
describe("rule 7: a bad row is counted and reported, the others go on, it is retried", function()
  after_each(H.cleanup)
  -- text that is not UTF-8 is a row error with decode_errors = "strict" (by
  -- default it is read with U+FFFD and a warning: spec/text_decode_spec.lua)
  local STRICT = { lf = 'decode_errors = "strict"' }

  it("a file that is not UTF-8 (strict): error counted, exit status 1, others written; fixed file added next run", function()
    local d = H.docs_dir(H.count_flow(STRICT), {
      ["a.md"] = doc("a1"), ["bad.md"] = "ok so far \xff\xfe then junk\n", ["c.md"] = doc("c1", "c2"),
    })
    local rc, by, err = update(d)
    assert.are.equal(1, rc)
    local s = by.documents
    assert.are.equal(1, s.errors)
    assert.are.equal(2, s.added)
    assert.is_truthy(err:find("bad.md", 1, true), err)
    assert.is_truthy(err:find("UTF-8", 1, true), err)
    assert.are.equal(3, count(d))
    assert.are.equal(0, count(d, "filename = 'bad.md'"))

    -- not fixed: retried, and still an error (not silently "unchanged")
    rc, by, err = update(d)
    assert.are.equal(1, rc)
    assert.are.equal(1, by.documents.errors)
    assert.are.equal(2, by.documents.unchanged)
    assert.is_truthy(err:find("bad.md", 1, true), err)

    rewrite(d, "bad.md", doc("fixed"))
    s = ok_update(d)
    assert.are.equal(0, s.errors)
    assert.are.equal(1, s.added)
    assert.are.equal(1, count(d, "filename = 'bad.md'"))
    assert_as_scratch(d)
  end)

  it("a good file turned bad (not UTF-8, strict) keeps its old rows until it is fixed", function()
    local d = H.docs_dir(H.count_flow(STRICT), { ["a.md"] = doc("a1", "a2"), ["b.md"] = doc("b1") })
    ok_update(d)
    local before = rows_of(d, "filename = 'a.md'")
    assert.are.equal(2, #before)
    rewrite(d, "a.md", doc("a1") .. "\n\n\xc3\x28 broken\n")
    H.write(d .. "/docs/b.md", doc("b1", "b2"))
    local rc, by, err = update(d)
    assert.are.equal(1, rc)
    assert.are.equal(1, by.documents.errors)
    assert.are.equal(1, by.documents.updated)   -- b.md went on
    assert.is_truthy(err:find("a.md", 1, true), err)
    assert.are.same(before, rows_of(d, "filename = 'a.md'"))
    assert.are.equal(2, count(d, "filename = 'b.md'"))

    rewrite(d, "a.md", doc("a1", "a3", "a4"))
    local s = ok_update(d)
    assert.are.equal(1, s.updated)
    assert.are.equal(0, s.errors)
    assert_as_scratch(d)
  end)

  it("a function error fails only its row, keeps that row's old output, and is retried without any file change", function()
    local d = H.docs_dir(H.count_flow(), { ["a.md"] = doc("a1"), ["b.md"] = doc("b1") })
    ok_update(d)
    take_calls(d)
    local b_before = rows_of(d, "filename = 'b.md'")
    assert.are.equal(1, #b_before)
    -- b changes and its new chunk makes the function fail; c is new and fails too
    rewrite(d, "b.md", doc("b1", "boom2"))
    H.write(d .. "/docs/c.md", doc("c1", "boom3"))
    H.write(d .. "/docs/e.md", doc("e1"))
    local rc, by, err = update(d, "", { FAIL_ON = "boom" })
    assert.are.equal(1, rc)
    local s = by.documents
    assert.are.equal(2, s.errors)
    assert.are.equal(1, s.added)      -- e.md
    assert.are.equal(1, s.unchanged)  -- a.md
    assert.is_truthy(err:find("b.md", 1, true), err)
    assert.is_truthy(err:find("c.md", 1, true), err)
    assert.is_truthy(err:find("Count refuses boom", 1, true), err)
    assert.are.same(b_before, rows_of(d, "filename = 'b.md'"))
    assert.are.equal(0, count(d, "filename = 'c.md'"))
    assert.are.equal(1, count(d, "filename = 'e.md'"))
    take_calls(d)

    -- next run, same files, the function works now: both rows are retried
    s = ok_update(d)
    assert.are.equal(0, s.errors)
    assert.are.equal(1, s.updated)
    assert.are.equal(1, s.added)
    local c = take_calls(d)
    table.sort(c)
    -- failures were not cached; successes were (b1, c1 are not computed again)
    assert.are.same({ para("boom2"), para("boom3") }, c)
    assert_as_scratch(d)
  end)
end)
