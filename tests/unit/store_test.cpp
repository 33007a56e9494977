// The SQLite file's own guarantees. The suite every store passes (memory, SQLite, Redis) is
// tests/integration/store_suite_test.cpp: Redis needs a redis-server, which those tests start.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "../common/store_events.hpp"
#include "store/sqlite/sqlite_store.hpp"

using namespace ssechat;
using model::Event;
using store_events::change;
using store_events::ids;
using store_events::msg;
using store_events::SqliteFactory;

namespace {}  // namespace

TEST(SqliteStore, ADeletedTextIsInNoFileAfterAStop) {
    SqliteFactory f;
    {
        auto s = f.make(0);
        s->append({msg("a", 1, "zebra-secret-original"), msg("a", 2, "keep-this-text")});
        s->append({change("a", 3, model::Kind::Edit, 1, "u1", "zebra-secret-edited")});
        s->append({change("a", 4, model::Kind::Delete, 1, "u1")});
    }
    std::string all;
    for (const auto& e : std::filesystem::directory_iterator(f.dir)) {
        std::ifstream in(e.path(), std::ios::binary);
        all.append(std::istreambuf_iterator<char>(in), {});
    }
    EXPECT_NE(all.find("keep-this-text"), std::string::npos) << "the check reads the files";
    EXPECT_EQ(all.find("zebra-secret"), std::string::npos);
}

TEST(SqliteStore, SurvivesReopen) {
    SqliteFactory f;
    {
        auto s = f.make(0);
        s->append({msg("a", 1), msg("a", 2)});
    }
    auto s = f.make(0);
    EXPECT_EQ(ids(s->range("a", 0, UINT64_MAX, 10, false)), (std::vector<uint64_t>{1, 2}));
    EXPECT_EQ(s->rooms("", 10)[0].last_id, 2u);
}

// A row of a kind this release does not know (a newer release's, or damage) is an error on
// every read that meets it, never a message.
TEST(SqliteStore, AnUnknownStoredKindIsAnErrorNotAMessage) {
    SqliteFactory f;
    {
        auto s = f.make(0);
        s->append({msg("a", 1), msg("a", 2)});
    }
    {
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open((f.dir + "/ssechat.db").c_str(), &db), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(db, "UPDATE messages SET kind=9 WHERE room='a' AND id=2", nullptr,
                               nullptr, nullptr),
                  SQLITE_OK);
        sqlite3_close(db);
    }
    auto s = f.make(0);
    try {
        s->range("a", 0, UINT64_MAX, 10, false);
        FAIL() << "read a kind-9 row as something";
    } catch (const store::StoreError& e) {
        EXPECT_NE(std::string(e.what()).find("unknown kind (9)"), std::string::npos) << e.what();
    }
    EXPECT_EQ(ids(s->range("a", 0, 2, 10, false)), (std::vector<uint64_t>{1}));
}

TEST(SqliteStore, FailedBatchStoresNothing) {
    SqliteFactory f;
    auto s = f.make(0);
    s->append({msg("a", 1)});
    // The second row reuses id 1: the whole batch must roll back.
    EXPECT_THROW(s->append({msg("a", 2), msg("a", 1)}), store::StoreError);
    EXPECT_EQ(ids(s->range("a", 0, UINT64_MAX, 10, false)), (std::vector<uint64_t>{1}));
    EXPECT_FALSE(s->writable());
    s->append({msg("a", 2)});
    EXPECT_TRUE(s->writable());
}

TEST(SqliteStore, SecondOpenIsLockedOut) {
    SqliteFactory f;
    auto s = f.make(0);
    try {
        f.make(0);
        FAIL() << "a second store opened the same file";
    } catch (const store::StoreError& e) {
        EXPECT_NE(std::string(e.what()).find("locked"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("ssechat.db"), std::string::npos) << e.what();
    }
}

TEST(SqliteStore, CorruptFileIsAClearError) {
    SqliteFactory f;
    { std::ofstream(f.dir + "/ssechat.db") << std::string(8192, 'x'); }
    try {
        f.make(0);
        FAIL() << "opened a corrupt file";
    } catch (const store::StoreError& e) {
        EXPECT_NE(std::string(e.what()).find(f.dir + "/ssechat.db"), std::string::npos) << e.what();
    }
    // The file is left as it was, for the operator to inspect.
    EXPECT_EQ(std::filesystem::file_size(f.dir + "/ssechat.db"), 8192u);
}

TEST(SqliteStore, UnusableFolderIsAClearError) {
    SqliteFactory f;
    std::string file = f.dir + "/not-a-dir";
    std::ofstream(file) << "x";
    EXPECT_THROW(store::SqliteStore(file + "/sub", false, 0), store::StoreError);
}
