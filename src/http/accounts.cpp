// Accounts as resources (--accounts): signing in and out, one's sessions and password, the
// invites admins hand out, and the names other users go by. Password work runs on the
// SignIns pool; its answers come back through api_.later().
#include "http/accounts.hpp"

#include <boost/json.hpp>

#include "chat/metrics.hpp"
#include "http/api.hpp"
#include "http/api_detail.hpp"
#include "http/http_metrics.hpp"
#include "model/account.hpp"
#include "util/password.hpp"

namespace ssechat::http {

using namespace detail;

namespace {

constexpr int64_t kDefaultInviteTtlS = 7 * 86400;
constexpr int64_t kMaxInviteTtlS = 90 * 86400;
constexpr size_t kMaxUsersAsked = 100;

// A string field that must be there.
const boost::json::string* string_field(const boost::json::object& o, const char* key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? &v->as_string() : nullptr;
}

std::string user_agent(const Request& req) {
    auto h = req.find(bhttp::field::user_agent);
    return h == req.end() ? std::string() : std::string(h->value().substr(0, 256));
}

}  // namespace

Accounts::Accounts(Api& api) : api_(api) {
    const Config& cfg = api.config();
    if (cfg.accounts && !cfg.oidc_issuer.empty()) oidc_ = std::make_unique<Oidc>(cfg);
}

Accounts::~Accounts() = default;

void Accounts::set_origin(const std::string& origin) {
    if (oidc_) oidc_->set_origin(origin);
}

bool Accounts::accounts_on(Ctx& c) {
    if (api_.sign_ins()) return true;
    api_.refuse(c, status::not_found, "accounts are off on this server (start it with --accounts)");
    return false;
}

bool Accounts::admin_only(Ctx& c) {
    // A key reached here through its scopes (users or admin), unless it acts as someone.
    if (c.identity &&
        (c.identity->key ? !c.identity->acting_as
                         : api_.server_role(c, c.identity->user) == model::Role::Owner))
        return true;
    api_.refuse(c, status::forbidden, "only an admin may manage invites");
    return false;
}

std::string Accounts::session_cookie(const std::string& secret) const {
    std::string v =
        std::string(Api::kSessionCookie) + "=" + secret + "; HttpOnly; SameSite=Lax; Path=/";
    v += secret.empty() ? "; Max-Age=0"
                        : "; Max-Age=" + std::to_string(api_.config().session_idle_s);
    if (!api_.config().tls_cert.empty()) v += "; Secure";
    return v;
}

// What a refused sign-in (or password check) answers.
static Response refusal(const Api& api, const SignInResult& r) {
    Response res = api.error(static_cast<status>(r.status), r.error);
    if (r.retry_after_s) res.set(bhttp::field::retry_after, std::to_string(r.retry_after_s));
    return res;
}

void Accounts::auth_info(Ctx& c) {
    // Asked before anyone is signed in: which sign-in the page offers.
    boost::json::object o;
    o["mode"] = api_.sign_ins() ? "accounts" : api_.verifier() ? "token" : "anonymous";
    o["signup"] = api_.sign_ins() && api_.config().signup_open ? "open" : "invite";
    o["tokens"] = api_.verifier() != nullptr;
    // Single sign-on: the provider's host, for "Sign in with …".
    if (oidc_) {
        std::string host = oidc_->issuer();
        if (auto p = host.find("://"); p != std::string::npos) host = host.substr(p + 3);
        o["oidc"] = host.substr(0, host.find('/'));
    } else {
        o["oidc"] = nullptr;
    }
    api_.reply(c, make(status::ok, boost::json::serialize(o)));
}

bool Accounts::not_cross_site(Ctx& c) {
    // A page elsewhere must not sign a browser in (to an account of the page's choosing):
    // a browser's request says where it comes from; an API client's has no Origin.
    if (c.req.find(bhttp::field::origin) == c.req.end() || api_.same_origin(c)) return true;
    http_metrics().auth_failures.fetch_add(1, std::memory_order_relaxed);
    api_.refuse(c, status::forbidden, "cross-site request refused");
    return false;
}

void Accounts::login(Ctx& c) {
    if (!accounts_on(c) || !not_cross_site(c)) return;
    auto body = object_body(c.req.body());
    const boost::json::string *id = nullptr, *pw = nullptr;
    if (body && unknown_key(*body, {"user_id", "password"}).empty()) {
        id = string_field(*body, "user_id");
        pw = string_field(*body, "password");
    }
    if (!id || !pw)
        return api_.refuse(c, status::bad_request,
                           R"(the body must be {"user_id":"…","password":"…"})");
    if (pw->size() > model::kMaxPassword)
        return api_.refuse(c, status::bad_request, "a password is at most 1024 bytes");
    std::string user(*id);
    if (!text::bad_user_id(user, api_.config().max_user).empty())
        // No account can have this id; the answer is the one for any wrong pair.
        return api_.refuse(c, status::unauthorized, "wrong user id or password");
    c.user = user;
    auto done = api_.later(c);
    api_.sign_ins()->sign_in(
        user, std::string(*pw), c.s->peer().to_string(), user_agent(c.req),
        [this, done](SignInResult r) {
            if (r.status != 200) {
                http_metrics().auth_failures.fetch_add(1, std::memory_order_relaxed);
                return done(refusal(api_, r));
            }
            Response res = make(status::ok, boost::json::serialize(model::account_json(r.account)));
            res.set(bhttp::field::set_cookie, session_cookie(r.secret));
            done(std::move(res));
        });
}

Response Accounts::oidc_page(int st, const std::string& why) const {
    std::string text;
    for (char ch : why) {
        switch (ch) {
            case '<':
                text += "&lt;";
                break;
            case '>':
                text += "&gt;";
                break;
            case '&':
                text += "&amp;";
                break;
            case '"':
                text += "&quot;";
                break;
            default:
                text += ch;
        }
    }
    Response res = make(static_cast<status>(st),
                        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">"
                        "<meta name=\"viewport\" content=\"width=device-width\">"
                        "<title>Sign-in failed</title><h1>Sign-in failed</h1><p id=\"why\">" +
                            text + "</p><p><a href=\"/\">Back to the chat</a></p></html>",
                        "text/html; charset=utf-8");
    res.set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
    // The state cookie has done its work, whatever the outcome.
    res.set(bhttp::field::set_cookie, oidc_cookie(""));
    return res;
}

std::string Accounts::oidc_cookie(const std::string& value) const {
    return "ssechat_oidc=" + value +
           "; HttpOnly; SameSite=Lax; Path=/auth/oidc; Max-Age=" + (value.empty() ? "0" : "600") +
           (api_.config().tls_cert.empty() ? "" : "; Secure");
}

void Accounts::oidc_start(Ctx& c) {
    if (!oidc_) return api_.refuse(c, status::not_found, "single sign-on is not configured here");
    auto done = api_.later(c);
    bool queued = api_.sign_ins()->hash_later([this, done] {
        try {
            auto s = oidc_->start();
            Response res = make(status::found, "");
            res.set(bhttp::field::location, s.location);
            res.set(bhttp::field::set_cookie, oidc_cookie(s.cookie));
            done(std::move(res));
        } catch (const OidcError& e) {
            done(oidc_page(e.status, e.what()));
        }
    });
    if (!queued) api_.reply(c, oidc_page(503, "The server is busy: try again in a moment."));
}

void Accounts::oidc_callback(Ctx& c) {
    if (!oidc_) return api_.refuse(c, status::not_found, "single sign-on is not configured here");
    auto param = [&](const char* k) {
        const std::string* v = c.query ? http_util::find(*c.query, k) : nullptr;
        return v ? *v : std::string();
    };
    if (auto err = param("error"); !err.empty()) {
        std::string desc = param("error_description");
        return api_.reply(c, oidc_page(401, "The sign-in provider refused: " + err +
                                                (desc.empty() ? "" : " (" + desc + ")")));
    }
    auto done = api_.later(c);
    bool queued = api_.sign_ins()->hash_later(
        [this, done, cookie = cookie_of(c.req, "ssechat_oidc"), state = param("state"),
         code = param("code"), agent = user_agent(c.req)] {
            try {
                OidcUser u = oidc_->finish(cookie, state, code);
                if (auto why = text::bad_user_id(u.user_id, api_.config().max_user); !why.empty())
                    throw OidcError(403, "Your sign-in name cannot be a user id here: " + why);
                auto& store = api_.sign_ins()->store();
                auto a = store.account(u.user_id);
                if (!a) {
                    if (!api_.config().signup_open && !api_.config().oidc_auto_create)
                        throw OidcError(403, "There is no account " + u.user_id +
                                                 " here yet: ask an admin for an invite.");
                    model::Account fresh;
                    fresh.user_id = u.user_id;
                    if (model::display_name_problem(u.display_name).empty())
                        fresh.display_name = u.display_name;
                    fresh.created_at = unix_now_ms();
                    store.add_account(fresh);  // or another sign-in made it a moment ago
                    a = store.account(u.user_id);
                    if (!a) throw OidcError(503, "The account could not be made: try again.");
                }
                if (a->disabled) throw OidcError(403, "This account is disabled.");
                Response res = make(status::found, "");
                res.set(bhttp::field::location, "/");
                res.set(bhttp::field::set_cookie,
                        session_cookie(api_.sign_ins()->start_session(u.user_id, agent)));
                res.insert(bhttp::field::set_cookie, oidc_cookie(""));
                done(std::move(res));
            } catch (const OidcError& e) {
                done(oidc_page(e.status, e.what()));
            } catch (const store::StoreError&) {
                done(oidc_page(503, "The server cannot reach its store: try again later."));
            }
        });
    if (!queued) api_.reply(c, oidc_page(503, "The server is busy: try again in a moment."));
}

void Accounts::logout(Ctx& c) {
    if (!accounts_on(c)) return;
    if (!c.session)
        return api_.refuse(c, status::bad_request, "this request has no session to end");
    signed_out(c, [&] { api_.sign_ins()->end(c.session->sign_in.key); });
}

void Accounts::logout_all(Ctx& c) {
    if (!accounts_on(c)) return;
    signed_out(c, [&] { api_.sign_ins()->end_all(c.identity->user, ""); });
}

void Accounts::signed_out(Ctx& c, const std::function<void()>& end) {
    try {
        end();
    } catch (const store::StoreError&) {
        return api_.reply(c, api_.store_down());
    }
    Response res = make(status::no_content, "");
    res.set(bhttp::field::set_cookie, session_cookie(""));
    api_.reply(c, std::move(res));
}

void Accounts::list_sessions(Ctx& c) {
    if (!accounts_on(c)) return;
    boost::json::array list;
    try {
        int64_t now = unix_now_ms();
        for (const auto& s : api_.sign_ins()->store().sign_ins(c.identity->user)) {
            if (model::expired(s, now, static_cast<int64_t>(api_.config().session_idle_s) * 1000))
                continue;
            list.push_back(model::sign_in_json(s, c.session && c.session->sign_in.key == s.key));
        }
    } catch (const store::StoreError&) {
        return api_.reply(c, api_.store_down());
    }
    api_.reply(c,
               make(status::ok, boost::json::serialize(boost::json::object{{"sessions", list}})));
}

void Accounts::end_session(Ctx& c) {
    if (!accounts_on(c)) return;
    try {
        for (const auto& s : api_.sign_ins()->store().sign_ins(c.identity->user))
            if (s.id == c.id) {
                api_.sign_ins()->end(s.key);
                Response res = make(status::no_content, "");
                if (c.session && c.session->sign_in.key == s.key)
                    res.set(bhttp::field::set_cookie, session_cookie(""));
                return api_.reply(c, std::move(res));
            }
    } catch (const store::StoreError&) {
        return api_.reply(c, api_.store_down());
    }
    api_.refuse(c, status::not_found, "no such session");
}

void Accounts::patch_me(Ctx& c) {
    if (!accounts_on(c)) return;
    auto body = object_body(c.req.body());
    const boost::json::string* name = nullptr;
    if (body && body->size() == 1) name = string_field(*body, "display_name");
    if (!name)
        return api_.refuse(c, status::bad_request, R"(the body must be {"display_name":"…"})");
    if (auto why = model::display_name_problem(*name); !why.empty())
        return api_.refuse(c, status::bad_request, why);
    try {
        auto a = api_.sign_ins()->store().account(c.identity->user);
        if (!a) return api_.refuse(c, status::not_found, "no account for " + c.identity->user);
        a->display_name = std::string(text::trim(std::string_view(*name)));
        api_.sign_ins()->store().update_account(*a);
        api_.sign_ins()->forget_user(a->user_id);
        auto o = model::account_json(*a);
        o["auth"] = c.session ? "session" : "token";
        api_.reply(c, make(status::ok, boost::json::serialize(o)));
    } catch (const store::StoreError&) {
        api_.reply(c, api_.store_down());
    }
}

void Accounts::put_password(Ctx& c) {
    if (!accounts_on(c)) return;
    auto body = object_body(c.req.body());
    const boost::json::string *old_pw = nullptr, *new_pw = nullptr;
    if (body && unknown_key(*body, {"old", "new"}).empty()) {
        old_pw = string_field(*body, "old");
        new_pw = string_field(*body, "new");
    }
    if (!old_pw || !new_pw)
        return api_.refuse(c, status::bad_request, R"(the body must be {"old":"…","new":"…"})");
    if (auto why = model::password_problem(*new_pw); !why.empty())
        return api_.refuse(c, status::bad_request, why);
    std::string user = c.identity->user;
    std::string keep = c.session ? c.session->sign_in.key : std::string();
    auto done = api_.later(c);
    api_.sign_ins()->check_password(
        user, std::string(*old_pw), c.s->peer().to_string(),
        [this, done, user, keep, fresh = std::string(*new_pw)](SignInResult r) {
            if (r.status == 401) r = refused(403, "wrong password");
            if (r.status != 200) return done(refusal(api_, r));
            try {
                // On the pool thread already: the new hash costs what the check did.
                r.account.hash = password::hash(fresh);
                api_.sign_ins()->store().update_account(r.account);
                api_.sign_ins()->end_all(user, keep);
            } catch (const store::StoreError&) {
                return done(api_.store_down());
            }
            done(make(status::no_content, ""));
        });
}

void Accounts::create_invite(Ctx& c) {
    if (!accounts_on(c) || !admin_only(c)) return;
    auto body = object_body(c.req.body());
    if (!body || !unknown_key(*body, {"admin", "ttl_s"}).empty())
        return api_.refuse(c, status::bad_request,
                           R"(the body must be {"admin":false,"ttl_s":604800}, each optional)");
    model::Invite inv;
    if (const auto* a = body->if_contains("admin")) {
        if (!a->is_bool())
            return api_.refuse(c, status::bad_request, "admin must be true or false");
        inv.admin = a->as_bool();
    }
    int64_t ttl = kDefaultInviteTtlS;
    if (const auto* t = body->if_contains("ttl_s")) {
        if (!t->is_int64() || t->as_int64() < 60 || t->as_int64() > kMaxInviteTtlS)
            return api_.refuse(
                c, status::bad_request,
                "ttl_s must be a whole number of seconds from 60 to 7776000 (90 days)");
        ttl = t->as_int64();
    }
    inv.code = random_token(16);
    inv.created_at = unix_now_ms();
    inv.expires = inv.created_at + ttl * 1000;
    inv.created_by = c.identity->user;
    try {
        api_.sign_ins()->store().add_invite(inv);
    } catch (const store::StoreError&) {
        return api_.reply(c, api_.store_down());
    }
    boost::json::object o{
        {"code", inv.code}, {"url", "/#invite=" + inv.code}, {"expires", inv.expires}};
    api_.reply(c, make(status::created, boost::json::serialize(o)));
}

void Accounts::list_invites(Ctx& c) {
    if (!accounts_on(c) || !admin_only(c)) return;
    boost::json::array list;
    try {
        for (const auto& i : api_.sign_ins()->store().invites())
            list.push_back(model::invite_json(i));
    } catch (const store::StoreError&) {
        return api_.reply(c, api_.store_down());
    }
    api_.reply(c, make(status::ok, boost::json::serialize(boost::json::object{{"invites", list}})));
}

void Accounts::drop_invite(Ctx& c) {
    if (!accounts_on(c) || !admin_only(c)) return;
    try {
        if (!api_.sign_ins()->store().drop_invite(c.id))
            return api_.refuse(c, status::not_found, "no such invite");
    } catch (const store::StoreError&) {
        return api_.reply(c, api_.store_down());
    }
    api_.reply(c, make(status::no_content, ""));
}

void Accounts::accept_invite(Ctx& c) {
    if (!accounts_on(c) || !not_cross_site(c)) return;
    claim(c, c.id);
}

void Accounts::signup(Ctx& c) {
    if (!accounts_on(c) || !not_cross_site(c)) return;
    if (!api_.config().signup_open)
        return api_.refuse(c, status::forbidden,
                           "sign-up here is by invitation: ask an admin for an invite");
    claim(c, "");
}

void Accounts::claim(Ctx& c, const std::string& code) {
    auto body = object_body(c.req.body());
    const boost::json::string *id = nullptr, *pw = nullptr, *name = nullptr;
    bool shape = body && unknown_key(*body, {"user_id", "password", "display_name"}).empty();
    if (shape) {
        id = string_field(*body, "user_id");
        pw = string_field(*body, "password");
        if (body->contains("display_name")) {
            name = string_field(*body, "display_name");
            shape = name != nullptr;
        }
    }
    if (!shape || !id || !pw)
        return api_.refuse(c, status::bad_request,
                           R"(the body must be {"user_id":"…","password":"…","display_name":"…"})");
    std::string user(*id);
    if (auto why = text::bad_user_id(user, api_.config().max_user); !why.empty())
        return api_.refuse(c, status::bad_request, "user_id: " + why);
    if (auto why = model::password_problem(*pw); !why.empty())
        return api_.refuse(c, status::bad_request, why);
    if (name)
        if (auto why = model::display_name_problem(*name); !why.empty())
            return api_.refuse(c, status::bad_request, why);
    c.user = user;
    auto done = api_.later(c);
    auto job = [this, done, code, user, pw = std::string(*pw),
                name = name ? std::string(text::trim(std::string_view(*name))) : std::string(),
                agent = user_agent(c.req)] {
        model::Account a;
        a.user_id = user;
        a.display_name = name;
        a.hash = password::hash(pw);
        a.created_at = unix_now_ms();
        try {
            switch (api_.sign_ins()->store().claim(code, a, a.created_at)) {
                case model::Claim::Gone:
                    return done(api_.error(status::gone,
                                           "this invite was used, withdrawn, or has expired"));
                case model::Claim::Taken:
                    return done(api_.error(status::conflict, "the user id " + user + " is taken"));
                case model::Claim::Created:
                    break;
            }
            Response res = make(status::created, boost::json::serialize(model::account_json(a)));
            res.set(bhttp::field::set_cookie,
                    session_cookie(api_.sign_ins()->start_session(user, agent)));
            done(std::move(res));
        } catch (const store::StoreError&) {
            done(api_.store_down());
        }
    };
    if (!api_.sign_ins()->hash_later(std::move(job))) {
        Response res = api_.error(status::service_unavailable, "too many sign-ups at once: retry");
        res.set(bhttp::field::retry_after, "1");
        api_.reply(c, std::move(res));
    }
}

void Accounts::get_user(Ctx& c) {
    auto who = api_.target_user(c);
    if (!who) return;
    try {
        if (api_.sign_ins())
            if (auto a = api_.sign_ins()->store().account(*who))
                return api_.reply(c,
                                  make(status::ok, boost::json::serialize(model::user_json(*a))));
    } catch (const store::StoreError&) {
        return api_.reply(c, api_.store_down());
    }
    api_.refuse(c, status::not_found, "no such user");
}

void Accounts::list_users(Ctx& c) {
    const std::string* ids = c.query ? http_util::find(*c.query, "ids") : nullptr;
    if (!ids || ids->empty())
        return api_.refuse(c, status::bad_request, "?ids= lists the user ids, comma-separated");
    std::vector<std::string> asked;
    for (size_t p = 0; p <= ids->size();) {
        size_t comma = ids->find(',', p);
        asked.push_back(ids->substr(p, comma == std::string::npos ? std::string::npos : comma - p));
        if (comma == std::string::npos) break;
        p = comma + 1;
    }
    if (asked.size() > kMaxUsersAsked)
        return api_.refuse(c, status::bad_request, "at most 100 ids at a time");
    boost::json::array list;
    try {
        for (const auto& id : asked) {
            if (!text::bad_user_id(id, api_.config().max_user).empty()) continue;
            if (api_.sign_ins())
                if (auto a = api_.sign_ins()->store().account(id))
                    list.push_back(model::user_json(*a));
        }
    } catch (const store::StoreError&) {
        return api_.reply(c, api_.store_down());
    }
    api_.reply(c, make(status::ok, boost::json::serialize(boost::json::object{{"users", list}})));
}

}  // namespace ssechat::http
