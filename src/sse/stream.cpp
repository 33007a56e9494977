// Stream: direct non-blocking writes with a queue only for what the kernel would not take.
#include "sse/stream.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cstring>

namespace ssechat::sse {

namespace asio = boost::asio;

namespace {
constexpr size_t kMaxIov = 64;
// One TLS record's worth of plaintext, gathered from the queue for SSL_write (which takes
// one buffer); per loop thread, not per stream.
constexpr size_t kRecord = 16384;
}  // namespace

void SslFree::operator()(ssl_st* s) const {
    SSL_free(s);
}

StreamCounts& stream_counts() {
    static StreamCounts c;
    return c;
}

Stream::Stream(Conn conn, size_t limit)
    : counted_(conn.h2                                    ? &stream_counts().h2
               : conn.ssl || conn.keys || conn.kernel_tls ? &stream_counts().https1
                                                          : &stream_counts().http1),
      limit_(limit),
      h2_mode_(static_cast<bool>(conn.h2)) {
    counted_->fetch_add(1, std::memory_order_relaxed);
    last_write_ = std::chrono::steady_clock::now();
    if (h2_mode_) {
        new (&h2_) H2Ref{std::move(conn.h2), conn.h2_id};
        return;  // the connection's socket is the connection's
    }
    new (&sock_) asio::ip::tcp::socket(std::move(conn.sock));
    if (conn.ssl || conn.keys) {
        tls_ = std::make_unique<TlsState>();
        tls_->keep = std::move(conn.keep);
        tls_->ssl = std::move(conn.ssl);
        tls_->keys = std::move(conn.keys);
    }
    boost::system::error_code ec;
    sock_.non_blocking(true, ec);
    sock_.set_option(asio::ip::tcp::no_delay(true), ec);
}

Stream::~Stream() {
    counted_->fetch_sub(1, std::memory_order_relaxed);
    tls_.reset();  // OpenSSL before the socket it writes on
    if (h2_mode_)
        h2_.~H2Ref();
    else
        sock_.~basic_stream_socket();
}

void Stream::open(std::span<const Buffer> initial) {
    if (h2_mode_) {
        // The first buffer is the HTTP/1.1 head; HTTP/2 sends it as a HEADERS frame.
        if (initial.empty() || !h2_.link) return;
        h2_.link->h2_open(h2_.id, *initial.front(), weak_from_this());
        initial = initial.subspan(1);
    }
    size_t total = 0;
    for (const auto& b : initial) total += b->size();
    allowance_ = total;
    send(initial);
    watch_peer();
}

size_t Stream::write_now(std::span<const Buffer> bufs, bool& failed) {
    iovec iov[kMaxIov];
    size_t n = std::min(bufs.size(), kMaxIov);
    for (size_t i = 0; i < n; ++i) iov[i] = {const_cast<char*>(bufs[i]->data()), bufs[i]->size()};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = n;
    ssize_t w = ::sendmsg(sock_.native_handle(), &msg, MSG_NOSIGNAL);
    if (w < 0) {
        failed = errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
        return 0;
    }
    last_write_ = std::chrono::steady_clock::now();
    return static_cast<size_t>(w);
}

SendStatus Stream::send(std::span<const Buffer> bufs) {
    if (closed()) return SendStatus::Dropped;
    if (bufs.empty()) return SendStatus::Success;
    if (tls_) {
        // Written at once, like a plain stream: OpenSSL encrypts into its own record and
        // writes the socket; what the kernel does not take stays queued.
        auto status = enqueue(bufs, limit_ + allowance_);
        if (status == SendStatus::Dropped || writing_) return status;
        return tls_flush() ? SendStatus::Success : status;
    }
    if (h2_mode_) {
        // The connection takes from the queue as the stream's flow-control window opens;
        // a peer that does not open it fills the queue up to the limit, like a slow reader.
        auto status = enqueue(bufs, limit_ + allowance_);
        if (status != SendStatus::Dropped && !writing_ && h2_.link) {
            writing_ = true;
            h2_.link->h2_ready(h2_.id);
        }
        return status;
    }
    if (!writing_) {
        bool failed = false;
        size_t written = write_now(bufs, failed);
        if (failed) {
            close_later();
            return SendStatus::Dropped;
        }
        // Skip what went out whole; queue the rest from the first partial buffer.
        size_t i = 0;
        while (i < bufs.size() && written >= bufs[i]->size()) written -= bufs[i++]->size();
        if (i == bufs.size()) return SendStatus::Success;
        queue_.push_back({bufs[i], written});
        queued_bytes_ += bufs[i]->size() - written;
        auto status = enqueue(bufs.subspan(i + 1), limit_ + allowance_);
        if (status != SendStatus::Dropped) arm_write();
        return status;
    }
    return enqueue(bufs, limit_ + allowance_);
}

SendStatus Stream::enqueue(std::span<const Buffer> bufs, size_t limit) {
    for (const auto& b : bufs) {
        queue_.push_back({b, 0});
        queued_bytes_ += b->size();
    }
    if (queued_bytes_ > limit) {
        on_overflow();
        close_later();
        return SendStatus::Dropped;
    }
    return SendStatus::Backpressure;
}

void Stream::arm_write() {
    writing_ = true;
    sock_.async_wait(asio::ip::tcp::socket::wait_write,
                     [self = shared_from_this()](boost::system::error_code ec) {
                         if (ec || self->closed_) return;
                         self->flush();
                     });
}

void Stream::flush() {
    while (head_ < queue_.size()) {
        iovec iov[kMaxIov];
        size_t n = 0;
        for (size_t i = head_; i < queue_.size() && n < kMaxIov; ++i, ++n) {
            const auto& p = queue_[i];
            iov[n] = {const_cast<char*>(p.buf->data() + p.off), p.buf->size() - p.off};
        }
        msghdr msg{};
        msg.msg_iov = iov;
        msg.msg_iovlen = n;
        ssize_t w = ::sendmsg(sock_.native_handle(), &msg, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                drop_sent();
                arm_write();
                return;
            }
            close();  // the peer is gone; an expected end, not an error
            return;
        }
        last_write_ = std::chrono::steady_clock::now();
        consumed(static_cast<size_t>(w));
    }
    // Drained: give the memory back and end the replay's allowance.
    drained();
}

void Stream::consumed(size_t n) {
    queued_bytes_ -= n;
    while (n > 0) {
        auto& p = queue_[head_];
        size_t rest = p.buf->size() - p.off;
        if (n >= rest) {
            n -= rest;
            p.buf.reset();
            ++head_;
        } else {
            p.off += n;
            n = 0;
        }
    }
}

void Stream::h2_take(size_t n, std::vector<Piece>& out) {
    n = std::min(n, queued_bytes_);
    queued_bytes_ -= n;
    while (n > 0) {
        auto& p = queue_[head_];
        size_t len = std::min(n, p.buf->size() - p.off);
        out.push_back({p.buf, p.off, len});
        p.off += len;
        n -= len;
        if (p.off == p.buf->size()) {
            p.buf.reset();
            ++head_;
        }
    }
    last_write_ = std::chrono::steady_clock::now();
    if (head_ < queue_.size()) return drop_sent();
    drained();
}

void Stream::h2_gone() {
    h2_.link.reset();  // nothing more to tell the connection
    close();
}

bool Stream::ssl_flush() {
    static thread_local std::array<char, kRecord> scratch;
    while (head_ < queue_.size()) {
        // A write that blocked is retried from the same first byte with at least as much
        // data (the queue only grows behind it), as SSL_write requires.
        size_t n = gather(scratch.data(), scratch.size());
        ERR_clear_error();
        int r = SSL_write(tls_->ssl.get(), scratch.data(), static_cast<int>(n));
        if (r > 0) {
            last_write_ = std::chrono::steady_clock::now();
            consumed(static_cast<size_t>(r));
            continue;
        }
        int e = SSL_get_error(tls_->ssl.get(), r);
        ERR_clear_error();
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
            drop_sent();
            tls_wait(e == SSL_ERROR_WANT_READ);
            return false;
        }
        close_later();  // the peer is gone; an expected end, not an error
        return false;
    }
    drained();
    return true;
}

bool Stream::tls_flush() {
    return tls_->keys ? rec_flush() : ssl_flush();
}

bool Stream::rec_flush() {
    static thread_local std::array<char, Tls13Keys::kMaxPlain> plain;
    static thread_local std::array<char, Tls13Keys::kMaxPlain + Tls13Keys::kOverhead> record;
    auto& t = *tls_;
    const int fd = sock_.native_handle();
    auto blocked = [](ssize_t w) {
        return w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
    };
    while (true) {
        if (t.pending_off < t.pending.size()) {
            ssize_t w = ::send(fd, t.pending.data() + t.pending_off,
                               t.pending.size() - t.pending_off, MSG_NOSIGNAL);
            if (w < 0 && !blocked(w)) {
                close_later();  // the peer is gone; an expected end, not an error
                return false;
            }
            if (w > 0) {
                last_write_ = std::chrono::steady_clock::now();
                t.pending_off += static_cast<size_t>(w);
            }
            if (t.pending_off < t.pending.size()) {
                drop_sent();
                tls_wait(false);
                return false;
            }
            std::string().swap(t.pending);
            t.pending_off = 0;
        }
        if (head_ >= queue_.size()) break;
        size_t n = gather(plain.data(), plain.size());
        size_t r = t.keys->seal(plain.data(), n, record.data());
        if (r == 0) {
            close_later();
            return false;
        }
        consumed(n);  // sealed: from here on the record, not the plaintext, is what is owed
        ssize_t w = ::send(fd, record.data(), r, MSG_NOSIGNAL);
        if (w < 0 && !blocked(w)) {
            close_later();
            return false;
        }
        size_t done = w > 0 ? static_cast<size_t>(w) : 0;
        if (done > 0) last_write_ = std::chrono::steady_clock::now();
        if (done < r) {
            t.pending.assign(record.data() + done, r - done);
            t.pending_off = 0;
            drop_sent();
            tls_wait(false);
            return false;
        }
    }
    drained();
    t.keys->relax();
    return true;
}

void Stream::tls_wait(bool read) {
    writing_ = true;
    sock_.async_wait(read ? asio::ip::tcp::socket::wait_read : asio::ip::tcp::socket::wait_write,
                     [self = shared_from_this()](boost::system::error_code ec) {
                         if (ec || self->closed_) return;
                         self->tls_flush();
                     });
}

size_t Stream::gather(char* dst, size_t cap) const {
    size_t n = 0;
    for (size_t i = head_; i < queue_.size() && n < cap; ++i) {
        const auto& p = queue_[i];
        size_t take = std::min(p.buf->size() - p.off, cap - n);
        std::memcpy(dst + n, p.buf->data() + p.off, take);
        n += take;
    }
    return n;
}

void Stream::drained() {
    std::vector<Pending>().swap(queue_);
    head_ = 0;
    allowance_ = 0;
    writing_ = false;
}

void Stream::drop_sent() {
    // Amortized O(1) per entry: the sent prefix goes once it is at least half the queue.
    if (head_ < 64 || head_ * 2 < queue_.size()) return;
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
}

void Stream::watch_peer() {
    // EventSource never sends after its request, so readable means closed, or a request
    // pipelined behind an endless response: it can never be answered, so the stream ends
    // with a clean close instead of leaving the client waiting in silence.
    if (h2_mode_) return;  // the connection reads; it ends the stream on RST_STREAM or its end
    if (tls_ && tls_->keys) {
        sock_.async_wait(asio::ip::tcp::socket::wait_read,
                         [self = shared_from_this()](boost::system::error_code ec) {
                             if (ec || self->closed_) return;
                             self->hear_client();
                         });
        return;
    }
    if (tls_ && tls_->ssl) {
        sock_.async_wait(asio::ip::tcp::socket::wait_read,
                         [self = shared_from_this()](boost::system::error_code ec) {
                             if (ec || self->closed_) return;
                             char scratch[4096];
                             ERR_clear_error();
                             int r = SSL_read(self->tls_->ssl.get(), scratch, sizeof scratch);
                             if (r <= 0) {
                                 int e = SSL_get_error(self->tls_->ssl.get(), r);
                                 ERR_clear_error();
                                 // A record with no data for us (a key update, say).
                                 if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                                     return self->watch_peer();
                             }
                             self->close();  // closed, or a request it cannot answer
                         });
        return;
    }
    sock_.async_wait(asio::ip::tcp::socket::wait_read, [self = shared_from_this()](
                                                           boost::system::error_code ec) {
        if (ec || self->closed_) return;
        char scratch[4096];
        ssize_t r = ::recv(self->sock_.native_handle(), scratch, sizeof scratch, MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) return self->watch_peer();
        // Read what else is there, so closing sends a FIN rather than a reset.
        for (int i = 0; r > 0 && i < 16; ++i)
            r = ::recv(self->sock_.native_handle(), scratch, sizeof scratch, MSG_DONTWAIT);
        self->close();
    });
}

void Stream::hear_client() {
    auto& t = *tls_;
    const int fd = sock_.native_handle();
    char buf[4096];
    for (;;) {
        ssize_t r = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r == 0) return close();  // the client's end: an ordinary one
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
            return close();
        }
        t.in.append(buf, static_cast<size_t>(r));
        while (t.in.size() >= 5) {
            size_t len = 5 + (static_cast<size_t>(static_cast<uint8_t>(t.in[3])) << 8 |
                              static_cast<uint8_t>(t.in[4]));
            if (len > Tls13Keys::kMaxRecord) return close();
            if (t.in.size() < len) break;
            auto heard = t.keys->open(reinterpret_cast<uint8_t*>(t.in.data()), len);
            t.in.erase(0, len);
            if (heard == Tls13Keys::Heard::Close) return close();
            if (heard == Tls13Keys::Heard::Update) {
                // Ours goes out before any more data, behind whatever record is half-written.
                char rec[32];
                size_t n = t.keys->seal_key_update(rec);
                if (n == 0) return close();
                if (t.pending_off > 0) {
                    t.pending.erase(0, t.pending_off);
                    t.pending_off = 0;
                }
                t.pending.append(rec, n);
                if (!writing_) tls_flush();
                if (closed_ || closing_) return;
            }
        }
    }
    if (t.in.empty()) std::string().swap(t.in);  // an idle stream holds no buffer
    watch_peer();
}

void Stream::say_goodbye() {
    if (!tls_) return;
    auto& t = *tls_;
    if (t.ssl) {
        ERR_clear_error();
        SSL_shutdown(t.ssl.get());  // writes close_notify; the socket never blocks
        ERR_clear_error();
        return;
    }
    if (!t.keys || t.keys->kernel()) return;
    char rec[32];
    size_t n = t.keys->seal_close_notify(rec);
    if (n == 0) return;
    // Behind the end of a record half-written, or it would not be a record.
    std::string out = t.pending.substr(t.pending_off);
    out.append(rec, n);
    (void)::send(sock_.native_handle(), out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void Stream::close_later() {
    if (closing_ || closed_) return;
    closing_ = true;
    auto ex = !h2_mode_  ? sock_.get_executor()
              : h2_.link ? h2_.link->h2_executor()
                         : asio::any_io_executor();
    if (!ex) return;  // an HTTP/2 stream whose connection is gone: h2_gone closes it
    asio::post(ex, [self = shared_from_this()] { self->close(); });
}

void Stream::close() {
    if (closed_) return;
    closed_ = true;
    if (h2_mode_) {
        std::vector<Pending>().swap(queue_);
        head_ = 0;
        queued_bytes_ = 0;
        if (auto link = std::move(h2_.link)) link->h2_closed(h2_.id);
        on_closed();
        return;
    }
    say_goodbye();
    boost::system::error_code ec;
    sock_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    sock_.close(ec);
    tls_.reset();
    std::vector<Pending>().swap(queue_);
    head_ = 0;
    queued_bytes_ = 0;
    on_closed();
}

}  // namespace ssechat::sse
