#include "store/sqlite/sqlite_files.hpp"

namespace ssechat::store {

namespace {

// Created when missing, so that an older database gains it in place. `claimed` files are in
// a message; the rest are removed a day after their upload.
constexpr const char* kTable = R"sql(
CREATE TABLE IF NOT EXISTS files(
    id TEXT PRIMARY KEY,
    room TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    size INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    uploader TEXT NOT NULL,
    ts INTEGER NOT NULL,
    claimed INTEGER NOT NULL DEFAULT 0,
    claim_key TEXT NOT NULL DEFAULT '') WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS files_sha ON files(sha256);
CREATE INDEX IF NOT EXISTS files_unclaimed ON files(ts) WHERE claimed = 0;
)sql";

model::FileInfo file_of(SqliteConn::Stmt& s) {
    model::FileInfo f;
    f.id = s.text(0);
    f.room = s.text(1);
    f.name = s.text(2);
    f.type = s.text(3);
    f.size = static_cast<uint64_t>(s.num(4));
    f.width = static_cast<uint32_t>(s.num(5));
    f.height = static_cast<uint32_t>(s.num(6));
    f.sha256 = s.text(7);
    f.uploader = s.text(8);
    f.ts = s.num(9);
    f.claimed = s.num(10) != 0;
    f.claim_key = s.text(11);
    return f;
}

constexpr const char* kSelect =
    "SELECT id,room,name,type,size,width,height,sha256,uploader,ts,claimed,claim_key FROM files "
    "WHERE id=?";

}  // namespace

SqliteFiles::SqliteFiles(const std::string& dir) : db_(dir), rdb_(dir) {
    db_.exec(kTable);
}

SqliteFiles::~SqliteFiles() = default;

void SqliteFiles::add(const model::FileInfo& f) {
    std::lock_guard lk(mu_);
    Stmt s(db_,
           "INSERT INTO files(id,room,name,type,size,width,height,sha256,uploader,ts) "
           "VALUES(?,?,?,?,?,?,?,?,?,?)");
    s.text(1, f.id).text(2, f.room).text(3, f.name).text(4, f.type);
    s.num(5, static_cast<int64_t>(f.size)).num(6, f.width).num(7, f.height);
    s.text(8, f.sha256).text(9, f.uploader).num(10, f.ts).step();
}

std::optional<model::FileInfo> SqliteFiles::get_locked(SqliteConn& c, const std::string& id) {
    Stmt s(c, kSelect);
    s.text(1, id);
    if (!s.step()) return std::nullopt;
    return file_of(s);
}

std::optional<model::FileInfo> SqliteFiles::get(const std::string& id) {
    // Its own connection: a read in WAL mode never waits for a writer, so the event loop may
    // ask (GET /files).
    std::lock_guard lk(rmu_);
    return get_locked(rdb_, id);
}

FileStore::Claim SqliteFiles::claim(const std::vector<std::string>& ids, const std::string& room,
                                    const std::string& uploader, const std::string& key) {
    std::lock_guard lk(mu_);
    return db_.transaction([&] {
        return claim_all(
            ids, room, uploader, key, [&](const std::string& id) { return get_locked(db_, id); },
            [&](const std::string& id) {
                Stmt(db_, "UPDATE files SET claimed=1,claim_key=? WHERE id=?")
                    .text(1, key)
                    .text(2, id)
                    .step();
            });
    });
}

void SqliteFiles::unclaim(const std::vector<std::string>& ids) {
    std::lock_guard lk(mu_);
    for (const auto& id : ids)
        Stmt(db_, "UPDATE files SET claimed=0,claim_key='' WHERE id=?").text(1, id).step();
}

std::vector<std::string> SqliteFiles::remove(const std::vector<std::string>& ids,
                                             bool unclaimed_only) {
    std::lock_guard lk(mu_);
    return db_.transaction([&] {
        std::vector<std::string> gone;
        for (const auto& id : ids) {
            auto f = get_locked(db_, id);
            if (!f || (unclaimed_only && f->claimed)) continue;
            Stmt(db_, "DELETE FROM files WHERE id=?").text(1, id).step();
            Stmt left(db_, "SELECT 1 FROM files WHERE sha256=? LIMIT 1");
            left.text(1, f->sha256);
            if (!left.step()) gone.push_back(f->sha256);
        }
        return gone;
    });
}

std::vector<std::string> SqliteFiles::unclaimed(int64_t before_ms, size_t limit) {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT id FROM files WHERE claimed=0 AND ts<? ORDER BY ts LIMIT ?");
    s.num(1, before_ms).num(2, static_cast<int64_t>(limit));
    std::vector<std::string> out;
    while (s.step()) out.push_back(s.text(0));
    return out;
}

}  // namespace ssechat::store
