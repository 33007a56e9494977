// MemoryStore: a deque per room under one mutex; reads are rare (the rooms cache the tail).
#include "store/memory/memory_store.hpp"

#include <algorithm>

namespace ssechat::store {

std::vector<RoomMeta> MemoryStore::rooms(const std::string& after, size_t limit) {
    std::lock_guard lk(mu_);
    std::vector<RoomMeta> out;
    for (auto it = rooms_.upper_bound(after); it != rooms_.end() && out.size() < limit; ++it)
        out.push_back({it->first, it->second.last_id});
    return out;
}

std::optional<model::KeyRecord> MemoryStore::find_key(const std::string& room,
                                                      const std::string& user,
                                                      const std::string& key, int64_t now_ms) {
    std::lock_guard lk(mu_);
    auto it = keys_.find(room + '\x1f' + user + '\x1f' + key);
    if (it == keys_.end()) return std::nullopt;
    if (it->second.expires_ms <= now_ms) {
        keys_.erase(it);  // expired keys go when looked at; a memory store is for tests
        return std::nullopt;
    }
    return it->second.rec;
}

uint64_t MemoryStore::last_id(const std::string& room) {
    std::lock_guard lk(mu_);
    auto it = rooms_.find(room);
    return it == rooms_.end() ? 0 : it->second.last_id;
}

void MemoryStore::append(const std::vector<model::Message>& batch) {
    std::lock_guard lk(mu_);
    for (const auto& m : batch) {
        auto& log = rooms_[m.room];
        if (m.id <= log.last_id)
            throw StoreError("id " + std::to_string(m.id) + " reused in room " + m.room);
        log.last_id = m.id;
        log.msgs.push_back(m);
        if (!m.key.empty())
            keys_[m.room + '\x1f' + m.user_id + '\x1f' + m.key] = {
                {m.id, m.ts, model::text_hash(m.text)}, m.ts + key_ttl_ms_};
        if (retain_ && log.msgs.size() > retain_) log.msgs.pop_front();
    }
}

std::vector<model::Message> MemoryStore::range(const std::string& room, uint64_t after,
                                               uint64_t before, size_t limit, bool newest) {
    std::lock_guard lk(mu_);
    std::vector<model::Message> out;
    auto it = rooms_.find(room);
    // after + 1 below would wrap to 0 and return everything, as SQLite does not.
    if (it == rooms_.end() || limit == 0 || after == UINT64_MAX) return out;
    const auto& msgs = it->second.msgs;
    auto by_id = [](const model::Message& m, uint64_t id) { return m.id < id; };
    auto lo = std::lower_bound(msgs.begin(), msgs.end(), after + 1, by_id);
    auto hi = std::lower_bound(msgs.begin(), msgs.end(), before, by_id);
    if (lo >= hi) return out;
    auto n = std::min<size_t>(limit, static_cast<size_t>(hi - lo));
    if (newest) lo = hi - static_cast<std::ptrdiff_t>(n);
    out.assign(lo, lo + static_cast<std::ptrdiff_t>(n));
    return out;
}

}  // namespace ssechat::store
