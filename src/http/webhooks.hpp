// Webhook delivery: at least once, in order per room, from the store's log. Each webhook has
// a durable cursor (every event at or below it was delivered or was not for it); delivery
// reads the log after it, sends each event it takes (one at a time per room, up to
// --webhook-concurrency at a time per webhook), and moves the cursor over what is done. A
// 2xx is done; anything else is tried again after a backoff (1 s doubling to an hour, with
// jitter, or the receiver's Retry-After) until its first failure is three days old, and the
// webhook is then disabled with the reason. A restart or kill -9 repeats only what was done
// above the cursor, under the same webhook-id. Everything runs on a thread and io_context of
// its own: a slow receiver holds no event loop, publish, or other webhook. With several nodes
// on one Redis, each webhook is delivered by the node that holds its lease (renewed every
// 5 s, lost 20 s after its node stops renewing it), so another takes over within 25 s; and a
// webhook falling behind pins Redis's trimmed log (Webhooks::keep_log) until it catches up.
// With Redis shards each webhook reads every shard's log in a lane of its own, with a cursor
// of its own: a room's events are all on one shard, so each room's order holds.
#pragma once
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>

#include "http/background.hpp"
#include "http/outbound.hpp"
#include "model/webhook.hpp"
#include "store/store.hpp"
#include "store/webhooks.hpp"

namespace ssechat::http {

class WebhookEngine {
  public:
    // `log` is the rooms' store (Store::log_after); the engine starts its thread at once.
    WebhookEngine(store::Store& log, std::unique_ptr<store::Webhooks> hooks, OutboundPolicy policy,
                  int concurrency);
    ~WebhookEngine();
    void stop();  // idempotent; answers nothing still in flight (it is repeated on restart)
    store::Webhooks& store() { return *hooks_; }
    // A webhook was made, changed or removed: read the list again now, not at the next tick.
    void changed();
    // Each shard's log end, where a new webhook starts.
    model::Positions log_end();

  private:
    struct Pending {
        model::Event event;
        bool wanted = true;
        bool done = false;
        bool in_flight = false;
        int attempt = 0;
        int64_t next_at = 0;        // unix ms: not before
        int64_t first_failure = 0;  // unix ms, 0 before any
    };
    // One store shard's log, as one webhook reads it.
    struct Lane {
        std::deque<Pending> queue;  // position order, from just above the cursor
        uint64_t read_to = 0;       // the last position read from the log
        uint64_t saved = 0;         // the cursor as the store has it
        uint64_t done_to = 0;       // the cursor as delivery has it, written at the tick's end
        bool started = false;       // false: no cursor stored yet; starts at the log's end
    };
    struct Hook {
        model::Webhook w;
        std::vector<Lane> lanes;  // one per store shard
        int in_flight = 0;
        bool gone = false;          // removed or disabled while requests were in flight
        bool held = false;          // this node holds its lease
        int64_t lease_checked = 0;  // unix ms
    };
    void tick();
    void reload();
    // Lanes from the stored cursors (a shard without one waits for the log's end).
    void place(Hook& h);
    void fill(Lane& lane, const model::Webhook& w, size_t shard);
    void dispatch(const std::shared_ptr<Hook>& h, int64_t now);
    void send(const std::shared_ptr<Hook>& h, size_t shard, Pending& p, int64_t now);
    void finished(const std::shared_ptr<Hook>& h, size_t shard, uint64_t pos, OutboundResult r);
    void settle(Lane& lane);
    void flush();  // the tick's cursors and attempts, in one write

    store::Store& log_;
    std::unique_ptr<store::Webhooks> hooks_;
    int concurrency_;
    Background bg_;  // before out_, which sends on its io_context
    Outbound out_;
    std::map<std::string, std::shared_ptr<Hook>> live_;  // by id: only the engine's thread
    int64_t reloaded_ = 0;
    std::vector<std::pair<std::string, model::Delivery>> attempts_;  // not written yet
    int64_t kept_log_ = 0;      // when the log pin was last renewed
    model::Positions log_end_;  // each shard's log end as the last tick read it
    std::atomic<bool> reload_now_{true};
    std::mt19937 rng_{std::random_device{}()};
};

}  // namespace ssechat::http
