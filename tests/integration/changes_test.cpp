// Messages that change: edits, deletes, reactions and replies over the real API, in memory,
// in SQLite, and on two nodes sharing one Redis (changes sent to one node, read on the
// other); plus upgrades of older SQLite databases and a kill -9 in the middle of changes.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "harness.hpp"
#include "services.hpp"

using namespace itest;
namespace json = boost::json;

namespace {

const Headers kJson{{"Content-Type", "application/json"}};
const std::string kThumb = "%F0%9F%91%8D";  // 👍
const std::string kParty = "%F0%9F%8E%89";  // 🎉

// The object's keys, in order: the API's shapes are exact.
std::vector<std::string> keys(const json::value& v) {
    std::vector<std::string> out;
    for (const auto& kv : v.as_object()) out.emplace_back(kv.key());
    return out;
}

// The ids of every stored event a stream saw, whatever its kind.
std::vector<uint64_t> event_ids(const std::vector<ssechat::sse::Event>& events) {
    std::vector<uint64_t> out;
    for (const auto& e : events)
        if (e.has_id && !e.id.empty()) out.push_back(std::stoull(e.id));
    return out;
}

json::value body_of(const Response& r) {
    return json::parse(r.body);
}

class Changes : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override { start({}); }

    void start(std::vector<std::string> extra) {
        b_.reset();
        a_.reset();
        std::vector<std::string> args{"--publish-rate", "0", "--moderators", "mod"};
        args.insert(args.end(), extra.begin(), extra.end());
        if (GetParam() == "redis" || GetParam() == "shards") {
            if (!redis_) {
                redis_ = std::make_unique<RedisServer>();
                if (GetParam() == "shards") redis_->partner = std::make_unique<RedisServer>();
            }
            for (auto s : {"--store", "redis", "--redis"}) args.emplace_back(s);
            args.push_back(redis_->url() + (redis_->partner ? "," + redis_->partner->url() : ""));
            a_ = std::make_unique<Server>(args);
            b_ = std::make_unique<Server>(args);
        } else {
            if (GetParam() == "memory") {
                args.insert(args.end(), {"--store", "memory"});
            } else {
                args.insert(args.end(), {"--data", dir_});
            }
            a_ = std::make_unique<Server>(args);
        }
    }
    // Changes go to one node; reads (streams, history) come from the other, when there are two.
    int w() const { return a_->port(); }
    int r() const { return b_ ? b_->port() : a_->port(); }

    Response post(const std::string& room, const std::string& user, const std::string& text,
                  std::optional<uint64_t> reply_to = std::nullopt) {
        json::object o{{"message", text}};
        if (reply_to) o["reply_to"] = *reply_to;
        return request(w(), "POST", "/rooms/" + room + "/messages?id=" + user, json::serialize(o),
                       kJson);
    }
    uint64_t post_id(const std::string& room, const std::string& user, const std::string& text) {
        auto res = post(room, user, text);
        EXPECT_EQ(res.status, 201) << res.body;
        return res.status == 201 ? body_of(res).at("id").to_number<uint64_t>() : 0;
    }
    Response edit(const std::string& room, uint64_t id, const std::string& user,
                  const std::string& text) {
        return request(w(), "PATCH",
                       "/rooms/" + room + "/messages/" + std::to_string(id) + "?id=" + user,
                       json::serialize(json::object{{"message", text}}), kJson);
    }
    Response del(const std::string& room, uint64_t id, const std::string& user) {
        return request(w(), "DELETE",
                       "/rooms/" + room + "/messages/" + std::to_string(id) + "?id=" + user);
    }
    Response react(const std::string& method, const std::string& room, uint64_t id,
                   const std::string& emoji, const std::string& user) {
        return request(w(), method,
                       "/rooms/" + room + "/messages/" + std::to_string(id) + "/reactions/" +
                           emoji + "?id=" + user);
    }
    json::array history(const std::string& room, const std::string& query = "") {
        auto res = request(r(), "GET", "/rooms/" + room + "/messages" + query);
        EXPECT_EQ(res.status, 200) << res.body;
        return body_of(res).at("messages").as_array();
    }
    // Events of a kind seen by a stream.
    static std::vector<json::object> of_kind(const SseClient& c, const std::string& kind) {
        std::vector<json::object> out;
        for (const auto& e : c.events)
            if (e.event == kind) out.push_back(json::parse(e.data).as_object());
        return out;
    }

    std::string dir_ = temp_dir();
    std::unique_ptr<RedisServer> redis_;
    std::unique_ptr<Server> a_, b_;
};

}  // namespace

TEST_P(Changes, AnEditAnswersTheStateAndStreamsAnEditEvent) {
    uint64_t id = post_id("ed", "alice", "helo");
    SseClient live(r(), "/rooms/ed/events?history=0&presence=0");
    ASSERT_TRUE(live.wait_until([&] { return live.status == 200; }));
    auto res = edit("ed", id, "alice", "hello");
    ASSERT_EQ(res.status, 200) << res.body;
    auto st = body_of(res);
    EXPECT_EQ(keys(st),
              (std::vector<std::string>{"id", "room", "user_id", "message", "ts", "edited_ts"}));
    EXPECT_EQ(st.at("id").to_number<uint64_t>(), id);
    EXPECT_EQ(st.at("message").as_string(), "hello");
    auto first = history("ed")[0];
    EXPECT_EQ(st.at("ts"), first.at("ts")) << "ts keeps the original";
    EXPECT_GE(st.at("edited_ts").as_int64(), st.at("ts").as_int64());
    EXPECT_EQ(first.at("message").as_string(), "hello");
    EXPECT_EQ(first.at("edited_ts"), st.at("edited_ts"));

    ASSERT_TRUE(live.wait_events(1));
    EXPECT_EQ(live.events[0].event, "edit");
    auto ev = json::parse(live.events[0].data);
    EXPECT_EQ(keys(ev),
              (std::vector<std::string>{"id", "room", "target", "user_id", "message", "ts"}));
    EXPECT_EQ(live.events[0].id, std::to_string(ev.at("id").to_number<uint64_t>()));
    EXPECT_EQ(ev.at("id").to_number<uint64_t>(), id + 1) << "an edit takes the room's next id";
    EXPECT_EQ(ev.at("target").to_number<uint64_t>(), id);
    EXPECT_EQ(ev.at("room").as_string(), "ed");
    EXPECT_EQ(ev.at("message").as_string(), "hello");
    EXPECT_EQ(ev.at("ts"), st.at("edited_ts"));

    // Errors, each with a JSON reason, and nothing stored by any of them.
    auto other = edit("ed", id, "bob", "mine now");
    EXPECT_EQ(other.status, 403) << other.body;
    EXPECT_TRUE(body_of(other).at("error").is_string());
    EXPECT_EQ(edit("ed", 999, "alice", "x").status, 404);
    EXPECT_EQ(edit("ed", id + 1, "alice", "x").status, 404) << "an edit's id is not a message";
    for (const char* bad : {"abc", "0", "-1", "1.5", "99999999999999999999999"}) {
        auto b = request(w(), "PATCH", std::string("/rooms/ed/messages/") + bad + "?id=alice",
                         R"({"message":"x"})", kJson);
        EXPECT_EQ(b.status, 400) << bad << " " << b.body;
    }
    EXPECT_EQ(
        request(w(), "PATCH", "/rooms/ed/messages/1?id=alice", R"({"text":"x"})", kJson).status,
        400);
    EXPECT_EQ(request(w(), "PATCH", "/rooms/ed/messages/1?id=alice", "not json", kJson).status,
              400);
    EXPECT_EQ(edit("ed", id, "alice", std::string(5000, 'x')).status, 413);
    EXPECT_EQ(request(w(), "PATCH", "/rooms/ed/messages/1", R"({"message":"x"})", kJson).status,
              400)
        << "no user";
    live.drain(300ms);
    EXPECT_EQ(live.events.size(), 1u) << "a refused change sends nothing";
    EXPECT_EQ(history("ed")[0].at("message").as_string(), "hello");
}

TEST_P(Changes, ADeleteLeavesATombstoneAndIsFinal) {
    uint64_t id = post_id("del", "alice", "oops");
    uint64_t keep = post_id("del", "bob", "stays");
    SseClient live(r(), "/rooms/del/events?history=0&presence=0");
    ASSERT_TRUE(live.wait_until([&] { return live.status == 200; }));
    EXPECT_EQ(del("del", id, "bob").status, 403) << "neither author nor moderator";
    auto res = del("del", id, "alice");
    ASSERT_EQ(res.status, 200) << res.body;
    auto tomb = body_of(res);
    EXPECT_EQ(keys(tomb), (std::vector<std::string>{"id", "room", "user_id", "ts", "deleted"}));
    EXPECT_EQ(tomb.at("user_id").as_string(), "alice");
    EXPECT_TRUE(tomb.at("deleted").as_bool());

    EXPECT_EQ(del("del", id, "alice").status, 410);
    EXPECT_EQ(edit("del", id, "alice", "back").status, 410);
    EXPECT_EQ(react("PUT", "del", id, kThumb, "bob").status, 410);
    EXPECT_EQ(del("del", 12345, "alice").status, 404);

    // A moderator deletes anyone's message; the event names who deleted.
    auto by_mod = del("del", keep, "mod");
    ASSERT_EQ(by_mod.status, 200) << by_mod.body;
    EXPECT_EQ(body_of(by_mod).at("user_id").as_string(), "bob") << "the tombstone keeps the author";

    ASSERT_TRUE(live.wait_events(2));
    auto deletes = of_kind(live, "delete");
    ASSERT_EQ(deletes.size(), 2u);
    EXPECT_EQ(keys(deletes[0]),
              (std::vector<std::string>{"id", "room", "target", "user_id", "ts"}));
    EXPECT_EQ(deletes[0].at("target").to_number<uint64_t>(), id);
    EXPECT_EQ(deletes[0].at("user_id").as_string(), "alice");
    EXPECT_EQ(deletes[1].at("user_id").as_string(), "mod");

    auto h = history("del");
    ASSERT_EQ(h.size(), 2u);
    for (auto& m : h) {
        EXPECT_TRUE(m.at("deleted").as_bool());
        EXPECT_FALSE(m.as_object().contains("message"));
    }
}

TEST_P(Changes, ReactionsAreSetsOfUsersPerEmoji) {
    uint64_t id = post_id("rx", "alice", "vote");
    SseClient live(r(), "/rooms/rx/events?history=0&presence=0");
    ASSERT_TRUE(live.wait_until([&] { return live.status == 200; }));
    auto one = react("PUT", "rx", id, kThumb, "bob");
    ASSERT_EQ(one.status, 200) << one.body;
    auto list = body_of(one).at("reactions").as_array();
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(keys(list[0]), (std::vector<std::string>{"emoji", "count", "users"}));
    EXPECT_EQ(list[0].at("emoji").as_string(), "👍");
    EXPECT_EQ(list[0].at("count").as_int64(), 1);

    // Again: the answer is the same state, and nothing is stored or sent.
    auto again = react("PUT", "rx", id, kThumb, "bob");
    EXPECT_EQ(again.status, 200);
    EXPECT_EQ(body_of(again), body_of(one));
    ASSERT_EQ(react("PUT", "rx", id, kThumb, "carol").status, 200);
    auto both = react("PUT", "rx", id, kParty, "carol");
    ASSERT_EQ(both.status, 200);
    list = body_of(both).at("reactions").as_array();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].at("emoji").as_string(), "👍") << "ordered by first reaction";
    EXPECT_EQ(list[0].at("count").as_int64(), 2);
    EXPECT_EQ(list[0].at("users"), (json::array{"bob", "carol"}));
    EXPECT_EQ(list[1].at("emoji").as_string(), "🎉");

    auto off = react("DELETE", "rx", id, kThumb, "bob");
    ASSERT_EQ(off.status, 200);
    EXPECT_EQ(body_of(off).at("reactions").as_array()[0].at("users"), (json::array{"carol"}));
    EXPECT_EQ(react("DELETE", "rx", id, kThumb, "bob").status, 200) << "not there: no change";
    EXPECT_EQ(react("DELETE", "rx", id, kThumb, "nobody").status, 200);

    ASSERT_TRUE(live.wait_events(4));
    live.drain(300ms);
    auto events = of_kind(live, "reaction");
    ASSERT_EQ(events.size(), 4u) << "three adds and one removal; the no-ops sent nothing";
    EXPECT_EQ(keys(events[0]),
              (std::vector<std::string>{"id", "room", "target", "user_id", "emoji", "op", "ts"}));
    EXPECT_EQ(events[0].at("op").as_string(), "add");
    EXPECT_EQ(events[3].at("op").as_string(), "remove");
    EXPECT_EQ(events[3].at("user_id").as_string(), "bob");
    EXPECT_EQ(events[3].at("emoji").as_string(), "👍");

    auto h = history("rx");
    EXPECT_EQ(h[0].at("reactions"), body_of(off).at("reactions"));

    // Emoji: percent-encoded UTF-8 of 1 to 32 bytes.
    EXPECT_EQ(react("PUT", "rx", id, "%E2%9D%A4%EF%B8%8F", "bob").status, 200);  // ❤️
    EXPECT_EQ(react("PUT", "rx", id, ":ok:", "bob").status, 200);
    for (const std::string& bad :
         {std::string("%ZZ"), std::string("%FF"), std::string(33, 'a'), std::string("a%20b"),
          std::string("%0A"), std::string(""), std::string("%C2%85"), std::string("%E2%80%AE")}) {
        auto b = react("PUT", "rx", id, bad, "bob");
        EXPECT_EQ(b.status, 400) << "'" << bad << "' " << b.body;
    }
    EXPECT_EQ(react("PUT", "rx", 999, kThumb, "bob").status, 404);
    EXPECT_EQ(request(w(), "POST", "/rooms/rx/messages/1/reactions/" + kThumb + "?id=bob").status,
              405);
}

TEST_P(Changes, RepliesNameAMessageOfTheSameRoom) {
    uint64_t first = post_id("rp", "alice", "question");
    auto res = post("rp", "bob", "answer", first);
    ASSERT_EQ(res.status, 201) << res.body;
    EXPECT_EQ(body_of(res).at("reply_to").to_number<uint64_t>(), first);
    EXPECT_EQ(history("rp")[1].at("reply_to").to_number<uint64_t>(), first);
    uint64_t elsewhere = post_id("rp-other", "x", "y");
    EXPECT_EQ(post("rp", "bob", "?", 999).status, 400);
    EXPECT_EQ(post("rp", "bob", "?", elsewhere + 5).status, 400);
    auto form = request(w(), "POST", "/rooms/rp/messages?id=carol",
                        "message=form&reply_to=" + std::to_string(first),
                        {{"Content-Type", "application/x-www-form-urlencoded"}});
    ASSERT_EQ(form.status, 201) << form.body;
    EXPECT_EQ(body_of(form).at("reply_to").to_number<uint64_t>(), first);
    for (const char* bad :
         {R"({"message":"x","reply_to":0})", R"({"message":"x","reply_to":-1})",
          R"({"message":"x","reply_to":"1"})", R"({"message":"x","reply_to":1.5})"}) {
        auto b = request(w(), "POST", "/rooms/rp/messages?id=bob", bad, kJson);
        EXPECT_EQ(b.status, 400) << bad << " " << b.body;
    }
    EXPECT_EQ(history("rp").size(), 3u);
}

TEST_P(Changes, AResumedStreamSeesEveryChangeItMissedInOrder) {
    uint64_t a = post_id("rs", "alice", "one");
    uint64_t b = post_id("rs", "bob", "two");
    ASSERT_EQ(edit("rs", a, "alice", "ONE").status, 200);
    ASSERT_EQ(react("PUT", "rs", b, kThumb, "alice").status, 200);
    ASSERT_EQ(del("rs", b, "bob").status, 200);
    SseClient resumed(r(), "/rooms/rs/events?presence=0", {{"Last-Event-ID", std::to_string(a)}});
    ASSERT_TRUE(resumed.wait_events(4));
    std::vector<std::string> kinds;
    for (auto& e : resumed.events) kinds.push_back(e.event);
    EXPECT_EQ(kinds, (std::vector<std::string>{"message", "edit", "reaction", "delete"}));
    EXPECT_EQ(event_ids(resumed.events), range(b, b + 3));
    // The deleted message is replayed as what it is now: no text anywhere.
    for (auto& e : resumed.events) EXPECT_EQ(e.data.find("two"), std::string::npos) << e.data;

    // A fresh stream's history shows messages in their current state, and no change events.
    SseClient fresh(r(), "/rooms/rs/events?history=5&presence=0");
    ASSERT_TRUE(fresh.wait_events(2));
    fresh.drain(300ms);
    ASSERT_EQ(fresh.events.size(), 2u);
    auto m1 = json::parse(fresh.events[0].data), m2 = json::parse(fresh.events[1].data);
    EXPECT_EQ(m1.at("message").as_string(), "ONE");
    EXPECT_TRUE(m1.as_object().contains("edited_ts"));
    EXPECT_TRUE(m2.at("deleted").as_bool());
    // And then goes on live from the newest id.
    ASSERT_EQ(react("PUT", "rs", a, kThumb, "bob").status, 200);
    ASSERT_TRUE(fresh.wait_events(3));
    EXPECT_EQ(fresh.events[2].event, "reaction");
}

TEST_P(Changes, TheSeedArrayShowsCurrentTextsAndLeavesDeletedMessagesOut) {
    uint64_t a = post_id("general", "alice", "first");
    post_id("general", "bob", "second");
    SseClient seed(r(), "/messages?id=carol");
    ASSERT_TRUE(seed.wait_events(1));
    ASSERT_EQ(edit("general", a, "alice", "first, edited").status, 200);
    ASSERT_TRUE(seed.wait_events(2));
    EXPECT_EQ(json::parse(seed.events[1].data),
              json::parse(R"([{"user_id":"alice","message":"first, edited"},
                              {"user_id":"bob","message":"second"}])"));
    ASSERT_EQ(del("general", a, "mod").status, 200);
    ASSERT_TRUE(seed.wait_events(3));
    EXPECT_EQ(json::parse(seed.events[2].data),
              json::parse(R"([{"user_id":"bob","message":"second"}])"));
    ASSERT_EQ(react("PUT", "general", a + 1, kThumb, "carol").status, 200);
    seed.drain(300ms);
    EXPECT_EQ(seed.events.size(), 3u) << "a reaction does not change the seed's array";
}

TEST_P(Changes, AHundredUsersAreListedAndTheCountStaysExact) {
    uint64_t id = post_id("many", "alice", "popular");
    Response last;
    for (int i = 0; i < 105; ++i) last = react("PUT", "many", id, kThumb, "u" + std::to_string(i));
    ASSERT_EQ(last.status, 200);
    for (const auto& st : {body_of(last), history("many")[0]}) {
        auto& r = st.at("reactions").as_array()[0];
        EXPECT_EQ(r.at("count").as_int64(), 105);
        EXPECT_EQ(r.at("users").as_array().size(), 100u);
        EXPECT_EQ(r.at("users").as_array()[0].as_string(), "u0");
    }
}

// A message's reactions are bounded: a new emoji past 50 different ones, or a user's 21st
// reaction on one message, is refused with 409 and nothing stored; taking one back and adding
// an emoji already there still work.
TEST_P(Changes, ReactionsPerMessageAndPerUserAreCapped) {
    uint64_t id = post_id("cap", "alice", "react to me");
    // 👍 and 49 short names, from 50 users: the message's 50 different reactions.
    ASSERT_EQ(react("PUT", "cap", id, kThumb, "u0").status, 200);
    for (int i = 1; i < 50; ++i) {
        auto r = react("PUT", "cap", id, ":e" + std::to_string(i) + ":", "u" + std::to_string(i));
        ASSERT_EQ(r.status, 200) << i << " " << r.body;
    }
    auto full = react("PUT", "cap", id, ":one_more:", "bob");
    EXPECT_EQ(full.status, 409) << full.body;
    EXPECT_NE(full.body.find("50 different reactions"), std::string::npos) << full.body;
    EXPECT_EQ(react("PUT", "cap", id, kThumb, "bob").status, 200) << "an emoji already there";
    ASSERT_EQ(react("DELETE", "cap", id, ":e49:", "u49").status, 200);
    EXPECT_EQ(react("PUT", "cap", id, ":one_more:", "bob").status, 200) << "a place came free";
    auto h = history("cap");
    EXPECT_EQ(h[0].at("reactions").as_array().size(), 50u);

    // One user's reactions on one message.
    uint64_t other = post_id("cap", "alice", "and me");
    for (int i = 0; i < 20; ++i)
        ASSERT_EQ(react("PUT", "cap", other, ":m" + std::to_string(i) + ":", "greedy").status, 200);
    auto mine = react("PUT", "cap", other, ":m20:", "greedy");
    EXPECT_EQ(mine.status, 409) << mine.body;
    EXPECT_NE(mine.body.find("20 reactions"), std::string::npos) << mine.body;
    EXPECT_EQ(react("PUT", "cap", other, ":m20:", "someone").status, 200) << "others still may";
    ASSERT_EQ(react("DELETE", "cap", other, ":m0:", "greedy").status, 200);
    EXPECT_EQ(react("PUT", "cap", other, ":m20:", "greedy").status, 200);
    // Text that is not one emoji is not a reaction at all.
    for (const std::string& bad : {std::string("hello"), std::string("%F0%9F%91%8D%F0%9F%91%8D"),
                                   std::string("%3Aa%20b%3A")})
        EXPECT_EQ(react("PUT", "cap", other, bad, "bob").status, 400) << bad;
}

INSTANTIATE_TEST_SUITE_P(Stores, Changes, ::testing::Values("memory", "sqlite", "redis", "shards"),
                         [](const auto& info) { return info.param; });

TEST(ChangesLimits, ChangesCountAgainstThePublishRateLimit) {
    Server srv({"--store", "memory", "--publish-rate", "1", "--publish-burst", "3"});
    auto res = request(srv.port(), "POST", "/rooms/lim/messages?id=u", R"({"message":"x"})", kJson);
    ASSERT_EQ(res.status, 201);
    int limited = 0;
    for (int i = 0; i < 4; ++i)
        if (request(srv.port(), "PUT", "/rooms/lim/messages/1/reactions/" + kThumb + "?id=u")
                .status == 429)
            ++limited;
    EXPECT_GE(limited, 1);
}

TEST(ChangesLimits, ModeratorsComeFromTheTokenWhenTokensAreOn) {
    Server srv({"--store", "memory", "--jwt-secret", "s3cret", "--moderators", "bob"});
    auto token = [](const std::vector<std::string>& extra) {
        std::vector<std::string> args{"token", "--secret", "s3cret"};
        args.insert(args.end(), extra.begin(), extra.end());
        auto e = run_binary(args);
        while (!e.out.empty() && e.out.back() == '\n') e.out.pop_back();
        return "Bearer " + e.out;
    };
    auto alice = token({"--sub", "alice"}), bob = token({"--sub", "bob"}),
         mod = token({"--sub", "carol", "--mod"});
    auto post = request(srv.port(), "POST", "/rooms/t/messages", R"({"message":"x"})",
                        {{"Content-Type", "application/json"}, {"Authorization", alice}});
    ASSERT_EQ(post.status, 201) << post.body;
    // --moderators names anonymous ids; with tokens only the claim counts.
    EXPECT_EQ(
        request(srv.port(), "DELETE", "/rooms/t/messages/1", "", {{"Authorization", bob}}).status,
        403);
    EXPECT_EQ(
        request(srv.port(), "DELETE", "/rooms/t/messages/1", "", {{"Authorization", mod}}).status,
        200);
}

namespace {

// The first release's schema, and the one before edits (schema 1): an existing user's file.
void make_old_database(const std::string& dir, int version) {
    std::filesystem::create_directories(dir);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir + "/ssechat.db").c_str(), &db), SQLITE_OK);
    std::string sql = R"sql(
CREATE TABLE rooms (name TEXT PRIMARY KEY, last_id INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE messages (room TEXT NOT NULL, id INTEGER NOT NULL, user_id TEXT NOT NULL,
  message TEXT NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY (room, id)) WITHOUT ROWID;
INSERT INTO rooms VALUES ('old', 2);
INSERT INTO messages VALUES ('old', 1, 'alice', 'from before', 1000);
INSERT INTO messages VALUES ('old', 2, 'bob', 'secret-of-old', 2000);
)sql";
    if (version >= 1)
        sql += R"sql(
CREATE TABLE idempotency (room TEXT NOT NULL, user_id TEXT NOT NULL, key TEXT NOT NULL,
  msg_id INTEGER NOT NULL, ts INTEGER NOT NULL, text_hash TEXT NOT NULL,
  expires INTEGER NOT NULL, PRIMARY KEY (room, user_id, key)) WITHOUT ROWID;
CREATE INDEX idempotency_expires ON idempotency(expires);
INSERT INTO idempotency VALUES ('old', 'bob', 'k-old', 2, 2000,
  '0000000000000000000000000000000000000000000000000000000000000000', 99999999999999);
PRAGMA user_version=1;
)sql";
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
}

}  // namespace

TEST(ChangesUpgrade, ADatabaseOfTheLastReleaseTakesEditsDeletesAndReactions) {
    std::string dir = temp_dir();
    make_old_database(dir, 1);
    {
        Server srv({"--data", dir, "--moderators", "mod"});
        int p = srv.port();
        EXPECT_EQ(request(p, "PATCH", "/rooms/old/messages/1?id=alice",
                          R"({"message":"edited-in-place"})", kJson)
                      .status,
                  200);
        EXPECT_EQ(request(p, "PUT", "/rooms/old/messages/1/reactions/" + kThumb + "?id=bob").status,
                  200);
        EXPECT_EQ(request(p, "DELETE", "/rooms/old/messages/2?id=mod").status, 200);
        // The key stored by the last release still guards its message.
        auto retry = request(p, "POST", "/rooms/old/messages?id=bob", R"({"message":"x"})",
                             {{"Content-Type", "application/json"}, {"Idempotency-Key", "k-old"}});
        EXPECT_EQ(retry.status, 422) << retry.body;
        auto h = json::parse(request(p, "GET", "/rooms/old/messages").body).at("messages");
        ASSERT_EQ(h.as_array().size(), 2u);
        EXPECT_EQ(h.as_array()[0].at("message").as_string(), "edited-in-place");
        EXPECT_EQ(h.as_array()[0].at("reactions").as_array().size(), 1u);
        EXPECT_TRUE(h.as_array()[1].at("deleted").as_bool());
        auto next = request(p, "POST", "/rooms/old/messages?id=u", R"({"message":"new"})", kJson);
        EXPECT_EQ(json::parse(next.body).at("id").as_int64(), 6) << "ids go on from the log";
        EXPECT_EQ(srv.terminate(), 0);
    }
    std::string all;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
        if (!e.is_regular_file()) continue;  // the files folder, among others
        std::ifstream in(e.path(), std::ios::binary);
        all.append(std::istreambuf_iterator<char>(in), {});
    }
    EXPECT_NE(all.find("edited-in-place"), std::string::npos) << "the check reads the files";
    EXPECT_EQ(all.find("secret-of-old"), std::string::npos) << "the deleted text is erased";
}

TEST(ChangesUpgrade, ADatabaseOfTheFirstReleaseToo) {
    std::string dir = temp_dir();
    make_old_database(dir, 0);
    Server srv({"--data", dir});
    EXPECT_EQ(request(srv.port(), "DELETE", "/rooms/old/messages/2?id=bob").status, 200);
    auto h = json::parse(request(srv.port(), "GET", "/rooms/old/messages").body).at("messages");
    EXPECT_EQ(h.as_array()[0].at("message").as_string(), "from before");
}

// kill -9 while four users post with keys (retrying some), edit, react and delete. After the
// restart every acknowledged change is there, ids have no holes, and no key stored twice.
TEST(ChangesCrash, Kill9DuringChangesLosesNothingAcknowledged) {
    std::string dir = temp_dir();
    auto server =
        std::make_unique<Server>(std::vector<std::string>{"--data", dir, "--publish-rate", "0"});
    int port = server->port();
    struct User {
        std::string name;
        std::map<std::string, uint64_t> keys;        // acknowledged key -> id
        std::map<uint64_t, std::string> last_acked;  // id -> last acknowledged text
        std::map<uint64_t, std::string> in_flight;   // id -> an edit sent, not answered
        std::set<uint64_t> deleted;                  // acknowledged deletes
        std::map<uint64_t, bool> reacted, in_flight_reaction;
    };
    std::vector<User> users(4);
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (size_t t = 0; t < users.size(); ++t) {
        users[t].name = "u" + std::to_string(t);
        threads.emplace_back([&, t] {
            auto& me = users[t];
            std::mt19937 rng(static_cast<unsigned>(t));
            std::vector<uint64_t> mine;
            for (int i = 0; !stop && i < 600; ++i) {
                int what = static_cast<int>(rng() % 4);
                try {
                    if (what == 0 || mine.empty()) {
                        std::string key = me.name + "-k" + std::to_string(i);
                        std::string text = "text of " + key;
                        for (int attempt = 0; attempt < 2; ++attempt) {
                            auto r = request(
                                port, "POST", "/rooms/crash/messages?id=" + me.name,
                                json::serialize(json::object{{"message", text}}),
                                {{"Content-Type", "application/json"}, {"Idempotency-Key", key}});
                            if (r.status != 201 && r.status != 200) break;
                            uint64_t id = json::parse(r.body).at("id").to_number<uint64_t>();
                            if (me.keys.count(key)) {
                                EXPECT_EQ(me.keys[key], id);
                            }
                            me.keys[key] = id;
                            me.last_acked[id] = text;
                            mine.push_back(id);
                        }
                    } else {
                        uint64_t id = mine[rng() % mine.size()];
                        if (me.deleted.count(id)) continue;
                        std::string path = "/rooms/crash/messages/" + std::to_string(id);
                        if (what == 1) {
                            std::string text = me.name + " edit " + std::to_string(i);
                            me.in_flight[id] = text;
                            auto r =
                                request(port, "PATCH", path + "?id=" + me.name,
                                        json::serialize(json::object{{"message", text}}), kJson);
                            if (r.status == 200) {
                                me.last_acked[id] = text;
                                me.in_flight.erase(id);
                            }
                        } else if (what == 2) {
                            bool on = !me.reacted[id];
                            me.in_flight_reaction[id] = true;
                            auto r = request(port, on ? "PUT" : "DELETE",
                                             path + "/reactions/" + kThumb + "?id=" + me.name);
                            if (r.status == 200) {
                                me.reacted[id] = on;
                                me.in_flight_reaction[id] = false;
                            }
                        } else if (rng() % 4 == 0) {
                            auto r = request(port, "DELETE", path + "?id=" + me.name);
                            if (r.status == 200) me.deleted.insert(id);
                        }
                    }
                } catch (const std::exception&) {
                    break;  // the server is gone
                }
            }
        });
    }
    std::this_thread::sleep_for(1500ms);
    server->kill9();
    stop = true;
    for (auto& t : threads) t.join();

    Server again({"--data", dir});
    port = again.port();
    auto h = json::parse(request(port, "GET", "/rooms/crash/messages?limit=500").body);
    std::map<uint64_t, json::object> state;
    std::map<std::string, int> seen_texts;
    size_t pages = 0;
    uint64_t before = 0;
    // Page backwards through every message.
    while (true) {
        std::string q = "/rooms/crash/messages?limit=500";
        if (before) q += "&before=" + std::to_string(before);
        auto page = json::parse(request(port, "GET", q).body);
        for (auto& m : page.at("messages").as_array())
            state[m.at("id").to_number<uint64_t>()] = m.as_object();
        if (!page.at("has_more").as_bool() || ++pages > 50) break;
        before = page.at("messages").as_array()[0].at("id").to_number<uint64_t>();
    }
    size_t acked = 0;
    for (auto& u : users) {
        for (auto& [key, id] : u.keys) {
            ++acked;
            ASSERT_TRUE(state.count(id)) << key << " was acknowledged as " << id;
            auto& m = state[id];
            EXPECT_EQ(m.at("user_id").as_string(), u.name);
            if (u.deleted.count(id)) {
                EXPECT_TRUE(m.contains("deleted")) << id;
                continue;
            }
            if (m.contains("deleted")) continue;  // a delete in flight at the kill
            // The last acknowledged text, or one edit that was in flight at the kill.
            std::string text(m.at("message").as_string());
            EXPECT_TRUE(text == u.last_acked[id] ||
                        (u.in_flight.count(id) && text == u.in_flight[id]))
                << id << ": " << text << " (acknowledged: " << u.last_acked[id] << ")";
            bool want = u.reacted[id];
            bool has = false;
            if (m.contains("reactions"))
                for (auto& r : m.at("reactions").as_array())
                    for (auto& who : r.at("users").as_array()) has |= who.as_string() == u.name;
            if (!u.in_flight_reaction[id]) {
                EXPECT_EQ(has, want) << id;
            }
        }
        // A key retried after the kill still answers with its message: stored once.
        for (auto& [key, id] : u.keys) {
            auto r = request(port, "POST", "/rooms/crash/messages?id=" + u.name,
                             json::serialize(json::object{{"message", "text of " + key}}),
                             {{"Content-Type", "application/json"}, {"Idempotency-Key", key}});
            EXPECT_EQ(r.status, 200) << key << " " << r.body;
            if (r.status == 200) {
                EXPECT_EQ(json::parse(r.body).at("id").to_number<uint64_t>(), id);
            }
            break;  // one per user keeps the test short; the texts below cover all
        }
    }
    EXPECT_GT(acked, 10u) << "the load ran";
    for (auto& [id, m] : state)
        if (m.contains("message")) {
            std::string text(m.at("message").as_string());
            if (text.rfind("text of ", 0) == 0) {
                EXPECT_EQ(++seen_texts[text], 1) << text;
            }
        }
    // Every event id from 1 to the last, with no hole and nothing twice.
    SseClient all(port, "/rooms/crash/events?since=0&presence=0");
    uint64_t last = json::parse(request(port, "GET", "/rooms").body)
                        .at("rooms")
                        .as_array()[0]
                        .at("last_id")
                        .to_number<uint64_t>();
    ASSERT_TRUE(all.wait_until([&] { return event_ids(all.events).size() >= last; }, 10000ms));
    EXPECT_EQ(event_ids(all.events), range(1, last));
}
