#include "store/files.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include "store/redis/redis_files.hpp"
#include "store/sqlite/sqlite_files.hpp"
#include "util/config.hpp"

namespace ssechat::store {

FileStore::Claim claim_all(
    const std::vector<std::string>& ids, const std::string& room, const std::string& uploader,
    const std::string& key,
    const std::function<std::optional<model::FileInfo>(const std::string&)>& get,
    const std::function<void(const std::string&)>& set) {
    FileStore::Claim out;
    for (const auto& id : ids) {
        auto f = get(id);
        if (auto why = model::claim_problem(f ? &*f : nullptr, room, uploader, key); !why.empty()) {
            out.files.clear();
            out.problem = why;
            out.id = id;
            return out;
        }
        out.files.push_back(std::move(*f));
    }
    for (const auto& id : ids) set(id);
    return out;
}

namespace {

// For tests and throwaway runs, as the memory store.
class MemoryFiles final : public FileStore {
  public:
    void add(const model::FileInfo& f) override {
        std::lock_guard lk(mu_);
        files_[f.id] = f;
    }
    std::optional<model::FileInfo> get(const std::string& id) override {
        std::lock_guard lk(mu_);
        auto it = files_.find(id);
        if (it == files_.end()) return std::nullopt;
        return it->second;
    }
    Claim claim(const std::vector<std::string>& ids, const std::string& room,
                const std::string& uploader, const std::string& key) override {
        std::lock_guard lk(mu_);
        return claim_all(
            ids, room, uploader, key,
            [&](const std::string& id) -> std::optional<model::FileInfo> {
                auto it = files_.find(id);
                if (it == files_.end()) return std::nullopt;
                return it->second;
            },
            [&](const std::string& id) {
                files_[id].claimed = true;
                files_[id].claim_key = key;
            });
    }
    void unclaim(const std::vector<std::string>& ids) override {
        std::lock_guard lk(mu_);
        for (const auto& id : ids)
            if (auto it = files_.find(id); it != files_.end()) {
                it->second.claimed = false;
                it->second.claim_key.clear();
            }
    }
    std::vector<std::string> remove(const std::vector<std::string>& ids,
                                    bool unclaimed_only) override {
        std::lock_guard lk(mu_);
        std::vector<std::string> hashes;
        for (const auto& id : ids) {
            auto it = files_.find(id);
            if (it == files_.end() || (unclaimed_only && it->second.claimed)) continue;
            hashes.push_back(it->second.sha256);
            files_.erase(it);
        }
        std::erase_if(hashes, [&](const std::string& h) {
            return std::any_of(files_.begin(), files_.end(),
                               [&](const auto& kv) { return kv.second.sha256 == h; });
        });
        return hashes;
    }
    std::vector<std::string> unclaimed(int64_t before_ms, size_t limit) override {
        std::lock_guard lk(mu_);
        std::vector<std::string> out;
        for (const auto& [id, f] : files_)
            if (!f.claimed && f.ts < before_ms && out.size() < limit) out.push_back(id);
        return out;
    }

  private:
    std::mutex mu_;
    std::map<std::string, model::FileInfo> files_;
};

[[noreturn]] void fail(const std::string& what, const std::string& path) {
    throw StoreError(what + " " + path + ": " + std::strerror(errno));
}

void write_all(int fd, std::string_view bytes, const std::string& path) {
    while (!bytes.empty()) {
        ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail("cannot write", path);
        bytes.remove_prefix(static_cast<size_t>(n));
    }
}

void sync_dir(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

constexpr const char* kTmpPrefix = ".upload-";

}  // namespace

std::unique_ptr<FileStore> open_files(const Config& cfg) {
    if (cfg.store == "memory") return std::make_unique<MemoryFiles>();
    if (cfg.store == "redis") return std::make_unique<RedisFiles>(redis_url_of(cfg.redis), 2000, redis_durability_of(cfg));
    return std::make_unique<SqliteFiles>(cfg.data_dir);
}

FileDir::FileDir(std::string dir) : dir_(std::move(dir)) {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) throw StoreError("cannot create the files folder " + dir_ + ": " + ec.message());
    // What a crash left mid-upload: never under a real name, and of no use now.
    for (const auto& e : std::filesystem::directory_iterator(dir_, ec))
        if (e.path().filename().string().rfind(kTmpPrefix, 0) == 0)
            std::filesystem::remove(e.path(), ec);
}

std::string FileDir::path(const std::string& sha256) const {
    return dir_ + "/" + sha256.substr(0, 2) + "/" + sha256;
}

void FileDir::put(const std::string& sha256, std::string_view bytes) {
    std::string final_path = path(sha256);
    struct stat st {};
    if (::stat(final_path.c_str(), &st) == 0 && static_cast<size_t>(st.st_size) == bytes.size())
        return;  // the same bytes are stored already
    std::string sub = dir_ + "/" + sha256.substr(0, 2);
    if (::mkdir(sub.c_str(), 0755) != 0 && errno != EEXIST) fail("cannot create", sub);
    unsigned char r[8];
    RAND_bytes(r, sizeof r);
    char suffix[17];
    for (int i = 0; i < 8; ++i) std::snprintf(suffix + 2 * i, 3, "%02x", r[i]);
    std::string tmp = dir_ + "/" + kTmpPrefix + suffix;
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) fail("cannot create", tmp);
    try {
        write_all(fd, bytes, tmp);
        if (::fsync(fd) != 0) fail("cannot sync", tmp);
    } catch (...) {
        ::close(fd);
        ::unlink(tmp.c_str());
        throw;
    }
    ::close(fd);
    if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        errno = e;
        fail("cannot rename a file to", final_path);
    }
    sync_dir(sub);
    sync_dir(dir_);
}

std::optional<uint64_t> FileDir::size(const std::string& sha256) const {
    struct stat st {};
    if (::stat(path(sha256).c_str(), &st) != 0) return std::nullopt;
    return static_cast<uint64_t>(st.st_size);
}

std::optional<std::string> FileDir::read(const std::string& sha256, uint64_t offset,
                                         uint64_t length) const {
    std::string p = path(sha256);
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string out(length, '\0');
    size_t got = 0;
    while (got < length) {
        ssize_t n = ::pread(fd, out.data() + got, length - got, static_cast<off_t>(offset + got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<size_t>(n);
    }
    ::close(fd);
    if (got != length) return std::nullopt;
    return out;
}

void FileDir::erase(const std::string& sha256) {
    std::string p = path(sha256);
    int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        struct stat st {};
        if (::fstat(fd, &st) == 0) {
            std::string zeros(64 * 1024, '\0');
            for (off_t at = 0; at < st.st_size;) {
                size_t n = std::min<size_t>(zeros.size(), static_cast<size_t>(st.st_size - at));
                ssize_t w = ::pwrite(fd, zeros.data(), n, at);
                if (w <= 0) break;
                at += w;
            }
            ::fsync(fd);
        }
        ::close(fd);
    }
    ::unlink(p.c_str());
}

}  // namespace ssechat::store
