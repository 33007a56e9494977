// TLS: the server's certificate chain and key, the protocol and cipher policy, and reloading
// them (SIGHUP) without touching the connections already open.
#pragma once
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

namespace ssechat::http {

// A certificate or key that cannot be used; the message names the file.
struct TlsError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class Tls {
  public:
    // Loads both files. Throws TlsError naming the file that is missing, unreadable, not
    // PEM, or a key that does not match the certificate.
    Tls(std::string cert, std::string key);

    // The context a new connection takes; a connection keeps its copy alive, so a reload
    // never changes a connection under way.
    std::shared_ptr<boost::asio::ssl::context> context() const;

    // Reads the files again. On success new connections get the new certificate (and fresh
    // session ticket keys); on failure the old context stays and the reason is returned.
    std::optional<std::string> reload();

    const std::string& cert_file() const { return cert_; }

  private:
    static std::shared_ptr<boost::asio::ssl::context> make(const std::string& cert,
                                                           const std::string& key);
    std::string cert_, key_;
    mutable std::mutex mu_;
    std::shared_ptr<boost::asio::ssl::context> ctx_;
};

}  // namespace ssechat::http
