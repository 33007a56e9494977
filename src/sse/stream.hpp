// One client's event stream: a socket, a bounded outbound queue, and backpressure made visible.
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <span>
#include <vector>

#include "sse/event.hpp"

namespace ssechat::sse {

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
    Stream(boost::asio::ip::tcp::socket sock, size_t limit);
    virtual ~Stream() = default;
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
    void close_later();

    boost::asio::ip::tcp::socket sock_;
    // Empty, and unallocated, while the client keeps up (an empty std::deque allocates 568
    // bytes, for every idle stream). Sent entries before head_ are dropped in bulk once they
    // are half of it, so a reader that stays a little behind for ever holds about twice
    // what it is behind by, not everything it was ever sent.
    std::vector<Pending> queue_;
    size_t head_ = 0;          // first unsent entry of queue_
    size_t queued_bytes_ = 0;  // unsent bytes in queue_
    size_t limit_;             // the configured cap
    size_t allowance_ = 0;     // extra room granted to the initial replay, until drained
    bool writing_ = false;     // a write handler is armed
    bool closing_ = false;     // a deferred close is posted
    bool closed_ = false;
    std::chrono::steady_clock::time_point last_write_;
};

}  // namespace ssechat::sse
