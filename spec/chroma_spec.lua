-- targets.Chroma against chromadb's own server from npm (spec/servers/chroma):
-- the conformance list of spec/vector_conformance.lua, then what is
-- Chroma's own.
local H = require("spec.helpers")
local V = require("spec.servers_vector")

-- Every record's metadata, its document as text and its embedding as emb.
local function rows(srv, coll)
  local recs = srv:records(coll)
  if not recs then return nil end
  local out = {}
  for i, r in ipairs(recs) do
    local t = {}
    for k, v in pairs(r.metadata or {}) do t[k] = v end
    t.text = r.document
    t.emb = r.embedding
    out[i] = t
  end
  return out
end

local B = {
  name = "Chroma",
  start = V.chroma,
  target = function(srv, coll)
    return string.format("targets.Chroma{ url = %q, collection_name = %q }", srv.url, coll)
  end,
  rows = rows,
  words = { create = "create collection", add = "add metadata field size (int64)",
    drop_field = "drop metadata field size", retype = "field size: int64 metadata → str metadata",
    recreate = "drop and recreate collection", drop = "drop collection" },
  awkward_coll = "we.ird-tab_le",
  hand_change = function(srv, coll)
    local c = srv:collection(coll)
    assert.equals(200, (srv:call("DELETE", V.CHROMA_BASE .. "/collections/" .. coll)))
    assert.equals(200, (srv:call("POST", V.CHROMA_BASE .. "/collections",
      '{"name":"' .. coll .. '","configuration":{"hnsw":{"space":"l2"}}}')))
    assert(c)
  end,
  hand_words = "space is l2, the flow wants cosine",
  empty = function(srv, coll)
    local c = srv:collection(coll)
    local ids = {}
    for i, r in ipairs(srv:records(coll)) do ids[i] = r.id end
    if #ids > 0 then
      assert.equals(200, (srv:call("POST", V.CHROMA_BASE .. "/collections/" .. c.id .. "/delete", { ids = ids })))
    end
  end,
  drop_coll = function(srv, coll)
    assert.equals(200, (srv:call("DELETE", V.CHROMA_BASE .. "/collections/" .. coll)))
  end,
}

require("spec.vector_conformance")(B)
