--[[
  Record that a generation's cancel was requested (the caller then publishes its id).

  KEYS[1]  meta hash   <prefix>:{id}:meta
  ARGV[1]  now         epoch ms
  Returns: 1 when recorded, 0 when the generation is missing or has already ended
]]
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'completed' or status == 'failed' or status == 'cancelled' then return 0 end
redis.call('HSET', KEYS[1], 'cancel_requested_at', ARGV[1])
return 1
