// Fuzz target: raw HTTP/2 frames into the h2c path of the real HTTP stack. The input follows
// the client preface on a fresh connection. Whatever the frames, the server writes only whole
// frames, starts with its SETTINGS, and ends the connection (GOAWAY or not) once the input
// ends, instead of hanging or crashing.
#include <cstdlib>
#include <string>

#include "http/h2.hpp"
#include "world.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    bool eof = false;
    std::string out = exchange(ssechat::http::kH2Preface, data, size, eof);
    if (!eof) abort();  // the server neither closed nor finished
    if (out.empty()) return 0;
    if (out.size() < 9 || out[3] != 4) abort();  // a SETTINGS frame first
    size_t p = 0;
    while (p < out.size()) {
        if (out.size() - p < 9) abort();  // a cut frame header
        size_t len = (static_cast<uint8_t>(out[p]) << 16) | (static_cast<uint8_t>(out[p + 1]) << 8) |
                     static_cast<uint8_t>(out[p + 2]);
        p += 9 + len;
    }
    if (p != out.size()) abort();  // a cut frame
    return 0;
}
