-- coco server's web page in a real headless Chromium (Debian's
-- /usr/bin/chromium, driven by puppeteer-core pinned in
-- spec/servers/browser): each view renders the fixture flow's real data,
-- no request leaves the server, no script error; screenshots go to
-- spec/out/server/ (gitignored).
local H = require("spec.helpers")
local json = require("dkjson")

local BROWSER_DIR = H.root .. "/spec/servers/browser"
local OUT = H.root .. "/spec/out/server"

local function exists(p) return H.sh("test -e " .. H.q(p)) end

local FLOW = [[
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets
local Upper = coco.fn("Upper", { returns = "str", cache = true, version = 1 }, function(t)
  if t:find("BOOM", 1, true) then error("boom in this chunk") end
  return t:upper()
end)
return coco.flow("Docs", function(flow, scope)
  scope.documents = flow:add_source(sources.LocalFile{ path = "docs", included_patterns = { "*.md" } },
    { refresh_interval = 3600 })
  local chunks = scope:add_collector()
  scope.documents:row(function(doc)
    doc.chunks = doc.content:transform(functions.SplitRecursively{},
      { language = "markdown", chunk_size = 40, chunk_overlap = 0 })
    doc.chunks:row(function(chunk)
      chunk.upper = chunk.text:transform(Upper)
      chunks:collect{ filename = doc.filename, location = chunk.location, text = chunk.upper }
    end)
  end)
  chunks:export("doc_chunks", targets.SQLite{ path = "index.sqlite" },
    { primary_key_fields = { "filename", "location" } })
  flow:query_handler("search", function(q, opts)
    return { { filename = "d1.md", text = "a result for " .. q, score = 0.875 } }
  end)
end)
]]

describe("coco server's web page in Chromium", function()
  local pid_file
  after_each(function()
    if pid_file then
      local pid = H.read(pid_file)
      if pid and pid:match("%d+") then os.execute("kill " .. pid:match("%d+") .. " 2>/dev/null") end
      os.remove(pid_file)
      pid_file = nil
    end
    H.cleanup()
  end)

  it("renders every view with the flow's real data", function()
    if not exists("/usr/bin/chromium") then
      pending("chromium is not installed (apt-get install chromium)")
      return
    end
    if not exists(BROWSER_DIR .. "/node_modules/puppeteer-core") then
      pending("puppeteer-core is not installed (cd spec/servers/browser && npm ci)")
      return
    end
    local d = H.tmpdir()
    H.write(d .. "/flow.lua", FLOW)
    for i = 1, 3 do
      H.write(string.format("%s/docs/d%d.md", d, i), string.format(
        "# Doc %d\n\nHello world number %d. Some more text here to chunk.\n\n## Section\n\nAnother paragraph.\n", i, i))
    end
    H.write(d .. "/docs/bad.md", "# Bad\n\nThis one has BOOM in it.\n")
    pid_file = os.tmpname()
    local out = d .. "/server.out"
    os.execute(string.format("cd %s && (%s server flow.lua -L --listen 127.0.0.1:0 >%s 2>%s.err </dev/null & echo $! > %s)",
      H.q(d), H.q(H.bin), H.q(out), H.q(out), H.q(pid_file)))
    local addr
    for _ = 1, 600 do
      addr = (H.read(out) or ""):match("http://([%d%.]+:%d+)/")
      if addr then break end
      os.execute("sleep 0.1")
    end
    assert.is_truthy(addr, H.read(out .. ".err"))
    local base = "http://" .. addr
    -- wait for the initial pass (healthz says so)
    for _ = 1, 600 do
      local ph = io.popen("curl -s -o /dev/null -w '%{http_code}' " .. H.q(base .. "/healthz"))
      local code = ph:read("*a")
      ph:close()
      if code == "200" then break end
      os.execute("sleep 0.1")
    end
    local plan = {
      { name = "graph", path = "/flows/Docs", wait = "svg.graph", expect = { "SplitRecursively", "Upper", "doc_chunks", "collector #1", "1 errors" } },
      { name = "rows", path = "/flows/Docs/sources/documents/rows", wait = "#rows", expect = { "d1.md", "d3.md", "Row errors (1)", "bad.md", "boom in this chunk" } },
      { name = "row", path = "/flows/Docs/sources/documents/rows/d1.md", wait = "#source-text mark", expect = { "chunks: 3 rows", "HELLO WORLD NUMBER 1.", "Rows for export doc_chunks (3)", "yes, same value" }, full = true },
      { name = "row_error", path = "/flows/Docs/sources/documents/rows/bad.md", wait = "#row-error", expect = { "boom in this chunk", "retry" } },
      { name = "export", path = "/flows/Docs/exports/doc_chunks/rows", wait = "#export-rows", expect = { "documents / d1.md", "[0,30]" } },
      { name = "query", path = "/flows/Docs/query?h=search&q=hello&k=5", wait = "#results-search table", expect = { "a result for hello", "0.8750" } },
      { name = "live", path = "/flows/Docs/live", wait = "#batches", expect = { "following changes", "Recent batches", "bad.md", "events + refresh" } },
      { name = "setup", path = "/flows/Docs/setup", wait = "h1", expect = { "up to date" } },
    }
    local res_file = os.tmpname()
    local ok = H.sh(string.format("cd %s && timeout -k 5 300 node shoot.js %s %s %s > %s 2>&1",
      H.q(BROWSER_DIR), H.q(base), H.q(OUT), H.q(json.encode(plan)), H.q(res_file)))
    local text = H.read(res_file) or ""
    os.remove(res_file)
    assert.is_true(ok, text)
    local seen = 0
    for line in text:gmatch("[^\n]+") do
      local r = json.decode(line)
      if type(r) == "table" and r.name then
        seen = seen + 1
        assert.is_nil(r.error, r.name .. ": " .. tostring(r.error))
        assert.are.same({}, r.missing, r.name .. " is missing texts; it shows:\n" .. tostring(r.text))
        assert.are.same({}, r.requests_elsewhere, r.name .. ": requests left the server")
        assert.are.same({}, r.console_errors, r.name .. ": script errors")
        assert.is_true(exists(OUT .. "/" .. r.name .. ".png"), r.name .. ": no screenshot")
      end
    end
    assert.are.equal(#plan, seen, text)
  end)
end)
