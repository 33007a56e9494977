// TLS 1.3 application-data records written without OpenSSL's connection object, for event
// streams after their handshake: OpenSSL's SSL object is about 10 KB per connection (its
// record layer keeps arrays for 32 pipelines), held for as long as an idle stream lives.
// What a stream needs to keep writing is a key, an IV and a sequence number. This is what
// kernel TLS does with the same keys (OpenSSL hands them to the kernel); these machines have
// no kernel TLS, so the records are sealed here, with OpenSSL's own AEAD and key derivation.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

struct ssl_st;
struct ssl_ctx_st;
struct evp_cipher_ctx_st;

namespace ssechat::sse {

class Tls13Keys {
  public:
    static constexpr size_t kMaxPlain = 16384;       // RFC 8446 5.1
    static constexpr size_t kOverhead = 5 + 1 + 16;  // header, inner content type, AEAD tag

    // Takes the write side of `ssl` over: a TLS 1.3 connection after its handshake, with a
    // socket BIO. OpenSSL sends a KeyUpdate (not requested back), so that the keys that follow
    // start at sequence number 0 and have sealed nothing yet; they are derived from the
    // secret captured at the handshake (tls13_prepare). Nothing when the connection is not
    // TLS 1.3, its cipher is not one of the three TLS 1.3 AEADs this seals with, its keys
    // changed since the handshake, or the KeyUpdate could not be written at once: the caller
    // then keeps OpenSSL writing, which is always correct.
    static std::optional<Tls13Keys> take_over(ssl_st* ssl);

    // The kernel took the keys over (kernel TLS, which OpenSSL turns on at the KeyUpdate when
    // the kernel offers it): the stream then writes plaintext to the socket, scatter-gather,
    // and seals nothing itself.
    bool kernel() const { return kernel_; }

    // Seals `n` (1..kMaxPlain) bytes of application data into one record at `out`, which
    // has room for n + kOverhead bytes. Returns the record's size, or 0 if the AEAD failed.
    size_t seal(const char* in, size_t n, char* out) { return seal_as(0x17, in, n, out); }

    // What a record the client sent asks of the stream.
    enum class Heard {
        Nothing,  // a KeyUpdate that asks nothing back: the client's next keys are installed
        Update,   // a KeyUpdate that asks for ours: write seal_key_update() before more data
        Close,    // an alert (close_notify, say), data (a request behind an endless
                  // response), or a record that does not open: the stream ends
    };
    // The longest record a client may send (RFC 8446 5.2: 2^14 + 256 of ciphertext).
    static constexpr size_t kMaxRecord = 5 + (1 << 14) + 256;
    // Opens one whole record of the client's (header included) in place.
    Heard open(uint8_t* rec, size_t n);
    // Our own KeyUpdate (update_not_requested), sealed with the keys now, into `out` (room for
    // 32 bytes); the keys after it are the next generation. 0 if the AEAD failed.
    size_t seal_key_update(char* out);
    // A close_notify alert into `out` (room for 32 bytes), for a clean end (RFC 8446 6.1).
    size_t seal_close_notify(char* out);

    // The stream's queue drained: a stream that seals rarely (an idle one: its head, a
    // heartbeat now and then) gives its cipher context back (about 1 KB); one that seals
    // often keeps it, since keying a context costs more than sealing a small record.
    void relax();

    ~Tls13Keys();
    Tls13Keys(Tls13Keys&& o) noexcept;
    Tls13Keys& operator=(Tls13Keys&&) = delete;
    Tls13Keys(const Tls13Keys&) = delete;

  private:
    Tls13Keys() = default;
    size_t seal_as(uint8_t type, const char* in, size_t n, char* out);
    // The next generation of a traffic secret (RFC 8446 7.2), in place.
    bool next_secret(uint8_t* secret);
    bool install_write_keys();
    // The traffic secrets of each direction, kept for KeyUpdates: ours as of the keys in
    // key_/iv_, the client's as of the records it sends now.
    uint8_t wsecret_[48] = {};
    uint8_t rsecret_[48] = {};
    uint64_t rseq_ = 0;
    bool rseq_known_ = false;  // the client's first record after the take-over pins it down
    uint8_t hash_len_ = 0;
    uint8_t key_[32] = {};
    uint8_t iv_[12] = {};
    uint64_t seq_ = 0;
    uint8_t key_len_ = 0;
    uint8_t aead_ = 0;  // 0 AES-128-GCM, 1 AES-256-GCM, 2 ChaCha20-Poly1305
    bool kernel_ = false;
    bool busy_ = false;                 // the seal before the last was under a second ago
    evp_cipher_ctx_st* ctx_ = nullptr;  // keyed; only the nonce changes per record
    std::chrono::steady_clock::time_point last_seal_;
};

// Installs on a server context what take_over needs: the server's first application traffic
// secret of each TLS 1.3 connection, and whether a KeyUpdate has gone either way since; and
// asks OpenSSL for kernel TLS where it can have it.
void tls13_prepare(ssl_ctx_st* ctx);

// Whether this kernel has its TLS module loaded (the "tls" upper-layer protocol), for the
// startup log; it may also load on first use.
bool kernel_tls_loaded();

}  // namespace ssechat::sse
