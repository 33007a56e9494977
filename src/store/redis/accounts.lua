-- accounts.lua: accounts, sign-in sessions and invites, each change in one atomic step. The
-- rules (who may, what a password must be) are the server's; this only keeps them whole:
-- an invite is used up exactly when its account is made, and every change that must end
-- streams elsewhere moves the revision that servers poll.
--
-- Contract: ARGV[1] names the change, the rest are its fields (below). No KEYS: every key
-- is made here from the fixed prefix.
--   'add'     user, display, hash, admin, created   -> 1 made, 0 the id is taken
--   'update'  user, display, hash, admin, disabled  -> 1 written, 0 no such account
--   'claim'   code ("": open sign-up), now, user, display, hash, created
--             -> {0 made | 1 no such invite, used or expired | 2 the id is taken, admin}
--   'signin'  key, id, user, agent, created, seen   -> 1
--   'seen'    key, ms                               -> 1, 0 when it ended
--   'end'     key                                   -> 1 ended, 0 none
--   'end_all' user, keep                            -> how many ended
--   'fail'    key, add (0|1), window ms             -> {failures in the window, ms left}
--   'key_add'    name, hash, scopes, user, by, created -> 1 made, 0 the name is taken
--   'key_revoke' name                                  -> 1 revoked, 0 none
--   'key_used'   name, ms                              -> 1, 0 when it is gone
--
-- Keys:
--   ssechat:account:<user>  HASH d display, h hash, a admin, x disabled, c created (ms)
--   ssechat:accounts        SET  user ids with an account
--   ssechat:signin:<key>    HASH i id, u user, g user agent, c created, s last seen
--   ssechat:signins:<user>  SET  keys of the user's sign-ins
--   ssechat:invite:<code>   HASH a admin, e expires, b created by, c created
--   ssechat:invites         SET  codes
--   ssechat:auth:revision   counter
--   ssechat:fail:<key>      counter that expires when its window ends
--   ssechat:apikey:<name>   HASH k hash (hex SHA-256), s scopes (bits), u user, b by,
--                           c created, l last used
--   ssechat:apikeys         SET  key names
--   ssechat:apikeyhash:<hash>  the name of the key with that hash
local op = ARGV[1]
local function revise() redis.call('INCR', 'ssechat:auth:revision') end

if op == 'add' then
  local k = 'ssechat:account:' .. ARGV[2]
  if redis.call('EXISTS', k) == 1 then return 0 end
  redis.call('HSET', k, 'd', ARGV[3], 'h', ARGV[4], 'a', ARGV[5], 'x', '0', 'c', ARGV[6])
  redis.call('SADD', 'ssechat:accounts', ARGV[2])
  return 1
elseif op == 'update' then
  local k = 'ssechat:account:' .. ARGV[2]
  if redis.call('EXISTS', k) == 0 then return 0 end
  redis.call('HSET', k, 'd', ARGV[3], 'h', ARGV[4], 'a', ARGV[5], 'x', ARGV[6])
  revise()
  return 1
elseif op == 'claim' then
  local code, now = ARGV[2], tonumber(ARGV[3])
  local admin = '0'
  local ik = 'ssechat:invite:' .. code
  if code ~= '' then
    local inv = redis.call('HMGET', ik, 'a', 'e')
    if not inv[2] or tonumber(inv[2]) <= now then return {1, '0'} end
    admin = inv[1]
  end
  local k = 'ssechat:account:' .. ARGV[4]
  if redis.call('EXISTS', k) == 1 then return {2, admin} end
  redis.call('HSET', k, 'd', ARGV[5], 'h', ARGV[6], 'a', admin, 'x', '0', 'c', ARGV[7])
  redis.call('SADD', 'ssechat:accounts', ARGV[4])
  if code ~= '' then
    redis.call('DEL', ik)
    redis.call('SREM', 'ssechat:invites', code)
  end
  return {0, admin}
elseif op == 'signin' then
  redis.call('HSET', 'ssechat:signin:' .. ARGV[2], 'i', ARGV[3], 'u', ARGV[4], 'g', ARGV[5],
             'c', ARGV[6], 's', ARGV[7])
  redis.call('SADD', 'ssechat:signins:' .. ARGV[4], ARGV[2])
  return 1
elseif op == 'seen' then
  local k = 'ssechat:signin:' .. ARGV[2]
  local s = redis.call('HGET', k, 's')
  if not s then return 0 end
  if tonumber(ARGV[3]) > tonumber(s) then redis.call('HSET', k, 's', ARGV[3]) end
  return 1
elseif op == 'end' then
  local k = 'ssechat:signin:' .. ARGV[2]
  local user = redis.call('HGET', k, 'u')
  if not user then return 0 end
  redis.call('DEL', k)
  redis.call('SREM', 'ssechat:signins:' .. user, ARGV[2])
  revise()
  return 1
elseif op == 'end_all' then
  local set = 'ssechat:signins:' .. ARGV[2]
  local n = 0
  for _, key in ipairs(redis.call('SMEMBERS', set)) do
    if key ~= ARGV[3] then
      redis.call('DEL', 'ssechat:signin:' .. key)
      redis.call('SREM', set, key)
      n = n + 1
    end
  end
  if n > 0 then revise() end
  return n
elseif op == 'fail' then
  local k = 'ssechat:fail:' .. ARGV[2]
  local n
  if ARGV[3] == '1' then
    n = redis.call('INCR', k)
    if n == 1 then redis.call('PEXPIRE', k, ARGV[4]) end
  else
    n = tonumber(redis.call('GET', k) or '0')
  end
  local left = redis.call('PTTL', k)
  if left < 0 then left = 0 end
  return {n, left}
end
if op == 'key_add' then
  local k = 'ssechat:apikey:' .. ARGV[2]
  if redis.call('EXISTS', k) == 1 then return 0 end
  redis.call('HSET', k, 'k', ARGV[3], 's', ARGV[4], 'u', ARGV[5], 'b', ARGV[6], 'c', ARGV[7],
             'l', '0')
  redis.call('SADD', 'ssechat:apikeys', ARGV[2])
  redis.call('SET', 'ssechat:apikeyhash:' .. ARGV[3], ARGV[2])
  return 1
elseif op == 'key_revoke' then
  local k = 'ssechat:apikey:' .. ARGV[2]
  local hash = redis.call('HGET', k, 'k')
  if not hash then return 0 end
  redis.call('DEL', k, 'ssechat:apikeyhash:' .. hash)
  redis.call('SREM', 'ssechat:apikeys', ARGV[2])
  revise()
  return 1
elseif op == 'key_used' then
  local k = 'ssechat:apikey:' .. ARGV[2]
  local l = redis.call('HGET', k, 'l')
  if not l then return 0 end
  if tonumber(ARGV[3]) > tonumber(l) then redis.call('HSET', k, 'l', ARGV[3]) end
  return 1
end
return redis.error_reply('accounts.lua: unknown change ' .. tostring(op))
