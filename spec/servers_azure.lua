-- Local Azure Blob Storage for the AzureBlob specs and benchmark: Azurite
-- (npm, pinned by spec/servers/azure/package-lock.json), started directly
-- with node on 127.0.0.1 and a port the kernel picks, with the well-known
-- development account. It checks SharedKey signatures and SAS tokens.
-- Processes are spec/servers_s3.lua's (our children, in their own process
-- group, reading a pipe only we hold: stdin_guard.js exits on its EOF).
--
--   local AZ = require("spec.servers_azure")
--   local srv = AZ.start()          -- nil, reason when npm modules are missing
--   srv:mkcontainer("docs"); srv:put("docs", "a b.md", "text"); srv:requests(); srv:stop()
local S3 = require("spec.servers_s3")
local P = require("spec.proc")
local H = require("spec.helpers")

local A = {}
A.dir = S3.root .. "/spec/servers/azure"
A.ACCOUNT = "devstoreaccount1"
A.KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

function A.available()
  local f = io.open(A.dir .. "/node_modules/azurite/package.json")
  if not f then return nil, "spec/servers/azure/node_modules missing: run `make deps` (npm ci)" end
  f:close()
  return true
end

local Srv = {}
Srv.__index = Srv

-- Debian's MariaDB server for Azurite's SQL metadata store: a database
-- "azurite" on 127.0.0.1, a free port, files under dir, no grant tables
-- (nobody else can reach it). Returns the process and AZURITE_DB's URL,
-- or nil, reason.
local function mariadb(dir)
  local bin = io.popen("command -v mariadbd mysqld 2>/dev/null"):read("*l")
  if not bin then return nil, "no mariadbd: apt-get install mariadb-server" end
  local init = io.popen(string.format("mariadb-install-db --no-defaults --datadir=%s --user=$(id -un) "
    .. "--auth-root-authentication-method=normal --skip-test-db >%s/install.log 2>&1 && echo ok",
    H.q(dir .. "/db"), H.q(dir))):read("*a")
  if not init:find("ok") then return nil, "mariadb-install-db failed: " .. (H.read(dir .. "/install.log") or "") end
  local port = require("spec.servers").free_port()
  -- mariadbd does not read stdin: a shell does, and kills it at EOF
  local p = P.spawn(dir, "sh -c " .. H.q(string.format("%s --no-defaults --datadir=%s --socket=%s "
    .. "--port=%d --bind-address=127.0.0.1 --skip-grant-tables --skip-name-resolve --skip-log-bin "
    .. "--innodb-flush-log-at-trx-commit=0 --innodb-buffer-pool-size=128M --user=$(id -un) </dev/null & "
    .. "p=$!; cat >/dev/null; kill -9 $p", bin, H.q(dir .. "/db"), H.q(dir .. "/sock"), port)), "pipe")
  p.server = true
  P.wait_for(p, 60, "MariaDB to answer", function()
    return os.execute(string.format("mariadb --no-defaults -h 127.0.0.1 -P %d -u root "
      .. "-e 'CREATE DATABASE IF NOT EXISTS azurite' >/dev/null 2>&1", port)) == 0
  end)
  return p, string.format("mysql://root@127.0.0.1:%d/azurite", port)
end

-- Starts Azurite on a fresh data directory, or with o.memory in memory
-- (the benchmark: no disk in the figures), or with o.sql its metadata in
-- MariaDB (AZURITE_DB; the blobs' bytes stay in files); o.flags: more of
-- Azurite's options ("--silent --loose"). Returns a server, or nil, reason.
function A.start(o)
  o = o or {}
  local ok, why = A.available()
  if not ok then return nil, why end
  local mk = io.popen("mktemp -d /tmp/coco-azurite.XXXXXX")
  local data = mk:read("*l")
  mk:close()
  local where = o.memory and " --inMemoryPersistence" or (" --location " .. H.q(data))
  local env, db = "", nil
  if o.sql then
    local url
    db, url = mariadb(data)
    if not db then
      os.execute("rm -rf " .. H.q(data))
      return nil, url
    end
    env = "env AZURITE_DB=" .. H.q(url) .. " "
    where = " --location " .. H.q(data .. "/blobs")
  end
  local p = P.spawn(A.dir, env .. "node -r ./stdin_guard.js node_modules/azurite/dist/src/blob/main.js " ..
    "--blobHost 127.0.0.1 --blobPort 0" .. where .. " --skipApiVersionCheck --disableTelemetry " .. (o.flags or ""), "pipe")
  p.server = true
  local port = P.wait_for(p, 30, "Azurite listening", function()
    return P.stdout(p):match("listens on http://127%.0%.0%.1:(%d+)")
  end)
  local self = setmetatable({ proc = p, db = db, data = data, port = tonumber(port), mark = 0 }, Srv)
  self.endpoint = "http://127.0.0.1:" .. port .. "/" .. A.ACCOUNT
  return self
end

function Srv:stop()
  if self.proxy_proc then P.kill(self.proxy_proc) end
  P.kill(self.proc)
  if self.db then P.kill(self.db) end
  os.execute("rm -rf " .. H.q(self.data))
end

-- blob.js against this server (or ep); returns its stdout, trimmed.
function Srv:client(args, ep)
  local p = io.popen(string.format("cd %s && node blob.js %s %s 2>&1", H.q(A.dir),
    H.q(ep or self.endpoint), args))
  local out = p:read("*a")
  p:close()
  return (out:gsub("%s+$", ""))
end

function Srv:mkcontainer(c)
  local out = self:client("mkcontainer " .. H.q(c))
  assert(out == "201", "create container " .. c .. ": " .. out)
end

function Srv:put(c, name, content)
  local tmp = os.tmpname()
  H.write(tmp, content)
  local out = self:client("put " .. H.q(c) .. " " .. H.q(name) .. " " .. H.q(tmp))
  os.remove(tmp)
  assert(out == "201", "PUT " .. name .. ": " .. out)
end

function Srv:delete(c, name)
  local out = self:client("delete " .. H.q(c) .. " " .. H.q(name))
  assert(out == "202", "DELETE " .. name .. ": " .. out)
end

-- n blobs of size bytes named PREFIX00000.txt ... (16 PUTs at a time).
function Srv:fill(c, prefix, n, size, start)
  local out = self:client(string.format("fill %s %s %d %d %d", H.q(c), H.q(prefix), n, size, start or 0))
  assert(out == "201", "fill: " .. out)
end

-- An account SAS token for the blob service with these permissions ("rl").
function Srv:sas(perms) return self:client("sas " .. perms) end

-- Requests Azurite served since the last reset, from its access log:
-- { list = List Blobs, get = other GETs, other = neither, nor a PUT or
-- DELETE (those are the spec's own, and may be logged just after it
-- got their answers) }.
function Srv:requests()
  local n, t = 0, { list = 0, get = 0, other = 0 }
  for line in P.stdout(self.proc):gmatch("[^\n]+") do
    local method, path = line:match('"(%u+) (%S+) HTTP/')
    if method then
      n = n + 1
      local kind = (n <= self.mark or method == "PUT" or method == "DELETE") and "mine"
        or path:find("[?&]comp=list") and "list" or method == "GET" and "get" or "other"
      if t[kind] then t[kind] = t[kind] + 1 end
    end
  end
  return t, n
end

-- CPU seconds (user + system) Azurite has used so far (pid: another
-- process's, MariaDB's).
function Srv:cpu(pid)
  local st = H.read("/proc/" .. (pid or self.proc.pid) .. "/stat") or ""
  local f = {}
  for x in st:gsub("^.*%) ", ""):gmatch("%S+") do f[#f + 1] = x end
  return ((tonumber(f[12]) or 0) + (tonumber(f[13]) or 0)) / 100
end

-- CPU seconds MariaDB has used so far (0 without o.sql): mariadbd is the
-- child of the shell that guards it.
function Srv:db_cpu()
  if not self.db then return 0 end
  if not self.db_pid then
    local p = io.popen("pgrep -x mariadbd -P " .. self.db.pid)
    self.db_pid = p:read("*l")
    p:close()
  end
  return self.db_pid and self:cpu(self.db_pid) or 0
end

function Srv:reset_requests()
  local _, n = self:requests()
  self.mark = n
end

-- A proxy in front of this server that cuts every List Blobs request after
-- the first drop_lists_after. Returns its endpoint.
function Srv:proxy(drop_lists_after)
  if self.proxy_proc then P.kill(self.proxy_proc) end
  local p = P.spawn(A.dir, string.format("node proxy.js %d --drop-lists-after %d", self.port,
    drop_lists_after), "pipe")
  p.server = true
  self.proxy_proc = p
  local port = P.wait_for(p, 20, "the proxy's port", function()
    local line = P.stdout(p):match("^([^\n]*)\n")
    return line and H.json.decode(line).port
  end)
  return "http://127.0.0.1:" .. port .. "/" .. A.ACCOUNT
end

return A
