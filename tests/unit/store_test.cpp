// One test suite run against every store backend, plus the SQLite file's own guarantees.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "store/memory/memory_store.hpp"
#include "store/sqlite/sqlite_store.hpp"

using namespace ssechat;
using model::Event;

namespace {

std::string temp_dir() {
    char tmpl[] = "/tmp/ssechat-store-XXXXXX";
    return mkdtemp(tmpl);
}

Event msg(const std::string& room, uint64_t id, const std::string& text = "") {
    return {id, room, "u" + std::to_string(id), text.empty() ? "m" + std::to_string(id) : text,
            1000 + static_cast<int64_t>(id)};
}

std::vector<uint64_t> ids(const std::vector<Event>& v) {
    std::vector<uint64_t> out;
    for (auto& m : v) out.push_back(m.id);
    return out;
}

struct MemoryFactory {
    std::unique_ptr<store::Store> make(uint64_t retain) {
        return std::make_unique<store::MemoryStore>(retain);
    }
};
struct SqliteFactory {
    std::string dir = temp_dir();
    ~SqliteFactory() { std::filesystem::remove_all(dir); }
    std::unique_ptr<store::Store> make(uint64_t retain) {
        return std::make_unique<store::SqliteStore>(dir, false, retain);
    }
};

template <typename F>
class StoreSuite : public ::testing::Test {
  protected:
    F factory;
};
using Backends = ::testing::Types<MemoryFactory, SqliteFactory>;
TYPED_TEST_SUITE(StoreSuite, Backends);

}  // namespace

TYPED_TEST(StoreSuite, AppendAndRange) {
    auto s = this->factory.make(0);
    s->append({msg("a", 1), msg("a", 2), msg("b", 1), msg("a", 3)});
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
    s->append({m});
    auto got = s->range("r", 0, UINT64_MAX, 10, false);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].user_id, m.user_id);
    EXPECT_EQ(got[0].text, m.text);
    EXPECT_EQ(got[0].ts, m.ts);
    EXPECT_EQ(got[0].room, "r");
}

TYPED_TEST(StoreSuite, RoomsRememberLastId) {
    auto s = this->factory.make(0);
    s->append({msg("a", 1), msg("a", 2), msg("b", 7)});
    auto rooms = s->rooms("", 100);
    ASSERT_EQ(rooms.size(), 2u);
    EXPECT_EQ(rooms[0].name, "a");
    EXPECT_EQ(rooms[0].last_id, 2u);
    EXPECT_EQ(rooms[1].last_id, 7u);
    EXPECT_EQ(s->last_id("b"), 7u);
    EXPECT_EQ(s->last_id("none"), 0u);
}

TYPED_TEST(StoreSuite, RoomsArePagedByName) {
    auto s = this->factory.make(0);
    for (const char* r : {"d", "a", "c", "b", "e"}) s->append({msg(r, 1)});
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
    s->append({msg("a", 1), msg("a", 2)});
    EXPECT_TRUE(s->range("a", UINT64_MAX, UINT64_MAX, 10, false).empty());
    EXPECT_TRUE(s->range("a", UINT64_MAX - 1, UINT64_MAX, 10, false).empty());
}

TYPED_TEST(StoreSuite, RetentionKeepsNewest) {
    auto s = this->factory.make(3);
    for (uint64_t i = 1; i <= 10; ++i) s->append({msg("a", i)});
    EXPECT_EQ(ids(s->range("a", 0, UINT64_MAX, 100, false)), (std::vector<uint64_t>{8, 9, 10}));
    EXPECT_EQ(s->rooms("", 10)[0].last_id, 10u);  // trimmed ids are never reused
    EXPECT_EQ(s->last_id("a"), 10u);
}

namespace {
Event change(const std::string& room, uint64_t id, model::Kind kind, uint64_t target,
             const std::string& user, const std::string& text = "", bool remove = false) {
    Event e{id, room, user, text, 5000 + static_cast<int64_t>(id)};
    e.kind = kind;
    e.target = target;
    e.remove = remove;
    return e;
}
}  // namespace

TYPED_TEST(StoreSuite, ChangesKeepEachMessagesCurrentState) {
    using model::Kind;
    auto s = this->factory.make(0);
    Event reply = msg("r", 2, "answer");
    reply.reply_to = 1;
    s->append({msg("r", 1, "first"), reply});
    s->append({change("r", 3, Kind::Edit, 1, "u1", "first, fixed"),
               change("r", 4, Kind::Reaction, 1, "bob", "👍"),
               change("r", 5, Kind::Reaction, 1, "ann", "🎉"),
               change("r", 6, Kind::Reaction, 1, "ann", "👍")});
    s->append({change("r", 7, Kind::Reaction, 1, "bob", "👍", true)});
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

    s->append({change("r", 8, Kind::Delete, 1, "mod")});
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
    s->append({msg("r", 1), msg("r", 2), msg("r", 3)});
    std::vector<Event> batch;
    uint64_t id = 4;
    for (int i = 0; i < 40; ++i)
        batch.push_back(change("r", id++, Kind::Reaction, 1 + i % 3, "u" + std::to_string(i), "👍"));
    batch.push_back(change("r", id++, Kind::Reaction, 1, "u0", "👍", true));
    batch.push_back(change("r", id++, Kind::Delete, 2, "mod"));
    for (int i = 0; i < 20; ++i)
        batch.push_back(change("r", id++, Kind::Reaction, 3, "v" + std::to_string(i), "🎉"));
    batch.push_back(change("r", id++, Kind::Reaction, 1, "u3", "👍", true));
    s->append(batch);

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
    s->append({msg("a", 1), msg("a", 2)});
    s->append({change("a", 3, Kind::Reaction, 1, "x", "👍"), msg("a", 4), msg("a", 5)});
    EXPECT_EQ(ids(s->range("a", 0, UINT64_MAX, 100, false)), (std::vector<uint64_t>{3, 4, 5}));
    EXPECT_EQ(ids(s->messages("a", 0, UINT64_MAX, 100, false)), (std::vector<uint64_t>{4, 5}));
    EXPECT_FALSE(s->message("a", 1));
}

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
