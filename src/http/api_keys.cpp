#include "http/api_keys.hpp"

#include <openssl/crypto.h>

#include <boost/asio/post.hpp>

#include "util/log.hpp"

namespace ssechat::http {

namespace {

// How often the store's revision is read: a key revoked elsewhere stops working, and its
// streams end, within this and a flush.
constexpr auto kWatchEvery = std::chrono::milliseconds(250);
// last_used is written at most this often per key per node: a request is not a write.
constexpr int64_t kUsedEveryMs = 60 * 1000;
constexpr size_t kMaxCached = 10000;
// "sk_" and 43 characters of base64url; anything longer is not one of ours.
constexpr size_t kMaxKey = 64;

}  // namespace

ApiKeys::ApiKeys(std::unique_ptr<store::Accounts> store, std::vector<chat::Shard*> shards)
    : store_(std::move(store)), shards_(std::move(shards)) {
    try {
        revision_ = store_->revision();
    } catch (const store::StoreError& e) {
        // The store's own outage is logged where it is used; keys wait for it quietly.
        log::debug(std::string("api keys: ") + e.what());
    }
    watcher_ = std::make_unique<util::Periodic>(kWatchEvery, [this] {
        try {
            recheck();
        } catch (const store::StoreError& e) {
            // The store is away: keys stay as they were until it is back.
            log::debug(std::string("api keys: ") + e.what());
        }
    });
}

ApiKeys::~ApiKeys() {
    stop();
}

std::optional<KeyUse> ApiKeys::check(const std::string& presented, int64_t now) {
    if (!model::looks_like_api_key(presented) || presented.size() > kMaxKey) return std::nullopt;
    const std::string hash = model::api_key_hash(presented);
    auto same = [&](const model::ApiKey& k) {
        return k.hash.size() == hash.size() &&
               CRYPTO_memcmp(k.hash.data(), hash.data(), hash.size()) == 0;
    };
    std::string used_due;  // the key's name when its last_used is to be written
    {
        std::lock_guard lk(mu_);
        if (auto it = cache_.find(hash); it != cache_.end() && same(it->second.use.key)) {
            auto& e = it->second;
            if (e.use.credential->revoked) return std::nullopt;
            if (now - e.used_written < kUsedEveryMs) return e.use;
            e.used_written = now;
            e.use.key.last_used = now;
            used_due = e.use.key.name;
        }
    }
    if (!used_due.empty()) {
        store_->key_used(used_due, now);
        std::lock_guard lk(mu_);
        if (auto it = cache_.find(hash); it != cache_.end() && !it->second.use.credential->revoked)
            return it->second.use;
        return std::nullopt;
    }
    while (true) {
        uint64_t generation;
        {
            std::lock_guard lk(mu_);
            generation = generation_;
        }
        auto k = store_->key(hash);
        if (!k || !same(*k)) return std::nullopt;
        if (now - k->last_used >= kUsedEveryMs) {
            store_->key_used(k->name, now);
            k->last_used = now;
        }
        std::lock_guard lk(mu_);
        if (generation != generation_) continue;  // keys revoked meanwhile: read again
        if (cache_.size() >= kMaxCached) {
            // Keys without an open stream go first: an entry holding a stream's credential is
            // how its streams end.
            std::erase_if(cache_,
                          [](const auto& kv) { return kv.second.use.credential.use_count() == 1; });
            if (cache_.size() >= kMaxCached) cache_.clear();
        }
        auto& e = cache_[hash];
        if (!e.use.credential) e.use.credential = std::make_shared<chat::Credential>();
        e.used_written = k->last_used;
        e.use.key = std::move(*k);
        return e.use;
    }
}

bool ApiKeys::revoke(const std::string& name) {
    if (!store_->revoke_key(name)) return false;
    bool ended = false;
    {
        std::lock_guard lk(mu_);
        ++generation_;
        for (auto it = cache_.begin(); it != cache_.end();) {
            if (it->second.use.key.name == name) {
                it->second.use.credential->revoked = true;
                it = cache_.erase(it);
                ended = true;
            } else {
                ++it;
            }
        }
    }
    if (ended) end_streams();
    return true;
}

void ApiKeys::end_streams() {
    for (auto* sh : shards_) boost::asio::post(sh->ioc(), [sh] { sh->end_revoked(); });
}

void ApiKeys::recheck() {
    uint64_t rev = store_->revision();
    std::vector<std::string> live;  // hashes
    {
        std::lock_guard lk(mu_);
        if (rev == revision_) return;
        revision_ = rev;
        ++generation_;
        for (const auto& [hash, e] : cache_) live.push_back(hash);
    }
    // Outside the lock: requests go on while the store is asked about each cached key.
    std::vector<std::string> dead;
    for (const auto& hash : live)
        if (!store_->key(hash)) dead.push_back(hash);
    if (dead.empty()) return;
    {
        std::lock_guard lk(mu_);
        for (const auto& h : dead) {
            if (auto it = cache_.find(h); it != cache_.end()) {
                it->second.use.credential->revoked = true;
                cache_.erase(it);
            }
        }
    }
    end_streams();
}

}  // namespace ssechat::http
