// Operations: command line, signals, disconnects, health, metrics, malformed HTTP.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "harness.hpp"

using namespace itest;

TEST(Operations, BadFlagsExitWith2AndOneLine) {
    for (auto args :
         std::vector<std::vector<std::string>>{{"--bogus"}, {"--port", "x"}, {"--threads", "0"}}) {
        auto e = run_binary(args);
        EXPECT_EQ(e.code, 2) << args[0];
        EXPECT_EQ(std::count(e.out.begin(), e.out.end(), '\n'), 1) << e.out;
    }
    auto h = run_binary({"--help"});
    EXPECT_EQ(h.code, 0);
    EXPECT_NE(h.out.find("--port"), std::string::npos);
    EXPECT_EQ(run_binary({"--version"}).code, 0);
}

TEST(Operations, SigtermEndsStreamsAndExitsZeroQuickly) {
    Server srv;
    SseClient a(srv.port(), "/messages"), b(srv.port(), "/rooms/x/events");
    ASSERT_TRUE(a.wait_events(1));
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(srv.terminate(3000ms), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2000ms);
    EXPECT_TRUE(a.wait_closed(1000ms));
    EXPECT_TRUE(b.wait_closed(1000ms));
}

TEST(Operations, DisconnectedClientsAreRemovedAtOnceWithoutErrors) {
    Server srv({"--store", "memory", "--threads", "2"});
    {
        std::vector<std::unique_ptr<SseClient>> cs;
        for (int i = 0; i < 20; ++i)
            cs.push_back(
                std::make_unique<SseClient>(srv.port(), "/messages?id=" + std::to_string(i)));
        for (auto& c : cs) ASSERT_TRUE(c->wait_events(1));
        EXPECT_EQ(metric(srv.port(), "ssechat_streams{api=\"seed\"}"), 20);
    }
    // Publishing to streams that just went away must not log errors.
    post_json(srv.port(), "/message?id=z", R"({"message":"into the void"})");
    for (int i = 0; i < 50 && metric(srv.port(), "ssechat_streams{api=\"seed\"}") != 0; ++i)
        std::this_thread::sleep_for(20ms);
    EXPECT_EQ(metric(srv.port(), "ssechat_streams{api=\"seed\"}"), 0);
    EXPECT_EQ(srv.terminate(), 0);
    EXPECT_EQ(srv.stderr_text().find("error"), std::string::npos) << srv.stderr_text();
}

TEST(Operations, HealthAndMetrics) {
    Server srv({"--data", temp_dir()});
    auto h = request(srv.port(), "GET", "/healthz");
    EXPECT_EQ(h.status, 200);
    post_json(srv.port(), "/message?id=a", R"({"message":"x"})");
    post_json(srv.port(), "/message?id=a", R"({"message":""})");
    auto m = request(srv.port(), "GET", "/metrics");
    EXPECT_EQ(m.status, 200);
    EXPECT_EQ(metric(srv.port(), "ssechat_publishes_total{outcome=\"ok\"}"), 1);
    EXPECT_EQ(metric(srv.port(), "ssechat_publishes_total{outcome=\"rejected\"}"), 1);
    EXPECT_NE(m.body.find("ssechat_store_commit_seconds_bucket"), std::string::npos);
    EXPECT_NE(m.body.find("ssechat_publish_seconds_count 1"), std::string::npos);
}

TEST(Operations, MalformedHttpGetsJson400AndServerStaysUp) {
    Server srv;
    for (std::string bad :
         {"GARBAGE\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", "GET /\r\n\r\n",
          "POST /message?id=a HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: "
          "chunked\r\n\r\n0\r\n\r\n",
          "POST /message?id=a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nxx\r\n"}) {
        auto out = raw(srv.port(), bad);
        EXPECT_EQ(out.rfind("HTTP/1.1 400", 0), 0u) << bad << " -> " << out;
        EXPECT_NE(out.find("\"error\""), std::string::npos) << out;
    }
    auto big = raw(srv.port(),
                   "POST /message?id=a HTTP/1.1\r\nHost: x\r\nContent-Type: "
                   "application/json\r\nContent-Length: 10000000\r\n\r\n");
    EXPECT_EQ(big.rfind("HTTP/1.1 413", 0), 0u) << big;
    auto hdr =
        raw(srv.port(),
            "GET /rooms HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
    EXPECT_EQ(hdr.rfind("HTTP/1.1 431", 0), 0u) << hdr.substr(0, 100);
    EXPECT_EQ(request(srv.port(), "GET", "/healthz").status, 200);
}

TEST(Operations, PipelinedRequestsAreAnsweredInOrder) {
    Server srv;
    std::string one =
        "POST /message?id=p HTTP/1.1\r\nHost: x\r\nContent-Type: "
        "application/json\r\nContent-Length: 15\r\n\r\n{\"message\":\"a\"}";
    std::string two =
        "POST /message?id=p HTTP/1.1\r\nHost: x\r\nContent-Type: "
        "application/json\r\nContent-Length: 2\r\n\r\n{}";
    std::string three = "GET /rooms HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    auto out = raw(srv.port(), one + two + three);
    auto a = out.find("Message Sent Succesfully"), b = out.find("Bad Request"),
         c = out.find("\"rooms\"");
    ASSERT_NE(a, std::string::npos) << out;
    ASSERT_NE(b, std::string::npos) << out;
    ASSERT_NE(c, std::string::npos) << out;
    EXPECT_LT(a, b);
    EXPECT_LT(b, c);
}

TEST(Operations, WebRootServesAFolderAndNothingOutsideIt) {
    std::string dir = temp_dir();
    { std::ofstream(dir + "/index.html") << "<p>custom</p>"; }
    { std::ofstream(dir + "/.secret") << "no"; }
    Server srv({"--store", "memory", "--web-root", dir});
    auto r = request(srv.port(), "GET", "/");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "<p>custom</p>");
    EXPECT_EQ(r.header("content-type"), "text/html; charset=utf-8");
    EXPECT_FALSE(r.header("etag").empty());
    EXPECT_EQ(request(srv.port(), "GET", "/", "", {{"If-None-Match", r.header("etag")}}).status,
              304);
    EXPECT_EQ(request(srv.port(), "GET", "/.secret").status, 404);
    EXPECT_EQ(request(srv.port(), "GET", "/..%2F..%2Fetc%2Fpasswd").status, 404);
    EXPECT_EQ(request(srv.port(), "GET", "/app.js").status, 404);  // not in this folder
}

TEST(Operations, BuiltInPageIsServed) {
    Server srv;
    auto r = request(srv.port(), "GET", "/");
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.body.find("<title>ssechat</title>"), std::string::npos);
    EXPECT_NE(r.header("content-security-policy").find("default-src 'self'"), std::string::npos);
    EXPECT_EQ(request(srv.port(), "GET", "/worker.js").header("content-type"),
              "text/javascript; charset=utf-8");
}
