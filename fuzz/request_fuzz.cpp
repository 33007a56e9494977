// Fuzz target: raw bytes sent to the real HTTP stack (listener, session, API, hub with the
// memory store) over a loopback connection. Whatever arrives, every response is well-formed
// HTTP, nothing answers 5xx, and the server keeps serving. (An input that starts with the
// HTTP/2 preface is HTTP/2's: fuzz_h2 checks that path.)
#include <cstdlib>
#include <string>

#include "http/h2.hpp"

#include "world.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    bool eof = false;
    std::string out = exchange("", data, size, eof);
    if (!eof) abort();  // the server neither answered in full nor closed
    if (std::string_view(reinterpret_cast<const char*>(data), size).starts_with(ssechat::http::kH2Preface))
        return 0;
    // Every response starts a status line; no input may produce a server error. 503 (a limit)
    // and 501 (a transfer coding this server does not implement, as RFC 9112 asks) are
    // answers to the input, not failures.
    for (size_t p = out.find("HTTP/1.1 "); p != std::string::npos;
         p = out.find("HTTP/1.1 ", p + 1)) {
        if (p + 12 > out.size()) abort();
        if (out[p + 9] == '5' && out.compare(p + 9, 3, "503") != 0 &&
            out.compare(p + 9, 3, "501") != 0)
            abort();
    }
    if (!out.empty() && out.rfind("HTTP/1.", 0) != 0) abort();
    return 0;
}
