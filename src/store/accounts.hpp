// Where accounts, sign-in sessions and invites are kept: the same store as the rooms (memory,
// SQLite or Redis), through a connection of their own, so that `ssechat user` can change
// them while servers run on that store. Every call may come from any thread; each throws
// StoreError when the store cannot be used. The rules about them live in model/account.hpp:
// a store only makes each call atomic.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/account.hpp"
#include "model/api_key.hpp"
#include "store/store.hpp"
#include "util/config.hpp"

namespace ssechat::store {

class Accounts {
  public:
    virtual ~Accounts() = default;

    virtual std::optional<model::Account> account(const std::string& user) = 0;
    // Adds a new account; false when the id has one already.
    virtual bool add_account(const model::Account& a) = 0;
    // Writes an existing account's fields but its id and created_at; false when there is none.
    virtual bool update_account(const model::Account& a) = 0;
    // Every account, by user id.
    virtual std::vector<model::Account> accounts() = 0;
    // Whether any account is an admin (the first admin is made once).
    virtual bool any_admin() = 0;

    virtual void add_sign_in(const model::SignIn& s) = 0;
    virtual std::optional<model::SignIn> sign_in(const std::string& key) = 0;
    virtual std::vector<model::SignIn> sign_ins(const std::string& user) = 0;
    virtual void seen(const std::string& key, int64_t at) = 0;
    // Ends the sign-in with `key`; false when there was none.
    virtual bool end_sign_in(const std::string& key) = 0;
    // Ends every sign-in of `user` but the one with key `keep` ("": all); how many ended.
    virtual size_t end_sign_ins(const std::string& user, const std::string& keep) = 0;

    virtual void add_invite(const model::Invite& i) = 0;
    virtual std::vector<model::Invite> invites() = 0;
    virtual bool drop_invite(const std::string& code) = 0;
    // Makes account `a` with invite `code` in one step: the invite is used up only when the
    // account is made, and takes `a.admin` from it. An empty code is an open sign-up.
    virtual model::Claim claim(const std::string& code, model::Account& a, int64_t now) = 0;

    // Server API keys, found by the SHA-256 of the key (model/api_key.hpp). add_key is false
    // when the name is taken; revoke_key (false: no such key) moves the revision, so every
    // server drops it within a second.
    virtual bool add_key(const model::ApiKey& k) = 0;
    virtual std::optional<model::ApiKey> key(const std::string& hash) = 0;
    virtual std::vector<model::ApiKey> keys() = 0;
    virtual bool revoke_key(const std::string& name) = 0;
    virtual void key_used(const std::string& name, int64_t at) = 0;

    // Changes whenever a sign-in ends, an account changes or a key is revoked, by any process on
    // this store: servers poll it to end the streams of sessions that ended elsewhere (the CLI,
    // another node) within a second.
    virtual uint64_t revision() = 0;
    // Counts a failed sign-in under `key` (now, when `add`) in a window of `window_ms` that
    // starts at the key's first failure; answers the failures in the window and, in
    // `retry_ms`, how long until it ends. Kept where every server of the store sees it.
    virtual int failures(const std::string& key, bool add, int64_t now, int64_t window_ms,
                         int64_t& retry_ms) = 0;
};

// The accounts of the store that `cfg` names (--store, --data, --redis).
std::unique_ptr<Accounts> open_accounts(const Config& cfg);

}  // namespace ssechat::store
