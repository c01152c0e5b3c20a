-- Query handlers: they run at query time (flow:query, `coco query`), long
-- after the flow function: they may call the flow's functions on values
-- (coco.call, flow:call: the same function that embedded the chunks) and
-- search an export (flow:top_k).
local coco, priv, b = ...
local type, pairs, ipairs, getmetatable, tostring, select =
  type, pairs, ipairs, getmetatable, tostring, select
local core, sort = priv.core, table.sort
local where, fail, check_keys = priv.check.where, priv.check.fail, priv.check.check_keys
local Builder, flow_methods = b.Builder, b.flow_methods

-- flow:query_handler("search", function(query, opts) ... end)
function flow_methods.query_handler(self, name, fn)
  if getmetatable(self) ~= Builder then fail("use flow:query_handler(...) with a colon") end
  if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
    fail("query_handler: the name must be an identifier (letters, digits, _), got %s", tostring(name))
  end
  if type(fn) ~= "function" then
    fail("query_handler(%q): the second argument must be a function(query, opts)", name)
  end
  local b = self._b
  b.handlers = b.handlers or {}
  if b.handlers[name] then fail("query_handler(%q) is defined twice", name) end
  b.handlers[name] = fn
  b.handler_where = b.handler_where or {}
  b.handler_where[name] = where(2)
end

-- Arguments of a call: positional values, then optionally a table of named ones.
local function call_args(...)
  local n = select("#", ...)
  local pos, named = { ... }, nil
  local last = pos[n]
  if n > 0 and type(last) == "table" and #last == 0 and getmetatable(last) == nil then
    named, n = last, n - 1
  end
  local args = {}
  for i = 1, n do args[i] = { value = pos[i] } end
  if named then
    local keys = {}
    for k in pairs(named) do
      if type(k) ~= "string" then fail("call: named arguments have string keys") end
      keys[#keys + 1] = k
    end
    sort(keys)
    for _, k in ipairs(keys) do args[#args + 1] = { name = k, value = named[k] } end
  end
  return args
end

-- coco.call(fn_spec, a, b, { named }) -> the function's result on these values
function coco.call(spec, ...)
  b.check_fn_spec(spec, "call")
  local res, err = core.call(spec, call_args(...))
  if res == nil and err ~= nil then fail("%s", err) end
  return res
end

-- flow:call(fn_spec, a, b, { named }): coco.call, in a query handler
function flow_methods.call(self, spec, ...)
  if getmetatable(self) ~= Builder then fail("use flow:call(...) with a colon") end
  return coco.call(spec, ...)
end

local topk_opts = { metric = true }

-- flow:top_k(export, field, vector, k, { metric = }) -> rows, nearest first:
-- each has the export's fields (but the vector searched), distance, score
function flow_methods.top_k(self, export, field, vector, k, opts)
  if getmetatable(self) ~= Builder then fail("use flow:top_k(...) with a colon") end
  local b = self._b
  if not b.finished then fail("top_k searches an export at query time: call it in a query handler") end
  if type(export) ~= "string" then fail("top_k: the first argument is an export's name") end
  if type(field) ~= "string" then fail("top_k: the second argument is a vector field's name") end
  if type(vector) ~= "table" or #vector == 0 then
    fail("top_k: the third argument is the query vector (an array of numbers), got %s", type(vector))
  end
  k = k or 10
  if type(k) ~= "number" or k < 1 or k % 1 ~= 0 then fail("top_k: k must be a positive integer") end
  if opts ~= nil and type(opts) ~= "table" then fail("top_k: options must be a table") end
  opts = opts or {}
  check_keys(opts, topk_opts, "top_k")
  local metric = opts.metric
  if metric == nil then
    for _, ix in ipairs(b.vector_indexes and b.vector_indexes[export] or {}) do
      if ix.field == field then metric = ix.metric break end
    end
  end
  metric = metric or "cosine"
  if metric ~= "cosine" and metric ~= "l2" and metric ~= "ip" then
    fail("top_k: metric must be \"cosine\", \"l2\" or \"ip\", got %s", tostring(metric))
  end
  local rows, err = core.top_k(b.g, export, field, metric, vector, k)
  if not rows then fail("%s", err) end
  for _, r in ipairs(rows) do
    local d = r.distance
    r.score = metric == "cosine" and 1 - d or -d
  end
  return rows
end

