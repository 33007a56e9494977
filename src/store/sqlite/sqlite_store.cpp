// SqliteStore: WAL with synchronous=NORMAL by default, which keeps every committed transaction
// across a process crash (the WAL write has reached the kernel); FULL adds an fsync per commit.
#include "store/sqlite/sqlite_store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

namespace ssechat::store {

namespace {

// SQLite's busy handler for the writer: 100 us a try, for up to 2 s in all (as its old busy
// timeout), then SQLITE_BUSY.
int short_waits(void*, int tries) {
    if (tries >= 20000) return 0;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
    return 1;
}

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
constexpr int kVersion = 6;
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
    // 1 -> 2: the message log becomes an event log. A row is an event of `kind` (0 message,
    // 1 edit, 2 delete, 3 reaction, whose emoji is in `message`); a message row holds its
    // current state, so reads never replay edits. Rows written before are messages.
    R"sql(
ALTER TABLE messages ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN target INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN reply_to INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN edited_ts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN removed INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_only ON messages(room, id) WHERE kind = 0;
CREATE INDEX messages_edits ON messages(room, target) WHERE kind = 1;
CREATE TABLE reactions (
  room    TEXT NOT NULL,
  msg_id  INTEGER NOT NULL,
  emoji   TEXT NOT NULL,
  user_id TEXT NOT NULL,
  seq     INTEGER NOT NULL,
  PRIMARY KEY (room, msg_id, emoji, user_id)
) WITHOUT ROWID;
)sql",
    // 2 -> 3: positions (one sequence over every room, for user streams to resume by; rows
    // from before have none), memberships with read markers, and the store's epoch.
    R"sql(
ALTER TABLE messages ADD COLUMN pos INTEGER;
CREATE INDEX messages_pos ON messages(room, pos) WHERE pos IS NOT NULL;
CREATE TABLE members (
  user_id TEXT NOT NULL,
  room    TEXT NOT NULL,
  read    INTEGER NOT NULL,
  since   INTEGER NOT NULL,
  PRIMARY KEY (user_id, room)
) WITHOUT ROWID;
CREATE INDEX members_room ON members(room, user_id);
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
)sql",
    // 3 -> 4: room rules. Members get roles (1 member, 2 moderator, 3 owner) and the time they
    // joined; a room made by POST /rooms or as a direct message has a profile (a room without
    // one is public, as every room before was); bans (kind 0) and mutes (kind 1); settings.
    R"sql(
ALTER TABLE members ADD COLUMN role INTEGER NOT NULL DEFAULT 1;
ALTER TABLE members ADD COLUMN joined_ms INTEGER NOT NULL DEFAULT 0;
CREATE TABLE room_profiles (
  room       TEXT PRIMARY KEY,
  visibility INTEGER NOT NULL,
  name       TEXT NOT NULL,
  topic      TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  dm_with    TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE restrictions (
  room    TEXT NOT NULL,
  kind    INTEGER NOT NULL,
  user_id TEXT NOT NULL,
  by      TEXT NOT NULL,
  reason  TEXT NOT NULL,
  until   INTEGER NOT NULL,
  ts      INTEGER NOT NULL,
  PRIMARY KEY (room, kind, user_id)
) WITHOUT ROWID;
CREATE TABLE settings (
  user_id TEXT PRIMARY KEY,
  dms     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX messages_shown ON messages(room, id) WHERE kind IN (0, 10, 11);
)sql",
    // 4 -> 5: a message's files (the JSON array of their descriptions, model/file.hpp), and
    // search. `search` is an FTS5 index of every message's current text (not deleted),
    // its rowid the message's docid in `search_docs`: the message's position, which orders
    // results newest first, and for rows older than positions a negative number in ts order.
    // Built here from what the database holds.
    R"sql(
ALTER TABLE messages ADD COLUMN files TEXT NOT NULL DEFAULT '';
CREATE TABLE search_docs (
  docid   INTEGER PRIMARY KEY,
  room    TEXT NOT NULL,
  id      INTEGER NOT NULL,
  user_id TEXT NOT NULL,
  ts      INTEGER NOT NULL
);
CREATE UNIQUE INDEX search_docs_message ON search_docs(room, id);
CREATE VIRTUAL TABLE search USING fts5(text, tokenize='unicode61 remove_diacritics 2');
INSERT INTO search_docs(docid, room, id, user_id, ts)
  SELECT CASE WHEN pos IS NOT NULL THEN pos
              ELSE -row_number() OVER (PARTITION BY pos IS NULL ORDER BY ts DESC, room DESC, id DESC)
         END, room, id, user_id, ts
  FROM messages WHERE kind = 0 AND deleted = 0;
INSERT INTO search(rowid, text)
  SELECT d.docid, coalesce((SELECT e.message FROM messages e INDEXED BY messages_edits
                            WHERE e.room = d.room AND e.target = d.id AND e.kind = 1
                            ORDER BY e.id DESC LIMIT 1), m.message)
  FROM search_docs d JOIN messages m ON m.room = d.room AND m.id = d.id;
)sql",
    // 5 -> 6: a message sent by an API key's bot user says so; the log in position order
    // over every room, which webhooks deliver from.
    R"sql(
ALTER TABLE messages ADD COLUMN bot INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_log ON messages(pos) WHERE pos IS NOT NULL;
)sql",
};

// What every event read selects, in the order read_event() takes it, from `messages m`
// joined to its latest edit (EVENT_FROM). A message row keeps the text it was sent with; its
// current text and edited_ts are those of its newest edit, found through the edits index (one
// seek per message read). So an edit writes one row, as a message does, and history never
// replays edits. Rows an earlier release wrote hold the edited text themselves, which is the
// newest edit's text too.
#define EVENT_COLUMNS                                                               \
    "m.id,m.user_id,coalesce(e.message,m.message),m.ts,m.kind,m.target,m.reply_to," \
    "coalesce(e.ts,m.edited_ts),m.deleted,m.removed,coalesce(m.pos,0),m.files,m.bot"
#define EVENT_FROM                                                                          \
    " FROM messages m LEFT JOIN messages e ON m.kind=0 AND e.room=m.room AND e.id=(SELECT " \
    "max(x.id) FROM messages x INDEXED BY messages_edits WHERE x.room=m.room AND "          \
    "x.target=m.id AND x.kind=1) "

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

model::Event read_event(sqlite3_stmt* s, const std::string& room) {
    model::Event e;
    e.id = static_cast<uint64_t>(sqlite3_column_int64(s, 0));
    e.room = room;
    e.user_id = column_text(s, 1);
    e.text = column_text(s, 2);
    e.ts = sqlite3_column_int64(s, 3);
    auto kind = model::stored_kind(sqlite3_column_int(s, 4));
    if (!kind)
        throw StoreError("room " + room + " holds event " + std::to_string(e.id) +
                         " of an unknown kind (" + std::to_string(sqlite3_column_int(s, 4)) +
                         "): was the database written by a newer release?");
    e.kind = *kind;
    e.target = static_cast<uint64_t>(sqlite3_column_int64(s, 5));
    e.reply_to = static_cast<uint64_t>(sqlite3_column_int64(s, 6));
    e.edited_ts = sqlite3_column_int64(s, 7);
    e.deleted = sqlite3_column_int(s, 8) != 0;
    e.remove = sqlite3_column_int(s, 9) != 0;
    e.pos = static_cast<uint64_t>(sqlite3_column_int64(s, 10));
    e.files = column_text(s, 11);
    e.bot = sqlite3_column_int(s, 12) != 0;
    return e;
}

void step_done(sqlite3_stmt* s, const std::function<void()>& fail) {
    if (sqlite3_step(s) != SQLITE_DONE) fail();
}

// A stored role; anything else (a newer release's) reads as a plain member, never as more.
model::Role stored_role(int code) {
    return code == 2   ? model::Role::Moderator
           : code == 3 ? model::Role::Owner
                       : model::Role::Member;
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
        // The writer waits for another connection's short write (accounts, files, webhooks,
        // push: each on a connection of its own) in steps of 100 us, not SQLite's default of
        // 1 ms and more: a publish must not wait milliseconds on a write of microseconds.
        sqlite3_busy_handler(wdb_, short_waits, nullptr);
        // secure_delete zeroes what a delete or a shorter update frees, so that the text of
        // a deleted message is in no page of the file, not only out of the table.
        std::string pragmas = std::string(
                                  "PRAGMA journal_mode=WAL; PRAGMA secure_delete=ON; "
                                  "PRAGMA cache_size=-65536; "
                                  "PRAGMA synchronous=") +
                              (fsync_always ? "FULL" : "NORMAL") + ";";
        if (sqlite3_exec(wdb_, pragmas.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
            fail(wdb_, "cannot use database");
        if (sqlite3_exec(wdb_, kSchema, nullptr, nullptr, nullptr) != SQLITE_OK)
            fail(wdb_, "cannot use database");
        migrate();
        // FTS5 forgets a deleted row's words only when its segments merge, unless
        // secure-delete is on (SQLite 3.42 and later; Debian 12 has 3.40, which refuses it).
        // Asked every time it opens, so an upgraded SQLite gets it without a migration.
        sqlite3_exec(wdb_, "INSERT INTO search(search, rank) VALUES('secure-delete', 1)", nullptr,
                     nullptr, nullptr);
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
        // Searches have a connection of their own: a long one never holds up history reads.
        if (sqlite3_open_v2(path_.c_str(), &sdb_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                            nullptr) != SQLITE_OK)
            fail(sdb_, "cannot open database");
        sqlite3_busy_timeout(sdb_, 2000);

        insert_ = prepare(wdb_,
                          "INSERT INTO messages(room,id,user_id,message,ts,kind,target,reply_to,"
                          "removed,pos,files,bot) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)");
        upsert_room_ = prepare(wdb_,
                               "INSERT INTO rooms(name,last_id) VALUES(?,?) ON CONFLICT(name) "
                               "DO UPDATE SET last_id=excluded.last_id");
        trim_ = prepare(wdb_, "DELETE FROM messages WHERE room=? AND id<=?");
        trim_reactions_ = prepare(wdb_, "DELETE FROM reactions WHERE room=? AND msg_id<=?");
        delete_ = prepare(wdb_,
                          "UPDATE messages SET message='',files='',deleted=1 WHERE room=? AND "
                          "id=? AND kind=0");
        erase_edits_ =
            prepare(wdb_, "UPDATE messages SET message='' WHERE room=? AND target=? AND kind=1");
        std::string add = "INSERT OR IGNORE INTO reactions(room,msg_id,emoji,user_id,seq) VALUES";
        react_add_ = prepare(wdb_, (add + "(?,?,?,?,?)").c_str());
        for (int i = 0; i < kAddRows; ++i) add += i ? ",(?,?,?,?,?)" : "(?,?,?,?,?)";
        react_add_many_ = prepare(wdb_, add.c_str());
        react_remove_ = prepare(wdb_,
                                "DELETE FROM reactions WHERE room=? AND msg_id=? AND emoji=? AND "
                                "user_id=?");
        react_clear_ = prepare(wdb_, "DELETE FROM reactions WHERE room=? AND msg_id=?");
        message_ = prepare(
            wdb_, "SELECT " EVENT_COLUMNS EVENT_FROM "WHERE m.room=? AND m.id=? AND m.kind=0");
        message_reactions_ = prepare(wdb_,
                                     "SELECT emoji,user_id,seq FROM reactions WHERE room=? "
                                     "AND msg_id=? ORDER BY seq");
        range_asc_ = prepare(rdb_, "SELECT " EVENT_COLUMNS EVENT_FROM
                                   "WHERE m.room=? AND m.id>? AND m.id<? ORDER BY m.id ASC "
                                   "LIMIT ?");
        range_desc_ = prepare(rdb_, "SELECT " EVENT_COLUMNS EVENT_FROM
                                    "WHERE m.room=? AND m.id>? AND m.id<? ORDER BY m.id DESC "
                                    "LIMIT ?");
        msgs_asc_ = prepare(rdb_, "SELECT " EVENT_COLUMNS EVENT_FROM
                                  "WHERE m.room=? AND m.kind=0 AND m.id>? AND m.id<? "
                                  "ORDER BY m.id ASC LIMIT ?");
        msgs_desc_ = prepare(rdb_, "SELECT " EVENT_COLUMNS EVENT_FROM
                                   "WHERE m.room=? AND m.kind=0 AND m.id>? AND m.id<? "
                                   "ORDER BY m.id DESC LIMIT ?");
        shown_asc_ = prepare(rdb_, "SELECT " EVENT_COLUMNS EVENT_FROM
                                   "WHERE m.room=? AND m.kind IN (0,10,11) AND m.id>? AND m.id<? "
                                   "ORDER BY m.id ASC LIMIT ?");
        shown_desc_ = prepare(rdb_, "SELECT " EVENT_COLUMNS EVENT_FROM
                                    "WHERE m.room=? AND m.kind IN (0,10,11) AND m.id>? AND "
                                    "m.id<? ORDER BY m.id DESC LIMIT ?");
        page_reactions_ = prepare(rdb_,
                                  "SELECT msg_id,emoji,user_id,seq FROM reactions WHERE room=? "
                                  "AND msg_id>=? AND msg_id<=? ORDER BY seq");
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
        set_pos_ = prepare(wdb_, "INSERT OR REPLACE INTO meta(key,value) VALUES('pos',?)");
        first_after_ =
            prepare(rdb_, "SELECT id FROM messages WHERE room=? AND pos>? ORDER BY pos LIMIT 1");
        member_get_ = prepare(wdb_, "SELECT read,role FROM members WHERE user_id=? AND room=?");
        member_count_ = prepare(wdb_, "SELECT count(*) FROM members WHERE user_id=?");
        member_insert_ = prepare(
            wdb_,
            "INSERT INTO members(user_id,room,read,since,role,joined_ms) VALUES(?,?,?,?,?,?)");
        member_delete_ = prepare(wdb_, "DELETE FROM members WHERE user_id=? AND room=?");
        member_read_ = prepare(wdb_, "UPDATE members SET read=? WHERE user_id=? AND room=?");
        memberships_ =
            prepare(rdb_, "SELECT room,read,since FROM members WHERE user_id=? ORDER BY room");
        receipts_ = prepare(rdb_, "SELECT user_id,read FROM members WHERE room=? ORDER BY user_id");
        unread_ = prepare(rdb_, "SELECT coalesce(e.message,m.message)" EVENT_FROM
                                "WHERE m.room=? AND m.kind=0 AND m.id>? AND m.deleted=0 AND "
                                "m.user_id<>? ORDER BY m.id LIMIT ?");
        begin_ = prepare(wdb_, "BEGIN IMMEDIATE");
        commit_ = prepare(wdb_, "COMMIT");
        rollback_ = prepare(wdb_, "ROLLBACK");
        load_meta();
    } catch (...) {
        release();
        throw;
    }
}

SqliteStore::~SqliteStore() {
    release();
}

void SqliteStore::release() {
    for (auto** s : statements()) {
        sqlite3_finalize(*s);
        *s = nullptr;
    }
    for (auto* rare : {&rare_write_, &rare_read_, &search_statements_}) {
        for (auto& [sql, st] : *rare) sqlite3_finalize(st);
        rare->clear();
    }
    if (rdb_) sqlite3_close(rdb_);
    if (sdb_) sqlite3_close(sdb_);
    // A clean stop leaves no WAL behind: it may still hold page images with erased text.
    if (wdb_) sqlite3_exec(wdb_, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
    if (wdb_) sqlite3_close(wdb_);
    rdb_ = wdb_ = sdb_ = nullptr;
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

void SqliteStore::append(const std::vector<model::Event>& batch) {
    if (batch.empty()) return;
    begin_batch();
    try {
        // The last id per room in this batch; batches are small, a vector beats a map.
        std::vector<std::pair<const std::string*, uint64_t>> last;
        adds_.clear();
        for (const auto& e : batch) {
            write_event(e);
            auto it = std::find_if(last.begin(), last.end(),
                                   [&](const auto& p) { return *p.first == e.room; });
            if (it == last.end())
                last.emplace_back(&e.room, e.id);
            else
                it->second = e.id;
        }
        flush_adds();  // before the trim below
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
                StmtGuard r{trim_reactions_};
                bind_text(trim_reactions_, 1, *room);
                sqlite3_bind_int64(trim_reactions_, 2, static_cast<sqlite3_int64>(id - retain_));
                if (sqlite3_step(trim_reactions_) != SQLITE_DONE) fail(wdb_, "cannot trim");
                unindex(*room, id - retain_, true);
            }
        }
        if (uint64_t pos = batch.back().pos; pos > 0) {
            StmtGuard p{set_pos_};
            sqlite3_bind_int64(set_pos_, 1, static_cast<sqlite3_int64>(pos));
            if (sqlite3_step(set_pos_) != SQLITE_DONE) fail(wdb_, "cannot write to");
            last_pos_ = pos;
        }
        // Expired keys go in the writer's own transactions, a minute's worth at a time.
        int64_t now = batch.back().ts;
        if (now - last_purge_ms_ > 60000) {
            StmtGuard p{purge_keys_};
            sqlite3_bind_int64(purge_keys_, 1, now);
            if (sqlite3_step(purge_keys_) != SQLITE_DONE) fail(wdb_, "cannot purge keys in");
            last_purge_ms_ = now;
        }
        if (!together_) finish_batch(commit_);
        healthy_ = true;
    } catch (...) {
        adds_.clear();
        if (in_batch_) finish_batch(rollback_);
        healthy_ = false;
        throw;
    }
}

void SqliteStore::begin_batch() {
    if (in_batch_) return;
    StmtGuard g{begin_};
    if (sqlite3_step(begin_) != SQLITE_DONE) {
        healthy_ = false;
        fail(wdb_, "cannot begin a transaction on");
    }
    in_batch_ = true;
}

void SqliteStore::finish_batch(sqlite3_stmt* how) {
    StmtGuard g{how};
    int rc = sqlite3_step(how);
    // A failed COMMIT may leave the transaction open; the caller's ROLLBACK then ends it.
    if (rc == SQLITE_DONE || how == rollback_ || sqlite3_get_autocommit(wdb_)) in_batch_ = false;
    if (rc != SQLITE_DONE) fail(wdb_, how == commit_ ? "cannot commit to" : "cannot roll back");
}

void SqliteStore::begin_together() {
    begin_batch();
    together_ = true;
}

void SqliteStore::commit_together() {
    together_ = false;
    if (!in_batch_) return;
    try {
        finish_batch(commit_);
        healthy_ = true;
    } catch (...) {
        if (in_batch_) finish_batch(rollback_);
        healthy_ = false;
        throw;
    }
}

void SqliteStore::abandon_together() {
    together_ = false;
    if (in_batch_) finish_batch(rollback_);
}

void SqliteStore::end_batch() {
    // Only reads ran in it: nothing to keep.
    if (in_batch_) finish_batch(rollback_);
}

void SqliteStore::write_event(const model::Event& e) {
    auto failed = [this] { fail(wdb_, "cannot write to"); };
    {
        StmtGuard g{insert_};
        bind_text(insert_, 1, e.room);
        sqlite3_bind_int64(insert_, 2, static_cast<sqlite3_int64>(e.id));
        bind_text(insert_, 3, e.user_id);
        bind_text(insert_, 4, e.text);
        sqlite3_bind_int64(insert_, 5, e.ts);
        sqlite3_bind_int(insert_, 6, static_cast<int>(e.kind));
        sqlite3_bind_int64(insert_, 7, static_cast<sqlite3_int64>(e.target));
        sqlite3_bind_int64(insert_, 8, static_cast<sqlite3_int64>(e.reply_to));
        sqlite3_bind_int(insert_, 9, e.remove ? 1 : 0);
        sqlite3_bind_int64(insert_, 10, static_cast<sqlite3_int64>(e.pos));
        bind_text(insert_, 11, e.files);
        sqlite3_bind_int(insert_, 12, e.bot ? 1 : 0);
        step_done(insert_, failed);
    }
    auto target = static_cast<sqlite3_int64>(e.target);
    switch (e.kind) {
        case model::Kind::Message:
            if (!e.key.empty()) {
                StmtGuard k{insert_key_};
                bind_text(insert_key_, 1, e.room);
                bind_text(insert_key_, 2, e.user_id);
                bind_text(insert_key_, 3, e.key);
                sqlite3_bind_int64(insert_key_, 4, static_cast<sqlite3_int64>(e.id));
                sqlite3_bind_int64(insert_key_, 5, e.ts);
                std::string h = model::text_hash(e.text);
                bind_text(insert_key_, 6, h);
                sqlite3_bind_int64(insert_key_, 7, e.ts + key_ttl_ms_);
                step_done(insert_key_, failed);
            }
            index_message(e);
            break;
        case model::Kind::Edit:
            // Its row is the message's current text (EVENT_FROM); the index holds it too.
            write(
                "UPDATE search SET text=?1 WHERE rowid=(SELECT docid FROM search_docs WHERE "
                "room=?2 AND id=?3)",
                [&](sqlite3_stmt* st) {
                    bind_text(st, 1, e.text);
                    bind_text(st, 2, e.room);
                    sqlite3_bind_int64(st, 3, target);
                });
            break;
        case model::Kind::Member:
        case model::Kind::RoomChange:
            break;  // its row is all of it
        case model::Kind::Delete:
            flush_adds();
            for (auto* st : {delete_, erase_edits_, react_clear_}) {
                StmtGuard g{st};
                bind_text(st, 1, e.room);
                sqlite3_bind_int64(st, 2, target);
                step_done(st, failed);
            }
            unindex(e.room, target, false);
            break;
        case model::Kind::Reaction: {
            if (!e.remove) {
                adds_.push_back(&e);
                break;
            }
            flush_adds();  // the reaction taken back may be one of them
            StmtGuard g{react_remove_};
            bind_text(react_remove_, 1, e.room);
            sqlite3_bind_int64(react_remove_, 2, target);
            bind_text(react_remove_, 3, e.text);
            bind_text(react_remove_, 4, e.user_id);
            step_done(react_remove_, failed);
            break;
        }
        case model::Kind::Presence:
        case model::Kind::Typing:
        case model::Kind::Receipt:
        case model::Kind::Read:
        case model::Kind::Joined:
        case model::Kind::Left:
            throw StoreError(std::string("a ") + model::kind_name(e.kind) +
                             " event is never stored");
    }
}

void SqliteStore::flush_adds() {
    size_t i = 0;
    auto write = [&](sqlite3_stmt* st, size_t rows) {
        StmtGuard g{st};
        for (size_t r = 0; r < rows; ++r, ++i) {
            const model::Event& e = *adds_[i];
            int at = static_cast<int>(r) * 5;
            bind_text(st, at + 1, e.room);
            sqlite3_bind_int64(st, at + 2, static_cast<sqlite3_int64>(e.target));
            bind_text(st, at + 3, e.text);
            bind_text(st, at + 4, e.user_id);
            sqlite3_bind_int64(st, at + 5, static_cast<sqlite3_int64>(e.id));
        }
        if (sqlite3_step(st) != SQLITE_DONE) fail(wdb_, "cannot write to");
    };
    while (adds_.size() - i >= kAddRows) write(react_add_many_, kAddRows);
    while (i < adds_.size()) write(react_add_, 1);
    adds_.clear();
}

std::vector<model::Event> SqliteStore::read(sqlite3_stmt* s, const std::string& room,
                                            uint64_t after, uint64_t before, size_t limit,
                                            bool newest) {
    std::vector<model::Event> out;
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
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(read_event(s, room));
    if (rc != SQLITE_DONE) fail(rdb_, "cannot read");
    if (newest) std::reverse(out.begin(), out.end());
    return out;
}

std::vector<model::Event> SqliteStore::range(const std::string& room, uint64_t after,
                                             uint64_t before, size_t limit, bool newest) {
    if (empty_range(after, before, limit)) return {};
    std::lock_guard lk(rmu_);
    return read(newest ? range_desc_ : range_asc_, room, after, before, limit, newest);
}

std::vector<model::Event> SqliteStore::messages(const std::string& room, uint64_t after,
                                                uint64_t before, size_t limit, bool newest) {
    if (empty_range(after, before, limit)) return {};
    std::lock_guard lk(rmu_);
    auto out = read(newest ? msgs_desc_ : msgs_asc_, room, after, before, limit, newest);
    add_reactions(room, out);
    return out;
}

void SqliteStore::add_reactions(const std::string& room, std::vector<model::Event>& out) {
    if (out.empty()) return;
    // The page's reactions in one read, in reaction order, handed to their messages.
    StmtGuard g{page_reactions_};
    bind_text(page_reactions_, 1, room);
    sqlite3_bind_int64(page_reactions_, 2, static_cast<sqlite3_int64>(out.front().id));
    sqlite3_bind_int64(page_reactions_, 3, static_cast<sqlite3_int64>(out.back().id));
    int rc;
    while ((rc = sqlite3_step(page_reactions_)) == SQLITE_ROW) {
        auto id = static_cast<uint64_t>(sqlite3_column_int64(page_reactions_, 0));
        auto it = std::lower_bound(out.begin(), out.end(), id,
                                   [](const model::Event& m, uint64_t v) { return m.id < v; });
        if (it != out.end() && it->id == id && it->kind == model::Kind::Message)
            model::add_reaction(it->reactions, column_text(page_reactions_, 1),
                                column_text(page_reactions_, 2),
                                static_cast<uint64_t>(sqlite3_column_int64(page_reactions_, 3)));
    }
    if (rc != SQLITE_DONE) fail(rdb_, "cannot read");
}

std::vector<model::Event> SqliteStore::shown(const std::string& room, uint64_t after,
                                             uint64_t before, size_t limit, bool newest) {
    if (empty_range(after, before, limit)) return {};
    std::lock_guard lk(rmu_);
    auto out = read(newest ? shown_desc_ : shown_asc_, room, after, before, limit, newest);
    add_reactions(room, out);
    return out;
}

std::optional<model::Event> SqliteStore::message(const std::string& room, uint64_t id) {
    begin_batch();
    StmtGuard g{message_};
    bind_text(message_, 1, room);
    sqlite3_bind_int64(message_, 2, static_cast<sqlite3_int64>(std::min<uint64_t>(id, INT64_MAX)));
    int rc = sqlite3_step(message_);
    if (rc == SQLITE_DONE) return std::nullopt;
    if (rc != SQLITE_ROW) fail(wdb_, "cannot read");
    model::Event m = read_event(message_, room);
    StmtGuard r{message_reactions_};
    bind_text(message_reactions_, 1, room);
    sqlite3_bind_int64(message_reactions_, 2, static_cast<sqlite3_int64>(id));
    while ((rc = sqlite3_step(message_reactions_)) == SQLITE_ROW)
        model::add_reaction(m.reactions, column_text(message_reactions_, 0),
                            column_text(message_reactions_, 1),
                            static_cast<uint64_t>(sqlite3_column_int64(message_reactions_, 2)));
    if (rc != SQLITE_DONE) fail(wdb_, "cannot read");
    return m;
}

std::optional<model::KeyRecord> SqliteStore::find_key(const std::string& room,
                                                      const std::string& user,
                                                      const std::string& key, int64_t now_ms) {
    begin_batch();
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

void SqliteStore::load_meta() {
    // The epoch is made once, with the database (or its upgrade); the position is the newest
    // one a commit wrote.
    sqlite3_stmt* ins = prepare(wdb_, "INSERT OR IGNORE INTO meta(key,value) VALUES('epoch',?)");
    std::string fresh = make_epoch();
    bind_text(ins, 1, fresh);
    int rc = sqlite3_step(ins);
    sqlite3_finalize(ins);
    if (rc != SQLITE_DONE) fail(wdb_, "cannot write to");
    sqlite3_stmt* q = prepare(wdb_, "SELECT key,value FROM meta");
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        std::string k = column_text(q, 0), v = column_text(q, 1);
        if (k == "epoch") epoch_ = v;
        if (k == "pos") last_pos_ = std::strtoull(v.c_str(), nullptr, 10);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) fail(wdb_, "cannot read");
}

std::optional<uint64_t> SqliteStore::first_after(const std::string& room, uint64_t pos) {
    std::lock_guard lk(rmu_);
    StmtGuard g{first_after_};
    bind_text(first_after_, 1, room);
    sqlite3_bind_int64(first_after_, 2,
                       static_cast<sqlite3_int64>(std::min<uint64_t>(pos, INT64_MAX)));
    int rc = sqlite3_step(first_after_);
    if (rc == SQLITE_ROW) return static_cast<uint64_t>(sqlite3_column_int64(first_after_, 0));
    if (rc != SQLITE_DONE) fail(rdb_, "cannot read");
    return std::nullopt;
}

std::vector<model::Event> SqliteStore::log_after(size_t, uint64_t pos, size_t limit) {
    std::lock_guard lk(rmu_);
    // Rare (a webhook engine's page), so prepared per call.
    sqlite3_stmt* s = prepare(rdb_, "SELECT " EVENT_COLUMNS ",m.room" EVENT_FROM
                                    "WHERE m.pos > ? ORDER BY m.pos LIMIT ?");
    struct Finalize {
        sqlite3_stmt* s;
        ~Finalize() { sqlite3_finalize(s); }
    } f{s};
    sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(std::min<uint64_t>(pos, INT64_MAX)));
    sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(std::min<size_t>(limit, INT64_MAX)));
    std::vector<model::Event> out;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(read_event(s, column_text(s, 13)));
    if (rc != SQLITE_DONE) fail(rdb_, "cannot read");
    return out;
}

void SqliteStore::members(std::vector<MemberOp>& ops) {
    if (ops.empty()) return;
    begin_batch();
    auto failed = [this] { fail(wdb_, "cannot write to"); };
    using R = MemberOp::Result;
    try {
        for (auto& op : ops) {
            std::optional<uint64_t> have;
            int have_role = 0;
            {
                StmtGuard g{member_get_};
                bind_text(member_get_, 1, op.user);
                bind_text(member_get_, 2, op.room);
                int rc = sqlite3_step(member_get_);
                if (rc == SQLITE_ROW) {
                    have = static_cast<uint64_t>(sqlite3_column_int64(member_get_, 0));
                    have_role = sqlite3_column_int(member_get_, 1);
                } else if (rc != SQLITE_DONE) {
                    failed();
                }
            }
            switch (op.op) {
                case MemberOp::Op::Join:
                case MemberOp::Op::Add: {
                    op.was_member = have.has_value();
                    if (have) {
                        op.read = *have;
                        if (op.op == MemberOp::Op::Join || have_role == static_cast<int>(op.role)) {
                            op.result = R::Unchanged;
                            break;
                        }
                        write("UPDATE members SET role=? WHERE user_id=? AND room=?",
                              [&](sqlite3_stmt* st) {
                                  sqlite3_bind_int(st, 1, static_cast<int>(op.role));
                                  bind_text(st, 2, op.user);
                                  bind_text(st, 3, op.room);
                              });
                        op.result = R::Done;
                        break;
                    }
                    StmtGuard c{member_count_};
                    bind_text(member_count_, 1, op.user);
                    if (sqlite3_step(member_count_) != SQLITE_ROW) failed();
                    if (static_cast<size_t>(sqlite3_column_int64(member_count_, 0)) >=
                        op.max_rooms) {
                        op.result = R::TooMany;
                        break;
                    }
                    StmtGuard g{member_insert_};
                    bind_text(member_insert_, 1, op.user);
                    bind_text(member_insert_, 2, op.room);
                    sqlite3_bind_int64(member_insert_, 3, static_cast<sqlite3_int64>(op.id));
                    sqlite3_bind_int64(member_insert_, 4, static_cast<sqlite3_int64>(op.pos));
                    sqlite3_bind_int(member_insert_, 5, static_cast<int>(op.role));
                    sqlite3_bind_int64(member_insert_, 6, op.ts);
                    step_done(member_insert_, failed);
                    op.result = R::Done;
                    op.read = op.id;
                    break;
                }
                case MemberOp::Op::Ban:
                case MemberOp::Op::Mute: {
                    const bool ban = op.op == MemberOp::Op::Ban;
                    op.was_member = ban && have.has_value();
                    if (op.was_member) {
                        op.read = *have;
                        StmtGuard g{member_delete_};
                        bind_text(member_delete_, 1, op.user);
                        bind_text(member_delete_, 2, op.room);
                        step_done(member_delete_, failed);
                    }
                    const auto& r = op.restriction;
                    write(
                        "INSERT OR REPLACE INTO restrictions(room,kind,user_id,by,reason,until,"
                        "ts) VALUES(?,?,?,?,?,?,?)",
                        [&](sqlite3_stmt* st) {
                            bind_text(st, 1, op.room);
                            sqlite3_bind_int(st, 2, ban ? 0 : 1);
                            bind_text(st, 3, op.user);
                            bind_text(st, 4, r.by);
                            bind_text(st, 5, r.reason);
                            sqlite3_bind_int64(st, 6, r.until);
                            sqlite3_bind_int64(st, 7, r.ts);
                        });
                    op.result = R::Done;
                    break;
                }
                case MemberOp::Op::Unban:
                case MemberOp::Op::Unmute:
                    write("DELETE FROM restrictions WHERE room=? AND kind=? AND user_id=?",
                          [&](sqlite3_stmt* st) {
                              bind_text(st, 1, op.room);
                              sqlite3_bind_int(st, 2, op.op == MemberOp::Op::Unban ? 0 : 1);
                              bind_text(st, 3, op.user);
                          });
                    op.result = sqlite3_changes(wdb_) > 0 ? R::Done : R::NotMember;
                    break;
                case MemberOp::Op::Profile: {
                    const auto& pr = op.profile;
                    write(
                        "INSERT OR REPLACE INTO room_profiles(room,visibility,name,topic,"
                        "created_by,created_at,dm_with) VALUES(?,?,?,?,?,?,?)",
                        [&](sqlite3_stmt* st) {
                            bind_text(st, 1, op.room);
                            sqlite3_bind_int(st, 2, static_cast<int>(pr.visibility));
                            bind_text(st, 3, pr.name);
                            bind_text(st, 4, pr.topic);
                            bind_text(st, 5, pr.created_by);
                            sqlite3_bind_int64(st, 6, pr.created_at);
                            bind_text(st, 7, pr.with);
                        });
                    op.result = R::Done;
                    break;
                }
                case MemberOp::Op::Settings:
                    write("INSERT OR REPLACE INTO settings(user_id,dms) VALUES(?,?)",
                          [&](sqlite3_stmt* st) {
                              bind_text(st, 1, op.user);
                              sqlite3_bind_int(st, 2, op.settings.dms_from_anyone ? 0 : 1);
                          });
                    op.result = R::Done;
                    break;
                case MemberOp::Op::Leave: {
                    if (!have) {
                        op.result = R::NotMember;
                        break;
                    }
                    StmtGuard g{member_delete_};
                    bind_text(member_delete_, 1, op.user);
                    bind_text(member_delete_, 2, op.room);
                    step_done(member_delete_, failed);
                    op.result = R::Done;
                    op.read = *have;
                    break;
                }
                case MemberOp::Op::Read: {
                    if (!have) {
                        op.result = R::NotMember;
                        break;
                    }
                    if (*have >= op.id) {  // markers never move back
                        op.result = R::Unchanged;
                        op.read = *have;
                        break;
                    }
                    StmtGuard g{member_read_};
                    sqlite3_bind_int64(member_read_, 1, static_cast<sqlite3_int64>(op.id));
                    bind_text(member_read_, 2, op.user);
                    bind_text(member_read_, 3, op.room);
                    step_done(member_read_, failed);
                    op.result = R::Done;
                    op.read = op.id;
                    break;
                }
            }
        }
        if (!together_) finish_batch(commit_);
        healthy_ = true;
    } catch (...) {
        if (in_batch_) finish_batch(rollback_);
        healthy_ = false;
        throw;
    }
}

std::vector<Membership> SqliteStore::memberships(const std::string& user) {
    std::lock_guard lk(rmu_);
    StmtGuard g{memberships_};
    bind_text(memberships_, 1, user);
    std::vector<Membership> out;
    int rc;
    while ((rc = sqlite3_step(memberships_)) == SQLITE_ROW)
        out.push_back({column_text(memberships_, 0),
                       static_cast<uint64_t>(sqlite3_column_int64(memberships_, 1)),
                       static_cast<uint64_t>(sqlite3_column_int64(memberships_, 2))});
    if (rc != SQLITE_DONE) fail(rdb_, "cannot read");
    return out;
}

void SqliteStore::write(const char* sql, const std::function<void(sqlite3_stmt*)>& bind) {
    // The rules' changes are rare next to messages: a statement each, prepared once.
    auto& st = rare_write_[sql];
    if (!st) st = prepare(wdb_, sql);
    StmtGuard g{st};
    bind(st);
    if (sqlite3_step(st) != SQLITE_DONE) fail(wdb_, "cannot write to");
}

void SqliteStore::read_rows(const char* sql, const std::function<void(sqlite3_stmt*)>& bind,
                            const std::function<void(sqlite3_stmt*)>& row) {
    auto& st = rare_read_[sql];
    if (!st) st = prepare(rdb_, sql);
    StmtGuard g{st};
    bind(st);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) row(st);
    if (rc != SQLITE_DONE) fail(rdb_, "cannot read");
}

std::optional<model::Profile> SqliteStore::profile_locked(const std::string& room) {
    std::optional<model::Profile> out;
    read_rows(
        "SELECT visibility,name,topic,created_by,created_at,dm_with FROM room_profiles WHERE "
        "room=?",
        [&](sqlite3_stmt* st) { bind_text(st, 1, room); },
        [&](sqlite3_stmt* st) {
            model::Profile p;
            int v = sqlite3_column_int(st, 0);
            // An unknown visibility (a newer release's) is the most closed one known.
            p.visibility = v == 0   ? model::Visibility::Public
                           : v == 2 ? model::Visibility::Dm
                                    : model::Visibility::Private;
            p.name = column_text(st, 1);
            p.topic = column_text(st, 2);
            p.created_by = column_text(st, 3);
            p.created_at = sqlite3_column_int64(st, 4);
            p.with = column_text(st, 5);
            out = std::move(p);
        });
    return out;
}

std::optional<model::Profile> SqliteStore::profile(const std::string& room) {
    std::lock_guard lk(rmu_);
    return profile_locked(room);
}

model::Roster SqliteStore::roster(const std::string& room) {
    std::lock_guard lk(rmu_);
    return roster_locked(room, nullptr);
}

model::Roster SqliteStore::roster_of(const std::string& room, const std::string& user) {
    std::lock_guard lk(rmu_);
    return roster_locked(room, &user);
}

model::Roster SqliteStore::roster_locked(const std::string& room, const std::string* user) {
    model::Roster r;
    r.profile = profile_locked(room);
    auto bind = [&](sqlite3_stmt* st) {
        bind_text(st, 1, room);
        if (user) bind_text(st, 2, *user);
    };
    read_rows(user ? "SELECT user_id,role,joined_ms FROM members WHERE room=? AND user_id=?"
                   : "SELECT user_id,role,joined_ms FROM members WHERE room=?",
              bind, [&](sqlite3_stmt* st) {
                  model::RoomMember m{column_text(st, 0), stored_role(sqlite3_column_int(st, 1)),
                                      sqlite3_column_int64(st, 2)};
                  r.members.emplace(m.user, std::move(m));
              });
    read_rows(user ? "SELECT kind,user_id,by,reason,until,ts FROM restrictions WHERE room=? AND "
                     "user_id=?"
                   : "SELECT kind,user_id,by,reason,until,ts FROM restrictions WHERE room=?",
              bind, [&](sqlite3_stmt* st) {
                  model::Restriction x{column_text(st, 1), column_text(st, 2), column_text(st, 3),
                                       sqlite3_column_int64(st, 4), sqlite3_column_int64(st, 5)};
                  (sqlite3_column_int(st, 0) == 0 ? r.bans : r.mutes).emplace(x.user, std::move(x));
              });
    return r;
}

Settings SqliteStore::settings(const std::string& user) {
    std::lock_guard lk(rmu_);
    Settings out;
    read_rows(
        "SELECT dms FROM settings WHERE user_id=?",
        [&](sqlite3_stmt* st) { bind_text(st, 1, user); },
        [&](sqlite3_stmt* st) { out.dms_from_anyone = sqlite3_column_int(st, 0) == 0; });
    return out;
}

std::vector<std::pair<std::string, uint64_t>> SqliteStore::receipts(const std::string& room) {
    std::lock_guard lk(rmu_);
    StmtGuard g{receipts_};
    bind_text(receipts_, 1, room);
    std::vector<std::pair<std::string, uint64_t>> out;
    int rc;
    while ((rc = sqlite3_step(receipts_)) == SQLITE_ROW)
        out.emplace_back(column_text(receipts_, 0),
                         static_cast<uint64_t>(sqlite3_column_int64(receipts_, 1)));
    if (rc != SQLITE_DONE) fail(rdb_, "cannot read");
    return out;
}

Unread SqliteStore::unread(const std::string& room, const std::string& user, uint64_t after,
                           size_t cap) {
    std::lock_guard lk(rmu_);
    Unread u;
    {
        StmtGuard g{unread_};
        bind_text(unread_, 1, room);
        sqlite3_bind_int64(unread_, 2,
                           static_cast<sqlite3_int64>(std::min<uint64_t>(after, INT64_MAX)));
        bind_text(unread_, 3, user);
        sqlite3_bind_int64(unread_, 4, static_cast<sqlite3_int64>(cap + 1));
        int rc;
        while ((rc = sqlite3_step(unread_)) == SQLITE_ROW) {
            if (u.unread == cap) {
                u.unread_more = true;
                break;
            }
            ++u.unread;
            if (model::mentions(column_text(unread_, 0), user)) ++u.mentions;
        }
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) fail(rdb_, "cannot read");
    }
    u.mentions_more = u.unread_more;
    return u;
}

void SqliteStore::index_message(const model::Event& e) {
    // Every message since positions has one; a docid of 0 would collide, so none is indexed.
    if (e.pos == 0) return;
    auto docid = static_cast<sqlite3_int64>(std::min<uint64_t>(e.pos, INT64_MAX));
    write("INSERT INTO search_docs(docid,room,id,user_id,ts) VALUES(?,?,?,?,?)",
          [&](sqlite3_stmt* st) {
              sqlite3_bind_int64(st, 1, docid);
              bind_text(st, 2, e.room);
              sqlite3_bind_int64(st, 3, static_cast<sqlite3_int64>(e.id));
              bind_text(st, 4, e.user_id);
              sqlite3_bind_int64(st, 5, e.ts);
          });
    write("INSERT INTO search(rowid,text) VALUES(?,?)", [&](sqlite3_stmt* st) {
        sqlite3_bind_int64(st, 1, docid);
        bind_text(st, 2, e.text);
    });
}

void SqliteStore::unindex(const std::string& room, sqlite3_int64 id, bool up_to) {
    auto bind = [&](sqlite3_stmt* st) {
        bind_text(st, 1, room);
        sqlite3_bind_int64(st, 2, id);
    };
    if (up_to) {
        write(
            "DELETE FROM search WHERE rowid IN (SELECT docid FROM search_docs WHERE room=?1 "
            "AND id<=?2)",
            bind);
        write("DELETE FROM search_docs WHERE room=?1 AND id<=?2", bind);
    } else {
        write(
            "DELETE FROM search WHERE rowid=(SELECT docid FROM search_docs WHERE room=?1 AND "
            "id=?2)",
            bind);
        write("DELETE FROM search_docs WHERE room=?1 AND id=?2", bind);
    }
}

std::vector<model::SearchHit> SqliteStore::search(const model::SearchQuery& q,
                                                  const std::vector<std::string>& rooms,
                                                  int64_t before, size_t limit) {
    std::vector<model::SearchHit> out;
    if (rooms.empty() || limit == 0) return out;
    boost::json::array list;
    for (const auto& r : rooms) list.emplace_back(r);
    std::string room_list = boost::json::serialize(list);
    std::string match = model::fts_match(q);
    // With words, FTS5 walks its matches newest first and stops at the limit; without (from:
    // or in: alone), the rooms' documents are read newest first. Neither ever hands the
    // user's text to FTS5's query language: fts_match() quotes every token.
    const char* sql =
        match.empty()
            ? "SELECT d.room,d.id,d.user_id,d.ts,s.text,d.docid FROM search_docs d JOIN search s "
              "ON s.rowid=d.docid WHERE d.docid<?2 AND d.room IN (SELECT value FROM "
              "json_each(?3)) AND (?4='' OR d.user_id=?4) ORDER BY d.docid DESC LIMIT ?5"
            : "SELECT d.room,d.id,d.user_id,d.ts,snippet(search,0,char(2),char(3),'…',24),"
              "d.docid FROM search JOIN search_docs d ON d.docid=search.rowid WHERE search "
              "MATCH ?1 AND search.rowid<?2 AND d.room IN (SELECT value FROM json_each(?3)) AND "
              "(?4='' OR d.user_id=?4) ORDER BY search.rowid DESC LIMIT ?5";
    std::lock_guard lk(smu_);
    auto& st = search_statements_[sql];
    if (!st) st = prepare(sdb_, sql);
    StmtGuard g{st};
    if (!match.empty()) bind_text(st, 1, match);
    sqlite3_bind_int64(st, 2, before);
    bind_text(st, 3, room_list);
    bind_text(st, 4, q.from);
    sqlite3_bind_int64(st, 5, static_cast<sqlite3_int64>(std::min<size_t>(limit, INT64_MAX)));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        model::SearchHit h;
        h.room = column_text(st, 0);
        h.id = static_cast<uint64_t>(sqlite3_column_int64(st, 1));
        h.user_id = column_text(st, 2);
        h.ts = sqlite3_column_int64(st, 3);
        h.snippet = column_text(st, 4);
        if (match.empty()) h.snippet = model::search_snippet(h.snippet, q);
        h.at = sqlite3_column_int64(st, 5);
        out.push_back(std::move(h));
    }
    if (rc != SQLITE_DONE) fail(sdb_, "cannot search");
    return out;
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
