// One blocking hiredis connection that reconnects on demand, and the redis:// URL it dials.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.hpp"
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

// Not thread safe: each thread that talks to Redis owns one (or borrows one from a pool).
// Every failure throws StoreError and drops the socket; the next call dials again, so a
// connection survives Redis restarts without its owner noticing beyond the failed call.
class RedisConn {
  public:
    RedisConn(RedisUrl url, int timeout_ms);
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

    void connect();  // dials now; throws StoreError saying why not, RedisRefused for setup
    bool connected() const { return ctx_ != nullptr; }

  private:
    [[noreturn]] void fail(const std::string& what);

    RedisUrl url_;
    int timeout_ms_;
    redisContext* ctx_ = nullptr;
};

// --redis as a URL, or StoreError saying why not (the flag was checked at startup; a side
// store opening it again needs the same answer).
RedisUrl redis_url_of(const std::string& url);

// Reply helpers: they throw StoreError when the reply has another shape.
std::string reply_string(const redisReply* r);
long long reply_integer(const redisReply* r);

}  // namespace ssechat::store
