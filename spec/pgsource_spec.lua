-- The Postgres source against Debian's PostgreSQL: rows keyed by the primary
-- key and typed from the catalog, ordinals, filters, the setup of the
-- trigger that notifies changes, and live mode through LISTEN (inserts,
-- updates, deletes, key changes, rollbacks, big transactions, a killed
-- listener, keys too large for a notification). Live processes are our
-- children (fork + exec through FFI), killed with their process group.
local H = require("spec.helpers")
local S = require("spec.servers")
local P = require("spec.proc")

local HEAD = [[
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets
]]

-- A flow: table `tbl` (source options `src`) -> SQLite rows of `fields`.
local function flow(src, fields, pk)
  local collect = {}
  for _, f in ipairs(fields) do collect[#collect + 1] = f .. " = row." .. f end
  return HEAD .. [[
return coco.flow("PgSrc", function(flow, scope)
  scope.items = flow:add_source(sources.Postgres{ ]] .. src .. [[ })
  local out = scope:add_collector()
  scope.items:row(function(row)
    out:collect{ ]] .. table.concat(collect, ", ") .. [[ }
  end)
  out:export("items", targets.SQLite{ path = "out.sqlite" },
    { primary_key_fields = { ]] .. pk .. [[ } })
end)
]]
end

describe("Postgres source on PGlite + pgvector", function()
  local srv, why, dir
  lazy_setup(function() srv, why = S.pglite() end)
  lazy_teardown(function() if srv then srv:stop() end end)
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.cleanup() end)

  it("reads vector and halfvec columns as vector<float32,N>", function()
    if not srv then pending("PGlite cannot start: " .. tostring(why)) return end
    assert(srv:exec([[CREATE EXTENSION IF NOT EXISTS vector; DROP TABLE IF EXISTS docs;
      CREATE TABLE docs (id int PRIMARY KEY, emb vector(3), h halfvec(2), body text);
      INSERT INTO docs VALUES (1, '[1,2.5,-3]', '[0.5,1]', 'hello'), (2, NULL, NULL, 'x');]]))
    H.write(dir .. "/flow.lua", flow('table_name = "docs"', { "id", "emb", "h", "body" }, '"id"'))
    local env = { COCO_DATABASE_URL = srv.url }
    local rc, out, err = H.coco(dir, "show flow.lua", env)
    assert.equals(0, rc, err)
    assert.matches("table%[id: int64%]{emb: vector<float32,3>, h: vector<float32,2>, body: str}", out)
    rc, out, err = H.coco(dir, "update flow.lua -q", env)
    assert.equals(0, rc, err)
    assert.same({ { id = 1, emb = "0000803F00002040000040C0", h = "0000003F0000803F", body = "hello" },
      { id = 2, emb = "", h = "", body = "x" } },
      H.sql(dir .. "/out.sqlite", "SELECT id, hex(emb) AS emb, hex(h) AS h, body FROM PgSrc__items ORDER BY id"))
  end)
end)

describe("Postgres source", function()
  local srv, why, dir
  lazy_setup(function() srv, why = S.postgres() end)
  lazy_teardown(function() if srv then srv:stop() end end)
  before_each(function() dir = H.tmpdir() end)
  after_each(function()
    P.reap_all()
    H.cleanup()
  end)
  local function ready()
    if not srv then pending("PostgreSQL cannot start: " .. tostring(why)) end
    return srv ~= nil
  end
  local function exec(sql) assert(srv:exec(sql)) end
  local function coco(args) return H.coco(dir, args, { COCO_DATABASE_URL = srv.url }) end
  local function rows(q) return H.sql(dir .. "/out.sqlite", q) end
  local function stats(out) return H.json_lines(out)[1] end

  it("reads the rows keyed by the primary key, every column typed from the catalog", function()
    if not ready() then return end
    exec([[DROP TABLE IF EXISTS t_types;
      CREATE TYPE mood AS ENUM ('sad', 'happy');
      CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
      CREATE TABLE t_types (region text, id int4, i2 int2, i8 int8, f4 real, f8 float8,
        num numeric(10,2), s varchar(20), c char(3), b bytea, ok bool, j json, jb jsonb,
        ts timestamp, tz timestamptz, d date, tm time, u uuid, arr int[], iv interval,
        m mood, p posint, PRIMARY KEY (region, id));
      INSERT INTO t_types VALUES ('eu', 1, 2, 9007199254740993, 1.5, 0.1, 12.34, 'varchar', 'ab',
        '\x00ff41', true, '{"a": [1, 2]}', '{"b": null}', '2024-01-02 03:04:05.123456',
        '2024-01-02 03:04:05+02', '2024-02-29', '23:59:59', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
        '{1,NULL,3}', '1 day 2 hours', 'happy', 7),
        ('us', 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        NULL, NULL, NULL, NULL, NULL, NULL, NULL);]])
    local fields = { "region", "id", "i2", "i8", "f4", "f8", "num", "s", "c", "b", "ok", "j", "jb",
      "ts", "tz", "d", "tm", "u", "arr", "iv", "m", "p" }
    H.write(dir .. "/flow.lua", flow('table_name = "t_types"', fields, '"region", "id"'))
    local rc, out, err = coco("show flow.lua")
    assert.equals(0, rc, err)
    assert.matches("table%[region: str, id: int64%]", out)
    assert.matches("f4: float32", out)
    assert.matches("num: float64", out)
    assert.matches("b: bytes", out)
    assert.matches("jb: json", out)
    rc, out, err = coco("update flow.lua --json")
    assert.equals(0, rc, err)
    assert.equals(2, stats(out).added)
    local r = rows([[SELECT region, id, i2, i8, f4, f8, num, s, c, hex(b) AS b, ok, j, jb, ts, tz, d,
      tm, u, arr, iv, m, p, typeof(i8) AS ti8 FROM PgSrc__items ORDER BY region]])
    assert.same({ region = "eu", id = 1, i2 = 2, i8 = 9007199254740993, f4 = 1.5, f8 = 0.1, num = 12.34,
      s = "varchar", c = "ab ", b = "00FF41", ok = 1, j = '{"a": [1, 2]}', jb = '{"b": null}',
      ts = "2024-01-02T03:04:05.123456", tz = "2024-01-02T01:04:05+00:00", d = "2024-02-29",
      tm = "23:59:59", u = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", arr = "[1,null,3]", iv = "P1DT2H",
      m = "happy", p = 7, ti8 = "integer" }, r[1])
    assert.equals("us", r[2].region)
    assert.is_nil(r[2].i2)
    assert.is_nil(r[2].tz)
    -- nothing changed: nothing read again
    rc, out, err = coco("update flow.lua --json")
    assert.equals(0, rc, err)
    assert.equals(2, stats(out).unchanged)
    exec("DROP TABLE t_types; DROP TYPE mood; DROP DOMAIN posint")
  end)

  it("skips rows whose ordinal is unchanged; without an ordinal, compares content", function()
    if not ready() then return end
    exec([[DROP TABLE IF EXISTS t_ord;
      CREATE TABLE t_ord (id int PRIMARY KEY, body text, version int NOT NULL DEFAULT 1);
      INSERT INTO t_ord (id, body) SELECT g, 'body ' || g FROM generate_series(1, 5) g;]])
    H.write(dir .. "/flow.lua", flow('table_name = "t_ord", ordinal_column = "version"',
      { "id", "body" }, '"id"'))
    local rc, out, err = coco("update flow.lua --json")
    assert.equals(0, rc, err)
    assert.equals(5, stats(out).added)
    -- a change that does not bump the ordinal is not read (the contract of ordinal_column)
    exec("UPDATE t_ord SET body = 'sneaky' WHERE id = 1")
    rc, out, err = coco("update flow.lua --json")
    assert.equals(0, rc, err)
    assert.same({ 5, 0 }, { stats(out).unchanged, stats(out).updated })
    assert.equals("body 1", rows("SELECT body FROM PgSrc__items WHERE id = 1")[1].body)
    exec("UPDATE t_ord SET body = 'seen', version = version + 1 WHERE id = 1")
    rc, out, err = coco("update flow.lua --json")
    assert.equals(0, rc, err)
    assert.same({ 4, 1 }, { stats(out).unchanged, stats(out).updated })
    assert.equals("seen", rows("SELECT body FROM PgSrc__items WHERE id = 1")[1].body)
    -- without ordinal_column: the content decides
    H.write(dir .. "/flow.lua", flow('table_name = "t_ord", included_columns = { "body" }',
      { "id", "body" }, '"id"'))
    rc, out, err = coco("update flow.lua --json")
    assert.equals(0, rc, err)
    exec("UPDATE t_ord SET body = 'by content' WHERE id = 2; UPDATE t_ord SET version = 9 WHERE id = 3")
    rc, out, err = coco("update flow.lua --json")
    assert.equals(0, rc, err)
    assert.same({ 4, 1 }, { stats(out).unchanged, stats(out).updated })
    assert.equals("by content", rows("SELECT body FROM PgSrc__items WHERE id = 2")[1].body)
    exec("DELETE FROM t_ord WHERE id = 5")
    rc, out, err = coco("update flow.lua --json")
    assert.equals(0, rc, err)
    assert.equals(1, stats(out).deleted)
    assert.equals(4, #rows("SELECT id FROM PgSrc__items"))
    exec("DROP TABLE t_ord")
  end)

  it("reads only the rows a filter holds for", function()
    if not ready() then return end
    exec([[DROP TABLE IF EXISTS t_filter;
      CREATE TABLE t_filter (id int PRIMARY KEY, status text);
      INSERT INTO t_filter VALUES (1, 'open'), (2, 'closed'), (3, 'open');]])
    H.write(dir .. "/flow.lua", flow([[table_name = "t_filter", filter = "status = 'open'"]],
      { "id", "status" }, '"id"'))
    local rc, _, err = coco("update flow.lua -q")
    assert.equals(0, rc, err)
    assert.same({ { id = 1 }, { id = 3 } }, rows("SELECT id FROM PgSrc__items ORDER BY id"))
    exec("UPDATE t_filter SET status = 'closed' WHERE id = 1")
    rc, _, err = coco("update flow.lua -q")
    assert.equals(0, rc, err)
    assert.same({ { id = 3 } }, rows("SELECT id FROM PgSrc__items ORDER BY id"))
    exec("DROP TABLE t_filter")
  end)

  it("says what is wrong with the table or the options, at the flow line", function()
    if not ready() then return end
    exec([[DROP TABLE IF EXISTS t_nopk, t_geo;
      CREATE TABLE t_nopk (id int, body text);
      CREATE TABLE t_geo (id int PRIMARY KEY, at point, body text);]])
    H.write(dir .. "/flow.lua", flow('table_name = "t_nopk"', { "id" }, '"id"'))
    local rc, _, err = coco("setup flow.lua")
    assert.equals(1, rc)
    assert.matches("flow.lua:4: Postgres: table public.t_nopk has no primary key", err, 1, true)

    H.write(dir .. "/flow.lua", flow('table_name = "t_geo"', { "id" }, '"id"'))
    rc, _, err = coco("setup flow.lua")
    assert.equals(1, rc)
    assert.matches("flow.lua:4: Postgres: column 'at' of public.t_geo has type point, which coco "
      .. "cannot map; leave it out with included_columns", err, 1, true)
    H.write(dir .. "/flow.lua", flow('table_name = "t_geo", included_columns = { "body" }', { "id", "body" }, '"id"'))
    rc, _, err = coco("update flow.lua -q")
    assert.equals(0, rc, err)

    H.write(dir .. "/flow.lua", flow([[table_name = "t_geo", included_columns = { "body" },
      filter = "id >> AND 1"]], { "id" }, '"id"'))
    rc, _, err = coco("update flow.lua")
    assert.equals(1, rc)
    assert.matches('flow.lua:4: Postgres: filter: syntax error at or near "AND"', err, 1, true)

    H.write(dir .. "/flow.lua", flow('table_name = "t_gone"', { "id" }, '"id"'))
    rc, _, err = coco("update flow.lua")
    assert.equals(1, rc)
    assert.matches("flow.lua:4: Postgres: table t_gone does not exist in postgres://127.0.0.1:", err, 1, true)

    H.write(dir .. "/flow.lua", flow('table_name = "t_geo", included_columns = { "bdy" }', { "id" }, '"id"'))
    rc, _, err = coco("update flow.lua")
    assert.equals(1, rc)
    assert.matches("included_columns: table public.t_geo has no column 'bdy' (columns: id, at, body)",
      err, 1, true)
    exec("DROP TABLE t_nopk, t_geo")
  end)

  it("keeps a password in the connection string out of the state and of every output", function()
    if not ready() then return end
    local ROLE, PW = "coco_src_pw", "s3cret-Pw-9f2"
    local hba = srv.data .. "/pg_hba.conf"
    local old = H.read(hba)
    if not old:find(ROLE, 1, true) then
      local f = assert(io.open(hba, "w"))
      f:write("host all " .. ROLE .. " 127.0.0.1/32 scram-sha-256\n" .. old)
      f:close()
      srv:as_owner(srv.bindir .. "/pg_ctl -D " .. H.q(srv.data) .. " reload")
      exec("CREATE ROLE " .. ROLE .. " LOGIN SUPERUSER PASSWORD '" .. PW .. "'")
    end
    exec([[DROP TABLE IF EXISTS t_pw; CREATE TABLE t_pw (id int PRIMARY KEY, body text);
      INSERT INTO t_pw VALUES (1, 'one');]])
    local url = string.format("postgres://%s:%s@127.0.0.1:%d/postgres", ROLE, PW, srv.port)
    H.write(dir .. "/flow.lua", flow(string.format('table_name = "t_pw", database = %q, notification = {}', url),
      { "id", "body" }, '"id"'))
    local all = ""
    for _, args in ipairs({ "update flow.lua", "show flow.lua -v", "drop flow.lua -f" }) do
      local rc, out, err = H.coco(dir, args, {})
      assert.equals(0, rc, err)
      all = all .. out .. err
    end
    assert.matches("drop trigger coco__PgSrc__items_t on public.t_pw", all, 1, true)
    assert.is_nil(all:find(PW, 1, true), "password printed:\n" .. all)
    local p = io.popen("grep -r -a -l -F " .. H.q(PW) .. " " .. H.q(dir) .. " 2>/dev/null")
    local files = p:read("*a")
    p:close()
    assert.equals("", files:gsub("[^\n]*flow%.lua\n", ""))
    exec("DROP TABLE t_pw")
  end)

  describe("live, through LISTEN/NOTIFY", function()
    local function live_flow(extra)
      H.write(dir .. "/flow.lua", flow('table_name = "tickets", notification = {}' .. (extra or ""),
        { "id", "title" }, '"id"'))
    end
    local function start()
      return P.spawn(dir, "env " .. H.env{ COCO_DATABASE_URL = srv.url } .. H.q(H.bin) .. " flow.lua -L --json")
    end
    local function titles()
      local out = {}
      for _, r in ipairs(rows("SELECT id, title FROM PgSrc__items ORDER BY id")) do out[#out + 1] = r.id .. "=" .. r.title end
      return table.concat(out, " ")
    end
    local function count() return rows("SELECT count(*) AS n FROM PgSrc__items")[1].n end
    local function triggers()
      return srv:sql("SELECT tgname FROM pg_trigger WHERE tgrelid = 'tickets'::regclass AND NOT tgisinternal "
        .. "ORDER BY tgname")
    end

    before_each(function()
      if not srv then return end
      exec([[DROP TABLE IF EXISTS tickets;
        CREATE TABLE tickets (id text PRIMARY KEY, title text);
        INSERT INTO tickets VALUES ('1', 'one'), ('2', 'two');]])
    end)

    it("setup creates the trigger, live mode gets inserts, updates, deletes and key changes; drop removes it", function()
      if not ready() then return end
      live_flow()
      local rc, out, err = coco("setup flow.lua")
      assert.equals(0, rc, err)
      assert.matches("source items %(Postgres postgres://127.0.0.1:%d+/postgres#public.tickets!coco__PgSrc__items%)", out)
      assert.matches("create trigger coco__PgSrc__items_t on public.tickets", out)
      assert.same({ { tgname = "coco__PgSrc__items_t" }, { tgname = "coco__PgSrc__items_tt" } }, triggers())
      rc, out = coco("setup flow.lua")
      assert.equals(0, rc)
      assert.not_matches("trigger", out)          -- nothing to do
      exec('DROP TRIGGER "coco__PgSrc__items_t" ON tickets')   -- by hand: live mode makes it again
      local p = start()
      P.wait_for(p, 60, "the initial pass", function() return titles() == "1=one 2=two" end)
      P.wait_for(p, 60, "the warning", function() return (H.read(p.err) or ""):match("made again") end)
      exec("INSERT INTO tickets VALUES ('3', 'three')")
      P.wait_for(p, 60, "an insert", function() return titles() == "1=one 2=two 3=three" end)
      exec("UPDATE tickets SET title = 'ONE' WHERE id = '1'")
      P.wait_for(p, 60, "an update", function() return titles() == "1=ONE 2=two 3=three" end)
      exec("DELETE FROM tickets WHERE id = '2'")
      P.wait_for(p, 60, "a delete", function() return titles() == "1=ONE 3=three" end)
      exec("UPDATE tickets SET id = '4' WHERE id = '3'")
      P.wait_for(p, 60, "a key change", function() return titles() == "1=ONE 4=three" end)
      -- a transaction rolled back reaches nothing; the next one commits after it
      exec("BEGIN; INSERT INTO tickets VALUES ('5', 'never'); UPDATE tickets SET title = 'never' WHERE id = '1'; ROLLBACK")
      exec("INSERT INTO tickets VALUES ('6', 'six')")
      P.wait_for(p, 60, "the insert after a rollback", function() return titles() == "1=ONE 4=three 6=six" end)
      -- a key too large for a notification: a full pass finds it
      exec("INSERT INTO tickets VALUES (repeat('x', 9000), 'big')")
      P.wait_for(p, 60, "a row with a 9000-byte key", function() return count() == 4 end)
      exec("TRUNCATE tickets")
      P.wait_for(p, 60, "a truncate", function() return count() == 0 end)
      P.signal(p, 15)
      P.wait_for(nil, 60, "coco to exit", function() return not P.alive(p) end)
      rc, out, err = coco("drop flow.lua -f")
      assert.equals(0, rc, err)
      assert.matches("drop trigger coco__PgSrc__items_t on public.tickets", out)
      assert.same({}, triggers())
      assert.same({}, srv:sql("SELECT proname FROM pg_proc WHERE proname LIKE 'coco__PgSrc%'"))
    end)

    it("names the trigger after channel_name, and drops it when notification leaves the options", function()
      if not ready() then return end
      H.write(dir .. "/flow.lua", flow('table_name = "tickets", notification = { channel_name = "ticket_changes" }',
        { "id", "title" }, '"id"'))
      local rc, out, err = coco("setup flow.lua")
      assert.equals(0, rc, err)
      assert.matches("create trigger ticket_changes_t on public.tickets: notify changed keys on channel ticket_changes", out, 1, true)
      assert.same({ { tgname = "ticket_changes_t" }, { tgname = "ticket_changes_tt" } }, triggers())
      H.write(dir .. "/flow.lua", flow('table_name = "tickets"', { "id", "title" }, '"id"'))
      rc, out, err = coco("setup flow.lua")
      assert.equals(0, rc, err)
      assert.matches("drop trigger ticket_changes_t on public.tickets", out, 1, true)
      assert.same({}, triggers())
      H.write(dir .. "/flow.lua", flow('table_name = "tickets", notification = { channel_name = "bad-name" }',
        { "id", "title" }, '"id"'))
      rc, _, err = coco("setup flow.lua")
      assert.equals(1, rc)
      assert.matches("flow.lua:4: Postgres: notification: channel_name must be 1 to 63 letters, digits or _", err, 1, true)
    end)

    it("gets 10,000 rows changed in one transaction, and changes after the listener was killed", function()
      if not ready() then return end
      live_flow(', ordinal_column = "title"')
      local p = start()
      P.wait_for(p, 60, "the initial pass", function() return count() == 2 end)
      exec("INSERT INTO tickets SELECT 'n' || g, 'title ' || g FROM generate_series(1, 10000) g")
      P.wait_for(p, 120, "10,000 inserted rows", function() return count() == 10002 end)
      exec("UPDATE tickets SET title = title || '!' WHERE id LIKE 'n%'")
      P.wait_for(p, 120, "10,000 updated rows", function()
        return rows("SELECT count(*) AS n FROM PgSrc__items WHERE title LIKE '%!'")[1].n == 10000
      end)
      -- the listening connection killed by the server, a change made at once: it arrives
      local killed = srv:sql([[SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
        WHERE application_name = 'coco listen']])
      assert.same({ { ok = true } }, killed)
      exec("UPDATE tickets SET title = 'after the kill' WHERE id = '1'")
      P.wait_for(p, 60, "the change after the kill", function()
        return rows("SELECT title FROM PgSrc__items WHERE id = '1'")[1].title == "after the kill"
      end)
      P.wait_for(p, 60, "the warning", function() return (H.read(p.err) or ""):match("was lost") end)
      P.wait_for(p, 60, "a new listener", function()
        return #srv:sql("SELECT pid FROM pg_stat_activity WHERE application_name = 'coco listen'") == 1
      end)
      exec("DELETE FROM tickets WHERE id = '2'")
      P.wait_for(p, 60, "a delete after reconnecting", function() return count() == 10001 end)
    end)
  end)
end)
