#include "http/client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>

namespace ssechat::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

Url parse_url(const std::string& url) {
    Url u;
    std::string rest;
    if (url.rfind("https://", 0) == 0) {
        u.tls = true;
        rest = url.substr(8);
    } else if (url.rfind("http://", 0) == 0) {
        rest = url.substr(7);
    } else {
        throw ClientError("not an http(s) URL: " + url);
    }
    size_t slash = rest.find_first_of("/?");
    std::string authority = rest.substr(0, slash);
    u.target = slash == std::string::npos ? "/" : rest.substr(slash);
    if (u.target[0] == '?') u.target.insert(0, "/");
    if (authority.empty() || authority.find('@') != std::string::npos)
        throw ClientError("no host in URL: " + url);
    if (authority[0] == '[') {
        size_t close = authority.find(']');
        if (close == std::string::npos) throw ClientError("bad host in URL: " + url);
        u.host = authority.substr(1, close - 1);
        if (close + 1 < authority.size() && authority[close + 1] == ':')
            u.port = authority.substr(close + 2);
    } else {
        size_t colon = authority.rfind(':');
        u.host = authority.substr(0, colon);
        if (colon != std::string::npos) u.port = authority.substr(colon + 1);
    }
    if (u.port.empty()) u.port = u.tls ? "443" : "80";
    return u;
}

namespace {

template <class Stream>
ClientResponse exchange(Stream& stream, const Url& u, const std::string& method,
                        const std::vector<std::pair<std::string, std::string>>& headers,
                        const std::string& body, size_t max_body) {
    bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), u.target, 11};
    // RFC 9110 7.2: the port too, unless it is the scheme's default.
    std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
    if (u.port != (u.tls ? "443" : "80")) host += ":" + u.port;
    req.set(bhttp::field::host, host);
    req.set(bhttp::field::user_agent, "ssechat");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    bhttp::write(stream, req);
    beast::flat_buffer buf;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(max_body);
    bhttp::read(stream, buf, parser);
    auto& res = parser.get();
    ClientResponse out;
    out.status = res.result_int();
    out.content_type = std::string(res[bhttp::field::content_type]);
    out.body = std::move(res.body());
    return out;
}

}  // namespace

ClientResponse fetch(const std::string& method, const std::string& url,
                     const std::vector<std::pair<std::string, std::string>>& headers,
                     const std::string& body, std::chrono::milliseconds timeout, size_t max_body) {
    Url u = parse_url(url);
    try {
        asio::io_context ioc;
        asio::ip::tcp::resolver resolver(ioc);
        auto found = resolver.resolve(u.host, u.port);
        // Blocking calls on a tcp_stream do not time out; a deadline on the socket does.
        auto deadline = [&](beast::tcp_stream& s) {
            timeval tv{};
            tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
            tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
            int fd = s.socket().native_handle();
            ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        };
        if (!u.tls) {
            beast::tcp_stream s(ioc);
            s.connect(found);
            deadline(s);
            auto r = exchange(s, u, method, headers, body, max_body);
            beast::error_code ec;
            s.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
            return r;
        }
        asio::ssl::context ctx(asio::ssl::context::tls_client);
        ctx.set_default_verify_paths();
        ctx.set_verify_mode(asio::ssl::verify_peer);
        beast::ssl_stream<beast::tcp_stream> s(ioc, ctx);
        if (!SSL_set_tlsext_host_name(s.native_handle(), u.host.c_str()))
            throw ClientError("cannot set the TLS server name " + u.host);
        s.set_verify_callback(asio::ssl::host_name_verification(u.host));
        beast::get_lowest_layer(s).connect(found);
        deadline(beast::get_lowest_layer(s));
        s.handshake(asio::ssl::stream_base::client);
        auto r = exchange(s, u, method, headers, body, max_body);
        beast::error_code ec;
        s.shutdown(ec);  // the peer may close without close_notify: nothing is lost here
        return r;
    } catch (const boost::system::system_error& e) {
        throw ClientError(u.host + ":" + u.port + ": " + e.code().message());
    }
}

}  // namespace ssechat::http
