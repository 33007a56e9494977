// The hub: the room registry, the group-commit writer, and fan-out of commits to every shard.
#pragma once
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "chat/registry.hpp"
#include "chat/room.hpp"
#include "store/cluster.hpp"
#include "store/store.hpp"
#include "util/config.hpp"

namespace ssechat::chat {

class Shard;

// What became of an event handed to publish(). The event answered with is the message (for
// a new message) or the changed message's current state (for a change).
enum class PublishOutcome {
    Ok,           // committed, with its id and ts
    Replayed,     // its Idempotency-Key stored this text before: the message is that one
    KeyConflict,  // its Idempotency-Key stored another text before: nothing was stored
    NoChange,     // a reaction already there, or one to remove that is not: nothing stored
    NotFound,     // the change names no message of the room
    Forbidden,    // not the author's edit, or a delete by neither author nor moderator
    Gone,         // the message was deleted
    BadReply,     // reply_to names no message of the room
    Overloaded,   // too many publishes waiting for the store
    StoreFailed,  // the store refused the commit; nothing was stored
};

class Hub {
  public:
    // Runs on the writer thread; callers post back to their own loop from it.
    using Done = std::function<void(PublishOutcome, const Event&)>;

    Hub(const Config& cfg, store::Store& store);
    ~Hub();

    void set_shards(std::vector<Shard*> shards) { shards_ = std::move(shards); }
    const Config& config() const { return cfg_; }
    store::Store& store() { return store_; }

    // Get or load (and warm from the store) a room. The name must be valid. Null when
    // --max-rooms rooms are loaded and every one of them is in use. Throws StoreError when
    // the store cannot be read.
    std::shared_ptr<Room> room(const std::string& name);
    // One page of the rooms that hold messages, by name (see Store::rooms). Throws StoreError.
    std::vector<store::RoomMeta> rooms(const std::string& after, size_t limit);
    std::shared_ptr<Room> find(const std::string& name);
    size_t rooms_loaded() { return registry_.size(); }
    // A stream of `r` ended: an empty room nothing else holds is dropped from memory.
    void release(const std::shared_ptr<Room>& r) { registry_.release(r); }
    void sweep_rooms() { registry_.sweep(); }
    // Users online in a room: on this node, or across the cluster with a shared store.
    // Throws StoreError.
    std::vector<std::string> online(const std::string& name);
    std::vector<size_t> online_counts(const std::vector<std::string>& names);

    // Stores an event of a stored kind in the room, checked in commit order against the
    // message it changes (`moderator`: the user may delete others' messages), and answers
    // with `done`. A message's key that the same user used in the same room within
    // --idempotency-ttl stores nothing new (Replayed or KeyConflict).
    void publish(std::shared_ptr<Room> room, Event ev, bool moderator, Done done);
    // A new message; `key`: the sender's Idempotency-Key, or empty.
    void publish(std::shared_ptr<Room> room, std::string user, std::string text, std::string key,
                 Done done);
    // A user's first stream in a room on this node opened, or their last closed; `online` is
    // the room's local user count after it. Sends join/leave events (within --presence-max),
    // or with a shared store registers the change cluster-wide.
    void presence(const std::shared_ptr<Room>& room, const std::string& user, bool joined,
                  int online);

    // Publishes waiting for the store.
    size_t pending() {
        std::lock_guard lk(q_mu_);
        return queue_.size();
    }

    void start();
    // Commits what is pending, then stops the writer.
    void stop();

  private:
    struct Pending {
        std::shared_ptr<Room> room;
        Event msg;  // the event; for a message also the answer
        bool moderator = false;
        Done done;
        std::chrono::steady_clock::time_point since;  // for the publish latency histogram
        PublishOutcome outcome = PublishOutcome::Ok;  // decided by the commit
        Event state = {};                             // a change's answer: the message after it
    };
    // Checks each event of the batch in order against the state of its message (the store's,
    // then the batch's own changes before it), applies what passes to that state, and gives
    // ids. Returns the events to store. Throws StoreError.
    std::vector<Event> check_and_number(std::vector<Pending>& batch, int64_t ts,
                                        std::vector<std::pair<Room*, uint64_t>>& rewind);
    // Settles the keyed publishes of a batch before ids are given: a key seen in the store
    // or earlier in the batch makes its publish Replayed (msg becomes the original) or
    // KeyConflict. Throws StoreError.
    void settle_keys(std::vector<Pending>& batch, int64_t now);
    void writer_loop();
    void commit(std::vector<Pending>& batch);
    void commit_shared(std::vector<Pending>& batch);
    // After a store commit: records its latency and size, and returns the time it ended.
    std::chrono::steady_clock::time_point committed(std::chrono::steady_clock::time_point start,
                                                    size_t n);
    // The store refused the batch: every publisher gets StoreFailed.
    void refuse(std::vector<Pending>& batch, const store::StoreError& e);
    void acknowledge(std::vector<Pending>& batch, std::chrono::steady_clock::time_point done);
    void resolve_duplicates(std::vector<Pending>& batch);
    // Sends a join/leave event to this node's streams of the room.
    void announce(const std::shared_ptr<Room>& room, const std::string& user, bool joined,
                  int online);
    void fan_out(std::shared_ptr<Delivery> d);
    // Cluster feed (feed thread): messages of every node, deduplicated by id per room.
    void on_feed(store::FeedBatch& b);
    // Delivers a room's messages from the feed in id order, filling gaps from the store.
    // Serialized by ingest_mu_: the feed thread and a loop that just loaded the room both
    // call it.
    void ingest(const std::shared_ptr<Room>& r, std::vector<Event> msgs);
    std::shared_ptr<Room> load(const std::string& name);
    void catch_up();

    const Config& cfg_;
    store::Store& store_;
    store::Cluster* cluster_;  // set when several nodes share the store
    std::vector<Shard*> shards_;

    Registry registry_;
    std::mutex ingest_mu_;

    std::mutex q_mu_;
    std::condition_variable q_cv_;
    std::vector<Pending> queue_;  // bounded by cfg_.max_pending
    bool stopping_ = false;
    std::thread writer_;
};

}  // namespace ssechat::chat
