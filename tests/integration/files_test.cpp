// Files over the real API, in memory and in SQLite: uploads typed by their bytes (never the
// client's word), served with the headers that keep a browser from running them, ranges and
// revalidation, who may fetch what, messages that carry files, deletes that erase them,
// limits, a crash mid-upload, and two nodes sharing files through Redis.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "harness.hpp"
#include "services.hpp"

using namespace itest;
namespace json = boost::json;

namespace {

constexpr const char* kSecret = "files-secret";

Headers as(const std::string& user, const std::string& type = "application/json") {
    return {{"Authorization", "Bearer " + hs256_token(kSecret, user, {})}, {"Content-Type", type}};
}

// A PNG's signature and header chunk (800 x 600), then filler: enough for the server, which
// reads sizes from the header and decodes nothing.
std::string png(uint32_t w = 800, uint32_t h = 600, size_t filler = 100) {
    std::string s("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16);
    for (uint32_t v : {w, h})
        for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((v >> shift) & 0xFF);
    s += std::string("\x08\x06\0\0\0", 5);
    for (size_t i = 0; i < filler; ++i) s += static_cast<char>(i * 7);
    return s;
}

// Every file under dir (the stored bytes), recursively.
std::vector<std::filesystem::path> stored(const std::string& dir) {
    std::vector<std::filesystem::path> out;
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
         it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
        if (it->is_regular_file()) out.push_back(it->path());
    return out;
}

class Files : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override { start({}); }
    void start(std::vector<std::string> extra) {
        srv_.reset();
        std::vector<std::string> args{"--publish-rate", "0",       "--jwt-secret",
                                      kSecret,          "--files", files_};
        if (GetParam() == "sqlite")
            args.insert(args.end(), {"--store", "sqlite", "--data", data_});
        else
            args.insert(args.end(), {"--store", "memory"});
        args.insert(args.end(), extra.begin(), extra.end());
        srv_ = std::make_unique<Server>(args);
    }
    Response call(const std::string& user, const std::string& method, const std::string& target,
                  const std::string& body = "", Headers extra = {},
                  const std::string& type = "application/json") {
        Headers h = as(user, type);
        h.insert(h.end(), extra.begin(), extra.end());
        return request(srv_->port(), method, target, body, h);
    }
    json::object upload(const std::string& user, const std::string& room, const std::string& name,
                        const std::string& bytes, const std::string& type = "image/png") {
        auto r = call(user, "POST", "/rooms/" + room + "/files?name=" + name, bytes, {}, type);
        EXPECT_EQ(r.status, 201) << r.body;
        if (r.status != 201) return {};
        return json::parse(r.body).at("file").as_object();
    }
    std::string data_ = temp_dir(), files_ = temp_dir() + "-files";
    std::unique_ptr<Server> srv_;
};

TEST_P(Files, AnUploadIsTypedByItsBytesAndServedSoNoBrowserRunsIt) {
    auto f = upload("alice", "town", "cat.png", png(), "text/html");
    std::vector<std::string> keys;
    for (const auto& kv : f) keys.emplace_back(kv.key());
    EXPECT_EQ(keys, (std::vector<std::string>{"id", "name", "type", "size", "width", "height"}));
    EXPECT_EQ(f.at("type").as_string(), "image/png") << "sniffed, not the client's word";
    EXPECT_EQ(f.at("width").to_number<int>(), 800);
    EXPECT_EQ(f.at("height").to_number<int>(), 600);
    EXPECT_EQ(f.at("size").to_number<size_t>(), png().size());
    std::string id(f.at("id").as_string());

    auto got = call("bob", "GET", "/files/" + id + "/cat.png");
    ASSERT_EQ(got.status, 200) << got.body;
    EXPECT_EQ(got.body, png());
    EXPECT_EQ(got.header("content-type"), "image/png");
    EXPECT_EQ(got.header("x-content-type-options"), "nosniff");
    EXPECT_EQ(got.header("content-security-policy"), "sandbox");
    EXPECT_EQ(got.header("content-disposition").rfind("inline", 0), 0u);
    EXPECT_FALSE(got.header("etag").empty());

    // An HTML page that says it is an image is text, and an attachment.
    const std::string page = "<html><script>alert(1)</script></html>";
    auto h = upload("alice", "town", "evil.png", page, "image/png");
    EXPECT_EQ(h.at("type").as_string(), "text/plain; charset=utf-8");
    EXPECT_FALSE(h.contains("width"));
    auto served = call("bob", "GET", "/files/" + std::string(h.at("id").as_string()) + "/evil.png");
    ASSERT_EQ(served.status, 200);
    EXPECT_EQ(served.header("content-type"), "text/plain; charset=utf-8");
    EXPECT_EQ(served.header("content-disposition"), "attachment; filename*=UTF-8''evil.png");
    EXPECT_EQ(served.header("content-security-policy"), "sandbox");

    auto binary = upload("alice", "town", "x.bin", std::string("\0\1\2\3", 4), "image/png");
    EXPECT_EQ(binary.at("type").as_string(), "application/octet-stream");
}

TEST_P(Files, RangesAndRevalidation) {
    std::string bytes = png(10, 10, 1000);
    auto f = upload("alice", "town", "r.png", bytes);
    std::string path = "/files/" + std::string(f.at("id").as_string()) + "/r.png";
    auto first = call("bob", "GET", path, "", {{"Range", "bytes=0-9"}});
    EXPECT_EQ(first.status, 206);
    EXPECT_EQ(first.body, bytes.substr(0, 10));
    EXPECT_EQ(first.header("content-range"), "bytes 0-9/" + std::to_string(bytes.size()));
    auto tail = call("bob", "GET", path, "", {{"Range", "bytes=-5"}});
    EXPECT_EQ(tail.status, 206);
    EXPECT_EQ(tail.body, bytes.substr(bytes.size() - 5));
    auto open = call("bob", "GET", path, "", {{"Range", "bytes=1000-"}});
    EXPECT_EQ(open.status, 206);
    EXPECT_EQ(open.body, bytes.substr(1000));
    auto past = call("bob", "GET", path, "", {{"Range", "bytes=999999-"}});
    EXPECT_EQ(past.status, 416);
    EXPECT_EQ(past.header("content-range"), "bytes */" + std::to_string(bytes.size()));
    auto several = call("bob", "GET", path, "", {{"Range", "bytes=0-1,5-6"}});
    EXPECT_EQ(several.status, 200) << "several ranges: the whole file";
    EXPECT_EQ(several.body, bytes);
    auto etag = first.header("etag");
    EXPECT_EQ(call("bob", "GET", path, "", {{"If-None-Match", etag}}).status, 304);
    auto stale = call("bob", "GET", path, "", {{"Range", "bytes=0-1"}, {"If-Range", "\"old\""}});
    EXPECT_EQ(stale.status, 200) << "If-Range of another version: the whole file";
    std::string head =
        raw(srv_->port(), "HEAD " + path + " HTTP/1.1\r\nHost: x\r\n" + "Authorization: Bearer " +
                              hs256_token(kSecret, "bob", {}) + "\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
    EXPECT_NE(head.find("Content-Length: " + std::to_string(bytes.size()) + "\r\n"),
              std::string::npos)
        << head;
    EXPECT_EQ(head.substr(head.find("\r\n\r\n") + 4), "") << "no body";
    EXPECT_EQ(call("bob", "GET", path.substr(0, path.size() - 5) + "other.png").status, 404)
        << "the name is part of the address";
}

TEST_P(Files, APrivateRoomsFilesAreItsMembersAlone) {
    auto made = call("alice", "POST", "/rooms", R"({"visibility":"private","name":"Plans"})");
    ASSERT_EQ(made.status, 201) << made.body;
    std::string priv(json::parse(made.body).at("room").as_string());
    ASSERT_EQ(
        call("alice", "PUT", "/rooms/" + priv + "/members/bob", R"({"role":"member"})").status /
            100,
        2);
    auto f = upload("alice", priv, "plan.png", png());
    std::string path = "/files/" + std::string(f.at("id").as_string()) + "/plan.png";
    EXPECT_EQ(call("bob", "GET", path).status, 200);
    auto refused = call("carol", "GET", path);
    auto missing = call("carol", "GET", "/files/0123456789abcdef0123456789abcdef/plan.png");
    EXPECT_EQ(refused.status, 404);
    EXPECT_EQ(refused.body, missing.body) << "the same answer as for no file at all";
    EXPECT_EQ(refused.body.find(priv), std::string::npos);
    EXPECT_EQ(call("carol", "POST", "/rooms/" + priv + "/files?name=x.png", png(), {}, "image/png")
                  .status,
              404)
        << "uploading needs the right to post there";
}

TEST_P(Files, AMessageCarriesItsUploadersFilesOnceAndADeleteErasesThem) {
    auto f = upload("alice", "town", "cat.png", png());
    std::string id(f.at("id").as_string());
    auto post = [&](const std::string& user, const std::string& body) {
        return call(user, "POST", "/rooms/town/messages", body);
    };
    EXPECT_EQ(post("bob", R"({"message":"mine now","files":[")" + id + R"("]})").status, 400)
        << "someone else's file";
    EXPECT_EQ(post("alice", R"({"message":"x","files":["nope"]})").status, 400);
    EXPECT_EQ(post("alice", R"({"message":"x","files":"nope"})").status, 400);
    std::string eleven = R"({"message":"x","files":[)";
    for (int i = 0; i < 11; ++i) eleven += (i ? ",\"" : "\"") + std::to_string(i) + "\"";
    EXPECT_EQ(post("alice", eleven + "]}").status, 400);
    EXPECT_TRUE(upload("alice", "elsewhere", "o.png", png(2, 2)).contains("id"));
    EXPECT_TRUE(upload("alice", "elsewhere", "same.png", png()).contains("id"))
        << "the same bytes again: another file, stored once";

    auto sent = post("alice", R"({"message":"","files":[")" + id + R"("]})");
    ASSERT_EQ(sent.status, 201) << sent.body << " (text may be empty with files)";
    auto ev = json::parse(sent.body).as_object();
    ASSERT_EQ(ev.at("files").as_array().size(), 1u);
    EXPECT_EQ(json::serialize(ev.at("files").as_array()[0]), json::serialize(json::value(f)));
    EXPECT_EQ(post("alice", R"({"message":"again","files":[")" + id + R"("]})").status, 400)
        << "one message per file";
    auto history = json::parse(call("bob", "GET", "/rooms/town/messages").body);
    auto& last = history.at("messages").as_array().back();
    EXPECT_EQ(last.at("files").as_array()[0].at("name").as_string(), "cat.png");

    EXPECT_EQ(stored(files_).size(), 2u) << "three files, two contents";
    std::string path = "/files/" + id + "/cat.png";
    uint64_t mid = ev.at("id").to_number<uint64_t>();
    EXPECT_EQ(call("carol", "DELETE", "/rooms/town/messages/" + std::to_string(mid)).status, 403);
    EXPECT_EQ(call("bob", "GET", path).status, 200);
    ASSERT_EQ(call("alice", "DELETE", "/rooms/town/messages/" + std::to_string(mid)).status, 200);
    bool gone = false;
    for (int i = 0; i < 50 && !gone; ++i) {
        gone = call("bob", "GET", path).status == 404;
        if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(gone) << "a deleted message's files go with it";
    auto after = json::parse(call("bob", "GET", "/rooms/town/messages").body);
    EXPECT_FALSE(after.at("messages").as_array().back().as_object().contains("files"));
    // The bytes stay while another file has the same ones, and go with the last of them.
    EXPECT_EQ(stored(files_).size(), 2u);
}

TEST_P(Files, LimitsSizeRateAndNames) {
    start({"--max-upload", "1000", "--upload-rate", "3"});
    auto big = call("alice", "POST", "/rooms/town/files?name=big.bin", std::string(1001, 'x'), {},
                    "application/octet-stream");
    EXPECT_EQ(big.status, 413) << big.body;
    EXPECT_EQ(call("alice", "POST", "/rooms/town/files", "abc", {}, "text/plain").status, 400)
        << "no name";
    EXPECT_EQ(call("alice", "POST", "/rooms/town/files?name=..", "abc", {}, "text/plain").status,
              400);
    EXPECT_EQ(call("alice", "POST", "/rooms/town/files?name=a%2Fb", "abc", {}, "text/plain").status,
              400);
    EXPECT_EQ(call("alice", "POST", "/rooms/town/files?name=empty", "", {}, "text/plain").status,
              400);
    int created = 0, limited = 0;
    for (int i = 0; i < 5; ++i) {
        auto r = call("bob", "POST", "/rooms/town/files?name=n" + std::to_string(i), "hello", {},
                      "text/plain");
        created += r.status == 201;
        limited += r.status == 429;
        if (r.status == 429) {
            EXPECT_FALSE(r.header("retry-after").empty());
        }
    }
    EXPECT_EQ(created, 3);
    EXPECT_EQ(limited, 2);
}

TEST_P(Files, AThirtyMegabyteUploadIsRefusedByItsLength) {
    // The head alone: refused before a byte of the body is read.
    std::string head =
        "POST /rooms/town/files?name=huge.bin HTTP/1.1\r\nHost: x\r\n"
        "Authorization: Bearer " +
        hs256_token(kSecret, "alice", {}) +
        "\r\nContent-Type: application/octet-stream\r\n"
        "Content-Length: 31457280\r\n\r\n";
    std::string answer = raw(srv_->port(), head);
    EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer;
}

TEST_P(Files, UploadBodiesInFlightAreBoundedBeforeTheyAreRead) {
    // Four bodies from one address may be on their way; a fifth is refused at its head.
    std::string head =
        "POST /rooms/town/files?name=slow.bin HTTP/1.1\r\nHost: x\r\n"
        "Authorization: Bearer " +
        hs256_token(kSecret, "alice", {}) +
        "\r\nContent-Type: application/octet-stream\r\n"
        "Content-Length: 1000000\r\n\r\n";
    std::vector<int> fds;
    for (int i = 0; i < 4; ++i) {
        int fd = dial(srv_->port());
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(head.size()));
        fds.push_back(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::string fifth = raw(srv_->port(), head, std::chrono::milliseconds(2000));
    EXPECT_EQ(fifth.rfind("HTTP/1.1 503", 0), 0u) << fifth;
    for (int fd : fds) ::close(fd);
    // Their slots are free again once those connections are gone.
    bool ok = false;
    for (int i = 0; i < 50 && !ok; ++i) {
        ok = call("alice", "POST", "/rooms/town/files?name=after.bin", "bytes", {},
                  "application/octet-stream")
                 .status == 201;
        if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(ok);
}

INSTANTIATE_TEST_SUITE_P(Stores, Files, ::testing::Values("memory", "sqlite"),
                         [](const auto& info) { return info.param; });

TEST(FilesCrash, AKillMidUploadLeavesNoFile) {
    std::string data = temp_dir(), files = temp_dir();
    std::vector<std::string> args{"--data", data, "--files", files};
    auto srv = std::make_unique<Server>(args);
    std::string body(2 << 20, 'z');
    int fd = dial(srv->port());
    ASSERT_GE(fd, 0);
    std::string head =
        "POST /rooms/town/files?name=half.bin&id=alice HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/octet-stream\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n";
    ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(head.size()));
    ASSERT_GT(::send(fd, body.data(), body.size() / 2, MSG_NOSIGNAL), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    srv->kill9();
    ::close(fd);
    // A temporary file a crash left behind (as if mid-write) is cleared at the start.
    std::filesystem::create_directories(files);
    { std::ofstream(files + "/.upload-0123456789abcdef") << "half"; }
    srv = std::make_unique<Server>(args);
    EXPECT_TRUE(stored(files).empty());
    auto ok = request(srv->port(), "POST", "/rooms/town/files?name=whole.bin&id=alice",
                      std::string(1000, 'w'), {{"Content-Type", "application/octet-stream"}});
    EXPECT_EQ(ok.status, 201) << ok.body;
    EXPECT_EQ(stored(files).size(), 1u);
}

// Two nodes on one Redis and one shared folder: a file uploaded on one is fetched on the
// other, a message's files reach the other's streams and history, and a delete on either
// erases them for both.
TEST(FilesCluster, TwoNodesShareFilesThroughRedisAndOneFolder) {
    RedisServer redis;
    std::string files = temp_dir();
    std::vector<std::string> args{"--store", "redis", "--redis",        redis.url(),
                                  "--files", files,   "--publish-rate", "0"};
    Server a(args), b(args);
    auto up = request(a.port(), "POST", "/rooms/r/files?name=a.png&id=alice", png(),
                      {{"Content-Type", "image/png"}});
    ASSERT_EQ(up.status, 201) << up.body;
    std::string id(json::parse(up.body).at("file").at("id").as_string());
    SseClient watcher(b.port(), "/rooms/r/events?id=bob&history=0");
    ASSERT_TRUE(watcher.wait_until([&] { return watcher.status == 200; }));
    auto sent = post_json(a.port(), "/rooms/r/messages?id=alice",
                          R"({"message":"look","files":[")" + id + R"("]})");
    ASSERT_EQ(sent.status, 201) << sent.body;
    ASSERT_TRUE(watcher.wait_until([&] {
        for (const auto& e : watcher.events)
            if (e.event == "message" && e.data.find("\"files\"") != std::string::npos) return true;
        return false;
    }));
    auto fetched = request(b.port(), "GET", "/files/" + id + "/a.png?id=bob");
    EXPECT_EQ(fetched.status, 200);
    EXPECT_EQ(fetched.body, png());
    auto history = json::parse(request(b.port(), "GET", "/rooms/r/messages").body);
    EXPECT_EQ(
        history.at("messages").as_array().back().at("files").as_array()[0].at("id").as_string(),
        id);
    EXPECT_EQ(post_json(b.port(), "/rooms/r/messages?id=alice",
                        R"({"message":"again","files":[")" + id + R"("]})")
                  .status,
              400)
        << "claimed once, whichever node asks";
    uint64_t mid = json::parse(sent.body).at("id").to_number<uint64_t>();
    ASSERT_EQ(request(b.port(), "DELETE", "/rooms/r/messages/" + std::to_string(mid) + "?id=alice")
                  .status,
              200);
    bool gone = false;
    for (int i = 0; i < 50 && !gone; ++i) {
        gone = request(a.port(), "GET", "/files/" + id + "/a.png?id=bob").status == 404;
        if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(gone);
    // The bytes are erased just after the description: wait for them too.
    for (int i = 0; i < 50 && !stored(files).empty(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_TRUE(stored(files).empty()) << "the bytes went with the only file that had them";
    auto after = json::parse(request(a.port(), "GET", "/rooms/r/messages").body);
    EXPECT_FALSE(after.at("messages").as_array().back().as_object().contains("files"));
}

}  // namespace
