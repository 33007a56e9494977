// Accounts in Redis beside the rooms: every server of the store, and `ssechat user`, share
// them; accounts.lua makes each change atomic.
#pragma once
#include <mutex>

#include "store/accounts.hpp"
#include "store/redis/redis_conn.hpp"

namespace ssechat::store {

class RedisAccounts final : public Accounts {
  public:
    RedisAccounts(RedisUrl url, int timeout_ms, Durability durability = {});

    std::optional<model::Account> account(const std::string& user) override;
    bool add_account(const model::Account& a) override;
    bool update_account(const model::Account& a) override;
    std::vector<model::Account> accounts() override;
    bool any_admin() override;
    void add_sign_in(const model::SignIn& s) override;
    std::optional<model::SignIn> sign_in(const std::string& key) override;
    std::vector<model::SignIn> sign_ins(const std::string& user) override;
    void seen(const std::string& key, int64_t at) override;
    bool end_sign_in(const std::string& key) override;
    size_t end_sign_ins(const std::string& user, const std::string& keep) override;
    void add_invite(const model::Invite& i) override;
    std::vector<model::Invite> invites() override;
    bool drop_invite(const std::string& code) override;
    model::Claim claim(const std::string& code, model::Account& a, int64_t now) override;
    bool add_key(const model::ApiKey& k) override;
    std::optional<model::ApiKey> key(const std::string& hash) override;
    std::vector<model::ApiKey> keys() override;
    bool revoke_key(const std::string& name) override;
    void key_used(const std::string& name, int64_t at) override;
    uint64_t revision() override;
    int failures(const std::string& key, bool add, int64_t now, int64_t window_ms,
                 int64_t& retry_ms) override;

  private:
    Reply change(const std::vector<std::string>& args);
    // HGETALL of each key, in one round trip; a missing hash comes back empty.
    std::vector<std::vector<std::pair<std::string, std::string>>> hashes(
        const std::vector<std::string>& keys);
    // The hashes `prefix`+id of each id in `set`, by id; ids whose hash is gone are left out.
    std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> listed(
        const std::string& set, const std::string& prefix);

    std::mutex mu_;  // one connection: account calls are rare next to the room traffic
    RedisConn conn_;
    Script script_;
};

}  // namespace ssechat::store
