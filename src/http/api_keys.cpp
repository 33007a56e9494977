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

// ---- the API's side: authenticating a key, its scopes, and /admin/apikeys ----

#include "http/api.hpp"
#include "http/api_detail.hpp"
#include "util/text.hpp"

namespace ssechat::http {

using namespace detail;
namespace bhttp = beast::http;
using bhttp::status;

bool Api::authenticate_key(Ctx& c, const std::string& presented) {
    std::optional<KeyUse> k;
    try {
        k = keys_->check(presented, unix_now_ms());
    } catch (const store::StoreError&) {
        reply(c, store_down());
        return false;
    }
    if (!k) {
        // One answer for a key never made, a revoked one and a mistyped one.
        http_metrics().auth_failures.fetch_add(1, std::memory_order_relaxed);
        refuse(c, status::unauthorized, "unknown or revoked API key");
        return false;
    }
    auth::Identity id;
    id.user = k->key.user;
    id.key = k->key.scopes;
    id.key_name = k->key.name;
    if (const std::string* as = c.query ? http_util::find(*c.query, "as") : nullptr) {
        if (!(k->key.scopes & model::kScopeImpersonate)) {
            refuse(c, status::forbidden,
                   "?as= needs an API key with the impersonate scope (and publish)");
            return false;
        }
        if (auto why = text::bad_user_id(*as, cfg_.max_user); !why.empty()) {
            refuse(c, status::bad_request, "?as=: " + why);
            return false;
        }
        id.user = *as;
        id.acting_as = true;
    }
    c.identity = std::move(id);
    c.user = c.identity->user;
    c.credential = std::move(k->credential);
    return true;
}

bool Api::key_allows(Ctx& c, const Method& m) {
    const bool reads = m.verb == bhttp::verb::get;
    const model::KeyScopes need = m.keys ? m.keys : model::scopes_for(m.act, reads);
    const model::KeyScopes has = c.identity->key;
    if (c.identity->acting_as && !(need & model::kScopePublish)) {
        refuse(c, status::forbidden,
               "?as= is for publishing (posting, editing, deleting, reacting) only");
        return false;
    }
    if (has & (need | model::kScopeAdmin)) return true;
    http_metrics().auth_failures.fetch_add(1, std::memory_order_relaxed);
    const bool one = (need & (need - 1)) == 0;
    refuse(c, status::forbidden,
           "this API key's scopes do not reach this request: it needs " +
               (one ? "the " + model::scope_names(need) + " scope"
                    : "one of the scopes " + model::scope_names(need)));
    return false;
}

bool Api::admins_only(Ctx& c) {
    if (c.identity && (c.identity->key ? (c.identity->key & model::kScopeAdmin) != 0
                                       : server_role(c, c.identity->user) == model::Role::Owner))
        return true;
    refuse(c, status::forbidden, "only an admin may manage API keys");
    return false;
}

void Api::list_keys(Ctx& c) {
    if (!admins_only(c)) return;
    boost::json::array list;
    try {
        for (const auto& k : keys_->store().keys()) list.push_back(model::api_key_json(k));
    } catch (const store::StoreError&) {
        return reply(c, store_down());
    }
    reply(c, make(status::ok, boost::json::serialize(boost::json::object{{"keys", list}})));
}

void Api::create_key(Ctx& c) {
    if (!admins_only(c)) return;
    auto body = object_body(c.req.body());
    if (!body || !unknown_key(*body, {"name", "scopes", "as"}).empty())
        return refuse(c, status::bad_request,
                      R"(the body must be {"name":"ci-bot","scopes":["publish"],"as":"bot-ci"})"
                      R"( ("as" optional: the name))");
    const auto* name = body->if_contains("name");
    if (!name || !name->is_string()) return refuse(c, status::bad_request, "name must be a string");
    // Scopes as a list of names, or one string of them with commas, as on the command line.
    std::string list;
    if (const auto* s = body->if_contains("scopes"); s && s->is_string()) {
        list = std::string(s->as_string());
    } else if (s && s->is_array()) {
        for (const auto& v : s->as_array()) {
            if (!v.is_string())
                return refuse(c, status::bad_request, "scopes must be a list of names");
            list += (list.empty() ? "" : ",") + std::string(v.as_string());
        }
    } else {
        return refuse(c, status::bad_request, "scopes must be a list of names");
    }
    std::string as;
    if (const auto* a = body->if_contains("as")) {
        if (!a->is_string()) return refuse(c, status::bad_request, "as must be a user id");
        as = std::string(a->as_string());
    }
    std::string why;
    auto scopes = model::parse_scopes(list, why);
    if (!scopes) return refuse(c, status::bad_request, why);
    auto made = model::make_api_key(std::string(name->as_string()), *scopes, as, c.identity->user,
                                    unix_now_ms(), cfg_.max_user, why);
    if (!made) return refuse(c, status::bad_request, why);
    try {
        if (!keys_->store().add_key(made->key))
            return refuse(c, status::conflict, "a key with this name exists: revoke it first");
    } catch (const store::StoreError&) {
        return reply(c, store_down());
    }
    auto o = model::api_key_json(made->key);
    o["key"] = made->secret;
    reply(c, make(status::created, boost::json::serialize(o)));
}

void Api::revoke_key(Ctx& c) {
    if (!admins_only(c)) return;
    std::string name = c.name;  // {name} of the path: the same alphabet as room names
    try {
        if (!keys_->revoke(name)) return refuse(c, status::not_found, "no such key");
    } catch (const store::StoreError&) {
        return reply(c, store_down());
    }
    reply(c, make(status::no_content, ""));
}

}  // namespace ssechat::http
