--[[
  Read a Durable Stream: its meta and the entries after a seq, as one consistent snapshot, and
  (for a read, not a HEAD) the reset of a sliding TTL, in one round trip.

  KEYS[1]  meta hash     <prefix>:ds:{b}:meta
  KEYS[2]  log stream    <prefix>:ds:{b}:log
  KEYS[3]  producers     <prefix>:ds:{b}:prod
  KEYS[4]  forks set     <prefix>:ds:{b}:forks
  ARGV[1]  after         read the entries after this seq; "-1": after the tail (none: "now")
  ARGV[2]  count         most entries returned
  ARGV[3]  max_bytes     stop adding entries past this many data bytes (at least one is returned)
  ARGV[4]  touch         "1": reset the sliding TTL (reads do, HEAD does not)
  Returns: {"missing"}; {"gone"} (soft-deleted); {"ok", <meta as HGETALL>, after, entries} where
           entries is a list of {seq, data, message count}.
]]
local meta = redis.call('HGETALL', KEYS[1])
if #meta == 0 then return {'missing'} end
local m = {}
for i = 1, #meta, 2 do m[meta[i]] = meta[i + 1] end
if m['sd'] == '1' then return {'gone'} end
local tail = tonumber(m['tail'])
local after = tonumber(ARGV[1])
if after < 0 then after = tail end
local out = {}
if after < tail then
  local entries = redis.call('XRANGE', KEYS[2], '0-' .. (after + 1), '+', 'COUNT', tonumber(ARGV[2]))
  local bytes = 0
  local max = tonumber(ARGV[3])
  for i, e in ipairs(entries) do
    local d, n = '', '0'
    local f = e[2]
    for k = 1, #f, 2 do
      if f[k] == 'd' then d = f[k + 1] elseif f[k] == 'n' then n = f[k + 1] end
    end
    if i > 1 and bytes + #d > max then break end
    bytes = bytes + #d
    local seq = string.sub(e[1], 3)
    table.insert(out, {seq, d, n})
  end
end
if ARGV[4] == '1' and m['ttl'] then
  for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], tonumber(m['ttl']) * 1000) end
end
return {'ok', meta, after, out}
