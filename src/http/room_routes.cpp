// Rooms: the paged list, presence, and event streams (native and seed) with their heads.
#include "http/room_routes.hpp"

#include "chat/hub.hpp"
#include "chat/metrics.hpp"
#include "chat/shard.hpp"
#include "http/api.hpp"
#include "http/api_detail.hpp"
#include "http/http_metrics.hpp"
#include "util/strict_json.hpp"

namespace ssechat::http {

using namespace detail;

RoomRoutes::RoomRoutes(Api& api)
    : api_(api), typings_(api.config().typing_rate, api.config().typing_burst) {}

void RoomRoutes::list_rooms(Ctx& c) {
    // Paged by name: a page costs the same however many rooms there are.
    const auto& q = c.query;
    size_t n = 0;
    if (!api_.page_limit(c, n)) return;
    std::string after;
    if (const std::string* cur = http_util::find(*q, "cursor")) {
        if (!text::valid_room(*cur))
            return api_.refuse(c, status::bad_request, "cursor must be the next value of a page");
        after = *cur;
    }
    boost::json::object out;
    boost::json::array rooms;
    try {
        // A narrow token pages through its own list, so that neither the page nor its cursor
        // ever names a room it does not cover.
        const model::RoomScope sc = api_.scope(c);
        // An API key with the rooms scope (or admin) lists private rooms too.
        const bool every_room = c.identity &&
                                (c.identity->key & (model::kScopeRooms | model::kScopeAdmin)) &&
                                !c.identity->acting_as;
        std::vector<store::RoomMeta> page;
        if (sc.every()) {
            page = api_.hub().rooms(after, n + 1, every_room);
        } else {
            const auto& names = sc.names();
            for (auto it = std::upper_bound(names.begin(), names.end(), after);
                 it != names.end() && page.size() <= n; ++it)
                if (uint64_t last = api_.hub().store().last_id(*it);
                    last && api_.hub().listed(*it, every_room))
                    page.push_back({*it, last});
        }
        bool more = page.size() > n;
        if (more) page.pop_back();
        std::vector<std::string> names;
        for (const auto& r : page) names.push_back(r.name);
        auto online = api_.hub().online_counts(names);
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
        return api_.reply(c, api_.error(status::service_unavailable, "the store is unavailable"));
    }
    api_.reply(c, make(status::ok, boost::json::serialize(out)));
}

void RoomRoutes::presence(Ctx& c) {
    const std::string& room = c.room;
    boost::json::object o;
    o["room"] = room;
    boost::json::array users;
    try {
        for (auto& u : api_.hub().online(room)) users.emplace_back(u);
    } catch (const store::StoreError&) {
        return api_.reply(c, api_.error(status::service_unavailable, "the store is unavailable"));
    }
    o["count"] = users.size();
    o["online"] = std::move(users);
    api_.reply(c, make(status::ok, boost::json::serialize(o)));
}

void RoomRoutes::typing(Ctx& c) {
    auto u = api_.user(c, nullptr, false);
    if (!u) return;
    boost::json::error_code ec;
    auto v = boost::json::parse(c.req.body(), ec);
    const boost::json::value* on = nullptr;
    if (!ec && v.is_object() && !ssechat::strict_json::duplicate_keys(c.req.body()))
        on = v.as_object().if_contains("typing");
    if (!on || !on->is_bool())
        return api_.refuse(c, status::bad_request,
                           R"(the body must be {"typing":true} or {"typing":false})");
    // Only starts are limited: a stop is what a sent message or an emptied box says, and one
    // refused would leave "typing…" on every screen (a stop of no typing sends nothing).
    if (on->as_bool() && typings_.take(*u, std::chrono::steady_clock::now()) != 0) {
        Response res = api_.error(status::too_many_requests, "typing notices: too many, slow down");
        res.set(bhttp::field::retry_after, "1");
        return api_.reply(c, std::move(res));
    }
    auto r = api_.open_room(c, c.room);
    if (!r) return;
    api_.hub().typing(r, *u, on->as_bool());
    Response res{status::no_content, c.req.version()};
    api_.reply(c, std::move(res));
}

}  // namespace ssechat::http
