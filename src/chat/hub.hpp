// The hub: what the HTTP layer talks to. It owns the room registry, the writer and the cluster
// feed, decides presence policy, and fans every delivery out to the shards.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "chat/feed.hpp"
#include "chat/reach.hpp"
#include "chat/registry.hpp"
#include "chat/room.hpp"
#include "chat/writer.hpp"
#include "store/cluster.hpp"
#include "store/store.hpp"
#include "util/config.hpp"

namespace ssechat::chat {

class Shard;

class Hub {
  public:
    // Runs on the writer thread; callers post back to their own loop from it.
    using Done = Writer::Done;

    // `views`: the view each room gets when it loads (none when empty).
    Hub(const Config& cfg, store::Store& store, ViewFactory views = {});
    ~Hub();

    void set_shards(std::vector<Shard*> shards) { shards_ = std::move(shards); }
    // Where summaries read a user's push levels by room (kept beside the push state, which
    // this layer does not know); set once before serving. Throws StoreError.
    using Levels = std::function<std::map<std::string, model::NotifyLevel>(const std::string&)>;
    void set_levels(Levels levels) { levels_ = std::move(levels); }
    const Config& config() const { return cfg_; }
    store::Store& store() { return store_; }

    // Get or load (and warm from the store) a room. The name must be valid. Null when
    // --max-rooms rooms are loaded and every one of them is in use. Throws StoreError when
    // the store cannot be read.
    std::shared_ptr<Room> room(const std::string& name);
    // One page of the public rooms that hold messages, by name (see Store::rooms). Throws
    // StoreError.
    // `private_too`: private rooms as well (an API key with the rooms scope), never a direct
    // message.
    std::vector<store::RoomMeta> rooms(const std::string& after, size_t limit,
                                       bool private_too = false);
    // Whether a room is listed to everyone (public), or with `private_too` to those who see
    // every room. Throws StoreError.
    bool listed(const std::string& name, bool private_too = false);
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
    // or with a shared store registers the change cluster-wide. A leave is announced 5 s
    // later, and not at all when the user is back by then (a reload).
    void presence(const std::shared_ptr<Room>& room, const std::string& user, bool joined,
                  int online);

    // `user` started or stopped typing in `room`: the others' streams of the room hear of it
    // (not the user's own), throttled and lapsing as Room::typing says. Not stored. With a
    // shared store it goes out through the cluster log to every node.
    void typing(const std::shared_ptr<Room>& room, const std::string& user, bool on);
    // Sends the typing states that came due (lapsed, or held back by the throttle).
    void sweep_typing();

    // Membership changes (join, leave, read marker) through the writer, answered by `done` on
    // the writer thread. Applied ones reach the user's streams on every loop, in order with
    // the deliveries; a moved marker also goes to the room as a receipt (one per user per
    // second, the latest winning).
    void member(store::MemberOp op, std::shared_ptr<Room> room, Writer::MemberDone done);
    // Several changes of one room in one transaction (Writer::members).
    void members(std::vector<store::MemberOp> ops, std::shared_ptr<Room> room,
                 Writer::MemberDone done) {
        writer_->members(std::move(ops), std::move(room), std::move(done));
    }
    // A joined room as GET /me/rooms shows it. Throws StoreError.
    model::Summary summary(const std::string& user, const std::string& room, uint64_t read);
    std::vector<model::Summary> summaries(const std::string& user,
                                          const std::vector<store::Membership>& joined);
    Sequence& sequence() { return seq_; }
    Reach& reach() { return *reach_; }

    // Publishes waiting for the store.
    size_t pending() { return writer_->pending(); }

    void start();
    // Commits what is pending, then stops the writer.
    void stop();

  private:
    friend class Alone;   // presence and typing, one node
    friend class Shared;  // the same, and the feed's dispatch, with a shared store
    // Sends a join/leave event to this node's streams of the room.
    void announce(const std::shared_ptr<Room>& room, const std::string& user, bool joined,
                  int online);
    void fan_out(std::shared_ptr<Delivery> d);
    void fan_out(std::vector<std::shared_ptr<const Delivery>> ds);  // a commit's, together
    std::unique_ptr<Writer> make_writer();                // for the store: local or shared
    std::shared_ptr<Room> load(const std::string& name);  // the registry's loader
    std::shared_ptr<Room> read(const std::string& name);  // the room as the store has it
    void announce_typing(const std::shared_ptr<Room>& room, const std::string& user, bool on);
    // Under the sequence lock: a membership change reaches the user's streams on every loop.
    // `room` may be null for a read marker (no receipt then).
    void notify(const store::MemberOp& op, const std::shared_ptr<Room>& room);
    // A summary without its online count (which summaries() reads for all rooms at once).
    model::Summary counted(const std::string& user, const std::string& room, uint64_t read);
    // A membership change read from the cluster feed.
    void member_changed(const store::MemberOp& op);
    void send_receipt(const std::shared_ptr<Room>& room, const std::string& user, uint64_t id);

    const Config& cfg_;
    ViewFactory views_;
    store::Store& store_;
    std::vector<Shard*> shards_;
    Levels levels_;

    // Leaves announced only after kLeaveGraceMs: a reload (leave, then join again at once)
    // tells nobody anything. (room name, user) -> the room and when to announce.
    static constexpr int64_t kLeaveGraceMs = 5000;
    std::mutex leaves_mu_;
    // Held weakly: a pending announcement keeps no room from eviction (an evicted room has
    // nobody left to tell).
    struct Leave {
        std::weak_ptr<Room> room;
        int64_t due = 0;
    };
    std::map<std::pair<std::string, std::string>, Leave> leaves_;
    void announce_due_leaves(int64_t now);
    std::mutex typing_mu_;
    std::set<std::shared_ptr<Room>> typing_rooms_;  // rooms with typing or receipts to sweep
    Sequence seq_;
    Registry registry_;
    std::unique_ptr<Writer> writer_;  // LocalWriter, or SharedWriter with a shared store
    Feed feed_;
    std::unique_ptr<Reach> reach_;  // Alone, or Shared when several nodes share the store
};

}  // namespace ssechat::chat
