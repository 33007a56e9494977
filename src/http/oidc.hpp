// Single sign-on with an OpenID Connect provider: the authorization code flow with PKCE (S256),
// `state` and `nonce`, the code exchanged at the token endpoint (client_secret_basic, or
// client_secret_post when the provider offers only that), and the ID token verified against
// the provider's keys (RS256 or ES256; iss, aud, exp, nonce). Every call does network I/O:
// run it on the worker pool, never on an event loop.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "util/config.hpp"

namespace ssechat::http {

// Why a sign-in failed, in words for the person at the browser; `status` is the HTTP answer.
struct OidcError : std::runtime_error {
    int status;
    OidcError(int st, const std::string& why) : std::runtime_error(why), status(st) {}
};

struct OidcUser {
    std::string user_id;       // the --oidc-user-claim (or sub)
    std::string display_name;  // the name claim, or ""
};

class Oidc {
  public:
    explicit Oidc(const Config& cfg);
    ~Oidc();
    // The callback URL registered with the provider: <public origin>/auth/oidc/callback.
    void set_origin(const std::string& origin);
    const std::string& issuer() const { return issuer_; }

    struct Start {
        std::string location;  // the provider's authorization URL
        std::string cookie;    // state, nonce and PKCE verifier, kept by the browser
    };
    Start start();
    // Checks the callback's `state` against `cookie`, exchanges `code` and verifies the ID
    // token; throws OidcError saying what went wrong.
    OidcUser finish(const std::string& cookie, const std::string& state, const std::string& code);

  private:
    struct Provider {
        std::string issuer, authorization, token, jwks;
        bool post_only = false;  // the token endpoint takes client_secret_post only
    };
    Provider provider();  // the discovery document, read once (again after a failure)
    // The key with `kid` for `alg`, from the JWKS (read again once for a kid not in it).
    void* key(const Provider& p, const std::string& kid, const std::string& alg);
    void load_keys(const Provider& p);

    std::string issuer_, client_id_, client_secret_, user_claim_, redirect_;
    std::mutex mu_;
    std::unique_ptr<Provider> provider_;
    std::map<std::string, void*> keys_;  // "alg kid" -> EVP_PKEY*
};

}  // namespace ssechat::http
