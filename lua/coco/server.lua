-- coco server: the HTTP API and web page of one or more flows, and their
-- live updaters, all on one loop (no thread per request).
--   local s = coco.serve({ flow, ... }, { listen =, token =, cors =, live = true })
--   s:fd() s:timeout() s:step(ms) s:wait() s:address() s:close()
-- flow:serve{...} is coco.serve({ flow }, {...}). The HTTP server (engine/
-- server.c) and the updaters are polled through one epoll fd, so a host's
-- loop drives everything like it drives flow:live().
local coco, core, check = ...
local json = coco.json
local concat, floor, min = table.concat, math.floor, math.min

local M = {}
local Server = {}
Server.__index = Server

local MAX_LIMIT, RING = 1000, 200
local STUCK_S = 600                -- a pass running longer than this: unhealthy

local function now() return core.now() end
local function wall() return os.time() end

local function jerr(status, msg)
  return status, json.encode({ error = msg }) .. "\n", "application/json"
end

local function ok(body, ctype) return 200, body, ctype or "application/json" end

-- '{"a":1}' + { b = 2 } -> '{"a":1,"b":2}'
local function merge(obj, extra)
  local e = json.encode(extra)
  if e == "[]" or e == "{}" then return obj end
  return obj:sub(1, -2) .. "," .. e:sub(2)
end

local function push_ring(ring, v)
  ring[#ring + 1] = v
  if #ring > RING then table.remove(ring, 1) end
end

-- ---- flows and their updaters ----------------------------------------------
local BUCKETS = { 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60 }

local function new_totals()
  local h = {}
  for i = 1, #BUCKETS + 1 do h[i] = 0 end
  return { listed = 0, added = 0, updated = 0, deleted = 0, unchanged = 0, reprocessed = 0,
    errors = 0, fn_calls = 0, cache_hits = 0, batches = 0, seconds = 0, hist = h, last_change = nil }
end

function Server:_entry(flow)
  local info = flow:info()
  local e = { flow = flow, name = flow.name, info = info, totals = {}, errors = {}, nerrors = 0,
    batches = {}, warnings = {}, sources = {} }
  for i, s in ipairs(info.sources) do
    e.totals[s.name] = new_totals()
    e.errors[s.name] = {}
    e.sources[s.name] = i
  end
  e.exports = {}
  for i, x in ipairs(info.exports) do e.exports[x.name] = i end
  return e
end

-- what every updater of an entry reports
function Server:_callbacks(e)
  local s = self
  return {
    on_batch = function(b)
      local t = e.totals[b.source]
      if not t then return end
      for _, k in ipairs({ "listed", "added", "updated", "deleted", "unchanged", "reprocessed",
          "errors", "fn_calls", "cache_hits" }) do
        t[k] = t[k] + (b[k] or 0)
      end
      local secs = (b.elapsed_ms or 0) / 1000
      t.batches, t.seconds = t.batches + 1, t.seconds + secs
      local bi = #BUCKETS + 1
      for i, le in ipairs(BUCKETS) do if secs <= le then bi = i break end end
      t.hist[bi] = t.hist[bi] + 1
      local changed = b.added + b.updated + b.deleted + b.reprocessed
      if changed > 0 then t.last_change = wall() end
      e.failing = nil
      local ev = { flow = e.name, source = b.source, at = wall(), added = b.added,
        updated = b.updated, deleted = b.deleted, unchanged = b.unchanged,
        reprocessed = b.reprocessed, errors = b.errors, elapsed_ms = b.elapsed_ms }
      push_ring(e.batches, ev)
      if e.pass then e.pass.seen[b.source] = true end
      s:_event("batch", ev)
    end,
    on_warning = function(msg)
      local ev = { flow = e.name, at = wall(), message = msg }
      push_ring(e.warnings, ev)
      if msg:find("retrying", 1, true) then e.failing = msg end
      if msg:lower():find("poll", 1, true) or msg:lower():find("degraded", 1, true) then
        e.degraded = msg
      end
      s:_event("warning", ev)
    end,
    on_error = function(source, key, msg)
      local list = e.errors[source]
      if not list then return end
      local gs = e.info.sources[e.sources[source]]
      local at = wall()
      local retry = gs and gs.refresh_interval and gs.refresh_interval > 0 and at + gs.refresh_interval or nil
      if not list[key] then e.nerrors = e.nerrors + 1 end
      list[key] = { key = key, message = msg, at = at, retry_at = retry }
      if e.nerrors > 1000 then       -- keep the newest
        local oldest, ok_, ov = nil, nil, nil
        for sn, l in pairs(e.errors) do
          for k, v in pairs(l) do
            if not ov or v.at < ov.at then oldest, ok_, ov = sn, k, v end
          end
        end
        if oldest then e.errors[oldest][ok_] = nil; e.nerrors = e.nerrors - 1 end
      end
      s:_event("error", { flow = e.name, source = source, key = key, message = msg, at = at,
        retry_at = retry })
    end,
  }
end

function Server:_event(name, t)
  if self.srv then self.srv:broadcast(name, json.encode(t)) end
end

-- Start the updater of entry e: the running one (-L) or a one-shot pass.
function Server:_start_updater(e, opts)
  local cb = self:_callbacks(e)
  opts = opts or {}
  local live, err = e.flow:live{ reexport = opts.reexport, full_reprocess = opts.full_reprocess,
    force = opts.force, on_batch = cb.on_batch, on_warning = cb.on_warning, on_error = cb.on_error }
  if not live then return nil, err end
  self.next_tag = self.next_tag + 1
  local tag = self.next_tag          -- 1 is the HTTP server
  self.tags[tag] = e
  self.poller:add(live:fd(), tag)
  return live, tag
end

-- ---- the loop ------------------------------------------------------------------
function Server:fd() return self.poller:fd() end

-- seconds until step() is due even if fd() stays quiet; nil: none
local PING_S = 15                  -- events clients hear something this often
local SIGNAL_TAG = 0x7fffffff

-- Stop at SIGINT or SIGTERM: step() then returns false (coco server
-- without -L; with -L the first updater catches them).
function Server:catch_signals()
  self.poller:add(core.signal_fd(), SIGNAL_TAG)
end

function Server:timeout()
  local t = self.srv:timeout()
  if self.srv:nstreams() > 0 then
    local pt = math.max(0, self.last_ping + PING_S - now())
    if not t or pt < t then t = pt end
  end
  for _, e in ipairs(self.entries) do
    local up = e.live or (e.pass and e.pass.live)
    if up then
      local ut = up:timeout()
      if ut and (not t or ut < t) then t = ut end
    end
  end
  return t
end

-- Wait up to ms (-1: until something happens) and do what is due.
-- Returns true, or false once an updater was aborted (Ctrl-C), or nil, msg.
function Server:step(ms)
  ms = ms or 0
  local t = self:timeout()
  if t then
    local tm = floor(t * 1000 + 0.999)
    if ms < 0 or tm < ms then ms = tm end
  end
  local ready = self.poller:wait(ms)
  if ready[SIGNAL_TAG] then return false end
  self.srv:run()
  local tags = {}                    -- (handlers may add updaters meanwhile)
  for tag, e in pairs(self.tags) do tags[tag] = e end
  for tag, e in pairs(tags) do
    local up = e.live or (e.pass and e.pass.live)
    if up and (ready[tag] or up:timeout() == 0) then
      local n, err = up:step(0)
      if n == false then
        if up == e.live then return false end
      elseif not n then
        e.fatal = err
        self:_event("warning", { flow = e.name, at = wall(), message = err })
        if e.pass then self:_end_pass(e, err) end
      end
    end
    if e.pass and e.pass.live and not e.pass.live:busy() then self:_end_pass(e) end
    if e.pass and e.live and not e.live:busy() then self:_end_pass(e) end
  end
  if self.srv:nstreams() > 0 and now() - self.last_ping >= PING_S then
    self.last_ping = now()
    self.srv:broadcast("ping", "{}")   -- a client that left is noticed (and its slot freed)
  end
  -- answers and events of this step resumed suspended connections: send
  -- them now (MHD's epoll fd does not always wake for a resume)
  self.srv:run()
  return true
end

function Server:wait()
  while true do
    local r, err = self:step(-1)
    if r == false then return true end
    if not r then return nil, err end
  end
end

function Server:address() return self.srv:address() end

function Server:close()
  for _, e in ipairs(self.entries) do
    if e.pass and e.pass.live then e.pass.live:close() end
    if e.live then e.live:close() end
    e.live, e.pass = nil, nil
  end
  if self.srv then self.srv:close() end
  if self.poller then self.poller:close() end
  self.srv, self.poller = nil, nil
end

-- ---- POST update ------------------------------------------------------------
function Server:_end_pass(e, err)
  local p = e.pass
  e.pass = nil
  if p.tag then
    self.poller:del(p.live:fd())
    self.tags[p.tag] = nil
    p.live:close()
  end
  local stats = {}
  for i, src in ipairs(e.info.sources) do
    local t, b = e.totals[src.name], p.before[src.name]
    stats[i] = { source = src.name, added = t.added - b.added, updated = t.updated - b.updated,
      deleted = t.deleted - b.deleted, unchanged = t.unchanged - b.unchanged,
      reprocessed = t.reprocessed - b.reprocessed, errors = t.errors - b.errors }
  end
  local body = err and json.encode({ error = err }) or json.encode({ flow = e.name, sources = stats,
    elapsed_ms = floor((now() - p.t0) * 1e6) / 1e3 })
  self:_event("update", { flow = e.name, at = wall(), done = true, error = err })
  for _, id in ipairs(p.waiting) do self.srv:respond(id, err and 500 or 200, body .. "\n", "application/json") end
end

function Server:_update(e, req)
  if e.pass then return jerr(409, "an update of flow " .. e.name .. " is running") end
  if e.live and e.live:busy() then return jerr(409, "the live updater's pass is running") end
  local body = req.body or ""
  if body:match("%S") and not body:match("^%s*{.*}%s*$") then
    return jerr(400, "the body must be a JSON object: {\"reexport\": bool, \"full_reprocess\": bool}")
  end
  local opts = {
    reexport = body:match('"reexport"%s*:%s*true') ~= nil,
    full_reprocess = body:match('"full_reprocess"%s*:%s*true') ~= nil,
  }
  local keys = {}
  for k in body:gmatch('"([^"]+)"%s*:') do keys[k] = true end
  local k, names = check.unknown_key(keys, opts)
  if k then return jerr(400, "unknown option '" .. k .. "'; options: " .. names) end
  local before = {}
  for n, t in pairs(e.totals) do
    before[n] = { added = t.added, updated = t.updated, deleted = t.deleted, unchanged = t.unchanged,
      reprocessed = t.reprocessed, errors = t.errors }
  end
  local p = { before = before, waiting = { req.id }, t0 = now(), seen = {} }
  if e.live then
    e.live:rescan(opts.reexport, opts.full_reprocess)
  else
    opts.force = self.force
    local live, tag = self:_start_updater(e, opts)
    if not live then
      local msg = tag
      return jerr(tostring(msg):find("drop data", 1, true) and 409 or 500, msg)
    end
    p.live, p.tag = live, tag
  end
  e.pass = p
  self:_event("update", { flow = e.name, at = wall(), started = true })
  return nil                        -- answered when the pass is over
end

-- ---- the API ----------------------------------------------------------------------
local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function limit_arg(v, default)
  if v == nil then return default end
  local n = tonumber(v)
  if not n or n < 1 or n % 1 ~= 0 then return nil end
  return min(n, MAX_LIMIT)
end

function Server:_open_state(e, need)
  local g = e.flow._g
  if not g then return nil, "flow " .. e.name .. " is closed" end
  local okk, err = g:open_state(e.flow.state_dir, true)
  if not okk and need then return nil, err end
  return true
end

local function flow_summary(e)
  local t = {}
  for name, x in pairs(e.totals) do t[name] = x end
  return { name = e.name, path = e.flow.path, live = e.live ~= nil, sources = e.info.sources,
    exports = e.info.exports, query_handlers = e.info.query_handlers }
end

function Server:_setup(e)
  local plan, err = e.flow:plan{ read_only = e.live == nil }
  if not plan then return { status = "unknown", error = tostring(err) } end
  if plan == "" then return { status = "up to date", plan = "" } end
  return { status = "changes pending", plan = plan }
end

function Server:_live_status(e)
  local sources = {}
  for i, src in ipairs(e.info.sources) do
    local t = e.totals[src.name]
    local errs = {}
    for _, v in pairs(e.errors[src.name]) do errs[#errs + 1] = v end
    table.sort(errs, function(a, b) return a.at > b.at end)
    sources[i] = { name = src.name, kind = src.kind, refresh_interval = src.refresh_interval,
      change_capture = e.live and (e.degraded and "degraded: polling" or
        (src.refresh_interval > 0 and "events + refresh" or "events")) or "none (not live)",
      totals = { listed = t.listed, added = t.added, updated = t.updated, deleted = t.deleted,
        unchanged = t.unchanged, reprocessed = t.reprocessed, errors = t.errors,
        fn_calls = t.fn_calls, cache_hits = t.cache_hits, batches = t.batches },
      last_change = t.last_change, lag_seconds = t.last_change and (wall() - t.last_change) or nil,
      errors = errs }
  end
  return { flow = e.name, live = e.live ~= nil, busy = (e.live and e.live:busy()) or e.pass ~= nil,
    fatal = e.fatal, failing = e.failing, degraded = e.degraded, sources = sources,
    batches = e.batches, warnings = e.warnings }
end

function Server:_health()
  local reasons = {}
  for _, e in ipairs(self.entries) do
    if e.fatal then reasons[#reasons + 1] = e.name .. ": updater stopped: " .. e.fatal end
    if e.degraded then reasons[#reasons + 1] = e.name .. ": " .. e.degraded end
    if e.failing then reasons[#reasons + 1] = e.name .. ": " .. e.failing end
    if e.live then
      if e.live:busy() then
        e.busy_since = e.busy_since or now()
        if now() - e.busy_since > STUCK_S then
          reasons[#reasons + 1] = string.format("%s: a pass has run for %d s", e.name, now() - e.busy_since)
        elseif not e.caught_up then
          reasons[#reasons + 1] = e.name .. ": the initial pass is running"
        end
      else
        e.busy_since, e.caught_up = nil, true
      end
    end
  end
  if #reasons > 0 then
    return 503, json.encode({ status = "unhealthy", reasons = reasons, version = coco._VERSION }) .. "\n"
  end
  return 200, json.encode({ status = "ok", version = coco._VERSION }) .. "\n"
end

local function prom_label(s) return (tostring(s):gsub('[\\"\n]', function(c) return c == "\n" and "\\n" or "\\" .. c end)) end

function Server:_metrics()
  local out = {}
  local function help(name, kind, text)
    out[#out + 1] = "# HELP " .. name .. " " .. text
    out[#out + 1] = "# TYPE " .. name .. " " .. kind
  end
  local counters = {
    { "added", "rows added to the targets' sources" }, { "updated", "source rows updated" },
    { "deleted", "source rows deleted" }, { "unchanged", "source rows seen unchanged" },
    { "reprocessed", "source rows processed again after a logic change" },
    { "errors", "source rows that failed" },
    { "fn_calls", "function calls made" }, { "cache_hits", "function results taken from the cache" },
  }
  -- f(entry, totals, labels) for each source of each flow
  local function per_source(f)
    for _, e in ipairs(self.entries) do
      for _, src in ipairs(e.info.sources) do
        f(e, e.totals[src.name], string.format('flow="%s",source="%s"', prom_label(e.name),
          prom_label(src.name)), src.name)
      end
    end
  end
  for _, c in ipairs(counters) do
    local name = "coco_source_rows_" .. c[1] .. "_total"
    if c[1] == "fn_calls" then name = "coco_function_calls_total" end
    if c[1] == "cache_hits" then name = "coco_function_cache_hits_total" end
    help(name, "counter", c[2])
    per_source(function(_, t, lbl)
      out[#out + 1] = string.format('%s{%s} %d', name, lbl, t[c[1]])
    end)
  end
  help("coco_source_batch_duration_seconds", "histogram", "time to process a batch (a pass or a slice of changes)")
  per_source(function(_, t, lbl)
    local cum = 0
    for i, le in ipairs(BUCKETS) do
      cum = cum + t.hist[i]
      out[#out + 1] = string.format('coco_source_batch_duration_seconds_bucket{%s,le="%g"} %d', lbl, le, cum)
    end
    cum = cum + t.hist[#BUCKETS + 1]
    out[#out + 1] = string.format('coco_source_batch_duration_seconds_bucket{%s,le="+Inf"} %d', lbl, cum)
    out[#out + 1] = string.format('coco_source_batch_duration_seconds_sum{%s} %.6f', lbl, t.seconds)
    out[#out + 1] = string.format('coco_source_batch_duration_seconds_count{%s} %d', lbl, t.batches)
  end)
  help("coco_source_last_change_age_seconds", "gauge", "seconds since a change of the source was last applied (lag)")
  per_source(function(_, t, lbl)
    if t.last_change then
      out[#out + 1] = string.format('coco_source_last_change_age_seconds{%s} %d', lbl, wall() - t.last_change)
    end
  end)
  help("coco_source_row_errors", "gauge", "source rows whose last processing failed (to be retried)")
  per_source(function(e, _, lbl, name)
    local n = 0
    for _ in pairs(e.errors[name]) do n = n + 1 end
    out[#out + 1] = string.format('coco_source_row_errors{%s} %d', lbl, n)
  end)
  help("coco_updater_up", "gauge", "1 while the flow's live updater runs")
  for _, e in ipairs(self.entries) do
    out[#out + 1] = string.format('coco_updater_up{flow="%s"} %d', prom_label(e.name),
      (e.live and not e.fatal) and 1 or 0)
  end
  help("coco_http_requests_total", "counter", "HTTP requests answered, by status class")
  for k, v in pairs(self.srv:counts()) do
    out[#out + 1] = string.format('coco_http_requests_total{code="%s"} %d', k, v)
  end
  help("coco_http_event_streams", "gauge", "clients of /api/events")
  out[#out + 1] = "coco_http_event_streams " .. self.srv:nstreams()
  return concat(out, "\n") .. "\n"
end

function Server:_flow_api(e, rest, req)
  local g = e.flow._g
  if rest == "" then
    if req.method ~= "GET" then return jerr(405, "use GET") end
    return ok(merge('{"graph":' .. core.inspect_graph(g) .. '}', {
      query_handlers = e.info.query_handlers, setup = self:_setup(e), status = self:_live_status(e),
      path = e.flow.path }))
  end
  if rest == "/update" then
    if req.method ~= "POST" then return jerr(405, "use POST") end
    return self:_update(e, req)
  end
  if req.method ~= "GET" then return jerr(405, "use GET") end
  if rest == "/live" then return ok(json.encode(self:_live_status(e))) end
  if rest == "/setup" then return ok(json.encode(self:_setup(e))) end
  local sname, tail = rest:match("^/sources/([^/]+)(.*)$")
  if sname then
    local si = e.sources[sname]
    if not si then
      return jerr(404, "flow " .. e.name .. " has no source '" .. sname .. "'; sources: "
        .. concat((function() local t = {} for _, s in ipairs(e.info.sources) do t[#t + 1] = s.name end return t end)(), ", "))
    end
    if tail == "/rows" then
      local limit = limit_arg(req.args.limit, 100)
      if not limit then return jerr(400, "limit must be a positive integer") end
      local okk, serr = self:_open_state(e, true)
      if not okk then return jerr(409, "no state yet (run an update): " .. tostring(serr)) end
      local body, err, status = core.inspect_rows(g, si, req.args.after, limit, req.args.q)
      if not body then return jerr(status or 500, err) end
      local errs = {}
      for _, v in pairs(e.errors[sname]) do errs[#errs + 1] = v end
      table.sort(errs, function(a, b) return a.key < b.key end)
      return ok(merge(body, { flow = e.name, source = sname, errors = errs }))
    end
    local key = tail:match("^/rows/(.+)$")
    if key then
      self:_open_state(e, false)
      local body, err, status = core.inspect_row(g, si, key)
      if not body then return jerr(status or 500, err) end
      local extra = { flow = e.name, last_error = e.errors[sname][key] }
      return ok(merge(body, extra))
    end
    return jerr(404, "no such resource: " .. req.path)
  end
  local xname, xtail = rest:match("^/exports/([^/]+)(.*)$")
  if xname then
    local xi = e.exports[xname]
    if not xi then return jerr(404, "flow " .. e.name .. " has no export '" .. xname .. "'") end
    if xtail ~= "/rows" then return jerr(404, "no such resource: " .. req.path) end
    local limit = limit_arg(req.args.limit, 100)
    if not limit then return jerr(400, "limit must be a positive integer") end
    local okk, serr = self:_open_state(e, true)
    if not okk then return jerr(409, "no state yet (run an update): " .. tostring(serr)) end
    local body, err, status = core.inspect_export(g, xi, req.args.after, limit)
    if not body then return jerr(status or 500, err) end
    return ok(merge(body, { flow = e.name, export = xname, columns = e.info.exports[xi].fields,
      nkeys = e.info.exports[xi].nkeys }))
  end
  local hname = rest:match("^/query/([^/]+)$")
  if hname then
    local known = false
    for _, h in ipairs(e.info.query_handlers) do if h.name == hname then known = true end end
    if not known then return jerr(404, "flow " .. e.name .. " has no query handler '" .. hname .. "'") end
    local k = limit_arg(req.args.k, 10)
    if not k then return jerr(400, "k must be a positive integer") end
    if not req.args.q or req.args.q == "" then return jerr(400, "q (the query text) is missing") end
    self:_open_state(e, false)
    local t0 = now()
    local rows, err = e.flow:query(hname, req.args.q, { k = k })
    if not rows then return jerr(500, err) end
    return ok(json.encode({ flow = e.name, handler = hname, query = req.args.q, rows = rows,
      elapsed_ms = floor((now() - t0) * 1e6) / 1e3 }))
  end
  return jerr(404, "no such resource: " .. req.path)
end

function Server:_handle(req)
  local path = req.path
  if path == "/healthz" then
    local status, body = self:_health()
    return status, body, "application/json"
  end
  if path == "/metrics" then return ok(self:_metrics(), "text/plain; version=0.0.4") end
  if path == "/api/events" then return "sse" end
  if path == "/api/flows" or path == "/api/flows/" then
    local list = {}
    for i, e in ipairs(self.entries) do list[i] = flow_summary(e) end
    return ok(json.encode({ flows = list, version = coco._VERSION }))
  end
  local fname, rest = path:match("^/api/flows/([^/]+)(.*)$")
  if fname then
    local e = self.by_name[fname]
    if not e then
      local names = {}
      for _, x in ipairs(self.entries) do names[#names + 1] = x.name end
      return jerr(404, "no flow '" .. fname .. "'; flows: " .. concat(names, ", "))
    end
    return self:_flow_api(e, rest, req)
  end
  return jerr(404, "no such resource: " .. path)
end

-- ---- start -----------------------------------------------------------------------
local serve_opts = { listen = 1, token = 1, cors = 1, live = 1, force = 1, max_body = 1, max_conns = 1 }

-- coco.serve(flows, { listen, token, cors, live, force, max_body }) -> server | nil, msg
function M.serve(flows, opts)
  opts = opts or {}
  local k, names = check.unknown_key(opts, serve_opts)
  if k then return nil, "serve: unknown option '" .. k .. "'; options: " .. names end
  local s = setmetatable({ entries = {}, by_name = {}, tags = {}, next_tag = 1 }, Server)
  for _, f in ipairs(flows) do
    if s.by_name[f.name] then return nil, "serve: two flows are named " .. f.name end
    local e = s:_entry(f)
    s.entries[#s.entries + 1] = e
    s.by_name[f.name] = e
  end
  local poller, perr = core.poller()
  if not poller then return nil, perr end
  s.poller = poller
  local srv, err = core.server{ listen = opts.listen, token = opts.token, cors = opts.cors,
    max_body = opts.max_body, max_conns = opts.max_conns,
    handler = function(req)
      local okk, a, b, c, d = pcall(s._handle, s, req)
      if not okk then return jerr(500, tostring(a)) end
      return a, b, c, d
    end,
    on_gone = function(id)
      for _, e in ipairs(s.entries) do
        if e.pass then
          for i, w in ipairs(e.pass.waiting) do
            if w == id then table.remove(e.pass.waiting, i) break end
          end
        end
      end
    end }
  if not srv then poller:close(); return nil, err end
  s.srv = srv
  s.force = opts.force
  s.last_ping = now()
  poller:add(srv:fd(), 1)
  if opts.live then
    for _, e in ipairs(s.entries) do
      local live, lerr = s:_start_updater(e, { force = opts.force })
      if not live then s:close(); return nil, lerr end
      e.live = live
    end
  end
  return s
end

return M
