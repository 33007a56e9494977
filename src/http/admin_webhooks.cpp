// /admin/webhooks: webhooks as a resource, for admins. The delivery engine is webhooks.cpp.
#include "http/admin_webhooks.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>

#include "chat/hub.hpp"
#include "http/api.hpp"
#include "http/api_detail.hpp"
#include "http/client.hpp"
#include "util/text.hpp"

namespace ssechat::http {

using namespace detail;
namespace bhttp = beast::http;
using bhttp::status;

namespace {

// What a body says of a webhook's url, events and rooms, put into `w`; "" or why not. With
// `partial` (PATCH) a field left out keeps its value.
std::string read_hook(const boost::json::object& body, model::Webhook& w, bool partial) {
    if (auto bad = unknown_key(body, {"url", "events", "rooms", "disabled"}); !bad.empty())
        return "unknown field " + bad + R"(: a webhook is {"url","events","rooms","disabled"})";
    if (const auto* u = body.if_contains("url")) {
        if (!u->is_string()) return "url must be a string";
        w.url = std::string(u->as_string());
    } else if (!partial) {
        return "url is required";
    }
    if (const auto* e = body.if_contains("events")) {
        std::string why;
        auto bits = model::parse_hook_events(*e, why);
        if (!bits) return why;
        w.events = *bits;
    } else if (!partial) {
        return "events is required: a list of message, edit, delete, reaction, member, room";
    }
    if (const auto* r = body.if_contains("rooms")) {
        if (r->is_null()) {
            w.every_room = true;
            w.rooms.clear();
        } else if (r->is_array() && !r->as_array().empty() && r->as_array().size() <= 1000) {
            w.every_room = false;
            w.rooms.clear();
            for (const auto& v : r->as_array()) {
                if (!v.is_string() || !text::valid_room(v.as_string()))
                    return "rooms must be null or a list of 1 to 1000 room names";
                w.rooms.emplace_back(v.as_string());
            }
            std::sort(w.rooms.begin(), w.rooms.end());
            w.rooms.erase(std::unique(w.rooms.begin(), w.rooms.end()), w.rooms.end());
        } else {
            return "rooms must be null or a list of 1 to 1000 room names";
        }
    }
    if (const auto* d = body.if_contains("disabled")) {
        if (!d->is_bool()) return "disabled must be true or false";
        w.disabled = d->as_bool();
        if (!w.disabled) w.disabled_reason.clear();
    }
    return {};
}

}  // namespace

AdminWebhooks::AdminWebhooks(Api& api) : api_(api) {
    const Config& cfg = api.config();
    if (auto hooks = store::open_webhooks(cfg))
        engine_ = std::make_unique<WebhookEngine>(
            api.hub().store(), std::move(hooks),
            OutboundPolicy{cfg.allow_private_targets, cfg.outbound_ca}, cfg.webhook_concurrency);
}

AdminWebhooks::~AdminWebhooks() = default;

bool AdminWebhooks::webhooks_on(Ctx& c) {
    if (!api_.admins_only(c)) return false;
    if (engine_) return true;
    api_.refuse(c, status::service_unavailable, "webhooks are not running on this server");
    return false;
}

void AdminWebhooks::list_webhooks(Ctx& c) {
    if (!webhooks_on(c)) return;
    boost::json::array list;
    try {
        for (const auto& w : engine_->store().list()) list.push_back(model::webhook_json(w));
    } catch (const store::StoreError&) {
        return api_.reply(c, api_.store_down());
    }
    api_.reply(c,
               make(status::ok, boost::json::serialize(boost::json::object{{"webhooks", list}})));
}

void AdminWebhooks::create_webhook(Ctx& c) {
    if (!webhooks_on(c)) return;
    auto body = object_body(c.req.body());
    if (!body) return api_.refuse(c, status::bad_request, "the body must be a JSON object");
    model::Webhook w;
    if (auto why = read_hook(*body, w, false); !why.empty())
        return api_.refuse(c, status::bad_request, why);
    if (auto why = target_problem(w.url, api_.config().allow_private_targets); !why.empty())
        return api_.refuse(c, status::bad_request, why);
    w.id = model::new_hook_id();
    w.secret = model::new_hook_secret();
    w.created_by = c.identity->user;
    w.created_at = unix_now_ms();
    auto done = api_.later(c);
    bool queued = api_.work().submit([this, done, w = std::move(w)]() mutable {
        if (!api_.config().allow_private_targets)
            if (auto why = resolves_public(w.url); !why.empty())
                return done(api_.error(status::bad_request, "url: " + why));
        try {
            // From the end of the log: it receives what happens after it was made.
            w.cursor = engine_->log_end();
            engine_->store().add(w);
        } catch (const store::StoreError&) {
            return done(api_.store_down());
        }
        engine_->changed();
        auto o = model::webhook_json(w);
        o["secret"] = w.secret;  // shown this once
        done(make(status::created, boost::json::serialize(o)));
    });
    if (!queued) api_.reply(c, api_.error(status::service_unavailable, "busy: retry"));
}

void AdminWebhooks::get_webhook(Ctx& c) {
    if (!webhooks_on(c)) return;
    try {
        auto w = engine_->store().get(c.id);
        if (!w) return api_.refuse(c, status::not_found, "no such webhook");
        api_.reply(c, make(status::ok, boost::json::serialize(model::webhook_json(*w))));
    } catch (const store::StoreError&) {
        api_.reply(c, api_.store_down());
    }
}

void AdminWebhooks::patch_webhook(Ctx& c) {
    if (!webhooks_on(c)) return;
    auto body = object_body(c.req.body());
    if (!body) return api_.refuse(c, status::bad_request, "the body must be a JSON object");
    try {
        auto w = engine_->store().get(c.id);
        if (!w) return api_.refuse(c, status::not_found, "no such webhook");
        if (auto why = read_hook(*body, *w, true); !why.empty())
            return api_.refuse(c, status::bad_request, why);
        if (auto why = target_problem(w->url, api_.config().allow_private_targets); !why.empty())
            return api_.refuse(c, status::bad_request, why);
        if (!api_.config().allow_private_targets && body->contains("url")) {
            // A name is resolved off the loop, as when made.
            auto done = api_.later(c);
            bool queued = api_.work().submit([this, done, w = std::move(*w)] {
                if (auto why = resolves_public(w.url); !why.empty())
                    return done(api_.error(status::bad_request, "url: " + why));
                try {
                    engine_->store().update(w);
                } catch (const store::StoreError&) {
                    return done(api_.store_down());
                }
                engine_->changed();
                done(make(status::ok, boost::json::serialize(model::webhook_json(w))));
            });
            if (!queued) api_.reply(c, api_.error(status::service_unavailable, "busy: retry"));
            return;
        }
        engine_->store().update(*w);
        engine_->changed();
        api_.reply(c, make(status::ok, boost::json::serialize(model::webhook_json(*w))));
    } catch (const store::StoreError&) {
        api_.reply(c, api_.store_down());
    }
}

void AdminWebhooks::delete_webhook(Ctx& c) {
    if (!webhooks_on(c)) return;
    try {
        if (!engine_->store().remove(c.id))
            return api_.refuse(c, status::not_found, "no such webhook");
    } catch (const store::StoreError&) {
        return api_.reply(c, api_.store_down());
    }
    engine_->changed();
    api_.reply(c, make(status::no_content, ""));
}

void AdminWebhooks::webhook_deliveries(Ctx& c) {
    if (!webhooks_on(c)) return;
    boost::json::array list;
    try {
        if (!engine_->store().get(c.id))
            return api_.refuse(c, status::not_found, "no such webhook");
        for (const auto& d : engine_->store().deliveries(c.id))
            list.push_back(model::delivery_json(d));
    } catch (const store::StoreError&) {
        return api_.reply(c, api_.store_down());
    }
    api_.reply(c,
               make(status::ok, boost::json::serialize(boost::json::object{{"deliveries", list}})));
}

}  // namespace ssechat::http
