-- The embedding function of this example, in one place: flow.lua embeds
-- the chunks with it and search.lua the query, so both land in the same
-- vector space (and a query already asked is answered from the cache).
-- Where it points comes from the environment: see README.md.
local coco = require("coco")
local env = os.getenv

return coco.functions.EmbedText{
  api_type = env("EMBED_API_TYPE") or "ollama",       -- "openai" or "ollama"
  model = env("EMBED_MODEL") or "nomic-embed-text",
  address = env("EMBED_ADDRESS"),                     -- nil: the api type's default
  api_key_env = env("EMBED_API_KEY_ENV"),             -- the NAME of the variable holding the key
  output_dimension = tonumber(env("EMBED_DIM") or ""),  -- needed for models coco does not know
  batch_size = 64,                                    -- texts per request
  max_concurrency = 4,                                -- requests in flight
}
