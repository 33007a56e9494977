// The user's own resources: the rooms they are in (membership, read markers, summaries), a
// room's receipts, and the user stream that carries all their rooms.
#include <unistd.h>

#include <boost/asio/post.hpp>

#include "chat/hub.hpp"
#include "chat/metrics.hpp"
#include "chat/shard.hpp"
#include "http/api.hpp"
#include "http/api_detail.hpp"
#include "util/strict_json.hpp"

namespace ssechat::http {

using namespace detail;
using Op = store::MemberOp::Op;

void Api::my_rooms(Ctx& c) {
    auto u = user(c, nullptr, false);
    if (!u) return;
    try {
        auto joined = hub_.store().memberships(*u);
        std::erase_if(joined, [sc = scope(c)](const auto& m) { return !sc.covers(m.room); });
        reply(c, make(status::ok, model::rooms_json(hub_.summaries(*u, joined))));
    } catch (const store::StoreError&) {
        reply(c, error(status::service_unavailable, "the store is unavailable, retry later"));
    }
}

void Api::join_room(Ctx& c) {
    member_op(c, Op::Join, 0);
}

void Api::leave_room(Ctx& c) {
    member_op(c, Op::Leave, 0);
}

void Api::mark_read(Ctx& c) {
    boost::json::error_code ec;
    auto v = boost::json::parse(c.req.body(), ec);
    const boost::json::value* id = nullptr;
    if (!ec && v.is_object() && !strict_json::duplicate_keys(c.req.body()))
        id = v.as_object().if_contains("id");
    std::optional<uint64_t> n;
    if (id && id->is_uint64()) n = id->as_uint64();
    if (id && id->is_int64() && id->as_int64() >= 0) n = static_cast<uint64_t>(id->as_int64());
    if (!n) return refuse(c, status::bad_request, R"(the body must be {"id":N}, N a message id)");
    member_op(c, Op::Read, *n);
}

void Api::member_op(Ctx& c, store::MemberOp::Op op, uint64_t id) {
    auto u = user(c, nullptr, false);
    if (!u) return;
    auto r = open_room(c, c.room);
    if (!r) return;
    if (op == Op::Read) {
        uint64_t last = r->delivered();
        // With a shared store this node may not have delivered the newest ids yet: the store
        // has the room's last id.
        if (id > last && hub_.store().cluster()) {
            try {
                last = std::max(last, hub_.store().last_id(c.room));
            } catch (const store::StoreError&) {
                return reply(
                    c, error(status::service_unavailable, "the store is unavailable, retry later"));
            }
        }
        if (id > last)
            return refuse(c, status::bad_request,
                          "id " + std::to_string(id) + " is past the last id of room " + c.room +
                              " (" + std::to_string(last) + ")");
    }
    store::MemberOp m;
    m.op = op;
    m.user = *u;
    m.room = c.room;
    m.id = id;
    m.max_rooms = cfg_.max_rooms_per_user;
    auto s = c.s;
    auto ex = s->executor();
    unsigned version = c.req.version();
    bool keep = c.req.keep_alive();
    auto origin = origin_of(c.req);
    std::string method(c.req.method_string());
    hub_.member(
        std::move(m), std::move(r),
        [this, s, ex, version, keep, origin, method, route = c.route, start = c.start](
            bool ok, const store::MemberOp& done) {
            // The summary reads the store: on the request's loop, not the writer's.
            boost::asio::post(ex, [this, s, version, keep, origin, method, route, start, ok, done] {
                using R = store::MemberOp::Result;
                Response res;
                if (!ok) {
                    res = error(status::service_unavailable,
                                "the change could not be stored, retry later");
                } else if (done.result == R::TooMany) {
                    res = error(status::forbidden, "a user may join at most " +
                                                       std::to_string(cfg_.max_rooms_per_user) +
                                                       " rooms (--max-rooms-per-user)");
                } else if (done.result == R::NotMember) {
                    res = error(status::not_found, "you are not in room " + done.room);
                } else {
                    try {
                        res = make(status::ok, model::summary_json(
                                                   hub_.summary(done.user, done.room, done.read)));
                    } catch (const store::StoreError&) {
                        res = error(status::service_unavailable,
                                    "the store is unavailable, retry later");
                    }
                }
                res.version(version);
                res.keep_alive(keep && !draining_);
                grant_origin(res, origin);
                record(method, route, res.result_int(), res.body(), start, done.user);
                s->respond(std::move(res));
            });
        });
}

void Api::receipts(Ctx& c) {
    boost::json::object o;
    o["room"] = c.room;
    boost::json::object list;
    try {
        for (auto& [u, id] : hub_.store().receipts(c.room)) list[u] = id;
    } catch (const store::StoreError&) {
        return reply(c, error(status::service_unavailable, "the store is unavailable"));
    }
    o["receipts"] = std::move(list);
    reply(c, make(status::ok, boost::json::serialize(o)));
}

void Api::user_stream(Ctx& c) {
    auto u = user(c, nullptr, false);
    if (!u) return;
    if (c.req.count("Last-Event-ID") > 1)
        return refuse(c, status::bad_request, "Last-Event-ID is given twice");
    // Any cursor is taken: one the server cannot read starts over with a reset, never an
    // error page, so that an EventSource is never stuck on a bad id.
    std::optional<std::string> cursor;
    if (auto h = c.req.find("Last-Event-ID"); h != c.req.end() && !h->value().empty())
        cursor = std::string(h->value());
    limits::Ticket ticket;
    if (!stream_admitted(c, *u, ticket)) return;
    bool plain = c.req.version() >= 11 && c.req.keep_alive();
    sse::Buffer head = any_origin_ && plain ? shared_head_ : stream_head(c.req);
    record(c.req.method_string(), c.route, 200, {}, c.start, c.user);
    // Every plain user stream of a user is served by one loop, their home: it keeps one record
    // of the user's rooms for all of them. A TLS or HTTP/2 connection cannot change loops (its
    // state lives on this one), so it stays; rooms count a user online once either way.
    chat::Shard& here = current_shard(c.s);
    chat::Shard* home = shards_[std::hash<std::string>{}(*u) % shards_.size()];
    chat::Slots tickets{std::move(ticket), c.s->ticket()};
    auto conn = c.s->release();
    if (home == &here || !conn.movable())
        return here.subscribe_user(std::move(conn), std::move(*u), scope(c), std::move(cursor),
                                   std::move(head), std::move(tickets));
    boost::system::error_code ec;
    auto protocol = conn.sock.local_endpoint(ec).protocol();
    int fd = ec ? -1 : conn.sock.release(ec);
    if (ec || fd < 0) return;  // the client is gone already
    boost::asio::post(home->ioc(), [home, fd, protocol, user = std::move(*u), sc = scope(c),
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

}  // namespace ssechat::http
