-- make fuzz: the differential fuzzer (spec/fuzz/fuzz.lua) from the command line.
--
--   luajit spec/fuzz/run.lua BUILD_DIR [--steps N] [--seed S] [--jobs J]
--       [--no-pg] [--collide | --collide-jobs K] [--shrink-budget SECONDS]
--       [--replay steps.lua] [--profile] [--qdrant | --qdrant-url URL]
--       [--chroma | --chroma-url URL]
--
-- Starts Debian's PostgreSQL on 127.0.0.1 (spec/servers.lua), then runs J
-- sequences at once (seeds S, S+1, ...), N steps in all, each step compared
-- with a fresh build over SQLite, PostgreSQL and a target written in Lua
-- (and with --qdrant, Qdrant collections, with --chroma, Chroma ones: the
-- npm servers of spec/servers_vector.lua, started here).
-- Exit status 0 when no step differed; else the seed, the shrunk steps and
-- the directory holding the failing flow and files are printed.
local root = debug.getinfo(1, "S").source:match("^@(.*)/spec/fuzz/run%.lua$") or "."
if root:sub(1, 1) ~= "/" then
  local p = io.popen("pwd")
  root = p:read("*l") .. (root == "." and "" or "/" .. root)
  p:close()
end
package.path = root .. "/?.lua;" .. root .. "/spec/fuzz/?.lua;" .. package.path

local args = { steps = 10000, seed = nil, jobs = 1, pg = true }
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--steps" then args.steps = tonumber(arg[i + 1]); i = i + 1
  elseif a == "--seed" then args.seed = tonumber(arg[i + 1]); i = i + 1
  elseif a == "--jobs" then args.jobs = tonumber(arg[i + 1]); i = i + 1
  elseif a == "--shrink-budget" then args.shrink = tonumber(arg[i + 1]); i = i + 1
  elseif a == "--replay" then args.replay = arg[i + 1]; i = i + 1
  elseif a == "--no-pg" then args.pg = false
  elseif a == "--collide" then args.collide = true
  elseif a == "--collide-jobs" then args.collide_jobs = tonumber(arg[i + 1]); i = i + 1
  elseif a == "--profile" then args.profile = true
  elseif a == "--worker" then args.worker = true
  elseif a == "--pg-url" then args.pg_url = arg[i + 1]; i = i + 1
  elseif a == "--qdrant" then args.qdrant = true
  elseif a == "--qdrant-url" then args.qdrant_url = arg[i + 1]; i = i + 1
  elseif a == "--chroma" then args.chroma = true
  elseif a == "--chroma-url" then args.chroma_url = arg[i + 1]; i = i + 1
  elseif not args.build and not a:match("^%-") then args.build = a
  else io.stderr:write("run.lua: unknown argument " .. a .. "\n"); os.exit(2) end
  i = i + 1
end
if not args.build then
  io.stderr:write("usage: luajit spec/fuzz/run.lua BUILD_DIR [--steps N] [--seed S] [--jobs J] [--no-pg] "
    .. "[--collide | --collide-jobs K] [--shrink-budget SECONDS] [--replay steps.lua] [--profile] "
    .. "[--qdrant | --qdrant-url URL] [--chroma | --chroma-url URL]\n")
  os.exit(2)
end
if args.build:sub(1, 1) ~= "/" then args.build = root .. "/" .. args.build end
if not args.seed then
  local f = io.open("/dev/urandom", "rb")
  local b = f:read(3)
  f:close()
  args.seed = b:byte(1) * 65536 + b:byte(2) * 256 + b:byte(3)
end

local F = require("fuzz")
local function log(s) io.stderr:write(s, "\n") io.stderr:flush() end

-- one sequence in this process (the workers of --jobs)
local S = require("spec.servers")
local pg0
local srv
if args.pg and not args.pg_url then
  local why
  srv, why = S.postgres()
  if not srv then log("run.lua: " .. why); os.exit(2) end
  args.pg_url = srv.url
end
local qsrv, csrv
local function stop_servers()
  if srv then srv:stop() end
  if qsrv then qsrv:stop() end
  if csrv then csrv:stop() end
end
local V = (args.qdrant or args.chroma) and require("spec.servers_vector")
if args.qdrant and not args.qdrant_url then
  local why
  qsrv, why = V.qdrant()
  if not qsrv then log("run.lua: Qdrant: " .. tostring(why)); stop_servers(); os.exit(2) end
  args.qdrant_url = qsrv.url
end
if args.chroma and not args.chroma_url then
  local why
  csrv, why = V.chroma()
  if not csrv then log("run.lua: Chroma: " .. tostring(why)); stop_servers(); os.exit(2) end
  args.chroma_url = csrv.url
end

if args.worker or args.replay then
  local r
  if args.replay then
    r = F.replay_file({ build = args.build, pg_url = args.pg_url, qdrant_url = args.qdrant_url,
      chroma_url = args.chroma_url }, args.replay)
    args.seed = 0
  else
    if args.profile then F.profile(); pg0 = F.pg_cpu(args.pg_url) end
    log(string.format("seed %d: %d steps%s", args.seed, args.steps, args.collide and " (--collide)" or ""))
    r = F.run({ build = args.build, steps = args.steps, seed = args.seed, pg_url = args.pg_url,
      qdrant_url = args.qdrant_url, chroma_url = args.chroma_url, collide = args.collide, log = log,
      shrink_budget = args.shrink })
  end
  stop_servers()
  local counts = {}
  for k, v in pairs(r.counts or {}) do counts[#counts + 1] = k .. " " .. v end
  table.sort(counts)
  print(string.format("seed %d: %d steps in %.1f s (%.1f s of CPU here, coco included), %s (%s; steps %s)",
    args.seed, r.steps, r.seconds, r.cpu or 0, r.ok and "no difference" or "DIFFERENCE", table.concat(counts, ", "),
    r.digest or "-"))
  if args.profile then
    if pg0 then print(string.format("  the PostgreSQL server: %.2f s cpu", F.pg_cpu(args.pg_url) - pg0)) end
    local names = {}
    for k in pairs(F.prof) do names[#names + 1] = k end
    table.sort(names)
    for _, k in ipairs(names) do
      local p = F.prof[k]
      print(string.format("  %-14s %5d calls %8.2f s wall %7.2f s cpu here %7.2f s cpu children (a step: %.1f ms wall)",
        k, p[4], p[1], p[2], p[3], 1000 * p[1] / r.steps))
    end
  end
  if not r.ok then print(r.report) end
  os.exit(r.ok and 0 or 1)
end

local t0 = F.now()
local per = math.ceil(args.steps / args.jobs)
local procs = {}
for j = 1, args.jobs do
  -- a worker's log (its progress, a failure as it shrinks) goes to stderr
  -- as it comes; its result line (and report) to the pipe
  procs[j] = io.popen(string.format("luajit %s/spec/fuzz/run.lua %s --worker --steps %d --seed %d%s%s%s%s%s%s",
    root, args.build, per, args.seed + j - 1,
    args.pg_url and (" --pg-url " .. args.pg_url) or (args.pg and "" or " --no-pg"),
    args.qdrant_url and (" --qdrant-url " .. args.qdrant_url) or "",
    args.chroma_url and (" --chroma-url " .. args.chroma_url) or "",
    (args.collide or j > args.jobs - (args.collide_jobs or 0)) and " --collide" or "",
    args.shrink and (" --shrink-budget " .. args.shrink) or "", args.profile and " --profile" or ""))
end
local ok = true
for j, p in ipairs(procs) do
  local out = p:read("*a")
  p:close()
  io.stdout:write(out)
  if not out:find("no difference", 1, true) then ok = false end
  if not ("\n" .. out):find("\nseed %d+: %d+ steps in") then
    io.stdout:write(string.format("seed %d: the sequence ended without a result (a crash?)\n", args.seed + j - 1))
  end
end
log(string.format("run.lua: %d steps, seed %d, %.1f s", args.steps, args.seed, F.now() - t0))
stop_servers()
os.exit(ok and 0 or 1)
