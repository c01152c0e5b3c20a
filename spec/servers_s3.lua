-- Local S3 and SQS for the AmazonS3 specs and benchmark: s3rver and fauxqs
-- (npm, pinned by spec/servers/s3/package-lock.json) started by
-- spec/servers/s3/serve.js on 127.0.0.1 with kernel-picked ports, and the
-- botocore SigV4-checking proxy (spec/servers/s3/sigv4_proxy.py).
--
-- Every server is our child (fork + exec through FFI) in a process group
-- of its own, reading a pipe whose write end only we hold: if this process
-- dies, the pipe closes and the server exits. stop() kills and reaps it.
--
--   local S3 = require("spec.servers_s3")
--   local srv = S3.start{ buckets = { "docs" } }    -- nil, reason when npm modules are missing
--   srv:put("docs", "a b.md", "text"); srv:stats(); srv:stop()
local H = require("spec.helpers")
local P = require("spec.proc")

local S = {}

-- this file's directory, made absolute with the real working directory
-- (not $PWD, which ctest leaves pointing at the build directory)
local here = debug.getinfo(1, "S").source:match("^@(.*)/servers_s3%.lua$") or "spec"
if here:sub(1, 1) ~= "/" then
  local p = io.popen("pwd")
  here = (p:read("*l") .. "/" .. here):gsub("/%./", "/")
  p:close()
end
S.root = here:gsub("/spec$", "")
S.dir = here .. "/servers/s3"

-- The first line of p's stdout, decoded as JSON (a server's ports).
local function ports(p, secs)
  return P.wait_for(p, secs or 20, "the server's ports", function()
    local line = P.stdout(p):match("^([^\n]*)\n")
    return line and H.json.decode(line)
  end)
end

-- ---------------------------------------------------------------------------
-- Servers

-- The npm modules are there (make deps runs npm ci), or nil, reason.
function S.available()
  local f = io.open(S.dir .. "/node_modules/s3rver/package.json")
  if not f then return nil, "spec/servers/s3/node_modules missing: run `make deps` (npm ci)" end
  f:close()
  f = io.open(S.dir .. "/node_modules/fauxqs/package.json")
  if not f then return nil, "fauxqs missing in spec/servers/s3/node_modules: run `make deps`" end
  f:close()
  return true
end

local function curl(args)
  local p = io.popen("curl -sS --max-time 30 " .. args .. " 2>&1")
  local s = p:read("*a")
  p:close()
  return s
end

-- A key as a URL path: every byte but unreserved ones and '/' as %XX.
function S.encode_key(k)
  return (k:gsub("[^%w%-%._~/]", function(c) return string.format("%%%02X", c:byte()) end))
end

local Srv = {}
Srv.__index = Srv

-- Starts s3rver + fauxqs. o.buckets: names to create. Returns a server,
-- or nil, reason.
function S.start(o)
  o = o or {}
  local ok, why = S.available()
  if not ok then return nil, why end
  local mk = io.popen("mktemp -d /tmp/coco-s3rver.XXXXXX")
  local data = mk:read("*l")
  mk:close()
  local cmd = "env NODE_OPTIONS=--openssl-legacy-provider node serve.js " .. H.q(data)
  for _, b in ipairs(o.buckets or {}) do cmd = cmd .. " " .. H.q(b) end
  local p = P.spawn(S.dir, cmd, "pipe")
  p.server = true
  local pp = ports(p)
  local self = setmetatable({ proc = p, data = data, s3_port = pp.s3, sqs_port = pp.sqs,
    ctl_port = pp.ctl }, Srv)
  self.s3 = "http://127.0.0.1:" .. pp.s3
  self.sqs = "http://127.0.0.1:" .. pp.sqs
  self.ctl = "http://127.0.0.1:" .. pp.ctl
  return self
end

function Srv:stop()
  if self.proxy_proc then P.kill(self.proxy_proc) end
  P.kill(self.proc)
  for _, log in ipairs(self.logs or {}) do os.remove(log) end
  os.execute("rm -rf " .. H.q(self.data))
end

function Srv:mkbucket(b)
  return curl("-o /dev/null -w '%{http_code}' -X PUT " .. H.q(self.s3 .. "/" .. b))
end

-- PUT an object (s3rver takes unsigned requests). Returns the HTTP status.
function Srv:put(bucket, key, content)
  local tmp = os.tmpname()
  H.write(tmp, content)
  local code = curl("-o /dev/null -w '%{http_code}' -X PUT --data-binary @" .. H.q(tmp) .. " " ..
    H.q(self.s3 .. "/" .. bucket .. "/" .. S.encode_key(key)))
  os.remove(tmp)
  assert(code == "200", "PUT " .. key .. ": " .. code)
  return code
end

function Srv:delete(bucket, key)
  return curl("-o /dev/null -w '%{http_code}' -X DELETE " .. H.q(self.s3 .. "/" .. bucket .. "/" .. S.encode_key(key)))
end

-- The object file s3rver keeps for a key (to set its mtime).
function Srv:object_file(bucket, key)
  return self.data .. "/" .. bucket .. "/" .. key .. "._S3rver_object"
end

-- Headers of a HEAD request, lower-case names.
function Srv:head(bucket, key)
  local s = curl("-I " .. H.q(self.s3 .. "/" .. bucket .. "/" .. S.encode_key(key)))
  local h = {}
  for name, v in s:gmatch("([%w%-]+):%s*([^\r\n]*)") do h[name:lower()] = v end
  return h
end

-- n objects of size bytes under prefix (keys prefix00000.txt ...), quickly.
function Srv:fill(bucket, prefix, n, size, start)
  local ok = H.sh(string.format("cd %s && node fill.js %s %s %s %d %d 16 %d", H.q(S.dir), H.q(self.s3),
    H.q(bucket), H.q(prefix), n, size, start or 0))
  assert(ok, "fill.js failed")
end

-- S3 requests counted by kind since the last reset: { list=, get=, ... }.
function Srv:stats() return H.json.decode(curl(H.q(self.ctl .. "/stats"))) end
function Srv:reset_stats() curl("-X POST " .. H.q(self.ctl .. "/reset")) end

-- An SQS action (JSON protocol) on fauxqs; returns the decoded answer.
function Srv:sqs_call(action, t)
  local tmp = os.tmpname()
  H.write(tmp, H.json.encode(t))
  local s = curl("-X POST -H 'Content-Type: application/x-amz-json-1.0' -H 'X-Amz-Target: AmazonSQS." ..
    action .. "' --data-binary @" .. H.q(tmp) .. " " .. H.q(self.sqs .. "/"))
  os.remove(tmp)
  local v = H.json.decode(s)
  assert(type(v) == "table", action .. ": " .. s)
  return v
end

-- Creates a queue; returns its URL.
function Srv:queue(name, attrs)
  return self:sqs_call("CreateQueue", { QueueName = name, Attributes = attrs }).QueueUrl
end

-- Sends an S3-shaped event body (a table or JSON text).
function Srv:send(url, body)
  if type(body) ~= "string" then body = H.json.encode(body) end
  return self:sqs_call("SendMessage", { QueueUrl = url, MessageBody = body })
end

-- Messages visible + in flight.
function Srv:queue_depth(url)
  local a = self:sqs_call("GetQueueAttributes", { QueueUrl = url,
    AttributeNames = { "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible" } }).Attributes
  return tonumber(a.ApproximateNumberOfMessages) + tonumber(a.ApproximateNumberOfMessagesNotVisible)
end

-- The S3 event notification AWS would send: keys form-encoded.
function S.event(bucket, records)
  local recs = {}
  for _, r in ipairs(records) do
    local enc = r.key:gsub("[^%w%-%._~/]", function(c)
      if c == " " then return "+" end
      return string.format("%%%02X", c:byte())
    end)
    recs[#recs + 1] = { eventVersion = "2.1", eventSource = "aws:s3", awsRegion = "us-east-1",
      eventTime = "2026-11-21T16:34:04.000Z", eventName = r.name or "ObjectCreated:Put",
      s3 = { s3SchemaVersion = "1.0", configurationId = "coco", bucket = { name = bucket,
        arn = "arn:aws:s3:::" .. bucket }, object = { key = enc, size = 1, eTag = "e", sequencer = "0A" } } }
  end
  return { Records = recs }
end

-- Starts the botocore SigV4 proxy in front of this server. o.creds: a list
-- of "AKID:SECRET"; o.drop_lists_after: N. Returns its URL and log path.
function Srv:proxy(o)
  o = o or {}
  if self.proxy_proc then P.kill(self.proxy_proc) end
  local log = os.tmpname()
  self.logs = self.logs or {}
  self.logs[#self.logs + 1] = log
  local cmd = string.format("/usr/bin/python3 sigv4_proxy.py --s3 %d --sqs %d --log %s", self.s3_port,
    self.sqs_port, H.q(log))
  for _, c in ipairs(o.creds or {}) do cmd = cmd .. " --cred " .. H.q(c) end
  if o.drop_lists_after then cmd = cmd .. " --drop-lists-after " .. o.drop_lists_after end
  local p = P.spawn(S.dir, cmd, "pipe")
  self.proxy_proc = p
  local pp = ports(p)
  return "http://127.0.0.1:" .. pp.port, log
end

return S
