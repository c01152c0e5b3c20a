-- make bench, hardening part (issue 15):
--   1. peak RSS of `coco update` on one large text file (50, 200 and 1,000
--      MB of markdown), through SplitRecursively (chunk_size 1000) and
--      whole into SQLite; goal: at most ~2.2x the file (about twice its
--      size plus a constant)
--   2. the root-escape spec for 60 s: directories and files swapped for
--      symlinks out of the tree while updates, evaluates and a live
--      updater run; goal: 0 rows from outside
-- Usage: luajit spec/bench/bench_harden.lua [build-dir] [parts], parts a
-- comma list of rss, escape (default: both); COCO_BENCH_SIZES="50,200"
-- picks the file sizes in MB.
local C = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")
local root, coco, build = C.start(arg[1])
local parts = arg[2] or "rss,escape"
local sh = C.sh

local function want(p) return (("," .. parts .. ","):find("," .. p .. ",", 1, true)) ~= nil end

local FLOWS = {
  chunks = [[
local coco = require("coco")
return coco.flow("Big", function(flow, scope)
  scope.documents = flow:add_source(coco.sources.LocalFile{ path = "docs" })
  local chunks = scope:add_collector()
  scope.documents:row(function(doc)
    doc.chunks = doc.content:transform(coco.functions.SplitRecursively{},
      { language = "markdown", chunk_size = 1000 })
    doc.chunks:row(function(c)
      chunks:collect{ filename = doc.filename, location = c.location, text = c.text }
    end)
  end)
  chunks:export("chunks", coco.targets.SQLite{ path = "index.sqlite" },
    { primary_key_fields = { "filename", "location" } })
end)
]],
  whole = [[
local coco = require("coco")
return coco.flow("Whole", function(flow, scope)
  scope.documents = flow:add_source(coco.sources.LocalFile{ path = "docs" })
  local rows = scope:add_collector()
  scope.documents:row(function(doc) rows:collect{ filename = doc.filename, content = doc.content } end)
  rows:export("files", coco.targets.SQLite{ path = "index.sqlite" }, { primary_key_fields = { "filename" } })
end)
]],
}

-- A markdown file of mb MB: seeded lines of words, a heading now and then.
local function make_file(path, mb)
  local words = { "alpha", "beta", "gamma", "delta", "lorem", "ipsum", "dolor", "sit", "amet", "coco" }
  local f = assert(io.open(path, "wb"))
  local seed, n, want_n = 12345, 0, mb * 1024 * 1024
  local function rnd(k)
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed % k + 1
  end
  local buf = {}
  while n < want_n do
    local line
    if rnd(20) == 1 then
      line = "\n# heading " .. n .. "\n\n"
    else
      local t = {}
      for i = 1, 12 do t[i] = words[rnd(#words)] end
      line = table.concat(t, " ") .. "\n"
    end
    buf[#buf + 1] = line
    n = n + #line
    if #buf == 4096 then
      f:write(table.concat(buf))
      buf = {}
    end
  end
  f:write(table.concat(buf))
  f:close()
  return n
end

if want("rss") then
  local sizes = os.getenv("COCO_BENCH_SIZES") or "50,200,1000"
  local dir = sh("mktemp -d /tmp/coco-bench-big.XXXXXX"):gsub("%s+$", "")
  sh("mkdir -p " .. dir .. "/docs")
  for mb in sizes:gmatch("%d+") do
    mb = tonumber(mb)
    local bytes = make_file(dir .. "/docs/big.md", mb)
    for _, name in ipairs({ "chunks", "whole" }) do
      local f = assert(io.open(dir .. "/flow.lua", "w"))
      f:write(FLOWS[name])
      f:close()
      sh("rm -rf " .. dir .. "/.coco " .. dir .. "/index.sqlite*")
      local out = sh(string.format("cd %s && /usr/bin/time -f 'RSS %%M' %s update flow.lua -q 2>&1", dir, coco))
      local kb = tonumber(out:match("RSS (%d+)"))
      print(string.format("large text file %5d MB, %-6s: peak RSS %7.1f MB = %.2fx the file (goal <= 2.2x)%s",
        mb, name, (kb or 0) / 1024, (kb or 0) * 1024 / bytes, kb and "" or ("  [" .. out .. "]")))
    end
  end
  sh("rm -rf " .. dir)
end

if want("escape") then
  local out = sh(string.format("cd %s && COCO_BIN=%s COCO_SO_DIR=%s COCO_CONTAINMENT_SECONDS=60 "
    .. "luajit $(which busted) spec/containment_spec.lua --filter=swapped 2>&1", root, coco, build))
  local line = out:match("containment: [^\n]*") or ("failed: " .. out)
  print("root escape (60 s of swapping): " .. line .. " (goal: 0 outside rows)")
end
