// HTTP/2 against the real binary: h2c with prior knowledge from a frame-level client (HPACK
// from nghttp2's own coder, everything else by hand, so that tests can also send what a
// well-behaved client never would), with curl, and with nghttp (nghttp2-client).
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstring>
#include <map>
#include <thread>

#include "harness.hpp"
#include "services.hpp"

using namespace itest;
namespace sse = ssechat::sse;

namespace {

struct Frame {
    uint8_t type = 0;
    uint8_t flags = 0;
    int32_t stream = 0;
    std::string payload;
};

constexpr uint8_t kData = 0, kHeaders = 1, kRst = 3, kSettings = 4, kPing = 6, kGoaway = 7,
                  kWindowUpdate = 8, kContinuation = 9;
constexpr uint8_t kEndStream = 1, kEndHeaders = 4, kAck = 1;

std::string u32(uint32_t v) {
    std::string s(4, '\0');
    for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(v >> (24 - 8 * i));
    return s;
}

// A client that speaks HTTP/2 frame by frame over one h2c connection.
class H2 {
  public:
    // window: the initial window per stream this client advertises.
    explicit H2(int port, uint32_t window = 1u << 30) {
        fd_ = dial(port);
        timeval tv{0, 100000};
        setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        nghttp2_hd_deflate_new(&deflater_, 4096);
        nghttp2_hd_inflate_new(&inflater_);
        std::string settings;
        settings += std::string("\x00\x04", 2) + u32(window);  // SETTINGS_INITIAL_WINDOW_SIZE
        write(std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
        frame(kSettings, 0, 0, settings);
        frame(kWindowUpdate, 0, 0, u32((1u << 30) - 65535));  // the connection's window
    }
    ~H2() {
        if (fd_ >= 0) ::close(fd_);
        nghttp2_hd_deflate_del(deflater_);
        nghttp2_hd_inflate_del(inflater_);
    }

    // A small receive buffer, so that a server writing faster than this reads blocks soon.
    void small_receive_buffer() {
        int n = 16384;
        setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &n, sizeof n);
    }
    void end_input() { ::shutdown(fd_, SHUT_WR); }
    // Bytes read that do not make a whole frame.
    size_t partial() const { return buf_.size(); }

    void write(const std::string& bytes) {
        size_t off = 0;
        while (off < bytes.size()) {
            ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
            if (n <= 0) return;  // the server closed; reads will tell
            off += static_cast<size_t>(n);
        }
    }
    static std::string encode_frame(uint8_t type, uint8_t flags, int32_t stream,
                                    const std::string& payload) {
        std::string h(9, '\0');
        h[0] = static_cast<char>(payload.size() >> 16);
        h[1] = static_cast<char>(payload.size() >> 8);
        h[2] = static_cast<char>(payload.size());
        h[3] = static_cast<char>(type);
        h[4] = static_cast<char>(flags);
        std::string id = u32(static_cast<uint32_t>(stream));
        h.replace(5, 4, id);
        return h + payload;
    }
    void frame(uint8_t type, uint8_t flags, int32_t stream, const std::string& payload) {
        write(encode_frame(type, flags, stream, payload));
    }
    std::string block(const std::vector<std::pair<std::string, std::string>>& headers) {
        std::vector<nghttp2_nv> nv;
        for (const auto& [n, v] : headers)
            nv.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
                          reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), n.size(),
                          v.size(), NGHTTP2_NV_FLAG_NONE});
        std::string out(nghttp2_hd_deflate_bound(deflater_, nv.data(), nv.size()), '\0');
        auto n = nghttp2_hd_deflate_hd(deflater_, reinterpret_cast<uint8_t*>(out.data()),
                                       out.size(), nv.data(), nv.size());
        out.resize(n < 0 ? 0 : static_cast<size_t>(n));
        return out;
    }
    // Opens a stream with a request; a body, if any, follows in one DATA frame.
    int32_t request(const std::string& method, const std::string& path,
                    const std::string& body = "",
                    std::vector<std::pair<std::string, std::string>> extra = {}) {
        int32_t id = next_;
        next_ += 2;
        std::vector<std::pair<std::string, std::string>> h{
            {":method", method}, {":scheme", "http"}, {":authority", "127.0.0.1"}, {":path", path}};
        if (!body.empty()) h.emplace_back("content-type", "application/json");
        for (auto& e : extra) h.push_back(std::move(e));
        frame(kHeaders, kEndHeaders | (body.empty() ? kEndStream : 0), id, block(h));
        if (!body.empty()) frame(kData, kEndStream, id, body);
        return id;
    }

    // The next frame, or nullopt when none came within `limit` or the connection closed.
    std::optional<Frame> read(std::chrono::milliseconds limit = 3000ms) {
        auto end = std::chrono::steady_clock::now() + limit;
        while (true) {
            if (buf_.size() >= 9) {
                size_t len = (static_cast<uint8_t>(buf_[0]) << 16) |
                             (static_cast<uint8_t>(buf_[1]) << 8) | static_cast<uint8_t>(buf_[2]);
                if (buf_.size() >= 9 + len) {
                    Frame f;
                    f.type = static_cast<uint8_t>(buf_[3]);
                    f.flags = static_cast<uint8_t>(buf_[4]);
                    f.stream = static_cast<int32_t>(((static_cast<uint8_t>(buf_[5]) & 0x7f) << 24) |
                                                    (static_cast<uint8_t>(buf_[6]) << 16) |
                                                    (static_cast<uint8_t>(buf_[7]) << 8) |
                                                    static_cast<uint8_t>(buf_[8]));
                    f.payload = buf_.substr(9, len);
                    buf_.erase(0, 9 + len);
                    on_frame(f);
                    return f;
                }
            }
            if (closed_ || std::chrono::steady_clock::now() > end) return std::nullopt;
            char tmp[65536];
            ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
            if (n > 0)
                buf_.append(tmp, static_cast<size_t>(n));
            else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                closed_ = true;
        }
    }

    // Reads frames until pred is true or the limit passes.
    bool until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 5000ms) {
        auto end = std::chrono::steady_clock::now() + limit;
        while (!pred()) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                end - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            if (!read(left) && closed_) return pred();
        }
        return true;
    }

    std::map<int32_t, std::string> status;  // :status per stream
    std::map<int32_t, std::string> body;    // DATA bytes per stream
    std::map<int32_t, uint32_t> reset;      // RST_STREAM error code per stream
    std::map<int32_t, bool> ended;          // END_STREAM seen
    std::optional<uint32_t> goaway;         // GOAWAY error code
    bool closed_ = false;
    // Whether to give stream windows back as DATA arrives (the connection's always is).
    std::function<bool(int32_t)> replenish = [](int32_t) { return true; };

    std::vector<sse::Event> events(int32_t id) {
        std::vector<sse::Event> out;
        sse::Parser p([&](const sse::Event& e) { out.push_back(e); });
        p.feed(body[id]);
        return out;
    }

  private:
    void on_frame(const Frame& f) {
        if (f.type == kSettings && !(f.flags & kAck)) frame(kSettings, kAck, 0, "");
        if (f.type == kHeaders) {
            nghttp2_nv nv;
            int flags = 0;
            auto* in = reinterpret_cast<const uint8_t*>(f.payload.data());
            size_t left = f.payload.size();
            while (true) {
                auto n = nghttp2_hd_inflate_hd2(inflater_, &nv, &flags, in, left, 1);
                if (n < 0) break;
                in += n;
                left -= static_cast<size_t>(n);
                if (flags & NGHTTP2_HD_INFLATE_EMIT) {
                    std::string name(reinterpret_cast<char*>(nv.name), nv.namelen);
                    if (name == ":status")
                        status[f.stream] =
                            std::string(reinterpret_cast<char*>(nv.value), nv.valuelen);
                }
                if (flags & NGHTTP2_HD_INFLATE_FINAL) {
                    nghttp2_hd_inflate_end_headers(inflater_);
                    break;
                }
                if (n == 0 && left == 0) break;
            }
        }
        if (f.type == kData) {
            body[f.stream] += f.payload;
            if (!f.payload.empty()) {
                frame(kWindowUpdate, 0, 0, u32(static_cast<uint32_t>(f.payload.size())));
                if (replenish(f.stream))
                    frame(kWindowUpdate, 0, f.stream, u32(static_cast<uint32_t>(f.payload.size())));
            }
        }
        if ((f.type == kData || f.type == kHeaders) && (f.flags & kEndStream))
            ended[f.stream] = true;
        if (f.type == kRst && f.payload.size() >= 4)
            reset[f.stream] = static_cast<uint32_t>((static_cast<uint8_t>(f.payload[0]) << 24) |
                                                    (static_cast<uint8_t>(f.payload[1]) << 16) |
                                                    (static_cast<uint8_t>(f.payload[2]) << 8) |
                                                    static_cast<uint8_t>(f.payload[3]));
        if (f.type == kGoaway && f.payload.size() >= 8)
            goaway = static_cast<uint32_t>((static_cast<uint8_t>(f.payload[4]) << 24) |
                                           (static_cast<uint8_t>(f.payload[5]) << 16) |
                                           (static_cast<uint8_t>(f.payload[6]) << 8) |
                                           static_cast<uint8_t>(f.payload[7]));
    }

    int fd_ = -1;
    int32_t next_ = 1;
    std::string buf_;
    nghttp2_hd_deflater* deflater_ = nullptr;
    nghttp2_hd_inflater* inflater_ = nullptr;
};

constexpr uint32_t kEnhanceYourCalm = 0xb;

// `n` GET /healthz requests in one write, each followed on its stream by `after(id)`.
std::string healthz_burst(H2& c, int n, const std::function<std::string(int32_t)>& after) {
    std::string burst;
    for (int i = 0; i < n; ++i) {
        int32_t id = 1 + 2 * i;
        burst += H2::encode_frame(kHeaders, kEndHeaders | kEndStream, id,
                                  c.block({{":method", "GET"},
                                           {":scheme", "http"},
                                           {":authority", "x"},
                                           {":path", "/healthz"}}));
        burst += after(id);
    }
    return burst;
}

// A fresh client is still served: the server outlived whatever came before.
void still_serving(int port) {
    H2 c(port);
    int32_t id = c.request("GET", "/rooms/general/messages?id=zed");
    ASSERT_TRUE(c.until([&] { return c.ended[id]; }));
    EXPECT_EQ(c.status[id], "200");
}

}  // namespace

TEST(H2c, RoutesAnswerAsOverHttp11) {
    Server s;
    H2 c(s.port());
    int32_t post = c.request("POST", "/rooms/h2/messages?id=alice", R"({"message":"over h2"})");
    ASSERT_TRUE(c.until([&] { return c.ended[post]; }));
    EXPECT_EQ(c.status[post], "201");
    auto sent = boost::json::parse(c.body[post]).as_object();
    EXPECT_EQ(sent.at("message").as_string(), "over h2");
    int32_t get = c.request("GET", "/rooms/h2/messages?id=alice");
    int32_t missing = c.request("GET", "/no/such/route?id=alice");
    int32_t bad = c.request("POST", "/rooms/h2/messages?id=alice", R"({"message":)");
    ASSERT_TRUE(c.until([&] { return c.ended[get] && c.ended[missing] && c.ended[bad]; }));
    EXPECT_EQ(c.status[get], "200");
    EXPECT_NE(c.body[get].find("over h2"), std::string::npos);
    EXPECT_EQ(c.status[missing], "404");
    EXPECT_NE(c.body[missing].find("error"), std::string::npos);
    EXPECT_EQ(c.status[bad], "400");
    // Over HTTP/1.1 the same message is there.
    auto r = request(s.port(), "GET", "/rooms/h2/messages?id=bob");
    EXPECT_NE(r.body.find("over h2"), std::string::npos);
    // And curl agrees it spoke HTTP/2.
    std::string cmd =
        "curl -s -o /dev/null -w '%{http_version}' --http2-prior-knowledge "
        "'http://127.0.0.1:" +
        std::to_string(s.port()) + "/rooms/h2/messages?id=alice'";
    EXPECT_EQ(capture(cmd), "2");
}

TEST(H2c, TwoHundredStreamsOnOneConnectionReceiveEveryEvent) {
    Server s({"--store", "memory", "--h2-max-streams", "256", "--publish-rate", "0"});
    H2 c(s.port());
    std::vector<int32_t> ids;
    for (int i = 0; i < 200; ++i)
        ids.push_back(c.request("GET", "/rooms/many/events?presence=0&id=u" + std::to_string(i)));
    ASSERT_TRUE(c.until([&] {
        return std::all_of(ids.begin(), ids.end(), [&](int32_t id) { return c.status.count(id); });
    }));
    for (int32_t id : ids) EXPECT_EQ(c.status[id], "200") << id;
    for (int m = 0; m < 20; ++m) publish(s.port(), "many", "alice", "m" + std::to_string(m));
    auto all = [&] {
        return std::all_of(ids.begin(), ids.end(),
                           [&](int32_t id) { return ids_of(c.events(id)).size() >= 20; });
    };
    ASSERT_TRUE(c.until(all, 10000ms));
    for (int32_t id : ids) EXPECT_EQ(ids_of(c.events(id)), range(1, 20)) << "stream " << id;
    auto m = request(s.port(), "GET", "/metrics");
    EXPECT_NE(m.body.find("ssechat_h2_streams_total{kind=\"events\"} 200"), std::string::npos);
    EXPECT_NE(m.body.find("ssechat_streams_by_protocol{protocol=\"h2\"} 200"), std::string::npos)
        << m.body;
}

TEST(H2c, StreamsPastTheConcurrencyLimitAreRefused) {
    Server s;  // the default: 128
    H2 c(s.port());
    std::vector<int32_t> ids;
    for (int i = 0; i < 129; ++i)
        ids.push_back(c.request("GET", "/rooms/cap/events?presence=0&id=u" + std::to_string(i)));
    ASSERT_TRUE(c.until([&] { return c.reset.count(ids.back()) > 0; }));
    EXPECT_EQ(c.reset[ids.back()], 7u);  // REFUSED_STREAM
    EXPECT_EQ(c.status[ids[0]], "200");
}

TEST(H2c, AStreamResumesByLastEventId) {
    Server s;
    for (int m = 0; m < 5; ++m) publish(s.port(), "back", "alice", "m" + std::to_string(m));
    H2 c(s.port());
    int32_t id =
        c.request("GET", "/rooms/back/events?presence=0&id=bob", "", {{"last-event-id", "3"}});
    ASSERT_TRUE(c.until([&] { return ids_of(c.events(id)).size() >= 2; }));
    publish(s.port(), "back", "alice", "m5");
    ASSERT_TRUE(c.until([&] { return ids_of(c.events(id)).size() >= 3; }));
    EXPECT_EQ(ids_of(c.events(id)), range(4, 6));
}

TEST(H2c, AWindowStalledStreamIsResetAndItsNeighbourKeepsUp) {
    Server s({"--store", "memory", "--publish-rate", "0", "--stream-buffer", "65536"});
    // Every stream starts with a 1 KiB window; only the neighbour's is given back.
    H2 c(s.port(), 1024);
    int32_t stalled = c.request("GET", "/rooms/slow/events?presence=0&id=stuck");
    int32_t neighbour = c.request("GET", "/rooms/slow/events?presence=0&id=fine");
    c.replenish = [&](int32_t id) { return id != stalled; };
    ASSERT_TRUE(c.until([&] { return c.status.count(stalled) && c.status.count(neighbour); }));
    c.frame(kWindowUpdate, 0, neighbour, u32(1u << 20));
    std::string text(900, 'x');
    int n = 0;
    auto begun = std::chrono::steady_clock::now();
    for (; n < 200 && !c.reset.count(stalled); ++n) {
        publish(s.port(), "slow", "alice", text);
        c.until([&] { return false; }, 5ms);
    }
    ASSERT_TRUE(c.until([&] { return c.reset.count(stalled) > 0; }));
    EXPECT_EQ(c.reset[stalled], 8u);  // CANCEL
    ASSERT_TRUE(
        c.until([&] { return ids_of(c.events(neighbour)).size() >= static_cast<size_t>(n); }));
    EXPECT_EQ(ids_of(c.events(neighbour)), range(1, static_cast<uint64_t>(n)));
    EXPECT_LT(std::chrono::steady_clock::now() - begun, 20s);
    // The reset stream resumes like any EventSource, by Last-Event-ID.
    int32_t again = c.request("GET", "/rooms/slow/events?presence=0&id=stuck", "",
                              {{"last-event-id", std::to_string(n - 1)}});
    ASSERT_TRUE(c.until([&] { return !ids_of(c.events(again)).empty(); }));
    EXPECT_EQ(ids_of(c.events(again)).front(), static_cast<uint64_t>(n));
}

TEST(H2c, RapidResetEndsInGoaway) {
    Server s;
    H2 c(s.port());
    c.write(
        healthz_burst(c, 400, [](int32_t id) { return H2::encode_frame(kRst, 0, id, u32(8)); }));
    ASSERT_TRUE(c.until([&] { return c.goaway.has_value(); }));
    EXPECT_EQ(*c.goaway, kEnhanceYourCalm);
    still_serving(s.port());
}

TEST(H2c, ContinuationFloodEndsInGoaway) {
    Server s;
    H2 c(s.port());
    std::string hb = c.block(
        {{":method", "GET"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/healthz"}});
    std::string flood = H2::encode_frame(kHeaders, 0, 1, hb);
    // CONTINUATION frames, each with one small literal field, that never end the block.
    for (int i = 0; i < 100; ++i)
        flood += H2::encode_frame(kContinuation, 0, 1, std::string("\x00\x03x-a\x01b", 7));
    c.write(flood);
    ASSERT_TRUE(c.until([&] { return c.goaway.has_value() || c.closed_; }));
    ASSERT_TRUE(c.goaway.has_value());
    EXPECT_EQ(*c.goaway, kEnhanceYourCalm);
    still_serving(s.port());
}

TEST(H2c, PingSettingsAndEmptyFrameFloodsEndInGoaway) {
    Server s;
    {
        H2 c(s.port());
        std::string flood;
        for (int i = 0; i < 1000; ++i) flood += H2::encode_frame(kPing, 0, 0, std::string(8, 'p'));
        c.write(flood);
        ASSERT_TRUE(c.until([&] { return c.goaway.has_value(); }));
        EXPECT_EQ(*c.goaway, kEnhanceYourCalm);
    }
    {
        H2 c(s.port());
        std::string flood;
        for (int i = 0; i < 1000; ++i) flood += H2::encode_frame(kSettings, 0, 0, "");
        c.write(flood);
        ASSERT_TRUE(c.until([&] { return c.goaway.has_value(); }));
        EXPECT_EQ(*c.goaway, kEnhanceYourCalm);
    }
    {
        H2 c(s.port());
        std::string flood = H2::encode_frame(kHeaders, kEndHeaders, 1,
                                             c.block({{":method", "POST"},
                                                      {":scheme", "http"},
                                                      {":authority", "x"},
                                                      {":path", "/rooms/e/messages?id=a"}}));
        for (int i = 0; i < 1000; ++i) flood += H2::encode_frame(kData, 0, 1, "");
        c.write(flood);
        ASSERT_TRUE(c.until([&] { return c.goaway.has_value(); }));
        EXPECT_EQ(*c.goaway, kEnhanceYourCalm);
    }
    still_serving(s.port());
    auto m = request(s.port(), "GET", "/metrics");
    EXPECT_NE(m.body.find("ssechat_h2_goaways_total{reason=\"flood\"} 3"), std::string::npos)
        << m.body;
}

TEST(H2c, AnHpackBombEndsInGoaway) {
    Server s;
    H2 c(s.port());
    // One 2000-byte header stored in the dynamic table, then referenced 100 times: 200 KB
    // decoded from about 2 KB on the wire.
    std::string block = c.block({{":method", "GET"},
                                 {":scheme", "http"},
                                 {":authority", "x"},
                                 {":path", "/healthz"},
                                 {"x-bomb", std::string(2000, 'b')}});
    // The entry just added is index 62 (the first dynamic one): 0x80 | 62 is "indexed".
    for (int i = 0; i < 100; ++i) block += static_cast<char>(0x80 | 62);
    c.frame(kHeaders, kEndHeaders | kEndStream, 1, block);
    ASSERT_TRUE(c.until([&] { return c.goaway.has_value(); }));
    EXPECT_EQ(*c.goaway, kEnhanceYourCalm);
    still_serving(s.port());
}

TEST(H2c, ShutdownSendsGoaway) {
    Server s;
    H2 c(s.port());
    int32_t id = c.request("GET", "/rooms/bye/events?presence=0&id=bob");
    ASSERT_TRUE(c.until([&] { return c.status.count(id) > 0; }));
    EXPECT_EQ(s.terminate(), 0);
    ASSERT_TRUE(c.until([&] { return c.goaway.has_value() || c.closed_; }));
    ASSERT_TRUE(c.goaway.has_value());
    EXPECT_EQ(*c.goaway, 0u);  // NO_ERROR
}

TEST(H2c, StreamsThatNeverFinishTheirRequestDoNotKeepTheConnection) {
    Server s({"--store", "memory", "--idle-timeout", "1"});
    H2 c(s.port());
    // Ten requests whose bodies never end, and an event stream on another connection.
    H2 other(s.port());
    int32_t live = other.request("GET", "/rooms/lori/events?presence=0&id=ok");
    for (int i = 0; i < 10; ++i) {
        int32_t id = 1 + 2 * i;
        c.frame(kHeaders, kEndHeaders, id,
                c.block({{":method", "POST"},
                         {":scheme", "http"},
                         {":authority", "x"},
                         {":path", "/rooms/lori/messages?id=a"}}));
        c.frame(kData, 0, id, "{\"mess");
    }
    ASSERT_TRUE(c.until([&] { return c.goaway.has_value() || c.closed_; }, 5000ms));
    EXPECT_TRUE(c.goaway.has_value());
    // The event stream, idle as long, stays.
    ASSERT_TRUE(other.until([&] { return other.status.count(live) > 0; }));
    publish(s.port(), "lori", "b", "still here");
    ASSERT_TRUE(other.until([&] { return ids_of(other.events(live)).size() == 1; }));
    EXPECT_FALSE(other.goaway.has_value());
}

// A replay far larger than the socket buffers, so that the server is in the middle of a write.
static void big_history(int port, const std::string& room) {
    std::string text(50000, 'x');
    for (int i = 0; i < 200; ++i) publish(port, room, "alice", text);
}

TEST(H2c, TheEndOfInputDuringAWriteEndsTheConnectionOnAWholeFrame) {
    Server s({"--store", "memory", "--publish-rate", "0", "--max-message", "60000",
              "--stream-buffer", "33554432"});
    big_history(s.port(), "big");
    H2 c(s.port());
    c.small_receive_buffer();
    int32_t id =
        c.request("GET", "/rooms/big/events?presence=0&id=bob", "", {{"last-event-id", "0"}});
    std::this_thread::sleep_for(300ms);  // the server fills the socket and waits
    c.end_input();
    std::this_thread::sleep_for(300ms);
    ASSERT_TRUE(c.until([&] { return c.closed_; }, 10000ms));
    EXPECT_EQ(c.partial(), 0u);  // no frame cut in half
    EXPECT_FALSE(c.body[id].empty());
    still_serving(s.port());
}

TEST(H2c, AConnectionWhoseReaderStoppedIsEnded) {
    Server s({"--store", "memory", "--publish-rate", "0", "--max-message", "60000",
              "--stream-buffer", "33554432", "--idle-timeout", "1"});
    big_history(s.port(), "stuck");
    H2 c(s.port());
    c.small_receive_buffer();
    c.request("GET", "/rooms/stuck/events?presence=0&id=bob", "", {{"last-event-id", "0"}});
    // Reading nothing for three idle periods; the server's write cannot finish meanwhile.
    std::this_thread::sleep_for(3500ms);
    // It has given up on this reader: what it managed to send before ends in a close, long
    // before the 10 MB replay could have been read.
    EXPECT_TRUE(c.until([&] { return c.closed_; }, 5000ms));
    still_serving(s.port());
}

// nghttp, a third-party HTTP/2 client: fifty event streams of one user on its one connection
// (-m), live. The per-user limit (32) counts HTTP/2 streams: 32 receive every message posted
// while they are open, the other 18 are refused with 429.
TEST(H2c, NghttpFiftyStreamsOnOneConnectionReceiveEveryEvent) {
    Server s({"--store", "memory", "--publish-rate", "0"});
    std::string port = std::to_string(s.port());
    std::string post;
    for (int i = 0; i < 4; ++i)
        post +=
            "curl -s -o /dev/null -H 'Content-Type: application/json' -d "
            "'{\"message\":\"via nghttp " +
            std::to_string(i) + "\"}' 'http://127.0.0.1:" + port + "/rooms/ng/messages?id=alice'; ";
    std::string out = capture("nghttp -m 50 -t 4 'http://127.0.0.1:" + port +
                              "/rooms/ng/events?presence=0&id=bob' & sleep 1.5; " + post + "wait");
    for (int i = 0; i < 4; ++i)
        EXPECT_EQ(count(out, "via nghttp " + std::to_string(i)), 32u) << out.substr(0, 2000);
    EXPECT_EQ(count(out, "retry: "), 32u);
    EXPECT_EQ(count(out, "\"status\":429"), 18u);
}

// HTTP/2 may split Cookie into several fields (RFC 9113 8.2.3): they are one header again
// before anything reads it, so a token in the second field counts.
TEST(H2c, CookieFieldsAreJoinedBeforeTheTokenIsRead) {
    Server s({"--store", "memory", "--jwt-secret", "k"});
    auto tok = run_binary({"token", "--sub", "carla", "--secret", "k"});
    ASSERT_EQ(tok.code, 0) << tok.out;
    std::string token = tok.out.substr(0, tok.out.find('\n'));
    H2 c(s.port());
    int32_t split = c.request("GET", "/me", "",
                              {{"cookie", "theme=dark"}, {"cookie", "ssechat_token=" + token}});
    int32_t none = c.request("GET", "/me/rooms", "", {{"cookie", "theme=dark"}});
    ASSERT_TRUE(c.until([&] { return c.ended[split] && c.ended[none]; }));
    EXPECT_EQ(c.status[split], "200") << c.body[split];
    EXPECT_NE(c.body[split].find(R"("user_id":"carla")"), std::string::npos) << c.body[split];
    EXPECT_EQ(c.status[none], "401");
}

// MadeYouReset (CVE-2025-8671): frames that make the server reset a stream it had begun to
// answer (here a WINDOW_UPDATE that overflows its window) count in the same budget as resets the
// client sends.
TEST(H2c, ResetsTheClientMakesTheServerSendEndInGoaway) {
    Server s;
    H2 c(s.port());
    // A window past 2^31-1 for the stream being answered: a stream error.
    c.write(healthz_burst(c, 3000, [](int32_t id) {
        return H2::encode_frame(kWindowUpdate, 0, id, u32(0x7fffffff));
    }));
    ASSERT_TRUE(c.until([&] { return c.goaway.has_value(); }, 10000ms));
    EXPECT_EQ(*c.goaway, kEnhanceYourCalm);
    EXPECT_GT(c.reset.size(), 100u) << "the server did reset streams before it stopped";
    still_serving(s.port());
}

// Rapid reset is about streams reset as they start. A page that closes the event streams it
// held for a while (twice 200 of them here) is no flood, and keeps its connection.
TEST(H2c, ResettingLongLivedStreamsIsNotARapidReset) {
    Server s({"--store", "memory", "--h2-max-streams", "256"});
    H2 c(s.port());
    for (int round = 0; round < 2; ++round) {
        std::vector<int32_t> ids;
        for (int i = 0; i < 200; ++i)
            ids.push_back(
                c.request("GET", "/rooms/long/events?presence=0&id=u" + std::to_string(i)));
        ASSERT_TRUE(c.until([&] {
            return std::all_of(ids.begin(), ids.end(),
                               [&](int32_t id) { return c.status.count(id); });
        }));
        c.until([] { return false; }, 1500ms);  // they live a while
        std::string rst;
        for (int32_t id : ids) rst += H2::encode_frame(kRst, 0, id, u32(8));
        c.write(rst);
    }
    int32_t after = c.request("GET", "/healthz");
    ASSERT_TRUE(c.until([&] { return c.ended[after] || c.goaway.has_value(); }));
    EXPECT_FALSE(c.goaway.has_value()) << "GOAWAY " << c.goaway.value_or(0);
    EXPECT_EQ(c.status[after], "200");
}

// A client that never opens its flow-control window (SETTINGS_INITIAL_WINDOW_SIZE 0) cannot
// make the server hold what it asked for: past a bound the answers are 503 without a body,
// and a connection that takes no DATA for --idle-timeout is ended with GOAWAY, though it
// keeps sending PINGs.
TEST(H2c, AClientThatNeverOpensItsWindowIsBoundedAndEnded) {
    Server s({"--store", "memory", "--idle-timeout", "2", "--h2-max-streams", "256"});
    H2 c(s.port(), 0);
    std::vector<int32_t> ids;
    for (int i = 0; i < 128; ++i) ids.push_back(c.request("GET", "/app.js"));
    ASSERT_TRUE(c.until([&] {
        return std::all_of(ids.begin(), ids.end(), [&](int32_t id) { return c.status.count(id); });
    }));
    size_t refused = 0;
    for (int32_t id : ids) refused += c.status[id] == "503";
    EXPECT_GT(refused, 20u) << "past the bound, answers are refused, not held";
    EXPECT_LT(refused, 128u) << "the first ones are held until the window opens";
    auto begun = std::chrono::steady_clock::now();
    while (!c.goaway && !c.closed_ && std::chrono::steady_clock::now() - begun < 15s) {
        c.frame(kPing, 0, 0, std::string(8, 'p'));
        c.until([] { return false; }, 300ms);
    }
    ASSERT_TRUE(c.goaway.has_value()) << "a stalled connection is idle";
    EXPECT_EQ(*c.goaway, 0u);  // NO_ERROR
    EXPECT_LT(std::chrono::steady_clock::now() - begun, 8s);
    still_serving(s.port());
}
