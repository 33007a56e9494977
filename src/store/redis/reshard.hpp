// Moving rooms between shard lists (`ssechat redis reshard`): every room whose shard differs
// between two lists (util/placement.hpp) is copied whole to its new shard, its events given
// positions there, and then removed from the old one, with the nodes stopped. Progress is
// kept on the first shard, so a run that was cut short is finished by running it again.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "util/redis_url.hpp"

namespace ssechat::store {

struct ReshardReport {
    size_t rooms = 0;   // rooms found on the old shards
    size_t moved = 0;   // of those, moved to another shard (now or by the interrupted run)
    size_t events = 0;  // events moved
};

// Moves the rooms of `from` (the list the data was written with, in its order) to where `to`
// places them. The first shard must be the same Redis in both: the server-wide records stay
// there. Refuses (StoreError saying why) lists that do not match the shards' markers, a run
// with other lists than one in progress, and shards with nodes still on them (unexpired
// presence). `say` is told of each room moved. Every cursor of user streams starts over after
// (new epochs); webhooks and pushes go on from where they were on each shard that keeps its
// place in the list, and from its log's end on any other.
ReshardReport reshard(const std::vector<RedisUrl>& from, const std::vector<RedisUrl>& to,
                      const std::function<void(const std::string& line)>& say);

}  // namespace ssechat::store
