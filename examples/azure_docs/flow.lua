-- Index the markdown and text blobs of an Azure Blob Storage container into
-- SQLite, in chunks.
--
-- Settings come from the environment (see README.md):
--   AZURE_STORAGE_ACCOUNT   the storage account (required)
--   AZURE_CONTAINER         the container (required)
--   AZURE_PREFIX            only blobs under this prefix, e.g. "docs/"
--   AZURE_BLOB_ENDPOINT     another endpoint: Azurite's http://127.0.0.1:10000/devstoreaccount1
-- and the credentials: AZURE_STORAGE_KEY (the account key) or
-- AZURE_STORAGE_SAS_TOKEN (a SAS token with read and list permissions).
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets

local function env(name)
  local v = os.getenv(name)
  if v and v ~= "" then return v end
end

return coco.flow("AzureDocs", function(flow, scope)
  scope.documents = flow:add_source(
    sources.AzureBlob{
      account_name = env("AZURE_STORAGE_ACCOUNT") or error("set AZURE_STORAGE_ACCOUNT to the storage account"),
      container_name = env("AZURE_CONTAINER") or error("set AZURE_CONTAINER to the container to index"),
      prefix = env("AZURE_PREFIX"),
      endpoint = env("AZURE_BLOB_ENDPOINT"),
      included_patterns = { "*.md", "*.txt" },
      max_file_size = 10 * 1024 * 1024,
    },
    { refresh_interval = 300 })                   -- live mode: re-list every 5 minutes

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
