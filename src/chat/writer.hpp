// The writer: the one thread that stores events. It batches what arrives while the previous
// commit runs (group commit) and answers each event after its commit. How a batch is stored
// is the one thing that differs between a node alone (LocalWriter: it checks, numbers and
// delivers) and nodes sharing a store (SharedWriter: the store checks and numbers, the feed
// delivers).
#pragma once
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
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
    // What a membership change answers, on the writer thread: false when the store refused.
    using MemberDone = std::function<void(bool, const store::MemberOp&)>;

    Writer(const Config& cfg, store::Store& store, Sequence& seq);
    virtual ~Writer();

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
    // Commits what is queued, then stops the thread. A derived writer's destructor calls it
    // first, while what its commits use still exists.
    void stop();

  protected:
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
    struct MemberJob {
        store::MemberOp op;
        std::shared_ptr<Room> room;
        MemberDone done;
    };

    // How a store is written: the one difference between one node and several.
    // Stores a batch of events and answers each (writer thread).
    virtual void commit(std::vector<Pending>& batch) = 0;
    // Before the thread starts.
    virtual void starting() {}
    // A join or add about to be stored: its marker and position, where this node gives them.
    virtual void number_join(MemberJob&) {}
    // Stores the changes (their results into `ops`) and fills `records` with what records
    // them in their rooms' logs (records_for); false after a store failure, with nothing
    // of it applied and failed() told.
    virtual bool store_members(std::vector<store::MemberOp>& ops,
                               const std::vector<MemberJob*>& kept,
                               std::vector<Pending>& records) = 0;
    // The changes are stored: this node's streams hear of them (here, or from the feed).
    virtual void members_applied(const std::vector<MemberJob*>&) {}
    // Delivers the records of the changes just stored.
    virtual void commit_records(std::vector<Pending>& records) = 0;

    // The records of the applied changes among `kept` (`ops` as the store answered them).
    std::vector<Pending> records_for(const std::vector<MemberJob*>& kept,
                                     const std::vector<store::MemberOp>& ops);
    // After a store commit: records its latency and size, and returns the time it ended.
    std::chrono::steady_clock::time_point committed(std::chrono::steady_clock::time_point start,
                                                    size_t n);
    // The store refused the batch: every publisher gets StoreFailed.
    void refuse(std::vector<Pending>& batch, const store::StoreError& e);
    void acknowledge(std::vector<Pending>& batch, std::chrono::steady_clock::time_point done);
    // Store failures are logged once when they begin and once when a commit succeeds again,
    // with how many there were: an outage is two lines, not one per batch. Writer thread.
    void failed(const store::StoreError& e);
    void succeeded();

    const Config& cfg_;
    store::Store& store_;
    Sequence& seq_;

  private:
    void loop();
    void commit_members(std::vector<MemberJob>& jobs);
    // Reads the rules of the jobs' rooms from the store again, after changes applied to them
    // ahead of the store were not stored.
    void reload_rules(const std::vector<MemberJob*>& jobs);
    // The event that records an applied change in the room's log, if it is one that does.
    static std::optional<Event> record_of(const store::MemberOp& op);

    std::mutex q_mu_;
    std::condition_variable q_cv_;
    std::vector<Pending> queue_;      // bounded by cfg_.max_pending
    std::vector<MemberJob> members_;  // bounded by cfg_.max_pending
    bool stopping_ = false;
    size_t failures_ = 0;
    std::thread thread_;
};

}  // namespace ssechat::chat
