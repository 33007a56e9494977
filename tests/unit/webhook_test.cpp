// Webhooks as rules: which events a webhook takes, their types, ids and signatures, and the
// retry schedule. Delivery itself is tested end to end (tests/browser/webhooks.test.mjs).
#include "model/webhook.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

using namespace ssechat::model;

TEST(Webhook, EventsParseAndFilterByKindAndRoom) {
    std::string why;
    auto bits = parse_hook_events(boost::json::parse(R"(["message","reaction"])"), why);
    ASSERT_TRUE(bits) << why;
    EXPECT_FALSE(parse_hook_events(boost::json::parse(R"(["message","fly"])"), why));
    EXPECT_NE(why.find("fly"), std::string::npos);
    EXPECT_FALSE(parse_hook_events(boost::json::parse("[]"), why));
    EXPECT_FALSE(parse_hook_events(boost::json::parse(R"("message")"), why));
    Webhook w;
    w.events = *bits;
    Event e;
    e.room = "ops";
    e.kind = Kind::Message;
    EXPECT_TRUE(wants(w, e));
    e.kind = Kind::Edit;
    EXPECT_FALSE(wants(w, e));
    e.kind = Kind::Reaction;
    EXPECT_TRUE(wants(w, e));
    w.every_room = false;
    w.rooms = {"dev", "ops"};
    EXPECT_TRUE(wants(w, e));
    e.room = "sales";
    EXPECT_FALSE(wants(w, e));
    e.kind = Kind::Typing;  // never stored, never delivered
    w.events = 0x3f;
    w.every_room = true;
    EXPECT_FALSE(wants(w, e));
}

TEST(Webhook, TypesIdsAndBodies) {
    Event e;
    e.room = "ops";
    e.user_id = "ci";
    e.id = 7;
    e.pos = 42;
    e.ts = 1700000000123;
    e.text = "green";
    EXPECT_EQ(hook_type(e), "message.created");
    e.kind = Kind::Reaction;
    e.remove = true;
    EXPECT_EQ(hook_type(e), "reaction.removed");
    e.kind = Kind::Message;
    Webhook w;
    w.id = "wh_abc";
    EXPECT_EQ(hook_message_id(w, e), "msg_abc_42");
    EXPECT_EQ(hook_message_id(w, e, 3), "msg_abc_3-42") << "position 42 of another shard";
    auto body = boost::json::parse(hook_body(e, e.ts)).as_object();
    EXPECT_EQ(body.at("type").as_string(), "message.created");
    EXPECT_EQ(body.at("timestamp").as_string(), "2023-11-14T22:13:20.123Z");
    EXPECT_EQ(body.at("data").at("message").as_string(), "green");
}

TEST(Webhook, SignaturesAreHmacOverIdTimestampAndBody) {
    // The secret's bytes are "key" (a2V5 in base64).
    const std::string secret = "whsec_a2V5";
    auto sig = hook_signature(secret, "msg_1", 1700000000, "{}");
    EXPECT_EQ(sig.substr(0, 3), "v1,");
    EXPECT_EQ(sig.size(), 3u + 44u);  // 32 bytes in base64
    EXPECT_NE(sig, hook_signature(secret, "msg_2", 1700000000, "{}"));
    EXPECT_NE(sig, hook_signature(secret, "msg_1", 1700000001, "{}"));
    EXPECT_NE(sig, hook_signature(secret, "msg_1", 1700000000, "{ }"));
    EXPECT_EQ(hook_signature("not-a-secret", "msg_1", 1, "{}"), "");
    auto made = new_hook_secret();
    EXPECT_EQ(made.substr(0, 6), "whsec_");
    EXPECT_NE(hook_signature(made, "msg_1", 1, "{}"), "");
}

TEST(Webhook, BackoffDoublesFromASecondToAnHourWithJitter) {
    for (uint32_t r : {0u, 12345u, 4000000000u}) {
        EXPECT_GE(hook_backoff_ms(1, r), 800);
        EXPECT_LE(hook_backoff_ms(1, r), 1200);
        EXPECT_GE(hook_backoff_ms(4, r), 6400);
        EXPECT_LE(hook_backoff_ms(4, r), 9600);
        EXPECT_GE(hook_backoff_ms(30, r), 2880000);
        EXPECT_LE(hook_backoff_ms(30, r), 4320000);
    }
}
