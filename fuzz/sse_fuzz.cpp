// Fuzz target: any event encoded by sse::encode parses back to the same event.
// Input: event name, id and data separated by the first two 0xFF bytes.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "sse/event.hpp"

using namespace ssechat::sse;

namespace {
std::string clean_field(std::string_view v) {
    std::string out;
    for (char c : v)
        if (c != '\r' && c != '\n' && c != '\0') out += c;
    return out;
}
std::string normalize_newlines(std::string_view v) {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '\r') {
            out += '\n';
            if (i + 1 < v.size() && v[i + 1] == '\n') ++i;
        } else {
            out += v[i];
        }
    }
    return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    auto a = in.find('\xFF');
    auto b = a == in.npos ? a : in.find('\xFF', a + 1);
    std::string_view event = a == in.npos ? "" : in.substr(0, a);
    std::string_view id = b == in.npos ? "" : in.substr(a + 1, b - a - 1);
    std::string_view payload = b == in.npos ? in : in.substr(b + 1);

    std::string wire = encode(event, id, payload);
    std::vector<Event> got;
    Parser p([&](const Event& e) { got.push_back(e); });
    // Feed in two pieces, split where the input says, to exercise incremental parsing.
    size_t cut = size ? data[0] % (wire.size() + 1) : 0;
    p.feed(std::string_view(wire).substr(0, cut));
    p.feed(std::string_view(wire).substr(cut));
    if (got.size() != 1) abort();
    const Event& e = got[0];
    std::string want_event = clean_field(event), want_id = clean_field(id);
    if (e.event != want_event) abort();
    if (e.id != want_id) abort();
    if (e.has_id != !want_id.empty()) abort();
    if (e.data != normalize_newlines(payload)) abort();
    return 0;
}
