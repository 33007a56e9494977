// Hub: rooms by name (loaded through the registry), presence policy, and fan-out of every
// delivery to the shards; the writer and the cluster feed do the rest.
#include "chat/hub.hpp"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "chat/local_writer.hpp"
#include "chat/metrics.hpp"
#include "chat/shard.hpp"
#include "chat/shared_writer.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"

namespace ssechat::chat {

Hub::Hub(const Config& cfg, store::Store& store, ViewFactory views)
    : cfg_(cfg),
      views_(std::move(views)),
      store_(store),
      registry_(
          cfg.max_rooms, [this](const std::string& name) { return load(name); },
          [this](const std::string& name) { reach_->dropped(name); }),
      writer_(make_writer()),
      feed_(cfg, store, registry_, seq_,
            [this](std::shared_ptr<Delivery> d) { fan_out(std::move(d)); }) {
    if (auto* cluster = store.cluster())
        reach_ = std::make_unique<Shared>(*this, *cluster, feed_);
    else
        reach_ = std::make_unique<Alone>(*this);
}

Hub::~Hub() {
    stop();
}

std::unique_ptr<Writer> Hub::make_writer() {
    if (auto* cluster = store_.cluster())
        return std::make_unique<SharedWriter>(cfg_, store_, seq_, *cluster);
    return std::make_unique<LocalWriter>(
        cfg_, store_, seq_,
        [this](std::vector<std::shared_ptr<const Delivery>> ds) { fan_out(std::move(ds)); },
        [this](const store::MemberOp& op, const std::shared_ptr<Room>& r) { notify(op, r); });
}

std::shared_ptr<Room> Hub::find(const std::string& name) {
    return registry_.find(name);
}

std::shared_ptr<Room> Hub::load(const std::string& name) {
    // Followed before it is read: what the read does not see, the feed brings.
    reach_->loading(name);
    try {
        return read(name);
    } catch (...) {
        reach_->dropped(name);
        throw;
    }
}

std::shared_ptr<Room> Hub::read(const std::string& name) {
    metrics().store_reads_room_load.fetch_add(1, std::memory_order_relaxed);
    uint64_t last = store_.last_id(name);
    auto r = std::make_shared<Room>(name, last, cfg_.cache, views_ ? views_(name) : nullptr,
                                    store_.shard_of(name));
    r->set_roster(store_.roster(name));
    if (last > 0) {
        auto recent = store_.range(name, 0, UINT64_MAX, cfg_.cache, true);
        std::vector<Event> tail;
        if (size_t k = r->view_depth()) tail = store_.messages(name, 0, UINT64_MAX, k, true);
        r->warm(recent, tail);
    }
    return r;
}

std::shared_ptr<Room> Hub::room(const std::string& name) {
    auto got = registry_.get(name);
    // The feed skips rooms that are not loaded. What it brought after the load read the
    // store and before the insert would be missed: a probe reads anything newer than what
    // the load saw.
    if (got.loaded) reach_->loaded(got.room);
    return got.room;
}

std::vector<store::RoomMeta> Hub::rooms(const std::string& after, size_t limit, bool private_too) {
    // Public rooms only: a private room or a direct message is listed to its members, in
    // their own rooms. Pages of the store are read until this one is full.
    std::vector<store::RoomMeta> out;
    std::string from = after;
    while (out.size() < limit) {
        auto page = store_.rooms(from, limit);
        for (auto& m : page)
            if (out.size() < limit && listed(m.name, private_too)) out.push_back(std::move(m));
        if (page.size() < limit) break;
        from = page.back().name;
    }
    return out;
}

bool Hub::listed(const std::string& name, bool private_too) {
    auto shown = [&](model::Visibility v) {
        return v == model::Visibility::Public || (private_too && v == model::Visibility::Private);
    };
    if (auto r = find(name)) return shown(r->visibility());
    auto p = store_.profile(name);
    return !p || shown(p->visibility);
}

std::vector<std::string> Hub::online(const std::string& name) {
    return reach_->online(name);
}

std::vector<size_t> Hub::online_counts(const std::vector<std::string>& names) {
    return reach_->online_counts(names);
}

void Hub::publish(std::shared_ptr<Room> room, std::string user, std::string text, std::string key,
                  Done done) {
    Event ev;
    ev.user_id = std::move(user);
    ev.text = std::move(text);
    ev.key = std::move(key);
    publish(std::move(room), std::move(ev), false, std::move(done));
}

void Hub::publish(std::shared_ptr<Room> room, Event ev, bool moderator, Done done) {
    writer_->publish(std::move(room), std::move(ev), moderator, std::move(done));
}

void Hub::presence(const std::shared_ptr<Room>& room, const std::string& user, bool joined,
                   int online) {
    {
        std::lock_guard lk(leaves_mu_);
        auto key = std::make_pair(room->name(), user);
        if (!joined) {
            leaves_[key] = {room, now_ms() + kLeaveGraceMs};
            return;
        }
        // Back within the grace: as far as the others know, they never left.
        if (leaves_.erase(key)) return;
    }
    reach_->joined(room, user, online);
}

void Hub::announce_due_leaves(int64_t now) {
    struct Due {
        std::string room, user;
        std::weak_ptr<Room> held;
    };
    std::vector<Due> due;
    {
        std::lock_guard lk(leaves_mu_);
        for (auto it = leaves_.begin(); it != leaves_.end();) {
            if (it->second.due > now) {
                ++it;
                continue;
            }
            due.push_back({it->first.first, it->first.second, it->second.room});
            it = leaves_.erase(it);
        }
    }
    for (const auto& d : due) reach_->left(d.room, d.user, d.held.lock());
}

void Hub::announce(const std::shared_ptr<Room>& room, const std::string& user, bool joined,
                   int online) {
    boost::json::object o;
    o["room"] = room->name();
    o["user_id"] = user;
    o["state"] = joined ? "join" : "leave";
    o["online"] = online;
    auto d = std::make_shared<Delivery>();
    d->room = room;
    // Presence is a kind that is not stored: no id line, and id 0 in the delivery.
    d->events.push_back(std::make_shared<const std::string>(
        sse::encode(model::kind_name(Kind::Presence), "", boost::json::serialize(o))));
    d->ids.push_back(0);
    fan_out(std::move(d));
}

void Hub::typing(const std::shared_ptr<Room>& room, const std::string& user, bool on) {
    {
        std::lock_guard lk(typing_mu_);
        typing_rooms_.insert(room);
    }
    if (auto send = room->typing(user, on, now_ms())) reach_->typing(room, user, *send);
}

void Hub::sweep_typing() {
    announce_due_leaves(now_ms());
    std::vector<std::shared_ptr<Room>> rooms;
    {
        std::lock_guard lk(typing_mu_);
        rooms.assign(typing_rooms_.begin(), typing_rooms_.end());
    }
    int64_t now = now_ms();
    for (const auto& r : rooms) {
        for (const auto& [user, on] : r->typing_due(now)) reach_->typing(r, user, on);
        for (const auto& [user, id] : r->receipts_due(now)) send_receipt(r, user, id);
        if (!r->anyone_typing()) {
            // A typing() between the check and the erase re-inserts after it: it takes the
            // lock after this erase, or its insert came first and the room is not idle.
            std::lock_guard lk(typing_mu_);
            if (!r->anyone_typing()) typing_rooms_.erase(r);
        }
    }
}

void Hub::announce_typing(const std::shared_ptr<Room>& room, const std::string& user, bool on) {
    auto d = std::make_shared<Delivery>();
    d->room = room;
    d->events.push_back(std::make_shared<const std::string>(sse::encode(
        model::kind_name(Kind::Typing), "", model::typing_json(room->name(), user, on))));
    d->ids.push_back(0);
    d->unstored = Kind::Typing;
    d->skip_user = user;  // a user's own streams do not hear their own typing
    fan_out(std::move(d));
}

void Hub::member(store::MemberOp op, std::shared_ptr<Room> room, Writer::MemberDone done) {
    writer_->member(std::move(op), std::move(room), std::move(done));
}

void Hub::notify(const store::MemberOp& op, const std::shared_ptr<Room>& room) {
    // The writer thread (the feed with a shared store), under the sequence lock: posted to
    // each loop in order with the deliveries.
    using Op = store::MemberOp::Op;
    if (op.op == Op::Read) {
        auto ev = std::make_shared<const std::string>(
            sse::encode(model::kind_name(Kind::Read), "", model::read_json(op.room, op.read)));
        for (Shard* s : shards_)
            boost::asio::post(
                s->ioc(), [s, ev, user = op.user, room = op.room] { s->to_user(user, room, ev); });
        if (!room) return;  // not loaded here: no stream here to tell
        {
            std::lock_guard lk(typing_mu_);
            typing_rooms_.insert(room);
        }
        if (auto id = room->receipt(op.user, op.read, now_ms())) send_receipt(room, op.user, *id);
        return;
    }
    if (room && op.op != Op::Settings) room->apply(op);  // again, from the feed: the same
    const char* reason = nullptr;                        // the user is no longer in the room: why
    bool ends_streams = false;                           // and their streams of the room end
    switch (op.op) {
        case Op::Join:
        case Op::Add:
            if (op.was_member || !room) return;  // a new role: nothing for the user streams
            break;
        case Op::Leave:
            reason = op.by.empty() || op.by == op.user ? "left" : "removed";
            ends_streams = room && room->visibility() != model::Visibility::Public;
            break;
        case Op::Ban:
            reason = "banned";
            ends_streams = true;  // banned is out, whatever the room
            break;
        case Op::Profile:
            // Made private: whoever is not a member stops reading it now, not at their next
            // request.
            if (room && op.profile.visibility != model::Visibility::Public)
                for (Shard* s : shards_)
                    boost::asio::post(s->ioc(), [s, room] { s->evict_outsiders(room); });
            return;
        case Op::Read:
        case Op::Unban:
        case Op::Mute:
        case Op::Unmute:
        case Op::Settings:
            return;
    }
    if (!room) return;
    const bool joined = reason == nullptr;
    bool tell = joined || op.op != Op::Ban || op.was_member;
    auto ev = std::make_shared<const std::string>(
        sse::encode(model::kind_name(joined ? Kind::Joined : Kind::Left), "",
                    joined ? model::joined_json(op.room, op.read, op.id)
                           : model::left_json(op.room, reason, op.by.empty() ? op.user : op.by)));
    for (Shard* s : shards_)
        boost::asio::post(s->ioc(), [s, ev, room, joined, tell, ends_streams, user = op.user] {
            if (tell) s->membership(user, room, joined, ev);
            if (ends_streams) s->evict(user, room);
        });
}

void Hub::member_changed(const store::MemberOp& op) {
    // Feed thread. A join or leave matters here only to this node's user streams of that
    // user, which need the room loaded; a marker needs a room only for its receipt.
    bool here;
    {
        std::lock_guard lk(seq_.mu);
        here = seq_.streaming.contains(op.user);
    }
    std::shared_ptr<Room> r;
    try {
        r = op.op == store::MemberOp::Op::Read || !here ? find(op.room) : room(op.room);
    } catch (const store::StoreError&) {
        // The user streams here miss the change; the store has it for their next resume.
    }
    if (!r && op.op != store::MemberOp::Op::Read) return;
    std::lock_guard lk(seq_.mu);
    notify(op, r);
}

void Hub::send_receipt(const std::shared_ptr<Room>& room, const std::string& user, uint64_t id) {
    auto d = std::make_shared<Delivery>();
    d->room = room;
    d->events.push_back(std::make_shared<const std::string>(sse::encode(
        model::kind_name(Kind::Receipt), "", model::receipt_json(room->name(), user, id))));
    d->ids.push_back(0);
    d->unstored = Kind::Receipt;
    d->skip_user = user;  // their own streams hear of it as `read`
    fan_out(std::move(d));
}

model::Summary Hub::counted(const std::string& user, const std::string& room, uint64_t read) {
    model::Summary s;
    s.name = room;
    // With a shared store this node's copy of the room may lag its feed; the store's last id
    // is the one the counts below are read against.
    auto r = reach_->current() ? find(room) : nullptr;
    s.last_id = r ? r->delivered() : store_.last_id(room);
    s.read = read;
    auto p =
        r ? r->with_roster([](const model::Roster& x) { return x.profile; }) : store_.profile(room);
    if (p) {
        s.kind = p->visibility;
        s.title = p->name;
        if (p->visibility == model::Visibility::Dm) {
            // "a\nb": the other one, or the user for notes to self.
            auto nl = p->with.find('\n');
            std::string a = p->with.substr(0, nl);
            std::string b = nl == std::string::npos ? a : p->with.substr(nl + 1);
            s.with = a == user ? b : a;
        }
    }
    auto u = store_.unread(room, user, read, model::kMaxCount);
    s.unread = u.unread;
    s.unread_more = u.unread_more;
    s.mentions = u.mentions;
    s.mentions_more = u.mentions_more;
    return s;
}

model::Summary Hub::summary(const std::string& user, const std::string& room, uint64_t read) {
    model::Summary s = counted(user, room, read);
    s.online = online_counts({room}).front();
    if (levels_) {
        auto chosen = levels_(user);
        if (auto it = chosen.find(room); it != chosen.end()) s.notify = it->second;
    }
    return s;
}

std::vector<model::Summary> Hub::summaries(const std::string& user,
                                           const std::vector<store::Membership>& joined) {
    std::vector<model::Summary> out;
    out.reserve(joined.size());
    std::vector<std::string> names;
    for (const auto& m : joined) {
        out.push_back(counted(user, m.room, m.read));
        names.push_back(m.room);
    }
    // Who is online in every room at once: one round trip to a shared store, not one a room.
    auto online = online_counts(names);
    for (size_t i = 0; i < out.size() && i < online.size(); ++i) out[i].online = online[i];
    if (levels_ && !out.empty()) {
        auto chosen = levels_(user);
        for (auto& s : out)
            if (auto it = chosen.find(s.name); it != chosen.end()) s.notify = it->second;
    }
    return out;
}

void Hub::start() {
    for (size_t s = 0; s < store_.shards(); ++s) {
        seq_.epochs.push_back(store_.epoch(s));
        seq_.pos.push_back(store_.last_pos(s));
    }
    writer_->start();
    reach_->start();
}

void Hub::stop() {
    writer_->stop();
    reach_->stop();
}

void Hub::fan_out(std::shared_ptr<Delivery> d) {
    for (Shard* s : shards_) boost::asio::post(s->ioc(), [s, d] { s->deliver(d); });
}

void Hub::fan_out(std::vector<std::shared_ptr<const Delivery>> ds) {
    // One handler per loop for the whole batch: no flush can fall between its rooms.
    auto batch =
        std::make_shared<const std::vector<std::shared_ptr<const Delivery>>>(std::move(ds));
    for (Shard* s : shards_)
        boost::asio::post(s->ioc(), [s, batch] {
            for (const auto& d : *batch) s->deliver(d);
        });
}

}  // namespace ssechat::chat
