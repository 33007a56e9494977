// Hub: one writer thread batches every publish that arrives while the previous commit runs
// (group commit), assigns ids in commit order, and fans each commit out to the shards.
#include "chat/hub.hpp"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "chat/metrics.hpp"
#include "chat/shard.hpp"
#include "util/log.hpp"

namespace ssechat::chat {

namespace {
constexpr size_t kMaxBatch = 4096;

int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}
}  // namespace

Hub::Hub(const Config& cfg, store::Store& store)
    : cfg_(cfg),
      store_(store),
      cluster_(store.cluster()),
      registry_(cfg.max_rooms, [this](const std::string& name) { return load(name); }) {}

Hub::~Hub() {
    stop();
}

std::shared_ptr<Room> Hub::find(const std::string& name) {
    return registry_.find(name);
}

std::shared_ptr<Room> Hub::load(const std::string& name) {
    uint64_t last = store_.last_id(name);
    size_t legacy_cap = name == "general" ? cfg_.legacy_history : 0;
    auto r = std::make_shared<Room>(name, last, cfg_.cache, legacy_cap);
    if (last > 0) {
        auto recent = store_.range(name, 0, UINT64_MAX, cfg_.cache, true);
        std::vector<Event> legacy;
        if (legacy_cap) legacy = store_.messages(name, 0, UINT64_MAX, legacy_cap, true);
        r->warm(recent, legacy);
    }
    return r;
}

std::shared_ptr<Room> Hub::room(const std::string& name) {
    auto got = registry_.get(name);
    // The feed skips rooms that are not loaded. One whose log entry the feed passed while
    // this load read the store (after the read, before the insert) would be missed: a
    // probe reads anything newer than what the load saw.
    if (got.loaded && cluster_) ingest(got.room, {});
    return got.room;
}

std::vector<store::RoomMeta> Hub::rooms(const std::string& after, size_t limit) {
    return store_.rooms(after, limit);
}

std::vector<std::string> Hub::online(const std::string& name) {
    if (cluster_) return cluster_->online(name);
    auto r = find(name);
    return r ? r->online() : std::vector<std::string>{};
}

std::vector<size_t> Hub::online_counts(const std::vector<std::string>& names) {
    if (cluster_) return cluster_->online_counts(names);
    std::vector<size_t> out;
    for (const auto& n : names) {
        auto r = find(n);
        out.push_back(r ? r->online_count() : 0);
    }
    return out;
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
    Pending p{std::move(room), std::move(ev), moderator, std::move(done),
              std::chrono::steady_clock::now()};
    p.msg.room = p.room->name();
    {
        std::lock_guard lk(q_mu_);
        if (!stopping_ && queue_.size() < cfg_.max_pending) {
            queue_.push_back(std::move(p));
            q_cv_.notify_one();
            return;
        }
    }
    p.done(PublishOutcome::Overloaded, p.msg);
}

void Hub::presence(const std::shared_ptr<Room>& room, const std::string& user, bool joined,
                   int online) {
    if (cluster_) {
        // The cluster-wide count and event come back through the feed, to every node alike.
        cluster_->presence(room->name(), user, joined);
        return;
    }
    // Join/leave events cost O(online) each, so O(online^2) for a room filling up; past
    // --presence-max users a room only counts (GET /rooms/{room}/presence). The last leave
    // has no one left to hear it, and its delivery would keep an empty room from eviction.
    if (online == 0 || static_cast<size_t>(online) > cfg_.presence_max ||
        (!joined && static_cast<size_t>(online) == cfg_.presence_max))
        return;
    announce(room, user, joined, online);
}

void Hub::announce(const std::shared_ptr<Room>& room, const std::string& user, bool joined,
                   int online) {
    boost::json::object o;
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

void Hub::start() {
    writer_ = std::thread([this] { writer_loop(); });
    if (cluster_)
        cluster_->follow({[this](store::FeedBatch& b) { on_feed(b); }, [this] { catch_up(); }});
}

void Hub::stop() {
    {
        std::lock_guard lk(q_mu_);
        stopping_ = true;
        q_cv_.notify_one();
    }
    if (writer_.joinable()) writer_.join();
    if (cluster_) cluster_->stop();
}

void Hub::writer_loop() {
    std::vector<Pending> batch;
    while (true) {
        {
            std::unique_lock lk(q_mu_);
            q_cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, and everything is committed
            if (queue_.size() <= kMaxBatch) {
                batch.swap(queue_);
            } else {
                auto mid = queue_.begin() + kMaxBatch;
                batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(mid));
                queue_.erase(queue_.begin(), mid);
            }
        }
        commit(batch);
        batch.clear();
    }
}

void Hub::settle_keys(std::vector<Pending>& batch, int64_t now) {
    // Per key in this batch: its first publish, and the hash of the text the store has for
    // it (empty when the key is new).
    struct First {
        size_t index;
        std::string stored_hash;
    };
    std::unordered_map<std::string, First> first;
    for (size_t i = 0; i < batch.size(); ++i) {
        auto& m = batch[i].msg;
        if (m.key.empty() || m.kind != Kind::Message) continue;
        std::string k = m.room + '\x1f' + m.user_id + '\x1f' + m.key;
        if (auto it = first.find(k); it != first.end()) {
            // The same key again in one batch (concurrent retries): the first is stored, and
            // the others are answered with it once it is (resolve_duplicates).
            const auto& f = it->second;
            bool same = f.stored_hash.empty() ? batch[f.index].msg.text == m.text
                                              : f.stored_hash == model::text_hash(m.text);
            batch[i].outcome = same ? PublishOutcome::Replayed : PublishOutcome::KeyConflict;
            continue;
        }
        First f{i, {}};
        if (auto rec = store_.find_key(m.room, m.user_id, m.key, now)) {
            bool same = rec->text_hash == model::text_hash(m.text);
            batch[i].outcome = same ? PublishOutcome::Replayed : PublishOutcome::KeyConflict;
            m.id = rec->id;
            m.ts = rec->ts;
            f.stored_hash = rec->text_hash;
        }
        first.emplace(std::move(k), std::move(f));
    }
}

void Hub::commit(std::vector<Pending>& batch) {
    if (cluster_) return commit_shared(batch);
    int64_t ts = now_ms();
    try {
        settle_keys(batch, ts);
    } catch (const store::StoreError& e) {
        return refuse(batch, e);
    }
    // Ids are assigned here, in queue order, so they increase in commit order per room.
    std::vector<std::pair<Room*, uint64_t>> rewind;
    std::vector<Event> msgs;
    try {
        msgs = check_and_number(batch, ts, rewind);
    } catch (const store::StoreError& e) {
        for (auto& [r, id] : rewind) r->rewind_ids(id);
        return refuse(batch, e);
    }
    auto t0 = std::chrono::steady_clock::now();
    try {
        if (!msgs.empty()) store_.append(msgs);
    } catch (const store::StoreError& e) {
        for (auto& [r, id] : rewind) r->rewind_ids(id);
        return refuse(batch, e);
    }
    auto t1 = committed(t0, msgs.size());
    resolve_duplicates(batch);

    // One delivery per room, in id order.
    for (auto& [r, first] : rewind) {
        std::vector<const Event*> mine;
        std::shared_ptr<Room> owner;
        for (auto& p : batch)
            if (p.room.get() == r && p.outcome == PublishOutcome::Ok) {
                mine.push_back(&p.msg);
                owner = p.room;
            }
        if (owner) fan_out(owner->commit(mine));
    }
    acknowledge(batch, t1);
}

std::vector<Event> Hub::check_and_number(std::vector<Pending>& batch, int64_t ts,
                                         std::vector<std::pair<Room*, uint64_t>>& rewind) {
    // The messages this batch reads or changes, by room and id: read from the store once,
    // then changed here as the batch's events apply, so that a later event of the same batch
    // is checked against the state the earlier ones leave.
    std::map<std::pair<const Room*, uint64_t>, std::optional<Event>> state;
    auto lookup = [&](Pending& p, uint64_t id) -> Event* {
        auto [it, fresh] = state.try_emplace({p.room.get(), id});
        if (fresh) it->second = store_.message(p.msg.room, id);
        return it->second ? &*it->second : nullptr;
    };
    std::vector<Event> out;
    out.reserve(batch.size());
    for (auto& p : batch) {
        if (p.outcome != PublishOutcome::Ok) continue;  // answered with what its key stored
        auto& ev = p.msg;
        if (ev.kind == Kind::Message) {
            if (ev.reply_to && !lookup(p, ev.reply_to)) {
                p.outcome = PublishOutcome::BadReply;
                continue;
            }
        } else {
            Event* target = lookup(p, ev.target);
            switch (model::check(target, ev, p.moderator)) {
                case model::Verdict::Apply:
                    break;
                case model::Verdict::NoChange:
                    p.outcome = PublishOutcome::NoChange;
                    p.state = *target;
                    continue;
                case model::Verdict::NotFound:
                    p.outcome = PublishOutcome::NotFound;
                    continue;
                case model::Verdict::Forbidden:
                    p.outcome = PublishOutcome::Forbidden;
                    continue;
                case model::Verdict::Gone:
                    p.outcome = PublishOutcome::Gone;
                    continue;
            }
        }
        Room* r = p.room.get();
        if (std::none_of(rewind.begin(), rewind.end(), [&](auto& x) { return x.first == r; }))
            rewind.emplace_back(r, r->assigned());
        ev.id = r->assign_id();
        ev.ts = ts;
        if (ev.kind == Kind::Message) {
            state[{r, ev.id}] = ev;  // a later event of the batch may reply to it or change it
        } else {
            Event* target = lookup(p, ev.target);
            model::apply(*target, ev);
            p.state = *target;
        }
        out.push_back(ev);
    }
    return out;
}

std::chrono::steady_clock::time_point Hub::committed(std::chrono::steady_clock::time_point start,
                                                     size_t n) {
    auto now = std::chrono::steady_clock::now();
    metrics().commit_latency.observe(std::chrono::duration<double>(now - start).count());
    metrics().commit_batch.observe(static_cast<double>(n));
    return now;
}

void Hub::refuse(std::vector<Pending>& batch, const store::StoreError& e) {
    log::error(std::string("store commit failed: ") + e.what());
    for (auto& p : batch) {
        metrics().publish_failed.fetch_add(1, std::memory_order_relaxed);
        p.done(PublishOutcome::StoreFailed, p.msg);
    }
}

void Hub::resolve_duplicates(std::vector<Pending>& batch) {
    // A publish that repeated a key earlier in the same batch now gets its original's id
    // and ts (the original was stored, or itself replayed, just before).
    std::unordered_map<std::string, const Event*> first;
    for (auto& p : batch) {
        if (p.msg.key.empty() || p.msg.kind != Kind::Message) continue;
        std::string k = p.msg.room + '\x1f' + p.msg.user_id + '\x1f' + p.msg.key;
        auto [it, fresh] = first.try_emplace(std::move(k), &p.msg);
        if (fresh) continue;
        p.msg.id = it->second->id;
        p.msg.ts = it->second->ts;
    }
}

void Hub::acknowledge(std::vector<Pending>& batch, std::chrono::steady_clock::time_point done) {
    for (auto& p : batch) {
        bool ok = p.outcome == PublishOutcome::Ok || p.outcome == PublishOutcome::Replayed ||
                  p.outcome == PublishOutcome::NoChange;
        (ok ? metrics().publish_ok : metrics().publish_rejected)
            .fetch_add(1, std::memory_order_relaxed);
        metrics().publish_latency.observe(std::chrono::duration<double>(done - p.since).count());
        bool change = p.msg.kind != Kind::Message;
        p.done(p.outcome, change ? p.state : p.msg);
    }
}

void Hub::commit_shared(std::vector<Pending>& batch) {
    // The store assigns ids and settles keys in the same atomic step; fan-out, even to this
    // node's own streams, comes from the feed, so every node delivers the same sequence
    // whichever node took the publish.
    std::vector<Event> msgs;
    std::vector<bool> moderator;
    msgs.reserve(batch.size());
    int64_t ts = now_ms();
    for (auto& p : batch) {
        p.msg.ts = ts;
        msgs.push_back(p.msg);
        moderator.push_back(p.moderator);
    }
    std::vector<store::Published> out;
    auto t0 = std::chrono::steady_clock::now();
    try {
        cluster_->publish(msgs, moderator, out);
    } catch (const store::StoreError& e) {
        return refuse(batch, e);
    }
    auto t1 = committed(t0, batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
        auto& p = batch[i];
        p.msg.id = msgs[i].id;
        p.msg.ts = msgs[i].ts;
        p.state = std::move(out[i].state);
        using store::Stored;
        switch (out[i].status) {
            case Stored::New:
                p.outcome = PublishOutcome::Ok;
                break;
            case Stored::Replay:
                p.outcome = PublishOutcome::Replayed;
                break;
            case Stored::Conflict:
                p.outcome = PublishOutcome::KeyConflict;
                break;
            case Stored::NoChange:
                p.outcome = PublishOutcome::NoChange;
                break;
            case Stored::NotFound:
                p.outcome = p.msg.kind == Kind::Message ? PublishOutcome::BadReply
                                                        : PublishOutcome::NotFound;
                break;
            case Stored::Forbidden:
                p.outcome = PublishOutcome::Forbidden;
                break;
            case Stored::Gone:
                p.outcome = PublishOutcome::Gone;
                break;
        }
    }
    acknowledge(batch, t1);
}

void Hub::on_feed(store::FeedBatch& b) {
    // Consecutive messages of one room become one delivery, as a local group commit does.
    auto& msgs = b.messages;
    metrics().feed_messages.fetch_add(msgs.size(), std::memory_order_relaxed);
    for (size_t i = 0; i < msgs.size();) {
        size_t j = i;
        while (j < msgs.size() && msgs[j].room == msgs[i].room) ++j;
        // A room nobody here has opened is skipped: it reads its stream when it loads.
        if (auto r = find(msgs[i].room))
            ingest(r, {std::make_move_iterator(msgs.begin() + static_cast<std::ptrdiff_t>(i)),
                       std::make_move_iterator(msgs.begin() + static_cast<std::ptrdiff_t>(j))});
        i = j;
    }
    for (auto& p : b.presence) {
        auto r = find(p.room);
        if (r && static_cast<size_t>(p.online) <= cfg_.presence_max)
            announce(r, p.user, p.joined, p.online);
    }
}

void Hub::ingest(const std::shared_ptr<Room>& r, std::vector<Event> msgs) {
    // Only ingest commits to a room in cluster mode, so under ingest_mu_ delivered() cannot
    // move between this read and the commit below.
    std::lock_guard lk(ingest_mu_);
    uint64_t have = r->delivered();
    bool probe = msgs.empty();  // catching up: look for anything newer in the store
    std::erase_if(msgs, [&](const Event& m) { return m.id <= have; });
    if (msgs.empty() && !probe) {
        // Normally these were seen through the room's warm-up read. But if Redis lost data
        // (no AOF, a flush), its ids restart below ours, and this node would skip every new
        // message of the room: say so, since only a restart of the nodes recovers.
        if (uint64_t now = store_.last_id(r->name()); now < have)
            log::error("room " + r->name() + " is at id " + std::to_string(now) +
                       " in the store, below the " + std::to_string(have) +
                       " this node delivered: the store lost data; restart every node");
        return;
    }
    uint64_t first = msgs.empty() ? UINT64_MAX : msgs.front().id;
    if (first != have + 1) {
        // A gap: the log was trimmed past entries this node had not read (it was stopped or
        // slow), or this is a catch-up probe. The room's stream has every message; a room
        // more than --max-replay behind takes the newest of them, as a resume would.
        size_t missing = first == UINT64_MAX ? cfg_.max_replay : first - have - 1;
        auto fill = store_.range(r->name(), have, first, std::min(missing, cfg_.max_replay),
                                 missing > cfg_.max_replay);
        metrics().feed_gap_fills.fetch_add(fill.size(), std::memory_order_relaxed);
        msgs.insert(msgs.begin(), fill.begin(), fill.end());
    }
    if (msgs.empty()) return;
    std::vector<const Event*> ptrs;
    ptrs.reserve(msgs.size());
    for (const auto& m : msgs) ptrs.push_back(&m);
    // Further behind than --max-replay, or retention trimmed the missing ids: live streams
    // are told with a reset, as a resume would be, instead of seeing ids jump.
    bool gap = msgs.front().id != have + 1;
    if (gap) metrics().feed_resets.fetch_add(1, std::memory_order_relaxed);
    fan_out(r->commit(ptrs, gap));
}

void Hub::catch_up() {
    metrics().feed_catchups.fetch_add(1, std::memory_order_relaxed);
    for (const auto& r : registry_.loaded()) ingest(r, {});
}

void Hub::fan_out(std::shared_ptr<Delivery> d) {
    for (Shard* s : shards_) boost::asio::post(s->ioc(), [s, d] { s->deliver(d); });
}

}  // namespace ssechat::chat
