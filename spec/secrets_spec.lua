-- Secrets stay secret: a password inside a Postgres connection string (URI
-- or password= keyword) is never printed (show, update, evaluate, errors,
-- --json) and never stored in the state directory; a password change alone
-- is not a different target; the password may come from password_env,
-- PGPASSWORD or ~/.pgpass instead. The server asks for the password
-- (scram-sha-256 for the role used here), so a missing one fails.
local H = require("spec.helpers")
local S = require("spec.servers")

local PW = "Zq7-Kx9pW3vQ"          -- random enough that LZ4 keeps it literal in SST files
local PW2 = "Mn4-Rt8yHj2L"
local ROLE = "coco_pw"

local function flow(database, extra)
  return string.format([[
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets
return coco.flow("Secret", function(flow, scope)
  scope.documents = flow:add_source(sources.LocalFile{ path = "docs" })
  local rows = scope:add_collector()
  scope.documents:row(function(doc)
    rows:collect{ filename = doc.filename, content = doc.content }
  end)
  rows:export("docs", targets.Postgres{ database = %q%s },
    { primary_key_fields = { "filename" } })
end)
]], database, extra or "")
end

-- Every file under dir whose bytes contain s.
local function files_with(dir, s)
  local p = io.popen("grep -r -a -l -F " .. H.q(s) .. " " .. H.q(dir) .. " 2>/dev/null")
  local out = p:read("*a")
  p:close()
  return out
end

describe("secrets", function()
  local srv, why, d
  lazy_setup(function()
    srv, why = S.postgres()
    if not srv then return end
    -- the role needs its password over TCP; everything else stays trusted
    local hba = srv.data .. "/pg_hba.conf"
    local old = H.read(hba)
    local f = assert(io.open(hba, "w"))
    f:write("host all " .. ROLE .. " 127.0.0.1/32 scram-sha-256\n" .. old)
    f:close()
    srv:as_owner(srv.bindir .. "/pg_ctl -D " .. H.q(srv.data) .. " reload")
    assert(srv:exec("CREATE ROLE " .. ROLE .. " LOGIN SUPERUSER PASSWORD '" .. PW .. "'"))
  end)
  lazy_teardown(function() if srv then srv:stop() end end)
  before_each(function()
    d = H.tmpdir()
    H.write(d .. "/docs/a.md", "alpha")
    if srv then
      assert(srv:exec('DROP TABLE IF EXISTS "Secret__docs"'))
      assert(srv:exec("ALTER ROLE " .. ROLE .. " PASSWORD '" .. PW .. "'"))
    end
  end)
  after_each(H.cleanup)

  local function ready()
    if not srv then pending("PostgreSQL cannot start: " .. tostring(why)) end
    return srv ~= nil
  end
  local function uri(pw) return string.format("postgres://%s:%s@127.0.0.1:%d/postgres", ROLE, pw, srv.port) end
  local function nopw() return string.format("postgres://%s@127.0.0.1:%d/postgres", ROLE, srv.port) end

  -- Runs coco; asserts the password is in none of its output.
  local function coco(args, env, pw)
    local rc, out, err = H.coco(d, args, env)
    for _, s in ipairs({ out, err }) do
      assert.is_nil(s:find(pw or PW, 1, true), "password printed by coco " .. args .. ":\n" .. s)
    end
    return rc, out, err
  end
  local function no_password_stored(pw)
    assert.are.equal("", files_with(d .. "/.coco", pw or PW))
  end

  for _, form in ipairs({ "uri", "keyword" }) do
    it("a password in the connection string (" .. form .. ") is never printed nor stored", function()
      if not ready() then return end
      local db = form == "uri" and uri(PW) or
        string.format("host=127.0.0.1 port=%d dbname=postgres user=%s password='%s'", srv.port, ROLE, PW)
      H.write(d .. "/flow.lua", flow(db))
      local rc, out, err = coco("update flow.lua --json")
      assert.are.equal(0, rc, err)
      assert.are.equal(1, H.json_lines(out)[1].added, out)
      assert.are.same({ { filename = "a.md", content = "alpha" } },
        srv:sql('SELECT filename, content FROM "Secret__docs"'))
      rc, out = coco("show flow.lua -v")
      assert.are.equal(0, rc)
      if form == "uri" then
        assert.matches(ROLE .. ":***@127.0.0.1", out, 1, true)
      else
        assert.matches("password=***", out, 1, true)
      end
      assert.matches("Setup: up to date", out, 1, true)
      H.write(d .. "/docs/b.md", "beta")
      rc, out, err = coco("update flow.lua")
      assert.are.equal(0, rc, err)
      rc, _, err = coco("evaluate flow.lua -o ev")
      assert.are.equal(0, rc, err)
      assert.are.equal("", files_with(d .. "/ev", PW))
      rc = coco("ls flow.lua")
      assert.are.equal(0, rc)
      no_password_stored()
      rc, _, err = coco("drop flow.lua -f")
      assert.are.equal(0, rc, err)
    end)
  end

  it("a wrong password fails without printing it; a password change alone is not a new target", function()
    if not ready() then return end
    H.write(d .. "/flow.lua", flow(uri(PW)))
    local rc, _, err = coco("update flow.lua")
    assert.are.equal(0, rc, err)
    -- the server's password changes: the old one in the flow is refused
    assert(srv:exec("ALTER ROLE " .. ROLE .. " PASSWORD '" .. PW2 .. "'"))
    H.write(d .. "/docs/b.md", "beta")
    rc, _, err = coco("update flow.lua")
    assert.are_not.equal(0, rc)
    assert.matches("password authentication failed", err, 1, true)
    -- the flow gets the new one: same target, nothing to set up, data intact
    H.write(d .. "/flow.lua", flow(uri(PW2)))
    local out
    rc, out = coco("show flow.lua", nil, PW2)
    assert.matches("Setup: up to date", out, 1, true)
    rc, out, err = coco("update flow.lua --json", nil, PW2)
    assert.are.equal(0, rc, err)
    assert.are.equal(0, H.json_lines(out)[1].errors, out)
    assert.are.equal(0, H.json_lines(out)[1].reprocessed, out)   -- the flow's logic is the same
    assert.are.equal(2, #srv:sql('SELECT filename FROM "Secret__docs"'))
    no_password_stored(PW)
    no_password_stored(PW2)
    assert(srv:exec("ALTER ROLE " .. ROLE .. " PASSWORD '" .. PW .. "'"))
  end)

  it("an invalid connection string holding a password is refused without printing it", function()
    if not ready() then return end
    H.write(d .. "/flow.lua", flow("host=127.0.0.1 password=" .. PW .. " bogus_key=1"))
    local rc, _, err = coco("update flow.lua")
    assert.are_not.equal(0, rc)
    assert.matches("invalid connection string", err, 1, true)
    H.write(d .. "/flow.lua", flow("postgres://" .. ROLE .. ":" .. PW .. "@127.0.0.1:notaport/postgres"))
    rc, _, err = coco("update flow.lua")
    assert.are_not.equal(0, rc)
  end)

  it("the password from password_env; unset, a clear error", function()
    if not ready() then return end
    H.write(d .. "/flow.lua", flow(nopw(), ', password_env = "SECRET_PG_PW"'))
    local rc, _, err = coco("update flow.lua", { SECRET_PG_PW = PW })
    assert.are.equal(0, rc, err)
    assert.are.equal(1, #srv:sql('SELECT filename FROM "Secret__docs"'))
    no_password_stored()
    H.write(d .. "/docs/b.md", "beta")
    rc, _, err = coco("update flow.lua")
    assert.are_not.equal(0, rc)
    assert.matches("environment variable SECRET_PG_PW (password_env) is not set", err, 1, true)
    -- both a password in the string and password_env: say which to keep
    H.write(d .. "/flow.lua", flow(uri(PW), ', password_env = "SECRET_PG_PW"'))
    rc, _, err = coco("update flow.lua", { SECRET_PG_PW = PW })
    assert.are_not.equal(0, rc)
    assert.matches("the password is given twice", err, 1, true)
    -- the drop of the export connects with password_env too
    H.write(d .. "/flow.lua", flow(nopw(), ', password_env = "SECRET_PG_PW"'))
    rc, _, err = coco("drop flow.lua -f", { SECRET_PG_PW = PW })
    assert.are.equal(0, rc, err)
  end)

  it("the password from PGPASSWORD or ~/.pgpass (libpq's own); none: a clear error", function()
    if not ready() then return end
    H.write(d .. "/flow.lua", flow(nopw()))
    local rc, _, err = coco("update flow.lua", { HOME = d })
    assert.are_not.equal(0, rc)
    assert.matches("no password supplied", err, 1, true)
    assert.matches("PGPASSWORD or ~/.pgpass", err, 1, true)
    rc, _, err = coco("update flow.lua", { PGPASSWORD = PW, HOME = d })
    assert.are.equal(0, rc, err)
    H.write(d .. "/.pgpass", string.format("127.0.0.1:%d:postgres:%s:%s\n", srv.port, ROLE, PW))
    os.execute("chmod 600 " .. H.q(d .. "/.pgpass"))
    H.write(d .. "/docs/b.md", "beta")
    rc, _, err = coco("update flow.lua", { HOME = d })
    assert.are.equal(0, rc, err)
    assert.are.equal(2, #srv:sql('SELECT filename FROM "Secret__docs"'))
    H.rm(d .. "/.pgpass")
    no_password_stored()
  end)

  it("a vector store URL holding a password is refused (it names the resource, stored in state)", function()
    H.write(d .. "/flow.lua", [[
local coco = require("coco")
return coco.flow("Ch", function(flow, scope)
  scope.documents = flow:add_source(coco.sources.LocalFile{ path = "docs" })
  local rows = scope:add_collector()
  scope.documents:row(function(doc) rows:collect{ filename = doc.filename, content = doc.content } end)
  rows:export("e", coco.targets.Chroma{ url = "http://u:]] .. PW .. [[@127.0.0.1:1" }, { primary_key_fields = { "filename" } })
end)
]])
    local rc, _, err = coco("update flow.lua")
    assert.are_not.equal(0, rc)
    assert.matches("url 'http://u:***@127.0.0.1:1' holds a password or token", err, 1, true)
    assert.are.equal("", files_with(d, PW):gsub("[^\n]*/flow%.lua\n", ""))
  end)

  it("coco show hides a password in any option's URL (an S3 endpoint)", function()
    H.write(d .. "/flow.lua", [[
local coco = require("coco")
return coco.flow("Url", function(flow, scope)
  scope.objects = flow:add_source(coco.sources.AmazonS3{ bucket_name = "b",
    endpoint = "http://user:]] .. PW .. [[@127.0.0.1:9/x?token=]] .. PW2 .. [[" })
  local rows = scope:add_collector()
  scope.objects:row(function(o) rows:collect{ filename = o.filename } end)
  rows:export("e", coco.targets.SQLite{ path = "x.sqlite" }, { primary_key_fields = { "filename" } })
end)
]])
    local rc, out, err = coco("show flow.lua -v")
    assert.are.equal(0, rc, err)
    assert.is_nil(out:find(PW2, 1, true), out)
    assert.matches("user:***@127.0.0.1:9/x?token=***", out, 1, true)
  end)
end)
