-- What the fuzzer's Chroma collections hold, as qdrant.lua gives Qdrant's:
-- every collection of the default tenant's default database whose name
-- starts with a prefix (one per sequence and side, main or fresh, on one
-- server), its HNSW configuration as the columns and its records as the
-- rows, each one comparable string: the id, the document, the metadata
-- (canonical JSON: keys sorted) and the embedding.
--
--   local CH = require("chroma")
--   local c = CH.new("http://127.0.0.1:8000", { main = "fz1m_", fresh = "fz1f_" })
--   c:dump(c.ns.main)   -- { [collection without prefix] = { cols =, rows = } }
--   c:reset(c.ns.fresh) -- drops the collections of that prefix
local QD = require("qdrant")
local json = require("dkjson")

local C = {}
C.__index = C
C.call = QD.call                  -- one request through curl: status, decoded answer

local BASE = "/api/v2/tenants/default_tenant/databases/default_database/collections"

function C.new(url, ns) return setmetatable({ url = url, ns = ns, who = "chroma" }, C) end

-- The collections whose names start with prefix: { [name without it] = collection }.
-- (Chroma's names are [a-zA-Z0-9._-]: no escaping in a path.)
function C:collections(prefix)
  local out, offset = {}, 0
  repeat
    local code, v = self:call("GET", BASE .. "?limit=100&offset=" .. offset)
    assert(code == 200, "chroma: GET collections: " .. tostring(code))
    for _, c in ipairs(v) do
      if c.name:sub(1, #prefix) == prefix then out[c.name:sub(#prefix + 1)] = c end
    end
    offset = offset + #v
  until #v < 100
  return out
end

function C:reset(prefix)
  for n in pairs(self:collections(prefix)) do
    local code = self:call("DELETE", BASE .. "/" .. prefix .. n)
    assert(code == 200, "chroma: drop " .. prefix .. n .. ": " .. tostring(code))
  end
end

local function plain(v) return v == json.null and nil or v end

-- { [collection] = { cols = its hnsw configuration, rows = { sorted strings } } }
function C:dump(prefix)
  local out = {}
  for n, c in pairs(self:collections(prefix)) do
    local cfg = plain(c.configuration_json) or {}
    local rows, offset = {}, 0
    repeat
      local code, v = self:call("POST", BASE .. "/" .. c.id .. "/get",
        { include = { "documents", "metadatas", "embeddings" }, limit = 1000, offset = offset })
      assert(code == 200, "chroma: get " .. prefix .. n .. ": " .. tostring(code))
      local docs, metas, embs = plain(v.documents) or {}, plain(v.metadatas) or {}, plain(v.embeddings) or {}
      for i, id in ipairs(v.ids) do
        rows[#rows + 1] = "id=" .. id .. "|document=" .. QD.canon(docs[i]) .. "|metadata="
          .. QD.canon(metas[i]) .. "|embedding=" .. QD.canon(embs[i])
      end
      offset = offset + #v.ids
    until #v.ids < 1000
    table.sort(rows)
    out[n] = { cols = "hnsw " .. QD.canon(plain(cfg.hnsw)), rows = rows }
  end
  return out
end

return C
