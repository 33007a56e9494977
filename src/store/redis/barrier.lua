-- barrier.lua: a mark of where this shard's log stands, sent to every node's feed. Redis
-- delivers it after every change published before it, so a node that hears it has heard
-- every change up to that position of the rooms and users it follows (the others it never
-- hears): its user streams may start from there. (feed.lua is put in front.)
--
-- With --redis-replicas a node holds the mark until the replicas have the log up to its last
-- stored change ('l'), as it holds the changes: a position the replicas may not have must
-- not move a cursor. Confirmation markers (k=c) are log entries too, but record nothing the
-- replicas need: the last entry that is not one is the one that counts, or a mark made after
-- a confirmation would wait for the next.
--
-- Contract
--   KEYS[1]  the cluster log
local lid, from = '0-0', '+'
for _ = 1, 64 do
  local page = redis.call('XREVRANGE', KEYS[1], from, '-', 'COUNT', 16)
  for _, e in ipairs(page) do
    local f = e[2]
    if not (f[1] == 'k' and f[2] == 'c') then
      lid = e[1]
      break
    end
  end
  if lid ~= '0-0' or #page < 16 then break end
  from = '(' .. page[#page][1]
end
feed_tell('ssechat:feed', '', {'k', 'b', 'p', redis.call('GET', 'ssechat:pos') or '0', 'l', lid})
return 1
