// Several ssechat nodes on one redis-server, and nginx in front of them: the same rooms, ids,
// history and presence on every node, through node crashes and a Redis outage.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <boost/json.hpp>
#include <mutex>
#include <set>
#include <thread>

#include "harness.hpp"
#include "services.hpp"

using namespace itest;
namespace json = boost::json;

namespace {

std::vector<std::string> node_args(const RedisServer& r) {
    return {"--store", "redis",          "--redis", r.url(),     "--presence-ttl",
            "3",       "--publish-rate", "0",       "--threads", "2"};
}

// (id, user, text) of each message event, to compare what different nodes delivered.
std::vector<std::string> messages_of(const std::vector<ssechat::sse::Event>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) {
        if (!e.event.empty() && e.event != "message") continue;
        auto m = json::parse(e.data).as_object();
        out.push_back(e.id + "|" + std::string(m.at("user_id").as_string()) + "|" +
                      std::string(m.at("message").as_string()));
    }
    return out;
}

std::vector<std::string> online(int port, const std::string& room) {
    auto r = request(port, "GET", "/rooms/" + room + "/presence");
    std::vector<std::string> users;
    auto body = json::parse(r.body);
    for (auto& u : body.at("online").as_array()) users.emplace_back(u.as_string());
    return users;
}

std::vector<std::string> presence_events(const SseClient& c) {
    std::vector<std::string> out;
    for (const auto& e : c.events) {
        if (e.event != "presence") continue;
        auto p = json::parse(e.data).as_object();
        out.push_back(std::string(p.at("user_id").as_string()) + ":" +
                      std::string(p.at("state").as_string()));
    }
    return out;
}

}  // namespace

TEST(Cluster, PublishOnOneNodeIsDeliveredOnAnotherOnceAndInOrder) {
    RedisServer redis;
    Server a(node_args(redis)), b(node_args(redis));
    SseClient sub(a.port(), "/rooms/lobby/events?id=ann");
    ASSERT_TRUE(sub.wait_until([&] { return !sub.head.empty(); }));
    for (int i = 1; i <= 20; ++i)
        EXPECT_EQ(publish(b.port(), "lobby", "bob", "m" + std::to_string(i)),
                  static_cast<uint64_t>(i));
    ASSERT_TRUE(sub.wait_until([&] { return ids_of(sub.events).size() >= 20; }));
    sub.drain(300ms);
    EXPECT_EQ(ids_of(sub.events), range(1, 20));
    auto got = messages_of(sub.events);
    EXPECT_EQ(got.front(), "1|bob|m1");
    EXPECT_EQ(got.back(), "20|bob|m20");
    // History and the room list read the same store from either node.
    auto h = json::parse(request(a.port(), "GET", "/rooms/lobby/messages?limit=5").body);
    EXPECT_EQ(h.at("messages").as_array().back().at("id").as_int64(), 20);
    EXPECT_NE(request(a.port(), "GET", "/rooms").body.find(R"("name":"lobby","last_id":20)"),
              std::string::npos);
}

TEST(Cluster, SeedApiWorksAcrossNodes) {
    RedisServer redis;
    Server a(node_args(redis)), b(node_args(redis));
    SseClient sub(a.port(), "/messages?id=1234");
    ASSERT_TRUE(sub.wait_events(1));
    EXPECT_EQ(sub.events[0].data, "[]");
    auto r = request(b.port(), "POST", "/message?id=5678", R"({"message":" Hi "})",
                     {{"Content-Type", "application/json"}});
    EXPECT_EQ(r.body, R"({"status":200,"error":"Message Sent Succesfully"})");
    ASSERT_TRUE(sub.wait_events(2));
    EXPECT_EQ(sub.events[1].data, R"([{"user_id":"5678","message":"Hi"}])");
}

TEST(Cluster, ConcurrentPublishersOnEveryNodeYieldOneSequence) {
    RedisServer redis;
    std::vector<std::unique_ptr<Server>> nodes;
    for (int i = 0; i < 3; ++i) nodes.push_back(std::make_unique<Server>(node_args(redis)));
    std::vector<std::unique_ptr<SseClient>> subs;
    for (auto& n : nodes) {
        subs.push_back(std::make_unique<SseClient>(n->port(), "/rooms/busy/events?id=watch"));
        ASSERT_TRUE(subs.back()->wait_until([&] { return !subs.back()->head.empty(); }));
    }
    constexpr int kPer = 40;
    std::vector<std::thread> pubs;
    std::mutex mu;
    std::set<uint64_t> acked;
    for (size_t n = 0; n < nodes.size(); ++n)
        for (int t = 0; t < 2; ++t)
            pubs.emplace_back([&, n, t] {
                for (int i = 0; i < kPer; ++i) {
                    auto id = publish(nodes[n]->port(), "busy", "u" + std::to_string(n * 2 + t),
                                      std::to_string(i));
                    std::lock_guard lk(mu);
                    acked.insert(id);
                }
            });
    for (auto& t : pubs) t.join();
    uint64_t total = nodes.size() * 2 * kPer;
    EXPECT_EQ(acked.size(), total);
    EXPECT_EQ(*acked.rbegin(), total);
    for (auto& s : subs) {
        ASSERT_TRUE(s->wait_until([&] { return ids_of(s->events).size() >= total; }, 10000ms));
        s->drain(200ms);
        EXPECT_EQ(ids_of(s->events), range(1, total));
    }
    EXPECT_EQ(messages_of(subs[0]->events), messages_of(subs[1]->events));
    EXPECT_EQ(messages_of(subs[0]->events), messages_of(subs[2]->events));
}

TEST(Cluster, ResumeOnAnotherNodeHasNoGapAndNoDuplicate) {
    RedisServer redis;
    Server a(node_args(redis)), b(node_args(redis));
    for (int i = 0; i < 5; ++i) publish(a.port(), "r", "x", "before");
    std::string last;
    {
        SseClient sub(a.port(), "/rooms/r/events?id=ann");
        ASSERT_TRUE(sub.wait_until([&] { return ids_of(sub.events).size() >= 5; }));
        // The id EventSource would send: the last one seen (ann's own join may come after it,
        // with no id).
        for (const auto& e : sub.events)
            if (e.has_id) last = e.id;
    }
    EXPECT_EQ(last, "5");
    for (int i = 0; i < 7; ++i) publish(b.port(), "r", "y", "while away " + std::to_string(i));
    for (int i = 0; i < 3; ++i) publish(a.port(), "r", "z", "elsewhere");
    SseClient back(b.port(), "/rooms/r/events?id=ann", {{"Last-Event-ID", last}});
    ASSERT_TRUE(back.wait_until([&] { return ids_of(back.events).size() >= 10; }));
    publish(a.port(), "r", "z", "live");
    ASSERT_TRUE(back.wait_until([&] { return ids_of(back.events).size() >= 11; }));
    back.drain(300ms);
    EXPECT_EQ(ids_of(back.events), range(6, 16));
}

// Redis cuts off a subscriber that does not read (its pub/sub output limit, here 64 KiB):
// what the feed then missed is read from the room's stream.
TEST(Cluster, ANodeCutOffByRedisCatchesUpWithoutGaps) {
    RedisServer redis(
        std::vector<std::string>{"--client-output-buffer-limit", "pubsub 64kb 64kb 0"});
    // Room for what the socket buffers hold before Redis's limit is reached (~10 MB here):
    // the catch-up delivers it in one go.
    auto args = node_args(redis);
    args.insert(args.end(), {"--stream-buffer", "33554432"});
    Server a(args), b(node_args(redis));
    SseClient sub(a.port(), "/rooms/lag/events?id=ann");
    ASSERT_TRUE(sub.wait_until([&] { return !sub.head.empty(); }));
    publish(b.port(), "lag", "bob", "first");
    ASSERT_TRUE(sub.wait_until([&] { return ids_of(sub.events).size() >= 1; }));

    ::kill(a.pid(), SIGSTOP);  // A's feed stops reading where it was
    // Past what the sockets' buffers hold on the way, and then past the limit.
    std::string big(4000, 'x');
    for (int i = 0; i < 2500; ++i) publish(b.port(), "lag", "bob", big);
    for (int i = 0; i < 30; ++i) publish(b.port(), "other", "bob", std::to_string(i));
    ::kill(a.pid(), SIGCONT);

    ASSERT_TRUE(sub.wait_until([&] { return ids_of(sub.events).size() >= 2501; }))
        << ::testing::PrintToString(ids_of(sub.events)) << a.stderr_text();
    publish(b.port(), "lag", "bob", "live");
    ASSERT_TRUE(sub.wait_until([&] { return ids_of(sub.events).size() >= 2502; }));
    sub.drain(300ms);
    EXPECT_EQ(ids_of(sub.events), range(1, 2502));
    // The gap was noticed and filled from the room's stream, not by luck of timing.
    auto m = request(a.port(), "GET", "/metrics").body;
    EXPECT_EQ(m.find("ssechat_cluster_catchups_total 0\n"), std::string::npos) << m;
    EXPECT_EQ(m.find("ssechat_cluster_gap_fill_messages_total 0\n"), std::string::npos);
}

TEST(Cluster, NodeKilledMidStreamClientsResumeElsewhereThroughNginx) {
    RedisServer redis;
    Server a(node_args(redis)), b(node_args(redis));
    Nginx lb({a.port(), b.port()});
    SseClient on_a(a.port(), "/rooms/k/events?id=ann");
    SseClient on_b(b.port(), "/rooms/k/events?id=bob");
    ASSERT_TRUE(on_a.wait_until([&] { return !on_a.head.empty(); }));
    ASSERT_TRUE(on_b.wait_until([&] { return !on_b.head.empty(); }));
    for (int i = 0; i < 5; ++i) publish(lb.port(), "k", "pub", "one");
    ASSERT_TRUE(on_a.wait_until([&] { return ids_of(on_a.events).size() >= 5; }));
    std::string last;  // the last id seen: presence events carry none
    for (const auto& e : on_a.events)
        if (e.has_id) last = e.id;

    a.kill9();
    EXPECT_TRUE(on_a.wait_closed());
    // The survivor keeps serving, and nginx sends new requests past the dead node.
    for (int i = 0; i < 5; ++i) EXPECT_EQ(publish_raw(lb.port(), "k", "pub", "two").status, 201);
    ASSERT_TRUE(on_b.wait_until([&] { return ids_of(on_b.events).size() >= 10; }));

    SseClient resumed(lb.port(), "/rooms/k/events?id=ann", {{"Last-Event-ID", last}});
    ASSERT_TRUE(resumed.wait_until([&] { return ids_of(resumed.events).size() >= 5; }));
    publish(b.port(), "k", "pub", "three");
    ASSERT_TRUE(resumed.wait_until([&] { return ids_of(resumed.events).size() >= 6; }));
    resumed.drain(300ms);
    EXPECT_EQ(ids_of(resumed.events), range(6, 11));
    EXPECT_EQ(resumed.status, 200);
    ASSERT_TRUE(on_b.wait_until([&] { return ids_of(on_b.events).size() >= 11; }));
    EXPECT_EQ(ids_of(on_b.events), range(1, 11));
}

TEST(Cluster, PresenceIsCountedAcrossNodesAndExpiresWithADeadNode) {
    RedisServer redis;
    Server a(node_args(redis)), b(node_args(redis));
    SseClient watcher(b.port(), "/rooms/p/events?id=wendy");
    ASSERT_TRUE(eventually([&] { return online(a.port(), "p").size() == 1; }));
    {
        SseClient ann(a.port(), "/rooms/p/events?id=ann");
        SseClient ann_too(b.port(), "/rooms/p/events?id=ann");  // one user on two nodes
        std::vector<std::string> both = {"ann", "wendy"};
        ASSERT_TRUE(eventually([&] { return online(a.port(), "p") == both; }));
        EXPECT_EQ(online(b.port(), "p"), both);
        ann.close();  // still online through node B
        std::this_thread::sleep_for(500ms);
        EXPECT_EQ(online(a.port(), "p"), both);
    }
    std::vector<std::string> just_wendy = {"wendy"};
    // A leave waits 5 s on its node (a reload would have cancelled it), then counts.
    ASSERT_TRUE(eventually([&] { return online(a.port(), "p") == just_wendy; }, 10000ms));
    watcher.drain(300ms);
    auto seen = presence_events(watcher);
    std::vector<std::string> want = {"wendy:join", "ann:join", "ann:leave"};
    EXPECT_EQ(seen, want);

    // A node that dies says no goodbye: its users stop counting at expiry (--presence-ttl 3)
    // and a surviving node announces the leave.
    SseClient cas(a.port(), "/rooms/p/events?id=cas");
    ASSERT_TRUE(eventually([&] { return online(b.port(), "p").size() == 2; }));
    a.kill9();
    ASSERT_TRUE(eventually([&] { return online(b.port(), "p") == just_wendy; }, 8000ms));
    ASSERT_TRUE(watcher.wait_until(
        [&] {
            auto p = presence_events(watcher);
            return !p.empty() && p.back() == "cas:leave";
        },
        8000ms));
}

TEST(Cluster, RedisOutageAnswers503KeepsStreamsOpenAndLosesNothingAcknowledged) {
    RedisServer redis;
    auto args = node_args(redis);
    args.insert(args.end(), {"--cache", "4"});  // a resume from id 2 must read the store
    Server a(args), b(args);
    SseClient sub(a.port(), "/rooms/o/events?id=ann");
    ASSERT_TRUE(sub.wait_until([&] { return !sub.head.empty(); }));
    std::set<uint64_t> acked;
    for (int i = 0; i < 10; ++i) acked.insert(publish(b.port(), "o", "bob", "before"));
    ASSERT_TRUE(sub.wait_until([&] { return ids_of(sub.events).size() >= 10; }));

    redis.kill9();
    auto r = publish_raw(b.port(), "o", "bob", "during");
    EXPECT_EQ(r.status, 503);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(publish_raw(b.port(), "o", "bob", "during").status, 503);
    EXPECT_EQ(r.header("content-type").rfind("application/json", 0), 0u);
    EXPECT_NE(json::parse(r.body).at("error").as_string().size(), 0u);
    EXPECT_EQ(request(a.port(), "GET", "/healthz").status, 503);
    // A new stream whose resume needs the store is ended at once, so that its client retries
    // with the same Last-Event-ID instead of starting from a wrong place.
    SseClient late(a.port(), "/rooms/o/events?id=cas", {{"Last-Event-ID", "2"}});
    EXPECT_TRUE(late.wait_closed());
    EXPECT_EQ(late.status, 200);
    EXPECT_NE(late.body.find(": store unavailable"), std::string::npos) << late.body;
    EXPECT_TRUE(ids_of(late.events).empty());
    std::this_thread::sleep_for(2s);
    sub.drain(100ms);
    EXPECT_FALSE(sub.closed_by_server);

    redis.start();  // same append-only file
    ASSERT_TRUE(
        eventually([&] { return publish_raw(b.port(), "o", "bob", "after").status == 201; }));
    for (int i = 0; i < 4; ++i) acked.insert(publish(b.port(), "o", "bob", "after"));
    // The outage is two lines of the log, not one per refused publish.
    auto log = b.stderr_text();
    EXPECT_EQ(count(log, "store commit failed"), 1u) << log;
    EXPECT_EQ(count(log, "store commits succeed again"), 1u) << log;
    ASSERT_TRUE(sub.wait_until([&] { return ids_of(sub.events).size() >= 15; }));
    sub.drain(300ms);
    EXPECT_FALSE(sub.closed_by_server);
    EXPECT_EQ(ids_of(sub.events), range(1, 15));  // nothing acknowledged before was lost
    auto h = json::parse(request(a.port(), "GET", "/rooms/o/messages?limit=100").body);
    EXPECT_EQ(h.at("messages").as_array().size(), 15u);
    for (uint64_t id : acked) EXPECT_LE(id, 15u);
}

// A resume from further back than the room's cache reads the rest from Redis in one range
// (this read once asked Redis for COUNT 2^64-1, which it refuses).
TEST(Cluster, AResumeOlderThanTheCacheReadsTheStore) {
    RedisServer redis;
    auto args = node_args(redis);
    args.insert(args.end(), {"--cache", "4"});
    Server a(args);
    for (int i = 1; i <= 20; ++i) publish(a.port(), "o", "bob", "m" + std::to_string(i));
    SseClient late(a.port(), "/rooms/o/events?id=cas", {{"Last-Event-ID", "2"}});
    ASSERT_TRUE(late.wait_until([&] { return ids_of(late.events).size() >= 18; }));
    late.drain(200ms);
    EXPECT_FALSE(late.closed_by_server) << late.body;
    EXPECT_EQ(ids_of(late.events), range(3, 20));
}

// Routing: a node hears only the rooms it holds. Before rooms were routed every node read
// the whole cluster log, and this node counted the 7 events of the room it does not serve.
TEST(Cluster, ANodeReadsNoneOfTheEventsOfARoomItDoesNotServe) {
    RedisServer redis;
    // `c` takes every publish (and so holds both rooms: a room a node publishes to is one it
    // uses); `a` and `b` each serve a stream of one.
    Server a(node_args(redis)), b(node_args(redis)), c(node_args(redis));
    SseClient sub(a.port(), "/rooms/served/events?id=ann&presence=0");
    SseClient other(b.port(), "/rooms/elsewhere/events?id=bob&presence=0");
    ASSERT_TRUE(sub.wait_until([&] { return !sub.head.empty(); }));
    ASSERT_TRUE(other.wait_until([&] { return !other.head.empty(); }));
    for (int i = 0; i < 5; ++i) publish(c.port(), "served", "cat", "s");
    for (int i = 0; i < 7; ++i) publish(c.port(), "elsewhere", "cat", "e");
    // Published after the others: had any of them come to `a`, it came before this one.
    publish(c.port(), "served", "cat", "last");
    ASSERT_TRUE(sub.wait_until([&] { return ids_of(sub.events).size() >= 6; }));
    ASSERT_TRUE(other.wait_until([&] { return ids_of(other.events).size() >= 7; }));
    auto read = [&](const Server& s, const std::string& loaded) {
        auto m = request(s.port(), "GET", "/metrics").body;
        std::string key = "ssechat_cluster_events_read_total{room_loaded=\"" + loaded + "\"} ";
        auto at = m.find(key);
        return at == std::string::npos ? -1 : std::stoll(m.substr(at + key.size()));
    };
    EXPECT_EQ(read(a, "true"), 6);
    EXPECT_EQ(read(a, "false"), 0);
    EXPECT_EQ(read(b, "true"), 7);
    EXPECT_EQ(read(b, "false"), 0);
    EXPECT_TRUE(eventually([&] { return read(c, "true") == 13; })) << read(c, "true");
    EXPECT_EQ(read(c, "false"), 0);
}

TEST(Cluster, AHungRedisCostsOneTimeoutNotOnePerRequest) {
    RedisServer redis;
    Server a(node_args(redis));
    SseClient open_stream(a.port(), "/rooms/kept/events?id=ann");
    ASSERT_TRUE(open_stream.wait_until([&] { return !open_stream.head.empty(); }));
    ::kill(redis.pid(), SIGSTOP);  // alive but silent: every call waits for its timeout
    // The first request that needs Redis waits out the 2 s timeout and gets 503...
    EXPECT_EQ(request(a.port(), "GET", "/rooms/new1/messages?limit=1").status, 503);
    // ...and for a second after that, the event loop does not wait again.
    auto t0 = std::chrono::steady_clock::now();
    auto r = request(a.port(), "GET", "/rooms/new2/messages?limit=1");
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(r.status, 503);
    EXPECT_LT(took, 1000ms) << "a failing Redis should be answered at once, not after a timeout";
    EXPECT_NE(json::parse(r.body).at("error").as_string().size(), 0u);
    ::kill(redis.pid(), SIGCONT);
    ASSERT_TRUE(eventually(
        [&] { return request(a.port(), "GET", "/rooms/new2/messages?limit=1").status == 200; }));
    EXPECT_FALSE(open_stream.closed_by_server);
}

TEST(Cluster, AStoreThatLostDataIsReportedNotSilentlySkipped) {
    RedisServer redis;
    Server a(node_args(redis)), b(node_args(redis));
    SseClient sub(a.port(), "/rooms/w/events?id=ann");
    for (int i = 0; i < 3; ++i) publish(b.port(), "w", "bob", "before");
    ASSERT_TRUE(sub.wait_until([&] { return ids_of(sub.events).size() >= 3; }));
    redis.cli({"FLUSHALL"});  // what a Redis without persistence does when it restarts
    EXPECT_EQ(publish(b.port(), "w", "bob", "after"), 1u);
    ASSERT_TRUE(eventually([&] { return a.stderr_text().find("lost data") != std::string::npos; }))
        << a.stderr_text();
}

TEST(Cluster, StartsOnceRedisAnswersAndSaysWhyItWaits) {
    RedisServer redis({}, false);
    std::thread starter([&] {
        std::this_thread::sleep_for(1500ms);
        redis.start();
    });
    // Joined however the start ends: a server that never says its banner is a failure of
    // this test, not a terminate() of the whole binary.
    struct Join {
        std::thread& t;
        ~Join() { t.join(); }
    } join{starter};
    Server n({"--store", "redis", "--redis", redis.url()});
    EXPECT_NE(n.stderr_text().find("cannot connect"), std::string::npos) << n.stderr_text();
    EXPECT_NE(n.stderr_text().find("retrying in"), std::string::npos);
    EXPECT_EQ(publish(n.port(), "late", "x", "hello"), 1u);
}

TEST(Cluster, AWrongPasswordStopsStartupWithOneLine) {
    RedisServer redis(std::vector<std::string>{"--requirepass", "right"});
    auto url = "redis://:wrong@127.0.0.1:" + std::to_string(redis.port());
    auto e = run_binary({"--store", "redis", "--redis", url, "--port", "0"});
    EXPECT_EQ(e.code, 1) << e.out;
    EXPECT_NE(e.out.find("WRONGPASS"), std::string::npos) << e.out;
    // The right one works, and so does a database number.
    Server ok({"--store", "redis", "--redis",
               "redis://:right@127.0.0.1:" + std::to_string(redis.port()) + "/3"});
    EXPECT_EQ(publish(ok.port(), "db3", "x", "hi"), 1u);
    EXPECT_EQ(redis.cli({"-a", "right", "-n", "3", "HGET", "ssechat:rooms", "db3"}), "1\n");
    // The startup line names the Redis, never its password.
    EXPECT_EQ(ok.terminate(), 0);
    std::string err = ok.stderr_text();
    auto start = err.substr(err.find("ssechat started"));
    start = start.substr(0, start.find('\n'));
    EXPECT_NE(
        start.find("store=redis redis=redis://127.0.0.1:" + std::to_string(redis.port()) + "/3"),
        std::string::npos)
        << start;
    EXPECT_EQ(err.find("right"), std::string::npos) << err;
}

TEST(Cluster, BadRedisUrlIsRefusedAtOnce) {
    auto e = run_binary({"--store", "redis", "--redis", "http://localhost"});
    EXPECT_EQ(e.code, 2);
    EXPECT_NE(e.out.find("--redis"), std::string::npos);
}

TEST(Cluster, AnIdempotencyKeyHoldsAcrossNodes) {
    RedisServer redis;
    Server a(node_args(redis)), b(node_args(redis));
    auto send = [](int port, const std::string& text) {
        return request(port, "POST", "/rooms/idem/messages?id=u",
                       json::serialize(json::object{{"message", text}}),
                       {{"Content-Type", "application/json"}, {"Idempotency-Key", "node-key"}});
    };
    auto first = send(a.port(), "once");
    ASSERT_EQ(first.status, 201) << first.body;
    // The answer was lost; the client retries through the load balancer, on the other node.
    auto retry = send(b.port(), "once");
    EXPECT_EQ(retry.status, 200) << retry.body;
    EXPECT_EQ(retry.header("idempotent-replayed"), "true");
    EXPECT_EQ(json::parse(retry.body), json::parse(first.body));
    EXPECT_EQ(send(b.port(), "twice?").status, 422);
    // Both nodes at once with a fresh key: one message.
    std::vector<std::thread> ts;
    std::atomic<int> created{0}, replayed{0};
    for (int i = 0; i < 8; ++i)
        ts.emplace_back([&, i] {
            auto r = request((i % 2 ? a : b).port(), "POST", "/rooms/idem/messages?id=u",
                             R"({"message":"raced"})",
                             {{"Content-Type", "application/json"}, {"Idempotency-Key", "race"}});
            if (r.status == 201) ++created;
            if (r.status == 200) ++replayed;
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(created.load(), 1);
    EXPECT_EQ(replayed.load(), 7);
    auto h = json::parse(request(a.port(), "GET", "/rooms/idem/messages").body);
    EXPECT_EQ(h.at("messages").as_array().size(), 2u);
}

TEST(Cluster, ADeleteErasesTheTextFromEveryRedisStructure) {
    RedisServer redis;
    Server a(node_args(redis)), b(node_args(redis));
    const Headers js{{"Content-Type", "application/json"}};
    auto sent = request(a.port(), "POST", "/rooms/er/messages?id=u",
                        R"({"message":"zebra-secret-one"})", js);
    ASSERT_EQ(sent.status, 201);
    ASSERT_EQ(request(a.port(), "PATCH", "/rooms/er/messages/1?id=u",
                      R"({"message":"zebra-secret-two"})", js)
                  .status,
              200);
    ASSERT_EQ(
        request(a.port(), "POST", "/rooms/er/messages?id=v", R"({"message":"stays"})", js).status,
        201);
    auto dump = [&] {
        std::string all;
        for (auto cmd :
             std::vector<std::vector<std::string>>{{"XRANGE", "ssechat:log", "-", "+"},
                                                   {"XRANGE", "ssechat:room:er", "-", "+"},
                                                   {"HGETALL", "ssechat:msg:er"},
                                                   {"HGETALL", "ssechat:edit:er"}})
            all += redis.cli(cmd);
        return all;
    };
    ASSERT_NE(dump().find("zebra-secret-two"), std::string::npos) << "the check reads the data";
    ASSERT_EQ(request(b.port(), "DELETE", "/rooms/er/messages/1?id=u").status, 200);
    std::string after = dump();
    EXPECT_EQ(after.find("zebra-secret"), std::string::npos) << after;
    EXPECT_NE(after.find("stays"), std::string::npos);
    // Both nodes serve the tombstone, and a stream resuming from the start sees no text.
    for (int port : {a.port(), b.port()}) {
        auto h = json::parse(request(port, "GET", "/rooms/er/messages").body).at("messages");
        EXPECT_TRUE(h.as_array()[0].at("deleted").as_bool());
    }
    SseClient s(b.port(), "/rooms/er/events?since=0&presence=0");
    ASSERT_TRUE(s.wait_events(4));
    EXPECT_EQ(s.body.find("zebra-secret"), std::string::npos) << s.body;
}

TEST(Cluster, RedisDataOfTheLastReleaseIsUpgradedInPlace) {
    RedisServer redis;
    // What the release before edits wrote: room stream entries with their text, no kinds.
    redis.cli({"HSET", "ssechat:rooms", "old", "2"});
    redis.cli({"ZADD", "ssechat:room-names", "0", "old"});
    redis.cli({"XADD", "ssechat:room:old", "1-0", "u", "alice", "m", "from before", "t", "1000"});
    redis.cli({"XADD", "ssechat:room:old", "2-0", "u", "bob", "m", "second", "t", "2000"});
    Server a(node_args(redis)), b(node_args(redis));
    const Headers js{{"Content-Type", "application/json"}};
    auto h = json::parse(request(b.port(), "GET", "/rooms/old/messages").body).at("messages");
    ASSERT_EQ(h.as_array().size(), 2u);
    EXPECT_EQ(h.as_array()[0].at("message").as_string(), "from before");
    EXPECT_EQ(
        request(a.port(), "PATCH", "/rooms/old/messages/1?id=alice", R"({"message":"edited"})", js)
            .status,
        200);
    EXPECT_EQ(request(a.port(), "PATCH", "/rooms/old/messages/2?id=alice", R"({"message":"x"})", js)
                  .status,
              403);
    EXPECT_EQ(request(b.port(), "PUT", "/rooms/old/messages/2/reactions/:ok:?id=alice").status,
              200);
    auto sent = request(a.port(), "POST", "/rooms/old/messages?id=u", R"({"message":"new"})", js);
    EXPECT_EQ(json::parse(sent.body).at("id").as_int64(), 5);
    h = json::parse(request(b.port(), "GET", "/rooms/old/messages").body).at("messages");
    ASSERT_EQ(h.as_array().size(), 3u);
    EXPECT_EQ(h.as_array()[0].at("message").as_string(), "edited");
    EXPECT_EQ(h.as_array()[1].at("reactions").as_array().size(), 1u);
    EXPECT_EQ(redis.cli({"GET", "ssechat:schema"}), "2\n");
}

// An entry of a kind this release does not know (a newer node's, during a rolling upgrade) is
// never read as a message: the cluster log passes over it with an error logged, and a read of
// the room stream that meets it fails as a store error (a replay ends, to come back). Other
// rooms go on.
TEST(Cluster, AnEntryOfAnUnknownKindIsNeverAMessage) {
    RedisServer redis;
    Server a(node_args(redis));
    publish(a.port(), "nk", "alice", "one");
    SseClient live(a.port(), "/rooms/nk/events?presence=0");
    SseClient other(a.port(), "/rooms/fine/events?presence=0");
    ASSERT_TRUE(live.wait_until([&] { return live.status == 200; }));
    ASSERT_TRUE(other.wait_until([&] { return other.status == 200; }));
    redis.cli({"HSET", "ssechat:rooms", "nk", "2"});
    redis.cli({"XADD", "ssechat:room:nk", "2-0", "k", "z", "u", "zed", "m", "not a message", "t",
               "2000", "p", "99"});
    // As a newer node's publish.lua would: the log entry, and its feed message (feed.lua).
    std::vector<std::string> fields{
        "r", "nk", "i", "2", "k", "z", "u", "zed", "m", "not a message", "t", "2000", "p", "99"};
    std::vector<std::string> xadd{"XADD", "ssechat:log", "*"};
    xadd.insert(xadd.end(), fields.begin(), fields.end());
    std::string lid = redis.cli(xadd);
    while (!lid.empty() && std::isspace(static_cast<unsigned char>(lid.back()))) lid.pop_back();
    std::string framed = std::to_string(lid.size()) + ":" + lid;
    for (const auto& f : fields) framed += std::to_string(f.size()) + ":" + f;
    redis.cli({"SPUBLISH", "ssechat:feed-room:nk", framed});
    publish(a.port(), "fine", "alice", "still here");
    ASSERT_TRUE(other.wait_until([&] { return ids_of(other.events).size() == 1; }));
    // A node that loads the room now reads the entry from the room stream.
    Server b(node_args(redis));
    SseClient replay(b.port(), "/rooms/nk/events?since=0&presence=0");
    replay.wait_closed(3000ms);
    live.drain(300ms);
    for (const auto* c : {&live, &replay})
        EXPECT_EQ(c->body.find("not a message"), std::string::npos) << c->body;
    EXPECT_TRUE(replay.status == 503 || replay.body.find("store unavailable") != std::string::npos)
        << replay.status << " " << replay.body;
    EXPECT_NE(a.stderr_text().find("unknown kind 'z'"), std::string::npos) << a.stderr_text();
}
