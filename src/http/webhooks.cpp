#include "http/webhooks.hpp"

#include <boost/asio/post.hpp>
#include <chrono>

#include "http/http_metrics.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"

namespace ssechat::http {

namespace {

constexpr auto kTick = std::chrono::milliseconds(100);
constexpr int64_t kReloadEveryMs = 1000;  // a change made by the CLI or elsewhere is seen
constexpr size_t kQueueMax = 1000;        // events held per webhook, read ahead of the cursor
constexpr auto kTimeout = std::chrono::seconds(10);
constexpr int64_t kLeaseMs = 20000, kRenewEveryMs = 5000;
constexpr int64_t kKeepLogEveryMs = 1000;  // the log pin renewed (it lapses after kLeaseMs)
constexpr size_t kPinAt = 100;
constexpr size_t kAttemptsHeld = 10000;  // attempts kept for the next write while the store is away
                                         // // events held that pin the log

}  // namespace

WebhookEngine::WebhookEngine(store::Store& log, std::unique_ptr<store::Webhooks> hooks,
                             OutboundPolicy policy, int concurrency)
    : log_(log),
      hooks_(std::move(hooks)),
      concurrency_(concurrency),
      bg_(kTick),
      out_(bg_.ioc(), std::move(policy)) {
    bg_.start([this] { tick(); });
}

WebhookEngine::~WebhookEngine() {
    stop();
}

void WebhookEngine::stop() {
    bg_.stop();
}

void WebhookEngine::changed() {
    reload_now_ = true;
}

model::Positions WebhookEngine::log_end() {
    model::Positions out;
    for (size_t s = 0; s < log_.shards(); ++s) out.push_back(log_.last_pos(s));
    return out;
}

void WebhookEngine::tick() {
    const int64_t now = now_ms();
    try {
        if (reload_now_.exchange(false) || now - reloaded_ >= kReloadEveryMs) reload();
        // One read of the logs' ends for every webhook: an idle one reads nothing more.
        if (live_.empty())
            log_end_.assign(log_.shards(), 0);
        else
            log_end_ = log_end();
        std::vector<bool> behind(log_end_.size(), false);
        for (auto& [id, h] : live_) {
            if (h->gone) continue;
            if (now - h->lease_checked >= kRenewEveryMs) {
                h->lease_checked = now;
                bool held = hooks_->lease(id, bg_.node(), kLeaseMs);
                if (held && !h->held) {
                    // Taken (again): read on from the cursors as the store has them now,
                    // which the node that held it before may have moved.
                    if (auto w = hooks_->get(id)) {
                        h->w.cursor = w->cursor;
                        place(*h);
                    }
                }
                h->held = held;
            }
            if (!h->held) continue;
            for (size_t s = 0; s < h->lanes.size(); ++s) {
                Lane& lane = h->lanes[s];
                if (!lane.started) {
                    // No cursor for this shard yet: from its end now, written at the tick's end.
                    lane.read_to = lane.done_to = log_end_[s];
                    lane.saved = 0;
                    lane.started = true;
                }
                if (lane.read_to < log_end_[s]) fill(lane, h->w, s);
                // Falling behind (a receiver down or slow): the log must keep what it has not
                // read yet. Pinned early, while it still reads everything, since nodes see
                // the pin only with their next read of the log.
                behind[s] = behind[s] || lane.queue.size() >= kPinAt ||
                            log_end_[s] - lane.read_to > kQueueMax;
            }
            dispatch(h, now);
            for (auto& lane : h->lanes) settle(lane);
        }
        flush();
        if (std::find(behind.begin(), behind.end(), true) != behind.end() &&
            now - kept_log_ >= kKeepLogEveryMs) {
            kept_log_ = now;
            for (size_t s = 0; s < behind.size(); ++s)
                if (behind[s]) hooks_->keep_log(s, bg_.node(), kLeaseMs);
        }
    } catch (const store::StoreError& e) {
        // The store is away: nothing moves until it is back; nothing is lost either.
        log::debug(std::string("webhooks: ") + e.what());
    }
}

void WebhookEngine::place(Hook& h) {
    h.lanes.assign(log_.shards(), Lane{});
    for (size_t s = 0; s < h.lanes.size() && s < h.w.cursor.size(); ++s) {
        Lane& lane = h.lanes[s];
        lane.read_to = lane.saved = lane.done_to = h.w.cursor[s];
        lane.started = true;
    }
}

void WebhookEngine::reload() {
    reloaded_ = now_ms();
    std::map<std::string, std::shared_ptr<Hook>> next;
    for (auto& w : hooks_->list()) {
        if (w.disabled) continue;
        auto it = live_.find(w.id);
        if (it != live_.end() && !it->second->gone) {
            // Kept, with what it has read and sent; a changed filter applies from here on.
            it->second->w.url = w.url;
            it->second->w.events = w.events;
            it->second->w.every_room = w.every_room;
            it->second->w.rooms = w.rooms;
            next.emplace(w.id, std::move(it->second));
            continue;
        }
        auto h = std::make_shared<Hook>();
        h->w = std::move(w);
        place(*h);
        next.emplace(h->w.id, std::move(h));
    }
    // Those removed or disabled elsewhere: answers still in flight find them gone.
    for (auto& [id, h] : live_)
        if (!next.count(id)) h->gone = true;
    live_ = std::move(next);
}

void WebhookEngine::fill(Lane& lane, const model::Webhook& w, size_t shard) {
    if (lane.queue.size() >= kQueueMax / 2) return;
    auto page = log_.log_after(shard, lane.read_to, kQueueMax - lane.queue.size());
    for (auto& e : page) {
        lane.read_to = e.pos;
        Pending p;
        p.wanted = model::wants(w, e);  // never a kind that is not stored
        p.done = !p.wanted;
        p.event = std::move(e);
        lane.queue.push_back(std::move(p));
    }
}

void WebhookEngine::dispatch(const std::shared_ptr<Hook>& h, int64_t now) {
    // In order per room: a room's next event waits until the one before it is done.
    // (A room is on one shard: its events are all in one lane.)
    std::set<std::string> blocked;
    for (size_t s = 0; s < h->lanes.size(); ++s)
        for (auto& p : h->lanes[s].queue) {
            if (h->in_flight >= concurrency_) return;
            if (p.done) continue;
            if (blocked.count(p.event.room)) continue;
            blocked.insert(p.event.room);
            if (p.in_flight || p.next_at > now) continue;
            send(h, s, p, now);
        }
}

void WebhookEngine::send(const std::shared_ptr<Hook>& h, size_t shard, Pending& p, int64_t now) {
    const std::string id = model::hook_message_id(h->w, p.event, shard);
    const int64_t secs = now / 1000;
    // The body's timestamp is the event's, so every attempt sends the same body.
    std::string body = model::hook_body(p.event, p.event.ts);
    Outbound::Headers headers{
        {"Content-Type", "application/json"},
        {"webhook-id", id},
        {"webhook-timestamp", std::to_string(secs)},
        {"webhook-signature", model::hook_signature(h->w.secret, id, secs, body)}};
    p.in_flight = true;
    ++p.attempt;
    ++h->in_flight;
    out_.post(h->w.url, std::move(headers), std::move(body), kTimeout,
              [this, h, shard, pos = p.event.pos](OutboundResult r) {
                  finished(h, shard, pos, std::move(r));
              });
}

void WebhookEngine::finished(const std::shared_ptr<Hook>& h, size_t shard, uint64_t pos,
                             OutboundResult r) {
    --h->in_flight;
    if (h->gone || shard >= h->lanes.size()) return;
    Lane& lane = h->lanes[shard];
    auto it = std::find_if(lane.queue.begin(), lane.queue.end(),
                           [&](const Pending& p) { return p.event.pos == pos; });
    if (it == lane.queue.end()) return;
    Pending& p = *it;
    p.in_flight = false;
    const int64_t now = now_ms();
    const bool ok = r.error.empty() && r.status >= 200 && r.status < 300;
    (ok ? http_metrics().webhook_ok : http_metrics().webhook_failed)
        .fetch_add(1, std::memory_order_relaxed);
    model::Delivery d;
    d.message_id = model::hook_message_id(h->w, p.event, shard);
    d.type = model::hook_type(p.event);
    d.attempt = p.attempt;
    d.status = r.status;
    d.error = ok ? "" : !r.error.empty() ? r.error : "answered " + std::to_string(r.status);
    d.ts = now;
    // Written with the cursors at the end of the tick: one write a tick, not two a delivery
    // (a publish's commit must not queue behind them for SQLite's write lock).
    if (attempts_.size() >= kAttemptsHeld) attempts_.erase(attempts_.begin());
    attempts_.emplace_back(h->w.id, d);
    if (ok) {
        p.done = true;
        settle(lane);
        // The room's next event goes now, not at the next tick: one room is one request at a
        // time, and a tick apart that would be ten events a second at most.
        try {
            if (shard < log_end_.size() && lane.read_to < log_end_[shard]) fill(lane, h->w, shard);
        } catch (const store::StoreError& e) {
            log::debug(std::string("webhooks: ") + e.what());  // the next tick reads again
        }
        dispatch(h, now);
        return;
    }
    if (!p.first_failure) p.first_failure = now;
    if (now - p.first_failure >= model::kHookGiveUpMs) {
        // Three days of failures: the webhook stops, and says why, until an admin turns it
        // on again (PATCH {"disabled":false}); its cursor stays where delivery stopped.
        h->w.disabled = true;
        h->w.disabled_reason =
            "disabled after three days of failed deliveries; the last: " + d.error;
        h->gone = true;
        try {
            hooks_->update(h->w);
        } catch (const store::StoreError&) {
        }
        log::warn("webhook disabled", {{"webhook", h->w.id}, {"error", d.error}});
        return;
    }
    int64_t wait = model::hook_backoff_ms(p.attempt, rng_());
    if (r.retry_after_ms >= 0)
        wait = std::max(wait, std::min<int64_t>(r.retry_after_ms, 3600 * 1000));
    p.next_at = now + wait;
}

void WebhookEngine::settle(Lane& lane) {
    uint64_t cursor = lane.saved;
    while (!lane.queue.empty() && lane.queue.front().done) {
        cursor = lane.queue.front().event.pos;
        lane.queue.pop_front();
    }
    // Everything read and nothing held: the cursor is where the log was read to.
    if (lane.queue.empty()) cursor = std::max(cursor, lane.read_to);
    lane.done_to = std::max(lane.done_to, cursor);
}

void WebhookEngine::flush() {
    std::vector<store::Webhooks::Moved> cursors;
    for (auto& [id, h] : live_)
        if (!h->gone && h->held)
            for (size_t s = 0; s < h->lanes.size(); ++s)
                if (h->lanes[s].started && h->lanes[s].done_to > h->lanes[s].saved)
                    cursors.push_back({id, s, h->lanes[s].done_to});
    if (cursors.empty() && attempts_.empty()) return;
    // A repeat after a crash is at most what was done since the last tick's write.
    hooks_->save(cursors, attempts_);
    attempts_.clear();
    for (const auto& m : cursors)
        if (auto it = live_.find(m.id); it != live_.end())
            it->second->lanes[m.shard].saved = m.cursor;
}

}  // namespace ssechat::http
