-- Nothing escapes a LocalFile root: while directories and files in the tree
-- are swapped for symlinks leading out of it (and back) in a loop, updates,
-- evaluates and a live updater run, and no content from outside ever
-- reaches a target or evaluate's output. Plus what a tree may hold: a
-- symlink loop, a FIFO, a socket, and patterns with ".." or an absolute
-- path. COCO_CONTAINMENT_SECONDS sets how long the swapping runs (default
-- 6; `make bench` runs it for 60).
local H = require("spec.helpers")

local SECRET = "OUTSIDE-SECRET-7f3a"
local SECONDS = tonumber(os.getenv("COCO_CONTAINMENT_SECONDS") or "6")

local function flow(name, db)
  return string.format([[
local coco = require("coco")
return coco.flow(%q, function(flow, scope)
  scope.documents = flow:add_source(coco.sources.LocalFile{ path = "docs" }, { refresh_interval = 0.2 })
  local rows = scope:add_collector()
  scope.documents:row(function(doc)
    rows:collect{ filename = doc.filename, content = doc.content }
  end)
  rows:export("files", coco.targets.SQLite{ path = %q }, { primary_key_fields = { "filename" } })
end)
]], name, db)
end

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("*a")
  p:close()
  return out
end

-- Rows of db whose content came from outside.
local function outside_rows(db, tbl)
  local ok, rows = pcall(H.sql, db, "SELECT filename FROM " .. tbl .. " WHERE content LIKE '%" .. SECRET .. "%'")
  return ok and rows or {}
end

describe("LocalFile containment", function()
  local d
  before_each(function() d = H.tmpdir() end)
  after_each(H.cleanup)

  it("no outside content while directories and files are swapped for symlinks (" .. SECONDS .. " s)", function()
    H.write(d .. "/outside/secret.md", SECRET .. "\n")
    H.write(d .. "/outside/sub/a.md", SECRET .. " a\n")
    H.write(d .. "/outside/sub/b.md", SECRET .. " b\n")
    H.write(d .. "/docs/sub/a.md", "inside a\n")
    H.write(d .. "/docs/sub/b.md", "inside b\n")
    H.write(d .. "/docs/deep/x/c.md", "inside c\n")
    H.write(d .. "/docs/f.md", "inside f\n")
    H.write(d .. "/docs/in.md", "in-tree link target\n")
    sh("ln -s in.md " .. H.q(d .. "/docs/link.md"))     -- in-tree links: followed
    sh("ln -s sub " .. H.q(d .. "/docs/ldir"))
    for i = 1, 40 do
      H.write(string.format("%s/docs/sub/n%02d.md", d, i), "inside " .. i .. "\n")
      H.write(string.format("%s/outside/sub/n%02d.md", d, i), SECRET .. " " .. i .. "\n")
    end
    H.write(d .. "/flow.lua", flow("Batch", "batch.sqlite"))
    H.write(d .. "/live.lua", flow("Live", "live.sqlite"))
    -- the swapper: directories (relative and absolute links, at two
    -- depths) and files, out and back, in a tight loop of system calls
    local stop = d .. "/stop"
    H.write(d .. "/swap.lua", string.format([[
local ffi = require("ffi")
ffi.cdef[[
int rename(const char *a, const char *b); int symlink(const char *t, const char *l);
int unlink(const char *p); int access(const char *p, int m); int chdir(const char *p);
]] .. "]]" .. [[

local C = ffi.C
assert(C.chdir(%q) == 0)
local swaps = {
  { "docs/sub", "../outside/sub" }, { "docs/sub", %q }, { "docs/deep/x", "../../outside" },
  { "docs/f.md", "../outside/secret.md" }, { "docs/deep", %q },
}
while C.access(%q, 0) ~= 0 do
  for _ = 1, 100 do
    for _, s in ipairs(swaps) do
      if C.rename(s[1], s[1] .. ".real") == 0 then
        C.symlink(s[2], s[1])
        C.unlink(s[1])
        C.rename(s[1] .. ".real", s[1])
      end
    end
  end
end
]], d, d .. "/outside/sub", d .. "/outside", stop))
    local pid = tonumber(sh("luajit " .. H.q(d .. "/swap.lua") .. " >/dev/null 2>&1 & echo $!"))
    local live = tonumber(sh("cd " .. H.q(d) .. " && " .. H.q(H.bin) .. " live.lua -L -q >live.out 2>&1 & echo $!"))
    local runs, outside, evals = 0, 0, 0
    local deadline = os.time() + SECONDS
    while os.time() < deadline do
      local rc, _, err = H.coco(d, "update flow.lua -q" .. (runs % 2 == 1 and " --full-reprocess" or ""))
      assert.is_true(rc == 0 or rc == 1, "update exited " .. tostring(rc) .. ": " .. err)
      assert.is_nil(err:find(SECRET, 1, true), err)
      runs = runs + 1
      outside = outside + #outside_rows(d .. "/batch.sqlite", "Batch__files")
        + #outside_rows(d .. "/live.sqlite", "Live__files")
      do
        H.rm(d .. "/ev")
        rc, _, err = H.coco(d, "evaluate flow.lua -o ev --no-cache")
        assert.is_true(rc == 0 or rc == 1, "evaluate exited " .. tostring(rc) .. ": " .. err)
        local ev = H.read(d .. "/ev/files.jsonl") or ""
        if ev:find(SECRET, 1, true) then outside = outside + 1 end
        evals = evals + 1
      end
    end
    H.write(stop, "")
    sh(string.format("(for i in $(seq 600); do kill -0 %d 2>/dev/null || exit 0; sleep 0.1; done)", pid))
    -- the live updater: still running, then stopped
    assert.are.equal("", sh("kill -0 " .. live))
    sh("kill -TERM " .. live .. "; for i in $(seq 600); do kill -0 " .. live .. " 2>/dev/null || break; sleep 0.1; done")
    outside = outside + #outside_rows(d .. "/live.sqlite", "Live__files")
    print(string.format("\ncontainment: %d s of swapping, %d updates, %d evaluates, %d outside rows",
      SECONDS, runs, evals, outside))
    assert.are.equal(0, outside)
    assert.is_true(runs >= 2)
    -- the tree back as it was: everything inside is there, the in-tree link too
    local rc, _, err = H.coco(d, "update flow.lua -q")
    assert.are.equal(0, rc, err)
    local names = {}
    for _, r in ipairs(H.sql(d .. "/batch.sqlite", "SELECT filename FROM Batch__files ORDER BY 1")) do
      names[#names + 1] = r.filename
    end
    assert.are.equal(4 + 2 * 42, #names)
    for _, n in ipairs({ "deep/x/c.md", "f.md", "in.md", "link.md", "sub/a.md", "ldir/b.md", "ldir/n40.md" }) do
      assert.is_true(table.concat(names, "\n"):find(n, 1, true) ~= nil, n)
    end
  end)

  it("a symlink loop, a FIFO and a socket in the tree: skipped, nothing hangs", function()
    H.write(d .. "/docs/a.md", "a\n")
    sh("cd " .. H.q(d .. "/docs") .. " && ln -s loop1 loop2 && ln -s loop2 loop1 && ln -s . self && mkfifo fifo.md")
    sh("python3 -c \"import socket; s = socket.socket(socket.AF_UNIX); s.bind('" .. d .. "/docs/sock.md')\"")
    H.write(d .. "/flow.lua", flow("Odd", "odd.sqlite"))
    local rc, out, err = H.coco(d, "update flow.lua --json")
    assert.are.equal(0, rc, err)
    local s = H.json_lines(out)[1]
    assert.are.equal(0, s.errors, out)
    local names = {}
    for _, r in ipairs(H.sql(d .. "/odd.sqlite", "SELECT filename FROM Odd__files ORDER BY 1")) do
      names[#names + 1] = r.filename
    end
    assert.are.same({ "a.md" }, names)   -- self/a.md is a cycle: not walked
    rc, _, err = H.coco(d, "evaluate flow.lua -o ev")
    assert.are.equal(0, rc, err)
  end)

  it("patterns with '..' or an absolute path never reach outside the root", function()
    H.write(d .. "/outside/secret.md", SECRET .. "\n")
    H.write(d .. "/docs/a.md", "a\n")
    for _, pat in ipairs({ "../outside/*.md", "/" .. d:sub(2) .. "/outside/*.md", "**/../../outside/*", "/*.md" }) do
      H.rm(d .. "/.coco")
      H.rm(d .. "/p.sqlite")
      H.write(d .. "/flow.lua", (flow("Pat", "p.sqlite"):gsub('path = "docs" }',
        'path = "docs", included_patterns = { ' .. string.format("%q", pat) .. ' } }')))
      local rc, _, err = H.coco(d, "update flow.lua -q")
      assert.is_nil(err:find(SECRET, 1, true), err)
      if rc == 0 then
        assert.are.same({}, outside_rows(d .. "/p.sqlite", "Pat__files"))
      else
        assert.matches("flow%.lua:%d+: ", err)     -- refused at the flow line
      end
    end
  end)
end)
