// The whole server: store, hub, one shard and acceptor per loop, and orderly shutdown.
#pragma once
#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "util/config.hpp"
#include "util/gate.hpp"

namespace ssechat {

namespace chat {
class Hub;
class Shard;
}  // namespace chat
namespace http {
class Api;
class Listener;
class Redirector;
class Tls;
}  // namespace http
namespace store {
class Store;
}

class Server {
  public:
    // Opens the store (throws store::StoreError) and binds (throws system_error).
    explicit Server(Config cfg);
    ~Server();
    uint16_t port() const;
    bool tls() const { return tls_ != nullptr; }
    // Runs the loops until stop() or SIGINT/SIGTERM.
    void run();
    void stop();

  private:
    void report_refusals();
    void sweep_rooms();
    void trim_heap();
    void on_hup();
    void rotate_tickets();
    Config cfg_;
    std::unique_ptr<store::Store> store_;
    std::unique_ptr<chat::Hub> hub_;
    std::vector<std::unique_ptr<chat::Shard>> shards_;
    std::unique_ptr<http::Api> api_;
    std::unique_ptr<http::Tls> tls_;  // with --tls-cert: the context, reloaded by SIGHUP
    uint64_t handshakes_seen_ = 0;    // TLS handshakes counted at the last trim_heap()
    int trims_left_ = 0;              // seconds of trimming left after the last of them
    std::vector<std::shared_ptr<http::Listener>> listeners_;
    std::shared_ptr<http::Redirector> redirector_;  // --redirect-http
    std::unique_ptr<boost::asio::signal_set> signals_;
    std::unique_ptr<boost::asio::steady_timer> refusal_timer_;
    std::unique_ptr<boost::asio::steady_timer> sweep_timer_;
    std::unique_ptr<boost::asio::signal_set> hup_;
    std::unique_ptr<boost::asio::steady_timer> rotate_timer_;
    std::array<uint64_t, 5> refusals_seen_{};  // refusal counters at the last report
    std::vector<std::thread> threads_;         // loops 1..n-1; loop 0 runs on the caller of run()
    // Keep every loop running until shutdown has written the answers it owes: a loop whose
    // sessions all wait on the writer has no I/O pending, and would otherwise return from
    // run() with those answers still to post.
    std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> keep_;
    std::atomic<bool> stopping_{false};
    std::thread stopper_;  // finishes commits, then stops the loops
    // Held by each loop's share of shutdown until its streams are ended: stopping a loop drops
    // what was posted to it, so a loop stopped first would end its streams with a bare FIN.
    Gate ending_;
    // What shutdown did, for its log line.
    std::chrono::steady_clock::time_point stop_began_;
    size_t stop_streams_ = 0, stop_publishes_ = 0, stop_answers_ = 0;
    bool stop_complete_ = true;
};

}  // namespace ssechat
