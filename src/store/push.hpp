// Where Web Push state is kept: the server's VAPID key, each user's browser subscriptions and
// notification levels, and the push cursor (the log position every push was sent up to), in
// the rooms' store (memory, SQLite or Redis) on a connection of its own. A store only keeps
// them; who is pushed what is model/push, and the sending is http/push.cpp. Every call may come
// from any thread and throws StoreError when the store cannot be used.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "model/push.hpp"
#include "store/store.hpp"

namespace ssechat {
struct Config;
}

namespace ssechat::store {

class Push {
  public:
    virtual ~Push() = default;
    // The VAPID key (PEM): the one stored, or `fresh` stored now when there is none. Several
    // nodes starting at once all end up with the first one stored.
    virtual std::string vapid_key(const std::string& fresh) = 0;
    // Adds or renews (by endpoint) a subscription; past model::kMaxPushSubscriptions for the
    // user the oldest goes. An endpoint another user had moves to this one (a shared browser
    // signed in as someone else).
    virtual void subscribe(const model::PushSubscription& s) = 0;
    // false when the user has no such endpoint.
    virtual bool unsubscribe(const std::string& user, const std::string& endpoint) = 0;
    // The push service said the endpoint is gone (404, 410): whoever had it.
    virtual void drop(const std::string& endpoint) = 0;
    virtual std::vector<model::PushSubscription> subscriptions(const std::string& user) = 0;
    // The users with at least one subscription: only they can be pushed anything.
    virtual std::set<std::string> subscribed() = 0;
    // A user's chosen levels, by room (rooms never chosen are absent).
    virtual std::map<std::string, model::NotifyLevel> levels(const std::string& user) = 0;
    // One room's level for a user, nullopt when never chosen.
    virtual std::optional<model::NotifyLevel> level(const std::string& user,
                                                    const std::string& room) = 0;
    // The users who chose "all" for `room`: beside mentions, replies and direct messages, the
    // only ones a message can reach.
    virtual std::vector<std::string> listeners(const std::string& room) = 0;
    virtual void set_level(const std::string& user, const std::string& room,
                           model::NotifyLevel level) = 0;
    // The position on a store shard's log that pushes were sent up to; 0 before the first
    // (then the engine starts at that log's end: nothing from before is pushed). Memory and
    // SQLite are one shard.
    virtual uint64_t cursor(size_t shard) = 0;
    virtual void advance(size_t shard, uint64_t pos) = 0;  // never back
    // Takes or renews the lease on sending pushes for `node`, for `ttl_ms`; false while another
    // node holds it. A store one server owns (memory, SQLite) has no other node.
    virtual bool lease(const std::string& node, int64_t ttl_ms) {
        (void)node, (void)ttl_ms;
        return true;
    }
};

// The push state of the store that `cfg` names.
std::unique_ptr<Push> open_push(const Config& cfg);

}  // namespace ssechat::store
