// Search over the real API: GET /rooms/{room}/search and GET /me/search in memory and in
// SQLite (the same answers), hostile queries, edits and deletes reflected, paging, who may
// search what, the index built when an older database is upgraded, and Redis saying 501.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <boost/json.hpp>
#include <filesystem>
#include <set>

#include "harness.hpp"
#include "services.hpp"

using namespace itest;
namespace json = boost::json;

namespace {

constexpr const char* kSecret = "search-secret";

Headers as(const std::string& user) {
    return {{"Authorization", "Bearer " + hs256_token(kSecret, user, {})},
            {"Content-Type", "application/json"}};
}

std::string esc(const std::string& s) {
    std::string out;
    const char* hex = "0123456789ABCDEF";
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

class Search : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        std::vector<std::string> args{"--publish-rate", "0", "--jwt-secret", kSecret};
        if (GetParam() == "sqlite")
            args.insert(args.end(), {"--store", "sqlite", "--data", temp_dir()});
        else
            args.insert(args.end(), {"--store", "memory"});
        srv_ = std::make_unique<Server>(args);
    }
    Response call(const std::string& user, const std::string& method, const std::string& target,
                  const std::string& body = "") {
        return request(srv_->port(), method, target, body, as(user));
    }
    uint64_t post(const std::string& user, const std::string& room, const std::string& text) {
        auto r = call(user, "POST", "/rooms/" + room + "/messages",
                      json::serialize(json::object{{"message", text}}));
        EXPECT_EQ(r.status, 201) << r.body;
        return r.status == 201 ? json::parse(r.body).at("id").to_number<uint64_t>() : 0;
    }
    // The answer's results as "room/id", in order, and the whole answer.
    std::vector<std::string> find(const std::string& user, const std::string& path,
                                  const std::string& q, json::object* whole = nullptr,
                                  const std::string& extra = "") {
        auto r = call(user, "GET", path + "?q=" + esc(q) + extra);
        EXPECT_EQ(r.status, 200) << q << ": " << r.body;
        std::vector<std::string> out;
        if (r.status != 200) return out;
        auto v = json::parse(r.body).as_object();
        for (const auto& h : v.at("results").as_array())
            out.push_back(std::string(h.at("room").as_string()) + "/" +
                          std::to_string(h.at("id").to_number<uint64_t>()));
        if (whole) *whole = v;
        return out;
    }
    void join(const std::string& user, const std::string& room) {
        EXPECT_EQ(call(user, "PUT", "/me/rooms/" + room).status / 100, 2);
    }
    std::unique_ptr<Server> srv_;
};

using V = std::vector<std::string>;

TEST_P(Search, WordsPhrasesAuthorsAndRoomsNewestFirstWithTheMatchesMarked) {
    post("alice", "town", "The quick brown fox");
    post("bob", "town", "a slow brown dog");
    post("alice", "town", "QUICK thinking, brown-bag lunch");
    post("carol", "fields", "quick brown fox in the fields");
    join("alice", "town");
    join("alice", "fields");

    EXPECT_EQ(find("alice", "/rooms/town/search", "brown"), (V{"town/3", "town/2", "town/1"}));
    EXPECT_EQ(find("alice", "/rooms/town/search", "quick brown"), (V{"town/3", "town/1"}))
        << "every word must match, in any order and case";
    EXPECT_EQ(find("alice", "/rooms/town/search", "\"quick brown\""), (V{"town/1"}))
        << "a phrase is its words in a row";
    EXPECT_EQ(find("alice", "/rooms/town/search", "brown-bag"), (V{"town/3"}));
    EXPECT_EQ(find("alice", "/rooms/town/search", "brown from:bob"), (V{"town/2"}));
    EXPECT_EQ(find("alice", "/rooms/town/search", "from:@alice"), (V{"town/3", "town/1"}))
        << "from: alone lists the author's messages";
    EXPECT_EQ(find("alice", "/me/search", "quick brown"), (V{"fields/1", "town/3", "town/1"}))
        << "every room the user is in, newest first across them";
    EXPECT_EQ(find("alice", "/me/search", "fox in:fields"), (V{"fields/1"}));
    EXPECT_EQ(find("alice", "/me/search", "in:town"), (V{"town/3", "town/2", "town/1"}))
        << "in: alone lists the room newest first";
    EXPECT_EQ(find("alice", "/me/search", "from:alice in:town"), (V{"town/3", "town/1"}));
    EXPECT_EQ(find("alice", "/rooms/town/search", "fox in:fields"), V{})
        << "in: narrows; it never widens a room's search";

    json::object whole;
    find("alice", "/rooms/town/search", "fox", &whole);
    auto hit = whole.at("results").as_array()[0].as_object();
    std::vector<std::string> keys;
    for (const auto& kv : hit) keys.emplace_back(kv.key());
    EXPECT_EQ(keys, (V{"room", "id", "user_id", "ts", "snippet"}));
    EXPECT_EQ(hit.at("user_id").as_string(), "alice");
    EXPECT_EQ(hit.at("snippet").as_string(),
              "The quick brown \x02"
              "fox\x03");
    EXPECT_TRUE(whole.at("next").is_null());
}

TEST_P(Search, HostileQueriesAreOrdinarySearchesAndTextNeverBecomesSyntax) {
    post("alice", "town", "NEAR(a b) and \"quotes\" and * and OR");
    post("alice", "town", "plain words");
    for (std::string q :
         {"\"", "NEAR(", "*", "a\" OR \"b", "^plain", "-plain", "plain:words", "\"\"\"", "(", ")",
          "OR", "AND NOT", "NEAR(a b)", "{plain}", "'", "\\", "%", "plain*", "\x01"}) {
        auto r = call("alice", "GET", "/rooms/town/search?q=" + esc(q));
        EXPECT_EQ(r.status, 200) << q << ": " << r.body;
    }
    EXPECT_EQ(find("alice", "/rooms/town/search", "NEAR(a b)"), (V{"town/1"}))
        << "NEAR is a word here";
    EXPECT_EQ(find("alice", "/rooms/town/search", "*"), V{});
    EXPECT_EQ(find("alice", "/rooms/town/search", "-plain"), (V{"town/2"}))
        << "a minus is no operator";
    EXPECT_EQ(find("alice", "/rooms/town/search", "plain OR nothing"), V{})
        << "OR is a word that must match too";
}

TEST_P(Search, EditsAndDeletesAreReflected) {
    uint64_t a = post("alice", "town", "meet at the lighthouse");
    post("alice", "town", "bring the lighthouse keys");
    ASSERT_EQ(call("alice", "PATCH", "/rooms/town/messages/" + std::to_string(a),
                   R"({"message":"meet at the harbour"})")
                  .status,
              200);
    EXPECT_EQ(find("alice", "/rooms/town/search", "lighthouse"), (V{"town/2"}))
        << "an edited message is found by its new text only";
    EXPECT_EQ(find("alice", "/rooms/town/search", "harbour"), (V{"town/1"}));
    ASSERT_EQ(call("alice", "DELETE", "/rooms/town/messages/2").status, 200);
    EXPECT_EQ(find("alice", "/rooms/town/search", "lighthouse"), V{});
    EXPECT_EQ(find("alice", "/rooms/town/search", "from:alice"), (V{"town/1"}))
        << "a deleted message is found by nothing";
}

TEST_P(Search, PagesGoBackThroughEveryResultOnce) {
    for (int i = 0; i < 25; ++i) post("alice", "town", "round " + std::to_string(i) + " again");
    std::vector<std::string> all;
    std::string extra = "&limit=10";
    for (int page = 0; page < 5; ++page) {
        json::object whole;
        auto got = find("alice", "/rooms/town/search", "again", &whole, extra);
        all.insert(all.end(), got.begin(), got.end());
        if (whole.at("next").is_null()) break;
        extra = "&limit=10&before=" + esc(std::string(whole.at("next").as_string()));
    }
    ASSERT_EQ(all.size(), 25u);
    for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], "town/" + std::to_string(25 - i));
    json::object whole;
    EXPECT_EQ(find("alice", "/rooms/town/search", "again", &whole).size(), 20u)
        << "20 unless asked";
}

TEST_P(Search, NobodySearchesWhatTheyMayNotRead) {
    auto made = call("alice", "POST", "/rooms", R"({"visibility":"private","name":"Plans"})");
    ASSERT_EQ(made.status, 201) << made.body;
    std::string priv(json::parse(made.body).at("room").as_string());
    uint64_t plan = post("alice", priv, "the secret plan");
    auto dm = call("alice", "PUT", "/me/dms/bob");
    ASSERT_EQ(dm.status, 201) << dm.body;
    std::string dm_room(json::parse(dm.body).at("name").as_string());
    uint64_t between = post("bob", dm_room, "a secret between us");
    post("carol", "open", "no secret here");
    join("carol", "open");
    const std::string in_priv = priv + "/" + std::to_string(plan);
    const std::string in_dm = dm_room + "/" + std::to_string(between);

    auto refused = call("carol", "GET", "/rooms/" + priv + "/search?q=secret");
    EXPECT_EQ(refused.status, 404) << refused.body;
    EXPECT_EQ(refused.body.find(priv), std::string::npos) << "the answer does not say it exists";
    EXPECT_EQ(call("carol", "GET", "/rooms/" + dm_room + "/search?q=secret").status, 404);
    EXPECT_EQ(find("carol", "/rooms/never-made/search", "secret"), V{})
        << "a room nobody made is public and empty, as its history is";
    EXPECT_EQ(find("carol", "/me/search", "secret"), (V{"open/1"}));
    EXPECT_EQ(find("carol", "/me/search", "secret in:" + priv), V{});
    EXPECT_EQ(find("alice", "/me/search", "secret"), (V{in_dm, in_priv})) << "DMs included";
    EXPECT_EQ(find("bob", "/me/search", "secret"), (V{in_dm}));
}

TEST_P(Search, BadRequestsSayWhatIsWrong) {
    auto status = [&](const std::string& query) {
        return call("alice", "GET", "/rooms/town/search" + query).status;
    };
    EXPECT_EQ(status(""), 400);
    EXPECT_EQ(status("?q="), 400);
    EXPECT_EQ(status("?q=x&limit=0"), 400);
    EXPECT_EQ(status("?q=x&limit=101"), 400);
    EXPECT_EQ(status("?q=x&before=yesterday"), 400);
    EXPECT_EQ(status("?q=" + std::string(1001, 'a')), 400);
    EXPECT_EQ(status("?q=from:"), 400);
    EXPECT_EQ(status("?q=from:a%20from:b"), 400);
    auto r = call("alice", "GET", "/me/search?q=in:");
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body.find("in: needs a value"), std::string::npos) << r.body;
    EXPECT_EQ(status("?q=x&limit=100"), 200);
}

INSTANTIATE_TEST_SUITE_P(Stores, Search, ::testing::Values("memory", "sqlite"),
                         [](const auto& info) { return info.param; });

TEST(SearchRedis, SaysItNeedsSqlite) {
    RedisServer redis;
    Server srv({"--store", "redis", "--redis", redis.url()});
    ASSERT_EQ(post_json(srv.port(), "/rooms/r/messages?id=a", R"({"message":"hello"})").status,
              201);
    auto r = request(srv.port(), "GET", "/rooms/r/search?q=hello&id=a");
    EXPECT_EQ(r.status, 501);
    EXPECT_EQ(r.body, R"({"error":"search needs --store sqlite"})") << "the issue's shape, exactly";
    EXPECT_EQ(request(srv.port(), "GET", "/me/search?q=hello&id=a").status, 501);
}

// A database of the first release (no positions) and one with positions: the upgrade builds
// the index from what is stored, edits and deletions included, older rows after newer ones.
TEST(SearchUpgrade, AnOlderDatabaseIsIndexedWhenItOpens) {
    std::string dir = temp_dir();
    std::filesystem::create_directories(dir);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir + "/ssechat.db").c_str(), &db), SQLITE_OK);
    const char* sql = R"sql(
CREATE TABLE rooms (name TEXT PRIMARY KEY, last_id INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE messages (room TEXT NOT NULL, id INTEGER NOT NULL, user_id TEXT NOT NULL,
  message TEXT NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY (room, id)) WITHOUT ROWID;
INSERT INTO rooms VALUES ('old', 3);
INSERT INTO messages VALUES ('old', 1, 'alice', 'an ancient harbour', 1000);
INSERT INTO messages VALUES ('old', 2, 'bob', 'another harbour tale', 2000);
INSERT INTO messages VALUES ('old', 3, 'bob', 'harbour three', 3000);
)sql";
    ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
    {
        // Opened once by this release's predecessors' path: upgraded, then used.
        Server srv({"--data", dir, "--publish-rate", "0"});
        int p = srv.port();
        EXPECT_EQ(request(p, "DELETE", "/rooms/old/messages/3?id=bob").status, 200);
        EXPECT_EQ(
            post_json(p, "/rooms/old/messages?id=carol", R"({"message":"new harbour"})").status,
            201);
        auto r = request(p, "GET", "/rooms/old/search?q=harbour&id=alice");
        ASSERT_EQ(r.status, 200) << r.body;
        std::vector<uint64_t> ids;
        auto answer = json::parse(r.body);
        for (const auto& h : answer.at("results").as_array())
            ids.push_back(h.at("id").to_number<uint64_t>());
        EXPECT_EQ(ids, (std::vector<uint64_t>{5, 2, 1}));
        EXPECT_EQ(srv.terminate(), 0);
    }
    Server again({"--data", dir});
    auto r = request(again.port(), "GET", "/me/search?q=ancient&id=alice");
    EXPECT_EQ(r.status, 200) << r.body;
    auto page = request(again.port(), "GET", "/rooms/old/search?q=ancient&id=alice");
    EXPECT_NE(page.body.find("\"id\":1"), std::string::npos) << page.body;
}

}  // namespace
