// Integration harness: starts the real ssechat binary on a free loopback port and talks to it
// over real sockets.
#pragma once
#include <sys/types.h>

#include <boost/json/object.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "sse/event.hpp"

namespace itest {

using namespace std::chrono_literals;

// Runs `ssechat --port 0 ARGS...` and waits for its banner.
class Server {
  public:
    explicit Server(std::vector<std::string> args = {"--store", "memory"});
    ~Server();
    int port() const { return port_; }
    pid_t pid() const { return pid_; }
    const std::string& banner() const { return banner_; }
    const std::string& stdout_line() const { return line_; }  // the banner as printed
    void kill9();
    // SIGTERM, then the exit status (or -1 when it did not exit within `limit`).
    int terminate(std::chrono::milliseconds limit = 5000ms);
    std::string stderr_text() const;

  private:
    pid_t pid_ = -1;
    int port_ = 0;
    std::string banner_;
    std::string line_;
    std::string err_path_;
};

// Runs the binary to completion with args; returns exit code and output.
struct Exit {
    int code;
    std::string out;
};
Exit run_binary(const std::vector<std::string>& args, std::chrono::milliseconds limit = 10000ms);

struct Response {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    std::string header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? "" : it->second;
    }
};

using Headers = std::vector<std::pair<std::string, std::string>>;

Response request(int port, const std::string& method, const std::string& target,
                 const std::string& body = "", const Headers& headers = {});
Response post_json(int port, const std::string& target, const std::string& json);
// The value of one /metrics sample ("name" or "name{labels}"), or -1 when it is absent.
long metric(int port, const std::string& sample, const Headers& headers = {});

// A connected loopback socket (TCP_NODELAY), or -1 when nothing accepts on the port.
int dial(int port);

// Sends raw bytes, returns every byte the server sent until it closed or `limit` passed.
std::string raw(int port, const std::string& bytes, std::chrono::milliseconds limit = 3000ms);

// A blocking socket that keeps an event stream open.
class SseClient {
  public:
    SseClient(int port, const std::string& target, const Headers& headers = {});
    ~SseClient();
    SseClient(const SseClient&) = delete;

    // Reads until pred() or the time limit; true if pred() held.
    bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 5000ms);
    bool wait_events(size_t n, std::chrono::milliseconds limit = 5000ms) {
        return wait_until([&] { return events.size() >= n; }, limit);
    }
    // Reads whatever arrives within `window` (to check that nothing more comes).
    void drain(std::chrono::milliseconds window);
    // True when the server closed the stream within `limit`.
    bool wait_closed(std::chrono::milliseconds limit = 5000ms);
    void close();
    void send_raw(const std::string& bytes);

    int status = 0;
    std::string head;  // the response head
    std::string body;  // every body byte so far
    std::vector<ssechat::sse::Event> events;
    size_t comments() const { return parser_.comments(); }
    bool closed_by_server = false;

  private:
    bool read_once(int timeout_ms);
    int fd_ = -1;
    std::string pending_;  // bytes before the head is complete
    ssechat::sse::Parser parser_;
};

// POST /rooms/{room}/messages?id=user with {"message": text}: the response, or (publish) the
// id given, throwing unless the answer is 201.
Response publish_raw(int port, const std::string& room, const std::string& user,
                     const std::string& text);
uint64_t publish(int port, const std::string& room, const std::string& user,
                 const std::string& text);
// a, a+1, ..., b
std::vector<uint64_t> range(uint64_t a, uint64_t b);

// Messages of native events: their ids as numbers.
std::vector<uint64_t> ids_of(const std::vector<ssechat::sse::Event>& events);
// "room:id" of every message event of a stream (a user stream names each event's room), in
// stream order.
std::vector<std::string> room_messages(const SseClient& c);

std::string temp_dir();

// Polls pred() every 50 ms until it holds or `limit` passes; its last answer.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10000ms);

// An HS256 JWT for `sub` (exp in 2100) with `extra` claims, signed here with `secret`, apart
// from the server's own code.
std::string hs256_token(const std::string& secret, const std::string& sub,
                        const boost::json::object& extra = {});

}  // namespace itest
