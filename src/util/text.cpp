// Implementation of the text helpers; all pure functions, covered by unit tests and fuzzing.
#include "util/text.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <cstdint>

namespace ssechat::text {

bool valid_utf8(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        unsigned c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        int len;
        uint32_t cp;
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (end - p < len) return false;
        for (int i = 1; i < len; ++i) {
            if ((p[i] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
        static constexpr uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_for_len[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        p += len;
    }
    return true;
}

namespace {
// Length of a white space code point at the start of s, or 0.
size_t space_len(std::string_view s) {
    if (s.empty()) return 0;
    unsigned char c = s[0];
    if (c == ' ' || (c >= '\t' && c <= '\r')) return 1;
    auto is = [&](std::string_view seq) { return s.substr(0, seq.size()) == seq; };
    if (is("\xC2\xA0")) return 2;      // U+00A0
    if (is("\xE1\x9A\x80")) return 3;  // U+1680
    if (s.size() >= 3 && c == 0xE2 && (unsigned char)s[1] == 0x80) {
        unsigned char d = s[2];
        if ((d >= 0x80 && d <= 0x8A) || d == 0xA8 || d == 0xA9 || d == 0xAF) return 3;
    }
    if (is("\xE2\x81\x9F")) return 3;  // U+205F
    if (is("\xE3\x80\x80")) return 3;  // U+3000
    if (is("\xEF\xBB\xBF")) return 3;  // U+FEFF
    return 0;
}
// Length of a white space code point ending s, or 0.
size_t space_len_back(std::string_view s) {
    for (size_t n : {size_t{1}, size_t{2}, size_t{3}}) {
        if (s.size() < n) break;
        if (space_len(s.substr(s.size() - n)) == n) return n;
    }
    return 0;
}
}  // namespace

std::string_view trim(std::string_view s) {
    while (size_t n = space_len(s)) s.remove_prefix(n);
    while (size_t n = space_len_back(s)) s.remove_suffix(n);
    return s;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string percent_encode(std::string_view s, std::string_view keep) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || keep.find(static_cast<char>(c)) != std::string_view::npos) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::optional<std::string> percent_decode(std::string_view s, bool plus_as_space) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= s.size()) return std::nullopt;
            int hi = hex_digit(s[i + 1]), lo = hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (c == '+' && plus_as_space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return out;
}

bool valid_room(std::string_view s) {
    if (s.empty() || s.size() > 64 || s == "." || s == "..") return false;
    for (char c : s) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        if (!ok) return false;
    }
    return true;
}

std::string bad_user_id(std::string_view id, size_t max_bytes) {
    if (id.size() > max_bytes)
        return "user id is longer than " + std::to_string(max_bytes) + " bytes";
    if (!valid_utf8(id)) return "user id is not valid UTF-8";
    for (size_t i = 0; i < id.size(); ++i) {
        auto c = static_cast<unsigned char>(id[i]);
        if (c < 0x20 || c == 0x7F) return "user id contains a control character";
        // Valid UTF-8 is known here, so a lead byte tells the length. C1 controls are
        // C2 80..C2 9F; the bidi controls are E2 80 AA..AE and E2 81 A6..A9.
        if (c == 0xC2 && static_cast<unsigned char>(id[i + 1]) <= 0x9F)
            return "user id contains a control character";
        if (c == 0xE2) {
            auto c1 = static_cast<unsigned char>(id[i + 1]);
            auto c2 = static_cast<unsigned char>(id[i + 2]);
            if ((c1 == 0x80 && c2 >= 0xAA && c2 <= 0xAE) ||
                (c1 == 0x81 && c2 >= 0xA6 && c2 <= 0xA9))
                return "user id contains a bidirectional text control";
        }
    }
    return {};
}

std::optional<uint64_t> parse_duration(std::string_view s, uint64_t max_number) {
    uint64_t unit = 1;
    char last = s.empty() ? '\0' : s.back();
    if (last == 's' || last == 'm' || last == 'h' || last == 'd') {
        unit = last == 'm' ? 60 : last == 'h' ? 3600 : last == 'd' ? 86400 : 1;
        s.remove_suffix(1);
    }
    auto n = parse_u64(s);
    if (!n || *n == 0 || *n > max_number) return std::nullopt;
    return *n * unit;
}

std::optional<uint64_t> parse_u64(std::string_view s) {
    uint64_t v;
    if (s.empty()) return std::nullopt;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return v;
}

namespace {

// The next code point of valid UTF-8 at s[i], advancing i; 0 past the end or on a bad byte.
char32_t next_code_point(std::string_view s, size_t& i) {
    if (i >= s.size()) return 0;
    auto b = static_cast<unsigned char>(s[i]);
    int len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (!len || i + static_cast<size_t>(len) > s.size()) return 0;
    char32_t cp = len == 1 ? b : b & (0x7F >> len);
    for (int k = 1; k < len; ++k) {
        auto c = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
        if ((c & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (c & 0x3F);
    }
    i += static_cast<size_t>(len);
    return cp;
}

bool regional_indicator(char32_t c) {
    return c >= 0x1F1E6 && c <= 0x1F1FF;
}
bool skin_tone(char32_t c) {
    return c >= 0x1F3FB && c <= 0x1F3FF;
}
bool emoji_tag(char32_t c) {
    return c >= 0xE0020 && c <= 0xE007F;
}

// Unicode's Extended_Pictographic, in the blocks emoji are drawn from (ranges kept coarse
// where a block is all symbols), less the pieces that only modify or pair.
bool pictograph(char32_t c) {
    static constexpr std::pair<char32_t, char32_t> ranges[] = {
        {0x00A9, 0x00A9},   {0x00AE, 0x00AE},   {0x203C, 0x203C},   {0x2049, 0x2049},
        {0x2122, 0x2122},   {0x2139, 0x2139},   {0x2194, 0x2199},   {0x21A9, 0x21AA},
        {0x231A, 0x231B},   {0x2328, 0x2328},   {0x23CF, 0x23CF},   {0x23E9, 0x23F3},
        {0x23F8, 0x23FA},   {0x24C2, 0x24C2},   {0x25AA, 0x25AB},   {0x25B6, 0x25B6},
        {0x25C0, 0x25C0},   {0x25FB, 0x25FE},   {0x2600, 0x27BF},   {0x2934, 0x2935},
        {0x2B05, 0x2B07},   {0x2B1B, 0x2B1C},   {0x2B50, 0x2B50},   {0x2B55, 0x2B55},
        {0x3030, 0x3030},   {0x303D, 0x303D},   {0x3297, 0x3297},   {0x3299, 0x3299},
        {0x1F000, 0x1F0FF}, {0x1F10D, 0x1F1AD}, {0x1F201, 0x1F2FF}, {0x1F300, 0x1FAFF},
    };
    if (regional_indicator(c) || skin_tone(c)) return false;
    for (auto [lo, hi] : ranges)
        if (c >= lo && c <= hi) return true;
    return false;
}

}  // namespace

bool valid_reaction(std::string_view s) {
    if (s.empty() || s.size() > 32) return false;
    if (s.size() >= 3 && s.front() == ':' && s.back() == ':') {
        std::string_view name = s.substr(1, s.size() - 2);
        if (name.size() > 30) return false;
        return std::all_of(name.begin(), name.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '+' ||
                   c == '-';
        });
    }
    size_t i = 0;
    for (;;) {
        // One element: a flag (two regional indicators), a keycap, or a pictograph with an
        // optional presentation selector, skin tone and tag sequence.
        char32_t c = next_code_point(s, i);
        if (regional_indicator(c)) {
            if (!regional_indicator(next_code_point(s, i))) return false;
        } else if ((c >= '0' && c <= '9') || c == '#' || c == '*') {
            size_t j = i;
            char32_t n = next_code_point(s, j);
            if (n == 0xFE0F) {
                i = j;
                n = next_code_point(s, j);
            }
            if (n != 0x20E3) return false;
            i = j;
        } else if (pictograph(c)) {
            size_t j = i;
            char32_t n = next_code_point(s, j);
            if (n == 0xFE0F || n == 0xFE0E) {
                i = j;
                n = next_code_point(s, j);
            }
            if (skin_tone(n)) {
                i = j;
                n = next_code_point(s, j);
            }
            if (emoji_tag(n)) {  // a subdivision flag: tags, ended by CANCEL TAG
                char32_t last = 0;
                while (emoji_tag(n)) {
                    last = n;
                    i = j;
                    n = next_code_point(s, j);
                }
                if (last != 0xE007F) return false;
            }
        } else {
            return false;
        }
        if (i == s.size()) return true;
        size_t j = i;
        if (next_code_point(s, j) != 0x200D) return false;  // only ZWJ joins elements
        i = j;
        if (i == s.size()) return false;
    }
}

std::string base64(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(bytes.data()),
                            static_cast<int>(bytes.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

std::optional<std::string> unbase64(std::string_view text) {
    if (text.empty() || text.size() % 4) return std::nullopt;
    std::string out(text.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(text.data()),
                            static_cast<int>(text.size()));
    if (n < 0) return std::nullopt;
    size_t pad = text.back() == '=' ? (text[text.size() - 2] == '=' ? 2 : 1) : 0;
    out.resize(static_cast<size_t>(n) - pad);
    return out;
}

std::string base64url(std::string_view bytes) {
    std::string out = base64(bytes);
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (auto& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
    return out;
}

std::optional<std::string> unbase64url(std::string_view text) {
    std::string b64(text);
    for (auto& c : b64) {
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (c == '+' || c == '/' || c == '=')
            return std::nullopt;  // not the url alphabet
    }
    if (b64.size() % 4 == 1) return std::nullopt;
    size_t pad = (4 - b64.size() % 4) % 4;
    b64.append(pad, '=');
    std::string out(b64.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(b64.data()),
                            static_cast<int>(b64.size()));
    if (n < 0) return std::nullopt;
    out.resize(static_cast<size_t>(n) - pad);
    // Unused low bits must be zero: otherwise several texts decode to the same bytes, and a
    // signature (or token) could be varied without the change being seen.
    if (base64url(out) != text) return std::nullopt;
    return out;
}

}  // namespace ssechat::text
