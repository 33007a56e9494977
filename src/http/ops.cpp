// Operations: health, metrics (with their own access rule), who am I, CORS preflights.
#include "http/ops.hpp"

#include <openssl/crypto.h>

#include "chat/hub.hpp"
#include "chat/metrics.hpp"
#include "http/api.hpp"
#include "http/api_detail.hpp"
#include "http/http_metrics.hpp"
#include "util/prometheus.hpp"

namespace ssechat::http {

using namespace detail;

void Ops::healthz(Ctx& c) {
    bool ok = api_.hub().store().writable();
    api_.reply(c, ok ? make(status::ok, R"({"status":"ok"})")
                     : api_.error(status::service_unavailable, "store is not writable"));
}

void Ops::metrics_page(Ctx& c) {
    if (!metrics_allowed(c)) return;
    http_metrics().open_connections.store(static_cast<int64_t>(api_.connections().total()));
    metrics().rooms_loaded.store(static_cast<int64_t>(api_.hub().rooms_loaded()));
    metrics().users_online.store(static_cast<int64_t>(api_.users_streaming()));
    std::string body = metrics().render();
    http_metrics().render(body);
    prom::process(body);
    api_.reply(c, make(status::ok, std::move(body), "text/plain; version=0.0.4"));
}

void Ops::me(Ctx& c) {
    // Who the page is signed in as (and until when): with tokens, the token's sub;
    // anonymous, nobody: the page then asks for a name.
    boost::json::object o;
    o["auth"] = c.session                       ? "session"
                : c.identity && c.identity->key ? "apikey"
                : c.identity                    ? "token"
                                                : "anonymous";
    if (c.identity) {
        o["user_id"] = c.identity->user;
        o["display_name"] = c.identity->user;
        o["admin"] = c.identity->admin || (c.identity->key & model::kScopeAdmin) != 0;
        if (c.identity->key) {
            o["key"] = c.identity->key_name;
            o["scopes"] = model::scope_names(c.identity->key);
            o["bot"] = c.identity->bot();
        }
        o["expires"] = c.identity->exp ? boost::json::value(c.identity->exp) : nullptr;
    } else {
        o["user_id"] = nullptr;
        o["display_name"] = nullptr;
        o["admin"] = false;
        o["expires"] = nullptr;
    }
    // With accounts, the account's name (a token's user may have an account too).
    if (c.session) {
        o["display_name"] = model::user_json(c.session->account).at("display_name");
    } else if (c.identity && api_.sign_ins()) {
        try {
            if (auto a = api_.sign_ins()->store().account(c.identity->user))
                o["display_name"] = model::user_json(*a).at("display_name");
        } catch (const store::StoreError&) {
        }  // the id stands in for the name
    }
    o["accounts"] = api_.sign_ins() != nullptr;
    o["signup"] = api_.sign_ins() && api_.config().signup_open ? "open" : "invite";
    // Whether the page shows delete on everyone's messages. Anonymous: the --moderators ids,
    // which the page checks against the name it chose.
    if (c.identity) {
        o["moderator"] = c.identity->moderator;
    } else {
        boost::json::array mods;
        for (const auto& m : api_.config().moderators) mods.emplace_back(m);
        o["moderators"] = std::move(mods);
    }
    api_.reply(c, make(status::ok, boost::json::serialize(o)));
}

void Ops::preflight(Ctx& c) {
    // The cors package's defaults: the usual methods, echo the requested headers.
    Response res{status::no_content, c.req.version()};
    res.set(bhttp::field::access_control_allow_methods, "GET,HEAD,PUT,PATCH,POST,DELETE");
    if (auto h = c.req.find(bhttp::field::access_control_request_headers); h != c.req.end()) {
        res.set(bhttp::field::access_control_allow_headers, h->value());
        res.set(bhttp::field::vary, "Access-Control-Request-Headers");
    }
    api_.reply(c, std::move(res));
}

bool Ops::metrics_allowed(Ctx& c) {
    // Without tokens everything is open, /metrics too. With tokens, Prometheus needs neither
    // a user's JWT nor a user's rights: a token of its own, or the loopback interface.
    if (!api_.verifier()) return true;
    if (api_.config().metrics_loopback && loopback(c.s->peer())) return true;
    if (!api_.config().metrics_token.empty()) {
        std::string t = token_of(c.req, nullptr);
        if (t.size() == api_.config().metrics_token.size() &&
            CRYPTO_memcmp(t.data(), api_.config().metrics_token.data(), t.size()) == 0)
            return true;
    }
    http_metrics().auth_failures.fetch_add(1, std::memory_order_relaxed);
    api_.refuse(c, status::unauthorized,
                "/metrics needs the --metrics-token bearer token, or a loopback client with "
                "--metrics-loopback");
    return false;
}

}  // namespace ssechat::http
