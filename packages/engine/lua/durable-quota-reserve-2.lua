--[[
  Reserve room in an owner's Durable Streams quota (issue #14.2) before a create or an append,
  atomically with the check, so a burst of concurrent writes cannot pass the limit together
  (PITFALLS: check, await, insert). The ledger lives on the owner's slot, the stream on its own:
  one script cannot touch both on a Redis Cluster, so the write reserves here first and reports
  how it went with durable-quota-finish.lua. A reservation is a lease: if its edge dies before
  finishing, the lease runs out and durable-quota-settle.lua may drop what it held.

  KEYS[1]  due     <prefix>:dsq:{o}:due  zset  stream name → when its entry must be re-checked
                   against the stream, ms (its expiry as last seen, or a lease's end; inf: never)
  KEYS[2]  ledger  <prefix>:dsq:{o}:ent  hash  stream name → "bytes:version:pending:leaseEnd";
                   field "" → the owner's total bytes
  ARGV[1]  name        the stream's engine name
  ARGV[2]  new         "1": this write creates the stream (checked against max_streams when the
                       name is not in the ledger yet); "0": an append (never refused for count)
  ARGV[3]  bytes       entry bytes the write adds
  ARGV[4]  max_streams most streams in the ledger; 0: unlimited
  ARGV[5]  max_bytes   most total bytes; 0: unlimited
  ARGV[6]  lease_ms    how long the reservation holds without a finish
  Returns: {"ok", version} (pass the version to durable-quota-finish.lua);
           {"streams", count, due names} or {"bytes", total, due names}: refused, nothing changed.
           Due names (at most 100) are entries whose re-check time passed: their streams may be
           gone, so the caller settles them (durable-quota-settle.lua) and may try once more.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function fmt(n) return string.format('%.0f', n) end
local name = ARGV[1]
local bytes = tonumber(ARGV[3])
local maxStreams = tonumber(ARGV[4])
local maxBytes = tonumber(ARGV[5])
local raw = redis.call('HGET', KEYS[2], name)
local total = tonumber(redis.call('HGET', KEYS[2], '') or '0')
local function due() return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 100) end

if ARGV[2] == '1' and not raw and maxStreams > 0 then
  local n = redis.call('ZCARD', KEYS[1])
  if n >= maxStreams then return {'streams', n, due()} end
end
if bytes > 0 and maxBytes > 0 and total + bytes > maxBytes then return {'bytes', fmt(total), due()} end

local b, v, p, lease = 0, 0, 0, 0
if raw then
  local f = {}
  for x in string.gmatch(raw, '[^:]+') do table.insert(f, tonumber(x)) end
  b, v, p, lease = f[1], f[2], f[3], f[4]
  -- Reservations whose lease ran out belong to an edge that died before finishing.
  if lease <= now then p = 0 end
end
v = v + 1
local leaseEnd = math.max(lease, now + tonumber(ARGV[6]))
redis.call('HSET', KEYS[2], name, fmt(b + bytes) .. ':' .. fmt(v) .. ':' .. fmt(p + 1) .. ':' .. fmt(leaseEnd), '', fmt(total + bytes))
-- GT: the re-check time only moves later here (a live stream's expiry stays if it is later).
redis.call('ZADD', KEYS[1], 'GT', leaseEnd, name)
return {'ok', fmt(v)}
