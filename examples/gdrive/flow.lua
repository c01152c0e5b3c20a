-- Index the documents of Google Drive folders shared with a service
-- account — Google Docs (as Markdown), Sheets (CSV), Slides (text) and
-- plain text files — into SQLite, in chunks. With `coco flow.lua --live`
-- it follows the Drive changes feed.
--
-- Settings come from the environment (see README.md):
--   GOOGLE_APPLICATION_CREDENTIALS  the service account's JSON key file
--   GDRIVE_ROOT_FOLDER_IDS          folder ids, comma-separated (required)
--   GDRIVE_POLL_INTERVAL            live mode: seconds between polls of the
--                                   changes feed (default 10)
--   GDRIVE_API_ENDPOINT             another Drive v3 base URL (a gateway)
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets

local function env(name)
  local v = os.getenv(name)
  if v and v ~= "" then return v end
end

local roots = {}
for id in (env("GDRIVE_ROOT_FOLDER_IDS") or ""):gmatch("[^,%s]+") do roots[#roots + 1] = id end
if #roots == 0 then error("set GDRIVE_ROOT_FOLDER_IDS to the ids of the folders to index") end

return coco.flow("DriveDocs", function(flow, scope)
  scope.documents = flow:add_source(
    sources.GoogleDrive{
      service_account_credential_path = env("GOOGLE_APPLICATION_CREDENTIALS"),
      root_folder_ids = roots,
      -- binary files would not be UTF-8 text: leave them out
      excluded_patterns = { "*.pdf", "*.png", "*.jpg", "*.jpeg", "*.gif", "*.zip", "*.docx",
                            "*.xlsx", "*.pptx", "*.mp4" },
      max_file_size = 10 * 1024 * 1024,
      recent_changes_poll_interval = tonumber(env("GDRIVE_POLL_INTERVAL") or "10"),
      api_endpoint = env("GDRIVE_API_ENDPOINT"),
    },
    { refresh_interval = 3600 })                  -- live mode: a full listing every hour too

  local chunks = scope:add_collector()

  scope.documents:row(function(doc)
    doc.chunks = doc.content:transform(functions.SplitRecursively{},
      { language = "markdown", chunk_size = 1000, chunk_overlap = 100 })
    doc.chunks:row(function(chunk)
      chunks:collect{ file_id = doc.file_id, filename = doc.filename, location = chunk.location,
                      text = chunk.text }
    end)
  end)

  chunks:export("doc_chunks", targets.SQLite{ path = "index.sqlite" },
    { primary_key_fields = { "file_id", "location" } })
end)
