// Web Push: what a browser's subscription is, each user's notification level per room, and
// the one rule for who is pushed what. The stores keep subscriptions, levels and the push
// cursor (store/push.hpp); the encryption and VAPID are util/webpush; sending is
// http/push.cpp.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "model/access.hpp"
#include "model/event.hpp"

namespace ssechat::model {

// A browser's PushSubscription, as PUT /me/push takes it.
struct PushSubscription {
    std::string user;
    std::string endpoint;    // the push service's URL for this browser
    std::string p256dh;      // base64url, as the browser gives it: a P-256 point
    std::string auth;        // base64url: 16 bytes
    int64_t created_at = 0;  // unix ms; the oldest goes past kMaxPushSubscriptions
};
inline constexpr size_t kMaxPushSubscriptions = 10;  // per user

// {"endpoint","keys":{"p256dh","auth"},...} -> a subscription (user and time unset), or
// nullopt and `why`. The endpoint's own checks (https, public address) are the caller's.
std::optional<PushSubscription> parse_push_subscription(std::string_view body, std::string& why);

// Why a pushed message reaches a user: its "kind".
enum class PushKind : uint8_t { Dm, Mention, Reply, Message };
const char* push_kind_name(PushKind k);  // "dm", "mention", "reply", "message"

// What the rule needs to know of one message and one user other than its author.
struct PushFacts {
    Visibility visibility = Visibility::Public;
    NotifyLevel level = NotifyLevel::Mentions;
    bool mentioned = false;   // the text mentions them (model::mentions)
    bool replied_to = false;  // it answers a message of theirs
};
// The rule: whether a message, for a user who may read the room and has no stream open on it,
// is pushed, and as what. A mention or reply is one at every level but "none"; "all" adds
// every other message (a direct message's is "dm").
std::optional<PushKind> push_kind(const PushFacts& f);

// The push's payload: {"room","id","user_id","text" (its first 200 characters),"kind"}.
std::string push_payload(const Event& e, PushKind kind);
// The Topic header for a room: 32 characters of the URL-safe alphabet, the same for every push
// of the room, so that a burst a browser has not fetched yet collapses into one.
std::string push_topic(std::string_view room);

}  // namespace ssechat::model
