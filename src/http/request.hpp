// Pure request helpers: splitting targets, query strings, and decoding a chat message body.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ssechat::http_util {

using Query = std::vector<std::pair<std::string, std::string>>;

struct Target {
    std::string_view path;   // raw, not percent-decoded: routes only match unreserved characters
    std::string_view query;  // without the '?'
};
Target split_target(std::string_view target);

// Whether a request is an upload (POST /rooms/{room}/files), whose body may be as large as
// --max-upload rather than --max-body: the framing layers ask before they read a body.
bool upload_target(std::string_view method, std::string_view target);

// nullopt when an escape is malformed, so the caller can answer 400 instead of guessing.
std::optional<Query> parse_query(std::string_view q);

// The first value for key, or nullptr.
const std::string* find(const Query& q, std::string_view key);

// A key given more than once, or nullptr. "id=a&id=b" is refused rather than guessed at:
// which value counts is exactly what a proxy and this server could disagree on.
const std::string* repeated_key(const Query& q);

// What a POST body carried in its "message" field.
struct MessageBody {
    int status = 200;                // 200, or the HTTP status to refuse with
    std::string error;               // why it was refused
    std::string message;             // trimmed text when status is 200
    uint64_t reply_to = 0;           // "reply_to", when asked for; 0 when absent
    std::vector<std::string> files;  // "files" (JSON, with reply_to): the ids, none repeated
};

// Accepts application/json {"message": "..."} and application/x-www-form-urlencoded message=...
// Refuses other types, invalid JSON, non-objects, a missing, non-string or blank message,
// invalid UTF-8, and text longer than max_bytes after trimming (413).
// With `reply_to`, an optional "reply_to" (a positive integer; reply_to=N in a form) is read
// too, and refused when it is anything else; and in JSON an optional "files", up to
// model::kMaxFilesPerMessage file ids, with which the text may be empty.
MessageBody decode_message(std::string_view content_type, std::string_view body, size_t max_bytes,
                           bool reply_to = false);

}  // namespace ssechat::http_util
