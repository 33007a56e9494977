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
        last_pos_ = std::max(last_pos_, e.pos);
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
    if (it == rooms_.end() || empty_range(after, before, limit)) return out;
    auto [lo, hi] = slice(it->second.events, after, before);
    auto n = std::min<size_t>(limit, static_cast<size_t>(hi - lo));
    if (newest) lo = hi - static_cast<std::ptrdiff_t>(n);
    out.assign(lo, lo + static_cast<std::ptrdiff_t>(n));
    for (auto& e : out) e.reactions.clear();
    return out;
}

std::vector<model::Event> MemoryStore::messages(const std::string& room, uint64_t after,
                                                uint64_t before, size_t limit, bool newest) {
    return pick(room, after, before, limit, newest, false);
}

std::vector<model::Event> MemoryStore::shown(const std::string& room, uint64_t after,
                                             uint64_t before, size_t limit, bool newest) {
    return pick(room, after, before, limit, newest, true);
}

std::vector<model::Event> MemoryStore::pick(const std::string& room, uint64_t after,
                                            uint64_t before, size_t limit, bool newest,
                                            bool rules) {
    std::lock_guard lk(mu_);
    std::vector<model::Event> out;
    auto it = rooms_.find(room);
    if (it == rooms_.end() || empty_range(after, before, limit)) return out;
    auto [lo, hi] = slice(it->second.events, after, before);
    auto wanted = [&](const model::Event& e) {
        return e.kind == model::Kind::Message || (rules && model::rules_kind(e.kind));
    };
    if (newest) {
        for (auto p = hi; p != lo && out.size() < limit;)
            if (wanted(*--p)) out.push_back(*p);
        std::reverse(out.begin(), out.end());
    } else {
        for (auto p = lo; p != hi && out.size() < limit; ++p)
            if (wanted(*p)) out.push_back(*p);
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

namespace ssechat::store {

uint64_t MemoryStore::last_pos(size_t) {
    std::lock_guard lk(mu_);
    return last_pos_;
}

std::optional<uint64_t> MemoryStore::first_after(const std::string& room, uint64_t pos) {
    std::lock_guard lk(mu_);
    auto it = rooms_.find(room);
    if (it == rooms_.end()) return std::nullopt;
    const auto& ev = it->second.events;
    // Positions increase with ids within a room; events from before positions have 0.
    auto p = std::upper_bound(ev.begin(), ev.end(), pos,
                              [](uint64_t v, const model::Event& e) { return v < e.pos; });
    if (p == ev.end()) return std::nullopt;
    return p->id;
}

std::vector<model::Event> MemoryStore::log_after(size_t, uint64_t pos, size_t limit) {
    std::lock_guard lk(mu_);
    std::vector<model::Event> out;
    if (pos >= last_pos_) return out;  // the common answer, without a scan of every room
    for (const auto& [name, log] : rooms_) {
        auto p = std::upper_bound(log.events.begin(), log.events.end(), pos,
                                  [](uint64_t v, const model::Event& e) { return v < e.pos; });
        for (; p != log.events.end(); ++p) out.push_back(*p);
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.pos < b.pos; });
    if (out.size() > limit) out.resize(limit);
    return out;
}

void MemoryStore::members(std::vector<MemberOp>& ops) {
    std::lock_guard lk(mu_);
    for (auto& op : ops) apply(op);
}

void MemoryStore::apply(MemberOp& op) {
    using R = MemberOp::Result;
    using Op = MemberOp::Op;
    op.result = R::Done;
    if (op.op == Op::Settings) {
        settings_[op.user] = op.settings;
        return;
    }
    auto& roster = rosters_[op.room];
    auto& mine = members_[op.user];
    auto it = mine.find(op.room);
    auto drop = [&] {
        op.read = it->second.read;
        mine.erase(it);
        readers_[op.room].erase(op.user);
        if (readers_[op.room].empty()) readers_.erase(op.room);
    };
    switch (op.op) {
        case Op::Join:
        case Op::Add:
            op.was_member = it != mine.end();
            if (it != mine.end()) {
                op.read = it->second.read;
                if (op.op == Op::Join || roster.role(op.user) == op.role) op.result = R::Unchanged;
            } else if (mine.size() >= op.max_rooms) {
                op.result = R::TooMany;
            } else {
                mine.emplace(op.room, Membership{op.room, op.id, op.pos});
                readers_[op.room][op.user] = op.id;
                op.read = op.id;
            }
            break;
        case Op::Leave:
            if (it == mine.end())
                op.result = R::NotMember;
            else
                drop();
            break;
        case Op::Read:
            if (it == mine.end()) {
                op.result = R::NotMember;
            } else if (it->second.read >= op.id) {
                op.result = R::Unchanged;  // markers never move back
                op.read = it->second.read;
            } else {
                it->second.read = op.id;
                readers_[op.room][op.user] = op.id;
                op.read = op.id;
            }
            break;
        case Op::Ban:
            op.was_member = it != mine.end();
            if (op.was_member) drop();
            break;
        case Op::Unban:
        case Op::Unmute:
            if (!(op.op == Op::Unban ? roster.bans : roster.mutes).contains(op.user))
                op.result = R::NotMember;
            break;
        case Op::Mute:
        case Op::Profile:
        case Op::Settings:
            break;
    }
    if (op.result == R::Done) store::apply(roster, op);
    if (mine.empty()) members_.erase(op.user);
    if (!roster.profile && roster.members.empty() && roster.bans.empty() && roster.mutes.empty())
        rosters_.erase(op.room);
}

model::Roster MemoryStore::roster(const std::string& room) {
    std::lock_guard lk(mu_);
    auto it = rosters_.find(room);
    return it == rosters_.end() ? model::Roster{} : it->second;
}

model::Roster MemoryStore::roster_of(const std::string& room, const std::string& user) {
    std::lock_guard lk(mu_);
    model::Roster out;
    auto it = rosters_.find(room);
    if (it == rosters_.end()) return out;
    const auto& r = it->second;
    out.profile = r.profile;
    if (auto m = r.members.find(user); m != r.members.end()) out.members.insert(*m);
    if (auto b = r.bans.find(user); b != r.bans.end()) out.bans.insert(*b);
    if (auto m = r.mutes.find(user); m != r.mutes.end()) out.mutes.insert(*m);
    return out;
}

std::optional<model::Profile> MemoryStore::profile(const std::string& room) {
    std::lock_guard lk(mu_);
    auto it = rosters_.find(room);
    return it == rosters_.end() ? std::nullopt : it->second.profile;
}

Settings MemoryStore::settings(const std::string& user) {
    std::lock_guard lk(mu_);
    auto it = settings_.find(user);
    return it == settings_.end() ? Settings{} : it->second;
}

std::vector<Membership> MemoryStore::memberships(const std::string& user) {
    std::lock_guard lk(mu_);
    std::vector<Membership> out;
    if (auto it = members_.find(user); it != members_.end())
        for (const auto& [room, m] : it->second) out.push_back(m);
    return out;
}

std::vector<std::pair<std::string, uint64_t>> MemoryStore::receipts(const std::string& room) {
    std::lock_guard lk(mu_);
    std::vector<std::pair<std::string, uint64_t>> out;
    if (auto it = readers_.find(room); it != readers_.end())
        out.assign(it->second.begin(), it->second.end());
    return out;
}

Unread MemoryStore::unread(const std::string& room, const std::string& user, uint64_t after,
                           size_t cap) {
    std::lock_guard lk(mu_);
    Unread u;
    auto it = rooms_.find(room);
    if (it == rooms_.end()) return u;
    auto [lo, hi] = slice(it->second.events, after, UINT64_MAX);
    for (auto p = lo; p != hi; ++p) {
        if (p->kind != model::Kind::Message || p->deleted || p->user_id == user) continue;
        if (u.unread == cap) {
            u.unread_more = u.mentions_more = true;
            break;
        }
        ++u.unread;
        if (model::mentions(p->text, user)) ++u.mentions;
    }
    return u;
}

std::vector<model::SearchHit> MemoryStore::search(const model::SearchQuery& q,
                                                  const std::vector<std::string>& rooms,
                                                  int64_t before, size_t limit) {
    // A scan of every message of the rooms: the store for tests and throwaway runs.
    std::vector<model::SearchHit> out;
    std::lock_guard lk(mu_);
    for (const auto& room : rooms) {
        auto it = rooms_.find(room);
        if (it == rooms_.end()) continue;
        size_t found = 0;
        const auto& events = it->second.events;
        for (auto e = events.rbegin(); e != events.rend() && found < limit; ++e) {
            if (e->kind != model::Kind::Message || e->deleted) continue;
            auto at = static_cast<int64_t>(std::min<uint64_t>(e->pos, INT64_MAX));
            if (at >= before) continue;
            if (!q.from.empty() && e->user_id != q.from) continue;
            if (!model::search_matches(e->text, q)) continue;
            out.push_back({room, e->id, e->user_id, e->ts, model::search_snippet(e->text, q), at});
            ++found;
        }
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.at > b.at; });
    if (out.size() > limit) out.resize(limit);
    return out;
}

}  // namespace ssechat::store
