-- Chunking with the real coco binary: SplitRecursively on real source trees
-- of this machine (C headers from /usr/include, a Python stdlib, text from
-- /usr/share/doc), paired with DetectProgrammingLanguage; custom_languages;
-- SplitBySeparators; ParseJson and reading members of json values; bad
-- input; linear time.
local H = require("spec.helpers")

local function sh_out(cmd)
  local p = io.popen(cmd)
  local s = p:read("*a")
  p:close()
  return s
end


-- location is stored as JSON text "[start,end]"
local function range(loc)
  local a, b = tostring(loc):match("(%d+)%s*,%s*(%d+)")
  return tonumber(a), tonumber(b)
end

local CODE_FLOW = [[
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets
return coco.flow("CodeChunks", function(flow, scope)
  scope.files = flow:add_source(sources.LocalFile{ path = "src" })
  local chunks = scope:add_collector()
  scope.files:row(function(f)
    f.language = f.filename:transform(functions.DetectProgrammingLanguage{})
    f.chunks = f.content:transform(functions.SplitRecursively{},
      { language = f.language, chunk_size = CHUNK, chunk_overlap = 0 })
    f.chunks:row(function(c)
      chunks:collect{ filename = f.filename, location = c.location, text = c.text,
                      language = f.language }
    end)
  end)
  chunks:export("chunks", targets.SQLite{ path = "index.sqlite" },
    { primary_key_fields = { "filename", "location" } })
end)
]]

describe("chunking", function()
  after_each(function() H.cleanup() end)

  it("splits real C, Python and text trees within bounds, exactly, tiled, at line starts", function()
    local d = H.tmpdir()
    H.mkdir(d .. "/src/c")
    H.mkdir(d .. "/src/py")
    H.mkdir(d .. "/src/txt")
    -- C headers, a Python stdlib, package copyright texts
    H.sh("cp /usr/include/*.h " .. H.q(d .. "/src/c/") .. " 2>/dev/null")
    local py = sh_out("ls -d /usr/lib/python3.* 2>/dev/null | head -1"):gsub("%s+$", "")
    assert.is_true(py ~= "", "no Python stdlib under /usr/lib/python3.*")
    H.sh("cp " .. py .. "/*.py " .. H.q(d .. "/src/py/") .. " 2>/dev/null")
    H.sh("for f in /usr/share/doc/*/copyright; do p=${f%/copyright}; cp \"$f\" "
      .. H.q(d .. "/src/txt") .. "/\"${p##*/}.txt\"; done 2>/dev/null")
    -- files that are not UTF-8 are row errors of LocalFile; keep the trees clean
    H.sh("cd " .. H.q(d .. "/src") .. " && for f in */*; do iconv -f utf-8 -t utf-8 \"$f\" >/dev/null 2>&1 || rm -f \"$f\"; done")
    local n_c = tonumber(sh_out("ls " .. H.q(d .. "/src/c") .. " | wc -l"))
    local n_py = tonumber(sh_out("ls " .. H.q(d .. "/src/py") .. " | wc -l"))
    local n_txt = tonumber(sh_out("ls " .. H.q(d .. "/src/txt") .. " | wc -l"))
    assert.is_true(n_c > 20 and n_py > 20 and n_txt > 20, ("files: %d c, %d py, %d txt"):format(n_c, n_py, n_txt))
    local CHUNK = 1000
    H.write(d .. "/flow.lua", (CODE_FLOW:gsub("CHUNK", tostring(CHUNK))))
    local rc, out, err = H.coco(d, "flow.lua --json")
    assert.are.equal(0, rc, (out or "") .. (err or ""))
    local rows = H.sql(d .. "/index.sqlite",
      "SELECT filename, location, text, language FROM CodeChunks__chunks")
    local by_file = {}
    for _, r in ipairs(rows) do
      local s, e = range(r.location)
      local list = by_file[r.filename] or {}
      list[#list + 1] = { s = s, e = e, text = r.text, language = r.language }
      by_file[r.filename] = list
    end
    local langs = { c = "c", py = "python", txt = "text" }
    local stats = { c = { chunks = 0, ls = 0 }, py = { chunks = 0, ls = 0 }, txt = { chunks = 0, ls = 0 } }
    local nfiles = 0
    for name, list in pairs(by_file) do
      nfiles = nfiles + 1
      local dir = name:match("^(%a+)/")
      local content = assert(H.read(d .. "/src/" .. name))
      table.sort(list, function(x, y) return x.s < y.s end)
      local prev = 0
      for _, c in ipairs(list) do
        assert.are.equal(langs[dir], c.language)
        assert.is_true(c.e - c.s <= CHUNK, name .. ": chunk of " .. (c.e - c.s) .. " bytes")
        -- the text at location is the chunk's text
        assert.are.equal(content:sub(c.s + 1, c.e), c.text)
        -- chunks tile the document: only whitespace between them
        assert.is_truthy(content:sub(prev + 1, c.s):match("^%s*$"), name .. ": text lost before " .. c.s)
        prev = c.e
        local st = stats[dir]
        st.chunks = st.chunks + 1
        -- a line start: only spaces or tabs between the last newline and the chunk
        local k = c.s
        while k > 0 and (content:byte(k) == 32 or content:byte(k) == 9) do k = k - 1 end
        if k == 0 or content:byte(k) == 10 then st.ls = st.ls + 1 end
      end
      assert.is_truthy(content:sub(prev + 1):match("^%s*$"), name .. ": text lost at the end")
    end
    assert.is_true(nfiles >= n_c + n_py + n_txt - 5)
    for dir, st in pairs(stats) do
      assert.is_true(st.chunks > 0, dir)
      assert.is_true(st.ls / st.chunks >= 0.9,
        ("%s: %d of %d chunks start at a line start"):format(dir, st.ls, st.chunks))
    end
  end)

  it("keeps top-level Python definitions whole when they fit", function()
    local d = H.tmpdir()
    local src = {}
    local defs = {}
    for i = 1, 40 do
      local body = {}
      for l = 1, (i * 7) % 23 + 2 do body[#body + 1] = ("    x_%d = compute(x_%d, %d)"):format(l, l - 1, i) end
      local def = ("@register\ndef handler_%d(x_0):\n    \"\"\"Handle case %d.\n\nclass NotReal:\n\"\"\"\n%s\n    return x_1"):format(
        i, i, table.concat(body, "\n"))
      defs[#defs + 1] = def
      src[#src + 1] = "# section " .. i .. "\n" .. def
    end
    H.write(d .. "/src/mod.py", table.concat(src, "\n\n\n") .. "\n")
    H.write(d .. "/flow.lua", (CODE_FLOW:gsub("CHUNK", "700")))
    local rc, out, err = H.coco(d, "flow.lua -q")
    assert.are.equal(0, rc, (out or "") .. (err or ""))
    local rows = H.sql(d .. "/index.sqlite", "SELECT text FROM CodeChunks__chunks")
    local whole, fit = 0, 0
    for _, def in ipairs(defs) do
      if #def <= 700 then
        fit = fit + 1
        for _, r in ipairs(rows) do
          if r.text:find(def, 1, true) then whole = whole + 1 break end
        end
      end
    end
    assert.is_true(fit > 20)
    assert.are.equal(fit, whole)
  end)

  it("splits with custom_languages, and reports a bad regex at the flow line naming it", function()
    local d = H.tmpdir()
    local parts = {}
    for i = 1, 12 do
      parts[#parts + 1] = ("FROM debian:12 AS stage%d\nRUN apt-get install -y a%d b%d c%d\nRUN make -C /src/%d\n"):format(i, i, i, i, i)
    end
    H.write(d .. "/src/Dockerfile", table.concat(parts, "\n"))
    local flow = [[
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets
return coco.flow("Custom", function(flow, scope)
  scope.files = flow:add_source(sources.LocalFile{ path = "src" })
  local chunks = scope:add_collector()
  local split = functions.SplitRecursively{ custom_languages = {
    { language_name = "dockerfile", aliases = { "containerfile" }, separators_regex = { PATTERNS } } } }
  scope.files:row(function(f)
    f.chunks = f.content:transform(split, { language = "Containerfile", chunk_size = 150 })
    f.chunks:row(function(c)
      chunks:collect{ filename = f.filename, location = c.location, text = c.text }
    end)
  end)
  chunks:export("chunks", targets.SQLite{ path = "index.sqlite" },
    { primary_key_fields = { "filename", "location" } })
end)
]]
    H.write(d .. "/flow.lua", (flow:gsub("PATTERNS", [["^FROM ", "\\n\\n+", "\\n"]])))
    local rc, out, err = H.coco(d, "flow.lua -q")
    assert.are.equal(0, rc, (out or "") .. (err or ""))
    local rows = H.sql(d .. "/index.sqlite", "SELECT text FROM Custom__chunks")
    assert.are.equal(12, #rows)
    for _, r in ipairs(rows) do assert.is_truthy(r.text:match("^FROM debian:12 AS stage%d+\n")) end

    H.write(d .. "/flow.lua", (flow:gsub("PATTERNS", [["\\n\\n+", "(unclosed"]])))
    rc, out, err = H.coco(d, "flow.lua")
    assert.are_not.equal(0, rc)
    assert.is_truthy(err:find("flow.lua:9: ", 1, true), err)
    assert.is_truthy(err:find("custom_languages[1] (dockerfile): separators_regex[2]: '(unclosed' is not a valid regex: missing closing parenthesis", 1, true), err)
  end)

  it("splits by separators, and rejects a bad keep_separator at the flow line", function()
    local d = H.tmpdir()
    H.write(d .. "/src/a.txt", "alpha; beta;gamma ;; delta")
    local flow = [[
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets
return coco.flow("Seps", function(flow, scope)
  scope.files = flow:add_source(sources.LocalFile{ path = "src" })
  local pieces = scope:add_collector()
  scope.files:row(function(f)
    f.pieces = f.content:transform(functions.SplitBySeparators{ separators_regex = { ";" }, keep_separator = KEEP })
    f.pieces:row(function(p)
      pieces:collect{ filename = f.filename, location = p.location, text = p.text, line = p.start.line }
    end)
  end)
  pieces:export("pieces", targets.SQLite{ path = "index.sqlite" },
    { primary_key_fields = { "filename", "location" } })
end)
]]
    H.write(d .. "/flow.lua", (flow:gsub("KEEP", '"LEFT"')))
    local rc, out, err = H.coco(d, "flow.lua -q")
    assert.are.equal(0, rc, (out or "") .. (err or ""))
    local rows = H.sql(d .. "/index.sqlite", "SELECT text FROM Seps__pieces ORDER BY json_extract(location, '$[0]')")
    local got = {}
    for _, r in ipairs(rows) do got[#got + 1] = r.text end
    assert.are.same({ "alpha;", "beta;", "gamma ;", ";", "delta" }, got)

    H.write(d .. "/flow.lua", (flow:gsub("KEEP", '"BOTH"')))
    rc, out, err = H.coco(d, "flow.lua")
    assert.are_not.equal(0, rc)
    assert.is_truthy(err:find('flow.lua:7: SplitBySeparators: keep_separator must be "NONE", "LEFT" or "RIGHT", got "BOTH"', 1, true), err)
  end)

  it("parses JSON and reads members of json values", function()
    local d = H.tmpdir()
    H.write(d .. "/src/a.json", '{ "title": "First", "tags": ["x", "y"], "meta": { "n": 3 }, "none": null }')
    H.write(d .. "/src/b.json", '{ "title": "Second", "tags": [] }')
    H.write(d .. "/src/bad.json", '{ "title": }')
    H.write(d .. "/flow.lua", [[
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets
return coco.flow("Json", function(flow, scope)
  scope.files = flow:add_source(sources.LocalFile{ path = "src" })
  local docs = scope:add_collector()
  scope.files:row(function(f)
    f.doc = f.content:transform(functions.ParseJson{}, { language = "json" })
    docs:collect{ filename = f.filename, title = f.doc.title, first_tag = f.doc.tags[1],
                  n = f.doc.meta.n, none = f.doc.none, missing = f.doc.nope }
  end)
  docs:export("docs", targets.SQLite{ path = "index.sqlite" },
    { primary_key_fields = { "filename" } })
end)
]])
    local rc, out, err = H.coco(d, "flow.lua")
    assert.are_not.equal(0, rc)   -- bad.json is a row error
    assert.is_truthy(err:find("bad.json", 1, true), err)
    assert.is_truthy(err:find("ParseJson: invalid JSON at line 1, column 12: expected a value", 1, true), err)
    local rows = H.sql(d .. "/index.sqlite", "SELECT * FROM Json__docs ORDER BY filename")
    assert.are.equal(2, #rows)
    assert.are.equal("a.json", rows[1].filename)
    assert.are.equal("First", H.json.decode(rows[1].title))
    assert.are.equal("x", H.json.decode(rows[1].first_tag))
    assert.are.equal(3, H.json.decode(rows[1].n))
    assert.is_nil(rows[1].none)
    assert.is_nil(rows[1].missing)
    assert.are.equal("Second", H.json.decode(rows[2].title))
    assert.is_nil(rows[2].first_tag)

    -- a field of a str is still an error at the flow line
    local src = H.read(d .. "/flow.lua"):gsub("n = f.doc.meta.n", "n = f.filename.meta")
    H.write(d .. "/flow.lua", src)
    rc, out, err = H.coco(d, "flow.lua")
    assert.are_not.equal(0, rc)
    assert.is_truthy(err:find("flow.lua:%d+: cannot read field 'meta' of 'filename': it is a str"), err)
  end)

  it("frees a table only row() reads once walked, keeping what collect took from it", function()
    -- doc.words and doc.chunks are read by one row() each: evaluated apart
    -- and freed once walked (engine/exec.c). The words' strings and the
    -- chunks' start structs live in that memory: collect copies them out.
    local d = H.tmpdir()
    for i = 1, 12 do
      H.write(string.format("%s/src/f%02d.md", d, i), string.format("# File %d\n\nalpha beta gamma %d\n", i, i))
    end
    H.write(d .. "/flow.lua", [[
local coco = require("coco")
local T = coco.types
local Words = coco.fn("Words", { returns = T.table{ { "word", "str" }, { "pos", T.struct{ { "n", "int64" } } } } },
  function(text)
    local rows = {}
    for w in text:gmatch("%a+") do rows[#rows + 1] = { word = w:upper() .. "!", pos = { n = #rows + 1 } } end
    return rows
  end)
return coco.flow("Scratch", function(flow, scope)
  scope.files = flow:add_source(coco.sources.LocalFile{ path = "src" })
  local words, chunks = scope:add_collector(), scope:add_collector()
  scope.files:row(function(f)
    f.words = f.content:transform(Words)
    f.words:row(function(w) words:collect{ filename = f.filename, n = w.pos.n, word = w.word, pos = w.pos } end)
    f.chunks = f.content:transform(coco.functions.SplitRecursively{}, { chunk_size = 12 })
    f.chunks:row(function(c)
      chunks:collect{ filename = f.filename, location = c.location, text = c.text, start = c.start }
    end)
  end)
  words:export("words", coco.targets.SQLite{ path = "index.sqlite" }, { primary_key_fields = { "filename", "n" } })
  chunks:export("chunks", coco.targets.SQLite{ path = "index.sqlite" }, { primary_key_fields = { "filename", "location" } })
end)
]])
    local rc, out, err = H.coco(d, "flow.lua")
    assert.are.equal(0, rc, err)
    local rows = H.sql(d .. "/index.sqlite", "SELECT * FROM Scratch__words ORDER BY filename, n")
    assert.are.equal(12 * 4, #rows)
    for i = 1, 12 do
      local want = { "FILE!", "ALPHA!", "BETA!", "GAMMA!" }
      for k = 1, 4 do
        local r = rows[(i - 1) * 4 + k]
        assert.are.equal(string.format("f%02d.md", i), r.filename)
        assert.are.equal(want[k], r.word)
        assert.are.equal(k, H.json.decode(r.pos).n)
      end
    end
    rows = H.sql(d .. "/index.sqlite", "SELECT * FROM Scratch__chunks ORDER BY filename, start")
    assert.is_true(#rows >= 24)
    for _, r in ipairs(rows) do
      local content = H.read(d .. "/src/" .. r.filename)
      local s, e = range(r.location)
      assert.are.equal(content:sub(s + 1, e), r.text)
      local st = H.json.decode(r.start)
      assert.are.equal(s, st.offset)
      assert.is_true(st.line >= 1 and st.column >= 1)
    end
  end)

  it("handles bad input: empty files, only separators, min_chunk_size > chunk_size, invalid UTF-8", function()
    local d = H.tmpdir()
    H.write(d .. "/src/empty.py", "")
    H.write(d .. "/src/blank.c", "\n\n   \n\t\n")
    H.write(d .. "/src/ok.c", "int main(void)\n{\n\treturn 0;\n}\n")
    H.write(d .. "/src/bad.py", "x = 1\n\255\254\n")
    H.write(d .. "/flow.lua", (CODE_FLOW:gsub("CHUNK", "100")))
    local rc, out, err = H.coco(d, "flow.lua")
    assert.are.equal(0, rc, err)
    -- invalid UTF-8 is read with U+FFFD (a warning naming the file) and split as any text
    assert.is_truthy(err:find("src/bad.py: not valid UTF-8 (first bad byte at 6); 2 invalid sequences replaced with U+FFFD",
      1, true), err)
    local rows = H.sql(d .. "/index.sqlite", "SELECT filename, text FROM CodeChunks__chunks ORDER BY filename")
    assert.are.equal(2, #rows)
    assert.are.same({ "bad.py", "ok.c" }, { rows[1].filename, rows[2].filename })
    assert.is_truthy(rows[1].text:find("\u{FFFD}\u{FFFD}", 1, true), rows[1].text)

    local flow = CODE_FLOW:gsub("CHUNK", "100"):gsub("chunk_overlap = 0", "min_chunk_size = 200")
    H.write(d .. "/flow.lua", flow)
    rc, out, err = H.coco(d, "flow.lua")
    assert.are_not.equal(0, rc)
    assert.is_truthy(err:find("flow.lua:8: SplitRecursively: min_chunk_size must be <= chunk_size (100), got 200", 1, true), err)
  end)

  -- Linear time on 50 MB single-line and one-character-line files is a
  -- speed claim: `make bench` proves it (bench_chunk_quality --big), not a
  -- timed spec.
end)
