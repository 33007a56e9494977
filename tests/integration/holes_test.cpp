// Regression tests for the faults an outside review found: each failed before its fix.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <set>
#include <thread>

#include "harness.hpp"

using namespace itest;
namespace json = boost::json;

namespace {

// Reads until `pred(text)` holds, EOF, an error, or the limit. `err` gets the recv error.
std::string read_until(int fd, const std::function<bool(const std::string&)>& pred,
                       std::chrono::milliseconds limit, int* err = nullptr) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + limit;
    char buf[65536];
    while (!pred(out) && std::chrono::steady_clock::now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        ssize_t r = ::recv(fd, buf, sizeof buf, 0);
        if (r < 0 && err) *err = errno;
        if (r <= 0) break;
        out.append(buf, static_cast<size_t>(r));
    }
    return out;
}

std::vector<std::string> stored_texts(int port, const std::string& room) {
    std::vector<std::string> out;
    auto h = json::parse(request(port, "GET", "/rooms/" + room + "/messages?limit=500").body);
    for (const auto& m : h.at("messages").as_array()) out.emplace_back(m.at("message").as_string());
    return out;
}

}  // namespace

TEST(Holes, TransferEncodingThatIsNotFinallyChunkedCannotSmuggleARequest) {
    Server srv;
    std::string smuggled =
        "POST /rooms/t/messages?id=victim HTTP/1.1\r\nHost: x\r\nContent-Type: "
        "application/json\r\nContent-Length: 20\r\n\r\n{\"message\":\"owned\"}";
    for (std::string te :
         {"chunked, identity", "xchunked", "identity", "chunked;x=1, identity", "gzip"}) {
        std::string out = raw(srv.port(),
                              "POST /rooms/t/messages?id=attacker HTTP/1.1\r\nHost: x\r\n"
                              "Content-Type: application/json\r\nTransfer-Encoding: " +
                                  te + "\r\n\r\n" + smuggled);
        EXPECT_EQ(out.rfind("HTTP/1.1 400", 0), 0u) << te << " -> " << out;
        // One answer, then the connection is closed: nothing after it is read as a request.
        EXPECT_EQ(out.find("HTTP/1.1", 1), std::string::npos) << te << " -> " << out;
    }
    // A coding this server does not implement is 501, not silently ignored.
    std::string gz = raw(srv.port(),
                         "POST /rooms/t/messages?id=a HTTP/1.1\r\nHost: x\r\nContent-Type: "
                         "application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                         "f\r\n{\"message\":\"x\"}\r\n0\r\n\r\n");
    EXPECT_EQ(gz.rfind("HTTP/1.1 501", 0), 0u) << gz;
    // Plain chunked still works.
    std::string ok = raw(srv.port(),
                         "POST /rooms/t/messages?id=a HTTP/1.1\r\nHost: x\r\nContent-Type: "
                         "application/json\r\nTransfer-Encoding: chunked\r\nConnection: "
                         "close\r\n\r\nf\r\n{\"message\":\"x\"}\r\n0\r\n\r\n");
    EXPECT_EQ(ok.rfind("HTTP/1.1 201", 0), 0u) << ok;
    EXPECT_EQ(stored_texts(srv.port(), "t"), std::vector<std::string>{"x"});
}

TEST(Holes, RoomsOpenedAndLeftCostNothingAndNeverLockOthersOut) {
    Server srv({"--store", "memory", "--max-rooms", "50", "--max-connections-per-ip", "0"});
    // 300 streams on junk rooms, opened and closed at once: six times the cap. A stream the
    // client closed holds its room until the server has seen the close, so a new room may
    // wait a moment for one; before the fix, the 51st and every later one got 503 for good.
    int waits = 0;
    auto open_one = [&](const std::string& room) {
        for (int attempt = 0; attempt < 100; ++attempt) {
            SseClient c(srv.port(), "/rooms/" + room + "/events?history=0");
            if (!c.wait_until([&] { return c.status != 0; })) return 0;
            if (c.status != 503) return c.status;
            ++waits;
            std::this_thread::sleep_for(10ms);
        }
        return 503;
    };
    for (int i = 0; i < 300; ++i) ASSERT_EQ(open_one("junk" + std::to_string(i)), 200) << i;
    RecordProperty("waits_for_a_room", waits);
    // Everyone can still make rooms (after the same moment's wait, when the last streams'
    // closes are still on their way).
    int status = 0;
    for (int attempt = 0; attempt < 100 && status != 201; ++attempt) {
        if (attempt) std::this_thread::sleep_for(10ms);
        status =
            post_json(srv.port(), "/rooms/real/messages?id=alice", R"({"message":"hi"})").status;
    }
    EXPECT_EQ(status, 201);
    SseClient s(srv.port(), "/rooms/another/events");
    ASSERT_TRUE(s.wait_until([&] { return s.status != 0; }));
    EXPECT_EQ(s.status, 200);
    // A GET creates nothing durable: the junk rooms are in no list, and gone from memory.
    auto list = json::parse(request(srv.port(), "GET", "/rooms").body).at("rooms").as_array();
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].at("name").as_string(), "real");
    long loaded = -1;
    for (int i = 0; i < 100; ++i) {  // dropped at once, or by the next sweep (1 s)
        loaded = metric(srv.port(), "ssechat_rooms_loaded");
        if (loaded <= 2) break;
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_LE(loaded, 2) << "empty rooms nobody holds must be dropped";
}

TEST(Holes, ARateLimitedPublishDoesNotLoadItsRoom) {
    Server srv({"--store", "memory", "--publish-rate", "0.001", "--publish-burst", "1"});
    EXPECT_EQ(publish(srv.port(), "first", "spammer", "x"), 1u);
    long before = metric(srv.port(), "ssechat_rooms_loaded");
    for (int i = 0; i < 20; ++i) {
        auto r = post_json(srv.port(), "/rooms/new" + std::to_string(i) + "/messages?id=spammer",
                           R"({"message":"x"})");
        ASSERT_EQ(r.status, 429);
    }
    EXPECT_EQ(metric(srv.port(), "ssechat_rooms_loaded"), before);
}

TEST(Holes, RoomListIsPagedWithACursor) {
    Server srv({"--store", "memory", "--publish-rate", "0"});
    std::set<std::string> made;
    for (int i = 0; i < 25; ++i) {
        std::string name = "room" + std::to_string(100 + i);
        publish(srv.port(), name, "a", "x");
        made.insert(name);
    }
    std::vector<std::string> seen;
    std::string cursor;
    int pages = 0;
    while (true) {
        auto r = request(srv.port(), "GET",
                         "/rooms?limit=10" + (cursor.empty() ? "" : "&cursor=" + cursor));
        ASSERT_EQ(r.status, 200) << r.body;
        auto o = json::parse(r.body).as_object();
        auto rooms = o.at("rooms").as_array();
        EXPECT_LE(rooms.size(), 10u);
        for (const auto& x : rooms) seen.emplace_back(x.at("name").as_string());
        ++pages;
        if (o.at("next").is_null()) break;
        cursor = std::string(o.at("next").as_string());
        ASSERT_LT(pages, 10);
    }
    EXPECT_EQ(pages, 3);
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), made);
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
    EXPECT_EQ(seen.size(), made.size());
    // The default page is 100; the bounds are enforced.
    auto all = json::parse(request(srv.port(), "GET", "/rooms").body);
    EXPECT_EQ(all.at("rooms").as_array().size(), 25u);
    EXPECT_TRUE(all.at("next").is_null());
    EXPECT_EQ(request(srv.port(), "GET", "/rooms?limit=0").status, 400);
    EXPECT_EQ(request(srv.port(), "GET", "/rooms?limit=1001").status, 400);
    EXPECT_EQ(request(srv.port(), "GET", "/rooms?limit=1000").status, 200);
    EXPECT_EQ(request(srv.port(), "GET", "/rooms?cursor=..").status, 400);
}

TEST(Holes, ASecondServerOnTheSamePortStopsWithOneLine) {
    Server first({"--store", "memory", "--publish-rate", "0"});
    auto second = run_binary(
        {"--port", std::to_string(first.port()), "--store", "memory", "--data", temp_dir()});
    EXPECT_EQ(second.code, 1);
    EXPECT_EQ(second.out, "ssechat: port " + std::to_string(first.port()) + " is in use\n");
    // The first keeps every message: none went to a second process.
    for (int i = 0; i < 50; ++i) publish(first.port(), "r", "a", std::to_string(i));
    EXPECT_EQ(stored_texts(first.port(), "r").size(), 50u);
}

TEST(Holes, AnswersOwedAtShutdownAreDeliveredUnderPublishLoad) {
    std::string dir = temp_dir();
    std::mutex mu;
    std::set<std::string> acked;
    int answered_503 = 0, lost_answers = 0;
    std::string server_log;
    {
        Server srv({"--data", dir, "--publish-rate", "0", "--threads", "2"});
        std::atomic<bool> stop{false};
        std::vector<std::thread> ts;
        for (int t = 0; t < 6; ++t)
            ts.emplace_back([&, t] {
                for (int i = 0; !stop && i < 100000; ++i) {
                    std::string text = std::to_string(t) + "-" + std::to_string(i);
                    int fd = dial(srv.port());
                    if (fd < 0) break;  // the listener is closed: nothing was sent
                    std::string body = "{\"message\":\"" + text + "\"}";
                    std::string req =
                        "POST /rooms/load/messages?id=u HTTP/1.1\r\nHost: x\r\nContent-Type: "
                        "application/json\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body;
                    bool sent = ::send(fd, req.data(), req.size(), MSG_NOSIGNAL) ==
                                static_cast<ssize_t>(req.size());
                    std::string out = read_until(
                        fd, [](const std::string& s) { return s.find("}") != std::string::npos; },
                        10000ms);
                    ::close(fd);
                    std::lock_guard lk(mu);
                    if (out.rfind("HTTP/1.1 201", 0) == 0)
                        acked.insert(text);
                    else if (out.rfind("HTTP/1.1 503", 0) == 0)
                        ++answered_503;
                    else if (sent)
                        ++lost_answers;  // a request the server read may or may not be stored
                }
            });
        std::this_thread::sleep_for(1500ms);
        EXPECT_EQ(srv.terminate(10000ms), 0);
        stop = true;
        for (auto& t : ts) t.join();
        server_log = srv.stderr_text();
    }
    ASSERT_GT(acked.size(), 50u);
    Server again({"--data", dir});
    std::set<std::string> stored;
    std::string before;
    while (true) {
        auto h = json::parse(
            request(again.port(), "GET",
                    "/rooms/load/messages?limit=500" + (before.empty() ? "" : "&before=" + before))
                .body);
        auto msgs = h.at("messages").as_array();
        for (const auto& m : msgs) stored.emplace(m.at("message").as_string());
        if (!h.at("has_more").as_bool() || msgs.empty()) break;
        before = std::to_string(msgs[0].at("id").as_int64());
    }
    // Every acknowledged message is stored, and every stored one was acknowledged: a commit
    // whose answer died with the process would be stored but missing from `acked`.
    for (const auto& t : acked) EXPECT_TRUE(stored.count(t)) << "acknowledged, lost: " << t;
    for (const auto& t : stored)
        EXPECT_TRUE(acked.count(t)) << "stored, never answered: " << t << "\n" << server_log;
    RecordProperty("acked", static_cast<int>(acked.size()));
    RecordProperty("refused_503", answered_503);
    RecordProperty("unanswered", lost_answers);
}

TEST(Holes, ARefusedBodyIsAnsweredWhileTheClientIsStillSending) {
    Server srv({"--store", "memory"});
    int fd = dial(srv.port());
    ASSERT_GE(fd, 0);
    std::string head =
        "POST /rooms/t/messages?id=a HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 5000000\r\n\r\n";
    ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(head.size()));
    // Keep sending the body on another thread, as a client that does not wait would.
    std::atomic<bool> send_failed{false};
    std::thread sender([&] {
        std::string chunk(65536, 'x');
        for (size_t sent = 0; sent < 5000000;) {
            ssize_t w =
                ::send(fd, chunk.data(), std::min(chunk.size(), 5000000 - sent), MSG_NOSIGNAL);
            if (w <= 0) {
                send_failed = true;
                break;
            }
            sent += static_cast<size_t>(w);
        }
    });
    int err = 0;
    std::string out = read_until(
        fd, [](const std::string& s) { return s.find("}") != std::string::npos; }, 5000ms, &err);
    sender.join();
    ::close(fd);
    EXPECT_EQ(err, 0) << "the client saw " << strerror(err) << " instead of the answer";
    EXPECT_EQ(out.rfind("HTTP/1.1 413", 0), 0u) << out;
    EXPECT_NE(out.find("too large"), std::string::npos) << out;
}

TEST(Holes, ExpectContinueGetsAHundredOrTheFinalStatusAtOnce) {
    Server srv({"--store", "memory"});
    int fd = dial(srv.port());
    ASSERT_GE(fd, 0);
    std::string body = R"({"message":"hi"})";
    std::string head =
        "POST /rooms/e/messages?id=a HTTP/1.1\r\nHost: x\r\nContent-Type: "
        "application/json\r\nExpect: 100-continue\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n";
    ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
    // The body is not sent until the server says so.
    std::string got = read_until(
        fd, [](const std::string& s) { return s.find("\r\n\r\n") != std::string::npos; }, 3000ms);
    EXPECT_EQ(got, "HTTP/1.1 100 Continue\r\n\r\n");
    ::send(fd, body.data(), body.size(), MSG_NOSIGNAL);
    got = read_until(
        fd, [](const std::string& s) { return s.find("}") != std::string::npos; }, 3000ms);
    EXPECT_EQ(got.rfind("HTTP/1.1 201", 0), 0u) << got;
    ::close(fd);
    // Too large: the final status, without waiting for a body.
    std::string big =
        raw(srv.port(),
            "POST /rooms/e/messages?id=a HTTP/1.1\r\nHost: x\r\nContent-Type: "
            "application/json\r\nExpect: 100-continue\r\nContent-Length: 9999999\r\n\r\n",
            3000ms);
    EXPECT_EQ(big.rfind("HTTP/1.1 413", 0), 0u) << big;
    EXPECT_EQ(big.find("100 Continue"), std::string::npos);
}

TEST(Holes, HeadWorksOnGetRoutesAnd405SaysWhatIsAllowed) {
    Server srv({"--store", "memory"});
    publish(srv.port(), "h", "a", "x");
    for (std::string target : {"/rooms", "/rooms/h/messages", "/rooms/h/presence", "/healthz",
                               "/metrics", "/", "/app.js"}) {
        auto get =
            raw(srv.port(), "GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        auto head =
            raw(srv.port(), "HEAD " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        ASSERT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << target << ": " << head;
        auto end = head.find("\r\n\r\n");
        EXPECT_EQ(end + 4, head.size()) << target << ": a HEAD answer has no body";
        auto cl = [](const std::string& s) {
            auto p = s.find("Content-Length: ");
            return p == std::string::npos ? std::string("none")
                                          : s.substr(p + 16, s.find("\r\n", p) - p - 16);
        };
        if (target != "/metrics") {  // the metrics change between the two requests
            EXPECT_EQ(cl(head), cl(get)) << target;
        }
    }
    auto stream =
        raw(srv.port(), "HEAD /rooms/h/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(stream.rfind("HTTP/1.1 200", 0), 0u) << stream;
    EXPECT_NE(stream.find("text/event-stream"), std::string::npos);
    EXPECT_EQ(stream.find("\r\n\r\n") + 4, stream.size());
    struct Case {
        std::string method, target, allow;
    } cases[] = {{"DELETE", "/rooms", "GET, HEAD, POST"},
                 {"PUT", "/rooms/h/messages", "GET, HEAD, POST"},
                 {"POST", "/rooms/h/events", "GET, HEAD"},
                 {"GET", "/message", "POST"},
                 {"POST", "/messages", "GET, HEAD"}};
    for (const auto& c : cases) {
        auto r = request(srv.port(), c.method, c.target);
        EXPECT_EQ(r.status, 405) << c.method << " " << c.target;
        EXPECT_EQ(r.header("allow"), c.allow) << c.method << " " << c.target;
        EXPECT_NE(r.body.find("\"error\""), std::string::npos);
    }
}

TEST(Holes, ARequestPipelinedBehindAStreamGetsAnAnswerOrACleanClose) {
    Server srv({"--store", "memory"});
    // Both requests in one write: the stream is refused with a reason, and the connection ends.
    std::string both = raw(srv.port(),
                           "GET /rooms/p/events HTTP/1.1\r\nHost: x\r\n\r\nGET /rooms HTTP/1.1\r\n"
                           "Host: x\r\n\r\n",
                           3000ms);
    EXPECT_EQ(both.rfind("HTTP/1.1 400", 0), 0u) << both;
    EXPECT_NE(both.find("pipelined"), std::string::npos) << both;
    // A request sent later on a stream's connection ends the stream with a FIN.
    SseClient s(srv.port(), "/rooms/p/events?history=0");
    ASSERT_TRUE(s.wait_until([&] { return s.status == 200; }));
    s.send_raw("GET /rooms HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_TRUE(s.wait_closed(3000ms)) << "silence after a pipelined request";
}

TEST(Holes, StreamsTellHttp10AndClosingClientsTheTruth) {
    Server srv({"--store", "memory"});
    auto head_of = [&](const std::string& req) {
        int fd = dial(srv.port());
        ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
        std::string out = read_until(
            fd, [](const std::string& s) { return s.find("\r\n\r\n") != std::string::npos; },
            3000ms);
        ::close(fd);
        return out.substr(0, out.find("\r\n\r\n") + 2);
    };
    auto h11 = head_of("GET /rooms/c/events HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_NE(h11.find("Connection: keep-alive\r\n"), std::string::npos) << h11;
    auto h10 = head_of("GET /rooms/c/events HTTP/1.0\r\n\r\n");
    EXPECT_EQ(h10.rfind("HTTP/1.0 200", 0), 0u) << h10;
    EXPECT_EQ(h10.find("keep-alive"), std::string::npos) << h10;
    EXPECT_NE(h10.find("Connection: close\r\n"), std::string::npos) << h10;
    auto closing = head_of("GET /rooms/c/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(closing.find("keep-alive"), std::string::npos) << closing;
    EXPECT_NE(closing.find("Connection: close\r\n"), std::string::npos) << closing;
    // The seed stream too.
    auto seed = head_of("GET /messages HTTP/1.0\r\n\r\n");
    EXPECT_EQ(seed.find("keep-alive"), std::string::npos) << seed;
}

TEST(Holes, SinceAndLastEventIdTogetherResumeFromTheHeader) {
    Server srv({"--store", "memory"});
    for (int i = 0; i < 5; ++i) publish(srv.port(), "s", "a", std::to_string(i));
    SseClient c(srv.port(), "/rooms/s/events?since=1", {{"Last-Event-ID", "3"}});
    ASSERT_TRUE(c.wait_events(2));
    EXPECT_EQ(ids_of(c.events), range(4, 5));
}

TEST(Holes, MemoryStoreAfterTheLargestIdReturnsNothing) {
    Server srv({"--store", "memory"});
    publish(srv.port(), "m", "a", "x");
    auto r = request(srv.port(), "GET", "/rooms/m/messages?after=18446744073709551615");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(json::parse(r.body).at("messages").as_array().size(), 0u);
}

namespace {
// Sends `head`, then `piece` over and over (up to `most` bytes) on another thread while this
// one waits for the answer: what a client that streams a hostile body sees.
struct Flood {
    std::string answer;
    size_t sent = 0;
};
Flood flood(int port, const std::string& head, const std::string& piece, size_t most) {
    Flood f;
    int fd = dial(port);
    EXPECT_GE(fd, 0);
    if (fd < 0) return f;
    ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
    std::atomic<bool> done{false};
    std::thread sender([&] {
        while (!done && f.sent < most) {
            ssize_t w = ::send(fd, piece.data(), piece.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0)
                f.sent += static_cast<size_t>(w);
            else if (w < 0 && errno != EAGAIN)
                break;
            else
                std::this_thread::sleep_for(1ms);
        }
    });
    f.answer = read_until(
        fd, [](const std::string& s) { return s.find("}") != std::string::npos; }, 10000ms);
    done = true;
    sender.join();
    ::close(fd);
    return f;
}
const std::string kChunkedHead =
    "POST /rooms/t/messages?id=a HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    "Transfer-Encoding: chunked\r\n\r\n";
}  // namespace

// Beast bounds a request's head and body, not a chunk's extensions or its trailers: both
// were kept in an unbounded read buffer (900 MiB from one connection in 6.5 s).
TEST(Holes, ChunkExtensionsAndTrailersAreBoundedBeforeAnythingElse) {
    Server srv({"--store", "memory"});
    // One endless extension on the first chunk's size line.
    auto one = flood(srv.port(), kChunkedHead + "1;", std::string(65536, 'e'), 256u << 20);
    EXPECT_EQ(one.answer.rfind("HTTP/1.1 400", 0), 0u) << one.answer.substr(0, 300);
    EXPECT_NE(one.answer.find("too long"), std::string::npos) << one.answer.substr(0, 300);
    EXPECT_LT(one.sent, 64u << 20) << "answered long before the client stopped sending";
    // Many chunks, each with a modest extension: the sum is bounded too.
    std::string chunk = "1;" + std::string(200, 'e') + "\r\nx\r\n";
    auto many = flood(srv.port(), kChunkedHead, chunk, 64u << 20);
    EXPECT_EQ(many.answer.rfind("HTTP/1.1 400", 0), 0u) << many.answer.substr(0, 300);
    EXPECT_NE(many.answer.find("chunk extensions are too long"), std::string::npos)
        << many.answer.substr(0, 300);
    // Endless trailers after the last chunk.
    auto trailers = flood(srv.port(), kChunkedHead + "0\r\n",
                          "X-T: " + std::string(1000, 't') + "\r\n", 256u << 20);
    EXPECT_EQ(trailers.answer.rfind("HTTP/1.1 400", 0), 0u) << trailers.answer.substr(0, 300);
    EXPECT_LT(trailers.sent, 64u << 20);
    // Ordinary chunked requests, with a short extension and a trailer, still work.
    std::string ok = raw(srv.port(),
                         "POST /rooms/t/messages?id=a HTTP/1.1\r\nHost: x\r\n"
                         "Connection: close\r\nContent-Type: application/json\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n"
                         "f;a=b\r\n{\"message\":\"x\"}\r\n0\r\nX-T: 1\r\n\r\n");
    EXPECT_EQ(ok.rfind("HTTP/1.1 201", 0), 0u) << ok;
    EXPECT_EQ(request(srv.port(), "GET", "/healthz").status, 200);
}

// A client that sends its whole body before reading (Python's urllib, many others) gets the
// 413: the server drains it for as long as it comes (bounded by time), not for 1 MiB only.
TEST(Holes, ARefusedBodySentWholeBeforeReadingIsStillAnswered) {
    Server srv({"--store", "memory"});
    int fd = dial(srv.port());
    ASSERT_GE(fd, 0);
    const size_t size = 16u << 20;
    std::string head =
        "POST /rooms/t/messages?id=a HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(size) + "\r\n\r\n";
    ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(head.size()));
    std::string piece(65536, 'x');
    size_t sent = 0;
    while (sent < size) {
        ssize_t w = ::send(fd, piece.data(), std::min(piece.size(), size - sent), MSG_NOSIGNAL);
        ASSERT_GT(w, 0) << "the server cut the upload: " << strerror(errno);
        sent += static_cast<size_t>(w);
    }
    int err = 0;
    std::string out = read_until(
        fd, [](const std::string& s) { return s.find("}") != std::string::npos; }, 5000ms, &err);
    ::close(fd);
    EXPECT_EQ(err, 0) << "the client saw " << strerror(err) << " instead of the answer";
    EXPECT_EQ(out.rfind("HTTP/1.1 413", 0), 0u) << out;
}
