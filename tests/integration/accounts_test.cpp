// Accounts (--accounts) on every store: signing in, guessing limits, sessions and what ending
// one does to its streams, passwords, invites, sign-up, CSRF, disabled users, `ssechat user`
// beside a running server, and a database from before accounts.
#include <gtest/gtest.h>
#include <openssl/hmac.h>
#include <sqlite3.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <thread>

#include "harness.hpp"
#include "services.hpp"
#include "util/text.hpp"

using namespace itest;
namespace json = boost::json;

namespace {

constexpr const char* kSecret = "accounts-secret";
constexpr const char* kRootPassword = "root-password-long";

std::string token(const std::string& sub, json::object extra = {}) {
    return hs256_token(kSecret, sub, extra);
}

json::object body_of(const Response& r) {
    return json::parse(r.body).as_object();
}

// The stream's head arrived, and it is a 200.
bool opened(SseClient& s) {
    s.wait_until([&] { return s.status != 0; }, 3s);
    return s.status == 200;
}

// The session secret of a Set-Cookie, or "".
std::string secret_of(const Response& r) {
    std::string c = r.header("set-cookie");
    auto p = c.find("ssechat_session=");
    if (p == std::string::npos) return {};
    p += 16;
    return c.substr(p, c.find(';', p) - p);
}

class Accounts : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        ::setenv("SSECHAT_FIRST_ADMIN_PASSWORD", kRootPassword, 1);
        if (GetParam() == "sqlite") {
            dir_ = temp_dir();
            store_ = {"--store", "sqlite", "--data", dir_};
        } else if (GetParam() == "redis") {
            redis_ = std::make_unique<RedisServer>();
            store_ = {"--store", "redis", "--redis", redis_->url()};
        } else {
            store_ = {"--store", "memory"};
        }
        start();
    }
    void start(std::vector<std::string> more = {}) {
        std::vector<std::string> args{
            "--publish-rate", "0", "--accounts", "--first-admin", "root", "--jwt-secret", kSecret};
        args.insert(args.end(), store_.begin(), store_.end());
        args.insert(args.end(), more.begin(), more.end());
        srv_.reset();
        srv_ = std::make_unique<Server>(args);
    }
    int port() const { return srv_->port(); }
    std::string origin() const { return "http://localhost:" + std::to_string(port()); }
    Headers cookie(const std::string& secret, bool with_origin = true) const {
        Headers h{{"Cookie", "ssechat_session=" + secret}, {"Content-Type", "application/json"}};
        if (with_origin) h.emplace_back("Origin", origin());
        return h;
    }
    Response login(const std::string& user, const std::string& password,
                   const std::string& agent = "test-agent") {
        return request(port(), "POST", "/auth/login",
                       json::serialize(json::object{{"user_id", user}, {"password", password}}),
                       {{"Content-Type", "application/json"}, {"User-Agent", agent}});
    }
    std::string signed_in(const std::string& user, const std::string& password,
                          const std::string& agent = "test-agent") {
        auto r = login(user, password, agent);
        EXPECT_EQ(r.status, 200) << r.body;
        return secret_of(r);
    }
    Response call(const std::string& secret, const std::string& method, const std::string& target,
                  const std::string& body = "") {
        return request(port(), method, target, body, cookie(secret));
    }
    // An account made through an invite from root; its session secret.
    std::string make_user(const std::string& user, const std::string& password) {
        auto root = signed_in("root", kRootPassword);
        auto inv = call(root, "POST", "/auth/invites", "{}");
        EXPECT_EQ(inv.status, 201) << inv.body;
        std::string code(body_of(inv).at("code").as_string());
        auto r = request(port(), "POST", "/auth/invites/" + code + "/accept",
                         json::serialize(json::object{{"user_id", user}, {"password", password}}),
                         {{"Content-Type", "application/json"}});
        EXPECT_EQ(r.status, 201) << r.body;
        return secret_of(r);
    }
    // `ssechat user ...` on this server's store.
    Exit cli(std::vector<std::string> args) {
        args.insert(args.begin(), "user");
        args.insert(args.end(), store_.begin(), store_.end());
        return run_binary(args, 20s);
    }
    std::string dir_;
    std::vector<std::string> store_;
    std::unique_ptr<RedisServer> redis_;
    std::unique_ptr<Server> srv_;
};

TEST_P(Accounts, SignInAnswersAWrongPasswordAndAnUnknownUserAlike) {
    auto wrong = login("root", "not-the-password");
    auto unknown = login("nobody", "not-the-password");
    EXPECT_EQ(wrong.status, 401);
    EXPECT_EQ(unknown.status, 401);
    EXPECT_EQ(wrong.body, unknown.body);
    EXPECT_EQ(wrong.body, R"({"status":401,"error":"wrong user id or password"})");
    EXPECT_EQ(wrong.header("set-cookie"), "");

    auto ok = login("root", kRootPassword);
    ASSERT_EQ(ok.status, 200) << ok.body;
    EXPECT_EQ(ok.body, R"({"user_id":"root","display_name":"root","admin":true})");
    std::string set = ok.header("set-cookie");
    EXPECT_NE(set.find("HttpOnly"), std::string::npos) << set;
    EXPECT_NE(set.find("SameSite=Lax"), std::string::npos) << set;
    EXPECT_NE(set.find("Path=/"), std::string::npos) << set;
    EXPECT_EQ(set.find("Secure"), std::string::npos) << "not over plain HTTP: " << set;
    std::string secret = secret_of(ok);
    EXPECT_GE(secret.size(), 43u);  // 256 bits

    auto me = call(secret, "GET", "/me");
    ASSERT_EQ(me.status, 200) << me.body;
    auto o = body_of(me);
    EXPECT_EQ(o.at("auth"), "session");
    EXPECT_EQ(o.at("user_id"), "root");
    EXPECT_EQ(o.at("admin"), true);

    // Nothing, a made-up cookie, and ?id= are all refused.
    EXPECT_EQ(request(port(), "GET", "/me").status, 401);
    EXPECT_EQ(request(port(), "GET", "/rooms").status, 401);
    EXPECT_EQ(call("made-up", "GET", "/me").status, 401);
    auto by_id = request(port(), "GET", "/rooms/general/messages?id=root");
    EXPECT_EQ(by_id.status, 401);
    EXPECT_NE(by_id.body.find("?id="), std::string::npos) << by_id.body;
    // A token still works for API clients, and says so.
    auto tok = request(port(), "GET", "/me", "", {{"Authorization", "Bearer " + token("api")}});
    ASSERT_EQ(tok.status, 200) << tok.body;
    EXPECT_EQ(body_of(tok).at("auth"), "token");

    // Signed in, the user posts as themself.
    auto posted = call(secret, "POST", "/rooms/general/messages", R"({"message":"hi"})");
    ASSERT_EQ(posted.status, 201) << posted.body;
    EXPECT_EQ(body_of(posted).at("user_id"), "root");
}

TEST_P(Accounts, GuessingIsThrottledPerAccountEvenForTheRightPassword) {
    make_user("bob", "bobs-password-1");
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(login("root", "wrong-password-" + std::to_string(i)).status, 401);
    auto sixth = login("root", "wrong-password-x");
    EXPECT_EQ(sixth.status, 429) << sixth.body;
    auto right = login("root", kRootPassword);
    EXPECT_EQ(right.status, 429) << "the right password is refused during the throttle";
    int retry = std::atoi(right.header("retry-after").c_str());
    EXPECT_GT(retry, 0);
    EXPECT_LE(retry, 15 * 60) << "never locked out for longer than 15 minutes";
    // Another account is not locked by root's failures.
    EXPECT_EQ(login("bob", "bobs-password-1").status, 200);
}

TEST_P(Accounts, GuessingIsThrottledPerAddress) {
    // Thirty failures from one address, spread over accounts that each stay under five.
    for (int i = 0; i < 30; ++i) {
        auto r = login("user" + std::to_string(i % 10), "wrong-password-x");
        ASSERT_EQ(r.status, 401) << i << " " << r.body;
    }
    auto next = login("root", kRootPassword);
    EXPECT_EQ(next.status, 429) << next.body;
    EXPECT_GT(std::atoi(next.header("retry-after").c_str()), 0);
}

TEST_P(Accounts, SessionsAreListedAndEndingOneEndsItsStreams) {
    auto first = signed_in("root", kRootPassword, "browser-one");
    auto second = signed_in("root", kRootPassword, "browser-two");
    auto list = call(first, "GET", "/me/sessions");
    ASSERT_EQ(list.status, 200) << list.body;
    auto sessions = body_of(list).at("sessions").as_array();
    ASSERT_EQ(sessions.size(), 2u) << list.body;
    std::string other_id;
    for (const auto& s : sessions) {
        const auto& o = s.as_object();
        EXPECT_TRUE(o.contains("created") && o.contains("last_seen"));
        bool current = o.at("current").as_bool();
        EXPECT_EQ(current, o.at("user_agent") == "browser-one") << list.body;
        if (!current) other_id = std::string(o.at("id").as_string());
        EXPECT_EQ(list.body.find(first), std::string::npos) << "the secret is never listed";
    }
    SseClient room_stream(port(), "/rooms/general/events", cookie(second, false));
    SseClient user_stream(port(), "/me/events", cookie(second, false));
    ASSERT_TRUE(opened(room_stream));
    ASSERT_TRUE(opened(user_stream));
    ASSERT_TRUE(user_stream.wait_events(1));

    auto ended = call(first, "DELETE", "/me/sessions/" + other_id);
    EXPECT_EQ(ended.status, 204) << ended.body;
    EXPECT_TRUE(room_stream.wait_closed(2s)) << "the session's room stream ends";
    EXPECT_TRUE(user_stream.wait_closed(2s)) << "the session's user stream ends";
    EXPECT_EQ(call(second, "GET", "/me").status, 401);
    EXPECT_EQ(call(first, "GET", "/me").status, 200);
    EXPECT_EQ(call(first, "DELETE", "/me/sessions/" + other_id).status, 404);

    // logout-all ends this one too.
    auto third = signed_in("root", kRootPassword);
    SseClient s3(port(), "/me/events", cookie(third, false));
    ASSERT_TRUE(opened(s3));
    auto all = call(first, "POST", "/auth/logout-all");
    EXPECT_EQ(all.status, 204) << all.body;
    EXPECT_TRUE(s3.wait_closed(2s));
    EXPECT_EQ(call(first, "GET", "/me").status, 401);
    EXPECT_EQ(call(third, "GET", "/me").status, 401);

    // logout ends only its own.
    auto a = signed_in("root", kRootPassword), b = signed_in("root", kRootPassword);
    auto out = call(a, "POST", "/auth/logout");
    EXPECT_EQ(out.status, 204);
    EXPECT_NE(out.header("set-cookie").find("Max-Age=0"), std::string::npos);
    EXPECT_EQ(call(a, "GET", "/me").status, 401);
    EXPECT_EQ(call(b, "GET", "/me").status, 200);
}

TEST_P(Accounts, ChangingThePasswordEndsTheOtherSessions) {
    auto mine = make_user("bob", "bobs-password-1");
    auto other = signed_in("bob", "bobs-password-1");
    SseClient stream(port(), "/me/events", cookie(other, false));
    ASSERT_TRUE(opened(stream));
    EXPECT_EQ(
        call(mine, "PUT", "/me/password", R"({"old":"wrong-password-1","new":"bobs-password-2"})")
            .status,
        403);
    EXPECT_EQ(
        call(mine, "PUT", "/me/password", R"({"old":"bobs-password-1","new":"short"})").status,
        400);
    auto changed =
        call(mine, "PUT", "/me/password", R"({"old":"bobs-password-1","new":"bobs-password-2"})");
    EXPECT_EQ(changed.status, 204) << changed.body;
    EXPECT_TRUE(stream.wait_closed(2s));
    EXPECT_EQ(call(other, "GET", "/me").status, 401);
    EXPECT_EQ(call(mine, "GET", "/me").status, 200) << "this session stays";
    EXPECT_EQ(login("bob", "bobs-password-1").status, 401);
    EXPECT_EQ(login("bob", "bobs-password-2").status, 200);
}

TEST_P(Accounts, InvitesAreUsedOnceAndOnlyAdminsHandThemOut) {
    auto root = signed_in("root", kRootPassword);
    auto made = call(root, "POST", "/auth/invites", R"({"admin":false,"ttl_s":3600})");
    ASSERT_EQ(made.status, 201) << made.body;
    auto inv = body_of(made);
    std::string code(inv.at("code").as_string());
    EXPECT_EQ(inv.at("url").as_string(), "/#invite=" + code);
    EXPECT_GT(inv.at("expires").as_int64(), 0);
    auto listed = call(root, "GET", "/auth/invites");
    ASSERT_EQ(listed.status, 200);
    EXPECT_NE(listed.body.find(code), std::string::npos);
    EXPECT_NE(listed.body.find(R"("created_by":"root")"), std::string::npos) << listed.body;

    auto accept = [&](const std::string& c, const std::string& user) {
        return request(
            port(), "POST", "/auth/invites/" + c + "/accept",
            json::serialize(json::object{
                {"user_id", user}, {"password", "a-good-password"}, {"display_name", "Carol C"}}),
            {{"Content-Type", "application/json"}});
    };
    // A taken id is 409, and the invite can still be used.
    EXPECT_EQ(accept(code, "root").status, 409);
    auto carol = accept(code, "carol");
    ASSERT_EQ(carol.status, 201) << carol.body;
    EXPECT_EQ(body_of(carol).at("display_name"), "Carol C");
    std::string secret = secret_of(carol);
    EXPECT_EQ(call(secret, "GET", "/me").status, 200) << "accepting signs in";
    EXPECT_EQ(accept(code, "dave").status, 410) << "used";
    EXPECT_EQ(accept("no-such-code", "dave").status, 410);

    // Carol is no admin.
    EXPECT_EQ(call(secret, "POST", "/auth/invites", "{}").status, 403);
    EXPECT_EQ(call(secret, "GET", "/auth/invites").status, 403);

    // Withdrawn.
    auto second = body_of(call(root, "POST", "/auth/invites", "{}"));
    std::string code2(second.at("code").as_string());
    EXPECT_EQ(call(root, "DELETE", "/auth/invites/" + code2).status, 204);
    EXPECT_EQ(accept(code2, "dave").status, 410);
    EXPECT_EQ(call(root, "DELETE", "/auth/invites/" + code2).status, 404);

    // An admin invite makes an admin.
    auto third = body_of(call(root, "POST", "/auth/invites", R"({"admin":true})"));
    auto erin = accept(std::string(third.at("code").as_string()), "erin");
    ASSERT_EQ(erin.status, 201);
    EXPECT_EQ(body_of(erin).at("admin"), true);

    // Bad input.
    EXPECT_EQ(call(root, "POST", "/auth/invites", R"({"ttl_s":"soon"})").status, 400);
    EXPECT_EQ(call(root, "POST", "/auth/invites", R"({"extra":1})").status, 400);
    auto fourth = body_of(call(root, "POST", "/auth/invites", "{}"));
    std::string code4(fourth.at("code").as_string());
    auto weak = request(port(), "POST", "/auth/invites/" + code4 + "/accept",
                        R"({"user_id":"frank","password":"short"})");
    EXPECT_EQ(weak.status, 400);
    EXPECT_NE(weak.body.find("at least 10"), std::string::npos) << weak.body;
    EXPECT_EQ(request(port(), "POST", "/auth/invites/" + code4 + "/accept",
                      R"({"user_id":"bad\u0001id","password":"long-enough-1"})")
                  .status,
              400);
}

TEST_P(Accounts, AnExpiredInviteIsGone) {
    if (GetParam() == "memory") GTEST_SKIP() << "only the server holds a memory store";
    auto root = signed_in("root", kRootPassword);
    std::string code(
        body_of(call(root, "POST", "/auth/invites", R"({"ttl_s":60})")).at("code").as_string());
    // Its expiry moved into the past, in the store itself.
    if (GetParam() == "sqlite") {
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open((dir_ + "/ssechat.db").c_str(), &db), SQLITE_OK);
        sqlite3_busy_timeout(db, 5000);
        std::string sql = "UPDATE invites SET expires=1 WHERE code='" + code + "'";
        ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
        sqlite3_close(db);
    } else {
        redis_->cli({"HSET", "ssechat:invite:" + code, "e", "1"});
    }
    auto r = request(port(), "POST", "/auth/invites/" + code + "/accept",
                     R"({"user_id":"late","password":"long-enough-1"})");
    EXPECT_EQ(r.status, 410) << r.body;
}

TEST_P(Accounts, CookieRequestsThatChangeThingsMustComeFromThisOrigin) {
    auto root = signed_in("root", kRootPassword);
    const std::string post = R"({"message":"csrf?"})";
    auto bare = request(port(), "POST", "/rooms/general/messages", post, cookie(root, false));
    EXPECT_EQ(bare.status, 403);
    EXPECT_EQ(bare.body, R"({"status":403,"error":"cross-site request refused"})");
    Headers foreign = cookie(root, false);
    foreign.emplace_back("Origin", "http://evil.example");
    EXPECT_EQ(request(port(), "POST", "/rooms/general/messages", post, foreign).status, 403);
    EXPECT_EQ(request(port(), "DELETE", "/me/rooms/general", "", foreign).status, 403);
    EXPECT_EQ(call(root, "POST", "/rooms/general/messages", post).status, 201);
    // Nor may a page elsewhere sign a browser in.
    auto login_elsewhere = request(
        port(), "POST", "/auth/login", R"({"user_id":"root","password":"root-password-long"})",
        {{"Content-Type", "application/json"}, {"Origin", "http://evil.example"}});
    EXPECT_EQ(login_elsewhere.status, 403);
    EXPECT_EQ(login_elsewhere.header("set-cookie"), "");
    // Reading needs no Origin.
    EXPECT_EQ(request(port(), "GET", "/me", "", cookie(root, false)).status, 200);
    // A token is no ambient credential: no Origin needed.
    auto tok = request(
        port(), "POST", "/rooms/general/messages", post,
        {{"Authorization", "Bearer " + token("api")}, {"Content-Type", "application/json"}});
    EXPECT_EQ(tok.status, 201) << tok.body;
}

TEST_P(Accounts, ADisabledUserIsSignedOutAndCannotSignIn) {
    if (GetParam() == "memory") GTEST_SKIP() << "ssechat user needs a store outside the server";
    auto bob = make_user("bob", "bobs-password-1");
    SseClient stream(port(), "/me/events", cookie(bob, false));
    ASSERT_TRUE(opened(stream));
    auto off = cli({"disable", "bob"});
    ASSERT_EQ(off.code, 0) << off.out;
    EXPECT_TRUE(stream.wait_closed(1500ms)) << "the CLI's change reaches the running server";
    EXPECT_EQ(call(bob, "GET", "/me").status, 401);
    auto again = login("bob", "bobs-password-1");
    EXPECT_EQ(again.status, 403);
    EXPECT_EQ(again.body, R"({"status":403,"error":"account disabled"})");
    EXPECT_EQ(login("bob", "wrong-password-1").status, 401) << "only the right password learns it";
    ASSERT_EQ(cli({"enable", "bob"}).code, 0);
    EXPECT_EQ(login("bob", "bobs-password-1").status, 200);
}

TEST_P(Accounts, TheCommandLineManagesAccountsBesideARunningServer) {
    if (GetParam() == "memory") GTEST_SKIP() << "ssechat user needs a store outside the server";
    auto made = cli({"add", "dana", "--display-name", "Dana D"});
    ASSERT_EQ(made.code, 0) << made.out;
    std::string pw = made.out.substr(0, made.out.find('\n'));
    EXPECT_EQ(login("dana", pw).status, 200) << made.out;
    EXPECT_NE(cli({"add", "dana"}).code, 0) << "taken";
    auto list = cli({"list"});
    EXPECT_NE(list.out.find("dana\tDana D\t-\t-"), std::string::npos) << list.out;
    EXPECT_NE(list.out.find("root\troot\tadmin"), std::string::npos) << list.out;
    auto link = cli({"invite", "--public-url", "https://chat.example"});
    ASSERT_EQ(link.code, 0) << link.out;
    ASSERT_EQ(link.out.rfind("https://chat.example/#invite=", 0), 0u) << link.out;
    std::string code = link.out.substr(29, link.out.find('\n') - 29);
    EXPECT_EQ(request(port(), "POST", "/auth/invites/" + code + "/accept",
                      R"({"user_id":"ed","password":"long-enough-1"})")
                  .status,
              201);
    auto pass = cli({"passwd", "dana"});
    ASSERT_EQ(pass.code, 0);
    EXPECT_EQ(login("dana", pw).status, 401);
    EXPECT_EQ(login("dana", pass.out.substr(0, pass.out.find('\n'))).status, 200);
}

TEST_P(Accounts, NamesAreLookedUpAndChanged) {
    auto bob = make_user("bob", "bobs-password-1");
    auto patched = call(bob, "PATCH", "/me", R"({"display_name":"Bob Builder"})");
    ASSERT_EQ(patched.status, 200) << patched.body;
    EXPECT_EQ(body_of(patched).at("display_name"), "Bob Builder");
    EXPECT_EQ(call(bob, "PATCH", "/me", R"({"display_name":"a\nb"})").status, 400);
    EXPECT_EQ(call(bob, "PATCH", "/me", R"({"nick":"x"})").status, 400);
    auto one = call(bob, "GET", "/users/bob");
    ASSERT_EQ(one.status, 200);
    EXPECT_EQ(one.body, R"({"user_id":"bob","display_name":"Bob Builder"})");
    EXPECT_EQ(call(bob, "GET", "/users/nobody").status, 404);
    auto many = call(bob, "GET", "/users?ids=root,nobody,bob");
    ASSERT_EQ(many.status, 200);
    EXPECT_EQ(
        many.body,
        R"({"users":[{"user_id":"root","display_name":"root"},{"user_id":"bob","display_name":"Bob Builder"}]})");
    std::string lots = "a";
    for (int i = 0; i < 100; ++i) lots += ",a" + std::to_string(i);
    EXPECT_EQ(call(bob, "GET", "/users?ids=" + lots).status, 400);
    EXPECT_EQ(body_of(call(bob, "GET", "/me")).at("display_name"), "Bob Builder");
}

TEST_P(Accounts, SignUpIsOpenOnlyWhenSaid) {
    auto closed =
        request(port(), "POST", "/auth/signup", R"({"user_id":"gina","password":"long-enough-1"})");
    EXPECT_EQ(closed.status, 403) << closed.body;
    start({"--signup", "open"});
    auto open =
        request(port(), "POST", "/auth/signup", R"({"user_id":"gina","password":"long-enough-1"})");
    EXPECT_EQ(open.status, 201) << open.body;
    EXPECT_EQ(body_of(open).at("admin"), false);
    EXPECT_EQ(
        request(port(), "POST", "/auth/signup", R"({"user_id":"gina","password":"long-enough-1"})")
            .status,
        409);
}

INSTANTIATE_TEST_SUITE_P(Stores, Accounts, ::testing::Values("memory", "sqlite", "redis"),
                         [](const auto& info) { return info.param; });

// A database from the release before accounts opens with its rooms, and gains accounts.
TEST(AccountsUpgrade, ADatabaseFromBeforeAccountsKeepsItsMessages) {
    std::string dir = temp_dir();
    {
        Server old({"--store", "sqlite", "--data", dir});
        publish(old.port(), "general", "amy", "from before");
    }
    ::setenv("SSECHAT_FIRST_ADMIN_PASSWORD", kRootPassword, 1);
    Server now({"--store", "sqlite", "--data", dir, "--accounts", "--first-admin", "root"});
    auto r = request(now.port(), "POST", "/auth/login",
                     R"({"user_id":"root","password":"root-password-long"})");
    ASSERT_EQ(r.status, 200) << r.body;
    auto history = request(now.port(), "GET", "/rooms/general/messages", "",
                           {{"Cookie", "ssechat_session=" + secret_of(r)}});
    ASSERT_EQ(history.status, 200);
    EXPECT_NE(history.body.find("from before"), std::string::npos) << history.body;
}

// Redis written before accounts: its rooms stay, and accounts are added beside them.
TEST(AccountsUpgrade, ARedisFromBeforeAccountsKeepsItsMessages) {
    RedisServer redis;
    {
        Server old({"--store", "redis", "--redis", redis.url()});
        publish(old.port(), "general", "amy", "from before");
    }
    ::setenv("SSECHAT_FIRST_ADMIN_PASSWORD", kRootPassword, 1);
    Server now({"--store", "redis", "--redis", redis.url(), "--accounts", "--first-admin", "root"});
    auto r = request(now.port(), "POST", "/auth/login",
                     R"({"user_id":"root","password":"root-password-long"})");
    ASSERT_EQ(r.status, 200) << r.body;
    auto history = request(now.port(), "GET", "/rooms/general/messages", "",
                           {{"Cookie", "ssechat_session=" + secret_of(r)}});
    ASSERT_EQ(history.status, 200);
    EXPECT_NE(history.body.find("from before"), std::string::npos) << history.body;
}

// With Redis, a session ended on one node ends its streams on the other.
TEST(AccountsCluster, ASessionEndedOnOneNodeEndsItsStreamsOnAnother) {
    ::setenv("SSECHAT_FIRST_ADMIN_PASSWORD", kRootPassword, 1);
    RedisServer redis;
    std::vector<std::string> args{"--store",    "redis",         "--redis", redis.url(),
                                  "--accounts", "--first-admin", "root"};
    Server a(args), b(args);
    auto r = request(a.port(), "POST", "/auth/login",
                     R"({"user_id":"root","password":"root-password-long"})");
    ASSERT_EQ(r.status, 200);
    std::string secret = secret_of(r);
    SseClient on_b(b.port(), "/me/events", {{"Cookie", "ssechat_session=" + secret}});
    ASSERT_TRUE(opened(on_b)) << "the session works on every node";
    auto out = request(a.port(), "POST", "/auth/logout", "",
                       {{"Cookie", "ssechat_session=" + secret},
                        {"Origin", "http://localhost:" + std::to_string(a.port())}});
    ASSERT_EQ(out.status, 204) << out.body;
    EXPECT_TRUE(on_b.wait_closed(1500ms)) << "within a second, on the other node";
}

}  // namespace
