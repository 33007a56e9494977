// RedisConn: hiredis's blocking API, with a timeout on every call and reconnection on demand.
#include "store/redis/redis_conn.hpp"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>

#include <charconv>

#include "store/store.hpp"

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

RedisConn::RedisConn(RedisUrl url, int timeout_ms)
    : url_(std::move(url)), timeout_ms_(timeout_ms) {}

RedisConn::~RedisConn() {
    if (ctx_) redisFree(ctx_);
}

void RedisConn::fail(const std::string& what) {
    std::string why = ctx_ && ctx_->err ? std::string(ctx_->errstr) : std::string("no reply");
    if (ctx_) redisFree(ctx_);
    ctx_ = nullptr;
    throw StoreError("redis " + url_.text() + ": " + what + ": " + why);
}

void RedisConn::connect() {
    if (ctx_) return;
    ctx_ = redisConnectWithTimeout(url_.host.c_str(), url_.port, to_timeval(timeout_ms_));
    if (!ctx_) throw StoreError("redis " + url_.text() + ": out of memory");
    if (ctx_->err) fail("cannot connect");
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
    if (r->type == REDIS_REPLY_ERROR)
        throw StoreError("redis " + argv.front() + ": " + std::string(r->str, r->len));
    return r;
}

std::vector<Reply> RedisConn::pipeline(const std::vector<std::vector<std::string>>& cmds) {
    connect();
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
            fail("pipeline");
    }
    std::vector<Reply> out;
    out.reserve(cmds.size());
    for (size_t i = 0; i < cmds.size(); ++i) {
        void* raw = nullptr;
        if (redisGetReply(ctx_, &raw) != REDIS_OK || !raw) fail("pipeline");
        out.emplace_back(static_cast<redisReply*>(raw));
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

RedisUrl redis_url_of(const std::string& url) {
    std::string why;
    auto u = parse_redis_url(url, why);
    if (!u) throw StoreError("--redis: " + why);
    return *u;
}

}  // namespace ssechat::store
