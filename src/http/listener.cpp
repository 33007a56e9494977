// Listener: accept loop; accept errors such as EMFILE back off instead of spinning.
#include "http/listener.hpp"

#include <unistd.h>

#include <boost/asio/steady_timer.hpp>

#include "chat/metrics.hpp"
#include "http/api.hpp"
#include "http/http_metrics.hpp"
#include "http/session.hpp"
#include "http/tls.hpp"
#include "util/log.hpp"

namespace ssechat::http {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

Listener::Listener(asio::io_context& ioc, const tcp::endpoint& ep, Api& api, Tls* tls)
    : acceptor_(ioc), api_(api), tls_(tls) {
    acceptor_.open(ep.protocol());
    // SO_REUSEADDR only lets a restart bind past connections in TIME_WAIT; a port that a
    // live socket holds still fails.
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    boost::system::error_code ec;
    acceptor_.bind(ep, ec);
    if (ec == boost::asio::error::address_in_use)
        throw PortInUse("port " + std::to_string(ep.port()) + " is in use");
    if (ec) throw boost::system::system_error(ec, "bind");
    acceptor_.listen(4096);
}

Listener::Listener(asio::io_context& ioc, const Listener& first, Api& api, Tls* tls)
    : acceptor_(ioc), api_(api), tls_(tls) {
    int fd = ::dup(const_cast<tcp::acceptor&>(first.acceptor_).native_handle());
    if (fd < 0) throw boost::system::system_error(errno, boost::system::system_category(), "dup");
    acceptor_.assign(first.acceptor_.local_endpoint().protocol(), fd);
}

void Listener::stop() {
    boost::system::error_code ec;
    acceptor_.close(ec);
}

void Listener::admit(tcp::socket sock) {
    boost::system::error_code ec;
    auto peer = sock.remote_endpoint(ec);
    if (ec) return;  // already gone
    std::shared_ptr<void> ticket;
    auto verdict = api_.connections().admit(peer.address().to_string(), ticket);
    if (verdict == limits::Counter::Admit::Ok) {
        if (tls_)
            std::make_shared<TlsSession>(std::move(sock), api_, std::move(ticket), tls_->context())
                ->run();
        else
            std::make_shared<PlainSession>(std::move(sock), api_, std::move(ticket))->run();
        return;
    }
    // Refused before any parsing: one best-effort non-blocking write, then close.
    bool total = verdict == limits::Counter::Admit::Total;
    (total ? http_metrics().refused_total : http_metrics().refused_per_ip)
        .fetch_add(1, std::memory_order_relaxed);
    static const std::string busy = canned(503, "server is at its connection limit");
    static const std::string many = canned(429, "too many connections from your address");
    const std::string& msg = total ? busy : many;
    ::send(sock.native_handle(), msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    sock.close(ec);
}

std::string Listener::canned(int status, const std::string& why) {
    std::string body = "{\"status\":" + std::to_string(status) + ",\"error\":\"" + why + "\"}";
    return "HTTP/1.1 " + std::to_string(status) +
           (status == 503 ? " Service Unavailable" : " Too Many Requests") +
           "\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

void Listener::do_accept() {
    acceptor_.async_accept(
        [self = shared_from_this()](boost::system::error_code ec, tcp::socket sock) {
            if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
            if (ec) {
                log::warn("accept failed: " + ec.message());
                auto t = std::make_shared<asio::steady_timer>(self->acceptor_.get_executor(),
                                                              std::chrono::milliseconds(50));
                t->async_wait([self, t](boost::system::error_code) { self->do_accept(); });
                return;
            }
            self->admit(std::move(sock));
            self->do_accept();
        });
}

}  // namespace ssechat::http
