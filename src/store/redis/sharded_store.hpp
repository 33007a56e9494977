// Rooms spread over several Redis shards (--redis with a list): each room lives on one
// shard, by util/placement.hpp, and every call about a room goes to that shard's store, so
// the rules a store applies (publish.lua, members.lua) stay atomic per room. What spans rooms
// (listing them, a user's memberships, online counts) asks each shard involved.
#pragma once
#include <memory>
#include <mutex>
#include <vector>

#include "store/cluster.hpp"
#include "store/redis/redis_store.hpp"
#include "store/store.hpp"
#include "util/crew.hpp"

namespace ssechat::store {

class ShardedStore final : public Store, public Cluster {
  public:
    // One RedisOptions per shard, in --redis's order (their shard fields are set here). Dials
    // shard 1 first: its epoch names the set, which every other shard's marker must carry.
    // Throws ShardMismatch when the data says the list is not the one it was written with.
    explicit ShardedStore(std::vector<RedisOptions> shards);
    ~ShardedStore() override;

    size_t shards() const override { return shards_.size(); }
    size_t shard_of(const std::string& room) const override;

    // Store
    std::vector<RoomMeta> rooms(const std::string& after, size_t limit) override;
    uint64_t last_id(const std::string& room) override { return at(room).last_id(room); }
    void append(const std::vector<model::Event>& batch) override;
    std::vector<model::Event> range(const std::string& room, uint64_t after, uint64_t before,
                                    size_t limit, bool newest) override {
        return at(room).range(room, after, before, limit, newest);
    }
    std::vector<model::Event> messages(const std::string& room, uint64_t after, uint64_t before,
                                       size_t limit, bool newest) override {
        return at(room).messages(room, after, before, limit, newest);
    }
    std::vector<model::Event> shown(const std::string& room, uint64_t after, uint64_t before,
                                    size_t limit, bool newest) override {
        return at(room).shown(room, after, before, limit, newest);
    }
    std::optional<model::Event> message(const std::string& room, uint64_t id) override {
        return at(room).message(room, id);
    }
    std::optional<model::KeyRecord> find_key(const std::string& room, const std::string& user,
                                             const std::string& key, int64_t now_ms) override {
        return at(room).find_key(room, user, key, now_ms);
    }
    const std::string& epoch(size_t shard) override { return shards_.at(shard)->epoch(0); }
    uint64_t last_pos(size_t shard) override { return shards_.at(shard)->last_pos(0); }
    std::optional<uint64_t> first_after(const std::string& room, uint64_t pos) override {
        return at(room).first_after(room, pos);
    }
    std::vector<model::Event> log_after(size_t shard, uint64_t pos, size_t limit) override {
        return shards_.at(shard)->log_after(0, pos, limit);
    }
    // Each change on its room's shard (a user's settings on the user's): atomic per shard,
    // not across shards. A shard that fails answers its own changes Failed and the others
    // are applied; throws only when every shard the batch reached failed.
    void members(std::vector<MemberOp>& ops) override;
    // A user's memberships are kept with each room (members.lua writes both sides at once),
    // so every shard is asked: one round trip each.
    std::vector<Membership> memberships(const std::string& user) override;
    model::Roster roster(const std::string& room) override { return at(room).roster(room); }
    model::Roster roster_of(const std::string& room, const std::string& user) override {
        return at(room).roster_of(room, user);
    }
    std::optional<model::Profile> profile(const std::string& room) override {
        return at(room).profile(room);
    }
    Settings settings(const std::string& user) override { return at(user).settings(user); }
    std::vector<std::pair<std::string, uint64_t>> receipts(const std::string& room) override {
        return at(room).receipts(room);
    }
    Unread unread(const std::string& room, const std::string& user, uint64_t after,
                  size_t cap) override {
        return at(room).unread(room, user, after, cap);
    }
    bool writable() override;
    Cluster* cluster() override { return this; }

    // Cluster
    // Each shard's events go to that shard in one call, the shards at once. A shard that fails
    // answers its own events StoreFailed (Unconfirmed when its replicas did not confirm), and
    // the others' are stored: one shard down does not stop the rest. Throws only when every
    // shard the batch reached failed.
    void publish(std::vector<model::Event>& batch, const std::vector<bool>& moderator,
                 std::vector<Published>& out) override;
    // One feed thread per shard; their batches reach `handlers` one at a time, each marked
    // with its shard.
    void follow(FeedHandlers handlers) override;
    void route(const std::string& room, bool on) override;
    void watch(const std::string& user, bool on) override;
    void sync(size_t shard) override;
    void presence(const std::string& room, const std::string& user, bool joined) override {
        at(room).presence(room, user, joined);
    }
    void typing(const std::string& room, const std::string& user, bool on) override {
        at(room).typing(room, user, on);
    }
    std::vector<std::string> online(const std::string& room) override {
        return at(room).online(room);
    }
    std::vector<size_t> online_counts(const std::vector<std::string>& rooms) override;
    void stop() override;

  private:
    RedisStore& at(const std::string& name) const { return *shards_[shard_of(name)]; }

    std::vector<std::unique_ptr<RedisStore>> shards_;
    Crew crew_;  // publish(): the writer's calls to the shards past the first, at once
    // The indexes of `items` per shard, by the shard of key(item) (a room or a user), each in
    // the items' order.
    template <class T, class Key>
    std::vector<std::vector<size_t>> by_shard(const std::vector<T>& items, Key key) const;
    std::mutex feed_mu_;  // one shard's feed batch at a time reaches the handlers
    FeedHandlers handlers_;
};

}  // namespace ssechat::store
