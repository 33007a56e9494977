// Shard: room streams set up with gap-free replay, the room index, heartbeats, and ending
// streams (evictions, revocations, shutdown).
#include "chat/shard.hpp"

#include <boost/asio/post.hpp>

#include "chat/hub.hpp"
#include "chat/metrics.hpp"
#include "chat/resets.hpp"

namespace ssechat::chat {

namespace asio = boost::asio;

Subscriber::Subscriber(sse::Conn conn, size_t limit, Shard& s, std::shared_ptr<Room> r,
                       std::string u, bool l)
    : sse::Stream(std::move(conn), limit),
      shard(s),
      room(std::move(r)),
      user(std::move(u)),
      view(l) {}

void Subscriber::on_closed() {
    shard.remove(this);
    tickets.clear();
    // A stream that failed while opening never joined: leaving would uncount another stream
    // of the same user, and announce a leave that did not happen.
    if (!joined) return;
    (view ? metrics().streams_view : metrics().streams_native)
        .fetch_sub(1, std::memory_order_relaxed);
    if (view) room->close_view();
    int online = room->leave(user);
    if (online >= 0) shard.hub().presence(room, user, false, online);
    shard.hub().release(room);
}

void Subscriber::on_overflow() {
    metrics().slow_disconnects.fetch_add(1, std::memory_order_relaxed);
}

Shard::Shard(unsigned index, Hub& hub) : index_(index), hub_(hub) {
    ping_ = std::make_shared<const std::string>(sse::comment("ping"));
    retry_ = std::make_shared<const std::string>(sse::retry(hub.config().retry_ms));
}

namespace {
sse::Buffer encode_stored(const Event& e) {
    return room_form(e, model::event_json(e));
}
}  // namespace

uint64_t Shard::backfill(const std::string& room, uint64_t start, uint64_t cache_first, size_t cap,
                         std::vector<Event>& older) {
    // One read: ids have no holes, so where it starts shows what retention trimmed.
    metrics().store_reads_replay.fetch_add(1, std::memory_order_relaxed);
    older = hub_.store().range(room, start - 1, cache_first, cap, true);
    return older.empty() ? cache_first : older.front().id;
}

void Shard::limit_sndbuf(sse::Conn& conn) {
    if (size_t b = hub_.config().stream_sndbuf) {
        // Bounds what the kernel holds for a client that stopped reading; autotuning would
        // let it grow to megabytes per socket, outside the --stream-buffer policy.
        boost::system::error_code ec;
        conn.sock.set_option(asio::socket_base::send_buffer_size(static_cast<int>(b)), ec);
    }
}

Snapshot Shard::replay(Room& room, const StreamStart& start, std::vector<sse::Buffer>& out) {
    // Deliveries already queued on this loop for ids <= snap.delivered are skipped by
    // last_sent; later ones are posted after the snapshot, so nothing falls in between.
    Snapshot snap = start.since ? room.since(*start.since) : room.last(start.history);
    std::vector<Event> older;
    if (start.since) {
        uint64_t n = *start.since;
        // Unknown here (from another server, or a wiped store): replay what is held.
        bool reset = n > snap.delivered;
        if (reset) n = 0;
        // One replay is bounded, so that resuming from far back cannot pull a whole room
        // into memory; the client pages anything older through the history API.
        if (size_t cap = hub_.config().max_replay; snap.delivered > n + cap) {
            reset = true;
            n = snap.delivered - cap;
        }
        if (n != *start.since) snap = room.since(n);
        if (n + 1 < snap.cache_first) {
            // The cache entries are all newer than n already, so they need no second look.
            uint64_t first = backfill(room.name(), n + 1, snap.cache_first, SIZE_MAX, older);
            if (first != n + 1) {
                reset = true;
                n = first - 1;
            }
        }
        if (reset) out.push_back(room_reset(snap.delivered == 0 ? 0 : n + 1));
    } else if (start.history > 0 && (!snap.messages_only || (snap.entries.size() < start.history &&
                                                             snap.cache_first > 1))) {
        // History shows messages in their current state. The cache shows events as they
        // happened, which is the same thing only while it holds no changes; otherwise, or
        // when it is too short, the store has the state. A change committed after the
        // snapshot may show in the state and again live: applying it twice is harmless.
        snap.entries.clear();
        metrics().store_reads_replay.fetch_add(1, std::memory_order_relaxed);
        auto msgs = hub_.store().messages(room.name(), 0, snap.delivered + 1, start.history, true);
        for (const auto& m : msgs) out.push_back(room_form(m, model::state_json(m)));
    }
    for (const auto& m : older) out.push_back(encode_stored(m));
    for (const auto& e : snap.entries) out.push_back(e.event);
    return snap;
}

void Shard::subscribe(sse::Conn conn, std::shared_ptr<Room> room, std::string user,
                      const StreamStart& start) {
    limit_sndbuf(conn);
    auto sub = std::make_shared<Subscriber>(std::move(conn), hub_.config().stream_buffer, *this,
                                            room, std::move(user), start.view);
    sub->tickets = start.tickets;
    sub->presence = start.presence && !start.view;
    std::vector<sse::Buffer> out;
    if (start.head) out.push_back(start.head);
    Snapshot snap;
    if (start.view && !room->has_view()) {
        sub->close();  // a room without a view has nothing for a view stream
        return;
    } else if (start.view) {
        snap = room->open_view();
        out.push_back(snap.view);
    } else {
        out.push_back(retry_);
        const size_t preamble = out.size();  // the head and the retry hint
        try {
            snap = replay(*room, start, out);
        } catch (const store::StoreError&) {
            // The store is away (a Redis outage). Ending the stream at once makes the client
            // reconnect after the retry hint with the same Last-Event-ID, so nothing is skipped.
            out.resize(preamble);  // nothing of a half-built replay
            out.push_back(std::make_shared<const std::string>(sse::comment("store unavailable")));
            sub->open(out);
            sub->close();
            return;
        }
    }
    sub->last_sent = snap.delivered;
    (start.view ? metrics().streams_view : metrics().streams_native)
        .fetch_add(1, std::memory_order_relaxed);
    rooms_.add(sub.get());
    sub->joined = true;
    sub->open(out);
    int online = room->join(sub->user);
    if (online >= 0) hub_.presence(room, sub->user, true, online);
    // Revoked while this was on its way here: end_revoked() may have run before it.
    if (sub->tickets.revoked()) sub->close();
}

void RoomIndex::add(Subscriber* s) {
    auto& subs = rooms[s->room.get()];
    auto& list = s->view ? subs.viewers : subs.native;
    s->slot = list.size();
    list.push_back(s);
}

void RoomIndex::remove(Subscriber* s) {
    auto it = rooms.find(s->room.get());
    if (it == rooms.end()) return;
    auto& list = s->view ? it->second.viewers : it->second.native;
    if (s->slot >= list.size() || list[s->slot] != s) return;
    if (walking) {
        // Moving another stream into this slot now could make the flush cursor skip it.
        list[s->slot] = nullptr;
        tombstones = true;
        return;
    }
    list[s->slot] = list.back();
    list[s->slot]->slot = s->slot;
    list.pop_back();
    if (it->second.empty()) rooms.erase(it);
}

void RoomIndex::drop_if_empty(const Room* r) {
    auto it = rooms.find(r);
    if (it == rooms.end() || !it->second.empty()) return;
    if (walking)
        tombstones = true;  // compacted when the flush ends
    else
        rooms.erase(it);
}

void RoomIndex::compact() {
    tombstones = false;
    for (auto it = rooms.begin(); it != rooms.end();) {
        for (auto* list : {&it->second.native, &it->second.viewers}) {
            std::erase(*list, nullptr);
            for (size_t i = 0; i < list->size(); ++i) (*list)[i]->slot = i;
        }
        if (it->second.empty())
            it = rooms.erase(it);
        else
            ++it;
    }
}

void Shard::start_heartbeat() {
    // Ticking at half the interval keeps every idle stream within 1.5 intervals of a ping.
    heartbeat_timer_.expires_after(std::chrono::milliseconds(hub_.config().heartbeat_s * 500));
    heartbeat_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        heartbeat();
        start_heartbeat();
    });
}

void Shard::heartbeat() {
    auto idle_since = std::chrono::steady_clock::now() -
                      std::chrono::seconds(hub_.config().heartbeat_s) +
                      std::chrono::milliseconds(100);
    for (auto& [room, subs] : rooms_.rooms) {
        for (auto* list : {&subs.native, &subs.viewers})
            for (Subscriber* s : *list)
                if (s && s->last_write() <= idle_since) s->send(ping_);
    }
    users_.heartbeat(ping_, idle_since);
}

void Shard::evict(const std::string& user, const std::shared_ptr<Room>& room) {
    evict_if(room, [&](const std::string& u) { return u == user; });
}

void Shard::evict_outsiders(const std::shared_ptr<Room>& room) {
    evict_if(room, [&](const std::string& u) {
        return room->with_roster([&](const model::Roster& r) { return r.role(u); }) ==
               model::Role::None;
    });
}

void Shard::evict_if(const std::shared_ptr<Room>& room,
                     const std::function<bool(const std::string&)>& out) {
    auto* subs = rooms_.find(room.get());
    if (!subs) return;
    std::vector<std::shared_ptr<Subscriber>> ending;
    for (auto* list : {&subs->native, &subs->viewers})
        for (Subscriber* s : *list)
            if (s && out(s->user))
                ending.push_back(std::static_pointer_cast<Subscriber>(s->shared_from_this()));
    // close() takes each out of the lists, which may drop the room's entry: not while walking.
    for (auto& s : ending) s->close();
}

void Shard::close_all() {
    heartbeat_timer_.cancel();
    fanout_.stop();
    close_if([](const Slots&) { return true; });
}

void Shard::end_revoked() {
    close_if([](const Slots& t) { return t.revoked(); });
}

void Shard::close_if(const std::function<bool(const Slots&)>& out) {
    keep_.clear();
    for (auto& [room, subs] : rooms_.rooms)
        for (auto* list : {&subs.native, &subs.viewers})
            for (Subscriber* s : *list)
                if (s && out(s->tickets))
                    keep_.push_back(std::static_pointer_cast<Subscriber>(s->shared_from_this()));
    std::vector<std::shared_ptr<UserStream>> users;
    users_.collect(out, users);
    // close() takes each stream out of the index, so iterate the copies.
    for (auto& s : keep_) s->close();
    for (auto& s : users) s->close();
    keep_.clear();
}

}  // namespace ssechat::chat
