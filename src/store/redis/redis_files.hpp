// File descriptions in Redis, shared by every node (their bytes are in a folder all nodes
// share, --files). A claim is WATCH, read, model::claim_problem() here, then MULTI/EXEC:
// the rule stays in C++ and Redis only makes it atomic (a file changed meanwhile retries).
//   ssechat:file:<id>          HASH  the description (model::FileInfo's fields)
//   ssechat:files:unclaimed    ZSET  ids of files no message has claimed, by upload time
//   ssechat:files:sha:<sha256> SET   ids of the files with those bytes
#pragma once
#include <mutex>

#include "store/files.hpp"
#include "store/redis/redis_conn.hpp"
#include "util/redis_url.hpp"

namespace ssechat::store {

class RedisFiles final : public FileStore {
  public:
    RedisFiles(RedisUrl url, int timeout_ms, Durability durability = {});
    void add(const model::FileInfo& f) override;
    std::optional<model::FileInfo> get(const std::string& id) override;
    Claim claim(const std::vector<std::string>& ids, const std::string& room,
                const std::string& uploader, const std::string& key) override;
    void unclaim(const std::vector<std::string>& ids) override;
    std::vector<std::string> remove(const std::vector<std::string>& ids,
                                    bool unclaimed_only) override;
    std::vector<std::string> unclaimed(int64_t before_ms, size_t limit) override;

  private:
    std::optional<model::FileInfo> get_locked(const std::string& id);
    std::mutex mu_;  // one connection, and a WATCH belongs to it
    RedisConn conn_;
};

}  // namespace ssechat::store
