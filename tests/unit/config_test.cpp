// Configuration: defaults, flags over environment, and exit status 2 for bad input.
#include "util/config.hpp"

#include <gtest/gtest.h>

#include "store/redis/redis_conn.hpp"

using namespace ssechat;

TEST(Config, Defaults) {
    auto r = parse_config({}, {});
    ASSERT_TRUE(r.config);
    EXPECT_EQ(r.config->port, 3000);
    EXPECT_EQ(r.config->bind, "127.0.0.1");
    EXPECT_EQ(r.config->store, "sqlite");
    EXPECT_GE(r.config->threads, 1u);
}

TEST(Config, FlagsAndEnv) {
    auto r = parse_config({"--port", "8080", "--threads=3"},
                          {"SSECHAT_PORT=9000", "SSECHAT_STORE=memory", "PATH=/bin"});
    ASSERT_TRUE(r.config);
    EXPECT_EQ(r.config->port, 8080);  // the flag wins
    EXPECT_EQ(r.config->threads, 3u);
    EXPECT_EQ(r.config->store, "memory");
}

TEST(Config, BadInputExitsWith2) {
    for (auto args : std::vector<std::vector<std::string>>{{"--nope"},
                                                           {"--port", "70000"},
                                                           {"--port", "-1"},
                                                           {"--port"},
                                                           {"--threads", "0"},
                                                           {"--store", "mongo"},
                                                           {"stray"}}) {
        auto r = parse_config(args, {});
        EXPECT_FALSE(r.config) << args[0];
        EXPECT_EQ(r.exit_code, 2);
        EXPECT_EQ(r.output.find('\n'), std::string::npos) << "one line: " << r.output;
    }
    auto e = parse_config({}, {"SSECHAT_PORT=abc"});
    EXPECT_EQ(e.exit_code, 2);
}

TEST(Config, HelpAndVersion) {
    auto h = parse_config({"--help"}, {});
    EXPECT_FALSE(h.config);
    EXPECT_EQ(h.exit_code, 0);
    EXPECT_NE(h.output.find("--port"), std::string::npos);
    auto v = parse_config({"--version"}, {});
    EXPECT_NE(v.output.find("ssechat"), std::string::npos);
}

TEST(Config, RedisUrls) {
    std::string why;
    auto u = ssechat::store::parse_redis_url("redis://127.0.0.1:6390/2", why);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->host, "127.0.0.1");
    EXPECT_EQ(u->port, 6390);
    EXPECT_EQ(u->db, 2);
    auto auth = ssechat::store::parse_redis_url("redis://app:p%40ss@[::1]", why);
    ASSERT_TRUE(auth);
    EXPECT_EQ(auth->user, "app");
    EXPECT_EQ(auth->password, "p@ss");
    EXPECT_EQ(auth->host, "::1");
    EXPECT_EQ(auth->port, 6379);
    auto pw = ssechat::store::parse_redis_url("redis://secret@cache", why);
    ASSERT_TRUE(pw);
    EXPECT_EQ(pw->password, "secret");
    EXPECT_EQ(pw->user, "");
    for (const char* bad : {"http://x", "redis://", "redis://h:0", "redis://h:99999", "redis://h/x",
                            "redis://[::1", "rediss://h"}) {
        EXPECT_FALSE(ssechat::store::parse_redis_url(bad, why)) << bad;
        EXPECT_FALSE(why.empty());
    }
    EXPECT_TRUE(parse_config({"--store", "redis", "--redis", "redis://h:1"}, {}).config);
    EXPECT_EQ(parse_config({"--redis", "redis://h:x"}, {}).exit_code, 2);
}

TEST(Config, ShardListsSplitWhereASchemeFollowsTheComma) {
    std::string why;
    auto two = ssechat::parse_redis_urls("redis://a:1,redis://b:2/3", why);
    ASSERT_TRUE(two) << why;
    ASSERT_EQ(two->size(), 2u);
    EXPECT_EQ((*two)[0].host, "a");
    EXPECT_EQ((*two)[1].host, "b");
    EXPECT_EQ((*two)[1].db, 3);
    // A Sentinel URL's commas are its Sentinels', not shards.
    auto mixed = ssechat::parse_redis_urls(
        "redis-sentinel://s1:26379,s2:26380/one,redis-sentinel://s3,s4/two/1,redis://c", why);
    ASSERT_TRUE(mixed) << why;
    ASSERT_EQ(mixed->size(), 3u);
    EXPECT_EQ((*mixed)[0].sentinels.size(), 2u);
    EXPECT_EQ((*mixed)[0].master, "one");
    EXPECT_EQ((*mixed)[1].sentinels.size(), 2u);
    EXPECT_EQ((*mixed)[1].master, "two");
    EXPECT_EQ((*mixed)[1].db, 1);
    EXPECT_EQ((*mixed)[2].host, "c");
    EXPECT_EQ(ssechat::parse_redis_urls("redis://a", why)->size(), 1u);
    // Errors name the shard.
    EXPECT_FALSE(ssechat::parse_redis_urls("redis://a,redis://b:0", why));
    EXPECT_NE(why.find("shard 2"), std::string::npos) << why;
    EXPECT_FALSE(ssechat::parse_redis_urls("redis://a,", why));
    EXPECT_FALSE(ssechat::parse_redis_urls("redis://a:6379,redis://a:6379/0", why));
    EXPECT_NE(why.find("same Redis"), std::string::npos) << why;
    EXPECT_TRUE(parse_config({"--store", "redis", "--redis", "redis://a,redis://b"}, {}).config);
    EXPECT_EQ(parse_config({"--redis", "redis://a,redis://b:x"}, {}).exit_code, 2);
}

TEST(Config, SentinelUrls) {
    std::string why;
    auto u = ssechat::store::parse_redis_url(
        "redis-sentinel://app:p%40ss@10.0.0.1:26379,[::1]:26380,s3/chat/3", why);
    ASSERT_TRUE(u) << why;
    ASSERT_EQ(u->sentinels.size(), 3u);
    EXPECT_EQ(u->sentinels[0], (std::pair<std::string, int>{"10.0.0.1", 26379}));
    EXPECT_EQ(u->sentinels[1], (std::pair<std::string, int>{"::1", 26380}));
    EXPECT_EQ(u->sentinels[2], (std::pair<std::string, int>{"s3", 26379}));  // Sentinel's port
    EXPECT_EQ(u->master, "chat");
    EXPECT_EQ(u->db, 3);
    EXPECT_EQ(u->user, "app");
    EXPECT_EQ(u->password, "p@ss");
    // What an operator sees never holds the password.
    EXPECT_EQ(u->display(), "redis-sentinel://10.0.0.1:26379,[::1]:26380,s3:26379/chat/3");
    auto plain = ssechat::store::parse_redis_url("redis-sentinel://h:1/m", why);
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->db, 0);
    EXPECT_EQ(plain->text(), "m@h:1/0");
    for (const char* bad :
         {"redis-sentinel://h:1", "redis-sentinel://h:1/", "redis-sentinel:///m",
          "redis-sentinel://h:1,/m", "redis-sentinel://h:x/m", "redis-sentinel://h:1/m/x"}) {
        EXPECT_FALSE(ssechat::store::parse_redis_url(bad, why)) << bad;
        EXPECT_FALSE(why.empty());
    }
    auto c = parse_config({"--store", "redis", "--redis", "redis-sentinel://h:1/m",
                           "--redis-replicas", "1", "--redis-wait-ms", "250"},
                          {});
    ASSERT_TRUE(c.config);
    EXPECT_EQ(c.config->redis_replicas, 1);
    EXPECT_EQ(c.config->redis_wait_ms, 250);
    EXPECT_EQ(parse_config({"--redis-replicas", "-1"}, {}).exit_code, 2);
}

TEST(Config, TlsMovesTheDefaultPortAndItsFlagsGoTogether) {
    auto r = parse_config({"--tls-cert", "c.pem", "--tls-key", "k.pem"}, {});
    ASSERT_TRUE(r.config);
    EXPECT_EQ(r.config->port, 3443);
    r = parse_config({"--tls-cert", "c.pem", "--tls-key", "k.pem", "--port", "8443"}, {});
    ASSERT_TRUE(r.config);
    EXPECT_EQ(r.config->port, 8443) << "an explicit port wins";
    r = parse_config({"--tls-cert", "c.pem", "--tls-key", "k.pem", "--port", "3000"}, {});
    EXPECT_EQ(r.config->port, 3000);
    EXPECT_EQ(parse_config({"--tls-key", "k.pem"}, {}).exit_code, 2);
    EXPECT_EQ(parse_config({"--redirect-http", "80"}, {}).exit_code, 2) << "needs TLS";
    EXPECT_EQ(parse_config({}, {}).config->port, 3000);
}

TEST(Config, AccountsFlags) {
    auto r = parse_config(
        {"--accounts", "--signup", "open", "--session-idle", "7d", "--public-url",
         "https://chat.example/", "--allowed-origins", "https://a.example,http://b.example:8080"},
        {"SSECHAT_FIRST_ADMIN_PASSWORD=from-the-env"});
    ASSERT_TRUE(r.config) << r.output;
    EXPECT_TRUE(r.config->accounts);
    EXPECT_TRUE(r.config->signup_open);
    EXPECT_EQ(r.config->session_idle_s, 7u * 86400);
    EXPECT_EQ(r.config->public_url, "https://chat.example");
    EXPECT_EQ(r.config->allowed_origins.size(), 2u);
    EXPECT_EQ(r.config->first_admin_password, "from-the-env");
    for (auto args : std::vector<std::vector<std::string>>{
             {"--signup", "anyone"},
             {"--session-idle", "10"},  // under a minute
             {"--public-url", "chat.example"},
             {"--public-url", "https://chat.example/path"},
             {"--allowed-origins", "https://a.example,"},
             {"--first-admin", "root"},  // without --accounts and a password
             {"--accounts", "--first-admin", "root"},
             {"--accounts", "--oidc-issuer", "https://idp.example"},  // no client
             {"--oidc-issuer", "https://idp.example", "--oidc-client-id", "c",
              "--oidc-client-secret", "s"},  // no --accounts
             {"--accounts", "--oidc-issuer", "ftp://idp.example"}}) {
        auto bad = parse_config(args, {});
        EXPECT_FALSE(bad.config) << args[0] << " " << args[1];
        EXPECT_EQ(bad.exit_code, 2);
    }
    auto sso = parse_config(
        {"--accounts", "--oidc-issuer", "https://idp.example/", "--oidc-client-id", "c"},
        {"SSECHAT_OIDC_CLIENT_SECRET=s"});
    ASSERT_TRUE(sso.config) << sso.output;
    EXPECT_EQ(sso.config->oidc_issuer, "https://idp.example");
    EXPECT_EQ(sso.config->oidc_client_secret, "s");
}
