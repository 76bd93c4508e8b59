--[[
  Give back a fork's reference on its source (the fork was deleted, or its creation failed), and
  remove the source when it is soft-deleted and this was its last fork.

  KEYS[1]  meta hash     <prefix>:ds:{b}:meta    of the source
  KEYS[2]  log stream    <prefix>:ds:{b}:log
  KEYS[3]  producers     <prefix>:ds:{b}:prod
  KEYS[4]  forks set     <prefix>:ds:{b}:forks
  ARGV[1]  fork          name of the fork; "" to only collect a soft-deleted source whose forks
                         set the caller already pruned
  ARGV[2]  bell          the source's pub/sub channel
  Returns: {"kept"}; {"deleted", source, owner} (source: "" or the stream the removed one was
           forked from: the caller releases that reference next, up the chain; owner: "" or whose
           quota ledger counted the removed one).
]]
if ARGV[1] ~= '' then redis.call('SREM', KEYS[4], ARGV[1]) end
local m = redis.call('HMGET', KEYS[1], 'sd', 'from', 'qo')
if m[1] ~= '1' or redis.call('SCARD', KEYS[4]) > 0 then return {'kept'} end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
redis.call('PUBLISH', ARGV[2], 'deleted')
return {'deleted', m[2] or '', m[3] or ''}
