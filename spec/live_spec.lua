-- Live mode (issue 4): `coco FLOW.lua -L` fed by inotify and refresh timers,
-- and the pollable updater of the library (flow:live).
--
-- Every live process is a child of this process (fork + exec through FFI,
-- so that its exit status is ours to read and nothing is left behind): its
-- pid is recorded, and after_each SIGKILLs and reaps whatever still runs.
-- Every wait polls for its condition with a deadline (PATIENCE: only there
-- so that a hang fails; a busy or slow machine just takes longer); nothing
-- sleeps and hopes, and nothing asserts how fast this machine is. Files are
-- small: one chunk, so one target row, per file. Measured times (create ->
-- row latency, 1,000-file cp -r) are printed; LIVE_SPEC_QUIET=1 hides them.
-- Their goals are make bench's (spec/bench/live.lua).
local H = require("spec.helpers")
local P = require("spec.proc")

local DB, TBL = "index.sqlite", "DocsIndex__doc_chunks"
local PATIENCE = 60                    -- seconds: the deadline of every wait
local SIGINT, SIGTERM = 2, 15

local now, sleep_ms = P.now, P.sleep_ms

local function say(fmt, ...)
  if os.getenv("LIVE_SPEC_QUIET") then return end
  io.stdout:write(string.format("\n  live_spec: " .. fmt, ...))
  io.stdout:flush()
end

-- ---------------------------------------------------------------------------
-- Child processes

-- (spec/proc.lua: each in a process group of its own, so that what it
-- starts is killed with it)
local spawn, alive, signal, wait_exit, wait_for, reap_all =
  P.spawn, P.alive, P.signal, P.wait_exit, P.wait_for, P.reap_all
local stderr_of, stdout_of, describe_proc = P.stderr, P.stdout, P.describe

-- The lines of p's stderr other than the setup plan (which --json prints there).
local function complaints(p)
  local out = {}
  for line in stderr_of(p):gmatch("[^\n]+") do
    if line:match("^coco: ") and not line:match("^coco: %w+: setup applied:$") then out[#out + 1] = line end
  end
  return out
end

-- CPU time used by p so far, in seconds (utime + stime of /proc/PID/stat).
local function cpu_time(p)
  local s = assert(H.read("/proc/" .. p.pid .. "/stat"), "no /proc entry for " .. p.pid)
  local rest = s:match("%)%s+(.*)$")
  local f = {}
  for x in rest:gmatch("%S+") do f[#f + 1] = x end
  -- fields 3.. of the line start after the comm: utime is field 14, stime 15
  return (tonumber(f[12]) + tonumber(f[13])) / 100
end

-- Voluntary context switches of every thread of p so far: a thread that
-- waits (epoll, poll, a lock) and is woken makes one.
local function wakeups(p)
  local n = 0
  local ls = io.popen("ls /proc/" .. p.pid .. "/task 2>/dev/null")
  for tid in ls:lines() do
    local st = H.read("/proc/" .. p.pid .. "/task/" .. tid .. "/status") or ""
    n = n + tonumber(st:match("\nvoluntary_ctxt_switches:%s*(%d+)") or 0)
  end
  ls:close()
  return n
end

-- A blocking coco run, bounded by timeout(1). Returns rc, stdout, stderr.
local function coco(dir, args, prefix)
  return H.run(dir, (prefix or "") .. "timeout -k 2 60 " .. H.q(H.bin) .. " " .. args)
end

local function start_live(dir, args, prefix)
  return spawn(dir, (prefix or "") .. H.q(H.bin) .. " flow.lua -L --json " .. (args or ""))
end

-- ---------------------------------------------------------------------------
-- JSON batch lines of a live process

-- The complete lines printed so far, parsed.
local function batches(p)
  local out = {}
  for line in stdout_of(p):gmatch("([^\n]*)\n") do
    local v = H.json.decode(line)
    assert(type(v) == "table", "not a JSON line: " .. line)
    out[#out + 1] = v
  end
  return out
end

-- Sums of the counts over the batch lines after the first `from`.
local function sums(p, from)
  local s = { added = 0, updated = 0, deleted = 0, reprocessed = 0, errors = 0, unchanged = 0, n = 0 }
  local b = batches(p)
  for i = (from or 0) + 1, #b do
    for k in pairs(s) do
      if k ~= "n" then s[k] = s[k] + (b[i][k] or 0) end
    end
    s.n = s.n + 1
  end
  return s
end

-- Waits for the initial pass's line; returns it.
local function initial(p)
  return wait_for(p, PATIENCE, "the initial pass's JSON line", function() return batches(p)[1] end)
end

-- ---------------------------------------------------------------------------
-- Flows, files, target

-- A temp dir with the docs flow (o: H.docs_flow's options, e.g. lf =
-- more LocalFile options, src = add_source's) and docs/ holding files
-- (name -> content).
local function setup_dir(files, o) return H.docs_dir(H.docs_flow(o), files) end

-- Writes a file in one open/write/close (its directory must exist).
local function put(path, content)
  local f = assert(io.open(path, "wb"))
  f:write(content)
  f:close()
end

local function sh(cmd)
  assert(H.sh(cmd), "command failed: " .. cmd)
end

-- filename -> text of the target (one chunk per file in these specs).
local function target(d)
  local out = {}
  for _, r in ipairs(H.sql(d .. "/" .. DB, "SELECT filename, text FROM " .. TBL)) do
    assert(out[r.filename] == nil, "more than one row for " .. r.filename)
    out[r.filename] = r.text
  end
  return out
end

local function count(d, where)
  return H.sql(d .. "/" .. DB, "SELECT count(*) AS n FROM " .. TBL
    .. (where and (" WHERE " .. where) or ""))[1].n
end

-- Waits until the target holds `text` for `file` (nil: no row).
local function wait_row(p, d, file, text)
  local _, t = wait_for(p, PATIENCE, string.format("row %s = %s", file, tostring(text)), function()
    return target(d)[file] == text
  end)
  return t
end

-- The target a from-scratch run on the current files gives.
local function fresh_dump(d)
  local e = H.tmpdir()
  sh(string.format("cp -r %s %s && cp %s %s", H.q(d .. "/docs"), H.q(e .. "/docs"),
    H.q(d .. "/flow.lua"), H.q(e .. "/flow.lua")))
  local rc, _, err = coco(e, "flow.lua -q")
  assert.are.equal(0, rc, err)
  return H.dump(e .. "/" .. DB, TBL)
end

-- A run of `coco flow.lua --json` that must find nothing to do.
local function assert_nothing_to_do(d)
  local rc, out, err = coco(d, "flow.lua --json")
  assert.are.equal(0, rc, err)
  local s = H.json_lines(out)[1]
  assert(s, "no stats: " .. out .. err)
  assert.are.same({ 0, 0, 0, 0, 0 }, { s.added, s.updated, s.deleted, s.reprocessed, s.errors },
    "a run after live mode had work to do: " .. out)
  return s
end

-- Settles: waits until no new batch line has come for `quiet` seconds.
local function settle(p, quiet)
  quiet = quiet or 0.25
  local n, since = #batches(p), now()
  wait_for(p, PATIENCE, "live mode to settle", function()
    local m = #batches(p)
    if m ~= n then n, since = m, now() end
    return now() - since >= quiet
  end)
end

-- `coco -L` on d, then a burst of n files under docs/many; once file `at`
-- is written and the burst's first batch is in, nsig SIGINTs in a row
-- while files keep coming. Returns the process, how and with what code it
-- exited, and the ms from the signals to its exit.
local function signals_in_burst(d, n, at, nsig)
  local p = start_live(d)
  initial(p)
  H.mkdir(d .. "/docs/many")
  local t0, t1
  for i = 1, n do
    put(string.format("%s/docs/many/f%03d.md", d, i), "# F" .. i .. "\n\nbody " .. i .. "\n")
    if i == at then
      wait_for(p, PATIENCE, "the first batch of the burst", function() return #batches(p) >= 2 end)
      for _ = 1, nsig do signal(p, SIGINT) end
      t0 = now()
    end
    if t0 and not t1 and not alive(p) then t1 = now() end
  end
  local how, code = wait_exit(p, PATIENCE)
  t1 = t1 or now()
  return p, how, code, (t1 - t0) * 1e3
end

-- Every write on the target table, through triggers (see incremental_spec).
local function install_write_log(d)
  H.sql(d .. "/" .. DB, string.format([[
CREATE TABLE wlog(seq INTEGER PRIMARY KEY, op TEXT, filename TEXT, location TEXT, text TEXT);
CREATE TRIGGER wlog_i AFTER INSERT ON "%s" BEGIN
  INSERT INTO wlog(op, filename, location, text) VALUES ('I', NEW.filename, NEW.location, NEW.text); END;
CREATE TRIGGER wlog_u AFTER UPDATE ON "%s" BEGIN
  INSERT INTO wlog(op, filename, location, text) VALUES ('U', NEW.filename, NEW.location, NEW.text); END;
CREATE TRIGGER wlog_d AFTER DELETE ON "%s" BEGIN
  INSERT INTO wlog(op, filename, location, text) VALUES ('D', OLD.filename, OLD.location, OLD.text); END;
]], TBL, TBL, TBL))
end

local function take_writes(d)
  local rows = H.sql(d .. "/" .. DB, "SELECT op, filename, text FROM wlog ORDER BY seq")
  H.sql(d .. "/" .. DB, "DELETE FROM wlog")
  local out = {}
  for i, r in ipairs(rows) do out[i] = r.op .. " " .. r.filename .. " " .. tostring(r.text) end
  return out
end

-- Running coco without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH (tests run as
-- root), as bad_input_spec does. Returns the prefix, or nil and why not.
local function unprivileged_prefix(probe_path)
  if not H.sh("ls " .. H.q(probe_path) .. " >/dev/null 2>&1") then return "" end   -- modes apply to us
  local prefix = "setpriv --bounding-set=-dac_override,-dac_read_search "
  if not H.sh(prefix .. "true 2>/dev/null") then return nil, "setpriv cannot drop capabilities here" end
  if H.sh(prefix .. "ls " .. H.q(probe_path) .. " >/dev/null 2>&1") then
    return nil, "running as root: setpriv did not take away the override"
  end
  return prefix
end

-- ---------------------------------------------------------------------------
describe("coco -L", function()
  after_each(function()
    reap_all()
    H.cleanup()
  end)

  describe("the CLI", function()
    it("reports the initial pass, then indexes creates, edits, deletes and renames as they happen; "
      .. "SIGINT commits and exits 0", function()
      local d = setup_dir{ ["a.md"] = "# A\n\nHello world.\n", ["b.txt"] = "Just text.\n" }
      local p = start_live(d)
      local first = initial(p)
      assert.are.same({ "DocsIndex", "documents", 2, 0, 0, 0, 0 }, { first.flow, first.source, first.added,
        first.updated, first.deleted, first.reprocessed, first.errors })
      assert.is_number(first.elapsed_ms)
      assert.are.same({ ["a.md"] = "# A\n\nHello world.", ["b.txt"] = "Just text." }, target(d))

      local lat = {}
      put(d .. "/docs/new.md", "# New\n\nfresh\n")
      lat.create = wait_row(p, d, "new.md", "# New\n\nfresh")
      put(d .. "/docs/new.md", "# New\n\nedited, longer\n")
      lat.modify = wait_row(p, d, "new.md", "# New\n\nedited, longer")
      put(d .. "/docs/gone.md", "# Gone soon\n")
      wait_row(p, d, "gone.md", "# Gone soon")
      os.remove(d .. "/docs/gone.md")
      lat.delete = wait_row(p, d, "gone.md", nil)
      -- rename in the same directory, then into a new subdirectory
      sh("mv " .. H.q(d .. "/docs/new.md") .. " " .. H.q(d .. "/docs/renamed.md"))
      lat.rename = wait_row(p, d, "renamed.md", "# New\n\nedited, longer")
      wait_row(p, d, "new.md", nil)
      H.mkdir(d .. "/docs/sub")
      sh("mv " .. H.q(d .. "/docs/renamed.md") .. " " .. H.q(d .. "/docs/sub/moved.md"))
      wait_row(p, d, "sub/moved.md", "# New\n\nedited, longer")
      wait_row(p, d, "renamed.md", nil)
      say("create->row %.1f ms, modify %.1f ms, delete %.1f ms, rename %.1f ms (polled every 10 ms)",
        lat.create * 1e3, lat.modify * 1e3, lat.delete * 1e3, lat.rename * 1e3)
      assert.are.equal(0, sums(p).errors)

      -- idle: no busy polling. An idle process sleeps in epoll_wait and
      -- wakes for nothing: a second in which its threads wake at most 3
      -- times is looked for (the last changes' work may end first); a
      -- loop polling every 10 ms would wake 100 times in each
      local counts = {}
      wait_for(p, PATIENCE, "a second of idling without wakeups", function()
        local w0, c0 = wakeups(p), cpu_time(p)
        sleep_ms(1000)
        local w = wakeups(p) - w0
        counts[#counts + 1] = string.format("%d (%.0f ms of CPU)", w, (cpu_time(p) - c0) * 1e3)
        return w <= 3
      end)
      say("idle: wakeups per second %s", table.concat(counts, ", "))

      signal(p, SIGINT)
      local how, code = wait_exit(p, PATIENCE)
      assert.are.same({ "exit", 0 }, { how, code }, describe_proc(p))
      assert.are.same({}, complaints(p))
      assert_nothing_to_do(d)
      assert.are.same(fresh_dump(d), H.dump(d .. "/" .. DB, TBL))
    end)

    it("SIGTERM stops gracefully too; the next run has nothing to do", function()
      local d = setup_dir{ ["a.md"] = "# A\n\nHello world.\n" }
      local rc, _, err = coco(d, "flow.lua -q")
      assert.are.equal(0, rc, err)
      local p = start_live(d)
      local first = initial(p)
      assert.are.same({ 0, 0, 0, 1 }, { first.added, first.updated, first.deleted, first.unchanged })
      put(d .. "/docs/a.md", "# A\n\nchanged\n")
      put(d .. "/docs/c.md", "# C\n")
      wait_row(p, d, "a.md", "# A\n\nchanged")
      wait_row(p, d, "c.md", "# C")
      signal(p, SIGTERM)
      local how, code = wait_exit(p, PATIENCE)
      assert.are.same({ "exit", 0 }, { how, code }, describe_proc(p))
      assert_nothing_to_do(d)
      assert.are.same(fresh_dump(d), H.dump(d .. "/" .. DB, TBL))
    end)

    it("sweeps the memo cache while it runs (on a helper thread): bounded under churn, nothing in use lost",
      function()
      local d = H.tmpdir()
      H.write(d .. "/flow.lua", string.format([[
local coco = require("coco")
local Up = coco.fn("Up", { returns = "str", cache = true, version = 1 }, function(text)
  local f = assert(io.open(os.getenv("CALLS"), "a"))
  f:write(text:gsub("\n", " "), "\n")
  f:close()
  return text:upper()
end)
return coco.flow("DocsIndex", function(flow, scope)
  scope.documents = flow:add_source(coco.sources.LocalFile{ path = "docs" })
  local chunks = scope:add_collector()
  scope.documents:row(function(doc)
    doc.chunks = doc.content:transform(coco.functions.SplitRecursively{}, { chunk_size = 300 })
    doc.chunks:row(function(chunk)
      chunks:collect{ filename = doc.filename, location = chunk.location, text = chunk.text:transform(Up) }
    end)
  end)
  chunks:export("doc_chunks", coco.targets.SQLite{ path = %q }, { primary_key_fields = { "filename", "location" } })
end)
]], DB))
      H.mkdir(d .. "/docs")
      local calls_file = d .. "/calls"
      local function calls() return #H.take_lines(calls_file) end
      local function cached()
        local rc, out = coco(d, "show flow.lua", "CALLS=" .. H.q(calls_file) .. " ")
        assert.are.equal(0, rc)
        return tonumber(out:match("(%d+) cached function results"))
      end
      for f = 1, 5 do put(string.format("%s/docs/f%d.md", d, f), "round 0 file " .. f) end
      -- rows that do not change make each sweep read more, so sweeps
      -- overlap the evaluation of the next round
      H.mkdir(d .. "/docs/still")
      for f = 1, 1000 do put(string.format("%s/docs/still/s%d.md", d, f), "still " .. f) end
      -- a sweep may start after every pass (COCO_SWEEP_MS=0): they run
      -- while the next changes are evaluated
      local p = start_live(d, "", "env CALLS=" .. H.q(calls_file) .. " COCO_SWEEP_MS=0 ")
      initial(p)
      for round = 1, 8 do
        for f = 1, 5 do put(string.format("%s/docs/f%d.md", d, f), "round " .. round .. " file " .. f) end
        -- f6 shares f1's text: one cached result for both
        put(d .. "/docs/f6.md", "round " .. round .. " file 1")
        for f = 1, 6 do
          wait_row(p, d, "f" .. f .. ".md", ("round " .. round .. " file " .. (f == 6 and 1 or f)):upper())
        end
      end
      signal(p, SIGINT)
      local how, code = wait_exit(p, PATIENCE)
      assert.are.same({ "exit", 0 }, { how, code }, describe_proc(p))
      assert.are.same({}, complaints(p))
      calls()
      -- what the current rows use, not the sum of every round
      assert.are.equal(1005, cached())
      -- and none of it was swept: evaluating every row again calls nothing
      local rc, _, err = coco(d, "flow.lua -q --full-reprocess", "CALLS=" .. H.q(calls_file) .. " ")
      assert.are.equal(0, rc, err)
      assert.are.equal(0, calls())
    end)

    it("SIGINT in the middle of a burst: exit 0, and the next update converges", function()
      local d = setup_dir{ ["a.md"] = "# A\n" }
      local p, how, code, ms = signals_in_burst(d, 600, 200, 1)
      say("SIGINT during a burst: exit after %.1f ms, %d of 600 rows in", ms,
        count(d, "filename GLOB 'many/*'"))
      assert.are.same({ "exit", 0 }, { how, code }, describe_proc(p))
      assert.are.same({}, complaints(p))
      local rc, out, err = coco(d, "flow.lua --json")
      assert.are.equal(0, rc, err)
      local s = H.json_lines(out)[1]
      assert.are.same({ 0, 0, 0 }, { s.updated, s.deleted, s.errors })
      assert.are.equal(601, count(d))
      assert.are.same(fresh_dump(d), H.dump(d .. "/" .. DB, TBL))
      assert_nothing_to_do(d)
    end)

    it("--full-reprocess applies to the initial pass only; -q prints nothing", function()
      local d = setup_dir{ ["a.md"] = "# A\n", ["b.md"] = "# B\n" }
      local rc, _, err = coco(d, "flow.lua -q")
      assert.are.equal(0, rc, err)
      local p = start_live(d, "--full-reprocess")
      local first = initial(p)
      assert.are.same({ 0, 0, 0, 2 }, { first.added, first.updated, first.deleted, first.reprocessed })
      local mark = #batches(p)
      put(d .. "/docs/a.md", "# A2\n")
      wait_row(p, d, "a.md", "# A2")
      settle(p, 0.1)
      local s = sums(p, mark)
      assert.are.same({ 0, 1, 0, 0 }, { s.added, s.updated, s.deleted, s.reprocessed })
      signal(p, SIGTERM)
      assert.are.same({ "exit", 0 }, { wait_exit(p, PATIENCE) })
      local q = spawn(d, H.q(H.bin) .. " flow.lua -L -q")
      wait_for(q, PATIENCE, "the -q run to be up", function()
        return H.read("/proc/" .. q.pid .. "/comm") == "coco\n" and count(d) == 2
      end)
      put(d .. "/docs/b.md", "# B2\n")
      wait_row(q, d, "b.md", "# B2")
      signal(q, SIGINT)
      assert.are.same({ "exit", 0 }, { wait_exit(q, PATIENCE) })
      assert.are.equal("", stdout_of(q))
      assert.are.equal("", stderr_of(q))
    end)

    it("a second signal kills at once; the next update converges", function()
      local d = setup_dir{ ["a.md"] = "# A\n" }
      -- give it work, then two signals in a row
      local p, how, code, ms = signals_in_burst(d, 400, 150, 2)
      say("two SIGINTs: gone after %.1f ms (%s %d)", ms, how, code)
      -- killed by the second one, or both taken as one (signals coalesce)
      -- and the first one's graceful exit
      assert(how == "signal" and code == SIGINT or how == "exit" and code == 0, describe_proc(p))
      local rc, _, err = coco(d, "flow.lua -q")
      assert.are.equal(0, rc, err)
      assert.are.equal(401, count(d))
      assert.are.same(fresh_dump(d), H.dump(d .. "/" .. DB, TBL))
      assert_nothing_to_do(d)
    end)
  end)

  describe("editor save patterns end in exactly one update with the final content", function()
    local d, p, mark
    before_each(function()
      d = setup_dir{ ["e.md"] = "# E\n\nversion one\n", ["other.md"] = "# Other\n" }
      local rc, _, err = coco(d, "flow.lua -q")
      assert.are.equal(0, rc, err)
      install_write_log(d)
      p = start_live(d)
      initial(p)
      settle(p)
      mark = #batches(p)
      assert.are.same({}, take_writes(d))
    end)

    local function assert_one_update()
      wait_row(p, d, "e.md", "# E\n\nversion two")
      wait_for(p, PATIENCE, "the update's batch line", function() return sums(p, mark).updated >= 1 end)
      settle(p, 0.3)                                 -- (and no second one)
      assert.are.same({ "U e.md # E\n\nversion two" }, take_writes(d))
      local s = sums(p, mark)
      assert.are.same({ 0, 1, 0, 0 }, { s.added, s.updated, s.deleted, s.errors }, stdout_of(p))
    end

    it("a temp file written, then renamed over the file", function()
      put(d .. "/docs/e.md.tmp~", "# E\n\nversion two\n")
      os.rename(d .. "/docs/e.md.tmp~", d .. "/docs/e.md")
      assert_one_update()
    end)

    it("truncate, then write in pieces, in one open", function()
      local f = assert(io.open(d .. "/docs/e.md", "wb"))   -- O_TRUNC: the file is empty now
      f:setvbuf("no")
      sleep_ms(40)                                   -- longer than the debounce window
      f:write("# E\n\n")
      sleep_ms(40)
      f:write("version two\n")
      f:close()
      assert_one_update()
    end)
  end)

  describe("bursts and trees", function()
    it("cp -r of 1,000 small files: all indexed, each added once", function()
      local d = setup_dir{ ["a.md"] = "# A\n" }
      local stage = d .. "/stage/bulk"
      H.mkdir(stage)
      H.mkdir(stage .. "/deeper")
      for i = 1, 1000 do
        put(string.format("%s/%sf%04d.md", stage, i % 4 == 0 and "deeper/" or "", i), "# File " .. i .. "\n")
      end
      local p = start_live(d)
      initial(p)
      settle(p)
      local mark = #batches(p)
      local t0 = now()
      sh("cp -r " .. H.q(stage) .. " " .. H.q(d .. "/docs/bulk"))
      local t_cp = now() - t0
      wait_for(p, PATIENCE, "1,000 rows of bulk/", function() return count(d, "filename GLOB 'bulk/*'") == 1000 end)
      local t_all = now() - t0
      say("cp -r of 1,000 files: cp took %.0f ms, all 1,000 rows committed %.0f ms after cp started",
        t_cp * 1e3, t_all * 1e3)
      wait_for(p, PATIENCE, "1,000 added in the batch lines", function() return sums(p, mark).added >= 1000 end)
      settle(p, 0.3)
      local s = sums(p, mark)
      assert.are.same({ 1000, 0, 0, 0 }, { s.added, s.deleted, s.reprocessed, s.errors },
        "sum over " .. s.n .. " batch lines")
      -- A new directory is walked when its event is read, while cp may still
      -- be writing one file in it (cp copies one file at a time): that file
      -- is read then and again at its IN_CLOSE_WRITE, an update at most once
      -- per new directory (bulk/ and bulk/deeper/). Every other file is read
      -- once: its IN_CREATE alone is not a change.
      assert.is_true(s.updated <= 2, s.updated .. " files updated after being added")
      local t = target(d)
      assert.are.equal("# File 4", t["bulk/deeper/f0004.md"])
      assert.are.equal("# File 999", t["bulk/f0999.md"])
    end)

    -- (a burst of new keys grows engine/live.c's key table while rows wait in
    -- the batch: the batch must not be left pointing into the old table)
    it("2,000 files written in a burst, then each rewritten: every change lands", function()
      local d = setup_dir{ ["a.md"] = "# A\n" }
      local p = start_live(d)
      initial(p)
      local N = 2000
      for i = 1, N do put(string.format("%s/docs/f%04d.md", d, i), "# v1 " .. i .. "\n") end
      wait_for(p, PATIENCE, N .. " rows", function() return count(d) == N + 1 end)
      settle(p, 0.1)
      local t0 = now()
      for i = 1, N do put(string.format("%s/docs/f%04d.md", d, i), "# v2 " .. i .. "\n") end
      local ok = pcall(wait_for, p, PATIENCE, "every rewrite", function() return count(d, "text GLOB '# v2 *'") == N end)
      if ok then say("2,000 rewrites indexed %.0f ms after the first", (now() - t0) * 1e3) end
      local lost = H.sql(d .. "/" .. DB, "SELECT filename FROM " .. TBL
        .. " WHERE text NOT GLOB '# v2 *' AND filename <> 'a.md' ORDER BY filename")
      local names = {}
      for i, r in ipairs(lost) do if i <= 10 then names[#names + 1] = r.filename end end
      assert.are.equal(0, #lost, #lost .. " rewrites never reached the target (" .. table.concat(names, ", ") .. ")")
      assert.are.equal(0, sums(p).errors)
    end)

    it("a new subdirectory tree written at once is indexed; moved out, its rows go; moved in, they come",
      function()
      local d = setup_dir{}                   -- live mode on an empty directory
      local p = start_live(d)
      assert.are.same({ 0, 0 }, { initial(p).added, #H.dump(d .. "/" .. DB, TBL) })
      put(d .. "/docs/a.md", "# A\n")
      wait_row(p, d, "a.md", "# A")
      local t0 = now()
      sh(string.format("cd %s && mkdir -p a/b/c && echo '# one' > a/f1.md && echo '# two' > a/b/f2.md"
        .. " && echo '# three' > a/b/c/f3.md && echo '# four' > a/b/c/f4.txt", H.q(d .. "/docs")))
      wait_for(p, PATIENCE, "the new tree's 4 rows", function()
        local t = target(d)
        return t["a/f1.md"] == "# one" and t["a/b/f2.md"] == "# two" and t["a/b/c/f3.md"] == "# three"
          and t["a/b/c/f4.txt"] == "# four"
      end)
      say("mkdir -p a/b/c + 4 files: indexed after %.1f ms", (now() - t0) * 1e3)
      -- a file written into the deepest new directory later: it is watched
      put(d .. "/docs/a/b/c/f5.md", "# five\n")
      wait_row(p, d, "a/b/c/f5.md", "# five")
      -- moved out of the tree: its rows are deleted
      sh("mv " .. H.q(d .. "/docs/a") .. " " .. H.q(d .. "/outside"))
      wait_for(p, PATIENCE, "the moved-out tree's rows to go", function() return count(d, "filename GLOB 'a/*'") == 0 end)
      assert.are.same({ ["a.md"] = "# A" }, target(d))
      -- changes in the moved-out tree are not ours any more
      put(d .. "/outside/b/c/f6.md", "# six\n")
      -- moved back in under another name: indexed, and watched
      sh("mv " .. H.q(d .. "/outside") .. " " .. H.q(d .. "/docs/back"))
      wait_for(p, PATIENCE, "the moved-in tree's rows", function() return count(d, "filename GLOB 'back/*'") == 6 end)
      put(d .. "/docs/back/b/new.md", "# new\n")
      wait_row(p, d, "back/b/new.md", "# new")
      assert.are.equal(0, sums(p).errors)
      signal(p, SIGINT)
      assert.are.same({ "exit", 0 }, { wait_exit(p, PATIENCE) })
      assert.are.same(fresh_dump(d), H.dump(d .. "/" .. DB, TBL))
    end)

    it("a file matching excluded_patterns never appears", function()
      local d = setup_dir({ ["a.md"] = "# A\n" }, { lf = 'excluded_patterns = { "**/skip*", "node_modules" }' })
      local p = start_live(d)
      initial(p)
      settle(p)
      local mark = #batches(p)
      put(d .. "/docs/skip-me.md", "# no\n")
      H.mkdir(d .. "/docs/sub/node_modules/pkg")
      put(d .. "/docs/sub/node_modules/x.md", "# no\n")
      put(d .. "/docs/sub/node_modules/pkg/y.md", "# no\n")
      put(d .. "/docs/sub/skipped.txt", "# no\n")
      put(d .. "/docs/sub/keep.md", "# yes\n")   -- written last: the marker
      wait_row(p, d, "sub/keep.md", "# yes")
      settle(p, 0.3)
      assert.are.same({ ["a.md"] = "# A", ["sub/keep.md"] = "# yes" }, target(d))
      local s = sums(p, mark)
      assert.are.same({ 1, 0, 0, 0 }, { s.added, s.updated, s.deleted, s.errors })
      -- renamed to a name the patterns leave out: its rows go; and the other way round
      sh("mv " .. H.q(d .. "/docs/sub/keep.md") .. " " .. H.q(d .. "/docs/sub/keep.md.bak"))
      wait_row(p, d, "sub/keep.md", nil)
      sh("mv " .. H.q(d .. "/docs/skip-me.md") .. " " .. H.q(d .. "/docs/unskipped.md"))
      wait_row(p, d, "unskipped.md", "# no")
      sh("mv " .. H.q(d .. "/docs/sub/node_modules") .. " " .. H.q(d .. "/docs/sub/mods"))
      wait_for(p, PATIENCE, "the renamed directory's rows", function() return count(d, "filename GLOB 'sub/mods/*'") == 2 end)
      assert.are.same({ ["a.md"] = "# A", ["unskipped.md"] = "# no", ["sub/mods/x.md"] = "# no",
        ["sub/mods/pkg/y.md"] = "# no" }, target(d))
    end)

    it("a burst of writes to one path is coalesced and ends with the final content", function()
      local d = setup_dir{ ["a.md"] = "# A\n", ["hot.md"] = "# hot 0\n" }
      local p = start_live(d)
      initial(p)
      settle(p)
      local mark = #batches(p)
      local t0 = now()
      for i = 1, 100 do put(d .. "/docs/hot.md", "# hot " .. i .. "\n") end
      local span = now() - t0
      wait_row(p, d, "hot.md", "# hot 100")
      settle(p, 0.2)
      local s = sums(p, mark)
      say("100 writes to one file in %.0f ms: %d updates", span * 1e3, s.updated)
      assert.are.same({ 0, 0, 0 }, { s.added, s.deleted, s.errors })
      -- the first write at once, then at most one pass per 20 ms window
      assert(s.updated >= 1 and s.updated <= 2 + span / 0.02,
        string.format("%d updates for 100 writes in %.0f ms", s.updated, span * 1e3))
    end)

    it("renames inside the tree: a file over another, a directory, an in-tree directory symlink", function()
      local d = setup_dir{ ["x.md"] = "# X\n", ["y.md"] = "# Y\n", ["dir/one.md"] = "# one\n",
        ["dir/deep/two.md"] = "# two\n" }
      local p = start_live(d)
      initial(p)
      -- a file renamed over another: the old key goes, the other key gets the content
      sh("mv " .. H.q(d .. "/docs/x.md") .. " " .. H.q(d .. "/docs/y.md"))
      wait_for(p, PATIENCE, "x.md moved over y.md", function()
        local t = target(d)
        return t["x.md"] == nil and t["y.md"] == "# X"
      end)
      -- a directory renamed: its rows move, and it is still watched under the new name
      sh("mv " .. H.q(d .. "/docs/dir") .. " " .. H.q(d .. "/docs/dir2"))
      wait_for(p, PATIENCE, "dir/ renamed to dir2/", function()
        local t = target(d)
        return t["dir2/one.md"] == "# one" and t["dir2/deep/two.md"] == "# two" and t["dir/one.md"] == nil
          and t["dir/deep/two.md"] == nil
      end)
      put(d .. "/docs/dir2/deep/three.md", "# three\n")
      wait_row(p, d, "dir2/deep/three.md", "# three")
      -- an in-tree symlink to a directory: its files are rows under the link's path too
      sh("ln -s dir2 " .. H.q(d .. "/docs/link"))
      wait_for(p, PATIENCE, "the files under the link", function()
        local t = target(d)
        return t["link/one.md"] == "# one" and t["link/deep/three.md"] == "# three"
      end)
      put(d .. "/docs/dir2/four.md", "# four\n")
      wait_for(p, PATIENCE, "four.md under both paths", function()
        local t = target(d)
        return t["dir2/four.md"] == "# four" and t["link/four.md"] == "# four"
      end)
      os.remove(d .. "/docs/link")
      wait_for(p, PATIENCE, "the link's rows to go", function() return count(d, "filename GLOB 'link/*'") == 0 end)
      assert.are.equal(0, sums(p).errors)
      signal(p, SIGINT)
      assert.are.same({ "exit", 0 }, { wait_exit(p, PATIENCE) })
      assert_nothing_to_do(d)
      assert.are.same(fresh_dump(d), H.dump(d .. "/" .. DB, TBL))
    end)
  end)

  describe("without change capture", function()
    it("watch_changes = false and no refresh_interval: one update, then exit 0", function()
      local d = setup_dir({ ["a.md"] = "# A\n" }, { lf = "watch_changes = false" })
      local p = spawn(d, H.q(H.bin) .. " flow.lua -L")
      local how, code = wait_exit(p, PATIENCE)
      assert.are.same({ "exit", 0 }, { how, code }, describe_proc(p))
      assert.matches("DocsIndex.documents: 1 rows: 1 added", stdout_of(p), 1, true)
      assert.are.same({ ["a.md"] = "# A" }, target(d))
    end)

    it("watch_changes = false and refresh_interval = 0.3: the timer picks changes up", function()
      local d = setup_dir({ ["a.md"] = "# A\n" }, { lf = "watch_changes = false", src = "{ refresh_interval = 0.3 }" })
      local p = start_live(d)
      initial(p)
      settle(p, 0.05)
      local lat = {}
      put(d .. "/docs/b.md", "# B\n")
      lat.create = wait_row(p, d, "b.md", "# B")
      put(d .. "/docs/b.md", "# B2\n")
      lat.modify = wait_row(p, d, "b.md", "# B2")
      os.remove(d .. "/docs/a.md")
      lat.delete = wait_row(p, d, "a.md", nil)
      say("refresh_interval 0.3 s: create->row %.0f ms, modify %.0f ms, delete %.0f ms",
        lat.create * 1e3, lat.modify * 1e3, lat.delete * 1e3)
      signal(p, SIGINT)
      assert.are.same({ "exit", 0 }, { wait_exit(p, PATIENCE) })
      assert_nothing_to_do(d)
    end)
  end)

  describe("the library's updater, driven from a plain LuaJIT poll loop", function()
    it("fd, timeout, step(0), stats, abort, close", function()
      local d = setup_dir{ ["a.md"] = "# A\n" }
      local R = H.script(d, [=[
local ffi = require("ffi")
ffi.cdef[[
struct pollfd { int fd; short events; short revents; };
int poll(struct pollfd *fds, unsigned long nfds, int timeout);
struct lib_ts { long tv_sec; long tv_nsec; };
int clock_gettime(int clk, struct lib_ts *ts);
]]
local function now()
  local ts = ffi.new("struct lib_ts")
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end
local function put(path, s) local f = assert(io.open(path, "wb")) f:write(s) f:close() end
local function sql(q)
  local p = io.popen('sqlite3 index.sqlite "' .. q .. '"')
  local s = p:read("*a") p:close()
  return s
end
local coco = require("coco")
local R = { warnings = {}, errors = {} }
local flow = assert(coco.load("flow.lua"))
local got = { added = 0, updated = 0, deleted = 0, batches = 0 }
local live = assert(flow:live{
  on_batch = function(b)
    got.batches = got.batches + 1
    got.added, got.updated, got.deleted = got.added + b.added, got.updated + b.updated, got.deleted + b.deleted
  end,
  on_warning = function(msg) R.warnings[#R.warnings + 1] = msg end,
  on_error = function(source, key, msg) R.errors[#R.errors + 1] = key .. ": " .. msg end })
R.fd = live:fd()
local pfd = ffi.new("struct pollfd[1]")
pfd[0].fd = live:fd()
pfd[0].events = 1                                    -- POLLIN
R.initial = live:step(0)                             -- the initial pass
-- (on a loaded machine the listing thread may finish after this step's
-- budget: the pass then ends in a later step, when the fd wakes us)
local t_init = now()
while got.added < 1 and now() - t_init < 60 do
  ffi.C.poll(pfd, 1, 50)
  R.initial = R.initial + assert(live:step(0))
end
R.initial_added = got.added

-- the host loop: poll the fd for at most timeout(), step(0) after each wakeup
local wakeups, max_step = 0, 0
local function drive(what, pred, secs)
  local t0 = now()
  while not pred() do
    local left = secs - (now() - t0)
    if left <= 0 then error("timed out: " .. what, 0) end
    local t = live:timeout()
    local ms = math.floor(math.min(t or left, left) * 1000 + 0.5)
    ffi.C.poll(pfd, 1, ms)
    wakeups = wakeups + 1
    local s0 = now()
    local n, err = live:step(0)
    assert(n, err)
    max_step = math.max(max_step, now() - s0)
  end
  return now() - t0
end

put("docs/c.md", "# C\n")
R.t_create = drive("c.md added", function() return got.added >= 2 end, 60)
R.row_create = sql("SELECT text FROM DocsIndex__doc_chunks WHERE filename = 'c.md'")
put("docs/c.md", "# C, edited\n")
R.t_modify = drive("c.md updated", function() return got.updated >= 1 end, 60)
R.row_modify = sql("SELECT text FROM DocsIndex__doc_chunks WHERE filename = 'c.md'")
os.remove("docs/a.md")
R.t_delete = drive("a.md deleted", function() return got.deleted >= 1 end, 60)
R.rows_after = sql("SELECT filename FROM DocsIndex__doc_chunks ORDER BY filename")

-- let pending debounce windows pass, then idle
drive("no step due", function() local t = live:timeout() return t == nil or t > 1 end, 60)
R.idle_timeout = live:timeout()
local s0 = now()
R.idle_step = live:step(0)
R.idle_step_s = now() - s0
s0 = now()
R.idle_poll = ffi.C.poll(pfd, 1, 300)               -- nothing happens: sleeps the whole 300 ms
R.idle_poll_s = now() - s0
R.wakeups, R.max_step = wakeups, max_step
local st = live:stats()
R.stats = { #st, st[1].source, st[1].added, st[1].updated, st[1].deleted, st[1].errors }
R.has_capture = live:has_capture()

live:abort()
R.after_abort = live:step(0)
R.after_abort2 = live:step(100)
live:close()
live:close()
R.closed = tostring(live)
flow:close()
io.write(coco.json.encode(R))
]=], "timeout -k 2 300 ")
      say("library poll loop: create %.1f ms, modify %.1f ms, delete %.1f ms; %d wakeups, longest step(0) %.1f ms; "
        .. "idle step(0) %.2f ms", R.t_create * 1e3, R.t_modify * 1e3, R.t_delete * 1e3, R.wakeups, R.max_step * 1e3,
        R.idle_step_s * 1e3)
      assert.is_number(R.fd)
      assert.are.equal(1, R.initial)
      assert.are.equal(1, R.initial_added)
      assert.are.equal("# C\n", R.row_create)
      assert.are.equal("# C, edited\n", R.row_modify)
      assert.are.equal("c.md\n", R.rows_after)
      assert.are.same({}, R.errors)
      assert.are.same({}, R.warnings)
      -- idle: nothing due, step(0) does nothing, the fd stays quiet (poll()
      -- gives 0 only when its 300 ms went by with nothing to read)
      assert(R.idle_timeout == nil or R.idle_timeout > 1, "idle timeout() " .. tostring(R.idle_timeout))
      assert.are.equal(0, R.idle_step)
      assert.are.equal(0, R.idle_poll)
      assert(R.wakeups < 50, R.wakeups .. " wakeups for three changes: busy polling")
      assert.are.same({ 1, "documents", 2, 1, 1, 0 }, R.stats)
      assert.is_true(R.has_capture)
      assert.are.same({ false, false }, { R.after_abort, R.after_abort2 })
      assert.are.equal("coco.live(closed)", R.closed)
    end)

    -- (the budget is driven down instead of the corpus up: with a budget of
    -- a nanosecond every slice is past its deadline after its first row)
    it("the rows of a source that left the flow are deleted in step-sized slices", function()
      local d = H.tmpdir()
      H.mkdir(d .. "/old")
      for i = 1, 100 do put(string.format("%s/old/o%04d.md", d, i), "old " .. i) end
      H.mkdir(d .. "/docs")
      put(d .. "/docs/a.md", "new a")
      local function flow(src, dir)
        return string.format([[
local coco = require("coco")
return coco.flow("Orphans", function(flow, scope)
  scope.%s = flow:add_source(coco.sources.LocalFile{ path = %q })
  local out = scope:add_collector()
  scope.%s:row(function(doc) out:collect{ filename = doc.filename, text = doc.content } end)
  out:export("rows", coco.targets.SQLite{ path = "index.sqlite" }, { primary_key_fields = { "filename" } })
end)
]], src, dir, src)
      end
      H.write(d .. "/flow.lua", flow("old", "old"))
      local rc, _, err = coco(d, "flow.lua -q")
      assert.are.equal(0, rc, err)
      H.write(d .. "/flow.lua", flow("documents", "docs"))
      local R = H.script(d, [=[
local ffi = require("ffi")
ffi.cdef[[
struct lib_ts { long tv_sec; long tv_nsec; };
int clock_gettime(int clk, struct lib_ts *ts);
]]
local function now()
  local ts = ffi.new("struct lib_ts")
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end
local function rows()
  local p = io.popen('sqlite3 index.sqlite "SELECT count(*) FROM Orphans__rows"')
  local n = tonumber(p:read("*l")) p:close()
  return n
end
local function names()
  local p = io.popen('sqlite3 index.sqlite "SELECT group_concat(filename) FROM Orphans__rows"')
  local s = p:read("*l") p:close()
  return s
end
local coco = require("coco")
local flow = assert(coco.load("flow.lua"))
local live = assert(flow:live{ budget_ms = 1e-6 })
local R = { steps = 0, max_step = 0, after_first = nil }
local t0 = now()
while names() ~= "a.md" and now() - t0 < 600 do
  local s0 = now()
  assert(live:step(0))
  R.max_step = math.max(R.max_step, now() - s0)
  R.steps = R.steps + 1
  R.after_first = R.after_first or rows()
end
R.final = names()
live:close()
flow:close()
io.write(coco.json.encode(R))
]=], "timeout -k 2 300 ")
      say("100 orphaned rows deleted in %d steps, the longest %.1f ms", R.steps, R.max_step * 1e3)
      assert.are.equal("a.md", R.final)
      -- one row per slice: the first step deleted one of them, and it took
      -- a step for each
      assert.are.equal(99, R.after_first)
      assert.is_true(R.steps >= 100, "steps: " .. R.steps)
    end)

    it("close() from a callback, a nested step, the flow closed first, an updater left to the GC", function()
      local d = setup_dir{ ["a.md"] = "# A\n" }
      local R = H.script(d, [=[
local coco = require("coco")
local R = {}
local flow = assert(coco.load("flow.lua"))
-- closed from inside on_batch: the step returns false, the updater is closed after it
local live
live = assert(flow:live{ on_batch = function(b)
  R.nested = { pcall(live.step, live, 0) }
  live:close()
  R.in_cb = tostring(live)
end })
-- the initial pass may span steps (the listing runs on a helper thread):
-- step until the batch callback has run
local t0 = os.time()
repeat R.step = live:step(100) until R.in_cb or os.time() - t0 > 60
R.after = tostring(live)
R.use = { pcall(live.step, live, 0) }
live:close()
-- the same from wait()
local l2
l2 = assert(flow:live{ on_batch = function() l2:close() end })
local st = l2:wait()
R.wait = st and #st
-- the flow closed while its updater runs: the updater goes on until closed
local l3 = assert(flow:live())
assert(l3:step(0))
flow:close()
local f = assert(io.open("docs/b.md", "wb")) f:write("# B\n") f:close()
local n, t0 = 0, os.time()
while n == 0 and os.time() - t0 < 60 do n = assert(l3:step(100)) end
R.after_flow_close = n
l3:close()
-- an updater never closed: collected
local flow2 = assert(coco.load("flow.lua"))
do local l4 = assert(flow2:live()) assert(l4:step(0)) end
collectgarbage() collectgarbage()
flow2:close()
R.done = true
io.write(coco.json.encode(R))
]=], "timeout -k 2 300 ")
      assert.are.same({ false, "coco: live:step called from a live callback" }, R.nested)
      assert.are.equal("coco.live(running)", R.in_cb)
      assert.is_false(R.step)
      assert.are.equal("coco.live(closed)", R.after)
      assert.are.same({ false, "coco: live updater is closed" }, R.use)
      assert.are.equal(1, R.wait)
      assert.are.equal(1, R.after_flow_close)
      assert.is_true(R.done)
      assert.are.same({ ["a.md"] = "# A", ["b.md"] = "# B" }, target(d))
    end)
  end)

  describe("bad input", function()
    it("the watched root moved away or deleted: a warning, the process goes on; back, it is indexed and watched",
      function()
      local d = setup_dir{ ["a.md"] = "# A\n", ["b.md"] = "# B\n" }
      local p = start_live(d)
      initial(p)
      -- moved away: no event per file; the rows stay (a vanished root is not "every file deleted")
      sh("mv " .. H.q(d .. "/docs") .. " " .. H.q(d .. "/docs.away"))
      wait_for(p, PATIENCE, "a warning on stderr", function() return #complaints(p) > 0 end)
      local t0 = now()
      wait_for(p, PATIENCE, "1.5 s", function() return now() - t0 > 1.5 end)   -- the process goes on
      local w = complaints(p)
      say("root moved away, %d warnings in 1.5 s: %s", #w, table.concat(w, " | "))
      assert.matches("docs", w[1], 1, true)
      assert(#w <= 4, "warnings repeated while the root is away:\n" .. table.concat(w, "\n"))
      assert.are.same({ ["a.md"] = "# A", ["b.md"] = "# B" }, target(d))
      -- another tree moved in as the root
      H.mkdir(d .. "/new/sub")
      put(d .. "/new/b.md", "# B again\n")
      put(d .. "/new/sub/c.md", "# C\n")
      sh("mv " .. H.q(d .. "/new") .. " " .. H.q(d .. "/docs"))
      t0 = now()
      wait_for(p, PATIENCE, "the new root's files", function()
        local t = target(d)
        return t["b.md"] == "# B again" and t["sub/c.md"] == "# C" and t["a.md"] == nil
      end)
      say("root replaced: its files indexed after %.0f ms", (now() - t0) * 1e3)
      -- and the new root is watched
      put(d .. "/docs/sub/d.md", "# D\n")
      wait_row(p, d, "sub/d.md", "# D")
      local n = #complaints(p)

      -- deleted with everything in it, then made again
      sh("rm -rf " .. H.q(d .. "/docs"))
      wait_for(p, PATIENCE, "a warning on stderr", function() return #complaints(p) > n end)
      H.mkdir(d .. "/docs")
      put(d .. "/docs/e.md", "# E\n")
      t0 = now()
      wait_for(p, PATIENCE, "the recreated root's file", function()
        local t = target(d)
        return t["e.md"] == "# E" and t["b.md"] == nil and t["sub/c.md"] == nil
      end)
      say("root deleted and recreated: its file indexed after %.0f ms", (now() - t0) * 1e3)
      put(d .. "/docs/f.md", "# F\n")
      wait_row(p, d, "f.md", "# F")
      assert.are.equal(0, sums(p).errors)
      signal(p, SIGINT)
      assert.are.same({ "exit", 0 }, { wait_exit(p, PATIENCE) })
      assert_nothing_to_do(d)
      assert.are.same(fresh_dump(d), H.dump(d .. "/" .. DB, TBL))
    end)

    it("files deleted between their event and their read: no error, no row", function()
      local d = setup_dir{ ["a.md"] = "# A\n" }
      local p = start_live(d)
      initial(p)
      for i = 1, 60 do
        local path = string.format("%s/docs/tmp%02d.md", d, i)
        put(path, "# short-lived " .. i .. "\n")
        if i % 3 == 1 then sleep_ms(1) end
        os.remove(path)
        if i % 4 == 0 then
          -- replaced by a directory before it is read
          H.mkdir(string.format("%s/docs/tmpdir%02d.md", d, i))
        end
      end
      put(d .. "/docs/marker.md", "# marker\n")
      wait_row(p, d, "marker.md", "# marker")
      settle(p, 0.3)
      assert.are.same({ ["a.md"] = "# A", ["marker.md"] = "# marker" }, target(d))
      assert.are.equal(0, sums(p).errors)
      assert.are.same({}, complaints(p))
      assert.is_true(alive(p))
    end)

    it("a file over max_file_size is not indexed; grown over it, its rows go", function()
      local d = setup_dir({ ["a.md"] = "# A\n" }, { lf = "max_file_size = 64" })
      local p = start_live(d)
      initial(p)
      put(d .. "/docs/big.md", "# Big\n\n" .. ("x"):rep(200) .. "\n")
      put(d .. "/docs/small.md", "# Small\n")
      wait_row(p, d, "small.md", "# Small")
      settle(p, 0.3)
      assert.are.same({ ["a.md"] = "# A", ["small.md"] = "# Small" }, target(d))
      put(d .. "/docs/small.md", "# Small\n\n" .. ("y"):rep(200) .. "\n")
      wait_row(p, d, "small.md", nil)
      put(d .. "/docs/big.md", "# Big, cut\n")
      wait_row(p, d, "big.md", "# Big, cut")
      assert.are.equal(0, sums(p).errors)
    end)

    it("a subdirectory without permission: a warning, the rest is indexed and watched", function()
      local d = setup_dir{ ["a.md"] = "# A\n", ["private/p.md"] = "# P\n" }
      os.execute("chmod 000 " .. H.q(d .. "/docs/private"))
      local prefix, why = unprivileged_prefix(d .. "/docs/private")
      if not prefix then
        os.execute("chmod 755 " .. H.q(d .. "/docs/private"))
        pending(why)
        return
      end
      local p = start_live(d, nil, prefix)
      local first = initial(p)
      assert.are.equal(1, first.added)
      assert.matches("cannot read directory 'docs/private'", stderr_of(p), 1, true)
      put(d .. "/docs/b.md", "# B\n")
      wait_row(p, d, "b.md", "# B")
      -- a new directory that cannot be read, created while live
      H.mkdir(d .. "/docs/locked")
      put(d .. "/docs/locked/l.md", "# L\n")
      os.execute("chmod 000 " .. H.q(d .. "/docs/locked"))
      put(d .. "/docs/c.md", "# C\n")
      wait_row(p, d, "c.md", "# C")
      assert.is_true(alive(p))
      signal(p, SIGINT)
      assert.are.same({ "exit", 0 }, { wait_exit(p, PATIENCE) })
      -- readable again: a normal update converges
      os.execute("chmod 755 " .. H.q(d .. "/docs/private") .. " " .. H.q(d .. "/docs/locked"))
      local rc, _, err = coco(d, "flow.lua -q")
      assert.are.equal(0, rc, err)
      assert.are.same(fresh_dump(d), H.dump(d .. "/" .. DB, TBL))
      assert.are.equal("# P", target(d)["private/p.md"])
    end)

    it("the target locked by another connection for 2 s, then past the busy timeout: nothing lost",
      function()
      local d = setup_dir{ ["a.md"] = "# A\n", ["b.md"] = "# B\n", ["c.md"] = "# C\n" }
      local p = start_live(d)
      initial(p)
      settle(p)
      -- an exclusive transaction held by the sqlite3 shell until the file
      -- `name` exists (release(name) makes it)
      local function lock_until(name)
        local sql = d .. "/" .. name .. ".sql"
        -- (.timeout: coco's writer or checkpoint may hold the lock a moment)
        H.write(sql, ".timeout 60000\nBEGIN EXCLUSIVE;\n.shell while [ ! -e " .. name .. " ]; do sleep 0.05; done\nCOMMIT;\n")
        local lock = spawn(d, "sqlite3 " .. DB, sql)
        wait_for(lock, PATIENCE, "the lock to be taken", function()
          return not H.sh("sqlite3 " .. H.q(d .. "/" .. DB)
            .. " 'PRAGMA busy_timeout=0; BEGIN IMMEDIATE; ROLLBACK;' >/dev/null 2>&1")
        end)
        return lock
      end
      local function release(name) H.write(d .. "/" .. name, "") end

      -- held 2 s after the changes (shorter than coco's busy timeout): the
      -- batch waits for it
      local lock = lock_until("release1")
      local t0 = now()
      put(d .. "/docs/new1.md", "# N1\n")
      put(d .. "/docs/a.md", "# A, edited\n")
      os.remove(d .. "/docs/b.md")
      sleep_ms(50)
      put(d .. "/docs/new2.md", "# N2\n")
      sh("mv " .. H.q(d .. "/docs/c.md") .. " " .. H.q(d .. "/docs/c2.md"))
      sleep_ms(2000)
      assert.is_true(alive(lock), "the lock was released before the changes")
      release("release1")
      wait_for(p, PATIENCE, "every change in the target", function()
        local t = target(d)
        return t["new1.md"] == "# N1" and t["new2.md"] == "# N2" and t["a.md"] == "# A, edited"
          and t["b.md"] == nil and t["c.md"] == nil and t["c2.md"] == "# C"
      end)
      say("target locked 2 s: all changes committed %.0f ms after the first", (now() - t0) * 1e3)
      assert.are.same({ "exit", 0 }, { wait_exit(lock, PATIENCE) })
      settle(p, 0.1)

      -- held until coco says its batch failed on it (past its busy timeout,
      -- 5 s): the batch is retried and lands
      lock = lock_until("release2")
      t0 = now()
      local n = #complaints(p)
      put(d .. "/docs/new3.md", "# N3\n")
      put(d .. "/docs/a.md", "# A, edited again\n")
      os.remove(d .. "/docs/new1.md")
      wait_for(p, PATIENCE, "a warning that the target is locked", function()
        return table.concat(complaints(p), "\n", n + 1):find("database is locked; retrying", 1, true)
      end)
      assert.is_true(alive(lock), "the lock was released before the changes")
      release("release2")
      wait_for(p, PATIENCE, "every change in the target", function()
        local t = target(d)
        return t["new3.md"] == "# N3" and t["a.md"] == "# A, edited again" and t["new1.md"] == nil
      end)
      say("target locked past the busy timeout: all changes committed %.0f ms after the first; warnings: %s", (now() - t0) * 1e3,
        table.concat(complaints(p), " | "))
      assert.matches("database is locked; retrying", table.concat(complaints(p), "\n"), 1, true)
      assert.are.same({ "exit", 0 }, { wait_exit(lock, PATIENCE) })
      settle(p, 0.3)
      assert.are.equal(0, sums(p).errors)
      signal(p, SIGINT)
      assert.are.same({ "exit", 0 }, { wait_exit(p, PATIENCE) })
      assert_nothing_to_do(d)
      assert.are.same(fresh_dump(d), H.dump(d .. "/" .. DB, TBL))
    end)
  end)
end)
