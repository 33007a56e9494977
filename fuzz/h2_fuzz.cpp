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
    check_h2(out);
    return 0;
}
