-- Index a folder of markdown and text files into SQLite, in chunks.
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets

return coco.flow("DocsIndex", function(flow, scope)
  scope.documents = flow:add_source(
    sources.LocalFile{ path = "docs", included_patterns = { "*.md", "*.txt" } },
    { refresh_interval = 60 })

  local chunks = scope:add_collector()

  scope.documents:row(function(doc)
    doc.chunks = doc.content:transform(functions.SplitRecursively{},
      { language = "markdown", chunk_size = 1000, chunk_overlap = 100 })
    doc.chunks:row(function(chunk)
      chunks:collect{ filename = doc.filename, location = chunk.location,
                      text = chunk.text }
    end)
  end)

  chunks:export("doc_chunks", targets.SQLite{ path = "index.sqlite" },
    { primary_key_fields = { "filename", "location" } })
end)
