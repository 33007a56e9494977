// The redis:// URL of --redis: parsed when the flags are, so a bad one stops startup at once
// without the configuration code reaching into the store.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace ssechat {

struct RedisUrl {
    std::string host = "127.0.0.1";
    int port = 6379;
    int db = 0;
    std::string user;      // ACL user (Redis 6+); empty: the default user
    std::string password;  // empty: no AUTH
    // host:port/db, never the password (for logs and errors).
    std::string text() const {
        return host + ":" + std::to_string(port) + "/" + std::to_string(db);
    }
};

// redis://[[user]:password@]host[:port][/db]. nullopt, with `error` set, when malformed.
// rediss:// (TLS) is refused: Debian 12's hiredis 0.14 has no TLS support.
std::optional<RedisUrl> parse_redis_url(std::string_view url, std::string& error);

}  // namespace ssechat
