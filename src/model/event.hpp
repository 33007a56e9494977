// The ground floor: a room's event and its kinds, a message's current state, and how an event
// changes that state. Every other layer (store, chat, http) depends on this, and it depends on
// none of them. Adding a kind means: a Kind value and its name here, its JSON in event_json(),
// its rule in check() and apply(), a row layout in each store, and a route in http/.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/access.hpp"

namespace ssechat::model {

// What an event is. The stored kinds share the room's one id sequence; the others are
// delivered and never stored or replayed.
enum class Kind : uint8_t {
    Message = 0,      // a new message
    Edit = 1,         // new text for a message, by its author
    Delete = 2,       // a message removed, by its author or a moderator; its text is erased
    Reaction = 3,     // an emoji added to or removed from a message by one user
    Presence = 4,     // a user's first stream in a room opened, or their last closed (not stored)
    Typing = 5,       // a user started or stopped typing in a room (not stored)
    Receipt = 6,      // a user's read marker in a room moved (not stored as an event)
    Read = 7,         // the same, to that user's own streams, so other devices clear a badge
    Joined = 8,       // the user joined a room (to their own user streams)
    Left = 9,         // the user left a room (to their own user streams)
    Member = 10,      // someone joined, left, was added, removed, banned, muted, or got a role
    RoomChange = 11,  // the room's name, topic or visibility changed
};

// "message", "edit", ...: the SSE event name.
const char* kind_name(Kind k);
inline bool stored_kind(Kind k) {
    return k <= Kind::Reaction || k == Kind::Member || k == Kind::RoomChange;
}
// The stored kind a store's number for it names (the enum's value), or nullopt for any other
// number: a row written by a newer release, or damaged, is an error, never a message.
inline std::optional<Kind> stored_kind(int code) {
    if (code < 0 || code > static_cast<int>(Kind::RoomChange)) return std::nullopt;
    auto k = static_cast<Kind>(code);
    return stored_kind(k) ? std::optional<Kind>(k) : std::nullopt;
}
// Member and RoomChange events record a change of the room's rules: they carry no text of
// anyone's, and nothing checks or changes them.
inline bool rules_kind(Kind k) {
    return k == Kind::Member || k == Kind::RoomChange;
}

// One emoji on a message: everyone who has it on now, in the order they reacted, with the id
// of each one's reaction. A message lists its emojis by their earliest such reaction.
struct Reactions {
    std::string emoji;
    std::vector<std::string> users;
    std::vector<uint64_t> ids;  // ascending, one per user
};

// Adds one reaction read from a store, in ascending id order, to a message's list.
void add_reaction(std::vector<Reactions>& list, std::string emoji, std::string user, uint64_t id);

struct Event {
    uint64_t id = 0;  // the room's next id, assigned at commit; ids in a room have no holes
    std::string room;
    std::string user_id;  // the author, editor, deleter or reacting user; Member: whose
                          // membership changed; RoomChange: who changed the room
    std::string text;     // Message and Edit: the text ("message" on the wire); Reaction: the
                          // emoji; Member, RoomChange: what changed (member_text, room_text)
    int64_t ts = 0;       // unix milliseconds, set when the event is stored
    Kind kind = Kind::Message;
    uint64_t target = 0;     // Edit, Delete, Reaction: the message it changes
    uint64_t reply_to = 0;   // Message: the message it answers, 0 for none
    bool remove = false;     // Reaction: taken back rather than added
    std::string key = {};    // Message: the sender's Idempotency-Key, if any; never on the wire
    uint64_t pos = 0;        // the event's place in the store's one sequence over all rooms
                             // (user streams resume by it); 0 for events stored before it
    std::string files = {};  // Message: the JSON array of its files' descriptions
                             // (model/file.hpp), "" for none; erased with the text
    bool bot = false;        // Message: sent by an API key's own bot user ("bot":true)

    // A Message's current state, as a store reads it back. An event as it happened has none.
    int64_t edited_ts = 0;               // the last edit's ts, 0 if never edited
    bool deleted = false;                // deleted: text is empty and reactions are gone
    std::vector<Reactions> reactions{};  // by first reaction
};

// What a stored Idempotency-Key remembers of the message it stored: enough to answer a retry
// with the original, and to tell a retry from a different message under the same key.
struct KeyRecord {
    uint64_t id = 0;
    int64_t ts = 0;
    std::string text_hash;  // text_hash() of the message
};

// What a Member event stores: the action ("joined", "left", "added", "removed", "banned",
// "unbanned", "muted", "unmuted", "role"), the role where one applies, and who did it.
std::string member_text(std::string_view action, Role role, std::string_view by);
// What a RoomChange event stores: the profile after the change, and who changed it.
std::string room_text(const Profile& p, std::string_view by);

// SHA-256 of a message text, hex.
std::string text_hash(const std::string& text);

// The event's JSON on the stream: for a Message its fields and whatever state it carries
// (so a message replayed from the store shows its edit or its deletion); for the others the
// shapes of the API: {"id","room","target","user_id", "message" | "emoji","op", "ts"}.
std::string event_json(const Event& e);
// A Message's current state for history pages and change answers: event_json() plus
// "reactions":[{"emoji","count","users"}] when it has any, users capped at kMaxListedUsers.
std::string state_json(const Event& m);
inline constexpr size_t kMaxListedUsers = 100;

// {"room":..,"user_id":..,"typing":true|false}
std::string typing_json(const std::string& room, const std::string& user, bool typing);

// {"room":..,"user_id":..,"id":N}
std::string receipt_json(const std::string& room, const std::string& user, uint64_t id);
// {"room":..,"id":N}
std::string read_json(const std::string& room, uint64_t id);
// {"room":..,"read":N} and, told live, "last_id":N: a room the user joined, to their streams.
std::string joined_json(const std::string& room, uint64_t read,
                        std::optional<uint64_t> last_id = std::nullopt);
// {"room":..,"reason":"left"|"removed"|"banned","by":..}: a room the user is no longer in,
// and who made it so.
std::string left_json(const std::string& room, std::string_view reason, std::string_view by);

// Whether `text` mentions `user`: "@<user>" not inside a longer word or id on either side.
bool mentions(std::string_view text, std::string_view user);

// One joined room as GET /me/rooms and the user stream's `rooms` event show it. Counts are
// exact up to kMaxCount; past it they say kMaxCount and `more` (store::Unread).
struct Summary {
    std::string name;
    uint64_t last_id = 0;
    uint64_t read = 0;  // the user's read marker
    size_t unread = 0;  // messages after it from others, not deleted
    bool unread_more = false;
    size_t mentions = 0;  // those of them that mention the user
    bool mentions_more = false;
    size_t online = 0;
    Visibility kind = Visibility::Public;
    std::string title;                  // the profile's name, when it has one
    std::string with;                   // Dm: the other user (the user themself for notes to self)
    std::optional<NotifyLevel> notify;  // the user's push level; none: the kind's default
};
inline constexpr size_t kMaxCount = 999;
std::string summary_json(const Summary& s);
// {"rooms":[summary, ...]}
std::string rooms_json(const std::vector<Summary>& list);

// A user stream's cursor, its SSE id: a position on each of the store's shards, with that
// shard's epoch (a wiped store makes a new one): "<epoch>.<pos>", and with several shards
// those in shard order joined by '~' (at most 30 bytes a shard: 1.9 KiB for 64). It does not
// grow with the rooms. parse_cursor answers nullopt for anything else (another store's, other
// shards'), or for a position past `newest`'s on its shard.
using Positions = std::vector<uint64_t>;
std::string cursor(const std::vector<std::string>& epochs, const Positions& pos);
std::optional<Positions> parse_cursor(std::string_view text, const std::vector<std::string>& epochs,
                                      const Positions& newest);

// {"user_id":"...","message":"..."}, the seed's element shape and key order.
std::string seed_json(const Event& m);

// A message's reactions are bounded, so that its state, a replay of it, and the scans over
// it cost the same however hostile its readers: at most kMaxReactionKinds different emoji
// (Slack's number), and at most kMaxReactionsPerUser of them from any one user.
inline constexpr size_t kMaxReactionKinds = 50;
inline constexpr size_t kMaxReactionsPerUser = 20;

// What became of an event handed to the writer: one type at every layer. model::check()
// answers for a change (Ok: it applies), a shared store's publish says the same and what a
// key did, and the writer adds what only it can tell (overload, a failed store).
enum class Outcome : uint8_t {
    Ok,             // applies (check), or committed with its id and ts
    Replayed,       // its Idempotency-Key stored this text before: the message is that one
    KeyConflict,    // its Idempotency-Key stored another text before: nothing was stored
    NoChange,       // a reaction already there, or one to remove that is not: nothing stored
    NotFound,       // the change names no message of the room
    Forbidden,      // not the author's edit, or a delete by neither author nor moderator
    Gone,           // the message was deleted
    TooManyKinds,   // a new emoji on a message with kMaxReactionKinds already
    TooManyOfUser,  // the user has kMaxReactionsPerUser reactions on it already
    BadReply,       // reply_to names no message of the room
    Overloaded,     // too many publishes waiting for the store
    StoreFailed,    // the store refused the commit; nothing was stored
    Unconfirmed,    // stored on the Redis master, not confirmed by --redis-replicas in time
};

// Whether `change` (Edit, Delete or Reaction) may apply to `target`, the current state of the
// message it names (null: there is no such message in the room): Ok, NoChange, NotFound,
// Forbidden, Gone, TooManyKinds or TooManyOfUser.
Outcome check(const Event* target, const Event& change, bool moderator);

// Applies a checked change to the message's state. Applying the same event twice leaves the
// same state: edits set, reactions are sets, deletes are final.
void apply(Event& message, const Event& change);

}  // namespace ssechat::model
