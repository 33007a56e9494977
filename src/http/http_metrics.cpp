// The HTTP layer's counters in the Prometheus text format.
#include "http/http_metrics.hpp"

#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <iterator>

#include "util/prometheus.hpp"

namespace ssechat::http {

using prom::labeled;
using prom::line;

const char* route_name(Route r) {
    // Unsized, so that a route added to the enum but not here fails to compile.
    static constexpr const char* names[] = {"/{page}",
                                            "/healthz",
                                            "/metrics",
                                            "/messages",
                                            "/message",
                                            "/rooms",
                                            "/rooms/{room}/events",
                                            "/rooms/{room}/messages",
                                            "/rooms/{room}/presence",
                                            "/rooms/{room}/messages/{id}",
                                            "/rooms/{room}/messages/{id}/reactions/{emoji}",
                                            "/rooms/{room}/typing",
                                            "/me",
                                            "/me/rooms",
                                            "/me/rooms/{room}",
                                            "/me/rooms/{room}/read",
                                            "/me/events",
                                            "/rooms/{room}/receipts",
                                            "/rooms/{room}",
                                            "/rooms/{room}/members",
                                            "/rooms/{room}/members/{user}",
                                            "/rooms/{room}/bans",
                                            "/rooms/{room}/bans/{user}",
                                            "/rooms/{room}/mutes",
                                            "/rooms/{room}/mutes/{user}",
                                            "/me/dms/{user}",
                                            "/me/settings",
                                            "/auth",
                                            "/auth/login",
                                            "/auth/logout",
                                            "/auth/logout-all",
                                            "/auth/signup",
                                            "/auth/invites",
                                            "/auth/invites/{code}",
                                            "/auth/invites/{code}/accept",
                                            "/auth/oidc/start",
                                            "/auth/oidc/callback",
                                            "/me/sessions",
                                            "/me/sessions/{id}",
                                            "/me/password",
                                            "/users",
                                            "/users/{user}",
                                            "/rooms/{room}/search",
                                            "/me/search",
                                            "/rooms/{room}/files",
                                            "/files/{id}/{name}",
                                            "/admin/apikeys",
                                            "/admin/apikeys/{name}",
                                            "/admin/webhooks",
                                            "/admin/webhooks/{id}",
                                            "/admin/webhooks/{id}/deliveries",
                                            "/push/key",
                                            "/me/push",
                                            "/me/rooms/{room}/notify",
                                            "OPTIONS",
                                            "unmatched",
                                            "unparsed"};
    static_assert(std::size(names) == kRouteCount, "a route without a name");
    return r < kRouteCount ? names[r] : "unmatched";
}

HttpMetrics& http_metrics() {
    static HttpMetrics m;
    return m;
}

void HttpMetrics::tls_handshake(const boost::system::error_code& ec) {
    tls_connections.fetch_add(1, std::memory_order_relaxed);
    if (!ec) {
        tls_handshakes.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    // Timeouts (beast's), and the peer speaking something else or an old protocol (OpenSSL's
    // errors) are told apart; a reset or an EOF mid-handshake is "other".
    if (ec == boost::beast::error::timeout)
        tls_fail_timeout.fetch_add(1, std::memory_order_relaxed);
    else if (ec.category() == boost::asio::error::get_ssl_category())
        tls_fail_protocol.fetch_add(1, std::memory_order_relaxed);
    else
        tls_fail_other.fetch_add(1, std::memory_order_relaxed);
}

void HttpMetrics::render(std::string& out) const {
    auto v = [](const auto& a) { return static_cast<double>(a.load(std::memory_order_relaxed)); };
    line(out, "ssechat_connections_total", "TCP connections accepted.", "counter",
         v(connections_total));
    line(out, "ssechat_connections_open", "TCP connections open now.", "gauge",
         v(open_connections));
    line(out, "ssechat_h2_connections_total", "HTTP/2 connections (h2 over TLS, h2c in clear).",
         "counter", v(h2_connections));
    labeled(out, "ssechat_h2_streams_total",
            "HTTP/2 streams opened by clients, by what they became.", "counter", "kind",
            {{"request", v(h2_streams) - v(h2_event_streams)}, {"events", v(h2_event_streams)}});
    labeled(out, "ssechat_h2_resets_total", "HTTP/2 RST_STREAM frames, by who sent them.",
            "counter", "by", {{"client", v(h2_resets_received)}, {"server", v(h2_resets_sent)}});
    labeled(out, "ssechat_h2_goaways_total",
            "HTTP/2 connections ended with GOAWAY for an error, by kind.", "counter", "reason",
            {{"flood", v(h2_goaway_flood)},
             {"protocol", v(h2_goaway_protocol)},
             {"stalled", v(h2_goaway_stalled)}});
    line(out, "ssechat_h2_refused_bodies_total",
         "HTTP/2 responses answered 503 because the connection held too many unread bodies.",
         "counter", v(h2_refused_bodies));
    labeled(out, "ssechat_webhook_deliveries_total",
            "Webhook delivery attempts, by outcome (ok: the receiver answered 2xx).", "counter",
            "result", {{"ok", v(webhook_ok)}, {"failed", v(webhook_failed)}});
    labeled(out, "ssechat_pushes_total",
            "Web Push requests, by outcome: sent (2xx), gone (404 or 410: the subscription was "
            "dropped), retried (429, 5xx or no answer), failed (given up).",
            "counter", "result",
            {{"sent", v(push_sent)},
             {"gone", v(push_gone)},
             {"retried", v(push_retried)},
             {"failed", v(push_failed)}});
    line(out, "ssechat_tls_connections_total", "TLS connections accepted.", "counter",
         v(tls_connections));
    line(out, "ssechat_tls_handshakes_total", "TLS handshakes completed.", "counter",
         v(tls_handshakes));
    labeled(out, "ssechat_tls_event_streams_total",
            "HTTPS event streams by who writes their TLS records: ssechat (TLS 1.3, OpenSSL's "
            "connection object freed), kernel (kernel TLS, likewise) or openssl.",
            "counter", "writer",
            {{"ssechat", v(tls_streams_sealed)},
             {"kernel", v(tls_streams_kernel)},
             {"openssl", v(tls_streams_openssl)}});
    labeled(out, "ssechat_tls_handshake_failures_total", "TLS handshakes that failed, by reason.",
            "counter", "reason",
            {{"timeout", v(tls_fail_timeout)},
             {"protocol", v(tls_fail_protocol)},
             {"other", v(tls_fail_other)}});
    line(out, "ssechat_bad_requests_total", "Requests refused with a 4xx status.", "counter",
         v(bad_requests));
    labeled(out, "ssechat_refusals_total", "Requests and connections refused by a limit or auth.",
            "counter", "reason",
            {{"auth", v(auth_failures)},
             {"publish_rate", v(rate_limited)},
             {"streams_per_user", v(too_many_streams)},
             {"connections_total", v(refused_total)},
             {"connections_per_ip", v(refused_per_ip)}});
    out +=
        "# HELP ssechat_http_requests_total HTTP requests answered, by route template and "
        "status class.\n# TYPE ssechat_http_requests_total counter\n";
    for (int r = 0; r < kRouteCount; ++r)
        for (int c = 0; c < 5; ++c)
            if (uint64_t n = http_requests[r][c].load(std::memory_order_relaxed))
                out += std::string("ssechat_http_requests_total{route=\"") +
                       route_name(static_cast<Route>(r)) + "\",code=\"" + char('1' + c) + "xx\"} " +
                       std::to_string(n) + "\n";
}

}  // namespace ssechat::http
