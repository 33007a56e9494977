-- members.lua: memberships, read markers and the room rules' state (roles, bans, mutes,
-- profiles, settings), changed atomically; every node hears of each change through the
-- cluster log. The rules themselves (who may) are checked by the node before it asks.
--
-- Contract
--   KEYS[1]    HASH   room name -> the last id assigned in that room
--   KEYS[2]    STREAM the cluster log
--   ARGV[1]    approximate length the cluster log is trimmed to
--   ARGV[1+5(i-1)+1..5]  change i: op, user, room, number, payload (fields joined by \31)
--     'j' join, 'a' add:  number = the most rooms a user may be in; payload role, ms
--     'l' leave; 'r' read marker: number = the marker asked for
--     'b' ban, 'm' mute:  payload by, reason, until, ts;  'B' unban, 'M' unmute
--     'p' profile:        payload visibility, name, topic, created_by, created_at, with
--     's' settings:       payload dms (0 anyone, 1 shared rooms)
-- Returns, per change, {result, read, pos, was_member}: result 0 applied, 1 nothing to do
-- (already a member with that role, or a marker at or past that id), 2 not a member (or not
-- banned or muted), 3 too many rooms, 4 it would leave the room without an owner (the node
-- checked that against its copy of the room; here it holds against every node's changes); read: the marker after it (a leave or ban: the one it
-- had); pos: the position now (a join starts there); was_member: the user was a member before
-- (a join or add: only a role changed; a ban: it removed a member).
--
-- Keys:
--   ssechat:member:<user>   HASH room -> "<read>\31<position when joined>[\31<role>\31<ms>]"
--   ssechat:readers:<room>  HASH user -> read marker (the room's members and receipts)
--   ssechat:roles:<room>    HASH user -> "<role>\31<ms>" (absent: a member from before roles)
--   ssechat:bans:<room>, ssechat:mutes:<room>  HASH user -> "<by>\31<reason>\31<until>\31<ts>"
--   ssechat:profile:<room>  STRING the payload of 'p'
--   ssechat:settings:<user> STRING the payload of 's'
-- A join starts with the room's last id as its marker, so only later messages are unread.
local logmax = ARGV[1]
local pos = redis.call('GET', 'ssechat:pos') or '0'
local out = {}
for i = 0, (#ARGV - 1) / 5 - 1 do
  local b = 2 + 5 * i
  local op, user, room, num, payload =
    ARGV[b], ARGV[b + 1], ARGV[b + 2], tonumber(ARGV[b + 3]), ARGV[b + 4]
  local mkey, rkey = 'ssechat:member:' .. user, 'ssechat:readers:' .. room
  local roles = 'ssechat:roles:' .. room
  local have = nil
  if op ~= 's' and op ~= 'p' then have = redis.call('HGET', mkey, room) end
  local read, since, role = 0, pos, '1'
  if have then
    local r, s = string.match(have, '^(%d+)\31(%d+)')
    read, since = tonumber(r), s
    local held = redis.call('HGET', roles, user)
    if held then role = string.match(held, '^(%d+)') end
  end
  local result, was = 0, 0
  -- model::Roster::keeps_owner, made atomic: the last owner does not leave, is not banned,
  -- and is not made less than owner.
  local drops_owner = have and role == '3' and
    (op == 'l' or op == 'b' or (op == 'a' and string.match(payload, '^(%d+)') ~= '3'))
  if drops_owner then
    local owners = 0
    for _, v in ipairs(redis.call('HVALS', roles)) do
      if string.match(v, '^3\31') then owners = owners + 1 end
    end
    if owners <= 1 then result = 4 end
  end
  if result ~= 0 then
    -- refused above: nothing changes
  elseif op == 'j' or op == 'a' then
    local want, ms = string.match(payload, '^(%d+)\31(%d+)$')
    if have then
      was = 1
      if op == 'j' or role == want then
        result = 1
      else
        redis.call('HSET', roles, user, want .. '\31' .. ms)
      end
    elseif redis.call('HLEN', mkey) >= num then
      result = 3
    else
      read = tonumber(redis.call('HGET', KEYS[1], room) or '0')
      redis.call('HSET', mkey, room, read .. '\31' .. pos)
      redis.call('HSET', rkey, user, read)
      redis.call('HSET', roles, user, want .. '\31' .. ms)
    end
  elseif op == 'b' or op == 'm' then
    if op == 'b' and have then
      redis.call('HDEL', mkey, room)
      redis.call('HDEL', rkey, user)
      redis.call('HDEL', roles, user)
      was = 1
    end
    redis.call('HSET', (op == 'b' and 'ssechat:bans:' or 'ssechat:mutes:') .. room, user, payload)
  elseif op == 'B' or op == 'M' then
    if redis.call('HDEL', (op == 'B' and 'ssechat:bans:' or 'ssechat:mutes:') .. room, user) == 0 then
      result = 2
    end
  elseif op == 'p' then
    redis.call('SET', 'ssechat:profile:' .. room, payload)
  elseif op == 's' then
    redis.call('SET', 'ssechat:settings:' .. user, payload)
  elseif not have then
    result = 2
  elseif op == 'l' then
    redis.call('HDEL', mkey, room)
    redis.call('HDEL', rkey, user)
    redis.call('HDEL', roles, user)
  elseif read >= num then
    result = 1
  else
    read = num
    redis.call('HSET', mkey, room, read .. '\31' .. since)
    redis.call('HSET', rkey, user, read)
  end
  if result == 0 and op ~= 's' then
    local tell = {'k', 'j', 'o', op, 'r', room, 'u', user, 'i', read, 'p', pos, 'x', payload,
                  'w', was}
    local lid = redis.call('XADD', KEYS[2], 'MAXLEN', '~', logmax, '*', unpack(tell))
    -- Heard by the nodes serving the room and those streaming to the user; a node that
    -- does both hears it twice and keeps the first (log ids only rise).
    feed_tell('ssechat:feed-room:' .. room, lid, tell)
    feed_tell('ssechat:feed-user:' .. user, lid, tell)
  end
  out[#out + 1] = {result, read, tonumber(pos), was}
end
return out
