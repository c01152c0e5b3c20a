-- What the DSL files share: where a mistake is (the user's line, not
-- coco's), and how it is raised.
local type, ipairs, error = type, ipairs, error
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

check.where, check.fail, check.names_of = where, fail, names_of
return check
