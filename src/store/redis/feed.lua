-- feed.lua: put in front of every script that tells the nodes of a change. The cluster log
-- (ssechat:log) stays the durable record that webhooks and pushes read; the nodes hear of
-- changes over sharded pub/sub instead, on the channels of what they serve:
--   ssechat:feed-room:<room>  the room's stored events, membership changes, typing, presence
--   ssechat:feed-user:<user>  the user's membership changes (for their user streams)
--   ssechat:feed              confirmations (--redis-replicas) and position marks (barrier.lua)
-- Redis sends one connection its messages in publish order, so a node hears each room's
-- changes in log order, interleaved as the log has them. A message is the log entry id (''
-- for typing and presence, which are not stored) and the entry's fields, each as
-- "<length>:<bytes>": binary-safe, and read without a JSON codec on either side.
local function feed_frame(lid, fields)
  local t = {#lid .. ':' .. lid}
  for i = 1, #fields do
    local s = fields[i]
    if type(s) == 'number' then s = string.format('%d', s) end
    t[#t + 1] = #s .. ':' .. s
  end
  return table.concat(t)
end

local function feed_tell(channel, lid, fields)
  redis.call('SPUBLISH', channel, feed_frame(lid, fields))
end
