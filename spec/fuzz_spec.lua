-- A short seeded slice of the differential fuzzer (spec/fuzz; `make fuzz`
-- runs the long one): random source and flow edits, each followed by an
-- update (plain, -f, killed with SIGKILL and run again, or a while of -L
-- with files changing), then every target (SQLite, PostgreSQL, a target
-- written in Lua) compared row by row with a fresh build, and the state
-- checked for entries that outlive what they stand for. Three sequences of
-- 150 steps run at once: seeds 1400 and 1401, and 1402 with flows whose
-- target keys two source rows share (--collide: owned target rows). A
-- failure prints the seed, the shrunk steps and the directory holding the
-- failing flow and files. Qdrant and Chroma collections are fuzzed by
-- `make fuzz FUZZ_ARGS="--qdrant --chroma"` (spec/fuzz/README.md: how
-- long a step takes with them).
local H = require("spec.helpers")
local S = require("spec.servers")

local build = H.bin:match("^(.*)/[^/]*$")

local function run(args)
  local out = os.tmpname()
  local ok = H.sh(string.format("luajit %s/spec/fuzz/run.lua %s %s >%s 2>&1", H.q(H.root), H.q(build), args,
    H.q(out)))
  local text = H.read(out) or ""
  os.remove(out)
  return ok, text
end

describe("the differential fuzzer", function()
  local srv, why
  lazy_setup(function() srv, why = S.postgres() end)
  lazy_teardown(function() if srv then srv:stop() end end)

  it("450 seeded steps (150 with colliding keys) end where a fresh build does, over SQLite, PostgreSQL and a Lua target", function()
    if not srv then
      pending("PostgreSQL: " .. tostring(why))
      return
    end
    assert(io.open(build .. "/fuzz_state"), "no " .. build .. "/fuzz_state: build it (CMakeLists builds it with coco)")
    local ok, out = run("--steps 450 --jobs 3 --collide-jobs 1 --seed 1400 --shrink-budget 60 --pg-url "
      .. H.q(srv.url))
    assert(ok, out)
    local n = 0
    for _ in out:gmatch("no difference") do n = n + 1 end
    assert.are.equal(3, n, out)
    assert.matches("seed 1402: 150 steps (--collide)", out, 1, true)
  end)

  it("replays a seed step for step", function()
    local _, a = run("--steps 6 --seed 77 --no-pg --worker")
    local _, b = run("--steps 6 --seed 77 --no-pg --worker")
    -- the same steps (a digest of them)
    assert.is_truthy(a:match("steps (%x+)%)"), a)
    assert.are.equal(a:match("steps (%x+)%)"), b:match("steps (%x+)%)"))
    assert.matches("no difference", a)
  end)
end)
