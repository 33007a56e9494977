#include "store/accounts.hpp"

#include "store/memory/memory_accounts.hpp"
#include "store/redis/redis_accounts.hpp"
#include "store/sqlite/sqlite_accounts.hpp"

namespace ssechat::store {

std::unique_ptr<Accounts> open_accounts(const Config& cfg) {
    if (cfg.store == "memory") return std::make_unique<MemoryAccounts>();
    if (cfg.store == "redis") return std::make_unique<RedisAccounts>(redis_url_of(cfg.redis), 2000, redis_durability_of(cfg));
    return std::make_unique<SqliteAccounts>(cfg.data_dir);
}

}  // namespace ssechat::store
