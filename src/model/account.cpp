#include "model/account.hpp"

#include "util/text.hpp"

namespace ssechat::model {

std::string password_problem(std::string_view password) {
    if (password.size() > kMaxPassword) return "a password is at most 1024 bytes";
    if (!text::valid_utf8(password)) return "a password must be UTF-8 text";
    // Characters, not bytes: ten letters of any script are as hard to guess.
    size_t chars = 0;
    for (unsigned char c : password)
        if ((c & 0xC0) != 0x80) ++chars;
    if (chars < kMinPassword) return "a password is at least 10 characters";
    return {};
}

std::string display_name_problem(std::string_view name) {
    if (name.size() > kMaxDisplayName) return "a display name is at most 100 bytes";
    if (!text::valid_utf8(name)) return "a display name must be UTF-8 text";
    for (unsigned char c : name)
        if (c < 0x20 || c == 0x7f) return "a display name cannot hold control characters";
    if (!name.empty() && text::trim(name).empty()) return "a display name cannot be blank";
    return {};
}

boost::json::object user_json(const Account& a) {
    return {{"user_id", a.user_id},
            {"display_name", a.display_name.empty() ? a.user_id : a.display_name}};
}

boost::json::object account_json(const Account& a) {
    auto o = user_json(a);
    o["admin"] = a.admin;
    return o;
}

boost::json::object sign_in_json(const SignIn& s, bool current) {
    return {{"id", s.id},
            {"created", s.created},
            {"last_seen", s.last_seen},
            {"user_agent", s.user_agent},
            {"current", current}};
}

boost::json::object invite_json(const Invite& i) {
    return {
        {"code", i.code}, {"admin", i.admin}, {"expires", i.expires}, {"created_by", i.created_by}};
}

}  // namespace ssechat::model
