// One node's subscription to a shard's feed channels (sharded pub/sub, see feed.lua): the
// rooms it serves, the users it streams to, and the shard-wide channel. The node hears only
// those; the durable streams stay the record, so what a subscription misses (an outage, the
// moment before it was confirmed) is read from them, never lost.
#pragma once
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "store/redis/redis_conn.hpp"

namespace ssechat::store {

// A feed message: the log entry id ('' for what is not stored) and the entry's fields, each
// "<length>:<bytes>" (feed.lua writes them; this is its C++ half). unframe() returns false
// for text that is not one.
std::string frame(const std::vector<std::string>& parts);
bool unframe(std::string_view text, std::vector<std::string>& parts);

class Subscriber {
  public:
    struct Message {
        std::string channel, payload;
    };
    struct Handlers {
        std::function<void(std::vector<Message>&)> got;  // in the order Redis sent them
        // Redis confirmed a subscription: what was published before it may not have come.
        std::function<void(const std::string& channel)> confirmed;
        // Every channel subscribed again after the connection was lost (and confirmed):
        // messages were missed meanwhile.
        std::function<void()> resumed;
        std::function<void(const StoreError&)> failed;  // the connection failed
        std::function<void()> tick;                     // about every 100 ms
    };

    Subscriber(RedisUrl url, int timeout_ms);
    ~Subscriber();
    Subscriber(const Subscriber&) = delete;
    Subscriber& operator=(const Subscriber&) = delete;

    // Counted: a channel is subscribed while more calls wanted it than let it go. With
    // `confirm`, returns once Redis confirmed the subscription, so that everything published
    // to it after a read that follows comes (at most a second; at once while disconnected
    // after an outage: the resubscription then re-reads). Called on a feed thread (from a handler)
    // it does not wait: Handlers::confirmed tells when; on this subscriber's own, it sends at once.
    void want(const std::string& channel, bool on, bool confirm);
    // Waits as want() does with `confirm`, for a channel wanted before: several channels asked
    // for at once, then waited for, cost one round trip, not one each.
    void await(const std::string& channel);

    // The subscriber's loop, on the caller's thread, until stop().
    void run(const Handlers& h);
    void stop();

  private:
    void wake();
    void apply(RedisConn& c);  // sends the changes want() queued

    RedisUrl url_;
    int timeout_ms_;
    int wake_[2] = {-1, -1};     // a pipe: want() and stop() interrupt the loop's wait
    RedisConn* conn_ = nullptr;  // the loop's connection: used on the loop's thread only

    std::mutex mu_;
    std::condition_variable confirmed_cv_;
    bool stopping_ = false;
    bool connected_ = false;  // subscribed, and taking messages
    bool ever_connected_ = false;
    std::map<std::string, int> wanted_;  // channel -> count of want(on) over want(off)
    std::set<std::string> changed_;      // channels whose wanted state may differ from sent_
    std::set<std::string> sent_;         // subscribed on this connection (asked for)
    std::set<std::string> confirmed_;    // ... and confirmed by Redis
    std::set<std::string> awaited_;      // confirmations someone waits for (await())
};

}  // namespace ssechat::store
