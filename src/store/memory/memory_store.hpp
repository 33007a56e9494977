// The in-memory store: for tests and throwaway runs; everything is lost on exit.
#pragma once
#include <deque>
#include <map>
#include <mutex>

#include "store/store.hpp"

namespace ssechat::store {

class MemoryStore final : public Store {
  public:
    explicit MemoryStore(uint64_t retain) : retain_(retain) {}
    std::vector<RoomMeta> rooms(const std::string& after, size_t limit) override;
    uint64_t last_id(const std::string& room) override;
    void append(const std::vector<model::Message>& batch) override;
    std::vector<model::Message> range(const std::string& room, uint64_t after, uint64_t before,
                                     size_t limit, bool newest) override;
    bool writable() override { return true; }

  private:
    struct Log {
        uint64_t last_id = 0;            // highest id ever appended
        std::deque<model::Message> msgs;  // ascending ids
    };
    std::mutex mu_;
    std::map<std::string, Log> rooms_;
    uint64_t retain_;  // 0 keeps everything
};

}  // namespace ssechat::store
