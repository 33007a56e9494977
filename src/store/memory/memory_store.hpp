// The in-memory store: for tests and throwaway runs; everything is lost on exit.
#pragma once
#include <deque>
#include <map>
#include <mutex>
#include <optional>

#include "store/store.hpp"

namespace ssechat::store {

class MemoryStore final : public Store {
  public:
    explicit MemoryStore(uint64_t retain, int64_t key_ttl_s = 86400)
        : retain_(retain), key_ttl_ms_(key_ttl_s * 1000) {}
    std::vector<RoomMeta> rooms(const std::string& after, size_t limit) override;
    uint64_t last_id(const std::string& room) override;
    void append(const std::vector<model::Event>& batch) override;
    std::vector<model::Event> range(const std::string& room, uint64_t after, uint64_t before,
                                    size_t limit, bool newest) override;
    std::vector<model::Event> messages(const std::string& room, uint64_t after, uint64_t before,
                                       size_t limit, bool newest) override;
    std::vector<model::Event> shown(const std::string& room, uint64_t after, uint64_t before,
                                    size_t limit, bool newest) override;
    std::optional<model::Event> message(const std::string& room, uint64_t id) override;
    std::optional<model::KeyRecord> find_key(const std::string& room, const std::string& user,
                                             const std::string& key, int64_t now_ms) override;
    const std::string& epoch(size_t) override { return epoch_; }
    uint64_t last_pos(size_t) override;
    std::optional<uint64_t> first_after(const std::string& room, uint64_t pos) override;
    std::vector<model::Event> log_after(size_t shard, uint64_t pos, size_t limit) override;
    void members(std::vector<MemberOp>& ops) override;
    std::vector<Membership> memberships(const std::string& user) override;
    model::Roster roster(const std::string& room) override;
    model::Roster roster_of(const std::string& room, const std::string& user) override;
    std::optional<model::Profile> profile(const std::string& room) override;
    Settings settings(const std::string& user) override;
    std::vector<std::pair<std::string, uint64_t>> receipts(const std::string& room) override;
    Unread unread(const std::string& room, const std::string& user, uint64_t after,
                  size_t cap) override;
    bool writable() override { return true; }
    bool searchable() const override { return true; }
    std::vector<model::SearchHit> search(const model::SearchQuery& q,
                                         const std::vector<std::string>& rooms, int64_t before,
                                         size_t limit) override;

  private:
    struct Log {
        uint64_t last_id = 0;             // highest id ever appended
        std::deque<model::Event> events;  // ascending ids without holes; messages in their state
        model::Event* find(uint64_t id);
    };
    std::mutex mu_;
    std::map<std::string, Log> rooms_;
    uint64_t retain_;  // 0 keeps everything
    int64_t key_ttl_ms_;
    struct Key {
        model::KeyRecord rec;
        int64_t expires_ms;
    };
    std::map<std::string, Key> keys_;  // "room\x1fuser\x1fkey"
    uint64_t last_pos_ = 0;
    std::string epoch_ = make_epoch();  // a new one per process: nothing outlives it
    // user -> room -> membership, and room -> user -> read marker (the per-room index)
    std::map<std::string, std::map<std::string, Membership>> members_;
    std::map<std::string, std::map<std::string, uint64_t>> readers_;
    std::map<std::string, model::Roster> rosters_;  // room -> its rules, once it has any
    std::map<std::string, Settings> settings_;      // user -> settings, once set
    void apply(MemberOp& op);
    // Messages (and with `rules` the rules' records) of a slice of a room, oldest first.
    std::vector<model::Event> pick(const std::string& room, uint64_t after, uint64_t before,
                                   size_t limit, bool newest, bool rules);
};

}  // namespace ssechat::store
