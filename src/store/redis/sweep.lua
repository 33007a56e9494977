-- sweep.lua: removes presence entries past their expiry (nodes that died without a goodbye)
-- and announces a leave for every user who is no longer online anywhere.
--
-- Contract
--   KEYS[1]  SET    rooms that have presence entries
--   KEYS[2]  STREAM the cluster log
--   ARGV[1]  now (unix ms)  ARGV[2] log trim length  ARGV[3] key prefix of presence ZSETs
-- Returns the number of entries removed.
--
-- It reads presence keys named from KEYS[1] rather than passed in KEYS: fine on one Redis,
-- but under Redis Cluster the presence keys would need one hash tag per shard.
-- Every node runs it periodically. Two nodes sweeping at once do no harm: the script runs
-- alone, so the second finds nothing left to remove and announces nothing.
local rooms, log = KEYS[1], KEYS[2]
local now, logmax, prefix = ARGV[1], ARGV[2], ARGV[3]
local removed = 0
for _, room in ipairs(redis.call('SMEMBERS', rooms)) do
  local zkey = prefix .. room
  local dead = redis.call('ZRANGE', zkey, '-inf', now, 'BYSCORE')
  if #dead > 0 then
    redis.call('ZREMRANGEBYSCORE', zkey, '-inf', now)
    removed = removed + #dead
    local live, count = {}, 0
    for _, m in ipairs(redis.call('ZRANGE', zkey, 0, -1)) do
      local u = string.sub(m, string.find(m, '\31', 1, true) + 1)
      if not live[u] then
        live[u] = true
        count = count + 1
      end
    end
    local told = {}
    for _, m in ipairs(dead) do
      local u = string.sub(m, string.find(m, '\31', 1, true) + 1)
      if not live[u] and not told[u] then
        told[u] = true
        redis.call('XADD', log, 'MAXLEN', '~', logmax, '*', 'k', 'p', 'r', room, 'u', u,
                   's', 'leave', 'n', count)
      end
    end
  end
  if redis.call('EXISTS', zkey) == 0 then redis.call('SREM', rooms, room) end
end
return removed
