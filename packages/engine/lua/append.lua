--[[
  Append events to one generation, atomically with its meta: fencing check, XADD at explicit
  offsets, counters, terminal status and expiry all happen in one step, so a reader can never
  see a terminal event whose status is not final, nor a stale writer slip an event in.

  KEYS[1]  events stream   <prefix>:{id}:events
  KEYS[2]  meta hash       <prefix>:{id}:meta
  ARGV[1]  fence           the writer's fencing token (from claim.lua)
  ARGV[2]  ttl             seconds both keys live after this write
  ARGV[3]  tokens          model tokens carried by this batch
  ARGV[4]  first_token_at  epoch ms of the batch's first token, or 0 when it carries none
  ARGV[5]  end             "" or a JSON object {status, finish_reason, usage, error, completed_at}
  ARGV[6]  count           number of events that follow
  ARGV[7]  after           offset the writer believes is the newest: events go to after+1 …
  ARGV[8…] per event: number of field/value items, then the items
  Returns: the offset of the newest event. A retry of an append that was already applied (the
           reply was lost: same offsets, and its last event equals the newest entry) returns the
           same answer and writes nothing: appends are idempotent.
  Errors:  MISSING (no meta: expired or unknown), FENCED (stale fence), ENDED (already terminal),
           OFFSET (the writer's idea of the newest offset is wrong)
]]
local fence = redis.call('HGET', KEYS[2], 'fence')
if not fence then return redis.error_reply('MISSING') end
if fence ~= ARGV[1] then return redis.error_reply('FENCED') end
local last = tonumber(redis.call('HGET', KEYS[2], 'last_offset') or '0')
local after = tonumber(ARGV[7])
local count = tonumber(ARGV[6])
if count > 0 and last == after + count then
  -- Looks like a retry of an applied append (its reply was lost). It is one only if its last
  -- event is the newest stored entry; otherwise the writer's offset is simply wrong.
  local j = 8
  for _ = 1, count - 1 do j = j + 1 + tonumber(ARGV[j]) end
  local nf = tonumber(ARGV[j])
  local entry = redis.call('XRANGE', KEYS[1], '0-' .. last, '0-' .. last)[1]
  if entry and #entry[2] == nf then
    local same = true
    for k = 1, nf do
      if entry[2][k] ~= ARGV[j + k] then same = false break end
    end
    if same then return last end
  end
  return redis.error_reply('OFFSET')
end
if last ~= after then return redis.error_reply('OFFSET') end
local status = redis.call('HGET', KEYS[2], 'status')
if status == 'completed' or status == 'failed' or status == 'cancelled' then
  return redis.error_reply('ENDED')
end

local i = 8
for _ = 1, tonumber(ARGV[6]) do
  local nf = tonumber(ARGV[i])
  i = i + 1
  last = last + 1
  redis.call('XADD', KEYS[1], '0-' .. last, unpack(ARGV, i, i + nf - 1))
  i = i + nf
end

redis.call('HSET', KEYS[2], 'last_offset', last)
if ARGV[3] ~= '0' then redis.call('HINCRBY', KEYS[2], 'tokens', ARGV[3]) end
if ARGV[4] ~= '0' and redis.call('HGET', KEYS[2], 'first_token_at') == '0' then
  redis.call('HSET', KEYS[2], 'first_token_at', ARGV[4])
end
if ARGV[5] ~= '' then
  local e = cjson.decode(ARGV[5])
  redis.call('HSET', KEYS[2], 'status', e.status, 'finish_reason', e.finish_reason,
    'usage', e.usage, 'error', e.error, 'completed_at', e.completed_at)
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return last
