// Web Push on OpenSSL: message encryption (RFC 8291, the aes128gcm content coding of RFC 8188)
// and the server's identification to push services (VAPID, RFC 8292). No Debian package
// offers either for C or C++; both are a few primitives (P-256 ECDH, HKDF-SHA-256,
// AES-128-GCM, ES256), and the tests check them against an implementation we did not write
// (npm http_ece and jose-style verification in tests/browser/push.test.mjs).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ssechat::webpush {

// The server's VAPID key: a P-256 key pair, made once and kept in the store as PEM.
class VapidKey {
  public:
    static VapidKey generate();
    // nullopt when `pem` is not a P-256 private key.
    static std::optional<VapidKey> from_pem(std::string_view pem);
    std::string pem() const;
    // The uncompressed public point (65 bytes), which browsers take as applicationServerKey.
    const std::string& public_raw() const { return public_; }
    // A signed ES256 JWT {"aud","exp","sub"} for the `Authorization: vapid t=…, k=…` header.
    std::string jwt(std::string_view aud, int64_t exp, std::string_view sub) const;
    // That header's value.
    std::string authorization(std::string_view aud, int64_t exp, std::string_view sub) const;

  private:
    struct Free {
        void operator()(void* p) const;
    };
    std::shared_ptr<void> key_;  // EVP_PKEY, shared read-only between copies
    std::string public_;
};

// Encrypts `payload` for a subscription whose keys are `p256dh` (the browser's uncompressed
// P-256 point, 65 bytes) and `auth` (16 bytes), as one aes128gcm record with a fresh
// ephemeral key and salt. nullopt when the keys are not of that form or the payload does not
// fit one 4096-byte record.
std::optional<std::string> encrypt(std::string_view p256dh, std::string_view auth,
                                   std::string_view payload);

// The origin (scheme://host[:port]) of an endpoint URL: a VAPID token's audience.
std::string origin(std::string_view url);

}  // namespace ssechat::webpush
