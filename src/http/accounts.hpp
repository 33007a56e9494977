// Accounts as resources: sign-in (password and single sign-on), sessions, invites, sign-up,
// the account itself, and user names. Owns the OIDC client.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "http/exchange.hpp"
#include "http/oidc.hpp"

namespace ssechat::http {

class Api;

class Accounts {
  public:
    explicit Accounts(Api& api);
    ~Accounts();
    // The origin single sign-on sends the browser back to, once the port is known.
    void set_origin(const std::string& origin);
    void auth_info(Ctx& c);
    void login(Ctx& c);
    void oidc_start(Ctx& c);
    void oidc_callback(Ctx& c);
    void logout(Ctx& c);
    void logout_all(Ctx& c);
    void list_sessions(Ctx& c);
    void end_session(Ctx& c);
    void patch_me(Ctx& c);
    void put_password(Ctx& c);
    void create_invite(Ctx& c);
    void list_invites(Ctx& c);
    void drop_invite(Ctx& c);
    void accept_invite(Ctx& c);
    void signup(Ctx& c);
    void get_user(Ctx& c);
    void list_users(Ctx& c);

  private:
    // A page for the person at the browser after single sign-on went wrong.
    Response oidc_page(int status, const std::string& why) const;
    // The Set-Cookie of a sign-in's state (empty: clears it).
    std::string oidc_cookie(const std::string& value) const;
    // A sign-in route's request (login, accept, sign-up) with an Origin that is not ours:
    // false after answering 403. Without Origin (an API client) it passes.
    bool not_cross_site(Ctx& c);
    // Accounts are on, else false after answering 404.
    bool accounts_on(Ctx& c);
    // The caller is an admin (an admin account, a token's admin claim, or an API key with
    // the users or admin scope), else false after answering 403.
    bool admin_only(Ctx& c);
    // Makes an account from {"user_id","password","display_name"} with invite `code` ("":
    // an open sign-up) and signs it in.
    void claim(Ctx& c, const std::string& code);
    // Runs `end` (sessions ending), then answers 204 and clears the cookie; 503 when the
    // store is away.
    void signed_out(Ctx& c, const std::function<void()>& end);
    // The Set-Cookie of a session (an empty secret clears it).
    std::string session_cookie(const std::string& secret) const;

    Api& api_;
    std::unique_ptr<Oidc> oidc_;  // --oidc-issuer
};

}  // namespace ssechat::http
