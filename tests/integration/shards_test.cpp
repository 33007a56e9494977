// Rooms spread over several Redis shards (--redis with a list): each room on the shard its
// name hashes to, one order per room on every node, user streams whose cursor holds a
// position per shard and resumes exactly on any node, and a node that refuses a shard list
// the data was not written with.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <set>
#include <thread>

#include "harness.hpp"
#include "services.hpp"
#include "util/placement.hpp"

using namespace itest;
namespace json = boost::json;

namespace {

std::vector<std::string> node_args(const std::string& list) {
    return {"--store", "redis", "--redis", list, "--publish-rate", "0", "--threads", "2"};
}

std::string list_of(const std::vector<const RedisServer*>& shards) {
    std::string out;
    for (const auto* s : shards) out += (out.empty() ? "" : ",") + s->url();
    return out;
}

Response join(int port, const std::string& user, const std::string& room) {
    return request(port, "PUT", "/me/rooms/" + room + "?id=" + user);
}

std::string cursor_of(const SseClient& c, size_t message) {
    size_t seen = 0;
    for (const auto& e : c.events)
        if (e.event == "message" && seen++ == message) return e.id;
    return "";
}

// The positions of a cursor "<epoch>.<pos>~<epoch>.<pos>".
std::vector<uint64_t> positions(const std::string& cursor) {
    std::vector<uint64_t> out;
    size_t at = 0;
    while (at < cursor.size()) {
        size_t end = cursor.find('~', at);
        if (end == std::string::npos) end = cursor.size();
        std::string part = cursor.substr(at, end - at);
        out.push_back(std::stoull(part.substr(part.find('.') + 1)));
        at = end + 1;
    }
    return out;
}

std::multiset<std::string> bag(const std::vector<std::string>& v) {
    return {v.begin(), v.end()};
}

}  // namespace

TEST(Shards, EachRoomLivesOnTheShardItsNameHashesToAndEveryNodeAgrees) {
    RedisServer one, two;
    const RedisServer* shard[] = {&one, &two};
    const std::string list = list_of({&one, &two});
    Server a(node_args(list)), b(node_args(list));
    std::vector<std::string> rooms;
    for (int i = 0; i < 12; ++i) rooms.push_back("room-" + std::to_string(i));
    SseClient watch(b.port(), "/rooms/room-1/events?id=w&presence=0");
    ASSERT_TRUE(watch.wait_until([&] { return !watch.head.empty(); }));
    for (int round = 0; round < 3; ++round)
        for (size_t i = 0; i < rooms.size(); ++i)
            EXPECT_EQ(publish(i % 2 ? a.port() : b.port(), rooms[i], "ann", "m"),
                      static_cast<uint64_t>(round + 1));
    std::set<uint32_t> used;
    for (const auto& r : rooms) {
        uint32_t at = ssechat::placement::shard_of(r, 2);
        used.insert(at);
        EXPECT_EQ(shard[at]->cli({"EXISTS", "ssechat:room:" + r}), "1\n") << r;
        EXPECT_EQ(shard[1 - at]->cli({"EXISTS", "ssechat:room:" + r}), "0\n") << r;
        EXPECT_EQ(shard[at]->cli({"HGET", "ssechat:rooms", r}), "3\n") << r;
    }
    EXPECT_EQ(used.size(), 2u) << "the rooms spread over both shards";
    // Each shard is marked as what it is.
    EXPECT_EQ(one.cli({"GET", "ssechat:shard"}).substr(0, 4), "0/2/");
    EXPECT_EQ(two.cli({"GET", "ssechat:shard"}).substr(0, 4), "1/2/");
    EXPECT_EQ(one.cli({"GET", "ssechat:shard"}).substr(4),
              two.cli({"GET", "ssechat:shard"}).substr(4))
        << "one set";
    // Published on both nodes, in one order on the other.
    ASSERT_TRUE(watch.wait_until([&] { return ids_of(watch.events).size() >= 3; }));
    EXPECT_EQ(ids_of(watch.events), range(1, 3));
    // The room list merges the shards by name, page by page.
    std::vector<std::string> listed;
    std::string next;
    for (int page = 0; page < 10; ++page) {
        auto r =
            request(a.port(), "GET", "/rooms?limit=5" + (next.empty() ? "" : "&cursor=" + next));
        ASSERT_EQ(r.status, 200) << r.body;
        auto v = json::parse(r.body);
        for (const auto& room : v.at("rooms").as_array()) {
            listed.emplace_back(room.at("name").as_string());
            EXPECT_EQ(room.at("last_id").to_number<uint64_t>(), 3u);
        }
        if (v.at("next").is_null()) break;
        next = v.at("next").as_string();
    }
    auto sorted = rooms;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(listed, sorted);
}

TEST(Shards, AUserStreamAcrossShardsResumesExactlyOnAnyNode) {
    RedisServer one, two;
    const std::string list = list_of({&one, &two});
    Server a(node_args(list)), b(node_args(list));
    // room-0 and room-2 on shard 1 (index 0), room-1 and room-6 on shard 2.
    const std::vector<std::string> rooms{"room-0", "room-1", "room-2", "room-6"};
    std::set<uint32_t> used;
    for (const auto& r : rooms) used.insert(ssechat::placement::shard_of(r, 2));
    ASSERT_EQ(used.size(), 2u);
    for (const auto& r : rooms) ASSERT_EQ(join(a.port(), "alice", r).status, 200);
    SseClient on_a(a.port(), "/me/events?id=alice");
    SseClient on_b(b.port(), "/me/events?id=alice");
    ASSERT_TRUE(on_a.wait_events(1));
    ASSERT_TRUE(on_b.wait_events(1));
    EXPECT_EQ(positions(on_a.events[0].id).size(), 2u) << on_a.events[0].id;
    std::vector<std::string> sent;
    for (int i = 0; i < 5; ++i)
        for (const auto& r : rooms) {
            auto id = publish(i % 2 ? a.port() : b.port(), r, "bob", "m");
            sent.push_back(r + ":" + std::to_string(id));
        }
    for (auto* c : {&on_a, &on_b}) {
        ASSERT_TRUE(c->wait_until([&] { return room_messages(*c).size() >= sent.size(); }));
        c->drain(200ms);
        EXPECT_EQ(bag(room_messages(*c)), bag(sent));
        // Each room's ids in order; cursors never fall on any shard.
        std::map<std::string, uint64_t> last;
        std::vector<uint64_t> prev;
        for (const auto& e : c->events) {
            if (e.event != "message") continue;
            auto o = json::parse(e.data).as_object();
            std::string room(o.at("room").as_string());
            uint64_t id = o.at("id").to_number<uint64_t>();
            EXPECT_EQ(id, last[room] + 1) << room;
            last[room] = id;
            auto p = positions(e.id);
            ASSERT_EQ(p.size(), 2u);
            if (!prev.empty()) {
                EXPECT_GE(p[0], prev[0]);
                EXPECT_GE(p[1], prev[1]);
                EXPECT_TRUE(p != prev) << "each event moves the cursor";
            }
            prev = p;
        }
    }
    // A resume from every point of the stream, on the other node: exactly what followed it.
    const auto seen = room_messages(on_a);
    for (size_t k : {size_t{0}, size_t{3}, size_t{7}, seen.size() - 1}) {
        SseClient again(b.port(), "/me/events?id=alice", {{"Last-Event-ID", cursor_of(on_a, k)}});
        std::vector<std::string> want(seen.begin() + static_cast<std::ptrdiff_t>(k + 1),
                                      seen.end());
        again.wait_until([&] { return room_messages(again).size() >= want.size(); }, 3000ms);
        again.drain(300ms);
        EXPECT_EQ(bag(room_messages(again)), bag(want)) << "from message " << k;
        for (const auto& e : again.events) EXPECT_NE(e.event, "reset") << "from message " << k;
    }
    // Node A dies under its stream; what was published meanwhile, on both shards, comes on B.
    std::string cursor = cursor_of(on_a, seen.size() - 1);
    a.kill9();
    ASSERT_TRUE(on_a.wait_closed());
    std::vector<std::string> later;
    for (const auto& r : rooms)
        later.push_back(r + ":" + std::to_string(publish(b.port(), r, "bob", "late")));
    SseClient moved(b.port(), "/me/events?id=alice", {{"Last-Event-ID", cursor}});
    ASSERT_TRUE(moved.wait_until([&] { return room_messages(moved).size() >= later.size(); }));
    moved.drain(300ms);
    EXPECT_EQ(bag(room_messages(moved)), bag(later));
    // A one-shard cursor (from before the shards) starts over with a reset.
    SseClient foreign(b.port(), "/me/events?id=alice", {{"Last-Event-ID", "0123abcd.5"}});
    ASSERT_TRUE(foreign.wait_events(2));
    EXPECT_EQ(foreign.events[0].event, "reset");
    EXPECT_EQ(foreign.events[1].event, "rooms");
}

TEST(Shards, ANodeRefusesAShardListTheDataWasNotWrittenWith) {
    RedisServer one, two, three;
    const std::string list = list_of({&one, &two});
    {
        Server a(node_args(list));
        for (int i = 0; i < 6; ++i) publish(a.port(), "room-" + std::to_string(i), "ann", "m");
        EXPECT_EQ(a.terminate(), 0);
    }
    struct Case {
        std::string list, says;
    };
    for (const Case& c :
         {Case{list_of({&two, &one}),
               "holds shard 2 of 2: --redis must list the shards in the "
               "order their data was written"},
          Case{one.url(), "holds shard 1 of 2"},
          Case{list_of({&one, &two, &three}), "holds shard 1 of 2"},
          Case{list_of({&one, &three}), "is empty, but the set's shard 2 was written with"}}) {
        auto e = run_binary({"--store", "redis", "--redis", c.list, "--port", "0"});
        EXPECT_EQ(e.code, 1) << c.list << ": " << e.out;
        EXPECT_NE(e.out.find(c.says), std::string::npos) << c.list << ": " << e.out;
    }
    EXPECT_EQ(three.cli({"DBSIZE"}), "0\n") << "nothing was written to the wrong Redis";
    // The right list still starts, and finds every room.
    Server again(node_args(list));
    for (int i = 0; i < 6; ++i)
        EXPECT_EQ(publish(again.port(), "room-" + std::to_string(i), "ann", "m"), 2u);
}

TEST(Shards, ASingleRedisFromBeforeShardsIsReadAsItIsAndNotTakenForAShard) {
    RedisServer old, spare;
    {
        Server a(node_args(old.url()));
        publish(a.port(), "lobby", "ann", "kept");
        EXPECT_EQ(a.terminate(), 0);
    }
    // A release before shards wrote no marker.
    EXPECT_EQ(old.cli({"GET", "ssechat:shard"}).substr(0, 4), "0/1/");
    old.cli({"DEL", "ssechat:shard"});
    auto e = run_binary({"--store", "redis", "--redis", list_of({&old, &spare}), "--port", "0"});
    EXPECT_EQ(e.code, 1) << e.out;
    EXPECT_NE(e.out.find("written by a single Redis"), std::string::npos) << e.out;
    EXPECT_EQ(spare.cli({"DBSIZE"}), "0\n") << "nothing was written to the new shard";
    // Alone, as before: its data is there, and it is marked from now on.
    Server a(node_args(old.url()));
    EXPECT_EQ(publish(a.port(), "lobby", "ann", "again"), 2u);
    EXPECT_EQ(old.cli({"GET", "ssechat:shard"}).substr(0, 4), "0/1/");
}

// One shard down stops only its own rooms: publishes to the other shard's rooms, even when
// the writer commits them in one batch with the dead shard's, are stored and answered 201.
TEST(Shards, OneShardDownStopsOnlyItsOwnRooms) {
    RedisServer one, two;
    Server a(node_args(list_of({&one, &two})));
    // room-0 on the first shard, room-1 on the second.
    ASSERT_EQ(publish(a.port(), "room-0", "ann", "before"), 1u);
    ASSERT_EQ(publish(a.port(), "room-1", "ann", "before"), 1u);
    two.kill9();
    std::atomic<bool> done{false};
    std::atomic<int> dead_answers{0}, dead_503{0};
    std::thread dead([&] {
        while (!done) {
            auto r = publish_raw(a.port(), "room-1", "bob", "into the dead shard");
            ++dead_answers;
            dead_503 += r.status == 503;
        }
    });
    std::vector<int> live;
    for (int i = 0; i < 60; ++i) live.push_back(publish_raw(a.port(), "room-0", "ann", "m").status);
    done = true;
    dead.join();
    EXPECT_EQ(std::count(live.begin(), live.end(), 201), 60)
        << "every publish to the live shard is stored";
    EXPECT_GT(dead_answers.load(), 0);
    EXPECT_EQ(dead_503.load(), dead_answers.load()) << "the dead shard's rooms answer 503";
    auto r = request(a.port(), "GET", "/rooms/room-0/messages?limit=100");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(json::parse(r.body).at("messages").as_array().size(), 61u);
    // Memberships alike: a join or a read marker in the live shard's room is answered while
    // the dead shard's are refused, also when the writer takes them in one batch.
    done = false;
    std::atomic<int> dead_joins{0}, dead_join_503{0};
    std::thread joiner([&] {
        for (int i = 0; !done; ++i) {
            auto r = request(a.port(), "PUT", "/me/rooms/room-1?id=u" + std::to_string(i));
            ++dead_joins;
            dead_join_503 += r.status == 503;
        }
    });
    std::vector<int> member_answers;
    for (int i = 0; i < 30; ++i) {
        std::string user = "m" + std::to_string(i);
        member_answers.push_back(request(a.port(), "PUT", "/me/rooms/room-0?id=" + user).status);
        member_answers.push_back(request(a.port(), "PUT", "/me/rooms/room-0/read?id=" + user,
                                         R"({"id":1})", {{"Content-Type", "application/json"}})
                                     .status);
    }
    done = true;
    joiner.join();
    EXPECT_EQ(std::count(member_answers.begin(), member_answers.end(), 200), 60)
        << "every join and marker in the live shard's room";
    EXPECT_GT(dead_joins.load(), 0);
    EXPECT_EQ(dead_join_503.load(), dead_joins.load());
    // Back: its rooms take publishes again, their ids going on.
    two.start();
    EXPECT_TRUE(
        eventually([&] { return publish_raw(a.port(), "room-1", "ann", "again").status == 201; }));
}

namespace {

// Everything a room shows: its history (edits, deletes and reactions in the messages' state).
std::string room_view(int port, const std::string& room) {
    auto r = request(port, "GET", "/rooms/" + room + "/messages?limit=100");
    return std::to_string(r.status) + " " + r.body;
}

}  // namespace

// One shard to two: the rooms that move, move whole (history, states, reactions, members and
// their markers), a run cut short is finished by running it again, and the nodes find every
// room where the new list places it.
TEST(Shards, ReshardFromOneShardToTwoMovesRoomsWholeAndResumesWhenCutShort) {
    RedisServer one, two;
    std::vector<std::string> rooms;
    for (int i = 0; i < 24; ++i) rooms.push_back("room-" + std::to_string(i));
    std::map<std::string, std::string> before;
    std::string alice_rooms;
    {
        Server a(node_args(one.url()));
        for (const auto& r : rooms) {
            ASSERT_EQ(join(a.port(), "alice", r).status, 200);
            for (int k = 0; k < 4; ++k) publish(a.port(), r, "bob", r + " m" + std::to_string(k));
        }
        // Changes to some: an edit, a reaction, a delete, and a read marker.
        for (size_t i = 0; i < rooms.size(); i += 3) {
            const std::string base = "/rooms/" + rooms[i] + "/messages/";
            ASSERT_EQ(request(a.port(), "PATCH", base + "1?id=bob", R"({"message":"edited"})",
                              {{"Content-Type", "application/json"}})
                          .status,
                      200);
            ASSERT_EQ(request(a.port(), "PUT", base + "2/reactions/%F0%9F%91%8D?id=alice").status,
                      200);
            ASSERT_EQ(request(a.port(), "DELETE", base + "3?id=bob").status, 200);
            ASSERT_EQ(request(a.port(), "PUT", "/me/rooms/" + rooms[i] + "/read?id=alice",
                              R"({"id":2})", {{"Content-Type", "application/json"}})
                          .status,
                      200);
        }
        for (const auto& r : rooms) before[r] = room_view(a.port(), r);
        alice_rooms = request(a.port(), "GET", "/me/rooms?id=alice").body;
        EXPECT_EQ(a.terminate(), 0);
    }
    const std::string from = one.url(), to = one.url() + "," + two.url();
    // Cut short: the command dies at its third line (SIGPIPE), with rooms still to move.
    capture(std::string(SSECHAT_BINARY) + " redis reshard --from " + from + " --to " + to +
            " | head -n 2");
    EXPECT_NE(one.cli({"HGET", "ssechat:reshard", "lists"}), "\n") << "it was cut short";
    auto e = run_binary({"redis", "reshard", "--from", from, "--to", to}, 60000ms);
    ASSERT_EQ(e.code, 0) << e.out;
    EXPECT_NE(e.out.find("\"moved\":"), std::string::npos) << e.out;
    EXPECT_EQ(one.cli({"EXISTS", "ssechat:reshard"}), "0\n") << "done";
    const RedisServer* shard[] = {&one, &two};
    for (const auto& r : rooms) {
        uint32_t at = ssechat::placement::shard_of(r, 2);
        EXPECT_EQ(shard[at]->cli({"EXISTS", "ssechat:room:" + r}), "1\n") << r;
        EXPECT_EQ(shard[1 - at]->cli({"EXISTS", "ssechat:room:" + r}), "0\n") << r;
        EXPECT_EQ(shard[1 - at]->cli({"HEXISTS", "ssechat:member:alice", r}), "0\n") << r;
    }
    // The old list is refused now; the new one has everything.
    auto old = run_binary({"--store", "redis", "--redis", from, "--port", "0"});
    EXPECT_EQ(old.code, 1) << old.out;
    EXPECT_NE(old.out.find("holds shard 1 of 2"), std::string::npos) << old.out;
    Server a(node_args(to));
    for (const auto& r : rooms) EXPECT_EQ(room_view(a.port(), r), before[r]) << r;
    EXPECT_EQ(request(a.port(), "GET", "/me/rooms?id=alice").body, alice_rooms);
    // Live on both shards: a user stream gets the moved rooms' new messages, and their ids go on.
    SseClient me(a.port(), "/me/events?id=alice");
    ASSERT_TRUE(me.wait_events(1));
    EXPECT_EQ(me.events[0].event, "rooms");
    // (room-1 on the second shard now, room-2 stayed on the first: four messages each.)
    for (const auto& r : {"room-1", "room-2"}) EXPECT_EQ(publish(a.port(), r, "bob", "after"), 5u);
    ASSERT_TRUE(me.wait_until([&] { return room_messages(me).size() >= 2; }));
    EXPECT_EQ(bag(room_messages(me)), bag({"room-1:5", "room-2:5"}));
    // Running it again with the same lists changes nothing: the data says it has two shards.
    auto again = run_binary({"redis", "reshard", "--from", from, "--to", to});
    EXPECT_EQ(again.code, 1) << again.out;
}

// Three nodes publish at once into a room of each shard; every node's stream of a room shows
// the same events in the same order, each id once.
TEST(Shards, ThreeNodesPublishingAtOnceSeeEachRoomInOneOrder) {
    RedisServer one, two;
    const std::string list = list_of({&one, &two});
    Server a(node_args(list)), b(node_args(list)), c(node_args(list));
    const int ports[] = {a.port(), b.port(), c.port()};
    const std::vector<std::string> rooms{"room-0", "room-1"};  // the first shard, the second
    std::vector<std::unique_ptr<SseClient>> streams;           // room-major: rooms[r] on node n
    for (const auto& r : rooms)
        for (int p : ports) {
            streams.push_back(
                std::make_unique<SseClient>(p, "/rooms/" + r + "/events?id=w&presence=0"));
            ASSERT_TRUE(streams.back()->wait_until([&] { return !streams.back()->head.empty(); }));
        }
    constexpr int kEach = 60;
    std::vector<std::thread> publishers;
    std::atomic<int> failed{0};
    for (int n = 0; n < 3; ++n)
        publishers.emplace_back([&, n] {
            for (int i = 0; i < kEach; ++i)
                if (publish_raw(ports[n], rooms[static_cast<size_t>(i % 2)],
                                "p" + std::to_string(n),
                                std::to_string(n) + "-" + std::to_string(i))
                        .status != 201)
                    ++failed;
        });
    for (auto& t : publishers) t.join();
    ASSERT_EQ(failed.load(), 0);
    const size_t per_room = 3 * kEach / 2;
    for (size_t r = 0; r < rooms.size(); ++r) {
        std::vector<std::string> first;
        for (size_t n = 0; n < 3; ++n) {
            SseClient& s = *streams[r * 3 + n];
            ASSERT_TRUE(s.wait_until([&] { return ids_of(s.events).size() >= per_room; }))
                << rooms[r] << " on node " << n;
            s.drain(200ms);
            EXPECT_EQ(ids_of(s.events), range(1, per_room)) << rooms[r] << " on node " << n;
            std::vector<std::string> texts;
            for (const auto& e : s.events)
                if (e.event == "message")
                    texts.emplace_back(json::parse(e.data).at("message").as_string());
            if (n == 0)
                first = texts;
            else
                EXPECT_EQ(texts, first) << rooms[r] << ": node " << n << " saw another order";
        }
    }
}

// Routing across shards: each node hears only the rooms it serves, on their own shard; Redis
// itself says who is subscribed to each room's channel.
TEST(Shards, EachNodeHearsOnlyTheRoomsItServesOnTheirShard) {
    RedisServer one, two;
    const std::string list = list_of({&one, &two});
    // `c` takes every publish (so it holds both rooms); `a` serves room-0 (the first shard),
    // `b` room-1 (the second).
    Server a(node_args(list)), b(node_args(list)), c(node_args(list));
    SseClient on_a(a.port(), "/rooms/room-0/events?id=ann&presence=0");
    SseClient on_b(b.port(), "/rooms/room-1/events?id=bob&presence=0");
    ASSERT_TRUE(on_a.wait_until([&] { return !on_a.head.empty(); }));
    ASSERT_TRUE(on_b.wait_until([&] { return !on_b.head.empty(); }));
    for (int i = 0; i < 6; ++i) publish(c.port(), i % 2 ? "room-1" : "room-0", "cat", "m");
    ASSERT_TRUE(on_a.wait_until([&] { return ids_of(on_a.events).size() >= 3; }));
    ASSERT_TRUE(on_b.wait_until([&] { return ids_of(on_b.events).size() >= 3; }));
    const std::string read = "ssechat_cluster_events_read_total{room_loaded=\"";
    EXPECT_EQ(metric(a.port(), read + "true\"}"), 3);
    EXPECT_EQ(metric(a.port(), read + "false\"}"), 0);
    EXPECT_EQ(metric(b.port(), read + "true\"}"), 3);
    EXPECT_EQ(metric(b.port(), read + "false\"}"), 0);
    EXPECT_EQ(metric(c.port(), read + "false\"}"), 0);
    // Two subscribers to each room's channel (its server, and `c`), on the room's shard only.
    auto subscribers = [](const RedisServer& r, const std::string& room) {
        auto out = r.cli({"PUBSUB", "SHARDNUMSUB", "ssechat:feed-room:" + room});
        auto nl = out.find('\n');
        return nl == std::string::npos ? -1 : std::stoi(out.substr(nl + 1));
    };
    EXPECT_EQ(subscribers(one, "room-0"), 2);
    EXPECT_EQ(subscribers(two, "room-1"), 2);
    EXPECT_EQ(subscribers(one, "room-1"), 0);
    EXPECT_EQ(subscribers(two, "room-0"), 0);
}

// A room the registry lets go (evicted for space) is no longer heard.
TEST(Shards, ARoomLetGoIsUnsubscribed) {
    RedisServer one, two;
    const std::string list = list_of({&one, &two});
    auto args = node_args(list);
    args.insert(args.end(), {"--max-rooms", "2"});
    Server a(args);
    auto subscribers = [&](const std::string& room) {
        int n = 0;
        for (const RedisServer* r : {&one, &two}) {
            auto out = r->cli({"PUBSUB", "SHARDNUMSUB", "ssechat:feed-room:" + room});
            n += std::stoi(out.substr(out.find('\n') + 1));
        }
        return n;
    };
    {
        SseClient first(a.port(), "/rooms/kept/events?id=ann&presence=0");
        ASSERT_TRUE(first.wait_until([&] { return !first.head.empty(); }));
        publish(a.port(), "kept", "ann", "m");  // a room with messages stays loaded
        ASSERT_TRUE(first.wait_until([&] { return ids_of(first.events).size() == 1; }));
    }
    EXPECT_TRUE(eventually([&] { return subscribers("kept") == 1; }));
    // Two rooms in use now: the idle one is evicted to make room, and let go.
    SseClient x(a.port(), "/rooms/x/events?id=ann&presence=0");
    SseClient y(a.port(), "/rooms/y/events?id=ann&presence=0");
    ASSERT_TRUE(x.wait_until([&] { return !x.head.empty(); }));
    ASSERT_TRUE(y.wait_until([&] { return !y.head.empty(); }));
    EXPECT_TRUE(eventually([&] { return subscribers("kept") == 0; })) << subscribers("kept");
    EXPECT_EQ(subscribers("x"), 1);
    EXPECT_EQ(subscribers("y"), 1);
}
