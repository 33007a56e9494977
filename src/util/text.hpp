// Text helpers shared by the HTTP and chat layers: UTF-8 checks, trimming, percent-decoding.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace ssechat::text {

bool valid_utf8(std::string_view s);

// Trims what JavaScript's String.prototype.trim() trims: ASCII and Unicode white space and
// line terminators. The seed trims with it, so the same input must store the same text.
std::string_view trim(std::string_view s);

// The value of one hexadecimal digit, or -1.
int hex_digit(char c);

// Decodes %XX and, for form and query data, '+' as space. nullopt on a malformed escape.
std::optional<std::string> percent_decode(std::string_view s, bool plus_as_space);
// Percent-encodes every byte but ASCII letters, digits and the characters of `keep` (RFC
// 3986's unreserved ones, "-._~", for a query value).
std::string percent_encode(std::string_view s, std::string_view keep = "-._~");

// 1 to 64 of [A-Za-z0-9_.-], and not "." or "..", so a name is safe in paths, keys and URLs.
bool valid_room(std::string_view s);

// Why a user id (or a token's sub) cannot be used, or empty when it can: at most max_bytes of
// valid UTF-8 with no C0 or C1 control character, DEL, or bidi override or isolate
// (U+202A..U+202E, U+2066..U+2069), which could make one name display as another.
std::string bad_user_id(std::string_view id, size_t max_bytes);

// Whether `s` is a reaction a person can type: one emoji as a keyboard or picker makes it (a
// pictograph with its variation selector, skin tone and tags, a keycap, a flag, or such
// pieces joined by ZWJ), or a short name `:name:` of 1 to 30 of [a-z0-9_+-]. At most 32
// bytes either way.
bool valid_reaction(std::string_view s);

// Base64 with padding (RFC 4648 4), as Standard Webhooks' secrets and signatures use it, and
// its inverse (nullopt for anything else).
std::string base64(std::string_view bytes);
std::optional<std::string> unbase64(std::string_view text);
// Base64url without padding (RFC 4648 5), as JWTs and room ids use it.
std::string base64url(std::string_view bytes);
// Its inverse: nullopt for any other alphabet, padding, or unused bits that are not zero (so
// that one text decodes from one encoding only).
std::optional<std::string> unbase64url(std::string_view text);

// Strict decimal uint64 (no sign, no spaces, no overflow).
std::optional<uint64_t> parse_u64(std::string_view s);

// A duration in seconds: a number from 1 to `max_number` with s, m, h or d after it (seconds
// without); nullopt otherwise. The bound is on the number, before the unit: no overflow.
std::optional<uint64_t> parse_duration(std::string_view s, uint64_t max_number);

}  // namespace ssechat::text
