-- gen_corpus.lua: seeded, reproducible benchmark corpus for coco.
--
--   luajit spec/bench/gen_corpus.lua DIR [N=10000] [SIZE=4096] [SEED=42]
--       writes N files (~80% .md, ~20% .txt) of about SIZE bytes (+-25%)
--       into up to 100 subdirectories DIR/d000 .. DIR/d099.
--
--   luajit spec/bench/gen_corpus.lua --modify DIR K SEED
--       rewrites K files of DIR (chosen by the seeded PRNG) by appending a
--       paragraph or replacing one; used to time a re-run after a small edit.
--
-- Plain Lua 5.1 (runs under LuaJIT), no modules. The generator is its own
-- PRNG (Park-Miller "minimal standard", multiplier 48271): every step is
-- exact integer arithmetic in doubles, so the output is byte-identical
-- across runs and machines. math.random is never used.

local floor, concat, byte, sub = math.floor, table.concat, string.byte, string.sub

---------------------------------------------------------------------------
-- PRNG
---------------------------------------------------------------------------
local M = 2147483647 -- 2^31 - 1
local state = 1

local function seed_rng(seed)
  local s = floor(tonumber(seed) or 0) % M
  s = (s * 16807 + 12345) % M
  if s == 0 then s = 1 end
  state = s
  for _ = 1, 8 do state = (state * 48271) % M end
end

local function rnd() -- uniform in [0, 1)
  state = (state * 48271) % M
  return (state - 1) / (M - 1)
end

local function rint(lo, hi) -- uniform integer in [lo, hi]
  state = (state * 48271) % M
  return lo + (state - 1) % (hi - lo + 1)
end

---------------------------------------------------------------------------
-- vocabulary
---------------------------------------------------------------------------
local common = {
  "the", "of", "and", "to", "a", "in", "is", "that", "for", "it", "as", "with",
  "be", "on", "not", "this", "by", "are", "or", "from", "at", "which", "an",
  "each", "when", "its", "into", "only", "one", "all", "can", "new", "after",
  "before", "every", "than", "then", "there", "so", "more", "most", "some",
  "index", "indexer", "source", "target", "row", "rows", "chunk", "chunks",
  "document", "documents", "query", "queries", "vector", "vectors", "embedding",
  "embeddings", "search", "token", "tokens", "file", "files", "change",
  "changes", "update", "updates", "state", "table", "key", "keys", "value",
  "values", "field", "schema", "batch", "cache", "memo", "lineage", "commit",
  "snapshot", "segment", "shard", "replica", "offset", "cursor", "stream",
  "event", "events", "writer", "reader", "pipeline", "flow", "function",
  "transform", "collector", "export", "fingerprint", "hash", "digest",
  "version", "revision", "delta", "diff", "scan", "listing", "refresh",
  "interval", "latency", "throughput", "recall", "precision", "ranking",
  "score", "scores", "model", "models", "dimension", "distance", "cosine",
  "nearest", "neighbor", "graph", "node", "edge", "layer", "storage", "disk",
  "memory", "page", "pages", "block", "blocks", "log", "journal", "checkpoint",
  "recovery", "crash", "retry", "timeout", "backoff", "worker", "workers",
  "queue", "lease", "lock", "transaction", "consistent", "eventually",
  "stale", "fresh", "derived", "upstream", "downstream", "incremental",
  "full", "partial", "quickly", "slowly", "carefully", "usually", "rarely",
  "always", "never", "often", "small", "large", "cheap", "expensive", "stable",
  "deterministic", "idempotent", "durable", "atomic", "ordered", "unordered",
  "keeps", "writes", "reads", "stores", "drops", "computes", "returns",
  "splits", "merges", "tracks", "records", "emits", "skips", "reuses",
  "rebuilds", "deletes", "inserts", "upserts", "watches", "polls", "lists",
  "compares", "detects", "propagates", "replays", "serves", "answers",
}

local onsets = { "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r",
  "s", "t", "v", "w", "z", "br", "cr", "dr", "fl", "gr", "pl", "pr", "sk",
  "sl", "sp", "st", "str", "th", "tr", "ch", "sh", "qu" }
local nuclei = { "a", "e", "i", "o", "u", "a", "e", "i", "o", "ai", "ea",
  "ou", "io", "ee", "oo", "y" }
local codas = { "", "", "", "", "n", "r", "s", "t", "l", "m", "nd", "st",
  "rk", "x", "ng", "ck" }

local vocab = {}
do
  seed_rng(7919) -- the vocabulary is fixed, whatever the corpus seed
  local seen = {}
  for _, w in ipairs(common) do seen[w] = true end
  while #vocab < 3000 do
    local r = rnd()
    local nsyl = (r < 0.35) and 1 or (r < 0.75) and 2 or (r < 0.95) and 3 or 4
    local parts = {}
    for i = 1, nsyl do
      parts[#parts + 1] = onsets[rint(1, #onsets)]
      parts[#parts + 1] = nuclei[rint(1, #nuclei)]
      if i == nsyl or rnd() < 0.3 then parts[#parts + 1] = codas[rint(1, #codas)] end
    end
    local w = concat(parts)
    if #w >= 2 and not seen[w] then
      seen[w] = true
      vocab[#vocab + 1] = w
    end
  end
end
local NCOMMON, NVOCAB = #common, #vocab

local function word()
  local r = rnd()
  if r < 0.45 then
    local u = rnd()
    return common[1 + floor(u * u * NCOMMON)]
  end
  local u = rnd()
  return vocab[1 + floor(u * u * NVOCAB)] -- skewed: a few words are frequent
end

local function capitalize(w)
  return string.upper(sub(w, 1, 1)) .. sub(w, 2)
end

---------------------------------------------------------------------------
-- text blocks (each returns a string without trailing blank line)
---------------------------------------------------------------------------
local function sentence(buf)
  local n = rint(6, 18)
  buf[#buf + 1] = capitalize(word())
  for i = 2, n do
    if i > 2 and i < n and rnd() < 0.08 then
      buf[#buf + 1] = ", "
    else
      buf[#buf + 1] = " "
    end
    buf[#buf + 1] = word()
  end
  local r = rnd()
  buf[#buf + 1] = (r < 0.9) and "." or ((r < 0.95) and "?" or ":")
end

local function paragraph(lo, hi)
  local buf = {}
  for i = 1, rint(lo or 2, hi or 6) do
    if i > 1 then buf[#buf + 1] = " " end
    sentence(buf)
  end
  return concat(buf)
end

-- paragraph wrapped at ~72 columns (for .txt files)
local function wrapped_paragraph()
  local buf, col = {}, 0
  for _ = 1, rint(3, 8) do
    local n = rint(6, 18)
    for i = 1, n do
      local w = word()
      if i == 1 then w = capitalize(w) end
      if i == n then w = w .. "." end
      if col == 0 then
        buf[#buf + 1] = w
        col = #w
      elseif col + 1 + #w > 72 then
        buf[#buf + 1] = "\n"
        buf[#buf + 1] = w
        col = #w
      else
        buf[#buf + 1] = " "
        buf[#buf + 1] = w
        col = col + 1 + #w
      end
    end
  end
  return concat(buf)
end

local function title(lo, hi)
  local buf = { capitalize(word()) }
  for _ = 2, rint(lo, hi) do buf[#buf + 1] = word() end
  return concat(buf, " ")
end

local function list_block()
  local buf, numbered = {}, rnd() < 0.35
  for i = 1, rint(3, 7) do
    local item = {}
    for j = 1, rint(3, 14) do item[j] = word() end
    item[1] = capitalize(item[1])
    buf[#buf + 1] = (numbered and (i .. ". ") or "- ") .. concat(item, " ")
  end
  return concat(buf, "\n")
end

local function ident()
  return word() .. "_" .. word()
end

local function code_block()
  local r, lines = rnd(), {}
  if r < 0.4 then
    lines[1] = "```lua"
    lines[2] = "local " .. ident() .. " = require(\"" .. word() .. "\")"
    for _ = 1, rint(2, 8) do
      local k = rnd()
      if k < 0.4 then
        lines[#lines + 1] = "local " .. ident() .. " = " .. ident() .. "(" .. rint(0, 9999) .. ")"
      elseif k < 0.7 then
        lines[#lines + 1] = ident() .. "." .. word() .. " = \"" .. word() .. " " .. word() .. "\""
      else
        lines[#lines + 1] = "if " .. ident() .. " then " .. ident() .. "() end"
      end
    end
  elseif r < 0.7 then
    lines[1] = "```sql"
    lines[2] = "SELECT " .. word() .. ", " .. word() .. ", " .. word()
    lines[3] = "FROM " .. ident()
    lines[4] = "WHERE " .. word() .. " = '" .. word() .. "' AND " .. word() .. " > " .. rint(0, 1000)
    lines[5] = "ORDER BY " .. word() .. " LIMIT " .. rint(1, 100) .. ";"
  else
    lines[1] = "```sh"
    for _ = 1, rint(2, 5) do
      lines[#lines + 1] = "$ " .. word() .. " --" .. word() .. " " .. word() .. "/" .. word() .. "." .. ((rnd() < 0.5) and "md" or "txt")
    end
  end
  lines[#lines + 1] = "```"
  return concat(lines, "\n")
end

---------------------------------------------------------------------------
-- documents
---------------------------------------------------------------------------
local function gen_md(target)
  local blocks, len = {}, 0
  local function add(s)
    blocks[#blocks + 1] = s
    len = len + #s + 2
  end
  add("# " .. title(2, 6))
  add(paragraph(2, 4))
  local after_heading = false
  while len < target do
    local r, b, heading = rnd(), nil, false
    if after_heading then
      b = paragraph()
    elseif r < 0.12 then
      b, heading = "## " .. title(2, 5), true
    elseif r < 0.20 then
      b, heading = "### " .. title(2, 5), true
    elseif r < 0.32 then
      b = list_block()
    elseif r < 0.38 then
      b = code_block()
    else
      b = paragraph()
    end
    -- stop rather than overshoot far, and never end on a heading
    if not after_heading and len >= target - 300 and (heading or len + #b > target + 150) then
      break
    end
    add(b)
    after_heading = heading
  end
  blocks[#blocks + 1] = ""
  return concat(blocks, "\n\n")
end

local function gen_txt(target)
  local blocks, len = {}, 0
  local t = string.upper(title(2, 5))
  blocks[1] = t
  len = #t + 2
  while len < target do
    local p = wrapped_paragraph()
    if #blocks > 1 and len >= target - 300 and len + #p > target + 150 then break end
    blocks[#blocks + 1] = p
    len = len + #p + 2
  end
  blocks[#blocks + 1] = ""
  return concat(blocks, "\n\n")
end

local function write_file(path, data)
  local f = assert(io.open(path, "wb"))
  f:setvbuf("no") -- one write(2) per file
  f:write(data)
  f:close()
end

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function shquote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function usage()
  io.stderr:write("usage: luajit spec/bench/gen_corpus.lua DIR [N=10000] [SIZE=4096] [SEED=42]\n",
                  "       luajit spec/bench/gen_corpus.lua --modify DIR K SEED\n")
  os.exit(2)
end

---------------------------------------------------------------------------
-- generate
---------------------------------------------------------------------------
local function generate(dir, n, size, seed)
  seed_rng(seed)
  local ndirs = math.min(100, math.max(1, math.ceil(n / 10)))
  local mk = { "mkdir -p" }
  for d = 0, ndirs - 1 do
    mk[#mk + 1] = shquote(string.format("%s/d%03d", dir, d))
  end
  local rc = os.execute(concat(mk, " "))
  if rc ~= 0 and rc ~= true then
    io.stderr:write("gen_corpus: cannot create directories under " .. dir .. "\n")
    os.exit(1)
  end
  local total, nmd, ntxt = 0, 0, 0
  for i = 0, n - 1 do
    local target = floor(size * (0.75 + 0.5 * rnd()))
    local body
    local is_md = rnd() < 0.8
    if is_md then
      body = gen_md(target)
      nmd = nmd + 1
    else
      body = gen_txt(target)
      ntxt = ntxt + 1
    end
    local path = string.format("%s/d%03d/f%06d.%s", dir, i % ndirs, i, is_md and "md" or "txt")
    write_file(path, body)
    total = total + #body
  end
  print(string.format("gen_corpus: %d files (%d md, %d txt) in %d dirs, %d bytes, seed %s -> %s",
                      n, nmd, ntxt, ndirs, total, tostring(seed), dir))
end

---------------------------------------------------------------------------
-- modify
---------------------------------------------------------------------------
local function is_prose(block)
  local c = byte(block, 1)
  -- not a heading, list, code fence, numbered item, or indented text
  return c and c ~= 35 and c ~= 45 and c ~= 96 and c ~= 32 and not (c >= 48 and c <= 57)
end

local function modify(dir, k, seed)
  local p = assert(io.popen("find " .. shquote(dir) ..
                            " -type f \\( -name '*.md' -o -name '*.txt' \\)"))
  local files = {}
  for line in p:lines() do files[#files + 1] = line end
  p:close()
  table.sort(files)
  if #files == 0 then
    io.stderr:write("gen_corpus: no .md/.txt files under " .. dir .. "\n")
    os.exit(1)
  end
  k = math.min(k, #files)
  seed_rng(seed)
  -- partial Fisher-Yates: the first k entries become the chosen files
  for i = 1, k do
    local j = rint(i, #files)
    files[i], files[j] = files[j], files[i]
  end
  local changed, bytes_before, bytes_after = 0, 0, 0
  for i = 1, k do
    local path = files[i]
    local old = read_file(path)
    local is_md = path:sub(-3) == ".md"
    local newpara = is_md and paragraph() or wrapped_paragraph()
    -- split on blank lines (generated code fences contain none)
    local blocks = {}
    for b in (old:gsub("\n+$", "") .. "\n\n"):gmatch("(.-)\n\n") do blocks[#blocks + 1] = b end
    local prose = {}
    for bi = 2, #blocks do
      if is_prose(blocks[bi]) then prose[#prose + 1] = bi end
    end
    if #prose > 0 and rnd() < 0.5 then
      blocks[prose[rint(1, #prose)]] = newpara -- change a paragraph
    else
      blocks[#blocks + 1] = newpara            -- append a paragraph
    end
    blocks[#blocks + 1] = ""
    local new = concat(blocks, "\n\n")
    if new == old then new = old .. newpara .. "\n" end
    write_file(path, new)
    changed = changed + 1
    bytes_before = bytes_before + #old
    bytes_after = bytes_after + #new
  end
  print(string.format("gen_corpus: modified %d of %d files (%d -> %d bytes), seed %s",
                      changed, #files, bytes_before, bytes_after, tostring(seed)))
end

---------------------------------------------------------------------------
-- main
---------------------------------------------------------------------------
local args = { ... }
if args[1] == "--modify" then
  local dir, k, seed = args[2], tonumber(args[3]), tonumber(args[4])
  if not dir or not k or not seed then usage() end
  modify(dir, k, seed)
else
  local dir = args[1]
  if not dir or dir:sub(1, 1) == "-" then usage() end
  local n = tonumber(args[2] or 10000)
  local size = tonumber(args[3] or 4096)
  local seed = tonumber(args[4] or 42)
  if not n or not size or not seed or n < 0 or size < 1 then usage() end
  generate(dir, n, size, seed)
end
