--[[
  Take over a generation for writing: bump its fence so any earlier writer is shut out, mark it
  running, and refresh its expiry (appends refresh it only every few seconds: append.lua).

  KEYS[1]  meta hash   <prefix>:{id}:meta
  ARGV[1]  producer    name of the claiming producer
  ARGV[2]  now         epoch ms
  ARGV[3]  ttl         seconds the meta lives from now
  Returns: the new fence, 0 when the generation is missing, -1 when it has already ended
]]
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 0 end
if status == 'completed' or status == 'failed' or status == 'cancelled' then return -1 end
local fence = redis.call('HINCRBY', KEYS[1], 'fence', 1)
redis.call('HSET', KEYS[1], 'status', 'running', 'producer', ARGV[1])
if redis.call('HGET', KEYS[1], 'started_at') == '0' then
  redis.call('HSET', KEYS[1], 'started_at', ARGV[2])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return fence
