--[[
  Delete a Durable Stream. While forks still reference it (its forks set is not empty) it is only
  soft-deleted: it answers 410 and its name cannot be reused, but it stays for its forks' sake
  until the last one is gone (durable-release.lua then removes it). The caller prunes the forks
  set of names that are no longer forks of this stream first.

  KEYS[1]  meta hash     <prefix>:ds:{b}:meta
  KEYS[2]  log stream    <prefix>:ds:{b}:log
  KEYS[3]  producers     <prefix>:ds:{b}:prod
  KEYS[4]  forks set     <prefix>:ds:{b}:forks
  ARGV[1]  bell          pub/sub channel rung so waiting readers notice
  Returns: {"missing"}; {"gone"} (already soft-deleted); {"soft"};
           {"deleted", source, owner} (source: "" or the stream this one was forked from, whose
           reference the caller must release; owner: "" or whose quota ledger counted it).
]]
local m = redis.call('HMGET', KEYS[1], 'sd', 'from', 'qo')
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
if m[1] == '1' then return {'gone'} end
if redis.call('SCARD', KEYS[4]) > 0 then
  redis.call('HSET', KEYS[1], 'sd', '1')
  redis.call('PUBLISH', ARGV[1], 'deleted')
  return {'soft'}
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
redis.call('PUBLISH', ARGV[1], 'deleted')
return {'deleted', m[2] or '', m[3] or ''}
