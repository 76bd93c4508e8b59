--[[
  Append events to one or more generations, each atomically with its meta: fencing check, the
  events at the next offsets, and at a checkpoint the counters and the expiry. So a reader never
  sees a terminal event whose status is not final, nor a stale writer slip an event in.

  Why this shape (issue #13, bench/src/tier.ts measures it): one call carries every append a
  producer made within one tick (on Redis Cluster, those of one slot), so one script run and one
  round trip serve many generations; per token it runs one HMGET and one XADD. The offset check
  is the XADD itself: `0-*` takes the next offset, and when that is not after+1 the entry is
  taken back (XDEL, XSETID) and the call answers OFFSET, or the same offset for a retry. The
  counters (last_offset, tokens) and the TTLs are written only at a checkpoint, which the store
  asks for every few seconds, at the first append after a claim and with the terminal event;
  between checkpoints the newest offset and the token count are those of the stream itself
  (store.ts getMeta adds the events after last_offset).

  KEYS (numkeys = 2 × generations, + 1 with a bell), per generation i = 1, 2, …:
    KEYS[2i-1]  events stream   <prefix>:{id}:events
    KEYS[2i]    meta hash       <prefix>:{id}:meta
    last, when numkeys is odd:  the doorbell stream <prefix>:bell (one Redis only: on a Redis
                Cluster it lives on another slot, and the store rings it after the call). Gets
                one entry per call, id 0-<n> (n counts up by one, so a reader sees a gap when
                it fell behind the trimming), field g = the ids of the generations written,
                space-separated. Trimmed to about 2 000 entries: a reader further behind
                sweeps (tail.ts), so the bell needs no more, and its memory stays bounded.
  ARGV, per generation in the same order, 7 items then its events:
    fence           the writer's fencing token (claim-1.lua)
    after           offset the writer believes is the newest: events go to after+1 …
    count           number of events that follow (≥ 1)
    first_token_at  epoch ms of the batch's first token, "0" when it carries none
    checkpoint      "0", or the TTL in seconds: write last_offset and tokens, refresh both TTLs
    tokens          model tokens of the generation once this batch is in (used at a checkpoint)
    end             "" or a JSON object {status, finish_reason, usage, error, completed_at}
    per event: number of field/value items, then the items
  Returns: one integer per generation: the offset of its newest event, or an error code
     -1 MISSING  no meta: expired or unknown
     -2 FENCED   stale fence
     -3 ENDED    already terminal
     -4 OFFSET   the writer's idea of the newest offset is wrong
  A retry of an append that was applied (its reply was lost: same offsets, and its last event
  equals the newest entry) answers the same offset and writes nothing: appends are idempotent.
]]
local function terminal(status)
  return status == 'completed' or status == 'failed' or status == 'cancelled'
end

-- The newest entry (offset `last`) equals the event whose items start at ARGV[j + 1].
local function same(events, last, j)
  local nf = tonumber(ARGV[j])
  local entry = redis.call('XRANGE', events, '0-' .. last, '0-' .. last)[1]
  if not entry or #entry[2] ~= nf then return false end
  for k = 1, nf do
    if entry[2][k] ~= ARGV[j + k] then return false end
  end
  return true
end

local out = {}
local rung = {}
local a = 1
for g = 1, math.floor(#KEYS / 2) do
  local events, meta = KEYS[2 * g - 1], KEYS[2 * g]
  local fence, after, count = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local first, ck, tokens, fin = ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6]
  -- Where each event's items start, and where the next generation's arguments start.
  local starts = {}
  local j = a + 7
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
    local s = starts[1]
    local id = redis.call('XADD', events, '0-*', unpack(ARGV, s + 1, s + tonumber(ARGV[s])))
    local got = tonumber(string.sub(id, 3))
    if got ~= after + 1 then
      -- The newest offset was got-1, not `after`: take the entry back, and the stream's last id.
      local top = got - 1
      if top == 0 then
        redis.call('DEL', events)
      else
        redis.call('XDEL', events, id)
        redis.call('XSETID', events, '0-' .. top)
      end
      if top == after + count and same(events, top, starts[count]) then res = top else res = -4 end
    else
      local last = got
      for e = 2, count do
        local se = starts[e]
        last = last + 1
        redis.call('XADD', events, '0-' .. last, unpack(ARGV, se + 1, se + tonumber(ARGV[se])))
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
      rung[#rung + 1] = string.match(events, '{(.-)}')
    end
  end
  out[g] = res
end
if #KEYS % 2 == 1 and #rung > 0 then
  redis.call('XADD', KEYS[#KEYS], 'MAXLEN', '~', 2000, '0-*', 'g', table.concat(rung, ' '))
end
return out
