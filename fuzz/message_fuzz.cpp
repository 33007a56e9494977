// Fuzz target: message body decoding never crashes, and what it accepts is a trimmed,
// non-empty, valid UTF-8 message within the limit.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "http/request.hpp"
#include "util/text.hpp"

using namespace ssechat;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view body(reinterpret_cast<const char*>(data), size);
    for (const char* type :
         {"application/json", "application/x-www-form-urlencoded; charset=utf-8"}) {
        // The native API also reads "reply_to": accepted only as a positive id.
        auto with_reply = http_util::decode_message(type, body, 64, true);
        if (with_reply.status == 200 && with_reply.message.empty()) abort();
        auto r = http_util::decode_message(type, body, 64);
        if (r.reply_to != 0) abort();  // not asked for
        if (with_reply.status == 200 && r.status != 200) abort();
        if (r.status == 200) {
            if (r.message.empty() || r.message.size() > 64) abort();
            if (!text::valid_utf8(r.message)) abort();
            if (text::trim(r.message) != r.message) abort();
            if (r.message.find('\0') != std::string::npos) abort();
        } else if (r.status != 400 && r.status != 413) {
            abort();
        } else if (r.error.empty()) {
            abort();
        }
    }
    auto q = http_util::parse_query(body);
    if (q)
        for (const auto& [k, v] : *q) (void)k, (void)v;
    return 0;
}
