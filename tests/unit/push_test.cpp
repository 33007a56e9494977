// Web Push as rules and formats: who is pushed what at each level, the payload and Topic, a
// subscription's checks, and the VAPID token's shape and signature. The encryption is checked
// end to end by an implementation we did not write (tests/browser/push.test.mjs, http_ece).
#include "model/push.hpp"

#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <boost/json.hpp>

#include "util/text.hpp"
#include "util/webpush.hpp"

using namespace ssechat;
using namespace ssechat::model;

TEST(Push, TheRuleAtEachLevel) {
    PushFacts f;
    f.visibility = Visibility::Public;
    f.level = NotifyLevel::Mentions;
    EXPECT_FALSE(push_kind(f)) << "a plain message at the default level";
    f.mentioned = true;
    EXPECT_EQ(push_kind(f), PushKind::Mention);
    f.mentioned = false;
    f.replied_to = true;
    EXPECT_EQ(push_kind(f), PushKind::Reply) << "mentions includes replies";
    f.level = NotifyLevel::None;
    EXPECT_FALSE(push_kind(f));
    f.level = NotifyLevel::All;
    f.replied_to = false;
    EXPECT_EQ(push_kind(f), PushKind::Message);
    f.visibility = Visibility::Dm;
    EXPECT_EQ(push_kind(f), PushKind::Dm);
    EXPECT_EQ(default_level(Visibility::Dm), NotifyLevel::All);
    EXPECT_EQ(default_level(Visibility::Private), NotifyLevel::Mentions);
    f.level = NotifyLevel::Mentions;
    EXPECT_FALSE(push_kind(f)) << "a DM set to mentions: only mentions and replies";
    f.mentioned = true;
    EXPECT_EQ(push_kind(f), PushKind::Mention);
    EXPECT_EQ(parse_notify_level("all"), NotifyLevel::All);
    EXPECT_FALSE(parse_notify_level("All"));
}

TEST(Push, PayloadCutsAt200CharactersNeverInsideOne) {
    Event e;
    e.room = "lobby";
    e.id = 7;
    e.user_id = "alice";
    e.text = std::string(150, 'a');
    for (int i = 0; i < 100; ++i) e.text += "\xC3\xA9";  // é, two bytes each
    auto o = boost::json::parse(push_payload(e, PushKind::Mention)).as_object();
    EXPECT_EQ(o.size(), 5u);
    EXPECT_EQ(o.at("kind").as_string(), "mention");
    EXPECT_EQ(o.at("id").as_int64(), 7);
    std::string text(o.at("text").as_string());
    EXPECT_EQ(text.size(), 150u + 2 * 50u);
    EXPECT_TRUE(text::valid_utf8(text));
}

TEST(Push, TopicIsShortUrlSafeAndPerRoom) {
    auto t = push_topic("lobby");
    EXPECT_EQ(t.size(), 32u);
    EXPECT_EQ(
        t.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        std::string::npos);
    EXPECT_EQ(t, push_topic("lobby"));
    EXPECT_NE(t, push_topic("lobby2"));
}

TEST(Push, SubscriptionsAreChecked) {
    auto key = webpush::VapidKey::generate();  // any P-256 point will do as a browser's
    std::string p256dh = text::base64url(key.public_raw());
    std::string auth = text::base64url(std::string(16, 'k'));
    std::string why;
    auto ok = parse_push_subscription(
        R"({"endpoint":"https://push.example/x","expirationTime":null,"keys":{"p256dh":")" +
            p256dh + R"(","auth":")" + auth + "==\"}}",
        why);
    ASSERT_TRUE(ok) << why;
    EXPECT_EQ(ok->auth, auth) << "padding dropped";
    EXPECT_FALSE(parse_push_subscription(
        R"({"endpoint":"https://x/","keys":{"p256dh":"AAAA","auth":")" + auth + "\"}}", why));
    EXPECT_NE(why.find("p256dh"), std::string::npos);
    EXPECT_FALSE(parse_push_subscription(
        R"({"endpoint":"https://x/","keys":{"p256dh":")" + p256dh + R"(","auth":"AAAA"}})", why));
    EXPECT_NE(why.find("auth"), std::string::npos);
    EXPECT_FALSE(parse_push_subscription(R"({"keys":{}})", why));
    EXPECT_FALSE(parse_push_subscription("[]", why));
}

TEST(Push, VapidTokenIsAnEs256JwtOverItsClaims) {
    auto key = webpush::VapidKey::generate();
    ASSERT_EQ(key.public_raw().size(), 65u);
    auto again = webpush::VapidKey::from_pem(key.pem());
    ASSERT_TRUE(again);
    EXPECT_EQ(again->public_raw(), key.public_raw()) << "the stored key reads back";
    EXPECT_FALSE(webpush::VapidKey::from_pem("not a key"));

    std::string h = key.authorization("https://push.example", 2000000000, "mailto:a@b.c");
    ASSERT_EQ(h.rfind("vapid t=", 0), 0u);
    auto comma = h.find(", k=");
    ASSERT_NE(comma, std::string::npos);
    EXPECT_EQ(h.substr(comma + 4), text::base64url(key.public_raw()));
    std::string jwt = h.substr(8, comma - 8);
    auto d1 = jwt.find('.'), d2 = jwt.rfind('.');
    auto claims = boost::json::parse(*text::unbase64url(jwt.substr(d1 + 1, d2 - d1 - 1)));
    EXPECT_EQ(claims.at("aud").as_string(), "https://push.example");
    EXPECT_EQ(claims.at("exp").as_int64(), 2000000000);
    EXPECT_EQ(claims.at("sub").as_string(), "mailto:a@b.c");
    // The signature is r || s over "header.claims", and verifies with the public key.
    auto sig = text::unbase64url(jwt.substr(d2 + 1));
    ASSERT_TRUE(sig);
    ASSERT_EQ(sig->size(), 64u);
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig->data()), 32, nullptr);
    BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig->data()) + 32, 32, nullptr);
    ECDSA_SIG* es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, r, s);
    unsigned char* der = nullptr;
    int n = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    auto pem = key.pem();
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    EVP_PKEY* pk = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    std::string input = jwt.substr(0, d2);
    bool ok =
        EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pk) == 1 &&
        EVP_DigestVerify(ctx, der, static_cast<size_t>(n),
                         reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    OPENSSL_free(der);
    EXPECT_TRUE(ok);
    EXPECT_EQ(webpush::origin("https://Push.Example:8443/a/b?c"), "https://push.example:8443");
}

TEST(Push, EncryptionTakesOnlyWellFormedKeysAndBoundsThePayload) {
    auto browser = webpush::VapidKey::generate();
    std::string auth(16, 'a');
    auto body = webpush::encrypt(browser.public_raw(), auth, "hello");
    ASSERT_TRUE(body);
    // salt(16) rs(4) idlen(1) keyid(65), then the payload, its delimiter and the tag.
    EXPECT_EQ(body->size(), 86u + 5 + 1 + 16);
    EXPECT_EQ(static_cast<unsigned char>((*body)[20]), 65);
    EXPECT_NE(webpush::encrypt(browser.public_raw(), auth, "hello"), body) << "a fresh salt";
    EXPECT_FALSE(webpush::encrypt(browser.public_raw(), "short", "x"));
    std::string off_curve = browser.public_raw();
    off_curve[64] ^= 1;
    EXPECT_FALSE(webpush::encrypt(off_curve, auth, "x"));
    EXPECT_FALSE(webpush::encrypt(browser.public_raw(), auth, std::string(4000, 'x')));
}
