-- JSON encoding, for json-kind options and --json output: canonical
-- (object keys sorted), so equal tables give equal text.
local type, pairs, ipairs, error, tostring = type, pairs, ipairs, error, tostring
local sort, concat = table.sort, table.concat

local json = {}
do
  local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
    ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
  local function str(s)
    return '"' .. s:gsub('[%c"\\]', function(c)
      return escapes[c] or string.format("\\u%04x", c:byte())
    end) .. '"'
  end
  function json.encode(v)
    local t = type(v)
    if t == "nil" then return "null"
    elseif t == "boolean" then return tostring(v)
    elseif t == "number" then
      if v ~= v or v == math.huge or v == -math.huge then return "null" end
      if v == math.floor(v) and math.abs(v) < 2^53 then return string.format("%d", v) end
      local s = string.format("%.14g", v)
      if tonumber(s) ~= v then s = string.format("%.17g", v) end
      return s
    elseif t == "string" then return str(v)
    elseif t == "table" then
      if #v > 0 or next(v) == nil then
        local out = {}
        for i = 1, #v do out[i] = json.encode(v[i]) end
        return "[" .. concat(out, ",") .. "]"
      end
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      sort(keys)
      local out = {}
      for i, k in ipairs(keys) do out[i] = str(k) .. ":" .. json.encode(v[k]) end
      return "{" .. concat(out, ",") .. "}"
    end
    error("cannot encode a " .. t .. " as JSON")
  end
end
return json
