-- Rule 6 of DESIGN.md: `kill -9` at any moment, then `update`, converges to
-- rule 1 (the target equals a from-scratch run on the current sources).
--
-- A corpus of ~700 files (several chunks each; more than one commit batch of
-- the indexer; paragraphs drawn partly from a shared pool so the function
-- cache is shared between rows) goes through rounds of random changes. Each
-- round kills `coco update` with SIGKILL at random moments (one to three
-- times in a row, sometimes with more changes between the kills), then runs
-- it to completion and compares the target with a fresh build of the same
-- files from empty state, and checks that one more update finds nothing to
-- do. Some rounds start from nothing (state and target removed), so kills
-- also land in setup and in the initial index. A non-cached Lua function
-- busy-waits a little per chunk in the killed and recovering runs, and kill
-- times are drawn over the measured length of a run, so that most kills
-- land inside runs, not before or after them.
--
-- CRASH_SEED=n picks another random sequence, CRASH_ROUNDS=n another number
-- of rounds, CRASH_DEBUG=1 prints every kill.
local H = require("spec.helpers")
local P = require("spec.proc")

local TBL = "Crash__doc_chunks"
local SEED = tonumber(os.getenv("CRASH_SEED")) or 20240521
local ROUNDS = tonumber(os.getenv("CRASH_ROUNDS")) or 15
local NFILES = 700
local SLOW_US = 150   -- busy-wait per chunk in the runs that get killed

local now = P.now

local FLOW = H.docs_flow{ name = "Crash", fns = [[
local slow = tonumber(os.getenv("SLOW_US") or "0") / 1e6
-- cached: its results live in the state's memo, written during the run
local Shout = coco.fn("Shout", { returns = "str", cache = true, version = 1 }, function(text)
  return text:upper()
end)
-- not cached: paces every processed chunk so that kills land inside runs
local Pace = coco.fn("Pace", { returns = "str" }, function(text)
  if slow > 0 then
    local t = os.clock() + slow
    while os.clock() < t do end
  end
  return text:sub(1, 12)
end)
]], fields = [[shout = chunk.text:transform(Shout),
                      head = chunk.text:transform(Pace)]] }

local WORDS = { "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota",
  "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon" }

local rnd = math.random

local function paragraph()
  local w = {}
  for i = 1, rnd(15, 40) do w[i] = WORDS[rnd(#WORDS)] end
  return table.concat(w, " ") .. "."
end

local pool = {}
local function pick_paragraph()
  if rnd() < 0.5 then return pool[rnd(#pool)] end
  return paragraph()
end

local function new_content()
  local ps = {}
  for i = 1, rnd(1, 7) do ps[i] = pick_paragraph() end
  if rnd() < 0.1 then ps[#ps + 1] = "## Heading " .. rnd(1000) end
  return table.concat(ps, "\n\n")
end

local function split_paras(s)
  local ps = {}
  for p in (s .. "\n\n"):gmatch("(.-)\n\n") do if p ~= "" then ps[#ps + 1] = p end end
  return ps
end

local function modified(s)
  local ps = split_paras(s)
  local how = rnd(5)
  if how == 1 or #ps == 0 then
    ps[#ps + 1] = pick_paragraph()                       -- grow
  elseif how == 2 then
    table.remove(ps, rnd(#ps))                           -- shrink
  elseif how == 3 then
    ps[rnd(#ps)] = pick_paragraph()                      -- replace one
  elseif how == 4 then
    local i = rnd(#ps)                                   -- edit a word, same size or not
    ps[i] = ps[i]:gsub("%a+", function(w) if rnd() < 0.2 then return WORDS[rnd(#WORDS)] end end)
  else
    return rnd() < 0.3 and "" or new_content()           -- rewrite (or empty)
  end
  return table.concat(ps, "\n\n")
end

-- ---- the corpus on disk, mirrored in `files` ------------------------------
local Corpus = {}
Corpus.__index = Corpus

local function new_corpus(dir)
  return setmetatable({ dir = dir, files = {}, names = {}, serial = 0, clock = 1700000000 }, Corpus)
end

function Corpus:fresh_name()
  self.serial = self.serial + 1
  local ext = rnd() < 0.8 and ".md" or ".txt"
  return string.format("d%02d/f%05d%s", rnd(0, 19), self.serial, ext)
end

function Corpus:refresh_names()
  local names = {}
  for n in pairs(self.files) do names[#names + 1] = n end
  table.sort(names)
  self.names = names
end

-- Applies n random changes; every file whose content changed gets one
-- new, never used mtime (so an equal-size edit inside one timestamp tick
-- cannot hide behind rule 2).
function Corpus:change(nadd, nmod, ndel, nren)
  local touched = {}
  local function put(name, content)
    self.files[name] = content
    H.write(self.dir .. "/docs/" .. name, content)
    touched[#touched + 1] = name
  end
  for _ = 1, nadd do put(self:fresh_name(), new_content()) end
  self:refresh_names()
  for _ = 1, nmod do
    if #self.names == 0 then break end
    local n = self.names[rnd(#self.names)]
    if self.files[n] then put(n, modified(self.files[n])) end
  end
  for _ = 1, ndel do
    if #self.names == 0 then break end
    local n = self.names[rnd(#self.names)]
    if self.files[n] then
      self.files[n] = nil
      assert(os.remove(self.dir .. "/docs/" .. n))
    end
  end
  for _ = 1, nren do
    self:refresh_names()
    if #self.names == 0 then break end
    local n = self.names[rnd(#self.names)]
    local to = self:fresh_name()
    H.mkdir((self.dir .. "/docs/" .. to):match("^(.*)/"))
    assert(os.rename(self.dir .. "/docs/" .. n, self.dir .. "/docs/" .. to))
    self.files[to], self.files[n] = self.files[n], nil
  end
  self:refresh_names()
  local live = {}
  for _, n in ipairs(touched) do
    if self.files[n] then live[#live + 1] = H.q(self.dir .. "/docs/" .. n) end
  end
  self.clock = self.clock + 100
  for i = 1, #live, 200 do
    assert(H.sh("touch -d @" .. self.clock .. " " .. table.concat(live, " ", i, math.min(#live, i + 199))))
  end
end

-- ---- running coco ------------------------------------------------------------

-- Starts `coco update` and SIGKILLs it after `secs`. Returns true if the
-- kill landed (the run had not finished), false if it finished first.
-- --foreground matters: without it `timeout -s KILL` also sends SIGKILL to
-- its own process group, so it dies with coco instead of waiting for it,
-- and the next run can start while the killed coco is still being torn
-- down by the kernel (its state lock not yet released: "in use by another
-- coco process", seen once under stress-ng). With it, timeout reaps coco
-- and exits 137 (128 + SIGKILL, as it reports a command it had to KILL),
-- or 124 when coco exited by itself just as the time was up (the kill
-- came too late: a run that finished).
local function killed_run(dir, secs)
  local cmd = string.format("cd %s && SLOW_US=%d timeout --foreground -s KILL %.3f %s update flow.lua -q >/dev/null 2>&1; echo $?",
    H.q(dir), SLOW_US, secs, H.q(H.bin))
  local p = io.popen(cmd)
  local rc = tonumber(p:read("*l"))
  p:close()
  if os.getenv("CRASH_DEBUG") then io.stderr:write(string.format("kill after %.3f s: %s\n", secs, tostring(rc))) end
  assert(rc == 137 or rc == 124 or rc == 0, "coco exited with status " .. tostring(rc) .. " before the kill")
  return rc == 137
end

local function full_run(dir, env)
  local t = now()
  local rc, out, err = H.coco(dir, "update flow.lua --json", env)
  assert.are.equal(0, rc, "update failed: " .. tostring(err))
  return H.json_lines(out)[1], now() - t
end

local function fresh_build(dir)
  local f = H.tmpdir()
  assert(H.sh("cp -a " .. H.q(dir .. "/docs") .. " " .. H.q(f .. "/docs")))
  H.write(f .. "/flow.lua", FLOW)
  full_run(f)
  local rows = H.dump(f .. "/index.sqlite", TBL)
  H.rm(f)
  return rows
end

describe("rule 6: kill -9 at any moment, then update, converges to a from-scratch build", function()
  after_each(H.cleanup)

  it("holds over " .. ROUNDS .. " rounds of random changes and random kills (seed " .. SEED .. ")", function()
    math.randomseed(SEED)
    for i = 1, 400 do pool[i] = paragraph() end
    local d = H.tmpdir()
    H.write(d .. "/flow.lua", FLOW)
    H.mkdir(d .. "/docs")
    local c = new_corpus(d)
    c:change(NFILES, 0, 0, 0)
    local kills, landed, fresh_starts = 0, 0, 0
    local t0 = now()
    -- how long a run of this kind took last time (fresh start / update)
    local est = { fresh = 0.8, update = 0.15 }
    for round = 1, ROUNDS do
      local label = string.format("seed %d, round %d", SEED, round)
      local kind = (round % 5 == 1) and "fresh" or "update"
      if kind == "fresh" then
        -- start over: kills land in setup and in the initial index
        assert(H.sh("rm -rf " .. H.q(d .. "/.coco") .. " " .. H.q(d .. "/index.sqlite") .. "*"))
        fresh_starts = fresh_starts + 1
      end
      if round > 1 then c:change(rnd(0, 15), rnd(1, 30), rnd(0, 10), rnd(0, 5)) end
      local hit = false
      for k = 1, rnd(1, 3) do
        if k > 1 and rnd() < 0.5 then c:change(rnd(0, 5), rnd(0, 10), rnd(0, 3), rnd(0, 2)) end
        kills = kills + 1
        if killed_run(d, 0.005 + rnd() * 1.3 * est[kind]) then landed, hit = landed + 1, true end
      end
      -- a round whose kills all came after the run ended (it went faster
      -- than the last one): again, sooner each time, until one lands inside
      local scale = est[kind]
      while not hit and scale > 0.001 do
        scale = scale / 2
        kills = kills + 1
        if killed_run(d, 0.005 + rnd() * scale) then landed, hit = landed + 1, true end
      end
      assert.is_true(hit, label .. ": every kill came after the run ended")
      local s, took = full_run(d, { SLOW_US = tostring(SLOW_US) })
      est[kind] = math.max(0.03, math.min(3, took))
      assert.are.equal(0, s.errors, label)
      local want = fresh_build(d)
      local got = H.dump(d .. "/index.sqlite", TBL)
      assert.is_true(#want > 0, label)
      if not pcall(assert.are.same, want, got) then
        -- show a short difference, not two lists of a thousand rows
        local inw, ing, diff = {}, {}, {}
        for _, r in ipairs(want) do inw[r] = (inw[r] or 0) + 1 end
        for _, r in ipairs(got) do ing[r] = (ing[r] or 0) + 1 end
        for r, n in pairs(inw) do if ing[r] ~= n then diff[#diff + 1] = "missing: " .. r:sub(1, 120) end end
        for r, n in pairs(ing) do if inw[r] ~= n then diff[#diff + 1] = "extra:   " .. r:sub(1, 120) end end
        table.sort(diff)
        error(string.format("%s: target differs from a fresh build (%d rows wanted, %d present):\n%s",
          label, #want, #got, table.concat(diff, "\n", 1, math.min(#diff, 20))))
      end
      -- and the state agrees with the target: nothing left to do
      s = full_run(d)
      assert.are.equal(0, s.added + s.updated + s.deleted + s.reprocessed + s.errors, label)
      assert.are.equal(#c.names, s.unchanged, label)
    end
    print(string.format("\n  crash_spec: %d rounds, %d fresh starts, %d kills, %d landed inside a run, %.1f s",
      ROUNDS, fresh_starts, kills, landed, now() - t0))
    -- (a test whose kills all miss the runs would prove nothing: each round
    -- had one inside a run, above)
  end)
end)

-- ---------------------------------------------------------------------------
-- The same rule at chosen kill points. Random kills rarely land in the
-- narrow windows that matter most (between the target's COMMIT and the
-- state's commit, between two batches, inside setup), so here gdb stops the
-- real binary at a given function and SIGKILLs it there (gdb's `kill`).
-- Every state write of a run is swept: the run is killed before and after
-- the 1st, 2nd, ... coco_state_write until a run gets through. After the
-- kill, files change again so that whatever the killed run wrote but did
-- not commit becomes stale; then an update must converge to a fresh build.

local doc = H.doc

local DOCS_TBL = "DocsIndex__doc_chunks"
local have_gdb = H.sh("command -v gdb >/dev/null 2>&1")

-- Runs `coco update` under gdb with the given commands after the usual
-- settings; returns true if the program was stopped and killed, false if it
-- ran to its end first (the breakpoint was never reached).
local function gdb_kill(dir, cmds)
  local ex = { "set pagination off", "set confirm off", "set disable-randomization off",
    "set auto-solib-add off" }
  for _, c in ipairs(cmds) do ex[#ex + 1] = c end
  local args = {}
  for _, c in ipairs(ex) do args[#args + 1] = "-ex " .. H.q(c) end
  local cmd = string.format("cd %s && gdb -q -batch -nx %s --args %s update flow.lua -q 2>&1",
    H.q(dir), table.concat(args, " "), H.q(H.bin))
  local p = io.popen(cmd)
  local out = p:read("*a")
  p:close()
  if out:find("Function \"[%w_]+\" not defined") then error("gdb: " .. out) end
  local hit = out:find("hit Breakpoint 1", 1, true) ~= nil
  if hit then
    assert(out:find("%[Inferior 1 %(process %d+%) killed%]"), "gdb did not kill coco:\n" .. out)
  else
    assert(out:find("exited normally", 1, true), "coco did not run to its end under gdb:\n" .. out)
  end
  return hit
end

local docs_clock = 1700000000
-- Writes (or, for false, removes) files under d/docs; everything written
-- gets one new, never used mtime.
local function write_docs(d, files)
  local names = {}
  for name, content in pairs(files) do
    if content then
      H.write(d .. "/docs/" .. name, content)
      names[#names + 1] = H.q(d .. "/docs/" .. name)
    else
      H.rm(d .. "/docs/" .. name)
    end
  end
  if #names > 0 then
    docs_clock = docs_clock + 100
    assert(H.sh("touch -d @" .. docs_clock .. " " .. table.concat(names, " ")))
  end
end

local function converges(d)
  local rc, _, err = H.coco(d, "update flow.lua -q")
  assert.are.equal(0, rc, "update after the kill failed: " .. tostring(err))
  local f = H.tmpdir()
  assert(H.sh("cp -a " .. H.q(d .. "/docs") .. " " .. H.q(f .. "/docs")))
  H.write(f .. "/flow.lua", H.read(d .. "/flow.lua"))
  rc, _, err = H.coco(f, "update flow.lua -q")
  assert.are.equal(0, rc, err)
  local want, got = H.dump(f .. "/index.sqlite", DOCS_TBL), H.dump(d .. "/index.sqlite", DOCS_TBL)
  H.rm(f)
  assert.is_true(#want > 0)
  assert.are.same(want, got)
  local out
  rc, out, err = H.coco(d, "update flow.lua --json")
  assert.are.equal(0, rc, err)
  local s = H.json_lines(out)[1]
  assert.are.equal(0, s.added + s.updated + s.deleted + s.reprocessed + s.errors)
end

-- Kill points: gdb commands, %d is the number of hits to let pass.
local BEFORE_WRITE = { "break coco_state_write", "ignore 1 %d", "run", "kill" }
local AFTER_WRITE = { "break coco_state_write", "ignore 1 %d", "run", "finish", "kill" }
local POINTS = {
  initial = {
    { "in setup, after the table is created", { "break sqlite_apply", "run", "finish", "kill" } },
    { "inside the first batch's target transaction", { "break tgt_upsert", "ignore 1 40", "run", "kill" } },
    { "before the first target commit", { "break tgt_commit", "run", "kill" } },
    { "after the first target commit", { "break tgt_commit", "run", "finish", "kill" } },
    { "inside the second batch's target transaction", { "break tgt_upsert", "ignore 1 560", "run", "kill" } },
    { "before the second target commit", { "break tgt_commit", "ignore 1 1", "run", "kill" } },
    { "after the second target commit", { "break tgt_commit", "ignore 1 1", "run", "finish", "kill" } },
  },
  update = {
    { "inside the target transaction, at an upsert", { "break tgt_upsert", "ignore 1 1", "run", "kill" } },
    { "inside the target transaction, at a delete", { "break tgt_del", "run", "kill" } },
    { "before the target commit", { "break tgt_commit", "run", "kill" } },
    { "after the target commit, before the state commit", { "break tgt_commit", "run", "finish", "kill" } },
  },
}

-- Phase "initial": the killed run is the first one (setup + 603 rows, two
-- batches of the indexer). Phase "update": the killed run applies edits.
local function prepare(phase)
  local d = H.tmpdir()
  H.write(d .. "/flow.lua", H.docs_flow{ chunk_size = 300 })
  H.mkdir(d .. "/docs")
  local files = { ["a.md"] = doc("a1", "a2", "a3", "a4"), ["b.md"] = doc("b1", "b2"), ["c.md"] = doc("c1", "c2", "c3") }
  if phase == "initial" then
    for i = 0, 599 do files[string.format("f%03d.md", i)] = doc("f" .. i) end
    write_docs(d, files)
  else
    write_docs(d, files)
    local rc, _, err = H.coco(d, "update flow.lua -q")
    assert.are.equal(0, rc, err)
    -- what the killed run will apply: grow + in-place edit, delete, shrink, add
    write_docs(d, { ["a.md"] = doc("a1", "A2", "a3", "a4", "a5"), ["b.md"] = false,
      ["c.md"] = doc("c1"), ["e.md"] = doc("e1", "e2") })
  end
  return d
end

-- After the kill: changes that make what the killed run may have written
-- stale (rows of files that go away, chunks that are no longer produced).
local function after_kill(d, phase)
  if phase == "initial" then
    write_docs(d, { ["a.md"] = false, ["f000.md"] = false, ["f599.md"] = false,
      ["b.md"] = doc("b1"), ["f300.md"] = doc("f300", "more"), ["g.md"] = doc("g1") })
  else
    write_docs(d, { ["a.md"] = doc("a1", "a2", "a3", "a4"), ["e.md"] = false,
      ["b.md"] = doc("B1", "B2", "B3"), ["c.md"] = doc("c1", "c2", "c3", "c4") })
  end
end

local function kill_case(phase, cmds)
  local d = prepare(phase)
  local hit = gdb_kill(d, cmds)
  if hit then
    after_kill(d, phase)
    converges(d)
  end
  H.rm(d)
  return hit
end

describe("rule 6 at chosen kill points (SIGKILL from gdb), then update, converges", function()
  after_each(H.cleanup)

  for _, phase in ipairs({ "initial", "update" }) do
    it("during the " .. phase .. " run: before and after every state write", function()
      if not have_gdb then pending("gdb is not installed") return end
      local n = 0
      while true do
        local before = kill_case(phase, (function()
          local c = {}
          for i, x in ipairs(BEFORE_WRITE) do c[i] = x:format(n) end
          return c
        end)())
        if not before then break end
        local c = {}
        for i, x in ipairs(AFTER_WRITE) do c[i] = x:format(n) end
        assert.is_true(kill_case(phase, c))
        n = n + 1
        assert.is_true(n < 40, "runaway sweep")
      end
      -- stage + commit at least (and setup, both batches, meta for the initial run)
      assert.is_true(n >= (phase == "initial" and 5 or 2), phase .. " run made only " .. n .. " state writes")
    end)

    for _, pt in ipairs(POINTS[phase]) do
      it("during the " .. phase .. " run: " .. pt[1], function()
        if not have_gdb then pending("gdb is not installed") return end
        assert.is_true(kill_case(phase, pt[2]), "the kill point was never reached")
      end)
    end
  end
end)
