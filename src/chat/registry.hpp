// The rooms held in memory: found or loaded by name, and evicted when nothing holds them, so
// that --max-rooms bounds memory without locking anyone out.
#pragma once
#include <condition_variable>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "chat/room.hpp"

namespace ssechat::chat {

// A room is held by its streams, by publishes waiting for the store, and by deliveries on
// their way to the shards, all through shared_ptr; the registry holds one more. A room only
// the registry holds costs nothing to drop: everything it knows is in the store, and a later
// get() loads it again. The lock guards the map and the recency list only; loading, which
// reads the store, happens outside it, so a slow store stalls only the loops that want the
// room being read (each of which would otherwise read it too).
class Registry {
  public:
    // Reads a room from the store; may throw StoreError. Runs without the registry lock.
    using Loader = std::function<std::shared_ptr<Room>(const std::string& name)>;
    // A room the loader read is no longer held (evicted, or no space for it): told under
    // the registry's lock, so it must not block.
    using Dropped = std::function<void(const std::string& name)>;
    Registry(size_t max_rooms, Loader load, Dropped dropped = {})
        : max_(max_rooms), load_(std::move(load)), dropped_(std::move(dropped)) {}

    struct Got {
        std::shared_ptr<Room> room;  // null: max_rooms rooms are loaded and all are in use
        bool loaded = false;         // this call read it from the store
    };
    // The room, loaded first when it is not in memory. Throws StoreError.
    Got get(const std::string& name);
    // The room when it is in memory, else null; never loads.
    std::shared_ptr<Room> find(const std::string& name);
    std::vector<std::shared_ptr<Room>> loaded();
    // In memory, or being read from the store now.
    bool wanted(const std::string& name);
    size_t size();

    // The last stream of `r` is about to let go of it: a room that holds no message is
    // dropped at once when nothing else holds it, so rooms opened and left cost nothing that
    // lasts. A delivery still on its way to a loop may hold it a moment longer; then the
    // room waits for sweep().
    void release(const std::shared_ptr<Room>& r);
    // Drops the empty rooms release() left behind that nothing holds any more, looking at
    // most kSweep of them per call. Called about once a second.
    void sweep();

  private:
    struct Slot {
        std::shared_ptr<Room> room;
        std::list<Room*>::iterator recent;  // position in recent_
    };
    // Drops one room only the registry holds, looking at most kScan rooms from the least
    // recently used end; rooms in use move to the front. False when none was found.
    bool evict_one_locked();
    void erase_locked(std::unordered_map<std::string, Slot>::iterator it);
    void dropped_locked(const std::string& name) {
        if (dropped_) dropped_(name);
    }

    static constexpr size_t kScan = 64;
    static constexpr size_t kSweep = 1024;
    const size_t max_;
    const Loader load_;
    const Dropped dropped_;
    std::mutex mu_;
    // Rooms a loop is reading now: another loop that wants one waits for that read instead
    // of making its own, so a reconnect storm reads each room once (loaded_ wakes it).
    std::unordered_set<std::string> loading_;
    std::condition_variable loaded_;
    std::unordered_map<std::string, Slot> rooms_;
    std::list<Room*> recent_;                     // most recently asked for first
    std::unordered_set<std::string> left_empty_;  // loaded, empty, not droppable at release()
};

}  // namespace ssechat::chat
