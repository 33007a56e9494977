// redis:// URL parsing, with the percent-decoding of its user and password.
#include "util/redis_url.hpp"

#include <charconv>

namespace ssechat {

namespace {

bool to_int(std::string_view s, int& out, int lo, int hi) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size() && out >= lo && out <= hi;
}

std::string percent_decode(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        int v = 0;
        if (s[i] == '%' && i + 2 < s.size() &&
            std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16).ptr == s.data() + i + 3) {
            out += static_cast<char>(v);
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

// host[:port] or [v6]:port, into host and port (kept at its default when absent).
bool parse_host_port(std::string_view hostport, std::string& host, int& port, std::string& error) {
    std::string_view h = hostport;
    if (hostport.starts_with('[')) {  // [::1]:6379
        auto close = hostport.find(']');
        if (close == std::string_view::npos) {
            error = "unterminated [ in the host";
            return false;
        }
        h = hostport.substr(1, close - 1);
        hostport = hostport.substr(close + 1);
        if (!hostport.empty() && !hostport.starts_with(':')) {
            error = "expected :port after ]";
            return false;
        }
        if (!hostport.empty() && !to_int(hostport.substr(1), port, 1, 65535)) {
            error = "the port must be a number from 1 to 65535";
            return false;
        }
    } else if (auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
        h = hostport.substr(0, colon);
        if (!to_int(hostport.substr(colon + 1), port, 1, 65535)) {
            error = "the port must be a number from 1 to 65535";
            return false;
        }
    }
    if (h.empty()) {
        error = "the host is missing";
        return false;
    }
    host = std::string(h);
    return true;
}

std::string host_port(const std::string& host, int port) {
    bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

std::string RedisUrl::text() const {
    if (sentinels.empty()) return host_port(host, port) + "/" + std::to_string(db);
    std::string s = master + "@";
    for (size_t i = 0; i < sentinels.size(); ++i)
        s += (i ? "," : "") + host_port(sentinels[i].first, sentinels[i].second);
    return s + "/" + std::to_string(db);
}

std::string RedisUrl::display() const {
    if (sentinels.empty()) return "redis://" + text();
    std::string s = "redis-sentinel://";
    for (size_t i = 0; i < sentinels.size(); ++i)
        s += (i ? "," : "") + host_port(sentinels[i].first, sentinels[i].second);
    return s + "/" + master + "/" + std::to_string(db);
}

std::optional<RedisUrl> parse_redis_url(std::string_view url, std::string& error) {
    RedisUrl u;
    constexpr std::string_view scheme = "redis://", sentinel = "redis-sentinel://";
    if (url.starts_with("rediss://")) {
        error = "rediss:// needs TLS, which Debian 12's hiredis 0.14 does not have";
        return std::nullopt;
    }
    bool via_sentinel = url.starts_with(sentinel);
    if (!via_sentinel && !url.starts_with(scheme)) {
        error =
            "expected redis://[[user]:password@]host[:port][/db] or "
            "redis-sentinel://[[user]:password@]host:port[,host:port...]/master-name[/db]";
        return std::nullopt;
    }
    std::string_view rest = url.substr(via_sentinel ? sentinel.size() : scheme.size());
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
        std::string_view cred = rest.substr(0, at);
        rest = rest.substr(at + 1);
        auto colon = cred.find(':');
        if (colon == std::string_view::npos) {
            u.password = percent_decode(cred);  // redis://secret@host, as redis-cli takes it
        } else {
            u.user = percent_decode(cred.substr(0, colon));
            u.password = percent_decode(cred.substr(colon + 1));
        }
    }
    std::string_view hostport = rest, db;
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        hostport = rest.substr(0, slash);
        db = rest.substr(slash + 1);
    }
    if (via_sentinel) {
        // /master-name[/db]
        std::string_view name = db;
        db = {};
        if (auto slash = name.find('/'); slash != std::string_view::npos) {
            db = name.substr(slash + 1);
            name = name.substr(0, slash);
        }
        if (name.empty()) {
            error = "a redis-sentinel:// URL names its master after the Sentinels: /master-name";
            return std::nullopt;
        }
        u.master = std::string(name);
        while (!hostport.empty()) {
            auto comma = hostport.find(',');
            std::string_view one = hostport.substr(0, comma);
            std::pair<std::string, int> s{"", 26379};
            if (!parse_host_port(one, s.first, s.second, error)) return std::nullopt;
            u.sentinels.push_back(std::move(s));
            hostport =
                comma == std::string_view::npos ? std::string_view() : hostport.substr(comma + 1);
            if (comma != std::string_view::npos && hostport.empty()) {
                error = "a Sentinel is missing after ','";
                return std::nullopt;
            }
        }
        if (u.sentinels.empty()) {
            error = "a redis-sentinel:// URL needs at least one Sentinel host:port";
            return std::nullopt;
        }
    } else if (!parse_host_port(hostport, u.host, u.port, error)) {
        return std::nullopt;
    }
    if (!db.empty() && !to_int(db, u.db, 0, 1 << 20)) {
        error = "the database after '/' must be a number";
        return std::nullopt;
    }
    return u;
}

std::optional<std::vector<RedisUrl>> parse_redis_urls(std::string_view list, std::string& error) {
    std::vector<std::string_view> parts;
    size_t start = 0;
    for (size_t i = 0; i < list.size(); ++i) {
        if (list[i] != ',') continue;
        std::string_view next = list.substr(i + 1);
        if (next.starts_with("redis://") || next.starts_with("redis-sentinel://") ||
            next.starts_with("rediss://") || next.empty()) {
            parts.push_back(list.substr(start, i - start));
            start = i + 1;
        }
    }
    parts.push_back(list.substr(start));
    std::vector<RedisUrl> out;
    for (size_t i = 0; i < parts.size(); ++i) {
        std::string why;
        auto u = parse_redis_url(parts[i], why);
        if (!u) {
            error = parts.size() == 1 ? why : "shard " + std::to_string(i + 1) + ": " + why;
            return std::nullopt;
        }
        for (size_t j = 0; j < out.size(); ++j)
            if (out[j].text() == u->text()) {
                error = "shards " + std::to_string(j + 1) + " and " + std::to_string(i + 1) +
                        " are the same Redis (" + u->text() + ")";
                return std::nullopt;
            }
        out.push_back(std::move(*u));
    }
    return out;
}

}  // namespace ssechat
