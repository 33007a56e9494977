// The room rules: one answer to "may this user do this here", for every route and stream.
#include "model/access.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <boost/json.hpp>
#include <stdexcept>

#include "util/text.hpp"

namespace ssechat::model {

const char* visibility_name(Visibility v) {
    switch (v) {
        case Visibility::Public:
            return "public";
        case Visibility::Private:
            return "private";
        case Visibility::Dm:
            return "dm";
    }
    return "public";
}

std::optional<Visibility> parse_visibility(std::string_view s) {
    if (s == "public") return Visibility::Public;
    if (s == "private") return Visibility::Private;
    if (s == "dm") return Visibility::Dm;
    return std::nullopt;
}

const char* notify_level_name(NotifyLevel l) {
    switch (l) {
        case NotifyLevel::All:
            return "all";
        case NotifyLevel::Mentions:
            return "mentions";
        case NotifyLevel::None:
            return "none";
    }
    return "mentions";
}

std::optional<NotifyLevel> parse_notify_level(std::string_view s) {
    if (s == "all") return NotifyLevel::All;
    if (s == "mentions") return NotifyLevel::Mentions;
    if (s == "none") return NotifyLevel::None;
    return std::nullopt;
}

const char* role_name(Role r) {
    switch (r) {
        case Role::None:
            return "";
        case Role::Member:
            return "member";
        case Role::Moderator:
            return "moderator";
        case Role::Owner:
            return "owner";
    }
    return "";
}

std::optional<Role> parse_role(std::string_view s) {
    if (s == "member") return Role::Member;
    if (s == "moderator") return Role::Moderator;
    if (s == "owner") return Role::Owner;
    return std::nullopt;
}

namespace {

Decision refuse(int status, std::string why) {
    return {status, std::move(why)};
}

// Server-wide roles reach public and private rooms; a direct message is its two members'
// alone, whoever runs the server.
Role effective(Visibility v, const Standing& s) {
    return v == Visibility::Dm ? s.role : std::max(s.role, s.server);
}

bool visible(Visibility v, const Standing& s) {
    switch (v) {
        case Visibility::Public:
            return true;
        case Visibility::Private:
            return effective(v, s) != Role::None;
        case Visibility::Dm:
            return s.role != Role::None;
    }
    return false;
}

Decision needs(Visibility v, const Standing& s, Role r, const char* what) {
    if (effective(v, s) >= r) return {};
    return refuse(403, std::string(what) + " needs the " + role_name(r) + " role in this room");
}

}  // namespace

Decision may(Visibility v, const Standing& s, Act act) {
    if (!visible(v, s)) return refuse(404, kNoSuchRoom);
    const bool dm = v == Visibility::Dm;
    switch (act) {
        case Act::Read:
        case Act::Leave:
            return {};
        case Act::Join:
            // A private room or a direct message is joined by being added; for a member,
            // joining again changes nothing.
            if (s.banned && effective(v, s) < Role::Moderator)
                return refuse(403, "banned from this room");
            return {};
        case Act::Post:
        case Act::Change:
        case Act::Type:
            if (s.banned) return refuse(403, "banned from this room");
            if (s.muted) return refuse(403, "muted in this room");
            return {};
        case Act::Mark:
            if (s.banned) return refuse(403, "banned from this room");
            return {};
        case Act::Profile:
            if (dm) return refuse(403, "a direct message has no name or topic to change");
            return needs(v, s, Role::Moderator, "changing the name or topic");
        case Act::Visibility:
            if (dm) return refuse(403, "a direct message stays a direct message");
            return needs(v, s, Role::Owner, "changing the visibility");
        case Act::Invite:
        case Act::Remove:
            if (dm) return refuse(403, "nobody can change the members of a direct message");
            return needs(v, s, Role::Moderator,
                         act == Act::Invite ? "adding members" : "removing members");
        case Act::Restrict:
            if (dm) return refuse(403, "a direct message has no bans or mutes: leave it instead");
            return needs(v, s, Role::Moderator, "banning and muting");
        case Act::Moderate:
            if (dm) return refuse(403, "only its author may change or delete a message here");
            return needs(v, s, Role::Moderator, "deleting others' messages");
        case Act::Grant:
            if (dm) return refuse(403, "nobody can change the members of a direct message");
            return needs(v, s, Role::Owner, "giving or taking the moderator and owner roles");
    }
    return refuse(403, "not allowed");
}

Decision may_act_on(Visibility v, const Standing& s, Act act, Role target, Role to) {
    if (act == Act::Grant && target < Role::Moderator && to <= Role::Member)
        act = Act::Invite;  // adding a member, or re-adding one as a member
    Decision d = may(v, s, act);
    if (!d.ok()) return d;
    if ((act == Act::Remove || act == Act::Restrict) && target == Role::Owner &&
        effective(v, s) < Role::Owner)
        return refuse(403, "acting on an owner needs the owner role in this room");
    return d;
}

Role Roster::role(std::string_view user) const {
    auto it = members.find(user);
    return it == members.end() ? Role::None : it->second.role;
}

Standing Roster::standing(std::string_view user, Role server, int64_t now_ms) const {
    Standing s;
    s.role = role(user);
    s.server = server;
    if (auto b = bans.find(user); b != bans.end()) s.banned = b->second.active(now_ms);
    if (auto m = mutes.find(user); m != mutes.end()) s.muted = m->second.active(now_ms);
    return s;
}

size_t Roster::owners() const {
    return static_cast<size_t>(std::count_if(members.begin(), members.end(), [](const auto& m) {
        return m.second.role == Role::Owner;
    }));
}

Decision Roster::keeps_owner(std::string_view user, Role after) const {
    if (after == Role::Owner || role(user) != Role::Owner || owners() > 1) return {};
    return refuse(400, "a room keeps at least one owner: make someone else owner first");
}

std::string dm_room(std::string_view a, std::string_view b) {
    if (b < a) std::swap(a, b);
    // The pair's lengths go in first, so no two pairs hash the same bytes.
    std::string in = std::to_string(a.size()) + ":" + std::string(a) + std::string(b);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(in.data(), in.size(), md, &len, EVP_sha256(), nullptr);
    return "dm." + text::base64url(std::string_view(reinterpret_cast<char*>(md), 16));
}

std::string private_room_id() {
    unsigned char bits[16];
    if (RAND_bytes(bits, sizeof bits) != 1) throw std::runtime_error("no random bytes");
    return text::base64url(std::string_view(reinterpret_cast<char*>(bits), sizeof bits));
}

std::string profile_json(const std::string& room, const Profile& p, size_t members, Role mine) {
    boost::json::object o;
    o["room"] = room;
    o["visibility"] = visibility_name(p.visibility);
    o["name"] = p.name.empty() ? room : p.name;
    o["topic"] = p.topic;
    if (p.created_by.empty())
        o["created_by"] = nullptr;
    else
        o["created_by"] = p.created_by;
    o["created_at"] = p.created_at;
    o["members"] = members;
    if (mine == Role::None)
        o["my_role"] = nullptr;
    else
        o["my_role"] = role_name(mine);
    return boost::json::serialize(o);
}

std::string member_json(const RoomMember& m) {
    boost::json::object o;
    o["user_id"] = m.user;
    o["role"] = role_name(m.role);
    o["since"] = m.since;
    return boost::json::serialize(o);
}

std::string restriction_json(const Restriction& r, bool ban) {
    boost::json::object o;
    o["user_id"] = r.user;
    o["by"] = r.by;
    if (ban) o["reason"] = r.reason;
    if (r.until)
        o["until"] = r.until;
    else
        o["until"] = nullptr;
    o["ts"] = r.ts;
    return boost::json::serialize(o);
}

}  // namespace ssechat::model
