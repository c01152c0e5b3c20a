-- Real database servers for the specs and benchmarks, each on 127.0.0.1
-- with a port picked per run, started and stopped here:
--
--   S.postgres()  Debian's PostgreSQL: a copy of a cluster initdb made once
--                 (/tmp/coco-pg-N; as the postgres user when we are root),
--                 pg_ctl start
--   S.pglite()    PGlite's socket server with pgvector (node, from
--                 spec/servers/pglite, installed by `make deps` with npm ci),
--                 on a copy of a database made once (/tmp/coco-pglite-VERSION)
--
-- Each returns a server table, or nil and the reason it cannot start:
--   server.url            a libpq URI for coco's `database` option
--   server:sql(q)         rows of a query (a list of tables, via json_agg)
--   server:exec(q)        runs statements; true | false, message
--   server:stop()         stops it for good (and removes its files)
--   server:halt()         stops it; server:start() starts it again on the
--                         same port (postgres)
--   server:kill()         stops it at once, as a crash would (postgres)
local json = require("dkjson")
local H = require("spec.helpers")

local S = {}

S.root = H.root

local q = H.q

-- Runs cmd; returns ok, its output (stdout and stderr).
local function run(cmd)
  local p = io.popen("( " .. cmd .. " ) 2>&1; echo \"rc=$?\"")
  local out = p:read("*a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)%s*$"))
  return rc == 0, (out:gsub("rc=%d+%s*$", ""))
end
S.run = run

local read = H.read

local function sleep(s) os.execute("sleep " .. s) end

-- Ports someone listens on (from /proc/net/tcp{,6}).
local function ports_in_use()
  local used = {}
  for _, f in ipairs({ "/proc/net/tcp", "/proc/net/tcp6" }) do
    for line in (read(f) or ""):gmatch("[^\n]+") do
      local port = line:match("^%s*%d+:%s+%x+:(%x+)%s")
      if port then used[tonumber(port, 16)] = true end
    end
  end
  return used
end

local seeded = false
local function free_port()
  if not seeded then
    local r = io.open("/dev/urandom", "rb")
    local b = r:read(4)
    r:close()
    math.randomseed(b:byte(1) * 16777216 + b:byte(2) * 65536 + b:byte(3) * 256 + b:byte(4))
    seeded = true
  end
  local used = ports_in_use()
  for _ = 1, 100 do
    local p = math.random(20000, 59999)
    if not used[p] then return p end
  end
  error("no free port")
end
S.free_port = free_port

local is_root = (function()
  local p = io.popen("id -u")
  local id = p:read("*l")
  p:close()
  return id == "0"
end)()

-- ---- psql, for looking at what coco wrote ------------------------------------
local Server = {}
Server.__index = Server

function Server:exec(sql)
  return run("psql -X -q -v ON_ERROR_STOP=1 " .. q(self.url) .. " -c " .. q(sql) .. " </dev/null")
end

function Server:sql(query)
  local ok, out = run("psql -X -q -A -t -v ON_ERROR_STOP=1 " .. q(self.url) .. " -c "
    .. q("SELECT coalesce(json_agg(coco_row), '[]') FROM (" .. query .. ") coco_row") .. " </dev/null")
  if not ok then error("psql: " .. out, 2) end
  local rows, _, e = json.decode(out)
  if not rows then error("psql: " .. out .. (e or ""), 2) end
  return rows
end

-- ---- Debian's PostgreSQL -------------------------------------------------------
local function pg_bindir()
  local ok, out = run("ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1")
  local dir = ok and out:match("[^\n]+")
  if dir and io.open(dir .. "/initdb") then return dir end
  return nil
end

local Postgres = setmetatable({}, { __index = Server })
Postgres.__index = Postgres

function Postgres:as_owner(cmd)
  return run((is_root and "runuser -u postgres -- " or "") .. cmd)
end

function Postgres:start()
  local ok, out = self:as_owner(string.format(
    "%s/pg_ctl -D %s -l %s -w -t 60 -o %s start", self.bindir, q(self.data), q(self.dir .. "/log"),
    q(string.format("-p %d -k %s -c listen_addresses=127.0.0.1%s", self.port, self.dir,
      self.durable and "" or " -c fsync=off -c full_page_writes=off"))))
  if not ok then return false, out .. (read(self.dir .. "/log") or "") end
  return true
end

-- Stops the server (its files stay: start() starts it again).
function Postgres:halt(mode)
  self:as_owner(string.format("%s/pg_ctl -D %s -w -t 60 -m %s stop", self.bindir, q(self.data),
    mode or "fast"))
end

-- Stops at once (no checkpoint), like a crash; start() recovers.
function Postgres:kill() self:halt("immediate") end

function Postgres:stop()
  self:halt()
  run("rm -rf " .. q(self.dir))
end

local function initdb(self, data)
  return self:as_owner(string.format(
    "%s/initdb -D %s -A trust -U postgres -E UTF8 --locale=C --no-sync >%s/initdb.log 2>&1",
    self.bindir, q(data), self.dir))
end

-- A cluster initdb made once per major version (/tmp/coco-pg-N, owned by
-- the server's user) that each server copies: initdb into a temp dir,
-- then renamed into place (a reader sees all of it or none). nil when it
-- cannot be made: the server then runs initdb itself.
local function pg_template(self)
  local tpl = "/tmp/coco-pg-" .. (self.bindir:match("/postgresql/([^/]+)/bin$") or "any")
  if read(tpl .. "/PG_VERSION") then return tpl end
  local new = self.dir .. "/template"
  if not initdb(self, new) then
    run("rm -rf " .. q(new))
    return nil
  end
  self:as_owner("mv -T " .. q(new) .. " " .. q(tpl))   -- fails when another process made it meanwhile
  run("rm -rf " .. q(new))
  return read(tpl .. "/PG_VERSION") and tpl or nil
end

-- S.postgres{ durable = false }: durable keeps fsync on (benchmarks).
function S.postgres(opts)
  opts = opts or {}
  local bindir = pg_bindir()
  if not bindir then return nil, "PostgreSQL is not installed (make deps installs postgresql)" end
  local ok, dir = run("mktemp -d /tmp/coco-pg.XXXXXX")
  dir = dir:match("[^\n]+")
  local self = setmetatable({ bindir = bindir, dir = dir, data = dir .. "/data",
    durable = opts.durable }, Postgres)
  if is_root then run("chown postgres " .. q(dir)) end
  local tpl = pg_template(self)
  local iok, iout = tpl and self:as_owner("cp -a " .. q(tpl) .. " " .. q(self.data))
  if not iok then
    run("rm -rf " .. q(self.data))
    iok, iout = initdb(self, self.data)
  end
  if not iok then
    run("rm -rf " .. q(dir))
    return nil, "initdb failed: " .. iout
  end
  local err
  for _ = 1, 5 do
    self.port = free_port()
    ok, err = self:start()
    if ok then break end
  end
  if not ok then
    run("rm -rf " .. q(dir))
    return nil, "PostgreSQL did not start: " .. tostring(err)
  end
  self.url = string.format("postgres://postgres@127.0.0.1:%d/postgres", self.port)
  return self
end

-- ---- PGlite + pgvector -----------------------------------------------------------
local PGlite = setmetatable({}, { __index = Server })
PGlite.__index = PGlite

-- Whether a process runs (a zombie does not: PID 1 may reap late).
function S.alive(pid)
  local stat = read("/proc/" .. pid .. "/stat")
  return stat ~= nil and stat:match("^%d+ %b() (%a)") ~= "Z"
end

function PGlite:alive() return S.alive(self.pid) end

-- Stops it (SIGTERM: PGlite closes its database; SIGKILL after `wait`
-- seconds, 5 by default). Returns whether it exited by itself.
function PGlite:stop(wait)
  if not self.pid then return end
  os.execute("kill " .. self.pid .. " 2>/dev/null")
  for _ = 1, (wait or 5) * 10 do
    if not self:alive() then break end
    sleep(0.1)
  end
  local clean = not self:alive()
  if not clean then os.execute("kill -9 " .. self.pid .. " 2>/dev/null") end
  self.pid = nil
  run("rm -f " .. q(self.log))
  if self.db then run("rm -rf " .. q(self.db)) end
  return clean
end

local function pglite_start(dir, server_js, db)
  local last
  for _ = 1, 3 do
    local port = free_port()
    local log = os.tmpname()
    local p = io.popen(string.format("cd %s && node %s -p %d -h 127.0.0.1 -m 8 -d %s "
      .. "-e @electric-sql/pglite-pgvector:vector >%s 2>&1 </dev/null & echo $!", q(dir), q(server_js),
      port, q(db or "memory://"), q(log)))
    local pid = tonumber(p:read("*l"))
    p:close()
    local self = setmetatable({ pid = pid, port = port, log = log,
      url = string.format("postgres://postgres:postgres@127.0.0.1:%d/postgres?sslmode=disable", port) }, PGlite)
    for _ = 1, 600 do
      local text = read(log) or ""
      if text:find("listening", 1, true) then return self end
      if not self:alive() then break end
      sleep(0.1)
    end
    last = read(log) or ""
    self:stop()
  end
  return nil, "PGlite did not start: " .. tostring(last)
end

-- A database PGlite made (its initdb, run in WebAssembly, is most of a
-- start: 35 s from nothing, 11 s from a copy, under load 17), kept in
-- /tmp per PGlite version and copied for
-- each server: made once by the first S.pglite(), closed cleanly, then
-- renamed into place (so a reader sees all of it or none). nil when it
-- cannot be made: the server then starts from nothing.
local function pglite_template(dir, server_js)
  local pkg = read(dir .. "/node_modules/@electric-sql/pglite/package.json") or ""
  local version = pkg:match('"version"%s*:%s*"([^"]+)"')
  if not version then return nil end
  local tpl = "/tmp/coco-pglite-" .. version
  if read(tpl .. "/PG_VERSION") then return tpl end
  local ok, tmp = run("mktemp -d /tmp/coco-pglite-new.XXXXXX")
  tmp = ok and tmp:match("[^\n]+")
  if not tmp then return nil end
  local srv = pglite_start(dir, server_js, tmp .. "/db")
  if not srv or not srv:stop(60) or not read(tmp .. "/db/PG_VERSION") then
    run("rm -rf " .. q(tmp))
    return nil
  end
  -- another process may have made it meanwhile: then ours goes
  run("mv -T " .. q(tmp .. "/db") .. " " .. q(tpl) .. " 2>/dev/null")
  run("rm -rf " .. q(tmp))
  return read(tpl .. "/PG_VERSION") and tpl or nil
end

function S.pglite()
  local dir = S.root .. "/spec/servers/pglite"
  local server_js = dir .. "/node_modules/@electric-sql/pglite-socket/dist/scripts/server.js"
  if not run("command -v node >/dev/null") then return nil, "node is not installed (make deps installs nodejs)" end
  if not io.open(server_js) then
    return nil, "PGlite is not installed: run make deps (npm ci in spec/servers/pglite)"
  end
  local tpl, db = pglite_template(dir, server_js), nil
  if tpl then
    local ok, tmp = run("mktemp -d /tmp/coco-pglite.XXXXXX")
    tmp = ok and tmp:match("[^\n]+")
    if tmp and run("cp -a " .. q(tpl) .. " " .. q(tmp .. "/db")) then
      db = tmp .. "/db"
    elseif tmp then
      run("rm -rf " .. q(tmp))
    end
  end
  local self, err = pglite_start(dir, server_js, db)
  if not self then
    if db then run("rm -rf " .. q(db:match("^(.*)/db$"))) end
    return nil, err
  end
  self.db = db and db:match("^(.*)/db$")
  return self
end

return S
