-- The coco command line. See `coco --help`.
local coco, core = ...

local M = {}

local USAGE = [[
usage: coco FLOW.lua [-L]                      update the flow's targets (= coco update)
       coco update FLOW.lua[:Name] [-L] [--reexport] [--full-reprocess] [-f] [-q] [--json]
       coco setup  FLOW.lua [-f]               create or change the targets' tables
       coco drop   FLOW.lua [-f]               drop the targets and the flow's state
       coco evaluate FLOW.lua [-o DIR] [--no-cache]
                                               run the flow, write rows to DIR, touch nothing
       coco verify FLOW.lua [--repair] [--json] compare every target with a fresh build
       coco show   FLOW.lua [-v]               the compiled graph, schemas, setup status
       coco ls     [FLOW.lua]                  flows with state
       coco worker FLOW.lua --cluster URL [-q]  pass over a share of the flow's partitions
                                               until SIGTERM or SIGINT (cluster mode)
       coco cluster status FLOW.lua --cluster URL
                                               workers, and who holds the flow's partitions
       coco query  FLOW.lua[:handler] TEXT [-k 10] [--json]
                                               run a query handler of the flow
       coco server FLOW.lua... [-L] [--listen 127.0.0.1:49344] [--token-env VAR] [--cors ORIGIN]
                                               HTTP API and web page of the flows
options:
  -f, --force          apply setup changes that drop data without asking
  -q, --quiet          no progress line, no stats
      --json           one JSON object per source when done
      --state DIR      state directory (default: .coco beside FLOW.lua, or $COCO_STATE_DIR)
      --cluster URL    keep the state in this PostgreSQL database (default $COCO_CLUSTER_URL):
                       setup, update, worker, drop, show, verify, evaluate. setup records
                       the flow there (a worker or update of another flow refuses to start);
                       update passes the partitions no live process holds, then exits;
                       a worker claims its fair share (256 / live workers), passes over it
                       every refresh_interval (the sources' least, else 10 s) and takes
                       over the partitions of workers gone past their lease
  -o, --output-dir DIR evaluate's output directory (default eval_<flow>_<timestamp>)
  -k N                 query: how many rows (default 10); with --json, one object per row
      --listen ADDR    server: address and port (default 127.0.0.1:49344; another needs a token)
      --token-env VAR  server: the environment variable holding the token every request must carry
      --cors ORIGIN    server: a web origin allowed to call the API
      --repair         verify: write the differences to the targets
]]

local stderr, stdout = io.stderr, io.stdout

local function errf(fmt, ...)
  stderr:write("coco: ", string.format(fmt, ...), "\n")
end

local flags_with_value = { ["--state"] = "state", ["--cluster"] = "cluster", ["-o"] = "output_dir",
  ["--output-dir"] = "output_dir", ["-k"] = "k", ["--listen"] = "listen", ["--token-env"] = "token_env",
  ["--cors"] = "cors" }
local flags = {
  ["-L"] = "live", ["--live"] = "live", ["--reexport"] = "reexport",
  ["--full-reprocess"] = "full_reprocess", ["-f"] = "force", ["--force"] = "force",
  ["-y"] = "force", ["--yes"] = "force",
  ["-q"] = "quiet", ["--quiet"] = "quiet", ["--json"] = "json", ["--no-cache"] = "no_cache",
  ["--repair"] = "repair",
  ["-v"] = "verbose", ["--verbose"] = "verbose", ["-h"] = "help", ["--help"] = "help",
  ["--version"] = "version",
}
local allowed = {
  update = { live = 1, reexport = 1, full_reprocess = 1, force = 1, quiet = 1, json = 1, state = 1,
    cluster = 1 },
  setup = { force = 1, state = 1, quiet = 1, cluster = 1 },
  drop = { force = 1, state = 1, quiet = 1, cluster = 1 },
  evaluate = { output_dir = 1, no_cache = 1, state = 1, quiet = 1, cluster = 1 },
  show = { verbose = 1, state = 1, cluster = 1 },
  verify = { repair = 1, json = 1, quiet = 1, state = 1, cluster = 1 },
  ls = { state = 1 },
  cluster = { cluster = 1 },
  worker = { cluster = 1, quiet = 1, json = 1 },
  query = { k = 1, json = 1, state = 1 },
  server = { live = 1, listen = 1, token_env = 1, cors = 1, force = 1, state = 1, quiet = 1 },
}

local function parse(args)
  local o, pos = {}, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    if flags_with_value[a] then
      if not args[i + 1] then return nil, a .. " needs a value" end
      o[flags_with_value[a]] = args[i + 1]
      i = i + 1
    elseif flags[a] then
      o[flags[a]] = true
    elseif a:match("^%-") then
      return nil, "unknown option " .. a
    else
      pos[#pos + 1] = a
    end
    i = i + 1
  end
  return o, pos
end

local function load_flow(spec, o)
  local path, name = spec:match("^(.-%.lua):([%w_]+)$")
  path = path or spec
  local flow, err = coco.load(path, { state_dir = o.state, cluster = o.cluster })
  if not flow then return nil, err end
  if name and flow.name ~= name then
    return nil, string.format("%s defines flow %s, not %s", path, flow.name, name)
  end
  return flow
end

local function fmt_secs(ms)
  return string.format("%.2f s", ms / 1000)
end

local function human_stats(s)
  return string.format("%s.%s: %d rows: %d added, %d updated, %d deleted, %d unchanged, %s%s%d errors (%s)",
    s.flow, s.source, s.listed, s.added, s.updated, s.deleted, s.unchanged,
    s.reprocessed > 0 and string.format("%d reprocessed, ", s.reprocessed) or "",
    s.warnings > 0 and string.format("%d warnings, ", s.warnings) or "",
    s.errors, fmt_secs(s.elapsed_ms))
end

local function json_stats(s)
  return coco.json.encode({ flow = s.flow, source = s.source, added = s.added, updated = s.updated,
    deleted = s.deleted, unchanged = s.unchanged, reprocessed = s.reprocessed, errors = s.errors,
    warnings = s.warnings, elapsed_ms = math.floor(s.elapsed_ms * 1000 + 0.5) / 1000 })
end

-- Ask on a terminal; without one, refuse.
local function confirm(text, question)
  if not core.isatty(0) or not core.isatty(2) then return false end
  stderr:write(text, question, " [y/N] ")
  stderr:flush()
  local answer = io.read("*l")
  return answer and answer:lower():match("^y") ~= nil
end

-- Setup with confirmation for changes that drop data. Returns true or false.
local function do_setup(flow, o, verb)
  local text, destructive, n = flow:plan()
  if not text then errf("%s", destructive); return false end
  if n == 0 then
    if verb == "setup" and not o.quiet then stdout:write("coco: ", flow.name, ": setup is up to date\n") end
    return true
  end
  if destructive and not o.force then
    if not confirm("coco: setup of flow " .. flow.name .. " will drop data:\n" .. text, "Apply?") then
      errf("setup of flow %s would drop data:\n%srun with -f to apply it", flow.name, text)
      return false
    end
  end
  local ok, err = flow:setup{ force = true }
  if not ok then errf("%s", err); return false end
  -- with --json, stdout carries only the JSON lines: the plan goes to stderr
  if not o.quiet then (o.json and stderr or stdout):write("coco: ", flow.name, ": setup applied:\n", text) end
  return true
end

local function on_error(source_label)
  return function(source, key, msg)
    errf("%s.%s: %s", source_label, source, msg:find(key, 1, true) and msg or (key .. ": " .. msg))
  end
end

local function progress(flow, o)
  if o.quiet or o.json or not core.isatty(2) then return nil end
  local t0 = core.now()
  local shown = false
  return function(st, done, total)
    if core.now() - t0 < 1 then return end
    shown = true
    stderr:write(string.format("\r\27[K%s.%s: %d/%d rows", flow.name, st.source, done, total))
    stderr:flush()
  end, function()
    if shown then stderr:write("\r\27[K") end
  end
end

local commands = {}

local function live_mode(flow, o)
  local tty = core.isatty(2) and not o.quiet and not o.json
  local changed, t0 = 0, core.now()
  local status_shown = false
  local function status()
    if not tty then return end
    stderr:write(string.format("\r\27[K%s: live, %d rows changed since start (%ds); Ctrl-C stops",
      flow.name, changed, math.floor(core.now() - t0)))
    stderr:flush()
    status_shown = true
  end
  local function clear()
    if status_shown then stderr:write("\r\27[K") status_shown = false end
  end
  local errors = 0
  local live, err = flow._g:live{ reexport = o.reexport, full_reprocess = o.full_reprocess,
    on_batch = function(b)
      b.flow = flow.name
      changed = changed + b.added + b.updated + b.deleted + b.reprocessed
      if o.json then stdout:write(json_stats(b), "\n") stdout:flush() end
    end,
    on_warning = function(msg) clear() errf("%s", msg) end,   -- rows read with a warning too
    on_error = function(source, key, msg)
      errors = errors + 1
      clear()
      on_error(flow.name)(source, key, msg)
    end }
  if not live then errf("%s", err); return 1 end
  local n, serr = live:step(0)            -- the initial pass
  if not n then errf("%s", serr); live:close(); return 1 end
  if not o.json and not o.quiet then
    for _, s in ipairs(live:stats()) do
      s.flow = flow.name
      stdout:write(human_stats(s), "\n")
    end
    stdout:flush()
  end
  if not live:has_capture() then
    -- no source captures changes: one update, as CocoIndex does
    live:close()
    return errors > 0 and 1 or 0
  end
  live:_catch_signals()
  changed = 0
  status()
  while true do
    local r, e = live:step(tty and 1000 or -1)
    if r == false then break end
    if not r then clear(); errf("%s", e); live:close(); return 1 end
    status()
  end
  clear()
  if not o.quiet and not o.json then
    for _, s in ipairs(live:stats()) do
      s.flow = flow.name
      stdout:write(human_stats(s), "\n")
    end
  end
  live:close()
  return 0
end

-- Cluster mode: the state open, the cluster set up with this very flow.
local function cluster_ready(flow)
  local ok, err = flow:cluster_open()
  if ok then ok, err = flow._g:cluster_check(flow.path) end
  if not ok then errf("%s", err) end
  return ok
end

-- The stats lines of an update or a worker's pass; 1 if a row failed.
local function print_stats(flow, o, stats)
  local rc = 0
  for _, s in ipairs(stats) do
    s.flow = flow.name
    if o.json then
      stdout:write(json_stats(s), "\n")
    elseif not o.quiet then
      stdout:write(human_stats(s), "\n")
    end
    if s.errors > 0 then rc = 1 end
  end
  stdout:flush()
  return rc
end

function commands.update(flow, o)
  local ready, rerr = flow:ready()       -- API keys: before setup writes anything
  if not ready then errf("%s", rerr); return 1 end
  if o.cluster then
    if o.live then errf("-L does not apply to a cluster: run coco worker %s --cluster URL", flow.path); return 2 end
    if not cluster_ready(flow) then return 1 end
  end
  if not do_setup(flow, o, "update") then return 1 end
  if o.live then return live_mode(flow, o) end
  if o.cluster then
    -- every partition no live process holds; those that are held, their holders pass
    local sh, cerr = flow._g:cluster_balance(true)
    if not sh then errf("%s", cerr); return 1 end
    if sh.others > 0 and not o.quiet then
      stderr:write(string.format("coco: %s: %d of %d partitions are held by other coco processes, "
        .. "which pass them; this update passes the other %d\n", flow.name, sh.others, sh.parts, sh.held))
    end
  end
  local prog, clear = progress(flow, o)
  local stats, err = flow._g:update{ reexport = o.reexport, full_reprocess = o.full_reprocess,
    on_error = on_error(flow.name), on_warning = on_error(flow.name), on_progress = prog }
  if clear then clear() end
  if not stats then errf("%s", err); return 1 end
  return print_stats(flow, o, stats)
end

function commands.setup(flow, o)
  if not do_setup(flow, o, "setup") then return 1 end
  if o.cluster then
    local ok, err = flow._g:cluster_setup()
    if not ok then errf("%s", err); return 1 end
  end
  return 0
end

-- coco worker FLOW.lua --cluster URL: until SIGTERM or SIGINT (the pass
-- under way ends first), at every pass boundary: the cluster still set up
-- with this flow (else it stops: setup ran with another), its fair share
-- claimed or given up, then a pass over the partitions held when some were
-- claimed or refresh_interval went by. Between passes it looks every second
-- (a third of the lease when shorter) for partitions to take over; within a
-- pass, it gives up those above its fair share at batch boundaries when
-- workers join (engine/cluster.c).
function commands.worker(flow, o)
  local ready, rerr = flow:ready()
  if not ready then errf("%s", rerr); return 1 end
  if not cluster_ready(flow) then return 1 end
  local ok, jerr = flow._g:cluster_join()
  if not ok then errf("%s", jerr); return 1 end
  local interval = 10
  local least
  for _, src in ipairs(flow:info().sources) do
    local r = src.refresh_interval or 0
    if r > 0 and (not least or r < least) then least = r end
  end
  interval = least or interval
  local poller = core.poller()
  poller:add(core.signal_fd(), 1)
  local function stopped(ms) return poller:wait(ms)[1] ~= nil end
  local function note(fmt, ...)
    if not o.quiet then stderr:write("coco: ", flow.name, ": ", string.format(fmt, ...), "\n") stderr:flush() end
  end
  -- workers started together count each other before the first claim
  local slice = 1000
  if stopped(slice) then poller:close(); return 0 end
  local last, lasterr, rc = nil, nil, 0
  while true do
    local cok, cerr, mismatch = flow._g:cluster_check(flow.path)
    if mismatch then errf("%s (this worker stops)", cerr); rc = 1; break end
    local sh, berr
    if cok then sh, berr = flow._g:cluster_balance(false) else berr = cerr end
    if not sh then
      if berr ~= lasterr then errf("%s", berr) end   -- the database unreachable: try again
      lasterr = berr
    else
      lasterr = nil
      slice = math.min(1000, math.max(50, math.floor(sh.lease_ms / 3)))
      if sh.claimed > 0 or sh.released > 0 then
        note("worker: %d partitions held (claimed %d, gave up %d; %d workers live)", sh.held,
          sh.claimed, sh.released, sh.live)
      end
      if sh.held > 0 and (sh.claimed > 0 or not last or core.now() - last >= interval) then
        last = core.now()
        local stats, err = flow._g:update{ on_error = on_error(flow.name), on_warning = on_error(flow.name) }
        if not stats then
          errf("%s", err)          -- a partition lost, a target down: the next pass tries again
        else
          local changed, errors = 0, 0
          for _, s in ipairs(stats) do
            changed = changed + s.added + s.updated + s.deleted
            errors = errors + s.errors
          end
          if changed + errors > 0 then flow._g:cluster_report(changed, errors) end
          if changed + errors > 0 or o.json then print_stats(flow, o, stats) end
        end
      end
    end
    if stopped(slice) then break end
  end
  poller:close()
  return rc
end

function commands.drop(flow, o)
  local text, destructive, n = flow:plan{ drop = true }
  if not text then errf("%s", destructive); return 1 end
  if n > 0 and not o.force then
    if not confirm("coco: dropping flow " .. flow.name .. " will:\n" .. text, "Drop?") then
      errf("dropping flow %s would:\n%srun with -f to drop it", flow.name, text)
      return 1
    end
  end
  local res, err = flow:drop{ force = true }
  if not res then errf("%s", err); return 1 end
  if not o.quiet then stdout:write("coco: ", flow.name, ": dropped\n", res) end
  return 0
end

function commands.evaluate(flow, o)
  local stats, dir = flow:evaluate{ output_dir = o.output_dir, use_cache = not o.no_cache,
    on_error = on_error(flow.name), on_warning = on_error(flow.name) }
  if not stats then errf("%s", dir); return 1 end
  local rc = 0
  for _, s in ipairs(stats) do
    if not o.quiet then
      stdout:write(string.format("%s.%s: %d rows evaluated, %s%d errors (%s)\n", s.flow, s.source,
        s.listed, s.warnings > 0 and string.format("%d warnings, ", s.warnings) or "", s.errors,
        fmt_secs(s.elapsed_ms)))
    end
    if s.errors > 0 then rc = 1 end
  end
  if not o.quiet then stdout:write("coco: output in ", dir, "/\n") end
  return rc
end

-- Exit 0 when every target equals a fresh build, 1 when anything differs
-- (after --repair too: it says what it wrote) or a source row failed.
function commands.verify(flow, o)
  local shown, max = 0, 50
  local function on_diff(d)
    if o.json then
      stdout:write(coco.json.encode(d), "\n")
      return
    end
    shown = shown + 1
    if o.quiet or shown > max then return end
    local from = d.source and string.format(" (from %s %s)", d.source, d.source_key) or ""
    if d.kind == "different" then
      stdout:write(string.format("%s.%s: different %s: %s%s\n", flow.name, d.export, d.key, d.columns, from))
    elseif d.kind == "collision" then
      stdout:write(string.format("%s.%s: collision %s: %s %s and %s both produce it; the row of %s is kept\n",
        flow.name, d.export, d.key, d.source, d.source_key, d.other, d.other))
    else
      stdout:write(string.format("%s.%s: %s %s%s\n", flow.name, d.export, d.kind, d.key, from))
    end
  end
  local res, nerr = flow:verify{ repair = o.repair, on_diff = on_diff, on_error = on_error(flow.name) }
  if not res then errf("%s", nerr); return 1 end
  if shown > max and not o.quiet then
    stdout:write(string.format("... and %d more\n", shown - max))
  end
  local rc = nerr > 0 and 1 or 0
  for _, r in ipairs(res) do
    local bad = r.missing + r.stale + r.different
    if bad > 0 then rc = 1 end
    if o.json then
      stdout:write(coco.json.encode(r), "\n")
    elseif not o.quiet then
      if not r.scanned then
        stdout:write(string.format("%s.%s: not checked (the target cannot be read back)\n", flow.name, r.export))
      else
        stdout:write(string.format("%s.%s: %d rows held, %d expected: %s%s\n", flow.name, r.export,
          r.held, r.expected, bad == 0 and "same as a fresh build" or string.format(
          "%d missing, %d stale, %d different", r.missing, r.stale, r.different),
          o.repair and bad > 0 and string.format("; %d repaired", r.repaired) or ""))
      end
    end
  end
  if nerr > 0 and not o.quiet then
    stderr:write(string.format("coco: %d source rows failed to evaluate: their rows and stale rows "
      .. "were not checked\n", nerr))
  end
  return rc
end

-- coco cluster status FLOW.lua --cluster URL
function commands.cluster(flow, o)
  local text, err = flow._g:cluster_status(o.cluster)
  if not text then errf("%s", err); return 1 end
  stdout:write(text)
  return 0
end

function commands.show(flow, o)
  local text, err = flow:show{ verbose = o.verbose }
  if not text then errf("%s", err); return 1 end
  stdout:write(text)
  return 0
end

local function ls(o, pos)
  local root
  if pos[1] then
    local flow, err = load_flow(pos[1], o)
    if not flow then errf("%s", err); return 1 end
    root = flow.state_dir:match("^(.*)/[^/]*$")
    flow:close()
  else
    root = o.state or os.getenv("COCO_STATE_DIR") or ".coco"
  end
  local dirs = core.listdirs(root) or {}
  table.sort(dirs)
  for _, d in ipairs(dirs) do stdout:write(d, "\n") end
  if #dirs == 0 then stderr:write("coco: no flows with state in ", root, "\n") end
  return 0
end

-- A value of a result row, on one line.
local function show_value(v)
  if type(v) == "table" then
    if #v > 8 and type(v[1]) == "number" then return "[" .. #v .. " numbers]" end
    return coco.json.encode(v)
  end
  if type(v) == "number" and v % 1 ~= 0 then return string.format("%.4f", v) end
  return (tostring(v):gsub("%s+", " "))
end

-- coco query FLOW.lua[:handler] TEXT [-k N] [--json]
local function query(o, pos)
  if #pos ~= 2 then errf("'query' needs FLOW.lua[:handler] and the query text\n%s", USAGE); return 2 end
  local k = 10
  if o.k then
    k = tonumber(o.k)
    if not k or k < 1 or k % 1 ~= 0 then errf("-k needs a positive integer, got %s", o.k); return 2 end
  end
  local path, handler = pos[1]:match("^(.-%.lua):([%w_]+)$")
  path = path or pos[1]
  local flow, err = coco.load(path, { state_dir = o.state })
  if not flow then errf("%s", err); return 1 end
  local rows, qerr = flow:query(handler, pos[2], { k = k })
  flow:close()
  if not rows then errf("%s", qerr); return 1 end
  for i, r in ipairs(rows) do
    if o.json then
      stdout:write(coco.json.encode(r), "\n")
    else
      local keys, long = {}, {}
      for key in pairs(r) do
        if key ~= "score" and key ~= "distance" then keys[#keys + 1] = key end
      end
      table.sort(keys)
      local line = { string.format("%d.", i) }
      if r.score then line[#line + 1] = string.format("score %.4f", r.score) end
      for _, key in ipairs(keys) do
        local s = show_value(r[key])
        if #s > 60 then
          if #s > 300 then      -- cut at a character boundary
            local cut = 300
            while cut > 1 and s:byte(cut + 1) >= 0x80 and s:byte(cut + 1) < 0xc0 do cut = cut - 1 end
            s = s:sub(1, cut) .. "…"
          end
          long[#long + 1] = "   " .. key .. ": " .. s
        else
          line[#line + 1] = key .. "=" .. s
        end
      end
      stdout:write(table.concat(line, "  "), "\n")
      for _, l in ipairs(long) do stdout:write(l, "\n") end
    end
  end
  if #rows == 0 and not o.json then stderr:write("coco: no rows\n") end
  return 0
end

-- coco server FLOW.lua... [-L] [--listen ADDR] [--token-env VAR] [--cors ORIGIN]
local function server(o, pos)
  if #pos == 0 then errf("'server' needs at least one FLOW.lua\n%s", USAGE); return 2 end
  local token
  if o.token_env then
    token = os.getenv(o.token_env)
    if not token or token == "" then errf("--token-env %s: the variable is not set", o.token_env); return 2 end
  end
  local flows = {}
  local function close_all() for _, f in ipairs(flows) do f:close() end end
  for _, spec in ipairs(pos) do
    local flow, err = load_flow(spec, o)
    if not flow then errf("%s", err); close_all(); return 1 end
    flows[#flows + 1] = flow
  end
  local srv, err = coco.serve(flows, { listen = o.listen, token = token, cors = o.cors,
    live = o.live, force = o.force })
  if not srv then errf("%s", err); close_all(); return 1 end
  local names = {}
  for _, f in ipairs(flows) do names[#names + 1] = f.name end
  if not o.quiet then
    stdout:write(string.format("coco: serving %s on http://%s/%s\n", table.concat(names, ", "),
      srv:address(), o.live and " (live)" or ""))
    stdout:flush()
  end
  local live = srv.entries[1].live
  if live then live:_catch_signals() else srv:catch_signals() end
  collectgarbage()                      -- what starting left behind: an idle server stays small
  local ok, werr = srv:wait()
  srv:close()
  close_all()
  if not ok then errf("%s", werr); return 1 end
  return 0
end

function M.main(args)
  local o, pos = parse(args)
  if not o then errf("%s\n%s", pos, USAGE); return 2 end
  if o.version then stdout:write(coco._VERSION, "\n"); return 0 end
  if o.help or #pos == 0 then
    (o.help and stdout or stderr):write(USAGE)
    return o.help and 0 or 2
  end
  local cmd = pos[1]
  if commands[cmd] or cmd == "ls" or cmd == "query" or cmd == "server" then
    table.remove(pos, 1)
  elseif cmd:match("%.lua$") or cmd:match("%.lua:[%w_]+$") then
    cmd = "update"
  else
    errf("unknown command '%s'\n%s", cmd, USAGE)
    return 2
  end
  for k in pairs(o) do
    if not allowed[cmd][k] then
      errf("option %s does not apply to '%s'", k:gsub("_", "-"), cmd)
      return 2
    end
  end
  if o.state and o.cluster then errf("--state and --cluster: give one"); return 2 end
  local env_cluster = os.getenv("COCO_CLUSTER_URL")
  if allowed[cmd].cluster and not o.state and not o.cluster and env_cluster and env_cluster ~= "" then
    o.cluster = env_cluster
  end
  if cmd == "cluster" then
    if pos[1] ~= "status" then errf("'cluster' takes 'status': coco cluster status FLOW.lua --cluster URL"); return 2 end
    table.remove(pos, 1)
    if not o.cluster then errf("cluster status: give --cluster URL (or $COCO_CLUSTER_URL)"); return 2 end
  end
  if cmd == "worker" and not o.cluster then
    errf("worker: give --cluster URL (or $COCO_CLUSTER_URL)"); return 2
  end
  if cmd == "ls" then return ls(o, pos) end
  if cmd == "query" then return query(o, pos) end
  if cmd == "server" then return server(o, pos) end
  if #pos ~= 1 then errf("'%s' needs one FLOW.lua\n%s", cmd, USAGE); return 2 end
  local flow, err = load_flow(pos[1], o)
  if not flow then errf("%s", err); return 1 end
  local ok, rc = pcall(commands[cmd], flow, o)
  flow:close()
  if not ok then errf("%s", rc); return 1 end
  return rc
end

return M
