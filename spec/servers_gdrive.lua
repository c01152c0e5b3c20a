-- The loopback Google Drive fixture (spec/servers/gdrive/drive.js: Drive v3
-- and the OAuth token endpoint, node's built-in modules only) for the
-- GoogleDrive specs and benchmark, on 127.0.0.1 with a port picked by the
-- kernel per run. It makes its own RSA key pair at start and writes the
-- service-account key file (token_uri pointing at itself) into a temp dir.
--
-- The server is our child in a process group of its own, reading a pipe
-- only we hold (spec/servers_s3.lua's process helpers): if this process
-- dies, the pipe closes and the server exits. stop() kills and reaps it.
--
--   local GD = require("spec.servers_gdrive")
--   local srv = GD.start()            -- nil, reason when node is missing
--   srv:files{ { id = "root1", name = "Docs", folder = true, parent = "mydrive" },
--              { id = "a", name = "a.md", parent = "root1", content = "# A" } }
--   srv:stats(); srv:fail{ kind = "list", status = 403, reason = "userRateLimitExceeded" }
--   srv:stop()
local H = require("spec.helpers")
local P = require("spec.proc")

local G = {}
G.root = require("spec.servers_s3").root
G.dir = G.root .. "/spec/servers/gdrive"

for _, k in ipairs{ "now", "sleep_ms", "spawn", "kill", "alive", "signal", "stdout", "stderr",
  "describe", "wait_exit", "wait_for", "reap_all" } do
  G[k] = P[k]
end

function G.available()
  if not H.sh("command -v node >/dev/null 2>&1") then return nil, "node is not installed (make deps)" end
  return true
end

local function curl(args)
  local p = io.popen("curl -sS --max-time 60 " .. args .. " 2>&1")
  local s = p:read("*a")
  p:close()
  return s
end

local Srv = {}
Srv.__index = Srv

-- Starts the fixture. Returns a server (fields: url, api, port, creds —
-- the key file's path — and email), or nil, reason.
function G.start()
  local ok, why = G.available()
  if not ok then return nil, why end
  local mk = io.popen("mktemp -d /tmp/coco-gdrive.XXXXXX")
  local dir = mk:read("*l")
  mk:close()
  local creds = dir .. "/service-account.json"
  local p = P.spawn(G.dir, "node drive.js --creds " .. H.q(creds), "pipe")
  p.server = true
  local port = P.wait_for(p, 20, "the fixture's port", function()
    local line = P.stdout(p):match("^([^\n]*)\n")
    return line and H.json.decode(line).port
  end)
  local self = setmetatable({ proc = p, dir = dir, port = port, creds = creds }, Srv)
  self.url = "http://127.0.0.1:" .. port
  self.api = self.url .. "/drive/v3"
  self.email = H.json.decode(H.read(creds)).client_email
  return self
end

function Srv:stop()
  P.kill(self.proc)
  os.execute("rm -rf " .. H.q(self.dir))
end

local function post(self, path, body)
  local tmp = os.tmpname()
  H.write(tmp, H.json.encode(body or {}))
  local s = curl("-X POST -H 'Content-Type: application/json' --data-binary @" .. H.q(tmp) .. " " ..
    H.q(self.url .. path))
  os.remove(tmp)
  local v = H.json.decode(s)
  assert(type(v) == "table" and not v.error, path .. ": " .. s)
  return v
end

-- Empties the drive, the injected failures, the config and the counts.
function Srv:reset() return post(self, "/ctl/reset") end

-- Applies operations in order: { id, name, parent, content | size,
-- mimeType, folder = true, target (a shortcut), driveId, hidden, trashed,
-- export_size, exports = { [mime] = text } } puts (creates or updates) an
-- item; { op = "trash" | "untrash" | "delete", id }; { op = "fill", parent,
-- n, prefix, idprefix }. Each change bumps the item's version and goes to
-- the changes feed. Returns { start = the feed's next token }.
function Srv:files(ops) return post(self, "/ctl/files", ops) end

-- The next `count` requests of `kind` (token, list, get, media, export,
-- start, changes, any) are answered with `status` and `reason`.
function Srv:fail(f) return post(self, "/ctl/fail", f) end

-- token_ttl (seconds), page_max, empty_page; revoke = true drops every token.
function Srv:config(c) return post(self, "/ctl/config", c) end

-- Requests by kind since the last reset: { token, token_refused, list, get,
-- media, export, start, changes, unauthorized, injected, pages = {...} }.
function Srv:stats() return (H.json.decode(curl(H.q(self.url .. "/ctl/stats")))) end
function Srv:reset_stats() return post(self, "/ctl/stats") end

-- A service-account key file like the fixture's, with a private key of
-- its own (made by node's crypto): the token endpoint refuses its signatures.
function Srv:other_key_file(path)
  local p = io.popen([[node -e 'process.stdout.write(require("crypto").generateKeyPairSync("rsa", ]] ..
    [[{ modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }))']])
  local pem = p:read("*a")
  p:close()
  assert(pem:find("BEGIN PRIVATE KEY", 1, true), "node could not make a key")
  local t = H.json.decode(H.read(self.creds))
  t.private_key = pem
  H.write(path, H.json.encode(t))
  return path
end

return G
