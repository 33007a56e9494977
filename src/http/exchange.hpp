// One request on its way through the API: what the core found out about it (route, caller,
// room and the caller's standing there) before a resource's handler runs.
#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/auth.hpp"
#include "http/http_metrics.hpp"
#include "http/request.hpp"
#include "http/session.hpp"
#include "http/sign_ins.hpp"
#include "model/access.hpp"

namespace ssechat::chat {
class Room;
struct Credential;
}  // namespace ssechat::chat

namespace ssechat::http {

struct Ctx {
    Request& req;
    const std::shared_ptr<Session>& s;
    std::string_view path;
    std::optional<http_util::Query> query;   // parsed once; nullopt when malformed
    std::optional<auth::Identity> identity;  // set when tokens or accounts are required
    std::optional<Signed> session = {};      // signed in with the session cookie
    // What the request's streams end with: a session's or an API key's; null for a token
    // (it ends when it expires).
    std::shared_ptr<chat::Credential> credential = {};
    bool head = false;              // HEAD: routed as GET, answered without body
    Route route = kRouteUnmatched;  // the template, for metrics and the access log
    std::string room = {};          // the {room} of the path, once matched
    std::string id = {};            // the {id} of the path, raw
    std::string emoji = {};         // the {emoji} of the path, raw
    std::string target = {};        // the {user} of the path, raw
    std::string name = {};          // the {name} of the path, raw
    // Set by Api::admit() for a route with {room}: the room, loaded, and the caller's place
    // in it (the acting user is `actor`, "" when anonymous and unnamed).
    std::shared_ptr<chat::Room> loaded = {};  // when it was loaded already (else load())
    model::Standing standing = {};
    model::Visibility visibility = model::Visibility::Public;
    std::string actor = {};
    std::string user = "-";  // once known, for the access log
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
};

}  // namespace ssechat::http
