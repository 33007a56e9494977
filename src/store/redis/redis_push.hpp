// Web Push state in Redis beside the rooms, shared by every node of the store, and the lease
// that lets one node at a time send the pushes.
#pragma once
#include <mutex>

#include "store/push.hpp"
#include "store/redis/redis_conn.hpp"

namespace ssechat::store {

class RedisPush final : public Push {
  public:
    RedisPush(RedisUrl url, int timeout_ms, Durability durability = {});
    std::string vapid_key(const std::string& fresh) override;
    void subscribe(const model::PushSubscription& s) override;
    bool unsubscribe(const std::string& user, const std::string& endpoint) override;
    void drop(const std::string& endpoint) override;
    std::vector<model::PushSubscription> subscriptions(const std::string& user) override;
    std::set<std::string> subscribed() override;
    std::map<std::string, model::NotifyLevel> levels(const std::string& user) override;
    std::optional<model::NotifyLevel> level(const std::string& user,
                                            const std::string& room) override;
    std::vector<std::string> listeners(const std::string& room) override;
    void set_level(const std::string& user, const std::string& room,
                   model::NotifyLevel level) override;
    uint64_t cursor(size_t shard) override;
    void advance(size_t shard, uint64_t pos) override;
    bool lease(const std::string& node, int64_t ttl_ms) override;

  private:
    std::mutex mu_;  // one connection: push state calls are few next to the room traffic
    RedisConn conn_;
    Script subscribe_, remove_, advance_, lease_;
};

}  // namespace ssechat::store
