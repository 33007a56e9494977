// The reset events, in the shapes the API documents, written once. A room stream's names the
// first id it will see after a jump; a user stream's names the room and that room's oldest
// id it will see, or {"room":null} when the stream's cursor is not this store's and every
// room starts again.
#pragma once
#include <boost/json.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "sse/event.hpp"

namespace ssechat::chat {

// event: reset, data: <first>
inline sse::Buffer room_reset(uint64_t first) {
    return std::make_shared<const std::string>(sse::encode("reset", "", std::to_string(first)));
}

// event: reset, data: {"room":"<room>","oldest":<oldest>}
inline sse::Buffer user_room_reset(const std::string& room, uint64_t oldest) {
    boost::json::object o;
    o["room"] = room;
    o["oldest"] = oldest;
    return std::make_shared<const std::string>(sse::encode("reset", "", boost::json::serialize(o)));
}

// event: reset, data: {"room":null}
inline sse::Buffer user_reset_all() {
    return std::make_shared<const std::string>(sse::encode("reset", "", R"({"room":null})"));
}

}  // namespace ssechat::chat
