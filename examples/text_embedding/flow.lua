-- Markdown -> chunks -> embeddings (EmbedText) -> SQLite, or PostgreSQL +
-- pgvector with COCO_TARGET=postgres; and a query handler that embeds the
-- query with the same EmbedText as the chunks:
--
--   coco flow.lua                                    # index (again: only what changed)
--   coco query flow.lua "how are failed rows retried?" -k 5
--
-- The documents are those of the docs_index example. Each chunk text is
-- embedded once: re-runs, renames and shared paragraphs cost no request.
-- Where the embeddings come from is read from the environment (README.md):
-- a local Ollama with nomic-embed-text unless told otherwise.
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets
local env = os.getenv

-- One spec for the chunks and the queries, so both land in the same space.
local Embed = functions.EmbedText{
  api_type = env("EMBED_API_TYPE") or "ollama",        -- "openai" or "ollama"
  model = env("EMBED_MODEL") or "nomic-embed-text",
  address = env("EMBED_ADDRESS"),                      -- nil: the api type's default
  api_key_env = env("EMBED_API_KEY_ENV"),              -- the NAME of the variable holding the key
  output_dimension = tonumber(env("EMBED_DIM") or ""), -- for models coco does not know
  batch_size = 64,                                     -- texts per request
  max_concurrency = 4,                                 -- requests in flight
}

-- SQLite beside this file, or PostgreSQL at $COCO_DATABASE_URL.
local target = env("COCO_TARGET") or "sqlite"
local Target
if target == "sqlite" then
  Target = targets.SQLite{ path = "index.sqlite" }
elseif target == "postgres" then
  Target = targets.Postgres{}                          -- database: $COCO_DATABASE_URL
else
  error("COCO_TARGET must be sqlite or postgres, got " .. target)
end

return coco.flow("TextEmbedding", function(flow, scope)
  scope.documents = flow:add_source(
    sources.LocalFile{ path = "../docs_index/docs", included_patterns = { "*.md" } })

  local chunks = scope:add_collector()

  scope.documents:row(function(doc)
    doc.chunks = doc.content:transform(functions.SplitRecursively{},
      { language = "markdown", chunk_size = 800 })
    doc.chunks:row(function(chunk)
      chunk.embedding = chunk.text:transform(Embed)
      chunks:collect{ filename = doc.filename, location = chunk.location,
                      text = chunk.text, embedding = chunk.embedding }
    end)
  end)

  -- cosine: the metric top_k uses (and, in PostgreSQL, an HNSW index)
  chunks:export("chunks", Target,
    { primary_key_fields = { "filename", "location" },
      vector_indexes = {{ field = "embedding", metric = "cosine" }} })

  -- coco query flow.lua "text" [-k 10]; flow:query("search", "text", { k = 10 })
  flow:query_handler("search", function(query, opts)
    local vector = flow:call(Embed, query)
    return flow:top_k("chunks", "embedding", vector, opts.k)
  end)
end)
