// Store micro-benchmark: durable publishes per second through the hub's group commit into
// SQLite, against one transaction per message. Bounded in count; prints one JSON line per mode.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "chat/hub.hpp"
#include "store/sqlite/sqlite_store.hpp"

using namespace ssechat;
using Clock = std::chrono::steady_clock;

namespace {

std::string fresh_dir(const std::string& base, const char* name) {
    std::string d = base + "/" + name;
    std::filesystem::remove_all(d);
    return d;
}

// Publishes `total` messages with at most `window` in flight, like many concurrent clients.
double group_commit(const std::string& dir, bool fsync_always, size_t total, size_t window) {
    Config cfg;
    store::SqliteStore st(dir, fsync_always, 0);
    chat::Hub hub(cfg, st);
    hub.start();
    auto room = hub.room("bench");
    std::mutex mu;
    std::condition_variable cv;
    size_t in_flight = 0, done = 0, failed = 0;
    std::string text(64, 'x');
    auto t0 = Clock::now();
    for (size_t i = 0; i < total; ++i) {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return in_flight < window; });
        ++in_flight;
        lk.unlock();
        hub.publish(room, "u" + std::to_string(i % 100), text, {},
                    [&](chat::PublishOutcome o, const model::Event&) {
                        std::lock_guard g(mu);
                        --in_flight;
                        ++done;
                        if (o != chat::PublishOutcome::Ok) ++failed;
                        cv.notify_all();
                    });
    }
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return done == total; });
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    hub.stop();
    if (failed) std::fprintf(stderr, "%zu publishes failed\n", failed);
    return static_cast<double>(total) / secs;
}

// One transaction per message: what a server without group commit does.
double one_per_commit(const std::string& dir, bool fsync_always, size_t total) {
    store::SqliteStore st(dir, fsync_always, 0);
    std::string text(64, 'x');
    auto t0 = Clock::now();
    for (size_t i = 0; i < total; ++i) st.append({{i + 1, "bench", "u", text, 0}});
    return static_cast<double>(total) / std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    std::string base = argc > 1 ? argv[1] : "/tmp/ssechat-store-bench";
    size_t total = argc > 2 ? std::stoul(argv[2]) : 200000;
    std::filesystem::create_directories(base);
    struct Row {
        const char* mode;
        double rate;
    };
    std::vector<Row> rows = {
        {"group_commit_normal", group_commit(fresh_dir(base, "g1"), false, total, 1000)},
        {"group_commit_fsync_always", group_commit(fresh_dir(base, "g2"), true, total / 4, 1000)},
        {"one_commit_per_message_normal", one_per_commit(fresh_dir(base, "s1"), false, total / 4)},
        {"one_commit_per_message_fsync_always",
         one_per_commit(fresh_dir(base, "s2"), true, total / 40)},
    };
    for (const auto& r : rows)
        std::printf("{\"mode\":\"%s\",\"messages_per_second\":%.0f}\n", r.mode, r.rate);
    std::filesystem::remove_all(base);
}
