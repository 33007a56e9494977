// Who may do what in a room: its kind (public, private, direct message), each member's role,
// bans and mutes, and the one function every route and stream asks (may()). The stores only
// hold this state and make changes to it atomic; the rules are here, once.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ssechat::model {

enum class Visibility : uint8_t {
    Public = 0,   // anyone reads and posts; joining is for the user's own list
    Private = 1,  // members only, added by owners and moderators
    Dm = 2,       // exactly two members (or one: notes to self), made by the server
};
const char* visibility_name(Visibility v);
std::optional<Visibility> parse_visibility(std::string_view s);

// PUT /me/rooms/{room}/notify {"level"}: what reaches a user who is away (Web Push).
enum class NotifyLevel : uint8_t {
    All = 0,       // every message (a direct message room's default)
    Mentions = 1,  // mentions of them and replies to their messages (the default)
    None = 2,      // nothing
};
const char* notify_level_name(NotifyLevel l);
std::optional<NotifyLevel> parse_notify_level(std::string_view s);
// A room's level when the user never chose one.
inline NotifyLevel default_level(Visibility v) {
    return v == Visibility::Dm ? NotifyLevel::All : NotifyLevel::Mentions;
}

// Ordered: a higher role may do everything a lower one may.
enum class Role : uint8_t { None = 0, Member = 1, Moderator = 2, Owner = 3 };
const char* role_name(Role r);                       // "member", ...; "" for None
std::optional<Role> parse_role(std::string_view s);  // member, moderator or owner

// What people see of a room. A room made implicitly (by a first post or join, as every room
// of an earlier release was) has none stored, and is public.
struct Profile {
    Visibility visibility = Visibility::Public;
    std::string name;  // shown instead of the id; empty: the id
    std::string topic;
    std::string created_by;  // empty for an implicit room
    int64_t created_at = 0;  // unix ms
    std::string with;        // Dm: the two users, "a\nb" sorted (one for notes to self)
};

struct RoomMember {
    std::string user;
    Role role = Role::Member;
    int64_t since = 0;  // unix ms when they joined or were added; 0 before this release
};

// A ban or a mute of one user in one room.
struct Restriction {
    std::string user;
    std::string by;
    std::string reason;  // bans only
    int64_t until = 0;   // unix ms; 0: until lifted
    int64_t ts = 0;      // when it was made
    bool active(int64_t now_ms) const { return until == 0 || until > now_ms; }
};

// What a user is in a room, with their server-wide role (the `mod` claim or --moderators is
// a moderator of every room; the `admin` claim or --admins an owner of every room).
struct Standing {
    Role role = Role::None;    // in the room
    Role server = Role::None;  // server-wide
    bool banned = false;       // an active ban
    bool muted = false;        // an active mute
};

// What a request does to a room.
enum class Act : uint8_t {
    Read,        // history, streams, a message, members, profile, receipts, presence
    Post,        // a new message
    Change,      // an edit or delete of one's own message, a reaction
    Type,        // typing notices
    Mark,        // moving one's read marker
    Join,        // PUT /me/rooms/{room}
    Leave,       // DELETE /me/rooms/{room}, or removing oneself
    Profile,     // name and topic
    Visibility,  // public <-> private
    Invite,      // adding a member
    Remove,      // removing another member
    Restrict,    // bans and mutes, and their lists
    Moderate,    // deleting anyone's message
    Grant,       // making someone moderator or owner, or taking it away
};

// The answer: 200, or the status and error to answer with. 404 "no such room" whenever the
// caller may not know the room exists, so that a refusal never tells a private room from a
// missing one.
struct Decision {
    int status = 200;
    std::string error;
    bool ok() const { return status == 200; }
};
inline constexpr const char* kNoSuchRoom = "no such room";

// Whether a user of `standing` may `act` in a room of visibility `v`.
Decision may(Visibility v, const Standing& standing, Act act);
// Whether they may act on another member of role `target` (Remove, Restrict, Grant); for
// Grant, `to` is the role given. A moderator may not act on an owner; only an owner grants
// or takes away moderator and owner.
Decision may_act_on(Visibility v, const Standing& standing, Act act, Role target, Role to);

// The state of one room's rules, as the stores keep it and a loaded room holds it.
struct Roster {
    std::optional<Profile> profile;  // none: an implicit public room
    std::map<std::string, RoomMember, std::less<>> members;
    std::map<std::string, Restriction, std::less<>> bans, mutes;

    Visibility visibility() const { return profile ? profile->visibility : Visibility::Public; }
    Role role(std::string_view user) const;
    Standing standing(std::string_view user, Role server, int64_t now_ms) const;
    size_t owners() const;
    // A room keeps at least one owner: refuses (400) `user` leaving, being removed or banned
    // (after = None), or demoted, when they are its last.
    Decision keeps_owner(std::string_view user, Role after) const;
};

// The direct-message room of two users, whoever asks: "dm." and 128 bits of SHA-256 over
// the pair in order, base64url. Names beginning "dm." are kept for these (text::dm_reserved).
std::string dm_room(std::string_view a, std::string_view b);
// Whether `room` is a name kept for direct messages ("dm." and anything).
inline bool dm_reserved(std::string_view room) {
    return room.substr(0, 3) == "dm.";
}
// A new private room's id: 128 random bits, base64url (22 characters).
std::string private_room_id();

// {"room","visibility","name","topic","created_by","created_at","members","my_role"}
std::string profile_json(const std::string& room, const Profile& p, size_t members, Role mine);
// {"user_id","role","since"}
std::string member_json(const RoomMember& m);
// {"user_id","by","reason","until","ts"} (a mute has no reason)
std::string restriction_json(const Restriction& r, bool ban);

}  // namespace ssechat::model
