-- sweep.lua: removes presence entries past their expiry (nodes that died without a goodbye)
-- and announces a leave for every user who is then no longer online anywhere.
--
-- Contract
--   KEYS[1]  ZSET   every presence entry (see presence.lua), scored by expiry
--   ARGV[1]  now (unix ms)  ARGV[2] key prefix of the online HASHes
--   ARGV[3]  most entries removed in one call
-- (feed.lua is put in front.)
-- Returns the number of entries removed; the caller runs it again while that is the limit.
--
-- It costs O(expired entries), whatever the number of rooms or users. It updates the online
-- HASH of each expired entry's room, a key named from the entry rather than passed in KEYS:
-- fine on one Redis, but under Redis Cluster the entries would need one ZSET per hash slot.
-- Every node runs it periodically. Two nodes sweeping at once do no harm: the script runs
-- alone, so the second finds nothing left to remove and announces nothing.
local entries = KEYS[1]
local now, uprefix, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local dead = redis.call('ZRANGE', entries, '-inf', now, 'BYSCORE', 'LIMIT', 0, limit)
for _, m in ipairs(dead) do
  redis.call('ZREM', entries, m)
  local a = string.find(m, '\31', 1, true)
  local b = string.find(m, '\31', a + 1, true)
  local room, user = string.sub(m, 1, a - 1), string.sub(m, b + 1)
  local users = uprefix .. room
  if redis.call('HINCRBY', users, user, -1) <= 0 then
    redis.call('HDEL', users, user)
    feed_tell('ssechat:feed-room:' .. room, '',
              {'k', 'p', 'r', room, 'u', user, 's', 'leave', 'n', redis.call('HLEN', users)})
  end
end
return #dead
