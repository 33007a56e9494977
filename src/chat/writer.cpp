// Writer: one thread batches every event that arrives while the previous commit runs (group
// commit), and runs the membership changes' order-dependent checks; how a batch is stored is
// LocalWriter's or SharedWriter's.
#include "chat/writer.hpp"

#include <pthread.h>
#include <sched.h>

#include <cstring>

#include "chat/metrics.hpp"
#include "util/log.hpp"

namespace ssechat::chat {

namespace {
constexpr size_t kMaxBatch = 4096;
}  // namespace

Writer::Writer(const Config& cfg, store::Store& store, Sequence& seq)
    : cfg_(cfg), store_(store), seq_(seq) {}

Writer::~Writer() {
    stop();
}

void Writer::start() {
    starting();
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
        if (j.op.op == Op::Join || j.op.op == Op::Add) number_join(j);
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
    std::vector<Pending> records;
    if (!store_members(ops, kept, records)) {
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
    members_applied(kept);
    // (A change whose shard was away, of a sharded store, is answered as a failed store.)
    for (auto& j : jobs) j.done(j.op.result != R::Failed, j.op);
    if (records.empty()) return;
    commit_records(records);
    try {
        store_.end_batch();
    } catch (const store::StoreError& e) {
        log::error(std::string("store: ") + e.what());
    }
}

std::vector<Writer::Pending> Writer::records_for(const std::vector<MemberJob*>& kept,
                                                 const std::vector<store::MemberOp>& ops) {
    using Op = store::MemberOp::Op;
    // Each applied change of a room's rules goes into the room's log as an event of its own,
    // right after it (with a local store, in the same transaction), so that streams and
    // resumes carry "alice added bob" in its place. In a public room joining and leaving is
    // one's own list, not the room's business (anyone reads and posts there whether a member
    // or not): those are not recorded; the rest is.
    std::vector<Pending> records;
    for (size_t i = 0; i < kept.size(); ++i) {
        auto* j = kept[i];
        const auto& done = ops[i];
        if (!j->room || done.result != store::MemberOp::Result::Done) continue;
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
    return records;
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

}  // namespace ssechat::chat
