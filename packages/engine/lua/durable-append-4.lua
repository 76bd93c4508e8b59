--[[
  Append to a Durable Stream (or close it), with every check the protocol asks for in the same
  atomic step as the write: idempotent producer (epoch fencing, dedupe, gaps), closure, content
  type and Stream-Seq ordering. So a retried or concurrent request can never slip a duplicate or
  an out-of-order write in, and producer state always matches the log (no crash window).

  KEYS[1]  meta hash     <prefix>:ds:{b}:meta
  KEYS[2]  log stream    <prefix>:ds:{b}:log
  KEYS[3]  producers     <prefix>:ds:{b}:prod      producer id → "epoch:lastSeq"
  KEYS[4]  forks set     <prefix>:ds:{b}:forks     (only for its expiry)
  ARGV[1]  mt            the request's media type; "" for a close-only request (not checked)
  ARGV[2]  close         "1": close the stream after this write
  ARGV[3]  sseq          Stream-Seq, "" when not given
  ARGV[4]  pid           Producer-Id, "" when not given
  ARGV[5]  pepoch        Producer-Epoch
  ARGV[6]  pseq          Producer-Seq
  ARGV[7]  has_data      "1": ARGV[8], ARGV[9] are an entry to append
  ARGV[8]  count         JSON messages in the entry ("0" in bytes mode)
  ARGV[9]  data
  ARGV[10] bell          pub/sub channel rung after a write: <prefix>:ds:{b}:bell
  ARGV[11] refuse        "1": the owner's quota refused the entry (durable-quota-reserve.lua):
                         run every check, but where the entry would be written answer "quota"
                         and write nothing
  Returns: {outcome, epoch, tail, closed (0/1), a, b} with outcome one of quota,
    appended (a, b: producer epoch and seq, or "" without a producer), duplicate (a: epoch,
    b: highest seq accepted), missing, gone, closed, content_type, stream_seq,
    stale_epoch (a: current epoch), epoch_seq, seq_gap (a: expected, b: received).
  Producer rules (PROTOCOL.md 5.2.1): checked before closure, so a retry of an applied write
  (the close included) is a duplicate, not a conflict.
]]
local m = redis.call('HMGET', KEYS[1], 'mt', 'tail', 'cl', 'sd', 'sseq', 'ttl', 'exp', 'ep')
if not m[1] then return {'missing', '', 0, 0} end
if m[4] == '1' then return {'gone', '', 0, 0} end
local ep = m[8]
local tail = tonumber(m[2])
local closed = m[3] == '1'
local cl = closed and 1 or 0
if ARGV[1] ~= '' and ARGV[1] ~= m[1] then return {'content_type', ep, tail, cl} end

local function fmt(n) return string.format('%.0f', n) end

local pid = ARGV[4]
local pe, ps
if pid ~= '' then
  pe = tonumber(ARGV[5])
  ps = tonumber(ARGV[6])
  local state = redis.call('HGET', KEYS[3], pid)
  if not state then
    if ps ~= 0 then return {'seq_gap', ep, tail, cl, '0', fmt(ps)} end
  else
    local sep = string.find(state, ':', 1, true)
    local se = tonumber(string.sub(state, 1, sep - 1))
    local sl = tonumber(string.sub(state, sep + 1))
    if pe < se then return {'stale_epoch', ep, tail, cl, fmt(se)} end
    if pe > se then
      if ps ~= 0 then return {'epoch_seq', ep, tail, cl} end
    else
      if ps <= sl then return {'duplicate', ep, tail, cl, fmt(se), fmt(sl)} end
      if ps > sl + 1 then return {'seq_gap', ep, tail, cl, fmt(sl + 1), fmt(ps)} end
    end
  end
end

if closed then
  -- Closing a closed stream again is a no-op, unless it carries data or a producer's write.
  if ARGV[2] == '1' and ARGV[7] ~= '1' and pid == '' then return {'appended', ep, tail, 1, '', ''} end
  return {'closed', ep, tail, 1}
end

-- Byte-wise order, whatever locale Redis' Lua compares strings in.
local function less(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
if ARGV[3] ~= '' and m[5] and not less(m[5], ARGV[3]) then return {'stream_seq', ep, tail, cl} end

if ARGV[7] == '1' and ARGV[11] == '1' then return {'quota', ep, tail, cl} end

local fields = {}
if ARGV[7] == '1' then
  tail = tail + 1
  redis.call('XADD', KEYS[2], '0-' .. tail, 'd', ARGV[9], 'n', ARGV[8])
  table.insert(fields, 'tail') table.insert(fields, tail)
end
if ARGV[2] == '1' then
  cl = 1
  table.insert(fields, 'cl') table.insert(fields, '1')
end
if ARGV[3] ~= '' then table.insert(fields, 'sseq') table.insert(fields, ARGV[3]) end
if #fields > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
if pid ~= '' then redis.call('HSET', KEYS[3], pid, fmt(pe) .. ':' .. fmt(ps)) end
for i = 1, 4 do
  if m[6] then
    redis.call('PEXPIRE', KEYS[i], tonumber(m[6]) * 1000)
  elseif m[7] then
    redis.call('PEXPIREAT', KEYS[i], m[7])
  end
end
redis.call('PUBLISH', ARGV[10], tail)
if pid ~= '' then return {'appended', ep, tail, cl, fmt(pe), fmt(ps)} end
return {'appended', ep, tail, cl, '', ''}
