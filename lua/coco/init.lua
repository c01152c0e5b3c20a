-- The coco module: the FlowBuilder DSL and the library API, assembled here
-- from check.lua, json.lua, builder.lua, query.lua, flow.lua and custom.lua
-- (see README.md); this file holds the namespaces (coco.sources, functions,
-- targets), the types and coco.fn. The flow function runs once,
-- symbolically: every DSL call records an op in the C graph (which infers
-- types and validates at once), so mistakes are reported at the user's line
-- before any data is touched.
local core = ...

local coco = { _VERSION = "coco 0.1.0" }

local type, pairs, ipairs, error, setmetatable, rawget, tostring =
  type, pairs, ipairs, error, setmetatable, rawget, tostring
local sort, concat = table.sort, table.concat

local check = core.load_embedded("check.lua")()
local where, fail, names_of, check_keys, field_list = check.where, check.fail, check.names_of,
  check.check_keys, check.field_list

local json = core.load_embedded("json.lua")()
coco.json = json

-- ---- specs: sources.X{...}, functions.X{...}, targets.X{...} ----------------
local Spec = {}
Spec.__index = Spec

local function make_spec(category, name, opts, lvl)
  if opts ~= nil and type(opts) ~= "table" then
    error(where(lvl) .. ": " .. name .. ": options must be a table, got " .. type(opts), 0)
  end
  opts = opts or {}
  local defs = core.optdefs(category, name)
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  for _, d in ipairs(defs) do
    if d.kind == "json" and o[d.name] ~= nil and type(o[d.name]) ~= "string" then
      o[d.name] = json.encode(o[d.name])
    end
  end
  local msg = core.check_opts(category, name, o)
  if msg then error(where(lvl) .. ": " .. msg, 0) end
  return setmetatable({ category = category, name = name, opts = o, where = where(lvl) }, Spec)
end

local function namespace(category, plural)
  local known = core.names(category)
  local ns = {}
  for _, name in ipairs(known) do
    -- level 2: where() skips coco's own frames, and this wrapper is a tail
    -- call (no frame of its own), so a higher level would overshoot the user
    ns[name] = function(opts) return make_spec(category, name, opts, 2) end
  end
  return setmetatable(ns, { __index = function(_, k)
    error(where(2) .. ": unknown " .. category .. " '" .. tostring(k) .. "'; " .. plural
      .. ": " .. names_of(known), 0)
  end })
end

coco.sources = namespace("source", "sources")
coco.functions = namespace("function", "functions")
coco.targets = namespace("target", "targets")

-- ---- types ----------------------------------------------------------------
local types = {}
coco.types = types
function types.vector(elem, dim)
  if elem ~= "float32" then fail("coco.types.vector: only float32 elements are supported") end
  if dim ~= nil and (type(dim) ~= "number" or not (dim >= 1 and dim <= 65536) or dim % 1 ~= 0) then
    fail("coco.types.vector: dimension must be a whole number from 1 to 65536, got %s", tostring(dim))
  end
  return { kind = "vector", elem = elem, dim = dim or 0 }
end
function types.struct(fields) return { kind = "struct", fields = field_list(fields, "coco.types.struct") } end
function types.table(fields, opts)
  local list = field_list(fields, "coco.types.table")
  local keys = opts and opts.keys or 0
  if type(keys) ~= "number" or not (keys >= 0 and keys <= #list) or keys % 1 ~= 0 then
    fail("coco.types.table: keys must be a whole number from 0 to %d (the number of fields), got %s",
      #list, tostring(keys))
  end
  return { kind = "table", fields = list, keys = keys }
end

coco.generated = { uuid = setmetatable({}, { __tostring = function() return "coco.generated.uuid" end }) }

-- ---- custom functions --------------------------------------------------------
local FnSpec = {}
FnSpec.__index = FnSpec
local fn_opts = { returns = true, cache = true, version = true }

-- coco.fn("Name", { returns = "str", cache = true, version = 1 }, function(text) ... end)
function coco.fn(name, opts, fn)
  if type(opts) == "function" and fn == nil then opts, fn = {}, opts end
  if type(name) ~= "string" or name == "" then fail("coco.fn: the first argument is the function's name") end
  if type(fn) ~= "function" then fail("coco.fn(%q): the last argument must be a function", name) end
  opts = opts or {}
  if type(opts) ~= "table" then fail("coco.fn(%q): options must be a table", name) end
  check_keys(opts, fn_opts, string.format("coco.fn(%q)", name))
  if opts.cache and opts.version == nil then
    fail("coco.fn(%q): cache = true needs a version (bump it when the function's logic changes)", name)
  end
  if opts.version ~= nil and type(opts.version) ~= "number" and type(opts.version) ~= "string" then
    fail("coco.fn(%q): version must be a number or a string", name)
  end
  return setmetatable({ category = "fn", name = name, fn = fn, returns = opts.returns,
    cache = opts.cache and true or false,
    version = opts.version ~= nil and tostring(opts.version) or nil, where = where(2) }, FnSpec)
end

local priv = { core = core, check = check, json = json, Spec = Spec, FnSpec = FnSpec }
local builder = core.load_embedded("builder.lua")(coco, priv)
core.load_embedded("query.lua")(coco, priv, builder)
core.load_embedded("flow.lua")(coco, priv, builder)

-- sources and targets written in Lua, host loop helpers
core.load_embedded("custom.lua")(coco, core, priv)

coco._cli = function(args)
  local cli = core.load_embedded("cli.lua")(coco, core)
  return cli.main(args)
end

return coco
