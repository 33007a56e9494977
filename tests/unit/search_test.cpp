// What a search query means (model/search): tokens, the parse, the FTS5 expression that never
// carries the user's syntax, matching and snippets.
#include "model/search.hpp"

#include <gtest/gtest.h>

using namespace ssechat::model;
using V = std::vector<std::string>;

TEST(SearchQuery, TokensFoldCaseInTheScriptsTheIndexFolds) {
    EXPECT_EQ(search_tokens("Hello, WORLD! foo-bar_baz 42"),
              (V{"hello", "world", "foo", "bar", "baz", "42"}));
    EXPECT_EQ(search_tokens("ПРИВЕТ Мир Ёлка ÉTÉ"), (V{"привет", "мир", "ёлка", "été"}));
    EXPECT_EQ(search_tokens("wait… 👍done — ok"), (V{"wait", "done", "ok"}));
    EXPECT_EQ(search_tokens("\xff\xfe bad"), (V{"bad"})) << "a bad byte separates";
}

TEST(SearchQuery, ParseFindsWordsPhrasesAuthorAndRoom) {
    std::string why;
    auto q = parse_search(R"(  quick "Brown  fox" from:@alice in:town foo-bar )", why);
    ASSERT_TRUE(q) << why;
    EXPECT_EQ(q->phrases, (std::vector<V>{{"quick"}, {"brown", "fox"}, {"foo", "bar"}}));
    EXPECT_EQ(q->from, "alice");
    EXPECT_EQ(q->in, "town");
    EXPECT_EQ(fts_match(*q), R"("quick" AND "brown fox" AND "foo bar")");
}

TEST(SearchQuery, SyntaxOfTheIndexIsOnlyText) {
    std::string why;
    for (const char* text : {"\"", "*", "NEAR(", "a\" OR \"b", "^x", "col:x", "(", "\"\"\""}) {
        auto q = parse_search(text, why);
        ASSERT_TRUE(q) << text;
        std::string m = fts_match(*q);
        // Only quoted tokens joined by AND: no operator, column filter or prefix survives.
        for (const auto& p : q->phrases)
            for (const auto& t : p)
                for (char c : t)
                    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || (c & 0x80)) << text;
        EXPECT_EQ(m.find('*'), std::string::npos) << text;
        EXPECT_EQ(m.find(':'), std::string::npos) << text;
        EXPECT_EQ(m.find('('), std::string::npos) << text;
    }
    auto q = parse_search("*", why);
    EXPECT_TRUE(q->empty());
    EXPECT_FALSE(parse_search("from:", why));
    EXPECT_FALSE(parse_search("in:a in:b", why));
}

TEST(SearchQuery, MatchesAndSnippets) {
    std::string why;
    auto q = *parse_search("brown \"lazy dog\"", why);
    EXPECT_TRUE(search_matches("The BROWN fox jumps over the lazy dog", q));
    EXPECT_FALSE(search_matches("The brown fox jumps over the dog, lazy", q));
    EXPECT_EQ(search_snippet("a Brown, lazy dog!", q),
              "a \x02"
              "Brown\x03, \x02lazy\x03 \x02"
              "dog\x03!");
    std::string long_text;
    for (int i = 0; i < 60; ++i) long_text += "w" + std::to_string(i) + " ";
    long_text += "brown end";
    auto s = search_snippet(long_text, q);
    EXPECT_EQ(s.rfind("\u2026", 0), 0u) << s;
    EXPECT_NE(s.find("\x02"
                     "brown\x03"),
              std::string::npos)
        << s;
    EXPECT_EQ(search_snippet("nothing here", q), "nothing here");
}

TEST(SearchQuery, AnswerShape) {
    std::vector<SearchHit> hits{{"town", 3, "alice", 1000,
                                 "a \x02"
                                 "b\x03",
                                 77}};
    EXPECT_EQ(
        search_json(hits, true),
        R"({"results":[{"room":"town","id":3,"user_id":"alice","ts":1000,"snippet":"a \u0002b\u0003"}],"next":"77"})");
    EXPECT_EQ(search_json({}, false), R"({"results":[],"next":null})");
}
