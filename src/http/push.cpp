#include "http/push.hpp"

#include <algorithm>
#include <chrono>

#include "chat/hub.hpp"
#include "http/http_metrics.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"
#include "util/text.hpp"

namespace ssechat::http {

namespace {

constexpr auto kTick = std::chrono::milliseconds(100);
constexpr int64_t kReloadEveryMs = 2000;  // subscriptions made on other nodes are seen
constexpr int64_t kLeaseMs = 20000, kRenewEveryMs = 5000;
constexpr size_t kReadPage = 500;
constexpr size_t kWaitingMax = 20000;  // pushes held: past it the log is not read further
constexpr int kInFlightMax = 64;
constexpr auto kTimeout = std::chrono::seconds(10);
constexpr int64_t kGiveUpMs = 3600 * 1000;     // an hour: a later notification helps nobody
constexpr int64_t kBackoffMaxMs = 300 * 1000;  // retries at most five minutes apart
constexpr int64_t kTokenLifeS = 12 * 3600;     // RFC 8292 2: at most 24 hours
constexpr size_t kUserMax = 256;               // a mention's longest user id looked for

}  // namespace

PushEngine::PushEngine(chat::Hub& hub, std::unique_ptr<store::Push> push, OutboundPolicy policy,
                       std::string contact)
    : hub_(hub),
      push_(std::move(push)),
      contact_(std::move(contact)),
      bg_(kTick),
      out_(bg_.ioc(), std::move(policy)) {
    try {
        load_key();
    } catch (const store::StoreError& e) {
        log::warn("push: the store is away; the VAPID key is read when it is back",
                  {{"error", e.what()}});
    }
    bg_.start([this] { tick(); });
}

PushEngine::~PushEngine() {
    stop();
}

void PushEngine::stop() {
    bg_.stop();
}

bool PushEngine::load_key() {
    {
        std::lock_guard lk(key_mu_);
        if (key_) return true;
    }
    auto fresh = webpush::VapidKey::generate();
    auto key = webpush::VapidKey::from_pem(push_->vapid_key(fresh.pem()));
    if (!key) {
        log::error("push: the store's VAPID key is not a P-256 private key; push is off");
        key_broken_ = true;
        return false;
    }
    std::lock_guard lk(key_mu_);
    public_key_ = text::base64url(key->public_raw());
    key_ = std::move(key);
    return true;
}

std::string PushEngine::public_key() {
    std::lock_guard lk(key_mu_);
    return public_key_;
}

void PushEngine::tick() {
    const int64_t now = now_ms();
    try {
        if (key_broken_ || (!key_ && !load_key())) return;  // a broken key: nothing is sent
        if (now - lease_checked_ >= kRenewEveryMs) {
            lease_checked_ = now;
            bool held = push_->lease(bg_.node(), kLeaseMs);
            if (held && !held_) started_ = false;  // taken (again): on from the stored cursor
            held_ = held;
        }
        if (held_) {
            auto& log = hub_.store();
            model::Positions end;
            for (size_t s = 0; s < log.shards(); ++s) end.push_back(log.last_pos(s));
            // Read again before events would be passed over for want of anyone to push to: a
            // subscription made on another node must not lose its first pushes.
            bool unread = false;
            for (size_t s = 0; s < end.size() && s < read_to_.size(); ++s)
                unread = unread || read_to_[s] < end[s];
            unread = unread && subscribed_.empty();
            if (reload_now_.exchange(false) || unread || now - reloaded_ >= kReloadEveryMs) {
                reloaded_ = now;
                auto users = push_->subscribed();
                subscribed_ = {users.begin(), users.end()};
                longest_user_ = 0;
                for (const auto& u : subscribed_) longest_user_ = std::max(longest_user_, u.size());
            }
            if (!started_) {
                // The first start pushes nothing from before it: each cursor begins at its
                // log's end.
                waiting_.clear();
                open_.assign(end.size(), {});
                read_to_.assign(end.size(), 0);
                saved_.assign(end.size(), 0);
                for (size_t s = 0; s < end.size(); ++s) {
                    saved_[s] = read_to_[s] = push_->cursor(s);
                    if (read_to_[s] == 0) {
                        read_to_[s] = saved_[s] = end[s];
                        push_->advance(s, end[s]);
                    }
                }
                started_ = true;
            }
            for (size_t s = 0; s < end.size(); ++s)
                if (read_to_[s] < end[s]) read_log(s, end[s]);
            dispatch(now);
            save();
        }
    } catch (const store::StoreError& e) {
        // The store is away: nothing moves until it is back.
        log::debug(std::string("push: ") + e.what());
    }
}

void PushEngine::read_log(size_t shard, uint64_t end) {
    uint64_t& read_to = read_to_[shard];
    while (read_to < end && waiting_.size() < kWaitingMax) {
        if (subscribed_.empty()) {
            // Nobody to push to: nothing to read.
            read_to = end;
            return;
        }
        auto page = hub_.store().log_after(shard, read_to, kReadPage);
        if (page.empty()) {
            read_to = end;
            return;
        }
        for (const auto& e : page) {
            if (e.kind == model::Kind::Message) targets(shard, e);
            read_to = e.pos;
        }
    }
}

void PushEngine::targets(size_t shard, const model::Event& e) {
    auto& log = hub_.store();
    auto profile = log.profile(e.room);
    const auto vis = profile ? profile->visibility : model::Visibility::Public;
    // Who it can concern, of the users with a browser to push to.
    std::set<std::string> mentioned, who;
    for (size_t at = e.text.find('@'); at != std::string::npos; at = e.text.find('@', at + 1)) {
        std::string_view rest = std::string_view(e.text).substr(at + 1);
        for (size_t n = 1; n <= std::min({rest.size(), longest_user_, kUserMax}); ++n) {
            auto name = rest.substr(0, n);
            if (subscribed_.count(name) && model::mentions(e.text, name)) mentioned.emplace(name);
        }
    }
    who.insert(mentioned.begin(), mentioned.end());
    std::string replied;
    if (e.reply_to) {
        // messages(), not message(): that one is the writer thread's alone.
        auto page = log.messages(e.room, e.reply_to - 1, e.reply_to + 1, 1, false);
        if (!page.empty() && page.front().id == e.reply_to) replied = page.front().user_id;
    }
    if (!replied.empty()) who.insert(replied);
    if (vis == model::Visibility::Dm && profile) {
        std::string_view with = profile->with;
        auto nl = with.find('\n');
        who.emplace(with.substr(0, nl));
        if (nl != std::string_view::npos) who.emplace(with.substr(nl + 1));
    }
    for (auto& u : push_->listeners(e.room)) who.insert(std::move(u));
    who.erase(e.user_id);
    std::erase_if(who, [&](const std::string& u) { return !subscribed_.count(u); });
    if (who.empty()) return;

    std::optional<std::vector<std::string>> online;
    const int64_t now = now_ms();
    for (const auto& u : who) {
        model::PushFacts f;
        f.visibility = vis;
        f.level = push_->level(u, e.room).value_or(model::default_level(vis));
        f.mentioned = mentioned.count(u) > 0;
        f.replied_to = u == replied;
        auto kind = model::push_kind(f);
        if (!kind) continue;
        auto standing = log.roster_of(e.room, u).standing(u, model::Role::None, now);
        if (!model::may(vis, standing, model::Act::Read).ok()) continue;
        // A stream open on the room (a room stream, or a user stream of a member) shows it.
        if (!online) online = hub_.online(e.room);
        if (std::find(online->begin(), online->end(), u) != online->end()) continue;
        auto subs = push_->subscriptions(u);
        if (subs.empty()) continue;
        const std::string payload = model::push_payload(e, *kind);
        for (auto& s : subs) {
            auto job = std::make_shared<Job>();
            job->shard = shard;
            job->pos = e.pos;
            job->sub = std::move(s);
            job->payload = payload;
            job->topic = model::push_topic(e.room);
            job->urgent = *kind == model::PushKind::Dm || *kind == model::PushKind::Mention;
            job->first_try = now;
            waiting_.push_back(std::move(job));
            ++open_[shard][e.pos];
        }
    }
}

void PushEngine::dispatch(int64_t now) {
    // Those not yet due go back to the end: order among pushes does not matter.
    for (size_t n = waiting_.size(); n > 0 && in_flight_ < kInFlightMax; --n) {
        auto job = std::move(waiting_.front());
        waiting_.pop_front();
        if (job->next_at > now)
            waiting_.push_back(std::move(job));
        else
            send(std::move(job), now);
    }
}

const std::string& PushEngine::vapid(const std::string& endpoint, int64_t now) {
    const std::string aud = webpush::origin(endpoint);
    auto& t = tokens_[aud];
    // One token per push service, made again an hour before it lapses.
    if (t.first.empty() || t.second - 3600 < now / 1000) {
        t.second = now / 1000 + kTokenLifeS;
        t.first = key_->authorization(aud, t.second, contact_);
    }
    return t.first;
}

void PushEngine::send(std::shared_ptr<Job> job, int64_t now) {
    auto p256dh = text::unbase64url(job->sub.p256dh);
    auto auth = text::unbase64url(job->sub.auth);
    std::optional<std::string> body;
    if (p256dh && auth) body = webpush::encrypt(*p256dh, *auth, job->payload);
    if (!body) {
        // Stored keys that cannot encrypt (they were checked when stored): the push is lost.
        log::debug("push: cannot encrypt", {{"endpoint", job->sub.endpoint}});
        http_metrics().push_failed.fetch_add(1, std::memory_order_relaxed);
        done(*job);
        return;
    }
    Outbound::Headers headers{{"Content-Type", "application/octet-stream"},
                              {"Content-Encoding", "aes128gcm"},
                              {"TTL", "86400"},
                              {"Urgency", job->urgent ? "high" : "normal"},
                              {"Topic", job->topic},
                              {"Authorization", vapid(job->sub.endpoint, now)}};
    ++job->attempt;
    ++in_flight_;
    const std::string url = job->sub.endpoint;
    out_.post(url, std::move(headers), std::move(*body), kTimeout,
              [this, job](OutboundResult r) { finished(job, std::move(r)); });
}

void PushEngine::finished(const std::shared_ptr<Job>& job, OutboundResult r) {
    --in_flight_;
    const int64_t now = now_ms();
    auto& m = http_metrics();
    if (r.error.empty() && r.status >= 200 && r.status < 300) {
        m.push_sent.fetch_add(1, std::memory_order_relaxed);
        done(*job);
        dispatch(now);  // the next one now, not at the next tick
        return;
    }
    if (r.status == 404 || r.status == 410) {
        m.push_gone.fetch_add(1, std::memory_order_relaxed);
        // The browser unsubscribed or the subscription expired: it is gone for good.
        try {
            push_->drop(job->sub.endpoint);
        } catch (const store::StoreError& e) {
            log::debug(std::string("push: ") + e.what());
        }
        std::erase_if(waiting_, [&](const std::shared_ptr<Job>& j) {
            if (j->sub.endpoint != job->sub.endpoint) return false;
            done(*j);
            return true;
        });
        return done(*job);
    }
    const bool again = !r.error.empty() || r.status == 429 || r.status >= 500;
    if (!again || now - job->first_try >= kGiveUpMs) {
        m.push_failed.fetch_add(1, std::memory_order_relaxed);
        log::debug("push: not delivered", {{"endpoint", job->sub.endpoint},
                                           {"status", std::to_string(r.status)},
                                           {"error", r.error}});
        return done(*job);
    }
    int64_t wait = std::min<int64_t>(kBackoffMaxMs, 1000LL << std::min(job->attempt - 1, 20));
    wait += static_cast<int64_t>(rng_() % static_cast<uint32_t>(wait / 5 + 1));  // jitter
    if (r.retry_after_ms >= 0) wait = std::max(wait, std::min(r.retry_after_ms, kGiveUpMs));
    job->next_at = now + wait;
    m.push_retried.fetch_add(1, std::memory_order_relaxed);
    waiting_.push_back(job);
}

void PushEngine::done(const Job& job) {
    auto& open = open_[job.shard];
    auto it = open.find(job.pos);
    if (it != open.end() && --it->second <= 0) open.erase(it);
}

void PushEngine::save() {
    for (size_t s = 0; s < open_.size(); ++s) {
        // Below the oldest push not finished; everything read when none is.
        uint64_t cursor = open_[s].empty() ? read_to_[s] : open_[s].begin()->first - 1;
        if (cursor <= saved_[s]) continue;
        push_->advance(s, cursor);
        saved_[s] = cursor;
    }
}

}  // namespace ssechat::http
