#include "http/outbound.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
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

struct Exchange {
    Url u;
    Outbound::Headers headers;
    std::string body;
    std::chrono::steady_clock::time_point deadline;
};

template <class Stream>
asio::awaitable<OutboundResult> converse(Stream& s, beast::tcp_stream& lowest, Exchange& x) {
    bhttp::request<bhttp::string_body> req{bhttp::verb::post, x.u.target, 11};
    std::string host = x.u.host.find(':') != std::string::npos ? "[" + x.u.host + "]" : x.u.host;
    if (x.u.port != (x.u.tls ? "443" : "80")) host += ":" + x.u.port;
    req.set(bhttp::field::host, host);
    req.set(bhttp::field::user_agent, "ssechat");
    req.set(bhttp::field::connection, "close");
    for (const auto& [k, v] : x.headers) req.set(k, v);
    req.body() = std::move(x.body);
    req.prepare_payload();
    lowest.expires_at(x.deadline);
    co_await bhttp::async_write(s, req, asio::use_awaitable);
    beast::flat_buffer buf;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 * 1024);  // what a receiver says back is only logged
    lowest.expires_at(x.deadline);
    co_await bhttp::async_read(s, buf, parser, asio::use_awaitable);
    OutboundResult r;
    r.status = static_cast<int>(parser.get().result_int());
    if (auto it = parser.get().find(bhttp::field::retry_after); it != parser.get().end())
        r.retry_after_ms = retry_after_ms(it->value());
    co_return r;
}

asio::awaitable<OutboundResult> run(asio::io_context& ioc, asio::ssl::context& tls,
                                    OutboundPolicy policy, Exchange x) {
    tcp::resolver resolver(ioc);
    auto found = co_await resolver.async_resolve(x.u.host, x.u.port, asio::use_awaitable);
    // Every address the name has now, checked now: a name that resolved to a public
    // address when it was saved and to 127.0.0.1 today is refused today.
    std::vector<tcp::endpoint> allowed;
    for (const auto& e : found)
        if (policy.allow_private || !forbidden_address(e.endpoint().address()))
            allowed.push_back(e.endpoint());
    if (allowed.empty()) {
        OutboundResult r;
        r.error = "refused: " + x.u.host +
                  " resolves to a loopback, private, link-local or multicast address";
        co_return r;
    }
    beast::tcp_stream lowest(ioc);
    lowest.expires_at(x.deadline);
    co_await lowest.async_connect(allowed, asio::use_awaitable);
    if (!x.u.tls) {
        auto r = co_await converse(lowest, lowest, x);
        boost::system::error_code ec;
        lowest.socket().shutdown(tcp::socket::shutdown_both, ec);
        co_return r;
    }
    beast::ssl_stream<beast::tcp_stream> s(std::move(lowest), tls);
    boost::system::error_code ec;
    (void)asio::ip::make_address(x.u.host, ec);
    if (ec) {
        // A name: sent as SNI, and the certificate must be for it.
        SSL_set_tlsext_host_name(s.native_handle(), x.u.host.c_str());
        s.set_verify_callback(asio::ssl::host_name_verification(x.u.host));
    } else {
        // An address: no SNI (RFC 6066 3), and the certificate must name the address.
        X509_VERIFY_PARAM* param = SSL_get0_param(s.native_handle());
        X509_VERIFY_PARAM_set1_ip_asc(param, x.u.host.c_str());
    }
    s.set_verify_mode(asio::ssl::verify_peer);
    beast::get_lowest_layer(s).expires_at(x.deadline);
    co_await s.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
    auto r = co_await converse(s, beast::get_lowest_layer(s), x);
    // The answer is in: no close_notify awaited (many receivers close without one).
    beast::get_lowest_layer(s).socket().shutdown(tcp::socket::shutdown_both, ec);
    co_return r;
}

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
    Exchange x{parse_url(url), std::move(headers), std::move(body),
               std::chrono::steady_clock::now() + timeout};
    asio::co_spawn(ioc_, run(ioc_, tls_, policy_, std::move(x)),
                   [done = std::move(done)](std::exception_ptr e, OutboundResult r) {
                       if (e) {
                           try {
                               std::rethrow_exception(e);
                           } catch (const boost::system::system_error& se) {
                               r = {};
                               r.error = se.code() == beast::error::timeout
                                             ? std::string("timed out")
                                             : se.code().message();
                           } catch (const std::exception& ex) {
                               r = {};
                               r.error = ex.what();
                           }
                       }
                       done(std::move(r));
                   });
}

}  // namespace ssechat::http
