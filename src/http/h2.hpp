// HTTP/2 (nghttp2): one connection carrying many requests and event streams, over TLS (ALPN
// "h2") or in clear with prior knowledge (h2c).
#pragma once
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "sse/stream.hpp"

namespace ssechat::http {

class Api;

// The client connection preface (RFC 9113 section 3.4): an h2c client with prior knowledge
// starts with it.
constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Serves HTTP/2 on a connection. `read` holds bytes already read from it (the preface, for
// h2c). `ticket`: the connection's slot in the connection limits.
void serve_h2(boost::beast::tcp_stream s, std::string read, Api& api, std::shared_ptr<void> ticket);
void serve_h2(sse::TlsSocket s, std::shared_ptr<boost::asio::ssl::context> ctx, Api& api,
              std::shared_ptr<void> ticket);

// Sends GOAWAY on every HTTP/2 connection of the calling loop, so that clients open no new
// streams on them while the server stops.
void h2_goaway_all();

}  // namespace ssechat::http
