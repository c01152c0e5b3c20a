-- Cluster mode (../shared/notes/cluster.md): the state in PostgreSQL
-- (engine/state_pg.c) with `--cluster URL`, its partitions held by updates
-- and workers (engine/cluster.c). Against Debian's PostgreSQL on 127.0.0.1:
--   * the state store's contract (spec/c/test_state.c's cases, run by the
--     test_state binary with --pg URL);
--   * the docs flow (LocalFile -> SplitRecursively -> a cached Lua function
--     -> SQLite) through adds, edits, deletes and renames: after each update
--     the target equals a fresh build with the ordinary RocksDB state, the
--     state is in the flow's schema and nothing is made beside the flow;
--   * a URL that cannot connect, drop;
--   * `coco worker`s: three give the target of one process, each holding its
--     fair share; one killed -9 mid-run, the others take its partitions over;
--     one added mid-run gets half at the first's next batch boundary; a
--     source that left the flow is deleted by each in its partitions;
--     one paused past its lease never commits; a worker of another flow
--     (fingerprint) or before setup refuses to start, a running one stops
--     when setup runs with another flow.
-- Leases are short ($COCO_CLUSTER_LEASE_MS); every wait is for a condition,
-- with a deadline of minutes.
-- PostgreSQL is part of `make test` (make deps-test installs it): a server
-- that cannot start fails these tests, it never skips them.
local H = require("spec.helpers")
local S = require("spec.servers")

local TBL = "DocsIndex__doc_chunks"

local FLOW = H.count_flow()   -- $SLOW: Count sleeps first; $CALLS: its log

local doc = H.doc

local stamp_clock = 1700000000
local function write_doc(d, name, content)
  H.write(d .. "/docs/" .. name, content)
  stamp_clock = stamp_clock + 10         -- a new mtime: an edit of equal size is seen
  assert(H.sh("touch -d @" .. stamp_clock .. " " .. H.q(d .. "/docs/" .. name)))
end

-- The target of a fresh build with the RocksDB state: same docs (and
-- notes, if any), the same flow (or flow).
local function scratch(d, flow)
  local f = H.tmpdir()
  assert(H.sh("cp -a " .. H.q(d .. "/docs") .. " " .. H.q(f .. "/docs")))
  H.sh("test -d " .. H.q(d .. "/notes") .. " && cp -a " .. H.q(d .. "/notes") .. " " .. H.q(f .. "/notes"))
  H.write(f .. "/flow.lua", flow or FLOW)
  local rc, _, err = H.coco(f, "update flow.lua -q")
  assert.are.equal(0, rc, "fresh build failed: " .. tostring(err))
  return H.dump(f .. "/index.sqlite", TBL)
end

local function calls(d) return #H.take_lines(d .. "/calls.log") end

describe("cluster mode: the state in PostgreSQL", function()
  local srv, why
  lazy_setup(function()
    srv, why = S.postgres()
    assert(srv, "PostgreSQL cannot start (make deps-test installs it): " .. tostring(why))
  end)
  lazy_teardown(function() if srv then srv:stop() end end)
  after_each(function() H.cleanup() end)

  it("keeps the state store's contract (test_state --pg)", function()
    local p = io.popen(H.q(H.so_dir .. "/test_state") .. " --pg " .. H.q(srv.url) .. " 2>&1; echo rc=$?")
    local out = p:read("*a")
    p:close()
    assert.is_truthy(out:match("\n?%d+ passed, 0 failed\nrc=0\n$"), out)
  end)

  it("gives the target of a RocksDB build through adds, edits, deletes and renames", function()
    local d = H.tmpdir()
    H.write(d .. "/flow.lua", FLOW)
    write_doc(d, "a.md", doc("a1", "a2", "a3"))
    write_doc(d, "b.md", doc("b1", "b2"))
    write_doc(d, "sub/c.md", doc("c1"))
    local env = { CALLS = d .. "/calls.log" }
    local cl = "--cluster " .. H.q(srv.url)

    local rc, out, err = H.coco(d, "setup flow.lua " .. cl, env)
    assert.are.equal(0, rc, err)
    assert.is_truthy(out:find("setup applied", 1, true), out)
    local function update(want)
      local urc, uout, uerr = H.coco(d, "update flow.lua --json " .. cl, env)
      assert.are.equal(0, urc, uerr)
      local st = H.json_lines(uout)[1]
      for k, v in pairs(want) do assert.are.equal(v, st[k], k .. " in " .. uout) end
      assert.are.same(scratch(d), H.dump(d .. "/index.sqlite", TBL))
    end

    update{ added = 3, updated = 0, deleted = 0 }
    assert.are.equal(6, calls(d))
    update{ added = 0, updated = 0, deleted = 0, unchanged = 3 }
    assert.are.equal(0, calls(d))
    write_doc(d, "a.md", doc("a1", "a2x", "a3"))                   -- edit
    update{ added = 0, updated = 1, deleted = 0 }
    assert.are.equal(1, calls(d))                                 -- a1, a3 from the memo
    write_doc(d, "d.txt", doc("d1", "d2"))                        -- add
    update{ added = 1, updated = 0, deleted = 0 }
    assert.are.equal(2, calls(d))
    H.rm(d .. "/docs/b.md")                                       -- delete
    update{ added = 0, updated = 0, deleted = 1 }
    assert.are.equal(0, calls(d))
    assert(H.sh("mv " .. H.q(d .. "/docs/d.txt") .. " " .. H.q(d .. "/docs/sub/e.md")))
    update{ added = 1, updated = 0, deleted = 1 }                 -- rename
    assert.are.equal(0, calls(d))                                 -- the chunks are in the memo

    -- the state is the flow's schema in PostgreSQL; nothing beside the flow
    local tables = srv:sql("SELECT table_name AS t FROM information_schema.tables "
      .. "WHERE table_schema = 'coco_DocsIndex' ORDER BY 1")
    local names = {}
    for i, r in ipairs(tables) do names[i] = r.t end
    assert.are.same({ "cluster", "lease", "lineage", "memo", "meta", "owner", "setup", "tracking",
      "worker" }, names)
    assert.are.same({ { n = 256, owned = 0 } }, srv:sql("SELECT count(*) AS n, count(owner) AS owned "
      .. "FROM \"coco_DocsIndex\".lease"))                      -- freed at exit
    assert.are.equal(3, srv:sql("SELECT count(*) AS n FROM \"coco_DocsIndex\".tracking")[1].n)
    assert.is_false(H.sh("test -e " .. H.q(d .. "/.coco")))

    rc, out, err = H.coco(d, "cluster status flow.lua " .. cl)
    assert.are.equal(0, rc, err)
    assert.is_truthy(out:find(": 3 source rows tracked\n  free: 256 partitions\n$"), out)

    -- show ($COCO_CLUSTER_URL) and verify read it; drop removes it with the target
    rc, out, err = H.coco(d, "show flow.lua", { COCO_CLUSTER_URL = srv.url })
    assert.are.equal(0, rc, err)
    assert.is_truthy(out:find("Setup: up to date", 1, true), out)
    rc, out, err = H.coco(d, "verify flow.lua -q " .. cl)
    assert.are.equal(0, rc, out .. err)
    rc, out, err = H.coco(d, "drop flow.lua -f -q " .. cl)
    assert.are.equal(0, rc, err)
    assert.are.same({}, srv:sql("SELECT 1 FROM information_schema.schemata "
      .. "WHERE schema_name = 'coco_DocsIndex'"))
    assert.is_false(H.sh("test -e " .. H.q(d .. "/.coco")))
  end)

  -- Waits (60 s at most) for cond() to hold.
  local function wait_for(what, cond)
    for _ = 1, 600 do
      if cond() then return end
      os.execute("sleep 0.1")
    end
    error("gave up waiting for " .. what)
  end

  it("holds the flow's leases: a second coco is refused, a paused one never commits", function()
    local d = H.tmpdir()
    H.write(d .. "/flow.lua", FLOW)
    for i = 1, 6 do write_doc(d, "f" .. i .. ".md", doc("f" .. i .. "a", "f" .. i .. "b")) end
    local cl = "--cluster " .. H.q(srv.url)
    local env = { COCO_CLUSTER_LEASE_MS = "1000" }
    assert(srv:exec('DROP SCHEMA IF EXISTS "coco_DocsIndex" CASCADE'))
    local rc, _, err = H.coco(d, "setup flow.lua -q " .. cl, env)
    assert.are.equal(0, rc, err)
    -- A: an update whose every call takes 0.3 s, on a 10-s lease (its
    -- heartbeat renews it every 3.3 s: a short lease could lapse on a
    -- loaded machine while A runs, and B would rightly take the flow)
    assert(H.sh(string.format("cd %s && (COCO_CLUSTER_LEASE_MS=10000 SLOW=0.3 CALLS=calls.log "
      .. "sh -c 'echo $$ >a.pid; exec \"$0\" \"$@\"' %s update flow.lua %s >a.out 2>a.err; "
      .. "echo $? >a.rc) >/dev/null 2>&1 </dev/null &", H.q(d), H.q(H.bin), cl)))
    wait_for("A's first call", function() return (H.read(d .. "/calls.log") or "") ~= "" end)
    local pid = H.read(d .. "/a.pid"):match("%d+")
    -- B, meanwhile: refused
    rc, _, err = H.coco(d, "update flow.lua " .. cl, env)
    assert.are.equal(1, rc)
    assert.is_truthy(err:find(": flow DocsIndex is in use by another coco process (", 1, true), err)
    -- status names the holder
    local out
    rc, out, err = H.coco(d, "cluster status flow.lua " .. cl)
    assert.are.equal(0, rc, err)
    assert.is_truthy(out:find("^Flow DocsIndex, URL " .. srv.url:gsub("%p", "%%%0")
      .. " %(schema \"coco_DocsIndex\"%): %d+ source rows tracked\n"), out)
    assert.is_truthy(out:find(" pid " .. pid .. ": 256 partitions, epoch %d+, lease ends in %d+ s\n"), out)
    -- A paused past its lease; C takes the flow over and updates it
    os.execute("kill -STOP " .. pid)
    wait_for("A's leases to end", function()
      return srv:sql("SELECT count(*) AS n FROM \"coco_DocsIndex\".lease WHERE expires_at >= now()")[1].n == 0
    end)
    rc, _, err = H.coco(d, "update flow.lua -q " .. cl, env)
    assert.are.equal(0, rc, err)
    -- A goes on: its next commit finds the leases taken and writes nothing
    os.execute("kill -CONT " .. pid)
    wait_for("A to exit", function() return H.read(d .. "/a.rc") ~= nil end)
    assert.are_not.equal("0", H.read(d .. "/a.rc"):match("%d+"))
    assert.is_truthy(H.read(d .. "/a.err"):find("lost its lease", 1, true), H.read(d .. "/a.err"))
    assert.are.same(scratch(d), H.dump(d .. "/index.sqlite", TBL))
    rc, _, err = H.coco(d, "update flow.lua --json " .. cl, env)
    assert.are.equal(0, rc, err)
    assert.are.same(scratch(d), H.dump(d .. "/index.sqlite", TBL))
  end)

  -- Workers: the flow re-lists every half second; their leases last 2 s.
  local WFLOW = FLOW:gsub('"%*%.txt" } }%)', '"*.txt" } }, { refresh_interval = 0.5 })')
  local LEASE = "2000"

  -- Waits (up to 3 minutes) for cond() to hold; an error in cond counts as not yet.
  local function wait_long(what, cond)
    for _ = 1, 1800 do
      local ok, res = pcall(cond)
      if ok and res then return end
      os.execute("sleep 0.1")
    end
    error("gave up waiting for " .. what)
  end

  -- Workers a test started: none outlives it, even when it fails.
  local started = {}
  after_each(function()
    for _, pid in ipairs(started) do os.execute("kill -KILL " .. pid .. " 2>/dev/null") end
    started = {}
  end)

  -- Starts worker `name` in d (its pid, output in name.out / name.err,
  -- exit code in name.rc once it ends).
  local function start_worker(d, name, env)
    local envs = ""
    env = env or {}
    env.COCO_CLUSTER_LEASE_MS = env.COCO_CLUSTER_LEASE_MS or LEASE
    for k, v in pairs(env) do envs = envs .. k .. "=" .. H.q(v) .. " " end
    assert(H.sh(string.format("cd %s && (%sCALLS=%s.calls sh -c 'echo $$ >%s.pid; "
      .. "exec \"$0\" \"$@\"' %s worker flow.lua --cluster %s >%s.out 2>%s.err; echo $? >%s.rc) "
      .. ">/dev/null 2>&1 </dev/null &", H.q(d), envs, name, name, H.q(H.bin), H.q(srv.url),
      name, name, name)))
    local pid
    wait_long(name .. "'s pid", function()
      pid = (H.read(d .. "/" .. name .. ".pid") or ""):match("%d+")
      return pid
    end)
    started[#started + 1] = pid
    return pid
  end

  local function stop_worker(d, name)
    os.execute("kill -TERM " .. H.read(d .. "/" .. name .. ".pid"):match("%d+") .. " 2>/dev/null")
    wait_long(name .. " to exit", function() return H.read(d .. "/" .. name .. ".rc") end)
    return H.read(d .. "/" .. name .. ".rc"):match("%d+")
  end

  local function same(a, b)
    if #a ~= #b then return false end
    for i = 1, #a do if a[i] ~= b[i] then return false end end
    return true
  end

  local function q1(sql) return srv:sql(sql)[1].n end
  local LT = '"coco_DocsIndex".lease'

  -- A flow with n docs, set up in the cluster (its schema new).
  local function cluster_flow(n, flow)
    local d = H.tmpdir()
    H.write(d .. "/flow.lua", flow or WFLOW)
    for i = 1, n do write_doc(d, "f" .. i .. ".md", doc("f" .. i .. "a", "f" .. i .. "b")) end
    assert(srv:exec('DROP SCHEMA IF EXISTS "coco_DocsIndex" CASCADE'))
    local rc, _, err = H.coco(d, "setup flow.lua -q --cluster " .. H.q(srv.url))
    assert.are.equal(0, rc, err)
    return d
  end

  -- Starts three workers that claim together: the spec holds every
  -- partition until all three are live, so each claims its share.
  local function three_workers(d, env, n, prefix)
    n, prefix = n or 3, prefix or "w"
    assert(srv:exec("UPDATE " .. LT .. " SET owner = 'spec', expires_at = now() + interval '1 hour'"))
    local pids = {}
    for i = 1, n do pids[i] = start_worker(d, prefix .. i, env) end
    wait_long(n .. " live workers", function()
      return q1('SELECT count(*) AS n FROM "coco_DocsIndex".worker WHERE heartbeat >= now() - interval \'2 s\'') == n
    end)
    assert(srv:exec("UPDATE " .. LT .. " SET owner = NULL, expires_at = NULL"))
    return pids
  end

  it("workers: three give the target of one process, each its fair share", function()
    local d = cluster_flow(12)
    local want = scratch(d)
    local pids = three_workers(d)
    wait_long("the target of one process", function()
      return same(want, H.dump(d .. "/index.sqlite", TBL))
    end)
    -- each worker holds its fair share, ceil(256 / 3) = 86 (one of them
    -- the 84 left); status shows them
    wait_long("the fair shares", function()
      local _, out = H.coco(d, "cluster status flow.lua --cluster " .. H.q(srv.url))
      if not out:find("\nworkers: 3 live\n", 1, true) then return false end
      for _, pid in ipairs(pids) do
        if not out:find("\n  [^\n]* pid " .. pid .. ": heartbeat [%d.]+ s ago, 8[4-6] partitions, %d+ rows "
          .. "%([%d.]+/s%), 0 errors\n") then return false end
        if not out:find("\n  [^\n]* pid " .. pid .. ": 8[4-6] partitions, epoch %d+, lease ends in %d+ s\n") then return false end
      end
      return true
    end)
    -- changes are passed by the partitions' owners
    write_doc(d, "f1.md", doc("f1a", "f1x"))
    write_doc(d, "new.md", doc("n1"))
    H.rm(d .. "/docs/f2.md")
    want = scratch(d)
    wait_long("the changes", function() return same(want, H.dump(d .. "/index.sqlite", TBL)) end)
    for i = 1, 3 do assert.are.equal("0", stop_worker(d, "w" .. i), H.read(d .. "/w" .. i .. ".err")) end
    assert.are.same({ { n = 0 } }, srv:sql("SELECT count(owner) AS n FROM " .. LT))   -- freed at exit
    assert.are.equal(0, q1('SELECT count(*) AS n FROM "coco_DocsIndex".worker'))
    local rc, out = H.coco(d, "verify flow.lua -q --cluster " .. H.q(srv.url))
    assert.are.equal(0, rc, out)
  end)

  it("workers: one killed -9 mid-run, the others take its partitions over", function()
    local d = cluster_flow(30)
    local want = scratch(d)
    local pids = three_workers(d, { SLOW = "0.1" })
    wait_long("w2's first call", function()
      return (H.read(d .. "/w2.calls") or "") ~= "" and
        q1("SELECT count(*) AS n FROM " .. LT .. " WHERE owner LIKE '% pid " .. pids[2] .. "'") > 0
    end)
    os.execute("kill -KILL " .. pids[2])
    local t0 = os.time()
    wait_long("w2's partitions taken over", function()
      return q1("SELECT count(*) AS n FROM " .. LT .. " WHERE owner LIKE '% pid " .. pids[2] .. "'") == 0
    end)
    io.stderr:write(string.format("\n(cluster_spec: w2's partitions taken over %d s after kill -9, lease %s ms)\n",
      os.time() - t0, LEASE))
    wait_long("the target of one process", function()
      return same(want, H.dump(d .. "/index.sqlite", TBL))
    end)
    wait_long("two fair shares", function()
      return q1("SELECT count(*) AS n FROM " .. LT .. " WHERE owner IS NOT NULL AND expires_at >= now()") == 256
    end)
    assert.are.equal("0", stop_worker(d, "w1"))
    assert.are.equal("0", stop_worker(d, "w3"))
    assert.are.same(want, H.dump(d .. "/index.sqlite", TBL))
  end)

  it("workers: one added mid-run takes its share at the next batch boundary", function()
    -- batches of two rows; a lease of 10 s (none should lapse here)
    local d = cluster_flow(40, (WFLOW:gsub("refresh_interval = 0%.5", "refresh_interval = 0.5, max_inflight_rows = 2")))
    local want = scratch(d)
    local env = { SLOW = "0.2", COCO_CLUSTER_LEASE_MS = "10000" }
    start_worker(d, "wa", env)
    wait_long("wa's first call", function() return (H.read(d .. "/wa.calls") or "") ~= "" end)
    local b = start_worker(d, "wb", env)
    -- wa gives up half of its partitions within its first pass: wb evaluates rows of them
    wait_long("wb's share", function()
      return q1("SELECT count(*) AS n FROM " .. LT .. " WHERE owner LIKE '% pid " .. b .. "'") == 128
        and (H.read(d .. "/wb.calls") or "") ~= ""
    end)
    wait_long("the target of one process", function()
      return same(want, H.dump(d .. "/index.sqlite", TBL))
    end)
    assert.are.equal("0", stop_worker(d, "wa"))
    assert.are.equal("0", stop_worker(d, "wb"))
    -- no row was evaluated twice: 40 docs, 2 chunks each
    local n = 0
    for _, w in ipairs({ "wa", "wb" }) do
      for _ in (H.read(d .. "/" .. w .. ".calls") or ""):gmatch("[^\n]+") do n = n + 1 end
    end
    assert.are.equal(80, n)
  end)

  it("workers: a source that left the flow is deleted in every partition", function()
    -- a second source, notes, whose rows go the way of the documents'
    local row = WFLOW:match("\n(  scope%.documents:row%(.-\n  end%)\n)")
    local two = WFLOW:gsub("\n  local chunks = scope:add_collector%(%)\n", function(line)
      return "\n  scope.notes = flow:add_source(sources.LocalFile{ path = \"notes\" }, "
        .. "{ refresh_interval = 0.5 })" .. line .. row:gsub("scope%.documents", "scope.notes")
    end)
    local d = cluster_flow(10, two)
    for i = 1, 10 do H.write(d .. "/notes/n" .. i .. ".txt", "note " .. i) end
    local want = scratch(d, two)
    assert.are.equal(30, #want)
    three_workers(d, nil, 2, "a")
    wait_long("the target of one process", function() return same(want, H.dump(d .. "/index.sqlite", TBL)) end)
    assert.are.equal("0", stop_worker(d, "a1"))
    assert.are.equal("0", stop_worker(d, "a2"))
    -- the notes leave the flow: set up again, two workers of the new flow
    H.write(d .. "/flow.lua", WFLOW)
    local rc, _, err = H.coco(d, "setup flow.lua -q --cluster " .. H.q(srv.url))
    assert.are.equal(0, rc, err)
    want = scratch(d, WFLOW)
    assert.are.equal(20, #want)
    three_workers(d, nil, 2, "b")
    wait_long("the notes' rows deleted", function() return same(want, H.dump(d .. "/index.sqlite", TBL)) end)
    wait_long("the notes' tracked rows deleted", function()
      return q1("SELECT count(*) AS n FROM \"coco_DocsIndex\".tracking") == 10
    end)
    assert.are.equal("0", stop_worker(d, "b1"))
    assert.are.equal("0", stop_worker(d, "b2"))
  end)

  it("workers: one paused past its lease never commits", function()
    local d = cluster_flow(8)
    local want = scratch(d)
    local a = start_worker(d, "wa", { SLOW = "0.3" })
    wait_long("wa's first call", function() return (H.read(d .. "/wa.calls") or "") ~= "" end)
    os.execute("kill -STOP " .. a)
    wait_long("wa's leases to end", function()
      return q1("SELECT count(*) AS n FROM " .. LT .. " WHERE expires_at >= now()") == 0
        and q1('SELECT count(*) AS n FROM "coco_DocsIndex".worker WHERE heartbeat >= now() - interval \'2 s\'') == 0
    end)
    start_worker(d, "wb")
    wait_long("wb's pass", function() return same(want, H.dump(d .. "/index.sqlite", TBL)) end)
    local epochs = srv:sql("SELECT sum(epoch) AS n FROM " .. LT)[1].n
    os.execute("kill -CONT " .. a)
    -- wa's next commit finds its partitions taken: nothing written
    wait_long("wa's refused commit", function() return H.read(d .. "/wa.err"):find("lost its lease", 1, true) end)
    assert.are.same(want, H.dump(d .. "/index.sqlite", TBL))
    -- then the two share the flow
    wait_long("two shares", function()
      return q1("SELECT count(*) AS n FROM " .. LT .. " WHERE owner LIKE '% pid " .. a .. "' AND expires_at >= now()") == 128
    end)
    assert.is_true(srv:sql("SELECT sum(epoch) AS n FROM " .. LT)[1].n > epochs)
    assert.are.equal("0", stop_worker(d, "wa"))
    assert.are.equal("0", stop_worker(d, "wb"))
    assert.are.same(want, H.dump(d .. "/index.sqlite", TBL))
    local rc, out = H.coco(d, "verify flow.lua -q --cluster " .. H.q(srv.url))
    assert.are.equal(0, rc, out)
  end)

  it("a worker of another flow, or before setup, refuses to start; setup stops old workers; update's share", function()
    local d = cluster_flow(2)
    local cl = " --cluster " .. H.q(srv.url)
    H.write(d .. "/flow2.lua", (WFLOW:gsub("version = 1", "version = 2")))
    local rc, _, err = H.coco(d, "worker flow2.lua" .. cl)
    assert.are.equal(1, rc)
    assert.is_truthy(err:find("^coco: cluster URL [^\n]*: flow DocsIndex compiles to fingerprint %x+, "
      .. "the cluster was set up with %x+: run coco setup flow2%.lua %-%-cluster URL again\n$"), err)
    rc, _, err = H.coco(d, "update flow2.lua" .. cl)
    assert.are.equal(1, rc)
    assert.is_truthy(err:find("compiles to fingerprint", 1, true), err)
    rc, _, err = H.coco(d, "worker flow.lua")
    assert.are.equal(2, rc)
    assert.are.equal("coco: worker: give --cluster URL (or $COCO_CLUSTER_URL)\n", err)
    -- a running worker stops when setup records another flow
    start_worker(d, "w")
    wait_long("w's pass", function() return q1("SELECT count(*) AS n FROM \"coco_DocsIndex\".tracking") == 2 end)
    rc, _, err = H.coco(d, "setup flow2.lua -q" .. cl)
    assert.are.equal(0, rc, err)
    wait_long("w to stop", function() return H.read(d .. "/w.rc") end)
    assert.are.equal("1", H.read(d .. "/w.rc"):match("%d+"))
    assert.is_truthy(H.read(d .. "/w.err"):find("compiles to fingerprint %x+, the cluster was set up with "
      .. "%x+: run coco setup flow%.lua %-%-cluster URL again %(this worker stops%)\n"), H.read(d .. "/w.err"))
    rc, _, err = H.coco(d, "update flow2.lua -q" .. cl)
    assert.are.equal(0, rc, err)
    -- an update passes the partitions nobody holds, and says the others are held
    assert(srv:exec("UPDATE " .. LT .. " SET owner = 'other', expires_at = now() + interval '1 hour' "
      .. "WHERE part < 100"))
    rc, _, err = H.coco(d, "update flow2.lua" .. cl)
    assert.are.equal(0, rc, err)
    assert.are.equal("coco: DocsIndex: 100 of 256 partitions are held by other coco processes, which "
      .. "pass them; this update passes the other 156\n", err)
    assert(srv:exec("UPDATE " .. LT .. " SET owner = 'other', expires_at = now() + interval '1 hour'"))
    rc, _, err = H.coco(d, "update flow2.lua" .. cl)
    assert.are.equal(1, rc)
    assert.is_truthy(err:find(": flow DocsIndex is in use by another coco process %(other; its lease ends in %d+ s unless renewed%)\n$"), err)
    rc, _, err = H.coco(d, "update flow2.lua -L" .. cl)
    assert.are.equal(2, rc)
    assert.are.equal("coco: -L does not apply to a cluster: run coco worker flow2.lua --cluster URL\n", err)
    -- before setup
    assert(srv:exec('DROP SCHEMA IF EXISTS "coco_DocsIndex" CASCADE'))
    rc, _, err = H.coco(d, "worker flow.lua" .. cl)
    assert.are.equal(1, rc)
    assert.is_truthy(err:find(": flow DocsIndex is not set up there: run coco setup flow%.lua %-%-cluster URL first\n$"), err)
  end)

  it("says plainly that a cluster URL cannot connect, without its password", function()
    local d = H.tmpdir()
    H.write(d .. "/flow.lua", FLOW)
    write_doc(d, "a.md", doc("a1"))
    local rc, _, err = H.coco(d, "update flow.lua --cluster 'postgres://u:sekret@127.0.0.1:1/db'")
    assert.are.equal(1, rc)
    assert.is_truthy(err:find("^coco: cluster URL postgres://u:%*%*%*@127%.0%.0%.1:1/db: "), err)
    assert.is_falsy(err:find("sekret", 1, true), err)
    rc, _, err = H.coco(d, "update flow.lua --state x --cluster " .. H.q(srv.url))
    assert.are.equal(2, rc)
    assert.are.equal("coco: --state and --cluster: give one\n", err)
    rc, _, err = H.coco(d, "cluster status flow.lua")
    assert.are.equal(2, rc)
    assert.are.equal("coco: cluster status: give --cluster URL (or $COCO_CLUSTER_URL)\n", err)
    assert(srv:exec('DROP SCHEMA IF EXISTS "coco_DocsIndex" CASCADE'))
    rc, _, err = H.coco(d, "cluster status flow.lua --cluster " .. H.q(srv.url))
    assert.are.equal(1, rc)
    assert.is_truthy(err:find("^coco: no state for flow DocsIndex in cluster URL "), err)
  end)
end)
