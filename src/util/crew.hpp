// A few threads kept for calls that must go out at once: the writer's batch to each store
// shard. A thread started per batch (std::async) cost a clone and a join on every commit;
// these wait on a condition variable between batches.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ssechat {

class Crew {
  public:
    explicit Crew(size_t threads);
    ~Crew();  // joins the threads
    Crew(const Crew&) = delete;
    Crew& operator=(const Crew&) = delete;

    // Runs every job at once, the first on the caller's thread and the others on the crew,
    // and returns when all have. One caller at a time; jobs must not throw. More jobs than
    // threads + 1 run the rest on the caller's thread, after the first.
    void run(std::vector<std::function<void()>>& jobs);

  private:
    struct Hand {
        std::function<void()>* job = nullptr;
        std::thread thread;
    };
    void work(size_t i);

    std::mutex mu_;
    std::condition_variable go_, done_;
    std::vector<Hand> hands_;
    size_t pending_ = 0;  // jobs handed out in this round and not yet done
    bool stopping_ = false;
};

}  // namespace ssechat
