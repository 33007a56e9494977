// Session: Beast reads and writes; every read has a deadline and every body a size limit.
#include "http/session.hpp"

#include "chat/metrics.hpp"
#include "http/api.hpp"

namespace ssechat::http {

namespace http = beast::http;

Session::Session(boost::asio::ip::tcp::socket sock, Api& api, std::shared_ptr<void> ticket)
    : stream_(std::move(sock)), api_(api), ticket_(std::move(ticket)) {
    metrics().connections_total.fetch_add(1, std::memory_order_relaxed);
}

Session::~Session() = default;

void Session::run() {
    do_read();
}

void Session::do_read() {
    const auto& cfg = api_.config();
    if (first_ || buffer_.size() > 0) return read_request();
    // A kept-alive connection may wait --idle-timeout for its next request to begin; from its
    // first byte on, the request gets --request-timeout like any other (no slowloris there).
    stream_.expires_after(std::chrono::seconds(cfg.idle_timeout_s));
    stream_.async_read_some(
        buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, size_t n) {
            self->buffer_.commit(n);
            if (ec) return;  // closed, reset or idle too long: an ordinary end, nothing to answer
            self->read_request();
        });
}

void Session::read_request() {
    const auto& cfg = api_.config();
    parser_.emplace();
    parser_->body_limit(cfg.max_body);
    parser_->header_limit(static_cast<uint32_t>(cfg.max_header));
    stream_.expires_after(std::chrono::seconds(cfg.request_timeout_s));
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::on_read, shared_from_this()));
}

void Session::refuse(http::status status, const std::string& why) {
    metrics().bad_requests.fetch_add(1, std::memory_order_relaxed);
    Response res = api_.error(status, why);
    res.keep_alive(false);
    respond(std::move(res));
}

void Session::on_read(beast::error_code ec, size_t) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == boost::asio::error::connection_reset || ec == boost::asio::error::operation_aborted) {
        // Ordinary ends of a connection; nothing to say and nothing to log.
        beast::error_code ignored;
        stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
        return;
    }
    if (ec == http::error::body_limit)
        return refuse(http::status::payload_too_large, "request body is too large");
    if (ec == http::error::header_limit)
        return refuse(http::status::request_header_fields_too_large,
                      "request headers are too large");
    if (ec) {
        if (!parser_->is_header_done() && buffer_.size() == 0 && !parser_->got_some()) return;
        return refuse(http::status::bad_request, "malformed HTTP request: " + ec.message());
    }
    first_ = false;
    stream_.expires_never();
    api_.handle(parser_->release(), shared_from_this());
}

void Session::respond(Response res) {
    res_ = std::make_shared<Response>(std::move(res));
    res_->prepare_payload();
    bool keep_alive = res_->keep_alive();
    stream_.expires_after(std::chrono::seconds(api_.config().request_timeout_s));
    http::async_write(stream_, *res_,
                      [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
                          self->on_write(ec, keep_alive);
                      });
}

void Session::on_write(beast::error_code ec, bool keep_alive) {
    res_.reset();
    if (ec) return;
    if (!keep_alive) {
        beast::error_code ignored;
        stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
        return;
    }
    do_read();
}

boost::asio::ip::tcp::socket Session::release() {
    stream_.expires_never();
    return stream_.release_socket();
}

}  // namespace ssechat::http
