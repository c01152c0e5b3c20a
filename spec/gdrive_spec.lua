-- The GoogleDrive source (issue 8) through the real coco binary, against
-- spec/servers/gdrive/drive.js: a loopback stand-in for Drive API v3 and
-- Google's OAuth token endpoint (no Drive emulator exists), started once for
-- this file on 127.0.0.1 with a port picked per run. The fixture makes its
-- own RSA key pair and checks every JWT's RS256 signature and claims, and
-- answers as Drive does (no nextPageToken unless asked for, shared-drive
-- items only with supportsAllDrives, 403 exportSizeLimitExceeded, removed
-- changes...). Each test starts from an empty drive; every coco run gets
-- its own temp dir and state.
local H = require("spec.helpers")
local GD = require("spec.servers_gdrive")

local DOC = "application/vnd.google-apps.document"
local SHEET = "application/vnd.google-apps.spreadsheet"
local SLIDES = "application/vnd.google-apps.presentation"
local FORM = "application/vnd.google-apps.form"
local MAP = "application/vnd.google-apps.map"

-- A flow with one GoogleDrive source; each file becomes a row of
-- NAME__files (file_id, filename, mime_type, modified_time, content).
local function flow(o)
  local opts = { ("service_account_credential_path = %q"):format(o.creds),
    ("api_endpoint = %q"):format(o.api) }
  local roots = {}
  for _, r in ipairs(o.roots or { "root1" }) do roots[#roots + 1] = ("%q"):format(r) end
  opts[#opts + 1] = "root_folder_ids = { " .. table.concat(roots, ", ") .. " }"
  if o.included then opts[#opts + 1] = "included_patterns = { " .. ("%q"):format(o.included) .. " }" end
  if o.excluded then opts[#opts + 1] = "excluded_patterns = { " .. ("%q"):format(o.excluded) .. " }" end
  if o.binary then opts[#opts + 1] = "binary = true" end
  if o.decode then opts[#opts + 1] = ("decode_errors = %q"):format(o.decode) end
  if o.max then opts[#opts + 1] = "max_file_size = " .. o.max end
  if o.poll then opts[#opts + 1] = "recent_changes_poll_interval = " .. o.poll end
  local sopts = o.refresh and (", { refresh_interval = " .. o.refresh .. " }") or ""
  return string.format([[
local coco = require("coco")
return coco.flow(%q, function(flow, scope)
  scope.files = flow:add_source(coco.sources.GoogleDrive{ %s }%s)
  local out = scope:add_collector()
  scope.files:row(function(f)
    out:collect{ file_id = f.file_id, filename = f.filename, mime_type = f.mime_type,
                 modified_time = f.modified_time, content = f.content }
  end)
  out:export("files", coco.targets.SQLite{ path = "index.sqlite" }, { primary_key_fields = { "file_id" } })
end)
]], o.name or "GD", table.concat(opts, ", "), sopts)
end

local function run(d)
  local rc, out, err = H.coco(d, "flow.lua --json")
  return rc, H.json_lines(out)[1], err or "", out
end

local function rows(d)
  return H.sql(d .. "/index.sqlite", "SELECT file_id, filename, mime_type, content FROM GD__files ORDER BY file_id")
end

local function names(d)
  local t = {}
  for _, r in ipairs(H.sql(d .. "/index.sqlite", "SELECT filename FROM GD__files ORDER BY filename")) do
    t[#t + 1] = r.filename
  end
  return t
end

local function row(d, id)
  return H.sql(d .. "/index.sqlite", "SELECT filename, mime_type, content FROM GD__files WHERE file_id = '" ..
    id .. "'")[1]
end

describe("GoogleDrive source", function()
  local srv, why

  lazy_setup(function() srv, why = GD.start() end)
  lazy_teardown(function()
    if srv then srv:stop() end
    GD.reap_all(true)
  end)
  before_each(function() if srv then srv:reset() end end)
  after_each(function()
    GD.reap_all()
    H.cleanup()
  end)

  local function need()
    if not srv then pending("the Drive fixture cannot start: " .. tostring(why)) return false end
    return true
  end

  local function dir(o)
    o.creds = o.creds or srv.creds
    o.api = o.api or srv.api
    local d = H.tmpdir()
    H.write(d .. "/flow.lua", flow(o))
    return d
  end

  it("walks nested folders over many pages, exports Docs, Sheets and Slides, skips trash, Forms and large files", function()
    if not need() then return end
    local ops = {
      { id = "mydrive", name = "My Drive", folder = true },
      { id = "root1", name = "Team", folder = true, parent = "mydrive" },
      { id = "sub", name = "notes", folder = true, parent = "root1" },
      { id = "deep", name = "2026", folder = true, parent = "sub" },
      { id = "shared", name = "from a shared drive", folder = true, parent = "root1", driveId = "0AShared" },
      { id = "s1", name = "s.md", parent = "shared", content = "in a shared drive", driveId = "0AShared" },
      { id = "doc", name = "Design", parent = "sub", mimeType = DOC, content = "# Design\n\nText.\n" },
      { id = "sheet", name = "Budget", parent = "root1", mimeType = SHEET, content = "item,cost\npens,3\n" },
      { id = "slides", name = "Pitch", parent = "deep", mimeType = SLIDES, content = "Slide one\n" },
      { id = "form", name = "Survey", parent = "root1", mimeType = FORM },
      { id = "map", name = "Places", parent = "sub", mimeType = MAP },
      { id = "old", name = "old.md", parent = "sub", content = "trashed", trashed = true },
      { id = "huge", name = "video.bin", parent = "root1", mimeType = "application/octet-stream",
        size = 50 * 1024 * 1024 },
      { id = "bigdoc", name = "Archive", parent = "deep", mimeType = DOC, content = "x",
        export_size = 11 * 1024 * 1024 },
    }
    for i = 1, 7 do ops[#ops + 1] = { id = "r" .. i, name = ("r%d.md"):format(i), parent = "root1", content = "root " .. i } end
    for i = 1, 9 do ops[#ops + 1] = { id = "n" .. i, name = ("n%d.md"):format(i), parent = "sub", content = "note " .. i } end
    for i = 1, 5 do ops[#ops + 1] = { id = "d" .. i, name = ("d%d.txt"):format(i), parent = "deep", content = "deep " .. i } end
    srv:files(ops)
    srv:config{ page_max = 3, empty_page = true }   -- small pages, an empty one before each
    srv:reset_stats()
    local d = dir{ max = 10 * 1024 * 1024 }
    local rc, st, err = run(d)
    assert.are_not.equal(0, rc)                      -- one row error: the 11 MB export
    assert.are.same({ 25, 1 }, { st.added, st.errors })
    assert.truthy(err:find("GoogleDrive: 'notes/2026/Archive' (file id bigdoc): cannot export as text/markdown: " ..
      "Drive exports at most 10 MB (exportSizeLimitExceeded)", 1, true), err)
    assert.truthy(err:find("coco: GoogleDrive: 1 file over max_file_size (10485760 bytes) skipped", 1, true), err)
    assert.truthy(err:find("coco: GoogleDrive: 2 Google files with no text export (Forms, Maps, Sites...) skipped", 1, true), err)
    assert.are.same({ content = "# Design\n\nText.\n", filename = "notes/Design", mime_type = "text/markdown" }, row(d, "doc"))
    assert.are.same({ content = "item,cost\npens,3\n", filename = "Budget", mime_type = "text/csv" }, row(d, "sheet"))
    assert.are.same({ content = "Slide one\n", filename = "notes/2026/Pitch", mime_type = "text/plain" }, row(d, "slides"))
    assert.are.same({ content = "in a shared drive", filename = "from a shared drive/s.md", mime_type = "text/plain" }, row(d, "s1"))
    assert.are.same({ content = "deep 5", filename = "notes/2026/d5.txt", mime_type = "text/plain" }, row(d, "d5"))
    assert.is_nil(row(d, "old"))
    local s = srv:stats()
    -- 22 blobs downloaded, 4 exports tried; the 50 MB file never requested
    assert.are.same({ 22, 4 }, { s.media, s.export })
    -- every page of every folder: 3 items a page, an empty page before each next one
    local items, empty = 0, 0
    for _, n in ipairs(s.pages) do
      items = items + n
      if n == 0 then empty = empty + 1 end
    end
    assert.are.equal(32, items)                      -- every child but the trashed one
    assert.are.equal(8, empty, H.json.encode(s.pages))  -- 4 + 4 + 3 + 1 pages in 4 folders

    -- nothing changed: listing only, no download
    srv:reset_stats()
    rc, st, err = run(d)
    assert.are.same({ 0, 0, 25 }, { st.added, st.deleted, st.unchanged })
    s = srv:stats()
    assert.are.same({ 0, 1 }, { s.media, s.export })   -- the failed export is tried again
    assert.are.equal(1, s.token)                       -- one access token per run
  end)

  it("applies patterns to files only, follows shortcuts once, indexes a file reachable twice once, reads bytes", function()
    if not need() then return end
    srv:files{
      { id = "mydrive", name = "My Drive", folder = true },
      { id = "root1", name = "Team", folder = true, parent = "mydrive" },
      { id = "docs", name = "docs", folder = true, parent = "root1" },
      { id = "a", name = "a.md", parent = "docs", content = "A", redirect = true },  -- a 302 to its bytes
      { id = "b", name = "b.txt", parent = "docs", content = "B" },
      { id = "outside", name = "elsewhere", folder = true, parent = "mydrive" },
      { id = "o1", name = "o1.md", parent = "outside", content = "O1" },
      -- a shortcut into a folder outside the root, with a shortcut back: a cycle
      { id = "sc1", name = "linked", parent = "docs", target = "outside", targetMimeType = "application/vnd.google-apps.folder" },
      { id = "sc2", name = "back", parent = "outside", target = "root1", targetMimeType = "application/vnd.google-apps.folder" },
      -- a shortcut to a file outside, and one to a file already under the root
      { id = "lone", name = "lone.md", parent = "mydrive", content = "LONE" },
      { id = "sc3", name = "lone link.md", parent = "root1", target = "lone", targetMimeType = "text/markdown" },
      { id = "sc4", name = "a again.md", parent = "root1", target = "a", targetMimeType = "text/markdown" },
      { id = "img", name = "logo.png", parent = "root1", mimeType = "image/png", content = "iVBORw0KGgoA/w==", encoding = "base64" },
      { id = "lat", name = "latin1.txt", parent = "root1", content = "Y2Fm6SBjcuhtZQo=", encoding = "base64" },
    }
    -- root1 and its subfolder docs both as roots: each file once
    local d = dir{ roots = { "root1", "docs" }, included = "*.md" }
    local rc, st, err = run(d)
    assert.are.equal(0, rc, err)
    -- docs is a root of its own: paths under it are relative to it
    assert.are.same({ "a.md", "linked/o1.md", "lone link.md" }, names(d))
    assert.are.same({ content = "A", filename = "a.md", mime_type = "text/plain" }, row(d, "a"))
    assert.are.same({ "a", "lone", "o1" }, (function()
      local t = {}
      for _, r in ipairs(rows(d)) do t[#t + 1] = r.file_id end
      return t
    end)())
    -- excluded patterns (the shortcut to a.md does not bring it back); a PNG
    -- and a Latin-1 file are text with U+FFFD in text mode (a warning each),
    -- row errors with decode_errors = "strict", bytes with binary = true
    local e = dir{ excluded = "docs/**" }
    rc, st, err = run(e)
    assert.are.equal(0, rc, err)
    assert.are.same({ 3, 2, 0 }, { st.added, st.warnings, st.errors })
    assert.are.same({ "latin1.txt", "logo.png", "lone link.md" }, names(e))
    assert.truthy(err:find("GoogleDrive: 'logo.png' (file id img, image/png): not valid UTF-8 (first bad byte at 0); "
      .. "2 invalid sequences replaced with U+FFFD", 1, true), err)
    assert.truthy(err:find("GoogleDrive: 'latin1.txt' (file id lat, text/plain): not valid UTF-8 (first bad byte at 3); "
      .. "2 invalid sequences replaced with U+FFFD", 1, true), err)
    assert.are.same({ { h = "636166EFBFBD206372EFBFBD6D650A" } },
      H.sql(e .. "/index.sqlite", "SELECT hex(content) AS h FROM GD__files WHERE file_id = 'lat'"))
    local s = dir{ excluded = "docs/**", decode = "strict" }
    rc, st, err = run(s)
    assert.are_not.equal(0, rc)
    assert.are.same({ 1, 0, 2 }, { st.added, st.warnings, st.errors })
    assert.are.same({ "lone link.md" }, names(s))
    assert.truthy(err:find("GoogleDrive: 'logo.png' (file id img, image/png): not valid UTF-8 (byte 0); set binary = true", 1, true), err)
    assert.truthy(err:find("GoogleDrive: 'latin1.txt' (file id lat, text/plain): not valid UTF-8 (byte 3); set binary = true", 1, true), err)
    local b = dir{ binary = true, included = "*.png" }
    rc, st, err = run(b)
    assert.are.equal(0, rc, err)
    assert.are.same({ { h = "89504E470D0A1A0A00FF" } }, H.sql(b .. "/index.sqlite", "SELECT hex(content) AS h FROM GD__files"))
  end)

  it("retries 403 rate limits, 429 and 5xx with backoff; other 403s fail at once", function()
    if not need() then return end
    local ops = { { id = "mydrive", name = "My Drive", folder = true },
      { id = "root1", name = "Team", folder = true, parent = "mydrive" },
      { id = "doc", name = "Doc", parent = "root1", mimeType = DOC, content = "# Doc\n" } }
    for i = 1, 6 do ops[#ops + 1] = { id = "f" .. i, name = "f" .. i .. ".md", parent = "root1", content = "file " .. i } end
    srv:files(ops)
    srv:fail{ kind = "list", status = 403, reason = "userRateLimitExceeded", count = 2 }
    srv:fail{ kind = "get", status = 403, reason = "rateLimitExceeded" }
    srv:fail{ kind = "export", status = 429 }
    srv:fail{ kind = "media", status = 503, count = 2 }
    srv:fail{ kind = "token", status = 500 }
    srv:reset_stats()
    local d = dir{}
    local rc, st, err = run(d)
    assert.are.equal(0, rc, err)
    assert.are.same({ 7, 0 }, { st.added, st.errors })
    local s = srv:stats()
    assert.are.same({ 7, 2, 3, 2, 2, 8 }, { s.injected, s.token, s.list, s.get, s.export, s.media })

    -- a 403 that is not a rate limit: the row fails at once, the others go on
    srv:files{ { id = "f1", content = "file 1, edited" }, { id = "f2", content = "file 2, edited" } }
    srv:fail{ kind = "media", status = 403, reason = "insufficientFilePermissions", message = "The user does not have sufficient permissions for this file." }
    srv:reset_stats()
    rc, st, err = run(d)
    assert.are.same({ 1, 1 }, { st.updated, st.errors })
    assert.truthy(err:find("cannot download: insufficientFilePermissions: The user does not have sufficient permissions for this file. (HTTP 403)", 1, true), err)
    assert.are.equal(2, srv:stats().media)            -- not retried
    rc, st, err = run(d)                               -- the next run reads it again
    assert.are.same({ 0, 1, 0 }, { rc, st.updated, st.errors })

    -- a quota that backoff cannot help: the listing fails at once, nothing is deleted
    srv:fail{ kind = "list", status = 403, reason = "dailyLimitExceeded", message = "Daily Limit Exceeded" }
    srv:reset_stats()
    rc, st, err = run(d)
    assert.are_not.equal(0, rc)
    assert.truthy(err:find("GoogleDrive: cannot list folder '/' (id root1): dailyLimitExceeded: Daily Limit Exceeded (HTTP 403)", 1, true), err)
    assert.are.equal(1, srv:stats().list)
    assert.are.equal(7, #rows(d))
  end)

  it("says what is wrong with credentials, roots and the token endpoint, and shows no key or token", function()
    if not need() then return end
    srv:files{ { id = "mydrive", name = "My Drive", folder = true },
      { id = "root1", name = "Team", folder = true, parent = "mydrive" },
      { id = "private", name = "Private", folder = true, parent = "mydrive", hidden = true },
      { id = "f", name = "f.md", parent = "root1", content = "F" } }
    local d = dir{}
    local key = H.read(srv.creds)
    local function fails(o, pattern)
      local x = dir(o)
      local rc, _, err, out = run(x)
      assert.are_not.equal(0, rc)
      assert.truthy(err:find(pattern, 1, true), err)
      assert.falsy((err .. out):find("PRIVATE KEY", 1, true))
      assert.falsy((err .. out):find("ya29.", 1, true))
      return err
    end
    H.write(d .. "/notjson.json", "private_key = oops")
    fails({ creds = d .. "/notjson.json" }, "GoogleDrive: service account file '" .. d .. "/notjson.json' is not JSON (byte 1")
    H.write(d .. "/nokey.json", (key:gsub('"private_key":%s*"[^"]*",', "")))
    fails({ creds = d .. "/nokey.json" }, "GoogleDrive: service account file '" .. d ..
      "/nokey.json' has no private_key (create a JSON key for service account '" .. srv.email .. "')")
    fails({ creds = d .. "/absent.json" }, "GoogleDrive: cannot read service account file '" .. d ..
      "/absent.json': No such file or directory")
    srv:other_key_file(d .. "/wrong.json")
    fails({ creds = d .. "/wrong.json" }, "GoogleDrive: the token endpoint " .. srv.url .. "/token refused service account '" ..
      srv.email .. "' (key id '")
    fails({ creds = d .. "/wrong.json" }, "): invalid_grant: Invalid JWT Signature. (HTTP 400)")
    -- a token endpoint that is down: the key file's token_uri on a closed port
    local t = H.json.decode(H.read(srv.creds))
    t.token_uri = "http://127.0.0.1:9/token"
    H.write(d .. "/down.json", H.json.encode(t))
    fails({ creds = d .. "/down.json" }, "GoogleDrive: cannot get an access token: cannot reach the token endpoint " ..
      "http://127.0.0.1:9/token: Couldn't connect to server")
    -- roots that do not exist, or are not shared with the service account
    fails({ roots = { "root1", "nope" } }, "GoogleDrive: root folder 'nope' does not exist or is not shared with " ..
      "service account '" .. srv.email .. "'")
    fails({ roots = { "private" } }, "GoogleDrive: root folder 'private' does not exist or is not shared")
    fails({ roots = { "f" } }, "GoogleDrive: root folder 'f' ('f.md') is a file (text/plain), not a folder")
    -- a good run stores neither the key nor a token
    local rc, st, err = run(d)
    assert.are.equal(0, rc, err)
    assert.are.equal(1, st.added)
    assert.falsy(H.sh("grep -rqa -e 'PRIVATE KEY' -e 'ya29\\.' -e " .. H.q(t.private_key_id) .. " " ..
      H.q(d) .. " --exclude=wrong.json --exclude=nokey.json --exclude=down.json"))
  end)

  describe("live mode", function()
    local function start_live(d)
      local p = GD.spawn(d, H.q(H.bin) .. " flow.lua -L --json")
      GD.wait_for(p, 20, "the initial pass", function() return GD.stdout(p):find("\n") end)
      return p
    end

    local function stop(p)
      GD.signal(p, 15)
      assert.are.same({ "exit", 0 }, { GD.wait_exit(p, 10) })
    end

    it("follows the changes feed: edits, new files, trash, deletes, moves in and out, folder renames and moves", function()
      if not need() then return end
      srv:files{
        { id = "mydrive", name = "My Drive", folder = true },
        { id = "root1", name = "Team", folder = true, parent = "mydrive" },
        { id = "sub", name = "notes", folder = true, parent = "root1" },
        { id = "outside", name = "elsewhere", folder = true, parent = "mydrive" },
        { id = "away", name = "away", folder = true, parent = "mydrive" },
        { id = "a", name = "a.md", parent = "root1", content = "A" },
        { id = "b", name = "b.md", parent = "sub", content = "B" },
        { id = "c", name = "c.md", parent = "sub", content = "C" },
        { id = "m", name = "m.md", parent = "root1", content = "M" },
        { id = "doc", name = "Plan", parent = "sub", mimeType = DOC, content = "# Plan v1\n" },
        { id = "o", name = "o.md", parent = "outside", content = "O" },
        { id = "w1", name = "w1.md", parent = "away", content = "W1" },
      }
      local d = dir{ poll = 0.2 }
      local p = start_live(d)
      assert.are.same({ "a.md", "m.md", "notes/Plan", "notes/b.md", "notes/c.md" }, names(d))

      -- idle: each poll is one changes.list, nothing else
      srv:reset_stats()
      GD.wait_for(p, 10, "three polls", function() return srv:stats().changes >= 3 end)
      local s = srv:stats()
      assert.are.same({ 0, 0, 0, 0, 0 }, { s.list, s.get, s.media, s.export, s.token })

      -- the edit comes through the changes feed (no listing)
      srv:files{ { id = "a", content = "A, edited" } }
      GD.wait_for(p, 10, "the edit", function() return (row(d, "a") or {}).content == "A, edited" end)
      assert.are.equal(0, srv:stats().list)
      srv:files{ { id = "doc", content = "# Plan v2\n" } }
      GD.wait_for(p, 10, "the Doc's edit", function() return (row(d, "doc") or {}).content == "# Plan v2\n" end)
      srv:files{ { id = "new", name = "new.md", parent = "sub", content = "NEW" } }
      GD.wait_for(p, 10, "the new file", function() return row(d, "new") ~= nil end)
      srv:files{ { op = "trash", id = "b" } }
      GD.wait_for(p, 10, "the trashed file gone", function() return row(d, "b") == nil end)
      srv:files{ { op = "delete", id = "c" } }
      GD.wait_for(p, 10, "the deleted file gone", function() return row(d, "c") == nil end)
      srv:files{ { id = "m", parent = "outside" }, { id = "o", parent = "root1" } }
      GD.wait_for(p, 10, "moves out and in", function() return row(d, "m") == nil and row(d, "o") ~= nil end)
      -- a folder renamed: the paths under it change
      srv:files{ { id = "sub", name = "minutes" } }
      GD.wait_for(p, 10, "the folder's new name", function()
        return (row(d, "doc") or {}).filename == "minutes/Plan" and (row(d, "new") or {}).filename == "minutes/new.md"
      end)
      -- a folder moved in, one moved out
      srv:files{ { id = "away", parent = "sub" }, { id = "sub", parent = "mydrive" } }
      GD.wait_for(p, 10, "the folder moves", function()
        return row(d, "w1") == nil and row(d, "new") == nil and row(d, "doc") == nil
      end)
      srv:files{ { id = "sub", parent = "root1" } }
      GD.wait_for(p, 10, "the folder back, with the one inside it", function()
        return (row(d, "w1") or {}).filename == "minutes/away/w1.md" and row(d, "doc") ~= nil
      end)
      stop(p)
      assert.are.same({ "a.md", "minutes/Plan", "minutes/away/w1.md", "minutes/new.md", "o.md" }, names(d))
      -- what live mode wrote is what a full run finds: nothing to do
      local rc, st, err = run(d)
      assert.are.equal(0, rc, err)
      assert.are.same({ 0, 0, 0, 5 }, { st.added, st.updated, st.deleted, st.unchanged })
    end)

    it("refreshes the access token before it expires, and once more when it is refused", function()
      if not need() then return end
      srv:files{ { id = "mydrive", name = "My Drive", folder = true },
        { id = "root1", name = "Team", folder = true, parent = "mydrive" },
        { id = "a", name = "a.md", parent = "root1", content = "A" } }
      srv:config{ token_ttl = 2 }
      local d = dir{ poll = 0.2 }
      local p = start_live(d)
      srv:reset_stats()
      -- renewed halfway through each 2 s token (one expired would be a 401)
      GD.wait_for(p, 10, "two renewals", function() return srv:stats().token >= 2 end)
      local s = srv:stats()
      assert.are.equal(0, s.unauthorized, H.json.encode(s))
      -- the next token lives an hour; then every token is revoked
      srv:config{ token_ttl = 3600 }
      local n = srv:stats().token
      GD.wait_for(p, 5, "a long-lived token", function() return srv:stats().token > n end)
      srv:config{ revoke = true }
      srv:files{ { id = "a", content = "A2" } }
      GD.wait_for(p, 10, "the edit, with a new token", function() return (row(d, "a") or {}).content == "A2" end)
      s = srv:stats()
      assert.are.equal(1, s.unauthorized)
      stop(p)
    end)
  end)

  it("runs examples/gdrive as its README says", function()
    if not need() then return end
    srv:files{ { id = "mydrive", name = "My Drive", folder = true },
      { id = "shared1", name = "Handbook", folder = true, parent = "mydrive" },
      { id = "h1", name = "Welcome", parent = "shared1", mimeType = DOC,
        content = "# Welcome\n\nThe handbook of the team.\n\n## Holidays\n\nAsk a week ahead.\n" },
      { id = "h2", name = "faq.md", parent = "shared1", content = "# FAQ\n\nQ: Where? A: Here.\n" } }
    local d = H.tmpdir()
    H.sh("cp -r " .. H.q(GD.root .. "/examples/gdrive") .. "/. " .. H.q(d))
    local rc, out, err = H.coco(d, "flow.lua", { GOOGLE_APPLICATION_CREDENTIALS = srv.creds,
      GDRIVE_ROOT_FOLDER_IDS = "shared1", GDRIVE_API_ENDPOINT = srv.api })
    assert.are.equal(0, rc, err)
    assert.truthy(out:find("DriveDocs.documents: %d+ rows: 2 added"), out)
    local n = H.sql(d .. "/index.sqlite", "SELECT count(DISTINCT filename) AS n FROM DriveDocs__doc_chunks")[1].n
    assert.are.equal(2, n)
  end)
end)
