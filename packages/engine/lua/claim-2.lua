--[[
  Take over a generation for writing: bump its fence so any earlier writer is shut out, mark it
  running, and refresh both keys' expiry (appends refresh it only every few seconds: append.lua).
  The claim counts as the writer's first checkpoint (store.ts), so its first token can already
  take the fast path: a plain XADD NOMKSTREAM, which needs the stream to exist. A generation with
  no stream yet gets an empty one here, its last id where a takeover would put it.

  Shutting out an earlier writer takes two things. Its careful appends (append.lua) compare the
  meta's fence. Its fast appends are plain `XADD <after+1>-<old fence>` (store.ts): for those the
  stream's last id moves to `<top+1>-<new fence - 1>`, where top is the offset of the newest
  entry. Any id an earlier fence could write next is then at or below it and XADD refuses it,
  while this claimer's first event, `<top+1>-<new fence>`, is above it: offsets stay contiguous.

  KEYS[1]  meta hash      <prefix>:{id}:meta
  KEYS[2]  events stream  <prefix>:{id}:events
  ARGV[1]  producer       name of the claiming producer
  ARGV[2]  now            epoch ms
  ARGV[3]  ttl            seconds both keys live from now
  ARGV[4]  bell           one Redis: the doorbell channel, where the new fence is announced (bell.ts:
                          a reader that knows it distrusts a provisional ring of an older fence);
                          "" on a Redis Cluster, whose rings are confirmed
  ARGV[5]  id             the generation's id as a JSON string (the notice's)
  Returns: {new fence, offset of the newest event (0: none), the meta as HGETALL gives it} (so
  the claimer needs no second read), 0 when the generation is missing, -1 when it has already ended
]]
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 0 end
if status == 'completed' or status == 'failed' or status == 'cancelled' then return -1 end
local fence = redis.call('HINCRBY', KEYS[1], 'fence', 1)
-- Announced inside the claim, so it reaches every reader before any ring of a write this claim
-- refuses (that write runs after the claim, its ring after the write).
if ARGV[4] ~= '' then
  redis.call('PUBLISH', ARGV[4], '{"c":' .. ARGV[5] .. ',"f":' .. fence .. '}')
end
redis.call('HSET', KEYS[1], 'status', 'running', 'producer', ARGV[1])
if redis.call('HGET', KEYS[1], 'started_at') == '0' then
  redis.call('HSET', KEYS[1], 'started_at', ARGV[2])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
local offset = 0
if redis.call('EXISTS', KEYS[2]) == 1 then
  local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
  offset = top and tonumber(string.match(top[1], '^(%d+)-')) or 0
  redis.call('XSETID', KEYS[2], (offset + 1) .. '-' .. (fence - 1))
else
  -- Nobody has written: an empty stream whose last id is 1-<fence - 1> (an entry added and
  -- deleted: a stream stays when its last entry goes). This fence's first event, 1-<fence>, is
  -- above it; an earlier fence's 1-<f> is not.
  local last = '1-' .. (fence - 1)
  redis.call('XADD', KEYS[2], last, 't', '')
  redis.call('XDEL', KEYS[2], last)
end
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {fence, offset, redis.call('HGETALL', KEYS[1])}
