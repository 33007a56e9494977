// Webhooks in Redis beside the rooms, shared by every node of the store, and the lease that
// lets exactly one node at a time deliver each.
#pragma once
#include <mutex>

#include "store/redis/redis_conn.hpp"
#include "store/webhooks.hpp"

namespace ssechat::store {

class RedisWebhooks final : public Webhooks {
  public:
    // The webhooks live on the first of --redis's shards; the others are asked for their log
    // ends and pinned.
    RedisWebhooks(std::vector<RedisUrl> shards, int timeout_ms, Durability durability = {});
    void add(const model::Webhook& w) override;
    std::vector<model::Webhook> list() override;
    std::optional<model::Webhook> get(const std::string& id) override;
    bool update(const model::Webhook& w) override;
    bool remove(const std::string& id) override;
    void advance(const std::string& id, size_t shard, uint64_t cursor) override;
    void record(const std::string& id, const model::Delivery& d) override;
    std::vector<model::Delivery> deliveries(const std::string& id) override;
    model::Positions log_end() override;
    bool lease(const std::string& id, const std::string& node, int64_t ttl_ms) override;
    void keep_log(size_t shard, const std::string& node, int64_t ttl_ms) override;

  private:
    RedisConn& shard(size_t s) { return s == 0 ? conn_ : *others_.at(s - 1); }
    std::mutex mu_;  // one connection a shard: webhook calls are few next to the room traffic
    RedisConn conn_;
    std::vector<std::unique_ptr<RedisConn>> others_;
    Script advance_, lease_;
};

}  // namespace ssechat::store
