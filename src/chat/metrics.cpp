// Prometheus text rendering of the process metrics.
#include "chat/metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "sse/stream.hpp"
#include "util/build_info.hpp"

namespace ssechat {

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
                                            "OPTIONS",
                                            "unmatched",
                                            "unparsed"};
    static_assert(std::size(names) == kRouteCount, "a route without a name");
    return r < kRouteCount ? names[r] : "unmatched";
}

Metrics& metrics() {
    static Metrics m;
    return m;
}

void Histogram::observe(double v) {
    size_t i = 0;
    while (i < kBuckets && v > bounds_[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    double cur = sum_.load(std::memory_order_relaxed);
    while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
    }
}

namespace {
std::string num(double v) {
    char b[64];
    std::snprintf(b, sizeof b, "%.17g", v);  // exact for counters past 10^9
    return b;
}
void line(std::string& out, const std::string& name, const std::string& help, const char* type,
          double v) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    out += name + " " + num(v) + "\n";
}
// One metric with a label, one line per label value.
void labeled(std::string& out, const std::string& name, const std::string& help, const char* type,
             const char* label, std::initializer_list<std::pair<const char*, double>> values) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& [value, n] : values)
        out += name + "{" + label + "=\"" + value + "\"} " + num(n) + "\n";
}
// When the process started, for process_start_time_seconds: static initialization runs
// before main, so this is the start within milliseconds.
const double kStartSeconds =
    std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();

// The standard process_* metrics of Prometheus' client libraries, from /proc and getrusage.
void process_metrics(std::string& out) {
    long page = ::sysconf(_SC_PAGESIZE);
    unsigned long vsize_pages = 0, rss_pages = 0;
    if (std::ifstream statm("/proc/self/statm"); statm) statm >> vsize_pages >> rss_pages;
    line(out, "process_resident_memory_bytes", "Resident memory size in bytes.", "gauge",
         static_cast<double>(rss_pages) * static_cast<double>(page));
    line(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge",
         static_cast<double>(vsize_pages) * static_cast<double>(page));
    double fds = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') ++fds;
        ::closedir(d);
        --fds;  // the directory stream's own descriptor
    }
    line(out, "process_open_fds", "Number of open file descriptors.", "gauge", fds);
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    line(out, "process_max_fds", "Maximum number of open file descriptors.", "gauge",
         lim.rlim_cur == RLIM_INFINITY ? -1 : static_cast<double>(lim.rlim_cur));
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    line(out, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
         "counter", secs(ru.ru_utime) + secs(ru.ru_stime));
    line(out, "process_start_time_seconds",
         "Start time of the process since unix epoch in seconds.", "gauge", kStartSeconds);
    out +=
        "# HELP ssechat_build_info The version and commit of this binary.\n"
        "# TYPE ssechat_build_info gauge\n";
    out += std::string("ssechat_build_info{version=\"") + build::version + "\",commit=\"" +
           build::commit + "\"} 1\n";
}

}  // namespace

void Histogram::render(std::string& out, const std::string& name, const std::string& help) const {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
    uint64_t cum = 0;
    for (size_t i = 0; i <= kBuckets; ++i) {
        cum += counts_[i].load(std::memory_order_relaxed);
        std::string le = i < kBuckets ? num(bounds_[i]) : "+Inf";
        out += name + "_bucket{le=\"" + le + "\"} " + std::to_string(cum) + "\n";
    }
    out += name + "_sum " + num(sum_.load(std::memory_order_relaxed)) + "\n";
    out += name + "_count " + std::to_string(count_.load(std::memory_order_relaxed)) + "\n";
}

void Metrics::tls_handshake(const boost::system::error_code& ec) {
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

std::string Metrics::render() const {
    std::string out;
    auto v = [](const auto& a) { return static_cast<double>(a.load(std::memory_order_relaxed)); };
    line(out, "ssechat_connections_total", "TCP connections accepted.", "counter",
         v(connections_total));
    line(out, "ssechat_connections_open", "TCP connections open now.", "gauge",
         v(open_connections));
    labeled(out, "ssechat_streams", "Event streams open now, by API.", "gauge", "api",
            {{"native", v(streams_native)}, {"seed", v(streams_view)}, {"user", v(streams_user)}});
    {
        auto& sc = sse::stream_counts();
        labeled(out, "ssechat_streams_by_protocol", "Event streams open now, by protocol.", "gauge",
                "protocol", {{"http1", v(sc.http1)}, {"https1", v(sc.https1)}, {"h2", v(sc.h2)}});
    }
    line(out, "ssechat_deliveries_total", "Live events handed to streams.", "counter",
         v(deliveries));
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
    labeled(
        out, "ssechat_publishes_total", "Publishes by outcome.", "counter", "outcome",
        {{"ok", v(publish_ok)}, {"rejected", v(publish_rejected)}, {"failed", v(publish_failed)}});
    line(out, "ssechat_slow_disconnects_total",
         "Streams closed for passing their outbound byte limit.", "counter", v(slow_disconnects));
    line(out, "ssechat_bad_requests_total", "Requests refused with a 4xx status.", "counter",
         v(bad_requests));
    labeled(out, "ssechat_refusals_total", "Requests and connections refused by a limit or auth.",
            "counter", "reason",
            {{"auth", v(auth_failures)},
             {"publish_rate", v(rate_limited)},
             {"streams_per_user", v(too_many_streams)},
             {"connections_total", v(refused_total)},
             {"connections_per_ip", v(refused_per_ip)}});
    line(out, "ssechat_cluster_feed_messages_total",
         "Messages read from the cluster log (--store redis).", "counter", v(feed_messages));
    line(out, "ssechat_cluster_catchups_total",
         "Times every room was re-read: after a Redis outage or a log trimmed past this node.",
         "counter", v(feed_catchups));
    line(out, "ssechat_cluster_gap_fill_messages_total",
         "Messages read from room streams because the log did not bring them.", "counter",
         v(feed_gap_fills));
    line(out, "ssechat_cluster_live_resets_total",
         "Resets sent to live streams because a room's missing ids were past --max-replay or "
         "trimmed.",
         "counter", v(feed_resets));
    line(out, "ssechat_users_online", "Distinct users with an event stream open on this node.",
         "gauge", v(users_online));
    out +=
        "# HELP ssechat_http_requests_total HTTP requests answered, by route template and "
        "status class.\n# TYPE ssechat_http_requests_total counter\n";
    for (int r = 0; r < kRouteCount; ++r)
        for (int c = 0; c < 5; ++c)
            if (uint64_t n = http_requests[r][c].load(std::memory_order_relaxed))
                out += std::string("ssechat_http_requests_total{route=\"") +
                       route_name(static_cast<Route>(r)) + "\",code=\"" + char('1' + c) + "xx\"} " +
                       std::to_string(n) + "\n";
    line(out, "ssechat_rooms_loaded",
         "Rooms held in memory (evicted when unused, loaded again on demand).", "gauge",
         v(rooms_loaded));
    publish_latency.render(out, "ssechat_publish_seconds",
                           "Time from a publish request to its acknowledgement.");
    commit_latency.render(out, "ssechat_store_commit_seconds", "Store commit latency.");
    commit_batch.render(out, "ssechat_store_commit_batch", "Messages per store commit.");
    process_metrics(out);
    return out;
}

}  // namespace ssechat
