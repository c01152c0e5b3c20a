-- What the Foundation and live benchmarks share: the shell, the paths,
-- and the flow (LocalFile corpus/ -> SplitRecursively(1000) -> SQLite).
local M = {}

function M.sh(cmd)
  local p = io.popen(cmd)
  local s = p:read("*a")
  p:close()
  return s
end

-- here: the directory of spec/bench; build: a build directory, relative to
-- the repository root or absolute. Returns the root, the coco binary and
-- the build directory's absolute path.
function M.paths(here, build)
  local root = M.sh("cd " .. here .. "/../.. && pwd"):gsub("%s+$", "")
  local dir = build:sub(1, 1) == "/" and build or root .. "/" .. build
  return root, dir .. "/coco", dir
end

-- The benchmark flow, named name, writing <name>__chunks in index.sqlite.
function M.flow(name)
  return string.format([[
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets
return coco.flow(%q, function(flow, scope)
  scope.documents = flow:add_source(
    sources.LocalFile{ path = "corpus", included_patterns = { "*.md", "*.txt" } })
  local chunks = scope:add_collector()
  scope.documents:row(function(doc)
    doc.chunks = doc.content:transform(functions.SplitRecursively{},
      { language = "markdown", chunk_size = 1000 })
    doc.chunks:row(function(chunk)
      chunks:collect{ filename = doc.filename, location = chunk.location, text = chunk.text }
    end)
  end)
  chunks:export("chunks", targets.SQLite{ path = "index.sqlite" },
    { primary_key_fields = { "filename", "location" } })
end)
]], name)
end

return M
