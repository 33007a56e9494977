#include "http/sign_ins.hpp"

#include <openssl/rand.h>

#include <boost/asio/post.hpp>
#include <chrono>

#include "model/event.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"
#include "util/text.hpp"

namespace ssechat::http {

namespace {

int seconds_up(int64_t ms) {
    return static_cast<int>(std::max<int64_t>(1, (ms + 999) / 1000));
}

// How often the store's revision is read: a session ended elsewhere ends its streams here
// within this and a flush.
constexpr auto kWatchEvery = std::chrono::milliseconds(250);
// last_seen is written at most this often per session: a request is not a write.
constexpr int64_t kSeenEveryMs = 60 * 1000;
constexpr size_t kMaxCached = 100000;

}  // namespace

std::string session_key(const std::string& secret) {
    return model::text_hash(secret);  // hex SHA-256, as message texts are hashed
}

std::string random_token(size_t n) {
    std::string bytes(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n)) != 1)
        throw std::runtime_error("no random bytes");
    return text::base64url(bytes);
}

SignIns::SignIns(const Config& cfg, std::unique_ptr<store::Accounts> accounts,
                 std::vector<chat::Shard*> shards)
    : store_(std::move(accounts)),
      shards_(std::move(shards)),
      pool_(cfg.password_threads, cfg.password_queue, work::Priority::Idle),
      dummy_(password::hash(random_token(16))),
      idle_ms_(static_cast<int64_t>(cfg.session_idle_s) * 1000) {
    try {
        revision_ = store_->revision();
    } catch (const store::StoreError& e) {
        log::warn(std::string("accounts: ") + e.what());
    }
    watcher_ = std::make_unique<util::Periodic>(kWatchEvery, [this] {
        try {
            recheck();
        } catch (const store::StoreError& e) {
            // The store is away: sessions stay as they were until it is back.
            log::debug(std::string("accounts: ") + e.what());
        }
    });
}

SignIns::~SignIns() {
    stop();
}

void SignIns::stop() {
    watcher_.reset();
    pool_.stop();
}

std::optional<Signed> SignIns::check(const std::string& secret, int64_t now) {
    if (secret.empty() || secret.size() > 64) return std::nullopt;
    std::string key = session_key(secret);
    {
        std::lock_guard lk(mu_);
        if (auto it = cache_.find(key); it != cache_.end()) {
            auto& e = it->second;
            if (!model::expired(e.s.sign_in, now, idle_ms_) && !e.s.credential->revoked) {
                if (now - e.seen_written < kSeenEveryMs) return e.s;
                e.seen_written = now;  // written below, outside the lock
                e.s.sign_in.last_seen = now;
            } else {
                return std::nullopt;
            }
        }
    }
    // Not cached (or its last_seen is due): the store decides.
    while (true) {
        uint64_t generation;
        {
            std::lock_guard lk(mu_);
            generation = generation_;
        }
        auto si = store_->sign_in(key);
        if (!si) return std::nullopt;
        if (model::expired(*si, now, idle_ms_)) {
            store_->end_sign_in(key);
            return std::nullopt;
        }
        auto account = store_->account(si->user_id);
        if (!account || account->disabled) return std::nullopt;
        if (now - si->last_seen >= kSeenEveryMs) {
            store_->seen(key, now);
            si->last_seen = now;
        }
        std::lock_guard lk(mu_);
        if (generation != generation_) continue;  // sessions ended meanwhile: read again
        return remember_locked(key, std::move(*si), std::move(*account));
    }
}

Signed SignIns::remember_locked(const std::string& key, model::SignIn si, model::Account account) {
    if (cache_.size() >= kMaxCached) {
        // Sessions without an open stream go first: an entry that holds a stream's credential
        // is how its streams end.
        std::erase_if(cache_,
                      [](const auto& kv) { return kv.second.s.credential.use_count() == 1; });
        if (cache_.size() >= kMaxCached) cache_.clear();
    }
    auto& e = cache_[key];
    if (!e.s.credential) e.s.credential = std::make_shared<chat::Credential>();
    e.s.account = std::move(account);
    e.s.sign_in = std::move(si);
    e.seen_written = e.s.sign_in.last_seen;
    return e.s;
}

SignInResult SignIns::throttled(const std::string& user, const std::string& address, int64_t now) {
    SignInResult r;
    int64_t wait_user = 0, wait_addr = 0;
    int by_user =
        store_->failures("account:" + user, false, now, model::kAccountWindowMs, wait_user);
    int by_addr =
        store_->failures("address:" + address, false, now, model::kAddressWindowMs, wait_addr);
    if (by_user >= model::kAccountFailures || by_addr >= model::kAddressFailures) {
        r.status = 429;
        r.error = "too many failed sign-ins: wait before trying again";
        r.retry_after_s = seconds_up(std::max(by_user >= model::kAccountFailures ? wait_user : 0,
                                              by_addr >= model::kAddressFailures ? wait_addr : 0));
    }
    return r;
}

void SignIns::failed(const std::string& user, const std::string& address, int64_t now) {
    int64_t ignored = 0;
    store_->failures("account:" + user, true, now, model::kAccountWindowMs, ignored);
    store_->failures("address:" + address, true, now, model::kAddressWindowMs, ignored);
}

void SignIns::verify(const std::string& user, const std::string& password,
                     const std::string& address, SignInResult& r) {
    auto account = store_->account(user);
    // An unknown user, or one without a password, costs the same hash as a wrong password.
    bool ok =
        password::verify(account && !account->hash.empty() ? account->hash : dummy_, password) &&
        account && !account->hash.empty();
    int64_t now = now_ms();
    if (!ok) {
        failed(user, address, now);
        r.status = 401;
        r.error = "wrong user id or password";
        return;
    }
    if (account->disabled) {
        r.status = 403;
        r.error = "account disabled";
        return;
    }
    r.account = std::move(*account);
}

void SignIns::sign_in(std::string user, std::string password, std::string address,
                      std::string user_agent, Done done) {
    try {
        if (auto t = throttled(user, address, now_ms()); t.status != 200) return done(t);
    } catch (const store::StoreError&) {
        return done(refused(503, "the store is unavailable, retry later", 1));
    }
    auto job = [this, user = std::move(user), password = std::move(password),
                address = std::move(address), user_agent = std::move(user_agent), done]() {
        SignInResult r;
        try {
            verify(user, password, address, r);
            if (r.status == 200) r.secret = start_session(user, user_agent);
        } catch (const store::StoreError&) {
            r = refused(503, "the store is unavailable, retry later", 1);
        }
        done(std::move(r));
    };
    if (!pool_.submit(std::move(job)))
        done(refused(503, "too many sign-ins at once: retry in a moment", 1));
}

void SignIns::check_password(std::string user, std::string password, std::string address,
                             Done done) {
    try {
        if (auto t = throttled(user, address, now_ms()); t.status != 200) return done(t);
    } catch (const store::StoreError&) {
        return done(refused(503, "the store is unavailable, retry later", 1));
    }
    auto job = [this, user = std::move(user), password = std::move(password),
                address = std::move(address), done]() {
        SignInResult r;
        try {
            verify(user, password, address, r);
        } catch (const store::StoreError&) {
            r = refused(503, "the store is unavailable, retry later", 1);
        }
        done(std::move(r));
    };
    if (!pool_.submit(std::move(job))) done(refused(503, "too busy checking passwords: retry", 1));
}

std::string SignIns::start_session(const std::string& user, const std::string& user_agent) {
    std::string secret = random_token(32);
    model::SignIn s;
    s.key = session_key(secret);
    s.id = random_token(12);
    s.user_id = user;
    s.user_agent = user_agent.substr(0, 256);
    s.created = s.last_seen = now_ms();
    store_->add_sign_in(s);
    return secret;
}

void SignIns::end(const std::string& key) {
    store_->end_sign_in(key);
    {
        std::lock_guard lk(mu_);
        revoke_locked(key);
    }
    end_streams();
}

void SignIns::end_all(const std::string& user, const std::string& keep) {
    store_->end_sign_ins(user, keep);
    {
        std::lock_guard lk(mu_);
        std::vector<std::string> keys;
        for (const auto& [k, e] : cache_)
            if (e.s.account.user_id == user && k != keep) keys.push_back(k);
        for (const auto& k : keys) revoke_locked(k);
        ++generation_;
    }
    end_streams();
}

void SignIns::forget_user(const std::string& user) {
    std::lock_guard lk(mu_);
    for (auto& [k, e] : cache_)
        if (e.s.account.user_id == user) e.seen_written = 0;  // re-read at its next request
}

void SignIns::revoke_locked(const std::string& key) {
    ++generation_;
    auto it = cache_.find(key);
    if (it == cache_.end()) return;
    it->second.s.credential->revoked = true;
    cache_.erase(it);
}

void SignIns::end_streams() {
    for (auto* sh : shards_) boost::asio::post(sh->ioc(), [sh] { sh->end_revoked(); });
}

void SignIns::recheck() {
    uint64_t rev = store_->revision();
    std::vector<std::pair<std::string, std::string>> live;  // key, user
    {
        std::lock_guard lk(mu_);
        if (rev == revision_) return;
        revision_ = rev;
        ++generation_;
        for (const auto& [k, e] : cache_) live.emplace_back(k, e.s.account.user_id);
    }
    // Outside the lock: requests go on while the store is asked about each live session.
    std::vector<std::string> dead;
    for (const auto& [key, user] : live) {
        auto si = store_->sign_in(key);
        auto account = si ? store_->account(user) : std::nullopt;
        if (!si || !account || account->disabled) dead.push_back(key);
    }
    {
        std::lock_guard lk(mu_);
        for (const auto& k : dead) revoke_locked(k);
        // What is left is re-read at its next request: a display name or an admin flag
        // changed elsewhere is seen then.
        for (auto& [k, e] : cache_) e.seen_written = 0;
    }
    if (!dead.empty()) end_streams();
}

}  // namespace ssechat::http
