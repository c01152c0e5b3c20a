-- make fuzz: the differential fuzzer (spec/fuzz/fuzz.lua) from the command line.
--
--   luajit spec/fuzz/run.lua BUILD_DIR [--steps N] [--seed S] [--jobs J]
--       [--no-pg] [--collide] [--shrink-budget SECONDS] [--replay steps.lua]
--
-- Starts Debian's PostgreSQL on 127.0.0.1 (spec/servers.lua), then runs J
-- sequences at once (seeds S, S+1, ...), N steps in all, each step compared
-- with a fresh build over SQLite, PostgreSQL and a target written in Lua.
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
  elseif a == "--worker" then args.worker = true
  elseif a == "--pg-url" then args.pg_url = arg[i + 1]; i = i + 1
  elseif not args.build and not a:match("^%-") then args.build = a
  else io.stderr:write("run.lua: unknown argument " .. a .. "\n"); os.exit(2) end
  i = i + 1
end
if not args.build then
  io.stderr:write("usage: luajit spec/fuzz/run.lua BUILD_DIR [--steps N] [--seed S] [--jobs J] [--no-pg] [--collide] [--replay steps.lua]\n")
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
local srv
if args.pg and not args.pg_url then
  local why
  srv, why = S.postgres()
  if not srv then log("run.lua: " .. why); os.exit(2) end
  args.pg_url = srv.url
end

if args.worker or args.replay then
  local r
  if args.replay then
    r = F.replay_file({ build = args.build, pg_url = args.pg_url }, args.replay)
    args.seed = 0
  else
    r = F.run({ build = args.build, steps = args.steps, seed = args.seed, pg_url = args.pg_url,
      collide = args.collide, log = log, shrink_budget = args.shrink })
  end
  if srv then srv:stop() end
  local counts = {}
  for k, v in pairs(r.counts or {}) do counts[#counts + 1] = k .. " " .. v end
  table.sort(counts)
  print(string.format("seed %d: %d steps in %.1f s (%.1f s of CPU here, coco included), %s (%s; steps %s)",
    args.seed, r.steps, r.seconds, r.cpu or 0, r.ok and "no difference" or "DIFFERENCE", table.concat(counts, ", "),
    r.digest or "-"))
  if not r.ok then print(r.report) end
  os.exit(r.ok and 0 or 1)
end

local t0 = F.now()
local per = math.ceil(args.steps / args.jobs)
local procs = {}
for j = 1, args.jobs do
  procs[j] = io.popen(string.format("luajit %s/spec/fuzz/run.lua %s --worker --steps %d --seed %d%s%s%s 2>&1",
    root, args.build, per, args.seed + j - 1, args.pg_url and (" --pg-url " .. args.pg_url) or "",
    args.collide and " --collide" or "", args.shrink and (" --shrink-budget " .. args.shrink) or ""))
end
local ok = true
for _, p in ipairs(procs) do
  local out = p:read("*a")
  p:close()
  io.stdout:write(out)
  if not out:find("no difference", 1, true) then ok = false end
end
log(string.format("run.lua: %d steps, seed %d, %.1f s", args.steps, args.seed, F.now() - t0))
if srv then srv:stop() end
os.exit(ok and 0 or 1)
