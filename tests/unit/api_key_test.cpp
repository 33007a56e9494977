// Server API keys as rules: scopes parsed and named, what each reaches, the key's form.
#include "model/api_key.hpp"

#include <gtest/gtest.h>

using namespace ssechat::model;

TEST(ApiKey, ScopesParseFromAListAndRefuseTheUnknown) {
    std::string why;
    auto s = parse_scopes("publish, rooms,read", why);
    ASSERT_TRUE(s);
    EXPECT_EQ(*s, kScopePublish | kScopeRooms | kScopeRead);
    EXPECT_EQ(scope_names(*s), "publish,rooms,read");
    EXPECT_FALSE(parse_scopes("publish,fly", why));
    EXPECT_NE(why.find("fly"), std::string::npos);
    EXPECT_FALSE(parse_scopes("", why));
    EXPECT_FALSE(parse_scopes(",", why));
}

TEST(ApiKey, EachActNeedsItsScope) {
    EXPECT_EQ(scopes_for(Act::Read, true), kScopeRead);
    // A method that says Read but writes has no scope of its own: admin only.
    EXPECT_EQ(scopes_for(Act::Read, false), kScopeAdmin);
    for (Act a : {Act::Post, Act::Change, Act::Type, Act::Mark, Act::Join, Act::Leave})
        EXPECT_EQ(scopes_for(a, false), kScopePublish);
    for (Act a : {Act::Profile, Act::Visibility}) EXPECT_EQ(scopes_for(a, false), kScopeRooms);
    for (Act a : {Act::Invite, Act::Remove, Act::Restrict, Act::Moderate, Act::Grant})
        EXPECT_EQ(scopes_for(a, false), kScopeMembers);
}

TEST(ApiKey, ARoleThatReachesPrivateRoomsButNeverADirectMessage) {
    EXPECT_EQ(key_role(kScopeRead), Role::Member);
    EXPECT_EQ(key_role(kScopeMembers), Role::Moderator);
    EXPECT_EQ(key_role(kScopeRooms), Role::Owner);
    EXPECT_EQ(key_role(kScopeUsers), Role::None);
    Standing s;
    s.server = key_role(kScopeRead | kScopeAdmin);
    EXPECT_TRUE(may(Visibility::Private, s, Act::Read).ok());
    EXPECT_EQ(may(Visibility::Dm, s, Act::Read).status, 404);
}

TEST(ApiKey, AKeyIsRandomAndOnlyItsHashIsKept) {
    std::string why;
    auto a = make_api_key("ci-bot", kScopePublish, "", "root", 1, 64, why);
    auto b = make_api_key("ci-bot", kScopePublish, "bot-ci", "root", 1, 64, why);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->secret.substr(0, 3), "sk_");
    EXPECT_EQ(a->secret.size(), 46u);
    EXPECT_NE(a->secret, b->secret);
    EXPECT_EQ(a->key.hash, api_key_hash(a->secret));
    EXPECT_EQ(a->key.hash.size(), 64u);
    EXPECT_EQ(a->key.user, "ci-bot");  // the name, when no user is given
    EXPECT_EQ(b->key.user, "bot-ci");
    EXPECT_FALSE(make_api_key("no spaces", kScopePublish, "", "", 1, 64, why));
    EXPECT_FALSE(make_api_key("ok", kScopePublish, std::string(65, 'u'), "", 1, 64, why));
    auto j = api_key_json(a->key);
    EXPECT_FALSE(j.contains("hash"));
    EXPECT_FALSE(j.contains("key"));
}
