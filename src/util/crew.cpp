// Crew: run() hands each thread a job; a thread runs its job and counts it done.
#include "util/crew.hpp"

namespace ssechat {

Crew::Crew(size_t threads) : hands_(threads) {
    for (size_t i = 0; i < threads; ++i) hands_[i].thread = std::thread([this, i] { work(i); });
}

Crew::~Crew() {
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
    }
    go_.notify_all();
    for (auto& h : hands_) h.thread.join();
}

void Crew::work(size_t i) {
    while (true) {
        std::function<void()>* job;
        {
            std::unique_lock lk(mu_);
            go_.wait(lk, [&] { return stopping_ || hands_[i].job; });
            if (stopping_) return;
            job = hands_[i].job;
            hands_[i].job = nullptr;
        }
        (*job)();
        std::lock_guard lk(mu_);
        if (--pending_ == 0) done_.notify_one();
    }
}

void Crew::run(std::vector<std::function<void()>>& jobs) {
    if (jobs.empty()) return;
    size_t handed = 0;
    {
        std::lock_guard lk(mu_);
        for (size_t k = 1; k < jobs.size() && handed < hands_.size(); ++k, ++handed)
            hands_[handed].job = &jobs[k];
        pending_ = handed;
    }
    if (handed) go_.notify_all();
    jobs.front()();
    for (size_t k = handed + 1; k < jobs.size(); ++k) jobs[k]();
    std::unique_lock lk(mu_);
    done_.wait(lk, [&] { return pending_ == 0; });
}

}  // namespace ssechat
