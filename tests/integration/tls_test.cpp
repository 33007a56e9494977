// HTTPS (the first part of issue 15): the real binary with --tls-cert/--tls-key, certificates
// made at test time by the openssl command (a test CA and a server certificate for
// 127.0.0.1), and a client on OpenSSL that verifies against that CA. Requests, room and user
// streams over TLS, TLS 1.1 refused, startup errors naming the file, SIGHUP reloading the
// certificate under an open stream (and keeping it when the new file is bad), and the 308
// redirect port.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <thread>

#include "harness.hpp"
#include "services.hpp"

using namespace itest;

namespace {

void sh(const std::string& cmd) {
    ASSERT_EQ(std::system((cmd + " >/dev/null 2>&1").c_str()), 0) << cmd;
}

// A test CA and a server certificate for 127.0.0.1 (and localhost) signed by it, with the
// subject's CN set to `cn`.
struct Certs {
    std::string dir = temp_dir();
    std::string ca() const { return dir + "/ca.pem"; }
    std::string cert() const { return dir + "/server.pem"; }
    std::string key() const { return dir + "/server.key"; }
    Certs() {
        sh("cd " + dir +
           " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
           "-subj '/CN=ssechat test CA'");
        issue("first");
    }
    // A new server certificate (and key) with this CN, signed by the CA.
    void issue(const std::string& cn) {
        sh("cd " + dir +
           " && openssl req -newkey rsa:2048 -nodes -keyout server.key -out s.csr "
           "-subj '/CN=" +
           cn +
           "' && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > "
           "ext.cnf && openssl x509 -req -in s.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
           "-out server.pem -days 2 -extfile ext.cnf");
    }
};

// A blocking TLS client that verifies the server against the test CA.
class TlsClient {
  public:
    TlsClient(int port, const std::string& ca, int max_version = 0, bool h2 = false) {
        ctx_ = SSL_CTX_new(TLS_client_method());
        if (h2) {
            static const unsigned char alpn[] = {2, 'h', '2'};
            SSL_CTX_set_alpn_protos(ctx_, alpn, sizeof alpn);
        }
        SSL_CTX_load_verify_locations(ctx_, ca.c_str(), nullptr);
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
        if (max_version) SSL_CTX_set_max_proto_version(ctx_, max_version);
        fd_ = dial(port);
        timeval tv{0, 200000};
        setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ssl_ = SSL_new(ctx_);
        SSL_set_fd(ssl_, fd_);
        SSL_set1_host(ssl_, "127.0.0.1");
        SSL_set_msg_callback(
            ssl_, [](int write_p, int, int type, const void* buf, size_t len, SSL*, void* me) {
                if (!write_p && type == SSL3_RT_HANDSHAKE && len > 0 &&
                    static_cast<const uint8_t*>(buf)[0] == SSL3_MT_KEY_UPDATE)
                    ++static_cast<TlsClient*>(me)->heard_;
            });
        SSL_set_msg_callback_arg(ssl_, this);
        ok_ = fd_ >= 0 && SSL_connect(ssl_) == 1;
        ERR_clear_error();
    }
    ~TlsClient() {
        if (ssl_) SSL_free(ssl_);
        if (fd_ >= 0) ::close(fd_);
        SSL_CTX_free(ctx_);
    }
    bool ok() const { return ok_; }
    std::string subject_cn() const {
        X509* c = SSL_get1_peer_certificate(ssl_);
        if (!c) return "";
        char buf[256] = {};
        X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, buf, sizeof buf);
        X509_free(c);
        return buf;
    }
    void send(const std::string& bytes) {
        SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
    }
    // Sends a KeyUpdate now (TLS 1.3), asking for the server's in return or not.
    bool key_update(bool requested) {
        ERR_clear_error();
        bool ok = SSL_key_update(ssl_, requested ? SSL_KEY_UPDATE_REQUESTED
                                                 : SSL_KEY_UPDATE_NOT_REQUESTED) == 1 &&
                  SSL_do_handshake(ssl_) == 1;
        ERR_clear_error();
        return ok;
    }
    // KeyUpdates received from the server so far.
    int key_updates_heard() const { return heard_; }
    bool clean_close = false;  // the server's close came with close_notify
    // Reads until pred(all bytes so far) or the limit.
    bool read_until(const std::function<bool(const std::string&)>& pred,
                    std::chrono::milliseconds limit = 5000ms) {
        auto end = std::chrono::steady_clock::now() + limit;
        while (!pred(got)) {
            if (std::chrono::steady_clock::now() > end) return false;
            char buf[4096];
            int n = SSL_read(ssl_, buf, sizeof buf);
            if (n > 0) {
                got.append(buf, static_cast<size_t>(n));
            } else {
                int e = SSL_get_error(ssl_, n);
                ERR_clear_error();
                if (e == SSL_ERROR_ZERO_RETURN) clean_close = true;
                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_SYSCALL) return pred(got);
                if (e == SSL_ERROR_SYSCALL && errno != EAGAIN && errno != EWOULDBLOCK)
                    return pred(got);
            }
        }
        return true;
    }
    std::string got;

  private:
    SSL_CTX* ctx_ = nullptr;
    SSL* ssl_ = nullptr;
    int fd_ = -1;
    bool ok_ = false;
    int heard_ = 0;
};

std::string get(const std::string& target) {
    return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
}

std::string post(const std::string& target, const std::string& json) {
    return "POST " + target +
           " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           "Content-Length: " +
           std::to_string(json.size()) + "\r\nConnection: close\r\n\r\n" + json;
}

// One request on its own TLS connection: the whole answer.
std::string once(int port, const Certs& c, const std::string& req) {
    TlsClient t(port, c.ca());
    EXPECT_TRUE(t.ok());
    t.send(req);
    t.read_until([](const std::string&) { return false; }, 1500ms);
    return t.got;
}

}  // namespace

TEST(Tls, RequestsAndStreamsOverHttps) {
    Certs c;
    Server srv(
        {"--store", "memory", "--publish-rate", "0", "--tls-cert", c.cert(), "--tls-key", c.key()});
    EXPECT_NE(srv.banner().find("https://"), std::string::npos) << srv.banner();
    auto r = once(srv.port(), c, get("/healthz"));
    EXPECT_EQ(r.substr(0, 12), "HTTP/1.1 200") << r;
    // A room stream and a user stream, both over TLS, get live events.
    TlsClient room(srv.port(), c.ca()), user(srv.port(), c.ca());
    ASSERT_TRUE(room.ok());
    ASSERT_TRUE(user.ok());
    EXPECT_EQ(once(srv.port(), c,
                   "PUT /me/rooms/lobby?id=bob HTTP/1.1\r\nHost: x\r\n"
                   "Content-Length: 0\r\nConnection: close\r\n\r\n")
                  .substr(0, 12),
              "HTTP/1.1 200");
    room.send(get("/rooms/lobby/events?id=ann&history=0"));
    user.send(get("/me/events?id=bob"));
    ASSERT_TRUE(room.read_until([](const std::string& s) { return s.find("retry:") != s.npos; }));
    ASSERT_TRUE(
        user.read_until([](const std::string& s) { return s.find("event: rooms") != s.npos; }));
    for (int i = 0; i < 20; ++i) {
        auto p = once(srv.port(), c,
                      post("/rooms/lobby/messages?id=cy",
                           "{\"message\":\"over tls " + std::to_string(i) + "\"}"));
        ASSERT_EQ(p.substr(0, 12), "HTTP/1.1 201") << p;
    }
    EXPECT_TRUE(room.read_until([](const std::string& s) { return count(s, "over tls") == 20; }))
        << room.got;
    EXPECT_TRUE(user.read_until([](const std::string& s) { return count(s, "over tls") == 20; }))
        << user.got;
    // A client that speaks TLS 1.1 at most gets no connection.
    TlsClient old(srv.port(), c.ca(), TLS1_1_VERSION);
    EXPECT_FALSE(old.ok());
    auto m = once(srv.port(), c, get("/metrics"));
    EXPECT_NE(m.find("ssechat_tls_handshake_failures_total{reason=\"protocol\"} 1"),
              std::string::npos)
        << m;
    // The room stream and the user stream, both HTTPS over HTTP/1.1.
    EXPECT_NE(m.find("ssechat_streams_by_protocol{protocol=\"https1\"} 2"), std::string::npos) << m;
}

TEST(Tls, SighupReloadsTheCertificateUnderAnOpenStreamAndKeepsItWhenTheNewOneIsBad) {
    Certs c;
    Server srv(
        {"--store", "memory", "--publish-rate", "0", "--tls-cert", c.cert(), "--tls-key", c.key()});
    TlsClient stream(srv.port(), c.ca());
    ASSERT_TRUE(stream.ok());
    EXPECT_EQ(stream.subject_cn(), "first");
    stream.send(get("/rooms/r/events?id=ann&history=0"));
    ASSERT_TRUE(stream.read_until([](const std::string& s) { return s.find("retry:") != s.npos; }));
    c.issue("second");
    ASSERT_EQ(::kill(srv.pid(), SIGHUP), 0);
    bool moved = false;
    for (int i = 0; i < 50 && !moved; ++i) {
        TlsClient t(srv.port(), c.ca());
        moved = t.ok() && t.subject_cn() == "second";
        if (!moved) std::this_thread::sleep_for(50ms);
    }
    EXPECT_TRUE(moved) << "new connections get the new certificate";
    once(srv.port(), c, post("/rooms/r/messages?id=cy", R"({"message":"after reload"})"));
    EXPECT_TRUE(stream.read_until([](const std::string& s) {
        return s.find("after reload") != s.npos;
    })) << "the open stream was not dropped";
    // A bad file: the old certificate stays, and the log says so in one line.
    { std::ofstream(c.cert()) << "not a certificate\n"; }
    ASSERT_EQ(::kill(srv.pid(), SIGHUP), 0);
    std::this_thread::sleep_for(300ms);
    TlsClient after(srv.port(), c.ca());
    EXPECT_TRUE(after.ok());
    EXPECT_EQ(after.subject_cn(), "second");
    EXPECT_NE(srv.stderr_text().find("TLS reload failed, keeping the current certificate"),
              std::string::npos);
}

TEST(Tls, StartupStopsWithOneLineNamingTheFile) {
    Certs c;
    auto missing = run_binary({"--store", "memory", "--port", "0", "--tls-cert",
                               c.dir + "/nope.pem", "--tls-key", c.key()});
    EXPECT_EQ(missing.code, 1);
    EXPECT_NE(missing.out.find("nope.pem"), std::string::npos) << missing.out;
    // A key that is not the certificate's.
    sh("cd " + c.dir + " && openssl genpkey -algorithm RSA -out other.key");
    auto wrong = run_binary({"--store", "memory", "--port", "0", "--tls-cert", c.cert(),
                             "--tls-key", c.dir + "/other.key"});
    EXPECT_EQ(wrong.code, 1);
    EXPECT_NE(wrong.out.find("does not match"), std::string::npos) << wrong.out;
    EXPECT_NE(wrong.out.find("other.key"), std::string::npos);
    auto half = run_binary({"--store", "memory", "--tls-cert", c.cert()});
    EXPECT_EQ(half.code, 2);
    EXPECT_NE(half.out.find("--tls-key"), std::string::npos);
}

TEST(Tls, TheRedirectPortAnswers308ToHttps) {
    Certs c;
    int clear = free_port();  // for the redirect listener
    Server srv({"--store", "memory", "--tls-cert", c.cert(), "--tls-key", c.key(),
                "--redirect-http", std::to_string(clear)});
    auto r = raw(clear, "GET /rooms/lobby/messages?limit=5 HTTP/1.1\r\nHost: chat.example:" +
                            std::to_string(clear) + "\r\n\r\n");
    EXPECT_EQ(r.substr(0, 12), "HTTP/1.1 308") << r;
    EXPECT_NE(r.find("Location: https://chat.example:" + std::to_string(srv.port()) +
                     "/rooms/lobby/messages?limit=5\r\n"),
              std::string::npos)
        << r;
    auto nohost = raw(clear, "GET / HTTP/1.1\r\n\r\n");
    EXPECT_EQ(nohost.substr(0, 12), "HTTP/1.1 400") << nohost;
    // Plain HTTP to the TLS port gets no answer (the handshake fails), and is counted.
    auto plain = raw(srv.port(), get("/healthz"), 1000ms);
    EXPECT_EQ(plain.find("HTTP/1.1 200"), std::string::npos);
}

TEST(Tls, AlpnChoosesHttp2AndAStreamWorksOverIt) {
    Certs c;
    Server srv(
        {"--store", "memory", "--publish-rate", "0", "--tls-cert", c.cert(), "--tls-key", c.key()});
    std::string base = "https://127.0.0.1:" + std::to_string(srv.port());
    std::string curl = "curl -s --cacert " + c.ca() + " ";
    EXPECT_EQ(capture(curl + "--http2 -o /dev/null -w '%{http_version}' " + base + "/healthz"),
              "2");
    // A client that offers HTTP/1.1 only keeps it.
    EXPECT_EQ(capture(curl + "--http1.1 -o /dev/null -w '%{http_version}' " + base + "/healthz"),
              "1.1");
    // An event stream over h2, live, while messages are posted over h2 too.
    std::string out;
    std::thread reader([&] {
        out = capture(curl + "--http2 -N --max-time 4 '" + base +
                      "/rooms/tls2/events?id=ann&presence=0'");
    });
    std::this_thread::sleep_for(1000ms);
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(capture(curl +
                          "--http2 -o /dev/null -w '%{http_code}' -H 'Content-Type: "
                          "application/json' -d '{\"message\":\"h2 tls " +
                          std::to_string(i) + "\"}' '" + base + "/rooms/tls2/messages?id=cy'"),
                  "201");
    reader.join();
    EXPECT_EQ(count(out, "h2 tls "), 5u) << out;
    auto m = capture(curl + "--http2 " + base + "/metrics");
    EXPECT_NE(m.find("ssechat_h2_connections_total"), std::string::npos) << m;
}

// nghttp over TLS (ALPN h2): twenty event streams share its one connection and each gets the
// messages posted while they are open.
TEST(Tls, NghttpStreamsOverHttp2ReceiveEveryEvent) {
    Certs c;
    Server srv(
        {"--store", "memory", "--publish-rate", "0", "--tls-cert", c.cert(), "--tls-key", c.key()});
    std::string base = "https://127.0.0.1:" + std::to_string(srv.port());
    std::string post;
    for (int i = 0; i < 3; ++i)
        post += "curl -s -o /dev/null --cacert " + c.ca() +
                " -H 'Content-Type: application/json' -d '{\"message\":\"nghttp tls " +
                std::to_string(i) + "\"}' '" + base + "/rooms/ngtls/messages?id=alice'; ";
    // -v prints the frames, so the negotiated protocol shows as SETTINGS and DATA frames.
    std::string out =
        capture("nghttp -v -m 20 -t 4 '" + base +
                "/rooms/ngtls/events?presence=0&id=bob' & sleep 1.5; " + post + "wait");
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(count(out, "nghttp tls " + std::to_string(i)), 20u) << out.substr(0, 3000);
    EXPECT_NE(out.find("recv DATA frame"), std::string::npos);
}

// TLS 1.3 event streams leave OpenSSL after their handshake: the server seals their records
// itself, after a KeyUpdate, with each of the three TLS 1.3 ciphers. Messages span several
// records, and a 4 KiB send buffer makes the kernel take records in pieces. TLS 1.2 stays
// with OpenSSL. curl checks every record it decrypts.
TEST(Tls, Tls13StreamsAreSealedByTheServerAndTls12StaysWithOpenSsl) {
    Certs c;
    Server srv({"--store", "memory", "--publish-rate", "0", "--tls-cert", c.cert(), "--tls-key",
                c.key(), "--max-message", "60000", "--stream-sndbuf", "4096"});
    std::string base = "https://127.0.0.1:" + std::to_string(srv.port());
    std::string curl = "curl -s --http1.1 -N --max-time 5 --cacert " + c.ca() + " ";
    const std::vector<std::string> ways = {
        "--tls13-ciphers TLS_AES_128_GCM_SHA256", "--tls13-ciphers TLS_AES_256_GCM_SHA384",
        "--tls13-ciphers TLS_CHACHA20_POLY1305_SHA256", "--tls-max 1.2"};
    std::vector<std::string> out(ways.size());
    std::vector<std::thread> readers;
    for (size_t i = 0; i < ways.size(); ++i)
        readers.emplace_back([&, i] {
            out[i] = capture(curl + ways[i] + " '" + base + "/rooms/seal/events?presence=0&id=r" +
                             std::to_string(i) + "'");
        });
    std::this_thread::sleep_for(1000ms);
    std::vector<std::string> texts;
    for (int m = 0; m < 6; ++m) {
        texts.push_back("sealed " + std::to_string(m) + " " +
                        std::string(20000 + 5000 * m, 'a' + m));
        auto p = once(srv.port(), c,
                      post("/rooms/seal/messages?id=cy", "{\"message\":\"" + texts.back() + "\"}"));
        ASSERT_EQ(p.substr(0, 12), "HTTP/1.1 201") << p.substr(0, 200);
    }
    for (auto& r : readers) r.join();
    for (size_t i = 0; i < ways.size(); ++i)
        for (const auto& t : texts)
            EXPECT_EQ(count(out[i], t), 1u) << ways[i] << ": " << out[i].size() << " bytes";
    auto m = once(srv.port(), c, get("/metrics"));
    EXPECT_NE(m.find("ssechat_tls_event_streams_total{writer=\"ssechat\"} 3"), std::string::npos)
        << m;
    EXPECT_NE(m.find("ssechat_tls_event_streams_total{writer=\"openssl\"} 1"), std::string::npos)
        << m;
}

TEST(Tls, ASlowHttpsStreamIsCutAtItsLimitAndAFastOneGetsEverything) {
    Certs c;
    Server srv({"--store", "memory", "--publish-rate", "0", "--tls-cert", c.cert(), "--tls-key",
                c.key(), "--stream-buffer", "65536", "--stream-sndbuf", "4096"});
    // The slow client reads nothing after its head; the fast one reads everything.
    TlsClient slow(srv.port(), c.ca()), fast(srv.port(), c.ca());
    ASSERT_TRUE(slow.ok());
    ASSERT_TRUE(fast.ok());
    slow.send(get("/rooms/slowtls/events?id=ann&presence=0"));
    fast.send(get("/rooms/slowtls/events?id=bob&presence=0"));
    ASSERT_TRUE(slow.read_until([](const std::string& s) { return s.find("retry:") != s.npos; }));
    ASSERT_TRUE(fast.read_until([](const std::string& s) { return s.find("retry:") != s.npos; }));
    std::string text(2000, 'z');
    for (int i = 0; i < 300; ++i) {
        auto r = once(srv.port(), c,
                      post("/rooms/slowtls/messages?id=cy",
                           "{\"message\":\"" + text + std::to_string(i) + "\"}"));
        ASSERT_EQ(r.substr(0, 12), "HTTP/1.1 201") << r;
        if (i % 20 == 0) fast.read_until([](const std::string&) { return false; }, 10ms);
    }
    EXPECT_TRUE(fast.read_until(
        [&](const std::string& s) { return s.find(text + "299") != std::string::npos; }, 10000ms));
    EXPECT_EQ(count(fast.got, "\"message\":\"zz"), 300u);
    auto m = once(srv.port(), c, get("/metrics"));
    EXPECT_NE(m.find("ssechat_slow_disconnects_total 1"), std::string::npos) << m;
}

TEST(Tls, ARequestPipelinedBehindAnHttpsStreamEndsIt) {
    Certs c;
    Server srv({"--store", "memory", "--tls-cert", c.cert(), "--tls-key", c.key()});
    TlsClient client(srv.port(), c.ca());
    ASSERT_TRUE(client.ok());
    // Both in one write: the second can never be answered behind an endless response.
    client.send(get("/rooms/pipe/events?id=ann") + get("/healthz"));
    auto t0 = std::chrono::steady_clock::now();
    client.read_until([](const std::string&) { return false; }, 5000ms);  // until closed
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 3000ms) << client.got;
    EXPECT_EQ(client.got.find("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream"),
              std::string::npos);
    // The server goes on.
    EXPECT_EQ(once(srv.port(), c, get("/healthz")).substr(0, 12), "HTTP/1.1 200");
}

// A client that rotates its keys keeps its sealed stream: a KeyUpdate that asks nothing is
// followed, one that asks for ours is answered, generation after generation; and the end of
// the stream comes with close_notify (RFC 8446 6.1), not a bare FIN.
// An answer that closes its HTTPS connection ends with close_notify, not a bare FIN.
TEST(Tls, AClosingAnswerEndsWithCloseNotify) {
    Certs c;
    Server srv({"--store", "memory", "--tls-cert", c.cert(), "--tls-key", c.key()});
    TlsClient t(srv.port(), c.ca());
    ASSERT_TRUE(t.ok());
    t.send(get("/healthz"));
    t.read_until([](const std::string&) { return false; }, 2000ms);
    EXPECT_EQ(t.got.substr(0, 12), "HTTP/1.1 200") << t.got;
    EXPECT_TRUE(t.clean_close);
    // A body refused while the client still sends: the 413 arrives, then close_notify.
    TlsClient big(srv.port(), c.ca());
    ASSERT_TRUE(big.ok());
    big.send(
        "POST /rooms/t/messages?id=a HTTP/1.1\r\nHost: x\r\nContent-Type: "
        "application/json\r\nContent-Length: 200000\r\n\r\n" +
        std::string(100000, 'x'));
    big.read_until([](const std::string& s) { return s.find('}') != s.npos; }, 3000ms);
    EXPECT_EQ(big.got.substr(0, 12), "HTTP/1.1 413") << big.got;
}

// HTTP/2 over TLS ends with close_notify too: here after a protocol error (DATA on stream 0),
// answered with GOAWAY.
TEST(Tls, AnHttp2ConnectionEndsWithCloseNotify) {
    Certs c;
    Server srv({"--store", "memory", "--tls-cert", c.cert(), "--tls-key", c.key()});
    TlsClient t(srv.port(), c.ca(), 0, true);
    ASSERT_TRUE(t.ok());
    std::string frames = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    frames += std::string("\0\0\0\x04\0\0\0\0\0", 9);    // SETTINGS, empty
    frames += std::string("\0\0\x01\0\0\0\0\0\0x", 10);  // DATA on stream 0
    t.send(frames);
    t.read_until([](const std::string&) { return false; }, 3000ms);
    // The server's SETTINGS, then GOAWAY (type 7) with PROTOCOL_ERROR (1).
    EXPECT_NE(t.got.find(std::string("\x07\0\0\0\0\0", 6)), std::string::npos);
    EXPECT_TRUE(t.clean_close) << "the connection ended without close_notify";
}

class TlsSeal : public ::testing::TestWithParam<std::string> {};

TEST_P(TlsSeal, AStreamFollowsTheClientsKeyUpdatesAndEndsWithCloseNotify) {
    Certs c;
    auto srv = std::make_unique<Server>(
        std::vector<std::string>{"--store", "memory", "--publish-rate", "0", "--tls-cert", c.cert(),
                                 "--tls-key", c.key(), "--tls-seal", GetParam()});
    const bool sealed = GetParam() == "on";
    int port = srv->port();
    TlsClient t(port, c.ca());
    ASSERT_TRUE(t.ok());
    t.send("GET /rooms/ku/events?presence=0&id=k HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    ASSERT_TRUE(t.read_until([](const std::string& s) { return s.find("retry:") != s.npos; }));
    int n = 0;
    auto next = [&] {
        std::string text = "after update " + std::to_string(++n);
        auto p = once(port, c, post("/rooms/ku/messages?id=p", "{\"message\":\"" + text + "\"}"));
        EXPECT_EQ(p.substr(0, 12), "HTTP/1.1 201") << p.substr(0, 200);
        return t.read_until([&](const std::string& s) { return s.find(text) != s.npos; });
    };
    ASSERT_TRUE(next()) << "sealed stream before any update";
    int heard = t.key_updates_heard();  // sealed: the server's own, when it took over
    for (int round = 0; round < 3; ++round) {
        ASSERT_TRUE(t.key_update(false));
        ASSERT_TRUE(next()) << "the stream outlives an update that asks nothing, round " << round
                            << srv->stderr_text();
        ASSERT_TRUE(t.key_update(true));
        ASSERT_TRUE(next()) << "and one that asks for ours, round " << round;
        EXPECT_EQ(t.key_updates_heard(), heard + round + 1) << "ours came back once per ask";
    }
    auto m = once(port, c, get("/metrics"));
    EXPECT_NE(m.find(sealed ? "ssechat_tls_event_streams_total{writer=\"ssechat\"} 1"
                            : "ssechat_tls_event_streams_total{writer=\"openssl\"} 1"),
              std::string::npos)
        << m;
    // The server ends the stream at shutdown: with close_notify.
    EXPECT_EQ(srv->terminate(), 0);
    t.read_until([](const std::string&) { return false; }, 2000ms);
    EXPECT_TRUE(t.clean_close) << "the end came without close_notify";
}

INSTANTIATE_TEST_SUITE_P(Writers, TlsSeal, ::testing::Values("on", "off"),
                         [](const auto& info) { return "seal_" + info.param; });
