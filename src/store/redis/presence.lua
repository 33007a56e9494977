-- presence.lua: records that a user opened (join) or closed (leave) their streams in a room on
-- one node, and announces a change of the user's cluster-wide state to the nodes serving the room.
--
-- Contract
--   KEYS[1]  ZSET   every presence entry: member "<room>\31<node>\31<user>", score = expiry
--                   (unix ms)
--   KEYS[2]  HASH   the room's online users: user -> number of entries (nodes) they have
--   ARGV[1] room  ARGV[2] user  ARGV[3] node id  ARGV[4] expiry for a join (unix ms)
--   ARGV[5] "join" or "leave"
-- Returns the number of distinct users online in the room afterwards.
--
-- A user is online while any node holds an entry for them. Nodes refresh their entries by
-- calling "join" again (which then only moves the expiry); entries of a node that died are
-- removed by sweep.lua once expired. Every step is O(log n), so a room filling up with users
-- costs O(users log users), not O(users^2). Join and leave events go to the room's feed
-- channel with k=p (not the durable log: they are not stored), in order among its messages.
-- (feed.lua is put in front.)
local entries, users = KEYS[1], KEYS[2]
local room, user, node, expiry, op = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local me = room .. '\31' .. node .. '\31' .. user
local changed = false
if op == 'join' then
  if redis.call('ZADD', entries, expiry, me) == 1 then
    changed = redis.call('HINCRBY', users, user, 1) == 1
  end
elseif redis.call('ZREM', entries, me) == 1 then
  if redis.call('HINCRBY', users, user, -1) <= 0 then
    redis.call('HDEL', users, user)
    changed = true
  end
end
local count = redis.call('HLEN', users)
if changed then
  feed_tell('ssechat:feed-room:' .. room, '', {'k', 'p', 'r', room, 'u', user, 's', op, 'n', count})
end
return count
