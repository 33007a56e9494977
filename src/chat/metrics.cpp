// Prometheus text rendering of the chat core's metrics.
#include "chat/metrics.hpp"

#include "sse/stream.hpp"

namespace ssechat {

using prom::labeled;
using prom::line;

Metrics& metrics() {
    static Metrics m;
    return m;
}

std::string Metrics::render() const {
    std::string out;
    auto v = [](const auto& a) { return static_cast<double>(a.load(std::memory_order_relaxed)); };
    labeled(out, "ssechat_streams", "Event streams open now, by API.", "gauge", "api",
            {{"native", v(streams_native)}, {"seed", v(streams_view)}, {"user", v(streams_user)}});
    {
        auto& sc = sse::stream_counts();
        labeled(out, "ssechat_streams_by_protocol", "Event streams open now, by protocol.", "gauge",
                "protocol", {{"http1", v(sc.http1)}, {"https1", v(sc.https1)}, {"h2", v(sc.h2)}});
    }
    line(out, "ssechat_deliveries_total", "Live events handed to streams.", "counter",
         v(deliveries));
    labeled(
        out, "ssechat_publishes_total", "Publishes by outcome.", "counter", "outcome",
        {{"ok", v(publish_ok)}, {"rejected", v(publish_rejected)}, {"failed", v(publish_failed)}});
    line(out, "ssechat_slow_disconnects_total",
         "Streams closed for passing their outbound byte limit.", "counter", v(slow_disconnects));
    line(out, "ssechat_cluster_feed_messages_total",
         "Messages read from the cluster log (--store redis).", "counter", v(feed_messages));
    line(out, "ssechat_cluster_catchups_total",
         "Times every loaded room was re-read: after Redis was away or cut this node's feed off.",
         "counter", v(feed_catchups));
    line(out, "ssechat_cluster_gap_fill_messages_total",
         "Messages read from room streams because the feed did not bring them.", "counter",
         v(feed_gap_fills));
    labeled(out, "ssechat_cluster_events_read_total",
            "Events the cluster feed brought, by whether their room is loaded (or loading) here.",
            "counter", "room_loaded",
            {{"true", v(feed_read_loaded)}, {"false", v(feed_read_unloaded)}});
    labeled(out, "ssechat_stream_store_reads_total",
            "Store reads for starting streams: a room's recent events as it loads, and one "
            "stream's range older than its room's cache.",
            "counter", "read",
            {{"room_load", v(store_reads_room_load)}, {"replay", v(store_reads_replay)}});
    line(out, "ssechat_cluster_live_resets_total",
         "Resets sent to live streams because a room's missing ids were past --max-replay or "
         "trimmed.",
         "counter", v(feed_resets));
    line(out, "ssechat_users_online", "Distinct users with an event stream open on this node.",
         "gauge", v(users_online));
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
