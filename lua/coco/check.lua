-- What the DSL files share: where a mistake is (the user's line, not
-- coco's), how it is raised, and the checks of option tables and field
-- lists (init.lua, builder.lua, query.lua, custom.lua).
local type, pairs, ipairs, error, tostring = type, pairs, ipairs, error, tostring
local sort, concat = table.sort, table.concat

local check = {}

-- "flow.lua:12" of the first stack frame outside coco's own code.
local function where(level)
  level = (level or 1) + 1
  while true do
    local info = debug.getinfo(level, "Sl")
    if not info then return "?" end
    local src = info.source
    if src ~= "=[C]" and not src:match("^@coco/") then
      return info.short_src .. ":" .. (info.currentline or 0)
    end
    level = level + 1
  end
end

local function fail(fmt, ...)
  error(where(2) .. ": " .. string.format(fmt, ...), 0)
end

local function names_of(list)
  local t = {}
  for _, n in ipairs(list) do t[#t + 1] = n end
  sort(t)
  return concat(t, ", ")
end

-- An xpcall handler for user code: an error raised from a tail call
-- ("?: msg": no frame left to name) is put at `at`; an error without a
-- location gets a traceback.
local function xpcall_handler(at)
  return function(e)
    if type(e) == "string" then
      if e:sub(1, 3) == "?: " then return at .. ": " .. e:sub(4) end
      if e:match("^[^\n]*:%d+: ") then return e end
    end
    return debug.traceback(tostring(e), 2)
  end
end

-- The first key of t that known lacks, and known's keys sorted ("a, b"):
-- nil when there is none.
local function unknown_key(t, known)
  for k in pairs(t) do
    if known[k] == nil then
      local names = {}
      for n in pairs(known) do names[#names + 1] = n end
      sort(names)
      return tostring(k), concat(names, ", ")
    end
  end
end

-- Option tables reject unknown keys: "what: unknown option 'pth'; options: a, b"
local function check_keys(t, known, what)
  local k, names = unknown_key(t, known)
  if k then fail("%s: unknown option '%s'; options: %s", what, k, names) end
end

-- { {"id", "str"}, ... } or { id = "str", ... } (then in name order)
local function field_list(list, what)
  if type(list) ~= "table" then fail("%s must be a list of fields: { {\"name\", \"str\"}, ... }", what) end
  local out = {}
  if #list > 0 then
    for i, f in ipairs(list) do
      if type(f) ~= "table" or type(f[1]) ~= "string" or f[2] == nil then
        fail("%s: field %d must be { name, type }", what, i)
      end
      out[i] = { f[1], f[2] }
    end
  else
    local names = {}
    for k in pairs(list) do
      if type(k) ~= "string" then fail("%s: field names must be strings", what) end
      names[#names + 1] = k
    end
    sort(names)
    for i, k in ipairs(names) do out[i] = { k, list[k] } end
  end
  local seen = {}
  for _, f in ipairs(out) do
    if seen[f[1]] then fail("%s: field '%s' listed twice", what, f[1]) end
    seen[f[1]] = true
  end
  return out
end

check.where, check.fail, check.names_of, check.xpcall_handler = where, fail, names_of, xpcall_handler
check.unknown_key, check.check_keys, check.field_list = unknown_key, check_keys, field_list
return check
