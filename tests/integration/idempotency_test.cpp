// Idempotency-Key on POST /rooms/{room}/messages: a retried send stores nothing new, across
// restarts, kill -9 and (in cluster_test.cpp) nodes.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <boost/json.hpp>
#include <filesystem>
#include <set>
#include <thread>

#include "harness.hpp"

using namespace itest;
namespace json = boost::json;

namespace {

Response send(int port, const std::string& room, const std::string& user, const std::string& text,
              const std::string& key) {
    Headers h{{"Content-Type", "application/json"}};
    if (!key.empty()) h.emplace_back("Idempotency-Key", key);
    return request(port, "POST", "/rooms/" + room + "/messages?id=" + user,
                   json::serialize(json::object{{"message", text}}), h);
}

size_t stored(int port, const std::string& room) {
    auto h = json::parse(request(port, "GET", "/rooms/" + room + "/messages?limit=500").body);
    return h.at("messages").as_array().size();
}

class Idempotency : public ::testing::TestWithParam<std::string> {
  protected:
    std::vector<std::string> args() {
        if (GetParam() == "memory") return {"--store", "memory", "--publish-rate", "0"};
        return {"--data", dir_, "--publish-rate", "0"};
    }
    std::string dir_ = temp_dir();
};

}  // namespace

TEST_P(Idempotency, ARetryGetsTheOriginalAndStoresNothing) {
    Server srv(args());
    auto first = send(srv.port(), "r", "alice", "hello", "k-1");
    ASSERT_EQ(first.status, 201) << first.body;
    EXPECT_EQ(first.header("idempotent-replayed"), "");
    auto again = send(srv.port(), "r", "alice", "hello", "k-1");
    EXPECT_EQ(again.status, 200) << again.body;
    EXPECT_EQ(again.header("idempotent-replayed"), "true");
    EXPECT_EQ(json::parse(again.body), json::parse(first.body))
        << "id, ts and text as first answered";
    // Another text under the same key is refused, not stored.
    auto other = send(srv.port(), "r", "alice", "something else", "k-1");
    EXPECT_EQ(other.status, 422) << other.body;
    EXPECT_NE(other.body.find("Idempotency-Key"), std::string::npos);
    // Keys belong to a user in a room.
    EXPECT_EQ(send(srv.port(), "r", "bob", "hello", "k-1").status, 201);
    EXPECT_EQ(send(srv.port(), "elsewhere", "alice", "hello", "k-1").status, 201);
    // Without a key every send is new.
    EXPECT_EQ(send(srv.port(), "r", "alice", "hello", "").status, 201);
    EXPECT_EQ(send(srv.port(), "r", "alice", "hello", "").status, 201);
    EXPECT_EQ(stored(srv.port(), "r"), 4u);
}

TEST_P(Idempotency, BadKeysAre400) {
    Server srv(args());
    for (std::string bad : {std::string(129, 'k'), std::string("has space"),
                            std::string("tab\tkey"), std::string("caf\xc3\xa9")}) {
        auto r = send(srv.port(), "r", "a", "x", bad);
        EXPECT_EQ(r.status, 400) << bad;
        EXPECT_NE(r.body.find("Idempotency-Key"), std::string::npos) << r.body;
    }
    EXPECT_EQ(send(srv.port(), "r", "a", "x", std::string(128, 'k')).status, 201);
    auto twice =
        raw(srv.port(),
            "POST /rooms/r/messages?id=a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            "Content-Type: application/json\r\nIdempotency-Key: a\r\nIdempotency-Key: b\r\n"
            "Content-Length: 15\r\n\r\n{\"message\":\"x\"}");
    EXPECT_EQ(twice.rfind("HTTP/1.1 400", 0), 0u) << twice;
    auto empty = raw(srv.port(),
                     "POST /rooms/r/messages?id=a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nIdempotency-Key: \r\n"
                     "Content-Length: 15\r\n\r\n{\"message\":\"x\"}");
    EXPECT_EQ(empty.rfind("HTTP/1.1 400", 0), 0u) << empty;
    EXPECT_EQ(stored(srv.port(), "r"), 1u);
}

TEST_P(Idempotency, ConcurrentRequestsWithOneKeyStoreOneMessage) {
    Server srv(args());
    std::vector<std::thread> ts;
    std::mutex mu;
    std::set<int64_t> ids;
    int created = 0, replayed = 0;
    for (int t = 0; t < 8; ++t)
        ts.emplace_back([&] {
            auto r = send(srv.port(), "c", "u", "only once", "same-key");
            std::lock_guard lk(mu);
            if (r.status == 201) ++created;
            if (r.status == 200) ++replayed;
            if (r.status == 200 || r.status == 201)
                ids.insert(json::parse(r.body).at("id").as_int64());
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(created, 1);
    EXPECT_EQ(replayed, 7);
    EXPECT_EQ(ids.size(), 1u);
    EXPECT_EQ(stored(srv.port(), "c"), 1u);
}

TEST_P(Idempotency, KeysExpireAfterTheirTtl) {
    auto a = args();
    a.insert(a.end(), {"--idempotency-ttl", "1"});
    Server srv(a);
    ASSERT_EQ(send(srv.port(), "t", "u", "x", "short-lived").status, 201);
    EXPECT_EQ(send(srv.port(), "t", "u", "x", "short-lived").status, 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    EXPECT_EQ(send(srv.port(), "t", "u", "x", "short-lived").status, 201);
    EXPECT_EQ(stored(srv.port(), "t"), 2u);
}

INSTANTIATE_TEST_SUITE_P(Stores, Idempotency, ::testing::Values("memory", "sqlite"));

TEST(IdempotencyDurable, KeysSurviveARestartAndKill9) {
    std::string dir = temp_dir();
    std::string first;
    {
        Server srv({"--data", dir});
        auto r = send(srv.port(), "d", "u", "kept", "durable-key");
        ASSERT_EQ(r.status, 201);
        first = r.body;
        srv.kill9();  // right after the answer: the key must be on disk with its message
    }
    {
        Server srv({"--data", dir});
        auto r = send(srv.port(), "d", "u", "kept", "durable-key");
        EXPECT_EQ(r.status, 200) << r.body;
        EXPECT_EQ(json::parse(r.body), json::parse(first));
        EXPECT_EQ(srv.terminate(), 0);
    }
    Server srv({"--data", dir});
    EXPECT_EQ(send(srv.port(), "d", "u", "kept", "durable-key").status, 200);
    EXPECT_EQ(stored(srv.port(), "d"), 1u);
}

TEST(IdempotencyDurable, ADatabaseOfTheFirstReleaseIsUpgradedInPlace) {
    // The schema of the first release, written by hand: user_version 0, no idempotency table.
    std::string dir = temp_dir();
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir + "/ssechat.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(
        sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL;"
                     "CREATE TABLE rooms (name TEXT PRIMARY KEY, last_id INTEGER NOT NULL) "
                     "WITHOUT ROWID;"
                     "CREATE TABLE messages (room TEXT NOT NULL, id INTEGER NOT NULL, user_id "
                     "TEXT NOT NULL, message TEXT NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY "
                     "(room, id)) WITHOUT ROWID;"
                     "INSERT INTO messages VALUES('old',1,'ann','from before',1700000000000);"
                     "INSERT INTO rooms VALUES('old',1);",
                     nullptr, nullptr, nullptr),
        SQLITE_OK);
    sqlite3_close(db);
    {
        Server srv({"--data", dir});
        auto h = json::parse(request(srv.port(), "GET", "/rooms/old/messages").body);
        ASSERT_EQ(h.at("messages").as_array().size(), 1u);
        EXPECT_EQ(h.at("messages").as_array()[0].at("message").as_string(), "from before");
        auto r = send(srv.port(), "old", "u", "new", "after-upgrade");
        ASSERT_EQ(r.status, 201);
        EXPECT_EQ(json::parse(r.body).at("id").as_int64(), 2);
        EXPECT_EQ(send(srv.port(), "old", "u", "new", "after-upgrade").status, 200);
        EXPECT_EQ(srv.terminate(), 0);
    }
    ASSERT_EQ(sqlite3_open((dir + "/ssechat.db").c_str(), &db), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, nullptr);
    ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int(s, 0), 6);  // the current schema version
    sqlite3_finalize(s);
    // A database from a newer release is refused with a clear line, not misread.
    sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    auto e = run_binary({"--data", dir, "--port", "0"});
    EXPECT_EQ(e.code, 1);
    EXPECT_NE(e.out.find("newer ssechat"), std::string::npos) << e.out;
}
