// Typing notices (the first part of "One connection per user"): POST /rooms/{room}/typing
// reaches the other users' streams of the room, not the typist's own, is never stored or
// replayed, is throttled and lapses, and has a rate limit of its own.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <thread>

#include "harness.hpp"
#include "services.hpp"

using namespace itest;
namespace json = boost::json;

namespace {

Response say_typing(int port, const std::string& room, const std::string& user, bool on) {
    return request(port, "POST", "/rooms/" + room + "/typing?id=" + user,
                   on ? R"({"typing":true})" : R"({"typing":false})",
                   {{"Content-Type", "application/json"}});
}

std::vector<json::object> typing_events(const SseClient& c) {
    std::vector<json::object> out;
    for (const auto& e : c.events)
        if (e.event == "typing") {
            EXPECT_FALSE(e.has_id) << "typing carries no id";
            out.push_back(json::parse(e.data).as_object());
        }
    return out;
}

}  // namespace

TEST(Typing, OthersHearItTheTypistDoesNotAndNothingIsStored) {
    Server srv({"--store", "memory"});
    SseClient alice(srv.port(), "/rooms/t/events?id=alice&presence=0");
    SseClient bob(srv.port(), "/rooms/t/events?id=bob&presence=0");
    ASSERT_TRUE(alice.wait_until([&] { return alice.status == 200; }));
    ASSERT_TRUE(bob.wait_until([&] { return bob.status == 200; }));
    auto r = say_typing(srv.port(), "t", "bob", true);
    EXPECT_EQ(r.status, 204) << r.body;
    ASSERT_TRUE(alice.wait_until([&] { return typing_events(alice).size() == 1; }));
    auto ev = typing_events(alice)[0];
    EXPECT_EQ(json::serialize(ev), R"({"room":"t","user_id":"bob","typing":true})");
    bob.drain(300ms);
    EXPECT_TRUE(typing_events(bob).empty()) << "a user's own streams do not hear it";
    // Nothing stored: no id taken, nothing replayed, no history.
    EXPECT_EQ(publish(srv.port(), "t", "alice", "first message"), 1u);
    SseClient again(srv.port(), "/rooms/t/events?since=0&presence=0");
    ASSERT_TRUE(again.wait_events(1));
    again.drain(300ms);
    EXPECT_TRUE(typing_events(again).empty());
}

TEST(Typing, ThrottledToOneEventEveryTwoSecondsAndLapsingAfterSix) {
    Server srv({"--store", "memory"});
    SseClient alice(srv.port(), "/rooms/t/events?id=alice&presence=0");
    ASSERT_TRUE(alice.wait_until([&] { return alice.status == 200; }));
    auto start = std::chrono::steady_clock::now();
    ASSERT_EQ(say_typing(srv.port(), "t", "bob", true).status, 204);
    ASSERT_EQ(say_typing(srv.port(), "t", "bob", true).status, 204);
    ASSERT_EQ(say_typing(srv.port(), "t", "bob", false).status, 204);
    ASSERT_TRUE(alice.wait_until([&] { return typing_events(alice).size() == 2; }, 5000ms));
    auto took = std::chrono::steady_clock::now() - start;
    auto evs = typing_events(alice);
    EXPECT_TRUE(evs[0].at("typing").as_bool());
    EXPECT_FALSE(evs[1].at("typing").as_bool());
    EXPECT_GE(took, 1900ms) << "the stop waited for its turn";
    // Typing that is not renewed lapses: the others hear typing:false after six seconds.
    std::this_thread::sleep_for(2100ms);  // past the throttle of the stop above
    ASSERT_EQ(say_typing(srv.port(), "t", "carol", true).status, 204);
    auto since = std::chrono::steady_clock::now();
    ASSERT_TRUE(alice.wait_until([&] { return typing_events(alice).size() == 4; }, 9000ms));
    EXPECT_GE(std::chrono::steady_clock::now() - since, 5900ms);
    evs = typing_events(alice);
    EXPECT_EQ(evs[3].at("user_id").as_string(), "carol");
    EXPECT_FALSE(evs[3].at("typing").as_bool());
}

TEST(Typing, BadBodiesAndItsOwnRateLimit) {
    Server srv({"--store", "memory", "--typing-rate", "1", "--typing-burst", "2", "--publish-rate",
                "1", "--publish-burst", "1"});
    for (const char* bad : {"", "{}", R"({"typing":"yes"})", R"({"typing":1})", "[true]",
                            R"({"typing":true,"typing":false})"}) {
        auto r = request(srv.port(), "POST", "/rooms/t/typing?id=u", bad,
                         {{"Content-Type", "application/json"}});
        EXPECT_EQ(r.status, 400) << bad;
        EXPECT_NE(r.body.find("typing"), std::string::npos);
    }
    EXPECT_EQ(request(srv.port(), "POST", "/rooms/t/typing", R"({"typing":true})").status, 400)
        << "no user";
    EXPECT_EQ(request(srv.port(), "GET", "/rooms/t/typing?id=u").status, 405);
    // Its own limit: spending it leaves publishing alone, and the other way round.
    EXPECT_EQ(publish_raw(srv.port(), "t", "u", "x").status, 201);
    int limited = 0;
    for (int i = 0; i < 4; ++i)
        if (say_typing(srv.port(), "t", "u", true).status == 429) ++limited;
    EXPECT_GE(limited, 1);
    EXPECT_EQ(say_typing(srv.port(), "t", "u", false).status, 204)
        << "a stop is never limited: refused, it would leave \"typing\" on every screen";
    EXPECT_EQ(say_typing(srv.port(), "t", "v", true).status, 204) << "per user";
}

TEST(Typing, ReachesStreamsOnAnotherClusterNode) {
    RedisServer redis;
    std::vector<std::string> args{"--store",   "redis",          "--redis",
                                  redis.url(), "--publish-rate", "0"};
    Server a(args), b(args);
    SseClient alice(b.port(), "/rooms/t/events?id=alice&presence=0");
    SseClient bob(a.port(), "/rooms/t/events?id=bob&presence=0");
    ASSERT_TRUE(alice.wait_until([&] { return alice.status == 200; }));
    ASSERT_TRUE(bob.wait_until([&] { return bob.status == 200; }));
    ASSERT_EQ(say_typing(a.port(), "t", "bob", true).status, 204);
    ASSERT_TRUE(alice.wait_until([&] { return typing_events(alice).size() == 1; }));
    EXPECT_EQ(typing_events(alice)[0].at("user_id").as_string(), "bob");
    bob.drain(300ms);
    EXPECT_TRUE(typing_events(bob).empty());
}
