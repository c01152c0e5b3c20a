-- coco server (issue 17): the HTTP API over real HTTP (curl), its error
-- shapes, and each point of "safe by default". Every server is a child of
-- this process started on port 0 (its address read from its first line);
-- after_each kills and reaps it. Waits poll with a generous deadline.
local H = require("spec.helpers")
local P = require("spec.proc")
local ffi = require("ffi")
local json = require("dkjson")

local PATIENCE = 60

pcall(ffi.cdef, [[
int server_spec_socket(int domain, int type, int protocol) __asm__("socket");
int server_spec_close(int fd) __asm__("close");
long server_spec_write(int fd, const char *buf, unsigned long n) __asm__("write");
struct server_spec_sin { unsigned short family; unsigned short port; unsigned int addr; char zero[8]; };
int server_spec_connect(int fd, const struct server_spec_sin *a, unsigned int len) __asm__("connect");
]])
local C = ffi.C

local spawn, alive = P.spawn, P.alive

local function wait_for(what, fn, p) return P.wait_for(p, PATIENCE, what, fn) end

-- GET/POST with curl: status, body (and parsed JSON when it is JSON)
local function http(url, opts)
  opts = opts or {}
  local body = os.tmpname()
  local args = { "curl -s --path-as-is -m 60 -o " .. H.q(body) .. " -w '%{http_code}'" }
  if opts.method then args[#args + 1] = "-X " .. opts.method end
  for _, hd in ipairs(opts.headers or {}) do args[#args + 1] = "-H " .. H.q(hd) end
  if opts.data then args[#args + 1] = "--data-binary " .. H.q(opts.data) end
  if opts.data_file then args[#args + 1] = "--data-binary @" .. H.q(opts.data_file) end
  args[#args + 1] = H.q(url)
  local ph = io.popen(table.concat(args, " "))
  local code = tonumber(ph:read("*a"))
  ph:close()
  local text = H.read(body) or ""
  os.remove(body)
  local obj = text:match("^%s*[{%[]") and json.decode(text) or nil
  return code, text, obj
end

local FLOW = [[
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets
local Upper = coco.fn("Upper", { returns = "str", cache = true, version = 1 }, function(t)
  if t:find("BOOM", 1, true) then error("boom in this chunk") end
  return t:upper()
end)
local Slow = coco.fn("Slow", { returns = "str" }, function(t)
  local f = io.open("slow")
  if f then f:close(); os.execute("sleep 0.3") end
  return t
end)
return coco.flow("Docs", function(flow, scope)
  scope.documents = flow:add_source(sources.LocalFile{ path = "docs", included_patterns = { "*.md" } })
  local chunks = scope:add_collector()
  scope.documents:row(function(doc)
    doc.same = doc.content:transform(Slow)
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
    if q == "raise" then error("the handler failed on purpose") end
    return { { filename = "d1.md", text = "hit for " .. q, score = 0.9 } }
  end)
end)
]]

-- "flow.lua:N" of the first line of FLOW holding text
local function line_of(text)
  local n = 0
  for l in (FLOW .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if l:find(text, 1, true) then return "flow.lua:" .. n end
  end
end

local function fixture(ndocs)
  local d = H.tmpdir()
  H.write(d .. "/flow.lua", FLOW)
  for i = 1, ndocs or 5 do
    H.write(string.format("%s/docs/d%d.md", d, i), string.format(
      "# Doc %d\n\nHello world number %d. Some more text here to chunk.\n\n## Section\n\nAnother paragraph.\n", i, i))
  end
  return d
end

-- Starts `coco server` in dir; returns the process and its base URL.
local function serve(dir, args)
  local p = spawn(dir, H.q(H.bin) .. " server flow.lua --listen 127.0.0.1:0 " .. (args or ""))
  local addr = wait_for("the server's address", function()
    return (H.read(p.out) or ""):match("http://([%d%.]+:%d+)/")
  end, p)
  return p, "http://" .. addr, addr
end

describe("coco server", function()
  after_each(function() P.reap_all(); H.cleanup() end)

  it("serves the API of a flow: health, metrics, flows, graph, rows, a row through every step, exports, query", function()
    local d = fixture(5)
    local rc, _, err = H.coco(d, "flow.lua -q")
    assert.are.equal(0, rc, err)
    local p, base = serve(d)

    local code, _, o = http(base .. "/healthz")
    assert.are.equal(200, code)
    assert.are.equal("ok", o.status)

    code, _, o = http(base .. "/api/flows")
    assert.are.equal(200, code)
    assert.are.equal("Docs", o.flows[1].name)
    assert.are.equal("search", o.flows[1].query_handlers[1].name)

    code, _, o = http(base .. "/api/flows/Docs")
    assert.are.equal(200, code)
    local g = o.graph
    assert.are.equal("documents", g.sources[1].name)
    assert.are.equal("LocalFile", g.sources[1].kind)
    assert.are.same({ "filename" }, g.sources[1].key)
    assert.are.equal("doc_chunks", g.exports[1].name)
    assert.are.same({ "filename", "location" }, g.exports[1].key)
    local fns = {}
    for _, sc in ipairs(g.scopes) do
      for _, op in ipairs(sc.ops) do if op.kind == "transform" then fns[op.fn] = op.where end end
    end
    assert.are.equal(line_of("functions.SplitRecursively{}"), fns.SplitRecursively)
    assert.are.equal(line_of("chunk.text:transform(Upper)"), fns.Upper)
    assert.is_truthy(g.fingerprint:match("^%x+$"))
    assert.are.equal("up to date", o.setup.status)

    -- rows, paged by key
    code, _, o = http(base .. "/api/flows/Docs/sources/documents/rows?limit=2")
    assert.are.equal(200, code)
    assert.are.equal(2, #o.rows)
    assert.are.equal("d1.md", o.rows[1].key_text)
    assert.is_true(o.rows[1].current)
    assert.are.equal(3, o.rows[1].targets)
    assert.are.equal("d2.md", o.next)
    code, _, o = http(base .. "/api/flows/Docs/sources/documents/rows?limit=2&after=d2.md")
    assert.are.same({ "d3.md", "d4.md" }, { o.rows[1].key_text, o.rows[2].key_text })
    code, _, o = http(base .. "/api/flows/Docs/sources/documents/rows?q=d5")
    assert.are.equal(1, #o.rows)
    assert.is_nil(o.next)

    -- one row through every step: chunks with their locations, the rows it collects, lineage
    code, _, o = http(base .. "/api/flows/Docs/sources/documents/rows/d1.md")
    assert.are.equal(200, code)
    assert.is_nil(o.error)
    assert.is_true(o.state.up_to_date or o.state.current)
    local chunks = o.frame.nested.chunks
    assert.are.equal(3, #chunks)
    local f1 = {}
    for _, f in ipairs(chunks[1].fields) do f1[f.name] = f.value end
    assert.are.same({ 0, 30 }, f1.location)
    assert.are.equal("# DOC 1\n\nHELLO WORLD NUMBER 1.", f1.upper)
    assert.are.equal(3, #o.exports.doc_chunks)
    assert.are.equal(3, #o.lineage)
    for _, l in ipairs(o.lineage) do
      assert.are.equal("doc_chunks", l.export)
      assert.is_true(l.current and l.same)
    end

    -- what the export holds, linked to source rows
    code, _, o = http(base .. "/api/flows/Docs/exports/doc_chunks/rows?limit=1")
    assert.are.equal(200, code)
    assert.are.equal("d1.md", o.rows[1].source_key)
    assert.are.same({ "d1.md", { 0, 30 } }, o.rows[1].key)
    assert.is_truthy(o.next)
    local all, after, pages = 0, nil, 0
    repeat
      code, _, o = http(base .. "/api/flows/Docs/exports/doc_chunks/rows?limit=4" .. (after and ("&after=" .. after) or ""))
      all, after, pages = all + #o.rows, o.next, pages + 1
    until not after or pages > 20
    assert.are.equal(15, all)

    -- a query handler
    code, _, o = http(base .. "/api/flows/Docs/query/search?q=hello&k=3")
    assert.are.equal(200, code)
    assert.are.equal("hit for hello", o.rows[1].text)
    assert.are.equal(0.9, o.rows[1].score)

    -- metrics: Prometheus text
    local text
    code, text = http(base .. "/metrics")
    assert.are.equal(200, code)
    assert.is_truthy(text:find("# TYPE coco_source_rows_added_total counter", 1, true))
    assert.is_truthy(text:find('coco_source_rows_added_total{flow="Docs",source="documents"}', 1, true))
    assert.is_truthy(text:find("coco_source_batch_duration_seconds_bucket", 1, true))
    assert.is_truthy(text:find('coco_http_requests_total{code="2xx"}', 1, true))
    assert.is_true(alive(p))
  end)

  it("answers mistakes with {error} and 400, 404, 405, 409 or 500", function()
    local d = fixture(2)
    H.coco(d, "flow.lua -q")
    local _, base = serve(d)
    local cases = {
      { "/api/flows/Nope", 404, "no flow 'Nope'; flows: Docs" },
      { "/api/flows/Docs/sources/nope/rows", 404, "no source 'nope'; sources: documents" },
      { "/api/flows/Docs/sources/documents/rows/gone.md", 404, "no row with key 'gone.md'" },
      { "/api/flows/Docs/exports/nope/rows", 404, "no export 'nope'" },
      { "/api/flows/Docs/query/nope?q=x", 404, "no query handler 'nope'" },
      { "/api/flows/Docs/query/search", 400, "q (the query text) is missing" },
      { "/api/flows/Docs/query/search?q=raise", 500, line_of("the handler failed on purpose") .. ": the handler failed on purpose" },
      { "/api/flows/Docs/sources/documents/rows?limit=0", 400, "limit must be a positive integer" },
      { "/api/flows/Docs/exports/doc_chunks/rows?after=zz", 400, "not a page token" },
      { "/api/nothing", 404, "no such resource" },
      { "/static/../../etc/passwd", 404, "no such file" },
    }
    for _, c in ipairs(cases) do
      local code, text, o = http(base .. c[1])
      assert.are.equal(c[2], code, c[1] .. ": " .. text)
      assert.is_table(o, c[1])
      assert.is_truthy(tostring(o.error):find(c[3], 1, true), c[1] .. ": " .. text)
    end
    local code, _, o = http(base .. "/api/flows/Docs", { method = "DELETE" })
    assert.are.equal(405, code)
    assert.is_string(o.error)
    code, _, o = http(base .. "/api/flows/Docs/update", { method = "POST", data = '{"reexprt": true}' })
    assert.are.equal(400, code)
    assert.are.equal("unknown option 'reexprt'; options: full_reprocess, reexport", o.error)
    code, _, o = http(base .. "/api/flows/Docs/update", { method = "POST", data = "not json" })
    assert.are.equal(400, code)
    -- a key that does not decode: a source keyed by integers
    H.write(d .. "/nums.lua", [[
local coco = require("coco")
local Nums = coco.source{ name = "Nums", key = { { "n", "int64" } }, value = { { "body", "str" } },
  list = function() for i = 1, 3 do coroutine.yield(i) end end,
  get = function(n) return { body = "number " .. n } end }
return coco.flow("Nums", function(flow, scope)
  scope.nums = flow:add_source(Nums{})
  local c = scope:add_collector()
  scope.nums:row(function(r) c:collect{ n = r.n, body = r.body } end)
  c:export("out", coco.targets.SQLite{ path = "nums.sqlite" }, { primary_key_fields = { "n" } })
end)
]])
    local rc, _, err = H.coco(d, "nums.lua -q")
    assert.are.equal(0, rc, err)
    local p2 = spawn(d, H.q(H.bin) .. " server nums.lua --listen 127.0.0.1:0")
    local addr = wait_for("the server's address", function() return (H.read(p2.out) or ""):match("http://([%d%.]+:%d+)/") end, p2)
    code, _, o = http("http://" .. addr .. "/api/flows/Nums/sources/nums/rows/abc")
    assert.are.equal(400, code)
    assert.are.equal("key 'abc': expected an integer", o.error)
    code, _, o = http("http://" .. addr .. "/api/flows/Nums/sources/nums/rows/2")
    assert.are.equal(200, code)
    assert.are.equal(2, o.key)
  end)

  it("runs an update on POST without blocking the loop; 409 while one runs; events stream the batches", function()
    local d = fixture(4)
    H.coco(d, "flow.lua -q")
    local _, base, addr = serve(d)
    local ev = os.tmpname()
    local evp = spawn(d, "curl -s -N -m 120 " .. H.q(base .. "/api/events") .. " -o " .. H.q(ev))
    wait_for("an events client", function()
      local _, t = http(base .. "/metrics")
      return t:find("coco_http_event_streams 1", 1, true)
    end)
    H.write(d .. "/slow", "")             -- each row takes 0.3 s: the pass spans many steps
    local out = os.tmpname()
    local post = spawn(d, "curl -s -m 120 -X POST -d " .. H.q('{"full_reprocess": true}') .. " -o " .. H.q(out) .. " " .. H.q(base .. "/api/flows/Docs/update"))
    wait_for("the update to start", function()
      return (H.read(ev) or ""):find("event: update", 1, true)
    end)
    -- the loop answers while the pass runs
    local code, _, o = http(base .. "/api/flows/Docs/update", { method = "POST", data = "{}" })
    assert.are.equal(409, code)
    assert.is_truthy(o.error:find("running", 1, true))
    code = http(base .. "/healthz")
    assert.are.equal(200, code)
    wait_for("the POST to be answered", function() return not alive(post) end)
    o = json.decode(H.read(out))
    assert.are.equal("Docs", o.flow)
    assert.are.equal(4, o.sources[1].reprocessed)
    wait_for("a batch event", function() return (H.read(ev) or ""):find("event: batch", 1, true) end)
    local text = H.read(ev)
    assert.is_truthy(text:find('"reprocessed":4', 1, true), text)
    os.remove(ev)
    os.remove(out)
    assert.is_true(alive(evp))
    assert.is_truthy(addr)
  end)

  it("with -L runs the live updater in the same process: row errors with their retry, healthz, a full pass on POST", function()
    local d = fixture(2)
    H.write(d .. "/docs/bad.md", "# Bad\n\nThis one has BOOM in it.\n")
    local p, base = serve(d, "-L")
    wait_for("the initial pass", function()
      local code = http(base .. "/healthz")
      return code == 200
    end, p)
    local code, _, o = http(base .. "/api/flows/Docs/sources/documents/rows")
    assert.are.equal(200, code)
    assert.are.equal("bad.md", o.errors[1].key)
    assert.is_truthy(o.errors[1].message:find(line_of("boom in this chunk") .. ": boom in this chunk", 1, true))
    code, _, o = http(base .. "/api/flows/Docs/sources/documents/rows/bad.md")
    assert.are.equal(200, code)
    assert.is_truthy(o.error:find("boom in this chunk", 1, true))
    assert.is_truthy(o.last_error.at)
    code, _, o = http(base .. "/api/flows/Docs/live")
    assert.is_true(o.live)
    assert.are.equal(1, #o.sources[1].errors)
    -- a change is followed
    H.write(d .. "/docs/new.md", "# New\n\nA new document.\n")
    wait_for("the new row", function()
      local _, _, r = http(base .. "/api/flows/Docs/sources/documents/rows?q=new")
      return r and r.rows and #r.rows == 1
    end, p)
    code, _, o = http(base .. "/api/flows/Docs/update", { method = "POST", data = '{"reexport": true}' })
    assert.are.equal(200, code, o and o.error)
    assert.are.equal(3, o.sources[1].unchanged + o.sources[1].updated + o.sources[1].reprocessed + o.sources[1].added)
    local text
    code, text = http(base .. "/metrics")
    assert.is_truthy(text:find('coco_updater_up{flow="Docs"} 1', 1, true))
    assert.is_truthy(text:find('coco_source_row_errors{flow="Docs",source="documents"} 1', 1, true))
  end)

  it("is safe by default: Host, Origin, token, body size, no credentials, plain messages", function()
    local d = fixture(1)
    -- a target whose options hold a password: it never shows
    H.write(d .. "/pg.lua", [[
local coco = require("coco")
return coco.flow("Pg", function(flow, scope)
  scope.documents = flow:add_source(coco.sources.LocalFile{ path = "docs" })
  local c = scope:add_collector()
  scope.documents:row(function(doc) c:collect{ filename = doc.filename } end)
  c:export("t", coco.targets.Postgres{ database = "postgres://coco:hunter2@127.0.0.1:1/db" },
    { primary_key_fields = { "filename" } })
end)
]])
    local p = spawn(d, "env COCO_T=s3cret " .. H.q(H.bin) .. " server flow.lua pg.lua --listen 127.0.0.1:0 --token-env COCO_T")
    local addr = wait_for("the server's address", function() return (H.read(p.out) or ""):match("http://([%d%.]+:%d+)/") end, p)
    local base = "http://" .. addr
    local auth = "Authorization: Bearer s3cret"
    local code, _, o = http(base .. "/api/flows")
    assert.are.equal(401, code)
    assert.are.equal("a token is needed (Authorization: Bearer TOKEN)", o.error)
    code = http(base .. "/api/flows", { headers = { "Authorization: Bearer wrong" } })
    assert.are.equal(401, code)
    code = http(base .. "/", {})
    assert.are.equal(401, code)
    code = http(base .. "/api/flows", { headers = { auth } })
    assert.are.equal(200, code)
    -- ?token= once: the page, and a cookie for what follows
    local hdr = os.tmpname()
    H.sh("curl -s -o /dev/null -D " .. H.q(hdr) .. " " .. H.q(base .. "/?token=s3cret"))
    assert.is_truthy((H.read(hdr) or ""):find("Set-Cookie: coco_token=s3cret; HttpOnly; SameSite=Strict", 1, true))
    os.remove(hdr)
    code = http(base .. "/api/flows", { headers = { "Cookie: coco_token=s3cret" } })
    assert.are.equal(200, code)
    -- DNS rebinding: another Host is refused
    code, _, o = http(base .. "/api/flows", { headers = { auth, "Host: evil.example:80" } })
    assert.are.equal(403, code)
    assert.is_truthy(o.error:find("Host", 1, true))
    -- a POST from another origin is refused, from ours it goes
    code, _, o = http(base .. "/api/flows/Docs/update", { method = "POST", data = "{}",
      headers = { auth, "Origin: http://evil.example" } })
    assert.are.equal(403, code)
    assert.are.equal("a POST from another origin is refused", o.error)
    code = http(base .. "/api/flows/Docs/update", { method = "POST", data = "{}",
      headers = { auth, "Origin: " .. base } })
    assert.are.equal(200, code)
    -- a 100 MB body
    local big = os.tmpname()
    H.sh("head -c 104857600 /dev/zero > " .. H.q(big))
    code, _, o = http(base .. "/api/flows/Docs/update", { method = "POST", data_file = big, headers = { auth } })
    os.remove(big)
    assert.are.equal(413, code)
    assert.are.equal("request body too large", o.error)
    -- no credential in any response
    for _, path in ipairs({ "/api/flows", "/api/flows/Pg", "/api/flows/Pg/setup", "/metrics", "/api/flows/Pg/live" }) do
      local _, text = http(base .. path, { headers = { auth } })
      assert.is_nil(text:find("hunter2", 1, true), path .. ": " .. text)
      assert.is_nil(text:find("s3cret", 1, true), path)
    end
    local _, text = http(base .. "/api/flows/Pg", { headers = { auth } })
    assert.is_truthy(text:find("postgres://coco:***@127.0.0.1:1/db", 1, true), text)
    -- static files come from memory
    code, text = http(base .. "/static/app.js", { headers = { auth } })
    assert.are.equal(200, code)
    assert.is_truthy(#text > 1000)

    -- a non-loopback address needs a token; the port in use is a plain message
    local rc, _, err = H.coco(d, "server flow.lua --listen 0.0.0.0:0")
    assert.are.equal(1, rc)
    assert.are.equal("coco: listening on 0.0.0.0:0 needs a token (--token-env VAR): without one, anyone who can reach it could operate the flows\n", err)
    rc, _, err = H.coco(d, "server flow.lua --listen " .. addr)
    assert.are.equal(1, rc)
    assert.are.equal("coco: cannot listen on " .. addr .. ": Address already in use (another coco server? pick a port with --listen)\n", err)
    rc, _, err = H.coco(d, "server flow.lua --token-env COCO_UNSET_VAR")
    assert.are.equal(2, rc)
    assert.are.equal("coco: --token-env COCO_UNSET_VAR: the variable is not set\n", err)
  end)

  it("keeps answering with 1,000 connections open and an events client that never reads", function()
    local d = fixture(2)
    H.coco(d, "flow.lua -q")
    local p, base, addr = serve(d)
    local ip, port = addr:match("^([%d%.]+):(%d+)$")
    local a, b, c, e = ip:match("(%d+)%.(%d+)%.(%d+)%.(%d+)")
    local sin = ffi.new("struct server_spec_sin")
    sin.family = 2
    sin.port = bit.bor(bit.rshift(tonumber(port), 8), bit.lshift(bit.band(tonumber(port), 255), 8))
    sin.addr = tonumber(a) + tonumber(b) * 256 + tonumber(c) * 65536 + tonumber(e) * 16777216
    -- an events client that never reads what it is sent
    local ev = C.server_spec_socket(2, 1, 0)
    assert.are.equal(0, C.server_spec_connect(ev, sin, ffi.sizeof(sin)))
    local req = "GET /api/events HTTP/1.1\r\nHost: " .. addr .. "\r\n\r\n"
    C.server_spec_write(ev, req, #req)
    local fds = {}
    for i = 1, 1000 do
      local fd = C.server_spec_socket(2, 1, 0)
      if fd < 0 then break end
      C.server_spec_connect(fd, sin, ffi.sizeof(sin))
      fds[#fds + 1] = fd
    end
    assert.is_true(#fds >= 900)
    for _ = 1, 3 do
      local code = http(base .. "/api/flows/Docs/update", { method = "POST", data = "{}" })
      assert.is_true(code == 200 or code == 503, tostring(code))   -- 503: refused beyond the connection limit
    end
    for _, fd in ipairs(fds) do C.server_spec_close(fd) end
    local code = wait_for("healthz after the connections closed", function()
      local c2 = http(base .. "/healthz")
      return c2 == 200 and c2
    end, p)
    assert.are.equal(200, code)
    local _, _, o = http(base .. "/api/flows/Docs/sources/documents/rows")
    assert.are.equal(2, #o.rows)
    C.server_spec_close(ev)
    assert.is_true(alive(p))
  end)

  it("is driven from a host loop through flow:serve (fd, timeout, step)", function()
    local d = fixture(2)
    H.coco(d, "flow.lua -q")
    H.write(d .. "/host.lua", string.format([[
package.cpath = %q .. "/?.so;" .. package.cpath
local coco = require("coco")
local flow = assert(coco.load("flow.lua"))
local s = assert(flow:serve{ listen = "127.0.0.1:0" })
assert(type(s:fd()) == "number")
io.stdout:write("coco: serving Docs on http://", s:address(), "/\n")
io.stdout:flush()
while true do
  local t = s:timeout()
  assert(s:step(t and math.floor(t * 1000) or 1000))
  local f = io.open("stop") if f then f:close() break end
end
s:close()
flow:close()
io.stdout:write("closed\n")
]], H.so_dir))
    local p = spawn(d, "luajit host.lua")
    local addr = wait_for("the server's address", function() return (H.read(p.out) or ""):match("http://([%d%.]+:%d+)/") end, p)
    local code, _, o = http("http://" .. addr .. "/api/flows/Docs/sources/documents/rows/d2.md")
    assert.are.equal(200, code)
    assert.are.equal(3, #o.frame.nested.chunks)
    code = http("http://" .. addr .. "/api/flows/Docs/update", { method = "POST", data = "{}" })
    assert.are.equal(200, code)
    H.write(d .. "/stop", "")
    http("http://" .. addr .. "/healthz")
    wait_for("the host to stop", function() return not alive(p) end)
    assert.are.equal(0, p.code, H.read(p.err))
    assert.is_truthy((H.read(p.out) or ""):find("closed", 1, true))
  end)
end)
