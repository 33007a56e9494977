#include "store/sqlite/sqlite_conn.hpp"

#include <sqlite3.h>

#include <filesystem>

namespace ssechat::store {

SqliteConn::SqliteConn(const std::string& dir) : path_(dir + "/ssechat.db") {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw StoreError("cannot create data folder " + dir + ": " + ec.message());
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
        std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close_v2(db_);
        throw StoreError("cannot open database " + path_ + ": " + why);
    }
    // The server's writer holds the write lock for a batch at a time: milliseconds.
    sqlite3_busy_timeout(db_, 5000);
    try {
        exec("PRAGMA journal_mode=WAL; PRAGMA secure_delete=ON;");
    } catch (...) {
        sqlite3_close_v2(db_);
        throw;
    }
}

SqliteConn::~SqliteConn() {
    sqlite3_close_v2(db_);
}

void SqliteConn::fail(const std::string& what) const {
    std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    throw StoreError(what + " database " + path_ + ": " + why);
}

void SqliteConn::exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail("cannot use");
}

int SqliteConn::changes() const {
    return sqlite3_changes(db_);
}

void SqliteConn::rollback() {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

SqliteConn::Stmt::Stmt(SqliteConn& c, const char* sql) : c_(c) {
    if (sqlite3_prepare_v2(c.db_, sql, -1, &s_, nullptr) != SQLITE_OK)
        c.fail("cannot prepare a statement on");
}

SqliteConn::Stmt::~Stmt() {
    sqlite3_finalize(s_);
}

SqliteConn::Stmt& SqliteConn::Stmt::text(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
}

SqliteConn::Stmt& SqliteConn::Stmt::num(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
}

bool SqliteConn::Stmt::step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) c_.fail("cannot use");
    return false;
}

std::string SqliteConn::Stmt::text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col))) : std::string();
}

int64_t SqliteConn::Stmt::num(int col) const {
    return sqlite3_column_int64(s_, col);
}

}  // namespace ssechat::store
