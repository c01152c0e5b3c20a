-- The index behind nginx's /search: documents are chunked along their
-- structure into an SQLite table with a full-text index beside it (the
-- SQLite target's full_text_fields: an FTS5 table kept in sync by triggers,
-- in the same transactions as the chunks), and the flow's query handler
-- "search" answers from it (search.lua). nginx calls
-- flow:query("search", q, { k = 10 }); so does `coco query flow.lua "words"`.
-- COCO_SEARCH_DOCS overrides the folder indexed (default: the docs of
-- examples/docs_index).
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local search = dofile(here .. "search.lua")

local index   -- the database, set below once the flow's directory is known

local Flow = coco.flow("SearchIndex", function(flow, scope)
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

  chunks:export("chunks", targets.SQLite{ path = "index.sqlite", full_text_fields = { "text" } },
    { primary_key_fields = { "filename", "location" } })

  -- { { filename, location, snippet, score }, ... }, best first (bm25)
  flow:query_handler("search", function(query, opts)
    local rows, err = search.fts(index, "SearchIndex__chunks", query, opts.k)
    if not rows then error(err, 0) end
    return rows
  end)
end)
index = Flow.base_dir .. "/index.sqlite"   -- path = "index.sqlite" is relative to it
return Flow
