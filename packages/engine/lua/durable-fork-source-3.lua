--[[
  The source side of a fork: check the fork point, take a reference on the source (so deleting
  it only soft-deletes it while the fork lives) and return what the fork copies. The fork itself
  is created by durable-create.lua on its own slot; if that fails, the caller gives the
  reference back with durable-release.lua.

  KEYS[1]  meta hash     <prefix>:ds:{b}:meta    of the source
  KEYS[2]  log stream    <prefix>:ds:{b}:log
  KEYS[3]  forks set     <prefix>:ds:{b}:forks
  ARGV[1]  fork          name of the fork
  ARGV[2]  seq           fork after this seq of the source; "-1": at its tail
  ARGV[3]  epoch         epoch the fork offset must carry; "" when any fits (seq 0)
  ARGV[4]  mt            media type the fork asks for; "" to inherit the source's
  ARGV[5]  next          "1": also return the entry right after seq (for a sub-offset)
  Returns: {"missing"}; {"gone"}; {"content_type"}; {"bad_offset", message};
           {"ok", <meta as HGETALL>, seq, entries 1 … seq (XRANGE form), next entry or {}}.
]]
local meta = redis.call('HGETALL', KEYS[1])
if #meta == 0 then return {'missing'} end
local m = {}
for i = 1, #meta, 2 do m[meta[i]] = meta[i + 1] end
if m['sd'] == '1' then return {'gone'} end
if ARGV[4] ~= '' and ARGV[4] ~= m['mt'] then return {'content_type'} end
local tail = tonumber(m['tail'])
local seq = tonumber(ARGV[2])
if seq < 0 then seq = tail end
if ARGV[3] ~= '' and ARGV[3] ~= m['ep'] then return {'bad_offset', 'the fork offset is not an offset of the source stream'} end
if seq > tail then return {'bad_offset', 'the fork offset is beyond the end of the source stream'} end
local entries = {}
if seq > 0 then entries = redis.call('XRANGE', KEYS[2], '-', '0-' .. seq) end
local nxt = {}
if ARGV[5] == '1' then
  nxt = redis.call('XRANGE', KEYS[2], '0-' .. (seq + 1), '0-' .. (seq + 1))
  if #nxt == 0 then return {'bad_offset', 'the fork sub-offset is beyond the end of the source stream'} end
end
redis.call('SADD', KEYS[3], ARGV[1])
local pttl = redis.call('PTTL', KEYS[1])
if pttl > 0 then redis.call('PEXPIRE', KEYS[3], pttl) end
return {'ok', meta, seq, entries, nxt}
