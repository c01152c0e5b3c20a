-- Index a source tree for code search: each file's language is detected
-- from its extension, each file is chunked along its language's structure
-- (functions, classes, blocks), and the chunks land in SQLite.
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets

return coco.flow("CodeIndex", function(flow, scope)
  scope.files = flow:add_source(
    sources.LocalFile{ path = "src",
                       excluded_patterns = { "**/.*", "**/node_modules", "**/target" } })

  local chunks = scope:add_collector()

  scope.files:row(function(file)
    file.language = file.filename:transform(functions.DetectProgrammingLanguage{})
    file.chunks = file.content:transform(functions.SplitRecursively{},
      { language = file.language, chunk_size = 1000, min_chunk_size = 300, chunk_overlap = 0 })
    file.chunks:row(function(chunk)
      chunks:collect{ filename = file.filename, location = chunk.location,
                      language = file.language, text = chunk.text,
                      start_line = chunk.start.line, end_line = chunk["end"].line }
    end)
  end)

  chunks:export("code_chunks", targets.SQLite{ path = "index.sqlite" },
    { primary_key_fields = { "filename", "location" } })
end)
