-- presence.lua: records that a user opened (join) or closed (leave) their streams in a room on
-- one node, and announces a change of the user's cluster-wide state on the log.
--
-- Contract
--   KEYS[1]  ZSET   the room's presence: member "<node>\31<user>", score = expiry (unix ms)
--   KEYS[2]  SET    rooms that have presence entries (what sweep.lua walks)
--   KEYS[3]  STREAM the cluster log
--   ARGV[1] room  ARGV[2] user  ARGV[3] node id  ARGV[4] now (unix ms)
--   ARGV[5] expiry for a join (unix ms)  ARGV[6] "join" or "leave"  ARGV[7] log trim length
-- Returns the number of distinct users online in the room afterwards.
--
-- A user is online while any node holds a live entry for them. Nodes refresh their entries
-- by calling "join" again; entries of a node that died stop counting at their expiry, and
-- sweep.lua removes them and announces the leave. Join and leave events go on the same log
-- as messages, with k=p, so every node fans them out to its own streams.
local zkey, rooms, log = KEYS[1], KEYS[2], KEYS[3]
local room, user, node, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local expiry, op, logmax = ARGV[5], ARGV[6], ARGV[7]
local me = node .. '\31' .. user

local function online_users()
  local seen, count, has = {}, 0, false
  for _, m in ipairs(redis.call('ZRANGE', zkey, '(' .. now, '+inf', 'BYSCORE')) do
    local u = string.sub(m, string.find(m, '\31', 1, true) + 1)
    if not seen[u] then
      seen[u] = true
      count = count + 1
    end
    if u == user then has = true end
  end
  return count, has
end

local _, before = online_users()
if op == 'join' then
  redis.call('ZADD', zkey, expiry, me)
  redis.call('SADD', rooms, room)
else
  redis.call('ZREM', zkey, me)
end
local count, after = online_users()
if before ~= after then
  redis.call('XADD', log, 'MAXLEN', '~', logmax, '*', 'k', 'p', 'r', room, 'u', user,
             's', after and 'join' or 'leave', 'n', count)
end
return count
