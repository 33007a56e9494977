// Process-wide counters and histograms, rendered in the Prometheus text format at /metrics.
#pragma once
#include <array>
#include <atomic>
#include <boost/system/error_code.hpp>
#include <cstdint>
#include <string>

namespace ssechat {

// Fixed buckets (seconds or counts); observe() is lock-free.
class Histogram {
  public:
    static constexpr size_t kBuckets = 12;
    explicit Histogram(std::array<double, kBuckets> bounds) : bounds_(bounds) {}
    void observe(double v);
    void render(std::string& out, const std::string& name, const std::string& help) const;

  private:
    std::array<double, kBuckets> bounds_;
    std::array<std::atomic<uint64_t>, kBuckets + 1> counts_{};
    std::atomic<uint64_t> count_{0};
    std::atomic<double> sum_{0};
};

// Route templates for ssechat_http_requests_total and the access log: the raw path is never
// a label (room names would make the series unbounded).
enum Route : uint8_t {
    kRoutePage,  // "/" and the page's files
    kRouteHealthz,
    kRouteMetrics,
    kRouteSeedStream,   // GET /messages
    kRouteSeedPublish,  // POST /message
    kRouteRooms,
    kRouteRoomEvents,
    kRouteRoomMessages,
    kRouteRoomPresence,
    kRouteRoomMessage,   // one message: PATCH, DELETE, GET
    kRouteRoomReaction,  // one user's emoji on a message: PUT, DELETE
    kRouteRoomTyping,
    kRouteMe,             // GET /me
    kRouteMeRooms,        // GET /me/rooms
    kRouteMeRoom,         // PUT, DELETE /me/rooms/{room}
    kRouteMeRead,         // PUT /me/rooms/{room}/read
    kRouteMeEvents,       // GET /me/events
    kRouteRoomReceipts,   // GET /rooms/{room}/receipts
    kRouteRoom,           // GET, PATCH /rooms/{room}
    kRouteRoomMembers,    // GET /rooms/{room}/members
    kRouteRoomMember,     // PUT, DELETE /rooms/{room}/members/{user}
    kRouteRoomBans,       // GET /rooms/{room}/bans
    kRouteRoomBan,        // PUT, DELETE /rooms/{room}/bans/{user}
    kRouteRoomMutes,      // GET /rooms/{room}/mutes
    kRouteRoomMute,       // PUT, DELETE /rooms/{room}/mutes/{user}
    kRouteMeDm,           // PUT /me/dms/{user}
    kRouteMeSettings,     // GET, PUT /me/settings
    kRouteAuth,           // GET /auth: how to sign in here
    kRouteAuthLogin,      // POST /auth/login
    kRouteAuthLogout,     // POST /auth/logout
    kRouteAuthLogoutAll,  // POST /auth/logout-all
    kRouteAuthSignup,     // POST /auth/signup
    kRouteAuthInvites,    // GET, POST /auth/invites
    kRouteAuthInvite,     // DELETE /auth/invites/{code}
    kRouteAuthAccept,     // POST /auth/invites/{code}/accept
    kRouteOidcStart,      // GET /auth/oidc/start
    kRouteOidcCallback,   // GET /auth/oidc/callback
    kRouteMeSessions,     // GET /me/sessions
    kRouteMeSession,      // DELETE /me/sessions/{id}
    kRouteMePassword,     // PUT /me/password
    kRouteUsers,          // GET /users?ids=
    kRouteUser,           // GET /users/{user}
    kRouteRoomSearch,     // GET /rooms/{room}/search
    kRouteMeSearch,       // GET /me/search
    kRouteRoomFiles,      // POST /rooms/{room}/files
    kRouteFile,           // GET /files/{id}/{name}
    kRoutePreflight,      // OPTIONS
    kRouteUnmatched,      // 404, and requests refused before routing
    kRouteUnparsed,       // refused by the HTTP layer (framing, limits)
    kRouteCount
};
const char* route_name(Route r);

struct Metrics {
    using Counter = std::atomic<uint64_t>;
    Counter connections_total{0};  // TCP connections accepted
    std::atomic<int64_t> streams_native{0};
    std::atomic<int64_t> streams_view{0};
    std::atomic<int64_t> streams_user{0};  // GET /me/events
    // TLS: connections, handshakes done, and failed ones by reason.
    Counter h2_connections{}, h2_streams{}, h2_event_streams{};
    Counter h2_resets_received{}, h2_resets_sent{};
    Counter h2_goaway_flood{}, h2_goaway_protocol{}, h2_goaway_stalled{};
    Counter h2_refused_bodies{};  // 503s for too many bodies held by flow control
    Counter tls_connections{};
    Counter tls_handshakes{};
    Counter tls_fail_timeout{}, tls_fail_protocol{}, tls_fail_other{};
    // HTTPS event streams by who writes their records after the handshake.
    Counter tls_streams_sealed{}, tls_streams_openssl{}, tls_streams_kernel{};
    void tls_handshake(const boost::system::error_code& ec);
    Counter deliveries{0};  // events handed to a stream (replays excluded)
    Counter publish_ok{0};
    Counter publish_rejected{0};  // refused for bad input (4xx)
    Counter publish_failed{0};    // the store failed or was overloaded (503)
    Counter slow_disconnects{0};  // streams dropped for passing their outbound limit
    Counter bad_requests{0};      // malformed HTTP or refused requests, all routes
    Counter auth_failures{0};     // missing, bad or expired tokens, and rooms not granted
    Counter rate_limited{0};      // publishes refused by the per-user rate limit
    Counter too_many_streams{0};  // streams refused by the per-user limit
    Counter refused_total{0};     // connections refused at the total limit
    Counter refused_per_ip{0};    // connections refused at the per-address limit
    Counter feed_messages{0};     // cluster mode: messages read from the cluster log
    Counter feed_catchups{0};     // cluster mode: rooms re-read after an outage or a trimmed log
    Counter feed_gap_fills{0};    // cluster mode: messages read from a room stream to fill a gap
    Counter feed_resets{0};       // cluster mode: live resets sent for ids that will not come
    std::atomic<int64_t> open_connections{0};  // set at scrape time from the limiter
    std::atomic<int64_t> rooms_loaded{0};      // set at scrape time from the registry
    std::atomic<int64_t> users_online{0};      // set at scrape time: users with a stream here
    std::array<std::array<Counter, 5>, kRouteCount> http_requests{};  // [route][status / 100 - 1]
    Histogram publish_latency{
        {.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}};
    Histogram commit_latency{{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}};
    Histogram commit_batch{{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096}};

    std::string render() const;
};

Metrics& metrics();

}  // namespace ssechat
