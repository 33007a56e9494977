// JWT verification with OpenSSL: HMAC for HS256, EVP_DigestVerify for RS256 and ES256.
// Only the configured algorithm is accepted, so "none" and algorithm swaps are refused.
#include "http/auth.hpp"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <algorithm>
#include <boost/json.hpp>
#include <stdexcept>

#include "util/strict_json.hpp"
#include "util/text.hpp"

namespace ssechat::auth {

namespace json = boost::json;

namespace {

std::string hmac_sha256(std::string_view key, std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
    return std::string(reinterpret_cast<char*>(md), len);
}

Verdict deny(int status, std::string why) {
    return {status, std::move(why), {}};
}

}  // namespace

std::unique_ptr<Verifier> Verifier::hs256(std::string secret, int leeway_s) {
    std::unique_ptr<Verifier> v(new Verifier);
    v->alg_ = "HS256";
    v->secret_ = std::move(secret);
    v->leeway_s_ = leeway_s;
    return v;
}

std::unique_ptr<Verifier> Verifier::public_key(const std::string& pem_path, int leeway_s) {
    BIO* bio = BIO_new_file(pem_path.c_str(), "r");
    if (!bio) throw std::runtime_error("cannot read JWT key file " + pem_path);
    EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (!key) throw std::runtime_error("JWT key file " + pem_path + " holds no PEM public key");
    std::unique_ptr<Verifier> v(new Verifier);
    v->key_ = key;
    v->leeway_s_ = leeway_s;
    int type = EVP_PKEY_get_base_id(key);
    if (type == EVP_PKEY_RSA) {
        v->alg_ = "RS256";
    } else if (type == EVP_PKEY_EC && EVP_PKEY_get_bits(key) == 256) {
        v->alg_ = "ES256";
    } else {
        throw std::runtime_error("JWT key file " + pem_path + " is neither RSA nor EC P-256");
    }
    return v;
}

Verifier::~Verifier() {
    if (key_) EVP_PKEY_free(static_cast<EVP_PKEY*>(key_));
}

bool Verifier::check_signature(std::string_view signed_part, const std::string& sig) const {
    if (alg_ == "HS256") {
        std::string want = hmac_sha256(secret_, signed_part);
        return sig.size() == want.size() && CRYPTO_memcmp(sig.data(), want.data(), sig.size()) == 0;
    }
    return verify_signature(key_, alg_ == "ES256", signed_part, sig);
}

bool verify_signature(void* key, bool es256, std::string_view signed_part, const std::string& sig) {
    std::string der;
    if (es256) {
        // JWS carries r||s; OpenSSL verifies the DER form.
        if (sig.size() != 64) return false;
        ECDSA_SIG* es = ECDSA_SIG_new();
        BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()), 32, nullptr);
        BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()) + 32, 32, nullptr);
        ECDSA_SIG_set0(es, r, s);
        unsigned char* buf = nullptr;
        int n = i2d_ECDSA_SIG(es, &buf);
        if (n > 0) der.assign(reinterpret_cast<char*>(buf), static_cast<size_t>(n));
        OPENSSL_free(buf);
        ECDSA_SIG_free(es);
        if (der.empty()) return false;
    }
    const std::string& raw = es256 ? der : sig;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr,
                                   static_cast<EVP_PKEY*>(key)) == 1 &&
              EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(raw.data()), raw.size(),
                               reinterpret_cast<const unsigned char*>(signed_part.data()),
                               signed_part.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

Verdict Verifier::verify(std::string_view token, int64_t now_s) const {
    if (token.empty()) return deny(401, "missing token");
    auto d1 = token.find('.');
    auto d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
    if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
        return deny(401, "malformed token");
    auto header = unbase64url(token.substr(0, d1));
    auto payload = unbase64url(token.substr(d1 + 1, d2 - d1 - 1));
    auto sig = unbase64url(token.substr(d2 + 1));
    if (!header || !payload || !sig) return deny(401, "malformed token");
    json::error_code ec;
    json::value h = json::parse(*header, ec);
    if (ec || !h.is_object()) return deny(401, "malformed token header");
    // Which of two "alg" (or "sub", or "rooms") counts is where parsers disagree; refuse both.
    if (strict_json::duplicate_keys(*header)) return deny(401, "token header has a duplicate key");
    const auto* alg = h.as_object().if_contains("alg");
    if (!alg || !alg->is_string() || alg->as_string() != alg_)
        return deny(401, "token algorithm must be " + alg_);
    if (!check_signature(token.substr(0, d2), *sig)) return deny(401, "bad token signature");
    json::value p = json::parse(*payload, ec);
    if (ec || !p.is_object()) return deny(401, "malformed token claims");
    if (strict_json::duplicate_keys(*payload))
        return deny(401, "token claims have a duplicate key");
    const auto& claims = p.as_object();
    // NumericDate claims as whole seconds in int64. Doubles are refused rather than cast: a
    // cast of 1e300 is undefined behaviour, and a fraction buys nothing here.
    auto seconds = [&](const char* name, int64_t& out) -> std::string {
        const auto* v = claims.if_contains(name);
        if (!v) return "missing";
        if (v->is_int64()) return out = v->as_int64(), "";
        if (v->is_uint64()) return "out of range";  // past INT64_MAX
        return "not an integer";
    };
    int64_t exp = 0, nbf = 0;
    if (auto why = seconds("exp", exp); !why.empty()) return deny(401, "token exp claim is " + why);
    // Compared as now - leeway so that a far-future exp cannot overflow; now is small.
    if (exp < now_s - leeway_s_) return deny(401, "token expired");
    if (auto why = seconds("nbf", nbf); why != "missing") {
        if (!why.empty()) return deny(401, "token nbf claim is " + why);
        if (nbf > now_s + leeway_s_) return deny(401, "token not valid yet");
    }
    const auto* sub = claims.if_contains("sub");
    if (!sub || !sub->is_string() || sub->as_string().empty())
        return deny(401, "token has no sub claim");
    Verdict v;
    v.identity.user = std::string(sub->as_string());
    v.identity.exp = exp;
    if (!text::valid_utf8(v.identity.user)) return deny(401, "token sub is not valid UTF-8");
    if (const auto* rooms = claims.if_contains("rooms")) {
        if (!rooms->is_array()) return deny(401, "token rooms claim must be an array");
        std::vector<std::string> list;
        for (const auto& r : rooms->as_array()) {
            if (!r.is_string()) return deny(401, "token rooms claim must hold strings");
            list.emplace_back(r.as_string());
        }
        v.identity.rooms = model::RoomScope(std::move(list));
    }
    if (const auto* mod = claims.if_contains("mod")) {
        if (!mod->is_bool()) return deny(401, "token mod claim must be true or false");
        v.identity.moderator = mod->as_bool();
    }
    if (const auto* admin = claims.if_contains("admin")) {
        if (!admin->is_bool()) return deny(401, "token admin claim must be true or false");
        v.identity.admin = admin->as_bool();
    }
    return v;
}

std::string sign_hs256(std::string_view secret, std::string_view sub, int64_t exp,
                       const std::vector<std::string>& rooms, bool moderator) {
    json::object claims;
    claims["sub"] = sub;
    claims["exp"] = exp;
    if (!rooms.empty()) {
        json::array a;
        for (const auto& r : rooms) a.emplace_back(r);
        claims["rooms"] = std::move(a);
    }
    if (moderator) claims["mod"] = true;
    std::string signed_part =
        base64url(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url(json::serialize(claims));
    return signed_part + "." + base64url(hmac_sha256(secret, signed_part));
}

}  // namespace ssechat::auth
