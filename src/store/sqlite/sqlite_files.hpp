// File descriptions in the SQLite file of the rooms, through a connection of their own (as
// the accounts): uploads and claims come from the work pool, never from the writer thread.
#pragma once
#include <mutex>

#include "store/files.hpp"
#include "store/sqlite/sqlite_conn.hpp"

namespace ssechat::store {

class SqliteFiles final : public FileStore {
  public:
    // Opens `dir`/ssechat.db and makes its files table when missing.
    explicit SqliteFiles(const std::string& dir);
    ~SqliteFiles() override;
    void add(const model::FileInfo& f) override;
    std::optional<model::FileInfo> get(const std::string& id) override;
    Claim claim(const std::vector<std::string>& ids, const std::string& room,
                const std::string& uploader, const std::string& key) override;
    void unclaim(const std::vector<std::string>& ids) override;
    std::vector<std::string> remove(const std::vector<std::string>& ids,
                                    bool unclaimed_only) override;
    std::vector<std::string> unclaimed(int64_t before_ms, size_t limit) override;

  private:
    using Stmt = SqliteConn::Stmt;
    std::optional<model::FileInfo> get_locked(SqliteConn& c, const std::string& id);
    SqliteConn db_;  // writes, under mu_
    std::mutex mu_;
    SqliteConn rdb_;  // get(), under rmu_
    std::mutex rmu_;
};

}  // namespace ssechat::store
