// Password hashes (Argon2id). A hash takes tens of milliseconds and 19 MiB by design, which
// no event loop may spend: they run on a work::Pool of their own (http/sign_ins).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ssechat::password {

// OWASP's minimum for Argon2id: 19 MiB, 2 passes, one lane. Written into every hash, so
// raising them later still verifies the old ones.
inline constexpr uint32_t kMemoryKiB = 19 * 1024;
inline constexpr uint32_t kPasses = 2;
inline constexpr uint32_t kLanes = 1;

// An encoded Argon2id hash ("$argon2id$v=19$m=19456,t=2,p=1$salt$hash") with a fresh
// 128-bit salt. Throws std::runtime_error when Argon2 fails (out of memory).
std::string hash(std::string_view password);
// Whether `password` matches `encoded`; false for a malformed hash too.
bool verify(const std::string& encoded, std::string_view password);

}  // namespace ssechat::password
