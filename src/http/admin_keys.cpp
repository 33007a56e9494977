// /admin/apikeys: server API keys made, listed and revoked by admins. Authenticating a key
// is the core's (api.cpp); keeping them is api_keys.cpp's.
#include "http/admin_keys.hpp"

#include <boost/json.hpp>

#include "http/api.hpp"
#include "http/api_detail.hpp"
#include "util/text.hpp"

namespace ssechat::http {

using namespace detail;
namespace bhttp = beast::http;
using bhttp::status;

void AdminKeys::list_keys(Ctx& c) {
    if (!api_.admins_only(c)) return;
    boost::json::array list;
    try {
        for (const auto& k : api_.api_keys().store().keys()) list.push_back(model::api_key_json(k));
    } catch (const store::StoreError&) {
        return api_.reply(c, api_.store_down());
    }
    api_.reply(c, make(status::ok, boost::json::serialize(boost::json::object{{"keys", list}})));
}

void AdminKeys::create_key(Ctx& c) {
    if (!api_.admins_only(c)) return;
    auto body = object_body(c.req.body());
    if (!body || !unknown_key(*body, {"name", "scopes", "as"}).empty())
        return api_.refuse(
            c, status::bad_request,
            R"(the body must be {"name":"ci-bot","scopes":["publish"],"as":"bot-ci"})"
            R"( ("as" optional: the name))");
    const auto* name = body->if_contains("name");
    if (!name || !name->is_string())
        return api_.refuse(c, status::bad_request, "name must be a string");
    // Scopes as a list of names, or one string of them with commas, as on the command line.
    std::string list;
    if (const auto* s = body->if_contains("scopes"); s && s->is_string()) {
        list = std::string(s->as_string());
    } else if (s && s->is_array()) {
        for (const auto& v : s->as_array()) {
            if (!v.is_string())
                return api_.refuse(c, status::bad_request, "scopes must be a list of names");
            list += (list.empty() ? "" : ",") + std::string(v.as_string());
        }
    } else {
        return api_.refuse(c, status::bad_request, "scopes must be a list of names");
    }
    std::string as;
    if (const auto* a = body->if_contains("as")) {
        if (!a->is_string()) return api_.refuse(c, status::bad_request, "as must be a user id");
        as = std::string(a->as_string());
    }
    std::string why;
    auto scopes = model::parse_scopes(list, why);
    if (!scopes) return api_.refuse(c, status::bad_request, why);
    auto made = model::make_api_key(std::string(name->as_string()), *scopes, as, c.identity->user,
                                    unix_now_ms(), api_.config().max_user, why);
    if (!made) return api_.refuse(c, status::bad_request, why);
    try {
        if (!api_.api_keys().store().add_key(made->key))
            return api_.refuse(c, status::conflict, "a key with this name exists: revoke it first");
    } catch (const store::StoreError&) {
        return api_.reply(c, api_.store_down());
    }
    auto o = model::api_key_json(made->key);
    o["key"] = made->secret;
    api_.reply(c, make(status::created, boost::json::serialize(o)));
}

void AdminKeys::revoke_key(Ctx& c) {
    if (!api_.admins_only(c)) return;
    std::string name = c.name;  // {name} of the path: the same alphabet as room names
    try {
        if (!api_.api_keys().revoke(name)) return api_.refuse(c, status::not_found, "no such key");
    } catch (const store::StoreError&) {
        return api_.reply(c, api_.store_down());
    }
    api_.reply(c, make(status::no_content, ""));
}

}  // namespace ssechat::http
