// TLS 1.3 record sealing after the handshake (RFC 8446 5.2, 5.3, 7.1, 7.2, 4.6.3).
#include "sse/tls13.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "util/text.hpp"

namespace ssechat::sse {

namespace {

// What the callbacks keep per TLS connection until it is taken over (or freed with it).
struct Captured {
    uint8_t secret[48];  // the server's first application traffic secret
    uint8_t client[48];  // the client's
    uint8_t len = 0, client_len = 0;
    bool moved = false;  // a KeyUpdate went one way or the other: the secrets are stale
};

void free_captured(void*, void* p, CRYPTO_EX_DATA*, int, long, void*) {
    if (p) OPENSSL_clear_free(p, sizeof(Captured));
}

int index() {
    static const int i = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_captured);
    return i;
}

Captured* captured(const SSL* ssl, bool create) {
    auto* c = static_cast<Captured*>(SSL_get_ex_data(ssl, index()));
    if (c || !create) return c;
    void* mem = OPENSSL_zalloc(sizeof(Captured));
    if (!mem) return nullptr;
    c = new (mem) Captured;
    // The callbacks are given a const SSL; the ex_data slot is ours.
    if (SSL_set_ex_data(const_cast<SSL*>(ssl), index(), c) != 1) {
        OPENSSL_clear_free(mem, sizeof(Captured));
        return nullptr;
    }
    return c;
}

// OpenSSL reports each secret as one NSS key-log line: "LABEL <client random> <secret>".
void on_keylog(const SSL* ssl, const char* line) {
    constexpr std::string_view kServer = "SERVER_TRAFFIC_SECRET_0 ";
    constexpr std::string_view kClient = "CLIENT_TRAFFIC_SECRET_0 ";
    std::string_view l(line);
    bool server = l.substr(0, kServer.size()) == kServer;
    if (!server && l.substr(0, kClient.size()) != kClient) return;
    size_t sp = l.find(' ', kServer.size());
    if (sp == std::string_view::npos) return;
    std::string_view h = l.substr(sp + 1);
    if (h.size() % 2 != 0 || h.size() / 2 > sizeof(Captured::secret)) return;
    Captured* c = captured(ssl, true);
    if (!c) return;
    uint8_t* out = server ? c->secret : c->client;
    uint8_t& len = server ? c->len : c->client_len;
    for (size_t i = 0; i < h.size() / 2; ++i) {
        int hi = text::hex_digit(h[2 * i]), lo = text::hex_digit(h[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            len = 0;
            return;
        }
        out[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    len = static_cast<uint8_t>(h.size() / 2);
}

void on_message(int, int, int content_type, const void* buf, size_t len, SSL* ssl, void*) {
    if (content_type != SSL3_RT_HANDSHAKE || len == 0) return;
    if (static_cast<const uint8_t*>(buf)[0] != SSL3_MT_KEY_UPDATE) return;
    if (Captured* c = captured(ssl, true)) c->moved = true;
}

// HKDF-Expand-Label(secret, label, "", n) (RFC 8446 7.1), by OpenSSL's own TLS 1.3 KDF.
bool expand_label(const char* digest, const uint8_t* secret, size_t secret_len,
                  std::string_view label, uint8_t* out, size_t n) {
    std::unique_ptr<EVP_KDF, decltype(&EVP_KDF_free)> kdf(
        EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_TLS1_3_KDF, nullptr), EVP_KDF_free);
    if (!kdf) return false;
    std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> ctx(EVP_KDF_CTX_new(kdf.get()),
                                                                  EVP_KDF_CTX_free);
    if (!ctx) return false;
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    static const char kPrefix[] = "tls13 ";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(digest), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(secret),
                                          secret_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PREFIX, const_cast<char*>(kPrefix),
                                          sizeof kPrefix - 1),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_LABEL, const_cast<char*>(label.data()),
                                          label.size()),
        OSSL_PARAM_construct_end(),
    };
    return EVP_KDF_derive(ctx.get(), out, n, params) == 1;
}

const char* digest_of(uint8_t hash_len) {
    return hash_len == 48 ? "SHA384" : "SHA256";
}

const EVP_CIPHER* cipher_of(uint8_t aead) {
    switch (aead) {
        case 0:
            return EVP_aes_128_gcm();
        case 1:
            return EVP_aes_256_gcm();
        default:
            return EVP_chacha20_poly1305();
    }
}

}  // namespace

void tls13_prepare(SSL_CTX* ctx) {
    index();
    // OpenSSL sets kernel TLS up at a key change on a socket BIO, which is what take_over's
    // KeyUpdate is; the handshake, on Asio's memory BIOs, never gets it.
    SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
    SSL_CTX_set_keylog_callback(ctx, on_keylog);
    SSL_CTX_set_msg_callback(ctx, on_message);
}

std::optional<Tls13Keys> Tls13Keys::take_over(SSL* ssl) {
    if (SSL_version(ssl) != TLS1_3_VERSION) return std::nullopt;
    Captured* c = captured(ssl, false);
    if (!c || c->len == 0 || c->moved) return std::nullopt;
    const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
    Tls13Keys k;
    size_t hash_len = 32;
    switch (cipher ? SSL_CIPHER_get_id(cipher) : 0) {
        case 0x03001301:  // TLS_AES_128_GCM_SHA256
            k.aead_ = 0;
            k.key_len_ = 16;
            break;
        case 0x03001302:  // TLS_AES_256_GCM_SHA384
            k.aead_ = 1;
            k.key_len_ = 32;
            hash_len = 48;
            break;
        case 0x03001303:  // TLS_CHACHA20_POLY1305_SHA256
            k.aead_ = 2;
            k.key_len_ = 32;
            break;
        default:
            return std::nullopt;
    }
    if (c->len != hash_len || c->client_len != hash_len) return std::nullopt;
    // OpenSSL writes the KeyUpdate and moves to the next keys itself; from then on only we
    // write, starting at sequence number 0 of keys nothing was sealed with.
    ERR_clear_error();
    if (SSL_key_update(ssl, SSL_KEY_UPDATE_NOT_REQUESTED) != 1 || SSL_do_handshake(ssl) != 1) {
        ERR_clear_error();
        return std::nullopt;
    }
    if (BIO_get_ktls_send(SSL_get_wbio(ssl)) == 1) {
        OPENSSL_cleanse(c, sizeof *c);
        k.kernel_ = true;
        return k;
    }
    k.hash_len_ = static_cast<uint8_t>(hash_len);
    std::memcpy(k.wsecret_, c->secret, hash_len);
    std::memcpy(k.rsecret_, c->client, hash_len);
    OPENSSL_cleanse(c, sizeof *c);
    bool ok = k.next_secret(k.wsecret_) && k.install_write_keys();
    if (!ok) {
        // OpenSSL has moved on to keys we could not derive; the caller keeps it writing.
        ERR_clear_error();
        return std::nullopt;
    }
    return k;
}

bool kernel_tls_loaded() {
    std::ifstream f("/proc/sys/net/ipv4/tcp_available_ulp");
    std::string w;
    while (f >> w)
        if (w == "tls") return true;
    return false;
}

bool Tls13Keys::next_secret(uint8_t* secret) {
    uint8_t next[48];
    bool ok = expand_label(digest_of(hash_len_), secret, hash_len_, "traffic upd", next, hash_len_);
    if (ok) std::memcpy(secret, next, hash_len_);
    OPENSSL_cleanse(next, sizeof next);
    return ok;
}

bool Tls13Keys::install_write_keys() {
    const char* digest = digest_of(hash_len_);
    bool ok = expand_label(digest, wsecret_, hash_len_, "key", key_, key_len_) &&
              expand_label(digest, wsecret_, hash_len_, "iv", iv_, sizeof iv_);
    EVP_CIPHER_CTX_free(ctx_);  // keyed with the old key
    ctx_ = nullptr;
    seq_ = 0;
    return ok;
}

size_t Tls13Keys::seal_as(uint8_t type, const char* in, size_t n, char* out) {
    if (n == 0 || n > kMaxPlain) return 0;
    if (!ctx_) {
        // Keyed once; OpenSSL's key schedule and GCM tables are most of what a context costs
        // to set up, and each record then only sets its nonce.
        ctx_ = EVP_CIPHER_CTX_new();
        if (!ctx_ || EVP_EncryptInit_ex(ctx_, cipher_of(aead_), nullptr, key_, nullptr) != 1) {
            EVP_CIPHER_CTX_free(ctx_);
            ctx_ = nullptr;
            ERR_clear_error();
            return 0;
        }
    }
    auto now = std::chrono::steady_clock::now();
    busy_ = now - last_seal_ < std::chrono::seconds(1);
    last_seal_ = now;
    const size_t body = n + 1 + 16;
    auto* o = reinterpret_cast<uint8_t*>(out);
    o[0] = 0x17;  // application_data
    o[1] = 0x03;
    o[2] = 0x03;
    o[3] = static_cast<uint8_t>(body >> 8);
    o[4] = static_cast<uint8_t>(body);
    uint8_t nonce[12];
    std::memcpy(nonce, iv_, sizeof nonce);
    for (int i = 0; i < 8; ++i) nonce[11 - i] ^= static_cast<uint8_t>(seq_ >> (8 * i));
    int len = 0;  // `type` is the inner content type
    bool ok = EVP_EncryptInit_ex(ctx_, nullptr, nullptr, nullptr, nonce) == 1 &&
              EVP_EncryptUpdate(ctx_, nullptr, &len, o, 5) == 1 &&
              EVP_EncryptUpdate(ctx_, o + 5, &len, reinterpret_cast<const uint8_t*>(in),
                                static_cast<int>(n)) == 1 &&
              EVP_EncryptUpdate(ctx_, o + 5 + n, &len, &type, 1) == 1 &&
              EVP_EncryptFinal_ex(ctx_, o + 5 + n + 1, &len) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, 16, o + 5 + n + 1) == 1;
    OPENSSL_cleanse(nonce, sizeof nonce);
    if (!ok) {
        ERR_clear_error();
        return 0;
    }
    ++seq_;  // one nonce per record, never again
    return 5 + body;
}

size_t Tls13Keys::seal_key_update(char* out) {
    const char msg[] = {24, 0, 0, 1, 0};  // KeyUpdate, length 1, update_not_requested
    size_t n = seal_as(0x16, msg, sizeof msg, out);
    if (n == 0 || !next_secret(wsecret_) || !install_write_keys()) return 0;
    return n;
}

size_t Tls13Keys::seal_close_notify(char* out) {
    const char alert[] = {1, 0};  // warning, close_notify
    return seal_as(0x15, alert, sizeof alert, out);
}

Tls13Keys::Heard Tls13Keys::open(uint8_t* rec, size_t n) {
    // Every record after the handshake is application_data outside (RFC 8446 5.2).
    if (n < 5 + 1 + 16 || n > kMaxRecord || rec[0] != 0x17) return Heard::Close;
    const char* digest = digest_of(hash_len_);
    uint8_t key[32], iv[12];
    if (!expand_label(digest, rsecret_, hash_len_, "key", key, key_len_) ||
        !expand_label(digest, rsecret_, hash_len_, "iv", iv, sizeof iv)) {
        ERR_clear_error();
        return Heard::Close;
    }
    const size_t body = n - 5 - 16;
    std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(),
                                                                        EVP_CIPHER_CTX_free);
    std::string plain(body, '\0');
    // The client's records before the take-over (its request, most often one) were read by
    // OpenSSL, whose count of them is not public: the first record here is tried at the
    // next few sequence numbers, and the AEAD's tag tells which one is right.
    uint64_t first = rseq_known_ ? rseq_ : 0, last = rseq_known_ ? rseq_ : 31;
    bool opened = false;
    for (uint64_t seq = first; ctx && seq <= last && !opened; ++seq) {
        uint8_t nonce[12];
        std::memcpy(nonce, iv, sizeof nonce);
        for (int i = 0; i < 8; ++i) nonce[11 - i] ^= static_cast<uint8_t>(seq >> (8 * i));
        int len = 0;
        opened = EVP_DecryptInit_ex(ctx.get(), cipher_of(aead_), nullptr, key, nonce) == 1 &&
                 EVP_DecryptUpdate(ctx.get(), nullptr, &len, rec, 5) == 1 &&
                 EVP_DecryptUpdate(ctx.get(), reinterpret_cast<uint8_t*>(plain.data()), &len,
                                   rec + 5, static_cast<int>(body)) == 1 &&
                 EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, 16, rec + 5 + body) == 1 &&
                 EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<uint8_t*>(plain.data()) + len,
                                     &len) == 1;
        if (opened) {
            rseq_ = seq + 1;
            rseq_known_ = true;
        }
    }
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(iv, sizeof iv);
    ERR_clear_error();
    if (!opened) return Heard::Close;
    // The inner content type is the last byte that is not padding (RFC 8446 5.4).
    size_t end = plain.size();
    while (end > 0 && plain[end - 1] == 0) --end;
    if (end == 0) return Heard::Close;
    uint8_t type = static_cast<uint8_t>(plain[end - 1]);
    std::string_view content(plain.data(), end - 1);
    struct Wipe {
        std::string& s;
        ~Wipe() { OPENSSL_cleanse(s.data(), s.size()); }
    } wipe{plain};
    if (type != 0x16) return Heard::Close;  // an alert, or data
    // Handshake messages: after the handshake a client may send only KeyUpdate.
    Heard heard = Heard::Nothing;
    while (!content.empty()) {
        if (content.size() < 5 || static_cast<uint8_t>(content[0]) != 24 || content[1] != 0 ||
            content[2] != 0 || content[3] != 1)
            return Heard::Close;
        auto request = static_cast<uint8_t>(content[4]);
        if (request > 1) return Heard::Close;
        if (!next_secret(rsecret_)) return Heard::Close;
        rseq_ = 0;
        if (request == 1) heard = Heard::Update;
        content.remove_prefix(5);
    }
    return heard;
}

void Tls13Keys::relax() {
    if (busy_ || !ctx_) return;
    EVP_CIPHER_CTX_free(ctx_);  // clears the key schedule it holds
    ctx_ = nullptr;
}

Tls13Keys::Tls13Keys(Tls13Keys&& o) noexcept
    : rseq_(o.rseq_),
      rseq_known_(o.rseq_known_),
      hash_len_(o.hash_len_),
      seq_(o.seq_),
      key_len_(o.key_len_),
      aead_(o.aead_),
      kernel_(o.kernel_),
      busy_(o.busy_),
      ctx_(o.ctx_),
      last_seal_(o.last_seal_) {
    std::memcpy(key_, o.key_, sizeof key_);
    std::memcpy(iv_, o.iv_, sizeof iv_);
    std::memcpy(wsecret_, o.wsecret_, sizeof wsecret_);
    std::memcpy(rsecret_, o.rsecret_, sizeof rsecret_);
    OPENSSL_cleanse(o.key_, sizeof o.key_);
    OPENSSL_cleanse(o.wsecret_, sizeof o.wsecret_);
    OPENSSL_cleanse(o.rsecret_, sizeof o.rsecret_);
    o.ctx_ = nullptr;
}

Tls13Keys::~Tls13Keys() {
    EVP_CIPHER_CTX_free(ctx_);
    OPENSSL_cleanse(key_, sizeof key_);
    OPENSSL_cleanse(wsecret_, sizeof wsecret_);
    OPENSSL_cleanse(rsecret_, sizeof rsecret_);
}

}  // namespace ssechat::sse
