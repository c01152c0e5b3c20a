-- The AzureBlob source (issue 18) against Azurite (npm, pinned by
-- spec/servers/azure/package-lock.json) on 127.0.0.1 with a port picked per
-- run, started once for this file by spec/servers_azure.lua. Azurite checks
-- every SharedKey signature and SAS token, so a request signed wrong fails
-- here as it would on Azure. Requests are counted from Azurite's access
-- log. Change capture is refresh_interval's re-list (live mode). Each
-- container belongs to one test; every coco run gets its own temp dir and
-- state.
local H = require("spec.helpers")
local S3 = require("spec.servers_s3")
local P = require("spec.proc")
local AZ = require("spec.servers_azure")

local function env(extra)
  local e = { AZ_KEY = AZ.KEY, AZ_SAS = "", AZURE_STORAGE_KEY = "", AZURE_STORAGE_SAS_TOKEN = "",
    COCO_AZURE_PAGE_SIZE = "" }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

-- A flow with one AzureBlob source; each blob becomes one row of
-- NAME__blobs (filename, content).
local function flow(o)
  local opts = { ("account_name = %q"):format(AZ.ACCOUNT), ("container_name = %q"):format(o.container),
    ("endpoint = %q"):format(o.endpoint) }
  if o.sas then opts[#opts + 1] = 'sas_token_env = "AZ_SAS"'
  elseif o.key ~= false then opts[#opts + 1] = ("account_key_env = %q"):format(o.key or "AZ_KEY") end
  if o.prefix then opts[#opts + 1] = ("prefix = %q"):format(o.prefix) end
  if o.included then opts[#opts + 1] = "included_patterns = { " .. ("%q"):format(o.included) .. " }" end
  if o.excluded then opts[#opts + 1] = "excluded_patterns = { " .. ("%q"):format(o.excluded) .. " }" end
  if o.binary then opts[#opts + 1] = "binary = true" end
  if o.max then opts[#opts + 1] = "max_file_size = " .. o.max end
  if o.decode then opts[#opts + 1] = ("decode_errors = %q"):format(o.decode) end
  local sopts = o.refresh and (", { refresh_interval = " .. o.refresh .. " }") or ""
  return string.format([[
local coco = require("coco")
local sources, targets = coco.sources, coco.targets
return coco.flow("Az", function(flow, scope)
  scope.blobs = flow:add_source(sources.AzureBlob{ %s }%s)
  local out = scope:add_collector()
  scope.blobs:row(function(b)
    out:collect{ filename = b.filename, content = b.content }
  end)
  out:export("blobs", targets.SQLite{ path = "index.sqlite" }, { primary_key_fields = { "filename" } })
end)
]], table.concat(opts, ", "), sopts)
end

local function setup_dir(o)
  local d = H.tmpdir()
  H.write(d .. "/flow.lua", flow(o))
  return d
end

local function run(d, e, args)
  local rc, out, err = H.coco(d, "flow.lua --json " .. (args or ""), env(e))
  return rc, H.json_lines(out)[1] or {}, err, out
end

local function rows(d)
  return H.sql(d .. "/index.sqlite", "SELECT filename, content FROM Az__blobs ORDER BY filename")
end

local function count(d)
  return H.sql(d .. "/index.sqlite", "SELECT count(*) AS n FROM Az__blobs")[1].n
end

local function plain(s) return (s:gsub("%p", "%%%0")) end

describe("AzureBlob source", function()
  local srv, why

  lazy_setup(function()
    srv, why = AZ.start()
    if srv then
      for _, c in ipairs{ "edit", "docs", "pages", "sizes", "sas", "keys", "live" } do srv:mkcontainer(c) end
    end
  end)

  lazy_teardown(function()
    if srv then srv:stop() end
    P.reap_all(true)
  end)

  after_each(function()
    P.reap_all()
    H.cleanup()
  end)

  local function need()
    if not srv then pending("Azurite not available: " .. tostring(why)) return false end
    return true
  end

  it("indexes a container, then lists only; sees modified, deleted and added blobs; stores no key", function()
    if not need() then return end
    for i = 1, 5 do srv:put("edit", "n" .. i .. ".md", "note " .. i) end
    local d = setup_dir{ container = "edit", endpoint = srv.endpoint }
    srv:reset_requests()
    local rc, st, err, out = run(d)
    assert.are.equal(0, rc, err)
    assert.are.same({ 5, 0, 0 }, { st.added, st.updated, st.errors })
    assert.are.same({ list = 1, get = 5, other = 0 }, srv:requests())
    local all = out .. err

    -- no change: one List Blobs, no GET
    srv:reset_requests()
    rc, st, err, out = run(d)
    assert.are.equal(0, rc, err)
    assert.are.same({ 0, 5 }, { st.added, st.unchanged })
    assert.are.same({ list = 1, get = 0, other = 0 }, srv:requests())
    all = all .. out .. err

    srv:put("edit", "n2.md", "note 2, edited")
    srv:delete("edit", "n3.md")
    srv:put("edit", "n6.md", "note 6")
    srv:reset_requests()
    rc, st, err, out = run(d)
    assert.are.equal(0, rc, err)
    assert.are.same({ 1, 1, 1, 3 }, { st.added, st.updated, st.deleted, st.unchanged })
    assert.are.same({ list = 1, get = 2, other = 0 }, srv:requests())
    assert.are.same({ { filename = "n1.md", content = "note 1" }, { filename = "n2.md", content = "note 2, edited" },
      { filename = "n4.md", content = "note 4" }, { filename = "n5.md", content = "note 5" },
      { filename = "n6.md", content = "note 6" } }, rows(d))
    all = all .. out .. err
    -- the key is in no output, no state file, no target
    local show_rc, show = H.coco(d, "show flow.lua -v", env())
    assert.are.equal(0, show_rc)
    assert.falsy((all .. show):find(AZ.KEY, 1, true))
    assert.falsy((all .. show):find("SharedKey", 1, true))
    assert.falsy(H.sh("grep -rqF " .. H.q(AZ.KEY) .. " " .. H.q(d)))
    assert.falsy(H.sh("grep -rqF " .. H.q(AZ.KEY:sub(1, 20)) .. " " .. H.q(d)))
  end)

  it("decodes names with spaces, '+', '%' and unicode; applies prefix, patterns and binary", function()
    if not need() then return end
    local names = { "docs/a b.md", "docs/c+d.md", "docs/ünï/é 1+1.md", "docs/100%.md", "docs/skip.txt",
      "docs/draft/x.md", "other/x.md" }
    for _, k in ipairs(names) do srv:put("docs", k, "# " .. k .. "\n") end
    srv:put("docs", "docs/img.bin", "\0\1\2\255")
    local d = setup_dir{ container = "docs", endpoint = srv.endpoint, prefix = "docs/", included = "*.md",
      excluded = "docs/draft/**" }
    local rc, st, err = run(d)
    assert.are.equal(0, rc, err)
    assert.are.equal(4, st.added)
    assert.are.same({
      { filename = "docs/100%.md", content = "# docs/100%.md\n" },
      { filename = "docs/a b.md", content = "# docs/a b.md\n" },
      { filename = "docs/c+d.md", content = "# docs/c+d.md\n" },
      { filename = "docs/ünï/é 1+1.md", content = "# docs/ünï/é 1+1.md\n" },
    }, rows(d))

    -- a prefix with a space, '+' and unicode is signed as sent (Azurite checks)
    local u = setup_dir{ container = "docs", endpoint = srv.endpoint, prefix = "docs/ünï/é 1+" }
    rc, st, err = run(u)
    assert.are.equal(0, rc, err)
    assert.are.same({ { filename = "docs/ünï/é 1+1.md", content = "# docs/ünï/é 1+1.md\n" } }, rows(u))

    local b = setup_dir{ container = "docs", endpoint = srv.endpoint, prefix = "docs/", included = "*.bin",
      binary = true }
    rc, st, err = run(b)
    assert.are.equal(0, rc, err)
    assert.are.same({ { f = "docs/img.bin", h = "000102FF" } },
      H.sql(b .. "/index.sqlite", "SELECT filename AS f, hex(content) AS h FROM Az__blobs"))
  end)

  it("pages through the listing with NextMarker; a listing cut midway fails and deletes nothing", function()
    if not need() then return end
    srv:fill("pages", "p/", 25, 50)
    local d = setup_dir{ container = "pages", endpoint = srv.endpoint }
    srv:reset_requests()
    local rc, st, err = run(d, { COCO_AZURE_PAGE_SIZE = "4" })
    assert.are.equal(0, rc, err)
    assert.are.same({ 25, 0 }, { st.added, st.errors })
    assert.are.same({ list = 7, get = 25, other = 0 }, srv:requests())   -- ceil(25 / 4) pages
    assert.are.equal(25, count(d))
    srv:reset_requests()
    rc, st, err = run(d, { COCO_AZURE_PAGE_SIZE = "4" })
    assert.are.same({ 0, 25 }, { st.added, st.unchanged })
    assert.are.same({ list = 7, get = 0, other = 0 }, srv:requests())

    -- the service goes away after the second page: the update fails, no row goes
    local ep = srv:proxy(2)
    H.write(d .. "/flow.lua", flow{ container = "pages", endpoint = ep })
    rc, st, err = run(d, { COCO_AZURE_PAGE_SIZE = "4" })
    assert.are_not.equal(0, rc)
    assert.truthy(err:find("AzureBlob: " .. ep .. "/pages/: cannot list: cannot reach " .. ep .. "/pages: ", 1, true),
      err)
    assert.are.equal(25, count(d))
    -- back: nothing to do
    H.write(d .. "/flow.lua", flow{ container = "pages", endpoint = srv.endpoint })
    rc, st, err = run(d, { COCO_AZURE_PAGE_SIZE = "4" })
    assert.are.equal(0, rc, err)
    assert.are.same({ 0, 0, 25 }, { st.added, st.deleted, st.unchanged })
  end)

  it("skips blobs over max_file_size (counted); reads text as LocalFile does (a warning, or strict: a row error)", function()
    if not need() then return end
    srv:put("sizes", "small.md", "tiny")
    srv:put("sizes", "large.md", string.rep("x", 5000))
    srv:put("sizes", "latin1.txt", "caf\233")
    local d = setup_dir{ container = "sizes", endpoint = srv.endpoint, max = 1000, included = "*.md" }
    local rc, st, err = run(d)
    assert.are.equal(0, rc, err)
    assert.are.equal(1, st.added)
    assert.truthy(err:find("coco: AzureBlob: " .. srv.endpoint .. "/sizes/: 1 blob over max_file_size (1000 bytes) skipped",
      1, true), err)
    srv:put("sizes", "bom16.txt", "\255\254h\0i\0")
    local t = setup_dir{ container = "sizes", endpoint = srv.endpoint, included = "*.txt" }
    rc, st, err = run(t)
    assert.are.equal(0, rc, err)
    assert.are.same({ 2, 0, 1 }, { st.added, st.errors, st.warnings })
    assert.truthy(err:find(srv.endpoint .. "/sizes/latin1.txt: not valid UTF-8 (first bad byte at 3); " ..
      "1 invalid sequence replaced with U+FFFD", 1, true), err)
    assert.are.same({ { filename = "bom16.txt", content = "hi" }, { filename = "latin1.txt", content = "caf\239\191\189" } },
      rows(t))
    local strict = setup_dir{ container = "sizes", endpoint = srv.endpoint, included = "*.txt", decode = "strict" }
    rc, st, err = run(strict)
    assert.are_not.equal(0, rc)
    assert.are.same({ 1, 1 }, { st.added, st.errors })
    assert.truthy(err:find(srv.endpoint .. "/sizes/latin1.txt: not valid UTF-8 (byte 3); set binary = true", 1, true), err)
  end)

  it("reads with a SAS token; a forged token and one without list permission are told apart", function()
    if not need() then return end
    srv:put("sas", "s.md", "by token")
    local token = srv:sas("rl")
    assert.truthy(token:match("^sv=.*&sig="), token)
    local d = setup_dir{ container = "sas", endpoint = srv.endpoint, sas = true }
    local rc, st, err, out = run(d, { AZ_SAS = "?" .. token })
    assert.are.equal(0, rc, err)
    assert.are.same({ { filename = "s.md", content = "by token" } }, rows(d))
    assert.falsy((out .. err):find(token:match("sig=([^&]+)"), 1, true))
    assert.falsy(H.sh("grep -rqF " .. H.q(token:match("sig=([^&]+)")) .. " " .. H.q(d)))

    local forged = token:gsub("sig=[^&]+", "sig=" .. ("A"):rep(43) .. "%%3D")
    local f = setup_dir{ container = "sas", endpoint = srv.endpoint, sas = true }
    rc, st, err = run(f, { AZ_SAS = forged })
    assert.are_not.equal(0, rc)
    assert.truthy(err:find("cannot list: the SAS token in AZ_SAS was rejected by account 'devstoreaccount1'", 1, true), err)

    local r = setup_dir{ container = "sas", endpoint = srv.endpoint, sas = true }
    rc, st, err = run(r, { AZ_SAS = srv:sas("r") })
    assert.are_not.equal(0, rc)
    assert.truthy(err:find("cannot list: access denied to AZ_SAS (HTTP 403 ", 1, true), err)
  end)

  it("says what is wrong: a wrong key (403, no signature material), a missing variable, container, option", function()
    if not need() then return end
    srv:put("keys", "k.md", "k")
    local wrong = "AAAA" .. AZ.KEY:sub(5)
    local d = setup_dir{ container = "keys", endpoint = srv.endpoint }
    local rc, st, err, out = run(d, { AZ_KEY = wrong })
    assert.are_not.equal(0, rc)
    assert.truthy(err:find("AzureBlob: " .. srv.endpoint .. "/keys/: cannot list: the account key in AZ_KEY " ..
      "was rejected by account 'devstoreaccount1': check it (and this machine's clock) (HTTP 403 ", 1, true), err)
    for _, s in ipairs{ wrong, wrong:sub(1, 16), "SharedKey", "devstoreaccount1:", "x-ms-date", "GET\n" } do
      assert.falsy((out .. err):find(s, 1, true), s)
    end
    assert.falsy(H.sh("grep -rqF " .. H.q(wrong:sub(1, 20)) .. " " .. H.q(d)))

    rc, st, err = run(d, { AZ_KEY = "not base64!" })
    assert.are_not.equal(0, rc)
    assert.truthy(err:find("AzureBlob: the account key in AZ_KEY is not base64", 1, true), err)
    assert.falsy(err:find("not base64!", 1, true))
    rc, st, err = run(setup_dir{ container = "keys", endpoint = srv.endpoint, key = "NO_SUCH_VAR" })
    assert.are_not.equal(0, rc)
    assert.truthy(err:find("AzureBlob: account_key_env names the environment variable NO_SUCH_VAR, which is not set",
      1, true), err)
    rc, st, err = run(setup_dir{ container = "nope", endpoint = srv.endpoint })
    assert.are_not.equal(0, rc)
    assert.truthy(err:find("AzureBlob: container 'nope' does not exist (at " .. srv.endpoint .. "/nope)", 1, true), err)
    -- the service is not there
    rc, st, err = run(setup_dir{ container = "keys", endpoint = "http://127.0.0.1:1/devstoreaccount1" })
    assert.are_not.equal(0, rc)
    assert.truthy(err:find("cannot list: cannot reach http://127.0.0.1:1/devstoreaccount1/keys: ", 1, true), err)

    local bad = H.tmpdir()
    H.write(bad .. "/flow.lua", flow{ container = "a/b", endpoint = srv.endpoint })
    rc, st, err = run(bad)
    assert.are_not.equal(0, rc)
    assert.truthy(err:find("flow.lua:4: AzureBlob: container_name 'a/b' contains '/'", 1, true), err)
    H.write(bad .. "/flow.lua", flow{ container = "keys", endpoint = srv.endpoint }:gsub("account_key_env",
      'sas_token_env = "X", account_key_env'))
    rc, st, err = run(bad)
    assert.truthy(err:find("AzureBlob: give sas_token_env or account_key_env, not both", 1, true), err)
  end)

  it("live mode: refresh_interval re-lists and reads only what changed", function()
    if not need() then return end
    srv:put("live", "a.md", "a")
    srv:put("live", "b.md", "b")
    local d = setup_dir{ container = "live", endpoint = srv.endpoint, refresh = 0.3 }
    local envs = ""
    for k, v in pairs(env()) do envs = envs .. k .. "=" .. H.q(v) .. " " end
    local p = P.spawn(d, "env " .. envs .. H.q(H.bin) .. " flow.lua -L --json")
    P.wait_for(p, 30, "the initial pass", function() return P.stdout(p):find("\n") end)
    local function has(name, content)
      local r = H.sql(d .. "/index.sqlite", "SELECT content FROM Az__blobs WHERE filename = '" .. name .. "'")
      if content == nil then return #r == 0 end
      return #r == 1 and r[1].content == content
    end
    assert.is_true(has("a.md", "a"))
    srv:put("live", "new.md", "new")
    P.wait_for(p, 20, "the new blob", function() return has("new.md", "new") end)
    srv:put("live", "a.md", "a, edited")
    P.wait_for(p, 20, "the edit", function() return has("a.md", "a, edited") end)
    srv:delete("live", "b.md")
    P.wait_for(p, 20, "the deletion", function() return has("b.md", nil) end)
    -- idle: lists go on, no blob is read
    srv:reset_requests()
    P.wait_for(p, 20, "three more refreshes", function() return srv:requests().list >= 3 end)
    local r = srv:requests()
    assert.are.same({ 0, 0 }, { r.get, r.other })
    P.signal(p, 15)
    assert.are.same({ "exit", 0 }, { P.wait_exit(p, 10) })
  end)

  it("runs examples/azure_docs as its README says", function()
    if not need() then return end
    local d = H.tmpdir()
    H.sh("cp -r " .. H.q(S3.root .. "/examples/azure_docs") .. "/. " .. H.q(d))
    srv:mkcontainer("example")
    for name in io.popen("ls " .. H.q(d .. "/docs")):lines() do
      srv:put("example", "docs/" .. name, H.read(d .. "/docs/" .. name))
    end
    local rc, out, err = H.coco(d, "flow.lua", env{ AZURE_STORAGE_ACCOUNT = AZ.ACCOUNT,
      AZURE_CONTAINER = "example", AZURE_PREFIX = "docs/", AZURE_BLOB_ENDPOINT = srv.endpoint,
      AZURE_STORAGE_KEY = AZ.KEY })
    assert.are.equal(0, rc, err)
    assert.truthy(out:find("AzureDocs.documents: %d+ rows: %d+ added"), out)
    local n = H.sql(d .. "/index.sqlite", "SELECT count(DISTINCT filename) AS n FROM AzureDocs__doc_chunks")[1].n
    assert.truthy(n >= 3)
  end)
end)
