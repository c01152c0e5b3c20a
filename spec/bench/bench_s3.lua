-- make bench, AmazonS3 part: the figures of issue 7 against s3rver on
-- 127.0.0.1 (spec/servers/s3, installed by `make deps`).
--   1. initial index of BENCH_S3_OBJECTS (10,000) objects of 4 KB:
--      objects/s, with the ListObjectsV2 and GetObject requests s3rver saw
--   2. no-change update: list requests (goal: ceil(N / 1000)) and GetObject
--      requests (goal: 0)
--   3. 10 objects overwritten: exactly 10 GetObject
-- The flow is the Foundation bench's: AmazonS3 -> SplitRecursively
-- (chunk_size 1000) -> SQLite. Requests are counted by the server.
local C = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")
local _, coco = C.start(arg[1])
local S3 = require("spec.servers_s3")
local P = require("spec.proc")
local H = require("spec.helpers")

local N = C.num("BENCH_S3_OBJECTS", 10000)

local ok, why = S3.available()
if not ok then return C.skip("coco s3 bench", why) end
local srv = assert(S3.start{ buckets = { "bench" } })
local dir = H.tmpdir()
local function finish()
  srv:stop()
  P.reap_all(true)
  H.cleanup()
end

print(string.format("coco s3 bench: %d objects of 4 KB in s3rver (127.0.0.1:%d)", N, srv.s3_port))
local t0 = P.now()
srv:fill("bench", "docs/", N, 4096)
print(string.format("upload (node, 16 at a time): %.1f s", P.now() - t0))

H.write(dir .. "/flow.lua", C.flow("BenchS3",
  string.format('sources.AmazonS3{ bucket_name = "bench", endpoint = %q }', srv.s3)))

local env = "AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_SESSION_TOKEN= AWS_REGION=us-east-1 "
local function update()
  srv:reset_stats()
  local t = P.now()
  local p = io.popen(string.format("cd %s && %s%s flow.lua --json 2>&1; echo \"rc=$?\"", H.q(dir), env, H.q(coco)))
  local out = p:read("*a")
  p:close()
  local dt = P.now() - t
  local st = H.json_lines(out)[1]
  if not st or not out:find("rc=0") then
    finish()
    error("coco failed:\n" .. out)
  end
  return st, srv:stats(), dt
end

local st, req, dt = update()
print(string.format("initial index: %.2f s, %.0f objects/s (goal >= 500); %d added, %d errors; " ..
  "requests: %d ListObjectsV2, %d GetObject", dt, N / dt, st.added, st.errors, req.list, req.get))
local lists_goal = math.ceil(N / 1000)
st, req, dt = update()
print(string.format("no-change update: %.2f s; %d unchanged; requests: %d ListObjectsV2 (goal %d), " ..
  "%d GetObject (goal 0)", dt, st.unchanged, req.list, lists_goal, req.get))
for i = 1, 10 do
  srv:put("bench", string.format("docs/%05d.txt", i * 7), "# Changed " .. i .. "\n\nNew text.\n")
end
st, req, dt = update()
print(string.format("10 objects overwritten: %.2f s; %d updated; requests: %d ListObjectsV2, %d GetObject (goal 10)",
  dt, st.updated, req.list, req.get))
finish()
