-- barrier.lua: a mark of where this shard's log stands, sent to every node's feed. Redis
-- delivers it after every change published before it, so a node that hears it has heard
-- every change up to that position of the rooms and users it follows (the others it never
-- hears): its user streams may start from there. (feed.lua is put in front.)
--
-- Contract
--   KEYS[1]  the cluster log, for the id of its last entry (a node that holds entries until
--            the replicas confirm them holds the mark as long)
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local lid = last[1] and last[1][1] or '0-0'
feed_tell('ssechat:feed', '', {'k', 'b', 'p', redis.call('GET', 'ssechat:pos') or '0', 'l', lid})
return 1
