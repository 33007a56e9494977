// Accepts connections for one event loop; every loop accepts on the same listening socket.
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <stdexcept>
#include <string>

namespace ssechat::http {

class Api;
class Tls;

struct PortInUse : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class Listener : public std::enable_shared_from_this<Listener> {
  public:
    // Binds and listens. Throws PortInUse when another process holds the port, and
    // boost::system::system_error for any other failure.
    // With `tls`, every connection is TLS (its handshake first), using tls->context() as it
    // is when the connection is accepted.
    Listener(boost::asio::io_context& ioc, const boost::asio::ip::tcp::endpoint& ep, Api& api,
             Tls* tls = nullptr);
    // Accepts on the same socket as `first`, from another loop. No SO_REUSEPORT: with it,
    // any process of the same user could bind the port too and silently take a share of the
    // connections (and of the messages, stored in its own database). Whichever loop is idle
    // wins each accept, which spreads connections by load.
    Listener(boost::asio::io_context& ioc, const Listener& first, Api& api, Tls* tls = nullptr);
    void start() { do_accept(); }
    void stop();
    uint16_t port() const { return acceptor_.local_endpoint().port(); }

  private:
    void do_accept();
    void admit(boost::asio::ip::tcp::socket sock);
    static std::string canned(int status, const std::string& why);
    boost::asio::ip::tcp::acceptor acceptor_;
    Api& api_;
    Tls* tls_;
};

}  // namespace ssechat::http
