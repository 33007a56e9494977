// Accounts in the SQLite file of the rooms, through a connection of their own (SqliteConn).
#pragma once
#include <mutex>

#include "store/accounts.hpp"
#include "store/memory/memory_accounts.hpp"
#include "store/sqlite/sqlite_conn.hpp"

namespace ssechat::store {

class SqliteAccounts final : public Accounts {
  public:
    // Opens (and makes, the first time) `dir`/ssechat.db and its account tables.
    explicit SqliteAccounts(const std::string& dir);
    ~SqliteAccounts() override;

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
    // One server per file: its failures are its own.
    int failures(const std::string& key, bool add, int64_t now, int64_t window_ms,
                 int64_t& retry_ms) override {
        return failures_.count(key, add, now, window_ms, retry_ms);
    }

  private:
    using Stmt = SqliteConn::Stmt;
    // Moves the revision (a change other servers must see); inside a transaction.
    void bump();
    SqliteConn db_;
    std::mutex mu_;
    LocalFailures failures_;
};

}  // namespace ssechat::store
