// The HTTP API: routes each request to the seed API, the native API, or operations, after
// authentication, CORS and the per-user limits.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "chat/metrics.hpp"
#include "http/auth.hpp"
#include "http/limits.hpp"
#include "http/request.hpp"
#include "http/session.hpp"
#include "model/event.hpp"
#include "sse/event.hpp"
#include "store/store.hpp"
#include "util/config.hpp"
#include "util/gate.hpp"

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
    // "anonymous", or the token algorithm.
    std::string auth_mode() const { return verifier_ ? verifier_->algorithm() : "anonymous"; }
    // Distinct users with an open stream.
    size_t users_streaming() { return streams_.keys(); }

  private:
    // Everything a handler needs to know about the request beyond its target.
    struct Ctx {
        Request& req;
        const std::shared_ptr<Session>& s;
        std::string_view path;
        std::optional<http_util::Query> query;   // parsed once; nullopt when malformed
        std::optional<auth::Identity> identity;  // set when tokens are required
        bool head = false;                       // HEAD: routed as GET, answered without body
        Route route = kRouteUnmatched;           // the template, for metrics and the access log
        std::string room = {};                   // the {room} of the path, once matched
        std::string id = {};                     // the {id} of the path, raw
        std::string emoji = {};                  // the {emoji} of the path, raw
        std::string user = "-";                  // once known, for the access log
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
    bool serve_asset(Ctx& c);
    // The acting user: the token's sub, else ?id= (or `fallback` when absent; null: required).
    std::optional<std::string> user(Ctx& c, const char* fallback, bool seed);
    bool room_allowed(Ctx& c, const std::string& room);
    // The rooms the caller's credential reaches (every room without a token).
    static model::RoomScope scope(const Ctx& c) {
        return c.identity ? c.identity->rooms : model::RoomScope();
    }
    bool rate_ok(Ctx& c, const std::string& user);
    chat::Shard& current_shard(const std::shared_ptr<Session>& s);
    // The response head of an event stream: Connection says what the request allows, and
    // CORS what --cors-origin grants.
    sse::Buffer stream_head(const Request& req);
    // The room, or null after answering 503 (room cap reached, or the store unreachable).
    std::shared_ptr<chat::Room> open_room(Ctx& c, const std::string& room);
    // `key`: the Idempotency-Key (native API only), or empty.
    void publish(Ctx& c, const std::string& room, std::string user, std::string text,
                 std::string key, bool seed, uint64_t reply_to = 0);
    // Stores a change (edit, delete, reaction) of message {id} and answers with its state.
    void change(Ctx& c, model::Event ev);
    // Rate limit, room, then the writer; answers when the commit is done.
    void submit(Ctx& c, const std::string& room, model::Event ev, bool seed);
    // The message {id} of the path; nullopt after answering 400.
    std::optional<uint64_t> message_id(Ctx& c);
    bool moderator(const Ctx& c) const;
    void stream(Ctx& c, const std::string& room, std::string user, bool seed);
    // Answers a stream request that cannot become a stream (pipelined behind, HEAD, too many
    // streams of the user) and returns false; else takes the user's stream slot.
    bool stream_admitted(Ctx& c, const std::string& user, limits::Ticket& ticket);

    // The route table: one row per path template, a handler per method.
    using Handler = void (Api::*)(Ctx&);
    enum class Access {
        Open,     // no token needed (health checks)
        Metrics,  // its own rule: see metrics_allowed()
        User,     // a token when tokens are on
    };
    struct RouteRow {
        Route id;
        std::string_view path;  // "{room}", "{id}", "{emoji}" each stand for one segment
        Access access;
        std::vector<std::pair<beast::http::verb, Handler>> methods;
        size_t segments = static_cast<size_t>(std::count(path.begin(), path.end(), '/'));
    };
    static const std::vector<RouteRow>& routes();
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
    limits::Counter connections_;               // keyed by client address
    limits::Counter streams_;                   // keyed by user
    limits::RateLimiter publishes_;             // keyed by user
    limits::RateLimiter typings_;               // keyed by user: typing is not publishing
    bool any_origin_;                           // cors_origins is "*"
    sse::Buffer shared_head_;  // a kept-alive stream's head when any origin may read: one for all
    Gate answers_;
    mutable std::atomic<int64_t> warn_second_{0};  // 5xx log lines: the current second
    mutable std::atomic<int> warn_count_{0};       // and how many were written in it
    std::atomic<bool> draining_{false};
};

}  // namespace ssechat::http
