// Fuzz target: raw bytes after a TLS handshake, into the real HTTP stack's TLS listener. The
// first input byte picks the protocol the client offers by ALPN (bit 0: HTTP/1.1 or h2), and
// whether the client sends a KeyUpdate once its input is sent (bit 1; bit 2: asking for the
// server's in return), as a client rotating its keys under an event stream does; the rest is
// sent encrypted. Whatever arrives, the server answers well-formed HTTP/1.1 (nothing 5xx but
// its limits) or whole HTTP/2 frames in records that decrypt, and closes once the input ends.
#define FUZZ_WITH_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstdlib>
#include <string>

#include "http/h2.hpp"
#include "world.hpp"

namespace {

SSL_CTX* client_ctx() {
    static SSL_CTX* c = [] {
        SSL_CTX* x = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_verify(x, SSL_VERIFY_NONE, nullptr);
        SSL_CTX_set_mode(x, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        return x;
    }();
    return c;
}

// Runs an SSL call until it stops asking to wait, turning the server's loop in between.
template <class F>
int pump(World& w, SSL* ssl, F call, std::chrono::steady_clock::time_point deadline) {
    while (std::chrono::steady_clock::now() < deadline) {
        ERR_clear_error();
        int r = call();
        if (r > 0) return r;
        int e = SSL_get_error(ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return r;
        w.shard->ioc().run_for(std::chrono::milliseconds(1));
    }
    return -1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    World& w = world();
    bool h2 = data[0] & 1;
    bool key_update = data[0] & 2;
    bool requested = data[0] & 4;
    ++data;
    --size;
    int fd = dial(w.tls_port);
    SSL* ssl = SSL_new(client_ctx());
    SSL_set_fd(ssl, fd);
    static const unsigned char kH2[] = {2, 'h', '2'};
    static const unsigned char kH1[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    if (h2)
        SSL_set_alpn_protos(ssl, kH2, sizeof kH2);
    else
        SSL_set_alpn_protos(ssl, kH1, sizeof kH1);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    if (pump(
            w, ssl, [&] { return SSL_connect(ssl); }, deadline) != 1)
        abort();  // no handshake
    std::string in = h2 ? std::string(ssechat::http::kH2Preface) : std::string();
    in.append(reinterpret_cast<const char*>(data), size);
    size_t sent = 0;
    std::string out;
    char buf[65536];
    bool eof = false;
    while (!eof && std::chrono::steady_clock::now() < deadline) {
        if (sent < in.size()) {
            ERR_clear_error();
            int n = SSL_write(ssl, in.data() + sent, static_cast<int>(in.size() - sent));
            if (n > 0) sent += static_cast<size_t>(n);
            if (n <= 0) {
                int e = SSL_get_error(ssl, n);
                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) sent = in.size();
            }
            if (sent == in.size()) {
                if (key_update) {
                    // Let the server take the stream over first, then rotate under it.
                    w.shard->ioc().run_for(std::chrono::milliseconds(20));
                    SSL_key_update(
                        ssl, requested ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED);
                    pump(
                        w, ssl, [&] { return SSL_do_handshake(ssl); }, deadline);
                    w.shard->ioc().run_for(std::chrono::milliseconds(20));
                }
                ::shutdown(fd, SHUT_WR);  // the end of input, as in clear
            }
        }
        w.shard->ioc().run_for(std::chrono::milliseconds(1));
        while (true) {
            ERR_clear_error();
            int r = SSL_read(ssl, buf, sizeof buf);
            if (r > 0) {
                out.append(buf, static_cast<size_t>(r));
                continue;
            }
            int e = SSL_get_error(ssl, r);
            // An event stream's records are sealed by the server itself (TLS 1.3): each must
            // decrypt here, or the sealing is wrong.
            if (e == SSL_ERROR_SSL &&
                ERR_GET_REASON(ERR_peek_error()) == SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC)
                abort();
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) eof = true;
            break;
        }
    }
    ERR_clear_error();
    SSL_free(ssl);
    ::close(fd);
    if (!eof) abort();  // the server neither answered in full nor closed
    if (h2)
        check_h2(out);
    else
        check_http1(out);
    return 0;
}
