-- Chunks of markdown files, with vectors, in a Qdrant collection, and a
-- query handler that embeds the query with the same function as the chunks:
--
--   export QDRANT_URL=http://127.0.0.1:6333          # default http://localhost:6333
--   coco flow.lua                                   # index docs/
--   coco query flow.lua "how do I keep an index fresh?" -k 3
--
-- The vectors come from a Lua function (a hashed bag of words), standing in
-- for a real embedding model: swap Embed for one when you have it.
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets

local DIM = 256

-- A stand-in embedding: words and word pairs hashed into DIM buckets with
-- a sign, then normalised. Texts that share words are near.
local function hash(s)
  local h = 5381
  for i = 1, #s do h = (h * 33 + s:byte(i)) % 16777213 end
  return h
end
local Embed = coco.fn("Embed", { returns = coco.types.vector("float32", DIM), cache = true, version = 1 },
  function(text)
    local v, prev = {}, nil
    for i = 1, DIM do v[i] = 0 end
    local function add(token, weight)
      local h = hash(token)
      local j = h % DIM + 1
      v[j] = v[j] + (math.floor(h / DIM) % 2 == 0 and weight or -weight)
    end
    for word in text:lower():gmatch("%a+") do
      if #word > 2 then
        add(word, 1)
        if prev then add(prev .. " " .. word, 0.5) end
        prev = word
      end
    end
    local n = 0
    for i = 1, DIM do n = n + v[i] * v[i] end
    n = math.sqrt(n)
    if n > 0 then for i = 1, DIM do v[i] = v[i] / n end end
    return v
  end)

return coco.flow("QdrantDocs", function(flow, scope)
  scope.documents = flow:add_source(
    sources.LocalFile{ path = "docs", included_patterns = { "*.md" } })

  local chunks = scope:add_collector()
  scope.documents:row(function(doc)
    doc.chunks = doc.content:transform(functions.SplitRecursively{},
      { language = "markdown", chunk_size = 400, chunk_overlap = 50 })
    doc.chunks:row(function(chunk)
      chunks:collect{ filename = doc.filename, location = chunk.location, text = chunk.text,
                      embedding = chunk.text:transform(Embed) }
    end)
  end)

  -- one collection, QdrantDocs__chunks: embedding is a named vector (Cosine),
  -- filename, location and text the payload; point ids from the key
  chunks:export("chunks", targets.Qdrant{ url = os.getenv("QDRANT_URL") },
    { primary_key_fields = { "filename", "location" },
      vector_indexes = {{ field = "embedding", metric = "cosine" }} })

  -- coco query flow.lua "text" [-k 10]; flow:query("search", "text", { k = 10 })
  flow:query_handler("search", function(query, opts)
    local vector = flow:call(Embed, query)          -- the chunks' own function
    return flow:top_k("chunks", "embedding", vector, opts.k)
  end)
end)
