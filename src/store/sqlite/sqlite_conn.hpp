// A connection of its own to DIR/ssechat.db, for the stores that live beside the rooms in the
// same file (accounts, files). The file's lock keeps a second server off it, not these:
// `ssechat user` opens one beside a running server, and SQLite's busy timeout orders them.
#pragma once
#include <cstdint>
#include <string>

#include "store/store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace ssechat::store {

class SqliteConn {
  public:
    // Opens (and makes, the first time) `dir`/ssechat.db in WAL mode. Throws StoreError.
    explicit SqliteConn(const std::string& dir);
    ~SqliteConn();
    SqliteConn(const SqliteConn&) = delete;
    SqliteConn& operator=(const SqliteConn&) = delete;

    [[noreturn]] void fail(const std::string& what) const;
    void exec(const char* sql);
    // Rows the last statement changed.
    int changes() const;
    // f() in one BEGIN IMMEDIATE ... COMMIT, rolled back when it throws; f returns a value.
    template <class F>
    auto transaction(F&& f) {
        exec("BEGIN IMMEDIATE");
        try {
            auto result = f();
            exec("COMMIT");
            return result;
        } catch (...) {
            rollback();
            throw;
        }
    }

    // A statement prepared for one call and finalized after it: these stores' calls are rare
    // next to the message traffic, and the CLI is a short process.
    class Stmt {
      public:
        Stmt(SqliteConn& c, const char* sql);
        ~Stmt();
        Stmt(const Stmt&) = delete;
        Stmt& operator=(const Stmt&) = delete;
        Stmt& text(int i, const std::string& v);
        Stmt& num(int i, int64_t v);
        // True for a row, false when done; throws StoreError on a failure.
        bool step();
        std::string text(int col) const;
        int64_t num(int col) const;
        sqlite3_stmt* get() { return s_; }

      private:
        SqliteConn& c_;
        sqlite3_stmt* s_ = nullptr;
    };

  private:
    void rollback();
    std::string path_;
    sqlite3* db_ = nullptr;
};

}  // namespace ssechat::store
