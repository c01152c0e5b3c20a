-- Child processes of a spec, and the monotonic clock its waits poll
-- against. A child is started with fork + exec through FFI, in a process
-- group of its own, so that its exit status is ours to read and nothing it
-- starts outlives the spec: reap_all() (after_each) kills and reaps what
-- is left. Every wait polls for its condition; its deadline only catches a
-- hang (PATIENCE), so a busy or slow machine just takes longer.
--
--   local P = require("spec.proc")
--   local p = P.spawn(dir, H.q(H.bin) .. " flow.lua -L --json")
--   P.wait_for(p, 20, "the initial pass", function() return P.stdout(p):find("\n") end)
--   P.signal(p, 15); P.wait_exit(p) --> "exit", 0
local ffi = require("ffi")
local H = require("spec.helpers")

local P = {}

pcall(ffi.cdef, [[
int spec_proc_fork(void) __asm__("fork");
int spec_proc_execv(const char *path, const char *const argv[]) __asm__("execv");
void spec_proc_exit(int status) __asm__("_exit");
int spec_proc_waitpid(int pid, int *status, int options) __asm__("waitpid");
int spec_proc_kill(int pid, int sig) __asm__("kill");
int spec_proc_setpgid(int pid, int pgid) __asm__("setpgid");
int spec_proc_poll(void *fds, unsigned long nfds, int timeout) __asm__("poll");
int spec_proc_pipe2(int fds[2], int flags) __asm__("pipe2");
int spec_proc_dup2(int a, int b) __asm__("dup2");
int spec_proc_close(int fd) __asm__("close");
struct spec_proc_ts { long tv_sec; long tv_nsec; };
int spec_proc_clock_gettime(int clk, struct spec_proc_ts *ts) __asm__("clock_gettime");
]])
local C = ffi.C
local O_CLOEXEC, SIGKILL, SIGTERM, WNOHANG = 524288, 9, 15, 1

function P.now()
  local ts = ffi.new("struct spec_proc_ts")
  C.spec_proc_clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

function P.sleep_ms(ms) C.spec_proc_poll(nil, 0, ms) end

-- ---------------------------------------------------------------------------
-- Processes

local procs = {}

-- Runs `sh -c "cd DIR && exec CMD >out 2>err"` as our child in its own
-- process group. stdin: "pipe" (a pipe only we write to: EOF when we go),
-- or a path (default /dev/null).
function P.spawn(dir, cmd, stdin)
  local out, err = os.tmpname(), os.tmpname()
  local redir = stdin == "pipe" and "" or (" <" .. H.q(stdin or "/dev/null"))
  local line = string.format("cd %s && exec %s >%s 2>%s%s", H.q(dir), cmd, H.q(out), H.q(err), redir)
  local argv = ffi.new("const char *[4]", { "sh", "-c", line, nil })
  local fds = ffi.new("int[2]")
  if stdin == "pipe" then assert(C.spec_proc_pipe2(fds, O_CLOEXEC) == 0, "pipe2 failed") end
  io.stdout:flush()
  io.stderr:flush()
  local pid = C.spec_proc_fork()
  if pid == 0 then
    C.spec_proc_setpgid(0, 0)
    if stdin == "pipe" then C.spec_proc_dup2(fds[0], 0) end
    C.spec_proc_execv("/bin/sh", argv)
    C.spec_proc_exit(127)
  end
  assert(pid > 0, "fork failed")
  local p = { pid = pid, out = out, err = err, cmd = cmd }
  if stdin == "pipe" then
    C.spec_proc_close(fds[0])
    p.wfd = fds[1]
  end
  procs[#procs + 1] = p
  return p
end

-- Reaps p if it has exited; true while it runs.
function P.alive(p)
  if p.status then return false end
  local st = ffi.new("int[1]")
  local r = C.spec_proc_waitpid(p.pid, st, WNOHANG)
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

function P.signal(p, sig) C.spec_proc_kill(p.pid, sig) end

function P.stdout(p) return H.read(p.out) or "" end
function P.stderr(p) return H.read(p.err) or "" end

function P.describe(p)
  P.alive(p)
  return string.format("[%s: %s]\nstdout:\n%s\nstderr:\n%s", p.cmd,
    p.status and (p.status .. " " .. p.code) or "running", P.stdout(p), P.stderr(p))
end

-- Every wait below polls for its condition; its deadline only catches a
-- hang, so it is at least PATIENCE seconds whatever the caller says (the
-- caller's figure is what it expects on an idle machine): a busy or slow
-- machine takes longer, and no spec measures this machine's speed.
P.PATIENCE = 60

-- Waits for p's exit; returns status, code.
function P.wait_exit(p, secs)
  secs = math.max(secs or 0, P.PATIENCE)
  local deadline = P.now() + secs
  while P.alive(p) do
    if P.now() > deadline then error("still running after " .. secs .. " s " .. P.describe(p), 2) end
    P.sleep_ms(5)
  end
  return p.status, p.code
end

-- Kills p's process group and reaps it.
function P.kill(p)
  if not p.status then C.spec_proc_kill(-p.pid, SIGKILL) end
  if P.alive(p) then
    C.spec_proc_kill(p.pid, SIGKILL)
    C.spec_proc_waitpid(p.pid, nil, 0)
    p.status = "signal"
  end
  if p.wfd then C.spec_proc_close(p.wfd); p.wfd = nil end
  os.remove(p.out)
  os.remove(p.err)
end

-- Kills and reaps every child still there but the servers (after_each);
-- with all = true, the servers too.
function P.reap_all(all)
  local keep = {}
  for _, p in ipairs(procs) do
    if p.server and not all then keep[#keep + 1] = p else P.kill(p) end
  end
  procs = keep
end

-- Polls fn every 10 ms until it returns a true value; fails after secs,
-- or at once when process p (optional) died.
function P.wait_for(p, secs, what, fn)
  secs = math.max(secs or 0, P.PATIENCE)
  local t0 = P.now()
  while true do
    local ok, v = pcall(fn)
    if ok and v then return v, P.now() - t0 end
    if p and not P.alive(p) then error("process exited while waiting for " .. what .. " " .. P.describe(p), 2) end
    if P.now() - t0 > secs then
      error(string.format("timed out after %.1f s waiting for %s%s%s", secs, what,
        ok and "" or (" (" .. tostring(v) .. ")"), p and (" " .. P.describe(p)) or ""), 2)
    end
    P.sleep_ms(10)
  end
end

return P
