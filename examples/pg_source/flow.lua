-- Support tickets in PostgreSQL -> chunks -> embeddings -> SQLite, kept
-- fresh in live mode by the table's own change notifications:
--
--   export COCO_DATABASE_URL=postgres://user@localhost:5432/db
--   psql "$COCO_DATABASE_URL" -f tickets.sql       # the table, six tickets
--   coco flow.lua -L                                # index, then follow changes
--   coco query flow.lua "my account is locked" -k 3
--
-- Setup creates a trigger on support_tickets that NOTIFYs each changed
-- ticket's id; live mode LISTENs and re-indexes that ticket at once. Spam
-- (status = 'spam') is left out by the source's filter: a ticket marked as
-- spam leaves the index, one unmarked comes back.
--
-- The vectors come from a Lua function (a hashed bag of words) unless
-- EMBED_API_TYPE says where a real model is (README.md).
local coco = require("coco")
local sources, functions, targets = coco.sources, coco.functions, coco.targets
local env = os.getenv

local DIM = 256
local function hash(s)
  local h = 5381
  for i = 1, #s do h = (h * 33 + s:byte(i)) % 16777213 end
  return h
end
-- words and word pairs hashed into DIM buckets with a sign, normalised:
-- texts that share words are near
local LocalEmbed = coco.fn("LocalEmbed", { returns = coco.types.vector("float32", DIM), cache = true, version = 1 },
  function(text)
    local v, prev = {}, nil
    for i = 1, DIM do v[i] = 0 end
    local function add(token, weight)
      local h = hash(token)
      local j = h % DIM + 1
      v[j] = v[j] + (math.floor(h / DIM) % 2 == 0 and weight or -weight)
    end
    for word in text:lower():gmatch("%a+") do
      if #word > 2 then
        add(word, 1)
        if prev then add(prev .. " " .. word, 0.5) end
        prev = word
      end
    end
    local n = 0
    for i = 1, DIM do n = n + v[i] * v[i] end
    n = math.sqrt(n)
    if n > 0 then for i = 1, DIM do v[i] = v[i] / n end end
    return v
  end)

-- or a real model: EMBED_API_TYPE=openai|ollama, EMBED_MODEL, EMBED_ADDRESS, EMBED_API_KEY_ENV
local Embed = LocalEmbed
if env("EMBED_API_TYPE") then
  Embed = functions.EmbedText{ api_type = env("EMBED_API_TYPE"), model = env("EMBED_MODEL"),
    address = env("EMBED_ADDRESS"), api_key_env = env("EMBED_API_KEY_ENV") }
end

-- the text of a ticket: its subject as a heading, then its body
local TicketText = coco.fn("TicketText", { returns = "str" }, function(subject, body)
  return "# " .. subject .. "\n\n" .. body
end)

return coco.flow("SupportTickets", function(flow, scope)
  scope.tickets = flow:add_source(
    sources.Postgres{ table_name = "support_tickets",   -- database: $COCO_DATABASE_URL
                      included_columns = { "subject", "body", "status" },
                      ordinal_column = "updated_at",
                      filter = "status <> 'spam'",
                      notification = {} },
    { refresh_interval = 300 })                        -- the safety net

  local chunks = scope:add_collector()
  scope.tickets:row(function(t)
    t.text = flow:transform(TicketText, t.subject, t.body)
    t.chunks = t.text:transform(functions.SplitRecursively{},
      { language = "markdown", chunk_size = 300, chunk_overlap = 50 })
    t.chunks:row(function(chunk)
      chunks:collect{ ticket_id = t.id, location = chunk.location, status = t.status,
                      text = chunk.text, embedding = chunk.text:transform(Embed) }
    end)
  end)

  chunks:export("chunks", targets.SQLite{ path = "tickets.sqlite" },
    { primary_key_fields = { "ticket_id", "location" } })

  -- coco query flow.lua "text" [-k 10]
  flow:query_handler("search", function(query, opts)
    return flow:top_k("chunks", "embedding", flow:call(Embed, query), opts.k)
  end)
end)
