// The HTTP API: routes each request to the seed API, the native API, or operations, after
// authentication, CORS and the per-user limits.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "chat/writer.hpp"
#include "http/api_keys.hpp"
#include "http/auth.hpp"
#include "http/files.hpp"
#include "http/http_metrics.hpp"
#include "http/limits.hpp"
#include "http/oidc.hpp"
#include "http/push.hpp"
#include "http/request.hpp"
#include "http/session.hpp"
#include "http/sign_ins.hpp"
#include "http/webhooks.hpp"
#include "model/access.hpp"
#include "model/event.hpp"
#include "sse/event.hpp"
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
    // A slot for an upload body from `address`, or null when kMaxUploads are in flight (or
    // kMaxUploadsPerAddress from it): each may be --max-upload bytes held in memory.
    std::shared_ptr<void> admit_upload(const std::string& address) {
        limits::Ticket t;
        return uploads_.admit(address, t) == limits::Counter::Admit::Ok ? t : nullptr;
    }
    static constexpr size_t kMaxUploads = 8, kMaxUploadsPerAddress = 4;
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
    // The webhook engine, or null (Redis): stopped before the store goes.
    WebhookEngine* webhooks() { return webhooks_.get(); }
    PushEngine* push() { return push_.get(); }
    // Distinct users with an open stream.
    size_t users_streaming() { return streams_.keys(); }

  private:
    // Everything a handler needs to know about the request beyond its target.
    struct Ctx {
        Request& req;
        const std::shared_ptr<Session>& s;
        std::string_view path;
        std::optional<http_util::Query> query;   // parsed once; nullopt when malformed
        std::optional<auth::Identity> identity;  // set when tokens or accounts are required
        std::optional<Signed> session = {};      // signed in with the session cookie
        // What the request's streams end with: a session's or an API key's; null for a token
        // (it ends when it expires).
        std::shared_ptr<chat::Credential> credential = {};
        bool head = false;              // HEAD: routed as GET, answered without body
        Route route = kRouteUnmatched;  // the template, for metrics and the access log
        std::string room = {};          // the {room} of the path, once matched
        std::string id = {};            // the {id} of the path, raw
        std::string emoji = {};         // the {emoji} of the path, raw
        std::string target = {};        // the {user} of the path, raw
        std::string name = {};          // the {name} of the path, raw
        // Set by admit() for a route with {room}: the room, loaded, and the caller's place
        // in it (the acting user is `actor`, "" when anonymous and unnamed).
        std::shared_ptr<chat::Room> loaded = {};  // when it was loaded already (else load())
        model::Standing standing = {};
        model::Visibility visibility = model::Visibility::Public;
        std::string actor = {};
        std::string user = "-";  // once known, for the access log
        std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    };
    // Records, then hands the answer to the session.
    void send(Ctx& c, Response res, bool framed);
    bool metrics_allowed(Ctx& c);
    void reply(Ctx& c, Response res);
    // The Origin header when only listed origins are allowed; the grant for a response.
    std::optional<std::string> origin_of(const Request& req) const;
    void grant_origin(Response& res, const std::optional<std::string>& origin) const;
    void refuse(Ctx& c, beast::http::status st, const std::string& why);
    // 405 with the Allow header listing `allow`.
    void wrong_method(Ctx& c, const char* allow);
    bool authenticate(Ctx& c);
    bool authenticate_token(Ctx& c);
    // An API key in the Authorization header (api_keys.cpp), with ?as= when it may.
    bool authenticate_key(Ctx& c, const std::string& presented);
    // --first-admin: makes the account when no admin exists.
    void first_admin();
    // With --accounts: the session cookie (checked against CSRF), else a bearer token.
    bool authenticate_account(Ctx& c);
    // Whether a cookie-authenticated request that changes something comes from our origin.
    bool same_origin(const Ctx& c) const;
    // An answer given later, from another thread: it is recorded and sent on the request's
    // loop. Holds what it needs of the request, which is gone by then.
    using Later = std::function<void(Response)>;
    Later later(Ctx& c);
    bool serve_asset(Ctx& c);
    // The acting user: the token's sub, else ?id= (or `fallback` when absent; null: required).
    std::optional<std::string> user(Ctx& c, const char* fallback, bool seed);
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
    // Loads the admitted room into c.loaded for a handler that needs all of its rules; false
    // after answering 503.
    bool load(Ctx& c);
    // Whether the room of c (loaded) was ever used: a profile, members or an event.
    static bool exists(const Ctx& c);
    // The rooms the caller's credential reaches (every room without a token).
    static model::RoomScope scope(const Ctx& c) {
        return c.identity ? c.identity->rooms : model::RoomScope();
    }
    bool rate_ok(Ctx& c, const std::string& user);
    // A list's ?limit= (1 to 1000, 100 when absent) into n; false after answering 400.
    bool page_limit(Ctx& c, size_t& n);
    chat::Shard& current_shard(const std::shared_ptr<Session>& s);
    // The response head of an event stream: Connection says what the request allows, and
    // CORS what --cors-origin grants.
    sse::Buffer stream_head(const Request& req);
    // The room, or null after answering 503 (room cap reached, or the store unreachable).
    std::shared_ptr<chat::Room> open_room(Ctx& c, const std::string& room);
    // `key`: the Idempotency-Key (native API only), or empty.
    // `after` runs with the outcome as soon as it is known (on the writer's thread).
    using After = std::function<void(chat::PublishOutcome)>;
    void publish(Ctx& c, const std::string& room, std::string user, std::string text,
                 std::string key, bool seed, uint64_t reply_to = 0, std::string files = {},
                 After after = {});
    // Stores a change (edit, delete, reaction) of message {id} and answers with its state.
    void change(Ctx& c, model::Event ev, After after = {});
    // Rate limit, room, then the writer; answers when the commit is done. `after` runs first
    // with the outcome, or with StoreFailed when it is refused before the writer.
    void submit(Ctx& c, const std::string& room, model::Event ev, bool seed, After after = {});
    // The message {id} of the path; nullopt after answering 400.
    std::optional<uint64_t> message_id(Ctx& c);
    void stream(Ctx& c, const std::string& room, std::string user, bool seed);
    // Answers a stream request that cannot become a stream (pipelined behind, HEAD, too many
    // streams of the user) and returns false; else takes the user's stream slot.
    bool stream_admitted(Ctx& c, const std::string& user, limits::Ticket& ticket);

    // The route table: one row per path template, a handler per method, and for a path with
    // {room} what the method does there (admit() checks it before the handler runs).
    using Handler = void (Api::*)(Ctx&);
    struct Method {
        beast::http::verb verb;
        Handler handler;
        model::Act act = model::Act::Read;
        // The scopes of which an API key needs one (admin always does); 0: as the act implies
        // (model::scopes_for()).
        model::KeyScopes keys = 0;
    };
    enum class Access {
        Open,     // no token needed (health checks)
        Metrics,  // its own rule: see metrics_allowed()
        User,     // a token when tokens are on
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

    // ops.cpp
    void healthz(Ctx& c);
    void metrics_page(Ctx& c);
    void me(Ctx& c);
    void preflight(Ctx& c);
    // seed.cpp
    void seed_stream(Ctx& c);
    void seed_publish(Ctx& c);
    // rooms.cpp
    void list_rooms(Ctx& c);
    void native_stream(Ctx& c);
    void presence(Ctx& c);
    void typing(Ctx& c);
    // me.cpp
    void my_rooms(Ctx& c);
    void join_room(Ctx& c);
    void leave_room(Ctx& c);
    void mark_read(Ctx& c);
    void member_op(Ctx& c, store::MemberOp::Op op, uint64_t id);
    void receipts(Ctx& c);
    void user_stream(Ctx& c);
    void open_dm(Ctx& c);
    void get_settings(Ctx& c);
    void put_settings(Ctx& c);
    // room_rules.cpp: profiles, members, roles, bans and mutes
    void create_room(Ctx& c);
    void get_room(Ctx& c);
    void patch_room(Ctx& c);
    void list_members(Ctx& c);
    void put_member(Ctx& c);
    void remove_member(Ctx& c);
    void list_bans(Ctx& c);
    void list_mutes(Ctx& c);
    void put_ban(Ctx& c);
    void put_mute(Ctx& c);
    void lift_ban(Ctx& c);
    void lift_mute(Ctx& c);
    void restrict(Ctx& c, store::MemberOp::Op op);
    void list_restrictions(Ctx& c, bool bans);
    // The {user} of the path, decoded and checked; nullopt after answering 400.
    std::optional<std::string> target_user(Ctx& c);
    // Queues changes of rules (one transaction) and answers with what `answer` makes of the
    // last one's result, on the request's loop; a store failure answers 503.
    using RulesAnswer = std::function<Response(const store::MemberOp&)>;
    void change_rules(Ctx& c, std::vector<store::MemberOp> ops, std::shared_ptr<chat::Room> room,
                      RulesAnswer answer);
    // accounts.cpp: sign-in, sessions, invites, the account and user names
    void auth_info(Ctx& c);
    void login(Ctx& c);
    void oidc_start(Ctx& c);
    void oidc_callback(Ctx& c);
    // A page for the person at the browser after single sign-on went wrong.
    Response oidc_page(int status, const std::string& why) const;
    // The Set-Cookie of a sign-in's state (empty: clears it).
    std::string oidc_cookie(const std::string& value) const;
    void logout(Ctx& c);
    void logout_all(Ctx& c);
    void list_sessions(Ctx& c);
    void end_session(Ctx& c);
    void patch_me(Ctx& c);
    void put_password(Ctx& c);
    void create_invite(Ctx& c);
    void list_invites(Ctx& c);
    void drop_invite(Ctx& c);
    void accept_invite(Ctx& c);
    void signup(Ctx& c);
    void get_user(Ctx& c);
    void list_users(Ctx& c);
    // A sign-in route's request (login, accept, sign-up) with an Origin that is not ours:
    // false after answering 403. Without Origin (an API client) it passes.
    bool not_cross_site(Ctx& c);
    // Accounts are on, else false after answering 404.
    bool accounts_on(Ctx& c);
    // The caller is an admin (an admin account, a token's admin claim, or an API key with
    // the users or admin scope), else false after answering 403.
    bool admin_only(Ctx& c);
    // api_keys.cpp: /admin/apikeys, for admins (an admin account or token, or a key with the
    // admin scope)
    void list_keys(Ctx& c);
    void create_key(Ctx& c);
    void revoke_key(Ctx& c);
    bool admins_only(Ctx& c);
    // admin_webhooks.cpp: /admin/webhooks, for admins, on a store that keeps webhooks
    bool webhooks_on(Ctx& c);
    void list_webhooks(Ctx& c);
    void create_webhook(Ctx& c);
    void get_webhook(Ctx& c);
    void patch_webhook(Ctx& c);
    void delete_webhook(Ctx& c);
    void webhook_deliveries(Ctx& c);
    // push_routes.cpp: GET /push/key, PUT and DELETE /me/push, PUT /me/rooms/{room}/notify
    bool push_on(Ctx& c);
    void push_key(Ctx& c);
    void put_push(Ctx& c);
    void delete_push(Ctx& c);
    void put_notify(Ctx& c);
    // Makes an account from {"user_id","password","display_name"} with invite `code` ("":
    // an open sign-up) and signs it in.
    void claim(Ctx& c, const std::string& code);
    // Runs `end` (sessions ending), then answers 204 and clears the cookie; 503 when the
    // store is away.
    void signed_out(Ctx& c, const std::function<void()>& end);
    // 503: the store is unavailable.
    Response store_down() const {
        return error(beast::http::status::service_unavailable,
                     "the store is unavailable, retry later");
    }
    // The Set-Cookie of a session (an empty secret clears it).
    std::string session_cookie(const std::string& secret) const;
    // search.cpp
    void search_room(Ctx& c);
    void search_me(Ctx& c);
    // Parses the query, narrows `rooms` (all readable by the caller) by in:, and answers from
    // the store's search, run on work_.
    void search(Ctx& c, std::vector<std::string> rooms);
    // files.cpp
    void upload_file(Ctx& c);
    void get_file(Ctx& c);
    // messages.cpp
    void native_publish(Ctx& c);
    void history(Ctx& c);
    void get_message(Ctx& c);
    void edit_message(Ctx& c);
    void delete_message(Ctx& c);
    void add_reaction(Ctx& c);
    void remove_reaction(Ctx& c);
    void react(Ctx& c, bool remove);

    const Config& cfg_;
    chat::Hub& hub_;
    std::vector<chat::Shard*> shards_;
    std::unique_ptr<auth::Verifier> verifier_;  // null in anonymous mode
    std::unique_ptr<SignIns> sign_ins_;         // --accounts
    std::unique_ptr<Oidc> oidc_;                // --oidc-issuer
    std::unique_ptr<ApiKeys> keys_;             // always: keys work in every auth mode
    std::vector<std::string> own_origins_;      // signed-in requests may come from these
    limits::Counter connections_;               // keyed by client address
    limits::Counter streams_;                   // keyed by user
    limits::Counter uploads_{kMaxUploads, kMaxUploadsPerAddress};  // bodies in flight
    limits::RateLimiter publishes_;                                // keyed by user
    limits::RateLimiter typings_;  // keyed by user: typing is not publishing
    bool any_origin_;              // cors_origins is "*"
    sse::Buffer shared_head_;  // a kept-alive stream's head when any origin may read: one for all
    Gate answers_;
    mutable std::atomic<int64_t> warn_second_{0};  // 5xx log lines: the current second
    mutable std::atomic<int> warn_count_{0};       // and how many were written in it
    std::atomic<bool> draining_{false};
    std::unique_ptr<Files> files_;             // null when the store keeps no files (Redis)
    std::unique_ptr<WebhookEngine> webhooks_;  // null when the store keeps no webhooks
    std::unique_ptr<PushEngine> push_;
    // Searches and file I/O: off the loops, bounded. Last, so that it is stopped (its queue
    // answered) before anything its jobs use is destroyed.
    work::Pool work_{2, 256};
};

}  // namespace ssechat::http
