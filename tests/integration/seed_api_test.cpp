// The seed tutorial's API, byte for byte, against the real binary.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "harness.hpp"

using namespace itest;

namespace {
const std::string kOk = R"({"status":200,"error":"Message Sent Succesfully"})";
const std::string kBad = R"({"status":400,"error":"Bad Request"})";
}  // namespace

TEST(SeedApi, CurlTranscriptReproducesExactly) {
    Server srv;
    // curl --request POST 'http://localhost:3000/message?id=1234'
    //   --header 'Content-Type: application/json' --data-raw '{ "message": "Hi" }'
    auto r = post_json(srv.port(), "/message?id=1234", R"({ "message": "Hi" })");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, kOk);
    EXPECT_EQ(r.header("content-type"), "application/json; charset=utf-8");
    // curl --request GET 'http://localhost:3000/messages' --header 'Accept: text/event-stream'
    SseClient c(srv.port(), "/messages");
    ASSERT_TRUE(c.wait_until([&] { return c.body.size() >= 43; }));
    EXPECT_EQ(c.status, 200);
    EXPECT_EQ(c.body, "data: [{\"user_id\":\"1234\",\"message\":\"Hi\"}]\n\n");
    EXPECT_NE(c.head.find("Content-Type: text/event-stream\r\n"), std::string::npos);
    EXPECT_NE(c.head.find("Cache-Control: no-cache\r\n"), std::string::npos);
    EXPECT_NE(c.head.find("Connection: keep-alive\r\n"), std::string::npos);
    EXPECT_NE(c.head.find("Access-Control-Allow-Origin: *\r\n"), std::string::npos);
}

TEST(SeedApi, BannerNamesHostAndPort) {
    Server srv;
    EXPECT_EQ(srv.banner(),
              "Server is listening at http://localhost:" + std::to_string(srv.port()));
}

TEST(SeedApi, EmptyHistoryIsAnEmptyArray) {
    Server srv;
    SseClient c(srv.port(), "/messages?id=x");
    ASSERT_TRUE(c.wait_events(1));
    EXPECT_EQ(c.events[0].data, "[]");
}

TEST(SeedApi, OthersGetTheWholeArraySenderDoesNot) {
    Server srv;
    SseClient alice(srv.port(), "/messages?id=alice"), bob(srv.port(), "/messages?id=bob");
    ASSERT_TRUE(alice.wait_events(1));
    ASSERT_TRUE(bob.wait_events(1));
    ASSERT_EQ(post_json(srv.port(), "/message?id=alice", R"({"message":"one"})").body, kOk);
    ASSERT_TRUE(bob.wait_events(2));
    EXPECT_EQ(bob.events[1].data, R"([{"user_id":"alice","message":"one"}])");
    ASSERT_EQ(post_json(srv.port(), "/message?id=bob", R"({"message":"two"})").body, kOk);
    ASSERT_TRUE(alice.wait_events(2));
    EXPECT_EQ(alice.events[1].data,
              R"([{"user_id":"alice","message":"one"},{"user_id":"bob","message":"two"}])");
    alice.drain(200ms);
    bob.drain(200ms);
    EXPECT_EQ(alice.events.size(), 2u);  // never its own message
    EXPECT_EQ(bob.events.size(), 2u);
}

TEST(SeedApi, WholeUserIdsAreCompared) {
    // The seed split ids at '_': a_b got its own messages, and "a" silenced "a_b".
    Server srv;
    SseClient ab(srv.port(), "/messages?id=a_b"), a(srv.port(), "/messages?id=a");
    ASSERT_TRUE(ab.wait_events(1));
    ASSERT_TRUE(a.wait_events(1));
    post_json(srv.port(), "/message?id=a_b", R"({"message":"from a_b"})");
    ASSERT_TRUE(a.wait_events(2));  // "a" is another user and hears "a_b"
    post_json(srv.port(), "/message?id=a", R"({"message":"from a"})");
    ASSERT_TRUE(ab.wait_events(2));  // and "a_b" hears "a"
    ab.drain(200ms);
    a.drain(200ms);
    EXPECT_EQ(ab.events.size(), 2u);
    EXPECT_EQ(a.events.size(), 2u);
    EXPECT_NE(ab.events[1].data.find("from a\""), std::string::npos);
}

TEST(SeedApi, MissingIdMeansGuest) {
    Server srv;
    SseClient g(srv.port(), "/messages");
    ASSERT_TRUE(g.wait_events(1));
    post_json(srv.port(), "/message?id=guest", R"({"message":"me"})");
    post_json(srv.port(), "/message?id=other", R"({"message":"you"})");
    ASSERT_TRUE(g.wait_events(2));
    g.drain(200ms);
    ASSERT_EQ(g.events.size(), 2u);
    EXPECT_NE(g.events[1].data.find("you"), std::string::npos);
}

TEST(SeedApi, UrlencodedBody) {
    Server srv;
    auto r = request(srv.port(), "POST", "/message?id=u", "message=%20hello+world%21%20",
                     {{"Content-Type", "application/x-www-form-urlencoded"}});
    EXPECT_EQ(r.body, kOk);
    SseClient c(srv.port(), "/messages");
    ASSERT_TRUE(c.wait_events(1));
    EXPECT_EQ(c.events[0].data, R"([{"user_id":"u","message":"hello world!"}])");
}

TEST(SeedApi, EveryBadRequestIs400AndChangesNothing) {
    Server srv;
    struct Case {
        std::string target, type, body;
    } cases[] = {
        {"/message", "application/json", R"({"message":"no id"})"},
        {"/message?id=", "application/json", R"({"message":"empty id"})"},
        {"/message?id=u", "application/json", R"({})"},
        {"/message?id=u", "application/json", R"({"message":""})"},
        {"/message?id=u", "application/json", R"({"message":" \t\n "})"},
        {"/message?id=u", "application/json", R"({"message":)"},
        {"/message?id=u", "application/json", R"(["message","x"])"},
        {"/message?id=u", "application/json", R"("message")"},
        {"/message?id=u", "application/json", R"({"message":42})"},
        {"/message?id=u", "text/plain", "message=x"},
        {"/message?id=u", "", R"({"message":"x"})"},
        {"/message?id=u", "application/x-www-form-urlencoded", "text=x"},
        {"/message?id=%zz", "application/json", R"({"message":"x"})"},
    };
    for (const auto& c : cases) {
        Headers h;
        if (!c.type.empty()) h.push_back({"Content-Type", c.type});
        auto r = request(srv.port(), "POST", c.target, c.body, h);
        EXPECT_EQ(r.status, 400) << c.target << " " << c.body;
        EXPECT_EQ(r.body, kBad) << c.target << " " << c.body;
        EXPECT_EQ(r.header("access-control-allow-origin"), "*");
    }
    SseClient s(srv.port(), "/messages");
    ASSERT_TRUE(s.wait_events(1));
    EXPECT_EQ(s.events[0].data, "[]");
}

TEST(SeedApi, TextRoundTripsExactly) {
    Server srv;
    std::string text = "quote \" backslash \\ newline\nsecond line\r\n tab\t emoji 😀 ünï </script>";
    boost::json::object body;
    body["message"] = text;
    ASSERT_EQ(post_json(srv.port(), "/message?id=%C3%A9%20x", boost::json::serialize(body)).body,
              kOk);
    SseClient c(srv.port(), "/messages");
    ASSERT_TRUE(c.wait_events(1));
    auto arr = boost::json::parse(c.events[0].data).as_array();
    ASSERT_EQ(arr.size(), 1u);
    EXPECT_EQ(arr[0].at("user_id").as_string(), "é x");
    EXPECT_EQ(arr[0].at("message").as_string(), text);  // trimmed ends only; inside is intact
    EXPECT_EQ(c.body.find('\n'), c.body.size() - 2);    // one data line, whatever the text held
}

TEST(SeedApi, CorsPreflightAndHeaders) {
    Server srv;
    auto r = request(srv.port(), "OPTIONS", "/message?id=1", "",
                     {{"Origin", "http://example.test"},
                      {"Access-Control-Request-Method", "POST"},
                      {"Access-Control-Request-Headers", "content-type,x-custom"}});
    EXPECT_EQ(r.status, 204);
    EXPECT_EQ(r.header("access-control-allow-origin"), "*");
    EXPECT_EQ(r.header("access-control-allow-methods"), "GET,HEAD,PUT,PATCH,POST,DELETE");
    EXPECT_EQ(r.header("access-control-allow-headers"), "content-type,x-custom");
    EXPECT_EQ(r.body, "");
    auto p = post_json(srv.port(), "/message?id=1", R"({"message":"x"})");
    EXPECT_EQ(p.header("access-control-allow-origin"), "*");
    auto nf = request(srv.port(), "GET", "/nope");
    EXPECT_EQ(nf.status, 404);
    EXPECT_EQ(nf.header("access-control-allow-origin"), "*");
    EXPECT_NE(nf.body.find("\"error\""), std::string::npos);
}

TEST(SeedApi, ThousandSubscribersAllReceiveOneMessage) {
    Server srv;
    std::vector<std::unique_ptr<SseClient>> clients;
    for (int i = 0; i < 1000; ++i)
        clients.push_back(
            std::make_unique<SseClient>(srv.port(), "/messages?id=c" + std::to_string(i)));
    for (auto& c : clients) ASSERT_TRUE(c->wait_events(1));
    ASSERT_EQ(post_json(srv.port(), "/message?id=sender", R"({"message":"to all"})").body, kOk);
    size_t got = 0;
    for (auto& c : clients)
        if (c->wait_events(2) &&
            c->events[1].data == R"([{"user_id":"sender","message":"to all"}])")
            ++got;
    EXPECT_EQ(got, 1000u);
}
