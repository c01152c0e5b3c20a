-- Sources and targets written in Lua (coco.source{...}, coco.target{...}),
-- and helpers that drive a live updater from a host's loop (libuv in luv
-- and Neovim, ngx.timer in nginx). The engine sees the definitions as one
-- more coco_source_ops / coco_target_ops (lua/l_source.c, lua/l_target.c).
local coco, core, priv = ...
local Spec, json = priv.Spec, priv.json
local where, fail, check_keys, field_list = priv.check.where, priv.check.fail, priv.check.check_keys,
  priv.check.field_list

local type, pairs, ipairs, error, setmetatable, tostring, pcall =
  type, pairs, ipairs, error, setmetatable, tostring, pcall
local sort, format = table.sort, string.format

-- The constructor a definition returns: MySource{ options } -> a spec.
local function constructor(def, category, name)
  local function make(_, opts)
    if opts ~= nil and type(opts) ~= "table" then
      error(where(1) .. ": " .. name .. ": options must be a table, got " .. type(opts), 0)
    end
    opts = opts or {}
    local ok, text = pcall(json.encode, opts)
    if not ok then
      error(where(1) .. ": " .. name .. ": options must be plain data (strings, numbers, booleans, "
        .. "tables of them): " .. tostring(text), 0)
    end
    local at = where(1)
    return setmetatable({ category = category, name = name, opts = { options = text },
      _spec = core.custom_spec(def, opts, text, at), where = at }, Spec)
  end
  return setmetatable({}, {
    __call = make,
    __index = { name = name, category = category, _def = def },
    __tostring = function() return "coco." .. category .. "(" .. name .. ")" end,
  })
end

local function check_name(name, what)
  if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
    fail("%s: name must be an identifier (letters, digits, _), got %s", what, tostring(name))
  end
end

-- coco.source{ name =, key = { {"id", "str"} }, value = { {"body", "str"} },
--   list = function(opts, ctx) coroutine.yield(key, ordinal) ... end,
--   get = function(key, opts, ctx) return { body = ... }, ordinal end }
-- ctx.base_dir: the flow file's directory.
function coco.source(def)
  if type(def) ~= "table" then fail("coco.source needs a table: coco.source{ name =, key =, value =, list =, get = }") end
  check_keys(def, { name = true, key = true, value = true, list = true, get = true }, "coco.source")
  check_name(def.name, "coco.source")
  local what = "coco.source(" .. def.name .. ")"
  local key = field_list(def.key, what .. ": key")
  if #key == 0 then fail("%s: key needs at least one field", what) end
  local value = field_list(def.value or {}, what .. ": value")
  for _, f in ipairs(value) do
    for _, k in ipairs(key) do
      if k[1] == f[1] then fail("%s: field '%s' is both a key and a value field", what, f[1]) end
    end
  end
  if type(def.list) ~= "function" then fail("%s: list must be a function(opts, ctx)", what) end
  if type(def.get) ~= "function" then fail("%s: get must be a function(key, opts, ctx)", what) end
  local at = where(1)
  local ok, d = pcall(core.source_def, def.name, key, value, def.list, def.get, at)
  if not ok then fail("%s: %s", what, tostring(d)) end
  return constructor(d, "source", def.name)
end

-- coco.target{ name =, setup = function(previous, desired) ... end,
--   mutate = function(upserts, deletes, ctx) ... end }
function coco.target(def)
  if type(def) ~= "table" then fail("coco.target needs a table: coco.target{ name =, setup =, mutate = }") end
  check_keys(def, { name = true, setup = true, mutate = true }, "coco.target")
  check_name(def.name, "coco.target")
  local what = "coco.target(" .. def.name .. ")"
  if type(def.setup) ~= "function" then fail("%s: setup must be a function(previous, desired)", what) end
  if type(def.mutate) ~= "function" then fail("%s: mutate must be a function(upserts, deletes, ctx)", what) end
  return constructor(core.target_def(def.name, def.setup, def.mutate, where(1)), "target", def.name)
end

-- ---- host loops ----------------------------------------------------------------

-- coco.uv_attach(live, uv, { on_step = fn(n), on_error = fn(msg), on_stop = fn() })
--   -> handle with :stop(). Drives the updater from a libuv loop (luv's
-- `require "luv"`, Neovim's vim.loop): a poll on live:fd(), a timer set
-- from live:timeout() after each step(0), and an idle handle while work
-- remains (timeout 0), so that each loop iteration does one slice and the
-- loop's other handles run in between (a 0 ms timer would not let them:
-- libuv 1.44 runs a timer re-armed at 0 again in the same pass). In Neovim
-- the callbacks run in a fast event: touch the editor only through
-- vim.schedule. stop() closes the uv handles, not the updater.
function coco.uv_attach(live, uv, opts)
  opts = opts or {}
  local poll, timer, idle = uv.new_poll(live:fd()), uv.new_timer(), uv.new_idle()
  local h, stopped, idling = {}, false, false
  local tick
  local function idle_cb() tick() end
  function tick()
    if stopped then return end
    local n, err = live:step(0)
    if n == false then
      h:stop()
      if opts.on_stop then opts.on_stop() end
      return
    end
    if not n then
      if opts.on_error then opts.on_error(err) end
    elseif n > 0 and opts.on_step then
      opts.on_step(n)
    end
    if stopped then return end
    timer:stop()
    local t = live:timeout()
    if t == 0 then
      if not idling then idle:start(idle_cb) idling = true end
      return
    end
    if idling then idle:stop() idling = false end
    if t then timer:start(math.ceil(t * 1000), 0, tick) end
  end
  function h.stop()
    if stopped then return end
    stopped = true
    poll:stop()
    poll:close()
    timer:stop()
    timer:close()
    idle:stop()
    idle:close()
  end
  poll:start("r", function() tick() end)
  idle:start(idle_cb)
  idling = true
  return h
end

-- coco.ngx_attach(live, { interval = 0.01, slices = 1, on_error = fn(msg) })
-- drives the updater from an ngx.timer.every in this nginx worker (nginx
-- has no fd watch for Lua): each tick does up to `slices` step(0)s while
-- work is due. Call it in init_worker_by_lua, in one worker.
function coco.ngx_attach(live, opts)
  opts = opts or {}
  local ngx = opts.ngx or _G.ngx
  local slices = opts.slices or 1
  return ngx.timer.every(opts.interval or 0.01, function(premature)
    if premature then live:close() return end
    for _ = 1, slices do
      local n, err = live:step(0)
      if n == false then return end
      if not n and opts.on_error then opts.on_error(err) end
      if live:timeout() ~= 0 then break end
    end
  end)
end

return coco
