-- The differential fuzzer: random source edits and flow edits, each
-- followed by `coco update` (plain, -f, killed with SIGKILL and run again,
-- or a while of -L with files changing), then every target compared row by
-- row and column by column with a fresh build of the same flow on the same
-- sources (fresh state, fresh targets), and the state checked for entries
-- that outlive what they stand for. The updates that need no process of
-- their own (all but the killed runs, -L, --reexport and --full-reprocess)
-- and the fresh builds run in this process through the coco module. Seeded: a seed gives the same steps; a
-- failure is shrunk (delta debugging over the steps) and replayed into a
-- directory that is kept.
--
--   local F = require("spec.fuzz.fuzz")
--   local r = F.run{ build = "/abs/build", steps = 300, seed = 1 }
--   -- r.ok, r.steps, r.seconds, r.report (the failure, shrunk)
local ffi = require("ffi")
local bit = require("bit")

local here = debug.getinfo(1, "S").source:match("^@(.*)/fuzz%.lua$") or "spec/fuzz"
package.path = here .. "/?.lua;" .. package.path
local M = require("model")
local DB = require("db")
local QD = require("qdrant")
local CH = require("chroma")

ffi.cdef [[
struct fz_timespec { long tv_sec; long tv_nsec; };
int utimensat(int dirfd, const char *pathname, const struct fz_timespec times[2], int flags);
int usleep(unsigned int usec);
int mkdir(const char *path, unsigned int mode);
int rmdir(const char *path);
int unlink(const char *path);
typedef struct fz_DIR fz_DIR;
struct fz_dirent { uint64_t d_ino; int64_t d_off; unsigned short d_reclen; unsigned char d_type; char d_name[256]; };
fz_DIR *opendir(const char *name);
struct fz_dirent *readdir(fz_DIR *d);
int closedir(fz_DIR *d);
int mkfifo(const char *path, unsigned int mode);
struct fz_mono { long tv_sec; long tv_nsec; };
int clock_gettime(int clk, struct fz_mono *ts);
struct fz_rusage { long ut_s; long ut_us; long st_s; long st_us; long pad[14]; };
int getrusage(int who, struct fz_rusage *u);
int posix_spawn(int *pid, const char *path, const void *actions, const void *attr, char *const argv[],
  char *const envp[]);
int posix_spawn_file_actions_init(void *fa);
int posix_spawn_file_actions_destroy(void *fa);
int posix_spawn_file_actions_addopen(void *fa, int fd, const char *path, int oflag, unsigned int mode);
int posix_spawn_file_actions_addchdir_np(void *fa, const char *path);
int posix_spawnattr_init(void *attr);
int posix_spawnattr_destroy(void *attr);
int posix_spawnattr_setflags(void *attr, short flags);
int posix_spawnattr_setsigdefault(void *attr, const void *set);
int posix_spawnattr_setsigmask(void *attr, const void *set);
int sigemptyset(void *set);
int sigaddset(void *set, int sig);
int waitpid(int pid, int *status, int options);
int kill(int pid, int sig);
int setenv(const char *name, const char *value, int overwrite);
int chdir(const char *path);
int access(const char *path, int mode);
char *strerror(int errnum);
char *getcwd(char *buf, size_t size);
extern char **environ;
]]

local F = {}

-- ---- small things ------------------------------------------------------------------
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("*a")
  p:close()
  return out
end

local function sleep_ms(ms) ffi.C.usleep(math.floor(ms * 1000)) end

-- ---- child processes: posix_spawn, no shell ----------------------------------------
local SIGINT, SIGKILL, SIGTERM = 2, 9, 15
local O_RDONLY, O_WRONLY_CREAT_TRUNC = 0, 0x241
local SETSIGDEF, SETSIGMASK = 0x04, 0x08

-- Starts argv[1] with argv in dir, stdin from /dev/null, stdout and stderr
-- to files (or /dev/null), SIGINT and SIGTERM at their default action (a
-- parent may ignore them) and no signal blocked. Returns the pid, or nil
-- and why not.
local function spawn(argv, dir, out, err)
  local fa, attr = ffi.new("uint8_t[256]"), ffi.new("uint8_t[512]")
  local def, none = ffi.new("uint8_t[128]"), ffi.new("uint8_t[128]")
  ffi.C.posix_spawn_file_actions_init(fa)
  ffi.C.posix_spawn_file_actions_addchdir_np(fa, dir)
  ffi.C.posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0)
  ffi.C.posix_spawn_file_actions_addopen(fa, 1, out or "/dev/null", O_WRONLY_CREAT_TRUNC, 420)
  ffi.C.posix_spawn_file_actions_addopen(fa, 2, err or "/dev/null", O_WRONLY_CREAT_TRUNC, 420)
  ffi.C.posix_spawnattr_init(attr)
  ffi.C.sigemptyset(def)
  ffi.C.sigaddset(def, SIGINT)
  ffi.C.sigaddset(def, SIGTERM)
  ffi.C.sigemptyset(none)
  ffi.C.posix_spawnattr_setsigdefault(attr, def)
  ffi.C.posix_spawnattr_setsigmask(attr, none)
  ffi.C.posix_spawnattr_setflags(attr, SETSIGDEF + SETSIGMASK)
  local cargv = ffi.new("char *[?]", #argv + 1)
  local keep = {}
  for i, a in ipairs(argv) do
    keep[i] = ffi.new("char[?]", #a + 1, a)
    cargv[i - 1] = keep[i]
  end
  local pid = ffi.new("int[1]")
  local rc = ffi.C.posix_spawn(pid, argv[1], fa, attr, cargv, ffi.C.environ)
  ffi.C.posix_spawn_file_actions_destroy(fa)
  ffi.C.posix_spawnattr_destroy(attr)
  if rc ~= 0 then return nil, ffi.string(ffi.C.strerror(rc)) end
  return pid[0]
end

-- Waits for pid (nohang: only if it has exited). Returns its status as a
-- shell gives it (the exit code, 128 + the signal that ended it), or nil.
local function reap(pid, nohang)
  local st = ffi.new("int[1]")
  local r
  repeat r = ffi.C.waitpid(pid, st, nohang and 1 or 0) until r ~= -1 or ffi.errno() ~= 4
  if r ~= pid then return nil end
  local sig = bit.band(st[0], 0x7f)
  if sig ~= 0 then return 128 + sig end
  return bit.band(bit.rshift(st[0], 8), 0xff)
end

-- The entries of a directory: { name = is_dir }, or nil. (No process per
-- look: a step makes few.)
local DT_DIR = 4
local function entries(dir)
  local d = ffi.C.opendir(dir)
  if d == nil then return nil end
  local out = {}
  while true do
    local e = ffi.C.readdir(d)
    if e == nil then break end
    local name = ffi.string(e.d_name)
    if name ~= "." and name ~= ".." then out[name] = e.d_type == DT_DIR end
  end
  ffi.C.closedir(d)
  return out
end

local function rmtree(path)
  local es = entries(path)
  if not es then ffi.C.unlink(path) return end
  for name, isdir in pairs(es) do
    if isdir then rmtree(path .. "/" .. name) else ffi.C.unlink(path .. "/" .. name) end
  end
  ffi.C.rmdir(path)
end

-- Files under dir, as paths relative to it ("a/d1/x.md").
local function walk(dir, prefix, out)
  out = out or {}
  for name, isdir in pairs(entries(dir) or {}) do
    local rel = prefix and (prefix .. "/" .. name) or name
    if isdir then walk(dir .. "/" .. name, rel, out) else out[#out + 1] = rel end
  end
  return out
end

local mono = ffi.new("struct fz_mono")
local function now() -- seconds, monotonic, with sub-second precision
  ffi.C.clock_gettime(1, mono)
  return tonumber(mono.tv_sec) + tonumber(mono.tv_nsec) / 1e9
end
F.now = now

-- CPU seconds of this process (who 0) and of its children waited for (-1).
local ru = ffi.new("struct fz_rusage")
local function rusage(who)
  ffi.C.getrusage(who, ru)
  return tonumber(ru.ut_s) + tonumber(ru.st_s) + (tonumber(ru.ut_us) + tonumber(ru.st_us)) / 1e6
end

-- Where a step's time goes: F.prof[phase] = { wall, cpu here, cpu of children, n }.
F.prof = {}
local function timed(phase, fn, ...)
  local w0, c0, k0 = now(), rusage(0), rusage(-1)
  local a, b, c, d = fn(...)
  local p = F.prof[phase] or { 0, 0, 0, 0 }
  F.prof[phase] = p
  p[1], p[2], p[3], p[4] = p[1] + now() - w0, p[2] + rusage(0) - c0, p[3] + rusage(-1) - k0, p[4] + 1
  return a, b, c, d
end

-- CPU seconds used by this process and the children it waited for.
local function cpu() return rusage(0) + rusage(-1) end
F.cpu = cpu

-- A deterministic generator (xorshift32): the same seed, the same steps.
local R = {}
R.__index = R
function R.new(seed)
  local s = bit.tobit(seed * 2654435761 % 4294967296)
  if s == 0 then s = 0x2545F491 end
  local r = setmetatable({ s = s }, R)
  for _ = 1, 8 do r:next() end
  return r
end
function R:next()
  local x = self.s
  x = bit.bxor(x, bit.lshift(x, 13))
  x = bit.bxor(x, bit.rshift(x, 17))
  x = bit.bxor(x, bit.lshift(x, 5))
  self.s = x
  return (x % 4294967296) / 4294967296
end
function R:int(a, b) return a + math.floor(self:next() * (b - a + 1)) end
function R:pick(t) return t[self:int(1, #t)] end
function R:chance(p) return self:next() < p end

-- Plain data as a Lua expression (for the replay file).
local function ser(v, ind)
  ind = ind or ""
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" then return tostring(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) == type(b) then return a < b end
    return type(a) == "number"
  end)
  local parts = {}
  for _, k in ipairs(keys) do
    local ks = type(k) == "number" and ("[" .. k .. "]") or (k:match("^[%a_][%w_]*$") and k or ("[" .. string.format("%q", k) .. "]"))
    parts[#parts + 1] = ind .. "  " .. ks .. " = " .. ser(v[k], ind .. "  ")
  end
  if #parts == 0 then return "{}" end
  return "{\n" .. table.concat(parts, ",\n") .. "\n" .. ind .. "}"
end
F.ser = ser

-- ---- source content ---------------------------------------------------------------
local WORDS = { "alpha", "beta", "gamma", "delta", "coco", "index", "chunk", "river", "stone",
  "light", "north", "ember", "x", "the", "of", "a", "sync", "table", "flow", "row" }
local NAMES = { "a.md", "b.md", "c.txt", "d.md", "e.txt", "f.log", "g.md" }
local DIRS = { "", "", "d1/", "d1/d2/", "d3/" }
local NEWDIRS = { "d4", "d5", "d6" }
local SRCS = { "a", "b", "c" }

local function line(rng)
  local r = rng:next()
  if r < 0.1 then return "# " .. rng:pick(WORDS) .. " " .. rng:pick(WORDS) end
  if r < 0.25 then return "" end
  if r < 0.3 then return "def " .. rng:pick(WORDS) .. "():" end
  if r < 0.35 then return "    return " .. rng:pick(WORDS) end
  local w = {}
  for i = 1, rng:int(1, 12) do w[i] = rng:pick(WORDS) end
  return table.concat(w, " ") .. (rng:chance(0.3) and "." or "")
end

local function content(rng)
  local l = {}
  for i = 1, rng:int(0, 24) do l[i] = line(rng) end
  local s = table.concat(l, "\n")
  if rng:chance(0.7) then s = s .. "\n" end
  return s
end

-- A modification of s: some keep chunk boundaries (a word for a word of
-- the same length), others move them.
local function modify(rng, s)
  local r = rng:next()
  if r < 0.25 then return s .. line(rng) .. "\n", "append" end
  if r < 0.4 then return line(rng) .. "\n" .. s, "prepend" end
  if r < 0.6 then
    local pos = {}
    for p, w in s:gmatch("()(%a+)") do pos[#pos + 1] = { p, w } end
    if #pos > 0 then
      local p = rng:pick(pos)
      local same = {}
      for _, w in ipairs(WORDS) do if #w == #p[2] and w ~= p[2] then same[#same + 1] = w end end
      if #same > 0 then
        return s:sub(1, p[1] - 1) .. rng:pick(same) .. s:sub(p[1] + #p[2]), "same-length word"
      end
    end
    return s .. "x", "append x"
  end
  if r < 0.75 then
    local l = {}
    for x in (s .. "\n"):gmatch("([^\n]*)\n") do l[#l + 1] = x end
    if #l > 1 then table.remove(l, rng:int(1, #l)) end
    return table.concat(l, "\n"), "delete a line"
  end
  if r < 0.85 then return s, "same content" end
  return content(rng), "rewrite"
end

-- ---- the generator: steps from a seed ----------------------------------------------
local Gen = {}
Gen.__index = Gen

function F.generator(seed, o)
  local g = setmetatable({ rng = R.new(seed), o = o, fs = {}, n = 0 }, Gen)
  g.model = M.initial(g.rng, o)
  return g
end

function Gen:files()
  local l = {}
  for p in pairs(self.fs) do l[#l + 1] = p end
  table.sort(l)
  return l
end

function Gen:dirs()
  local set, l = {}, {}
  for p in pairs(self.fs) do
    local d = p:match("^(.*)/[^/]*$")
    while d and d:find("/") do
      if not set[d] then set[d] = true; l[#l + 1] = d end
      d = d:match("^(.*)/[^/]*$")
    end
  end
  table.sort(l)
  return l
end

-- One source operation (applied to the generator's picture of the files).
function Gen:fs_op()
  local rng, fs = self.rng, self.fs
  local files = self:files()
  local r = rng:next()
  if #files == 0 or r < 0.25 then
    local p = rng:pick(SRCS) .. "/" .. rng:pick(DIRS) .. rng:pick(NAMES)
    local c = content(rng)
    fs[p] = c
    return { op = "write", path = p, content = c, why = "add" }
  end
  if r < 0.6 then
    local p = rng:pick(files)
    local c, why = modify(rng, fs[p])
    fs[p] = c
    return { op = "write", path = p, content = c, why = why }
  end
  if r < 0.65 then return { op = "touch", path = rng:pick(files) } end
  if r < 0.75 then
    local p = rng:pick(files)
    fs[p] = nil
    return { op = "rm", path = p }
  end
  if r < 0.85 then
    local p = rng:pick(files)
    local to = rng:pick(SRCS) .. "/" .. rng:pick(DIRS) .. rng:pick(NAMES)
    if to == p then return { op = "touch", path = p } end
    fs[to], fs[p] = fs[p], nil
    return { op = "mv", path = p, to = to }
  end
  local dirs = self:dirs()
  if r < 0.9 or #dirs == 0 then
    local d = rng:pick(SRCS) .. "/" .. rng:pick(NEWDIRS)
    local ops = { op = "mkdir", path = d, files = {} }
    for _ = 1, rng:int(1, 3) do
      local p = d .. "/" .. rng:pick(NAMES)
      local c = content(rng)
      fs[p] = c
      ops.files[#ops.files + 1] = { path = p, content = c }
    end
    return ops
  end
  local d = rng:pick(dirs)
  if r < 0.95 then
    local to = rng:pick(SRCS) .. "/" .. rng:pick(NEWDIRS)
    for p in pairs(fs) do
      if p:sub(1, #to + 1) == to .. "/" then return { op = "touch", path = files[1] } end
    end
    if to:sub(1, #d + 1) == d .. "/" or to == d then return { op = "touch", path = files[1] } end
    for _, p in ipairs(files) do
      if p:sub(1, #d + 1) == d .. "/" then fs[to .. p:sub(#d + 1)], fs[p] = fs[p], nil end
    end
    return { op = "mvdir", path = d, to = to }
  end
  for _, p in ipairs(files) do
    if p:sub(1, #d + 1) == d .. "/" then fs[p] = nil end
  end
  return { op = "rmdir", path = d }
end

-- The next step: flow edits, source edits, and how coco runs.
function Gen:step()
  local rng, o = self.rng, self.o
  self.n = self.n + 1
  local st = { n = self.n, ops = {}, what = {} }
  if self.n == 1 then
    for _ = 1, rng:int(3, 8) do st.ops[#st.ops + 1] = self:fs_op() end
    st.flow = M.copy(self.model)
    st.what[1] = "first flow"
  else
    local r = rng:next()
    if r < 0.06 then
      local bad = {}
      for _, b in ipairs(M.BAD) do
        local sqlite = false
        for _, x in ipairs(self.model.exports) do sqlite = sqlite or x.kind == "sqlite" end
        -- two exports on one table: the engine sees it through the resource
        -- ids, which a target written in Lua makes from the export's name
        local same = #self.model.exports > 1 and self.model.exports[1].kind ~= "lua"
        if (b ~= "same_table" or same) and (b ~= "option" or sqlite) then
          bad[#bad + 1] = b
        end
      end
      st.bad = rng:pick(bad)
    elseif r < 0.4 then
      for _ = 1, rng:chance(0.3) and 2 or 1 do
        local what
        self.model, what = M.edit(rng, self.model, o)
        st.what[#st.what + 1] = what
      end
      st.flow = M.copy(self.model)
    end
    if rng:chance(0.8) then
      for _ = 1, rng:int(1, 4) do st.ops[#st.ops + 1] = self:fs_op() end
    end
  end
  local r = rng:next()
  local w = o.weights
  if st.bad then
    st.run = { mode = "force" }
  elseif r < w.kill then
    st.run = { mode = "kill", kills = { rng:int(0, 80) } }
    if rng:chance(0.3) then st.run.kills[2] = rng:int(0, 80) end
  elseif r < w.kill + w.live then
    local ops, gaps = {}, {}
    for i = 1, rng:int(1, 4) do
      ops[i] = self:fs_op()
      gaps[i] = rng:int(0, 150)
    end
    st.run = { mode = "live", wait = rng:int(0, 300), ops = ops, gaps = gaps,
      sig = rng:chance(0.5) and "INT" or "TERM" }
  elseif r < w.kill + w.live + 0.05 then
    st.run = { mode = "reexport" }
  elseif r < w.kill + w.live + 0.1 then
    st.run = { mode = "full" }
  elseif r < w.kill + w.live + 0.5 then
    st.run = { mode = "plain" }
  else
    st.run = { mode = "force" }
  end
  return st
end

-- A line per step, for the shrunk sequence.
function F.describe(st)
  local parts = {}
  if st.flow then parts[#parts + 1] = "flow: " .. table.concat(st.what or {}, ", ") .. " => " .. M.describe(st.flow) end
  if st.bad then parts[#parts + 1] = "invalid flow (" .. st.bad .. ")" end
  local function opd(op)
    if op.op == "write" then return string.format("write %s (%s, %d bytes)", op.path, op.why or "", #op.content) end
    if op.op == "mkdir" then return "mkdir " .. op.path .. " with " .. #op.files .. " files" end
    return op.op .. " " .. op.path .. (op.to and (" -> " .. op.to) or "")
  end
  for _, op in ipairs(st.ops or {}) do parts[#parts + 1] = opd(op) end
  local r = st.run
  local run = "update " .. r.mode
  if r.mode == "kill" then run = "update killed after " .. table.concat(r.kills, " ms, then ") .. " ms, then update -f" end
  if r.mode == "live" then
    local l = {}
    for i, op in ipairs(r.ops) do l[i] = opd(op) .. " (+" .. r.gaps[i] .. " ms)" end
    run = string.format("update -L: after %d ms %s; SIG%s; then update -f", r.wait, table.concat(l, "; "), r.sig)
  end
  parts[#parts + 1] = run
  return table.concat(parts, "; ")
end

-- ---- the world: the directories, databases and coco runs of one sequence -----------
local World = {}
World.__index = World

function F.world(env, keep_dir)
  -- in memory where there is a tmpfs: fsyncs cost nothing there
  local base = io.open("/dev/shm") and "/dev/shm" or "/tmp"
  local dir = keep_dir or sh("mktemp -d " .. base .. "/coco-fuzz.XXXXXX"):match("[^\n]+")
  if keep_dir then sh("rm -rf " .. q(dir) .. " && mkdir -p " .. q(dir)) end
  sh("mkdir -p " .. q(dir .. "/src/a") .. " " .. q(dir .. "/src/b") .. " " .. q(dir .. "/src/c")
    .. " " .. q(dir .. "/main"))
  local w = setmetatable({ env = env, dir = dir, src = dir .. "/src", main = dir .. "/main",
    fresh = dir .. "/fresh", clock = 1600000000, model = nil }, World)
  if env.pg then
    env.pg.main:reset()
    env.pg.fresh:reset()
  end
  for _, v in pairs({ env.qdrant or false, env.chroma or false }) do
    if v then
      v:reset(v.ns.main)
      v:reset(v.ns.fresh)
    end
  end
  return w
end

function World:remove()
  rmtree(self.dir)
end

-- A new modification time for path (seconds apart, so that no edit hides
-- behind an unchanged mtime and size).
function World:stamp(path)
  self.clock = self.clock + 1
  local ts = ffi.new("struct fz_timespec[2]")
  ts[0].tv_sec, ts[1].tv_sec = self.clock, self.clock
  ffi.C.utimensat(-100, path, ts, 0)
end

local function mkparent(path)
  local d = path:match("^(.*)/[^/]*$")
  if d and ffi.C.mkdir(d, 493) ~= 0 and not entries(d) then
    mkparent(d)
    ffi.C.mkdir(d, 493)
  end
end

function World:op(op)
  local src = self.src
  if op.op == "write" then
    local p = src .. "/" .. op.path
    local f = io.open(p, "wb")
    if not f then mkparent(p); f = assert(io.open(p, "wb")) end
    f:write(op.content)
    f:close()
    self:stamp(p)
  elseif op.op == "touch" then
    local p = src .. "/" .. op.path
    if io.open(p) then self:stamp(p) end
  elseif op.op == "rm" then
    os.remove(src .. "/" .. op.path)
  elseif op.op == "mv" then
    local p, to = src .. "/" .. op.path, src .. "/" .. op.to
    if io.open(p) then
      mkparent(to)
      os.rename(p, to)
    end
  elseif op.op == "mkdir" then
    for _, f in ipairs(op.files) do self:op({ op = "write", path = f.path, content = f.content }) end
  elseif op.op == "mvdir" then
    local from, to = src .. "/" .. op.path, src .. "/" .. op.to
    if entries(from) and ffi.C.access(to, 0) ~= 0 then
      mkparent(to)
      os.rename(from, to)
    end
  elseif op.op == "rmdir" then
    rmtree(src .. "/" .. op.path)
  end
end

-- The environment of a run against the `which` targets (main, fresh): its
-- PostgreSQL database, and the prefix of its Qdrant and Chroma collections.
function World:setenv(which)
  ffi.C.setenv("COCO_DATABASE_URL", self:url(which), 1)
  if self.env.ns then ffi.C.setenv("FZ_NS", self.env.ns[which], 1) end
end

-- `coco ARGS...` in dir against the `which` database (main, fresh); returns
-- rc, stdout, stderr.
function World:coco(dir, which, ...)
  local out, err = self.dir .. "/out", self.dir .. "/err"
  self:setenv(which)
  local pid, why = spawn({ self.env.bin, ... }, dir, out, err)
  if not pid then return -1, "", "cannot start " .. self.env.bin .. ": " .. why end
  return reap(pid), read(out) or "", read(err) or ""
end

-- coco as a library in this process (build/coco.so): the updates that need
-- no process of their own (a kill -9 or a signal does) run here, which
-- spares a process start, its dynamic linking and its Lua setup per run.
local coco_lib
local cwd_buf = ffi.new("char[4096]")

-- `coco update flow.lua -q [-f] [--reexport] [--full-reprocess]` in dir
-- against the `which` database, as flow:update in this process; returns
-- rc, stdout, stderr as the command would (rc 1 when the flow does not
-- load, setup or the update fails, or a row failed; each message a line).
function World:lib_update(dir, which, opts)
  if not coco_lib then
    package.cpath = self.env.build .. "/?.so;" .. package.cpath
    coco_lib = require("coco")
  end
  self:setenv(which)
  local cwd = ffi.string(assert(ffi.C.getcwd(cwd_buf, 4096) ~= nil and cwd_buf))
  assert(ffi.C.chdir(dir) == 0, "chdir " .. dir)
  local msgs, failed = {}, false
  local function say(source, key, msg)
    msgs[#msgs + 1] = string.format("coco: %s: %s", source, msg:find(key, 1, true) and msg or (key .. ": " .. msg))
  end
  local flow, err = coco_lib.load("flow.lua")
  if not flow then
    failed = true
    msgs[#msgs + 1] = "coco: " .. tostring(err)
  else
    local o = { force = opts.force, reexport = opts.reexport, full_reprocess = opts.full_reprocess,
      on_error = say, on_warning = say }
    local ok, stats, uerr = pcall(flow.update, flow, o)
    if not ok or not stats then
      failed = true
      msgs[#msgs + 1] = "coco: " .. tostring(ok and uerr or stats)
    else
      for _, st in ipairs(stats) do failed = failed or st.errors > 0 end
    end
    flow:close()
  end
  ffi.C.chdir(cwd)
  return failed and 1 or 0, "", table.concat(msgs, "\n") .. (#msgs > 0 and "\n" or "")
end

function World:url(which)
  return self.env.pg and self.env.pg[which].url or ""
end

-- Everything the targets of dir hold: SQLite files, the Postgres
-- database, the Lua target's files. One canonical string, and the parts.
function World:dump(dir, which)
  local d = { sqlite = {}, lua = {} }
  for _, f in ipairs(M.SQLITE_FILES) do d.sqlite[f] = DB.sqlite_dump(dir .. "/" .. f) end
  if self.env.pg then d.pg = self.env.pg[which]:dump() end
  if self.env.qdrant then d.qdrant = self.env.qdrant:dump(self.env.ns[which]) end
  if self.env.chroma then d.chroma = self.env.chroma:dump(self.env.ns[which]) end
  for _, n in ipairs({ "ta", "tb", "tc", "e1", "e2", "e3", "e4", "e5", "e6" }) do
    local s = read(dir .. "/" .. n .. ".tsv")
    if s then
      local rows = {}
      for l in s:gmatch("[^\n]+") do
        local parts = {}
        for x in l:gmatch("[^\t]+") do parts[#parts + 1] = x end
        local key = table.remove(parts, 1)
        table.sort(parts)
        rows[#rows + 1] = key .. " | " .. table.concat(parts, "|")
      end
      table.sort(rows)
      d.lua[n] = { cols = "", rows = rows }
    end
  end
  return d
end

local function canon(d)
  local out = {}
  local function tabs(label, t)
    local names = {}
    for n in pairs(t) do names[#names + 1] = n end
    table.sort(names)
    for _, n in ipairs(names) do
      out[#out + 1] = label .. "#" .. n .. " (" .. t[n].cols .. ")"
      for _, r in ipairs(t[n].rows) do out[#out + 1] = "  " .. r end
    end
  end
  for _, f in ipairs(M.SQLITE_FILES) do tabs("sqlite:" .. f, d.sqlite[f] or {}) end
  if d.pg then tabs("pg", d.pg) end
  if d.qdrant then tabs("qdrant", d.qdrant) end
  if d.chroma then tabs("chroma", d.chroma) end
  tabs("lua", d.lua)
  return table.concat(out, "\n")
end

-- Differences between two sets of tables (label: where they are).
local function diff_tables(label, a, b, out)
  local names = {}
  for n in pairs(a) do names[n] = true end
  for n in pairs(b) do names[n] = true end
  local sorted = {}
  for n in pairs(names) do sorted[#sorted + 1] = n end
  table.sort(sorted)
  for _, n in ipairs(sorted) do
    local x, y = a[n], b[n]
    if not y then
      out[#out + 1] = string.format("%s table %s: exists, a fresh build has none (%d rows)", label, n, #x.rows)
    elseif not x then
      out[#out + 1] = string.format("%s table %s: missing (a fresh build has it, %d rows)", label, n, #y.rows)
    else
      if x.cols ~= y.cols then
        out[#out + 1] = string.format("%s table %s: columns %s, a fresh build: %s", label, n, x.cols, y.cols)
      end
      local sx, sy = {}, {}
      for _, r in ipairs(x.rows) do sx[r] = (sx[r] or 0) + 1 end
      for _, r in ipairs(y.rows) do sy[r] = (sy[r] or 0) + 1 end
      local stale, missing = {}, {}
      for _, r in ipairs(x.rows) do if not sy[r] then stale[#stale + 1] = r end end
      for _, r in ipairs(y.rows) do if not sx[r] then missing[#missing + 1] = r end end
      if #stale > 0 or #missing > 0 then
        out[#out + 1] = string.format("%s table %s: %d rows, a fresh build %d; %d stale, %d missing", label, n,
          #x.rows, #y.rows, #stale, #missing)
        for i = 1, math.min(3, #stale) do out[#out + 1] = "    stale:   " .. stale[i] end
        for i = 1, math.min(3, #missing) do out[#out + 1] = "    missing: " .. missing[i] end
      end
    end
  end
end

local function diff(a, b)
  local out = {}
  for _, f in ipairs(M.SQLITE_FILES) do diff_tables("SQLite " .. f, a.sqlite[f] or {}, b.sqlite[f] or {}, out) end
  if a.pg then diff_tables("PostgreSQL", a.pg, b.pg, out) end
  if a.qdrant then diff_tables("Qdrant", a.qdrant, b.qdrant, out) end
  if a.chroma then diff_tables("Chroma", a.chroma, b.chroma, out) end
  diff_tables("Lua target", a.lua, b.lua, out)
  return out
end

-- The fresh build: same flow, same sources, new state and targets. (The
-- last one is reused while the flow and every source file are the same.)
function World:fresh_build()
  local f = self.fresh
  local files = walk(self.src)
  table.sort(files)
  local key = { read(self.main .. "/flow.lua") }
  for _, p in ipairs(files) do key[#key + 1] = p .. "\0" .. (read(self.src .. "/" .. p) or "") end
  key = table.concat(key, "\0\0")
  if self.fresh_key == key then return self.fresh_dump end
  rmtree(f)
  ffi.C.mkdir(f, 493)
  write(f .. "/flow.lua", read(self.main .. "/flow.lua"))
  if self.env.pg then self.env.pg.fresh:reset() end
  if self.env.qdrant then self.env.qdrant:reset(self.env.ns.fresh) end
  if self.env.chroma then self.env.chroma:reset(self.env.ns.fresh) end
  local rc, out, err = self:lib_update(f, "fresh", { force = true })
  if rc ~= 0 then return nil, "the fresh build failed (rc " .. tostring(rc) .. "): " .. err .. out end
  self.fresh_key, self.fresh_dump = key, self:dump(f, "fresh")
  return self.fresh_dump
end

-- The state as text, and (with files) the source files that exist. One
-- fuzz_state --serve answers every look of a run, through a FIFO.
function World:state_text(files)
  local env = self.env
  if not env.state_in then
    env.fifo = os.tmpname()
    os.remove(env.fifo)
    assert(ffi.C.mkfifo(env.fifo, 384) == 0, "mkfifo " .. env.fifo)
    env.state_out = io.popen(q(env.state_tool) .. " --serve <" .. q(env.fifo) .. " 2>&1")
    env.state_in = assert(io.open(env.fifo, "w"))
  end
  env.state_in:write(self.main .. "/.coco/Fz\n")
  env.state_in:flush()
  local l = {}
  for line in env.state_out:lines() do
    if line == "--- end" then break end
    l[#l + 1] = line
  end
  local s = table.concat(l, "\n") .. (#l > 0 and "\n" or "")
  if not files then return s end
  return s, walk(self.src)
end

-- Rows of the table export x writes, in dump d (nil: no such table).
local function export_rows(d, x)
  local t = x.table or ("Fz__" .. x.name)
  local set
  if x.kind == "sqlite" then set = d.sqlite[x.path]
  elseif x.kind == "pg" then set = d.pg
  elseif x.kind == "qdrant" then return (d.qdrant or {})[t]
  elseif x.kind == "chroma" then return (d.chroma or {})[t]
  else return d.lua[x.table or x.name] end
  for n, v in pairs(set or {}) do if n:lower() == t:lower() then return v end end
  return nil
end

local function matches(name) return name:match("%.md$") or name:match("%.txt$") end

-- What the state holds for what no longer exists (see the README).
function World:check_state(text, files, d, model)
  local out = {}
  local srcs, exps = {}, {}
  for _, s in ipairs(model.sources) do srcs["s_" .. s.id] = s end
  for _, x in ipairs(model.exports) do exps[x.name] = x end
  -- the files each source lists
  local want = {}
  for _, s in ipairs(model.sources) do want["s_" .. s.id] = {} end
  for _, p in ipairs(files) do
    local id, rel = p:match("^([^/]+)/(.+)$")
    if id and want["s_" .. id] and matches(rel) then want["s_" .. id]['"' .. rel .. '"'] = true end
  end
  local tracked, lcount, refs, spaces, memo, setup = {}, {}, {}, {}, {}, {}
  local nbad = 0
  -- lineage names targets by resource id; the setup records say which
  -- export set each one up
  local export_of = {}
  for l in text:gmatch("[^\n]+") do
    local rid, name = l:match("^S\t([^\t]*)\t([^\t]*)$")
    if rid then export_of[rid] = name end
  end
  local function bad(s)
    nbad = nbad + 1
    if nbad <= 8 then out[#out + 1] = "state: " .. s end
  end
  for l in text:gmatch("[^\n]+") do
    local f = {}
    for x in (l .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = x end
    if f[1] == "T" then
      if not srcs[f[2]] then bad("tracking for source " .. f[2] .. " that left the flow: " .. f[3])
      elseif not want[f[2]][f[3]] then bad("tracking for " .. f[2] .. " " .. f[3] .. " that is gone") end
      if f[4] ~= "0" then bad("tracking for " .. f[2] .. " " .. f[3] .. " left staged (flags " .. f[4] .. ")") end
      tracked[f[2] .. "\t" .. f[3]] = true
    elseif f[1] == "L" then
      local name = export_of[f[4]]
      if not name or not exps[name] then bad("lineage of " .. f[2] .. " " .. f[3] .. " names target " .. f[4] .. " that left the flow")
      else lcount[name] = (lcount[name] or 0) + 1 end
      if f[6] ~= "0" then bad("lineage of " .. f[2] .. " " .. f[3] .. " left staged: " .. f[4] .. " " .. f[5]) end
      if not tracked[f[2] .. "\t" .. f[3]] then bad("lineage without tracking: " .. f[2] .. " " .. f[3]) end
    elseif f[1] == "R" then
      refs[f[4]] = true
      spaces[f[4]:sub(1, 32)] = true
    elseif f[1] == "M" then
      memo[#memo + 1] = f[2]
    elseif f[1] == "S" then
      if not f[2]:match("^source:") then setup[#setup + 1] = f[3] end
    elseif f[1] == "L?" then
      bad("lineage record that does not decode: " .. f[2])
    elseif l:match("^fuzz_state") then
      bad(l)
    end
  end
  for _, s in ipairs(model.sources) do
    for k in pairs(want["s_" .. s.id]) do
      if not tracked["s_" .. s.id .. "\t" .. k] then bad("no tracking for " .. s.id .. " " .. k) end
    end
  end
  for _, m in ipairs(memo) do
    if spaces[m:sub(1, 32)] and not refs[m] then bad("memo entry no row uses: " .. m) end
  end
  if not self.env.collide then
    for _, x in ipairs(model.exports) do
      local t = export_rows(d, x)
      local n = t and #t.rows or 0
      if (lcount[x.name] or 0) ~= n then
        bad(string.format("lineage names %d rows of export %s, its target holds %d", lcount[x.name] or 0, x.name, n))
      end
    end
  end
  table.sort(setup)
  local names = {}
  for _, x in ipairs(model.exports) do names[#names + 1] = x.name end
  table.sort(names)
  if table.concat(setup, ",") ~= table.concat(names, ",") then
    bad("setup records for exports " .. table.concat(setup, ",") .. "; the flow has " .. table.concat(names, ","))
  end
  return out
end

-- Runs `coco update -L` while the step's live edits happen, then stops it
-- with the step's signal and waits (60 s at most) for it to exit.
function World:live(r)
  self:setenv("main")
  local err = self.dir .. "/live.err"
  local pid, why = spawn({ self.env.bin, "update", "flow.lua", "-L", "-q", "-f" }, self.main, nil, err)
  if not pid then return "update -L did not start: " .. why end
  sleep_ms(r.wait)
  for i, op in ipairs(r.ops) do
    self:op(op)
    sleep_ms(r.gaps[i])
  end
  ffi.C.kill(pid, r.sig == "INT" and SIGINT or SIGTERM)
  local rc
  for _ = 1, 6000 do
    rc = reap(pid, true)
    if rc then break end
    sleep_ms(10)
  end
  if not rc then
    ffi.C.kill(pid, SIGKILL)
    reap(pid)
    return "update -L did not exit within 60 s of SIG" .. r.sig
  end
  -- 0: stopped cleanly; 130/143: the signal came before coco caught it
  -- (its default action ended coco, as kill -9 would: the update after
  -- converges all the same)
  if rc ~= 0 and rc ~= 128 + (r.sig == "INT" and SIGINT or SIGTERM) then
    return "update -L exited " .. rc .. " after SIG" .. r.sig .. ": " .. (read(err) or "")
  end
  return nil
end

-- Applies step st and checks. Returns nil, or what is wrong (a list of lines).
function World:step(st)
  local prev_dump, prev_state = self.last_dump, self.last_state
  if st.flow then self.model = M.copy(st.flow) end
  local model = self.model
  write(self.main .. "/flow.lua", M.render(model, self.src, st.bad))
  for _, op in ipairs(st.ops) do self:op(op) end
  local r = st.run
  local function untouched(why)
    local d = self:dump(self.main, "main")
    local s = self:state_text()
    local out = {}
    if prev_dump and canon(d) ~= canon(prev_dump) then
      out[#out + 1] = why .. ", yet the targets changed:"
      for _, l in ipairs(diff(d, prev_dump)) do out[#out + 1] = l end
    end
    if prev_state and s ~= prev_state then out[#out + 1] = why .. ", yet the state changed" end
    return out
  end
  if st.bad then
    local rc, out, err = self:lib_update(self.main, "main", { force = true })
    if rc == 0 then return { "an invalid flow (" .. st.bad .. ") was accepted: " .. out } end
    local o = untouched("an invalid flow (" .. st.bad .. ") was refused (" .. err:gsub("\n.*", "") .. ")")
    if #o > 0 then return o end
    -- the next valid flow converges
    write(self.main .. "/flow.lua", M.render(model, self.src))
  end
  -- the update that ends the step: in this process, but for --reexport and
  -- --full-reprocess, which go through the command line (its flags)
  local update = function() return self:lib_update(self.main, "main", { force = true }) end
  if r.mode == "plain" then
    local rc, _, err = self:lib_update(self.main, "main", {})
    if rc ~= 0 then
      if not err:find("would drop data", 1, true) then return { "update failed (rc " .. rc .. "): " .. err } end
      local o = untouched("update without -f refused a setup that drops data")
      if #o > 0 then return o end
    end
  elseif r.mode == "reexport" or r.mode == "full" then
    update = function()
      return self:coco(self.main, "main", "update", "flow.lua", "-q", "-f",
        r.mode == "full" and "--full-reprocess" or "--reexport")
    end
  elseif r.mode == "kill" then
    self:setenv("main")
    for _, ms in ipairs(r.kills) do
      local pid = spawn({ self.env.bin, "update", "flow.lua", "-q", "-f" }, self.main)
      if pid then
        sleep_ms(ms)
        ffi.C.kill(pid, SIGKILL)
        reap(pid)
      end
    end
  elseif r.mode == "live" then
    local e = self:live(r)
    if e then return { e } end
  end
  local rc, out, err = update()
  if rc ~= 0 then return { "update failed (rc " .. rc .. "): " .. err .. out } end
  local d = self:dump(self.main, "main")
  local fresh, ferr = self:fresh_build()
  if not fresh then return { ferr } end
  local o = diff(d, fresh)
  local stext, files = self:state_text(true)
  for _, l in ipairs(self:check_state(stext, files, d, model)) do o[#o + 1] = l end
  self.last_dump, self.last_state = d, stext
  if #o > 0 then return o end
  return nil
end

-- ---- runs, replays, shrinking ------------------------------------------------------
-- Replays steps in a new world; returns nil or { step = i, lines = {...} }.
local function replay(env, steps, keep_dir)
  local w = F.world(env, keep_dir)
  local fail
  for i, st in ipairs(steps) do
    if i == 1 and not st.flow then
      -- a shrunk sequence starts with the flow in force then
      st = M.copy(st)
      st.flow = env.base
    end
    local lines = w:step(st)
    if lines then fail = { step = i, lines = lines } break end
  end
  if not keep_dir then w:remove() end
  return fail, w.dir
end

-- What kind of failure lines tell: the first line with its numbers left
-- out ("SQLite t.sqlite table Fz__e2: # rows, ...; # stale, # missing").
local function kind_of(lines) return ((lines[1] or ""):gsub("%d+", "#")) end

-- Delta debugging: the smallest subsequence of steps (within budget
-- seconds) that still fails the same way (kind: another failure met on
-- the way is another bug, for a run of its own). The flow in force at a
-- step travels with it.
local function shrink(env, steps, budget, log, kind)
  -- make each step carry its flow, so that any subsequence replays
  local cur, flow = {}, env.base
  for i, st in ipairs(steps) do
    local s = M.copy(st)
    if s.flow then flow = s.flow else s.flow = M.copy(flow); s.what = { "(the flow in force)" } end
    cur[i] = s
  end
  local t0 = now()
  local n = 2
  local tries = 0
  -- first the shortest tail that still fails (most failures need the last
  -- few steps and some files), then delta debugging over it
  local k = 1
  while k < #cur and now() - t0 < budget do
    local tail = {}
    for j = #cur - k + 1, #cur do tail[#tail + 1] = cur[j] end
    tries = tries + 1
    local fail = replay(env, tail)
    if fail and kind_of(fail.lines) == kind then
      for j = #tail, fail.step + 1, -1 do tail[j] = nil end
      cur = tail
      if log then log(string.format("  shrunk to the last %d steps (%d replays)", #cur, tries)) end
      break
    end
    k = k * 2
  end
  while #cur >= 2 and now() - t0 < budget do
    local size = math.ceil(#cur / n)
    local reduced = false
    for i = 1, n do
      local lo, hi = (i - 1) * size + 1, math.min(i * size, #cur)
      if lo > #cur then break end
      local comp = {}
      for j, s in ipairs(cur) do if j < lo or j > hi then comp[#comp + 1] = s end end
      if #comp > 0 then
        tries = tries + 1
        local fail = replay(env, comp)
        if fail and kind_of(fail.lines) == kind then
          -- what follows the failing step is not needed
          for j = #comp, fail.step + 1, -1 do comp[j] = nil end
          cur = comp
          n = math.max(n - 1, 2)
          reduced = true
          if log then log(string.format("  shrunk to %d steps (%d replays)", #cur, tries)) end
          break
        end
      end
      if now() - t0 >= budget then break end
    end
    if not reduced then
      if n >= #cur then break end
      n = math.min(n * 2, #cur)
    end
  end
  return cur, tries
end

-- The environment: binaries, the PostgreSQL server and its two databases.
function F.env(o)
  local build = o.build
  local env = { build = build, bin = build .. "/coco", state_tool = build .. "/fuzz_state", collide = o.collide }
  if not io.open(env.bin) then error("no " .. env.bin .. ": build first") end
  if not io.open(env.state_tool) then error("no " .. env.state_tool .. ": build the fuzz_state target") end
  if o.pg_url then
    -- two databases per sequence: its updates, and its fresh builds
    local mname, fname = "fz" .. (o.seed or 0) .. "_main", "fz" .. (o.seed or 0) .. "_fresh"
    local admin = assert(DB.pg_connect(o.pg_url))
    for _, n in ipairs({ mname, fname }) do
      admin:query("DROP DATABASE IF EXISTS " .. n)
      admin:query("CREATE DATABASE " .. n)
    end
    admin:close()
    local base = o.pg_url:gsub("/[^/?]*(%??[^/]*)$", "/%%s%1")
    local mu, fu = base:format(mname), base:format(fname)
    env.pg = { main = assert(DB.pg_connect(mu)), fresh = assert(DB.pg_connect(fu)) }
    env.pg.main.url, env.pg.fresh.url = mu, fu
  end
  -- one Qdrant and one Chroma server for every sequence: collections named
  -- apart by a prefix per sequence and per side (the flow reads it from FZ_NS)
  if o.qdrant_url or o.chroma_url then
    env.ns = { main = "fz" .. (o.seed or 0) .. "m_", fresh = "fz" .. (o.seed or 0) .. "f_" }
  end
  if o.qdrant_url then
    env.qdrant = QD.new(o.qdrant_url, env.ns)
    ffi.C.setenv("QDRANT_URL", o.qdrant_url, 1)
  end
  if o.chroma_url then
    env.chroma = CH.new(o.chroma_url, env.ns)
    ffi.C.setenv("CHROMA_URL", o.chroma_url, 1)
  end
  return env
end

function F.close_env(env)
  if env.state_in then
    env.state_in:close()
    env.state_out:close()
    os.remove(env.fifo)
    env.state_in = nil
  end
  if env.pg then
    env.pg.main:close()
    env.pg.fresh:close()
  end
end

-- Times World's methods into F.prof (run.lua --profile).
function F.profile()
  for _, m in ipairs({ "coco", "lib_update", "dump", "fresh_build", "state_text", "check_state", "live", "op" }) do
    local fn = World[m]
    World[m] = function(self, a, ...)
      local phase = m
      if m == "coco" or m == "dump" or m == "lib_update" then phase = m .. (a == self.main and ":main" or ":fresh") end
      return timed(phase, fn, self, a, ...)
    end
  end
  local step = World.step
  World.step = function(self, st) return timed("step", step, self, st) end
end

-- CPU seconds the PostgreSQL server listening on url's port has used (its
-- postmaster, the backends it reaped and the live ones), or nil.
function F.pg_cpu(url)
  local port = url and url:match(":(%d+)/")
  if not port then return nil end
  -- /proc/PID/stat after "pid (comm) ": f[1] the state letter, f[2] the
  -- ppid, f[12..15] utime, stime, cutime, cstime (in ticks). Kept as
  -- strings: a tonumber() of the state letter is nil, and a nil appended
  -- to a table shifts every later field down one.
  local function stat(pid)
    local f = {}
    for x in (read("/proc/" .. pid .. "/stat") or ""):gsub("^.-%) ", ""):gmatch("%S+") do f[#f + 1] = x end
    return f
  end
  local function ticks(f, a, b)
    local t = 0
    for i = a, b do t = t + (tonumber(f[i]) or 0) end
    return t
  end
  local pm = F.pm
  if not pm then
    for pid in pairs(entries("/proc") or {}) do
      if pid:match("^%d+$") and (read("/proc/" .. pid .. "/cmdline") or ""):find("\0-p\0" .. port .. "\0", 1, true) then
        pm = pid
        break
      end
    end
    if not pm then return nil end
    F.pm = pm
  end
  local t = 0
  for pid in pairs(entries("/proc") or {}) do
    if pid:match("^%d+$") then
      local f = stat(pid)
      if pid == pm then t = t + ticks(f, 12, 15)
      elseif f[2] == pm then t = t + ticks(f, 12, 13) end
    end
  end
  return t / 100
end

-- Runs a seeded sequence. o: build, steps, seed, pg_url (nil: no
-- PostgreSQL), qdrant_url (nil: no Qdrant), chroma_url (nil: no Chroma), collide, weights = { kill =, live = }, log (a function),
-- shrink_budget (seconds), keep (directory for the failure).
function F.run(o)
  local env = F.env(o)
  local opts = { pg = env.pg ~= nil, qdrant = env.qdrant ~= nil, chroma = env.chroma ~= nil, collide = o.collide,
    weights = o.weights or { kill = 0.12, live = 0.03 } }
  local g = F.generator(o.seed, opts)
  env.base = M.copy(g.model)
  local w = F.world(env)
  local log = o.log or function() end
  local t0, c0 = now(), cpu()
  local steps, fail = {}, nil
  local counts = {}
  for i = 1, o.steps do
    local st = g:step()
    steps[i] = st
    counts[st.run.mode] = (counts[st.run.mode] or 0) + 1
    if st.bad then counts.invalid = (counts.invalid or 0) + 1 end
    if st.flow and i > 1 then counts.flow = (counts.flow or 0) + 1 end
    local lines = w:step(st)
    if lines then
      fail = { step = i, lines = lines }
      break
    end
    if i % 100 == 0 then log(string.format("seed %d: %d steps, %.0f s", o.seed, i, now() - t0)) end
  end
  -- a digest of the steps: the same seed, the same digest
  local h = 2166136261
  for c in ser(steps):gmatch(".") do h = bit.bxor(h, c:byte()) * 16777619 % 4294967296 end
  local result = { ok = not fail, steps = #steps, seconds = now() - t0, cpu = cpu() - c0, counts = counts,
    seed = o.seed, digest = string.format("%08x", h) }
  w:remove()
  if fail then
    local rep = {}
    rep[#rep + 1] = string.format("coco fuzz: seed %d: step %d differs:", o.seed, fail.step)
    for _, l in ipairs(fail.lines) do rep[#rep + 1] = "  " .. l end
    log(table.concat(rep, "\n"))
    log("shrinking " .. #steps .. " steps ...")
    local small, tries = shrink(env, steps, o.shrink_budget or 300, log, kind_of(fail.lines))
    local keep = o.keep or ("/tmp/coco-fuzz-fail-" .. o.seed)
    local again, dir = replay(env, small, keep)
    rep[#rep + 1] = string.format("shrunk to %d steps (%d replays)%s:", #small, tries,
      again and "" or " (the shrunk sequence did not fail again on replay: timing)")
    local last
    for i, st in ipairs(small) do
      local d = st
      local fs = ser(st.flow)
      if fs == last then
        d = M.copy(st)
        d.flow = nil
      end
      last = fs
      rep[#rep + 1] = string.format("  %d. %s", i, F.describe(d))
    end
    if again then
      rep[#rep + 1] = "replayed: step " .. again.step .. ":"
      for _, l in ipairs(again.lines) do rep[#rep + 1] = "  " .. l end
    end
    write(dir .. "/steps.lua", "return " .. ser({ seed = o.seed, base = env.base, steps = small, collide = o.collide }) .. "\n")
    rep[#rep + 1] = "the failing flow and files: " .. dir .. " (main/flow.lua, src/, fresh/; steps.lua replays with --replay)"
    result.report = table.concat(rep, "\n")
    result.dir = dir
  end
  F.close_env(env)
  if not fail then result.cpu = cpu() - c0 end   -- fuzz_state's share counts once it has exited
  return result
end

-- Replays a steps.lua written by a failure. Returns the result as F.run.
function F.replay_file(o, path)
  local t = dofile(path)
  local env = F.env({ build = o.build, pg_url = o.pg_url, qdrant_url = o.qdrant_url, chroma_url = o.chroma_url,
    collide = t.collide,
    seed = t.seed })
  env.base = t.base
  local t0 = now()
  local fail, dir = replay(env, t.steps, o.keep or (path:match("^(.*)/[^/]*$") .. "-replay"))
  F.close_env(env)
  local r = { ok = not fail, steps = #t.steps, seconds = now() - t0, dir = dir }
  if fail then
    local rep = { "step " .. fail.step .. " differs:" }
    for _, l in ipairs(fail.lines) do rep[#rep + 1] = "  " .. l end
    r.report = table.concat(rep, "\n")
  end
  return r
end

return F
