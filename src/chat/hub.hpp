// The hub: the room registry, the group-commit writer, and fan-out of commits to every shard.
#pragma once
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "chat/room.hpp"
#include "store/store.hpp"
#include "util/config.hpp"

namespace ssechat::chat {

class Shard;

enum class PublishOutcome {
    Ok,           // committed; the message carries its id and ts
    Overloaded,   // too many publishes waiting for the store
    StoreFailed,  // the store refused the commit; nothing was stored
};

class Hub {
  public:
    // Runs on the writer thread; callers post back to their own loop from it.
    using Done = std::function<void(PublishOutcome, const Message&)>;

    Hub(const Config& cfg, store::Store& store);
    ~Hub();

    void set_shards(std::vector<Shard*> shards) { shards_ = std::move(shards); }
    const Config& config() const { return cfg_; }
    store::Store& store() { return store_; }

    // Get or create (and warm from the store) a room. The name must be valid. Null when
    // --max-rooms rooms are loaded and this one would be new.
    std::shared_ptr<Room> room(const std::string& name);
    // Every room that exists in the store or in memory, with its last id.
    std::vector<std::pair<std::string, uint64_t>> rooms();
    std::shared_ptr<Room> find(const std::string& name);

    void publish(std::shared_ptr<Room> room, std::string user, std::string text, Done done);
    void presence(const std::shared_ptr<Room>& room, const std::string& user, bool joined,
                  int online);

    void start();
    // Commits what is pending, then stops the writer.
    void stop();

  private:
    struct Pending {
        std::shared_ptr<Room> room;
        Message msg;
        Done done;
        std::chrono::steady_clock::time_point since;  // for the publish latency histogram
    };
    void writer_loop();
    void commit(std::vector<Pending>& batch);
    void fan_out(std::shared_ptr<Delivery> d);

    const Config& cfg_;
    store::Store& store_;
    std::vector<Shard*> shards_;

    std::mutex rooms_mu_;
    std::map<std::string, std::shared_ptr<Room>> rooms_;
    std::map<std::string, uint64_t> stored_rooms_;  // rooms in the store not loaded yet

    std::mutex q_mu_;
    std::condition_variable q_cv_;
    std::vector<Pending> queue_;  // bounded by cfg_.max_pending
    bool stopping_ = false;
    std::thread writer_;
};

}  // namespace ssechat::chat
