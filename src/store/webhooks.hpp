// Where webhooks, their cursors and their last deliveries are kept: the rooms' store
// (memory, SQLite or Redis), on a connection of its own. A store only keeps them; which event goes
// where, and when, is the delivery engine's (http/webhooks.cpp). Every call may come from any
// thread and throws StoreError when the store cannot be used.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/webhook.hpp"
#include "store/store.hpp"

namespace ssechat {
struct Config;
}

namespace ssechat::store {

class Webhooks {
  public:
    virtual ~Webhooks() = default;
    virtual void add(const model::Webhook& w) = 0;
    virtual std::vector<model::Webhook> list() = 0;
    virtual std::optional<model::Webhook> get(const std::string& id) = 0;
    // Writes url, events, rooms and the disabled state; false when there is no such webhook.
    virtual bool update(const model::Webhook& w) = 0;
    virtual bool remove(const std::string& id) = 0;
    // Moves the cursor on a store shard forward (never back) after a delivery.
    virtual void advance(const std::string& id, size_t shard, uint64_t cursor) = 0;
    // Records an attempt, keeping the last model::kHookDeliveriesKept; newest first.
    virtual void record(const std::string& id, const model::Delivery& d) = 0;
    virtual std::vector<model::Delivery> deliveries(const std::string& id) = 0;
    struct Moved {
        std::string id;
        size_t shard = 0;
        uint64_t cursor = 0;
    };
    // Cursors moved and attempts made, together: one transaction in SQLite.
    virtual void save(const std::vector<Moved>& cursors,
                      const std::vector<std::pair<std::string, model::Delivery>>& attempts) {
        for (const auto& m : cursors) advance(m.id, m.shard, m.cursor);
        for (const auto& [id, d] : attempts) record(id, d);
    }
    // Each store shard's log end as this connection sees it, where a webhook made beside a
    // running server (`ssechat webhook create`) starts; {0} in memory, where only the server
    // makes them.
    virtual model::Positions log_end() = 0;
    // Takes or renews the lease on delivering webhook `id` for `node`, for `ttl_ms`; false
    // while another node holds it. A store that one server owns (memory, SQLite) has no
    // other node to share with.
    virtual bool lease(const std::string& id, const std::string& node, int64_t ttl_ms) {
        (void)id, (void)node, (void)ttl_ms;
        return true;
    }
    // A webhook is behind a shard's log by more than the engine reads ahead: keeps that log
    // whole (untrimmed) for `ttl_ms`, so that it is not trimmed past the webhook's cursor.
    // Only a store whose log is trimmed (Redis, --redis-log-max) does anything.
    virtual void keep_log(size_t shard, const std::string& node, int64_t ttl_ms) {
        (void)shard, (void)node, (void)ttl_ms;
    }
};

// The webhooks of the store that `cfg` names.
std::unique_ptr<Webhooks> open_webhooks(const Config& cfg);

}  // namespace ssechat::store
