--[[
  Settle one entry of an owner's Durable Streams ledger against its stream: drop it (giving its
  streams and bytes back) when the stream is gone (deleted, expired, collected), or move its
  re-check time to the stream's expiry. The caller read the entry's version, then the stream's
  PTTL (another slot), then calls this: the version check makes it a compare-and-set, so a write
  that reserved the name meanwhile is never undone, and an unexpired lease is never dropped.

  KEYS[1]  due     <prefix>:dsq:{o}:due  (see durable-quota-reserve.lua)
  KEYS[2]  ledger  <prefix>:dsq:{o}:ent
  ARGV[1]  name
  ARGV[2]  version  the entry's version, read before the PTTL
  ARGV[3]  pttl     PTTL of the stream's meta key: -2 gone, -1 no expiry, else ms left
  Returns: "removed" (its share was given back); "kept"; "moved" (changed since the version was
           read: left alone); "busy" (a write holds a lease on it: left for that write's finish,
           which is told to re-check); "absent".
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function fmt(n) return string.format('%.0f', n) end
local name = ARGV[1]
local raw = redis.call('HGET', KEYS[2], name)
if not raw then return 'absent' end
local f = {}
for x in string.gmatch(raw, '[^:]+') do table.insert(f, tonumber(x)) end
local b, v, p, lease = f[1], f[2], f[3], f[4]
if fmt(v) ~= ARGV[2] then return 'moved' end
if p > 0 and lease > now then
  -- The finish of the write under way will see another version and mark the entry for a re-check.
  redis.call('HSET', KEYS[2], name, fmt(b) .. ':' .. fmt(v + 1) .. ':' .. fmt(p) .. ':' .. fmt(lease))
  return 'busy'
end
local pttl = tonumber(ARGV[3])
if pttl == -2 then
  local total = tonumber(redis.call('HGET', KEYS[2], '') or '0')
  redis.call('ZREM', KEYS[1], name)
  redis.call('HDEL', KEYS[2], name)
  redis.call('HSET', KEYS[2], '', fmt(math.max(total - b, 0)))
  return 'removed'
end
redis.call('HSET', KEYS[2], name, fmt(b) .. ':' .. fmt(v) .. ':0:0')
if pttl == -1 then redis.call('ZADD', KEYS[1], 'inf', name) else redis.call('ZADD', KEYS[1], now + pttl, name) end
return 'kept'
