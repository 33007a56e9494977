// Room: the incremental seed array equals a full re-serialization; snapshots and presence.
#include "chat/room.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "http/seed_view.hpp"

using namespace ssechat::chat;
using ssechat::model::Kind;

namespace {
Event msg(uint64_t id, const std::string& user, const std::string& text) {
    return {id, "general", user, text, 0};
}
std::string full_array(const std::vector<Event>& all, size_t cap) {
    boost::json::array a;
    size_t start = all.size() > cap ? all.size() - cap : 0;
    for (size_t i = start; i < all.size(); ++i) {
        boost::json::object o;
        o["user_id"] = all[i].user_id;
        o["message"] = all[i].text;
        a.push_back(o);
    }
    return "data: " + boost::json::serialize(a) + "\n\n";
}
}  // namespace

TEST(Room, IncrementalSeedArrayMatchesFullSerialization) {
    auto room =
        std::make_shared<Room>("general", 0, 4, std::make_unique<ssechat::http::SeedView>(3));
    std::vector<Event> all;
    EXPECT_EQ(*room->open_view().view, "data: []\n\n");
    for (uint64_t i = 1; i <= 7; ++i) {
        all.push_back(
            msg(i, "u" + std::to_string(i % 2), "text \"" + std::to_string(i) + "\" 😀\n"));
        auto d = room->commit({&all.back()});
        ASSERT_TRUE(d->view);  // a seed stream is open
        EXPECT_EQ(*d->view, full_array(all, 3)) << i;
    }
    EXPECT_EQ(*room->open_view().view, full_array(all, 3));
}

TEST(Room, NoSeedArrayBuiltWithoutSeedStreams) {
    auto room =
        std::make_shared<Room>("general", 0, 4, std::make_unique<ssechat::http::SeedView>(3));
    Event m = msg(1, "a", "x");
    EXPECT_FALSE(room->commit({&m})->view);
}

TEST(Room, SnapshotsFromCache) {
    auto room = std::make_shared<Room>("r", 10, 3);
    std::vector<Event> all;
    for (uint64_t i = 11; i <= 15; ++i) all.push_back(msg(i, "a", "x"));
    for (auto& m : all) room->commit({&m});
    auto s = room->since(12);
    EXPECT_EQ(s.delivered, 15u);
    EXPECT_EQ(s.cache_first, 13u);  // cache holds 3
    ASSERT_EQ(s.entries.size(), 3u);
    EXPECT_EQ(s.entries[0].id, 13u);
    EXPECT_EQ(room->since(14).entries.size(), 1u);
    EXPECT_EQ(room->last(2).entries.front().id, 14u);
    EXPECT_EQ(room->last(0).entries.size(), 0u);
    auto d = room->commit({&all[0]});  // delivery carries ids and encoded events
    EXPECT_EQ(d->ids.size(), 1u);
}

TEST(Room, DeliveryCarriesDistinctSenders) {
    auto room =
        std::make_shared<Room>("general", 0, 8, std::make_unique<ssechat::http::SeedView>(8));
    Event a = msg(1, "a", "1"), b = msg(2, "b", "2"), c = msg(3, "a", "3");
    auto d = room->commit({&a, &b, &c});
    EXPECT_EQ(d->authors, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(d->last_id(), 3u);
    EXPECT_NE(d->events[0]->find("id: 1\nevent: message\n"), std::string::npos);
}

namespace {
Event change(uint64_t id, Kind kind, uint64_t target, const std::string& user,
             const std::string& text = "") {
    Event e = msg(id, user, text);
    e.kind = kind;
    e.target = target;
    return e;
}
}  // namespace

TEST(Room, EditsAndDeletesRewriteTheSeedArrayAndReactionsDoNot) {
    auto room =
        std::make_shared<Room>("general", 0, 16, std::make_unique<ssechat::http::SeedView>(3));
    room->open_view();
    std::vector<Event> all{msg(1, "a", "one"), msg(2, "b", "two"), msg(3, "a", "three")};
    for (auto& m : all) room->commit({&m});
    Event edit = change(4, Kind::Edit, 1, "a", "ONE");
    auto d = room->commit({&edit});
    ASSERT_TRUE(d->view);
    all[0].text = "ONE";
    EXPECT_EQ(*d->view, full_array(all, 3));
    EXPECT_EQ(d->authors, std::vector<std::string>{"a"});
    Event react = change(5, Kind::Reaction, 1, "b", "👍");
    EXPECT_FALSE(room->commit({&react})->view);  // the seed shape has no reactions
    Event del = change(6, Kind::Delete, 2, "mod");
    d = room->commit({&del});
    ASSERT_TRUE(d->view);
    EXPECT_EQ(*d->view, full_array({all[0], all[2]}, 3));
    EXPECT_EQ(d->authors, std::vector<std::string>{"mod"});
    // A message older than the array is not in it: nothing to push.
    Event old = change(7, Kind::Delete, 99, "a");
    EXPECT_FALSE(room->commit({&old})->view);
}

TEST(Room, ADeleteErasesTheTextOfItsMessageAndEditsFromTheCache) {
    auto room = std::make_shared<Room>("r", 0, 16);
    Event m = msg(1, "a", "secret words"), other = msg(2, "b", "keep me");
    Event edit = change(3, Kind::Edit, 1, "a", "more secret words");
    Event del = change(4, Kind::Delete, 1, "a");
    room->commit({&m, &other, &edit});
    room->commit({&del});
    auto snap = room->since(0);
    ASSERT_EQ(snap.entries.size(), 4u);
    std::string all;
    for (const auto& e : snap.entries) all += *e.event;
    EXPECT_EQ(all.find("secret"), std::string::npos) << all;
    EXPECT_NE(all.find("keep me"), std::string::npos);
    EXPECT_NE(snap.entries[0].event->find(R"("deleted":true)"), std::string::npos);
    EXPECT_NE(snap.entries[3].event->find("event: delete\n"), std::string::npos);
    EXPECT_FALSE(snap.messages_only);
}

TEST(Room, TypingIsThrottledToOneEventPerTwoSecondsAndLapsesAfterSix) {
    Room room("r", 0, 8);
    EXPECT_EQ(room.typing("a", true, 1000), std::optional<bool>(true));
    EXPECT_EQ(room.typing("a", true, 1500), std::nullopt) << "a renewal sends nothing";
    EXPECT_EQ(room.typing("a", false, 2000), std::nullopt) << "held back until 3000";
    EXPECT_TRUE(room.typing_due(2500).empty());
    auto due = room.typing_due(3000);
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0], (std::pair<std::string, bool>{"a", false}));
    // Started again and stopped again before its turn: the others need not hear anything.
    EXPECT_EQ(room.typing("a", true, 3500), std::nullopt);
    EXPECT_EQ(room.typing("a", false, 4000), std::nullopt);
    EXPECT_TRUE(room.typing_due(6000).empty());
    // Lapses six seconds after the last renewal.
    EXPECT_EQ(room.typing("a", true, 10000), std::optional<bool>(true));
    EXPECT_EQ(room.typing("a", true, 12000), std::nullopt);
    EXPECT_TRUE(room.typing_due(17999).empty());
    due = room.typing_due(18000);
    ASSERT_EQ(due.size(), 1u);
    EXPECT_FALSE(due[0].second);
    // Users are throttled each on their own.
    EXPECT_EQ(room.typing("b", true, 18000), std::optional<bool>(true));
    EXPECT_TRUE(room.typing_due(30000).size() == 1u);  // b lapsed
    EXPECT_TRUE(room.anyone_typing()) << "kept while its throttle runs";
    EXPECT_TRUE(room.typing_due(32000).empty());
    EXPECT_FALSE(room.anyone_typing()) << "then forgotten";
}

TEST(Room, PresenceCountsDistinctUsers) {
    Room room("r", 0, 8);
    EXPECT_EQ(room.join("a"), 1);
    EXPECT_EQ(room.join("a"), -1);  // second tab: no new join
    EXPECT_EQ(room.join("b"), 2);
    EXPECT_EQ(room.leave("a"), -1);
    EXPECT_EQ(room.leave("a"), 1);
    EXPECT_EQ(room.online(), std::vector<std::string>{"b"});
    EXPECT_EQ(room.leave("zzz"), -1);
}

TEST(Room, UsersOnlineThroughUserStreamsAndRoomStreamsCountOnce) {
    Room r("lobby", 0, 16);
    std::string alice = "alice", bob = "bob";
    EXPECT_EQ(r.join_member(&alice), 1);
    EXPECT_EQ(r.join_member(&alice), -1) << "already in";
    EXPECT_EQ(r.join("alice"), -1) << "online already, through a user stream";
    EXPECT_EQ(r.join("bob"), 2);
    EXPECT_EQ(r.join_member(&bob), -1);
    EXPECT_EQ(r.online_count(), 2u);
    EXPECT_EQ(r.online(), (std::vector<std::string>{"alice", "bob"}));
    EXPECT_EQ(r.leave_member(&alice), -1) << "still online through a room stream";
    EXPECT_EQ(r.leave("alice"), 1);
    EXPECT_EQ(r.leave("bob"), -1);
    EXPECT_EQ(r.leave_member(&bob), 0);
    EXPECT_EQ(r.online_count(), 0u);
}

TEST(Room, SnapshotsByPositionSayWhetherTheCacheCoversThem) {
    auto room = std::make_shared<Room>("lobby", 0, 2);
    Room& r = *room;
    std::vector<Event> evs;
    for (uint64_t i = 1; i <= 3; ++i) {
        Event e = msg(i, "u", "m");
        e.pos = 10 * i;
        evs.push_back(e);
    }
    for (auto& e : evs) r.commit({&e});
    auto s = r.since_pos(20);  // the cache holds ids 2 and 3 (positions 20, 30)
    ASSERT_EQ(s.entries.size(), 1u);
    EXPECT_EQ(s.entries[0].id, 3u);
    EXPECT_TRUE(s.covered);
    s = r.since_pos(5);  // id 1 (position 10) is no longer cached
    EXPECT_EQ(s.entries.size(), 2u);
    EXPECT_FALSE(s.covered);
}

TEST(Room, AUserFormCarriesTheCursorOfEveryStoreShard) {
    // A room on store shard 1 of 2: its event's cursor is its own position there and, on
    // shard 0, where the node stood when the event was sequenced.
    ssechat::chat::Sequence seq;
    seq.epochs = {"ep", "eq"};
    seq.pos = {7, 0};
    auto room = std::make_shared<Room>("lobby", 0, 4, nullptr, 1);
    Event e = msg(1, "u", "m");
    e.pos = 20;
    auto d = room->commit({&e}, false, &seq);
    EXPECT_EQ(d->room->shard(), 1u);
    const std::string& room_form = *d->events[0];
    EXPECT_EQ(room_form.substr(0, 6), "id: 1\n");
    EXPECT_EQ(*d->user_events[0], "id: ep.7~eq.20\n" + room_form.substr(6));
    // One shard: the position alone, as before shards.
    ssechat::chat::Sequence one;
    one.epochs = {"ep"};
    one.pos = {3};
    auto plain = std::make_shared<Room>("plain", 0, 4);
    auto d1 = plain->commit({&e}, false, &one);
    EXPECT_EQ(*d1->user_events[0], "id: ep.20\n" + room_form.substr(6));
    EXPECT_FALSE(room->commit({&e}, false, nullptr)->user_events[0]) << "no user stream open";
}

TEST(Room, AUserWithRecordsOnTwoLoopsCountsOnce) {
    Room r("lobby", 0, 16);
    std::string one = "ann", two = "ann";  // two loops' records of one user (TLS streams)
    EXPECT_EQ(r.join_member(&one), 1);
    EXPECT_EQ(r.join_member(&two), -1);
    EXPECT_EQ(r.online_count(), 1u);
    EXPECT_EQ(r.online(), (std::vector<std::string>{"ann"}));
    EXPECT_EQ(r.leave_member(&one), -1) << "still online on the other loop";
    EXPECT_EQ(r.online_count(), 1u);
    EXPECT_EQ(r.leave_member(&two), 0);
    EXPECT_EQ(r.online_count(), 0u);
}

TEST(Room, AnEventAsRoomStreamsCarryIt) {
    ssechat::model::Event e{6, "lobby", "mod", "", 2006};
    e.kind = ssechat::model::Kind::Delete;
    EXPECT_EQ(*ssechat::chat::room_form(e, "{}"), "id: 6\nevent: delete\ndata: {}\n\n");
}
