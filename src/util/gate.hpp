// A gate for shutdown (after Seastar's): work that owes someone an answer holds a ticket,
// and shutdown waits for the tickets instead of sleeping and hoping.
#pragma once
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace ssechat {

class Gate {
  public:
    using Ticket = std::shared_ptr<void>;
    // Held until the answer is written (or the connection is gone).
    Ticket enter() {
        std::lock_guard lk(mu_);
        ++held_;
        return Ticket(this, [](void* p) { static_cast<Gate*>(p)->leave(); });
    }
    // Blocks until no ticket is held or `limit` passes; true when none is held.
    bool wait_idle(std::chrono::milliseconds limit) {
        std::unique_lock lk(mu_);
        return cv_.wait_for(lk, limit, [&] { return held_ == 0; });
    }
    size_t held() {
        std::lock_guard lk(mu_);
        return held_;
    }

  private:
    void leave() {
        std::lock_guard lk(mu_);
        if (--held_ == 0) cv_.notify_all();
    }
    std::mutex mu_;
    std::condition_variable cv_;
    size_t held_ = 0;
};

}  // namespace ssechat
