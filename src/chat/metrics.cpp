// Prometheus text rendering of the process metrics.
#include "chat/metrics.hpp"

#include <cstdio>

namespace ssechat {

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
    std::snprintf(b, sizeof b, "%.9g", v);
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

std::string Metrics::render() const {
    std::string out;
    auto v = [](const auto& a) { return static_cast<double>(a.load(std::memory_order_relaxed)); };
    line(out, "ssechat_connections_total", "TCP connections accepted.", "counter",
         v(connections_total));
    line(out, "ssechat_connections_open", "TCP connections open now.", "gauge",
         v(open_connections));
    labeled(out, "ssechat_streams", "Event streams open now, by API.", "gauge", "api",
            {{"native", v(streams_native)}, {"seed", v(streams_legacy)}});
    line(out, "ssechat_deliveries_total", "Live events handed to streams.", "counter",
         v(deliveries));
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
    line(out, "ssechat_rooms_loaded",
         "Rooms held in memory (evicted when unused, loaded again on demand).", "gauge",
         v(rooms_loaded));
    publish_latency.render(out, "ssechat_publish_seconds",
                           "Time from a publish request to its acknowledgement.");
    commit_latency.render(out, "ssechat_store_commit_seconds", "Store commit latency.");
    commit_batch.render(out, "ssechat_store_commit_batch", "Messages per store commit.");
    return out;
}

}  // namespace ssechat
