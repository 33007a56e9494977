// Limits: small critical sections under one mutex each; none is on the delivery path.
#include "http/limits.hpp"

#include <algorithm>

namespace ssechat::limits {

Counter::Admit Counter::admit(const std::string& key, Ticket& ticket) {
    std::lock_guard lk(mu_);
    if (max_total_ && total_ >= max_total_) return Admit::Total;
    auto& entry = *per_key_.try_emplace(key, 0).first;
    if (max_per_key_ && entry.second >= max_per_key_) return Admit::PerKey;
    ++entry.second;
    ++total_;
    // The ticket's deleter gives the slot back, whoever drops the last reference. It names
    // the key by the map's own copy, which lives while any slot of it is held (elements of
    // an unordered_map do not move when it rehashes): no string per ticket.
    const std::string* k = &entry.first;
    ticket = Ticket(static_cast<void*>(this), [this, k](void*) { release(*k); });
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

size_t Counter::keys() {
    std::lock_guard lk(mu_);
    return per_key_.size();
}

RateLimiter::RateLimiter(double rate, double burst)
    : period_(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(rate > 0 ? std::max(burst, 1.0) / rate + 1 : 1))),
      rate_(rate),
      burst_(burst) {}

size_t RateLimiter::size() {
    std::lock_guard lk(mu_);
    return current_.size() + previous_.size() + dropping_.size();
}

double RateLimiter::take(const std::string& key, std::chrono::steady_clock::time_point now) {
    if (rate_ <= 0) return 0;
    std::lock_guard lk(mu_);
    last_swept_ = 0;
    for (; last_swept_ < kSweepPerCall && !dropping_.empty(); ++last_swept_)
        dropping_.erase(dropping_.begin());
    if (now - rotated_ >= period_) {
        // Usually dropping_ is empty by now and this is a swap. After a burst followed by a
        // quiet period it is not; the smaller map moves into the larger, which costs at most
        // the calls of one quiet period.
        if (previous_.size() > dropping_.size()) dropping_.swap(previous_);
        for (auto& kv : previous_) dropping_.insert(std::move(kv));
        previous_.clear();
        previous_.swap(current_);
        rotated_ = now;
    }
    auto it = current_.find(key);
    if (it == current_.end()) {
        Bucket b{burst_, now};
        if (auto old = previous_.find(key); old != previous_.end()) {
            b = old->second;
            previous_.erase(old);
        }
        it = current_.emplace(key, b).first;
    }
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
