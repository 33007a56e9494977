// Redirector: one request per connection, read with Beast under a small limit and a deadline,
// answered 308 to the same host and path over https, then closed.
#include "http/redirect.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "http/listener.hpp"

namespace ssechat::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace {

struct Hop : std::enable_shared_from_this<Hop> {
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    bhttp::request_parser<bhttp::empty_body> parser;
    bhttp::response<bhttp::string_body> res;
    uint16_t https_port;

    Hop(tcp::socket s, uint16_t port) : stream(std::move(s)), https_port(port) {
        parser.header_limit(8192);
    }

    void run() {
        stream.expires_after(std::chrono::seconds(10));
        bhttp::async_read_header(stream, buffer, parser,
                                 [self = shared_from_this()](beast::error_code ec, size_t) {
                                     if (!ec) self->answer();
                                 });
    }

    void answer() {
        const auto& req = parser.get();
        auto host = req.find(bhttp::field::host);
        res.version(11);
        res.keep_alive(false);
        res.set(bhttp::field::content_type, "application/json; charset=utf-8");
        std::string_view h;
        if (host != req.end()) h = host->value();
        // The host without its port (an IPv6 literal keeps its brackets).
        size_t colon = h.rfind(':');
        if (colon != std::string_view::npos && h.find(']', colon) == std::string_view::npos)
            h = h.substr(0, colon);
        bool ok = req.count(bhttp::field::host) == 1 && !h.empty() &&
                  h.find_first_of(" /\\?#@") == std::string_view::npos;
        if (!ok) {
            res.result(bhttp::status::bad_request);
            res.body() = R"({"status":400,"error":"a Host header is needed to redirect to https"})";
        } else {
            std::string to = "https://" + std::string(h);
            if (https_port != 443) to += ":" + std::to_string(https_port);
            std::string_view target = req.target();
            to += target.empty() || target.front() != '/' ? "/" : std::string(target);
            res.result(bhttp::status::permanent_redirect);
            res.set(bhttp::field::location, to);
            res.body() = R"({"status":308,"error":"this server speaks https"})";
        }
        res.prepare_payload();
        bhttp::async_write(stream, res, [self = shared_from_this()](beast::error_code, size_t) {
            beast::error_code ignored;
            self->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        });
    }
};

}  // namespace

Redirector::Redirector(asio::io_context& ioc, const tcp::endpoint& ep, uint16_t https_port)
    : acceptor_(ioc), https_port_(https_port) {
    acceptor_.open(ep.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    boost::system::error_code ec;
    acceptor_.bind(ep, ec);
    if (ec == asio::error::address_in_use)
        throw PortInUse("port " + std::to_string(ep.port()) + " is in use");
    if (ec) throw boost::system::system_error(ec, "bind");
    acceptor_.listen(1024);
}

void Redirector::stop() {
    boost::system::error_code ec;
    acceptor_.close(ec);
}

void Redirector::accept() {
    acceptor_.async_accept(
        [self = shared_from_this()](boost::system::error_code ec, tcp::socket s) {
            if (!self->acceptor_.is_open()) return;
            if (!ec) std::make_shared<Hop>(std::move(s), self->https_port_)->run();
            self->accept();
        });
}

}  // namespace ssechat::http
