// The chat core's process-wide counters and histograms (streams, deliveries, publishes, the
// cluster feed), rendered at /metrics with the HTTP layer's (http/http_metrics.hpp).
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "util/prometheus.hpp"

namespace ssechat {

using prom::Histogram;

struct Metrics {
    using Counter = std::atomic<uint64_t>;
    std::atomic<int64_t> streams_native{0};
    std::atomic<int64_t> streams_view{0};
    std::atomic<int64_t> streams_user{0};  // GET /me/events
    Counter deliveries{0};                 // events handed to a stream (replays excluded)
    Counter publish_ok{0};
    Counter publish_rejected{0};  // refused for bad input (4xx)
    Counter publish_failed{0};    // the store failed or was overloaded (503)
    Counter slow_disconnects{0};  // streams dropped for passing their outbound limit
    Counter feed_messages{0};     // cluster mode: messages read from the cluster log
    Counter feed_catchups{0};     // cluster mode: rooms re-read after an outage or a trimmed log
    Counter feed_gap_fills{0};    // cluster mode: messages read from a room stream to fill a gap
    Counter feed_resets{0};       // cluster mode: live resets sent for ids that will not come
    // cluster mode: events read from the log for rooms loaded here, and for rooms not loaded
    Counter feed_read_loaded{0}, feed_read_unloaded{0};
    // Store reads that start streams: a room's recent events read as it loads (once per
    // load, whatever number of streams then resume from its cache), and a stream's missing
    // range read for that stream alone (older than the room's cache).
    Counter store_reads_room_load{0}, store_reads_replay{0};
    std::atomic<int64_t> rooms_loaded{0};  // set at scrape time from the registry
    std::atomic<int64_t> users_online{0};  // set at scrape time: users with a stream here
    Histogram publish_latency{
        {.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}};
    Histogram commit_latency{{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}};
    Histogram commit_batch{{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096}};

    std::string render() const;
};

Metrics& metrics();

}  // namespace ssechat
