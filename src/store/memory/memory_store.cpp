// MemoryStore: a deque per room under one mutex; reads are rare (the rooms cache the tail).
#include "store/memory/memory_store.hpp"

#include <algorithm>

namespace ssechat::store {

std::vector<RoomMeta> MemoryStore::rooms() {
    std::lock_guard lk(mu_);
    std::vector<RoomMeta> out;
    for (const auto& [name, log] : rooms_) out.push_back({name, log.last_id});
    return out;
}

void MemoryStore::append(const std::vector<chat::Message>& batch) {
    std::lock_guard lk(mu_);
    for (const auto& m : batch) {
        auto& log = rooms_[m.room];
        if (m.id <= log.last_id)
            throw StoreError("id " + std::to_string(m.id) + " reused in room " + m.room);
        log.last_id = m.id;
        log.msgs.push_back(m);
        if (retain_ && log.msgs.size() > retain_) log.msgs.pop_front();
    }
}

std::vector<chat::Message> MemoryStore::range(const std::string& room, uint64_t after,
                                              uint64_t before, size_t limit, bool newest) {
    std::lock_guard lk(mu_);
    std::vector<chat::Message> out;
    auto it = rooms_.find(room);
    if (it == rooms_.end() || limit == 0) return out;
    const auto& msgs = it->second.msgs;
    auto by_id = [](const chat::Message& m, uint64_t id) { return m.id < id; };
    auto lo = std::lower_bound(msgs.begin(), msgs.end(), after + 1, by_id);
    auto hi = std::lower_bound(msgs.begin(), msgs.end(), before, by_id);
    if (lo >= hi) return out;
    auto n = std::min<size_t>(limit, static_cast<size_t>(hi - lo));
    if (newest) lo = hi - static_cast<std::ptrdiff_t>(n);
    out.assign(lo, lo + static_cast<std::ptrdiff_t>(n));
    return out;
}

uint64_t MemoryStore::oldest_id(const std::string& room) {
    std::lock_guard lk(mu_);
    auto it = rooms_.find(room);
    if (it == rooms_.end() || it->second.msgs.empty()) return 0;
    return it->second.msgs.front().id;
}

}  // namespace ssechat::store
