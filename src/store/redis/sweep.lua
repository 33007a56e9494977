-- sweep.lua: removes presence entries past their expiry (nodes that died without a goodbye)
-- and announces a leave for every user who is no longer online anywhere.
--
-- Contract
--   KEYS[1]  SET    rooms that have presence entries
--   KEYS[2]  STREAM the cluster log
--   ARGV[1]  now (unix ms)  ARGV[2] log trim length
--   ARGV[3]  key prefix of the entry ZSETs  ARGV[4] key prefix of the online-user HASHes
-- Returns the number of entries removed.
--
-- It reads keys named from KEYS[1] rather than passed in KEYS: fine on one Redis, but under
-- Redis Cluster each room's keys would need a hash tag and a sweep per shard.
-- Every node runs it periodically. Two nodes sweeping at once do no harm: the script runs
-- alone, so the second finds nothing left to remove and announces nothing.
local rooms, log = KEYS[1], KEYS[2]
local now, logmax, zprefix, uprefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local removed = 0
for _, room in ipairs(redis.call('SMEMBERS', rooms)) do
  local zkey, users = zprefix .. room, uprefix .. room
  for _, m in ipairs(redis.call('ZRANGE', zkey, '-inf', now, 'BYSCORE')) do
    redis.call('ZREM', zkey, m)
    removed = removed + 1
    local user = string.sub(m, string.find(m, '\31', 1, true) + 1)
    if redis.call('HINCRBY', users, user, -1) <= 0 then
      redis.call('HDEL', users, user)
      redis.call('XADD', log, 'MAXLEN', '~', logmax, '*', 'k', 'p', 'r', room, 'u', user,
                 's', 'leave', 'n', redis.call('HLEN', users))
    end
  end
  if redis.call('EXISTS', zkey) == 0 then redis.call('SREM', rooms, room) end
end
return removed
