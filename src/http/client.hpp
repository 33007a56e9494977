// An outbound HTTP(S) client (Beast) for what the server asks of others: an OpenID provider's
// discovery document, keys and token endpoint. Blocking: it runs an io_context of its own on
// the calling thread, so it is called from the worker pool, never from an event loop.
#pragma once
#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ssechat::http {

struct ClientError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct ClientResponse {
    int status = 0;
    std::string content_type;
    std::string body;
};

struct Url {
    bool tls = false;
    std::string host, port, target;  // target: path and query, "/" at least
};
// http:// or https:// URLs only; nullopt-like failure as ClientError.
Url parse_url(const std::string& url);

// One request; throws ClientError saying why (unreachable, timed out, TLS, a body over
// `max_body`). HTTPS verifies the certificate against the system's CAs and the host name.
ClientResponse fetch(const std::string& method, const std::string& url,
                     const std::vector<std::pair<std::string, std::string>>& headers = {},
                     const std::string& body = "",
                     std::chrono::milliseconds timeout = std::chrono::seconds(10),
                     size_t max_body = 1 << 20);

}  // namespace ssechat::http
