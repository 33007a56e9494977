// Listener: accept loop; accept errors such as EMFILE back off instead of spinning.
#include "http/listener.hpp"

#include <boost/asio/steady_timer.hpp>

#include "http/session.hpp"
#include "util/log.hpp"

namespace ssechat::http {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

Listener::Listener(asio::io_context& ioc, const tcp::endpoint& ep, Api& api)
    : acceptor_(ioc), api_(api) {
    acceptor_.open(ep.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    int one = 1;
    ::setsockopt(acceptor_.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    acceptor_.bind(ep);
    acceptor_.listen(4096);
}

void Listener::stop() {
    boost::system::error_code ec;
    acceptor_.close(ec);
}

void Listener::do_accept() {
    acceptor_.async_accept([self = shared_from_this()](boost::system::error_code ec,
                                                       tcp::socket sock) {
        if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
        if (ec) {
            log::warn("accept failed: " + ec.message());
            auto t = std::make_shared<asio::steady_timer>(self->acceptor_.get_executor(),
                                                          std::chrono::milliseconds(50));
            t->async_wait([self, t](boost::system::error_code) { self->do_accept(); });
            return;
        }
        std::make_shared<Session>(std::move(sock), self->api_)->run();
        self->do_accept();
    });
}

}  // namespace ssechat::http
