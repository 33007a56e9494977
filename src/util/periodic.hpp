// A thread that runs a job every `period` until stopped: the pollers of the accounts
// revision (sessions, API keys), which must stop before the event loops they post to go.
#pragma once
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace ssechat::util {

class Periodic {
  public:
    Periodic(std::chrono::milliseconds period, std::function<void()> job)
        : period_(period), job_(std::move(job)), thread_([this] { run(); }) {}
    ~Periodic() { stop(); }
    Periodic(const Periodic&) = delete;
    Periodic& operator=(const Periodic&) = delete;
    // Waits for a running job to finish; idempotent.
    void stop() {
        {
            std::lock_guard lk(mu_);
            stopping_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

  private:
    void run() {
        std::unique_lock lk(mu_);
        while (!cv_.wait_for(lk, period_, [&] { return stopping_; })) {
            lk.unlock();
            job_();
            lk.lock();
        }
    }
    std::chrono::milliseconds period_;
    std::function<void()> job_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread thread_;  // last: starts once the rest is made
};

}  // namespace ssechat::util
