// Server API keys at the HTTP edge: the keys a request presents (`Authorization: Bearer
// sk_...`), checked against the store by their SHA-256 and cached, and the streams of a key
// that is revoked here, on another node, or by `ssechat apikey revoke`, ended within a
// second. A resource with its own state and store connection, so that keys work on a server
// with tokens, accounts or neither.
#pragma once
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "chat/shard.hpp"
#include "model/api_key.hpp"
#include "store/accounts.hpp"
#include "util/periodic.hpp"

namespace ssechat::http {

// A key a request presented, as the store has it, and the credential its streams share.
struct KeyUse {
    model::ApiKey key;
    std::shared_ptr<chat::Credential> credential;
};

class ApiKeys {
  public:
    ApiKeys(std::unique_ptr<store::Accounts> store, std::vector<chat::Shard*> shards);
    ~ApiKeys();
    // Ends the watcher: before the event loops it posts to are destroyed. Idempotent.
    void stop() { watcher_.reset(); }
    store::Accounts& store() { return *store_; }

    // The key behind a bearer credential, or nullopt (unknown or revoked). Found by its
    // SHA-256 (a lookup that tells nothing about the key itself), and the hash then compared
    // in constant time. Cached; the store is read for a key not seen since the last revision.
    // Throws StoreError.
    std::optional<KeyUse> check(const std::string& presented, int64_t now_ms);
    // Revokes a key here (other nodes see the revision move) and ends its streams.
    bool revoke(const std::string& name);

  private:
    struct Entry {
        KeyUse use;
        int64_t used_written = 0;  // last_used as this node last wrote it
    };
    // Polled: when the store's revision moves, every cached key is checked again and the
    // streams of those revoked end.
    void recheck();
    void end_streams();

    std::unique_ptr<store::Accounts> store_;
    std::vector<chat::Shard*> shards_;

    std::mutex mu_;
    std::unordered_map<std::string, Entry> cache_;  // by hash
    uint64_t revision_ = 0;
    uint64_t generation_ = 0;  // moves when keys may have been revoked: see SignIns

    std::unique_ptr<util::Periodic> watcher_;
};

}  // namespace ssechat::http
