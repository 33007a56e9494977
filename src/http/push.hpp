// Web Push to people who are away: reads the store's log after the push cursor, and for each
// new message finds who it concerns (the other member of a direct message, users it mentions,
// the author of the message it answers, and those who chose "all" for the room), keeps those
// who may read the room, have no stream open on it, and whose level takes it (model::push_kind),
// and sends each of their browsers one encrypted push (RFC 8291) signed for the push service
// (VAPID, RFC 8292). 404 and 410 drop the subscription; 429, 5xx and failed connections are
// tried again after a backoff (1 s doubling to 5 minutes, or the service's Retry-After) for an
// hour, the push's useful life; other answers are final. The cursor is saved below the oldest
// push still being sent, so a restart repeats at most those (a repeat collapses by Topic).
// Everything runs on a thread and io_context of its own; with several nodes on one Redis, one
// node holds the lease and sends.
#pragma once
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>

#include "http/background.hpp"
#include "http/outbound.hpp"
#include "model/push.hpp"
#include "store/push.hpp"
#include "util/webpush.hpp"

namespace ssechat::chat {
class Hub;
}

namespace ssechat::http {

class PushEngine {
  public:
    // `contact` is the VAPID "sub" (--push-contact). Reads or makes the VAPID key (at once, or
    // when the store is back) and starts its thread.
    PushEngine(chat::Hub& hub, std::unique_ptr<store::Push> push, OutboundPolicy policy,
               std::string contact);
    ~PushEngine();
    void stop();  // idempotent
    store::Push& store() { return *push_; }
    // The VAPID public key, base64url (GET /push/key); "" while the store has been away since
    // the start.
    std::string public_key();
    // Subscriptions were added or removed on this node: read the subscribed users again now.
    void changed() { reload_now_ = true; }

  private:
    struct Job {
        size_t shard = 0;  // the store shard whose log had it
        uint64_t pos = 0;  // the event's position there
        model::PushSubscription sub;
        std::string payload;
        std::string topic;
        bool urgent = false;
        int attempt = 0;
        int64_t first_try = 0;  // unix ms
        int64_t next_at = 0;    // unix ms: not before
    };
    void tick();
    void read_log(size_t shard, uint64_t end);
    void targets(size_t shard, const model::Event& e);
    void dispatch(int64_t now);
    void send(std::shared_ptr<Job> job, int64_t now);
    void finished(const std::shared_ptr<Job>& job, OutboundResult r);
    void done(const Job& job);
    void save();
    const std::string& vapid(const std::string& endpoint, int64_t now);

    chat::Hub& hub_;
    std::unique_ptr<store::Push> push_;
    std::string contact_;
    bool load_key();
    std::mutex key_mu_;
    std::optional<webpush::VapidKey> key_;  // set once
    bool key_broken_ = false;               // the stored one is not a key: push stays off
    std::string public_key_;
    Background bg_;  // before out_, which sends on its io_context
    Outbound out_;
    // Only the engine's thread touches what follows.
    std::deque<std::shared_ptr<Job>> waiting_;
    int in_flight_ = 0;
    // Per store shard: log position -> pushes of it not finished; read up to; saved.
    std::vector<std::map<uint64_t, int>> open_;
    model::Positions read_to_, saved_;
    bool started_ = false, held_ = false;
    int64_t lease_checked_ = 0, reloaded_ = 0;
    std::set<std::string, std::less<>> subscribed_;
    size_t longest_user_ = 0;
    std::map<std::string, std::pair<std::string, int64_t>> tokens_;  // origin -> (header, exp)
    std::atomic<bool> reload_now_{true};
    std::mt19937 rng_{std::random_device{}()};
};

}  // namespace ssechat::http
