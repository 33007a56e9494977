// redis-server and nginx as child processes, stopped with the test that started them.
#include "services.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include "harness.hpp"

namespace itest {

namespace {

pid_t spawn(const std::vector<std::string>& args, const std::string& log) {
    pid_t pid = fork();
    if (pid == 0) {
        int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execvp(argv[0], argv.data());
        _exit(127);
    }
    return pid;
}

void stop(pid_t& pid, int sig) {
    if (pid <= 0) return;
    ::kill(pid, sig);
    int st;
    waitpid(pid, &st, 0);
    pid = -1;
}

bool accepts(int port) {
    int fd = dial(port);
    if (fd >= 0) ::close(fd);
    return fd >= 0;
}

void wait_listening(int port, pid_t pid, const std::string& what) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
        if (accepts(port)) return;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) throw std::runtime_error(what + " exited");
        std::this_thread::sleep_for(20ms);
    }
    throw std::runtime_error(what + " did not start listening on " + std::to_string(port));
}

}  // namespace

std::string capture(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
    return out;
}

std::string redis_cli(int port, const std::vector<std::string>& args) {
    std::string cmd = "redis-cli -p " + std::to_string(port);
    for (const auto& a : args) cmd += " '" + a + "'";
    return capture(cmd);
}

size_t count(const std::string& hay, const std::string& needle) {
    size_t n = 0;
    for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
    return n;
}

int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

RedisServer::RedisServer(std::vector<std::string> extra, bool start_now)
    : port_(free_port()), dir_(temp_dir()), extra_(std::move(extra)) {
    if (!start_now) return;
    // Another test may take the port between free_port() and redis-server's bind: try another.
    for (int attempt = 0;; ++attempt) {
        try {
            start();
            return;
        } catch (const std::runtime_error&) {
            if (attempt == 2) throw;
            port_ = free_port();
        }
    }
}

RedisServer::~RedisServer() {
    stop(pid_, SIGKILL);
}

void RedisServer::start() {
    std::vector<std::string> args = {"redis-server", "--port",      std::to_string(port_),
                                     "--bind",       "127.0.0.1",   "--dir",
                                     dir_,           "--save",      "",
                                     "--appendonly", "yes",         "--appendfsync",
                                     "always",       "--daemonize", "no"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    pid_ = spawn(args, dir_ + "/redis.log");
    wait_listening(port_, pid_, "redis-server");
}

void RedisServer::kill9() {
    stop(pid_, SIGKILL);
}

std::string RedisServer::cli(const std::vector<std::string>& args) const {
    return redis_cli(port_, args);
}

RedisSentinel::RedisSentinel(int master_port, const std::string& name, int quorum)
    : port_(free_port()), dir_(temp_dir()) {
    // Sentinel rewrites its configuration file as it learns: it must be its own, writable.
    std::string conf = dir_ + "/sentinel.conf";
    FILE* f = std::fopen(conf.c_str(), "w");
    if (!f) throw std::runtime_error("cannot write " + conf);
    std::fprintf(f,
                 "port %d\nbind 127.0.0.1\ndir %s\n"
                 "sentinel monitor %s 127.0.0.1 %d %d\n"
                 "sentinel down-after-milliseconds %s 1000\n"
                 "sentinel failover-timeout %s 4000\n"
                 "sentinel parallel-syncs %s 2\n",
                 port_, dir_.c_str(), name.c_str(), master_port, quorum, name.c_str(), name.c_str(),
                 name.c_str());
    std::fclose(f);
    // Debian's redis-sentinel package; the same binary as redis-server --sentinel.
    bool packaged = ::access("/usr/bin/redis-sentinel", X_OK) == 0;
    std::vector<std::string> args =
        packaged ? std::vector<std::string>{"redis-sentinel", conf}
                 : std::vector<std::string>{"redis-server", conf, "--sentinel"};
    pid_ = spawn(args, dir_ + "/sentinel.log");
    wait_listening(port_, pid_, "redis-sentinel");
}

RedisSentinel::~RedisSentinel() {
    stop(pid_, SIGKILL);
}

std::string RedisSentinel::cli(const std::vector<std::string>& args) const {
    return redis_cli(port_, args);
}

std::string RedisSentinel::master(const std::string& name) const {
    std::string out = cli({"SENTINEL", "get-master-addr-by-name", name});
    auto nl = out.find('\n');
    if (nl == std::string::npos) return "";
    std::string host = out.substr(0, nl), rest = out.substr(nl + 1);
    while (!rest.empty() && (rest.back() == '\n' || rest.back() == '\r')) rest.pop_back();
    return host + ":" + rest;
}

Nginx::Nginx(const std::vector<int>& node_ports) : port_(free_port()), dir_(temp_dir()) {
    std::string cmd = SSECHAT_SOURCE_DIR;
    cmd.append("/examples/cluster/nginx-conf.sh ").append(std::to_string(port_));
    cmd.append(" ").append(dir_);
    for (int p : node_ports) cmd.append(" ").append(std::to_string(p));
    capture("mkdir -p " + dir_ + "/tmp && " + cmd + " > " + dir_ + "/nginx.conf");
    // Debian installs it in /usr/sbin, which is not on every user's PATH.
    std::string nginx = ::access("/usr/sbin/nginx", X_OK) == 0 ? "/usr/sbin/nginx" : "nginx";
    pid_ = spawn({nginx, "-p", dir_, "-e", dir_ + "/error.log", "-c", dir_ + "/nginx.conf", "-g",
                  "daemon off;"},
                 dir_ + "/nginx.out");
    wait_listening(port_, pid_, "nginx");
}

Nginx::~Nginx() {
    stop(pid_, SIGTERM);
}

std::vector<std::string> store_args(const std::string& store, std::unique_ptr<RedisServer>& redis,
                                    const std::string& dir) {
    if (store == "sqlite") return {"--store", "sqlite", "--data", dir.empty() ? temp_dir() : dir};
    if (store == "redis") {
        redis = std::make_unique<RedisServer>();
        return {"--store", "redis", "--redis", redis->url()};
    }
    if (store == "shards") {
        redis = std::make_unique<RedisServer>();
        redis->partner = std::make_unique<RedisServer>();
        return {"--store", "redis", "--redis", redis->url() + "," + redis->partner->url()};
    }
    return {"--store", "memory"};
}

}  // namespace itest
