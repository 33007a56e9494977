// What the route handlers of the HTTP API share: response helpers and request readers.
// Included only by src/http/api.cpp and the resource files beside it.
#pragma once
#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <initializer_list>
#include <optional>
#include <string>

#include "http/request.hpp"
#include "http/session.hpp"
#include "util/strict_json.hpp"
#include "util/text.hpp"

namespace ssechat::http::detail {

namespace bhttp = beast::http;
using bhttp::status;

inline constexpr const char* kJson = "application/json; charset=utf-8";
inline constexpr const char* kSeedOk = R"({"status":200,"error":"Message Sent Succesfully"})";
inline constexpr const char* kSeedBad = R"({"status":400,"error":"Bad Request"})";

inline Response make(status st, std::string body, const char* type = kJson) {
    Response res{st, 11};
    res.set(bhttp::field::content_type, type);
    res.set(bhttp::field::cache_control, "no-store");
    res.body() = std::move(body);
    return res;
}

inline int64_t unix_now() {
    using namespace std::chrono;
    return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

inline int64_t unix_now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// The value of cookie `name`, or "" (the first, when a client sends it twice).
inline std::string cookie_of(const Request& req, std::string_view name) {
    // HTTP/2 may split cookies over several fields (RFC 9113 8.2.3): each is read.
    auto [first, last] = req.equal_range(bhttp::field::cookie);
    for (auto h = first; h != last; ++h) {
        std::string_view v = h->value();
        for (size_t p = 0; p < v.size();) {
            size_t semi = v.find(';', p);
            std::string_view kv = text::trim(v.substr(p, semi == v.npos ? v.npos : semi - p));
            if (kv.size() > name.size() && kv.substr(0, name.size()) == name &&
                kv[name.size()] == '=')
                return std::string(kv.substr(name.size() + 1));
            if (semi == v.npos) break;
            p = semi + 1;
        }
    }
    return {};
}

// The credential of an `Authorization: Bearer` header, or "".
inline std::string bearer_of(const Request& req) {
    if (auto h = req.find(bhttp::field::authorization); h != req.end()) {
        std::string_view v = h->value();
        if (v.size() > 7 && (v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer "))
            return std::string(text::trim(v.substr(7)));
    }
    return {};
}

// The token from "Authorization: Bearer", the ssechat_token cookie, or ?token=
// (EventSource cannot set headers).
inline std::string token_of(const Request& req, const http_util::Query* q) {
    if (auto b = bearer_of(req); !b.empty()) return b;
    if (auto t = cookie_of(req, "ssechat_token"); !t.empty()) return t;
    if (q)
        if (const std::string* t = http_util::find(*q, "token")) return *t;
    return {};
}

// A JSON object body, an empty body standing for {}; nullopt for anything else.
inline std::optional<boost::json::object> object_body(const std::string& body) {
    if (body.empty()) return boost::json::object{};
    boost::json::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec || !v.is_object() || strict_json::duplicate_keys(body)) return std::nullopt;
    return std::move(v.as_object());
}

// Only the keys listed: a misspelt one is an error, not silently nothing.
inline std::string unknown_key(const boost::json::object& o,
                               std::initializer_list<std::string_view> ok) {
    for (const auto& kv : o)
        if (std::find(ok.begin(), ok.end(), kv.key()) == ok.end()) return std::string(kv.key());
    return {};
}

// An optional non-negative integer parameter; false when present but not a number.
inline bool number_param(const http_util::Query& q, const char* name,
                         std::optional<uint64_t>& out) {
    const std::string* v = http_util::find(q, name);
    if (!v) return true;
    out = text::parse_u64(*v);
    return out.has_value();
}

// The "error" of a JSON error body; the body itself otherwise (tokens are never in one).
inline std::string reason_of(const std::string& body) {
    boost::json::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (!ec && v.is_object())
        if (const auto* e = v.as_object().if_contains("error"); e && e->is_string())
            return std::string(e->as_string());
    return body.substr(0, 200);
}

inline bool loopback(const boost::asio::ip::address& a) {
    if (a.is_loopback()) return true;
    return a.is_v6() && a.to_v6().is_v4_mapped() &&
           boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6())
               .is_loopback();  // ::ffff:127.0.0.1
}

}  // namespace ssechat::http::detail
