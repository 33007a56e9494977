// Session: Beast reads and writes; every read has a deadline and every body a size limit.
#include "http/session.hpp"

#include <openssl/ssl.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/ssl/error.hpp>
#include <cstring>
#include <type_traits>

#include "chat/metrics.hpp"
#include "http/api.hpp"
#include "http/h2.hpp"
#include "http/http_metrics.hpp"

namespace ssechat::http {

namespace http = beast::http;

namespace {
// Chunk extensions carry nothing this server uses; a request may send this many bytes of
// them in all (nginx keeps none).
constexpr size_t kMaxChunkExtensions = 4096;
// Beast's limits cover a request's head and body, not a chunk's size line or the trailers:
// each must be whole in the read buffer before it is parsed. So the buffer is bounded: the
// head's limit plus room for one read ahead. A longer chunk line or trailer section is 400.
constexpr size_t kReadAhead = 16384;
constexpr auto kLingerTime = std::chrono::seconds(30);  // nginx's lingering_time
constexpr auto kLingerQuiet = std::chrono::seconds(5);  // nginx's lingering_timeout
constexpr int kMaxLingering = 1024;
std::atomic<int> lingering{0};
}  // namespace

template <class S>
BasicSession<S>::BasicSession(boost::asio::ip::tcp::socket sock, Api& api,
                              std::shared_ptr<void> ticket,
                              std::shared_ptr<boost::asio::ssl::context> tls)
    : Session(std::move(ticket)),
      ctx_(std::move(tls)),
      stream_([&]() -> S {
          if constexpr (std::is_same_v<S, beast::tcp_stream>)
              return beast::tcp_stream(std::move(sock));
          else
              return S(beast::tcp_stream(std::move(sock)), *ctx_);
      }()),
      api_(api) {
    http_metrics().connections_total.fetch_add(1, std::memory_order_relaxed);
    buffer_.max_size(api_.config().max_header + kReadAhead);
    on_chunk_ = [this](uint64_t, std::string_view ext, beast::error_code& e) {
        chunk_ext_ += ext.size();
        if (chunk_ext_ > kMaxChunkExtensions) e = http::error::bad_chunk_extension;
    };
    boost::system::error_code ec;
    peer_ = lowest().socket().remote_endpoint(ec).address();
}

template <class S>
BasicSession<S>::~BasicSession() = default;

template <class S>
void BasicSession<S>::run() {
    if constexpr (std::is_same_v<S, beast::tcp_stream>) {
        sniff();
    } else {
        // The handshake gets the request timeout, like a request's head.
        lowest().expires_after(std::chrono::seconds(api_.config().request_timeout_s));
        stream_.async_handshake(boost::asio::ssl::stream_base::server, [self = self()](
                                                                           beast::error_code ec) {
            http_metrics().tls_handshake(ec);
            if (ec) return;  // a scanner, a plain-HTTP client, a timeout
            const unsigned char* p = nullptr;
            unsigned len = 0;
            SSL_get0_alpn_selected(self->stream_.native_handle(), &p, &len);
            if (len == 2 && std::memcmp(p, "h2", 2) == 0) {
                self->lowest().expires_never();
                return serve_h2(std::move(self->stream_), self->ctx_, self->api_, self->ticket_);
            }
            self->do_read();
        });
    }
}

template <class S>
void BasicSession<S>::sniff() {
    // In clear, HTTP/2 comes with prior knowledge (h2c, from a proxy): its preface is not an
    // HTTP/1.1 request line, so the first bytes tell the two apart.
    lowest().expires_after(std::chrono::seconds(api_.config().request_timeout_s));
    stream_.async_read_some(buffer_.prepare(4096), [self = self()](beast::error_code ec, size_t n) {
        self->buffer_.commit(n);
        if (ec) return;  // closed before a request: nothing to answer
        std::string_view got(static_cast<const char*>(self->buffer_.data().data()),
                             self->buffer_.size());
        if (got.size() < kH2Preface.size() && kH2Preface.starts_with(got)) return self->sniff();
        if (got.starts_with(kH2Preface)) {
            if constexpr (std::is_same_v<S, beast::tcp_stream>)
                serve_h2(std::move(self->stream_), std::string(got), self->api_, self->ticket_);
            return;
        }
        self->read_request();
    });
}

template <class S>
void BasicSession<S>::do_read() {
    const auto& cfg = api_.config();
    if (first_ || buffer_.size() > 0) return read_request();
    // A kept-alive connection may wait --idle-timeout for its next request to begin; from its
    // first byte on, the request gets --request-timeout like any other (no slowloris there).
    lowest().expires_after(std::chrono::seconds(cfg.idle_timeout_s));
    stream_.async_read_some(buffer_.prepare(4096), [self = self()](beast::error_code ec, size_t n) {
        self->buffer_.commit(n);
        if (ec) return;  // closed, reset or idle too long: an ordinary end, nothing to answer
        self->read_request();
    });
}

template <class S>
void BasicSession<S>::read_request() {
    const auto& cfg = api_.config();
    parser_.emplace();
    // The larger of the two limits until the head says which applies (on_header).
    parser_->body_limit(std::max(cfg.max_body, cfg.max_upload));
    parser_->header_limit(static_cast<uint32_t>(cfg.max_header));
    chunk_ext_ = 0;
    parser_->on_chunk_header(on_chunk_);
    lowest().expires_after(std::chrono::seconds(cfg.request_timeout_s));
    // The head first: framing and Expect are settled before a body byte is read.
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&BasicSession::on_header, self()));
}

namespace {

std::string lower(std::string_view v) {
    std::string out(v);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// Why the request's framing is refused (RFC 9112 sections 3.2 and 6.1), or empty. Beast
// treats a Transfer-Encoding whose last coding is not chunked as no body at all, and the
// bytes that follow would be read as another request: request smuggling behind a proxy
// that framed it differently. `status` is 400, or 501 for a coding this server lacks.
std::string bad_framing(const Request& req, http::status& status) {
    status = http::status::bad_request;
    auto hosts = req.count(http::field::host);
    if (hosts > 1) return "more than one Host header";
    if (hosts == 0 && req.version() >= 11) return "an HTTP/1.1 request needs a Host header";
    std::vector<std::string> codings;
    auto [te, te_end] = req.equal_range(http::field::transfer_encoding);
    for (auto f = te; f != te_end; ++f) {
        std::string_view v = f->value();
        for (size_t p = 0; p <= v.size();) {
            size_t comma = v.find(',', p);
            std::string_view c = v.substr(p, comma == v.npos ? v.npos : comma - p);
            while (!c.empty() && (c.front() == ' ' || c.front() == '\t')) c.remove_prefix(1);
            while (!c.empty() && (c.back() == ' ' || c.back() == '\t')) c.remove_suffix(1);
            if (!c.empty()) codings.push_back(lower(c.substr(0, c.find(';'))));
            if (comma == v.npos) break;
            p = comma + 1;
        }
    }
    if (codings.empty()) {
        if (req.count(http::field::transfer_encoding)) return "empty Transfer-Encoding";
        return {};
    }
    if (req.version() < 11) return "Transfer-Encoding in an HTTP/1.0 request";
    if (codings.back() != "chunked") return "the final transfer coding must be chunked";
    for (size_t i = 0; i + 1 < codings.size(); ++i) {
        if (codings[i] == "chunked") return "chunked may be applied only once";
        status = http::status::not_implemented;
        return "transfer coding " + codings[i] + " is not supported";
    }
    return {};
}

}  // namespace

template <class S>
void BasicSession<S>::on_header(beast::error_code ec, size_t n) {
    if (ec) return on_read(ec, n);
    const auto& req = parser_->get();
    http::status st;
    if (auto why = bad_framing(req, st); !why.empty()) return refuse(st, why);
    {
        const auto& cfg = api_.config();
        bool upload = http_util::upload_target(req.method_string(), req.target());
        size_t limit = upload ? cfg.max_upload : cfg.max_body;
        if (auto len = parser_->content_length(); len && *len > limit)
            return refuse(http::status::payload_too_large,
                          upload ? "the file is larger than " + std::to_string(limit) + " bytes"
                                 : "request body is too large");
        parser_->body_limit(limit);
        if (upload) {
            // Bodies of up to --max-upload each are held in memory until stored: a bounded
            // number at once, refused before a byte of one is read (held until answered).
            upload_ = api_.admit_upload(peer_.to_string());
            if (!upload_)
                return refuse(http::status::service_unavailable,
                              "too many uploads at once: retry in a moment");
            // A large file takes longer to arrive than a message: five minutes for its body.
            lowest().expires_after(std::chrono::seconds(std::max(cfg.request_timeout_s, 300u)));
        }
    }
    if (auto e = req.find(http::field::expect); e != req.end()) {
        if (lower(e->value()) != "100-continue")
            return refuse(http::status::expectation_failed, "only Expect: 100-continue is known");
        if (!parser_->is_done() && req.version() >= 11) {
            // The body is wanted: say so now instead of letting the client wait for its own
            // timeout (curl waits a second) before it sends it.
            static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
            boost::asio::async_write(stream_, boost::asio::buffer(kContinue),
                                     [self = self()](beast::error_code ec, size_t) {
                                         if (ec) return;  // the client left
                                         self->read_body();
                                     });
            return;
        }
    }
    if (parser_->is_done()) return on_read({}, 0);
    read_body();
}

template <class S>
void BasicSession<S>::read_body() {
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&BasicSession::on_read, self()));
}

template <class S>
void BasicSession<S>::refuse(http::status status, const std::string& why) {
    http_metrics().bad_requests.fetch_add(1, std::memory_order_relaxed);
    Response res = api_.error(status, why);
    res.keep_alive(false);
    std::string_view method = parser_ && parser_->is_header_done()
                                  ? std::string_view(parser_->get().method_string())
                                  : std::string_view("-");
    api_.record(method, kRouteUnparsed, res.result_int(), res.body(),
                std::chrono::steady_clock::now(), "-");
    respond(std::move(res));
}

template <class S>
void BasicSession<S>::on_read(beast::error_code ec, size_t) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == boost::asio::ssl::error::stream_truncated ||
        ec == boost::asio::error::connection_reset || ec == boost::asio::error::operation_aborted) {
        // Ordinary ends of a connection; nothing to say and nothing to log.
        beast::error_code ignored;
        lowest().socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
        return;
    }
    if (ec == http::error::body_limit)
        return refuse(http::status::payload_too_large, "request body is too large");
    if (ec == http::error::header_limit)
        return refuse(http::status::request_header_fields_too_large,
                      "request headers are too large");
    if (ec == http::error::bad_chunk_extension && chunk_ext_ > kMaxChunkExtensions)
        return refuse(http::status::bad_request, "chunk extensions are too long (at most " +
                                                     std::to_string(kMaxChunkExtensions) +
                                                     " bytes in a request)");
    if (ec == http::error::buffer_overflow)
        return refuse(http::status::bad_request,
                      "a chunk size line or the trailers are too long (at most " +
                          std::to_string(buffer_.max_size()) + " bytes)");
    if (ec) {
        if (!parser_->is_header_done() && buffer_.size() == 0 && !parser_->got_some()) return;
        return refuse(http::status::bad_request, "malformed HTTP request: " + ec.message());
    }
    first_ = false;
    lowest().expires_never();
    owed_ = api_.answers().enter();
    api_.handle(parser_->release(), shared_from_this());
}

template <class S>
void BasicSession<S>::respond(Response res, bool framed) {
    res_ = std::make_shared<Response>(std::move(res));
    if (!framed) res_->prepare_payload();
    bool keep_alive = res_->keep_alive();
    lowest().expires_after(std::chrono::seconds(api_.config().request_timeout_s));
    http::async_write(stream_, *res_, [self = self(), keep_alive](beast::error_code ec, size_t) {
        self->on_write(ec, keep_alive);
    });
}

template <class S>
void BasicSession<S>::on_write(beast::error_code ec, bool keep_alive) {
    res_.reset();
    owed_.reset();
    upload_.reset();
    if (ec) return;
    if (!keep_alive) return linger();
    do_read();
}

template <class S>
void BasicSession<S>::linger() {
    if constexpr (!std::is_same_v<S, beast::tcp_stream>) {
        if (!tls_closed_) {
            // TLS ends with close_notify (RFC 8446 6.1), so the client can tell the end of
            // the answer from a cut connection. Asio's shutdown writes it, then waits for the
            // client's; that wait is bounded, and whatever the client does (answers, keeps
            // uploading, says nothing) the lingering close below follows.
            tls_closed_ = true;
            // Not held back by Nagle behind the answer's last segment (a delayed ACK away).
            beast::error_code ec;
            lowest().socket().set_option(boost::asio::ip::tcp::no_delay(true), ec);
            lowest().expires_after(std::chrono::seconds(1));
            return stream_.async_shutdown([self = self()](beast::error_code) { self->linger(); });
        }
    }
    beast::error_code ignored;
    lowest().socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
    buffer_.clear();
    if (lingering.fetch_add(1, std::memory_order_relaxed) >= kMaxLingering) {
        lingering.fetch_sub(1, std::memory_order_relaxed);
        lowest().socket().close(ignored);  // too many already: this one may see a reset
        return;
    }
    lingering_ = std::shared_ptr<void>(
        nullptr, [](void*) { lingering.fetch_sub(1, std::memory_order_relaxed); });
    linger_end_ = std::chrono::steady_clock::now() + kLingerTime;
    linger_read();
}

template <class S>
void BasicSession<S>::linger_read() {
    auto now = std::chrono::steady_clock::now();
    if (now >= linger_end_) {
        beast::error_code ignored;
        lowest().socket().close(ignored);
        lingering_.reset();
        return;
    }
    lowest().expires_after(
        std::min<std::chrono::steady_clock::duration>(kLingerQuiet, linger_end_ - now));
    // The raw socket: after close_notify nothing more is decrypted, only dropped.
    lowest().async_read_some(buffer_.prepare(kReadAhead),
                             [self = self()](beast::error_code ec, size_t) {
                                 self->buffer_.clear();
                                 if (ec) {
                                     // EOF, or quiet too long: now a close costs nothing.
                                     beast::error_code ignored;
                                     self->lowest().socket().close(ignored);
                                     self->lingering_.reset();
                                     return;
                                 }
                                 self->linger_read();
                             });
}

template <class S>
sse::Conn BasicSession<S>::release() {
    owed_.reset();  // a stream is not an answer that shutdown waits for
    lowest().expires_never();
    if constexpr (std::is_same_v<S, beast::tcp_stream>) {
        return sse::Conn(stream_.release_socket());
    } else {
        auto ex = stream_.get_executor();
        SSL* ssl = stream_.native_handle();
        // Asio's TLS stream keeps two 17 KB buffers, and its BIO pair two more, for as long as
        // it lives: about 70 KB for every idle event stream. So OpenSSL takes the socket over
        // itself and Asio's TLS layer goes; OpenSSL releases its record buffers while idle
        // (RELEASE_BUFFERS). Its socket BIO writes with write(), so a peer that left gives
        // EPIPE only because main() ignores SIGPIPE. That needs nothing buffered inside Asio's
        // layer: an event stream's client sends nothing after its request, and bytes that
        // did come behind it are a request pipelined behind an endless response, which can
        // never be answered; as in clear, the stream then ends.
        BIO* pair = SSL_get_rbio(ssl);
        bool clean = buffer_.size() == 0 && SSL_pending(ssl) == 0 && pair &&
                     BIO_ctrl_pending(pair) == 0 && BIO_ctrl_wpending(pair) == 0;
        if (clean) {
            boost::system::error_code ec;
            auto& raw = lowest().socket();
            auto protocol = raw.local_endpoint(ec).protocol();
            int fd = ec ? -1 : raw.release(ec);
            BIO* bio = fd < 0 || ec ? nullptr : BIO_new_socket(fd, BIO_NOCLOSE);
            if (bio) {
                SSL_up_ref(ssl);  // Asio's stream frees its reference when it goes
                SSL_set_bio(ssl, bio, bio);
                boost::asio::ip::tcp::socket sock(ex);
                sock.assign(protocol, fd, ec);
                if (!ec) {
                    // TLS 1.3: the stream seals its records itself, and OpenSSL's connection
                    // object (about 10 KB) goes now. Else OpenSSL keeps writing.
                    auto keys =
                        api_.config().tls_seal ? sse::Tls13Keys::take_over(ssl) : std::nullopt;
                    if (keys) {
                        SSL_free(ssl);  // ours; Asio's reference goes with this session
                        if (keys->kernel()) {
                            // The kernel encrypts: the stream writes plaintext, as in clear.
                            http_metrics().tls_streams_kernel.fetch_add(1,
                                                                        std::memory_order_relaxed);
                            sse::Conn plain(std::move(sock));
                            plain.kernel_tls = true;
                            return plain;
                        }
                        http_metrics().tls_streams_sealed.fetch_add(1, std::memory_order_relaxed);
                        return {std::move(sock),
                                std::make_unique<sse::Tls13Keys>(std::move(*keys))};
                    }
                    http_metrics().tls_streams_openssl.fetch_add(1, std::memory_order_relaxed);
                    return {std::move(sock), sse::SslPtr(ssl), ctx_};
                }
                SSL_free(ssl);
            }
            if (fd >= 0) ::close(fd);
        }
        return sse::Conn(boost::asio::ip::tcp::socket(ex));  // unopened: the stream ends at once
    }
}

template class BasicSession<beast::tcp_stream>;
template class BasicSession<sse::TlsSocket>;

}  // namespace ssechat::http
