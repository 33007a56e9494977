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
    // The user's joins and leaves made on other nodes come through the feed from now on:
    // asked for before their rooms are read, so none falls between.
    hub.reach().watch(st.user, true);
    st.watched = true;
    std::vector<std::shared_ptr<Room>> rooms;
    std::vector<store::Membership> joined = hub.store().memberships(st.user);
    std::vector<size_t> shown;  // indexes into joined/rooms of the rooms this stream tells of
    for (size_t i = 0; i < joined.size(); ++i) {
        auto r = hub.room(joined[i].room);
        if (!r) throw store::StoreError("every room this server can hold is in use");
        rooms.push_back(std::move(r));
        if (st.scope.covers(joined[i].room)) shown.push_back(i);
    }
    // Where every room stands, at one position per store shard: everything up to it is
    // replayed (or in the snapshot), everything after it comes live, for all the rooms alike.
    std::optional<model::Positions> from;
    model::Positions now;
    std::vector<Snapshot> snaps;
    // With a shared store, a room just loaded may hold events this node's feed has not
    // passed yet; waiting (briefly) for the feed to get there keeps every snapshot within the
    // position the stream starts from. A cursor from another node may be ahead of this one's
    // feed, too: it is valid up to the store's position.
    model::Positions stored = hub.reach().stored();
    {
        std::unique_lock lk(seq.mu);
        auto caught_up = [&] {
            for (size_t s = 0; s < stored.size(); ++s)
                if (seq.pos[s] < stored[s]) return false;
            return true;
        };
        if (!caught_up()) {
            // The feed brings only this node's rooms: on a shard where they are quiet, a
            // mark through the feed says how far it got.
            lk.unlock();
            for (size_t s = 0; s < stored.size(); ++s)
                if (std::lock_guard seen(seq.mu); seq.pos[s] < stored[s]) hub.reach().sync(s);
            lk.lock();
            seq.moved.wait_for(lk, std::chrono::seconds(1), caught_up);
        }
        now = seq.pos;
        model::Positions newest = now;
        for (size_t s = 0; s < stored.size(); ++s) newest[s] = std::max(newest[s], stored[s]);
        if (cursor) from = model::parse_cursor(*cursor, seq.epochs, newest);
        if (from && seq.sharded())
            for (size_t s = 0; s < now.size(); ++s)
                // Ahead of this node's feed on a shard: a live event's cursor carries this
                // node's position there, below the client's, and a resume from it would
                // repeat events. The client comes back when the feed has caught up.
                if ((*from)[s] > now[s])
                    throw store::StoreError("the cursor is ahead of this node's feed");
        if (from)
            for (size_t i : shown)
                snaps.push_back(
                    rooms[i]->since_pos(std::max((*from)[rooms[i]->shard()], joined[i].since)));
        ++seq.user_streams;
        ++seq.streaming[st.user];
        st.counted = true;
        st.gaps_before = seq.gaps;
    }
    // A cursor ahead of the feed here (one shard): what lies between comes live and was seen.
    st.last_pos = now;
    if (from)
        for (size_t s = 0; s < now.size(); ++s) st.last_pos[s] = std::max(now[s], (*from)[s]);
    if (!from) {
        // A fresh stream, or a cursor this store did not write: where every room stands.
        std::vector<store::Membership> listed;
        for (size_t i : shown) listed.push_back(joined[i]);
        if (cursor) out.push_back(user_reset_all());
        out.push_back(buffer(sse::encode("rooms", model::cursor(seq.epochs, now),
                                         model::rooms_json(hub.summaries(st.user, listed)))));
        return rooms;
    }
    // Each room from where the cursor left it (or from the join, for a room joined since),
    // merged by position so the stream's order is the commit order (by shard with several:
    // their orders are independent).
    std::vector<Replayed> items;
    for (size_t k = 0; k < shown.size(); ++k) {
        const Room& r = *rooms[shown[k]];
        replay_room(r, snaps[k], joined[shown[k]], (*from)[r.shard()], out, items);
    }
    std::stable_sort(items.begin(), items.end(), [](const Replayed& a, const Replayed& b) {
        return a.shard != b.shard ? a.shard < b.shard : a.pos < b.pos;
    });
    model::Positions at = *from;
    for (auto& it : items) {
        if (!it.ready) {
            at[it.shard] = it.pos;
            it.event = buffer(sse::replace_id(*it.event, model::cursor(seq.epochs, at)));
        }
        out.push_back(std::move(it.event));
    }
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
                              std::vector<Replayed>& items) {
    Hub& hub = shard_.hub();
    const Sequence& seq = hub.sequence();
    const bool ready = !seq.sharded();
    const size_t cap = hub.config().max_replay;
    uint64_t after = std::max(from, joined.since);
    // Joined at the cursor's position or after: whether the client was told (live, with no
    // id of its own) cannot be told from the cursor, so it is told again; a second notice of
    // one room is harmless, a missing one loses the room. (With several shards a join moves
    // no position, and its shard may have had nothing since the cursor.)
    if (joined.since >= from && joined.since > 0) {
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
    // The room's replay, bounded as a room stream's is: the newest `cap`. With one shard an
    // event's cursor depends on its position alone (cursor_at reads nothing else then).
    std::vector<std::pair<uint64_t, Replayed>> mine;  // id, event
    for (const auto& e : older) {
        std::string id = ready ? seq.cursor_at(0, e.pos) : std::to_string(e.id);
        mine.emplace_back(
            e.id, Replayed{r.shard(), e.pos,
                           buffer(sse::encode(model::kind_name(e.kind), id, model::event_json(e))),
                           ready});
    }
    for (const auto& e : snap.entries) {
        sse::Buffer b = !ready         ? e.event
                        : e.user_event ? e.user_event
                                       : buffer(sse::replace_id(*e.event, seq.cursor_at(0, e.pos)));
        mine.emplace_back(e.id, Replayed{r.shard(), e.pos, std::move(b), ready});
    }
    if (mine.size() > cap) {
        mine.erase(mine.begin(), mine.end() - static_cast<std::ptrdiff_t>(cap));
        reset = true;
        oldest = mine.front().first;
    }
    for (auto& [id, item] : mine) items.push_back(std::move(item));
    if (reset) out.push_back(user_room_reset(r.name(), oldest));
}

void UserStreams::remove(UserStream* s) {
    if (s->watched) {
        shard_.hub().reach().watch(s->user, false);
        s->watched = false;
    }
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
    const Sequence& seq = shard_.hub().sequence();
    std::vector<std::shared_ptr<UserStream>> cut;
    uint64_t count = 0;
    for (size_t i = 0; i < gather_.size();) {
        UserStream* s = gather_[i].first;
        ordered_.clear();
        bool gap = false;
        // Each room's delivery is in position order, but one commit's positions interleave
        // across its rooms: the stream gets them merged, so that its cursor only rises and a
        // resume from any event misses nothing. An event that is not stored keeps its place
        // after the stored one it followed. Deliveries sequenced apart keep that order (with
        // several store shards their positions are not comparable). The stream's positions
        // move once its whole share is taken: one commit's rooms come as several deliveries.
        tops_ = s->last_pos;
        for (; i < gather_.size() && gather_[i].first == s; ++i) {
            const Delivery& d = *gather_[i].second;
            // A gap or a fill cuts the streams that were open when it was sequenced; one that
            // started after it (its flush reaching a stream indexed meanwhile) has it in its
            // snapshot, and cutting that stream would end one that missed nothing.
            gap = gap || (d.gap && d.sequenced > s->gaps_before);
            const size_t shard = d.room->shard();  // what `pos` are positions on
            const uint64_t last = s->last_pos[shard];
            uint64_t after = last;
            for (size_t k = 0; k < d.ids.size(); ++k) {
                if (d.ids[k] != 0) {
                    // At or before the stream's start: in its replay already.
                    if (d.pos[k] == 0 || d.pos[k] <= last) continue;
                    after = d.pos[k];
                    // (Without a user form made at the commit there is one shard: the cursor
                    // is the position's alone.)
                    ordered_.push_back({d.order, after,
                                        d.user_events[k]
                                            ? d.user_events[k]
                                            : buffer(sse::replace_id(
                                                  *d.events[k], seq.cursor_at(shard, d.pos[k])))});
                } else if (d.skip_user != s->user) {
                    ordered_.push_back({d.order, after, d.events[k]});
                }
            }
            tops_[shard] = std::max(tops_[shard], after);
        }
        s->last_pos = tops_;
        std::stable_sort(ordered_.begin(), ordered_.end(), [](const Ordered& a, const Ordered& b) {
            return a.order != b.order ? a.order < b.order : a.pos < b.pos;
        });
        scratch_.clear();
        for (auto& o : ordered_) scratch_.push_back(std::move(o.event));
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
