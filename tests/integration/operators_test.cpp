// What an operator sees: log lines (read from the real binary's stderr), metrics, the CLI and
// the man page.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "harness.hpp"

using namespace itest;
namespace json = boost::json;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

// The first line containing `needle`, or "".
std::string line_with(const std::string& text, const std::string& needle) {
    for (const auto& l : lines_of(text))
        if (l.find(needle) != std::string::npos) return l;
    return {};
}

const std::regex kTextLine(
    R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (trace|debug|info|warning|error|critical) .+$)");

double metric(const std::string& body, const std::string& name) {
    auto p = body.find("\n" + name + " ");
    return p == std::string::npos ? -1 : std::stod(body.substr(p + name.size() + 2));
}

std::string token(const std::string& sub, const std::string& secret) {
    auto e = run_binary({"token", "--sub", sub, "--secret", secret});
    return e.out.substr(0, e.out.find('\n'));
}

}  // namespace

TEST(Operators, StartupAndShutdownLinesSayWhatRunsAndWhatWasDrained) {
    std::string dir = temp_dir();
    Server srv({"--data", dir, "--jwt-secret", "s3cret", "--max-rooms", "777", "--threads", "2"});
    EXPECT_EQ(srv.terminate(), 0);
    std::string err = srv.stderr_text();
    for (const auto& l : lines_of(err)) EXPECT_TRUE(std::regex_match(l, kTextLine)) << l;
    std::string start = line_with(err, "ssechat started");
    ASSERT_FALSE(start.empty()) << err;
    for (const std::string& want : std::vector<std::string>{
             "version=", "commit=", "store=sqlite", "data=" + dir + "/ssechat.db", "threads=2",
             "auth=HS256", "max_rooms=777",
             "max_connections=", "max_streams_per_user=", "publish_rate="})
        EXPECT_NE(start.find(want), std::string::npos) << want << " in " << start;
    EXPECT_EQ(start.find("s3cret"), std::string::npos);
    std::string stop = line_with(err, "ssechat stopped");
    ASSERT_FALSE(stop.empty()) << err;
    for (std::string want : {"streams_closed=", "publishes_committed=", "answers_drained=",
                             "took_ms=", "exit_status=0"})
        EXPECT_NE(stop.find(want), std::string::npos) << want << " in " << stop;
}

TEST(Operators, AccessLogHasRouteTemplatesAndNeverTokensOrText) {
    Server srv({"--store", "memory", "--jwt-secret", "k", "--access-log"});
    std::string t = token("alice", "k");
    auto r =
        request(srv.port(), "POST", "/rooms/secret-room/messages", R"({"message":"hush hush"})",
                {{"Authorization", "Bearer " + t}, {"Content-Type", "application/json"}});
    ASSERT_EQ(r.status, 201);
    SseClient s(srv.port(), "/rooms/secret-room/events?token=" + t);
    ASSERT_TRUE(s.wait_until([&] { return s.status == 200; }));
    EXPECT_EQ(request(srv.port(), "GET", "/nowhere?token=" + t).status, 404);
    s.close();
    EXPECT_EQ(srv.terminate(), 0);
    std::string err = srv.stderr_text();
    std::string post = line_with(err, "method=POST");
    for (std::string want :
         {"route=/rooms/{room}/messages", "status=201", "bytes=", "ms=", "user=alice"})
        EXPECT_NE(post.find(want), std::string::npos) << want << " in " << post;
    std::string get = line_with(err, "route=/rooms/{room}/events");
    EXPECT_NE(get.find("status=200"), std::string::npos) << get;
    EXPECT_NE(line_with(err, "route=unmatched").find("status=404"), std::string::npos) << err;
    EXPECT_EQ(err.find("secret-room"), std::string::npos) << "raw paths are not logged";
    EXPECT_EQ(err.find("hush"), std::string::npos) << "message text is never logged";
    EXPECT_EQ(err.find(t.substr(t.find('.') + 1, 20)), std::string::npos) << "tokens never";
    // Off by default.
    Server quiet({"--store", "memory"});
    request(quiet.port(), "GET", "/rooms");
    EXPECT_EQ(quiet.terminate(), 0);
    EXPECT_EQ(quiet.stderr_text().find("method="), std::string::npos);
}

TEST(Operators, JsonLogsAreOneObjectPerLine) {
    Server srv({"--store", "memory", "--log-format", "json", "--access-log"});
    request(srv.port(), "GET", "/rooms?x=\"quoted\"");
    EXPECT_EQ(srv.terminate(), 0);
    auto lines = lines_of(srv.stderr_text());
    ASSERT_GE(lines.size(), 3u);
    std::set<std::string> msgs;
    for (const auto& l : lines) {
        json::error_code ec;
        auto v = json::parse(l, ec);
        ASSERT_FALSE(ec) << l;
        auto& o = v.as_object();
        EXPECT_TRUE(std::regex_match(std::string(o.at("ts").as_string()),
                                     std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
        EXPECT_TRUE(o.contains("level"));
        msgs.insert(std::string(o.at("msg").as_string()));
    }
    EXPECT_TRUE(msgs.count("ssechat started"));
    EXPECT_TRUE(msgs.count("request"));
    EXPECT_TRUE(msgs.count("ssechat stopped"));
    // stdout too: the banner is a record, with the address as its own field.
    json::error_code ec;
    auto banner = json::parse(srv.stdout_line(), ec);
    ASSERT_FALSE(ec) << srv.stdout_line();
    EXPECT_EQ(banner.at("level").as_string(), "info");
    EXPECT_EQ(banner.at("msg").as_string(),
              "Server is listening at http://localhost:" + std::to_string(srv.port()));
    EXPECT_EQ(banner.at("listen").as_string(), "http://localhost:" + std::to_string(srv.port()));
    // And a startup error.
    Server busy({"--store", "memory"});
    auto second = run_binary(
        {"--store", "memory", "--log-format", "json", "--port", std::to_string(busy.port())});
    EXPECT_EQ(second.code, 1);
    auto err = json::parse(second.out, ec);
    ASSERT_FALSE(ec) << second.out;
    EXPECT_EQ(err.at("level").as_string(), "error");
    EXPECT_EQ(err.at("msg").as_string(),
              "ssechat: port " + std::to_string(busy.port()) + " is in use");
}

TEST(Operators, ServerErrorsAreLoggedWithTheirReasonClientErrorsOnlyCounted) {
    Server srv({"--store", "memory", "--max-rooms", "1"});
    SseClient hold(srv.port(), "/rooms/a/events");
    ASSERT_TRUE(hold.wait_until([&] { return hold.status == 200; }));
    auto r = post_json(srv.port(), "/rooms/b/messages?id=u", R"({"message":"x"})");
    ASSERT_EQ(r.status, 503);
    EXPECT_EQ(request(srv.port(), "GET", "/rooms/b/messages?limit=0").status, 400);
    auto m = request(srv.port(), "GET", "/metrics").body;
    EXPECT_EQ(
        metric(m, "ssechat_http_requests_total{route=\"/rooms/{room}/messages\",code=\"5xx\"}"), 1);
    EXPECT_EQ(
        metric(m, "ssechat_http_requests_total{route=\"/rooms/{room}/messages\",code=\"4xx\"}"), 1);
    EXPECT_EQ(metric(m, "ssechat_http_requests_total{route=\"/rooms/{room}/events\",code=\"2xx\"}"),
              1);
    hold.close();
    EXPECT_EQ(srv.terminate(), 0);
    std::string err = srv.stderr_text();
    std::string warn = line_with(err, "server error");
    EXPECT_NE(warn.find(" warning "), std::string::npos) << warn;
    EXPECT_NE(warn.find("status=503"), std::string::npos) << warn;
    EXPECT_NE(warn.find("in use"), std::string::npos) << "the reason: " << warn;
    EXPECT_EQ(err.find("client error"), std::string::npos) << err;
    // At debug level client errors are logged too.
    Server dbg({"--store", "memory", "--log-level", "debug"});
    request(dbg.port(), "GET", "/rooms?limit=0");
    EXPECT_EQ(dbg.terminate(), 0);
    EXPECT_NE(line_with(dbg.stderr_text(), "client error").find("limit must be"),
              std::string::npos);
    // warn and above only.
    Server w({"--store", "memory", "--log-level", "warn"});
    EXPECT_EQ(w.terminate(), 0);
    EXPECT_EQ(w.stderr_text(), "");
}

TEST(Operators, ProcessAndBuildMetrics) {
    Server srv({"--store", "memory"});
    SseClient a(srv.port(), "/rooms/r/events?id=ann"), a2(srv.port(), "/rooms/q/events?id=ann"),
        b(srv.port(), "/rooms/r/events?id=bob");
    for (auto* c : {&a, &a2, &b}) ASSERT_TRUE(c->wait_until([&] { return c->status == 200; }));
    auto m = request(srv.port(), "GET", "/metrics").body;
    EXPECT_GT(metric(m, "process_resident_memory_bytes"), 1e6);
    EXPECT_GT(metric(m, "process_open_fds"), 3);
    EXPECT_GT(metric(m, "process_max_fds"), 0);
    EXPECT_GE(metric(m, "process_cpu_seconds_total"), 0);
    double start = metric(m, "process_start_time_seconds");
    double now = static_cast<double>(std::time(nullptr));
    EXPECT_GT(start, now - 120);
    EXPECT_LE(start, now + 2);
    EXPECT_NE(m.find("ssechat_build_info{version=\""), std::string::npos);
    EXPECT_NE(m.find("\",commit=\""), std::string::npos);
    EXPECT_EQ(metric(m, "ssechat_users_online"), 2);
    EXPECT_EQ(metric(m, "ssechat_rooms_loaded"), 2);
}

TEST(Operators, MetricsWithTokensNeedTheirOwnTokenOrLoopback) {
    Server locked({"--store", "memory", "--jwt-secret", "k", "--metrics-token", "scrape-me"});
    EXPECT_EQ(request(locked.port(), "GET", "/metrics").status, 401);
    auto user = request(locked.port(), "GET", "/metrics", "",
                        {{"Authorization", "Bearer " + token("alice", "k")}});
    EXPECT_EQ(user.status, 401) << "a user's token is not a scraper's";
    EXPECT_NE(user.body.find("--metrics-token"), std::string::npos);
    auto ok =
        request(locked.port(), "GET", "/metrics", "", {{"Authorization", "Bearer scrape-me"}});
    EXPECT_EQ(ok.status, 200);
    EXPECT_NE(ok.body.find("process_open_fds"), std::string::npos);
    EXPECT_EQ(
        request(locked.port(), "GET", "/rooms", "", {{"Authorization", "Bearer scrape-me"}}).status,
        401)
        << "the metrics token opens /metrics only";
    Server loop({"--store", "memory", "--jwt-secret", "k", "--metrics-loopback"});
    EXPECT_EQ(request(loop.port(), "GET", "/metrics").status, 200);
    // Without tokens, /metrics stays open as before.
    Server open({"--store", "memory"});
    EXPECT_EQ(request(open.port(), "GET", "/metrics").status, 200);
}

TEST(Operators, HelpVersionTokenHelpAndTheManPageAgree) {
    auto h = run_binary({"--help"});
    ASSERT_EQ(h.code, 0);
    EXPECT_NE(h.out.find("\n  token "), std::string::npos) << "subcommands are listed";
    std::set<std::string> help_flags;
    std::regex flag(R"(^  --([a-z0-9-]+)( VALUE)?( +)?(.*)$)");
    for (const auto& l : lines_of(h.out)) {
        std::smatch m;
        if (!std::regex_match(l, m, flag)) continue;
        help_flags.insert(m[1]);
        // The text never runs into the name: two spaces at least, or on its own line.
        if (!m[4].str().empty()) {
            EXPECT_GE(m[3].length(), 2) << l;
        }
    }
    EXPECT_GT(help_flags.size(), 30u);
    for (std::string f : {"max-connections-per-ip", "max-streams-per-user", "access-log"})
        EXPECT_TRUE(help_flags.count(f)) << f;
    auto v = run_binary({"--version"});
    EXPECT_EQ(v.code, 0);
    EXPECT_TRUE(
        std::regex_match(v.out, std::regex(R"(ssechat \d+\.\d+\.\d+ \(commit [0-9a-z-]+\)\n)")))
        << v.out;
    auto t = run_binary({"token", "--help"});
    EXPECT_EQ(t.code, 0);
    EXPECT_NE(t.out.find("--sub"), std::string::npos);
    // The man page is written from the same table at build time.
    std::ifstream f(std::string(SSECHAT_BINARY).substr(0, std::string(SSECHAT_BINARY).rfind('/')) +
                    "/ssechat.1");
    std::stringstream man;
    man << f.rdbuf();
    ASSERT_NE(man.str().find(".TH SSECHAT 1"), std::string::npos);
    std::set<std::string> man_flags;
    std::regex item(R"(^\.B \\-\\-([a-z0-9\\-]+).*$)");
    for (const auto& l : lines_of(man.str())) {
        std::smatch m;
        if (std::regex_match(l, m, item)) {
            std::string name = m[1];
            std::string plain;
            for (size_t i = 0; i < name.size(); ++i)
                if (name[i] != '\\') plain += name[i];
            man_flags.insert(plain);
        }
    }
    help_flags.insert({"help", "version"});
    EXPECT_EQ(man_flags, help_flags);
}
