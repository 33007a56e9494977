// Web Push as resources: the server's VAPID key, a user's browser subscriptions, and their
// notification level per room. The sending is push.cpp.
#include "http/push_routes.hpp"

#include <boost/json.hpp>

#include "chat/hub.hpp"
#include "http/api.hpp"
#include "http/api_detail.hpp"
#include "http/push.hpp"
#include "util/strict_json.hpp"

namespace ssechat::http {

using namespace detail;
namespace bhttp = beast::http;
using bhttp::status;

PushRoutes::PushRoutes(Api& api) : api_(api) {
    const Config& cfg = api.config();
    if (auto push = store::open_push(cfg)) {
        engine_ = std::make_unique<PushEngine>(
            api.hub(), std::move(push), OutboundPolicy{cfg.allow_private_targets, cfg.outbound_ca},
            cfg.push_contact);
        // Summaries show each room's level; read on a store connection of the push state's.
        api.hub().set_levels(
            [p = engine_.get()](const std::string& user) { return p->store().levels(user); });
    }
}

PushRoutes::~PushRoutes() = default;

bool PushRoutes::push_on(Ctx& c) {
    if (engine_) return true;
    api_.refuse(c, status::service_unavailable,
                "push notifications are not running on this server");
    return false;
}

void PushRoutes::push_key(Ctx& c) {
    if (!push_on(c)) return;
    auto key = engine_->public_key();
    if (key.empty()) return api_.reply(c, api_.store_down());
    api_.reply(c, make(status::ok, boost::json::serialize(boost::json::object{{"key", key}})));
}

void PushRoutes::put_push(Ctx& c) {
    auto u = api_.user(c, nullptr, false);
    if (!u || !push_on(c)) return;
    if (!c.identity)
        return api_.refuse(c, status::bad_request,
                           "push needs a signed-in user: without tokens anyone can claim any id");
    std::string why;
    auto sub = model::parse_push_subscription(c.req.body(), why);
    if (!sub) return api_.refuse(c, status::bad_request, why);
    if (auto bad = target_problem(sub->endpoint, api_.config().allow_private_targets); !bad.empty())
        return api_.refuse(c, status::bad_request,
                           "the endpoint" + bad.substr(3));  // it says "url"
    sub->user = *u;
    sub->created_at = unix_now_ms();
    // A name is resolved off the loop, and the store written there too.
    auto done = api_.later(c);
    bool queued = api_.work().submit([this, done, s = std::move(*sub)] {
        if (!api_.config().allow_private_targets)
            if (auto bad = resolves_public(s.endpoint); !bad.empty())
                return done(api_.error(status::bad_request, "endpoint: " + bad));
        try {
            engine_->store().subscribe(s);
        } catch (const store::StoreError&) {
            return done(api_.store_down());
        }
        engine_->changed();
        done(make(status::created, boost::json::serialize(boost::json::object{
                                       {"endpoint", s.endpoint}, {"created_at", s.created_at}})));
    });
    if (!queued) api_.reply(c, api_.error(status::service_unavailable, "busy: retry"));
}

void PushRoutes::delete_push(Ctx& c) {
    auto u = api_.user(c, nullptr, false);
    if (!u || !push_on(c)) return;
    auto body = object_body(c.req.body());
    const boost::json::value* endpoint = body ? body->if_contains("endpoint") : nullptr;
    if (!endpoint || !endpoint->is_string())
        return api_.refuse(c, status::bad_request, R"(the body must be {"endpoint":"…"})");
    try {
        if (!engine_->store().unsubscribe(*u, std::string(endpoint->as_string())))
            return api_.refuse(c, status::not_found, "you have no such subscription");
    } catch (const store::StoreError&) {
        return api_.reply(c, api_.store_down());
    }
    engine_->changed();
    api_.reply(c, make(status::no_content, ""));
}

void PushRoutes::put_notify(Ctx& c) {
    auto u = api_.user(c, nullptr, false);
    if (!u || !push_on(c)) return;
    auto body = object_body(c.req.body());
    const boost::json::value* level =
        body && body->size() == 1 ? body->if_contains("level") : nullptr;
    std::optional<model::NotifyLevel> l;
    if (level && level->is_string()) l = model::parse_notify_level(level->as_string());
    if (!l)
        return api_.refuse(
            c, status::bad_request,
            R"(the body must be {"level":"all"}, {"level":"mentions"} or {"level":"none"})");
    // The access check first (a room the caller may not read is 404, as missing), then
    // membership: levels are for the rooms the user is in.
    auto r = api_.open_room(c, c.room);
    if (!r) return;
    try {
        std::optional<store::Membership> mine;
        for (auto& m : api_.hub().store().memberships(*u))
            if (m.room == c.room) mine = std::move(m);
        if (!mine) return api_.refuse(c, status::not_found, "you are not in room " + c.room);
        engine_->store().set_level(*u, c.room, *l);
        api_.reply(
            c, make(status::ok, model::summary_json(api_.hub().summary(*u, c.room, mine->read))));
    } catch (const store::StoreError&) {
        api_.reply(c, api_.store_down());
    }
}

}  // namespace ssechat::http
