// One blocking hiredis connection that reconnects on demand, and the redis:// URL it dials.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "store/store.hpp"
#include "util/config.hpp"
#include "util/redis_url.hpp"

struct redisContext;
struct redisReply;

namespace ssechat::store {

using ssechat::parse_redis_url;
using ssechat::RedisUrl;

// Redis answered but refused the connection's setup (a wrong password, a database that does
// not exist): a configuration error that retrying will not fix.
struct RedisRefused : StoreError {
    using StoreError::StoreError;
};

struct ReplyFree {
    void operator()(redisReply* r) const;
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

// A Lua script kept in the repository, run by its SHA1 with a fallback to its text.
struct Script {
    std::string name;  // for error messages
    std::string body;
    std::string sha1;  // hex; computed once
    Script(std::string name, std::string body);
};

// A change is acknowledged once `replicas` replicas have it (WAIT), or refused after `wait_ms`.
struct Durability {
    int replicas = 0;
    int wait_ms = 1000;
};

// Bumped whenever a Sentinel announces +switch-master: every connection dialed through a
// Sentinel before it dials again, so a write never goes to a demoted master.
std::atomic<uint64_t>& sentinel_generation();

// Not thread safe: each thread that talks to Redis owns one (or borrows one from a pool).
// Every failure throws StoreError and drops the socket; the next call dials again, so a
// connection survives Redis restarts without its owner noticing beyond the failed call.
class RedisConn {
  public:
    // With a redis-sentinel:// URL every dial asks the Sentinels where the master is, and
    // checks that the server it reaches says it is a master.
    RedisConn(RedisUrl url, int timeout_ms, Durability durability = {});
    ~RedisConn();
    RedisConn(const RedisConn&) = delete;
    RedisConn& operator=(const RedisConn&) = delete;

    // One command; a Redis error reply also throws.
    Reply run(const std::vector<std::string>& argv);
    // Sends every command, then reads every reply: one round trip. Error replies are returned
    // as they are; only I/O failures throw.
    std::vector<Reply> pipeline(const std::vector<std::vector<std::string>>& cmds);
    // EVALSHA, or EVAL when the server does not have the script cached (after a restart).
    Reply eval(const Script& s, const std::vector<std::string>& keys,
               const std::vector<std::string>& args);

    // After a change: runs `before` (commands that belong before the wait), then waits until
    // Durability::replicas replicas have everything this connection wrote (WAIT counts the
    // client's own writes), on the socket that change went through. Throws NotReplicated
    // when that socket is gone (a new master may not have the change) or fewer replicas
    // confirm in time. Returns the replies of `before`. Without --redis-replicas it only runs
    // `before`.
    std::vector<Reply> settle(const std::vector<std::vector<std::string>>& before = {});
    int replicas() const { return durability_.replicas; }

    // For a subscribed connection (Subscriber): sends commands without reading replies, and
    // takes the replies and messages that came, waiting up to `wait_ms` for the first (or
    // until `wake_fd` is readable). Neither dials: a dropped socket throws StoreError.
    void send(const std::vector<std::vector<std::string>>& cmds);
    std::vector<Reply> take(int wait_ms, int wake_fd);

    void connect();  // dials now; throws StoreError saying why not, RedisRefused for setup
    uint64_t dials() const { return dials_; }  // sockets opened so far: a new one is fresh
    // Dialed through Sentinels before their last +switch-master: the next connect() redials.
    bool stale() const {
        return !url_.sentinels.empty() &&
               generation_ != sentinel_generation().load(std::memory_order_acquire);
    }
    bool connected() const { return ctx_ != nullptr; }
    // Drops the socket; the next call dials again.
    void drop();

  private:
    [[noreturn]] void fail(const std::string& what);
    void append(const std::vector<std::vector<std::string>>& cmds, const char* what);
    // The master's address from the Sentinels; throws StoreError when none answers.
    std::pair<std::string, int> ask_sentinels();
    // A reply that says this server no longer takes writes (a demoted master): dial again.
    void check_role(const redisReply* r);

    RedisUrl url_;
    int timeout_ms_;
    Durability durability_;
    redisContext* ctx_ = nullptr;
    uint64_t generation_ = 0;  // sentinel_generation() when dialed
    uint64_t dials_ = 0;
    size_t next_sentinel_ = 0;
};

// Listens to the Sentinels of a redis-sentinel:// URL for +switch-master of its master and
// bumps sentinel_generation() when one comes, so connections move to the new master at their
// next call instead of at their first failure. A plain URL starts nothing.
class SentinelWatch {
  public:
    explicit SentinelWatch(RedisUrl url);
    ~SentinelWatch();  // stops and joins the thread
    SentinelWatch(const SentinelWatch&) = delete;
    SentinelWatch& operator=(const SentinelWatch&) = delete;

  private:
    void loop();

    RedisUrl url_;
    std::atomic<bool> stopping_{false};
    std::mutex mu_;
    int fd_ = -1;  // the subscribed socket, shut down to stop the thread
    std::thread thread_;
};

// --redis's first shard, or StoreError saying why not (the flag was checked at startup; a
// side store opening it again needs the same answer). The server-wide records (accounts and
// sessions, API keys, files, webhooks, push subscriptions) live there.
RedisUrl redis_url_of(const std::string& url);
// Every shard of --redis, in placement order.
std::vector<RedisUrl> redis_urls_of(const std::string& list);
// --redis-replicas and --redis-wait-ms.
Durability redis_durability_of(const Config& cfg);

// Reply helpers: they throw StoreError when the reply has another shape.
std::string reply_string(const redisReply* r);
long long reply_integer(const redisReply* r);

}  // namespace ssechat::store
