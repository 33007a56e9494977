// The ground floor: a chat message and its two JSON shapes, the native one and the seed
// API's. Every other layer (store, chat, http) depends on this, and it depends on none of them.
#pragma once
#include <cstdint>
#include <string>

namespace ssechat::model {

struct Message {
    uint64_t id = 0;  // strictly increasing within a room, assigned at commit
    std::string room;
    std::string user_id;
    std::string text;      // "message" on the wire
    int64_t ts = 0;        // unix milliseconds, set when the message is stored
    std::string key = {};  // the sender's Idempotency-Key, if any; stored, never on the wire
};

// What a stored Idempotency-Key remembers of the message it stored: enough to answer a retry
// with the original, and to tell a retry from a different message under the same key.
struct KeyRecord {
    uint64_t id = 0;
    int64_t ts = 0;
    std::string text_hash;  // text_hash() of the message
};

// SHA-256 of a message text, hex.
std::string text_hash(const std::string& text);

// {"id":N,"room":"...","user_id":"...","message":"...","ts":N}
std::string native_json(const Message& m);

// {"user_id":"...","message":"..."}, the seed's element shape and key order.
std::string legacy_json(const Message& m);

// The native SSE event for m: "id: N", "event: message", data: native JSON.
std::string native_event(const Message& m, const std::string& json);

}  // namespace ssechat::model
