-- Flows: coco.flow (runs the flow function once), coco.load (a flow file)
-- and the Flow API: plan, setup, update, live, evaluate, verify, drop, show,
-- info, query, serve, close.
local coco, priv, b = ...
local type, pairs, ipairs, error, setmetatable, getmetatable, tostring =
  type, pairs, ipairs, error, setmetatable, getmetatable, tostring
local sort, concat, core = table.sort, table.concat, priv.core
local where, xpcall_handler = priv.check.where, priv.check.xpcall_handler
local Builder, Root = b.Builder, b.Root

local Flow = {}
Flow.__index = Flow
Flow.__tostring = function(self) return "coco.flow(" .. self.name .. ")" end

local loading -- { path, base_dir, state_dir } while coco.load runs a flow file

local function dirname(p)
  return p:match("^(.*)/[^/]*$") or "."
end

-- coco.flow("Name", function(flow, scope) ... end)
function coco.flow(name, fn)
  local at = where(2)
  if at == "?" and type(fn) == "function" then
    -- `return coco.flow(...)` is a tail call: the flow file's frame is gone,
    -- so name the line where the flow function is defined instead
    local info = debug.getinfo(fn, "S")
    at = info.short_src .. ":" .. info.linedefined
  end
  if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
    error(string.format("%s: coco.flow: the name must be an identifier (letters, digits, _), got %s",
      at, type(name) == "string" and string.format("%q", name) or tostring(name)), 0)
  end
  if type(fn) ~= "function" then
    error(string.format("%s: coco.flow(%q): the second argument must be a function(flow, scope)", at, name), 0)
  end
  local base = loading and loading.base_dir or assert(core.realpath("."))
  local g = core.graph(name, base)
  local b = { g = g, stack = { 0 } }
  local fb = setmetatable({ _b = b }, Builder)
  local root = setmetatable({ _b = b }, Root)
  fn(fb, root)
  local ok, err = pcall(g.finish, g)
  if not ok then
    err = tostring(err)
    error(err:match("^[^\n]*:%d+: ") and err or (at .. ": " .. err), 0)
  end
  b.finished = true   -- query handlers may search exports from now on
  local state_root = (loading and loading.state_dir) or os.getenv("COCO_STATE_DIR") or (base .. "/.coco")
  return setmetatable({ name = name, _g = g, _b = b, path = loading and loading.path,
    base_dir = base, state_dir = state_root .. "/" .. name, cluster = loading and loading.cluster }, Flow)
end

-- coco.load("flow.lua", { state_dir = ".coco", cluster = URL }) -> flow | nil, message
-- (cluster: the state is in that PostgreSQL database, not in state_dir)
function coco.load(path, opts)
  if getmetatable(path) == Flow then return path end
  if type(path) ~= "string" then return nil, "coco.load: expected a file name" end
  opts = opts or {}
  local chunk, err = loadfile(path)
  if not chunk then return nil, err end
  local abs, aerr = core.realpath(path)
  if not abs then return nil, aerr end
  local prev = loading
  loading = { path = path, base_dir = dirname(abs), state_dir = opts.state_dir, cluster = opts.cluster }
  -- an error raised from a tail call (`return coco.flow(...)`) names the file
  local ok, res = xpcall(chunk, xpcall_handler(path))
  loading = prev
  if not ok then return nil, tostring(res) end
  if getmetatable(res) ~= Flow then
    return nil, path .. ": the file must return a flow (return coco.flow(\"Name\", function(flow, scope) ... end))"
  end
  return res
end

local function closed(self) return nil, "coco: flow " .. self.name .. " is closed" end

local function open_state(self, read_only)
  if not self._g then return closed(self) end
  if self.cluster then return self._g:open_state(self.cluster, read_only, true) end
  if not read_only then
    local root = self.state_dir:match("^(.*)/[^/]*$")
    if root then core.mkdir(root) end
  end
  return self._g:open_state(self.state_dir, read_only)
end

-- flow:cluster_open() -> true | nil, msg: the state in the cluster (--cluster
-- URL), open for writing, holding no partition yet (coco worker, update)
function Flow:cluster_open()
  if not self.cluster then return nil, "coco: flow " .. self.name .. " has no cluster URL" end
  return open_state(self, false)
end

-- flow:plan() -> text, destructive, nchanges | nil, msg (what setup would do)
function Flow:plan(opts)
  local ok, err = open_state(self, opts and opts.read_only)
  if not ok then
    if opts and opts.read_only and tostring(err):match("^no state") then
      return "  (not set up yet)\n", false, 1
    end
    return nil, err
  end
  return self._g:plan(opts and opts.drop)
end

-- flow:setup{ force = false } -> plan text ("" when nothing changed) | nil, msg
function Flow:setup(opts)
  opts = opts or {}
  local text, destructive, n = self:plan()
  if not text then return nil, destructive end
  if n == 0 then return "" end
  if destructive and not opts.force then
    return nil, "setup of flow " .. self.name .. " would drop data:\n" .. text
      .. "apply it with force = true (coco setup -f)", "confirm"
  end
  local ok, err = self._g:apply()
  if not ok then return nil, err end
  return text
end

-- flow:ready() -> true | nil, msg: whether the flow's functions can run (their
-- API keys are set). Update, live, evaluate and query check it before any
-- work; show, setup and drop do not need it.
function Flow:ready()
  if not self._g then return closed(self) end
  return self._g:ready()
end

-- the results of update, evaluate and verify name their flow
local function named(self, list, ...)
  for _, s in ipairs(list) do s.flow = self.name end
  return list, ...
end

-- update and live: the functions can run, then setup (unless it would drop
-- data without force) -> plan text | nil, msg, kind
local function ready_setup(self, opts)
  local ok, rerr = self:ready()
  if not ok then return nil, rerr end
  return self:setup{ force = opts.force }
end

-- flow:update{ reexport, full_reprocess, force, on_error, on_progress } -> stats | nil, msg
function Flow:update(opts)
  opts = opts or {}
  local plan, err, kind = ready_setup(self, opts)
  if not plan then return nil, err, kind end
  local stats, uerr = self._g:update(opts)
  if not stats then return nil, uerr end
  return named(self, stats, plan)
end

-- flow:live{ reexport, full_reprocess, force, on_batch, on_warning, on_error }
--   -> updater | nil, msg. The updater: fd(), timeout(), step(ms), wait(),
--   abort(), stats(), close(). The first step does the initial pass.
function Flow:live(opts)
  opts = opts or {}
  local plan, err, kind = ready_setup(self, opts)
  if not plan then return nil, err, kind end
  local o = { budget_ms = 5 }     -- step(0) does at most ~5 ms of work: hosts stay responsive
  for k, v in pairs(opts) do o[k] = v end
  return self._g:live(o)
end

-- "out/x.jsonl: no space left on device (writing evaluate's output)"
local function write_error(path, e)
  e = tostring(e)
  if e:find("No space left on device", 1, true) then
    return path .. ": no space left on device (writing evaluate's output)"
  end
  return path .. ": " .. e
end

-- flow:evaluate{ output_dir, use_cache = true, on_error } -> stats, output_dir | nil, msg
function Flow:evaluate(opts)
  opts = opts or {}
  local rok, rerr = self:ready()
  if not rok then return nil, rerr end
  local dir = opts.output_dir or ("eval_" .. self.name .. "_" .. os.date("%Y%m%d_%H%M%S"))
  if opts.use_cache ~= false then
    -- the cache is read if there is state; evaluate never writes it
    local ok = open_state(self, true)
    if not ok then self._g:close_state() end
  end
  local ok, merr = core.mkdir(dir)
  if not ok then return nil, merr end
  local files, sink_err = {}, nil
  local stats, err = self._g:evaluate(opts, function(export, lines)
    local f = files[export]
    if not f then
      -- export names are identifiers (checked by collector:export): the
      -- file stays inside dir
      assert(export:match("^[%a_][%w_]*$"), "export name")
      local ferr
      f, ferr = io.open(dir .. "/" .. export .. ".jsonl", "w")
      if not f then error(ferr, 0) end
      files[export] = f
    end
    local wok, werr = f:write(lines)
    if not wok then
      sink_err = write_error(dir .. "/" .. export .. ".jsonl", werr)
      error(sink_err, 0)                 -- stops the evaluation
    end
  end)
  local cerr
  for export, f in pairs(files) do
    local cok, e = f:close()             -- buffered lines are written now: a full disk shows here
    if not cok then cerr = cerr or write_error(dir .. "/" .. export .. ".jsonl", e) end
  end
  self._g:close_state()
  if not stats then return nil, sink_err or err end   -- (err has the sink's traceback)
  if cerr then return nil, cerr end
  return named(self, stats, dir)
end

-- flow:verify{ repair = false, on_diff, on_error } -> per-export results, errors
--   | nil, msg. Evaluates every source row (cached function results are
--   read, never written) and compares each export's rows with what its
--   target holds. on_diff(d): d.kind is "missing", "stale", "different"
--   (d.columns names them) or "collision" (d.other: the other source row);
--   d.export, d.key, d.source, d.source_key. repair writes the differences
--   to the targets; state is not changed.
function Flow:verify(opts)
  opts = opts or {}
  local rok, rerr = self:ready()
  if not rok then return nil, rerr end
  local ok = open_state(self, true)
  if not ok then self._g:close_state() end
  local res, nerr = self._g:verify(opts)
  self._g:close_state()
  if not res then return nil, nerr end
  return named(self, res, nerr)
end

-- flow:drop{ force } -> plan text | nil, msg: drops the targets and the state
function Flow:drop(opts)
  opts = opts or {}
  local ok, err = open_state(self, false)
  if not ok then return nil, err end
  local text, destructive, n = self._g:plan(true)
  if not text then return nil, destructive end
  if n > 0 then
    local aok, aerr = self._g:apply()
    if not aok then return nil, aerr end
  end
  local rok, rerr = self._g:remove_state(self.cluster or self.state_dir, self.cluster ~= nil)
  if not rok then return nil, rerr end
  return text
end

-- flow:show{ verbose } -> text
function Flow:show(opts)
  if not self._g then return closed(self) end
  local text = self._g:describe(opts and opts.verbose)
  local names = self:query_handlers()
  if #names > 0 then text = text .. "\n" end
  for _, name in ipairs(names) do
    text = text .. "Query handler " .. name .. ": " .. self._b.handler_where[name] .. "\n"
  end
  local plan, err = self:plan{ read_only = true }
  local counts = plan and self._g:state_counts()
  self._g:close_state()
  text = text .. "\nSetup: "
  if not plan then
    text = text .. "unknown (" .. tostring(err) .. ")\n"
  elseif plan == "" then
    text = text .. "up to date\n"
  else
    text = text .. "changes pending\n" .. plan
  end
  if counts then
    text = text .. string.format("State: %d source rows tracked, %d cached function results\n",
      counts.tracked, counts.cached)
  end
  return text
end

-- flow:info() -> { name, sources, exports, query_handlers = { { name, where } } }
function Flow:info()
  local info = self._g:info()
  info.query_handlers = {}
  for i, name in ipairs(self:query_handlers()) do
    info.query_handlers[i] = { name = name, where = self._b.handler_where[name] }
  end
  return info
end

-- flow:query_handlers() -> { "search", ... } (sorted)
function Flow:query_handlers()
  local names = {}
  for k in pairs(self._b and self._b.handlers or {}) do names[#names + 1] = k end
  sort(names)
  return names
end

-- flow:query(name, query, { k = 10, ... }) -> rows | nil, msg. name may be
-- nil when the flow has one handler. opts reach the handler, k defaulted.
function Flow:query(name, query, opts)
  local ready, rerr = self:ready()       -- the handler calls the flow's functions
  if not ready then return nil, rerr end
  local names = self:query_handlers()
  if name == nil then
    if #names == 1 then
      name = names[1]
    elseif #names == 0 then
      return nil, "flow " .. self.name .. " has no query handler (define one with flow:query_handler(name, function(query, opts) ... end))"
    else
      return nil, "flow " .. self.name .. " has several query handlers (" .. concat(names, ", ") .. "): name one"
    end
  end
  local handler = self._b.handlers and self._b.handlers[name]
  if not handler then
    return nil, "flow " .. self.name .. " has no query handler '" .. tostring(name) .. "'; handlers: "
      .. (#names > 0 and concat(names, ", ") or "(none)")
  end
  if opts ~= nil and type(opts) ~= "table" then return nil, "query: options must be a table" end
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.k = o.k or 10
  if type(o.k) ~= "number" or o.k < 1 or o.k % 1 ~= 0 then return nil, "query: k must be a positive integer" end
  -- `return flow:top_k(...)` is a tail call: the handler's frame is gone,
  -- so an error raised there names the line where the handler is defined
  local info = debug.getinfo(handler, "S")
  local ok, res = xpcall(handler, xpcall_handler(info.short_src .. ":" .. info.linedefined), query, o)
  if not ok then return nil, tostring(res) end
  if type(res) ~= "table" then
    return nil, "query handler '" .. name .. "' returned a " .. type(res) .. ", not a list of rows"
  end
  return res
end

-- coco.serve({ flow, ... }, { listen, token, cors, live, force }) -> server | nil, msg:
-- the HTTP API and web page of these flows (coco/server.lua); server:fd(),
-- timeout(), step(ms), wait(), address(), close() drive it from a host loop.
local server_mod
function coco.serve(flows, opts)
  if getmetatable(flows) == Flow then flows = { flows } end
  server_mod = server_mod or core.load_embedded("server.lua")(coco, core, priv.check)
  return server_mod.serve(flows, opts)
end

-- flow:serve{ listen = "127.0.0.1:49344", live = true, ... }: coco.serve for one flow
function Flow:serve(opts) return coco.serve({ self }, opts) end

function Flow:close()
  if self._g then self._g:close() end
  self._g = nil
end

return Flow
