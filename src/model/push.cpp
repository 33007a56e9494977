#include "model/push.hpp"

#include <openssl/evp.h>

#include <boost/json.hpp>

#include "util/strict_json.hpp"
#include "util/text.hpp"

namespace ssechat::model {

namespace {

// A key as browsers write it: base64url, sometimes with its padding.
std::optional<std::string> key_bytes(const boost::json::object& keys, const char* name) {
    auto* v = keys.if_contains(name);
    if (!v || !v->is_string()) return std::nullopt;
    std::string_view s = v->as_string();
    while (!s.empty() && s.back() == '=') s.remove_suffix(1);
    return text::unbase64url(s);
}

}  // namespace

std::optional<PushSubscription> parse_push_subscription(std::string_view body, std::string& why) {
    why =
        R"(the body must be a PushSubscription: {"endpoint":"https://…","keys":{"p256dh","auth"}})";
    boost::json::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec || !v.is_object() || strict_json::duplicate_keys(body)) return std::nullopt;
    const auto& o = v.as_object();
    auto* endpoint = o.if_contains("endpoint");
    auto* keys = o.if_contains("keys");
    if (!endpoint || !endpoint->is_string() || !keys || !keys->is_object()) return std::nullopt;
    PushSubscription s;
    s.endpoint = endpoint->as_string();
    if (s.endpoint.empty() || s.endpoint.size() > 2048) {
        why = "the endpoint must be a URL of at most 2048 bytes";
        return std::nullopt;
    }
    auto p256dh = key_bytes(keys->as_object(), "p256dh");
    auto auth = key_bytes(keys->as_object(), "auth");
    if (!p256dh || p256dh->size() != 65 || (*p256dh)[0] != '\x04') {
        why = "keys.p256dh must be an uncompressed P-256 point (65 bytes), base64url";
        return std::nullopt;
    }
    if (!auth || auth->size() != 16) {
        why = "keys.auth must be 16 bytes, base64url";
        return std::nullopt;
    }
    // Kept in one spelling whatever the browser sent.
    s.p256dh = text::base64url(*p256dh);
    s.auth = text::base64url(*auth);
    why.clear();
    return s;
}

const char* push_kind_name(PushKind k) {
    switch (k) {
        case PushKind::Dm:
            return "dm";
        case PushKind::Mention:
            return "mention";
        case PushKind::Reply:
            return "reply";
        case PushKind::Message:
            return "message";
    }
    return "message";
}

std::optional<PushKind> push_kind(const PushFacts& f) {
    if (f.level == NotifyLevel::None) return std::nullopt;
    const bool dm = f.visibility == Visibility::Dm;
    // What concerns the user by name first; in a direct message everything does.
    if (dm && f.level == NotifyLevel::All) return PushKind::Dm;
    if (f.mentioned) return PushKind::Mention;
    if (f.replied_to) return PushKind::Reply;
    if (f.level == NotifyLevel::All) return PushKind::Message;
    return std::nullopt;
}

std::string push_payload(const Event& e, PushKind kind) {
    // The first 200 characters: code points, never a cut through one.
    size_t end = 0, chars = 0;
    while (end < e.text.size() && chars < 200) {
        ++end;
        while (end < e.text.size() && (static_cast<unsigned char>(e.text[end]) & 0xC0) == 0x80)
            ++end;
        ++chars;
    }
    boost::json::object o;
    o["room"] = e.room;
    o["id"] = e.id;
    o["user_id"] = e.user_id;
    o["text"] = e.text.substr(0, end);
    o["kind"] = push_kind_name(kind);
    return boost::json::serialize(o);
}

std::string push_topic(std::string_view room) {
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(room.data(), room.size(), md, &n, EVP_sha256(), nullptr);
    // 24 bytes are 32 base64url characters, RFC 8030 5.4's longest Topic.
    return text::base64url(std::string_view(reinterpret_cast<char*>(md), 24));
}

}  // namespace ssechat::model
