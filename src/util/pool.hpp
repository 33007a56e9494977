// A few threads and a bounded queue, for work no event loop may do: password hashes, search,
// and file I/O. submit() refuses work past the bound instead of queueing it, so a flood is
// answered 503 at once rather than minutes later.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ssechat::work {

enum class Priority {
    Normal,  // I/O a request waits on: as urgent as the loops' own work
    Idle,    // CPU floods (Argon2): only what the loops leave, so streams keep their latency
};

// Puts the calling thread below the event loops (SCHED_IDLE): it runs on what CPU they leave,
// and a loop that wakes takes the core at once.
void lower_to_idle();

// Puts the calling thread at nice 10 (weight 110 against a loop's 1024): below the loops, yet
// never starved. For work that must keep moving on a saturated machine, as the webhook and
// push engines must (a starved engine lets its lease and Redis's log pin lapse).
void lower_to_background();

class Pool {
  public:
    Pool(unsigned threads, size_t max_queued, Priority priority = Priority::Normal);
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
    Priority priority_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> jobs_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace ssechat::work
