--[[
  Report how a write that reserved quota (durable-quota-reserve.lua) went: give back the bytes
  it did not write and record what it saw of the stream. What it saw is only trusted when no
  other reservation of the same name came in between (same version); otherwise the entry is
  marked for a re-check (durable-quota-settle.lua) unless another write still holds a lease.

  KEYS[1]  due     <prefix>:dsq:{o}:due  (see durable-quota-reserve.lua)
  KEYS[2]  ledger  <prefix>:dsq:{o}:ent
  ARGV[1]  name
  ARGV[2]  version    the reservation's, from durable-quota-reserve.lua
  ARGV[3]  back       bytes reserved but not written
  ARGV[4]  state      what the write saw: "created" (it created the stream), "live" (the stream
                      exists), "gone" (no stream at the name), "unknown" (failed midway)
  ARGV[5]  pttl       "created": ms until the new stream expires; -1: never
  ARGV[6]  kept       bytes reserved and written (ARGV[3] + ARGV[6] = what was reserved)
  Returns: "ok".
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function fmt(n) return string.format('%.0f', n) end
local name = ARGV[1]
local state = ARGV[4]
local back = tonumber(ARGV[3])
local kept = tonumber(ARGV[6])
local pttl = tonumber(ARGV[5])
local total = tonumber(redis.call('HGET', KEYS[2], '') or '0')
local raw = redis.call('HGET', KEYS[2], name)
local function expiry()
  if state == 'created' and pttl >= 0 then return now + pttl end
  return 'inf'
end

if not raw then
  -- A settle dropped the entry (this write outlived its lease) or the stream predates the
  -- ledger; the stream exists, so it counts again.
  if state == 'created' or (state == 'live' and kept > 0) then
    redis.call('HSET', KEYS[2], name, fmt(kept) .. ':1:0:0', '', fmt(total + kept))
    if state == 'created' then redis.call('ZADD', KEYS[1], expiry(), name) else redis.call('ZADD', KEYS[1], now, name) end
  end
  return 'ok'
end

local f = {}
for x in string.gmatch(raw, '[^:]+') do table.insert(f, tonumber(x)) end
local b, v, p, lease = f[1], f[2], f[3], f[4]
if lease <= now then p = 0 else p = math.max(p - 1, 0) end
back = math.min(back, b)
b = b - back
total = math.max(total - back, 0)
local held = p > 0 and lease > now

if fmt(v) == ARGV[2] then
  if state == 'gone' and p == 0 then
    redis.call('ZREM', KEYS[1], name)
    redis.call('HDEL', KEYS[2], name)
    redis.call('HSET', KEYS[2], '', fmt(math.max(total - b, 0)))
    return 'ok'
  end
  if state == 'created' then
    -- A new stream holds exactly what this create wrote (an earlier incarnation's share, not yet
    -- settled, goes), unless other writes of the name are still under way.
    if p == 0 then
      total = math.max(total - b + kept, 0)
      b = kept
    end
    local e = expiry()
    if held and e ~= 'inf' then e = math.max(e, lease) end
    redis.call('ZADD', KEYS[1], e, name)
  elseif state ~= 'live' and not held then
    redis.call('ZADD', KEYS[1], now, name)
  end
elseif not held then
  -- Another write of the name came in between: what this one saw may be stale; re-check.
  redis.call('ZADD', KEYS[1], 'LT', now, name)
end
redis.call('HSET', KEYS[2], name, fmt(b) .. ':' .. fmt(v) .. ':' .. fmt(p) .. ':' .. fmt(lease), '', fmt(total))
return 'ok'
