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

}  // namespace

std::optional<RedisUrl> parse_redis_url(std::string_view url, std::string& error) {
    RedisUrl u;
    constexpr std::string_view scheme = "redis://";
    if (url.starts_with("rediss://")) {
        error = "rediss:// needs TLS, which Debian 12's hiredis 0.14 does not have";
        return std::nullopt;
    }
    if (!url.starts_with(scheme)) {
        error = "expected redis://[[user]:password@]host[:port][/db]";
        return std::nullopt;
    }
    std::string_view rest = url.substr(scheme.size());
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
    if (!db.empty() && !to_int(db, u.db, 0, 1 << 20)) {
        error = "the database after '/' must be a number";
        return std::nullopt;
    }
    std::string_view host = hostport;
    if (hostport.starts_with('[')) {  // [::1]:6379
        auto close = hostport.find(']');
        if (close == std::string_view::npos) {
            error = "unterminated [ in the host";
            return std::nullopt;
        }
        host = hostport.substr(1, close - 1);
        hostport = hostport.substr(close + 1);
        if (!hostport.empty() && !hostport.starts_with(':')) {
            error = "expected :port after ]";
            return std::nullopt;
        }
        if (!hostport.empty() && !to_int(hostport.substr(1), u.port, 1, 65535)) {
            error = "the port must be a number from 1 to 65535";
            return std::nullopt;
        }
    } else if (auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
        host = hostport.substr(0, colon);
        if (!to_int(hostport.substr(colon + 1), u.port, 1, 65535)) {
            error = "the port must be a number from 1 to 65535";
            return std::nullopt;
        }
    }
    if (host.empty()) {
        error = "the host is missing";
        return std::nullopt;
    }
    u.host = std::string(host);
    return u;
}

}  // namespace ssechat
