-- members.lua: users join and leave rooms and move their read markers, atomically, and every
-- node hears of each change through the cluster log.
--
-- Contract
--   KEYS[1]    HASH   room name -> the last id assigned in that room
--   KEYS[2]    STREAM the cluster log
--   ARGV[1]    approximate length the cluster log is trimmed to
--   ARGV[1+4(i-1)+1..4]  change i: op ('j' join, 'l' leave, 'r' read marker), user, room,
--              number (join: the most rooms a user may be in; read: the marker asked for)
-- Returns, per change, {result, read, pos}: result 0 applied, 1 nothing to do (already a
-- member, or a marker at or past that id), 2 not a member, 3 too many rooms; read: the marker
-- after it (a leave: the one it had); pos: the position now (a join starts there).
--
-- Keys:
--   ssechat:member:<user>   HASH room -> "<read>\31<position when joined>"
--   ssechat:readers:<room>  HASH user -> read marker (the room's receipts)
-- A join starts with the room's last id as its marker, so only later messages are unread.
local logmax = ARGV[1]
local pos = redis.call('GET', 'ssechat:pos') or '0'
local out = {}
for i = 0, (#ARGV - 1) / 4 - 1 do
  local b = 2 + 4 * i
  local op, user, room, num = ARGV[b], ARGV[b + 1], ARGV[b + 2], tonumber(ARGV[b + 3])
  local mkey, rkey = 'ssechat:member:' .. user, 'ssechat:readers:' .. room
  local have = redis.call('HGET', mkey, room)
  local read, since = 0, pos
  if have then
    local r, s = string.match(have, '^(%d+)\31(%d+)$')
    read, since = tonumber(r), s
  end
  local result = 0
  if op == 'j' then
    if have then
      result = 1
    elseif redis.call('HLEN', mkey) >= num then
      result = 3
    else
      read = tonumber(redis.call('HGET', KEYS[1], room) or '0')
      redis.call('HSET', mkey, room, read .. '\31' .. pos)
      redis.call('HSET', rkey, user, read)
    end
  elseif not have then
    result = 2
  elseif op == 'l' then
    redis.call('HDEL', mkey, room)
    redis.call('HDEL', rkey, user)
  elseif read >= num then
    result = 1
  else
    read = num
    redis.call('HSET', mkey, room, read .. '\31' .. since)
    redis.call('HSET', rkey, user, read)
  end
  if result == 0 then
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', logmax, '*', 'k', 'j', 'o', op, 'r', room,
               'u', user, 'i', read, 'p', pos)
  end
  out[#out + 1] = {result, read, tonumber(pos)}
end
return out
