// JSON encoding of messages through Boost.JSON, which escapes every control character, so a
// message is always a single SSE data line.
#include "model/message.hpp"

#include <openssl/evp.h>

#include <boost/json.hpp>

#include "sse/event.hpp"

namespace ssechat::model {

std::string native_json(const Message& m) {
    boost::json::object o;
    o["id"] = m.id;
    o["room"] = m.room;
    o["user_id"] = m.user_id;
    o["message"] = m.text;
    o["ts"] = m.ts;
    return boost::json::serialize(o);
}

std::string legacy_json(const Message& m) {
    boost::json::object o;
    o["user_id"] = m.user_id;
    o["message"] = m.text;
    return boost::json::serialize(o);
}

std::string text_hash(const std::string& text) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(text.data(), text.size(), md, &n, EVP_sha256(), nullptr);
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < n; ++i) {
        out += hex[md[i] >> 4];
        out += hex[md[i] & 15];
    }
    return out;
}

std::string native_event(const Message& m, const std::string& json) {
    return sse::encode("message", std::to_string(m.id), json);
}

}  // namespace ssechat::model
