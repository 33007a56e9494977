// Where webhooks, their cursors and their last deliveries are kept: the rooms' store (memory
// or SQLite), on a connection of its own. A store only keeps them; which event goes where,
// and when, is the delivery engine's (http/webhooks.cpp). Every call may come from any
// thread and throws StoreError when the store cannot be used.
#pragma once
#include <memory>
#include <optional>
#include <string>
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
    // Moves the cursor forward (never back) after a delivery.
    virtual void advance(const std::string& id, uint64_t cursor) = 0;
    // Records an attempt, keeping the last model::kHookDeliveriesKept; newest first.
    virtual void record(const std::string& id, const model::Delivery& d) = 0;
    virtual std::vector<model::Delivery> deliveries(const std::string& id) = 0;
    // The log's end as this connection sees it, where a webhook made beside a running server
    // (`ssechat webhook create`) starts; 0 in memory, where only the server makes them.
    virtual uint64_t log_end() = 0;
};

// The webhooks of the store that `cfg` names, or null for a store that keeps none (Redis,
// for now).
std::unique_ptr<Webhooks> open_webhooks(const Config& cfg);

}  // namespace ssechat::store
