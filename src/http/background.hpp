// A thread of its own below the event loops, with an io_context for outbound requests and a
// tick every period: what the webhook and push engines run on. Their work yields to publishes
// and streams (nice 10) but is never starved: SCHED_IDLE, measured, let a saturated machine
// deliver 121 webhooks in a minute, and a starved engine stops renewing its lease and the
// log pin that keeps Redis from trimming what it has not read.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

namespace ssechat::http {

class Background {
  public:
    explicit Background(std::chrono::milliseconds period);
    ~Background();
    Background(const Background&) = delete;
    Background& operator=(const Background&) = delete;
    boost::asio::io_context& ioc() { return ioc_; }
    // Starts the thread: `tick` runs on it at once, then `period` after each run ends.
    void start(std::function<void()> tick);
    // Ends the thread; what is in flight is dropped (the engines repeat it on restart).
    // Idempotent.
    void stop();
    // This process, for leases: random, new at every start.
    const std::string& node() const { return node_; }

  private:
    void arm(std::chrono::milliseconds after);
    std::chrono::milliseconds period_;
    std::string node_;
    boost::asio::io_context ioc_;
    boost::asio::steady_timer timer_{ioc_};
    std::function<void()> tick_;
    std::thread thread_;
};

}  // namespace ssechat::http
