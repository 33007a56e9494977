// JWT bearer authentication (HS256 with a shared secret; RS256 or ES256 with a public key).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/api_key.hpp"
#include "model/scope.hpp"
#include "util/text.hpp"

namespace ssechat::auth {

struct Identity {
    std::string user;        // the token's "sub"
    model::RoomScope rooms;  // the "rooms" claim; absent: every room
    int64_t exp = 0;         // the "exp" claim, unix seconds
    bool moderator = false;  // the "mod" claim is true: a moderator of every room
    bool admin = false;      // the "admin" claim is true: an owner of every room
    // An API key: its scopes (0 for anything else), and its name for the access log.
    model::KeyScopes key = 0;
    std::string key_name = {};
    bool acting_as = false;  // a key acting as another user (?as=), with that user's rights
    // A key's own bot user: its messages say "bot":true.
    bool bot() const { return key != 0 && !acting_as; }
};

struct Verdict {
    int status = 200;  // 200, 401 (no or bad token) or 403
    std::string error;
    Identity identity;
};

class Verifier {
  public:
    // HS256 with a shared secret.
    static std::unique_ptr<Verifier> hs256(std::string secret, int leeway_s = 30);
    // RS256 or ES256 (chosen by the key's type) with a PEM public key file. Throws
    // std::runtime_error naming the file when it cannot be used.
    static std::unique_ptr<Verifier> public_key(const std::string& pem_path, int leeway_s = 30);
    ~Verifier();

    Verdict verify(std::string_view token, int64_t now_s) const;
    const std::string& algorithm() const { return alg_; }

  private:
    Verifier() = default;
    bool check_signature(std::string_view signed_part, const std::string& sig) const;
    std::string alg_;
    std::string secret_;
    void* key_ = nullptr;  // EVP_PKEY*, kept opaque to keep OpenSSL out of this header
    int leeway_s_ = 30;
};

// A JWS signature made with `key` (an EVP_PKEY*): RS256, or ES256 in JOSE's r||s form.
bool verify_signature(void* key, bool es256, std::string_view signed_part, const std::string& sig);

// An HS256 token for `ssechat token`.
std::string sign_hs256(std::string_view secret, std::string_view sub, int64_t exp,
                       const std::vector<std::string>& rooms, bool moderator = false);

using text::base64url;
using text::unbase64url;

}  // namespace ssechat::auth
