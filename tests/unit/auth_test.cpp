// JWT verification: what is accepted, and each way a token is refused.
#include "http/auth.hpp"

#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <fstream>

using namespace ssechat::auth;

namespace {
constexpr int64_t kNow = 1800000000;

std::string make_token(const std::string& header, const std::string& claims,
                       const std::string& sig) {
    return base64url(header) + "." + base64url(claims) + "." + base64url(sig);
}
}  // namespace

TEST(Auth, Base64UrlRoundTrip) {
    for (std::string s : {"", "f", "fo", "foo", "foob", "\xff\xfe\x00\x01"}) {
        auto enc = base64url(s);
        EXPECT_EQ(enc.find_first_of("+/="), std::string::npos);
        EXPECT_EQ(unbase64url(enc).value(), s);
    }
    EXPECT_FALSE(unbase64url("a+b/"));
    EXPECT_FALSE(unbase64url("abcde"));
}

TEST(Auth, AcceptsAGoodHs256Token) {
    auto v = Verifier::hs256("s3cret");
    auto t = sign_hs256("s3cret", "alice", kNow + 60, {"lobby"});
    auto r = v->verify(t, kNow);
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.identity.user, "alice");
    EXPECT_TRUE(r.identity.rooms.covers("lobby"));
    EXPECT_FALSE(r.identity.rooms.covers("general"));
    auto any = v->verify(sign_hs256("s3cret", "bob", kNow + 60, {}), kNow);
    EXPECT_TRUE(any.identity.rooms.covers("anything"));
    auto star = v->verify(sign_hs256("s3cret", "bob", kNow + 60, {"a", "*"}), kNow);
    EXPECT_TRUE(star.identity.rooms.every());
    auto narrow = v->verify(sign_hs256("s3cret", "bob", kNow + 60, {"b", "a", "b"}), kNow);
    EXPECT_EQ(narrow.identity.rooms.names(), (std::vector<std::string>{"a", "b"}));
}

TEST(Auth, RefusesBadTokens) {
    auto v = Verifier::hs256("s3cret");
    std::string good = sign_hs256("s3cret", "alice", kNow + 60, {});
    struct Case {
        std::string name, token, reason;
    } cases[] = {
        {"empty", "", "missing"},
        {"garbage", "not-a-token", "malformed"},
        {"four parts", good + ".x", "malformed"},
        {"wrong secret", sign_hs256("other", "alice", kNow + 60, {}), "signature"},
        {"tampered claims",
         good.substr(0, good.find('.') + 1) + base64url(R"({"sub":"admin","exp":1900000000})") +
             good.substr(good.rfind('.')),
         "signature"},
        {"alg none", make_token(R"({"alg":"none"})", R"({"sub":"a","exp":1900000000})", ""),
         "algorithm"},
        {"alg swap", make_token(R"({"alg":"RS256"})", R"({"sub":"a","exp":1900000000})", "x"),
         "algorithm"},
        {"expired", sign_hs256("s3cret", "alice", kNow - 31, {}), "expired"},
    };
    for (const auto& c : cases) {
        auto r = v->verify(c.token, kNow);
        EXPECT_EQ(r.status, 401) << c.name;
        EXPECT_NE(r.error.find(c.reason), std::string::npos) << c.name << ": " << r.error;
    }
    // Within the leeway, still good.
    EXPECT_EQ(v->verify(sign_hs256("s3cret", "alice", kNow - 10, {}), kNow).status, 200);
}

TEST(Auth, ClaimsAreChecked) {
    auto v = Verifier::hs256("k");
    // sign_hs256 only writes sub, exp and rooms; other claim sets are signed here directly.
    auto tok = [&](const boost::json::object& claims) {
        std::string part = base64url(R"({"alg":"HS256","typ":"JWT"})") + "." +
                           base64url(boost::json::serialize(claims));
        unsigned char md[64];
        unsigned int len = 0;
        HMAC(EVP_sha256(), "k", 1, reinterpret_cast<const unsigned char*>(part.data()), part.size(),
             md, &len);
        return part + "." + base64url(std::string(reinterpret_cast<char*>(md), len));
    };
    EXPECT_EQ(v->verify(tok({{"sub", "a"}, {"exp", kNow + 60}}), kNow).status, 200);
    EXPECT_NE(v->verify(tok({{"exp", kNow + 60}}), kNow).error.find("sub"), std::string::npos);
    EXPECT_NE(v->verify(tok({{"sub", "a"}}), kNow).error.find("exp"), std::string::npos);
    EXPECT_NE(v->verify(tok({{"sub", "a"}, {"exp", "soon"}}), kNow).error.find("exp"),
              std::string::npos);
    EXPECT_NE(v->verify(tok({{"sub", "a"}, {"exp", kNow + 60}, {"nbf", kNow + 600}}), kNow)
                  .error.find("not valid yet"),
              std::string::npos);
    EXPECT_EQ(v->verify(tok({{"sub", "a"}, {"exp", kNow + 60}, {"rooms", "lobby"}}), kNow).status,
              401);
    EXPECT_EQ(v->verify(tok({{"sub", ""}, {"exp", kNow + 60}}), kNow).status, 401);
}

TEST(Auth, Es256WithAPublicKeyFile) {
    // A fresh P-256 key: sign with the private half, verify with the PEM public half.
    EVP_PKEY* key = EVP_EC_gen("P-256");
    ASSERT_TRUE(key);
    std::string path = "/tmp/ssechat-es256-" + std::to_string(getpid()) + ".pem";
    FILE* f = std::fopen(path.c_str(), "w");
    PEM_write_PUBKEY(f, key);
    std::fclose(f);
    auto v = Verifier::public_key(path);
    EXPECT_EQ(v->algorithm(), "ES256");
    std::string part =
        base64url(R"({"alg":"ES256"})") + "." + base64url(R"({"sub":"eve","exp":1900000000})");
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t len = 0;
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(part.data()),
                   part.size());
    std::string der(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(der.data()), &len,
                   reinterpret_cast<const unsigned char*>(part.data()), part.size());
    EVP_MD_CTX_free(ctx);
    der.resize(len);
    // DER to JWS r||s.
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
    std::string rs(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(rs.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(rs.data()) + 32, 32);
    ECDSA_SIG_free(sig);
    auto r = v->verify(part + "." + base64url(rs), kNow);
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.identity.user, "eve");
    rs[10] ^= 1;
    EXPECT_EQ(v->verify(part + "." + base64url(rs), kNow).status, 401);
    // An HS256 token (signed with the public key's text as secret, the classic swap) fails.
    std::ifstream pem(path);
    std::string pem_text((std::istreambuf_iterator<char>(pem)), {});
    EXPECT_EQ(v->verify(sign_hs256(pem_text, "eve", kNow + 60, {}), kNow).status, 401);
    EVP_PKEY_free(key);
    std::remove(path.c_str());
    EXPECT_THROW(Verifier::public_key("/nonexistent.pem"), std::runtime_error);
}

namespace {
// Signs raw header and claims text with HS256 key "k", so duplicate keys and odd numbers can be
// written exactly as an attacker would.
std::string signed_raw(const std::string& header, const std::string& claims) {
    std::string part = base64url(header) + "." + base64url(claims);
    unsigned char md[64];
    unsigned int len = 0;
    HMAC(EVP_sha256(), "k", 1, reinterpret_cast<const unsigned char*>(part.data()), part.size(), md,
         &len);
    return part + "." + base64url(std::string(reinterpret_cast<char*>(md), len));
}
constexpr const char* kHs = R"({"alg":"HS256","typ":"JWT"})";
}  // namespace

TEST(Auth, DuplicateKeysAreRefusedNotLastOneWins) {
    auto v = Verifier::hs256("k");
    std::string exp = std::to_string(kNow + 60);
    EXPECT_EQ(v->verify(signed_raw(kHs, R"({"sub":"alice","exp":)" + exp + "}"), kNow).status, 200);
    struct Case {
        const char* name;
        std::string header, claims;
    } cases[] = {
        {"rooms twice", kHs, R"({"sub":"bob","rooms":["lobby"],"rooms":["*"],"exp":)" + exp + "}"},
        {"sub twice", kHs, R"({"sub":"alice","sub":"admin","exp":)" + exp + "}"},
        {"exp twice", kHs, R"({"sub":"a","exp":1,"exp":)" + exp + "}"},
        {"alg twice", R"({"alg":"none","alg":"HS256"})", R"({"sub":"a","exp":)" + exp + "}"},
        {"nested twice", kHs, R"({"sub":"a","x":{"y":1,"y":2},"exp":)" + exp + "}"},
    };
    for (const auto& c : cases) {
        auto r = v->verify(signed_raw(c.header, c.claims), kNow);
        EXPECT_EQ(r.status, 401) << c.name;
        EXPECT_NE(r.error.find("duplicate"), std::string::npos) << c.name << ": " << r.error;
    }
}

TEST(Auth, NonCanonicalBase64IsRefused) {
    auto v = Verifier::hs256("k");
    std::string good = signed_raw(kHs, R"({"sub":"a","exp":)" + std::to_string(kNow + 60) + "}");
    ASSERT_EQ(v->verify(good, kNow).status, 200);
    // A 32-byte HMAC is 43 characters: the last one carries 4 unused low bits. Setting one
    // decodes to the same bytes, so the signature would still match.
    std::string sig = good.substr(good.rfind('.') + 1);
    ASSERT_EQ(sig.size(), 43u);
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    auto pos = alphabet.find(sig.back());
    std::string twin = good.substr(0, good.rfind('.') + 1) + sig.substr(0, 42) +
                       alphabet[(pos & ~size_t{3}) | ((pos & 3) ^ 1)];
    ASSERT_NE(twin, good);
    auto r = v->verify(twin, kNow);
    EXPECT_EQ(r.status, 401);
    EXPECT_NE(r.error.find("malformed"), std::string::npos) << r.error;
    EXPECT_FALSE(unbase64url("Zh"));  // "f" is "Zg"; "Zh" sets an unused bit
    EXPECT_EQ(unbase64url("Zg").value(), "f");
}

TEST(Auth, TimeClaimsAreWholeSecondsWithoutOverflow) {
    auto v = Verifier::hs256("k");
    auto with = [&](const std::string& exp, const std::string& nbf = "") {
        std::string claims =
            R"({"sub":"a","exp":)" + exp + (nbf.empty() ? "" : ",\"nbf\":" + nbf) + "}";
        return v->verify(signed_raw(kHs, claims), kNow);
    };
    // The far future is accepted: exp + leeway used to overflow and read as expired.
    EXPECT_EQ(with("9223372036854775807").status, 200) << with("9223372036854775807").error;
    EXPECT_EQ(with(std::to_string(kNow + 60), "-9223372036854775808").status, 200);
    for (std::string bad : {"1e300", "-1e300", "1800000000.5", "18446744073709551615", "1e19"}) {
        auto r = with(bad);
        EXPECT_EQ(r.status, 401) << bad;
        EXPECT_NE(r.error.find("exp"), std::string::npos) << bad << ": " << r.error;
        auto n = with(std::to_string(kNow + 60), bad);
        EXPECT_EQ(n.status, 401) << "nbf " << bad;
        EXPECT_NE(n.error.find("nbf"), std::string::npos) << bad << ": " << n.error;
    }
    EXPECT_EQ(with(std::to_string(kNow + 60), "9223372036854775807").status, 401);  // not yet
    EXPECT_EQ(with("-9223372036854775808").status, 401);                            // expired
}
