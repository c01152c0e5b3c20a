-- The fuzzer's flow model: a random flow (sources, a split, a Lua function,
-- collectors with fields, exports to SQLite, PostgreSQL, a target written
-- in Lua and, with o.qdrant or o.chroma, Qdrant or Chroma collections and
-- a vector field), the edits that change it, and flow.lua rendered from it.
-- A model is plain data (copied into each step that changes it), so any
-- subsequence of steps replays.
local M = {}

local SOURCES = { "a", "b", "c" }
local EXPORT_NAMES = { "e1", "e2", "e3", "e4", "e5", "e6" }
local TABLES = { "ta", "tb", "tc" }
local SQLITE_FILES = { "t.sqlite", "u.sqlite" }
local LANGS = { "markdown", "text", "python" }
-- optional collected fields: what each collects
local OPTIONAL = { "src", "text", "tag", "line", "kind" }
M.SQLITE_FILES = SQLITE_FILES
-- With o.qdrant or o.chroma: the vector field `vec` (the Lua function Vec
-- of the chunk text, vec_dim floats) and each Qdrant or Chroma export's
-- metric.
local METRICS = { "cosine", "l2", "ip" }

-- Bodies of the Lua function Tag (chunk text -> str). With cache = true a
-- body is tied to a version: a version number is never reused for another
-- body (versions only grow), so a cached result is never stale by design.
local BODIES = {
  [[return s:upper():sub(1, 12)]],
  [[return tostring(#s) .. ":" .. s:sub(1, 4)]],
  [[return s:reverse():sub(1, 10)]],
  [[return (s:gsub("%s+", "_")):sub(1, 16)]],
}

function M.copy(v)
  if type(v) ~= "table" then return v end
  local o = {}
  for k, x in pairs(v) do o[k] = M.copy(x) end
  return o
end

local function has(list, v)
  for _, x in ipairs(list) do if x == v then return true end end
  return false
end

local function remove(list, v)
  for i, x in ipairs(list) do if x == v then table.remove(list, i) return end end
end

-- ---- validity: the invariants every generated (valid) model keeps ----------
local function table_of(x)
  if x.kind == "lua" then return "lua:" .. (x.table or x.name) end
  if x.kind == "qdrant" or x.kind == "chroma" then return x.kind .. ":" .. (x.table or ("Fz__" .. x.name)) end
  local t = x.table or ("Fz__" .. x.name)
  if x.kind == "sqlite" then return "sqlite:" .. x.path .. "#" .. t:lower() end
  return "pg:" .. t:lower()
end
M.table_of = table_of

function M.valid(m, o)
  if #m.sources == 0 or #m.colls == 0 or #m.exports == 0 then return false end
  local fed = {}
  for _, c in ipairs(m.colls) do
    if #c.sources == 0 then return false end
    for _, s in ipairs(c.sources) do
      if not has(m.sources_ids, s) then return false end
      fed[s] = true
    end
  end
  for _, s in ipairs(m.sources) do if not fed[s.id] then return false end end
  local names, tables = {}, {}
  for _, x in ipairs(m.exports) do
    local c = m.colls[x.coll]
    if not c then return false end
    if names[x.name] then return false end
    names[x.name] = true
    local t = table_of(x)
    if tables[t] then return false end
    tables[t] = true
    if x.kind == "pg" and not o.pg then return false end
    if x.kind == "qdrant" and not o.qdrant then return false end
    -- a Chroma record has one embedding: the export needs the vector field
    if x.kind == "chroma" and (not o.chroma or not c.fields.vec) then return false end
    -- a vector field: not in PostgreSQL (Debian's has no pgvector), and
    -- a Qdrant collection holds one
    if x.kind == "pg" and c.fields.vec then return false end
    for _, k in ipairs(x.pk) do
      if k ~= "filename" and k ~= "location" and not c.fields[k] then return false end
    end
    if not o.collide then
      -- a key that tells rows apart: filename and location, and the source
      -- when several feed the collector
      if not (has(x.pk, "filename") and has(x.pk, "location")) then return false end
      if #c.sources > 1 and not has(x.pk, "src") then return false end
    end
  end
  return true
end

-- ---- a first model ---------------------------------------------------------------
local function new_export(rng, m, o, coll)
  local free = {}
  for _, n in ipairs(EXPORT_NAMES) do
    local used = false
    for _, x in ipairs(m.exports) do used = used or x.name == n end
    if not used then free[#free + 1] = n end
  end
  if #free == 0 then return nil end
  local kinds = o.pg and { "sqlite", "pg", "lua" } or { "sqlite", "lua" }
  if o.qdrant then kinds[#kinds + 1], kinds[#kinds + 2] = "qdrant", "qdrant" end
  if o.chroma then kinds[#kinds + 1], kinds[#kinds + 2] = "chroma", "chroma" end
  local x = { name = rng:pick(free), coll = coll or rng:int(1, #m.colls), kind = rng:pick(kinds),
    path = rng:pick(SQLITE_FILES) }
  if rng:chance(0.4) then x.table = rng:pick(TABLES) end
  local c = m.colls[x.coll]
  if x.kind == "qdrant" then
    -- mostly a collection with its vector (one without is valid too)
    x.metric = rng:pick(METRICS)
    if rng:chance(0.8) then c.fields.vec = true end
  elseif x.kind == "chroma" then
    x.metric = rng:pick(METRICS)
    c.fields.vec = true
  end
  x.pk = { "filename", "location" }
  if #c.sources > 1 or (c.fields.src and rng:chance(0.3)) then
    c.fields.src = true
    x.pk = { "src", "filename", "location" }
  end
  if rng:chance(0.3) then
    local r = {}
    for i = #x.pk, 1, -1 do r[#r + 1] = x.pk[i] end
    x.pk = r
  end
  return x
end

local function new_source(rng, id)
  local size = rng:pick({ 40, 60, 100, 160, 300 })
  return { id = id, lang = rng:pick(LANGS), size = size,
    overlap = rng:chance(0.5) and 0 or rng:int(1, math.floor(size / 4)) }
end

function M.initial(rng, o)
  local m = { sources = {}, sources_ids = {}, colls = {}, exports = {},
    fn = { cache = rng:chance(0.5), version = 1, body = rng:int(1, #BODIES) }, next_version = 2 }
  local ns = rng:chance(0.3) and 2 or 1
  for i = 1, ns do
    m.sources[i] = new_source(rng, SOURCES[i])
    m.sources_ids[i] = SOURCES[i]
  end
  local c = { fields = {}, sources = M.copy(m.sources_ids) }
  for _, f in ipairs(OPTIONAL) do if rng:chance(0.5) then c.fields[f] = f == "kind" and rng:pick({ "str", "int64" }) or true end end
  m.colls[1] = c
  for _ = 1, rng:int(1, 3) do
    local x = new_export(rng, m, o)
    if x then m.exports[#m.exports + 1] = x end
  end
  if o.qdrant then
    m.vec_dim = rng:pick({ 3, 4 })
    -- a first flow with a Qdrant collection
    local x = m.exports[1]
    x.kind, x.metric = "qdrant", rng:pick(METRICS)
    if rng:chance(0.8) then c.fields.vec = true end
  end
  if o.chroma then
    m.vec_dim = m.vec_dim or rng:pick({ 3, 4 })
    -- a first flow with a Chroma collection (the second export with --qdrant)
    local x = m.exports[o.qdrant and 2 or 1]
    if x then
      x.kind, x.metric = "chroma", rng:pick(METRICS)
      m.colls[x.coll].fields.vec = true
    end
  end
  for _ = 1, 50 do
    if M.valid(m, o) then break end
    for _, x in ipairs(m.exports) do x.table = nil end
    m.exports = { m.exports[1] }
  end
  return m
end

-- ---- edits ------------------------------------------------------------------
local EDITS = {}

EDITS.field = function(rng, m)          -- add or remove a collected field
  local c = rng:pick(m.colls)
  local f = rng:pick(OPTIONAL)
  if c.fields[f] then c.fields[f] = nil
  else c.fields[f] = f == "kind" and rng:pick({ "str", "int64" }) or true end
  return "field " .. f
end

EDITS.field_type = function(rng, m)     -- a field's type: str <-> int64
  local c = rng:pick(m.colls)
  c.fields.kind = c.fields.kind == "str" and "int64" or "str"
  return "field kind: " .. c.fields.kind
end

EDITS.rename_export = function(rng, m, o)
  local x = rng:pick(m.exports)
  local y = new_export(rng, m, o)
  if not y then return nil end
  local old = x.name
  x.name = y.name
  return "rename export " .. old .. " -> " .. x.name
end

EDITS.table_name = function(rng, m)
  local x = rng:pick(m.exports)
  if x.table and rng:chance(0.3) then x.table = nil
  elseif x.kind == "sqlite" and rng:chance(0.3) then x.path = rng:pick(SQLITE_FILES)
  else x.table = rng:pick(TABLES) end
  return "table of " .. x.name .. ": " .. tostring(x.table) .. " in " .. x.path
end

EDITS.pk = function(rng, m, o)
  local x = rng:pick(m.exports)
  local pk = x.pk
  if o.collide and #pk > 1 and rng:chance(0.3) then
    -- only behind --collide: a key two source rows can share
    table.remove(pk, rng:int(1, #pk))
  elseif #pk > 1 and rng:chance(0.5) then
    x.pk = { pk[2], pk[1], pk[3] }
  elseif has(pk, "src") then
    remove(pk, "src")
  else
    m.colls[x.coll].fields.src = true
    table.insert(pk, rng:int(1, #pk + 1), "src")
  end
  return "primary key of " .. x.name .. ": " .. table.concat(x.pk, ",")
end

EDITS.export = function(rng, m, o)      -- add or remove an export
  if #m.exports > 1 and rng:chance(0.5) then
    local i = rng:int(1, #m.exports)
    local name = m.exports[i].name
    table.remove(m.exports, i)
    return "remove export " .. name
  end
  local x = new_export(rng, m, o)
  if not x then return nil end
  m.exports[#m.exports + 1] = x
  return "add export " .. x.name .. " (" .. x.kind .. ")"
end

EDITS.lua_target = function(rng, m, o)  -- add or remove a target written in Lua
  for i, x in ipairs(m.exports) do
    if x.kind == "lua" and rng:chance(0.5) then
      table.remove(m.exports, i)
      return "remove Lua target " .. x.name
    end
  end
  local x = new_export(rng, m, o)
  if not x then return nil end
  x.kind = "lua"
  m.exports[#m.exports + 1] = x
  return "add Lua target " .. x.name
end

EDITS.source = function(rng, m)         -- add or remove a source
  if #m.sources > 1 and rng:chance(0.5) then
    local i = rng:int(1, #m.sources)
    local id = m.sources[i].id
    table.remove(m.sources, i)
    remove(m.sources_ids, id)
    for _, c in ipairs(m.colls) do remove(c.sources, id) end
    return "remove source " .. id
  end
  local free = {}
  for _, id in ipairs(SOURCES) do if not has(m.sources_ids, id) then free[#free + 1] = id end end
  if #free == 0 then return nil end
  local id = rng:pick(free)
  m.sources[#m.sources + 1] = new_source(rng, id)
  m.sources_ids[#m.sources_ids + 1] = id
  local c = rng:pick(m.colls)
  c.sources[#c.sources + 1] = id
  return "add source " .. id
end

EDITS.collector = function(rng, m)      -- which sources feed a collector; a second one
  if #m.colls == 1 or rng:chance(0.5) then
    if #m.colls < 2 then
      local c = { fields = { text = true }, sources = { rng:pick(m.sources_ids) } }
      m.colls[2] = c
      return "add collector 2"
    end
  end
  local c = rng:pick(m.colls)
  local s = rng:pick(m.sources_ids)
  if has(c.sources, s) then remove(c.sources, s) else c.sources[#c.sources + 1] = s end
  return "collector feeds " .. table.concat(c.sources, ",")
end

EDITS.split = function(rng, m)          -- chunk_size, chunk_overlap, language
  local s = rng:pick(m.sources)
  local what = rng:int(1, 3)
  if what == 1 then s.size = rng:pick({ 40, 60, 100, 160, 300 }); s.overlap = math.min(s.overlap, math.floor(s.size / 4))
  elseif what == 2 then s.overlap = rng:chance(0.3) and 0 or rng:int(1, math.floor(s.size / 4))
  else s.lang = rng:pick(LANGS) end
  return string.format("split of %s: %s, size %d, overlap %d", s.id, s.lang, s.size, s.overlap)
end

EDITS.fn_version = function(rng, m)     -- bump the function's version
  m.fn.version = m.next_version
  m.next_version = m.next_version + 1
  return "Tag version " .. m.fn.version
end

EDITS.fn_body = function(rng, m)        -- edit the function's body
  m.fn.body = m.fn.body % #BODIES + 1
  if rng:chance(0.2) then m.fn.cache = not m.fn.cache end
  -- new logic under a version: a new version (a version names one body;
  -- an uncached function has none, its bytecode is its fingerprint)
  m.fn.version = m.next_version
  m.next_version = m.next_version + 1
  return "Tag body " .. m.fn.body .. " version " .. m.fn.version .. (m.fn.cache and " cached" or "")
end

-- the edits of the vector field and the Qdrant and Chroma exports
-- (o.qdrant or o.chroma only: without them a seed gives the steps it
-- always gave)
local QDRANT_EDITS = {}

QDRANT_EDITS.vec = function(rng, m)     -- add or remove the vector field
  local c = rng:pick(m.colls)
  c.fields.vec = not c.fields.vec or nil
  return (c.fields.vec and "add" or "remove") .. " field vec"
end

QDRANT_EDITS.vec_dim = function(rng, m) -- the vector's size: 3 <-> 4
  m.vec_dim = m.vec_dim == 3 and 4 or 3
  return "vec size " .. m.vec_dim
end

QDRANT_EDITS.metric = function(rng, m)  -- a Qdrant or Chroma export's metric
  local q = {}
  for _, x in ipairs(m.exports) do if x.kind == "qdrant" or x.kind == "chroma" then q[#q + 1] = x end end
  if #q == 0 then return nil end
  local x = rng:pick(q)
  x.metric = rng:pick(METRICS)
  return "metric of " .. x.name .. ": " .. x.metric
end

local function names_of(t)
  local l = {}
  for k in pairs(t) do l[#l + 1] = k end
  table.sort(l)
  return l
end
local EDIT_NAMES = names_of(EDITS)
local EDIT_NAMES_Q = names_of(EDITS)
for k, f in pairs(QDRANT_EDITS) do EDITS[k] = f end
for _, k in ipairs(names_of(QDRANT_EDITS)) do EDIT_NAMES_Q[#EDIT_NAMES_Q + 1] = k end

-- A valid random edit of m (a new model) and what it did.
function M.edit(rng, m, o)
  for _ = 1, 30 do
    local n = M.copy(m)
    local what = EDITS[rng:pick((o.qdrant or o.chroma) and EDIT_NAMES_Q or EDIT_NAMES)](rng, n, o)
    if what and M.valid(n, o) then return n, what end
  end
  return M.copy(m), "no edit"
end

M.BAD = { "syntax", "unknown_field", "same_table", "chunk_size", "pk_field", "option" }

-- ---- flow.lua -------------------------------------------------------------------
local TARGET = [=[
local J = coco.json.encode
local function rd(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end
local function load(path)
  local rows = {}
  for line in (rd(path) or ""):gmatch("[^\n]+") do rows[line:match("^[^\t]*")] = line end
  return rows
end
local function save(path, rows)
  local keys = {}
  for k in pairs(rows) do keys[#keys + 1] = k end
  table.sort(keys)
  local f = assert(io.open(path .. ".tmp", "wb"))
  for _, k in ipairs(keys) do f:write(rows[k], "\n") end
  f:close()
  assert(os.rename(path .. ".tmp", path))
end
local function keyof(r, kf)
  local parts = {}
  for i, f in ipairs(kf) do parts[i] = J(r[f]) end
  return table.concat(parts, ",")
end
-- One file of "key<TAB>field=json<TAB>..." lines per export; setup keeps
-- the rows and drops the values of fields that left or changed type (as
-- a table drops a column); other changes empty the file.
local FuzzFile = coco.target{ name = "FuzzFile",
  setup = function(prev, want)
    if prev and (not want or prev.options.file ~= want.options.file
        or J(prev.key_fields) ~= J(want.key_fields)) then
      os.remove(prev.options.file)
      prev = nil
    end
    if not want then return end
    local rows = prev and load(want.options.file) or {}
    local old, keep = {}, {}
    for _, f in ipairs(prev and prev.fields or {}) do old[f.name] = f.type end
    for _, f in ipairs(want.fields) do keep[f.name] = old[f.name] == f.type end
    for k, line in pairs(rows) do
      local out = { k }
      for name, v in line:gmatch("\t([^=\t]+)=([^\t]*)") do
        if keep[name] then out[#out + 1] = name .. "=" .. v end
      end
      rows[k] = table.concat(out, "\t")
    end
    save(want.options.file, rows)
  end,
  mutate = function(ups, dels, ctx)
    local path = ctx.options.file
    local rows = load(path)
    for _, k in ipairs(dels) do rows[keyof(k, ctx.key_fields)] = nil end
    for _, r in ipairs(ups) do
      local k = keyof(r, ctx.key_fields)
      local out = { k }
      for _, f in ipairs(ctx.fields) do
        if r[f] ~= nil then out[#out + 1] = f .. "=" .. J(r[f]) end
      end
      rows[k] = table.concat(out, "\t")
    end
    save(path, rows)
  end }
]=]

local function qlist(l)
  local o = {}
  for i, v in ipairs(l) do o[i] = string.format("%q", v) end
  return "{ " .. table.concat(o, ", ") .. " }"
end

-- flow.lua for model m; src_root: the absolute directory of the sources;
-- bad: one of M.BAD to make it invalid.
function M.render(m, src_root, bad)
  local L = {}
  local function w(s, ...) L[#L + 1] = select("#", ...) > 0 and string.format(s, ...) or s end
  w('local coco = require("coco")')
  w("local sources, functions, targets = coco.sources, coco.functions, coco.targets")
  w(TARGET)
  if m.fn.cache then
    w('local Tag = coco.fn("Tag", { returns = "str", cache = true, version = %d }, function(s)', m.fn.version)
  else
    w('local Tag = coco.fn("Tag", { returns = "str" }, function(s)')
  end
  w("  " .. BODIES[m.fn.body])
  w("end)")
  if m.vec_dim then
    -- a vector of the chunk text, never of length 0 (Cosine normalises)
    w('local Vec = coco.fn("Vec", { returns = coco.types.vector("float32", %d) }, function(s)', m.vec_dim)
    local v = { "1 + #s % 7", "(s:byte(1) or 0) / 8", "#s / 3", "-(s:byte(-1) or 0) / 16" }
    w("  return { %s }", table.concat(v, ", ", 1, m.vec_dim))
    w("end)")
    -- main and fresh builds share one server: their collections are named apart
    w('local NS = os.getenv("FZ_NS") or ""')
  end
  w('return coco.flow("Fz", function(flow, scope)')
  for ci in ipairs(m.colls) do w("  local c%d = scope:add_collector()", ci) end
  for _, s in ipairs(m.sources) do
    w('  scope.s_%s = flow:add_source(sources.LocalFile{ path = %q, included_patterns = { "*.md", "*.txt" } })',
      s.id, src_root .. "/" .. s.id)
    w("  scope.s_%s:row(function(doc)", s.id)
    w('    doc.chunks = doc.content:transform(functions.SplitRecursively{}, { language = %q, chunk_size = %d, chunk_overlap = %d })',
      s.lang, bad == "chunk_size" and 0 or s.size, s.overlap)
    w("    doc.chunks:row(function(chunk)")
    -- Tag only where a collector takes its result (the engine evaluates a
    -- transform nobody collects all the same, and its rows then keep
    -- cached results of the old versions referenced)
    local uses_tag = false
    for _, c in ipairs(m.colls) do uses_tag = uses_tag or (c.fields.tag and has(c.sources, s.id)) end
    if uses_tag then w("      chunk.tag = chunk.text:transform(Tag)") end
    local uses_vec = false
    for _, c in ipairs(m.colls) do uses_vec = uses_vec or (c.fields.vec and has(c.sources, s.id)) end
    if uses_vec then w("      chunk.vec = chunk.text:transform(Vec)") end
    for ci, c in ipairs(m.colls) do
      if has(c.sources, s.id) then
        local f = { "filename = doc.filename", "location = chunk.location" }
        if c.fields.src then f[#f + 1] = string.format("src = %q", s.id) end
        if c.fields.text then f[#f + 1] = "text = chunk.text" end
        if c.fields.tag then f[#f + 1] = "tag = chunk.tag" end
        if c.fields.line then f[#f + 1] = "line = chunk.start.line" end
        if c.fields.kind == "str" then f[#f + 1] = "kind = chunk.text"
        elseif c.fields.kind then f[#f + 1] = "kind = chunk[\"end\"].offset" end
        if c.fields.vec then f[#f + 1] = "vec = chunk.vec" end
        if bad == "unknown_field" then f[#f + 1] = "oops = chunk.nope" end
        w("      c%d:collect{ %s }", ci, table.concat(f, ", "))
      end
    end
    w("    end)")
    w("  end)")
  end
  for i, x in ipairs(m.exports) do
    local tname = x.table
    if bad == "same_table" and i == 2 then
      local y = m.exports[1]
      x = M.copy(x)
      x.kind, x.path, tname = y.kind, y.path, y.table or ("Fz__" .. y.name)
      x.metric = y.metric
    end
    local opt = tname and string.format(", table_name = %q", tname) or ""
    local spec
    if x.kind == "sqlite" then
      spec = string.format("targets.SQLite{ path = %q%s%s }", x.path, opt, bad == "option" and ", tabel = 1" or "")
    elseif x.kind == "pg" then
      spec = string.format("targets.Postgres{ %s }", opt:sub(3))
      if spec == "targets.Postgres{  }" then spec = "targets.Postgres{}" end
    elseif x.kind == "qdrant" then
      spec = string.format("targets.Qdrant{ collection_name = NS .. %q }", tname or ("Fz__" .. x.name))
    elseif x.kind == "chroma" then
      spec = string.format("targets.Chroma{ collection_name = NS .. %q }", tname or ("Fz__" .. x.name))
    else
      spec = string.format("FuzzFile{ file = %q }", (tname or x.name) .. ".tsv")
    end
    local pk = x.pk
    if bad == "pk_field" then pk = { "filename", "nope" } end
    local vi = ""
    if (x.kind == "qdrant" or x.kind == "chroma") and m.colls[x.coll].fields.vec then
      vi = string.format(", vector_indexes = {{ field = \"vec\", metric = %q }}", x.metric)
    end
    w("  c%d:export(%q, %s, { primary_key_fields = %s%s })", x.coll, x.name, spec, qlist(pk), vi)
  end
  w("end)")
  if bad == "syntax" then w("end end") end
  return table.concat(L, "\n") .. "\n"
end

-- A short description of a model, for the shrunk sequence.
function M.describe(m)
  local s = {}
  for _, src in ipairs(m.sources) do
    s[#s + 1] = string.format("source %s (%s %d/%d)", src.id, src.lang, src.size, src.overlap)
  end
  for i, c in ipairs(m.colls) do
    local f = {}
    for k, v in pairs(c.fields) do f[#f + 1] = v == true and k or (k .. ":" .. v) end
    table.sort(f)
    s[#s + 1] = string.format("c%d <- %s {%s}", i, table.concat(c.sources, ","), table.concat(f, ","))
  end
  for _, x in ipairs(m.exports) do
    s[#s + 1] = string.format("%s: c%d -> %s (%s)%s", x.name, x.coll, table_of(x), table.concat(x.pk, ","),
      (x.kind == "qdrant" or x.kind == "chroma") and (" " .. x.metric) or "")
  end
  s[#s + 1] = string.format("Tag body %d v%d%s", m.fn.body, m.fn.version, m.fn.cache and " cached" or "")
  if m.vec_dim then s[#s + 1] = "vec size " .. m.vec_dim end
  return table.concat(s, "; ")
end

return M
