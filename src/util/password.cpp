#include "util/password.hpp"

#include <argon2.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <stdexcept>

namespace ssechat::password {

std::string hash(std::string_view password) {
    unsigned char salt[16];
    if (RAND_bytes(salt, sizeof salt) != 1) throw std::runtime_error("no random bytes for a salt");
    constexpr size_t kHashLen = 32;
    size_t len = argon2_encodedlen(kPasses, kMemoryKiB, kLanes, sizeof salt, kHashLen, Argon2_id);
    std::string out(len, '\0');
    int rc = argon2id_hash_encoded(kPasses, kMemoryKiB, kLanes, password.data(), password.size(),
                                   salt, sizeof salt, kHashLen, out.data(), out.size());
    if (rc != ARGON2_OK)
        throw std::runtime_error(std::string("argon2: ") + argon2_error_message(rc));
    out.resize(out.find('\0'));
    return out;
}

bool verify(const std::string& encoded, std::string_view password) {
    if (encoded.rfind("$argon2id$", 0) != 0) return false;
    return argon2id_verify(encoded.c_str(), password.data(), password.size()) == ARGON2_OK;
}

Pool::Pool(unsigned threads, size_t max_queued) : max_(max_queued) {
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

void Pool::run() {
    // Below the event loops: a flood of sign-ins may use what CPU the loops leave, not take
    // it from streams and publishes. SCHED_IDLE: a loop that wakes takes the core at once
    // (measured: nice 10 with SCHED_BATCH still let a flood put 4.7x on a stream's median
    // latency; bench/RESULTS.md, "A sign-in flood"). Under a saturated core sign-ins slow
    // down and the bounded queue answers 503, which is the point.
#ifdef SCHED_IDLE
    sched_param sp{};
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
#endif
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

}  // namespace ssechat::password
