--[[
  Create a Durable Stream, or report what already holds its name. Creation writes the meta, the
  initial entries (a fork's copied prefix, then the PUT's body) and the expiry in one step, so a
  reader sees either nothing or the whole new stream.

  KEYS[1]  meta hash     <prefix>:ds:{b}:meta
  KEYS[2]  log stream    <prefix>:ds:{b}:log
  ARGV[1]  ct            Content-Type as given
  ARGV[2]  mt            its media type (lower case, no parameters)
  ARGV[3]  js            "1": JSON mode
  ARGV[4]  ep            epoch (16 digits) carried by the stream's offsets
  ARGV[5]  ttl           sliding time-to-live in seconds, "" for none
  ARGV[6]  exp           absolute expiry in epoch ms, "" for none
  ARGV[7]  cl            "1": created closed
  ARGV[8]  from          name of the fork's source, "" when not a fork
  ARGV[9]  fseq          seq of the source the fork was taken at, "" when not a fork
  ARGV[10] fsub          fork sub-offset ("0": none)
  ARGV[11] now           epoch ms
  ARGV[12] qo            owner whose quota ledger counts the stream (durable-quota-*.lua); "" for none
  ARGV[13] count         entries that follow, stored at seqs 1 … count
  ARGV[14…] per entry: data, then its JSON message count ("0" in bytes mode)
  Returns: {"created"}; {"exists", <meta as HGETALL>} when a live stream holds the name;
           {"soft_deleted"} when a soft-deleted one does (the caller may collect it and retry).
]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'sd') == '1' then return {'soft_deleted'} end
  return {'exists', redis.call('HGETALL', KEYS[1])}
end
-- A log left by a stream whose meta vanished first (expiry is per key) must not leak into this one.
redis.call('DEL', KEYS[2])
local count = tonumber(ARGV[13])
local j = 14
for seq = 1, count do
  redis.call('XADD', KEYS[2], '0-' .. seq, 'd', ARGV[j], 'n', ARGV[j + 1])
  j = j + 2
end
local fields = {'ct', ARGV[1], 'mt', ARGV[2], 'js', ARGV[3], 'ep', ARGV[4], 'tail', count, 'cl', ARGV[7], 'fsub', ARGV[10], 'at', ARGV[11]}
if ARGV[5] ~= '' then table.insert(fields, 'ttl') table.insert(fields, ARGV[5]) end
if ARGV[6] ~= '' then table.insert(fields, 'exp') table.insert(fields, ARGV[6]) end
if ARGV[12] ~= '' then table.insert(fields, 'qo') table.insert(fields, ARGV[12]) end
if ARGV[8] ~= '' then
  table.insert(fields, 'from') table.insert(fields, ARGV[8])
  table.insert(fields, 'fseq') table.insert(fields, ARGV[9])
end
redis.call('HSET', KEYS[1], unpack(fields))
for i = 1, 2 do
  if ARGV[5] ~= '' then
    redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[5]) * 1000)
  elseif ARGV[6] ~= '' then
    redis.call('PEXPIREAT', KEYS[i], ARGV[6])
  end
end
return {'created'}
