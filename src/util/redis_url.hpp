// The redis:// URL of --redis: parsed when the flags are, so a bad one stops startup at once
// without the configuration code reaching into the store.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ssechat {

struct RedisUrl {
    std::string host = "127.0.0.1";
    int port = 6379;
    int db = 0;
    std::string user;      // ACL user (Redis 6+); empty: the default user
    std::string password;  // empty: no AUTH (of the master; Sentinels are asked without)
    // redis-sentinel://: the Sentinels to ask for the address of `master` (host and port
    // above are then unused). Empty: a plain redis:// URL.
    std::vector<std::pair<std::string, int>> sentinels;
    std::string master;
    // host:port/db, or master@sentinels/db; never the password (for logs and errors).
    std::string text() const;
    // The URL without its password, to show an operator.
    std::string display() const;
};

// redis://[[user]:password@]host[:port][/db], or
// redis-sentinel://[[user]:password@]host:port[,host:port...]/master-name[/db].
// nullopt, with `error` set, when malformed.
// rediss:// (TLS) is refused: Debian 12's hiredis 0.14 has no TLS support.
std::optional<RedisUrl> parse_redis_url(std::string_view url, std::string& error);

// --redis: one URL, or the store's shards as a comma-separated list of them, in placement
// order (util/placement.hpp). A Sentinel URL's own commas separate its Sentinels: a shard
// starts only where a scheme follows the comma. nullopt, with `error` naming the shard, when
// one is malformed, or when two name the same Redis.
std::optional<std::vector<RedisUrl>> parse_redis_urls(std::string_view list, std::string& error);

}  // namespace ssechat
