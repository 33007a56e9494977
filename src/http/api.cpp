// Route handlers. The seed API keeps its exact bodies; the native API says what was wrong.
#include "http/api.hpp"

#include <openssl/crypto.h>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>

#include "chat/hub.hpp"
#include "chat/metrics.hpp"
#include "chat/shard.hpp"
#include "http/assets.hpp"
#include "http/request.hpp"
#include "util/log.hpp"
#include "util/text.hpp"

namespace ssechat::http {

namespace bhttp = beast::http;
using bhttp::status;

namespace {

constexpr const char* kJson = "application/json; charset=utf-8";
constexpr const char* kSeedOk = R"({"status":200,"error":"Message Sent Succesfully"})";
constexpr const char* kSeedBad = R"({"status":400,"error":"Bad Request"})";

Response make(status st, std::string body, const char* type = kJson) {
    Response res{st, 11};
    res.set(bhttp::field::content_type, type);
    res.set(bhttp::field::cache_control, "no-store");
    res.body() = std::move(body);
    return res;
}

int64_t unix_now() {
    using namespace std::chrono;
    return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

// The token from "Authorization: Bearer", the ssechat_token cookie, or ?token=
// (EventSource cannot set headers).
std::string token_of(const Request& req, const http_util::Query* q) {
    if (auto h = req.find(bhttp::field::authorization); h != req.end()) {
        std::string_view v = h->value();
        if (v.size() > 7 && (v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer "))
            return std::string(text::trim(v.substr(7)));
    }
    if (auto h = req.find(bhttp::field::cookie); h != req.end()) {
        std::string_view v = h->value();
        for (size_t p = 0; p < v.size();) {
            size_t semi = v.find(';', p);
            std::string_view kv = text::trim(v.substr(p, semi == v.npos ? v.npos : semi - p));
            if (kv.substr(0, 14) == "ssechat_token=") return std::string(kv.substr(14));
            if (semi == v.npos) break;
            p = semi + 1;
        }
    }
    if (q)
        if (const std::string* t = http_util::find(*q, "token")) return *t;
    return {};
}

// An optional non-negative integer parameter; false when present but not a number.
bool number_param(const http_util::Query& q, const char* name, std::optional<uint64_t>& out) {
    const std::string* v = http_util::find(q, name);
    if (!v) return true;
    out = text::parse_u64(*v);
    return out.has_value();
}

// The "error" of a JSON error body; the body itself otherwise (tokens are never in one).
std::string reason_of(const std::string& body) {
    boost::json::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (!ec && v.is_object())
        if (const auto* e = v.as_object().if_contains("error"); e && e->is_string())
            return std::string(e->as_string());
    return body.substr(0, 200);
}

bool loopback(const boost::asio::ip::address& a) {
    if (a.is_loopback()) return true;
    return a.is_v6() && a.to_v6().is_v4_mapped() &&
           boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6())
               .is_loopback();  // ::ffff:127.0.0.1
}

}  // namespace

Api::Api(const Config& cfg, chat::Hub& hub, std::vector<chat::Shard*> shards)
    : cfg_(cfg),
      hub_(hub),
      shards_(std::move(shards)),
      connections_(cfg.max_connections, cfg.max_connections_per_ip),
      streams_(0, cfg.max_streams_per_user),
      publishes_(cfg.publish_rate, cfg.publish_burst),
      any_origin_(cfg.cors_origins.size() == 1 && cfg.cors_origins[0] == "*") {
    if (!cfg.jwt_secret.empty()) verifier_ = auth::Verifier::hs256(cfg.jwt_secret);
    if (!cfg.jwt_key.empty()) verifier_ = auth::Verifier::public_key(cfg.jwt_key);
}

Response Api::error(status st, const std::string& why) const {
    boost::json::object o;
    o["status"] = static_cast<int>(st);
    o["error"] = why;
    Response res = make(st, boost::json::serialize(o));
    if (any_origin_) res.set(bhttp::field::access_control_allow_origin, "*");
    return res;
}

chat::Shard& Api::current_shard(const std::shared_ptr<Session>& s) {
    auto& ctx = s->executor().context();
    for (auto* sh : shards_)
        if (&sh->ioc() == &ctx) return *sh;
    return *shards_.front();
}

std::optional<std::string> Api::origin_of(const Request& req) const {
    if (any_origin_) return std::nullopt;  // not needed: everyone gets "*"
    auto o = req.find(bhttp::field::origin);
    if (o == req.end()) return std::nullopt;
    return std::string(o->value());
}

void Api::grant_origin(Response& res, const std::optional<std::string>& origin) const {
    if (any_origin_) {
        res.set(bhttp::field::access_control_allow_origin, "*");
    } else if (origin) {
        // Only listed origins are echoed; others get no CORS grant at all.
        if (std::find(cfg_.cors_origins.begin(), cfg_.cors_origins.end(), *origin) !=
            cfg_.cors_origins.end())
            res.set(bhttp::field::access_control_allow_origin, *origin);
        res.set(bhttp::field::vary, "Origin");
    }
}

void Api::reply(Ctx& c, Response res) {
    res.version(c.req.version());
    res.keep_alive(c.req.keep_alive() && !draining_);
    grant_origin(res, origin_of(c.req));
    if (c.head) {
        // The GET's length, no body (RFC 9110 9.3.2).
        res.prepare_payload();
        record(c.req.method_string(), c.route, res.result_int(), res.body(), c.start, c.user);
        res.body().clear();
        return c.s->respond(std::move(res), true);
    }
    send(c, std::move(res), false);
}

void Api::send(Ctx& c, Response res, bool framed) {
    record(c.req.method_string(), c.route, res.result_int(), res.body(), c.start, c.user);
    c.s->respond(std::move(res), framed);
}

void Api::record(std::string_view method, Route route, unsigned status, const std::string& body,
                 std::chrono::steady_clock::time_point start, std::string_view user) const {
    unsigned cls = status / 100;
    if (cls >= 1 && cls <= 5)
        metrics().http_requests[route][cls - 1].fetch_add(1, std::memory_order_relaxed);
    if (cfg_.access_log) {
        double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count();
        char took[32];
        std::snprintf(took, sizeof took, "%.3f", ms);
        log::access({{"method", std::string(method)},
                     {"route", route_name(route)},
                     {"status", std::to_string(status)},
                     {"bytes", std::to_string(body.size())},
                     {"ms", took},
                     {"user", std::string(user)}});
    }
    if (cls == 5) {
        // A failing store can turn every request into a 503: a few lines a second say so
        // without burying the log.
        auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count();
        if (warn_second_.exchange(now) != now) warn_count_ = 0;
        if (warn_count_++ < 5)
            log::warn("server error", {{"status", std::to_string(status)},
                                       {"route", route_name(route)},
                                       {"reason", reason_of(body)}});
    } else if (cls == 4 && log::enabled_debug()) {
        log::debug("client error", {{"status", std::to_string(status)},
                                    {"route", route_name(route)},
                                    {"reason", reason_of(body)}});
    }
}

void Api::wrong_method(Ctx& c, const char* allow) {
    metrics().bad_requests.fetch_add(1, std::memory_order_relaxed);
    Response res = error(status::method_not_allowed, std::string("use ") + allow);
    res.set(bhttp::field::allow, allow);
    reply(c, std::move(res));
}

void Api::refuse(Ctx& c, status st, const std::string& why) {
    metrics().bad_requests.fetch_add(1, std::memory_order_relaxed);
    Response res = error(st, why);
    if (st == status::unauthorized) res.set(bhttp::field::www_authenticate, "Bearer");
    reply(c, std::move(res));
}

bool Api::authenticate(Ctx& c) {
    if (!verifier_) return true;
    const auto& q = c.query;
    auth::Verdict v = verifier_->verify(token_of(c.req, q ? &*q : nullptr), unix_now());
    if (v.status != 200) {
        // The reason goes to the client only; tokens are never logged.
        metrics().auth_failures.fetch_add(1, std::memory_order_relaxed);
        refuse(c, static_cast<status>(v.status), v.error);
        return false;
    }
    if (auto why = text::bad_user_id(v.identity.user, cfg_.max_user); !why.empty()) {
        metrics().auth_failures.fetch_add(1, std::memory_order_relaxed);
        refuse(c, status::unauthorized, "token sub: " + why);
        return false;
    }
    c.identity = std::move(v.identity);
    c.user = c.identity->user;
    return true;
}

std::optional<std::string> Api::user(Ctx& c, const char* fallback, bool seed) {
    if (c.identity) return c.identity->user;  // ?id= cannot choose the user then
    const auto& q = c.query;
    auto fail = [&](const std::string& why) -> std::optional<std::string> {
        if (seed) {
            metrics().publish_rejected.fetch_add(1, std::memory_order_relaxed);
            reply(c, make(status::bad_request, kSeedBad));
        } else {
            refuse(c, status::bad_request, why);
        }
        return std::nullopt;
    };
    if (!q) return fail("malformed query string");
    const std::string* id = http_util::find(*q, "id");
    if (!id || id->empty()) {
        if (fallback) return c.user = fallback;
        return fail("missing ?id= (the user id)");
    }
    if (auto why = text::bad_user_id(*id, cfg_.max_user); !why.empty()) return fail(why);
    return c.user = *id;
}

bool Api::room_allowed(Ctx& c, const std::string& room) {
    if (!c.identity || c.identity->may_use(room)) return true;
    metrics().auth_failures.fetch_add(1, std::memory_order_relaxed);
    refuse(c, status::forbidden, "token does not allow room " + room);
    return false;
}

bool Api::rate_ok(Ctx& c, const std::string& user) {
    double wait = publishes_.take(user, std::chrono::steady_clock::now());
    if (wait == 0) return true;
    metrics().rate_limited.fetch_add(1, std::memory_order_relaxed);
    metrics().publish_rejected.fetch_add(1, std::memory_order_relaxed);
    char limit[64];
    std::snprintf(limit, sizeof limit, "%g", cfg_.publish_rate);
    Response res = error(status::too_many_requests, std::string("publish rate limit: ") + limit +
                                                        " messages per second per user");
    res.set(bhttp::field::retry_after, std::to_string(static_cast<int>(std::ceil(wait))));
    reply(c, std::move(res));
    return false;
}

void Api::handle(Request&& req, const std::shared_ptr<Session>& s) {
    auto [path, query] = http_util::split_target(req.target());
    Ctx c{req, s, path, http_util::parse_query(query), std::nullopt};
    c.head = req.method() == bhttp::verb::head;
    // HEAD is routed as GET; reply() then drops the body.
    auto method = c.head ? bhttp::verb::get : req.method();

    if (method == bhttp::verb::options) {
        c.route = kRoutePreflight;
        // The cors package's defaults: the usual methods, echo the requested headers.
        Response res{status::no_content, req.version()};
        res.set(bhttp::field::access_control_allow_methods, "GET,HEAD,PUT,PATCH,POST,DELETE");
        if (auto h = req.find(bhttp::field::access_control_request_headers); h != req.end()) {
            res.set(bhttp::field::access_control_allow_headers, h->value());
            res.set(bhttp::field::vary, "Access-Control-Request-Headers");
        }
        return reply(c, std::move(res));
    }
    if (c.query)
        if (const std::string* k = http_util::repeated_key(*c.query))
            return refuse(c, status::bad_request, "query parameter " + *k + " is given twice");
    if (path == "/healthz") {
        c.route = kRouteHealthz;
        if (method != bhttp::verb::get) return wrong_method(c, "GET, HEAD");
        bool ok = hub_.store().writable();
        return reply(c, ok ? make(status::ok, R"({"status":"ok"})")
                           : error(status::service_unavailable, "store is not writable"));
    }
    if (method == bhttp::verb::get && serve_asset(c)) return;
    if (path == "/metrics") {
        c.route = kRouteMetrics;
        if (method != bhttp::verb::get) return wrong_method(c, "GET, HEAD");
        if (!metrics_allowed(c)) return;
        metrics().open_connections.store(static_cast<int64_t>(connections_.total()));
        metrics().rooms_loaded.store(static_cast<int64_t>(hub_.rooms_loaded()));
        metrics().users_online.store(static_cast<int64_t>(streams_.keys()));
        return reply(c, make(status::ok, metrics().render(), "text/plain; version=0.0.4"));
    }
    if (!authenticate(c)) return;

    if (path == "/messages") {
        c.route = kRouteSeedStream;
        if (method != bhttp::verb::get) return wrong_method(c, "GET, HEAD");
        return seed_stream(c);
    }
    if (path == "/message") {
        c.route = kRouteSeedPublish;
        if (method != bhttp::verb::post) return wrong_method(c, "POST");
        return seed_publish(c);
    }
    if (path == "/rooms") {
        c.route = kRouteRooms;
        if (method != bhttp::verb::get) return wrong_method(c, "GET, HEAD");
        return list_rooms(c);
    }
    if (path.rfind("/rooms/", 0) == 0) return room_route(c, path.substr(7));
    if (path == "/me") {
        c.route = kRouteMe;
        if (method != bhttp::verb::get) return wrong_method(c, "GET, HEAD");
        // Who the page is signed in as (and until when): with tokens, the token's sub;
        // anonymous, nobody: the page then asks for a name.
        boost::json::object o;
        o["auth"] = auth_mode();
        if (c.identity) {
            o["user_id"] = c.identity->user;
            o["expires"] = c.identity->exp;
        } else {
            o["user_id"] = nullptr;
            o["expires"] = nullptr;
        }
        return reply(c, make(status::ok, boost::json::serialize(o)));
    }
    refuse(c, status::not_found, "no such route: " + std::string(path));
}

bool Api::metrics_allowed(Ctx& c) {
    // Without tokens everything is open, /metrics too. With tokens, Prometheus needs neither
    // a user's JWT nor a user's rights: a token of its own, or the loopback interface.
    if (!verifier_) return true;
    if (cfg_.metrics_loopback && loopback(c.s->peer())) return true;
    if (!cfg_.metrics_token.empty()) {
        std::string t = token_of(c.req, nullptr);
        if (t.size() == cfg_.metrics_token.size() &&
            CRYPTO_memcmp(t.data(), cfg_.metrics_token.data(), t.size()) == 0)
            return true;
    }
    metrics().auth_failures.fetch_add(1, std::memory_order_relaxed);
    refuse(c, status::unauthorized,
           "/metrics needs the --metrics-token bearer token, or a loopback client with "
           "--metrics-loopback");
    return false;
}

bool Api::serve_asset(Ctx& c) {
    if (c.path != "/" && c.path.find('/', 1) != std::string_view::npos) return false;
    auto file = assets::lookup(c.path, cfg_.web_root);
    if (!file) return false;
    c.route = kRoutePage;
    auto inm = c.req.find(bhttp::field::if_none_match);
    bool fresh = inm != c.req.end() && inm->value() == file->etag;
    Response res = make(fresh ? status::not_modified : status::ok,
                        fresh ? std::string() : file->body, file->type.c_str());
    res.set(bhttp::field::etag, file->etag);
    // Revalidate every time: the ETag makes that a 304, and a new build is seen at once.
    res.set(bhttp::field::cache_control, "no-cache");
    res.set("X-Content-Type-Options", "nosniff");
    if (file->type.rfind("text/html", 0) == 0)
        res.set("Content-Security-Policy",
                "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                "img-src 'self' data:; frame-ancestors 'none'");
    reply(c, std::move(res));
    return true;
}

sse::Buffer Api::stream_head(const Request& req) {
    // The seed's head says keep-alive; a client that asked to close, or speaks HTTP/1.0 (for
    // which a body without a length ends with the connection), is told the truth.
    bool keep = req.version() >= 11 && req.keep_alive();
    std::string head = std::string(req.version() >= 11 ? "HTTP/1.1" : "HTTP/1.0") +
                       " 200 OK\r\n"
                       "Content-Type: text/event-stream\r\n"
                       "Cache-Control: no-cache\r\n" +
                       (keep ? "Connection: keep-alive\r\n" : "Connection: close\r\n") +
                       "X-Accel-Buffering: no\r\n";
    if (any_origin_) {
        head += "Access-Control-Allow-Origin: *\r\n";
    } else if (auto o = req.find(bhttp::field::origin); o != req.end()) {
        if (std::find(cfg_.cors_origins.begin(), cfg_.cors_origins.end(), o->value()) !=
            cfg_.cors_origins.end())
            head += "Access-Control-Allow-Origin: " + std::string(o->value()) + "\r\n";
        head += "Vary: Origin\r\n";
    }
    return std::make_shared<const std::string>(head + "\r\n");
}

void Api::stream(Ctx& c, const std::string& room, std::string user, bool seed) {
    const auto& q = c.query;
    if (!q) return refuse(c, status::bad_request, "malformed query string");
    chat::StreamStart start;
    start.legacy = seed;
    if (!seed) {
        std::optional<uint64_t> since, history;
        if (!number_param(*q, "since", since))
            return refuse(c, status::bad_request, "since must be a non-negative integer");
        if (!number_param(*q, "history", history) || (history && *history > 1000))
            return refuse(c, status::bad_request, "history must be an integer from 0 to 1000");
        if (c.req.count("Last-Event-ID") > 1)
            return refuse(c, status::bad_request, "Last-Event-ID is given twice");
        // Last-Event-ID wins over ?since=: an EventSource whose URL carries since= sends the
        // header on reconnect, and it is the newer position.
        if (auto h = c.req.find("Last-Event-ID"); h != c.req.end() && !h->value().empty()) {
            since = text::parse_u64(h->value());
            if (!since)
                return refuse(c, status::bad_request,
                              "Last-Event-ID must be a non-negative integer");
        }
        start.since = since;
        start.history = history ? *history : cfg_.history;
        if (const std::string* p = http_util::find(*q, "presence")) {
            if (*p != "0" && *p != "1")
                return refuse(c, status::bad_request, "presence must be 0 or 1");
            start.presence = *p == "1";
        }
    }
    if (c.s->pipelined()) {
        // A request behind an endless response could never be answered.
        Response res =
            error(status::bad_request, "a request was pipelined behind an event stream request");
        res.keep_alive(false);
        return send(c, std::move(res), false);
    }
    if (c.head) {
        // The head the stream would have, and no stream.
        Response res{status::ok, c.req.version()};
        res.set(bhttp::field::content_type, "text/event-stream");
        res.set(bhttp::field::cache_control, "no-cache");
        res.keep_alive(c.req.keep_alive());
        grant_origin(res, origin_of(c.req));
        return send(c, std::move(res), true);
    }
    limits::Ticket ticket;
    if (streams_.admit(user, ticket) != limits::Counter::Admit::Ok) {
        metrics().too_many_streams.fetch_add(1, std::memory_order_relaxed);
        return refuse(c, status::too_many_requests,
                      "too many open streams for this user (limit " +
                          std::to_string(cfg_.max_streams_per_user) + ")");
    }
    auto r = open_room(c, room);
    if (!r) return;
    bool plain = c.req.version() >= 11 && c.req.keep_alive();
    start.head = any_origin_ && plain ? nullptr : stream_head(c.req);
    start.tickets = {std::move(ticket), c.s->ticket()};
    record(c.req.method_string(), c.route, 200, {}, c.start, c.user);
    current_shard(c.s).subscribe(c.s->release(), std::move(r), std::move(user), start);
}

std::shared_ptr<chat::Room> Api::open_room(Ctx& c, const std::string& room) {
    try {
        if (auto r = hub_.room(room)) return r;
        reply(c, error(status::service_unavailable,
                       "every room this server can hold is in use, retry later"));
    } catch (const store::StoreError&) {
        reply(c, error(status::service_unavailable, "the store is unavailable, retry later"));
    }
    return nullptr;
}

void Api::publish(Ctx& c, const std::string& room, std::string user, std::string text, bool seed) {
    // The limit first: a refused publish must not load (or create) its room.
    if (!rate_ok(c, user)) return;
    auto r = open_room(c, room);
    if (!r) return;
    unsigned version = c.req.version();
    bool keep = c.req.keep_alive();
    auto s = c.s;
    auto ex = s->executor();
    auto origin = origin_of(c.req);
    std::string method(c.req.method_string());
    hub_.publish(std::move(r), std::move(user), std::move(text),
                 [this, s, ex, version, keep, seed, origin, method, route = c.route,
                  start = c.start](chat::PublishOutcome o, const model::Message& msg) {
                     Response res = o != chat::PublishOutcome::Ok
                                        ? error(status::service_unavailable,
                                                o == chat::PublishOutcome::Overloaded
                                                    ? "server is overloaded, retry later"
                                                    : "message could not be stored")
                                    : seed ? make(status::ok, kSeedOk)
                                           : make(status::created, model::native_json(msg));
                     res.version(version);
                     res.keep_alive(keep && !draining_);
                     grant_origin(res, origin);
                     record(method, route, res.result_int(), res.body(), start, msg.user_id);
                     boost::asio::post(
                         ex, [s, res = std::move(res)]() mutable { s->respond(std::move(res)); });
                 });
}

void Api::seed_stream(Ctx& c) {
    if (!room_allowed(c, "general")) return;
    auto u = user(c, "guest", false);
    if (!u) return;
    stream(c, "general", std::move(*u), true);
}

void Api::seed_publish(Ctx& c) {
    if (!room_allowed(c, "general")) return;
    auto u = user(c, nullptr, true);
    if (!u) return;
    auto body = http_util::decode_message(c.req[bhttp::field::content_type], c.req.body(),
                                          cfg_.max_message);
    if (body.status == 413) {
        metrics().publish_rejected.fetch_add(1, std::memory_order_relaxed);
        return reply(c, error(status::payload_too_large, body.error));
    }
    if (body.status != 200) {
        // The seed's one answer for every bad publish, kept byte for byte.
        metrics().publish_rejected.fetch_add(1, std::memory_order_relaxed);
        return reply(c, make(status::bad_request, kSeedBad));
    }
    publish(c, "general", std::move(*u), std::move(body.message), true);
}

void Api::room_route(Ctx& c, std::string_view rest) {
    auto slash = rest.find('/');
    std::string_view name = rest.substr(0, slash);
    std::string_view sub = slash == std::string_view::npos ? "" : rest.substr(slash);
    if (!text::valid_room(name))
        return refuse(c, status::bad_request,
                      "room names are 1 to 64 of A-Z a-z 0-9 _ . - (not . or ..)");
    std::string room(name);
    if (!room_allowed(c, room)) return;
    auto m = c.req.method();
    if (c.head) m = bhttp::verb::get;
    c.route = sub == "/events"     ? kRouteRoomEvents
              : sub == "/messages" ? kRouteRoomMessages
              : sub == "/presence" ? kRouteRoomPresence
                                   : kRouteUnmatched;
    if (sub == "/events") {
        if (m != bhttp::verb::get) return wrong_method(c, "GET, HEAD");
        return native_stream(c, room);
    }
    if (sub == "/messages") {
        if (m == bhttp::verb::post) return native_publish(c, room);
        if (m == bhttp::verb::get) return history(c, room);
        return wrong_method(c, "GET, HEAD, POST");
    }
    if (sub == "/presence") {
        if (m != bhttp::verb::get) return wrong_method(c, "GET, HEAD");
        return presence(c, room);
    }
    refuse(c, status::not_found, "no such route: " + std::string(c.path));
}

void Api::native_stream(Ctx& c, const std::string& room) {
    auto u = user(c, "guest", false);
    if (!u) return;
    stream(c, room, std::move(*u), false);
}

void Api::native_publish(Ctx& c, const std::string& room) {
    auto u = user(c, nullptr, false);
    if (!u) return;
    auto body = http_util::decode_message(c.req[bhttp::field::content_type], c.req.body(),
                                          cfg_.max_message);
    if (body.status != 200) {
        metrics().publish_rejected.fetch_add(1, std::memory_order_relaxed);
        return refuse(c, static_cast<status>(body.status), body.error);
    }
    publish(c, room, std::move(*u), std::move(body.message), false);
}

void Api::history(Ctx& c, const std::string& room) {
    const auto& q = c.query;
    if (!q) return refuse(c, status::bad_request, "malformed query string");
    std::optional<uint64_t> before, after, limit;
    if (!number_param(*q, "before", before))
        return refuse(c, status::bad_request, "before must be a non-negative integer");
    if (!number_param(*q, "after", after))
        return refuse(c, status::bad_request, "after must be a non-negative integer");
    if (!number_param(*q, "limit", limit) || (limit && (*limit < 1 || *limit > 500)))
        return refuse(c, status::bad_request, "limit must be an integer from 1 to 500");
    size_t n = limit ? *limit : 50;
    uint64_t hi = before ? *before : UINT64_MAX;
    std::vector<model::Message> msgs;
    bool has_more = false;
    try {
        if (after) {
            msgs = hub_.store().range(room, *after, hi, n + 1, false);
            has_more = msgs.size() > n;
            if (has_more) msgs.pop_back();
        } else {
            msgs = hub_.store().range(room, 0, hi, n + 1, true);
            has_more = msgs.size() > n;
            if (has_more) msgs.erase(msgs.begin());
        }
    } catch (const store::StoreError&) {
        return reply(c, error(status::service_unavailable, "store read failed"));
    }
    std::string body = "{\"messages\":[";
    for (size_t i = 0; i < msgs.size(); ++i) {
        if (i) body += ',';
        body += model::native_json(msgs[i]);
    }
    body += "],\"has_more\":";
    body += has_more ? "true}" : "false}";
    reply(c, make(status::ok, std::move(body)));
}

void Api::presence(Ctx& c, const std::string& room) {
    boost::json::object o;
    o["room"] = room;
    boost::json::array users;
    try {
        for (auto& u : hub_.online(room)) users.emplace_back(u);
    } catch (const store::StoreError&) {
        return reply(c, error(status::service_unavailable, "the store is unavailable"));
    }
    o["count"] = users.size();
    o["online"] = std::move(users);
    reply(c, make(status::ok, boost::json::serialize(o)));
}

void Api::list_rooms(Ctx& c) {
    // Paged by name: a page costs the same however many rooms there are.
    const auto& q = c.query;
    if (!q) return refuse(c, status::bad_request, "malformed query string");
    std::optional<uint64_t> limit;
    if (!number_param(*q, "limit", limit) || (limit && (*limit < 1 || *limit > 1000)))
        return refuse(c, status::bad_request, "limit must be an integer from 1 to 1000");
    size_t n = limit ? *limit : 100;
    std::string after;
    if (const std::string* cur = http_util::find(*q, "cursor")) {
        if (!text::valid_room(*cur))
            return refuse(c, status::bad_request, "cursor must be the next value of a page");
        after = *cur;
    }
    boost::json::object out;
    boost::json::array rooms;
    try {
        auto page = hub_.rooms(after, n + 1);
        bool more = page.size() > n;
        if (more) page.pop_back();
        std::vector<std::string> names;
        for (const auto& r : page)
            if (!c.identity || c.identity->may_use(r.name)) names.push_back(r.name);
        auto online = hub_.online_counts(names);
        size_t i = 0;
        for (const auto& r : page) {
            if (c.identity && !c.identity->may_use(r.name)) continue;
            boost::json::object o;
            o["name"] = r.name;
            o["last_id"] = r.last_id;
            o["online"] = online[i++];
            rooms.push_back(std::move(o));
        }
        out["rooms"] = std::move(rooms);
        // The cursor is the last name of the page, whether or not the token shows it.
        if (more)
            out["next"] = page.back().name;
        else
            out["next"] = nullptr;
    } catch (const store::StoreError&) {
        return reply(c, error(status::service_unavailable, "the store is unavailable"));
    }
    reply(c, make(status::ok, boost::json::serialize(out)));
}

}  // namespace ssechat::http
