// Accepts connections for one event loop; every loop has its own acceptor on the same port.
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

namespace ssechat::http {

class Api;

class Listener : public std::enable_shared_from_this<Listener> {
  public:
    // Binds with SO_REUSEPORT, so the kernel spreads connections over the loops and no loop
    // hands sockets to another. Throws boost::system::system_error when it cannot bind.
    Listener(boost::asio::io_context& ioc, const boost::asio::ip::tcp::endpoint& ep, Api& api);
    void start() { do_accept(); }
    void stop();
    uint16_t port() const { return acceptor_.local_endpoint().port(); }

  private:
    void do_accept();
    void admit(boost::asio::ip::tcp::socket sock);
    static std::string canned(int status, const std::string& why);
    boost::asio::ip::tcp::acceptor acceptor_;
    Api& api_;
};

}  // namespace ssechat::http
