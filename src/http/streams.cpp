// Every request that becomes an event stream: a room's and a user's. A user's streams are
// served by one loop, their home, which keeps one record of the user's rooms for all of them.
#include "http/streams.hpp"

#include <unistd.h>

#include <boost/asio/post.hpp>

#include "chat/hub.hpp"
#include "chat/metrics.hpp"
#include "chat/shard.hpp"
#include "http/api.hpp"
#include "http/api_detail.hpp"
#include "http/http_metrics.hpp"

namespace ssechat::http {

using namespace detail;
namespace bhttp = beast::http;
using bhttp::status;

Streams::Streams(Api& api) : api_(api), streams_(0, api.config().max_streams_per_user) {
    Request kept;  // HTTP/1.1, kept alive
    shared_head_ = make_head(kept);
}

void Streams::native_stream(Ctx& c) {
    const std::string& room = c.room;
    auto u = api_.user(c, "guest", false);
    if (!u) return;
    room_stream(c, room, std::move(*u), false);
}

void Streams::user_stream(Ctx& c) {
    auto u = api_.user(c, nullptr, false);
    if (!u) return;
    if (c.req.count("Last-Event-ID") > 1)
        return api_.refuse(c, status::bad_request, "Last-Event-ID is given twice");
    // Any cursor is taken: one the server cannot read starts over with a reset, never an
    // error page, so that an EventSource is never stuck on a bad id.
    std::optional<std::string> cursor;
    if (auto h = c.req.find("Last-Event-ID"); h != c.req.end() && !h->value().empty())
        cursor = std::string(h->value());
    limits::Ticket ticket;
    if (!admitted(c, *u, ticket)) return;
    sse::Buffer head = this->head(c.req);
    api_.record(c.req.method_string(), c.route, 200, {}, c.start, c.user);
    // Every plain user stream of a user is served by one loop, their home: it keeps one record
    // of the user's rooms for all of them. A TLS or HTTP/2 connection cannot change loops (its
    // state lives on this one), so it stays; rooms count a user online once either way.
    chat::Shard& here = api_.current_shard(c.s);
    chat::Shard* home = api_.shards()[std::hash<std::string>{}(*u) % api_.shards().size()];
    chat::Slots tickets{std::move(ticket), c.s->ticket(), c.credential};
    auto conn = c.s->release();
    if (home == &here || !conn.movable())
        return here.subscribe_user(std::move(conn), std::move(*u), api_.scope(c), std::move(cursor),
                                   std::move(head), std::move(tickets));
    boost::system::error_code ec;
    auto protocol = conn.sock.local_endpoint(ec).protocol();
    int fd = ec ? -1 : conn.sock.release(ec);
    if (ec || fd < 0) return;  // the client is gone already
    boost::asio::post(home->ioc(), [home, fd, protocol, user = std::move(*u), sc = api_.scope(c),
                                    cursor = std::move(cursor), head = std::move(head),
                                    tickets = std::move(tickets)]() mutable {
        sse::Conn moved(boost::asio::ip::tcp::socket(home->ioc()));
        boost::system::error_code e;
        moved.sock.assign(protocol, fd, e);
        if (e) {
            ::close(fd);
            return;
        }
        home->subscribe_user(std::move(moved), std::move(user), std::move(sc), std::move(cursor),
                             std::move(head), std::move(tickets));
    });
}

sse::Buffer Streams::head(const Request& req) {
    bool plain = req.version() >= 11 && req.keep_alive();
    return api_.any_origin() && plain ? shared_head_ : make_head(req);
}

sse::Buffer Streams::make_head(const Request& req) const {
    // The seed's head says keep-alive; a client that asked to close, or speaks HTTP/1.0 (for
    // which a body without a length ends with the connection), is told the truth.
    bool keep = req.version() >= 11 && req.keep_alive();
    std::string head = req.version() >= 11 ? "HTTP/1.1" : "HTTP/1.0";
    head.append(" 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n");
    head.append(keep ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
    head.append("X-Accel-Buffering: no\r\n");
    if (api_.any_origin()) {
        head += "Access-Control-Allow-Origin: *\r\n";
    } else if (auto o = req.find(bhttp::field::origin); o != req.end()) {
        if (std::find(api_.config().cors_origins.begin(), api_.config().cors_origins.end(),
                      o->value()) != api_.config().cors_origins.end())
            head += "Access-Control-Allow-Origin: " + std::string(o->value()) + "\r\n";
        head += "Vary: Origin\r\n";
    }
    return std::make_shared<const std::string>(head + "\r\n");
}

void Streams::room_stream(Ctx& c, const std::string& room, std::string user, bool seed) {
    const auto& q = c.query;
    if (!q) return api_.refuse(c, status::bad_request, "malformed query string");
    chat::StreamStart start;
    start.view = seed;
    if (!seed) {
        std::optional<uint64_t> since, history;
        if (!number_param(*q, "since", since))
            return api_.refuse(c, status::bad_request, "since must be a non-negative integer");
        if (!number_param(*q, "history", history) || (history && *history > 1000))
            return api_.refuse(c, status::bad_request, "history must be an integer from 0 to 1000");
        if (c.req.count("Last-Event-ID") > 1)
            return api_.refuse(c, status::bad_request, "Last-Event-ID is given twice");
        // Last-Event-ID wins over ?since=: an EventSource whose URL carries since= sends the
        // header on reconnect, and it is the newer position.
        if (auto h = c.req.find("Last-Event-ID"); h != c.req.end() && !h->value().empty()) {
            since = text::parse_u64(h->value());
            if (!since)
                return api_.refuse(c, status::bad_request,
                                   "Last-Event-ID must be a non-negative integer");
        }
        start.since = since;
        start.history = history ? *history : api_.config().history;
        if (const std::string* p = http_util::find(*q, "presence")) {
            if (*p != "0" && *p != "1")
                return api_.refuse(c, status::bad_request, "presence must be 0 or 1");
            start.presence = *p == "1";
        }
    }
    limits::Ticket ticket;
    if (!admitted(c, user, ticket)) return;
    auto r = api_.open_room(c, room);
    if (!r) return;
    start.head = head(c.req);
    start.tickets = {std::move(ticket), c.s->ticket(), c.credential};
    api_.record(c.req.method_string(), c.route, 200, {}, c.start, c.user);
    api_.current_shard(c.s).subscribe(c.s->release(), std::move(r), std::move(user), start);
}

bool Streams::admitted(Ctx& c, const std::string& user, limits::Ticket& ticket) {
    if (c.s->pipelined()) {
        // A request behind an endless response could never be answered.
        Response res = api_.error(status::bad_request,
                                  "a request was pipelined behind an event stream request");
        res.keep_alive(false);
        api_.send(c, std::move(res), false);
        return false;
    }
    if (c.head) {
        // The head the stream would have, and no stream.
        Response res{status::ok, c.req.version()};
        res.set(bhttp::field::content_type, "text/event-stream");
        res.set(bhttp::field::cache_control, "no-cache");
        res.keep_alive(c.req.keep_alive());
        api_.grant_origin(res, api_.origin_of(c.req));
        api_.send(c, std::move(res), true);
        return false;
    }
    if (streams_.admit(user, ticket) != limits::Counter::Admit::Ok) {
        http_metrics().too_many_streams.fetch_add(1, std::memory_order_relaxed);
        api_.refuse(c, status::too_many_requests,
                    "too many open streams for this user (limit " +
                        std::to_string(api_.config().max_streams_per_user) + ")");
        return false;
    }
    return true;
}

}  // namespace ssechat::http
