-- publish.lua: checks and stores a batch of room events, and announces them to every node,
-- atomically.
--
-- Contract
--   KEYS[1]    HASH   room name -> the last id assigned in that room
--   KEYS[2]    STREAM the cluster log (webhooks and pushes read it; nodes hear each entry on
--              their room's channel, see feed.lua)
--   KEYS[3]    ZSET   every room name at score 0, for listing rooms by name in pages
--   KEYS[3+i]  STREAM the room of event i (a room may appear more than once)
--   ARGV[1]    time of the publish, unix milliseconds
--   ARGV[2]    events kept per room stream; 0 keeps all
--   ARGV[3]    approximate length the cluster log is trimmed to
--   ARGV[4]    seconds an idempotency key is kept
--   ARGV[5]    the most different emoji one message may carry (model::kMaxReactionKinds)
--   ARGV[6]    the most reactions one user may put on one message (model::kMaxReactionsPerUser)
--   ARGV[6+9(i-1)+1..9]  event i: kind ('m' message, 'e' edit, 'd' delete, 'r' reaction,
--              'M' member, 'R' room: a change of the room's rules, stored as it comes),
--              room, user id, text (the emoji of a reaction), idempotency key ('' for none),
--              text hash, number (a message's reply_to, '0' for none; a change's target),
--              flag ('1': a delete by a moderator, a reaction taken back, or a message
--              sent by an API key's bot user, field 'b' of its entries), files (a
--              message's JSON array of file descriptions, '' for none)
-- Returns, per event in argument order, {id, status, ts, state, reactions}:
--   status 0 stored now; 1 a message whose key was used before for the same text (id and ts
--   are the original's); 2 its key was used for another text; 3 a reaction that changes
--   nothing; 4 no such message (the target, or a message's reply_to); 5 not allowed; 6 the
--   message was deleted; 7 a new emoji past ARGV[5]; 8 a reaction past ARGV[6]. Nothing is
--   stored unless the status is 0.
--   state: for a change with status 0 or 3, the message after it as JSON ('' otherwise), and
--   reactions: its "emoji\31user" entries in reaction order, each followed by its id.
--
-- Why a script: the checks, the id, the room entry, the state and the log entry must be one
-- step. Redis runs a script alone, so ids in a room are 1, 2, 3... in one order that every
-- node reads back, a log entry never names an event its room stream lacks, two nodes taking
-- the same key at once store one message, and a change is checked against the state it
-- applies to. Room stream entry ids are "<id>-0", so XRANGE by id needs no secondary index.
--
-- Per-room keys, built here (this store runs on one Redis, not a Redis Cluster):
--   ssechat:msg:<room>        HASH  message id -> its state, JSON {u,m,t,y,e,d,x,l,f,b}:
--                                   author, text, ts, reply_to, edited ts, deleted ('1'), edit
--                                   ids, the log entries that carry its text, its files, and
--                                   b '1' from a bot
--   ssechat:edit:<room>       HASH  edit id -> its text
--   ssechat:mids:<room>       ZSET  message ids, for history pages over messages only
--   ssechat:rids:<room>       ZSET  ids of the rules' records ('M', 'R'), for pages that show them
--   ssechat:react:<room>:<id> ZSET  "emoji\31user" scored by the id of the reaction
--   ssechat:idem:<room>\31<user>\31<key>  STRING "<id>\31<ts>\31<hash>", expiring with the key
--   ssechat:pos               STRING the last position given (field 'p' of room and log entries)
-- Texts (and a message's files, which name them) live in the two hashes and the log, never
-- in the room stream, so that a delete can erase them: it clears the state, removes the edit
-- texts and deletes the log entries.
local ts, retain, logmax, ttl = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local maxkinds, maxmine = tonumber(ARGV[5]), tonumber(ARGV[6])

-- A message's state, or nil. A message stored by a release before edits may have no state
-- entry: its text is in its room stream entry, which has no kind field.
local function state_of(room, id)
  local raw = redis.call('HGET', 'ssechat:msg:' .. room, id)
  if raw then return cjson.decode(raw) end
  local e = redis.call('XRANGE', 'ssechat:room:' .. room, id .. '-0', id .. '-0')
  if #e == 0 then return nil end
  local f = {}
  for j = 1, #e[1][2], 2 do f[e[1][2][j]] = e[1][2][j + 1] end
  if f['k'] then return nil end
  return {u = f['u'], m = f['m'], t = f['t'], y = '0', e = '0', d = '0', x = {}, l = {}}
end

local function add_event(stream, room, fields, logfields)
  local id = redis.call('HINCRBY', KEYS[1], room, 1)
  -- The event's place in one sequence over every room, which user streams resume by. Log
  -- order is position order: both are taken here, in one step.
  local pos = redis.call('INCR', 'ssechat:pos')
  for _, t in ipairs({fields, logfields}) do
    table.insert(t, 'p')
    table.insert(t, pos)
  end
  if id == 1 then redis.call('ZADD', KEYS[3], 0, room) end
  local sid = string.format('%d-0', id)
  if retain > 0 then
    redis.call('XADD', stream, 'MAXLEN', retain, sid, unpack(fields))
    if id > retain then
      -- The event that fell out of the room stream takes its state with it.
      local old = id - retain
      redis.call('HDEL', 'ssechat:msg:' .. room, old)
      redis.call('HDEL', 'ssechat:edit:' .. room, old)
      redis.call('ZREM', 'ssechat:mids:' .. room, old)
      redis.call('ZREM', 'ssechat:rids:' .. room, old)
      redis.call('DEL', 'ssechat:react:' .. room .. ':' .. old)
    end
  else
    redis.call('XADD', stream, sid, unpack(fields))
  end
  local tell = {'r', room, 'i', id, unpack(logfields)}
  local lid = redis.call('XADD', KEYS[2], 'MAXLEN', '~', logmax, '*', unpack(tell))
  feed_tell('ssechat:feed-room:' .. room, lid, tell)
  return id, lid
end

local out = {}
for i = 1, #KEYS - 3 do
  local b = 6 + 9 * (i - 1)
  local kind, room, user, text = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
  local key, hash, num, flag = ARGV[b + 5], ARGV[b + 6], ARGV[b + 7], ARGV[b + 8]
  local files = ARGV[b + 9]
  local stream, mkey = KEYS[3 + i], 'ssechat:msg:' .. room
  if kind == 'M' or kind == 'R' then
    -- The node checked the change and the members script applied it: this is its record,
    -- text and all in both entries (it holds nobody's words, and no delete erases it).
    local f = {'k', kind, 'u', user, 'm', text, 't', ts}
    local id = add_event(stream, room, f, {unpack(f)})
    redis.call('ZADD', 'ssechat:rids:' .. room, id, id)
    out[i] = {id, 0, tonumber(ts), '', {}}
  elseif kind == 'm' then
    local kname = 'ssechat:idem:' .. room .. '\31' .. user .. '\31' .. key
    local seen = false
    if key ~= '' then seen = redis.call('GET', kname) end
    if seen then
      local id, sts, shash = string.match(seen, '^(%d+)\31(%d+)\31(%x+)$')
      out[i] = {tonumber(id), (shash == hash) and 1 or 2, tonumber(sts), '', {}}
    elseif num ~= '0' and not state_of(room, num) then
      out[i] = {0, 4, tonumber(ts), '', {}}
    else
      local logged = {'k', 'm', 'u', user, 'm', text, 't', ts, 'y', num}
      local entry = {'k', 'm', 'u', user, 't', ts, 'y', num}
      if files ~= '' then
        table.insert(logged, 'f')
        table.insert(logged, files)
      end
      local bot = nil
      if flag == '1' then
        bot = '1'
        table.insert(logged, 'b')
        table.insert(logged, '1')
        table.insert(entry, 'b')
        table.insert(entry, '1')
      end
      local id, lid = add_event(stream, room, entry, logged)
      redis.call('HSET', mkey, id, cjson.encode(
        {u = user, m = text, t = ts, y = num, e = '0', d = '0', x = {}, l = {lid}, f = files,
         b = bot}))
      redis.call('ZADD', 'ssechat:mids:' .. room, id, id)
      if key ~= '' then
        redis.call('SET', kname, id .. '\31' .. ts .. '\31' .. hash, 'EX', ttl)
      end
      out[i] = {id, 0, tonumber(ts), '', {}}
    end
  else
    local rkey = 'ssechat:react:' .. room .. ':' .. num
    local member = text .. '\31' .. user
    local st = state_of(room, num)
    local status = 0
    if not st then
      status = 4
    elseif st.d == '1' then
      status = 6
    elseif kind == 'e' then
      if st.u ~= user then status = 5 end
    elseif kind == 'd' then
      if st.u ~= user and flag ~= '1' then status = 5 end
    else
      local has = redis.call('ZSCORE', rkey, member) ~= false
      if has == (flag ~= '1') then
        status = 3
      elseif flag ~= '1' then
        -- model::check's bounds: different emoji on the message, and this user's reactions.
        -- Neither an emoji nor a user id holds a control character, so \31 splits them.
        local kinds, mine, known, seen = 0, 0, false, {}
        for _, m in ipairs(redis.call('ZRANGE', rkey, 0, -1)) do
          local sep = string.find(m, '\31', 1, true)
          local e, u = string.sub(m, 1, sep - 1), string.sub(m, sep + 1)
          if not seen[e] then
            seen[e] = true
            kinds = kinds + 1
          end
          if e == text then known = true end
          if u == user then mine = mine + 1 end
        end
        if not known and kinds >= maxkinds then
          status = 7
        elseif mine >= maxmine then
          status = 8
        end
      end
    end
    local id = 0
    if status == 0 then
      local fields = {'k', kind, 'u', user, 't', ts, 'g', num}
      local logfields = {'k', kind, 'u', user, 't', ts, 'g', num}
      if kind == 'e' then
        table.insert(logfields, 'm')
        table.insert(logfields, text)
      elseif kind == 'r' then
        local op = (flag == '1') and 'r' or 'a'
        for _, v in ipairs({'x', text, 'o', op}) do
          table.insert(fields, v)
          table.insert(logfields, v)
        end
      end
      local lid
      id, lid = add_event(stream, room, fields, logfields)
      if type(st.x) ~= 'table' then st.x = {} end
      if type(st.l) ~= 'table' then st.l = {} end
      if kind == 'e' then
        st.m, st.e = text, ts
        redis.call('HSET', 'ssechat:edit:' .. room, id, text)
        table.insert(st.x, tostring(id))
        table.insert(st.l, lid)
      elseif kind == 'd' then
        for _, x in ipairs(st.x) do redis.call('HDEL', 'ssechat:edit:' .. room, x) end
        for _, l in ipairs(st.l) do redis.call('XDEL', KEYS[2], l) end
        st.m, st.d, st.x, st.l, st.f = '', '1', {}, {}, ''
        redis.call('DEL', rkey)
      elseif flag == '1' then
        redis.call('ZREM', rkey, member)
      else
        redis.call('ZADD', rkey, id, member)
      end
      redis.call('HSET', mkey, num, cjson.encode(st))
    end
    local state, reactions = '', {}
    if status == 0 or status == 3 then
      state = cjson.encode(st)
      reactions = redis.call('ZRANGE', rkey, 0, -1, 'WITHSCORES')
    end
    out[i] = {id, status, tonumber(ts), state, reactions}
  end
end
return out
