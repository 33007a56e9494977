// Limits: small critical sections under one mutex each; none is on the delivery path.
#include "http/limits.hpp"

#include <algorithm>

namespace ssechat::limits {

Counter::Admit Counter::admit(const std::string& key, Ticket& ticket) {
    std::lock_guard lk(mu_);
    if (max_total_ && total_ >= max_total_) return Admit::Total;
    size_t& n = per_key_[key];
    if (max_per_key_ && n >= max_per_key_) return Admit::PerKey;
    ++n;
    ++total_;
    // The ticket's deleter gives the slot back, whoever drops the last reference.
    ticket = Ticket(static_cast<void*>(this), [this, key](void*) { release(key); });
    return Admit::Ok;
}

void Counter::release(const std::string& key) {
    std::lock_guard lk(mu_);
    --total_;
    auto it = per_key_.find(key);
    if (it != per_key_.end() && --it->second == 0) per_key_.erase(it);
}

size_t Counter::total() {
    std::lock_guard lk(mu_);
    return total_;
}

double RateLimiter::take(const std::string& key, std::chrono::steady_clock::time_point now) {
    if (rate_ <= 0) return 0;
    std::lock_guard lk(mu_);
    // Full buckets carry no information; dropping them bounds the map by active users.
    if (buckets_.size() > 100000) {
        std::erase_if(buckets_, [&](const auto& kv) {
            double t = kv.second.tokens +
                       std::chrono::duration<double>(now - kv.second.at).count() * rate_;
            return t >= burst_;
        });
    }
    auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst_, now});
    Bucket& b = it->second;
    b.tokens =
        std::min(burst_, b.tokens + std::chrono::duration<double>(now - b.at).count() * rate_);
    b.at = now;
    if (b.tokens >= 1) {
        b.tokens -= 1;
        return 0;
    }
    return (1 - b.tokens) / rate_;
}

}  // namespace ssechat::limits
