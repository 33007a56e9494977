// With TLS, an optional clear-text port that only sends clients to HTTPS (308), so a link or
// a typed address with http:// still works.
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <memory>

namespace ssechat::http {

class Redirector : public std::enable_shared_from_this<Redirector> {
  public:
    // Binds `ep` (throws PortInUse like Listener); answers send to https on `https_port`.
    Redirector(boost::asio::io_context& ioc, const boost::asio::ip::tcp::endpoint& ep,
               uint16_t https_port);
    void start() { accept(); }
    void stop();
    uint16_t port() const { return acceptor_.local_endpoint().port(); }

  private:
    void accept();
    boost::asio::ip::tcp::acceptor acceptor_;
    uint16_t https_port_;
};

}  // namespace ssechat::http
