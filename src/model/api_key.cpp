#include "model/api_key.hpp"

#include <openssl/rand.h>

#include <boost/json.hpp>
#include <stdexcept>

#include "model/event.hpp"
#include "util/text.hpp"

namespace ssechat::model {

namespace {

constexpr std::pair<KeyScope, std::string_view> kNames[] = {
    {kScopePublish, "publish"},
    {kScopeRooms, "rooms"},
    {kScopeMembers, "members"},
    {kScopeUsers, "users"},
    {kScopeRead, "read"},
    {kScopeAdmin, "admin"},
    {kScopeImpersonate, "impersonate"},
};

}  // namespace

std::optional<NewKey> make_api_key(std::string name, KeyScopes scopes, std::string user,
                                   std::string by, int64_t now_ms, size_t max_user,
                                   std::string& why) {
    if (why = api_key_name_problem(name); !why.empty()) return std::nullopt;
    if (user.empty()) user = name;
    if (auto bad = text::bad_user_id(user, max_user); !bad.empty()) {
        why = "the key's user: " + bad;
        return std::nullopt;
    }
    unsigned char bytes[32];
    if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no random bytes");
    NewKey k;
    k.secret =
        "sk_" + text::base64url(std::string_view(reinterpret_cast<char*>(bytes), sizeof bytes));
    k.key.name = std::move(name);
    k.key.hash = api_key_hash(k.secret);
    k.key.scopes = scopes;
    k.key.user = std::move(user);
    k.key.created_by = std::move(by);
    k.key.created_at = now_ms;
    return k;
}

std::string api_key_hash(std::string_view secret) {
    return text_hash(std::string(secret));
}

std::optional<KeyScopes> parse_scopes(std::string_view list, std::string& why) {
    KeyScopes out = 0;
    while (!list.empty()) {
        auto comma = list.find(',');
        auto word = text::trim(list.substr(0, comma));
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        bool known = false;
        for (const auto& [bit, name] : kNames)
            if (word == name) out |= bit, known = true;
        if (!known) {
            why = "unknown scope \"" + std::string(word) +
                  "\": scopes are publish, rooms, members, users, read, admin, impersonate";
            return std::nullopt;
        }
    }
    if (out == 0) {
        why = "a key needs at least one scope";
        return std::nullopt;
    }
    return out;
}

std::string scope_names(KeyScopes s) {
    std::string out;
    for (const auto& [bit, name] : kNames)
        if (s & bit) out += (out.empty() ? "" : ",") + std::string(name);
    return out;
}

std::string api_key_name_problem(std::string_view name) {
    // The same alphabet as room names: it goes into paths (DELETE /admin/apikeys/{name}).
    if (!text::valid_room(name)) return "a key's name is 1 to 64 of A-Z a-z 0-9 _ . -";
    return {};
}

Role key_role(KeyScopes s) {
    if (s & (kScopeAdmin | kScopeRooms)) return Role::Owner;
    if (s & kScopeMembers) return Role::Moderator;
    if (s & (kScopeRead | kScopePublish)) return Role::Member;
    return Role::None;
}

KeyScopes scopes_for(Act act, bool reads) {
    switch (act) {
        case Act::Read:
            return reads ? kScopeRead : kScopeAdmin;
        case Act::Post:
        case Act::Change:
        case Act::Type:
        case Act::Mark:
        case Act::Join:
        case Act::Leave:
            return kScopePublish;
        case Act::Profile:
        case Act::Visibility:
            return kScopeRooms;
        case Act::Invite:
        case Act::Remove:
        case Act::Restrict:
        case Act::Moderate:
        case Act::Grant:
            return kScopeMembers;
    }
    return kScopeAdmin;
}

boost::json::object api_key_json(const ApiKey& k) {
    boost::json::array scopes;
    for (const auto& [bit, name] : kNames)
        if (k.scopes & bit) scopes.emplace_back(name);
    return {{"name", k.name},
            {"scopes", std::move(scopes)},
            {"user_id", k.user},
            {"created_by", k.created_by},
            {"created_at", k.created_at},
            {"last_used", k.last_used}};
}

}  // namespace ssechat::model
