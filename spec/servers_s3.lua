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
local ffi = require("ffi")
local H = require("spec.helpers")

local S = {}

pcall(ffi.cdef, [[
int s3spec_fork(void) __asm__("fork");
int s3spec_execv(const char *path, const char *const argv[]) __asm__("execv");
void s3spec_exit(int status) __asm__("_exit");
int s3spec_waitpid(int pid, int *status, int options) __asm__("waitpid");
int s3spec_kill(int pid, int sig) __asm__("kill");
int s3spec_setpgid(int pid, int pgid) __asm__("setpgid");
int s3spec_poll(void *fds, unsigned long nfds, int timeout) __asm__("poll");
int s3spec_pipe2(int fds[2], int flags) __asm__("pipe2");
int s3spec_dup2(int a, int b) __asm__("dup2");
int s3spec_close(int fd) __asm__("close");
struct s3spec_ts { long tv_sec; long tv_nsec; };
int s3spec_clock_gettime(int clk, struct s3spec_ts *ts) __asm__("clock_gettime");
]])
local C = ffi.C
local O_CLOEXEC, SIGKILL, SIGTERM, WNOHANG = 524288, 9, 15, 1

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

function S.now()
  local ts = ffi.new("struct s3spec_ts")
  C.s3spec_clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

function S.sleep_ms(ms) C.s3spec_poll(nil, 0, ms) end

-- ---------------------------------------------------------------------------
-- Processes

local procs = {}

-- Runs `sh -c "cd DIR && exec CMD >out 2>err"` as our child in its own
-- process group. stdin: "pipe" (a pipe only we write to: EOF when we go),
-- or a path (default /dev/null).
function S.spawn(dir, cmd, stdin)
  local out, err = os.tmpname(), os.tmpname()
  local redir = stdin == "pipe" and "" or (" <" .. H.q(stdin or "/dev/null"))
  local line = string.format("cd %s && exec %s >%s 2>%s%s", H.q(dir), cmd, H.q(out), H.q(err), redir)
  local argv = ffi.new("const char *[4]", { "sh", "-c", line, nil })
  local fds = ffi.new("int[2]")
  if stdin == "pipe" then assert(C.s3spec_pipe2(fds, O_CLOEXEC) == 0, "pipe2 failed") end
  io.stdout:flush()
  io.stderr:flush()
  local pid = C.s3spec_fork()
  if pid == 0 then
    C.s3spec_setpgid(0, 0)
    if stdin == "pipe" then C.s3spec_dup2(fds[0], 0) end
    C.s3spec_execv("/bin/sh", argv)
    C.s3spec_exit(127)
  end
  assert(pid > 0, "fork failed")
  local p = { pid = pid, out = out, err = err, cmd = cmd }
  if stdin == "pipe" then
    C.s3spec_close(fds[0])
    p.wfd = fds[1]
  end
  procs[#procs + 1] = p
  return p
end

-- Reaps p if it has exited; true while it runs.
function S.alive(p)
  if p.status then return false end
  local st = ffi.new("int[1]")
  local r = C.s3spec_waitpid(p.pid, st, WNOHANG)
  if r == 0 then return true end
  local s = st[0]
  if r == p.pid and s % 128 == 0 then
    p.status, p.code = "exit", math.floor(s / 256) % 256
  elseif r == p.pid then
    p.status, p.code = "signal", s % 128
  else
    p.status, p.code = "lost", -1
  end
  return false
end

function S.signal(p, sig) C.s3spec_kill(p.pid, sig) end

function S.stdout(p) return H.read(p.out) or "" end
function S.stderr(p) return H.read(p.err) or "" end

function S.describe(p)
  S.alive(p)
  return string.format("[%s: %s]\nstdout:\n%s\nstderr:\n%s", p.cmd,
    p.status and (p.status .. " " .. p.code) or "running", S.stdout(p), S.stderr(p))
end

-- Every wait below polls for its condition; its deadline only catches a
-- hang, so it is at least PATIENCE seconds whatever the caller says (the
-- caller's figure is what it expects on an idle machine): a busy or slow
-- machine takes longer, and no spec measures this machine's speed.
S.PATIENCE = 60

-- Waits for p's exit; returns status, code.
function S.wait_exit(p, secs)
  secs = math.max(secs or 0, S.PATIENCE)
  local deadline = S.now() + secs
  while S.alive(p) do
    if S.now() > deadline then error("still running after " .. secs .. " s " .. S.describe(p), 2) end
    S.sleep_ms(5)
  end
  return p.status, p.code
end

-- Kills p's process group and reaps it.
function S.kill(p)
  if not p.status then C.s3spec_kill(-p.pid, SIGKILL) end
  if S.alive(p) then
    C.s3spec_kill(p.pid, SIGKILL)
    C.s3spec_waitpid(p.pid, nil, 0)
    p.status = "signal"
  end
  if p.wfd then C.s3spec_close(p.wfd); p.wfd = nil end
  os.remove(p.out)
  os.remove(p.err)
end

-- Kills and reaps every child still there but the servers (after_each);
-- with all = true, the servers too.
function S.reap_all(all)
  local keep = {}
  for _, p in ipairs(procs) do
    if p.server and not all then keep[#keep + 1] = p else S.kill(p) end
  end
  procs = keep
end

-- Polls fn every 10 ms until it returns a true value; fails after secs,
-- or at once when process p (optional) died.
function S.wait_for(p, secs, what, fn)
  secs = math.max(secs or 0, S.PATIENCE)
  local t0 = S.now()
  while true do
    local ok, v = pcall(fn)
    if ok and v then return v, S.now() - t0 end
    if p and not S.alive(p) then error("process exited while waiting for " .. what .. " " .. S.describe(p), 2) end
    if S.now() - t0 > secs then
      error(string.format("timed out after %.1f s waiting for %s%s%s", secs, what,
        ok and "" or (" (" .. tostring(v) .. ")"), p and (" " .. S.describe(p)) or ""), 2)
    end
    S.sleep_ms(10)
  end
end

-- The first line of p's stdout, decoded as JSON (a server's ports).
local function ports(p, secs)
  return S.wait_for(p, secs or 20, "the server's ports", function()
    local line = S.stdout(p):match("^([^\n]*)\n")
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
  local p = S.spawn(S.dir, cmd, "pipe")
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
  if self.proxy_proc then S.kill(self.proxy_proc) end
  S.kill(self.proc)
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
  if self.proxy_proc then S.kill(self.proxy_proc) end
  local log = os.tmpname()
  self.logs = self.logs or {}
  self.logs[#self.logs + 1] = log
  local cmd = string.format("/usr/bin/python3 sigv4_proxy.py --s3 %d --sqs %d --log %s", self.s3_port,
    self.sqs_port, H.q(log))
  for _, c in ipairs(o.creds or {}) do cmd = cmd .. " --cred " .. H.q(c) end
  if o.drop_lists_after then cmd = cmd .. " --drop-lists-after " .. o.drop_lists_after end
  local p = S.spawn(S.dir, cmd, "pipe")
  self.proxy_proc = p
  local pp = ports(p)
  return "http://127.0.0.1:" .. pp.port, log
end

return S
