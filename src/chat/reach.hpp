// How what happens on this node reaches every node, and theirs reaches it: the difference
// between one node and several, in one place. A node alone (Alone) hands presence and typing
// straight to its own loops; nodes sharing a store (Shared) send them through the store, and
// the store's feed brings back every node's changes (commits, memberships, presence, typing)
// to the rooms and users this node holds, in order. The hub asks a Reach and does not branch on
// which it has.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "chat/feed.hpp"
#include "chat/room.hpp"
#include "store/cluster.hpp"

namespace ssechat::chat {

class Hub;

class Reach {
  public:
    virtual ~Reach() = default;
    // Users online in a room, and the distinct count of each of `rooms` (one round trip to
    // a shared store). Throw StoreError.
    virtual std::vector<std::string> online(const std::string& room) = 0;
    virtual std::vector<size_t> online_counts(const std::vector<std::string>& rooms) = 0;
    // A user's first stream of a room opened here (`online`: the room's local count after
    // it), or their last one closed and the leave's grace passed (`held`: the room, if it is
    // still loaded).
    virtual void joined(const std::shared_ptr<Room>& room, const std::string& user, int online) = 0;
    virtual void left(const std::string& room, const std::string& user,
                      const std::shared_ptr<Room>& held) = 0;
    // A typing state to send to the room's streams (the user's own do not hear it).
    virtual void typing(const std::shared_ptr<Room>& room, const std::string& user, bool on) = 0;
    // A room is about to be read from the store (loading), was just loaded (loaded: with a
    // shared store, what its load may have missed comes now), or was let go (dropped).
    virtual void loading(const std::string& room) = 0;
    virtual void loaded(const std::shared_ptr<Room>& room) = 0;
    virtual void dropped(const std::string& room) = 0;
    // A user stream of `user` opens (on) or ends here: their membership changes are needed.
    virtual void watch(const std::string& user, bool on) = 0;
    // Brings this node's positions up to where store shard `shard` stands (a mark through
    // the feed, Sequence::moved when it comes). Throws StoreError.
    virtual void sync(size_t shard) = 0;
    // Where every store shard stands now, when the feed may lag it (empty when it cannot: a
    // node alone numbers every event itself). Throws StoreError.
    virtual model::Positions stored() = 0;
    // Whether this node's copy of a loaded room is as new as the store (a shared store's
    // feed may lag it).
    virtual bool current() const = 0;
    virtual void start() = 0;
    virtual void stop() = 0;
};

// One node: everything is local.
class Alone final : public Reach {
  public:
    explicit Alone(Hub& hub) : hub_(hub) {}
    std::vector<std::string> online(const std::string& room) override;
    std::vector<size_t> online_counts(const std::vector<std::string>& rooms) override;
    void joined(const std::shared_ptr<Room>& room, const std::string& user, int online) override;
    void left(const std::string& room, const std::string& user,
              const std::shared_ptr<Room>& held) override;
    void typing(const std::shared_ptr<Room>& room, const std::string& user, bool on) override;
    void loading(const std::string&) override {}
    void loaded(const std::shared_ptr<Room>&) override {}
    void dropped(const std::string&) override {}
    void watch(const std::string&, bool) override {}
    void sync(size_t) override {}
    model::Positions stored() override { return {}; }
    bool current() const override { return true; }
    void start() override {}
    void stop() override {}

  private:
    Hub& hub_;
};

// Several nodes on a shared store: changes go out through it and come back through `feed`.
class Shared final : public Reach {
  public:
    Shared(Hub& hub, store::Cluster& cluster, Feed& feed)
        : hub_(hub), cluster_(cluster), feed_(feed) {}
    std::vector<std::string> online(const std::string& room) override {
        return cluster_.online(room);
    }
    std::vector<size_t> online_counts(const std::vector<std::string>& rooms) override {
        return cluster_.online_counts(rooms);
    }
    void joined(const std::shared_ptr<Room>& room, const std::string& user, int online) override;
    void left(const std::string& room, const std::string& user,
              const std::shared_ptr<Room>& held) override;
    void typing(const std::shared_ptr<Room>& room, const std::string& user, bool on) override;
    // A node hears only the rooms it holds and the users it streams to (store::Cluster).
    void loading(const std::string& room) override { cluster_.route(room, true); }
    void loaded(const std::shared_ptr<Room>& room) override { feed_.ingest(room, {}); }
    void dropped(const std::string& room) override { cluster_.route(room, false); }
    void watch(const std::string& user, bool on) override { cluster_.watch(user, on); }
    void sync(size_t shard) override { cluster_.sync(shard); }
    model::Positions stored() override;
    bool current() const override { return false; }
    // Follows the changes of what this node holds: the feed's batches, dispatched to the
    // rooms loaded here.
    void start() override;
    void stop() override { cluster_.stop(); }

  private:
    void dispatch(store::FeedBatch& b);

    Hub& hub_;
    store::Cluster& cluster_;
    Feed& feed_;
};

}  // namespace ssechat::chat
