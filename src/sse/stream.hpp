// One client's event stream: a socket, a bounded outbound queue, and backpressure made visible.
#pragma once
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <memory>
#include <span>
#include <vector>

#include "sse/event.hpp"
#include "sse/tls13.hpp"

struct ssl_st;

namespace ssechat::sse {

// A TLS connection taken over from Asio after its handshake (Session::release): OpenSSL
// writes on the socket itself, so no Asio buffers stay allocated for an idle stream.
struct SslFree {
    void operator()(ssl_st* s) const;
};
using SslPtr = std::unique_ptr<ssl_st, SslFree>;

using TlsSocket = boost::beast::ssl_stream<boost::beast::tcp_stream>;

class Stream;

// An HTTP/2 connection, as the streams it carries see it. The connection frames what a
// stream queued (Stream::h2_take) into DATA frames as its flow-control windows allow.
// Called on the connection's loop only.
class H2Link {
  public:
    virtual ~H2Link() = default;
    // The stream starts: its response head, given as the HTTP/1.1 head the stream would
    // have written, becomes a HEADERS frame.
    virtual void h2_open(int32_t id, const std::string& head, std::weak_ptr<Stream> s) = 0;
    // The stream has queued bytes to send.
    virtual void h2_ready(int32_t id) = 0;
    // The stream closed on this side (its limit, or the server ending it): RST_STREAM.
    virtual void h2_closed(int32_t id) = 0;
    // The connection's loop, where its streams run.
    virtual boost::asio::any_io_executor h2_executor() = 0;
};

// A connection a stream takes over: a plain socket, a TLS connection after its handshake,
// or one stream of an HTTP/2 connection.
struct Conn {
    Conn(boost::asio::ip::tcp::socket s) : sock(std::move(s)) {}  // NOLINT: plain, implicitly
    Conn(boost::asio::ip::tcp::socket s, std::shared_ptr<H2Link> link, int32_t id)
        : sock(std::move(s)), h2(std::move(link)), h2_id(id) {}
    Conn(boost::asio::ip::tcp::socket s, SslPtr ssl, std::shared_ptr<void> k)
        : sock(std::move(s)), keep(std::move(k)), ssl(std::move(ssl)) {}
    Conn(boost::asio::ip::tcp::socket s, std::unique_ptr<Tls13Keys> k)
        : sock(std::move(s)), keys(std::move(k)) {}
    // The socket, plain or TLS; for HTTP/2 an unopened one on the connection's loop (the
    // connection's own is shared).
    boost::asio::ip::tcp::socket sock;
    std::shared_ptr<void> keep;  // what `ssl` needs alive (its ssl::context)
    std::shared_ptr<H2Link> h2;  // set for a stream of an HTTP/2 connection
    int32_t h2_id = 0;
    SslPtr ssl;                       // set for TLS written by OpenSSL on `sock`
    std::unique_ptr<Tls13Keys> keys;  // set for TLS 1.3 sealed here (no OpenSSL object left)
    bool kernel_tls = false;          // TLS 1.3 sealed by the kernel: written as plain
    // Whether the stream may move to another loop: only a plain socket can (TLS state and an
    // HTTP/2 connection live on this one).
    bool movable() const { return !h2 && !ssl && !keys && !kernel_tls; }
};

// Streams open now, by how they are carried (for metrics).
struct StreamCounts {
    std::atomic<int64_t> http1{0}, https1{0}, h2{0};
};
StreamCounts& stream_counts();

// What happened to a send, so callers see backpressure instead of it being hidden.
enum class SendStatus {
    Success,       // written to the socket in full
    Backpressure,  // part or all of it is queued behind a slow reader
    Dropped,       // the stream is closed, or the send took it over its limit and closed it
};

// Policy (in the spirit of Redis' client-output-buffer-limit): bytes queued for a client are
// capped; past the cap the client is disconnected, and it resumes later by Last-Event-ID.
// Writes go straight to the socket; a write handler is armed only after a partial write.
// All members run on the owning event loop only.
class Stream : public std::enable_shared_from_this<Stream> {
  public:
    // A plain connection is written straight to its socket (sendmsg, write handler only after
    // a partial write). TLS encrypts per connection, so a TLS stream queues and lets the TLS
    // layer write; the limit applies the same way.
    Stream(Conn conn, size_t limit);
    virtual ~Stream();
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    // Sends the response head and replay: allowed past the limit, so that a long catch-up
    // does not get the client dropped, but live sends count against what is left of it.
    void open(std::span<const Buffer> initial);

    SendStatus send(std::span<const Buffer> bufs);
    SendStatus send(const Buffer& b) { return send(std::span<const Buffer>(&b, 1)); }

    // Closes now. Never called from inside send(); send() defers its own closes.
    void close();
    bool closed() const { return closed_ || closing_; }
    std::chrono::steady_clock::time_point last_write() const { return last_write_; }
    size_t queued_bytes() const { return queued_bytes_; }
    // Entries held, sent ones not yet dropped included (for tests of the bound).
    size_t queued_buffers() const { return queue_.size(); }

    // HTTP/2: a piece of a queued buffer, held by the connection until it is written.
    struct Piece {
        Buffer buf;
        size_t off;
        size_t len;
    };
    // HTTP/2: takes the next `n` queued bytes (n <= queued_bytes()) for one DATA frame.
    void h2_take(size_t n, std::vector<Piece>& out);
    // HTTP/2: the peer reset the stream or the connection ended; no RST_STREAM is owed.
    void h2_gone();

  protected:
    // Runs once, on the loop, when the stream closes for any reason.
    virtual void on_closed() {}
    // Runs when a send would pass the limit, just before the stream is closed for it.
    virtual void on_overflow() {}

  private:
    struct Pending {
        Buffer buf;  // shared with every other recipient
        size_t off;  // bytes of buf already written
    };
    SendStatus enqueue(std::span<const Buffer> bufs, size_t limit);
    size_t write_now(std::span<const Buffer> bufs, bool& failed);
    void arm_write();
    void flush();
    void drop_sent();
    void watch_peer();
    // A sealed TLS stream reads what its client sends: KeyUpdates are followed (and answered
    // when asked), anything else ends the stream, as on any other stream.
    void hear_client();
    // Writes the end of a sealed stream: close_notify, or, on an OpenSSL stream, SSL_shutdown.
    // Best effort: a peer that is gone or a full socket gets none.
    void say_goodbye();
    void close_later();
    // TLS on the socket: writes what is queued; true when it drained. Otherwise a wait is
    // armed (the kernel or OpenSSL would block) or the stream is closing.
    bool ssl_flush();
    // The same for records sealed here: a record is sealed once, and what of it the kernel
    // did not take is kept and written first, never sealed again.
    bool rec_flush();
    // Whichever of the two writes this TLS stream.
    bool tls_flush();
    // Waits until the socket is writable (or readable, for OpenSSL), then flushes again.
    void tls_wait(bool read);
    // Copies up to `cap` unsent bytes to `dst` (TLS encrypts one record from them).
    size_t gather(char* dst, size_t cap) const;
    // The queue is empty: its memory goes, and no write is pending.
    void drained();
    // Marks `n` queued bytes as sent.
    void consumed(size_t n);

    struct H2Ref {
        std::shared_ptr<H2Link> link;  // the connection that frames this stream; null once gone
        int32_t id;
    };
    // TLS: OpenSSL writing on sock_, or, for TLS 1.3, records sealed here with `keys`.
    struct TlsState {
        std::shared_ptr<void> keep;  // the TLS context, while ssl lives
        SslPtr ssl;
        std::unique_ptr<Tls13Keys> keys;
        std::string pending;  // the unwritten end of a sealed record, while the kernel is full
        size_t pending_off = 0;
        std::string in;  // a sealed stream: the start of a client record not yet whole
    };
    // How the stream is carried: a socket of its own (plain, or TLS with tls_ set), or one
    // stream of an HTTP/2 connection, which has no socket of its own. A union, and TLS state
    // apart: an idle stream is mostly this object, so it holds what its kind needs only.
    union {
        boost::asio::ip::tcp::socket sock_;  // unless h2_mode_
        H2Ref h2_;                           // if h2_mode_
    };
    std::unique_ptr<TlsState> tls_;
    std::atomic<int64_t>* counted_;  // this stream's entry in stream_counts()
    // Empty, and unallocated, while the client keeps up (an empty std::deque allocates 568
    // bytes, for every idle stream). Sent entries before head_ are dropped in bulk once they
    // are half of it, so a reader that stays a little behind for ever holds about twice
    // what it is behind by, not everything it was ever sent.
    std::vector<Pending> queue_;
    size_t head_ = 0;          // first unsent entry of queue_
    size_t queued_bytes_ = 0;  // unsent bytes in queue_
    size_t limit_;             // the configured cap
    size_t allowance_ = 0;     // extra room granted to the initial replay, until drained
    std::chrono::steady_clock::time_point last_write_;
    // Last, together, so that they share one word.
    const bool h2_mode_;
    bool writing_ = false;  // a write handler is armed
    bool closing_ = false;  // a deferred close is posted
    bool closed_ = false;
};

}  // namespace ssechat::sse
