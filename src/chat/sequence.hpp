// The order in which commits reach the loops, and the cursors user streams give events.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/event.hpp"

namespace ssechat::chat {

// The writer (or the cluster feed) holds `mu` while it hands a commit to the loops and moves
// `pos`; a user stream holds it while it reads where each of its rooms stands. So a new user
// stream sees every commit up to `pos` in its replay and every later one live, across all its
// rooms at once.
//
// Positions are per store shard (Store::shards; one but for sharded Redis). Each shard's
// feed moves its own; the cursor of an event is its position on its shard and, on every
// other, where this node stood when it sequenced the event. Those only rise, so a stream's
// cursors only rise, and resuming from one misses nothing and repeats nothing: on each
// shard, everything at or before the cursor's position was sequenced before the event.
struct Sequence {
    std::mutex mu;
    std::condition_variable moved;    // pos moved (cluster mode: a user stream waits for the feed)
    model::Positions pos;             // per shard: the newest position handed to the loops
    std::vector<std::string> epochs;  // per shard, for cursors; set before the writer starts
    uint64_t commits = 0;             // commits handed to the loops so far (Delivery::order)
    size_t user_streams = 0;          // open user streams: commits encode a user form only if any
    std::unordered_map<std::string, int> streaming;  // users with user streams on this node
    uint64_t gaps = 0;  // deliveries sequenced with a gap or a fill (cluster feed), so far

    bool sharded() const { return pos.size() > 1; }
    // The cursor of an event at `p` on `shard`, sequenced now. With several shards it reads
    // the others' positions: hold `mu`. (The number of shards is fixed at start.)
    std::string cursor_at(size_t shard, uint64_t p) const {
        if (!sharded()) return model::cursor(epochs, {p});
        model::Positions at = pos;
        at[shard] = p;
        return model::cursor(epochs, at);
    }
};

}  // namespace ssechat::chat
