// The HTTP API's core: routes each request, after authentication, CORS and the access check,
// to a handler of one resource (ops, streams, seed, rooms, me, room rules, accounts, admin
// keys and webhooks, push, search, files, messages), each in a file of its own with its own
// state; and gives the resources what they share: answering, the acting user, access.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <tuple>
#include <vector>

#include "http/accounts.hpp"
#include "http/admin_keys.hpp"
#include "http/admin_webhooks.hpp"
#include "http/api_keys.hpp"
#include "http/auth.hpp"
#include "http/exchange.hpp"
#include "http/file_routes.hpp"
#include "http/http_metrics.hpp"
#include "http/limits.hpp"
#include "http/me.hpp"
#include "http/messages.hpp"
#include "http/ops.hpp"
#include "http/push_routes.hpp"
#include "http/request.hpp"
#include "http/room_routes.hpp"
#include "http/room_rules.hpp"
#include "http/search_routes.hpp"
#include "http/seed.hpp"
#include "http/session.hpp"
#include "http/sign_ins.hpp"
#include "http/streams.hpp"
#include "model/access.hpp"
#include "store/store.hpp"
#include "util/config.hpp"
#include "util/gate.hpp"
#include "util/pool.hpp"

namespace ssechat::chat {
class Hub;
class Shard;
class Room;
}  // namespace ssechat::chat

namespace ssechat::http {

class Api {
  public:
    // Throws std::runtime_error when the JWT key cannot be used.
    Api(const Config& cfg, chat::Hub& hub, std::vector<chat::Shard*> shards);
    const Config& config() const { return cfg_; }
    limits::Counter& connections() { return connections_; }
    // A slot for an upload body from `address`, or null (FileRoutes::admit_upload).
    std::shared_ptr<void> admit_upload(const std::string& address) {
        return get<FileRoutes>().admit_upload(address);
    }
    // Requests read and not yet answered; shutdown waits for them.
    Gate& answers() { return answers_; }
    // Shutdown began: answers close their connections, and kept-alive clients go elsewhere.
    void drain() { draining_ = true; }

    // Answers through s->respond(), now or after a commit, or turns s into a stream.
    void handle(Request&& req, const std::shared_ptr<Session>& s);

    // {"status":N,"error":"why"} with the status.
    Response error(beast::http::status status, const std::string& why) const;

    // Counts an answered request by route template and status class, writes its access-log
    // line when --access-log is on, logs a 5xx with its reason (at most a few a second) and,
    // at debug level, a 4xx. `body` is the answer's body, for its size and reason.
    void record(std::string_view method, Route route, unsigned status, const std::string& body,
                std::chrono::steady_clock::time_point start, std::string_view user) const;
    // "anonymous", "accounts", or the token algorithm.
    std::string auth_mode() const {
        return sign_ins_ ? "accounts" : verifier_ ? verifier_->algorithm() : "anonymous";
    }
    // The port the server listens on, once bound: the default --public-url needs it.
    void set_port(uint16_t port);
    static constexpr const char* kSessionCookie = "ssechat_session";
    // With --accounts, the sign-ins (null without).
    SignIns* sign_ins() { return sign_ins_.get(); }
    ApiKeys& api_keys() { return *keys_; }
    // The webhook engine, or null (a store without webhooks): stopped before the store goes.
    WebhookEngine* webhooks() { return get<AdminWebhooks>().engine(); }
    PushEngine* push() { return get<PushRoutes>().engine(); }
    // Distinct users with an open stream.
    size_t users_streaming() { return get<Streams>().users(); }

    // ---- What every resource's handlers use ----
    chat::Hub& hub() { return hub_; }
    const std::vector<chat::Shard*>& shards() const { return shards_; }
    // The resource of type R (one of Resources below).
    template <class R>
    R& get() {
        return std::get<R>(resources_);
    }
    // Searches and file I/O: off the loops, bounded.
    work::Pool& work() { return work_; }
    bool draining() const { return draining_; }
    auth::Verifier* verifier() { return verifier_.get(); }

    // Records, then hands the answer to the session.
    void send(Ctx& c, Response res, bool framed);
    void reply(Ctx& c, Response res);
    // The Origin header when only listed origins are allowed; the grant for a response.
    std::optional<std::string> origin_of(const Request& req) const;
    void grant_origin(Response& res, const std::optional<std::string>& origin) const;
    bool any_origin() const { return any_origin_; }
    // Answers `why` with `st` (401s with WWW-Authenticate), counted as a bad request.
    void refuse(Ctx& c, beast::http::status st, const std::string& why);
    // 405 with the Allow header listing `allow`.
    void wrong_method(Ctx& c, const char* allow);
    // 503: the store is unavailable.
    Response store_down() const {
        return error(beast::http::status::service_unavailable,
                     "the store is unavailable, retry later");
    }
    // Whether a cookie-authenticated request that changes something comes from our origin.
    bool same_origin(const Ctx& c) const;
    // An answer given later, from another thread: it is recorded and sent on the request's
    // loop. Holds what it needs of the request, which is gone by then.
    using Later = std::function<void(Response)>;
    Later later(Ctx& c);
    // The acting user: the token's sub, else ?id= (or `fallback` when absent; null: required).
    std::optional<std::string> user(Ctx& c, const char* fallback, bool seed);
    // The {user} of the path, decoded and checked; nullopt after answering 400.
    std::optional<std::string> target_user(Ctx& c);
    // Whether the credential's rooms claim covers `room`; false after answering 403.
    bool room_allowed(Ctx& c, const std::string& room);
    // The one access check: loads c.room, finds the caller's standing in it and asks
    // model::may() whether they may `act`; answers (404 no such room, 403 why, or 503) and
    // returns false when not. Every route with {room}, and the seed API for its room, pass
    // through it before their handler runs.
    bool admit(Ctx& c, model::Act act);
    // The same check's verdict without an answer, for a caller that must not say why (a
    // file's room is never named to someone who may not read it). Throws StoreError.
    model::Decision verdict(Ctx& c, model::Act act);
    // The caller's server-wide role: the token's admin and mod claims, or --admins and
    // --moderators without tokens.
    model::Role server_role(const Ctx& c, const std::string& user) const;
    // The caller is an admin (an admin account or token, or a key with the admin scope),
    // else false after answering 403.
    bool admins_only(Ctx& c);
    // Loads the admitted room into c.loaded for a handler that needs all of its rules; false
    // after answering 503.
    bool load(Ctx& c);
    // Whether the room of c (loaded) was ever used: a profile, members or an event; nullopt
    // after answering 503.
    std::optional<bool> exists(Ctx& c);
    // The rooms the caller's credential reaches (every room without a token).
    static model::RoomScope scope(const Ctx& c) {
        return c.identity ? c.identity->rooms : model::RoomScope();
    }
    // A list's ?limit= (1 to 1000, 100 when absent) into n; false after answering 400.
    bool page_limit(Ctx& c, size_t& n);
    // The loop the request's connection is on.
    chat::Shard& current_shard(const std::shared_ptr<Session>& s);
    // The room, or null after answering 503 (room cap reached, or the store unreachable).
    std::shared_ptr<chat::Room> open_room(Ctx& c, const std::string& room);

  private:
    bool authenticate(Ctx& c);
    bool authenticate_token(Ctx& c);
    // An API key in the Authorization header, with ?as= when it may.
    bool authenticate_key(Ctx& c, const std::string& presented);
    // With --accounts: the session cookie (checked against CSRF), else a bearer token.
    bool authenticate_account(Ctx& c);
    // --first-admin: makes the account when no admin exists.
    void first_admin();
    bool serve_asset(Ctx& c);

    // The route table: one row per path template, a handler per method, and for a path with
    // {room} what the method does there (admit() checks it before the handler runs). A
    // handler is a member of one resource, called on the Api's instance of it (on<>).
    using Handler = void (*)(Api&, Ctx&);
    template <auto F>
    static void call(Api& api, Ctx& c);
    struct Method {
        beast::http::verb verb;
        Handler handler;
        model::Act act = model::Act::Read;
        // The scopes of which an API key needs one (admin always does); 0: as the act implies
        // (model::scopes_for()).
        model::KeyScopes keys = 0;
    };
    enum class Access {
        Open,  // no token needed (health checks; /metrics has its own rule)
        User,  // a token when tokens are on
    };
    struct RouteRow {
        Route id;
        std::string_view path;  // "{room}", "{id}", "{emoji}", "{user}", "{name}": a segment each
        Access access;
        std::vector<Method> methods;
        size_t segments = static_cast<size_t>(std::count(path.begin(), path.end(), '/'));
    };
    static const std::vector<RouteRow>& routes();
    // Whether an API key's scopes reach this method; false after answering 403.
    bool key_allows(Ctx& c, const Method& m);
    // The row for a path, with its {room}, {id} and {emoji} put in c; or null.
    static const RouteRow* match(std::string_view path, Ctx& c);

    const Config& cfg_;
    chat::Hub& hub_;
    std::vector<chat::Shard*> shards_;
    std::unique_ptr<auth::Verifier> verifier_;  // null in anonymous mode
    std::unique_ptr<SignIns> sign_ins_;         // --accounts
    std::unique_ptr<ApiKeys> keys_;             // always: keys work in every auth mode
    std::vector<std::string> own_origins_;      // signed-in requests may come from these
    limits::Counter connections_;               // keyed by client address
    bool any_origin_;                           // cors_origins is "*"
    Gate answers_;
    mutable std::atomic<int64_t> warn_second_{0};  // 5xx log lines: the current second
    mutable std::atomic<int> warn_count_{0};       // and how many were written in it
    std::atomic<bool> draining_{false};
    // Each resource: its handlers and its own state (resources/*.hpp).
    using Resources = std::tuple<Ops, Streams, Seed, RoomRoutes, Me, RoomRules, Accounts, AdminKeys,
                                 AdminWebhooks, PushRoutes, SearchRoutes, FileRoutes, Messages>;
    Resources resources_;
    // Last, so that it is stopped (its queue answered) before anything its jobs use (the
    // resources' state) is destroyed.
    work::Pool work_{2, 256};
};

}  // namespace ssechat::http
