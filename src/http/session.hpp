// One HTTP/1.1 connection: reads requests with limits and timeouts, writes responses, and
// hands the socket over when a request turns into an event stream.
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <memory>
#include <optional>

#include "sse/stream.hpp"

namespace ssechat::http {

namespace beast = boost::beast;
using Request = beast::http::request<beast::http::string_body>;
using Response = beast::http::response<beast::http::string_body>;

class Api;

// One HTTP/1.1 connection as the API sees it, over plain TCP or TLS.
class Session : public std::enable_shared_from_this<Session> {
  public:
    virtual ~Session() = default;
    virtual void run() = 0;

    // Sends a response to the current request; continues with the next one on keep-alive,
    // or closes lingering (see linger()). Must run on this session's executor. `framed`: the
    // caller set the length fields itself (a response to HEAD keeps the GET's length).
    virtual void respond(Response res, bool framed = false) = 0;

    // Bytes of a further request already read behind the current one.
    virtual bool pipelined() const = 0;

    // Gives up the connection to an event stream; the session ends.
    virtual sse::Conn release() = 0;

    virtual boost::asio::any_io_executor executor() = 0;
    const boost::asio::ip::address& peer() const { return peer_; }
    const std::shared_ptr<void>& ticket() const { return ticket_; }

  protected:
    explicit Session(std::shared_ptr<void> ticket) : ticket_(std::move(ticket)) {}
    std::shared_ptr<void> ticket_;  // connection-limit slot; a stream keeps a copy
    boost::asio::ip::address peer_;
};

// `S` is beast::tcp_stream, or sse::TlsSocket (TLS over it, handshake first).
template <class S>
class BasicSession final : public Session {
  public:
    // `ticket` holds the connection's slot in the connection limits; `tls` the context for
    // a TLS connection (null for plain TCP).
    BasicSession(boost::asio::ip::tcp::socket sock, Api& api, std::shared_ptr<void> ticket,
                 std::shared_ptr<boost::asio::ssl::context> tls = nullptr);
    ~BasicSession() override;
    void run() override;
    void respond(Response res, bool framed = false) override;
    bool pipelined() const override { return buffer_.size() > 0; }
    sse::Conn release() override;
    boost::asio::any_io_executor executor() override { return stream_.get_executor(); }

  private:
    std::shared_ptr<BasicSession> self() {
        return std::static_pointer_cast<BasicSession>(shared_from_this());
    }
    beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }
    void do_read();
    void sniff();
    void read_request();
    void on_header(beast::error_code ec, size_t n);
    void read_body();
    void on_read(beast::error_code ec, size_t n);
    void on_write(beast::error_code ec, bool keep_alive);
    void refuse(beast::http::status status, const std::string& why);
    // After a response that closes the connection: send FIN, then read and drop what the
    // client still sends, as nginx's lingering close does: bounded by time (kLingerTime in
    // all, kLingerQuiet without a byte), not by bytes, since a client that sends its whole
    // body before it reads (many do) sees a reset instead of the answer if we stop first. At
    // most kMaxLingering connections linger at once; past that one closes at once.
    void linger();
    void linger_read();

    std::shared_ptr<boost::asio::ssl::context> ctx_;  // TLS: kept while the connection lives
    S stream_;
    beast::flat_buffer buffer_;  // bounded: see read_request()
    std::optional<beast::http::request_parser<beast::http::string_body>> parser_;
    std::shared_ptr<Response> res_;                     // alive while it is written
    std::chrono::steady_clock::time_point linger_end_;  // when lingering stops whatever comes
    std::shared_ptr<void> lingering_;                   // a slot of kMaxLingering, while held
    size_t chunk_ext_ = 0;                              // chunk extension bytes of this request
    bool tls_closed_ = false;                           // close_notify written (TLS)
    // Counts them; the parser keeps a reference to it, so it lives as long as the session.
    std::function<void(uint64_t, std::string_view, beast::error_code&)> on_chunk_;
    Api& api_;
    bool first_ = true;             // the first request gets the request timeout, later ones idle
    std::shared_ptr<void> owed_;    // shutdown gate: a request read and not yet answered
    std::shared_ptr<void> upload_;  // a slot of the uploads in flight, until answered
};

using PlainSession = BasicSession<beast::tcp_stream>;
using TlsSession = BasicSession<sse::TlsSocket>;

}  // namespace ssechat::http
