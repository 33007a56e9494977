// Alone and Shared: presence, typing and the feed's dispatch, for one node and for several.
#include "chat/reach.hpp"

#include "chat/hub.hpp"

namespace ssechat::chat {

std::vector<std::string> Alone::online(const std::string& room) {
    auto r = hub_.find(room);
    return r ? r->online() : std::vector<std::string>{};
}

std::vector<size_t> Alone::online_counts(const std::vector<std::string>& rooms) {
    std::vector<size_t> out;
    for (const auto& n : rooms) {
        auto r = hub_.find(n);
        out.push_back(r ? r->online_count() : 0);
    }
    return out;
}

void Alone::joined(const std::shared_ptr<Room>& room, const std::string& user, int online) {
    // Join/leave events cost O(online) each, so O(online^2) for a room filling up; past
    // --presence-max users a room only counts (GET /rooms/{room}/presence).
    if (online == 0 || static_cast<size_t>(online) > hub_.config().presence_max) return;
    hub_.announce(room, user, true, online);
}

void Alone::left(const std::string&, const std::string& user, const std::shared_ptr<Room>& held) {
    if (!held) return;  // evicted: nobody left to tell
    // The last leave has no one left to hear it, and its delivery would keep an empty room
    // from eviction; past --presence-max a room only counts.
    auto online = held->online_count();
    if (online == 0 || online >= hub_.config().presence_max) return;
    hub_.announce(held, user, false, static_cast<int>(online));
}

void Alone::typing(const std::shared_ptr<Room>& room, const std::string& user, bool on) {
    hub_.announce_typing(room, user, on);
}

void Shared::joined(const std::shared_ptr<Room>& room, const std::string& user, int) {
    // The cluster-wide count and event come back through the feed, to every node alike.
    cluster_.presence(room->name(), user, true);
}

void Shared::left(const std::string& room, const std::string& user, const std::shared_ptr<Room>&) {
    // Registered cluster-wide even when this node let the room go: the other nodes still
    // count the user until told.
    try {
        cluster_.presence(room, user, false);
    } catch (const std::exception&) {
        // The store away: the user's entry lapses with --presence-ttl, as a dead node's.
    }
}

void Shared::typing(const std::shared_ptr<Room>& room, const std::string& user, bool on) {
    // Back through the feed to every node, this one too, as presence does.
    cluster_.typing(room->name(), user, on);
}

model::Positions Shared::stored() {
    model::Positions out;
    auto& store = hub_.store();
    for (size_t s = 0; s < store.shards(); ++s) out.push_back(store.last_pos(s));
    return out;
}

void Shared::start() {
    cluster_.follow({[this](store::FeedBatch& b) { dispatch(b); }, [this] { feed_.catch_up(); },
                     [this](const std::string& room) {
                         // Confirmed after the room's load read the store: fill what came
                         // between.
                         if (auto r = hub_.find(room)) feed_.ingest(r, {});
                     }});
}

void Shared::dispatch(store::FeedBatch& b) {
    // Membership changes in their place among the events.
    size_t done = 0;
    for (auto& m : b.members) {
        feed_.on_batch(b.messages, done, m.at);
        done = m.at;
        hub_.member_changed(m.op);
    }
    feed_.on_batch(b.messages, done, b.messages.size());
    uint64_t pos = b.reached;
    for (const auto& e : b.messages) pos = std::max(pos, e.pos);
    feed_.advance(b.shard, pos);
    for (auto& t : b.typing)
        if (auto r = hub_.find(t.room)) hub_.announce_typing(r, t.user, t.on);
    for (auto& p : b.presence) {
        auto r = hub_.find(p.room);
        if (r && static_cast<size_t>(p.online) <= hub_.config().presence_max)
            hub_.announce(r, p.user, p.joined, p.online);
    }
}

}  // namespace ssechat::chat
