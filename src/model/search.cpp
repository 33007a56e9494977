#include "model/search.hpp"

#include <algorithm>
#include <boost/json.hpp>

namespace ssechat::model {

namespace {

// One token of a text: its folded form and the bytes it came from.
struct Token {
    std::string folded;
    size_t begin = 0;
    size_t end = 0;
};

// The code point at `i` and its length; length 1 and U+FFFD for a byte that starts no valid
// sequence (stored text is valid UTF-8; this only keeps a bad byte from reading past the end).
std::pair<char32_t, size_t> decode(std::string_view s, size_t i) {
    auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) return {b, 1};
    size_t n = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 0;
    if (n == 0 || i + n > s.size()) return {0xFFFD, 1};
    char32_t cp = b & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) {
        auto c = static_cast<unsigned char>(s[i + k]);
        if ((c & 0xC0) != 0x80) return {0xFFFD, 1};
        cp = (cp << 6) | (c & 0x3F);
    }
    return {cp, n};
}

void encode(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// Letters and digits are token characters; ASCII punctuation, Latin-1's symbols, general
// punctuation, arrows and technical symbols, CJK punctuation, variation selectors, emoji and
// the replacement character separate tokens.
bool token_char(char32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (c < 0xC0) return c == 0xAA || c == 0xB5 || c == 0xBA;
    if (c == 0xD7 || c == 0xF7) return false;
    if (c >= 0x2000 && c <= 0x2BFF) return false;
    if (c >= 0x2E00 && c <= 0x2E7F) return false;
    if (c >= 0x3000 && c <= 0x303F) return false;
    if (c >= 0xFE00 && c <= 0xFE0F) return false;
    if (c >= 0xFF00 && c <= 0xFF0F) return false;
    if (c == 0xFFFD) return false;
    if (c >= 0x1F000 && c <= 0x1FAFF) return false;
    return true;
}

char32_t fold(char32_t c) {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;
    if (c >= 0x391 && c <= 0x3A9) return c + 0x20;
    if (c >= 0x410 && c <= 0x42F) return c + 0x20;
    if (c >= 0x400 && c <= 0x40F) return c + 0x50;
    return c;
}

std::vector<Token> tokenize(std::string_view text) {
    std::vector<Token> out;
    Token cur;
    bool in = false;
    for (size_t i = 0; i < text.size();) {
        auto [cp, n] = decode(text, i);
        if (token_char(cp)) {
            if (!in) {
                cur = Token{{}, i, i};
                in = true;
            }
            encode(cur.folded, fold(cp));
            cur.end = i + n;
        } else if (in) {
            out.push_back(std::move(cur));
            in = false;
        }
        i += n;
    }
    if (in) out.push_back(std::move(cur));
    return out;
}

// Index of every token that is part of an occurrence of one of `q`'s phrases.
std::vector<bool> matched(const std::vector<Token>& toks, const SearchQuery& q) {
    std::vector<bool> mark(toks.size(), false);
    for (const auto& phrase : q.phrases) {
        if (phrase.empty() || phrase.size() > toks.size()) continue;
        for (size_t i = 0; i + phrase.size() <= toks.size(); ++i) {
            size_t k = 0;
            while (k < phrase.size() && toks[i + k].folded == phrase[k]) ++k;
            if (k == phrase.size())
                for (k = 0; k < phrase.size(); ++k) mark[i + k] = true;
        }
    }
    return mark;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
    return true;
}

}  // namespace

std::vector<std::string> search_tokens(std::string_view text) {
    std::vector<std::string> out;
    for (auto& t : tokenize(text)) out.push_back(std::move(t.folded));
    return out;
}

std::optional<SearchQuery> parse_search(std::string_view q, std::string& why) {
    SearchQuery out;
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    for (size_t i = 0; i < q.size();) {
        if (space(q[i])) {
            ++i;
            continue;
        }
        std::string_view part;
        if (q[i] == '"') {
            size_t close = q.find('"', i + 1);
            size_t end = close == std::string_view::npos ? q.size() : close;
            part = q.substr(i + 1, end - i - 1);
            i = close == std::string_view::npos ? q.size() : close + 1;
        } else {
            size_t end = i;
            while (end < q.size() && !space(q[end])) ++end;
            std::string_view word = q.substr(i, end - i);
            i = end;
            for (auto [prefix, field] : {std::pair{std::string_view("from:"), &out.from},
                                         std::pair{std::string_view("in:"), &out.in}}) {
                if (!starts_with_ci(word, prefix)) continue;
                std::string_view value = word.substr(prefix.size());
                if (field == &out.from && !value.empty() && value.front() == '@')
                    value.remove_prefix(1);
                if (value.empty()) {
                    why = std::string(prefix) + " needs a value, as in " +
                          (field == &out.from ? "from:alice" : "in:general");
                    return std::nullopt;
                }
                if (!field->empty()) {
                    why = std::string(prefix) + " may be given once";
                    return std::nullopt;
                }
                *field = std::string(value);
                word = {};
                break;
            }
            part = word;
        }
        auto toks = search_tokens(part);
        if (!toks.empty()) out.phrases.push_back(std::move(toks));
    }
    return out;
}

std::string fts_match(const SearchQuery& q) {
    std::string out;
    for (const auto& phrase : q.phrases) {
        if (!out.empty()) out += " AND ";
        out += '"';
        for (size_t i = 0; i < phrase.size(); ++i) {
            if (i) out += ' ';
            // Tokens hold no quote; doubling one keeps the string closed if that ever changes.
            for (char c : phrase[i]) {
                if (c == '"') out += '"';
                out += c;
            }
        }
        out += '"';
    }
    return out;
}

bool search_matches(std::string_view text, const SearchQuery& q) {
    if (q.phrases.empty()) return true;
    auto toks = tokenize(text);
    for (const auto& phrase : q.phrases) {
        bool found = false;
        for (size_t i = 0; !found && i + phrase.size() <= toks.size(); ++i) {
            size_t k = 0;
            while (k < phrase.size() && toks[i + k].folded == phrase[k]) ++k;
            found = k == phrase.size();
        }
        if (!found) return false;
    }
    return true;
}

std::string search_snippet(std::string_view text, const SearchQuery& q) {
    auto toks = tokenize(text);
    auto mark = matched(toks, q);
    size_t first = 0;
    while (first < mark.size() && !mark[first]) ++first;
    if (first == mark.size()) first = 0;
    size_t n = toks.size(), want = static_cast<size_t>(kSnippetTokens);
    size_t start = 0, end = n;
    if (n > want) {
        start = first > 4 ? first - 4 : 0;
        start = std::min(start, n - want);
        end = start + want;
    }
    size_t from = start == 0 ? 0 : toks[start].begin;
    size_t to = end == n ? text.size() : toks[end - 1].end;
    std::string out;
    if (start > 0) out += "\u2026";
    size_t at = from;
    for (size_t i = start; i < end; ++i) {
        if (!mark[i]) continue;
        out.append(text.substr(at, toks[i].begin - at));
        out += kMarkOpen;
        out.append(text.substr(toks[i].begin, toks[i].end - toks[i].begin));
        out += kMarkClose;
        at = toks[i].end;
    }
    out.append(text.substr(at, to - at));
    if (end < n) out += "\u2026";
    return out;
}

std::string search_json(const std::vector<SearchHit>& hits, bool more) {
    boost::json::array results;
    for (const auto& h : hits) {
        boost::json::object o;
        o["room"] = h.room;
        o["id"] = h.id;
        o["user_id"] = h.user_id;
        o["ts"] = h.ts;
        o["snippet"] = h.snippet;
        results.push_back(std::move(o));
    }
    boost::json::object out;
    out["results"] = std::move(results);
    if (more && !hits.empty())
        out["next"] = std::to_string(hits.back().at);
    else
        out["next"] = nullptr;
    return boost::json::serialize(out);
}

}  // namespace ssechat::model
