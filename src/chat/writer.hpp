// The writer: the one thread that stores events. It batches what arrives while the previous
// commit runs (group commit), settles idempotency keys, checks each change against the state
// of its message, assigns ids in commit order, and answers each event after its commit.
#pragma once
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "chat/room.hpp"
#include "chat/sequence.hpp"
#include "store/cluster.hpp"
#include "store/store.hpp"
#include "util/config.hpp"

namespace ssechat::chat {

// What became of an event handed to publish(). The event answered with is the message (for
// a new message) or the changed message's current state (for a change).
using PublishOutcome = model::Outcome;

class Writer {
  public:
    // Runs on the writer thread; callers post back to their own loop from it.
    using Done = std::function<void(PublishOutcome, const Event&)>;
    // Takes what a local commit delivers, one delivery per room (with a shared store the feed
    // delivers instead). A batch's positions interleave across its rooms, so its deliveries
    // must reach each loop together: a flush between two of them would show a user stream a
    // later position before an earlier one.
    using FanOut = std::function<void(std::vector<std::shared_ptr<const Delivery>>)>;

    // What a membership change answers, on the writer thread: false when the store refused.
    using MemberDone = std::function<void(bool, const store::MemberOp&)>;
    // Told of each applied membership change, in commit order with the deliveries.
    using MemberNotify = std::function<void(const store::MemberOp&, const std::shared_ptr<Room>&)>;

    Writer(const Config& cfg, store::Store& store, Sequence& seq, FanOut fan_out,
           MemberNotify notify);
    ~Writer();

    // Queues an event of a stored kind (bounded by --max-pending: Overloaded past it).
    void publish(std::shared_ptr<Room> room, Event ev, bool moderator, Done done);
    // Queues a membership change of `room` (bounded like publishes). A join starts with the
    // room's last id as its marker and the position of the last commit.
    void member(store::MemberOp op, std::shared_ptr<Room> room, MemberDone done);
    // Several changes of one room, committed in one store transaction (they are queued
    // together, so one batch takes them all); `done` answers the last one.
    void members(std::vector<store::MemberOp> ops, std::shared_ptr<Room> room, MemberDone done);
    // Events waiting for the store.
    size_t pending() {
        std::lock_guard lk(q_mu_);
        return queue_.size();
    }
    void start();
    // Commits what is queued, then stops the thread.
    void stop();

  private:
    struct Pending {
        std::shared_ptr<Room> room;
        Event msg;  // the event; for a message also the answer
        bool moderator = false;
        Done done;
        std::chrono::steady_clock::time_point since;  // for the publish latency histogram
        PublishOutcome outcome = PublishOutcome::Ok;  // decided by the commit
        // A change's answer, the message after it: its entry in the batch's states while no
        // later change of the batch touched that message, else a copy taken before that one.
        const Event* answer = nullptr;
        Event state = {};
        size_t first = kNone;  // an earlier publish of the batch with the same key, if any
    };
    static constexpr size_t kNone = SIZE_MAX;
    // Checks each event of the batch in order against the state of its message (the store's,
    // then the batch's own changes before it), applies what passes to that state, and gives
    // ids. Returns the events to store. Throws StoreError.
    // The messages a batch read or changed, by state_key(), and their state after it (null:
    // no such message), with the batch's last change to each, whose answer that state is.
    // A state in young_ is changed where it is, and so costs no second lookup to put back;
    // one read from the store, new, or found in old_ is the batch's own until remember().
    struct Touch {
        Event* cached = nullptr;  // in young_
        std::optional<Event> own;
        Pending* last = nullptr;
        Event* state() { return cached ? cached : own ? &*own : nullptr; }
    };
    using Touched = std::unordered_map<std::string, Touch>;
    std::vector<Event> check_and_number(std::vector<Pending>& batch, int64_t ts,
                                        std::vector<std::pair<Room*, uint64_t>>& rewind,
                                        Touched& state);
    static std::string state_key(const std::string& room, uint64_t id);
    // Keeps a committed batch's message states for the next batches (local stores only).
    void remember(Touched& touched);
    // A batch that was not committed: the states it touched leave the cache, changed or moved
    // out as they may be (the store has them).
    void forget(const Touched& touched);
    // Points `t` at the cached state of `key`, in young_, or moves it out of old_; neither
    // when it is not cached.
    void find_cached(const std::string& key, Touch& t);
    // Settles the keyed publishes of a batch before ids are given: a key seen in the store
    // or earlier in the batch makes its publish Replayed (msg becomes the original) or
    // KeyConflict. Throws StoreError.
    void settle_keys(std::vector<Pending>& batch, int64_t now);
    void loop();
    void commit(std::vector<Pending>& batch);
    // A batch stored but not yet delivered: what undoing it takes, and what delivering needs.
    struct Staged {
        std::vector<std::pair<Room*, uint64_t>> rewind;  // each room's first id in the batch
        uint64_t pos_before = 0;
        std::vector<Event> msgs;
        Touched touched;
        std::chrono::steady_clock::time_point start{};  // when the store write began
    };
    // Settles keys, checks and numbers the batch and appends it to the store (committed
    // unless the store holds a transaction open: begin_together()). False after refusing
    // the batch, with nothing of it left applied.
    bool stage(std::vector<Pending>& batch, Staged& s);
    // Takes back a staged batch's ids, position and cached states (its commit failed).
    void unstage(Staged& s);
    // Hands a committed batch to the shards in one step and answers its publishers.
    void deliver(std::vector<Pending>& batch, Staged& s, std::chrono::steady_clock::time_point t1);
    struct MemberJob {
        store::MemberOp op;
        std::shared_ptr<Room> room;
        MemberDone done;
    };
    void commit_members(std::vector<MemberJob>& jobs);
    // Reads the rules of the jobs' rooms from the store again, after changes applied to them
    // ahead of the store were not stored.
    void reload_rules(const std::vector<MemberJob*>& jobs);
    // The event that records an applied change in the room's log, if it is one that does.
    static std::optional<Event> record_of(const store::MemberOp& op);
    void commit_shared(std::vector<Pending>& batch);
    // After a store commit: records its latency and size, and returns the time it ended.
    std::chrono::steady_clock::time_point committed(std::chrono::steady_clock::time_point start,
                                                    size_t n);
    // The store refused the batch: every publisher gets StoreFailed.
    void refuse(std::vector<Pending>& batch, const store::StoreError& e);
    void acknowledge(std::vector<Pending>& batch, std::chrono::steady_clock::time_point done);
    void resolve_duplicates(std::vector<Pending>& batch);
    const Config& cfg_;
    store::Store& store_;
    store::Cluster* cluster_;  // set when several nodes share the store: it assigns the ids
    Sequence& seq_;
    FanOut fan_out_;
    MemberNotify notify_;
    uint64_t pos_ = 0;  // writer thread: the last position given (local stores)
    // Writer thread only: message states as the last commits left them, by state_key(). Local
    // stores only (in cluster mode other nodes change messages too), and never for a trimmed id.
    // Two halves of --state-cache / 2 states (or kStateCacheBytes / 2): a state is written
    // to young_; a full young_ becomes old_, and the old old_ is dropped. A state found in old_
    // moves back to young_ when its batch commits. So the newest half is always here, at a cost of
    // one extra lookup. young_ and old_ never hold the same key.
    std::unordered_map<std::string, Event> young_, old_;
    size_t young_bytes_ = 0;  // about (approx_bytes)
    // The cache's bound in bytes, whatever --state-cache says: 4 KiB messages would otherwise
    // make 65,536 states a quarter of a gigabyte.
    static constexpr size_t kStateCacheBytes = size_t{64} << 20;

    std::mutex q_mu_;
    std::condition_variable q_cv_;
    std::vector<Pending> queue_;      // bounded by cfg_.max_pending
    std::vector<MemberJob> members_;  // bounded by cfg_.max_pending
    bool stopping_ = false;
    // Store failures are logged once when they begin and once when a commit succeeds again,
    // with how many there were: an outage is two lines, not one per batch. Writer thread.
    void failed(const store::StoreError& e);
    void succeeded();
    size_t failures_ = 0;
    std::thread thread_;
};

}  // namespace ssechat::chat
