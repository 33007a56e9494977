// Accounts held in this process only (--store memory), and the failure counter that the
// stores with one server per store (memory, SQLite) keep in memory.
#pragma once
#include <map>
#include <mutex>
#include <unordered_map>

#include "store/accounts.hpp"

namespace ssechat::store {

// Failed sign-ins per key in fixed windows. Bounded: past kMaxKeys, windows that ended go,
// and if none did the oldest window goes, so a flood of made-up user ids cannot grow it.
class LocalFailures {
  public:
    int count(const std::string& key, bool add, int64_t now, int64_t window_ms, int64_t& retry_ms);

  private:
    static constexpr size_t kMaxKeys = 100000;
    struct Window {
        int64_t start = 0, end = 0;
        int n = 0;
    };
    std::mutex mu_;
    std::unordered_map<std::string, Window> windows_;
};

class MemoryAccounts final : public Accounts {
  public:
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
                 int64_t& retry_ms) override {
        return failures_.count(key, add, now, window_ms, retry_ms);
    }

  private:
    std::mutex mu_;
    std::map<std::string, model::Account> accounts_;
    std::unordered_map<std::string, model::SignIn> sign_ins_;  // by key
    std::map<std::string, model::Invite> invites_;
    std::map<std::string, model::ApiKey> keys_;  // by name
    uint64_t revision_ = 0;
    LocalFailures failures_;
};

}  // namespace ssechat::store
