// Room: one mutex per room, taken once per commit batch and once per new stream; never on the
// per-recipient delivery path.
#include "chat/room.hpp"

#include <algorithm>
#include <boost/json.hpp>

#include "chat/resets.hpp"

namespace ssechat::chat {

Room::Room(std::string name, uint64_t last_id, size_t cache_cap, std::unique_ptr<View> view,
           size_t shard)
    : name_(std::move(name)),
      shard_(shard),
      cache_cap_(cache_cap),
      view_(std::move(view)),
      assigned_(last_id),
      delivered_(last_id) {}

Entry Room::make_entry(const Event& e, const Sequence* seq) const {
    std::string json = model::event_json(e);
    Entry out{e.id, e.kind, e.target, e.pos, room_form(e, json), nullptr};
    if (seq && e.pos)
        out.user_event = std::make_shared<const std::string>(
            sse::encode(model::kind_name(e.kind), seq->cursor_at(shard_, e.pos), json));
    return out;
}

sse::Buffer room_form(const Event& e, std::string_view json) {
    return std::make_shared<const std::string>(
        sse::encode(model::kind_name(e.kind), std::to_string(e.id), json));
}

namespace {
// The cached event with the text of a deleted message taken out: a message becomes its
// tombstone, an edit keeps its fields with an empty text. Deletes are rare, so the JSON is
// read back from the event rather than kept beside every entry.
sse::Buffer without_text(const Entry& e) {
    const std::string& ev = *e.event;
    size_t at = ev.find("data: ");
    if (at == std::string::npos) return e.event;
    size_t end = ev.find('\n', at);
    boost::json::error_code ec;
    auto v = boost::json::parse(std::string_view(ev).substr(at + 6, end - at - 6), ec);
    if (ec || !v.is_object()) return e.event;
    auto& o = v.as_object();
    model::Event x;
    x.id = e.id;
    x.kind = e.kind;
    x.target = e.target;
    if (auto* r = o.if_contains("room"); r && r->is_string()) x.room = r->as_string();
    if (auto* u = o.if_contains("user_id"); u && u->is_string()) x.user_id = u->as_string();
    if (auto* t = o.if_contains("ts"); t && t->is_int64()) x.ts = t->as_int64();
    x.deleted = e.kind == Kind::Message;
    return room_form(x, model::event_json(x));
}
}  // namespace

void Room::cache_push(Entry e) {
    if (e.kind != Kind::Message) ++changes_;
    cache_.push_back(std::move(e));
    if (cache_.size() > cache_cap_) {
        if (cache_.front().kind != Kind::Message) --changes_;
        cache_.pop_front();
    }
}

void Room::erase_cached(uint64_t target) {
    for (auto& e : cache_)
        if ((e.kind == Kind::Message && e.id == target) ||
            (e.kind == Kind::Edit && e.target == target)) {
            e.event = without_text(e);
            e.user_event = nullptr;  // made again from the erased event when needed
        }
}

void Room::warm(const std::vector<Event>& recent, const std::vector<Event>& view_tail) {
    std::lock_guard lk(mu_);
    for (const auto& e : recent) cache_push(make_entry(e));
    if (view_) view_->warm(view_tail);
    // A shared store may have taken more events between reading the last id and the cache.
    if (!recent.empty() && recent.back().id > delivered_) delivered_ = assigned_ = recent.back().id;
}

std::shared_ptr<Delivery> Room::commit(const std::vector<const Event*>& events, bool gap,
                                       const Sequence* seq) {
    auto d = std::make_shared<Delivery>();
    d->room = shared_from_this();
    d->gap = gap;
    if (gap && !events.empty()) {
        // Same id as the first event: a stream past it skips both, one before gets both.
        uint64_t first = events.front()->id;
        d->events.push_back(room_reset(first));
        d->ids.push_back(first);
        d->pos.push_back(0);
        d->user_events.push_back(nullptr);
    }
    // Encoding happens outside the lock; only the cache update is inside it.
    std::vector<Entry> entries;
    entries.reserve(events.size());
    for (const Event* e : events) {
        entries.push_back(make_entry(*e, seq));
        d->events.push_back(entries.back().event);
        d->user_events.push_back(entries.back().user_event);
        d->ids.push_back(e->id);
        d->pos.push_back(e->pos);
    }
    std::lock_guard lk(mu_);
    if (gap) {
        cache_.clear();
        changes_ = 0;
    }
    bool view_changed = false;
    for (size_t i = 0; i < events.size(); ++i) {
        const Event& e = *events[i];
        if (e.kind == Kind::Delete) erase_cached(e.target);
        cache_push(std::move(entries[i]));
        if (view_ && view_->apply(e)) {
            view_changed = true;
            if (std::find(d->authors.begin(), d->authors.end(), e.user_id) == d->authors.end())
                d->authors.push_back(e.user_id);
        }
    }
    if (!events.empty()) delivered_ = events.back()->id;
    if (view_changed && view_streams_ > 0) {
        d->view = view_->render();
        d->quiet_to_authors = view_->quiet_to_authors();
    }
    return d;
}

Snapshot Room::base_locked() const {
    Snapshot s;
    s.delivered = delivered_;
    s.cache_first = cache_.empty() ? delivered_ + 1 : cache_.front().id;
    s.messages_only = changes_ == 0;
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

Snapshot Room::since_pos(uint64_t pos) {
    std::lock_guard lk(mu_);
    Snapshot s = base_locked();
    // Positions increase with ids within a room (events from before positions have 0).
    auto it = std::upper_bound(cache_.begin(), cache_.end(), pos,
                               [](uint64_t v, const Entry& e) { return v < e.pos; });
    s.entries.assign(it, cache_.end());
    s.covered = delivered_ == 0 || s.cache_first == 1 || it != cache_.begin();
    return s;
}

Snapshot Room::last(size_t k) {
    std::lock_guard lk(mu_);
    Snapshot s = base_locked();
    size_t n = std::min(k, cache_.size());
    s.entries.assign(cache_.end() - static_cast<std::ptrdiff_t>(n), cache_.end());
    return s;
}

Snapshot Room::open_view() {
    std::lock_guard lk(mu_);
    ++view_streams_;  // under the same lock as the snapshot, so no commit misses this stream
    Snapshot s = base_locked();
    s.view = view_->render();
    return s;
}

uint64_t Room::delivered() {
    std::lock_guard lk(mu_);
    return delivered_;
}

namespace {
auto by_name = [](const std::string* a, const std::string& b) { return *a < b; };
bool name_less(const std::string* a, const std::string* b) {
    return *a < *b;
}
}  // namespace

bool Room::member_online_locked(const std::string& user) const {
    auto it = std::lower_bound(members_online_.begin(), members_online_.end(), user, by_name);
    return it != members_online_.end() && **it == user;
}

int Room::join(const std::string& user) {
    std::lock_guard lk(mu_);
    if (++online_[user] != 1) return -1;
    if (member_online_locked(user)) {
        ++overlap_;  // online already, through a user stream
        return -1;
    }
    return static_cast<int>(online_locked());
}

int Room::leave(const std::string& user) {
    std::lock_guard lk(mu_);
    auto it = online_.find(user);
    if (it == online_.end() || --it->second > 0) return -1;
    online_.erase(it);
    if (member_online_locked(user)) {
        --overlap_;  // still online, through a user stream
        return -1;
    }
    return static_cast<int>(online_locked());
}

int Room::join_member(const std::string* user) {
    std::lock_guard lk(mu_);
    // A user's members on several loops (TLS user streams stay on the loop that accepted
    // them) each have an entry; the user counts once.
    auto [lo, hi] =
        std::equal_range(members_online_.begin(), members_online_.end(), user, name_less);
    if (std::find(lo, hi, user) != hi) return -1;
    bool first = lo == hi;
    members_online_.insert(hi, user);
    if (!first) return -1;
    ++distinct_members_;
    if (online_.contains(*user)) {
        ++overlap_;
        return -1;
    }
    return static_cast<int>(online_locked());
}

int Room::leave_member(const std::string* user) {
    std::lock_guard lk(mu_);
    auto [lo, hi] =
        std::equal_range(members_online_.begin(), members_online_.end(), user, name_less);
    auto it = std::find(lo, hi, user);
    if (it == hi) return -1;
    bool last = hi - lo == 1;
    members_online_.erase(it);
    if (members_online_.empty()) members_online_.shrink_to_fit();
    if (!last) return -1;
    --distinct_members_;
    if (online_.contains(*user)) {
        --overlap_;
        return -1;
    }
    return static_cast<int>(online_locked());
}

std::vector<std::string> Room::online() {
    std::lock_guard lk(mu_);
    std::vector<std::string> out;
    auto m = members_online_.begin();
    auto add = [&](const std::string& u) {
        if (out.empty() || out.back() != u) out.push_back(u);
    };
    for (const auto& [u, n] : online_) {
        for (; m != members_online_.end() && **m < u; ++m) add(**m);
        while (m != members_online_.end() && **m == u) ++m;
        add(u);
    }
    for (; m != members_online_.end(); ++m) add(**m);
    return out;
}

size_t Room::online_count() {
    std::lock_guard lk(mu_);
    return online_locked();
}

namespace {
constexpr int64_t kTypingLapseMs = 6000;  // a typing state lasts this long unless renewed
constexpr int64_t kTypingGapMs = 2000;    // at most one typing event per user per this
}  // namespace

std::optional<bool> Room::typing(const std::string& user, bool on, int64_t now) {
    std::lock_guard lk(mu_);
    auto& t = typing_[user];
    if (on) t.expires = now + kTypingLapseMs;
    t.want = on;
    // The same as the others know (a renewal, or a change undone in time): nothing to send.
    if (t.want == t.sent || now < t.next_ok) return std::nullopt;
    t.sent = t.want;
    t.next_ok = now + kTypingGapMs;
    return t.sent;
}

std::vector<std::pair<std::string, bool>> Room::typing_due(int64_t now) {
    std::lock_guard lk(mu_);
    std::vector<std::pair<std::string, bool>> out;
    for (auto it = typing_.begin(); it != typing_.end();) {
        auto& t = it->second;
        if (t.want && t.expires <= now) t.want = false;
        if (t.want != t.sent && now >= t.next_ok) {
            t.sent = t.want;
            t.next_ok = now + kTypingGapMs;
            out.emplace_back(it->first, t.sent);
        }
        // An entry that says nothing and waits for nothing is forgotten.
        if (!t.want && !t.sent && now >= t.next_ok)
            it = typing_.erase(it);
        else
            ++it;
    }
    return out;
}

bool Room::anyone_typing() {
    std::lock_guard lk(mu_);
    return !typing_.empty() || !receipts_.empty();
}

namespace {
constexpr int64_t kReceiptGapMs = 1000;  // at most one receipt per user per this
}  // namespace

std::optional<uint64_t> Room::receipt(const std::string& user, uint64_t id, int64_t now) {
    std::lock_guard lk(mu_);
    auto& r = receipts_[user];
    r.want = std::max(r.want, id);
    if (r.want == r.sent || now < r.next_ok) return std::nullopt;
    r.sent = r.want;
    r.next_ok = now + kReceiptGapMs;
    return r.sent;
}

std::vector<std::pair<std::string, uint64_t>> Room::receipts_due(int64_t now) {
    std::lock_guard lk(mu_);
    std::vector<std::pair<std::string, uint64_t>> out;
    for (auto it = receipts_.begin(); it != receipts_.end();) {
        auto& r = it->second;
        if (r.want != r.sent && now >= r.next_ok) {
            r.sent = r.want;
            r.next_ok = now + kReceiptGapMs;
            out.emplace_back(it->first, r.sent);
        }
        // Nothing held and the gap over: forgotten (the next receipt goes out at once).
        if (r.want == r.sent && now >= r.next_ok)
            it = receipts_.erase(it);
        else
            ++it;
    }
    return out;
}

void Room::close_view() {
    std::lock_guard lk(mu_);
    --view_streams_;
}

void Room::set_roster(model::Roster r) {
    std::lock_guard lk(rules_mu_);
    roster_ = std::move(r);
}

void Room::apply(const store::MemberOp& op) {
    std::lock_guard lk(rules_mu_);
    store::apply(roster_, op);
}

model::Visibility Room::visibility() {
    std::lock_guard lk(rules_mu_);
    return roster_.visibility();
}

model::Standing Room::standing(std::string_view user, model::Role server, int64_t now_ms) {
    std::lock_guard lk(rules_mu_);
    return roster_.standing(user, server, now_ms);
}

}  // namespace ssechat::chat
