-- Spec helpers: every test gets its own temp dir (and so its own state
-- dir); the real `coco` binary runs in it; SQLite targets are read with
-- the sqlite3 shell. Nothing is left behind: temp dirs are removed by
-- H.cleanup() (call it in after_each).
local json = require("dkjson")

local H = {}

local root = debug.getinfo(1, "S").source:match("^@(.*)/spec/helpers%.lua$") or "."
if root:sub(1, 1) ~= "/" then
  -- the real working directory ($PWD is stale under ctest's chdir)
  local p = io.popen("pwd")
  root = p:read("*l") .. "/" .. root
  p:close()
end
H.root = root
H.bin = os.getenv("COCO_BIN") or (root .. "/build/coco")
H.so_dir = os.getenv("COCO_SO_DIR") or (root .. "/build")

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
H.q = sh_quote

local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end
H.read = read_all

local dirs = {}

function H.tmpdir()
  local p = io.popen("mktemp -d /tmp/coco-spec.XXXXXX")
  local d = p:read("*l")
  p:close()
  dirs[#dirs + 1] = d
  return d
end

function H.cleanup()
  for _, d in ipairs(dirs) do os.execute("chmod -R u+rwx " .. sh_quote(d) .. " 2>/dev/null; rm -rf " .. sh_quote(d)) end
  dirs = {}
end

function H.sh(cmd)
  local ok, how, code = os.execute(cmd)
  if type(ok) == "number" then return ok == 0, ok end  -- Lua 5.1: exit status * 256
  return ok, code
end

function H.mkdir(path) os.execute("mkdir -p " .. sh_quote(path)) end

-- Writes a file, making its directory only when it is missing (a mkdir
-- forks a shell: hundreds of files would spend most of their time there).
function H.write(path, content)
  local f = io.open(path, "wb")
  if not f then
    local dir = path:match("^(.*)/[^/]*$")
    if dir then H.mkdir(dir) end
    f = assert(io.open(path, "wb"))
  end
  f:write(content)
  f:close()
end

function H.rm(path) os.execute("rm -rf " .. sh_quote(path)) end

-- Run the shell command line cmd in dir (stdin /dev/null). Returns rc,
-- stdout, stderr.
function H.run(dir, cmd)
  local out, err = os.tmpname(), os.tmpname()
  local p = io.popen(string.format("cd %s && %s >%s 2>%s </dev/null; echo $?", sh_quote(dir), cmd, out, err))
  local rc = tonumber(p:read("*l"))
  p:close()
  local so, se = read_all(out), read_all(err)
  os.remove(out)
  os.remove(err)
  return rc, so, se
end

-- The environment words of a command line (K='v' ...) from a table.
function H.env(env)
  local s = ""
  for k, v in pairs(env or {}) do s = s .. k .. "=" .. sh_quote(v) .. " " end
  return s
end

-- Run coco with args (a string) in dir. Returns rc, stdout, stderr.
function H.coco(dir, args, env)
  return H.run(dir, H.env(env) .. sh_quote(H.bin) .. " " .. args)
end

-- Write code to dir/script.lua with coco.so (H.so_dir) on package.cpath.
function H.write_script(dir, code)
  H.write(dir .. "/script.lua", string.format("package.cpath = %q .. '/?.so;' .. package.cpath\n",
    H.so_dir) .. code)
end

-- Run code as dir/script.lua with luajit (prefix: words before luajit,
-- e.g. "timeout 120 "). Returns rc, stdout, stderr.
function H.luajit(dir, code, prefix)
  H.write_script(dir, code)
  return H.run(dir, (prefix or "") .. "luajit script.lua")
end

-- Run a script that ends with `io.write(coco.json.encode(R))`: it must
-- exit 0. Returns R, stderr.
function H.script(dir, code, prefix)
  local rc, out, err = H.luajit(dir, code, prefix)
  require("luassert").are.equal(0, rc, "luajit exited " .. tostring(rc) .. "\nstderr: " .. err .. "\nstdout: " .. out)
  local r, _, e = json.decode(out)
  assert(type(r) == "table", "no JSON result: " .. tostring(e) .. "\nstdout: " .. out .. "\nstderr: " .. err)
  return r, err
end

-- The lines of the file at path (a log that a flow's function appends a
-- line a call to), which is removed: each call takes what came since the
-- last.
function H.take_lines(path)
  local s = read_all(path) or ""
  os.remove(path)
  local out = {}
  for line in s:gmatch("([^\n]*)\n") do out[#out + 1] = line end
  return out
end

-- src with the one occurrence of `from` (plain text) replaced by `to`.
function H.edit(src, from, to)
  local i, j = src:find(from, 1, true)
  assert(i, "edit: text not found: " .. from)
  assert(not src:find(from, j + 1, true), "edit: text found twice: " .. from)
  return src:sub(1, i - 1) .. to .. src:sub(j + 1)
end

-- Rows of a query as a list of tables (sqlite3 -json).
function H.sql(db, query)
  local p = io.popen(string.format("sqlite3 -json %s %s 2>&1", sh_quote(db), sh_quote(query)))
  local s = p:read("*a")
  p:close()
  if s == "" then return {} end
  local rows, _, e = json.decode(s)
  if not rows then error("sqlite3: " .. s .. (e or "")) end
  return rows
end

-- All rows of a table, sorted, as one comparable string per row.
function H.dump(db, tbl)
  local rows = H.sql(db, "SELECT * FROM " .. '"' .. tbl .. '"')
  local out = {}
  for _, r in ipairs(rows) do
    local keys = {}
    for k in pairs(r) do keys[#keys + 1] = k end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. tostring(r[k]) end
    out[#out + 1] = table.concat(parts, "|")
  end
  table.sort(out)
  return out
end

-- The docs flow of DESIGN.md, with options to vary it:
--   o.name ("DocsIndex"), o.path ("docs"), o.patterns ('{ "*.md", "*.txt" }'),
--   o.lf: more LocalFile options, o.src: add_source's options table,
--   o.chunk_size (300), o.overlap (0), o.db ("index.sqlite"),
--   o.fns: code before the flow (functions it uses), o.row: code run on
--   each chunk before it is collected, o.fields: more collected fields,
--   o.extra: more code at the end of the flow function.
function H.docs_flow(o)
  o = o or {}
  return string.format([[
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets
%sreturn coco.flow(%q, function(flow, scope)
  scope.documents = flow:add_source(
    sources.LocalFile{ path = %q, included_patterns = %s%s }%s)
  local chunks = scope:add_collector()
  scope.documents:row(function(doc)
    doc.chunks = doc.content:transform(functions.SplitRecursively{},
      { language = "markdown", chunk_size = %d, chunk_overlap = %d })
    doc.chunks:row(function(chunk)
%s      chunks:collect{ filename = doc.filename, location = chunk.location,
                      text = chunk.text%s }
    end)
  end)
  chunks:export("doc_chunks", targets.SQLite{ path = %q },
    { primary_key_fields = { "filename", "location" } })
%send)
]], o.fns or "", o.name or "DocsIndex", o.path or "docs", o.patterns or '{ "*.md", "*.txt" }',
    o.lf and (", " .. o.lf) or "", o.src and (", " .. o.src) or "", o.chunk_size or 300, o.overlap or 0,
    o.row or "", o.fields and (", " .. o.fields) or "", o.db or "index.sqlite",
    o.extra and (o.extra .. "\n") or "")
end

-- The docs flow with a Lua function `Count` on every chunk (collected as
-- `upper`), which appends each text it is called with, as one line, to the
-- file named by $CALLS (see H.take_lines). $FAIL_ON: it raises on a text
-- holding that string; $SLOW: it sleeps that many seconds first.
--   o.cache (default true), o.version (default 1; nil when not cached),
--   o.body: its return expression (default text:upper()); the rest as
--   H.docs_flow's.
function H.count_flow(o)
  o = o or {}
  local cache = o.cache == nil and true or o.cache
  local f = {}
  for k, v in pairs(o) do f[k] = v end
  f.fns = string.format([[
local Count = coco.fn("Count", { returns = "str", cache = %s, version = %s }, function(text)
  if os.getenv("SLOW") then os.execute("sleep " .. os.getenv("SLOW")) end
  local p = os.getenv("CALLS")
  if p then
    local f = assert(io.open(p, "a"))
    f:write((text:gsub("\n", " ")), "\n")
    f:close()
  end
  local bad = os.getenv("FAIL_ON")
  if bad and text:find(bad, 1, true) then error("Count refuses " .. bad) end
  return %s
end)
]], tostring(cache), o.version == nil and (cache and "1" or "nil") or string.format("%q", o.version),
    o.body or "text:upper()")
  f.row = "      chunk.upper = chunk.text:transform(Count)\n"
  f.fields = "upper = chunk.upper"
  return H.docs_flow(f)
end

-- A test directory: flow.lua (the text flow) and docs/ holding files
-- (name -> content).
function H.docs_dir(flow, files)
  local d = H.tmpdir()
  H.write(d .. "/flow.lua", flow)
  H.mkdir(d .. "/docs")
  for name, content in pairs(files or {}) do H.write(d .. "/docs/" .. name, content) end
  return d
end

-- A paragraph of 200 characters, distinct per tag (with chunk_size = 300,
-- one chunk each), and a document of such paragraphs.
function H.para(tag)
  return ((tag .. " lorem ipsum dolor sit amet "):rep(10)):sub(1, 199) .. "."
end

function H.doc(...)
  local ps = {}
  for i, t in ipairs({ ... }) do ps[i] = H.para(t) end
  return table.concat(ps, "\n\n")
end

-- A short paragraph "Paragraph TAG number I." (and a blank line), and a
-- document of n of them, numbered 1..n.
function H.numbered_para(tag, i) return string.format("Paragraph %s number %d.\n\n", tag, i) end

function H.numbered_doc(tag, n)
  local t = {}
  for i = 1, n do t[i] = H.numbered_para(tag, i) end
  return table.concat(t)
end

-- The lines of s that are not empty.
function H.lines(s)
  local out = {}
  for line in (s or ""):gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

-- Parse --json output lines.
function H.json_lines(s)
  local out = {}
  for line in (s or ""):gmatch("[^\n]+") do
    local v = json.decode(line)
    if v then out[#out + 1] = v end
  end
  return out
end

-- The distance coco's top_k reports, by brute force (for expected
-- orders and distances): "l2", "ip" (negated dot product) or "cosine";
-- nil for cosine against a zero vector (it has no direction).
function H.distance(metric, a, b)
  local dot, na, nb, l2 = 0, 0, 0, 0
  for i = 1, #a do
    dot = dot + a[i] * b[i]
    na, nb = na + a[i] * a[i], nb + b[i] * b[i]
    l2 = l2 + (a[i] - b[i]) ^ 2
  end
  if metric == "l2" then return math.sqrt(l2) end
  if metric == "ip" then return -dot end
  if na == 0 or nb == 0 then return nil end
  return 1 - dot / math.sqrt(na * nb)
end

H.json = json
return H
