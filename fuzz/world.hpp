// The fuzz targets' server: the real HTTP stack (listener, sessions, API, hub with the memory
// store) on one loop in this process, and a loopback client that sends one input and collects
// what comes back.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "chat/hub.hpp"
#include "chat/shard.hpp"
#include "http/api.hpp"
#include "http/listener.hpp"
#include "http/seed_view.hpp"
#include "http/tls.hpp"
#include "store/memory/memory_store.hpp"

using namespace ssechat;

namespace {

struct World {
    Config cfg;
    store::MemoryStore store{100};
    std::unique_ptr<chat::Hub> hub;
    std::unique_ptr<chat::Shard> shard;
    std::unique_ptr<http::Api> api;
    std::shared_ptr<http::Listener> listener;
    uint16_t port = 0;
    // The same hub behind a second API with accounts on (--accounts, a first admin), on a
    // port of its own: sign-in, sessions, invites and the cookie's CSRF rule.
    Config accounts_cfg;
    std::unique_ptr<http::Api> accounts_api;
    std::shared_ptr<http::Listener> accounts_listener;
    uint16_t accounts_port = 0;
#ifdef FUZZ_WITH_TLS
    // A second listener with TLS, its certificate made at startup by the openssl command.
    std::unique_ptr<http::Tls> tls;
    std::shared_ptr<http::Listener> tls_listener;
    uint16_t tls_port = 0;
#endif

    World() {
        // As main() does: a write to a closed socket (OpenSSL's socket BIO uses write(), not
        // send() with MSG_NOSIGNAL) must fail with EPIPE, not end the process.
        std::signal(SIGPIPE, SIG_IGN);
        cfg.threads = 1;
        cfg.store = "memory";
        cfg.request_timeout_s = 1;
        cfg.idle_timeout_s = 1;
        cfg.publish_rate = 0;
        hub = std::make_unique<chat::Hub>(cfg, store, http::seed_views(cfg.legacy_history));
        shard = std::make_unique<chat::Shard>(0, *hub);
        hub->set_shards({shard.get()});
        api = std::make_unique<http::Api>(cfg, *hub, std::vector<chat::Shard*>{shard.get()});
        listener = std::make_shared<http::Listener>(
            shard->ioc(),
            boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0), *api);
        port = listener->port();
        accounts_cfg = cfg;
        accounts_cfg.accounts = true;
        accounts_cfg.first_admin = "root";
        accounts_cfg.first_admin_password = "root-password-long";
        accounts_cfg.password_threads = 1;
        accounts_cfg.password_queue = 4;
        accounts_api =
            std::make_unique<http::Api>(accounts_cfg, *hub, std::vector<chat::Shard*>{shard.get()});
        accounts_listener = std::make_shared<http::Listener>(
            shard->ioc(),
            boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0),
            *accounts_api);
        accounts_port = accounts_listener->port();
        accounts_api->set_port(accounts_port);
#ifdef FUZZ_WITH_TLS
        char dir[] = "/tmp/ssechat-fuzz-tls-XXXXXX";
        if (!mkdtemp(dir)) abort();
        std::string d = dir;
        std::string cmd = "cd " + d +
                          " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                          "-nodes -keyout key.pem -out cert.pem -days 2 -subj /CN=127.0.0.1 "
                          ">/dev/null 2>&1";
        if (std::system(cmd.c_str()) != 0) abort();
        tls = std::make_unique<http::Tls>(d + "/cert.pem", d + "/key.pem");
        tls_listener = std::make_shared<http::Listener>(
            shard->ioc(),
            boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0), *api,
            tls.get());
        tls_port = tls_listener->port();
        tls_listener->start();
#endif
        hub->start();
        listener->start();
        accounts_listener->start();
    }
};

World& world() {
    // Never destroyed: libFuzzer ends with exit(), and tearing the server down from a static
    // destructor would race the writer thread for nothing.
    static World* w = new World;
    return *w;
}

// Sends `prefix` then `data` on a fresh connection, half-closes it, and runs the server until
// it closes the connection or 3 s pass. Returns what the server wrote; `eof` says whether it
// closed.
// A non-blocking connection to a loopback port, connecting.
inline int dial(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    return fd;
}

// What the server wrote is HTTP/1.1 responses: each starts a status line, and none is a server
// error. 503 (a limit) and 501 (a transfer coding this server does not implement, as RFC 9112
// asks) are answers to the input, not failures.
inline void check_http1(const std::string& out) {
    if (out.empty()) return;
    if (out.rfind("HTTP/1.", 0) != 0) abort();
    for (size_t p = out.find("HTTP/1.1 "); p != std::string::npos;
         p = out.find("HTTP/1.1 ", p + 1)) {
        if (p + 12 > out.size()) abort();
        if (out[p + 9] == '5' && out.compare(p + 9, 3, "503") != 0 &&
            out.compare(p + 9, 3, "501") != 0)
            abort();
    }
}

// What the server wrote is HTTP/2 frames, whole, starting with its SETTINGS.
inline void check_h2(const std::string& out) {
    if (out.empty()) return;
    if (out.size() < 9 || out[3] != 4) abort();
    size_t p = 0;
    while (p + 9 <= out.size())
        p += 9 + ((static_cast<uint8_t>(out[p]) << 16) | (static_cast<uint8_t>(out[p + 1]) << 8) |
                  static_cast<uint8_t>(out[p + 2]));
    if (p != out.size()) abort();  // a cut frame
}

inline std::string exchange(std::string_view prefix, const uint8_t* data, size_t size, bool& eof,
                            bool accounts = false) {
    World& w = world();
    std::string in(prefix);
    in.append(reinterpret_cast<const char*>(data), size);
    int fd = dial(accounts ? w.accounts_port : w.port);
    size_t sent = 0;
    std::string out;
    eof = false;
    bool shut = false;
    // Generous: two fuzzers share two cores in CI, and uploads and searches answer from the
    // work pool; a server that hangs is still caught.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!eof && std::chrono::steady_clock::now() < deadline) {
        if (sent < in.size()) {
            ssize_t n = ::send(fd, in.data() + sent, in.size() - sent, MSG_NOSIGNAL);
            if (n > 0) sent += static_cast<size_t>(n);
        } else if (!shut) {
            ::shutdown(fd, SHUT_WR);  // the end of input ends keep-alive and streams alike
            shut = true;
        }
        w.shard->ioc().run_for(std::chrono::milliseconds(1));
        char buf[65536];
        ssize_t r;
        while ((r = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(r));
        if (r == 0) eof = true;
        if (r < 0 && errno != EAGAIN && errno != ENOTCONN) eof = true;
    }
    ::close(fd);
    return out;
}

}  // namespace
