// What a shared store adds when several nodes write it: ids assigned by the store, a feed of
// every node's commits to the rooms a node serves, and presence counted across nodes.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/event.hpp"
#include "store/store.hpp"

namespace ssechat::store {

// A user's cluster-wide presence in a room changed.
struct PresenceChange {
    std::string room;
    std::string user;
    bool joined = false;
    int online = 0;  // distinct users online in the room, across nodes, after the change
};

// A user started or stopped typing in a room, on some node.
struct TypingChange {
    std::string room;
    std::string user;
    bool on = false;
};

// A membership change (join, leave, read marker) made on some node: `op` as applied, with its
// result Done, `read` and, for a join, `pos`.
struct MemberChange {
    MemberOp op;
    size_t at = 0;  // how many of the batch's messages came before it in the log
};

// One read of the cluster feed, in log order. Events of one room arrive in id order.
struct FeedBatch {
    size_t shard = 0;  // the store shard whose log this is (Store::shards); positions are its

    std::vector<model::Event> messages;  // stored events of every kind
    std::vector<PresenceChange> presence;
    std::vector<TypingChange> typing;
    std::vector<MemberChange> members;  // ordered among `messages` by `at`
    // A position mark (Cluster::sync): every change up to it of the rooms and users followed
    // here has come, in this batch or before. 0: none.
    uint64_t reached = 0;
};

// One event's result: for a change that was stored or changed nothing, the message's state
// right after it, with its reactions.
struct Published {
    // Ok (stored now, with its id and ts), Replayed (a key that stored the same text: the
    // original's id and ts), KeyConflict, or a change's check() refusal: nothing stored.
    model::Outcome status = model::Outcome::Ok;
    model::Event state;
};

struct FeedHandlers {
    std::function<void(FeedBatch&)> batch;
    // The feed was cut and is back: entries may have been trimmed from the log meanwhile, so
    // the listener re-reads every room it holds from its last id.
    std::function<void()> resumed;
    // The store confirmed that `room` is followed (route): changes made between the room's
    // load and this moment may not have come, and are read from the store now.
    std::function<void(const std::string& room)> followed;
};

class Cluster {
  public:
    virtual ~Cluster() = default;

    // Checks each event against its message's state (model::check, with `moderator[i]` for a
    // delete), stores those that pass atomically and durably, and fills in the id and ts of
    // each, and what happened to it in `out`: a message whose idempotency key was used
    // before is not stored again. Throws StoreError when the store cannot be reached; then
    // nothing of the batch is stored, or, when the reply was lost, all of it (and a retry
    // with the same keys finds them).
    virtual void publish(std::vector<model::Event>& batch, const std::vector<bool>& moderator,
                         std::vector<Published>& out) = 0;

    // Starts hearing the changes of the rooms and users this node follows (route, watch),
    // from now on. Handlers run on one feed thread per store shard, one at a time.
    virtual void follow(FeedHandlers handlers) = 0;

    // Routing: a node hears only the rooms it follows (their events, membership changes,
    // typing and presence) and the membership changes of the users it follows, so adding
    // nodes does not add readers of every room. Counted: followed while more calls turned it
    // on than off. Turning on returns once the store confirmed it (within a second), so a
    // read of the store after it misses nothing the feed will not bring.
    virtual void route(const std::string& room, bool on) = 0;
    virtual void watch(const std::string& user, bool on) = 0;
    // Asks for a position mark on the feed of store shard `shard` (FeedBatch::reached): a
    // node whose rooms are quiet learns how far the shard's log is. Throws StoreError.
    virtual void sync(size_t shard) = 0;

    // This node's streams: the first one of `user` in `room` opened, or the last closed.
    // Queued; applied in order by a presence thread that also keeps the entries alive.
    virtual void presence(const std::string& room, const std::string& user, bool joined) = 0;

    // Announces a typing change to every node through the log (queued like presence; lost,
    // not retried, while the store is away: typing is not worth a backlog).
    virtual void typing(const std::string& room, const std::string& user, bool on) = 0;

    // Users online in a room across nodes, sorted; a dead node's users count until the next
    // sweep after their expiry. Throws StoreError.
    virtual std::vector<std::string> online(const std::string& room) = 0;
    // Distinct online users per room, one round trip. Throws StoreError.
    virtual std::vector<size_t> online_counts(const std::vector<std::string>& rooms) = 0;

    // Stops the feed and presence threads; this node's presence entries are removed first.
    virtual void stop() = 0;
};

}  // namespace ssechat::store
