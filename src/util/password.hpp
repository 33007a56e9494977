// Password hashes (Argon2id) and the small pool of threads that computes them: a hash takes
// tens of milliseconds and 19 MiB by design, which no event loop may spend.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace ssechat::password {

// OWASP's minimum for Argon2id: 19 MiB, 2 passes, one lane. Written into every hash, so
// raising them later still verifies the old ones.
inline constexpr uint32_t kMemoryKiB = 19 * 1024;
inline constexpr uint32_t kPasses = 2;
inline constexpr uint32_t kLanes = 1;

// An encoded Argon2id hash ("$argon2id$v=19$m=19456,t=2,p=1$salt$hash") with a fresh
// 128-bit salt. Throws std::runtime_error when Argon2 fails (out of memory).
std::string hash(std::string_view password);
// Whether `password` matches `encoded`; false for a malformed hash too.
bool verify(const std::string& encoded, std::string_view password);

// A few threads and a bounded queue. submit() refuses work past the bound instead of
// queueing it: a flood of sign-ins is answered 503 at once rather than minutes later.
class Pool {
  public:
    Pool(unsigned threads, size_t max_queued);
    ~Pool();
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;
    // False when the queue is full (the job is dropped, not run).
    bool submit(std::function<void()> job);
    size_t queued();
    // Runs what is queued, then ends the threads; later submits are refused. Idempotent.
    void stop();

  private:
    void run();
    size_t max_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> jobs_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace ssechat::password
