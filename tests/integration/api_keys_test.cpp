// Server API keys: made by an admin (HTTP) or `ssechat apikey`, each scope allowed and
// refused, a bot's messages marked, ?as= only with impersonate, and a revoked key refused
// (and its streams ended) within a second on every node.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <thread>

#include "harness.hpp"
#include "services.hpp"

using namespace itest;
namespace json = boost::json;

namespace {

constexpr const char* kSecret = "api-keys-secret";

Headers jwt(const std::string& user, json::object extra = {}) {
    return {{"Authorization", "Bearer " + hs256_token(kSecret, user, extra)},
            {"Content-Type", "application/json"}};
}

Headers key(const std::string& k) {
    return {{"Authorization", "Bearer " + k}, {"Content-Type", "application/json"}};
}

json::object body_of(const Response& r) {
    return json::parse(r.body).as_object();
}

class ApiKeys : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        std::vector<std::string> args{"--publish-rate", "0", "--jwt-secret", kSecret};
        auto store = store_args(GetParam(), redis_);
        args.insert(args.end(), store.begin(), store.end());
        srv_ = std::make_unique<Server>(args);
    }
    int port() const { return srv_->port(); }
    // A key made by the admin "root" over HTTP; the key.
    std::string make_key(const std::string& name, const std::string& scopes,
                         const std::string& as = "") {
        json::object o{{"name", name}, {"scopes", scopes}};
        if (!as.empty()) o["as"] = as;
        auto r = request(port(), "POST", "/admin/apikeys", json::serialize(o),
                         jwt("root", {{"admin", true}}));
        EXPECT_EQ(r.status, 201) << r.body;
        if (r.status != 201) return "";
        auto b = body_of(r);
        EXPECT_FALSE(b.contains("hash"));
        return std::string(b.at("key").as_string());
    }
    Response with(const std::string& k, const std::string& method, const std::string& target,
                  const std::string& body = "") {
        return request(port(), method, target, body, key(k));
    }
    std::unique_ptr<RedisServer> redis_;
    std::unique_ptr<Server> srv_;
};

TEST_P(ApiKeys, EachScopeAllowsItsRequestsAndRefusesTheRest) {
    // A private room of alice's, with bob in it; carol's and alice's direct message.
    auto r = request(port(), "POST", "/rooms", R"({"visibility":"private","name":"Plans"})",
                     jwt("alice"));
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string plans(body_of(r).at("room").as_string());
    ASSERT_EQ(request(port(), "PUT", "/rooms/" + plans + "/members/bob", "{}", jwt("alice")).status,
              200);
    r = request(port(), "PUT", "/me/dms/carol", "", jwt("alice"));
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string dm(body_of(r).at("name").as_string());
    ASSERT_EQ(
        request(port(), "POST", "/rooms/" + dm + "/messages", R"({"message":"psst"})", jwt("alice"))
            .status,
        201);

    const std::string pub = make_key("ci-bot", "publish");
    const std::string read = make_key("reader", "read");
    const std::string rooms = make_key("roomer", "rooms");
    const std::string members = make_key("doorman", "members");
    ASSERT_FALSE(pub.empty() || read.empty() || rooms.empty() || members.empty());
    EXPECT_EQ(pub.substr(0, 3), "sk_");
    EXPECT_EQ(pub.size(), 3u + 43u);  // 32 bytes, base64url

    // publish: posts as its bot user, marked as a bot, into public and private rooms; reads
    // nothing, makes no room, adds nobody.
    r = with(pub, "POST", "/rooms/lobby/messages", R"({"message":"build 412 failed"})");
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(body_of(r).at("user_id").as_string(), "ci-bot");
    EXPECT_EQ(body_of(r).at("bot"), json::value(true));
    EXPECT_EQ(with(pub, "POST", "/rooms/" + plans + "/messages", R"({"message":"deploy"})").status,
              201);
    r = with(pub, "GET", "/rooms/lobby/messages");
    EXPECT_EQ(r.status, 403) << r.body;
    EXPECT_NE(r.body.find("the read scope"), std::string::npos) << r.body;
    EXPECT_EQ(with(pub, "POST", "/rooms", R"({"visibility":"private"})").status, 403);
    EXPECT_EQ(with(pub, "PUT", "/rooms/" + plans + "/members/dave", "{}").status, 403);
    EXPECT_EQ(with(pub, "GET", "/admin/apikeys").status, 403);
    // A direct message stays its two members': no scope reaches it.
    EXPECT_EQ(with(pub, "POST", "/rooms/" + dm + "/messages", R"({"message":"hi"})").status, 404);

    // read: history and streams of any room, a private one included; never a DM; no post.
    r = with(read, "GET", "/rooms/" + plans + "/messages");
    ASSERT_EQ(r.status, 200) << r.body;
    auto page = body_of(r).at("messages").as_array();
    ASSERT_EQ(page.size(), 1u);
    EXPECT_EQ(page[0].at("user_id").as_string(), "ci-bot");
    EXPECT_EQ(page[0].at("bot"), json::value(true));
    // A person's message carries no "bot".
    r = with(read, "GET", "/rooms/" + dm + "/messages");
    EXPECT_EQ(r.status, 404) << r.body;
    {
        SseClient s(port(), "/rooms/" + plans + "/events?presence=0", key(read));
        ASSERT_TRUE(s.wait_events(1));  // the message, replayed
        ASSERT_EQ(s.status, 200);
        EXPECT_EQ(json::parse(s.events[0].data).at("bot"), json::value(true));
    }
    EXPECT_EQ(with(read, "POST", "/rooms/lobby/messages", R"({"message":"x"})").status, 403);
    EXPECT_EQ(with(read, "PATCH", "/rooms/" + plans, R"({"topic":"t"})").status, 403);

    // rooms: makes rooms, changes any room's profile, lists private rooms too; posts nothing.
    r = with(rooms, "POST", "/rooms", R"({"visibility":"private","name":"Ops"})");
    EXPECT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(with(rooms, "PATCH", "/rooms/" + plans, R"({"topic":"Q4"})").status, 200);
    r = with(rooms, "GET", "/rooms");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find(plans), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find(dm), std::string::npos) << r.body;
    // A person sees no private room in the list.
    r = request(port(), "GET", "/rooms", "", jwt("dave"));
    EXPECT_EQ(r.body.find(plans), std::string::npos) << r.body;
    EXPECT_EQ(with(rooms, "POST", "/rooms/lobby/messages", R"({"message":"x"})").status, 403);

    // members: adds, bans, mutes and removes in a private room it is not in; nothing else.
    EXPECT_EQ(with(members, "PUT", "/rooms/" + plans + "/members/dave", "{}").status, 200);
    EXPECT_EQ(request(port(), "GET", "/rooms/" + plans + "/messages", "", jwt("dave")).status, 200);
    EXPECT_EQ(with(members, "PUT", "/rooms/" + plans + "/mutes/bob", "{}").status, 200);
    EXPECT_EQ(with(members, "PUT", "/rooms/" + plans + "/bans/dave", R"({"reason":"spam"})").status,
              200);
    EXPECT_EQ(request(port(), "GET", "/rooms/" + plans + "/messages", "", jwt("dave")).status, 404);
    EXPECT_EQ(with(members, "DELETE", "/rooms/" + plans + "/members/bob").status, 204);
    EXPECT_EQ(with(members, "GET", "/rooms/" + plans + "/messages").status, 403);
    EXPECT_EQ(with(members, "PATCH", "/rooms/" + plans, R"({"topic":"t"})").status, 403);

    // A wrong key, a made-up one and a revoked one get the same answer.
    const std::string wrong = pub.substr(0, pub.size() - 1) + (pub.back() == 'A' ? "B" : "A");
    auto refused = with(wrong, "POST", "/rooms/lobby/messages", R"({"message":"x"})");
    EXPECT_EQ(refused.status, 401);
    EXPECT_EQ(refused.body, R"({"status":401,"error":"unknown or revoked API key"})");
    EXPECT_EQ(with("sk_" + std::string(43, 'x'), "GET", "/me").body, refused.body);
    EXPECT_EQ(request(port(), "DELETE", "/admin/apikeys/ci-bot", "", jwt("root", {{"admin", true}}))
                  .status,
              204);
    EXPECT_EQ(with(pub, "POST", "/rooms/lobby/messages", R"({"message":"x"})").body, refused.body);
}

TEST_P(ApiKeys, ImpersonationNeedsItsScopeAndIsForPublishingOnly) {
    const std::string pub = make_key("poster", "publish");
    const std::string imp = make_key("relay", "publish,impersonate");
    ASSERT_FALSE(pub.empty() || imp.empty());
    auto r = with(pub, "POST", "/rooms/lobby/messages?as=alice", R"({"message":"x"})");
    EXPECT_EQ(r.status, 403) << r.body;
    EXPECT_NE(r.body.find("impersonate"), std::string::npos);
    r = with(imp, "POST", "/rooms/lobby/messages?as=alice", R"({"message":"from the app"})");
    ASSERT_EQ(r.status, 201) << r.body;
    auto b = body_of(r);
    EXPECT_EQ(b.at("user_id").as_string(), "alice");
    EXPECT_FALSE(b.contains("bot"));  // alice's message, not a bot's
    const auto id = b.at("id").as_int64();
    // As alice, it edits alice's message; as itself, it may not.
    EXPECT_EQ(with(imp, "PATCH", "/rooms/lobby/messages/" + std::to_string(id) + "?as=alice",
                   R"({"message":"edited"})")
                  .status,
              200);
    EXPECT_EQ(
        with(imp, "PATCH", "/rooms/lobby/messages/" + std::to_string(id), R"({"message":"mine?"})")
            .status,
        403);
    // With alice's rights only: a private room she is not in does not exist for it.
    r = request(port(), "POST", "/rooms", R"({"visibility":"private"})", jwt("bob"));
    ASSERT_EQ(r.status, 201);
    const std::string secret(body_of(r).at("room").as_string());
    EXPECT_EQ(
        with(imp, "POST", "/rooms/" + secret + "/messages?as=alice", R"({"message":"x"})").status,
        404);
    // Reading as someone else is not publishing.
    r = with(imp, "GET", "/me/rooms?as=alice");
    EXPECT_EQ(r.status, 403) << r.body;
    EXPECT_EQ(with(imp, "GET", "/rooms/lobby/messages?as=alice").status, 403);
}

TEST_P(ApiKeys, OnlyAdminsManageKeysAndTheKeyIsShownOnce) {
    const Headers root = jwt("root", {{"admin", true}});
    auto r = request(port(), "POST", "/admin/apikeys", R"({"name":"k1","scopes":["publish"]})",
                     jwt("alice"));
    EXPECT_EQ(r.status, 403) << r.body;
    EXPECT_EQ(request(port(), "GET", "/admin/apikeys", "", jwt("alice")).status, 403);
    // Bad bodies, each answered with why.
    for (const char* bad :
         {R"({"name":"k1"})", R"({"name":"k 1","scopes":"publish"})",
          R"({"name":"k1","scopes":"publish,fly"})", R"({"name":"k1","scopes":[]})",
          R"({"name":"k1","scopes":"read","color":"red"})", "[1]"}) {
        r = request(port(), "POST", "/admin/apikeys", bad, root);
        EXPECT_EQ(r.status, 400) << bad << " " << r.body;
        EXPECT_TRUE(body_of(r).contains("error"));
    }
    r = request(port(), "POST", "/admin/apikeys",
                R"({"name":"ops","scopes":"admin","as":"ops-bot"})", root);
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string admin(body_of(r).at("key").as_string());
    EXPECT_EQ(body_of(r).at("user_id").as_string(), "ops-bot");
    EXPECT_EQ(body_of(r).at("created_by").as_string(), "root");
    // A key with the admin scope manages keys itself.
    r = with(admin, "POST", "/admin/apikeys", R"({"name":"ci","scopes":["publish","read"]})");
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string ci(body_of(r).at("key").as_string());
    EXPECT_EQ(with(admin, "POST", "/admin/apikeys", R"({"name":"ci","scopes":"read"})").status,
              409);
    EXPECT_EQ(with(ci, "POST", "/rooms/lobby/messages", R"({"message":"hi"})").status, 201);
    r = with(admin, "GET", "/admin/apikeys");
    ASSERT_EQ(r.status, 200) << r.body;
    auto keys = body_of(r).at("keys").as_array();
    ASSERT_EQ(keys.size(), 2u);
    EXPECT_EQ(keys[0].at("name").as_string(), "ci");
    EXPECT_EQ(keys[0].at("scopes"), json::parse(R"(["publish","read"])"));
    EXPECT_GT(keys[0].at("last_used").as_int64(), 0);
    // Never the key, nor its hash.
    EXPECT_EQ(r.body.find(ci), std::string::npos);
    EXPECT_FALSE(keys[0].as_object().contains("key"));
    EXPECT_FALSE(keys[0].as_object().contains("hash"));
    r = with(ci, "GET", "/me");
    EXPECT_EQ(body_of(r).at("auth").as_string(), "apikey");
    EXPECT_EQ(body_of(r).at("key").as_string(), "ci");
    EXPECT_EQ(with(admin, "DELETE", "/admin/apikeys/ci").status, 204);
    EXPECT_EQ(with(admin, "DELETE", "/admin/apikeys/ci").status, 404);
    EXPECT_EQ(with(ci, "GET", "/me").status, 401);
}

INSTANTIATE_TEST_SUITE_P(Stores, ApiKeys, ::testing::Values("memory", "sqlite", "redis"),
                         [](const auto& info) { return info.param; });

// `ssechat apikey` beside a running server: the key works at once, and revoking it ends its
// stream and refuses it within a second; the bot flag is kept across a restart.
TEST(ApiKeysCli, MadeListedAndRevokedBesideARunningServer) {
    const std::string dir = temp_dir();
    const std::vector<std::string> store{"--data", dir};
    auto cli = [&](std::vector<std::string> args) {
        args.insert(args.begin(), "apikey");
        args.insert(args.end(), store.begin(), store.end());
        return run_binary(args, 20s);
    };
    auto srv = std::make_unique<Server>(
        std::vector<std::string>{"--data", dir, "--jwt-secret", kSecret, "--publish-rate", "0"});
    auto made = cli({"create", "--name", "ci-bot", "--scopes", "publish,read"});
    ASSERT_EQ(made.code, 0) << made.out;
    const std::string k = made.out.substr(0, made.out.find('\n'));
    ASSERT_EQ(k.substr(0, 3), "sk_") << made.out;
    EXPECT_EQ(cli({"create", "--name", "ci-bot", "--scopes", "read"}).code, 2);
    EXPECT_EQ(cli({"create", "--name", "x", "--scopes", "fly"}).code, 2);
    auto list = cli({"list"});
    EXPECT_EQ(list.code, 0);
    EXPECT_NE(list.out.find("ci-bot\tpublish,read\tci-bot"), std::string::npos) << list.out;
    EXPECT_EQ(list.out.find(k), std::string::npos);

    auto r =
        request(srv->port(), "POST", "/rooms/builds/messages", R"({"message":"green"})", key(k));
    ASSERT_EQ(r.status, 201) << r.body;
    SseClient s(srv->port(), "/rooms/builds/events?presence=0", key(k));
    ASSERT_TRUE(s.wait_events(1));  // the message, replayed
    ASSERT_EQ(s.status, 200);
    auto revoked = cli({"revoke", "ci-bot"});
    ASSERT_EQ(revoked.code, 0) << revoked.out;
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(s.wait_closed(1500ms));
    EXPECT_TRUE(eventually(
        [&] { return request(srv->port(), "GET", "/me", "", key(k)).status == 401; }, 1500ms));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
    EXPECT_EQ(cli({"revoke", "ci-bot"}).code, 2);

    // The bot's message says so after a restart: the flag is stored, not remembered.
    srv.reset();
    srv = std::make_unique<Server>(std::vector<std::string>{"--data", dir});
    r = request(srv->port(), "GET", "/rooms/builds/messages?id=x");
    ASSERT_EQ(r.status, 200) << r.body;
    auto m = body_of(r).at("messages").as_array().at(0);
    EXPECT_EQ(m.at("bot"), json::value(true));
}

// Two nodes on one Redis: a key revoked on one stops working on the other within a second,
// and the stream it holds there ends.
TEST(ApiKeysCluster, ARevokeOnOneNodeIsSeenOnTheOther) {
    RedisServer redis;
    std::vector<std::string> args{"--store",   "redis",        "--redis",
                                  redis.url(), "--jwt-secret", kSecret};
    Server a(args), b(args);
    const Headers root = jwt("root", {{"admin", true}});
    auto r = request(a.port(), "POST", "/admin/apikeys",
                     R"({"name":"bot","scopes":"read,publish"})", root);
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string k(body_of(r).at("key").as_string());
    ASSERT_EQ(
        request(b.port(), "POST", "/rooms/lobby/messages", R"({"message":"hi"})", key(k)).status,
        201);
    SseClient s(b.port(), "/rooms/lobby/events?presence=0", key(k));
    ASSERT_TRUE(s.wait_events(1));  // the message, replayed
    ASSERT_EQ(s.status, 200);
    ASSERT_EQ(request(a.port(), "DELETE", "/admin/apikeys/bot", "", root).status, 204);
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(s.wait_closed(1500ms));
    EXPECT_TRUE(eventually(
        [&] { return request(b.port(), "GET", "/me", "", key(k)).status == 401; }, 1500ms));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
}

}  // namespace
