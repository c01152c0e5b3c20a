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

-- Run coco with args (a string) in dir. Returns rc, stdout, stderr.
function H.coco(dir, args, env)
  local out, err = os.tmpname(), os.tmpname()
  local envs = ""
  for k, v in pairs(env or {}) do envs = envs .. k .. "=" .. sh_quote(v) .. " " end
  local cmd = string.format("cd %s && %s%s %s >%s 2>%s </dev/null; echo $?", sh_quote(dir), envs,
    sh_quote(H.bin), args, out, err)
  local p = io.popen(cmd)
  local rc = tonumber(p:read("*l"))
  p:close()
  local so, se = read_all(out), read_all(err)
  os.remove(out)
  os.remove(err)
  return rc, so, se
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

-- The docs flow of DESIGN.md, with options to vary it.
function H.docs_flow(o)
  o = o or {}
  return string.format([[
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets
return coco.flow(%q, function(flow, scope)
  scope.documents = flow:add_source(
    sources.LocalFile{ path = %q, included_patterns = { "*.md", "*.txt" } })
  local chunks = scope:add_collector()
  scope.documents:row(function(doc)
    doc.chunks = doc.content:transform(functions.SplitRecursively{},
      { language = "markdown", chunk_size = %d, chunk_overlap = %d })
    doc.chunks:row(function(chunk)
      chunks:collect{ filename = doc.filename, location = chunk.location,
                      text = chunk.text }
    end)
  end)
  chunks:export("doc_chunks", targets.SQLite{ path = %q },
    { primary_key_fields = { "filename", "location" } })
end)
]], o.name or "DocsIndex", o.path or "docs", o.chunk_size or 300, o.overlap or 0, o.db or "index.sqlite")
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
