// The suite every store passes, run against memory, SQLite and Redis (a redis-server started
// for each test): what the hub and the routes rely on, whichever store is underneath. Redis
// assigns ids and checks changes itself (Cluster::publish); the others are handed ids.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "../common/store_events.hpp"
#include "services.hpp"
#include "store/memory/memory_store.hpp"
#include "store/redis/redis_store.hpp"
#include "store/sqlite/sqlite_store.hpp"

using namespace ssechat;
using model::Event;
using store_events::change;
using store_events::ids;
using store_events::msg;
using store_events::SqliteFactory;

namespace {

struct MemoryFactory {
    std::unique_ptr<store::Store> make(uint64_t retain) {
        return std::make_unique<store::MemoryStore>(retain);
    }
};
struct RedisFactory {
    std::vector<std::unique_ptr<itest::RedisServer>> servers;
    std::unique_ptr<store::Store> make(uint64_t retain) {
        servers.push_back(std::make_unique<itest::RedisServer>());
        store::RedisOptions o;
        o.url.port = servers.back()->port();
        o.retain = retain;
        return std::make_unique<store::RedisStore>(std::move(o));
    }
};

template <typename F>
class StoreSuite : public ::testing::Test {
  protected:
    F factory;
    // Stores a batch as the writer would: handed to append() with its ids, or, for a shared
    // store, published (ids assigned there; the suite's batches use the ids it would give).
    // A delete is a moderator's, so that any user's passes the shared store's own check.
    void write(store::Store& s, std::vector<Event> batch) {
        if (auto* cluster = s.cluster()) {
            std::vector<uint64_t> want;
            std::vector<bool> moderator;
            for (const auto& e : batch) {
                want.push_back(e.id);
                moderator.push_back(e.kind == model::Kind::Delete);
            }
            std::vector<store::Published> out;
            cluster->publish(batch, moderator, out);
            for (size_t i = 0; i < batch.size(); ++i) {
                EXPECT_EQ(out[i].status, model::Outcome::Ok) << "event " << i;
                EXPECT_EQ(batch[i].id, want[i]) << "event " << i;
            }
            return;
        }
        // The writer gives each event the store's next position.
        uint64_t pos = s.last_pos(0);
        for (auto& e : batch) e.pos = ++pos;
        s.append(batch);
        s.end_batch();
    }
    // Membership changes, with their results.
    std::vector<store::MemberOp> members(store::Store& s, std::vector<store::MemberOp> ops) {
        s.members(ops);
        return ops;
    }
};
using Backends = ::testing::Types<MemoryFactory, SqliteFactory, RedisFactory>;
TYPED_TEST_SUITE(StoreSuite, Backends);

store::MemberOp op(store::MemberOp::Op o, const std::string& user, const std::string& room,
                   uint64_t id = 0) {
    store::MemberOp m;
    m.op = o;
    m.user = user;
    m.room = room;
    m.id = id;
    m.max_rooms = 100;
    m.ts = 1000;
    return m;
}

}  // namespace

TYPED_TEST(StoreSuite, AppendAndRange) {
    auto s = this->factory.make(0);
    this->write(*s, {msg("a", 1), msg("a", 2), msg("b", 1), msg("a", 3)});
    EXPECT_EQ(ids(s->range("a", 0, UINT64_MAX, 100, false)), (std::vector<uint64_t>{1, 2, 3}));
    EXPECT_EQ(ids(s->range("a", 1, UINT64_MAX, 100, false)), (std::vector<uint64_t>{2, 3}));
    EXPECT_EQ(ids(s->range("a", 0, 3, 100, false)), (std::vector<uint64_t>{1, 2}));
    EXPECT_EQ(ids(s->range("a", 0, UINT64_MAX, 2, false)), (std::vector<uint64_t>{1, 2}));
    EXPECT_EQ(ids(s->range("a", 0, UINT64_MAX, 2, true)), (std::vector<uint64_t>{2, 3}));
    EXPECT_EQ(ids(s->range("b", 0, UINT64_MAX, 100, false)), (std::vector<uint64_t>{1}));
    EXPECT_TRUE(s->range("none", 0, UINT64_MAX, 100, false).empty());
    EXPECT_TRUE(s->range("a", 0, UINT64_MAX, 0, false).empty());
}

TYPED_TEST(StoreSuite, KeepsFieldsExactly) {
    auto s = this->factory.make(0);
    Event m{1, "r", "user_é", "quote \" backslash \\ newline \n emoji 😀", 123456789};
    this->write(*s, {m});
    auto got = s->range("r", 0, UINT64_MAX, 10, false);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].user_id, m.user_id);
    EXPECT_EQ(got[0].text, m.text);
    EXPECT_EQ(got[0].ts, m.ts);
    EXPECT_EQ(got[0].room, "r");
}

TYPED_TEST(StoreSuite, RoomsRememberLastId) {
    auto s = this->factory.make(0);
    this->write(*s, {msg("a", 1), msg("a", 2), msg("b", 1)});
    auto rooms = s->rooms("", 100);
    ASSERT_EQ(rooms.size(), 2u);
    EXPECT_EQ(rooms[0].name, "a");
    EXPECT_EQ(rooms[0].last_id, 2u);
    EXPECT_EQ(rooms[1].last_id, 1u);
    EXPECT_EQ(s->last_id("b"), 1u);
    EXPECT_EQ(s->last_id("none"), 0u);
}

TYPED_TEST(StoreSuite, RoomsArePagedByName) {
    auto s = this->factory.make(0);
    for (const char* r : {"d", "a", "c", "b", "e"}) this->write(*s, {msg(r, 1)});
    auto p1 = s->rooms("", 2);
    ASSERT_EQ(p1.size(), 2u);
    EXPECT_EQ(p1[0].name, "a");
    EXPECT_EQ(p1[1].name, "b");
    auto p2 = s->rooms("b", 2);
    ASSERT_EQ(p2.size(), 2u);
    EXPECT_EQ(p2[0].name, "c");
    EXPECT_EQ(p2[1].name, "d");
    auto p3 = s->rooms("d", 2);
    ASSERT_EQ(p3.size(), 1u);
    EXPECT_EQ(p3[0].name, "e");
    EXPECT_TRUE(s->rooms("e", 2).empty());
}

TYPED_TEST(StoreSuite, RangeAfterTheLargestIdIsEmpty) {
    auto s = this->factory.make(0);
    this->write(*s, {msg("a", 1), msg("a", 2)});
    EXPECT_TRUE(s->range("a", UINT64_MAX, UINT64_MAX, 10, false).empty());
    EXPECT_TRUE(s->range("a", UINT64_MAX - 1, UINT64_MAX, 10, false).empty());
    EXPECT_TRUE(s->messages("a", UINT64_MAX, UINT64_MAX, 10, false).empty());
    EXPECT_TRUE(s->shown("a", UINT64_MAX, UINT64_MAX, 10, true).empty());
    EXPECT_TRUE(s->messages("a", 1, 2, 10, false).empty());
}

TYPED_TEST(StoreSuite, RetentionKeepsNewest) {
    auto s = this->factory.make(3);
    for (uint64_t i = 1; i <= 10; ++i) this->write(*s, {msg("a", i)});
    EXPECT_EQ(ids(s->range("a", 0, UINT64_MAX, 100, false)), (std::vector<uint64_t>{8, 9, 10}));
    EXPECT_EQ(s->rooms("", 10)[0].last_id, 10u);  // trimmed ids are never reused
    EXPECT_EQ(s->last_id("a"), 10u);
}

TYPED_TEST(StoreSuite, ChangesKeepEachMessagesCurrentState) {
    using model::Kind;
    auto s = this->factory.make(0);
    Event reply = msg("r", 2, "answer");
    reply.reply_to = 1;
    this->write(*s, {msg("r", 1, "first"), reply});
    this->write(*s, {change("r", 3, Kind::Edit, 1, "u1", "first, fixed"),
                     change("r", 4, Kind::Reaction, 1, "bob", "👍"),
                     change("r", 5, Kind::Reaction, 1, "ann", "🎉"),
                     change("r", 6, Kind::Reaction, 1, "ann", "👍")});
    this->write(*s, {change("r", 7, Kind::Reaction, 1, "bob", "👍", true)});
    auto m = s->message("r", 1);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->text, "first, fixed");
    EXPECT_EQ(m->edited_ts, 5003);
    EXPECT_EQ(m->ts, 1001);  // the original's
    // By first reaction among those still there: bob's 👍 went, so ann's 🎉 (5) is first.
    ASSERT_EQ(m->reactions.size(), 2u);
    EXPECT_EQ(m->reactions[0].emoji, "🎉");
    EXPECT_EQ(m->reactions[1].emoji, "👍");
    EXPECT_EQ(m->reactions[1].users, std::vector<std::string>{"ann"});
    EXPECT_FALSE(s->message("r", 3)) << "an edit is not a message";
    EXPECT_FALSE(s->message("r", 99));
    EXPECT_EQ(s->message("r", 2)->reply_to, 1u);

    // History pages see messages only, in their state; the log sees every event as stored.
    EXPECT_EQ(ids(s->messages("r", 0, UINT64_MAX, 10, false)), (std::vector<uint64_t>{1, 2}));
    EXPECT_EQ(ids(s->messages("r", 0, UINT64_MAX, 1, true)), (std::vector<uint64_t>{2}));
    EXPECT_EQ(ids(s->messages("r", 1, UINT64_MAX, 10, false)), (std::vector<uint64_t>{2}));
    auto page = s->messages("r", 0, UINT64_MAX, 10, false);
    EXPECT_EQ(page[0].reactions.size(), 2u);
    auto log = s->range("r", 0, UINT64_MAX, 100, false);
    ASSERT_EQ(log.size(), 7u);
    EXPECT_EQ(log[2].kind, Kind::Edit);
    EXPECT_EQ(log[2].target, 1u);
    EXPECT_EQ(log[2].text, "first, fixed");
    EXPECT_EQ(log[6].kind, Kind::Reaction);
    EXPECT_TRUE(log[6].remove);
    EXPECT_EQ(log[6].text, "👍");

    this->write(*s, {change("r", 8, Kind::Delete, 1, "mod")});
    m = s->message("r", 1);
    ASSERT_TRUE(m);
    EXPECT_TRUE(m->deleted);
    EXPECT_EQ(m->text, "");
    EXPECT_TRUE(m->reactions.empty());
    log = s->range("r", 0, UINT64_MAX, 100, false);
    EXPECT_EQ(log[0].text, "") << "a deleted message's text is gone from the log";
    EXPECT_EQ(log[2].text, "") << "and so is the text of its edits";
    EXPECT_EQ(log[1].text, "answer");
}

TYPED_TEST(StoreSuite, ManyReactionsInOneBatchKeepTheirOrderWithRemovesAndDeletes) {
    // SQLite writes a batch's added reactions several rows to a statement: this batch has more
    // than two statements' worth, a removal of one of them and a delete of a message that
    // has some, each of which must see the adds before it.
    using model::Kind;
    auto s = this->factory.make(0);
    this->write(*s, {msg("r", 1), msg("r", 2), msg("r", 3)});
    std::vector<Event> batch;
    uint64_t id = 4;
    for (int i = 0; i < 40; ++i)
        batch.push_back(change("r", id++, Kind::Reaction, 1 + i % 3, "u" + std::to_string(i), "👍"));
    batch.push_back(change("r", id++, Kind::Reaction, 1, "u0", "👍", true));
    batch.push_back(change("r", id++, Kind::Delete, 2, "mod"));
    for (int i = 0; i < 20; ++i)
        batch.push_back(change("r", id++, Kind::Reaction, 3, "v" + std::to_string(i), "🎉"));
    batch.push_back(change("r", id++, Kind::Reaction, 1, "u3", "👍", true));
    this->write(*s, batch);

    auto one = s->message("r", 1);
    ASSERT_TRUE(one);
    ASSERT_EQ(one->reactions.size(), 1u);
    std::vector<std::string> want;  // u0, u3, u6, ... less u0 and u3, who took theirs back
    for (int i = 6; i < 40; i += 3) want.push_back("u" + std::to_string(i));
    EXPECT_EQ(one->reactions[0].users, want);
    EXPECT_TRUE(s->message("r", 2)->reactions.empty()) << "deleted after its reactions";
    auto three = s->message("r", 3);
    ASSERT_EQ(three->reactions.size(), 2u);
    EXPECT_EQ(three->reactions[0].emoji, "👍");
    EXPECT_EQ(three->reactions[0].users.size(), 13u);
    EXPECT_EQ(three->reactions[1].users.size(), 20u);
    EXPECT_EQ(three->reactions[1].users.front(), "v0");
}

TYPED_TEST(StoreSuite, RetentionCountsEventsAndTakesTheirState) {
    using model::Kind;
    auto s = this->factory.make(3);
    this->write(*s, {msg("a", 1), msg("a", 2)});
    this->write(*s, {change("a", 3, Kind::Reaction, 1, "x", "👍"), msg("a", 4), msg("a", 5)});
    EXPECT_EQ(ids(s->range("a", 0, UINT64_MAX, 100, false)), (std::vector<uint64_t>{3, 4, 5}));
    EXPECT_EQ(ids(s->messages("a", 0, UINT64_MAX, 100, false)), (std::vector<uint64_t>{4, 5}));
    EXPECT_FALSE(s->message("a", 1));
}

TYPED_TEST(StoreSuite, MembershipsMarkersAndReceipts) {
    using Op = store::MemberOp::Op;
    using R = store::MemberOp::Result;
    auto s = this->factory.make(0);
    this->write(*s, {msg("a", 1), msg("a", 2), msg("b", 1)});
    // A join's marker is the room's newest id (a shared store reads it itself).
    auto joined = this->members(*s, {op(Op::Join, "ann", "a", 2), op(Op::Join, "ann", "b", 1),
                                     op(Op::Join, "bob", "a", 2)});
    for (const auto& j : joined) EXPECT_EQ(j.result, R::Done) << j.user << " " << j.room;
    EXPECT_EQ(this->members(*s, {op(Op::Join, "ann", "a", 2)})[0].result, R::Unchanged);

    auto mine = s->memberships("ann");
    ASSERT_EQ(mine.size(), 2u);
    EXPECT_EQ(mine[0].room, "a");
    EXPECT_EQ(mine[0].read, 2u);
    EXPECT_EQ(mine[1].room, "b");
    EXPECT_EQ(mine[1].read, 1u);

    // A marker moves forward only.
    this->write(*s, {msg("a", 3)});
    EXPECT_EQ(this->members(*s, {op(Op::Read, "ann", "a", 3)})[0].result, R::Done);
    auto back = this->members(*s, {op(Op::Read, "ann", "a", 2)})[0];
    EXPECT_EQ(back.result, R::Unchanged);
    EXPECT_EQ(back.read, 3u);
    EXPECT_EQ(s->memberships("ann")[0].read, 3u);
    auto receipts = s->receipts("a");
    std::sort(receipts.begin(), receipts.end());
    EXPECT_EQ(receipts, (std::vector<std::pair<std::string, uint64_t>>{{"ann", 3}, {"bob", 2}}));

    auto left = this->members(*s, {op(Op::Leave, "ann", "b")})[0];
    EXPECT_EQ(left.result, R::Done);
    EXPECT_EQ(s->memberships("ann").size(), 1u);
    EXPECT_EQ(this->members(*s, {op(Op::Leave, "ann", "b")})[0].result, R::NotMember);
    EXPECT_EQ(this->members(*s, {op(Op::Read, "ann", "b", 1)})[0].result, R::NotMember);
    EXPECT_TRUE(s->memberships("nobody").empty());

    auto roster = s->roster("a");
    EXPECT_EQ(roster.members.size(), 2u);
    EXPECT_EQ(roster.role("ann"), model::Role::Member);
    auto one = s->roster_of("a", "bob");
    EXPECT_EQ(one.members.size(), 1u);
    EXPECT_EQ(one.role("bob"), model::Role::Member);
    EXPECT_EQ(one.role("ann"), model::Role::None) << "roster_of holds the one user's entries";
}

TYPED_TEST(StoreSuite, RoomRulesProfilesRolesBansAndSettings) {
    using Op = store::MemberOp::Op;
    using R = store::MemberOp::Result;
    auto s = this->factory.make(0);
    auto made = op(Op::Profile, "ann", "team");
    made.profile.visibility = model::Visibility::Private;
    made.profile.name = "The team";
    made.profile.created_by = "ann";
    made.profile.created_at = 1234;
    auto owner = op(Op::Join, "ann", "team");
    owner.role = model::Role::Owner;
    auto add = op(Op::Add, "bob", "team");
    add.by = "ann";
    auto res = this->members(*s, {made, owner, add});
    for (const auto& r : res) EXPECT_EQ(r.result, R::Done);
    auto p = s->profile("team");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->visibility, model::Visibility::Private);
    EXPECT_EQ(p->name, "The team");
    EXPECT_EQ(p->created_by, "ann");
    EXPECT_FALSE(s->profile("nowhere"));

    auto promote = op(Op::Add, "bob", "team");
    promote.by = "ann";
    promote.role = model::Role::Moderator;
    EXPECT_EQ(this->members(*s, {promote})[0].result, R::Done);
    EXPECT_EQ(s->roster("team").role("bob"), model::Role::Moderator);

    auto ban = op(Op::Ban, "cas", "team");
    ban.restriction = {"cas", "bob", "spam", 0, 1000};
    auto mute = op(Op::Mute, "bob", "team");
    mute.restriction = {"bob", "ann", "", 5000, 1000};
    res = this->members(*s, {ban, mute});
    for (const auto& r : res) EXPECT_EQ(r.result, R::Done);
    auto roster = s->roster("team");
    ASSERT_TRUE(roster.bans.contains("cas"));
    EXPECT_EQ(roster.bans.at("cas").reason, "spam");
    EXPECT_EQ(roster.bans.at("cas").by, "bob");
    ASSERT_TRUE(roster.mutes.contains("bob"));
    EXPECT_EQ(roster.mutes.at("bob").until, 5000);
    auto standing = roster.standing("cas", model::Role::None, 2000);
    EXPECT_TRUE(standing.banned);
    EXPECT_TRUE(roster.standing("bob", model::Role::None, 2000).muted);
    EXPECT_FALSE(roster.standing("bob", model::Role::None, 6000).muted) << "a mute lapses";
    EXPECT_EQ(this->members(*s, {op(Op::Unban, "cas", "team")})[0].result, R::Done);
    EXPECT_EQ(this->members(*s, {op(Op::Unban, "cas", "team")})[0].result, R::NotMember);
    EXPECT_FALSE(s->roster("team").bans.contains("cas"));

    EXPECT_TRUE(s->settings("ann").dms_from_anyone);
    auto set = op(Op::Settings, "ann", "");
    set.settings.dms_from_anyone = false;
    EXPECT_EQ(this->members(*s, {set})[0].result, R::Done);
    EXPECT_FALSE(s->settings("ann").dms_from_anyone);
}

TYPED_TEST(StoreSuite, UnreadCountsOthersMessagesAndMentionsUpToACap) {
    auto s = this->factory.make(0);
    std::vector<Event> batch;
    for (uint64_t i = 1; i <= 6; ++i) {
        Event e = msg("u", i, i == 2 ? "hi @ann" : "m");
        e.user_id = i == 4 ? "ann" : "bob";
        batch.push_back(e);
    }
    this->write(*s, batch);
    auto u = s->unread("u", "ann", 0, 100);
    EXPECT_EQ(u.unread, 5u) << "ann's own message is not unread to her";
    EXPECT_FALSE(u.unread_more);
    EXPECT_EQ(u.mentions, 1u);
    auto after = s->unread("u", "ann", 2, 100);
    EXPECT_EQ(after.unread, 3u);
    EXPECT_EQ(after.mentions, 0u);
    auto capped = s->unread("u", "ann", 0, 2);
    EXPECT_EQ(capped.unread, 2u);
    EXPECT_TRUE(capped.unread_more);
}

TYPED_TEST(StoreSuite, PositionsOrderEventsAcrossRooms) {
    auto s = this->factory.make(0);
    uint64_t before = s->last_pos(0);
    this->write(*s, {msg("a", 1), msg("b", 1)});
    this->write(*s, {msg("a", 2)});
    EXPECT_EQ(s->last_pos(0), before + 3);
    EXPECT_EQ(s->first_after("a", before), 1u);
    EXPECT_EQ(s->first_after("a", before + 1), 2u) << "b's event took the position between";
    EXPECT_FALSE(s->first_after("a", before + 3));
    EXPECT_FALSE(s->epoch(0).empty());
}
