#include "util/pool.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace ssechat::work {

Pool::Pool(unsigned threads, size_t max_queued, Priority priority)
    : max_(max_queued), priority_(priority) {
    for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

Pool::~Pool() {
    stop();
}

void Pool::stop() {
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
}

bool Pool::submit(std::function<void()> job) {
    {
        std::lock_guard lk(mu_);
        if (jobs_.size() >= max_ || stopping_) return false;
        jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
    return true;
}

size_t Pool::queued() {
    std::lock_guard lk(mu_);
    return jobs_.size();
}

void lower_to_idle() {
#ifdef SCHED_IDLE
    sched_param sp{};
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
#endif
}

void lower_to_background() {
    // On Linux a nice value is per thread, named by its tid.
    setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 10);
}

void Pool::run() {
    // Below the event loops: a flood of sign-ins may use what CPU the loops leave, not take
    // it from streams and publishes. SCHED_IDLE: a loop that wakes takes the core at once
    // (measured: nice 10 with SCHED_BATCH still let a flood put 4.7x on a stream's median
    // latency; bench/RESULTS.md, "A sign-in flood"). Under a saturated core sign-ins slow
    // down and the bounded queue answers 503, which is the point.
    if (priority_ == Priority::Idle) lower_to_idle();
    while (true) {
        std::function<void()> job;
        {
            std::unique_lock lk(mu_);
            cv_.wait(lk, [&] { return stopping_ || !jobs_.empty(); });
            if (jobs_.empty()) return;  // stopping, and nothing left to answer
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        job();
    }
}

}  // namespace ssechat::work
