// Writer: one thread batches every event that arrives while the previous commit runs (group
// commit), settles idempotency keys, checks each change against the state it applies to,
// assigns ids in commit order, and hands each local commit to the fan-out.
#include "chat/writer.hpp"

#include <pthread.h>
#include <sched.h>

#include <cstring>
#include <map>
#include <unordered_map>

#include "chat/metrics.hpp"
#include "util/log.hpp"

namespace ssechat::chat {

namespace {
constexpr size_t kMaxBatch = 4096;

int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}
}  // namespace

Writer::Writer(const Config& cfg, store::Store& store, Sequence& seq, FanOut fan_out,
               MemberNotify notify)
    : cfg_(cfg),
      store_(store),
      cluster_(store.cluster()),
      seq_(seq),
      fan_out_(std::move(fan_out)),
      notify_(std::move(notify)) {}

Writer::~Writer() {
    stop();
}

void Writer::start() {
    pos_ = seq_.pos.front();  // a store the writer numbers for is one shard
    thread_ = std::thread([this] { loop(); });
}

void Writer::stop() {
    {
        std::lock_guard lk(q_mu_);
        stopping_ = true;
        q_cv_.notify_one();
    }
    if (thread_.joinable()) thread_.join();
}

void Writer::publish(std::shared_ptr<Room> room, Event ev, bool moderator, Done done) {
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

void Writer::member(store::MemberOp op, std::shared_ptr<Room> room, MemberDone done) {
    {
        std::lock_guard lk(q_mu_);
        if (!stopping_ && members_.size() < cfg_.max_pending) {
            members_.push_back({std::move(op), std::move(room), std::move(done)});
            q_cv_.notify_one();
            return;
        }
    }
    done(false, op);
}

void Writer::members(std::vector<store::MemberOp> ops, std::shared_ptr<Room> room,
                     MemberDone done) {
    if (ops.empty()) return;
    {
        std::lock_guard lk(q_mu_);
        if (!stopping_ && members_.size() + ops.size() <= cfg_.max_pending) {
            for (size_t i = 0; i + 1 < ops.size(); ++i)
                members_.push_back({std::move(ops[i]), room, [](bool, const store::MemberOp&) {}});
            members_.push_back({std::move(ops.back()), std::move(room), std::move(done)});
            q_cv_.notify_one();
            return;
        }
    }
    done(false, ops.back());
}

void Writer::loop() {
    // The writer is a batch thread: it should not preempt the event loop that feeds it the
    // moment one publish wakes it, but run once the loop has handed over what it has read (or
    // used its time slice). Where the two share a core (the benchmarks pin the server to one)
    // this made batches ten times larger and a publish's CPU 30% smaller, and latency at fixed
    // rates the same or lower; a closed loop at saturation got a later tail. On an idle core
    // the writer runs at once, as before. bench/RESULTS.md, "The writer as a batch thread".
#ifdef SCHED_BATCH
    sched_param sp{};
    if (int rc = pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp); rc != 0)
        log::warn(std::string("writer: cannot run as SCHED_BATCH: ") + std::strerror(rc));
#endif
    std::vector<Pending> batch;
    std::vector<MemberJob> jobs;
    while (true) {
        {
            std::unique_lock lk(q_mu_);
            q_cv_.wait(lk, [&] { return stopping_ || !queue_.empty() || !members_.empty(); });
            if (queue_.empty() && members_.empty()) return;  // stopping, all committed
            jobs.swap(members_);
            if (queue_.size() <= kMaxBatch) {
                batch.swap(queue_);
            } else {
                auto mid = queue_.begin() + kMaxBatch;
                batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(mid));
                queue_.erase(queue_.begin(), mid);
            }
        }
        if (!batch.empty()) commit(batch);
        batch.clear();
        try {
            store_.end_batch();
        } catch (const store::StoreError& e) {
            log::error(std::string("store: ") + e.what());
        }
        // After the events taken with them: a join's position covers those commits.
        if (!jobs.empty()) commit_members(jobs);
        jobs.clear();
    }
}

void Writer::commit_members(std::vector<MemberJob>& jobs) {
    using Op = store::MemberOp::Op;
    using R = store::MemberOp::Result;
    // The checks that depend on order are made here, against the room's rules as the
    // changes before this one left them: two owners leaving at once cannot both go.
    std::vector<MemberJob*> kept;
    std::vector<store::MemberOp> ops;
    ops.reserve(jobs.size());
    for (auto& j : jobs) {
        // A shared store fills these in its own atomic step.
        if ((j.op.op == Op::Join || j.op.op == Op::Add) && !cluster_) {
            j.op.id = j.room->delivered();
            j.op.pos = pos_;
        }
        bool drops = j.op.op == Op::Leave || j.op.op == Op::Ban || j.op.op == Op::Add;
        if (drops && j.room) {
            auto after = j.op.op == Op::Add ? j.op.role : model::Role::None;
            bool refused = j.room->with_roster(
                [&](const model::Roster& r) { return !r.keeps_owner(j.op.user, after).ok(); });
            if (refused) {
                j.op.result = R::LastOwner;
                continue;
            }
        }
        ops.push_back(j.op);
        kept.push_back(&j);
        if (j.room) {
            // Provisionally, so the next change of the batch is checked against it; a store
            // failure reloads the room's rules below.
            store::MemberOp probe = j.op;
            probe.result = R::Done;
            if (probe.op != Op::Read && probe.op != Op::Settings) j.room->apply(probe);
        }
    }
    // Each applied change of a room's rules goes into the room's log as an event of its own,
    // right after it and in the same transaction (a local store), so that streams and resumes
    // carry "alice added bob" in its place and a crash cannot keep the one without the other.
    // In a public room joining and leaving is one's own list, not the room's business (anyone
    // reads and posts there whether a member or not): those are not recorded; the rest is.
    std::vector<Pending> records;
    Staged staged;
    bool stored = false;
    try {
        if (!cluster_) store_.begin_together();
        store_.members(ops);
        for (size_t i = 0; i < kept.size(); ++i) {
            auto* j = kept[i];
            const auto& done = ops[i];
            if (!j->room || done.result != R::Done) continue;
            bool own = (done.op == Op::Join || done.op == Op::Leave) &&
                       (done.by.empty() || done.by == done.user);
            if (own && j->room->visibility() == model::Visibility::Public) continue;
            if (auto ev = record_of(done)) {
                Pending p;
                p.room = j->room;
                p.msg = std::move(*ev);
                p.done = [](PublishOutcome, const Event&) {};
                p.since = std::chrono::steady_clock::now();
                records.push_back(std::move(p));
            }
        }
        if (cluster_) {
            stored = true;  // the records follow through the shared store's own path below
        } else {
            stored = records.empty() || stage(records, staged);
            if (stored) {
                store_.commit_together();
            } else {
                store_.abandon_together();
            }
        }
    } catch (const store::StoreError& e) {
        failed(e);
        if (!cluster_) store_.abandon_together();
        if (!records.empty() && !staged.rewind.empty()) {
            unstage(staged);
            refuse(records, e);
        }
        stored = false;
    }
    if (!stored) {
        reload_rules(kept);
        for (auto& j : jobs) j.done(false, j.op);
        return;
    }
    succeeded();
    // A change the store found nothing to do for (or refused) must not stay applied.
    std::vector<MemberJob*> undo;
    for (size_t i = 0; i < kept.size(); ++i)
        if (ops[i].result != R::Done) undo.push_back(kept[i]);
    if (!undo.empty()) reload_rules(undo);
    for (size_t i = 0; i < kept.size(); ++i) kept[i]->op = ops[i];
    if (!cluster_) {
        // With a shared store every node, this one too, hears of the change from the feed.
        std::lock_guard lk(seq_.mu);
        for (auto* j : kept)
            if (j->op.result == R::Done) notify_(j->op, j->room);
    }
    // (A change whose shard was away, of a sharded store, is answered as a failed store.)
    for (auto& j : jobs) j.done(j.op.result != R::Failed, j.op);
    if (records.empty()) return;
    if (cluster_) {
        // Two steps with a shared store: the rules change is in, its record follows.
        commit(records);
    } else {
        // After the members heard of the change: one added sees its record on their stream.
        deliver(records, staged, committed(staged.start, staged.msgs.size()));
    }
    try {
        store_.end_batch();
    } catch (const store::StoreError& e) {
        log::error(std::string("store: ") + e.what());
    }
}

std::optional<Event> Writer::record_of(const store::MemberOp& op) {
    using Op = store::MemberOp::Op;
    Event ev;
    ev.room = op.room;
    ev.user_id = op.user;
    ev.kind = Kind::Member;
    const std::string& by = op.by.empty() ? op.user : op.by;
    switch (op.op) {
        case Op::Join:
            if (op.was_member) return std::nullopt;
            ev.text = model::member_text(op.by.empty() || op.by == op.user ? "joined" : "added",
                                         op.role, by);
            break;
        case Op::Add:
            ev.text = model::member_text(op.was_member   ? "role"
                                         : by == op.user ? "joined"
                                                         : "added",
                                         op.role, by);
            break;
        case Op::Leave:
            ev.text = model::member_text(by == op.user ? "left" : "removed", model::Role::None, by);
            break;
        case Op::Ban:
            ev.text = model::member_text("banned", model::Role::None, op.restriction.by);
            break;
        case Op::Unban:
            ev.text = model::member_text("unbanned", model::Role::None, by);
            break;
        case Op::Mute:
            ev.text = model::member_text("muted", model::Role::None, op.restriction.by);
            break;
        case Op::Unmute:
            ev.text = model::member_text("unmuted", model::Role::None, by);
            break;
        case Op::Profile:
            ev.kind = Kind::RoomChange;
            ev.user_id = by;
            ev.text = model::room_text(op.profile, by);
            break;
        case Op::Read:
        case Op::Settings:
            return std::nullopt;
    }
    return ev;
}

void Writer::reload_rules(const std::vector<MemberJob*>& jobs) {
    for (auto* j : jobs) {
        if (!j->room) continue;
        try {
            j->room->set_roster(store_.roster(j->room->name()));
        } catch (const store::StoreError& e) {
            log::error(std::string("store: cannot re-read the rules of room ") + j->room->name() +
                       ": " + e.what());
        }
    }
}

void Writer::settle_keys(std::vector<Pending>& batch, int64_t now) {
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
            batch[i].first = f.index;
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

void Writer::commit(std::vector<Pending>& batch) {
    if (cluster_) return commit_shared(batch);
    Staged staged;
    if (!stage(batch, staged)) return;
    deliver(batch, staged, committed(staged.start, staged.msgs.size()));
}

bool Writer::stage(std::vector<Pending>& batch, Staged& s) {
    int64_t ts = now_ms();
    try {
        settle_keys(batch, ts);
    } catch (const store::StoreError& e) {
        refuse(batch, e);
        return false;
    }
    // Ids are assigned here, in queue order, so they increase in commit order per room;
    // positions likewise across rooms.
    s.pos_before = pos_;
    try {
        s.msgs = check_and_number(batch, ts, s.rewind, s.touched);
        s.start = std::chrono::steady_clock::now();
        if (!s.msgs.empty()) store_.append(s.msgs);
    } catch (const store::StoreError& e) {
        unstage(s);
        refuse(batch, e);
        return false;
    }
    succeeded();
    return true;
}

void Writer::unstage(Staged& s) {
    for (auto& [r, id] : s.rewind) r->rewind_ids(id);
    pos_ = s.pos_before;
    forget(s.touched);
}

void Writer::deliver(std::vector<Pending>& batch, Staged& s,
                     std::chrono::steady_clock::time_point t1) {
    resolve_duplicates(batch);
    // One delivery per room, in id order; user streams see the batch whole or not at all.
    {
        std::lock_guard lk(seq_.mu);
        const Sequence* at = seq_.user_streams ? &seq_ : nullptr;
        const uint64_t order = ++seq_.commits;
        std::vector<std::shared_ptr<const Delivery>> out;
        out.reserve(s.rewind.size());
        for (auto& [r, first] : s.rewind) {
            std::vector<const Event*> mine;
            std::shared_ptr<Room> owner;
            for (auto& p : batch)
                if (p.room.get() == r && p.outcome == PublishOutcome::Ok) {
                    mine.push_back(&p.msg);
                    owner = p.room;
                }
            if (!owner) continue;
            auto d = owner->commit(mine, false, at);
            d->order = order;
            out.push_back(std::move(d));
        }
        if (!out.empty()) fan_out_(std::move(out));
        seq_.pos.front() = pos_;
    }
    acknowledge(batch, t1);
    // After the answers, which may still point into `touched`.
    remember(s.touched);
}

std::vector<Event> Writer::check_and_number(std::vector<Pending>& batch, int64_t ts,
                                            std::vector<std::pair<Room*, uint64_t>>& rewind,
                                            Touched& state) {
    // The messages this batch reads or changes, by room and id: from the writer's cache or
    // the store once, then changed here as the batch's events apply, so that a later event
    // of the same batch is checked against the state the earlier ones leave.
    auto lookup = [&](Pending& p, uint64_t id) -> Touch& {
        auto [it, fresh] = state.try_emplace(state_key(p.msg.room, id));
        Touch& t = it->second;
        if (fresh) {
            bool trimmed = cfg_.retain && id + cfg_.retain <= p.room->assigned();
            if (!trimmed) find_cached(it->first, t);
            if (!t.state()) t.own = store_.message(p.msg.room, id);
        }
        return t;
    };
    std::vector<Event> out;
    out.reserve(batch.size());
    for (auto& p : batch) {
        if (p.outcome != PublishOutcome::Ok) continue;  // answered with what its key stored
        auto& ev = p.msg;
        Touch* touch = nullptr;  // a change's message, in `state` (its nodes do not move)
        Event* target = nullptr;
        // The answer of the batch's earlier change to this message is the state before this
        // one: that change gets a copy of it now.
        auto answers = [&] {
            if (Pending* earlier = touch->last) {
                earlier->state = *target;
                earlier->answer = &earlier->state;
            }
            touch->last = &p;
            p.answer = target;
        };
        if (model::rules_kind(ev.kind)) {
            // A record of a change the members commit applied: nothing to check.
        } else if (ev.kind == Kind::Message) {
            if (ev.reply_to && !lookup(p, ev.reply_to).state()) {
                p.outcome = PublishOutcome::BadReply;
                continue;
            }
        } else {
            touch = &lookup(p, ev.target);
            target = touch->state();
            if (auto verdict = model::check(target, ev, p.moderator);
                verdict != PublishOutcome::Ok) {
                p.outcome = verdict;
                if (verdict == PublishOutcome::NoChange) answers();
                continue;
            }
        }
        Room* r = p.room.get();
        if (std::none_of(rewind.begin(), rewind.end(), [&](auto& x) { return x.first == r; }))
            rewind.emplace_back(r, r->assigned());
        ev.id = r->assign_id();
        ev.pos = ++pos_;
        ev.ts = ts;
        if (ev.kind == Kind::Message) {
            // A later event of the batch, or of a later batch, may reply to it or change it.
            Touch& t = state[state_key(ev.room, ev.id)];
            t.cached = nullptr;
            t.own = ev;
            t.own->key.clear();
        } else if (target) {
            answers();
            model::apply(*target, ev);
        }
        out.push_back(ev);
    }
    return out;
}

std::string Writer::state_key(const std::string& room, uint64_t id) {
    std::string k = room;
    k += '\x1f';
    k += std::to_string(id);
    return k;
}

void Writer::find_cached(const std::string& key, Touch& t) {
    // Neither copied: the batch changes a young state where it is, and moves an old one out
    // for its commit to put in young_ (remember). A failed commit drops the key (forget).
    if (auto c = young_.find(key); c != young_.end()) {
        t.cached = &c->second;
    } else if (auto o = old_.find(key); o != old_.end()) {
        t.own = std::move(o->second);
    }
}

namespace {
// Bytes a cached state holds, about: its map node and its strings (ignoring the short ones'
// inline storage). A message of --max-message bytes is 4 KiB, so the cache is bounded in bytes
// too, not only in states.
size_t approx_bytes(const std::string& key, const Event& e) {
    size_t n = sizeof(Event) + 64 + key.size() + e.text.size() + e.user_id.size();
    for (const auto& r : e.reactions) {
        n += sizeof(r) + r.emoji.size();
        for (const auto& u : r.users) n += sizeof(u) + u.size();
    }
    return n;
}
}  // namespace

void Writer::remember(Touched& touched) {
    size_t half = std::max<size_t>(cfg_.state_cache / 2, 1);
    for (auto& [k, t] : touched) {
        // A state changed in place, or put back, counts again: the half only fills sooner.
        if (t.cached) {
            young_bytes_ += approx_bytes(k, *t.cached);
        } else if (t.own) {
            if (!old_.empty()) old_.erase(k);
            young_bytes_ += approx_bytes(k, *t.own);
            young_.insert_or_assign(k, std::move(*t.own));
        } else {
            continue;
        }
        // young_'s nodes, and the states the batch changed in them, move to old_ whole.
        if (young_.size() >= half || young_bytes_ >= kStateCacheBytes / 2) {
            old_ = std::move(young_);
            young_.clear();
            young_bytes_ = 0;
        }
    }
}

void Writer::forget(const Touched& touched) {
    for (const auto& [k, t] : touched) {
        young_.erase(k);
        old_.erase(k);
    }
}

std::chrono::steady_clock::time_point Writer::committed(std::chrono::steady_clock::time_point start,
                                                        size_t n) {
    auto now = std::chrono::steady_clock::now();
    metrics().commit_latency.observe(std::chrono::duration<double>(now - start).count());
    metrics().commit_batch.observe(static_cast<double>(n));
    return now;
}

void Writer::failed(const store::StoreError& e) {
    if (failures_++ == 0)
        log::error(std::string("store commit failed: ") + e.what() +
                   "; further failures are counted until a commit succeeds");
    else
        log::debug(std::string("store commit failed: ") + e.what());
}

void Writer::succeeded() {
    if (failures_ == 0) return;
    log::info("store commits succeed again, after " + std::to_string(failures_) +
              " failed (their requests were answered 503)");
    failures_ = 0;
}

void Writer::refuse(std::vector<Pending>& batch, const store::StoreError& e) {
    bool unconfirmed = dynamic_cast<const store::NotReplicated*>(&e) != nullptr;
    failed(e);
    for (auto& p : batch) {
        metrics().publish_failed.fetch_add(1, std::memory_order_relaxed);
        p.done(unconfirmed ? PublishOutcome::Unconfirmed : PublishOutcome::StoreFailed, p.msg);
    }
}

void Writer::resolve_duplicates(std::vector<Pending>& batch) {
    // A publish that repeated a key earlier in the same batch (settle_keys) now gets its
    // original's id and ts (the original was stored, or itself replayed, just before), or,
    // when the original was refused (a bad reply_to), the same refusal.
    for (auto& p : batch) {
        if (p.first == kNone) continue;
        const Pending& orig = batch[p.first];
        if (orig.outcome == PublishOutcome::BadReply) {
            p.outcome = PublishOutcome::BadReply;
            continue;
        }
        p.msg.id = orig.msg.id;
        p.msg.ts = orig.msg.ts;
    }
}

void Writer::acknowledge(std::vector<Pending>& batch, std::chrono::steady_clock::time_point done) {
    for (auto& p : batch) {
        bool ok = p.outcome == PublishOutcome::Ok || p.outcome == PublishOutcome::Replayed ||
                  p.outcome == PublishOutcome::NoChange;
        (ok ? metrics().publish_ok : metrics().publish_rejected)
            .fetch_add(1, std::memory_order_relaxed);
        metrics().publish_latency.observe(std::chrono::duration<double>(done - p.since).count());
        bool change = p.msg.kind != Kind::Message;
        p.done(p.outcome, !change ? p.msg : p.answer ? *p.answer : p.state);
    }
}

void Writer::commit_shared(std::vector<Pending>& batch) {
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
    succeeded();
    auto t1 = committed(t0, batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
        auto& p = batch[i];
        p.msg.id = msgs[i].id;
        p.msg.ts = msgs[i].ts;
        p.state = std::move(out[i].state);
        // The store checked the change and the key: its outcome is the answer, but that a
        // message's reply_to names nothing, which it tells as the change's NotFound.
        p.outcome = out[i].status == PublishOutcome::NotFound && p.msg.kind == Kind::Message
                        ? PublishOutcome::BadReply
                        : out[i].status;
    }
    acknowledge(batch, t1);
}

}  // namespace ssechat::chat
