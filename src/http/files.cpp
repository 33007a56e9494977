// Files: POST /rooms/{room}/files, GET /files/{id}/{name}, and what a message, a delete and
// the sweeper do with them.
#include "http/files.hpp"

#include <openssl/rand.h>
#include <stdlib.h>

#include <boost/asio/post.hpp>
#include <charconv>
#include <filesystem>

#include "chat/hub.hpp"
#include "chat/metrics.hpp"
#include "http/api.hpp"
#include "http/api_detail.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"

namespace ssechat::http {

using namespace detail;

namespace {

std::string hex(const unsigned char* p, size_t n) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    out.reserve(2 * n);
    for (size_t i = 0; i < n; ++i) {
        out += digits[p[i] >> 4];
        out += digits[p[i] & 15];
    }
    return out;
}

}  // namespace

std::unique_ptr<Files> Files::open(const Config& cfg) {
    auto store = store::open_files(cfg);
    if (!store) return nullptr;
    std::string dir = cfg.files_dir;
    bool temporary = false;
    if (dir.empty() && cfg.store == "memory") {
        // Nothing of a memory store outlives the process, its files neither.
        char tmpl[] = "/tmp/ssechat-files-XXXXXX";
        if (!::mkdtemp(tmpl)) throw store::StoreError("cannot make a folder for files in /tmp");
        dir = tmpl;
        temporary = true;
    } else if (dir.empty()) {
        dir = cfg.data_dir + "/files";
    }
    return std::make_unique<Files>(cfg, std::move(store), std::move(dir), temporary);
}

Files::Files(const Config& cfg, std::unique_ptr<store::FileStore> store, std::string dir,
             bool temporary)
    : store_(std::move(store)),
      dir_(std::move(dir)),
      temporary_(temporary),
      uploads_(static_cast<double>(cfg.upload_rate) / 60.0, static_cast<double>(cfg.upload_rate)) {
    sweeper_ = std::thread([this] {
        std::unique_lock lk(mu_);
        while (!stopping_) {
            // The first sweep soon after the start, so that a server restarted daily still
            // sweeps; then hourly.
            cv_.wait_for(lk, std::chrono::minutes(1), [&] { return stopping_; });
            if (stopping_) break;
            lk.unlock();
            try {
                if (size_t n = sweep(kUnclaimedMs))
                    log::info("files swept", {{"removed", std::to_string(n)}});
            } catch (const store::StoreError& e) {
                log::warn("files sweep failed", {{"error", e.what()}});
            }
            lk.lock();
            cv_.wait_for(lk, std::chrono::hours(1), [&] { return stopping_; });
        }
    });
}

Files::~Files() {
    stop();
    if (temporary_) {
        std::error_code ec;
        std::filesystem::remove_all(dir_.dir(), ec);
    }
}

void Files::stop() {
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (sweeper_.joinable()) sweeper_.join();
}

double Files::take_upload(const std::string& user) {
    return uploads_.take(user, std::chrono::steady_clock::now());
}

model::FileInfo Files::put(const std::string& room, const std::string& uploader,
                           const std::string& name, const std::string& bytes) {
    model::FileInfo f;
    unsigned char id[16];
    if (RAND_bytes(id, sizeof id) != 1) throw store::StoreError("no random bytes for a file id");
    f.id = hex(id, sizeof id);
    f.room = room;
    f.name = name;
    auto sniffed = model::sniff(bytes);
    f.type = sniffed.type;
    f.width = sniffed.width;
    f.height = sniffed.height;
    f.size = bytes.size();
    f.sha256 = model::text_hash(bytes);  // hex SHA-256, as the project makes it
    f.uploader = uploader;
    f.ts = now_ms();
    std::lock_guard lk(io_);
    // The description first: while it is there, a sweep keeps the bytes it names.
    store_->add(f);
    try {
        dir_.put(f.sha256, bytes);
    } catch (...) {
        store_->remove({f.id});
        throw;
    }
    return f;
}

void Files::erase(const std::vector<std::string>& ids, bool unclaimed_only) {
    if (ids.empty()) return;
    std::lock_guard lk(io_);
    for (const auto& sha : store_->remove(ids, unclaimed_only)) dir_.erase(sha);
}

size_t Files::sweep(int64_t age_ms) {
    size_t n = 0;
    for (;;) {
        auto ids = store_->unclaimed(now_ms() - age_ms, 500);
        if (ids.empty()) return n;
        // One a message claimed since the list was read stays.
        erase(ids, true);
        n += ids.size();
    }
}

}  // namespace ssechat::http
