// Tls: OpenSSL through Asio's ssl::context, with Mozilla's "intermediate" policy: TLS 1.2 and
// 1.3 only, forward-secret AEAD ciphers for 1.2, OpenSSL's defaults for 1.3.
#include "http/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sse/tls13.hpp"

namespace ssechat::http {

namespace {

// https://ssl-config.mozilla.org/ "intermediate", TLS 1.2 part (1.3 suites are all fine).
constexpr const char* kCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";

std::string openssl_reason() {
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (!e) return "unknown error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

void readable(const std::string& file, const char* what) {
    if (::access(file.c_str(), R_OK) != 0)
        throw TlsError(std::string("cannot read ") + what + " " + file + ": " +
                       std::strerror(errno));
}

// ALPN: h2 when the client offers it, else HTTP/1.1. A client that offers neither gets no
// protocol, and OpenSSL ends the handshake for it.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned inlen, void*) {
    static const unsigned char kOurs[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char* sel = nullptr;
    // Our list is the preference order: SSL_select_next_proto picks the first of ours that
    // the client lists.
    if (SSL_select_next_proto(&sel, outlen, kOurs, sizeof kOurs, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

}  // namespace

Tls::Tls(std::string cert, std::string key) : cert_(std::move(cert)), key_(std::move(key)) {
    ctx_ = make(cert_, key_);
}

std::shared_ptr<boost::asio::ssl::context> Tls::context() const {
    std::lock_guard lk(mu_);
    return ctx_;
}

std::optional<std::string> Tls::reload() {
    try {
        auto fresh = make(cert_, key_);
        std::lock_guard lk(mu_);
        ctx_ = std::move(fresh);
        return std::nullopt;
    } catch (const TlsError& e) {
        return e.what();
    }
}

std::shared_ptr<boost::asio::ssl::context> Tls::make(const std::string& cert,
                                                     const std::string& key) {
    readable(cert, "certificate");
    readable(key, "key");
    ERR_clear_error();
    auto ctx = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server);
    SSL_CTX* c = ctx->native_handle();
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    // An idle stream gives its record buffers back (about 34 KiB each otherwise).
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(c, kCiphers) != 1)
        throw TlsError("no usable TLS 1.2 cipher: " + openssl_reason());
    if (SSL_CTX_use_certificate_chain_file(c, cert.c_str()) != 1)
        throw TlsError("cannot use certificate " + cert + ": " + openssl_reason());
    if (SSL_CTX_use_PrivateKey_file(c, key.c_str(), SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            ERR_clear_error();
            throw TlsError("key " + key + " does not match certificate " + cert);
        }
        throw TlsError("cannot use key " + key + ": " + openssl_reason());
    }
    if (SSL_CTX_check_private_key(c) != 1)
        throw TlsError("key " + key + " does not match certificate " + cert);
    // Resumption: a server-side cache and stateless tickets (OpenSSL's default); each context
    // has fresh random ticket keys, so a reload (and the daily one) rotates them.
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_alpn_select_cb(c, select_alpn, nullptr);
    sse::tls13_prepare(c);  // event streams then write TLS 1.3 records without OpenSSL's object
    return ctx;
}

}  // namespace ssechat::http
