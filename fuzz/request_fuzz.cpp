// Fuzz target: raw bytes sent to the real HTTP stack (listener, session, API, hub with the
// memory store) over a loopback connection. Whatever arrives, every response is well-formed
// HTTP, nothing answers 5xx, and the server keeps serving. (An input that starts with the
// HTTP/2 preface is HTTP/2's: fuzz_h2 checks that path.)
#include <cstdlib>
#include <string>

#include "http/h2.hpp"
#include "world.hpp"

// A first request to an accounts route goes to the server with accounts on; the rest to the
// anonymous one, where every other route is reachable without signing in.
static bool for_accounts(std::string_view in) {
    auto sp = in.find(' ');
    if (sp == std::string_view::npos || sp > 8) return false;
    std::string_view target = in.substr(sp + 1, 16);
    return target.starts_with("/auth") || target.starts_with("/users") ||
           target.starts_with("/me/sessions") || target.starts_with("/me/password") ||
           in.find("ssechat_session=") != std::string_view::npos;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    bool eof = false;
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::string out = exchange("", data, size, eof, for_accounts(in));
    if (!eof) abort();  // the server neither answered in full nor closed
    if (std::string_view(reinterpret_cast<const char*>(data), size)
            .starts_with(ssechat::http::kH2Preface))
        return 0;
    check_http1(out);
    return 0;
}
