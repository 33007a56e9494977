// One connection per user: rooms a user joins (PUT/DELETE /me/rooms/{room}), their summaries
// with unread and mention counts, read markers and receipts, and GET /me/events, one stream
// for every joined room that resumes exactly by an opaque cursor, across a kill -9 too.
// In memory and in SQLite; with Redis the routes say they are not there yet (501).
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <map>
#include <set>
#include <thread>

#include "harness.hpp"
#include "services.hpp"

using namespace itest;
namespace json = boost::json;

namespace {

const Headers kJson{{"Content-Type", "application/json"}};

Response join(int port, const std::string& user, const std::string& room) {
    return request(port, "PUT", "/me/rooms/" + room + "?id=" + user);
}

Response leave(int port, const std::string& user, const std::string& room) {
    return request(port, "DELETE", "/me/rooms/" + room + "?id=" + user);
}

Response mark(int port, const std::string& user, const std::string& room, const std::string& body) {
    return request(port, "PUT", "/me/rooms/" + room + "/read?id=" + user, body, kJson);
}

json::object summary_of(const Response& r) {
    return json::parse(r.body).as_object();
}

// The summary of `room` in GET /me/rooms, or an empty object.
json::object listed(int port, const std::string& user, const std::string& room) {
    auto r = request(port, "GET", "/me/rooms?id=" + user);
    EXPECT_EQ(r.status, 200) << r.body;
    auto all = json::parse(r.body);
    for (const auto& v : all.at("rooms").as_array())
        if (v.at("name").as_string() == room) return v.as_object();
    return {};
}

uint64_t num(const json::object& o, const char* k) {
    return o.at(k).to_number<uint64_t>();
}

// The events of a kind a stream got, with their data parsed.
std::vector<json::object> of_kind(const SseClient& c, const std::string& kind) {
    std::vector<json::object> out;
    for (const auto& e : c.events)
        if (e.event == kind) out.push_back(json::parse(e.data).as_object());
    return out;
}

std::string last_cursor(const SseClient& c) {
    std::string id;
    for (const auto& e : c.events)
        if (e.has_id) id = e.id;
    return id;
}

// Eight clients post 300 messages each, round-robin over five rooms, to `ports` (several
// nodes: spread over them) while `user` reads them all on one user stream at `stream_port`.
// Every message arrives once, each room's ids with no hole, and the cursors rise in stream
// order (a resume from any of them is exact).
void concurrent_publishers_reach_one_user_stream(const std::vector<int>& ports, int stream_port) {
    const std::vector<std::string> rooms{"r0", "r1", "r2", "r3", "r4"};
    for (const auto& r : rooms) ASSERT_EQ(join(stream_port, "ursula", r).status, 200);
    SseClient me(stream_port, "/me/events?id=ursula");
    ASSERT_TRUE(me.wait_events(1));
    constexpr int kClients = 8, kEach = 300;
    std::vector<std::thread> clients;
    std::atomic<int> failed{0};
    for (int c = 0; c < kClients; ++c)
        clients.emplace_back([&, c] {
            for (int i = 0; i < kEach; ++i) {
                int port = ports[static_cast<size_t>(c + i) % ports.size()];
                auto r = publish_raw(port, rooms[static_cast<size_t>(c + i) % rooms.size()],
                                     "p" + std::to_string(c), "m" + std::to_string(i));
                if (r.status != 201) ++failed;
            }
        });
    for (auto& t : clients) t.join();
    ASSERT_EQ(failed.load(), 0);
    const size_t total = kClients * kEach;
    me.wait_until([&] { return room_messages(me).size() >= total; }, 20000ms);
    me.drain(300ms);
    std::map<std::string, std::vector<uint64_t>> by_room;
    for (const auto& m : room_messages(me)) {
        auto colon = m.find(':');
        by_room[m.substr(0, colon)].push_back(std::stoull(m.substr(colon + 1)));
    }
    size_t got = 0;
    for (const auto& r : rooms) {
        auto& ids = by_room[r];
        got += ids.size();
        EXPECT_EQ(ids, range(1, ids.size())) << "room " << r << ": every id once, in order";
    }
    EXPECT_EQ(got, total) << "every message reached the user stream";
    std::vector<std::string> cursors;
    for (const auto& e : me.events)
        if (e.event == "message") cursors.push_back(e.id);
    // A position per store shard ("<epoch>.<pos>", joined by '~' with several): each only
    // rises, and every event moves one.
    auto pos = [](const std::string& c) {
        std::vector<uint64_t> out;
        for (size_t at = 0; at < c.size();) {
            size_t end = std::min(c.find('~', at), c.size());
            out.push_back(std::stoull(c.substr(c.find('.', at) + 1, end)));
            at = end + 1;
        }
        return out;
    };
    for (size_t i = 1; i < cursors.size(); ++i) {
        auto a = pos(cursors[i - 1]), b = pos(cursors[i]);
        ASSERT_EQ(a.size(), b.size());
        for (size_t k = 0; k < a.size(); ++k)
            ASSERT_LE(a[k], b[k]) << "cursors rise in stream order";
        ASSERT_NE(a, b) << "each event moves the cursor";
    }
}

class Users : public ::testing::TestWithParam<std::string> {
  protected:
    // What a stream's order promises: commit order with one store shard; with several, each
    // shard's order, not across them (checked here room by room).
    std::vector<std::string> in_order(std::vector<std::string> v) const {
        if (GetParam() == "shards")
            std::stable_sort(v.begin(), v.end(), [](const std::string& a, const std::string& b) {
                return a.substr(0, a.find(':')) < b.substr(0, b.find(':'));
            });
        return v;
    }
    void SetUp() override {
        dir_ = temp_dir();
        start();
    }
    void start(std::vector<std::string> extra = {}) {
        srv_.reset();
        std::vector<std::string> args{"--publish-rate", "0", "--typing-rate", "0"};
        // Redis: a fresh server for each start.
        auto store = store_args(GetParam(), redis_, dir_);
        args.insert(args.end(), store.begin(), store.end());
        args.insert(args.end(), extra.begin(), extra.end());
        srv_ = std::make_unique<Server>(args);
    }
    int port() const { return srv_->port(); }
    std::string dir_;
    std::unique_ptr<Server> srv_;
    std::unique_ptr<RedisServer> redis_;
};

}  // namespace

TEST_P(Users, JoinLeaveSummariesUnreadAndMentions) {
    auto r = join(port(), "alice", "lobby");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, R"({"name":"lobby","last_id":0,"read":0,"unread":0,"mentions":0,"online":0,)"
                      R"("kind":"public","notify":"mentions"})");
    EXPECT_EQ(join(port(), "alice", "lobby").status, 200) << "joining twice is harmless";
    publish(port(), "lobby", "bob", "hello");
    publish(port(), "lobby", "bob", "@alice look");
    publish(port(), "lobby", "bob", "mail me at bob@alice.example or @alicia");
    publish(port(), "lobby", "alice", "my own: not unread");
    auto s = listed(port(), "alice", "lobby");
    EXPECT_EQ(num(s, "last_id"), 4u);
    EXPECT_EQ(num(s, "unread"), 3u);
    EXPECT_EQ(num(s, "mentions"), 1u);
    EXPECT_FALSE(s.contains("unread_more"));
    // A deleted message is no longer unread, nor a mention.
    r = request(port(), "DELETE", "/rooms/lobby/messages/2?id=bob");
    ASSERT_EQ(r.status, 200) << r.body;
    s = listed(port(), "alice", "lobby");
    EXPECT_EQ(num(s, "unread"), 2u);
    EXPECT_EQ(num(s, "mentions"), 0u);
    // An edit that mentions counts.
    r = request(port(), "PATCH", "/rooms/lobby/messages/1?id=bob", R"({"message":"hi @alice!"})",
                kJson);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(num(listed(port(), "alice", "lobby"), "mentions"), 1u);
    // Read markers: forward only; past the last id is 400; the answer is the summary.
    r = mark(port(), "alice", "lobby", R"({"id":1})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(num(summary_of(r), "read"), 1u);
    EXPECT_EQ(num(summary_of(r), "unread"), 1u);
    r = mark(port(), "alice", "lobby", R"({"id":0})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(num(summary_of(r), "read"), 1u) << "a marker never moves back";
    r = mark(port(), "alice", "lobby", R"({"id":99})");
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body.find("past the last id"), std::string::npos) << r.body;
    EXPECT_EQ(mark(port(), "carol", "lobby", R"({"id":1})").status, 404) << "not a member";
    for (const char* bad : {"", "{}", R"({"id":-1})", R"({"id":"3"})", R"({"id":1.5})", "[1]",
                            R"({"id":1,"id":2})"}) {
        r = mark(port(), "alice", "lobby", bad);
        EXPECT_EQ(r.status, 400) << bad;
        EXPECT_NE(r.body.find("\"error\""), std::string::npos);
    }
    // Receipts: every member's marker (bob joined at the last id, 6: four messages, a
    // delete and an edit).
    ASSERT_EQ(join(port(), "bob", "lobby").status, 200);
    r = request(port(), "GET", "/rooms/lobby/receipts?id=x");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"room":"lobby","receipts":{"alice":1,"bob":6}})");
    // Leaving answers the summary and drops the room from the list.
    r = leave(port(), "alice", "lobby");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(summary_of(r).at("name").as_string(), "lobby");
    EXPECT_EQ(request(port(), "GET", "/me/rooms?id=alice").body, R"({"rooms":[]})");
    EXPECT_EQ(leave(port(), "alice", "lobby").status, 404);
    EXPECT_EQ(request(port(), "GET", "/me/rooms").status, 400) << "no user";
    EXPECT_EQ(join(port(), "alice", "bad%20room").status, 400);
}

TEST_P(Users, CountsStopAt999) {
    ASSERT_EQ(join(port(), "alice", "big").status, 200);
    for (int i = 0; i < 1001; ++i)
        ASSERT_EQ(publish_raw(port(), "big", "bob", i % 2 ? "@alice hi" : "hi").status, 201);
    auto s = listed(port(), "alice", "big");
    EXPECT_EQ(num(s, "unread"), 999u);
    EXPECT_TRUE(s.at("unread_more").as_bool());
    EXPECT_EQ(num(s, "mentions"), 499u) << "mentions among the first 999 unread";
    EXPECT_TRUE(s.at("mentions_more").as_bool()) << "and more may follow";
}

TEST_P(Users, TheRoomLimitPerUser) {
    start({"--max-rooms-per-user", "2"});
    EXPECT_EQ(join(port(), "u", "r1").status, 200);
    EXPECT_EQ(join(port(), "u", "r2").status, 200);
    auto r = join(port(), "u", "r3");
    EXPECT_EQ(r.status, 403);
    EXPECT_NE(r.body.find("max-rooms-per-user"), std::string::npos) << r.body;
    EXPECT_EQ(leave(port(), "u", "r1").status, 200);
    EXPECT_EQ(join(port(), "u", "r3").status, 200);
}

TEST_P(Users, OneStreamCarriesEveryJoinedRoomLive) {
    ASSERT_EQ(join(port(), "alice", "a").status, 200);
    ASSERT_EQ(join(port(), "alice", "b").status, 200);
    publish(port(), "a", "bob", "before");
    SseClient me(port(), "/me/events?id=alice");
    ASSERT_TRUE(me.wait_events(1));
    ASSERT_EQ(me.events[0].event, "rooms");
    EXPECT_TRUE(me.events[0].has_id) << "the snapshot is a place to resume from";
    auto rooms = json::parse(me.events[0].data).at("rooms").as_array();
    ASSERT_EQ(rooms.size(), 2u);
    EXPECT_EQ(rooms[0].at("name").as_string(), "a");
    EXPECT_EQ(rooms[0].at("last_id").to_number<uint64_t>(), 1u);
    EXPECT_EQ(rooms[1].at("name").as_string(), "b");
    publish(port(), "a", "bob", "one");
    publish(port(), "c", "bob", "not joined");
    publish(port(), "b", "bob", "two");
    ASSERT_TRUE(me.wait_until([&] { return room_messages(me).size() == 2; })) << me.body;
    EXPECT_EQ(room_messages(me), (std::vector<std::string>{"a:2", "b:1"}));
    for (const auto& e : me.events)
        if (e.event == "message") {
            EXPECT_NE(e.id, "2") << "the id is a cursor, not a room id";
        }
    // Joined live: the room is added; left: it is gone.
    ASSERT_EQ(join(port(), "alice", "c").status, 200);
    ASSERT_TRUE(me.wait_until([&] { return of_kind(me, "joined").size() == 1; }));
    EXPECT_EQ(of_kind(me, "joined")[0].at("room").as_string(), "c");
    publish(port(), "c", "bob", "now joined");
    ASSERT_TRUE(me.wait_until([&] { return room_messages(me).size() == 3; }));
    EXPECT_EQ(room_messages(me).back(), "c:2");
    ASSERT_EQ(leave(port(), "alice", "a").status, 200);
    ASSERT_TRUE(me.wait_until([&] { return of_kind(me, "left").size() == 1; }));
    publish(port(), "a", "bob", "after leaving");
    publish(port(), "b", "bob", "still here");
    ASSERT_TRUE(me.wait_until([&] { return room_messages(me).size() == 4; }));
    EXPECT_EQ(room_messages(me).back(), "b:2");
    // Changes of every kind, in their rooms.
    ASSERT_EQ(request(port(), "PUT", "/rooms/b/messages/2/reactions/%F0%9F%91%8D?id=bob").status,
              200);
    ASSERT_EQ(request(port(), "DELETE", "/rooms/b/messages/1?id=bob").status, 200);
    ASSERT_TRUE(me.wait_until(
        [&] { return of_kind(me, "reaction").size() == 1 && of_kind(me, "delete").size() == 1; }));
    EXPECT_EQ(of_kind(me, "delete")[0].at("room").as_string(), "b");
    // Typing, receipts and read markers: the room streams and the user's own streams.
    ASSERT_EQ(join(port(), "bob", "b").status, 200);
    SseClient bob_user(port(), "/me/events?id=bob");
    ASSERT_TRUE(bob_user.wait_events(1));
    SseClient bob_room(port(), "/rooms/b/events?id=bob&presence=0");
    ASSERT_TRUE(bob_room.wait_until([&] { return bob_room.status == 200; }));
    ASSERT_EQ(request(port(), "POST", "/rooms/b/typing?id=bob", R"({"typing":true})", kJson).status,
              204);
    ASSERT_TRUE(me.wait_until([&] { return of_kind(me, "typing").size() == 1; }));
    EXPECT_EQ(json::serialize(of_kind(me, "typing")[0]),
              R"({"room":"b","user_id":"bob","typing":true})");
    ASSERT_EQ(mark(port(), "alice", "b", R"({"id":4})").status, 200);
    ASSERT_TRUE(me.wait_until([&] { return of_kind(me, "read").size() == 1; }));
    EXPECT_EQ(json::serialize(of_kind(me, "read")[0]), R"({"room":"b","id":4})");
    ASSERT_TRUE(bob_room.wait_until([&] { return of_kind(bob_room, "receipt").size() == 1; }));
    ASSERT_TRUE(bob_user.wait_until([&] { return of_kind(bob_user, "receipt").size() == 1; }));
    me.drain(200ms);
    EXPECT_TRUE(of_kind(me, "receipt").empty()) << "one's own marker comes as read";
    EXPECT_EQ(json::serialize(of_kind(bob_room, "receipt")[0]),
              R"({"room":"b","user_id":"alice","id":4})");
    for (const auto& e : bob_room.events)
        if (e.event == "receipt") {
            EXPECT_FALSE(e.has_id) << "receipts carry no id";
        }
    // Operators see user streams apart.
    auto m = request(port(), "GET", "/metrics");
    EXPECT_NE(m.body.find(R"(ssechat_streams{api="user"} 2)"), std::string::npos);
    // Presence of others in joined rooms names its room.
    auto presence = of_kind(me, "presence");
    ASSERT_FALSE(presence.empty());
    EXPECT_EQ(presence.back().at("room").as_string(), "b");
}

TEST_P(Users, ReceiptsAreThrottledToOneASecondTheLatestWinning) {
    ASSERT_EQ(join(port(), "alice", "r").status, 200);
    for (int i = 0; i < 5; ++i) publish(port(), "r", "bob", "m");
    SseClient room(port(), "/rooms/r/events?id=bob&presence=0&history=0");
    ASSERT_TRUE(room.wait_until([&] { return room.status == 200; }));
    for (const char* b : {R"({"id":1})", R"({"id":2})", R"({"id":3})", R"({"id":4})"})
        ASSERT_EQ(mark(port(), "alice", "r", b).status, 200);
    ASSERT_TRUE(room.wait_until([&] { return of_kind(room, "receipt").size() == 2; }, 4000ms));
    room.drain(1500ms);
    auto got = of_kind(room, "receipt");
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(num(got[0], "id"), 1u);
    EXPECT_EQ(num(got[1], "id"), 4u) << "the held one is the latest";
}

TEST_P(Users, AResumeContinuesEveryRoomExactlyIncludingRoomsJoinedSince) {
    ASSERT_EQ(join(port(), "alice", "a").status, 200);
    ASSERT_EQ(join(port(), "alice", "b").status, 200);
    std::string cursor;
    {
        SseClient me(port(), "/me/events?id=alice");
        ASSERT_TRUE(me.wait_events(1));
        publish(port(), "a", "bob", "a1");
        publish(port(), "b", "bob", "b1");
        ASSERT_TRUE(me.wait_until([&] { return room_messages(me).size() == 2; }));
        cursor = last_cursor(me);
    }
    // While away: both rooms move, and a room is joined and talked in.
    publish(port(), "b", "bob", "b2");
    publish(port(), "a", "bob", "a2");
    publish(port(), "c", "bob", "c1 before joining");
    ASSERT_EQ(join(port(), "alice", "c").status, 200);
    publish(port(), "c", "bob", "c2");
    publish(port(), "a", "bob", "a3");
    SseClient again(port(), "/me/events?id=alice", {{"Last-Event-ID", cursor}});
    ASSERT_TRUE(again.wait_until([&] { return room_messages(again).size() >= 4; })) << again.body;
    again.drain(300ms);
    EXPECT_EQ(in_order(room_messages(again)), in_order({"b:2", "a:2", "c:2", "a:3"}))
        << "in commit order, nothing twice, nothing before the join";
    EXPECT_EQ(of_kind(again, "rooms").size(), 0u);
    ASSERT_EQ(of_kind(again, "joined").size(), 1u);
    EXPECT_EQ(of_kind(again, "joined")[0].at("room").as_string(), "c");
    // Live after the replay, with no duplicate.
    publish(port(), "b", "bob", "b3");
    ASSERT_TRUE(again.wait_until([&] { return room_messages(again).size() == 5; }));
    EXPECT_EQ(room_messages(again).back(), "b:3");
    // Changes replay too, as their own kinds.
    ASSERT_EQ(request(port(), "PATCH", "/rooms/b/messages/3?id=bob", R"({"message":"b3!"})", kJson)
                  .status,
              200);
    ASSERT_TRUE(again.wait_until([&] { return of_kind(again, "edit").size() == 1; }));
}

TEST_P(Users, ACursorTheServerCannotReadStartsOverWithAReset) {
    ASSERT_EQ(join(port(), "alice", "a").status, 200);
    for (std::string bad : {"garbage", "12", "deadbeef.99999999", "\xff\xfe", "x.1"}) {
        SseClient me(port(), "/me/events?id=alice", {{"Last-Event-ID", bad}});
        ASSERT_TRUE(me.wait_events(2)) << bad;
        EXPECT_EQ(me.status, 200);
        EXPECT_EQ(me.events[0].event, "reset");
        EXPECT_EQ(me.events[0].data, R"({"room":null})");
        EXPECT_EQ(me.events[1].event, "rooms");
    }
}

TEST_P(Users, TheCursorStaysSmallInAThousandRooms) {
    for (int i = 0; i < 1000; ++i)
        ASSERT_EQ(join(port(), "alice", "room" + std::to_string(i)).status, 200);
    for (int i = 0; i < 1000; i += 100) publish(port(), "room" + std::to_string(i), "bob", "x");
    SseClient me(port(), "/me/events?id=alice");
    ASSERT_TRUE(me.wait_events(1, 10000ms));
    publish(port(), "room999", "bob", "y");
    ASSERT_TRUE(me.wait_until([&] { return room_messages(me).size() == 1; }));
    EXPECT_LE(last_cursor(me).size(), 4096u);
    EXPECT_LE(last_cursor(me).size(), 40u) << "it does not grow with the rooms";
    EXPECT_EQ(json::parse(me.events[0].data).at("rooms").as_array().size(), 1000u);
}

TEST_P(Users, ARoomWhoseHistoryNoLongerReachesBackSaysWhereItStarts) {
    // A cache of two, so that the resume reads the store, which keeps three events a room.
    start({"--cache", "2", "--retain", "3"});
    ASSERT_EQ(join(port(), "alice", "a").status, 200);
    ASSERT_EQ(join(port(), "alice", "b").status, 200);
    std::string cursor;
    {
        SseClient me(port(), "/me/events?id=alice");
        ASSERT_TRUE(me.wait_events(1));
        publish(port(), "a", "bob", "a1");
        ASSERT_TRUE(me.wait_until([&] { return room_messages(me).size() == 1; }));
        cursor = last_cursor(me);
    }
    for (int i = 2; i <= 7; ++i) publish(port(), "a", "bob", "a" + std::to_string(i));
    publish(port(), "b", "bob", "b1");
    SseClient again(port(), "/me/events?id=alice", {{"Last-Event-ID", cursor}});
    ASSERT_TRUE(again.wait_until([&] { return room_messages(again).size() >= 4; })) << again.body;
    again.drain(300ms);
    auto resets = of_kind(again, "reset");
    ASSERT_EQ(resets.size(), 1u) << again.body;
    EXPECT_EQ(json::serialize(resets[0]), R"({"room":"a","oldest":5})");
    EXPECT_EQ(in_order(room_messages(again)), in_order({"a:5", "a:6", "a:7", "b:1"}));
}

TEST_P(Users, AResumeFurtherBehindThanMaxReplayIsCutWithAReset) {
    start({"--max-replay", "2"});
    ASSERT_EQ(join(port(), "alice", "a").status, 200);
    std::string cursor;
    {
        SseClient me(port(), "/me/events?id=alice");
        ASSERT_TRUE(me.wait_events(1));
        publish(port(), "a", "bob", "a1");
        ASSERT_TRUE(me.wait_until([&] { return room_messages(me).size() == 1; }));
        cursor = last_cursor(me);
    }
    for (int i = 2; i <= 6; ++i) publish(port(), "a", "bob", "a" + std::to_string(i));
    SseClient again(port(), "/me/events?id=alice", {{"Last-Event-ID", cursor}});
    ASSERT_TRUE(again.wait_until([&] { return room_messages(again).size() >= 2; })) << again.body;
    again.drain(300ms);
    ASSERT_EQ(of_kind(again, "reset").size(), 1u);
    EXPECT_EQ(json::serialize(of_kind(again, "reset")[0]), R"({"room":"a","oldest":5})");
    EXPECT_EQ(room_messages(again), (std::vector<std::string>{"a:5", "a:6"}));
}

TEST_P(Users, ConcurrentPublishersToSeveralRoomsReachAUserStreamWhole) {
    start({"--threads", "2"});
    concurrent_publishers_reach_one_user_stream({port()}, port());
}

INSTANTIATE_TEST_SUITE_P(Stores, Users, ::testing::Values("memory", "sqlite", "redis", "shards"));

TEST(UsersTokens, TheRoomsClaimDecidesWhatAUserMayJoin) {
    Server srv({"--store", "memory", "--jwt-secret", "k"});
    auto tok = run_binary({"token", "--sub", "zoe", "--secret", "k", "--rooms", "lobby"});
    ASSERT_EQ(tok.code, 0) << tok.out;
    Headers auth{{"Authorization", "Bearer " + tok.out.substr(0, tok.out.find('\n'))}};
    EXPECT_EQ(request(srv.port(), "PUT", "/me/rooms/lobby", "", auth).status, 200);
    auto r = request(srv.port(), "PUT", "/me/rooms/secret", "", auth);
    EXPECT_EQ(r.status, 403);
    EXPECT_NE(r.body.find("does not allow room secret"), std::string::npos) << r.body;
    EXPECT_EQ(request(srv.port(), "PUT", "/me/rooms/lobby?id=mallory", "", auth).status, 200)
        << "?id= does not choose the user with a token";
    r = request(srv.port(), "GET", "/me/rooms", "", auth);
    EXPECT_NE(r.body.find(R"("name":"lobby")"), std::string::npos);
    EXPECT_EQ(request(srv.port(), "GET", "/me/rooms?id=mallory").status, 401);
    SseClient me(srv.port(), "/me/events", auth);
    ASSERT_TRUE(me.wait_events(1));
    EXPECT_EQ(me.status, 200);
    EXPECT_EQ(me.events[0].event, "rooms");
    EXPECT_NE(me.events[0].data.find(R"("name":"lobby")"), std::string::npos);
}

// A token limited to some rooms sees nothing of the user's other rooms on the user's own
// routes: not in /me/rooms, not live or on a resume on /me/events, not in /rooms' pages.
TEST(UsersTokens, TheRoomsClaimBoundsTheUserStreamTheUsersRoomsAndTheRoomList) {
    Server srv({"--store", "memory", "--jwt-secret", "k", "--publish-rate", "0"});
    auto token = [](std::vector<std::string> rooms) {
        std::vector<std::string> args{"token", "--sub", "zoe", "--secret", "k"};
        for (auto& r : rooms) args.insert(args.end(), {"--rooms", r});
        auto t = run_binary(args);
        EXPECT_EQ(t.code, 0) << t.out;
        return Headers{{"Authorization", "Bearer " + t.out.substr(0, t.out.find('\n'))}};
    };
    Headers wide = token({}), narrow = token({"lobby"}), other = token({"bob"});
    for (auto room : {"lobby", "secret", "hr-salaries"})
        ASSERT_EQ(request(srv.port(), "PUT", std::string("/me/rooms/") + room, "", wide).status,
                  200);
    auto post = [&](const std::string& room, const std::string& text) {
        auto r = request(srv.port(), "POST", "/rooms/" + room + "/messages",
                         R"({"message":")" + text + R"("})",
                         {wide[0], {"Content-Type", "application/json"}});
        ASSERT_EQ(r.status, 201) << r.body;
    };
    post("secret", "before");
    post("bob", "b");
    auto mine = request(srv.port(), "GET", "/me/rooms", "", narrow);
    EXPECT_NE(mine.body.find(R"("name":"lobby")"), std::string::npos) << mine.body;
    EXPECT_EQ(mine.body.find("secret"), std::string::npos) << mine.body;
    EXPECT_EQ(mine.body.find("hr-salaries"), std::string::npos) << mine.body;

    SseClient live(srv.port(), "/me/events", narrow);
    SseClient all(srv.port(), "/me/events", wide);
    ASSERT_TRUE(live.wait_events(1));
    ASSERT_TRUE(all.wait_events(1));
    EXPECT_EQ(live.events[0].data.find("secret"), std::string::npos) << live.events[0].data;
    post("secret", "live secret");
    post("lobby", "live lobby");
    ASSERT_TRUE(all.wait_until([&] { return room_messages(all).size() == 2; }));
    ASSERT_TRUE(live.wait_until([&] { return room_messages(live).size() == 1; }));
    ASSERT_EQ(request(srv.port(), "POST", "/rooms/secret/typing", R"({"typing":true})",
                      {wide[0], {"Content-Type", "application/json"}})
                  .status,
              204);
    ASSERT_EQ(request(srv.port(), "PUT", "/me/rooms/secret/read", R"({"id":2})",
                      {wide[0], {"Content-Type", "application/json"}})
                  .status,
              200);
    live.drain(500ms);
    EXPECT_EQ(room_messages(live), (std::vector<std::string>{"lobby:1"}));
    EXPECT_EQ(live.body.find("secret"), std::string::npos) << live.body;

    // A resume from the start of the epoch replays only what the token covers.
    std::string epoch = live.events[0].id.substr(0, live.events[0].id.find('.'));
    SseClient again(srv.port(), "/me/events", {narrow[0], {"Last-Event-ID", epoch + ".0"}});
    ASSERT_TRUE(again.wait_until([&] { return room_messages(again).size() >= 1; }));
    again.drain(300ms);
    EXPECT_EQ(room_messages(again), (std::vector<std::string>{"lobby:1"}));
    EXPECT_EQ(again.body.find("secret"), std::string::npos) << again.body;

    // Pages of /rooms: neither a page nor its cursor names a room the token does not cover.
    std::string seen;
    std::string cursor;
    for (int i = 0; i < 10; ++i) {
        auto r = request(srv.port(), "GET",
                         "/rooms?limit=1" + (cursor.empty() ? "" : "&cursor=" + cursor), "", other);
        ASSERT_EQ(r.status, 200) << r.body;
        seen += r.body;
        auto next = json::parse(r.body).at("next");
        if (next.is_null()) break;
        cursor = std::string(next.as_string());
    }
    EXPECT_NE(seen.find(R"("name":"bob")"), std::string::npos) << seen;
    for (auto hidden : {"lobby", "secret", "hr-salaries"})
        EXPECT_EQ(seen.find(hidden), std::string::npos) << seen;
    auto wide_page = request(srv.port(), "GET", "/rooms?limit=1", "", wide);
    EXPECT_EQ(json::parse(wide_page.body).at("next"), "bob")
        << "an unlimited token pages as before";
}

TEST(UsersDurable, KillNineKeepsMembershipsMarkersAndEveryResume) {
    std::string dir = temp_dir();
    std::vector<std::string> args{"--store", "sqlite", "--data", dir, "--publish-rate", "0"};
    std::string c1, c2;
    {
        Server srv(args);
        for (auto room : {"a", "b", "c"}) ASSERT_EQ(join(srv.port(), "alice", room).status, 200);
        ASSERT_EQ(join(srv.port(), "bob", "a").status, 200);
        SseClient one(srv.port(), "/me/events?id=alice");
        SseClient two(srv.port(), "/me/events?id=bob");
        ASSERT_TRUE(one.wait_events(1));
        ASSERT_TRUE(two.wait_events(1));
        publish(srv.port(), "a", "carol", "a1");
        publish(srv.port(), "b", "carol", "b1");
        ASSERT_TRUE(one.wait_until([&] { return room_messages(one).size() == 2; }));
        ASSERT_TRUE(two.wait_until([&] { return room_messages(two).size() == 1; }));
        c1 = last_cursor(one);
        c2 = last_cursor(two);
        ASSERT_EQ(mark(srv.port(), "alice", "a", R"({"id":1})").status, 200);
        ASSERT_EQ(leave(srv.port(), "alice", "c").status, 200);
        publish(srv.port(), "c", "carol", "c1");
        publish(srv.port(), "a", "carol", "a2");
        publish(srv.port(), "b", "carol", "b2");
        srv.kill9();
    }
    Server srv(args);
    publish(srv.port(), "a", "carol", "a3");
    SseClient one(srv.port(), "/me/events?id=alice", {{"Last-Event-ID", c1}});
    SseClient two(srv.port(), "/me/events?id=bob", {{"Last-Event-ID", c2}});
    ASSERT_TRUE(one.wait_until([&] { return room_messages(one).size() >= 3; }));
    ASSERT_TRUE(two.wait_until([&] { return room_messages(two).size() >= 2; }));
    one.drain(300ms);
    EXPECT_EQ(room_messages(one), (std::vector<std::string>{"a:2", "b:2", "a:3"}));
    EXPECT_EQ(room_messages(two), (std::vector<std::string>{"a:2", "a:3"}));
    EXPECT_EQ(num(listed(srv.port(), "alice", "a"), "read"), 1u);
    EXPECT_TRUE(listed(srv.port(), "alice", "c").empty()) << "the leave was kept";
    EXPECT_FALSE(listed(srv.port(), "alice", "b").empty());
}

TEST(UsersCluster, OneUserOnTwoNodesAndAResumeThatMovesAcrossAfterAKillNine) {
    RedisServer redis;
    std::vector<std::string> args{"--store",   "redis",          "--redis",
                                  redis.url(), "--publish-rate", "0"};
    Server a(args), b(args);
    ASSERT_EQ(join(a.port(), "alice", "x").status, 200);
    SseClient on_a(a.port(), "/me/events?id=alice");
    SseClient on_b(b.port(), "/me/events?id=alice");
    ASSERT_TRUE(on_a.wait_events(1));
    ASSERT_TRUE(on_b.wait_events(1));
    EXPECT_EQ(on_b.events[0].event, "rooms");
    publish(a.port(), "x", "bob", "x1");
    publish(b.port(), "x", "bob", "x2");
    ASSERT_TRUE(on_a.wait_until([&] { return room_messages(on_a).size() == 2; }));
    ASSERT_TRUE(on_b.wait_until([&] { return room_messages(on_b).size() == 2; }));
    EXPECT_EQ(last_cursor(on_a), last_cursor(on_b)) << "one cursor for the same place";
    // A join on one node reaches the user's stream on the other, which adds the room live.
    ASSERT_EQ(join(b.port(), "alice", "y").status, 200);
    ASSERT_TRUE(on_a.wait_until([&] { return of_kind(on_a, "joined").size() == 1; }));
    publish(b.port(), "y", "bob", "y1");
    ASSERT_TRUE(on_a.wait_until([&] { return room_messages(on_a).size() == 3; }));
    EXPECT_EQ(room_messages(on_a).back(), "y:1");
    // A marker set on B reaches the stream on A.
    ASSERT_EQ(mark(b.port(), "alice", "y", R"({"id":1})").status, 200);
    ASSERT_TRUE(on_a.wait_until([&] { return of_kind(on_a, "read").size() == 1; }));
    // Node A dies (kill -9) under the open stream; it resumes on B exactly.
    std::string cursor = last_cursor(on_a);
    a.kill9();
    ASSERT_TRUE(on_a.wait_closed());
    publish(b.port(), "y", "bob", "y2");
    publish(b.port(), "x", "bob", "x3");
    SseClient moved(b.port(), "/me/events?id=alice", {{"Last-Event-ID", cursor}});
    ASSERT_TRUE(moved.wait_until([&] { return room_messages(moved).size() >= 2; }));
    moved.drain(300ms);
    EXPECT_EQ(room_messages(moved), (std::vector<std::string>{"y:2", "x:3"}));
    EXPECT_TRUE(of_kind(moved, "reset").empty());
}

TEST(UsersCluster, ConcurrentPublishersOnTwoNodesReachAUserStreamWhole) {
    RedisServer redis;
    std::vector<std::string> args{"--store",        "redis", "--redis",   redis.url(),
                                  "--publish-rate", "0",     "--threads", "2"};
    Server a(args), b(args);
    concurrent_publishers_reach_one_user_stream({a.port(), b.port()}, a.port());
}

// The same with the rooms on two Redis shards (r1 on the first, the others on the second):
// each shard's positions rise in the cursor.
TEST(UsersCluster, ConcurrentPublishersOnTwoNodesOfTwoShardsReachAUserStreamWhole) {
    RedisServer one, two;
    std::vector<std::string> args{
        "--store",        "redis", "--redis",   one.url() + "," + two.url(),
        "--publish-rate", "0",     "--threads", "2"};
    Server a(args), b(args);
    concurrent_publishers_reach_one_user_stream({a.port(), b.port()}, a.port());
}
