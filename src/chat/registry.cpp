// Registry: a hash map plus a recency list under one mutex; no store I/O while it is held.
#include "chat/registry.hpp"

namespace ssechat::chat {

Registry::Got Registry::get(const std::string& name) {
    std::unique_lock lk(mu_);
    for (;;) {
        if (auto it = rooms_.find(name); it != rooms_.end()) {
            recent_.splice(recent_.begin(), recent_, it->second.recent);
            return {it->second.room, false};
        }
        if (!loading_.contains(name)) break;
        // Another loop is reading it: its read serves this one too. If that read failed (or
        // found no space), the room is neither loaded nor loading, and this loop tries.
        loaded_.wait(lk);
    }
    loading_.insert(name);
    lk.unlock();
    std::shared_ptr<Room> fresh;
    try {
        fresh = load_(name);
    } catch (...) {
        lk.lock();
        loading_.erase(name);
        loaded_.notify_all();
        throw;
    }
    lk.lock();
    loading_.erase(name);
    loaded_.notify_all();
    if (rooms_.size() >= max_ && !evict_one_locked()) {
        dropped_locked(name);
        return {nullptr, false};
    }
    recent_.push_front(fresh.get());
    rooms_.emplace(name, Slot{fresh, recent_.begin()});
    return {std::move(fresh), true};
}

bool Registry::evict_one_locked() {
    for (size_t i = 0; i < kScan && !recent_.empty(); ++i) {
        Room* r = recent_.back();
        auto it = rooms_.find(r->name());
        // use_count is exact here: every other holder got its copy from this map under this
        // lock, or from a holder that still holds it, so 1 cannot rise while the lock is held.
        if (it->second.room.use_count() == 1) {
            erase_locked(it);
            return true;
        }
        recent_.splice(recent_.begin(), recent_, it->second.recent);
    }
    return false;
}

void Registry::erase_locked(std::unordered_map<std::string, Slot>::iterator it) {
    left_empty_.erase(it->first);
    recent_.erase(it->second.recent);
    dropped_locked(it->first);
    rooms_.erase(it);
}

bool Registry::wanted(const std::string& name) {
    std::lock_guard lk(mu_);
    return rooms_.contains(name) || loading_.contains(name);
}

std::shared_ptr<Room> Registry::find(const std::string& name) {
    std::lock_guard lk(mu_);
    auto it = rooms_.find(name);
    return it == rooms_.end() ? nullptr : it->second.room;
}

std::vector<std::shared_ptr<Room>> Registry::loaded() {
    std::lock_guard lk(mu_);
    std::vector<std::shared_ptr<Room>> out;
    out.reserve(rooms_.size());
    for (const auto& [name, slot] : rooms_) out.push_back(slot.room);
    return out;
}

size_t Registry::size() {
    std::lock_guard lk(mu_);
    return rooms_.size();
}

void Registry::release(const std::shared_ptr<Room>& r) {
    if (r->delivered() != 0) return;  // it holds messages: kept warm until space is needed
    std::lock_guard lk(mu_);
    auto it = rooms_.find(r->name());
    if (it == rooms_.end() || it->second.room != r) return;
    // Two holders: the registry and the caller, who is letting go.
    if (r.use_count() == 2)
        erase_locked(it);
    else
        left_empty_.insert(r->name());  // a subset of the loaded rooms, so bounded by max_
}

void Registry::sweep() {
    std::lock_guard lk(mu_);
    size_t looked = 0;
    for (auto c = left_empty_.begin(); c != left_empty_.end() && looked < kSweep; ++looked) {
        auto it = rooms_.find(*c);
        const auto& r = it->second.room;
        // It got a message, or a stream (whose end brings it back here): not ours to drop.
        if (r->delivered() != 0 || r->online_count() > 0) {
            c = left_empty_.erase(c);
        } else if (r.use_count() == 1) {
            c = left_empty_.erase(c);
            recent_.erase(it->second.recent);
            dropped_locked(it->first);
            rooms_.erase(it);
        } else {
            ++c;  // a delivery on its way to a loop still holds it
        }
    }
}

}  // namespace ssechat::chat
