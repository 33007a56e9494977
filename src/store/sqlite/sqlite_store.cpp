// SqliteStore: WAL with synchronous=NORMAL by default, which keeps every committed transaction
// across a process crash (the WAL write has reached the kernel); FULL adds an fsync per commit.
#include "store/sqlite/sqlite_store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace ssechat::store {

namespace {

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS rooms (
  name    TEXT PRIMARY KEY,
  last_id INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
  room    TEXT NOT NULL,
  id      INTEGER NOT NULL,
  user_id TEXT NOT NULL,
  message TEXT NOT NULL,
  ts      INTEGER NOT NULL,
  PRIMARY KEY (room, id)
) WITHOUT ROWID;
)sql";

// Upgrades in place, one step per version, each in its own transaction. A database written
// by the first release has user_version 0 and the tables of kSchema.
constexpr int kVersion = 1;
const char* kMigrations[kVersion] = {
    // 0 -> 1: idempotency keys, written in the same transaction as their message.
    R"sql(
CREATE TABLE IF NOT EXISTS idempotency (
  room      TEXT NOT NULL,
  user_id   TEXT NOT NULL,
  key       TEXT NOT NULL,
  msg_id    INTEGER NOT NULL,
  ts        INTEGER NOT NULL,
  text_hash TEXT NOT NULL,
  expires   INTEGER NOT NULL,
  PRIMARY KEY (room, user_id, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_expires ON idempotency(expires);
)sql",
};

// Resets a statement on scope exit so a throw never leaves it mid-step.
struct StmtGuard {
    sqlite3_stmt* s;
    ~StmtGuard() {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
};

void bind_text(sqlite3_stmt* s, int i, const std::string& v) {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
}

std::string column_text(sqlite3_stmt* s, int i) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s, i))) : std::string();
}

}  // namespace

void SqliteStore::fail(sqlite3* db, const std::string& what) {
    std::string why = db ? sqlite3_errmsg(db) : "out of memory";
    throw StoreError(what + " " + path_ + ": " + why);
}

sqlite3_stmt* SqliteStore::prepare(sqlite3* db, const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
        fail(db, "cannot prepare statements on");
    return s;
}

SqliteStore::SqliteStore(const std::string& dir, bool fsync_always, uint64_t retain,
                         int64_t key_ttl_s)
    : path_(dir + "/ssechat.db"), retain_(retain), key_ttl_ms_(key_ttl_s * 1000) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw StoreError("cannot create data folder " + dir + ": " + ec.message());

    // A second server on the same file would assign the same ids twice.
    std::string lock_path = path_ + ".lock";
    lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0) throw StoreError("cannot open " + lock_path + ": " + std::strerror(errno));
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
        ::close(lock_fd_);
        lock_fd_ = -1;
        throw StoreError("database " + path_ + " is locked by another ssechat process");
    }

    try {
        int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
        if (sqlite3_open_v2(path_.c_str(), &wdb_, flags, nullptr) != SQLITE_OK)
            fail(wdb_, "cannot open database");
        if (sqlite3_db_readonly(wdb_, "main") == 1)
            throw StoreError("database " + path_ + " is not writable");
        sqlite3_busy_timeout(wdb_, 2000);
        std::string pragmas = std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=") +
                              (fsync_always ? "FULL" : "NORMAL") + ";";
        if (sqlite3_exec(wdb_, pragmas.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
            fail(wdb_, "cannot use database");
        if (sqlite3_exec(wdb_, kSchema, nullptr, nullptr, nullptr) != SQLITE_OK)
            fail(wdb_, "cannot use database");
        migrate();
        // Corruption inside pages that the schema statements did not touch shows up here.
        sqlite3_stmt* qc = prepare(wdb_, "PRAGMA quick_check(1)");
        std::string verdict;
        if (sqlite3_step(qc) == SQLITE_ROW) verdict = column_text(qc, 0);
        sqlite3_finalize(qc);
        if (verdict != "ok") throw StoreError("database " + path_ + " is corrupt: " + verdict);

        if (sqlite3_open_v2(path_.c_str(), &rdb_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                            nullptr) != SQLITE_OK)
            fail(rdb_, "cannot open database");
        sqlite3_busy_timeout(rdb_, 2000);

        insert_ =
            prepare(wdb_, "INSERT INTO messages(room,id,user_id,message,ts) VALUES(?,?,?,?,?)");
        upsert_room_ = prepare(wdb_,
                               "INSERT INTO rooms(name,last_id) VALUES(?,?) ON CONFLICT(name) "
                               "DO UPDATE SET last_id=excluded.last_id");
        trim_ = prepare(wdb_, "DELETE FROM messages WHERE room=? AND id<=?");
        range_asc_ = prepare(rdb_,
                             "SELECT id,user_id,message,ts FROM messages WHERE room=? AND id>? "
                             "AND id<? ORDER BY id ASC LIMIT ?");
        range_desc_ = prepare(rdb_,
                              "SELECT id,user_id,message,ts FROM messages WHERE room=? AND id>? "
                              "AND id<? ORDER BY id DESC LIMIT ?");
        rooms_page_ =
            prepare(rdb_, "SELECT name,last_id FROM rooms WHERE name>? ORDER BY name LIMIT ?");
        last_id_ = prepare(rdb_, "SELECT last_id FROM rooms WHERE name=?");
        // Keys are read on the writer's connection: the writer decides, between commits,
        // whether a publish is new, and must see its own last commit.
        find_key_ = prepare(wdb_,
                            "SELECT msg_id,ts,text_hash FROM idempotency WHERE room=? AND "
                            "user_id=? AND key=? AND expires>?");
        insert_key_ = prepare(wdb_,
                              "INSERT OR REPLACE INTO idempotency(room,user_id,key,msg_id,ts,"
                              "text_hash,expires) VALUES(?,?,?,?,?,?,?)");
        purge_keys_ = prepare(wdb_, "DELETE FROM idempotency WHERE expires<=?");
    } catch (...) {
        release();
        throw;
    }
}

SqliteStore::~SqliteStore() {
    release();
}

void SqliteStore::release() {
    for (auto* s : {insert_, upsert_room_, trim_, range_asc_, range_desc_, rooms_page_, last_id_,
                    find_key_, insert_key_, purge_keys_})
        sqlite3_finalize(s);
    insert_ = upsert_room_ = trim_ = range_asc_ = range_desc_ = rooms_page_ = last_id_ = nullptr;
    find_key_ = insert_key_ = purge_keys_ = nullptr;
    if (rdb_) sqlite3_close(rdb_);
    if (wdb_) sqlite3_close(wdb_);
    rdb_ = wdb_ = nullptr;
    if (lock_fd_ >= 0) ::close(lock_fd_);
    lock_fd_ = -1;
}

std::vector<RoomMeta> SqliteStore::rooms(const std::string& after, size_t limit) {
    std::lock_guard lk(rmu_);
    StmtGuard g{rooms_page_};
    bind_text(rooms_page_, 1, after);
    sqlite3_bind_int64(rooms_page_, 2,
                       static_cast<sqlite3_int64>(std::min<size_t>(limit, INT64_MAX)));
    std::vector<RoomMeta> out;
    int rc;
    while ((rc = sqlite3_step(rooms_page_)) == SQLITE_ROW)
        out.push_back({column_text(rooms_page_, 0),
                       static_cast<uint64_t>(sqlite3_column_int64(rooms_page_, 1))});
    if (rc != SQLITE_DONE) fail(rdb_, "cannot read");
    return out;
}

uint64_t SqliteStore::last_id(const std::string& room) {
    std::lock_guard lk(rmu_);
    StmtGuard g{last_id_};
    bind_text(last_id_, 1, room);
    int rc = sqlite3_step(last_id_);
    if (rc == SQLITE_ROW) return static_cast<uint64_t>(sqlite3_column_int64(last_id_, 0));
    if (rc != SQLITE_DONE) fail(rdb_, "cannot read");
    return 0;
}

void SqliteStore::append(const std::vector<model::Message>& batch) {
    if (batch.empty()) return;
    if (sqlite3_exec(wdb_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
        healthy_ = false;
        fail(wdb_, "cannot begin a transaction on");
    }
    try {
        // The last id per room in this batch; batches are small, a vector beats a map.
        std::vector<std::pair<const std::string*, uint64_t>> last;
        for (const auto& m : batch) {
            StmtGuard g{insert_};
            bind_text(insert_, 1, m.room);
            sqlite3_bind_int64(insert_, 2, static_cast<sqlite3_int64>(m.id));
            bind_text(insert_, 3, m.user_id);
            bind_text(insert_, 4, m.text);
            sqlite3_bind_int64(insert_, 5, m.ts);
            if (sqlite3_step(insert_) != SQLITE_DONE) fail(wdb_, "cannot insert into");
            if (!m.key.empty()) {
                StmtGuard k{insert_key_};
                bind_text(insert_key_, 1, m.room);
                bind_text(insert_key_, 2, m.user_id);
                bind_text(insert_key_, 3, m.key);
                sqlite3_bind_int64(insert_key_, 4, static_cast<sqlite3_int64>(m.id));
                sqlite3_bind_int64(insert_key_, 5, m.ts);
                std::string h = model::text_hash(m.text);
                bind_text(insert_key_, 6, h);
                sqlite3_bind_int64(insert_key_, 7, m.ts + key_ttl_ms_);
                if (sqlite3_step(insert_key_) != SQLITE_DONE) fail(wdb_, "cannot insert into");
            }
            auto it = std::find_if(last.begin(), last.end(),
                                   [&](const auto& p) { return *p.first == m.room; });
            if (it == last.end())
                last.emplace_back(&m.room, m.id);
            else
                it->second = m.id;
        }
        for (const auto& [room, id] : last) {
            StmtGuard g{upsert_room_};
            bind_text(upsert_room_, 1, *room);
            sqlite3_bind_int64(upsert_room_, 2, static_cast<sqlite3_int64>(id));
            if (sqlite3_step(upsert_room_) != SQLITE_DONE) fail(wdb_, "cannot update rooms in");
            if (retain_ && id > retain_) {
                StmtGuard t{trim_};
                bind_text(trim_, 1, *room);
                sqlite3_bind_int64(trim_, 2, static_cast<sqlite3_int64>(id - retain_));
                if (sqlite3_step(trim_) != SQLITE_DONE) fail(wdb_, "cannot trim");
            }
        }
        // Expired keys go in the writer's own transactions, a minute's worth at a time.
        int64_t now = batch.front().ts;
        if (now - last_purge_ms_ > 60000) {
            StmtGuard p{purge_keys_};
            sqlite3_bind_int64(purge_keys_, 1, now);
            if (sqlite3_step(purge_keys_) != SQLITE_DONE) fail(wdb_, "cannot purge keys in");
            last_purge_ms_ = now;
        }
        if (sqlite3_exec(wdb_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
            fail(wdb_, "cannot commit to");
        healthy_ = true;
    } catch (...) {
        sqlite3_exec(wdb_, "ROLLBACK", nullptr, nullptr, nullptr);
        healthy_ = false;
        throw;
    }
}

std::vector<model::Message> SqliteStore::range(const std::string& room, uint64_t after,
                                               uint64_t before, size_t limit, bool newest) {
    std::vector<model::Message> out;
    if (limit == 0 || before <= after + 1) return out;
    std::lock_guard lk(rmu_);
    sqlite3_stmt* s = newest ? range_desc_ : range_asc_;
    StmtGuard g{s};
    bind_text(s, 1, room);
    // SQLite integers are signed; clamp so that "no upper bound" stays the largest value.
    auto clamp = [](uint64_t v) {
        return static_cast<sqlite3_int64>(std::min<uint64_t>(v, INT64_MAX));
    };
    sqlite3_bind_int64(s, 2, clamp(after));
    sqlite3_bind_int64(s, 3, clamp(before));
    sqlite3_bind_int64(s, 4, clamp(limit));
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        model::Message m;
        m.id = static_cast<uint64_t>(sqlite3_column_int64(s, 0));
        m.room = room;
        m.user_id = column_text(s, 1);
        m.text = column_text(s, 2);
        m.ts = sqlite3_column_int64(s, 3);
        out.push_back(std::move(m));
    }
    if (rc != SQLITE_DONE) fail(rdb_, "cannot read");
    if (newest) std::reverse(out.begin(), out.end());
    return out;
}

std::optional<model::KeyRecord> SqliteStore::find_key(const std::string& room,
                                                      const std::string& user,
                                                      const std::string& key, int64_t now_ms) {
    StmtGuard g{find_key_};
    bind_text(find_key_, 1, room);
    bind_text(find_key_, 2, user);
    bind_text(find_key_, 3, key);
    sqlite3_bind_int64(find_key_, 4, now_ms);
    int rc = sqlite3_step(find_key_);
    if (rc == SQLITE_ROW)
        return model::KeyRecord{static_cast<uint64_t>(sqlite3_column_int64(find_key_, 0)),
                                sqlite3_column_int64(find_key_, 1), column_text(find_key_, 2)};
    if (rc != SQLITE_DONE) fail(wdb_, "cannot read");
    return std::nullopt;
}

void SqliteStore::migrate() {
    sqlite3_stmt* v = prepare(wdb_, "PRAGMA user_version");
    int version = sqlite3_step(v) == SQLITE_ROW ? sqlite3_column_int(v, 0) : 0;
    sqlite3_finalize(v);
    if (version > kVersion)
        throw StoreError("database " + path_ + " has schema version " + std::to_string(version) +
                         ", written by a newer ssechat; this one knows up to " +
                         std::to_string(kVersion));
    for (; version < kVersion; ++version) {
        std::string step = "BEGIN IMMEDIATE;";
        step.append(kMigrations[version]);
        step.append("PRAGMA user_version=").append(std::to_string(version + 1)).append(";COMMIT;");
        if (sqlite3_exec(wdb_, step.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
            std::string why = sqlite3_errmsg(wdb_);
            sqlite3_exec(wdb_, "ROLLBACK", nullptr, nullptr, nullptr);
            throw StoreError("cannot upgrade database " + path_ + " to schema version " +
                             std::to_string(version + 1) + ": " + why);
        }
    }
}

bool SqliteStore::writable() {
    return healthy_;
}

}  // namespace ssechat::store
