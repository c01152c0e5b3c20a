-- The flow builder: what flow, scope, row, slice and collector do while the
-- flow function runs (each call records an op in the C graph), and the
-- export options (vector_indexes).
local coco, priv = ...
local type, pairs, ipairs, setmetatable, getmetatable, rawget, tostring, select =
  type, pairs, ipairs, setmetatable, getmetatable, rawget, tostring, select
local sort = table.sort
local core, Spec, FnSpec, json = priv.core, priv.Spec, priv.FnSpec, priv.json
local where, fail, check_keys = priv.check.where, priv.check.fail, priv.check.check_keys

local Slice, Row, Root, Collector, Builder = {}, {}, {}, {}, {}

local slice_methods = {}

local function new_slice(b, ref, kind)
  return setmetatable({ _b = b, _ref = ref, _kind = kind }, Slice)
end

local function is_slice(v) return getmetatable(v) == Slice end

Slice.__index = function(self, k)
  local m = slice_methods[k]
  if m then return m end
  local b = rawget(self, "_b")
  local ref, kind = b.g:subfield(rawget(self, "_ref"), k, where(2))
  return new_slice(b, ref, kind)
end
Slice.__newindex = function() fail("cannot assign into a field value; assign to the row instead (row.x = ...)") end
Slice.__tostring = function(self)
  local _, t, name = self._b.g:ref_info(self._ref)
  return "coco.slice(" .. name .. ": " .. t .. ")"
end

local function current_scope(b) return b.stack[#b.stack] end

local function to_arg(b, v, name, what)
  if is_slice(v) then return { name = name, ref = v._ref } end
  if v == coco.generated.uuid then return { name = name, uuid = true } end
  local t = type(v)
  if t == "nil" or t == "boolean" or t == "number" or t == "string" then
    return { name = name, const = v }
  end
  if getmetatable(v) == Row then
    fail("%s: a row is not a value; pass one of its fields (row.name)", what)
  end
  fail("%s: argument %s is a %s; pass a field or a constant (string, number, boolean)",
    what, name and ("'" .. name .. "'") or "", t)
end

-- transform and call take coco.functions.X{...} or coco.fn(...)
local function check_fn_spec(spec, op)
  local mt = getmetatable(spec)
  if mt ~= Spec and mt ~= FnSpec then
    fail("%s needs a function spec (coco.functions.X{...} or coco.fn(...)), got %s", op, type(spec))
  end
  if mt == Spec and spec.category ~= "function" then
    fail("%s needs a function, but %s is a %s", op, spec.name, spec.category)
  end
end

local function do_transform(b, spec, positional, named)
  local what = type(spec) == "table" and spec.name or "transform"
  check_fn_spec(spec, "transform")
  local args = {}
  for i, v in ipairs(positional) do args[i] = to_arg(b, v, nil, what) end
  if named then
    local keys = {}
    for k in pairs(named) do
      if type(k) == "string" then keys[#keys + 1] = k end
    end
    sort(keys)
    for _, k in ipairs(keys) do args[#args + 1] = to_arg(b, named[k], k, what) end
  end
  local ref, kind = b.g:transform(current_scope(b), spec, args, where(2))  -- where() skips coco frames; callers tail-call us
  return new_slice(b, ref, kind)
end

-- slice:transform(fn_spec, { named args })
function slice_methods.transform(self, spec, named)
  if not is_slice(self) then fail("use slice:transform(...) with a colon") end
  if named ~= nil and type(named) ~= "table" then fail("transform: arguments must be a table") end
  local pos = { self }
  if named then for i, v in ipairs(named) do pos[i + 1] = v end end
  return do_transform(self._b, spec, pos, named)
end

local function run_row(b, scope, fn)
  b.stack[#b.stack + 1] = scope
  local row = setmetatable({ _b = b, _scope = scope }, Row)
  fn(row)
  b.stack[#b.stack] = nil
end

-- slice:row(function(row) ... end)
function slice_methods.row(self, fn)
  if not is_slice(self) then fail("use slice:row(...) with a colon") end
  if type(fn) ~= "function" then fail("row() needs a function(row) ... end") end
  local b = self._b
  local child = b.g:foreach(current_scope(b), self._ref, where(2))
  run_row(b, child, fn)
end

Row.__index = function(self, k)
  if k == "add_collector" then
    fail("collectors belong to the flow's top scope: call scope:add_collector() outside row functions")
  end
  local b = rawget(self, "_b")
  local ref, kind = b.g:field(rawget(self, "_scope"), k, where(2))
  return new_slice(b, ref, kind)
end
Row.__newindex = function(self, k, v)
  if not is_slice(v) then
    fail("row.%s = ...: assign a computed value (e.g. field:transform(...)), got %s", tostring(k), type(v))
  end
  local b = rawget(self, "_b")
  b.g:name_field(rawget(self, "_scope"), v._ref, k, where(2))
end

Root.__index = function(self, k)
  if k == "add_collector" then
    return function(s)
      if getmetatable(s) ~= Root then fail("use scope:add_collector() with a colon") end
      local b = rawget(s, "_b")
      local id = b.g:add_collector(where(2))
      return setmetatable({ _b = b, _id = id }, Collector)
    end
  end
  local b = rawget(self, "_b")
  local ref, kind = b.g:field(0, k, where(2))
  return new_slice(b, ref, kind)
end
Root.__newindex = function(self, k, v)
  if not is_slice(v) then fail("scope.%s = ...: assign a source (flow:add_source(...))", tostring(k)) end
  rawget(self, "_b").g:name_field(0, v._ref, k, where(2))
end

local export_opts = { primary_key_fields = true, vector_indexes = true }

-- export opts.vector_indexes: checked here, kept for top_k's metric, and
-- handed to targets that build indexes (a vector_indexes option).
local function vector_indexes(b, export, target, list)
  if type(list) ~= "table" then
    fail("export '%s': vector_indexes must be a list: {{ field = ..., metric = \"cosine\" }}", export)
  end
  local known = { field = "string", metric = "string", method = "string", m = "number",
    ef_construction = "number", lists = "number" }
  local metrics, methods = { cosine = true, l2 = true, ip = true }, { hnsw = true, ivfflat = true }
  for i, ix in ipairs(list) do
    if type(ix) ~= "table" then fail("export '%s': vector_indexes[%d] must be a table", export, i) end
    check_keys(ix, known, string.format("export '%s': vector_indexes[%d]", export, i))
    for k, v in pairs(ix) do
      if type(v) ~= known[k] then fail("export '%s': vector_indexes[%d].%s must be a %s", export, i, k, known[k]) end
    end
    if not ix.field then fail("export '%s': vector_indexes[%d] needs a field", export, i) end
    if not metrics[ix.metric] then
      fail("export '%s': vector_indexes[%d].metric must be \"cosine\", \"l2\" or \"ip\", got %s", export, i, tostring(ix.metric))
    end
    if ix.method ~= nil and not methods[ix.method] then
      fail("export '%s': vector_indexes[%d].method must be \"hnsw\" or \"ivfflat\", got %s", export, i, ix.method)
    end
  end
  b.vector_indexes = b.vector_indexes or {}
  b.vector_indexes[export] = list
  for _, d in ipairs(core.optdefs("target", target.name) or {}) do
    if d.name == "vector_indexes" then
      if target.opts.vector_indexes ~= nil then
        fail("export '%s': vector_indexes given both to the export and to the target", export)
      end
      local o, copy = {}, {}
      for k, v in pairs(target.opts) do o[k] = v end
      o.vector_indexes = json.encode(list)
      for k, v in pairs(target) do copy[k] = v end
      copy.opts = o
      return setmetatable(copy, getmetatable(target))
    end
  end
  return target   -- no index to build (SQLite searches by exact scan)
end

Collector.__index = {
  collect = function(self, fields)
    if getmetatable(self) ~= Collector then fail("use collector:collect{...} with a colon") end
    if type(fields) ~= "table" then fail("collect needs a table of fields") end
    local b = self._b
    local names, args = {}, {}
    for k in pairs(fields) do
      if type(k) ~= "string" then fail("collect: fields are named (collect{ name = value })") end
      names[#names + 1] = k
    end
    sort(names)
    for i, k in ipairs(names) do args[i] = to_arg(b, fields[k], k, "collect") end
    b.g:collect(current_scope(b), self._id, names, args, where(2))
  end,
  export = function(self, name, target, opts)
    if getmetatable(self) ~= Collector then fail("use collector:export(...) with a colon") end
    if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
      fail("export: the name must be an identifier (letters, digits, _), got %s", tostring(name))
    end
    if getmetatable(target) ~= Spec or target.category ~= "target" then
      fail("export '%s': the second argument must be a target (coco.targets.X{...})", name)
    end
    opts = opts or {}
    if type(opts) ~= "table" then fail("export '%s': options must be a table", name) end
    check_keys(opts, export_opts, "export '" .. name .. "'")
    local pk = opts.primary_key_fields
    if type(pk) == "string" then pk = { pk } end
    if pk ~= nil and type(pk) ~= "table" then
      fail("export '%s': primary_key_fields must be a list of field names", name)
    end
    if opts.vector_indexes ~= nil then
      target = vector_indexes(self._b, name, target, opts.vector_indexes)
    end
    self._b.g:export(self._id, name, target, pk, where(2))
  end,
}

local flow_methods = {}
Builder.__index = flow_methods

-- flow:add_source(spec, { refresh_interval, max_inflight_rows, max_inflight_bytes })
function flow_methods.add_source(self, spec, opts)
  if getmetatable(self) ~= Builder then fail("use flow:add_source(...) with a colon") end
  if getmetatable(spec) ~= Spec or spec.category ~= "source" then
    fail("add_source needs a source (coco.sources.X{...})")
  end
  if opts ~= nil and type(opts) ~= "table" then fail("add_source: options must be a table") end
  -- { low, high, what }: a number in [low, high] (no NaN, no infinity);
  -- counts are whole numbers
  local known = { refresh_interval = { 0.1, 31536000, "seconds" },
    max_inflight_rows = { 1, 2^31, "rows" }, max_inflight_bytes = { 1, 2^53, "bytes" } }
  opts = opts or {}
  check_keys(opts, known, "add_source")
  for k, v in pairs(opts) do
    local r = known[k]
    if type(v) ~= "number" then fail("add_source: %s must be a number of %s, got %s", k, r[3], type(v)) end
    if not (v >= r[1] and v <= r[2]) or (r[3] ~= "seconds" and v ~= math.floor(v)) then
      fail("add_source: %s must be a %s from %s to %.0f %s, got %s", k,
        r[3] == "seconds" and "number" or "whole number", tostring(r[1]), r[2], r[3], tostring(v))
    end
  end
  local b = self._b
  local ref, kind = b.g:add_source(spec, opts, where(2))
  return new_slice(b, ref, kind)
end

-- flow:transform(fn_spec, a, b, { named })
function flow_methods.transform(self, spec, ...)
  if getmetatable(self) ~= Builder then fail("use flow:transform(...) with a colon") end
  local pos, named = { ... }, nil
  local n = select("#", ...)
  local last = pos[n]
  if n > 0 and type(last) == "table" and not is_slice(last) and last ~= coco.generated.uuid then
    named = last
    pos[n] = nil
  end
  return do_transform(self._b, spec, pos, named)
end

return { Builder = Builder, Root = Root, flow_methods = flow_methods, is_slice = is_slice,
  check_fn_spec = check_fn_spec }
