#include "model/webhook.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <boost/json.hpp>
#include <ctime>
#include <stdexcept>

#include "util/text.hpp"

namespace ssechat::model {

namespace {

constexpr std::pair<HookEvents, std::string_view> kNames[] = {
    {kHookMessage, "message"},   {kHookEdit, "edit"},     {kHookDelete, "delete"},
    {kHookReaction, "reaction"}, {kHookMember, "member"}, {kHookRoom, "room"},
};

uint8_t bit_of(Kind k) {
    switch (k) {
        case Kind::Message:
            return kHookMessage;
        case Kind::Edit:
            return kHookEdit;
        case Kind::Delete:
            return kHookDelete;
        case Kind::Reaction:
            return kHookReaction;
        case Kind::Member:
            return kHookMember;
        case Kind::RoomChange:
            return kHookRoom;
        case Kind::Presence:
        case Kind::Typing:
        case Kind::Receipt:
        case Kind::Read:
        case Kind::Joined:
        case Kind::Left:
            return 0;  // never stored: no webhook sees them
    }
    return 0;
}

std::string random_bytes(size_t n) {
    std::string b(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(b.data()), static_cast<int>(n)) != 1)
        throw std::runtime_error("no random bytes");
    return b;
}

}  // namespace

std::optional<uint8_t> parse_hook_events(const boost::json::value& list, std::string& why) {
    const std::string named = "message, edit, delete, reaction, member, room";
    why = "events must be a list of " + named;
    if (!list.is_array() || list.as_array().empty()) return std::nullopt;
    uint8_t out = 0;
    for (const auto& v : list.as_array()) {
        if (!v.is_string()) return std::nullopt;
        auto it = std::find_if(std::begin(kNames), std::end(kNames),
                               [&](const auto& n) { return v.as_string() == n.second; });
        if (it == std::end(kNames)) {
            why = "unknown event \"" + std::string(v.as_string()) + "\": events are " + named;
            return std::nullopt;
        }
        out |= it->first;
    }
    why.clear();
    return out;
}

std::string hook_type(const Event& e) {
    switch (e.kind) {
        case Kind::Message:
            return "message.created";
        case Kind::Edit:
            return "message.edited";
        case Kind::Delete:
            return "message.deleted";
        case Kind::Reaction:
            return e.remove ? "reaction.removed" : "reaction.added";
        case Kind::Member:
            return "member.changed";
        case Kind::RoomChange:
            return "room.changed";
        case Kind::Presence:
        case Kind::Typing:
        case Kind::Receipt:
        case Kind::Read:
        case Kind::Joined:
        case Kind::Left:
            return {};
    }
    return {};
}

bool wants(const Webhook& w, const Event& e) {
    if (!(w.events & bit_of(e.kind))) return false;
    return w.every_room || std::binary_search(w.rooms.begin(), w.rooms.end(), e.room);
}

std::string hook_message_id(const Webhook& w, const Event& e, size_t shard) {
    // The id without its "wh_" (it may hold '_' itself: base64url), then the position, after
    // its shard when that is not the first (ids from before shards stay as they were).
    std::string_view id = w.id;
    if (id.substr(0, 3) == "wh_") id.remove_prefix(3);
    std::string out = "msg_" + std::string(id) + "_";
    if (shard) out += std::to_string(shard) + "-";
    return out + std::to_string(e.pos);
}

std::string hook_body(const Event& e, int64_t now_ms) {
    std::time_t secs = static_cast<std::time_t>(now_ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char stamp[80];
    std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(now_ms % 1000));
    std::string out =
        "{\"type\":\"" + hook_type(e) + "\",\"timestamp\":\"" + stamp + "\",\"data\":";
    out += event_json(e);
    out += '}';
    return out;
}

std::string hook_signature(const std::string& secret, std::string_view id, int64_t seconds,
                           std::string_view body) {
    constexpr std::string_view prefix = "whsec_";
    if (secret.rfind(prefix, 0) != 0) return {};
    auto key = text::unbase64(std::string_view(secret).substr(prefix.size()));
    if (!key) return {};
    std::string msg;
    msg.reserve(id.size() + body.size() + 24);
    msg.append(id).append(".").append(std::to_string(seconds)).append(".").append(body);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key->data(), static_cast<int>(key->size()),
         reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), md, &len);
    return "v1," + text::base64(std::string_view(reinterpret_cast<char*>(md), len));
}

std::string new_hook_id() {
    return "wh_" + text::base64url(random_bytes(12));
}

std::string new_hook_secret() {
    return "whsec_" + text::base64(random_bytes(32));
}

int64_t hook_backoff_ms(int attempt, uint32_t random) {
    int64_t base = 1000LL << std::min(attempt - 1, 12);  // 1 s, 2 s, ... past an hour
    base = std::min<int64_t>(base, 3600 * 1000);
    // Jitter: from 0.8 to 1.2 of the base, so that receivers that failed together do not
    // all retry together.
    return base * 4 / 5 + static_cast<int64_t>(random % (base * 2 / 5 + 1));
}

boost::json::object webhook_json(const Webhook& w) {
    boost::json::array events;
    for (const auto& [bit, name] : kNames)
        if (w.events & bit) events.emplace_back(name);
    boost::json::value rooms = nullptr;
    if (!w.every_room) {
        boost::json::array a;
        for (const auto& r : w.rooms) a.emplace_back(r);
        rooms = std::move(a);
    }
    return {{"id", w.id},
            {"url", w.url},
            {"events", std::move(events)},
            {"rooms", std::move(rooms)},
            {"created_by", w.created_by},
            {"created_at", w.created_at},
            {"disabled", w.disabled},
            {"disabled_reason", w.disabled_reason}};
}

boost::json::object delivery_json(const Delivery& d) {
    return {{"message_id", d.message_id}, {"type", d.type},   {"attempt", d.attempt},
            {"status", d.status},         {"error", d.error}, {"ts", d.ts}};
}

}  // namespace ssechat::model
