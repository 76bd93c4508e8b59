--[[
  Append events to one or more generations, each atomically with its meta: fencing check, the
  events at the next offsets, and at a checkpoint the counters and the expiry. So a reader never
  sees a terminal event whose status is not final, nor a stale writer slip an event in.

  This is the careful path (issue #13, bench/src/tier.ts measures both): checkpoints (the first
  append after a takeover among them), the terminal event, several events at once, and every
  append the fast path refused. The fast path (store.ts) is one plain
  `XADD key NOMKSTREAM <after+1>-<fence>`: the id itself checks the offset and the fence
  (protocol/src/offsets.ts, claim-2.lua), so a token costs no script. One call carries every
  careful append a producer made within one tick (on a Redis Cluster, those of one slot). The
  counters (last_offset, tokens) and the TTLs are written only at a checkpoint, which the store
  asks for every few seconds (the claim counts as the first one: claim-2.lua) and with the
  terminal event; between checkpoints the newest offset and the token count are those of the
  stream itself (store.ts getMeta adds the events after last_offset).

  KEYS (numkeys = 2 × generations), per generation i = 1, 2, …:
    KEYS[2i-1]  events stream   <prefix>:{id}:events   entry ids <offset>-<fence>
    KEYS[2i]    meta hash       <prefix>:{id}:meta
  ARGV[1]  bell   one Redis: the doorbell channel; "" on a Redis Cluster (the writer rings there)
  ARGV[2]  head   the ring's start, `{"w":…,"n":…,` (bell.ts ringHead)
  then, per generation in the same order, 8 items then its events:
    fence           the writer's fencing token (claim-2.lua)
    after           offset the writer believes is the newest: events go to after+1 …
    count           number of events that follow (≥ 1)
    first_token_at  epoch ms of the generation's first token as the writer knows it (it may have
                    gone by the fast path), "0" when none; written when the meta has none
    checkpoint      "0", or the TTL in seconds: write last_offset and tokens, refresh both TTLs
    tokens          model tokens of the generation once this batch is in (used at a checkpoint)
    end             "" or a JSON object {status, finish_reason, usage, error, completed_at}
    ring            what the ring says of this generation once it is written: "e" then its events
                    as JSON items `[id,offset,field,value,…],…` (offsets after+1 …), "g" then its
                    id as a JSON string (too big to carry), or "" for nothing
    per event: number of field/value items, then the items
  Returns: one integer per generation: the offset of its newest event, or an error code
     -1 MISSING  no meta: expired or unknown
     -2 FENCED   stale fence
     -3 ENDED    already terminal
     -4 OFFSET   the writer's idea of the newest offset is wrong
  A retry of an append that was applied (its reply was lost: same offsets, and its last event
  equals the newest entry) answers the same offset and writes nothing: appends are idempotent.
  With a bell, the script publishes the ring of what it wrote (and of such retries) itself, in
  the same wake of Redis as the writes: a confirmed ring, whatever else the flush carried.
]]
local function terminal(status)
  return status == 'completed' or status == 'failed' or status == 'cancelled'
end

-- The entry at offset `last` (whatever fence wrote it) equals the event whose items start at ARGV[j + 1].
local function same(events, last, j)
  local nf = tonumber(ARGV[j])
  local entry = redis.call('XRANGE', events, last, last)[1]
  if not entry or #entry[2] ~= nf then return false end
  for k = 1, nf do
    if entry[2][k] ~= ARGV[j + k] then return false end
  end
  return true
end

-- Offset of the stream's newest entry (its id is <offset>-<fence>); 0 when it has none.
local function newest(events)
  local top = redis.call('XREVRANGE', events, '+', '-', 'COUNT', 1)[1]
  if not top then return 0 end
  return tonumber(string.match(top[1], '^(%d+)-'))
end

local out = {}
local rung = {}
local a = 3
for g = 1, #KEYS / 2 do
  local events, meta = KEYS[2 * g - 1], KEYS[2 * g]
  local fence, after, count = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local first, ck, tokens, fin = ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6]
  rung[g] = ARGV[a + 7]
  -- Where each event's items start, and where the next generation's arguments start.
  local starts = {}
  local j = a + 8
  for e = 1, count do
    starts[e] = j
    j = j + 1 + tonumber(ARGV[j])
  end
  a = j

  local m = redis.call('HMGET', meta, 'fence', 'status', 'first_token_at', 'last_offset')
  local res
  if not m[1] then
    res = -1
  elseif m[1] ~= fence then
    res = -2
  elseif terminal(m[2]) then
    -- Ended: last_offset is exact (the terminal append is a checkpoint).
    local last = tonumber(m[4] or '0')
    if last == after + count then
      res = same(events, last, starts[count]) and last or -4
    elseif last ~= after then
      res = -4
    else
      res = -3
    end
  else
    local top = newest(events)
    if top ~= after then
      if top == after + count and same(events, top, starts[count]) then res = top else res = -4 end
    else
      local last = after
      for e = 1, count do
        local se = starts[e]
        last = last + 1
        redis.call('XADD', events, last .. '-' .. fence, unpack(ARGV, se + 1, se + tonumber(ARGV[se])))
      end
      local set = {}
      if first ~= '0' and (m[3] or '0') == '0' then
        set[#set + 1] = 'first_token_at'
        set[#set + 1] = first
      end
      if fin ~= '' or ck ~= '0' then
        set[#set + 1] = 'last_offset'
        set[#set + 1] = last
        set[#set + 1] = 'tokens'
        set[#set + 1] = tokens
      end
      if fin ~= '' then
        local e = cjson.decode(fin)
        for _, f in ipairs({'status', 'finish_reason', 'usage', 'error', 'completed_at'}) do
          set[#set + 1] = f
          set[#set + 1] = e[f]
        end
      end
      if #set > 0 then redis.call('HSET', meta, unpack(set)) end
      if ck ~= '0' then
        redis.call('EXPIRE', events, ck)
        redis.call('EXPIRE', meta, ck)
      end
      res = last
    end
  end
  out[g] = res
end
if ARGV[1] ~= '' then
  local e, named = {}, {}
  for g = 1, #out do
    local part = rung[g]
    if out[g] >= 0 and part ~= '' then
      if string.sub(part, 1, 1) == 'e' then e[#e + 1] = string.sub(part, 2) else named[#named + 1] = string.sub(part, 2) end
    end
  end
  redis.call('PUBLISH', ARGV[1], ARGV[2] .. '"e":[' .. table.concat(e, ',') .. '],"g":[' .. table.concat(named, ',') .. ']}')
end
return out
