-- The AmazonS3 source (issue 7) against real local servers: s3rver for S3
-- and fauxqs for SQS (npm, pinned by spec/servers/s3/package-lock.json),
-- both on 127.0.0.1 with ports picked per run, started once for this file
-- by spec/servers_s3.lua. s3rver does not check signatures, so the
-- signature specs go through a proxy that checks each request against
-- botocore's signer (Debian's python3-botocore). Each bucket belongs to
-- one test; every coco run gets its own temp dir and state.
local H = require("spec.helpers")
local S3 = require("spec.servers_s3")
local P = require("spec.proc")

local CREDS = { AWS_ACCESS_KEY_ID = "S3RVER", AWS_SECRET_ACCESS_KEY = "S3RVER", AWS_REGION = "us-east-1",
  AWS_SESSION_TOKEN = "", AWS_ENDPOINT_URL = "", AWS_ENDPOINT_URL_S3 = "" }

local function env(extra)
  local e = {}
  for k, v in pairs(CREDS) do e[k] = v end
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

-- A flow with one AmazonS3 source; each object becomes one row of
-- NAME__objects (filename, content[, tag]).
local function flow(o)
  local opts = { ("bucket_name = %q"):format(o.bucket), ("endpoint = %q"):format(o.endpoint) }
  if o.prefix then opts[#opts + 1] = ("prefix = %q"):format(o.prefix) end
  if o.included then opts[#opts + 1] = "included_patterns = { " .. ("%q"):format(o.included) .. " }" end
  if o.binary then opts[#opts + 1] = "binary = true" end
  if o.decode then opts[#opts + 1] = ("decode_errors = %q"):format(o.decode) end
  if o.max then opts[#opts + 1] = "max_file_size = " .. o.max end
  if o.sqs then opts[#opts + 1] = ("sqs_queue_url = %q"):format(o.sqs) end
  local sopts = o.refresh and (", { refresh_interval = " .. o.refresh .. " }") or ""
  return string.format([[
local coco = require("coco")
local sources, targets = coco.sources, coco.targets
%s
return coco.flow(%q, function(flow, scope)
  scope.objects = flow:add_source(sources.AmazonS3{ %s }%s)
  local out = scope:add_collector()
  scope.objects:row(function(obj)
    %s
    out:collect{ filename = obj.filename, content = obj.content%s }
  end)
  out:export("objects", targets.SQLite{ path = "index.sqlite" }, { primary_key_fields = { "filename" } })
end)
]], o.prelude or "", o.name or "S3", table.concat(opts, ", "), sopts, o.row or "", o.row and ", tag = obj.tag" or "")
end

local function setup_dir(o)
  local d = H.tmpdir()
  H.write(d .. "/flow.lua", flow(o))
  return d
end

local function run(d, e, args)
  local rc, out, err = H.coco(d, "flow.lua --json " .. (args or ""), env(e))
  local st = H.json_lines(out)[1]
  return rc, st, err, out
end

local function rows(d, name)
  return H.sql(d .. "/index.sqlite", "SELECT filename, content FROM " .. (name or "S3") ..
    "__objects ORDER BY filename")
end

local function count(d, name)
  return H.sql(d .. "/index.sqlite", "SELECT count(*) AS n FROM " .. (name or "S3") .. "__objects")[1].n
end

describe("AmazonS3 source", function()
  local srv, why

  lazy_setup(function()
    srv, why = S3.start{ buckets = { "big", "docs", "edit", "race", "sizes", "live", "events", "sig", "keys" } }
  end)

  lazy_teardown(function()
    if srv then srv:stop() end
    P.reap_all(true)
  end)

  after_each(function()
    P.reap_all()
    H.cleanup()
  end)

  local function need()
    if not srv then pending("s3rver/fauxqs not available: " .. tostring(why)) return false end
    return true
  end

  it("lists 2,600 keys over three pages, reads each once, then lists only; a listing that fails midway deletes nothing", function()
    if not need() then return end
    srv:fill("big", "k/", 2600, 300)
    local d = setup_dir{ bucket = "big", endpoint = srv.s3 }
    srv:reset_stats()
    local rc, st, err = run(d)
    assert.are.equal(0, rc, err)
    assert.are.same({ 2600, 0, 0 }, { st.added, st.updated, st.errors })
    local s = srv:stats()
    assert.are.same({ list = 3, get = 2600, head = 0 }, { list = s.list, get = s.get, head = s.head })
    assert.are.equal(2600, count(d))
    local r = H.sql(d .. "/index.sqlite", "SELECT content FROM S3__objects WHERE filename = 'k/01234.txt'")
    assert.truthy(r[1].content:match("^# Document 1234\n"))

    srv:reset_stats()
    rc, st, err = run(d)
    assert.are.equal(0, rc, err)
    assert.are.same({ 0, 2600 }, { st.added, st.unchanged })
    s = srv:stats()
    assert.are.same({ 3, 0 }, { s.list, s.get })   -- ceil(2600 / 1000) lists, no GetObject

    -- the endpoint goes down after the first page: the update fails, no row goes
    local url = srv:proxy{ creds = { "S3RVER:S3RVER" }, drop_lists_after = 1 }
    H.write(d .. "/flow.lua", flow{ bucket = "big", endpoint = url })
    rc, st, err = run(d)
    assert.are_not.equal(0, rc)
    assert.truthy(err:match("AmazonS3: s3://big/: cannot list: cannot reach " .. url:gsub("%p", "%%%0")), err)
    assert.are.equal(2600, count(d))
    -- back up: nothing to do
    H.write(d .. "/flow.lua", flow{ bucket = "big", endpoint = srv.s3 })
    rc, st, err = run(d)
    assert.are.equal(0, rc, err)
    assert.are.same({ 0, 0, 2600 }, { st.added, st.deleted, st.unchanged })
  end)

  it("decodes keys with spaces, '+' and unicode; applies prefix, patterns, binary and decode_errors", function()
    if not need() then return end
    local keys = { "docs/a b.md", "docs/c+d.md", "docs/ünï/é 1+1.md", "docs/100%.md", "docs/skip.txt", "other/x.md" }
    for _, k in ipairs(keys) do srv:put("docs", k, "# " .. k .. "\n") end
    srv:put("docs", "docs/img.bin", "\0\1\2\255")
    srv:put("docs", "docs/latin1.txt", "caf\233 cr\232me\n")
    local d = setup_dir{ bucket = "docs", endpoint = srv.s3, prefix = "docs/", included = "*.md" }
    local rc, st, err = run(d)
    assert.are.equal(0, rc, err)
    assert.are.equal(4, st.added)
    assert.are.same({
      { filename = "docs/100%.md", content = "# docs/100%.md\n" },
      { filename = "docs/a b.md", content = "# docs/a b.md\n" },
      { filename = "docs/c+d.md", content = "# docs/c+d.md\n" },
      { filename = "docs/ünï/é 1+1.md", content = "# docs/ünï/é 1+1.md\n" },
    }, rows(d))

    local b = setup_dir{ bucket = "docs", endpoint = srv.s3, prefix = "docs/", included = "*.bin", binary = true }
    rc, st, err = run(b)
    assert.are.equal(0, rc, err)
    assert.are.same({ { f = "docs/img.bin", h = "000102FF" } },
      H.sql(b .. "/index.sqlite", "SELECT filename AS f, hex(content) AS h FROM S3__objects"))
    -- not UTF-8 without binary: read as text, each invalid sequence replaced
    -- with U+FFFD, one warning per object naming it; exit 0
    local t = setup_dir{ bucket = "docs", endpoint = srv.s3, prefix = "docs/" }
    rc, st, err = run(t)
    assert.are.equal(0, rc, err)
    assert.are.same({ 7, 2, 0 }, { st.added, st.warnings, st.errors })
    assert.truthy(err:find("s3://docs/docs/img.bin: not valid UTF-8 (first bad byte at 3); "
      .. "1 invalid sequence replaced with U+FFFD", 1, true), err)
    assert.truthy(err:find("s3://docs/docs/latin1.txt: not valid UTF-8 (first bad byte at 3); "
      .. "2 invalid sequences replaced with U+FFFD", 1, true), err)
    assert.are.same({ { f = "docs/img.bin", h = "000102EFBFBD" }, { f = "docs/latin1.txt", h = "636166EFBFBD206372EFBFBD6D650A" } },
      H.sql(t .. "/index.sqlite", "SELECT filename AS f, hex(content) AS h FROM S3__objects "
        .. "WHERE filename IN ('docs/img.bin', 'docs/latin1.txt') ORDER BY 1"))
    -- decode_errors = "strict": a row error naming the object, the others go on
    t = setup_dir{ bucket = "docs", endpoint = srv.s3, prefix = "docs/", decode = "strict" }
    rc, st, err = run(t)
    assert.are_not.equal(0, rc)
    assert.are.same({ 5, 0, 2 }, { st.added, st.warnings, st.errors })
    assert.truthy(err:find("s3://docs/docs/img.bin: not valid UTF-8 (byte 3); set binary = true", 1, true), err)
    assert.truthy(err:find("s3://docs/docs/latin1.txt: not valid UTF-8 (byte 3); set binary = true", 1, true), err)
  end)

  it("sees added, modified and deleted objects, and an overwrite within the same second", function()
    if not need() then return end
    srv:put("edit", "a.md", "version one!")
    srv:put("edit", "b.md", "bee")
    local d = setup_dir{ bucket = "edit", endpoint = srv.s3 }
    local rc, st, err = run(d)
    assert.are.equal(0, rc, err)
    assert.are.equal(2, st.added)

    srv:put("edit", "b.md", "bee, changed")
    srv:put("edit", "c.md", "sea")
    rc, st, err = run(d)
    assert.are.same({ 1, 1, 0, 1 }, { st.added, st.updated, st.deleted, st.unchanged })
    srv:delete("edit", "c.md")
    rc, st, err = run(d)
    assert.are.same({ 0, 0, 1, 2 }, { st.added, st.updated, st.deleted, st.unchanged })

    -- same size, same LastModified second (the file's mtime, set back), new ETag
    local before = srv:head("edit", "a.md")
    local f = srv:object_file("edit", "a.md")
    local p = io.popen("stat -c %Y " .. H.q(f))
    local mtime = p:read("*l")
    p:close()
    srv:put("edit", "a.md", "version two!")
    H.sh("touch -d @" .. mtime .. " " .. H.q(f) .. " " .. H.q(f .. ".md5") .. " " ..
      H.q(srv.data .. "/edit/a.md._S3rver_metadata.json"))
    local after = srv:head("edit", "a.md")
    assert.are.equal(before["last-modified"], after["last-modified"])
    assert.are_not.equal(before.etag, after.etag)
    rc, st, err = run(d)
    assert.are.equal(0, rc, err)
    assert.are.same({ 0, 1, 0 }, { st.added, st.updated, st.deleted })
    assert.are.equal("version two!", rows(d)[1].content)
  end)

  it("skips an object deleted between list and read, and one over max_file_size (counted)", function()
    if not need() then return end
    srv:fill("race", "k/", 600, 100)
    local last = srv.s3 .. "/race/k/00599.txt"
    local d = setup_dir{ bucket = "race", endpoint = srv.s3,
      prelude = ([[local zap = coco.fn("Zap", {}, function(name)
  if name == "k/00000.txt" then os.execute("curl -s -X DELETE %s >/dev/null") end
  return name
end)]]):format(last),
      row = "obj.tag = obj.filename:transform(zap)" }
    local rc, st, err = run(d)
    assert.are.equal(0, rc, err)
    assert.are.same({ 599, 0 }, { st.added, st.errors })
    assert.are.equal(599, count(d))

    srv:put("sizes", "small.md", "tiny")
    srv:put("sizes", "large.md", string.rep("x", 5000))
    local m = setup_dir{ bucket = "sizes", endpoint = srv.s3, max = 1000 }
    rc, st, err = run(m)
    assert.are.equal(0, rc, err)
    assert.are.equal(1, st.added)
    assert.truthy(err:find("AmazonS3: s3://sizes/: 1 object over max_file_size (1000 bytes) skipped", 1, true), err)
  end)

  it("reads a key of 1,024 bytes", function()
    if not need() then return end
    local seg = string.rep("s", 200)
    local key = "long/" .. seg .. "/" .. seg .. "/" .. seg .. "/" .. seg .. "/"
    key = key .. string.rep("e", 1024 - #key - 3) .. ".md"
    assert.are.equal(1024, #key)
    srv:put("keys", key, "deep")
    local d = setup_dir{ bucket = "keys", endpoint = srv.s3 }
    local rc, st, err = run(d)
    assert.are.equal(0, rc, err)
    assert.are.same({ { filename = key, content = "deep" } }, rows(d))
  end)

  it("says what is wrong: a missing bucket, rejected credentials (naming the key id, never the secret)", function()
    if not need() then return end
    local d = setup_dir{ bucket = "no-such-bucket", endpoint = srv.s3 }
    local rc, st, err = run(d)
    assert.are_not.equal(0, rc)
    assert.truthy(err:find("AmazonS3: bucket 'no-such-bucket' does not exist (at " .. srv.s3 .. ")", 1, true), err)

    srv:put("keys", "k.md", "k")
    d = setup_dir{ bucket = "keys", endpoint = srv.s3 }
    rc, st, err = run(d, { AWS_ACCESS_KEY_ID = "AKIAWRONGKEY", AWS_SECRET_ACCESS_KEY = "top-secret-value" })
    assert.are_not.equal(0, rc)
    assert.truthy(err:find("access key id 'AKIAWRONGKEY' was rejected (InvalidAccessKeyId", 1, true), err)
    assert.falsy(err:find("top-secret-value", 1, true))
    -- nothing was written, nothing is stored of the credentials
    assert.falsy(H.sh("grep -rq top-secret-value " .. H.q(d)))
  end)

  it("signs every request as botocore does (pages, odd keys, session token, SQS); a wrong secret is named", function()
    if not need() then return end
    srv:fill("sig", "p/", 1100, 10)
    for _, k in ipairs{ "q/a b.md", "q/c+d.md", "q/ünï.md", "q/x~y_z-1.2.md", "q/pct%20.md", "q/eq=&amp.md" } do
      srv:put("sig", k, k)
    end
    local url, log = srv:proxy{ creds = { "S3RVER:S3RVER" } }
    local d = setup_dir{ bucket = "sig", endpoint = url }
    local rc, st, err = run(d, { AWS_SESSION_TOKEN = "FwoGZXIvYXdzE+token/with=chars" })
    assert.are.equal(0, rc, err)
    assert.are.equal(1106, st.added)
    local p = setup_dir{ bucket = "sig", endpoint = url, prefix = "q/a b" }
    rc, st, err = run(p)
    assert.are.equal(0, rc, err)
    assert.are.equal(1, st.added)

    -- SQS through the proxy: GetQueueAttributes, ReceiveMessage, DeleteMessageBatch
    local q = srv:queue("sigq")
    local l = setup_dir{ bucket = "sig", endpoint = url, prefix = "q/", sqs = q }
    local e = env{ AWS_ENDPOINT_URL_SQS = url }
    local envs = ""
    for k, v in pairs(e) do envs = envs .. k .. "=" .. H.q(v) .. " " end
    local live = P.spawn(l, "env " .. envs .. H.q(H.bin) .. " flow.lua -L --json")
    P.wait_for(live, 20, "the initial pass", function() return P.stdout(live):find("\n") end)
    srv:put("sig", "q/new one.md", "fresh")
    srv:send(q, S3.event("sig", { { key = "q/new one.md" } }))
    P.wait_for(live, 10, "the event's row", function()
      return #H.sql(l .. "/index.sqlite", "SELECT 1 FROM S3__objects WHERE filename = 'q/new one.md'") == 1
    end)
    P.wait_for(live, 10, "the message deleted", function() return srv:queue_depth(q) == 0 end)
    P.signal(live, 15)
    assert.are.same({ "exit", 0 }, { P.wait_exit(live, 10) })

    local text = H.read(log)
    local n, bad = 0, {}
    for line in text:gmatch("[^\n]+") do
      if line:match("^MATCH ") then n = n + 1 elseif not line:match("^  ") then bad[#bad + 1] = line end
    end
    assert.are.same({}, bad, text:sub(1, 3000))
    assert.truthy(n >= 1106 + 2 + 4)
    assert.truthy(text:find("MATCH s3 GET /sig?continuation-token=", 1, true))
    assert.truthy(text:find("MATCH sqs POST /", 1, true))
    assert.truthy(text:find("MATCH s3 GET /sig/q/c%2Bd.md", 1, true))
    assert.truthy(text:find("MATCH s3 GET /sig/q/a%20b.md", 1, true))

    -- the oracle disagrees with a wrong secret, as S3 would
    local w = setup_dir{ bucket = "sig", endpoint = url, prefix = "q/" }
    rc, st, err = run(w, { AWS_SECRET_ACCESS_KEY = "not-the-secret" })
    assert.are_not.equal(0, rc)
    assert.truthy(err:find("the secret access key does not match access key id 'S3RVER' (SignatureDoesNotMatch)", 1, true), err)
    assert.falsy(err:find("not-the-secret", 1, true))
  end)

  describe("live mode", function()
    local function start_live(d, extra)
      local envs = ""
      for k, v in pairs(env(extra)) do envs = envs .. k .. "=" .. H.q(v) .. " " end
      local p = P.spawn(d, "env " .. envs .. H.q(H.bin) .. " flow.lua -L --json")
      P.wait_for(p, 20, "the initial pass", function() return P.stdout(p):find("\n") end)
      return p
    end

    local function has_row(d, key, content)
      local r = H.sql(d .. "/index.sqlite", "SELECT content FROM S3__objects WHERE filename = '" ..
        key:gsub("'", "''") .. "'")
      if content == nil then return #r == 0 end
      return #r == 1 and r[1].content == content
    end

    it("refresh_interval re-lists and reads only what changed", function()
      if not need() then return end
      srv:put("live", "a.md", "a")
      srv:put("live", "b.md", "b")
      local d = setup_dir{ bucket = "live", endpoint = srv.s3, refresh = 0.3 }
      local p = start_live(d)
      assert.is_true(has_row(d, "a.md", "a"))
      srv:put("live", "new.md", "new")
      P.wait_for(p, 10, "the new object", function() return has_row(d, "new.md", "new") end)
      srv:put("live", "a.md", "a, edited")
      P.wait_for(p, 10, "the edit", function() return has_row(d, "a.md", "a, edited") end)
      srv:delete("live", "b.md")
      P.wait_for(p, 10, "the deletion", function() return has_row(d, "b.md", nil) end)
      -- idle: lists go on, no object is read
      srv:reset_stats()
      P.wait_for(p, 10, "three more refreshes", function() return srv:stats().list >= 3 end)
      assert.are.equal(0, srv:stats().get)
      P.signal(p, 15)
      assert.are.same({ "exit", 0 }, { P.wait_exit(p, 10) })
    end)

    it("takes S3 events from SQS: decoded keys, SNS envelopes, test events, duplicates, redelivery", function()
      if not need() then return end
      local q = srv:queue("events", { VisibilityTimeout = "1" })
      srv:put("events", "docs/a.md", "a")
      local d = setup_dir{ bucket = "events", endpoint = srv.s3, prefix = "docs/", sqs = q }
      local p = start_live(d, { AWS_ENDPOINT_URL_SQS = srv.sqs })
      assert.is_true(has_row(d, "docs/a.md", "a"))

      -- an object created, its event with the key encoded the AWS way: the
      -- event brings the row (no listing)
      srv:put("events", "docs/x y+z é.md", "xyz")
      srv:reset_stats()
      srv:send(q, S3.event("events", { { key = "docs/x y+z é.md" } }))
      P.wait_for(p, 10, "the event's row", function() return has_row(d, "docs/x y+z é.md", "xyz") end)
      assert.are.equal(0, srv:stats().list)
      -- deleted: ObjectRemoved, wrapped by SNS
      srv:delete("events", "docs/a.md")
      srv:send(q, { Type = "Notification", MessageId = "n1", TopicArn = "arn:aws:sns:us-east-1:0:t",
        Message = H.json.encode(S3.event("events", { { key = "docs/a.md", name = "ObjectRemoved:Delete" } })) })
      P.wait_for(p, 10, "the deletion", function() return has_row(d, "docs/a.md", nil) end)
      -- a test event, another bucket, a key outside the prefix: nothing to do, deleted
      srv:send(q, { Service = "Amazon S3", Event = "s3:TestEvent", Bucket = "events" })
      srv:send(q, S3.event("elsewhere", { { key = "docs/a.md" } }))
      srv:send(q, S3.event("events", { { key = "private/z.md" } }))
      -- the same event three times: one row, every message deleted
      srv:put("events", "docs/dup.md", "dup")
      for _ = 1, 3 do srv:send(q, S3.event("events", { { key = "docs/dup.md" } })) end
      P.wait_for(p, 10, "the duplicate's row", function() return has_row(d, "docs/dup.md", "dup") end)
      P.wait_for(p, 10, "an empty queue", function() return srv:queue_depth(q) == 0 end)

      -- redelivery: another consumer took a message and died; it comes back
      P.signal(p, 15)
      assert.are.same({ "exit", 0 }, { P.wait_exit(p, 10) })
      srv:put("events", "docs/late.md", "late")
      srv:send(q, S3.event("events", { { key = "docs/late.md" } }))
      local got = srv:sqs_call("ReceiveMessage", { QueueUrl = q, MaxNumberOfMessages = 10, WaitTimeSeconds = 2 })
      assert.are.equal(1, #(got.Messages or {}))      -- taken, not deleted: back after 1 s
      p = start_live(d, { AWS_ENDPOINT_URL_SQS = srv.sqs })
      P.wait_for(p, 10, "the redelivered event's row", function() return has_row(d, "docs/late.md", "late") end)
      P.wait_for(p, 10, "an empty queue", function() return srv:queue_depth(q) == 0 end)
      P.signal(p, 15)
      assert.are.same({ "exit", 0 }, { P.wait_exit(p, 10) })
      assert.are.same({ "docs/dup.md", "docs/late.md", "docs/x y+z é.md" },
        (function() local t = {} for _, r in ipairs(rows(d)) do t[#t + 1] = r.filename end return t end)())
    end)
  end)

  it("runs examples/s3_docs as its README says", function()
    if not need() then return end
    local d = H.tmpdir()
    H.sh("cp -r " .. H.q(S3.root .. "/examples/s3_docs") .. "/. " .. H.q(d))
    srv:mkbucket("example")
    for name in io.popen("ls " .. H.q(d .. "/docs")):lines() do
      srv:put("example", "docs/" .. name, H.read(d .. "/docs/" .. name))
    end
    local rc, out, err = H.coco(d, "flow.lua", env{ S3_BUCKET = "example", S3_PREFIX = "docs/",
      S3_ENDPOINT = srv.s3, SQS_QUEUE_URL = "" })
    assert.are.equal(0, rc, err)
    assert.truthy(out:find("S3Docs.documents: %d+ rows: %d+ added"), out)
    local n = H.sql(d .. "/index.sqlite", "SELECT count(DISTINCT filename) AS n FROM S3Docs__doc_chunks")[1].n
    assert.truthy(n >= 3)
  end)
end)
