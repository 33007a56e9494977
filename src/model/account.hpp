// Accounts, sign-in sessions and invites: what they hold, the rules a password and a sign-in
// follow, and their JSON. The stores keep them (store/accounts.hpp); the HTTP layer asks
// these rules and nothing else.
#pragma once
#include <boost/json/object.hpp>
#include <cstdint>
#include <string>
#include <string_view>

namespace ssechat::model {

struct Account {
    std::string user_id;
    std::string display_name;  // empty: shown as the user id
    std::string hash;          // an Argon2id encoded hash; empty: no password (single sign-on)
    bool admin = false;        // owner of every room, and the admin routes
    bool disabled = false;     // may not sign in; its sessions end
    int64_t created_at = 0;    // unix ms
};

// A signed-in session. The cookie holds a 256-bit secret; the store holds only its SHA-256
// (`key`), so a copy of the store signs nobody in. `id` names it in GET /me/sessions without
// being the secret.
struct SignIn {
    std::string key;  // hex SHA-256 of the secret
    std::string id;   // public: 96 random bits, base64url
    std::string user_id;
    std::string user_agent;
    int64_t created = 0;    // unix ms
    int64_t last_seen = 0;  // unix ms, kept to a minute
};

struct Invite {
    std::string code;  // 128 random bits, base64url; the link is /#invite=<code>
    bool admin = false;
    int64_t expires = 0;  // unix ms
    std::string created_by;
    int64_t created_at = 0;
};

// What accepting an invite (or signing up) came to.
enum class Claim : uint8_t {
    Created,  // the account exists now, and the invite is used up
    Gone,     // no such invite, used, or expired: 410
    Taken,    // the user id has an account: 409, and the invite stays usable
};

// Why a new password cannot be used, or "" when it can.
std::string password_problem(std::string_view password);
inline constexpr size_t kMinPassword = 10;
inline constexpr size_t kMaxPassword = 1024;  // bytes: Argon2 is slow, not unbounded
inline constexpr size_t kMaxDisplayName = 100;
// Why a display name cannot be used ("" when it can): printable UTF-8, at most 100 bytes.
std::string display_name_problem(std::string_view name);

// Guessing limits. Counted in fixed windows from the first failure: five wrong passwords
// for one account lock it for what is left of 15 minutes at most, so the real owner waits
// no longer than that; thirty from one address in a minute lock that address.
inline constexpr int kAccountFailures = 5;
inline constexpr int64_t kAccountWindowMs = 15 * 60 * 1000;
inline constexpr int kAddressFailures = 30;
inline constexpr int64_t kAddressWindowMs = 60 * 1000;

// Whether a session that was last seen at `last_seen` has expired by `now` (ms).
inline bool expired(const SignIn& s, int64_t now, int64_t idle_ms) {
    return now - s.last_seen > idle_ms;
}

boost::json::object account_json(const Account& a);  // {"user_id","display_name","admin"}
boost::json::object user_json(const Account& a);     // {"user_id","display_name"}
boost::json::object sign_in_json(const SignIn& s, bool current);
boost::json::object invite_json(const Invite& i);

}  // namespace ssechat::model
