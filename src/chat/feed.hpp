// The cluster feed: with a shared store, every node's commits come back through the store's
// log, and this delivers them to this node's loaded rooms once each, in id order, filling
// gaps (a trimmed log, an outage) from the store.
#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "chat/registry.hpp"
#include "chat/room.hpp"
#include "chat/writer.hpp"
#include "store/cluster.hpp"
#include "store/store.hpp"
#include "util/config.hpp"

namespace ssechat::chat {

class Feed {
  public:
    using FanOut = std::function<void(std::shared_ptr<Delivery>)>;
    Feed(const Config& cfg, store::Store& store, Registry& registry, Sequence& seq, FanOut fan_out);

    // Events [from, to) of one read of the log (feed thread): every node's, deduplicated by
    // id per room. Rooms not loaded here are skipped: they read the store when they load.
    void on_batch(std::vector<Event>& msgs, size_t from, size_t to);
    // The feed of store shard `shard` read everything up to `pos`: user streams opening now
    // start from there.
    void advance(size_t shard, uint64_t pos);
    // Delivers a room's events in id order, filling gaps from the store; with no events, a
    // probe for anything newer than the room has. Serialized: the feed thread and a loop
    // that just loaded the room both call it.
    void ingest(const std::shared_ptr<Room>& r, std::vector<Event> msgs);
    // The feed was cut and is back: every loaded room re-reads from its last id.
    void catch_up();

  private:
    const Config& cfg_;
    store::Store& store_;
    Registry& registry_;
    Sequence& seq_;
    FanOut fan_out_;
    std::mutex ingest_mu_;
};

}  // namespace ssechat::chat
