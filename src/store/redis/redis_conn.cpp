// RedisConn: hiredis's blocking API, with a timeout on every call and reconnection on demand.
#include "store/redis/redis_conn.hpp"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <poll.h>
#include <sys/socket.h>

#include <charconv>
#include <chrono>
#include <string_view>
#include <tuple>

#include "store/store.hpp"
#include "util/log.hpp"

namespace ssechat::store {

namespace {

timeval to_timeval(int ms) {
    return {ms / 1000, (ms % 1000) * 1000};
}

}  // namespace

void ReplyFree::operator()(redisReply* r) const {
    freeReplyObject(r);
}

Script::Script(std::string n, std::string b) : name(std::move(n)), body(std::move(b)) {
    unsigned char d[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(body.data()), body.size(), d);
    static const char* hex = "0123456789abcdef";
    for (unsigned char c : d) {
        sha1 += hex[c >> 4];
        sha1 += hex[c & 15];
    }
}

std::atomic<uint64_t>& sentinel_generation() {
    static std::atomic<uint64_t> g{0};
    return g;
}

RedisConn::RedisConn(RedisUrl url, int timeout_ms, Durability durability)
    : url_(std::move(url)), timeout_ms_(timeout_ms), durability_(durability) {}

RedisConn::~RedisConn() {
    drop();
}

void RedisConn::drop() {
    if (ctx_) redisFree(ctx_);
    ctx_ = nullptr;
}

void RedisConn::fail(const std::string& what) {
    std::string why = ctx_ && ctx_->err ? std::string(ctx_->errstr) : std::string("no reply");
    drop();
    throw StoreError("redis " + url_.text() + ": " + what + ": " + why);
}

std::pair<std::string, int> RedisConn::ask_sentinels() {
    // The Sentinel that answered last is asked first; any of them may answer.
    std::string last_error = "no Sentinel answered";
    for (size_t i = 0; i < url_.sentinels.size(); ++i) {
        size_t at = (next_sentinel_ + i) % url_.sentinels.size();
        const auto& [host, port] = url_.sentinels[at];
        redisContext* c = redisConnectWithTimeout(host.c_str(), port, to_timeval(timeout_ms_));
        if (!c || c->err) {
            last_error = "Sentinel " + host + ":" + std::to_string(port) + ": " +
                         (c ? c->errstr : "out of memory");
            if (c) redisFree(c);
            continue;
        }
        redisSetTimeout(c, to_timeval(timeout_ms_));
        Reply r(static_cast<redisReply*>(redisCommand(c, "SENTINEL get-master-addr-by-name %b",
                                                      url_.master.data(), url_.master.size())));
        redisFree(c);
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
            int p = static_cast<int>(reply_integer(r->element[1]));
            next_sentinel_ = at;
            return {reply_string(r->element[0]), p};
        }
        last_error = "Sentinel " + host + ":" + std::to_string(port) +
                     (r && r->type == REDIS_REPLY_NIL     ? " does not know master " + url_.master
                      : r && r->type == REDIS_REPLY_ERROR ? ": " + std::string(r->str, r->len)
                                                          : ": no answer");
    }
    throw StoreError("redis " + url_.text() + ": " + last_error);
}

void RedisConn::check_role(const redisReply* r) {
    // After a failover the old master comes back as a replica and refuses writes: this
    // connection asks the Sentinels again on its next call. A master that lost its replicas
    // with min-replicas-to-write set says NOREPLICAS; that one stays.
    if (r && r->type == REDIS_REPLY_ERROR && !url_.sentinels.empty() &&
        (std::string_view(r->str, r->len).starts_with("READONLY") ||
         std::string_view(r->str, r->len).starts_with("MASTERDOWN")))
        drop();
}

void RedisConn::connect() {
    if (ctx_ && !url_.sentinels.empty() &&
        generation_ != sentinel_generation().load(std::memory_order_acquire))
        drop();  // a Sentinel announced a new master since this socket was dialed
    if (ctx_) return;
    std::string host = url_.host;
    int port = url_.port;
    if (!url_.sentinels.empty()) {
        generation_ = sentinel_generation().load(std::memory_order_acquire);
        std::tie(host, port) = ask_sentinels();
    }
    ctx_ = redisConnectWithTimeout(host.c_str(), port, to_timeval(timeout_ms_));
    ++dials_;
    if (!ctx_) throw StoreError("redis " + url_.text() + ": out of memory");
    if (ctx_->err) fail("cannot connect to " + host + ":" + std::to_string(port));
    redisSetTimeout(ctx_, to_timeval(timeout_ms_));
    try {
        if (!url_.password.empty()) {
            if (url_.user.empty())
                run({"AUTH", url_.password});
            else
                run({"AUTH", url_.user, url_.password});
        }
        if (url_.db != 0) run({"SELECT", std::to_string(url_.db)});
    } catch (const StoreError& e) {
        // Never keep a socket that is not logged in or not on the right database.
        bool answered = ctx_ != nullptr;
        if (ctx_) redisFree(ctx_);
        ctx_ = nullptr;
        if (answered) throw RedisRefused(e.what());
        throw;
    }
    if (!url_.sentinels.empty()) {
        // The Sentinels' answer may be a moment old: the server itself must say it is the
        // master before anything is written to it.
        Reply role(static_cast<redisReply*>(redisCommand(ctx_, "ROLE")));
        if (!role) fail("ROLE");
        const redisReply* what =
            role->type == REDIS_REPLY_ARRAY && role->elements > 0 ? role->element[0] : nullptr;
        if (!what || what->type != REDIS_REPLY_STRING ||
            std::string_view(what->str, what->len) != "master") {
            drop();
            throw StoreError("redis " + url_.text() + ": " + host + ":" + std::to_string(port) +
                             " is not the master (a failover is under way)");
        }
    }
}

std::vector<Reply> RedisConn::settle(const std::vector<std::vector<std::string>>& before) {
    if (durability_.replicas <= 0) return before.empty() ? std::vector<Reply>{} : pipeline(before);
    if (!ctx_ || (!url_.sentinels.empty() &&
                  generation_ != sentinel_generation().load(std::memory_order_acquire))) {
        drop();
        throw NotReplicated(
            "the connection to the Redis master was lost before its replicas confirmed the "
            "change");
    }
    auto cmds = before;
    cmds.push_back(
        {"WAIT", std::to_string(durability_.replicas), std::to_string(durability_.wait_ms)});
    // WAIT blocks on the server for up to wait_ms: the socket must wait longer.
    redisSetTimeout(ctx_, to_timeval(timeout_ms_ + durability_.wait_ms));
    auto replies = pipeline(cmds);
    if (ctx_) redisSetTimeout(ctx_, to_timeval(timeout_ms_));
    for (const auto& r : replies)
        if (r->type == REDIS_REPLY_ERROR)
            throw StoreError("redis: " + std::string(r->str, r->len) + " (before WAIT)");
    long long got = reply_integer(replies.back().get());
    if (got < durability_.replicas)
        throw NotReplicated("only " + std::to_string(got) + " of the " +
                            std::to_string(durability_.replicas) +
                            " replicas --redis-replicas asks for confirmed the change within " +
                            std::to_string(durability_.wait_ms) + " ms");
    replies.pop_back();
    return replies;
}

Reply RedisConn::run(const std::vector<std::string>& argv) {
    connect();
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    for (const auto& a : argv) {
        ptrs.push_back(a.data());
        lens.push_back(a.size());
    }
    Reply r(static_cast<redisReply*>(
        redisCommandArgv(ctx_, static_cast<int>(argv.size()), ptrs.data(), lens.data())));
    if (!r) fail(argv.front());
    check_role(r.get());
    if (r->type == REDIS_REPLY_ERROR)
        throw StoreError("redis " + argv.front() + ": " + std::string(r->str, r->len));
    return r;
}

void RedisConn::append(const std::vector<std::vector<std::string>>& cmds, const char* what) {
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    for (const auto& argv : cmds) {
        ptrs.clear();
        lens.clear();
        for (const auto& a : argv) {
            ptrs.push_back(a.data());
            lens.push_back(a.size());
        }
        if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), ptrs.data(), lens.data()) !=
            REDIS_OK)
            fail(what);
    }
}

std::vector<Reply> RedisConn::pipeline(const std::vector<std::vector<std::string>>& cmds) {
    connect();
    append(cmds, "pipeline");
    std::vector<Reply> out;
    out.reserve(cmds.size());
    for (size_t i = 0; i < cmds.size(); ++i) {
        void* raw = nullptr;
        if (redisGetReply(ctx_, &raw) != REDIS_OK || !raw) fail("pipeline");
        out.emplace_back(static_cast<redisReply*>(raw));
    }
    // Dropped only after every reply is read, so that the socket is not left mid-answer.
    for (const auto& r : out) check_role(r.get());
    return out;
}

void RedisConn::send(const std::vector<std::vector<std::string>>& cmds) {
    if (!ctx_) throw StoreError("redis " + url_.text() + ": not connected");
    append(cmds, "send");
    for (int done = 0; !done;)
        if (redisBufferWrite(ctx_, &done) != REDIS_OK) fail("send");
}

std::vector<Reply> RedisConn::take(int wait_ms, int wake_fd) {
    if (!ctx_) throw StoreError("redis " + url_.text() + ": not connected");
    std::vector<Reply> out;
    auto drain = [&] {
        for (;;) {
            void* raw = nullptr;
            if (redisGetReplyFromReader(ctx_, &raw) != REDIS_OK) fail("read");
            if (!raw) return;
            out.emplace_back(static_cast<redisReply*>(raw));
        }
    };
    drain();
    if (!out.empty()) return out;
    pollfd p[2] = {{ctx_->fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    if (::poll(p, wake_fd >= 0 ? 2 : 1, wait_ms) > 0 && p[0].revents != 0) {
        // Readable (or closed): the read does not block, and a closed socket fails it.
        if (redisBufferRead(ctx_) != REDIS_OK) fail("read");
        drain();
    }
    return out;
}

Reply RedisConn::eval(const Script& s, const std::vector<std::string>& keys,
                      const std::vector<std::string>& args) {
    std::vector<std::string> argv{"EVALSHA", s.sha1, std::to_string(keys.size())};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    try {
        return run(argv);
    } catch (const StoreError& e) {
        // A restarted or flushed Redis has forgotten the script; EVAL sends it and caches it.
        if (!ctx_ || std::string_view(e.what()).find("NOSCRIPT") == std::string_view::npos)
            throw StoreError(std::string(e.what()) + " (script " + s.name + ")");
    }
    argv[0] = "EVAL";
    argv[1] = s.body;
    return run(argv);
}

SentinelWatch::SentinelWatch(RedisUrl url) : url_(std::move(url)) {
    if (!url_.sentinels.empty()) thread_ = std::thread([this] { loop(); });
}

SentinelWatch::~SentinelWatch() {
    stopping_ = true;
    {
        std::lock_guard lk(mu_);
        if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
    }
    if (thread_.joinable()) thread_.join();
}

void SentinelWatch::loop() {
    // One Sentinel at a time; when it goes away (or is quiet for a minute, which a Sentinel
    // that pings its master every second never is), the next one. A switch missed while no
    // Sentinel was reachable is caught anyway: a demoted master answers READONLY and a dead
    // one not at all, and either makes a connection ask the Sentinels again.
    for (size_t i = 0; !stopping_; ++i) {
        const auto& [host, port] = url_.sentinels[i % url_.sentinels.size()];
        redisContext* c = redisConnectWithTimeout(host.c_str(), port, to_timeval(2000));
        if (c && !c->err) {
            redisSetTimeout(c, to_timeval(60000));
            {
                std::lock_guard lk(mu_);
                fd_ = c->fd;
            }
            Reply sub(static_cast<redisReply*>(redisCommand(c, "SUBSCRIBE +switch-master")));
            while (sub && !stopping_) {
                void* raw = nullptr;
                if (redisGetReply(c, &raw) != REDIS_OK || !raw) break;
                Reply msg(static_cast<redisReply*>(raw));
                // ["message", "+switch-master", "<name> <old-ip> <old-port> <new-ip> <new-port>"]
                if (msg->type != REDIS_REPLY_ARRAY || msg->elements != 3) continue;
                std::string_view text(msg->element[2]->str, msg->element[2]->len);
                if (text.starts_with(url_.master + " ")) {
                    sentinel_generation().fetch_add(1, std::memory_order_acq_rel);
                    log::info("redis: Sentinel announced a new master for " + url_.master + ": " +
                              std::string(text));
                }
            }
            std::lock_guard lk(mu_);
            fd_ = -1;
        }
        if (c) redisFree(c);
        for (int waited = 0; waited < 1000 && !stopping_; waited += 50)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

std::string reply_string(const redisReply* r) {
    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS))
        throw StoreError("redis: expected a string reply");
    return {r->str, r->len};
}

long long reply_integer(const redisReply* r) {
    if (r && r->type == REDIS_REPLY_INTEGER) return r->integer;
    if (r && r->type == REDIS_REPLY_STRING) {
        long long v = 0;
        auto [p, ec] = std::from_chars(r->str, r->str + r->len, v);
        if (ec == std::errc() && p == r->str + r->len) return v;
    }
    throw StoreError("redis: expected an integer reply");
}

Durability redis_durability_of(const Config& cfg) {
    return {cfg.redis_replicas, cfg.redis_wait_ms};
}

std::vector<RedisUrl> redis_urls_of(const std::string& list) {
    std::string why;
    auto u = parse_redis_urls(list, why);
    if (!u) throw StoreError("--redis: " + why);
    return *u;
}

RedisUrl redis_url_of(const std::string& url) {
    return redis_urls_of(url).front();
}

}  // namespace ssechat::store
