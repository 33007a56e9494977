// The daemons cluster tests run next to ssechat: redis-server and nginx from Debian, each on
// a free loopback port with its files in a temporary folder.
#pragma once
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace itest {

// A loopback TCP port nobody listens on right now.
int free_port();
// Runs a shell command and returns its standard output.
std::string capture(const std::string& cmd);
// Runs redis-cli against the server (or Sentinel) on `port` and returns its output.
std::string redis_cli(int port, const std::vector<std::string>& args);
// How many times `needle` occurs in `hay`.
size_t count(const std::string& hay, const std::string& needle);

// redis-server with an append-only file fsynced on every write, so kill -9 loses nothing
// it acknowledged.
class RedisServer {
  public:
    // Starts it, with extra redis-server flags, and waits until it accepts connections.
    // With `start_now` false, start() is left to the caller (a node may be pointed at it first).
    explicit RedisServer(std::vector<std::string> extra = {}, bool start_now = true);
    ~RedisServer();
    int port() const { return port_; }
    pid_t pid() const { return pid_; }
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
    void start();  // again, on the same port and files
    void kill9();
    // Runs redis-cli against it and returns its output.
    std::string cli(const std::vector<std::string>& args) const;
    // A second shard started with it (store_args("shards")).
    std::unique_ptr<RedisServer> partner;

  private:
    int port_;
    std::string dir_;
    std::vector<std::string> extra_;
    pid_t pid_ = -1;
};

// redis-sentinel watching one master (by its loopback port) as `name`, deciding quickly: the
// master is down after 1 s without an answer, with `quorum` Sentinels agreeing.
class RedisSentinel {
  public:
    RedisSentinel(int master_port, const std::string& name, int quorum);
    ~RedisSentinel();
    int port() const { return port_; }
    std::string cli(const std::vector<std::string>& args) const;
    // "host:port" of the master this Sentinel names now.
    std::string master(const std::string& name) const;

  private:
    int port_;
    std::string dir_;
    pid_t pid_ = -1;
};

// The server options of the store a parameterized test names ("memory", "sqlite", "redis"
// or "shards"): SQLite in `dir` (a new temporary folder when empty), Redis on a redis-server
// started into `redis`, two shards on it and its partner.
std::vector<std::string> store_args(const std::string& store, std::unique_ptr<RedisServer>& redis,
                                    const std::string& dir = "");

// nginx in front of ssechat nodes, with the config examples/cluster/nginx-conf.sh prints.
class Nginx {
  public:
    explicit Nginx(const std::vector<int>& node_ports);
    ~Nginx();
    int port() const { return port_; }

  private:
    int port_;
    std::string dir_;
    pid_t pid_ = -1;
};

}  // namespace itest
