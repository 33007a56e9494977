// What every store shares: the epoch that names a store's data.
#include "store/store.hpp"

#include <openssl/rand.h>

namespace ssechat::store {

std::string make_epoch() {
    unsigned char b[4];
    if (RAND_bytes(b, sizeof b) != 1) throw StoreError("no random bytes for a store epoch");
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned char c : b) {
        out += hex[c >> 4];
        out += hex[c & 15];
    }
    return out;
}

}  // namespace ssechat::store
