-- LuaRocks: `luarocks --lua-version 5.1 --tree DIR make` builds a copy of
-- the checkout and installs coco.so into DIR/lib/lua/5.1 and the coco
-- binary into DIR/bin; with that tree's paths (`luarocks path`) a plain
-- luajit finds the module, and both index a folder.
local H = require("spec.helpers")

local function out_of(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"rc=$?\"")
  local s = p:read("*a")
  p:close()
  local rc = tonumber(s:match("rc=(%d+)%s*$"))
  return rc, s
end

describe("the rockspec", function()
  after_each(H.cleanup)

  local have = H.sh("command -v luarocks >/dev/null 2>&1")

  it("builds and installs coco.so and coco into a tree that luajit and the binary use", function()
    if not have then
      pending("luarocks is not installed (make deps-test installs Debian's luarocks)")
      return
    end
    local d = H.tmpdir()
    local src, tree = d .. "/src", d .. "/tree"
    -- a copy of what is committed or staged, as a fresh clone would have it
    -- (the checkout itself stays clean: luarocks builds in its working dir)
    local rc, log = out_of(string.format(
      "mkdir -p %s && cd %s && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t %s",
      H.q(src), H.q(H.root), H.q(src)))
    assert.are.equal(0, rc, log)
    rc, log = out_of(string.format("cd %s && luarocks --lua-version 5.1 --tree %s make coco-scm-1.rockspec",
      H.q(src), H.q(tree)))
    assert.are.equal(0, rc, log)
    assert.is_true(H.sh("test -f " .. H.q(tree .. "/lib/lua/5.1/coco.so")), "no coco.so in the tree:\n" .. log)
    assert.is_true(H.sh("test -x " .. H.q(tree .. "/bin/coco")), "no bin/coco in the tree:\n" .. log)
    rc, log = out_of(string.format("cd %s && luarocks --lua-version 5.1 --tree %s list --porcelain",
      H.q(src), H.q(tree)))
    assert.are.equal(0, rc, log)
    assert.truthy(log:find("coco\tscm%-1\tinstalled"), log)

    -- a folder to index, through the installed module and the installed binary
    local w = d .. "/work"
    H.write(w .. "/docs/a.md", "# A\n\nalpha beta gamma\n")
    H.write(w .. "/docs/b.md", "# B\n\ndelta epsilon\n")
    H.write(w .. "/flow.lua", H.docs_flow())
    H.write(w .. "/script.lua", [[
local coco = require("coco")
local flow = assert(coco.load("flow.lua"))
local st = assert(flow:update{})
flow:close()
io.write(package.searchpath("coco", package.cpath), " added=", st[1].added, "\n")
]])
    rc, log = out_of(string.format("cd %s && eval \"$(luarocks --lua-version 5.1 --tree %s path)\" && luajit script.lua",
      H.q(w), H.q(tree)))
    assert.are.equal(0, rc, log)
    assert.truthy(log:find(tree .. "/lib/lua/5.1/coco.so", 1, true), log)
    assert.truthy(log:find("added=2", 1, true), log)

    rc, log = out_of(string.format("cd %s && rm -rf .coco index.sqlite && %s flow.lua --json", H.q(w),
      H.q(tree .. "/bin/coco")))
    assert.are.equal(0, rc, log)
    assert.truthy(log:find('"added":2', 1, true), log)
    assert.are.equal(2, #H.sql(w .. "/index.sqlite", "SELECT DISTINCT filename FROM DocsIndex__doc_chunks"))
  end)
end)
