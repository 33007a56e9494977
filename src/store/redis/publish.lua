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
--   ARGV[1+3i], ARGV[2+3i], ARGV[3+3i]   message i: room, user id, text
-- Returns the id given to each message, in argument order.
--
-- Why a script: the id, the room entry and the log entry must be one step. Redis runs a
-- script alone, so ids in a room are 1, 2, 3... in one order that every node reads back, and
-- a log entry never names a message its room stream lacks. Room stream entry ids are
-- "<id>-0", so XRANGE by message id needs no secondary index.
local ts, retain, logmax = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local ids = {}
for i = 1, #KEYS - 3 do
  local room, user, text = ARGV[1 + 3 * i], ARGV[2 + 3 * i], ARGV[3 + 3 * i]
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
  ids[i] = id
end
return ids
