-- Index the markdown and text objects of an S3 bucket (AWS S3, MinIO,
-- Cloudflare R2, any S3-compatible store) into SQLite, in chunks.
--
-- Settings come from the environment (see README.md):
--   S3_BUCKET      the bucket (required)
--   S3_PREFIX      only keys under this prefix, e.g. "docs/"
--   S3_ENDPOINT    a non-AWS store: http://127.0.0.1:9000 (MinIO),
--                  https://ACCOUNT_ID.r2.cloudflarestorage.com (R2)
--   SQS_QUEUE_URL  live mode (-L): S3 event notifications from this queue
-- and the usual AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
-- AWS_REGION (R2: auto).
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets

local function env(name)
  local v = os.getenv(name)
  if v and v ~= "" then return v end
end

return coco.flow("S3Docs", function(flow, scope)
  scope.documents = flow:add_source(
    sources.AmazonS3{
      bucket_name = env("S3_BUCKET") or error("set S3_BUCKET to the bucket to index"),
      prefix = env("S3_PREFIX"),
      endpoint = env("S3_ENDPOINT"),
      sqs_queue_url = env("SQS_QUEUE_URL"),
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
