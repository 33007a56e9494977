// Files shared in rooms, as a resource with its own state: the descriptions' store, the
// folder of bytes, the upload limit per user, and the sweeper that removes files no message
// took. Its blocking work (hashing, writing, syncing, erasing) runs on the Api's work pool.
#pragma once
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/limits.hpp"
#include "model/file.hpp"
#include "store/files.hpp"
#include "util/config.hpp"

namespace ssechat::http {

class Files {
  public:
    // Null when the store keeps no files (Redis). Throws StoreError.
    static std::unique_ptr<Files> open(const Config& cfg);
    Files(const Config& cfg, std::unique_ptr<store::FileStore> store, std::string dir,
          bool temporary);
    ~Files();
    Files(const Files&) = delete;
    Files& operator=(const Files&) = delete;

    store::FileStore& store() { return *store_; }
    store::FileDir& dir() { return dir_; }
    // 0 when `user` may upload now, else the seconds until they may.
    double take_upload(const std::string& user);
    // Describes and stores an upload. Blocking: for the work pool. Throws StoreError.
    model::FileInfo put(const std::string& room, const std::string& uploader,
                        const std::string& name, const std::string& bytes);
    // Removes files and the bytes no other file shares. Blocking. Throws StoreError.
    void erase(const std::vector<std::string>& ids, bool unclaimed_only = false);
    // Files nobody claimed since `age_ms` ago; erased, and how many. Blocking.
    size_t sweep(int64_t age_ms);
    // Ends the sweeper. Idempotent.
    void stop();

    // Unclaimed files live this long (a day).
    static constexpr int64_t kUnclaimedMs = 24 * 3600 * 1000;

  private:
    std::unique_ptr<store::FileStore> store_;
    store::FileDir dir_;
    bool temporary_;  // a folder of our own (memory store): removed at the end
    limits::RateLimiter uploads_;
    // put() and erase() in one order: a file's bytes are never erased just as an upload of
    // the same bytes counts on them.
    std::mutex io_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread sweeper_;
};

}  // namespace ssechat::http
