// A writer for a store this node alone writes: it settles idempotency keys, checks each
// change against the state of its message, assigns ids and positions in commit order, and
// hands each commit to this node's fan-out.
#pragma once
#include <string>
#include <unordered_map>

#include "chat/writer.hpp"

namespace ssechat::chat {

class LocalWriter final : public Writer {
  public:
    // Takes what a commit delivers, one delivery per room. A batch's positions interleave
    // across its rooms, so its deliveries must reach each loop together: a flush between two
    // of them would show a user stream a later position before an earlier one.
    using FanOut = std::function<void(std::vector<std::shared_ptr<const Delivery>>)>;
    // Told of each applied membership change, in commit order with the deliveries.
    using MemberNotify = std::function<void(const store::MemberOp&, const std::shared_ptr<Room>&)>;

    LocalWriter(const Config& cfg, store::Store& store, Sequence& seq, FanOut fan_out,
                MemberNotify notify);
    ~LocalWriter() override;

  private:
    void commit(std::vector<Pending>& batch) override;
    void starting() override;
    void number_join(MemberJob& j) override;
    bool store_members(std::vector<store::MemberOp>& ops, const std::vector<MemberJob*>& kept,
                       std::vector<Pending>& records) override;
    void members_applied(const std::vector<MemberJob*>& kept) override;
    void commit_records(std::vector<Pending>& records) override;

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
    // Checks each event of the batch in order against the state of its message (the store's,
    // then the batch's own changes before it), applies what passes to that state, and gives
    // ids. Returns the events to store. Throws StoreError.
    std::vector<Event> check_and_number(std::vector<Pending>& batch, int64_t ts,
                                        std::vector<std::pair<Room*, uint64_t>>& rewind,
                                        Touched& state);
    static std::string state_key(const std::string& room, uint64_t id);
    // Keeps a committed batch's message states for the next batches.
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
    void resolve_duplicates(std::vector<Pending>& batch);

    FanOut fan_out_;
    MemberNotify notify_;
    uint64_t pos_ = 0;  // writer thread: the last position given
    Staged staged_;     // writer thread: the records of the membership changes being stored
    // Writer thread only: message states as the last commits left them, by state_key(). Never
    // for a trimmed id. Two halves of --state-cache / 2 states (or kStateCacheBytes / 2): a
    // state is written to young_; a full young_ becomes old_, and the old old_ is dropped. A
    // state found in old_ moves back to young_ when its batch commits. So the newest half is
    // always here, at a cost of one extra lookup. young_ and old_ never hold the same key.
    std::unordered_map<std::string, Event> young_, old_;
    size_t young_bytes_ = 0;  // about (approx_bytes)
    // The cache's bound in bytes, whatever --state-cache says: 4 KiB messages would otherwise
    // make 65,536 states a quarter of a gigabyte.
    static constexpr size_t kStateCacheBytes = size_t{64} << 20;
};

}  // namespace ssechat::chat
