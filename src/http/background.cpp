#include "http/background.hpp"

#include <random>

#include "util/pool.hpp"

namespace ssechat::http {

Background::Background(std::chrono::milliseconds period) : period_(period) {
    std::uniform_int_distribution<uint64_t> any;
    std::mt19937_64 seed{std::random_device{}()};
    node_ = std::to_string(any(seed));
}

Background::~Background() {
    stop();
}

void Background::start(std::function<void()> tick) {
    tick_ = std::move(tick);
    arm(std::chrono::milliseconds(0));
    thread_ = std::thread([this] {
        work::lower_to_background();
        ioc_.run();
    });
}

void Background::stop() {
    if (!thread_.joinable()) return;
    ioc_.stop();
    thread_.join();
}

void Background::arm(std::chrono::milliseconds after) {
    timer_.expires_after(after);
    timer_.async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        tick_();
        arm(period_);
    });
}

}  // namespace ssechat::http
