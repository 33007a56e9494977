// Requests the server makes to others' URLs on its own (webhooks; Web Push next): async on an
// io_context of the caller's, so a slow or dead receiver holds no thread, and guarded against
// server-side request forgery: https only and public addresses only, checked against every
// address a name resolves to at every connection (not when the URL was saved, so a name that
// rebinds to 127.0.0.1 later is refused then), unless --allow-private-targets. Certificates
// are verified against the system's CAs and --outbound-ca, for the host name or, for an IP
// literal, the address.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace ssechat::http {

struct OutboundPolicy {
    bool allow_private = false;  // --allow-private-targets: any address, and http:// too
    std::string ca_file;         // --outbound-ca: a PEM file of CAs trusted besides the system's
};

struct OutboundResult {
    int status = 0;               // the receiver's status; 0 when none came (error says why)
    std::string error;            // "" for an answer of any status
    int64_t retry_after_ms = -1;  // the answer's Retry-After, when it had one
};

// Loopback, private, link-local, shared, multicast, unspecified or reserved: not a target.
bool forbidden_address(const boost::asio::ip::address& a);
// Why a URL cannot be a target ("" when it can): its scheme, its form, or a literal address
// that is not public. Names are checked when connecting.
std::string target_problem(const std::string& url, bool allow_private);

// The URL's name resolved now, blocking (run it off the loops): why not, when any address
// is not public, so that saving a target for http://localhost fails at once (delivery checks
// again at every connection); "" when it may be used.
std::string resolves_public(const std::string& url);

class Outbound {
  public:
    // Throws std::runtime_error when --outbound-ca cannot be read.
    Outbound(boost::asio::io_context& ioc, OutboundPolicy policy);
    using Headers = std::vector<std::pair<std::string, std::string>>;
    using Done = std::function<void(OutboundResult)>;
    // POSTs `body` to `url`; `done` runs on the io_context's thread, once, within `timeout`.
    void post(std::string url, Headers headers, std::string body, std::chrono::milliseconds timeout,
              Done done);

  private:
    boost::asio::io_context& ioc_;
    OutboundPolicy policy_;
    boost::asio::ssl::context tls_;
};

}  // namespace ssechat::http
