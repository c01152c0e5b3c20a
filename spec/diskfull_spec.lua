-- A full disk is a message, not a crash: the state directory, the target and
-- evaluate's output on a full file system give "coco: ...: no space left on
-- device (...)", a non-zero exit, nothing lost, and the next run after
-- space is freed converges to what a run from scratch writes. Each case
-- mounts a small tmpfs (root only: otherwise pending).
local H = require("spec.helpers")

local NFILES = 300

local function flow(db)
  return H.docs_flow({ db = db }):gsub('included_patterns = { "%*.md", "%*.txt" }', 'included_patterns = { "*.md" }')
end

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"rc=$?\"")
  local out = p:read("*a")
  p:close()
  return tonumber(out:match("rc=(%d+)%s*$")), out
end

-- Fills dir's file system so that about free_kb KB are left.
local function fill(dir, free_kb)
  sh("rm -f " .. H.q(dir .. "/fill"))
  local _, out = sh("df -k --output=avail " .. H.q(dir) .. " | tail -1")
  local avail = tonumber(out:match("(%d+)"))
  if avail > free_kb then
    sh(string.format("dd if=/dev/zero of=%s bs=1k count=%d", H.q(dir .. "/fill"), avail - free_kb))
  end
end

describe("a full disk", function()
  local d, mnt, mounted, why

  before_each(function()
    d = H.tmpdir()
    mnt = d .. "/small"
    H.mkdir(mnt)
    local rc, out = sh("mount -t tmpfs -o size=8m tmpfs " .. H.q(mnt))
    mounted, why = rc == 0, out
    -- ~1.6 MB of text in NFILES files, made the same way on every run
    H.mkdir(d .. "/docs")
    sh(string.format("cd %s && for i in $(seq 1 %d); do yes \"line $i of a document that fills the disk\" | head -c 5000 > docs/f$i.md; done",
      H.q(d), NFILES))
  end)
  after_each(function()
    if mounted then sh("umount -l " .. H.q(mnt)) end
    H.cleanup()
  end)

  local function ready()
    if not mounted then pending("cannot mount a tmpfs (needs root): " .. tostring(why)) end
    return mounted
  end

  -- The rows a run from scratch writes (in a directory of its own).
  local function reference()
    local r = H.tmpdir()
    sh(string.format("cp -r %s %s", H.q(d .. "/docs"), H.q(r .. "/docs")))
    H.write(r .. "/flow.lua", flow("index.sqlite"))
    local rc, _, err = H.coco(r, "update flow.lua -q")
    assert.are.equal(0, rc, err)
    return H.dump(r .. "/index.sqlite", "DocsIndex__doc_chunks")
  end

  -- A failed run: a clear message, no crash.
  local function assert_nospace(rc, err)
    assert.are.equal(1, rc, "exit status " .. tostring(rc) .. ": " .. err)
    assert.matches("^coco: .*: no space left on device %(.*%)\n", err)
    assert.is_nil(err:find("Assertion", 1, true), err)
    assert.is_nil(err:find("traceback", 1, true), err)
  end

  it("the state directory full before the run, at several levels", function()
    if not ready() then return end
    H.write(d .. "/flow.lua", flow("index.sqlite"))
    local want = reference()
    local failed = 0
    for _, free in ipairs({ 0, 8, 24, 48, 100, 200 }) do
      H.rm(mnt .. "/state")
      fill(mnt, free)
      local rc, _, err = H.coco(d, "update flow.lua -q --state " .. H.q(mnt .. "/state"))
      if rc ~= 0 then
        assert_nospace(rc, err)
        failed = failed + 1
      end
      -- space again: the next run converges
      H.rm(mnt .. "/fill")
      rc, _, err = H.coco(d, "update flow.lua -q --state " .. H.q(mnt .. "/state"))
      assert.are.equal(0, rc, err)
      assert.are.same(want, H.dump(d .. "/index.sqlite", "DocsIndex__doc_chunks"))
    end
    assert.is_true(failed >= 3, "expected most levels to fail, " .. failed .. " did")
  end)

  -- RocksDB's open writes its info LOG's header lines whatever the level;
  -- on a full disk the first failed and the second asserted (SIGABRT in
  -- Debian's librocksdb, every time on a disk full to the last byte). coco
  -- gives RocksDB a logger that writes nothing: no LOG file at all.
  it("an existing state directory on a disk full to the last byte", function()
    if not ready() then return end
    H.write(d .. "/flow.lua", flow("index.sqlite"))
    local want = reference()
    local state = H.q(mnt .. "/state")
    local rc, _, err = H.coco(d, "update flow.lua -q --state " .. state)
    assert.are.equal(0, rc, err)
    for _, free in ipairs({ 0, 8, 24 }) do
      fill(mnt, free)
      rc, _, err = H.coco(d, "update flow.lua -q --full-reprocess --state " .. state)
      if rc ~= 0 then assert_nospace(rc, err) end
      H.rm(mnt .. "/fill")
      rc, _, err = H.coco(d, "update flow.lua -q --state " .. state)
      assert.are.equal(0, rc, err)
      assert.are.same(want, H.dump(d .. "/index.sqlite", "DocsIndex__doc_chunks"))
    end
    local _, ls = sh("ls " .. state .. "/DocsIndex")
    assert.is_nil(ls:find("LOG", 1, true), ls)
  end)

  it("the state directory filling up during a run; nothing lost, then it converges", function()
    if not ready() then return end
    H.write(d .. "/flow.lua", flow("index.sqlite"))
    local want = reference()
    fill(mnt, 400)             -- the run's state (~1 MB of WAL) does not fit
    local state = H.q(mnt .. "/state")
    local rc, _, err = H.coco(d, "update flow.lua -q --state " .. state)
    assert_nospace(rc, err)
    -- still full: a second run fails the same way and loses nothing
    rc, _, err = H.coco(d, "update flow.lua -q --state " .. state)
    assert_nospace(rc, err)
    H.rm(mnt .. "/fill")
    rc, _, err = H.coco(d, "update flow.lua -q --state " .. state)
    assert.are.equal(0, rc, err)
    assert.are.same(want, H.dump(d .. "/index.sqlite", "DocsIndex__doc_chunks"))
    local out
    rc, out = H.coco(d, "update flow.lua --json --state " .. state)
    assert.are.equal(NFILES, H.json_lines(out)[1].unchanged, out)
  end)

  it("the disk filled by another process while coco runs", function()
    if not ready() then return end
    H.write(d .. "/flow.lua", flow(mnt .. "/index.sqlite"))
    local want = reference()
    local state = H.q(mnt .. "/state")
    for round = 1, 3 do
      -- a writer fills the disk as fast as it can while coco updates
      local _, pid = sh(string.format("(sleep 0.0%d; dd if=/dev/zero of=%s bs=64k) >/dev/null 2>&1 & echo pid=$!",
        round * 3, H.q(mnt .. "/fill")))
      pid = assert(tonumber(pid:match("pid=(%d+)")))
      local rc, _, err = H.coco(d, "update flow.lua -q --full-reprocess --state " .. state)
      if rc ~= 0 then assert_nospace(rc, err) end
      -- the writer stops when the disk is full (60 s at most)
      assert.are.equal(0, (sh(string.format(
        "(for i in $(seq 600); do kill -0 %d 2>/dev/null || exit 0; sleep 0.1; done; exit 1)", pid))))
      H.rm(mnt .. "/fill")
      rc, _, err = H.coco(d, "update flow.lua -q --state " .. state)
      assert.are.equal(0, rc, err)
      assert.are.same(want, H.dump(mnt .. "/index.sqlite", "DocsIndex__doc_chunks"))
    end
  end)

  it("a SQLite target on a full disk; then it converges", function()
    if not ready() then return end
    H.write(d .. "/flow.lua", flow(mnt .. "/index.sqlite"))
    local want = reference()
    fill(mnt, 300)
    local rc, _, err = H.coco(d, "update flow.lua -q")
    assert_nospace(rc, err)
    assert.matches("SQLite: .*: no space left on device %(database or disk is full%)", err)
    H.rm(mnt .. "/fill")
    rc, _, err = H.coco(d, "update flow.lua -q")
    assert.are.equal(0, rc, err)
    assert.are.same(want, H.dump(mnt .. "/index.sqlite", "DocsIndex__doc_chunks"))
  end)

  it("temp files (TMPDIR) on a full disk do not crash an update", function()
    if not ready() then return end
    H.write(d .. "/flow.lua", flow("index.sqlite"))
    local want = reference()
    fill(mnt, 0)
    local rc, _, err = H.coco(d, "update flow.lua -q", { TMPDIR = mnt, SQLITE_TMPDIR = mnt })
    if rc ~= 0 then assert_nospace(rc, err) end
    H.rm(mnt .. "/fill")
    rc, _, err = H.coco(d, "update flow.lua -q")
    assert.are.equal(0, rc, err)
    assert.are.same(want, H.dump(d .. "/index.sqlite", "DocsIndex__doc_chunks"))
  end)

  it("evaluate's output on a full disk fails plainly (no empty file taken for a result)", function()
    if not ready() then return end
    H.write(d .. "/flow.lua", flow("index.sqlite"))
    for _, free in ipairs({ 0, 100 }) do
      H.rm(mnt .. "/out")
      fill(mnt, free)
      local rc, _, err = H.coco(d, "evaluate flow.lua -o " .. H.q(mnt .. "/out"))
      assert_nospace(rc, err)
      assert.matches("out/doc_chunks.jsonl: no space left on device (writing evaluate's output)", err, 1, true)
    end
    H.rm(mnt .. "/fill")
    local rc, _, err = H.coco(d, "evaluate flow.lua -o " .. H.q(mnt .. "/out"))
    assert.are.equal(0, rc, err)
  end)
end)
