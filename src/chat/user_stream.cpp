// User streams (GET /me/events): one stream for every room a user is in. The per-room index on
// each shard points at the user's Member; a flush hands each user stream its rooms' events in
// commit order, with the cursor of each event's position as its id, so that a resume is exact
// across all rooms at once.
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <tuple>

#include "chat/hub.hpp"
#include "chat/metrics.hpp"
#include "chat/resets.hpp"
#include "chat/shard.hpp"

namespace ssechat::chat {

namespace asio = boost::asio;

UserStream::UserStream(sse::Conn conn, size_t limit, Shard& s, std::string u, model::RoomScope sc)
    : sse::Stream(std::move(conn), limit), shard(s), user(std::move(u)), scope(std::move(sc)) {}

void UserStream::on_closed() {
    shard.remove(this);
    tickets.clear();
}

void UserStream::on_overflow() {
    metrics().slow_disconnects.fetch_add(1, std::memory_order_relaxed);
}

namespace {
sse::Buffer buffer(std::string s) {
    return std::make_shared<const std::string>(std::move(s));
}

}  // namespace

void UserStreams::index(Member* m, std::shared_ptr<Room> room) {
    auto& subs = shard_.rooms().rooms[room.get()];
    m->rooms.emplace_back(room.get(), static_cast<uint32_t>(subs.users.size()));
    subs.users.push_back(m);
    if (!subs.hold) subs.hold = std::move(room);
    int online = m->rooms.back().first->join_member(&m->user);
    if (online >= 0) shard_.hub().presence(subs.hold, m->user, true, online);
}

void UserStreams::unindex(Member* m, size_t i) {
    Room* room = m->rooms[i].first;
    size_t slot = m->rooms[i].second;
    m->rooms[i] = m->rooms.back();
    m->rooms.pop_back();
    auto& index = shard_.rooms();
    auto* subs = index.find(room);
    if (!subs) return;
    auto& list = subs->users;
    if (slot < list.size() && list[slot] == m) {
        // The member moved into the slot learns its new place in this room's index.
        Member* moved = list.back();
        list[slot] = moved;
        list.pop_back();
        if (moved != m)
            for (auto& [r, sl] : moved->rooms)
                if (r == room) sl = static_cast<uint32_t>(slot);
    }
    std::shared_ptr<Room> held = subs->hold;
    bool last = list.empty();
    if (last) subs->hold.reset();
    index.drop_if_empty(room);
    Hub& hub = shard_.hub();
    int online = room->leave_member(&m->user);
    if (online >= 0) hub.presence(held, m->user, false, online);
    if (last) hub.release(held);
}

void UserStreams::subscribe(sse::Conn conn, std::string user, model::RoomScope scope,
                            std::optional<std::string> cursor, sse::Buffer head, Slots tickets) {
    shard_.limit_sndbuf(conn);
    auto st = std::make_shared<UserStream>(std::move(conn), shard_.hub().config().stream_buffer,
                                           shard_, std::move(user), std::move(scope));
    st->tickets = std::move(tickets);
    std::vector<sse::Buffer> out;
    if (head) out.push_back(std::move(head));
    out.push_back(shard_.retry());
    const size_t preamble = out.size();
    // Every room the user is in is indexed (the Member serves all their streams here); the
    // stream itself tells only of those its scope covers.
    std::vector<std::shared_ptr<Room>> rooms;
    try {
        rooms = start(*st, cursor, out);
    } catch (const store::StoreError&) {
        // As a room stream does: end at once, and the client comes back with its cursor.
        out.resize(preamble);
        out.push_back(buffer(sse::comment("store unavailable")));
        st->open(out);
        st->close();
        return;
    }
    join_member(*st, std::move(rooms));
    metrics().streams_user.fetch_add(1, std::memory_order_relaxed);
    st->open(out);
    // Revoked while this was on its way here: end_revoked() may have run before it.
    if (st->tickets.revoked()) st->close();
}

std::vector<std::shared_ptr<Room>> UserStreams::start(UserStream& st,
                                                      const std::optional<std::string>& cursor,
                                                      std::vector<sse::Buffer>& out) {
    Hub& hub = shard_.hub();
    auto& seq = hub.sequence();
    std::vector<std::shared_ptr<Room>> rooms;
    std::vector<store::Membership> joined = hub.store().memberships(st.user);
    std::vector<size_t> shown;  // indexes into joined/rooms of the rooms this stream tells of
    for (size_t i = 0; i < joined.size(); ++i) {
        auto r = hub.room(joined[i].room);
        if (!r) throw store::StoreError("every room this server can hold is in use");
        rooms.push_back(std::move(r));
        if (st.scope.covers(joined[i].room)) shown.push_back(i);
    }
    // Where every room stands, at one position: everything up to it is replayed (or in the
    // snapshot), everything after it comes live, for all the rooms alike.
    std::optional<uint64_t> from;
    uint64_t now;
    std::vector<Snapshot> snaps;
    // With a shared store, a room just loaded may hold events this node's feed has not
    // passed yet; waiting (briefly) for the feed to get there keeps every snapshot within the
    // position the stream starts from. A cursor from another node may be ahead of this one's
    // feed, too: it is valid up to the store's position.
    uint64_t stored = hub.store().cluster() ? hub.store().last_pos() : 0;
    {
        std::unique_lock lk(seq.mu);
        if (stored > seq.pos)
            seq.moved.wait_for(lk, std::chrono::seconds(1), [&] { return seq.pos >= stored; });
        now = seq.pos;
        if (cursor) from = model::parse_cursor(*cursor, seq.epoch, std::max(now, stored));
        if (from)
            for (size_t i : shown)
                snaps.push_back(rooms[i]->since_pos(std::max(*from, joined[i].since)));
        ++seq.user_streams;
        ++seq.streaming[st.user];
        st.counted = true;
        st.gaps_before = seq.gaps;
    }
    // A cursor ahead of the feed here: what lies between comes live and was seen.
    st.last_pos = from ? std::max(now, *from) : now;
    if (!from) {
        // A fresh stream, or a cursor this store did not write: where every room stands.
        std::vector<store::Membership> listed;
        for (size_t i : shown) listed.push_back(joined[i]);
        if (cursor) out.push_back(user_reset_all());
        out.push_back(buffer(sse::encode("rooms", model::cursor(seq.epoch, now),
                                         model::rooms_json(hub.summaries(st.user, listed)))));
        return rooms;
    }
    // Each room from where the cursor left it (or from the join, for a room joined since),
    // merged by position so the stream's order is the commit order.
    std::vector<std::pair<uint64_t, sse::Buffer>> items;
    for (size_t k = 0; k < shown.size(); ++k)
        replay_room(*rooms[shown[k]], snaps[k], joined[shown[k]], *from, out, items);
    std::stable_sort(items.begin(), items.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [p, b] : items) out.push_back(std::move(b));
    return rooms;
}

void UserStreams::join_member(UserStream& st, std::vector<std::shared_ptr<Room>> rooms) {
    auto& m = members_[st.user];
    if (!m) {
        // The user's first user stream here: they are in their rooms' indexes, and online.
        m = std::make_unique<Member>();
        m->user = st.user;
        m->rooms.reserve(rooms.size());
        for (auto& r : rooms) index(m.get(), std::move(r));
    }
    st.member = m.get();
    st.slot = m->streams.size();
    m->streams.push_back(&st);
}

void UserStreams::replay_room(const Room& r, const Snapshot& snap, const store::Membership& joined,
                              uint64_t from, std::vector<sse::Buffer>& out,
                              std::vector<std::pair<uint64_t, sse::Buffer>>& items) {
    Hub& hub = shard_.hub();
    const std::string& epoch = hub.sequence().epoch;
    const size_t cap = hub.config().max_replay;
    uint64_t after = std::max(from, joined.since);
    if (joined.since > from) {
        out.push_back(buffer(sse::encode(model::kind_name(Kind::Joined), "",
                                         model::joined_json(r.name(), joined.read))));
    }
    std::vector<Event> older;
    bool reset = false;
    uint64_t oldest = 0;
    if (!snap.covered) {
        metrics().store_reads_replay.fetch_add(1, std::memory_order_relaxed);
        auto first = hub.store().first_after(r.name(), after);
        uint64_t start = first ? std::min(*first, snap.cache_first) : snap.cache_first;
        uint64_t got = start < snap.cache_first
                           ? shard_.backfill(r.name(), start, snap.cache_first, cap, older)
                           : snap.cache_first;
        // More than --max-replay behind (the newest were read), or what came before the
        // first event found was trimmed: whether that was after the cursor cannot be told,
        // so the room says where it starts again.
        if (got > start ||
            (got > 1 && hub.store().range(r.name(), got - 2, got, 1, false).empty())) {
            reset = true;
            oldest = got;
        }
    }
    // The room's replay, bounded as a room stream's is: the newest `cap`.
    std::vector<std::tuple<uint64_t, uint64_t, sse::Buffer>> mine;  // id, pos, event
    for (const auto& e : older)
        mine.emplace_back(e.id, e.pos,
                          buffer(sse::encode(model::kind_name(e.kind), model::cursor(epoch, e.pos),
                                             model::event_json(e))));
    for (const auto& e : snap.entries) mine.emplace_back(e.id, e.pos, user_form(e, epoch));
    if (mine.size() > cap) {
        mine.erase(mine.begin(), mine.end() - static_cast<std::ptrdiff_t>(cap));
        reset = true;
        oldest = std::get<0>(mine.front());
    }
    for (auto& [id, p, b] : mine) items.emplace_back(p, std::move(b));
    if (reset) out.push_back(user_room_reset(r.name(), oldest));
}

void UserStreams::remove(UserStream* s) {
    if (s->counted) {
        auto& seq = shard_.hub().sequence();
        std::lock_guard lk(seq.mu);
        --seq.user_streams;
        if (--seq.streaming[s->user] == 0) seq.streaming.erase(s->user);
        s->counted = false;
    }
    Member* m = s->member;
    if (!m) return;
    s->member = nullptr;
    metrics().streams_user.fetch_sub(1, std::memory_order_relaxed);
    auto& list = m->streams;
    list[s->slot] = list.back();
    list[s->slot]->slot = s->slot;
    list.pop_back();
    if (!list.empty()) return;
    // The user's last user stream: out of the indexes, and offline in those rooms.
    while (!m->rooms.empty()) unindex(m, m->rooms.size() - 1);
    members_.erase(std::string(m->user));
}

void UserStreams::membership(const std::string& user, const std::shared_ptr<Room>& room,
                             bool joined, const sse::Buffer& event) {
    auto it = members_.find(user);
    if (it == members_.end()) return;
    Member* m = it->second.get();
    size_t i = 0;
    while (i < m->rooms.size() && m->rooms[i].first != room.get()) ++i;
    bool known = joined ? i < m->rooms.size() : i == m->rooms.size();
    // Already so: the user's streams here opened after the change was stored and before this
    // word of it came (from the cluster feed, which may lag the store), so they read the
    // room from the store and told their clients then. Telling them again would say it twice.
    if (known) return;
    if (joined)
        index(m, room);
    else
        unindex(m, i);
    for (UserStream* s : m->streams)
        if (s->scope.covers(room->name())) s->send(event);
}

void UserStreams::to_user(const std::string& user, const std::string& room,
                          const sse::Buffer& event) {
    auto it = members_.find(user);
    if (it == members_.end()) return;
    for (UserStream* s : it->second->streams)
        if (s->scope.covers(room)) s->send(event);
}

void UserStreams::heartbeat(const sse::Buffer& ping,
                            std::chrono::steady_clock::time_point idle_since) {
    for (auto& [user, m] : members_)
        for (UserStream* s : m->streams)
            if (s->last_write() <= idle_since) s->send(ping);
}

void UserStreams::collect(const std::function<bool(const Slots&)>& out,
                          std::vector<std::shared_ptr<UserStream>>& into) {
    for (auto& [user, m] : members_)
        for (UserStream* s : m->streams)
            if (out(s->tickets))
                into.push_back(std::static_pointer_cast<UserStream>(s->shared_from_this()));
}

void UserStreams::flush(const std::vector<std::shared_ptr<const Delivery>>& held) {
    if (members_.empty()) return;
    gather_.clear();
    auto& index = shard_.rooms();
    for (const auto& d : held) {
        auto* subs = index.find(d->room.get());
        if (!subs) continue;
        for (Member* m : subs->users)
            for (UserStream* s : m->streams)
                if (s->scope.covers(d->room->name())) gather_.emplace_back(s, d.get());
    }
    // Per stream, its deliveries in the order they came.
    std::stable_sort(gather_.begin(), gather_.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    const std::string& epoch = shard_.hub().sequence().epoch;
    std::vector<std::shared_ptr<UserStream>> cut;
    uint64_t count = 0;
    for (size_t i = 0; i < gather_.size();) {
        UserStream* s = gather_[i].first;
        ordered_.clear();
        bool gap = false;
        // Each room's delivery is in position order, but one commit's positions interleave
        // across its rooms: the stream gets them merged, so that its cursor only rises and a
        // resume from any event misses nothing. An event that is not stored keeps its place
        // after the stored one it followed.
        uint64_t last = s->last_pos;
        for (; i < gather_.size() && gather_[i].first == s; ++i) {
            const Delivery& d = *gather_[i].second;
            // A gap or a fill cuts the streams that were open when it was sequenced; one that
            // started after it (its flush reaching a stream indexed meanwhile) has it in its
            // snapshot, and cutting that stream would end one that missed nothing.
            gap = gap || (d.gap && d.sequenced > s->gaps_before);
            uint64_t after = s->last_pos;
            for (size_t k = 0; k < d.ids.size(); ++k) {
                if (d.ids[k] != 0) {
                    // At or before the stream's start: in its replay already.
                    if (d.pos[k] == 0 || d.pos[k] <= s->last_pos) continue;
                    after = d.pos[k];
                    last = std::max(last, after);
                    ordered_.emplace_back(
                        after, d.user_events[k]
                                   ? d.user_events[k]
                                   : buffer(sse::replace_id(*d.events[k],
                                                            model::cursor(epoch, d.pos[k]))));
                } else if (d.skip_user != s->user) {
                    ordered_.emplace_back(after, d.events[k]);
                }
            }
        }
        s->last_pos = last;
        std::stable_sort(ordered_.begin(), ordered_.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        scratch_.clear();
        for (auto& [p, b] : ordered_) scratch_.push_back(std::move(b));
        if (gap) {
            // The cluster feed skipped ids (a trimmed log): a resume by cursor reads them from
            // the store in order, which a live stream cannot.
            cut.push_back(std::static_pointer_cast<UserStream>(s->shared_from_this()));
            continue;
        }
        if (!scratch_.empty()) {
            s->send(scratch_);
            ++count;
        }
    }
    metrics().deliveries.fetch_add(count, std::memory_order_relaxed);
    for (auto& s : cut) s->close();
}

}  // namespace ssechat::chat
