-- make bench-scale: the Foundation flow at 10,000 / 100,000 / 1,000,000
-- files (issue 20), on one machine.
--
--   luajit spec/bench/bench_scale.lua [BUILD]
--     SCALE=10000,100000   the corpus sizes, comma-separated (default both;
--                          1000000 writes ~4.3 GB and takes minutes)
--     SCALE_DIR=DIR        where the corpora and the runs' state live
--                          (default spec/bench/out/scale); a corpus is
--                          generated once (seeded) and kept for the next run
--     SCALE_REPS=N         repetitions of the no-change phase (default 3;
--                          the initial run: 2 below 1,000,000 files, else 1)
--
-- Phases, each the whole `coco` process (wall, user+sys CPU, peak RSS),
-- with the source files in the page cache:
--   floor      a no-change pass over 1 file (the process's fixed cost)
--   walk       find DIR -type f -printf '%s %T@\n' (walk+stat, the floor of
--              a no-change pass)
--   initial    from empty state and an empty target
--   no-change  nothing changed since
--   one file   one file appended to (exactly one row updated)
--   live idle  `coco -L` after its first pass: RSS and peak RSS, idle
-- Beside each figure, the 1-minute load average when it was taken: the
-- machine may be shared.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")
local root, coco = common.start(arg[1])
local here, sh = common.here, common.sh
local base = os.getenv("SCALE_DIR") or (root .. "/spec/bench/out/scale")
local REPS = common.num("SCALE_REPS", 3)
local sizes = {}
for n in (os.getenv("SCALE") or "10000,100000"):gmatch("[^,%s]+") do
  local v = tonumber(n)
  if not v or v < 1 or v % 1 ~= 0 then
    io.stderr:write("bench_scale: SCALE: '" .. n .. "' is not a number of files\n")
    os.exit(2)
  end
  sizes[#sizes + 1] = v
end

local function shq(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local write, read = common.write, common.read

local function load1()
  return tonumber((read("/proc/loadavg") or "0"):match("^(%S+)"))
end

local function sleep(s) os.execute("sleep " .. s) end
local function now() return tonumber(sh("date +%s.%N")) end

-- Run a command under /usr/bin/time in dir: wall s, cpu s, peak RSS KB,
-- its output (the coco --json line).
local function timed(dir, cmd)
  local tf = dir .. "/time.out"
  local t = sh(string.format("cd %s && /usr/bin/time -o time.out -f '@@%%e %%U %%S %%M' %s 2>&1", shq(dir), cmd))
  local e, u, s, kb = (read(tf) or ""):match("@@([%d.]+) ([%d.]+) ([%d.]+) (%d+)")
  os.remove(tf)
  if not e then
    io.stderr:write("bench_scale: failed: " .. cmd .. "\n" .. t .. "\n")
    os.exit(1)
  end
  return { wall = tonumber(e), cpu = tonumber(u) + tonumber(s), sys = tonumber(s),
           kb = tonumber(kb), out = t:match("({.-})") or "", load = load1() }
end

-- the median of runs by wall time, the peak RSS over all of them
local function summary(runs)
  table.sort(runs, function(a, b) return a.wall < b.wall end)
  local m = runs[math.floor((#runs + 1) / 2)]
  local kb = 0
  for _, r in ipairs(runs) do kb = math.max(kb, r.kb) end
  return { wall = m.wall, cpu = m.cpu, sys = m.sys, kb = kb, out = m.out, load = m.load }
end

local function corpus(n)
  local dir = string.format("%s/%d", base, n)
  local stamp = string.format("gen_corpus %d 4096 42", n)
  if read(dir .. "/corpus.stamp") ~= stamp then
    print(string.format("generating %d files in %s/corpus (seeded; ~4.3 KB a file, %.1f GB)",
      n, dir, n * 4.3e3 / 1e9))
    local t0 = os.time()
    sh("rm -rf " .. shq(dir) .. " && mkdir -p " .. shq(dir))
    io.write(sh(string.format("nice luajit %s/gen_corpus.lua %s/corpus %d 4096 42", here, shq(dir), n)))
    write(dir .. "/corpus.stamp", stamp)
    print(string.format("  generated in %d s", os.time() - t0))
  end
  write(dir .. "/flow.lua", common.flow("Scale"))
  return dir
end

local function live_idle(dir)
  sh(string.format("rm -f %s/live.jsonl", shq(dir)))
  local pid = tonumber(sh(string.format("cd %s && (%s flow.lua -L --json > live.jsonl 2> live.err & echo $!)",
    shq(dir), coco)))
  local t0 = now()
  while not (read(dir .. "/live.jsonl") or ""):find("}") do
    if now() - t0 > 1800 or not read("/proc/" .. pid .. "/status") then
      io.stderr:write("bench_scale: coco -L did not finish its first pass\n" .. (read(dir .. "/live.err") or "") .. "\n")
      os.execute("kill " .. pid)
      os.exit(1)
    end
    sleep(0.05)
  end
  local first = now() - t0
  sleep(3)
  local st = read("/proc/" .. pid .. "/status") or ""
  local r = { kb = tonumber(st:match("VmRSS:%s+(%d+)")) or 0, hwm = tonumber(st:match("VmHWM:%s+(%d+)")) or 0,
              load = load1(), first = first }
  os.execute("kill " .. pid)
  return r
end

local function mb(kb) return kb / 1024 end

local results = {}
print(string.format("coco bench-scale: %s files; binary %s; corpora in %s", table.concat(sizes, ", "), coco, base))

-- The process's fixed cost: a no-change pass over one file (start, the
-- flow, the state opened read-only (a pass that writes nothing writes no
-- file) and closed). At 10,000 files it is most of a no-change pass;
-- `find` has next to none.
local floor
do
  local dir = base .. "/floor"
  sh(string.format("mkdir -p %s/corpus && echo '# one file' > %s/corpus/a.md", shq(dir), shq(dir)))
  write(dir .. "/flow.lua", common.flow("Scale"))
  timed(dir, coco .. " flow.lua --json")
  local runs = {}
  for _ = 1, 5 do runs[#runs + 1] = timed(dir, coco .. " flow.lua --json") end
  floor = summary(runs)
  print(string.format("  %-10s %8.2f s wall %8.2f s CPU (%6.2f sys)  peak RSS %6.1f MB  load %5.2f  (no-change over 1 file: the process's fixed cost)",
    "floor", floor.wall, floor.cpu, floor.sys, floor.kb / 1024, floor.load))
end
for _, n in ipairs(sizes) do
  local dir = corpus(n)
  -- the source files into the page cache
  sh(string.format("cd %s && find corpus -type f -print0 | xargs -0 cat > /dev/null", shq(dir)))
  local res = { n = n }

  local runs = {}
  for _ = 1, 3 do
    runs[#runs + 1] = timed(dir, "find corpus -type f -printf '%s %T@\\n' >/dev/null")
  end
  res.walk = summary(runs)

  runs = {}
  for _ = 1, (n >= 1000000 and 1 or 2) do
    sh(string.format("rm -rf %s/.coco %s/index.sqlite*", shq(dir), shq(dir)))
    runs[#runs + 1] = timed(dir, coco .. " flow.lua --json")
  end
  res.initial = summary(runs)
  res.rows = tonumber(sh(string.format("sqlite3 %s/index.sqlite 'SELECT count(*) FROM Scale__chunks'", shq(dir))))

  runs = {}
  for _ = 1, REPS do
    runs[#runs + 1] = timed(dir, coco .. " flow.lua --json")
  end
  res.nochange = summary(runs)
  res.nochange_ok = res.nochange.out:match('"unchanged":' .. n .. ',') ~= nil

  -- one file changed: a paragraph appended, then taken back (the corpus
  -- stays as generated for the next run; the state sees a second change)
  local f = dir .. "/corpus/d000/f000000.md"
  local old = assert(read(f), "bench_scale: no " .. f)
  write(f, old .. "An appended paragraph changes this file, " .. os.time() .. ".\n")
  res.one = timed(dir, coco .. " flow.lua --json")
  res.one_ok = res.one.out:match('"updated":1,') ~= nil
  write(f, old)
  timed(dir, coco .. " flow.lua --json")

  res.live = live_idle(dir)
  results[#results + 1] = res

  local function ph(name, r, ok)
    print(string.format("  %-10s %8.2f s wall %8.2f s CPU (%6.2f sys)  peak RSS %6.1f MB  load %5.2f%s",
      name, r.wall, r.cpu, r.sys, mb(r.kb), r.load, ok == false and "  UNEXPECTED: " .. r.out or ""))
  end
  print(string.format("%d files (%d target rows):", n, res.rows or -1))
  ph("walk", res.walk)
  ph("initial", res.initial, res.initial.out:match('"added":' .. n .. ',') ~= nil)
  ph("no-change", res.nochange, res.nochange_ok)
  ph("one file", res.one, res.one_ok)
  print(string.format("  %-10s first pass %.2f s, then idle RSS %.1f MB, peak RSS %.1f MB  load %5.2f",
    "live", res.live.first, mb(res.live.kb), mb(res.live.hwm), res.live.load))
end

local function ms(s) return s < 1 and string.format("%.0f ms", s * 1000) or string.format("%.2f s", s) end
local function tm(r) return ms(r.wall) .. " (" .. ms(r.cpu) .. " CPU)" end
print("")
print("| files | initial | no-change | one file changed | peak RSS initial / no-change / one / live idle (peak) | `find` walk+stat | load (1 min) |")
print("|---|---|---|---|---|---|---|")
for _, r in ipairs(results) do
  print(string.format("| %d | %s wall, %s CPU | %s | %s | %.0f / %.0f / %.0f / %.0f (%.0f) MB | %s | %.1f / %.1f / %.1f |",
    r.n, ms(r.initial.wall), ms(r.initial.cpu), tm(r.nochange), tm(r.one),
    mb(r.initial.kb), mb(r.nochange.kb), mb(r.one.kb), mb(r.live.kb), mb(r.live.hwm),
    tm(r.walk), r.initial.load, r.nochange.load, r.live.load))
end
print(string.format("a process's fixed cost (no-change over 1 file): %s; no-change / find: %s",
  tm(floor), table.concat((function()
    local t = {}
    for _, r in ipairs(results) do t[#t + 1] = string.format("%d files %.2fx wall, %.2fx CPU", r.n, r.nochange.wall / r.walk.wall, r.nochange.cpu / math.max(r.walk.cpu, 0.01)) end
    return t
  end)(), "; ")))
print("goals (issue 20): peak RSS <= 64 MB in every phase; no-change <= 1.3x find; 1,000,000 initial <= 12x 100,000 and <= 25 s")
