// Request helpers: query strings, bodies, trimming, UTF-8 and room names.
#include "http/request.hpp"

#include <gtest/gtest.h>

#include "util/text.hpp"

using namespace ssechat;
using namespace ssechat::http_util;

TEST(Query, DecodesPercentAndPlus) {
    auto q = parse_query("id=a%20b+c&x=&flag&id=second");
    ASSERT_TRUE(q);
    EXPECT_EQ(*find(*q, "id"), "a b c");  // first value wins
    EXPECT_EQ(*find(*q, "x"), "");
    EXPECT_EQ(*find(*q, "flag"), "");
    EXPECT_EQ(find(*q, "missing"), nullptr);
}

TEST(Query, RefusesBrokenEscapes) {
    EXPECT_FALSE(parse_query("id=%"));
    EXPECT_FALSE(parse_query("id=%4"));
    EXPECT_FALSE(parse_query("id=%zz"));
    EXPECT_TRUE(parse_query("id=%41"));
}

TEST(Target, Splits) {
    auto t = split_target("/messages?id=1");
    EXPECT_EQ(t.path, "/messages");
    EXPECT_EQ(t.query, "id=1");
    EXPECT_EQ(split_target("/x").query, "");
}

TEST(Body, JsonAndForm) {
    auto j = decode_message("application/json", R"({ "message": "  Hi  " })", 100);
    EXPECT_EQ(j.status, 200);
    EXPECT_EQ(j.message, "Hi");
    auto f = decode_message("application/x-www-form-urlencoded; charset=utf-8",
                            "message=hello+there%21", 100);
    EXPECT_EQ(f.status, 200);
    EXPECT_EQ(f.message, "hello there!");
    auto c = decode_message("Application/JSON; charset=UTF-8", R"({"message":"x"})", 100);
    EXPECT_EQ(c.status, 200);
}

TEST(Body, EveryRefusal) {
    struct Case {
        const char* type;
        const char* body;
        int status;
    } cases[] = {
        {"application/json", "", 400},
        {"application/json", "{", 400},
        {"application/json", "[1]", 400},
        {"application/json", "\"message\"", 400},
        {"application/json", "{}", 400},
        {"application/json", R"({"message":5})", 400},
        {"application/json", R"({"message":null})", 400},
        {"application/json", R"({"message":["a"]})", 400},
        {"application/json", R"({"message":"   "})", 400},
        {"application/json", R"({"message":"\u0000"})", 400},
        {"application/x-www-form-urlencoded", "msg=x", 400},
        {"application/x-www-form-urlencoded", "message=%zz", 400},
        {"application/x-www-form-urlencoded", "message=%FF", 400},
        {"text/plain", "message=x", 400},
        {"", R"({"message":"x"})", 400},
        {"application/json", R"({"message":"12345678901"})", 413},
    };
    for (const auto& c : cases) {
        auto r = decode_message(c.type, c.body, 10);
        EXPECT_EQ(r.status, c.status) << c.type << " " << c.body;
        EXPECT_FALSE(r.error.empty());
    }
}

TEST(Body, DeepJsonIsRefusedNotCrashing) {
    std::string deep(100000, '[');
    EXPECT_EQ(decode_message("application/json", deep, 100).status, 400);
}

TEST(Text, TrimMatchesJavaScript) {
    EXPECT_EQ(text::trim(" \t\n\r\v\f x \n"), "x");
    EXPECT_EQ(text::trim("\xC2\xA0x\xE3\x80\x80"), "x");      // NBSP, ideographic space
    EXPECT_EQ(text::trim("\xEF\xBB\xBFx\xE2\x80\xA8"), "x");  // BOM, line separator
    EXPECT_EQ(text::trim("a b"), "a b");
    EXPECT_EQ(text::trim("😀"), "😀");
    EXPECT_EQ(text::trim(""), "");
}

TEST(Text, Utf8) {
    EXPECT_TRUE(text::valid_utf8("héllo 😀"));
    EXPECT_FALSE(text::valid_utf8("\xFF"));
    EXPECT_FALSE(text::valid_utf8("\xC0\xAF"));          // overlong '/'
    EXPECT_FALSE(text::valid_utf8("\xED\xA0\x80"));      // surrogate
    EXPECT_FALSE(text::valid_utf8("\xF4\x90\x80\x80"));  // past U+10FFFF
    EXPECT_FALSE(text::valid_utf8("\xE2\x82"));          // truncated
}

TEST(Text, RoomNames) {
    EXPECT_TRUE(text::valid_room("general"));
    EXPECT_TRUE(text::valid_room("a.b-c_D9"));
    EXPECT_TRUE(text::valid_room(std::string(64, 'a')));
    EXPECT_FALSE(text::valid_room(std::string(65, 'a')));
    for (const char* bad : {"", ".", "..", "a/b", "a%2Fb", "a b", "é"})
        EXPECT_FALSE(text::valid_room(bad)) << bad;
}

TEST(Text, ParseU64) {
    EXPECT_EQ(text::parse_u64("0").value(), 0u);
    EXPECT_EQ(text::parse_u64("18446744073709551615").value(), UINT64_MAX);
    for (const char* bad : {"", "-1", "+1", " 1", "1 ", "18446744073709551616", "abc", "1e3"})
        EXPECT_FALSE(text::parse_u64(bad)) << bad;
}
