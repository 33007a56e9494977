// Harness implementation over plain POSIX sockets and fork/exec.
#include "harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "util/text.hpp"

namespace itest {

namespace {

int connect_to(int port) {
    int fd = dial(port);
    if (fd < 0) throw std::runtime_error("connect: " + std::string(strerror(errno)));
    return fd;
}

void write_all(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
        ssize_t w = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
        if (w <= 0) throw std::runtime_error("send failed");
        off += static_cast<size_t>(w);
    }
}

// Reads until EOF or the deadline.
std::string read_all(int fd, std::chrono::milliseconds limit) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + limit;
    char buf[65536];
    while (true) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0) break;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
        ssize_t r = ::read(fd, buf, sizeof buf);
        if (r <= 0) break;
        out.append(buf, static_cast<size_t>(r));
    }
    return out;
}

}  // namespace

int dial(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        int e = errno;
        ::close(fd);
        errno = e;
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

// Replaces this (forked) process with ssechat and args; never returns.
[[noreturn]] static void exec_binary(std::vector<std::string> all) {
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return pred();
}

std::string temp_dir() {
    char tmpl[] = "/tmp/ssechat-it-XXXXXX";
    return mkdtemp(tmpl);
}

Server::Server(std::vector<std::string> args) {
    err_path_ = temp_dir() + "/stderr.log";
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
        dup2(out[1], STDOUT_FILENO);
        int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(err, STDERR_FILENO);
        std::vector<std::string> all = {SSECHAT_BINARY, "--port", "0"};
        all.insert(all.end(), args.begin(), args.end());
        exec_binary(std::move(all));
    }
    ::close(out[1]);
    // The banner is the first line; read it byte by byte so nothing after it is consumed.
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{out[0], POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        char c;
        if (::read(out[0], &c, 1) != 1) break;
        if (c == '\n') break;
        banner_ += c;
    }
    ::close(out[0]);
    line_ = banner_;
    // With --log-format json the banner is a JSON record whose msg is the plain line.
    if (!banner_.empty() && banner_.front() == '{') {
        boost::json::error_code ec;
        auto v = boost::json::parse(banner_, ec);
        if (!ec && v.is_object() && v.as_object().contains("msg"))
            banner_ = std::string(v.as_object().at("msg").as_string());
    }
    auto colon = banner_.rfind(':');
    if ((banner_.rfind("Server is listening at http://", 0) != 0 &&
         banner_.rfind("Server is listening at https://", 0) != 0) ||
        colon == std::string::npos) {
        kill9();
        throw std::runtime_error("server did not start: '" + banner_ + "' " + stderr_text());
    }
    port_ = std::stoi(banner_.substr(colon + 1));
}

Server::~Server() {
    // A clean exit is part of every test: sanitizer reports at exit make the status non-zero.
    if (pid_ <= 0) return;
    int code = terminate();
    if (code != 0) ADD_FAILURE() << "ssechat exited with " << code << "\n" << stderr_text();
}

void Server::kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int st;
    waitpid(pid_, &st, 0);
    pid_ = -1;
}

int Server::terminate(std::chrono::milliseconds limit) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        int st;
        if (waitpid(pid_, &st, WNOHANG) == pid_) {
            pid_ = -1;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        std::this_thread::sleep_for(10ms);
    }
    kill9();
    return -1;
}

std::string Server::stderr_text() const {
    std::ifstream f(err_path_);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

Exit run_binary(const std::vector<std::string>& args, std::chrono::milliseconds limit) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        dup2(out[1], STDERR_FILENO);
        std::vector<std::string> all = {SSECHAT_BINARY};
        all.insert(all.end(), args.begin(), args.end());
        exec_binary(std::move(all));
    }
    ::close(out[1]);
    std::string text = read_all(out[0], limit);
    ::close(out[0]);
    int st = 0;
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (waitpid(pid, &st, WNOHANG) != pid) {
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return {-1, text};
        }
        std::this_thread::sleep_for(10ms);
    }
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, text};
}

Response request(int port, const std::string& method, const std::string& target,
                 const std::string& body, const Headers& headers) {
    std::string req =
        method + " " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
    if (!body.empty() || method == "POST")
        req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + body;
    std::string text = raw(port, req, 10000ms);
    namespace http = boost::beast::http;
    http::response_parser<http::string_body> p;
    p.eager(true);
    boost::beast::error_code ec;
    p.put(boost::asio::buffer(text), ec);
    if (!ec && !p.is_done()) p.put_eof(ec);
    Response r;
    if (ec || !p.is_header_done()) throw std::runtime_error("bad response: " + text);
    auto& m = p.get();
    r.status = static_cast<int>(m.result_int());
    for (const auto& f : m) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(c));
        r.headers[name] = std::string(f.value());
    }
    r.body = m.body();
    return r;
}

long metric(int port, const std::string& sample, const Headers& headers) {
    auto body = request(port, "GET", "/metrics", "", headers).body;
    auto p = body.find("\n" + sample + " ");
    return p == std::string::npos ? -1 : std::stol(body.substr(p + sample.size() + 2));
}

Response post_json(int port, const std::string& target, const std::string& json) {
    return request(port, "POST", target, json, {{"Content-Type", "application/json"}});
}

std::string raw(int port, const std::string& bytes, std::chrono::milliseconds limit) {
    int fd = connect_to(port);
    try {
        write_all(fd, bytes);
    } catch (...) {
    }
    std::string out = read_all(fd, limit);
    ::close(fd);
    return out;
}

SseClient::SseClient(int port, const std::string& target, const Headers& headers)
    : parser_([this](const ssechat::sse::Event& e) { events.push_back(e); }) {
    fd_ = connect_to(port);
    std::string req =
        "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n";
    for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
    write_all(fd_, req + "\r\n");
}

SseClient::~SseClient() {
    close();
}

void SseClient::send_raw(const std::string& bytes) {
    write_all(fd_, bytes);
}

void SseClient::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

bool SseClient::read_once(int timeout_ms) {
    if (fd_ < 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    char buf[65536];
    ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
    if (r <= 0) {
        closed_by_server = true;
        close();
        return false;
    }
    std::string_view chunk(buf, static_cast<size_t>(r));
    if (head.empty()) {
        pending_.append(chunk);
        auto end = pending_.find("\r\n\r\n");
        if (end == std::string::npos) return true;
        head = pending_.substr(0, end + 4);
        status = std::stoi(head.substr(9, 3));
        std::string rest = pending_.substr(end + 4);
        pending_.clear();
        body += rest;
        parser_.feed(rest);
        return true;
    }
    body.append(chunk);
    parser_.feed(chunk);
    return true;
}

bool SseClient::wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0 || fd_ < 0) return pred();
        read_once(static_cast<int>(std::min<long>(left, 100)));
    }
    return true;
}

void SseClient::drain(std::chrono::milliseconds window) {
    auto deadline = std::chrono::steady_clock::now() + window;
    while (fd_ >= 0 && std::chrono::steady_clock::now() < deadline) read_once(20);
}

bool SseClient::wait_closed(std::chrono::milliseconds limit) {
    return wait_until([&] { return closed_by_server; }, limit);
}

Response publish_raw(int port, const std::string& room, const std::string& user,
                     const std::string& text) {
    boost::json::object b;
    b["message"] = text;
    return post_json(port, "/rooms/" + room + "/messages?id=" + user, boost::json::serialize(b));
}

uint64_t publish(int port, const std::string& room, const std::string& user,
                 const std::string& text) {
    auto r = publish_raw(port, room, user, text);
    if (r.status != 201) throw std::runtime_error("publish: " + std::to_string(r.status) + r.body);
    return boost::json::parse(r.body).at("id").to_number<uint64_t>();
}

std::vector<uint64_t> range(uint64_t a, uint64_t b) {
    std::vector<uint64_t> v;
    for (uint64_t i = a; i <= b; ++i) v.push_back(i);
    return v;
}

std::vector<uint64_t> ids_of(const std::vector<ssechat::sse::Event>& events) {
    std::vector<uint64_t> out;
    for (const auto& e : events)
        if (e.event == "message" && e.has_id) out.push_back(std::stoull(e.id));
    return out;
}

std::vector<std::string> room_messages(const SseClient& c) {
    std::vector<std::string> out;
    for (const auto& e : c.events)
        if (e.event == "message") {
            auto o = boost::json::parse(e.data).as_object();
            out.push_back(std::string(o.at("room").as_string()) + ":" +
                          std::to_string(o.at("id").to_number<uint64_t>()));
        }
    return out;
}

}  // namespace itest

namespace itest {

std::string hs256_token(const std::string& secret, const std::string& sub,
                        const boost::json::object& extra) {
    boost::json::object claims = extra;
    claims["sub"] = sub;
    claims["exp"] = 4102444800;  // 2100
    std::string part = ssechat::text::base64url(R"({"alg":"HS256","typ":"JWT"})") + "." +
                       ssechat::text::base64url(boost::json::serialize(claims));
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(part.data()), part.size(), md, &len);
    return part + "." + ssechat::text::base64url(std::string(reinterpret_cast<char*>(md), len));
}

}  // namespace itest
