// Webhooks in Redis beside the rooms, shared by every node of the store, and the lease that
// lets exactly one node at a time deliver each.
#pragma once
#include <mutex>

#include "store/redis/redis_conn.hpp"
#include "store/webhooks.hpp"

namespace ssechat::store {

class RedisWebhooks final : public Webhooks {
  public:
    RedisWebhooks(RedisUrl url, int timeout_ms, Durability durability = {});
    void add(const model::Webhook& w) override;
    std::vector<model::Webhook> list() override;
    std::optional<model::Webhook> get(const std::string& id) override;
    bool update(const model::Webhook& w) override;
    bool remove(const std::string& id) override;
    void advance(const std::string& id, uint64_t cursor) override;
    void record(const std::string& id, const model::Delivery& d) override;
    std::vector<model::Delivery> deliveries(const std::string& id) override;
    uint64_t log_end() override;
    bool lease(const std::string& id, const std::string& node, int64_t ttl_ms) override;
    void keep_log(const std::string& node, int64_t ttl_ms) override;

  private:
    std::mutex mu_;  // one connection: webhook calls are few next to the room traffic
    RedisConn conn_;
    Script advance_, lease_;
};

}  // namespace ssechat::store
