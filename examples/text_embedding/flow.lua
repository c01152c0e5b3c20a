-- Markdown -> chunks -> embeddings -> SQLite. The documents are those of
-- the docs_index example; each chunk is embedded once: re-runs, renames and
-- shared paragraphs cost no request.
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local embed = dofile(here .. "/embedder.lua")

return coco.flow("EmbedSearch", function(flow, scope)
  scope.documents = flow:add_source(
    sources.LocalFile{ path = "../docs_index/docs", included_patterns = { "*.md" } })

  local chunks = scope:add_collector()

  scope.documents:row(function(doc)
    doc.chunks = doc.content:transform(functions.SplitRecursively{},
      { language = "markdown", chunk_size = 800, chunk_overlap = 0 })
    doc.chunks:row(function(chunk)
      chunk.embedding = chunk.text:transform(embed)
      chunks:collect{ filename = doc.filename, location = chunk.location,
                      text = chunk.text, embedding = chunk.embedding }
    end)
  end)

  chunks:export("chunks", targets.SQLite{ path = "index.sqlite" },
    { primary_key_fields = { "filename", "location" } })
end)
