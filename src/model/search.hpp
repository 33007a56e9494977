// Message search: what a query means, written once. The SQLite store turns a parsed query
// into an FTS5 MATCH of quoted tokens (never the user's text as FTS5 syntax); the memory
// store scans with the same tokens. Both answer newest first by the event's position.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ssechat::model {

// A parsed query: every phrase must match (a bare word is a phrase of one token); `from` and
// `in` narrow by author and by room.
struct SearchQuery {
    std::vector<std::vector<std::string>> phrases;  // each one's tokens, folded
    std::string from;                               // from:alice
    std::string in;                                 // in:room
    bool empty() const { return phrases.empty() && from.empty() && in.empty(); }
};

// Splits `q` into words, "quoted phrases", from:USER and in:ROOM. Text that holds no token
// (a lone quote, "*", "NEAR(") adds nothing, so it is an ordinary search and never an error.
// nullopt, with `why`, for a from: or in: without a value or given twice.
std::optional<SearchQuery> parse_search(std::string_view q, std::string& why);

// The tokens of `text` as the index sees them: runs of letters and digits, ASCII, Latin-1,
// Greek and Cyrillic folded to lower case; punctuation, symbols and emoji separate. SQLite's
// unicode61 tokenizer also folds diacritics and more scripts, so the memory store can miss a
// match the SQLite index makes there ("wörld" for "world").
std::vector<std::string> search_tokens(std::string_view text);

// The FTS5 MATCH expression: each phrase as a quoted string, joined by AND. Empty when the
// query has no phrase.
std::string fts_match(const SearchQuery& q);

// Whether `text` holds every phrase of `q` (tokens in a row, case folded).
bool search_matches(std::string_view text, const SearchQuery& q);

// Marks of a match in a snippet: STX before a matched token, ETX after it.
inline constexpr char kMarkOpen = '\x02';
inline constexpr char kMarkClose = '\x03';
// `text` with the tokens of `q`'s phrases marked, cut to about kSnippetTokens tokens around
// the first match (an ellipsis where it was cut).
std::string search_snippet(std::string_view text, const SearchQuery& q);
inline constexpr int kSnippetTokens = 24;

// One search result.
struct SearchHit {
    std::string room;
    uint64_t id = 0;
    std::string user_id;
    int64_t ts = 0;
    std::string snippet;
    int64_t at = 0;  // where it is in the order of results: the cursor of the next page
};

// {"results":[{"room","id","user_id","ts","snippet"}],"next":"<at>"|null}
std::string search_json(const std::vector<SearchHit>& hits, bool more);

}  // namespace ssechat::model
