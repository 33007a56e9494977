#include "http/outbound.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <ctime>
#include <memory>
#include <stdexcept>

#include "http/client.hpp"
#include "util/text.hpp"

namespace ssechat::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::ip::tcp;

bool forbidden_address(const asio::ip::address& a) {
    if (a.is_v6()) {
        auto v6 = a.to_v6();
        if (v6.is_v4_mapped())
            return forbidden_address(asio::ip::make_address_v4(asio::ip::v4_mapped, v6));
        auto b = v6.to_bytes();
        return v6.is_loopback() || v6.is_unspecified() || v6.is_link_local() ||
               v6.is_site_local() || v6.is_multicast() || (b[0] & 0xfe) == 0xfc;  // fc00::/7
    }
    auto b = a.to_v4().to_bytes();
    return b[0] == 0 || b[0] == 10 || b[0] == 127 ||   // this, private, loopback
           (b[0] == 100 && (b[1] & 0xc0) == 64) ||     // 100.64/10, shared
           (b[0] == 169 && b[1] == 254) ||             // link-local
           (b[0] == 172 && (b[1] & 0xf0) == 16) ||     // 172.16/12
           (b[0] == 192 && b[1] == 168) ||             // 192.168/16
           (b[0] == 192 && b[1] == 0 && b[2] == 0) ||  // 192.0.0/24, protocols
           (b[0] == 198 && (b[1] & 0xfe) == 18) ||     // 198.18/15, benchmarks
           b[0] >= 224;                                // multicast, reserved
}

std::string target_problem(const std::string& url, bool allow_private) {
    Url u;
    try {
        u = parse_url(url);
    } catch (const ClientError& e) {
        return std::string("url: ") + e.what();
    }
    if (!u.tls && !allow_private)
        return "url must be https:// (http:// only with --allow-private-targets)";
    if (url.size() > 2048) return "url is at most 2048 bytes";
    if (!text::valid_utf8(url) || url.find_first_of(" \r\n\t") != std::string::npos)
        return "url has spaces or control characters";
    boost::system::error_code ec;
    auto literal = asio::ip::make_address(u.host, ec);
    if (!ec && !allow_private && forbidden_address(literal))
        return "url points at a loopback, private, link-local or multicast address";
    return {};
}

namespace {

// Retry-After as delta-seconds or an HTTP-date (RFC 9110 10.2.3); -1 for neither.
int64_t retry_after_ms(std::string_view v) {
    if (auto n = text::parse_u64(v))
        return static_cast<int64_t>(std::min<uint64_t>(*n, 86400)) * 1000;
    std::tm tm{};
    std::string s(v);
    if (!strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm)) return -1;
    int64_t at = static_cast<int64_t>(timegm(&tm));
    int64_t now = static_cast<int64_t>(std::time(nullptr));
    return std::max<int64_t>(0, at - now) * 1000;
}

// One request, as a chain of handlers on the io_context (no coroutines: clang 14, which
// builds the fuzzers, cannot emit them with the sanitizers on). Holds itself alive through
// each step; `done` runs once.
class Call : public std::enable_shared_from_this<Call> {
  public:
    Call(asio::io_context& ioc, asio::ssl::context& tls, const OutboundPolicy& policy, Url u,
         Outbound::Headers headers, std::string body, std::chrono::milliseconds timeout,
         Outbound::Done done)
        : policy_(policy),
          u_(std::move(u)),
          resolver_(ioc),
          s_(ioc, tls),
          deadline_(std::chrono::steady_clock::now() + timeout),
          done_(std::move(done)) {
        req_ = {bhttp::verb::post, u_.target, 11};
        std::string host = u_.host.find(':') != std::string::npos ? "[" + u_.host + "]" : u_.host;
        if (u_.port != (u_.tls ? "443" : "80")) host += ":" + u_.port;
        req_.set(bhttp::field::host, host);
        req_.set(bhttp::field::user_agent, "ssechat");
        req_.set(bhttp::field::connection, "close");
        for (const auto& [k, v] : headers) req_.set(k, v);
        req_.body() = std::move(body);
        req_.prepare_payload();
        parser_.body_limit(64 * 1024);  // what a receiver says back is only logged
    }

    void start() {
        // The resolver has no deadline of its own: a timer cancels it.
        timer_ = std::make_unique<asio::steady_timer>(resolver_.get_executor());
        timer_->expires_at(deadline_);
        timer_->async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec) self->resolver_.cancel();
        });
        resolver_.async_resolve(u_.host, u_.port,
                                [self = shared_from_this()](boost::system::error_code ec,
                                                            tcp::resolver::results_type found) {
                                    self->timer_->cancel();
                                    self->resolved(ec, std::move(found));
                                });
    }

  private:
    beast::tcp_stream& lowest() { return beast::get_lowest_layer(s_); }

    void resolved(boost::system::error_code ec, tcp::resolver::results_type found) {
        if (ec) return fail(ec);
        // Every address the name has now, checked now: a name that resolved to a public
        // address when it was saved and to 127.0.0.1 today is refused today.
        std::vector<tcp::endpoint> allowed;
        for (const auto& e : found)
            if (policy_.allow_private || !forbidden_address(e.endpoint().address()))
                allowed.push_back(e.endpoint());
        if (allowed.empty()) {
            OutboundResult r;
            r.error = "refused: " + u_.host +
                      " resolves to a loopback, private, link-local or multicast address";
            return finish(std::move(r));
        }
        lowest().expires_at(deadline_);
        lowest().async_connect(
            allowed, [self = shared_from_this()](boost::system::error_code ec,
                                                 const tcp::endpoint&) { self->connected(ec); });
    }

    void connected(boost::system::error_code ec) {
        if (ec) return fail(ec);
        if (!u_.tls) return write(lowest());
        boost::system::error_code literal;
        (void)asio::ip::make_address(u_.host, literal);
        if (literal) {
            // A name: sent as SNI, and the certificate must be for it.
            SSL_set_tlsext_host_name(s_.native_handle(), u_.host.c_str());
            s_.set_verify_callback(asio::ssl::host_name_verification(u_.host));
        } else {
            // An address: no SNI (RFC 6066 3), and the certificate must name the address.
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s_.native_handle()), u_.host.c_str());
        }
        s_.set_verify_mode(asio::ssl::verify_peer);
        lowest().expires_at(deadline_);
        s_.async_handshake(asio::ssl::stream_base::client,
                           [self = shared_from_this()](boost::system::error_code ec) {
                               if (ec) return self->fail(ec);
                               self->write(self->s_);
                           });
    }

    template <class Stream>
    void write(Stream& stream) {
        lowest().expires_at(deadline_);
        bhttp::async_write(
            stream, req_,
            [self = shared_from_this(), &stream](boost::system::error_code ec, size_t) {
                if (ec) return self->fail(ec);
                self->read(stream);
            });
    }

    template <class Stream>
    void read(Stream& stream) {
        lowest().expires_at(deadline_);
        bhttp::async_read(stream, buf_, parser_,
                          [self = shared_from_this()](boost::system::error_code ec, size_t) {
                              if (ec) return self->fail(ec);
                              OutboundResult r;
                              const auto& res = self->parser_.get();
                              r.status = static_cast<int>(res.result_int());
                              if (auto it = res.find(bhttp::field::retry_after); it != res.end())
                                  r.retry_after_ms = retry_after_ms(it->value());
                              // The answer is in: no close_notify awaited (many receivers
                              // close without one).
                              boost::system::error_code ignored;
                              self->lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
                              self->finish(std::move(r));
                          });
    }

    void fail(boost::system::error_code ec) {
        OutboundResult r;
        r.error = ec == beast::error::timeout || ec == asio::error::operation_aborted
                      ? std::string("timed out")
                      : ec.message();
        finish(std::move(r));
    }

    void finish(OutboundResult r) {
        if (!done_) return;
        auto done = std::move(done_);
        done_ = nullptr;
        done(std::move(r));
    }

    OutboundPolicy policy_;
    Url u_;
    tcp::resolver resolver_;
    std::unique_ptr<asio::steady_timer> timer_;
    beast::ssl_stream<beast::tcp_stream> s_;
    std::chrono::steady_clock::time_point deadline_;
    Outbound::Done done_;
    bhttp::request<bhttp::string_body> req_;
    beast::flat_buffer buf_;
    bhttp::response_parser<bhttp::string_body> parser_;
};

}  // namespace

Outbound::Outbound(asio::io_context& ioc, OutboundPolicy policy)
    : ioc_(ioc), policy_(std::move(policy)), tls_(asio::ssl::context::tls_client) {
    tls_.set_default_verify_paths();
    if (!policy_.ca_file.empty()) {
        boost::system::error_code ec;
        tls_.load_verify_file(policy_.ca_file, ec);
        if (ec) throw std::runtime_error("--outbound-ca " + policy_.ca_file + ": " + ec.message());
    }
}

void Outbound::post(std::string url, Headers headers, std::string body,
                    std::chrono::milliseconds timeout, Done done) {
    if (auto why = target_problem(url, policy_.allow_private); !why.empty()) {
        OutboundResult r;
        r.error = "refused: " + why;
        asio::post(ioc_, [done = std::move(done), r] { done(r); });
        return;
    }
    std::make_shared<Call>(ioc_, tls_, policy_, parse_url(url), std::move(headers), std::move(body),
                           timeout, std::move(done))
        ->start();
}

std::string resolves_public(const std::string& url) {
    Url u = parse_url(url);
    asio::io_context ioc;
    asio::ip::tcp::resolver resolver(ioc);
    boost::system::error_code ec;
    auto found = resolver.resolve(u.host, u.port, ec);
    if (ec) return u.host + " does not resolve (" + ec.message() + ")";
    for (const auto& e : found)
        if (forbidden_address(e.endpoint().address()))
            return u.host + " resolves to " + e.endpoint().address().to_string() +
                   ", a loopback, private, link-local or multicast address";
    return {};
}

}  // namespace ssechat::http
