-- make bench, GoogleDrive part: the figures of issue 8 against the
-- loopback Drive fixture (spec/servers/gdrive/drive.js, node, 127.0.0.1).
--   1. initial index of a folder of BENCH_GDRIVE_FILES (5,000) files in two
--      subfolders of 2,500 — 3 pages (1,000 + 1,000 + 500) per folder:
--      every file indexed (the count equals the fixture's), files/s, the
--      files.list pages and downloads the fixture saw
--   2. no-change update: listing only (goal: 7 files.list, 0 downloads)
--   3. live mode, idle, recent_changes_poll_interval 0.2 s: per poll, one
--      changes.list request, no listing, no download
--   4. live mode, 10 files edited: each applied, exactly 10 downloads
-- The flow: GoogleDrive -> SplitRecursively (chunk_size 1000) -> SQLite.
local C = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")
local _, coco = C.start(arg[1])
local GD = require("spec.servers_gdrive")
local H = require("spec.helpers")

local N = C.num("BENCH_GDRIVE_FILES", 5000)

local ok, why = GD.available()
if not ok then return C.skip("coco gdrive bench", why) end
local srv = assert(GD.start())
local dir = H.tmpdir()
local live
local function finish()
  if live then GD.kill(live) end
  srv:stop()
  GD.reap_all(true)
  H.cleanup()
end
local function verdict(c) return c and "PASS" or "FAIL" end
local failed = false
local function check(c)
  failed = failed or not c
  return verdict(c)
end

local half = math.floor(N / 2)
srv:files{ { id = "mydrive", name = "My Drive", folder = true },
  { id = "bench", name = "Bench", folder = true, parent = "mydrive" },
  { id = "part1", name = "part1", folder = true, parent = "bench" },
  { id = "part2", name = "part2", folder = true, parent = "bench" },
  { op = "fill", parent = "part1", n = half, prefix = "a", idprefix = "a" },
  { op = "fill", parent = "part2", n = N - half, prefix = "b", idprefix = "b" } }
print(string.format("coco gdrive bench: %d files in 2 folders of the Drive fixture (127.0.0.1:%d)", N, srv.port))

H.write(dir .. "/flow.lua", string.format([[
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets
return coco.flow("BenchDrive", function(flow, scope)
  scope.documents = flow:add_source(sources.GoogleDrive{ service_account_credential_path = %q,
    root_folder_ids = { "bench" }, api_endpoint = %q, recent_changes_poll_interval = 0.2 })
  local chunks = scope:add_collector()
  scope.documents:row(function(doc)
    doc.chunks = doc.content:transform(functions.SplitRecursively{},
      { language = "markdown", chunk_size = 1000 })
    doc.chunks:row(function(chunk)
      chunks:collect{ file_id = doc.file_id, filename = doc.filename, location = chunk.location, text = chunk.text }
    end)
  end)
  chunks:export("chunks", targets.SQLite{ path = "index.sqlite" },
    { primary_key_fields = { "file_id", "location" } })
end)
]], srv.creds, srv.api))

local function update()
  srv:reset_stats()
  local t = GD.now()
  local p = io.popen(string.format("cd %s && %s flow.lua --json 2>&1; echo \"rc=$?\"", H.q(dir), H.q(coco)))
  local out = p:read("*a")
  p:close()
  local dt = GD.now() - t
  local st = H.json_lines(out)[1]
  if not st or not out:find("rc=0") then
    finish()
    error("coco failed:\n" .. out)
  end
  return st, srv:stats(), dt
end

local function pages(s)
  local n = 0
  for _ in pairs(s.pages) do n = n + 1 end
  return n
end

local st, req, dt = update()
local files = H.sql(dir .. "/index.sqlite", "SELECT count(DISTINCT file_id) AS n FROM BenchDrive__chunks")[1].n
print(string.format("initial index: %.2f s, %.0f files/s; %d added, %d errors; %d files in the index, " ..
  "the fixture has %d: %s", dt, N / dt, st.added, st.errors, files, N, check(files == N and st.added == N)))
print(string.format("  requests: %d files.list (pages of %s items), %d downloads, %d tokens", req.list,
  table.concat(req.pages, "/"), req.media, req.token))

st, req, dt = update()
print(string.format("no-change update: %.2f s; %d unchanged; requests: %d files.list (goal 7), %d downloads " ..
  "(goal 0): %s", dt, st.unchanged, req.list, req.media, check(req.list == 7 and req.media == 0 and pages(req) == 7)))

-- live mode
live = GD.spawn(dir, H.q(coco) .. " flow.lua -L --json")
GD.wait_for(live, 120, "the live initial pass", function() return GD.stdout(live):find("\n") end)
srv:reset_stats()
local t0 = GD.now()
GD.sleep_ms(3000)
req = srv:stats()
local secs = GD.now() - t0
local other = req.list + req.get + req.media + req.export + req.token + req.start
print(string.format("live, idle for %.1f s (poll every 0.2 s): %d changes.list, %d other requests; " ..
  "per poll: 1 changes.list, no listing, no download: %s", secs, req.changes, other,
  check(req.changes >= 10 and other == 0)))

local edits = {}
for i = 1, 10 do edits[#edits + 1] = { id = "a" .. (i * 97), content = "# Edited " .. i .. "\n\nNew text.\n" } end
srv:reset_stats()
t0 = GD.now()
srv:files(edits)
GD.wait_for(live, 30, "the 10 edits", function()
  local r = H.sql(dir .. "/index.sqlite", "SELECT count(*) AS n FROM BenchDrive__chunks WHERE text LIKE '# Edited %'")
  return r[1] and r[1].n == 10
end)
dt = GD.now() - t0
req = srv:stats()
print(string.format("live, 10 files edited: in the index after %.2f s; %d downloads (goal 10), %d files.list " ..
  "(goal 0): %s", dt, req.media, req.list, check(req.media == 10 and req.list == 0)))
GD.signal(live, 15)
GD.wait_exit(live, 10)
live = nil
finish()
print("coco gdrive bench: " .. (failed and "FAIL" or "PASS"))
