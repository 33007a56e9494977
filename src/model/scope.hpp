// The rooms a caller's credential reaches: a token's `rooms` claim, or every room. Every path
// that reads or changes a room on a user's behalf asks covers() (a route with {room}, the
// room list, the user's rooms, and each event a user stream carries), so a narrow token
// sees nothing of another room whichever way it asks.
#pragma once
#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ssechat::model {

class RoomScope {
  public:
    RoomScope() = default;  // every room
    // The rooms listed; "*" among them stands for every room.
    explicit RoomScope(std::vector<std::string> rooms) {
        if (std::find(rooms.begin(), rooms.end(), "*") != rooms.end()) return;
        std::sort(rooms.begin(), rooms.end());
        rooms.erase(std::unique(rooms.begin(), rooms.end()), rooms.end());
        rooms_ = std::make_shared<const std::vector<std::string>>(std::move(rooms));
    }
    bool every() const { return !rooms_; }
    bool covers(std::string_view room) const {
        return !rooms_ || std::binary_search(rooms_->begin(), rooms_->end(), room, Less{});
    }
    // The rooms listed, sorted by name (empty when every()).
    const std::vector<std::string>& names() const {
        static const std::vector<std::string> none;
        return rooms_ ? *rooms_ : none;
    }

  private:
    struct Less {
        bool operator()(std::string_view a, std::string_view b) const { return a < b; }
    };
    // Shared: a stream keeps its token's scope for as long as it lives, at the cost of a
    // pointer, and copies of it cost no allocation.
    std::shared_ptr<const std::vector<std::string>> rooms_;
};

}  // namespace ssechat::model
