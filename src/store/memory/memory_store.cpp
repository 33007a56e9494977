// MemoryStore: a deque of events per room under one mutex, each message kept in its current
// state; reads are rare (the rooms cache the tail).
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

model::Event* MemoryStore::Log::find(uint64_t id) {
    if (events.empty() || id < events.front().id || id > events.back().id) return nullptr;
    return &events[id - events.front().id];
}

void MemoryStore::append(const std::vector<model::Event>& batch) {
    std::lock_guard lk(mu_);
    for (const auto& e : batch) {
        auto& log = rooms_[e.room];
        if (e.id <= log.last_id)
            throw StoreError("id " + std::to_string(e.id) + " reused in room " + e.room);
        log.last_id = e.id;
        log.events.push_back(e);
        if (e.kind == model::Kind::Message && !e.key.empty())
            keys_[e.room + '\x1f' + e.user_id + '\x1f' + e.key] = {
                {e.id, e.ts, model::text_hash(e.text)}, e.ts + key_ttl_ms_};
        if (e.kind != model::Kind::Message)
            if (model::Event* m = log.find(e.target); m && m->kind == model::Kind::Message) {
                model::apply(*m, e);
                if (e.kind == model::Kind::Delete)
                    for (auto& x : log.events)
                        if (x.kind == model::Kind::Edit && x.target == e.target) x.text.clear();
            }
        if (retain_ && log.events.size() > retain_) log.events.pop_front();
    }
}

namespace {
// The [after+1, before) slice of a log.
template <class Deque>
std::pair<typename Deque::const_iterator, typename Deque::const_iterator> slice(const Deque& d,
                                                                                uint64_t after,
                                                                                uint64_t before) {
    auto by_id = [](const model::Event& m, uint64_t id) { return m.id < id; };
    auto lo = std::lower_bound(d.begin(), d.end(), after + 1, by_id);
    auto hi = std::lower_bound(d.begin(), d.end(), before, by_id);
    return {lo, std::max(lo, hi)};
}
}  // namespace

std::vector<model::Event> MemoryStore::range(const std::string& room, uint64_t after,
                                             uint64_t before, size_t limit, bool newest) {
    std::lock_guard lk(mu_);
    std::vector<model::Event> out;
    auto it = rooms_.find(room);
    // after + 1 below would wrap to 0 and return everything, as SQLite does not.
    if (it == rooms_.end() || limit == 0 || after == UINT64_MAX) return out;
    auto [lo, hi] = slice(it->second.events, after, before);
    auto n = std::min<size_t>(limit, static_cast<size_t>(hi - lo));
    if (newest) lo = hi - static_cast<std::ptrdiff_t>(n);
    out.assign(lo, lo + static_cast<std::ptrdiff_t>(n));
    for (auto& e : out) e.reactions.clear();
    return out;
}

std::vector<model::Event> MemoryStore::messages(const std::string& room, uint64_t after,
                                                uint64_t before, size_t limit, bool newest) {
    std::lock_guard lk(mu_);
    std::vector<model::Event> out;
    auto it = rooms_.find(room);
    if (it == rooms_.end() || limit == 0 || after == UINT64_MAX) return out;
    auto [lo, hi] = slice(it->second.events, after, before);
    if (newest) {
        for (auto p = hi; p != lo && out.size() < limit;)
            if ((--p)->kind == model::Kind::Message) out.push_back(*p);
        std::reverse(out.begin(), out.end());
    } else {
        for (auto p = lo; p != hi && out.size() < limit; ++p)
            if (p->kind == model::Kind::Message) out.push_back(*p);
    }
    return out;
}

std::optional<model::Event> MemoryStore::message(const std::string& room, uint64_t id) {
    std::lock_guard lk(mu_);
    auto it = rooms_.find(room);
    if (it == rooms_.end()) return std::nullopt;
    model::Event* m = it->second.find(id);
    if (!m || m->kind != model::Kind::Message) return std::nullopt;
    return *m;
}

}  // namespace ssechat::store
