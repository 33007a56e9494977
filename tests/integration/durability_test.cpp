// Durability: restarts, kill -9 in the middle of publishing, and unusable database files.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "harness.hpp"

using namespace itest;
namespace json = boost::json;

TEST(Durability, RestartKeepsHistoryAndIds) {
    std::string dir = temp_dir();
    {
        Server srv({"--data", dir});
        for (int i = 0; i < 5; ++i)
            ASSERT_EQ(
                post_json(srv.port(), "/rooms/keep/messages?id=a", R"({"message":"x"})").status,
                201);
        post_json(srv.port(), "/message?id=1234", R"({"message":"Hi"})");
        EXPECT_EQ(srv.terminate(), 0);
    }
    Server srv({"--data", dir});
    SseClient c(srv.port(), "/rooms/keep/events", {{"Last-Event-ID", "2"}});
    ASSERT_TRUE(c.wait_events(3));
    EXPECT_EQ(ids_of(c.events), (std::vector<uint64_t>{3, 4, 5}));
    auto r = post_json(srv.port(), "/rooms/keep/messages?id=a", R"({"message":"after"})");
    EXPECT_EQ(json::parse(r.body).at("id").as_int64(), 6);
    SseClient seed(srv.port(), "/messages");
    ASSERT_TRUE(seed.wait_events(1));
    EXPECT_EQ(seed.events[0].data, R"([{"user_id":"1234","message":"Hi"}])");
    std::filesystem::remove_all(dir);
}

TEST(Durability, EveryAcknowledgedMessageSurvivesKill9) {
    std::string dir = temp_dir();
    std::vector<uint64_t> acked;
    std::mutex mu;
    {
        Server srv({"--data", dir, "--publish-rate", "0"});
        std::atomic<bool> stop{false};
        std::vector<std::thread> pubs;
        for (int t = 0; t < 4; ++t)
            pubs.emplace_back([&, t] {
                for (int i = 0; i < 100000 && !stop; ++i) {
                    try {
                        auto r =
                            post_json(srv.port(), "/rooms/crash/messages?id=p" + std::to_string(t),
                                      "{\"message\":\"" + std::to_string(i) + "\"}");
                        if (r.status != 201) continue;
                        std::lock_guard lk(mu);
                        acked.push_back(json::parse(r.body).at("id").to_number<uint64_t>());
                    } catch (...) {
                        return;  // the server died mid-request: that one was never acknowledged
                    }
                }
            });
        std::this_thread::sleep_for(1500ms);
        srv.kill9();
        stop = true;
        for (auto& p : pubs) p.join();
    }
    ASSERT_GT(acked.size(), 50u);
    Server srv({"--data", dir});
    std::vector<uint64_t> stored;
    uint64_t after = 0;
    while (true) {
        auto r = request(srv.port(), "GET",
                         "/rooms/crash/messages?limit=500&after=" + std::to_string(after));
        auto o = json::parse(r.body).as_object();
        for (auto& m : o.at("messages").as_array())
            stored.push_back(m.at("id").to_number<uint64_t>());
        if (!o.at("has_more").as_bool()) break;
        after = stored.back();
    }
    std::sort(acked.begin(), acked.end());
    // Stored ids are 1..N in order; every acknowledged one is among them.
    for (size_t i = 0; i < stored.size(); ++i) ASSERT_EQ(stored[i], i + 1);
    EXPECT_LE(acked.back(), stored.size());
    EXPECT_TRUE(std::includes(stored.begin(), stored.end(), acked.begin(), acked.end()));
    std::filesystem::remove_all(dir);
}

TEST(Durability, CorruptDatabaseIsAClearStartupError) {
    std::string dir = temp_dir();
    std::ofstream(dir + "/ssechat.db") << std::string(4096, 'z');
    auto e = run_binary({"--port", "0", "--data", dir});
    EXPECT_EQ(e.code, 1);
    EXPECT_NE(e.out.find(dir + "/ssechat.db"), std::string::npos) << e.out;
    EXPECT_EQ(std::filesystem::file_size(dir + "/ssechat.db"), 4096u);  // untouched
    std::filesystem::remove_all(dir);
}

TEST(Durability, LockedDatabaseIsAClearStartupError) {
    std::string dir = temp_dir();
    Server first({"--data", dir});
    auto e = run_binary({"--port", "0", "--data", dir});
    EXPECT_EQ(e.code, 1);
    EXPECT_NE(e.out.find("locked"), std::string::npos) << e.out;
    EXPECT_NE(e.out.find(dir + "/ssechat.db"), std::string::npos) << e.out;
    // and the first server is unharmed
    EXPECT_EQ(post_json(first.port(), "/message?id=a", R"({"message":"x"})").status, 200);
    std::filesystem::remove_all(dir);
}

TEST(Durability, UnwritableDataFolderIsAClearStartupError) {
    std::string dir = temp_dir();
    std::ofstream(dir + "/file") << "x";
    auto e = run_binary({"--port", "0", "--data", dir + "/file/sub"});
    EXPECT_EQ(e.code, 1);
    EXPECT_NE(e.out.find(dir + "/file/sub"), std::string::npos) << e.out;
    std::filesystem::remove_all(dir);
}

// A reconnect storm after a restart: every stream of a room resumes from the room's cache,
// which its load read once; no stream reads its own missing range. Run with --cache 5 (the
// missing 10 older than the cache), the same storm counts a replay read per stream.
TEST(Durability, AReconnectStormAfterARestartReadsEachRoomOnce) {
    const int kRooms = 4, kPerRoom = 12, kMessages = 30, kBehind = 10;
    std::string dir = temp_dir();
    {
        Server srv({"--data", dir, "--publish-rate", "0"});
        for (int r = 0; r < kRooms; ++r)
            for (int i = 0; i < kMessages; ++i)
                ASSERT_EQ(
                    post_json(srv.port(), "/rooms/storm" + std::to_string(r) + "/messages?id=a",
                              R"({"message":"x"})")
                        .status,
                    201);
        EXPECT_EQ(srv.terminate(), 0);
    }
    Server srv({"--data", dir, "--threads", "2"});
    ASSERT_EQ(metric(srv.port(), R"(ssechat_stream_store_reads_total{read="room_load"})"), 0);
    // All at once, from several threads, so that both loops load rooms concurrently.
    std::vector<std::unique_ptr<SseClient>> clients(kRooms * kPerRoom);
    std::vector<std::thread> openers;
    for (int t = 0; t < 4; ++t)
        openers.emplace_back([&, t] {
            for (size_t i = static_cast<size_t>(t); i < clients.size(); i += 4)
                clients[i] = std::make_unique<SseClient>(
                    srv.port(),
                    "/rooms/storm" + std::to_string(i % kRooms) + "/events?presence=0&id=s" +
                        std::to_string(i),
                    Headers{{"Last-Event-ID", std::to_string(kMessages - kBehind)}});
        });
    for (auto& t : openers) t.join();
    std::vector<uint64_t> want;
    for (int id = kMessages - kBehind + 1; id <= kMessages; ++id) want.push_back(id);
    for (auto& c : clients) {
        ASSERT_TRUE(c->wait_events(kBehind)) << c->status << " " << c->head << c->body;
        c->drain(50ms);
        EXPECT_EQ(ids_of(c->events), want);  // exact: no gap, no duplicate
    }
    EXPECT_EQ(metric(srv.port(), R"(ssechat_stream_store_reads_total{read="room_load"})"), kRooms);
    EXPECT_EQ(metric(srv.port(), R"(ssechat_stream_store_reads_total{read="replay"})"), 0);
    std::filesystem::remove_all(dir);
}
