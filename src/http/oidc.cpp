#include "http/oidc.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include <boost/json.hpp>
#include <chrono>

#include "http/auth.hpp"
#include "http/client.hpp"
#include "util/strict_json.hpp"
#include "util/text.hpp"

namespace ssechat::http {

namespace json = boost::json;

namespace {

// Clocks drift: an ID token a minute past its exp is still taken, as tokens are elsewhere.
constexpr int64_t kLeewayS = 60;

std::string random_b64(size_t n) {
    std::string bytes(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n)) != 1)
        throw OidcError(500, "no random bytes");
    return text::base64url(bytes);
}

std::string sha256(std::string_view s) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_Digest(s.data(), s.size(), md, &len, EVP_sha256(), nullptr);
    return std::string(reinterpret_cast<char*>(md), len);
}

// application/x-www-form-urlencoded, and a query string's values.
std::string form(std::string_view s) {
    return text::percent_encode(s);
}

json::object fetch_json(const std::string& method, const std::string& url,
                        const std::vector<std::pair<std::string, std::string>>& headers,
                        const std::string& body, const char* what) {
    ClientResponse r;
    try {
        r = fetch(method, url, headers, body);
    } catch (const ClientError& e) {
        throw OidcError(
            502, std::string("the sign-in provider cannot be reached (") + what + "): " + e.what());
    }
    json::error_code ec;
    auto v = json::parse(r.body, ec);
    if (r.status != 200) {
        std::string why = "HTTP " + std::to_string(r.status);
        if (!ec && v.is_object())
            if (const auto* e = v.as_object().if_contains("error"); e && e->is_string())
                why += ", " + std::string(e->as_string());
        throw OidcError(502, std::string("the sign-in provider refused (") + what + "): " + why);
    }
    if (ec || !v.is_object())
        throw OidcError(502,
                        std::string("the sign-in provider answered no JSON object (") + what + ")");
    return std::move(v.as_object());
}

std::string str(const json::object& o, const char* key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// A JWK's public key, or null when it is not one this verifies with.
EVP_PKEY* key_of(const json::object& jwk, const std::string& alg) {
    auto bytes = [&](const char* k) { return text::unbase64url(str(jwk, k)); };
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    EVP_PKEY* key = nullptr;
    const char* type = nullptr;
    BIGNUM *n = nullptr, *e = nullptr;
    std::string point;
    if (alg == "RS256" && str(jwk, "kty") == "RSA") {
        auto nb = bytes("n"), eb = bytes("e");
        if (nb && eb && !nb->empty() && !eb->empty()) {
            n = BN_bin2bn(reinterpret_cast<const unsigned char*>(nb->data()),
                          static_cast<int>(nb->size()), nullptr);
            e = BN_bin2bn(reinterpret_cast<const unsigned char*>(eb->data()),
                          static_cast<int>(eb->size()), nullptr);
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
            type = "RSA";
        }
    } else if (alg == "ES256" && str(jwk, "kty") == "EC" && str(jwk, "crv") == "P-256") {
        auto x = bytes("x"), y = bytes("y");
        if (x && y && x->size() == 32 && y->size() == 32) {
            point = "\x04" + *x + *y;
            OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                             point.size());
            type = "EC";
        }
    }
    if (type) {
        OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
        EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
        if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1)
            EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params);
        EVP_PKEY_CTX_free(ctx);
        OSSL_PARAM_free(params);
    }
    BN_free(n);
    BN_free(e);
    OSSL_PARAM_BLD_free(bld);
    return key;
}

int64_t now_s() {
    using namespace std::chrono;
    return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

Oidc::Oidc(const Config& cfg)
    : issuer_(cfg.oidc_issuer),
      client_id_(cfg.oidc_client_id),
      client_secret_(cfg.oidc_client_secret),
      user_claim_(cfg.oidc_user_claim) {
    while (!issuer_.empty() && issuer_.back() == '/' && issuer_.size() > 8) issuer_.pop_back();
}

Oidc::~Oidc() {
    for (auto& [k, key] : keys_) EVP_PKEY_free(static_cast<EVP_PKEY*>(key));
}

void Oidc::set_origin(const std::string& origin) {
    redirect_ = origin + "/auth/oidc/callback";
}

Oidc::Provider Oidc::provider() {
    {
        std::lock_guard lk(mu_);
        if (provider_) return *provider_;
    }
    auto d = fetch_json("GET", issuer_ + "/.well-known/openid-configuration", {}, "", "discovery");
    Provider p;
    p.issuer = str(d, "issuer");
    p.authorization = str(d, "authorization_endpoint");
    p.token = str(d, "token_endpoint");
    p.jwks = str(d, "jwks_uri");
    // OpenID Connect Discovery 4.3: the document must be the configured issuer's own.
    std::string want = issuer_;
    std::string got = p.issuer;
    while (!got.empty() && got.back() == '/') got.pop_back();
    if (got != want)
        throw OidcError(502, "the sign-in provider's discovery document names another issuer (" +
                                 p.issuer + ")");
    if (p.authorization.empty() || p.token.empty() || p.jwks.empty())
        throw OidcError(502, "the sign-in provider's discovery document lacks an endpoint");
    if (const auto* m = d.if_contains("token_endpoint_auth_methods_supported");
        m && m->is_array()) {
        bool basic = false, post = false;
        for (const auto& x : m->as_array()) {
            if (x == "client_secret_basic") basic = true;
            if (x == "client_secret_post") post = true;
        }
        p.post_only = post && !basic;
    }
    std::lock_guard lk(mu_);
    if (!provider_) provider_ = std::make_unique<Provider>(p);
    return *provider_;
}

void Oidc::load_keys(const Provider& p) {
    auto set = fetch_json("GET", p.jwks, {}, "", "keys");
    const auto* keys = set.if_contains("keys");
    if (!keys || !keys->is_array())
        throw OidcError(502, "the sign-in provider's keys are unreadable");
    std::map<std::string, void*> fresh;
    for (const auto& k : keys->as_array()) {
        if (!k.is_object()) continue;
        const auto& jwk = k.as_object();
        if (str(jwk, "use") == "enc") continue;
        for (const char* alg : {"RS256", "ES256"})
            if (EVP_PKEY* key = key_of(jwk, alg)) {
                std::string id = std::string(alg) + " " + str(jwk, "kid");
                if (fresh.count(id))
                    EVP_PKEY_free(key);
                else
                    fresh[id] = key;
            }
    }
    std::lock_guard lk(mu_);
    for (auto& [k, key] : keys_) EVP_PKEY_free(static_cast<EVP_PKEY*>(key));
    keys_ = std::move(fresh);
}

void* Oidc::key(const Provider& p, const std::string& kid, const std::string& alg) {
    for (int attempt = 0; attempt < 2; ++attempt) {
        {
            std::lock_guard lk(mu_);
            if (auto it = keys_.find(alg + " " + kid); it != keys_.end()) {
                // Held until the next load_keys(), which runs on this same thread pool:
                // copy a reference so a concurrent reload cannot free it under us.
                EVP_PKEY_up_ref(static_cast<EVP_PKEY*>(it->second));
                return it->second;
            }
        }
        if (attempt == 0) load_keys(p);  // a key the provider rotated in since
    }
    return nullptr;
}

Oidc::Start Oidc::start() {
    Provider p = provider();
    std::string state = random_b64(16), nonce = random_b64(16), verifier = random_b64(32);
    std::string challenge = text::base64url(sha256(verifier));
    Start s;
    s.location = p.authorization + (p.authorization.find('?') == std::string::npos ? "?" : "&") +
                 "response_type=code&client_id=" + form(client_id_) +
                 "&redirect_uri=" + form(redirect_) + "&scope=" + form("openid profile") +
                 "&state=" + state + "&nonce=" + nonce + "&code_challenge=" + challenge +
                 "&code_challenge_method=S256";
    s.cookie = state + "." + nonce + "." + verifier;
    return s;
}

OidcUser Oidc::finish(const std::string& cookie, const std::string& state,
                      const std::string& code) {
    // The browser that started the sign-in holds the state it was sent off with; a callback
    // with another (or none) is someone else's, or a replay.
    auto d1 = cookie.find('.'), d2 = d1 == std::string::npos ? d1 : cookie.find('.', d1 + 1);
    if (d2 == std::string::npos)
        throw OidcError(400,
                        "this sign-in was not started in this browser, or took longer than "
                        "ten minutes: start again");
    std::string want_state = cookie.substr(0, d1), nonce = cookie.substr(d1 + 1, d2 - d1 - 1),
                verifier = cookie.substr(d2 + 1);
    if (state.empty() || state != want_state)
        throw OidcError(400, "the sign-in's state does not match: start again");
    if (code.empty()) throw OidcError(400, "the sign-in provider sent no code");
    Provider p = provider();
    std::string body = "grant_type=authorization_code&code=" + form(code) +
                       "&redirect_uri=" + form(redirect_) + "&code_verifier=" + form(verifier);
    std::vector<std::pair<std::string, std::string>> headers = {
        {"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
    if (p.post_only) {
        body += "&client_id=" + form(client_id_) + "&client_secret=" + form(client_secret_);
    } else {
        // RFC 6749 2.3.1: each part form-encoded before it is joined and base64-encoded.
        std::string plain = form(client_id_) + ":" + form(client_secret_);
        std::string b64 = text::base64url(plain);
        for (char& c : b64) c = c == '-' ? '+' : c == '_' ? '/' : c;
        while (b64.size() % 4) b64 += '=';
        headers.emplace_back("Authorization", "Basic " + b64);
    }
    auto tokens = fetch_json("POST", p.token, headers, body, "token");
    std::string id_token = str(tokens, "id_token");
    if (id_token.empty()) throw OidcError(502, "the sign-in provider sent no ID token");

    // The ID token: a JWS signed by one of the provider's keys.
    auto bad = [](const std::string& why) { return OidcError(401, "the ID token " + why); };
    auto p1 = id_token.find('.'), p2 = p1 == std::string::npos ? p1 : id_token.find('.', p1 + 1);
    if (p2 == std::string::npos || id_token.find('.', p2 + 1) != std::string::npos)
        throw bad("is malformed");
    auto header = text::unbase64url(id_token.substr(0, p1));
    auto payload = text::unbase64url(id_token.substr(p1 + 1, p2 - p1 - 1));
    auto sig = text::unbase64url(id_token.substr(p2 + 1));
    if (!header || !payload || !sig) throw bad("is malformed");
    json::error_code ec;
    auto h = json::parse(*header, ec);
    if (ec || !h.is_object() || strict_json::duplicate_keys(*header)) throw bad("is malformed");
    std::string alg = str(h.as_object(), "alg"), kid = str(h.as_object(), "kid");
    if (alg != "RS256" && alg != "ES256")
        throw bad("is signed with " + (alg.empty() ? std::string("nothing") : alg) +
                  ", not RS256 or ES256");
    void* k = key(p, kid, alg);
    if (!k) throw bad("is signed with a key the provider does not publish");
    bool signed_ok = auth::verify_signature(k, alg == "ES256", id_token.substr(0, p2), *sig);
    EVP_PKEY_free(static_cast<EVP_PKEY*>(k));
    if (!signed_ok) throw bad("has a bad signature");
    auto c = json::parse(*payload, ec);
    if (ec || !c.is_object() || strict_json::duplicate_keys(*payload)) throw bad("is malformed");
    const auto& claims = c.as_object();
    if (str(claims, "iss") != p.issuer) throw bad("is from another issuer");
    const auto* aud = claims.if_contains("aud");
    bool for_us = aud && aud->is_string() && aud->as_string() == client_id_;
    if (aud && aud->is_array())
        for (const auto& a : aud->as_array())
            for_us = for_us || (a.is_string() && a.as_string() == client_id_);
    if (!for_us) throw bad("is meant for another client");
    const auto* exp = claims.if_contains("exp");
    if (!exp || !exp->is_number()) throw bad("has no expiry");
    if (exp->to_number<double>() + kLeewayS < static_cast<double>(now_s()))
        throw bad("has expired");
    if (str(claims, "nonce") != nonce) throw bad("was not issued for this sign-in (nonce)");

    OidcUser u;
    u.user_id = str(claims, user_claim_.c_str());
    if (u.user_id.empty() && user_claim_ == "preferred_username") u.user_id = str(claims, "sub");
    if (u.user_id.empty())
        throw OidcError(403, "the sign-in provider did not say who you are (" + user_claim_ + ")");
    u.display_name = str(claims, "name");
    return u;
}

}  // namespace ssechat::http
