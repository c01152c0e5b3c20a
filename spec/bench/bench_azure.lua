-- make bench, AzureBlob part: the figures of issue 18 against Azurite on
-- 127.0.0.1 (spec/servers/azure, installed by `make deps-test`).
--   1. initial index of BENCH_AZURE_BLOBS (10,000) blobs of 4 KB: blobs/s
--      (goal >= 500), with the List Blobs and GET requests Azurite served
--   2. no-change update: List Blobs only (goal: ceil(N / 5000)), no GET
--   3. 10 blobs overwritten: exactly 10 GETs
-- The flow is the Foundation bench's: AzureBlob -> SplitRecursively
-- (chunk_size 1000) -> SQLite, signed with SharedKey (Azurite checks every
-- signature). Requests are counted from Azurite's access log. Azurite
-- runs in memory (no disk in the figures) on one thread: the CPU time it
-- spends per blob (listing + GET) bounds the rate on this machine, so it
-- is printed beside coco's own CPU time. Azurite 3.35's GET grows with the
-- container (its LokiJS lookup indexes accountName first, the same for
-- every blob): ~1 ms a blob at 1,000 blobs, ~3.7 ms at 10,000.
-- BENCH_AZURE_SQL=1: Azurite keeps its metadata in Debian's MariaDB
-- (AZURITE_DB, an indexed lookup per GET) instead, the blobs in files; the
-- database's CPU is printed too. The no-change update fails the bench
-- (exit 1) when it makes any request but the List Blobs it needs.
local C = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")
local _, coco = C.start(arg[1])
local P = require("spec.proc")
local AZ = require("spec.servers_azure")
local H = require("spec.helpers")

local N = C.num("BENCH_AZURE_BLOBS", 10000)

local ok, why = AZ.available()
if not ok then return C.skip("coco azure bench", why) end
local sql = os.getenv("BENCH_AZURE_SQL") == "1"
local srv = assert(AZ.start{ memory = not sql, sql = sql, flags = os.getenv("BENCH_AZURE_FLAGS") })
local dir = H.tmpdir()
local function finish()
  srv:stop()
  P.reap_all(true)
  H.cleanup()
end

print(string.format("coco azure bench: %d blobs of 4 KB in Azurite (127.0.0.1:%d, metadata %s)", N, srv.port,
  sql and "in MariaDB" or "in LokiJS, in memory"))
srv:mkcontainer("bench")
local t0 = P.now()
srv:fill("bench", "docs/", N, 4096)
print(string.format("upload (node, 16 at a time): %.1f s", P.now() - t0))

H.write(dir .. "/flow.lua", C.flow("BenchAzure", string.format(
  'sources.AzureBlob{ account_name = %q, container_name = "bench",\n    endpoint = %q, account_key_env = "AZ_KEY" }',
  AZ.ACCOUNT, srv.endpoint)))

local function update()
  local req = {}
  srv:reset_requests()
  local t, c, dbc = P.now(), srv:cpu(), srv:db_cpu()
  local p = io.popen(string.format("cd %s && AZ_KEY=%s bash -c '%s flow.lua --json 2>&1; echo \"rc=$?\"; times'",
    H.q(dir), H.q(AZ.KEY), H.q(coco)))
  local out = p:read("*a")
  p:close()
  local dt = P.now() - t
  local um, us, sm, ss = out:match("\n(%d+)m([%d.]+)s (%d+)m([%d.]+)s%s*$")
  req.coco_cpu = um and (um * 60 + us + sm * 60 + ss) or 0
  req.server_cpu = srv:cpu() - c
  req.db_cpu = srv:db_cpu() - dbc
  local st = H.json_lines(out)[1]
  if not st or not out:find("rc=0") then
    finish()
    error("coco failed:\n" .. out)
  end
  for k, v in pairs(srv:requests()) do req[k] = v end
  return st, req, dt
end

local st, req, dt = update()
print(string.format("initial index: %.2f s, %.0f blobs/s (goal >= 500); %d added, %d errors; " ..
  "requests: %d List Blobs, %d GET, %d other", dt, N / dt, st.added, st.errors, req.list, req.get, req.other))
print(string.format("  CPU per blob: coco %.3f ms, Azurite %.3f ms (one thread: at most %.0f blobs/s here)%s",
  req.coco_cpu / N * 1000, req.server_cpu / N * 1000, N / req.server_cpu,
  sql and string.format(", MariaDB %.3f ms", req.db_cpu / N * 1000) or ""))
local lists_goal = math.ceil(N / 5000)
st, req, dt = update()
print(string.format("no-change update: %.2f s; %d unchanged; requests: %d List Blobs (goal %d), " ..
  "%d GET (goal 0), %d other (goal 0); CPU: coco %.2f s, Azurite %.2f s", dt, st.unchanged, req.list,
  lists_goal, req.get, req.other, req.coco_cpu, req.server_cpu))
local quiet = (os.getenv("BENCH_AZURE_FLAGS") or ""):find("--silent", 1, true)
if not quiet and (req.list ~= lists_goal or req.get ~= 0 or req.other ~= 0) then
  finish()
  error(string.format("no-change update over %d blobs: %d List Blobs, %d GET, %d other; want %d, 0, 0",
    N, req.list, req.get, req.other, lists_goal))
end
for i = 1, 10 do
  srv:put("bench", string.format("docs/%05d.txt", i * 7), "# Changed " .. i .. "\n\nNew text.\n")
end
st, req, dt = update()
print(string.format("10 blobs overwritten: %.2f s; %d updated; requests: %d List Blobs, %d GET (goal 10)",
  dt, st.updated, req.list, req.get))
finish()
