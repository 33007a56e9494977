// User ids: which characters may name a user.
#include "util/text.hpp"

#include <gtest/gtest.h>

using ssechat::text::bad_user_id;

TEST(Text, UserIdsRefuseControlsAndBidiOverrides) {
    for (std::string ok : {"alice", "Zoë", "田中", "a b", "emoji-😀", "\u00a0nbsp", "\u200d",
                           "\u2029x", "\u2065", "\u206a", "\u202f", "\u2029"})
        EXPECT_EQ(bad_user_id(ok, 128), "") << ok;
    struct Case {
        std::string id;
        const char* why;
    } bad[] = {
        {"a\nb", "control"},
        {"a\x7f", "control"},
        {"a\u0085b", "control"},
        {"\u0080", "control"},
        {"\u009f", "control"},
        {"evil\u202e", "bidirectional"},
        {"\u202aa", "bidirectional"},
        {"\u202b", "bidirectional"},
        {"\u202c", "bidirectional"},
        {"\u202d", "bidirectional"},
        {"\u2066", "bidirectional"},
        {"\u2067", "bidirectional"},
        {"\u2068", "bidirectional"},
        {"x\u2069", "bidirectional"},
        {"\xff", "UTF-8"},
        {std::string(129, 'a'), "longer"},
    };
    for (const auto& c : bad) {
        auto why = bad_user_id(c.id, 128);
        EXPECT_NE(why.find(c.why), std::string::npos) << c.id << ": " << why;
    }
}

TEST(Text, AReactionIsOneEmojiAsTypedOrAShortName) {
    for (const char* ok :
         {"👍", "❤️", "👍🏽", "👨‍👩‍👧", "🏳️‍🌈", "🇫🇷", "1️⃣", "#⃣",
          "©️", "☕", "🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F",
          "👩🏽‍💻", ":+1:", ":party_parrot:", ":ok:", ":a-b:"})
        EXPECT_TRUE(ssechat::text::valid_reaction(ok)) << ok;
    std::string long_name(33, 'a');  // ":aaa…a:", 31 letters
    long_name.front() = long_name.back() = ':';
    for (const std::string& bad :
         {std::string(), std::string("ok"), std::string("a"), std::string("👍👍"), std::string("👍 "),
          std::string("🇫"), std::string("1"), std::string("‍👍"), std::string("👍‍"),
          std::string("::"), std::string(":Big:"), std::string(":a b:"), long_name,
          std::string("\xf0\x9f\x91"), std::string("\xff"), std::string("\u202e👍"),
          std::string("🏴\U000E0067"),
          std::string("👨‍👩‍👧‍👦‍👨‍👩‍👧")})
        EXPECT_FALSE(ssechat::text::valid_reaction(bad)) << bad;
}

TEST(Text, Durations) {
    using ssechat::text::parse_duration;
    EXPECT_EQ(parse_duration("90", 100), 90u);
    EXPECT_EQ(parse_duration("7d", 100), 7u * 86400);
    EXPECT_EQ(parse_duration("2h", 100), 7200u);
    EXPECT_EQ(parse_duration("3m", 100), 180u);
    EXPECT_EQ(parse_duration("5s", 100), 5u);
    for (const char* bad : {"", "0", "0d", "d", "101", "1x", "-1", "1.5h", " 1"})
        EXPECT_FALSE(parse_duration(bad, 100)) << bad;
}
