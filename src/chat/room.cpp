// Room: one mutex per room, taken once per commit batch and once per new stream; never on the
// per-recipient delivery path.
#include "chat/room.hpp"

#include <algorithm>

namespace ssechat::chat {

Room::Room(std::string name, uint64_t last_id, size_t cache_cap, size_t legacy_cap)
    : name_(std::move(name)),
      cache_cap_(cache_cap),
      legacy_cap_(legacy_cap),
      assigned_(last_id),
      delivered_(last_id) {}

Entry Room::make_entry(const Message& m) {
    auto json = std::make_shared<const std::string>(native_json(m));
    auto event = std::make_shared<const std::string>(native_event(m, *json));
    return {m.id, std::move(json), std::move(event)};
}

void Room::push_legacy(const Message& m) {
    if (legacy_cap_ == 0) return;
    std::string elem = legacy_json(m);
    if (!legacy_body_.empty()) legacy_body_ += ',';
    legacy_body_ += elem;
    legacy_lens_.push_back(static_cast<uint32_t>(elem.size()));
    // Dropping the oldest element is one memmove of the body, not a re-serialization.
    if (legacy_lens_.size() > legacy_cap_) {
        size_t cut = legacy_lens_.front() + 1;
        legacy_lens_.pop_front();
        legacy_body_.erase(0, std::min(cut, legacy_body_.size()));
    }
    legacy_event_.reset();
}

sse::Buffer Room::legacy_event_locked() {
    if (!legacy_event_) {
        std::string ev;
        ev.reserve(legacy_body_.size() + 10);
        ev.append("data: [").append(legacy_body_).append("]\n\n");
        legacy_event_ = std::make_shared<const std::string>(std::move(ev));
    }
    return legacy_event_;
}

void Room::warm(const std::vector<Message>& recent, const std::vector<Message>& legacy_tail) {
    std::lock_guard lk(mu_);
    for (const auto& m : recent) {
        cache_.push_back(make_entry(m));
        if (cache_.size() > cache_cap_) cache_.pop_front();
    }
    for (const auto& m : legacy_tail) push_legacy(m);
    // A shared store may have taken more messages between reading the last id and the cache.
    if (!recent.empty() && recent.back().id > delivered_) delivered_ = assigned_ = recent.back().id;
}

std::shared_ptr<Delivery> Room::commit(const std::vector<const Message*>& msgs, bool gap) {
    auto d = std::make_shared<Delivery>();
    d->room = shared_from_this();
    if (gap && !msgs.empty()) {
        // Same id as the first message: a stream past it skips both, one before gets both.
        uint64_t first = msgs.front()->id;
        d->events.push_back(
            std::make_shared<const std::string>(sse::encode("reset", "", std::to_string(first))));
        d->ids.push_back(first);
    }
    // Encoding happens outside the lock; only the cache update is inside it.
    std::vector<Entry> entries;
    entries.reserve(msgs.size());
    for (const Message* m : msgs) {
        entries.push_back(make_entry(*m));
        d->events.push_back(entries.back().event);
        d->ids.push_back(m->id);
        if (std::find(d->senders.begin(), d->senders.end(), m->user_id) == d->senders.end())
            d->senders.push_back(m->user_id);
    }
    std::lock_guard lk(mu_);
    if (gap) cache_.clear();
    for (size_t i = 0; i < msgs.size(); ++i) {
        cache_.push_back(std::move(entries[i]));
        if (cache_.size() > cache_cap_) cache_.pop_front();
        push_legacy(*msgs[i]);
    }
    if (!msgs.empty()) delivered_ = msgs.back()->id;
    if (legacy_streams_ > 0) d->legacy = legacy_event_locked();
    return d;
}

Snapshot Room::base_locked() const {
    Snapshot s;
    s.delivered = delivered_;
    s.cache_first = cache_.empty() ? delivered_ + 1 : cache_.front().id;
    return s;
}

Snapshot Room::since(uint64_t after) {
    std::lock_guard lk(mu_);
    Snapshot s = base_locked();
    auto it = std::upper_bound(cache_.begin(), cache_.end(), after,
                               [](uint64_t v, const Entry& e) { return v < e.id; });
    s.entries.assign(it, cache_.end());
    return s;
}

Snapshot Room::last(size_t k) {
    std::lock_guard lk(mu_);
    Snapshot s = base_locked();
    size_t n = std::min(k, cache_.size());
    s.entries.assign(cache_.end() - static_cast<std::ptrdiff_t>(n), cache_.end());
    return s;
}

Snapshot Room::open_legacy() {
    std::lock_guard lk(mu_);
    ++legacy_streams_;  // under the same lock as the snapshot, so no commit misses this stream
    Snapshot s = base_locked();
    s.legacy = legacy_event_locked();
    return s;
}

uint64_t Room::delivered() {
    std::lock_guard lk(mu_);
    return delivered_;
}

int Room::join(const std::string& user) {
    std::lock_guard lk(mu_);
    return ++online_[user] == 1 ? static_cast<int>(online_.size()) : -1;
}

int Room::leave(const std::string& user) {
    std::lock_guard lk(mu_);
    auto it = online_.find(user);
    if (it == online_.end() || --it->second > 0) return -1;
    online_.erase(it);
    return static_cast<int>(online_.size());
}

std::vector<std::string> Room::online() {
    std::lock_guard lk(mu_);
    std::vector<std::string> out;
    for (const auto& [u, n] : online_) out.push_back(u);
    return out;
}

size_t Room::online_count() {
    std::lock_guard lk(mu_);
    return online_.size();
}

void Room::close_legacy() {
    std::lock_guard lk(mu_);
    --legacy_streams_;
}

}  // namespace ssechat::chat
