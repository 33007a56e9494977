// Webhooks: what one is, which events it takes, and what a delivery of one looks like under
// the Standard Webhooks specification (a JSON body, the webhook-id, -timestamp and
// -signature headers, an HMAC-SHA256 over "id.timestamp.body"). The stores keep webhooks and
// their cursors (store/webhooks.hpp); the delivery engine is http/webhooks.cpp.
#pragma once
#include <boost/json/fwd.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/event.hpp"

namespace ssechat::model {

// Which events a webhook takes, as bits (the names in its "events").
enum HookEvents : uint8_t {
    kHookMessage = 1 << 0,   // "message": message.created
    kHookEdit = 1 << 1,      // "edit": message.edited
    kHookDelete = 1 << 2,    // "delete": message.deleted
    kHookReaction = 1 << 3,  // "reaction": reaction.added, reaction.removed
    kHookMember = 1 << 4,    // "member": member.changed
    kHookRoom = 1 << 5,      // "room": room.changed
};

struct Webhook {
    std::string id;      // "wh_" and 96 random bits, base64url
    std::string url;     // https:// (http:// only with --allow-private-targets)
    std::string secret;  // "whsec_" and 32 random bytes, base64: the HMAC key
    uint8_t events = 0;
    bool every_room = true;          // "rooms": null
    std::vector<std::string> rooms;  // otherwise these, sorted
    std::string created_by;
    int64_t created_at = 0;  // unix ms
    // Per store shard, the position delivered up to (every event at or below). A shard
    // missing here (one added to a sharded store since, or `ssechat webhook create` beside
    // one that could not say where a shard ends) starts from that shard's end when delivery
    // first reads it.
    Positions cursor{0};
    bool disabled = false;
    std::string disabled_reason;  // why, when the server disabled it
};

// One attempt, for GET /admin/webhooks/{id}/deliveries.
struct Delivery {
    std::string message_id;  // the webhook-id header
    std::string type;
    int attempt = 1;
    int status = 0;  // the receiver's HTTP status; 0 when there was none
    std::string error;
    int64_t ts = 0;  // unix ms
};

// "message", "edit", ... -> bits; nullopt and `why` for an unknown name or an empty list.
std::optional<uint8_t> parse_hook_events(const boost::json::value& list, std::string& why);
// The Standard Webhooks type of a stored event ("message.created", ...), "" for one that no
// webhook carries.
std::string hook_type(const Event& e);
// Whether `w` takes `e` (its kind and its room).
bool wants(const Webhook& w, const Event& e);
// The delivery's webhook-id: the same for every attempt of one event to one webhook, so a
// receiver deduplicates a repeat. An event is named by its position on its store shard
// (`shard`, 0 but with Redis shards, where positions repeat across shards).
std::string hook_message_id(const Webhook& w, const Event& e, size_t shard = 0);
// {"type","timestamp" (RFC 3339),"data":{the event as on the stream}}
std::string hook_body(const Event& e, int64_t now_ms);
// "v1,<base64 HMAC-SHA256(secret's bytes, id + "." + seconds + "." + body)>"; "" when the
// secret is not a whsec_ one.
std::string hook_signature(const std::string& secret, std::string_view id, int64_t seconds,
                           std::string_view body);
// A new id and secret. Throws std::runtime_error without randomness.
std::string new_hook_id();
std::string new_hook_secret();

// Retries: 1 s doubling to an hour, with up to a fifth of jitter either way, until the
// first failure is three days old; then the webhook is disabled.
int64_t hook_backoff_ms(int attempt, uint32_t random);
inline constexpr int64_t kHookGiveUpMs = 3LL * 24 * 3600 * 1000;
inline constexpr size_t kHookDeliveriesKept = 100;

// {"id","url","events":[...],"rooms":[...]|null,"created_by","created_at","disabled",
// "disabled_reason"}: never the secret.
boost::json::object webhook_json(const Webhook& w);
boost::json::object delivery_json(const Delivery& d);

}  // namespace ssechat::model
