// The event model: the exact JSON of each kind, who may change what, and that applying an
// event twice leaves the state it left once.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "model/access.hpp"
#include "model/event.hpp"

using namespace ssechat::model;

namespace {
Event message(uint64_t id, const std::string& user, const std::string& text) {
    return {id, "lobby", user, text, 1000};
}
Event change(Kind kind, uint64_t id, uint64_t target, const std::string& user,
             const std::string& text = "", bool remove = false) {
    Event e{id, "lobby", user, text, 2000 + static_cast<int64_t>(id)};
    e.kind = kind;
    e.target = target;
    e.remove = remove;
    return e;
}
}  // namespace

TEST(Model, EachKindHasTheShapeOfTheApi) {
    Event m = message(1, "alice", "hi");
    EXPECT_EQ(event_json(m),
              R"({"id":1,"room":"lobby","user_id":"alice","message":"hi","ts":1000})");
    m.reply_to = 7;
    EXPECT_EQ(event_json(m),
              R"({"id":1,"room":"lobby","user_id":"alice","message":"hi","ts":1000,"reply_to":7})");
    EXPECT_EQ(event_json(change(Kind::Edit, 5, 1, "alice", "new")),
              R"({"id":5,"room":"lobby","target":1,"user_id":"alice","message":"new","ts":2005})");
    EXPECT_EQ(event_json(change(Kind::Delete, 6, 1, "mod")),
              R"({"id":6,"room":"lobby","target":1,"user_id":"mod","ts":2006})");
    EXPECT_EQ(
        event_json(change(Kind::Reaction, 7, 1, "bob", "👍")),
        R"({"id":7,"room":"lobby","target":1,"user_id":"bob","emoji":"👍","op":"add","ts":2007})");
    EXPECT_EQ(
        event_json(change(Kind::Reaction, 8, 1, "bob", "👍", true)),
        R"({"id":8,"room":"lobby","target":1,"user_id":"bob","emoji":"👍","op":"remove","ts":2008})");
    Event gone = message(1, "alice", "");
    gone.reply_to = 3;
    gone.deleted = true;
    EXPECT_EQ(state_json(gone),
              R"({"id":1,"room":"lobby","user_id":"alice","ts":1000,"deleted":true})");
}

TEST(Model, StateListsReactionsWithExactCountsAndAtMostAHundredUsers) {
    Event m = message(1, "alice", "hi");
    for (int i = 0; i < 150; ++i)
        apply(m, change(Kind::Reaction, 10 + i, 1, "u" + std::to_string(i), "👍"));
    apply(m, change(Kind::Reaction, 500, 1, "bob", "🎉"));
    auto v = boost::json::parse(state_json(m));
    auto& list = v.at("reactions").as_array();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].at("emoji").as_string(), "👍");
    EXPECT_EQ(list[0].at("count").as_int64(), 150);
    EXPECT_EQ(list[0].at("users").as_array().size(), kMaxListedUsers);
    EXPECT_EQ(list[0].at("users").as_array()[0].as_string(), "u0");
    EXPECT_EQ(list[1].at("count").as_int64(), 1);
}

namespace {
// The oracle for event_json() and state_json(), which write JSON directly: the same objects built
// as Boost.JSON trees and serialized by Boost.JSON.
boost::json::object tree_of_message(const Event& m) {
    boost::json::object o;
    o["id"] = m.id;
    o["room"] = m.room;
    o["user_id"] = m.user_id;
    if (m.deleted) {
        o["ts"] = m.ts;
        o["deleted"] = true;
        return o;
    }
    o["message"] = m.text;
    o["ts"] = m.ts;
    if (m.reply_to) o["reply_to"] = m.reply_to;
    if (m.edited_ts) o["edited_ts"] = m.edited_ts;
    return o;
}

std::string tree_event_json(const Event& e) {
    if (e.kind == Kind::Message) return boost::json::serialize(tree_of_message(e));
    boost::json::object o;
    o["id"] = e.id;
    o["room"] = e.room;
    o["target"] = e.target;
    o["user_id"] = e.user_id;
    if (e.kind == Kind::Edit) o["message"] = e.text;
    if (e.kind == Kind::Reaction) {
        o["emoji"] = e.text;
        o["op"] = e.remove ? "remove" : "add";
    }
    o["ts"] = e.ts;
    return boost::json::serialize(o);
}

std::string tree_state_json(const Event& m) {
    boost::json::object o = tree_of_message(m);
    if (!m.deleted && !m.reactions.empty()) {
        boost::json::array list;
        for (const auto& r : m.reactions) {
            boost::json::array users;
            for (size_t i = 0; i < r.users.size() && i < kMaxListedUsers; ++i)
                users.emplace_back(r.users[i]);
            list.push_back(boost::json::object{
                {"emoji", r.emoji}, {"count", r.users.size()}, {"users", std::move(users)}});
        }
        o["reactions"] = std::move(list);
    }
    return boost::json::serialize(o);
}
}  // namespace

TEST(Model, JsonIsWhatBoostJsonSerializesForTheSameObject) {
    // Strings that need escaping, of every control character, quotes and backslashes,
    // non-ASCII and invalid UTF-8, and longer than the writer's 512-byte chunks.
    std::string controls;
    for (int c = 0; c < 0x20; ++c) controls += static_cast<char>(c);
    controls += "\x7f\"\\/";
    std::vector<std::string> texts = {"",
                                      "hi",
                                      controls,
                                      "ünïcödé 👍 \xe2\x80\xa8 \xff\xfe",
                                      std::string(700, '"'),
                                      std::string(1500, 'x')};
    texts.back().append("\n").append(controls);
    for (const auto& t : texts) {
        Event m = message(42, t.empty() ? "a" : t.substr(0, 40), t);
        m.room = "r-" + std::to_string(t.size());
        EXPECT_EQ(event_json(m), tree_event_json(m));
        EXPECT_EQ(state_json(m), tree_state_json(m));
        m.reply_to = 7;
        m.edited_ts = 123456789012345;
        EXPECT_EQ(event_json(m), tree_event_json(m));
        for (int i = 0; i < 120; ++i)
            apply(m, change(Kind::Reaction, 100 + i, 42, t + std::to_string(i), t.substr(0, 32)));
        apply(m, change(Kind::Reaction, 300, 42, "bob", "🎉"));
        EXPECT_EQ(state_json(m), tree_state_json(m));
        for (Kind k : {Kind::Edit, Kind::Delete, Kind::Reaction}) {
            for (bool remove : {false, true}) {
                Event c = change(k, UINT64_MAX, 42, t, t, remove);
                c.ts = -5;
                EXPECT_EQ(event_json(c), tree_event_json(c));
            }
        }
        m.deleted = true;
        EXPECT_EQ(event_json(m), tree_event_json(m));
        EXPECT_EQ(state_json(m), tree_state_json(m));
    }
}

TEST(Model, WhoMayChangeWhat) {
    Event m = message(1, "alice", "hi");
    EXPECT_EQ(check(&m, change(Kind::Edit, 2, 1, "alice", "x"), false), Outcome::Ok);
    EXPECT_EQ(check(&m, change(Kind::Edit, 2, 1, "bob", "x"), true), Outcome::Forbidden)
        << "a moderator deletes, but does not put words in others' mouths";
    EXPECT_EQ(check(&m, change(Kind::Delete, 2, 1, "bob"), false), Outcome::Forbidden);
    EXPECT_EQ(check(&m, change(Kind::Delete, 2, 1, "bob"), true), Outcome::Ok);
    EXPECT_EQ(check(nullptr, change(Kind::Delete, 2, 1, "alice"), false), Outcome::NotFound);
    Event edit = change(Kind::Edit, 2, 1, "alice", "x");
    EXPECT_EQ(check(&edit, change(Kind::Reaction, 3, 2, "bob", "👍"), false), Outcome::NotFound)
        << "only messages can be changed";
    EXPECT_EQ(check(&m, change(Kind::Reaction, 3, 1, "bob", "👍", true), false), Outcome::NoChange);
    apply(m, change(Kind::Reaction, 3, 1, "bob", "👍"));
    EXPECT_EQ(check(&m, change(Kind::Reaction, 4, 1, "bob", "👍"), false), Outcome::NoChange);
    apply(m, change(Kind::Delete, 5, 1, "alice"));
    EXPECT_EQ(check(&m, change(Kind::Edit, 6, 1, "alice", "y"), false), Outcome::Gone);
    EXPECT_EQ(check(&m, change(Kind::Delete, 6, 1, "alice"), false), Outcome::Gone);
    EXPECT_EQ(check(&m, change(Kind::Reaction, 6, 1, "bob", "👍"), false), Outcome::Gone);
}

TEST(Model, ApplyingAnEventTwiceIsHarmless) {
    std::vector<Event> events{
        change(Kind::Edit, 2, 1, "alice", "fixed"), change(Kind::Reaction, 3, 1, "bob", "👍"),
        change(Kind::Reaction, 4, 1, "carol", "🎉"), change(Kind::Reaction, 5, 1, "bob", "👍", true),
        change(Kind::Delete, 6, 1, "alice")};
    for (size_t n = 1; n <= events.size(); ++n) {
        Event once = message(1, "alice", "hi"), twice = once;
        for (size_t i = 0; i < n; ++i) {
            apply(once, events[i]);
            apply(twice, events[i]);
            apply(twice, events[i]);
        }
        EXPECT_EQ(state_json(once), state_json(twice)) << n;
    }
}

TEST(Model, AnEmojiIsListedByItsEarliestReactionStillThere) {
    Event m = message(1, "alice", "hi");
    apply(m, change(Kind::Reaction, 2, 1, "bob", "👍"));
    apply(m, change(Kind::Reaction, 3, 1, "carol", "🎉"));
    apply(m, change(Kind::Reaction, 4, 1, "dan", "👍"));
    EXPECT_EQ(m.reactions[0].emoji, "👍");
    apply(m, change(Kind::Reaction, 5, 1, "bob", "👍", true));  // 👍 now dates from id 4
    EXPECT_EQ(m.reactions[0].emoji, "🎉");
    EXPECT_EQ(m.reactions[1].users, std::vector<std::string>{"dan"});
}

TEST(Model, AMentionIsTheUserIdAsAWord) {
    EXPECT_TRUE(mentions("@alice look", "alice"));
    EXPECT_TRUE(mentions("hi @alice", "alice"));
    EXPECT_TRUE(mentions("hi @alice.", "alice")) << "the end of a sentence";
    EXPECT_TRUE(mentions("(@alice), @bob", "alice"));
    EXPECT_TRUE(mentions("x @alicia and @alice!", "alice")) << "a later one counts";
    EXPECT_FALSE(mentions("@alicia", "alice"));
    EXPECT_FALSE(mentions("bob@alice.example", "alice")) << "an address";
    EXPECT_FALSE(mentions("@alice.smith", "alice")) << "someone else's id";
    EXPECT_FALSE(mentions("@alice_2", "alice"));
    EXPECT_FALSE(mentions("alice", "alice")) << "a name without @";
    EXPECT_FALSE(mentions("@", "alice"));
    EXPECT_FALSE(mentions("@alice", ""));
    EXPECT_TRUE(mentions("@a.b", "a.b"));
}

TEST(Model, ACursorIsTheEpochAndAPositionAndNothingElseParses) {
    const std::vector<std::string> one{"3f9a01c2"};
    std::string c = cursor(one, {18244});
    EXPECT_EQ(c, "3f9a01c2.18244");
    EXPECT_EQ(parse_cursor(c, one, {20000}), Positions{18244});
    EXPECT_EQ(parse_cursor("3f9a01c2.0", one, {0}), Positions{0});
    EXPECT_FALSE(parse_cursor(c, {"00000000"}, {20000})) << "another store's";
    EXPECT_FALSE(parse_cursor(c, one, {18243})) << "past what this store gave";
    for (std::string bad : {"", "3f9a01c2", "3f9a01c2.", "3f9a01c2.-1", "3f9a01c2.1x",
                            "3f9a01c2.01", "3f9a01c2.99999999999999999999", "3f9a01c2:5", "5",
                            "3f9a01c2.5~", "3f9a01c2.5~0a0b0c0d.3"})
        EXPECT_FALSE(parse_cursor(bad, one, {UINT64_MAX})) << bad;
    EXPECT_LT(cursor(one, {UINT64_MAX}).size(), 30u);
}

TEST(Model, AShardedCursorHasAPositionPerShardInShardOrder) {
    const std::vector<std::string> two{"3f9a01c2", "0a0b0c0d"};
    std::string c = cursor(two, {7, 12});
    EXPECT_EQ(c, "3f9a01c2.7~0a0b0c0d.12");
    EXPECT_EQ(parse_cursor(c, two, {7, 12}), (Positions{7, 12}));
    EXPECT_FALSE(parse_cursor(c, two, {7, 11})) << "past what shard 2 gave";
    EXPECT_FALSE(parse_cursor(c, {"0a0b0c0d", "3f9a01c2"}, {99, 99})) << "shards swapped";
    EXPECT_FALSE(parse_cursor("3f9a01c2.7", two, {99, 99})) << "a one-shard cursor";
    EXPECT_FALSE(parse_cursor(c, {"3f9a01c2"}, {99})) << "more shards than the store has";
    EXPECT_FALSE(parse_cursor("3f9a01c2.7~~0a0b0c0d.12", two, {99, 99}));
    // 64 shards at the largest positions: well within the issue's 4 KiB.
    std::vector<std::string> many(64, "ffffffff");
    EXPECT_LE(cursor(many, Positions(64, UINT64_MAX)).size(), 64u * 30u);
}

TEST(Model, SummariesHaveTheShapeOfTheApi) {
    Summary s{"lobby", 41, 38, 3, false, 1, false, 2, Visibility::Public, "", "", std::nullopt};
    EXPECT_EQ(summary_json(s),
              R"({"name":"lobby","last_id":41,"read":38,"unread":3,"mentions":1,"online":2,)"
              R"("kind":"public","notify":"mentions"})");
    s.unread = kMaxCount;
    s.unread_more = true;
    EXPECT_EQ(summary_json(s), R"({"name":"lobby","last_id":41,"read":38,"unread":999,)"
                               R"("unread_more":true,"mentions":1,"online":2,"kind":"public",)"
                               R"("notify":"mentions"})");
    s.kind = Visibility::Dm;
    s.with = "bob";
    s.unread_more = false;
    EXPECT_EQ(summary_json(s),
              R"({"name":"lobby","last_id":41,"read":38,"unread":999,)"
              R"("mentions":1,"online":2,"kind":"dm","with":"bob","notify":"all"})");
    s.notify = NotifyLevel::None;  // the user's choice over the kind's default
    EXPECT_NE(summary_json(s).find(R"("notify":"none")"), std::string::npos);
    EXPECT_EQ(rooms_json({}), R"({"rooms":[]})");
    EXPECT_EQ(receipt_json("r", "u", 5), R"({"room":"r","user_id":"u","id":5})");
    EXPECT_EQ(read_json("r", 5), R"({"room":"r","id":5})");
}

// The access table, cell by cell where it matters: what each kind of room shows to whom, what
// each role may do, and that a refusal to someone who may not see the room is always 404.
TEST(Access, WhoMaySeeAndDoWhatInEachKindOfRoom) {
    Standing nobody, member{Role::Member}, mod{Role::Moderator}, owner{Role::Owner};
    Standing server_mod{Role::None, Role::Moderator}, admin{Role::None, Role::Owner};
    for (Act a : {Act::Read, Act::Post, Act::Join, Act::Profile, Act::Restrict, Act::Grant}) {
        EXPECT_EQ(may(Visibility::Private, nobody, a).status, 404);
        EXPECT_EQ(may(Visibility::Private, nobody, a).error, kNoSuchRoom);
        EXPECT_EQ(may(Visibility::Dm, admin, a).status, 404) << "a DM is its two members' alone";
    }
    EXPECT_TRUE(may(Visibility::Public, nobody, Act::Read).ok());
    EXPECT_TRUE(may(Visibility::Public, nobody, Act::Post).ok());
    EXPECT_TRUE(may(Visibility::Private, server_mod, Act::Read).ok());
    EXPECT_TRUE(may(Visibility::Private, admin, Act::Grant).ok());
    EXPECT_TRUE(may(Visibility::Private, member, Act::Post).ok());
    EXPECT_EQ(may(Visibility::Private, member, Act::Invite).status, 403);
    EXPECT_TRUE(may(Visibility::Private, mod, Act::Invite).ok());
    EXPECT_EQ(may(Visibility::Private, mod, Act::Visibility).status, 403);
    EXPECT_TRUE(may(Visibility::Private, owner, Act::Visibility).ok());
    EXPECT_EQ(may(Visibility::Dm, member, Act::Invite).status, 403);
    EXPECT_EQ(may(Visibility::Dm, member, Act::Moderate).status, 403);
    EXPECT_TRUE(may(Visibility::Dm, member, Act::Post).ok());

    Standing banned{Role::None, Role::None, true}, muted{Role::Member, Role::None, false, true};
    EXPECT_EQ(may(Visibility::Public, banned, Act::Post).error, "banned from this room");
    EXPECT_EQ(may(Visibility::Public, banned, Act::Join).status, 403);
    EXPECT_TRUE(may(Visibility::Public, banned, Act::Read).ok());
    EXPECT_EQ(may(Visibility::Public, muted, Act::Type).error, "muted in this room");
    EXPECT_TRUE(may(Visibility::Public, muted, Act::Mark).ok());

    // Acting on others: a moderator never on an owner; roles above member only from owners.
    EXPECT_EQ(may_act_on(Visibility::Private, mod, Act::Remove, Role::Owner, Role::None).status,
              403);
    EXPECT_TRUE(may_act_on(Visibility::Private, mod, Act::Restrict, Role::Member, Role::None).ok());
    EXPECT_TRUE(may_act_on(Visibility::Private, mod, Act::Grant, Role::None, Role::Member).ok());
    EXPECT_EQ(may_act_on(Visibility::Private, mod, Act::Grant, Role::None, Role::Moderator).status,
              403);
    EXPECT_EQ(
        may_act_on(Visibility::Private, mod, Act::Grant, Role::Moderator, Role::Member).status,
        403);
    EXPECT_TRUE(may_act_on(Visibility::Private, owner, Act::Remove, Role::Owner, Role::None).ok());
}

TEST(Access, ARoomKeepsAnOwnerAndDirectMessagesHaveOneNamePerPair) {
    Roster r;
    r.members["alice"] = {"alice", Role::Owner, 1};
    r.members["bob"] = {"bob", Role::Member, 2};
    EXPECT_EQ(r.keeps_owner("alice", Role::None).status, 400);
    EXPECT_EQ(r.keeps_owner("alice", Role::Member).status, 400);
    EXPECT_TRUE(r.keeps_owner("bob", Role::None).ok());
    r.members["bob"].role = Role::Owner;
    EXPECT_TRUE(r.keeps_owner("alice", Role::None).ok());
    r.bans["carl"] = {"carl", "alice", "", 5000, 1};
    EXPECT_TRUE(r.standing("carl", Role::None, 4999).banned);
    EXPECT_FALSE(r.standing("carl", Role::None, 5000).banned) << "a ban lapses at its until";

    EXPECT_EQ(dm_room("alice", "bob"), dm_room("bob", "alice"));
    EXPECT_NE(dm_room("alice", "bob"), dm_room("alic", "ebob")) << "the pair, not the bytes";
    EXPECT_EQ(dm_room("alice", "bob").substr(0, 3), "dm.");
    EXPECT_EQ(dm_room("alice", "bob").size(), 25u);
    EXPECT_NE(private_room_id(), private_room_id());
    EXPECT_TRUE(dm_reserved("dm.x"));
    // The rules' record kinds are stored; the notices between them never are.
    EXPECT_EQ(stored_kind(10), Kind::Member);
    EXPECT_EQ(stored_kind(11), Kind::RoomChange);
    EXPECT_FALSE(stored_kind(9));
    EXPECT_FALSE(stored_kind(12));
    Event m{3, "r", "bob", member_text("added", Role::Moderator, "alice"), 7, Kind::Member};
    EXPECT_EQ(event_json(m), R"({"room":"r","id":3,"user_id":"bob","action":"added",)"
                             R"("role":"moderator","by":"alice","ts":7})");
    Profile p;
    p.visibility = Visibility::Private;
    p.name = "Plans";
    p.topic = "Q3";
    Event change{4, "r", "alice", room_text(p, "alice"), 8, Kind::RoomChange};
    EXPECT_EQ(event_json(change), R"({"room":"r","id":4,"name":"Plans","topic":"Q3",)"
                                  R"("visibility":"private","by":"alice","ts":8})");
    EXPECT_FALSE(dm_reserved("dmx"));
}
