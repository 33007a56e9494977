// Files shared in rooms: their descriptions in a store (memory, SQLite, or Redis for several
// nodes), and their bytes in a folder, stored once per content hash. The rules (whose file a
// message may carry) are model::claim_problem(); a store only makes a claim atomic.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/file.hpp"
#include "store/store.hpp"

namespace ssechat {
struct Config;
}

namespace ssechat::store {

// Thread model: every call may come from any thread.
class FileStore {
  public:
    virtual ~FileStore() = default;
    // Throws StoreError.
    virtual void add(const model::FileInfo& f) = 0;
    virtual std::optional<model::FileInfo> get(const std::string& id) = 0;
    // Claims every file of `ids` for a message by `uploader` in `room`, all or none: the
    // descriptions in the order of `ids`, or the first refusal's reason (model::claim_problem).
    struct Claim {
        std::vector<model::FileInfo> files;
        std::string problem;
        std::string id;  // the file refused
    };
    virtual Claim claim(const std::vector<std::string>& ids, const std::string& room,
                        const std::string& uploader, const std::string& key) = 0;
    // Gives claimed files back (their message was not stored).
    virtual void unclaim(const std::vector<std::string>& ids) = 0;
    // Removes descriptions (with `unclaimed_only`, only those no message has claimed since:
    // a sweep never takes a file a message took meanwhile); answers the content hashes that
    // no file uses any more.
    virtual std::vector<std::string> remove(const std::vector<std::string>& ids,
                                            bool unclaimed_only = false) = 0;
    // Unclaimed files uploaded before `before_ms`, at most `limit`.
    virtual std::vector<std::string> unclaimed(int64_t before_ms, size_t limit) = 0;
};

// The store that goes with --store: memory, the SQLite file on a connection of its own, or
// Redis (shared by the nodes, with --files a folder they share).
std::unique_ptr<FileStore> open_files(const Config& cfg);

// Claims in one store's terms: `get` reads a file, `set` marks it claimed (key) or not. Used
// inside a lock or a transaction, so that the check and the change are one step.
FileStore::Claim claim_all(
    const std::vector<std::string>& ids, const std::string& room, const std::string& uploader,
    const std::string& key,
    const std::function<std::optional<model::FileInfo>(const std::string&)>& get,
    const std::function<void(const std::string&)>& set);

// The bytes, named by their SHA-256 under one folder (DIR/ab/abcdef...). Written to a
// temporary name, synced, then renamed, so that a crash never leaves half a file under a
// real name; temporary files a crash left behind are removed when the folder is opened.
class FileDir {
  public:
    // Creates the folder when missing. Throws StoreError.
    explicit FileDir(std::string dir);
    const std::string& dir() const { return dir_; }
    // Stores `bytes` under `sha256` unless it is there already. Throws StoreError.
    void put(const std::string& sha256, std::string_view bytes);
    // The size of the stored file, nullopt when it is missing.
    std::optional<uint64_t> size(const std::string& sha256) const;
    // Bytes [offset, offset + length) of it, nullopt when it is missing or shorter.
    std::optional<std::string> read(const std::string& sha256, uint64_t offset,
                                    uint64_t length) const;
    // Overwrites the bytes with zeros, syncs, and unlinks them (what a filesystem that
    // rewrites in place lets an erasure do; a copy-on-write one or an SSD may keep old blocks).
    void erase(const std::string& sha256);

  private:
    std::string path(const std::string& sha256) const;
    std::string dir_;
};

}  // namespace ssechat::store
