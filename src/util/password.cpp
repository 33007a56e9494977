#include "util/password.hpp"

#include <argon2.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace ssechat::password {

std::string hash(std::string_view password) {
    unsigned char salt[16];
    if (RAND_bytes(salt, sizeof salt) != 1) throw std::runtime_error("no random bytes for a salt");
    constexpr size_t kHashLen = 32;
    size_t len = argon2_encodedlen(kPasses, kMemoryKiB, kLanes, sizeof salt, kHashLen, Argon2_id);
    std::string out(len, '\0');
    int rc = argon2id_hash_encoded(kPasses, kMemoryKiB, kLanes, password.data(), password.size(),
                                   salt, sizeof salt, kHashLen, out.data(), out.size());
    if (rc != ARGON2_OK)
        throw std::runtime_error(std::string("argon2: ") + argon2_error_message(rc));
    out.resize(out.find('\0'));
    return out;
}

bool verify(const std::string& encoded, std::string_view password) {
    if (encoded.rfind("$argon2id$", 0) != 0) return false;
    return argon2id_verify(encoded.c_str(), password.data(), password.size()) == ARGON2_OK;
}

}  // namespace ssechat::password
