-- The index behind nginx's /search: documents are chunked along their
-- structure and land twice, in a plain SQLite table (inspect it with the
-- sqlite3 shell) and in an SQLite FTS5 full-text table written by a target
-- defined in Lua (fts.lua), which /search queries.
-- COCO_SEARCH_DOCS overrides the folder indexed (default: the docs of
-- examples/docs_index).
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local Fts5 = dofile(here .. "fts.lua").target(coco)

return coco.flow("SearchIndex", function(flow, scope)
  scope.documents = flow:add_source(
    sources.LocalFile{ path = os.getenv("COCO_SEARCH_DOCS") or "../docs_index/docs",
                       excluded_patterns = { "**/.*" } },
    { refresh_interval = 60 })

  local chunks = scope:add_collector()

  scope.documents:row(function(doc)
    doc.language = doc.filename:transform(functions.DetectProgrammingLanguage{})
    doc.chunks = doc.content:transform(functions.SplitRecursively{},
      { language = doc.language, chunk_size = 1000, chunk_overlap = 100 })
    doc.chunks:row(function(chunk)
      chunks:collect{ filename = doc.filename, location = chunk.location,
                      text = chunk.text }
    end)
  end)

  chunks:export("chunks", targets.SQLite{ path = "index.sqlite" },
    { primary_key_fields = { "filename", "location" } })
  chunks:export("search", Fts5{ path = "search.sqlite" },
    { primary_key_fields = { "filename", "location" } })
end)
