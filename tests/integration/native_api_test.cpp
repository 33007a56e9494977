// The native room API: per-message events with ids, resume, reset, history, presence.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <thread>

#include "harness.hpp"

using namespace itest;
namespace json = boost::json;

TEST(NativeApi, PublishAnswers201WithTheStoredMessage) {
    Server srv;
    auto r = post_json(srv.port(), "/rooms/lobby/messages?id=ann", R"({"message":"  hi  "})");
    ASSERT_EQ(r.status, 201);
    auto m = json::parse(r.body).as_object();
    EXPECT_EQ(m.at("id").as_int64(), 1);
    EXPECT_EQ(m.at("room").as_string(), "lobby");
    EXPECT_EQ(m.at("user_id").as_string(), "ann");
    EXPECT_EQ(m.at("message").as_string(), "hi");
    EXPECT_GT(m.at("ts").as_int64(), 1700000000000);
    EXPECT_EQ(publish(srv.port(), "lobby", "ann", "again"), 2u);
    EXPECT_EQ(publish(srv.port(), "other", "ann", "first there"), 1u);  // ids are per room
}

TEST(NativeApi, BadRoomsAndBodiesSayWhatWasWrong) {
    Server srv;
    for (std::string room :
         std::vector<std::string>{"a%2Fb", "..", std::string(65, 'x'), "a%20b", "%C3%A9"}) {
        auto r = post_json(srv.port(), "/rooms/" + room + "/messages?id=u", R"({"message":"x"})");
        EXPECT_EQ(r.status, 400) << room;
        EXPECT_NE(r.body.find("room names"), std::string::npos) << r.body;
    }
    auto r = post_json(srv.port(), "/rooms/ok/messages", R"({"message":"x"})");
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body.find("id"), std::string::npos);
    r = post_json(srv.port(), "/rooms/ok/messages?id=u", R"({"message":5})");
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body.find("must be a string"), std::string::npos);
    r = post_json(srv.port(), "/rooms/ok/messages?id=u",
                  "{\"message\":\"" + std::string(5000, 'a') + "\"}");
    EXPECT_EQ(r.status, 413);
    EXPECT_NE(r.body.find("4096"), std::string::npos);
    r = request(srv.port(), "DELETE", "/rooms/ok/messages");
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(json::parse(request(srv.port(), "GET", "/rooms/ok/messages").body)
                  .at("messages")
                  .as_array()
                  .size(),
              0u);
}

TEST(NativeApi, StreamStartsWithRetryThenHistoryThenLive) {
    Server srv({"--store", "memory", "--retry", "1234", "--publish-rate", "0"});
    for (int i = 0; i < 60; ++i) publish(srv.port(), "r", "a", "m" + std::to_string(i));
    SseClient c(srv.port(), "/rooms/r/events?id=me");
    ASSERT_TRUE(c.wait_events(50));
    EXPECT_EQ(c.body.rfind("retry: 1234\n\n", 0), 0u);
    EXPECT_EQ(ids_of(c.events), range(11, 60));  // the default history is 50
    auto first = json::parse(c.events[0].data).as_object();
    EXPECT_EQ(first.at("message").as_string(), "m10");
    EXPECT_EQ(first.at("room").as_string(), "r");
    // A user's own messages come back on native streams (other tabs stay in sync).
    publish(srv.port(), "r", "me", "mine");
    ASSERT_TRUE(c.wait_until([&] { return ids_of(c.events).size() == 51; }));
    EXPECT_EQ(ids_of(c.events).back(), 61u);

    SseClient none(srv.port(), "/rooms/r/events?id=x&history=0");
    SseClient three(srv.port(), "/rooms/r/events?id=x&history=3");
    ASSERT_TRUE(three.wait_events(3));
    EXPECT_EQ(ids_of(three.events), range(59, 61));
    none.drain(200ms);
    EXPECT_TRUE(ids_of(none.events).empty());
}

TEST(NativeApi, HistoryReplayReachesIntoTheStoreBeyondTheCache) {
    Server srv({"--store", "memory", "--cache", "4"});
    for (int i = 0; i < 20; ++i) publish(srv.port(), "r", "a", "m");
    SseClient c(srv.port(), "/rooms/r/events?history=10");
    ASSERT_TRUE(c.wait_events(10));
    EXPECT_EQ(ids_of(c.events), range(11, 20));
    SseClient s(srv.port(), "/rooms/r/events", {{"Last-Event-ID", "2"}});
    ASSERT_TRUE(s.wait_events(18));
    EXPECT_EQ(ids_of(s.events), range(3, 20));
}

TEST(NativeApi, ResumeWhilePublishingHasNoGapsAndNoDuplicates) {
    Server srv({"--store", "memory", "--cache", "16", "--publish-rate", "0"});
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> last_acked{0};
    std::thread publisher([&] {
        for (int i = 0; i < 400 && !stop; ++i) {
            last_acked = publish(srv.port(), "busy", "pub", "n" + std::to_string(i));
            std::this_thread::sleep_for(1ms);
        }
    });
    std::vector<uint64_t> seen;
    uint64_t last = 0;
    // Reconnect several times mid-stream, each time from the last id seen.
    for (int round = 0; round < 6; ++round) {
        Headers h;
        if (last) h.push_back({"Last-Event-ID", std::to_string(last)});
        SseClient c(srv.port(), "/rooms/busy/events?history=0", h);
        c.wait_until([&] { return ids_of(c.events).size() >= 30; }, 3000ms);
        for (uint64_t id : ids_of(c.events)) seen.push_back(id);
        if (!seen.empty()) last = seen.back();
        // the client drops here, while the publisher keeps going
        std::this_thread::sleep_for(20ms);
    }
    publisher.join();
    SseClient tail(srv.port(), "/rooms/busy/events", {{"Last-Event-ID", std::to_string(last)}});
    tail.wait_until([&] {
        return !ids_of(tail.events).empty() && ids_of(tail.events).back() == last_acked.load();
    });
    for (uint64_t id : ids_of(tail.events)) seen.push_back(id);
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen, range(seen.front(), last_acked.load()));
    EXPECT_EQ(seen.back(), 400u);
}

TEST(NativeApi, SinceParameterWorksLikeLastEventId) {
    Server srv;
    for (int i = 0; i < 5; ++i) publish(srv.port(), "r", "a", "x");
    SseClient c(srv.port(), "/rooms/r/events?since=3");
    ASSERT_TRUE(c.wait_events(2));
    EXPECT_EQ(ids_of(c.events), range(4, 5));
}

TEST(NativeApi, EvictedIdGetsResetThenReplayFromOldest) {
    Server srv({"--store", "memory", "--retain", "5", "--cache", "3"});
    for (int i = 0; i < 12; ++i) publish(srv.port(), "r", "a", "x");
    SseClient c(srv.port(), "/rooms/r/events", {{"Last-Event-ID", "2"}});
    ASSERT_TRUE(c.wait_events(6));
    EXPECT_EQ(c.events[0].event, "reset");
    EXPECT_EQ(c.events[0].data, "8");
    EXPECT_EQ(ids_of(c.events), range(8, 12));
    // An id from the future (another server, a wiped store) is unknown: reset too.
    SseClient f(srv.port(), "/rooms/r/events", {{"Last-Event-ID", "999"}});
    ASSERT_TRUE(f.wait_events(6));
    EXPECT_EQ(f.events[0].event, "reset");
    EXPECT_EQ(ids_of(f.events), range(8, 12));
    // Resuming from just before the oldest held id is not a gap.
    SseClient ok(srv.port(), "/rooms/r/events", {{"Last-Event-ID", "7"}});
    ASSERT_TRUE(ok.wait_events(5));
    EXPECT_EQ(ok.events[0].event, "message");
}

TEST(NativeApi, ResumeFromFarBackIsBoundedByMaxReplay) {
    Server srv({"--store", "memory", "--max-replay", "5", "--cache", "3", "--publish-rate", "0"});
    for (int i = 0; i < 20; ++i) publish(srv.port(), "r", "a", "x");
    SseClient c(srv.port(), "/rooms/r/events", {{"Last-Event-ID", "2"}});
    ASSERT_TRUE(c.wait_events(6));
    EXPECT_EQ(c.events[0].event, "reset");
    EXPECT_EQ(c.events[0].data, "16");
    EXPECT_EQ(ids_of(c.events), range(16, 20));
    // Within the bound: exact replay, no reset.
    SseClient near(srv.port(), "/rooms/r/events", {{"Last-Event-ID", "15"}});
    ASSERT_TRUE(near.wait_events(5));
    EXPECT_EQ(near.events[0].event, "message");
    EXPECT_EQ(ids_of(near.events), range(16, 20));
}

TEST(NativeApi, RoomCapEvictsIdleRoomsAndRefusesOnlyWhenAllAreInUse) {
    Server srv({"--store", "memory", "--max-rooms", "2"});
    EXPECT_EQ(publish(srv.port(), "one", "a", "x"), 1u);
    SseClient two(srv.port(), "/rooms/two/events");
    ASSERT_TRUE(two.wait_until([&] { return two.status != 0; }));
    EXPECT_EQ(two.status, 200);
    // "one" is held by nothing once its delivery has left the loops (a moment after its
    // answer): it makes way, and is loaded again later.
    Response first;
    for (int i = 0; i < 50 && first.status != 201; ++i) {
        first = post_json(srv.port(), "/rooms/three/messages?id=a", R"({"message":"x"})");
        if (first.status != 201) std::this_thread::sleep_for(20ms);
    }
    ASSERT_EQ(first.status, 201) << first.body;
    EXPECT_EQ(json::parse(first.body).at("id").as_int64(), 1);
    SseClient three(srv.port(), "/rooms/three/events?history=0");
    ASSERT_TRUE(three.wait_until([&] { return three.status != 0; }));
    EXPECT_EQ(three.status, 200);
    // Both rooms in memory have a stream: a third cannot be held.
    auto r = post_json(srv.port(), "/rooms/one/messages?id=a", R"({"message":"y"})");
    EXPECT_EQ(r.status, 503);
    EXPECT_NE(r.body.find("in use"), std::string::npos);
    SseClient four(srv.port(), "/rooms/four/events");
    ASSERT_TRUE(four.wait_until([&] { return four.status != 0; }));
    EXPECT_EQ(four.status, 503);
    EXPECT_EQ(publish(srv.port(), "three", "a", "y"), 2u);  // rooms in memory carry on
    ASSERT_TRUE(three.wait_events(1));
    two.close();
    // Reloaded from the store: its ids continue and its history is whole.
    bool ok = false;
    for (int i = 0; i < 50 && !ok; ++i) {
        ok = post_json(srv.port(), "/rooms/one/messages?id=a", R"({"message":"y"})").status == 201;
        if (!ok) std::this_thread::sleep_for(20ms);
    }
    ASSERT_TRUE(ok);
    auto h = json::parse(request(srv.port(), "GET", "/rooms/one/messages").body);
    EXPECT_EQ(h.at("messages").as_array().size(), 2u);
    EXPECT_EQ(h.at("messages").as_array()[1].at("id").as_int64(), 2);
}

TEST(NativeApi, BadLastEventIdIs400) {
    Server srv;
    for (std::string v : {"-1", "abc", "99999999999999999999999", "1.5"}) {
        SseClient c(srv.port(), "/rooms/r/events", {{"Last-Event-ID", v}});
        ASSERT_TRUE(c.wait_until([&] { return c.status != 0; }));
        EXPECT_EQ(c.status, 400) << v;
        EXPECT_NE(c.body.find("Last-Event-ID"), std::string::npos);
    }
    EXPECT_EQ(request(srv.port(), "GET", "/rooms/r/events?history=x").status, 400);
}

TEST(NativeApi, HistoryPages) {
    Server srv;
    for (int i = 1; i <= 30; ++i) publish(srv.port(), "h", "a", "m" + std::to_string(i));
    auto page = [&](const std::string& q) {
        auto r = request(srv.port(), "GET", "/rooms/h/messages" + q);
        EXPECT_EQ(r.status, 200);
        auto o = json::parse(r.body).as_object();
        std::vector<uint64_t> ids;
        for (auto& m : o.at("messages").as_array()) ids.push_back(m.at("id").to_number<uint64_t>());
        return std::make_pair(ids, o.at("has_more").as_bool());
    };
    EXPECT_EQ(page("?limit=10"), std::make_pair(range(21, 30), true));
    EXPECT_EQ(page("?limit=10&before=21"), std::make_pair(range(11, 20), true));
    EXPECT_EQ(page("?limit=10&before=11"), std::make_pair(range(1, 10), false));
    EXPECT_EQ(page("?after=25"), std::make_pair(range(26, 30), false));
    EXPECT_EQ(page("?after=5&limit=3"), std::make_pair(range(6, 8), true));
    EXPECT_EQ(page("?after=5&before=9"), std::make_pair(range(6, 8), false));
    EXPECT_EQ(page("").first.size(), 30u);
    EXPECT_EQ(request(srv.port(), "GET", "/rooms/h/messages?limit=501").status, 400);
    EXPECT_EQ(request(srv.port(), "GET", "/rooms/h/messages?limit=0").status, 400);
    EXPECT_EQ(request(srv.port(), "GET", "/rooms/h/messages?before=-3").status, 400);
}

TEST(NativeApi, PresenceJoinAndLeave) {
    Server srv;
    publish(srv.port(), "p", "a", "so that the room is listed");
    SseClient watcher(srv.port(), "/rooms/p/events?id=watcher&history=0");
    ASSERT_TRUE(watcher.wait_until([&] { return !watcher.events.empty(); }));
    EXPECT_EQ(watcher.events[0].event, "presence");
    EXPECT_EQ(json::parse(watcher.events[0].data).at("online").as_int64(), 1);
    {
        SseClient tab1(srv.port(), "/rooms/p/events?id=bob");
        SseClient tab2(srv.port(), "/rooms/p/events?id=bob");  // a second tab: no second join
        ASSERT_TRUE(watcher.wait_events(2));
        auto join = json::parse(watcher.events[1].data).as_object();
        EXPECT_EQ(join.at("user_id").as_string(), "bob");
        EXPECT_EQ(join.at("state").as_string(), "join");
        EXPECT_EQ(join.at("online").as_int64(), 2);
        tab2.wait_until([&] { return tab2.status != 0; });
        auto p = json::parse(request(srv.port(), "GET", "/rooms/p/presence").body).as_object();
        EXPECT_EQ(p.at("count").as_int64(), 2);
        auto rooms = json::parse(request(srv.port(), "GET", "/rooms").body).at("rooms").as_array();
        ASSERT_EQ(rooms.size(), 1u);
        EXPECT_EQ(rooms[0].at("online").as_int64(), 2);
        tab1.close();
        watcher.drain(300ms);
        EXPECT_EQ(watcher.events.size(), 2u);  // bob still has a tab open
    }
    auto closed = std::chrono::steady_clock::now();
    ASSERT_TRUE(watcher.wait_events(3, 9000ms));
    EXPECT_GE(std::chrono::steady_clock::now() - closed, 4500ms) << "a leave waits 5 s";
    auto leave = json::parse(watcher.events[2].data).as_object();
    EXPECT_EQ(leave.at("state").as_string(), "leave");
    EXPECT_EQ(leave.at("online").as_int64(), 1);
}

TEST(NativeApi, AReloadAnnouncesNeitherALeaveNorAJoin) {
    Server srv({"--store", "memory"});
    SseClient watcher(srv.port(), "/rooms/r/events?id=watcher&history=0");
    // The watcher's own snapshot first: on another loop bob could otherwise be counted in it
    // and never announced to the watcher as a join.
    ASSERT_TRUE(watcher.wait_until([&] { return !watcher.events.empty(); }));
    auto bob = std::make_unique<SseClient>(srv.port(), "/rooms/r/events?id=bob");
    ASSERT_TRUE(watcher.wait_until([&] {
        for (const auto& e : watcher.events)
            if (e.event == "presence" && e.data.find("\"bob\"") != std::string::npos) return true;
        return false;
    }));
    size_t before = watcher.events.size();
    bob->close();
    std::this_thread::sleep_for(500ms);
    bob = std::make_unique<SseClient>(srv.port(), "/rooms/r/events?id=bob");  // the reload
    bob->wait_until([&] { return bob->status != 0; });
    watcher.drain(7000ms);
    EXPECT_EQ(watcher.events.size(), before) << "others saw nothing of it";
    auto p = json::parse(request(srv.port(), "GET", "/rooms/r/presence").body).as_object();
    EXPECT_EQ(p.at("count").as_int64(), 2);
}

TEST(NativeApi, HeartbeatsKeepIdleStreamsAlive) {
    Server srv({"--store", "memory", "--heartbeat", "1"});
    SseClient c(srv.port(), "/rooms/quiet/events?history=0");
    ASSERT_TRUE(c.wait_until([&] { return c.comments() >= 2; }, 5000ms));
    EXPECT_NE(c.body.find(": ping\n\n"), std::string::npos);
}

TEST(NativeApi, SeedApiIsTheGeneralRoom) {
    Server srv;
    post_json(srv.port(), "/message?id=old", R"({"message":"seed"})");
    SseClient native(srv.port(), "/rooms/general/events");
    ASSERT_TRUE(native.wait_events(1));
    EXPECT_EQ(json::parse(native.events[0].data).at("message").as_string(), "seed");
    SseClient seed(srv.port(), "/messages?id=s");
    ASSERT_TRUE(seed.wait_events(1));
    publish(srv.port(), "general", "n", "native");
    ASSERT_TRUE(seed.wait_events(2));
    EXPECT_EQ(seed.events[1].data,
              R"([{"user_id":"old","message":"seed"},{"user_id":"n","message":"native"}])");
}

TEST(NativeApi, SeedSnapshotIsBoundedByLegacyHistory) {
    Server srv({"--store", "memory", "--legacy-history", "3"});
    for (int i = 1; i <= 5; ++i)
        post_json(srv.port(), "/message?id=u", "{\"message\":\"m" + std::to_string(i) + "\"}");
    SseClient seed(srv.port(), "/messages");
    ASSERT_TRUE(seed.wait_events(1));
    EXPECT_EQ(
        seed.events[0].data,
        R"([{"user_id":"u","message":"m3"},{"user_id":"u","message":"m4"},{"user_id":"u","message":"m5"}])");
}

TEST(NativeApi, StreamsThatStayGetEverythingWhileOthersLeaveMidFlush) {
    // More streams than one flush slice, with half of them leaving while messages flow:
    // the ones that stay must see every id once, in order.
    Server srv({"--store", "memory", "--threads", "1", "--publish-rate", "0"});
    std::vector<std::unique_ptr<SseClient>> stay, leave;
    for (int i = 0; i < 300; ++i) {
        stay.push_back(std::make_unique<SseClient>(
            srv.port(), "/rooms/big/events?history=0&id=s" + std::to_string(i)));
        leave.push_back(std::make_unique<SseClient>(
            srv.port(), "/rooms/big/events?history=0&id=l" + std::to_string(i)));
    }
    for (auto& c : stay) ASSERT_TRUE(c->wait_until([&] { return c->status == 200; }));
    std::thread pub([&] {
        for (int i = 0; i < 100; ++i) publish(srv.port(), "big", "p", "m" + std::to_string(i));
    });
    for (auto& c : leave) {
        c->close();
        std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
    pub.join();
    for (auto& c : stay) {
        ASSERT_TRUE(c->wait_until([&] { return ids_of(c->events).size() >= 100; }));
        EXPECT_EQ(ids_of(c->events), range(1, 100));
    }
}
