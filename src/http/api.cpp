// The API core: the route table and dispatch, authentication (tokens, sessions, API keys),
// the one access check, CORS, and how every answer is recorded (metrics, access log) and
// sent. The resources live beside it, each a class with its own file and state.
#include "http/api.hpp"

#include <openssl/crypto.h>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>

#include "chat/hub.hpp"
#include "chat/metrics.hpp"
#include "chat/shard.hpp"
#include "http/api_detail.hpp"
#include "http/assets.hpp"
#include "http/http_metrics.hpp"
#include "http/request.hpp"
#include "store/accounts.hpp"
#include "util/log.hpp"
#include "util/password.hpp"
#include "util/text.hpp"

namespace ssechat::http {

using namespace detail;

namespace bhttp = beast::http;
using bhttp::status;

Api::Api(const Config& cfg, chat::Hub& hub, std::vector<chat::Shard*> shards)
    : cfg_(cfg),
      hub_(hub),
      shards_(std::move(shards)),
      connections_(cfg.max_connections, cfg.max_connections_per_ip),
      any_origin_(cfg.cors_origins.size() == 1 && cfg.cors_origins[0] == "*"),
      resources_(*this, *this, *this, *this, *this, *this, *this, *this, *this, *this, *this, *this,
                 *this) {
    if (!cfg.jwt_secret.empty()) verifier_ = auth::Verifier::hs256(cfg.jwt_secret);
    if (!cfg.jwt_key.empty()) verifier_ = auth::Verifier::public_key(cfg.jwt_key);
    keys_ = std::make_unique<ApiKeys>(store::open_accounts(cfg), shards_);
    if (cfg.accounts) {
        sign_ins_ = std::make_unique<SignIns>(cfg, store::open_accounts(cfg), shards_);
        if (!cfg.first_admin.empty()) first_admin();
    }
}

void Api::first_admin() {
    auto& store = sign_ins_->store();
    if (store.any_admin()) return;
    if (auto why = text::bad_user_id(cfg_.first_admin, cfg_.max_user); !why.empty())
        throw std::runtime_error("--first-admin: " + why);
    if (auto why = model::password_problem(cfg_.first_admin_password); !why.empty())
        throw std::runtime_error("SSECHAT_FIRST_ADMIN_PASSWORD: " + why);
    model::Account a;
    a.user_id = cfg_.first_admin;
    a.hash = password::hash(cfg_.first_admin_password);
    a.admin = true;
    a.created_at = unix_now_ms();
    if (!store.add_account(a)) {
        // The id has an account already: it becomes the admin, with this password.
        auto old = store.account(a.user_id);
        a.display_name = old ? old->display_name : "";
        store.update_account(a);
    }
    log::info("made the first admin account", {{"user", a.user_id}});
}

void Api::set_port(uint16_t port) {
    own_origins_.clear();
    const std::string scheme = cfg_.tls_cert.empty() ? "http://" : "https://";
    const std::string p = ":" + std::to_string(port);
    if (!cfg_.public_url.empty()) {
        own_origins_.push_back(cfg_.public_url);
    } else {
        std::string host =
            cfg_.bind.find(':') != std::string::npos ? "[" + cfg_.bind + "]" : cfg_.bind;
        own_origins_.push_back(scheme + host + p);
        // The banner names a loopback server "localhost"; a browser may use any of these.
        boost::system::error_code ec;
        auto a = boost::asio::ip::make_address(cfg_.bind, ec);
        if (!ec && a.is_loopback())
            for (const char* h : {"localhost", "127.0.0.1", "[::1]"})
                own_origins_.push_back(scheme + h + p);
    }
    for (const auto& o : cfg_.allowed_origins) own_origins_.push_back(o);
    get<Accounts>().set_origin(own_origins_.front());
}

bool Api::same_origin(const Ctx& c) const {
    auto o = c.req.find(bhttp::field::origin);
    if (o == c.req.end()) return false;
    std::string_view origin = o->value();
    for (const auto& own : own_origins_)
        if (origin == own) return true;
    // Without --public-url, the origin the browser was sent to is ours: a page elsewhere
    // cannot make a browser send another site's Host with its own Origin.
    if (cfg_.public_url.empty())
        if (auto h = c.req.find(bhttp::field::host); h != c.req.end()) {
            std::string self =
                (cfg_.tls_cert.empty() ? "http://" : "https://") + std::string(h->value());
            return origin == self;
        }
    return false;
}

Api::Later Api::later(Ctx& c) {
    auto s = c.s;
    auto ex = s->executor();
    unsigned version = c.req.version();
    bool keep = c.req.keep_alive();
    auto origin = origin_of(c.req);
    std::string method(c.req.method_string());
    return [this, s, ex, version, keep, origin, method, user = c.user, route = c.route,
            start = c.start](Response res) {
        boost::asio::post(ex, [=, this, res = std::move(res)]() mutable {
            res.version(version);
            res.keep_alive(keep && !draining_);
            grant_origin(res, origin);
            record(method, route, res.result_int(), res.body(), start, user);
            s->respond(std::move(res));
        });
    };
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
        http_metrics().http_requests[route][cls - 1].fetch_add(1, std::memory_order_relaxed);
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
    http_metrics().bad_requests.fetch_add(1, std::memory_order_relaxed);
    Response res = error(status::method_not_allowed, std::string("use ") + allow);
    res.set(bhttp::field::allow, allow);
    reply(c, std::move(res));
}

void Api::refuse(Ctx& c, status st, const std::string& why) {
    http_metrics().bad_requests.fetch_add(1, std::memory_order_relaxed);
    Response res = error(st, why);
    if (st == status::unauthorized) res.set(bhttp::field::www_authenticate, "Bearer");
    reply(c, std::move(res));
}

bool Api::authenticate(Ctx& c) {
    // An API key first, whatever else the server takes: only in the Authorization header,
    // never a query (URLs are logged) or a cookie.
    if (std::string b = bearer_of(c.req); model::looks_like_api_key(b))
        return authenticate_key(c, b);
    if (sign_ins_) return authenticate_account(c);
    if (!verifier_) return true;
    return authenticate_token(c);
}

bool Api::authenticate_account(Ctx& c) {
    if (c.query && http_util::find(*c.query, "id")) {
        refuse(c, status::unauthorized, "?id= is not accepted on a server with accounts: sign in");
        return false;
    }
    // An API client's bearer token wins over a cookie; it is not a browser's ambient
    // credential, so it needs no Origin.
    bool bearer = c.req.find(bhttp::field::authorization) != c.req.end();
    std::string secret = bearer ? std::string() : cookie_of(c.req, kSessionCookie);
    if (!secret.empty()) {
        std::optional<Signed> s;
        try {
            s = sign_ins_->check(secret, unix_now_ms());
        } catch (const store::StoreError&) {
            reply(c, error(status::service_unavailable, "the store is unavailable, retry later"));
            return false;
        }
        if (s) {
            auto m = c.req.method();
            bool safe = m == bhttp::verb::get || m == bhttp::verb::head;
            if (!safe && !same_origin(c)) {
                http_metrics().auth_failures.fetch_add(1, std::memory_order_relaxed);
                refuse(c, status::forbidden, "cross-site request refused");
                return false;
            }
            auth::Identity id;
            id.user = s->account.user_id;
            id.admin = s->account.admin;
            c.identity = std::move(id);
            c.user = c.identity->user;
            c.credential = s->credential;
            c.session = std::move(s);
            return true;
        }
    }
    if (verifier_ && (bearer || !token_of(c.req, c.query ? &*c.query : nullptr).empty()))
        return authenticate_token(c);
    http_metrics().auth_failures.fetch_add(1, std::memory_order_relaxed);
    refuse(c, status::unauthorized,
           secret.empty() ? "sign in first" : "this session has ended: sign in again");
    return false;
}

bool Api::authenticate_token(Ctx& c) {
    const auto& q = c.query;
    auth::Verdict v = verifier_->verify(token_of(c.req, q ? &*q : nullptr), unix_now());
    if (v.status != 200) {
        // The reason goes to the client only; tokens are never logged.
        http_metrics().auth_failures.fetch_add(1, std::memory_order_relaxed);
        refuse(c, static_cast<status>(v.status), v.error);
        return false;
    }
    if (auto why = text::bad_user_id(v.identity.user, cfg_.max_user); !why.empty()) {
        http_metrics().auth_failures.fetch_add(1, std::memory_order_relaxed);
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
    if (scope(c).covers(room)) return true;
    http_metrics().auth_failures.fetch_add(1, std::memory_order_relaxed);
    refuse(c, status::forbidden, "token does not allow room " + room);
    return false;
}

model::Role Api::server_role(const Ctx& c, const std::string& user) const {
    auto listed = [&](const std::vector<std::string>& users) {
        return !user.empty() && std::find(users.begin(), users.end(), user) != users.end();
    };
    if (c.identity && c.identity->key)
        return c.identity->acting_as ? model::Role::None : model::key_role(c.identity->key);
    if (c.identity)
        return c.identity->admin       ? model::Role::Owner
               : c.identity->moderator ? model::Role::Moderator
                                       : model::Role::None;
    return listed(cfg_.admins)       ? model::Role::Owner
           : listed(cfg_.moderators) ? model::Role::Moderator
                                     : model::Role::None;
}

model::Decision Api::verdict(Ctx& c, model::Act act) {
    // The acting user as the handler will take it; an anonymous request without a valid
    // ?id= acts as nobody in particular (public rooms let it read).
    std::string who;
    if (c.identity) {
        who = c.identity->user;
    } else if (c.query) {
        if (const std::string* id = http_util::find(*c.query, "id");
            id && text::bad_user_id(*id, cfg_.max_user).empty())
            who = *id;
    }
    auto now = unix_now_ms();
    const model::Role server = server_role(c, who);
    // A loaded room holds its rules; for another, the store's entries for this user only, so
    // that neither a check nor a refusal loads a room (or costs more for a larger one).
    if (auto r = hub_.find(c.room)) {
        c.standing = r->standing(who, server, now);
        c.visibility = r->visibility();
        c.loaded = std::move(r);
    } else {
        auto rules = hub_.store().roster_of(c.room, who);
        c.standing = rules.standing(who, server, now);
        c.visibility = rules.visibility();
    }
    // A name kept for direct messages that is not one is no room at all: nobody can make it
    // by posting to it, and so take the name of a direct message before it exists.
    model::Decision d = model::dm_reserved(c.room) && c.visibility != model::Visibility::Dm
                            ? model::Decision{404, model::kNoSuchRoom}
                            : model::may(c.visibility, c.standing, act);
    if (d.ok()) c.actor = std::move(who);
    return d;
}

bool Api::admit(Ctx& c, model::Act act) {
    model::Decision d;
    try {
        d = verdict(c, act);
    } catch (const store::StoreError&) {
        reply(c, store_down());
        return false;
    }
    if (!d.ok()) {
        http_metrics().auth_failures.fetch_add(1, std::memory_order_relaxed);
        refuse(c, static_cast<status>(d.status), d.error);
        return false;
    }
    return true;
}

bool Api::load(Ctx& c) {
    if (!c.loaded) c.loaded = open_room(c, c.room);
    return c.loaded != nullptr;
}

std::optional<bool> Api::exists(Ctx& c) {
    if (!c.loaded) return false;
    bool rules = c.loaded->with_roster(
        [](const model::Roster& r) { return r.profile || !r.members.empty(); });
    if (rules || c.loaded->delivered() > 0) return true;
    if (!hub_.store().cluster()) return false;
    // On a shared store a node learns of commits from the feed, which may lag the store: a
    // message stored a moment ago (through this node or another) must not read as no room.
    try {
        return hub_.store().last_id(c.room) > 0;
    } catch (const store::StoreError&) {
        reply(c, store_down());
        return std::nullopt;
    }
}

bool Api::page_limit(Ctx& c, size_t& n) {
    std::optional<uint64_t> limit;
    if (!c.query) {
        refuse(c, status::bad_request, "malformed query string");
        return false;
    }
    if (!number_param(*c.query, "limit", limit) || (limit && (*limit < 1 || *limit > 1000))) {
        refuse(c, status::bad_request, "limit must be an integer from 1 to 1000");
        return false;
    }
    n = limit ? *limit : 100;
    return true;
}

std::optional<std::string> Api::target_user(Ctx& c) {
    auto u = text::percent_decode(c.target, false);
    std::string why = !u ? "the user in the path is not percent-encoded UTF-8"
                         : text::bad_user_id(*u, cfg_.max_user);
    if (why.empty()) return u;
    refuse(c, status::bad_request, "user: " + why);
    return std::nullopt;
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

bool Api::admins_only(Ctx& c) {
    if (c.identity && (c.identity->key ? (c.identity->key & model::kScopeAdmin) != 0
                                       : server_role(c, c.identity->user) == model::Role::Owner))
        return true;
    refuse(c, status::forbidden, "only an admin may manage API keys");
    return false;
}

bool Api::authenticate_key(Ctx& c, const std::string& presented) {
    std::optional<KeyUse> k;
    try {
        k = keys_->check(presented, unix_now_ms());
    } catch (const store::StoreError&) {
        reply(c, store_down());
        return false;
    }
    if (!k) {
        // One answer for a key never made, a revoked one and a mistyped one.
        http_metrics().auth_failures.fetch_add(1, std::memory_order_relaxed);
        refuse(c, status::unauthorized, "unknown or revoked API key");
        return false;
    }
    auth::Identity id;
    id.user = k->key.user;
    id.key = k->key.scopes;
    id.key_name = k->key.name;
    if (const std::string* as = c.query ? http_util::find(*c.query, "as") : nullptr) {
        if (!(k->key.scopes & model::kScopeImpersonate)) {
            refuse(c, status::forbidden,
                   "?as= needs an API key with the impersonate scope (and publish)");
            return false;
        }
        if (auto why = text::bad_user_id(*as, cfg_.max_user); !why.empty()) {
            refuse(c, status::bad_request, "?as=: " + why);
            return false;
        }
        id.user = *as;
        id.acting_as = true;
    }
    c.identity = std::move(id);
    c.user = c.identity->user;
    c.credential = std::move(k->credential);
    return true;
}

bool Api::key_allows(Ctx& c, const Method& m) {
    const bool reads = m.verb == bhttp::verb::get;
    const model::KeyScopes need = m.keys ? m.keys : model::scopes_for(m.act, reads);
    const model::KeyScopes has = c.identity->key;
    if (c.identity->acting_as && !(need & model::kScopePublish)) {
        refuse(c, status::forbidden,
               "?as= is for publishing (posting, editing, deleting, reacting) only");
        return false;
    }
    if (has & (need | model::kScopeAdmin)) return true;
    http_metrics().auth_failures.fetch_add(1, std::memory_order_relaxed);
    const bool one = (need & (need - 1)) == 0;
    refuse(c, status::forbidden,
           "this API key's scopes do not reach this request: it needs " +
               (one ? "the " + model::scope_names(need) + " scope"
                    : "one of the scopes " + model::scope_names(need)));
    return false;
}

namespace {
// The resource a handler belongs to, from its member pointer's type.
template <class F>
struct MemberOf;
template <class R>
struct MemberOf<void (R::*)(Ctx&)> {
    using type = R;
};
}  // namespace

template <auto F>
void Api::call(Api& api, Ctx& c) {
    (api.get<typename MemberOf<decltype(F)>::type>().*F)(c);
}

const std::vector<Api::RouteRow>& Api::routes() {
    using bhttp::verb;
    // {room} stands for one path segment, checked as a room name before any handler runs.
    // Allow comes from the handlers listed; HEAD goes wherever GET does.
    using model::Act;
    using model::kScopePublish, model::kScopeRead, model::kScopeRooms, model::kScopeMembers,
        model::kScopeUsers, model::kScopeAdmin;
    static const std::vector<RouteRow> table = {
        {kRouteHealthz, "/healthz", Access::Open, {{verb::get, &call<&Ops::healthz>}}},
        {kRouteMetrics, "/metrics", Access::Open, {{verb::get, &call<&Ops::metrics_page>}}},
        {kRouteMe,
         "/me",
         Access::User,
         {{verb::get, &call<&Ops::me>, Act::Read, model::kEveryScope},
          {verb::patch, &call<&Accounts::patch_me>, Act::Read, kScopePublish}}},
        {kRouteAuth, "/auth", Access::Open, {{verb::get, &call<&Accounts::auth_info>}}},
        {kRouteAuthLogin, "/auth/login", Access::Open, {{verb::post, &call<&Accounts::login>}}},
        {kRouteAuthLogout, "/auth/logout", Access::User, {{verb::post, &call<&Accounts::logout>}}},
        {kRouteAuthLogoutAll,
         "/auth/logout-all",
         Access::User,
         {{verb::post, &call<&Accounts::logout_all>}}},
        {kRouteAuthSignup, "/auth/signup", Access::Open, {{verb::post, &call<&Accounts::signup>}}},
        {kRouteAuthInvites,
         "/auth/invites",
         Access::User,
         {{verb::get, &call<&Accounts::list_invites>, Act::Read, kScopeUsers},
          {verb::post, &call<&Accounts::create_invite>, Act::Read, kScopeUsers}}},
        {kRouteAuthInvite,
         "/auth/invites/{id}",
         Access::User,
         {{verb::delete_, &call<&Accounts::drop_invite>, Act::Read, kScopeUsers}}},
        {kRouteAuthAccept,
         "/auth/invites/{id}/accept",
         Access::Open,
         {{verb::post, &call<&Accounts::accept_invite>}}},
        {kRouteOidcStart,
         "/auth/oidc/start",
         Access::Open,
         {{verb::get, &call<&Accounts::oidc_start>}}},
        {kRouteOidcCallback,
         "/auth/oidc/callback",
         Access::Open,
         {{verb::get, &call<&Accounts::oidc_callback>}}},
        {kRouteMeSessions,
         "/me/sessions",
         Access::User,
         {{verb::get, &call<&Accounts::list_sessions>}}},
        {kRouteMeSession,
         "/me/sessions/{id}",
         Access::User,
         {{verb::delete_, &call<&Accounts::end_session>}}},
        {kRouteMePassword,
         "/me/password",
         Access::User,
         {{verb::put, &call<&Accounts::put_password>}}},
        {kRouteUsers,
         "/users",
         Access::User,
         {{verb::get, &call<&Accounts::list_users>, Act::Read, kScopeRead | kScopeUsers}}},
        {kRouteUser,
         "/users/{user}",
         Access::User,
         {{verb::get, &call<&Accounts::get_user>, Act::Read, kScopeRead | kScopeUsers}}},
        {kRouteMeRooms, "/me/rooms", Access::User, {{verb::get, &call<&Me::my_rooms>}}},
        {kRouteMeSearch,
         "/me/search",
         Access::User,
         {{verb::get, &call<&SearchRoutes::search_me>}}},
        {kRouteMeRoom,
         "/me/rooms/{room}",
         Access::User,
         {{verb::put, &call<&Me::join_room>, Act::Join},
          {verb::delete_, &call<&Me::leave_room>, Act::Leave}}},
        {kRouteMeRead,
         "/me/rooms/{room}/read",
         Access::User,
         {{verb::put, &call<&Me::mark_read>, Act::Mark}}},
        {kRouteMeEvents, "/me/events", Access::User, {{verb::get, &call<&Streams::user_stream>}}},
        {kRouteMeDm,
         "/me/dms/{user}",
         Access::User,
         {{verb::put, &call<&Me::open_dm>, Act::Read, kScopePublish}}},
        {kRouteMeSettings,
         "/me/settings",
         Access::User,
         {{verb::get, &call<&Me::get_settings>},
          {verb::put, &call<&Me::put_settings>, Act::Read, kScopePublish}}},
        {kRouteRoomReceipts,
         "/rooms/{room}/receipts",
         Access::User,
         {{verb::get, &call<&Me::receipts>}}},
        {kRouteSeedStream, "/messages", Access::User, {{verb::get, &call<&Seed::seed_stream>}}},
        {kRouteSeedPublish,
         "/message",
         Access::User,
         {{verb::post, &call<&Seed::seed_publish>, Act::Read, kScopePublish}}},
        {kRouteRooms,
         "/rooms",
         Access::User,
         {{verb::get, &call<&RoomRoutes::list_rooms>, Act::Read, kScopeRead | kScopeRooms},
          {verb::post, &call<&RoomRules::create_room>, Act::Read, kScopeRooms}}},
        {kRouteRoom,
         "/rooms/{room}",
         Access::User,
         {{verb::get, &call<&RoomRules::get_room>},
          {verb::patch, &call<&RoomRules::patch_room>, Act::Profile}}},
        {kRouteRoomMembers,
         "/rooms/{room}/members",
         Access::User,
         {{verb::get, &call<&RoomRules::list_members>}}},
        {kRouteRoomMember,
         "/rooms/{room}/members/{user}",
         Access::User,
         // What these may do depends on whom they act on: the handlers ask may_act_on().
         {{verb::put, &call<&RoomRules::put_member>, Act::Read, kScopeMembers},
          {verb::delete_, &call<&RoomRules::remove_member>, Act::Read, kScopeMembers}}},
        {kRouteRoomBans,
         "/rooms/{room}/bans",
         Access::User,
         {{verb::get, &call<&RoomRules::list_bans>, Act::Restrict}}},
        {kRouteRoomBan,
         "/rooms/{room}/bans/{user}",
         Access::User,
         {{verb::put, &call<&RoomRules::put_ban>, Act::Restrict},
          {verb::delete_, &call<&RoomRules::lift_ban>, Act::Restrict}}},
        {kRouteRoomMutes,
         "/rooms/{room}/mutes",
         Access::User,
         {{verb::get, &call<&RoomRules::list_mutes>, Act::Restrict}}},
        {kRouteRoomMute,
         "/rooms/{room}/mutes/{user}",
         Access::User,
         {{verb::put, &call<&RoomRules::put_mute>, Act::Restrict},
          {verb::delete_, &call<&RoomRules::lift_mute>, Act::Restrict}}},
        {kRouteRoomEvents,
         "/rooms/{room}/events",
         Access::User,
         {{verb::get, &call<&Streams::native_stream>}}},
        {kRouteRoomMessages,
         "/rooms/{room}/messages",
         Access::User,
         {{verb::get, &call<&Messages::history>},
          {verb::post, &call<&Messages::native_publish>, Act::Post}}},
        {kRouteRoomPresence,
         "/rooms/{room}/presence",
         Access::User,
         {{verb::get, &call<&RoomRoutes::presence>}}},
        {kRouteRoomFiles,
         "/rooms/{room}/files",
         Access::User,
         {{verb::post, &call<&FileRoutes::upload_file>, Act::Post}}},
        {kRouteFile,
         "/files/{id}/{name}",
         Access::User,
         {{verb::get, &call<&FileRoutes::get_file>}}},
        {kRouteRoomSearch,
         "/rooms/{room}/search",
         Access::User,
         {{verb::get, &call<&SearchRoutes::search_room>}}},
        {kRouteRoomTyping,
         "/rooms/{room}/typing",
         Access::User,
         {{verb::post, &call<&RoomRoutes::typing>, Act::Type}}},
        {kRouteRoomMessage,
         "/rooms/{room}/messages/{id}",
         Access::User,
         {{verb::get, &call<&Messages::get_message>},
          {verb::patch, &call<&Messages::edit_message>, Act::Change},
          {verb::delete_, &call<&Messages::delete_message>, Act::Change}}},
        {kRouteRoomReaction,
         "/rooms/{room}/messages/{id}/reactions/{emoji}",
         Access::User,
         {{verb::put, &call<&Messages::add_reaction>, Act::Change},
          {verb::delete_, &call<&Messages::remove_reaction>, Act::Change}}},
        {kRouteAdminKeys,
         "/admin/apikeys",
         Access::User,
         {{verb::get, &call<&AdminKeys::list_keys>, Act::Read, kScopeAdmin},
          {verb::post, &call<&AdminKeys::create_key>, Act::Read, kScopeAdmin}}},
        {kRouteAdminKey,
         "/admin/apikeys/{name}",
         Access::User,
         {{verb::delete_, &call<&AdminKeys::revoke_key>, Act::Read, kScopeAdmin}}},
        {kRouteAdminWebhooks,
         "/admin/webhooks",
         Access::User,
         {{verb::get, &call<&AdminWebhooks::list_webhooks>, Act::Read, kScopeAdmin},
          {verb::post, &call<&AdminWebhooks::create_webhook>, Act::Read, kScopeAdmin}}},
        {kRouteAdminWebhook,
         "/admin/webhooks/{id}",
         Access::User,
         {{verb::get, &call<&AdminWebhooks::get_webhook>, Act::Read, kScopeAdmin},
          {verb::patch, &call<&AdminWebhooks::patch_webhook>, Act::Read, kScopeAdmin},
          {verb::delete_, &call<&AdminWebhooks::delete_webhook>, Act::Read, kScopeAdmin}}},
        {kRouteAdminDeliveries,
         "/admin/webhooks/{id}/deliveries",
         Access::User,
         {{verb::get, &call<&AdminWebhooks::webhook_deliveries>, Act::Read, kScopeAdmin}}},
        {kRoutePushKey, "/push/key", Access::Open, {{verb::get, &call<&PushRoutes::push_key>}}},
        {kRouteMePush,
         "/me/push",
         Access::User,
         {{verb::put, &call<&PushRoutes::put_push>},
          {verb::delete_, &call<&PushRoutes::delete_push>}}},
        {kRouteMeNotify,
         "/me/rooms/{room}/notify",
         Access::User,
         {{verb::put, &call<&PushRoutes::put_notify>, Act::Read}}},
    };
    return table;
}

const Api::RouteRow* Api::match(std::string_view path, Ctx& c) {
    // Segment by segment: a literal must be equal, a hole takes any segment (an empty one
    // too, which its handler refuses with 400 rather than 404). A route with another number
    // of segments is passed over at once.
    size_t segments = static_cast<size_t>(std::count(path.begin(), path.end(), '/'));
    for (const auto& r : routes()) {
        if (r.segments != segments) continue;
        std::string_view t = r.path, p = path;
        std::string_view room, id, emoji, user, name;
        bool ok = true;
        while (ok && !t.empty() && !p.empty()) {
            if (t.front() != '/' || p.front() != '/') {
                ok = false;
                break;
            }
            t.remove_prefix(1);
            p.remove_prefix(1);
            auto ts = t.substr(0, t.find('/')), ps = p.substr(0, p.find('/'));
            t.remove_prefix(ts.size());
            p.remove_prefix(ps.size());
            if (ts == "{room}")
                room = ps;
            else if (ts == "{id}")
                id = ps;
            else if (ts == "{emoji}")
                emoji = ps;
            else if (ts == "{user}")
                user = ps;
            else if (ts == "{name}")
                name = ps;
            else
                ok = ts == ps;
        }
        if (!ok || !t.empty() || !p.empty()) continue;
        c.room = room;
        c.id = id;
        c.emoji = emoji;
        c.target = user;
        c.name = name;
        return &r;
    }
    return nullptr;
}

void Api::handle(Request&& req, const std::shared_ptr<Session>& s) {
    auto [path, query] = http_util::split_target(req.target());
    Ctx c{req, s, path, http_util::parse_query(query), std::nullopt};
    c.head = req.method() == bhttp::verb::head;
    // HEAD is routed as GET; reply() then drops the body.
    auto method = c.head ? bhttp::verb::get : req.method();
    if (method == bhttp::verb::options) {
        c.route = kRoutePreflight;
        return get<Ops>().preflight(c);
    }
    if (c.query)
        if (const std::string* k = http_util::repeated_key(*c.query))
            return refuse(c, status::bad_request, "query parameter " + *k + " is given twice");
    const RouteRow* row = match(path, c);
    if (!row) {
        if (method == bhttp::verb::get && serve_asset(c)) return;
        if (!authenticate(c)) return;
        return refuse(c, status::not_found, "no such route: " + std::string(path));
    }
    c.route = row->id;
    if (row->access == Access::User && !authenticate(c)) return;
    const bool in_room = row->path.find("{room}") != std::string_view::npos;
    if (in_room) {
        if (!text::valid_room(c.room))
            return refuse(c, status::bad_request,
                          "room names are 1 to 64 of A-Z a-z 0-9 _ . - (not . or ..)");
        if (!room_allowed(c, c.room)) return;
    }
    const Method* m = nullptr;
    std::string allow;
    for (const auto& each : row->methods) {
        if (each.verb == method) m = &each;
        if (!allow.empty()) allow += ", ";
        allow +=
            each.verb == bhttp::verb::get ? "GET, HEAD" : std::string(bhttp::to_string(each.verb));
    }
    if (!m) return wrong_method(c, allow.c_str());
    if (c.identity && c.identity->key && !key_allows(c, *m)) return;
    if (in_room && !admit(c, m->act)) return;
    m->handler(*this, c);
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
                "img-src 'self' data: blob:; frame-ancestors 'none'");
    reply(c, std::move(res));
    return true;
}

}  // namespace ssechat::http
