// The HTTP layer's counters (requests by route template, connections, TLS, HTTP/2, refusals),
// rendered into /metrics beside the chat core's.
#pragma once
#include <array>
#include <atomic>
#include <boost/system/error_code.hpp>
#include <cstdint>
#include <string>

namespace ssechat::http {

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
    kRouteMe,               // GET /me
    kRouteMeRooms,          // GET /me/rooms
    kRouteMeRoom,           // PUT, DELETE /me/rooms/{room}
    kRouteMeRead,           // PUT /me/rooms/{room}/read
    kRouteMeEvents,         // GET /me/events
    kRouteRoomReceipts,     // GET /rooms/{room}/receipts
    kRouteRoom,             // GET, PATCH /rooms/{room}
    kRouteRoomMembers,      // GET /rooms/{room}/members
    kRouteRoomMember,       // PUT, DELETE /rooms/{room}/members/{user}
    kRouteRoomBans,         // GET /rooms/{room}/bans
    kRouteRoomBan,          // PUT, DELETE /rooms/{room}/bans/{user}
    kRouteRoomMutes,        // GET /rooms/{room}/mutes
    kRouteRoomMute,         // PUT, DELETE /rooms/{room}/mutes/{user}
    kRouteMeDm,             // PUT /me/dms/{user}
    kRouteMeSettings,       // GET, PUT /me/settings
    kRouteAuth,             // GET /auth: how to sign in here
    kRouteAuthLogin,        // POST /auth/login
    kRouteAuthLogout,       // POST /auth/logout
    kRouteAuthLogoutAll,    // POST /auth/logout-all
    kRouteAuthSignup,       // POST /auth/signup
    kRouteAuthInvites,      // GET, POST /auth/invites
    kRouteAuthInvite,       // DELETE /auth/invites/{code}
    kRouteAuthAccept,       // POST /auth/invites/{code}/accept
    kRouteOidcStart,        // GET /auth/oidc/start
    kRouteOidcCallback,     // GET /auth/oidc/callback
    kRouteMeSessions,       // GET /me/sessions
    kRouteMeSession,        // DELETE /me/sessions/{id}
    kRouteMePassword,       // PUT /me/password
    kRouteUsers,            // GET /users?ids=
    kRouteUser,             // GET /users/{user}
    kRouteRoomSearch,       // GET /rooms/{room}/search
    kRouteMeSearch,         // GET /me/search
    kRouteRoomFiles,        // POST /rooms/{room}/files
    kRouteFile,             // GET /files/{id}/{name}
    kRouteAdminKeys,        // GET, POST /admin/apikeys
    kRouteAdminKey,         // DELETE /admin/apikeys/{name}
    kRouteAdminWebhooks,    // GET, POST /admin/webhooks
    kRouteAdminWebhook,     // GET, PATCH, DELETE /admin/webhooks/{id}
    kRouteAdminDeliveries,  // GET /admin/webhooks/{id}/deliveries
    kRoutePushKey,          // GET /push/key
    kRouteMePush,           // PUT, DELETE /me/push
    kRouteMeNotify,         // PUT /me/rooms/{room}/notify
    kRoutePreflight,        // OPTIONS
    kRouteUnmatched,        // 404, and requests refused before routing
    kRouteUnparsed,         // refused by the HTTP layer (framing, limits)
    kRouteCount
};
const char* route_name(Route r);

struct HttpMetrics {
    using Counter = std::atomic<uint64_t>;
    Counter connections_total{0};  // TCP connections accepted
    Counter h2_connections{}, h2_streams{}, h2_event_streams{};
    Counter h2_resets_received{}, h2_resets_sent{};
    Counter h2_goaway_flood{}, h2_goaway_protocol{}, h2_goaway_stalled{};
    Counter h2_refused_bodies{};  // 503s for too many bodies held by flow control
    // Requests the server makes on its own, by outcome: webhook deliveries (ok: a 2xx) and
    // pushes (sent: a 2xx; gone: 404/410, the subscription dropped; retried: 429, 5xx or no
    // answer, tried again; failed: given up).
    Counter webhook_ok{}, webhook_failed{};
    Counter push_sent{}, push_gone{}, push_retried{}, push_failed{};
    // TLS: connections, handshakes done, and failed ones by reason.
    Counter tls_connections{};
    Counter tls_handshakes{};
    Counter tls_fail_timeout{}, tls_fail_protocol{}, tls_fail_other{};
    // HTTPS event streams by who writes their records after the handshake.
    Counter tls_streams_sealed{}, tls_streams_openssl{}, tls_streams_kernel{};
    void tls_handshake(const boost::system::error_code& ec);
    Counter bad_requests{0};      // malformed HTTP or refused requests, all routes
    Counter auth_failures{0};     // missing, bad or expired tokens, and rooms not granted
    Counter rate_limited{0};      // publishes refused by the per-user rate limit
    Counter too_many_streams{0};  // streams refused by the per-user limit
    Counter refused_total{0};     // connections refused at the total limit
    Counter refused_per_ip{0};    // connections refused at the per-address limit
    std::atomic<int64_t> open_connections{0};  // set at scrape time from the limiter
    std::array<std::array<Counter, 5>, kRouteCount> http_requests{};  // [route][status / 100 - 1]

    void render(std::string& out) const;
};

HttpMetrics& http_metrics();

}  // namespace ssechat::http
