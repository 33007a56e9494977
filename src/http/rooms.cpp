// Rooms: the paged list, presence, and event streams (native and seed) with their heads.
#include "chat/hub.hpp"
#include "chat/metrics.hpp"
#include "chat/shard.hpp"
#include "http/api.hpp"
#include "http/api_detail.hpp"
#include "http/http_metrics.hpp"
#include "util/strict_json.hpp"

namespace ssechat::http {

using namespace detail;

void Api::list_rooms(Ctx& c) {
    // Paged by name: a page costs the same however many rooms there are.
    const auto& q = c.query;
    size_t n = 0;
    if (!page_limit(c, n)) return;
    std::string after;
    if (const std::string* cur = http_util::find(*q, "cursor")) {
        if (!text::valid_room(*cur))
            return refuse(c, status::bad_request, "cursor must be the next value of a page");
        after = *cur;
    }
    boost::json::object out;
    boost::json::array rooms;
    try {
        // A narrow token pages through its own list, so that neither the page nor its cursor
        // ever names a room it does not cover.
        const model::RoomScope sc = scope(c);
        // An API key with the rooms scope (or admin) lists private rooms too.
        const bool every_room = c.identity &&
                                (c.identity->key & (model::kScopeRooms | model::kScopeAdmin)) &&
                                !c.identity->acting_as;
        std::vector<store::RoomMeta> page;
        if (sc.every()) {
            page = hub_.rooms(after, n + 1, every_room);
        } else {
            const auto& names = sc.names();
            for (auto it = std::upper_bound(names.begin(), names.end(), after);
                 it != names.end() && page.size() <= n; ++it)
                if (uint64_t last = hub_.store().last_id(*it); last && hub_.listed(*it, every_room))
                    page.push_back({*it, last});
        }
        bool more = page.size() > n;
        if (more) page.pop_back();
        std::vector<std::string> names;
        for (const auto& r : page) names.push_back(r.name);
        auto online = hub_.online_counts(names);
        for (size_t i = 0; i < page.size(); ++i) {
            boost::json::object o;
            o["name"] = page[i].name;
            o["last_id"] = page[i].last_id;
            o["online"] = online[i];
            rooms.push_back(std::move(o));
        }
        out["rooms"] = std::move(rooms);
        if (more)
            out["next"] = page.back().name;
        else
            out["next"] = nullptr;
    } catch (const store::StoreError&) {
        return reply(c, error(status::service_unavailable, "the store is unavailable"));
    }
    reply(c, make(status::ok, boost::json::serialize(out)));
}

void Api::native_stream(Ctx& c) {
    const std::string& room = c.room;
    auto u = user(c, "guest", false);
    if (!u) return;
    stream(c, room, std::move(*u), false);
}

void Api::presence(Ctx& c) {
    const std::string& room = c.room;
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

void Api::typing(Ctx& c) {
    auto u = user(c, nullptr, false);
    if (!u) return;
    boost::json::error_code ec;
    auto v = boost::json::parse(c.req.body(), ec);
    const boost::json::value* on = nullptr;
    if (!ec && v.is_object() && !ssechat::strict_json::duplicate_keys(c.req.body()))
        on = v.as_object().if_contains("typing");
    if (!on || !on->is_bool())
        return refuse(c, status::bad_request,
                      R"(the body must be {"typing":true} or {"typing":false})");
    // Only starts are limited: a stop is what a sent message or an emptied box says, and one
    // refused would leave "typing…" on every screen (a stop of no typing sends nothing).
    if (on->as_bool() && typings_.take(*u, std::chrono::steady_clock::now()) != 0) {
        Response res = error(status::too_many_requests, "typing notices: too many, slow down");
        res.set(bhttp::field::retry_after, "1");
        return reply(c, std::move(res));
    }
    auto r = open_room(c, c.room);
    if (!r) return;
    hub_.typing(r, *u, on->as_bool());
    Response res{status::no_content, c.req.version()};
    reply(c, std::move(res));
}

sse::Buffer Api::stream_head(const Request& req) {
    // The seed's head says keep-alive; a client that asked to close, or speaks HTTP/1.0 (for
    // which a body without a length ends with the connection), is told the truth.
    bool keep = req.version() >= 11 && req.keep_alive();
    std::string head = req.version() >= 11 ? "HTTP/1.1" : "HTTP/1.0";
    head.append(" 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n");
    head.append(keep ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
    head.append("X-Accel-Buffering: no\r\n");
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
    start.view = seed;
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
    limits::Ticket ticket;
    if (!stream_admitted(c, user, ticket)) return;
    auto r = open_room(c, room);
    if (!r) return;
    bool plain = c.req.version() >= 11 && c.req.keep_alive();
    start.head = any_origin_ && plain ? shared_head_ : stream_head(c.req);
    start.tickets = {std::move(ticket), c.s->ticket(), c.credential};
    record(c.req.method_string(), c.route, 200, {}, c.start, c.user);
    current_shard(c.s).subscribe(c.s->release(), std::move(r), std::move(user), start);
}

bool Api::stream_admitted(Ctx& c, const std::string& user, limits::Ticket& ticket) {
    if (c.s->pipelined()) {
        // A request behind an endless response could never be answered.
        Response res =
            error(status::bad_request, "a request was pipelined behind an event stream request");
        res.keep_alive(false);
        send(c, std::move(res), false);
        return false;
    }
    if (c.head) {
        // The head the stream would have, and no stream.
        Response res{status::ok, c.req.version()};
        res.set(bhttp::field::content_type, "text/event-stream");
        res.set(bhttp::field::cache_control, "no-cache");
        res.keep_alive(c.req.keep_alive());
        grant_origin(res, origin_of(c.req));
        send(c, std::move(res), true);
        return false;
    }
    if (streams_.admit(user, ticket) != limits::Counter::Admit::Ok) {
        http_metrics().too_many_streams.fetch_add(1, std::memory_order_relaxed);
        refuse(c, status::too_many_requests,
               "too many open streams for this user (limit " +
                   std::to_string(cfg_.max_streams_per_user) + ")");
        return false;
    }
    return true;
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

}  // namespace ssechat::http
