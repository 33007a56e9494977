-- publish.lua: stores a batch of chat messages and announces them to every node, atomically.
--
-- Contract
--   KEYS[1]    HASH   room name -> the last id assigned in that room
--   KEYS[2]    STREAM the cluster log every node follows with XREAD
--   KEYS[3]    ZSET   every room name at score 0, for listing rooms by name in pages
--   KEYS[3+i]  STREAM the room of message i (a room may appear more than once)
--   ARGV[1]    time of the publish, unix milliseconds
--   ARGV[2]    messages kept per room stream; 0 keeps all
--   ARGV[3]    approximate length the cluster log is trimmed to
--   ARGV[4]    seconds an idempotency key is kept
--   ARGV[5i..5i+4]   message i: room, user id, text, idempotency key ('' for none), text hash
-- Returns, per message in argument order, {id, status, ts}: status 0 stored now; 1 its key
-- was used before for the same text (id and ts are the original's, nothing is stored); 2 its
-- key was used before for another text (nothing is stored).
--
-- Why a script: the id, the room entry, the log entry and the key must be one step. Redis
-- runs a script alone, so ids in a room are 1, 2, 3... in one order that every node reads
-- back, a log entry never names a message its room stream lacks, and two nodes taking the
-- same key at once store one message. Room stream entry ids are "<id>-0", so XRANGE by
-- message id needs no secondary index. Keys live at ssechat:idem:<room>\31<user>\31<key>
-- (built here: this store runs on one Redis, not a Redis Cluster), valued "<id>\31<ts>\31<hash>".
local ts, retain, logmax, ttl = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local out = {}
for i = 1, #KEYS - 3 do
  local room, user, text = ARGV[5 * i], ARGV[5 * i + 1], ARGV[5 * i + 2]
  local key, hash = ARGV[5 * i + 3], ARGV[5 * i + 4]
  local kname = 'ssechat:idem:' .. room .. '\31' .. user .. '\31' .. key
  local seen = false
  if key ~= '' then seen = redis.call('GET', kname) end
  if seen then
    local id, sts, shash = string.match(seen, '^(%d+)\31(%d+)\31(%x+)$')
    out[i] = {tonumber(id), (shash == hash) and 1 or 2, tonumber(sts)}
  else
    local id = redis.call('HINCRBY', KEYS[1], room, 1)
    if id == 1 then redis.call('ZADD', KEYS[3], 0, room) end
    local sid = string.format('%d-0', id)
    if retain > 0 then
      redis.call('XADD', KEYS[3 + i], 'MAXLEN', retain, sid, 'u', user, 'm', text, 't', ts)
    else
      redis.call('XADD', KEYS[3 + i], sid, 'u', user, 'm', text, 't', ts)
    end
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', logmax, '*',
               'k', 'm', 'r', room, 'i', id, 'u', user, 'm', text, 't', ts)
    if key ~= '' then
      redis.call('SET', kname, id .. '\31' .. ts .. '\31' .. hash, 'EX', ttl)
    end
    out[i] = {id, 0, tonumber(ts)}
  end
end
return out
