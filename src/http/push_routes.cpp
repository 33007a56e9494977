// Web Push as resources: the server's VAPID key, a user's browser subscriptions, and their
// notification level per room. The sending is push.cpp.
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

bool Api::push_on(Ctx& c) {
    if (push_) return true;
    refuse(c, status::service_unavailable, "push notifications are not running on this server");
    return false;
}

void Api::push_key(Ctx& c) {
    if (!push_on(c)) return;
    auto key = push_->public_key();
    if (key.empty()) return reply(c, store_down());
    reply(c, make(status::ok, boost::json::serialize(boost::json::object{{"key", key}})));
}

void Api::put_push(Ctx& c) {
    auto u = user(c, nullptr, false);
    if (!u || !push_on(c)) return;
    if (!c.identity)
        return refuse(c, status::bad_request,
                      "push needs a signed-in user: without tokens anyone can claim any id");
    std::string why;
    auto sub = model::parse_push_subscription(c.req.body(), why);
    if (!sub) return refuse(c, status::bad_request, why);
    if (auto bad = target_problem(sub->endpoint, cfg_.allow_private_targets); !bad.empty())
        return refuse(c, status::bad_request, "the endpoint" + bad.substr(3));  // it says "url"
    sub->user = *u;
    sub->created_at = unix_now_ms();
    // A name is resolved off the loop, and the store written there too.
    auto done = later(c);
    bool queued = work_.submit([this, done, s = std::move(*sub)] {
        if (!cfg_.allow_private_targets)
            if (auto bad = resolves_public(s.endpoint); !bad.empty())
                return done(error(status::bad_request, "endpoint: " + bad));
        try {
            push_->store().subscribe(s);
        } catch (const store::StoreError&) {
            return done(store_down());
        }
        push_->changed();
        done(make(status::created, boost::json::serialize(boost::json::object{
                                       {"endpoint", s.endpoint}, {"created_at", s.created_at}})));
    });
    if (!queued) reply(c, error(status::service_unavailable, "busy: retry"));
}

void Api::delete_push(Ctx& c) {
    auto u = user(c, nullptr, false);
    if (!u || !push_on(c)) return;
    auto body = object_body(c.req.body());
    const boost::json::value* endpoint = body ? body->if_contains("endpoint") : nullptr;
    if (!endpoint || !endpoint->is_string())
        return refuse(c, status::bad_request, R"(the body must be {"endpoint":"…"})");
    try {
        if (!push_->store().unsubscribe(*u, std::string(endpoint->as_string())))
            return refuse(c, status::not_found, "you have no such subscription");
    } catch (const store::StoreError&) {
        return reply(c, store_down());
    }
    push_->changed();
    reply(c, make(status::no_content, ""));
}

void Api::put_notify(Ctx& c) {
    auto u = user(c, nullptr, false);
    if (!u || !push_on(c)) return;
    auto body = object_body(c.req.body());
    const boost::json::value* level =
        body && body->size() == 1 ? body->if_contains("level") : nullptr;
    std::optional<model::NotifyLevel> l;
    if (level && level->is_string()) l = model::parse_notify_level(level->as_string());
    if (!l)
        return refuse(
            c, status::bad_request,
            R"(the body must be {"level":"all"}, {"level":"mentions"} or {"level":"none"})");
    // The access check first (a room the caller may not read is 404, as missing), then
    // membership: levels are for the rooms the user is in.
    auto r = open_room(c, c.room);
    if (!r) return;
    try {
        std::optional<store::Membership> mine;
        for (auto& m : hub_.store().memberships(*u))
            if (m.room == c.room) mine = std::move(m);
        if (!mine) return refuse(c, status::not_found, "you are not in room " + c.room);
        push_->store().set_level(*u, c.room, *l);
        reply(c, make(status::ok, model::summary_json(hub_.summary(*u, c.room, mine->read))));
    } catch (const store::StoreError&) {
        reply(c, store_down());
    }
}

}  // namespace ssechat::http
