-- What the fuzzer's Qdrant collections hold, as db.lua gives tables: every
-- collection whose name starts with a prefix (one per sequence and side,
-- main or fresh, on one server), its named vectors as the columns and its
-- points as the rows, each one comparable string: the point id, the
-- payload (canonical JSON: keys sorted) and the vectors.
--
--   local QD = require("qdrant")
--   local q = QD.new("http://127.0.0.1:6333", { main = "fz1m_", fresh = "fz1f_" })
--   q:dump(q.ns.main)  -- { [collection without prefix] = { cols =, rows = } }
--   q:reset(q.ns.fresh) -- drops the collections of that prefix
local json = require("dkjson")
local HTTP = require("http")

local Q = {}
Q.__index = Q

local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

function Q.new(url, ns) return setmetatable({ url = url, ns = ns, who = "qdrant" }, Q) end

-- One request (spec/fuzz/http.lua; through curl when the URL is not
-- http://IPv4:port); returns status, the decoded answer.
function Q:call(method, path, body)
  local text, code
  if self.url:match("^http://%d+%.%d+%.%d+%.%d+:%d+/?$") then
    code, text = HTTP.request(self.url, method, path, body and json.encode(body))
    if not code then error(self.who .. ": " .. method .. " " .. path .. ": " .. text, 2) end
  else
    local args = "-sS --max-time 60 -X " .. method .. " -w '\\n%{http_code}' "
    if body then args = args .. "-H 'Content-Type: application/json' --data-binary " .. shq(json.encode(body)) .. " " end
    local p = io.popen("curl " .. args .. shq(self.url .. path) .. " 2>&1")
    local out = p:read("*a")
    p:close()
    text, code = out:match("^(.*)\n(%d+)$")
    if not code then error(self.who .. ": " .. method .. " " .. path .. ": " .. out, 2) end
  end
  return tonumber(code), json.decode(text, 1, json.null)
end

local function enc(name) return (name:gsub("[^%w_.~-]", function(c) return string.format("%%%02X", c:byte()) end)) end

-- The names of the collections that start with prefix (without it).
function Q:collections(prefix)
  local code, v = self:call("GET", "/collections")
  assert(code == 200, "qdrant: GET /collections: " .. tostring(code))
  local out = {}
  for _, c in ipairs(v.result.collections) do
    if c.name:sub(1, #prefix) == prefix then out[#out + 1] = c.name:sub(#prefix + 1) end
  end
  table.sort(out)
  return out
end

function Q:reset(prefix)
  for _, n in ipairs(self:collections(prefix)) do
    local code = self:call("DELETE", "/collections/" .. enc(prefix .. n))
    assert(code == 200, "qdrant: drop " .. prefix .. n .. ": " .. tostring(code))
  end
end

-- Canonical JSON of a decoded value: object keys sorted, numbers with 9
-- significant digits (a float32 exactly).
local function canon(v)
  local t = type(v)
  if v == json.null or v == nil then return "null" end
  if t == "number" then
    if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format("%d", v) end
    return string.format("%.9g", v)
  end
  if t ~= "table" then return json.encode(v) end
  local mt = getmetatable(v)
  if mt and mt.__jsontype == "array" or (not mt and #v > 0) then
    local o = {}
    for i = 1, #v do o[i] = canon(v[i]) end
    return "[" .. table.concat(o, ",") .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys)
  local o = {}
  for i, k in ipairs(keys) do o[i] = json.encode(k) .. ":" .. canon(v[k]) end
  return "{" .. table.concat(o, ",") .. "}"
end
Q.canon = canon

-- { [collection] = { cols = "vec 3 Cosine", rows = { sorted strings } } }
function Q:dump(prefix)
  local out = {}
  for _, n in ipairs(self:collections(prefix)) do
    local path = "/collections/" .. enc(prefix .. n)
    local code, v = self:call("GET", path)
    assert(code == 200, "qdrant: GET " .. path .. ": " .. tostring(code))
    local vecs = v.result.config.params.vectors or {}
    local cl = {}
    if vecs.size then
      cl[1] = "(unnamed) " .. vecs.size .. " " .. vecs.distance
    else
      for name, p in pairs(vecs) do cl[#cl + 1] = name .. " " .. tostring(p.size) .. " " .. tostring(p.distance) end
    end
    table.sort(cl)
    local rows, offset = {}, nil
    repeat
      code, v = self:call("POST", path .. "/points/scroll",
        { limit = 1000, offset = offset, with_payload = true, with_vector = true })
      assert(code == 200, "qdrant: scroll " .. path .. ": " .. tostring(code))
      for _, p in ipairs(v.result.points) do
        rows[#rows + 1] = "id=" .. tostring(p.id) .. "|payload=" .. canon(p.payload) .. "|vectors=" .. canon(p.vector)
      end
      offset = v.result.next_page_offset
    until offset == nil or offset == json.null
    table.sort(rows)
    out[n] = { cols = table.concat(cl, ", "), rows = rows }
  end
  return out
end

return Q
