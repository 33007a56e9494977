// Admission limits shared by every loop: connections (total and per address), streams per
// user, and a publish token bucket per user. Each admit hands back a ticket that frees its
// slot when the last owner lets go, so no path can leak a slot.
#pragma once
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace ssechat::limits {

using Ticket = std::shared_ptr<void>;

// Counts holders per key with an optional cap per key and in total (0: no cap).
class Counter {
  public:
    Counter(size_t max_total, size_t max_per_key)
        : max_total_(max_total), max_per_key_(max_per_key) {}
    enum class Admit { Ok, Total, PerKey };
    Admit admit(const std::string& key, Ticket& ticket);
    size_t total();
    size_t keys();  // keys holding at least one slot

  private:
    void release(const std::string& key);
    std::mutex mu_;
    std::unordered_map<std::string, size_t> per_key_;
    size_t total_ = 0;
    size_t max_total_, max_per_key_;
};

// A token bucket per key: `rate` tokens a second, at most `burst` saved. rate 0: no limit.
// Memory and time stay bounded when keys are free to make (anonymous user ids): buckets live
// in two generations. Every refill period (the time an empty bucket takes to fill) the
// current one becomes the previous one; a key found there moves back. A bucket left in the
// previous generation for a whole period is full again, and a full bucket says nothing, so
// that generation is dropped, a bounded number of entries per call.
class RateLimiter {
  public:
    RateLimiter(double rate, double burst);
    // 0 when a token was taken; otherwise the seconds until one will be there.
    double take(const std::string& key, std::chrono::steady_clock::time_point now);
    // Buckets held, and entries freed by the last take() (for tests).
    size_t size();
    size_t last_swept() const { return last_swept_; }

  private:
    struct Bucket {
        double tokens;
        std::chrono::steady_clock::time_point at;
    };
    using Map = std::unordered_map<std::string, Bucket>;
    static constexpr size_t kSweepPerCall = 64;
    std::mutex mu_;
    Map current_, previous_, dropping_;  // dropping_: an old generation freed piecemeal
    std::chrono::steady_clock::time_point rotated_{};
    std::chrono::steady_clock::duration period_;
    size_t last_swept_ = 0;
    double rate_, burst_;
};

}  // namespace ssechat::limits
