// Route handlers. The seed API keeps its exact bodies; the native API says what was wrong.
#include "http/api.hpp"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "chat/hub.hpp"
#include "chat/metrics.hpp"
#include "chat/shard.hpp"
#include "http/request.hpp"
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
    res.set(bhttp::field::access_control_allow_origin, "*");
    res.set(bhttp::field::cache_control, "no-store");
    res.body() = std::move(body);
    return res;
}

Response with_request(Response res, const Request& req) {
    res.version(req.version());
    res.keep_alive(req.keep_alive());
    return res;
}

// The user named by ?id=, validated; `fallback` when absent (nullptr: required).
struct User {
    std::string id;
    std::string error;  // set when the id is missing or unusable
};
User user_of(const http_util::Query& q, const char* fallback, size_t max_bytes) {
    const std::string* id = http_util::find(q, "id");
    if (!id || id->empty()) {
        if (fallback) return {fallback, {}};
        return {{}, "missing ?id= (the user id)"};
    }
    if (id->size() > max_bytes)
        return {{}, "user id is longer than " + std::to_string(max_bytes) + " bytes"};
    if (!text::valid_utf8(*id)) return {{}, "user id is not valid UTF-8"};
    for (unsigned char c : *id)
        if (c < 0x20 || c == 0x7F) return {{}, "user id contains a control character"};
    return {*id, {}};
}

// An optional non-negative integer parameter; false when present but not a number.
bool number_param(const http_util::Query& q, const char* name, std::optional<uint64_t>& out) {
    const std::string* v = http_util::find(q, name);
    if (!v) return true;
    out = text::parse_u64(*v);
    return out.has_value();
}

}  // namespace

Api::Api(const Config& cfg, chat::Hub& hub, std::vector<chat::Shard*> shards)
    : cfg_(cfg), hub_(hub), shards_(std::move(shards)) {}

Response Api::error(status st, const std::string& why) const {
    boost::json::object o;
    o["status"] = static_cast<int>(st);
    o["error"] = why;
    return make(st, boost::json::serialize(o));
}

chat::Shard& Api::current_shard(const std::shared_ptr<Session>& s) {
    auto& ctx = s->executor().context();
    for (auto* sh : shards_)
        if (&sh->ioc() == &ctx) return *sh;
    return *shards_.front();
}

void Api::handle(Request&& req, const std::shared_ptr<Session>& s) {
    auto [path, query] = http_util::split_target(req.target());
    auto method = req.method();

    auto reply = [&](Response res) { s->respond(with_request(std::move(res), req)); };
    auto fail = [&](status st, const std::string& why) {
        metrics().bad_requests.fetch_add(1, std::memory_order_relaxed);
        reply(error(st, why));
    };

    if (method == bhttp::verb::options) {
        // The cors package's defaults: any origin, the usual methods, echo requested headers.
        Response res{status::no_content, req.version()};
        res.set(bhttp::field::access_control_allow_origin, "*");
        res.set(bhttp::field::access_control_allow_methods, "GET,HEAD,PUT,PATCH,POST,DELETE");
        if (auto h = req.find(bhttp::field::access_control_request_headers); h != req.end()) {
            res.set(bhttp::field::access_control_allow_headers, h->value());
            res.set(bhttp::field::vary, "Access-Control-Request-Headers");
        }
        res.keep_alive(req.keep_alive());
        return s->respond(std::move(res));
    }

    if (path == "/messages") {
        if (method != bhttp::verb::get) return fail(status::method_not_allowed, "use GET");
        return seed_stream(req, s);
    }
    if (path == "/message") {
        if (method != bhttp::verb::post) return fail(status::method_not_allowed, "use POST");
        return seed_publish(req, s);
    }
    if (path == "/rooms") {
        if (method != bhttp::verb::get) return fail(status::method_not_allowed, "use GET");
        return list_rooms(req, s);
    }
    if (path.rfind("/rooms/", 0) == 0) return room_route(req, s, path.substr(7));
    if (path == "/healthz") {
        bool ok = hub_.store().writable();
        return reply(ok ? make(status::ok, R"({"status":"ok"})")
                        : error(status::service_unavailable, "store is not writable"));
    }
    if (path == "/metrics") {
        return reply(make(status::ok, metrics().render(), "text/plain; version=0.0.4"));
    }
    fail(status::not_found, "no such route: " + std::string(path));
}

void Api::seed_stream(Request& req, const std::shared_ptr<Session>& s) {
    auto [path, query] = http_util::split_target(req.target());
    auto q = http_util::parse_query(query);
    User u = q ? user_of(*q, "guest", cfg_.max_user) : User{{}, "malformed query string"};
    if (!u.error.empty()) {
        metrics().bad_requests.fetch_add(1, std::memory_order_relaxed);
        return s->respond(with_request(error(status::bad_request, u.error), req));
    }
    auto room = hub_.room("general");
    auto& shard = current_shard(s);
    chat::StreamStart start;
    start.legacy = true;
    shard.subscribe(s->release(), std::move(room), std::move(u.id), start);
}

void Api::seed_publish(Request& req, const std::shared_ptr<Session>& s) {
    auto [path, query] = http_util::split_target(req.target());
    auto q = http_util::parse_query(query);
    auto bad = [&] {
        metrics().publish_rejected.fetch_add(1, std::memory_order_relaxed);
        s->respond(with_request(make(status::bad_request, kSeedBad), req));
    };
    if (!q) return bad();
    User u = user_of(*q, nullptr, cfg_.max_user);
    if (!u.error.empty()) return bad();
    auto body = http_util::decode_message(req[bhttp::field::content_type], req.body(),
                                          cfg_.max_message);
    if (body.status == 413) {
        metrics().publish_rejected.fetch_add(1, std::memory_order_relaxed);
        return s->respond(with_request(error(status::payload_too_large, body.error), req));
    }
    if (body.status != 200) return bad();
    unsigned version = req.version();
    bool keep = req.keep_alive();
    auto ex = s->executor();
    hub_.publish(hub_.room("general"), std::move(u.id), std::move(body.message),
                 [this, s, ex, version, keep](chat::PublishOutcome o, const chat::Message&) {
                     Response res = o == chat::PublishOutcome::Ok
                                        ? make(status::ok, kSeedOk)
                                        : error(status::service_unavailable,
                                                o == chat::PublishOutcome::Overloaded
                                                    ? "server is overloaded, retry later"
                                                    : "message could not be stored");
                     res.version(version);
                     res.keep_alive(keep);
                     boost::asio::post(ex, [s, res = std::move(res)]() mutable {
                         s->respond(std::move(res));
                     });
                 });
}

void Api::room_route(Request& req, const std::shared_ptr<Session>& s, std::string_view rest) {
    auto slash = rest.find('/');
    std::string_view name = rest.substr(0, slash);
    std::string_view sub = slash == std::string_view::npos ? "" : rest.substr(slash);
    auto fail = [&](status st, const std::string& why) {
        metrics().bad_requests.fetch_add(1, std::memory_order_relaxed);
        s->respond(with_request(error(st, why), req));
    };
    if (!text::valid_room(name))
        return fail(status::bad_request,
                    "room names are 1 to 64 of A-Z a-z 0-9 _ . - (not . or ..)");
    std::string room(name);
    auto m = req.method();
    if (sub == "/events") {
        if (m != bhttp::verb::get) return fail(status::method_not_allowed, "use GET");
        return native_stream(req, s, room);
    }
    if (sub == "/messages") {
        if (m == bhttp::verb::post) return native_publish(req, s, room);
        if (m == bhttp::verb::get) return history(req, s, room);
        return fail(status::method_not_allowed, "use GET or POST");
    }
    if (sub == "/presence") {
        if (m != bhttp::verb::get) return fail(status::method_not_allowed, "use GET");
        return presence(req, s, room);
    }
    fail(status::not_found, "no such route: " + std::string(req.target()));
}

void Api::native_stream(Request& req, const std::shared_ptr<Session>& s, const std::string& room) {
    auto [path, query] = http_util::split_target(req.target());
    auto fail = [&](const std::string& why) {
        metrics().bad_requests.fetch_add(1, std::memory_order_relaxed);
        s->respond(with_request(error(status::bad_request, why), req));
    };
    auto q = http_util::parse_query(query);
    if (!q) return fail("malformed query string");
    User u = user_of(*q, "guest", cfg_.max_user);
    if (!u.error.empty()) return fail(u.error);
    chat::StreamStart start;
    std::optional<uint64_t> since, history;
    if (!number_param(*q, "since", since)) return fail("since must be a non-negative integer");
    if (!number_param(*q, "history", history) || (history && *history > 1000))
        return fail("history must be an integer from 0 to 1000");
    if (auto h = req.find("Last-Event-ID"); h != req.end() && !h->value().empty()) {
        since = text::parse_u64(h->value());
        if (!since) return fail("Last-Event-ID must be a non-negative integer");
    }
    start.since = since;
    start.history = history ? *history : cfg_.history;
    current_shard(s).subscribe(s->release(), hub_.room(room), std::move(u.id), start);
}

void Api::native_publish(Request& req, const std::shared_ptr<Session>& s, const std::string& room) {
    auto [path, query] = http_util::split_target(req.target());
    auto refuse = [&](status st, const std::string& why) {
        metrics().publish_rejected.fetch_add(1, std::memory_order_relaxed);
        s->respond(with_request(error(st, why), req));
    };
    auto q = http_util::parse_query(query);
    if (!q) return refuse(status::bad_request, "malformed query string");
    User u = user_of(*q, nullptr, cfg_.max_user);
    if (!u.error.empty()) return refuse(status::bad_request, u.error);
    auto body = http_util::decode_message(req[bhttp::field::content_type], req.body(),
                                          cfg_.max_message);
    if (body.status != 200) return refuse(static_cast<status>(body.status), body.error);
    unsigned version = req.version();
    bool keep = req.keep_alive();
    auto ex = s->executor();
    hub_.publish(hub_.room(room), std::move(u.id), std::move(body.message),
                 [this, s, ex, version, keep](chat::PublishOutcome o, const chat::Message& msg) {
                     Response res = o == chat::PublishOutcome::Ok
                                        ? make(status::created, chat::native_json(msg))
                                        : error(status::service_unavailable,
                                                o == chat::PublishOutcome::Overloaded
                                                    ? "server is overloaded, retry later"
                                                    : "message could not be stored");
                     res.version(version);
                     res.keep_alive(keep);
                     boost::asio::post(ex, [s, res = std::move(res)]() mutable {
                         s->respond(std::move(res));
                     });
                 });
}

void Api::history(Request& req, const std::shared_ptr<Session>& s, const std::string& room) {
    auto [path, query] = http_util::split_target(req.target());
    auto fail = [&](const std::string& why) {
        metrics().bad_requests.fetch_add(1, std::memory_order_relaxed);
        s->respond(with_request(error(status::bad_request, why), req));
    };
    auto q = http_util::parse_query(query);
    if (!q) return fail("malformed query string");
    std::optional<uint64_t> before, after, limit;
    if (!number_param(*q, "before", before)) return fail("before must be a non-negative integer");
    if (!number_param(*q, "after", after)) return fail("after must be a non-negative integer");
    if (!number_param(*q, "limit", limit) || (limit && (*limit < 1 || *limit > 500)))
        return fail("limit must be an integer from 1 to 500");
    size_t n = limit ? *limit : 50;
    uint64_t hi = before ? *before : UINT64_MAX;
    std::vector<chat::Message> msgs;
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
    } catch (const store::StoreError& e) {
        return s->respond(with_request(error(status::service_unavailable, "store read failed"), req));
    }
    std::string body = "{\"messages\":[";
    for (size_t i = 0; i < msgs.size(); ++i) {
        if (i) body += ',';
        body += chat::native_json(msgs[i]);
    }
    body += "],\"has_more\":";
    body += has_more ? "true}" : "false}";
    s->respond(with_request(make(status::ok, std::move(body)), req));
}

void Api::presence(Request& req, const std::shared_ptr<Session>& s, const std::string& room) {
    boost::json::object o;
    o["room"] = room;
    boost::json::array users;
    if (auto r = hub_.find(room))
        for (auto& u : r->online()) users.emplace_back(u);
    o["count"] = users.size();
    o["online"] = std::move(users);
    s->respond(with_request(make(status::ok, boost::json::serialize(o)), req));
}

void Api::list_rooms(Request& req, const std::shared_ptr<Session>& s) {
    boost::json::array rooms;
    for (const auto& [name, last] : hub_.rooms()) {
        boost::json::object o;
        o["name"] = name;
        o["last_id"] = last;
        auto r = hub_.find(name);
        o["online"] = r ? r->online_count() : 0;
        rooms.push_back(std::move(o));
    }
    boost::json::object out;
    out["rooms"] = std::move(rooms);
    s->respond(with_request(make(status::ok, boost::json::serialize(out)), req));
}

}  // namespace ssechat::http
