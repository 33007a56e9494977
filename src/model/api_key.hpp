// Server API keys: what a key is, what its scopes reach, and their JSON. The store keeps only
// a key's SHA-256 (store/accounts.hpp); the HTTP layer asks these rules and nothing else.
#pragma once
#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "model/access.hpp"

namespace ssechat::model {

// What a key may do, as bits: a request needs one of the scopes its route names.
enum KeyScope : uint8_t {
    kScopePublish = 1 << 0,      // post, edit, delete and react (as its bot user)
    kScopeRooms = 1 << 1,        // create, change and list every room, private ones too
    kScopeMembers = 1 << 2,      // add, remove, ban, mute; delete others' messages
    kScopeUsers = 1 << 3,        // accounts and invites
    kScopeRead = 1 << 4,         // history and streams of any room
    kScopeAdmin = 1 << 5,        // everything, the admin routes included
    kScopeImpersonate = 1 << 6,  // with publish: act as any user with ?as=
};
using KeyScopes = uint8_t;
inline constexpr KeyScopes kEveryScope = 0x7f;

struct ApiKey {
    std::string name;  // 1 to 64 of A-Z a-z 0-9 _ . -, unique
    std::string hash;  // hex SHA-256 of the key: all the store knows of it
    KeyScopes scopes = 0;
    std::string user;        // the bot user it acts as
    std::string created_by;  // who made it ("" from the command line)
    int64_t created_at = 0;  // unix ms
    int64_t last_used = 0;   // unix ms, kept to a minute; 0 never
};

// A key just made: what the store keeps, and the key itself, shown once.
struct NewKey {
    ApiKey key;
    std::string secret;  // "sk_" and 32 random bytes, base64url
};
// Makes a key for the CLI and POST /admin/apikeys alike: the name and the bot user (`user`,
// "" for the name itself) checked, the secret random. nullopt and `why` when either is bad.
// Throws std::runtime_error without randomness.
std::optional<NewKey> make_api_key(std::string name, KeyScopes scopes, std::string user,
                                   std::string by, int64_t now_ms, size_t max_user,
                                   std::string& why);
// The hex SHA-256 of a key: what the store keeps and finds it by.
std::string api_key_hash(std::string_view secret);
// Whether a bearer credential is meant as an API key rather than a JWT.
inline bool looks_like_api_key(std::string_view bearer) {
    return bearer.substr(0, 3) == "sk_";
}
// "publish,rooms" (or the same as a JSON array's strings, joined) -> bits; nullopt and `why`
// for an unknown or empty list.
std::optional<KeyScopes> parse_scopes(std::string_view list, std::string& why);
// "publish,rooms,...", in the order of the enum.
std::string scope_names(KeyScopes s);
// Why a key's name cannot be used ("" when it can).
std::string api_key_name_problem(std::string_view name);

// The server-wide role a key acts with in public and private rooms (never in direct
// messages, which stay their two members'): owner with admin or rooms, moderator with
// members, member with read or publish (so it sees private rooms), else none. Which
// requests it may make at all is the route's scopes.
Role key_role(KeyScopes s);

// The scopes of which a key needs one to `act` in a room: read for reading, publish for
// posting, changing, typing, marks, joining and leaving, rooms for a room's profile and
// visibility, members for members, bans, mutes, roles and others' messages. A method that
// says Read but changes something (`reads` false) has no scope of its own: admin only,
// unless its route names one.
KeyScopes scopes_for(Act act, bool reads);

// {"name","scopes":[...],"user_id","created_by","created_at","last_used"}: never the key.
boost::json::object api_key_json(const ApiKey& k);

}  // namespace ssechat::model
