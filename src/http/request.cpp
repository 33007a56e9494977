// Request helpers: the parsing that the seed delegated to body-parser and qs.
#include "http/request.hpp"

#include <algorithm>
#include <boost/json.hpp>

#include "model/file.hpp"
#include "util/strict_json.hpp"
#include "util/text.hpp"

namespace ssechat::http_util {

Target split_target(std::string_view target) {
    auto q = target.find('?');
    if (q == std::string_view::npos) return {target, {}};
    return {target.substr(0, q), target.substr(q + 1)};
}

bool upload_target(std::string_view method, std::string_view target) {
    if (method != "POST") return false;
    std::string_view p = split_target(target).path;
    if (p.substr(0, 7) != "/rooms/") return false;
    p.remove_prefix(7);
    size_t slash = p.find('/');
    return slash != std::string_view::npos && slash > 0 && p.substr(slash) == "/files";
}

std::optional<Query> parse_query(std::string_view q) {
    Query out;
    while (!q.empty()) {
        auto amp = q.find('&');
        std::string_view pair = q.substr(0, amp);
        q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
        if (pair.empty()) continue;
        auto eq = pair.find('=');
        auto key = text::percent_decode(pair.substr(0, eq), true);
        auto value = text::percent_decode(
            eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
        if (!key || !value) return std::nullopt;
        out.emplace_back(std::move(*key), std::move(*value));
    }
    return out;
}

const std::string* find(const Query& q, std::string_view key) {
    for (const auto& [k, v] : q)
        if (k == key) return &v;
    return nullptr;
}

const std::string* repeated_key(const Query& q) {
    // Sorted pointers, not a pairwise scan: a 64 KiB form body may hold thousands of pairs.
    std::vector<const std::string*> keys;
    keys.reserve(q.size());
    for (const auto& kv : q) keys.push_back(&kv.first);
    std::sort(keys.begin(), keys.end(), [](auto* a, auto* b) { return *a < *b; });
    auto it =
        std::adjacent_find(keys.begin(), keys.end(), [](auto* a, auto* b) { return *a == *b; });
    return it == keys.end() ? nullptr : *it;
}

namespace {

MessageBody refuse(int status, std::string why) {
    return {status, std::move(why), {}, 0, {}};
}

// Media type without parameters, lower-cased.
std::string media_type(std::string_view ct) {
    std::string t(ct.substr(0, ct.find(';')));
    std::string out;
    for (char c : t)
        if (c != ' ' && c != '\t') out += static_cast<char>(std::tolower(c));
    return out;
}

}  // namespace

MessageBody decode_message(std::string_view content_type, std::string_view body, size_t max_bytes,
                           bool reply_to) {
    std::string type = media_type(content_type);
    std::string raw;
    uint64_t reply = 0;
    std::vector<std::string> files;
    const char* bad_reply = "reply_to must be a positive integer, the id of a message";
    if (type == "application/json") {
        boost::json::parse_options opt;
        opt.max_depth = 32;
        boost::json::error_code ec;
        boost::json::value v = boost::json::parse(body, ec, {}, opt);
        if (ec) return refuse(400, "body is not valid JSON");
        const auto* obj = v.if_object();
        if (!obj) return refuse(400, "body must be a JSON object");
        if (strict_json::duplicate_keys(body)) return refuse(400, "body has a duplicate key");
        const auto* m = obj->if_contains("message");
        if (!m) return refuse(400, "missing \"message\"");
        const auto* s = m->if_string();
        if (!s) return refuse(400, "\"message\" must be a string");
        raw.assign(s->data(), s->size());
        if (const auto* r = reply_to ? obj->if_contains("reply_to") : nullptr) {
            if (r->is_uint64())
                reply = r->as_uint64();
            else if (r->is_int64() && r->as_int64() > 0)
                reply = static_cast<uint64_t>(r->as_int64());
            if (reply == 0) return refuse(400, bad_reply);
        }
        if (const auto* f = reply_to ? obj->if_contains("files") : nullptr) {
            const char* bad = "files must be an array of up to 10 file ids, each once";
            const auto* list = f->if_array();
            if (!list || list->size() > model::kMaxFilesPerMessage) return refuse(400, bad);
            for (const auto& id : *list) {
                const auto* s = id.if_string();
                if (!s || s->empty() || s->size() > 64) return refuse(400, bad);
                std::string one(s->data(), s->size());
                if (std::find(files.begin(), files.end(), one) != files.end())
                    return refuse(400, bad);
                files.push_back(std::move(one));
            }
        }
    } else if (type == "application/x-www-form-urlencoded") {
        auto q = parse_query(body);
        if (!q) return refuse(400, "malformed percent-encoding in body");
        const std::string* m = find(*q, "message");
        if (!m) return refuse(400, "missing \"message\"");
        if (const std::string* k = repeated_key(*q))
            return refuse(400, "body has \"" + *k + "\" twice");
        raw = *m;
        if (const std::string* r = reply_to ? find(*q, "reply_to") : nullptr) {
            auto n = text::parse_u64(*r);
            if (!n || *n == 0) return refuse(400, bad_reply);
            reply = *n;
        }
    } else {
        return refuse(400,
                      "Content-Type must be application/json or "
                      "application/x-www-form-urlencoded");
    }
    if (!text::valid_utf8(raw)) return refuse(400, "message is not valid UTF-8");
    if (raw.find('\0') != std::string::npos) return refuse(400, "message contains a NUL byte");
    std::string_view t = text::trim(raw);
    if (t.empty() && files.empty()) return refuse(400, "message is empty");
    if (t.size() > max_bytes)
        return refuse(413, "message is longer than " + std::to_string(max_bytes) + " bytes");
    return {200, {}, std::string(t), reply, std::move(files)};
}

}  // namespace ssechat::http_util
